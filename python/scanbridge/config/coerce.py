"""Reading values into sections: environment/flag text parsed by type, TOML
tables coerced where lossless and built into sections, unknown keys reported
with a "did you mean"."""

import types
import typing
from collections.abc import Mapping
from typing import Annotated, Any, Literal, get_args, get_origin

import msgspec

from .engine import (
    Section,
    allowed_text,
    base_type,
    build_section,
    field_types,
    match_literal,
    section_type,
    unknown_key,
)
from .errors import ConfigError

__all__ = [
    "FALSE_WORDS",
    "TRUE_WORDS",
    "coerce_table",
    "coerce_value",
    "parse_bool",
    "parse_text",
    "unknown_key",
]


def _from_text(text: str, tp: Any, key: str, source: str) -> Any:
    """Parse an environment variable or CLI string as ``tp``; ValueError if it is not one."""
    origin = get_origin(tp)
    if origin is Annotated:
        return _from_text(text, get_args(tp)[0], key, source)
    if origin is Literal:
        return match_literal(text, tp)
    if origin in (typing.Union, types.UnionType):
        args = get_args(tp)
        if type(None) in args and text.strip() == "":
            return None
        for option in args:
            if option is type(None):
                continue
            try:
                return _from_text(text, option, key, source)
            except ValueError:
                continue
        raise ValueError(text)
    if origin is list:
        (item_tp,) = get_args(tp)
        items = [item.strip() for item in text.split(",")]
        return [_from_text(item, item_tp, key, source) for item in items if item]
    if tp is bool:
        return parse_bool(text)
    if tp is int:
        return int(text.strip())
    if tp is float:
        return float(text.strip())
    if tp is str:
        return text
    try:  # tables and anything else: JSON
        decoded = msgspec.json.decode(text.encode())
    except (msgspec.DecodeError, RecursionError):  # RecursionError: nested too deeply
        raise ValueError(text) from None
    return coerce_value(decoded, tp, key, source)


TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


def parse_bool(text: str) -> bool:
    """The one reading of a boolean written as text (environment, ``--scanner``,
    ``--set``): 1/true/yes/on or 0/false/no/off, any case; ValueError otherwise."""
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(text)


def parse_text(key: str, text: str, tp: Any, source: str) -> Any:
    """``text`` (an environment variable, a flag) read as a value of type ``tp``
    the way environment variables are; :class:`ConfigError` naming ``key``,
    ``source`` and what is allowed when it is not one."""
    try:
        return _from_text(text, tp, key, source)
    except ConfigError:
        raise
    except ValueError:
        expected = allowed_text(tp)
        if base_type(tp) is bool:
            expected = "a boolean (" + "/".join(TRUE_WORDS) + " or " + "/".join(FALSE_WORDS) + ")"
        raise ConfigError(f"is not {expected}", key=key, value=text, source=source) from None


def coerce_value(value: Any, tp: Any, key: str, source: str) -> Any:
    """A TOML (or Python) value as ``tp`` where that is lossless; as-is otherwise.

    Values that stay as-is are reported by validation, which names the key.
    """
    section = section_type(tp)
    if section is not None and isinstance(value, dict):
        return _build(section, value, source, key + ".")
    base = base_type(tp)
    if get_origin(base) is list and isinstance(value, list):
        item_section = section_type(get_args(base)[0])
        if item_section is not None:
            return [
                _build(item_section, item, source, f"{key}[{i}].")
                if isinstance(item, dict)
                else item
                for i, item in enumerate(value)
            ]
    value = match_literal(value, tp)
    try:
        return msgspec.convert(value, base, strict=True)
    except msgspec.ValidationError:
        return value


def coerce_table(
    cls: type[Section], table: Mapping[str, Any], source: str, prefix: str = ""
) -> dict[str, Any]:
    """The keys of ``table`` coerced by the types of ``cls`` (nested tables built
    as sections); :class:`ConfigError` for a key ``cls`` does not have."""
    fields = field_types(cls)
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in fields:
            raise unknown_key(prefix + key, list(fields), source)
        values[key] = coerce_value(value, fields[key], prefix + key, source)
    return values


def _build(cls: type[Section], table: Mapping[str, Any], source: str, prefix: str) -> Section:
    return build_section(cls, coerce_table(cls, table, source, prefix), prefix, source)
