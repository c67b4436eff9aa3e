"""Scanner sources: where scans come from (PROTOCOLS.md section 1, DESIGN.md "Scanners")."""

from __future__ import annotations

from ..config import ScannerConfig
from .base import DeviceInfo, Sink, Source

MODELS = {
    "demo": ("scanbridge demo scanner", "scanbridge"),
    "stdin": ("keyboard input", "scanbridge"),
    "replay": ("recorded keyboard-wedge scanner", "scanbridge"),
    "evdev": ("keyboard-wedge scanner", "unknown"),
    "hidraw": ("HID POS scanner", "unknown"),
    "ble": ("Bluetooth LE scanner", "unknown"),
}


def make_source(cfg: ScannerConfig, index: int = 0) -> Source:
    """Build the source a ``[[scanners]]`` table describes."""
    model, maker = MODELS[cfg.source]
    device = DeviceInfo(
        serial=cfg.device_serial or f"{cfg.source.upper()}-{index + 1:04d}",
        model=cfg.device_model or model,
        manufacturer=maker,
        firmware="n/a",
    )
    if cfg.source == "demo":
        from .demo import DemoSource

        return DemoSource(device, cfg.interval)
    if cfg.source == "stdin":
        from .stdin import StdinSource

        return StdinSource(device)
    if cfg.source == "replay":
        from .replay import ReplaySource

        return ReplaySource(device, cfg)
    if cfg.source == "evdev":
        from .evdev import EvdevSource

        return EvdevSource(device, cfg)
    if cfg.source == "hidraw":
        from .hidraw import HidrawSource

        return HidrawSource(device, cfg)
    if cfg.source == "ble":
        from .ble import BleSource

        return BleSource(device, cfg)
    raise ValueError(f"unknown scanner source {cfg.source!r}")


def parse_scanner_spec(spec: str) -> ScannerConfig:
    """`--scanner SPEC`: ``SOURCE[:key=value,key=value...]``, e.g.
    ``replay:path=/tmp/scans.fifo,layout=de,device_serial=S1`` or ``demo``."""
    source, _, rest = spec.partition(":")
    fields: dict[str, object] = {"source": source.strip()}
    if rest:
        for part in rest.split(","):
            key, eq, value = part.partition("=")
            if not eq:
                raise ValueError(f"--scanner {spec!r}: {part!r} is not key=value")
            key = key.strip()
            v: object = value.strip()
            if key in ("terminators",):
                v = [t for t in str(v).split("+") if t]
            elif key in ("grab",):
                v = str(v).lower() in ("1", "true", "yes", "on")
            elif key in ("min_length",):
                v = int(str(v))
            elif key in ("inter_key_timeout", "max_avg_key_gap", "interval"):
                v = float(str(v))
            fields[key] = v
    import msgspec

    from ..config import ConfigError

    try:
        return msgspec.convert(fields, ScannerConfig)
    except msgspec.ValidationError as e:
        raise ConfigError(f"is not a valid scanner: {e}", key="scanner", value=spec) from None


__all__ = ["DeviceInfo", "Sink", "Source", "make_source", "parse_scanner_spec"]
