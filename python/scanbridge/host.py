"""What each subsystem needs of the server that hosts it, as narrow Protocols.

The subsystems (built-in routes, admin, jobs, configuration barcodes) are
installed by :class:`scanbridge.App`, which satisfies these Protocols; they
type against them instead of importing the App (no import cycle, and each
one says exactly what it uses).  Services that need less get plain handles:
:class:`~scanbridge.core_handle.CoreHandle` and config getters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .config import Config
    from .core_handle import CoreHandle
    from .http import Router
    from .scan import Scan
    from .session_registry import SessionRegistry
    from .streams.service import StreamsService

__all__ = ["AdminHost", "ConfigHost", "JobsHost", "RouteHost"]


class ConfigHost(Protocol):
    """Configuration barcodes: read the configuration, apply a change everywhere."""

    @property
    def config(self) -> Config: ...

    def apply_config(self, new: Config, changes: dict[str, Any]) -> None: ...


class RouteHost(Protocol):
    """The built-in HTTP routes (scan API, rooms API, demo page, devices)."""

    @property
    def config(self) -> Config: ...

    @property
    def core(self) -> CoreHandle: ...

    @property
    def streams(self) -> StreamsService | None: ...

    def route(self, method: str, path: str) -> Callable[[Any], Any]: ...

    async def inject_scan(
        self,
        code: str,
        device_serial: str | None = None,
        *,
        raw: bytes | None = None,
        symbology: str | None = None,
        event_id: str | None = None,
    ) -> Scan | None: ...

    async def publish(
        self, namespace: str, room: str, message: Any, *, sender: str = ...
    ) -> int: ...


class AdminHost(Protocol):
    """The admin page and APIs: sessions, listeners, core statistics."""

    @property
    def config(self) -> Config: ...

    @property
    def core(self) -> CoreHandle: ...

    @property
    def router(self) -> Router: ...

    @property
    def listeners(self) -> Mapping[int, Any]: ...

    @property
    def session_registry(self) -> SessionRegistry: ...

    @property
    def streams(self) -> StreamsService | None: ...

    @property
    def backplane(self) -> Any: ...

    def port_alias(self, listener: int) -> str: ...

    def listener_id(self, alias: str) -> int | None: ...

    def set_port_enabled(self, alias: str, enabled: bool) -> Any: ...


class JobsHost(Protocol):
    """The job-progress sockets and their REST API."""

    @property
    def config(self) -> Config: ...

    def route(self, method: str, path: str) -> Callable[[Any], Any]: ...

    def add_endpoint(self, paths: list[str], endpoint: Any, **options: Any) -> Any: ...
