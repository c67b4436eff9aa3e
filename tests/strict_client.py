"""A strict Streams client's view: ProGlove's field tables, unknown fields rejected.

Written from ProGlove's published Streams API field tables (as PROTOCOLS.md 1.1
restates them), independently of scanbridge's own schemas, the way ProGlove's
Python reference client validates events with marshmallow (whose default is to
reject any field it does not know, and to drop such events).  Every event a
test receives on a default connection goes through :func:`validate`
(``streams_helpers.connect`` wraps the client), so no test can forget it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

Rule = Callable[[Any], bool]


def text(lo: int, hi: int) -> Rule:
    return lambda v: isinstance(v, str) and lo <= len(v) <= hi


def one_of(*values: str) -> Rule:
    return lambda v: v in values


def uuid(v: Any) -> bool:
    return isinstance(v, str) and UUID.match(v) is not None


def millis(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 1_546_300_800_000 <= v


SERIAL = text(1, 128)


def device_list(v: Any) -> bool:
    if not isinstance(v, list) or len(v) > 50:
        return False
    keys = {"device_serial", "device_firmware_version", "device_model", "device_manufacturer"}
    return all(
        isinstance(d, dict) and set(d) == keys and all(SERIAL(d[k]) for k in keys) for d in v
    )


HEADER: dict[str, Rule] = {
    "api_version": one_of("1.0"),
    "event_type": lambda v: isinstance(v, str),
    "event_id": uuid,
    "time_created": millis,
}

#: event_type -> (required fields, optional fields), beyond the header.
TABLES: dict[str, tuple[dict[str, Rule], dict[str, Rule]]] = {
    "scan": (
        {"scan_code": text(1, 2000), "device_serial": SERIAL, "gateway_serial": SERIAL},
        {},
    ),
    "scanner_state": (
        {
            "device_serial": SERIAL,
            "gateway_serial": SERIAL,
            "device_connected_state": one_of("STATE_CONNECTED", "STATE_DISCONNECTED"),
        },
        {"device_disconnect_reason": one_of("UNKNOWN")},
    ),
    "button_pressed": (
        {
            "device_serial": SERIAL,
            "gateway_serial": SERIAL,
            "trigger_gesture": one_of("TRIGGER_DOUBLE_CLICK"),
        },
        {},
    ),
    "errors": (
        {
            "error_severity": one_of("WARNING", "ERROR", "CRITICAL"),
            "error_code": one_of(
                "ERROR_UNKNOWN",
                "ERROR_OK",
                "ERROR_INVALID_COMMAND",
                "ERROR_TIMEOUT",
                "ERROR_DEVICE_NOT_FOUND",
            ),
            "error_message": text(1, 128),
        },
        {"event_reference_id": uuid, "device_serial": SERIAL},
    ),
    "gateway_state": (
        {
            "gateway_serial": SERIAL,
            "gateway_app_version": SERIAL,
            "device_connected_list": device_list,
        },
        {"event_reference_id": uuid},
    ),
}

#: With ?acks=1 a client asked for command_ack (an extension it knows).
ACK_TABLE: tuple[dict[str, Rule], dict[str, Rule]] = (
    {"event_reference_id": uuid},
    {"gateway_serial": SERIAL},
)


def problems(event: Any, *, acks: bool = False) -> list[str]:
    """What a strict client rejects in ``event`` (empty: it accepts it)."""
    if not isinstance(event, dict):
        return [f"not an object: {event!r}"]
    out: list[str] = []
    for key, rule in HEADER.items():
        if key not in event:
            out.append(f"{key} missing")
        elif not rule(event[key]):
            out.append(f"{key}={event[key]!r} breaks its rule")
    kind = event.get("event_type")
    table = ACK_TABLE if acks and kind == "command_ack" else TABLES.get(str(kind))
    if table is None:
        return [*out, f"unknown event_type {kind!r}"]
    required, optional = table
    for key, rule in required.items():
        if key not in event:
            out.append(f"{kind}.{key} missing")
        elif not rule(event[key]):
            out.append(f"{kind}.{key}={event[key]!r} breaks its rule")
    for key, value in event.items():
        if key in HEADER or key in required:
            continue
        if key not in optional:
            out.append(f"{kind}.{key} is not a documented field")
        elif not optional[key](value):
            out.append(f"{kind}.{key}={value!r} breaks its rule")
    if kind == "scanner_state":
        disconnected = event.get("device_connected_state") == "STATE_DISCONNECTED"
        if disconnected != ("device_disconnect_reason" in event):
            out.append("device_disconnect_reason is there exactly when disconnected")
    return out


def validate(event: Any, *, acks: bool = False) -> None:
    """Raise AssertionError when a strict ProGlove client would drop ``event``."""
    found = problems(event, acks=acks)
    assert not found, f"a strict ProGlove client drops {event}: {'; '.join(found)}"
