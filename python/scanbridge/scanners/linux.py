"""Linux device plumbing shared by the evdev and hidraw sources: ioctls and sysfs."""

from __future__ import annotations

import fcntl
import glob
import os
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

_IOC_READ, _IOC_WRITE = 2, 1


def _ioc(direction: int, kind: str, nr: int, size: int) -> int:
    return (direction << 30) | (size << 16) | (ord(kind) << 8) | nr


EVIOCGRAB = _ioc(_IOC_WRITE, "E", 0x90, 4)
KEY_MAX = 0x2FF


def eviocgkey(length: int = (KEY_MAX + 7) // 8 + 1) -> int:
    return _ioc(_IOC_READ, "E", 0x18, length)


def keys_held(fd: int) -> bool:
    """True while any key of the device is down (grabbing then would leave it stuck)."""
    buf = bytearray((KEY_MAX + 7) // 8 + 1)
    fcntl.ioctl(fd, eviocgkey(len(buf)), buf, True)
    return any(buf)


def grab(fd: int, on: bool = True) -> None:
    fcntl.ioctl(fd, EVIOCGRAB, 1 if on else 0)


@dataclass(slots=True)
class InputDevice:
    node: str
    name: str
    vendor: str
    product: str


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def list_input_devices(sysfs: str = "/sys/class/input") -> list[InputDevice]:
    """Event devices with their names and USB ids (from sysfs)."""
    found = []
    for d in sorted(glob.glob(os.path.join(sysfs, "event*"))):
        dev = Path(d) / "device"
        found.append(
            InputDevice(
                node="/dev/input/" + os.path.basename(d),
                name=_read(dev / "name"),
                vendor=_read(dev / "id" / "vendor").lower(),
                product=_read(dev / "id" / "product").lower(),
            )
        )
    return found


def match_input_device(
    devices: list[InputDevice],
    *,
    path: str | None = None,
    name: str | None = None,
    vendor: str | None = None,
    product: str | None = None,
) -> InputDevice | None:
    """The first device matching every given criterion (path may be a by-id symlink)."""
    real = os.path.realpath(path) if path else None
    for d in devices:
        if real and os.path.realpath(d.node) != real and d.node != path:
            continue
        if name and not fnmatchcase(d.name.lower(), name.lower()):
            continue
        if vendor and d.vendor != vendor.lower().removeprefix("0x").zfill(4):
            continue
        if product and d.product != product.lower().removeprefix("0x").zfill(4):
            continue
        return d
    return None


def list_hidraw(sysfs: str = "/sys/class/hidraw") -> list[tuple[str, str, str, bytes]]:
    """(node, vendor, product, report descriptor) of each hidraw device."""
    found = []
    for d in sorted(glob.glob(os.path.join(sysfs, "hidraw*"))):
        dev = Path(d) / "device"
        vendor = product = ""
        for line in _read(dev / "uevent").splitlines():
            if line.startswith("HID_ID="):
                parts = line.split("=", 1)[1].split(":")
                if len(parts) == 3:
                    vendor, product = parts[1][-4:].lower(), parts[2][-4:].lower()
        try:
            desc = (dev / "report_descriptor").read_bytes()
        except OSError:
            desc = b""
        found.append(("/dev/" + os.path.basename(d), vendor, product, desc))
    return found
