"""Scanner sources without hardware: evdev device matching over a sysfs tree made
here, and the evdev read / unplug / replug path over a FIFO standing in for the
device node (grab off: a FIFO has no EVIOCGRAB)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from scanbridge import _core
from scanbridge.config import ScannerConfig
from scanbridge.scan import Scan
from scanbridge.scanners import make_source, parse_scanner_spec
from scanbridge.scanners.base import DeviceInfo, Sink
from scanbridge.scanners.linux import list_input_devices, match_input_device


def fake_sysfs(root: Path, devices: list[tuple[str, str, str, str]]) -> Path:
    base = root / "class" / "input"
    for event, name, vendor, product in devices:
        dev = base / event / "device"
        (dev / "id").mkdir(parents=True)
        (dev / "name").write_text(name + "\n")
        (dev / "id" / "vendor").write_text(vendor + "\n")
        (dev / "id" / "product").write_text(product + "\n")
    return base


def test_match_by_name_vendor_product_and_path(tmp_path: Path) -> None:
    sysfs = fake_sysfs(
        tmp_path,
        [
            ("event0", "AT Translated Set 2 keyboard", "0001", "0001"),
            ("event3", "Honeywell Barcode Scanner", "0c2e", "0b61"),
            ("event7", "Zebra Symbol Scanner", "05e0", "1200"),
        ],
    )
    devs = list_input_devices(str(sysfs))
    assert [d.node for d in devs] == ["/dev/input/event0", "/dev/input/event3", "/dev/input/event7"]
    assert match_input_device(devs, name="*barcode*").node == "/dev/input/event3"
    assert match_input_device(devs, vendor="0x05E0", product="1200").node == "/dev/input/event7"
    assert match_input_device(devs, name="*scanner*", vendor="05e0").node == "/dev/input/event7"
    assert match_input_device(devs, path="/dev/input/event0").name.startswith("AT ")
    assert match_input_device(devs, name="*mouse*") is None


def test_scanner_specs_and_bad_values() -> None:
    cfg = parse_scanner_spec("evdev:name=*Scanner*,layout=de,grab=false,min_length=3")
    assert (cfg.source, cfg.name, cfg.layout, cfg.grab, cfg.min_length) == (
        "evdev",
        "*Scanner*",
        "de",
        False,
        3,
    )
    src = make_source(cfg, 1)
    assert src.device.serial == "EVDEV-0002"
    with pytest.raises(ValueError, match="key=value"):
        parse_scanner_spec("replay:path")
    with pytest.raises(Exception, match="scanner"):
        parse_scanner_spec("replay:layout=xx,path=/tmp/x")


class Recorder(Sink):
    def __init__(self) -> None:
        self.scans: list[Scan] = []
        self.states: list[bool] = []
        self.changed = asyncio.Event()

    async def scan(self, scan: Scan) -> None:
        self.scans.append(scan)
        self.changed.set()

    async def state(self, device: DeviceInfo, connected: bool) -> None:
        device.connected = connected
        self.states.append(connected)
        self.changed.set()

    async def until(self, cond, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
        async with asyncio.timeout(timeout):
            while not cond():
                self.changed.clear()
                await self.changed.wait()


async def test_evdev_reads_unplug_and_replug(tmp_path: Path, monkeypatch) -> None:
    import scanbridge.scanners.evdev as evdev_mod

    monkeypatch.setattr(evdev_mod, "RESCAN_SECONDS", 0.1)
    node = tmp_path / "event9"
    os.mkfifo(node)
    cfg = ScannerConfig(
        source="evdev", path=str(node), grab=False, layout="us", device_serial="EV-1"
    )
    src = make_source(cfg)
    sink = Recorder()
    # The test holds the FIFO open read-write: the source sees data, not EOF,
    # until the "device" goes away.
    w = os.open(node, os.O_RDWR | os.O_NONBLOCK)
    task = asyncio.get_running_loop().create_task(src.run(sink))
    try:
        await sink.until(lambda: sink.states == [True])
        os.write(w, _core.encode_keystrokes("Scan-1", "us") + _core.encode_keystrokes("A2", "us"))
        await sink.until(lambda: len(sink.scans) == 2)
        assert [s.code for s in sink.scans] == ["Scan-1", "A2"]
        assert {s.device_serial for s in sink.scans} == {"EV-1"}
        # Unplug: the node goes away and its reader sees the end.
        node.unlink()
        os.close(w)
        await sink.until(lambda: sink.states == [True, False])
        # Replug: it comes back and is read again.
        os.mkfifo(node)
        w = os.open(node, os.O_RDWR | os.O_NONBLOCK)
        await sink.until(lambda: sink.states == [True, False, True])
        os.write(w, _core.encode_keystrokes("Back", "us"))
        await sink.until(lambda: len(sink.scans) == 3)
        assert sink.scans[-1].code == "Back"
        os.close(w)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
