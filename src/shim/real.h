/*
 * real.h - the next definitions of the calls we interpose.
 *
 * Resolved together, once, with dlsym(RTLD_NEXT). Until that is done (or
 * while it runs and something re-enters us), or if dlsym cannot find a
 * symbol or finds our own, a wrapper falls back to the system call, which
 * needs no allocation and cannot recurse.
 */
#ifndef REUSE_REAL_H
#define REUSE_REAL_H

#include <sys/socket.h>

#include "core/core.h"
#include "core/sys.h"

#define REUSE_EXPORT __attribute__((visibility("default")))

/* X(name, return type, parameter list) for every interposed call. */
#define REUSE_REAL_CALLS(X)                                                   \
	X(socket, int, (int, int, int))                                       \
	X(bind, int, (int, const struct sockaddr *, socklen_t))               \
	X(listen, int, (int, int))                                            \
	X(connect, int, (int, const struct sockaddr *, socklen_t))            \
	X(setsockopt, int, (int, int, int, const void *, socklen_t))          \
	X(getsockopt, int, (int, int, int, void *, socklen_t *))              \
	X(close, int, (int))                                                  \
	X(dup, int, (int))                                                    \
	X(dup2, int, (int, int))                                              \
	X(dup3, int, (int, int, int))                                         \
	X(fcntl, int, (int, int, ...))                                        \
	X(fcntl64, int, (int, int, ...))                                      \
	X(close_range, int, (unsigned, unsigned, int))                        \
	X(closefrom, void, (int))                                             \
	X(sendto, ssize_t, (int, const void *, size_t, int, const struct sockaddr *, socklen_t)) \
	X(sendmsg, ssize_t, (int, const struct msghdr *, int))                \
	X(sendmmsg, int, (int, struct mmsghdr *, unsigned int, int))        \
	X(shutdown, int, (int, int))

struct reuse_real {
#define X(name, ret, args) ret (*name) args;
	REUSE_REAL_CALLS(X)
#undef X
};

extern struct reuse_real reuse_real HIDDEN;

/* Resolve every symbol once; returns whether the table may be used now. */
bool real_resolve(void) HIDDEN;

/* The resolved function, or NULL (caller falls back to a syscall). Once a
 * pointer is set it is used with one load; only a NULL one asks real_resolve
 * (which resolves on first use, and answers at once when already done). */
#define REAL(name)                                                            \
	(__builtin_expect(__atomic_load_n(&reuse_real.name, __ATOMIC_RELAXED) != NULL, 1) \
		 ? __atomic_load_n(&reuse_real.name, __ATOMIC_RELAXED)              \
		 : (real_resolve() ? reuse_real.name : NULL))

/*
 * real_* - call the next definition, or the system call when there is none
 * yet. Used by the wrappers and by apply.c for the program's own call.
 */
static inline int real_socket(int d, int t, int p)
{ int (*f)(int, int, int) = REAL(socket); return f ? f(d, t, p) : sys_socket(d, t, p); }
static inline int real_bind(int fd, const struct sockaddr *a, socklen_t l)
{ int (*f)(int, const struct sockaddr *, socklen_t) = REAL(bind);
  return f ? f(fd, a, l) : sys_bind(fd, a, l); }
static inline int real_listen(int fd, int b)
{ int (*f)(int, int) = REAL(listen); return f ? f(fd, b) : sys_listen(fd, b); }
static inline int real_connect(int fd, const struct sockaddr *a, socklen_t l)
{ int (*f)(int, const struct sockaddr *, socklen_t) = REAL(connect);
  return f ? f(fd, a, l) : sys_connect(fd, a, l); }
static inline int real_setsockopt(int fd, int lv, int n, const void *v, socklen_t l)
{ int (*f)(int, int, int, const void *, socklen_t) = REAL(setsockopt);
  return f ? f(fd, lv, n, v, l) : sys_setsockopt(fd, lv, n, v, l); }
static inline int real_getsockopt(int fd, int lv, int n, void *v, socklen_t *l)
{ int (*f)(int, int, int, void *, socklen_t *) = REAL(getsockopt);
  return f ? f(fd, lv, n, v, l) : sys_getsockopt(fd, lv, n, v, l); }
static inline int real_close(int fd)
{ int (*f)(int) = REAL(close); return f ? f(fd) : sys_close(fd); }

#endif
