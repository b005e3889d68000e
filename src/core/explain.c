/*
 * explain.c - why a bind() failed, as text: holders in, sentences out.
 *
 * Pure functions over the facts facts.c gathers (struct explain_facts,
 * struct reuse_holders) and the kernel's rules as rules.c models them: no
 * syscalls, no kernel state read or changed, so tests/unit/
 * test_explain_text.c drives them with canned holder lists.
 *
 * A fix is offered only when following it works: a rule whose options the
 * rules say bind beside every holder (with the uid the kernel would then
 * compare: a keyed socket's key), or a command that clears what blocks.
 * Flags nobody can read here (another process's, a TIME_WAIT entry's) are
 * never guessed at: the text says what would tell, or what else works.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include "core/explain.h"
#include "core/rules.h"

/* ss's words for the states, so the log reads like `ss -tuan`. */
const char *explain_state_name(const struct reuse_holder *h)
{
	static const char *const tcp[] = {
		"?", "ESTAB", "SYN-SENT", "SYN-RECV", "FIN-WAIT-1", "FIN-WAIT-2",
		"TIME-WAIT", "UNCONN", "CLOSE-WAIT", "LAST-ACK", "LISTEN", "CLOSING",
	};
	if (h->timewait)
		return "TIME-WAIT";
	if (h->proto == IPPROTO_UDP)
		return h->state == TCP_ESTABLISHED ? "ESTAB" : "UNCONN";
	return h->state < sizeof tcp / sizeof tcp[0] ? tcp[h->state] : "?";
}

void explain_addr_text(int family, const uint8_t addr[16], uint16_t port,
		       char *out, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";

	inet_ntop(family, addr, a, sizeof a);
	snprintf(out, len, family == AF_INET6 ? "[%s]:%u" : "%s:%u", a, port);
}


size_t explain_rules_holders(const struct reuse_holder_list *l, int8_t tw_ra,
			     int8_t tw_rp, struct rules_holder *out)
{
	size_t n = 0;

	for (unsigned i = 0; i < l->n; i++) {
		const struct reuse_holder *h = &l->h[i];
		out[n++] = (struct rules_holder){
			.state = h->proto == IPPROTO_TCP && h->state == TCP_LISTEN ?
				 RULES_LISTEN : RULES_BOUND,
			.ra = h->ra, .rp = h->rp, .uid = h->uid,
		};
	}
	if (l->timewait)
		out[n++] = (struct rules_holder){
			.state = RULES_TIMEWAIT, .ra = tw_ra, .rp = tw_rp,
			.uid = l->tw.uid,
		};
	return n;
}

/* The live listener on exactly the TIME_WAIT entries' address, if any. */
static const struct reuse_holder *tw_listener(const struct reuse_holder_list *l)
{
	for (unsigned i = 0; i < l->n; i++) {
		const struct reuse_holder *h = &l->h[i];
		if (h->state == TCP_LISTEN && h->family == l->tw.family &&
		    memcmp(h->addr, l->tw.addr, 16) == 0)
			return h;
	}
	return NULL;
}

void explain_why(const struct reuse_holder_list *l, size_t i, uint32_t uid,
		 bool tcp, char *out, size_t len)
{
	if (i >= l->n) {
		snprintf(out, len, "TIME_WAIT entries pass only a socket with an "
			 "option they hold (SO_REUSEADDR, or SO_REUSEPORT), and the kernel "
			 "does not show theirs; they go when cleared (as root: "
			 EXPLAIN_SS_KILL ") or within " EXPLAIN_TW_WAIT, l->tw.port);
		return;
	}
	const struct reuse_holder *h = &l->h[i];
	const char *ra = h->ra < 0 ? "?" : h->ra ? "on" : "off";
	const char *rp = h->rp < 0 ? "?" : h->rp ? "on" : "off";
	if (tcp && h->state == TCP_LISTEN)
		snprintf(out, len, "a TCP listener admits only SO_REUSEPORT sockets of "
			 "its own uid, and only if it has SO_REUSEPORT (it: uid %u, "
			 "reuseport=%s; this uid %u)", h->uid, rp, uid);
	else
		snprintf(out, len, "sharing needs SO_REUSEADDR on both, or SO_REUSEPORT "
			 "on both and one uid (it: uid %u, reuseaddr=%s, reuseport=%s; "
			 "this uid %u)", h->uid, ra, rp, uid);
}

/* Bounded appends to the caller's message. */
struct sbuf {
	char *p;
	size_t len, cap;
};

static void sb_add(struct sbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void sb_add(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	size_t room = b->cap > b->len ? b->cap - b->len : 0;
	int n;

	if (room <= 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		b->len += (size_t)n >= room ? room - 1 : (size_t)n;
}

static const char *flag_word(int8_t v)
{
	return v < 0 ? "?" : v ? "on" : "off";
}

/* The rule line that gives each option choice (index: ra | rp << 1). */
static const char *const combo_rule[4] = {
	"", "reuseaddr=force", "reuseport=force", "reuseaddr=force reuseport=force",
};

static const char *const combo_name[4] = { "none", "reuseaddr", "reuseport", "both" };

static bool binds(unsigned v)
{
	return v == RULES_OK || v == RULES_SHARE || v == RULES_TAKE || v == RULES_BESIDE;
}

/* Each holder, as `ss` would list it, with its process and options. */
static void holders_text(struct sbuf *b, const struct reuse_holder_list *l, bool tcp)
{
	const struct reuse_holder *li = tw_listener(l);
	char a[64];

	sb_add(b, " | holders:");
	for (unsigned i = 0; i < l->n && i < 6; i++) {
		const struct reuse_holder *h = &l->h[i];
		explain_addr_text(h->family, h->addr, h->port, a, sizeof a);
		sb_add(b, "%s %s %s %s uid=%u", i ? ";" : "", tcp ? "tcp" : "udp",
		       explain_state_name(h), a, h->uid);
		if (h->pid >= 0)
			sb_add(b, " pid=%d(%s)", h->pid, h->comm[0] ? h->comm : "?");
		else
			sb_add(b, " pid=?");
		sb_add(b, " reuseaddr=%s reuseport=%s", flag_word(h->ra), flag_word(h->rp));
	}
	if (l->n > 6 || l->more)
		sb_add(b, "; and %u more", l->n - (l->n > 6 ? 6 : l->n) + l->more);
	if (l->timewait) {
		/* which socket left them is not known: only what listens there now */
		explain_addr_text(l->tw.family, l->tw.addr, l->tw.port, a, sizeof a);
		sb_add(b, "%s %u TIME-WAIT on %s", l->n ? ";" : "", l->timewait, a);
		if (li && li->pid >= 0)
			sb_add(b, " (listening there now: pid %d %s)", li->pid, li->comm);
		else if (li)
			sb_add(b, " (a listener is there now)");
		else
			sb_add(b, " (no listener there now)");
	}
	if (!l->n && !l->timewait)
		sb_add(b, " none seen");
}

/*
 * explain_detail_text - the holders by name and what would bind, appended
 * to the one-sentence explanation the engine already wrote
 * (explain_in_use_text). The TIME_WAIT entries' flags are inferred from
 * the failure itself: a socket that had SO_REUSEADDR (SO_REUSEPORT) and
 * still failed over TIME_WAIT alone proves the entries lack it; otherwise
 * they are unknown, and no rule is offered on a guess.
 */
void explain_detail_text(const struct explain_facts *f, const struct reuse_subject *s,
			 char *msg, size_t mlen)
{
	const struct reuse_holder_list *l = &f->l;
	struct rules_holder rh[REUSE_HOLDERS_MAX + 1];
	struct sbuf b = { msg, strnlen(msg, mlen), mlen };
	bool tcp = s->proto == REUSE_P_TCP;
	unsigned own = (f->own_ra == 1) | (f->own_rp == 1) << 1;
	int fix = -1, maybe = -1;
	struct rules_result r[4];
	char a[64];

	if (l->diag_errno)
		return;
	holders_text(&b, l, tcp);

	/* what each option choice would do now, for this socket's owner */
	size_t n = explain_rules_holders(l, f->own_ra == 1 && !l->n ? 0 : -1,
					 f->own_rp == 1 && !l->n ? 0 : -1, rh);
	sb_add(&b, " | as uid %u", f->uid);
	if (f->rp_uid != f->uid)
		sb_add(&b, " (keyed uid %u with SO_REUSEPORT)", f->rp_uid);
	sb_add(&b, ":");
	for (unsigned m = 0; m < 4; m++) {
		struct rules_cand c = { .tcp = tcp, .ra = m & 1, .rp = m & 2,
					.uid = m & 2 ? f->rp_uid : f->uid };
		rules_bind(rh, n, &c, &r[m]);
		sb_add(&b, " %s=%s", combo_name[m], rules_verdict_name(r[m].verdict));
		if (m && m != own && fix < 0 && binds(r[m].verdict))
			fix = (int)m;
		/* unknown because of a live holder's flags, which root can read */
		if (m && maybe < 0 && r[m].verdict == RULES_MAYBE && r[m].blocker < l->n)
			maybe = (int)m;
	}
	explain_addr_text(s->family, s->addr, s->port, a, sizeof a);
	if (binds(r[own].verdict)) {
		/* the rules let what it had bind: they are not the whole story */
		sb_add(&b, " | the rules here say it binds: a race, or what they do not model (SO_BINDTODEVICE, a BPF reuseport program)");
	} else if (fix > 0) {
		sb_add(&b, " | fix: rule '%s %s %s' ahead of the rule in force%s",
		       tcp ? "tcp" : "udp", a, combo_rule[fix],
		       r[fix].verdict == RULES_TAKE ? " (it would take the holder's datagrams)" :
		       r[fix].verdict == RULES_SHARE ? " (it joins the holder's SO_REUSEPORT group)" : "");
	} else if (maybe > 0) {
		sb_add(&b, " | whether an option helps depends on a holder's flags, unreadable here; as root, reuse who --%s %s reads them",
		       tcp ? "tcp" : "udp", a);
	} else {
		char why[256];
		size_t i = r[3].blocker < l->n ? r[3].blocker : l->n;
		/* the uid SO_REUSEPORT would compare: the key, if it would be keyed */
		explain_why(l, i, f->rp_uid, tcp, why, sizeof why);
		sb_add(&b, " | no option is known to bind now: %s", why);
	}
}

/*
 * explain_lent - the note of a bind() made with options lent to `own`
 * overlapping exclusive sockets of the program's (and to the binding
 * socket itself when `self`), shared by the library and the supervisor.
 */
void explain_lent(char *msg, size_t mlen, int own, bool self, bool ra, bool rp,
		  long us)
{
	snprintf(msg, mlen, "this process's own exclusive socket%s overlap%s: lent %s%s%s to %d socket%s for this bind() only, %ld us",
		 own == 1 ? "" : "s", own == 1 ? "s" : "", ra ? "SO_REUSEADDR" : "",
		 ra && rp ? "," : "", rp ? "SO_REUSEPORT" : "", own + self,
		 own + self == 1 ? "" : "s", us);
}

/*
 * explain_in_use_text_acts - why the kernel said EADDRINUSE, in one
 * sentence, from the holders found and the TIME_WAIT remedy the engine
 * tried (engine_bind.c). `ra` is the socket's SO_REUSEADDR, `excl` whether
 * it is exclusive under a rule that acts, `acts` whether a rule acts on it
 * at all (only then does libreuse clear entries, given CAP_NET_ADMIN); n
 * the entries cleared (or -errno), err the retried bind's errno. Where the
 * entries came from is not known (they keep the flags of whichever socket
 * left them): only the flags the failure proves are stated.
 */
void explain_in_use_text_acts(const struct reuse_holders *h, const struct reuse_subject *s,
			      int ra, bool excl, bool acts, enum reuse_remedy done, int n,
			      int err, char *msg, size_t mlen)
{
	const char *es = h->timewait == 1 ? "y" : "ies";
	char where[64];

	explain_addr_text(s->family, s->addr, s->port, where, sizeof where);
	if (h->diag_errno) {
		snprintf(msg, mlen, "%s is in use; could not ask the kernel who holds it (%s)",
			 where, strerror(h->diag_errno));
	} else if (h->live) {
		snprintf(msg, mlen, "%s is held by %u live socket%s (%u listening, owner uid %u)%s",
			 where, h->live, h->live == 1 ? "" : "s", h->listen, h->live_uid,
			 h->timewait ? " and TIME_WAIT entries" : "");
	} else if (!h->timewait) {
		snprintf(msg, mlen, "%s is in use, but the kernel lists no holder now (a race, or another network namespace)",
			 where);
	} else if (done == REMEDY_PASSED) {
		snprintf(msg, mlen, "passed %u TIME_WAIT entr%s on %s, which hold SO_REUSEADDR, with SO_REUSEADDR lent to this bind() only",
			 h->timewait, es, where);
	} else if (done == REMEDY_CLEARED) {
		snprintf(msg, mlen, "cleared %d TIME_WAIT entr%s on %s, which lack SO_REUSEADDR (CAP_NET_ADMIN, SOCK_DESTROY); bind retried: %s",
			 n, n == 1 ? "y" : "ies", where, err ? strerror(err) : "ok");
	} else if (done == REMEDY_CLEAR_FAILED) {
		snprintf(msg, mlen, "%u TIME_WAIT entr%s hold %s; clearing them failed (%s); fix: as root, " EXPLAIN_SS_KILL ", or wait up to " EXPLAIN_TW_WAIT,
			 h->timewait, es, where, strerror(-n), s->port);
	} else if (ra > 0 || excl) {
		snprintf(msg, mlen, "%u TIME_WAIT entr%s hold %s and lack SO_REUSEADDR (entries keep the options of the socket that left them, so SO_REUSEADDR here cannot pass them); fix: %sas root, " EXPLAIN_SS_KILL ", or wait up to " EXPLAIN_TW_WAIT "; a run under reuseaddr=force or exclusive leaves entries the next one passes",
			 h->timewait, es, where,
			 acts ? "start once with CAP_NET_ADMIN (libreuse clears them), or " : "",
			 s->port);
	} else {
		snprintf(msg, mlen, "%u TIME_WAIT entr%s hold %s and this socket lacks SO_REUSEADDR; fix: rule 'tcp %s reuseaddr=force' ahead of the rule in force: it passes entries that hold SO_REUSEADDR and, given CAP_NET_ADMIN, clears the others (else they go within " EXPLAIN_TW_WAIT ")",
			 h->timewait, es, where, where);
	}
}

/* explain_in_use_text - as the engine calls it today (core.h): a rule that
 * acts is assumed, which is what the default policy gives every TCP socket. */
void explain_in_use_text(const struct reuse_holders *h, const struct reuse_subject *s,
			 int ra, bool excl, enum reuse_remedy done, int n, int err,
			 char *msg, size_t mlen)
{
	explain_in_use_text_acts(h, s, ra, excl, true, done, n, err, msg, mlen);
}
