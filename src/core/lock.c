/*
 * lock.c - all locking in one place (the socket_wrapper habit).
 */
#include <pthread.h>
#include <stdbool.h>

#include "core/core.h"
#include "core/lock.h"

static pthread_mutex_t the_lock = PTHREAD_MUTEX_INITIALIZER;

void reuse_lock(void)
{
	pthread_mutex_lock(&the_lock);
}

void reuse_unlock(void)
{
	pthread_mutex_unlock(&the_lock);
}

/* Before fork: hold the lock so no other thread is inside it. */
static void prepare(void)
{
	pthread_mutex_lock(&the_lock);
}

static void parent(void)
{
	pthread_mutex_unlock(&the_lock);
	sock_shared_all();
}

static void (*host_child)(void);

/*
 * The child has one thread. In this order: the host's own state (the
 * library's init guard, which another thread may have held), a fresh lock
 * whatever the parent's state, then the handoff sockets the child holds
 * (handoff.c), which take the lock.
 */
static void child(void)
{
	pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;

	if (host_child)
		host_child();
	the_lock = fresh;
	sock_shared_all();
	log_fork_child();
	explain_fork_child();
	handoff_fork_child();
}

/*
 * reuse_atfork - the process's one pthread_atfork registration, made once
 * per process image (init may run again in a child forked while it was
 * running, and a second prepare() would lock twice). child_hook, if any,
 * runs first in every child.
 */
void reuse_atfork(void (*child_hook)(void))
{
	static bool done;

	if (child_hook)
		__atomic_store_n(&host_child, child_hook, __ATOMIC_SEQ_CST);
	if (!__atomic_exchange_n(&done, true, __ATOMIC_SEQ_CST))
		pthread_atfork(prepare, parent, child);
}
