/*
 * real.c - the next definition of every call we interpose, found with
 * dlsym(RTLD_NEXT) once per symbol.
 *
 * init resolves them all (real_resolve), so that no wrapper called later,
 * from a signal handler say, enters dlsym(). A call made before init (in
 * another library's constructor) finds a stub in its slot that resolves
 * that one symbol, stores the answer over itself and makes the call.
 * fdlife.c keeps the close() pointer it first gets, which must be the real
 * one.
 *
 * Another library's constructor may call socket() before ours has run, and
 * dlsym() itself may allocate (and so re-enter us through a malloc hook or
 * another shim). A symbol's guard is taken before it is resolved, so a
 * re-entrant or concurrent caller gets "not ready" and makes the system
 * call instead of waiting or recursing. A symbol that is missing or that
 * resolves to our own wrapper stays NULL: the wrapper then uses the raw
 * system call rather than looping forever.
 */
#include <dlfcn.h>
#include <link.h>
#include <linux/close_range.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>

#include "shim/real.h"

enum { REAL_NONE, REAL_BUSY, REAL_DONE };

/* Our own ELF header, where this library is loaded: a dlsym() answer in
 * this object is our own wrapper. (Comparing with the wrappers' addresses
 * would bind 14 more symbols in every process at load.) */
extern const char __ehdr_start[] __attribute__((visibility("hidden")));

/* is_ours - p lies in one of this library's loaded segments (read from
 * its own program headers: dladdr() would scan libc's symbol table). */
static bool is_ours(const void *p)
{
	const ElfW(Ehdr) *eh = (const void *)__ehdr_start;
	const ElfW(Phdr) *ph = (const void *)(__ehdr_start + eh->e_phoff);
	uintptr_t base = (uintptr_t)__ehdr_start, at = (uintptr_t)p;

	for (unsigned i = 0; i < eh->e_phnum; i++)
		if (ph[i].p_type == PT_LOAD && at >= base + ph[i].p_vaddr &&
		    at - base - ph[i].p_vaddr < ph[i].p_memsz)
			return true;
	return false;
}

#define X(name, ret, args) R_##name,
enum { REUSE_REAL_CALLS(X) R_COUNT };
#undef X
static atomic_int state[R_COUNT];

/*
 * resolve_one - symbol `name` into *slot, once.
 * Returns what the slot holds, or NULL while another caller resolves it.
 */
static void *resolve_one(int i, void **slot, const char *name)
{
	int expect = REAL_NONE;

	if (!atomic_compare_exchange_strong(&state[i], &expect, REAL_BUSY))
		return expect == REAL_DONE ? __atomic_load_n(slot, __ATOMIC_ACQUIRE) : NULL;
	void *p = dlsym(RTLD_NEXT, name);
	if (p && is_ours(p))
		p = NULL;
	__atomic_store_n(slot, p, __ATOMIC_RELEASE);
	atomic_store_explicit(&state[i], REAL_DONE, memory_order_release);
	return p;
}

#define RESOLVE(name) \
	((__typeof__(reuse_real.name))resolve_one(R_##name, (void **)&reuse_real.name, #name))

/* The stubs: resolve, then the call, or the system call without one. */
static int lazy_socket(int d, int t, int p)
{ int (*f)(int, int, int) = RESOLVE(socket); return f ? f(d, t, p) : sys_socket(d, t, p); }

static int lazy_bind(int fd, const struct sockaddr *a, socklen_t l)
{ int (*f)(int, const struct sockaddr *, socklen_t) = RESOLVE(bind);
  return f ? f(fd, a, l) : sys_bind(fd, a, l); }

static int lazy_listen(int fd, int b)
{ int (*f)(int, int) = RESOLVE(listen); return f ? f(fd, b) : sys_listen(fd, b); }

static int lazy_connect(int fd, const struct sockaddr *a, socklen_t l)
{ int (*f)(int, const struct sockaddr *, socklen_t) = RESOLVE(connect);
  return f ? f(fd, a, l) : sys_connect(fd, a, l); }

static int lazy_setsockopt(int fd, int lv, int n, const void *v, socklen_t l)
{ int (*f)(int, int, int, const void *, socklen_t) = RESOLVE(setsockopt);
  return f ? f(fd, lv, n, v, l) : sys_setsockopt(fd, lv, n, v, l); }

static int lazy_getsockopt(int fd, int lv, int n, void *v, socklen_t *l)
{ int (*f)(int, int, int, void *, socklen_t *) = RESOLVE(getsockopt);
  return f ? f(fd, lv, n, v, l) : sys_getsockopt(fd, lv, n, v, l); }

static int lazy_dup(int fd)
{ int (*f)(int) = RESOLVE(dup); return f ? f(fd) : (int)SYS3(SYS_dup, fd, 0, 0); }

static int lazy_dup2(int o, int n)
{ int (*f)(int, int) = RESOLVE(dup2); return f ? f(o, n) : sys_dup3(o, n, 0); }

static int lazy_dup3(int o, int n, int fl)
{ int (*f)(int, int, int) = RESOLVE(dup3); return f ? f(o, n, fl) : sys_dup3(o, n, fl); }

/* fcntl's argument, as libc fetches it: one pointer-sized value */
#define FCNTL_ARG(cmd, arg) do { va_list ap; va_start(ap, cmd); \
	arg = va_arg(ap, void *); va_end(ap); } while (0)

static int fcntl_via(int (*f)(int, int, ...), int fd, int cmd, void *arg)
{ return f ? f(fd, cmd, arg) : sys_fcntl(fd, cmd, (long)arg); }

static int lazy_fcntl(int fd, int cmd, ...)
{ void *arg; FCNTL_ARG(cmd, arg); return fcntl_via(RESOLVE(fcntl), fd, cmd, arg); }

static int lazy_fcntl64(int fd, int cmd, ...)
{ void *arg; FCNTL_ARG(cmd, arg); return fcntl_via(RESOLVE(fcntl64), fd, cmd, arg); }

static int lazy_close_range(unsigned lo, unsigned hi, int fl)
{ int (*f)(unsigned, unsigned, int) = RESOLVE(close_range);
  return f ? f(lo, hi, fl) : (int)SYS3(SYS_close_range, lo, hi, fl); }

static void lazy_closefrom(int lo)
{
	void (*f)(int) = RESOLVE(closefrom);

	if (f)
		f(lo);
	else
		(void)SYS3(SYS_close_range, lo, ~0u, 0);
}

struct reuse_real reuse_real = {
	.socket = lazy_socket, .bind = lazy_bind, .listen = lazy_listen,
	.connect = lazy_connect, .setsockopt = lazy_setsockopt,
	.getsockopt = lazy_getsockopt, .close = NULL, .dup = lazy_dup,
	.dup2 = lazy_dup2, .dup3 = lazy_dup3, .fcntl = lazy_fcntl,
	.fcntl64 = lazy_fcntl64, .close_range = lazy_close_range,
	.closefrom = lazy_closefrom,
};

/*
 * real_resolve - every symbol, at init (core_init) or at the first REAL()
 * that finds a slot without a stub. After init no wrapper resolves
 * anything: a bind() in a signal handler must not enter dlsym(), which
 * takes the loader's lock and may allocate. Returns whether the table may
 * be used now: REAL() then reads a slot that is either the answer or NULL
 * (no next definition, or one being resolved by a caller this one
 * re-entered).
 */
bool real_resolve(void)
{
#define X(name, ret, args) (void)RESOLVE(name);
	REUSE_REAL_CALLS(X)
#undef X
	return true;
}
