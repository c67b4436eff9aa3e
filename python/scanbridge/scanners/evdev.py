"""Keyboard-wedge scanners from /dev/input/event*: matched by path (or by-id link),
name pattern or vendor/product; grabbed exclusively once no key is held; re-opened
and re-grabbed after unplug/replug, with `scanner_state` on each change."""

from __future__ import annotations

import asyncio
import errno
import logging
import os

from ..config import ScannerConfig
from .base import DeviceInfo, Sink, Source
from .keyboard import KeyboardReader
from .linux import grab, keys_held, list_input_devices, match_input_device

log = logging.getLogger("scanbridge.scanners.evdev")

RESCAN_SECONDS = 1.0
GRAB_WAIT_SECONDS = 0.05


class EvdevSource(Source):
    kind = "evdev"

    def __init__(self, device: DeviceInfo, cfg: ScannerConfig) -> None:
        super().__init__(device)
        self.cfg = cfg
        if not (cfg.path or cfg.name or cfg.vendor or cfg.product):
            raise ValueError("evdev scanner needs path, name or vendor/product to match")

    def find(self) -> str | None:
        c = self.cfg
        d = match_input_device(
            list_input_devices(), path=c.path, name=c.name, vendor=c.vendor, product=c.product
        )
        if d is not None:
            if d.name:
                self.device.model = d.name
            return d.node
        if c.path and os.path.exists(c.path):
            return c.path  # a node sysfs doesn't list (e.g. in a container)
        return None

    async def run(self, sink: Sink) -> None:
        announced_missing = False
        while True:
            node = self.find()
            if node is None:
                if not announced_missing:
                    log.warning("evdev scanner %s not found; waiting for it", self.device.serial)
                    announced_missing = True
                await asyncio.sleep(RESCAN_SECONDS)
                continue
            announced_missing = False
            try:
                await self._read_device(node, sink)
            except OSError as e:
                if e.errno not in (errno.ENODEV, errno.ENOENT, errno.EIO):
                    raise
                log.warning("evdev scanner %s unplugged (%s)", self.device.serial, e.strerror)
            if self.device.connected:
                await sink.state(self.device, False)
            await asyncio.sleep(RESCAN_SECONDS)

    async def _read_device(self, node: str, sink: Sink) -> None:
        loop = asyncio.get_running_loop()
        fd = os.open(node, os.O_RDONLY | os.O_NONBLOCK)
        reader = KeyboardReader(self.cfg, self.device, self.kind)
        delivery = loop.create_task(reader.deliver(sink))
        grabbed = False
        try:
            if self.cfg.grab:
                # Grabbing while a key is down would leave it stuck for the host.
                for _ in range(200):
                    if not keys_held(fd):
                        break
                    await asyncio.sleep(GRAB_WAIT_SECONDS)
                grab(fd, True)
                grabbed = True
            await sink.state(self.device, True)
            log.info(
                "evdev scanner %s on %s%s",
                self.device.serial,
                node,
                " (grabbed)" if grabbed else "",
            )
            ready = asyncio.Event()
            loop.add_reader(fd, ready.set)
            try:
                while True:
                    await ready.wait()
                    ready.clear()
                    while True:
                        try:
                            data = os.read(fd, 24 * 64)
                        except BlockingIOError:
                            break
                        if not data:
                            raise OSError(errno.ENODEV, "device closed")
                        if self.enabled:
                            reader.feed(data)
            finally:
                loop.remove_reader(fd)
        finally:
            reader.end()
            await asyncio.sleep(0)
            delivery.cancel()
            if grabbed:
                try:
                    grab(fd, False)
                except OSError:
                    pass
            os.close(fd)
