/*
 * bindbench - the cost of one bind(), measured call by call.
 *
 *   bindbench [-n N] [-l]
 *
 * N times: socket(AF_INET, SOCK_STREAM), setsockopt(TCP_NODELAY) (a call
 * the seccomp filter lets through: the filter's own cost), bind to
 * 127.0.0.1 port 0, close. Each call is timed alone with CLOCK_MONOTONIC;
 * prints the median, 10th and 90th percentiles of each, in nanoseconds:
 *
 *   bind_p50=... bind_p10=... bind_p90=... nodelay_p50=... close_p50=...
 *
 * -l: a TCP listener on 127.0.0.1 is held meanwhile (under a policy with a
 * TCP `exclusive` rule, --seccomp then looks at every close()).
 *
 * Run it bare, under LD_PRELOAD and under `reuse run --seccomp` in one go
 * (bench/seccomp.sh) so the rows share the machine's state.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long long ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return (x > y) - (x < y);
}

static void report(const char *name, long long *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp);
	printf(" %s_p50=%lld %s_p10=%lld %s_p90=%lld", name, v[n / 2], name,
	       v[n / 10], name, v[n * 9 / 10]);
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int n = 20000, one = 1, c, hold = 0;
	long long *tb, *tn, *tc, t0;

	while ((c = getopt(argc, argv, "n:l")) != -1) {
		if (c == 'l')
			hold = 1;
		else if (c == 'n')
			n = atoi(optarg);
		else
			return 2;
	}
	if (n < 10)
		return 2;
	tb = calloc((size_t)n, sizeof *tb);
	tn = calloc((size_t)n, sizeof *tn);
	tc = calloc((size_t)n, sizeof *tc);
	if (!tb || !tn || !tc)
		return 1;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (hold) {
		int l = socket(AF_INET, SOCK_STREAM, 0);
		if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 1) < 0) {
			perror("listener");
			return 1;
		}
	}
	for (int i = 0; i < n; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0) {
			perror("socket");
			return 1;
		}
		t0 = ns();
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		tn[i] = ns() - t0;
		t0 = ns();
		if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) {
			perror("bind");
			return 1;
		}
		tb[i] = ns() - t0;
		t0 = ns();
		close(fd);
		tc[i] = ns() - t0;
	}
	printf("n=%d", n);
	report("bind", tb, n);
	report("nodelay", tn, n);
	report("close", tc, n);
	printf("\n");
	return 0;
}
