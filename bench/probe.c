/*
 * probe.c - the operations bench/run measures, N times each, nothing else.
 *
 *   probe life N    socket, setsockopt(SO_REUSEADDR), bind 127.0.0.1:0,
 *                   listen, close: one socket life-cycle, N times
 *   probe close N   pipe, then close() of both ends: 2N closes of fds the
 *                   shim does not track (pipe() itself is not interposed)
 *   probe hold N    keep N TCP sockets open, then print VmRSS in kB
 *   probe connect N one listener on 127.0.0.1; N times: socket, connect,
 *                   accept, close both: one client connection (and its
 *                   server side)
 *   probe busy N    one listener on 127.0.0.1:P; N times: socket, bind P
 *                   (must fail EADDRINUSE), close: a program probing a busy
 *                   port
 *   probe busyat N P   N times: socket, bind 127.0.0.1:P (must fail
 *                   EADDRINUSE), close: P is held by another process
 *   probe closefrom N  two sockets (fds 3, 4), then N times closefrom(5):
 *                   the wide close of a program with few tracked fds
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

/* a listener on 127.0.0.1 (port 0: any), its address in *a */
static int listener(struct sockaddr_in *a)
{
	socklen_t len = sizeof *a;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(a, 0, sizeof *a);
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)a, sizeof *a) < 0 || listen(fd, 64) < 0 ||
	    getsockname(fd, (struct sockaddr *)a, &len) < 0)
		die("listener");
	return fd;
}

static void connects(long n)
{
	struct sockaddr_in a;
	int l = listener(&a);

	for (long i = 0; i < n; i++) {
		int c = socket(AF_INET, SOCK_STREAM, 0), s;
		if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof a) < 0)
			die("connect");
		if ((s = accept(l, NULL, NULL)) < 0)
			die("accept");
		if (close(c) < 0 || close(s) < 0)
			die("close");
	}
	close(l);
}

static void busy(long n)
{
	struct sockaddr_in a;
	int l = listener(&a);

	for (long i = 0; i < n; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0)
			die("socket");
		if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0) {
			fprintf(stderr, "probe busy: bind to a held port succeeded\n");
			exit(1);
		}
		close(fd);
	}
	close(l);
}

static void busy_at(long n, long port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

	for (long i = 0; i < n; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0)
			die("socket");
		if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0) {
			fprintf(stderr, "probe busyat: bind to a held port succeeded\n");
			exit(1);
		}
		close(fd);
	}
}

static void closefroms(long n)
{
	if (socket(AF_INET, SOCK_STREAM, 0) < 0 || socket(AF_INET, SOCK_STREAM, 0) < 0)
		die("socket");
	for (long i = 0; i < n; i++)
		closefrom(5);
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
		fprintf(stderr, "usage: probe life|close|hold|connect|busy|closefrom N, busyat N PORT\n");
		return 2;
	}
	if (strcmp(argv[1], "life") == 0)
		life(n);
	else if (strcmp(argv[1], "close") == 0)
		closes(n);
	else if (strcmp(argv[1], "hold") == 0)
		hold(n);
	else if (strcmp(argv[1], "connect") == 0)
		connects(n);
	else if (strcmp(argv[1], "busy") == 0)
		busy(n);
	else if (strcmp(argv[1], "busyat") == 0 && argc > 3)
		busy_at(n, strtol(argv[3], NULL, 10));
	else if (strcmp(argv[1], "closefrom") == 0)
		closefroms(n);
	else
		return 2;
	return 0;
}
