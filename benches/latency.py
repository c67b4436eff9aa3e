"""L1 scan latency: `input_event` records written to a replay FIFO -> first byte
of the `scan` event at a Streams client, over loopback.

    python benches/latency.py --count 300

Prints p50 / p99 / max in milliseconds (BENCHMARKS.md scenario L1, target p99 < 2 ms).
"""

from __future__ import annotations

import argparse
import base64
import os
import select
import socket
import statistics
import sys
import tempfile
import time

from serverproc import scanbridge_server

from scanbridge import _core


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--count", type=int, default=300)
    ap.add_argument("--scanbridge", default=os.environ.get("BENCH_SCANBRIDGE_BIN", "scanbridge"))
    args = ap.parse_args()
    tmp = tempfile.mkdtemp()
    fifo = os.path.join(tmp, "scanner.fifo")
    os.mkfifo(fifo)
    cmd = [
        args.scanbridge,
        "serve",
        "--port",
        "0",
        "--log-level",
        "warning",
        "--journal",
        os.path.join(tmp, "j.sqlite3"),
        "--scanner",
        f"replay:path={fifo},device_serial=L1",
    ]
    try:
        with scanbridge_server(cmd) as port:
            return measure(port, fifo, args.count)
    except RuntimeError as e:
        print(e, file=sys.stderr)
        return 2


def measure(port: int, fifo: str, count: int) -> int:
    """Scans written to the FIFO one at a time; time to the first byte at a client."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET /streams HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(4096)
    assert head.startswith(b"HTTP/1.1 101"), head
    w = os.open(fifo, os.O_WRONLY)
    time.sleep(0.3)
    sock.setblocking(False)
    while True:  # drain scanner_state etc.
        try:
            if not sock.recv(65536):
                break
        except BlockingIOError:
            break
    lat = []
    for i in range(count):
        data = _core.encode_keystrokes(f"L1-{i:06d}", "us", start=time.time())
        t0 = time.perf_counter()
        os.write(w, data)
        r, _, _ = select.select([sock], [], [], 2.0)
        t1 = time.perf_counter()
        if not r:
            print(f"scan {i} did not arrive in 2 s", file=sys.stderr)
            return 1
        got = b""
        end = time.monotonic() + 1
        while f"L1-{i:06d}".encode() not in got and time.monotonic() < end:
            try:
                got += sock.recv(65536)
            except BlockingIOError:
                select.select([sock], [], [], 0.1)
        lat.append((t1 - t0) * 1000)
        time.sleep(0.005)
    lat.sort()
    p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]  # noqa: E731
    print(
        f"L1 scan latency over {len(lat)} scans: p50 {statistics.median(lat):.3f} ms, "
        f"p99 {p(0.99):.3f} ms, max {lat[-1]:.3f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
