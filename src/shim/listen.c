/*
 * listen - the kernel re-checks the port here, and SO_REUSEPORT cleared
 * after it is too late; the policy acts again (core/engine_listen.c).
 */
#include "shim/host.h"

REUSE_EXPORT int listen(int fd, int backlog)
{
	struct reuse_call c;
	int ret;

	if (!reuse_ready() || !shim_call(&c, fd, true))
		return real_listen(fd, backlog);
	ret = engine_listen(&c, backlog);
	return ret == REUSE_PASS ? real_listen(fd, backlog) : ret;
}
