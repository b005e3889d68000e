/*
 * policy_diag.c - diagnostics of the policy language: the growing
 * "NAME:LINE:COL: error: MESSAGE" text a parse or a read leaves behind.
 */
#include "policy_int.h"

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


/*
 * perr - report one error at the current line. After MAX_ERRORS it says
 * "too many errors, giving up" once and stops the parse.
 */
__attribute__((format(printf, 3, 4)))
void perr(struct parser *ps, size_t col, const char *fmt, ...)
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

