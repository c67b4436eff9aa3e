#!/usr/bin/env python3
"""Side-by-side benchmark: scanbridge vs picows vs websockets.

    python benches/compare.py --scenario E2 --runs 3
    python benches/compare.py --scenario H1 --runs 3 --markdown
    python benches/compare.py --scenario B1 --runs 3     # also B2, S1, M1
    python benches/compare.py --all --markdown --chart /tmp/ratios.png

For each run 1..R and each server (interleaved A B C A B C ...): start the
server pinned to CPU 0, wait until its TCP port accepts, drive it with the
compiled load client (benches/loadgen) pinned to CPU 1, sample the server's
CPU time over exactly the load client's measurement window, stop the server
(SIGTERM, SIGKILL after 5 s). Then print medians per server and the ratios
scanbridge / peer. Stdlib only (matplotlib for --chart when importable).
See benches/README.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

BENCHES = Path(__file__).resolve().parent
ROOT = BENCHES.parent
LOADGEN_DIR = BENCHES / "loadgen"
LOADGEN = LOADGEN_DIR / "target" / "release" / "loadgen"
RESULTS = BENCHES / "results"  # git-ignored
CLK_TCK = os.sysconf("SC_CLK_TCK")
SERVERS = ("scanbridge", "picows", "websockets")
SCENARIOS = {
    # id: (loadgen subcommand, figure key in the run's result, unit, URL path)
    "E2": ("echo", "msgs_per_s", "msgs/s", "/echo"),
    "H1": ("handshake", "upgrades_per_s", "upgrades/s", "/echo"),
    "B1": ("b1", "deliveries_per_s", "deliveries/s", "/layout"),
    "B2": ("b2", "deliveries_per_s", "deliveries/s", "/layout"),
    "S1": ("s1", "deliveries_per_s", "healthy deliveries/s", "/layout"),
    # kb_per_conn is computed here from the server's RSS, not by loadgen
    "M1": ("m1", "kb_per_conn", "KB/conn", "/echo"),
    # C1: E2 with JSON text and permessage-deflate; T1: E2 over wss
    "C1": ("echo", "msgs_per_s", "msgs/s", "/echo"),
    "T1": ("echo", "msgs_per_s", "msgs/s", "/echo"),
}
LOWER_IS_BETTER = {"M1"}
ECHO_SCENARIOS = {"E2", "H1", "M1", "C1", "T1"}  # scanbridge needs --echo for these
ALL = ("E2", "H1", "B1", "B2", "S1", "M1", "C1", "T1")
# --all: fewer, shorter runs so that the whole set takes < 10 minutes (4-5)
ALL_DEFAULTS = {"runs": 3, "duration": 2.0, "warmup": 0.5}
# S1 without --duration: 8 s (also under --all), since its slow consumers need
# 5-6 s of scanbridge's bursts to fill the kernel's socket buffers (~4 MB) and
# then the 1 MiB queue (1008 close)
SCENARIO_DURATION = {"S1": 8.0}
TARGETS = {
    # scenario: {peer: (op, ratio)}, from BENCHMARKS.md
    "E2": {"picows": (">=", 1.2), "websockets": (">=", 3.0)},
    "H1": {"picows": (">=", 1.5)},
    "B1": {"picows": (">=", 20.0)},
    "B2": {"picows": (">=", 20.0)},
    "M1": {"picows": ("<=", 0.3)},
}
RSS_SAMPLE_S = 0.1
READY_TIMEOUT = 20.0  # s for a server to accept on its port
STOP_TIMEOUT = 5.0  # s between SIGTERM and SIGKILL


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def venv_python() -> str:
    p = ROOT / ".venv" / "bin" / "python"
    return str(p) if p.exists() else sys.executable


def tls_files() -> tuple[Path, Path]:
    """A self-signed certificate for T1's peers, made once in results/."""
    cert, key = RESULTS / "tls-cert.pem", RESULTS / "tls-key.pem"
    if not (cert.exists() and key.exists()):
        RESULTS.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=localhost",
                "-keyout",
                str(key),
                "-out",
                str(cert),
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
    return cert, key


def server_command(
    name: str, port: int, scenario: str, sb_extra: tuple[str, ...] = ()
) -> list[str] | None:
    if name == "scanbridge":
        # BENCH_SCANBRIDGE_BIN: a scanbridge executable of another venv (e.g. a release build).
        exe = Path(os.environ.get("BENCH_SCANBRIDGE_BIN", ROOT / ".venv" / "bin" / "scanbridge"))
        path = str(exe) if exe.exists() else shutil.which("scanbridge")
        if not path:
            return None
        # rooms (/layout) are on by default; /echo only with --echo
        echo = ["--echo"] if scenario in ECHO_SCENARIOS else []
        # T1: its own self-signed certificate; C1: deflate is accepted by default
        tls = ["--https"] if scenario == "T1" else []
        return [
            path,
            "serve",
            *echo,
            *tls,
            *sb_extra,
            "--port",
            str(port),
            "--log-level",
            "warning",
        ]
    if scenario == "C1" and name == "picows":
        raise RuntimeError("picows has no permessage-deflate: unsupported in C1")
    # the peers serve rooms on /layout and echo on every other path
    extra: list[str] = []
    if scenario == "C1":
        extra = ["--deflate"]
    elif scenario == "T1":
        cert, key = tls_files()
        extra = ["--certfile", str(cert), "--keyfile", str(key)]
    return [venv_python(), str(BENCHES / "servers.py"), name, "--port", str(port), *extra]


def raise_nofile() -> None:
    """Soft RLIMIT_NOFILE to the hard limit, for the servers we start (M1)."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY or soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (OSError, ValueError):
        pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


# ---------------------------------------------------------------- /proc


def proc_tree(pid: int) -> list[int]:
    """pid and all its descendants (threads are counted in their process)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return out


def cpu_ticks(pid: int) -> int:
    """utime + stime of pid and its descendants, in clock ticks."""
    total = 0
    for p in proc_tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return total


def rss_kb(pid: int) -> int:
    total = 0
    for p in proc_tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def cpu_stat() -> dict[str, tuple[int, int, int]]:
    """{"cpu": ..., "cpu0": ..., ...} -> (busy, softirq, total) jiffies, from /proc/stat."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if not line.startswith("cpu"):
                break
            name, *vals = line.split()
            v = [int(x) for x in vals[:8]]
            idle = v[3] + v[4]  # idle + iowait
            total = sum(v)
            out[name] = (total - idle, v[6], total)
    return out


def wait_quiet(max_wait: float, threshold: float = 10.0) -> float:
    """Waits (at most max_wait s) until the machine is under `threshold` %
    busy (of all CPUs) over 0.5 s; returns the last busy %."""
    deadline = time.monotonic() + max_wait
    while True:
        a = cpu_stat()["cpu"]
        time.sleep(0.5)
        b = cpu_stat()["cpu"]
        busy = 100.0 * (b[0] - a[0]) / max(1, b[2] - a[2])
        if busy < threshold or time.monotonic() >= deadline:
            return busy


def core_busy_pct(a: dict, b: dict, cpus: str | None) -> float | None:
    """Busy % (incl. softirq) of one CPU given as a taskset list like "1"."""
    if cpus is None or not cpus.isdigit() or f"cpu{cpus}" not in a:
        return None
    (b0, _, t0), (b1, _, t1) = a[f"cpu{cpus}"], b[f"cpu{cpus}"]
    return round(100.0 * (b1 - b0) / max(1, t1 - t0), 1)


# ---------------------------------------------------------------- servers


class Server:
    # scanbridge's extra flags for every start (--workers N --redis-url URL)
    sb_extra: tuple[str, ...] = ()

    def __init__(self, name: str, port: int, cpu: str | None, logdir: Path, scenario: str):
        self.name, self.port = name, port
        self.log_path = logdir / f"{name}-{port}.log"
        cmd = server_command(name, port, scenario, self.sb_extra)
        if cmd is None:
            raise RuntimeError(f"{name}: command not found (is it installed in .venv?)")
        if cpu is not None:
            cmd = ["taskset", "-c", cpu, *cmd]
        self.cmd = cmd
        self.logf = open(self.log_path, "wb")
        try:
            self.proc = subprocess.Popen(
                cmd,
                stdout=self.logf,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=ROOT,
                start_new_session=True,
            )
        except OSError as e:
            self.logf.close()
            raise RuntimeError(f"{name}: cannot start {cmd[0]}: {e}") from e

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name}: exited with code {self.proc.returncode} before accepting "
                    f"on port {self.port}:\n{self.log_tail()}"
                )
            if port_accepts(self.port):
                if self.name == "scanbridge" and self.sb_extra:
                    time.sleep(1.0)  # every worker listening, not just the first
                return
            time.sleep(0.05)
        raise RuntimeError(
            f"{self.name}: port {self.port} not accepting after {timeout:.0f} s:\n{self.log_tail()}"
        )

    def log_tail(self, n: int = 15) -> str:
        try:
            if not self.logf.closed:
                self.logf.flush()
            lines = self.log_path.read_text(errors="replace").splitlines()[-n:]
        except OSError:
            return ""
        return "\n".join("    | " + line for line in lines)

    def stop(self) -> None:
        """SIGTERM to the server's process group, SIGKILL 5 s later. Idempotent."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                log(f"  {self.name}: no exit {STOP_TIMEOUT:.0f} s after SIGTERM, sending SIGKILL")
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(STOP_TIMEOUT)
        self.logf.close()


class RedisServer:
    """A private redis-server on a free loopback port (the --workers backplane)."""

    def __init__(self) -> None:
        exe = shutil.which("redis-server")
        if not exe:
            raise RuntimeError("--workers needs redis-server (apt-get install redis-server)")
        self.port = free_port()
        self.proc = subprocess.Popen(
            [
                exe,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + READY_TIMEOUT
        while not port_accepts(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT)


# ---------------------------------------------------------------- load client


def ensure_loadgen(rebuild: bool) -> Path:
    if LOADGEN.exists() and not rebuild:
        return LOADGEN
    log(
        "building the load client: cargo build --release --manifest-path benches/loadgen/Cargo.toml"
    )
    r = subprocess.run(
        [
            "cargo",
            "build",
            "--release",
            "--manifest-path",
            str(LOADGEN_DIR / "Cargo.toml"),
            # where LOADGEN looks, whatever CARGO_TARGET_DIR says (make exports one)
            "--target-dir",
            str(LOADGEN_DIR / "target"),
        ],
        timeout=900,
    )
    if r.returncode != 0 or not LOADGEN.exists():
        sys.exit("cannot build benches/loadgen")
    return LOADGEN


def loadgen_args(a: argparse.Namespace, port: int) -> list[str]:
    sub = SCENARIOS[a.scenario][0]
    url = f"ws://127.0.0.1:{port}{a.path or SCENARIOS[a.scenario][3]}"
    args = [sub, "--url", url]
    if a.scenario != "M1":
        args += ["--duration", str(a.duration), "--warmup", str(a.warmup)]
    if a.scenario == "E2":
        args += ["--conns", str(a.conns or 100), "--size", str(a.size or 256)]
        args += ["--inflight", str(a.inflight)]
        args += ["--text"] if a.text else ["--binary"]
    elif a.scenario == "C1":
        args += ["--conns", str(a.conns or 100), "--size", str(a.size or 1024), "--deflate"]
    elif a.scenario == "T1":
        args += ["--conns", str(a.conns or 100), "--size", str(a.size or 256)]
        args += ["--inflight", str(a.inflight), "--tls"]
        args += ["--text"] if a.text else ["--binary"]
    elif a.scenario == "H1":
        args += ["--concurrency", str(a.concurrency)]
    elif a.scenario == "B1":
        args += ["--clients", str(a.clients), "--size", str(a.size or 64)]
        args += ["--window", str(a.window)]
    elif a.scenario in ("B2", "S1"):
        args += ["--subscribers", str(a.subscribers), "--messages", str(a.messages)]
        args += ["--size", str(a.size or 64)]
        if a.scenario == "S1":
            args += ["--slow-pct", str(a.slow_pct)]
    elif a.scenario == "M1":
        args += ["--conns", str(a.conns or 5000)]
    return args


def loadgen_limit(a: argparse.Namespace) -> float:
    """Backstop for one load client run; loadgen bounds itself well within it
    (connect/sync timeouts + warmup + duration + burst timeout + shutdown)."""
    if a.scenario in ("E2", "H1", "C1", "T1"):
        return 3.0 + a.warmup + a.duration + 2.0 + 1.0 + 10.0
    if a.scenario == "M1":
        return 20.0 + 1.0 + 0.5 + 2.0 + 1.0 + 10.0
    return 5.0 + 5.0 + a.warmup + a.duration + 10.0 + 3.0 + 1.0 + 10.0


def run_one(a: argparse.Namespace, loadgen: Path, server: Server) -> dict:
    cmd = [str(loadgen), *loadgen_args(a, server.port)]
    if a.client_cpu is not None:
        cmd = ["taskset", "-c", a.client_cpu, *cmd]
    spid = server.proc.pid
    marks: dict[str, tuple] = {}
    rss_max = [0]
    window_done = threading.Event()

    def sample() -> tuple:
        return time.monotonic(), cpu_ticks(spid), cpu_stat()

    def sample_rss() -> None:
        # the server's RSS over the measurement window (S1: must stay bounded)
        while not window_done.wait(RSS_SAMPLE_S):
            rss_max[0] = max(rss_max[0], rss_kb(spid))

    rss_before = rss_kb(spid)
    outf = open(server.log_path.with_suffix(".loadgen.json"), "w+")
    proc = subprocess.Popen(cmd, stdout=outf, stderr=subprocess.PIPE, text=True)
    stderr_lines: list[str] = []
    sampler = threading.Thread(target=sample_rss, daemon=True)

    def read_stderr() -> None:
        for line in proc.stderr:
            line = line.rstrip("\n")
            if line == "loadgen: measure start":
                marks["start"] = sample()
                marks["rss_start_kb"] = rss_kb(spid)
                rss_max[0] = marks["rss_start_kb"]
                sampler.start()
            elif line == "loadgen: measure end":
                marks["end"] = sample()
                marks["rss_kb"] = rss_kb(spid)
                window_done.set()
            else:
                stderr_lines.append(line)

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    limit = loadgen_limit(a)
    try:
        proc.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        stderr_lines.append(f"compare.py: load client killed after {limit:.0f} s")
    reader.join(2)
    window_done.set()
    if sampler.is_alive():
        sampler.join(1)
    rss_after = rss_kb(spid)
    outf.seek(0)
    out = outf.read()
    outf.close()

    res: dict = {}
    for line in (out or "").splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                res = json.loads(line)
            except json.JSONDecodeError:
                pass
    res["loadgen_rc"] = proc.returncode
    if stderr_lines:
        res["loadgen_stderr"] = "\n".join(stderr_lines[-10:])
    if "start" in marks and "end" in marks:
        (t0, c0, st0), (t1, c1, st1) = marks["start"], marks["end"]
        dt = t1 - t0
        if dt > 0:
            res["server_cpu_pct"] = round(100.0 * (c1 - c0) / CLK_TCK / dt, 1)
            # Whole machine, in % of one CPU (out of 100 * ncpu). Loopback
            # TCP work runs as softirq; without CONFIG_IRQ_TIME_ACCOUNTING
            # (the usual case) it is also charged to the task it
            # interrupted, so it is part of server/client CPU, not "other".
            (b0, si0, tot0), (b1, si1, tot1) = st0["cpu"], st1["cpu"]
            ncpu = os.cpu_count() or 1

            def frac(x: int, ncpu: int = ncpu, total: int = tot1 - tot0) -> float:
                return 100.0 * ncpu * x / max(1, total)

            res["softirq_pct"] = round(frac(si1 - si0), 1)
            other = frac(b1 - b0) - res["server_cpu_pct"] - res.get("client_cpu_pct", 0.0)
            res["other_cpu_pct"] = round(max(0.0, other), 1)
            res["server_core_busy_pct"] = core_busy_pct(st0, st1, a.server_cpu)
            res["client_core_busy_pct"] = core_busy_pct(st0, st1, a.client_cpu)
        res["server_rss_kb"] = marks.get("rss_kb")
    # server RSS: before the client started, at the window's start, its
    # maximum over the window (sampled every 0.1 s), at its end, and after
    # the client exited (its connections closed)
    res["rss_before_kb"] = rss_before
    res["rss_start_kb"] = marks.get("rss_start_kb")
    res["rss_max_kb"] = max(rss_max[0], marks.get("rss_kb") or 0) or None
    res["rss_end_kb"] = marks.get("rss_kb")
    res["rss_after_kb"] = rss_after
    if a.scenario == "M1" and marks.get("rss_kb") and res.get("open_at_mark"):
        res["kb_per_conn"] = round((marks["rss_kb"] - rss_before) / res["open_at_mark"], 2)
    return res


# ---------------------------------------------------------------- summary


def median(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def _med(rs: list[dict], k: str) -> float | None:
    return median([r[k] for r in rs if r.get(k) is not None])


def summarize(a: argparse.Namespace, results: list[dict], servers: list[str]) -> dict:
    key = SCENARIOS[a.scenario][1]
    summary: dict = {"servers": {}, "ratios": {}}
    for s in servers:
        rs = [r for r in results if r["server"] == s and r.get("ok")]
        vals = [r[key] for r in rs]
        x = {
            "runs": len(rs),
            "median": median(vals),
            "min": min(vals) if vals else None,
            "max": max(vals) if vals else None,
            "errors": sum(r.get("errors", 0) for r in rs),
        }
        for k in (
            "server_cpu_pct",
            "client_cpu_pct",
            "other_cpu_pct",
            "server_core_busy_pct",
            "client_core_busy_pct",
            "server_rss_kb",
            "rss_before_kb",
            "rss_start_kb",
            "rss_max_kb",
            "rss_end_kb",
            "rss_after_kb",
            "open",
            "open_at_mark",
            "burst_ms_median",
            "bursts",
            "wire_out_per_msg",
            "wire_in_per_msg",
            "compressed_replies",
            "e2_msgs_per_s",
            "retention",
        ):
            x[k] = _med(rs, k)
        if a.scenario in ("B2", "S1"):
            x["all_received"] = all(r.get("all_received") for r in rs) if rs else None
            x["healthy_1008"] = sum(r.get("healthy_1008", 0) for r in rs)
        if a.scenario == "B1":
            x["close_1008"] = sum(r.get("close_1008", 0) for r in rs)
        if a.scenario == "S1":
            for k in ("slow", "slow_1008", "slow_eof", "slow_reset", "slow_open_at_end"):
                x[k] = _med(rs, k)
        summary["servers"][s] = x
    base = "scanbridge"
    for peer in ("picows", "websockets"):
        sb, pe = summary["servers"].get(base), summary["servers"].get(peer)
        if not sb or not pe or not sb["median"] or not pe["median"]:
            continue
        # ratio of medians, and the median of the per-run ratios (same run
        # index: the servers ran back to back under the same conditions)
        per_run = []
        for i in range(1, a.runs + 1):
            x = [r[key] for r in results if r["server"] == base and r["run"] == i and r.get("ok")]
            y = [r[key] for r in results if r["server"] == peer and r["run"] == i and r.get("ok")]
            if x and y and y[0] > 0:
                per_run.append(x[0] / y[0])
        summary["ratios"][f"{base}/{peer}"] = {
            "of_medians": sb["median"] / pe["median"],
            "median_per_run": median(per_run),
            "per_run": per_run,
        }
    return summary


def fmt(v, nd: int = 0) -> str:
    if v is None:
        return "-"
    return f"{v:,.{nd}f}"


def mb(kb: float | None) -> str:
    return fmt(kb / 1024 if kb else None, 1)


def describe(a: argparse.Namespace) -> str:
    workers = getattr(a, "workers", 1)
    suffix = f"; scanbridge --workers {workers} (Redis backplane)" if workers > 1 else ""
    return _describe(a) + suffix


def _describe(a: argparse.Namespace) -> str:
    t = f"{a.duration:g} s (+{a.warmup:g} s warmup)"
    size = a.size or 64
    if a.scenario == "E2":
        kind = "text" if a.text else "binary"
        return (
            f"E2 closed-loop echo: {a.conns or 100} conns, {a.size or 256} B {kind}, "
            f"{a.inflight} in flight, {t}"
        )
    if a.scenario == "C1":
        return (
            f"C1 permessage-deflate echo: {a.conns or 100} conns, {a.size or 1024} B JSON text, "
            f"no context takeover, {t}"
        )
    if a.scenario == "T1":
        return (
            f"T1 TLS echo (E2 over wss, each run also E2 on plain TCP for retention): "
            f"{a.conns or 100} conns, {a.size or 256} B, {t}"
        )
    if a.scenario == "H1":
        return f"H1 handshake rate: {a.concurrency} concurrent connect+upgrade+close, {t}"
    if a.scenario == "B1":
        return (
            f"B1 chat room: {a.clients} clients in one room, each NOTIFY of {size} B goes to the "
            f"{a.clients - 1} others as an EVENT; rounds paced with a window of {a.window}; {t}"
        )
    if a.scenario == "B2":
        return (
            f"B2 fan-out: 1 publisher, {a.subscribers} subscribers in one room, bursts of "
            f"{a.messages} x {size} B NOTIFYs timed until every subscriber has all; {t} of bursts"
        )
    if a.scenario == "S1":
        return (
            f"S1 slow consumers: B2 ({a.subscribers} subscribers, bursts of {a.messages} x "
            f"{size} B) with {a.slow_pct:g} % of the subscribers not reading "
            f"(SO_RCVBUF 4 KiB); healthy subscribers' deliveries/s; {t} of bursts"
        )
    return (
        f"M1 idle memory: {a.conns or 5000} idle upgraded connections; server RSS growth "
        "per connection (VmRSS after all are open minus before the client started)"
    )


def machine() -> str:
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (
        f"{platform.node()}, {os.cpu_count()} CPUs ({model}), Linux {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def extra_columns(scenario: str) -> list[tuple[str, object]]:
    """Scenario-specific columns: (header, function of a server's summary)."""
    if scenario == "M1":
        return [
            ("conns open", lambda x: fmt(x["open_at_mark"])),
            ("RSS before MB", lambda x: mb(x["rss_before_kb"])),
            ("RSS all open MB", lambda x: mb(x["rss_end_kb"])),
        ]
    cols: list[tuple[str, object]] = []
    if scenario in ("B2", "S1"):
        cols.append(("burst ms", lambda x: fmt(x["burst_ms_median"], 1)))
        cols.append(
            ("all received", lambda x: {None: "-", True: "yes", False: "NO"}[x["all_received"]])
        )
        cols.append(("healthy 1008", lambda x: str(x["healthy_1008"])))
    if scenario == "B1":
        cols.append(("1008 closes", lambda x: str(x["close_1008"])))
    if scenario in ("B1", "B2", "S1"):
        cols.append(("RSS start MB", lambda x: mb(x["rss_start_kb"])))
        cols.append(("RSS max MB", lambda x: mb(x["rss_max_kb"])))
        cols.append(("RSS end MB", lambda x: mb(x["rss_end_kb"])))
        cols.append(("RSS after MB", lambda x: mb(x["rss_after_kb"])))
    if scenario == "S1":
        cols.append(
            (
                "slow: 1008 / EOF / open",
                lambda x: (
                    f"{fmt(x['slow_1008'])} / {fmt(x['slow_eof'])} / "
                    f"{fmt(x['slow_open_at_end'])} of {fmt(x['slow'])}"
                ),
            )
        )
    if scenario == "C1":

        def wire(x: dict) -> str:
            return f"{fmt(x['wire_out_per_msg'], 1)} / {fmt(x['wire_in_per_msg'], 1)}"

        cols.append(("wire B/msg out / in", wire))
        cols.append(("compressed replies/run", lambda x: fmt(x["compressed_replies"])))
    if scenario == "T1":
        cols.append(("E2 msgs/s (same run)", lambda x: fmt(x["e2_msgs_per_s"])))
        cols.append(("retention T1/E2", lambda x: fmt(x["retention"], 3)))
    if scenario in ("E2", "H1", "C1", "T1"):
        cols.append(("server RSS MB", lambda x: mb(x["server_rss_kb"])))
    return cols


def table(a: argparse.Namespace, summary: dict, servers: list[str], markdown: bool) -> str:
    unit = SCENARIOS[a.scenario][2]
    extra = extra_columns(a.scenario)
    head = [
        "server",
        "runs",
        f"median {unit}",
        "min",
        "max",
        "server CPU %",
        "client CPU %",
        "server core busy %",
        "client core busy %",
        "other CPU %",
        *(h for h, _ in extra),
        "errors",
    ]
    nd = 2 if a.scenario == "M1" else 0
    rows = []
    for s in servers:
        x = summary["servers"][s]
        rows.append(
            [
                s,
                str(x["runs"]),
                fmt(x["median"], nd),
                fmt(x["min"], nd),
                fmt(x["max"], nd),
                fmt(x["server_cpu_pct"]),
                fmt(x["client_cpu_pct"]),
                fmt(x["server_core_busy_pct"]),
                fmt(x["client_core_busy_pct"]),
                fmt(x["other_cpu_pct"]),
                *(f(x) for _, f in extra),
                str(x["errors"]),
            ]
        )
    lower = " (lower is better)" if a.scenario in LOWER_IS_BETTER else ""
    ratio_lines = []
    for name, r in summary["ratios"].items():
        pr = ", ".join(f"{v:.2f}" for v in r["per_run"])
        mpr = fmt(r["median_per_run"], 2) + "x"
        ratio_lines.append((name, f"{r['of_medians']:.2f}x", mpr, pr))
    out = []
    if markdown:
        out.append(f"### {describe(a)}")
        out.append("")
        out.append(
            f"{datetime.date.today().isoformat()}, {machine()}; {a.runs} interleaved runs, "
            f"server on CPU {a.server_cpu}, load client on CPU {a.client_cpu}."
        )
        out.append("")
        out.append("| " + " | ".join(head) + " |")
        out.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(head))) + "|")
        for r in rows:
            out.append("| " + " | ".join(r) + " |")
        if ratio_lines:
            out.append("")
            out.append(f"| ratio{lower} | of medians | median of per-run ratios | per run |")
            out.append("|---|---:|---:|---|")
            for n, om, mpr, pr in ratio_lines:
                out.append(f"| {n} | {om} | {mpr} | {pr} |")
    else:
        out.append(describe(a))
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]

        def line(cells: list[str]) -> str:
            return "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            )

        out.append(line(head))
        out.append("  ".join("-" * w for w in widths))
        out.extend(line(r) for r in rows)
        for n, om, mpr, pr in ratio_lines:
            out.append(
                f"{n}{lower}: {om} (ratio of medians); {mpr} median of per-run ratios [{pr}]"
            )
        if not ratio_lines:
            out.append("(no ratios: scanbridge or the peers have no successful run)")
    return "\n".join(out)


def report_run(run: int, name: str, res: dict, a: argparse.Namespace, srv: Server) -> None:
    key, unit = SCENARIOS[a.scenario][1], SCENARIOS[a.scenario][2]
    if not res["ok"]:
        why = res.get("error") or res.get("last_error") or ""
        log(
            f"run {run} {name:<10} FAILED: {why} (loadgen rc {res.get('loadgen_rc')}) "
            f"{res.get('loadgen_stderr', '')}\n{srv.log_tail()}"
        )
        return

    def g(k: str) -> object:
        return res.get(k, "?")

    nd = 2 if a.scenario == "M1" else 0
    msg = (
        f"run {run} {name:<10} {res[key]:>12,.{nd}f} {unit}  "
        f"server CPU {g('server_cpu_pct')} % (core {g('server_core_busy_pct')} %)  "
        f"client CPU {g('client_cpu_pct')} % (core {g('client_core_busy_pct')} %)  "
        f"softirq {g('softirq_pct')} %  other {g('other_cpu_pct')} %  errors {g('errors')}"
    )
    if a.scenario in ("B1", "B2", "S1", "M1"):
        msg += (
            f"\n      server RSS MB: before {mb(res.get('rss_before_kb'))}, "
            f"window start {mb(res.get('rss_start_kb'))}, max {mb(res.get('rss_max_kb'))}, "
            f"end {mb(res.get('rss_end_kb'))}, after {mb(res.get('rss_after_kb'))}"
        )
    if a.scenario in ("B2", "S1"):
        msg += (
            f"; {g('bursts')} bursts, median {g('burst_ms_median')} ms, "
            f"all received {g('all_received')}, healthy 1008 {g('healthy_1008')}"
        )
    if a.scenario == "S1":
        msg += (
            f"; slow: {g('slow')}, 1008 {g('slow_1008')}, EOF {g('slow_eof')}, "
            f"reset {g('slow_reset')}, open at end {g('slow_open_at_end')}, "
            f"frames read at end {g('slow_frames_read_at_end')}"
        )
    if a.scenario == "C1":
        msg += (
            f"\n      wire B/msg out {g('wire_out_per_msg')} in {g('wire_in_per_msg')}, "
            f"deflate accepted {g('deflate_accepted')}, "
            f"compressed replies {g('compressed_replies')}"
        )
    if a.scenario == "T1":
        msg += (
            f"\n      E2 same server {fmt(res.get('e2_msgs_per_s'))} msgs/s, "
            f"retention {fmt(res.get('retention'), 3)}"
        )
    if a.scenario == "M1":
        msg += f"; {g('open_at_mark')} conns open in {g('seconds_to_open')} s"
    log(msg)
    if (res.get("client_cpu_pct") or 0) > 90:
        log(
            f"  warning: the load client used {res['client_cpu_pct']} % CPU: "
            "this result may be capped by the client, not the server"
        )
    if res.get("other_cpu_pct", 0) > 15:
        log(
            f"  warning: other processes used {res['other_cpu_pct']} % CPU during this run: "
            "numbers are noisy"
        )
    if a.scenario in ("B2", "S1") and not res.get("all_received"):
        log("  warning: not every healthy subscriber received every message")
    if res.get("healthy_1008") or res.get("close_1008"):
        log("  warning: healthy clients were closed with 1008 (queue limit)")


def run_scenario(a: argparse.Namespace, loadgen: Path, servers: list[str]) -> dict:
    """Runs one scenario (a.scenario) R times interleaved; prints its table."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    logdir = RESULTS / f"{stamp}-{a.scenario}"
    logdir.mkdir(parents=True, exist_ok=True)
    key = SCENARIOS[a.scenario][1]
    skipped: dict[str, str] = {}
    results: list[dict] = []
    log(f"{describe(a)}; {a.runs} runs of {', '.join(servers)}; logs in {logdir.relative_to(ROOT)}")
    for run in range(1, a.runs + 1):
        for name in servers:
            if name in skipped:
                continue
            if a.quiet_wait > 0:
                busy = wait_quiet(a.quiet_wait)
                if busy >= 10.0:
                    log(f"  machine {busy:.0f} % busy after {a.quiet_wait:g} s: running anyway")
            port = free_port()
            try:
                srv = Server(name, port, a.server_cpu, logdir, a.scenario)
            except RuntimeError as e:
                skipped[name] = str(e)
                log(f"SKIP {name}: {e}")
                continue
            try:
                srv.wait_ready()
                res = run_one(a, loadgen, srv)
                if srv.proc.poll() is not None:
                    log(f"  {name}: server exited during the run (code {srv.proc.returncode})")
                    res["server_exit"] = srv.proc.returncode
                if a.scenario == "T1":
                    srv.stop()
                    # the same server on plain TCP, right after: retention = T1 / E2
                    ea = argparse.Namespace(**vars(a))
                    ea.scenario = "E2"
                    esrv = Server(name, free_port(), a.server_cpu, logdir, "E2")
                    try:
                        esrv.wait_ready()
                        eres = run_one(ea, loadgen, esrv)
                    finally:
                        esrv.stop()
                    e2 = eres.get("msgs_per_s") if eres.get("loadgen_rc") == 0 else None
                    res["e2_msgs_per_s"] = e2
                    t1 = res.get("msgs_per_s")
                    res["retention"] = t1 / e2 if (e2 and t1 is not None) else None
            except RuntimeError as e:
                skipped[name] = str(e)
                log(f"SKIP {name}: {e}")
                continue
            finally:
                srv.stop()  # also on Ctrl-C
            res.update(run=run, server=name, port=port)
            v = res.get(key)
            res["ok"] = (
                v is not None
                and (v > 0 or a.scenario in LOWER_IS_BETTER)
                and res.get("loadgen_rc") == 0
            )
            results.append(res)
            report_run(run, name, res, a, srv)

    shown = [s for s in servers if s not in skipped or any(r["server"] == s for r in results)]
    summary = summarize(a, results, shown)
    print(table(a, summary, shown, a.markdown), flush=True)
    for s, why in skipped.items():
        print(f"\nskipped {s}: {why.splitlines()[0]}", file=sys.stderr)
    return {
        "scenario": a.scenario,
        "describe": describe(a),
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": machine(),
        "args": {k: v for k, v in vars(a).items() if k != "all"},
        "results": results,
        "summary": summary,
        "skipped": skipped,
    }


# ---------------------------------------------------------------- --all


def target_text(scenario: str, peer: str) -> str:
    t = TARGETS.get(scenario, {}).get(peer)
    return f"{t[0]} {t[1]:g}x" if t else ""


def target_met(scenario: str, peer: str, ratio: float | None) -> str:
    t = TARGETS.get(scenario, {}).get(peer)
    if not t or ratio is None:
        return ""
    ok = ratio >= t[1] if t[0] == ">=" else ratio <= t[1]
    return "yes" if ok else "NO"


def overview(docs: dict[str, dict], markdown: bool) -> str:
    """One line per scenario: medians, per-run ratios, targets."""
    head = [
        "scenario",
        "figure",
        "scanbridge",
        "picows",
        "websockets",
        "sb/picows",
        "target",
        "met",
        "sb/websockets",
        "target",
        "met",
        "sb CPU %",
        "sb client CPU %",
    ]
    rows = []
    for sc, doc in docs.items():
        sv, ra = doc["summary"]["servers"], doc["summary"]["ratios"]
        nd = 2 if sc == "M1" else 0

        def med(s: str, sv: dict = sv, nd: int = nd) -> str:
            return fmt(sv[s]["median"], nd) if s in sv else "-"

        def rat(peer: str, ra: dict = ra) -> float | None:
            r = ra.get(f"scanbridge/{peer}")
            return r["median_per_run"] if r else None

        unit = SCENARIOS[sc][2] + (" (lower is better)" if sc in LOWER_IS_BETTER else "")
        sb = sv.get("scanbridge", {})
        rows.append(
            [
                sc,
                unit,
                med("scanbridge"),
                med("picows"),
                med("websockets"),
                fmt(rat("picows"), 2) + "x" if rat("picows") else "-",
                target_text(sc, "picows"),
                target_met(sc, "picows", rat("picows")),
                fmt(rat("websockets"), 2) + "x" if rat("websockets") else "-",
                target_text(sc, "websockets"),
                target_met(sc, "websockets", rat("websockets")),
                fmt(sb.get("server_cpu_pct")),
                fmt(sb.get("client_cpu_pct")),
            ]
        )
    notes = []
    if "B2" in docs and "S1" in docs:
        # S1 target: healthy subscribers keep >= 90 % of B2
        parts = []
        for s in SERVERS:
            b2 = docs["B2"]["summary"]["servers"].get(s, {}).get("median")
            s1 = docs["S1"]["summary"]["servers"].get(s, {}).get("median")
            if b2 and s1:
                mark = ""
                if s == "scanbridge":
                    mark = " (target >= 90 %: " + ("yes" if s1 / b2 >= 0.9 else "NO") + ")"
                parts.append(f"{s} {100 * s1 / b2:.0f} %{mark}")
        if parts:
            notes.append("S1 retention (S1 healthy deliveries/s / B2): " + ", ".join(parts))
        for s in SERVERS:
            x = docs["S1"]["summary"]["servers"].get(s)
            if x and x.get("rss_max_kb"):
                notes.append(
                    f"S1 {s} server RSS MB: start {mb(x['rss_start_kb'])}, max "
                    f"{mb(x['rss_max_kb'])}, end {mb(x['rss_end_kb'])}"
                )
    if "T1" in docs:
        # T1 target: scanbridge's retention (T1 / E2, same run) >= picows'
        sv = docs["T1"]["summary"]["servers"]
        ret = {s: sv.get(s, {}).get("retention") for s in SERVERS}
        parts = [f"{s} {100 * r:.0f} %" for s, r in ret.items() if r]
        if parts:
            ok = ""
            if ret.get("scanbridge") and ret.get("picows"):
                met = "yes" if ret["scanbridge"] >= ret["picows"] else "NO"
                ok = f" (target >= picows: {met})"
            notes.append("T1 retention (wss msgs/s / plain E2, same run): " + ", ".join(parts) + ok)
    if "C1" in docs:
        sv = docs["C1"]["summary"]["servers"]
        parts = [
            f"{s} {fmt(x.get('wire_out_per_msg'), 0)} / {fmt(x.get('wire_in_per_msg'), 0)}"
            for s, x in sv.items()
        ]
        if parts:
            notes.append(
                "C1 wire bytes per message out / in: "
                + ", ".join(parts)
                + "; picows: no permessage-deflate"
            )
    if "M1" in docs:
        x = docs["M1"]["summary"]["servers"].get("scanbridge")
        if x and x.get("median") is not None:
            ok = "yes" if x["median"] <= 8.0 else "NO"
            notes.append(f"M1 scanbridge {x['median']:.2f} KB/conn (target <= 8 KB: {ok})")
    out = []
    if markdown:
        out.append("### Summary: scanbridge / peer (median of per-run ratios)")
        out.append("")
        out.append("| " + " | ".join(head) + " |")
        out.append("|" + "|".join("---" if i < 2 else "---:" for i in range(len(head))) + "|")
        out.extend("| " + " | ".join(r) + " |" for r in rows)
        if notes:
            out.append("")
            out.extend(f"- {n}" for n in notes)
    else:
        out.append("Summary: scanbridge / peer (median of per-run ratios)")
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
        out.append("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)))
        out.append("  ".join("-" * w for w in widths))
        for r in rows:
            out.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
        out.extend(notes)
    return "\n".join(out)


def chart(docs: dict[str, dict], path: str) -> bool:
    """A bar chart of scanbridge's advantage over each peer per scenario
    (ratio, inverted for lower-is-better figures), if matplotlib imports."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception:
        return False
    scen = [s for s in docs if docs[s]["summary"]["ratios"]]
    if not scen:
        return False
    fig, ax = plt.subplots(figsize=(1.2 * len(scen) + 3, 4))
    width = 0.38
    for k, peer in enumerate(("picows", "websockets")):
        vals = []
        for s in scen:
            r = docs[s]["summary"]["ratios"].get(f"scanbridge/{peer}")
            v = r["median_per_run"] if r else None
            if v and s in LOWER_IS_BETTER:
                v = 1.0 / v
            vals.append(v or 0.0)
        xs = [i + (k - 0.5) * width for i in range(len(scen))]
        bars = ax.bar(xs, vals, width, label=f"vs {peer}")
        for b, v in zip(bars, vals, strict=True):
            if v:
                ax.annotate(
                    f"{v:.1f}x",
                    (b.get_x() + b.get_width() / 2, v),
                    ha="center",
                    va="bottom",
                    fontsize=8,
                )
    ax.axhline(1.0, color="grey", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xticks(range(len(scen)))
    ax.set_xticklabels([s + (" (mem)" if s in LOWER_IS_BETTER else "") for s in scen])
    ax.set_ylabel("scanbridge advantage (x, log)")
    ax.set_title(f"scanbridge vs peers, {datetime.date.today().isoformat()}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--scenario", choices=sorted(SCENARIOS), default="E2")
    ap.add_argument(
        "--all",
        action="store_true",
        help=f"run {', '.join(ALL)} in one go (defaults: --runs {ALL_DEFAULTS['runs']} "
        f"--duration {ALL_DEFAULTS['duration']:g} --warmup {ALL_DEFAULTS['warmup']:g})",
    )
    ap.add_argument("--runs", type=int, default=None, help="runs per server (default 3)")
    ap.add_argument(
        "--duration",
        type=float,
        default=None,
        help="measured seconds per run (default 5; S1 8; --all 2, S1 8)",
    )
    ap.add_argument(
        "--warmup", type=float, default=None, help="unmeasured seconds before (default 1)"
    )
    ap.add_argument(
        "--servers",
        default=",".join(SERVERS),
        help="comma-separated, in run order (default %(default)s)",
    )
    ap.add_argument("--conns", type=int, default=None, help="E2 connections (100), M1 (5000)")
    ap.add_argument(
        "--size", type=int, default=None, help="message size in bytes (E2 256, B1/B2/S1 64)"
    )
    ap.add_argument(
        "--inflight", type=int, default=1, help="E2 messages in flight per connection (default 1)"
    )
    ap.add_argument("--text", action="store_true", help="E2 text messages (default binary)")
    ap.add_argument(
        "--concurrency", type=int, default=100, help="H1 concurrent handshakes (default 100)"
    )
    ap.add_argument("--clients", type=int, default=100, help="B1 clients in the room (100)")
    ap.add_argument(
        "--window", type=int, default=4, help="B1 rounds a client may have incomplete (4)"
    )
    ap.add_argument(
        "--subscribers", type=int, default=1000, help="B2/S1 subscribers (default 1000)"
    )
    ap.add_argument(
        "--messages", type=int, default=300, help="B2/S1 messages per burst (default 300)"
    )
    ap.add_argument(
        "--slow-pct", type=float, default=1.0, help="S1 %% of subscribers not reading (1)"
    )
    ap.add_argument("--path", default=None, help="URL path (default /echo; /layout for B1, B2, S1)")
    ap.add_argument("--server-cpu", default="0", help="taskset CPU list for the server (default 0)")
    ap.add_argument(
        "--client-cpu", default="1", help="taskset CPU list for the load client (default 1)"
    )
    ap.add_argument("--no-pin", action="store_true", help="do not use taskset")
    ap.add_argument(
        "--workers",
        type=int,
        default=1,
        help="scanbridge --workers N (N > 1 starts a private redis-server for the backplane; "
        "give --server-cpu 0,1 or --no-pin to let the workers use both cores)",
    )
    ap.add_argument(
        "--quiet-wait",
        type=float,
        default=0.0,
        metavar="S",
        help="before each server start, wait up to S s for the machine to be under 10%% busy",
    )
    ap.add_argument("--rebuild", action="store_true", help="cargo build the load client first")
    ap.add_argument("--json", metavar="FILE", help="write all raw results and the summary as JSON")
    ap.add_argument(
        "--markdown", action="store_true", help="print the table as Markdown (for BENCHMARKS.md)"
    )
    ap.add_argument(
        "--chart",
        metavar="FILE",
        help="also draw the ratios as a PNG (only if matplotlib is importable)",
    )
    a = ap.parse_args(argv)
    duration_given = a.duration is not None
    defaults = ALL_DEFAULTS if a.all else {"runs": 3, "duration": 5.0, "warmup": 1.0}
    for k, v in defaults.items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    if a.no_pin:
        a.server_cpu = a.client_cpu = None
    elif not shutil.which("taskset"):
        log("taskset not found: running unpinned")
        a.server_cpu = a.client_cpu = None
    servers = [s.strip() for s in a.servers.split(",") if s.strip()]
    for s in servers:
        if s not in SERVERS:
            ap.error(f"unknown server {s}")

    raise_nofile()
    loadgen = ensure_loadgen(a.rebuild)
    redis: RedisServer | None = None
    if a.workers > 1:
        redis = RedisServer()
        Server.sb_extra = (
            *("--workers", str(a.workers), "--redis-url", redis.url),
            "--no-streams",  # the Streams API runs in one process only
        )
        log(f"scanbridge runs with --workers {a.workers} (redis-server on port {redis.port})")
    try:
        return run_all(a, loadgen, servers, duration_given)
    finally:
        if redis is not None:
            redis.stop()


def run_all(a: argparse.Namespace, loadgen: Path, servers: list[str], duration_given: bool) -> int:
    scenarios = list(ALL) if a.all else [a.scenario]
    docs: dict[str, dict] = {}
    t0 = time.monotonic()
    for sc in scenarios:
        sa = argparse.Namespace(**vars(a))
        sa.scenario = sc
        if not duration_given and sc in SCENARIO_DURATION:
            sa.duration = SCENARIO_DURATION[sc]
        if a.all:
            print("", flush=True)
        docs[sc] = run_scenario(sa, loadgen, servers)
    if a.all:
        print("", flush=True)
        print(overview(docs, a.markdown), flush=True)
        log(f"--all took {time.monotonic() - t0:.0f} s")
    if a.chart:
        if chart(docs, a.chart):
            log(f"chart written to {a.chart}")
    if a.json:
        doc = docs[scenarios[0]] if not a.all else {"scenarios": docs}
        Path(a.json).write_text(json.dumps(doc, indent=2) + "\n")
        log(f"raw results written to {a.json}")
    return 0 if any(r.get("ok") for d in docs.values() for r in d["results"]) else 1


if __name__ == "__main__":
    sys.exit(main())
