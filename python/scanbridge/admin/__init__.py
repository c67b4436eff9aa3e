"""The admin page, its JSON API and Prometheus metrics (PROTOCOLS.md section 4).

``install_admin(app)`` adds the routes (``App.__init__`` calls it):

* ``GET /admin``: the HTML page (live sessions, ports, scanners, recent scans).
* ``GET /admin/api/sessions?endpoint=&port=&page=``, ``POST /admin/api/sessions/{id}/send``,
  ``DELETE /admin/api/sessions/{id}?code=&reason=``, ``GET /admin/api/ports``,
  ``PATCH /admin/api/ports/{alias}``, ``GET /admin/api/stats``.
* ``GET /metrics``: Prometheus text (no credential needed, like ``/healthz``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .routes import PAGE_SIZE, Admin, install

if TYPE_CHECKING:
    from ..host import AdminHost

__all__ = ["PAGE_SIZE", "Admin", "install_admin"]


def install_admin(app: AdminHost) -> Admin:
    """Add the admin and metrics routes to ``app``; returns the :class:`Admin`."""
    return install(app)
