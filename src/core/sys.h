/*
 * sys.h - the core's own kernel calls.
 *
 * The library exports socket(), close(), setsockopt()...; calling them by
 * name from inside would re-enter the shim. Direct system calls cannot, and
 * they work before dlsym() has resolved anything.
 */
#ifndef REUSE_SYS_H
#define REUSE_SYS_H

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static inline int sys_socket(int d, int t, int p)
{ return (int)syscall(SYS_socket, d, t, p); }
static inline int sys_close(int fd)
{ return (int)syscall(SYS_close, fd); }
static inline int sys_bind(int fd, const struct sockaddr *a, socklen_t l)
{ return (int)syscall(SYS_bind, fd, a, l); }
static inline int sys_listen(int fd, int b)
{ return (int)syscall(SYS_listen, fd, b); }
static inline int sys_connect(int fd, const struct sockaddr *a, socklen_t l)
{ return (int)syscall(SYS_connect, fd, a, l); }
static inline int sys_setsockopt(int fd, int lv, int n, const void *v, socklen_t l)
{ return (int)syscall(SYS_setsockopt, fd, lv, n, v, l); }
static inline int sys_getsockopt(int fd, int lv, int n, void *v, socklen_t *l)
{ return (int)syscall(SYS_getsockopt, fd, lv, n, v, l); }
static inline int sys_getsockname(int fd, struct sockaddr *a, socklen_t *l)
{ return (int)syscall(SYS_getsockname, fd, a, l); }
static inline int sys_fstat(int fd, struct stat *st)
{ return (int)syscall(SYS_fstat, fd, st); }
static inline int sys_fcntl(int fd, int cmd, long arg)
{ return (int)syscall(SYS_fcntl, fd, cmd, arg); }
static inline int sys_dup3(int o, int n, int f)
{ return (int)syscall(SYS_dup3, o, n, f); }
static inline int sys_fchown(int fd, uid_t u, gid_t g)
{ return (int)syscall(SYS_fchown, fd, u, g); }

/* On/off value of a SOL_SOCKET boolean option, -1 on error. */
static inline int sys_getflag(int fd, int name)
{
	int v = 0;
	socklen_t l = sizeof v;
	if (sys_getsockopt(fd, SOL_SOCKET, name, &v, &l) < 0)
		return -1;
	return v != 0;
}
static inline int sys_setflag(int fd, int name, int on)
{
	return sys_setsockopt(fd, SOL_SOCKET, name, &on, sizeof on);
}

#endif
