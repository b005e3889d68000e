/*
 * fdlife - the life of a socket's fd under the shim, told as key=value on
 * one stdout line per story (a line per thread count for `threads`).
 *
 * The shim keeps a record per fd number. These stories check that the
 * record follows the socket, not the number:
 *
 *   fdlife dup METHOD ASK PORT
 *       socket(); ASK=1: setsockopt(SO_REUSEADDR=1) on the original;
 *       duplicate it with METHOD (dup | dup2 | dup3 | fcntl = F_DUPFD_CLOEXEC),
 *       then bind 127.0.0.1:PORT and listen() THROUGH THE DUPLICATE.
 *       Prints orig= dup= cloexec= bind= listen= dup_seen_ra= dup_kernel_ra=
 *       orig_seen_ra= orig_kernel_ra=.
 *   fdlife dupset METHOD PORT
 *       the other way round: SO_REUSEADDR=1 is set through the duplicate,
 *       the socket is bound through the original. Prints the same keys.
 *   fdlife reuse CLOSE SOCKET PORT
 *       socket A (libc), SO_REUSEADDR=1, bound to 127.0.0.1:0 (so the shim
 *       decided and recorded it); A is closed with CLOSE (close |
 *       close_range | closefrom | raw = syscall(SYS_close), behind the
 *       shim's back); socket B is made with SOCKET (libc | raw =
 *       syscall(SYS_socket); udp | rawudp for a UDP socket) and must get A's
 *       number. B never asks for SO_REUSEADDR. Prints a= b= same=
 *       pre_seen_ra= (B before bind) bind= seen_ra= kernel_ra= (B after
 *       binding 127.0.0.1:PORT).
 *   fdlife fork PORT
 *       socket made before fork(); the child binds 127.0.0.1:PORT and
 *       exits. Prints parent= child= child_bind= (the child's result,
 *       passed back through its exit status).
 *   fdlife stale PORT1 PORT2
 *       socket A, SO_REUSEADDR=1, bound to 127.0.0.1:PORT1 at number N
 *       and closed; a pipe takes N; socket B, SO_REUSEADDR=1, bound to
 *       127.0.0.1:PORT2, is dup2()ed onto N (the slot A's record used)
 *       and listens through N. Prints a= b= listen= kernel_ra= (B's
 *       option after listen(), raw): what B's rule set, not A's.
 *   fdlife threads NTHREADS CYCLES
 *       NTHREADS threads each do CYCLES x socket/bind(127.0.0.1:0)/close.
 *       Prints binds=N (successful binds) failures=N.
 *
 * seen_* is what getsockopt() tells the program; kernel_* is the truth,
 * read with a raw system call the shim cannot see.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define DUP_TARGET 100   /* dup2/dup3 target number */

static const char *ename(int rc)
{
	const char *n;

	if (rc >= 0)
		return "ok";
	n = strerrorname_np(errno);
	return n ? n : "?";
}

static int flag(int fd, int raw)
{
	int v = -1;
	socklen_t l = sizeof v;

	if (raw)
		syscall(SYS_getsockopt, fd, SOL_SOCKET, SO_REUSEADDR, &v, &l);
	else
		getsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &v, &l);
	return v;
}

static int bind_lo(int fd, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return bind(fd, (struct sockaddr *)&a, sizeof a);
}

static int set_ra(int fd)
{
	int one = 1;

	return setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
}

static int duplicate(int fd, const char *method)
{
	if (strcmp(method, "dup") == 0)
		return dup(fd);
	if (strcmp(method, "dup2") == 0)
		return dup2(fd, DUP_TARGET);
	if (strcmp(method, "dup3") == 0)
		return dup3(fd, DUP_TARGET, O_CLOEXEC);
	if (strcmp(method, "fcntl") == 0)
		return fcntl(fd, F_DUPFD_CLOEXEC, 50);
	fprintf(stderr, "fdlife: unknown method %s\n", method);
	exit(2);
}

static int cloexec(int fd)
{
	int f = fcntl(fd, F_GETFD);

	return f < 0 ? -1 : (f & FD_CLOEXEC) != 0;
}

/* dup / dupset */
static int story_dup(const char *method, int ask, int set_on_dup, int port)
{
	int s = socket(AF_INET, SOCK_STREAM, 0), d, rc, lrc = -1, via;

	if (s < 0)
		return 1;
	if (ask && !set_on_dup)
		set_ra(s);
	d = duplicate(s, method);
	if (d < 0) {
		printf("dup=%s\n", ename(d));
		return 1;
	}
	if (set_on_dup)
		set_ra(d);
	via = set_on_dup ? s : d;   /* bind through the other one */
	rc = bind_lo(via, port);
	printf("orig=%d dup=%d cloexec=%d bind=%s", s, d, cloexec(d), ename(rc));
	if (rc == 0) {
		lrc = listen(via, 8);
		printf(" listen=%s", ename(lrc));
	}
	printf(" dup_seen_ra=%d dup_kernel_ra=%d orig_seen_ra=%d orig_kernel_ra=%d\n",
	       flag(d, 0), flag(d, 1), flag(s, 0), flag(s, 1));
	return rc == 0 && lrc == 0 ? 0 : 1;
}

static int make_socket(const char *how)
{
	if (strcmp(how, "libc") == 0)
		return socket(AF_INET, SOCK_STREAM, 0);
	if (strcmp(how, "raw") == 0)
		return (int)syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
	if (strcmp(how, "udp") == 0)
		return socket(AF_INET, SOCK_DGRAM, 0);
	if (strcmp(how, "rawudp") == 0)
		return (int)syscall(SYS_socket, AF_INET, SOCK_DGRAM, 0);
	fprintf(stderr, "fdlife: unknown socket kind %s\n", how);
	exit(2);
}

static int story_reuse(const char *how_close, const char *how_socket, int port)
{
	int a, b, rc;

	/* keep the numbers low and predictable: A takes the lowest free one */
	a = socket(AF_INET, SOCK_STREAM, 0);
	if (a < 0 || set_ra(a) < 0 || bind_lo(a, 0) < 0) {
		printf("a=%s\n", ename(-1));
		return 1;
	}
	if (strcmp(how_close, "close") == 0)
		rc = close(a);
	else if (strcmp(how_close, "close_range") == 0)
		rc = close_range((unsigned)a, (unsigned)a, 0);
	else if (strcmp(how_close, "closefrom") == 0) {
		fflush(stdout);
		closefrom(a);
		rc = 0;
	} else if (strcmp(how_close, "raw") == 0)
		rc = (int)syscall(SYS_close, a);
	else {
		fprintf(stderr, "fdlife: unknown close %s\n", how_close);
		return 2;
	}
	if (rc < 0) {
		printf("close=%s\n", ename(rc));
		return 1;
	}
	b = make_socket(how_socket);
	printf("a=%d b=%d same=%d pre_seen_ra=%d", a, b, a == b, flag(b, 0));
	rc = bind_lo(b, port);
	printf(" bind=%s seen_ra=%d kernel_ra=%d\n", ename(rc), flag(b, 0), flag(b, 1));
	return rc == 0 && a == b ? 0 : 1;
}

static int story_fork(int port)
{
	int s = socket(AF_INET, SOCK_STREAM, 0), st = 0;
	pid_t c;

	if (s < 0)
		return 1;
	fflush(stdout);
	c = fork();
	if (c < 0)
		return 1;
	if (c == 0)
		_exit(bind_lo(s, port) == 0 ? 0 : 10 + (errno & 0x7f));
	if (waitpid(c, &st, 0) != c || !WIFEXITED(st))
		return 1;
	printf("parent=%d child=%d child_bind=%s\n", (int)getpid(), (int)c,
	       WEXITSTATUS(st) == 0 ? "ok" : strerrorname_np(WEXITSTATUS(st) - 10));
	return WEXITSTATUS(st) == 0 ? 0 : 1;
}

static int story_stale(int port1, int port2)
{
	int a = socket(AF_INET, SOCK_STREAM, 0), b, p[2], rc;

	if (a < 0 || set_ra(a) < 0 || bind_lo(a, port1) < 0 || close(a) < 0 ||
	    pipe(p) < 0 || p[0] != a)
		return 1;
	b = socket(AF_INET, SOCK_STREAM, 0);
	if (b < 0 || set_ra(b) < 0 || bind_lo(b, port2) < 0 || dup2(b, a) != a)
		return 1;
	rc = listen(a, 1);
	printf("a=%d b=%d listen=%s kernel_ra=%d\n", a, b, ename(rc), flag(a, 1));
	return rc == 0 ? 0 : 1;
}

static int cycles;

static void *worker(void *arg)
{
	long ok = 0;

	(void)arg;
	for (int i = 0; i < cycles; i++) {
		int s = socket(AF_INET, SOCK_STREAM, 0);
		if (s < 0)
			continue;
		if (bind_lo(s, 0) == 0)
			ok++;
		close(s);
	}
	return (void *)ok;
}

static int story_threads(int n, int c)
{
	pthread_t t[64];
	long binds = 0;

	if (n < 1 || n > 64)
		return 2;
	cycles = c;
	for (int i = 0; i < n; i++)
		if (pthread_create(&t[i], NULL, worker, NULL) != 0)
			return 1;
	for (int i = 0; i < n; i++) {
		void *r;
		pthread_join(t[i], &r);
		binds += (long)r;
	}
	printf("binds=%ld failures=%ld\n", binds, (long)n * c - binds);
	return binds == (long)n * c ? 0 : 1;
}

static void usage(void)
{
	fprintf(stderr, "usage: fdlife dup METHOD ASK PORT | dupset METHOD PORT |\n"
			"       reuse CLOSE SOCKET PORT | fork PORT | stale PORT1 PORT2 |\n"
			"       threads N CYCLES\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int r;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2)
		usage();
	if (strcmp(argv[1], "dup") == 0 && argc == 5)
		r = story_dup(argv[2], atoi(argv[3]), 0, atoi(argv[4]));
	else if (strcmp(argv[1], "dupset") == 0 && argc == 4)
		r = story_dup(argv[2], 1, 1, atoi(argv[3]));
	else if (strcmp(argv[1], "reuse") == 0 && argc == 5)
		r = story_reuse(argv[2], argv[3], atoi(argv[4]));
	else if (strcmp(argv[1], "fork") == 0 && argc == 3)
		r = story_fork(atoi(argv[2]));
	else if (strcmp(argv[1], "stale") == 0 && argc == 4)
		r = story_stale(atoi(argv[2]), atoi(argv[3]));
	else if (strcmp(argv[1], "threads") == 0 && argc == 4)
		r = story_threads(atoi(argv[2]), atoi(argv[3]));
	else
		usage();
	fflush(stdout);
	return r;
}
