/*
 * policy_parse.c - the policy language (reuse.policy(5)): one pass over
 * the text, line by line, token by token, with no fixed-size line buffers.
 * Every problem is reported as "NAME:LINE:COLUMN: error: MESSAGE" and
 * parsing goes on with the next token or line, so one run of `reuse check`
 * shows them all. Columns count bytes from 1 (a tab is one column).
 */
#include "policy_int.h"

/* ====================================================================
 * Rules
 * ==================================================================== */

/* rule_free - what a rule owns (not the rule itself). */
void rule_free(struct reuse_rule *r)
{
	free(r->ports);
	free(r->program);
	r->ports = NULL;
	r->program = NULL;
	r->nports = 0;
}

/* push_rule - append a finished rule; on failure the rule is freed. */
void push_rule(struct parser *ps, struct reuse_rule *r, size_t col)
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

/* ---- MATCH and DIRECTIVE ------------------------------------------- */

enum key {
	K_REUSEADDR, K_REUSEPORT, K_EXCLUSIVE, K_HANDOFF, K_DENY, K_LOG,
	K_PROGRAM, K_UID, K_DRYRUN, K_RESERVE, K_COUNT
};

static const char *const key_names[K_COUNT] = {
	"reuseaddr", "reuseport", "exclusive", "handoff", "deny", "log",
	"program", "uid", "dry-run", "reserve",
};

static bool key_is_match(enum key k)
{
	return k == K_PROGRAM || k == K_UID;
}

static bool key_takes_value(enum key k)
{
	return k != K_EXCLUSIVE && k != K_HANDOFF && k != K_DENY && k != K_DRYRUN &&
	       k != K_RESERVE;
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
		     "reuseport=, exclusive, handoff, deny, reserve, log=, dry-run, program= or uid=)",
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
		else if (k == K_RESERVE)
			r->reserve = true;
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
		K_REUSEADDR, K_REUSEPORT, K_EXCLUSIVE, K_HANDOFF, K_RESERVE,
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
	/* a reservation is for someone: with neither it would refuse nobody */
	if (clean && sn->tok[K_RESERVE].n && !sn->tok[K_PROGRAM].n && !sn->tok[K_UID].n)
		perr(ps, sn->tok[K_RESERVE].col, "'reserve' needs program= or uid= "
		     "(the processes the address is for)");
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
	if (p->image) {
		policy_image_free(p);
		return;
	}
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

