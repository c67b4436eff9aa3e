"""A HID POS scanner through the Streams API (issue 13): scans, invalid bytes,
feedback! as output reports, display! answered ERROR_UNKNOWN, trigger_block!.

The machine has no /dev/uhid, so the device is one end of a SOCK_SEQPACKET
socket pair (one report per read and write, as hidraw gives); the source's
reading loop, the HID POS parser (Rust) and the feedback path are the real ones.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import time
from typing import Any

import websockets
from streams_helpers import AsyncClient, command
from test_hid_decoder import POS_DESCRIPTOR, pos_report

import scanbridge
from scanbridge.config import ScannerConfig
from scanbridge.scanners.base import DeviceInfo
from scanbridge.scanners.hidraw import HidrawSource


class SocketHidraw(HidrawSource):
    """The HID POS source on a socket pair instead of /dev/hidrawN."""

    def __init__(self, serial: str) -> None:
        super().__init__(DeviceInfo(serial), ScannerConfig(source="hidraw"))
        self.device_end, self.host_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.device_end.setblocking(False)

    async def run(self, sink: Any) -> None:
        fd = os.dup(self.host_end.fileno())
        os.set_blocking(fd, False)
        await self.serve(fd, sink, POS_DESCRIPTOR)


async def reply(c: AsyncClient, eid: str) -> dict[str, Any]:
    async with asyncio.timeout(5):
        while True:
            ev = await c.next_of("errors", "command_ack")
            if ev.get("event_reference_id") == eid:
                return ev


async def output_report(sock: socket.socket) -> bytes:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            return sock.recv(64)
        except BlockingIOError:
            await asyncio.sleep(0.01)
    raise AssertionError("no output report")


async def test_hid_pos_scanner_through_the_streams_api() -> None:
    app = scanbridge.App(scanbridge.Config(port=0, journal=":memory:"))
    src = SocketHidraw("POS-1")
    app.add_source(src)
    await app.start()
    try:
        for _ in range(500):  # bounded: 5 s
            if src.device.connected:
                break
            await asyncio.sleep(0.01)
        assert src.device.connected
        async with websockets.connect(app.url + "/?ext=1&acks=1") as ws:
            c = AsyncClient(ws)
            # A code with bytes that are not UTF-8: left out of scan_code, kept in scan_bytes.
            raw = b"AB\xffC\xfe"
            src.device_end.send(pos_report(b"]C0", raw))
            ev = await c.next_of("scan")
            assert ev["scan_code"] == "ABC"
            assert base64.urlsafe_b64decode(ev["scan_bytes"]) == raw
            assert ev["scan_aim_id"] == "]C0" and ev["scan_decode_symbology"] == "CODE 128"
            # feedback!: the beep / error beep output reports reach the device.
            for action, report in (
                ("FEEDBACK_POSITIVE", bytes([4, 0b101])),
                ("FEEDBACK_NEGATIVE", bytes([4, 0b010])),
            ):
                eid, text = command("feedback!", device_serial="POS-1", feedback_action_id=action)
                await ws.send(text)
                assert await output_report(src.device_end) == report
                assert (await reply(c, eid))["event_type"] == "command_ack"
            # display!: a HID POS scanner has no display.
            eid, text = command(
                "display!",
                device_serial="POS-1",
                display_template_id="PG1",
                display_fields=[{"display_field_id": 1, "display_field_text": "x"}],
            )
            await ws.send(text)
            ev = await reply(c, eid)
            assert ev["error_code"] == "ERROR_UNKNOWN" and "display" in ev["error_message"]
            # trigger_block!: its scans are not published while blocked.
            eid, text = command("trigger_block!", device_serial="POS-1", trigger_block_state=True)
            await ws.send(text)
            assert (await reply(c, eid))["event_type"] == "command_ack"
            src.device_end.send(pos_report(b"]E0", b"4006381333931"))
            eid, text = command("trigger_block!", device_serial="POS-1", trigger_block_state=False)
            await ws.send(text)
            assert (await reply(c, eid))["event_type"] == "command_ack"
            src.device_end.send(pos_report(b"]E0", b"9780201379624"))
            ev = await c.next_of("scan")
            assert ev["scan_code"] == "9780201379624"  # the blocked one never came
    finally:
        await app.stop()
