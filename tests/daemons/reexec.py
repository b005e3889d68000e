#!/usr/bin/env python3
"""Bind 127.0.0.1:PORT, then (first image only) chdir("/") and re-execute
itself to bind PORT2, as sshd and nginx's binary upgrade do. Prints one
line per image: "image=N pid=P". What the library decided is in its log."""
import os
import socket
import sys

image, port = int(sys.argv[1]), int(sys.argv[2 if sys.argv[1] == "1" else 3])
s = socket.socket()
s.bind(("127.0.0.1", port))
print(f"image={image} pid={os.getpid()}", flush=True)
s.close()
if image == 1:
    os.chdir("/")
    os.execv(sys.executable, [sys.executable, os.path.abspath(__file__), "2"] + sys.argv[2:])
