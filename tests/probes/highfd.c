/*
 * highfd - sockets on the highest fd numbers the process may have.
 *
 *   highfd PORT
 *
 * Raises RLIMIT_NOFILE to its hard limit (the caller sets that with
 * `ulimit -n`), moves a TCP socket to the last number below it with
 * dup2(), binds it to 127.0.0.1:PORT, reads the kernel's SO_REUSEADDR with
 * a raw system call the shim cannot see, closes it, then does the same
 * again with F_DUPFD onto the number just freed (a fresh record, decided
 * afresh). Finally close_range() over the top of the table.
 * Prints fd=N bind=ok kernel_ra=0|1 fd2=N bind2=ok kernel_ra2=0|1 range=ok.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char *res(int rc)
{
	return rc == 0 ? "ok" : strerrorname_np(errno);
}

static int kernel_ra(int fd)
{
	int v = -1;
	socklen_t l = sizeof v;

	syscall(SYS_getsockopt, fd, SOL_SOCKET, SO_REUSEADDR, &v, &l);
	return v;
}

/* A fresh socket moved to number `at` (dup2, or F_DUPFD when dupfd). */
static int high_socket(int at, int dupfd)
{
	int s = socket(AF_INET, SOCK_STREAM, 0), h;

	if (s < 0)
		return -1;
	h = dupfd ? fcntl(s, F_DUPFD, at) : dup2(s, at);
	close(s);
	return h;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct rlimit rl;
	int fd, rc;

	if (argc != 2)
		return 2;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((unsigned short)atoi(argv[1]));
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 1;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 1;
	fd = high_socket((int)rl.rlim_cur - 1, 0);
	rc = bind(fd, (struct sockaddr *)&a, sizeof a);
	printf("fd=%d bind=%s kernel_ra=%d", fd, res(rc), kernel_ra(fd));
	close(fd);
	fd = high_socket((int)rl.rlim_cur - 1, 1);
	rc = bind(fd, (struct sockaddr *)&a, sizeof a);
	printf(" fd2=%d bind2=%s kernel_ra2=%d", fd, res(rc), kernel_ra(fd));
	rc = close_range((unsigned)rl.rlim_cur - 8, ~0u, 0);
	printf(" range=%s", res(rc));
	rc = fcntl(fd, F_GETFD);
	printf(" after=%s\n", rc < 0 ? strerrorname_np(errno) : "open");
	return 0;
}
