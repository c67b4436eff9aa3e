"""A simulated scanner: a plausible code every few seconds (README's run command)."""

from __future__ import annotations

import asyncio
import random

from ..scan import Scan
from .base import DeviceInfo, Sink, Source


def ean13(rng: random.Random) -> str:
    digits = [rng.randrange(10) for _ in range(12)]
    total = sum(d * (3 if i % 2 else 1) for i, d in enumerate(digits))
    return "".join(map(str, digits)) + str((10 - total % 10) % 10)


def demo_code(rng: random.Random) -> tuple[str, str]:
    """(code, symbology) in the mix a warehouse sees."""
    kind = rng.random()
    if kind < 0.5:
        return ean13(rng), "EAN-13"
    if kind < 0.8:
        return f"SSCC{rng.randrange(10**12):012d}", "CODE 128"
    return f"https://example.com/p/{rng.randrange(10**6):06d}", "QR CODE"


class DemoSource(Source):
    kind = "demo"

    def __init__(self, device: DeviceInfo, interval: float = 3.0, seed: int | None = None) -> None:
        super().__init__(device)
        self.interval = interval
        self.rng = random.Random(seed)

    async def run(self, sink: Sink) -> None:
        await sink.state(self.device, True)
        while True:
            await asyncio.sleep(self.interval)
            if not self.enabled:
                continue
            code, symbology = demo_code(self.rng)
            await sink.scan(
                Scan(
                    code,
                    code.encode(),
                    self.device.serial,
                    symbology=symbology,
                    device_model=self.device.model,
                    source=self.kind,
                )
            )

    async def command(self, command: object) -> bool:
        return True  # the demo scanner "beeps" and "displays" everything
