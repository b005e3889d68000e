/*
 * closeall - a daemon that closes every fd it might have inherited, then
 * works: close() on 0..1023, then close_range(3, ~0U, 0) for anything
 * above, then a TCP socket bound to 127.0.0.1:0. Exits 0 when the bind
 * worked (stdout is closed, so the exit status is the only report).
 *
 * Story: the shim's log fd is not the program's to close; the decision for
 * that bind must still reach the log.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/close_range.h>

int main(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int s;

	for (int fd = 0; fd < 1024; fd++)
		close(fd);
	if (close_range(3, ~0U, 0) < 0)
		return 3;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0)
		return 4;
	if (bind(s, (struct sockaddr *)&a, sizeof a) < 0)
		return 5;
	return 0;
}
