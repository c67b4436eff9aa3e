"""The Streams service: scans in from sources, events out to every Streams client.

Each event is journaled (it gets its ``seq``), then framed once per field set
(PROTOCOLS.md 1.0) and queued by the Rust core to every member of the room of
that set: ``streams`` (the documented fields, the default) or ``streams.ext``
(the extended fields, for clients that connected with ``?ext=1`` or
``?since=``).  Commands are carried out or answered in
:mod:`scanbridge.streams.commands`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import msgspec

from .. import __version__
from ..config import TRUE_WORDS, Config
from ..core_handle import CoreHandle
from ..errors import JournalError, ScanRefused
from ..hooks import call_hook
from ..journal import Journal, default_journal_path
from ..journal_writer import JournalWriter, Stored
from ..retry import Backoff
from ..scan import Scan
from ..scanners.base import DeviceInfo, Sink, Source
from ..session import Session
from . import messages as m
from .commands import Commands

log = logging.getLogger("scanbridge.streams")

ROOM = "streams"
"""Clients of the documented field set."""
ROOM_EXT = "streams.ext"
"""Clients of the extended field set."""
ROOM_WATCH = "streams.watch"
"""Watchers (``?watch=1``, e.g. the demo page): extended set, and what reaches them
does not count as delivered (an app that connects later still gets it)."""
#: Restart a crashed source after this long, doubling up to the max.
RESTART_MIN, RESTART_MAX = 0.5, 30.0

ScanHook = Callable[[Scan], Any]
CommandHook = Callable[[Any, Session | None], Any]


def default_gateway_serial() -> str:
    """A stable serial for this machine: SB + 10 hex digits of the machine id."""
    for p in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        try:
            seed = Path(p).read_text().strip()
            if seed:
                break
        except OSError:
            continue
    else:
        import socket

        seed = socket.gethostname()
    return "SB" + hashlib.sha256(seed.encode()).hexdigest()[:10].upper()


#: A filter every scan passes before the hooks: True means "taken" (e.g. a
#: configuration barcode, applied or refused, never published).
ScanFilter = Callable[[Scan], bool]


class StreamsService(Sink):
    """The Streams API: sources in, journal, events out, commands.

    Gets narrow handles, not the App: ``core`` (send/join/publish), ``config``
    (a getter: the configuration can change at run time) and ``scan_filter``.
    """

    def __init__(
        self,
        core: CoreHandle,
        config: Callable[[], Config],
        scan_filter: ScanFilter = lambda scan: False,
    ) -> None:
        cfg = config()
        self.core = core
        self._config = config
        self._scan_filter = scan_filter
        self.gateway_serial = cfg.gateway_serial or default_gateway_serial()
        path: Path | None
        if cfg.journal == ":memory:" or (cfg.journal is None and cfg.port == 0):
            # Memory only (a server on a random port has no stable identity to resume).
            path = None
        elif cfg.journal:
            path = Path(cfg.journal)
        else:
            # One journal per port: two servers on one machine don't share seqs.
            default = default_journal_path()
            path = default.with_name(f"{default.stem}-{cfg.port}{default.suffix}")
        from ..config import ConfigError

        try:
            self.journal = Journal(
                path,
                max_events=cfg.journal_max_events,
                max_age=cfg.journal_max_age,
                max_bytes=cfg.journal_max_bytes,
                synchronous=cfg.journal_synchronous,
            )
        except JournalError as e:
            raise ConfigError(e.reason, key="journal", value=str(path)) from None
        if path is None:
            log.info("journal: in memory only (nothing survives a restart)")
        else:
            js = self.journal.stats()
            log.info("journal: %s (%d events, last seq %d)", path, js["events"], js["last_seq"])
        self.writer: JournalWriter | None = None
        #: The seq of the newest event handed to the room (replays stop there:
        #: what is stored but not yet sent reaches a new client through the room).
        self._sent_seq = self.journal.last_seq()
        self.commands = Commands(self)
        self.sources: dict[str, Source] = {}
        self.scan_hooks: list[ScanHook] = []
        self.command_hooks: list[CommandHook] = []
        self.recent: list[Scan] = []
        self.scans_total = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._prune_handle: asyncio.TimerHandle | None = None

    # ---- sources --------------------------------------------------------

    def add_source(self, source: Source) -> None:
        serial = source.device.serial
        if serial in self.sources:
            raise ValueError(f"two scanners have device_serial {serial!r}")
        self.sources[serial] = source

    def preflight(self) -> None:
        """Every source checks it can work (e.g. BLE needs BlueZ); raise ConfigError if not."""
        from ..config import ConfigError

        for src in self.sources.values():
            try:
                src.preflight()
            except Exception as e:
                raise ConfigError(
                    f"cannot start: {e}", key="scanners", value=src.device.serial
                ) from None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.writer = JournalWriter(
            self.journal, loop=loop, on_stored=self._on_stored, on_health=self._on_health
        )
        for src in self.sources.values():
            self._tasks.append(loop.create_task(self._run_source(src)))
        self._schedule_prune()

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            try:
                await t
            except (asyncio.CancelledError, Exception):
                pass
        self._tasks.clear()
        if self._prune_handle:
            self._prune_handle.cancel()
        if self.writer is not None:
            await self.writer.close()
        self.journal.close()

    def _schedule_prune(self) -> None:
        loop = asyncio.get_running_loop()

        def prune() -> None:
            if self.writer is not None:
                self.writer.prune()
            self._prune_handle = loop.call_later(60, prune)

        self._prune_handle = loop.call_later(60, prune)

    async def _run_source(self, src: Source) -> None:
        backoff = Backoff(RESTART_MIN, RESTART_MAX)
        while True:
            delay = backoff.next()
            try:
                await src.run(self)
                return
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.error(
                    "scanner %s (%s) failed: %s; restarting in %.1fs",
                    src.device.serial,
                    src.kind,
                    e,
                    delay,
                )
                if src.device.connected:
                    await self.state(src.device, False)
            await asyncio.sleep(delay)

    # ---- events out -----------------------------------------------------

    def _submit(
        self, event: dict[str, Any], *, hold: bool, token: Any = None
    ) -> asyncio.Future[tuple[int, bytes]]:
        """Journal ``event`` on the writer thread; it is sent once stored (_on_stored)."""
        if self.writer is None:
            raise JournalError(self.journal.path, "the Streams service is not started")
        return self.writer.submit(event, hold=hold, token=token)

    def _on_stored(self, stored: list[Stored]) -> None:
        """Stored events, in seq order, on the loop: send each to the room."""
        delivered_scans: list[int] = []
        for st in stored:
            delivered = self._publish(st.event, st.data)
            if delivered and st.event.get("event_type") == "scan":
                delivered_scans.append(st.seq)
            self._sent_seq = max(self._sent_seq, st.seq)
            scan = st.token
            if isinstance(scan, Scan):
                scan.seq = st.seq
                self.scans_total += 1
                self.recent.append(scan)
        del self.recent[:-50]
        if delivered_scans and self.writer is not None:
            self.writer.mark_delivered(delivered_scans)

    def _publish(self, event: dict[str, Any], data: bytes | None = None) -> int:
        """Send one event to every room, each in its field set; returns the
        deliveries to apps (watchers' copies do not count)."""
        core = self.core
        if not core.running:
            return 0
        ext = (data if data is not None else m.encode(event)).decode()
        delivered = core.publish(ROOM_EXT, ext)
        core.publish(ROOM_WATCH, ext)
        doc = m.documented(event)
        if doc is not None:
            delivered += core.publish(ROOM, m.encode(doc).decode())
        return delivered

    def broadcast_unjournaled(self, event: dict[str, Any]) -> None:
        """Send an event that is not journaled (a notice) to every Streams client."""
        self._publish(event)

    def _on_health(self, ok: bool, reason: str) -> None:
        """Tell every Streams client when the journal stops (and starts) storing."""
        if ok:
            log.warning("journal stores again; held scanner events follow in order")
            event = m.error_event(
                None,
                "ERROR_OK",
                "the journal stores again",
                "WARNING",
            )
        else:
            event = m.error_event(
                None,
                "ERROR_UNKNOWN",
                f"journal cannot store, scans are held: {reason}",
                "CRITICAL",
            )
        self.broadcast_unjournaled(event)

    @property
    def config(self) -> Config:
        """The configuration in force now (it can change at run time)."""
        return self._config()

    def journal_stats(self) -> dict[str, int]:
        """The journal's stats plus the writer's (held, refused, stored, commits)."""
        out = self.journal.stats()
        if self.writer is not None:
            out.update(self.writer.stats())
        out["healthy"] = int(self.healthy)
        out["blocked"] = self.commands.blocked_total
        return out

    @property
    def healthy(self) -> bool:
        """False while the journal cannot store."""
        return self.writer.healthy if self.writer is not None else self.journal.healthy

    async def scan(self, scan: Scan) -> None:
        await self.publish_scan(scan, hold=True)

    async def publish_scan(self, scan: Scan, *, hold: bool = False) -> Scan | None:
        """Run the hooks, journal and send; None when a hook vetoed it.

        ``hold=False`` (an API that can answer): returns once the scan is
        stored and sent, or raises :class:`~scanbridge.errors.JournalError`
        (nothing stored).  ``hold=True`` (a scanner): returns at once; the
        scan is sent when stored, held in memory while the journal cannot
        store (see :mod:`scanbridge.journal_writer`).
        """
        if self._scan_filter(scan):
            return None
        if self.commands.blocks(scan.device_serial, "TRIGGER_SINGLE_CLICK"):
            return None
        refused = _code_problem(scan.code)
        if refused is not None:
            if not hold:
                raise ScanRefused(refused)
            log.error("scan from %s refused: %s", scan.device_serial, refused)
            self.broadcast_unjournaled(
                m.error_event(
                    None,
                    "ERROR_UNKNOWN",
                    f"scan refused: {refused}",
                    device_serial=scan.device_serial,
                )
            )
            return None
        for hook in self.scan_hooks:
            r = await call_hook(hook, scan, log=log, what="on_scan")
            if r is False:
                log.info("scan from %s stopped by hook %r", scan.device_serial, hook)
                return None
        event = m.scan_event(
            scan.code,
            scan.raw if scan.raw and scan.raw != scan.code.encode() else None,
            scan.device_serial,
            self.gateway_serial,
            device_model=scan.device_model,
            symbology=scan.symbology,
            aim_id=scan.aim_id,
        )
        if scan.event_id:  # chosen by the caller (POST /api/scans: a safe retry)
            event["event_id"] = scan.event_id
        scan.event_id = event["event_id"]
        scan.time_created = event["time_created"]
        fut = self._submit(event, hold=hold, token=scan)
        if not hold:
            await fut
        return scan

    async def state(self, device: DeviceInfo, connected: bool) -> None:
        """A source saw its device appear or go (a scanner_connectivity! disconnect
        keeps a present device reported as disconnected)."""
        device.present = connected
        src = self.sources.get(device.serial)
        effective = connected and (src is None or src.enabled)
        if effective != device.connected or not connected:
            self.set_state(device, effective)

    def set_state(self, device: DeviceInfo, connected: bool) -> asyncio.Future[tuple[int, bytes]]:
        """Report ``device`` as connected or not (a journaled scanner_state event)."""
        device.connected = connected
        return self._submit(
            m.scanner_state_event(
                device.serial, self.gateway_serial, connected, device_model=device.model
            ),
            hold=True,
        )

    async def button(self, device: DeviceInfo, gesture: str) -> None:
        if self.commands.blocks(device.serial, gesture):
            return
        self._submit(m.button_pressed_event(device.serial, self.gateway_serial, gesture), hold=True)

    def devices(self) -> list[DeviceInfo]:
        return [s.device for s in self.sources.values()]

    # ---- the endpoint ---------------------------------------------------

    def connect(self, session: Session) -> None:
        """Greet, replay what the client missed, then join the live room of its field
        set (no await in between, so no event falls between replay and live)."""
        q = session.query
        watch = _flag(q, "watch")
        ext = watch or _flag(q, "ext") or "since" in q
        session.data["ext"] = ext
        session.data["acks"] = _flag(q, "acks")
        self.send(session, self.gateway_state(None))
        if "since" in q:
            events = self._replay_since(session, q["since"])
        elif "after" in q:
            events = self._replay_after(session, q["after"])
        elif watch:
            events = []  # a watcher takes nothing from the apps
        else:
            ttl = self._config().undelivered_ttl
            events = self.journal.undelivered(ttl, upto=self._sent_seq)
        for _, data in events:
            if ext:
                session.send_nowait(data.decode())
            else:
                doc = m.documented(msgspec.json.decode(data))
                if doc is not None:
                    session.send_nowait(m.encode(doc).decode())
        if events and self.writer is not None and not watch:
            # Replayed (with or without since) counts as received.
            self.writer.mark_delivered([s for s, _ in events])
        self.core.join(session.conn, ROOM_WATCH if watch else ROOM_EXT if ext else ROOM)

    def _replay_since(self, session: Session, since: str) -> list[tuple[int, bytes]]:
        try:
            seq = int(since)
        except ValueError:
            self.send(
                session,
                m.error_event(None, "ERROR_INVALID_COMMAND", f"since={since!r} is not an integer"),
            )
            return []
        return self._replay_from(session, seq)

    def _replay_after(self, session: Session, after: str) -> list[tuple[int, bytes]]:
        if not m.is_event_id(after):
            self.send(
                session,
                m.error_event(
                    None, "ERROR_INVALID_COMMAND", f"after={after[:40]!r} is not an event_id"
                ),
            )
            return []
        seq = self.journal.seq_of(after)
        if seq is None:
            # Pruned, from a lost journal, or never sent: say so, then all it holds.
            _, events = self.journal.since(0, upto=self._sent_seq)
            self._gap(session, f"event {after} is not in the journal; sending all it holds")
            return events
        return self._replay_from(session, seq)

    def _replay_from(self, session: Session, seq: int) -> list[tuple[int, bytes]]:
        gap, events = self.journal.since(seq, upto=self._sent_seq)
        if gap:
            last = self.journal.last_seq()
            self._gap(
                session,
                f"seq {seq} is beyond the journal's last seq {last} (that journal was lost)"
                if seq > last
                else f"the journal no longer holds events after seq {seq}",
            )
        return events

    def _gap(self, session: Session, text: str) -> None:
        """The replay-gap error: ERROR_REPLAY_GAP (extended), ERROR_UNKNOWN (documented)."""
        self.send(session, m.error_event(None, "ERROR_REPLAY_GAP", text, "WARNING"))

    def send(self, session: Session, event: dict[str, Any]) -> None:
        """Send an unjournaled event to one session, in its field set."""
        if session.closed:
            return
        if not session.data.get("ext") and event.get("event_type") != "command_ack":
            # (a command_ack goes only to clients that asked for it with ?acks=1)
            doc = m.documented(event)
            if doc is None:
                return
            event = doc
        session.send_nowait(m.encode(event).decode())

    def gateway_state(self, reference_id: str | None) -> dict[str, Any]:
        return m.gateway_state_event(
            reference_id,
            self.gateway_serial,
            __version__,
            [
                {
                    "device_serial": d.serial,
                    "device_model": d.model,
                    "device_manufacturer": d.manufacturer,
                    "device_firmware_version": d.firmware,
                }
                for d in self.devices()
                if d.connected
            ],
        )

    async def command(self, session: Session, text: str) -> None:
        await self.commands.handle(session, text)


def _code_problem(code: str) -> str | None:
    """Why ``code`` cannot be a ``scan_code`` (PROTOCOLS.md 1.1), or None."""
    if not code:
        return "the code is empty"
    if len(code) > m.SCAN_CODE_MAX:
        return f"the code has {len(code)} characters, at most {m.SCAN_CODE_MAX} are allowed"
    return None


def _flag(query: Mapping[str, str], name: str) -> bool:
    """A query flag (``?ext=1``) is on when it is one of the configuration's true
    words (1/true/yes/on, any case); anything else, or absent, is off."""
    return query.get(name, "").strip().lower() in TRUE_WORDS
