"""The scanner source interface: something that produces scans and may take commands."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ..scan import Scan

log = logging.getLogger("scanbridge.scanners")


@dataclass(slots=True)
class DeviceInfo:
    """A scanner as `gateway_state` lists it."""

    serial: str
    model: str = "unknown"
    manufacturer: str = "unknown"
    firmware: str = "unknown"
    connected: bool = False


class Sink:
    """Where a source delivers: scans and connection state (implemented by the Streams service)."""

    async def scan(self, scan: Scan) -> None:
        raise NotImplementedError

    async def state(self, device: DeviceInfo, connected: bool) -> None:
        raise NotImplementedError

    async def button(self, device: DeviceInfo, gesture: str) -> None:
        raise NotImplementedError


class Source:
    """A scanner source. ``run`` reads until cancelled; commands arrive via ``command``."""

    kind = "base"

    def __init__(self, device: DeviceInfo) -> None:
        self.device = device
        self.enabled = True

    def preflight(self) -> None:
        """Check at start that this source can work; raise with a clear message if not."""

    async def run(self, sink: Sink) -> None:
        raise NotImplementedError

    async def command(self, command: Any) -> bool:
        """A Streams command for this device (feedback!, display!, ...).

        Returns True when the device acted on it, False when it can't (the
        command still reaches the Python hooks).
        """
        log.info(
            "%s %s: %s not supported by this source",
            self.kind,
            self.device.serial,
            getattr(command, "event_type", command),
        )
        return False

    async def set_connected(self, connected: bool) -> None:
        """scanner_connectivity!: connect or disconnect the device."""
        self.enabled = connected


SourceFactory = Callable[..., Source]
Emit = Callable[[Scan], Awaitable[None]]
