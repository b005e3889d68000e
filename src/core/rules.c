/*
 * rules.c - would this bind succeed next to those sockets? (see rules.h)
 *
 * Pure functions over plain structs, unit-tested table by table and checked
 * against the real kernel by tests/insight.bats (a matrix of holders,
 * options and uids, through `reuse who`). The model is the kernel's, per
 * holder on an overlapping address (address overlap is the caller's):
 *
 *   TCP  no conflict if both have SO_REUSEADDR and the holder is not
 *        listening; else none if both have SO_REUSEPORT and the holder is
 *        in TIME_WAIT or has the same owner uid.
 *   UDP  no conflict if both have SO_REUSEADDR (no uid check at all); else
 *        none if both have SO_REUSEPORT and the same owner uid.
 *
 * Not modelled (documented in reuse(1)): SO_BINDTODEVICE, BPF reuseport
 * programs, the bind bucket's cached SO_REUSEPORT state after a listener
 * clears the option, and UDP's first-in-chain answer when holders disagree
 * (here any refusing holder refuses, the conservative reading).
 */
#include "core/rules.h"

/*
 * rules_conflict - the per-holder test above, three-valued because another
 * process's flags are not always readable: -1 when the answer depends on a
 * flag we do not know.
 */
int rules_conflict(const struct rules_holder *h, const struct rules_cand *c)
{
	bool listen = c->tcp && h->state == RULES_LISTEN;
	bool uid_ok = c->tcp ? (h->state == RULES_TIMEWAIT || h->uid == c->uid)
			     : h->uid == c->uid;
	int by_ra, by_rp;

	/* each path: 1 passes, 0 does not, -1 unknown */
	if (!c->ra || listen)
		by_ra = 0;
	else
		by_ra = h->ra;
	if (!c->rp || !uid_ok)
		by_rp = 0;
	else
		by_rp = h->rp;
	if (by_ra == 1 || by_rp == 1)
		return 0;
	if (by_ra < 0 || by_rp < 0)
		return -1;
	return 1;
}

/* How the candidate lives beside one holder it does not conflict with. */
static uint8_t beside(const struct rules_holder *h, const struct rules_cand *c)
{
	if (!c->tcp)
		return c->ra && h->ra == 1 ? RULES_TAKE : RULES_SHARE;
	if (h->state == RULES_LISTEN)
		return RULES_SHARE;
	return RULES_BESIDE;
}

/*
 * rules_bind - the candidate against every holder. The first refusing
 * holder decides EADDRINUSE; else the first unknown one makes it MAYBE;
 * else the strongest way it lives beside them (take > share > beside).
 */
void rules_bind(const struct rules_holder *h, size_t n,
		const struct rules_cand *c, struct rules_result *out)
{
	uint8_t best = RULES_OK;
	size_t unknown = n;

	out->blocker = 0;
	if (c->low_port_denied) {
		out->verdict = RULES_ACCES;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		int x = rules_conflict(&h[i], c);
		if (x > 0) {
			out->verdict = RULES_INUSE;
			out->blocker = i;
			return;
		}
		if (x < 0) {
			if (unknown == n)
				unknown = i;
			continue;
		}
		uint8_t b = beside(&h[i], c);
		if (best == RULES_OK || (b == RULES_TAKE) ||
		    (b == RULES_SHARE && best == RULES_BESIDE))
			best = b;
	}
	if (unknown < n) {
		out->verdict = RULES_MAYBE;
		out->blocker = unknown;
		return;
	}
	out->verdict = best;
}

const char *rules_verdict_name(unsigned v)
{
	static const char *const names[] = {
		"ok", "shares", "takes traffic", "beside", "EADDRINUSE",
		"unknown", "EACCES",
	};
	return v < sizeof names / sizeof names[0] ? names[v] : "?";
}

/*
 * rules_hijackable - try the four option choices of a stranger (a uid that
 * is not the holder's) or of a same-uid process against one live socket.
 * Receiving traffic means: UDP binds at all (it takes or shares the
 * datagrams); TCP joins a listener's group. TIME_WAIT holds no traffic.
 */
int rules_hijackable(const struct rules_holder *h, bool tcp, bool same_uid)
{
	struct rules_cand c = { .tcp = tcp };
	struct rules_result r;
	bool unknown = false;

	if (h->state == RULES_TIMEWAIT || (tcp && h->state != RULES_LISTEN))
		return 0;
	c.uid = same_uid ? h->uid : h->uid + 1;
	for (unsigned m = 1; m < 4; m++) {
		c.ra = m & 1;
		c.rp = m & 2;
		rules_bind(h, 1, &c, &r);
		if (r.verdict == RULES_MAYBE)
			unknown = true;
		else if (r.verdict == RULES_TAKE || r.verdict == RULES_SHARE)
			return 1;
	}
	return unknown ? -1 : 0;
}
