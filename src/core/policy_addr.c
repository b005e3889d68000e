/*
 * policy_addr.c - PROTO and ADDRESS of a rule (reuse.policy(5)): tcp|udp|any,
 * HOST (addresses and prefixes of either family, v4-mapped folded to IPv4)
 * and PORTS (lists and ranges, sorted and merged).
 */
#include "policy_int.h"

/* ---- PROTO --------------------------------------------------------- */

/* parse_proto - tcp|udp|any into a mask (0 on error). */
unsigned parse_proto(struct parser *ps, const struct tok *t)
{
	static const char *const names[] = { "tcp", "udp", "any" };
	static const unsigned masks[] = { REUSE_P_TCP, REUSE_P_UDP, REUSE_P_ANY };
	for (size_t i = 0; i < 3; i++)
		if (tok_is(t, names[i]))
			return masks[i];
	char hb[64];
	perr(ps, t->col, "expected PROTO (tcp, udp or any), got '" TOKF "'%s",
	     TOKA(t->p, t->n), hint(hb, sizeof hb, suggest(t->p, t->n, names, 3)));
	return 0;
}

/* ---- HOST ---------------------------------------------------------- */

/*
 * parse_prefix - the digits after '/' (t starts at the '/'), at most max.
 * Returns false after reporting.
 */
static bool parse_prefix(struct parser *ps, const struct tok *t, unsigned max,
			 uint8_t *out)
{
	struct tok d = tok_sub(t, 1, t->n);
	unsigned long long v;
	if (d.n == 0) {
		perr(ps, t->col, "missing prefix length after '/'");
		return false;
	}
	switch (parse_uint(&d, max, &v)) {
	case 1:
		perr(ps, t->col, "invalid prefix length '/" TOKF "'", TOKA(d.p, d.n));
		return false;
	case 2:
		perr(ps, d.col, "prefix length /" TOKF " out of range 0-%u",
		     TOKA(d.p, d.n), max);
		return false;
	}
	*out = (uint8_t)v;
	return true;
}

/* mask_host - clear the bits of addr beyond prefix; true if any were set. */
static bool mask_host(uint8_t *addr, size_t bytes, unsigned prefix)
{
	bool set = false;
	for (size_t i = 0; i < bytes; i++) {
		unsigned keep = prefix >= (i + 1) * 8 ? 8 :
				prefix > i * 8 ? prefix - (unsigned)i * 8 : 0;
		uint8_t mask = (uint8_t)(0xff00u >> keep);
		if (addr[i] & ~mask)
			set = true;
		addr[i] &= mask;
	}
	return set;
}

/*
 * check_host_bits - a prefix must not leave host bits set (10.1.2.3/8 is
 * most likely a typo); the message suggests the network address.
 */
static bool check_host_bits(struct parser *ps, const struct tok *t,
			    const struct reuse_host *h)
{
	uint8_t net[16];
	memcpy(net, h->addr, sizeof net);
	size_t bytes = h->family == AF_INET ? 4 : 16;
	if (!mask_host(net, bytes, h->prefix))
		return true;
	char txt[INET6_ADDRSTRLEN] = "?";
	inet_ntop(h->family, net, txt, sizeof txt);
	bool v6 = h->family == AF_INET6;
	perr(ps, t->col, "host bits set beyond /%u in '" TOKF "' (did you mean %s%s%s/%u?)",
	     h->prefix, TOKA(t->p, t->n), v6 ? "[" : "", txt, v6 ? "]" : "",
	     h->prefix);
	return false;
}

/*
 * pton - inet_pton on a token. The copy is bounded: anything longer than
 * the longest address text cannot be an address anyway.
 */
static bool pton(int family, const struct tok *t, uint8_t *out)
{
	char buf[INET6_ADDRSTRLEN + 1];
	if (t->n >= sizeof buf)
		return false;
	memcpy(buf, t->p, t->n);
	buf[t->n] = '\0';
	return inet_pton(family, buf, out) == 1;
}

/* normalise_mapped - [::ffff:a.b.c.d]/96+ is the IPv4 rule a.b.c.d/(p-96). */
static void normalise_mapped(struct reuse_host *h)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	if (h->family != AF_INET6 || h->prefix < 96 ||
	    memcmp(h->addr, mapped, sizeof mapped) != 0)
		return;
	uint8_t v4[4];
	memcpy(v4, h->addr + 12, 4);
	memset(h->addr, 0, sizeof h->addr);
	memcpy(h->addr, v4, 4);
	h->family = AF_INET;
	h->prefix = (uint8_t)(h->prefix - 96);
}

/* parse_host6 - "[v6]" or "[v6]/N"; t starts at '['. */
static bool parse_host6(struct parser *ps, const struct tok *t,
			struct reuse_host *h)
{
	const char *close = memchr(t->p, ']', t->n);
	size_t ci = close ? (size_t)(close - t->p) : t->n;
	if (!close) {
		perr(ps, t->col, "missing ']' after '['");
		return false;
	}
	struct tok in = tok_sub(t, 1, ci);
	struct tok rest = tok_sub(t, ci + 1, t->n);
	bool ok = true;
	h->family = AF_INET6;
	h->prefix = 128;
	if (!pton(AF_INET6, &in, h->addr)) {
		bool v4 = memchr(in.p, ':', in.n) == NULL && memchr(in.p, '.', in.n);
		perr(ps, t->col, "invalid IPv6 address '" TOKF "'%s", TOKA(in.p, in.n),
		     v4 ? " (IPv4 addresses take no brackets)" : "");
		ok = false;
	}
	if (rest.n && rest.p[0] != '/') {
		perr(ps, rest.col, "unexpected '" TOKF "' after ']'", TOKA(rest.p, rest.n));
		return false;
	}
	if (rest.n && !parse_prefix(ps, &rest, 128, &h->prefix))
		return false;
	if (!ok || !check_host_bits(ps, t, h))
		return false;
	normalise_mapped(h);
	return true;
}

/* parse_host4 - "a.b.c.d" or "a.b.c.d/N". */
static bool parse_host4(struct parser *ps, const struct tok *t,
			struct reuse_host *h)
{
	const char *slash = memchr(t->p, '/', t->n);
	size_t si = slash ? (size_t)(slash - t->p) : t->n;
	struct tok a = tok_sub(t, 0, si);
	bool ok = true;
	h->family = AF_INET;
	h->prefix = 32;
	if (!pton(AF_INET, &a, h->addr)) {
		bool v6 = memchr(a.p, ':', a.n) != NULL;
		perr(ps, t->col, "invalid IPv4 address '" TOKF "'%s", TOKA(a.p, a.n),
		     v6 ? " (IPv6 addresses go in brackets, e.g. [::1]:80)" : "");
		ok = false;
	}
	if (slash) {
		struct tok pre = tok_sub(t, si, t->n);
		if (!parse_prefix(ps, &pre, 32, &h->prefix))
			return false;
	}
	return ok && check_host_bits(ps, t, h);
}

/* parse_host - HOST of ADDRESS: `*`, IPv4[/N] or [IPv6][/N]. */
static bool parse_host(struct parser *ps, const struct tok *t,
		       struct reuse_host *h)
{
	memset(h, 0, sizeof *h);
	if (t->n == 0) {
		perr(ps, t->col, "missing HOST before ':' (use * for any address)");
		return false;
	}
	if (tok_is(t, "*"))
		return true;
	if (t->p[0] == '[')
		return parse_host6(ps, t, h);
	return parse_host4(ps, t, h);
}

/* ---- PORTS --------------------------------------------------------- */

/* parse_port - one port number of a list element; false after reporting. */
static bool parse_port(struct parser *ps, const struct tok *t, uint16_t *out)
{
	unsigned long long v;
	switch (parse_uint(t, 65535, &v)) {
	case 1:
		perr(ps, t->col, "invalid port '" TOKF "'", TOKA(t->p, t->n));
		return false;
	case 2:
		perr(ps, t->col, "port " TOKF " out of range 0-65535", TOKA(t->p, t->n));
		return false;
	}
	*out = (uint16_t)v;
	return true;
}

/* parse_port_elem - "N" or "N-M" of a port list. */
static bool parse_port_elem(struct parser *ps, const struct tok *e,
			    struct reuse_ports *out)
{
	if (tok_is(e, "*")) {
		perr(ps, e->col, "'*' cannot be part of a port list");
		return false;
	}
	const char *dash = memchr(e->p, '-', e->n);
	if (!dash) {
		if (!parse_port(ps, e, &out->lo))
			return false;
		out->hi = out->lo;
		return true;
	}
	size_t di = (size_t)(dash - e->p);
	struct tok lo = tok_sub(e, 0, di), hi = tok_sub(e, di + 1, e->n);
	if (lo.n == 0 || hi.n == 0) {
		perr(ps, e->col, "invalid port range '" TOKF "' (expected LOW-HIGH)",
		     TOKA(e->p, e->n));
		return false;
	}
	bool ok = parse_port(ps, &lo, &out->lo);
	ok = parse_port(ps, &hi, &out->hi) && ok;
	if (ok && out->lo > out->hi) {
		perr(ps, e->col, "reversed port range %u-%u (did you mean %u-%u?)",
		     out->lo, out->hi, out->hi, out->lo);
		return false;
	}
	return ok;
}

static int cmp_ports(const void *a, const void *b)
{
	const struct reuse_ports *x = a, *y = b;
	return (x->lo > y->lo) - (x->lo < y->lo);
}

/* merge_ports - sort and merge overlapping or adjacent ranges; new count. */
static size_t merge_ports(struct reuse_ports *p, size_t n)
{
	size_t k = 0;
	qsort(p, n, sizeof *p, cmp_ports);
	for (size_t i = 0; i < n; i++) {
		if (k && (unsigned)p[i].lo <= (unsigned)p[k - 1].hi + 1) {
			if (p[i].hi > p[k - 1].hi)
				p[k - 1].hi = p[i].hi;
		} else {
			p[k++] = p[i];
		}
	}
	return k;
}

/*
 * parse_ports - PORTS of ADDRESS: `*` (nports 0) or a comma list of ports
 * and ranges. colon_col is where the ':' is, for a missing PORTS. Every bad
 * element is reported, at its own column.
 */
static bool parse_ports(struct parser *ps, const struct tok *t, size_t colon_col,
			struct reuse_rule *r)
{
	if (t->n == 0) {
		perr(ps, colon_col, "missing PORTS after ':' (use * for any port)");
		return false;
	}
	if (tok_is(t, "*"))
		return true;
	size_t max = 1;
	for (size_t i = 0; i < t->n; i++)
		max += t->p[i] == ',';
	struct reuse_ports *p = malloc(max * sizeof *p);
	if (!p) {
		perr(ps, t->col, "out of memory");
		return false;
	}
	size_t n = 0;
	bool ok = true;
	for (size_t i = 0; i <= t->n;) {
		const char *comma = memchr(t->p + i, ',', t->n - i);
		size_t end = comma ? (size_t)(comma - t->p) : t->n;
		struct tok e = tok_sub(t, i, end);
		if (e.n == 0) {
			/* point at the comma that ends (or, at the end, precedes) it */
			perr(ps, i < t->n ? e.col : e.col - 1, "empty element in port list");
			ok = false;
		} else if (parse_port_elem(ps, &e, &p[n])) {
			n++;
		} else {
			ok = false;
		}
		i = end + 1;
	}
	if (!ok) {
		free(p);
		return false;
	}
	r->ports = p;
	r->nports = merge_ports(p, n);
	return true;
}

/* ---- ADDRESS ------------------------------------------------------- */

/*
 * parse_address - HOST:PORTS, split at the last ':' outside brackets so
 * that [::1]:80 and 10.0.0.0/8:80 both work. Both halves are checked even
 * if one is wrong.
 */
bool parse_address(struct parser *ps, const struct tok *t,
			  struct reuse_rule *r)
{
	size_t colon = t->n, open_at = 0;
	unsigned depth = 0;
	for (size_t i = 0; i < t->n; i++) {
		char ch = t->p[i];
		if (ch == '[' && depth++ == 0)
			open_at = i;
		else if (ch == ']' && depth)
			depth--;
		else if (ch == ':' && !depth)
			colon = i;
	}
	if (depth) {
		perr(ps, t->col + open_at, "missing ']' after '['");
		return false;
	}
	if (colon == t->n) {
		perr(ps, t->col, "expected ADDRESS as HOST:PORTS (e.g. *:80), got '" TOKF "'",
		     TOKA(t->p, t->n));
		return false;
	}
	struct tok host = tok_sub(t, 0, colon), ports = tok_sub(t, colon + 1, t->n);
	bool ok = parse_host(ps, &host, &r->host);
	return parse_ports(ps, &ports, t->col + colon, r) && ok;
}

