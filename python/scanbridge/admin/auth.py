"""Who may use the admin page and API (PROTOCOLS.md section 4).

* ``[admin] user`` + ``password_hash`` set: HTTP Basic with that user and password
  (scrypt hash made by ``scanbridge hash-password``), else 401 with
  ``WWW-Authenticate: Basic realm="scanbridge admin"``.
* No credential, and every listener on loopback (127.0.0.0/8, ::1): open, but only to
  requests whose ``Host`` is a loopback name or address (so a web page cannot reach
  it through DNS rebinding).
* No credential and some listener not on loopback: 403, configure ``[admin]``.

Requests that change something (not GET/HEAD) carrying an ``Origin`` header must come
from the page's own origin: another web site cannot drive the API with the browser's
cached credentials.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ..auth import BasicAuth
from ..http import Request, Response

if TYPE_CHECKING:
    from ..host import AdminHost

REALM = "scanbridge admin"


def is_loopback(host: str) -> bool:
    host = host.strip().strip("[]")
    if host.lower() in ("localhost", "localhost.", "ip6-localhost"):
        return True
    try:
        addr = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return addr.is_loopback


def _host_name(host_header: str) -> str:
    """The name part of a Host header (``[::1]:80`` -> ``::1``)."""
    h = host_header.strip()
    if h.startswith("["):
        return h[1 : h.find("]")] if "]" in h else h
    return h.rsplit(":", 1)[0] if h.count(":") == 1 else h


class AdminAuth:
    def __init__(self, app: AdminHost) -> None:
        self.app = app
        self._basic: BasicAuth | None = None

    def _checker(self, user: str, password_hash: str) -> BasicAuth:
        b = self._basic
        if b is None or b.user != user or b.password_hash != password_hash:
            b = self._basic = BasicAuth(user, password_hash=password_hash, realm=REALM)
        return b

    def loopback_only(self) -> bool:
        return all(is_loopback(info.host) for info in self.app.listeners.values())

    async def check(self, request: Request) -> Response | None:
        """None to let the request through, else the refusal."""
        admin_listener = self.app.listener_id("admin")
        if admin_listener is not None and request.listener != admin_listener:
            return Response.json({"error": "the admin is served on its own port"}, 404)
        refusal = self._check_origin(request)
        if refusal is not None:
            return refusal
        cfg = self.app.config.admin
        if cfg.user is not None and cfg.password_hash is not None:
            try:
                basic = self._checker(cfg.user, cfg.password_hash)
            except ValueError as e:
                return Response.json({"error": f"[admin] password_hash: {e}"}, 500)
            return await basic.authorize(request)
        if not self.loopback_only():
            return Response.json(
                {
                    "error": "the admin needs a credential when the server listens beyond "
                    "loopback: configure [admin] user and password_hash "
                    "(make the hash with `scanbridge hash-password`)"
                },
                403,
            )
        host = request.headers.get("host", "")
        if host and not is_loopback(_host_name(host)):
            return Response.json(
                {
                    "error": f"Host {host!r} is not a loopback name; without [admin] "
                    "credentials the admin answers only to localhost / 127.0.0.1 / [::1]"
                },
                403,
            )
        return None

    @staticmethod
    def _check_origin(request: Request) -> Response | None:
        if request.method in ("GET", "HEAD"):
            return None
        origin = request.headers.get("origin")
        if origin is None:
            return None
        host = request.headers.get("host", "")
        try:
            netloc = urlsplit(origin).netloc
        except ValueError:
            netloc = ""
        if not netloc or netloc.lower() != host.strip().lower():
            return Response.json(
                {"error": f"cross-origin admin request refused (Origin {origin!r})"}, 403
            )
        return None
