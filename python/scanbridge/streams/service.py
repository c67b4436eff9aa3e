"""The Streams service: scans in from sources, events out to every Streams client.

Each event is journaled (it gets its ``seq``) and then framed once and
queued to every member of the ``streams`` room by the Rust core. Commands
from clients are validated here and routed to the device's source and to
the Python hooks.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import inspect
import logging
import random
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..config import Config
from ..errors import JournalError
from ..journal import Journal, default_journal_path
from ..journal_writer import JournalWriter, Stored
from ..scan import Scan
from ..scanners.base import DeviceInfo, Sink, Source
from ..session import Session
from . import messages as m

if TYPE_CHECKING:
    from ..app import App

log = logging.getLogger("scanbridge.streams")

ROOM = "streams"
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


class StreamsService(Sink):
    def __init__(self, app: App) -> None:
        cfg: Config = app.config
        self.app = app
        self.config = cfg
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
        self.blocked_total = 0
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
        delay = RESTART_MIN
        while True:
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
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, RESTART_MAX)

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
        core = self.app._core
        delivered_scans: list[int] = []
        for st in stored:
            if core is not None:
                delivered, _ = core.publish(ROOM, st.data.decode())
                if delivered and st.event.get("event_type") == "scan":
                    delivered_scans.append(st.seq)
            self._sent_seq = max(self._sent_seq, st.seq)
            scan = st.token
            if isinstance(scan, Scan):
                scan.seq = st.seq
                self.scans_total += 1
                self.recent.append(scan)
        del self.recent[:-50]
        if core is not None:
            self.app._schedule_flush()
        if delivered_scans and self.writer is not None:
            self.writer.mark_delivered(delivered_scans)

    def _on_health(self, ok: bool, reason: str) -> None:
        """Tell every Streams client when the journal stops (and starts) storing."""
        if ok:
            log.warning("journal stores again; held scanner events follow in order")
            event = m.error_event(
                None,
                "ERROR_OK",
                "the journal stores again",
                "WARNING",
                gateway_serial=self.gateway_serial,
            )
        else:
            event = m.error_event(
                None,
                "ERROR_UNKNOWN",
                f"journal cannot store, scans are held: {reason}",
                "CRITICAL",
                gateway_serial=self.gateway_serial,
            )
        core = self.app._core
        if core is not None:
            core.publish(ROOM, m.encode(event).decode())
            self.app._schedule_flush()

    def journal_stats(self) -> dict[str, int]:
        """The journal's stats plus the writer's (held, refused, stored, commits)."""
        out = self.journal.stats()
        if self.writer is not None:
            out.update(self.writer.stats())
        out["healthy"] = int(self.healthy)
        out["blocked"] = self.blocked_total
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
        if self.app._handle_config_barcode(scan):
            return None
        for hook in self.scan_hooks:
            try:
                r = hook(scan)
                if inspect.isawaitable(r):
                    r = await r
            except Exception:
                log.exception("on_scan hook %r failed", hook)
                continue
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
        scan.event_id = event["event_id"]
        scan.time_created = event["time_created"]
        fut = self._submit(event, hold=hold, token=scan)
        if not hold:
            await fut
        return scan

    async def state(self, device: DeviceInfo, connected: bool) -> None:
        self._state(device, connected)

    def _state(self, device: DeviceInfo, connected: bool) -> asyncio.Future[tuple[int, bytes]]:
        device.connected = connected
        return self._submit(
            m.scanner_state_event(
                device.serial, self.gateway_serial, connected, device_model=device.model
            ),
            hold=True,
        )

    async def button(self, device: DeviceInfo, gesture: str) -> None:
        self._submit(m.button_pressed_event(device.serial, self.gateway_serial, gesture), hold=True)

    def devices(self) -> list[DeviceInfo]:
        return [s.device for s in self.sources.values()]

    # ---- the endpoint ---------------------------------------------------

    def connect(self, session: Session) -> None:
        """Replay what the client missed, then join the live room (no await in between)."""
        core = self.app._core
        assert core is not None
        session.data["acks"] = session.query.get("acks", "") in ("1", "true", "yes")
        since = session.query.get("since")
        if since is not None:
            try:
                seq = int(since)
            except ValueError:
                session.send_nowait(
                    m.encode(
                        m.error_event(
                            None, "ERROR_INVALID_COMMAND", f"since={since!r} is not an integer"
                        )
                    ).decode()
                )
                seq = self.journal.last_seq()
                gap, events = False, []
            else:
                gap, events = self.journal.since(seq, upto=self._sent_seq)
            if gap:
                last = self.journal.last_seq()
                text = (
                    f"seq {seq} is beyond the journal's last seq {last} (that journal was lost)"
                    if seq > last
                    else f"the journal no longer holds events after seq {seq}"
                )
                session.send_nowait(
                    m.encode(m.error_event(None, "ERROR_REPLAY_GAP", text, "WARNING")).decode()
                )
        else:
            events = self.journal.undelivered(self.config.undelivered_ttl, upto=self._sent_seq)
        for _, data in events:
            session.send_nowait(data.decode())
        if events and self.writer is not None:
            # Replayed (with or without since) counts as received.
            self.writer.mark_delivered([s for s, _ in events])
        core.join(session.conn, ROOM)

    async def command(self, session: Session, text: str) -> None:
        try:
            cmd = m.parse_command(text)
        except m.CommandError as e:
            await self._reply(session, e.event())
            return
        ref = cmd.event_id
        serials: list[str] = []
        if isinstance(cmd, m.GatewayStateCommand):
            await self._reply(
                session,
                m.gateway_state_event(
                    ref,
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
                ),
            )
            await self._run_command_hooks(cmd, session)
            return
        if isinstance(cmd, m.ScannerConnectivityCommand):
            await self._connectivity(session, cmd)
            return
        serial = getattr(cmd, "device_serial", None)
        if serial is not None:
            serials = [serial]
            src = self.sources.get(serial)
            if src is None:
                await self._reply(
                    session,
                    m.error_event(
                        ref, "ERROR_DEVICE_NOT_FOUND", f"no scanner with device_serial {serial!r}"
                    ),
                )
                return
            try:
                await src.command(cmd)
            except Exception as e:
                log.exception("scanner %s failed on %s", serial, cmd.event_type)
                await self._reply(session, m.error_event(ref, "ERROR_UNKNOWN", str(e)))
                return
        del serials
        await self._run_command_hooks(cmd, session)
        if session.data.get("acks"):
            await self._reply(session, m.command_ack_event(ref, gateway_serial=self.gateway_serial))

    async def _connectivity(self, session: Session, cmd: m.ScannerConnectivityCommand) -> None:
        for want, target in ((True, cmd.connect), (False, cmd.disconnect)):
            if target is None or target is False:
                continue
            if target == "all" or target is True:
                chosen = list(self.sources.values())
            else:
                missing = [s for s in target if s not in self.sources]
                if missing:
                    await self._reply(
                        session,
                        m.error_event(
                            cmd.event_id,
                            "ERROR_DEVICE_NOT_FOUND",
                            f"no scanner with device_serial {missing[0]!r}",
                        ),
                    )
                    return
                chosen = [self.sources[s] for s in target]
            sent: list[asyncio.Future[tuple[int, bytes]]] = []
            for src in chosen:
                await src.set_connected(want)
                if src.device.connected != want:
                    sent.append(self._state(src.device, want))
            if sent:
                # The scanner_state events go out before the ack (bounded wait: a
                # journal that cannot store holds them).
                await asyncio.wait(sent, timeout=2.0)
        await self._run_command_hooks(cmd, session)
        if session.data.get("acks"):
            await self._reply(session, m.command_ack_event(cmd.event_id))

    async def _run_command_hooks(self, cmd: Any, session: Session | None) -> None:
        for hook in self.command_hooks:
            try:
                r = hook(cmd, session)
                if inspect.isawaitable(r):
                    await r
            except Exception:
                log.exception("on_command hook %r failed", hook)

    async def _reply(self, session: Session, event: dict[str, Any]) -> None:
        if not session.closed:
            session.send_nowait(m.encode(event).decode())


def scan_bytes_b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()
