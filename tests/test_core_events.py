"""What _core.Server.poll()/accept()/tick() return: typed, immutable event
objects (rust/py/src/events.rs), not positional tuples. Against a real core
on loopback sockets."""

from __future__ import annotations

import base64
import os
import socket
import time

import pytest

from scanbridge import _core

KEY = b"abcd"


def upgrade_request(path: str, extra: str = "") -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    ).encode()


def poll_until(core: _core.Server, want: type, n: int = 1) -> list[_core.Event]:
    """Events until `n` of type `want` came (bounded: 10 s)."""
    got: list[_core.Event] = []
    deadline = time.monotonic() + 10
    while sum(type(e) is want for e in got) < n:
        assert time.monotonic() < deadline, got
        events, _ = core.poll()
        got += events
        if not events:
            time.sleep(0.002)
    return got


@pytest.fixture
def core() -> _core.Server:
    c = _core.Server()
    assert c.add_endpoint(["/p"], "python") == 0
    assert c.add_endpoint(["/ask"], "python", ask_upgrade=True) == 1
    return c


def test_open_text_binary_close(core: _core.Server) -> None:
    lid, _, port = core.listen("127.0.0.1", 0)
    s = socket.create_connection(("127.0.0.1", port))
    try:
        s.sendall(upgrade_request("/p?x=1", "X-Test: yes\r\n"))
        (ev,) = [e for e in poll_until(core, _core.OpenEvent) if type(e) is _core.OpenEvent]
        assert isinstance(ev, _core.Event)
        assert (ev.endpoint, ev.listener, ev.path, ev.query) == (0, lid, "/p", "x=1")
        assert ("x-test", "yes") in ev.headers and isinstance(ev.headers, tuple)
        assert ev.peer == ("127.0.0.1", s.getsockname()[1])
        assert ev.subprotocol is None
        conn = ev.conn
        with pytest.raises(AttributeError):
            ev.conn = 5  # type: ignore[misc]

        s.sendall(_core.encode_frame(1, "κόσμε".encode(), KEY))
        s.sendall(_core.encode_frame(2, b"\x00\x01", KEY))
        events = poll_until(core, _core.BinaryEvent)
        msgs = [e for e in events if isinstance(e, _core.TextEvent | _core.BinaryEvent)]
        # size is the UTF-8 length (what consumed() takes), not len(str)
        assert msgs == [_core.TextEvent(conn, "κόσμε", 10), _core.BinaryEvent(conn, b"\x00\x01", 2)]
        for m in msgs:
            match m:
                case _core.TextEvent(c, data, size):
                    assert (c, data, size) == (conn, "κόσμε", 10)
                case _core.BinaryEvent(c, data, size):
                    assert (c, data, size) == (conn, b"\x00\x01", 2)
            core.consumed(m.conn, m.size)

        s.sendall(_core.encode_frame(8, (1000).to_bytes(2, "big") + b"bye", KEY))
        events = poll_until(core, _core.CloseEvent)
        assert [e for e in events if type(e) is _core.CloseEvent] == [
            _core.CloseEvent(conn, 1000, "bye")
        ]
    finally:
        s.close()


def test_upgrade_accept_and_http(core: _core.Server) -> None:
    lid, _, port = core.listen("127.0.0.1", 0)
    s = socket.create_connection(("127.0.0.1", port))
    h = socket.create_connection(("127.0.0.1", port))
    try:
        s.sendall(upgrade_request("/ask"))
        (up,) = [e for e in poll_until(core, _core.UpgradeEvent) if type(e) is _core.UpgradeEvent]
        assert (up.endpoint, up.listener, up.path) == (1, lid, "/ask")
        ok, events = core.accept(up.conn)
        assert ok
        assert [type(e) for e in events] == [_core.OpenEvent]
        assert events[0].conn == up.conn

        h.sendall(b"POST /api?q=2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
        (req,) = [e for e in poll_until(core, _core.HttpEvent) if type(e) is _core.HttpEvent]
        assert (req.method, req.path, req.query, req.body) == ("POST", "/api", "q=2", b"abc")
        assert req.listener == lid and ("content-length", "3") in req.headers
        assert req.peer == ("127.0.0.1", h.getsockname()[1])
    finally:
        s.close()
        h.close()


def test_events_are_values() -> None:
    a = _core.CloseEvent(7, 1006, "")
    assert a == _core.CloseEvent(7, 1006, "") and a != _core.CloseEvent(7, 1000, "")
    assert a != (4, 7, 1006, "")  # not a tuple any more
    assert repr(a) == "CloseEvent(conn=7, code=1006, reason='')"
    assert _core.CloseEvent.__match_args__ == ("conn", "code", "reason")
    with pytest.raises(TypeError):
        hash(a)  # compared by value, holds mutable-typed fields: unhashable
    with pytest.raises(TypeError):
        _core.TextEvent(1, b"bytes, not str", 3)  # type: ignore[arg-type]
    forward = _core.RoomForwardEvent("ns", "r", "me", "{}")
    match forward:
        case _core.RoomForwardEvent(ns, room, sender, message):
            assert (ns, room, sender, message) == ("ns", "r", "me", "{}")
        case _:
            raise AssertionError(forward)
    for cls in (_core.TextEvent, _core.OpenEvent, _core.RoomMembershipEvent):
        with pytest.raises(TypeError):
            type("Sub", (cls,), {})  # final, as the stub says
