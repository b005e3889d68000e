/*
 * lock.c - all locking in one place (the socket_wrapper habit).
 */
#include <pthread.h>
#include <stdbool.h>

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
}

/* The child has one thread: a fresh lock, whatever the parent's state;
 * then the child serves the handoff sockets it holds (handoff.c). */
static void child(void)
{
	pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;

	the_lock = fresh;
	handoff_fork_child();
}

/* Once per process image: init may run again in a child forked while it
 * was running (init.c), and a second prepare() would lock twice. */
void reuse_lock_atfork(void)
{
	static bool done;

	if (!__atomic_exchange_n(&done, true, __ATOMIC_SEQ_CST))
		pthread_atfork(prepare, parent, child);
}
