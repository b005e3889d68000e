#!/usr/bin/python3
"""ask_handoff.py PATH tcp|udp HOST PORT - ask a handoff socket for a socket.

Speaks the request libreuse's handoff.c answers (struct ho_msg: magic
"lrh0", version 1, proto, pid, status, sockaddr_storage) directly, as any
process could, without the library's own client checks; prints
"status=ERRNONAME fd=yes|no". Used to show the serving side refuses a
caller of another uid by itself.
"""
import errno
import os
import socket
import struct
import sys


def main():
    path, proto, host, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    addr = socket.inet_aton(host)
    ss = struct.pack("<H", socket.AF_INET) + struct.pack(">H", port) + addr
    ss += b"\0" * (128 - len(ss))
    msg = struct.pack("<IHBBii", 0x6c726830, 1, 1 if proto == "tcp" else 2, 0,
                      os.getpid(), 0) + ss
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.settimeout(3)
    try:
        c.connect(path)
    except OSError as e:
        print(f"connect={errno.errorcode.get(e.errno, e.errno)}")
        return 0
    c.sendall(msg)
    data, fds, _, _ = socket.recv_fds(c, len(msg), 1)
    status = struct.unpack("<i", data[12:16])[0] if len(data) >= 16 else -1
    print(f"status={errno.errorcode.get(status, 'ok' if status == 0 else status)} "
          f"fd={'yes' if fds else 'no'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
