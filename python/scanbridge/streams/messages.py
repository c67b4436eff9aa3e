"""Streams API messages (PROTOCOLS.md section 1): event builders, command parsing.

Events (server to client) are built as plain dicts, in wire order, by the
``*_event`` functions, because the journal adds ``seq`` and encodes each event
exactly once (:meth:`scanbridge.journal.Journal.append`).  The same events are
also described by typed msgspec Structs (:data:`Event`, :func:`decode_event`)
for clients and tests.

Commands (client to server) are parsed by :func:`parse_command` into the
tagged union :data:`Command`.  Field rules follow PROTOCOLS.md 1.2 and, where
it is silent, ProGlove's Streams API reference:

* every command: ``api_version`` ``"1.0"`` or ``"1.1"``; ``event_id`` a
  lowercase UUID; ``time_created`` an integer of Unix milliseconds in
  ProGlove's range ``1546300800000 ..= 99999999999999`` (this also catches
  clients that send seconds);
* ``device_serial``: 1-128 characters;
* ``feedback!``: ``feedback_action_id`` one of :data:`FEEDBACK_ACTIONS`;
* ``display!``: ``display_template_id`` 1-15 characters,
  ``display_refresh_type`` one of ``DEFAULT`` (default), ``FULL_REFRESH``,
  ``PARTIAL_REFRESH``; ``display_fields`` at most 12 objects of
  ``display_field_id`` (integer >= 1, required), ``display_field_header``
  (at most 40 characters) and ``display_field_text`` (at most 80);
  ``time_validity_duration`` integer >= 0 in ms (0, the default, means until
  the next display command);
* ``trigger_block!``: ``trigger_block_state`` boolean (required; true blocks,
  false unblocks); ``trigger_block_gesture_list`` and
  ``trigger_unblock_gesture_list`` at most 15 of :data:`TRIGGER_GESTURES`
  (empty or absent block list = all gestures; empty or absent unblock list =
  no gesture unblocks); ``time_validity_duration`` integer >= 0 (0 = until
  unblocked);
* ``feedback!``, ``display!`` and ``trigger_block!`` also take ProGlove's
  ``event_time_to_live_duration`` (integer >= 0, ms; 0 = no limit);
* ``gateway_state!``: nothing more;
* ``scanner_connectivity!``: at least one of ``connect`` and ``disconnect``.
  ``disconnect`` is ``"all"`` or a list of 1-50 serials (1-128 characters
  each).  ``connect`` is the same, or ProGlove's ``true`` ("pair a new
  scanner"); ``false`` counts as absent.

Decisions:

* Unknown extra fields are accepted and ignored (forward compatibility: newer
  clients and ProGlove extensions must not break older servers).
* ``null`` for an optional field counts as absent (clients serialising
  ``None``/``undefined``); ``null`` for a required field is an error.
* ``api_version`` ``"1.1"`` is accepted on every command.
* Lengths are counted in Unicode code points.
* :class:`CommandError` messages name the field and the rule, e.g.
  ``display_fields[3].display_field_text is 95 characters, at most 80 are
  allowed``; :func:`error_event` cuts ``error_message`` to ProGlove's 128
  characters.
* ``scan_bytes``: see :func:`scan_event`.
"""

from __future__ import annotations

import base64
import re
import time
import uuid
from typing import Annotated, Any, Final, Literal, TypeAlias, get_args

import msgspec

from .. import _core

__all__ = [
    "API_VERSION",
    "COMMAND_API_VERSIONS",
    "COMMAND_TYPES",
    "DISPLAY_REFRESH_TYPES",
    "ERROR_CODES",
    "ERROR_SEVERITIES",
    "EVENT_TYPES",
    "FEEDBACK_ACTIONS",
    "TRIGGER_GESTURES",
    "ButtonPressedEvent",
    "Command",
    "CommandAckEvent",
    "CommandError",
    "DeviceInfo",
    "DisplayCommand",
    "DisplayField",
    "ErrorEvent",
    "Event",
    "FeedbackCommand",
    "GatewayStateCommand",
    "GatewayStateEvent",
    "ScanEvent",
    "ScannerConnectivityCommand",
    "ScannerStateEvent",
    "TriggerBlockCommand",
    "button_pressed_event",
    "command_ack_event",
    "decode_event",
    "encode",
    "error_event",
    "gateway_state_event",
    "new_event_id",
    "now_ms",
    "parse_command",
    "scan_event",
    "scanner_state_event",
    "symbology_from_aim",
]

# --------------------------------------------------------------------------- constants

API_VERSION: Final = "1.0"
"""The api_version of every event the server sends."""

COMMAND_API_VERSIONS: Final = ("1.0", "1.1", "1.2")

EVENT_TYPES: Final = (
    "scan",
    "scanner_state",
    "button_pressed",
    "errors",
    "gateway_state",
    "command_ack",
)

COMMAND_TYPES: Final = (
    "display!",
    "feedback!",
    "gateway_state!",
    "scanner_connectivity!",
    "trigger_block!",
)

# Each value set is written once, as a Literal type; the tuples are derived.
FeedbackAction: TypeAlias = Literal[
    "FEEDBACK_POSITIVE",
    "FEEDBACK_NEGATIVE",
    "FEEDBACK_SPECIAL_YELLOW",
    "FEEDBACK_SPECIAL_PURPLE",
    "FEEDBACK_SPECIAL_CYAN",
]
RefreshType: TypeAlias = Literal["DEFAULT", "FULL_REFRESH", "PARTIAL_REFRESH"]
TriggerGesture: TypeAlias = Literal[
    "TRIGGER_SINGLE_CLICK", "TRIGGER_DOUBLE_CLICK", "TRIGGER_TRIPLE_CLICK"
]
Severity: TypeAlias = Literal["WARNING", "ERROR", "CRITICAL"]
DeviceState: TypeAlias = Literal["STATE_CONNECTED", "STATE_DISCONNECTED"]
DocumentedErrorCode: TypeAlias = Literal[
    "ERROR_UNKNOWN",
    "ERROR_OK",
    "ERROR_INVALID_COMMAND",
    "ERROR_TIMEOUT",
    "ERROR_DEVICE_NOT_FOUND",
]
ErrorCode: TypeAlias = DocumentedErrorCode | Literal["ERROR_REPLAY_GAP"]

FEEDBACK_ACTIONS: Final = get_args(FeedbackAction)
DISPLAY_REFRESH_TYPES: Final = get_args(RefreshType)
TRIGGER_GESTURES: Final = get_args(TriggerGesture)
ERROR_SEVERITIES: Final = get_args(Severity)
DEVICE_STATES: Final = get_args(DeviceState)
DOCUMENTED_ERROR_CODES: Final = get_args(DocumentedErrorCode)
"""The error codes ProGlove documents (the documented field set sends only these)."""
ERROR_CODES: Final = (*DOCUMENTED_ERROR_CODES, "ERROR_REPLAY_GAP")
"""Every error code; ``ERROR_REPLAY_GAP`` is an extension (PROTOCOLS.md 1.3)."""

TIME_CREATED_MIN: Final = 1_546_300_800_000
"""ProGlove's lower bound for time_created (2019-01-01 in ms)."""
TIME_CREATED_MAX: Final = 99_999_999_999_999

SERIAL_MAX: Final = 128
SCAN_CODE_MAX: Final = 2000
DEVICE_LIST_MAX: Final = 50
DISPLAY_TEMPLATE_ID_MAX: Final = 15
DISPLAY_FIELDS_MAX: Final = 12
DISPLAY_HEADER_MAX: Final = 40
DISPLAY_TEXT_MAX: Final = 80
GESTURE_LIST_MAX: Final = 15
CONNECTIVITY_SERIALS_MAX: Final = 50
ERROR_MESSAGE_MAX: Final = 128

_UUID_RE: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

Serial = Annotated[str, msgspec.Meta(min_length=1, max_length=SERIAL_MAX)]
Millis = Annotated[int, msgspec.Meta(ge=0)]
TimeCreated = Annotated[int, msgspec.Meta(ge=TIME_CREATED_MIN, le=TIME_CREATED_MAX)]
EventId = Annotated[str, msgspec.Meta(pattern=f"^{_UUID_RE.pattern}$")]

# ------------------------------------------------------------------------ event models


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


def command_type(cmd: Command) -> str:
    """A parsed command's ``event_type`` (the tag of its Struct), e.g. ``"display!"``."""
    return str(type(cmd).__struct_config__.tag)


def is_event_id(text: object) -> bool:
    """True for a lowercase UUID (the form of every ``event_id``)."""
    return isinstance(text, str) and _UUID_RE.fullmatch(text) is not None


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


# ---------------------------------------------------------------------- command models


class DisplayField(msgspec.Struct, kw_only=True):
    display_field_id: Annotated[int, msgspec.Meta(ge=1)]
    display_field_header: Annotated[str, msgspec.Meta(max_length=DISPLAY_HEADER_MAX)] = ""
    display_field_text: Annotated[str, msgspec.Meta(max_length=DISPLAY_TEXT_MAX)] = ""


class _CommandBase(msgspec.Struct, kw_only=True, tag_field="event_type"):
    api_version: Literal["1.0", "1.1", "1.2"]
    event_id: EventId
    time_created: TimeCreated


class FeedbackCommand(_CommandBase, tag="feedback!"):
    device_serial: Serial
    feedback_action_id: FeedbackAction
    event_time_to_live_duration: Millis = 0


class DisplayCommand(_CommandBase, tag="display!"):
    device_serial: Serial
    display_template_id: Annotated[
        str, msgspec.Meta(min_length=1, max_length=DISPLAY_TEMPLATE_ID_MAX)
    ]
    display_refresh_type: RefreshType = "DEFAULT"
    display_fields: Annotated[list[DisplayField], msgspec.Meta(max_length=DISPLAY_FIELDS_MAX)] = (
        msgspec.field(default_factory=list)
    )
    time_validity_duration: Millis = 0
    event_time_to_live_duration: Millis = 0


class TriggerBlockCommand(_CommandBase, tag="trigger_block!"):
    device_serial: Serial
    trigger_block_state: bool
    trigger_block_gesture_list: Annotated[
        list[TriggerGesture], msgspec.Meta(max_length=GESTURE_LIST_MAX)
    ] = msgspec.field(default_factory=list)
    trigger_unblock_gesture_list: Annotated[
        list[TriggerGesture], msgspec.Meta(max_length=GESTURE_LIST_MAX)
    ] = msgspec.field(default_factory=list)
    time_validity_duration: Millis = 0
    event_time_to_live_duration: Millis = 0


class GatewayStateCommand(_CommandBase, tag="gateway_state!"):
    pass


SerialList = Annotated[
    list[Serial], msgspec.Meta(min_length=1, max_length=CONNECTIVITY_SERIALS_MAX)
]


class ScannerConnectivityCommand(_CommandBase, tag="scanner_connectivity!"):
    connect: bool | Literal["all"] | SerialList | None = None
    """``True`` (ProGlove: pair a new scanner), ``"all"`` or serials; None = not asked."""
    disconnect: Literal["all"] | SerialList | None = None


Command: TypeAlias = (
    FeedbackCommand
    | DisplayCommand
    | TriggerBlockCommand
    | GatewayStateCommand
    | ScannerConnectivityCommand
)

_COMMAND_CLASSES: Final[dict[str, type[Command]]] = {
    "feedback!": FeedbackCommand,
    "display!": DisplayCommand,
    "trigger_block!": TriggerBlockCommand,
    "gateway_state!": GatewayStateCommand,
    "scanner_connectivity!": ScannerConnectivityCommand,
}


class CommandError(ValueError):
    """A command that cannot be carried out as sent (answered with an ``errors`` event).

    ``error_code`` is ``ERROR_INVALID_COMMAND``; ``reference_id`` is the
    command's ``event_id`` when it could be read (else None); ``field`` is the
    path of the offending field (e.g. ``display_fields[3].display_field_text``)
    or None when the message as a whole is at fault.
    """

    def __init__(
        self,
        message: str,
        *,
        reference_id: str | None = None,
        field: str | None = None,
        error_code: str = "ERROR_INVALID_COMMAND",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reference_id = reference_id
        self.field = field
        self.error_code = error_code

    def event(
        self, *, device_serial: str | None = None, gateway_serial: str | None = None
    ) -> dict[str, Any]:
        """The ``errors`` event that answers the failed command."""
        return error_event(
            self.reference_id,
            self.error_code,
            self.message,
            device_serial=device_serial,
            gateway_serial=gateway_serial,
        )


# ------------------------------------------------------------------ command validation


class _Invalid(Exception):
    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _show(value: object, limit: int = 40) -> str:
    text = repr(value)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _get(obj: dict[str, Any], key: str, path: str, *, required: bool) -> Any:
    if key not in obj or (obj[key] is None and not required):
        if required:
            raise _Invalid(path, f"{path} is missing")
        return None
    return obj[key]


def _check_str(
    value: Any,
    path: str,
    *,
    min_len: int = 0,
    max_len: int | None = None,
    choices: tuple[str, ...] | None = None,
) -> str:
    if not isinstance(value, str):
        raise _Invalid(path, f"{path} must be a string, got {_json_type(value)}")
    if choices is not None:
        if value not in choices:
            raise _Invalid(path, f"{path} is {_show(value)}; allowed: {', '.join(choices)}")
        return value
    n = len(value)
    if n < min_len:
        if n == 0:
            raise _Invalid(
                path, f"{path} is empty, at least {_plural(min_len, 'character')} is required"
            )
        raise _Invalid(path, f"{path} is {n} characters, at least {min_len} are required")
    if max_len is not None and n > max_len:
        raise _Invalid(path, f"{path} is {_plural(n, 'character')}, at most {max_len} are allowed")
    return value


def _check_int(value: Any, path: str, *, ge: int | None = None, le: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Invalid(path, f"{path} must be an integer, got {_json_type(value)}")
    if (ge is not None and value < ge) or (le is not None and value > le):
        if ge is not None and le is not None:
            rule = f"it must be between {ge} and {le}"
        elif ge is not None:
            rule = f"it must be >= {ge}"
        else:
            rule = f"it must be <= {le}"
        raise _Invalid(path, f"{path} is {value}, {rule}")
    return value


def _check_bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise _Invalid(path, f"{path} must be true or false, got {_json_type(value)}")
    return value


def _check_list(value: Any, path: str, *, max_items: int, min_items: int = 0) -> list[Any]:
    if not isinstance(value, list):
        raise _Invalid(path, f"{path} must be an array, got {_json_type(value)}")
    n = len(value)
    if n < min_items:
        raise _Invalid(path, f"{path} is empty, at least {_plural(min_items, 'entry')} is required")
    if n > max_items:
        raise _Invalid(path, f"{path} has {n} entries, at most {max_items} are allowed")
    return value


def _optional_millis(obj: dict[str, Any], key: str) -> None:
    value = _get(obj, key, key, required=False)
    if value is not None:
        _check_int(value, key, ge=0)


def _check_serial(obj: dict[str, Any]) -> None:
    _check_str(
        _get(obj, "device_serial", "device_serial", required=True),
        "device_serial",
        min_len=1,
        max_len=SERIAL_MAX,
    )


def _check_common(obj: dict[str, Any]) -> None:
    _check_str(
        _get(obj, "api_version", "api_version", required=True),
        "api_version",
        choices=COMMAND_API_VERSIONS,
    )
    event_id = _check_str(_get(obj, "event_id", "event_id", required=True), "event_id")
    if not _UUID_RE.fullmatch(event_id):
        raise _Invalid(
            "event_id",
            f"event_id {_show(event_id)} is not a lowercase UUID "
            "(xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, hex digits 0-9 a-f)",
        )
    tc = _get(obj, "time_created", "time_created", required=True)
    if isinstance(tc, bool) or not isinstance(tc, int):
        raise _Invalid(
            "time_created",
            f"time_created must be an integer (Unix time in milliseconds), got {_json_type(tc)}",
        )
    if not TIME_CREATED_MIN <= tc <= TIME_CREATED_MAX:
        raise _Invalid(
            "time_created",
            f"time_created is {tc}, it must be Unix time in milliseconds "
            f"(between {TIME_CREATED_MIN} and {TIME_CREATED_MAX})",
        )


def _check_feedback(obj: dict[str, Any]) -> None:
    _check_serial(obj)
    _check_str(
        _get(obj, "feedback_action_id", "feedback_action_id", required=True),
        "feedback_action_id",
        choices=FEEDBACK_ACTIONS,
    )
    _optional_millis(obj, "event_time_to_live_duration")


def _check_display(obj: dict[str, Any]) -> None:
    _check_serial(obj)
    _check_str(
        _get(obj, "display_template_id", "display_template_id", required=True),
        "display_template_id",
        min_len=1,
        max_len=DISPLAY_TEMPLATE_ID_MAX,
    )
    refresh = _get(obj, "display_refresh_type", "display_refresh_type", required=False)
    if refresh is not None:
        _check_str(refresh, "display_refresh_type", choices=DISPLAY_REFRESH_TYPES)
    fields = _get(obj, "display_fields", "display_fields", required=False)
    if fields is not None:
        _check_list(fields, "display_fields", max_items=DISPLAY_FIELDS_MAX)
        for i, field in enumerate(fields):
            path = f"display_fields[{i}]"
            if not isinstance(field, dict):
                raise _Invalid(path, f"{path} must be an object, got {_json_type(field)}")
            _check_int(
                _get(field, "display_field_id", f"{path}.display_field_id", required=True),
                f"{path}.display_field_id",
                ge=1,
            )
            header = _get(field, "display_field_header", "", required=False)
            if header is not None:
                _check_str(header, f"{path}.display_field_header", max_len=DISPLAY_HEADER_MAX)
            text = _get(field, "display_field_text", "", required=False)
            if text is not None:
                _check_str(text, f"{path}.display_field_text", max_len=DISPLAY_TEXT_MAX)
    _optional_millis(obj, "time_validity_duration")
    _optional_millis(obj, "event_time_to_live_duration")


def _check_gestures(obj: dict[str, Any], key: str) -> None:
    value = _get(obj, key, key, required=False)
    if value is None:
        return
    _check_list(value, key, max_items=GESTURE_LIST_MAX)
    for i, gesture in enumerate(value):
        _check_str(gesture, f"{key}[{i}]", choices=TRIGGER_GESTURES)


def _check_trigger_block(obj: dict[str, Any]) -> None:
    _check_serial(obj)
    _check_bool(
        _get(obj, "trigger_block_state", "trigger_block_state", required=True),
        "trigger_block_state",
    )
    _check_gestures(obj, "trigger_block_gesture_list")
    _check_gestures(obj, "trigger_unblock_gesture_list")
    _optional_millis(obj, "time_validity_duration")
    _optional_millis(obj, "event_time_to_live_duration")


def _check_gateway_state(obj: dict[str, Any]) -> None:
    return None


def _check_serials_or_all(value: Any, key: str, *, allow_true: bool) -> None:
    if value == "all" and isinstance(value, str):
        return
    if allow_true and value is True:
        return
    if not isinstance(value, list):
        what = 'true, "all" or a list of serials' if allow_true else '"all" or a list of serials'
        raise _Invalid(key, f"{key} must be {what}, got {_show(value)}")
    _check_list(value, key, max_items=CONNECTIVITY_SERIALS_MAX, min_items=1)
    for i, serial in enumerate(value):
        _check_str(serial, f"{key}[{i}]", min_len=1, max_len=SERIAL_MAX)


def _check_connectivity(obj: dict[str, Any]) -> None:
    connect = obj.get("connect")
    if connect is False:
        obj["connect"] = connect = None
    disconnect = obj.get("disconnect")
    if connect is None and disconnect is None:
        raise _Invalid(
            None,
            'scanner_connectivity! needs connect (true, "all" or serials) '
            'and/or disconnect ("all" or serials)',
        )
    if connect is not None:
        _check_serials_or_all(connect, "connect", allow_true=True)
    if disconnect is not None:
        _check_serials_or_all(disconnect, "disconnect", allow_true=False)


_CHECKS: Final = {
    "feedback!": _check_feedback,
    "display!": _check_display,
    "trigger_block!": _check_trigger_block,
    "gateway_state!": _check_gateway_state,
    "scanner_connectivity!": _check_connectivity,
}

_OPTIONAL_KEYS: Final[dict[str, tuple[str, ...]]] = {
    "feedback!": ("event_time_to_live_duration",),
    "display!": (
        "display_refresh_type",
        "display_fields",
        "time_validity_duration",
        "event_time_to_live_duration",
    ),
    "trigger_block!": (
        "trigger_block_gesture_list",
        "trigger_unblock_gesture_list",
        "time_validity_duration",
        "event_time_to_live_duration",
    ),
    "gateway_state!": (),
    "scanner_connectivity!": ("connect", "disconnect"),
}

_KNOWN_COMMANDS: Final = ", ".join(COMMAND_TYPES)


def parse_command(data: str | bytes | bytearray | memoryview) -> Command:
    """Parse and validate one client-to-server message.

    Returns a :data:`Command` Struct; raises :class:`CommandError` for invalid
    JSON, a message that is not an object, an unknown ``event_type`` or a
    field that breaks its rule (see the module doc).  Unknown extra fields are
    ignored.  Any text at all gets one of the two, never another exception
    (JSON nested too deeply to decode is invalid JSON here).
    """
    try:
        return _parse_command(data)
    except RecursionError:
        raise CommandError("invalid JSON: nested too deeply") from None


def _parse_command(data: str | bytes | bytearray | memoryview) -> Command:
    try:
        obj = msgspec.json.decode(data)
    except msgspec.DecodeError as exc:
        raise CommandError(f"invalid JSON: {exc}") from None
    except UnicodeError:  # a str holding a lone surrogate (not text in any encoding)
        raise CommandError("invalid JSON: not valid Unicode text") from None
    if not isinstance(obj, dict):
        raise CommandError(f"a command must be a JSON object, got {_json_type(obj)}")
    event_id = obj.get("event_id")
    reference_id = event_id if isinstance(event_id, str) and 0 < len(event_id) <= 128 else None

    event_type = obj.get("event_type")
    if event_type is None:
        raise CommandError(
            f"event_type is missing; commands: {_KNOWN_COMMANDS}",
            reference_id=reference_id,
            field="event_type",
        )
    if not isinstance(event_type, str):
        raise CommandError(
            f"event_type must be a string, got {_json_type(event_type)}",
            reference_id=reference_id,
            field="event_type",
        )
    cls = _COMMAND_CLASSES.get(event_type)
    if cls is None:
        # Kept short: error_message has at most 128 characters.
        if event_type in EVENT_TYPES or f"{event_type}!" in _COMMAND_CLASSES:
            what = f"event_type {_show(event_type, 24)} is not a command"
        else:
            what = f"unknown event_type {_show(event_type, 24)}"
        raise CommandError(
            f"{what}; commands: {_KNOWN_COMMANDS}",
            reference_id=reference_id,
            field="event_type",
        )
    try:
        _check_common(obj)
        _CHECKS[event_type](obj)
    except _Invalid as exc:
        raise CommandError(exc.message, reference_id=reference_id, field=exc.field) from None
    for key in _OPTIONAL_KEYS[event_type]:
        if key in obj and obj[key] is None:
            del obj[key]
    if event_type == "display!" and "display_fields" in obj:
        obj["display_fields"] = [
            {k: v for k, v in f.items() if v is not None} for f in obj["display_fields"]
        ]
    try:
        return msgspec.convert(obj, cls)
    except msgspec.ValidationError as exc:  # a rule the checks above do not know
        raise CommandError(str(exc), reference_id=reference_id) from None


# ---------------------------------------------------------------------- event builders

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
    if reference_id is not None and _UUID_RE.fullmatch(reference_id):
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
