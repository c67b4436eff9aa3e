"""A simulated scanner: a plausible code every few seconds (README's run command)."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

from ..scan import Scan
from .base import DeviceInfo, Sink, Source, command_kind


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
        self.display: dict[str, Any] | None = None
        self.feedback: dict[str, Any] | None = None
        self.blocked_until: float | None = None

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

    async def command(self, command: Any) -> bool:
        """The demo scanner carries out feedback! and display! on the demo page
        (a simulated MARK display: ``screen()``, served in /api/devices)."""
        kind = command_kind(command)
        now = time.time()
        if kind == "feedback!":
            self.feedback = {"action": command.feedback_action_id, "at": now}
            return True
        if kind == "display!":
            ttl = command.time_validity_duration
            self.display = {
                "template": command.display_template_id,
                "refresh": command.display_refresh_type,
                "fields": [
                    {
                        "id": f.display_field_id,
                        "header": f.display_field_header,
                        "text": f.display_field_text,
                    }
                    for f in command.display_fields
                ],
                "at": now,
                "until": now + ttl / 1000 if ttl else None,
            }
            return True
        return await super().command(command)

    async def notify(self, command: Any) -> None:
        if command_kind(command) == "trigger_block!":
            self.blocked_until = None
            if command.trigger_block_state:
                ttl = command.time_validity_duration
                self.blocked_until = time.time() + ttl / 1000 if ttl else float("inf")

    def screen(self) -> dict[str, Any]:
        """What the simulated device shows now: display, last feedback, blocked."""
        now = time.time()
        display = self.display
        if display is not None and display["until"] is not None and now >= display["until"]:
            display = self.display = None
        return {
            "display": display,
            "feedback": self.feedback,
            "blocked": self.blocked_until is not None and now < self.blocked_until,
        }
