"""Type stubs for scanbridge._core, the Rust core (see rust/py)."""

from typing import Any

__version__: str

EV_OPEN: int
EV_TEXT: int
EV_BINARY: int
EV_CLOSE: int
EV_HTTP: int
EV_UPGRADE: int
EV_ROOM_NOTIFY: int
EV_ROOM_FORWARD: int
EV_ROOM_MEMBERSHIP: int
EV_ROOM_CLIENTS: int
#: (EV_PANIC, conn, message): a bug while handling conn; it was closed (1011).
EV_PANIC: int

class Server:
    """The core server. Call only from the event loop's thread."""

    def __init__(
        self,
        *,
        max_message_bytes: int = ...,
        max_queue_bytes: int = ...,
        compression: bool = True,
        compression_context_takeover: bool = False,
        allowed_origins: list[str] = ...,
        idle_timeout: float = 0.0,
        ping_interval: float = 0.0,
        close_timeout: float = 3.0,
        handshake_timeout: float = 10.0,
        max_http_body: int = ...,
        max_pending_bytes: int | None = None,
        max_pending_messages: int = 256,
        max_rooms_per_connection: int = 1000,
    ) -> None:
        """``max_pending_bytes`` (None: max(4 MiB, max_message_bytes)) and
        ``max_pending_messages`` bound what one connection may have handed to
        Python (TEXT/BINARY events) and not yet reported with ``consumed``;
        past either the core stops reading that socket until Python has
        consumed half of it. A JOIN past ``max_rooms_per_connection`` rooms
        gets a ``TOO_MANY_ROOMS`` error."""
    def add_endpoint(
        self,
        paths: list[str],
        kind: str,
        *,
        subprotocols: list[str] = ...,
        ask_upgrade: bool = False,
        allowed_origins: list[str] | None = None,
        idle_timeout: float | None = None,
        ping_interval: float | None = None,
        namespace: str = "",
        room_hook: bool = False,
    ) -> int: ...
    def listen(
        self,
        host: str,
        port: int,
        *,
        cert_pem: bytes | None = None,
        key_pem: bytes | None = None,
        reuse_port: bool = False,
        allow: list[str] | None = None,
        deny: list[str] | None = None,
        idle_timeout: float | None = None,
    ) -> tuple[int, str, int]: ...
    def set_listener_enabled(self, listener: int, enabled: bool) -> None: ...
    def listeners(self) -> list[tuple[int, str, int, bool, bool]]: ...
    def fileno(self) -> int: ...
    def poll(self) -> tuple[list[tuple[Any, ...]], bool]:
        """Events: (EV_TEXT, conn, str, nbytes), (EV_BINARY, conn, bytes, nbytes), ..."""
    def consumed(self, conn: int, nbytes: int, messages: int = 1) -> None:
        """Python is done with `messages` TEXT/BINARY events of `conn` (`nbytes`: their
        last items summed). Every such event must be reported, or the connection stalls."""
    def flush(self) -> None: ...
    def send(self, conn: int, data: str | bytes) -> bool: ...
    def join(self, conn: int, room: str) -> bool: ...
    def leave(self, conn: int, room: str) -> bool: ...
    def publish(
        self, room: str, data: str | bytes, exclude: int | None = None
    ) -> tuple[int, int]: ...
    def publish_event(
        self, namespace: str, room: str, sender: str, message: str, exclude: int | None = None
    ) -> tuple[int, int]: ...
    def set_backplane(self, on: bool) -> None: ...
    def namespace_rooms(self, namespace: str) -> list[tuple[str, list[str]]]: ...
    def room_member_names(self, namespace: str, room: str) -> list[str]: ...
    def room_members(self, room: str) -> list[int]: ...
    def rooms_of(self, conn: int) -> list[str]: ...
    def rooms(self) -> list[tuple[str, int]]: ...
    def close(self, conn: int, code: int = 1000, reason: str = "") -> bool: ...
    def accept(
        self, conn: int, headers: list[tuple[str, str]] = ...
    ) -> tuple[bool, list[tuple[Any, ...]]]: ...
    def respond(
        self, conn: int, status: int, headers: list[tuple[str, str]], body: bytes
    ) -> bool: ...
    def tick(self) -> list[tuple[Any, ...]]: ...
    def shutdown(self, code: int = 1001, reason: str = "server shutting down") -> None: ...
    def endpoint_paths(self) -> list[str]: ...
    def connection_count(self) -> int: ...
    def connection_ids(self) -> list[int]: ...
    def connection_info(self, conn: int) -> dict[str, Any] | None: ...
    def stats(self) -> dict[str, int]: ...
    def accept_notices(self) -> list[tuple[str, str, str]]:
        """("failing", "host:port", error) when accepting connections failed
        (out of file descriptors; retried every 0.5 s), ("recovered",
        "host:port", failed attempts) when it works again; since the last call."""

def self_signed_cert(names: list[str]) -> tuple[str, str, str]: ...
def load_pem_files(certfile: str, keyfile: str) -> tuple[bytes, bytes]: ...
def close_code_problem(code: int) -> str | None:
    """None when ``code`` may be sent in a close frame, else why not (one line)."""

def origin_allowed(origin: str | None, patterns: list[str]) -> bool:
    """The WebSocket upgrade's Origin rule (rust/py/src/rules.rs), for HTTP routes."""

def apply_mask(data: bytes, key: bytes | tuple[int, int, int, int]) -> bytes: ...
def encode_frame(
    opcode: int, payload: bytes, mask_key: bytes | None = None, rsv1: bool = False
) -> bytes: ...
def parse_frames(
    data: bytes, masked: bool = True, max_message_bytes: int = ...
) -> list[tuple[str, bytes]]: ...
def count_messages(data: bytes) -> int: ...
def is_valid_utf8(data: bytes) -> bool: ...
def deflate_message(data: bytes, window_bits: int = 15, level: int = 1) -> bytes: ...
def inflate_message(data: bytes, window_bits: int = 15, max_size: int = ...) -> bytes: ...

# Barcode scanners (rust/core/src/hid): keyboard-wedge key events and HID POS.

class KeyboardDecoder:
    """`input_event` records of a keyboard-wedge scanner to codes.

    Codes come out as (text, raw, first_ts, last_ts, human); times are
    seconds on the events' clock.
    """

    def __init__(
        self,
        layout: str = "us",
        terminators: list[str] | tuple[str, ...] | None = ("enter", "kp_enter"),
        inter_key_timeout: float = 0.05,
        min_length: int = 1,
        max_avg_gap: float | None = None,
    ) -> None: ...
    def feed(self, data: bytes) -> list[tuple[str, bytes, float, float, bool]]: ...
    def flush_idle(self, now: float) -> list[tuple[str, bytes, float, float, bool]]: ...
    def flush(self) -> list[tuple[str, bytes, float, float, bool]]: ...
    def reset(self) -> None: ...
    @property
    def pending(self) -> bool: ...
    @property
    def layout(self) -> str: ...

def encode_keystrokes(
    text: str,
    layout: str = "us",
    start: float = 0.0,
    gap: float = 0.002,
    terminator: str | None = "enter",
) -> bytes: ...
def layouts() -> list[str]: ...
def symbology_name(aim: str, data: bytes | None = None) -> str | None: ...

class HidPosParser:
    """A HID POS (usage page 0x8C) scanner's reports, from its report descriptor."""

    def __init__(self, descriptor: bytes) -> None: ...
    def feed_report(self, report: bytes) -> tuple[str | None, bytes] | None: ...
    def beep_report(self) -> bytes | None: ...
    def error_report(self) -> bytes | None: ...
    def reset(self) -> None: ...
    @property
    def report_id(self) -> int: ...
    @property
    def pending(self) -> bool: ...

# WebSocket client codec (rust/py/src/client.rs), used by scanbridge.client.

class ClientCodec:
    """One client connection's framing: masked frames out, server frames in.

    `deflate_response` is the server's Sec-WebSocket-Extensions value when
    the offer from `client_deflate_offer()` (same keyword arguments) was
    answered; a response that breaks RFC 7692 raises ValueError.
    """

    def __init__(
        self,
        max_message_bytes: int = 16 * 1024 * 1024,
        deflate_response: str | None = None,
        *,
        client_max_window_bits: int | None = None,
        client_no_context_takeover: bool = False,
        compression_level: int = 1,
        compress_min_size: int = 32,
    ) -> None: ...
    def encode(self, opcode: int, payload: bytes, fin: bool = True) -> bytes: ...
    def encode_close(self, code: int | None = None, reason: str = "") -> bytes: ...
    def feed(self, data: bytes) -> list[tuple[str, Any]]: ...
    @property
    def error(self) -> tuple[int, str] | None: ...
    @property
    def compressed(self) -> bool: ...
    @property
    def closed(self) -> bool: ...
    @property
    def max_message_bytes(self) -> int: ...

def client_accept_key(key: str) -> str: ...
def client_deflate_offer(
    client_max_window_bits: int | None = None, client_no_context_takeover: bool = False
) -> str: ...
def client_deflate_accept(
    response: str,
    client_max_window_bits: int | None = None,
    client_no_context_takeover: bool = False,
) -> tuple[bool, bool, int, int]: ...
