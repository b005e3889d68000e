/*
 * supervise.c - `reuse run --seccomp`: decide for a process the library
 * cannot reach (static binaries, Go), from outside it.
 *
 * The target's bind/listen, and its setsockopt/getsockopt of SO_REUSEADDR/
 * SO_REUSEPORT, stop in the kernel and arrive here as seccomp user
 * notifications (seccomp.c installs the filter and runs the loop). For each
 * one we read the arguments from the target's memory, take a duplicate of
 * its socket with pidfd_getfd, decide with the same engine as the shim
 * (policy_index.c, decide.c), set or clear the options on the duplicate (they are
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
#include <linux/capability.h>
#include <netinet/in.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <uthash.h>

#include "cli.h"
#include "core/core.h"
#include "core/sys.h"

#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL
#endif

/* log.c and sockets.c read the configuration from here, as in the shim. */
struct reuse_config reuse_cfg;

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
	UT_hash_handle hh;
};
static struct tracked *table;
static unsigned ntracked, prune_at = 1024;

static int by_tid(const struct tracked *a, const struct tracked *b)
{
	return (a->tid > b->tid) - (a->tid < b->tid);
}

/* What makes a bind() made here differ from the target's own: effective
 * capabilities, user namespace, LSM label (see read_target). */
static uint32_t my_caps[2];
static ino_t my_userns;
static char my_label[256];          /* "" when no LSM names tasks */
/* Whether some rule says program=: only then a decision needs names. */
static bool policy_names;

/* The task that made the call, from /proc. */
struct target {
	pid_t tid, tgid;             /* tgid 0 until target_tgid() */
	long euid;
	bool same_creds;
	char prog[64], exe[64];
};

/* One notification being answered. */
struct call {
	int nfd;                     /* the listener */
	const struct seccomp_notif *req;
	struct seccomp_notif_resp *resp;
	struct target t;
	int fd;                      /* the target's fd number */
	int dup;                     /* our duplicate of it, or -1 */
	struct tracked *k;
};

/* ---- reading the target ---------------------------------------------- */

/* The value of a "Key:\t..." line of a /proc status text, cut at newline. */
static bool status_field(const char *text, const char *key, char *out,
			 size_t len)
{
	size_t kl = strlen(key);
	const char *p = text;

	for (; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, key, kl) == 0 && p[kl] == ':') {
			const char *v = p + kl + 1, *e = strchrnul(v, '\n');
			while (*v == '\t' || *v == ' ')
				v++;
			snprintf(out, len, "%.*s", (int)(e - v), v);
			return true;
		}
	}
	return false;
}

static ssize_t read_small(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n >= 0)
		buf[n] = '\0';
	return n;
}

/* Basename of path, cut to fit (as comm is). */
static void basename_into(const char *path, char *out, size_t len)
{
	const char *b = strrchr(path, '/');
	size_t n;

	b = b ? b + 1 : path;
	n = strnlen(b, len - 1);
	memcpy(out, b, n);
	out[n] = '\0';
}

/* The LSM label of a task ("" if none), as /proc/PID/attr/current says. */
static void read_label(const char *pid, char *out, size_t len)
{
	char path[64];

	snprintf(path, sizeof path, "/proc/%.16s/attr/current", pid);
	if (read_small(path, out, len) <= 0)
		out[0] = '\0';
}

static bool read_caps(pid_t pid, uint32_t eff[2])
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, pid };
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];

	if (syscall(SYS_capget, &h, d) < 0)
		return false;
	eff[0] = d[0].effective;
	eff[1] = d[1].effective;
	return true;
}

/*
 * read_target - who made the call: its effective uid (for uid=; the owner
 * /proc shows for a dumpable task) and whether a call made here would be
 * judged as the kernel would judge its own: the same effective
 * capabilities (CAP_NET_BIND_SERVICE, CAP_NET_ADMIN), the same user
 * namespace, and the same LSM label when an LSM labels tasks. false when
 * the task is gone. A few cheap calls: this runs for every notification.
 */
static bool read_target(pid_t tid, struct target *t)
{
	char path[64], label[256];
	struct stat st, ns;
	uint32_t caps[2];

	memset(t, 0, sizeof *t);
	t->tid = tid;
	snprintf(path, sizeof path, "/proc/%d", (int)tid);
	if (stat(path, &st) < 0)
		return false;
	t->euid = (long)st.st_uid;
	snprintf(path, sizeof path, "/proc/%d/ns/user", (int)tid);
	t->same_creds = read_caps(tid, caps) && caps[0] == my_caps[0] &&
			caps[1] == my_caps[1] && stat(path, &ns) == 0 &&
			ns.st_ino == my_userns;
	if (t->same_creds && my_label[0]) {
		snprintf(path, sizeof path, "%d", (int)tid);
		read_label(path, label, sizeof label);
		t->same_creds = strcmp(label, my_label) == 0;
	}
	return true;
}

/* The thread group (the pid the log shows, as getpid() in the shim). */
static pid_t target_tgid(struct target *t)
{
	char path[64], buf[4096], v[32];

	if (t->tgid)
		return t->tgid;
	t->tgid = t->tid;
	snprintf(path, sizeof path, "/proc/%d/status", (int)t->tid);
	if (read_small(path, buf, sizeof buf) > 0 && status_field(buf, "Tgid", v, sizeof v))
		t->tgid = (pid_t)atoi(v);
	return t->tgid;
}

/*
 * target_names - the basenames program= matches and the log shows, as the
 * shim sees them: argv[0] and the executable. Read only for a policy with
 * program= rules or a line to log (two /proc reads a call otherwise).
 */
static void target_names(struct target *t)
{
	char path[64], buf[4096], exe[PATH_MAX];
	ssize_t n;

	if (t->prog[0])
		return;
	target_tgid(t);
	snprintf(path, sizeof path, "/proc/%d/cmdline", (int)t->tgid);
	if (read_small(path, buf, sizeof buf) > 0 && buf[0])
		basename_into(buf, t->prog, sizeof t->prog);
	snprintf(path, sizeof path, "/proc/%d/exe", (int)t->tgid);
	n = readlink(path, exe, sizeof exe - 1);
	if (n > 0) {
		exe[n] = '\0';
		basename_into(exe, t->exe, sizeof t->exe);
	}
	if (!t->prog[0])
		snprintf(t->prog, sizeof t->prog, "%s", t->exe[0] ? t->exe : "?");
}

/*
 * Copy len bytes at addr in the task's memory: process_vm_readv, else
 * /proc/PID/mem (both need the ptrace access a parent has over its own
 * dumpable child).
 */
static bool mem_read(pid_t tid, uint64_t addr, void *dst, size_t len)
{
	struct iovec l = { dst, len }, r = { (void *)(uintptr_t)addr, len };
	char path[64];
	ssize_t n;
	int fd;

	if (!addr)
		return false;
	if (process_vm_readv(tid, &l, 1, &r, 1, 0) == (ssize_t)len)
		return true;
	snprintf(path, sizeof path, "/proc/%d/mem", (int)tid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return false;
	n = pread(fd, dst, len, (off_t)addr);
	close(fd);
	return n == (ssize_t)len;
}

static bool mem_write(pid_t tid, uint64_t addr, const void *src, size_t len)
{
	struct iovec l = { (void *)src, len }, r = { (void *)(uintptr_t)addr, len };
	char path[64];
	ssize_t n;
	int fd;

	if (!addr)
		return false;
	if (process_vm_writev(tid, &l, 1, &r, 1, 0) == (ssize_t)len)
		return true;
	snprintf(path, sizeof path, "/proc/%d/mem", (int)tid);
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0)
		return false;
	n = pwrite(fd, src, len, (off_t)addr);
	close(fd);
	return n == (ssize_t)len;
}

/*
 * Our duplicate of the task's fd: from the thread's own fd table
 * (PIDFD_THREAD, Linux 6.9), else the process's. -1 when it is not an fd
 * or we may not. Pidfds are kept per thread id (a small direct-mapped
 * cache): one of a task that is gone answers ESRCH, and is replaced, so a
 * reused id never reaches the wrong task.
 */
#define PIDFD_SLOTS 64
static struct {
	pid_t tid;
	int fd;
} pidfds[PIDFD_SLOTS];

static int open_pidfd(struct target *t)
{
	int pfd = (int)syscall(SYS_pidfd_open, t->tid, PIDFD_THREAD);

	if (pfd < 0)
		pfd = (int)syscall(SYS_pidfd_open, target_tgid(t), 0);
	return pfd;
}

static int take_fd(struct target *t, int fd)
{
	unsigned i = (unsigned)t->tid % PIDFD_SLOTS;
	int d;

	for (int tries = 0; tries < 2; tries++) {
		if (pidfds[i].tid != t->tid) {    /* tid 0: an empty slot */
			if (pidfds[i].tid)
				close(pidfds[i].fd);
			pidfds[i].tid = 0;
			if ((pidfds[i].fd = open_pidfd(t)) < 0)
				return -1;
			pidfds[i].tid = t->tid;
		}
		d = (int)syscall(SYS_pidfd_getfd, pidfds[i].fd, fd, 0);
		if (d >= 0 || errno != ESRCH)
			return d;
		close(pidfds[i].fd);      /* that task is gone: open afresh */
		pidfds[i].tid = 0;
	}
	return -1;
}

/* ---- the socket table ------------------------------------------------ */

/* REUSE_P_TCP/UDP of an INET socket (its protocol implies its type), or 0. */
static unsigned proto_of(int fd, int *family)
{
	int protocol = 0;
	socklen_t l = sizeof *family;

	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, family, &l) < 0 ||
	    (*family != AF_INET && *family != AF_INET6))
		return 0;
	l = sizeof protocol;
	if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &protocol, &l) < 0)
		return 0;
	return protocol == IPPROTO_TCP ? REUSE_P_TCP :
	       protocol == IPPROTO_UDP ? REUSE_P_UDP : 0;
}

static bool local_addr(int fd, struct sockaddr_storage *ss)
{
	socklen_t len = sizeof *ss;

	memset(ss, 0, sizeof *ss);
	return getsockname(fd, (struct sockaddr *)ss, &len) == 0 &&
	       (ss->ss_family == AF_INET || ss->ss_family == AF_INET6);
}

static uint16_t port_of(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET ? ((const struct sockaddr_in *)ss)->sin_port
					: ((const struct sockaddr_in6 *)ss)->sin6_port;
}

static bool has_port(int fd)
{
	struct sockaddr_storage ss;

	return local_addr(fd, &ss) && port_of(&ss);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* The socket inodes process pid holds, sorted (malloc'd; *n of them). */
static uint64_t *held_sockets(pid_t pid, size_t *n)
{
	char path[64], link[64];
	uint64_t *v = NULL, *nv, ino;
	size_t cap = 0;
	struct dirent *e;
	DIR *d;

	*n = 0;
	snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
	if (!(d = opendir(path)))
		return NULL;
	while ((e = readdir(d))) {
		ssize_t l = readlinkat(dirfd(d), e->d_name, link, sizeof link - 1);
		if (l <= 0)
			continue;
		link[l] = '\0';
		if (sscanf(link, "socket:[%" SCNu64 "]", &ino) != 1)
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			if (!(nv = realloc(v, cap * sizeof *v)))
				break;
			v = nv;
		}
		v[(*n)++] = ino;
	}
	closedir(d);
	if (v)
		qsort(v, *n, sizeof *v, cmp_u64);
	return v;
}

/*
 * prune - forget sockets their last user no longer holds: one scan of
 * /proc/TID/fd (the thread's fd table) per thread, then a lookup per
 * record. Runs when the table doubles, so its cost is spread over many
 * binds; a socket wrongly forgotten (its last thread exited, or it was
 * handed to another process) is only decided afresh.
 */
static void prune(void)
{
	struct tracked *t, *tmp;
	pid_t pid = 0;
	uint64_t *held = NULL;
	size_t n = 0;

	HASH_SORT(table, by_tid);
	HASH_ITER(hh, table, t, tmp) {
		if (!held || t->tid != pid) {
			free(held);
			pid = t->tid;
			held = held_sockets(pid, &n);
		}
		if (!held || !bsearch(&t->ino, held, n, sizeof *held, cmp_u64)) {
			HASH_DEL(table, t);
			free(t);
			ntracked--;
		}
	}
	free(held);
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
	if (!(proto = proto_of(d, &family)) || fstat(d, &st) < 0)
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

static bool wants(unsigned have, unsigned need)
{
	return reuse_cfg.level != REUSE_LOG_OFF && have >= need;
}

static const struct reuse_rule *rule_of(const struct tracked *k)
{
	if (k->s.rule < 0 || (size_t)k->s.rule >= reuse_cfg.policy.nrules)
		return NULL;
	return &reuse_cfg.policy.rules[k->s.rule];
}

/* A dry run (REUSE_DRY_RUN=1, or the rule's dry-run) decides and logs, and
 * changes nothing: the kernel sees exactly what the program asked. */
static bool dry(const struct reuse_rule *r)
{
	return reuse_cfg.dry_run || (r && r->dry_run);
}

/*
 * log_call - one line in the shim's format, about the target: its pid and
 * name, its fd number, the kernel's options read through our duplicate.
 * result_text is set when the call continued in the target (we do not see
 * its result).
 */
static void log_call(struct call *c, const char *name,
		     const struct sockaddr_storage *ss, int result,
		     const char *result_text, const char *msg)
{
	struct reuse_event ev;
	struct reuse_words w;
	struct sockaddr_storage mine;
	const struct reuse_rule *r = rule_of(c->k);

	if (!ss && local_addr(c->dup, &mine))
		ss = &mine;
	target_names(&c->t);
	describe_rule(r, c->k->s.asked_ra, c->k->s.asked_rp, reuse_cfg.fail_closed, &w);
	memset(&ev, 0, sizeof ev);
	ev.call = name;
	ev.fd = c->fd;
	ev.sock = &c->k->s;
	ev.addr = (const struct sockaddr *)ss;
	ev.rule = r;
	if (reuse_cfg.fail_closed)
		ev.rule_text = "on-error closed";
	ev.option = w.option;
	ev.asked = w.asked;
	ev.action = w.action;
	ev.result = result;
	ev.result_text = result_text;
	ev.msg = msg;
	ev.ra_now = sys_getflag(c->dup, SO_REUSEADDR);
	ev.rp_now = sys_getflag(c->dup, SO_REUSEPORT);
	ev.pid = target_tgid(&c->t);
	ev.prog = c->t.prog;
	log_event(&ev);
}

static void set_flag(int fd, int name, int want)
{
	if (want >= 0 && sys_getflag(fd, name) != want)
		sys_setflag(fd, name, want);
}


/* The plan for a socket of the target, as decide.c says: the supervisor
 * keys an exclusive socket's SO_REUSEPORT group when it may chown. */
static void plan_of(const struct reuse_rule *r, const struct tracked *k,
		    struct reuse_plan *plan)
{
	struct reuse_ask ask = { k->s.asked_ra, k->s.asked_rp, k->s.proto, false };

	ask.can_key = reuse_may_key(r, ask.rp) &&
		      (k->s.keyed || sys_have_cap(CAP_CHOWN));
	reuse_decide_bind(r, &ask, plan);
}

/*
 * decide - choose the socket's rule for the address in subj and prepare
 * the options on our duplicate; 0 or the errno the policy refuses with.
 * A socket never decided takes the kernel's options as what it asked for
 * (its setsockopt calls went straight through).
 */
static int decide(struct call *c, struct reuse_subject *subj,
		  struct reuse_plan *plan)
{
	struct tracked *k = c->k;
	const struct reuse_rule *r = NULL;

	if (k->s.rule == SOCK_UNDECIDED) {
		k->s.asked_ra = sys_getflag(c->dup, SO_REUSEADDR) > 0;
		k->s.asked_rp = sys_getflag(c->dup, SO_REUSEPORT) > 0;
		/* set_flag() below compares with the kernel: these are it */
	}
	if (policy_names)
		target_names(&c->t);
	subj->prog = c->t.prog[0] ? c->t.prog : NULL;
	subj->exe = c->t.exe[0] ? c->t.exe : NULL;
	subj->uid = c->t.euid;
	if (!reuse_cfg.fail_closed)
		r = reuse_policy_match(&reuse_cfg.policy, subj);
	plan_of(r, k, plan);
	k->s.rule = r ? (int32_t)(r - reuse_cfg.policy.rules) : SOCK_UNMATCHED;
	k->s.log = r ? r->log : reuse_cfg.level == REUSE_LOG_ALL ? REUSE_LOG_ALL
								 : REUSE_LOG_OFF;
	if (reuse_cfg.fail_closed) {
		plan->err = EACCES;
		k->s.log = REUSE_LOG_DECISIONS;
	}
	if (dry(r)) {
		plan->err = 0;
		plan->ra = plan->rp = -1;
		plan->key = plan->exclusive = false;
	}
	/* an exclusive socket that shares among its own: keyed, as the shim does */
	if (plan->key && !k->s.keyed) {
		if (sys_fchown(c->dup, REUSE_KEY_UID, (gid_t)-1) == 0) {
			k->s.keyed = 1;
		} else {
			struct reuse_ask ask = { k->s.asked_ra, k->s.asked_rp, k->s.proto, false };
			reuse_decide_bind(r, &ask, plan);
		}
	}
	if (plan->err)
		return plan->err;
	set_flag(c->dup, SO_REUSEADDR, plan->ra);
	set_flag(c->dup, SO_REUSEPORT, plan->rp);
	return 0;
}

static bool v6only(int fd)
{
	int v = 0;
	socklen_t l = sizeof v;

	return getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v, &l) == 0 && v;
}

/*
 * lend_own - as the library's lend_and_bind: a bind() that failed
 * EADDRINUSE where the calling process's own exclusive sockets overlap the
 * address, all having asked the option this one asked (SO_REUSEADDR; for
 * UDP SO_REUSEPORT too), is made again with that option lent to them (and
 * to this socket when it is exclusive too) for that one bind(). They are
 * found among the decided sockets, then in the caller's fd table
 * (/proc/TID/fd), and taken with pidfd_getfd: the supervisor serves one
 * call at a time, so the window is that one bind(), measured. Returns the
 * retried bind's result, or -2 when there was nothing to lend.
 */
static int lend_own(struct call *c, const struct sockaddr_storage *ss, socklen_t len,
		    const struct reuse_subject *s, const struct reuse_plan *plan,
		    int *err, char *msg, size_t mlen)
{
	struct tracked *k = c->k, *t, *tmp, *cand[LEND_MAX];
	int dups[LEND_MAX + 1], nc = 0, m = 0, ret = -2;
	bool ra = k->s.asked_ra, rp = k->s.asked_rp && k->s.proto == REUSE_P_UDP;
	bool me_v6only = k->s.family == AF_INET6 && v6only(c->dup);
	char path[64], link[64];
	struct timespec t0, t1;
	struct dirent *e;
	uint64_t ino;
	DIR *d;

	HASH_ITER(hh, table, t, tmp) {
		if (t != k && t->s.exclusive && t->s.proto == k->s.proto && nc < LEND_MAX)
			cand[nc++] = t;
	}
	snprintf(path, sizeof path, "/proc/%d/fd", (int)c->t.tid);
	if (!nc || !(d = opendir(path)))
		return -2;
	while ((e = readdir(d)) && m < LEND_MAX) {
		ssize_t l = readlinkat(dirfd(d), e->d_name, link, sizeof link - 1);
		struct sockaddr_storage os;
		struct reuse_subject osub;
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
		if (i == nc || (dup = take_fd(&c->t, atoi(e->d_name))) < 0)
			continue;
		/* the same socket (cookie), bound on this port, overlapping */
		if (getsockopt(dup, SOL_SOCKET, SO_COOKIE, &cookie, &cl) < 0 ||
		    cookie != cand[i]->cookie || !local_addr(dup, &os) ||
		    port_of(&os) != port_of(ss)) {
			close(dup);
			continue;
		}
		subject_from_addr(&os, cand[i]->s.proto, &osub);
		if (!explain_overlap(s->family, s->addr, me_v6only, osub.family, osub.addr,
				     osub.family == AF_INET6 && v6only(dup))) {
			close(dup);
			continue;
		}
		ra &= cand[i]->s.asked_ra;
		rp &= cand[i]->s.asked_rp && !cand[i]->s.keyed;
		dups[m++] = dup;
	}
	closedir(d);
	if (m && (ra || rp)) {
		if (plan->exclusive)
			dups[m++] = c->dup;       /* this one borrows too */
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (int i = 0; i < m; i++) {
			if (ra)
				setsockopt(dups[i], SOL_SOCKET, SO_REUSEADDR, &(int){ 1 }, sizeof(int));
			if (rp)
				setsockopt(dups[i], SOL_SOCKET, SO_REUSEPORT, &(int){ 1 }, sizeof(int));
		}
		ret = bind(c->dup, (const struct sockaddr *)ss, len);
		*err = ret < 0 ? errno : 0;
		for (int i = 0; i < m; i++) {
			if (ra)
				setsockopt(dups[i], SOL_SOCKET, SO_REUSEADDR, &(int){ 0 }, sizeof(int));
			if (rp)
				setsockopt(dups[i], SOL_SOCKET, SO_REUSEPORT, &(int){ 0 }, sizeof(int));
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (plan->exclusive)
			m--;
		explain_lent(msg, mlen, m, plan->exclusive, ra, rp,
			     (t1.tv_sec - t0.tv_sec) * 1000000L + (t1.tv_nsec - t0.tv_nsec) / 1000);
	}
	for (int i = 0; i < m; i++)
		close(dups[i]);
	return ret;
}

static const char continued_msg[] =
	"its credentials differ from the supervisor's: the call continued in the target, result not seen";

/*
 * on_bind - bind(fd, addr, len). The address is read once, and when we
 * make the call ourselves it is exactly what was decided on.
 */
static void on_bind(struct call *c)
{
	uint64_t ptr = c->req->data.args[1];
	socklen_t len = (socklen_t)c->req->data.args[2];
	struct sockaddr_storage ss;
	struct reuse_subject subj;
	struct reuse_plan plan;
	struct tracked *k = c->k;
	char msg[768];
	const char *note = NULL;
	size_t need = k->s.family == AF_INET ? sizeof(struct sockaddr_in)
					      : sizeof(struct sockaddr_in6);
	int ret, err, retried;

	memset(&ss, 0, sizeof ss);
	if (len < need || len > sizeof ss || !mem_read(c->t.tid, ptr, &ss, need))
		return proceed(c);        /* the kernel says EINVAL/EFAULT */
	if (k->s.family == AF_INET && ss.ss_family == AF_UNSPEC &&
	    ((struct sockaddr_in *)&ss)->sin_addr.s_addr == htonl(INADDR_ANY))
		ss.ss_family = AF_INET;   /* the kernel takes this as 0.0.0.0 */
	if (ss.ss_family != k->s.family)
		return proceed(c);
	if (!still_valid(c))
		return;
	if (k->s.rule != SOCK_UNDECIDED && has_port(c->dup)) {
		/* already bound: the kernel says EINVAL; the rule holds */
		ret = bind(c->dup, (struct sockaddr *)&ss, len);
		err = ret < 0 ? errno : 0;
		if (wants(k->s.log, REUSE_LOG_DECISIONS))
			log_call(c, "bind", &ss, err, NULL,
				 "socket already bound: the rule chosen at its first bind() holds");
		return answer(c, err);
	}
	subject_from_addr(&ss, k->s.proto, &subj);
	if ((err = decide(c, &subj, &plan))) {
		if (wants(k->s.log, REUSE_LOG_DECISIONS))
			log_call(c, "bind", &ss, err, NULL, reuse_cfg.fail_closed ?
				 "policy did not parse and says on-error closed" : NULL);
		k->s.rule = SOCK_UNDECIDED;
		return answer(c, err);
	}
	if (!c->t.same_creds) {
		if (wants(k->s.log, REUSE_LOG_DECISIONS))
			log_call(c, "bind", &ss, 0, "continued", continued_msg);
		return proceed(c);
	}
	ret = bind(c->dup, (struct sockaddr *)&ss, len);
	err = ret < 0 ? errno : 0;
	if (err == EADDRINUSE && plan.rule && !dry(plan.rule) &&
	    (retried = lend_own(c, &ss, len, &subj, &plan, &err, msg, sizeof msg)) != -2) {
		ret = retried;
		note = msg;
	}
	if (err == EADDRINUSE) {
		bool passed = false;

		/* an exclusive socket passes the TIME_WAIT its own last run left,
		 * with SO_REUSEADDR lent to this bind (and to its listen) */
		explain_in_use_msg(c->dup, k->s.proto, (struct sockaddr *)&ss, len,
				   &subj, plan.rule && !dry(plan.rule) ? EXPLAIN_CLEAR |
				   (plan.exclusive ? EXPLAIN_EXCL : 0) : 0, msg,
				   sizeof msg, &retried, &err, &passed);
		k->s.tw_pass = passed;
		note = msg;
	}
	if (!err) {
		k->s.bound = 1;
		k->s.exclusive = plan.exclusive;
	} else {
		set_flag(c->dup, SO_REUSEADDR, k->s.asked_ra);
		set_flag(c->dup, SO_REUSEPORT, k->s.asked_rp);
	}
	if (wants(k->s.log, REUSE_LOG_DECISIONS))
		log_call(c, "bind", &ss, err, NULL, note);
	if (err)
		k->s.rule = SOCK_UNDECIDED;
	answer(c, err);
}

/*
 * on_listen - as the shim: a socket never decided is decided now (an
 * unbound one is first bound as the kernel would, wildcard and port 0); a
 * decided one has its rule's options asserted again, since clearing
 * SO_REUSEPORT after listen() is too late.
 */
static void on_listen(struct call *c)
{
	struct tracked *k = c->k;
	struct sockaddr_storage ss;
	struct reuse_subject subj;
	struct reuse_plan plan;
	const struct reuse_rule *r;
	const char *note = NULL;
	char msg[768];
	unsigned need = REUSE_LOG_ALL;
	int ret, err, retried;
	struct timespec t0 = { 0, 0 };
	bool excl;

	if (!k->s.listening && k->s.rule == SOCK_UNDECIDED)
		k->s.listening = sys_getflag(c->dup, SO_ACCEPTCONN) > 0;
	if (k->s.listening || k->s.proto != REUSE_P_TCP)
		return proceed(c);
	if (!still_valid(c))
		return;
	if (k->s.rule == SOCK_UNDECIDED) {
		if (!has_port(c->dup)) {
			memset(&ss, 0, sizeof ss);
			ss.ss_family = k->s.family;
			bind(c->dup, (struct sockaddr *)&ss, k->s.family == AF_INET ?
			     sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
			note = "listen() on an unbound socket: matched on the port the kernel chose";
		} else {
			note = "bound before the supervisor saw it: decided at listen()";
		}
		if (!local_addr(c->dup, &ss))
			return proceed(c);
		k->s.bound = 1;
		subject_from_addr(&ss, k->s.proto, &subj);
		need = REUSE_LOG_DECISIONS;
		if ((err = decide(c, &subj, &plan))) {
			if (wants(k->s.log, need))
				log_call(c, "listen", &ss, err, NULL, note);
			return answer(c, err);
		}
		k->s.exclusive = plan.exclusive;
	} else if ((r = rule_of(k)) && !dry(r)) {
		plan_of(r, k, &plan);
		if ((plan.ra >= 0 && sys_getflag(c->dup, SO_REUSEADDR) != plan.ra) ||
		    (plan.rp >= 0 && sys_getflag(c->dup, SO_REUSEPORT) != plan.rp)) {
			set_flag(c->dup, SO_REUSEADDR, plan.ra);
			set_flag(c->dup, SO_REUSEPORT, plan.rp);
			note = "options changed behind the supervisor since bind(): re-applied the rule before listen()";
			need = REUSE_LOG_DECISIONS;
		}
	}
	if (!c->t.same_creds) {
		k->s.listening = 1;
		if (wants(k->s.log, need))
			log_call(c, "listen", NULL, 0, "continued", continued_msg);
		return proceed(c);
	}
	/* as the shim's apply_listen: an exclusive listener holds SO_REUSEADDR
	 * from listen() on (nobody can bind over a listening socket on Linux,
	 * and its TIME_WAIT entries will let the next exclusive run bind); one
	 * that passed such entries needs it for listen() itself */
	excl = k->s.exclusive && (r = rule_of(k)) && r->exclusive;
	if (excl && k->s.tw_pass) {
		sys_setflag(c->dup, SO_REUSEADDR, 1);
		clock_gettime(CLOCK_MONOTONIC, &t0);
	}
	ret = listen(c->dup, (int)c->req->data.args[1]);
	err = ret < 0 ? errno : 0;
	if (excl) {
		struct timespec t1;
		long us = 0;

		if (k->s.tw_pass) {
			clock_gettime(CLOCK_MONOTONIC, &t1);
			us = (t1.tv_sec - t0.tv_sec) * 1000000L + (t1.tv_nsec - t0.tv_nsec) / 1000;
		}
		sys_setflag(c->dup, SO_REUSEADDR, ret == 0);
		if (ret == 0 && !note) {
			snprintf(msg, sizeof msg, k->s.tw_pass ?
				 "exclusive: SO_REUSEADDR lent for listen() past TIME_WAIT (%ld us) and kept: a listening socket's SO_REUSEADDR lets nobody bind over it, and its TIME_WAIT entries will let the next exclusive run bind" :
				 "exclusive: SO_REUSEADDR on from listen() on: a listening socket's SO_REUSEADDR lets nobody bind over it, and its TIME_WAIT entries will let the next exclusive run bind",
				 us);
			note = msg;
			need = REUSE_LOG_DECISIONS;
		}
	}
	if (!err)
		k->s.listening = 1;
	if (!local_addr(c->dup, &ss))
		memset(&ss, 0, sizeof ss);
	if (err == EADDRINUSE && ss.ss_family) {
		subject_from_addr(&ss, k->s.proto, &subj);
		explain_in_use_msg(c->dup, k->s.proto, NULL, 0, &subj, 0, msg,
				   sizeof msg, &retried, &err, NULL);
		note = msg;
	}
	if (err)
		need = REUSE_LOG_DECISIONS;
	if (wants(k->s.log, need))
		log_call(c, "listen", ss.ss_family ? &ss : NULL, err, NULL, note);
	answer(c, err);
}

/*
 * on_setsockopt - SO_REUSEADDR/SO_REUSEPORT (the filter passes no other).
 * Before the rule is chosen the call goes through untouched; after, the
 * rule decides (decide.c): refused, held (success without reaching the
 * kernel), or made here on the duplicate.
 */
static void on_setsockopt(struct call *c)
{
	struct tracked *k = c->k;
	int name = (int)c->req->data.args[2], v = 0, ret, err;
	socklen_t len = (socklen_t)c->req->data.args[4];
	bool is_rp = name == SO_REUSEPORT, to_kernel;
	char note[160];

	if (k->s.rule == SOCK_UNDECIDED || len < (socklen_t)sizeof v ||
	    !mem_read(c->t.tid, c->req->data.args[3], &v, sizeof v))
		return proceed(c);
	if (!still_valid(c))
		return;
	err = reuse_decide_setopt(rule_of(k), is_rp, v != 0, &to_kernel);
	if (dry(rule_of(k))) {
		err = 0;
		to_kernel = true;
	}
	if (!err && to_kernel) {
		ret = sys_setflag(c->dup, name, v != 0);
		err = ret < 0 ? errno : 0;
	}
	if (!err)
		*(is_rp ? &k->s.asked_rp : &k->s.asked_ra) = v != 0;
	if (wants(k->s.log, to_kernel && !err ? REUSE_LOG_ALL : REUSE_LOG_DECISIONS)) {
		snprintf(note, sizeof note, "program set %s=%d after bind(): %s",
			 is_rp ? "SO_REUSEPORT" : "SO_REUSEADDR", v != 0,
			 err == EPERM && !to_kernel ? "refused" :
			 to_kernel ? "passed to the kernel" : "held by the rule");
		log_call(c, "setsockopt", NULL, err, NULL, note);
	}
	answer(c, err);
}

/*
 * on_getsockopt - a decided socket answers what the program asked for, so
 * `strip` and `force` stay invisible to it (as under the shim): the value
 * is written into the target's buffer and its length set, as the kernel
 * would for an int option.
 */
static void on_getsockopt(struct call *c)
{
	struct tracked *k = c->k;
	int name = (int)c->req->data.args[2], asked, n = 0;
	uint64_t val = c->req->data.args[3], lenp = c->req->data.args[4];

	if (k->s.rule < 0 || !mem_read(c->t.tid, lenp, &n, sizeof n) || n < 0)
		return proceed(c);
	asked = name == SO_REUSEPORT ? k->s.asked_rp : k->s.asked_ra;
	if (n > (int)sizeof asked)
		n = sizeof asked;
	if (!still_valid(c))
		return;
	if (!mem_write(c->t.tid, val, &asked, (size_t)n) ||
	    !mem_write(c->t.tid, lenp, &n, sizeof n))
		return proceed(c);        /* the kernel says EFAULT */
	if (wants(k->s.log, REUSE_LOG_ALL))
		log_call(c, "getsockopt", NULL, 0, NULL, name == SO_REUSEPORT ?
			 "answered SO_REUSEPORT as the program asked" :
			 "answered SO_REUSEADDR as the program asked");
	answer(c, 0);
}

/*
 * supervise_one - answer one notification. Every path answers exactly once
 * (or not at all when the call is no longer pending), so the target never
 * waits on us longer than this function runs.
 */
void supervise_one(int nfd, const struct seccomp_notif *req,
		   struct seccomp_notif_resp *resp)
{
	struct call c = { .nfd = nfd, .req = req, .resp = resp, .dup = -1 };
	int nr = req->data.nr;
	bool bind_like = nr == __NR_bind || nr == __NR_listen;

	c.fd = (int)req->data.args[0];
	if (!read_target((pid_t)req->pid, &c.t) ||
	    (c.dup = take_fd(&c.t, c.fd)) < 0 ||
	    !(c.k = lookup(c.dup, c.t.tid, bind_like))) {
		proceed(&c);
		goto out;
	}
	if (nr == __NR_bind)
		on_bind(&c);
	else if (nr == __NR_listen)
		on_listen(&c);
	else if (nr == __NR_setsockopt)
		on_setsockopt(&c);
	else if (nr == __NR_getsockopt)
		on_getsockopt(&c);
	else
		proceed(&c);
out:
	if (c.dup >= 0)
		close(c.dup);
}

/*
 * supervise_init - the configuration the library would read, from the
 * same variables (`reuse run` has set them from its options): log level,
 * log destination, policy. A policy that does not parse behaves as in the
 * library: logged, then no rule (fail open) or `on-error closed`.
 */
void supervise_init(void)
{
	const char *lv = getenv("REUSE_LOG_LEVEL"), *path = policy_in_force();
	struct stat ns;

	snprintf(reuse_cfg.prog, sizeof reuse_cfg.prog, "reuse");
	snprintf(reuse_cfg.exe, sizeof reuse_cfg.exe, "reuse");
	read_caps(getpid(), my_caps);
	if (stat("/proc/self/ns/user", &ns) == 0)
		my_userns = ns.st_ino;
	read_label("self", my_label, sizeof my_label);
	log_init();
	reuse_cfg.dry_run = getenv("REUSE_DRY_RUN") && strcmp(getenv("REUSE_DRY_RUN"), "1") == 0;
	reuse_cfg.level = !lv || !*lv || !strcmp(lv, "decisions") ? REUSE_LOG_DECISIONS :
			  !strcmp(lv, "off") ? REUSE_LOG_OFF :
			  !strcmp(lv, "all") ? REUSE_LOG_ALL : REUSE_LOG_DECISIONS;
	config_load_policy(path);
	for (size_t i = 0; i < reuse_cfg.policy.nrules; i++)
		policy_names |= reuse_cfg.policy.rules[i].program != NULL;
}
