/*
 * sys.h - the core's own kernel calls.
 *
 * The library exports socket(), close(), setsockopt()...; calling them by
 * name from inside would re-enter the shim. Direct system calls cannot, and
 * they work before dlsym() has resolved anything.
 */
#ifndef REUSE_SYS_H
#define REUSE_SYS_H

#include <errno.h>
#include <linux/capability.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

/*
 * sys_raw - one system call, inline. On x86-64 this is the bare `syscall`
 * instruction (libc's variadic syscall() costs a call and a dozen register
 * moves on every socket call the shim makes); elsewhere it is syscall().
 * Returns the kernel's value; sys_ret turns -errno into -1 and errno.
 */
#if defined(__x86_64__)
static inline long sys_raw(long n, long a, long b, long c, long d, long e,
			   long f)
{
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

static inline long sys_ret(long r)
{
	if (__builtin_expect((unsigned long)r > -4096UL, 0)) {
		errno = (int)-r;
		return -1;
	}
	return r;
}
#else
static inline long sys_raw(long n, long a, long b, long c, long d, long e,
			   long f)
{
	return syscall(n, a, b, c, d, e, f);
}

static inline long sys_ret(long r)
{
	return r;
}
#endif

#define SYS6(n, a, b, c, d, e, f)                                            \
	sys_ret(sys_raw(n, (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), \
			(long)(f)))
#define SYS5(n, a, b, c, d, e) SYS6(n, a, b, c, d, e, 0)
#define SYS3(n, a, b, c) SYS6(n, a, b, c, 0, 0, 0)

static inline int sys_socket(int d, int t, int p)
{ return (int)SYS3(SYS_socket, d, t, p); }
static inline int sys_close(int fd)
{ return (int)SYS3(SYS_close, fd, 0, 0); }
static inline int sys_bind(int fd, const struct sockaddr *a, socklen_t l)
{ return (int)SYS3(SYS_bind, fd, a, l); }
static inline int sys_listen(int fd, int b)
{ return (int)SYS3(SYS_listen, fd, b, 0); }
static inline int sys_connect(int fd, const struct sockaddr *a, socklen_t l)
{ return (int)SYS3(SYS_connect, fd, a, l); }
static inline int sys_setsockopt(int fd, int lv, int n, const void *v, socklen_t l)
{ return (int)SYS5(SYS_setsockopt, fd, lv, n, v, l); }
static inline int sys_getsockopt(int fd, int lv, int n, void *v, socklen_t *l)
{ return (int)SYS5(SYS_getsockopt, fd, lv, n, v, l); }
static inline int sys_getsockname(int fd, struct sockaddr *a, socklen_t *l)
{ return (int)SYS3(SYS_getsockname, fd, a, l); }
/* sendto/sendmsg are interposed (shim/send.c): the core's own go direct. */
static inline ssize_t sys_sendto(int fd, const void *b, size_t n, int fl,
				 const struct sockaddr *a, socklen_t l)
{ return (ssize_t)sys_ret(sys_raw(SYS_sendto, fd, (long)b, (long)n, fl, (long)a, l)); }
static inline ssize_t sys_sendmsg(int fd, const struct msghdr *m, int fl)
{ return (ssize_t)sys_ret(sys_raw(SYS_sendmsg, fd, (long)m, fl, 0, 0, 0)); }
static inline int sys_getpeername(int fd, struct sockaddr *a, socklen_t *l)
{ return (int)SYS3(SYS_getpeername, fd, a, l); }
static inline int sys_fstat(int fd, struct stat *st)
{ return (int)SYS3(SYS_fstat, fd, st, 0); }
static inline int sys_fcntl(int fd, int cmd, long arg)
{ return (int)SYS3(SYS_fcntl, fd, cmd, arg); }
static inline int sys_dup3(int o, int n, int f)
{ return (int)SYS3(SYS_dup3, o, n, f); }
static inline uid_t sys_geteuid(void)
{ return (uid_t)SYS3(SYS_geteuid, 0, 0, 0); }
static inline pid_t sys_getpid(void)
{ return (pid_t)SYS3(SYS_getpid, 0, 0, 0); }
/* Copy from our own address space, the kernel checking the source. */
static inline ssize_t sys_read_self(struct iovec *local, struct iovec *remote)
{ return SYS6(SYS_process_vm_readv, sys_getpid(), local, 1, remote, 1, 0); }
static inline int sys_fchown(int fd, uid_t u, gid_t g)
{ return (int)SYS3(SYS_fchown, fd, u, g); }

/* Whether the process holds capability cap in its effective set. */
static inline bool sys_have_cap(int cap)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = { { 0, 0, 0 } };

	return SYS3(SYS_capget, &hdr, data, 0) == 0 &&
	       (data[CAP_TO_INDEX(cap)].effective & CAP_TO_MASK(cap));
}

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
