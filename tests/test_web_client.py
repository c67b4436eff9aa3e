"""The browser side, in a real headless Chromium driven over the DevTools protocol:
the client module /scanbridge.js (scans, lossless resume across a page reload and
a server restart), the demo page (scans, the simulated MARK display, feedback,
trigger block; a watcher that takes no scans from apps), the form example, and
the small files (favicon).

Every wait is bounded; screenshots are saved in each test's tmp_path.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from conftest import ServerProcess, free_port, start_server
from streams_helpers import cli_scan, command, connect, http, post_scan
from test_demo_page import _chromium
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

pytestmark = pytest.mark.timeout(60)

DEMO = "DEMO-0001"


@pytest.fixture(scope="module")
def chromium() -> str:
    path = _chromium()
    if path is None:
        pytest.skip("chromium is not installed and `apt-get install -y chromium` did not work")
    return path


# ---------------------------------------------------------------- the browser


class Browser:
    """One headless Chromium with one page, driven over the DevTools protocol."""

    def __init__(self, chromium: str, profile: Path) -> None:
        profile.mkdir(parents=True, exist_ok=True)
        self.log = (profile / "chromium.log").open("wb")
        self.proc = subprocess.Popen(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--disable-component-update",
                "--window-size=1100,760",
                "--remote-debugging-port=0",
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )
        #: console messages and uncaught exceptions of the page (for failure messages)
        self.console: list[str] = []
        self._id = 0
        self._stack = contextlib.ExitStack()
        try:
            port = self._devtools_port(profile / "DevToolsActivePort", 20.0)
            page = self._page_target(port, 10.0)
            self.ws: ClientConnection = self._stack.enter_context(
                ws_connect(page, open_timeout=10, close_timeout=2, max_size=None)
            )
            self.call("Page.enable")
            self.call("Runtime.enable")
        except BaseException:
            self.close()
            raise

    def _devtools_port(self, path: Path, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"chromium exited {self.proc.returncode}")
            with contextlib.suppress(OSError, ValueError, IndexError):
                return int(path.read_text().splitlines()[0])
            time.sleep(0.05)
        raise TimeoutError(f"chromium did not open its DevTools port in {timeout}s")

    @staticmethod
    def _page_target(port: int, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as r:
                for target in json.load(r):
                    if target.get("type") == "page":
                        return str(target["webSocketDebuggerUrl"])
            if time.monotonic() > deadline:
                raise TimeoutError("chromium has no page target")
            time.sleep(0.05)

    def call(self, method: str, timeout: float = 10.0, **params: Any) -> dict[str, Any]:
        self._id += 1
        my = self._id
        self.ws.send(json.dumps({"id": my, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{method}: no answer within {timeout}s")
            msg = json.loads(self.ws.recv(timeout=left))
            if msg.get("id") == my:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return dict(msg.get("result", {}))
            self._event(msg)

    def _event(self, msg: dict[str, Any]) -> None:
        method, params = msg.get("method"), msg.get("params", {})
        if method == "Runtime.consoleAPICalled":
            args = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
            self.console.append(f"console.{params.get('type')}: {args}")
        elif method == "Page.backForwardCacheNotUsed":
            self.console.append(f"bfcache not used: {params.get('notRestoredExplanations')}")
        elif method == "Runtime.exceptionThrown":
            d = params.get("exceptionDetails", {})
            self.console.append(
                f"exception: {d.get('exception', {}).get('description', d.get('text'))}"
            )

    def eval(self, expr: str, timeout: float = 10.0) -> Any:
        r = self.call(
            "Runtime.evaluate",
            timeout=timeout,
            expression=expr,
            returnByValue=True,
            awaitPromise=True,
        )
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expr!r}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def wait_for(self, expr: str, timeout: float = 8.0, what: str | None = None) -> Any:
        """Poll ``expr`` in the page until it is truthy (bounded)."""
        deadline = time.monotonic() + timeout
        value: Any = None
        while time.monotonic() < deadline:
            with contextlib.suppress(RuntimeError):  # e.g. between two documents
                value = self.eval(expr)
                if value:
                    return value
            time.sleep(0.1)
        raise AssertionError(
            f"{what or expr} not true within {timeout}s (last value {value!r});"
            f" page console: {self.console[-15:]}"
        )

    def goto(self, url: str, ready: str = "document.readyState === 'complete'") -> None:
        self.call("Page.navigate", url=url)
        self.wait_for(
            f"location.href === {json.dumps(url)} && {ready}", what=f"navigation to {url}"
        )

    def screenshot(self, path: Path) -> bytes:
        data = base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])
        path.write_bytes(data)
        return data

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._stack.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


@pytest.fixture
def browser(chromium: str, tmp_path: Path) -> Iterator[Browser]:
    b = Browser(chromium, tmp_path / "profile")
    yield b
    b.close()


@contextlib.contextmanager
def static_site(directory: Path) -> Iterator[str]:
    """Serve ``directory`` on 127.0.0.1 (another origin than scanbridge: a web app)."""
    handler = functools.partial(QuietHandler, directory=str(directory))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def send_command(client: Any, event_type: str, **fields: Any) -> dict[str, Any]:
    """Send a command on an ``?acks=1`` client; its command_ack (errors fail the test)."""
    eid, text = command(event_type, **fields)
    client.send(text)
    ev = client.next_of("command_ack", "errors")
    assert ev["event_type"] == "command_ack" and ev["event_reference_id"] == eid, ev
    return ev


def start(*args: str) -> ServerProcess:
    return start_server("--log-level", "warning", "--gateway-serial", "GW-WEB", *args)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    s = start("--port", "0", "--journal", str(tmp_path / "journal.sqlite"))
    yield s
    s.stop()


# ---------------------------------------------------------------- served files


def test_module_favicon_and_example_are_served(server: ServerProcess) -> None:
    status, headers, body = http("GET", server.http_url + "/scanbridge.js")
    assert status == 200
    assert headers["Content-Type"].startswith("text/javascript")
    # Web apps on their own origin import it (module scripts need CORS).
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert b"export function connect(" in body and b"export class ScanbridgeClient" in body

    status, headers, body = http("GET", server.http_url + "/favicon.ico")
    assert status == 200 and headers["Content-Type"] == "image/x-icon"
    assert body[:4] == b"\0\0\1\0" and b"PNG" in body[:40]
    status, headers, body = http("GET", server.http_url + "/favicon.svg")
    assert status == 200 and headers["Content-Type"] == "image/svg+xml"
    assert body.startswith(b"<svg")

    status, headers, body = http("GET", server.http_url + "/examples/form")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert b'from "/scanbridge.js"' in body and b'rel="icon"' in body
    status, _, body = http("GET", server.http_url + "/")
    assert status == 200 and b'from "/scanbridge.js"' in body and b'rel="icon"' in body


# ---------------------------------------------------------------- (b) the module

APP_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>app</title></head>
<body><ol id="got"></ol><script type="module">
import { connect } from "%(base)s/scanbridge.js";
// Everything this page received, kept across reloads (as the page's own state would be).
const got = JSON.parse(sessionStorage.getItem("got") || "[]");
const list = document.getElementById("got");
for (const c of got) list.append(Object.assign(document.createElement("li"), {textContent: c}));
const client = connect({ minDelay: 100, maxDelay: 800 });  // the server it came from
window.client = client;
window.opens = [];
client.on("open", (e) => window.opens.push(e.url));
client.on("scan", (e) => {
  got.push(e.scan_code);
  sessionStorage.setItem("got", JSON.stringify(got));
  list.append(Object.assign(document.createElement("li"), {textContent: e.scan_code}));
});
</script></body></html>
"""


def got(browser: Browser) -> list[str]:
    return list(browser.eval("JSON.parse(sessionStorage.getItem('got') || '[]')") or [])


def wait_got(browser: Browser, expected: list[str], timeout: float = 8.0) -> None:
    want = json.dumps(expected)
    browser.wait_for(
        f"sessionStorage.getItem('got') === {json.dumps(want.replace(', ', ','))}",
        timeout,
        what=f"page received {expected}",
    )


def test_module_resumes_across_reload_and_server_restart(browser: Browser, tmp_path: Path) -> None:
    port = free_port()
    journal = str(tmp_path / "journal.sqlite")
    server = start("--port", str(port), "--journal", journal)
    site = tmp_path / "site"
    site.mkdir()
    (site / "app.html").write_text(APP_PAGE % {"base": server.http_url})
    try:
        with static_site(site) as origin, contextlib.ExitStack() as stack:
            # Another app, connected the whole time: scans it gets are delivered, so
            # the page can only get them back by resuming (?after=), never as
            # "undelivered" scans.
            other = stack.enter_context(connect(server.url + "/"))
            app = origin + "/app.html"
            browser.goto(app, "window.client && window.client.state === 'open'")
            assert post_scan(server.http_url, "S1")[0] == 201
            wait_got(browser, ["S1"])
            assert [e["scan_code"] for e in other.scans(1)] == ["S1"]

            # Away (pagehide closes the socket), scans meanwhile, and back: resumed.
            browser.goto("about:blank")
            for code in ("S2", "S3"):
                assert post_scan(server.http_url, code)[0] == 201
            assert [e["scan_code"] for e in other.scans(2)] == ["S2", "S3"]
            browser.goto(app, "window.client && window.client.state === 'open'")
            wait_got(browser, ["S1", "S2", "S3"])
            assert "after=" in browser.eval("window.opens[0]"), browser.eval("window.opens")

            # A real reload, with a scan posted while it reloads.
            browser.call("Page.reload")
            assert post_scan(server.http_url, "S4")[0] == 201
            browser.wait_for("window.client && window.client.state === 'open'")
            wait_got(browser, ["S1", "S2", "S3", "S4"])

            # The server restarts (same port, same journal); a scan before the page is back.
            stack.close()  # the other app's socket (the server is about to go)
            assert server.stop() == 0
            browser.wait_for("window.client.state !== 'open'", what="page noticed the stop")
            server = start("--port", str(port), "--journal", journal)
            other = stack.enter_context(connect(server.url + "/"))
            assert post_scan(server.http_url, "S5")[0] == 201
            assert [e["scan_code"] for e in other.scans(1)] == ["S5"]
            browser.wait_for("window.client.state === 'open'", 10, what="page reconnected")
            wait_got(browser, ["S1", "S2", "S3", "S4", "S5"])
            assert post_scan(server.http_url, "S6")[0] == 201
            wait_got(browser, ["S1", "S2", "S3", "S4", "S5", "S6"])
            opens = browser.eval("window.opens")
            assert len(opens) >= 2 and all("after=" in u for u in opens), opens
            assert not [c for c in browser.console if "exception" in c], browser.console
    finally:
        server.stop()


def test_module_commands_resolve_by_ack_and_reject_by_error(
    browser: Browser, tmp_path: Path
) -> None:
    s = start(
        "--port", "0", "--journal", ":memory:", "--scanner", "demo:interval=3600", "--token", "T0k"
    )  # fmt: skip
    try:
        # The page passes its ?token= on (connect's token option).
        browser.goto(
            s.http_url + "/examples/form?token=T0k", "window.scanbridgeClient?.state === 'open'"
        )
        c = "window.scanbridgeClient"
        assert "token=T0k" in browser.eval(f"{c}.url")
        ack = browser.eval(f"{c}.feedback({json.dumps(DEMO)}, 'cyan')")
        assert ack["event_type"] == "command_ack", ack
        gw = browser.eval(f"{c}.gatewayState()")
        assert gw["event_type"] == "gateway_state" and gw["gateway_serial"] == "GW-WEB", gw
        assert [d["device_serial"] for d in gw["device_connected_list"]] == [DEMO]
        err = browser.eval(
            f"{c}.display('NOPE-1', 'PG1', ['x'])"
            ".then(() => null, (e) => [e.name, e.code, e.message])"
        )
        assert err == [
            "CommandError",
            "ERROR_DEVICE_NOT_FOUND",
            "no scanner with device_serial 'NOPE-1'",
        ]
        # Checked in the browser, before anything is sent.
        err = browser.eval(
            f"{c}.display({json.dumps(DEMO)}, 'PG1', ['x'.repeat(81)])"
            ".then(() => null, (e) => e.code)"
        )
        assert err == "CLIENT_INVALID"
        ack = browser.eval(
            f"{c}.display({json.dumps(DEMO)}, 'PG1', [{{header: 'Hi', text: 'there'}}],"
            " {validity: 60000})"
        )
        assert ack["event_type"] == "command_ack"
        _, _, body = http("GET", s.http_url + "/api/devices")
        screen = json.loads(body)[0]["screen"]
        assert screen["display"]["fields"] == [{"id": 1, "header": "Hi", "text": "there"}]
        assert screen["feedback"]["action"] == "FEEDBACK_SPECIAL_CYAN"
    finally:
        s.stop()


# ---------------------------------------------------------------- (a) the demo page


DEVICE = f'document.querySelector(".device[data-serial={DEMO}]")'


def test_demo_page_scans_and_simulated_mark_display(browser: Browser, tmp_path: Path) -> None:
    s = start("--port", "0", "--journal", ":memory:", "--scanner", "demo:interval=1")
    try:
        browser.goto(
            s.http_url + "/",
            f"document.getElementById('status').textContent === 'live' && {DEVICE}"
            " && !" + DEVICE + ".querySelector('.mark').hidden",
        )
        # A scan from the demo scanner (with its symbology) and one typed with `scanbridge scan`.
        cli_scan(s.http_url, "TYPED-4711", device_serial="KB-1")
        row = browser.wait_for(
            """[...document.querySelectorAll('#scans tr')].map(r =>
                 [...r.cells].map(c => c.textContent)).find(r => r[1] === 'TYPED-4711')""",
            what="typed scan row",
        )
        assert row[2:4] == ["-", "KB-1"], row
        demo = browser.wait_for(
            """[...document.querySelectorAll('#scans tr')].map(r =>
                 [...r.cells].map(c => c.textContent)).find(r => r[3] === 'DEMO-0001')""",
            what="demo scanner's scan row",
        )
        assert demo[2] in ("EAN-13", "CODE 128", "QR CODE"), demo

        # display!, trigger_block! and feedback! from an app (a Streams client).
        with connect(s.url + "/?acks=1") as app:
            send_command(
                app,
                "display!",
                device_serial=DEMO,
                display_template_id="PG2",
                display_fields=[
                    {
                        "display_field_id": 1,
                        "display_field_header": "Order",
                        "display_field_text": "4711",
                    },
                    {
                        "display_field_id": 2,
                        "display_field_header": "Pick",
                        "display_field_text": "Shelf B-12",
                    },
                ],
            )
            fields = browser.wait_for(
                f"""{DEVICE}.querySelector('.fields[data-template=PG2]') &&
                 [...{DEVICE}.querySelectorAll('.field')].map(f => f.innerText)""",
                what="display shown",
            )
            assert fields == ["ORDER\n4711", "PICK\nShelf B-12"], fields
            assert browser.eval(f"{DEVICE}.querySelector('.tpl').textContent") == "PG2"

            send_command(app, "trigger_block!", device_serial=DEMO, trigger_block_state=True)
            browser.wait_for(
                f"!{DEVICE}.querySelector('.blocked-overlay').hidden"
                f" && !{DEVICE}.querySelector('.blocked-badge').hidden",
                what="trigger blocked shown",
            )
            send_command(
                app, "feedback!", device_serial=DEMO, feedback_action_id="FEEDBACK_NEGATIVE"
            )
            flash = browser.wait_for(
                f"""(f => !f.hidden && [f.className, f.innerText])
                    ({DEVICE}.querySelector('.flash'))""",
                what="feedback flash",
            )
            assert flash[0] == "flash c-negative" and "FEEDBACK_NEGATIVE" in flash[1], flash
            shot = browser.screenshot(tmp_path / "demo-mark-display.png")
            assert shot[:8] == b"\x89PNG\r\n\x1a\n" and len(shot) > 10_000
            assert "FEEDBACK_NEGATIVE" in browser.eval(
                f"{DEVICE}.querySelector('.lastfb').textContent"
            )
            # The flash goes, the screen and the block stay.
            browser.wait_for(f"{DEVICE}.querySelector('.flash').hidden", 5, what="flash over")
            assert not browser.eval(f"{DEVICE}.querySelector('.blocked-overlay').hidden")
            browser.screenshot(tmp_path / "demo-display-blocked.png")

        # The page's own controls send commands through scanbridge.js.
        browser.eval(f"{DEVICE}.querySelector('.controls').open = true")
        browser.eval(f"{DEVICE}.querySelector('.unblock').click()")
        browser.wait_for(
            f"{DEVICE}.querySelector('.blocked-overlay').hidden"
            f" && {DEVICE}.querySelector('.result').textContent.includes('carried out')",
            what="unblocked from the page",
        )
        browser.eval(f"{DEVICE}.querySelector('.fb-action').value = 'cyan'")
        browser.eval(f"{DEVICE}.querySelector('.send-feedback').click()")
        browser.wait_for(
            f"(f => !f.hidden && f.className === 'flash c-cyan')({DEVICE}.querySelector('.flash'))",
            what="cyan flash from the page's button",
        )
        browser.eval(
            f"(f => {{ f.elements.template.value = 'PG1'; f.elements.t1.value = 'Hello';"
            f" f.requestSubmit(); }})({DEVICE}.querySelector('.display-form'))"
        )
        browser.wait_for(
            f"{DEVICE}.querySelector('.fields[data-template=PG1]')?.innerText === 'ORDER\\nHello'",
            what="PG1 display from the page's form",
        )
        browser.screenshot(tmp_path / "demo-after-controls.png")
        assert not [c for c in browser.console if "exception" in c], browser.console
    finally:
        s.stop()


# ---------------------------------------------------------------- (c) the watcher


def test_demo_page_takes_no_scans_from_apps(
    browser: Browser, server: ServerProcess, tmp_path: Path
) -> None:
    browser.goto(server.http_url + "/", "document.getElementById('status').textContent === 'live'")
    for code in ("W-1", "W-2"):
        assert post_scan(server.http_url, code, device_serial="DEV-W")[0] == 201
    codes = browser.wait_for(
        """(c => c.length === 2 && c)([...document.querySelectorAll('#scans td.code')]
             .map(td => td.textContent))""",
        what="both scans on the demo page",
    )
    assert codes == ["W-2", "W-1"]  # newest first
    # An app that connects now still gets them: the page only watched.
    with connect(server.url + "/") as app:
        assert [e["scan_code"] for e in app.scans(2)] == ["W-1", "W-2"]
    # The page left: its socket is closed (pagehide), not left open in the
    # back/forward cache or to time out.
    browser.goto(server.http_url + "/favicon.svg")
    deadline = time.monotonic() + 5
    while (open_ := _websockets_open(server)) != 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert open_ == 0, "the demo page's socket is still open after it left"
    # Back: restored from the back/forward cache (pageshow), it connects again.
    browser.eval("history.back()")
    opens = browser.wait_for(
        "document.getElementById('status').textContent === 'live' && scanbridgeClient.opens",
        what="page back and live",
    )
    assert opens == 2, f"not restored from the back/forward cache: {browser.console}"
    assert _websockets_open(server) == 1
    assert browser.eval("document.querySelectorAll('#scans td.code').length") == 2


def test_demo_page_shows_the_socket_closed_as_soon_as_it_is_hidden(
    browser: Browser, server: ServerProcess
) -> None:
    # A page going into the back/forward cache is frozen right after pagehide,
    # before its socket's close event: the page must learn of the close in
    # pagehide itself, or it comes back showing "live" while it is not.
    browser.goto(server.http_url + "/", "document.getElementById('status').textContent === 'live'")
    hidden = browser.eval(
        """dispatchEvent(new PageTransitionEvent('pagehide', {persisted: true}));
           [document.getElementById('status').textContent, scanbridgeClient.state]"""
    )
    assert hidden == ["reconnecting", "suspended"]
    browser.eval("dispatchEvent(new PageTransitionEvent('pageshow', {persisted: true}))")
    opens = browser.wait_for(
        "document.getElementById('status').textContent === 'live' && scanbridgeClient.opens",
        what="live again",
    )
    assert opens == 2
    deadline = time.monotonic() + 5
    while (open_ := _websockets_open(server)) != 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert open_ == 1  # the hidden socket was closed, not left beside the new one


def _websockets_open(server: ServerProcess) -> int | None:
    _, _, body = http("GET", server.http_url + "/metrics")
    for line in body.decode().splitlines():
        if line.startswith("scanbridge_websockets_open "):
            return int(float(line.split()[1]))
    return None


# ---------------------------------------------------------------- (d) the form example


def test_form_example_fills_its_fields(browser: Browser, server: ServerProcess) -> None:
    browser.goto(
        server.http_url + "/examples/form",
        "document.getElementById('status').textContent === 'live'",
    )
    assert browser.eval("document.activeElement.id") == "code"
    assert post_scan(server.http_url, "ITEM-42", device_serial="KB-7")[0] == 201
    browser.wait_for(
        "document.getElementById('code').value === 'ITEM-42'"
        " && document.activeElement.id === 'location'",
        what="item field filled, focus on location",
    )
    assert post_scan(server.http_url, "LOC-7", device_serial="KB-7")[0] == 201
    browser.wait_for("document.getElementById('location').value === 'LOC-7'")
    for kind in ("keyDown", "keyUp"):
        browser.call(
            "Input.dispatchKeyEvent",
            type=kind,
            key="Enter",
            code="Enter",
            windowsVirtualKeyCode=13,
            **({"text": "\r"} if kind == "keyDown" else {}),
        )
    entries = browser.wait_for(
        "(l => l.length && l)([...document.querySelectorAll('#entries li')]"
        ".map(li => li.textContent))",
        what="entry listed",
    )
    assert entries == ["ITEM-42 @ LOC-7"]
    assert browser.eval("document.getElementById('code').value") == ""
    # The positive feedback! it sent for KB-7 was answered (no such scanner here).
    note = browser.wait_for("document.getElementById('feedback').textContent")
    assert note == "no feedback on KB-7: no scanner with device_serial 'KB-7'", note
