"""What a client session is opened with: :class:`Options`, checked and derived
from the arguments of :func:`~scanbridge.client.connect` by :func:`build_options`."""

from __future__ import annotations

import ssl as ssl_module
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from ..auth import BasicAuth

__all__ = ["BACKOFF_BASE", "BACKOFF_CAP", "Callback", "Options", "build_options", "header_list"]

BACKOFF_BASE = 0.5
BACKOFF_CAP = 30.0
#: Headers the client writes itself.
RESERVED_HEADERS = frozenset(
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

Callback = Callable[..., Any]


@dataclass
class Options:
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


def header_list(
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
        if name.lower() in RESERVED_HEADERS:
            raise ValueError(f"header {name!r} is set by the client itself")
        out.append((name, value))
    return out


def build_options(
    url: str,
    *,
    auth: Any,
    headers: Mapping[str, str] | Iterable[tuple[str, str]] | None,
    ssl: ssl_module.SSLContext | bool | None,
    server_hostname: str | None,
    subprotocols: Iterable[str] | None,
    compression: bool,
    max_message_bytes: int | None,
    max_queue: int,
    write_limit: int,
    open_timeout: float | None,
    close_timeout: float,
    on_connect: Callback | None,
    on_text: Callback | None,
    on_binary: Callback | None,
    on_close: Callback | None,
    reconnect: bool,
    max_retries: int | None,
    backoff_base: float,
    backoff_cap: float,
) -> Options:
    """The arguments of :func:`~scanbridge.client.connect` checked (ValueError)
    and resolved: host, port, request target, TLS context, request headers."""
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
    request_headers = header_list(headers)
    if auth is None and parts.username is not None:
        auth = BasicAuth(unquote(parts.username), unquote(parts.password or ""))
    if auth is not None:
        name, value = auth.header()
        request_headers = [
            (name, value),
            *(h for h in request_headers if h[0].lower() != name.lower()),
        ]
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
    return Options(
        url=url,
        host=host,
        port=port,
        target=target,
        host_header=host_header,
        ssl=ctx,
        server_hostname=server_hostname or host,
        headers=request_headers,
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
