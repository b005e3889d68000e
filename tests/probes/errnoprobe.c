/*
 * errnoprobe - failing (and succeeding) socket calls, one per line:
 * "case rc=N errno=ENAME". Run bare and under the shim: the outputs must
 * be identical, whatever the policy, and nothing may crash.
 * Argument: a TCP port on 127.0.0.1 that nothing listens on.
 */
#define _GNU_SOURCE
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
	return 0;
}
