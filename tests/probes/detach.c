/*
 * detach - a daemon that detaches the classic way after its first bind.
 *
 *   detach close|null PIDFILE SECONDS
 *
 * Binds a TCP socket to 127.0.0.1:0 (a decision line on stderr under the
 * shim), forks; the parent exits 0 at once. The child starts a session,
 * writes its pid to PIDFILE, then lets go of every inherited fd: "close"
 * closes 0..1023, "null" points 0, 1 and 2 at /dev/null (daemon(3)); binds
 * again (the program no longer has a stderr to log to) and sleeps SECONDS.
 *
 * Story: `out=$(detach ... 2>&1)` must return when the parent exits, as it
 * does without the shim: nothing the library holds may keep the caller's
 * pipe open for the daemon's life.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int bind_one(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int s = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0 ? s : -1;
}

int main(int argc, char **argv)
{
	FILE *f;
	pid_t pid;

	if (argc != 4 || (strcmp(argv[1], "close") && strcmp(argv[1], "null"))) {
		fprintf(stderr, "usage: detach close|null PIDFILE SECONDS\n");
		return 2;
	}
	if (bind_one() < 0)
		return 1;
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid > 0)
		return 0;
	setsid();
	f = fopen(argv[2], "w");
	if (!f)
		_exit(1);
	fprintf(f, "%d\n", (int)getpid());
	fclose(f);
	if (strcmp(argv[1], "close") == 0) {
		for (int fd = 0; fd < 1024; fd++)
			close(fd);
	} else {
		int n = open("/dev/null", O_RDWR);
		for (int fd = 0; fd < 3; fd++)
			dup2(n, fd);
		if (n > 2)
			close(n);
	}
	bind_one();
	sleep((unsigned)atoi(argv[3]));
	_exit(0);
}
