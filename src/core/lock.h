/*
 * lock.h - the shim's one lock.
 *
 * All cross-socket state that cannot be lock-free sits behind it; fork
 * takes it in pthread_atfork's prepare handler so a child never inherits
 * it held by a thread that does not exist there.
 */
#ifndef REUSE_LOCK_H
#define REUSE_LOCK_H

#include "core/core.h"

void reuse_lock(void) HIDDEN;
void reuse_unlock(void) HIDDEN;
/* The one fork handler registration; child_hook runs first in a child. */
void reuse_atfork(void (*child_hook)(void)) HIDDEN;
void handoff_fork_child(void) HIDDEN;    /* handoff.c, from the child handler */

#endif
