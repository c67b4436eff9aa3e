"""Socket.IO clients (python-socketio, websocket transport) in the same rooms as plain clients."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from scanbridge import App, Config

socketio = pytest.importorskip("socketio")

TIMEOUT = 5


@pytest.fixture
async def app():
    a = App(Config(port=0, journal=":memory:"))
    await a.start()
    yield a
    await a.stop(timeout=2)


async def sio_client(app: App, namespace: str, events: list[str]) -> tuple[object, asyncio.Queue]:
    got: asyncio.Queue = asyncio.Queue()
    sio = socketio.AsyncClient(reconnection=False)
    for name in events:

        def handler(data, name=name):
            got.put_nowait((name, data))

        sio.on(name, handler, namespace=namespace)
    await sio.connect(
        f"http://127.0.0.1:{app.port}",
        namespaces=[namespace],
        transports=["websocket"],
        wait_timeout=TIMEOUT,
    )
    return sio, got


async def test_socketio_and_plain_clients_share_a_room(app: App) -> None:
    sio, got = await sio_client(app, "/layout", ["EVENT", "CLIENTS"])
    try:
        # The original service's clients sent payloads as JSON strings.
        await sio.emit("JOIN", json.dumps({"room": "r", "name": "sio"}), namespace="/layout")
        async with websockets.connect(app.url + "/layout") as ws:
            await ws.send(json.dumps(["JOIN", {"room": "r", "name": "plain"}]))
            for _ in range(50):
                if len(app.members("layout", "r")) == 2:
                    break
                await asyncio.sleep(0.02)
            assert sorted(app.members("layout", "r")) == ["plain", "sio"]
            await ws.send(json.dumps(["NOTIFY", {"room": "r", "message": {"n": 1}}]))
            assert await asyncio.wait_for(got.get(), TIMEOUT) == (
                "EVENT",
                {"sender": "plain", "room": "r", "message": {"n": 1}},
            )
            await sio.emit(
                "NOTIFY", json.dumps({"room": "r", "message": "from sio"}), namespace="/layout"
            )
            assert json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT)) == [
                "EVENT",
                {"sender": "sio", "room": "r", "message": "from sio"},
            ]
            await sio.emit("CLIENTS", {"room": "r"}, namespace="/layout")
            name, data = await asyncio.wait_for(got.get(), TIMEOUT)
            assert name == "CLIENTS" and sorted(data["clients"]) == ["plain", "sio"]
            # HTTP/app publishes reach Socket.IO members too.
            assert await app.publish("layout", "r", {"p": True}) == 2
            assert await asyncio.wait_for(got.get(), TIMEOUT) == (
                "EVENT",
                {"sender": "server", "room": "r", "message": {"p": True}},
            )
    finally:
        await sio.disconnect()


async def test_socketio_errors_and_namespace_isolation(app: App) -> None:
    sio, got = await sio_client(app, "/bus", ["EVENT", "ERROR"])
    try:
        await sio.emit("JOIN", {"room": "x"}, namespace="/bus")  # no name
        name, data = await asyncio.wait_for(got.get(), TIMEOUT)
        assert name == "ERROR" and data["code"] == "MISSING_FIELD"
        await sio.emit("JOIN", {"room": "x", "name": "b"}, namespace="/bus")
        async with websockets.connect(app.url + "/layout") as ws:
            await ws.send(json.dumps(["JOIN", {"room": "x", "name": "l"}]))
            await ws.send(json.dumps(["NOTIFY", {"room": "x", "message": 1}]))
            await asyncio.sleep(0.2)
            assert got.empty()  # /layout room x is not /bus room x
    finally:
        await sio.disconnect()


async def test_socketio_lobby(app: App) -> None:
    a, got_a = await sio_client(app, "/lobby", ["JOINED", "MESSAGE"])
    b, got_b = await sio_client(app, "/lobby", ["JOINED", "MESSAGE"])
    try:
        await a.emit("JOIN", "L1", namespace="/lobby")
        name, a_id = await asyncio.wait_for(got_a.get(), TIMEOUT)
        assert name == "JOINED"
        await b.emit("JOIN", "L1", namespace="/lobby")
        assert (await asyncio.wait_for(got_a.get(), TIMEOUT))[0] == "JOINED"
        assert (await asyncio.wait_for(got_b.get(), TIMEOUT))[0] == "JOINED"
        await b.emit("BROADCAST", {"message": "hi"}, namespace="/lobby")
        for q in (got_a, got_b):
            name, data = await asyncio.wait_for(q.get(), TIMEOUT)
            assert name == "MESSAGE" and data["message"] == "hi" and data["from"] != a_id
    finally:
        await a.disconnect()
        await b.disconnect()
