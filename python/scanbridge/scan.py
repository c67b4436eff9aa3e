"""What a scanner read, as Python hooks see it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Scan:
    """One scan. ``seq`` is its journal position once published."""

    code: str
    raw: bytes
    device_serial: str
    symbology: str | None = None
    aim_id: str | None = None
    device_model: str | None = None
    source: str = ""
    time_created: int = 0
    seq: int | None = None
    event_id: str = ""
    extra: dict[str, object] = field(default_factory=dict)
