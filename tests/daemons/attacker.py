#!/usr/bin/python3
"""attacker.py PROTO HOST PORT FLAGS [SECS] - try to take a port's traffic.

A process that needs no shim (it runs without one): binds HOST:PORT for PROTO
(tcp|udp) with FLAGS (none|ra|rp|rarp: SO_REUSEADDR, SO_REUSEPORT, both),
prints "bind=ok" or "bind=ENAME" (TCP: then "listen=..."), and if bound
counts for SECS seconds what it takes: datagrams (UDP) or connections (TCP),
printing "got=N". Every loop is bounded by SECS. SIGTERM ends the count early,
after taking what is already queued (a test that has sent its traffic need not
wait SECS out).
"""
import errno
import signal
import socket
import sys
import time


STOPPING = []   # non-empty once SIGTERM came


def stop(_sig, _frame):
    STOPPING.append(1)


def ename(e):
    return errno.errorcode.get(e.errno, str(e.errno))


def drain(s, kind):
    """What is queued on s now: datagrams, or connections (accepted and closed)."""
    n = 0
    s.setblocking(False)
    while True:
        try:
            if kind == socket.SOCK_DGRAM:
                s.recvfrom(4096)
            else:
                c, _ = s.accept()
                c.close()
        except OSError:
            return n
        n += 1


def main():
    proto, host, port, flags = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    secs = float(sys.argv[5]) if len(sys.argv) > 5 else 0.0
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    s = socket.socket(family, kind)
    if flags in ("ra", "rarp"):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if flags in ("rp", "rarp"):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    stage = "bind"
    try:
        s.bind((host, port))
        print("bind=ok", flush=True)
        if kind == socket.SOCK_STREAM:
            stage = "listen"
            s.listen(64)
            print("listen=ok", flush=True)
    except OSError as e:
        print(f"{stage}={ename(e)}", flush=True)
        return 0
    got = 0
    end = time.monotonic() + secs
    signal.signal(signal.SIGTERM, stop)
    # waits of 50 ms at most, so a SIGTERM (its handler only sets a flag: the
    # interrupted call resumes) is seen soon
    while not STOPPING and time.monotonic() < end:
        s.settimeout(max(0.01, min(0.05, end - time.monotonic())))
        try:
            if kind == socket.SOCK_DGRAM:
                s.recvfrom(4096)
            else:
                c, _ = s.accept()
                c.close()
            got += 1
        except socket.timeout:
            continue
    if STOPPING:
        got += drain(s, kind)
    print(f"got={got}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
