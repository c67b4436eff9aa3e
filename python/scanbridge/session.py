"""A WebSocket session as Python sees it; bytes move in the Rust core."""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from . import _core
from .errors import QueueFull, ScanbridgeError
from .headers import Headers, parse_query

if TYPE_CHECKING:
    from .core_handle import CoreHandle


class SessionClosed(ScanbridgeError, ConnectionError):
    """The session is closed (or its outbound queue overflowed and it is closing)."""


class Session:
    """One open WebSocket on a Python endpoint."""

    __slots__ = (
        "__weakref__",
        "_core",
        "busy",
        "callback_errors",
        "close_code",
        "close_reason",
        "closed",
        "conn",
        "data",
        "dropped",
        "endpoint",
        "failed",
        "headers",
        "id",
        "listener",
        "path",
        "pending",
        "query",
        "query_string",
        "remote",
        "subprotocol",
    )

    def __init__(
        self,
        core: CoreHandle,
        conn: int,
        endpoint: Any,
        listener: int,
        path: str,
        query: str,
        headers: list[tuple[str, str]],
        remote: tuple[str, int],
        subprotocol: str | None,
    ) -> None:
        self._core = core
        self.conn = conn
        self.id = str(uuid.uuid4())
        self.endpoint = endpoint
        self.listener = listener
        self.path = path
        self.query_string = query
        self.query: Mapping[str, str] = parse_query(query)
        self.headers = Headers(headers)
        self.remote = remote
        self.subprotocol = subprotocol
        self.closed = False
        self.close_code: int | None = None
        self.close_reason = ""
        #: Free for the application's own per-session state.
        self.data: dict[str, Any] = {}
        # Dispatch state, kept by the App that runs the callbacks (not for
        # applications): a callback is running, and what waits for it.
        self.busy = False
        #: Callbacks waiting for the running one: (callback, args, message
        #: bytes, or -1 for callbacks that are not a message).
        self.pending: deque[tuple[Callable[..., Any], tuple[Any, ...], int]] = deque()
        #: No more messages go to on_text/on_binary (they are dropped and
        #: counted in `dropped`): a send found it closed or overflowing, or
        #: the application closed it. on_close still comes.
        self.failed = False
        self.dropped = 0
        #: Callback errors by cause (exception type): only the first is logged.
        self.callback_errors: dict[str, int] = {}

    def _send(self, data: str | bytes) -> None:
        if self.closed:
            self.failed = True
            raise SessionClosed(f"session {self.id} is closed")
        try:
            ok = self._core.send(self.conn, data)
        except QueueFull as e:
            self.failed = True
            raise SessionClosed(f"session {self.id}: {e}") from None
        if not ok:
            self.failed = True
            raise SessionClosed(f"session {self.id} is closed")

    async def send_text(self, text: str) -> None:
        """Queue a text message (sent at the end of this loop iteration)."""
        if not isinstance(text, str):
            raise TypeError(f"send_text takes str, not {type(text).__name__}")
        self._send(text)

    async def send_binary(self, data: bytes | bytearray | memoryview) -> None:
        """Queue a binary message."""
        if isinstance(data, str):
            raise TypeError("send_binary takes bytes, not str")
        self._send(bytes(data))

    async def send(self, data: str | bytes) -> None:
        """Text for str, binary for bytes."""
        self._send(data)

    def send_nowait(self, data: str | bytes) -> None:
        """Like send, from synchronous code."""
        self._send(data)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake; on_close follows when it completes."""
        self.close_nowait(code, reason)

    def close_nowait(self, code: int = 1000, reason: str = "") -> None:
        """Like close, from synchronous code (nothing in it waits)."""
        problem = _core.close_problem(code, reason)
        if problem is not None:
            raise ValueError(problem)
        self.failed = True
        self._core.close(self.conn, code, reason)

    def __repr__(self) -> str:
        return f"<Session {self.id} {self.path} from {self.remote[0]}:{self.remote[1]}>"
