/*
 * probe.c - the operations bench/run measures, N times each, nothing else.
 *
 *   probe life N    socket, setsockopt(SO_REUSEADDR), bind 127.0.0.1:0,
 *                   listen, close: one socket life-cycle, N times
 *   probe close N   pipe, then close() of both ends: 2N closes of fds the
 *                   shim does not track (pipe() itself is not interposed)
 *   probe hold N    keep N TCP sockets open, then print VmRSS in kB
 *
 * Run with N and with 0, bare and under the shim: the differences cancel
 * start-up and leave the cost per operation (bench/run computes it).
 * Every failure is fatal, so a broken run cannot pass for a cheap one.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void life(long n)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int one = 1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (long i = 0; i < n; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0)
			die("socket");
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
			die("setsockopt");
		if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0)
			die("bind");
		if (listen(fd, 1) < 0)
			die("listen");
		if (close(fd) < 0)
			die("close");
	}
}

static void closes(long n)
{
	int p[2];

	for (long i = 0; i < n; i++) {
		if (pipe(p) < 0)
			die("pipe");
		if (close(p[0]) < 0 || close(p[1]) < 0)
			die("close");
	}
}

/* VmRSS of this process, in kB, from /proc/self/status. */
static long rss_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		die("/proc/self/status");
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/*
 * Hold n sockets at once. RLIMIT_NOFILE is raised to fit them; where even
 * root may not raise the hard limit (no CAP_SYS_RESOURCE), as many as the
 * hard limit allows are held, and the line says how many.
 */
static void hold(long n)
{
	struct rlimit rl = { (rlim_t)n + 64, (rlim_t)n + 64 };
	long before;

	if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
		if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
			die("getrlimit");
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			die("setrlimit RLIMIT_NOFILE");
		if ((rlim_t)n + 64 > rl.rlim_max)
			n = (long)rl.rlim_max - 64;
	}
	before = rss_kb();
	for (long i = 0; i < n; i++)
		if (socket(AF_INET, SOCK_STREAM, 0) < 0)
			die("socket");
	printf("rss_before_kb=%ld rss_kb=%ld sockets=%ld\n", before, rss_kb(), n);
}

int main(int argc, char **argv)
{
	long n = argc > 2 ? strtol(argv[2], NULL, 10) : 0;

	if (argc < 3 || n < 0) {
		fprintf(stderr, "usage: probe life|close|hold N\n");
		return 2;
	}
	if (strcmp(argv[1], "life") == 0)
		life(n);
	else if (strcmp(argv[1], "close") == 0)
		closes(n);
	else if (strcmp(argv[1], "hold") == 0)
		hold(n);
	else
		return 2;
	return 0;
}
