"""Closing handshakes, server shutdown and abrupt client disconnects."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import struct
import subprocess
import threading
import time

import aiohttp
import pytest
import websockets
from conftest import SCANBRIDGE, ServerProcess, free_port
from websockets.asyncio.client import connect as ws_connect
from wsraw import BINARY, CLOSE, TEXT, RawWS, build_frame, close_payload

# -- client-initiated close (raw): the server echoes the code, then ends TCP first ---------


@pytest.mark.parametrize("reason", [b"", b"bye", "au revoir, \u00e7a va \u2713".encode()])
def test_close_1000_is_echoed(reason: bytes, echo_server: ServerProcess) -> None:
    with RawWS.connect(echo_server.host, echo_server.port) as ws:
        ws.echo(TEXT, b"hello")
        ws.send_close(1000, reason)
        close = ws.expect_close(5)  # also asserts the server then closes TCP
        assert close.close_code == 1000
        close.close_reason.decode("utf-8")


def test_close_without_payload_gets_empty_close(echo_server: ServerProcess) -> None:
    """RFC 6455 5.5.1: the reply echoes the status code received; with none, none."""
    with RawWS.connect(echo_server.host, echo_server.port) as ws:
        ws.send_close(None)
        close = ws.expect_close(5)
        assert close.payload == b""


@pytest.mark.parametrize("code", [1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4000, 4999])
def test_close_code_is_echoed(code: int, echo_server: ServerProcess) -> None:
    with RawWS.connect(echo_server.host, echo_server.port) as ws:
        ws.send_close(code, b"reason")
        assert ws.expect_close(5).close_code == code


def test_close_with_125_byte_payload(echo_server: ServerProcess) -> None:
    with RawWS.connect(echo_server.host, echo_server.port) as ws:
        ws.send_close(1000, b"r" * 123)
        close = ws.expect_close(5)
        assert close.close_code == 1000
        assert len(close.payload) <= 125


def test_close_after_pending_echoes(echo_server: ServerProcess) -> None:
    """Messages sent before the close are all echoed before the server's close frame."""
    with RawWS.connect(echo_server.host, echo_server.port) as ws:
        frames = [build_frame(BINARY, bytes([i]) * 70000) for i in range(5)]
        ws.send_raw(b"".join(frames) + build_frame(CLOSE, close_payload(3333)))
        for i in range(5):
            assert ws.recv_message() == (BINARY, bytes([i]) * 70000)
        assert ws.expect_close(5).close_code == 3333


# -- client-initiated close with real clients ------------------------------------------------


@pytest.mark.parametrize("code", [1000, 3000, 4999])
async def test_websockets_close_handshake(code: int, echo_server: ServerProcess) -> None:
    ws = await ws_connect(echo_server.url + "/echo", close_timeout=5)
    await ws.send("x")
    assert await asyncio.wait_for(ws.recv(), 5) == "x"
    await asyncio.wait_for(ws.close(code, "done"), 5)
    assert ws.protocol.close_rcvd is not None
    assert ws.protocol.close_rcvd.code == code
    assert ws.protocol.close_rcvd_then_sent is False
    with pytest.raises(websockets.ConnectionClosed) as info:
        await ws.recv()
    assert info.value.rcvd is not None
    assert info.value.rcvd.code == code


async def test_aiohttp_close_handshake(echo_server: ServerProcess) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(echo_server.url + "/echo") as ws,
    ):
        await ws.send_str("x")
        assert (await ws.receive(5)).data == "x"
        assert await asyncio.wait_for(ws.close(code=4000, message=b"bye"), 5) is True
        assert ws.close_code == 4000


# -- server shutdown ------------------------------------------------------------------------------


async def test_sigterm_closes_every_client_with_1001(fresh_echo_server: ServerProcess) -> None:
    server = fresh_echo_server
    url = server.url + "/echo"
    clients = [await ws_connect(url, close_timeout=5) for _ in range(2)]
    for i, ws in enumerate(clients):
        await ws.send(f"hi {i}")
        assert await asyncio.wait_for(ws.recv(), 5) == f"hi {i}"
    # A third, raw client is in the middle of a fragmented message and never answers
    # the server's close: the server must still close it and exit.
    raw = await asyncio.to_thread(RawWS.connect, server.host, server.port)
    raw.echo(TEXT, b"ok")
    raw.send_frame(TEXT, b"unfinished", fin=False)

    t0 = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    for ws in clients:
        with pytest.raises(websockets.ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), 5)
        assert info.value.rcvd is not None, "no close frame from the server"
        assert info.value.rcvd.code == 1001
    close = await asyncio.to_thread(raw.recv_frame, 5)
    assert close.opcode == CLOSE
    assert close.close_code == 1001
    assert await asyncio.to_thread(raw.wait_eof, 5) == b""
    raw.close()
    rc = await asyncio.to_thread(server.proc.wait, 5)
    elapsed = time.monotonic() - t0
    assert rc == 0, server.output()
    assert elapsed < 5.0


async def test_sigterm_with_no_clients_exits_0_quickly(fresh_echo_server: ServerProcess) -> None:
    # One round trip first: the event loop is running, so the signal handlers are in place
    # (see test_sigterm_right_after_listening_line for what happens otherwise).
    with RawWS.connect(fresh_echo_server.host, fresh_echo_server.port) as ws:
        ws.echo(TEXT, b"up")
        ws.send_close(1000)
        ws.expect_close()
    t0 = time.monotonic()
    fresh_echo_server.proc.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(fresh_echo_server.proc.wait, 5) == 0
    assert time.monotonic() - t0 < 2.0


def _full_pipe() -> tuple[int, int]:
    """A pipe whose buffer is already full: the first write to it blocks."""
    r, w = os.pipe()
    os.set_blocking(w, False)
    for size in (65536, 4096, 512, 64, 8, 1):
        try:
            while True:
                os.write(w, b"." * size)
        except BlockingIOError:
            pass
    os.set_blocking(w, True)  # shared with the child: its writes must block, not fail
    return r, w


def test_sigterm_once_listening_exits_cleanly() -> None:
    """Deterministic version of the race: stderr is a full pipe, so the server blocks on
    its first write after binding (the 'listening on' line). It already accepts TCP
    connections; a SIGTERM now must still give a clean shutdown, exit status 0."""
    port = free_port()
    r, w = _full_pipe()
    proc = subprocess.Popen(
        [*SCANBRIDGE, "serve", "--echo", "--port", str(port), "--log-level", "warning"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=w,
    )
    os.close(w)
    drained: list[bytes] = []
    drainer = threading.Thread(target=lambda: drained.extend(iter(lambda: os.read(r, 65536), b"")))
    try:
        deadline = time.monotonic() + 15
        while True:  # the kernel accepts connections as soon as the port is listening
            assert proc.poll() is None, "server exited before listening"
            assert time.monotonic() < deadline, "server never listened"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.005)
        proc.send_signal(signal.SIGTERM)
        drainer.start()  # let it write (and go on) now
        rc = proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        if not drainer.is_alive() and not drainer.ident:
            drainer.start()
        drainer.join(5)
        os.close(r)
    assert rc == 0, f"exit status {rc}; stderr tail {b''.join(drained)[-300:]!r}"


# -- abrupt disconnects -------------------------------------------------------------------------


def _reset(sock: socket.socket) -> None:
    """Close with SO_LINGER 0: the kernel sends RST instead of FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


async def test_tcp_reset_does_not_disturb_others(echo_server: ServerProcess) -> None:
    url = echo_server.url + "/echo"
    async with ws_connect(url) as other, ws_connect(url, max_size=None) as big:
        await other.send("before")
        assert await asyncio.wait_for(other.recv(), 5) == "before"
        for stage in ("idle", "mid-frame", "mid-message", "after-close-sent", "pending-echo"):
            raw = RawWS.connect(echo_server.host, echo_server.port)
            raw.echo(BINARY, b"warm-up")
            if stage == "mid-frame":
                raw.send_raw(build_frame(BINARY, b"q" * 100000)[:5000])
            elif stage == "mid-message":
                raw.send_frame(TEXT, b"part", fin=False)
            elif stage == "after-close-sent":
                raw.send_close(1000)
            elif stage == "pending-echo":
                raw.send_raw(b"".join(build_frame(BINARY, b"e" * 60000) for _ in range(20)))
            _reset(raw.sock)
            await other.send(f"after {stage} ✓")
            assert await asyncio.wait_for(other.recv(), 5) == f"after {stage} ✓"
        payload = bytes(range(256)) * 4096
        await big.send(payload)
        assert await asyncio.wait_for(big.recv(), 10) == payload
    assert echo_server.proc.poll() is None
    with RawWS.connect(echo_server.host, echo_server.port) as fresh:
        fresh.echo(TEXT, b"new connection")


async def test_tcp_eof_without_close_frame(echo_server: ServerProcess) -> None:
    async with ws_connect(echo_server.url + "/echo") as other:
        raw = RawWS.connect(echo_server.host, echo_server.port)
        raw.send_frame(TEXT, b"half", fin=False)
        raw.sock.shutdown(socket.SHUT_WR)
        # The server ends its side too (it may send a close frame first).
        await asyncio.to_thread(raw.wait_eof, 5)
        raw.close()
        await other.send("fine")
        assert await asyncio.wait_for(other.recv(), 5) == "fine"


def test_half_close_after_a_frame_still_gets_its_echo(echo_server: ServerProcess) -> None:
    """A client sends a frame and shuts down its sending side at once, without a close
    frame (1006 for the server): the echo the server had queued still goes out before
    the server ends the connection; nothing already accepted is lost."""
    raw = RawWS.connect(echo_server.host, echo_server.port)
    try:
        raw.sock.sendall(build_frame(TEXT, b"last words", mask=True))
        raw.sock.shutdown(socket.SHUT_WR)
        got = raw.wait_eof(5)
        assert got.startswith(b"\x81\x0alast words"), got
    finally:
        raw.close()
