/*
 * rebindprobe - a second bind() on a socket that is already bound (the
 * kernel says EINVAL), then what the socket holds.
 *
 *   rebindprobe [-u] [-r] [-p] [-R] [-P] [-x] ADDR
 *     -u  UDP (default TCP)
 *     -r/-p  SO_REUSEADDR/SO_REUSEPORT before the first bind
 *     -R/-P  SO_REUSEADDR=1/SO_REUSEPORT=1 after the failed second bind
 *     -x     SO_REUSEADDR=0 after the failed second bind
 *
 * Binds ADDR port 0, binds the same address again, and prints
 * "bind=ok rebind=EINVAL [set_after=..] seen_ra= seen_rp= kernel_ra=
 * kernel_rp=" like bindprobe (seen: getsockopt, kernel: raw syscall).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char *ename(int rc)
{
	return rc == 0 ? "ok" : strerrorname_np(errno);
}

static int flag(int fd, int name, int raw)
{
	int v = -1;
	socklen_t l = sizeof v;

	if (raw)
		syscall(SYS_getsockopt, fd, SOL_SOCKET, name, &v, &l);
	else
		getsockopt(fd, SOL_SOCKET, name, &v, &l);
	return v;
}

int main(int argc, char **argv)
{
	int udp = 0, ra = 0, rp = 0, ra_after = 0, rp_after = 0, ra_off = 0;
	int c, one = 1, zero = 0, fd, rc;
	struct sockaddr_storage ss = { 0 };
	socklen_t sl;

	while ((c = getopt(argc, argv, "urpRPx")) != -1) {
		switch (c) {
		case 'u': udp = 1; break;
		case 'r': ra = 1; break;
		case 'p': rp = 1; break;
		case 'R': ra_after = 1; break;
		case 'P': rp_after = 1; break;
		case 'x': ra_off = 1; break;
		default: return 2;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "usage: rebindprobe [-urpRPx] ADDR\n");
		return 2;
	}
	if (strchr(argv[optind], ':')) {
		struct sockaddr_in6 *in6 = (void *)&ss;
		in6->sin6_family = AF_INET6;
		if (inet_pton(AF_INET6, argv[optind], &in6->sin6_addr) != 1)
			return 2;
		sl = sizeof *in6;
	} else {
		struct sockaddr_in *in = (void *)&ss;
		in->sin_family = AF_INET;
		if (inet_pton(AF_INET, argv[optind], &in->sin_addr) != 1)
			return 2;
		sl = sizeof *in;
	}
	fd = socket(ss.ss_family, udp ? SOCK_DGRAM : SOCK_STREAM, 0);
	if (fd < 0)
		return 1;
	if (ra)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (rp)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
	rc = bind(fd, (struct sockaddr *)&ss, sl);
	printf("bind=%s", ename(rc));
	if (rc < 0) {
		printf("\n");
		return 1;
	}
	rc = bind(fd, (struct sockaddr *)&ss, sl);
	printf(" rebind=%s", ename(rc));
	if (ra_after || rp_after || ra_off) {
		int r1 = 0;
		if (ra_after)
			r1 |= setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (ra_off)
			r1 |= setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &zero, sizeof zero);
		if (rp_after)
			r1 |= setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
		printf(" set_after=%s", ename(r1));
	}
	printf(" seen_ra=%d seen_rp=%d kernel_ra=%d kernel_rp=%d\n",
	       flag(fd, SO_REUSEADDR, 0), flag(fd, SO_REUSEPORT, 0),
	       flag(fd, SO_REUSEADDR, 1), flag(fd, SO_REUSEPORT, 1));
	return 0;
}
