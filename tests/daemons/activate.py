#!/usr/bin/python3
"""activate.py [--reuseport] HOST PORT CMD... - socket activation as a
systemd .socket unit (Accept=no) does it: a TCP listener with SO_REUSEADDR
(systemd always sets it) and, with --reuseport, SO_REUSEPORT (ReusePort=yes),
passed to CMD as fd 3 with LISTEN_FDS=1 and LISTEN_PID (CMD runs in this
process, as the unit's service would). systemd-socket-activate has no
ReusePort option: this is the unit that has it.
"""
import os
import socket
import sys


def main():
    args = sys.argv[1:]
    reuseport = args[0] == "--reuseport"
    if reuseport:
        args = args[1:]
    host, port, cmd = args[0], int(args[1]), args[2:]
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuseport:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind((host, port))
    s.listen(64)
    if s.fileno() != 3:
        os.dup2(s.fileno(), 3)
    os.set_inheritable(3, True)
    os.environ.update(LISTEN_FDS="1", LISTEN_PID=str(os.getpid()))
    os.execvp(cmd[0], cmd)


if __name__ == "__main__":
    sys.exit(main())
