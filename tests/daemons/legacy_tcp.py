#!/usr/bin/python3
"""legacy_tcp.py HOST PORT - a legacy TCP daemon, as many are written.

A plain socketserver.TCPServer that never asks for SO_REUSEADDR (nor
SO_REUSEPORT). Each client gets one line, "hello", and then the SERVER closes
the connection first, so every served connection leaves a TIME_WAIT entry on
HOST:PORT after the daemon stops. That is the daemon that cannot restart.

Prints "listening HOST:PORT" once bound; a failed bind exits 1 with Python's
"OSError: [Errno 98] Address already in use" on stderr. Stops on SIGTERM.
"""
import signal
import socketserver
import sys


class Hello(socketserver.StreamRequestHandler):
    def handle(self):
        self.wfile.write(b"hello\n")
        self.wfile.flush()
        # returning closes the connection from this side first


class LegacyServer(socketserver.TCPServer):
    allow_reuse_address = False
    allow_reuse_port = False


def main():
    if len(sys.argv) != 3:
        print("usage: legacy_tcp.py HOST PORT", file=sys.stderr)
        return 2
    host, port = sys.argv[1], int(sys.argv[2])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server = LegacyServer((host, port), Hello)
    except OSError as e:
        print(f"OSError: {e}", file=sys.stderr)
        return 1
    print(f"listening {host}:{port}", flush=True)
    with server:
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
