"""Lobbies on /lobby (PROTOCOLS.md 2.2): PEERS / JOINED / LEFT / BROADCAST / RTCSIGNAL
over plain WebSocket clients. In-process App, loopback only, every wait bounded."""

from __future__ import annotations

import asyncio
import json
import urllib.parse
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets

from scanbridge import App, Config

WAIT = 5.0
QUIET = 0.3  # how long "nothing more arrives" is watched for
BIG_INT = 123456789012345678901234567890


@pytest.fixture
async def app() -> AsyncIterator[App]:
    a = App(Config(port=0, journal=":memory:"))
    await a.start()
    yield a
    await a.stop(timeout=2)


async def connect(app: App, lobby: str | None = None) -> websockets.ClientConnection:
    url = f"{app.url}/lobby"
    if lobby is not None:
        url += "?" + urllib.parse.urlencode({"lobbyId": lobby})
    return await asyncio.wait_for(websockets.connect(url), WAIT)


async def send(ws: websockets.ClientConnection, typ: str, payload: Any) -> None:
    await ws.send(json.dumps([typ, payload]))


async def recv(ws: websockets.ClientConnection, timeout: float = WAIT) -> Any:
    msg = await asyncio.wait_for(ws.recv(), timeout)
    assert isinstance(msg, str), msg
    return json.loads(msg)


async def quiet(*socks: websockets.ClientConnection) -> None:
    """Assert that nothing (more) arrives on any of `socks` for QUIET seconds."""

    async def one(ws: websockets.ClientConnection) -> None:
        try:
            extra = await asyncio.wait_for(ws.recv(), QUIET)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected message: {extra!r}")

    await asyncio.gather(*(one(ws) for ws in socks))


async def peers(ws: websockets.ClientConnection) -> list[str]:
    m = await recv(ws)
    assert m[0] == "PEERS" and isinstance(m[1], list), m
    return m[1]


async def joined_id(ws: websockets.ClientConnection) -> str:
    m = await recv(ws)
    assert m[0] == "JOINED" and isinstance(m[1], str), m
    return m[1]


async def lobby_of_three(app: App, lobby: str = "L") -> tuple[list[Any], list[str]]:
    """Three sockets in `lobby` via ?lobbyId=, with their ids (learned from JOINED)."""
    a = await connect(app, lobby)
    assert await peers(a) == []
    b = await connect(app, lobby)
    b_peers = await peers(b)
    b_id = await joined_id(a)
    assert len(b_peers) == 1
    a_id = b_peers[0]
    c = await connect(app, lobby)
    assert sorted(await peers(c)) == sorted([a_id, b_id])
    c_id = await joined_id(a)
    assert await joined_id(b) == c_id
    return [a, b, c], [a_id, b_id, c_id]


async def close_all(*socks: websockets.ClientConnection) -> None:
    await asyncio.gather(*(ws.close() for ws in socks))


# ---- PEERS / JOINED ---------------------------------------------------------------------


async def test_connect_with_lobby_id_gets_peers_and_others_get_joined(app: App) -> None:
    socks, ids = await lobby_of_three(app)
    a, b, c = socks
    assert len(set(ids)) == 3
    for i in ids:
        assert str(uuid.UUID(i)) == i.lower()
    await quiet(a, b, c)  # the newcomer gets no JOINED about itself
    d = await connect(app, "other-lobby")
    assert await peers(d) == []  # lobbies are separate
    await quiet(a, b, c)
    await close_all(a, b, c, d)


async def test_connect_without_lobby_id_gets_nothing(app: App) -> None:
    a = await connect(app)
    await quiet(a)
    await a.close()


async def test_join_sends_joined_to_every_member_including_joiner(app: App) -> None:
    (a, b, _c), ids = await lobby_of_three(app)
    d = await connect(app)
    await send(d, "JOIN", "L")
    d_id = await joined_id(d)
    assert d_id not in ids
    for ws in (a, b, _c):
        assert await joined_id(ws) == d_id
    e = await connect(app)
    await send(e, "JOIN", "L")
    e_id = await joined_id(e)
    for ws in (a, b, _c, d):
        assert await joined_id(ws) == e_id
    assert str(uuid.UUID(e_id)) == e_id.lower() and e_id != d_id
    await quiet(a, b, _c, d, e)
    await close_all(a, b, _c, d, e)


async def test_join_by_message_then_peers_for_next_connect(app: App) -> None:
    a, b = await connect(app), await connect(app)
    await send(a, "JOIN", "X")
    a_id = await joined_id(a)
    await send(b, "JOIN", "X")
    b_id = await joined_id(b)
    assert await joined_id(a) == b_id
    c = await connect(app, "X")
    assert sorted(await peers(c)) == sorted([a_id, b_id])
    await close_all(a, b, c)


async def test_integer_lobby_id_is_its_decimal_form(app: App) -> None:
    a = await connect(app, "7")
    assert await peers(a) == []
    b = await connect(app)
    await send(b, "JOIN", 7)
    b_id = await joined_id(b)
    assert await joined_id(a) == b_id
    await close_all(a, b)


async def test_lobby_id_in_query_is_percent_decoded(app: App) -> None:
    lobby = "a b&c=ü/1"
    a = await connect(app, lobby)  # sent percent-encoded
    assert await peers(a) == []
    b = await connect(app)
    await send(b, "JOIN", lobby)
    b_id = await joined_id(b)
    assert await joined_id(a) == b_id
    await close_all(a, b)


# ---- BROADCAST ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    ["hello", 42, BIG_INT, None, [1, {"a": [True, None]}], {"sdp": "v=0\r\n", "n": 1.5}],
    ids=lambda m: type(m).__name__,
)
async def test_broadcast_reaches_every_member_including_sender(app: App, message: Any) -> None:
    (a, b, c), ids = await lobby_of_three(app)
    outsider = await connect(app, "elsewhere")
    assert await peers(outsider) == []
    await send(b, "BROADCAST", {"message": message})
    expected = ["MESSAGE", {"from": ids[1], "message": message}]
    for ws in (a, b, c):
        assert await recv(ws) == expected
    await quiet(a, b, c, outsider)
    await close_all(a, b, c, outsider)


async def test_broadcast_string_payload(app: App) -> None:
    a = await connect(app)
    await send(a, "JOIN", "S")
    a_id = await joined_id(a)
    await send(a, "BROADCAST", json.dumps({"message": {"k": "v"}}))
    assert await recv(a) == ["MESSAGE", {"from": a_id, "message": {"k": "v"}}]
    await a.close()


# ---- RTCSIGNAL ---------------------------------------------------------------------------


async def test_rtcsignal_relayed_unchanged_to_target_only(app: App) -> None:
    (a, b, c), (a_id, _b_id, c_id) = await lobby_of_three(app)
    signal = {
        "to": c_id,
        "type": "offer",
        "sdp": "v=0\r\no=- 46117 2 IN IP4 127.0.0.1\r\n",
        "candidate": {"sdpMLineIndex": 0, "priority": BIG_INT, "x": [1.25, None, "ü"]},
    }
    await send(a, "RTCSIGNAL", signal)
    assert await recv(c) == ["RTCSIGNAL", signal]
    await quiet(a, b, c)  # not to the other members, not back to the sender
    # and back the other way, string payload form
    reply = {"to": a_id, "type": "answer", "from": c_id}
    await send(c, "RTCSIGNAL", json.dumps(reply))
    assert await recv(a) == ["RTCSIGNAL", reply]
    await quiet(a, b, c)
    await close_all(a, b, c)


async def test_rtcsignal_unknown_target_gets_error(app: App) -> None:
    (a, b, _c), _ids = await lobby_of_three(app)
    for target in (str(uuid.uuid4()), "not-a-socket"):
        await send(a, "RTCSIGNAL", {"to": target, "type": "offer"})
        m = await recv(a)
        assert m[0] == "ERROR" and set(m[1]) == {"code", "message"}, m
    await send(a, "RTCSIGNAL", {"type": "offer"})  # no "to" at all
    m = await recv(a)
    assert m[0] == "ERROR", m
    await quiet(a, b, _c)
    await close_all(a, b, _c)


async def test_rtcsignal_to_a_disconnected_socket_gets_error(app: App) -> None:
    (a, b, c), (_a_id, _b_id, c_id) = await lobby_of_three(app)
    await c.close()
    assert await recv(a) == ["LEFT", c_id]
    assert await recv(b) == ["LEFT", c_id]
    d = await connect(app, "L")  # a new socket may reuse the server's slot
    await peers(d)
    await joined_id(a)
    await joined_id(b)
    await send(a, "RTCSIGNAL", {"to": c_id, "type": "offer"})
    m = await recv(a)
    assert m[0] == "ERROR", m
    await quiet(a, b, d)
    await close_all(a, b, d)


# ---- LEAVE / LEFT ------------------------------------------------------------------------


async def test_leave_sends_left_to_remaining_members(app: App) -> None:
    (a, b, c), (_a_id, b_id, _c_id) = await lobby_of_three(app)
    await send(b, "LEAVE", "L")
    assert await recv(a) == ["LEFT", b_id]
    assert await recv(c) == ["LEFT", b_id]
    await quiet(a, b, c)
    # b no longer hears the lobby
    await send(a, "BROADCAST", {"message": "after"})
    assert (await recv(a))[0] == "MESSAGE"
    assert (await recv(c))[0] == "MESSAGE"
    await quiet(b)
    # and a new member's PEERS no longer lists it
    d = await connect(app, "L")
    assert b_id not in await peers(d)
    await close_all(a, b, c, d)


async def test_disconnect_sends_left_to_remaining_members(app: App) -> None:
    (a, b, c), (_a_id, b_id, _c_id) = await lobby_of_three(app)
    await b.close()
    assert await recv(a) == ["LEFT", b_id]
    assert await recv(c) == ["LEFT", b_id]
    await quiet(a, c)
    d = await connect(app, "L")
    assert len(await peers(d)) == 2
    await close_all(a, c, d)


async def test_abrupt_disconnect_sends_left(app: App) -> None:
    a = await connect(app, "L")
    assert await peers(a) == []
    b = await connect(app, "L")
    await peers(b)
    b_id = await joined_id(a)
    b.transport.abort()  # TCP gone without a close handshake
    assert await recv(a) == ["LEFT", b_id]
    await a.close()


async def test_joining_another_lobby_leaves_the_first(app: App) -> None:
    (a, b, c), (_a_id, b_id, _c_id) = await lobby_of_three(app, "first")
    z = await connect(app, "second")
    assert await peers(z) == []
    await send(b, "JOIN", "second")
    assert await recv(a) == ["LEFT", b_id]
    assert await recv(c) == ["LEFT", b_id]
    assert await recv(b) == ["JOINED", b_id]
    assert await recv(z) == ["JOINED", b_id]
    await quiet(a, b, c, z)
    await send(a, "BROADCAST", {"message": "first only"})
    assert (await recv(a))[1]["message"] == "first only"
    assert (await recv(c))[1]["message"] == "first only"
    await quiet(b, z)
    await send(b, "BROADCAST", {"message": "second only"})
    assert await recv(z) == ["MESSAGE", {"from": b_id, "message": "second only"}]
    assert await recv(b) == ["MESSAGE", {"from": b_id, "message": "second only"}]
    await quiet(a, c)
    await close_all(a, b, c, z)


# ---- errors ------------------------------------------------------------------------------


BAD_LOBBY_INPUT = [
    ("not json", "{"),
    ("not an array", '{"JOIN": "L"}'),
    ("one element", '["JOIN"]'),
    ("type not a string", '[5, "L"]'),
    ("unknown type", '["NOTIFY", {"room": "r"}]'),
    ("join with an object", '["JOIN", {"lobby": "L"}]'),
    ("join with empty id", '["JOIN", ""]'),
    ("broadcast payload a number", '["BROADCAST", 3]'),
    ("rtcsignal to not a string", '["RTCSIGNAL", {"to": 5}]'),
]


async def test_invalid_lobby_input_gets_error_and_socket_stays_open(app: App) -> None:
    a = await connect(app, "L")
    assert await peers(a) == []
    b = await connect(app, "L")
    await peers(b)
    b_id = await joined_id(a)
    for why, text in BAD_LOBBY_INPUT:
        await b.send(text)
        m = await recv(b)
        assert m[0] == "ERROR", (why, m)
        assert set(m[1]) == {"code", "message"} and m[1]["code"] and m[1]["message"], (why, m)
    await b.send(b"\x00binary")
    assert (await recv(b))[0] == "ERROR"
    await quiet(a)
    await send(b, "BROADCAST", {"message": "still open"})
    assert await recv(a) == ["MESSAGE", {"from": b_id, "message": "still open"}]
    await close_all(a, b)


async def test_broadcast_outside_a_lobby_reaches_nobody(app: App) -> None:
    member = await connect(app, "L")
    assert await peers(member) == []
    a = await connect(app)
    await send(a, "BROADCAST", {"message": "anyone?"})
    try:
        m = await recv(a, QUIET)
        assert m[0] == "ERROR", m  # an ERROR is fine, a MESSAGE is not
    except TimeoutError:
        pass
    await quiet(member)
    await send(a, "JOIN", "L")  # still open
    assert await recv(member) == ["JOINED", await joined_id(a)]
    await close_all(a, member)
