/*
 * bindprobe - one socket story, told on stdout as key=value.
 *
 *   bindprobe [-u] [-r] [-p] [-R] [-P] [-l] [-o] [-n] [-h SEC] [-a] ADDR PORT
 *     -u  UDP (default TCP)        -o  IPV6_V6ONLY on
 *     -r  SO_REUSEADDR before bind -R  SO_REUSEADDR=1 after bind
 *     -p  SO_REUSEPORT before bind -P  SO_REUSEPORT=1 after bind
 *     -x  SO_REUSEADDR=0 after bind
 *     -l  listen                   -n  do not bind (listen/connect pick)
 *     -h SEC  hold the socket SEC seconds; with -a serve while holding:
 *             TCP accepts and closes first (leaving TIME_WAIT here),
 *             UDP counts datagrams (printed as got=N at the end)
 *
 * Prints: bind=ok|ENAME listen=... set_after=... seen_ra= seen_rp= (what
 * getsockopt tells the program) kernel_ra= kernel_rp= (the truth, read with
 * a raw system call the shim cannot see) port=N owner=UID (the socket's owner).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
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

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	int udp = 0, ra = 0, rp = 0, ra_after = 0, rp_after = 0, ra_off = 0;
	int lis = 0, v6only = 0, nobind = 0, serve = 0, c, one = 1, zero = 0;
	double hold = 0;
	struct sockaddr_storage ss = { 0 };
	struct stat st;
	socklen_t sl;
	int fd, rc, family, port, got = 0;

	while ((c = getopt(argc, argv, "urpRPxlonh:a")) != -1) {
		switch (c) {
		case 'u': udp = 1; break;
		case 'r': ra = 1; break;
		case 'p': rp = 1; break;
		case 'R': ra_after = 1; break;
		case 'P': rp_after = 1; break;
		case 'x': ra_off = 1; break;
		case 'l': lis = 1; break;
		case 'o': v6only = 1; break;
		case 'n': nobind = 1; break;
		case 'h': hold = atof(optarg); break;
		case 'a': serve = 1; break;
		default: return 2;
		}
	}
	if (optind + 2 != argc) {
		fprintf(stderr, "usage: bindprobe [-urpRPxlona] [-h SEC] ADDR PORT\n");
		return 2;
	}
	port = atoi(argv[optind + 1]);
	if (strchr(argv[optind], ':')) {
		struct sockaddr_in6 *in6 = (void *)&ss;
		family = in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, argv[optind], &in6->sin6_addr) != 1)
			return 2;
		sl = sizeof *in6;
	} else {
		struct sockaddr_in *in = (void *)&ss;
		family = in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, argv[optind], &in->sin_addr) != 1)
			return 2;
		sl = sizeof *in;
	}
	fd = socket(family, udp ? SOCK_DGRAM : SOCK_STREAM, 0);
	if (fd < 0) {
		printf("socket=%s\n", ename(-1));
		return 1;
	}
	if (family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, v6only ? &one : &zero, sizeof one);
	if (ra)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (rp)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
	rc = nobind ? 0 : bind(fd, (struct sockaddr *)&ss, sl);
	printf("bind=%s", nobind ? "-" : ename(rc));
	if (rc == 0 && (ra_after || rp_after || ra_off)) {
		int r1 = 0;
		if (ra_after)
			r1 |= setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (ra_off)
			r1 |= setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &zero, sizeof zero);
		if (rp_after)
			r1 |= setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
		printf(" set_after=%s", ename(r1));
	}
	if (rc == 0 && lis) {
		rc = listen(fd, 128);
		printf(" listen=%s", ename(rc));
	}
	printf(" seen_ra=%d seen_rp=%d kernel_ra=%d kernel_rp=%d", flag(fd, SO_REUSEADDR, 0),
	       flag(fd, SO_REUSEPORT, 0), flag(fd, SO_REUSEADDR, 1), flag(fd, SO_REUSEPORT, 1));
	sl = sizeof ss;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
		printf(" port=%d", ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
				    : ((struct sockaddr_in6 *)&ss)->sin6_port));
	if (fstat(fd, &st) == 0)
		printf(" owner=%u", (unsigned)st.st_uid);   /* the uid SO_REUSEPORT compares */
	printf("\n");
	fflush(stdout);
	if (rc == 0 && hold > 0) {
		double end = now() + hold;
		while (now() < end) {
			struct pollfd p = { fd, POLLIN, 0 };
			if (!serve || poll(&p, 1, 50) <= 0) {
				if (!serve)
					usleep(20000);
				continue;
			}
			if (udp) {
				char b[512];
				if (recv(fd, b, sizeof b, MSG_DONTWAIT) >= 0)
					got++;
			} else {
				int a = accept(fd, NULL, NULL);
				if (a >= 0) {
					if (write(a, "hi\n", 3) < 0) { /* client gone */ }
					close(a);    /* server closes first: TIME_WAIT here */
					got++;
				}
			}
		}
		if (serve) {
			printf("got=%d\n", got);
			fflush(stdout);
		}
	}
	return rc == 0 ? 0 : 1;
}
