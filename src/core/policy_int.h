/*
 * policy_int.h - what the rooms of the policy language share: the
 * parser's state, tokens, and the index's entry points. Not installed.
 */
#ifndef REUSE_POLICY_INT_H
#define REUSE_POLICY_INT_H

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

/* policy_diag.c */
__attribute__((format(printf, 3, 4)))
void perr(struct parser *ps, size_t col, const char *fmt, ...);

/* policy_token.c */
bool is_blank(char c);
bool next_tok(struct cursor *c, struct tok *t);
struct tok tok_sub(const struct tok *t, size_t from, size_t to);
bool tok_is(const struct tok *t, const char *word);
const char *suggest(const char *word, size_t n, const char *const *cands,
		    size_t ncands);
const char *hint(char *buf, size_t size, const char *sug);
int parse_uint(const struct tok *t, unsigned long long max,
	       unsigned long long *out);

/* policy_parse.c */
void rule_free(struct reuse_rule *r);
void push_rule(struct parser *ps, struct reuse_rule *r, size_t col);

/* policy_addr.c */
unsigned parse_proto(struct parser *ps, const struct tok *t);
bool parse_address(struct parser *ps, const struct tok *t, struct reuse_rule *r);

/* policy_file.c */
int policy_read_st(const char *path, char **text, size_t *len, struct stat *st,
		   struct reuse_diag *diag);

/* policy_index.c */
struct reuse_index *index_build(const struct reuse_policy *p);
void index_free(struct reuse_index *ix);
void index_free_shell(struct reuse_index *ix);

/* policy_cache.c */
void policy_image_free(struct reuse_policy *p);

#endif
