"""Streams API commands carried out or answered, field sets, ?after= (issue 13).

Real servers: a keyboard-wedge scanner replayed through a FIFO (no display, no
beeper), the demo scanner (a simulated MARK display), and an in-process App
with a source that is slow on purpose (event_time_to_live_duration).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import strict_client
import websockets
from conftest import ServerProcess, start_server
from streams_helpers import (
    AsyncClient,
    command,
    connect,
    http,
    make_fifo,
    post_scan,
    write_fifo,
)

import scanbridge
from scanbridge import _core
from scanbridge.scanners.base import DeviceInfo, Sink, Source

QUIET = ("--log-level", "warning")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str]]:
    tmp = tmp_path_factory.mktemp("cmd")
    fifo = make_fifo(tmp / "wedge.fifo")
    s = start_server(
        "--port",
        "0",
        "--journal",
        str(tmp / "j.sqlite3"),
        "--scanner",
        f"replay:path={fifo},device_serial=WEDGE-1",
        "--scanner",
        "demo:device_serial=DEMO-1,interval=3600",
        *QUIET,
    )
    deadline = time.monotonic() + 5
    while not all(d["connected"] for d in json.loads(http("GET", s.http_url + "/api/devices")[2])):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    yield s, fifo
    s.stop()


def wedge_scan(fifo: str, code: str) -> None:
    write_fifo(fifo, _core.encode_keystrokes(code, "us", start=time.time()))


def reply(c: Any, eid: str) -> dict[str, Any]:
    """The errors or command_ack event that answers command ``eid`` (bounded)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        ev = c.next_of("errors", "command_ack", timeout=deadline - time.monotonic())
        if ev.get("event_reference_id") == eid:
            return ev
    raise AssertionError(f"no answer to {eid}")


def screen(s: ServerProcess, serial: str) -> dict[str, Any]:
    for d in json.loads(http("GET", s.http_url + "/api/devices")[2]):
        if d["device_serial"] == serial:
            return d
    raise AssertionError(serial)


# --------------------------------------------------------------------- field sets


def test_extended_fields_only_on_request(server: tuple[ServerProcess, str]) -> None:
    s, fifo = server
    with (
        connect(s.url) as doc,
        connect(s.url + "/?ext=1") as ext,
        connect(s.url + "/?since=999999999") as since,
    ):
        wedge_scan(fifo, "FIELDS-1")
        d = doc.next_of("scan")  # validated by the strict client wrapper
        e = ext.next_of("scan")
        assert set(d) == {
            "api_version",
            "event_type",
            "event_id",
            "time_created",
            "scan_code",
            "device_serial",
            "gateway_serial",
        }
        assert e["event_id"] == d["event_id"] and e["scan_code"] == "FIELDS-1"
        assert isinstance(e["seq"], int) and "device_model" in e
        assert since.next_of("scan")["seq"] == e["seq"]  # ?since= means extended
        strict_problems = strict_client.problems(e)
        assert any("seq" in p for p in strict_problems), strict_problems


def test_replay_gap_is_documented_on_default_connections(
    server: tuple[ServerProcess, str],
) -> None:
    s, _ = server
    unknown = "00000000-0000-4000-8000-000000000000"
    with connect(f"{s.url}/?after={unknown}") as c:
        ev = c.next_of("errors")
        assert ev["error_code"] == "ERROR_UNKNOWN" and "not in the journal" in ev["error_message"]
    with connect(f"{s.url}/?ext=1&after={unknown}") as c:
        assert c.next_of("errors")["error_code"] == "ERROR_REPLAY_GAP"


def test_after_resumes_losslessly_across_a_restart(tmp_path: Path) -> None:
    journal = str(tmp_path / "j.sqlite3")
    s = start_server("--port", "0", "--journal", journal, *QUIET)
    try:
        with connect(s.url) as c:
            post_scan(s.http_url, "A-1")
            last = c.next_of("scan")
        missed = [post_scan(s.http_url, f"B-{i}")[1]["event_id"] for i in range(3)]
    finally:
        s.stop()
    s = start_server("--port", "0", "--journal", journal, *QUIET)
    try:
        with connect(f"{s.url}/?after={last['event_id']}") as c:
            got = [c.next_of("scan") for _ in range(3)]
            assert [e["event_id"] for e in got] == missed
            assert [e["scan_code"] for e in got] == ["B-0", "B-1", "B-2"]
            post_scan(s.http_url, "LIVE")
            assert c.next_of("scan")["scan_code"] == "LIVE"
        with connect(f"{s.url}/?after=not-a-uuid") as c:
            ev = c.next_of("errors")
            assert ev["error_code"] == "ERROR_INVALID_COMMAND"
    finally:
        s.stop()


# ----------------------------------------------------------------------- commands


def test_display_and_feedback_to_a_wedge_scanner_are_answered_error_unknown(
    server: tuple[ServerProcess, str],
) -> None:
    s, _ = server
    with connect(s.url + "/?acks=1") as c:
        eid, text = command(
            "feedback!", device_serial="WEDGE-1", feedback_action_id="FEEDBACK_POSITIVE"
        )
        c.send(text)
        ev = reply(c, eid)
        assert (ev["event_type"], ev["error_code"]) == ("errors", "ERROR_UNKNOWN")
        assert "cannot give feedback" in ev["error_message"]
        assert ev["device_serial"] == "WEDGE-1"
        eid, text = command(
            "display!",
            device_serial="WEDGE-1",
            display_template_id="PG1",
            display_fields=[{"display_field_id": 1, "display_field_text": "x"}],
        )
        c.send(text)
        ev = reply(c, eid)
        assert ev["error_code"] == "ERROR_UNKNOWN" and "display" in ev["error_message"]


def test_demo_scanner_shows_display_and_feedback(server: tuple[ServerProcess, str]) -> None:
    s, _ = server
    with connect(s.url + "/?acks=1") as c:
        eid, text = command(
            "display!",
            api_version="1.2",  # ProGlove's display example says 1.2
            device_serial="DEMO-1",
            display_template_id="PG2",
            display_fields=[
                {
                    "display_field_id": 1,
                    "display_field_header": "Order",
                    "display_field_text": "42",
                },
                {"display_field_id": 2, "display_field_header": "Bin", "display_field_text": "A7"},
            ],
            time_validity_duration=600,
        )
        c.send(text)
        assert reply(c, eid)["event_type"] == "command_ack"
        shown = screen(s, "DEMO-1")["screen"]["display"]
        assert shown["template"] == "PG2"
        assert [(f["header"], f["text"]) for f in shown["fields"]] == [
            ("Order", "42"),
            ("Bin", "A7"),
        ]
        eid, text = command(
            "feedback!", device_serial="DEMO-1", feedback_action_id="FEEDBACK_SPECIAL_PURPLE"
        )
        c.send(text)
        assert reply(c, eid)["event_type"] == "command_ack"
        assert screen(s, "DEMO-1")["screen"]["feedback"]["action"] == "FEEDBACK_SPECIAL_PURPLE"
    time.sleep(0.7)  # time_validity_duration 600 ms: the screen is cleared
    assert screen(s, "DEMO-1")["screen"]["display"] is None


def test_trigger_block_stops_scans_until_unblocked(server: tuple[ServerProcess, str]) -> None:
    s, fifo = server
    with connect(s.url + "/?acks=1") as c:
        eid, text = command("trigger_block!", device_serial="WEDGE-1", trigger_block_state=True)
        c.send(text)
        assert reply(c, eid)["event_type"] == "command_ack"
        assert screen(s, "WEDGE-1")["blocked"] is True
        wedge_scan(fifo, "BLOCKED-1")
        c.no_event(within=0.5)
        metrics = http("GET", s.http_url + "/metrics")[2].decode()
        assert "scanbridge_scans_blocked_total 1" in metrics
        eid, text = command("trigger_block!", device_serial="WEDGE-1", trigger_block_state=False)
        c.send(text)
        assert reply(c, eid)["event_type"] == "command_ack"
        wedge_scan(fifo, "FREE-1")
        assert c.next_of("scan")["scan_code"] == "FREE-1"
        # time_validity_duration unblocks by itself.
        eid, text = command(
            "trigger_block!",
            device_serial="WEDGE-1",
            trigger_block_state=True,
            time_validity_duration=400,
        )
        c.send(text)
        assert reply(c, eid)["event_type"] == "command_ack"
        wedge_scan(fifo, "BLOCKED-2")
        c.no_event(within=0.2)
        time.sleep(0.4)
        wedge_scan(fifo, "FREE-2")
        assert c.next_of("scan")["scan_code"] == "FREE-2"
    # Blocked scans were never journaled.
    with connect(s.url + "/?since=0") as c:
        codes = []
        while True:
            try:
                ev = c.recv(0.5)
            except TimeoutError:
                break
            if ev["event_type"] == "scan":
                codes.append(ev["scan_code"])
        assert "FREE-1" in codes and not any(code.startswith("BLOCKED") for code in codes)


def test_unknown_device_and_disconnected_device(server: tuple[ServerProcess, str]) -> None:
    s, _ = server
    with connect(s.url + "/?acks=1") as c:
        eid, text = command("trigger_block!", device_serial="NOPE", trigger_block_state=True)
        c.send(text)
        assert reply(c, eid)["error_code"] == "ERROR_DEVICE_NOT_FOUND"
        eid, text = command("scanner_connectivity!", disconnect=["DEMO-1"])
        c.send(text)
        assert reply(c, eid)["event_type"] == "command_ack"
        eid, text = command(
            "feedback!", device_serial="DEMO-1", feedback_action_id="FEEDBACK_POSITIVE"
        )
        c.send(text)
        ev = reply(c, eid)
        assert (
            ev["error_code"] == "ERROR_DEVICE_NOT_FOUND" and "not connected" in ev["error_message"]
        )
        eid, text = command("scanner_connectivity!", connect=["DEMO-1"])
        c.send(text)
        assert reply(c, eid)["event_type"] == "command_ack"


def test_a_command_id_that_is_not_a_uuid_is_never_echoed(
    server: tuple[ServerProcess, str],
) -> None:
    s, _ = server
    with connect(s.url) as c:
        _, text = command("feedback!", device_serial="NOPE", feedback_action_id="X")
        msg = json.loads(text)
        msg["event_id"] = "order-42"
        c.send(json.dumps(msg))
        ev = c.next_of("errors")
        assert "event_reference_id" not in ev


def test_scan_codes_over_2000_characters_are_refused_not_cut(
    server: tuple[ServerProcess, str],
) -> None:
    s, _ = server
    status, body = post_scan(s.http_url, "x" * 2001)
    assert status == 400 and "2000" in body["error"]
    assert post_scan(s.http_url, "x" * 2000)[0] == 201


# --------------------------------------------------------- time to live (in-process)


class SlowSource(Source):
    """A scanner whose feedback takes 0.5 s (to show event_time_to_live_duration)."""

    kind = "slow"

    async def run(self, sink: Sink) -> None:
        await sink.state(self.device, True)
        await asyncio.Event().wait()

    async def command(self, command: Any) -> bool:
        await asyncio.sleep(0.5)
        return True


async def test_time_to_live_is_honoured() -> None:
    app = scanbridge.App(scanbridge.Config(port=0, journal=":memory:"))
    app.add_source(SlowSource(DeviceInfo("SLOW-1")))
    await app.start()
    try:
        deadline = time.monotonic() + 5
        while not app.streams.sources["SLOW-1"].device.connected:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        async with websockets.connect(app.url + "/?acks=1") as ws:
            c = AsyncClient(ws)
            eid, text = command(
                "feedback!",
                device_serial="SLOW-1",
                feedback_action_id="FEEDBACK_POSITIVE",
                event_time_to_live_duration=100,
            )
            await ws.send(text)
            ev = await c.next_of("errors", "command_ack")
            assert (ev["error_code"], ev["event_reference_id"]) == ("ERROR_TIMEOUT", eid)
            eid, text = command(
                "feedback!",
                device_serial="SLOW-1",
                feedback_action_id="FEEDBACK_POSITIVE",
                event_time_to_live_duration=2000,
            )
            await ws.send(text)
            ev = await c.next_of("errors", "command_ack")
            assert (ev["event_type"], ev["event_reference_id"]) == ("command_ack", eid)
    finally:
        await app.stop()


def test_gateway_state_on_connect_lists_connected_scanners(
    server: tuple[ServerProcess, str],
) -> None:
    s, _ = server
    with connect(s.url) as c:
        c.no_event(types=(), within=0.1)  # reads the greeting (and any replay)
        assert c.greeting is not None
        listed = {d["device_serial"] for d in c.greeting["device_connected_list"]}
        assert {"WEDGE-1", "DEMO-1"} <= listed


def test_a_watcher_takes_nothing_from_the_apps(server: tuple[ServerProcess, str]) -> None:
    """?watch=1 (the demo page): it sees every event, but what it sees still goes to
    the next app as "made while no client was connected"."""
    s, fifo = server
    with connect(s.url + "/?watch=1") as watcher:
        wedge_scan(fifo, "WATCHED-1")
        ev = watcher.next_of("scan")
        assert ev["scan_code"] == "WATCHED-1" and "seq" in ev
    with connect(s.url) as app:
        assert app.next_of("scan")["scan_code"] == "WATCHED-1"


class AbsentSource(Source):
    """A scanner that is configured but not plugged in (never reports itself)."""

    kind = "absent"

    async def run(self, sink: Sink) -> None:
        await asyncio.Event().wait()


async def test_connect_does_not_report_an_absent_scanner_as_connected() -> None:
    app = scanbridge.App(scanbridge.Config(port=0, journal=":memory:"))
    app.add_source(AbsentSource(DeviceInfo("GONE-1")))
    await app.start()
    try:
        async with websockets.connect(app.url + "/?acks=1") as ws:
            c = AsyncClient(ws)
            eid, text = command("scanner_connectivity!", connect=["GONE-1"])
            await ws.send(text)
            while True:
                ev = await c.next_of("scanner_state", "command_ack", "errors")
                assert ev["event_type"] != "scanner_state", f"absent scanner reported: {ev}"
                if ev.get("event_reference_id") == eid:
                    break
            assert ev["event_type"] == "command_ack"
            assert not app.streams.sources["GONE-1"].device.connected
            assert c.greeting is not None and c.greeting["device_connected_list"] == []
    finally:
        await app.stop()
