"""Plain HTTP on the WebSocket port: requests, responses and a small router.

The Rust core parses requests and writes responses; this module decides
what to answer. Each response closes its connection (no keep-alive): the
routes are for health checks, admin pages and JSON APIs, not bulk traffic.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import msgspec

from .errors import ScanbridgeError
from .headers import Headers, parse_query


@dataclass(slots=True)
class Request:
    method: str
    path: str
    query_string: str
    headers: Headers
    body: bytes
    remote: tuple[str, int]
    listener: int = 0
    params: dict[str, str] = field(default_factory=dict)
    #: The core's connection id (the same as the Session's ``conn`` after an upgrade).
    conn: int = 0

    @property
    def query(self) -> dict[str, str]:
        return parse_query(self.query_string)

    def json(self) -> Any:
        """The body as JSON (RFC 8259, UTF-8); raises HTTPError(400) when it is not.

        Strict: a lone surrogate escape (``"\\ud800"``, not text in any
        encoding), ``NaN`` or invalid UTF-8 is refused here, as is nesting
        deeper than the interpreter can decode, instead of failing later.
        """
        try:
            return msgspec.json.decode(self.body or b"null")
        except msgspec.DecodeError as e:
            why = _json_problem(self.body) or str(e)
        except RecursionError:
            why = "nested too deeply"
        raise HTTPError(400, f"body is not valid JSON: {why}")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _json_problem(body: bytes) -> str | None:
    """Words for what is wrong with a body msgspec refused (its messages can
    mislead: a lone surrogate escape reads "Input data was truncated")."""
    try:
        obj = json.loads(body, parse_constant=_no_constant)
    except RecursionError:
        return "nested too deeply"
    except ValueError as e:
        return str(e)
    try:
        json.dumps(obj, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return "a \\u escape is a lone surrogate (half of a UTF-16 pair, not a character)"
    except (ValueError, RecursionError):
        pass
    return None


@dataclass(slots=True)
class Response:
    status: int = 200
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def text(cls, text: str, status: int = 200, content_type: str = "text/plain") -> Response:
        return cls(status, text.encode(), [("Content-Type", f"{content_type}; charset=utf-8")])

    @classmethod
    def html(cls, html: str, status: int = 200) -> Response:
        return cls.text(html, status, "text/html")

    @classmethod
    def json(cls, obj: Any, status: int = 200) -> Response:
        return cls(status, json.dumps(obj).encode(), [("Content-Type", "application/json")])


class HTTPError(ScanbridgeError):
    """Raise in a handler to answer with this status and a JSON error body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def response(self) -> Response:
        return Response.json({"error": self.message}, self.status)


Handler = Callable[[Request], Awaitable[Response] | Response]


class Router:
    """Routes like ``/api/rooms/{namespace}/{room}``; a ``{name}`` is one path segment."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        rx = re.compile("^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(pattern)) + "$")
        self._routes.append((method.upper(), rx, handler))

    def match(self, method: str, path: str) -> tuple[Handler | None, dict[str, str], bool]:
        """(handler, params, path_exists): path_exists tells 405 from 404."""
        exists = False
        for m, rx, h in self._routes:
            mo = rx.match(path)
            if mo:
                exists = True
                if m == method or (m == "GET" and method == "HEAD"):
                    return h, {k: unquote(v) for k, v in mo.groupdict().items()}, True
        return None, {}, exists
