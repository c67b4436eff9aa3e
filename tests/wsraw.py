"""A minimal raw-socket WebSocket client (RFC 6455) for wire-level tests.

It does the HTTP upgrade by hand and sends whatever frames a test builds, valid or
not. Every read is bounded by a timeout. Blocking sockets, loopback only.
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import ssl
import struct
import time
import zlib
from dataclasses import dataclass, field

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def build_frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    mask: bool = True,
    key: bytes | None = None,
) -> bytes:
    """One frame; `rsv` is the 3-bit RSV1..RSV3 field (4 = RSV1, 2 = RSV2, 1 = RSV3)."""
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0xF)
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n < 1 << 16:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if not mask:
        return head + payload
    key = key if key is not None else os.urandom(4)
    return head + key + apply_mask(payload, key)


def apply_mask(data: bytes, key: bytes) -> bytes:
    if not data:
        return b""
    n = len(data)
    k = int.from_bytes((key * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(data, "big") ^ k).to_bytes(n, "big")


def close_payload(code: int | None, reason: bytes = b"") -> bytes:
    return b"" if code is None else struct.pack("!H", code) + reason


def deflate_message(data: bytes) -> bytes:
    """permessage-deflate body (RFC 7692 7.2.1): raw deflate, sync flush, tail removed."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


_TEXT_UNIT = "Grüße, 世界! 😀 ñ € "  # 1-, 2-, 3- and 4-byte UTF-8 characters


def text_of_size(n: int) -> str:
    """A str whose UTF-8 encoding is exactly n bytes, mostly non-ASCII."""
    unit = _TEXT_UNIT.encode()
    raw = (unit * (n // len(unit) + 1))[:n]
    text = raw.decode("utf-8", errors="ignore")  # drops a cut character at the end
    text += "x" * (n - len(text.encode()))
    assert len(text.encode()) == n
    return text


@dataclass
class Frame:
    fin: bool
    rsv: int
    opcode: int
    masked: bool
    payload: bytes

    @property
    def close_code(self) -> int | None:
        assert self.opcode == CLOSE, self
        return struct.unpack("!H", self.payload[:2])[0] if len(self.payload) >= 2 else None

    @property
    def close_reason(self) -> bytes:
        return self.payload[2:]


@dataclass
class Response:
    status: int
    reason: str
    headers: dict[str, list[str]] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        values = self.headers.get(name.lower())
        return ", ".join(values) if values else None


class Closed(Exception):
    """The server ended the TCP connection while a frame was expected."""


class RawWS:
    def __init__(self, sock: socket.socket, buf: bytes, response: Response) -> None:
        self.sock = sock
        self.buf = bytearray(buf)
        self.response = response

    # -- connecting ---------------------------------------------------------------------

    @classmethod
    def connect(
        cls,
        host: str,
        port: int,
        path: str = "/echo",
        *,
        extensions: str | list[str] | None = None,
        headers: list[tuple[str, str]] | None = None,
        timeout: float = 5.0,
        expect_upgrade: bool = True,
        ssl_context: ssl.SSLContext | None = None,
    ) -> RawWS:
        sock = socket.create_connection((host, port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if ssl_context is not None:
            sock = ssl_context.wrap_socket(sock, server_hostname=host)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: {host}:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
        if isinstance(extensions, str):
            extensions = [extensions]
        for ext in extensions or []:
            lines.append(f"Sec-WebSocket-Extensions: {ext}")
        for name, value in headers or []:
            lines.append(f"{name}: {value}")
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        deadline = time.monotonic() + timeout
        data = bytearray()
        while b"\r\n\r\n" not in data:
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            chunk = sock.recv(65536)
            if not chunk:
                raise Closed(f"connection closed during handshake: {bytes(data)!r}")
            data += chunk
        head, _, rest = bytes(data).partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        _, status, *reason = status_line.split(" ", 2)
        resp = Response(int(status), reason[0] if reason else "")
        for line in header_lines:
            name, _, value = line.partition(":")
            resp.headers.setdefault(name.strip().lower(), []).append(value.strip())
        if expect_upgrade:
            assert resp.status == 101, (status_line, resp.headers)
            assert resp.header("sec-websocket-accept") == accept_key(key), resp.headers
        return cls(sock, rest, resp)

    # -- sending ------------------------------------------------------------------------

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send_frame(self, opcode: int, payload: bytes = b"", **kw: object) -> None:
        self.sock.sendall(build_frame(opcode, payload, **kw))  # type: ignore[arg-type]

    def send_text(self, text: str) -> None:
        self.send_frame(TEXT, text.encode())

    def send_binary(self, data: bytes) -> None:
        self.send_frame(BINARY, data)

    def send_close(self, code: int | None = 1000, reason: bytes = b"") -> None:
        self.send_frame(CLOSE, close_payload(code, reason))

    # -- receiving ----------------------------------------------------------------------

    def _fill(self, n: int, deadline: float) -> None:
        while len(self.buf) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"wanted {n} bytes, have {len(self.buf)}")
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(1 << 20)
            except ConnectionResetError as exc:
                raise Closed("connection reset") from exc
            if not chunk:
                raise Closed(f"EOF with {len(self.buf)} bytes buffered")
            self.buf += chunk

    def _take(self, n: int, deadline: float) -> bytes:
        self._fill(n, deadline)
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def recv_frame(self, timeout: float = 5.0) -> Frame:
        deadline = time.monotonic() + timeout
        b0, b1 = self._take(2, deadline)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._take(2, deadline))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._take(8, deadline))[0]
        masked = bool(b1 & 0x80)
        key = self._take(4, deadline) if masked else b""
        payload = self._take(n, deadline)
        if masked:
            payload = apply_mask(payload, key)
        return Frame(bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0xF, masked, payload)

    def recv_message(self, timeout: float = 5.0) -> tuple[int, bytes]:
        """The next data message (fragments joined); control frames other than close
        are skipped; a close frame raises AssertionError."""
        deadline = time.monotonic() + timeout
        opcode, parts = None, []
        while True:
            f = self.recv_frame(max(deadline - time.monotonic(), 0.001))
            assert not f.masked, "server frames must not be masked"
            if f.opcode in (PING, PONG):
                continue
            assert f.opcode != CLOSE, f"unexpected close {f.close_code} {f.close_reason!r}"
            if opcode is None:
                assert f.opcode in (TEXT, BINARY), f
                opcode = f.opcode
            else:
                assert f.opcode == CONT, f
            parts.append(f.payload)
            if f.fin:
                return opcode, b"".join(parts)

    def expect_close(self, timeout: float = 5.0) -> Frame:
        """Skip data frames until a close frame, then require the TCP connection to end
        (EOF or reset) without our close reply. Returns the close frame."""
        deadline = time.monotonic() + timeout
        while True:
            f = self.recv_frame(max(deadline - time.monotonic(), 0.001))
            if f.opcode == CLOSE:
                break
        assert not f.masked
        assert f.fin
        extra = self.wait_eof(max(deadline - time.monotonic(), 0.5))
        assert extra == b"", f"data after close frame: {extra!r}"
        return f

    def wait_eof(self, timeout: float = 5.0) -> bytes:
        """Read until the server ends the TCP connection; return what came before."""
        deadline = time.monotonic() + timeout
        got = bytearray(self.buf)
        self.buf.clear()
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"TCP connection still open after {timeout}s")
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                return bytes(got)
            if not chunk:
                return bytes(got)
            got += chunk

    def echo(self, opcode: int, payload: bytes, timeout: float = 5.0) -> None:
        """Send one message and assert it comes back unchanged."""
        self.send_frame(opcode, payload)
        assert self.recv_message(timeout) == (opcode, payload)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> RawWS:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
