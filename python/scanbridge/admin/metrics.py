"""``GET /metrics``: Prometheus text exposition format 0.0.4, ``scanbridge_`` prefix.

Where the numbers come from:

* ``connections_accepted``, ``fanout_deliveries`` and ``overflow_closes`` are the
  core's own running totals (``_core.Server.stats()``), exact since start.
* The core's ``bytes_in/out`` and ``messages_in/out`` only sum the connections that
  are open *now* (a connection's counts vanish when it is reaped), so they are not
  counters. :class:`Traffic` turns them into counters: it samples
  ``connection_info`` of every open connection and, when a connection is gone,
  adds its last sampled counts to a running total (overall and per endpoint).
  A counter is ``closed totals + current counts of open connections``, so it never
  goes down. It is a lower bound: what a connection did after its last sample
  before it closed is lost (a connection that opens and closes between two samples
  counts zero). Sampling starts with the first ``/metrics`` or admin API request
  (no cost for servers nobody watches) and then runs every
  :data:`SAMPLE_SECONDS` and on every scrape.
"""

from __future__ import annotations

import asyncio
import math
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from .. import __version__

if TYPE_CHECKING:
    from ..core_handle import CoreQueries
    from ..host import AdminHost

SAMPLE_SECONDS = 5.0
CONTENT_TYPE = "text/plain; version=0.0.4"

# Per-connection counts kept between samples: bytes_in, bytes_out, messages_in, messages_out.
_FIELDS = ("bytes_in", "bytes_out", "messages_in", "messages_out")


def endpoint_paths(app: AdminHost) -> list[str]:
    """The core's endpoint index -> the path naming that endpoint (its first path)."""
    return app.core.queries.endpoint_paths() if app.core.queries is not None else []


def endpoint_label(paths: list[str], index: int | None) -> str:
    if index is None:
        return ""
    return paths[index] if 0 <= index < len(paths) else f"#{index}"


class Traffic:
    """Running byte/message totals per endpoint, sampled from the core (see module doc)."""

    def __init__(self, app: AdminHost) -> None:
        self.app = app
        self._core: CoreQueries | None = None
        #: conn -> (endpoint label or "" for plain HTTP, [bytes_in, bytes_out, msgs_in, msgs_out])
        self._last: dict[int, tuple[str, list[int]]] = {}
        #: endpoint label -> totals of connections that closed
        self._closed: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        self._handle: asyncio.TimerHandle | None = None

    def ensure_running(self) -> None:
        """Start periodic sampling (idempotent); restarts cleanly after a stop/start."""
        core = self.app.core.queries
        if core is None:
            return
        if core is not self._core:  # a new server: counts start over
            self._core = core
            self._last.clear()
            self._closed.clear()
            if self._handle is not None:
                self._handle.cancel()
                self._handle = None
        if self._handle is None:
            self._handle = asyncio.get_running_loop().call_later(SAMPLE_SECONDS, self._periodic)

    def _periodic(self) -> None:
        self._handle = None
        if self.app.core.queries is None or self.app.core.queries is not self._core:
            return  # stopped; the next request starts sampling again
        self.sample()
        self._handle = asyncio.get_running_loop().call_later(SAMPLE_SECONDS, self._periodic)

    def sample(self) -> dict[str, dict[str, Any]]:
        """Update the totals; return per endpoint label: open websockets and counters."""
        core = self.app.core.queries
        if core is None:
            return {}
        paths = endpoint_paths(self.app)
        seen: dict[int, tuple[str, list[int]]] = {}
        for cid in core.connection_ids():
            info = core.connection_info(cid)
            if info is None:
                continue
            label = endpoint_label(paths, info["endpoint"]) if info["websocket"] else ""
            seen[cid] = (label, [int(info[f]) for f in _FIELDS])
        for cid, (label, counts) in self._last.items():
            if cid not in seen:
                acc = self._closed[label]
                for i, v in enumerate(counts):
                    acc[i] += v
        self._last = seen
        out: dict[str, dict[str, Any]] = {}
        for label, acc in self._closed.items():
            out[label] = {"open": 0, "counts": list(acc)}
        for label, counts in seen.values():
            row = out.setdefault(label, {"open": 0, "counts": [0, 0, 0, 0]})
            row["open"] += 1
            for i, v in enumerate(counts):
                row["counts"][i] += v
        return out


# ------------------------------------------------------------------ exposition


def _escape_label(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n")


def _value(v: float) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return str(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(float(v))


class Exposition:
    """Builds the text: one HELP and TYPE line per family, then its samples."""

    def __init__(self) -> None:
        self._lines: list[str] = []

    def family(
        self,
        name: str,
        kind: str,
        help_text: str,
        samples: list[tuple[dict[str, str], float]] | float,
    ) -> None:
        name = "scanbridge_" + name
        self._lines.append(f"# HELP {name} {_escape_help(help_text)}")
        self._lines.append(f"# TYPE {name} {kind}")
        if not isinstance(samples, list):
            samples = [({}, samples)]
        for labels, v in samples:
            if labels:
                ls = ",".join(f'{k}="{_escape_label(str(x))}"' for k, x in labels.items())
                self._lines.append(f"{name}{{{ls}}} {_value(v)}")
            else:
                self._lines.append(f"{name} {_value(v)}")

    def text(self) -> str:
        return "\n".join(self._lines) + "\n"


def render(app: AdminHost, traffic: Traffic) -> str:
    """The whole /metrics page."""
    core = app.core.queries
    e = Exposition()
    e.family("info", "gauge", "scanbridge version (always 1).", [({"version": __version__}, 1)])
    if core is None:
        e.family("up", "gauge", "1 while the server is running.", 0)
        return e.text()
    e.family("up", "gauge", "1 while the server is running.", 1)
    traffic.ensure_running()
    per = traffic.sample()
    st = core.stats()

    e.family(
        "connections_open",
        "gauge",
        "Open TCP connections (HTTP and WebSocket).",
        st["connections_open"],
    )
    e.family(
        "connections_accepted_total",
        "counter",
        "TCP connections accepted since start.",
        st["connections_accepted"],
    )
    e.family("websockets_open", "gauge", "Open WebSocket connections.", st["websockets_open"])

    totals = [0, 0, 0, 0]
    for row in per.values():
        for i, v in enumerate(row["counts"]):
            totals[i] += v
    e.family(
        "bytes_total",
        "counter",
        "Bytes read from (in) and written to (out) clients, HTTP included; sampled, a lower "
        "bound for connections that closed between samples.",
        [({"direction": "in"}, totals[0]), ({"direction": "out"}, totals[1])],
    )
    e.family(
        "messages_total",
        "counter",
        "WebSocket messages received (in) and queued to clients (out); sampled, a lower "
        "bound for connections that closed between samples.",
        [({"direction": "in"}, totals[2]), ({"direction": "out"}, totals[3])],
    )
    eps = sorted(k for k in per if k)
    e.family(
        "endpoint_websockets_open",
        "gauge",
        "Open WebSocket connections per endpoint (its first path).",
        [({"endpoint": k}, per[k]["open"]) for k in eps],
    )
    e.family(
        "endpoint_bytes_total",
        "counter",
        "WebSocket bytes per endpoint and direction (sampled, see bytes_total).",
        [
            ({"endpoint": k, "direction": d}, per[k]["counts"][i])
            for k in eps
            for i, d in ((0, "in"), (1, "out"))
        ],
    )
    e.family(
        "endpoint_messages_total",
        "counter",
        "WebSocket messages per endpoint and direction (sampled, see messages_total).",
        [
            ({"endpoint": k, "direction": d}, per[k]["counts"][i])
            for k in eps
            for i, d in ((2, "in"), (3, "out"))
        ],
    )
    e.family(
        "fanout_deliveries_total",
        "counter",
        "Room messages queued to members (one per member per published message).",
        st["fanout_deliveries"],
    )
    e.family(
        "overflow_closes_total",
        "counter",
        "Messages dropped because a client's outbound queue overflowed (that client is "
        "closed with 1008).",
        st["overflow_closes"],
    )
    e.family(
        "panics_total",
        "counter",
        "Connections closed with 1011 because handling them panicked (a bug: report it).",
        st.get("panics", 0),
    )
    e.family(
        "error_replies_dropped_total",
        "counter",
        "Room/lobby ERROR replies not sent: past 32 per connection per second.",
        st.get("errors_dropped", 0),
    )
    e.family(
        "accept_errors_total",
        "counter",
        "Failed accepts (e.g. out of file descriptors: see the log).",
        st.get("accept_errors", 0),
    )
    rooms = core.rooms()
    e.family("rooms", "gauge", "Rooms with at least one member.", len(rooms))
    e.family(
        "room_memberships",
        "gauge",
        "Room memberships (sum of members over rooms).",
        sum(n for _, n in rooms),
    )
    e.family(
        "listener_enabled",
        "gauge",
        "1 if the listening port is enabled, per port alias.",
        [({"port": info.alias}, int(info.enabled)) for info in app.listeners.values()],
    )
    e.family(
        "python_sessions",
        "gauge",
        "Open sessions of Python endpoints (Streams included).",
        len(app.session_registry),
    )
    bp = app.backplane
    if bp is not None:
        e.family("backplane_up", "gauge", "1 while the Redis backplane is subscribed.", bp.up)
        e.family(
            "backplane_dropped_total",
            "counter",
            "Room messages not forwarded to other processes (Redis down or behind).",
            bp.dropped_total,
        )
    svc = app.streams
    if svc is not None:
        e.family("scans_total", "counter", "Scans published since start.", svc.scans_total)
        devices = svc.devices()
        e.family("scanners", "gauge", "Configured scanners.", len(devices))
        e.family(
            "scanners_connected",
            "gauge",
            "Scanners currently connected.",
            sum(1 for d in devices if d.connected),
        )
        e.family(
            "scans_blocked_total",
            "counter",
            "Scans and gestures not published because trigger_block! blocked their device.",
            svc.commands.blocked_total,
        )
        js = svc.journal_stats()
        e.family("journal_events", "gauge", "Events held in the journal.", js.get("events", 0))
        e.family(
            "journal_bytes", "gauge", "Bytes of events held in the journal.", js.get("bytes", 0)
        )
        e.family("journal_last_seq", "gauge", "Newest journal seq.", js.get("last_seq", 0))
        e.family(
            "journal_healthy", "gauge", "1 if the journal's storage works.", js.get("healthy", 1)
        )
        e.family(
            "journal_held_events",
            "gauge",
            "Scanner events held in memory while the journal cannot store.",
            js.get("held_events", 0),
        )
        e.family(
            "journal_held_bytes", "gauge", "Bytes of held scanner events.", js.get("held_bytes", 0)
        )
        e.family(
            "journal_held_dropped_total",
            "counter",
            "Scanner events refused because the hold buffer was full.",
            js.get("held_dropped", 0),
        )
        e.family(
            "journal_refused_total",
            "counter",
            "Appends refused because the journal could not store (POST /api/scans got 503).",
            js.get("refused", 0),
        )
        e.family(
            "journal_failures_total", "counter", "Failed journal writes.", js.get("failures", 0)
        )
        e.family(
            "journal_commits_total",
            "counter",
            "Journal transactions (group commits).",
            js.get("commits", 0),
        )
    return e.text()
