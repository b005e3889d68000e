/*
 * shutdown - SHUT_RD/SHUT_RDWR stops a listener but leaves its port held;
 * an exclusive one must not keep the SO_REUSEADDR it was given for
 * listening (core/engine_listen.c). An fd that is not tracked costs one
 * load of the watch map; a server's SHUT_WR of each connection, a compare.
 */
#include "shim/host.h"

/* Out of line: the common shutdown() keeps no frame for it. */
static __attribute__((noinline)) void shutdown_watched(int fd)
{
	struct reuse_call c;
	int saved = errno;

	if (reuse_ready() && shim_call(&c, fd, false))
		engine_shutdown(&c);
	errno = saved;
}

REUSE_EXPORT int shutdown(int fd, int how)
{
	int (*f)(int, int) = REAL(shutdown);
	int ret = f ? f(fd, how) : (int)sys_ret(sys_raw(SYS_shutdown, fd, how, 0, 0, 0, 0));

	/* a successful call leaves errno alone: nothing to keep here */
	if (ret == 0 && how != SHUT_WR && sock_watched(fd))
		shutdown_watched(fd);
	return ret;
}
