"""The App: configuration, endpoints and HTTP routes over the Rust core."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from . import _core
from .config import Config, ConfigError
from .core_handle import CoreHandle
from .dispatch import Dispatcher
from .endpoint import Endpoint
from .http import Request, Response, Router
from .listeners import ListenerInfo, Listeners
from .scan import Scan
from .session import Session
from .session_registry import SessionRegistry

if TYPE_CHECKING:
    from .streams.service import StreamsService

log = logging.getLogger("scanbridge")
_TextEvent, _BinaryEvent = _core.TextEvent, _core.BinaryEvent

E = TypeVar("E", bound=type[Endpoint] | Endpoint)
H = TypeVar("H", bound=Callable[..., Any])

TICK_SECONDS = 0.5


async def _stop_logged(what: str, stop: Callable[[], Awaitable[None]]) -> None:
    """Await ``stop()``; an error is logged, so that what is stopped after it still is."""
    try:
        await stop()
    except Exception:
        log.exception("stopping %s failed", what)


class App:
    """A scanbridge server: ``App(Config(...))``, endpoints, then ``run()``."""

    def __init__(self, config: Config | None = None, **overrides: Any) -> None:
        if config is None:
            config = Config(**overrides)
        elif overrides:
            raise TypeError("pass either a Config or keyword overrides, not both")
        self.config = config
        self._endpoints: list[tuple[list[str], Endpoint, dict[str, Any]]] = []
        self.router = Router()
        self.router.add("GET", "/healthz", self._healthz)
        self._core: _core.Server | None = None
        #: The open sessions of Python endpoints (handed to the admin).
        self.session_registry = SessionRegistry()
        self._loop: asyncio.AbstractEventLoop | None = None
        #: The narrow handle to the core that subsystems get (not the App).
        self.core = CoreHandle(lambda: self._core, lambda: self._loop)
        self._stopping: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._tick_handle: asyncio.TimerHandle | None = None
        #: The listening ports (main, [[ports]], admin).
        self.ports = Listeners(config.host, config.port)
        self.tls_fingerprint: str | None = None
        #: SO_REUSEPORT on the main listener (set by --workers).
        self.reuse_port = False
        self._room_hooks: list[Callable[..., Any]] = []
        self._scan_hooks: list[Callable[[Scan], Any]] = []
        self._command_hooks: list[Callable[..., Any]] = []
        self._extra_sources: list[Any] = []
        #: The Streams API's service once started (config.streams), else None.
        self.streams: StreamsService | None = None
        self.backplane: Any = None  # RedisBackplane once started (config.redis_url)
        self._dispatcher = Dispatcher(
            self.core,
            self.session_registry,
            self.router,
            self._room_hooks,
            lambda: self.backplane,
            self._spawn,
        )
        from .routes import install_routes

        install_routes(self)
        from .admin import install_admin

        install_admin(self)
        from .jobs import JobService, install_jobs

        #: The job-progress sockets' service (None when ``[jobs]`` is off).
        self.jobs: JobService | None = install_jobs(self)

    def _healthz(self, request: Request) -> Response:
        """``ok``, or 503 naming what is broken (the journal cannot store)."""
        svc = self.streams
        if svc is not None and not svc.healthy:
            return Response.text(f"journal cannot store: {svc.journal.last_error}", 503)
        return Response.text("ok")

    # ---- registration ---------------------------------------------------

    def endpoint(
        self,
        path: str,
        *aliases: str,
        subprotocols: list[str] | tuple[str, ...] = (),
        auth: Any = None,
        idle_timeout: float | None = None,
        ping_interval: float | None = None,
    ) -> Callable[[E], E]:
        """Class decorator: serve this Endpoint subclass (or instance) at ``path``.

        ``auth`` is checked before the upgrade (an object with
        ``authorize(request) -> Response | None``, e.g. ``scanbridge.BearerAuth``);
        ``idle_timeout`` / ``ping_interval`` (seconds, 0 = off) override the server's.
        """

        def register(target: E) -> E:
            obj = target() if isinstance(target, type) else target
            if not isinstance(obj, Endpoint):
                raise TypeError("@app.endpoint decorates a scanbridge.Endpoint subclass")
            obj.path = path
            self.add_endpoint(
                [path, *aliases],
                obj,
                subprotocols=list(subprotocols),
                auth=auth,
                idle_timeout=idle_timeout,
                ping_interval=ping_interval,
            )
            return target

        return register

    def add_endpoint(self, paths: list[str], endpoint: Endpoint, **options: Any) -> None:
        for p in paths:
            if not p.startswith("/"):
                raise ValueError(f"endpoint path {p!r} must start with '/'")
        if self._core is not None:
            raise RuntimeError("endpoints must be added before the server starts")
        self._endpoints.append((paths, endpoint, options))

    def route(self, method: str, path: str) -> Callable[[H], H]:
        """Decorator for an HTTP handler ``(request) -> Response`` (sync or async)."""

        def register(fn: H) -> H:
            self.router.add(method, path, fn)
            return fn

        return register

    def on_scan(self, fn: H) -> H:
        """Decorator: ``fn(scan)`` (sync or async) runs for every scan before it is
        published; returning False stops it. An exception is logged, delivery goes on."""
        self._scan_hooks.append(fn)
        if self.streams is not None:
            self.streams.scan_hooks.append(fn)
        return fn

    def on_command(self, fn: H) -> H:
        """Decorator: ``fn(command, session)`` runs for every valid Streams command."""
        self._command_hooks.append(fn)
        if self.streams is not None:
            self.streams.command_hooks.append(fn)
        return fn

    def on_room_message(self, fn: H) -> H:
        """Decorator: ``fn(namespace, room, sender, message)`` sees every NOTIFY on
        /layout and /bus before it is published (sync or async); returning False
        vetoes it. Registering one is what makes room traffic cross into Python."""
        if self._core is not None:
            raise RuntimeError("room hooks must be registered before the server starts")
        self._room_hooks.append(fn)
        return fn

    async def publish(
        self, namespace: str, room: str, message: Any, *, sender: str = "server"
    ) -> int:
        """Send ``["EVENT", {"sender", "room", "message"}]`` to every member of a room;
        returns how many received it. ``message`` is any JSON-serialisable value."""
        if self._core is None:
            raise RuntimeError("the server is not running")
        raw = json.dumps(message)
        delivered, _ = self._core.publish_event(namespace, room, sender, raw)
        self.core.flush_soon()
        if self.backplane is not None:
            self.backplane.forward(namespace, room, sender, raw)
        return delivered

    def rooms(self, namespace: str) -> list[str]:
        """Rooms of a namespace that have members."""
        return [] if self._core is None else [r for r, _ in self._core.namespace_rooms(namespace)]

    def members(self, namespace: str, room: str) -> list[str]:
        """Names the members of a room joined under."""
        return [] if self._core is None else self._core.room_member_names(namespace, room)

    def add_source(self, source: Any) -> None:
        """Add a scanner source (a ``scanbridge.scanners.Source``) before start."""
        self._extra_sources.append(source)

    async def inject_scan(
        self,
        code: str,
        device_serial: str | None = None,
        *,
        raw: bytes | None = None,
        symbology: str | None = None,
        event_id: str | None = None,
    ) -> Scan | None:
        """Publish a scan as if a scanner read it (POST /api/scans does this).

        ``event_id`` (a UUID chosen by the caller) becomes the event's id.
        """
        if self.streams is None:
            raise RuntimeError("the Streams service is not running")
        scan = Scan(
            code,
            raw if raw is not None else code.encode(),
            device_serial or "API-0001",
            symbology=symbology,
            source="api",
            event_id=event_id or "",
        )
        return await self.streams.publish_scan(scan)

    def _handle_config_barcode(self, scan: Scan) -> bool:
        """True when the scan was a configuration barcode (applied or refused, never published)."""
        from .config_barcode import handle_config_barcode

        return handle_config_barcode(self, scan)

    def apply_config(self, new: Config, changes: dict[str, Any]) -> None:
        """Apply a validated change at run time (configuration barcodes)."""
        old_port = self.config.port
        if "port" in changes and new.port != old_port and self._core is not None:
            if not self.ports.rebind(self._core, new.port):
                new = msgspec.structs.replace(new, port=old_port)
        self.config = new  # the Streams service reads it through its config getter
        if "log_level" in changes:
            logging.getLogger().setLevel(new.log_level.upper())

    # ---- listeners (scanbridge.listeners) ---------------------------------

    @property
    def listeners(self) -> dict[int, ListenerInfo]:
        return self.ports.info

    @property
    def host(self) -> str:
        return self.ports.host

    @property
    def port(self) -> int:
        return self.ports.port

    def listener_id(self, alias: str) -> int | None:
        """The core's id of the listener with this alias."""
        return self.ports.id_of(alias)

    def port_alias(self, listener: int) -> str:
        return self.ports.alias_of(listener)

    def set_port_enabled(self, alias: str, enabled: bool) -> ListenerInfo:
        """Enable or disable a listener by alias (PATCH /admin/api/ports/{alias})."""
        core = self._core
        if core is None:
            raise RuntimeError("the server is not running")
        return self.ports.set_enabled(core, alias, enabled)

    # ---- sessions -------------------------------------------------------

    @property
    def sessions(self) -> list[Session]:
        return self.session_registry.all()

    def session(self, session_id: str) -> Session | None:
        return self.session_registry.get(session_id)

    async def send(self, session_id: str, data: str | bytes) -> None:
        """Send to any session by its id (webMethods pub.websocket:send)."""
        s = self.session_registry.get(session_id)
        if s is None:
            raise KeyError(f"no session {session_id}")
        s.send_nowait(data)

    # ---- the core's events (scanbridge.dispatch) -------------------------

    def _on_ready(self) -> None:
        core = self._core
        if core is None:
            return
        try:
            events, more = core.poll()
        except OSError:
            log.exception("poll failed")
            return
        if events:
            self._dispatcher.dispatch(events)
        if more and self._loop is not None:
            self._loop.call_soon(self._on_ready)

    def _tick(self) -> None:
        if self._core is None or self._loop is None:
            return
        events = self._core.tick()
        if events:
            self._dispatcher.dispatch(events)
        for n in self._core.accept_notices():
            if n.failing:
                log.error(
                    "cannot accept connections on %s: %s; they wait in the backlog, "
                    "retried every 0.5 s (too many open files: raise ulimit -n)",
                    n.address,
                    n.detail,
                )
            else:
                log.warning(
                    "accepting connections on %s again (%s tries failed)", n.address, n.detail
                )
        self._tick_handle = self._loop.call_later(TICK_SECONDS, self._tick)

    def _spawn(self, coro: Any) -> None:
        assert self._loop is not None
        t = self._loop.create_task(coro)
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    # ---- lifecycle ------------------------------------------------------

    def _tls_pems(self) -> tuple[bytes, bytes] | None:
        c = self.config
        if c.ssl_certfile and c.ssl_keyfile:
            try:
                return _core.load_pem_files(c.ssl_certfile, c.ssl_keyfile)
            except (OSError, ValueError) as e:
                raise ConfigError(
                    f"cannot be used: {e}", key="ssl_certfile", value=c.ssl_certfile
                ) from None
        if c.https:
            names = sorted({"localhost", "127.0.0.1", "::1", c.host})
            cert, key, fp = _core.self_signed_cert(names)
            self.tls_fingerprint = fp
            log.warning("https: self-signed certificate, SHA-256 fingerprint %s", fp)
            return cert.encode(), key.encode()
        return None

    def _build_core(self) -> _core.Server:
        c = self.config
        core = _core.Server(
            max_message_bytes=c.max_message_bytes,
            max_queue_bytes=c.max_queue_bytes,
            compression=c.compression,
            compression_context_takeover=c.compression_context_takeover,
            allowed_origins=list(c.allowed_origins),
            idle_timeout=c.idle_timeout,
            ping_interval=c.ping_interval,
            max_pending_bytes=c.max_pending_bytes,
            max_pending_messages=c.max_pending_messages,
            max_rooms_per_connection=c.max_rooms_per_connection,
        )
        self._dispatcher.endpoints.clear()
        self._dispatcher.auth.clear()
        if c.echo:
            core.add_endpoint(["/echo"], "echo")
        if c.rooms:
            hook = bool(self._room_hooks)
            for ns in _core.ROOM_NAMESPACES:
                core.add_endpoint([f"/{ns}"], "rooms", namespace=ns, room_hook=hook)
            lobby = _core.LOBBY_NAMESPACE
            core.add_endpoint([f"/{lobby}"], "lobby", namespace=lobby)
            # Socket.IO clients (websocket transport) on the same namespaces;
            # Engine.IO v4 expects the server to ping every pingInterval.
            core.add_endpoint(
                ["/socket.io/", "/socket.io"], "socketio", room_hook=hook, ping_interval=25.0
            )
        for paths, ep, options in self._endpoints:
            auth = options.get("auth")
            asks = getattr(ep, "asks_upgrade", None)
            if asks is None:
                asks = type(ep).on_upgrade is not Endpoint.on_upgrade
            endpoint_id = core.add_endpoint(
                paths,
                "python",
                subprotocols=options.get("subprotocols", []),
                ask_upgrade=bool(asks or auth is not None),
                idle_timeout=options.get("idle_timeout"),
                ping_interval=options.get("ping_interval"),
            )
            self._dispatcher.serve(endpoint_id, ep, auth)
        return core

    def _start_streams(self) -> StreamsService:
        from .scanners import make_source
        from .streams.endpoint import StreamsEndpoint
        from .streams.service import StreamsService

        svc = StreamsService(self.core, lambda: self.config, self._handle_config_barcode)
        svc.scan_hooks.extend(self._scan_hooks)
        svc.command_hooks.extend(self._command_hooks)
        for i, sc in enumerate(self.config.scanners):
            svc.add_source(make_source(sc, i))
        for src in self._extra_sources:
            svc.add_source(src)
        self.streams = svc
        self._endpoints.insert(0, (["/", "/streams"], StreamsEndpoint(svc), {}))
        return svc

    @property
    def scheme(self) -> str:
        return "wss" if (self.config.https or self.config.ssl_certfile) else "ws"

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    async def start(self) -> None:
        """Bind and start serving in the running loop; returns once listening.

        Raises :class:`ConfigError` (one line) when a listener cannot be opened
        or a part cannot start; nothing is left bound or running then, and
        ``start()`` may be called again."""
        if self._core is not None:
            raise RuntimeError("already started")
        self.config.check_exposure()  # no Streams API on the network without a token
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        streams_entry: Any = None
        core: _core.Server | None = None
        try:
            pems = self._tls_pems()
            if self.config.streams and self.streams is None:
                svc = self._start_streams()
                streams_entry = self._endpoints[0]
                svc.preflight()
            core = self._build_core()
            self.ports.open_main(
                core, self.config.host, self.config.port, pems, reuse_port=self.reuse_port
            )
            for i, pc in enumerate(self.config.ports):
                self.ports.open_port(core, i, pc)
            if self.config.admin.port is not None:
                from .config import PortConfig

                admin = PortConfig(
                    alias="admin", port=self.config.admin.port, host=self.config.admin.host
                )
                self.ports.open_port(core, -1, admin)
            self._core = core
            self._loop.add_reader(core.fileno(), self._on_ready)
            self._tick_handle = self._loop.call_later(TICK_SECONDS, self._tick)
            if self.config.redis_url:
                from .backplane import RedisBackplane

                self.backplane = RedisBackplane(self.core, self.config.redis_url)
                await self.backplane.start()
            if self.streams is not None:
                await self.streams.start()
        except BaseException:
            await self._undo_start(core, streams_entry)
            raise
        log.info("listening on %s", self.url)

    async def _undo_start(self, core: _core.Server | None, streams_entry: Any) -> None:
        """A start that failed part-way: close what it opened (listeners, the
        journal, Redis), so that nothing stays bound and start() works again."""
        if self.backplane is not None:
            try:
                await self.backplane.stop()
            except Exception:
                log.exception("stopping the Redis backplane after a failed start")
            self.backplane = None
        if streams_entry is not None and self.streams is not None:
            try:
                await self.streams.stop()  # its sources, writer and journal
            except Exception:
                log.exception("stopping the Streams service after a failed start")
            self.streams = None
            self._endpoints = [e for e in self._endpoints if e is not streams_entry]
        if self._tick_handle is not None:
            self._tick_handle.cancel()
            self._tick_handle = None
        if core is not None:
            if self._loop is not None:
                self._loop.remove_reader(core.fileno())
            for lid, *_ in core.listeners():
                try:
                    core.set_listener_enabled(lid, False)  # closes its socket now
                except OSError:
                    pass
            core.shutdown(1001, "server failed to start")
        self._core = None
        self.ports.clear(self.config.host, self.config.port)

    async def stop(self, timeout: float | None = None) -> None:
        """Close every session with 1001, flush, and stop listening. Callbacks
        still running get what is left of ``timeout``, then are cancelled."""
        core = self._core
        if core is None or self._loop is None:
            return
        if timeout is None:
            timeout = self.config.shutdown_timeout
        deadline = time.monotonic() + timeout
        # A subsystem that fails to stop is logged; the others and the core
        # are stopped anyway (also when this stop is cancelled on the way).
        try:
            if self.streams is not None:
                await _stop_logged("the Streams service", self.streams.stop)
        finally:
            try:
                if self.backplane is not None:
                    await _stop_logged("the backplane", self.backplane.stop)
                    self.backplane = None
            finally:
                await self._stop_core(core, deadline)

    async def _stop_core(self, core: _core.Server, deadline: float) -> None:
        """Shut the core down (1001), close what is left, cancel callbacks
        still running at ``deadline``, unbind; each step runs whatever the
        one before it did."""
        assert self._loop is not None
        try:
            core.shutdown(1001, "server shutting down")
            while core.connection_count() and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
                self._dispatcher.dispatch(core.tick())
        finally:
            self._loop.remove_reader(core.fileno())
            if self._tick_handle is not None:
                self._tick_handle.cancel()
                self._tick_handle = None
            try:
                # Sessions still open get their on_close.
                for conn in self.session_registry.conns():
                    self._dispatcher.dispatch([_core.CloseEvent(conn, 1006, "")])
            finally:
                current = asyncio.current_task()
                pending = {t for t in self._tasks if t is not current and not t.done()}
                if pending:
                    await asyncio.wait(pending, timeout=max(0.1, deadline - time.monotonic()))
                    for t in pending:
                        t.cancel()
                    await asyncio.wait(pending, timeout=1.0)
                self._core = None
                self.ports.clear(self.config.host, self.config.port)
                if self._stopping is not None:
                    self._stopping.set()

    async def serve(self) -> None:
        """Start, serve until ``stop()`` (or cancellation), then stop."""
        await self.start()
        assert self._stopping is not None
        try:
            await self._stopping.wait()
        finally:
            await self.stop()

    def run(self) -> None:
        """Serve until SIGINT/SIGTERM, under uvloop when available; exit cleanly."""

        async def main() -> None:
            # Handlers first: a SIGTERM right after the port opens must close cleanly.
            loop = asyncio.get_running_loop()
            stop = asyncio.Event()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await self.start()
            if not log.isEnabledFor(logging.INFO):  # start() logged it otherwise
                print(f"scanbridge: listening on {self.url}", file=sys.stderr, flush=True)
            await stop.wait()
            log.info("stopping")
            await self.stop()

        try:
            import uvloop

            uvloop.run(main())
        except ImportError:
            asyncio.run(main())
