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
from ..journal import Journal, default_journal_path
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
        self.journal = Journal(path, max_events=cfg.journal_max_events, max_age=cfg.journal_max_age)
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
        self.journal.close()

    def _schedule_prune(self) -> None:
        loop = asyncio.get_running_loop()

        def prune() -> None:
            try:
                self.journal.prune()
            except Exception:
                log.exception("journal prune failed")
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

    def _broadcast(self, event: dict[str, Any]) -> int:
        seq, data = self.journal.append(event)
        core = self.app._core
        delivered = 0
        if core is not None:
            delivered, _ = core.publish(ROOM, data.decode())
            self.app._schedule_flush()
        if delivered and event["event_type"] == "scan":
            self.journal.mark_delivered([seq])
        return seq

    async def scan(self, scan: Scan) -> None:
        await self.publish_scan(scan)

    async def publish_scan(self, scan: Scan) -> Scan | None:
        """Run the hooks, journal and send; None when a hook vetoed it."""
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
        scan.seq = self._broadcast(event)
        self.scans_total += 1
        self.recent.append(scan)
        del self.recent[:-50]
        return scan

    async def state(self, device: DeviceInfo, connected: bool) -> None:
        device.connected = connected
        self._broadcast(
            m.scanner_state_event(
                device.serial, self.gateway_serial, connected, device_model=device.model
            )
        )

    async def button(self, device: DeviceInfo, gesture: str) -> None:
        self._broadcast(m.button_pressed_event(device.serial, self.gateway_serial, gesture))

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
                gap, events = self.journal.since(seq)
            if gap:
                session.send_nowait(
                    m.encode(
                        m.error_event(
                            None,
                            "ERROR_REPLAY_GAP",
                            f"the journal no longer holds events after seq {seq}",
                            "WARNING",
                        )
                    ).decode()
                )
        else:
            events = self.journal.undelivered(self.config.undelivered_ttl)
        for _, data in events:
            session.send_nowait(data.decode())
        if events:
            # Replayed (with or without since) counts as received.
            self.journal.mark_delivered(s for s, _ in events)
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
            for src in chosen:
                await src.set_connected(want)
                if src.device.connected != want:
                    await self.state(src.device, want)
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
