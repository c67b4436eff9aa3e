"""Built-in HTTP routes: the scan API and the demo page."""

from __future__ import annotations

import functools
import hmac
from importlib import resources
from typing import TYPE_CHECKING

from . import _core
from .auth import request_token
from .errors import EventTooLarge, JournalError, ScanRefused
from .http import HTTPError, Request, Response
from .streams.messages import SERIAL_MAX, is_event_id

if TYPE_CHECKING:
    from .host import RouteHost


#: PROTOCOLS.md 1.1: ``scan_code`` 1-2000 characters (``device_serial``: 1-SERIAL_MAX).
CODE_MAX = 2000


@functools.cache
def static_text(name: str) -> str:
    """A file shipped in scanbridge/static."""
    return resources.files("scanbridge").joinpath("static", name).read_text("utf-8")


@functools.cache
def static_bytes(name: str) -> bytes:
    return resources.files("scanbridge").joinpath("static", name).read_bytes()


def static_response(name: str, content_type: str, cache: str = "no-cache") -> Response:
    """A shipped file; ``no-cache``: revalidated, so an upgraded scanbridge serves its own."""
    return Response(
        200, static_bytes(name), [("Content-Type", content_type), ("Cache-Control", cache)]
    )


def check_origin(app: RouteHost, request: Request) -> None:
    """Browsers: a page from another site must not inject scans or publish.

    The WebSocket upgrade's own matcher decides (``_core.origin_allowed``), on
    the first Origin header as the upgrade reads it: no Origin passes, no
    patterns let every origin pass.
    """
    origins = request.headers.get_all("origin")
    origin = origins[0] if origins else None
    if not _core.origin_allowed(origin, list(app.config.allowed_origins)):
        raise HTTPError(403, f"origin {origin!r} is not allowed")


def check_token(app: RouteHost, request: Request) -> None:
    """The Streams token, when one is configured, guards the scan API too."""
    expected = app.config.token
    if expected is None:
        return
    given = request_token(request)
    if given is None or not hmac.compare_digest(given.encode(), expected.encode()):
        raise HTTPError(401, "a valid token is required (Authorization: Bearer, ?token= or Basic)")


def install_routes(app: RouteHost) -> None:
    @app.route("POST", "/api/scans")
    async def post_scan(request: Request) -> Response:
        check_origin(app, request)
        check_token(app, request)
        body = request.json()
        code = body.get("code") if isinstance(body, dict) else None
        if not isinstance(code, str) or not 1 <= len(code) <= CODE_MAX:
            raise HTTPError(
                400, f'body must be a JSON object with a string "code" of 1-{CODE_MAX} characters'
            )
        serial = body.get("device_serial")
        if serial is not None and (
            not isinstance(serial, str) or not 1 <= len(serial) <= SERIAL_MAX
        ):
            raise HTTPError(400, f'"device_serial" must be a string of 1-{SERIAL_MAX} characters')
        event_id = body.get("event_id")
        if event_id is not None and not is_event_id(event_id):
            raise HTTPError(400, '"event_id" must be a lowercase UUID (it makes a retry safe)')
        if app.streams is None:
            raise HTTPError(503, "the Streams service is not running")
        if event_id is not None:
            seq = app.streams.journal.seq_of(event_id)
            if seq is not None:  # a retry of a scan that was stored: not stored twice
                return Response.json({"published": True, "seq": seq, "event_id": event_id}, 200)
        try:
            scan = await app.inject_scan(body["code"], serial, event_id=event_id)
        except ScanRefused as e:
            raise HTTPError(400, f"scan refused: {e}") from None
        except EventTooLarge as e:
            raise HTTPError(413, f"scan refused: {e.reason}") from None
        except JournalError as e:
            # Nothing was stored: never a 2xx (PROTOCOLS.md 1.3).
            raise HTTPError(503, f"scan not stored, the journal cannot store: {e.reason}") from None
        if scan is None:
            return Response.json({"published": False}, 200)
        return Response.json({"published": True, "seq": scan.seq, "event_id": scan.event_id}, 201)

    async def publish_http(namespace: str, room: str, request: Request) -> Response:
        check_origin(app, request)
        if not request.body:
            raise HTTPError(400, "the body must be the JSON message to publish")
        message = request.json()
        if not app.core.running:
            raise HTTPError(503, "the server is not running")
        delivered = await app.publish(namespace, room, message, sender="POST")
        return Response.json({"delivered": delivered})

    @app.route("POST", "/api/rooms/{namespace}/{room}")
    async def post_room(request: Request) -> Response:
        ns = request.params["namespace"]
        known = (*_core.ROOM_NAMESPACES, _core.LOBBY_NAMESPACE)
        if ns not in known:
            raise HTTPError(404, f"no namespace {ns!r} ({', '.join(known)})")
        return await publish_http(ns, request.params["room"], request)

    @app.route("POST", "/bus-message/{room}")
    async def post_bus(request: Request) -> Response:
        return await publish_http("bus", request.params["room"], request)

    @app.route("GET", "/api/devices")
    async def devices(request: Request) -> Response:
        if app.streams is None:
            return Response.json([])
        svc = app.streams
        out = []
        for serial, src in svc.sources.items():
            d = src.device
            entry: dict[str, object] = {
                "device_serial": serial,
                "device_model": d.model,
                "connected": d.connected,
                "blocked": svc.commands.blocked(serial),
            }
            screen = getattr(src, "screen", None)
            if screen is not None:  # the demo scanner's simulated display
                entry["screen"] = screen()
            out.append(entry)
        return Response.json(out)

    @app.route("GET", "/")
    async def index(request: Request) -> Response:
        return Response.html(static_text("demo.html"))

    @app.route("GET", "/scanbridge.js")
    async def client_module(request: Request) -> Response:
        # The browser client module; web apps on their own origin import it from here
        # (module scripts need CORS; the file is public).
        resp = static_response("scanbridge.js", "text/javascript; charset=utf-8")
        resp.headers.append(("Access-Control-Allow-Origin", "*"))
        return resp

    @app.route("GET", "/examples/form")
    async def example_form(request: Request) -> Response:
        return Response.html(static_text("form.html"))

    @app.route("GET", "/favicon.svg")
    async def favicon_svg(request: Request) -> Response:
        return static_response("favicon.svg", "image/svg+xml", "max-age=86400")

    @app.route("GET", "/favicon.ico")
    async def favicon_ico(request: Request) -> Response:
        return static_response("favicon.ico", "image/x-icon", "max-age=86400")
