"""Compute jobs as the job sockets see them: status, run log and app messages."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import ScanbridgeError

if TYPE_CHECKING:
    from ..session import Session

#: Job ids appear in URLs: one path segment of unreserved characters.
JOB_ID_RE = re.compile(r"^[A-Za-z0-9._~:@-]{1,128}$")

#: Keys a status update may not set through its extra fields.
RESERVED = frozenset(
    {
        "id",
        "connectionId",
        "computeJobId",
        "status",
        "executionAttempts",
        "runLogLines",
        "appMessages",
        "created",
        "updated",
    }
)

INITIAL_STATUS = "QUEUED"


class JobError(ScanbridgeError, ValueError):
    """A bad argument; ``field`` names it (REST answers 400 with it)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class JobExists(JobError):
    """A job with this id exists already (REST: 409)."""


class UnknownJob(ScanbridgeError, KeyError):
    """No job with this id (REST: 404)."""

    def __init__(self, job_id: str) -> None:
        super().__init__(job_id)
        self.job_id = job_id
        self.message = f"no compute job {job_id!r}"

    def __str__(self) -> str:
        return self.message


def _ms() -> int:
    return int(time.time() * 1000)


@dataclass(eq=False)
class Job:
    """One compute job. Run-log lines are numbered from 1; app messages too."""

    id: str
    connection_id: str | None
    status: str = INITIAL_STATUS
    execution_attempts: int = 0
    #: Extra status fields, merged over the job's life (``{"progress": 0.4}``).
    fields: dict[str, Any] = field(default_factory=dict)
    runlog: list[str] = field(default_factory=list)
    app_messages: list[Any] = field(default_factory=list)
    created: int = field(default_factory=_ms)
    updated: int = field(default_factory=_ms)
    #: Sessions that SUBSCRIBEd to this job, by session id.
    subscribers: dict[str, Session] = field(default_factory=dict, repr=False)

    @property
    def end_line(self) -> int:
        return len(self.runlog)

    def status_payload(self) -> dict[str, Any]:
        return {**self.fields, "status": self.status, "executionAttempts": self.execution_attempts}

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "connectionId": self.connection_id,
            **self.status_payload(),
            "runLogLines": len(self.runlog),
            "appMessages": len(self.app_messages),
            "created": self.created,
            "updated": self.updated,
        }

    def touch(self) -> None:
        self.updated = _ms()


def check_job_id(job_id: Any) -> str:
    if not isinstance(job_id, str) or not JOB_ID_RE.match(job_id):
        raise JobError("id", "id must be 1-128 characters of letters, digits and . _ ~ : @ -")
    return job_id


def check_status_fields(status: Any, fields: dict[str, Any]) -> tuple[str, int | None, dict]:
    """(status, executionAttempts or None, extra fields), or JobError naming the field."""
    if not isinstance(status, str) or not status:
        raise JobError("status", "status must be a non-empty string")
    attempts = fields.pop("executionAttempts", fields.pop("execution_attempts", None))
    if attempts is not None and (
        isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 0
    ):
        raise JobError("executionAttempts", "executionAttempts must be an integer >= 0")
    for k in fields:
        if k in RESERVED:
            raise JobError(k, f"{k} cannot be set by a status update")
    return status, attempts, fields


def check_lines(lines: Any) -> list[str]:
    if isinstance(lines, str):
        lines = lines.splitlines()
    if not isinstance(lines, list | tuple) or not all(isinstance(x, str) for x in lines):
        raise JobError("lines", "lines must be a list of strings")
    return list(lines)
