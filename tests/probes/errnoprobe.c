/*
 * errnoprobe - failing (and succeeding) socket calls, one per line:
 * "case rc=N errno=ENAME". Run bare and under the shim: the outputs must
 * be identical, whatever the policy, and nothing may crash.
 * Argument: a TCP port on 127.0.0.1 that nothing listens on.
 *
 * Optional second argument Q: a free port for the "pol-*" cases, calls
 * whose address a test's policy targets (127.0.0.1:Q, [::1]:Q): binds with
 * and without the options asked before, options set after bind, malformed
 * binds, listen() and connect() on unbound sockets. Bare they succeed or
 * fail as the kernel says; a test names the lines its policy may change
 * and how (EACCES for deny, EPERM for refuse) and diffs the rest.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/close_range.h>

static void report(const char *name, int rc)
{
	const char *e = rc < 0 ? strerrorname_np(errno) : "-";
	printf("%-28s rc=%d errno=%s\n", name, rc < 0 ? -1 : 0, e ? e : "?");
}

#define CASE(name, call)                        \
	do {                                    \
		errno = EDOM;                   \
		int rc_ = (call);               \
		if (rc_ >= 0 && errno != EDOM)  \
			printf("%-28s errno changed on success: %s\n", name, \
			       strerrorname_np(errno)); \
		report(name, rc_);              \
	} while (0)

static struct sockaddr_in q4;   /* 127.0.0.1:Q */
static struct sockaddr_in6 q6;  /* [::1]:Q */
static struct sockaddr_in6 qm;  /* [::ffff:127.0.0.1]:Q */

/* A fresh socket, options set before bind as asked, bound to addr with
 * len; closed again (so Q is free for the next case), errno kept. */
static int bind_fresh(int family, int type, int ra, int rp, const void *addr,
		      socklen_t len)
{
	int fd = socket(family, type, 0), one = 1, rc, e;

	if (fd < 0)
		return -1;
	if (ra && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
		printf("setup: setsockopt SO_REUSEADDR failed\n");
	if (rp && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0)
		printf("setup: setsockopt SO_REUSEPORT failed\n");
	rc = bind(fd, addr, len);
	e = errno;
	close(fd);
	errno = e;
	return rc;
}

/* Bound to addr (no option asked), then option `name` set to 1 after. */
static int set_after_bind(int type, int name)
{
	int fd = socket(AF_INET, type, 0), one = 1, rc, e;

	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&q4, sizeof q4) < 0)
		printf("setup: bind for set-after failed: %s\n", strerrorname_np(errno));
	errno = EDOM;
	rc = setsockopt(fd, SOL_SOCKET, name, &one, sizeof one);
	e = errno;
	close(fd);
	errno = e;
	return rc;
}

/* Whether an fd has a local port (the kernel bound it). */
static const char *bound(int fd)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof ss;

	if (getsockname(fd, (struct sockaddr *)&ss, &l) < 0)
		return "?";
	return ((struct sockaddr_in *)&ss)->sin_port ? "yes" : "no";
}

static void policy_cases(int qport, int noport)
{
	struct sockaddr_in none = { .sin_family = AF_INET, .sin_port = htons((uint16_t)noport) };
	int fd, v = -1;
	socklen_t len;

	inet_pton(AF_INET, "127.0.0.1", &none.sin_addr);

	q4.sin_family = AF_INET;
	q4.sin_port = htons((uint16_t)qport);
	inet_pton(AF_INET, "127.0.0.1", &q4.sin_addr);
	q6.sin6_family = AF_INET6;
	q6.sin6_port = htons((uint16_t)qport);
	inet_pton(AF_INET6, "::1", &q6.sin6_addr);
	qm = q6;
	inet_pton(AF_INET6, "::ffff:127.0.0.1", &qm.sin6_addr);

	CASE("pol-bind-tcp4", bind_fresh(AF_INET, SOCK_STREAM, 0, 0, &q4, sizeof q4));
	CASE("pol-bind-tcp4-ra", bind_fresh(AF_INET, SOCK_STREAM, 1, 0, &q4, sizeof q4));
	CASE("pol-bind-tcp4-rp", bind_fresh(AF_INET, SOCK_STREAM, 0, 1, &q4, sizeof q4));
	CASE("pol-bind-udp4", bind_fresh(AF_INET, SOCK_DGRAM, 0, 0, &q4, sizeof q4));
	CASE("pol-bind-udp4-ra", bind_fresh(AF_INET, SOCK_DGRAM, 1, 0, &q4, sizeof q4));
	CASE("pol-bind-udp4-rp", bind_fresh(AF_INET, SOCK_DGRAM, 0, 1, &q4, sizeof q4));
	CASE("pol-bind-tcp6", bind_fresh(AF_INET6, SOCK_STREAM, 0, 0, &q6, sizeof q6));
	CASE("pol-bind-tcp6-ra", bind_fresh(AF_INET6, SOCK_STREAM, 1, 0, &q6, sizeof q6));
	CASE("pol-bind-udp6-rp", bind_fresh(AF_INET6, SOCK_DGRAM, 0, 1, &q6, sizeof q6));
	CASE("pol-bind-mapped", bind_fresh(AF_INET6, SOCK_STREAM, 0, 0, &qm, sizeof qm));
	/* malformed: the kernel's answer must win over any policy */
	CASE("pol-bind-short", bind_fresh(AF_INET, SOCK_STREAM, 0, 0, &q4, 4));
	CASE("pol-bind-huge-len", bind_fresh(AF_INET, SOCK_STREAM, 0, 0, &q4, 100000));
	CASE("pol-bind-len-129", bind_fresh(AF_INET, SOCK_STREAM, 0, 0, &q4, 129));
	CASE("pol-bind6-short", bind_fresh(AF_INET6, SOCK_STREAM, 0, 0, &q6, sizeof q4));
	CASE("pol-bind6-on-inet", bind_fresh(AF_INET, SOCK_STREAM, 0, 0, &q6, sizeof q6));
	/* options after bind */
	CASE("pol-set-ra-after-tcp", set_after_bind(SOCK_STREAM, SO_REUSEADDR));
	CASE("pol-set-rp-after-tcp", set_after_bind(SOCK_STREAM, SO_REUSEPORT));
	CASE("pol-set-ra-after-udp", set_after_bind(SOCK_DGRAM, SO_REUSEADDR));
	/* a bind the policy may refuse; the same socket then connects to a
	 * port nothing listens on */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	CASE("pol-bind-refusable", bind(fd, (struct sockaddr *)&q4, sizeof q4));
	len = sizeof v;
	CASE("pol-getsockopt-after", getsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &v, &len));
	printf("%-28s value=%d\n", "pol-getsockopt-after-value", v);
	CASE("pol-connect-refused", connect(fd, (struct sockaddr *)&none, sizeof none));
	close(fd);
	/* listen() on an unbound UDP socket: not supported, and nothing bound */
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	CASE("pol-listen-udp4", listen(fd, 1));
	printf("%-28s bound=%s\n", "pol-listen-udp4-after", bound(fd));
	close(fd);
	fd = socket(AF_INET6, SOCK_DGRAM, 0);
	CASE("pol-listen-udp6", listen(fd, 1));
	printf("%-28s bound=%s\n", "pol-listen-udp6-after", bound(fd));
	close(fd);
	/* connect() from an unbound socket, then listen() on it */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	CASE("pol-connect-unbound", connect(fd, (struct sockaddr *)&none, sizeof none));
	CASE("pol-listen-after-connect", listen(fd, 1));
	close(fd);
}

int main(int argc, char **argv)
{
	int port = argc > 1 ? atoi(argv[1]) : 1;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6 };
	int one = 1, v = 0, p[2], s, s2, l;
	socklen_t len;

	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	if (pipe(p) < 0)
		return 1;
	s = socket(AF_INET, SOCK_STREAM, 0);

	CASE("bind-badfd", bind(-1, (struct sockaddr *)&a, sizeof a));
	CASE("bind-closedfd", bind(987, (struct sockaddr *)&a, sizeof a));
	CASE("bind-notsock", bind(p[0], (struct sockaddr *)&a, sizeof a));
	CASE("bind-null", bind(s, NULL, sizeof a));
	CASE("bind-badptr", bind(s, (struct sockaddr *)(uintptr_t)1, sizeof a));
	CASE("bind-short", bind(s, (struct sockaddr *)&a, 4));
	CASE("bind-zero-len", bind(s, (struct sockaddr *)&a, 0));
	CASE("bind-huge-len", bind(s, (struct sockaddr *)&a, 100000));
	CASE("bind-wrong-family", bind(s, (struct sockaddr *)&a6, sizeof a6));
	CASE("setsockopt-badfd", setsockopt(-1, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one));
	CASE("setsockopt-notsock", setsockopt(p[0], SOL_SOCKET, SO_REUSEADDR, &one, sizeof one));
	CASE("setsockopt-badlevel", setsockopt(s, 12345, SO_REUSEADDR, &one, sizeof one));
	CASE("setsockopt-badname", setsockopt(s, SOL_SOCKET, 12345, &one, sizeof one));
	CASE("setsockopt-short", setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, 1));
	CASE("setsockopt-null", setsockopt(s, SOL_SOCKET, SO_REUSEADDR, NULL, sizeof one));
	CASE("setsockopt-badptr", setsockopt(s, SOL_SOCKET, SO_REUSEPORT, (void *)(uintptr_t)8, 4));
	CASE("setsockopt-ok", setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one));
	len = sizeof v;
	CASE("getsockopt-badfd", getsockopt(-1, SOL_SOCKET, SO_REUSEADDR, &v, &len));
	CASE("getsockopt-nulllen", getsockopt(s, SOL_SOCKET, SO_REUSEADDR, &v, NULL));
	len = sizeof v;
	CASE("getsockopt-nullval", getsockopt(s, SOL_SOCKET, SO_REUSEADDR, NULL, &len));
	len = sizeof v;
	CASE("getsockopt-badptr", getsockopt(s, SOL_SOCKET, SO_REUSEPORT, (void *)(uintptr_t)8, &len));
	len = sizeof v;
	CASE("getsockopt-badlenptr", getsockopt(s, SOL_SOCKET, SO_REUSEPORT, &v, (socklen_t *)(uintptr_t)8));
	len = sizeof v;
	CASE("getsockopt-ok", getsockopt(s, SOL_SOCKET, SO_REUSEADDR, &v, &len));
	printf("%-28s value=%d len=%u\n", "getsockopt-ok-value", v, (unsigned)len);
	CASE("listen-badfd", listen(-1, 1));
	CASE("listen-notsock", listen(p[0], 1));
	s2 = socket(AF_INET, SOCK_DGRAM, 0);
	CASE("listen-udp", listen(s2, 1));
	CASE("connect-refused", connect(s, (struct sockaddr *)&a, sizeof a));
	CASE("connect-null", connect(socket(AF_INET, SOCK_STREAM, 0), NULL, sizeof a));
	CASE("connect-badfd", connect(-1, (struct sockaddr *)&a, sizeof a));
	/* EADDRINUSE: a listener holds the port, a second socket binds it */
	l = socket(AF_INET, SOCK_STREAM, 0);
	a.sin_port = 0;
	CASE("bind-ephemeral", bind(l, (struct sockaddr *)&a, sizeof a));
	CASE("listen-ok", listen(l, 4));
	len = sizeof a;
	getsockname(l, (struct sockaddr *)&a, &len);
	CASE("bind-inuse", bind(socket(AF_INET, SOCK_STREAM, 0), (struct sockaddr *)&a, sizeof a));
	CASE("close-badfd", close(-1));
	CASE("close-closed", close(986));
	CASE("close-ok", close(s2));
	CASE("dup2-badfd", dup2(985, 50));
	CASE("dup-badfd", dup(985));
	CASE("dup3-same", dup3(p[0], p[0], 0));
	CASE("fcntl-dupfd-bad", fcntl(985, F_DUPFD, 10));
	CASE("fcntl-getfl", fcntl(p[0], F_GETFL));
	CASE("close_range-inval", close_range(10, 5, 0));
	CASE("socket-badfamily", socket(12345, SOCK_STREAM, 0));
	CASE("socket-badtype", socket(AF_INET, 12345, 0));
	if (argc > 2)
		policy_cases(atoi(argv[2]), port);
	return 0;
}
