"""Typed configuration for scanbridge.

Values come from, in increasing precedence: the field defaults, a TOML file,
``SCANBRIDGE_*`` environment variables, and CLI flags (see :func:`load_config`).

Adding a key is one line in :class:`Config` (or in a nested :class:`Section`):
its type drives TOML checking, environment-variable parsing and validation.
Range rules go in the type, either as ``msgspec.Meta`` constraints (``ge``,
``le``, ``min_length``, ...), a ``Literal``, or an :class:`Allowed` rule, all
inside ``Annotated[...]``.  Rules between several keys go in
:meth:`Section.check`.

Every problem raises :class:`ConfigError`, whose message is one line naming
the key, the value, where it came from and what is allowed.

The package holds: :mod:`.errors` (ConfigError), :mod:`.engine` (sections
that validate themselves, types described in words), :mod:`.coerce` (text and
TOML values read by type), :mod:`.schema` (Config and its sections),
:mod:`.load` (the merge of file, environment and flags) and :mod:`.dump` (TOML
out).
"""

from .coerce import FALSE_WORDS, TRUE_WORDS, parse_bool, parse_text, unknown_key
from .dump import dump_toml
from .engine import Allowed, Section, field_type
from .errors import ConfigError
from .load import CONFIG_ENV, ENV_PREFIX, RESERVED_ENV, load_config
from .schema import (
    LOG_LEVELS,
    AdminConfig,
    Config,
    JobsConfig,
    Layout,
    LogLevel,
    Port,
    PortConfig,
    ScannerConfig,
    ScannerSource,
    Seconds,
    Terminator,
    config_keys,
    is_loopback_host,
)

__all__ = [
    "CONFIG_ENV",
    "ENV_PREFIX",
    "FALSE_WORDS",
    "LOG_LEVELS",
    "RESERVED_ENV",
    "TRUE_WORDS",
    "AdminConfig",
    "Allowed",
    "Config",
    "ConfigError",
    "JobsConfig",
    "Layout",
    "LogLevel",
    "Port",
    "PortConfig",
    "ScannerConfig",
    "ScannerSource",
    "Seconds",
    "Section",
    "Terminator",
    "config_keys",
    "dump_toml",
    "field_type",
    "is_loopback_host",
    "load_config",
    "parse_bool",
    "parse_text",
    "unknown_key",
]
