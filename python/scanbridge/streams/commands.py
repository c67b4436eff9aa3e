"""Streams API commands: carried out, or answered with an ``errors`` event.

PROTOCOLS.md 1.2.  A ``command_ack`` (``?acks=1``) is sent only after the
effect happened:

* ``feedback!`` / ``display!`` go to the device's source; a source that cannot
  carry them out (a keyboard-wedge scanner) is answered ``ERROR_UNKNOWN``; one
  that does not finish within ``event_time_to_live_duration`` gets
  ``ERROR_TIMEOUT``.
* ``trigger_block!`` is carried out by scanbridge itself, for every source:
  while a device is blocked its scans (and blocked gestures) are not
  published; they are logged and counted.  ``trigger_block_state: false``, an
  unblock gesture, or the end of ``time_validity_duration`` unblocks it.
* ``scanner_connectivity!``: ``disconnect`` first (unknown serials ignored, as
  ProGlove documents), then ``connect`` (``true`` and ``"all"`` mean every
  scanner; an unknown serial is ``ERROR_DEVICE_NOT_FOUND``); a device that is
  not physically present stays ``STATE_DISCONNECTED``.
* ``gateway_state!`` is answered with ``gateway_state``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..hooks import call_hook
from ..session import Session
from . import messages as m

if TYPE_CHECKING:
    from .service import StreamsService

log = logging.getLogger("scanbridge.streams")

_WHAT = {"feedback!": "give feedback", "display!": "show a display"}


@dataclass(slots=True)
class _Block:
    gestures: frozenset[str] | None  # None: every gesture (and scans)
    unblock: frozenset[str]
    timer: asyncio.TimerHandle | None = None


class Commands:
    """Carries out the commands of Streams clients for one :class:`StreamsService`."""

    def __init__(self, service: StreamsService) -> None:
        self.service = service
        self._blocks: dict[str, _Block] = {}
        #: Scans and gestures not published because their device was blocked.
        self.blocked_total = 0

    # ---- trigger blocks ---------------------------------------------------

    def blocked(self, serial: str) -> bool:
        return serial in self._blocks

    def blocks(self, serial: str, gesture: str) -> bool:
        """True when ``gesture`` of device ``serial`` must not be published (a scan
        is ``TRIGGER_SINGLE_CLICK``); an unblock gesture unblocks and is consumed."""
        block = self._blocks.get(serial)
        if block is None:
            return False
        if gesture in block.unblock:
            self._unblock(serial, f"by {gesture}")
            return True
        if block.gestures is None or gesture in block.gestures:
            self.blocked_total += 1
            log.info("%s from %s not published: its trigger is blocked", gesture, serial)
            return True
        return False

    def _block(self, cmd: m.TriggerBlockCommand) -> None:
        serial = cmd.device_serial
        old = self._blocks.pop(serial, None)
        if old is not None and old.timer is not None:
            old.timer.cancel()
        if not cmd.trigger_block_state:
            if old is not None:
                log.info("trigger of %s unblocked", serial)
            return
        block = _Block(
            frozenset(cmd.trigger_block_gesture_list) or None,
            frozenset(cmd.trigger_unblock_gesture_list),
        )
        if cmd.time_validity_duration:
            loop = asyncio.get_running_loop()
            block.timer = loop.call_later(
                cmd.time_validity_duration / 1000, self._unblock, serial, "after its validity"
            )
        self._blocks[serial] = block
        log.info("trigger of %s blocked", serial)

    def _unblock(self, serial: str, why: str) -> None:
        block = self._blocks.pop(serial, None)
        if block is not None:
            if block.timer is not None:
                block.timer.cancel()
            log.info("trigger of %s unblocked %s", serial, why)

    # ---- commands ---------------------------------------------------------

    async def handle(self, session: Session, text: str) -> None:
        svc = self.service
        try:
            cmd = m.parse_command(text)
        except m.CommandError as e:
            svc.send(session, e.event())
            return
        ref = cmd.event_id
        if isinstance(cmd, m.GatewayStateCommand):
            svc.send(session, svc.gateway_state(ref))
            await self.run_hooks(cmd, session)
            return
        if isinstance(cmd, m.ScannerConnectivityCommand):
            if await self._connectivity(session, cmd):
                await self._done(session, cmd)
            return
        serial = cmd.device_serial
        src = svc.sources.get(serial)
        if src is None:
            svc.send(
                session,
                m.error_event(
                    ref,
                    "ERROR_DEVICE_NOT_FOUND",
                    f"no scanner with device_serial {serial!r}",
                    device_serial=serial,
                ),
            )
            return
        if not src.device.connected:
            svc.send(
                session,
                m.error_event(
                    ref,
                    "ERROR_DEVICE_NOT_FOUND",
                    f"scanner {serial!r} is not connected",
                    device_serial=serial,
                ),
            )
            return
        if isinstance(cmd, m.TriggerBlockCommand):
            self._block(cmd)
            await src.notify(cmd)
            await self._done(session, cmd)
            return
        kind = m.command_type(cmd)
        ttl = cmd.event_time_to_live_duration
        try:
            if ttl:
                done = await asyncio.wait_for(src.command(cmd), ttl / 1000)
            else:
                done = await src.command(cmd)
        except TimeoutError:
            svc.send(
                session,
                m.error_event(
                    ref,
                    "ERROR_TIMEOUT",
                    f"{kind} not carried out within {ttl} ms",
                    device_serial=serial,
                ),
            )
            return
        except Exception as e:
            log.exception("scanner %s failed on %s", serial, kind)
            svc.send(
                session,
                m.error_event(ref, "ERROR_UNKNOWN", f"{kind} failed: {e}", device_serial=serial),
            )
            return
        if not done:
            svc.send(
                session,
                m.error_event(
                    ref,
                    "ERROR_UNKNOWN",
                    f"scanner {serial!r} ({src.kind}) cannot {_WHAT.get(kind, 'do it')}",
                    device_serial=serial,
                ),
            )
            return
        await self._done(session, cmd)

    async def _done(self, session: Session, cmd: Any) -> None:
        """Carried out: the hooks, then the ack (only now)."""
        await self.run_hooks(cmd, session)
        if session.data.get("acks"):
            self.service.send(
                session,
                m.command_ack_event(cmd.event_id, gateway_serial=self.service.gateway_serial),
            )

    async def _connectivity(self, session: Session, cmd: m.ScannerConnectivityCommand) -> bool:
        svc = self.service
        sources = svc.sources
        connect = cmd.connect
        if isinstance(connect, list):
            missing = [s for s in connect if s not in sources]
            if missing:
                svc.send(
                    session,
                    m.error_event(
                        cmd.event_id,
                        "ERROR_DEVICE_NOT_FOUND",
                        f"no scanner with device_serial {missing[0]!r}",
                        device_serial=missing[0],
                    ),
                )
                return False
        sent: list[asyncio.Future[Any]] = []
        disconnect = cmd.disconnect
        if disconnect is not None:
            names = list(sources) if disconnect == "all" else disconnect
            for serial in names:
                src = sources.get(serial)
                if src is None:
                    continue  # ProGlove ignores unknown serials here
                await src.set_connected(False)
                if src.device.connected:
                    sent.append(svc.set_state(src.device, False))
        if connect is not None and connect is not False:
            names = list(sources) if connect is True or connect == "all" else connect
            for serial in names:
                src = sources[serial]
                await src.set_connected(True)
                if src.device.present and not src.device.connected:
                    sent.append(svc.set_state(src.device, True))
        if sent:
            # The scanner_state events go out before the ack (bounded wait: a
            # journal that cannot store holds them).
            await asyncio.wait(sent, timeout=2.0)
        return True

    async def run_hooks(self, cmd: Any, session: Session | None) -> None:
        for hook in self.service.command_hooks:
            await call_hook(hook, cmd, session, log=log, what="on_command")
