"""Authenticated job-progress sockets and their REST side (PROTOCOLS.md section 3).

``install_jobs(app)`` (called by ``App.__init__``) mounts, when
``config.jobs.enabled``:

- the sockets ``/insightservices/ws/v1/compute/messages`` and
  ``/api/compute-job-messages`` (JWT bearer, ``connection-id`` on the 101,
  close 4001 at token expiry, pings every ``ping_interval``, 1001 after
  ``idle_timeout`` without traffic);
- ``/api/compute-jobs`` (create, get, status, runlog, app-messages);
- ``app.jobs``: a :class:`JobService` (``await app.jobs.create(...)``,
  ``update_status``, ``append_runlog``, ``send_app_message``,
  ``@app.jobs.on_app_message_response``).

Without ``jwt_secret`` / ``jwt_public_key`` everything is mounted but every
request is refused with 401 ``no JWT key is configured``. With jobs disabled
nothing is mounted and ``app.jobs`` is None.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .endpoint import PATHS, TOKEN_EXPIRED, JobSocketEndpoint
from .rest import install_rest
from .service import JobService
from .store import Job, JobError, JobExists, UnknownJob
from .tokens import JWTAuth, Token, TokenError, TokenVerifier

if TYPE_CHECKING:
    from ..host import JobsHost

__all__ = [
    "PATHS",
    "TOKEN_EXPIRED",
    "JWTAuth",
    "Job",
    "JobError",
    "JobExists",
    "JobService",
    "JobSocketEndpoint",
    "Token",
    "TokenError",
    "TokenVerifier",
    "UnknownJob",
    "install_jobs",
]


def install_jobs(app: JobsHost) -> JobService | None:
    """Mount the job sockets and their REST API; the service, which the App
    keeps as ``app.jobs`` (None when jobs are off)."""
    cfg = app.config.jobs
    if not cfg.enabled:
        return None
    service = JobService(lambda: app.config.jobs)
    service.verifier.check_config()  # an unusable public key is a ConfigError now
    app.add_endpoint(
        list(PATHS),
        JobSocketEndpoint(service),
        idle_timeout=cfg.idle_timeout,
        ping_interval=cfg.ping_interval,
    )
    install_rest(app, service)
    return service
