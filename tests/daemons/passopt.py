#!/usr/bin/python3
"""passopt.py PORT SECS - a UDP daemon whose unbound socket visits a helper.

The helper process starts first (so no fork() happens once the socket
exists), receives the unbound socket over a Unix socket (SCM_RIGHTS), sets
SO_REUSEADDR on it and hands it back; the daemon then binds 127.0.0.1:PORT,
prints "bind=ok" and holds the port for SECS seconds (bounded).
"""
import os
import socket
import sys
import time

port, secs = int(sys.argv[1]), float(sys.argv[2])
a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
pid = os.fork()
if pid == 0:                        # the helper
    a.close()
    _, fds, _, _ = socket.recv_fds(b, 1, 1)
    s = socket.socket(fileno=fds[0])
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    socket.send_fds(b, [b"k"], [])
    os._exit(0)
b.close()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
socket.send_fds(a, [b"s"], [u.fileno()])
a.recv(1)                           # the helper set the option
os.waitpid(pid, 0)
u.bind(("127.0.0.1", port))
print("bind=ok", flush=True)
time.sleep(secs)
