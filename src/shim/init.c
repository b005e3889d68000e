/*
 * init.c - read the configuration once: names, log, policy.
 *
 * The guard marks itself busy before it runs (the libfaketime habit): a
 * call that re-enters from inside init (dlsym, malloc, fopen reaching a
 * shim) sees "not ready" and passes straight through; another thread waits
 * a bounded time. Before init is done nothing allocates or logs.
 *
 * A child forked while another thread was inside init has no such thread:
 * an atfork child handler, registered before anyone claims the guard, sets
 * it back to "not started", so the child's first call runs init itself.
 * A vfork()ed child runs no atfork handler: it shares the parent's memory,
 * where init goes on, and waits for it like any thread.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/core.h"
#include "core/lock.h"
#include "shim/real.h"

enum { INIT_NONE, INIT_BUSY, INIT_DONE };   /* INIT_DONE is 2 in core.h */
_Static_assert(INIT_DONE == 2, "reuse_ready() in core.h tests for 2");
int reuse_init_state = INIT_NONE;           /* __atomic_* only */
static __thread bool in_init __attribute__((tls_model("initial-exec")));

/* Copy a name, cut to fit: names longer than 63 bytes are cut, as comm is. */
static void copy_name(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);

	if (n >= size)
		n = size - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* The basenames a `program=` glob is matched against. */
static void read_names(void)
{
	char path[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
	const char *base;

	if (n > 0) {
		path[n] = '\0';
		base = strrchr(path, '/');
		copy_name(reuse_cfg.exe, sizeof reuse_cfg.exe, base ? base + 1 : path);
	}
	base = program_invocation_short_name;
	if (base)
		copy_name(reuse_cfg.prog, sizeof reuse_cfg.prog, base);
	if (!reuse_cfg.prog[0])
		strcpy(reuse_cfg.prog, reuse_cfg.exe[0] ? reuse_cfg.exe : "?");
}

static void core_init(void)
{
	int saved = errno;

	real_resolve();
	read_names();
	config_init();
	config_load_policy(config_policy_path());
	log_policy_ready();
	handoff_init();
	if (reuse_cfg.level == REUSE_LOG_ALL)
		log_text("libreuse %s ready: policy %s, %zu rule%s", LIBREUSE_VERSION,
			 log_rule_source(), reuse_cfg.policy.nrules,
			 reuse_cfg.policy.nrules == 1 ? "" : "s");
	errno = saved;
}

/* In a forked child only the forking thread exists: an init another
 * thread had begun will never finish there, so it starts afresh. */
static void init_child(void)
{
	int busy = INIT_BUSY;

	__atomic_compare_exchange_n(&reuse_init_state, &busy, INIT_NONE, false,
				    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

static bool init_slow(int state)
{
	static bool atfork_done;
	struct timespec ms = { 0, 1000000 };
	int expect = INIT_NONE;
	int saved;

	if (state == INIT_NONE) {
		/* before the guard can say busy, so no fork escapes it */
		if (!__atomic_exchange_n(&atfork_done, true, __ATOMIC_SEQ_CST)) {
			saved = errno;            /* it may allocate */
			reuse_atfork(init_child);
			errno = saved;
		}
		if (__atomic_compare_exchange_n(&reuse_init_state, &expect, INIT_BUSY,
						false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
			in_init = true;
			core_init();
			in_init = false;
			__atomic_store_n(&reuse_init_state, INIT_DONE, __ATOMIC_RELEASE);
			return true;
		}
	}
	if (in_init)
		return false;
	saved = errno;
	for (int i = 0; i < 5000; i++) {     /* another thread: at most 5 s */
		state = __atomic_load_n(&reuse_init_state, __ATOMIC_ACQUIRE);
		if (state == INIT_DONE)
			break;
		if (state == INIT_NONE) {         /* reset by init_child: ours now */
			errno = saved;
			return init_slow(INIT_NONE);
		}
		nanosleep(&ms, NULL);
	}
	errno = saved;
	return __atomic_load_n(&reuse_init_state, __ATOMIC_ACQUIRE) == INIT_DONE;
}

/* reuse_ready_slow - reuse_ready() before start-up is done (core.h). */
bool reuse_ready_slow(void)
{
	int state = __atomic_load_n(&reuse_init_state, __ATOMIC_ACQUIRE);

	if (state == INIT_DONE)
		return true;
	return init_slow(state);
}

__attribute__((constructor)) static void reuse_constructor(void)
{
	reuse_ready();
}
