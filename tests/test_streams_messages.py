"""Streams API message models: event builders and command validation."""

from __future__ import annotations

import base64
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import msgspec
import pytest

from scanbridge.streams import messages as m
from scanbridge.streams.messages import CommandError, parse_command

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
EVENT_ID = "02114da8-feae-46e3-8b00-a3f7ea8672df"
NOW = 1_700_000_000_000

HEADER_KEYS = ["api_version", "event_type", "event_id", "time_created"]


def command(event_type: str, **fields: Any) -> dict[str, Any]:
    return {
        "api_version": "1.0",
        "event_type": event_type,
        "event_id": EVENT_ID,
        "time_created": NOW,
        **fields,
    }


VALID: dict[str, dict[str, Any]] = {
    "feedback!": command(
        "feedback!", device_serial="M2MR111100928", feedback_action_id="FEEDBACK_POSITIVE"
    ),
    "display!": command(
        "display!",
        device_serial="MDMR000006406",
        display_template_id="PG3",
        display_refresh_type="FULL_REFRESH",
        time_validity_duration=1000,
        display_fields=[
            {
                "display_field_id": 1,
                "display_field_header": "Storage Unit",
                "display_field_text": "R15",
            },
            {
                "display_field_id": 2,
                "display_field_header": "Item",
                "display_field_text": "Engine 12",
            },
        ],
    ),
    "trigger_block!": command(
        "trigger_block!",
        device_serial="M2MR111100928",
        trigger_block_state=True,
        trigger_block_gesture_list=["TRIGGER_SINGLE_CLICK"],
        trigger_unblock_gesture_list=["TRIGGER_DOUBLE_CLICK", "TRIGGER_TRIPLE_CLICK"],
        time_validity_duration=5000,
    ),
    "gateway_state!": command("gateway_state!"),
    "scanner_connectivity!": command(
        "scanner_connectivity!", connect=True, disconnect=["MDMR100000001", "MDMR10000002"]
    ),
}


def parse(obj: dict[str, Any]) -> m.Command:
    return parse_command(msgspec.json.encode(obj))


def invalid(obj: dict[str, Any] | str | bytes) -> CommandError:
    data = obj if isinstance(obj, str | bytes) else msgspec.json.encode(obj)
    with pytest.raises(CommandError) as info:
        parse_command(data)
    err = info.value
    assert err.error_code == "ERROR_INVALID_COMMAND"
    assert isinstance(err, ValueError)
    return err


# ------------------------------------------------------------------------ valid commands


def test_feedback_command() -> None:
    cmd = parse(VALID["feedback!"])
    assert isinstance(cmd, m.FeedbackCommand)
    assert cmd.device_serial == "M2MR111100928"
    assert cmd.feedback_action_id == "FEEDBACK_POSITIVE"
    assert cmd.event_id == EVENT_ID
    assert cmd.time_created == NOW
    assert cmd.api_version == "1.0"
    assert cmd.event_time_to_live_duration == 0


@pytest.mark.parametrize("action", m.FEEDBACK_ACTIONS)
def test_every_feedback_action(action: str) -> None:
    cmd = parse({**VALID["feedback!"], "feedback_action_id": action})
    assert isinstance(cmd, m.FeedbackCommand)
    assert cmd.feedback_action_id == action


def test_display_command() -> None:
    cmd = parse(VALID["display!"])
    assert isinstance(cmd, m.DisplayCommand)
    assert cmd.display_template_id == "PG3"
    assert cmd.display_refresh_type == "FULL_REFRESH"
    assert cmd.time_validity_duration == 1000
    assert cmd.display_fields == [
        m.DisplayField(
            display_field_id=1, display_field_header="Storage Unit", display_field_text="R15"
        ),
        m.DisplayField(
            display_field_id=2, display_field_header="Item", display_field_text="Engine 12"
        ),
    ]


def test_display_command_defaults_and_limits() -> None:
    obj = command(
        "display!",
        device_serial="S" * 128,
        display_template_id="T" * 15,
        display_fields=[
            {
                "display_field_id": i + 1,
                "display_field_header": "h" * 40,
                "display_field_text": "t" * 80,
            }
            for i in range(12)
        ],
    )
    cmd = parse(obj)
    assert isinstance(cmd, m.DisplayCommand)
    assert cmd.display_refresh_type == "DEFAULT"
    assert cmd.time_validity_duration == 0
    assert len(cmd.display_fields) == 12
    minimal = parse(command("display!", device_serial="S", display_template_id="PG1"))
    assert isinstance(minimal, m.DisplayCommand)
    assert minimal.display_fields == []
    only_id = parse(
        command(
            "display!",
            device_serial="S",
            display_template_id="PG1",
            display_fields=[{"display_field_id": 3}],
        )
    )
    assert isinstance(only_id, m.DisplayCommand)
    assert only_id.display_fields[0].display_field_text == ""


@pytest.mark.parametrize("refresh", m.DISPLAY_REFRESH_TYPES)
def test_display_refresh_types(refresh: str) -> None:
    cmd = parse({**VALID["display!"], "display_refresh_type": refresh})
    assert isinstance(cmd, m.DisplayCommand)
    assert cmd.display_refresh_type == refresh


def test_trigger_block_command() -> None:
    cmd = parse(VALID["trigger_block!"])
    assert isinstance(cmd, m.TriggerBlockCommand)
    assert cmd.trigger_block_state is True
    assert cmd.trigger_block_gesture_list == ["TRIGGER_SINGLE_CLICK"]
    assert cmd.trigger_unblock_gesture_list == ["TRIGGER_DOUBLE_CLICK", "TRIGGER_TRIPLE_CLICK"]
    assert cmd.time_validity_duration == 5000
    unblock = parse(command("trigger_block!", device_serial="S", trigger_block_state=False))
    assert isinstance(unblock, m.TriggerBlockCommand)
    assert unblock.trigger_block_state is False
    assert unblock.trigger_block_gesture_list == []
    assert unblock.time_validity_duration == 0


def test_gateway_state_command() -> None:
    cmd = parse(VALID["gateway_state!"])
    assert isinstance(cmd, m.GatewayStateCommand)
    assert cmd.event_id == EVENT_ID


@pytest.mark.parametrize(
    ("fields", "connect", "disconnect"),
    [
        ({"connect": True}, True, None),
        ({"connect": "all"}, "all", None),
        ({"connect": ["A", "B"]}, ["A", "B"], None),
        ({"disconnect": "all"}, None, "all"),
        ({"disconnect": ["A"]}, None, ["A"]),
        ({"connect": False, "disconnect": ["A"]}, None, ["A"]),
        ({"connect": ["A"], "disconnect": "all"}, ["A"], "all"),
        ({"connect": None, "disconnect": ["S" * 128] * 50}, None, ["S" * 128] * 50),
    ],
)
def test_scanner_connectivity_command(
    fields: dict[str, Any], connect: Any, disconnect: Any
) -> None:
    cmd = parse(command("scanner_connectivity!", **fields))
    assert isinstance(cmd, m.ScannerConnectivityCommand)
    assert cmd.connect == connect
    assert cmd.disconnect == disconnect


def test_api_version_1_1_accepted() -> None:
    cmd = parse({**VALID["feedback!"], "api_version": "1.1", "event_time_to_live_duration": 500})
    assert isinstance(cmd, m.FeedbackCommand)
    assert cmd.api_version == "1.1"
    assert cmd.event_time_to_live_duration == 500


def test_unknown_fields_are_ignored() -> None:
    obj = {**VALID["display!"], "future_field": {"x": [1, 2]}, "another": None}
    obj["display_fields"] = [{**obj["display_fields"][0], "display_field_color": "red"}]
    cmd = parse(obj)
    assert isinstance(cmd, m.DisplayCommand)
    assert not hasattr(cmd, "future_field")
    assert cmd.display_fields[0].display_field_text == "R15"


def test_null_optional_fields_count_as_absent() -> None:
    obj = {
        **VALID["display!"],
        "display_refresh_type": None,
        "time_validity_duration": None,
        "display_fields": [{"display_field_id": 1, "display_field_header": None}],
    }
    cmd = parse(obj)
    assert isinstance(cmd, m.DisplayCommand)
    assert cmd.display_refresh_type == "DEFAULT"
    assert cmd.time_validity_duration == 0
    assert cmd.display_fields[0].display_field_header == ""


def test_parse_accepts_str_and_bytes() -> None:
    text = msgspec.json.encode(VALID["gateway_state!"]).decode()
    assert isinstance(parse_command(text), m.GatewayStateCommand)
    assert isinstance(parse_command(text.encode()), m.GatewayStateCommand)
    assert isinstance(parse_command(bytearray(text.encode())), m.GatewayStateCommand)


def test_parsed_command_encodes_back_to_the_wire_format() -> None:
    cmd = parse(VALID["feedback!"])
    again = msgspec.json.decode(msgspec.json.encode(cmd))
    assert again["event_type"] == "feedback!"
    assert again["feedback_action_id"] == "FEEDBACK_POSITIVE"


# ---------------------------------------------------------------------- invalid commands


def test_invalid_json() -> None:
    err = invalid('{"api_version": "1.0", ')
    assert str(err).startswith("invalid JSON")
    assert err.reference_id is None
    err = invalid(b"\xff\xfe")
    assert str(err).startswith("invalid JSON")


@pytest.mark.parametrize(
    ("data", "what"), [("[1, 2]", "an array"), ('"feedback!"', "a string"), ("3", "an integer")]
)
def test_not_an_object(data: str, what: str) -> None:
    err = invalid(data)
    assert str(err) == f"a command must be a JSON object, got {what}"
    assert err.reference_id is None


def test_unknown_event_type_names_it_and_the_known_commands() -> None:
    err = invalid(command("self_destruct!"))
    assert "self_destruct!" in str(err)
    for known in m.COMMAND_TYPES:
        assert known in str(err)
    assert err.reference_id == EVENT_ID
    assert err.field == "event_type"
    assert len(str(err)) <= m.ERROR_MESSAGE_MAX


@pytest.mark.parametrize("event_type", ["scan", "feedback", "errors"])
def test_event_type_without_bang_is_not_a_command(event_type: str) -> None:
    err = invalid(command(event_type))
    assert f"event_type '{event_type}' is not a command" in str(err)
    assert "feedback!" in str(err)


def test_missing_or_non_string_event_type() -> None:
    obj = command("x")
    del obj["event_type"]
    err = invalid(obj)
    assert str(err).startswith("event_type is missing")
    assert err.reference_id == EVENT_ID
    err = invalid(command("x") | {"event_type": 7})
    assert str(err) == "event_type must be a string, got an integer"


def test_reference_id_is_the_event_id_even_when_it_is_malformed() -> None:
    err = invalid({**VALID["feedback!"], "event_id": "NOT-A-UUID"})
    assert err.reference_id == "NOT-A-UUID"
    assert err.field == "event_id"
    err = invalid({**VALID["feedback!"], "event_id": 12})
    assert err.reference_id is None
    assert str(err) == "event_id must be a string, got an integer"


Mutation = Callable[[dict[str, Any]], None]


def _set(key: str, value: Any) -> Mutation:
    def apply(obj: dict[str, Any]) -> None:
        obj[key] = value

    return apply


def _drop(key: str) -> Mutation:
    def apply(obj: dict[str, Any]) -> None:
        del obj[key]

    return apply


def _field(index: int, key: str, value: Any) -> Mutation:
    def apply(obj: dict[str, Any]) -> None:
        while len(obj["display_fields"]) <= index:
            obj["display_fields"].append({"display_field_id": len(obj["display_fields"]) + 1})
        obj["display_fields"][index][key] = value

    return apply


INVALID: list[tuple[str, Mutation, str, str | None]] = [
    # common fields, on every command
    (
        "feedback!",
        _set("api_version", "2.0"),
        "api_version is '2.0'; allowed: 1.0, 1.1",
        "api_version",
    ),
    (
        "gateway_state!",
        _set("api_version", 1.0),
        "api_version must be a string, got a number",
        "api_version",
    ),
    ("display!", _drop("api_version"), "api_version is missing", "api_version"),
    ("gateway_state!", _drop("event_id"), "event_id is missing", "event_id"),
    (
        "feedback!",
        _set("event_id", EVENT_ID.upper()),
        f"event_id '{EVENT_ID.upper()}' is not a lowercase UUID",
        "event_id",
    ),
    ("trigger_block!", _set("event_id", ""), "is not a lowercase UUID", "event_id"),
    ("gateway_state!", _drop("time_created"), "time_created is missing", "time_created"),
    (
        "feedback!",
        _set("time_created", 1_700_000_000),
        "time_created is 1700000000, it must be Unix time in milliseconds",
        "time_created",
    ),
    ("feedback!", _set("time_created", 1.7e12), "time_created must be an integer", "time_created"),
    (
        "feedback!",
        _set("time_created", "1700000000000"),
        "time_created must be an integer",
        "time_created",
    ),
    ("feedback!", _set("time_created", True), "time_created must be an integer", "time_created"),
    (
        "feedback!",
        _set("time_created", 10**14),
        "between 1546300800000 and 99999999999999",
        "time_created",
    ),
    # device_serial
    ("feedback!", _drop("device_serial"), "device_serial is missing", "device_serial"),
    (
        "display!",
        _set("device_serial", ""),
        "device_serial is empty, at least 1 character is required",
        "device_serial",
    ),
    (
        "trigger_block!",
        _set("device_serial", "S" * 129),
        "device_serial is 129 characters, at most 128 are allowed",
        "device_serial",
    ),
    (
        "feedback!",
        _set("device_serial", None),
        "device_serial must be a string, got null",
        "device_serial",
    ),
    (
        "feedback!",
        _set("device_serial", 42),
        "device_serial must be a string, got an integer",
        "device_serial",
    ),
    # feedback!
    (
        "feedback!",
        _drop("feedback_action_id"),
        "feedback_action_id is missing",
        "feedback_action_id",
    ),
    (
        "feedback!",
        _set("feedback_action_id", "FEEDBACK_LOUD"),
        "feedback_action_id is 'FEEDBACK_LOUD'; allowed: FEEDBACK_POSITIVE, FEEDBACK_NEGATIVE, "
        "FEEDBACK_SPECIAL_YELLOW, FEEDBACK_SPECIAL_PURPLE, FEEDBACK_SPECIAL_CYAN",
        "feedback_action_id",
    ),
    (
        "feedback!",
        _set("event_time_to_live_duration", -1),
        "event_time_to_live_duration is -1, it must be >= 0",
        "event_time_to_live_duration",
    ),
    # display!
    (
        "display!",
        _drop("display_template_id"),
        "display_template_id is missing",
        "display_template_id",
    ),
    (
        "display!",
        _set("display_template_id", ""),
        "display_template_id is empty",
        "display_template_id",
    ),
    (
        "display!",
        _set("display_template_id", "T" * 16),
        "display_template_id is 16 characters, at most 15 are allowed",
        "display_template_id",
    ),
    (
        "display!",
        _set("display_refresh_type", "FAST"),
        "display_refresh_type is 'FAST'; allowed: DEFAULT, FULL_REFRESH, PARTIAL_REFRESH",
        "display_refresh_type",
    ),
    (
        "display!",
        _set("time_validity_duration", -5),
        "time_validity_duration is -5, it must be >= 0",
        "time_validity_duration",
    ),
    (
        "display!",
        _set("time_validity_duration", 1.5),
        "time_validity_duration must be an integer, got a number",
        "time_validity_duration",
    ),
    (
        "display!",
        _set("display_fields", {"display_field_id": 1}),
        "display_fields must be an array, got an object",
        "display_fields",
    ),
    (
        "display!",
        _set("display_fields", [{"display_field_id": i + 1} for i in range(13)]),
        "display_fields has 13 entries, at most 12 are allowed",
        "display_fields",
    ),
    (
        "display!",
        _set("display_fields", ["text"]),
        "display_fields[0] must be an object, got a string",
        "display_fields[0]",
    ),
    (
        "display!",
        _field(3, "display_field_text", "x" * 95),
        "display_fields[3].display_field_text is 95 characters, at most 80 are allowed",
        "display_fields[3].display_field_text",
    ),
    (
        "display!",
        _field(1, "display_field_header", "h" * 41),
        "display_fields[1].display_field_header is 41 characters, at most 40 are allowed",
        "display_fields[1].display_field_header",
    ),
    (
        "display!",
        _field(0, "display_field_id", 0),
        "display_fields[0].display_field_id is 0, it must be >= 1",
        "display_fields[0].display_field_id",
    ),
    (
        "display!",
        _field(0, "display_field_id", "1"),
        "display_fields[0].display_field_id must be an integer, got a string",
        "display_fields[0].display_field_id",
    ),
    (
        "display!",
        _set("display_fields", [{"display_field_text": "x"}]),
        "display_fields[0].display_field_id is missing",
        "display_fields[0].display_field_id",
    ),
    (
        "display!",
        _field(0, "display_field_text", 15),
        "display_fields[0].display_field_text must be a string, got an integer",
        "display_fields[0].display_field_text",
    ),
    # trigger_block!
    (
        "trigger_block!",
        _drop("trigger_block_state"),
        "trigger_block_state is missing",
        "trigger_block_state",
    ),
    (
        "trigger_block!",
        _set("trigger_block_state", "true"),
        "trigger_block_state must be true or false, got a string",
        "trigger_block_state",
    ),
    (
        "trigger_block!",
        _set("trigger_block_state", 1),
        "trigger_block_state must be true or false, got an integer",
        "trigger_block_state",
    ),
    (
        "trigger_block!",
        _set("trigger_block_gesture_list", ["TRIGGER_SINGLE_CLICK", "TRIGGER_LONG_PRESS"]),
        "trigger_block_gesture_list[1] is 'TRIGGER_LONG_PRESS'; allowed: TRIGGER_SINGLE_CLICK, "
        "TRIGGER_DOUBLE_CLICK, TRIGGER_TRIPLE_CLICK",
        "trigger_block_gesture_list[1]",
    ),
    (
        "trigger_block!",
        _set("trigger_unblock_gesture_list", ["TRIGGER_DOUBLE_CLICK"] * 16),
        "trigger_unblock_gesture_list has 16 entries, at most 15 are allowed",
        "trigger_unblock_gesture_list",
    ),
    (
        "trigger_block!",
        _set("trigger_unblock_gesture_list", "TRIGGER_DOUBLE_CLICK"),
        "trigger_unblock_gesture_list must be an array, got a string",
        "trigger_unblock_gesture_list",
    ),
    (
        "trigger_block!",
        _set("time_validity_duration", -1),
        "time_validity_duration is -1, it must be >= 0",
        "time_validity_duration",
    ),
]

CONNECTIVITY_INVALID: list[tuple[dict[str, Any], str, str | None]] = [
    ({}, "scanner_connectivity! needs connect", None),
    ({"connect": False}, "scanner_connectivity! needs connect", None),
    ({"connect": None, "disconnect": None}, "scanner_connectivity! needs connect", None),
    ({"disconnect": True}, 'disconnect must be "all" or a list of serials, got True', "disconnect"),
    ({"disconnect": "ALL"}, 'disconnect must be "all" or a list of serials', "disconnect"),
    ({"connect": "some"}, 'connect must be true, "all" or a list of serials', "connect"),
    ({"connect": 1}, 'connect must be true, "all" or a list of serials', "connect"),
    ({"disconnect": []}, "disconnect is empty, at least 1 entry is required", "disconnect"),
    ({"disconnect": ["S"] * 51}, "disconnect has 51 entries, at most 50 are allowed", "disconnect"),
    ({"connect": ["A", ""]}, "connect[1] is empty", "connect[1]"),
    (
        {"disconnect": ["S" * 129]},
        "disconnect[0] is 129 characters, at most 128 are allowed",
        "disconnect[0]",
    ),
    ({"disconnect": [7]}, "disconnect[0] must be a string, got an integer", "disconnect[0]"),
]


@pytest.mark.parametrize(
    ("event_type", "mutate", "message", "field"),
    INVALID,
    ids=[f"{t}-{msg[:40]}" for t, _, msg, _ in INVALID],
)
def test_invalid_command_fields(
    event_type: str, mutate: Mutation, message: str, field: str | None
) -> None:
    obj = msgspec.json.decode(msgspec.json.encode(VALID[event_type]))  # deep copy
    mutate(obj)
    err = invalid(obj)
    assert message in str(err)
    assert err.field == field
    if field != "event_id":
        assert err.reference_id == EVENT_ID


@pytest.mark.parametrize(
    ("fields", "message", "field"),
    CONNECTIVITY_INVALID,
    ids=[msg[:40] for _, msg, _ in CONNECTIVITY_INVALID],
)
def test_invalid_scanner_connectivity(
    fields: dict[str, Any], message: str, field: str | None
) -> None:
    err = invalid(command("scanner_connectivity!", **fields))
    assert message in str(err)
    assert err.field == field
    assert err.reference_id == EVENT_ID


def test_command_error_answers_with_an_errors_event() -> None:
    err = invalid({**VALID["display!"], "display_template_id": "T" * 16})
    event = err.event(gateway_serial="GW1")
    assert event["event_type"] == "errors"
    assert event["event_reference_id"] == EVENT_ID
    assert event["error_code"] == "ERROR_INVALID_COMMAND"
    assert event["error_severity"] == "ERROR"
    assert event["error_message"] == "display_template_id is 16 characters, at most 15 are allowed"
    assert "gateway_serial" not in event  # not a field of ProGlove's errors event
    no_ref = invalid("{").event()
    assert "event_reference_id" not in no_ref


# ------------------------------------------------------------------------------ events


def check_header(event: dict[str, Any], event_type: str, before: int, after: int) -> None:
    assert list(event)[:4] == HEADER_KEYS
    assert event["api_version"] == "1.0"
    assert event["event_type"] == event_type
    assert isinstance(event["event_id"], str)
    assert UUID_RE.match(event["event_id"]), event["event_id"]
    assert type(event["time_created"]) is int
    assert before <= event["time_created"] <= after


def window() -> int:
    return time.time_ns() // 1_000_000


def test_scan_event_text() -> None:
    before = window()
    event = m.scan_event(
        "4006381333931", None, "MDMR000000064", "PGGW000000058", "MARK 2", "EAN-13", None
    )
    check_header(event, "scan", before, window())
    assert list(event) == [
        *HEADER_KEYS,
        "scan_code",
        "device_serial",
        "device_model",
        "gateway_serial",
        "scan_decode_symbology",
    ]
    assert event["scan_code"] == "4006381333931"
    assert event["device_serial"] == "MDMR000000064"
    assert event["device_model"] == "MARK 2"
    assert event["gateway_serial"] == "PGGW000000058"
    assert event["scan_decode_symbology"] == "EAN-13"
    decoded = m.decode_event(m.encode(event))
    assert isinstance(decoded, m.ScanEvent)
    assert decoded.scan_code == "4006381333931"


def test_scan_event_minimal_fields() -> None:
    event = m.scan_event("abc", None, "S1", "GW1", None, None, None)
    assert set(event) == {*HEADER_KEYS, "scan_code", "device_serial", "gateway_serial"}


def test_scan_bytes_base64url_for_invalid_utf8() -> None:
    raw = b"\xfb\xffAB\xc3"  # not UTF-8; base64 of it needs the URL-safe alphabet
    event = m.scan_event(None, raw, "S1", "GW1", None, None, None)
    assert event["scan_code"] == "AB"  # invalid bytes dropped
    assert event["scan_bytes"] == "-_9BQsM="
    assert "+" not in event["scan_bytes"] and "/" not in event["scan_bytes"]
    assert base64.urlsafe_b64decode(event["scan_bytes"]) == raw
    assert list(event).index("scan_bytes") == list(event).index("scan_code") + 1
    decoded = m.decode_event(m.encode(event))
    assert isinstance(decoded, m.ScanEvent)
    assert decoded.scan_bytes == "-_9BQsM="


def test_scan_bytes_when_the_source_gives_raw_bytes() -> None:
    event = m.scan_event(None, "Grüße".encode(), "S1", "GW1", None, None, None)
    assert event["scan_code"] == "Grüße"
    assert base64.urlsafe_b64decode(event["scan_bytes"]).decode() == "Grüße"
    both = m.scan_event("text from the source", b"\x01\x02", "S1", "GW1", None, None, None)
    assert both["scan_code"] == "text from the source"
    assert both["scan_bytes"] == "AQI="


def test_scan_code_with_surrogate_escapes_gets_scan_bytes() -> None:
    raw = b"AB\xff\xfeC"
    code = raw.decode("utf-8", "surrogateescape")
    event = m.scan_event(code, None, "S1", "GW1", None, None, None)
    assert event["scan_code"] == "ABC"
    assert base64.urlsafe_b64decode(event["scan_bytes"]) == raw
    assert m.encode(event)  # encodable: no lone surrogates left


def test_scan_event_needs_code_or_raw() -> None:
    with pytest.raises(ValueError, match="code or raw"):
        m.scan_event(None, None, "S1", "GW1", None, None, None)


def test_scan_event_aim_id() -> None:
    event = m.scan_event("4006381333931", None, "S1", "GW1", None, None, "]E0")
    assert event["scan_aim_id"] == "]E0"
    assert event["scan_decode_symbology"] == "EAN-13"
    given = m.scan_event("x", None, "S1", "GW1", None, "CODE 128", "]C0")
    assert given["scan_decode_symbology"] == "CODE 128"
    unknown = m.scan_event("x", None, "S1", "GW1", None, None, "]X0")
    assert "scan_decode_symbology" not in unknown
    assert unknown["scan_aim_id"] == "]X0"


@pytest.mark.parametrize(
    ("aim", "name"),
    [
        ("]E0", "EAN-13"),
        ("]E4", "EAN-8"),
        ("]C0", "CODE 128"),
        # One table, in Rust: GS1 variants are named after their symbology (the AIM
        # id tells them apart), an add-on alone (]E1) is not an EAN-13.
        ("]C1", "CODE 128"),
        ("]E1", None),
        ("]E3", "EAN-13"),
        ("]Q1", "QR CODE"),
        ("]d2", "DATA MATRIX"),
        ("]A0", "CODE 39"),
        ("]X0", None),
        ("E0", None),
        ("", None),
        (None, None),
    ],
)
def test_symbology_from_aim(aim: str | None, name: str | None) -> None:
    assert m.symbology_from_aim(aim) == name


def test_event_ids_are_unique_lowercase_uuid4() -> None:
    ids = {m.button_pressed_event("S", "GW")["event_id"] for _ in range(200)}
    assert len(ids) == 200
    for event_id in ids:
        assert UUID_RE.match(event_id)
        assert uuid.UUID(event_id).version == 4


def test_scanner_state_events() -> None:
    before = window()
    on = m.scanner_state_event("MDMR000000064", "PGGW000000058", True)
    check_header(on, "scanner_state", before, window())
    assert on["device_connected_state"] == "STATE_CONNECTED"
    assert "device_disconnect_reason" not in on
    assert set(on) == {*HEADER_KEYS, "device_serial", "gateway_serial", "device_connected_state"}
    off = m.scanner_state_event("MDMR000000064", "PGGW000000058", False, device_model="MARK 3")
    assert off["device_connected_state"] == "STATE_DISCONNECTED"
    assert off["device_disconnect_reason"] == "UNKNOWN"
    assert off["device_model"] == "MARK 3"
    assert m.scanner_state_event("S", "G", "STATE_DISCONNECTED")["device_connected_state"] == (
        "STATE_DISCONNECTED"
    )
    with pytest.raises(ValueError):
        m.scanner_state_event("S", "G", "ONLINE")  # type: ignore[arg-type]
    decoded = m.decode_event(m.encode(off))
    assert isinstance(decoded, m.ScannerStateEvent)
    assert decoded.device_disconnect_reason == "UNKNOWN"


def test_button_pressed_event() -> None:
    before = window()
    event = m.button_pressed_event("M2MR111100928", "PGGW000000058")
    check_header(event, "button_pressed", before, window())
    assert list(event) == [*HEADER_KEYS, "device_serial", "gateway_serial", "trigger_gesture"]
    assert event["trigger_gesture"] == "TRIGGER_DOUBLE_CLICK"
    assert isinstance(m.decode_event(m.encode(event)), m.ButtonPressedEvent)


def test_error_event() -> None:
    before = window()
    ref = str(uuid.uuid4())
    event = m.error_event(ref, "ERROR_DEVICE_NOT_FOUND", "no device MDMR1")
    check_header(event, "errors", before, window())
    assert list(event) == [
        *HEADER_KEYS,
        "event_reference_id",
        "error_severity",
        "error_code",
        "error_message",
    ]
    assert event["event_reference_id"] == ref
    assert event["error_severity"] == "ERROR"
    assert event["error_code"] == "ERROR_DEVICE_NOT_FOUND"
    assert event["error_message"] == "no device MDMR1"
    decoded = m.decode_event(m.encode(event))
    assert isinstance(decoded, m.ErrorEvent)
    assert decoded.error_code == "ERROR_DEVICE_NOT_FOUND"


def test_error_event_options_and_limits() -> None:
    gap = m.error_event(None, "ERROR_REPLAY_GAP", "events 1-9 were pruned", "WARNING")
    assert "event_reference_id" not in gap
    assert gap["error_severity"] == "WARNING"
    long = m.error_event(
        "r", "ERROR_UNKNOWN", "x" * 500, "CRITICAL", device_serial="S", gateway_serial="G"
    )
    assert len(long["error_message"]) == 128
    assert long["error_message"].endswith("…")
    assert long["device_serial"] == "S"
    assert "gateway_serial" not in long
    assert "event_reference_id" not in long  # "r" is not a UUID: never echoed
    assert m.error_event(EVENT_ID, "ERROR_OK", "x")["event_reference_id"] == EVENT_ID
    assert m.error_event("r", "ERROR_TIMEOUT", "")["error_message"] == "ERROR_TIMEOUT"
    with pytest.raises(ValueError, match="ERROR_NOPE"):
        m.error_event("r", "ERROR_NOPE", "x")
    with pytest.raises(ValueError, match="FATAL"):
        m.error_event("r", "ERROR_UNKNOWN", "x", "FATAL")


def test_gateway_state_event() -> None:
    before = window()
    devices = [
        {
            "device_serial": "M2MR111100928",
            "device_firmware_version": "v1.2.3",
            "device_model": "MARK 2",
            "device_manufacturer": "ProGlove",
            "internal_handle": object(),
        },
        {"device_serial": "HID-0c2e-0b61", "device_model": None},
    ]
    event = m.gateway_state_event(EVENT_ID, "PGGW000000058", "0.1.0", devices)
    check_header(event, "gateway_state", before, window())
    assert list(event) == [
        *HEADER_KEYS,
        "event_reference_id",
        "gateway_serial",
        "gateway_app_version",
        "device_connected_list",
    ]
    assert event["event_reference_id"] == EVENT_ID
    assert event["gateway_app_version"] == "0.1.0"
    assert event["device_connected_list"] == [
        {
            "device_serial": "M2MR111100928",
            "device_firmware_version": "v1.2.3",
            "device_model": "MARK 2",
            "device_manufacturer": "ProGlove",
        },
        # Every entry has all four fields, 1-128 characters (strict clients need them).
        {
            "device_serial": "HID-0c2e-0b61",
            "device_firmware_version": "unknown",
            "device_model": "unknown",
            "device_manufacturer": "unknown",
        },
    ]
    many = [{"device_serial": f"S{i}"} for i in range(60)]
    assert len(m.gateway_state_event(None, "GW", "1", many)["device_connected_list"]) == 50
    decoded = m.decode_event(m.encode(event))
    assert isinstance(decoded, m.GatewayStateEvent)
    assert decoded.device_connected_list[0].device_firmware_version == "v1.2.3"
    unsolicited = m.gateway_state_event(None, "GW", "1", [])
    assert "event_reference_id" not in unsolicited
    assert unsolicited["device_connected_list"] == []
    with pytest.raises(ValueError, match=r"devices\[0\]"):
        m.gateway_state_event(None, "GW", "1", [{"device_model": "x"}])


def test_command_ack_event() -> None:
    before = window()
    event = m.command_ack_event(EVENT_ID)
    check_header(event, "command_ack", before, window())
    assert list(event) == [*HEADER_KEYS, "event_reference_id"]
    assert event["event_reference_id"] == EVENT_ID
    assert m.command_ack_event(EVENT_ID, gateway_serial="GW")["gateway_serial"] == "GW"
    assert isinstance(m.decode_event(m.encode(event)), m.CommandAckEvent)


def test_encode_is_msgspec_json() -> None:
    event = m.scan_event("ü\x1d", None, "S", "G", None, None, None)
    data = m.encode(event)
    assert isinstance(data, bytes)
    assert data == msgspec.json.encode(event)
    assert msgspec.json.decode(data) == event


def test_event_with_seq_decodes() -> None:
    event = m.button_pressed_event("S", "G")
    event["seq"] = 17
    decoded = m.decode_event(m.encode(event))
    assert decoded.seq == 17
    with pytest.raises(msgspec.ValidationError):
        m.decode_event(b'{"event_type": "scan", "api_version": "1.0"}')
