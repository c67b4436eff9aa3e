"""Real WebSocket clients (websockets, aiohttp, picows) against the /echo endpoint."""

from __future__ import annotations

import asyncio
import random
import struct
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import picows
import pytest
import websockets
from websockets.asyncio.client import connect as ws_connect
from wsraw import RawWS, text_of_size

MIB16 = 16 * 1024 * 1024  # the server's default max_message_bytes
CLIENT_MAX = 64 * 1024 * 1024
SIZES = [0, 125, 126, 65535, 65536, MIB16]
CLIENTS = ["websockets", "websockets+deflate", "aiohttp", "aiohttp+deflate", "picows"]
TIMEOUT = 30.0


def binary_of_size(n: int) -> bytes:
    """n bytes covering all byte values; a 4 KiB random block repeated (compressible)."""
    block = random.Random(n).randbytes(4096)
    return (block * (n // 4096 + 1))[:n]


def incompressible(n: int) -> bytes:
    return random.Random(n).randbytes(n)


def payload(kind: str, size: int) -> str | bytes:
    return text_of_size(size) if kind == "text" else binary_of_size(size)


# -- one adapter per client: open, send, receive, close --------------------------------


class WebsocketsClient:
    def __init__(self, url: str, deflate: bool) -> None:
        self.url, self.deflate = url, deflate

    async def __aenter__(self) -> WebsocketsClient:
        self.ws = await ws_connect(
            self.url,
            max_size=CLIENT_MAX,
            compression="deflate" if self.deflate else None,
            open_timeout=10,
            close_timeout=5,
        )
        names = [ext.name for ext in self.ws.protocol.extensions]
        assert names == (["permessage-deflate"] if self.deflate else []), names
        return self

    async def echo(self, msg: str | bytes) -> str | bytes:
        await self.ws.send(msg)
        return await asyncio.wait_for(self.ws.recv(), TIMEOUT)

    async def __aexit__(self, *exc: object) -> None:
        await self.ws.close()


class AiohttpClient:
    def __init__(self, url: str, deflate: bool) -> None:
        self.url, self.deflate = url, deflate

    async def __aenter__(self) -> AiohttpClient:
        self.session = aiohttp.ClientSession()
        self.ws = await self.session.ws_connect(
            self.url,
            compress=15 if self.deflate else 0,
            max_msg_size=CLIENT_MAX,
            timeout=aiohttp.ClientWSTimeout(ws_receive=TIMEOUT, ws_close=5),
        )
        assert self.ws.compress == (15 if self.deflate else 0)
        return self

    async def echo(self, msg: str | bytes) -> str | bytes:
        if isinstance(msg, str):
            await self.ws.send_str(msg)
            reply = await self.ws.receive(TIMEOUT)
            assert reply.type == aiohttp.WSMsgType.TEXT, reply
        else:
            await self.ws.send_bytes(msg)
            reply = await self.ws.receive(TIMEOUT)
            assert reply.type == aiohttp.WSMsgType.BINARY, reply
        return reply.data

    async def __aexit__(self, *exc: object) -> None:
        await self.ws.close()
        await self.session.close()


class EchoListener(picows.WSListener):
    """Collects whole messages (joining fragments) and pong payloads."""

    def __init__(self) -> None:
        self.messages: asyncio.Queue[tuple[picows.WSMsgType, bytes]] = asyncio.Queue()
        self.pongs: asyncio.Queue[bytes] = asyncio.Queue()
        self.close_code: int | None = None
        self._type: picows.WSMsgType | None = None
        self._parts: list[bytes] = []

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        t = frame.msg_type
        if t == picows.WSMsgType.PONG:
            self.pongs.put_nowait(frame.get_payload_as_bytes())
        elif t == picows.WSMsgType.CLOSE:
            self.close_code = frame.get_close_code()
            transport.send_close(frame.get_close_code())
            transport.disconnect()
        elif t in (picows.WSMsgType.TEXT, picows.WSMsgType.BINARY, picows.WSMsgType.CONTINUATION):
            if t != picows.WSMsgType.CONTINUATION:
                self._type, self._parts = t, []
            self._parts.append(frame.get_payload_as_bytes())
            if frame.fin:
                assert self._type is not None
                self.messages.put_nowait((self._type, b"".join(self._parts)))


class PicowsClient:
    def __init__(self, url: str, deflate: bool) -> None:
        assert not deflate, "picows does not implement permessage-deflate"
        self.url = url

    async def __aenter__(self) -> PicowsClient:
        self.transport, self.listener = await picows.ws_connect(
            EchoListener, self.url, max_frame_size=CLIENT_MAX
        )
        return self

    async def echo(self, msg: str | bytes) -> str | bytes:
        if isinstance(msg, str):
            self.transport.send(picows.WSMsgType.TEXT, msg.encode())
        else:
            self.transport.send(picows.WSMsgType.BINARY, msg)
        mtype, data = await asyncio.wait_for(self.listener.messages.get(), TIMEOUT)
        if isinstance(msg, str):
            assert mtype == picows.WSMsgType.TEXT
            return data.decode()
        assert mtype == picows.WSMsgType.BINARY
        return data

    async def __aexit__(self, *exc: object) -> None:
        self.transport.send_close(picows.WSCloseCode.OK)
        await asyncio.wait_for(self.transport.wait_disconnected(), 5)


def make_client(name: str, url: str) -> Any:
    base, _, ext = name.partition("+")
    cls = {"websockets": WebsocketsClient, "aiohttp": AiohttpClient, "picows": PicowsClient}[base]
    return cls(url, ext == "deflate")


@pytest.fixture
def echo_url(echo_server: Any) -> str:
    return echo_server.url + "/echo"


# -- round trips ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["text", "binary"])
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s}B")
@pytest.mark.parametrize("client", CLIENTS)
async def test_echo_sizes(client: str, size: int, kind: str, echo_url: str) -> None:
    msg = payload(kind, size)
    async with make_client(client, echo_url) as c:
        reply = await c.echo(msg)
        assert type(reply) is type(msg)
        assert len(reply) == len(msg)
        assert reply == msg
        # The connection stays usable after the message.
        assert await c.echo("après ✓") == "après ✓"


@pytest.mark.parametrize("client", CLIENTS)
async def test_many_messages_one_connection(client: str, echo_url: str) -> None:
    """Messages come back in order; with deflate this also exercises context takeover."""
    async with make_client(client, echo_url) as c:
        for i in range(50):
            msg = text_of_size(200 + i) if i % 2 else binary_of_size(300 + i)
            assert await c.echo(msg) == msg


def test_one_byte_over_default_limit_is_1009(echo_server: Any) -> None:
    """The frame header announces 16 MiB + 1: the server refuses it without the payload."""
    with RawWS.connect(echo_server.host, echo_server.port) as ws:
        ws.send_raw(struct.pack("!BBQ", 0x82, 0xFF, MIB16 + 1) + b"\x00\x00\x00\x00" + b"x" * 1000)
        assert ws.expect_close(TIMEOUT).close_code == 1009


async def test_one_byte_over_default_limit_is_1009_deflate(echo_url: str) -> None:
    async with ws_connect(echo_url, max_size=CLIENT_MAX, compression="deflate") as ws:
        await ws.send(text_of_size(MIB16 + 1))
        with pytest.raises(websockets.ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
        assert info.value.rcvd is not None
        assert info.value.rcvd.code == 1009


@pytest.mark.parametrize("client", ["websockets+deflate", "aiohttp+deflate"])
async def test_incompressible_16mib_with_deflate(client: str, echo_url: str) -> None:
    msg = incompressible(MIB16)
    async with make_client(client, echo_url) as c:
        assert await c.echo(msg) == msg


# -- fragmentation -------------------------------------------------------------------------


@pytest.mark.parametrize("compression", [None, "deflate"])
@pytest.mark.parametrize(
    "fragments",
    [
        ["ab", "cd"],
        ["", "ä", "", "ö😀"],
        ["x" * 70000, "ü" * 40000, "z"],
        [b"ab", b"cd"],
        [b"", b"\x00\xff", b""],
        [b"\x01" * 65536, b"\x02" * 65537],
    ],
    ids=["text2", "text-empty-parts", "text-large", "bin2", "bin-empty-parts", "bin-large"],
)
async def test_fragmented_message_comes_back_whole(
    fragments: list[Any], compression: str | None, echo_url: str
) -> None:
    async with ws_connect(echo_url, max_size=CLIENT_MAX, compression=compression) as ws:
        await ws.send(fragments)
        whole = fragments[0][:0].join(fragments)
        reply = await asyncio.wait_for(ws.recv(), TIMEOUT)
        assert type(reply) is type(whole)
        assert reply == whole


async def test_fragments_from_async_iterator(echo_url: str) -> None:
    async def parts() -> AsyncIterator[str]:
        for p in ["Grü", "ße ", "😀"]:
            await asyncio.sleep(0.01)  # separate TCP writes
            yield p

    async with ws_connect(echo_url) as ws:
        await ws.send(parts())
        assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "Grüße 😀"


async def test_fragmented_message_picows(echo_url: str) -> None:
    transport, listener = await picows.ws_connect(EchoListener, echo_url)
    try:
        data = "naïve ☃ text".encode()
        transport.send(picows.WSMsgType.TEXT, data[:3], fin=False)  # splits "ï"
        transport.send(picows.WSMsgType.CONTINUATION, data[3:9], fin=False)
        transport.send(picows.WSMsgType.CONTINUATION, data[9:], fin=True)
        got = await asyncio.wait_for(listener.messages.get(), TIMEOUT)
        assert got == (picows.WSMsgType.TEXT, data)
    finally:
        transport.send_close(picows.WSCloseCode.OK)
        await asyncio.wait_for(transport.wait_disconnected(), 5)


# -- ping / pong ------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"hello", b"\x00\xff" * 62 + b"!"], ids=["0", "5", "125"])
async def test_websockets_ping_resolves(data: bytes, echo_url: str) -> None:
    async with ws_connect(echo_url) as ws:
        latency = await asyncio.wait_for(await ws.ping(data), 5)
        assert latency >= 0
        assert await asyncio.wait_for(ws.ping(), 5) is not None
        await ws.send("still open")
        assert await asyncio.wait_for(ws.recv(), 5) == "still open"


async def test_picows_pong_carries_ping_payload(echo_url: str) -> None:
    transport, listener = await picows.ws_connect(EchoListener, echo_url)
    try:
        for data in (b"abc", "pïng".encode(), b"\x00" * 125):
            transport.send_ping(data)
            assert await asyncio.wait_for(listener.pongs.get(), 5) == data
    finally:
        transport.send_close(picows.WSCloseCode.OK)
        await asyncio.wait_for(transport.wait_disconnected(), 5)


async def test_aiohttp_ping_then_echo(echo_url: str) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(echo_url, autoping=False) as ws,
    ):
        await ws.ping(b"aio")
        msg = await ws.receive(5)
        assert msg.type == aiohttp.WSMsgType.PONG
        assert msg.data == b"aio"
        await ws.send_str("ok")
        assert (await ws.receive(5)).data == "ok"
