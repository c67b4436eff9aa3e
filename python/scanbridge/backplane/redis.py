"""A Redis backplane: NOTIFYs published in one scanbridge process reach room
members in every process on the same Redis; CLIENTS lists members everywhere.

- Messages: one pub/sub channel; each carries the publishing node's id and a
  sequence number. A process never delivers its own message, and delivers each
  (node, seq) at most once: a copy that Redis hands over again (a publish
  re-sent after a timeout, while the first one was still queued in a frozen
  Redis) is dropped by the receiver.
- Membership: each node keeps a hash ``scanbridge:members:<node>`` of
  member field -> name (the field and the room key are the core's:
  ``_core.member_field``, ``member_field_room_key``), refreshed with an expiry, and
  announces itself in the sorted set ``scanbridge:nodes`` (score = last
  heartbeat). A crashed process's members disappear when its keys expire.
- Order: everything sent to Redis (messages and membership changes) goes
  through one queue and one sender task, pipelined in order, so a
  publisher's messages keep their order across processes.
- Outages. Every command has a socket timeout (:data:`COMMAND_TIMEOUT`), so a
  frozen Redis is noticed like a dead one; the subscription is PINGed when idle.
  The backplane is *up* only while its subscription is confirmed: the sender
  publishes only then, so after an outage the subscription is restored before
  publishing resumes. While down, outgoing commands are held (at most
  :data:`HOLD_SECONDS`, :data:`OUTBOX_LIMIT`, :data:`OUTBOX_BYTES`); older ones
  are dropped and the dropped messages counted (``dropped_total``, in
  /metrics). Reconnecting retries quickly (backoff capped at
  :data:`RECONNECT_MAX`); once subscribed again it re-publishes its membership
  and waits (at most :data:`PEERS_WAIT`) until as many processes are subscribed
  as before the outage, so that what it publishes next reaches them too. The
  outage is logged twice: an ERROR when it starts, a WARNING with its length
  and the count of messages not forwarded when it ends. Local delivery is never
  affected.
- CLIENTS asks Redis for the other processes' members, bounded by
  :data:`CLIENTS_TIMEOUT`; when Redis is down or does not answer in time, the
  answer lists this process's members only (logged once per outage).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections import deque
from contextlib import suppress
from typing import TYPE_CHECKING, Any, NamedTuple

from .._core import member_field, member_field_room_key, room_key
from ..retry import Backoff

if TYPE_CHECKING:
    from ..core_handle import CoreHandle

log = logging.getLogger("scanbridge.backplane")

CHANNEL = "scanbridge:rooms"
NODES = "scanbridge:nodes"
HEARTBEAT_SECONDS = 5.0
EXPIRE_SECONDS = 15
#: Commands waiting for Redis; past this the oldest are dropped.
OUTBOX_LIMIT = 10_000
#: Bytes of commands waiting for Redis; past this the oldest are dropped.
OUTBOX_BYTES = 32 * 1024 * 1024
#: Commands per pipeline round trip.
BATCH = 256
#: Socket timeout of every Redis command and connect: a frozen Redis is "down" after it.
COMMAND_TIMEOUT = 1.0
#: CLIENTS waits this long for the other processes' members, then answers with local ones.
CLIENTS_TIMEOUT = 1.0
#: Reconnect backoff while Redis is down: from RECONNECT_MIN, doubling, capped here.
RECONNECT_MIN = 0.05
RECONNECT_MAX = 0.5
#: While down, what is to be sent is held this long for Redis to come back.
HOLD_SECONDS = 2.0
#: After an outage, wait at most this long for the other processes to subscribe again.
PEERS_WAIT = 1.0
#: The subscription connection is PINGed after this long without traffic.
PING_SECONDS = 1.0
#: How often the subscription loop looks up from reading (to notice a resubscribe request).
POLL_SECONDS = 0.1
#: A publisher not heard from for this long is forgotten by the duplicate filter.
SEEN_SECONDS = 600.0


def members_key(node: str) -> str:
    return f"scanbridge:members:{node}"


class _Cmd(NamedTuple):
    at: float  # time.monotonic() when queued
    size: int  # bytes, for OUTBOX_BYTES
    op: str  # "publish", "hset" or "hdel"
    key: str
    args: tuple[str, ...]


class RedisBackplane:
    def __init__(self, core: CoreHandle, url: str) -> None:
        self.core = core
        self.url = url
        self.node = uuid.uuid4().hex
        self.redis: Any = None
        #: Subscribed (confirmed) and membership published: messages are sent.
        self.up = False
        #: Messages not forwarded to the other processes since start (for /metrics).
        self.dropped_total = 0
        self.local: dict[str, str] = {}  # "ns\x01room\x01conn" -> name
        self._tasks: list[asyncio.Task[Any]] = []
        self._outbox: deque[_Cmd] = deque()
        self._outbox_bytes = 0
        self._wake = asyncio.Event()  # something to send, or the backplane is up
        self._reconnect = asyncio.Event()  # Redis answered: cut the reconnect backoff short
        self._resubscribe = asyncio.Event()  # a command failed: renew the subscription
        self._seq = 0
        #: publisher node -> (newest seq delivered, time.monotonic() of it)
        self._seen: dict[str, tuple[int, float]] = {}
        #: Subscribers of CHANNEL (this process included) when last seen up.
        self._peers = 0
        self._down_since: float | None = None  # time.monotonic() the outage began
        self._outage_dropped = 0
        self._clients_logged = False
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
        from redis.backoff import NoBackoff

        # No retries inside redis-py: a command re-sent after a timeout may run twice
        # (the first copy waits in a frozen Redis). The backplane re-sends what failed
        # itself, only once it is subscribed again, and receivers drop copies.
        self.redis = aioredis.from_url(
            self.url,
            decode_responses=True,
            retry=Retry(NoBackoff(), 0),
            socket_timeout=COMMAND_TIMEOUT,
            socket_connect_timeout=COMMAND_TIMEOUT,
        )
        if not self.core.set_backplane(True):
            raise RuntimeError("the backplane starts after the core")
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
        if self._down_since is not None:
            log.warning(
                "Redis backplane %s stopped while down (%.1f s): %d messages not forwarded",
                self.url,
                time.monotonic() - self._down_since,
                self._outage_dropped,
            )
        if self.redis is None:
            return
        try:
            async with asyncio.timeout(2.0):
                if self.up:
                    await self.redis.delete(members_key(self.node))
                    await self.redis.zrem(NODES, self.node)
        except (Exception, TimeoutError) as e:
            log.warning("Redis backplane: could not deregister cleanly: %r", e)
        self.up = False
        try:
            async with asyncio.timeout(2.0):
                await self.redis.aclose()
        except (Exception, TimeoutError):
            pass

    # ---- up and down -------------------------------------------------------------

    @staticmethod
    def _unreachable(e: BaseException) -> bool:
        """Redis is gone or does not answer (as opposed to refusing one command)."""
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        # OSError includes the builtin ConnectionError and TimeoutError.
        return isinstance(e, RedisConnectionError | RedisTimeoutError | OSError)

    def _down(self, e: BaseException) -> None:
        self.up = False
        if self._down_since is None:
            self._down_since = time.monotonic()
            self._outage_dropped = 0
            log.error(
                "Redis backplane %s is unreachable (%s): rooms are local only until it comes back",
                self.url,
                str(e) or type(e).__name__,
            )

    def _failed(self, e: BaseException) -> None:
        """A command (not the subscription) failed."""
        if self._unreachable(e):
            self._down(e)
            self._resubscribe.set()  # the subscription may be just as dead: renew it
        else:
            self._command_failed(e)

    def _command_failed(self, e: BaseException) -> None:
        """Redis refused a command (e.g. a write under maxmemory): warn, at most every 30 s."""
        now = time.monotonic()
        if self._down_since is None and now - self._last_warning > 30:
            self._last_warning = now
            log.warning("Redis backplane %s: a command failed (%s); it was dropped", self.url, e)

    def _back(self) -> None:
        self._expire_held()  # what is left is sent now
        if self._down_since is not None:
            log.warning(
                "Redis backplane %s is back: down %.1f s, %d messages not forwarded",
                self.url,
                time.monotonic() - self._down_since,
                self._outage_dropped,
            )
        self._down_since = None
        self._outage_dropped = 0
        self._clients_logged = False
        self._resubscribe.clear()
        self.up = True
        self._wake.set()

    # ---- subscription --------------------------------------------------------------

    async def _listen(self) -> None:
        backoff = Backoff(RECONNECT_MIN, RECONNECT_MAX)
        while True:
            pubsub = None
            try:
                if self._down_since is not None:
                    # Idle pooled connections may lead to a Redis that is gone.
                    await self.redis.connection_pool.disconnect(inuse_connections=False)
                pubsub = self.redis.pubsub()
                await self._subscribe(pubsub)
                async with asyncio.timeout(2 * COMMAND_TIMEOUT):
                    await self._publish_membership()
                if self._down_since is not None:
                    await self._wait_for_peers()
                self._back()
                backoff.reset()
                await self._read(pubsub)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                self._down(e)
            finally:
                if pubsub is not None:
                    with suppress(Exception):
                        async with asyncio.timeout(COMMAND_TIMEOUT):
                            await pubsub.aclose()
            self._reconnect.clear()
            with suppress(TimeoutError):
                async with asyncio.timeout(backoff.next()):
                    await self._reconnect.wait()

    async def _subscribe(self, pubsub: Any) -> None:
        """SUBSCRIBE and wait for Redis to confirm it: from then on every message
        published reaches this process."""
        async with asyncio.timeout(2 * COMMAND_TIMEOUT):
            await pubsub.subscribe(CHANNEL)
            while True:
                msg = await pubsub.get_message(timeout=COMMAND_TIMEOUT)
                if msg is not None and msg.get("type") == "subscribe":
                    return

    async def _read(self, pubsub: Any) -> None:
        """Deliver messages until the connection fails, stays silent to a PING for
        COMMAND_TIMEOUT (a frozen Redis), or a failed command asks for a new one."""
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        heard = time.monotonic()
        pinged: float | None = None
        while not self._resubscribe.is_set():
            msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=POLL_SECONDS)
            now = time.monotonic()
            if msg is not None:
                heard, pinged = now, None
                if msg.get("type") == "message":
                    self._deliver(msg["data"])
            elif pinged is not None:
                if now - pinged > COMMAND_TIMEOUT:
                    raise RedisTimeoutError(f"no answer to PING within {COMMAND_TIMEOUT} s")
            elif now - heard >= PING_SECONDS:
                await pubsub.ping()
                pinged = now
        raise RedisConnectionError("a command failed; renewing the subscription")

    async def _wait_for_peers(self) -> None:
        """After an outage: until as many processes are subscribed as were before
        (they reconnect on their own, within about RECONNECT_MAX), bounded."""
        deadline = time.monotonic() + PEERS_WAIT
        while self._peers > 1 and time.monotonic() < deadline:
            async with asyncio.timeout(COMMAND_TIMEOUT):
                [(_, n)] = await self.redis.pubsub_numsub(CHANNEL)
            if n >= self._peers:
                return
            await asyncio.sleep(0.02)

    def _deliver(self, data: str) -> None:
        try:
            d = json.loads(data)
            node = d["node"]
            if node == self.node:
                return
            seq = d.get("seq")
            if isinstance(seq, int):
                seen = self._seen.get(node)
                if seen is not None and seq <= seen[0]:
                    log.debug("backplane: dropped a copy of message %d from %s", seq, node)
                    return
                self._seen[node] = (seq, time.monotonic())
            self.core.publish_event(d["ns"], d["room"], d["sender"], d["message"])
        except Exception:
            log.exception("bad backplane message %r", data[:200])

    # ---- sending -------------------------------------------------------------------

    def forward(self, ns: str, room: str, sender: str, message: str) -> None:
        """A NOTIFY published here: tell the other processes (message is raw JSON)."""
        self._seq += 1
        payload = json.dumps(
            {
                "node": self.node,
                "seq": self._seq,
                "ns": ns,
                "room": room,
                "sender": sender,
                "message": message,
            }
        )
        self._enqueue("publish", CHANNEL, payload)

    def _enqueue(self, op: str, key: str, *args: str) -> None:
        cmd = _Cmd(time.monotonic(), sum(len(a) for a in args), op, key, args)
        self._outbox.append(cmd)
        self._outbox_bytes += cmd.size
        while len(self._outbox) > OUTBOX_LIMIT or self._outbox_bytes > OUTBOX_BYTES:
            self._drop(self._outbox.popleft())
        self._wake.set()

    def _drop(self, cmd: _Cmd) -> None:
        """`cmd` (already out of the outbox) will not be sent."""
        self._outbox_bytes -= cmd.size
        if cmd.op == "publish":
            self._count_dropped()

    def _count_dropped(self) -> None:
        self.dropped_total += 1
        if self._down_since is not None:
            self._outage_dropped += 1  # reported when the outage ends
            return
        now = time.monotonic()
        if now - self._last_warning > 30:
            self._last_warning = now
            log.error(
                "Redis backplane %s is behind: %d messages not forwarded since start",
                self.url,
                self.dropped_total,
            )

    def _expire_held(self) -> None:
        cutoff = time.monotonic() - HOLD_SECONDS
        while self._outbox and self._outbox[0].at < cutoff:
            self._drop(self._outbox.popleft())

    async def _sender(self) -> None:
        """Send queued commands in order, pipelined, while the backplane is up. A batch
        that fails because Redis is unreachable goes back to the front of the queue,
        to be sent again once subscribed (receivers drop what they already have)."""
        while True:
            if not self.up:
                self._expire_held()
                with suppress(TimeoutError):
                    async with asyncio.timeout(0.25):
                        await self._wake.wait()
                self._wake.clear()
                continue
            if not self._outbox:
                await self._wake.wait()
                self._wake.clear()
                continue
            batch = [self._outbox.popleft() for _ in range(min(BATCH, len(self._outbox)))]
            self._outbox_bytes -= sum(c.size for c in batch)
            pipe = self.redis.pipeline(transaction=False)
            for c in batch:
                if c.op == "publish":
                    pipe.publish(c.key, c.args[0])
                elif c.op == "hset":
                    pipe.hset(c.key, c.args[0], c.args[1])
                    pipe.expire(c.key, EXPIRE_SECONDS)
                else:
                    pipe.hdel(c.key, c.args[0])
            try:
                async with asyncio.timeout(3 * COMMAND_TIMEOUT):
                    results = await pipe.execute(raise_on_error=False)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                if self._unreachable(e):
                    self._outbox.extendleft(reversed(batch))
                    self._outbox_bytes += sum(c.size for c in batch)
                else:
                    for c in batch:
                        self._drop(c._replace(size=0))
                self._failed(e)
                continue
            self._sent(batch, results)

    def _sent(self, batch: list[_Cmd], results: list[Any]) -> None:
        """Look at the replies: refused commands are counted/warned; a PUBLISH's
        reply is how many processes are subscribed."""
        it = iter(results)
        refused: BaseException | None = None
        for c in batch:
            r = next(it, None)
            if c.op == "hset":
                r2 = next(it, None)
                if isinstance(r2, BaseException):
                    refused = r2
            if isinstance(r, BaseException):
                refused = r
                if c.op == "publish":
                    self._count_dropped()
            elif c.op == "publish" and isinstance(r, int):
                self._peers = r
        if refused is not None:
            self._command_failed(refused)

    # ---- membership ------------------------------------------------------

    def membership(self, conn: int, ns: str, room: str, name: str, joined: bool) -> None:
        field = member_field(ns, room, conn)
        key = members_key(self.node)
        if joined:
            self.local[field] = name
            self._enqueue("hset", key, field, name)
        else:
            self.local.pop(field, None)
            self._enqueue("hdel", key, field)

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
                async with asyncio.timeout(2 * COMMAND_TIMEOUT):
                    pipe = self.redis.pipeline(transaction=False)
                    pipe.zadd(NODES, {self.node: time.time()})
                    pipe.expire(members_key(self.node), EXPIRE_SECONDS)
                    pipe.zremrangebyscore(NODES, 0, time.time() - EXPIRE_SECONDS)
                    pipe.pubsub_numsub(CHANNEL)
                    *_, numsub = await pipe.execute()
                if self.up:
                    self._peers = numsub[0][1]
                else:
                    self._reconnect.set()  # Redis answers: subscribe now
            except asyncio.CancelledError:
                raise
            except Exception as e:
                if self.up:
                    self._failed(e)
            cutoff = time.monotonic() - SEEN_SECONDS
            for node in [n for n, (_, t) in self._seen.items() if t < cutoff]:
                del self._seen[node]

    async def clients(self, conn: int, ns: str, room: str) -> None:
        """Answer CLIENTS with the room's members in every live process (within
        CLIENTS_TIMEOUT; else with this process's members)."""
        if not self.core.running:
            return
        names = self.core.room_member_names(ns, room)
        if not self.up:
            self._clients_local(room, "the backplane is down")
        else:
            want = room_key(ns, room)
            try:
                async with asyncio.timeout(CLIENTS_TIMEOUT):
                    nodes = await self.redis.zrangebyscore(
                        NODES, time.time() - EXPIRE_SECONDS, "+inf"
                    )
                    others = [n for n in nodes if n != self.node]
                    remote: list[dict[str, str]] = []
                    if others:
                        pipe = self.redis.pipeline(transaction=False)
                        for node in others:
                            pipe.hgetall(members_key(node))
                        remote = await pipe.execute()
                for members in remote:
                    names.extend(v for k, v in members.items() if member_field_room_key(k) == want)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                if isinstance(e, TimeoutError):
                    why = f"Redis did not answer within {CLIENTS_TIMEOUT} s"
                else:
                    why = str(e) or type(e).__name__
                self._clients_local(room, why)
                self._failed(e)
        # Encoded and framed by the core, as its own CLIENTS replies are
        # (Socket.IO members get a ``42/<ns>,`` packet).
        self.core.reply_clients(conn, ns, room, names)

    def _clients_local(self, room: str, why: str) -> None:
        if not self._clients_logged:
            self._clients_logged = True
            log.warning(
                "CLIENTS of room %r answered with this process's members only (%s; Redis at "
                "%s); not said again during this outage",
                room,
                why,
                self.url,
            )
