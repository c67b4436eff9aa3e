"""The job side over HTTP: ``/api/compute-jobs``, bearer JWT like the sockets."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from ..http import HTTPError, Request, Response
from .service import JobService
from .store import JobError, JobExists, UnknownJob
from .tokens import TokenError, refusal

if TYPE_CHECKING:
    from ..host import JobsHost

Handler = Callable[[Request], Awaitable[Response]]


def _bad(e: JobError) -> Response:
    return Response.json({"error": e.message, "field": e.field}, 400)


def _body(request: Request) -> dict[str, Any]:
    body = request.json()
    if not isinstance(body, dict):
        raise HTTPError(400, "body must be a JSON object")
    return body


def install_rest(app: JobsHost, service: JobService) -> None:
    def guarded(fn: Handler) -> Handler:
        """Bearer JWT first; JobError -> 400 naming the field, UnknownJob -> 404."""

        @wraps(fn)
        async def handler(request: Request) -> Response:
            try:
                service.auth.token(request)
            except TokenError as e:
                return refusal(e)
            if "id" in request.params:
                request.params["id"] = unquote(request.params["id"])
            try:
                return await fn(request)
            except JobExists as e:
                return Response.json({"error": e.message, "field": e.field}, 409)
            except JobError as e:
                return _bad(e)
            except UnknownJob as e:
                return Response.json({"error": e.message}, 404)

        return handler

    @app.route("POST", "/api/compute-jobs")
    @guarded
    async def create_job(request: Request) -> Response:
        body = _body(request)
        cid = body.get("connectionId")
        if not isinstance(cid, str) or not cid:
            raise JobError("connectionId", "connectionId must be a non-empty string")
        kw: dict[str, Any] = {}
        if "status" in body:
            kw["status"] = body["status"]
        if "executionAttempts" in body:
            kw["executionAttempts"] = body["executionAttempts"]
        job = await service.create(body.get("id"), cid, **kw)
        resp = Response.json(job.to_json(), 201)
        resp.headers.append(("Location", f"/api/compute-jobs/{job.id}"))
        return resp

    @app.route("GET", "/api/compute-jobs/{id}")
    @guarded
    async def get_job(request: Request) -> Response:
        job = service.get(request.params["id"])
        if job is None:
            raise UnknownJob(request.params["id"])
        return Response.json(job.to_json())

    @app.route("POST", "/api/compute-jobs/{id}/status")
    @guarded
    async def post_status(request: Request) -> Response:
        service.require(request.params["id"])
        body = _body(request)
        fields = {k: v for k, v in body.items() if k != "status"}
        if "status" not in body:
            raise JobError("status", "status is required")
        job, delivered = service.apply_status(request.params["id"], body["status"], fields)
        return Response.json({**job.to_json(), "delivered": delivered})

    @app.route("POST", "/api/compute-jobs/{id}/runlog")
    @guarded
    async def post_runlog(request: Request) -> Response:
        service.require(request.params["id"])
        body = _body(request)
        if "lines" not in body:
            raise JobError("lines", "lines is required (a list of strings)")
        end, delivered = service.apply_runlog(request.params["id"], body["lines"])
        return Response.json(
            {"computeJobId": request.params["id"], "endLines": end, "delivered": delivered}
        )

    @app.route("POST", "/api/compute-jobs/{id}/app-messages")
    @guarded
    async def post_app_message(request: Request) -> Response:
        service.require(request.params["id"])
        body = _body(request)
        if "message" not in body:
            raise JobError("message", "message is required")
        mid, delivered = service.apply_app_message(request.params["id"], body["message"])
        return Response.json(
            {"computeJobId": request.params["id"], "messageId": mid, "delivered": delivered}
        )
