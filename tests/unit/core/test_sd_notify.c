/* Unit tests for core/sd_notify.c: each message arrives whole as one datagram on an AF_UNIX
 * socket bound in a fresh temp dir (a path) or in the abstract namespace ('@'); an unset or
 * empty $NOTIFY_SOCKET is a no-op; a relative path, a vsock: address, a name too long for
 * sun_path and a path nobody listens on are errors, never a crash or a block. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/sd_notify.h"

struct fixture {
	char dir[64];  /* mkdtemp'd */
	char path[96]; /* dir/notify */
	int fd;        /* the "service manager" end */
};

static int setup(void **state)
{
	static struct fixture f;
	snprintf(f.dir, sizeof(f.dir), "/tmp/wsg_sd_notify_XXXXXX");
	if (mkdtemp(f.dir) == NULL)
		return -1;
	snprintf(f.path, sizeof(f.path), "%s/notify", f.dir);
	f.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (f.fd == -1)
		return -1;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	memcpy(sa.sun_path, f.path, strlen(f.path) + 1);
	if (bind(f.fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		return -1;
	setenv("NOTIFY_SOCKET", f.path, 1);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	close(f->fd);
	unlink(f->path);
	rmdir(f->dir);
	unsetenv("NOTIFY_SOCKET");
	return 0;
}

/* One datagram from fd, NUL-terminated, or "" when none is waiting. */
static const char *recv_one(int fd)
{
	static char buf[512];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static void test_ready_arrives_as_one_datagram(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(sd_notify_ready(), 1);
	assert_string_equal(recv_one(f->fd), "READY=1\nSTATUS=serving");
	assert_string_equal(recv_one(f->fd), ""); /* exactly one */
}

static void test_reload_then_ready_in_order(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(sd_notify_reloading(), 1);
	assert_int_equal(sd_notify_ready(), 1);
	const char *m = recv_one(f->fd);
	assert_true(strncmp(m, "RELOADING=1\nSTATUS=reloading\nMONOTONIC_USEC=", 44) == 0);
	assert_true(strlen(m) > 44);
	for (const char *p = m + 44; *p; p++)
		assert_true(*p >= '0' && *p <= '9');
	assert_string_equal(recv_one(f->fd), "READY=1\nSTATUS=serving");
}

static void test_stopping(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(sd_notify_stopping(), 1);
	assert_string_equal(recv_one(f->fd), "STOPPING=1\nSTATUS=draining");
}

static void test_arbitrary_state_is_sent_verbatim(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(sd_notify_send("STATUS=x\nWATCHDOG=1"), 1);
	assert_string_equal(recv_one(f->fd), "STATUS=x\nWATCHDOG=1");
}

static void test_unset_or_empty_is_a_noop(void **state)
{
	struct fixture *f = *state;
	unsetenv("NOTIFY_SOCKET");
	assert_int_equal(sd_notify_ready(), 0);
	setenv("NOTIFY_SOCKET", "", 1);
	assert_int_equal(sd_notify_ready(), 0);
	assert_string_equal(recv_one(f->fd), "");
}

static void test_abstract_namespace(void **state)
{
	(void)state;
	char name[64];
	snprintf(name, sizeof(name), "@wsg_sd_notify_test_%d", (int)getpid());
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd != -1);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t len = strlen(name);
	memcpy(sa.sun_path, name, len);
	sa.sun_path[0] = '\0';
	/* The length excludes a trailing NUL: an abstract name is exactly its bytes. */
	assert_int_equal(bind(fd, (struct sockaddr *)&sa,
	                      (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)),
	                 0);
	setenv("NOTIFY_SOCKET", name, 1);
	assert_int_equal(sd_notify_ready(), 1);
	assert_string_equal(recv_one(fd), "READY=1\nSTATUS=serving");
	close(fd);
}

static void test_bad_addresses_are_errors(void **state)
{
	struct fixture *f = *state;
	setenv("NOTIFY_SOCKET", "relative/notify", 1);
	assert_int_equal(sd_notify_ready(), -EINVAL);
	setenv("NOTIFY_SOCKET", "vsock:2:1234", 1);
	assert_int_equal(sd_notify_ready(), -EAFNOSUPPORT);
	char longp[200];
	memset(longp, 'a', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	setenv("NOTIFY_SOCKET", longp, 1);
	assert_int_equal(sd_notify_ready(), -ENAMETOOLONG);
	char gone[128];
	snprintf(gone, sizeof(gone), "%s/nobody", f->dir);
	setenv("NOTIFY_SOCKET", gone, 1);
	assert_int_equal(sd_notify_ready(), -ENOENT);
	assert_string_equal(recv_one(f->fd), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_ready_arrives_as_one_datagram, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reload_then_ready_in_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stopping, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_arbitrary_state_is_sent_verbatim, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unset_or_empty_is_a_noop, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_abstract_namespace, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_addresses_are_errors, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
