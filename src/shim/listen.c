/*
 * listen - the kernel re-checks the port here, and SO_REUSEPORT cleared
 * after it is too late; the policy acts again (apply_listen).
 */
#include "shim/real.h"

REUSE_EXPORT int listen(int fd, int backlog)
{
	if (!reuse_ready())
		return real_listen(fd, backlog);
	return apply_listen(fd, backlog);
}
