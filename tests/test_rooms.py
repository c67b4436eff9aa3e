"""Rooms on /layout and /bus (PROTOCOLS.md 2.1, 2.3): JOIN / LEAVE / NOTIFY / CLIENTS
over plain WebSocket clients, HTTP publish, the Python API, room hooks, slow consumers
and a small load check. In-process App, loopback only, every wait bounded."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import socket
import string
import struct
import time
import urllib.parse
import zlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import websockets

from scanbridge import App, Config

WAIT = 5.0
BIG_INT = 123456789012345678901234567890  # breaks if a number goes through a double


# ---- helpers ---------------------------------------------------------------------------


async def make_app(**overrides: Any) -> App:
    app = App(Config(port=0, journal=":memory:", **overrides))
    await app.start()
    return app


@pytest.fixture
async def app() -> AsyncIterator[App]:
    a = await make_app()
    yield a
    await a.stop(timeout=2)


async def connect(app: App, ns: str = "layout", **kw: Any) -> websockets.ClientConnection:
    return await asyncio.wait_for(websockets.connect(f"{app.url}/{ns}", **kw), WAIT)


async def send(ws: websockets.ClientConnection, typ: str, payload: Any) -> None:
    await ws.send(json.dumps([typ, payload]))


async def recv(ws: websockets.ClientConnection, timeout: float = WAIT) -> Any:
    msg = await asyncio.wait_for(ws.recv(), timeout)
    assert isinstance(msg, str), msg
    return json.loads(msg)


async def barrier(ws: websockets.ClientConnection) -> list[Any]:
    """Ask CLIENTS of a private room; return everything that arrived before the answer.
    A connection's input is handled in order, so once the answer is here every earlier
    command of this socket was handled and everything queued to it earlier was read."""
    room = "__barrier__"
    await send(ws, "CLIENTS", {"room": room})
    before = []
    while True:
        m = await recv(ws)
        if m == ["CLIENTS", {"room": room, "clients": []}]:
            return before
        before.append(m)


async def join(ws: websockets.ClientConnection, room: str, name: str) -> None:
    await send(ws, "JOIN", {"room": room, "name": name})
    assert await barrier(ws) == []


async def clients(ws: websockets.ClientConnection, room: str) -> list[str]:
    await send(ws, "CLIENTS", {"room": room})
    m = await recv(ws)
    assert m[0] == "CLIENTS" and m[1]["room"] == room, m
    return m[1]["clients"]


def event(sender: str, room: str, message: Any) -> list[Any]:
    return ["EVENT", {"sender": sender, "room": room, "message": message}]


async def until(cond: Any, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def post(app: App, path: str, body: bytes) -> tuple[int, str]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WAIT)) as s:
        async with s.post(f"http://{app.host}:{app.port}{path}", data=body) as r:
            return r.status, await r.text()


# ---- JOIN / NOTIFY / EVENT -------------------------------------------------------------


@pytest.mark.parametrize("ns", ["layout", "bus"])
async def test_join_and_notify_reaches_every_member_but_sender(app: App, ns: str) -> None:
    a, b, c = [await connect(app, ns) for _ in range(3)]
    await join(a, "r", "alice")
    # The original clients sent the payload as a string holding JSON.
    await send(b, "JOIN", json.dumps({"room": "r", "name": "bob"}))
    assert await barrier(b) == []
    await join(c, "r", "carol")
    assert sorted(app.members(ns, "r")) == ["alice", "bob", "carol"]
    assert "r" in app.rooms(ns)

    await send(a, "NOTIFY", {"room": "r", "message": {"hello": "world"}})
    assert await recv(b) == event("alice", "r", {"hello": "world"})
    assert await recv(c) == event("alice", "r", {"hello": "world"})
    assert await barrier(a) == []  # not echoed to the sender

    # String payload form for NOTIFY too; the sender is bob's JOIN name.
    await send(b, "NOTIFY", json.dumps({"room": "r", "message": 'say "hi"\n'}))
    assert await recv(a) == event("bob", "r", 'say "hi"\n')
    assert await recv(c) == event("bob", "r", 'say "hi"\n')
    assert await barrier(b) == []
    for ws in (a, b, c):
        await ws.close()


@pytest.mark.parametrize(
    "message",
    [
        "plain string",
        "",
        0,
        -17,
        3.25,
        BIG_INT,
        True,
        None,
        [],
        {},
        [1, "two", {"three": [3.0, None, False]}],
        {"a": {"b": {"c": [1, 2, {"d": 'ü € 😀 \u0000 \\ "'}]}}, "n": BIG_INT},
    ],
    ids=lambda m: type(m).__name__ + ":" + json.dumps(m)[:20],
)
async def test_message_is_delivered_exactly_as_sent(app: App, message: Any) -> None:
    a, b = await connect(app), await connect(app)
    await join(b, "room-1", "bob")
    await join(a, "room-1", "alice")
    await send(a, "NOTIFY", {"room": "room-1", "message": message})
    got = await recv(b)
    assert got == event("alice", "room-1", message)
    assert type(got[1]["message"]) is type(message)
    await a.close()
    await b.close()


async def test_sender_need_not_be_a_member_and_unknown_before_join(app: App) -> None:
    member, outsider, anon = await connect(app), await connect(app), await connect(app)
    await join(member, "r", "m")
    await join(outsider, "elsewhere", "olga")
    await send(outsider, "NOTIFY", {"room": "r", "message": 1})
    assert await recv(member) == event("olga", "r", 1)
    await send(anon, "NOTIFY", {"room": "r", "message": 2})
    assert await recv(member) == event("unknown", "r", 2)
    assert app.members("layout", "r") == ["m"]  # notifying does not join
    for ws in (member, outsider, anon):
        await ws.close()


async def test_leave_stops_delivery(app: App) -> None:
    a, b = await connect(app), await connect(app)
    await join(a, "r", "a")
    await join(b, "r", "b")
    await join(b, "other", "b")
    await send(b, "LEAVE", {"room": "r"})
    assert await barrier(b) == []
    assert app.members("layout", "r") == ["a"]
    await send(a, "NOTIFY", {"room": "r", "message": "after leave"})
    assert await barrier(a) == []  # the NOTIFY was handled
    assert await barrier(b) == []  # ... and nothing reached b
    # b still gets what is sent to the room it stayed in, and can rejoin.
    await send(a, "NOTIFY", {"room": "other", "message": "still here"})
    assert await recv(b) == event("a", "other", "still here")
    await send(b, "JOIN", json.dumps({"room": "r", "name": "b2"}))
    assert await barrier(b) == []
    await send(a, "NOTIFY", {"room": "r", "message": "back"})
    assert await recv(b) == event("a", "r", "back")
    await a.close()
    await b.close()


async def test_clients_answers_requester_only_with_that_rooms_members(app: App) -> None:
    a, b, c, d = [await connect(app) for _ in range(4)]
    await join(a, "r", "ann")
    await join(b, "r", "ben")
    await join(c, "s", "cid")
    assert sorted(await clients(d, "r")) == ["ann", "ben"]  # non-member may ask
    assert await clients(d, "s") == ["cid"]
    assert await clients(d, "nobody-here") == []
    # String payload form
    await send(a, "CLIENTS", json.dumps({"room": "r"}))
    m = await recv(a)
    assert m[0] == "CLIENTS" and sorted(m[1]["clients"]) == ["ann", "ben"]
    for ws in (b, c):  # nobody else got an answer
        assert await barrier(ws) == []
    for ws in (a, b, c, d):
        await ws.close()


async def test_namespaces_do_not_mix(app: App) -> None:
    lay, bus = await connect(app, "layout"), await connect(app, "bus")
    lay_pub, bus_pub = await connect(app, "layout"), await connect(app, "bus")
    await join(lay, "r", "on-layout")
    await join(bus, "r", "on-bus")
    assert await clients(lay_pub, "r") == ["on-layout"]
    assert await clients(bus_pub, "r") == ["on-bus"]
    assert app.members("layout", "r") == ["on-layout"]
    assert app.members("bus", "r") == ["on-bus"]

    await send(lay_pub, "NOTIFY", {"room": "r", "message": "L"})
    assert await recv(lay) == event("unknown", "r", "L")
    await send(bus_pub, "NOTIFY", {"room": "r", "message": "B"})
    assert await recv(bus) == event("unknown", "r", "B")
    assert await barrier(lay_pub) == [] and await barrier(bus_pub) == []
    assert await barrier(lay) == []
    assert await barrier(bus) == []
    for ws in (lay, bus, lay_pub, bus_pub):
        await ws.close()


async def test_closed_socket_leaves_all_its_rooms(app: App) -> None:
    gone, stay = await connect(app), await connect(app)
    for room in ("r1", "r2", "r3"):
        await join(gone, room, "gone")
    await join(stay, "r1", "stay")
    assert sorted(await clients(stay, "r1")) == ["gone", "stay"]
    await gone.close()
    deadline = time.monotonic() + WAIT
    while "gone" in await clients(stay, "r1"):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    assert await clients(stay, "r1") == ["stay"]
    assert await clients(stay, "r2") == []
    assert await clients(stay, "r3") == []
    assert "r2" not in app.rooms("layout") and "r3" not in app.rooms("layout")
    await stay.close()


async def test_abrupt_disconnect_leaves_rooms(app: App) -> None:
    """A client that drops the TCP connection without a close handshake."""
    loop = asyncio.get_running_loop()
    raw = await raw_connect(app, "/layout")
    await loop.sock_sendall(
        raw, client_frame(0x1, json.dumps(["JOIN", {"room": "r", "name": "x"}]))
    )
    await until(lambda: app.members("layout", "r") == ["x"])
    raw.close()
    await until(lambda: app.members("layout", "r") == [])
    assert "r" not in app.rooms("layout")


async def test_rejoin_renames_and_delivers_once_and_same_names_are_kept(app: App) -> None:
    a, b, c = await connect(app), await connect(app), await connect(app)
    await join(a, "r", "first")
    await join(a, "r", "second")  # joining again: still one member, new name
    await join(b, "r", "twin")
    await join(c, "r", "twin")  # two sockets may share a name
    assert sorted(await clients(a, "r")) == ["second", "twin", "twin"]
    await send(b, "NOTIFY", {"room": "r", "message": "once"})
    assert await recv(a) == event("twin", "r", "once")
    assert await recv(c) == event("twin", "r", "once")
    assert await barrier(a) == []  # not twice
    await send(a, "NOTIFY", {"room": "r", "message": "renamed"})
    assert await recv(b) == event("second", "r", "renamed")
    for ws in (a, b, c):
        await ws.close()


async def test_sender_is_the_name_joined_under_in_that_room(app: App) -> None:
    a, b = await connect(app), await connect(app)
    await join(a, "r1", "x")
    await join(a, "r2", "y")
    await join(b, "r1", "watcher")
    assert sorted(await clients(b, "r1")) == ["watcher", "x"]
    await send(a, "NOTIFY", {"room": "r1", "message": "hi"})
    got = await recv(b)
    await a.close()
    await b.close()
    assert got == event("x", "r1", "hi")


# ---- errors ---------------------------------------------------------------------------


BAD_INPUT = [
    ("not json", "{"),
    ("not json at all", "hello"),
    ("not an array", '{"type": "JOIN"}'),
    ("one element", '["JOIN"]'),
    ("three elements", '["JOIN", {"room": "r", "name": "n"}, 1]'),
    ("type not a string", '[1, {"room": "r"}]'),
    ("unknown type", '["SHOUT", {"room": "r"}]'),
    ("lower-case type", '["join", {"room": "r", "name": "n"}]'),
    ("join without name", '["JOIN", {"room": "r"}]'),
    ("join without room", '["JOIN", {"name": "n"}]'),
    ("join name not a string", '["JOIN", {"room": "r", "name": 5}]'),
    ("join room not a string", '["JOIN", {"room": ["r"], "name": "n"}]'),
    ("join empty room", '["JOIN", {"room": "", "name": "n"}]'),
    ("payload a number", '["JOIN", 5]'),
    ("payload an array", '["NOTIFY", ["r", "m"]]'),
    ("payload string not json", '["JOIN", "{bad"]'),
    ("payload string not an object", '["JOIN", "[1, 2]"]'),
    ("notify without room", '["NOTIFY", {"message": 1}]'),
    ("notify room not a string", '["NOTIFY", {"room": 7, "message": 1}]'),
    ("leave without room", '["LEAVE", {}]'),
    ("clients room null", '["CLIENTS", {"room": null}]'),
]


@pytest.mark.parametrize("ns", ["layout", "bus"])
async def test_invalid_input_gets_error_and_socket_stays_open(app: App, ns: str) -> None:
    ws, peer = await connect(app, ns), await connect(app, ns)
    await join(peer, "r", "peer")
    for why, text in BAD_INPUT:
        await ws.send(text)
        m = await recv(ws)
        assert m[0] == "ERROR", (why, m)
        assert set(m[1]) == {"code", "message"}, (why, m)
        assert isinstance(m[1]["code"], str) and m[1]["code"], (why, m)
        assert isinstance(m[1]["message"], str) and m[1]["message"], (why, m)
    # Nothing was joined or published by the bad input; the socket still works.
    assert await barrier(peer) == []
    assert app.members(ns, "r") == ["peer"]
    await join(ws, "r", "ok")
    await send(ws, "NOTIFY", {"room": "r", "message": "still open"})
    assert await recv(peer) == event("ok", "r", "still open")
    await ws.close()
    await peer.close()


async def test_binary_frame_gets_error_and_socket_stays_open(app: App) -> None:
    ws, peer = await connect(app), await connect(app)
    await join(peer, "r", "peer")
    await ws.send(json.dumps(["NOTIFY", {"room": "r", "message": 1}]).encode())
    m = await recv(ws)
    assert m[0] == "ERROR" and set(m[1]) == {"code", "message"}, m
    assert await barrier(peer) == []  # the binary NOTIFY was not published
    await send(ws, "NOTIFY", {"room": "r", "message": 2})
    assert await recv(peer) == event("unknown", "r", 2)
    await ws.close()
    await peer.close()


# ---- HTTP publish and the Python API ---------------------------------------------------


async def test_http_publish_to_layout_room(app: App) -> None:
    a, b, other = await connect(app), await connect(app), await connect(app)
    await join(a, "r", "a")
    await join(b, "r", "b")
    await join(other, "s", "o")
    body = {"k": [1, 2, {"x": "y"}], "big": BIG_INT}
    status, _ = await post(app, "/api/rooms/layout/r", json.dumps(body).encode())
    assert status == 200
    assert await recv(a) == event("POST", "r", body)
    assert await recv(b) == event("POST", "r", body)
    assert await barrier(other) == []
    # Any JSON value works as the body.
    status, _ = await post(app, "/api/rooms/layout/r", b'"just a string"')
    assert status == 200
    assert await recv(a) == event("POST", "r", "just a string")
    for ws in (a, b, other):
        await ws.close()


async def test_bus_message_alias_is_namespace_bus(app: App) -> None:
    bus, lay = await connect(app, "bus"), await connect(app, "layout")
    await join(bus, "r", "on-bus")
    await join(lay, "r", "on-layout")
    status, _ = await post(app, "/bus-message/r", b'{"n": 1}')
    assert status == 200
    assert await recv(bus) == event("POST", "r", {"n": 1})
    status, _ = await post(app, "/api/rooms/bus/r", b"[2]")
    assert status == 200
    assert await recv(bus) == event("POST", "r", [2])
    assert await barrier(lay) == []
    await bus.close()
    await lay.close()


async def test_http_publish_errors(app: App) -> None:
    ws = await connect(app)
    await join(ws, "r", "a")
    for body in (b"{not json", b"hello", b"{", b""):
        status, _ = await post(app, "/api/rooms/layout/r", body)
        assert status == 400, body
        status, _ = await post(app, "/bus-message/r", body)
        assert status == 400, body
    status, _ = await post(app, "/api/rooms/nosuchns/r", b"{}")
    assert status == 404
    assert await barrier(ws) == []  # none of that was published
    await ws.close()


@pytest.mark.parametrize("room", ["a b", "café", "x/y"])
async def test_http_publish_percent_encoded_room(app: App, room: str) -> None:
    quoted = urllib.parse.quote(room, safe="")
    lay, bus = await connect(app, "layout"), await connect(app, "bus")
    literal = await connect(app, "layout")  # only to show where the message went instead
    await join(lay, room, "l")
    await join(bus, room, "b")
    await join(literal, quoted, "literal")
    status, _ = await post(app, f"/api/rooms/layout/{quoted}", b"1")
    assert status == 200
    status, _ = await post(app, f"/bus-message/{quoted}", b"2")
    assert status == 200
    try:
        try:
            got = [await recv(lay, 1.0), await recv(bus, 1.0)]
        except TimeoutError:
            pytest.fail(f"room {room!r} got nothing; room {quoted!r} got {await barrier(literal)}")
        assert got == [event("POST", room, 1), event("POST", room, 2)]
    finally:
        for ws in (lay, bus, literal):
            await ws.close()


async def test_app_publish_returns_delivery_count_and_lists(app: App) -> None:
    a, b, c = await connect(app), await connect(app), await connect(app, "bus")
    assert await app.publish("layout", "r", {"x": 1}) == 0
    await join(a, "r", "ann")
    await join(b, "r", "ben")
    await join(b, "s", "ben-s")
    await join(c, "r", "cat")
    assert sorted(app.rooms("layout")) == ["r", "s"]
    assert app.rooms("bus") == ["r"]
    assert sorted(app.members("layout", "r")) == ["ann", "ben"]
    assert app.members("layout", "s") == ["ben-s"]
    assert app.members("layout", "nope") == []

    assert await app.publish("layout", "r", {"x": [1, "y"]}) == 2
    assert await recv(a) == event("server", "r", {"x": [1, "y"]})
    assert await recv(b) == event("server", "r", {"x": [1, "y"]})
    assert await app.publish("layout", "s", "hi", sender="bot") == 1
    assert await recv(b) == event("bot", "s", "hi")
    assert await barrier(c) == []  # /bus room r is another room
    assert await barrier(a) == []

    await send(b, "LEAVE", {"room": "r"})
    assert await barrier(b) == []
    assert app.members("layout", "r") == ["ann"]
    assert await app.publish("layout", "r", None) == 1
    for ws in (a, b, c):
        await ws.close()
    await until(lambda: app.rooms("layout") == [] and app.rooms("bus") == [])


# ---- room hooks -----------------------------------------------------------------------


async def test_room_hook_sees_notifies_and_can_veto() -> None:
    app = App(Config(port=0, journal=":memory:"))
    seen: list[tuple[str, str, str, Any]] = []

    @app.on_room_message
    def hook(namespace: str, room: str, sender: str, message: Any) -> Any:
        seen.append((namespace, room, sender, message))
        if isinstance(message, dict) and message.get("veto"):
            return False
        return None

    await app.start()
    try:
        pub, sub, bus = await connect(app), await connect(app), await connect(app, "bus")
        await join(sub, "r", "sub")
        await join(pub, "x", "pub")
        await join(bus, "r", "bus-sub")
        await send(pub, "NOTIFY", {"room": "r", "message": {"veto": True, "n": 1}})
        await send(pub, "NOTIFY", {"room": "r", "message": {"n": 2, "big": BIG_INT}})
        assert await recv(sub) == event("pub", "r", {"n": 2, "big": BIG_INT})
        await send(bus, "NOTIFY", {"room": "r", "message": "from bus"})
        await until(lambda: len(seen) == 3)
        assert seen == [
            ("layout", "r", "pub", {"veto": True, "n": 1}),
            ("layout", "r", "pub", {"n": 2, "big": BIG_INT}),
            ("bus", "r", "bus-sub", "from bus"),
        ]
        await send(pub, "NOTIFY", {"room": "r", "message": "last"})
        assert await recv(sub) == event("pub", "r", "last")  # the vetoed one never came
        assert await barrier(pub) == []
        for ws in (pub, sub, bus):
            await ws.close()
    finally:
        await app.stop(timeout=2)


async def test_room_hook_async_veto_and_raising_hook() -> None:
    app = App(Config(port=0, journal=":memory:"))
    calls: list[Any] = []

    @app.on_room_message
    def broken(namespace: str, room: str, sender: str, message: Any) -> Any:
        calls.append(("broken", message))
        raise RuntimeError("hook bug")

    @app.on_room_message
    async def gate(namespace: str, room: str, sender: str, message: Any) -> bool:
        calls.append(("gate", message))
        await asyncio.sleep(0)
        return message != "blocked"

    await app.start()
    try:
        with pytest.raises(RuntimeError):
            app.on_room_message(lambda *a: None)  # too late: the server runs
        pub, sub = await connect(app), await connect(app)
        await join(sub, "r", "sub")
        await send(pub, "NOTIFY", {"room": "r", "message": "blocked"})
        await until(lambda: ("gate", "blocked") in calls)
        await send(pub, "NOTIFY", {"room": "r", "message": "passes"})
        assert await recv(sub) == event("unknown", "r", "passes")
        assert ("broken", "passes") in calls and ("gate", "passes") in calls
        assert await barrier(sub) == []
        await pub.close()
        await sub.close()
    finally:
        await app.stop(timeout=2)


async def test_room_hook_does_not_see_http_or_app_publish() -> None:
    """The hook is documented for NOTIFYs; publishing from the server side is not one."""
    app = App(Config(port=0, journal=":memory:"))
    seen: list[Any] = []
    app.on_room_message(lambda ns, room, sender, message: seen.append(message))
    await app.start()
    try:
        sub = await connect(app)
        await join(sub, "r", "sub")
        assert await app.publish("layout", "r", "api") == 1
        assert await recv(sub) == event("server", "r", "api")
        status, _ = await post(app, "/api/rooms/layout/r", b'"http"')
        assert status == 200
        assert await recv(sub) == event("POST", "r", "http")
        assert seen == []
        await sub.close()
    finally:
        await app.stop(timeout=2)


async def test_room_hook_keeps_order_per_publisher() -> None:
    app = App(Config(port=0, journal=":memory:"))

    @app.on_room_message
    async def slow_first(namespace: str, room: str, sender: str, message: Any) -> bool:
        if message == 0:
            await asyncio.sleep(0.05)  # e.g. an I/O lookup that is slower this time
        return True

    await app.start()
    try:
        pub, sub = await connect(app), await connect(app)
        await join(sub, "r", "sub")
        for i in range(5):
            await send(pub, "NOTIFY", {"room": "r", "message": i})
        got = [(await recv(sub))[1]["message"] for _ in range(5)]
        await pub.close()
        await sub.close()
        assert got == [0, 1, 2, 3, 4]
    finally:
        await app.stop(timeout=2)


# ---- fan-out rules: slow consumer --------------------------------------------------------


async def raw_connect(
    app: App, path: str, rcvbuf: int | None = None, extensions: str | None = None
) -> socket.socket:
    """A non-blocking raw TCP WebSocket client, upgraded to `path` (offering
    `extensions` when given; no extensions by default)."""
    loop = asyncio.get_running_loop()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # before connect: the window
    s.setblocking(False)
    await asyncio.wait_for(loop.sock_connect(s, (app.host, app.port)), WAIT)
    key = base64.b64encode(os.urandom(16)).decode()
    req = (
        f"GET {path} HTTP/1.1\r\nHost: {app.host}:{app.port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        + (f"Sec-WebSocket-Extensions: {extensions}\r\n" if extensions else "")
        + "\r\n"
    )
    await loop.sock_sendall(s, req.encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = await asyncio.wait_for(loop.sock_recv(s, 1), WAIT)  # no more than the head
        assert chunk, head
        head += chunk
    assert head.split(b"\r\n", 1)[0].split(b" ")[1] == b"101", head
    return s


def client_frame(opcode: int, data: str | bytes) -> bytes:
    payload = data.encode() if isinstance(data, str) else data
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 1 << 16:
        head += struct.pack("!BH", 0x80 | 126, n)
    else:
        head += struct.pack("!BQ", 0x80 | 127, n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def server_frames(data: bytes) -> list[tuple[int, bytes]]:
    """Split unmasked, unfragmented server frames into (opcode | RSV1, payload); a cut
    frame at the end is dropped."""
    out, i = [], 0
    while i + 2 <= len(data):
        b0, b1 = data[i], data[i + 1]
        assert b0 & 0x80 and not b1 & 0x80, (i, b0, b1)  # FIN, not masked
        n, j = b1 & 0x7F, i + 2
        if n == 126:
            if j + 2 > len(data):
                break
            (n,) = struct.unpack("!H", data[j : j + 2])
            j += 2
        elif n == 127:
            if j + 8 > len(data):
                break
            (n,) = struct.unpack("!Q", data[j : j + 8])
            j += 8
        if j + n > len(data):
            break
        out.append((b0 & 0x4F, data[j : j + n]))  # the opcode, and RSV1 (0x40)
        i = j + n
    return out


async def test_slow_consumer_closed_with_1008_healthy_member_gets_everything() -> None:
    """2.3: max_queue_bytes 64 KiB; a member that never reads is closed with 1008 while a
    healthy member gets all 4000 x 1 KB messages from two publishers (a WebSocket client's
    NOTIFYs and app.publish), each publisher's messages in order."""
    app = await make_app(max_queue_bytes=64 * 1024)
    loop = asyncio.get_running_loop()
    slow = await raw_connect(app, "/layout", rcvbuf=4096)
    try:
        await loop.sock_sendall(
            slow, client_frame(0x1, json.dumps(["JOIN", {"room": "r", "name": "slow"}]))
        )
        healthy = await connect(app, max_size=None)
        pub = await connect(app)
        await join(healthy, "r", "healthy")
        await join(pub, "elsewhere", "pub")
        await until(lambda: sorted(app.members("layout", "r")) == ["healthy", "slow"])

        total, per_batch, pad = 4000, 16, "x" * 1000
        got: dict[str, list[int]] = {"ws": [], "app": []}
        received = 0

        async def reader() -> None:
            nonlocal received
            while received < total:
                m = await recv(healthy, 10)
                assert m[0] == "EVENT", m
                msg = m[1]["message"]
                assert m[1]["sender"] == ("pub" if msg["src"] == "ws" else "server"), m
                assert len(msg["pad"]) == 1000
                got[msg["src"]].append(msg["seq"])
                received += 1

        t0 = time.monotonic()
        task = asyncio.create_task(reader())
        sent = 0
        for start in range(0, total // 2, per_batch // 2):
            for seq in range(start, start + per_batch // 2):
                note = {"room": "r", "message": {"src": "ws", "seq": seq, "pad": pad}}
                await send(pub, "NOTIFY", note)
                await app.publish("layout", "r", {"src": "app", "seq": seq, "pad": pad})
            sent += per_batch
            # Pace on the healthy reader (so it is never the one that overflows).
            deadline = time.monotonic() + 10
            while received < sent - per_batch and not task.done():
                assert time.monotonic() < deadline, (received, sent)
                await asyncio.sleep(0.001)
        await asyncio.wait_for(task, 15)
        elapsed = time.monotonic() - t0
        assert got["ws"] == list(range(total // 2))
        assert got["app"] == list(range(total // 2))
        assert elapsed < 20, elapsed

        # The slow member is no longer delivered to.
        assert await app.publish("layout", "r", {"src": "end"}) == 1
        assert (await recv(healthy))[1]["message"] == {"src": "end"}

        # Now read what the slow member was sent: an in-order prefix, then close 1008.
        data = b""
        deadline = time.monotonic() + 10
        while True:
            frames = server_frames(data)
            if frames and frames[-1][0] == 0x8:
                break
            assert time.monotonic() < deadline, len(data)
            chunk = await asyncio.wait_for(loop.sock_recv(slow, 1 << 20), 5)
            assert chunk, "connection ended without a close frame"
            data += chunk
        _op, payload = frames[-1]
        assert struct.unpack("!H", payload[:2])[0] == 1008, payload
        texts = [json.loads(p) for o, p in frames[:-1]]
        assert all(o == 0x1 for o, _ in frames[:-1])
        # (Linux caps the kernel send buffer at tcp_wmem max, 4 MiB by default, so about
        # 2.7 MB of the 4.2 MB fit in the kernel before the server's queue fills.)
        assert len(texts) < total, "the slow member was never cut off"
        seen: dict[str, list[int]] = {"ws": [], "app": []}
        for m in texts:
            assert m[0] == "EVENT" and m[1]["room"] == "r", m
            seen[m[1]["message"]["src"]].append(m[1]["message"]["seq"])
        for src, seqs in seen.items():
            assert seqs == list(range(len(seqs))), src
        # Once the slow client goes, it is no longer a member.
        slow.close()
        await until(lambda: app.members("layout", "r") == ["healthy"])
        for ws in (healthy, pub):
            await ws.close()
    finally:
        slow.close()
        await app.stop(timeout=2)


async def test_member_that_pauses_then_resumes_gets_everything_intact() -> None:
    """Fan-out frames are shared between members; a member whose socket fills up keeps
    its own copy. A member in two rooms stops reading while both rooms get interleaved
    bursts (so its queue holds many shared ranges, then spills), a healthy member reads
    along; the paused member then reads: every frame intact, each room in order."""
    app = await make_app(max_queue_bytes=64 * 1024 * 1024)
    loop = asyncio.get_running_loop()
    paused = await raw_connect(app, "/layout", rcvbuf=4096)
    try:
        for room in ("a", "b"):
            join_cmd = json.dumps(["JOIN", {"room": room, "name": "paused"}])
            await loop.sock_sendall(paused, client_frame(0x1, join_cmd))
        healthy = await connect(app, max_size=None)
        await join(healthy, "a", "healthy")
        await until(lambda: sorted(app.members("layout", "a")) == ["healthy", "paused"])
        await until(lambda: app.members("layout", "b") == ["paused"])
        n, pad = 800, "y" * 8000
        for seq in range(n):
            await app.publish("layout", "a", {"seq": seq, "pad": pad})
            await app.publish("layout", "b", {"seq": seq})
            if seq % 50 == 49:
                for _ in range(50):
                    m = await recv(healthy)
                    assert m[1]["room"] == "a" and len(m[1]["message"]["pad"]) == 8000, m
        # 6.5 MB: more than the kernel takes (its send buffer is at most 4 MiB), so the
        # rest waits in the server's queue
        core = app._core
        queued = max(core.connection_info(c)["queued"] for c in core.connection_ids())
        assert queued > 100_000, queued
        paused.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        buf = bytearray()
        deadline = time.monotonic() + 10
        got: dict[str, list[int]] = {"a": [], "b": []}
        while len(got["a"]) + len(got["b"]) < 2 * n:
            assert time.monotonic() < deadline, {k: len(v) for k, v in got.items()}
            chunk = await asyncio.wait_for(loop.sock_recv(paused, 1 << 20), 5)
            assert chunk, "connection ended early"
            buf += chunk
            frames = server_frames(bytes(buf))
            # drop the whole frames just parsed; a cut frame stays in buf
            used = sum(len(p) + (2 if len(p) < 126 else 4) for _, p in frames)
            del buf[:used]
            for op, payload in frames:
                assert op == 0x1
                m = json.loads(payload)
                assert m[0] == "EVENT" and m[1]["sender"] == "server", m
                msg = m[1]["message"]
                if m[1]["room"] == "a":
                    assert msg["pad"] == pad
                got[m[1]["room"]].append(msg["seq"])
        assert got == {"a": list(range(n)), "b": list(range(n))}
        await healthy.close()
    finally:
        paused.close()
        await app.stop(timeout=2)


async def test_members_with_and_without_deflate_get_the_same_events(app: App) -> None:
    """A room whose members agreed different permessage-deflate parameters (none, the
    default window, server windows of 10 and 12 bits): each gets every event intact.
    Compressed frames are shared per window size; a frame compressed with a 15-bit
    window would refer 1500 bytes back, which a 10-bit client cannot decode."""
    from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

    kinds = {
        "plain": {"compression": None},
        "default": {},
        "bits10": {"extensions": [ClientPerMessageDeflateFactory(server_max_window_bits=10)]},
        "bits12": {"extensions": [ClientPerMessageDeflateFactory(server_max_window_bits=12)]},
    }
    members = {k: await connect(app, **kw) for k, kw in kinds.items()}
    for name, ws in members.items():
        await join(ws, "mixed", name)
    # and a raw member that decodes strictly within its 10-bit window
    loop = asyncio.get_running_loop()
    raw = await raw_connect(
        app, "/layout", extensions="permessage-deflate; server_max_window_bits=10"
    )
    join_cmd = json.dumps(["JOIN", {"room": "mixed", "name": "raw10"}])
    await loop.sock_sendall(raw, client_frame(0x1, join_cmd))
    await until(lambda: "raw10" in app.members("layout", "mixed"))
    pub = await connect(app)
    rnd = random.Random(7)
    blocks = ["".join(rnd.choices(string.ascii_letters, k=1500)) for _ in range(4)]
    messages = [{"seq": i, "text": blocks[i % 4] * 2} for i in range(40)]
    for m in messages:
        await send(pub, "NOTIFY", {"room": "mixed", "message": m})
    for name, ws in members.items():
        got = [await recv(ws) for _ in messages]
        assert got == [event("unknown", "mixed", m) for m in messages], name
        assert await barrier(ws) == []
    buf, frames = b"", []
    deadline = time.monotonic() + WAIT
    while len(frames) < len(messages):
        assert time.monotonic() < deadline, len(frames)
        buf += await asyncio.wait_for(loop.sock_recv(raw, 1 << 20), WAIT)
        frames = server_frames(buf)
    for (op, payload), m in zip(frames, messages, strict=True):
        assert op == 0x41, "compressed text (RSV1)"
        # 64-byte output steps: zlib then checks each distance against its 2**10 window
        d, out, data = zlib.decompressobj(-10), [], payload + b"\x00\x00\xff\xff"
        while data:
            out.append(d.decompress(data, 64))
            data = d.unconsumed_tail
        assert json.loads(b"".join(out)) == event("unknown", "mixed", m)
    raw.close()
    for ws in [*members.values(), pub]:
        await ws.close()


async def test_order_kept_per_publisher_and_room(app: App) -> None:
    """Three publishers into two rooms, interleaved; every receiver sees each
    (publisher, room) sequence complete and in order."""
    subs = [await connect(app) for _ in range(2)]
    await join(subs[0], "r1", "s0")
    await join(subs[0], "r2", "s0")
    await join(subs[1], "r1", "s1")
    pubs = [await connect(app) for _ in range(3)]
    for i, p in enumerate(pubs):
        await join(p, f"own-{i}", f"p{i}")
    n = 300

    async def publish(i: int) -> None:
        for seq in range(n):
            await send(pubs[i], "NOTIFY", {"room": "r1", "message": seq})
            await send(pubs[i], "NOTIFY", {"room": "r2", "message": seq})

    await asyncio.gather(*(publish(i) for i in range(3)))

    async def collect(ws: websockets.ClientConnection, count: int) -> dict[Any, list[int]]:
        seqs: dict[Any, list[int]] = {}
        for _ in range(count):
            m = await recv(ws)
            seqs.setdefault((m[1]["sender"], m[1]["room"]), []).append(m[1]["message"])
        return seqs

    s0, s1 = await asyncio.gather(collect(subs[0], 3 * 2 * n), collect(subs[1], 3 * n))
    assert set(s0) == {(f"p{i}", r) for i in range(3) for r in ("r1", "r2")}
    assert set(s1) == {(f"p{i}", "r1") for i in range(3)}
    for seqs in (*s0.values(), *s1.values()):
        assert seqs == list(range(n))
    for ws in (*subs, *pubs):
        await ws.close()


# ---- load -------------------------------------------------------------------------------


async def test_two_hundred_clients_in_one_room(app: App) -> None:
    n = 200
    t0 = time.monotonic()
    socks = await asyncio.gather(*(connect(app, compression=None) for _ in range(n)))
    for i, ws in enumerate(socks):
        await send(ws, "JOIN", {"room": "crowd", "name": f"c{i}"})
    await until(lambda: len(app.members("layout", "crowd")) == n, 10)

    async def run(i: int, ws: websockets.ClientConnection) -> list[int]:
        await send(ws, "NOTIFY", {"room": "crowd", "message": i})
        froms = []
        for _ in range(n - 1):
            m = await recv(ws, 20)
            assert m[0] == "EVENT" and m[1]["sender"] == f"c{m[1]['message']}", m
            froms.append(m[1]["message"])
        return froms

    results = await asyncio.wait_for(
        asyncio.gather(*(run(i, ws) for i, ws in enumerate(socks))), 20
    )
    for i, froms in enumerate(results):
        assert sorted(froms) == [j for j in range(n) if j != i]
    assert time.monotonic() - t0 < 20
    await asyncio.gather(*(ws.close() for ws in socks))
