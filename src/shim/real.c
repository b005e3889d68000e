/*
 * real.c - dlsym(RTLD_NEXT) once, thread-safely, re-entrancy-safe.
 *
 * Another library's constructor may call socket() before ours has run, and
 * dlsym() itself may allocate (and so re-enter us through a malloc hook or
 * another shim). The guard marks itself taken before resolving, so a
 * re-entrant or concurrent caller gets "not ready" and uses the system call
 * instead of waiting or recursing.
 */
#include <dlfcn.h>
#include <stdatomic.h>
#include <stddef.h>

#include "shim/real.h"

struct reuse_real reuse_real;

enum { REAL_NONE, REAL_BUSY, REAL_DONE };
static atomic_int real_state = REAL_NONE;

/* Our own exported definitions, to refuse a dlsym() that finds us again. */
#define X(name, ret, args) extern ret name args;
REUSE_REAL_CALLS(X)
#undef X

/*
 * real_resolve - fill reuse_real on first use. A symbol that is missing or
 * resolves to our own wrapper stays NULL: the wrapper then uses the raw
 * system call rather than looping forever.
 */
bool real_resolve(void)
{
	int expect = REAL_NONE;

	if (__builtin_expect(atomic_load_explicit(&real_state,
						  memory_order_acquire) == REAL_DONE, 1))
		return true;
	if (!atomic_compare_exchange_strong(&real_state, &expect, REAL_BUSY))
		return false;
#define X(name, ret, args)                                                    \
	{                                                                     \
		void *p = dlsym(RTLD_NEXT, #name);                            \
		reuse_real.name = p == (void *)name ? NULL : (ret (*) args)p; \
	}
	REUSE_REAL_CALLS(X)
#undef X
	atomic_store_explicit(&real_state, REAL_DONE, memory_order_release);
	return true;
}
