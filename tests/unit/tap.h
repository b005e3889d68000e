/*
 * tap.h - a tiny TAP producer for the C unit tests.
 *
 *   ok(cond, "fmt", ...)   prints "ok N - desc" or "not ok N - desc"
 *   diag("fmt", ...)       prints "# ..." (one line per line of text)
 *   done_testing()         prints the "1..N" plan; returns the exit status
 *
 * The counters live in main.c (TAP_STATE_DEFINE) so every test file
 * shares one numbering.
 */
#ifndef REUSE_TAP_H
#define REUSE_TAP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

struct tap_state {
	unsigned run, failed;
};
extern struct tap_state tap_state;
#define TAP_STATE_DEFINE struct tap_state tap_state

/* tap_vprint - text as TAP comment lines, each prefixed with "# ". */
static inline void tap_vprint(const char *fmt, va_list ap)
{
	char buf[4096];
	vsnprintf(buf, sizeof buf, fmt, ap);
	for (char *line = buf, *nl; line; line = nl) {
		nl = strchr(line, '\n');
		if (nl)
			*nl++ = '\0';
		if (*line || nl)
			printf("# %s\n", line);
	}
}

__attribute__((format(printf, 1, 2)))
static inline void diag(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	tap_vprint(fmt, ap);
	va_end(ap);
}

/* tap_ok - one test point; returns pass so callers can add diagnostics. */
__attribute__((format(printf, 2, 3)))
static inline bool tap_ok(bool pass, const char *fmt, ...)
{
	char desc[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(desc, sizeof desc, fmt, ap);
	va_end(ap);
	for (char *c = desc; *c; c++)
		if (*c == '\n' || *c == '#')
			*c = ' ';
	tap_state.run++;
	if (!pass)
		tap_state.failed++;
	printf("%sok %u - %s\n", pass ? "" : "not ", tap_state.run, desc);
	return pass;
}

#define ok(cond, ...) tap_ok(!!(cond), __VA_ARGS__)

/* done_testing - the plan line; 0 if every test passed, else 1. */
static inline int done_testing(void)
{
	printf("1..%u\n", tap_state.run);
	if (tap_state.failed)
		printf("# failed %u of %u\n", tap_state.failed, tap_state.run);
	fflush(stdout);
	return tap_state.failed ? 1 : 0;
}

#endif
