/* systemd's service notification protocol, the few messages wsgate sends (see sd_notify.c). */
#ifndef WSG_CORE_SD_NOTIFY_H
#define WSG_CORE_SD_NOTIFY_H

/* Sends STATE (newline-separated KEY=VALUE assignments, e.g. "READY=1") as one datagram to
 * the AF_UNIX socket named by $NOTIFY_SOCKET: a path, or an abstract-namespace name when it
 * starts with '@'. Returns 1 when sent, 0 when $NOTIFY_SOCKET is unset or empty (not run by
 * a service manager: nothing to do), or -errno when the variable is invalid or the send
 * failed. Borrows STATE. Never blocks (MSG_DONTWAIT); control thread only in wsgate, but
 * safe from any thread. */
int sd_notify_send(const char *state);

/* The messages of the life cycle, each with a STATUS= line for `systemctl status`;
 * RELOADING=1 also carries MONOTONIC_USEC= (systemd.service(5), Type=notify-reload). Same
 * returns as sd_notify_send(). */
int sd_notify_ready(void);     /* listeners and admin up (ev=started) or a reload done */
int sd_notify_reloading(void); /* SIGHUP received, reload starting */
int sd_notify_stopping(void);  /* drain started */

#endif
