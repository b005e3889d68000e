/*
 * engine.c - what every call of the engine shares: the subject of a
 * decision, the plan and its keeping, keying a SO_REUSEPORT group, the
 * options, and the log line.
 *
 * The engine is the only code that changes a socket's kernel state on the
 * policy's behalf. It works on c->sock, an fd on the program's socket in
 * this process (the program's own fd in the library, a pidfd_getfd
 * duplicate in the supervisor: one socket either way), and makes the
 * program's own calls through c->host (host.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/engine.h"
#include "core/sys.h"

/* Set a boolean option to `want` (-1: leave it) if the kernel differs. */
void eng_set_flag(int fd, int name, int want)
{
	if (want >= 0 && sys_getflag(fd, name) != want)
		sys_setflag(fd, name, want);
}

/*
 * own_ident - this process's identity handle for the policy's program=/uid=
 * index: its names never change, its uid seldom does. A handle made for
 * another uid (two threads racing a setuid) is ignored by the policy, so
 * the two words need no lock.
 */
static const struct reuse_ident *own_ident(const struct reuse_subject *s)
{
	static const struct reuse_ident *_Atomic ident;
	static _Atomic long ident_uid = -2;
	const struct reuse_ident *h;

	if (!reuse_cfg.match_names && !reuse_cfg.match_uids)
		return NULL;
	if (__atomic_load_n(&ident_uid, __ATOMIC_ACQUIRE) == s->uid &&
	    (h = __atomic_load_n(&ident, __ATOMIC_ACQUIRE)))
		return h;
	h = reuse_policy_ident(&reuse_cfg.policy, s);
	__atomic_store_n(&ident, h, __ATOMIC_RELEASE);
	__atomic_store_n(&ident_uid, s->uid, __ATOMIC_RELEASE);
	return h;
}

/* The subject of a decision: the address, and who the program is. */
void eng_subject(struct reuse_call *c, const struct sockaddr_storage *ss,
		 struct reuse_subject *s)
{
	subject_from_addr(ss, c->k->proto, s);
	/* only uid= rules read the uid: without one, no call asks the kernel;
	 * without program= or uid= rules nothing reads the names either */
	s->uid = reuse_cfg.match_uids ? call_euid(c) : -1;
	if (!reuse_cfg.match_names && !reuse_cfg.match_uids) {
		s->prog = s->exe = NULL;
		s->ident = NULL;
		return;
	}
	if (reuse_cfg.match_names && !c->prog && c->host->names)
		c->host->names(c);
	s->prog = c->prog && c->prog[0] ? c->prog : NULL;
	s->exe = c->exe && c->exe[0] ? c->exe : NULL;
	s->ident = c->pid ? NULL : own_ident(s);
}

/* The plan for k's rule, as the program asked and the process may. */
void eng_plan_for(const struct reuse_rule *r, const struct reuse_sock *k,
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
 * eng_plan_keep / eng_plan_kept - the kernel values a bind()'s plan set,
 * kept in one byte of the record with what the program had asked, so that
 * listen() re-asserts them without deciding again. For a TCP socket they
 * depend only on the rule and what was asked (keyed or not, an exclusive
 * socket that asked SO_REUSEPORT keeps it); a later setsockopt() changes
 * what was asked, and the plan is then made afresh.
 */
static uint8_t plan_asked(const struct reuse_sock *k)
{
	return (uint8_t)(4 | k->asked_ra | k->asked_rp << 1);
}

void eng_plan_keep(struct reuse_sock *k, const struct reuse_plan *plan)
{
	k->plan = (uint8_t)((plan->ra + 1) | (plan->rp + 1) << 2 | plan_asked(k) << 4);
}

bool eng_plan_kept(const struct reuse_sock *k, struct reuse_plan *plan)
{
	if (k->plan >> 4 != plan_asked(k))
		return false;
	plan->ra = (int8_t)((k->plan & 3) - 1);
	plan->rp = (int8_t)((k->plan >> 2 & 3) - 1);
	return true;
}

/*
 * eng_key - give the socket its owner's key (reuse_key_of), so that only
 * sockets libreuse keyed for the same owner match its SO_REUSEPORT group.
 * False when the kernel says no (an unmapped uid in a user namespace) or
 * the owner has no key: the caller plans again without one.
 */
bool eng_key(int fd, struct reuse_sock *k)
{
	struct stat st;

	if (k->keyed)
		return true;
	if (sys_fstat(fd, &st) < 0 || !reuse_key_of((uint32_t)st.st_uid) ||
	    sys_fchown(fd, reuse_key_of((uint32_t)st.st_uid), (gid_t)-1) < 0)
		return false;
	k->owner = (uint32_t)st.st_uid;
	k->keyed = 1;
	return true;
}

/*
 * The last decision of this thread: a socket of the same protocol on the
 * same address (the program's bytes, as read_addr copied them), asking
 * the same, gets the same rule and plan while the policy stays loaded. Kept
 * only for this process's own decisions (the supervisor decides for many)
 * under a policy without program= or uid= rules (nothing else of the
 * subject counts), never for one that may key the group (a capability of
 * the moment). A hit needs no subject at all. Per thread, so no lock; a
 * bind() in a signal handler that interrupts the update sees it odd and
 * neither reads nor writes it.
 */
struct memo_key {
	uint8_t addr[16];
	uint16_t port;
	uint8_t proto, family, ra, rp, pad[2];
	long uid;
};
_Static_assert(sizeof(struct memo_key) == 4 * sizeof(uint64_t), "memo_key: four words");
union memo_words {
	struct memo_key k;
	uint64_t w[4];
};

static __thread struct {
	unsigned gen;                /* odd while written; 0: empty */
	unsigned policy_gen;         /* reuse_cfg's when kept */
	union memo_words key;
	const struct reuse_rule *r;
	struct reuse_plan plan;
} memo __attribute__((tls_model("initial-exec")));

/* The key: the address bytes the subject is made of, raw. */
static inline void memo_key_of(const struct sockaddr_storage *ss, const struct reuse_sock *k,
			       struct memo_key *m)
{
	memset(m, 0, sizeof *m);
	if (ss->ss_family == AF_INET)
		memcpy(m->addr, &((const struct sockaddr_in *)ss)->sin_addr, 4);
	else
		memcpy(m->addr, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
	m->port = ((const struct sockaddr_in *)ss)->sin_port;   /* same offset in both */
	m->proto = k->proto;
	m->family = (uint8_t)ss->ss_family;
	m->ra = k->asked_ra;
	m->rp = k->asked_rp;
}

static inline bool memo_get(const union memo_words *key,
			    const struct reuse_rule **r, struct reuse_plan *plan)
{
	unsigned g = memo.gen;

	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	if (!g || (g & 1) || memo.policy_gen != reuse_cfg.policy_gen ||
	    ((memo.key.w[0] ^ key->w[0]) | (memo.key.w[1] ^ key->w[1]) |
	     (memo.key.w[2] ^ key->w[2]) | (memo.key.w[3] ^ key->w[3])))
		return false;
	*r = memo.r;
	*plan = memo.plan;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	return memo.gen == g;
}

static inline void memo_put(const union memo_words *key,
			    const struct reuse_rule *r, const struct reuse_plan *plan)
{
	unsigned g = memo.gen;

	if (g & 1)
		return;
	memo.gen = g + 1;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	memo.policy_gen = reuse_cfg.policy_gen;
	memo.key = *key;
	memo.r = r;
	memo.plan = *plan;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	memo.gen = g + 2;
}

/*
 * eng_decide_at_bind - choose the socket's rule for the address ss and
 * prepare the kernel state before the address is taken. subj is made
 * here when the decision needs it (eng_subject); on a kept decision it is
 * left unmade (family 0) for the caller to make if it needs one. Returns
 * 0 or the errno the policy refuses the call with.
 */
int eng_decide_at_bind(struct reuse_call *c, const struct sockaddr_storage *ss,
		       struct reuse_subject *subj, struct reuse_plan *plan)
{
	struct reuse_sock *k = c->k;
	const struct reuse_rule *r = NULL;
	int ra = k->asked_ra, rp = k->asked_rp, kra = ra, krp = rp;
	union memo_words key;
	bool mine = !c->pid && !reuse_cfg.match_names && !reuse_cfg.match_uids;

	/* Until a rule is chosen the engine leaves the options alone, so the
	 * kernel holds exactly what the program asked, through any of the
	 * socket's fds (a setsockopt() through a dup() updates only that fd's
	 * record): take it from there, unless the record saw every change
	 * (`known`, core.h) or holds them (eng_hold, the supervisor's). */
	if (!sock_known(k)) {
		kra = sys_getflag(c->sock, SO_REUSEADDR);
		krp = sys_getflag(c->sock, SO_REUSEPORT);
		ra = k->held ? k->asked_ra : kra;
		rp = k->held ? k->asked_rp : krp;
		if (ra >= 0)
			k->asked_ra = (uint8_t)ra;
		if (rp >= 0)
			k->asked_rp = (uint8_t)rp;
	}
	subj->family = 0;
	if (mine)
		memo_key_of(ss, k, &key.k);
	if (!mine || !memo_get(&key, &r, plan)) {
		eng_subject(c, ss, subj);
		if (!reuse_cfg.fail_closed)
			r = reuse_policy_match(&reuse_cfg.policy, subj);
		eng_plan_for(r, k, plan);
		if (mine && !reuse_may_key(r, k->asked_rp))
			memo_put(&key, r, plan);
	}
	/* An MPTCP listener's port is held by the kernel's own TCP socket,
	 * whose owner a key cannot change: its SO_REUSEPORT would stay open
	 * to same-uid TCP joiners. Exclusive drops it. */
	if (k->mptcp && r && r->exclusive && plan->rp == 1) {
		plan->rp = 0;
		plan->key = plan->joinable = false;
	}
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
	if (plan->key && !eng_key(c->sock, k)) {
		struct reuse_ask ask = { k->asked_ra, k->asked_rp, k->proto, false };
		reuse_decide_bind(r, &ask, plan);
	}
	if (plan->err)
		return plan->err;
	eng_plan_keep(k, plan);
	/* the plan's value, else what was asked (a held one reaches the
	 * kernel now, before the bind, or after the kernel's own). A strip
	 * is always made when the record vouched for the kernel (`known`):
	 * it cannot see a process the socket was passed to (SCM_RIGHTS) set
	 * the option meanwhile. */
	if ((plan->ra >= 0 ? plan->ra : ra) != kra || (plan->ra == 0 && sock_known(k)))
		sys_setflag(c->sock, SO_REUSEADDR, plan->ra >= 0 ? plan->ra : ra);
	if ((plan->rp >= 0 ? plan->rp : rp) != krp || (plan->rp == 0 && sock_known(k)))
		sys_setflag(c->sock, SO_REUSEPORT, plan->rp >= 0 ? plan->rp : rp);
	k->held = 0;
	return 0;
}

/*
 * eng_hold - whether c's setsockopt() of SO_REUSEADDR/SO_REUSEPORT is held
 * in the record instead of reaching the kernel. Only where the host cannot
 * see sends (host.h), on a UDP socket not bound yet, under a policy with a
 * rule for UDP: its first send would bind it implicitly, and a UDP
 * SO_REUSEADDR on the port the kernel picked lets every uid bind it and
 * take the replies (issue 14 item 9). Held, the options reach the kernel
 * when the bind is decided (eng_decide_at_bind: bind(), listen(), or the
 * first call that finds the socket bound); a socket the kernel bound at a
 * send in between has neither meanwhile, which nobody can join.
 */
static bool hold_applies(const struct reuse_call *c)
{
	struct sockaddr_storage ss;
	bool udp_rules = reuse_cfg.fail_closed;

	if (!c->host->sends_unseen || c->k->proto != REUSE_P_UDP)
		return false;
	/* a scan, not cached: rare (an option set on an unbound UDP socket,
	 * already a round trip to the supervisor) */
	for (size_t i = 0; !udp_rules && i < reuse_cfg.policy.nrules; i++)
		udp_rules = (reuse_cfg.policy.rules[i].proto & REUSE_P_UDP) != 0;
	return udp_rules && !(sock_local_addr(c->sock, &ss) && sock_port(&ss));
}

bool eng_hold(const struct reuse_call *c)
{
	return c->k->rule == SOCK_UNDECIDED && hold_applies(c);
}

/* eng_held_bound - a socket whose options are held may have been bound by
 * the kernel since (a send, connect()): then it is bound, for first sight. */
void eng_held_bound(struct reuse_call *c)
{
	struct reuse_sock *k = c->k;
	struct sockaddr_storage ss;

	if (k->held && k->rule == SOCK_UNDECIDED && !k->bound && sock_local_addr(c->sock, &ss) &&
	    sock_port(&ss))
		k->bound = 1;
}

/*
 * eng_first_sight - a socket the engine meets already bound: passed with
 * SCM_RIGHTS, taken with pidfd_getfd, inherited across exec, made before
 * the library was ready. It is decided now, on its bound address, as its
 * bind() would have been: its options set as the rule says (the kernel
 * reads them at every later bind of others, so stripping them still
 * closes the door), and logged. A `deny` cannot unbind it: the line says
 * so.
 */
void eng_first_sight(struct reuse_call *c)
{
	struct reuse_sock *k = c->k;
	const struct reuse_sock *l;
	struct sockaddr_storage ss, peer;
	socklen_t pl = sizeof peer;
	int saved = errno;

	/* A connection accepted from a listener the engine decided is no new
	 * decision: it inherited the listener's options, and the program's
	 * view of them is what it asked of the listener. */
	if (k->proto == REUSE_P_TCP && !k->listening && c->host->listener &&
	    sock_local_addr(c->sock, &ss) &&
	    sys_getpeername(c->sock, (struct sockaddr *)&peer, &pl) == 0 &&
	    (l = c->host->listener(c, ntohs(((struct sockaddr_in *)&ss)->sin_port)))) {
		k->rule = l->rule;
		k->log = l->log;
		k->asked_ra = l->asked_ra;
		k->asked_rp = l->asked_rp;
		k->plan = l->plan;
		errno = saved;
		return;
	}
	errno = saved;
	eng_decide_bound(c, k->held ?
			 "bound by the kernel at a send or connect() while its options were held" :
			 "met already bound (passed, inherited or made before libreuse)");
}

/* eng_decide_bound - eng_first_sight, with `how` the socket came bound. */
void eng_decide_bound(struct reuse_call *c, const char *how)
{
	char note[256];
	struct reuse_sock *k = c->k;
	struct sockaddr_storage ss;
	struct reuse_subject subj;
	struct reuse_plan plan;
	int err, saved = errno;

	if (!sock_local_addr(c->sock, &ss) || !((struct sockaddr_in *)&ss)->sin_port) {
		k->bound = 0;
		return;
	}
	err = eng_decide_at_bind(c, &ss, &subj, &plan);
	k->exclusive = !err && plan.exclusive;
	/* an exclusive listener holds SO_REUSEADDR, as engine_listen gives it */
	if (k->exclusive && k->listening && k->proto == REUSE_P_TCP)
		sys_setflag(c->sock, SO_REUSEADDR, 1);
	if (wants(k->log, REUSE_LOG_DECISIONS)) {
		/* result=ok: no call of the program failed here; the note
		 * says what its bind() would have got */
		if (err)
			snprintf(note, sizeof note, "%s: the rule refuses a bind() here (%s), but this socket holds its address already and its calls go on; close it",
				 how, strerrorname_np(err));
		else
			snprintf(note, sizeof note, "%s: decided now, on its bound address", how);
		eng_log(c, "adopt", &ss, 0, NULL, note);
	}
	errno = saved;
}

/*
 * eng_undo_options - a bind that failed leaves the socket unbound: put the
 * options back as the program asked and the socket back to its owner; its
 * next bind() decides afresh (the caller resets the rule once the line is
 * logged). The kernel holds the plan's values where it set one (a lend
 * gives back what it took), and what was asked elsewhere when the record
 * knows it (`known`): only those that differ are set, unread.
 */
void eng_undo_options(struct reuse_call *c, const struct reuse_plan *plan)
{
	struct reuse_sock *k = c->k;

	if (hold_applies(c)) {
		/* unbound again: a held socket goes back to holding */
		eng_set_flag(c->sock, SO_REUSEADDR, 0);
		eng_set_flag(c->sock, SO_REUSEPORT, 0);
		k->held = 1;
	} else {
		if (plan->ra >= 0 && plan->ra != k->asked_ra)
			sys_setflag(c->sock, SO_REUSEADDR, k->asked_ra);
		else if (plan->ra < 0 && !sock_known(k))
			eng_set_flag(c->sock, SO_REUSEADDR, k->asked_ra);
		if (plan->rp >= 0 && plan->rp != k->asked_rp)
			sys_setflag(c->sock, SO_REUSEPORT, k->asked_rp);
		else if (plan->rp < 0 && !sock_known(k))
			eng_set_flag(c->sock, SO_REUSEPORT, k->asked_rp);
		k->held = 0;
	}
	if (k->keyed && sys_fchown(c->sock, k->owner, (gid_t)-1) == 0)
		k->keyed = 0;
}

bool eng_v6only(int fd, const struct reuse_sock *k)
{
	int v = 0;
	socklen_t l = sizeof v;

	return k->family == AF_INET6 &&
	       sys_getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v, &l) == 0 && v;
}

/* Microseconds since *t0. */
long eng_since_us(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000000L + (t1.tv_nsec - t0->tv_nsec) / 1000;
}

/*
 * eng_log - one line about c: the program's pid and name, its fd number,
 * the rule's words and the kernel's options as they are now. Called only
 * when wants() said the line is written: nothing is built otherwise.
 */
void eng_log(struct reuse_call *c, const char *call, const struct sockaddr_storage *ss,
	     int result, const char *result_text, const char *msg)
{
	eng_log_now(c, call, ss, result, result_text, msg, -2, -2);
}

/* eng_log with the kernel's options as the caller knows them (-2: read). */
void eng_log_now(struct reuse_call *c, const char *call, const struct sockaddr_storage *ss,
		 int result, const char *result_text, const char *msg, int ra_now, int rp_now)
{
	const struct reuse_sock *k = c->k;
	const struct reuse_rule *r = sock_rule(k);
	struct sockaddr_storage mine;
	struct reuse_event ev;
	struct reuse_words w;

	if (!ss && sock_local_addr(c->sock, &mine))
		ss = &mine;
	if (c->pid && !c->prog && c->host->names)
		c->host->names(c);
	describe_rule(r, k->asked_ra, k->asked_rp, reuse_cfg.fail_closed, &w);
	memset(&ev, 0, sizeof ev);
	ev.call = call;
	ev.fd = c->fd;
	ev.sock = k;
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
	/* held options (eng_hold) are the unbound socket's: the kernel gets
	 * them with its bind, and until then they bind nothing */
	ev.ra_now = k->held ? k->asked_ra : ra_now == -2 ? sys_getflag(c->sock, SO_REUSEADDR) : ra_now;
	ev.rp_now = k->held ? k->asked_rp : rp_now == -2 ? sys_getflag(c->sock, SO_REUSEPORT) : rp_now;
	ev.pid = c->pid;
	ev.prog = c->pid ? c->prog : NULL;
	log_event(&ev);
}
