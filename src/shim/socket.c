/*
 * socket - remember what the program made, so that bind() knows the
 * socket's family, protocol and what the program asked for without asking
 * the kernel again.
 */
#include <errno.h>

#include "shim/real.h"

REUSE_EXPORT int socket(int domain, int type, int protocol)
{
	int fd = real_socket(domain, type, protocol), saved;

	if (fd < 0 || (domain != AF_INET && domain != AF_INET6) || !reuse_ready())
		return fd;
	saved = errno;
	sock_created(fd, domain, type, protocol);
	errno = saved;
	return fd;
}
