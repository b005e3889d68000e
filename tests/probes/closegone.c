/*
 * closegone - a socket the program closed is gone at once: a TCP listener
 * refuses the next connection, a UDP port is free for the next bind().
 * (CPython's test_asyncio test_server_close asks exactly this.) Under
 * `reuse run --seccomp` the supervisor holds a duplicate of the socket
 * while it answers a call; one it still held after answering kept a
 * closed listener accepting.
 *
 *   closegone N      N rounds of each; prints
 *                    "rounds=N tcp_accepted=A udp_inuse=U"
 *
 * tcp: listen on 127.0.0.1 port 0, close, connect to that port (bare:
 * ECONNREFUSED every time). udp: bind 127.0.0.1 port 0, close, bind a new
 * socket to that port (bare: ok every time).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int bound(int type, struct sockaddr_in *sa)
{
	socklen_t l = sizeof *sa;
	int fd = socket(AF_INET, type, 0);

	memset(sa, 0, sizeof *sa);
	sa->sin_family = AF_INET;
	sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)sa, sizeof *sa) < 0 ||
	    getsockname(fd, (struct sockaddr *)sa, &l) < 0) {
		perror("closegone: socket/bind");
		exit(2);
	}
	return fd;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 100, accepted = 0, inuse = 0;

	for (int i = 0; i < n; i++) {
		struct sockaddr_in sa;
		int fd = bound(SOCK_STREAM, &sa), c;

		if (listen(fd, 8) < 0) {
			perror("closegone: listen");
			return 2;
		}
		close(fd);
		c = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(c, (struct sockaddr *)&sa, sizeof sa) == 0)
			accepted++;
		close(c);

		fd = bound(SOCK_DGRAM, &sa);
		close(fd);
		fd = socket(AF_INET, SOCK_DGRAM, 0);
		if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
			inuse++;
		close(fd);
	}
	printf("rounds=%d tcp_accepted=%d udp_inuse=%d\n", n, accepted, inuse);
	return 0;
}
