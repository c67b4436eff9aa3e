"""``app.jobs``: create jobs, push their progress to the job sockets."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from ..hooks import call_hook
from .store import (
    INITIAL_STATUS,
    Job,
    JobError,
    JobExists,
    UnknownJob,
    check_job_id,
    check_lines,
    check_status_fields,
)
from .tokens import JWTAuth, TokenVerifier

if TYPE_CHECKING:
    from ..config import JobsConfig
    from ..session import Session

log = logging.getLogger("scanbridge.jobs")

H = TypeVar("H", bound=Callable[..., Any])

# Server to client.
JOB_STATUS_UPDATED = "JOB_STATUS_UPDATED"
RUNLOG_UPDATED = "RUNLOG_UPDATED"
APP_MESSAGE = "APP_MESSAGE"
CURRENT_JOB_STATUS = "CURRENT_JOB_STATUS"
ERROR = "ERROR"
# Client to server.
UPDATE_TOKEN = "UPDATE_TOKEN"
SUBSCRIBE = "SUBSCRIBE"
APP_MESSAGE_RESPONSE = "APP_MESSAGE_RESPONSE"


def message(message_type: str, payload: Any, job_id: str | None = None) -> str:
    msg: dict[str, Any] = {"messageType": message_type, "messagePayload": payload}
    if job_id is not None:
        msg["computeJobId"] = job_id
    return json.dumps(msg, separators=(",", ":"))


class JobService:
    """The jobs of one App (in memory) and the sockets that follow them.

    A job's messages go to the socket whose ``connection-id`` the job names
    and to every socket that SUBSCRIBEd to it; everything is kept, so a new
    socket's SUBSCRIBE catches up.
    """

    def __init__(self, config: Callable[[], JobsConfig]) -> None:
        #: The ``[jobs]`` configuration in force (a getter: it can change at run time).
        self.config = config
        self.verifier = TokenVerifier(config)
        self.auth = JWTAuth(self.verifier)
        self.jobs: dict[str, Job] = {}
        #: Open job sockets by connection id.
        self.connections: dict[str, Session] = {}
        self._response_hooks: list[Callable[..., Any]] = []

    # ---- Python API -------------------------------------------------------

    def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self.jobs

    def __len__(self) -> int:
        return len(self.jobs)

    def require(self, job_id: str) -> Job:
        """The job ``job_id``; UnknownJob if there is none."""
        job = self.jobs.get(job_id)
        if job is None:
            raise UnknownJob(job_id)
        return job

    async def create(
        self,
        id: str | None = None,
        connection_id: str | None = None,
        *,
        status: str = INITIAL_STATUS,
        **fields: Any,
    ) -> Job:
        """A new job (``id`` defaults to a UUID); JobExists if the id is taken."""
        job_id = str(uuid.uuid4()) if id is None else check_job_id(id)
        if connection_id is not None and (not isinstance(connection_id, str) or not connection_id):
            raise JobError("connectionId", "connectionId must be a non-empty string")
        status, attempts, extra = check_status_fields(status, dict(fields))
        if job_id in self.jobs:
            raise JobExists("id", f"compute job {job_id!r} exists already")
        job = Job(job_id, connection_id, status, attempts or 0, extra)
        self.jobs[job_id] = job
        return job

    async def update_status(self, job_id: str, status: str, **fields: Any) -> Job:
        """Set the status (and ``executionAttempts`` / extra fields); push JOB_STATUS_UPDATED."""
        job, _ = self.apply_status(job_id, status, fields)
        return job

    async def append_runlog(self, job_id: str, lines: Iterable[str] | str) -> int:
        """Append run-log lines (a str is split into lines); push RUNLOG_UPDATED.

        Returns the number of the last line (``endLines``)."""
        end, _ = self.apply_runlog(job_id, lines)
        return end

    async def send_app_message(self, job_id: str, message: Any) -> int:
        """Push APP_MESSAGE ``{"messageId", "message"}``; returns the message id (from 1)."""
        mid, _ = self.apply_app_message(job_id, message)
        return mid

    def remove(self, job_id: str) -> Job:
        """Forget a job (its sockets stay open)."""
        job = self.require(job_id)
        del self.jobs[job_id]
        for s in job.subscribers.values():
            s.data.get("jobs", set()).discard(job_id)
        job.subscribers.clear()
        return job

    def on_app_message_response(self, fn: H) -> H:
        """Decorator: ``fn(job_id, payload, session)`` (sync or async) for each
        APP_MESSAGE_RESPONSE a job socket sends."""
        self._response_hooks.append(fn)
        return fn

    # ---- pushing ----------------------------------------------------------

    def _targets(self, job: Job) -> list[Session]:
        out: dict[str, Session] = {}
        if job.connection_id is not None:
            s = self.connections.get(job.connection_id)
            if s is not None:
                out[s.id] = s
        for sid, s in job.subscribers.items():
            out.setdefault(sid, s)
        return list(out.values())

    def _push(self, job: Job, text: str) -> int:
        n = 0
        for s in self._targets(job):
            if send(s, text):
                n += 1
        return n

    def apply_status(self, job_id: str, status: Any, fields: dict[str, Any]) -> tuple[Job, int]:
        """:meth:`update_status` for the REST API: the job and how many sockets got it."""
        job = self.require(job_id)
        status, attempts, extra = check_status_fields(status, dict(fields))
        job.status = status
        if attempts is not None:
            job.execution_attempts = attempts
        job.fields.update(extra)
        job.touch()
        return job, self._push(job, message(JOB_STATUS_UPDATED, job.status_payload(), job.id))

    def apply_runlog(self, job_id: str, lines: Any) -> tuple[int, int]:
        """:meth:`append_runlog` for the REST API: ``endLines`` and how many sockets got it."""
        job = self.require(job_id)
        new = check_lines(lines)
        if not new:
            return job.end_line, 0
        job.runlog.extend(new)
        job.touch()
        payload = {"lines": new, "endLines": job.end_line}
        return job.end_line, self._push(job, message(RUNLOG_UPDATED, payload, job.id))

    def apply_app_message(self, job_id: str, msg: Any) -> tuple[int, int]:
        """:meth:`send_app_message` for the REST API: the message id and how many
        sockets got it."""
        job = self.require(job_id)
        json.dumps(msg)  # TypeError now rather than at send time
        job.app_messages.append(msg)
        job.touch()
        mid = len(job.app_messages)
        payload = {"messageId": mid, "message": msg}
        return mid, self._push(job, message(APP_MESSAGE, payload, job.id))

    # ---- sockets ----------------------------------------------------------

    def subscribe(
        self, session: Session, job: Job, last_line: int = 0, last_message: int = 0
    ) -> None:
        """Follow ``job`` on ``session``: CURRENT_JOB_STATUS, the run-log lines
        after ``last_line`` and the app messages after ``last_message``."""
        job.subscribers[session.id] = session
        session.data.setdefault("jobs", set()).add(job.id)
        current = {**job.status_payload(), "runLogLines": job.end_line}
        send(session, message(CURRENT_JOB_STATUS, current, job.id))
        if last_line < job.end_line:
            payload = {"lines": job.runlog[last_line:], "endLines": job.end_line}
            send(session, message(RUNLOG_UPDATED, payload, job.id))
        for i, m in enumerate(job.app_messages[last_message:], start=last_message + 1):
            send(session, message(APP_MESSAGE, {"messageId": i, "message": m}, job.id))

    def forget_session(self, session: Session) -> None:
        cid = session.data.get("connection_id")
        if cid is not None and self.connections.get(cid) is session:
            del self.connections[cid]
        for job_id in session.data.get("jobs", ()):
            job = self.jobs.get(job_id)
            if job is not None:
                job.subscribers.pop(session.id, None)

    async def app_message_response(self, job_id: str, payload: Any, session: Session) -> None:
        for fn in list(self._response_hooks):
            await call_hook(fn, job_id, payload, session, log=log, what="on_app_message_response")


def send(session: Session, text: str) -> bool:
    """Queue ``text`` on ``session``; False when it is closed."""
    from ..session import SessionClosed

    if session.closed:
        return False
    try:
        session.send_nowait(text)
    except SessionClosed:
        return False
    return True
