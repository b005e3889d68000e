/*
 * policy.c - the policy language (reuse.policy(5)): parse, match, index.
 *
 * Parsing is one pass over the text, line by line, token by token, with no
 * fixed-size line buffers: a line may be any length. Every problem is
 * reported as "NAME:LINE:COLUMN: error: MESSAGE" and parsing goes on with
 * the next token or line, so one run of `reuse check` shows them all.
 * Columns count bytes from 1 (a tab is one column).
 *
 * Matching returns the first rule in file order that matches a socket. An
 * index per protocol (rules grouped by host network, hashed per prefix
 * length; ports indexed within a big group) keeps that from being a scan
 * of every rule; see the "index" section below.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "libreuse.h"
#include "sys.h"

#define MAX_ERRORS      100                   /* per parse, then give up */
#define MAX_POLICY_SIZE ((size_t)64 << 20)    /* reuse_policy_load refuses more */
#define SHOW_MAX        40                    /* bytes of a token quoted in a message */
#define MAX_UID         4294967294ULL         /* (uid_t)-1 is "no uid" */

/* A token quoted in a message, cut to SHOW_MAX bytes: "'" TOKF "'". */
#define TOKF "%.*s%s"
#define TOKA(p, n) (int)((n) > SHOW_MAX ? SHOW_MAX : (n)), (p), \
	((n) > SHOW_MAX ? "..." : "")

/* ====================================================================
 * Diagnostics
 * ==================================================================== */

/*
 * vformat - printf into a fresh malloc'd string (NULL when out of memory).
 * Messages are built before they get their "NAME:LINE:COL" prefix.
 */
static char *vformat(const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return NULL;
	char *s = malloc((size_t)n + 1);
	if (s)
		vsnprintf(s, (size_t)n + 1, fmt, ap);
	return s;
}

/*
 * reuse_diag_add - append one error line (a '\n' is added) and count it.
 * The buffer grows geometrically; when memory runs out the text is dropped
 * but the error still counts, so a caller never mistakes it for success.
 */
void reuse_diag_add(struct reuse_diag *d, const char *fmt, ...)
{
	if (!d)
		return;
	d->errors++;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	size_t need = d->len + (size_t)n + 2;        /* + '\n' + NUL */
	if (need > d->cap) {
		size_t cap = d->cap ? d->cap : 256;
		while (cap < need)
			cap *= 2;
		char *t = realloc(d->text, cap);
		if (!t)
			return;
		d->text = t;
		d->cap = cap;
	}
	va_start(ap, fmt);
	vsnprintf(d->text + d->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	d->len += (size_t)n;
	d->text[d->len++] = '\n';
	d->text[d->len] = '\0';
}

/* reuse_diag_free - release the text; the struct is reusable afterwards. */
void reuse_diag_free(struct reuse_diag *d)
{
	if (!d)
		return;
	free(d->text);
	memset(d, 0, sizeof *d);
}

/* ====================================================================
 * Parser state, tokens, error reporting
 * ==================================================================== */

struct parser {
	const char *name;
	struct reuse_diag *diag;
	unsigned line;
	unsigned nerr;               /* errors reported by this parse */
	bool stop;                   /* too many errors: report nothing more */
	bool seen_rule_line;         /* on-error is no longer allowed */
	bool on_error_closed;
	struct reuse_rule *rules;
	size_t nrules, cap;
};

/* A token: bytes p[0..n) of the line, starting at 1-based column col. */
struct tok {
	const char *p;
	size_t n;
	size_t col;
};

/* The unread rest of a line (comment already cut off). */
struct cursor {
	const char *s;
	size_t i, end;
};

/*
 * perr - report one error at the current line. After MAX_ERRORS it says
 * "too many errors, giving up" once and stops the parse.
 */
__attribute__((format(printf, 3, 4)))
static void perr(struct parser *ps, size_t col, const char *fmt, ...)
{
	if (ps->stop)
		return;
	ps->nerr++;
	if (ps->nerr > MAX_ERRORS) {
		reuse_diag_add(ps->diag, "%s:%u:%zu: error: too many errors, giving up",
			       ps->name, ps->line, col);
		ps->stop = true;
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	char *msg = vformat(fmt, ap);
	va_end(ap);
	reuse_diag_add(ps->diag, "%s:%u:%zu: error: %s", ps->name, ps->line,
		       col, msg ? msg : "out of memory");
	free(msg);
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* next_tok - the next blank-separated token of the line, false at its end. */
static bool next_tok(struct cursor *c, struct tok *t)
{
	while (c->i < c->end && is_blank(c->s[c->i]))
		c->i++;
	if (c->i == c->end)
		return false;
	size_t start = c->i;
	while (c->i < c->end && !is_blank(c->s[c->i]))
		c->i++;
	t->p = c->s + start;
	t->n = c->i - start;
	t->col = start + 1;
	return true;
}

/* tok_sub - bytes [from, to) of a token, as a token with its own column. */
static struct tok tok_sub(const struct tok *t, size_t from, size_t to)
{
	struct tok s = { t->p + from, to - from, t->col + from };
	return s;
}

static bool tok_is(const struct tok *t, const char *word)
{
	size_t n = strlen(word);
	return t->n == n && memcmp(t->p, word, n) == 0;
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/*
 * edit_distance - optimal-string-alignment distance, case-insensitive, for
 * "did you mean" hints. Both strings are at most 32 bytes (callers check).
 */
static size_t edit_distance(const char *a, size_t an, const char *b, size_t bn)
{
	size_t rows[3][33];
	size_t *pp = rows[0], *p = rows[1], *c = rows[2];
	for (size_t j = 0; j <= bn; j++)
		p[j] = j;
	for (size_t i = 1; i <= an; i++) {
		c[0] = i;
		for (size_t j = 1; j <= bn; j++) {
			size_t cost = lower(a[i - 1]) != lower(b[j - 1]);
			size_t v = p[j - 1] + cost;
			if (p[j] + 1 < v)
				v = p[j] + 1;
			if (c[j - 1] + 1 < v)
				v = c[j - 1] + 1;
			if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) &&
			    lower(a[i - 2]) == lower(b[j - 1]) && pp[j - 2] + 1 < v)
				v = pp[j - 2] + 1;
			c[j] = v;
		}
		size_t *t = pp;
		pp = p;
		p = c;
		c = t;
	}
	return p[bn];
}

/* is_prefix - word (3+ bytes) starts cand, ignoring case: "prog", "excl". */
static bool is_prefix(const char *word, size_t n, const char *cand)
{
	if (n < 3 || n >= strlen(cand))
		return false;
	for (size_t i = 0; i < n; i++)
		if (lower(word[i]) != lower(cand[i]))
			return false;
	return true;
}

/*
 * suggest - the candidate closest to word, or NULL if none is close enough:
 * one edit for short words, two otherwise (a pure case change counts), or
 * else the first candidate that word abbreviates.
 */
static const char *suggest(const char *word, size_t n,
			   const char *const *cands, size_t ncands)
{
	const char *best = NULL;
	size_t best_d = (size_t)-1;
	if (n > 32)
		return NULL;
	for (size_t i = 0; i < ncands; i++) {
		size_t cn = strlen(cands[i]);
		if (cn > 32)
			continue;
		size_t d = edit_distance(word, n, cands[i], cn);
		size_t limit = cn <= 4 ? 1 : 2;
		if (d <= limit && d < cn && d < best_d) {
			best = cands[i];
			best_d = d;
		}
	}
	for (size_t i = 0; !best && i < ncands; i++)
		if (is_prefix(word, n, cands[i]))
			best = cands[i];
	return best;
}

/* hint - " (did you mean 'X'?)" or "" into buf, for appending to a message. */
static const char *hint(char *buf, size_t size, const char *sug)
{
	if (!sug)
		return "";
	snprintf(buf, size, " (did you mean '%s'?)", sug);
	return buf;
}

/*
 * parse_uint - a decimal number that must fit max. Returns 0 on success,
 * 1 when not all digits (or empty), 2 when larger than max.
 */
static int parse_uint(const struct tok *t, unsigned long long max,
		      unsigned long long *out)
{
	unsigned long long v = 0;
	bool big = false;
	if (t->n == 0)
		return 1;
	for (size_t i = 0; i < t->n; i++) {
		char ch = t->p[i];
		if (ch < '0' || ch > '9')
			return 1;
		if (!big) {
			v = v * 10 + (unsigned)(ch - '0');
			big = v > max;
		}
	}
	if (big)
		return 2;
	*out = v;
	return 0;
}

/* ====================================================================
 * Rules
 * ==================================================================== */

/* rule_free - what a rule owns (not the rule itself). */
static void rule_free(struct reuse_rule *r)
{
	free(r->ports);
	free(r->program);
	r->ports = NULL;
	r->program = NULL;
	r->nports = 0;
}

/* push_rule - append a finished rule; on failure the rule is freed. */
static void push_rule(struct parser *ps, struct reuse_rule *r, size_t col)
{
	if (ps->nrules == ps->cap) {
		size_t cap = ps->cap ? ps->cap * 2 : 16;
		struct reuse_rule *nr = realloc(ps->rules, cap * sizeof *nr);
		if (!nr) {
			perr(ps, col, "out of memory");
			rule_free(r);
			return;
		}
		ps->rules = nr;
		ps->cap = cap;
	}
	ps->rules[ps->nrules++] = *r;
}

/* ---- PROTO --------------------------------------------------------- */

/* parse_proto - tcp|udp|any into a mask (0 on error). */
static unsigned parse_proto(struct parser *ps, const struct tok *t)
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
static bool parse_address(struct parser *ps, const struct tok *t,
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

/* ---- MATCH and DIRECTIVE ------------------------------------------- */

enum key {
	K_REUSEADDR, K_REUSEPORT, K_EXCLUSIVE, K_HANDOFF, K_DENY, K_LOG,
	K_PROGRAM, K_UID, K_DRYRUN, K_COUNT
};

static const char *const key_names[K_COUNT] = {
	"reuseaddr", "reuseport", "exclusive", "handoff", "deny", "log",
	"program", "uid", "dry-run",
};

static bool key_is_match(enum key k)
{
	return k == K_PROGRAM || k == K_UID;
}

static bool key_takes_value(enum key k)
{
	return k != K_EXCLUSIVE && k != K_HANDOFF && k != K_DENY && k != K_DRYRUN;
}

/* What a rule line said, for duplicate and contradiction checks. */
struct seen {
	struct tok tok[K_COUNT];     /* n == 0: not given */
	bool any_directive;
};

static const char *const act_names[] = { "keep", "force", "strip", "refuse" };
static const char *const level_names[] = { "off", "decisions", "all" };

/* lookup - index of the token in names, or -1. */
static int lookup(const struct tok *t, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (tok_is(t, names[i]))
			return (int)i;
	return -1;
}

/* bad_value - an unknown value of key=VALUE, with a hint or the choices. */
static void bad_value(struct parser *ps, const struct tok *v, const char *key,
		      const char *const *names, size_t n, const char *choices)
{
	const char *sug = suggest(v->p, v->n, names, n);
	if (sug)
		perr(ps, v->col, "unknown %s value '" TOKF "' (did you mean '%s'?)",
		     key, TOKA(v->p, v->n), sug);
	else
		perr(ps, v->col, "unknown %s value '" TOKF "' (expected %s)",
		     key, TOKA(v->p, v->n), choices);
}

/* parse_value - VALUE of a key=VALUE token into the rule; false if bad. */
static bool parse_value(struct parser *ps, enum key k, const struct tok *v,
			struct reuse_rule *r)
{
	int i;
	unsigned long long uid;
	switch (k) {
	case K_REUSEADDR:
	case K_REUSEPORT:
		i = lookup(v, act_names, 4);
		if (i < 0) {
			bad_value(ps, v, key_names[k], act_names, 4,
				  "keep, force, strip or refuse");
			return false;
		}
		*(k == K_REUSEADDR ? &r->reuseaddr : &r->reuseport) = (uint8_t)i;
		return true;
	case K_LOG:
		i = lookup(v, level_names, 3);
		if (i < 0) {
			bad_value(ps, v, "log", level_names, 3, "off, decisions or all");
			return false;
		}
		r->log = (uint8_t)i;
		return true;
	case K_PROGRAM:
		r->program = strndup(v->p, v->n);
		if (!r->program)
			perr(ps, v->col, "out of memory");
		return r->program != NULL;
	case K_UID:
		switch (parse_uint(v, MAX_UID, &uid)) {
		case 1:
			perr(ps, v->col, "invalid uid '" TOKF "' (expected a decimal number)",
			     TOKA(v->p, v->n));
			return false;
		case 2:
			perr(ps, v->col, "uid " TOKF " out of range 0-4294967294",
			     TOKA(v->p, v->n));
			return false;
		}
		r->uid = (long)uid;
		return true;
	default:
		return true;
	}
}

/* unknown_key - a MATCH/DIRECTIVE word we do not know, with a hint. */
static void unknown_key(struct parser *ps, const struct tok *t, const struct tok *key)
{
	const char *sug = suggest(key->p, key->n, key_names, K_COUNT);
	if (!sug) {
		perr(ps, t->col, "unknown directive '" TOKF "' (expected reuseaddr=, "
		     "reuseport=, exclusive, handoff, deny, log=, dry-run, program= or uid=)",
		     TOKA(key->p, key->n));
		return;
	}
	bool match = strcmp(sug, "program") == 0 || strcmp(sug, "uid") == 0;
	perr(ps, t->col, "unknown %s '" TOKF "' (did you mean '%s'?)",
	     match ? "match" : "directive", TOKA(key->p, key->n), sug);
}

/* parse_item - one MATCH or DIRECTIVE token after ADDRESS. */
static void parse_item(struct parser *ps, const struct tok *t,
		       struct reuse_rule *r, struct seen *sn)
{
	const char *eq = memchr(t->p, '=', t->n);
	size_t ei = eq ? (size_t)(eq - t->p) : t->n;
	struct tok key = tok_sub(t, 0, ei);
	struct tok val = tok_sub(t, eq ? ei + 1 : t->n, t->n);
	int k = lookup(&key, key_names, K_COUNT);
	if (k < 0) {
		unknown_key(ps, t, &key);
		return;
	}
	const char *what = key_is_match(k) ? "match" : "directive";
	if (sn->tok[k].n) {
		perr(ps, t->col, "duplicate %s '%s' (first at column %zu)", what,
		     key_names[k], sn->tok[k].col);
		return;
	}
	sn->tok[k] = *t;
	if (!key_is_match(k) && k != K_DRYRUN)   /* dry-run only modifies */
		sn->any_directive = true;
	if (!key_takes_value(k)) {
		if (eq) {
			perr(ps, t->col, "'%s' takes no value", key_names[k]);
			return;
		}
		if (k == K_EXCLUSIVE)
			r->exclusive = true;
		else if (k == K_HANDOFF)
			r->handoff = true;
		else if (k == K_DRYRUN)
			r->dry_run = true;
		else
			r->deny = true;
		return;
	}
	if (val.n == 0) {
		static const char *const needs[K_COUNT] = {
			[K_REUSEADDR] = "keep, force, strip or refuse",
			[K_REUSEPORT] = "keep, force, strip or refuse",
			[K_LOG] = "off, decisions or all",
			[K_PROGRAM] = "a non-empty GLOB",
			[K_UID] = "a decimal uid",
		};
		perr(ps, t->col, "'%s=' needs a value (%s)", key_names[k], needs[k]);
		return;
	}
	parse_value(ps, k, &val, r);
}

/*
 * conflict - two given tokens that cannot go together; reported at the
 * later of the two, naming it first.
 */
static void conflict(struct parser *ps, const struct tok *a, const struct tok *b,
		     const char *why)
{
	const struct tok *late = a->col > b->col ? a : b;
	const struct tok *early = late == a ? b : a;
	perr(ps, late->col, "'" TOKF "' cannot be combined with '" TOKF "'%s",
	     TOKA(late->p, late->n), TOKA(early->p, early->n), why);
}

/*
 * check_rule - what only the whole line can tell: a directive is there
 * (said only of an otherwise clean line, where it is not just an echo of
 * a misspelling), and none contradicts another.
 */
static void check_rule(struct parser *ps, const struct reuse_rule *r,
		       const struct seen *sn, size_t rule_col, bool clean)
{
	static const enum key with_deny[] = {
		K_REUSEADDR, K_REUSEPORT, K_EXCLUSIVE, K_HANDOFF,
	};
	if (!sn->any_directive && clean)
		perr(ps, rule_col, "rule has no directive (e.g. reuseaddr=force, "
		     "exclusive, deny)");
	if (sn->tok[K_DENY].n) {
		for (size_t i = 0; i < sizeof with_deny / sizeof with_deny[0]; i++)
			if (sn->tok[with_deny[i]].n)
				conflict(ps, &sn->tok[K_DENY], &sn->tok[with_deny[i]],
					 " (deny refuses the bind)");
	}
	if (sn->tok[K_EXCLUSIVE].n) {
		if (sn->tok[K_REUSEADDR].n && r->reuseaddr == REUSE_FORCE)
			conflict(ps, &sn->tok[K_EXCLUSIVE], &sn->tok[K_REUSEADDR],
				 " (exclusive keeps SO_REUSEADDR off)");
		if (sn->tok[K_REUSEPORT].n && r->reuseport == REUSE_FORCE)
			conflict(ps, &sn->tok[K_EXCLUSIVE], &sn->tok[K_REUSEPORT],
				 " (exclusive keeps SO_REUSEPORT off)");
	}
}

/* ---- lines ---------------------------------------------------------- */

/*
 * parse_on_error - `on-error closed|open`, legal only as the first rule
 * line. `closed` is honoured even if junk follows it: the operator asked
 * for the safe fallback of a policy that is broken anyway.
 */
static void parse_on_error(struct parser *ps, struct cursor *c,
			   const struct tok *kw, bool first)
{
	struct tok v, x;
	if (!first) {
		perr(ps, kw->col, "'on-error' is only allowed as the first rule line");
		return;
	}
	if (!next_tok(c, &v)) {
		perr(ps, kw->col + kw->n, "expected 'closed' or 'open' after 'on-error'");
		return;
	}
	if (tok_is(&v, "closed")) {
		ps->on_error_closed = true;
	} else if (!tok_is(&v, "open")) {
		perr(ps, v.col, "expected 'closed' or 'open' after 'on-error', got '"
		     TOKF "'", TOKA(v.p, v.n));
		return;
	}
	if (next_tok(c, &x))
		perr(ps, x.col, "unexpected '" TOKF "' after 'on-error " TOKF "'",
		     TOKA(x.p, x.n), TOKA(v.p, v.n));
}

/* parse_rule - PROTO ADDRESS [MATCH...] DIRECTIVE...; kept only if clean. */
static void parse_rule(struct parser *ps, struct cursor *c, const struct tok *pt)
{
	struct reuse_rule r = {
		.line = ps->line, .uid = -1, .log = REUSE_LOG_DECISIONS,
	};
	struct seen sn;
	struct tok a, t;
	unsigned before = ps->nerr;

	memset(&sn, 0, sizeof sn);
	r.proto = parse_proto(ps, pt);
	if (!next_tok(c, &a)) {
		perr(ps, pt->col + pt->n, "expected ADDRESS (HOST:PORTS) after '"
		     TOKF "'", TOKA(pt->p, pt->n));
		return;
	}
	parse_address(ps, &a, &r);
	while (!ps->stop && next_tok(c, &t))
		parse_item(ps, &t, &r, &sn);
	check_rule(ps, &r, &sn, pt->col, ps->nerr == before);
	if (ps->nerr != before) {
		rule_free(&r);
		return;
	}
	push_rule(ps, &r, pt->col);
}

/* first_bad_byte - offset of the first byte a rule may not hold, or n. */
static size_t first_bad_byte(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (!(ch == '\t' || (ch >= 0x20 && ch <= 0x7e)))
			return i;
	}
	return n;
}

/*
 * parse_line - one line, '\n' and a trailing '\r' already removed. The
 * comment is cut first, so anything may follow a '#'. A line with a byte
 * that cannot be part of a rule is reported once and skipped; it still
 * counts as a rule line for on-error's "first rule line".
 */
static void parse_line(struct parser *ps, const char *s, size_t n)
{
	const char *hash = memchr(s, '#', n);
	struct cursor c = { s, 0, hash ? (size_t)(hash - s) : n };
	struct tok t;

	while (c.i < c.end && is_blank(s[c.i]))
		c.i++;
	if (c.i == c.end)
		return;
	bool first = !ps->seen_rule_line;
	ps->seen_rule_line = true;
	size_t bad = first_bad_byte(s, c.end);
	if (bad < c.end) {
		perr(ps, bad + 1, "unexpected byte 0x%02x", (unsigned char)s[bad]);
		return;
	}
	next_tok(&c, &t);
	if (tok_is(&t, "on-error"))
		parse_on_error(ps, &c, &t, first);
	else
		parse_rule(ps, &c, &t);
}

/* ====================================================================
 * The index
 *
 * Per socket protocol (tcp, udp) the rules are grouped by HOST: a group
 * holds the rules whose HOST is the same network (family, prefix length
 * and network bits), in file order; the `*` rules form one more group.
 * An address falls in at most one group per prefix length the policy
 * uses, found with one hash lookup per length (at most 33 for IPv4, 129
 * for IPv6; a real policy uses a handful). Each group answers its first
 * rule that also matches the port, program and uid, and the lowest of
 * those answers is the policy's first match: the groups split the rules,
 * and a rule can match only if its group's network holds the address. So
 * a rule whose host does not match the socket is never looked at.
 *
 * A group of more than GROUP_SCAN rules indexes its ports: the port space
 * 0..65535 is cut into segments at every rule's range ends (lo and hi+1);
 * every port of a segment is covered by exactly the same rules. A segment
 * keeps the ascending indices of the rules with explicit ports covering
 * it; rules with `*` ports go in a separate ascending "loose" list. The
 * group's match is a binary search for the segment (or one load from a
 * port -> segment table in big groups), then a merge of the two ascending
 * lists that stops at the first rule whose program and uid also match.
 *
 * Memory: a rule is listed once per segment it covers. 10,000 rules with
 * distinct single ports give <= 20,001 segments and 10,000 entries, about
 * 160 KB (2 + 4 bytes per segment, 4 per entry). Wide ranges (1-65535)
 * are repeated in every segment; to keep nested wide ranges from growing
 * as segments x rules, a group's entries are capped at 4 per rule plus a
 * share of ENTRY_BASE (one pool per protocol), and the widest rules over
 * that cap move to the loose list (checked with their ports there),
 * trading a little match time for bounded memory. Hash tables take 4
 * bytes a slot, at most 2 slots per rule; a group 40 bytes.
 *
 * Known limit: rules of one host that differ only by program= or uid=
 * are walked one by one.
 * ==================================================================== */

#define ENTRY_BASE ((size_t)1 << 20)
#define SEG_TABLE_MIN 64             /* more segments than this: seg_at table, */
#define SEG_TABLE_RULES 1024         /* in a group of at least this many rules */
#define GROUP_SCAN 8                 /* groups up to this size are walked */

struct port_index {
	uint16_t *start;             /* segment i: start[i] .. start[i+1]-1 (last: 65535) */
	uint16_t *seg_at;            /* big indices: the segment of every port, else NULL */
	uint32_t *off;               /* nseg + 1: segment i holds ids[off[i] .. off[i+1]) */
	uint32_t *ids;               /* rule indices, ascending within a segment */
	uint32_t *loose;             /* ascending: `*` ports, and demoted wide rules */
	size_t nseg, nloose;
};

/* The rules of one HOST network. */
struct group {
	uint64_t hi, lo;             /* network bits, see addr_words */
	uint8_t len;                 /* prefix length; 0 also for `*` */
	uint32_t off, n;             /* its rules: host_index.ids[off .. off + n) */
	struct port_index *px;       /* n > GROUP_SCAN, else NULL */
};

/* The networks of one family: the prefix lengths in use, and an open-
 * addressing hash of (length, network bits) -> group. */
struct family_index {
	uint8_t lens[129];
	unsigned nlens;
	uint32_t mask4[33];          /* IPv4: the mask of lens[i] */
	uint32_t *slot;              /* group + 1; 0 = empty */
	uint32_t mask;               /* slots - 1 (a power of two minus one) */
};

struct host_index {               /* one protocol */
	struct group *groups;
	size_t ngroups;
	uint32_t *ids;               /* rule indices, by group, ascending in each */
	long star;                   /* group of the `*` rules, -1: none */
	struct family_index fam[2];  /* [0] IPv4, [1] IPv6 */
};

struct reuse_index {
	struct host_index by_proto[2];   /* [0] tcp, [1] udp */
};

/* ---- networks as numbers ------------------------------------------- */

/*
 * addr_words - an address as two host-order words, so that a prefix test
 * is a mask and a compare: IPv4 in hi (lo 0), IPv6 as hi:lo.
 */
static inline void addr_words(int family, const uint8_t a[16], uint64_t *hi,
			      uint64_t *lo)
{
	if (family == AF_INET) {
		uint32_t v;
		memcpy(&v, a, 4);
		*hi = ntohl(v);
		*lo = 0;
	} else {
		uint64_t h, l;
		memcpy(&h, a, 8);
		memcpy(&l, a + 8, 8);
		*hi = be64toh(h);
		*lo = be64toh(l);
	}
}

/* mask_words - keep the first len bits of an address of width 32 or 128. */
static inline void mask_words(unsigned width, unsigned len, uint64_t *hi,
			      uint64_t *lo)
{
	if (width == 32) {
		*hi &= (uint32_t)(~0ULL << (32 - len));    /* len 0: shifted out */
	} else if (len <= 64) {
		*hi &= len ? ~0ULL << (64 - len) : 0;
		*lo = 0;
	} else {
		*lo &= ~0ULL << (128 - len);
	}
}

/* net_hash - of a network; an IPv4 one and its length fit 40 bits: one
 * multiply spreads them. */
static inline uint32_t net_hash(bool v6, uint64_t hi, uint64_t lo, unsigned len)
{
	if (!v6)
		return (uint32_t)(((hi << 8 | len) * 0x9e3779b97f4a7c15ULL) >> 32);
	uint64_t h = (hi ^ (uint64_t)len << 56) * 0x9e3779b97f4a7c15ULL;
	h = (h ^ (h >> 29) ^ lo) * 0xbf58476d1ce4e5b9ULL;
	return (uint32_t)(h >> 32);
}

/* net_find - the group of network (hi, lo)/len, or NULL. */
static inline const struct group *net_find(const struct host_index *x, bool v6,
					   uint64_t hi, uint64_t lo, unsigned len)
{
	const struct family_index *f = &x->fam[v6];
	uint32_t i = net_hash(v6, hi, lo, len) & f->mask, g;

	for (; (g = f->slot[i]) != 0; i = (i + 1) & f->mask) {
		const struct group *gr = &x->groups[g - 1];
		if (gr->hi == hi && (!v6 || gr->lo == lo) && gr->len == len)
			return gr;
	}
	return NULL;
}

/* ---- one group's port index ---------------------------------------- */

/*
 * seg_of - the segment holding port: the last start <= port. A binary
 * search, or one load from seg_at when the index is big enough for the
 * search to cost more than the rest of a match.
 */
static size_t seg_of(const struct port_index *x, unsigned port)
{
	if (x->seg_at)
		return x->seg_at[port];
	size_t lo = 0, hi = x->nseg;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (x->start[mid] <= port)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo - 1;                 /* start[0] == 0 */
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

/* Scratch for building one group's port index. */
struct build {
	const struct reuse_policy *p;
	const uint32_t *ids;         /* the group's rules, ascending */
	size_t nids;
	size_t *pool;                /* what is left of ENTRY_BASE */
	uint32_t *ex;                /* its rules with explicit ports, ascending */
	size_t nex;
	size_t *cover;               /* per ex[]: segments covered */
	uint8_t *demoted;            /* per ex[] */
};

/*
 * build_seg_table - port -> segment for every port (128 KiB). Segments
 * start at distinct ports, so there are at most 65536 and an index fits
 * 16 bits.
 */
static bool build_seg_table(struct port_index *x)
{
	x->seg_at = malloc(65536 * sizeof *x->seg_at);
	if (!x->seg_at)
		return false;
	for (size_t s = 0; s < x->nseg; s++) {
		unsigned end = s + 1 < x->nseg ? x->start[s + 1] : 65536;
		for (unsigned port = x->start[s]; port < end; port++)
			x->seg_at[port] = (uint16_t)s;
	}
	return true;
}

/* build_segments - the sorted distinct range ends of the explicit rules. */
static bool build_segments(struct build *b, struct port_index *x)
{
	size_t nb = 1;
	for (size_t i = 0; i < b->nex; i++)
		nb += 2 * b->p->rules[b->ex[i]].nports;
	uint32_t *bd = malloc(nb * sizeof *bd);
	if (!bd)
		return false;
	size_t k = 0;
	bd[k++] = 0;
	for (size_t i = 0; i < b->nex; i++) {
		const struct reuse_rule *r = &b->p->rules[b->ex[i]];
		for (size_t j = 0; j < r->nports; j++) {
			bd[k++] = r->ports[j].lo;
			if (r->ports[j].hi < 65535)
				bd[k++] = (uint32_t)r->ports[j].hi + 1;
		}
	}
	qsort(bd, k, sizeof *bd, cmp_u32);
	x->start = malloc(k * sizeof *x->start);
	if (!x->start) {
		free(bd);
		return false;
	}
	for (size_t i = 0; i < k; i++)
		if (i == 0 || bd[i] != bd[i - 1])
			x->start[x->nseg++] = (uint16_t)bd[i];
	free(bd);
	return x->nseg <= SEG_TABLE_MIN || b->nids < SEG_TABLE_RULES ||
	       build_seg_table(x);
}

/* cover_of - how many segments the rule's ranges span. */
static size_t cover_of(const struct port_index *x, const struct reuse_rule *r)
{
	size_t c = 0;
	for (size_t j = 0; j < r->nports; j++)
		c += seg_of(x, r->ports[j].hi) - seg_of(x, r->ports[j].lo) + 1;
	return c;
}

/* qsort_r order of ex[] positions: widest cover first. */
static int cmp_cover_desc(const void *a, const void *b, void *cover)
{
	const size_t *c = cover;
	size_t x = c[*(const uint32_t *)a], y = c[*(const uint32_t *)b];
	return (x < y) - (x > y);
}

/*
 * demote_widest - move the widest rules out of the segments until the
 * entries fit the group's budget: 4 per rule, plus what it takes from the
 * protocol's pool. Returns the entry count left, SIZE_MAX on OOM.
 */
static size_t demote_widest(struct build *b, size_t total)
{
	size_t own = 4 * b->nex, budget = own + *b->pool;
	if (budget > UINT32_MAX / 2)
		budget = UINT32_MAX / 2;
	if (total > budget) {
		uint32_t *order = malloc(b->nex * sizeof *order);
		if (!order)
			return SIZE_MAX;
		for (size_t i = 0; i < b->nex; i++)
			order[i] = (uint32_t)i;
		qsort_r(order, b->nex, sizeof *order, cmp_cover_desc, b->cover);
		for (size_t i = 0; i < b->nex && total > budget; i++) {
			b->demoted[order[i]] = 1;
			total -= b->cover[order[i]];
		}
		free(order);
	}
	if (total > own)
		*b->pool -= total - own < *b->pool ? total - own : *b->pool;
	return total;
}

/*
 * count_segments - off[s + 1] = number of kept rules covering segment s,
 * from a difference array (+1 where a range starts, -1 after it ends;
 * unsigned wrap-around cancels out), then prefix sums turn counts into
 * offsets.
 */
static void count_segments(const struct build *b, struct port_index *x)
{
	uint32_t *d = x->off + 1;
	for (size_t i = 0; i < b->nex; i++) {
		const struct reuse_rule *r = &b->p->rules[b->ex[i]];
		for (size_t j = 0; !b->demoted[i] && j < r->nports; j++) {
			size_t last = seg_of(x, r->ports[j].hi);
			d[seg_of(x, r->ports[j].lo)]++;
			if (last + 1 < x->nseg)
				d[last + 1]--;
		}
	}
	uint32_t run = 0;
	for (size_t s = 0; s < x->nseg; s++) {
		run += d[s];
		d[s] = run;
	}
	for (size_t s = 0; s < x->nseg; s++)
		x->off[s + 1] += x->off[s];
}

/* fill_segments - every segment's ascending list of covering rules. */
static bool fill_segments(const struct build *b, struct port_index *x,
			  size_t total)
{
	x->off = calloc(x->nseg + 1, sizeof *x->off);
	x->ids = malloc((total ? total : 1) * sizeof *x->ids);
	uint32_t *pos = malloc(x->nseg * sizeof *pos);
	if (!x->off || !x->ids || !pos) {
		free(pos);
		return false;
	}
	count_segments(b, x);
	memcpy(pos, x->off, x->nseg * sizeof *pos);
	for (size_t i = 0; i < b->nex; i++) {
		const struct reuse_rule *r = &b->p->rules[b->ex[i]];
		for (size_t j = 0; !b->demoted[i] && j < r->nports; j++) {
			size_t last = seg_of(x, r->ports[j].hi);
			for (size_t s = seg_of(x, r->ports[j].lo); s <= last; s++)
				x->ids[pos[s]++] = b->ex[i];
		}
	}
	free(pos);
	return true;
}

/* fill_loose - `*`-port rules and demoted ones, in file order. */
static bool fill_loose(const struct build *b, struct port_index *x)
{
	size_t e = 0;
	x->loose = malloc(b->nids * sizeof *x->loose);
	if (!x->loose)
		return false;
	for (size_t i = 0; i < b->nids; i++) {
		const struct reuse_rule *r = &b->p->rules[b->ids[i]];
		if (!r->nports || b->demoted[e++])
			x->loose[x->nloose++] = b->ids[i];
	}
	return true;
}

static void port_index_free(struct port_index *x)
{
	if (!x)
		return;
	free(x->start);
	free(x->seg_at);
	free(x->off);
	free(x->ids);
	free(x->loose);
	free(x);
}

/* port_index_build - the port index of a group's n rules (ids ascending),
 * or NULL on OOM. */
static struct port_index *port_index_build(const struct reuse_policy *p,
					   const uint32_t *ids, size_t n,
					   size_t *pool)
{
	struct build b = { .p = p, .ids = ids, .nids = n, .pool = pool };
	struct port_index *x = calloc(1, sizeof *x);
	bool ok = false;
	size_t total = 0;

	b.ex = malloc(n * sizeof *b.ex);
	if (!x || !b.ex)
		goto out;
	for (size_t i = 0; i < n; i++)
		if (p->rules[ids[i]].nports)
			b.ex[b.nex++] = ids[i];
	b.cover = malloc((b.nex ? b.nex : 1) * sizeof *b.cover);
	b.demoted = calloc(b.nex ? b.nex : 1, 1);
	if (!b.cover || !b.demoted || !build_segments(&b, x))
		goto out;
	for (size_t i = 0; i < b.nex; i++)
		total += b.cover[i] = cover_of(x, &p->rules[b.ex[i]]);
	total = demote_widest(&b, total);
	ok = total != SIZE_MAX && fill_segments(&b, x, total) && fill_loose(&b, x);
out:
	free(b.ex);
	free(b.cover);
	free(b.demoted);
	if (!ok) {
		port_index_free(x);
		x = NULL;
	}
	return x;
}

/* ---- one protocol's host index ------------------------------------- */

/* rule_net - a rule's network: family slot (0 IPv4, 1 IPv6), bits, length. */
static void rule_net(const struct reuse_rule *r, unsigned *fam, uint64_t *hi,
		     uint64_t *lo, unsigned *len)
{
	unsigned width = r->host.family == AF_INET ? 32 : 128;
	*fam = r->host.family == AF_INET6;
	*len = r->host.prefix < width ? r->host.prefix : width;
	addr_words(r->host.family, r->host.addr, hi, lo);
	mask_words(width, *len, hi, lo);
}

/* group_of - rule r's group, created (and hashed) on first sight. */
static uint32_t group_of(struct host_index *x, const struct reuse_rule *r,
			 bool *seen_len)
{
	struct group *g;
	uint64_t hi, lo;
	unsigned fam, len;

	if (!r->host.family) {
		if (x->star < 0) {
			x->star = (long)x->ngroups;
			memset(&x->groups[x->ngroups++], 0, sizeof *g);
		}
		return (uint32_t)x->star;
	}
	rule_net(r, &fam, &hi, &lo, &len);
	struct family_index *f = &x->fam[fam];
	const struct group *found = net_find(x, fam, hi, lo, len);
	if (found)
		return (uint32_t)(found - x->groups);
	uint32_t i = net_hash(fam, hi, lo, len) & f->mask;
	while (f->slot[i])
		i = (i + 1) & f->mask;
	g = &x->groups[x->ngroups];
	memset(g, 0, sizeof *g);
	g->hi = hi;
	g->lo = lo;
	g->len = (uint8_t)len;
	f->slot[i] = (uint32_t)++x->ngroups;
	if (!seen_len[fam * 129 + len]) {
		seen_len[fam * 129 + len] = true;
		if (!fam)
			f->mask4[f->nlens] = (uint32_t)(~0ULL << (32 - len));
		f->lens[f->nlens++] = (uint8_t)len;
	}
	return (uint32_t)(x->ngroups - 1);
}

/* A hash table of at least twice n slots (so lookups stay short). */
static bool family_alloc(struct family_index *f, size_t n)
{
	size_t slots = 8;
	while (slots < 2 * n)
		slots *= 2;
	if (slots > UINT32_MAX)
		return false;
	f->slot = calloc(slots, sizeof *f->slot);
	f->mask = (uint32_t)(slots - 1);
	return f->slot != NULL;
}

static void host_index_free(struct host_index *x)
{
	for (size_t i = 0; x->groups && i < x->ngroups; i++)
		port_index_free(x->groups[i].px);
	free(x->groups);
	free(x->ids);
	free(x->fam[0].slot);
	free(x->fam[1].slot);
}

/*
 * host_index_build - one protocol's groups, their hash tables and their
 * port indices; false on OOM (the caller frees).
 */
static bool host_index_build(const struct reuse_policy *p, unsigned bit,
			     struct host_index *x)
{
	size_t n = 0, per[2] = { 0, 0 }, k = 0, pool = ENTRY_BASE;
	bool ok = false, *seen = calloc(2 * 129, sizeof *seen);
	uint32_t *gid = NULL;

	x->star = -1;
	for (size_t i = 0; i < p->nrules; i++) {
		const struct reuse_rule *r = &p->rules[i];
		if (r->proto & bit) {
			n++;
			if (r->host.family)
				per[r->host.family == AF_INET6]++;
		}
	}
	x->groups = malloc((n ? n : 1) * sizeof *x->groups);
	x->ids = malloc((n ? n : 1) * sizeof *x->ids);
	gid = malloc((n ? n : 1) * sizeof *gid);
	if (!seen || !x->groups || !x->ids || !gid ||
	    !family_alloc(&x->fam[0], per[0]) || !family_alloc(&x->fam[1], per[1]))
		goto out;
	/* each rule's group, counted; then offsets; then the rules in order */
	for (size_t i = 0; i < p->nrules; i++)
		if (p->rules[i].proto & bit)
			x->groups[gid[k++] = group_of(x, &p->rules[i], seen)].n++;
	for (size_t g = 0, off = 0; g < x->ngroups; g++) {
		x->groups[g].off = (uint32_t)off;
		off += x->groups[g].n;
		x->groups[g].n = 0;
	}
	k = 0;
	for (size_t i = 0; i < p->nrules; i++) {
		if (p->rules[i].proto & bit) {
			struct group *g = &x->groups[gid[k++]];
			x->ids[g->off + g->n++] = (uint32_t)i;
		}
	}
	for (size_t g = 0; g < x->ngroups; g++) {
		struct group *gr = &x->groups[g];
		if (gr->n > GROUP_SCAN &&
		    !(gr->px = port_index_build(p, x->ids + gr->off, gr->n, &pool)))
			goto out;
	}
	ok = true;
out:
	free(seen);
	free(gid);
	return ok;
}

static void index_free(struct reuse_index *ix)
{
	if (!ix)
		return;
	host_index_free(&ix->by_proto[0]);
	host_index_free(&ix->by_proto[1]);
	free(ix);
}

/* index_build - both protocols' indices, or NULL (matching then scans). */
static struct reuse_index *index_build(const struct reuse_policy *p)
{
	if (p->nrules >= UINT32_MAX)
		return NULL;
	struct reuse_index *ix = calloc(1, sizeof *ix);
	if (!ix)
		return NULL;
	if (!host_index_build(p, REUSE_P_TCP, &ix->by_proto[0]) ||
	    !host_index_build(p, REUSE_P_UDP, &ix->by_proto[1])) {
		index_free(ix);
		return NULL;
	}
	return ix;
}

/* ====================================================================
 * Matching
 * ==================================================================== */

/*
 * reuse_host_match - does addr (of family) fall under the rule's HOST?
 * family 0 in the rule is `*`; otherwise the first prefix bits must agree.
 */
static inline __attribute__((always_inline)) bool
host_match(const struct reuse_host *h, int family, const uint8_t addr[16])
{
	uint64_t ah, al, hh, hl;

	if (!h->family)
		return true;
	if (h->family != family || !addr)
		return false;
	if (family == AF_INET) {                 /* the common case, in one word */
		uint32_t a, b;
		memcpy(&a, addr, 4);
		memcpy(&b, h->addr, 4);
		return (ntohl(a ^ b) & (uint32_t)(~0ULL << (32 - (h->prefix < 32 ? h->prefix : 32)))) == 0;
	}
	unsigned width = 128;
	addr_words(family, addr, &ah, &al);
	addr_words(family, h->addr, &hh, &hl);
	ah ^= hh;
	al ^= hl;
	mask_words(width, h->prefix < width ? h->prefix : width, &ah, &al);
	return (ah | al) == 0;
}

bool reuse_host_match(const struct reuse_host *h, int family,
		      const uint8_t addr[16])
{
	return host_match(h, family, addr);
}

/* port_match - is port in one of the rule's ranges (`*`: always)? */
static bool port_match(const struct reuse_rule *r, unsigned port)
{
	size_t lo = 0, hi = r->nports;
	if (!r->nports)
		return true;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (r->ports[mid].lo <= port)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo > 0 && port <= r->ports[lo - 1].hi;
}

/* program_match - program=GLOB against argv[0]'s or the exe's basename. */
static bool program_match(const char *glob, const struct reuse_subject *s)
{
	return (s->prog && fnmatch(glob, s->prog, 0) == 0) ||
	       (s->exe && fnmatch(glob, s->exe, 0) == 0);
}

/* rest_match - uid= and program= (the caller has the host and port). */
static inline bool rest_match(const struct reuse_rule *r,
			      const struct reuse_subject *s)
{
	return (r->uid == -1 || r->uid == s->uid) &&
	       (!r->program || program_match(r->program, s));
}

static bool rule_match(const struct reuse_rule *r, const struct reuse_subject *s)
{
	return (r->proto & s->proto) && port_match(r, s->port) &&
	       host_match(&r->host, s->family, s->addr) && rest_match(r, s);
}

/*
 * px_first - group_first for a group with a port index: merge the port's
 * segment with the loose list, both ascending.
 */
static inline __attribute__((always_inline)) uint32_t
px_first(const struct reuse_policy *p, const struct port_index *px,
	 const struct reuse_subject *s, uint32_t best)
{
	size_t seg = seg_of(px, s->port);
	const uint32_t *a = px->ids + px->off[seg], *ae = px->ids + px->off[seg + 1];
	const uint32_t *b = px->loose, *be = b + px->nloose;

	for (;;) {
		uint32_t i;
		if (a < ae && (b == be || *a < *b)) {
			if ((i = *a++) >= best)
				return best;
			if (rest_match(&p->rules[i], s))
				return i;
		} else if (b < be) {
			if ((i = *b++) >= best)
				return best;
			const struct reuse_rule *r = &p->rules[i];
			if ((!r->nports || port_match(r, s->port)) && rest_match(r, s))
				return i;
		} else {
			return best;
		}
	}
}

/*
 * group_first - the index of the group's first rule that matches the
 * socket's port, program and uid, if it comes before best; else best.
 * Small groups are walked here, inline: the common case is one rule.
 */
static inline __attribute__((always_inline)) uint32_t
group_first(const struct reuse_policy *p, const struct host_index *x,
	    const struct group *g, const struct reuse_subject *s, uint32_t best)
{
	if (g->px)
		return px_first(p, g->px, s, best);
	for (const uint32_t *a = x->ids + g->off, *ae = a + g->n; a < ae && *a < best; a++) {
		const struct reuse_rule *r = &p->rules[*a];
		if ((!r->nports || port_match(r, s->port)) && rest_match(r, s))
			return *a;
	}
	return best;
}

/* index_match - the `*` group and the socket's network at every length. */
static const struct reuse_rule *index_match(const struct reuse_policy *p,
					    const struct host_index *x,
					    const struct reuse_subject *s)
{
	uint32_t best = UINT32_MAX;
	uint64_t hi, lo;

	if (x->star >= 0)
		best = group_first(p, x, &x->groups[x->star], s, best);
	if (s->family == AF_INET) {
		const struct family_index *f = &x->fam[0];
		addr_words(AF_INET, s->addr, &hi, &lo);
		for (unsigned i = 0; i < f->nlens; i++) {
			const struct group *g = net_find(x, false, hi & f->mask4[i], 0,
							 f->lens[i]);
			if (g)
				best = group_first(p, x, g, s, best);
		}
	} else if (s->family == AF_INET6) {
		const struct family_index *f = &x->fam[1];
		addr_words(AF_INET6, s->addr, &hi, &lo);
		for (unsigned i = 0; i < f->nlens; i++) {
			uint64_t h = hi, l = lo;
			mask_words(128, f->lens[i], &h, &l);
			const struct group *g = net_find(x, true, h, l, f->lens[i]);
			if (g)
				best = group_first(p, x, g, s, best);
		}
	}
	return best == UINT32_MAX ? NULL : &p->rules[best];
}

#define LINEAR_MAX 4

/*
 * reuse_policy_match - the rule that decides for this socket: the first in
 * file order that matches, or NULL. A broken policy has no rules.
 */
const struct reuse_rule *reuse_policy_match(const struct reuse_policy *p,
					    const struct reuse_subject *s)
{
	if (!p || !p->rules || !s)
		return NULL;
	/* a handful of rules: walking them is cheaper than the index */
	if (p->index && p->nrules > LINEAR_MAX &&
	    (s->proto == REUSE_P_TCP || s->proto == REUSE_P_UDP))
		return index_match(p, &p->index->by_proto[s->proto - 1], s);
	for (size_t i = 0; i < p->nrules; i++)
		if (rule_match(&p->rules[i], s))
			return &p->rules[i];
	return NULL;
}

/* ====================================================================
 * Entry points
 * ==================================================================== */

/*
 * reuse_policy_free - everything a policy owns; the struct ends zeroed, so
 * freeing a zeroed, half-built or already freed policy is safe.
 */
void reuse_policy_free(struct reuse_policy *p)
{
	if (!p)
		return;
	for (size_t i = 0; p->rules && i < p->nrules; i++)
		rule_free(&p->rules[i]);
	free(p->rules);
	free(p->source);
	index_free(p->index);
	memset(p, 0, sizeof *p);
}

/*
 * reuse_policy_parse - parse text (len bytes, NULs allowed and reported)
 * into *out, which is overwritten (free a previous policy first). Returns
 * the number of errors this call reported; on errors out holds no rules
 * (it matches nothing) but source and on_error_closed are set.
 */
int reuse_policy_parse(const char *name, const char *text, size_t len,
		       struct reuse_policy *out, struct reuse_diag *diag)
{
	struct parser ps = { .name = name ? name : "(policy)", .diag = diag };
	size_t pos = 0;

	memset(out, 0, sizeof *out);
	if (!text)
		len = 0;
	out->source = strdup(ps.name);
	if (!out->source) {
		ps.line = 1;
		perr(&ps, 1, "out of memory");
		return (int)ps.nerr;
	}
	while (pos < len && !ps.stop) {
		const char *s = text + pos;
		const char *nl = memchr(s, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - s) : len - pos;
		pos += n + (nl != NULL);
		ps.line++;
		if (n && s[n - 1] == '\r')
			n--;
		parse_line(&ps, s, n);
	}
	out->on_error_closed = ps.on_error_closed;
	out->rules = ps.rules;
	out->nrules = ps.nrules;
	if (ps.nerr) {
		for (size_t i = 0; i < out->nrules; i++)
			rule_free(&out->rules[i]);
		free(out->rules);
		out->rules = NULL;
		out->nrules = 0;
	} else if (out->nrules) {
		out->index = index_build(out);
	}
	return (int)ps.nerr;
}

/* read_all's answer for a policy strict_modes() refuses. */
#define ERR_UNSAFE (-1)

/* Whether a directory lets a user other than root replace what it holds. */
static const char *unsafe_dir(const char *dir, char *why, size_t size)
{
	struct stat ds;

	if (stat(dir, &ds) < 0)
		snprintf(why, size, "directory %s: %s", dir, strerror(errno));
	else if (ds.st_uid != 0)
		snprintf(why, size, "directory %s is owned by uid %u, not root", dir,
			 (unsigned)ds.st_uid);
	else if ((ds.st_mode & (S_IWGRP | S_IWOTH)) && !(ds.st_mode & S_ISVTX))
		snprintf(why, size, "directory %s is writable by %s (mode %04o)", dir,
			 ds.st_mode & S_IWOTH ? "others" : "its group",
			 (unsigned)(ds.st_mode & 07777));
	else
		return NULL;
	return why;
}

/*
 * strict_modes - sshd's StrictModes, for a process running as root: a
 * policy another user could change decides for root's sockets, so it is
 * refused when the file is not owned by root or is writable by its group
 * or others, or when a directory on its real path is not owned by root or
 * is writable by group or others without the sticky bit (/tmp is fine).
 * Regular files and FIFOs are checked; devices are not.
 * Returns NULL when the policy may be used, else why (in `why`).
 */
static const char *strict_modes(const char *path, const struct stat *st,
				char *why, size_t size)
{
	const char *bad = NULL;
	char *real, *slash;

	/* a device (/dev/null) keeps no content another user could plant */
	if (geteuid() != 0 || !(S_ISREG(st->st_mode) || S_ISFIFO(st->st_mode)))
		return NULL;
	if (st->st_uid != 0) {
		snprintf(why, size, "owned by uid %u, not root", (unsigned)st->st_uid);
		return why;
	}
	if (st->st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(why, size, "writable by %s (mode %04o)",
			 st->st_mode & S_IWOTH ? "others" : "its group",
			 (unsigned)(st->st_mode & 07777));
		return why;
	}
	if (!S_ISREG(st->st_mode))
		return NULL;          /* a pipe (<(...)) has no directory */
	real = realpath(path, NULL);
	if (!real) {
		snprintf(why, size, "cannot resolve its path: %s", strerror(errno));
		return why;
	}
	while (!bad && (slash = strrchr(real, '/'))) {
		if (slash != real)
			*slash = '\0';
		else if (real[1])
			real[1] = '\0';
		else
			break;
		bad = unsafe_dir(real, why, size);
	}
	free(real);
	return bad;
}

/* How long a policy that is a pipe or FIFO may stay silent, and take in
 * all: the program's start waits for it, so the wait is bounded. */
#define POLICY_WAIT_MS 5000
#define POLICY_CAP_MS 30000

static long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/*
 * await_text - a pipe, FIFO or device has something to read (or its writer
 * is gone) before `deadline`; ETIMEDOUT if not. A FIFO no writer ever
 * opened would otherwise block the program's start for good.
 */
static int await_text(int fd, long deadline)
{
	struct pollfd p = { fd, POLLIN, 0 };
	long left;
	int r;

	do {
		left = deadline - now_ms();
		if (left <= 0)
			return ETIMEDOUT;
		r = poll(&p, 1, (int)left);
	} while (r < 0 && errno == EINTR);
	return r > 0 ? 0 : r == 0 ? ETIMEDOUT : errno;
}

/*
 * read_all - the whole file into a malloc'd buffer. Uses raw system calls:
 * the library interposes close() and must not re-enter itself. Returns 0,
 * an errno (EFBIG over MAX_POLICY_SIZE, ETIMEDOUT for a pipe that stayed
 * silent POLICY_WAIT_MS), or ERR_UNSAFE with the reason in `why` when
 * running as root and strict_modes() refuses the file.
 */
static int read_all(const char *path, char **buf, size_t *len, char *why,
		    size_t whylen)
{
	/* O_NONBLOCK: opening a FIFO waits for a writer otherwise */
	int fd = (int)syscall(SYS_openat, AT_FDCWD, path,
			      O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return errno;
	struct stat st;
	size_t cap = 4096, n = 0;
	int err = 0;
	long start = now_ms(), deadline = start + POLICY_WAIT_MS;
	if (sys_fstat(fd, &st) < 0)
		err = errno;
	else if (strict_modes(path, &st, why, whylen))
		err = ERR_UNSAFE;
	else if (S_ISREG(st.st_mode)) {
		if ((unsigned long long)st.st_size > MAX_POLICY_SIZE)
			err = EFBIG;
		else
			cap = (size_t)st.st_size + 1;
	}
	char *b = err ? NULL : malloc(cap);
	if (!b && !err)
		err = ENOMEM;
	while (!err) {
		if (n == cap) {
			/* n <= MAX here, so growing up to MAX + 1 bytes is enough */
			size_t ncap = cap > MAX_POLICY_SIZE / 2 ? MAX_POLICY_SIZE + 1
								 : cap * 2;
			char *nb = realloc(b, ncap);
			if (!nb) {
				err = ENOMEM;
				break;
			}
			b = nb;
			cap = ncap;
		}
		if (!S_ISREG(st.st_mode) && (err = await_text(fd, deadline)))
			break;
		ssize_t r = syscall(SYS_read, fd, b + n, cap - n);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r < 0)
			err = errno;
		else if (r == 0)
			break;
		else
			n += (size_t)r;
		/* a pipe that keeps sending gets another wait, up to a cap */
		if (r > 0 && now_ms() + POLICY_WAIT_MS < start + POLICY_CAP_MS)
			deadline = now_ms() + POLICY_WAIT_MS;
		if (n > MAX_POLICY_SIZE)
			err = EFBIG;
	}
	sys_close(fd);
	/* a pipe is read once: an empty one was most likely drained by
	 * another process (<(...) inherited by a program's children) */
	if (!err && n == 0 && S_ISFIFO(st.st_mode))
		err = ENODATA;
	if (err) {
		free(b);
		return err;
	}
	*buf = b;
	*len = n;
	return 0;
}

/*
 * reuse_policy_load - read and parse a policy file. A file that cannot be
 * read is one error at PATH:1:1; out is then an empty, broken policy.
 */
int reuse_policy_read(const char *path, char **text, size_t *len,
		      struct reuse_diag *diag)
{
	char why[PATH_MAX + 80];
	int err = path ? read_all(path, text, len, why, sizeof why) : EINVAL;
	if (err) {
		if (err == ERR_UNSAFE)
			reuse_diag_add(diag, "%s:1:1: error: refusing policy: %s, and the "
				       "process runs as root (only root may be able "
				       "to change it: chown root, chmod go-w)", path, why);
		else if (err == EFBIG)
			reuse_diag_add(diag, "%s:1:1: error: cannot read policy: "
				       "larger than 64 MiB", path);
		else if (err == ENODATA)
			reuse_diag_add(diag, "%s:1:1: error: cannot read policy: the "
				       "pipe or FIFO was empty (a pipe is read once: "
				       "was it read by another process?)", path);
		else if (err == ETIMEDOUT)
			reuse_diag_add(diag, "%s:1:1: error: cannot read policy: "
				       "its writer did not finish in time (%d s "
				       "without data, %d s in all, for a pipe or "
				       "FIFO)", path, POLICY_WAIT_MS / 1000,
				       POLICY_CAP_MS / 1000);
		else
			reuse_diag_add(diag, "%s:1:1: error: cannot read policy: %s",
				       path ? path : "(null)", strerror(err));
		return 1;
	}
	return 0;
}

int reuse_policy_load(const char *path, struct reuse_policy *out,
		      struct reuse_diag *diag)
{
	char *buf = NULL;
	size_t len = 0;

	if (reuse_policy_read(path, &buf, &len, diag)) {
		memset(out, 0, sizeof *out);
		out->source = path ? strdup(path) : NULL;
		return 1;
	}
	int n = reuse_policy_parse(path, buf, len, out, diag);
	free(buf);
	return n;
}
