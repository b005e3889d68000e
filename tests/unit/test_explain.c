/*
 * test_explain.c - the explanation's text (src/core/explain.c) from canned
 * holder lists: who holds an address and what was tried in, sentences
 * out. No kernel state is read or changed by these functions.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "core/rules.h"
#include "tap.h"
#include "unit.h"

static bool same(const char *got, const char *want, const char *what)
{
	if (ok(strcmp(got, want) == 0, "%s", what))
		return true;
	diag("want: %s", want);
	diag("got:  %s", got);
	return false;
}

static void subject4(struct reuse_subject *s, uint16_t port)
{
	memset(s, 0, sizeof *s);
	s->proto = REUSE_P_TCP;
	s->family = AF_INET;
	s->addr[0] = 127;
	s->addr[3] = 1;
	s->port = port;
}

static void in_use_text(void)
{
	struct reuse_subject s, s6;
	struct reuse_holders h;
	char msg[1600];

	subject4(&s, 8080);
	memset(&s6, 0, sizeof s6);
	s6.proto = REUSE_P_TCP;
	s6.family = AF_INET6;
	s6.port = 53;                        /* [::]:53 */

	memset(&h, 0, sizeof h);
	h.diag_errno = EPERM;
	explain_in_use_text(&h, &s, 0, false, REMEDY_NONE, 0, 0, msg, sizeof msg);
	same(msg, "127.0.0.1:8080 is in use; could not ask the kernel who holds it (Operation not permitted)",
	     "in use: sock_diag unavailable");

	memset(&h, 0, sizeof h);
	h.live = 1;
	h.listen = 1;
	h.live_uid = 1000;
	explain_in_use_text(&h, &s, 0, false, REMEDY_NONE, 0, 0, msg, sizeof msg);
	same(msg, "127.0.0.1:8080 is held by 1 live socket (1 listening, owner uid 1000)",
	     "in use: one live listener");
	h.live = 3;
	h.timewait = 2;
	explain_in_use_text(&h, &s6, 1, true, REMEDY_NONE, 0, 0, msg, sizeof msg);
	same(msg, "[::]:53 is held by 3 live sockets (1 listening, owner uid 1000) and TIME_WAIT entries",
	     "in use: live sockets and TIME_WAIT, IPv6");

	memset(&h, 0, sizeof h);
	explain_in_use_text(&h, &s, 0, false, REMEDY_NONE, 0, 0, msg, sizeof msg);
	same(msg, "127.0.0.1:8080 is in use, but the kernel lists no holder now (a race, or another network namespace)",
	     "in use: nobody listed");

	h.timewait = 1;
	explain_in_use_text(&h, &s, 0, true, REMEDY_PASSED, 0, 0, msg, sizeof msg);
	same(msg, "passed 1 TIME_WAIT entry on 127.0.0.1:8080, which hold SO_REUSEADDR, with SO_REUSEADDR lent to this bind() only",
	     "in use: TIME_WAIT passed");
	h.timewait = 4;
	explain_in_use_text(&h, &s, 1, false, REMEDY_CLEARED, 4, 0, msg, sizeof msg);
	same(msg, "cleared 4 TIME_WAIT entries on 127.0.0.1:8080, which lack SO_REUSEADDR (CAP_NET_ADMIN, SOCK_DESTROY); bind retried: ok",
	     "in use: TIME_WAIT cleared, retried ok");
	explain_in_use_text(&h, &s, 1, false, REMEDY_CLEARED, 1, EADDRINUSE, msg, sizeof msg);
	same(msg, "cleared 1 TIME_WAIT entry on 127.0.0.1:8080, which lack SO_REUSEADDR (CAP_NET_ADMIN, SOCK_DESTROY); bind retried: Address already in use",
	     "in use: TIME_WAIT cleared, retry failed");
	explain_in_use_text(&h, &s, 1, false, REMEDY_CLEAR_FAILED, -EPERM, 0, msg, sizeof msg);
	same(msg, "4 TIME_WAIT entries hold 127.0.0.1:8080; clearing them failed (Operation not permitted); fix: as root, ss -K state time-wait sport = :8080, or wait up to 66 s",
	     "in use: clearing failed");
	explain_in_use_text(&h, &s, 1, false, REMEDY_NONE, 0, 0, msg, sizeof msg);
	same(msg, "4 TIME_WAIT entries hold 127.0.0.1:8080 and lack SO_REUSEADDR (entries keep the options of the socket that left them, so SO_REUSEADDR here cannot pass them); fix: start once with CAP_NET_ADMIN (libreuse clears them), or as root, ss -K state time-wait sport = :8080, or wait up to 66 s; a run under reuseaddr=force or exclusive leaves entries the next one passes",
	     "in use: TIME_WAIT against SO_REUSEADDR");
	explain_in_use_text(&h, &s, 0, true, REMEDY_NONE, 0, 0, msg, sizeof msg);
	ok(strstr(msg, "4 TIME_WAIT entries hold 127.0.0.1:8080 and lack SO_REUSEADDR (") == msg,
	   "in use: an exclusive socket without SO_REUSEADDR gets the same sentence (%s)", msg);
	explain_in_use_text(&h, &s, 0, false, REMEDY_NONE, 0, 0, msg, sizeof msg);
	same(msg, "4 TIME_WAIT entries hold 127.0.0.1:8080 and this socket lacks SO_REUSEADDR; fix: rule 'tcp 127.0.0.1:8080 reuseaddr=force' ahead of the rule in force: it passes entries that hold SO_REUSEADDR and, given CAP_NET_ADMIN, clears the others (else they go within 66 s)",
	     "in use: TIME_WAIT, no SO_REUSEADDR: the rule that fixes it");

	/* a short buffer: cut, terminated */
	explain_in_use_text(&h, &s, 0, false, REMEDY_NONE, 0, 0, msg, 20);
	same(msg, "4 TIME_WAIT entries", "in use: cut to the caller's buffer");
}

static struct reuse_holder holder(uint8_t proto, uint8_t state, int family, const char *addr,
				  uint32_t uid, int8_t ra, int8_t rp)
{
	struct reuse_holder h;

	memset(&h, 0, sizeof h);
	h.proto = proto;
	h.state = state;
	h.family = (uint8_t)family;
	inet_pton(family, addr, h.addr);
	h.port = 8080;
	h.uid = uid;
	h.ra = ra;
	h.rp = rp;
	h.pid = h.fd = -1;
	return h;
}

static void why_text(void)
{
	struct reuse_holder_list l;
	struct rules_holder rh[REUSE_HOLDERS_MAX + 1];
	char out[300];
	size_t n;

	memset(&l, 0, sizeof l);
	l.h[0] = holder(IPPROTO_TCP, TCP_LISTEN, AF_INET, "0.0.0.0", 33, 1, 0);
	l.h[1] = holder(IPPROTO_UDP, TCP_CLOSE, AF_INET6, "::1", 0, -1, 1);
	l.n = 2;
	explain_why(&l, 0, 1000, true, out, sizeof out);
	same(out, "a TCP listener admits only SO_REUSEPORT sockets of its own uid, and only if it has SO_REUSEPORT (it: uid 33, reuseport=off; this uid 1000)",
	     "why: a TCP listener");
	explain_why(&l, 1, 1000, false, out, sizeof out);
	same(out, "sharing needs SO_REUSEADDR on both, or SO_REUSEPORT on both and one uid (it: uid 0, reuseaddr=?, reuseport=on; this uid 1000)",
	     "why: a bound UDP socket, one flag unreadable");
	explain_why(&l, 0, 1000, false, out, sizeof out);
	ok(strncmp(out, "sharing needs", 13) == 0, "why: a listener state under UDP is a bound socket");
	explain_why(&l, 2, 1000, true, out, sizeof out);
	same(out, "TIME_WAIT entries pass only a socket with an option they hold (SO_REUSEADDR, or SO_REUSEPORT), and the kernel does not show theirs; they go when cleared (as root: ss -K state time-wait sport = :0) or within 66 s",
	     "why: the TIME_WAIT pseudo-holder (index n)");

	/* the holders as rules.c takes them; TIME_WAIT last */
	l.timewait = 3;
	l.tw = holder(IPPROTO_TCP, TCP_TIME_WAIT, AF_INET, "127.0.0.1", 7, 0, 0);
	l.tw.timewait = true;
	n = explain_rules_holders(&l, 1, -1, rh);
	ok(n == 3 && rh[0].state == RULES_LISTEN && rh[0].ra == 1 && rh[0].rp == 0 &&
	   rh[0].uid == 33 && rh[1].state == RULES_BOUND && rh[1].ra == -1 && rh[1].rp == 1 &&
	   rh[2].state == RULES_TIMEWAIT && rh[2].ra == 1 && rh[2].rp == -1 && rh[2].uid == 7,
	   "rules holders: listener, bound, TIME_WAIT with the flags given (%zu)", n);
	l.timewait = 0;
	ok(explain_rules_holders(&l, 0, 0, rh) == 2, "rules holders: no TIME_WAIT, no pseudo-holder");
}

static void words(void)
{
	static const struct {
		uint8_t proto, state;
		bool tw;
		const char *name;
	} t[] = {
		{ IPPROTO_TCP, TCP_LISTEN, false, "LISTEN" },
		{ IPPROTO_TCP, TCP_ESTABLISHED, false, "ESTAB" },
		{ IPPROTO_TCP, TCP_CLOSE, false, "UNCONN" },
		{ IPPROTO_TCP, TCP_CLOSE_WAIT, false, "CLOSE-WAIT" },
		{ IPPROTO_TCP, TCP_SYN_RECV, false, "SYN-RECV" },
		{ IPPROTO_TCP, 200, false, "?" },
		{ IPPROTO_TCP, TCP_ESTABLISHED, true, "TIME-WAIT" },
		{ IPPROTO_UDP, TCP_ESTABLISHED, false, "ESTAB" },
		{ IPPROTO_UDP, TCP_CLOSE, false, "UNCONN" },
		{ IPPROTO_UDP, TCP_LISTEN, false, "UNCONN" },
	};
	char a[64];
	uint8_t addr[16] = { 0 };

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct reuse_holder h;
		memset(&h, 0, sizeof h);
		h.proto = t[i].proto;
		h.state = t[i].state;
		h.timewait = t[i].tw;
		ok(strcmp(explain_state_name(&h), t[i].name) == 0, "state %u/%u%s is %s (%s)",
		   t[i].proto, t[i].state, t[i].tw ? " tw" : "", t[i].name, explain_state_name(&h));
	}
	inet_pton(AF_INET, "10.1.2.3", addr);
	explain_addr_text(AF_INET, addr, 53, a, sizeof a);
	same(a, "10.1.2.3:53", "address text: IPv4");
	inet_pton(AF_INET6, "fe80::1", addr);
	explain_addr_text(AF_INET6, addr, 65535, a, sizeof a);
	same(a, "[fe80::1]:65535", "address text: IPv6");
}

static void lent_text(void)
{
	char msg[300];

	explain_lent(msg, sizeof msg, 1, false, true, false, 12);
	same(msg, "this process's own exclusive socket overlaps: lent SO_REUSEADDR to 1 socket for this bind() only, 12 us",
	     "lent: one own socket, SO_REUSEADDR");
	explain_lent(msg, sizeof msg, 2, true, true, true, 3);
	same(msg, "this process's own exclusive sockets overlap: lent SO_REUSEADDR,SO_REUSEPORT to 3 sockets for this bind() only, 3 us",
	     "lent: two own and this one, both options");
	explain_lent(msg, sizeof msg, 1, true, false, true, 0);
	same(msg, "this process's own exclusive socket overlaps: lent SO_REUSEPORT to 2 sockets for this bind() only, 0 us",
	     "lent: SO_REUSEPORT only");
}

/* Overlap of two local addresses on one port (the kernel's view). */
static void overlap(void)
{
	static const struct {
		int fa;
		const char *a;
		bool v6a;
		int fb;
		const char *b;
		bool v6b;
		bool want;
	} t[] = {
		{ AF_INET, "127.0.0.1", false, AF_INET, "127.0.0.1", false, true },
		{ AF_INET, "127.0.0.1", false, AF_INET, "127.0.0.2", false, false },
		{ AF_INET, "0.0.0.0", false, AF_INET, "127.0.0.2", false, true },
		{ AF_INET, "127.0.0.2", false, AF_INET, "0.0.0.0", false, true },
		{ AF_INET6, "::", false, AF_INET, "127.0.0.1", false, true },     /* dual stack */
		{ AF_INET6, "::", true, AF_INET, "127.0.0.1", false, false },     /* v6only */
		{ AF_INET6, "::", true, AF_INET6, "::1", false, true },
		{ AF_INET6, "::1", false, AF_INET, "127.0.0.1", false, false },
		{ AF_INET6, "::1", false, AF_INET6, "::2", false, false },
		{ AF_INET6, "::", false, AF_INET, "0.0.0.0", false, true },
		{ AF_INET, "0.0.0.0", false, AF_INET6, "::1", false, false },
	};

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		uint8_t a[16] = { 0 }, b[16] = { 0 };
		bool got;

		inet_pton(t[i].fa, t[i].a, a);
		inet_pton(t[i].fb, t[i].b, b);
		got = explain_overlap(t[i].fa, a, t[i].v6a, t[i].fb, b, t[i].v6b);
		ok(got == t[i].want, "overlap %s%s / %s%s: %s", t[i].a, t[i].v6a ? " v6only" : "",
		   t[i].b, t[i].v6b ? " v6only" : "", t[i].want ? "yes" : "no");
		got = explain_overlap(t[i].fb, b, t[i].v6b, t[i].fa, a, t[i].v6a);
		ok(got == t[i].want, "overlap %s / %s (swapped): %s", t[i].b, t[i].a,
		   t[i].want ? "yes" : "no");
	}
}

void test_explain(void)
{
	in_use_text();
	why_text();
	words();
	lent_text();
	overlap();
}
