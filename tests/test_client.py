"""scanbridge.connect: the WebSocket client against real servers on loopback.

Servers: scanbridge's own App (echo, endpoints, https), python-websockets
(Basic auth, deflate interop, pings from the server, close codes), and raw
asyncio servers for malformed upgrades and back-pressure.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import random
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import uvloop
from websockets.asyncio.server import ServerConnection, basic_auth, serve
from wsraw import text_of_size

import scanbridge
from scanbridge import App, BearerAuth, ClientSession, Config, Endpoint, Session, SessionClosed
from scanbridge.client import ConnectionClosed, HandshakeError

pytestmark = pytest.mark.timeout(30)

SIZES = [0, 125, 126, 65536, 1 << 20]
WAIT = 10.0


def binary_of_size(n: int) -> bytes:
    return random.Random(n).randbytes(n)


class Forbid(Endpoint):
    """Closes the session with 4003 on its first message."""

    async def on_text(self, session: Session, text: str) -> None:
        await session.close(4003, f"forbidden: {text}")


class Echo(Endpoint):
    async def on_text(self, session: Session, text: str) -> None:
        await session.send_text(text)


@pytest.fixture
async def app() -> AsyncIterator[App]:
    a = App(Config(port=0, journal=":memory:", echo=True))
    a.endpoint("/forbid")(Forbid)
    a.endpoint("/secure", auth=BearerAuth("t0k"))(Echo)
    await a.start()
    yield a
    await a.stop(timeout=2)


def echo_url(app: App) -> str:
    return f"ws://127.0.0.1:{app.port}/echo"


@asynccontextmanager
async def ws_server(handler: Any, **kw: Any) -> AsyncIterator[str]:
    async with serve(handler, "127.0.0.1", 0, **kw) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}"


async def ws_echo(ws: ServerConnection) -> None:
    async for msg in ws:
        await ws.send(msg)


async def recv(session: ClientSession) -> str | bytes:
    return await asyncio.wait_for(session.recv(), WAIT)


async def until(cond: Any, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


# -- echo: sizes, compression, ping ---------------------------------------------------------------


@pytest.mark.parametrize("compression", [False, True], ids=["plain", "deflate"])
async def test_echo_all_sizes(app: App, compression: bool) -> None:
    async with scanbridge.connect(echo_url(app), compression=compression) as s:
        assert s.compression is compression
        assert s.open and not s.closed
        for n in SIZES:
            text = text_of_size(n)
            await s.send_text(text)
            assert await recv(s) == text, n
            data = binary_of_size(n)
            await s.send_binary(data)
            got = await recv(s)
            assert isinstance(got, bytes) and got == data, n
        # Compressible data both ways, back to back (the deflate context carries over).
        for _ in range(3):
            await s.send("scan " * 20000)
        for _ in range(3):
            assert await recv(s) == "scan " * 20000
    assert s.closed and s.close_code == 1000


async def test_session_basics(app: App) -> None:
    async with scanbridge.connect(echo_url(app)) as s:
        assert len(s.id) == 36 and s.id.count("-") == 4
        assert s.response_headers["sec-websocket-accept"]
        assert s.subprotocol is None
        rtt = await s.ping()
        assert 0 <= rtt < WAIT
        assert await s.ping(b"custom", timeout=WAIT) >= 0
        await s.send_text("a")
        await s.send_binary(b"b")
        got = []
        async for msg in s:
            got.append(msg)
            if len(got) == 2:
                await s.close()
        assert got == ["a", b"b"]
        with pytest.raises(TypeError):
            await s.send_text(b"x")  # type: ignore[arg-type]
    with pytest.raises(SessionClosed):
        await s.send_text("after close")


async def test_server_pings_are_answered() -> None:
    async def handler(ws: ServerConnection) -> None:
        pong = await ws.ping(b"are you there")
        await asyncio.wait_for(pong, WAIT)
        await ws.send("ponged")
        await ws.wait_closed()

    async with ws_server(handler) as url, scanbridge.connect(url) as s:
        assert await recv(s) == "ponged"


# -- close codes ----------------------------------------------------------------------------------


async def test_server_close_code_4003(app: App) -> None:
    async with scanbridge.connect(f"ws://127.0.0.1:{app.port}/forbid") as s:
        await s.send_text("me")
        with pytest.raises(ConnectionClosed) as ei:
            await recv(s)
        assert isinstance(ei.value, SessionClosed)
        assert (ei.value.code, ei.value.reason) == (4003, "forbidden: me")
        assert (s.close_code, s.close_reason) == (4003, "forbidden: me")
        with pytest.raises(SessionClosed):
            await s.send_text("too late")


async def test_client_close_code_reaches_server() -> None:
    seen: asyncio.Future[tuple[int | None, str | None]] = asyncio.get_running_loop().create_future()

    async def handler(ws: ServerConnection) -> None:
        await ws.wait_closed()
        seen.set_result((ws.close_code, ws.close_reason))

    async with ws_server(handler) as url:
        s = await scanbridge.connect(url)
        await s.close(3001, "done")
        assert await asyncio.wait_for(seen, WAIT) == (3001, "done")
        assert s.close_code == 3001 and s.closed
        with pytest.raises(ValueError):
            await s.close(1005)


async def test_message_too_big_fails_with_1009(app: App) -> None:
    async with scanbridge.connect(echo_url(app), max_message_bytes=1000) as s:
        await s.send_text("x" * 1000)
        assert await recv(s) == "x" * 1000
        await s.send_text("x" * 1001)
        with pytest.raises(ConnectionClosed) as ei:
            await recv(s)
        assert ei.value.code == 1009


# -- callbacks and reconnection -------------------------------------------------------------------


async def test_callbacks_reconnect_after_server_restart() -> None:
    first = App(Config(port=0, journal=":memory:", echo=True))
    await first.start()
    port = first.port
    connects: list[str] = []
    texts: list[str] = []
    binaries: list[bytes] = []
    closes: list[tuple[int, str]] = []

    async def on_connect(session: ClientSession) -> None:  # async callback
        connects.append(session.id)
        await session.send_text(f"hello {len(connects)}")

    def on_text(session: ClientSession, text: str) -> None:  # sync callback
        texts.append(text)

    def on_close(session: ClientSession, code: int, reason: str) -> None:
        closes.append((code, reason))

    second: App | None = None
    session = await scanbridge.connect(
        f"ws://127.0.0.1:{port}/echo",
        on_connect=on_connect,
        on_text=on_text,
        on_binary=lambda s, b: binaries.append(b),
        on_close=on_close,
        reconnect=True,
    )
    try:
        await until(lambda: texts == ["hello 1"])
        with pytest.raises(RuntimeError):
            await session.recv()
        await first.stop(timeout=2)
        await until(lambda: len(closes) == 1)
        assert closes[0][0] == 1001
        second = App(Config(port=port, journal=":memory:", echo=True))
        await second.start()
        await until(lambda: len(connects) == 2)
        await until(lambda: texts == ["hello 1", "hello 2"])
        assert connects == [session.id, session.id] and session.connects == 2
        await session.send_binary(b"\x00\x01")
        await until(lambda: binaries == [b"\x00\x01"])
    finally:
        await session.close()
        if second is not None:
            await second.stop(timeout=2)
    assert session.closed
    await asyncio.wait_for(session.wait_closed(), WAIT)
    assert len(connects) == 2 and len(closes) == 2


async def test_a_callback_that_raises_is_logged_and_the_session_goes_on(app: App, caplog) -> None:
    """Client callbacks run through the one hook runner: an exception is logged
    with its traceback and does not end the receive loop."""
    texts: list[str] = []

    def on_text(session: ClientSession, text: str) -> None:
        texts.append(text)
        if text == "boom":
            raise ValueError("callback failed on purpose")

    with caplog.at_level(logging.ERROR, logger="scanbridge"):
        session = await scanbridge.connect(echo_url(app), on_text=on_text)
        try:
            await session.send_text("boom")
            await session.send_text("after")
            await until(lambda: texts == ["boom", "after"])
        finally:
            await session.close()
    failed = [r for r in caplog.records if "on_text of client session" in r.getMessage()]
    assert len(failed) == 1 and failed[0].exc_info is not None
    assert "callback failed on purpose" in caplog.text


async def test_reconnect_gives_up_after_max_retries() -> None:
    a = App(Config(port=0, journal=":memory:", echo=True))
    await a.start()
    closes: list[int] = []
    session = await scanbridge.connect(
        f"ws://127.0.0.1:{a.port}/echo",
        on_close=lambda s, code, reason: closes.append(code),
        reconnect=True,
        max_retries=2,
        backoff_base=0.01,
        open_timeout=2,
    )
    await a.stop(timeout=2)
    await asyncio.wait_for(session.wait_closed(), WAIT)
    assert closes == [1001] and session.closed and session.connects == 1


# -- auth and handshake errors --------------------------------------------------------------------


async def test_basic_auth_against_python_websockets() -> None:
    """The issue's must-show: BasicAuth against a websockets server that requires it."""
    async with ws_server(ws_echo, process_request=basic_auth(credentials=("u", "p"))) as url:
        async with scanbridge.connect(url, auth=scanbridge.BasicAuth("u", "p")) as s:
            await s.send_text("hi")
            assert await recv(s) == "hi"
        with pytest.raises(HandshakeError) as ei:
            await scanbridge.connect(url, auth=scanbridge.BasicAuth("u", "wrong"))
        assert ei.value.status == 401
        assert "401" in str(ei.value)
        assert ei.value.headers["www-authenticate"].startswith("Basic")
        with pytest.raises(HandshakeError) as ei:
            await scanbridge.connect(url)
        assert ei.value.status == 401
        # User info in the URL is Basic auth too.
        async with scanbridge.connect(url.replace("ws://", "ws://u:p@")) as s:
            await s.send_binary(b"ok")
            assert await recv(s) == b"ok"


async def test_bearer_auth_against_scanbridge(app: App) -> None:
    url = f"ws://127.0.0.1:{app.port}/secure"
    async with scanbridge.connect(url, auth=BearerAuth("t0k")) as s:
        await s.send_text("x")
        assert await recv(s) == "x"
    with pytest.raises(HandshakeError) as ei:
        await scanbridge.connect(url, auth=BearerAuth("nope"))
    assert ei.value.status == 401 and b"wrong" in ei.value.body


async def test_unknown_path_is_a_handshake_error(app: App) -> None:
    with pytest.raises(HandshakeError) as ei:
        await scanbridge.connect(f"ws://127.0.0.1:{app.port}/nowhere")
    assert ei.value.status == 404


@asynccontextmanager
async def raw_server(handler: Any) -> AsyncIterator[str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    try:
        yield f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
    finally:
        server.close()


async def read_key(reader: asyncio.StreamReader) -> str:
    head = await reader.readuntil(b"\r\n\r\n")
    for line in head.decode().split("\r\n"):
        name, _, value = line.partition(":")
        if name.lower() == "sec-websocket-key":
            return value.strip()
    raise AssertionError("no key")


def accept_for(key: str) -> str:
    digest = hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
    return base64.b64encode(digest).decode()


async def test_bad_accept_key_is_refused() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_key(reader)
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: d3Jvbmc=\r\n\r\n"
        )
        await writer.drain()
        await reader.read()
        writer.close()

    async with raw_server(handler) as url:
        with pytest.raises(HandshakeError) as ei:
            await scanbridge.connect(url)
        assert ei.value.status == 101 and "Sec-WebSocket-Accept" in str(ei.value)


async def test_open_timeout() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never answers
        writer.close()

    async with raw_server(handler) as url:
        t0 = time.monotonic()
        with pytest.raises(TimeoutError):
            await scanbridge.connect(url, open_timeout=0.3)
        assert time.monotonic() - t0 < 3


async def test_send_waits_for_drain() -> None:
    """A server that stops reading: sends block instead of buffering without bound."""
    release = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        key = await read_key(reader)
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + f"Sec-WebSocket-Accept: {accept_for(key)}\r\n\r\n".encode()
        )
        await writer.drain()
        await release.wait()
        writer.close()

    async with raw_server(handler) as url:
        s = await scanbridge.connect(url, compression=False)
        sent = 0
        chunk = binary_of_size(1 << 20)

        async def flood() -> None:
            nonlocal sent
            while True:
                await s.send_binary(chunk)
                sent += 1

        with pytest.raises(TimeoutError):
            await asyncio.wait_for(flood(), 1.0)
        # Kernel buffers absorb some megabytes; the client's own buffer stays bounded.
        assert sent < 64
        transport = s._conn.transport  # type: ignore[union-attr]
        assert transport.get_write_buffer_size() <= 64 * 1024 + len(chunk) + 14
        release.set()
        await s.close(timeout=1)


# -- interop: python-websockets with deflate and subprotocols -------------------------------------


async def test_deflate_interop_with_websockets() -> None:
    extensions: list[list[str]] = []

    async def handler(ws: ServerConnection) -> None:
        extensions.append([e.name for e in ws.protocol.extensions])
        await ws_echo(ws)

    async with ws_server(handler, compression="deflate", max_size=None) as url:
        async with scanbridge.connect(url) as s:
            assert s.compression
            for msg in ["tiny", "bar code " * 50000, binary_of_size(300_000), b"z" * 100_000]:
                await s.send(msg)
                assert await recv(s) == msg
    assert extensions == [["permessage-deflate"]]


async def test_subprotocol() -> None:
    async with ws_server(ws_echo, subprotocols=["scan.v2", "scan.v1"]) as url:
        async with scanbridge.connect(url, subprotocols=["scan.v1"]) as s:
            assert s.subprotocol == "scan.v1"


# -- wss and uvloop -------------------------------------------------------------------------------


def no_verify() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


@pytest.mark.parametrize("compression", [False, True], ids=["plain", "deflate"])
async def test_wss(compression: bool) -> None:
    a = App(Config(port=0, journal=":memory:", echo=True, https=True))
    await a.start()
    try:
        assert a.url.startswith("wss://")
        url = f"wss://127.0.0.1:{a.port}/echo"
        async with scanbridge.connect(url, ssl=no_verify(), compression=compression) as s:
            for n in (0, 126, 1 << 20):
                await s.send_text(text_of_size(n))
                assert await recv(s) == text_of_size(n)
            assert await s.ping() >= 0
        # The default context verifies, and the certificate is self-signed.
        with pytest.raises(ssl.SSLError):
            await scanbridge.connect(url)
    finally:
        await a.stop(timeout=2)


def test_under_uvloop() -> None:
    async def main() -> None:
        a = App(Config(port=0, journal=":memory:", echo=True))
        await a.start()
        try:
            async with scanbridge.connect(f"ws://127.0.0.1:{a.port}/echo") as s:
                assert s.compression
                for n in SIZES:
                    await s.send_binary(binary_of_size(n))
                    assert await recv(s) == binary_of_size(n)
        finally:
            await a.stop(timeout=2)

    uvloop.run(main())


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        scanbridge.connect("http://127.0.0.1/")
    with pytest.raises(ValueError):
        scanbridge.connect("ws://127.0.0.1/", ssl=ssl.create_default_context())
    with pytest.raises(ValueError):
        scanbridge.connect("ws://127.0.0.1/", headers={"Sec-WebSocket-Key": "x"})
    with pytest.raises(ValueError):
        scanbridge.connect("ws://127.0.0.1/", headers={"X-Bad": "a\r\nb"})


# -- the Rust codec directly ----------------------------------------------------------------------


def unmask(frame: bytes) -> tuple[int, bytes]:
    """(first header byte, payload) of one masked client frame."""
    n = frame[1] & 0x7F
    pos = 2 + {126: 2, 127: 8}.get(n, 0)
    key, body = frame[pos : pos + 4], frame[pos + 4 :]
    return frame[0], bytes(b ^ key[i % 4] for i, b in enumerate(body))


def test_codec_masks_and_compresses() -> None:
    import zlib

    from scanbridge import _core

    plain = _core.ClientCodec()
    f1, f2 = plain.encode(1, b"Hello"), plain.encode(1, b"Hello")
    assert f1[:2] == b"\x81\x85" and f1[2:6] != f2[2:6]  # a fresh key per frame
    assert _core.parse_frames(f1 + f2) == [("text", b"Hello")] * 2
    assert not plain.compressed

    codec = _core.ClientCodec(deflate_response="permessage-deflate")
    assert codec.compressed
    b0, body = unmask(codec.encode(2, b"a" * 1000))
    assert b0 == 0xC2 and len(body) < 50  # FIN + RSV1 + binary, compressed
    assert zlib.decompressobj(-15).decompress(body + b"\x00\x00\xff\xff") == b"a" * 1000
    assert unmask(codec.encode(1, b"short"))[0] == 0x81  # below the size threshold
    assert unmask(codec.encode(1, b"x" * 100, fin=False))[0] == 0x01  # fragments: no RSV1
    assert unmask(codec.encode(0, b"y" * 100))[0] == 0x80
    with pytest.raises(ValueError):
        codec.encode(0, b"no message in progress")
    with pytest.raises(ValueError):
        codec.encode(9, b"p" * 126)
    with pytest.raises(ValueError):
        codec.encode_close(1006)
    with pytest.raises(ValueError):
        _core.ClientCodec(deflate_response="x-unknown")
    with pytest.raises(ValueError):
        _core.ClientCodec(deflate_response="permessage-deflate; client_max_window_bits=15; bad")


def test_codec_feed() -> None:
    from scanbridge import _core

    codec = _core.ClientCodec()
    frames = (
        _core.encode_frame(1, "grüß".encode())
        + bytes([0x02, 0x02]) + b"ab" + bytes([0x80, 0x01]) + b"c"  # fragmented binary
        + _core.encode_frame(9, b"p")
        + _core.encode_frame(10, b"q")
    )  # fmt: skip
    got = []
    for i in range(len(frames)):  # byte by byte
        got += codec.feed(frames[i : i + 1])
    assert got == [
        _core.TextMessage("grüß"),
        _core.BinaryMessage(b"abc"),
        _core.PingMessage(b"p"),
        _core.PongMessage(b"q"),
    ]
    assert codec.feed(_core.encode_frame(8, b"")) == [_core.CloseMessage(1005, "")]
    assert codec.closed

    bad = _core.ClientCodec()
    with pytest.raises(ValueError) as ei:
        bad.feed(_core.encode_frame(1, b"x", mask_key=b"abcd"))
    assert ei.value.args == (1002, "server frame is masked")

    # An error after good messages: they come first, the error on the next call.
    late = _core.ClientCodec()
    out = late.feed(_core.encode_frame(1, b"ok") + _core.encode_frame(1, b"\xff"))
    assert out == [_core.TextMessage("ok")] and late.error == (1007, "invalid UTF-8 in text")
    with pytest.raises(ValueError):
        late.feed(b"")


async def test_slow_reader_pauses_and_resumes() -> None:
    async def handler(ws: ServerConnection) -> None:
        for i in range(300):
            await ws.send(f"m{i}".ljust(8192))
        await ws.wait_closed()

    async with (
        ws_server(handler) as url,
        scanbridge.connect(url, max_queue=4, compression=False) as s,
    ):
        await asyncio.sleep(0.2)  # the queue fills and reading pauses
        # One read holds at most a few dozen of these 8 KiB messages.
        assert len(s._conn._queue) < 100  # type: ignore[union-attr]
        got = [await recv(s) for _ in range(300)]
        assert got == [f"m{i}".ljust(8192) for i in range(300)]
