"""The scanner source interface: something that produces scans and may take commands."""

from __future__ import annotations

import logging
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
    #: Reported to clients as connected (scanner_state).
    connected: bool = False
    #: Physically there (its source has it open), whatever scanner_connectivity! said.
    present: bool = False


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
        """A Streams command for this device (``feedback!``, ``display!``).

        Returns True when the device carried it out, False when it can't (the
        client then gets ``ERROR_UNKNOWN``).
        """
        log.info(
            "%s %s: %s not supported by this source",
            self.kind,
            self.device.serial,
            command_kind(command),
        )
        return False

    async def notify(self, command: Any) -> None:
        """A command scanbridge carried out itself (``trigger_block!``), for sources
        that show it (the demo scanner)."""

    async def set_connected(self, connected: bool) -> None:
        """scanner_connectivity!: connect or disconnect the device."""
        self.enabled = connected


def command_kind(command: Any) -> str:
    """A command's event_type (``display!``...): the tag of its msgspec Struct."""
    config = getattr(type(command), "__struct_config__", None)
    return str(getattr(config, "tag", None) or getattr(command, "event_type", command))
