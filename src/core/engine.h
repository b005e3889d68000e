/*
 * engine.h - the engine's rooms share these: engine.c (decision, options,
 * log line), engine_bind.c, engine_listen.c, engine_opts.c. The hosts see
 * only the engine_* calls in core.h.
 */
#ifndef REUSE_ENGINE_H
#define REUSE_ENGINE_H

#include "core/core.h"
#include "core/host.h"

/* Whether a line at `need` is wanted for a socket whose level is `have`. */
static inline bool wants(unsigned have, unsigned need)
{
	return reuse_cfg.level != REUSE_LOG_OFF && have >= need;
}

/* A dry run (REUSE_DRY_RUN=1, or the rule's dry-run) decides and logs, and
 * changes nothing: the kernel sees exactly what the program asked. */
static inline bool dry(const struct reuse_rule *r)
{
	return reuse_cfg.dry_run || (r && r->dry_run);
}

void eng_set_flag(int fd, int name, int want) HIDDEN;
void eng_subject(struct reuse_call *c, const struct sockaddr_storage *ss,
		 struct reuse_subject *s) HIDDEN;
void eng_plan_for(const struct reuse_rule *r, const struct reuse_sock *k,
		  struct reuse_plan *plan) HIDDEN;
void eng_plan_keep(struct reuse_sock *k, const struct reuse_plan *plan) HIDDEN;
bool eng_plan_kept(const struct reuse_sock *k, struct reuse_plan *plan) HIDDEN;
int eng_decide_at_bind(struct reuse_call *c, const struct sockaddr_storage *ss,
		       struct reuse_subject *subj, struct reuse_plan *plan) HIDDEN;
void eng_undo_options(struct reuse_call *c, const struct reuse_plan *plan) HIDDEN;
bool eng_hold(const struct reuse_call *c) HIDDEN;
void eng_held_bound(struct reuse_call *c) HIDDEN;
/* Key fd's SO_REUSEPORT group to its owner (k records it); false if not. */
bool eng_key(int fd, struct reuse_sock *k) HIDDEN;
void eng_first_sight(struct reuse_call *c) HIDDEN;
void eng_decide_bound(struct reuse_call *c, const char *how) HIDDEN;
bool eng_v6only(int fd, const struct reuse_sock *k) HIDDEN;
long eng_since_us(const struct timespec *t0) HIDDEN;
/* The note of a call that continued in the program (!c->can_call_here). */
static inline const char *eng_continued_note(const struct reuse_call *c)
{
	return c->why_not_here ? c->why_not_here :
	       "the call continued in the program, result not seen";
}
/* One log line about c; result_text overrides the result ("continued"). */
void eng_log(struct reuse_call *c, const char *call, const struct sockaddr_storage *ss,
	     int result, const char *result_text, const char *msg) HIDDEN;
void eng_log_now(struct reuse_call *c, const char *call, const struct sockaddr_storage *ss,
		 int result, const char *result_text, const char *msg, int ra_now,
		 int rp_now) HIDDEN;
/* An EADDRINUSE of bind() (addr set) or listen() (addr NULL) on c: the
 * TIME_WAIT remedies the plan allows (binding again through the host), and,
 * when `explain`, the sentence and the holders in msg. *retried is the
 * retried bind's result (-1: none), *err its errno; seen (or NULL) keeps
 * the holders listed for explain_detail. */
void eng_in_use(struct reuse_call *c, const struct sockaddr *addr, socklen_t len,
		const struct reuse_subject *s, const struct reuse_plan *plan,
		bool explain, char *msg, size_t mlen, int *retried, int *err,
		struct explain_seen *seen) HIDDEN;

#endif
