/*
 * test_rules.c - the Linux reuse rules as a pure function (src/core/rules.c).
 *
 * Each row is one of the rules libreuse(7) states ("Explained EADDRINUSE";
 * measured on Linux 6.18), or a case the kernel source decides the same way;
 * tests/insight.bats checks the same function against the real kernel.
 */
#include "core/rules.h"
#include "tap.h"
#include "unit.h"

enum { B = RULES_BOUND, L = RULES_LISTEN, TW = RULES_TIMEWAIT };
enum { ME = 1000, OTHER = 65534 };

static const struct {
	const char *what;
	bool tcp;
	unsigned n;
	struct rules_holder h[2];
	bool ra, rp;
	uint32_t uid;
	unsigned verdict;
} rows[] = {
	{ "udp RA/RA other uid: B takes the traffic", false, 1, { { B, 1, 0, ME } }, 1, 0, OTHER, RULES_TAKE },
	{ "udp RA/RA same uid: last binder takes it", false, 1, { { B, 1, 0, ME } }, 1, 0, ME, RULES_TAKE },
	{ "udp RA/none", false, 1, { { B, 1, 0, ME } }, 0, 0, ME, RULES_INUSE },
	{ "udp none/RA", false, 1, { { B, 0, 0, ME } }, 1, 0, ME, RULES_INUSE },
	{ "udp RA/RP same uid (holder lacks RP)", false, 1, { { B, 1, 0, ME } }, 0, 1, ME, RULES_INUSE },
	{ "udp RP/RP same uid: shared", false, 1, { { B, 0, 1, ME } }, 0, 1, ME, RULES_SHARE },
	{ "udp RP/RP other uid", false, 1, { { B, 0, 1, ME } }, 0, 1, OTHER, RULES_INUSE },
	{ "udp RA+RP/RA+RP other uid: RA skips the uid check", false, 1, { { B, 1, 1, ME } }, 1, 1, OTHER, RULES_TAKE },
	{ "udp RA+RP/RP other uid", false, 1, { { B, 1, 1, ME } }, 0, 1, OTHER, RULES_INUSE },
	{ "udp RA+RP/RP same uid", false, 1, { { B, 1, 1, ME } }, 0, 1, ME, RULES_SHARE },
	{ "udp none/none", false, 1, { { B, 0, 0, ME } }, 0, 0, ME, RULES_INUSE },
	{ "udp nothing on the port", false, 0, { { 0 } }, 0, 0, ME, RULES_OK },
	{ "tcp RA L/RA other uid", true, 1, { { L, 1, 0, ME } }, 1, 0, OTHER, RULES_INUSE },
	{ "tcp RA L/RA same uid", true, 1, { { L, 1, 0, ME } }, 1, 0, ME, RULES_INUSE },
	{ "tcp RA bound/RA: bind ok", true, 1, { { B, 1, 0, ME } }, 1, 0, OTHER, RULES_BESIDE },
	{ "tcp RP L/RP same uid: shared", true, 1, { { L, 0, 1, ME } }, 0, 1, ME, RULES_SHARE },
	{ "tcp RP L/RP other uid", true, 1, { { L, 0, 1, ME } }, 0, 1, OTHER, RULES_INUSE },
	{ "tcp RA+RP L/RA+RP other uid", true, 1, { { L, 1, 1, ME } }, 1, 1, OTHER, RULES_INUSE },
	{ "tcp RA+RP L/RA+RP same uid", true, 1, { { L, 1, 1, ME } }, 1, 1, ME, RULES_SHARE },
	{ "tcp none L/none", true, 1, { { L, 0, 0, ME } }, 0, 0, ME, RULES_INUSE },
	{ "tcp TIME_WAIT of a listener without RA/RA", true, 1, { { TW, 0, 0, ME } }, 1, 0, ME, RULES_INUSE },
	{ "tcp TIME_WAIT without RA/none", true, 1, { { TW, 0, 0, ME } }, 0, 0, ME, RULES_INUSE },
	{ "tcp TIME_WAIT with RA/RA other uid", true, 1, { { TW, 1, 0, ME } }, 1, 0, OTHER, RULES_BESIDE },
	{ "tcp TIME_WAIT with RA/none", true, 1, { { TW, 1, 0, ME } }, 0, 0, ME, RULES_INUSE },
	{ "tcp TIME_WAIT with RP/RP other uid: TIME_WAIT skips the uid check", true, 1, { { TW, 0, 1, ME } }, 0, 1, OTHER, RULES_BESIDE },
	{ "tcp TIME_WAIT with RA + RP L same uid/RA+RP", true, 2, { { TW, 1, 0, ME }, { L, 0, 1, ME } }, 1, 1, ME, RULES_SHARE },
	{ "tcp TIME_WAIT with RA + RP L other uid/RA+RP", true, 2, { { TW, 1, 0, ME }, { L, 0, 1, ME } }, 1, 1, OTHER, RULES_INUSE },
	{ "udp RA + RP same uid/RA+RP: takes", false, 2, { { B, 0, 1, ME }, { B, 1, 0, ME } }, 1, 1, ME, RULES_TAKE },
	{ "udp unknown flags/RA: depends", false, 1, { { B, -1, -1, ME } }, 1, 0, ME, RULES_MAYBE },
	{ "udp unknown flags/none: refused whatever they are", false, 1, { { B, -1, -1, ME } }, 0, 0, ME, RULES_INUSE },
	{ "udp unknown flags/RP other uid: refused", false, 1, { { B, -1, -1, ME } }, 0, 1, OTHER, RULES_INUSE },
	{ "tcp L unknown flags/RA: RA never passes a listener", true, 1, { { L, -1, 0, ME } }, 1, 0, ME, RULES_INUSE },
	{ "tcp L unknown RP/RP same uid: depends", true, 1, { { L, 0, -1, ME } }, 0, 1, ME, RULES_MAYBE },
	{ "tcp refusing holder wins over an unknown one", true, 2, { { L, 0, -1, ME }, { L, 0, 0, ME } }, 0, 1, ME, RULES_INUSE },
};

static const struct {
	const char *what;
	bool tcp;
	struct rules_holder h;
	int stranger, same;
} hijack[] = {
	{ "udp RA", false, { B, 1, 0, ME }, 1, 1 },
	{ "udp RA+RP", false, { B, 1, 1, ME }, 1, 1 },
	{ "udp RP", false, { B, 0, 1, ME }, 0, 1 },
	{ "udp none", false, { B, 0, 0, ME }, 0, 0 },
	{ "udp unknown", false, { B, -1, -1, ME }, -1, -1 },
	{ "tcp L RA", true, { L, 1, 0, ME }, 0, 0 },
	{ "tcp L RP", true, { L, 0, 1, ME }, 0, 1 },
	{ "tcp L RA+RP", true, { L, 1, 1, ME }, 0, 1 },
	{ "tcp L none", true, { L, 0, 0, ME }, 0, 0 },
	{ "tcp bound RA: no traffic to take", true, { B, 1, 1, ME }, 0, 0 },
	{ "tcp TIME_WAIT", true, { TW, 1, 1, ME }, 0, 0 },
};

void test_rules(void)
{
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		struct rules_cand c = { .tcp = rows[i].tcp, .ra = rows[i].ra,
					.rp = rows[i].rp, .uid = rows[i].uid };
		struct rules_result r = { 99, 99 };
		rules_bind(rows[i].h, rows[i].n, &c, &r);
		if (!ok(r.verdict == rows[i].verdict, "rules: %s -> %s", rows[i].what,
			rules_verdict_name(rows[i].verdict)))
			diag("got %s", rules_verdict_name(r.verdict));
		/* a privileged port refuses first, whatever the holders */
		c.low_port_denied = true;
		rules_bind(rows[i].h, rows[i].n, &c, &r);
		ok(r.verdict == RULES_ACCES, "rules: %s, port < 1024 unprivileged -> EACCES",
		   rows[i].what);
	}
	for (size_t i = 0; i < sizeof hijack / sizeof hijack[0]; i++) {
		int s = rules_hijackable(&hijack[i].h, hijack[i].tcp, false);
		int m = rules_hijackable(&hijack[i].h, hijack[i].tcp, true);
		ok(s == hijack[i].stranger && m == hijack[i].same,
		   "hijackable: %s -> other uid %d, same uid %d (got %d, %d)",
		   hijack[i].what, hijack[i].stranger, hijack[i].same, s, m);
	}
	/* the blocker index names the refusing holder */
	struct rules_holder two[2] = { { L, 0, 1, ME }, { L, 0, 0, ME } };
	struct rules_cand c = { .tcp = true, .rp = true, .uid = ME };
	struct rules_result r;
	rules_bind(two, 2, &c, &r);
	ok(r.verdict == RULES_INUSE && r.blocker == 1, "rules: blocker is the second holder");
}
