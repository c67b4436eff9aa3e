"""The open sessions of Python endpoints, by the core's connection number and
by session id.

The App owns the one registry: it adds a session when the core reports the
connection open and removes it on close. Who needs to look sessions up (the
admin, the App's own ``send``) is handed the registry, not the App.
"""

from __future__ import annotations

from .session import Session

__all__ = ["SessionRegistry"]


class SessionRegistry:
    """Sessions by connection number and by id, oldest first."""

    __slots__ = ("_by_conn", "_by_id")

    def __init__(self) -> None:
        self._by_conn: dict[int, Session] = {}
        self._by_id: dict[str, Session] = {}

    def add(self, session: Session) -> None:
        self._by_conn[session.conn] = session
        self._by_id[session.id] = session

    def remove(self, conn: int) -> Session | None:
        """Forget the session of connection ``conn``; it, or None if there was none."""
        session = self._by_conn.pop(conn, None)
        if session is not None:
            self._by_id.pop(session.id, None)
        return session

    def by_conn(self, conn: int) -> Session | None:
        return self._by_conn.get(conn)

    def get(self, session_id: str) -> Session | None:
        return self._by_id.get(session_id)

    def all(self) -> list[Session]:
        return list(self._by_conn.values())

    def conns(self) -> list[int]:
        return list(self._by_conn)

    def __len__(self) -> int:
        return len(self._by_conn)
