"""Recorded `struct input_event` records from a file (replayed once) or a FIFO
(read as it is written, like a live device). Tests and demos use it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
from pathlib import Path

from ..config import ScannerConfig
from .base import DeviceInfo, Sink, Source
from .keyboard import KeyboardReader


class ReplaySource(Source):
    kind = "replay"

    def __init__(self, device: DeviceInfo, cfg: ScannerConfig) -> None:
        super().__init__(device)
        assert cfg.path is not None
        self.path = cfg.path
        self.cfg = cfg

    async def run(self, sink: Sink) -> None:
        reader = KeyboardReader(self.cfg, self.device, self.kind)
        delivery = asyncio.get_running_loop().create_task(reader.deliver(sink))
        try:
            if stat.S_ISFIFO(os.stat(self.path).st_mode):
                await sink.state(self.device, True)
                await self._fifo(reader)
            else:
                await sink.state(self.device, True)
                data = await asyncio.to_thread(Path(self.path).read_bytes)
                for i in range(0, len(data), 65536):
                    if self.enabled:
                        reader.feed(data[i : i + 65536])
                reader.end()
                await asyncio.sleep(0)
                await asyncio.Event().wait()  # a file is replayed once; stay connected
        finally:
            # Let decoded scans out before stopping.
            with contextlib.suppress(Exception):
                reader.end()
            delivery.cancel()

    async def _fifo(self, reader: KeyboardReader) -> None:
        loop = asyncio.get_running_loop()
        fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        # Our own write end keeps the FIFO from reporting EOF between writers,
        # so a writer that closes and another that opens later both work.
        keep = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
        ready = asyncio.Event()
        loop.add_reader(fd, ready.set)
        try:
            while True:
                await ready.wait()
                ready.clear()
                while True:
                    try:
                        data = os.read(fd, 65536)
                    except BlockingIOError:
                        break
                    if not data:
                        break
                    if self.enabled:
                        reader.feed(data)
        finally:
            loop.remove_reader(fd)
            os.close(fd)
            os.close(keep)
