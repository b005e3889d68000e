#!/usr/bin/python3
"""echo_udp.py HOST PORT - a UDP daemon that answers each datagram "PID DATA".

Sets no reuse option. On SIGTERM it finishes the datagram in hand and exits
0, so a datagram it received is always answered. Prints "bound HOST:PORT"
once bound; a failed bind exits 1 with the OSError on stderr.
"""
import os
import signal
import socket
import sys

stop = False


def on_term(*_):
    global stop
    stop = True


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    signal.signal(signal.SIGTERM, on_term)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_DGRAM)
    try:
        s.bind((host, port))
    except OSError as e:
        print(f"OSError: {e}", file=sys.stderr, flush=True)
        return 1
    print(f"bound {host}:{port}", flush=True)
    s.settimeout(0.1)
    pid = f"{os.getpid()} ".encode()
    while not stop:
        try:
            data, peer = s.recvfrom(2048)
        except (socket.timeout, InterruptedError):
            continue
        s.sendto(pid + data, peer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
