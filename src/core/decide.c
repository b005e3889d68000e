/*
 * decide.c - the decision engine: (rule, what the program asked) -> plan.
 *
 * Pure functions: no syscalls, no globals, so the table-driven unit tests
 * can walk every combination. Matching a socket to a rule is policy_index.c's.
 */
#include <errno.h>

#include "libreuse.h"

/*
 * Kernel value an option must have when the socket binds, given the rule's
 * action and what the program asked; -1 leaves it alone. *err is set to
 * EPERM when the action is `refuse` and the program asked for the option.
 * A table, not a switch: this runs at every bind().
 */
static int8_t option_at_bind(unsigned act, bool asked, int *err)
{
	static const int8_t value[] = {
		[REUSE_KEEP] = -1, [REUSE_FORCE] = 1, [REUSE_STRIP] = 0, [REUSE_REFUSE] = -1,
	};

	if (act == REUSE_REFUSE && asked)
		*err = EPERM;
	return act < sizeof value ? value[act] : -1;
}

/*
 * exclusive - no other process may bind an overlapping address, whatever it
 * sets (Windows SO_EXCLUSIVEADDRUSE). On Linux that is a socket holding
 * neither option: SO_REUSEADDR off (UDP's door to every uid), SO_REUSEPORT
 * off (the same-uid door). A program that asked SO_REUSEPORT shares the
 * port among its own sockets: keyed (reuse_key_of) it keeps the option
 * and nobody else matches the group; unkeyed, a UDP socket drops it (its own
 * later binds borrow it, see engine_bind.c) and a TCP socket keeps it, since the
 * kernel's bind bucket would stay open to same-uid joiners after a lent bind
 * anyway: that is said in the log (joinable).
 */
static void decide_exclusive(const struct reuse_ask *ask, struct reuse_plan *out)
{
	out->exclusive = true;
	out->ra = 0;
	out->rp = 0;
	if (!ask->rp)
		return;
	if (ask->can_key) {
		out->rp = 1;
		out->key = true;
	} else if (ask->proto == REUSE_P_TCP) {
		out->rp = 1;
		out->joinable = true;
	}
}

/*
 * decide_shared - reuseport=force: instances of a program share the port.
 * SO_REUSEPORT admits any socket of the same owner uid, so when the
 * process may chown, the socket is keyed to REUSE_KEY_UID: instances under
 * the policy share and a same-uid stranger, root included, is refused;
 * otherwise the group stays joinable by the uid, which the log says.
 */
static void decide_shared(const struct reuse_rule *r, const struct reuse_ask *ask,
			  struct reuse_plan *out)
{
	if (ask->can_key)
		out->key = true;
	else
		out->joinable = true;
	/* UDP SO_REUSEADDR admits every uid beside the group (and with
	 * SO_REUSEPORT too it skips the group's uid check): a keyed group
	 * without it is closed. Unless the rule forces it, it goes. */
	if (out->key && ask->proto == REUSE_P_UDP && r->reuseaddr == REUSE_KEEP)
		out->ra = 0;
}

/*
 * reuse_decide_bind - what to do around bind() (and an unbound listen()).
 *
 * `deny` wins over everything; `exclusive` decides both options itself,
 * whatever the reuse directives say; otherwise each option follows its own
 * directive. r == NULL: the socket is untouched.
 */
void reuse_decide_bind(const struct reuse_rule *r, const struct reuse_ask *ask,
		       struct reuse_plan *out)
{
	*out = (struct reuse_plan){ .rule = r, .ra = -1, .rp = -1 };
	if (!r)
		return;
	out->log = r->log;
	if (r->deny) {
		out->err = EACCES;
		return;
	}
	if (r->exclusive) {
		decide_exclusive(ask, out);
		return;
	}
	out->ra = option_at_bind(r->reuseaddr, ask->ra, &out->err);
	out->rp = option_at_bind(r->reuseport, ask->rp, &out->err);
	if (r->reuseport == REUSE_FORCE && !out->err)
		decide_shared(r, ask, out);
}

/*
 * reuse_may_key - whether a plan for r could key the socket: the caller
 * asks the kernel for CAP_CHOWN (ask.can_key) only then.
 */
bool reuse_may_key(const struct reuse_rule *r, bool asked_rp)
{
	if (!r || r->deny)
		return false;
	if (r->exclusive)
		return asked_rp;
	return r->reuseport == REUSE_FORCE;
}

/*
 * reuse_decide_setopt - a setsockopt(SO_REUSEADDR/SO_REUSEPORT) after the
 * socket's rule was chosen. Returns 0 or the errno to fail with; *to_kernel
 * says whether the program's value goes to the kernel. Whatever happens, the
 * caller records the value as what the program asked for.
 *
 * force/strip/exclusive hold the kernel value the rule chose and tell the
 * program it worked (the spec: its own setsockopt still returns success);
 * refuse says EPERM to turning the option on.
 */
int reuse_decide_setopt(const struct reuse_rule *r, bool is_rp, bool value,
			bool *to_kernel)
{
	*to_kernel = true;
	if (!r)
		return 0;
	if (r->exclusive) {
		*to_kernel = false;
		return 0;
	}
	switch (is_rp ? r->reuseport : r->reuseaddr) {
	case REUSE_FORCE:
	case REUSE_STRIP:
		*to_kernel = false;
		return 0;
	case REUSE_REFUSE:
		if (value) {
			*to_kernel = false;
			return EPERM;
		}
		return 0;
	default:
		return 0;
	}
}

const char *reuse_act_name(unsigned act)
{
	static const char *const names[] = { "keep", "force", "strip", "refuse" };
	return act < 4 ? names[act] : "?";
}

const char *reuse_level_name(unsigned level)
{
	static const char *const names[] = { "off", "decisions", "all" };
	return level < 3 ? names[level] : "?";
}
