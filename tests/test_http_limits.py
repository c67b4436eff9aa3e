"""Limits a hostile or careless peer meets (issue 12), against a real server
process over raw sockets: ambiguous HTTP body lengths, slow readers of large
responses, rooms per connection, floods of invalid room commands, running out
of file descriptors, and the per-connection bounds on input waiting for
Python set from the configuration.
"""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from wsraw import TEXT, RawWS

LISTEN_RE = re.compile(r"listening on ws://127\.0\.0\.1:(\d+)")
BIG = 50 * 1024 * 1024

#: A server with a 50 MB response, a Python endpoint that keeps its input
#: waiting, and the limits set low enough to reach.
SERVER = f"""
import asyncio, logging, sys
from scanbridge import App, Config, Endpoint
from scanbridge.cli import LOG_FORMAT
from scanbridge.http import Response

logging.basicConfig(level="INFO", format=LOG_FORMAT, stream=sys.stderr)
app = App(Config(port=0, echo=True, journal=":memory:", max_rooms_per_connection=10,
                 max_pending_messages=4, max_pending_bytes=1024 * 1024))
BIG = bytes(range(256)) * ({BIG} // 256)

@app.route("GET", "/big")
def big(request):
    return Response(200, BIG, [("Content-Type", "application/octet-stream")])

@app.route("GET", "/pending")
def pending(request):
    core = app._core
    infos = [core.connection_info(c) for c in core.connection_ids()]
    return Response.json([i for i in infos if i and i["websocket"]])

@app.endpoint("/slow")
class Slow(Endpoint):
    async def on_text(self, session, text):
        await asyncio.sleep(30)

app.run()
"""


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def rss(self) -> int:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        m = re.search(r"VmRSS:\s+(\d+) kB", status)
        assert m is not None
        return int(m.group(1)) * 1024


def start(args: list[str], log: Path, nofile: int | None = None) -> Server:
    def limit() -> None:
        if nofile is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    with log.open("wb") as out:
        proc = subprocess.Popen(
            args,
            stdout=subprocess.DEVNULL,
            stderr=out,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            preexec_fn=limit,
        )
    deadline = time.monotonic() + 15
    while True:
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, f"no 'listening on': {log.read_text()}"
        m = LISTEN_RE.search(log.read_text(errors="replace"))
        if m:
            return Server(proc, int(m.group(1)), log)
        time.sleep(0.02)


def stop(s: Server) -> None:
    if s.proc.poll() is None:
        s.proc.send_signal(signal.SIGTERM)
        try:
            s.proc.wait(10)
        except subprocess.TimeoutExpired:
            s.proc.kill()
            s.proc.wait(5)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = start([sys.executable, "-c", SERVER], tmp_path_factory.mktemp("limits") / "server.log")
    yield s
    stop(s)


def read_all(sock: socket.socket, timeout: float = 10.0) -> bytes:
    """Everything until the server closes (bounded)."""
    sock.settimeout(timeout)
    got = bytearray()
    while chunk := sock.recv(1 << 20):
        got += chunk
    return bytes(got)


# ------------------------------------------------------------ HTTP framing


@pytest.mark.parametrize(
    "headers",
    [
        "Content-Length: 5\r\nContent-Length: 60\r\n",
        "Content-Length: 5, 60\r\n",
        "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
        "Content-Length: +5\r\n",
    ],
)
def test_ambiguous_body_length_is_400_and_close(server: Server, headers: str) -> None:
    """RFC 9112 6.3: a request whose body length two readers could read two
    ways (request smuggling) gets 400 and the connection closes; the request
    hidden in its body is never answered."""
    smuggled = "GET /api/devices HTTP/1.1\r\nHost: x\r\n\r\n"
    req = f"POST /nowhere HTTP/1.1\r\nHost: x\r\n{headers}\r\nhello{smuggled}"
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(req.encode())
        got = read_all(s).decode("latin-1")
    assert got.startswith("HTTP/1.1 400 "), got
    assert got.count("HTTP/1.1 ") == 1, got


def test_two_equal_content_lengths_are_one(server: Server) -> None:
    """Repeated equal values are one length (RFC 9110 8.6): answered as usual."""
    req = "GET /api/devices HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(req.encode())
        got = read_all(s).decode("latin-1")
    assert got.startswith("HTTP/1.1 200 "), got


# ------------------------------------------------------------ slow readers


def test_slow_reader_gets_the_whole_body(server: Server) -> None:
    """Issue 12: a reader that waited 5 s got 4.25 MB of a 52 MB body, then
    EOF. The response follows the reader now, and the body is held once by
    the core (not copied per write)."""
    before = server.rss()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        s.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(5)
        during = server.rss()
        got = read_all(s, timeout=30)
    head, _, body = got.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), head[:200]
    assert len(body) == BIG, f"{len(body)} of {BIG} bytes"
    assert body == bytes(range(256)) * (BIG // 256)
    grew = during - before
    print(f"RSS before {before >> 20} MiB, while the reader waits {during >> 20} MiB")
    assert grew < 1.5 * BIG, f"RSS grew {grew >> 20} MiB for a {BIG >> 20} MiB body"


# ------------------------------------------------------------ rooms


def frames_until(ws: RawWS, done: str, timeout: float = 10.0) -> list[str]:
    """Text messages up to and including the first that starts with `done`."""
    got: list[str] = []
    deadline = time.monotonic() + timeout
    while not got or not got[-1].startswith(done):
        assert time.monotonic() < deadline, f"no {done!r} in {got[-3:]}"
        op, data = ws.recv_message(timeout=max(0.1, deadline - time.monotonic()))
        assert op == TEXT
        got.append(data.decode())
    return got


def test_rooms_per_connection_are_bounded(server: Server) -> None:
    """Issue 12: 100,000 JOINs by one client were accepted. Past
    max_rooms_per_connection (10 here, from the Config) a JOIN gets an ERROR
    and changes nothing."""
    with RawWS.connect("127.0.0.1", server.port, "/layout", timeout=10) as ws:
        for i in range(12):
            ws.send_text(json.dumps(["JOIN", {"room": f"r{i}", "name": "me"}]))
        ws.send_text(json.dumps(["CLIENTS", {"room": "r11"}]))
        got = frames_until(ws, '["CLIENTS"')
        errors = [json.loads(g)[1] for g in got[:-1]]
        assert [e["code"] for e in errors] == ["TOO_MANY_ROOMS"] * 2, got
        assert json.loads(got[-1])[1]["clients"] == []
        ws.send_text(json.dumps(["CLIENTS", {"room": "r9"}]))
        assert json.loads(frames_until(ws, '["CLIENTS"')[-1])[1]["clients"] == ["me"]


def test_a_flood_of_invalid_commands_gets_few_errors(server: Server) -> None:
    """Issue 12: 50,000 one-byte invalid commands got 50,000 ERROR frames.
    A connection gets 32 error replies a second now; valid commands are still
    answered."""
    from wsraw import build_frame

    with RawWS.connect("127.0.0.1", server.port, "/layout", timeout=10) as ws:
        t0 = time.monotonic()
        ws.sock.sendall(b"".join(build_frame(TEXT, b"x") for _ in range(50_000)))
        ws.send_text(json.dumps(["CLIENTS", {"room": "nobody"}]))
        got = frames_until(ws, '["CLIENTS"', timeout=30)
        seconds = time.monotonic() - t0
    errors = got[:-1]
    assert all(e.startswith('["ERROR",{"code":"INVALID_JSON"') for e in errors)
    print(f"{len(errors)} error replies to 50,000 invalid commands in {seconds:.2f} s")
    assert 32 <= len(errors) <= 32 * (int(seconds) + 1)


# ------------------------------------------------------------ input for Python


def test_pending_bounds_come_from_the_config(server: Server) -> None:
    """max_pending_messages (4 here, from the Config) reaches the core: a
    connection whose messages Python has not handled is not read past it."""
    with RawWS.connect("127.0.0.1", server.port, "/slow", timeout=10) as ws:
        for i in range(50):
            ws.send_text(f"m{i}")
        deadline = time.monotonic() + 10
        while True:
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
                s.sendall(b"GET /pending HTTP/1.1\r\nHost: x\r\n\r\n")
                infos = json.loads(read_all(s).partition(b"\r\n\r\n")[2])
            slow = [i for i in infos if i["waiting_for_python"]]
            if slow:
                break
            assert time.monotonic() < deadline, infos
            time.sleep(0.05)
        assert slow[0]["pending_messages"] == 4, slow


# ------------------------------------------------------------ file descriptors


def upgrade(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(
        b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    return s


def answered(s: socket.socket, timeout: float) -> bool:
    s.settimeout(timeout)
    try:
        return s.recv(12).startswith(b"HTTP/1.1 101")
    except TimeoutError:
        return False


def test_out_of_file_descriptors_is_logged_once_and_recovers(tmp_path: Path) -> None:
    """Issue 12: fd exhaustion was not logged, and a connection left in the
    backlog waited for the next one to arrive. Now one line says so, accepting
    is retried every 0.5 s, and once descriptors are free the waiting
    connection is served with no new one arriving."""
    server = start(
        [sys.executable, "-m", "scanbridge", "serve", "--echo", "--port", "0"],
        tmp_path / "server.log",
        nofile=64,
    )
    held: list[socket.socket] = []
    try:
        waiting = None
        for _ in range(80):
            s = upgrade(server.port)
            if answered(s, 1.0):
                held.append(s)
            else:
                waiting = s
                break
        assert waiting is not None, f"all {len(held)} connections were accepted"
        failing = "cannot accept connections on 127.0.0.1"
        deadline = time.monotonic() + 5
        while failing not in server.log_text():
            assert time.monotonic() < deadline, server.log_text()
            time.sleep(0.05)
        # Retries meanwhile do not log again.
        time.sleep(1.5)
        assert server.log_text().count(failing) == 1, server.log_text()
        for s in held[:5]:
            s.close()
        t0 = time.monotonic()
        assert answered(waiting, 3.0), "the waiting connection was not served"
        took = time.monotonic() - t0
        print(f"{len(held)} connections held; the waiting one served {took:.2f} s after 5 closed")
        waiting.close()
        deadline = time.monotonic() + 3
        while "accepting connections on 127.0.0.1" not in server.log_text():
            assert time.monotonic() < deadline, server.log_text()
            time.sleep(0.05)
    finally:
        for s in held:
            s.close()
        stop(server)
    assert server.proc.returncode == 0, server.log_text()
