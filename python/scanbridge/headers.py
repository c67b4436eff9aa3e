"""Request headers and query strings as HTTP handlers and sessions read them."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qs

__all__ = ["Headers", "parse_query"]


class Headers(Mapping[str, str]):
    """Request headers: case-insensitive names, repeated headers joined by ", "."""

    __slots__ = ("_items", "_map")

    def __init__(self, items: list[tuple[str, str]]) -> None:
        self._items = items
        m: dict[str, str] = {}
        for k, v in items:
            k = k.lower()
            m[k] = f"{m[k]}, {v}" if k in m else v
        self._map = m

    def __getitem__(self, key: str) -> str:
        return self._map[key.lower()]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._map)

    def __len__(self) -> int:
        return len(self._map)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._map

    def get_all(self, key: str) -> list[str]:
        key = key.lower()
        return [v for k, v in self._items if k.lower() == key]

    def raw_items(self) -> list[tuple[str, str]]:
        return list(self._items)

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


def parse_query(query: str) -> dict[str, str]:
    """First value of each query parameter."""
    return {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}
