"""Scanner sources: where scans come from (PROTOCOLS.md section 1, DESIGN.md "Scanners")."""

from __future__ import annotations

from typing import get_args

from ..config import (
    ConfigError,
    ScannerConfig,
    ScannerSource,
    config_keys,
    field_type,
    parse_text,
    unknown_key,
)
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


#: The sources ``--scanner`` and ``[[scanners]] source`` take.
SOURCES: tuple[str, ...] = get_args(ScannerSource)


def parse_scanner_spec(spec: str) -> ScannerConfig:
    """`--scanner SPEC`: ``SOURCE[:key=value,key=value...]``, e.g.
    ``replay:path=/tmp/scans.fifo,layout=de,device_serial=S1`` or ``demo``.

    Values are read like environment variables (booleans 1/true/yes/on or
    0/false/no/off); ``terminators`` are joined with ``+`` (``enter+tab``).
    Raises :class:`ConfigError` (one line) naming what is wrong and what is allowed.
    """
    flag = "--scanner"
    head, _, rest = spec.partition(":")
    source = head.strip().lower()
    if source not in SOURCES:
        raise ConfigError(
            f"is not a scanner source: use one of {', '.join(SOURCES)} (SOURCE[:key=value,...])",
            key=flag,
            value=head.strip(),
        )
    known = [k for k in config_keys(ScannerConfig) if k != "source"]
    values: dict[str, object] = {"source": source}
    if rest:
        for part in rest.split(","):
            key, eq, text = part.partition("=")
            key = key.strip()
            if not eq or not key:
                raise ConfigError(
                    f"has {part!r}, which is not key=value (keys: {', '.join(known)})",
                    key=flag,
                    value=spec,
                )
            if key not in known:
                raise unknown_key(key, known, flag)
            if key in values:
                raise ConfigError("is given twice: give each key once", key=key, source=flag)
            if key == "terminators":
                text = text.replace("+", ",")
            values[key] = parse_text(key, text.strip(), field_type(ScannerConfig, key), flag)
    try:
        return ScannerConfig(**values)  # type: ignore[arg-type]
    except ConfigError as e:
        raise e.within(source=flag) from None


__all__ = ["SOURCES", "DeviceInfo", "Sink", "Source", "make_source", "parse_scanner_spec"]
