/* unit.h - the unit test suites main.c runs (TAP on stdout), and the
 * helpers they share (logcap.c). */
#ifndef REUSE_UNIT_H
#define REUSE_UNIT_H

#include <stddef.h>
#include <stdio.h>

void test_policy(void);
void test_policy_cache(void);
void test_decide(void);
void test_rules(void);
void test_subject(void);
void test_engine(void);
void test_fdtable(void);
void test_log(void);
void test_explain(void);
void test_guard(void);

/* logcap.c: the core's log lines, one record per write(2). */
void logcap_start(const char *format, const char *level);
void logcap_clear(void);
size_t logcap_n(void);
const char *logcap_line(size_t i);
size_t logcap_len(size_t i);
const char *logcap_body(size_t i, char *out, size_t len);
void unit_policy(const char *text, char *path, size_t plen);
void unit_policy_done(void);
void test_explain_text(void);

#endif
