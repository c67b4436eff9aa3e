"""Server-to-client events as typed Structs: the documented field set (exactly
ProGlove's) and the extended set, decoders, and the documented projection."""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal, TypeAlias, get_args

import msgspec

from .vocabulary import (
    DEVICE_LIST_MAX,
    ERROR_MESSAGE_MAX,
    SCAN_CODE_MAX,
    UUID_RE,
    DeviceState,
    DocumentedErrorCode,
    ErrorCode,
    EventId,
    Serial,
    Severity,
    TimeCreated,
)

# Each event has one Struct for the documented field set (exactly ProGlove's
# fields and constraints; unknown fields are rejected, as ProGlove's reference
# client does) and a subclass for the extended set (PROTOCOLS.md 1.0).  The
# documented Structs are the single source of which fields a default client
# gets (:func:`documented`).

ScanCode = Annotated[str, msgspec.Meta(min_length=1, max_length=SCAN_CODE_MAX)]
ErrorMessage = Annotated[str, msgspec.Meta(min_length=1, max_length=ERROR_MESSAGE_MAX)]


class _EventBase(
    msgspec.Struct,
    kw_only=True,
    tag_field="event_type",
    omit_defaults=True,
    forbid_unknown_fields=True,
):
    api_version: Literal["1.0"]
    event_id: EventId
    time_created: TimeCreated


class ScanEvent(_EventBase, tag="scan"):
    scan_code: ScanCode
    device_serial: Serial
    gateway_serial: Serial


class ScannerStateEvent(_EventBase, tag="scanner_state"):
    device_serial: Serial
    gateway_serial: Serial
    device_connected_state: DeviceState
    device_disconnect_reason: Literal["UNKNOWN"] | None = None


class ButtonPressedEvent(_EventBase, tag="button_pressed"):
    device_serial: Serial
    gateway_serial: Serial
    trigger_gesture: Literal["TRIGGER_DOUBLE_CLICK"]


class ErrorEvent(_EventBase, tag="errors"):
    error_severity: Severity
    error_code: DocumentedErrorCode
    error_message: ErrorMessage
    event_reference_id: EventId | None = None
    device_serial: Serial | None = None


class DeviceInfo(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    device_serial: Serial
    device_firmware_version: Serial
    device_model: Serial
    device_manufacturer: Serial


class GatewayStateEvent(_EventBase, tag="gateway_state"):
    gateway_serial: Serial
    gateway_app_version: Serial
    device_connected_list: Annotated[list[DeviceInfo], msgspec.Meta(max_length=DEVICE_LIST_MAX)]
    event_reference_id: EventId | None = None


DocumentedEvent: TypeAlias = (
    ScanEvent | ScannerStateEvent | ButtonPressedEvent | ErrorEvent | GatewayStateEvent
)


class ScanEventExt(ScanEvent, tag="scan"):
    seq: int | None = None
    """Position in the server's journal (scanbridge extension)."""
    scan_bytes: str | None = None
    device_model: str | None = None
    scan_decode_symbology: str | None = None
    scan_aim_id: str | None = None


class ScannerStateEventExt(ScannerStateEvent, tag="scanner_state"):
    seq: int | None = None
    device_model: str | None = None


class ButtonPressedEventExt(ButtonPressedEvent, tag="button_pressed"):
    seq: int | None = None


class ErrorEventExt(ErrorEvent, tag="errors"):
    error_code: ErrorCode  # type: ignore[assignment]


class GatewayStateEventExt(GatewayStateEvent, tag="gateway_state"):
    pass


class CommandAckEvent(_EventBase, tag="command_ack"):
    """Extension: a command was carried out (clients connected with ``?acks=1``)."""

    event_reference_id: EventId
    gateway_serial: Serial | None = None


Event: TypeAlias = (
    ScanEventExt
    | ScannerStateEventExt
    | ButtonPressedEventExt
    | ErrorEventExt
    | GatewayStateEventExt
    | CommandAckEvent
)
"""Any event a client may receive (the extended set)."""

EVENT_TYPES: Final = tuple(str(cls.__struct_config__.tag) for cls in get_args(Event))
"""Every event_type the server sends (the tags of the Structs)."""

_event_decoder: Final = msgspec.json.Decoder(Event)
_documented_decoder: Final = msgspec.json.Decoder(DocumentedEvent)


def decode_event(data: str | bytes) -> Event:
    """Decode one server-to-client event of either field set (for clients and tests).

    Raises :class:`msgspec.ValidationError` / :class:`msgspec.DecodeError`.
    """
    return _event_decoder.decode(data)


def decode_documented_event(data: str | bytes) -> DocumentedEvent:
    """Decode an event of the documented field set; any other field is an error."""
    return _documented_decoder.decode(data)


#: event_type -> the fields of the documented set, from the documented Structs.
DOCUMENTED_FIELDS: Final[dict[str, frozenset[str]]] = {
    cls.__struct_config__.tag: frozenset(cls.__struct_fields__) | {"event_type"}  # type: ignore[misc]
    for cls in (ScanEvent, ScannerStateEvent, ButtonPressedEvent, ErrorEvent, GatewayStateEvent)
}


def is_event_id(text: object) -> bool:
    """True for a lowercase UUID (the form of every ``event_id``)."""
    return isinstance(text, str) and UUID_RE.fullmatch(text) is not None


def documented(event: dict[str, Any]) -> dict[str, Any] | None:
    """The documented field set of an (extended) event dict, or None when the
    event has no documented form (``command_ack``).

    Extension fields are left out; ``ERROR_REPLAY_GAP`` becomes
    ``ERROR_UNKNOWN`` (its message names the gap).
    """
    fields = DOCUMENTED_FIELDS.get(event.get("event_type", ""))
    if fields is None:
        return None
    out = {k: v for k, v in event.items() if k in fields}
    if out.get("error_code") == "ERROR_REPLAY_GAP":
        out["error_code"] = "ERROR_UNKNOWN"
    return out
