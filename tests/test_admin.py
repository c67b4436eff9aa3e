"""The admin page, JSON API, /metrics and the `sessions` / `hash-password` commands,
in one loop with real clients (and the page in headless Chromium over CDP)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import inspect
import json
import re
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from click.testing import CliRunner

from scanbridge.app import App
from scanbridge.auth import hash_password, verify_password
from scanbridge.cli import main
from scanbridge.config import AdminConfig, Config, PortConfig

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


# ------------------------------------------------------------------ helpers


def _http_sync(
    method: str, url: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    data = None
    hdrs = dict(headers or {})
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=data, headers=hdrs, method=method)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


async def http(
    method: str, url: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    return await asyncio.to_thread(_http_sync, method, url, body, headers)


async def api(app: App, method: str, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
    status, _, raw = await http(method, f"http://127.0.0.1:{app.port}{path}", body, **kw)
    return status, json.loads(raw) if raw else None


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def port_of(app: App, alias: str) -> int:
    return next(i.port for i in app.listeners.values() if i.alias == alias)


async def wait_for(cond: Any, timeout: float = 5.0, step: float = 0.02) -> None:
    """Poll ``cond()`` (sync or async) until it is true; fail after ``timeout`` seconds."""
    for _ in range(int(timeout / step) + 1):
        ok = cond()
        if inspect.isawaitable(ok):
            ok = await ok
        if ok:
            return
        await asyncio.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {cond}")


@pytest.fixture
async def app() -> AsyncIterator[App]:
    a = App(
        Config(
            port=0,
            journal=":memory:",
            echo=True,
            ports=[
                PortConfig(alias="extra", port=0),
                PortConfig(alias="closed", port=0, access="deny"),
            ],
        )
    )
    await a.start()
    yield a
    await a.stop(timeout=2)


# ------------------------------------------------------------------ sessions API


async def test_sessions_list_send_and_close(app: App) -> None:
    async with (
        websockets.connect(f"ws://127.0.0.1:{app.port}/echo") as echo,
        websockets.connect(f"ws://127.0.0.1:{app.port}/") as streams,
    ):
        await echo.send("ping")
        assert await asyncio.wait_for(echo.recv(), 5) == "ping"
        await wait_for(lambda: len(app.sessions) == 1)
        status, data = await api(app, "GET", "/admin/api/sessions")
        assert status == 200, data
        assert data["total"] == 2 and data["page"] == 1 and data["pages"] == 1
        by_ep = {s["endpoint"]: s for s in data["sessions"]}
        assert set(by_ep) == {"/echo", "/"}
        # The Streams client is a Python session (its UUID); echo lives in the core
        # and has a UUID too (one id format), not its connection number.
        assert by_ep["/"]["id"] == app.sessions[0].id and UUID_RE.match(by_ep["/"]["id"])
        assert by_ep["/"]["rooms"] == ["streams"]
        echo_id = by_ep["/echo"]["id"]
        assert UUID_RE.match(echo_id), echo_id
        assert by_ep["/echo"]["conn"] > 0 and str(by_ep["/echo"]["conn"]) != echo_id
        _, again = await api(app, "GET", "/admin/api/sessions")
        assert {s["id"] for s in again["sessions"]} == {echo_id, by_ep["/"]["id"]}
        # The connection number is not a second id.
        status, _ = await api(app, "DELETE", f"/admin/api/sessions/{by_ep['/echo']['conn']}")
        assert status == 404
        for s in data["sessions"]:
            assert s["port"] == "default"
            assert s["peer"].startswith("127.0.0.1:")
            assert s["since"] > 1_600_000_000
        assert by_ep["/echo"]["bytes_in"] > 0 and by_ep["/echo"]["messages_in"] == 1

        # Send: text to the core-only echo session, binary to the Python session.
        status, r = await api(app, "POST", f"/admin/api/sessions/{echo_id}/send", {"text": "hi!"})
        assert status == 200 and r["sent"] and r["type"] == "text", r
        assert await asyncio.wait_for(echo.recv(), 5) == "hi!"
        sid = by_ep["/"]["id"]
        payload = b"\x00\xffbin"
        status, r = await api(
            app,
            "POST",
            f"/admin/api/sessions/{sid}/send",
            {"base64": base64.b64encode(payload).decode()},
        )
        assert status == 200 and r["type"] == "binary" and r["bytes"] == len(payload), r
        async with asyncio.timeout(5):
            while await streams.recv() != payload:
                pass

        # Bad requests name the field; unknown sessions are 404.
        for body, field in (
            ({}, '"text"'),
            ({"text": 5}, '"text"'),
            ({"base64": "%%%"}, '"base64"'),
            ({"base64": 1}, '"base64"'),
            ({"text": "a", "base64": "YQ=="}, '"base64"'),
            ([1], '"text"'),
        ):
            status, r = await api(app, "POST", f"/admin/api/sessions/{sid}/send", body)
            assert status == 400 and field in r["error"], (body, r)
        status, r = await api(app, "POST", "/admin/api/sessions/nope/send", {"text": "x"})
        assert status == 404 and "nope" in r["error"]
        status, r = await api(app, "DELETE", "/admin/api/sessions/123456")
        assert status == 404
        status, r = await api(app, "DELETE", f"/admin/api/sessions/{sid}?code=1005")
        assert status == 400 and "1005" in r["error"]

        # Close: the echo client sees 1000, the Streams client the code asked for.
        status, r = await api(app, "DELETE", f"/admin/api/sessions/{echo_id}")
        assert status == 200 and r["code"] == 1000, r
        await asyncio.wait_for(echo.wait_closed(), 5)
        assert echo.close_code == 1000
        status, r = await api(app, "DELETE", f"/admin/api/sessions/{sid}?code=4001&reason=bye")
        assert status == 200, r
        await asyncio.wait_for(streams.wait_closed(), 5)
        assert (streams.close_code, streams.close_reason) == (4001, "bye")
        await wait_for(lambda: not app.sessions)
        status, data = await api(app, "GET", "/admin/api/sessions")
        assert data["total"] == 0 and data["sessions"] == [] and data["pages"] == 1


async def test_filters_and_pagination(app: App) -> None:
    base = f"ws://127.0.0.1:{app.port}"
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(55):
            await stack.enter_async_context(websockets.connect(f"{base}/echo"))
        await stack.enter_async_context(websockets.connect(f"{base}/streams"))
        await stack.enter_async_context(
            websockets.connect(f"ws://127.0.0.1:{port_of(app, 'extra')}/echo")
        )
        await wait_for(lambda: len(app.sessions) == 1)

        status, p1 = await api(app, "GET", "/admin/api/sessions?endpoint=/echo")
        assert status == 200
        assert (p1["total"], p1["pages"], p1["page"], len(p1["sessions"])) == (56, 2, 1, 50)
        status, p2 = await api(app, "GET", "/admin/api/sessions?endpoint=/echo&page=2")
        assert (p2["total"], p2["page"], len(p2["sessions"])) == (56, 2, 6)
        ids = [s["id"] for s in p1["sessions"] + p2["sessions"]]
        assert len(set(ids)) == 56
        assert all(s["endpoint"] == "/echo" for s in p1["sessions"] + p2["sessions"])
        status, p3 = await api(app, "GET", "/admin/api/sessions?endpoint=/echo&page=3")
        assert status == 200 and p3["sessions"] == []

        status, r = await api(app, "GET", "/admin/api/sessions?endpoint=/streams")
        assert r["total"] == 1 and r["sessions"][0]["endpoint"] == "/streams"
        status, r = await api(app, "GET", "/admin/api/sessions?port=extra")
        assert r["total"] == 1 and r["sessions"][0]["port"] == "extra"
        status, r = await api(app, "GET", "/admin/api/sessions?port=default&endpoint=/echo")
        assert r["total"] == 55
        status, r = await api(app, "GET", "/admin/api/sessions")
        assert r["total"] == 57 and r["pages"] == 2
        for bad in ("0", "x", "-1"):
            status, r = await api(app, "GET", f"/admin/api/sessions?page={bad}")
            assert status == 400 and "page" in r["error"]


# ------------------------------------------------------------------ ports


async def _tcp_connect(port: int) -> None:
    _, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 3)
    w.close()
    with contextlib.suppress(OSError):
        await w.wait_closed()


async def test_ports_list_disable_enable(app: App) -> None:
    status, r = await api(app, "GET", "/admin/api/ports")
    assert status == 200
    ports = {p["alias"]: p for p in r["ports"]}
    assert set(ports) == {"default", "extra", "closed"}
    assert all(p["enabled"] and p["host"] == "127.0.0.1" for p in ports.values())
    extra = ports["extra"]["port"]
    await _tcp_connect(extra)

    status, r = await api(app, "PATCH", "/admin/api/ports/extra", {"enabled": False})
    assert status == 200 and r["enabled"] is False and r["alias"] == "extra", r
    with pytest.raises(ConnectionRefusedError):
        await _tcp_connect(extra)
    status, r = await api(app, "GET", "/admin/api/ports")
    assert {p["alias"]: p["enabled"] for p in r["ports"]}["extra"] is False

    status, r = await api(app, "PATCH", "/admin/api/ports/extra", {"enabled": True})
    assert status == 200 and r["enabled"] is True
    async with websockets.connect(f"ws://127.0.0.1:{extra}/echo") as ws:
        await ws.send("back")
        assert await asyncio.wait_for(ws.recv(), 5) == "back"

    status, r = await api(app, "PATCH", "/admin/api/ports/extra", {"enabled": "no"})
    assert status == 400 and '"enabled"' in r["error"]
    status, r = await api(app, "PATCH", "/admin/api/ports/nosuch", {"enabled": False})
    assert status == 404
    # Disabling the port that carries the request would lock the admin out.
    status, r = await api(app, "PATCH", "/admin/api/ports/default", {"enabled": False})
    assert status == 409 and "another port" in r["error"]


async def test_deny_port_refuses_loopback_with_403(app: App) -> None:
    closed = port_of(app, "closed")
    with pytest.raises(websockets.InvalidStatus) as exc:
        await asyncio.wait_for(websockets.connect(f"ws://127.0.0.1:{closed}/echo"), 5)
    assert exc.value.response.status_code == 403
    status, _, _ = await http("GET", f"http://127.0.0.1:{closed}/admin/api/sessions")
    assert status == 403


# ------------------------------------------------------------------ page, stats, metrics


async def test_admin_page_is_html_and_stats(app: App) -> None:
    status, headers, body = await http("GET", f"http://127.0.0.1:{app.port}/admin")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    page = body.decode()
    assert page.lstrip().lower().startswith("<!doctype html>")
    assert 'id="sessions"' in page and "/admin/api" in page and "setInterval" in page
    await app.inject_scan("4006381333931", "DEV-1")
    status, st = await api(app, "GET", "/admin/api/stats")
    assert status == 200
    assert st["scans_total"] == 1 and st["recent_scans"][0]["code"] == "4006381333931"
    assert st["journal"]["events"] >= 1
    assert {"connections_accepted", "fanout_deliveries", "overflow_closes"} <= set(st["core"])


async def test_stats_count_websockets_not_the_pages_own_polls(app: App) -> None:
    """The header said "3 open" with "sessions 0": the page's own polls (HTTP) were
    counted as open connections. Now connections_open counts WebSocket connections
    and HTTP requests in flight are counted apart."""
    base = f"http://127.0.0.1:{app.port}/admin/api"

    async def poll_all() -> list[Any]:  # what the page does every second, at once
        got = await asyncio.gather(
            http("GET", base + "/sessions"),
            http("GET", base + "/ports"),
            http("GET", base + "/stats"),
        )
        return [json.loads(body) for _, _, body in got]

    # Requests held open (a partial request line) are HTTP connections, not sessions.
    held = [await asyncio.open_connection("127.0.0.1", app.port) for _ in range(3)]
    for _, w in held:
        w.write(b"GET /admin/api/stats HTTP/1.1\r\n")
        await w.drain()
    try:
        await wait_for(lambda: app._core is not None and app._core.connection_count() >= 3)
        _, _, st = await poll_all()
        assert st["sessions"] == 0
        assert st["core"]["connections_open"] == 0, st["core"]
        assert st["core"]["http_connections_open"] >= 4, st["core"]  # 3 held + this poll
        async with websockets.connect(f"ws://127.0.0.1:{app.port}/echo"):
            await wait_for(lambda: app._core is not None and app._core.connection_count() >= 4)
            _, _, st = await poll_all()
            assert st["sessions"] == 1 and st["core"]["connections_open"] == 1, st
    finally:
        for _, w in held:
            w.close()


METRICS = {
    "scanbridge_connections_open",
    "scanbridge_connections_accepted",
    "scanbridge_websockets_open",
    "scanbridge_bytes",
    "scanbridge_messages",
    "scanbridge_endpoint_websockets_open",
    "scanbridge_endpoint_bytes",
    "scanbridge_endpoint_messages",
    "scanbridge_fanout_deliveries",
    "scanbridge_overflow_closes",
    "scanbridge_scans",
    "scanbridge_journal_events",
    "scanbridge_journal_bytes",
}

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse_metrics(text: str) -> Samples:
    """Sample name + labels -> value; with prometheus_client when it is installed."""
    out: Samples = {}
    try:
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError:
        line_re = re.compile(
            r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_]\w*="(?:[^"\\\n]|\\.)*",?)*\})?'
            r" (-?[0-9.e+]+|NaN|[+-]Inf)$"
        )
        for line in text.splitlines():
            if line.startswith(("# HELP ", "# TYPE ")):
                continue
            m = line_re.match(line)
            assert m, f"bad exposition line: {line!r}"
            labels = tuple(sorted(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or "")))
            out[(m.group(1), labels)] = float(m.group(3))
        return out
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def test_metrics_exposition(app: App) -> None:
    url = f"http://127.0.0.1:{app.port}/metrics"
    async with websockets.connect(f"ws://127.0.0.1:{app.port}/echo") as ws:
        for i in range(3):
            await ws.send(f"m{i}")
            await asyncio.wait_for(ws.recv(), 5)
        await app.inject_scan("SCAN-1")
        status, headers, body = await http("GET", url)
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = body.decode()
    names = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}
    for n in names:
        assert f"# HELP {n} " in text
        assert n.startswith("scanbridge_")
    samples = parse_metrics(text)
    families = {re.sub(r"_total$", "", n) for n, _ in samples}
    assert families >= METRICS, METRICS - families
    ep_in = ("scanbridge_endpoint_messages_total", (("direction", "in"), ("endpoint", "/echo")))
    assert samples[ep_in] == 3
    assert samples[("scanbridge_scans_total", ())] == 1
    assert samples[("scanbridge_websockets_open", ())] == 1
    assert samples[("scanbridge_endpoint_websockets_open", (("endpoint", "/echo"),))] == 1

    # The echo client closed: its counts stay in the counters (which never go down).
    await wait_for(lambda: app._core is not None and app._core.stats()["websockets_open"] == 0)
    status, _, body = await http("GET", url)
    after = parse_metrics(body.decode())
    assert after[ep_in] == 3
    assert after[("scanbridge_websockets_open", ())] == 0
    for key, v in samples.items():
        if key[0].endswith("_total"):
            assert after.get(key, 0) >= v, key


# ------------------------------------------------------------------ auth


async def test_basic_auth_when_credentials_are_configured() -> None:
    app = App(
        Config(
            port=0,
            journal=":memory:",
            admin=AdminConfig(user="admin", password_hash=hash_password("s3cret")),
        )
    )
    await app.start()
    try:
        for path in ("/admin", "/admin/api/sessions", "/admin/api/ports", "/admin/api/stats"):
            url = f"http://127.0.0.1:{app.port}{path}"
            status, headers, _ = await http("GET", url)
            assert status == 401, path
            assert headers["WWW-Authenticate"].startswith('Basic realm="scanbridge admin"')
            status, _, _ = await http("GET", url, headers=basic("admin", "wrong"))
            assert status == 401
            status, _, _ = await http("GET", url, headers=basic("root", "s3cret"))
            assert status == 401
            status, _, _ = await http("GET", url, headers=basic("admin", "s3cret"))
            assert status == 200, path
        status, _ = await api(app, "DELETE", "/admin/api/sessions/1")
        assert status == 401
        # /metrics and /healthz need no credential.
        for path in ("/metrics", "/healthz"):
            status, _, _ = await http("GET", f"http://127.0.0.1:{app.port}{path}")
            assert status == 200, path
        # The CLI without and with the credential.
        server = f"http://127.0.0.1:{app.port}"
        runner = CliRunner()
        r = await asyncio.to_thread(runner.invoke, main, ["sessions", "--server", server])
        assert r.exit_code == 1 and "401" in r.output and "--user" in r.output
        async with websockets.connect(f"ws://127.0.0.1:{app.port}/"):
            await wait_for(lambda: len(app.sessions) == 1)
            args = ["sessions", "--server", server, "--user", "admin"]
            r = await asyncio.to_thread(runner.invoke, main, [*args, "--json"], input="s3cret\n")
            assert r.exit_code == 0, r.output
            rows = json.loads(r.output[r.output.index("[") :])
            assert [s["id"] for s in rows] == [app.sessions[0].id]
            r = await asyncio.to_thread(runner.invoke, main, [*args, "--password", "s3cret"])
            assert r.exit_code == 0, r.output
            lines = r.output.splitlines()
            assert lines[0].split()[:4] == ["id", "endpoint", "port", "peer"]
            assert app.sessions[0].id in lines[1] and " / " in lines[1]
    finally:
        await app.stop(timeout=2)


async def test_no_credential_off_loopback_is_403() -> None:
    app = App(
        Config(
            port=0,
            journal=":memory:",
            token="t",  # a non-loopback listener needs one (issue 12)
            ports=[PortConfig(alias="lan", host="0.0.0.0", port=0)],
        )
    )
    await app.start()
    try:
        status, r = await api(app, "GET", "/admin/api/sessions")
        assert status == 403 and "[admin]" in r["error"]
        status, _, _ = await http("GET", f"http://127.0.0.1:{app.port}/admin")
        assert status == 403
        status, _, _ = await http("GET", f"http://127.0.0.1:{app.port}/metrics")
        assert status == 200
    finally:
        await app.stop(timeout=2)


async def test_cross_origin_and_foreign_host_refused(app: App) -> None:
    status, r = await api(
        app, "DELETE", "/admin/api/sessions/1", headers={"Origin": "http://evil.example"}
    )
    assert status == 403 and "Origin" in r["error"]
    # Same origin passes the check (then 404: no such session).
    status, r = await api(
        app, "DELETE", "/admin/api/sessions/1", headers={"Origin": f"http://127.0.0.1:{app.port}"}
    )
    assert status == 404
    # Without a credential only loopback Host names are answered (DNS rebinding).
    status, r = await api(app, "GET", "/admin/api/ports", headers={"Host": "evil.example"})
    assert status == 403 and "loopback" in r["error"]
    status, r = await api(app, "GET", "/admin/api/ports", headers={"Host": "localhost"})
    assert status == 200


# ------------------------------------------------------------------ CLI


def test_hash_password_command() -> None:
    runner = CliRunner()
    r = runner.invoke(main, ["hash-password", "--password-stdin"], input="pässword\n")
    assert r.exit_code == 0, r.output
    h = r.output.strip()
    assert h.startswith("scrypt$") and verify_password("pässword", h)
    assert not verify_password("password", h)
    r = runner.invoke(main, ["hash-password"], input="abc\nabc\n")
    assert r.exit_code == 0, r.output
    h = r.output.strip().splitlines()[-1]
    assert verify_password("abc", h)
    assert "abc" not in r.output.replace(h, "")  # the prompt does not echo it
    r = runner.invoke(main, ["hash-password"], input="abc\nabd\nabc\nabc\n")
    assert r.exit_code == 0 and verify_password("abc", r.output.strip().splitlines()[-1])
    r = runner.invoke(main, ["hash-password", "--password-stdin"], input="\n")
    assert r.exit_code == 1 and "empty" in r.output


async def test_sessions_command_table_and_filters(app: App) -> None:
    server = f"http://127.0.0.1:{app.port}"
    runner = CliRunner()
    r = await asyncio.to_thread(runner.invoke, main, ["sessions", "--server", server])
    assert r.exit_code == 0 and "no open sessions" in r.output
    async with (
        websockets.connect(f"ws://127.0.0.1:{app.port}/echo"),
        websockets.connect(f"ws://127.0.0.1:{port_of(app, 'extra')}/echo"),
    ):
        r = await asyncio.to_thread(runner.invoke, main, ["sessions", "--server", server])
        assert r.exit_code == 0, r.output
        assert len(r.output.splitlines()) == 3 and "extra" in r.output
        r = await asyncio.to_thread(
            runner.invoke, main, ["sessions", "--server", server, "--port-alias", "extra", "--json"]
        )
        rows = json.loads(r.output)
        assert len(rows) == 1 and rows[0]["port"] == "extra" and rows[0]["endpoint"] == "/echo"


# ------------------------------------------------------------------ the page in Chromium


def _chromium() -> str | None:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found or shutil.which("apt-get") is None:
        return found
    for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "chromium"]):
        try:
            subprocess.run(cmd, capture_output=True, timeout=600, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return None
    return shutil.which("chromium")


@pytest.fixture(scope="module")
def chromium() -> str:
    path = _chromium()
    if path is None:
        pytest.skip("chromium is not installed and `apt-get install -y chromium` did not work")
    return path


class CDP:
    """A minimal Chrome DevTools Protocol client over one page target."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.next_id = 0

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        mid = self.next_id
        await self.ws.send(json.dumps({"id": mid, "method": method, "params": params}))
        async with asyncio.timeout(10):
            while True:
                msg = json.loads(await self.ws.recv())
                if msg.get("id") == mid:
                    if "error" in msg:
                        raise RuntimeError(f"{method}: {msg['error']}")
                    return msg["result"]

    async def eval(self, expr: str) -> Any:
        r = await self.call("Runtime.evaluate", expression=expr, returnByValue=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expr}: {r['exceptionDetails']}")
        return r["result"].get("value")


@contextlib.asynccontextmanager
async def browser(chromium: str, profile: Path) -> AsyncIterator[CDP]:
    """Headless Chromium with remote debugging; yields a CDP client on its page."""
    proc = await asyncio.create_subprocess_exec(
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        "--remote-debugging-port=0",
        f"--user-data-dir={profile}",
        "about:blank",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port_file = profile / "DevToolsActivePort"

        def started() -> bool:
            if proc.returncode is not None:
                pytest.fail(f"chromium exited with {proc.returncode}")
            return port_file.exists() and bool(port_file.read_text().strip())

        await wait_for(started, 20, 0.05)
        port = int(port_file.read_text().split()[0])
        pages: list[dict[str, Any]] = []

        async def page_targets() -> bool:
            status, _, body = await http("GET", f"http://127.0.0.1:{port}/json/list")
            pages[:] = [t for t in json.loads(body) if t.get("type") == "page"]
            return status == 200 and bool(pages)

        await wait_for(page_targets, 10, 0.1)
        async with websockets.connect(pages[0]["webSocketDebuggerUrl"], max_size=None) as ws:
            yield CDP(ws)
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except TimeoutError:
                proc.kill()
                await asyncio.wait_for(proc.wait(), 5)


async def test_page_in_chromium_lists_and_closes_a_session(
    app: App, chromium: str, tmp_path: Path
) -> None:
    async with (
        websockets.connect(f"ws://127.0.0.1:{app.port}/echo") as client,
        browser(chromium, tmp_path / "profile") as cdp,
    ):
        _, data = await api(app, "GET", "/admin/api/sessions?endpoint=/echo")
        sid = data["sessions"][0]["id"]
        await cdp.call("Page.enable")
        await cdp.call("Page.navigate", url=f"http://127.0.0.1:{app.port}/admin")
        row = f"document.querySelector('tr.session[data-id=\"{sid}\"]')"
        await wait_for(lambda: cdp.eval(f"!!{row}"), 10, 0.1)
        cells = await cdp.eval(f"Array.from({row}.cells).map(c => c.textContent)")
        assert cells[0] == sid and cells[1] == "/echo" and cells[2] == "default", cells
        assert cells[3].startswith("127.0.0.1:")
        assert await cdp.eval(f"{row}.querySelector('button.close').click(), true")
        await asyncio.wait_for(client.wait_closed(), 5)
        assert client.close_code == 1000
        # A refresh (the page's own, every 2 s) drops the row.
        await wait_for(lambda: cdp.eval(f"!{row}"), 10, 0.1)
        text = await cdp.eval("document.getElementById('sessions').innerText")
        assert "no open sessions" in text


async def test_separate_admin_listener() -> None:
    """With [admin] port set, the admin is served there and only there."""
    from scanbridge.config import AdminConfig

    app = App(Config(port=0, journal=":memory:", admin=AdminConfig(port=0)))
    await app.start()
    try:
        admin_port = port_of(app, "admin")
        assert admin_port != app.port
        status, _, _ = await http("GET", f"http://127.0.0.1:{app.port}/admin/api/stats")
        assert status == 404
        status, _, raw = await http("GET", f"http://127.0.0.1:{admin_port}/admin/api/stats")
        assert status == 200 and json.loads(raw)
        status, _, _ = await http("GET", f"http://127.0.0.1:{admin_port}/admin")
        assert status == 200
        status, _, raw = await http("GET", f"http://127.0.0.1:{app.port}/healthz")
        assert (status, raw) == (200, b"ok")
    finally:
        await app.stop(timeout=2)


def test_admin_alias_is_reserved() -> None:
    from scanbridge.config import ConfigError, PortConfig

    with pytest.raises(ConfigError, match="admin"):
        Config(ports=[PortConfig(alias="admin", port=0)])
