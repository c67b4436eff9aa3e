"""Many connections at once, restart on the same port, and the port range check."""

from __future__ import annotations

import asyncio
import base64
import os
import resource
import select
import socket
import struct
import subprocess
import sys
import threading
import time

import pytest
from conftest import SCANBRIDGE, ServerProcess, free_port, start_server
from websockets.asyncio.client import connect as ws_connect
from wsraw import BINARY, CLOSE, TEXT, RawWS, accept_key, build_frame, close_payload

N_CONNECTIONS = 1000


@pytest.fixture
def many_fds() -> None:
    """Room for N client sockets in this process (the server has its own limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = N_CONNECTIONS * 2 + 256
    if soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        if new < want:
            pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {want}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))


class StreamClient:
    """A minimal asyncio-streams WebSocket client, much lighter than a full library."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, host: str, port: int) -> StreamClient:
        reader, writer = await asyncio.open_connection(host, port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                f"GET /echo HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        lines = head.decode("latin-1").split("\r\n")[1:]
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines)}
        assert headers["sec-websocket-accept"] == accept_key(key)
        return cls(reader, writer)

    async def recv_frame(self) -> tuple[int, bytes]:
        b0, b1 = await self.reader.readexactly(2)
        assert b1 & 0x80 == 0
        n = b1 & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", await self.reader.readexactly(2))
        elif n == 127:
            (n,) = struct.unpack("!Q", await self.reader.readexactly(8))
        assert b0 & 0x80, "unexpected fragment"
        return b0 & 0x0F, await self.reader.readexactly(n)

    async def echo(self, data: bytes) -> None:
        self.writer.write(build_frame(TEXT, data))
        assert await self.recv_frame() == (TEXT, data)

    async def close(self) -> None:
        self.writer.write(build_frame(CLOSE, close_payload(1000)))
        opcode, payload = await self.recv_frame()
        assert (opcode, payload[:2]) == (CLOSE, b"\x03\xe8")
        assert await self.reader.read() == b""  # the server ends TCP
        self.writer.close()


async def test_1000_concurrent_connections(
    many_fds: None, fresh_echo_server: ServerProcess
) -> None:
    server = fresh_echo_server
    host, port = server.host, server.port
    clients = await asyncio.wait_for(
        asyncio.gather(*(StreamClient.connect(host, port) for _ in range(N_CONNECTIONS))), 60
    )
    assert len(clients) == N_CONNECTIONS
    # All are open at the same time; each one gets its own message back.
    await asyncio.wait_for(
        asyncio.gather(*(c.echo(f"client {i} — ✓".encode()) for i, c in enumerate(clients))), 60
    )
    # And again, all messages in flight at once, sent before any reply is read.
    for i, c in enumerate(clients):
        c.writer.write(build_frame(TEXT, f"again {i}".encode()))
    replies = await asyncio.wait_for(asyncio.gather(*(c.recv_frame() for c in clients)), 60)
    assert replies == [(TEXT, f"again {i}".encode()) for i in range(N_CONNECTIONS)]
    await asyncio.wait_for(asyncio.gather(*(c.close() for c in clients)), 60)

    assert server.proc.poll() is None, server.output()
    async with ws_connect(server.url + "/echo") as ws:
        await ws.send("after the crowd")
        assert await asyncio.wait_for(ws.recv(), 5) == "after the crowd"


async def test_many_connections_dropped_without_close(
    many_fds: None, fresh_echo_server: ServerProcess
) -> None:
    """Half of 400 clients vanish abruptly (RST), half with FIN: the server goes on."""
    server = fresh_echo_server
    clients = await asyncio.wait_for(
        asyncio.gather(*(StreamClient.connect(server.host, server.port) for _ in range(400))), 30
    )
    for i, c in enumerate(clients):
        sock = c.writer.get_extra_info("socket")
        if i % 2:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.writer.write(build_frame(TEXT, b"x" * 1000, fin=False))
        c.writer.close()
    await asyncio.sleep(0.2)
    assert server.proc.poll() is None
    with RawWS.connect(server.host, server.port) as ws:
        ws.echo(TEXT, b"still serving")


TCP_STATES = {
    "01": "ESTABLISHED", "04": "FIN_WAIT1", "05": "FIN_WAIT2", "06": "TIME_WAIT",
    "07": "CLOSE", "08": "CLOSE_WAIT", "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING",
}  # fmt: skip


def server_side_states(port: int) -> set[str]:
    """TCP states of sockets whose local port is `port` (Linux /proc/net/tcp)."""
    try:
        with open("/proc/net/tcp") as f:
            rows = f.read().splitlines()[1:]
    except OSError:
        pytest.skip("no /proc/net/tcp")
    states = set()
    for row in rows:
        fields = row.split()
        if int(fields[1].split(":")[1], 16) == port:
            states.add(TCP_STATES.get(fields[3], fields[3]))
    return states


def test_restart_on_same_port_is_immediate() -> None:
    port = free_port()
    first = start_server("--echo", "--port", str(port), "--log-level", "warning")
    assert first.port == port
    # Leave sockets behind: clients that answer the close (server-side TIME_WAIT),
    # plain TCP connections that never speak, and an upgraded client that never reads.
    answering = []

    async def connect_answering() -> None:
        for _ in range(5):
            ws = await ws_connect(first.url + "/echo")
            await ws.send("hi")
            assert await asyncio.wait_for(ws.recv(), 5) == "hi"
            answering.append(ws)

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(connect_answering())
        idle = [socket.create_connection((first.host, port), timeout=5) for _ in range(3)]
        silent = RawWS.connect(first.host, port)
        silent.echo(TEXT, b"then silence")

        assert first.stop() == 0
        t_stopped = time.monotonic()
        left = server_side_states(port)
        assert left & {"TIME_WAIT", "FIN_WAIT2", "FIN_WAIT1", "CLOSING", "LAST_ACK"}, left
        second = start_server("--echo", "--port", str(port), "--log-level", "warning")
        try:
            with RawWS.connect(second.host, port, timeout=2) as ws:
                ws.echo(TEXT, b"second life")
            elapsed = time.monotonic() - t_stopped
            assert second.port == port
            print(f"restart: listening and echoing {elapsed:.3f}s after the old server exited")
            assert elapsed < 1.0, f"new server needed {elapsed:.2f}s to listen"
        finally:
            assert second.stop() == 0
        for s in idle:
            s.close()
        silent.close()
        for ws in answering:
            loop.run_until_complete(asyncio.wait_for(ws.close(), 5))
    finally:
        loop.close()


def run_serve_port(value: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SCANBRIDGE, "serve", "--echo", "--port", value],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


@pytest.mark.parametrize("value", ["80", "1023", "65536", "-1", "99999"])
def test_port_outside_range_is_refused(value: str) -> None:
    proc = run_serve_port(value)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "1024" in lines[0]
    assert "65535" in lines[0]
    assert value in lines[0]
    assert "listening" not in proc.stderr


@pytest.mark.parametrize("value", ["http", "1.5"])
def test_non_integer_port_error_names_the_range(value: str) -> None:
    proc = run_serve_port(value)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    [line] = proc.stderr.strip().splitlines()
    assert value in line
    assert "1024" in line
    assert "65535" in line


def test_port_80_message() -> None:
    """The exact case from the spec, through the installed console script as well."""
    exe = os.path.join(os.path.dirname(sys.executable), "scanbridge")
    cmd = [exe] if os.path.exists(exe) else SCANBRIDGE
    proc = subprocess.run(
        [*cmd, "serve", "--port", "80"], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    [line] = proc.stderr.strip().splitlines()
    assert "80" in line
    assert "[1024, 65535]" in line or ("1024" in line and "65535" in line)


def _rss_mib(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    pytest.skip("no /proc/PID/status")


def test_client_that_does_not_read_is_throttled(fresh_echo_server: ServerProcess) -> None:
    """A client that sends 1 MiB messages and never reads: the server stops reading from
    it (its echoes cannot go out) instead of queueing without bound; others go on; once
    the client reads again, every echo arrives intact and in order."""
    server = fresh_echo_server
    rss_before = _rss_mib(server.proc.pid)
    frame = build_frame(BINARY, b"m" * (1 << 20))
    with (
        RawWS.connect(server.host, server.port) as other,
        RawWS.connect(server.host, server.port) as hog,
    ):
        hog.sock.setblocking(False)
        sent_frames, offset, limit = 0, 0, 256  # 256 MiB would mean no back-pressure
        while sent_frames < limit:
            _, writable, _ = select.select([], [hog.sock], [], 1.0)
            if not writable:
                break  # blocked for a second: the server stopped reading
            try:
                offset += hog.sock.send(frame[offset:])
            except BlockingIOError:
                continue
            if offset == len(frame):
                sent_frames, offset = sent_frames + 1, 0
        assert sent_frames < limit, "the server kept reading although nobody read its echoes"
        grown = _rss_mib(server.proc.pid) - rss_before
        assert grown < 100, f"server RSS grew by {grown:.0f} MiB"
        other.echo(TEXT, b"not slowed down")

        hog.sock.setblocking(True)
        expected = sent_frames + (1 if offset else 0)
        finisher = threading.Thread(target=hog.sock.sendall, args=(frame[offset:],))
        if offset:
            finisher.start()
        for _ in range(expected):
            assert hog.recv_message(timeout=30) == (BINARY, b"m" * (1 << 20))
        if offset:
            finisher.join(10)
        hog.echo(TEXT, b"and back to normal")
