"""A Redis backplane: NOTIFYs published in one scanbridge process reach room
members in every process on the same Redis; CLIENTS lists members everywhere.

- Messages: one pub/sub channel; each carries the publishing node's id, so a
  process never delivers its own message twice.
- Membership: each node keeps a hash ``scanbridge:members:<node>`` of
  ``namespace \\x01 room \\x01 conn -> name``, refreshed with an expiry, and
  announces itself in the sorted set ``scanbridge:nodes`` (score = last
  heartbeat). A crashed process's members disappear when its keys expire.
- Outages: logged once; local delivery goes on; the backplane reconnects by
  itself with backoff and re-publishes its membership.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..app import App

log = logging.getLogger("scanbridge.backplane")

CHANNEL = "scanbridge:rooms"
NODES = "scanbridge:nodes"
HEARTBEAT_SECONDS = 5.0
EXPIRE_SECONDS = 15


def members_key(node: str) -> str:
    return f"scanbridge:members:{node}"


class RedisBackplane:
    def __init__(self, app: App, url: str) -> None:
        self.app = app
        self.url = url
        self.node = uuid.uuid4().hex
        self.redis: Any = None
        self.up = False
        self.local: dict[str, str] = {}  # "ns\x01room\x01conn" -> name
        self._tasks: list[asyncio.Task[Any]] = []
        self._outage_logged = False

    async def start(self) -> None:
        try:
            import redis.asyncio as aioredis
        except ImportError:
            from ..config import ConfigError

            raise ConfigError(
                "needs the 'redis' package: pip install 'scanbridge[redis]'",
                key="redis_url",
                value=self.url,
            ) from None
        from redis.asyncio.retry import Retry
        from redis.backoff import ExponentialBackoff
        from redis.exceptions import ConnectionError as RedisConnectionError

        # Pooled connections go stale when Redis restarts: retry on a fresh one.
        self.redis = aioredis.from_url(
            self.url,
            decode_responses=True,
            retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), 2),
            retry_on_error=[RedisConnectionError, ConnectionError, OSError],
            socket_connect_timeout=2.0,
            health_check_interval=10,
        )
        assert self.app._core is not None
        self.app._core.set_backplane(True)
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._listen()), loop.create_task(self._heartbeat())]

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            try:
                await t
            except (asyncio.CancelledError, Exception):
                pass
        if self.redis is not None:
            try:
                if self.up:
                    await self.redis.delete(members_key(self.node))
                    await self.redis.zrem(NODES, self.node)
                await self.redis.aclose()
            except Exception:
                pass

    # ---- failures --------------------------------------------------------

    def _down(self, e: BaseException) -> None:
        self.up = False
        if not self._outage_logged:
            self._outage_logged = True
            log.error(
                "Redis backplane %s is unreachable (%s): rooms are local only until it comes back",
                self.url,
                e,
            )

    def _back(self) -> None:
        if self._outage_logged:
            log.warning("Redis backplane %s is back", self.url)
        self._outage_logged = False
        self.up = True

    # ---- messages ----------------------------------------------------------

    async def _listen(self) -> None:
        delay = 0.2
        while True:
            pubsub = None
            try:
                pubsub = self.redis.pubsub()
                await pubsub.subscribe(CHANNEL)
                self._back()
                await self._publish_membership()
                delay = 0.2
                while True:
                    msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if msg is not None and msg.get("type") == "message":
                        self._deliver(msg["data"])
            except asyncio.CancelledError:
                raise
            except Exception as e:
                self._down(e)
            finally:
                if pubsub is not None:
                    try:
                        await pubsub.aclose()
                    except Exception:
                        pass
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 10.0)

    def _deliver(self, data: str) -> None:
        try:
            d = json.loads(data)
            if d["node"] == self.node:
                return
            core = self.app._core
            if core is not None:
                core.publish_event(d["ns"], d["room"], d["sender"], d["message"])
                self.app._schedule_flush()
        except Exception:
            log.exception("bad backplane message %r", data[:200])

    def forward(self, ns: str, room: str, sender: str, message: str) -> None:
        """A NOTIFY published here: tell the other processes (message is raw JSON)."""
        if not self.up:
            return
        payload = json.dumps(
            {"node": self.node, "ns": ns, "room": room, "sender": sender, "message": message}
        )
        asyncio.get_running_loop().create_task(self._send(payload))

    async def _send(self, payload: str) -> None:
        try:
            await self.redis.publish(CHANNEL, payload)
        except Exception as e:
            self._down(e)

    # ---- membership ------------------------------------------------------

    def membership(self, conn: int, ns: str, room: str, name: str, joined: bool) -> None:
        field = f"{ns}\x01{room}\x01{conn}"
        if joined:
            self.local[field] = name
        else:
            self.local.pop(field, None)
        if self.up:
            asyncio.get_running_loop().create_task(self._member_change(field, name, joined))

    async def _member_change(self, field: str, name: str, joined: bool) -> None:
        key = members_key(self.node)
        try:
            if joined:
                await self.redis.hset(key, field, name)
                await self.redis.expire(key, EXPIRE_SECONDS)
            else:
                await self.redis.hdel(key, field)
        except Exception as e:
            self._down(e)

    async def _publish_membership(self) -> None:
        key = members_key(self.node)
        pipe = self.redis.pipeline()
        pipe.delete(key)
        if self.local:
            pipe.hset(key, mapping=self.local)
            pipe.expire(key, EXPIRE_SECONDS)
        pipe.zadd(NODES, {self.node: time.time()})
        await pipe.execute()

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            if not self.up:
                continue
            try:
                await self.redis.zadd(NODES, {self.node: time.time()})
                await self.redis.expire(members_key(self.node), EXPIRE_SECONDS)
                await self.redis.zremrangebyscore(NODES, 0, time.time() - EXPIRE_SECONDS)
            except Exception as e:
                self._down(e)

    async def clients(self, conn: int, ns: str, room: str) -> None:
        """Answer CLIENTS with the room's members in every live process."""
        core = self.app._core
        if core is None:
            return
        names = list(core.room_member_names(ns, room))
        if self.up:
            prefix = f"{ns}\x01{room}\x01"
            try:
                nodes = await self.redis.zrangebyscore(NODES, time.time() - EXPIRE_SECONDS, "+inf")
                for node in nodes:
                    if node == self.node:
                        continue
                    remote = await self.redis.hgetall(members_key(node))
                    names.extend(v for k, v in remote.items() if k.startswith(prefix))
            except Exception as e:
                self._down(e)
        if self.app._core is not None:
            self.app._core.send(
                conn,
                json.dumps(["CLIENTS", {"room": room, "clients": names}], separators=(",", ":")),
            )
            self.app._schedule_flush()
