"""HID POS barcode scanners (usage page 0x8C) from /dev/hidraw*: the report
descriptor (from sysfs) tells where the decoded data and the AIM symbology
identifier are; multi-report codes are reassembled in Rust; feedback! beeps
through an output report when the device has one."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
from typing import Any

from .. import _core
from ..config import ScannerConfig
from ..scan import Scan
from .base import DeviceInfo, Sink, Source, command_kind
from .linux import list_hidraw

log = logging.getLogger("scanbridge.scanners.hidraw")

RESCAN_SECONDS = 1.0


class HidrawSource(Source):
    kind = "hidraw"

    def __init__(self, device: DeviceInfo, cfg: ScannerConfig) -> None:
        super().__init__(device)
        self.cfg = cfg
        self._fd: int | None = None
        self._parser: Any = None

    def find(self) -> tuple[str, bytes] | None:
        c = self.cfg
        real = os.path.realpath(c.path) if c.path else None
        for node, vendor, product, desc in list_hidraw():
            if real and os.path.realpath(node) != real:
                continue
            if c.vendor and vendor != c.vendor.lower().removeprefix("0x").zfill(4):
                continue
            if c.product and product != c.product.lower().removeprefix("0x").zfill(4):
                continue
            return node, desc
        return None

    async def run(self, sink: Sink) -> None:
        while True:
            found = self.find()
            if found is None:
                await asyncio.sleep(RESCAN_SECONDS)
                continue
            node, desc = found
            try:
                self._parser = _core.HidPosParser(desc)
            except ValueError as e:
                raise ValueError(f"{node} is not a HID POS scanner: {e}") from None
            try:
                await self._read(node, sink)
            except OSError as e:
                if e.errno not in (errno.ENODEV, errno.ENOENT, errno.EIO):
                    raise
                log.warning("HID POS scanner %s unplugged", self.device.serial)
            if self.device.connected:
                await sink.state(self.device, False)
            await asyncio.sleep(RESCAN_SECONDS)

    async def _read(self, node: str, sink: Sink) -> None:
        await self.serve(os.open(node, os.O_RDWR | os.O_NONBLOCK), sink)

    async def serve(self, fd: int, sink: Sink, descriptor: bytes | None = None) -> None:
        """Read reports from ``fd`` (a hidraw node: one report per read; or, in
        tests, one end of a SOCK_SEQPACKET pair) until it closes; closes ``fd``.
        ``descriptor``: the report descriptor, when not already parsed."""
        loop = asyncio.get_running_loop()
        if descriptor is not None:
            self._parser = _core.HidPosParser(descriptor)
        self._fd = fd
        ready = asyncio.Event()
        loop.add_reader(fd, ready.set)
        try:
            await sink.state(self.device, True)
            while True:
                await ready.wait()
                ready.clear()
                while True:
                    try:
                        report = os.read(fd, 4096)
                    except BlockingIOError:
                        break
                    if not report:
                        raise OSError(errno.ENODEV, "device closed")
                    await self.handle_report(report, sink)
        finally:
            loop.remove_reader(fd)
            self._fd = None
            os.close(fd)

    async def handle_report(self, report: bytes, sink: Sink) -> None:
        done = self._parser.feed_report(report)
        if done is None or not self.enabled:
            return
        aim, data = done.aim_id, done.data
        symbology = _core.symbology_name(aim, data) if aim else None
        await sink.scan(
            Scan(
                data.decode("utf-8", "ignore"),  # invalid bytes stay in scan_bytes
                data,
                self.device.serial,
                symbology=symbology,
                aim_id=aim,
                device_model=self.device.model,
                source=self.kind,
            )
        )

    async def command(self, command: Any) -> bool:
        if command_kind(command) != "feedback!" or self._fd is None:
            return await super().command(command)
        negative = command.feedback_action_id == "FEEDBACK_NEGATIVE"
        report = self._parser.error_report() if negative else self._parser.beep_report()
        if report is None:
            return False
        os.write(self._fd, report)
        return True
