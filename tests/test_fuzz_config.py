"""Hypothesis: any configuration text gives a Config or one ConfigError, nothing else.

The inputs a user (or a scanned configuration barcode) controls: a TOML file
(garbage and well-formed TOML with any values for the real keys), the
``SCANBRIDGE_<KEY>`` environment, CLI overrides, ``config-barcode --set`` and
the text of a configuration barcode. An exception of any other type is a bug:
the CLI would print a traceback instead of one line and exit 2.
"""

import base64
import hashlib
import hmac
import json
import math
import tempfile
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from scanbridge.cli import main
from scanbridge.config import (
    CONFIG_ENV,
    AdminConfig,
    Config,
    ConfigError,
    JobsConfig,
    PortConfig,
    ScannerConfig,
    load_config,
)
from scanbridge.config_barcode import PREFIX, parse_config_text, parse_duration

FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

TOP = list(Config.__struct_fields__)
SECTIONS: dict[str, Any] = {"jobs": JobsConfig, "admin": AdminConfig}
TABLE_LISTS: dict[str, Any] = {"ports": PortConfig, "scanners": ScannerConfig}


def check(load: Any) -> Config | None:
    """Run ``load``: a Config, or a ConfigError of one line; anything else fails."""
    try:
        result = load()
    except ConfigError as exc:
        message = str(exc)
        assert message.startswith("config error: "), message
        assert "\n" not in message and "\r" not in message, message
        return None
    assert isinstance(result, Config)
    return result


# ------------------------------------------------------------------ strategies

text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)
key_like = st.one_of(st.sampled_from(TOP), text)
scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.integers(min_value=0, max_value=70000),
    st.floats(),
    text,
    st.sampled_from(["127.0.0.1", "0.0.0.0", "debug", "info", "evdev", "demo", "us", "*", ""]),
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)),
    st.dates(),
    st.times(),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=8,
)


def fields_of(cls: Any) -> st.SearchStrategy[dict[str, Any]]:
    names = st.one_of(st.sampled_from(list(cls.__struct_fields__)), text)
    return st.dictionaries(names, values, max_size=5)


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    """A TOML document: some top-level keys with any value, maybe sections and tables."""
    doc = dict(draw(st.dictionaries(key_like, values, max_size=6)))
    for name, cls in SECTIONS.items():
        if draw(st.booleans()):
            doc[name] = draw(fields_of(cls))
    for name, cls in TABLE_LISTS.items():
        if draw(st.booleans()):
            doc[name] = draw(st.lists(fields_of(cls), max_size=3))
    return doc


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, datetime | date | time):
        return v.isoformat()
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(x)}" for k, x in v.items()) + "}"


def to_toml(doc: dict[str, Any]) -> str:
    return "".join(f"{json.dumps(k)} = {toml_value(v)}\n" for k, v in doc.items())


# Fragments of real config files, for garbage that is almost TOML.
FRAGMENTS = [
    "port = ",
    "host = ",
    "9998",
    '"127.0.0.1"',
    "[jobs]\n",
    "[admin]\n",
    "[[ports]]\n",
    "[[scanners]]\n",
    'source = "demo"\n',
    "alias = ",
    "allowed_origins = [",
    "]",
    "{",
    "}",
    "=",
    ",",
    '"',
    "'''",
    "\n",
    "true",
    "1e400",
    "-0",
    "nan",
    "0x1F",
    "1979-05-27T07:32:00",
    "jobs.enabled = ",
    "#",
    "\\u00e9",
    "é",
]
almost_toml = st.lists(st.sampled_from(FRAGMENTS) | text, max_size=20).map("".join)


@pytest.fixture(scope="module")
def folder():
    with tempfile.TemporaryDirectory() as d:
        yield Path(d)


def load_file(folder: Path, data: bytes) -> Config | None:
    path = folder / "scanbridge.toml"
    path.write_bytes(data)
    return check(lambda: load_config(path, env={}))


# ------------------------------------------------------------------ TOML files


@FUZZ
@given(doc=documents())
@example(doc={"port": 1e400})
@example(doc={"jobs": {"token_max_age": float("nan")}})
@example(doc={"ports": [{"alias": "a", "port": 2**63 - 1}]})
@example(doc={"scanners": [{"source": "evdev", "terminators": [{}]}]})
@example(doc={"allowed_origins": [[]], "host": date(2024, 1, 1)})
def test_any_toml_document_gives_config_or_config_error(folder: Path, doc: dict[str, Any]) -> None:
    load_file(folder, to_toml(doc).encode())


@FUZZ
@given(data=almost_toml)
def test_almost_toml_gives_config_or_config_error(folder: Path, data: str) -> None:
    load_file(folder, data.encode())


@FUZZ
@given(data=st.binary(max_size=200))
@example(data=b"\xff\xfe")
@example(data=b"port = 1\x00")
def test_any_bytes_give_config_or_config_error(folder: Path, data: bytes) -> None:
    load_file(folder, data)


# ------------------------------------------------------------------ environment and flags


@FUZZ
@given(
    env=st.dictionaries(
        st.sampled_from(["SCANBRIDGE_" + k.upper() for k in TOP]),
        st.text(max_size=40) | st.sampled_from(["", " ", "1", "off", "[]", "{}", "null", "nan"]),
        max_size=5,
    )
)
@example(env={"SCANBRIDGE_PORTS": '[{"alias": "a", "port": 1e999}]'})
@example(env={"SCANBRIDGE_JOBS": "[" * 5000})
@example(env={"SCANBRIDGE_PORT": "\ud800"})
def test_any_environment_gives_config_or_config_error(env: dict[str, str]) -> None:
    assert CONFIG_ENV not in env
    check(lambda: load_config(env=env))


@FUZZ
@given(
    overrides=st.dictionaries(
        key_like, st.none() | st.text(max_size=40) | values | st.sampled_from(["", "[]", "{}"])
    )
)
@example(overrides={"scanners": '[{"source": "demo", "interval": "x"}]'})
@example(overrides={"admin": {"port": []}})
def test_any_overrides_give_config_or_config_error(overrides: dict[str, Any]) -> None:
    check(lambda: load_config(env={}, overrides=overrides))


@FUZZ
@given(
    sets=st.lists(
        st.one_of(
            st.tuples(st.sampled_from(["port", "undelivered_ttl", "log_level"]), text),
            st.tuples(key_like, text),
            st.tuples(
                st.sampled_from(["port", "log_level"]),
                values.map(lambda v: json.dumps(v, default=str)),
            ),
        ).map(lambda kv: f"{kv[0]}={kv[1]}")
        | text,
        min_size=1,
        max_size=3,
    ),
    valid_for=st.sampled_from(["24h", "1"]) | text,
)
@example(sets=["port=1e999"], valid_for="24h")
@example(sets=["port=[]"], valid_for="nan")
def test_config_barcode_set_is_one_line_or_success(sets: list[str], valid_for: str) -> None:
    """``scanbridge config-barcode --set K=V``: exit 0, or 2 with one line, never a traceback."""
    args = ["config-barcode", "--key", "k", "--valid-for", valid_for]
    for item in sets:
        args += ["--set", item]
    result = CliRunner().invoke(main, args, env={CONFIG_ENV: ""})
    if result.exit_code == 0:
        assert result.output.startswith(PREFIX)
        return
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), repr(result.exception)


@FUZZ
@given(word=text | st.sampled_from(["1e999", "nan", "-inf", "90m", "7d", "0s", "h", ""]))
def test_any_duration_gives_seconds_or_config_error(word: str) -> None:
    try:
        seconds = parse_duration(word)
    except ConfigError as exc:
        assert "\n" not in str(exc)
        return
    assert 1 <= seconds < math.inf


# ------------------------------------------------------------------ barcode text


def sign(payload: str, key: str) -> str:
    head = PREFIX + payload
    sig = hmac.new(key.encode(), head.encode(), hashlib.sha256).digest()
    return head + "." + base64.urlsafe_b64encode(sig).rstrip(b"=").decode()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def parses_or_value_error(text_: str, key: str) -> None:
    """A scanned barcode: its changes, or ValueError (ConfigError is one), nothing else."""
    try:
        changes = parse_config_text(text_, key)
    except ValueError:
        return
    assert isinstance(changes, dict)


@FUZZ
@given(code=st.text(max_size=80) | st.text(max_size=60).map(lambda t: PREFIX + t))
@example(code=PREFIX + "\ud800.x")
@example(code=PREFIX + "é.é")
def test_any_barcode_text_gives_changes_or_value_error(code: str) -> None:
    parses_or_value_error(code, "k")


@FUZZ
@given(
    doc=st.fixed_dictionaries(
        {},
        optional={
            "v": st.sampled_from([1, 2, "1", None]) | values,
            "set": st.dictionaries(key_like, values, max_size=3) | values,
            "iat": st.integers() | values,
            "exp": st.integers() | values,
        },
    )
    | values,
    raw=st.binary(max_size=40),
)
@example(doc={"v": 1, "set": {}, "iat": 10**400, "exp": 1}, raw=b"")
def test_signed_barcode_with_any_payload_gives_changes_or_value_error(doc: Any, raw: bytes) -> None:
    key = "k"
    try:
        payload = json.dumps(doc, default=str, allow_nan=True)
    except (ValueError, OverflowError):
        payload = "{}"
    parses_or_value_error(sign(b64(payload.encode()), key), key)
    # a signed payload that is not JSON, not UTF-8, or not base64
    parses_or_value_error(sign(b64(raw), key), key)
    parses_or_value_error(sign(raw.decode("latin-1"), key), key)


# ------------------------------------------------------------------ found by the tests above


@pytest.mark.parametrize(
    "toml", ["[[ports]]\n", "[[ports]]\nport = 9000\n", "[[scanners]]\n", "scanners = [{}]\n"]
)
def test_table_without_its_required_key_is_one_config_error(folder: Path, toml: str) -> None:
    """Was: TypeError("Missing required argument 'alias'") and a traceback."""
    path = folder / "required.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError, match=r"^config error: (ports|scanners)\[0\]\.(alias|source)"):
        load_config(path, env={})
    with pytest.raises(ConfigError):
        load_config(env={"SCANBRIDGE_PORTS": '[{"port": 9000}]'})
    with pytest.raises(ConfigError):
        load_config(env={}, overrides={"scanners": "[{}]"})


@pytest.mark.parametrize("key", ["SCANBRIDGE_JOBS", "SCANBRIDGE_PORTS", "SCANBRIDGE_SCANNERS"])
def test_deeply_nested_json_in_the_environment_is_one_config_error(key: str) -> None:
    """Was: RecursionError from the JSON decoder and a traceback."""
    with pytest.raises(ConfigError, match=f"^config error: {key[11:].lower()}="):
        load_config(env={key: "[" * 5000})
    with pytest.raises(ConfigError):
        load_config(env={}, overrides={key[11:].lower(): "{" + '"a":[' * 3000})
