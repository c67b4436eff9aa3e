"""Bad input, clear answer (issue 12, item 6, Python side): 4xx with a JSON error for
HTTP, exactly one ``errors`` event for a Streams command of any shape.

An App runs in the test's loop on 127.0.0.1; Hypothesis drives parse_command.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import msgspec
import pytest
import websockets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from streams_helpers import AsyncClient, command, http, now_ms

from scanbridge import App, Config
from scanbridge.streams import messages as m

DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.fixture
async def app():
    a = App(Config(port=0, journal=":memory:"))
    await a.start()
    yield a
    await a.stop(timeout=2)


async def post(app: App, path: str, body: bytes) -> tuple[int, Any]:
    url = f"http://127.0.0.1:{app.port}{path}"
    hdrs = {"Content-Type": "application/json"}
    status, headers, out = await asyncio.to_thread(http, "POST", url, body, hdrs)
    assert headers.get("Content-Type") == "application/json", (status, out[:200])
    return status, json.loads(out)


# ----------------------------------------------------------------------- HTTP

BAD_BODIES = [
    (b'{"code": "\\ud800"}', "surrogate"),  # a lone surrogate: not text
    (b'{"code": "A\\udc00B"}', "surrogate"),
    (DEEP, "nested too deeply"),
    (b'{"code": ' + DEEP + b"}", "nested too deeply"),
    (b'{"code": NaN}', "nan is not a json value"),
    (b'{"code": "\xff"}', "utf-8"),
    (b'{"code": "A"', "not valid json"),
]


@pytest.mark.parametrize(("body", "why"), BAD_BODIES)
async def test_bad_json_is_a_400_on_every_json_route(app: App, body: bytes, why: str) -> None:
    for path in ("/api/scans", "/api/rooms/layout/r1", "/bus-message/r1"):
        status, r = await post(app, path, body)
        assert status == 400, (path, status, r)
        assert why in r["error"].lower(), (path, r)


@pytest.mark.parametrize(
    ("field", "value", "status"),
    [
        ("code", "C" * 2000, 201),
        ("code", "C" * 2001, 400),
        ("code", "", 400),
        ("code", 5, 400),
        ("device_serial", "S" * 128, 201),
        ("device_serial", "S" * 129, 400),
        ("device_serial", "S" * 500_000, 400),
        ("device_serial", "", 400),
        ("device_serial", ["S"], 400),
    ],
)
async def test_scan_field_lengths(app: App, field: str, value: Any, status: int) -> None:
    body = {"code": "C", field: value}
    got, r = await post(app, "/api/scans", json.dumps(body).encode())
    assert got == status, r
    if status == 400:
        assert ("1-2000" if field == "code" else "1-128") in r["error"]


async def test_rooms_post_of_deep_but_decodable_json_is_not_a_500(app: App) -> None:
    for depth in (50, 200, 400):
        body = b'{"a": ' + b"[" * depth + b"]" * depth + b"}"
        status, r = await post(app, "/api/rooms/layout/r1", body)
        assert status in (200, 400), (depth, status, r)


# ------------------------------------------------------------ Streams socket

BAD_COMMANDS = [
    "[" * 100_000,
    "[" * 100_000 + "]" * 100_000,
    '{"event_type": "feedback!", "device_serial": ' + "[" * 5000 + "]" * 5000 + "}",
    '{"event_type": "display!", "display_fields": ' + "[" * 900 + "]" * 900 + "}",
    '"\\ud800"',
    '{"event_type": "\\udfff"}',
    "",
    "\x00",
    "null",
    "1e99999",
    '{"event_type": ' + "{" * 3 + "}",
]


async def test_every_bad_command_gets_exactly_one_errors_event(app: App) -> None:
    async with websockets.connect(app.url + "/", open_timeout=5, max_size=None) as ws:
        c = AsyncClient(ws)
        for text in BAD_COMMANDS:
            await ws.send(text)
            # A probe after each: its answer comes after the one errors event.
            eid, probe = command("gateway_state!")
            await ws.send(probe)
            ev = await c.next_of("errors", "gateway_state")
            assert ev["event_type"] == "errors", (text[:40], ev)
            assert ev["error_code"] == "ERROR_INVALID_COMMAND"
            ev = await c.next_of("errors", "gateway_state")
            assert ev["event_type"] == "gateway_state", (text[:40], ev)
            assert ev["event_reference_id"] == eid


# ----------------------------------------------------------------- Hypothesis

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
FIELDS = sorted(
    {f.name for c in m.COMMAND_CLASSES.values() for f in msgspec.structs.fields(c)}
    | {"display_field_id", "display_field_header", "display_field_text"}
)
LEAF = st.none() | st.booleans() | st.integers() | st.text(max_size=5) | st.sampled_from(["all"])
FIELD_VALUE = (
    LEAF
    | st.lists(LEAF, max_size=3)
    | st.lists(st.dictionaries(st.sampled_from(FIELDS), LEAF, max_size=3), max_size=3)
)


def mostly(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``good`` 7 times in 8, else any leaf value."""
    return st.tuples(st.integers(0, 7), good, LEAF).map(lambda t: t[2] if t[0] == 0 else t[1])


HEADER = st.fixed_dictionaries(
    {
        "api_version": mostly(st.just("1.0")),
        "event_id": mostly(st.uuids().map(str)),
        "time_created": mostly(st.builds(now_ms)),
    }
)
# Mostly well-formed headers and real command types, so the field checks run.
COMMAND_LIKE = st.builds(
    lambda header, event_type, fields: {**header, **fields, "event_type": event_type},
    HEADER,
    mostly(st.sampled_from(m.COMMAND_TYPES)),
    st.dictionaries(st.sampled_from(FIELDS), FIELD_VALUE, max_size=8),
)


def _parse_only_command_errors(data: str | bytes) -> None:
    try:
        m.parse_command(data)
    except m.CommandError as e:
        assert e.event()["event_type"] == "errors"


@settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(st.text() | st.binary())
def test_parse_command_any_text(data: str | bytes) -> None:
    _parse_only_command_errors(data)


@settings(max_examples=300, deadline=None, database=None)
@given(JSON)
def test_parse_command_any_json_value(value: Any) -> None:
    _parse_only_command_errors(json.dumps(value))


@settings(max_examples=500, deadline=None, database=None)
@given(COMMAND_LIKE)
def test_parse_command_command_shaped_objects(obj: dict[str, Any]) -> None:
    _parse_only_command_errors(json.dumps(obj))


@settings(max_examples=100, deadline=None, database=None)
@given(st.integers(1, 20_000), st.sampled_from(["[", '{"a":', '{"event_type":']))
def test_parse_command_any_nesting(depth: int, opener: str) -> None:
    closer = {"[": "]", '{"a":': "}", '{"event_type":': "}"}[opener]
    _parse_only_command_errors(opener * depth + "1" + closer * depth)
    _parse_only_command_errors(opener * depth)
