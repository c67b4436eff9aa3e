"""WebSocket client (the "client endpoint"): scanbridge connecting out to a server.

Two ways to use it::

    async with scanbridge.connect("wss://host/path", auth=scanbridge.BasicAuth("u", "p")) as s:
        await s.send_text("hello")
        reply = await s.recv()          # str or bytes
        async for message in s:         # ends when the connection closes
            ...

    session = await scanbridge.connect(url, on_text=handle, reconnect=True)
    ...
    await session.close()               # also stops reconnecting

Callbacks take the session first, like an :class:`~scanbridge.Endpoint`'s:
``on_connect(session)``, ``on_text(session, text)``, ``on_binary(session,
data)``, ``on_close(session, code, reason)``; each may be sync or async and
they run one after the other on a receive loop of their own. With callbacks
(or ``reconnect=True``) that loop consumes the messages, so ``recv()`` is not
available. With ``reconnect=True`` a dropped connection is opened again after
an exponential backoff with jitter (base 0.5 s, doubling up to 30 s, each
delay drawn from its upper half), ``on_connect`` running each time; the first
connection is not retried: ``await connect(...)`` raises when it fails.

Framing, masking, parsing and permessage-deflate are done by the Rust codec
(``scanbridge._core.ClientCodec``); this module does the HTTP/1.1 upgrade and
the I/O on an asyncio (or uvloop) transport. Sends wait while the transport's
write buffer is above its high-water mark; when ``max_queue`` received
messages wait for ``recv()``, reading pauses (and so do pongs) until the
application catches up.
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import logging
import os
import ssl as ssl_module
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from . import _core
from .auth import BasicAuth
from .retry import backoff_delay
from .session import Headers, SessionClosed

__all__ = ["ClientSession", "ConnectionClosed", "HandshakeError", "connect"]

log = logging.getLogger("scanbridge.client")

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA

#: Largest response head (status line and headers) accepted.
MAX_HEAD = 64 * 1024
#: Largest body kept from a refused upgrade.
MAX_ERROR_BODY = 64 * 1024
#: How long to wait for the body of a refused upgrade without Content-Length.
ERROR_BODY_WAIT = 1.0
BACKOFF_BASE = 0.5
BACKOFF_CAP = 30.0
#: Headers the client writes itself.
_RESERVED = frozenset(
    {
        "host",
        "upgrade",
        "connection",
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-extensions",
        "sec-websocket-protocol",
    }
)

Message = str | bytes
Callback = Callable[..., Any]


class HandshakeError(Exception):
    """The server did not upgrade the connection.

    ``status`` is the HTTP status (``None`` when no valid HTTP response came),
    ``headers`` the response headers and ``body`` (bytes, at most 64 KiB) the
    response body of a refusal. A 101 response that fails the checks of RFC
    6455 section 4.1 (``Sec-WebSocket-Accept``, extensions, subprotocol) is a
    HandshakeError with status 101.
    """

    def __init__(
        self,
        message: str,
        status: int | None = None,
        headers: Headers | None = None,
        body: bytes = b"",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers if headers is not None else Headers([])
        self.body = body


class ConnectionClosed(SessionClosed):
    """The client connection is closed: ``code`` and ``reason`` say how.

    ``code`` is the server's close code, 1005 when its close frame had none,
    1006 when the connection dropped without a close frame, or the code this
    client failed the connection with (1002, 1007, 1009) after a protocol error.
    """

    def __init__(self, code: int, reason: str = "") -> None:
        self.code = code
        self.reason = reason
        text = f"WebSocket connection closed: {code}"
        super().__init__(f"{text} {reason}" if reason else text)


def _check_close(code: int, reason: str) -> None:
    problem = _core.close_code_problem(code)
    if problem is not None:
        raise ValueError(problem)
    if len(reason.encode()) > 123:
        raise ValueError("close reason is longer than 123 bytes")


@dataclass
class _Options:
    url: str
    host: str
    port: int
    target: str
    host_header: str
    ssl: ssl_module.SSLContext | None
    server_hostname: str | None
    headers: list[tuple[str, str]]
    subprotocols: list[str]
    compression: bool
    max_message_bytes: int
    max_queue: int
    write_limit: int
    open_timeout: float | None
    close_timeout: float
    on_connect: Callback | None = None
    on_text: Callback | None = None
    on_binary: Callback | None = None
    on_close: Callback | None = None
    reconnect: bool = False
    max_retries: int | None = None
    backoff_base: float = BACKOFF_BASE
    backoff_cap: float = BACKOFF_CAP

    @property
    def callback_mode(self) -> bool:
        return self.reconnect or any(
            cb is not None for cb in (self.on_connect, self.on_text, self.on_binary, self.on_close)
        )


def _header_list(
    headers: Mapping[str, str] | Iterable[tuple[str, str]] | None,
) -> list[tuple[str, str]]:
    if headers is None:
        return []
    items = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    out = []
    for name, value in items:
        name, value = str(name), str(value)
        if not name or any(c in name for c in " \t\r\n:") or "\r" in value or "\n" in value:
            raise ValueError(f"invalid header {name!r}: {value!r}")
        if name.lower() in _RESERVED:
            raise ValueError(f"header {name!r} is set by the client itself")
        out.append((name, value))
    return out


# -- one connection ------------------------------------------------------------------------------


class _Connection(asyncio.Protocol):
    """One TCP/TLS connection: the upgrade response, then frames through the codec."""

    def __init__(self, loop: asyncio.AbstractEventLoop, max_queue: int, close_timeout: float):
        self._loop = loop
        self.transport: asyncio.Transport | None = None
        self.codec: _core.ClientCodec | None = None
        self.response_headers = Headers([])
        self.subprotocol: str | None = None
        self._hs_buf = bytearray()
        self._hs_waiter: asyncio.Future[None] | None = None
        self._eof = False
        self._queue: deque[Message] = deque()
        self._max_queue = max(1, max_queue)
        self._reading_paused = False
        self._recv_waiter: asyncio.Future[None] | None = None
        self._write_paused = False
        self._drain_waiters: deque[asyncio.Future[None]] = deque()
        self._pings: dict[bytes, tuple[asyncio.Future[float], float]] = {}
        self._close_timeout = close_timeout
        self._abort_handle: asyncio.TimerHandle | None = None
        #: Upgraded, and no close frame sent or received yet: sending is allowed.
        self.open = False
        self.close_sent = False
        self.close_rcvd = False
        #: Nothing more will be received: recv() raises once the queue is empty.
        self.done_reading = False
        self.close_code: int | None = None
        self.close_reason = ""
        self.lost: asyncio.Future[None] = loop.create_future()

    # -- asyncio.Protocol --

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.codec is None:
            self._hs_buf += data
            if len(self._hs_buf) > MAX_HEAD + MAX_ERROR_BODY and self.transport is not None:
                self._reading_paused = True
                self.transport.pause_reading()
            self._wake_hs()
            return
        self._feed(data)

    def eof_received(self) -> bool | None:
        self._eof = True
        self._wake_hs()
        return None  # let the transport close

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        self.done_reading = True
        self._eof = True
        if self.close_code is None:
            self.close_code = 1006
            self.close_reason = f"connection lost: {exc}" if exc else "connection lost"
        if self._abort_handle is not None:
            self._abort_handle.cancel()
        self._wake_hs()
        self._wake_recv()
        while self._drain_waiters:
            w = self._drain_waiters.popleft()
            if not w.done():
                w.set_result(None)
        pings, self._pings = self._pings, {}
        for fut, _ in pings.values():
            if not fut.done():
                fut.set_exception(self.closed_error())
        if not self.lost.done():
            self.lost.set_result(None)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        while self._drain_waiters:
            w = self._drain_waiters.popleft()
            if not w.done():
                w.set_result(None)

    # -- the upgrade --

    def _wake_hs(self) -> None:
        w = self._hs_waiter
        if w is not None and not w.done():
            w.set_result(None)

    async def _wait_hs(self) -> None:
        w = self._hs_waiter = self._loop.create_future()
        try:
            await w
        finally:
            self._hs_waiter = None

    async def read_head(self) -> bytes:
        """The response head (without the blank line); the rest stays buffered."""
        while True:
            i = self._hs_buf.find(b"\r\n\r\n")
            if 0 <= i <= MAX_HEAD:
                head = bytes(self._hs_buf[:i])
                del self._hs_buf[: i + 4]
                return head
            if len(self._hs_buf) > MAX_HEAD:
                raise HandshakeError("the upgrade response head is larger than 64 KiB")
            if self._eof:
                got = f" after {len(self._hs_buf)} bytes" if self._hs_buf else ""
                raise HandshakeError(f"the server closed the connection{got} before a response")
            await self._wait_hs()

    async def read_body(self, headers: Headers) -> bytes:
        """The body of a refused upgrade, at most MAX_ERROR_BODY bytes."""
        try:
            want: int | None = min(int(headers.get("content-length", "")), MAX_ERROR_BODY)
        except ValueError:
            want = None
        try:
            async with asyncio.timeout(None if want is not None else ERROR_BODY_WAIT):
                while not self._eof and (want is None or len(self._hs_buf) < want):
                    if len(self._hs_buf) >= MAX_ERROR_BODY:
                        break
                    await self._wait_hs()
        except TimeoutError:
            pass
        return bytes(self._hs_buf[: want if want is not None else MAX_ERROR_BODY])

    def start(self, codec: _core.ClientCodec, headers: Headers, subprotocol: str | None) -> None:
        """Upgraded: frames from now on (including any already buffered)."""
        self.codec = codec
        self.response_headers = headers
        self.subprotocol = subprotocol
        self.open = True
        rest, self._hs_buf = bytes(self._hs_buf), bytearray()
        if self._reading_paused and self.transport is not None:
            self._reading_paused = False
            self.transport.resume_reading()
        if rest:
            self._feed(rest)

    # -- receiving --

    def _feed(self, data: bytes) -> None:
        codec = self.codec
        assert codec is not None
        try:
            messages = codec.feed(data)
        except ValueError as e:
            code, reason = e.args if len(e.args) == 2 else (1002, str(e))
            self._fail(code, reason)
            return
        for kind, value in messages:
            if kind == "text" or kind == "binary":
                self._queue.append(value)
            elif kind == "ping":
                if not self.close_sent:
                    self._write(codec.encode(OP_PONG, value))
            elif kind == "pong":
                self._got_pong(value)
            else:
                self._got_close(*value)
        if codec.error is not None:
            self._fail(*codec.error)
        if self._queue:
            self._wake_recv()
            if (
                len(self._queue) >= self._max_queue
                and not self._reading_paused
                and not self.done_reading
                and self.transport is not None
            ):
                self._reading_paused = True
                self.transport.pause_reading()

    def _got_close(self, code: int, reason: str) -> None:
        self.close_rcvd = True
        self.done_reading = True
        self.open = False
        if self.close_code is None:
            self.close_code, self.close_reason = code, reason
        if not self.close_sent:
            # Echo the code (RFC 6455 section 5.5.1); the server then closes TCP.
            self.close_sent = True
            assert self.codec is not None
            self._write(self.codec.encode_close(None if code == 1005 else code, ""))
        self._abort_later()
        self._wake_recv()

    def _fail(self, code: int, reason: str) -> None:
        """A protocol error: send a close frame with ``code`` and drop the connection."""
        if self.close_code is None:
            self.close_code, self.close_reason = code, reason
        self.open = False
        self.done_reading = True
        if not self.close_sent and self.codec is not None:
            self.close_sent = True
            self._write(self.codec.encode_close(code, reason))
        if self.transport is not None:
            self.transport.close()
        self._wake_recv()

    def _abort_later(self) -> None:
        if self._abort_handle is None and self.transport is not None:
            self._abort_handle = self._loop.call_later(self._close_timeout, self.transport.abort)

    def _wake_recv(self) -> None:
        w = self._recv_waiter
        if w is not None and not w.done():
            w.set_result(None)

    def closed_error(self) -> ConnectionClosed:
        return ConnectionClosed(self.close_code or 1006, self.close_reason)

    async def recv(self) -> Message:
        while True:
            if self._queue:
                msg = self._queue.popleft()
                if self._reading_paused and len(self._queue) <= self._max_queue // 2:
                    self._reading_paused = False
                    if self.transport is not None:
                        self.transport.resume_reading()
                return msg
            if self.done_reading:
                raise self.closed_error()
            if self._recv_waiter is not None:
                raise RuntimeError("recv() is already being awaited by another task")
            w = self._recv_waiter = self._loop.create_future()
            try:
                await w
            finally:
                self._recv_waiter = None

    # -- sending --

    def _write(self, data: bytes) -> None:
        t = self.transport
        if t is not None and not t.is_closing():
            t.write(data)

    async def send(self, opcode: int, payload: bytes) -> None:
        if not self.open:
            raise self.closed_error()
        assert self.codec is not None
        # Encode and write with no await between: deflate contexts stay in order.
        self._write(self.codec.encode(opcode, payload))
        while self._write_paused and not self.lost.done():
            w = self._loop.create_future()
            self._drain_waiters.append(w)
            await w
        if self.lost.done():
            raise self.closed_error()

    async def ping(self, data: bytes | None) -> float:
        if data is None:
            data = os.urandom(4)
            while data in self._pings:
                data = os.urandom(4)
        elif data in self._pings:
            raise ValueError("already waiting for a pong with this payload")
        fut: asyncio.Future[float] = self._loop.create_future()
        self._pings[data] = (fut, self._loop.time())
        try:
            await self.send(OP_PING, data)
            return await fut
        finally:
            self._pings.pop(data, None)
            if fut.done() and not fut.cancelled():
                fut.exception()  # retrieved: no "never retrieved" warning

    def _got_pong(self, data: bytes) -> None:
        if data not in self._pings:
            return  # unsolicited
        now = self._loop.time()
        # A pong answers its ping and every earlier one.
        for key in list(self._pings):
            fut, sent = self._pings.pop(key)
            if not fut.done():
                fut.set_result(now - sent)
            if key == data:
                break

    async def close(self, code: int, reason: str, timeout: float) -> None:
        """The closing handshake; the transport is aborted after ``timeout``."""
        if self.transport is None:
            return
        if not self.close_sent and not self.lost.done():
            self.close_sent = True
            self.open = False
            assert self.codec is not None
            self._write(self.codec.encode_close(code, reason))
        if self._reading_paused:
            # The server's close frame must get through a full queue.
            self._reading_paused = False
            self._max_queue = 1 << 30
            self.transport.resume_reading()
        try:
            async with asyncio.timeout(timeout):
                await asyncio.shield(self.lost)
        except TimeoutError:
            self.transport.abort()
            await asyncio.shield(self.lost)


def _parse_head(head: bytes) -> tuple[int, str, Headers]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise HandshakeError(f"not an HTTP/1.1 response: {lines[0][:100]!r}")
    items = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise HandshakeError(f"malformed response header line {line[:100]!r}")
        items.append((name.strip(), value.strip()))
    return int(parts[1]), parts[2] if len(parts) > 2 else "", Headers(items)


def _tokens(headers: Headers, name: str) -> list[str]:
    return [t.strip().lower() for v in headers.get_all(name) for t in v.split(",")]


async def _handshake(opts: _Options) -> _Connection:
    loop = asyncio.get_running_loop()
    conn = _Connection(loop, opts.max_queue, opts.close_timeout)
    key = base64.b64encode(os.urandom(16)).decode("ascii")
    offer = _core.client_deflate_offer() if opts.compression else None
    lines = [
        f"GET {opts.target} HTTP/1.1",
        f"Host: {opts.host_header}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if offer:
        lines.append(f"Sec-WebSocket-Extensions: {offer}")
    if opts.subprotocols:
        lines.append(f"Sec-WebSocket-Protocol: {', '.join(opts.subprotocols)}")
    if not any(n.lower() == "user-agent" for n, _ in opts.headers):
        lines.append(f"User-Agent: scanbridge/{_core.__version__}")
    lines += [f"{n}: {v}" for n, v in opts.headers]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()

    transport, _ = await loop.create_connection(
        lambda: conn,
        opts.host,
        opts.port,
        ssl=opts.ssl,
        server_hostname=opts.server_hostname if opts.ssl is not None else None,
    )
    try:
        transport.set_write_buffer_limits(high=opts.write_limit)
        transport.write(request)
        head = await conn.read_head()
        status, phrase, headers = _parse_head(head)
        if status != 101:
            body = await conn.read_body(headers)
            text = body[:300].decode("utf-8", "replace").strip()
            msg = f"WebSocket upgrade to {opts.url} refused: HTTP {status} {phrase}".rstrip()
            raise HandshakeError(f"{msg}: {text}" if text else msg, status, headers, body)

        def bad(problem: str) -> HandshakeError:
            return HandshakeError(
                f"WebSocket upgrade to {opts.url} failed: {problem}", status, headers
            )

        if "websocket" not in _tokens(headers, "upgrade"):
            raise bad("the 101 response has no 'Upgrade: websocket'")
        if "upgrade" not in _tokens(headers, "connection"):
            raise bad("the 101 response has no 'Connection: Upgrade'")
        accept = headers.get("sec-websocket-accept")
        if accept != _core.client_accept_key(key):
            raise bad(f"Sec-WebSocket-Accept {accept!r} does not match the key sent")
        extensions = ", ".join(headers.get_all("sec-websocket-extensions")).strip() or None
        if extensions is not None and offer is None:
            raise bad(f"the server accepted extensions that were not offered: {extensions}")
        protocol = headers.get("sec-websocket-protocol")
        if protocol is not None and protocol not in opts.subprotocols:
            raise bad(f"the server chose subprotocol {protocol!r}, which was not offered")
        try:
            codec = _core.ClientCodec(opts.max_message_bytes, extensions)
        except ValueError as e:
            raise bad(str(e)) from None
        conn.start(codec, headers, protocol)
    except BaseException:
        transport.abort()
        raise
    return conn


async def _open(opts: _Options) -> _Connection:
    try:
        async with asyncio.timeout(opts.open_timeout):
            return await _handshake(opts)
    except TimeoutError as e:
        if isinstance(e, OSError) and e.errno is not None:
            raise  # the socket's own timeout
        raise TimeoutError(
            f"opening {opts.url}: no WebSocket within {opts.open_timeout} s"
        ) from None


# -- the session -------------------------------------------------------------------------------


class ClientSession:
    """A client WebSocket session (see :func:`connect`).

    ``id`` is a client-side UUID that stays the same across reconnections;
    ``data`` is free for the application's own state.
    """

    def __init__(self, opts: _Options) -> None:
        self.id = str(uuid.uuid4())
        self.url = opts.url
        #: Free for the application's own per-session state.
        self.data: dict[str, Any] = {}
        #: How many times a connection was opened (reconnections included).
        self.connects = 0
        self._opts = opts
        self._conn: _Connection | None = None
        self._closing = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _start(self) -> None:
        self._conn = await _open(self._opts)
        self.connects = 1
        if self._opts.callback_mode:
            self._task = asyncio.create_task(self._run(), name=f"scanbridge-client-{self.id}")

    # -- state --

    @property
    def response_headers(self) -> Headers:
        """Headers of the (latest) 101 response."""
        return self._conn.response_headers if self._conn else Headers([])

    @property
    def subprotocol(self) -> str | None:
        return self._conn.subprotocol if self._conn else None

    @property
    def compression(self) -> bool:
        """Whether permessage-deflate is in use on the current connection."""
        c = self._conn
        return bool(c and c.codec and c.codec.compressed)

    @property
    def open(self) -> bool:
        """Whether messages can be sent now."""
        return bool(self._conn and self._conn.open) and not self._closing

    @property
    def closed(self) -> bool:
        """Closed for good: close() was called, or the connection ended and no
        reconnection follows."""
        if self._closing:
            return True
        c = self._conn
        if c is None or not c.lost.done():
            return False
        return not self._opts.reconnect or (self._task is not None and self._task.done())

    @property
    def close_code(self) -> int | None:
        c = self._conn
        return c.close_code if c and (c.done_reading or c.lost.done()) else None

    @property
    def close_reason(self) -> str:
        c = self._conn
        return c.close_reason if c else ""

    def _live(self) -> _Connection:
        c = self._conn
        if c is None:
            raise ConnectionClosed(1006, "not connected")
        return c

    # -- sending --

    async def send_text(self, text: str) -> None:
        """Send a text message (waits while the write buffer is full)."""
        if not isinstance(text, str):
            raise TypeError(f"send_text takes str, not {type(text).__name__}")
        await self._live().send(OP_TEXT, text.encode())

    async def send_binary(self, data: bytes | bytearray | memoryview) -> None:
        """Send a binary message (waits while the write buffer is full)."""
        if isinstance(data, str):
            raise TypeError("send_binary takes bytes, not str")
        await self._live().send(OP_BINARY, bytes(data))

    async def send(self, data: str | bytes | bytearray | memoryview) -> None:
        """Text for str, binary for bytes."""
        if isinstance(data, str):
            await self.send_text(data)
        else:
            await self.send_binary(data)

    async def ping(self, data: bytes | None = None, timeout: float | None = None) -> float:
        """Send a ping and wait for its pong; returns the round trip in seconds.

        ``data`` (at most 125 bytes) defaults to 4 random bytes.
        """
        async with asyncio.timeout(timeout):
            return await self._live().ping(data)

    # -- receiving --

    async def recv(self) -> str | bytes:
        """The next message: str for text, bytes for binary.

        Raises :class:`ConnectionClosed` (a :class:`~scanbridge.SessionClosed`)
        with the close code and reason once the connection is closed and every
        message received before was returned.
        """
        if self._task is not None:
            raise RuntimeError("recv() is not available when callbacks receive the messages")
        return await self._live().recv()

    def __aiter__(self) -> AsyncIterator[str | bytes]:
        return self

    async def __anext__(self) -> str | bytes:
        try:
            return await self.recv()
        except ConnectionClosed:
            raise StopAsyncIteration from None

    # -- closing --

    async def close(self, code: int = 1000, reason: str = "", timeout: float | None = None) -> None:
        """Close with ``code`` and ``reason``: send a close frame and wait (at most
        ``timeout``, default ``close_timeout``) for the server's close frame and for
        the server to close the connection. Stops reconnecting."""
        _check_close(code, reason)
        if timeout is None:
            timeout = self._opts.close_timeout
        self._closing = True
        self._wake.set()
        if self._conn is not None:
            await self._conn.close(code, reason, timeout)
        task = self._task
        if task is not None and task is not asyncio.current_task() and not task.done():
            try:
                async with asyncio.timeout(timeout):
                    await asyncio.shield(task)
            except TimeoutError:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    async def wait_closed(self) -> None:
        """Wait until the session is closed for good (see ``closed``)."""
        if self._task is not None:
            await asyncio.shield(self._task)
        elif self._conn is not None:
            await asyncio.shield(self._conn.lost)

    # -- callback mode --

    async def _call(self, name: str, *args: Any) -> None:
        cb = getattr(self._opts, name)
        if cb is None:
            return
        try:
            r = cb(self, *args)
            if inspect.isawaitable(r):
                await r
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("error in %s of client session %s (%s)", name, self.id, self.url)

    async def _run(self) -> None:
        try:
            await self._receive_loop()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("client session %s (%s): receive loop failed", self.id, self.url)
            if self._conn is not None and self._conn.transport is not None:
                self._conn.transport.abort()

    async def _receive_loop(self) -> None:
        conn = self._conn
        while conn is not None:
            await self._call("on_connect")
            while True:
                try:
                    msg = await conn.recv()
                except ConnectionClosed:
                    break
                if isinstance(msg, str):
                    await self._call("on_text", msg)
                else:
                    await self._call("on_binary", msg)
            await asyncio.shield(conn.lost)  # close frame read: wait for the drop
            await self._call("on_close", conn.close_code or 1006, conn.close_reason)
            if not self._opts.reconnect or self._closing:
                return
            conn = await self._reconnect()

    async def _reconnect(self) -> _Connection | None:
        opts = self._opts
        attempt = 0
        while not self._closing:
            if opts.max_retries is not None and attempt >= opts.max_retries:
                log.warning(
                    "client session %s: giving up on %s after %d attempts",
                    self.id,
                    self.url,
                    attempt,
                )
                return None
            delay = backoff_delay(attempt, opts.backoff_base, opts.backoff_cap)
            attempt += 1
            try:
                async with asyncio.timeout(delay):
                    await self._wake.wait()
            except TimeoutError:
                pass
            if self._closing:
                return None
            try:
                conn = await _open(opts)
            except (OSError, HandshakeError, TimeoutError) as e:
                log.info(
                    "client session %s: reconnect %d to %s failed: %s",
                    self.id,
                    attempt,
                    self.url,
                    e,
                )
                continue
            if self._closing:
                await conn.close(1000, "", opts.close_timeout)
                return None
            self._conn = conn
            self.connects += 1
            log.info("client session %s: reconnected to %s", self.id, self.url)
            return conn
        return None

    def __repr__(self) -> str:
        state = "open" if self.open else "closed" if self.closed else "connecting"
        return f"<ClientSession {self.id} {self.url} {state}>"


class _Connect:
    """``await connect(...)`` -> ClientSession; ``async with connect(...) as session``."""

    def __init__(self, opts: _Options) -> None:
        self._opts = opts
        self._session: ClientSession | None = None

    async def _open(self) -> ClientSession:
        session = ClientSession(self._opts)
        await session._start()
        return session

    def __await__(self):  # type: ignore[no-untyped-def]
        return self._open().__await__()

    async def __aenter__(self) -> ClientSession:
        self._session = await self._open()
        return self._session

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()


def connect(
    url: str,
    *,
    auth: Any = None,
    headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    ssl: ssl_module.SSLContext | bool | None = None,
    server_hostname: str | None = None,
    subprotocols: Iterable[str] | None = None,
    compression: bool = True,
    max_message_bytes: int | None = 16 * 1024 * 1024,
    max_queue: int = 64,
    write_limit: int = 64 * 1024,
    open_timeout: float | None = 10.0,
    close_timeout: float = 5.0,
    on_connect: Callable[[ClientSession], Any] | None = None,
    on_text: Callable[[ClientSession, str], Any] | None = None,
    on_binary: Callable[[ClientSession, bytes], Any] | None = None,
    on_close: Callable[[ClientSession, int, str], Any | Awaitable[Any]] | None = None,
    reconnect: bool = False,
    max_retries: int | None = None,
    backoff_base: float = BACKOFF_BASE,
    backoff_cap: float = BACKOFF_CAP,
) -> _Connect:
    """Open a WebSocket to ``url`` (``ws://`` or ``wss://``).

    ``auth``: an object with ``header() -> (name, value)`` such as
    :class:`~scanbridge.BasicAuth` or :class:`~scanbridge.BearerAuth` (user
    info in the URL is sent as Basic auth when ``auth`` is None). ``ssl``: an
    SSLContext for ``wss://`` (default: the system's verifying context).
    ``compression`` offers permessage-deflate. A received message larger than
    ``max_message_bytes`` (None: no limit) fails the connection with 1009.
    ``open_timeout`` bounds the TCP/TLS connection and the upgrade.

    Returns an object to ``await`` (the :class:`ClientSession`) or to use with
    ``async with``. See the module documentation for the callback form.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("ws", "wss"):
        raise ValueError(f"not a ws:// or wss:// URL: {url!r}")
    if not parts.hostname:
        raise ValueError(f"no host in {url!r}")
    host = parts.hostname
    port = parts.port or (443 if scheme == "wss" else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host_header = f"[{host}]" if ":" in host else host
    if parts.port and parts.port != (443 if scheme == "wss" else 80):
        host_header += f":{parts.port}"
    if scheme == "wss":
        if ssl is False:
            raise ValueError("ssl=False with a wss:// URL")
        ctx = ssl if isinstance(ssl, ssl_module.SSLContext) else ssl_module.create_default_context()
    else:
        if ssl not in (None, False):
            raise ValueError("ssl= is only for wss:// URLs")
        ctx = None
    header_list = _header_list(headers)
    if auth is None and parts.username is not None:
        auth = BasicAuth(unquote(parts.username), unquote(parts.password or ""))
    if auth is not None:
        name, value = auth.header()
        header_list = [(name, value), *(h for h in header_list if h[0].lower() != name.lower())]
    protocols = list(subprotocols or [])
    for p in protocols:
        if not p or any(c in p for c in " ,\t\r\n"):
            raise ValueError(f"invalid subprotocol {p!r}")
    if max_message_bytes is None:
        max_message_bytes = 1 << 62
    if max_message_bytes < 1:
        raise ValueError("max_message_bytes must be positive")
    if max_retries is not None and max_retries < 0:
        raise ValueError("max_retries must be >= 0")
    opts = _Options(
        url=url,
        host=host,
        port=port,
        target=target,
        host_header=host_header,
        ssl=ctx,
        server_hostname=server_hostname or host,
        headers=header_list,
        subprotocols=protocols,
        compression=compression,
        max_message_bytes=max_message_bytes,
        max_queue=max_queue,
        write_limit=write_limit,
        open_timeout=open_timeout,
        close_timeout=close_timeout,
        on_connect=on_connect,
        on_text=on_text,
        on_binary=on_binary,
        on_close=on_close,
        reconnect=reconnect,
        max_retries=max_retries,
        backoff_base=backoff_base,
        backoff_cap=backoff_cap,
    )
    return _Connect(opts)
