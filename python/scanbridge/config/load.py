"""Loading: the effective :class:`Config` from defaults, a TOML file,
``SCANBRIDGE_*`` environment variables and CLI flags, in that precedence."""

import os
import tomllib
from collections.abc import Mapping
from typing import Any

from .coerce import coerce_table, coerce_value, parse_text, unknown_key
from .engine import field_types
from .errors import ConfigError
from .schema import Config

__all__ = ["CONFIG_ENV", "ENV_PREFIX", "RESERVED_ENV", "load_config"]

ENV_PREFIX = "SCANBRIDGE_"
"""Environment variables ``SCANBRIDGE_<KEY>`` set the key ``<key>``."""

CONFIG_ENV = "SCANBRIDGE_CONFIG"
"""Path of the TOML config file when no path is given explicitly."""

RESERVED_ENV = frozenset({CONFIG_ENV})
"""``SCANBRIDGE_*`` variables that are not config keys."""


def _read_toml(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML in config file {path}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid UTF-8: {exc}") from None


def load_config(
    path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Build the effective :class:`Config`: defaults < TOML file < environment < overrides.

    ``path``: a TOML file; if None, ``$SCANBRIDGE_CONFIG`` if set, else no file.
    ``env``: the environment (default ``os.environ``); ``SCANBRIDGE_<KEY>`` sets
    ``<key>``, parsed by the key's type (bools: 1/true/yes/on, 0/false/no/off;
    lists: comma-separated; unset optional values: empty). Any other
    ``SCANBRIDGE_*`` variable but ``SCANBRIDGE_CONFIG`` is an error (a typo
    such as ``SCANBRIDGE_PROT`` would otherwise be silently without effect).
    ``overrides``: CLI flags by key; None means "not given". Strings are parsed
    like environment variables.

    Raises :class:`ConfigError` (one line) for any problem.
    """
    env = os.environ if env is None else env
    if path is None:
        path = env.get(CONFIG_ENV) or None
    fields = field_types(Config)
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}

    if path is not None:
        where = os.path.expanduser(os.fspath(path))
        values.update(coerce_table(Config, _read_toml(where), where))
        sources.update(dict.fromkeys(values, where))

    for var in env:
        if var.startswith(ENV_PREFIX) and var not in RESERVED_ENV:
            key = var.removeprefix(ENV_PREFIX).lower()
            if key not in fields or var != ENV_PREFIX + key.upper():
                known = [ENV_PREFIX + k.upper() for k in fields] + sorted(RESERVED_ENV)
                raise unknown_key(var, known, "the environment")
            values[key] = parse_text(key, env[var], fields[key], var)
            sources[key] = var

    for key, value in (overrides or {}).items():
        if value is None:
            continue
        flag = "--" + key.replace("_", "-")
        if key not in fields:
            raise unknown_key(key, list(fields), "overrides")
        if isinstance(value, str):
            values[key] = parse_text(key, value, fields[key], flag)
        else:
            values[key] = coerce_value(value, fields[key], key, flag)
        sources[key] = flag

    try:
        return Config(**values)
    except ConfigError as exc:
        top = (exc.key or "").split(".", 1)[0].split("[", 1)[0]
        raise exc.within(source=sources.get(top)) from None
