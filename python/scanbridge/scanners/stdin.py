"""Typed codes: one code per line on standard input."""

from __future__ import annotations

import asyncio
import sys

from ..scan import Scan
from .base import DeviceInfo, Sink, Source


class StdinSource(Source):
    kind = "stdin"

    def __init__(self, device: DeviceInfo, stream: object = None) -> None:
        super().__init__(device)
        self.stream = stream or sys.stdin

    async def run(self, sink: Sink) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), self.stream)
        await sink.state(self.device, True)
        while line := await reader.readline():
            code = line.rstrip(b"\r\n")
            if code and self.enabled:
                text = code.decode("utf-8", "replace")
                await sink.scan(
                    Scan(
                        text,
                        code,
                        self.device.serial,
                        source=self.kind,
                        device_model=self.device.model,
                    )
                )
        await sink.state(self.device, False)
