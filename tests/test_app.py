"""The Python API: App, @app.endpoint, Session, HTTP routes, in one loop with real clients."""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.request

import pytest
import websockets

import scanbridge
from scanbridge import App, Config, Endpoint, Response, Session


async def started(app: App) -> App:
    await app.start()
    return app


@pytest.fixture
async def app():
    a = App(Config(port=0))
    yield a
    await a.stop(timeout=2)


class Recorder(Endpoint):
    def __init__(self) -> None:
        self.events: list[tuple] = []
        self.closed = asyncio.Event()

    async def on_connect(self, session: Session) -> None:
        self.events.append(("connect", session.id, session.path, dict(session.query)))

    async def on_text(self, session: Session, text: str) -> None:
        self.events.append(("text", session.id, text))
        await session.send_text(text.upper())

    def on_binary(self, session: Session, data: bytes) -> None:  # a plain function works too
        self.events.append(("binary", session.id, data))
        session.send_nowait(data[::-1])

    async def on_close(self, session: Session, code: int, reason: str) -> None:
        self.events.append(("close", session.id, code, reason))
        self.closed.set()


async def test_endpoint_text_binary_and_same_session_id(app: App) -> None:
    rec = Recorder()
    app.endpoint("/orders")(rec)
    await app.start()
    async with websockets.connect(f"{app.url}/orders?shop=7", user_agent_header="t/1") as ws:
        await ws.send("hello")
        assert await asyncio.wait_for(ws.recv(), 5) == "HELLO"
        await ws.send(b"\x01\x02\x03")
        assert await asyncio.wait_for(ws.recv(), 5) == b"\x03\x02\x01"
        await ws.close(4000, "done")
    await asyncio.wait_for(rec.closed.wait(), 5)
    kinds = [e[0] for e in rec.events]
    assert kinds == ["connect", "text", "binary", "close"]
    ids = {e[1] for e in rec.events}
    assert len(ids) == 1
    (sid,) = ids
    assert len(sid) == 36 and sid == sid.lower()
    assert rec.events[0][2:] == ("/orders", {"shop": "7"})
    assert rec.events[-1][2:] == (4000, "done")


async def test_session_attributes(app: App) -> None:
    seen: list[Session] = []

    @app.endpoint("/attrs")
    class Attrs(Endpoint):
        async def on_connect(self, session: Session) -> None:
            seen.append(session)

    await app.start()
    async with websockets.connect(
        f"{app.url}/attrs?a=1&b=x", additional_headers={"X-Thing": "yes"}
    ) as ws:
        await asyncio.sleep(0.05)
        s = seen[0]
        assert s.path == "/attrs"
        assert s.query == {"a": "1", "b": "x"}
        assert s.headers["x-thing"] == "yes" and s.headers["X-THING"] == "yes"
        assert s.remote[0] == "127.0.0.1" and isinstance(s.remote[1], int)
        assert app.session(s.id) is s
        await app.send(s.id, "pushed")
        assert await asyncio.wait_for(ws.recv(), 5) == "pushed"


async def test_callbacks_of_one_session_run_in_order(app: App) -> None:
    got: list[str] = []

    @app.endpoint("/slow")
    class Slow(Endpoint):
        async def on_text(self, session: Session, text: str) -> None:
            # Later messages must wait for this one even though it sleeps.
            await asyncio.sleep(0.02 if text == "0" else 0)
            got.append(text)
            await session.send_text(text)

    await app.start()
    async with websockets.connect(f"{app.url}/slow") as ws:
        for i in range(5):
            await ws.send(str(i))
        echoed = [await asyncio.wait_for(ws.recv(), 5) for _ in range(5)]
    assert got == ["0", "1", "2", "3", "4"]
    assert echoed == got


async def test_overrides_may_await_the_default_callbacks(app: App) -> None:
    """The default callbacks were ``async def``: an override that awaits
    ``super()`` must keep working (and one that calls it plainly, too)."""
    got: list[str] = []
    closed = asyncio.Event()

    @app.endpoint("/super")
    class Chained(Endpoint):
        async def on_connect(self, session: Session) -> None:
            await super().on_connect(session)
            got.append("connect")

        async def on_text(self, session: Session, text: str) -> None:
            await super().on_text(session, text)
            got.append(text)
            await session.send_text(text)

        def on_binary(self, session: Session, data: bytes) -> None:
            super().on_binary(session, data)  # a plain call is fine as well
            got.append("binary")
            session.send_nowait(data)

        async def on_close(self, session: Session, code: int, reason: str) -> None:
            await super().on_close(session, code, reason)
            got.append("close")
            closed.set()

    await app.start()
    async with websockets.connect(f"{app.url}/super") as ws:
        await ws.send("a")
        assert await asyncio.wait_for(ws.recv(), 5) == "a"
        await ws.send(b"b")
        assert await asyncio.wait_for(ws.recv(), 5) == b"b"
    await asyncio.wait_for(closed.wait(), 5)
    assert got == ["connect", "a", "binary", "close"]


async def test_exception_reaches_on_error_and_server_survives(app: App, caplog) -> None:
    errors: list[BaseException] = []

    @app.endpoint("/boom")
    class Boom(Endpoint):
        async def on_text(self, session: Session, text: str) -> None:
            if text == "boom":
                raise RuntimeError("kaboom")
            await session.send_text("fine:" + text)

        async def on_error(self, session: Session, exc: BaseException) -> None:
            errors.append(exc)
            await session.send_text("error:" + str(exc))

    await app.start()
    caplog.set_level(logging.ERROR, "scanbridge")
    async with (
        websockets.connect(f"{app.url}/boom") as a,
        websockets.connect(f"{app.url}/boom") as b,
    ):
        await a.send("boom")
        assert await asyncio.wait_for(a.recv(), 5) == "error:kaboom"
        await a.send("x")
        assert await asyncio.wait_for(a.recv(), 5) == "fine:x"
        await b.send("y")
        assert await asyncio.wait_for(b.recv(), 5) == "fine:y"
    assert len(errors) == 1 and isinstance(errors[0], RuntimeError)
    assert "kaboom" in caplog.text


async def test_server_side_close_reaches_client_and_on_close(app: App) -> None:
    rec = Recorder()

    @app.endpoint("/bye")
    class Bye(Endpoint):
        async def on_text(self, session: Session, text: str) -> None:
            await session.close(4003, "forbidden")

        async def on_close(self, session: Session, code: int, reason: str) -> None:
            rec.events.append((code, reason))
            rec.closed.set()

    await app.start()
    async with websockets.connect(f"{app.url}/bye") as ws:
        await ws.send("x")
        with pytest.raises(websockets.ConnectionClosed) as ei:
            await asyncio.wait_for(ws.recv(), 5)
        assert ei.value.rcvd is not None and ei.value.rcvd.code == 4003
        assert ei.value.rcvd.reason == "forbidden"
    await asyncio.wait_for(rec.closed.wait(), 5)
    assert rec.events == [(4003, "forbidden")]


async def test_send_after_close_raises(app: App) -> None:
    sessions: list[Session] = []
    closed = asyncio.Event()

    @app.endpoint("/gone")
    class Gone(Endpoint):
        async def on_connect(self, session: Session) -> None:
            sessions.append(session)

        async def on_close(self, session: Session, code: int, reason: str) -> None:
            closed.set()

    await app.start()
    async with websockets.connect(f"{app.url}/gone"):
        await asyncio.sleep(0.05)
    await asyncio.wait_for(closed.wait(), 5)
    with pytest.raises(scanbridge.SessionClosed):
        await sessions[0].send_text("late")
    with pytest.raises(ValueError, match="close code"):
        await sessions[0].close(1005)
    with pytest.raises(ValueError, match="close reason is 124 bytes, at most 123"):
        await sessions[0].close(1000, "é" * 62)


def test_one_close_rule_for_sessions_client_and_admin() -> None:
    """The rule lives in Rust (wire::close::check_close_request); the text a
    session, the client and the admin API give is the core's."""
    from scanbridge import _core
    from scanbridge.client.errors import check_close

    assert _core.close_problem(1000) is None
    assert _core.close_problem(4999, "x" * 123) is None
    for code in (999, 1004, 1005, 1006, 1015, 2999, 5000, -1, 2**40):
        assert _core.close_problem(code) == (
            f"close code {code} may not be sent (use 1000-1003, 1007-1014, 3000-4999)"
        )
    with pytest.raises(ValueError, match="close reason is 124 bytes"):
        check_close(1000, "x" * 124)


async def test_unknown_path_is_404_and_origin_is_checked(app: App) -> None:
    app.endpoint("/here")(Endpoint())
    await app.start()
    with pytest.raises(websockets.InvalidStatus) as ei:
        await websockets.connect(f"{app.url}/nowhere")
    assert ei.value.response.status_code == 404
    with pytest.raises(websockets.InvalidStatus) as ei:
        await websockets.connect(f"{app.url}/here", origin="https://evil.example")
    assert ei.value.response.status_code == 403
    async with websockets.connect(f"{app.url}/here", origin="http://localhost:3000"):
        pass


async def test_http_routes(app: App) -> None:
    @app.route("GET", "/hello/{name}")
    async def hello(request: scanbridge.Request) -> Response:
        return Response.json({"hello": request.params["name"], "q": request.query})

    @app.route("POST", "/echo-json")
    def echo_json(request: scanbridge.Request) -> Response:
        return Response.json(request.json(), status=201)

    await app.start()
    base = f"http://127.0.0.1:{app.port}"

    def get(path: str, data: bytes | None = None) -> tuple[int, bytes]:
        req = urllib.request.Request(base + path, data=data, method="POST" if data else "GET")
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    assert await asyncio.to_thread(get, "/healthz") == (200, b"ok")
    status, body = await asyncio.to_thread(get, "/hello/ann?x=1")
    assert status == 200 and json.loads(body) == {"hello": "ann", "q": {"x": "1"}}
    status, body = await asyncio.to_thread(get, "/echo-json", b'{"a": [1, 2]}')
    assert status == 201 and json.loads(body) == {"a": [1, 2]}
    status, body = await asyncio.to_thread(get, "/echo-json", b"{not json")
    assert status == 400 and b"not valid JSON" in body
    status, _ = await asyncio.to_thread(get, "/missing")
    assert status == 404
    status, _ = await asyncio.to_thread(get, "/hello/ann", b"x")
    assert status == 405


def test_config_errors_at_construction() -> None:
    with pytest.raises(scanbridge.ConfigError, match="1024"):
        App(Config(port=80))
    with pytest.raises(scanbridge.ConfigError):
        App(port=70000)


async def test_stop_closes_sessions_with_1001() -> None:
    app = App(Config(port=0))
    rec = Recorder()
    app.endpoint("/s")(rec)
    await app.start()
    async with websockets.connect(f"{app.url}/s") as ws:
        await asyncio.sleep(0.05)
        await app.stop(timeout=3)
        with pytest.raises(websockets.ConnectionClosed) as ei:
            await asyncio.wait_for(ws.recv(), 5)
        assert ei.value.rcvd is not None and ei.value.rcvd.code == 1001
    assert rec.events[-1][0] == "close"


async def test_stop_cancelled_while_a_subsystem_stops_still_shuts_the_core_down() -> None:
    """stop() cancelled (e.g. a second Ctrl-C) while the Streams service is
    stopping: the backplane is still stopped, the port released and the
    listener table emptied."""

    class Backplane:
        stopped = False

        def forward(self, *args: object) -> None:
            pass

        async def stop(self) -> None:
            self.stopped = True

    app = App(Config(port=0, journal=":memory:"))
    await app.start()
    port = app.port
    assert app.streams is not None
    backplane = app.backplane = Backplane()  # type: ignore[assignment]
    stuck = asyncio.Event()

    async def never_stops() -> None:
        stuck.set()
        await asyncio.Event().wait()

    app.streams.stop = never_stops  # type: ignore[method-assign]
    stopping = asyncio.create_task(app.stop(timeout=2))
    await asyncio.wait_for(stuck.wait(), 5)
    stopping.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(stopping, 10)
    assert backplane.stopped and app.backplane is None
    assert app.listeners == {}
    with pytest.raises(OSError):
        _, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
        w.close()


async def test_stop_shuts_the_core_down_when_a_subsystem_fails_to_stop(caplog) -> None:
    """A subsystem whose stop() raises is logged; the sessions still get
    1001, the port is released and the listener table is emptied."""

    class BrokenBackplane:
        def forward(self, *args: object) -> None:
            pass

        async def stop(self) -> None:
            raise RuntimeError("backplane would not stop")

    app = App(Config(port=0))
    rec = Recorder()
    app.endpoint("/s")(rec)
    await app.start()
    port = app.port
    app.backplane = BrokenBackplane()
    async with websockets.connect(f"{app.url}/s") as ws:
        await asyncio.sleep(0.05)
        with caplog.at_level(logging.ERROR, logger="scanbridge"):
            await app.stop(timeout=3)
        with pytest.raises(websockets.ConnectionClosed) as ei:
            await asyncio.wait_for(ws.recv(), 5)
        assert ei.value.rcvd is not None and ei.value.rcvd.code == 1001
    assert "stopping the backplane failed" in caplog.text
    assert app.listeners == {}
    with pytest.raises(OSError):
        _, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
        w.close()
    # and it can start again
    await app.start()
    await app.stop(timeout=1)
