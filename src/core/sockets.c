/*
 * sockets.c - per-socket records, indexed by fd.
 *
 * Fds below 2^20 (the kernel's default nr_open) index `table`: 1024 chunk
 * pointers of 1024 slots each. Larger fds (nr_open raised) go one level
 * deeper: `high` holds, per 2^20 fds, a directory of 1024 chunk pointers.
 * Directories and chunks come from mmap, are installed with a compare-and-
 * swap and never freed, so lookups and close() need no lock, no allocation,
 * and are safe in a signal handler, for every fd number.
 *
 * A slot is owned by its fd: only calls on that fd write it. An fd can be
 * closed behind our back (raw syscall, glibc internals) and its number
 * reused by accept(); so a record carries the socket's identity (sockfs
 * inode) and every lookup that acts checks it with one fstat().
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/core.h"
#include "core/sys.h"

/* REUSE_FD_CHUNK_BITS, REUSE_FD_DIR_BITS, REUSE_FD_LIMIT: core.h */
#ifndef REUSE_FD_LIMIT
#define REUSE_FD_LIMIT 0x80000000u           /* every int fd */
#endif
#define CHUNK_BITS REUSE_FD_CHUNK_BITS
#define CHUNK_SLOTS (1u << CHUNK_BITS)
#define DIR_BITS (CHUNK_BITS + REUSE_FD_DIR_BITS)
#define TOP_SLOTS (1u << REUSE_FD_DIR_BITS)   /* chunks per directory */
#define DIRECT_MAX (1u << DIR_BITS)           /* fds in `table` */
#define HIGH_SLOTS (REUSE_FD_LIMIT >> DIR_BITS)

typedef struct reuse_sock *_Atomic chunk_ptr;
#define table reuse_fd_table
chunk_ptr table[TOP_SLOTS];
static chunk_ptr *_Atomic high[HIGH_SLOTS];   /* [0] unused: that is `table` */
/* aligned: sock_forget_range reads the map a word at a time */
uint8_t reuse_watch[SOCK_WATCH_MAX] __attribute__((aligned(8)));
/* One past the highest fd ever tracked: where a range walk can stop. */
static _Atomic unsigned fd_top;

/* note_top - fd gets a record: raise fd_top to cover it. One load and a
 * compare, but when fd is a new highest. */
static inline void note_top(int fd)
{
	unsigned top = atomic_load_explicit(&fd_top, memory_order_relaxed);

	while (top <= (unsigned)fd &&
	       !atomic_compare_exchange_weak(&fd_top, &top, (unsigned)fd + 1))
		;
}

/* install - *where, or a fresh zeroed mapping of `size` put there first
 * (another thread may win the race: then its mapping is used). */
static void *install(void *_Atomic *where, size_t size)
{
	void *cur = atomic_load_explicit(where, memory_order_acquire), *fresh;

	if (cur)
		return cur;
	fresh = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (fresh == MAP_FAILED)
		return NULL;
	if (atomic_compare_exchange_strong(where, &cur, fresh))
		return fresh;
	munmap(fresh, size);                  /* cur is the winner's */
	return cur;
}

/* The chunk pointer that covers fd, or NULL: fd past the limit, or its
 * directory missing and not `create`d. */
static chunk_ptr *chunk_ref(unsigned fd, bool create)
{
	chunk_ptr *dir;

	if (fd < DIRECT_MAX)
		return &table[fd >> CHUNK_BITS];
	if (fd >= REUSE_FD_LIMIT)
		return NULL;
	dir = atomic_load_explicit(&high[fd >> DIR_BITS], memory_order_acquire);
	if (!dir && create)
		dir = install((void *_Atomic *)&high[fd >> DIR_BITS],
			      TOP_SLOTS * sizeof *dir);
	return dir ? &dir[(fd >> CHUNK_BITS) & (TOP_SLOTS - 1)] : NULL;
}

/* Slot for fd, allocating its directory and chunk when `create`. */
static struct reuse_sock *slot_get(int fd, bool create)
{
	chunk_ptr *ref = fd < 0 ? NULL : chunk_ref((unsigned)fd, create);
	struct reuse_sock *c;

	if (!ref)
		return NULL;
	c = atomic_load_explicit(ref, memory_order_acquire);
	if (!c && create)
		c = install((void *_Atomic *)ref, CHUNK_SLOTS * sizeof *c);
	return c ? &c[fd & (CHUNK_SLOTS - 1)] : NULL;
}

/* slot_peek - slot_get(fd, false), inlined: the path every call takes. */
static inline struct reuse_sock *slot_peek(int fd)
{
	struct reuse_sock *c;

	if (__builtin_expect((unsigned)fd >= DIRECT_MAX, 0))
		return slot_get(fd, false);
	c = atomic_load_explicit(&table[(unsigned)fd >> CHUNK_BITS], memory_order_acquire);
	return c ? &c[fd & (CHUNK_SLOTS - 1)] : NULL;
}

/* Identity of fd's open socket: 0 when fd is not an open socket. Inline:
 * every call on a tracked socket checks it once. */
static inline __attribute__((always_inline)) uint64_t socket_ino(int fd, uint32_t *dev)
{
	struct stat st;

	if (sys_fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode))
		return 0;
	*dev = (uint32_t)st.st_dev;
	return (uint64_t)st.st_ino;
}

/*
 * take_slot - this thread now owns the slot: acquire whatever its previous
 * owner (another thread, before the kernel gave the number out again)
 * released when it forgot the fd, then mark it free while it is filled.
 */
static void take_slot(struct reuse_sock *s)
{
	(void)atomic_load_explicit(&s->ino, memory_order_acquire);
	atomic_store_explicit(&s->ino, 0, memory_order_relaxed);
}

/*
 * drop_slot - free a slot. acq_rel: the thread closing may not be the one
 * that filled it (a signal handler, another worker), so it first acquires
 * the filler's writes, then releases them with its own to the next owner.
 */
static void drop_slot(struct reuse_sock *s)
{
	if (atomic_load_explicit(&s->ino, memory_order_relaxed))
		atomic_exchange_explicit(&s->ino, 0, memory_order_acq_rel);
}

/*
 * sock_created - the program just made a socket: remember what it is.
 * Only INET/INET6 TCP and UDP sockets are ours to watch.
 */
void sock_created(int fd, int family, int type, int protocol)
{
	struct reuse_sock *s;
	unsigned proto = sock_proto(family, type, protocol);
	uint32_t dev = 0;
	uint64_t ino;

	if (!proto)
		return;
	ino = socket_ino(fd, &dev);
	if (!ino)
		return;
	s = slot_peek(fd);                /* the chunk is there but for the first */
	if (!s && !(s = slot_get(fd, true)))
		return;
	take_slot(s);
	note_top(fd);
	s->dev = dev;
	s->family = (uint8_t)family;
	s->proto = (uint8_t)proto;
	s->asked_ra = s->asked_rp = 0;
	s->bound = s->listening = 0;
	s->log = 0;
	s->exclusive = s->keyed = s->tw_pass = 0;
	s->plan = 0;                      /* none: plan_kept() never matches it */
	s->mptcp = protocol == IPPROTO_MPTCP;
	__atomic_store_n(&s->known, 1, __ATOMIC_RELAXED);   /* fresh: neither option set */
	s->held = 0;
	s->owner = 0;
	s->rule = SOCK_UNDECIDED;
	atomic_store_explicit(&s->ino, ino, memory_order_release);
	sock_watch_set(fd, proto == REUSE_P_UDP ? WATCH_SOCK | WATCH_UNBOUND : WATCH_SOCK);
}

/*
 * sock_get - fd's record if we track it and it is still the same socket.
 * A record whose socket is gone (fd closed behind us, number reused) is
 * dropped here.
 */
static inline struct reuse_sock *lookup(int fd)
{
	struct reuse_sock *s = slot_peek(fd);
	uint32_t dev = 0;

	uint64_t ino;

	if (!s || !(ino = atomic_load_explicit(&s->ino, memory_order_acquire)))
		return NULL;
	if (__builtin_expect(socket_ino(fd, &dev) == ino && dev == s->dev, 1))
		return s;
	sock_forget(fd);
	return NULL;
}

struct reuse_sock *sock_get(int fd)
{
	return lookup(fd);
}

/*
 * learn - a record for a socket we did not see made (created before we
 * were ready, inherited, received over a Unix socket, or its record went
 * stale). What the kernel holds now is taken as what the program asked for.
 */
static __attribute__((noinline)) struct reuse_sock *learn(int fd)
{
	struct reuse_sock *s;
	struct sockaddr_storage ss;
	int family, type, protocol;
	int flag;

	if (!sock_kind(fd, &family, &type, &protocol))
		return NULL;
	sock_created(fd, family, type, protocol);
	s = sock_get(fd);
	if (!s)
		return NULL;
	__atomic_store_n(&s->known, 0, __ATOMIC_RELAXED);   /* other fds, other processes may hold it */
	flag = sys_getflag(fd, SO_REUSEADDR);
	s->asked_ra = flag > 0;
	flag = sys_getflag(fd, SO_REUSEPORT);
	s->asked_rp = flag > 0;
	/* a local port: an explicit bind, or an implicit one */
	s->bound = sock_local_addr(fd, &ss) && sock_port(&ss);
	s->listening = sys_getflag(fd, SO_ACCEPTCONN) > 0;
	return s;
}

/* sock_get_or_add - fd's record, learned from the kernel if missing. */
struct reuse_sock *sock_get_or_add(int fd)
{
	struct reuse_sock *s = lookup(fd);

	if (__builtin_expect(s != NULL, 1))
		return s;
	return learn(fd);
}

/* sock_forget_rec - sock_forget when the caller has fd's slot (k, from
 * sock_peek_mut): no second lookup. */
void sock_forget_rec(int fd, struct reuse_sock *k)
{
	drop_slot(k);
	sock_watch_clear(fd, WATCH_SOCK | WATCH_UNBOUND);
}

/*
 * sock_forget - fd is being closed. The common case, an fd we never
 * tracked, costs a bounds check and one or two loads: no lock, no syscall.
 */
void sock_forget(int fd)
{
	struct reuse_sock *c;

	if ((unsigned)fd < DIRECT_MAX) {
		c = atomic_load_explicit(&table[(unsigned)fd >> CHUNK_BITS],
					 memory_order_relaxed);
		if (c && atomic_load_explicit(&c[fd & (CHUNK_SLOTS - 1)].ino,
					      memory_order_relaxed)) {
			drop_slot(&c[fd & (CHUNK_SLOTS - 1)]);
			sock_watch_clear(fd, WATCH_SOCK | WATCH_UNBOUND);
		}
		return;
	}
	c = slot_get(fd, false);
	if (c) {
		drop_slot(c);
		sock_watch_clear(fd, WATCH_SOCK | WATCH_UNBOUND);
	}
}

_Static_assert(offsetof(struct reuse_sock, ino) == 0 &&
	       offsetof(struct reuse_sock, dev) == sizeof(uint64_t),
	       "sock_dup copies everything after ino, which comes first");

/* sock_dup - newfd now names oldfd's socket; it inherits the record. */
void sock_dup(int oldfd, int newfd)
{
	struct reuse_sock *o, *n;
	uint64_t ino;

	if (oldfd == newfd)
		return;
	o = slot_get(oldfd, false);
	if (!o || !(ino = atomic_load_explicit(&o->ino, memory_order_acquire))) {
		sock_forget(newfd);
		return;
	}
	n = slot_get(newfd, true);
	if (!n)
		return;
	take_slot(n);
	note_top(newfd);
	/* every field after the identity (ino, first), which is published
	 * last; copying them one by one once missed the bind()'s plan */
	memcpy(&n->dev, &o->dev, sizeof *n - offsetof(struct reuse_sock, dev));
	/* an option set through either fd before bind() is not in the
	 * other's record: both read the kernel at bind() */
	__atomic_store_n(&n->known, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&o->known, 0, __ATOMIC_RELAXED);
	atomic_store_explicit(&n->ino, ino, memory_order_release);
	sock_watch_set(newfd, n->proto == REUSE_P_UDP && !n->bound ?
		       WATCH_SOCK | WATCH_UNBOUND : WATCH_SOCK);
}

/*
 * forget_run - sock_forget over [a, b], one chunk's worth. Below
 * SOCK_WATCH_MAX the watch map says which fds may be tracked (a clear
 * byte is a promise, core.h): it is read a word (8 fds) at a time, so an
 * empty chunk costs 128 loads, not 1024 slot checks.
 */
static void forget_run(unsigned a, unsigned b)
{
	unsigned fd = a;

	if (b >= SOCK_WATCH_MAX) {
		for (; fd <= b; fd++)
			sock_forget((int)fd);
		return;
	}
	while (fd <= b) {
		if (!(fd & 7)) {                  /* whole clear words: skipped */
			const uint64_t *w = (const uint64_t *)&reuse_watch[fd],
				       *end = (const uint64_t *)&reuse_watch[(b + 1) & ~7u];
			while (w < end && !__atomic_load_n(w, __ATOMIC_RELAXED))
				w++;
			fd = (unsigned)((const uint8_t *)w - reuse_watch);
			if (fd > b)
				return;
		}
		if (__atomic_load_n(&reuse_watch[fd], __ATOMIC_RELAXED))
			sock_forget((int)fd);
		fd++;
	}
}

/* sock_forget_range - close_range()/closefrom() over [lo, hi]: the fds of
 * chunks that exist, up to the last fd a chunk was ever made for,
 * skipping whole missing chunks and directories (closefrom(3) reaches
 * UINT_MAX). */
void sock_forget_range(unsigned lo, unsigned hi)
{
	unsigned fd = lo, last, top = atomic_load_explicit(&fd_top, memory_order_acquire);

	if (!top || lo >= top)
		return;
	if (hi >= top)
		hi = top - 1;
	while (fd <= hi) {
		chunk_ptr *ref = chunk_ref(fd, false);

		if (!ref)                           /* no directory here */
			last = fd | (DIRECT_MAX - 1);
		else if (!atomic_load_explicit(ref, memory_order_acquire))
			last = fd | (CHUNK_SLOTS - 1);
		else
			forget_run(fd, (last = fd | (CHUNK_SLOTS - 1)) < hi ? last : hi);
		if (last >= hi)
			return;
		fd = last + 1;
	}
}

static uint16_t bound_port(int fd)
{
	struct sockaddr_storage ss;

	return sock_local_addr(fd, &ss) ? sock_port(&ss) : 0;
}

/* One chunk's exclusive sockets of proto on port into out (see below). */
static void excl_in_chunk(struct reuse_sock *c, unsigned base, unsigned proto,
			  uint16_t port, uint64_t self, int *out, uint64_t *seen,
			  int *n, int max)
{
	unsigned top = atomic_load_explicit(&fd_top, memory_order_acquire);
	unsigned end = top - base < CHUNK_SLOTS ? top - base : CHUNK_SLOTS;

	for (unsigned i = 0; i < end && *n < max; i++) {
		uint64_t ino = atomic_load_explicit(&c[i].ino, memory_order_acquire);
		int fd = (int)(base + i), j;

		if (!ino || ino == self || !c[i].exclusive || c[i].proto != proto)
			continue;
		for (j = 0; j < *n && seen[j] != ino; j++)
			;
		if (j < *n || !lookup(fd) || bound_port(fd) != port)
			continue;
		seen[*n] = ino;
		out[(*n)++] = fd;
	}
}

/*
 * sock_excl_list - live exclusive sockets of proto on port (see core.h).
 * The records say which sockets are exclusive, whatever number a dup2()
 * moved them to; only a bind that failed EADDRINUSE under `exclusive`
 * walks them.
 */
int sock_excl_list(unsigned proto, uint16_t port, int self, int *out, int max)
{
	/* self: the caller's socket, its identity checked by this call */
	const struct reuse_sock *me = sock_peek(self);
	struct reuse_sock *c;
	uint64_t seen[LEND_MAX], mine = me ? me->ino : 0;
	int n = 0;

	/* up to the highest fd ever tracked (fd_top), not the whole table */
	unsigned top = atomic_load_explicit(&fd_top, memory_order_acquire);

	if (max > LEND_MAX)
		max = LEND_MAX;
	for (unsigned t = 0; t < TOP_SLOTS && t << CHUNK_BITS < top && n < max; t++)
		if ((c = atomic_load_explicit(&table[t], memory_order_acquire)))
			excl_in_chunk(c, t << CHUNK_BITS, proto, port, mine, out, seen, &n, max);
	for (unsigned h = 1; h < HIGH_SLOTS && (unsigned long)h << DIR_BITS < top && n < max; h++) {
		chunk_ptr *dir = atomic_load_explicit(&high[h], memory_order_acquire);
		for (unsigned t = 0; dir && t < TOP_SLOTS && n < max; t++)
			if ((c = atomic_load_explicit(&dir[t], memory_order_acquire)))
				excl_in_chunk(c, (h << DIR_BITS) | (t << CHUNK_BITS), proto,
					      port, mine, out, seen, &n, max);
	}
	return n;
}

/* One chunk's other records of socket ino take k's view of it. */
static void sync_chunk(struct reuse_sock *c, const struct reuse_sock *k)
{
	uint64_t ino = atomic_load_explicit(&k->ino, memory_order_acquire);

	for (unsigned i = 0; i < CHUNK_SLOTS; i++) {
		if (&c[i] == k || atomic_load_explicit(&c[i].ino, memory_order_acquire) != ino ||
		    c[i].dev != k->dev)
			continue;
		c[i].asked_ra = k->asked_ra;
		c[i].asked_rp = k->asked_rp;
		c[i].plan = k->plan;
	}
}

/*
 * sock_sync - k's socket has other fds (dup): they take k's record of what
 * the program asked, so that every fd answers alike. Only a setsockopt()
 * of SO_REUSEADDR/SO_REUSEPORT on a decided socket walks the table.
 */
void sock_sync(const struct reuse_sock *k)
{
	struct reuse_sock *c;

	unsigned top = atomic_load_explicit(&fd_top, memory_order_acquire);

	for (unsigned t = 0; t < TOP_SLOTS && t << CHUNK_BITS < top; t++)
		if ((c = atomic_load_explicit(&table[t], memory_order_acquire)))
			sync_chunk(c, k);
	for (unsigned h = 1; h < HIGH_SLOTS && (unsigned long)h << DIR_BITS < top; h++) {
		chunk_ptr *dir = atomic_load_explicit(&high[h], memory_order_acquire);
		for (unsigned t = 0; dir && t < TOP_SLOTS; t++)
			if ((c = atomic_load_explicit(&dir[t], memory_order_acquire)))
				sync_chunk(c, k);
	}
}

/* One chunk's listening TCP record on port (host order), or NULL. */
static const struct reuse_sock *listener_in_chunk(struct reuse_sock *c, unsigned base,
						 uint16_t port)
{
	for (unsigned i = 0; i < CHUNK_SLOTS; i++) {
		if (!atomic_load_explicit(&c[i].ino, memory_order_acquire) ||
		    !c[i].listening || c[i].proto != REUSE_P_TCP || c[i].rule < 0)
			continue;
		if (lookup((int)(base + i)) == &c[i] && bound_port((int)(base + i)) == port)
			return &c[i];
	}
	return NULL;
}

/*
 * sock_listener - the record of a decided TCP listener of this process on
 * port: the first sight of an accepted connection (engine.c) asks it. A
 * walk of the table, only for a socket met without a record.
 */
const struct reuse_sock *sock_listener(uint16_t port)
{
	const struct reuse_sock *l = NULL;
	struct reuse_sock *c;

	unsigned top = atomic_load_explicit(&fd_top, memory_order_acquire);

	for (unsigned t = 0; t < TOP_SLOTS && t << CHUNK_BITS < top && !l; t++)
		if ((c = atomic_load_explicit(&table[t], memory_order_acquire)))
			l = listener_in_chunk(c, t << CHUNK_BITS, port);
	for (unsigned h = 1; h < HIGH_SLOTS && (unsigned long)h << DIR_BITS < top && !l; h++) {
		chunk_ptr *dir = atomic_load_explicit(&high[h], memory_order_acquire);
		for (unsigned t = 0; dir && t < TOP_SLOTS && !l; t++)
			if ((c = atomic_load_explicit(&dir[t], memory_order_acquire)))
				l = listener_in_chunk(c, (h << DIR_BITS) | (t << CHUNK_BITS), port);
	}
	return l;
}

/*
 * sock_shared_all - see core.h. Runs in fork()'s parent and child
 * handlers (core/lock.c): the records of chunks that exist, up to the
 * highest fd ever tracked. A child made by a raw clone() runs no handler:
 * an option it sets on an inherited socket before the parent's bind()
 * goes unseen by the parent's records (as any raw system call would).
 */
void sock_shared_all(void)
{
	unsigned top = atomic_load_explicit(&fd_top, memory_order_acquire);

	for (unsigned fd = 0; fd < top; fd = (fd | (CHUNK_SLOTS - 1)) + 1) {
		chunk_ptr *ref = chunk_ref(fd, false);
		struct reuse_sock *c = ref ? atomic_load_explicit(ref, memory_order_acquire) : NULL;

		for (unsigned i = 0; c && i < CHUNK_SLOTS; i++)
			if (__atomic_load_n(&c[i].known, __ATOMIC_RELAXED))
				__atomic_store_n(&c[i].known, 0, __ATOMIC_RELAXED);
		if (!ref && fd >= DIRECT_MAX)
			fd |= DIRECT_MAX - 1;     /* no directory: skip it whole */
	}
}

/* sock_peek_far - sock_peek_mut (core.h) past the direct table. */
struct reuse_sock *sock_peek_far(int fd)
{
	struct reuse_sock *s = slot_get(fd, false);

	return s && atomic_load_explicit(&s->ino, memory_order_acquire) ? s : NULL;
}
