"""The client session: sending, receiving, closing, the callback receive loop;
and :func:`connect`, which opens one."""

from __future__ import annotations

import asyncio
import logging
import ssl as ssl_module
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any

from ..headers import Headers
from ..hooks import call_hook
from .errors import ConnectionClosed, check_close
from .handshake import open_connection
from .options import BACKOFF_BASE, BACKOFF_CAP, Options, build_options
from .protocol import OP_BINARY, OP_TEXT, Connection
from .reconnect import reopen

__all__ = ["ClientSession", "Connect", "connect"]

log = logging.getLogger("scanbridge.client")


class ClientSession:
    """A client WebSocket session (see :func:`connect`).

    ``id`` is a client-side UUID that stays the same across reconnections;
    ``data`` is free for the application's own state.
    """

    def __init__(self, opts: Options) -> None:
        self.id = str(uuid.uuid4())
        self.url = opts.url
        #: Free for the application's own per-session state.
        self.data: dict[str, Any] = {}
        #: How many times a connection was opened (reconnections included).
        self.connects = 0
        self._opts = opts
        self._conn: Connection | None = None
        self._closing = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _start(self) -> None:
        self._conn = await open_connection(self._opts)
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

    def _live(self) -> Connection:
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
        check_close(code, reason)
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
        if cb is not None:
            await call_hook(cb, self, *args, log=log, what=f"{name} of client session {self.id}")

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
            conn = await reopen(self._opts, self.id, lambda: self._closing, self._wake)
            if conn is None:
                return
            self._conn = conn
            self.connects += 1
            log.info("client session %s: reconnected to %s", self.id, self.url)

    def __repr__(self) -> str:
        state = "open" if self.open else "closed" if self.closed else "connecting"
        return f"<ClientSession {self.id} {self.url} {state}>"


class Connect:
    """``await connect(...)`` -> ClientSession; ``async with connect(...) as session``."""

    def __init__(self, opts: Options) -> None:
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
) -> Connect:
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
    return Connect(
        build_options(
            url,
            auth=auth,
            headers=headers,
            ssl=ssl,
            server_hostname=server_hostname,
            subprotocols=subprotocols,
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
    )
