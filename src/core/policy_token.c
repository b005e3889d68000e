/*
 * policy_token.c - the words of a policy line: tokens, "did you mean"
 * suggestions, and bounded unsigned numbers.
 */
#include "policy_int.h"

bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* next_tok - the next blank-separated token of the line, false at its end. */
bool next_tok(struct cursor *c, struct tok *t)
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
struct tok tok_sub(const struct tok *t, size_t from, size_t to)
{
	struct tok s = { t->p + from, to - from, t->col + from };
	return s;
}

bool tok_is(const struct tok *t, const char *word)
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
const char *suggest(const char *word, size_t n,
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
const char *hint(char *buf, size_t size, const char *sug)
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
int parse_uint(const struct tok *t, unsigned long long max,
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

