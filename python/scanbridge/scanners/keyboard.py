"""Keyboard-wedge decoding shared by the evdev and replay sources.

Bytes of `struct input_event` records go to the Rust KeyboardDecoder; a code
without terminator ends when no key came for `inter_key_timeout` seconds
(a real-time timer, so recorded timestamps don't matter).
"""

from __future__ import annotations

import asyncio
import logging

from .. import _core
from ..config import ScannerConfig
from ..scan import Scan
from .base import DeviceInfo, Sink

log = logging.getLogger("scanbridge.scanners")


class KeyboardReader:
    def __init__(self, cfg: ScannerConfig, device: DeviceInfo, kind: str) -> None:
        self.device = device
        self.kind = kind
        self.timeout = cfg.inter_key_timeout
        self.decoder = _core.KeyboardDecoder(
            layout=cfg.layout,
            terminators=list(cfg.terminators),
            inter_key_timeout=cfg.inter_key_timeout,
            min_length=cfg.min_length,
            max_avg_gap=cfg.max_avg_key_gap or None,
        )
        self._timer: asyncio.TimerHandle | None = None
        self._pending: list[Scan] = []
        self._wake = asyncio.Event()

    def feed(self, data: bytes) -> None:
        self._take(self.decoder.feed(data))
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.decoder.pending:
            self._timer = asyncio.get_running_loop().call_later(self.timeout, self._idle)

    def _idle(self) -> None:
        self._timer = None
        self._take(self.decoder.flush())

    def end(self) -> None:
        self._take(self.decoder.flush())

    def _take(self, decoded: list[_core.KeyScan]) -> None:
        for scan in decoded:
            if scan.human:
                log.debug(
                    "%s: ignored typing %r (too slow for a scanner)", self.device.serial, scan.text
                )
                continue
            self._pending.append(
                Scan(
                    scan.text,
                    scan.raw,
                    self.device.serial,
                    device_model=self.device.model,
                    source=self.kind,
                )
            )
        if self._pending:
            self._wake.set()

    async def deliver(self, sink: Sink) -> None:
        """Hand decoded scans to the sink, in order (runs alongside the reading)."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                await sink.scan(self._pending.pop(0))
