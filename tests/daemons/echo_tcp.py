#!/usr/bin/python3
"""echo_tcp.py HOST PORT [daemon [PIDFILE]] - a TCP daemon that answers each
client its pid.

Sets no reuse option. Each connection gets one line, "PID\\n"; the daemon
then waits (at most 1 s) for the client to close first, so the counting
client sees every answer whole. On SIGTERM it stops accepting, finishes
the connection in hand and exits 0: what an orderly daemon does, so a
connection it accepted is never cut. Prints "listening HOST:PORT" once
listening; a failed bind exits 1 with the OSError on stderr. With "daemon"
it forks away once listening, as daemons do: the first process exits 0,
the child (a new session) writes its pid to PIDFILE if given, and serves.
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
    s = socket.socket(family, socket.SOCK_STREAM)
    try:
        s.bind((host, port))
        s.listen(128)
    except OSError as e:
        print(f"OSError: {e}", file=sys.stderr, flush=True)
        return 1
    print(f"listening {host}:{port}", flush=True)
    if len(sys.argv) > 3 and sys.argv[3] == "daemon":
        if os.fork():
            os._exit(0)
        os.setsid()
        if len(sys.argv) > 4:
            with open(sys.argv[4] + ".tmp", "w") as f:
                f.write(f"{os.getpid()}\n")
            os.rename(sys.argv[4] + ".tmp", sys.argv[4])
    s.settimeout(0.1)
    answer = f"{os.getpid()}\n".encode()
    while not stop:
        try:
            c, _ = s.accept()
        except socket.timeout:
            continue
        except InterruptedError:
            continue
        with c:
            c.settimeout(1.0)
            try:
                c.sendall(answer)
                c.recv(16)           # the client closes first
            except OSError:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
