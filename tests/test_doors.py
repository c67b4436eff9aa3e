"""Doors closed by default (issue 12, item 4): origins, public binds, configuration barcodes.

Real servers on loopback: an App in the test's loop, or `scanbridge serve` in a
subprocess; every wait is bounded and all traffic goes to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import os
import subprocess
import time
from typing import Any

import pytest
import websockets
from conftest import SCANBRIDGE, start_server
from streams_helpers import AsyncClient, cli, command, http
from websockets.exceptions import InvalidStatus

from scanbridge import App, Config, _core
from scanbridge.config import AdminConfig, ConfigError, PortConfig, is_loopback_host
from scanbridge.config_barcode import (
    DEFAULT_VALID_FOR,
    SETTABLE,
    make_config_text,
    parse_config_text,
)

KEY = "barcode-key"


async def ws_status(url: str, origin: str | None = None) -> int:
    """101 when the upgrade succeeds, else the HTTP status of the refusal."""
    headers = {"Origin": origin} if origin is not None else {}
    try:
        async with websockets.connect(url, additional_headers=headers, open_timeout=5):
            return 101
    except InvalidStatus as e:
        return e.response.status_code


async def post(
    app: App, path: str, body: Any, origin: str | None = None, **headers: str
) -> tuple[int, dict[str, Any]]:
    hdrs = {"Content-Type": "application/json", **headers}
    if origin is not None:
        hdrs["Origin"] = origin
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    url = f"http://127.0.0.1:{app.port}{path}"
    status, _, out = await asyncio.to_thread(http, "POST", url, data, hdrs)
    return status, json.loads(out)


@pytest.fixture
async def app():
    a = App(Config(port=0, journal=":memory:", log_level="warning"))
    await a.start()
    yield a
    await a.stop(timeout=2)


# --------------------------------------------------------------------- Origin

WS_PATHS = ["/", "/streams", "/layout", "/bus", "/lobby", "/socket.io/?EIO=4&transport=websocket"]
HTTP_POSTS = [
    ("/api/scans", {"code": "FROM-A-SANDBOXED-IFRAME"}),
    ("/api/rooms/layout/r1", {"hello": 1}),
    ("/api/rooms/lobby/r1", {"hello": 1}),
    ("/bus-message/r1", {"hello": 1}),
]


async def test_null_origin_refused_by_default_on_every_door(app: App) -> None:
    assert "null" not in Config().allowed_origins
    for path in WS_PATHS:
        assert await ws_status(app.url + path, "null") == 403, path
    for path, body in HTTP_POSTS:
        status, r = await post(app, path, body, origin="null")
        assert status == 403 and "null" in r["error"], (path, status, r)
    # Nothing got through: the scan history is empty.
    async with websockets.connect(app.url + "/?since=0", open_timeout=5) as ws:
        c = AsyncClient(ws)
        _eid, text = command("gateway_state!")
        await ws.send(text)
        ev = await c.next_of("gateway_state", "scan")
        assert ev["event_type"] == "gateway_state"
    # The same requests from an allowed page pass (the doors are not simply shut).
    for path in WS_PATHS:
        assert await ws_status(app.url + path, "http://localhost:3000") == 101, path
    for path, body in HTTP_POSTS:
        status, r = await post(app, path, body, origin="http://localhost:3000")
        assert status in (200, 201), (path, status, r)


async def test_null_origin_is_an_explicit_opt_in() -> None:
    a = App(Config(port=0, journal=":memory:", allowed_origins=["null"]))
    await a.start()
    try:
        for path in WS_PATHS:
            assert await ws_status(a.url + path, "null") == 101, path
        for path, body in HTTP_POSTS:
            status, _ = await post(a, path, body, origin="null")
            assert status in (200, 201), path
    finally:
        await a.stop(timeout=2)


# (patterns, origin, what the WebSocket upgrade answers): shell-glob cases where
# fnmatch (the old HTTP matcher) and rust/core/src/glob.rs disagree.
MATCHER_CASES = [
    (["http://[::1]:*"], "http://[::1]:8080", True),  # IPv6 literal: fnmatch sees a [class]
    (["http://[ab].example"], "http://a.example", False),  # glob.rs: '[' is a literal
    (["http://[!x].example"], "http://a.example", False),
    (["http://localhost:*"], "HTTP://LOCALHOST:1", True),
    (["http://localhost:*"], "http://localhost.evil.example", False),
    (["null"], "null", True),
]


@pytest.mark.parametrize(("patterns", "origin", "allowed"), MATCHER_CASES)
async def test_http_and_websocket_use_one_origin_matcher(
    patterns: list[str], origin: str, allowed: bool
) -> None:
    a = App(Config(port=0, journal=":memory:", allowed_origins=patterns, log_level="warning"))
    await a.start()
    try:
        ws = await ws_status(a.url + "/layout", origin)
        assert ws == (101 if allowed else 403)
        status, _ = await post(a, "/api/rooms/layout/r", {"x": 1}, origin=origin)
        assert status == (200 if allowed else 403)
        status, _ = await post(a, "/api/scans", {"code": "C"}, origin=origin)
        assert status == (201 if allowed else 403)
    finally:
        await a.stop(timeout=2)
    assert _core.origin_allowed(origin, patterns) is allowed


def test_origin_rule_without_origin_or_patterns() -> None:
    # Identical to the upgrade (io/conn.rs): no Origin passes, no patterns: all pass.
    assert _core.origin_allowed(None, ["http://x"]) is True
    assert _core.origin_allowed("http://evil.example", []) is True
    assert _core.origin_allowed(" http://x ", ["http://x"]) is True


async def _first_line(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.readline(), 5)
    finally:
        writer.close()


async def test_http_reads_the_first_origin_header_like_the_upgrade() -> None:
    """Two Origin headers: the upgrade reads the first; HTTP used to match them
    joined ("https://evil.example, https://a.example.com"), which a `*` pattern
    let through."""
    a = App(Config(port=0, journal=":memory:", allowed_origins=["https://*.example.com"]))
    await a.start()
    try:
        origins = b"Origin: https://evil.example\r\nOrigin: https://a.example.com\r\n"
        body = b'{"code": "TWO-ORIGINS"}'
        post = (
            b"POST /api/scans HTTP/1.1\r\nHost: 127.0.0.1\r\n%sContent-Type: application/json"
            b"\r\nContent-Length: %d\r\n\r\n%s" % (origins, len(body), body)
        )
        upgrade = (
            b"GET /layout HTTP/1.1\r\nHost: 127.0.0.1\r\n%sUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n" % origins
        )
        assert (await _first_line(a.port, upgrade)).split()[1] == b"403"
        assert (await _first_line(a.port, post)).split()[1] == b"403"
    finally:
        await a.stop(timeout=2)


# ---------------------------------------------------------------- public bind


def test_public_bind_without_token_refuses_to_start() -> None:
    proc = subprocess.run(
        [*SCANBRIDGE, "serve", "--host", "0.0.0.0", "--port", "0", "--journal", ":memory:"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "host='0.0.0.0'" in lines[0] and "token" in lines[0]
    assert "listening" not in proc.stderr


def test_public_bind_with_workers_refuses_before_they_start() -> None:
    # With workers the Streams API is off (the token guards the Streams API),
    # so a public bind with workers is refused for that, in the parent.
    proc = subprocess.run(
        [*SCANBRIDGE, "serve", "--host", "0.0.0.0", "--port", "0", "--workers", "2"],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "SCANBRIDGE_REDIS_URL": "redis://127.0.0.1:1/0"},
    )
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Streams API" in proc.stderr


def test_public_bind_with_token_starts_and_guards_the_streams_api() -> None:
    # Binds 0.0.0.0 (behind a token); the test talks to it over loopback only.
    s = start_server(
        "--host", "0.0.0.0", "--port", "0", "--token", "T0k3n", "--journal", ":memory:"
    )
    try:
        base = f"http://127.0.0.1:{s.port}"
        body = b'{"code": "X"}'
        hdr = {"Content-Type": "application/json"}
        assert http("POST", base + "/api/scans", body, hdr)[0] == 401
        auth = {**hdr, "Authorization": "Bearer T0k3n"}
        assert http("POST", base + "/api/scans", body, auth)[0] == 201
        ws = f"ws://127.0.0.1:{s.port}"
        assert asyncio.run(ws_status(ws + "/?since=0")) == 401
        assert asyncio.run(ws_status(ws + "/?since=0&token=T0k3n")) == 101
    finally:
        s.stop()


async def test_library_app_refuses_a_public_bind_without_token() -> None:
    a = App(Config(host="0.0.0.0", port=0, journal=":memory:"))
    with pytest.raises(ConfigError, match=r"host='0\.0\.0\.0' is not loopback"):
        await a.start()
    assert a._core is None  # nothing was bound


def test_every_listener_counts_for_exposure() -> None:
    Config(host="127.0.0.1").check_exposure()
    Config(host="::1").check_exposure()
    Config(host="localhost").check_exposure()
    Config(host="0.0.0.0", token="t").check_exposure()
    Config(host="0.0.0.0", streams=False).check_exposure()  # no Streams API to expose
    for cfg, key in [
        (Config(host="::"), "host"),
        (Config(host="192.168.1.7"), "host"),
        (Config(host="scanner-gw.lan"), "host"),
        (Config(ports=[PortConfig(alias="lan", port=0, host="0.0.0.0")]), r"ports\[0\]\.host"),
        (Config(admin=AdminConfig(port=0, host="10.0.0.1")), r"admin\.host"),
    ]:
        with pytest.raises(ConfigError, match=key + "="):
            cfg.check_exposure()
    assert is_loopback_host("127.0.0.2") and is_loopback_host("::ffff:127.0.0.1")
    assert not is_loopback_host("::ffff:10.0.0.1")


# ------------------------------------------------------ configuration barcodes


def _signed(doc: dict[str, Any], key: str = KEY) -> str:
    """A barcode text with exactly this payload (to forge old or odd ones)."""
    b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()  # noqa: E731
    head = "SBCFG1." + b64(json.dumps(doc).encode())
    return head + "." + b64(hmac.new(key.encode(), head.encode(), hashlib.sha256).digest())


def test_barcode_carries_issue_time_and_expiry() -> None:
    text = make_config_text({"port": 9999}, KEY, now=1_700_000_000)
    payload = json.loads(base64.urlsafe_b64decode(text.split(".")[1] + "=="))
    assert payload["iat"] == 1_700_000_000
    assert payload["exp"] == 1_700_000_000 + DEFAULT_VALID_FOR == 1_700_086_400
    assert parse_config_text(text, KEY, now=1_700_086_399) == {"port": 9999}
    with pytest.raises(ValueError, match="expired at 2023-11-15 22:13:20 UTC"):
        parse_config_text(text, KEY, now=1_700_086_400)
    short = make_config_text({"port": 9999}, KEY, now=1_700_000_000, valid_for=60)
    with pytest.raises(ValueError, match="expired"):
        parse_config_text(short, KEY, now=1_700_000_061)
    with pytest.raises(ConfigError, match="valid_for"):
        make_config_text({"port": 9999}, KEY, valid_for=0)


@pytest.mark.parametrize(
    ("doc", "why"),
    [
        ({"v": 1, "set": {"port": 9999}, "iat": 1}, "no valid issue time and expiry"),
        ({"v": 1, "set": {"port": 9999}, "iat": 1, "exp": 2}, "expired at 1970-01-01"),
        ({"v": 1, "set": {"port": 9999}}, "no valid issue time"),
        ({"v": 1, "set": {"port": 9999}, "iat": True, "exp": 1e300}, "no valid issue time"),
        ({"v": 1, "set": {"port": 9999}, "iat": 1_700_000_000, "exp": 1_600_000_000}, "before"),
        (
            {"v": 1, "set": {"port": 9999}, "iat": int(time.time()) + 3600, "exp": 9_000_000_000},
            "issued in the future",
        ),
    ],
)
def test_barcode_refused_without_a_plausible_lifetime(doc: dict[str, Any], why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_config_text(_signed(doc), KEY)


async def _barcode_app(**cfg: Any) -> App:
    a = App(Config(port=0, journal=":memory:", config_barcode_key=KEY, **cfg))
    await a.start()
    return a


async def test_barcode_from_1970_is_not_applied(caplog: pytest.LogCaptureFixture) -> None:
    """The attack from the issue: a well-signed barcode with iat=1 and no expiry."""
    a = await _barcode_app()
    root_level = logging.getLogger().level
    try:
        old_port = a.port
        text = _signed({"v": 1, "set": {"log_level": "error"}, "iat": 1})
        with caplog.at_level(logging.WARNING, "scanbridge.config_barcode"):
            status, r = await post(a, "/api/scans", {"code": text})
        assert (status, r) == (200, {"published": False})
        assert a.config.log_level == "info" and a.port == old_port
        assert "refused: no valid issue time and expiry" in caplog.text
        # An expired one made by the CLI is refused too, a fresh one applies.
        expired = make_config_text(
            {"log_level": "error"}, KEY, now=time.time() - 7200, valid_for=3600
        )
        await post(a, "/api/scans", {"code": expired})
        assert a.config.log_level == "info" and "refused: expired at" in caplog.text
        fresh = make_config_text({"log_level": "error"}, KEY)
        await post(a, "/api/scans", {"code": fresh})
        assert a.config.log_level == "error"
        assert logging.getLogger().level == logging.ERROR
    finally:
        logging.getLogger().setLevel(root_level)
        await a.stop(timeout=2)


def test_settable_keys_are_the_ones_applied_everywhere() -> None:
    assert set(SETTABLE) == {"port", "undelivered_ttl", "log_level"}
    for key, value in [("allowed_origins", ["*"]), ("idle_timeout", 1.0), ("ping_interval", 1.0)]:
        with pytest.raises(ConfigError, match="cannot be set by barcode"):
            make_config_text({key: value}, KEY)


async def test_barcode_cannot_split_the_origin_checks(caplog: pytest.LogCaptureFixture) -> None:
    """A barcode for allowed_origins used to change HTTP only; now it is refused and
    HTTP and WebSocket still agree."""
    a = await _barcode_app(log_level="warning")
    try:
        now = int(time.time())
        forged = _signed({"v": 1, "set": {"allowed_origins": ["*"]}, "iat": now, "exp": now + 60})
        with caplog.at_level(logging.WARNING, "scanbridge.config_barcode"):
            assert (await post(a, "/api/scans", {"code": forged}))[0] == 200
        assert "'allowed_origins' cannot be set by barcode" in caplog.text
        evil = "https://evil.example"
        assert await ws_status(a.url + "/layout", evil) == 403
        assert (await post(a, "/api/rooms/layout/r", {"x": 1}, origin=evil))[0] == 403
    finally:
        await a.stop(timeout=2)


async def test_barcode_undelivered_ttl_reaches_the_streams_service() -> None:
    """undelivered_ttl by barcode: the next client gets a scan no one received."""
    a = await _barcode_app(undelivered_ttl=0.0)
    try:
        text = make_config_text({"undelivered_ttl": 3600}, KEY)
        assert (await post(a, "/api/scans", {"code": text}))[0] == 200
        assert a.config.undelivered_ttl == 3600
        assert (await post(a, "/api/scans", {"code": "NOBODY-LISTENED"}))[0] == 201
        async with websockets.connect(a.url + "/", open_timeout=5) as ws:
            ev = await AsyncClient(ws).next_of("scan", timeout=3)
            assert ev["scan_code"] == "NOBODY-LISTENED"
    finally:
        await a.stop(timeout=2)


def test_cli_valid_for() -> None:
    def payload(*extra: str) -> dict[str, Any]:
        r = cli("config-barcode", "--set", "port=9999", "--key", "k", *extra)
        assert r.returncode == 0, r.stderr
        return json.loads(base64.urlsafe_b64decode(r.stdout.strip().split(".")[1] + "=="))

    p = payload()
    assert p["exp"] - p["iat"] == 86_400 and abs(p["iat"] - time.time()) < 60
    p = payload("--valid-for", "90m")
    assert p["exp"] - p["iat"] == 5400
    p = payload("--valid-for", "120")
    assert p["exp"] - p["iat"] == 120
    for bad in ("0", "-5h", "soon", "nan"):
        r = cli("config-barcode", "--set", "port=9999", "--key", "k", "--valid-for", bad)
        assert r.returncode == 2 and r.stderr.count("\n") == 1, (bad, r.stderr)
        assert "--valid-for" in r.stderr
