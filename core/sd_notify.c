/* core/sd_notify.c: readiness and state notifications to systemd (see sd_notify.h).
 *
 * Owns: nothing long-lived. Each call opens an AF_UNIX datagram socket, sends one message to
 * $NOTIFY_SOCKET and closes it. wsgate sends four kinds of message in its whole life (READY
 * once the listeners and the admin are up, RELOADING/READY around each SIGHUP, STOPPING when
 * a drain starts), all from the control thread, so a socket kept open would save nothing.
 *
 * Protocol (sd_notify(3), "the notification socket protocol"): $NOTIFY_SOCKET is a
 * filesystem path, or an abstract-namespace name written with a leading '@' (the '@' becomes
 * a NUL byte and the address length excludes any trailing NUL). The payload is newline-
 * separated assignments. The manager matches the sender by its PID (or by NotifyAccess=),
 * so no credentials are attached by hand: the kernel adds SCM_CREDENTIALS on request of the
 * receiver (SO_PASSCRED). MSG_DONTWAIT: a full receive queue at the manager must not stall
 * the control thread, and losing one notification is better than a stalled drain.
 *
 * The variable is left in the environment (sd_notify(3)'s unset_environment=0): wsgate
 * starts no children, and the reload notifications need it again later.
 *
 * Rejected: linking libsystemd for sd_notify(). It would add a runtime dependency (and its
 * own dependencies: liblzma, libzstd, liblz4, libcap, libgcrypt) for one sendto(2); the
 * protocol is stable, documented and about 40 lines. Also rejected: "vsock:" addresses
 * (systemd 253+, for VMs): Debian 12's systemd 252 never sets them, and they are refused as
 * -EAFNOSUPPORT here rather than misread as a path. */
#include "core/sd_notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int sd_notify_send(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	if (path == NULL || path[0] == '\0')
		return 0;
	size_t len = strlen(path);
	/* Only an absolute path or an abstract name: a relative one is refused, as systemd's
	 * own client does, since the manager never sets one. */
	if (path[0] != '/' && path[0] != '@')
		return strncmp(path, "vsock:", 6) == 0 ? -EAFNOSUPPORT : -EINVAL;
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (len > sizeof(sa.sun_path) || (path[0] == '/' && len == sizeof(sa.sun_path)))
		return -ENAMETOOLONG; /* a path needs room for its NUL, an abstract name not */
	memcpy(sa.sun_path, path, len);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	socklen_t salen =
	    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (path[0] == '/' ? 1 : 0));

	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -errno;
	int rc = 1;
	size_t n = strlen(state);
	ssize_t sent =
	    sendto(fd, state, n, MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *)&sa, salen);
	if (sent == -1)
		rc = -errno;
	else if ((size_t)sent != n)
		rc = -EMSGSIZE; /* a datagram is all or nothing; defensive */
	close(fd);
	return rc;
}

/* STATE plus MONOTONIC_USEC, which systemd reads with RELOADING=1 (to tell this reload's
 * READY=1 from an earlier one) and ignores elsewhere. */
static int sd_notify_with_clock(const char *state)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	char msg[96];
	snprintf(msg, sizeof(msg), "%s\nMONOTONIC_USEC=%llu", state,
	         (unsigned long long)ts.tv_sec * 1000000ull +
	             (unsigned long long)ts.tv_nsec / 1000ull);
	return sd_notify_send(msg);
}

int sd_notify_ready(void)
{
	return sd_notify_send("READY=1\nSTATUS=serving");
}

int sd_notify_reloading(void)
{
	return sd_notify_with_clock("RELOADING=1\nSTATUS=reloading");
}

int sd_notify_stopping(void)
{
	return sd_notify_send("STOPPING=1\nSTATUS=draining");
}
