"""Events built as plain dicts in wire order (the journal adds ``seq`` and
encodes each event exactly once)."""

from __future__ import annotations

import base64
import time
import uuid
from typing import Any, Final

import msgspec

from ... import _core
from .vocabulary import (
    API_VERSION,
    DEVICE_LIST_MAX,
    DEVICE_STATES,
    ERROR_CODES,
    ERROR_MESSAGE_MAX,
    ERROR_SEVERITIES,
    SERIAL_MAX,
    UUID_RE,
    DeviceState,
)

_encoder: Final = msgspec.json.Encoder()


def encode(event: dict[str, Any]) -> bytes:
    """Encode an event (or any JSON-able message) with msgspec."""
    return _encoder.encode(event)


def now_ms() -> int:
    """Unix time in integer milliseconds."""
    return time.time_ns() // 1_000_000


def new_event_id() -> str:
    """A new event_id: a random (version 4) UUID in lowercase."""
    return str(uuid.uuid4())


def _header(event_type: str) -> dict[str, Any]:
    return {
        "api_version": API_VERSION,
        "event_type": event_type,
        "event_id": new_event_id(),
        "time_created": now_ms(),
    }


def symbology_from_aim(aim_id: str | None) -> str | None:
    """The ProGlove-style symbology name for an AIM id such as ``]E0``, or None.

    One table, in Rust (``hid/pos/aim.rs``), shared with the HID POS source.
    """
    if not aim_id:
        return None
    return _core.symbology_name(aim_id)


def scan_event(
    code: str | None,
    raw: bytes | None,
    device_serial: str,
    gateway_serial: str,
    device_model: str | None = None,
    symbology: str | None = None,
    aim_id: str | None = None,
) -> dict[str, Any]:
    """A ``scan`` event.

    * ``scan_code`` is ``code`` when given, else ``raw`` decoded as UTF-8 with
      invalid bytes dropped (a ``code`` holding lone surrogates, as produced
      by ``errors="surrogateescape"``, is cleaned the same way).
    * ``scan_bytes`` (URL-safe base64 with ``=`` padding, as in ProGlove's
      example) is present whenever the source gives raw bytes (``raw`` is not
      None), valid UTF-8 or not, and when ``code`` is not valid UTF-8 (its
      bytes are then recovered with ``surrogateescape``).  A plain text scan
      has no ``scan_bytes``.
    * ``scan_decode_symbology`` is ``symbology``, or derived from ``aim_id``
      (:func:`symbology_from_aim`) when the source only gives an AIM id;
      ``scan_aim_id`` is ``aim_id``.  Fields whose value is None are left out.
    """
    scan_bytes: str | None = None
    if raw is not None:
        raw = bytes(raw)
        if code is None:
            code = raw.decode("utf-8", "ignore")
        scan_bytes = base64.urlsafe_b64encode(raw).decode("ascii")
    elif code is None:
        raise ValueError("scan_event needs code or raw")
    if any("\ud800" <= ch <= "\udfff" for ch in code):
        try:
            recovered = code.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            recovered = code.encode("utf-8", "surrogatepass")
        if scan_bytes is None:
            scan_bytes = base64.urlsafe_b64encode(recovered).decode("ascii")
        code = code.encode("utf-8", "ignore").decode("utf-8")
    event = _header("scan")
    event["scan_code"] = code
    if scan_bytes is not None:
        event["scan_bytes"] = scan_bytes
    event["device_serial"] = device_serial
    if device_model is not None:
        event["device_model"] = device_model
    event["gateway_serial"] = gateway_serial
    if symbology is None:
        symbology = symbology_from_aim(aim_id)
    if symbology is not None:
        event["scan_decode_symbology"] = symbology
    if aim_id is not None:
        event["scan_aim_id"] = aim_id
    return event


def scanner_state_event(
    device_serial: str,
    gateway_serial: str,
    connected: bool | DeviceState,
    *,
    disconnect_reason: str = "UNKNOWN",
    device_model: str | None = None,
) -> dict[str, Any]:
    """A ``scanner_state`` event; ``device_disconnect_reason`` only when disconnected.

    ``connected`` is a bool or one of ``STATE_CONNECTED`` / ``STATE_DISCONNECTED``.
    """
    if isinstance(connected, str):
        if connected not in DEVICE_STATES:
            raise ValueError(f"connected is {connected!r}; allowed: True, False, {DEVICE_STATES}")
        connected = connected == "STATE_CONNECTED"
    event = _header("scanner_state")
    event["device_serial"] = device_serial
    if device_model is not None:
        event["device_model"] = device_model
    event["gateway_serial"] = gateway_serial
    event["device_connected_state"] = "STATE_CONNECTED" if connected else "STATE_DISCONNECTED"
    if not connected:
        event["device_disconnect_reason"] = disconnect_reason
    return event


def button_pressed_event(
    device_serial: str, gateway_serial: str, trigger_gesture: str = "TRIGGER_DOUBLE_CLICK"
) -> dict[str, Any]:
    """A ``button_pressed`` event (ProGlove sends only ``TRIGGER_DOUBLE_CLICK``)."""
    event = _header("button_pressed")
    event["device_serial"] = device_serial
    event["gateway_serial"] = gateway_serial
    event["trigger_gesture"] = trigger_gesture
    return event


def error_event(
    reference_id: str | None,
    code: str,
    message: str,
    severity: str = "ERROR",
    *,
    device_serial: str | None = None,
    gateway_serial: str | None = None,
) -> dict[str, Any]:
    """An ``errors`` event.

    ``event_reference_id`` is left out when ``reference_id`` is None;
    ``error_message`` is cut to ProGlove's 128 characters (ending in "…").
    Raises ValueError for a code or severity outside :data:`ERROR_CODES` /
    :data:`ERROR_SEVERITIES` (a programming error).
    """
    if code not in ERROR_CODES:
        raise ValueError(f"error code {code!r} is unknown; allowed: {', '.join(ERROR_CODES)}")
    if severity not in ERROR_SEVERITIES:
        raise ValueError(
            f"severity {severity!r} is unknown; allowed: {', '.join(ERROR_SEVERITIES)}"
        )
    if not message:
        message = code
    if len(message) > ERROR_MESSAGE_MAX:
        message = message[: ERROR_MESSAGE_MAX - 1] + "…"
    event = _header("errors")
    if reference_id is not None and UUID_RE.fullmatch(reference_id):
        event["event_reference_id"] = reference_id
    event["error_severity"] = severity
    event["error_code"] = code
    event["error_message"] = message
    if device_serial is not None:
        event["device_serial"] = device_serial
    del gateway_serial  # not a field of ProGlove's errors event
    return event


_DEVICE_KEYS: Final = (
    "device_serial",
    "device_firmware_version",
    "device_model",
    "device_manufacturer",
)


def _text128(value: object) -> str:
    """A 1-128 character text for a device field ("unknown" when there is none)."""
    text = str(value) if value is not None else ""
    return text[:SERIAL_MAX] if text else "unknown"


def gateway_state_event(
    reference_id: str | None,
    gateway_serial: str,
    app_version: str,
    devices: list[dict[str, Any]],
) -> dict[str, Any]:
    """A ``gateway_state`` event, the reply to ``gateway_state!``.

    Each device dict must have ``device_serial``; of the other keys only
    ``device_firmware_version``, ``device_model`` and ``device_manufacturer``
    are sent, and only when not None.
    """
    listed: list[dict[str, Any]] = []
    for i, device in enumerate(devices[:DEVICE_LIST_MAX]):
        if not device.get("device_serial"):
            raise ValueError(f"devices[{i}] has no device_serial")
        listed.append({k: _text128(device.get(k)) for k in _DEVICE_KEYS})
    event = _header("gateway_state")
    if reference_id is not None:
        event["event_reference_id"] = reference_id
    event["gateway_serial"] = gateway_serial
    event["gateway_app_version"] = app_version
    event["device_connected_list"] = listed
    return event


def command_ack_event(reference_id: str, *, gateway_serial: str | None = None) -> dict[str, Any]:
    """A ``command_ack`` event (extension, for clients connected with ``?acks=1``)."""
    event = _header("command_ack")
    event["event_reference_id"] = reference_id
    if gateway_serial is not None:
        event["gateway_serial"] = gateway_serial
    return event
