"""A Redis backplane: NOTIFYs published in one scanbridge process reach room
members in every process on the same Redis; CLIENTS lists members everywhere.

- Messages: one pub/sub channel; each carries the publishing node's id, so a
  process never delivers its own message twice.
- Membership: each node keeps a hash ``scanbridge:members:<node>`` of
  ``namespace \\x01 room \\x01 conn -> name``, refreshed with an expiry, and
  announces itself in the sorted set ``scanbridge:nodes`` (score = last
  heartbeat). A crashed process's members disappear when its keys expire.
- Order: everything sent to Redis (messages and membership changes) goes
  through one queue and one sender task, pipelined in order, so a
  publisher's messages keep their order across processes.
- Outages: logged once; local delivery goes on (what is sent meanwhile is
  dropped, bounded); the backplane reconnects by itself with backoff and
  re-publishes its membership; any later success marks it up again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
import uuid
from collections import deque
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..app import App

log = logging.getLogger("scanbridge.backplane")

CHANNEL = "scanbridge:rooms"
NODES = "scanbridge:nodes"
HEARTBEAT_SECONDS = 5.0
EXPIRE_SECONDS = 15
#: Commands waiting for Redis; past this the oldest are dropped.
OUTBOX_LIMIT = 10_000
#: Commands per pipeline round trip.
BATCH = 256


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
        self._outbox: deque[tuple[str, ...]] = deque()
        self._wake = asyncio.Event()
        self._dropped = 0
        self._last_warning = -1e9

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
        self._tasks = [
            loop.create_task(self._listen()),
            loop.create_task(self._heartbeat()),
            loop.create_task(self._sender()),
        ]

    async def stop(self) -> None:
        """Leave Redis (members first, so other processes drop them at once); bounded."""
        for t in self._tasks:
            t.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=2.0)
        self._tasks = []
        if self.redis is None:
            return
        try:
            async with asyncio.timeout(2.0):
                if self.up:
                    await self.redis.delete(members_key(self.node))
                    await self.redis.zrem(NODES, self.node)
        except (Exception, TimeoutError) as e:
            log.warning("Redis backplane: could not deregister cleanly: %r", e)
        try:
            async with asyncio.timeout(2.0):
                await self.redis.aclose()
        except (Exception, TimeoutError):
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

    def _command_failed(self, e: BaseException) -> None:
        """A command failed while the subscription may be fine (e.g. Redis refused a
        write): warn, at most every 30 s; what it carried is dropped."""
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        if isinstance(e, RedisConnectionError | RedisTimeoutError | OSError):
            # Unreachable: the subscription notices too, and reports the outage once.
            log.debug("Redis backplane command failed: %r", e)
            return
        now = time.monotonic()
        if not self._outage_logged and now - self._last_warning > 30:
            self._last_warning = now
            log.warning("Redis backplane %s: a command failed (%s); it was dropped", self.url, e)

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
        payload = json.dumps(
            {"node": self.node, "ns": ns, "room": room, "sender": sender, "message": message}
        )
        self._enqueue(("publish", CHANNEL, payload))

    def _enqueue(self, cmd: tuple[str, ...]) -> None:
        if len(self._outbox) >= OUTBOX_LIMIT:
            self._outbox.popleft()
            self._dropped += 1
            if self._dropped in (1, 1000, 100_000):
                log.error("Redis backplane is behind: %d commands dropped", self._dropped)
        self._outbox.append(cmd)
        self._wake.set()

    async def _sender(self) -> None:
        """Send queued commands in order, pipelined; a failed batch is dropped
        (local delivery is unaffected) and the next success marks the backplane up."""
        delay = 0.1
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._outbox:
                batch = [self._outbox.popleft() for _ in range(min(BATCH, len(self._outbox)))]
                pipe = self.redis.pipeline(transaction=False)
                for cmd in batch:
                    op, key, *args = cmd
                    if op == "publish":
                        pipe.publish(key, args[0])
                    elif op == "hset":
                        pipe.hset(key, args[0], args[1])
                        pipe.expire(key, EXPIRE_SECONDS)
                    elif op == "hdel":
                        pipe.hdel(key, args[0])
                try:
                    await pipe.execute()
                    delay = 0.1
                except asyncio.CancelledError:
                    raise
                except Exception as e:
                    # The batch is dropped; the subscription decides up/down.
                    self._command_failed(e)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)

    # ---- membership ------------------------------------------------------

    def membership(self, conn: int, ns: str, room: str, name: str, joined: bool) -> None:
        field = f"{ns}\x01{room}\x01{conn}"
        key = members_key(self.node)
        if joined:
            self.local[field] = name
            self._enqueue(("hset", key, field, name))
        else:
            self.local.pop(field, None)
            self._enqueue(("hdel", key, field))

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
            try:
                await self.redis.zadd(NODES, {self.node: time.time()})
                await self.redis.expire(members_key(self.node), EXPIRE_SECONDS)
                await self.redis.zremrangebyscore(NODES, 0, time.time() - EXPIRE_SECONDS)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                self._command_failed(e)

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
                self._command_failed(e)
        if self.app._core is not None:
            self.app._core.send(
                conn,
                json.dumps(["CLIENTS", {"room": room, "clients": names}], separators=(",", ":")),
            )
            self.app._schedule_flush()
