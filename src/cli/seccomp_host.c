/*
 * supervise.c - `reuse run --seccomp`: decide for a process the library
 * cannot reach (static binaries, Go), from outside it.
 *
 * The target's bind/listen, and its setsockopt/getsockopt of SO_REUSEADDR/
 * SO_REUSEPORT, stop in the kernel and arrive here as seccomp user
 * notifications (seccomp.c installs the filter and runs the loop). For each
 * one we read the arguments from the target's memory, take a duplicate of
 * its socket with pidfd_getfd, decide with the same engine as the shim
 * (policy.c, decide.c), set or clear the options on the duplicate (they are
 * the target's: one socket, two fds), and answer:
 *
 *   - the policy's errno (deny: EACCES, refuse: EPERM) without the call;
 *   - or the kernel's own answer to the call made here on the duplicate,
 *     when the kernel would judge it alike from the target and from us
 *     (same effective capabilities, user namespace, LSM label: our child),
 *     so the log carries the real result, an EADDRINUSE is explained, and
 *     stale TIME_WAIT can be cleared and the bind retried;
 *   - or SECCOMP_USER_NOTIF_FLAG_CONTINUE (the call proceeds in the target)
 *     when those differ (it dropped privileges: a bind made here could
 *     succeed where its own would not), or when the call is
 *     none of our business (not an INET socket, bad arguments: the kernel
 *     answers with the right errno).
 *
 * Pointer arguments are read while the target thread is stopped in the
 * call, but other threads of the target could change them before the
 * kernel reads them on CONTINUE: user notification cannot enforce policy
 * against a hostile program (seccomp_unotify(2)). Our target is the
 * operator's own daemon; see reuse(1).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/close_range.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <uthash.h>

#include "cli.h"
#include "cli/seccomp_int.h"
#include "core/core.h"
#include "core/host.h"
#include "core/sys.h"


/*
 * A socket decided for, keyed by SO_COOKIE (unique for the life of the
 * kernel, so a recycled fd number or inode can never be mistaken for it).
 * The target's close() is not seen: prune() drops sockets no supervised
 * process holds any more.
 */
struct tracked {
	uint64_t cookie;
	uint64_t ino;                /* /proc/PID/fd shows socket:[ino] */
	pid_t tid;                   /* last thread seen using it */
	struct reuse_sock s;         /* asked, bound, listening, rule, log */
	uint16_t port;               /* a listener's local port (host order) */
	bool ra_back;                /* SO_REUSEADDR taken (engine_drain.c) */
	UT_hash_handle hh;
};
static struct tracked *table;
static unsigned ntracked, prune_at = 1024;


/* One notification being answered: the engine's view first. */
struct call {
	struct reuse_call rc;
	int nfd;                     /* the listener */
	const struct seccomp_notif *req;
	struct seccomp_notif_resp *resp;
	struct target t;
	struct tracked *k;
};

static struct call *call_of(const struct reuse_call *rc)
{
	return (struct call *)(uintptr_t)rc;
}


/* ---- the socket table ------------------------------------------------ */

static bool has_port(int fd)
{
	struct sockaddr_storage ss;

	return sock_local_addr(fd, &ss) && sock_port(&ss);
}

static bool mptcp_of(int fd)
{
	int protocol = 0;
	socklen_t l = sizeof protocol;

	return getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &protocol, &l) == 0 &&
	       protocol == IPPROTO_MPTCP;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* The inodes of every live socket with a port (sock_diag), sorted. */
struct live {
	uint64_t *ino;
	size_t n, cap;
	bool failed;
};

static int live_one(const struct reuse_holder *h, void *ctx)
{
	struct live *l = ctx;
	uint64_t *v;

	if (!h->ino)
		return 0;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 256;
		if (!(v = realloc(l->ino, l->cap * sizeof *v))) {
			l->failed = true;
			return -ENOMEM;
		}
		l->ino = v;
	}
	l->ino[l->n++] = h->ino;
	return 0;
}

/*
 * prune - forget sockets that no longer exist. A socket outlives the
 * thread that bound it and the process that made it (a child inherits
 * it, a peer receives it), so what counts is whether the kernel still
 * lists it (sock_diag: every socket with a port, in every state, bound-only
 * TCP sockets included). One without a port is undecided anyway and is
 * only decided afresh. Runs when the table doubles; if the kernel cannot
 * be asked, nothing is forgotten.
 */
static void prune(void)
{
	struct tracked *t, *tmp;
	struct live l = { 0 };

	if (explain_walk(REUSE_P_TCP, 1, 65535, live_one, &l) < 0 ||
	    explain_walk(REUSE_P_UDP, 1, 65535, live_one, &l) < 0 || l.failed) {
		free(l.ino);
		prune_at = ntracked * 2;
		return;
	}
	qsort(l.ino, l.n, sizeof *l.ino, cmp_u64);
	HASH_ITER(hh, table, t, tmp) {
		if (l.n && bsearch(&t->ino, l.ino, l.n, sizeof *l.ino, cmp_u64))
			continue;
		/* an unbound socket holding options (eng_hold) has no port for
		 * the kernel to list: kept while the thread that used it lives */
		if (t->s.held && (kill(t->tid, 0) == 0 || errno == EPERM))
			continue;
		HASH_DEL(table, t);
		free(t);
		ntracked--;
	}
	free(l.ino);
	prune_at = ntracked * 2 > 1024 ? ntracked * 2 : 1024;
}

/*
 * The record of the socket behind our duplicate d; a new one is undecided
 * (decide() takes the kernel's options as what the program asked for, as
 * the shim does for a socket it did not see made; on_listen() asks whether
 * it listens already). NULL when d is not an INET TCP/UDP socket, or when
 * it is unknown and create is false.
 */
static struct tracked *lookup(int d, pid_t tid, bool create)
{
	struct tracked *t;
	uint64_t cookie;
	socklen_t l = sizeof cookie;
	struct stat st;
	int family;
	unsigned proto;

	if (getsockopt(d, SOL_SOCKET, SO_COOKIE, &cookie, &l) < 0)
		return NULL;
	HASH_FIND(hh, table, &cookie, sizeof cookie, t);
	if (t || !create) {
		if (t)
			t->tid = tid;
		return t;
	}
	if (!(proto = sock_proto_of_fd(d, &family)) || fstat(d, &st) < 0)
		return NULL;
	if (ntracked >= prune_at)
		prune();
	if (!(t = calloc(1, sizeof *t)))
		return NULL;
	t->cookie = cookie;
	t->ino = (uint64_t)st.st_ino;
	t->tid = tid;
	t->s.ino = (uint64_t)st.st_ino;
	t->s.family = (uint8_t)family;
	t->s.proto = (uint8_t)proto;
	t->s.rule = SOCK_UNDECIDED;
	t->s.bound = has_port(d);
	t->s.mptcp = mptcp_of(d);
	HASH_ADD(hh, table, cookie, sizeof t->cookie, t);
	ntracked++;
	return t;
}

/* ---- answering ------------------------------------------------------- */

/* Answer the call: err 0 is success (return value 0), else -err. */
static void answer(struct call *c, int err)
{
	memset(c->resp, 0, sizeof *c->resp);
	c->resp->id = c->req->id;
	c->resp->error = err ? -err : 0;
	seccomp_notify_respond(c->nfd, c->resp);  /* ENOENT: interrupted, gone */
}

/* Let the call proceed in the target, as if we were not there. */
static void proceed(struct call *c)
{
	memset(c->resp, 0, sizeof *c->resp);
	c->resp->id = c->req->id;
	c->resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
	seccomp_notify_respond(c->nfd, c->resp);
}

/* Still the same call in the same task (not interrupted, not gone)? */
static bool still_valid(const struct call *c)
{
	return seccomp_notify_id_valid(c->nfd, c->req->id) == 0;
}

/* ---- the engine's host ------------------------------------------------ */

static bool copy_in(const struct reuse_call *rc, void *dst, uint64_t src, size_t len)
{
	return mem_read(call_of(rc)->t.tid, src, dst, len);
}

static bool copy_out(const struct reuse_call *rc, uint64_t dst, const void *src, size_t len)
{
	return mem_write(call_of(rc)->t.tid, dst, src, len);
}

/* The target's call, made here on our duplicate while it waits. */
static int host_bind(const struct reuse_call *rc, const struct sockaddr *a, socklen_t len)
{
	if (!still_valid(call_of(rc))) {
		errno = EINTR;
		return -1;
	}
	return bind(rc->sock, a, len);
}

static int host_listen(const struct reuse_call *rc, int backlog)
{
	if (!still_valid(call_of(rc))) {
		errno = EINTR;
		return -1;
	}
	return listen(rc->sock, backlog);
}

/* getsockopt() into the target's buffers, as the kernel's would. */
static int host_getsockopt(const struct reuse_call *rc, int level, int name,
			   uint64_t val, uint64_t lenp)
{
	char buf[64];
	int n;
	socklen_t l;

	if (!copy_in(rc, &n, lenp, sizeof n)) {
		errno = EFAULT;
		return -1;
	}
	if (n < 0) {
		errno = EINVAL;
		return -1;
	}
	l = (socklen_t)n < sizeof buf ? (socklen_t)n : sizeof buf;
	if (getsockopt(rc->sock, level, name, buf, &l) < 0)
		return -1;
	n = (int)l;
	if (!copy_out(rc, val, buf, l) || !copy_out(rc, lenp, &n, sizeof n)) {
		errno = EFAULT;
		return -1;
	}
	return 0;
}

/*
 * own_sockets - the calling process's exclusive sockets on proto/port:
 * found among the decided sockets, then in the caller's fd table
 * (/proc/TID/fd), and taken with pidfd_getfd.
 */
static int own_sockets(const struct reuse_call *rc, unsigned proto, uint16_t port,
		       struct reuse_own *out, int max)
{
	struct call *c = call_of(rc);
	struct tracked *k = c->k, *t, *tmp, *cand[LEND_MAX];
	int nc = 0, m = 0;
	char path[64], link[64];
	struct dirent *e;
	uint64_t ino;
	DIR *d;

	HASH_ITER(hh, table, t, tmp) {
		if (t != k && t->s.exclusive && t->s.proto == proto && nc < LEND_MAX)
			cand[nc++] = t;
	}
	snprintf(path, sizeof path, "/proc/%d/fd", (int)c->t.tid);
	if (!nc || !(d = opendir(path)))
		return 0;
	while ((e = readdir(d)) && m < max) {
		ssize_t l = readlinkat(dirfd(d), e->d_name, link, sizeof link - 1);
		struct sockaddr_storage os;
		uint64_t cookie;
		socklen_t cl = sizeof cookie;
		int i, dup;

		if (l <= 0)
			continue;
		link[l] = '\0';
		if (sscanf(link, "socket:[%" SCNu64 "]", &ino) != 1)
			continue;
		for (i = 0; i < nc && cand[i]->ino != ino; i++)
			;
		if (i == nc || (dup = take_fd(&c->t, atoi(e->d_name), NULL)) < 0)
			continue;
		/* the same socket (cookie), bound on this port */
		if (getsockopt(dup, SOL_SOCKET, SO_COOKIE, &cookie, &cl) < 0 ||
		    cookie != cand[i]->cookie || !sock_local_addr(dup, &os) ||
		    sock_port(&os) != port) {
			close(dup);
			continue;
		}
		out[m].fd = dup;
		out[m++].k = &cand[i]->s;
	}
	closedir(d);
	return m;
}

/* The target's fd flags and file status flags, from /proc/PID/fdinfo. */
static bool fd_flags(struct call *c, int *cloexec, int *nonblock)
{
	char path[64], buf[512], v[32];
	long fl;

	snprintf(path, sizeof path, "/proc/%d/fdinfo/%d", (int)c->t.tid, c->rc.fd);
	if (read_small(path, buf, sizeof buf) <= 0 || !status_field(buf, "flags", v, sizeof v))
		return false;
	fl = strtol(v, NULL, 8);
	*cloexec = (fl & O_CLOEXEC) != 0;
	*nonblock = (fl & O_NONBLOCK) != 0;
	return true;
}

/*
 * install - put socket r at the target's fd number (SECCOMP_IOCTL_NOTIF_ADDFD
 * replaces what the number held, keeping its close-on-exec), with the
 * target's O_NONBLOCK choice; the record is learned anew and keeps the
 * rule and what the program asked.
 */
static struct reuse_sock *install(struct reuse_call *rc, int r, char *note, size_t nlen)
{
	struct call *c = call_of(rc);
	struct seccomp_notif_addfd add;
	struct reuse_sock was = c->k->s;
	struct tracked *nk;
	struct stat st;
	int cloexec = 0, nonblock = 0, fl;

	note[0] = '\0';
	if (!fd_flags(c, &cloexec, &nonblock)) {
		close(r);
		errno = EBADF;
		return NULL;
	}
	fl = fcntl(r, F_GETFL);
	/* set, never cleared: see shim/host.c's install */
	if (fl >= 0 && nonblock && !(fl & O_NONBLOCK)) {
		fcntl(r, F_SETFL, fl | O_NONBLOCK);
		snprintf(note, nlen, "; O_NONBLOCK set as this program asked (the flag lives on the open file, which the socket's other holder shares)");
	}
	memset(&add, 0, sizeof add);
	add.id = c->req->id;
	add.flags = SECCOMP_ADDFD_FLAG_SETFD;
	add.srcfd = (uint32_t)r;
	add.newfd = (uint32_t)rc->fd;
	add.newfd_flags = cloexec ? O_CLOEXEC : 0;
	if (ioctl(c->nfd, SECCOMP_IOCTL_NOTIF_ADDFD, &add) < 0 ||
	    !(nk = lookup(r, c->t.tid, true))) {
		int err = errno;
		close(r);
		errno = err;
		return NULL;
	}
	nk->s.rule = was.rule;
	nk->s.log = was.log;
	nk->s.asked_ra = was.asked_ra;
	nk->s.asked_rp = was.asked_rp;
	nk->s.bound = 1;
	if (fstat(r, &st) == 0 && reuse_key_owner((uint32_t)st.st_uid, &nk->s.owner))
		nk->s.keyed = 1;
	close(rc->sock);
	rc->sock = r;
	c->k = nk;
	rc->k = &nk->s;
	return rc->k;
}

/* The target's decided TCP listener on port (its record), or NULL. */
static const struct reuse_sock *listener(const struct reuse_call *rc, uint16_t port)
{
	struct tracked *t, *tmp;

	(void)rc;
	HASH_ITER(hh, table, t, tmp) {
		if (t->s.listening && t->s.proto == REUSE_P_TCP && t->s.rule >= 0 &&
		    t->port == port)
			return &t->s;
	}
	return NULL;
}

static void names(struct reuse_call *rc)
{
	struct call *c = call_of(rc);

	target_names(&c->t);
	rc->prog = c->t.prog;
	rc->exe = c->t.exe;
	rc->pid = target_tgid(&c->t);
}

static const struct engine_host seccomp_host = {
	.copy_in = copy_in,
	.copy_out = copy_out,
	.bind = host_bind,
	.listen = host_listen,
	.getsockopt = host_getsockopt,
	.own_sockets = own_sockets,
	.install = install,
	.listener = listener,
	.names = names,
	.sends_unseen = true,
};

/*
 * on_shutdown - shutdown() of a socket: made here on our duplicate (one
 * socket), then the engine takes back what a listener that stopped must
 * not keep (engine_shutdown). No permission is checked by the kernel here.
 */
static int on_shutdown(struct call *c, int how)
{
	if (!c->k->s.listening || how == SHUT_WR)
		return REUSE_PASS;
	if (shutdown(c->rc.sock, how) < 0)
		return -1;
	engine_shutdown(&c->rc);
	return 0;
}

/* ---- close(), close_range(), dup2(), dup3() ---------------------------- */

/*
 * These are stopped only under a policy with a TCP `exclusive` rule
 * (supervise_stops_close). A close that can matter is one of a decided
 * exclusive listener (its connections give up SO_REUSEADDR first) or of a
 * connection that gave it up (it gets it back): while the table holds
 * neither, the call continues at once, with no system call made here.
 */
static bool any_drain(void)
{
	struct tracked *t, *tmp;

	HASH_ITER(hh, table, t, tmp) {
		if (t->ra_back || engine_drains(&t->s))
			return true;
	}
	return false;
}

/* The calling process's connections on port give up SO_REUSEADDR. */
static void drain_connections(struct call *c, int self, uint16_t port)
{
	char path[64], link[64];
	struct dirent *e;
	struct tracked *t;
	DIR *d;

	snprintf(path, sizeof path, "/proc/%d/fd", (int)c->t.tid);
	if (!(d = opendir(path)))
		return;
	while ((e = readdir(d))) {
		ssize_t l = readlinkat(dirfd(d), e->d_name, link, sizeof link - 1);
		int fd = atoi(e->d_name), dup;

		if (l <= 0 || fd == self || strncmp(link, "socket:", 7) != 0 ||
		    (dup = take_fd(&c->t, fd, NULL)) < 0)
			continue;
		if (engine_drain_take(dup, port) && (t = lookup(dup, c->t.tid, true)))
			t->ra_back = true;
		close(dup);
	}
	closedir(d);
}

/* The target's fd is about to be closed. */
static void closing(struct call *c, int fd)
{
	struct tracked *k;
	uint16_t port;
	int d = take_fd(&c->t, fd, NULL);

	if (d < 0)
		return;
	if ((k = lookup(d, c->t.tid, false))) {
		if (k->ra_back) {
			engine_drain_back(d);
			k->ra_back = false;
		}
		if (engine_drains(&k->s) && (port = eng_local_port(d)))
			drain_connections(c, fd, port);
	}
	close(d);
}

/* close_range(lo, hi, flags): each socket of the range (CLOEXEC closes none). */
static void closing_range(struct call *c, unsigned lo, unsigned hi, unsigned flags)
{
	char path[64];
	struct dirent *e;
	DIR *d;

	if (flags & CLOSE_RANGE_CLOEXEC || lo > hi)
		return;
	snprintf(path, sizeof path, "/proc/%d/fd", (int)c->t.tid);
	if (!(d = opendir(path)))
		return;
	while ((e = readdir(d))) {
		char *end;
		unsigned long fd = strtoul(e->d_name, &end, 10);

		if (*end == '\0' && end != e->d_name && fd >= lo && fd <= hi)
			closing(c, (int)fd);
	}
	closedir(d);
}

static void on_close_call(struct call *c, int nr, const __u64 *a)
{
	memset(&c->t, 0, sizeof c->t);
	c->t.tid = (pid_t)c->req->pid;
	if (any_drain()) {
		if (nr == __NR_close)
			closing(c, (int)a[0]);
		else if (nr == __NR_close_range)
			closing_range(c, (unsigned)a[0], (unsigned)a[1], (unsigned)a[2]);
		else if ((int)a[0] != (int)a[1])    /* dup2, dup3: newfd goes */
			closing(c, (int)a[1]);
	}
	proceed(c);
}

/* Whether the filter stops close() and kin: a policy with a rule that
 * makes exclusive TCP listeners. */
bool supervise_stops_close(void)
{
	for (size_t i = 0; !reuse_cfg.dry_run && i < reuse_cfg.policy.nrules; i++) {
		const struct reuse_rule *r = &reuse_cfg.policy.rules[i];
		if (r->exclusive && (r->proto & REUSE_P_TCP) && !r->dry_run)
			return true;
	}
	return false;
}

/*
 * supervise_one - answer one notification. Every path answers exactly once
 * (or not at all when the call is no longer pending), so the target never
 * waits on us longer than this function runs.
 */
void supervise_one(int nfd, const struct seccomp_notif *req,
		   struct seccomp_notif_resp *resp)
{
	struct call c = { .nfd = nfd, .req = req, .resp = resp };
	struct reuse_call *rc = &c.rc;
	int nr = req->data.nr, ret = REUSE_PASS, err;
	const __u64 *a = req->data.args;

	rc->host = &seccomp_host;
	rc->fd = (int)a[0];
	rc->sock = rc->pidfd = -1;
	if (nr == __NR_landlock_restrict_self) {
		target_landlock_seen();    /* before the domain exists */
		proceed(&c);
		return;
	}
	if (nr == __NR_close || nr == __NR_close_range || nr == __NR_dup2 || nr == __NR_dup3) {
		on_close_call(&c, nr, a);
		return;
	}
	if (!read_target((pid_t)req->pid, &c.t) ||
	    (rc->sock = take_fd(&c.t, rc->fd, &rc->pidfd)) < 0 ||
	    !(c.k = lookup(rc->sock, c.t.tid, true))) {
		proceed(&c);
		goto out;
	}
	rc->k = &c.k->s;
	rc->can_call_here = c.t.same_creds;
	rc->why_not_here = c.t.why_not_here;
	rc->euid = c.t.euid;
	rc->pid = c.t.tid;             /* the thread group, once names() asks */
	if (nr == __NR_bind)
		ret = engine_bind(rc, a[1], (socklen_t)a[2]);
	else if (nr == __NR_listen)
		ret = engine_listen(rc, (int)a[1]);
	else if (nr == __NR_shutdown)
		ret = on_shutdown(&c, (int)a[1]);
	else if (nr == __NR_setsockopt)
		ret = engine_setsockopt(rc, (int)a[1], (int)a[2], a[3], (socklen_t)a[4]);
	else if (nr == __NR_getsockopt)
		ret = engine_getsockopt(rc, (int)a[1], (int)a[2], a[3], a[4]);
	if (nr == __NR_listen && ret == 0 && c.k->s.listening) {
		struct sockaddr_storage ss;
		if (sock_local_addr(rc->sock, &ss))
			c.k->port = sock_port(&ss);
	}
	err = ret < 0 ? errno : 0;
	/* Our duplicate goes before the answer: the target runs on at once,
	 * and a socket it then closes must be gone (a closed listener still
	 * held here accepted the next connection, tests/seccomp.bats). */
	close(rc->sock);
	rc->sock = -1;
	if (ret == REUSE_PASS)
		proceed(&c);
	else
		answer(&c, err);
out:
	if (rc->sock >= 0)
		close(rc->sock);
}

/*
 * supervise_init - the configuration the library would read, from the
 * same variables (`reuse run` has set them from its options), by the same
 * code (core/config.c); socket activation passed to us is adopted into the
 * target as the library would adopt it (core/handoff.c).
 */
void supervise_init(void)
{
	snprintf(reuse_cfg.prog, sizeof reuse_cfg.prog, "reuse");
	snprintf(reuse_cfg.exe, sizeof reuse_cfg.exe, "reuse");
	target_init();
	config_init();
	config_load_policy(config_policy_path());
	handoff_init();
}
