"""Streams API end to end (PROTOCOLS.md section 1): real servers, real clients, the CLI.

Servers run as `scanbridge serve` subprocesses on loopback (conftest.start_server);
the Python API tests run an App in the test's own event loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from conftest import ServerProcess, free_port, start_server
from streams_helpers import (
    UUID_RE,
    AsyncClient,
    assert_header,
    cli,
    cli_scan,
    command,
    connect,
    http,
    now_ms,
    post_scan,
    wait_output,
)
from websockets.exceptions import InvalidStatus

import scanbridge
from scanbridge.config import ScannerConfig
from scanbridge.streams import messages as m

QUIET = ("--log-level", "warning")


@pytest.fixture
def server() -> Iterator[ServerProcess]:
    """A server of its own (memory journal), gateway serial fixed."""
    s = start_server("--port", "0", "--gateway-serial", "GW-TEST-1", *QUIET)
    yield s
    s.stop()


# --------------------------------------------------------------------- the scan event


def test_cli_scan_reaches_clients_on_root_and_streams_alias(server: ServerProcess) -> None:
    with connect(server.url + "/?ext=1") as root, connect(server.url + "/streams?ext=1") as alias:
        before = now_ms()
        printed = cli_scan(server.http_url, "4006381333931", device_serial="DEV-7")
        after = now_ms()
        assert printed["published"] is True
        for client in (root, alias):
            ev = client.next_of("scan")
            assert ev["event_type"] == "scan"
            assert_header(ev)
            assert before - 1000 <= ev["time_created"] <= after + 1000
            assert ev["scan_code"] == "4006381333931"
            assert ev["device_serial"] == "DEV-7"
            assert ev["gateway_serial"] == "GW-TEST-1"
            assert ev["seq"] == printed["seq"]
            assert ev["event_id"] == printed["event_id"]
            assert "scan_bytes" not in ev  # valid UTF-8: no raw copy


@pytest.mark.parametrize(
    ("flag", "extended"),
    [("1", True), ("on", True), ("TRUE", True), ("yes", True), ("0", False), ("no", False)],
)
def test_ext_flag_takes_the_configuration_words(
    server: ServerProcess, flag: str, extended: bool
) -> None:
    """?ext= is read with the one list of true words (it once had its own, without
    "on"); anything else is the documented field set (checked by the strict client)."""
    with connect(server.url + f"/?ext={flag}") as c:
        cli_scan(server.http_url, "FLAG-1")
        ev = c.next_of("scan")
        assert ("seq" in ev) == extended, ev


def test_scan_without_device_serial_and_unicode_code(server: ServerProcess) -> None:
    with connect(server.url + "/?ext=1") as c:
        first = cli_scan(server.http_url, "Grüße €")
        second = cli_scan(server.http_url, "plain")
        a, b = c.scans(2)
        assert (a["scan_code"], b["scan_code"]) == ("Grüße €", "plain")
        assert a["device_serial"] == "API-0001"
        assert a["seq"] == first["seq"] < b["seq"] == second["seq"]
        assert a["event_id"] != b["event_id"]


# ------------------------------------------------------------------------ commands


@pytest.fixture
def scanners_server() -> Iterator[ServerProcess]:
    s = start_server(
        "--port",
        "0",
        "--gateway-serial",
        "GW-CMD",
        "--scanner",
        "demo:device_serial=D-1,interval=3600",
        "--scanner",
        "demo:device_serial=D-2,interval=3600",
        *QUIET,
    )
    # Sources connect in the background after the port opens: wait (bounded) for both.
    deadline = time.monotonic() + 5
    while True:
        devices = json.loads(http("GET", s.http_url + "/api/devices")[2])
        if len(devices) == 2 and all(d["connected"] for d in devices):
            break
        assert time.monotonic() < deadline, devices
        time.sleep(0.02)
    # ... and for their scanner_state events to be sent (stored first, then sent).
    with connect(s.url + "/?since=0") as c:
        assert {c.next_of("scanner_state")["device_serial"] for _ in range(2)} == {"D-1", "D-2"}
    yield s
    s.stop()


def _gateway_state_round_trip(c: Any) -> dict[str, Any]:
    eid, text = command("gateway_state!")
    c.send(text)
    while True:  # the unsolicited gateway_state of the connect has no reference
        ev = c.next_of("gateway_state", "errors", "command_ack")
        if ev["event_type"] != "gateway_state" or "event_reference_id" in ev:
            break
    assert ev["event_type"] == "gateway_state", ev
    assert ev["event_reference_id"] == eid
    return ev


def test_command_errors_keep_the_socket_open(scanners_server: ServerProcess) -> None:
    with connect(scanners_server.url) as c:
        # feedback! to an unknown device
        eid, text = command(
            "feedback!", device_serial="NOPE-9", feedback_action_id="FEEDBACK_POSITIVE"
        )
        c.send(text)
        ev = c.next_of("errors")
        assert_header(ev, journaled=False)
        assert ev["error_code"] == "ERROR_DEVICE_NOT_FOUND"
        assert ev["event_reference_id"] == eid
        assert ev["error_severity"] in ("WARNING", "ERROR", "CRITICAL")
        assert "NOPE-9" in ev["error_message"]
        _gateway_state_round_trip(c)

        # not JSON at all
        c.send("{not json")
        ev = c.next_of("errors")
        assert ev["error_code"] == "ERROR_INVALID_COMMAND"
        assert "JSON" in ev["error_message"]
        _gateway_state_round_trip(c)

        # an unknown event_type
        eid, text = command("self_destruct!", device_serial="D-1")
        c.send(text)
        ev = c.next_of("errors")
        assert ev["error_code"] == "ERROR_INVALID_COMMAND"
        assert ev["event_reference_id"] == eid
        assert "self_destruct!" in ev["error_message"]
        _gateway_state_round_trip(c)

        # a field out of range: display_field_text of 81 characters
        eid, text = command(
            "display!",
            device_serial="D-1",
            display_template_id="PG1",
            display_fields=[{"display_field_id": 1, "display_field_text": "x" * 81}],
        )
        c.send(text)
        ev = c.next_of("errors")
        assert ev["error_code"] == "ERROR_INVALID_COMMAND"
        assert ev["event_reference_id"] == eid
        assert "display_field_text" in ev["error_message"]
        assert len(ev["error_message"]) <= 128
        _gateway_state_round_trip(c)

        # a binary frame is not a command either
        c.ws.send(b"\x00\x01")
        assert c.next_of("errors")["error_code"] == "ERROR_INVALID_COMMAND"
        _gateway_state_round_trip(c)


def test_gateway_state_lists_the_configured_scanners(scanners_server: ServerProcess) -> None:
    with connect(scanners_server.url) as c:
        ev = _gateway_state_round_trip(c)
        assert_header(ev, journaled=False)
        assert ev["gateway_serial"] == "GW-CMD"
        assert ev["gateway_app_version"] == scanbridge.__version__
        serials = sorted(d["device_serial"] for d in ev["device_connected_list"])
        assert serials == ["D-1", "D-2"]
        for d in ev["device_connected_list"]:
            assert {"device_model", "device_manufacturer", "device_firmware_version"} <= d.keys()
    status, _, body = http("GET", scanners_server.http_url + "/api/devices")
    assert status == 200
    assert sorted(d["device_serial"] for d in json.loads(body)) == ["D-1", "D-2"]


def test_acks_only_for_clients_that_asked(scanners_server: ServerProcess) -> None:
    with connect(scanners_server.url + "/?acks=1") as c:
        eid, text = command(
            "feedback!", device_serial="D-2", feedback_action_id="FEEDBACK_NEGATIVE"
        )
        c.send(text)
        ev = c.next_of("command_ack", "errors")
        assert ev["event_type"] == "command_ack", ev
        assert ev["event_reference_id"] == eid
        assert_header(ev, journaled=False)
        # The longest allowed display text (80) is valid.
        eid, text = command(
            "display!",
            device_serial="D-1",
            display_template_id="PG1",
            display_fields=[{"display_field_id": 1, "display_field_text": "y" * 80}],
        )
        c.send(text)
        ev = c.next_of("command_ack", "errors")
        assert (ev["event_type"], ev["event_reference_id"]) == ("command_ack", eid), ev
    with connect(scanners_server.url) as c:
        _, text = command("feedback!", device_serial="D-1", feedback_action_id="FEEDBACK_POSITIVE")
        c.send(text)
        # Without ?acks=1 the next reply is the gateway_state, no command_ack before it.
        _gateway_state_round_trip(c)


def test_scanner_connectivity(scanners_server: ServerProcess) -> None:
    with connect(scanners_server.url + "/?acks=1") as c:
        eid, text = command("scanner_connectivity!", disconnect=["D-1"])
        c.send(text)
        state = c.next_of("scanner_state")
        assert_header(state, journaled=False)
        assert state["device_serial"] == "D-1"
        assert state["device_connected_state"] == "STATE_DISCONNECTED"
        assert state["device_disconnect_reason"] == "UNKNOWN"
        assert c.next_of("command_ack")["event_reference_id"] == eid
        ev = _gateway_state_round_trip(c)
        assert [d["device_serial"] for d in ev["device_connected_list"]] == ["D-2"]
        # Unknown serials in disconnect are ignored, as ProGlove documents.
        eid, text = command("scanner_connectivity!", disconnect=["D-404"])
        c.send(text)
        assert c.next_of("command_ack", "errors")["event_reference_id"] == eid
        # ... but not in connect.
        eid, text = command("scanner_connectivity!", connect=["D-404"])
        c.send(text)
        ev = c.next_of("errors")
        assert (ev["error_code"], ev["event_reference_id"]) == ("ERROR_DEVICE_NOT_FOUND", eid)
        eid, text = command("scanner_connectivity!", connect="all")
        c.send(text)
        state = c.next_of("scanner_state")
        assert (state["device_serial"], state["device_connected_state"]) == (
            "D-1",
            "STATE_CONNECTED",
        )
        assert c.next_of("command_ack")["event_reference_id"] == eid
        ev = _gateway_state_round_trip(c)
        assert sorted(d["device_serial"] for d in ev["device_connected_list"]) == ["D-1", "D-2"]
        # ProGlove's own example: disconnect first, then connect: every scanner ends on.
        eid, text = command("scanner_connectivity!", disconnect="all", connect=True)
        c.send(text)
        states = [c.next_of("scanner_state") for _ in range(4)]
        assert [s["device_connected_state"] for s in states] == [
            "STATE_DISCONNECTED",
            "STATE_DISCONNECTED",
            "STATE_CONNECTED",
            "STATE_CONNECTED",
        ]
        assert c.next_of("command_ack")["event_reference_id"] == eid
        ev = _gateway_state_round_trip(c)
        assert sorted(d["device_serial"] for d in ev["device_connected_list"]) == ["D-1", "D-2"]


# ------------------------------------------------------------------------ nothing lost


def test_reconnect_with_since_gets_missed_scans_then_live(server: ServerProcess) -> None:
    base = server.http_url
    with connect(server.url + "/?ext=1") as c:
        cli_scan(base, "A1")
        last = c.next_of("scan")
        assert last["scan_code"] == "A1"
    missed = [post_scan(base, code)[1]["seq"] for code in ("B2", "C3", "D4")]
    with connect(f"{server.url}/?since={last['seq']}") as c:
        got = c.scans(3)
        assert [e["scan_code"] for e in got] == ["B2", "C3", "D4"]
        assert [e["seq"] for e in got] == missed
        cli_scan(base, "E5")
        live = c.next_of("scan")
        assert live["scan_code"] == "E5" and live["seq"] > got[-1]["seq"]
        c.no_event(within=0.3)  # nothing twice


def test_nothing_lost_across_a_restart(tmp_path: Path) -> None:
    port = free_port()
    journal = str(tmp_path / "j.sqlite3")
    args = ("--port", str(port), "--journal", journal, *QUIET)
    s = start_server(*args)
    try:
        base = s.http_url
        with connect(s.url + "/?ext=1") as c:
            cli_scan(base, "BEFORE")
            seen = c.next_of("scan")
        away = [post_scan(base, code)[1]["seq"] for code in ("AWAY-1", "AWAY-2")]
        assert s.stop() == 0
        s = start_server(*args)  # the same port right away, the same journal
        assert s.port == port
        # Never delivered: a client without since gets them.
        with connect(s.url + "/?ext=1") as c:
            got = c.scans(2)
            assert [(e["scan_code"], e["seq"]) for e in got] == list(
                zip(["AWAY-1", "AWAY-2"], away, strict=True)
            )
        # With since: everything after what it saw, then live; seqs go on.
        with connect(f"{s.url}/?since={seen['seq']}") as c:
            got = c.scans(2)
            assert [e["scan_code"] for e in got] == ["AWAY-1", "AWAY-2"]
            after = post_scan(base, "AFTER-RESTART")[1]
            live = c.next_of("scan")
            assert live["scan_code"] == "AFTER-RESTART"
            assert live["seq"] == after["seq"] > away[-1]
    finally:
        s.stop()


def test_since_older_than_the_journal_gets_replay_gap_first() -> None:
    s = start_server("--port", "0", *QUIET, env={"SCANBRIDGE_JOURNAL_MAX_EVENTS": "5"})
    try:
        seqs = [post_scan(s.http_url, f"G{i}")[1]["seq"] for i in range(10)]
        assert seqs == sorted(seqs)
        with connect(f"{s.url}/?since={seqs[1]}") as c:
            first = c.recv()
            assert first["event_type"] == "errors", first
            assert first["error_code"] == "ERROR_REPLAY_GAP"
            assert_header(first, journaled=False)
            got = c.scans(5)
            # The journal keeps the newest 5 events (pruned on append).
            assert [e["scan_code"] for e in got] == [f"G{i}" for i in range(5, 10)]
            assert [e["seq"] for e in got] == seqs[5:]
            post_scan(s.http_url, "LIVE")
            assert c.next_of("scan")["scan_code"] == "LIVE"
        # since within the journal: no gap.
        with connect(f"{s.url}/?since={seqs[7]}") as c:
            assert [c.recv()["scan_code"] for _ in range(3)] == ["G8", "G9", "LIVE"]
    finally:
        s.stop()


def test_since_within_journal_has_no_gap_event(server: ServerProcess) -> None:
    seqs = [post_scan(server.http_url, f"N{i}")[1]["seq"] for i in range(3)]
    with connect(f"{server.url}/?since={seqs[0]}") as c:
        first = c.recv()
        assert (first["event_type"], first["scan_code"]) == ("scan", "N1"), first
        assert c.recv()["scan_code"] == "N2"


def test_undelivered_scan_reaches_the_next_client_only(server: ServerProcess) -> None:
    base = server.http_url
    sent = post_scan(base, "NOBODY-HOME")[1]
    with connect(server.url + "/?ext=1") as first:
        ev = first.next_of("scan")
        assert (ev["scan_code"], ev["seq"]) == ("NOBODY-HOME", sent["seq"])
        with connect(server.url + "/?ext=1") as second:
            post_scan(base, "LIVE-BOTH")
            # The second client's first scan is the live one: no replay of the delivered scan.
            assert second.next_of("scan")["scan_code"] == "LIVE-BOTH"
            assert first.next_of("scan")["scan_code"] == "LIVE-BOTH"
    with connect(server.url) as third:
        third.no_event(within=0.3)


def test_scans_replayed_with_since_count_as_received(server: ServerProcess) -> None:
    post_scan(server.http_url, "SEEN-VIA-SINCE")
    with connect(f"{server.url}/?since=0") as a:
        assert a.next_of("scan")["scan_code"] == "SEEN-VIA-SINCE"
    with connect(server.url) as b:
        post_scan(server.http_url, "LIVE")
        assert b.next_of("scan")["scan_code"] == "LIVE"


def test_undelivered_scans_expire_after_the_ttl() -> None:
    s = start_server("--port", "0", *QUIET, env={"SCANBRIDGE_UNDELIVERED_TTL": "0.4"})
    try:
        post_scan(s.http_url, "STALE")
        time.sleep(0.7)
        post_scan(s.http_url, "FRESH")
        with connect(s.url) as c:
            assert c.recv()["scan_code"] == "FRESH"
            c.no_event(within=0.3)
        # The journal still has both for a client that asks with since.
        with connect(f"{s.url}/?since=0") as c:
            assert [e["scan_code"] for e in c.scans(2)] == ["STALE", "FRESH"]
    finally:
        s.stop()


def test_since_not_an_integer_gets_an_error_then_live(server: ServerProcess) -> None:
    post_scan(server.http_url, "OLD")
    with connect(f"{server.url}/?since=abc") as c:
        ev = c.recv()
        assert (ev["event_type"], ev["error_code"]) == ("errors", "ERROR_INVALID_COMMAND")
        assert "since" in ev["error_message"]
        post_scan(server.http_url, "NEW")
        assert c.next_of("scan")["scan_code"] == "NEW"


# ------------------------------------------------------------------ origin and token


def _status_of_upgrade(url: str, **kw: Any) -> int:
    try:
        with connect(url, **kw) as c:
            _gateway_state_round_trip(c)
            return 101
    except InvalidStatus as e:
        return e.response.status_code


def test_origin_check(server: ServerProcess) -> None:
    assert _status_of_upgrade(server.url, origin="https://evil.example") == 403
    assert _status_of_upgrade(server.url + "/streams", origin="https://evil.example") == 403
    assert _status_of_upgrade(server.url, origin="http://localhost.evil.example") == 403
    assert _status_of_upgrade(server.url, origin="http://localhost:3000") == 101
    assert _status_of_upgrade(server.url, origin="http://127.0.0.1:8080") == 101
    assert _status_of_upgrade(server.url, origin="null") == 403  # sandboxed iframes: opt-in
    assert _status_of_upgrade(server.url) == 101  # no Origin


def test_token() -> None:
    s = start_server("--port", "0", "--token", "s3cret", *QUIET)
    try:
        u = s.url
        assert _status_of_upgrade(u) == 401
        assert _status_of_upgrade(u + "/?token=wrong") == 401
        assert _status_of_upgrade(u, additional_headers={"Authorization": "Bearer nope"}) == 401
        assert _status_of_upgrade(u + "/?token=s3cret") == 101
        assert _status_of_upgrade(u + "/streams?token=s3cret") == 101
        assert _status_of_upgrade(u, additional_headers={"Authorization": "Bearer s3cret"}) == 101
        assert (
            _status_of_upgrade(u, additional_headers={"Authorization": "Basic dTpzM2NyZXQ="}) == 101
        )
        # The origin check still applies to a client with a good token.
        assert _status_of_upgrade(u + "/?token=s3cret", origin="https://evil.example") == 403
    finally:
        s.stop()


# --------------------------------------------------------------------- POST /api/scans


def test_post_scans_answers(server: ServerProcess) -> None:
    base = server.http_url
    status, body = post_scan(base, "HTTP-1", device_serial="POS-3")
    assert status == 201
    assert body["published"] is True
    assert isinstance(body["seq"], int) and UUID_RE.match(body["event_id"])
    for raw, needle in (
        (b'{"device_serial": "X"}', '"code"'),
        (b'{"code": ""}', '"code"'),
        (b'{"code": 5}', '"code"'),
        (b"[1, 2]", '"code"'),
        (b"not json", "JSON"),
        (b'{"code": "A", "device_serial": 7}', "device_serial"),
    ):
        status, headers, data = http(
            "POST", base + "/api/scans", raw, {"Content-Type": "application/json"}
        )
        assert status == 400, (raw, data)
        assert headers["Content-Type"] == "application/json"
        msg = json.loads(data)["error"]
        assert needle in msg, (raw, msg)
    # None of the refused bodies was published.
    with connect(f"{server.url}/?since=0") as c:
        assert [e["scan_code"] for e in c.scans(1)] == ["HTTP-1"]
        c.no_event(within=0.3)


def test_cli_scan_reports_errors() -> None:
    port = free_port()
    r = cli("scan", "X", "--server", f"http://127.0.0.1:{port}")
    assert r.returncode == 1
    assert "cannot reach" in r.stderr


# ------------------------------------------------------------------ the Python API


@pytest.fixture
async def app() -> Any:
    a = scanbridge.App(scanbridge.Config(port=0, journal=":memory:"))
    yield a
    await a.stop(timeout=2)


async def _post(url: str, body: bytes) -> tuple[int, dict[str, Any]]:
    status, _, data = await asyncio.to_thread(
        http, "POST", url + "/api/scans", body, {"Content-Type": "application/json"}
    )
    return status, json.loads(data)


async def test_app_on_scan_hooks(app: scanbridge.App, caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []

    @app.on_scan
    async def record(scan: Any) -> Any:
        seen.append(scan.code)
        if scan.code.startswith("VETO"):
            return False
        return None

    @app.on_scan
    def explode(scan: Any) -> None:
        if scan.code == "BOOM":
            raise RuntimeError("hook failure on purpose")

    await app.start()
    base = f"http://127.0.0.1:{app.port}"
    async with websockets.connect(app.url + "/?ext=1") as ws:
        c = AsyncClient(ws)
        s = await app.inject_scan("X")
        assert s is not None and s.seq is not None and UUID_RE.match(s.event_id)
        ev = await c.next_of("scan")
        assert (ev["scan_code"], ev["seq"], ev["event_id"]) == ("X", s.seq, s.event_id)

        status, body = await _post(base, json.dumps({"code": "VIA-HTTP"}).encode())
        assert status == 201 and body["published"] is True
        assert (await c.next_of("scan"))["scan_code"] == "VIA-HTTP"

        assert await app.inject_scan("VETO-1") is None
        status, body = await _post(base, json.dumps({"code": "VETO-2"}).encode())
        assert (status, body) == (200, {"published": False})

        with caplog.at_level(logging.ERROR, logger="scanbridge.streams"):
            assert await app.inject_scan("BOOM") is not None
        assert any(
            "on_scan hook" in r.getMessage() and r.exc_info and "on purpose" in str(r.exc_info[1])
            for r in caplog.records
        ), caplog.text

        # The vetoed scans never reached the client: the next scan is BOOM.
        assert (await c.next_of("scan"))["scan_code"] == "BOOM"
    assert seen == ["X", "VIA-HTTP", "VETO-1", "VETO-2", "BOOM"]


async def test_app_on_command_sees_validated_commands() -> None:
    cfg = scanbridge.Config(
        port=0,
        journal=":memory:",
        scanners=[ScannerConfig(source="demo", device_serial="D-1", interval=3600)],
    )
    app = scanbridge.App(cfg)
    got: list[tuple[Any, Any]] = []

    @app.on_command
    async def on_command(cmd: Any, session: Any) -> None:
        got.append((cmd, session))

    await app.start()
    try:
        async with websockets.connect(app.url + "/?acks=1") as ws:
            c = AsyncClient(ws)
            eid, text = command(
                "feedback!", device_serial="D-1", feedback_action_id="FEEDBACK_SPECIAL_CYAN"
            )
            await ws.send(text)
            assert (await c.next_of("command_ack"))["event_reference_id"] == eid
            # Invalid ones do not reach the hook.
            await ws.send("{bad")
            _, text = command(
                "feedback!", device_serial="GHOST", feedback_action_id="FEEDBACK_POSITIVE"
            )
            await ws.send(text)
            assert (await c.next_of("errors"))["error_code"] == "ERROR_INVALID_COMMAND"
            assert (await c.next_of("errors"))["error_code"] == "ERROR_DEVICE_NOT_FOUND"
            gid, text = command("gateway_state!")
            await ws.send(text)
            assert (await c.next_of("gateway_state"))["event_reference_id"] == gid
        assert [(type(cmd), cmd.event_id) for cmd, _ in got] == [
            (m.FeedbackCommand, eid),
            (m.GatewayStateCommand, gid),
        ]
        fb, session = got[0]
        assert fb.device_serial == "D-1" and fb.feedback_action_id == "FEEDBACK_SPECIAL_CYAN"
        assert isinstance(session, scanbridge.Session) and session.path == "/"
    finally:
        await app.stop(timeout=2)


APP_SCRIPT = """
import scanbridge

app = scanbridge.App(scanbridge.Config(port=0, journal=":memory:"))


@app.on_scan
def show(scan):
    print("SCANNED", scan.code, scan.device_serial, flush=True)


app.run()
"""


def test_app_run_program_as_a_subprocess(tmp_path: Path) -> None:
    script = tmp_path / "myapp.py"
    script.write_text(textwrap.dedent(APP_SCRIPT))
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={"PYTHONUNBUFFERED": "1", "PATH": "/usr/bin:/bin"},
    )
    try:
        m = wait_output(proc, r"listening on ws://127\.0\.0\.1:(\d+)")
        base = f"http://127.0.0.1:{m.group(1)}"
        with connect(f"ws://127.0.0.1:{m.group(1)}") as c:
            cli_scan(base, "FIRST")
            cli_scan(base, "SECOND", device_serial="HS-2")
            assert [e["scan_code"] for e in c.scans(2)] == ["FIRST", "SECOND"]
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert proc.returncode == 0, err
    assert out.decode().splitlines() == ["SCANNED FIRST API-0001", "SCANNED SECOND HS-2"]


# ------------------------------------------------------------- configuration barcodes


def _barcode_text(port: int, key: str) -> str:
    r = cli("config-barcode", "--set", f"port={port}", "--key", key)
    assert r.returncode == 0, r.stderr
    text = r.stdout.strip()
    assert text.startswith("SBCFG1.")
    return text


def test_config_barcode_moves_the_port() -> None:
    s = start_server("--port", "0", *QUIET, env={"SCANBRIDGE_CONFIG_BARCODE_KEY": "k"})
    try:
        old = s.http_url
        new_port = free_port()
        with connect(s.url) as c:
            # Badly signed: dropped, the port stays.
            bad = _barcode_text(new_port, "not-the-key")
            assert post_scan(old, bad) == (200, {"published": False})
            assert post_scan(old, "AFTER-BAD")[0] == 201
            assert c.next_of("scan")["scan_code"] == "AFTER-BAD"
            with pytest.raises(OSError):
                urllib.request.urlopen(f"http://127.0.0.1:{new_port}/healthz", timeout=2)

            # Well signed: applied, not delivered; the server moves, this socket stays.
            good = _barcode_text(new_port, "k")
            assert post_scan(old, good) == (200, {"published": False})
            new = f"http://127.0.0.1:{new_port}"
            deadline = time.monotonic() + 5
            while True:
                try:
                    status, _, body = http("GET", new + "/healthz", timeout=1)
                    break
                except OSError:
                    assert time.monotonic() < deadline, "nothing listens on the new port"
                    time.sleep(0.05)
            assert (status, body) == (200, b"ok")
            assert post_scan(new, "VIA-NEW-PORT")[0] == 201
            ev = c.next_of("scan")
            assert ev["scan_code"] == "VIA-NEW-PORT"
            with connect(f"ws://127.0.0.1:{new_port}/") as c2:
                _gateway_state_round_trip(c2)
            # It listens on the new port instead of the old one.
            with pytest.raises(OSError):
                urllib.request.urlopen(old + "/healthz", timeout=2)
            c.no_event(within=0.2)
    finally:
        s.stop()
    log = s.output()
    assert "refused" in log and "bad signature" in log


def test_config_barcode_to_a_busy_port_keeps_the_old_one() -> None:
    s = start_server("--port", "0", *QUIET, env={"SCANBRIDGE_CONFIG_BARCODE_KEY": "k"})
    busy = socket.socket()
    try:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        text = _barcode_text(busy.getsockname()[1], "k")
        with connect(s.url) as c:
            assert post_scan(s.http_url, text) == (200, {"published": False})
            assert post_scan(s.http_url, "STILL-HERE")[0] == 201
            assert c.next_of("scan")["scan_code"] == "STILL-HERE"
    finally:
        busy.close()
        s.stop()
    assert "cannot move to port" in s.output()


def test_config_barcode_images(tmp_path: Path) -> None:
    png, svg = tmp_path / "cfg.png", tmp_path / "cfg.svg"
    for out in (png, svg):
        r = cli("config-barcode", "--set", "port=9999", "--key", "k", "--out", str(out))
        assert r.returncode == 0, r.stderr
        assert str(out) in r.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 100
    assert "<svg" in svg.read_text()
    r = cli("config-barcode", "--set", "token=x", "--key", "k")
    assert r.returncode == 2 and "token" in r.stderr
    r = cli("config-barcode", "--set", "port=80", "--key", "k")
    assert r.returncode == 2 and "80" in r.stderr


def test_scan_api_refuses_other_origins(server: ServerProcess) -> None:
    """A web page of another site cannot inject scans (same Origin rule as the socket)."""
    import urllib.error
    import urllib.request

    req = urllib.request.Request(
        f"{server.http_url}/api/scans",
        data=b'{"code": "EVIL"}',
        headers={"Origin": "https://evil.example", "Content-Type": "application/json"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as ei:
        urllib.request.urlopen(req, timeout=5)
    assert ei.value.code == 403
    req.remove_header("Origin")
    req.add_header("Origin", "http://localhost")
    with urllib.request.urlopen(req, timeout=5) as r:
        assert r.status == 201
