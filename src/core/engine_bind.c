/*
 * engine_bind.c - bind(): match the address, prepare the options, bind
 * through the host; then the rarer paths: a socket passed by socket
 * activation, options lent to the program's own overlapping sockets, a
 * running instance's socket taken over, TIME_WAIT remedies, the
 * explanation of an EADDRINUSE, and the log line.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/engine.h"
#include "core/explain.h"
#include "core/sys.h"

/*
 * read_addr - the program's address, copied in as the kernel would read it;
 * false when the kernel would reject it (bad pointer, short, wrong family):
 * the host then makes the call untouched for the kernel to answer. IPv6
 * takes from 24 bytes, as the kernel does (SIN6_LEN_RFC2133: no scope id).
 */
static bool read_addr(const struct reuse_call *c, uint64_t addr, socklen_t len,
		      struct sockaddr_storage *ss)
{
	const struct reuse_sock *k = c->k;
	size_t need = k->family == AF_INET ? sizeof(struct sockaddr_in) : 24;

	/* what a subject reads (an IPv6 address ends at byte 24); the rest
	 * only ever carries the program's own len bytes */
	memset(ss, 0, 32);
	/* the kernel refuses lengths over sockaddr_storage with EINVAL */
	if (len < need || len > sizeof *ss || !c->host->copy_in(c, ss, addr, len))
		return false;
	if (k->family == AF_INET && ss->ss_family == AF_UNSPEC &&
	    ((struct sockaddr_in *)ss)->sin_addr.s_addr == htonl(INADDR_ANY)) {
		ss->ss_family = AF_INET;   /* the kernel takes this as 0.0.0.0 */
		return true;
	}
	return ss->ss_family == k->family;
}

/*
 * eng_in_use - see engine.h. The facts (who holds the address) are asked
 * for only when a remedy may apply or a line is written. The remedies
 * change kernel state, so they are here and not in explain.c:
 *  - an exclusive socket passes entries a previous exclusive run left (its
 *    listener held SO_REUSEADDR) with SO_REUSEADDR lent to this one bind()
 *    and taken back at once;
 *  - a socket holding SO_REUSEADDR, or an exclusive one, with
 *    CAP_NET_ADMIN destroys exactly those entries and binds again.
 */
void eng_in_use(struct reuse_call *c, const struct sockaddr *addr, socklen_t len,
		const struct reuse_subject *s, const struct reuse_plan *plan,
		bool explain, char *msg, size_t mlen, int *retried, int *err,
		struct explain_seen *seen)
{
	struct reuse_sock *k = c->k;
	struct reuse_holders h;
	bool acts = plan && plan->rule && !dry(plan->rule) && addr &&
		    k->proto == REUSE_P_TCP;
	bool excl = acts && plan->exclusive, clear, v6only;
	/* the kernel holds the plan's value (a lend gave back what it took) */
	int ra = plan && plan->ra >= 0 ? plan->ra : sys_getflag(c->sock, SO_REUSEADDR), n = 0;
	enum reuse_remedy done = REMEDY_NONE;

	*retried = -1;
	if (seen)
		seen->valid = false;
	/* with no line to write, only a remedy can change the outcome, and
	 * none applies over a live holder: a listener (the usual one) is one
	 * exact lookup, before the capability and the walk of every socket */
	if (!explain && (!acts || (!excl && ra <= 0) ||
			 explain_listener_at(s->family, s->addr, s->port) > 0))
		return;
	clear = acts && (ra > 0 || excl) && explain_have_net_admin();
	if (!explain && !excl && !clear)
		return;
	v6only = eng_v6only(c->sock, k);
	/* the line lists the holders too: one dump for both */
	if (seen)
		seen->v6only = v6only;
	explain_gather(k->proto, s->family, s->addr, s->port, v6only, &h,
		       explain && seen ? &seen->l : NULL);
	if (!h.diag_errno && !h.live && h.timewait && (excl || clear)) {
		if (excl) {
			sys_setflag(c->sock, SO_REUSEADDR, 1);
			*retried = c->host->bind(c, addr, len);
			*err = *retried < 0 ? errno : 0;
			sys_setflag(c->sock, SO_REUSEADDR, 0);
			if (*retried == 0) {
				k->tw_pass = 1;
				done = REMEDY_PASSED;
			}
		}
		if (done == REMEDY_NONE && clear) {
			n = explain_clear_timewait(s->family, s->addr, s->port, v6only);
			done = n > 0 ? REMEDY_CLEARED : REMEDY_CLEAR_FAILED;
			if (n > 0) {
				*retried = c->host->bind(c, addr, len);
				*err = *retried < 0 ? errno : 0;
			}
		}
	}
	if (seen)
		seen->valid = explain && done == REMEDY_NONE && *retried < 0;
	if (explain)
		explain_in_use_text_acts(&h, s, ra, plan && plan->rule && !dry(plan->rule) &&
					 plan->exclusive, plan && plan->rule && !dry(plan->rule),
					 done, n, done == REMEDY_CLEARED ? *err : 0, msg, mlen);
}

/*
 * lend_begin / lend_end - one lend at a time in a process: two threads
 * lending the same socket would take each other's option back. Not a
 * mutex: a bind() in a signal handler that interrupted a lend in its own
 * thread must not wait for it forever. After about 2 ms of trying, no lend
 * is made (the bind fails as the kernel says, and the line says why).
 */
static int lending;

static bool lend_begin(void)
{
	struct timespec pause = { 0, 20000 };

	for (int i = 0; i < 100; i++) {
		if (!__atomic_exchange_n(&lending, 1, __ATOMIC_ACQUIRE))
			return true;
		nanosleep(&pause, NULL);
	}
	return false;
}

static void lend_end(void)
{
	__atomic_store_n(&lending, 0, __ATOMIC_RELEASE);
}

/*
 * lend_and_bind - the program's own sockets may overlap one another as it
 * asked, even under `exclusive` (spec). The kernel sees neither option on
 * its exclusive sockets, so a bind the program expected to share fails.
 * When overlapping exclusive sockets of this program exist and it asked
 * the same option on both sides, the option is lent to them (and to this
 * socket, if exclusive too) for the length of one bind() and taken back.
 * This is the window another process could use: it is measured and
 * logged. SO_REUSEPORT is lent to UDP only: a TCP bind bucket would keep a
 * lent SO_REUSEPORT open to same-uid joiners (exclusive TCP sockets that
 * share keep it, see decide.c). The host gives duplicates of the sockets:
 * a thread may close the program's fd meanwhile. Returns the bind's
 * result, or -2 when there was nothing to lend.
 */
static int lend_and_bind(struct reuse_call *c, const struct sockaddr *addr,
			 socklen_t len, const struct reuse_subject *s,
			 const struct reuse_plan *plan, int *err, char *msg, size_t mlen)
{
	struct reuse_sock *k = c->k, *recs[LEND_MAX + 1];
	struct reuse_own own[LEND_MAX];
	int fds[LEND_MAX + 1], was_ra[LEND_MAX + 1], was_rp[LEND_MAX + 1];
	int n, m = 0, ret = -2;
	bool udp = k->proto == REUSE_P_UDP, listening = true, keyed = false;
	bool ra = k->asked_ra, rp = k->asked_rp && udp;
	bool v6only = eng_v6only(c->sock, k);
	const char *why = NULL;
	struct timespec t0;
	long us;

	n = c->host->own_sockets(c, k->proto, s->port, own, LEND_MAX);
	for (int i = 0; i < n; i++) {
		struct sockaddr_storage ss;
		struct reuse_subject os;

		if (!sock_local_addr(own[i].fd, &ss) || sock_port(&ss) != s->port) {
			sys_close(own[i].fd);
			continue;
		}
		subject_from_addr(&ss, own[i].k->proto, &os);
		if (!explain_overlap(s->family, s->addr, v6only, os.family, os.addr,
				     eng_v6only(own[i].fd, own[i].k))) {
			sys_close(own[i].fd);
			continue;
		}
		ra &= own[i].k->asked_ra;
		rp &= own[i].k->asked_rp;
		listening &= sys_getflag(own[i].fd, SO_ACCEPTCONN) > 0;
		recs[m] = own[i].k;
		fds[m++] = own[i].fd;
	}
	/*
	 * Never lend what admits another process. UDP SO_REUSEADDR admits every
	 * uid, and a plain SO_REUSEPORT every process of this uid: with
	 * CAP_CHOWN the sockets are keyed and a SO_REUSEPORT only they match is
	 * lent instead. TCP SO_REUSEADDR admits nobody over a listening socket,
	 * but anyone over a bound one: it is lent only to listeners.
	 */
	if (m && udp && (ra || rp)) {
		keyed = sys_have_cap(CAP_CHOWN);
		if (keyed) {
			ra = false;
			rp = true;
		} else {
			ra = false;
			why = rp ? "SO_REUSEPORT was lent, which lets processes of this uid join for that time (never SO_REUSEADDR, which on UDP lets every uid in); with CAP_CHOWN libreuse lends a keyed one only the program's sockets match" :
			      "no option was lent: on UDP SO_REUSEADDR lets every uid bind for that time; fix: run the program with CAP_CHOWN (libreuse then lends a keyed SO_REUSEPORT only its own sockets match)";
		}
	}
	if (m && !udp && ra && !listening) {
		ra = false;
		/* a keyed SO_REUSEPORT: the bind bucket remembers the key's uid,
		 * which no process has */
		keyed = rp = sys_have_cap(CAP_CHOWN);
		if (!keyed)
			why = "no option was lent: SO_REUSEADDR on a TCP socket that does not listen yet lets anyone bind beside it; fix: run the program with CAP_CHOWN (libreuse then lends a keyed SO_REUSEPORT only its own sockets match)";
	}
	if (m && (ra || rp) && lend_begin()) {
		if (plan->exclusive) {
			recs[m] = k;
			fds[m++] = c->sock;       /* this one borrows too */
		}
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (int i = 0; i < m; i++) {
			was_ra[i] = sys_getflag(fds[i], SO_REUSEADDR);
			was_rp[i] = sys_getflag(fds[i], SO_REUSEPORT);
			if (keyed)
				eng_key(fds[i], recs[i]);
			if (ra)
				sys_setflag(fds[i], SO_REUSEADDR, 1);
			if (rp)
				sys_setflag(fds[i], SO_REUSEPORT, 1);
		}
		ret = c->host->bind(c, addr, len);
		*err = ret < 0 ? errno : 0;
		/* each gets back what it held (a listener keeps its own) */
		for (int i = 0; i < m; i++) {
			if (ra)
				sys_setflag(fds[i], SO_REUSEADDR, was_ra[i] > 0);
			if (rp)
				sys_setflag(fds[i], SO_REUSEPORT, was_rp[i] > 0);
		}
		us = eng_since_us(&t0);
		lend_end();
		if (plan->exclusive)
			m--;
		explain_lent(msg, mlen, m, plan->exclusive, ra, rp, us);
		if (keyed)
			snprintf(msg + strlen(msg), mlen - strlen(msg),
				 " (keyed: only this program's sockets match it)");
		else if (why)
			snprintf(msg + strlen(msg), mlen - strlen(msg), "; %s", why);
	} else if (why) {
		snprintf(msg, mlen, "this process's own exclusive socket%s overlap%s: %s",
			 m == 1 ? "" : "s", m == 1 ? "s" : "", why);
		ret = -3;
	}
	for (int i = 0; i < m; i++)
		sys_close(fds[i]);
	return ret;
}

/*
 * rebind - bind() on a socket that already holds an address: the kernel
 * answers EINVAL. The rule chosen at the first bind() holds; the options
 * are not touched, so a failing call cannot undo the policy.
 */
static int rebind(struct reuse_call *c, const struct sockaddr_storage *ss, socklen_t len)
{
	int ret = c->host->bind(c, (const struct sockaddr *)ss, len), saved = errno;

	if (wants(c->k->log, REUSE_LOG_DECISIONS))
		eng_log(c, "bind", ss, ret < 0 ? saved : 0, NULL,
			"socket already bound: the rule chosen at its first bind() holds");
	errno = ret == 0 ? c->entry_errno : saved;
	return ret;
}


/* The line's note for a successful bind that shares its port, or drops
 * the SO_REUSEPORT the program asked. */
static const char *share_note(const struct reuse_call *c, const struct reuse_plan *plan,
			      char *buf, size_t len)
{
	const struct reuse_sock *k = c->k;
	unsigned uid;

	if (!plan->joinable && !(plan->exclusive && k->asked_rp && plan->rp == 0))
		goto keyed;
	uid = (unsigned)call_euid((struct reuse_call *)c);   /* only these two say it */
	if (plan->joinable) {
		snprintf(buf, len, "%s (uid %u) can join: keying the group needs CAP_CHOWN when the socket is made; fix: start the program as that user with CAP_CHOWN (setpriv --inh-caps=+chown --ambient-caps=+chown, or systemd AmbientCapabilities=CAP_CHOWN); a daemon that switches user itself (named -u, memcached -u) can run as root under `reuse run --seccomp` instead, whose supervisor keys the group for it",
			 plan->exclusive ?
			 "exclusive, but the program shares this port through SO_REUSEPORT: same-uid processes" :
			 "SO_REUSEPORT forced: instances share the port, and so can any process of this uid", uid);
		return buf;
	}
	if (plan->exclusive && k->asked_rp && plan->rp == 0) {
		snprintf(buf, len, "exclusive: the SO_REUSEPORT the program asked was dropped (unkeyed, it would let other processes of uid %u join); the program's own overlapping binds borrow options for one bind()",
			 uid);
		return buf;
	}
keyed:
	if (!plan->key || !k->keyed)
		return NULL;
	snprintf(buf, len, plan->exclusive ?
		 "exclusive; SO_REUSEPORT kept for the program's own sockets, keyed (owner uid %u): no other process can join" :
		 "SO_REUSEPORT forced, keyed (owner uid %u): instances of uid %u under libreuse with CAP_CHOWN share the port, no other process can join",
		 reuse_key_of(k->owner), k->owner);
	return buf;
}

/*
 * adopted_options - a socket adopted from socket activation carries the
 * activator's options (systemd's ReuseAddress=, ReusePort=): it gets the
 * rule's, as a bind() would have. An exclusive TCP listener keeps
 * SO_REUSEADDR (engine_listen.c says why). SO_REUSEPORT taken from a
 * socket that listens already no longer closes its group (the bind bucket
 * keeps it): the note says so and what to change.
 */
static void adopted_options(struct reuse_call *c, const struct reuse_plan *plan,
			    char *note, size_t nlen)
{
	struct reuse_sock *k = c->k;
	int rp = sys_getflag(c->sock, SO_REUSEPORT);
	size_t n = strlen(note);
	struct stat st;

	k->listening = sys_getflag(c->sock, SO_ACCEPTCONN) > 0;
	eng_set_flag(c->sock, SO_REUSEADDR, plan->exclusive && k->listening &&
		     k->proto == REUSE_P_TCP ? 1 : plan->ra);
	eng_set_flag(c->sock, SO_REUSEPORT, plan->rp);
	/* the group's uid is the socket's owner (the activator), whoever
	 * the program runs as */
	if (rp > 0 && plan->rp == 0 && k->listening && k->proto == REUSE_P_TCP &&
	    sys_fstat(c->sock, &st) == 0)
		snprintf(note + n, nlen - n, "; warning: the activator's socket listens with SO_REUSEPORT, which cannot be taken back now: processes of uid %u (its owner) can still join; fix: drop ReusePort= from the .socket unit",
			 (unsigned)st.st_uid);
	else if (plan->ra >= 0 || plan->rp >= 0)
		snprintf(note + n, nlen - n, "; the rule's options set on it");
}

/*
 * bind_done - the rest of engine_bind, out of line: adopt a socket passed
 * by socket activation (when `tried` is false, the bind has not been made
 * yet), lend options for the program's own overlapping binds, take a
 * running instance's socket, remedy or explain an EADDRINUSE, keep what
 * the plan asked for, log.
 */
static __attribute__((noinline)) int
bind_done(struct reuse_call *c, const struct sockaddr_storage *ss, socklen_t len,
	  const struct reuse_subject *subj, struct reuse_plan *plan, bool tried,
	  int ret, int saved)
{
	const struct sockaddr *addr = (const struct sockaddr *)ss;
	char msg[1600], hmsg[600], lmsg[400];
	struct explain_seen seen;
	const char *note = NULL;
	int err, retried;
	bool handoff = plan->rule && plan->rule->handoff && !dry(plan->rule);
	bool logs = wants(c->k->log, REUSE_LOG_DECISIONS);

	/* handoff.c: a socket passed by socket activation holds the address */
	if (!tried && handoff_adopt(c, ss, hmsg, sizeof hmsg)) {
		ret = 0;
		note = hmsg;
		adopted_options(c, plan, hmsg, sizeof hmsg);
	} else if (!tried && handoff && handoff_take(c, ss, hmsg, sizeof hmsg)) {
		/* a running instance serves it: take its socket before binding,
		 * whatever the program asked (with its own SO_REUSEPORT, or a UDP
		 * SO_REUSEADDR, its bind would join the old socket instead, and
		 * what was queued there would be lost when that one stops) */
		ret = 0;
		note = hmsg;
	} else if (!tried) {
		ret = c->host->bind(c, addr, len);
		saved = errno;
	}
	err = ret < 0 ? saved : 0;
	lmsg[0] = '\0';
	if (err == EADDRINUSE && plan->rule && !dry(plan->rule)) {
		retried = lend_and_bind(c, addr, len, subj, plan, &err, lmsg, sizeof lmsg);
		if (retried >= -1) {
			ret = retried;
			saved = err ? err : saved;
		}
		if (retried != -2)
			note = lmsg;
	}
	/* handoff.c: a running instance of this uid holds it: take its socket */
	if (err == EADDRINUSE && handoff && handoff_take(c, ss, hmsg, sizeof hmsg)) {
		ret = err = 0;
		note = hmsg;
	}
	if (err == EADDRINUSE) {
		eng_in_use(c, addr, len, subj, plan, logs, msg, sizeof msg, &retried, &err,
			   &seen);
		if (retried >= 0) {
			ret = retried;
			saved = err ? err : saved;
		}
		if (logs && err == EADDRINUSE)
			explain_detail(c->sock, subj, &seen, msg, sizeof msg);
		if (logs && err == EADDRINUSE && handoff)
			snprintf(msg + strlen(msg), sizeof msg - strlen(msg), " | %s", hmsg);
		/* a lend tried (or refused) is said first */
		if (logs && lmsg[0] && err == EADDRINUSE) {
			char both[sizeof msg + sizeof lmsg + 4];
			snprintf(both, sizeof both, "%s | %s", lmsg, msg);
			memcpy(msg, both, sizeof msg - 1);
			msg[sizeof msg - 1] = '\0';
		}
		note = logs ? msg : NULL;
	}
	if (ret == 0) {
		c->k->bound = 1;
		c->k->exclusive = plan->exclusive;
		if (!note)
			note = share_note(c, plan, msg, sizeof msg);
		if (handoff)
			handoff_serve(c);
	} else {
		eng_undo_options(c, plan);
	}
	if (wants(c->k->log, REUSE_LOG_DECISIONS)) {
		/* after a plain bind (no lend, remedy or handoff) the kernel holds
		 * what eng_decide_at_bind left: the plan's value, or what was asked */
		if (tried && ret == 0 && !handoff && !lmsg[0])
			eng_log_now(c, "bind", ss, 0, NULL, note,
				    plan->ra >= 0 ? plan->ra : c->k->asked_ra,
				    plan->rp >= 0 ? plan->rp : c->k->asked_rp);
		else
			eng_log(c, "bind", ss, err, NULL, note);
	}
	if (ret < 0)
		c->k->rule = SOCK_UNDECIDED;
	/* a success leaves errno as the program had it, whatever ran inside */
	errno = ret == 0 ? c->entry_errno : saved;
	return ret;
}

/*
 * engine_bind - match the address, prepare the options, bind. A plain
 * success with nothing to log or keep returns here; everything else
 * (failures, exclusive, keyed, handoff, logging) is bind_done's.
 */
int engine_bind(struct reuse_call *c, uint64_t addr, socklen_t len)
{
	struct reuse_sock *k = c->k;
	struct sockaddr_storage ss, mine;
	struct reuse_subject subj;
	struct reuse_plan plan;
	int ret, err;

	if (!read_addr(c, addr, len, &ss))
		return REUSE_PASS;
	eng_held_bound(c);
	if (k->held && k->bound)
		eng_first_sight(c);
	if (k->bound && k->rule != SOCK_UNDECIDED && sock_local_addr(c->sock, &mine) &&
	    sock_port(&mine))
		return rebind(c, &ss, len);
	err = eng_decide_at_bind(c, &ss, &subj, &plan);
	if (err) {
		if (wants(k->log, REUSE_LOG_DECISIONS))
			eng_log(c, "bind", &ss, err, NULL, reuse_cfg.fail_closed ?
				"policy did not parse and says on-error closed" : NULL);
		k->rule = SOCK_UNDECIDED;
		errno = err;
		return -1;
	}
	if (!c->can_call_here) {
		/* the result is not seen: the record takes the plan as made, and
		 * the next call on the socket finds out (an unbound one is decided
		 * again) */
		k->bound = 1;
		k->exclusive = plan.exclusive;
		if (wants(k->log, REUSE_LOG_DECISIONS))
			eng_log(c, "bind", &ss, 0, "continued", eng_continued_note(c));
		return REUSE_PASS;
	}
	if ((__atomic_load_n(&handoff_nact, __ATOMIC_RELAXED) ||
	     (plan.rule && plan.rule->handoff)) && !dry(plan.rule)) {
		if (!subj.family)
			eng_subject(c, &ss, &subj);
		return bind_done(c, &ss, len, &subj, &plan, false, 0, 0);
	}
	ret = c->host->bind(c, (const struct sockaddr *)&ss, len);
	if (ret == 0 && !plan.exclusive && !plan.joinable && !plan.key &&
	    !(plan.rule && plan.rule->handoff) && !wants(k->log, REUSE_LOG_DECISIONS)) {
		k->bound = 1;
		k->exclusive = 0;
		errno = c->entry_errno;
		return 0;
	}
	err = errno;
	if (!subj.family)                 /* a kept decision made none */
		eng_subject(c, &ss, &subj);
	return bind_done(c, &ss, len, &subj, &plan, true, ret, err);
}
