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
"""

import difflib
import functools
import ipaddress
import math
import operator
import os
import tomllib
import types
import typing
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal, get_args, get_origin

import msgspec
import msgspec.inspect as mi

from .errors import ScanbridgeError

__all__ = [
    "CONFIG_ENV",
    "ENV_PREFIX",
    "LOG_LEVELS",
    "RESERVED_ENV",
    "Allowed",
    "Config",
    "ConfigError",
    "LogLevel",
    "Port",
    "ScannerConfig",
    "Seconds",
    "Section",
    "config_keys",
    "dump_toml",
    "field_type",
    "is_loopback_host",
    "load_config",
    "parse_bool",
    "parse_text",
    "unknown_key",
]

ENV_PREFIX = "SCANBRIDGE_"
"""Environment variables ``SCANBRIDGE_<KEY>`` set the key ``<key>``."""

CONFIG_ENV = "SCANBRIDGE_CONFIG"
"""Path of the TOML config file when no path is given explicitly."""

RESERVED_ENV = frozenset({CONFIG_ENV})
"""``SCANBRIDGE_*`` variables that are not config keys."""

_MAX_VALUE_REPR = 200


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Any = _Missing()


def _one_line(text: str) -> str:
    return " ".join(text.split("\n")).replace("\r", " ")


def _value_repr(value: object) -> str:
    text = repr(value)
    if len(text) > _MAX_VALUE_REPR:
        text = text[: _MAX_VALUE_REPR - 3] + "..."
    return _one_line(text)


class ConfigError(ScanbridgeError, ValueError):
    """A bad configuration value, file or key.

    ``str(err)`` is one line, e.g. ``config error: port=80 (from --port) is not
    allowed: must be an integer in [1024, 65535] (or 0 to pick a free port)``.
    """

    def __init__(
        self,
        problem: str,
        *,
        key: str | None = None,
        value: object = _MISSING,
        source: str | None = None,
    ) -> None:
        self.problem = problem
        self.key = key
        self.value = value
        self.source = source
        super().__init__(self._render())

    def _render(self) -> str:
        text = "config error: "
        if self.key is not None:
            text += self.key
            if self.value is not _MISSING:
                text += "=" + _value_repr(self.value)
            if self.source:
                text += f" (from {self.source})"
            text += " "
        return _one_line(text + self.problem)

    def __str__(self) -> str:
        return self._render()

    def within(self, *, prefix: str = "", source: str | None = None) -> "ConfigError":
        """The same error with ``prefix`` before its key and ``source`` if it had none."""
        return ConfigError(
            self.problem,
            key=None if self.key is None else prefix + self.key,
            value=self.value,
            source=self.source or source,
        )


class Allowed:
    """``Annotated`` metadata: an extra rule for a value, with a description.

    ``port: Annotated[int, Allowed(lambda v: v > 0, "a positive integer")] = 1``
    """

    __slots__ = ("description", "predicate")

    def __init__(self, predicate: Callable[[Any], bool], description: str) -> None:
        self.predicate = predicate
        self.description = description

    def __repr__(self) -> str:
        return f"Allowed({self.description!r})"


# --------------------------------------------------------------------------- types


def _is_port(value: int) -> bool:
    return value == 0 or 1024 <= value <= 65535


Port = Annotated[int, Allowed(_is_port, "an integer in [1024, 65535] (or 0 to pick a free port)")]
"""A listening port: 1024-65535, or 0 to let the OS pick a free one."""

Seconds = Annotated[float, msgspec.Meta(ge=0)]
"""A duration in seconds, >= 0."""

LogLevel = Literal["debug", "info", "warning", "error"]
LOG_LEVELS: tuple[str, ...] = get_args(LogLevel)


def _strip(tp: Any) -> Any:
    """``tp`` without constraints: Annotated metadata removed, Literals as their types."""
    origin = get_origin(tp)
    if origin is Annotated:
        return _strip(get_args(tp)[0])
    if origin is Literal:
        return functools.reduce(operator.or_, sorted({type(v) for v in get_args(tp)}, key=str))
    if origin in (typing.Union, types.UnionType):
        return functools.reduce(operator.or_, [_strip(a) for a in get_args(tp)])
    if origin is list:
        return list[_strip(get_args(tp)[0])]  # type: ignore[misc]
    if origin is dict:
        key_tp, value_tp = get_args(tp)
        return dict[_strip(key_tp), _strip(value_tp)]  # type: ignore[misc]
    return tp


def _rules(tp: Any) -> list[Allowed]:
    if get_origin(tp) is Annotated:
        return [m for m in tp.__metadata__ if isinstance(m, Allowed)]
    return []


def _section_type(tp: Any) -> "type[Section] | None":
    tp = _strip(tp)
    if isinstance(tp, type) and issubclass(tp, Section):
        return tp
    return None


def _num(value: float) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _bounds(t: mi.IntType | mi.FloatType) -> str:
    if t.ge is not None and t.le is not None:
        return f" in [{_num(t.ge)}, {_num(t.le)}]"
    parts = [
        f"{op} {_num(bound)}"
        for op, bound in ((">=", t.ge), (">", t.gt), ("<=", t.le), ("<", t.lt))
        if bound is not None
    ]
    return (" " + " and ".join(parts)) if parts else ""


def _describe_info(t: mi.Type, plural: bool = False) -> str:
    def noun(one: str, many: str) -> str:
        return many if plural else one

    if isinstance(t, mi.BoolType):
        return noun("a boolean (true or false)", "booleans")
    if isinstance(t, mi.IntType):
        return noun("an integer", "integers") + _bounds(t)
    if isinstance(t, mi.FloatType):
        return noun("a number", "numbers") + _bounds(t)
    if isinstance(t, mi.StrType):
        if t.min_length == 1 and t.max_length is None and t.pattern is None:
            return noun("a non-empty string", "non-empty strings")
        text = noun("a string", "strings")
        if t.min_length and t.max_length is not None:
            text += f" of {t.min_length} to {t.max_length} characters"
        elif t.min_length:
            text += f" of at least {t.min_length} characters"
        elif t.max_length is not None:
            text += f" of at most {t.max_length} characters"
        if t.pattern is not None:
            text += f" matching {t.pattern!r}"
        return text
    if isinstance(t, mi.LiteralType):
        return ("values from " if plural else "one of ") + ", ".join(repr(v) for v in t.values)
    if isinstance(t, mi.ListType | mi.TupleType | mi.VarTupleType | mi.SetType):
        item = getattr(t, "item_type", None)
        if item is None:
            return noun("a list", "lists")
        if isinstance(item, mi.StructType | mi.DataclassType | mi.TypedDictType):
            return noun("an array of tables", "arrays of tables")
        return noun("a list of ", "lists of ") + _describe_info(item, plural=True)
    if isinstance(t, mi.StructType | mi.DataclassType | mi.TypedDictType | mi.DictType):
        return noun("a table", "tables")
    if isinstance(t, mi.UnionType):
        options = [_describe_info(o, plural) for o in t.types if not isinstance(o, mi.NoneType)]
        text = " or ".join(options)
        return text + (" (or unset)" if t.includes_none else "")
    if isinstance(t, mi.NoneType):
        return "unset"
    if isinstance(t, mi.AnyType):
        return "any value"
    return noun("a ", "") + type(t).__name__.removesuffix("Type").lower()


def _describe(tp: Any) -> str:
    """What a value of type ``tp`` must be, in words: ``an integer >= 125``."""
    inner = tp
    while get_origin(inner) is Annotated:
        inner = get_args(inner)[0]
    if get_origin(inner) is Literal:  # keep the declared order (type_info sorts)
        return "one of " + ", ".join(repr(v) for v in get_args(inner))
    return _describe_info(mi.type_info(tp))


def _match_literal(value: Any, tp: Any) -> Any:
    """Case-insensitive match of a string against a (possibly Annotated) Literal."""
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    if get_origin(tp) is Literal and isinstance(value, str):
        for choice in get_args(tp):
            if isinstance(choice, str) and choice.lower() == value.strip().lower():
                return choice
    return value


# ------------------------------------------------------------------------ checking


def _expected(tp: Any) -> str:
    """What a value must be, with the type's own rule when it has one (so a bad
    port names the range, not just "an integer") or its bounds ("a number > 0")."""
    rules = _rules(tp)
    return rules[0].description if rules else _describe(tp)


def _check_value(key: str, value: Any, tp: Any) -> None:
    base = _strip(tp)
    try:
        msgspec.convert(value, base, strict=True)
    except msgspec.ValidationError:
        raise ConfigError(f"is not {_expected(tp)}", key=key, value=value) from None
    if base is not tp:
        try:
            msgspec.convert(value, tp, strict=True)
        except msgspec.ValidationError:
            raise ConfigError(
                f"is not allowed: must be {_describe(tp)}", key=key, value=value
            ) from None
    for rule in _rules(tp):
        if not rule.predicate(value):
            raise ConfigError(f"is not allowed: must be {rule.description}", key=key, value=value)
    # Nested sections validated themselves when built; check again for mutations.
    if isinstance(value, Section):
        _validate_nested(key + ".", value)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, Section):
                _validate_nested(f"{key}[{i}].", item)


def _validate_nested(prefix: str, section: "Section") -> None:
    try:
        section.validate()
    except ConfigError as exc:
        raise exc.within(prefix=prefix) from None


@functools.cache
def _field_types(cls: type[msgspec.Struct]) -> dict[str, Any]:
    return {f.name: f.type for f in msgspec.structs.fields(cls)}


def config_keys(cls: "type[Section] | None" = None) -> list[str]:
    """The keys of ``cls`` (default :class:`Config`), in declaration order."""
    return list(_field_types(cls or Config))


class Section(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Base of :class:`Config` and of nested tables (``[jobs]``, ``[[scanners]]``).

    Construction validates every field against its type (see the module doc),
    then runs :meth:`check`; a bad value raises :class:`ConfigError`.
    """

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise :class:`ConfigError` for the first bad value (types, ranges, cross-key rules)."""
        for key, tp in _field_types(type(self)).items():
            _check_value(key, getattr(self, key), tp)
        self.check()

    def check(self) -> None:
        """Rules that involve several keys; override and raise :class:`ConfigError`."""


# -------------------------------------------------------------------------- config


def _default_origins() -> list[str]:
    # Not "null": every sandboxed iframe, of any site, sends `Origin: null`.
    return [
        "http://localhost",
        "http://localhost:*",
        "http://127.0.0.1",
        "http://127.0.0.1:*",
    ]


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1, ::ffff:127.x)."""
    name = host.strip().removeprefix("[").removesuffix("]").split("%", 1)[0]
    if name.lower().rstrip(".") == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        return False  # another name: it may resolve to anything
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


ScannerSource = Literal["evdev", "hidraw", "ble", "replay", "stdin", "demo"]
Layout = Literal["us", "uk", "de", "fr"]
Terminator = Literal["enter", "kp_enter", "tab"]


def _default_terminators() -> list[Terminator]:
    return ["enter", "kp_enter"]


class ScannerConfig(Section, kw_only=True, forbid_unknown_fields=True):
    """One ``[[scanners]]`` table: a scanner source and how to read it."""

    source: ScannerSource
    device_serial: str | None = None
    device_model: str | None = None
    #: The scanner's keyboard layout (keyboard-wedge sources).
    layout: Layout = "us"
    #: evdev / hidraw / replay: a device node, by-id link, file or FIFO.
    path: str | None = None
    #: evdev: match by device name (``*`` and ``?`` patterns) or vendor/product ids (hex).
    name: str | None = None
    vendor: str | None = None
    product: str | None = None
    grab: bool = True
    terminators: list[Terminator] = msgspec.field(default_factory=_default_terminators)
    #: A code without terminator ends after this many seconds without a key.
    inter_key_timeout: Annotated[float, msgspec.Meta(gt=0, le=10)] = 0.05
    min_length: Annotated[int, msgspec.Meta(ge=1)] = 1
    #: Bursts whose average key gap is longer are typing, not scanning (off when 0).
    max_avg_key_gap: Seconds = 0.0
    #: ble: device address and notify characteristic UUID.
    address: str | None = None
    characteristic: str | None = None
    #: demo: seconds between simulated scans.
    interval: Annotated[float, msgspec.Meta(gt=0)] = 3.0

    def check(self) -> None:
        needs = {"replay": "path", "ble": "address"}
        key = needs.get(self.source)
        if key and getattr(self, key) is None:
            raise ConfigError(
                f"needs '{key}' for source {self.source!r}", key="source", value=self.source
            )
        if self.source == "ble" and self.characteristic is None:
            raise ConfigError(
                "needs 'characteristic' for source 'ble'", key="source", value=self.source
            )


class PortConfig(Section, kw_only=True, forbid_unknown_fields=True):
    """One ``[[ports]]`` table: an extra listener (webMethods-style port)."""

    alias: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    port: Port
    host: Annotated[str, msgspec.Meta(min_length=1)] = "127.0.0.1"
    https: bool = False
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    idle_timeout: Seconds = 0.0
    enabled: bool = True
    #: "allow": everyone but the ``deny`` patterns; "deny": nobody but the ``allow`` patterns.
    access: Literal["allow", "deny"] = "allow"
    allow: list[str] = msgspec.field(default_factory=list)
    deny: list[str] = msgspec.field(default_factory=list)

    def check(self) -> None:
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise ConfigError(
                "needs both ssl_certfile and ssl_keyfile, or neither",
                key="ssl_certfile",
                value=self.ssl_certfile,
            )


class JobsConfig(Section, kw_only=True, forbid_unknown_fields=True):
    """``[jobs]``: authenticated job-progress sockets (PROTOCOLS.md section 3)."""

    enabled: bool = True
    #: HS256 secret, or an RS256 public key (PEM text or a path to a PEM file).
    jwt_secret: str | None = None
    jwt_public_key: str | None = None
    token_max_age: Annotated[float, msgspec.Meta(gt=0)] = 900.0
    ping_interval: Seconds = 30.0
    idle_timeout: Seconds = 300.0


class AdminConfig(Section, kw_only=True, forbid_unknown_fields=True):
    """``[admin]``: the admin page and API (PROTOCOLS.md section 4)."""

    user: str | None = None
    #: A hash made by ``scanbridge hash-password`` (never the password itself).
    password_hash: str | None = None
    #: A separate admin listener; when set, the admin is served only there.
    port: Port | None = None
    host: Annotated[str, msgspec.Meta(min_length=1)] = "127.0.0.1"

    def check(self) -> None:
        if (self.user is None) != (self.password_hash is None):
            raise ConfigError(
                "needs both user and password_hash, or neither", key="user", value=self.user
            )


class Config(Section, kw_only=True, forbid_unknown_fields=True):
    """The server's configuration (see DESIGN.md / PROTOCOLS.md)."""

    host: Annotated[str, msgspec.Meta(min_length=1)] = "127.0.0.1"
    port: Port = 9998
    echo: bool = False
    https: bool = False
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    max_message_bytes: Annotated[int, msgspec.Meta(ge=125)] = 16 * 1024 * 1024
    max_queue_bytes: Annotated[int, msgspec.Meta(ge=1024)] = 1024 * 1024
    #: Per connection of a Python endpoint (the Streams socket, @app.endpoint):
    #: bytes and messages read and waiting for Python; past either the socket is
    #: not read (TCP backpressure) until Python has handled half. None: the
    #: larger of 4 MiB and max_message_bytes.
    max_pending_bytes: Annotated[int, msgspec.Meta(ge=1024, le=2**32 - 1)] | None = None
    max_pending_messages: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 256
    #: Rooms one connection may be in (/layout, /bus, Socket.IO); a JOIN past
    #: that is answered ["ERROR", {"code": "TOO_MANY_ROOMS", ...}].
    max_rooms_per_connection: Annotated[int, msgspec.Meta(ge=1)] = 1000
    compression: bool = True
    # permessage-deflate: False (default) agrees server_no_context_takeover with
    # every client, so the server's compressors are shared (nothing per connection,
    # a room message compressed once); True keeps a ~256 KiB compressor per
    # connection that refers back to earlier messages (better ratio).
    compression_context_takeover: bool = False
    allowed_origins: list[Annotated[str, msgspec.Meta(min_length=1)]] = msgspec.field(
        default_factory=_default_origins
    )
    log_level: LogLevel = "info"
    idle_timeout: Seconds = 0.0
    ping_interval: Seconds = 0.0
    shutdown_timeout: Seconds = 5.0
    jobs: JobsConfig = msgspec.field(default_factory=JobsConfig)
    admin: AdminConfig = msgspec.field(default_factory=AdminConfig)
    #: Extra listeners, each with an alias (the main one is "default").
    ports: list[PortConfig] = msgspec.field(default_factory=list)
    #: Rooms and lobbies at /layout, /bus and /lobby (PROTOCOLS.md section 2).
    rooms: bool = True
    #: Redis for rooms that span processes and hosts (e.g. redis://127.0.0.1:6379/0).
    redis_url: str | None = None
    #: Processes serving one port (SO_REUSEPORT); more than 1 needs redis_url.
    workers: Annotated[int, msgspec.Meta(ge=1, le=64)] = 1
    # Streams API (PROTOCOLS.md section 1)
    streams: bool = True
    scanners: list[ScannerConfig] = msgspec.field(default_factory=list)
    #: SQLite journal file; ":memory:" keeps it in memory only. Default: a file per
    #: port under the user's data directory (memory only with port 0).
    journal: str | None = None
    journal_max_events: Annotated[int, msgspec.Meta(ge=1)] = 100_000
    journal_max_age: Annotated[float, msgspec.Meta(gt=0)] = 86_400.0
    #: Bytes of events the journal keeps at most (oldest go first); one event may
    #: take 1/16 of it (at most 1 MiB).
    journal_max_bytes: Annotated[int, msgspec.Meta(ge=1024 * 1024)] = 256 * 1024 * 1024
    #: SQLite's synchronous level: "normal" (a commit survives a crash or SIGKILL
    #: of the process) or "full" (it also survives a power loss; ~2 ms per commit).
    journal_synchronous: Literal["normal", "full"] = "normal"
    undelivered_ttl: Seconds = 60.0
    gateway_serial: str | None = None
    #: Optional token for the Streams socket (Bearer, ?token= or Basic password).
    token: str | None = None
    #: HMAC key for configuration barcodes.
    config_barcode_key: str | None = None

    def check_exposure(self) -> None:
        """Raise :class:`ConfigError` when a listener on a non-loopback address
        would serve the Streams API (scan history, ``POST /api/scans``) without
        a ``token``: the server then refuses to start (README, "Security")."""
        if self.token or not self.streams:
            return
        listeners = [("host", self.host)]
        listeners += [(f"ports[{i}].host", p.host) for i, p in enumerate(self.ports)]
        if self.admin.port is not None:
            listeners.append(("admin.host", self.admin.host))
        for key, host in listeners:
            if not is_loopback_host(host):
                raise ConfigError(
                    "is not loopback and no token is set: the network would read every "
                    "scan and inject scans; set a token (--token or SCANBRIDGE_TOKEN) or "
                    "listen on 127.0.0.1",
                    key=key,
                    value=host,
                )

    def check(self) -> None:
        if self.workers > 1 and not self.redis_url:
            raise ConfigError(
                "needs redis_url: rooms of separate processes would silently split "
                "(set --redis-url, or use --workers 1)",
                key="workers",
                value=self.workers,
            )
        if self.workers > 1 and self.scanners:
            raise ConfigError(
                "cannot be combined with scanners: a scanner is read by one process and "
                "Streams clients of the others would miss its scans (use --workers 1)",
                key="workers",
                value=self.workers,
            )
        seen = {"default", "admin"}
        for i, p in enumerate(self.ports):
            if p.alias in seen:
                raise ConfigError(
                    "is used twice (aliases are unique; 'default' is the main listener, "
                    "'admin' the admin listener)",
                    key=f"ports[{i}].alias",
                    value=p.alias,
                )
            seen.add(p.alias)
        for given, missing in (("ssl_certfile", "ssl_keyfile"), ("ssl_keyfile", "ssl_certfile")):
            if getattr(self, given) is not None and getattr(self, missing) is None:
                raise ConfigError(
                    f"is given without {missing}: give both ssl_certfile and ssl_keyfile, "
                    "or neither",
                    key=given,
                    value=getattr(self, given),
                )


# ------------------------------------------------------------------------- loading


def _from_text(text: str, tp: Any, key: str, source: str) -> Any:
    """Parse an environment variable or CLI string as ``tp``; ValueError if it is not one."""
    origin = get_origin(tp)
    if origin is Annotated:
        return _from_text(text, get_args(tp)[0], key, source)
    if origin is Literal:
        return _match_literal(text, tp)
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
    return _coerce(decoded, tp, key, source)


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
    return _coerce_text(key, text, tp, source)


def field_type(cls: "type[Section]", key: str) -> Any:
    """The declared type of ``cls``'s key ``key``; KeyError if it has none."""
    return _field_types(cls)[key]


def _coerce_text(key: str, text: str, tp: Any, source: str) -> Any:
    try:
        return _from_text(text, tp, key, source)
    except ConfigError:
        raise
    except ValueError:
        expected = _expected(tp)
        if _strip(tp) is bool:
            expected = "a boolean (" + "/".join(TRUE_WORDS) + " or " + "/".join(FALSE_WORDS) + ")"
        raise ConfigError(f"is not {expected}", key=key, value=text, source=source) from None


def _coerce(value: Any, tp: Any, key: str, source: str) -> Any:
    """A TOML (or Python) value as ``tp`` where that is lossless; as-is otherwise.

    Values that stay as-is are reported by validation, which names the key.
    """
    section = _section_type(tp)
    if section is not None and isinstance(value, dict):
        return _build(section, value, source, key + ".")
    base = _strip(tp)
    if get_origin(base) is list and isinstance(value, list):
        item_section = _section_type(get_args(base)[0])
        if item_section is not None:
            return [
                _build(item_section, item, source, f"{key}[{i}].")
                if isinstance(item, dict)
                else item
                for i, item in enumerate(value)
            ]
    value = _match_literal(value, tp)
    try:
        return msgspec.convert(value, base, strict=True)
    except msgspec.ValidationError:
        return value


def unknown_key(key: str, known: list[str], source: str) -> ConfigError:
    """The error for a key that is not one of ``known`` (with a "did you mean")."""
    return _unknown_key(key, known, source)


def _unknown_key(key: str, known: list[str], source: str) -> ConfigError:
    leaf = key.rsplit(".", 1)[-1]
    close = difflib.get_close_matches(leaf, known, n=3, cutoff=0.6)
    if close:
        hint = "did you mean " + " or ".join(repr(c) for c in close) + "?"
    else:
        hint = "known keys: " + ", ".join(known)
    return ConfigError(f"unknown key {key!r} in {source}: {hint}")


def _coerce_table(
    cls: type[Section], table: Mapping[str, Any], source: str, prefix: str = ""
) -> dict[str, Any]:
    fields = _field_types(cls)
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in fields:
            raise _unknown_key(prefix + key, list(fields), source)
        values[key] = _coerce(value, fields[key], prefix + key, source)
    return values


def _build(cls: type[Section], table: Mapping[str, Any], source: str, prefix: str) -> Section:
    values = _coerce_table(cls, table, source, prefix)
    for field in msgspec.structs.fields(cls):
        if field.required and field.name not in values:
            raise ConfigError(
                f"is missing: it is required, {_expected(field.type)}",
                key=prefix + field.name,
                source=source,
            )
    try:
        return cls(**values)
    except ConfigError as exc:
        raise exc.within(prefix=prefix, source=source) from None


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
    lists: comma-separated; unset optional values: empty). Other ``SCANBRIDGE_*``
    variables are ignored.
    ``overrides``: CLI flags by key; None means "not given". Strings are parsed
    like environment variables.

    Raises :class:`ConfigError` (one line) for any problem.
    """
    env = os.environ if env is None else env
    if path is None:
        path = env.get(CONFIG_ENV) or None
    fields = _field_types(Config)
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}

    if path is not None:
        where = os.path.expanduser(os.fspath(path))
        values.update(_coerce_table(Config, _read_toml(where), where))
        sources.update(dict.fromkeys(values, where))

    for key, tp in fields.items():
        var = ENV_PREFIX + key.upper()
        if var in env and var not in RESERVED_ENV:
            values[key] = _coerce_text(key, env[var], tp, var)
            sources[key] = var

    for key, value in (overrides or {}).items():
        if value is None:
            continue
        flag = "--" + key.replace("_", "-")
        if key not in fields:
            raise _unknown_key(key, list(fields), "overrides")
        if isinstance(value, str):
            values[key] = _coerce_text(key, value, fields[key], flag)
        else:
            values[key] = _coerce(value, fields[key], key, flag)
        sources[key] = flag

    try:
        return Config(**values)
    except ConfigError as exc:
        top = (exc.key or "").split(".", 1)[0].split("[", 1)[0]
        raise exc.within(source=sources.get(top)) from None


# ------------------------------------------------------------------------- dumping


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
    for key in _field_types(type(section)):
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
