/*
 * engine_drain.c - an exclusive TCP listener closed while connections it
 * accepted still live. Those connections inherited the listener's
 * SO_REUSEADDR (engine_listen.c gives it to an exclusive listener, so that
 * the TIME_WAIT entries its connections leave let the next exclusive run
 * bind). The kernel's bind check passes a socket that is not listening and
 * holds SO_REUSEADDR for any newcomer that asks it too, whatever its uid
 * (inet_bind_conflict: sk_reuse on both sides and sk2 not in TCP_LISTEN);
 * while the listener lives it refuses everyone, so the connections' option
 * matters only once it is gone. Then anyone could bind beside them and
 * listen: without libreuse they would hold the port.
 *
 * So, before the listener's close (not after: no window), each of the
 * program's connections on its port has the option taken, and gets it back
 * just before its own close, the moment its TIME_WAIT entry is made (the
 * entry copies the option then). Both hosts walk the program's fds and
 * call these: the library on its own close() (shim/drain.c), the
 * supervisor on a stopped close(), close_range() or dup2() (cli/
 * seccomp_host.c, which stops them only under a policy with a TCP
 * `exclusive` rule).
 */
#include <arpa/inet.h>
#include <errno.h>

#include "core/engine.h"
#include "core/sys.h"

/* Whether closing k's socket takes SO_REUSEADDR from its connections. */
bool engine_drains(const struct reuse_sock *k)
{
	return k && k->exclusive && k->listening && k->proto == REUSE_P_TCP;
}

/* The local port (host order) of an INET socket, or 0. */
uint16_t eng_local_port(int fd)
{
	struct sockaddr_storage ss;

	return sock_local_addr(fd, &ss) ? sock_port(&ss) : 0;
}

/*
 * engine_drain_take - fd (the program's, or a duplicate) is about to lose
 * its exclusive listener on port: a TCP connection there holding
 * SO_REUSEADDR gives it up. True when taken: the host remembers it and
 * calls engine_drain_back at the connection's close. errno is kept.
 */
bool engine_drain_take(int fd, uint16_t port)
{
	int family, saved = errno;
	bool taken = false;

	if (sock_proto_of_fd(fd, &family) == REUSE_P_TCP && eng_local_port(fd) == port &&
	    sys_getflag(fd, SO_ACCEPTCONN) == 0 && sys_getflag(fd, SO_REUSEADDR) == 1)
		taken = sys_setflag(fd, SO_REUSEADDR, 0) == 0;
	errno = saved;
	return taken;
}

/* engine_drain_back - the connection closes: its SO_REUSEADDR back, so
 * its TIME_WAIT entry carries it. errno is kept. */
void engine_drain_back(int fd)
{
	int saved = errno;

	sys_setflag(fd, SO_REUSEADDR, 1);
	errno = saved;
}
