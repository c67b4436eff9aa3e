"""The schema: :class:`Config` and its nested sections, with the value types
they share (:data:`Port`, :data:`Seconds`, :data:`LogLevel`).

Adding a key is one line in a class here; its type drives TOML checking,
environment-variable parsing and validation (see :mod:`.engine`).
"""

import ipaddress
from typing import Annotated, Literal, get_args

import msgspec

from .engine import Allowed, Section, field_types
from .errors import ConfigError

__all__ = [
    "LOG_LEVELS",
    "AdminConfig",
    "Config",
    "JobsConfig",
    "Layout",
    "LogLevel",
    "Port",
    "PortConfig",
    "ScannerConfig",
    "ScannerSource",
    "Seconds",
    "Terminator",
    "config_keys",
    "is_loopback_host",
]


def _is_port(value: int) -> bool:
    return value == 0 or 1024 <= value <= 65535


Port = Annotated[int, Allowed(_is_port, "an integer in [1024, 65535] (or 0 to pick a free port)")]
"""A listening port: 1024-65535, or 0 to let the OS pick a free one."""

Seconds = Annotated[float, msgspec.Meta(ge=0)]
"""A duration in seconds, >= 0."""

LogLevel = Literal["debug", "info", "warning", "error"]
LOG_LEVELS: tuple[str, ...] = get_args(LogLevel)

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
    #: Processes serving one port (SO_REUSEPORT); more than 1 needs redis_url and
    #: streams = false (rooms span processes through Redis; the journal cannot).
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
        if self.workers > 1 and self.streams:
            raise ConfigError(
                "cannot be combined with the Streams API: each process would keep a journal "
                "of its own and a scan posted to one would miss the Streams clients of the "
                "others (--no-streams, or use --workers 1)",
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


def config_keys(cls: type[Section] | None = None) -> list[str]:
    """The keys of ``cls`` (default :class:`Config`), in declaration order."""
    return list(field_types(cls or Config))
