#!/usr/bin/python3
"""bindmany.py - one bind() per line of stdin, each on a fresh socket.

Each line is "PROTO HOST PORT" (tcp|udp; HOST IPv4, IPv6 or v4-mapped);
prints one line per case: "ok" or the errno's name. The socket is closed at
once, so cases never meet each other. For tests/guard.bats: the same cases
under the library and under the guard must get the same answers.
"""
import errno
import socket
import sys


def main():
    for line in sys.stdin:
        proto, host, port = line.split()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
        s = socket.socket(family, kind)
        if family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        try:
            s.bind((host, int(port)))
            print("ok")
        except OSError as e:
            print(errno.errorcode.get(e.errno, str(e.errno)))
        s.close()
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
