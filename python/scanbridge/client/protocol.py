"""One client connection as an asyncio protocol: the upgrade response is
buffered for the handshake, then frames go through the Rust codec
(``scanbridge._core.ClientCodec``), with flow control both ways."""

from __future__ import annotations

import asyncio
import os
from collections import deque

from .. import _core
from ..headers import Headers
from .errors import ConnectionClosed, HandshakeError

__all__ = ["MAX_ERROR_BODY", "MAX_HEAD", "Connection", "Message"]

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA

#: Largest response head (status line and headers) accepted.
MAX_HEAD = 64 * 1024
#: Largest body kept from a refused upgrade.
MAX_ERROR_BODY = 64 * 1024
#: How long to wait for the body of a refused upgrade without Content-Length.
ERROR_BODY_WAIT = 1.0

Message = str | bytes


class Connection(asyncio.Protocol):
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
        for m in messages:
            match m:
                case _core.TextMessage(text):
                    self._queue.append(text)
                case _core.BinaryMessage(data):
                    self._queue.append(data)
                case _core.PingMessage(ping):
                    if not self.close_sent:
                        self._write(codec.encode(OP_PONG, ping))
                case _core.PongMessage(pong):
                    self._got_pong(pong)
                case _core.CloseMessage(code, reason):
                    self._got_close(code, reason)
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
