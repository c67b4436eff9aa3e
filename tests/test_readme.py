"""The README says what the code does: its configuration table against the
``Config`` that ``scanbridge check-config`` prints, its CLI synopsis against the
click commands (every option of every command is in it)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click
import msgspec
import pytest

from scanbridge.cli import main
from scanbridge.config import Config, Section, config_keys

README = Path(__file__).resolve().parent.parent / "README.md"

UNITS = {"KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "s": 1, "h": 3600, "d": 86400}


def section(title: str) -> str:
    text = README.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else len(text)]


def config_rows() -> list[tuple[list[str], str, str]]:
    """(keys, default cell, meaning cell) of the Configuration table."""
    rows = []
    for line in section("Configuration").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or cells[0] in ("key", "---"):
            continue
        keys = re.findall(r"`([a-z_]+)`", cells[0])
        if keys:
            rows.append((keys, cells[1], cells[2]))
    return rows


def readme_value(text: str, actual: Any) -> Any:
    """One default as the README writes it, read as the value it stands for."""
    text = text.strip()
    if text in ("none", "") or text.startswith(("per port", "from the")):
        return None
    if text.startswith("`") and text.endswith("`") and text.count("`") == 2:
        word = text[1:-1]
        if word in ("true", "false"):
            return word == "true"
        return msgspec.json.decode(word) if re.fullmatch(r"-?\d+(\.\d+)?", word) else word
    if text == "off":
        return {bool: False, int: 0, float: 0.0}.get(type(actual))
    m = re.fullmatch(r"([0-9.]+)(?: (KiB|MiB|GiB|s|h|d))?(?: \(off\))?", text)
    if m:
        return float(m.group(1)) * UNITS.get(m.group(2) or "", 1)
    raise AssertionError(f"cannot read the README default {text!r}")


def same(readme: Any, actual: Any) -> bool:
    if actual is None or isinstance(actual, Section) or actual == []:
        return readme is None or isinstance(actual, Section)  # "none": unset, no tables
    if isinstance(actual, bool) or readme is None:
        return readme == actual
    if isinstance(actual, int | float) and isinstance(readme, int | float):
        return float(readme) == float(actual)
    return readme == actual


def test_every_key_is_in_the_configuration_table() -> None:
    rows = config_rows()
    documented = {k for keys, _, _ in rows for k in keys}
    missing = [k for k in config_keys() if k not in documented]
    assert not missing, f"README's configuration table lacks {missing}"
    unknown = documented - set(config_keys())
    assert not unknown, f"README's configuration table has keys Config does not: {unknown}"


@pytest.mark.parametrize(
    "key", [k for k in config_keys() if isinstance(getattr(Config(), k), Section | list)]
)
def test_every_key_of_a_table_is_named(key: str) -> None:
    """[jobs], [admin], [[ports]], [[scanners]]: every key of theirs is in the row."""
    meaning = next(m for keys, _, m in config_rows() if key in keys)
    named = set(re.findall(r"`([a-z_]+)`", meaning))
    tp = msgspec.structs.fields(Config)[config_keys().index(key)].type
    args = getattr(tp, "__args__", None)
    section_cls = args[0] if args else tp
    if not (isinstance(section_cls, type) and issubclass(section_cls, Section)):
        return  # allowed_origins: a list of strings
    missing = [k for k in config_keys(section_cls) if k not in named]
    assert not missing, f"README's row for {key} lacks {missing}"


def test_defaults_in_the_table_are_the_defaults() -> None:
    config = Config()
    checked = 0
    for keys, default, _ in config_rows():
        actual = [getattr(config, k) for k in keys]
        if keys == ["allowed_origins"]:
            assert re.findall(r"`([^`]+)`", default) == config.allowed_origins
            checked += 1
            continue
        parts = [p for p in default.split(", ")] if len(keys) > 1 else [default]
        if len(parts) == 1 and len(keys) > 1:
            parts *= len(keys)  # "0 (off)" for idle_timeout and ping_interval
        if len(parts) != len(keys):
            continue
        for key, part, value in zip(keys, parts, actual, strict=True):
            assert same(readme_value(part, value), value), (
                f"README says {key} defaults to {part!r}; check-config says {value!r}"
            )
            checked += 1
    assert checked >= 25


def test_check_config_default_output_agrees() -> None:
    """check-config prints Config(): the defaults compared above."""
    from click.testing import CliRunner

    result = CliRunner().invoke(main, ["check-config", "--format", "json"], env={})
    assert result.exit_code == 0, result.output
    printed = msgspec.json.decode(result.output)
    assert printed == msgspec.to_builtins(Config())
    assert "null" not in printed["allowed_origins"]


def synopsis() -> dict[str, str]:
    """The CLI section's synopsis, by command (continuation lines joined)."""
    block = section("CLI").split("```")[1]
    by_command: dict[str, str] = {}
    current = ""
    for line in block.splitlines():
        m = re.match(r"scanbridge (--[a-z]+ )?([a-z-]+)", line)
        if m and not line.startswith(" "):
            current = m.group(2) if not m.group(1) else "(group)"
            by_command[current] = by_command.get(current, "") + " " + line
        elif line.startswith(" ") and current:
            by_command[current] += " " + line
    return by_command


@pytest.mark.parametrize("name", sorted(main.commands))
def test_synopsis_names_every_option(name: str) -> None:
    command = main.commands[name]
    text = synopsis().get(name)
    assert text is not None, f"README's CLI synopsis has no line for {name}"
    flags = re.findall(r"--[a-z-]+", text)
    ctx = click.Context(command)
    for param in command.get_params(ctx):
        if not isinstance(param, click.Option) or "--help" in param.opts:
            continue
        long = [o for o in [*param.opts, *param.secondary_opts] if o.startswith("--")]
        if name == "check-config" and "every serve flag" in text:
            serve = {o for p in main.commands["serve"].params for o in [*p.opts, *p.secondary_opts]}
            if set(long) <= serve:
                continue
        assert set(long) & set(flags), f"README's synopsis of {name} lacks {long[0]}"
    for flag in flags:  # and names none the command does not have
        if name == "check-config" and flag == "--scanner":
            continue
        known = {o for p in command.get_params(ctx) for o in p.opts + p.secondary_opts}
        known |= {"--version", "--debug"}
        assert flag in known, f"README's synopsis of {name} has {flag}, which it does not take"


def test_synopsis_has_every_command() -> None:
    assert set(main.commands) <= set(synopsis())
