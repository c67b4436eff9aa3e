"""The Rust core raises scanbridge.errors' typed exceptions (one base,
ScanbridgeError), not unrelated builtins: a full outbound queue is QueueFull
(it was BufferError), unusable TLS material TlsConfigError, a bad
permessage-deflate response or stream DeflateError, a room message that is
not JSON RoomError. The ValueError-like ones stay ValueErrors too."""

from __future__ import annotations

import base64
import os
import socket
import time

import pytest

from scanbridge import _core
from scanbridge.errors import (
    DeflateError,
    QueueFull,
    RoomError,
    ScanbridgeError,
    TlsConfigError,
)


def open_conn(core: _core.Server, port: int) -> tuple[socket.socket, int]:
    """A WebSocket connection to core's /p endpoint; its connection id."""
    key = base64.b64encode(os.urandom(16)).decode()
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(
        f"GET /p HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        events, _ = core.poll()
        for ev in events:
            if isinstance(ev, _core.OpenEvent):
                return s, ev.conn
        time.sleep(0.005)
    raise AssertionError("no OpenEvent")


def test_queue_full_is_typed() -> None:
    core = _core.Server(max_queue_bytes=4096)
    core.add_endpoint(["/p"], "python")
    _, _, port = core.listen("127.0.0.1", 0)
    s, conn = open_conn(core, port)
    try:
        with pytest.raises(QueueFull, match="max_queue_bytes") as info:
            for _ in range(100):  # not flushed: the queue only grows
                core.send(conn, "x" * 1000)
        assert isinstance(info.value, ScanbridgeError)
        assert not isinstance(info.value, BufferError)
        assert core.send(conn, "y") is False  # closing: not open any more
    finally:
        s.close()


def test_tls_errors_are_typed(tmp_path) -> None:
    core = _core.Server()
    with pytest.raises(TlsConfigError, match="certificate PEM: no certificate found"):
        core.listen("127.0.0.1", 0, cert_pem=b"", key_pem=b"")
    missing = tmp_path / "missing.pem"
    with pytest.raises(TlsConfigError, match=r"cannot read certificate file .*missing\.pem"):
        _core.load_pem_files(str(missing), str(missing))
    with pytest.raises(TlsConfigError, match="at least one host name") as info:
        _core.self_signed_cert([])
    assert isinstance(info.value, ScanbridgeError)
    assert isinstance(info.value, ValueError)  # what callers caught before
    cert, key, _ = _core.self_signed_cert(["localhost"])
    other_cert, _, _ = _core.self_signed_cert(["localhost"])
    with pytest.raises(TlsConfigError, match="does not match the certificate"):
        core.listen("127.0.0.1", 0, cert_pem=other_cert.encode(), key_pem=key.encode())
    core.listen("127.0.0.1", 0, cert_pem=cert.encode(), key_pem=key.encode())


def test_deflate_errors_are_typed() -> None:
    for response in ["x-foo", "permessage-deflate; foo", 'permessage-deflate; "']:
        with pytest.raises(DeflateError):
            _core.client_deflate_accept(response)
        with pytest.raises(DeflateError):
            _core.ClientCodec(1 << 20, response)
    with pytest.raises(DeflateError, match="unknown parameter foo"):
        _core.client_deflate_accept("permessage-deflate; foo")
    with pytest.raises(DeflateError, match="too big"):
        _core.inflate_message(_core.deflate_message(b"a" * 10_000), max_size=100)
    with pytest.raises(DeflateError, match="invalid compressed data") as info:
        _core.inflate_message(b"\xff\xff\xff\xff")
    assert isinstance(info.value, ValueError)


def test_room_error_is_typed() -> None:
    core = _core.Server()
    with pytest.raises(RoomError, match="not one JSON value") as info:
        core.publish_event("", "room", "me", "{not json")
    assert isinstance(info.value, ScanbridgeError)
    assert core.publish_event("", "room", "me", '{"ok": 1}') == (0, 0)
