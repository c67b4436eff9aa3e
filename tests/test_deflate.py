"""permessage-deflate (RFC 7692): negotiation, round trips, and the inflated size limit."""

from __future__ import annotations

import asyncio
import random
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
import websockets
from conftest import ServerProcess, start_server
from websockets.asyncio.client import connect as ws_connect
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
)
from wsraw import BINARY, CLOSE, CONT, PING, PONG, TEXT, RawWS, deflate_message

TAIL = b"\x00\x00\xff\xff"
LIMIT = 100_000


@pytest.fixture(scope="module")
def echo_server() -> Iterator[ServerProcess]:
    """This module's negotiation tests: a server that keeps a compression context
    per connection (compression_context_takeover), so it agrees exactly what the
    client offers. The default server (shared compressors) has its own tests below."""
    s = start_server(
        "--echo",
        "--port",
        "0",
        "--log-level",
        "warning",
        env={"SCANBRIDGE_COMPRESSION_CONTEXT_TAKEOVER": "true"},
    )
    yield s
    s.stop()


@pytest.fixture(scope="module")
def shared_server() -> Iterator[ServerProcess]:
    """The default: server_no_context_takeover agreed with everyone."""
    s = start_server("--echo", "--port", "0", "--log-level", "warning")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def limited_server() -> Iterator[ServerProcess]:
    s = start_server(
        "--echo", "--port", "0", "--log-level", "warning", "--max-message-bytes", str(LIMIT)
    )
    yield s
    s.stop()


def parse_extensions(header: str | None) -> list[tuple[str, dict[str, str | None]]]:
    """`a; p=1; q, b` -> [("a", {"p": "1", "q": None}), ("b", {})]."""
    out: list[tuple[str, dict[str, str | None]]] = []
    for ext in (header or "").split(","):
        if not ext.strip():
            continue
        name, *params = (p.strip() for p in ext.split(";"))
        parsed: dict[str, str | None] = {}
        for p in params:
            key, eq, value = p.partition("=")
            assert key.strip() not in parsed, f"duplicate parameter in {header!r}"
            parsed[key.strip()] = value.strip().strip('"') if eq else None
        out.append((name.lower(), parsed))
    return out


def negotiate(server: ServerProcess, *offers: str) -> list[tuple[str, dict[str, str | None]]]:
    """Handshake offering `offers` (one header line each); the 101's extensions, parsed."""
    with RawWS.connect(server.host, server.port, extensions=list(offers)) as ws:
        assert ws.response.status == 101
        accepted = parse_extensions(ws.response.header("sec-websocket-extensions"))
        # Whatever was accepted, the connection works (uncompressed frames are allowed).
        ws.echo(TEXT, "négociation".encode())
        return accepted


# -- negotiation ----------------------------------------------------------------------------


def test_plain_offer_is_accepted(echo_server: ServerProcess) -> None:
    assert negotiate(echo_server, "permessage-deflate") == [("permessage-deflate", {})]


def test_server_no_context_takeover_is_accepted(echo_server: ServerProcess) -> None:
    accepted = negotiate(echo_server, "permessage-deflate; server_no_context_takeover")
    assert accepted == [("permessage-deflate", {"server_no_context_takeover": None})]


def test_client_no_context_takeover(echo_server: ServerProcess) -> None:
    accepted = negotiate(echo_server, "permessage-deflate; client_no_context_takeover")
    assert len(accepted) == 1
    name, params = accepted[0]
    assert name == "permessage-deflate"
    # The server may acknowledge it (valueless) or ignore it, nothing else.
    assert params in ({}, {"client_no_context_takeover": None})


def test_client_max_window_bits_without_value(echo_server: ServerProcess) -> None:
    accepted = negotiate(echo_server, "permessage-deflate; client_max_window_bits")
    assert len(accepted) == 1
    name, params = accepted[0]
    assert name == "permessage-deflate"
    assert set(params) <= {"client_max_window_bits"}
    if "client_max_window_bits" in params:  # then it needs a value in 8..15
        assert params["client_max_window_bits"] is not None
        assert 8 <= int(params["client_max_window_bits"]) <= 15


@pytest.mark.parametrize("bits", [9, 10, 15])
def test_client_max_window_bits_with_value(bits: int, echo_server: ServerProcess) -> None:
    accepted = negotiate(echo_server, f"permessage-deflate; client_max_window_bits={bits}")
    assert len(accepted) == 1
    name, params = accepted[0]
    assert name == "permessage-deflate"
    assert set(params) <= {"client_max_window_bits"}
    if "client_max_window_bits" in params:  # RFC 7692 7.1.2.2: not above the offer
        value = params["client_max_window_bits"]
        assert value is not None
        assert 8 <= int(value) <= bits


@pytest.mark.parametrize("bits", [9, 10, 12, 15])
def test_server_max_window_bits_is_accepted(bits: int, echo_server: ServerProcess) -> None:
    """RFC 7692 7.1.2.1: accepting means answering with the same or a smaller value."""
    accepted = negotiate(echo_server, f"permessage-deflate; server_max_window_bits={bits}")
    assert len(accepted) == 1
    name, params = accepted[0]
    assert name == "permessage-deflate"
    assert set(params) == {"server_max_window_bits"}
    value = params["server_max_window_bits"]
    assert value is not None
    assert 8 <= int(value) <= bits


def test_quoted_parameter_value(echo_server: ServerProcess) -> None:
    accepted = negotiate(echo_server, 'permessage-deflate; server_max_window_bits="10"')
    assert accepted == [("permessage-deflate", {"server_max_window_bits": "10"})]


def test_all_four_parameters(echo_server: ServerProcess) -> None:
    offer = (
        "permessage-deflate;server_no_context_takeover;client_no_context_takeover;"
        "server_max_window_bits=12;client_max_window_bits=11"
    )
    [(name, params)] = negotiate(echo_server, offer)
    assert name == "permessage-deflate"
    assert "server_no_context_takeover" in params
    assert params["server_max_window_bits"] is not None
    assert 8 <= int(params["server_max_window_bits"]) <= 12
    assert set(params) <= {
        "server_no_context_takeover",
        "client_no_context_takeover",
        "server_max_window_bits",
        "client_max_window_bits",
    }
    if params.get("client_max_window_bits") is not None:
        assert int(params["client_max_window_bits"]) <= 11  # type: ignore[arg-type]


DECLINED = {
    "server_max_window_bits=8": "permessage-deflate; server_max_window_bits=8",
    "unknown-parameter": "permessage-deflate; foo=1",
    "unknown-valueless-parameter": "permessage-deflate; bar",
    "server_max_window_bits=16": "permessage-deflate; server_max_window_bits=16",
    "server_max_window_bits=7": "permessage-deflate; server_max_window_bits=7",
    "server_max_window_bits-no-value": "permessage-deflate; server_max_window_bits",
    "server_max_window_bits=abc": "permessage-deflate; server_max_window_bits=abc",
    "client_max_window_bits=7": "permessage-deflate; client_max_window_bits=7",
    "client_max_window_bits=16": "permessage-deflate; client_max_window_bits=16",
    "duplicate-parameter": "permessage-deflate; server_no_context_takeover; "
    "server_no_context_takeover",
    "no_context_takeover-with-value": "permessage-deflate; server_no_context_takeover=1",
    "other-extension": "x-webkit-deflate-frame",
}


@pytest.mark.parametrize("offer", DECLINED.values(), ids=DECLINED.keys())
def test_offer_is_declined(offer: str, echo_server: ServerProcess) -> None:
    """No extension in the 101, and the connection still works."""
    assert negotiate(echo_server, offer) == []


@pytest.mark.parametrize(
    ("offers", "expected"),
    [
        (
            ["permessage-deflate; server_max_window_bits=8, permessage-deflate"],
            [("permessage-deflate", {})],
        ),
        (
            [
                "permessage-deflate; server_max_window_bits=8, "
                "permessage-deflate; server_no_context_takeover"
            ],
            [("permessage-deflate", {"server_no_context_takeover": None})],
        ),
        (
            ["permessage-deflate; foo=1", "permessage-deflate; server_max_window_bits=11"],
            [("permessage-deflate", {"server_max_window_bits": "11"})],
        ),
        (
            ["x-unknown, permessage-deflate; server_no_context_takeover"],
            [("permessage-deflate", {"server_no_context_takeover": None})],
        ),
    ],
    ids=["bits8-then-plain", "bits8-then-no-takeover", "two-header-lines", "unknown-ext-first"],
)
def test_declined_offer_then_accepted_one(
    offers: list[str], expected: list[Any], echo_server: ServerProcess
) -> None:
    assert negotiate(echo_server, *offers) == expected


def test_only_one_deflate_is_accepted(echo_server: ServerProcess) -> None:
    accepted = negotiate(
        echo_server, "permessage-deflate; server_no_context_takeover, permessage-deflate"
    )
    assert accepted == [("permessage-deflate", {"server_no_context_takeover": None})]


# -- raw compressed frames ------------------------------------------------------------------------


class Inflater:
    def __init__(self, fresh_each_message: bool, wbits: int = 15) -> None:
        self.fresh, self.wbits = fresh_each_message, wbits
        self.d = zlib.decompressobj(-wbits)

    def __call__(self, data: bytes) -> bytes:
        if self.fresh:
            self.d = zlib.decompressobj(-self.wbits)
        # Small output steps: zlib then checks back-references against its own
        # 2**wbits window ("invalid distance too far back"), not the whole output.
        out, data = [], data + TAIL
        while data:
            out.append(self.d.decompress(data, 64))
            data = self.d.unconsumed_tail
        while chunk := self.d.decompress(b"", 64):  # output still pending in zlib
            out.append(chunk)
        return b"".join(out)


def recv_compressed(ws: RawWS, inflate: Inflater) -> tuple[int, bytes]:
    f = ws.recv_frame()
    assert f.opcode in (TEXT, BINARY), f
    assert f.rsv == 4, "echo of a compressible message should be compressed (RSV1)"
    parts, opcode = [f.payload], f.opcode
    while not f.fin:
        f = ws.recv_frame()
        assert (f.opcode, f.rsv) == (CONT, 0), f
        parts.append(f.payload)
    return opcode, inflate(b"".join(parts))


def test_raw_compressed_round_trip_with_context_takeover(echo_server: ServerProcess) -> None:
    """Both directions keep their LZ77 window across messages (the default)."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    inflate = Inflater(fresh_each_message=False)
    msg = "Grüße aus der Kompression! ".encode() * 40
    with RawWS.connect(echo_server.host, echo_server.port, extensions="permessage-deflate") as ws:
        assert ws.response.header("sec-websocket-extensions") == "permessage-deflate"
        for i in range(5):
            body = comp.compress(msg) + comp.flush(zlib.Z_SYNC_FLUSH)
            assert body.endswith(TAIL)
            if i:
                assert len(body) < 20, "second and later messages refer back to the first"
            ws.send_frame(TEXT, body[:-4], rsv=4)
            assert recv_compressed(ws, inflate) == (TEXT, msg)
        # Uncompressed messages are still allowed on a deflate connection.
        ws.send_frame(BINARY, b"plain")
        f = ws.recv_frame()
        assert f.fin
        assert f.opcode == BINARY
        assert (inflate(f.payload) if f.rsv == 4 else f.payload) == b"plain"


OFFERS = {
    "plain": "permessage-deflate",
    "client-bits": "permessage-deflate; client_max_window_bits",
    "browser": "permessage-deflate; client_max_window_bits=15",
    "server-bits": "permessage-deflate; server_max_window_bits=10",
    "no-takeover": "permessage-deflate; server_no_context_takeover",
    "all-four": "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
    "server_max_window_bits=12; client_max_window_bits=11",
}


@pytest.mark.parametrize("offer", OFFERS.values(), ids=OFFERS.keys())
def test_default_server_agrees_no_context_takeover(
    offer: str, shared_server: ServerProcess
) -> None:
    """RFC 7692 7.1.1.1 lets a server add server_no_context_takeover to any accepted
    offer; scanbridge does by default, and then compresses every message on its own."""
    [(name, params)] = negotiate(shared_server, offer)
    assert name == "permessage-deflate"
    assert "server_no_context_takeover" in params and params["server_no_context_takeover"] is None
    wbits = int(params.get("server_max_window_bits") or 15)
    msg = "Grüße aus der Kompression! ".encode() * 40
    with RawWS.connect(shared_server.host, shared_server.port, extensions=offer) as ws:
        for _ in range(4):
            ws.send_frame(TEXT, msg)
            # a fresh decompressor per message: no reference to earlier messages
            assert recv_compressed(ws, Inflater(fresh_each_message=True, wbits=wbits)) == (
                TEXT,
                msg,
            )


def test_default_server_compresses_each_message_alike(shared_server: ServerProcess) -> None:
    """Shared compressors: the same message gives the same compressed frame, on one
    connection and across connections (what lets a room share one compressed frame)."""
    msg = b'{"event":"scan","code":"4006381333931","pad":"' + b"x" * 300 + b'"}'
    frames = []
    for _ in range(2):
        with RawWS.connect(
            shared_server.host, shared_server.port, extensions="permessage-deflate"
        ) as ws:
            for _ in range(2):
                ws.send_frame(TEXT, msg)
                f = ws.recv_frame()
                assert f.rsv == 4 and f.fin
                frames.append(f.payload)
    assert len(set(frames)) == 1
    assert len(frames[0]) < len(msg) / 3


def test_raw_compressed_fragmented_message(echo_server: ServerProcess) -> None:
    msg = ("fragmenté " * 500).encode()
    body = deflate_message(msg)
    third = len(body) // 3
    with RawWS.connect(echo_server.host, echo_server.port, extensions="permessage-deflate") as ws:
        ws.send_frame(TEXT, body[:third], rsv=4, fin=False)
        ws.send_frame(CONT, body[third : 2 * third], fin=False)
        ws.send_frame(CONT, body[2 * third :])
        assert recv_compressed(ws, Inflater(fresh_each_message=False)) == (TEXT, msg)


def test_ping_between_compressed_fragments(echo_server: ServerProcess) -> None:
    msg = ("ping in the middle of a compressed message " * 30).encode()
    body = deflate_message(msg)
    with RawWS.connect(echo_server.host, echo_server.port, extensions="permessage-deflate") as ws:
        ws.send_frame(TEXT, body[:5], rsv=4, fin=False)
        ws.send_frame(PING, b"mid")
        f = ws.recv_frame()
        assert (f.opcode, f.payload) == (PONG, b"mid")
        ws.send_frame(CONT, body[5:])
        assert recv_compressed(ws, Inflater(fresh_each_message=False)) == (TEXT, msg)


@pytest.mark.parametrize(
    "offer", ["permessage-deflate", "permessage-deflate; client_no_context_takeover"]
)
def test_client_message_ending_with_final_block(offer: str, echo_server: ServerProcess) -> None:
    """RFC 7692 7.2.3.5: a sender may end a message with a BFINAL block (Z_FINISH); the
    receiver must then start a fresh inflater for the next message."""
    inflate = Inflater(fresh_each_message=False)  # for the server's own stream
    with RawWS.connect(echo_server.host, echo_server.port, extensions=offer) as ws:
        for text in (b"final block one", b"final block two"):
            c = zlib.compressobj(6, zlib.DEFLATED, -15)
            ws.send_frame(TEXT, c.compress(text) + c.flush(zlib.Z_FINISH), rsv=4)
            f = ws.recv_frame()
            assert f.opcode == TEXT, f
            assert (inflate(f.payload) if f.rsv else f.payload) == text
        ws.send_frame(TEXT, deflate_message(b"then a normal one"), rsv=4)
        f = ws.recv_frame()
        assert f.opcode == TEXT, f
        assert (inflate(f.payload) if f.rsv else f.payload) == b"then a normal one"


def test_raw_server_no_context_takeover(echo_server: ServerProcess) -> None:
    """Each server message must inflate on its own with a fresh window."""
    msg = b"same message, again and again " * 20
    offer = "permessage-deflate; server_no_context_takeover"
    with RawWS.connect(echo_server.host, echo_server.port, extensions=offer) as ws:
        inflate = Inflater(fresh_each_message=True)
        for _ in range(4):
            ws.send_frame(BINARY, deflate_message(msg), rsv=4)
            assert recv_compressed(ws, inflate) == (BINARY, msg)


@pytest.mark.parametrize("bits", [9, 10, 12])
def test_raw_server_max_window_bits_is_honoured(bits: int, echo_server: ServerProcess) -> None:
    """A 4 KiB random block repeated: back-references would be 4096 bytes long, beyond a
    2**bits window; an inflater with that window must still decode every message."""
    block = random.Random(bits).randbytes(4096)
    msg = block * 8
    offer = f"permessage-deflate; server_max_window_bits={bits}"
    with RawWS.connect(echo_server.host, echo_server.port, extensions=offer) as ws:
        inflate = Inflater(fresh_each_message=False, wbits=bits)
        for _ in range(3):
            ws.send_frame(BINARY, deflate_message(msg), rsv=4)
            opcode, data = recv_compressed(ws, inflate)
            assert (opcode, data == msg) == (BINARY, True)


def test_compressed_invalid_utf8_is_1007(echo_server: ServerProcess) -> None:
    with RawWS.connect(echo_server.host, echo_server.port, extensions="permessage-deflate") as ws:
        ws.send_frame(TEXT, deflate_message(b"valid then \xff"), rsv=4)
        assert ws.expect_close().close_code == 1007


def test_corrupt_compressed_data_fails_the_connection(echo_server: ServerProcess) -> None:
    with RawWS.connect(echo_server.host, echo_server.port, extensions="permessage-deflate") as ws:
        ws.send_frame(BINARY, b"\xff\xff\xff\xff garbage", rsv=4)
        assert ws.expect_close().close_code in (1002, 1007)


def test_rsv1_without_negotiation_is_1002(echo_server: ServerProcess) -> None:
    with RawWS.connect(echo_server.host, echo_server.port, extensions="foo") as ws:
        assert ws.response.header("sec-websocket-extensions") is None
        ws.send_frame(TEXT, deflate_message(b"hello"), rsv=4)
        assert ws.expect_close().close_code == 1002


# -- the size limit counts inflated bytes ----------------------------------------------------------


def test_deflate_bomb_is_1009(limited_server: ServerProcess) -> None:
    body = deflate_message(b"\x00" * 1_000_000)
    assert len(body) < 2000  # tiny on the wire
    with RawWS.connect(
        limited_server.host, limited_server.port, extensions="permessage-deflate"
    ) as ws:
        ws.send_frame(BINARY, body, rsv=4)
        assert ws.expect_close().close_code == 1009


def test_fragmented_deflate_bomb_is_1009(limited_server: ServerProcess) -> None:
    body = deflate_message(b"\x00" * 1_000_000)
    with RawWS.connect(
        limited_server.host, limited_server.port, extensions="permessage-deflate"
    ) as ws:
        ws.send_frame(BINARY, body[:10], rsv=4, fin=False)
        ws.send_frame(CONT, body[10:])
        assert ws.expect_close().close_code == 1009


async def test_websockets_deflate_bomb_is_1009(limited_server: ServerProcess) -> None:
    url = limited_server.url + "/echo"
    async with ws_connect(url, compression="deflate") as ws:
        await ws.send(b"\x00" * 1_000_000)
        with pytest.raises(websockets.ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), 10)
        assert info.value.rcvd is not None
        assert info.value.rcvd.code == 1009


@pytest.mark.parametrize("size", [LIMIT, LIMIT + 1])
def test_inflated_limit_is_exact(size: int, limited_server: ServerProcess) -> None:
    msg = b"\x00" * size
    with RawWS.connect(
        limited_server.host, limited_server.port, extensions="permessage-deflate"
    ) as ws:
        ws.send_frame(BINARY, deflate_message(msg), rsv=4)
        if size <= LIMIT:
            assert recv_compressed(ws, Inflater(fresh_each_message=False)) == (BINARY, msg)
        else:
            assert ws.expect_close().close_code == 1009


def test_incompressible_message_at_limit_with_deflate(limited_server: ServerProcess) -> None:
    msg = random.Random(1).randbytes(LIMIT)
    body = deflate_message(msg)
    assert len(body) > LIMIT  # deflate adds a few bytes to random data
    with RawWS.connect(
        limited_server.host, limited_server.port, extensions="permessage-deflate"
    ) as ws:
        ws.send_frame(BINARY, body, rsv=4)
        f = ws.recv_frame()
        assert f.opcode != CLOSE, (f.close_code, f.close_reason)
        assert f.opcode == BINARY


# -- websockets with each parameter ----------------------------------------------------------------

FACTORIES = {
    "default": {},
    "server_no_context_takeover": {"server_no_context_takeover": True},
    "client_no_context_takeover": {"client_no_context_takeover": True},
    "both_no_context_takeover": {
        "server_no_context_takeover": True,
        "client_no_context_takeover": True,
    },
    "server_max_window_bits=9": {"server_max_window_bits": 9},
    "server_max_window_bits=10": {"server_max_window_bits": 10},
    "server_max_window_bits=15": {"server_max_window_bits": 15},
    "client_max_window_bits=None": {"client_max_window_bits": None},
    "client_max_window_bits=9": {"client_max_window_bits": 9},
    "client_max_window_bits=12": {"client_max_window_bits": 12},
    "all": {
        "server_no_context_takeover": True,
        "client_no_context_takeover": True,
        "server_max_window_bits": 11,
        "client_max_window_bits": 10,
    },
}


@pytest.mark.parametrize("params", FACTORIES.values(), ids=FACTORIES.keys())
async def test_websockets_round_trip(params: dict[str, Any], echo_server: ServerProcess) -> None:
    factory = ClientPerMessageDeflateFactory(**params)
    block = random.Random(7).randbytes(4096)
    messages: list[str | bytes] = [
        "Grüße! " * 300,
        "Grüße! " * 300,  # identical: exercises (no) context takeover
        block * 6,  # long-distance repeats: exercises the window size
        block * 6,
        "",
        b"",
        "ü",
        random.Random(8).randbytes(70000),  # incompressible
    ]
    async with ws_connect(
        echo_server.url + "/echo", extensions=[factory], compression=None, max_size=None
    ) as ws:
        [ext] = ws.protocol.extensions
        assert isinstance(ext, PerMessageDeflate)
        if params.get("server_no_context_takeover"):
            assert ext.remote_no_context_takeover
        if params.get("server_max_window_bits"):
            assert ext.remote_max_window_bits <= params["server_max_window_bits"]
        for msg in messages:
            await ws.send(msg)
            reply = await asyncio.wait_for(ws.recv(), 10)
            assert type(reply) is type(msg)
            assert reply == msg
        await ws.send(["frag", "ment", "ed ✓"])
        assert await asyncio.wait_for(ws.recv(), 10) == "fragmented ✓"
