"""Rooms that span processes and hosts (PROTOCOLS.md 2.5)."""

from .redis import RedisBackplane

__all__ = ["RedisBackplane"]
