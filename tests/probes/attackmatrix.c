/*
 * attackmatrix - the no-hijack matrix of tests/attack/matrix.bats, in two
 * processes instead of one fork per case.
 *
 *   attackmatrix victim BASEPORT SECS
 *     binds one victim socket per (address, protocol, options asked) on its
 *     own port from BASEPORT up (TCP ones listen), prints one line each
 *       V ID PROTO VADDR VOPT PORT
 *     then "ready", and holds them SECS seconds (or until killed).
 *   attackmatrix attack LABEL  < victim lines
 *     for every victim, tries every attacker: 8 addresses x RA/RP x
 *     {plain, SO_BINDTODEVICE lo, IP_FREEBIND, IP_TRANSPARENT}; TCP binds
 *     then listens. One line per attempt:
 *       A LABEL ID AADDR AOPT XOPT overlap=0|1 result=ok|ENAME|n/a
 *     n/a: the extra option itself was refused (not an attempt).
 *
 * overlap says whether the two addresses cover a common local address (the
 * victim's traffic could reach the attacker): what `exclusive` must refuse.
 * Every call is the libc one; run the attacker without the library.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef IP_TRANSPARENT
#define IP_TRANSPARENT 19
#endif

/* An address as both sides use it. v4 is set for what it covers in IPv4:
 * 0 none, 1 the wildcard, 2 127.0.0.1, 3 127.0.0.2; v6 likewise for IPv6:
 * 0 none, 1 the wildcard, 2 ::1. */
struct where {
	const char *name;
	int family, v6only;
	const char *text;
	int v4, v6;
};

static const struct where victims[] = {
	{ "v4any", AF_INET, 0, "0.0.0.0", 1, 0 },
	{ "v4lo", AF_INET, 0, "127.0.0.1", 2, 0 },
	{ "v6dual", AF_INET6, 0, "::", 1, 1 },
	{ "v6only", AF_INET6, 1, "::", 0, 1 },
	{ "v6lo", AF_INET6, 1, "::1", 0, 2 },
	{ "mapped", AF_INET6, 0, "::ffff:127.0.0.1", 2, 0 },
};

static const struct where attackers[] = {
	{ "v4any", AF_INET, 0, "0.0.0.0", 1, 0 },
	{ "v4lo", AF_INET, 0, "127.0.0.1", 2, 0 },
	{ "v4lo2", AF_INET, 0, "127.0.0.2", 3, 0 },
	{ "v6dual", AF_INET6, 0, "::", 1, 1 },
	{ "v6only", AF_INET6, 1, "::", 0, 1 },
	{ "v6lo", AF_INET6, 1, "::1", 0, 2 },
	{ "mapped", AF_INET6, 0, "::ffff:127.0.0.1", 2, 0 },
	{ "mappedany", AF_INET6, 0, "::ffff:0.0.0.0", 1, 0 },
};

#define NV (sizeof victims / sizeof victims[0])
#define NA (sizeof attackers / sizeof attackers[0])

static const char *const opts[] = { "none", "ra", "rp", "rarp" };
static const char *const extras[] = { "plain", "dev", "freebind", "transparent" };

static const char *ename(int e)
{
	const char *n = strerrorname_np(e);
	return n ? n : "E?";
}

static int covers(int a, int b)
{
	return a && b && (a == 1 || b == 1 || a == b);
}

static const struct where *find(const struct where *w, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(w[i].name, name))
			return &w[i];
	return NULL;
}

/* A socket of w's family, with the options; -1 and errno on failure,
 * *stage says which step failed ("setup" for an extra option). */
static int make(const struct where *w, int tcp, int opt, int extra, int port,
		const char **stage)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int one = 1, fd, e;

	*stage = "setup";
	fd = socket(w->family, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
	if (fd < 0)
		return -1;
	memset(&ss, 0, sizeof ss);
	if (w->family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		inet_pton(AF_INET, w->text, &s4->sin_addr);
		len = sizeof *s4;
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		int v = w->v6only;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		inet_pton(AF_INET6, w->text, &s6->sin6_addr);
		len = sizeof *s6;
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v, sizeof v);
	}
	if ((extra == 1 && setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, "lo", 3) < 0) ||
	    (extra == 2 && setsockopt(fd, w->family == AF_INET ? IPPROTO_IP : IPPROTO_IPV6,
				      w->family == AF_INET ? IP_FREEBIND : IPV6_FREEBIND,
				      &one, sizeof one) < 0) ||
	    (extra == 3 && setsockopt(fd, w->family == AF_INET ? IPPROTO_IP : IPPROTO_IPV6,
				      w->family == AF_INET ? IP_TRANSPARENT : IPV6_TRANSPARENT,
				      &one, sizeof one) < 0))
		goto fail;
	if ((opt & 1) && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
		goto fail;
	if ((opt & 2) && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0)
		goto fail;
	*stage = "bind";
	if (bind(fd, (struct sockaddr *)&ss, len) < 0)
		goto fail;
	*stage = "listen";
	if (tcp && listen(fd, 16) < 0)
		goto fail;
	return fd;
fail:
	e = errno;
	close(fd);
	errno = e;
	return -1;
}

static int victim(int port, int secs)
{
	const char *stage;
	int id = 0;

	for (int tcp = 0; tcp < 2; tcp++)
		for (size_t v = 0; v < NV; v++)
			for (int o = 0; o < 4; o++) {
				int fd = -1, tries;
				for (tries = 0; tries < 200 && fd < 0 && port < 65535; tries++)
					if ((fd = make(&victims[v], tcp, o, 0, port++, &stage)) < 0 &&
					    errno != EADDRINUSE) {
						printf("# victim %s %s %s: %s %s\n", tcp ? "tcp" : "udp",
						       victims[v].name, opts[o], stage, ename(errno));
						break;
					}
				if (fd >= 0)
					printf("V %d %s %s %s %d\n", id++, tcp ? "tcp" : "udp",
					       victims[v].name, opts[o], port - 1);
			}
	printf("ready\n");
	fflush(stdout);
	sleep((unsigned)secs);
	return 0;
}

static int attack(const char *label)
{
	char line[256], proto[8], vname[16], vopt[8];
	int id, port;

	while (fgets(line, sizeof line, stdin)) {
		const struct where *v;
		if (sscanf(line, "V %d %7s %15s %7s %d", &id, proto, vname, vopt, &port) != 5 ||
		    !(v = find(victims, NV, vname)))
			continue;
		for (size_t a = 0; a < NA; a++)
			for (int o = 0; o < 4; o++)
				for (int x = 0; x < 4; x++) {
					const struct where *w = &attackers[a];
					const char *stage, *res;
					int fd = make(w, !strcmp(proto, "tcp"), o, x, port, &stage);
					if (fd >= 0) {
						res = "ok";
						close(fd);
					} else {
						res = !strcmp(stage, "setup") ? "n/a" : ename(errno);
					}
					printf("A %s %d %s %s %s overlap=%d result=%s\n", label, id,
					       w->name, opts[o], extras[x],
					       covers(v->v4, w->v4) || covers(v->v6, w->v6), res);
				}
	}
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	if (argc == 4 && !strcmp(argv[1], "victim"))
		return victim(atoi(argv[2]), atoi(argv[3]));
	if (argc == 3 && !strcmp(argv[1], "attack"))
		return attack(argv[2]);
	fprintf(stderr, "usage: attackmatrix victim BASEPORT SECS | attack LABEL\n");
	return 2;
}
