#!/usr/bin/python3
"""ownbinds.py SECS SPEC... - one process binding several sockets of its own.

Each SPEC is PROTO,HOST,PORT,FLAGS (FLAGS none|ra|rp|rarp, as attacker.py);
the sockets are made and bound in order and kept open, TCP ones listening.
Prints "N bind=ok|ENAME" per SPEC, then "ready", then holds them for SECS
seconds (bounded) so another process can try the port meanwhile.
OWNBINDS_FD_BASE=N moves socket i to fd N+i (dup2) before anything else,
to reach high fd numbers.
"""
import errno
import os
import socket
import sys
import time


def main():
    secs = float(sys.argv[1])
    keep = []
    base = int(os.environ.get("OWNBINDS_FD_BASE", "0"))
    for i, spec in enumerate(sys.argv[2:]):
        proto, host, port, flags = spec.split(",")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
        s = socket.socket(family, kind)
        if base:
            fd = os.dup2(s.fileno(), base + i, inheritable=False)
            s.close()
            s = socket.socket(family, kind, fileno=fd)
        if family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        if flags in ("ra", "rarp"):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if flags in ("rp", "rarp"):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            s.bind((host, int(port)))
            if kind == socket.SOCK_STREAM:
                s.listen(16)
            print(f"{i} bind=ok", flush=True)
        except OSError as e:
            print(f"{i} bind={errno.errorcode.get(e.errno, e.errno)}", flush=True)
        keep.append(s)
    print("ready", flush=True)
    time.sleep(secs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
