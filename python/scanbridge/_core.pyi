"""Type stubs for scanbridge._core, the Rust core (see rust/py).

Kept true by ``make lint`` (mypy's stubtest). Exceptions the core raises
besides builtins are scanbridge.errors' (QueueFull, TlsConfigError,
DeflateError, RoomError), defined there only.
"""

from typing import Any, ClassVar, Self, TypeAlias, final

__all__ = [
    "LOBBY_NAMESPACE",
    "ROOM_NAMESPACES",
    "AcceptNotice",
    "BinaryEvent",
    "BinaryMessage",
    "ClientCodec",
    "ClientMessage",
    "CloseEvent",
    "CloseMessage",
    "Event",
    "HidPosParser",
    "HttpEvent",
    "KeyScan",
    "KeyboardDecoder",
    "OpenEvent",
    "PanicEvent",
    "PingMessage",
    "PongMessage",
    "PosScan",
    "RoomClientsEvent",
    "RoomForwardEvent",
    "RoomMembershipEvent",
    "RoomNotifyEvent",
    "Server",
    "TextEvent",
    "TextMessage",
    "UpgradeEvent",
    "__version__",
    "apply_mask",
    "client_accept_key",
    "client_deflate_accept",
    "client_deflate_offer",
    "close_problem",
    "count_messages",
    "deflate_message",
    "encode_frame",
    "encode_keystrokes",
    "inflate_message",
    "is_valid_utf8",
    "layouts",
    "load_pem_files",
    "member_field",
    "member_field_room_key",
    "origin_allowed",
    "parse_frames",
    "room_key",
    "self_signed_cert",
    "symbology_name",
]

__version__: str

#: The namespaces whose members meet in rooms (hub::ROOM_NAMESPACES).
ROOM_NAMESPACES: tuple[str, ...]
#: The lobby's namespace (hub::LOBBY_NAMESPACE).
LOBBY_NAMESPACE: str

# Events: what Server.poll(), tick() and accept() return (rust/py/src/events.rs).
# Immutable; compared by value; `match` takes their fields by position.

@final
class TextEvent:
    """A text message of a Python endpoint's connection. ``size`` is its length
    in UTF-8 bytes: report it with ``Server.consumed(conn, size)`` when done."""

    __match_args__ = ("conn", "data", "size")
    __hash__: ClassVar[None]  # type: ignore[assignment]
    def __new__(cls, conn: int, data: str, size: int) -> Self: ...
    def __eq__(self, other: object, /) -> bool: ...
    @property
    def conn(self) -> int: ...
    @property
    def data(self) -> str: ...
    @property
    def size(self) -> int: ...

@final
class BinaryEvent:
    """A binary message; ``size`` as for TextEvent."""

    __match_args__ = ("conn", "data", "size")
    __hash__: ClassVar[None]  # type: ignore[assignment]
    def __new__(cls, conn: int, data: bytes, size: int) -> Self: ...
    def __eq__(self, other: object, /) -> bool: ...
    @property
    def conn(self) -> int: ...
    @property
    def data(self) -> bytes: ...
    @property
    def size(self) -> int: ...

@final
class OpenEvent:
    """A WebSocket of a Python endpoint is open. ``endpoint`` is add_endpoint's
    id, ``listener`` listen's, ``peer`` (host, port)."""

    __match_args__ = (
        "conn",
        "endpoint",
        "listener",
        "path",
        "query",
        "headers",
        "peer",
        "subprotocol",
    )
    __hash__: ClassVar[None]  # type: ignore[assignment]
    def __new__(
        cls,
        conn: int,
        endpoint: int,
        listener: int,
        path: str,
        query: str,
        headers: tuple[tuple[str, str], ...],
        peer: tuple[str, int],
        subprotocol: str | None,
    ) -> Self: ...
    def __eq__(self, other: object, /) -> bool: ...
    @property
    def conn(self) -> int: ...
    @property
    def endpoint(self) -> int: ...
    @property
    def listener(self) -> int: ...
    @property
    def path(self) -> str: ...
    @property
    def query(self) -> str: ...
    @property
    def headers(self) -> tuple[tuple[str, str], ...]: ...
    @property
    def peer(self) -> tuple[str, int]: ...
    @property
    def subprotocol(self) -> str | None: ...

@final
class UpgradeEvent:
    """An upgrade for an endpoint with ``ask_upgrade``: answer with
    ``Server.accept`` or ``Server.respond``. Fields as OpenEvent's."""

    __match_args__ = (
        "conn",
        "endpoint",
        "listener",
        "path",
        "query",
        "headers",
        "peer",
        "subprotocol",
    )
    __hash__: ClassVar[None]  # type: ignore[assignment]
    def __new__(
        cls,
        conn: int,
        endpoint: int,
        listener: int,
        path: str,
        query: str,
        headers: tuple[tuple[str, str], ...],
        peer: tuple[str, int],
        subprotocol: str | None,
    ) -> Self: ...
    def __eq__(self, other: object, /) -> bool: ...
    @property
    def conn(self) -> int: ...
    @property
    def endpoint(self) -> int: ...
    @property
    def listener(self) -> int: ...
    @property
    def path(self) -> str: ...
    @property
    def query(self) -> str: ...
    @property
    def headers(self) -> tuple[tuple[str, str], ...]: ...
    @property
    def peer(self) -> tuple[str, int]: ...
    @property
    def subprotocol(self) -> str | None: ...

@final
class HttpEvent:
    """A plain HTTP request: answer with ``Server.respond``."""

    __match_args__ = ("conn", "listener", "method", "path", "query", "headers", "body", "peer")
    __hash__: ClassVar[None]  # type: ignore[assignment]
    def __new__(
        cls,
        conn: int,
        listener: int,
        method: str,
        path: str,
        query: str,
        headers: tuple[tuple[str, str], ...],
        body: bytes,
        peer: tuple[str, int],
    ) -> Self: ...
    def __eq__(self, other: object, /) -> bool: ...
    @property
    def conn(self) -> int: ...
    @property
    def listener(self) -> int: ...
    @property
    def method(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def query(self) -> str: ...
    @property
    def headers(self) -> tuple[tuple[str, str], ...]: ...
    @property
    def body(self) -> bytes: ...
    @property
    def peer(self) -> tuple[str, int]: ...

@final
class CloseEvent:
    """The WebSocket closed (1006: without a close frame). Once per connection
    that had an OpenEvent or UpgradeEvent."""

    __match_args__ = ("conn", "code", "reason")
    __hash__: ClassVar[None]  # type: ignore[assignment]
    def __new__(cls, conn: int, code: int, reason: str) -> Self: ...
    def __eq__(self, other: object, /) -> bool: ...
    @property
    def conn(self) -> int: ...
    @property
    def code(self) -> int: ...
    @property
    def reason(self) -> str: ...

@final
class PanicEvent:
    """A bug while handling ``conn``: it was closed (1011). Log it."""

    __match_args__ = ("conn", "message")
    __hash__: ClassVar[None]  # type: ignore[assignment]
    def __new__(cls, conn: int, message: str) -> Self: ...
    def __eq__(self, other: object, /) -> bool: ...
    @property
    def conn(self) -> int: ...
    @property
    def message(self) -> str: ...

@final
class RoomNotifyEvent:
    """A NOTIFY on a rooms endpoint with room hooks; ``message`` is JSON text."""

    __match_args__ = ("conn", "namespace", "room", "sender", "message")
    __hash__: ClassVar[None]  # type: ignore[assignment]
    def __new__(cls, conn: int, namespace: str, room: str, sender: str, message: str) -> Self: ...
    def __eq__(self, other: object, /) -> bool: ...
    @property
    def conn(self) -> int: ...
    @property
    def namespace(self) -> str: ...
    @property
    def room(self) -> str: ...
    @property
    def sender(self) -> str: ...
    @property
    def message(self) -> str: ...

@final
class RoomForwardEvent:
    """Backplane on: a NOTIFY was published here; forward it to other processes."""

    __match_args__ = ("namespace", "room", "sender", "message")
    __hash__: ClassVar[None]  # type: ignore[assignment]
    def __new__(cls, namespace: str, room: str, sender: str, message: str) -> Self: ...
    def __eq__(self, other: object, /) -> bool: ...
    @property
    def namespace(self) -> str: ...
    @property
    def room(self) -> str: ...
    @property
    def sender(self) -> str: ...
    @property
    def message(self) -> str: ...

@final
class RoomMembershipEvent:
    """Backplane on: ``name`` joined (``joined``) or left a room."""

    __match_args__ = ("conn", "namespace", "room", "name", "joined")
    __hash__: ClassVar[None]  # type: ignore[assignment]
    def __new__(cls, conn: int, namespace: str, room: str, name: str, joined: bool) -> Self: ...
    def __eq__(self, other: object, /) -> bool: ...
    @property
    def conn(self) -> int: ...
    @property
    def namespace(self) -> str: ...
    @property
    def room(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def joined(self) -> bool: ...

@final
class RoomClientsEvent:
    """Backplane on: CLIENTS of a room, to be answered across processes."""

    __match_args__ = ("conn", "namespace", "room")
    __hash__: ClassVar[None]  # type: ignore[assignment]
    def __new__(cls, conn: int, namespace: str, room: str) -> Self: ...
    def __eq__(self, other: object, /) -> bool: ...
    @property
    def conn(self) -> int: ...
    @property
    def namespace(self) -> str: ...
    @property
    def room(self) -> str: ...

@final
class AcceptNotice:
    """Accepting connections on ``address`` failed (``failing`` True: out of file
    descriptors; ``detail`` is the error) or works again (``failing`` False;
    ``detail`` counts the attempts that failed). ``Server.accept_notices()``."""

    __match_args__ = ("failing", "address", "detail")
    __hash__: ClassVar[None]  # type: ignore[assignment]
    def __new__(cls, failing: bool, address: str, detail: str) -> Self: ...
    def __eq__(self, other: object, /) -> bool: ...
    @property
    def failing(self) -> bool: ...
    @property
    def address(self) -> str: ...
    @property
    def detail(self) -> str: ...

Event: TypeAlias = (
    TextEvent
    | BinaryEvent
    | OpenEvent
    | UpgradeEvent
    | HttpEvent
    | CloseEvent
    | PanicEvent
    | RoomNotifyEvent
    | RoomForwardEvent
    | RoomMembershipEvent
    | RoomClientsEvent
)

@final
class Server:
    """The core server. Call only from the event loop's thread."""

    def __new__(
        cls,
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
    ) -> Self:
        """``max_pending_bytes`` (None: max(4 MiB, max_message_bytes)) and
        ``max_pending_messages`` bound what one connection may have handed to
        Python (TextEvent/BinaryEvent) and not yet reported with ``consumed``;
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
        namespace: str = ...,
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
    def poll(self) -> tuple[list[Event], bool]:
        """Do all ready work: (events, more); ``more``: call again soon."""
    def consumed(self, conn: int, nbytes: int, messages: int = 1) -> None:
        """Python is done with ``messages`` TextEvent/BinaryEvent of ``conn`` (``nbytes``:
        their ``size``s summed). Every such event must be reported, or the connection
        stalls."""
    def flush(self) -> None: ...
    def send(self, conn: int, data: str | bytes) -> bool:
        """False when ``conn`` is not open; raises scanbridge.errors.QueueFull when
        its queue overflowed (the core closes it with 1008)."""
    def join(self, conn: int, room: str) -> bool: ...
    def leave(self, conn: int, room: str) -> bool: ...
    def publish(
        self, room: str, data: str | bytes, exclude: int | None = None
    ) -> tuple[int, int]: ...
    def publish_event(
        self, namespace: str, room: str, sender: str, message: str, exclude: int | None = None
    ) -> tuple[int, int]: ...
    def reply_clients(self, conn: int, namespace: str, room: str, names: list[str]) -> bool: ...
    def set_backplane(self, on: bool) -> None: ...
    def namespace_rooms(self, namespace: str) -> list[tuple[str, list[str]]]: ...
    def room_member_names(self, namespace: str, room: str) -> list[str]: ...
    def rooms_of(self, conn: int) -> list[str]: ...
    def rooms(self) -> list[tuple[str, int]]: ...
    def close(self, conn: int, code: int = 1000, reason: str = "") -> bool: ...
    def accept(
        self, conn: int, headers: list[tuple[str, str]] = ...
    ) -> tuple[bool, list[Event]]: ...
    def respond(
        self, conn: int, status: int, headers: list[tuple[str, str]], body: bytes
    ) -> bool: ...
    def tick(self) -> list[Event]: ...
    def shutdown(self, code: int = 1001, reason: str = "server shutting down") -> None: ...
    def endpoint_paths(self) -> list[str]: ...
    def connection_count(self) -> int: ...
    def connection_ids(self) -> list[int]: ...
    def connection_info(self, conn: int) -> dict[str, Any] | None: ...
    def stats(self) -> dict[str, int]: ...
    def accept_notices(self) -> list[AcceptNotice]:
        """Accepting connections failed (out of file descriptors; retried every
        0.5 s) or works again, since the last call."""

def self_signed_cert(names: list[str]) -> tuple[str, str, str]: ...
def load_pem_files(certfile: str, keyfile: str) -> tuple[bytes, bytes]: ...
def close_problem(code: int, reason: str = "") -> str | None:
    """None when a close with ``code`` and ``reason`` may be sent (an RFC 6455
    code, a reason of at most 123 bytes), else why not (one line)."""

def origin_allowed(origin: str | None, patterns: list[str]) -> bool:
    """The WebSocket upgrade's Origin rule (rust/py/src/rules.rs), for HTTP routes."""

def room_key(namespace: str, room: str) -> str:
    """The key of ``room`` in ``namespace`` in the room table (shared with the backplane)."""

def member_field(namespace: str, room: str, conn: int) -> str:
    """The backplane's hash field for member ``conn`` of a room."""

def member_field_room_key(field: str) -> str | None:
    """The room key a member field belongs to; None for a field of another form."""

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

@final
class KeyScan:
    """A code a keyboard-wedge scanner typed: ``text`` as the layout reads it,
    ``raw`` the key bytes, ``first_ts``/``last_ts`` seconds on the events'
    clock, ``human`` True when the typing was too slow for a scanner."""

    __match_args__ = ("text", "raw", "first_ts", "last_ts", "human")
    __hash__: ClassVar[None]  # type: ignore[assignment]
    def __new__(
        cls, text: str, raw: bytes, first_ts: float, last_ts: float, human: bool
    ) -> Self: ...
    def __eq__(self, other: object, /) -> bool: ...
    @property
    def text(self) -> str: ...
    @property
    def raw(self) -> bytes: ...
    @property
    def first_ts(self) -> float: ...
    @property
    def last_ts(self) -> float: ...
    @property
    def human(self) -> bool: ...

@final
class KeyboardDecoder:
    """`input_event` records of a keyboard-wedge scanner to codes.

    Codes come out as KeyScan objects; times are seconds on the events'
    clock. ``terminators`` None: "enter" and "kp_enter".
    """

    def __new__(
        cls,
        layout: str = "us",
        terminators: list[str] | tuple[str, ...] | None = None,
        inter_key_timeout: float = 0.05,
        min_length: int = 1,
        max_avg_gap: float | None = None,
    ) -> Self: ...
    def feed(self, data: bytes) -> list[KeyScan]: ...
    def flush_idle(self, now: float) -> list[KeyScan]: ...
    def flush(self) -> list[KeyScan]: ...
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
    terminator: str | None = ...,
) -> bytes: ...
def layouts() -> list[str]: ...
def symbology_name(aim: str, data: bytes | None = None) -> str | None: ...

@final
class PosScan:
    """A code a HID POS scanner reported: its AIM identifier (``]E0``), if the
    report had one, and the code's bytes."""

    __match_args__ = ("aim_id", "data")
    __hash__: ClassVar[None]  # type: ignore[assignment]
    def __new__(cls, aim_id: str | None, data: bytes) -> Self: ...
    def __eq__(self, other: object, /) -> bool: ...
    @property
    def aim_id(self) -> str | None: ...
    @property
    def data(self) -> bytes: ...

@final
class HidPosParser:
    """A HID POS (usage page 0x8C) scanner's reports, from its report descriptor."""

    def __new__(cls, descriptor: bytes) -> Self: ...
    def feed_report(self, report: bytes) -> PosScan | None: ...
    def beep_report(self) -> bytes | None: ...
    def error_report(self) -> bytes | None: ...
    def reset(self) -> None: ...
    @property
    def report_id(self) -> int: ...
    @property
    def pending(self) -> bool: ...

# WebSocket client codec (rust/py/src/client.rs), used by scanbridge.client.

@final
class TextMessage:
    """A text message from the server (``ClientCodec.feed``)."""

    __match_args__ = ("data",)
    __hash__: ClassVar[None]  # type: ignore[assignment]
    def __new__(cls, data: str) -> Self: ...
    def __eq__(self, other: object, /) -> bool: ...
    @property
    def data(self) -> str: ...

@final
class BinaryMessage:
    """A binary message from the server."""

    __match_args__ = ("data",)
    __hash__: ClassVar[None]  # type: ignore[assignment]
    def __new__(cls, data: bytes) -> Self: ...
    def __eq__(self, other: object, /) -> bool: ...
    @property
    def data(self) -> bytes: ...

@final
class PingMessage:
    """A ping from the server: answer it with a pong of the same ``data``."""

    __match_args__ = ("data",)
    __hash__: ClassVar[None]  # type: ignore[assignment]
    def __new__(cls, data: bytes) -> Self: ...
    def __eq__(self, other: object, /) -> bool: ...
    @property
    def data(self) -> bytes: ...

@final
class PongMessage:
    """A pong from the server."""

    __match_args__ = ("data",)
    __hash__: ClassVar[None]  # type: ignore[assignment]
    def __new__(cls, data: bytes) -> Self: ...
    def __eq__(self, other: object, /) -> bool: ...
    @property
    def data(self) -> bytes: ...

@final
class CloseMessage:
    """The server's close frame (``code`` 1005: it sent none)."""

    __match_args__ = ("code", "reason")
    __hash__: ClassVar[None]  # type: ignore[assignment]
    def __new__(cls, code: int, reason: str) -> Self: ...
    def __eq__(self, other: object, /) -> bool: ...
    @property
    def code(self) -> int: ...
    @property
    def reason(self) -> str: ...

ClientMessage: TypeAlias = TextMessage | BinaryMessage | PingMessage | PongMessage | CloseMessage

@final
class ClientCodec:
    """One client connection's framing: masked frames out, server frames in.

    `deflate_response` is the server's Sec-WebSocket-Extensions value when
    the offer from `client_deflate_offer()` (same keyword arguments) was
    answered; a response that breaks RFC 7692 raises
    scanbridge.errors.DeflateError (a ValueError).
    """

    def __new__(
        cls,
        max_message_bytes: int = 16 * 1024 * 1024,
        deflate_response: str | None = None,
        *,
        client_max_window_bits: int | None = None,
        client_no_context_takeover: bool = False,
        compression_level: int = 1,
        compress_min_size: int = 32,
    ) -> Self: ...
    def encode(self, opcode: int, payload: bytes, fin: bool = True) -> bytes: ...
    def encode_close(self, code: int | None = None, reason: str = "") -> bytes: ...
    def feed(self, data: bytes) -> list[ClientMessage]: ...
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
