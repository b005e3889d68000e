#!/usr/bin/python3
"""load.py http|memcached HOST PORT STOPFILE [CONC] [MAXSECS] - continuous
client load: CONC threads (default 8), each connecting again and again,
sending one request (HTTP/1.0 GET /index.html, Connection: close; memcached
"version"), reading the whole answer and closing, until STOPFILE exists
(at most MAXSECS, default 30). A connection fails when it is refused or
reset, times out (2 s), or its answer is not a whole one (HTTP status 200
and a body; memcached "VERSION ..."). Prints one line:
  attempted=A ok=O failed=F errors=NAME:COUNT,...
"""
import os
import socket
import sys
import threading
import time

REQ = {
    "http": b"GET /index.html HTTP/1.0\r\nConnection: close\r\n\r\n",
    "memcached": b"version\r\n",
}


def whole(kind, data):
    if kind == "http":
        head, _, body = data.partition(b"\r\n\r\n")
        status = head.split(b"\r\n")[0].split()
        return len(status) > 1 and status[0].startswith(b"HTTP/1.") and status[1] == b"200" and body != b""
    return data.startswith(b"VERSION ") and data.endswith(b"\r\n")


def main():
    kind, host, port, stopfile = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    conc = int(sys.argv[5]) if len(sys.argv) > 5 else 8
    end = time.monotonic() + (float(sys.argv[6]) if len(sys.argv) > 6 else 30.0)
    lock = threading.Lock()
    tally = {"attempted": 0, "ok": 0, "failed": 0}
    errors = {}

    def worker():
        while time.monotonic() < end and not os.path.exists(stopfile):
            why = None
            try:
                with socket.create_connection((host, port), timeout=2.0) as c:
                    c.sendall(REQ[kind])
                    data = b""
                    while True:
                        if kind == "memcached" and data.endswith(b"\r\n"):
                            break
                        chunk = c.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                    if not whole(kind, data):
                        why = "short" if data else "empty"
            except OSError as e:
                why = type(e).__name__
            with lock:
                tally["attempted"] += 1
                tally["failed" if why else "ok"] += 1
                if why:
                    errors[why] = errors.get(why, 0) + 1

    threads = [threading.Thread(target=worker) for _ in range(conc)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("attempted=%d ok=%d failed=%d errors=%s" % (
        tally["attempted"], tally["ok"], tally["failed"],
        ",".join("%s:%d" % kv for kv in sorted(errors.items())) or "-"), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
