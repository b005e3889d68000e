/* unit.h - the unit test suites main.c runs (TAP on stdout). */
#ifndef REUSE_UNIT_H
#define REUSE_UNIT_H

void test_policy(void);
void test_decide(void);
void test_rules(void);
void test_subject(void);
void test_explain_text(void);

#endif
