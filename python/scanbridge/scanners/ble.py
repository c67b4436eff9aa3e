"""Bluetooth LE scanners through bleak: a vendor GATT notify characteristic
carries the codes. (HID-over-GATT scanners appear as input devices: use evdev.)"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

from ..config import ScannerConfig
from ..errors import ScanbridgeError
from ..retry import Backoff
from ..scan import Scan
from .base import DeviceInfo, Sink, Source

log = logging.getLogger("scanbridge.scanners.ble")

DBUS_SYSTEM_SOCKET = "/run/dbus/system_bus_socket"


class BleUnavailable(ScanbridgeError, RuntimeError):
    """No BLE stack to talk to (no bleak, or no BlueZ over D-Bus)."""


class BleSource(Source):
    kind = "ble"

    def __init__(self, device: DeviceInfo, cfg: ScannerConfig) -> None:
        super().__init__(device)
        self.cfg = cfg
        self._buffer = bytearray()

    def preflight(self) -> None:
        """Fail at start, with a clear message, where BLE can't work."""
        try:
            import bleak  # noqa: F401
        except ImportError:
            raise BleUnavailable(
                "BLE scanners need the 'bleak' package: pip install 'scanbridge[ble]'"
            ) from None
        bus = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS", "")
        path = (
            bus.removeprefix("unix:path=") if bus.startswith("unix:path=") else DBUS_SYSTEM_SOCKET
        )
        if not os.path.exists(path):
            raise BleUnavailable(
                f"no BlueZ reachable: the D-Bus system bus socket {path} does not exist "
                "(is bluetoothd running?)"
            )

    def _on_data(self, sink: Sink, data: bytes) -> None:
        """Notifications may split a code; CR/LF end it."""
        self._buffer += data
        while True:
            cut = min(
                (i for i in (self._buffer.find(b"\r"), self._buffer.find(b"\n")) if i >= 0),
                default=-1,
            )
            if cut < 0:
                break
            code = bytes(self._buffer[:cut])
            del self._buffer[: cut + 1]
            if code and self.enabled:
                asyncio.get_running_loop().create_task(
                    sink.scan(
                        Scan(
                            code.decode("utf-8", "replace"),
                            code,
                            self.device.serial,
                            device_model=self.device.model,
                            source=self.kind,
                        )
                    )
                )

    async def run(self, sink: Sink) -> None:
        self.preflight()
        from bleak import BleakClient

        backoff = Backoff(1.0, 60.0)
        while True:
            disconnected = asyncio.Event()
            try:
                client: Any = BleakClient(
                    self.cfg.address, disconnected_callback=lambda _, ev=disconnected: ev.set()
                )
                async with client:
                    await client.start_notify(
                        self.cfg.characteristic, lambda _c, data: self._on_data(sink, bytes(data))
                    )
                    await sink.state(self.device, True)
                    backoff.reset()
                    await disconnected.wait()
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning("BLE scanner %s (%s): %s", self.device.serial, self.cfg.address, e)
            if self.device.connected:
                await sink.state(self.device, False)
            await asyncio.sleep(backoff.next())
