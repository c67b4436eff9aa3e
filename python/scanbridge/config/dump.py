"""Dumping: a section as TOML that :func:`~scanbridge.config.load_config`
reads back to an equal config."""

import math
from typing import Any

import msgspec

from .engine import Section, field_types

__all__ = ["dump_toml"]


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return msgspec.json.encode(value).decode().replace("\x7f", "\\u007f")
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Section):
        value = msgspec.to_builtins(value)
    if isinstance(value, dict):
        items = ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items())
        return "{" + items + "}"
    return _toml_value(msgspec.to_builtins(value))


def _toml_key(key: str) -> str:
    if key and all(c.isascii() and (c.isalnum() or c in "-_") for c in key):
        return key
    return _toml_value(key)


def _dump(section: Section, path: list[str], lines: list[str]) -> None:
    tables: list[tuple[str, Section]] = []
    arrays: list[tuple[str, list[Section]]] = []
    for key in field_types(type(section)):
        value = getattr(section, key)
        if value is None:
            lines.append(f"# {key} is not set")
        elif isinstance(value, Section):
            tables.append((key, value))
        elif isinstance(value, list) and value and all(isinstance(v, Section) for v in value):
            arrays.append((key, value))
        else:
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    for key, table in tables:
        lines += ["", "[" + ".".join(_toml_key(k) for k in [*path, key]) + "]"]
        _dump(table, [*path, key], lines)
    for key, items in arrays:
        for item in items:
            lines += ["", "[[" + ".".join(_toml_key(k) for k in [*path, key]) + "]]"]
            _dump(item, [*path, key], lines)


def dump_toml(config: Section) -> str:
    """``config`` as TOML that :func:`load_config` reads back to an equal config."""
    lines: list[str] = []
    _dump(config, [], lines)
    return "\n".join(lines) + "\n"
