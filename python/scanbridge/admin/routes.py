"""The admin page and its JSON API (PROTOCOLS.md section 4).

Sessions are every open WebSocket connection the Rust core holds (echo, Streams,
Python endpoints alike). Every session id is a UUID: a connection of a Python
endpoint has its :class:`~scanbridge.session.Session` id, one the core handles
itself (``/echo``, rooms) an id derived from the core's connection number with a
key of this server run (so it is stable while the connection lives and never
names a later connection). The core's number is in each row as ``conn``.

Connection counts in ``/admin/api/stats`` are of WebSocket connections: the
HTTP requests open at that moment (among them the admin page's own polls) are
counted apart, as ``core.http_connections_open``.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import math
import secrets
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .. import _core
from ..errors import QueueFull
from ..http import HTTPError, Request, Response
from ..routes import static_text
from ..session import Session, SessionClosed
from . import metrics
from .auth import AdminAuth

if TYPE_CHECKING:
    from ..core_handle import CoreQueries
    from ..host import AdminHost

PAGE_SIZE = 50

Handler = Callable[[Request], Awaitable[Response]]


class Admin:
    def __init__(self, app: AdminHost) -> None:
        self.app = app
        #: The open sessions of Python endpoints, looked up by conn and id.
        self.registry = app.session_registry
        self.auth = AdminAuth(app)
        self.traffic = metrics.Traffic(app)
        self._id_core: CoreQueries | None = None
        self._id_key = b""

    # ---- helpers --------------------------------------------------------

    def _core(self) -> CoreQueries:
        core = self.app.core.queries
        if core is None:
            raise HTTPError(503, "the server is not running")
        return core

    def core_session_id(self, cid: int) -> str:
        """The UUID of a connection the core handles itself (keyed per core, i.e.
        per server run: ids of an earlier run never name a connection of this one)."""
        core = self.app.core.queries
        if self._id_core is not core:
            self._id_core, self._id_key = core, secrets.token_bytes(32)
        digest = hashlib.blake2b(cid.to_bytes(8, "big"), key=self._id_key, digest_size=16)
        return str(uuid.UUID(bytes=digest.digest(), version=4))

    def _websocket_ids(self, core: CoreQueries) -> list[int]:
        return [
            cid
            for cid in core.connection_ids()
            if (info := core.connection_info(cid)) is not None and info["websocket"]
        ]

    def sessions(self) -> list[dict[str, Any]]:
        """Every open WebSocket connection, oldest first."""
        core = self._core()
        by_conn: dict[int, Session] = {s.conn: s for s in self.registry.all()}
        paths = metrics.endpoint_paths(self.app)
        rows: list[dict[str, Any]] = []
        for cid in core.connection_ids():
            info = core.connection_info(cid)
            if info is None or not info["websocket"]:
                continue
            s = by_conn.get(cid)
            rows.append(
                {
                    "id": s.id if s is not None else self.core_session_id(cid),
                    "conn": cid,
                    "endpoint": s.path
                    if s is not None
                    else metrics.endpoint_label(paths, info["endpoint"]),
                    "port": self.app.port_alias(info["listener"]),
                    "peer": info["peer"],
                    "since": info["opened_at"],
                    "bytes_in": info["bytes_in"],
                    "bytes_out": info["bytes_out"],
                    "messages_in": info["messages_in"],
                    "messages_out": info["messages_out"],
                    "queued": info["queued"],
                    "rooms": sorted(core.rooms_of(cid)),
                    "tls": info["tls"],
                    "subprotocol": s.subprotocol if s is not None else None,
                    "handler": "python" if s is not None else "core",
                }
            )
        rows.sort(key=lambda r: (r["since"], r["conn"]))
        return rows

    def _find(self, sid: str) -> tuple[int, Session | None]:
        """(core connection id, Python session or None); 404 when there is none."""
        core = self._core()
        s = self.registry.get(sid)
        if s is not None and not s.closed:
            return s.conn, s
        if len(sid) == 36:
            by_conn = {x.conn for x in self.registry.all()}
            for cid in self._websocket_ids(core):
                if cid not in by_conn and self.core_session_id(cid) == sid:
                    return cid, None
        raise HTTPError(404, f"no session {sid}")

    # ---- handlers -------------------------------------------------------

    async def list_sessions(self, req: Request) -> Response:
        q = req.query
        try:
            page = int(q.get("page") or 1)
        except ValueError:
            raise HTTPError(400, f"page={q['page']!r} is not an integer") from None
        if page < 1:
            raise HTTPError(400, "page must be 1 or more")
        rows = self.sessions()
        if q.get("endpoint"):
            rows = [r for r in rows if r["endpoint"] == q["endpoint"]]
        if q.get("port"):
            rows = [r for r in rows if r["port"] == q["port"]]
        total = len(rows)
        pages = max(1, math.ceil(total / PAGE_SIZE))
        chunk = rows[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
        return Response.json(
            {"sessions": chunk, "page": page, "pages": pages, "total": total, "per_page": PAGE_SIZE}
        )

    async def send(self, req: Request) -> Response:
        cid, s = self._find(req.params["id"])
        body = req.json()
        if not isinstance(body, dict):
            raise HTTPError(400, 'body must be a JSON object with "text" or "base64"')
        has_text, has_b64 = "text" in body, "base64" in body
        if has_text == has_b64:
            raise HTTPError(400, 'give exactly one of "text" (a string) or "base64" (a string)')
        data: str | bytes
        if has_text:
            if not isinstance(body["text"], str):
                raise HTTPError(400, '"text" must be a string')
            data = body["text"]
        else:
            if not isinstance(body["base64"], str):
                raise HTTPError(400, '"base64" must be a string')
            try:
                data = base64.b64decode(body["base64"], validate=True)
            except (ValueError, binascii.Error):
                raise HTTPError(400, '"base64" is not valid base64') from None
        try:
            if s is not None:
                s.send_nowait(data)
                ok = True
            else:
                ok = self.app.core.send(cid, data)
        except (SessionClosed, QueueFull) as e:
            raise HTTPError(409, f"not sent: {e}") from None
        if not ok:
            raise HTTPError(409, f"not sent: session {req.params['id']} is closing")
        size = len(data.encode()) if isinstance(data, str) else len(data)
        return Response.json(
            {"sent": True, "type": "text" if isinstance(data, str) else "binary", "bytes": size}
        )

    async def close(self, req: Request) -> Response:
        cid, s = self._find(req.params["id"])
        q = req.query
        try:
            code = int(q.get("code") or 1000)
        except ValueError:
            raise HTTPError(400, f"code={q['code']!r} is not an integer") from None
        reason = q.get("reason", "")
        problem = _core.close_problem(code, reason)
        if problem is not None:
            raise HTTPError(400, problem)
        if s is not None:
            await s.close(code, reason)
        else:
            self.app.core.close(cid, code, reason)
        return Response.json({"closing": req.params["id"], "code": code})

    def _port_row(self, lid: int) -> dict[str, Any]:
        info = self.app.listeners[lid]
        return {
            "alias": info.alias,
            "listener": lid,
            "host": info.host,
            "port": info.port,
            "tls": info.tls,
            "enabled": info.enabled,
        }

    async def list_ports(self, req: Request) -> Response:
        counts: dict[int, int] = {}
        core = self.app.core.queries
        if core is not None:
            for cid in core.connection_ids():
                info = core.connection_info(cid)
                if info is not None and info["websocket"]:
                    counts[info["listener"]] = counts.get(info["listener"], 0) + 1
        rows = []
        for lid in sorted(self.app.listeners):
            row = self._port_row(lid)
            row["sessions"] = counts.get(lid, 0)
            rows.append(row)
        return Response.json({"ports": rows})

    async def patch_port(self, req: Request) -> Response:
        alias = req.params["alias"]
        body = req.json()
        if not isinstance(body, dict) or not isinstance(body.get("enabled"), bool):
            raise HTTPError(400, '"enabled" must be true or false')
        lid = next((k for k, v in self.app.listeners.items() if v.alias == alias), None)
        if lid is None:
            raise HTTPError(404, f"no port {alias!r}")
        enabled = body["enabled"]
        if not enabled and lid == req.listener:
            raise HTTPError(
                409, f"port {alias!r} carries this request; disable it through another port"
            )
        try:
            self.app.set_port_enabled(alias, enabled)
        except RuntimeError as e:
            raise HTTPError(503, str(e)) from None
        except OSError as e:
            raise HTTPError(
                409, f"cannot {'enable' if enabled else 'disable'} {alias!r}: {e}"
            ) from None
        return Response.json(self._port_row(lid))

    async def stats(self, req: Request) -> Response:
        core = self._core()
        websockets = len(self._websocket_ids(core))
        core_stats = dict(core.stats())
        # The page's header: WebSocket connections, not its own polls (HTTP).
        open_now = core_stats.get("connections_open", websockets)
        core_stats["connections_open"] = websockets
        core_stats["http_connections_open"] = max(0, open_now - websockets)
        out: dict[str, Any] = {
            "core": core_stats,
            "sessions": websockets,
            "python_sessions": len(self.registry),
            "rooms": [{"room": r, "members": n} for r, n in sorted(core.rooms())],
        }
        svc = self.app.streams
        if svc is not None:
            out["scans_total"] = svc.scans_total
            out["journal"] = svc.journal_stats()
            out["scanners"] = [
                {
                    "device_serial": d.serial,
                    "device_model": d.model,
                    "manufacturer": d.manufacturer,
                    "firmware": d.firmware,
                    "connected": d.connected,
                }
                for d in svc.devices()
            ]
            out["recent_scans"] = [
                {
                    "seq": sc.seq,
                    "event_id": sc.event_id,
                    "code": sc.code,
                    "device_serial": sc.device_serial,
                    "device_model": sc.device_model,
                    "symbology": sc.symbology,
                    "source": sc.source,
                    "time_created": sc.time_created,
                }
                for sc in reversed(svc.recent)
            ]
        else:
            out.update(scans_total=0, journal=None, scanners=[], recent_scans=[])
        return Response.json(out)

    async def page(self, req: Request) -> Response:
        resp = Response.html(static_text("admin.html"))
        resp.headers.append(("Cache-Control", "no-store"))
        return resp

    async def metrics(self, req: Request) -> Response:
        return Response.text(
            metrics.render(self.app, self.traffic), content_type=metrics.CONTENT_TYPE
        )


def install(app: AdminHost) -> Admin:
    admin = Admin(app)

    def guarded(fn: Handler) -> Handler:
        @functools.wraps(fn)
        async def handler(req: Request) -> Response:
            refusal = await admin.auth.check(req)
            if refusal is not None:
                return refusal
            admin.traffic.ensure_running()
            return await fn(req)

        return handler

    for method, path, fn in (
        ("GET", "/admin", admin.page),
        ("GET", "/admin/", admin.page),
        ("GET", "/admin/api/sessions", admin.list_sessions),
        ("POST", "/admin/api/sessions/{id}/send", admin.send),
        ("DELETE", "/admin/api/sessions/{id}", admin.close),
        ("GET", "/admin/api/ports", admin.list_ports),
        ("PATCH", "/admin/api/ports/{alias}", admin.patch_port),
        ("GET", "/admin/api/stats", admin.stats),
    ):
        app.router.add(method, path, guarded(fn))
    app.router.add("GET", "/metrics", admin.metrics)
    return admin
