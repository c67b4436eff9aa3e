"""What the core reports, acted on: sessions of Python endpoints (their
callbacks kept in order per session, input reported consumed when a callback
finished), upgrades (auth, then ``on_upgrade``), HTTP requests (the router),
NOTIFYs through the room hooks (one connection's in order), and the
backplane's room events.

The :class:`Dispatcher` gets narrow handles, not the App: the core handle,
the session registry, the router, the room hooks, a backplane getter and a
task spawner; the App tells it which endpoint object serves which endpoint
id (:meth:`Dispatcher.serve`).
"""

from __future__ import annotations

import inspect
import json
import logging
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

from . import _core
from .core_handle import CoreHandle
from .endpoint import NOTHING, Endpoint
from .headers import Headers
from .hooks import call_hook
from .http import HTTPError, Request, Response, Router
from .session import Session, SessionClosed
from .session_registry import SessionRegistry

log = logging.getLogger("scanbridge")
_TextEvent, _BinaryEvent = _core.TextEvent, _core.BinaryEvent

__all__ = ["Dispatcher"]


class Dispatcher:
    """Acts on the core's events (see the module doc)."""

    def __init__(
        self,
        core: CoreHandle,
        sessions: SessionRegistry,
        router: Router,
        room_hooks: list[Callable[..., Any]],
        backplane: Callable[[], Any],
        spawn: Callable[[Coroutine[Any, Any, Any]], None],
    ) -> None:
        self.core = core
        self.sessions = sessions
        self.router = router
        #: Called with each NOTIFY before it is published (False vetoes it).
        self.room_hooks = room_hooks
        self.backplane = backplane
        self.spawn = spawn
        #: The endpoint object and auth of each Python endpoint id (serve()).
        self.endpoints: dict[int, Endpoint] = {}
        self.auth: dict[int, Any] = {}
        #: NOTIFYs waiting for the room hooks, per connection.
        self.room_queues: dict[int, deque[_core.RoomNotifyEvent]] = {}

    def serve(self, endpoint_id: int, endpoint: Endpoint, auth: Any = None) -> None:
        """``endpoint`` answers the core's endpoint ``endpoint_id``."""
        self.endpoints[endpoint_id] = endpoint
        if auth is not None:
            self.auth[endpoint_id] = auth

    def dispatch(self, events: list[_core.Event]) -> None:
        """Act on what the core reported (in order)."""
        session_of = self.sessions.by_conn  # bound once: hot path
        for ev in events:
            # Messages first, by exact type: a class pattern (match) costs
            # about 3x the attribute reads on this hot path.
            kind = type(ev)
            if kind is _TextEvent or kind is _BinaryEvent:
                conn, data, size = ev.conn, ev.data, ev.size  # type: ignore[union-attr]
                # size goes back to the core (consumed) once the callback
                # for the message finished.
                s = session_of(conn)
                if s is None or s.failed:
                    if s is not None:
                        s.dropped += 1
                    self.core.consumed(conn, size)
                    continue
                ep = s.endpoint
                fn = ep.on_text if kind is _TextEvent else ep.on_binary
                if s.busy:
                    s.pending.append((fn, (data,), size))
                else:
                    self._call(s, fn, data, nbytes=size)
                continue
            match ev:
                case _core.OpenEvent():
                    self._open(ev)
                case _core.CloseEvent(conn, code, reason):
                    s = self.sessions.remove(conn)
                    if s is not None:
                        s.closed = True
                        s.close_code, s.close_reason = code, reason
                        self._call(s, s.endpoint.on_close, code, reason)
                        self._call(s, self._closed_summary)
                case _core.PanicEvent(conn, message):
                    log.error(
                        "internal error (a bug) while handling connection %d: %s; "
                        "it was closed with 1011",
                        conn,
                        message,
                    )
                case _core.HttpEvent():
                    self.spawn(self._http(ev))
                case _core.UpgradeEvent():
                    self.spawn(self._upgrade(ev))
                case _core.RoomNotifyEvent():
                    self._room_notify(ev)
                case _core.RoomForwardEvent(ns, room, sender, message):
                    bp = self.backplane()
                    if bp is not None:
                        bp.forward(ns, room, sender, message)
                case _core.RoomMembershipEvent(conn, ns, room, name, joined):
                    bp = self.backplane()
                    if bp is not None:
                        bp.membership(conn, ns, room, name, joined)
                case _core.RoomClientsEvent(conn, ns, room):
                    bp = self.backplane()
                    if bp is not None:
                        self.spawn(bp.clients(conn, ns, room))

    def _room_notify(self, ev: _core.RoomNotifyEvent) -> None:
        """A NOTIFY with room hooks: publish unless a hook says False. One
        connection's NOTIFYs go through the hooks one at a time, in order."""
        conn = ev.conn
        q = self.room_queues.get(conn)
        if q is None:
            q = self.room_queues[conn] = deque()
            self.spawn(self._drain_room_queue(conn, q))
        q.append(ev)

    async def _drain_room_queue(self, conn: int, q: deque[_core.RoomNotifyEvent]) -> None:
        try:
            while q:
                await self._room_notify_one(q.popleft())
        finally:
            del self.room_queues[conn]

    async def _room_notify_one(self, ev: _core.RoomNotifyEvent) -> None:
        conn, ns, room, sender, raw = ev.conn, ev.namespace, ev.room, ev.sender, ev.message
        message = json.loads(raw)
        for hook in self.room_hooks:
            if await call_hook(hook, ns, room, sender, message, log=log, what="room") is False:
                return
        if self.core.running:
            self.core.publish_event(ns, room, sender, raw, exclude=conn)
            bp = self.backplane()
            if bp is not None:
                bp.forward(ns, room, sender, raw)

    async def _upgrade(self, ev: _core.UpgradeEvent) -> None:
        """An endpoint's on_upgrade decides: accept (with headers) or refuse."""
        conn, path = ev.conn, ev.path
        ep = self.endpoints[ev.endpoint]
        auth = self.auth.get(ev.endpoint)
        headers = Headers(list(ev.headers))
        req = Request("GET", path, ev.query, headers, b"", ev.peer, ev.listener, conn=conn)
        try:
            r = auth.authorize(req) if auth is not None else None
            if inspect.isawaitable(r):
                r = await r
            if r is None:
                r = ep.on_upgrade(req)
                if inspect.isawaitable(r):
                    r = await r
        except HTTPError as e:
            r = e.response()
        except Exception:
            log.exception("on_upgrade of %s failed", path)
            r = Response.json({"error": "internal error"}, 500)
        if isinstance(r, Response):
            self.core.respond(conn, r.status, r.headers, r.body)
        else:
            events = self.core.accept(conn, list(r or []))
            if events:
                self.dispatch(events)

    def _open(self, ev: _core.OpenEvent) -> None:
        conn = ev.conn
        ep = self.endpoints[ev.endpoint]
        s = Session(
            self.core,
            conn,
            ep,
            ev.listener,
            ev.path,
            ev.query,
            list(ev.headers),
            ev.peer,
            ev.subprotocol,
        )
        self.sessions.add(s)
        self._call(s, ep.on_connect)

    def _call(self, s: Session, fn: Callable[..., Any], *args: Any, nbytes: int = -1) -> None:
        """Run a session callback, keeping the session's callbacks in order.
        ``nbytes`` >= 0: the callback handles a message of that size, reported
        consumed to the core when it finished (or was dropped)."""
        if s.busy:
            s.pending.append((fn, args, nbytes))
            return
        try:
            r = fn(s, *args)
        except Exception as e:
            self._error(s, e)
            r = None
        if r is not NOTHING and inspect.isawaitable(r):
            s.busy = True
            self.spawn(self._drain(s, r, nbytes))
        elif nbytes >= 0:
            self.core.consumed(s.conn, nbytes)

    async def _drain(self, s: Session, first: Any, nbytes: int) -> None:
        try:
            await first
        except Exception as e:
            self._error(s, e)
        if nbytes >= 0:
            self.core.consumed(s.conn, nbytes)
        q = s.pending
        while q:
            fn, args, nbytes = q.popleft()
            if nbytes >= 0 and s.failed:
                # It can no longer answer: messages are dropped (counted), on_close still runs.
                s.dropped += 1
                self.core.consumed(s.conn, nbytes)
                continue
            try:
                r = fn(s, *args)
                if r is not NOTHING and inspect.isawaitable(r):
                    await r
            except Exception as e:
                self._error(s, e)
            if nbytes >= 0:
                self.core.consumed(s.conn, nbytes)
        s.busy = False

    def _error(self, s: Session, exc: BaseException) -> None:
        """A session callback raised. Logged once per session and cause (the
        exception's type); later ones of that cause are counted and summed up
        in one line when the session closes."""
        if isinstance(exc, SessionClosed):
            s.failed = True
        cause = type(exc).__qualname__
        n = s.callback_errors[cause] = s.callback_errors.get(cause, 0) + 1
        if n == 1:
            log.error("callback error in %s session %s: %r", s.path, s.id, exc, exc_info=exc)
        elif type(s.endpoint).on_error is Endpoint.on_error:
            return  # the default on_error only logs
        try:
            r = s.endpoint.on_error(s, exc)
            if r is not NOTHING and inspect.isawaitable(r):
                self.spawn(self._guard(r))
        except Exception:
            log.exception("on_error raised")

    def _closed_summary(self, s: Session) -> None:
        """One line for what was not logged per message of a closed session."""
        repeated = {c: n - 1 for c, n in s.callback_errors.items() if n > 1}
        if repeated or s.dropped:
            log.warning(
                "%s session %s closed (%s): %s; %d message(s) dropped after it failed",
                s.path,
                s.id,
                s.close_code,
                ", ".join(f"{n} more {c}" for c, n in repeated.items()) or "no more errors",
                s.dropped,
            )

    async def _guard(self, aw: Any) -> None:
        try:
            await aw
        except Exception:
            log.exception("on_error raised")

    async def _http(self, ev: _core.HttpEvent) -> None:
        conn, method, path = ev.conn, ev.method, ev.path
        headers = Headers(list(ev.headers))
        req = Request(method, path, ev.query, headers, ev.body, ev.peer, ev.listener, conn=conn)
        handler, params, exists = self.router.match(method, path)
        try:
            if handler is None:
                if exists:
                    resp = Response.json({"error": f"{method} not allowed on {path}"}, 405)
                else:
                    resp = Response.json({"error": f"no route for {path}"}, 404)
            else:
                req.params = params
                r = handler(req)
                resp = await r if inspect.isawaitable(r) else r
        except HTTPError as e:
            resp = e.response()
        except Exception as e:
            log.exception("HTTP handler for %s %s failed", method, path)
            resp = Response.json({"error": f"internal error: {type(e).__name__}"}, 500)
        body_out = b"" if method == "HEAD" else resp.body
        self.core.respond(conn, resp.status, resp.headers, body_out)
