/*
 * facts.c - what explaining a failed bind()/listen() needs, gathered: the
 * holders of the address (diag.c), their processes and options
 * (owners.c), and the failing socket's own options and owner. The text is
 * explain.c's, from these facts alone.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <linux/capability.h>

#include "core/explain.h"
#include "core/sys.h"

void explain_facts(int fd, const struct reuse_subject *s,
		   const struct explain_seen *seen, struct explain_facts *f)
{
	int saved = errno;
	struct stat st;
	int v = 0;
	socklen_t vl = sizeof v;
	bool v6only = s->family == AF_INET6 &&
		sys_getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v, &vl) == 0 && v;
	bool have_st = sys_fstat(fd, &st) == 0;
	uint32_t owner;

	f->own_ra = (int8_t)sys_getflag(fd, SO_REUSEADDR);
	f->own_rp = (int8_t)sys_getflag(fd, SO_REUSEPORT);
	f->uid = have_st ? (uint32_t)st.st_uid : (uint32_t)geteuid();
	if (reuse_key_owner(f->uid, &owner)) {
		f->rp_uid = f->uid;           /* keyed already: the key is compared */
		f->uid = owner;
	} else {
		/* reuseport=force keys the socket when the process may chown */
		f->rp_uid = reuse_key_of(f->uid) && sys_have_cap(CAP_CHOWN) ?
			    reuse_key_of(f->uid) : f->uid;
	}
	/* the engine's own dump of this failure, when nothing changed since */
	if (seen && seen->valid && seen->v6only == v6only)
		f->l = seen->l;
	else
		explain_list(s->proto, s->family, s->addr, s->port, v6only, &f->l);
	/* at listen() the socket is bound already: it holds nothing against itself */
	for (unsigned i = 0; have_st && i < f->l.n; i++) {
		if (f->l.h[i].ino != (uint64_t)st.st_ino)
			continue;
		memmove(&f->l.h[i], &f->l.h[i + 1], (f->l.n - i - 1) * sizeof f->l.h[0]);
		f->l.n--;
		break;
	}
	if (!f->l.diag_errno)
		explain_first_owners(&f->l);
	errno = saved;
}

/* explain_detail - the facts, then the text (core.h). */
void explain_detail(int fd, const struct reuse_subject *s,
		    const struct explain_seen *seen, char *msg, size_t mlen)
{
	struct explain_facts f;

	explain_facts(fd, s, seen, &f);
	explain_detail_text(&f, s, msg, mlen);
}
