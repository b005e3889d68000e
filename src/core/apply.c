/*
 * apply.c - the only room that changes a socket's kernel state.
 *
 * Each apply_* takes a whole call from its wrapper: it finds the socket's
 * record, asks decide.c for a plan, sets or clears the options, makes the
 * real call, explains an EADDRINUSE, logs, and returns the kernel's answer
 * with errno exactly as the real call (or the policy) left it.
 *
 * The program's pointers are never dereferenced directly: they are copied
 * with process_vm_readv, so a bad pointer gets the kernel's EFAULT from the
 * real call instead of a crash in here.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>

#include "core/core.h"
#include "core/lock.h"
#include "core/sys.h"
#include "shim/real.h"

/* Copy len bytes the program handed us; false if the memory is not readable. */
static bool safe_copy(void *dst, const void *src, size_t len)
{
	struct iovec local = { dst, len }, remote = { (void *)src, len };
	ssize_t n;

	if (!src)
		return false;
	n = sys_read_self(&local, &remote);
	if (n == (ssize_t)len)
		return true;
	if (n < 0 && (errno == ENOSYS || errno == EPERM)) {
		/* a sandbox forbids it: trust the pointer as libc would */
		memcpy(dst, src, len);
		return true;
	}
	return false;
}

/* Subject for a decision from an INET/INET6 address (v4-mapped → IPv4). */
static void subject_from(const struct sockaddr_storage *ss, unsigned proto,
			 struct reuse_subject *s)
{
	subject_from_addr(ss, proto, s);
	s->prog = reuse_cfg.prog[0] ? reuse_cfg.prog : NULL;
	s->exe = reuse_cfg.exe[0] ? reuse_cfg.exe : NULL;
	s->uid = (long)sys_geteuid();
}

/*
 * read_addr - a well-formed local address for this socket, copied in; false
 * when the kernel would reject it (bad pointer, short, wrong family): the
 * caller then passes the call through untouched for the kernel to answer.
 */
static bool read_addr(const struct reuse_sock *k, const struct sockaddr *addr,
		      socklen_t len, struct sockaddr_storage *ss)
{
	size_t need = k->family == AF_INET ? sizeof(struct sockaddr_in)
					   : sizeof(struct sockaddr_in6);

	/* nothing reads past the largest address we take */
	memset(ss, 0, sizeof(struct sockaddr_in6));
	/* the kernel refuses lengths over sockaddr_storage with EINVAL */
	if (len < need || len > sizeof *ss || !safe_copy(ss, addr, need))
		return false;
	if (k->family == AF_INET && ss->ss_family == AF_UNSPEC &&
	    ((struct sockaddr_in *)ss)->sin_addr.s_addr == htonl(INADDR_ANY)) {
		ss->ss_family = AF_INET;   /* the kernel takes this as 0.0.0.0 */
		return true;
	}
	return ss->ss_family == k->family;
}

static bool local_addr(int fd, struct sockaddr_storage *ss)
{
	socklen_t len = sizeof *ss;

	return sys_getsockname(fd, (struct sockaddr *)ss, &len) == 0 &&
	       (ss->ss_family == AF_INET || ss->ss_family == AF_INET6);
}

/* Whether a line at `need` is wanted for a socket whose level is `have`. */
static bool wants(unsigned have, unsigned need)
{
	return reuse_cfg.level != REUSE_LOG_OFF && have >= need;
}

/* Set a boolean option to `want` (-1: leave it) if the kernel differs. */
static void set_flag(int fd, int name, int want)
{
	if (want >= 0 && sys_getflag(fd, name) != want)
		sys_setflag(fd, name, want);
}

/* The plan for k's rule, as the program asked and the process may. */
static inline __attribute__((always_inline)) void plan_for(const struct reuse_rule *r, const struct reuse_sock *k,
		     struct reuse_plan *plan)
{
	struct reuse_ask ask = { .ra = k->asked_ra, .rp = k->asked_rp,
				 .proto = k->proto };

	/* only exclusive with SO_REUSEPORT asked, or reuseport=force, keys */
	ask.can_key = reuse_may_key(r, k->asked_rp) &&
		      (k->keyed || sys_have_cap(CAP_CHOWN));
	reuse_decide_bind(r, &ask, plan);
}

/*
 * plan_keep / plan_kept - the kernel values a bind()'s plan set, kept in
 * one byte of the record with what the program had asked, so that
 * listen() re-asserts them without deciding again. For a TCP socket they
 * depend only on the rule and what was asked (keyed or not, an exclusive
 * socket that asked SO_REUSEPORT keeps it); a later setsockopt() changes
 * what was asked, and the plan is then made afresh.
 */
static uint8_t plan_asked(const struct reuse_sock *k)
{
	return (uint8_t)(4 | k->asked_ra | k->asked_rp << 1);
}

static void plan_keep(struct reuse_sock *k, const struct reuse_plan *plan)
{
	k->plan = (uint8_t)((plan->ra + 1) | (plan->rp + 1) << 2 | plan_asked(k) << 4);
}

static bool plan_kept(const struct reuse_sock *k, struct reuse_plan *plan)
{
	if (k->plan >> 4 != plan_asked(k))
		return false;
	plan->ra = (int8_t)((k->plan & 3) - 1);
	plan->rp = (int8_t)((k->plan >> 2 & 3) - 1);
	return true;
}

/*
 * key_socket - give the socket REUSE_KEY_UID, so that only sockets libreuse
 * keyed match its SO_REUSEPORT group. False when the kernel says no (an
 * unmapped uid in a user namespace): the caller plans again without a key.
 */
static bool key_socket(int fd, struct reuse_sock *k)
{
	struct stat st;

	if (k->keyed)
		return true;
	if (sys_fstat(fd, &st) < 0 || sys_fchown(fd, REUSE_KEY_UID, (gid_t)-1) < 0)
		return false;
	k->owner = (uint32_t)st.st_uid;
	k->keyed = 1;
	return true;
}

/* The socket goes back to its owner (a bind that failed, undecided again). */
static void unkey_socket(int fd, struct reuse_sock *k)
{
	if (k->keyed && sys_fchown(fd, k->owner, (gid_t)-1) == 0)
		k->keyed = 0;
}

/* A dry run (REUSE_DRY_RUN=1, or the rule's dry-run) decides and logs, and
 * changes nothing: the kernel sees exactly what the program asked. */
static bool dry(const struct reuse_rule *r)
{
	return reuse_cfg.dry_run || (r && r->dry_run);
}

/*
 * decide_at_bind - choose the socket's rule and prepare the kernel state
 * before the address is taken. Returns 0 or the errno the policy refuses
 * the call with.
 */
static int decide_at_bind(int fd, struct reuse_sock *k,
			  const struct reuse_subject *subj, struct reuse_plan *plan)
{
	const struct reuse_rule *r = NULL;
	/* Until a rule is chosen the shim leaves the options alone, so the
	 * kernel holds exactly what the program asked, through any of the
	 * socket's fds (a setsockopt() through a dup() updates only that fd's
	 * record): take it from there. */
	int ra = sys_getflag(fd, SO_REUSEADDR), rp = sys_getflag(fd, SO_REUSEPORT);

	if (ra >= 0)
		k->asked_ra = (uint8_t)ra;
	if (rp >= 0)
		k->asked_rp = (uint8_t)rp;
	if (!reuse_cfg.fail_closed)
		r = reuse_policy_match(&reuse_cfg.policy, subj);
	plan_for(r, k, plan);
	k->rule = r ? (int32_t)(r - reuse_cfg.policy.rules) : SOCK_UNMATCHED;
	k->log = r ? r->log : reuse_cfg.level == REUSE_LOG_ALL ? REUSE_LOG_ALL
							      : REUSE_LOG_OFF;
	if (reuse_cfg.fail_closed) {
		plan->err = EACCES;
		k->log = REUSE_LOG_DECISIONS;
	}
	if (dry(r)) {
		plan->err = 0;
		plan->ra = plan->rp = -1;
		plan->key = plan->exclusive = false;
	}
	if (plan->key && !key_socket(fd, k)) {
		struct reuse_ask ask = { k->asked_ra, k->asked_rp, k->proto, false };
		reuse_decide_bind(r, &ask, plan);
	}
	if (plan->err)
		return plan->err;
	plan_keep(k, plan);
	if (plan->ra >= 0 && plan->ra != ra)
		sys_setflag(fd, SO_REUSEADDR, plan->ra);
	if (plan->rp >= 0 && plan->rp != rp)
		sys_setflag(fd, SO_REUSEPORT, plan->rp);
	return 0;
}

/*
 * undo_options - a bind that failed leaves the socket unbound: put the
 * options back as the program asked; its next bind() decides afresh
 * (the caller resets the rule once the line is logged).
 */
static void undo_options(int fd, struct reuse_sock *k)
{
	set_flag(fd, SO_REUSEADDR, k->asked_ra);
	set_flag(fd, SO_REUSEPORT, k->asked_rp);
	unkey_socket(fd, k);
}

/* The option/asked/action words of a log line for a socket's rule. */
struct words {
	char option[32], asked[16], action[24];
};

/* Copy a word into a fixed field, cut to fit (snprintf's "%s" without
 * its cost: this runs for every logged decision). */
static void word(char *dst, size_t size, const char *a, const char *b)
{
	size_t n = 0;

	for (; *a && n + 1 < size; a++)
		dst[n++] = *a;
	if (b && n + 1 < size)
		dst[n++] = ',';
	for (; b && *b && n + 1 < size; b++)
		dst[n++] = *b;
	dst[n] = '\0';
}

static void describe(const struct reuse_sock *k, const struct reuse_rule *r,
		     struct words *w)
{
	const char *ra = k->asked_ra ? "on" : "off", *rp = k->asked_rp ? "on" : "off";

	word(w->option, sizeof w->option, "SO_REUSEADDR,SO_REUSEPORT", NULL);
	word(w->asked, sizeof w->asked, ra, rp);
	if (reuse_cfg.fail_closed) {
		word(w->action, sizeof w->action, "deny", NULL);
	} else if (!r) {
		word(w->action, sizeof w->action, "none", NULL);
	} else if (r->deny) {
		word(w->action, sizeof w->action, "deny", NULL);
	} else if (r->exclusive) {
		word(w->action, sizeof w->action, "exclusive", NULL);
	} else if (r->reuseaddr != REUSE_KEEP && r->reuseport == REUSE_KEEP) {
		word(w->option, sizeof w->option, "SO_REUSEADDR", NULL);
		word(w->asked, sizeof w->asked, ra, NULL);
		word(w->action, sizeof w->action, reuse_act_name(r->reuseaddr), NULL);
	} else if (r->reuseaddr == REUSE_KEEP && r->reuseport != REUSE_KEEP) {
		word(w->option, sizeof w->option, "SO_REUSEPORT", NULL);
		word(w->asked, sizeof w->asked, rp, NULL);
		word(w->action, sizeof w->action, reuse_act_name(r->reuseport), NULL);
	} else {
		word(w->action, sizeof w->action, reuse_act_name(r->reuseaddr),
		     reuse_act_name(r->reuseport));
	}
}

static void fill_event(struct reuse_event *ev, const char *call, int fd,
		       const struct reuse_sock *k, const struct sockaddr_storage *ss,
		       struct words *w, int result, const char *msg,
		       struct sockaddr_storage *mine)
{
	const struct reuse_rule *r = sock_rule(k);

	if (!ss && local_addr(fd, mine))
		ss = mine;

	describe(k, r, w);
	memset(ev, 0, sizeof *ev);
	ev->call = call;
	ev->fd = fd;
	ev->sock = k;
	ev->addr = (const struct sockaddr *)ss;
	ev->rule = r;
	if (reuse_cfg.fail_closed)
		ev->rule_text = "on-error closed";
	ev->option = w->option;
	ev->asked = w->asked;
	ev->action = w->action;
	ev->result = result;
	ev->msg = msg;
	ev->ra_now = sys_getflag(fd, SO_REUSEADDR);
	ev->rp_now = sys_getflag(fd, SO_REUSEPORT);
}

static void log_call(const char *call, int fd, const struct reuse_sock *k,
		     const struct sockaddr_storage *ss, int result, const char *msg)
{
	struct reuse_event ev;
	struct sockaddr_storage mine;
	struct words w;

	fill_event(&ev, call, fd, k, ss, &w, result, msg, &mine);
	log_event(&ev);
}

static bool is_v6only(int fd, const struct reuse_sock *k)
{
	int v = 0;
	socklen_t l = sizeof v;

	return k->family == AF_INET6 &&
	       sys_getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v, &l) == 0 && v;
}

/*
 * explain_in_use - explain.c's sentence and TIME_WAIT remedies for this
 * socket: clearing only under a rule that is not a dry run, the exclusive
 * pass only for an exclusive socket (which then needs SO_REUSEADDR for its
 * listen() too, see apply_listen). plan NULL: listen(), explain only.
 */
static void explain_in_use(int fd, struct reuse_sock *k,
			   const struct sockaddr *addr, socklen_t len,
			   const struct reuse_subject *s, const struct reuse_plan *plan,
			   char *msg, size_t mlen, int *retried, int *err)
{
	unsigned how = 0;
	bool passed = false;

	if (plan && plan->rule && !dry(plan->rule))
		how |= EXPLAIN_CLEAR | (plan->exclusive ? EXPLAIN_EXCL : 0);
	explain_in_use_msg(fd, k->proto, addr, len, s, how, msg, mlen, retried, err,
			   &passed);
	if (passed)
		k->tw_pass = 1;
}

/* Microseconds since *t0. */
static long since_us(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000000L + (t1.tv_nsec - t0->tv_nsec) / 1000;
}

/* A duplicate of fd at a high number, if fd is still the socket with ino. */
static int dup_checked(int fd, uint64_t ino)
{
	struct stat st;
	int d = sys_fcntl(fd, F_DUPFD_CLOEXEC, 512);

	if (d >= 0 && (sys_fstat(d, &st) < 0 || (uint64_t)st.st_ino != ino)) {
		sys_close(d);
		d = -1;
	}
	return d;
}

/*
 * lend_and_bind - the program's own sockets may overlap one another as it
 * asked, even under `exclusive` (spec). The kernel sees neither option on
 * its exclusive sockets, so a bind the program expected to share fails.
 * When overlapping exclusive sockets of this process exist and the program
 * asked the same option on both sides, the option is lent to them (and to
 * this socket, if exclusive too) for the length of one bind() and taken
 * back. This is the window another process could use: it is measured and
 * logged. SO_REUSEPORT is lent to UDP only: a TCP bind bucket would keep a
 * lent SO_REUSEPORT open to same-uid joiners (exclusive TCP sockets that
 * share keep it, see decide.c). The lending works on duplicates of the fds
 * under the shim's lock: a thread may close the program's fd meanwhile.
 * Returns the bind's result, or -2 when there was nothing to lend.
 */
static int lend_and_bind(int fd, struct reuse_sock *k, const struct sockaddr *addr,
			 socklen_t len, const struct reuse_subject *s,
			 const struct reuse_plan *plan, int *err, char *msg, size_t mlen)
{
	int fds[LEND_MAX], dups[LEND_MAX + 1], n, m = 0, ret = -2;
	bool ra = k->asked_ra, rp = k->asked_rp && k->proto == REUSE_P_UDP;
	bool v6only = is_v6only(fd, k);
	struct timespec t0;
	long us;

	n = sock_excl_list(k->proto, s->port, fd, fds, LEND_MAX);
	for (int i = 0; i < n; i++) {
		struct reuse_sock *o = sock_get(fds[i]);
		struct sockaddr_storage ss;
		struct reuse_subject os;
		int d;

		if (!o || !local_addr(fds[i], &ss))
			continue;
		subject_from(&ss, o->proto, &os);
		if (!explain_overlap(s->family, s->addr, v6only, os.family, os.addr,
				     is_v6only(fds[i], o)))
			continue;
		ra &= o->asked_ra;
		rp &= o->asked_rp && !o->keyed;
		if ((d = dup_checked(fds[i], o->ino)) >= 0)
			dups[m++] = d;
	}
	if (m && (ra || rp)) {
		if (plan->exclusive)
			dups[m++] = fd;           /* this one borrows too */
		reuse_lock();
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (int i = 0; i < m; i++) {
			if (ra)
				sys_setflag(dups[i], SO_REUSEADDR, 1);
			if (rp)
				sys_setflag(dups[i], SO_REUSEPORT, 1);
		}
		ret = real_bind(fd, addr, len);
		*err = ret < 0 ? errno : 0;
		for (int i = 0; i < m; i++) {
			if (ra)
				sys_setflag(dups[i], SO_REUSEADDR, 0);
			if (rp)
				sys_setflag(dups[i], SO_REUSEPORT, 0);
		}
		us = since_us(&t0);
		reuse_unlock();
		if (plan->exclusive)
			m--;
		explain_lent(msg, mlen, m, plan->exclusive, ra, rp, us);
	}
	for (int i = 0; i < m; i++)
		sys_close(dups[i]);
	return ret;
}

static uint16_t port_of(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET ? ((const struct sockaddr_in *)ss)->sin_port
					: ((const struct sockaddr_in6 *)ss)->sin6_port;
}

/*
 * rebind - bind() on a socket that already holds an address: the kernel
 * answers EINVAL. The rule chosen at the first bind() holds; the options
 * are not touched, so a failing call cannot undo the policy.
 */
static int rebind(int fd, const struct reuse_sock *k, const struct sockaddr *addr,
		  socklen_t len, const struct sockaddr_storage *ss)
{
	int ret = real_bind(fd, addr, len), saved = errno;

	if (wants(k->log, REUSE_LOG_DECISIONS))
		log_call("bind", fd, k, ss, ret < 0 ? saved : 0,
			 "socket already bound: the rule chosen at its first bind() holds");
	errno = saved;
	return ret;
}

/*
 * bind_done - the rest of apply_bind, out of line: adopt a socket passed by
 * socket activation (when `tried` is false, the real bind() has not been
 * made yet), lend options for the program's own overlapping binds, take a
 * running instance's socket, explain an EADDRINUSE, keep what the plan
 * asked for, log.
 */
static __attribute__((noinline)) int
bind_done(int fd, struct reuse_sock *k, const struct sockaddr *addr, socklen_t len,
	  const struct sockaddr_storage *ss, const struct reuse_subject *subj,
	  struct reuse_plan *plan, bool tried, int ret, int saved, int entry_errno)
{
	char msg[1600], hmsg[600];
	const char *note = NULL;
	struct reuse_sock *nk;
	int err, retried;
	bool handoff = plan->rule && plan->rule->handoff && !dry(plan->rule);

	/* handoff.c: a socket passed by socket activation holds the address */
	if (!tried && (nk = handoff_adopt(fd, k, ss, hmsg, sizeof hmsg))) {
		k = nk;
		ret = 0;
		saved = entry_errno;       /* a success leaves errno as it was */
		note = hmsg;
	} else if (!tried) {
		ret = real_bind(fd, addr, len);
		saved = errno;
	}
	err = ret < 0 ? saved : 0;
	if (err == EADDRINUSE && plan->rule && !dry(plan->rule)) {
		retried = lend_and_bind(fd, k, addr, len, subj, plan, &err, msg,
					sizeof msg);
		if (retried != -2) {
			ret = retried;
			saved = err ? err : saved;
			note = msg;
		}
	}
	/* handoff.c: a running instance of this uid holds it: take its socket */
	if (err == EADDRINUSE && handoff && (nk = handoff_take(fd, k, ss, hmsg, sizeof hmsg))) {
		k = nk;
		ret = err = 0;
		saved = entry_errno;
		note = hmsg;
	}
	if (err == EADDRINUSE) {
		explain_in_use(fd, k, addr, len, subj, plan, msg, sizeof msg,
			       &retried, &err);
		if (retried >= 0) {
			ret = retried;
			saved = err ? err : saved;
		}
		if (err == EADDRINUSE)
			explain_detail(fd, subj, msg, sizeof msg);
		if (err == EADDRINUSE && handoff)
			snprintf(msg + strlen(msg), sizeof msg - strlen(msg), " | %s", hmsg);
		note = msg;
	}
	if (ret == 0) {
		k->bound = 1;
		k->exclusive = plan->exclusive;
		if (plan->exclusive)
			sock_excl_add(fd, k);
		if (plan->joinable && !note)
			note = plan->exclusive ?
			       "exclusive, but the program shares this port through SO_REUSEPORT: same-uid processes can join (give the process CAP_CHOWN to key the group)" :
			       "SO_REUSEPORT forced: instances share the port, and so can any process of this uid (give the process CAP_CHOWN to key the group)";
		else if (plan->key && !note)
			note = plan->exclusive ?
			       "exclusive; SO_REUSEPORT kept for the program's own sockets, keyed (owner uid 2147483646): no other process can join" :
			       "SO_REUSEPORT forced, keyed (owner uid 2147483646): instances under libreuse with CAP_CHOWN share the port, no other process can join";
		if (handoff)
			handoff_serve(fd, k);
	} else {
		undo_options(fd, k);
	}
	if (wants(k->log, REUSE_LOG_DECISIONS))
		log_call("bind", fd, k, ss, err, note);
	if (ret < 0)
		k->rule = SOCK_UNDECIDED;
	/* a success leaves errno as the program had it, whatever ran inside */
	errno = ret == 0 ? entry_errno : saved;
	return ret;
}

/*
 * apply_bind - match the address, prepare the options, bind. A plain
 * success with nothing to log or keep returns here; everything else
 * (failures, exclusive, keyed, handoff, logging) is bind_done's.
 */
int apply_bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	struct reuse_sock *k = sock_get_or_add(fd);
	struct sockaddr_storage ss, mine;
	struct reuse_subject subj;
	struct reuse_plan plan;
	int ret, err, entry_errno = errno;

	if (!k || !read_addr(k, addr, len, &ss))
		return real_bind(fd, addr, len);
	if (k->bound && k->rule != SOCK_UNDECIDED && local_addr(fd, &mine) &&
	    port_of(&mine))
		return rebind(fd, k, addr, len, &ss);
	subject_from(&ss, k->proto, &subj);
	err = decide_at_bind(fd, k, &subj, &plan);
	if (err) {
		if (wants(k->log, REUSE_LOG_DECISIONS))
			log_call("bind", fd, k, &ss, err, reuse_cfg.fail_closed ?
				 "policy did not parse and says on-error closed" : NULL);
		k->rule = SOCK_UNDECIDED;
		errno = err;
		return -1;
	}
	if (__atomic_load_n(&handoff_nact, __ATOMIC_RELAXED) && !dry(plan.rule))
		return bind_done(fd, k, addr, len, &ss, &subj, &plan, false, 0, 0,
				 entry_errno);
	ret = real_bind(fd, addr, len);
	if (ret == 0 && !plan.exclusive && !plan.joinable && !plan.key &&
	    !(plan.rule && plan.rule->handoff) && !wants(k->log, REUSE_LOG_DECISIONS)) {
		k->bound = 1;
		k->exclusive = 0;
		errno = entry_errno;
		return 0;
	}
	return bind_done(fd, k, addr, len, &ss, &subj, &plan, true, ret, errno,
			 entry_errno);
}

/*
 * options_hold - the kernel still holds what k's bind() plan set. A
 * setsockopt() since then that changed what was asked, or anything behind
 * our back, makes it false.
 */
static inline bool options_hold(int fd, const struct reuse_sock *k)
{
	struct reuse_plan plan;

	return plan_kept(k, &plan) &&
	       (plan.ra < 0 || sys_getflag(fd, SO_REUSEADDR) == plan.ra) &&
	       (plan.rp < 0 || sys_getflag(fd, SO_REUSEPORT) == plan.rp);
}

/*
 * listen_done - after the real listen(): explain an EADDRINUSE, log at
 * `need` (a failure always at decisions), leave errno as the call did.
 */
static int listen_done(int fd, struct reuse_sock *k, int ret, int saved,
		       const char *note, unsigned need)
{
	struct reuse_subject subj;
	struct sockaddr_storage ss;
	char msg[1600];
	int err = ret < 0 ? saved : 0;

	/* the address is for the explanation and the log line only */
	ss.ss_family = 0;
	if ((err || wants(k->log, REUSE_LOG_DECISIONS)) && !local_addr(fd, &ss))
		ss.ss_family = 0;
	if (err == EADDRINUSE && ss.ss_family) {
		int retried;
		subject_from(&ss, k->proto, &subj);
		explain_in_use(fd, k, NULL, 0, &subj, NULL, msg, sizeof msg,
			       &retried, &err);
		explain_detail(fd, &subj, msg, sizeof msg);
		note = msg;
	}
	if (err)
		need = REUSE_LOG_DECISIONS;
	if (wants(k->log, need))
		log_call("listen", fd, k, ss.ss_family ? &ss : NULL, err, note);
	errno = saved;
	return ret;
}

/* listen_slow - apply_listen for everything but the common case. */
static __attribute__((noinline)) int listen_slow(int fd, struct reuse_sock *k, int backlog)
{
	struct sockaddr_storage ss;
	struct reuse_subject subj;
	struct reuse_plan plan;
	const struct reuse_rule *r;
	const char *note = NULL, *shared;
	char msg[1600], both[1900];
	unsigned need = REUSE_LOG_ALL;
	int ret, err, saved;
	struct timespec t0;
	bool excl;

	if (k->rule == SOCK_UNDECIDED) {
		if (!k->bound) {
			/* the kernel would bind the wildcard, port 0: do it first,
			 * so the rule is chosen and applied before listening */
			memset(&ss, 0, sizeof ss);
			ss.ss_family = k->family;
			sys_bind(fd, (struct sockaddr *)&ss, k->family == AF_INET ?
				 sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
			note = "listen() on an unbound socket: matched on the port the kernel chose";
		} else {
			note = "bound before libreuse saw it: decided at listen()";
		}
		if (!local_addr(fd, &ss))
			return real_listen(fd, backlog);
		k->bound = 1;
		subject_from(&ss, k->proto, &subj);
		err = decide_at_bind(fd, k, &subj, &plan);
		need = REUSE_LOG_DECISIONS;
		if (err) {
			if (wants(k->log, need))
				log_call("listen", fd, k, &ss, err, note);
			errno = err;
			return -1;
		}
		k->exclusive = plan.exclusive && !dry(plan.rule);
		if (k->exclusive)
			sock_excl_add(fd, k);
	} else if ((r = sock_rule(k)) && !dry(r)) {
		if (!plan_kept(k, &plan))
			plan_for(r, k, &plan);
		if ((plan.ra >= 0 && sys_getflag(fd, SO_REUSEADDR) != plan.ra) ||
		    (plan.rp >= 0 && sys_getflag(fd, SO_REUSEPORT) != plan.rp)) {
			set_flag(fd, SO_REUSEADDR, plan.ra);
			set_flag(fd, SO_REUSEPORT, plan.rp);
			note = "options changed behind libreuse since bind(): re-applied the rule before listen()";
			need = REUSE_LOG_DECISIONS;
		}
	}
	/*
	 * An exclusive listener holds SO_REUSEADDR once it listens: on Linux
	 * that lets nobody bind over a listening socket, and the TIME_WAIT
	 * entries its connections leave carry it, so the next exclusive run
	 * passes them (explain_in_use). A socket that passed such entries needs
	 * it for listen() itself, which checks them again: the window is the
	 * listen() call, measured.
	 */
	excl = k->exclusive && (r = sock_rule(k)) && r->exclusive;
	if (excl && k->tw_pass) {
		sys_setflag(fd, SO_REUSEADDR, 1);
		clock_gettime(CLOCK_MONOTONIC, &t0);
	}
	ret = real_listen(fd, backlog);
	saved = errno;
	err = ret < 0 ? saved : 0;
	if (excl) {
		long us = k->tw_pass ? since_us(&t0) : 0;
		sys_setflag(fd, SO_REUSEADDR, ret == 0);
		if (ret == 0 && !note) {
			snprintf(msg, sizeof msg, k->tw_pass ?
				 "exclusive: SO_REUSEADDR lent for listen() past TIME_WAIT (%ld us) and kept: a listening socket's SO_REUSEADDR lets nobody bind over it, and its TIME_WAIT entries will let the next exclusive run bind" :
				 "exclusive: SO_REUSEADDR on from listen() on: a listening socket's SO_REUSEADDR lets nobody bind over it, and its TIME_WAIT entries will let the next exclusive run bind",
				 us);
			note = msg;
			need = REUSE_LOG_DECISIONS;
		}
	}
	if (ret == 0)
		k->listening = 1;
	if (ret == 0 && (r = sock_rule(k)) && r->reuseport == REUSE_FORCE && !r->exclusive &&
	    !dry(r) && (shared = handoff_migrate_note())) {
		snprintf(both, sizeof both, "%.1500s%s%s", note ? note : "", note ? "; " : "",
			 shared);
		note = both;
		need = REUSE_LOG_DECISIONS;
	}
	return listen_done(fd, k, ret, saved, note, need);
}

/*
 * apply_listen - decide now for a socket never decided (unbound, or bound
 * before we saw it), re-assert the rule's options on one that was (clearing
 * SO_REUSEPORT after listen() is too late: the bind bucket caches it), then
 * listen.
 *
 * The common case, a socket decided at bind() whose options still hold,
 * under a rule that neither keeps exclusive state nor shares the port, with
 * nothing to log for a success, only listens: the rest (and a failure,
 * which is explained and logged) is listen_slow's, out of line.
 */
int apply_listen(int fd, int backlog)
{
	struct reuse_sock *k = sock_get_or_add(fd);
	const struct reuse_rule *r;

	if (!k || k->listening || k->proto != REUSE_P_TCP)
		return real_listen(fd, backlog);
	r = sock_rule(k);
	if (k->rule != SOCK_UNDECIDED && !k->exclusive && !wants(k->log, REUSE_LOG_ALL) &&
	    (!r || (r->reuseport != REUSE_FORCE && (dry(r) || options_hold(fd, k))))) {
		int ret = real_listen(fd, backlog);

		if (ret == 0) {
			k->listening = 1;
			return 0;
		}
		return listen_done(fd, k, ret, errno, NULL, REUSE_LOG_DECISIONS);
	}
	return listen_slow(fd, k, backlog);
}

/*
 * apply_connect - a socket never bound gets its local address from the
 * kernel here: match it for the record (later setsockopt calls follow the
 * rule) and the log; its options are left alone, the kernel already chose.
 */
int apply_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	int ret = real_connect(fd, addr, len), saved = errno;
	int err = ret < 0 ? saved : 0;
	struct reuse_sock *k;
	struct sockaddr_storage ss;
	struct reuse_subject subj;
	const struct reuse_rule *r = NULL;
	bool ok;

	if (!(k = sock_get(fd)) || k->rule != SOCK_UNDECIDED || k->bound ||
	    !local_addr(fd, &ss) || !port_of(&ss))
		goto out;
	subject_from(&ss, k->proto, &subj);
	if (!reuse_cfg.fail_closed)
		r = reuse_policy_match(&reuse_cfg.policy, &subj);
	k->rule = r ? (int32_t)(r - reuse_cfg.policy.rules) : SOCK_UNMATCHED;
	k->log = r ? r->log : reuse_cfg.level == REUSE_LOG_ALL ? REUSE_LOG_ALL
							      : REUSE_LOG_OFF;
	ok = ret == 0 || err == EINPROGRESS;
	if (wants(k->log, REUSE_LOG_DECISIONS))
		log_call("connect", fd, k, &ss, err, ok ?
			 "implicit bind by connect(): options left as they were" :
			 "connect() failed: the kernel released its implicit bind");
	/* a failed connect leaves the socket unbound: decide again later */
	k->bound = ok;
	if (!ok)
		k->rule = SOCK_UNDECIDED;
out:
	errno = saved;
	return ret;
}

/*
 * apply_setsockopt - SO_REUSEADDR/SO_REUSEPORT only (the wrapper filters).
 * Before the rule is chosen the value goes to the kernel as asked; after,
 * the rule decides (decide.c), and the program's wish is remembered so
 * getsockopt() can show it its own view.
 */
int apply_setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	struct reuse_sock *k = sock_get_or_add(fd);
	const struct reuse_rule *r;
	bool is_rp = name == SO_REUSEPORT, to_kernel;
	int v = 0, ret, err, saved;
	char note[160];

	if (!k || len < (socklen_t)sizeof(int))
		return real_setsockopt(fd, level, name, val, len);
	if (k->rule == SOCK_UNDECIDED) {
		/* the kernel reads the int first (a bad pointer gets its EFAULT);
		 * once it has, the value is there to read without a copy */
		ret = real_setsockopt(fd, level, name, val, len);
		if (ret == 0) {
			memcpy(&v, val, sizeof v);
			*(is_rp ? &k->asked_rp : &k->asked_ra) = v != 0;
		}
		return ret;
	}
	if (!safe_copy(&v, val, sizeof v))
		return real_setsockopt(fd, level, name, val, len);
	r = sock_rule(k);
	err = reuse_decide_setopt(r, is_rp, v != 0, &to_kernel);
	if (dry(r)) {
		err = 0;
		to_kernel = true;
	}
	if (err) {
		snprintf(note, sizeof note, "program set %s=%d after bind(): refused",
			 is_rp ? "SO_REUSEPORT" : "SO_REUSEADDR", v != 0);
		if (wants(k->log, REUSE_LOG_DECISIONS))
			log_call("setsockopt", fd, k, NULL, err, note);
		errno = err;
		return -1;
	}
	saved = errno;
	if (to_kernel) {
		ret = real_setsockopt(fd, level, name, val, len);
		saved = errno;
		err = ret < 0 ? saved : 0;
	} else {
		ret = 0;
		err = 0;
	}
	if (ret == 0)
		*(is_rp ? &k->asked_rp : &k->asked_ra) = v != 0;
	if (wants(k->log, to_kernel ? REUSE_LOG_ALL : REUSE_LOG_DECISIONS)) {
		snprintf(note, sizeof note, "program set %s=%d after bind(): %s",
			 is_rp ? "SO_REUSEPORT" : "SO_REUSEADDR", v != 0,
			 to_kernel ? "passed to the kernel" : "held by the rule");
		log_call("setsockopt", fd, k, NULL, err, note);
	}
	errno = saved;
	return ret;
}

/*
 * apply_getsockopt - the program sees what it asked for, so `strip` and
 * `force` stay invisible to it; the log shows the kernel's truth.
 */
int apply_getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	int ret = real_getsockopt(fd, level, name, val, len), err = errno;
	struct reuse_sock *k;
	socklen_t n;
	int asked;

	if (ret < 0 || !(k = sock_get(fd)) || k->rule < 0)
		goto out;
	asked = name == SO_REUSEPORT ? k->asked_rp : k->asked_ra;
	if (!safe_copy(&n, len, sizeof n))
		goto out;
	if (n > sizeof asked)
		n = sizeof asked;
	memcpy(val, &asked, n);   /* the kernel just wrote there: it is writable */
	if (wants(k->log, REUSE_LOG_ALL))
		log_call("getsockopt", fd, k, NULL, 0, name == SO_REUSEPORT ?
			 "answered SO_REUSEPORT as the program asked" :
			 "answered SO_REUSEADDR as the program asked");
out:
	errno = err;
	return ret;
}
