"""Opening a connection: TCP/TLS, the HTTP/1.1 upgrade request, and the checks
of the response (RFC 6455 section 4.1)."""

from __future__ import annotations

import asyncio
import base64
import os

from .. import _core
from ..headers import Headers
from .errors import HandshakeError
from .options import Options
from .protocol import Connection

__all__ = ["open_connection"]


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


async def _handshake(opts: Options) -> Connection:
    loop = asyncio.get_running_loop()
    conn = Connection(loop, opts.max_queue, opts.close_timeout)
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


async def open_connection(opts: Options) -> Connection:
    """An upgraded connection to ``opts.url`` within ``opts.open_timeout``:
    OSError, :class:`HandshakeError` or TimeoutError otherwise."""
    try:
        async with asyncio.timeout(opts.open_timeout):
            return await _handshake(opts)
    except TimeoutError as e:
        if isinstance(e, OSError) and e.errno is not None:
            raise  # the socket's own timeout
        raise TimeoutError(
            f"opening {opts.url}: no WebSocket within {opts.open_timeout} s"
        ) from None
