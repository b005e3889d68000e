#!/usr/bin/python3
"""counter.py tcp|udp HOST PORT STOPFILE [MAXSECS] [N] - count who answers.

tcp: connects again and again (about 400 a second), reads the one line
the daemon answers (its pid), closes. udp: sends numbered datagrams one at a
time, each from a fresh socket (so SO_REUSEPORT balancing, which hashes the
source, spreads them), and waits (1 s) for each answer "PID SEQ". Stops after N attempts when
N is given, else once STOPFILE exists, and always after MAXSECS (default 30).
Prints one line:
  attempts=A ok=O failed=F runs=PID:COUNT,PID:COUNT,...
runs lists who answered, in order, consecutive answers merged; a failure
is a refused/reset/timed-out connection, or a datagram never answered
(udp also checks the answer carries the sequence number sent).
"""
import os
import socket
import sys
import time


def main():
    proto, host, port, stopfile = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    maxsecs = float(sys.argv[5]) if len(sys.argv) > 5 else 30.0
    n = int(sys.argv[6]) if len(sys.argv) > 6 else 0
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    end = time.monotonic() + maxsecs
    attempts = ok = failed = 0
    runs = []
    errors = {}
    while time.monotonic() < end:
        if n and attempts >= n:
            break
        if not n and os.path.exists(stopfile):
            break
        attempts += 1
        pid = None
        try:
            if proto == "tcp":
                with socket.create_connection((host, port), timeout=2.0) as c:
                    line = b""
                    while not line.endswith(b"\n"):
                        chunk = c.recv(64)
                        if not chunk:
                            break
                        line += chunk
                    pid = line.decode().strip() or None
            else:
                with socket.socket(family, socket.SOCK_DGRAM) as u:
                    u.settimeout(1.0)
                    u.sendto(str(attempts).encode(), (host, port))
                    while True:
                        data, _ = u.recvfrom(2048)
                        p, seq = data.decode().split()
                        if int(seq) == attempts:
                            pid = p
                            break
        except OSError as e:
            errors[type(e).__name__] = errors.get(type(e).__name__, 0) + 1
        if pid:
            ok += 1
            if runs and runs[-1][0] == pid:
                runs[-1][1] += 1
            else:
                runs.append([pid, 1])
        else:
            failed += 1
        time.sleep(0.002)
    print(f"attempts={attempts} ok={ok} failed={failed} "
          f"runs={','.join(f'{p}:{c}' for p, c in runs)} "
          f"errors={','.join(f'{k}:{v}' for k, v in errors.items()) or '-'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
