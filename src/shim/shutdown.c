/*
 * shutdown - SHUT_RD/SHUT_RDWR stops a listener but leaves its port held;
 * an exclusive one must not keep the SO_REUSEADDR it was given for
 * listening (core/engine_listen.c). An fd that is not tracked costs one
 * load of the watch map.
 */
#include "shim/host.h"

REUSE_EXPORT int shutdown(int fd, int how)
{
	int (*f)(int, int) = REAL(shutdown);
	int ret = f ? f(fd, how) : (int)sys_ret(sys_raw(SYS_shutdown, fd, how, 0, 0, 0, 0));
	struct reuse_call c;
	int saved = errno;

	if (ret == 0 && how != SHUT_WR && sock_watched(fd) && reuse_ready() &&
	    shim_call(&c, fd, false))
		engine_shutdown(&c);
	errno = saved;
	return ret;
}
