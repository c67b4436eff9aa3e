"""The client's exceptions, and the check of a close code and reason it sends."""

from __future__ import annotations

from .. import _core
from ..errors import ScanbridgeError
from ..headers import Headers
from ..session import SessionClosed

__all__ = ["ConnectionClosed", "HandshakeError", "check_close"]


class HandshakeError(ScanbridgeError):
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


def check_close(code: int, reason: str) -> None:
    problem = _core.close_problem(code, reason)
    if problem is not None:
        raise ValueError(problem)
