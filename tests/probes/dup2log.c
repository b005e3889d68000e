/*
 * dup2log - a program that dup2()s its own file onto the number the shim's
 * log happens to use, then binds a socket.
 *
 *   dup2log [-3|-r] OWNFILE
 *
 * Finds the shim's log fd by scanning /proc/self/fd for a link to the file
 * named by $REUSE_LOG, opens OWNFILE (truncated), dup2()s it over that
 * number (dup3(..., O_CLOEXEC) with -3; with -r a raw syscall(SYS_dup3)
 * the shim cannot see, so it must notice by itself), binds a TCP socket to
 * 127.0.0.1:0, then writes "program line\n" through the number it took.
 * Prints logfd=N bind=ok|ENAME. Exits 3 when no fd names $REUSE_LOG (the
 * story cannot be told), 1 when a call failed.
 *
 * Story: the number now belongs to the program; the shim must never write
 * a decision into the program's file, and its own line must still reach
 * $REUSE_LOG.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static int find_log_fd(const char *path)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	char link[PATH_MAX + 32], target[PATH_MAX];
	int found = -1, dfd = d ? dirfd(d) : -1;

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		int fd = atoi(e->d_name);
		ssize_t n;

		if (e->d_name[0] == '.' || fd == dfd)
			continue;
		snprintf(link, sizeof link, "/proc/self/fd/%s", e->d_name);
		n = readlink(link, target, sizeof target - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (strcmp(target, path) == 0) {
			found = fd;
			break;
		}
	}
	closedir(d);
	return found;
}

int main(int argc, char **argv)
{
	const char *log = getenv("REUSE_LOG");
	struct sockaddr_in a = { .sin_family = AF_INET };
	int use3 = argc == 3 && strcmp(argv[1], "-3") == 0;
	int raw = argc == 3 && strcmp(argv[1], "-r") == 0;
	int logfd, own, s, rc, got;

	if (argc != 2 + use3 + raw || !log) {
		fprintf(stderr, "usage: REUSE_LOG=/path dup2log [-3|-r] OWNFILE\n");
		return 2;
	}
	logfd = find_log_fd(log);
	printf("logfd=%d", logfd);
	if (logfd < 0) {
		printf("\n");
		return 3;
	}
	own = open(argv[argc - 1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (own < 0)
		return 1;
	if (raw)
		got = (int)syscall(SYS_dup3, own, logfd, 0);
	else if (use3)
		got = dup3(own, logfd, O_CLOEXEC);
	else
		got = dup2(own, logfd);
	if (got != logfd) {
		printf(" dup2=%s\n", strerrorname_np(errno));
		return 1;
	}
	close(own);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s = socket(AF_INET, SOCK_STREAM, 0);
	rc = bind(s, (struct sockaddr *)&a, sizeof a);
	printf(" bind=%s\n", rc == 0 ? "ok" : strerrorname_np(errno));
	if (write(logfd, "program line\n", 13) != 13)
		return 1;
	return rc == 0 ? 0 : 1;
}
