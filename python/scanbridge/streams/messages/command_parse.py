"""Parsing and checking one command, with an error naming the field and the
rule (the rules are in the package doc)."""

from __future__ import annotations

from typing import Any, Final

import msgspec

from .command_models import COMMAND_CLASSES, COMMAND_TYPES, Command, CommandError
from .event_models import EVENT_TYPES
from .vocabulary import (
    COMMAND_API_VERSIONS,
    CONNECTIVITY_SERIALS_MAX,
    DISPLAY_FIELDS_MAX,
    DISPLAY_HEADER_MAX,
    DISPLAY_REFRESH_TYPES,
    DISPLAY_TEMPLATE_ID_MAX,
    DISPLAY_TEXT_MAX,
    FEEDBACK_ACTIONS,
    GESTURE_LIST_MAX,
    SERIAL_MAX,
    TIME_CREATED_MAX,
    TIME_CREATED_MIN,
    TRIGGER_GESTURES,
    UUID_RE,
)


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
    if not UUID_RE.fullmatch(event_id):
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

#: The optional fields of each command, from its Struct (null there counts as absent).
_OPTIONAL_KEYS: Final[dict[str, tuple[str, ...]]] = {
    tag: tuple(f.name for f in msgspec.structs.fields(cls) if not f.required)
    for tag, cls in COMMAND_CLASSES.items()
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
    cls = COMMAND_CLASSES.get(event_type)
    if cls is None:
        # Kept short: error_message has at most 128 characters.
        if event_type in EVENT_TYPES or f"{event_type}!" in COMMAND_CLASSES:
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
