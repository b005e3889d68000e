/*
 * sockinfo.c - what the kernel says a socket is (its family and protocol)
 * and where it is bound: the one reader of SO_DOMAIN/SO_TYPE/SO_PROTOCOL
 * and getsockname() for the core (the fd table, the engine, handoff).
 * Direct system calls (sys.h): the shim's own getsockopt() is not entered.
 */
#include <netinet/in.h>
#include <string.h>

#include "core/core.h"
#include "core/sys.h"

unsigned sock_proto(int family, int type, int protocol)
{
	if (family != AF_INET && family != AF_INET6)
		return 0;
	type &= ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
	/* MPTCP listeners share TCP's port space and its reuse rules */
	if (type == SOCK_STREAM && (protocol == 0 || protocol == IPPROTO_TCP ||
				    protocol == IPPROTO_MPTCP))
		return REUSE_P_TCP;
	if (type == SOCK_DGRAM && (protocol == 0 || protocol == IPPROTO_UDP))
		return REUSE_P_UDP;
	return 0;
}

bool sock_kind(int fd, int *family, int *type, int *protocol)
{
	socklen_t l = sizeof *family;

	if (sys_getsockopt(fd, SOL_SOCKET, SO_DOMAIN, family, &l) < 0)
		return false;
	l = sizeof *type;
	if (sys_getsockopt(fd, SOL_SOCKET, SO_TYPE, type, &l) < 0)
		return false;
	l = sizeof *protocol;
	return sys_getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, protocol, &l) == 0;
}

unsigned sock_proto_of_fd(int fd, int *family)
{
	int type, protocol;

	return sock_kind(fd, family, &type, &protocol) ? sock_proto(*family, type, protocol) : 0;
}

bool sock_local_addr(int fd, struct sockaddr_storage *ss)
{
	socklen_t len = sizeof *ss;

	memset(ss, 0, sizeof *ss);
	return sys_getsockname(fd, (struct sockaddr *)ss, &len) == 0 &&
	       (ss->ss_family == AF_INET || ss->ss_family == AF_INET6);
}

uint16_t sock_port(const struct sockaddr_storage *ss)
{
	return ntohs(ss->ss_family == AF_INET ? ((const struct sockaddr_in *)ss)->sin_port
			: ((const struct sockaddr_in6 *)ss)->sin6_port);
}
