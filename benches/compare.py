#!/usr/bin/env python3
"""Side-by-side benchmark: scanbridge vs picows vs websockets.

    python benches/compare.py --scenario E2 --runs 3
    python benches/compare.py --scenario H1 --runs 3 --markdown

For each run 1..R and each server (interleaved A B C A B C ...): start the
server pinned to CPU 0, wait until its TCP port accepts, drive it with the
compiled load client (benches/loadgen) pinned to CPU 1, sample the server's
CPU time over exactly the load client's measurement window, stop the server
(SIGTERM, SIGKILL after 5 s). Then print medians per server and the ratios
scanbridge / peer. Stdlib only. See benches/README.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
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
    # id: (loadgen subcommand, figure key in loadgen's JSON, unit)
    "E2": ("echo", "msgs_per_s", "msgs/s"),
    "H1": ("handshake", "upgrades_per_s", "upgrades/s"),
}
READY_TIMEOUT = 20.0  # s for a server to accept on its port
STOP_TIMEOUT = 5.0  # s between SIGTERM and SIGKILL


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def venv_python() -> str:
    p = ROOT / ".venv" / "bin" / "python"
    return str(p) if p.exists() else sys.executable


def server_command(name: str, port: int) -> list[str] | None:
    if name == "scanbridge":
        # SCANBRIDGE_BIN: a scanbridge executable of another venv (e.g. a release build).
        exe = Path(os.environ.get("SCANBRIDGE_BIN", ROOT / ".venv" / "bin" / "scanbridge"))
        path = str(exe) if exe.exists() else shutil.which("scanbridge")
        if not path:
            return None
        return [path, "serve", "--echo", "--port", str(port), "--log-level", "warning"]
    return [venv_python(), str(BENCHES / "servers.py"), name, "--port", str(port)]


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
    def __init__(self, name: str, port: int, cpu: str | None, logdir: Path):
        self.name, self.port = name, port
        self.log_path = logdir / f"{name}-{port}.log"
        cmd = server_command(name, port)
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


# ---------------------------------------------------------------- load client


def ensure_loadgen(rebuild: bool) -> Path:
    if LOADGEN.exists() and not rebuild:
        return LOADGEN
    log(
        "building the load client: cargo build --release --manifest-path benches/loadgen/Cargo.toml"
    )
    r = subprocess.run(
        ["cargo", "build", "--release", "--manifest-path", str(LOADGEN_DIR / "Cargo.toml")],
        timeout=900,
    )
    if r.returncode != 0 or not LOADGEN.exists():
        sys.exit("cannot build benches/loadgen")
    return LOADGEN


def loadgen_args(a: argparse.Namespace, port: int) -> list[str]:
    sub = SCENARIOS[a.scenario][0]
    url = f"ws://127.0.0.1:{port}{a.path}"
    args = [sub, "--url", url, "--duration", str(a.duration), "--warmup", str(a.warmup)]
    if a.scenario == "E2":
        args += ["--conns", str(a.conns), "--size", str(a.size), "--inflight", str(a.inflight)]
        args += ["--text"] if a.text else ["--binary"]
    elif a.scenario == "H1":
        args += ["--concurrency", str(a.concurrency)]
    return args


def run_one(a: argparse.Namespace, loadgen: Path, server: Server) -> dict:
    cmd = [str(loadgen), *loadgen_args(a, server.port)]
    if a.client_cpu is not None:
        cmd = ["taskset", "-c", a.client_cpu, *cmd]
    spid = server.proc.pid
    marks: dict[str, tuple] = {}

    def sample() -> tuple:
        return time.monotonic(), cpu_ticks(spid), cpu_stat()

    outf = open(server.log_path.with_suffix(".loadgen.json"), "w+")
    proc = subprocess.Popen(cmd, stdout=outf, stderr=subprocess.PIPE, text=True)
    stderr_lines: list[str] = []

    def read_stderr() -> None:
        for line in proc.stderr:
            line = line.rstrip("\n")
            if line == "loadgen: measure start":
                marks["start"] = sample()
            elif line == "loadgen: measure end":
                marks["end"] = sample()
                marks["rss_kb"] = rss_kb(spid)
            else:
                stderr_lines.append(line)

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    # loadgen bounds itself (connect timeout + warmup + duration + 2 s +
    # shutdown); this is the backstop.
    limit = 3.0 + a.warmup + a.duration + 2.0 + 1.0 + 10.0
    try:
        proc.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        stderr_lines.append(f"compare.py: load client killed after {limit:.0f} s")
    reader.join(2)
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
    return res


# ---------------------------------------------------------------- summary


def median(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def summarize(a: argparse.Namespace, results: list[dict], servers: list[str]) -> dict:
    key = SCENARIOS[a.scenario][1]
    summary: dict = {"servers": {}, "ratios": {}}
    for s in servers:
        rs = [r for r in results if r["server"] == s and r.get("ok")]
        vals = [r[key] for r in rs]
        summary["servers"][s] = {
            "runs": len(rs),
            "median": median(vals),
            "min": min(vals) if vals else None,
            "max": max(vals) if vals else None,
            "server_cpu_pct": median([r["server_cpu_pct"] for r in rs if "server_cpu_pct" in r]),
            "client_cpu_pct": median([r["client_cpu_pct"] for r in rs if "client_cpu_pct" in r]),
            "other_cpu_pct": median([r["other_cpu_pct"] for r in rs if "other_cpu_pct" in r]),
            "server_core_busy_pct": median(
                [r["server_core_busy_pct"] for r in rs if r.get("server_core_busy_pct") is not None]
            ),
            "client_core_busy_pct": median(
                [r["client_core_busy_pct"] for r in rs if r.get("client_core_busy_pct") is not None]
            ),
            "server_rss_kb": median([r["server_rss_kb"] for r in rs if r.get("server_rss_kb")]),
            "errors": sum(r.get("errors", 0) for r in rs),
        }
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


def describe(a: argparse.Namespace) -> str:
    if a.scenario == "E2":
        kind = "text" if a.text else "binary"
        return (
            f"E2 closed-loop echo: {a.conns} conns, {a.size} B {kind}, {a.inflight} in flight, "
            f"{a.duration:g} s (+{a.warmup:g} s warmup)"
        )
    return (
        f"H1 handshake rate: {a.concurrency} concurrent connect+upgrade+close, "
        f"{a.duration:g} s (+{a.warmup:g} s warmup)"
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


def table(a: argparse.Namespace, summary: dict, servers: list[str], markdown: bool) -> str:
    unit = SCENARIOS[a.scenario][2]
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
        "server RSS MB",
        "errors",
    ]
    rows = []
    for s in servers:
        x = summary["servers"][s]
        rss = x["server_rss_kb"] / 1024 if x["server_rss_kb"] else None
        rows.append(
            [
                s,
                str(x["runs"]),
                fmt(x["median"]),
                fmt(x["min"]),
                fmt(x["max"]),
                fmt(x["server_cpu_pct"]),
                fmt(x["client_cpu_pct"]),
                fmt(x["server_core_busy_pct"]),
                fmt(x["client_core_busy_pct"]),
                fmt(x["other_cpu_pct"]),
                fmt(rss, 1),
                str(x["errors"]),
            ]
        )
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
            out.append("| ratio | of medians | median of per-run ratios | per run |")
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
            out.append(f"{n}: {om} (ratio of medians); {mpr} median of per-run ratios [{pr}]")
        if not ratio_lines:
            out.append("(no ratios: scanbridge or the peers have no successful run)")
    return "\n".join(out)


def report_run(run: int, name: str, res: dict, key: str, unit: str, srv: Server) -> None:
    if not res["ok"]:
        why = res.get("error") or res.get("last_error") or ""
        log(
            f"run {run} {name:<10} FAILED: {why} (loadgen rc {res.get('loadgen_rc')}) "
            f"{res.get('loadgen_stderr', '')}\n{srv.log_tail()}"
        )
        return

    def g(k: str) -> object:
        return res.get(k, "?")

    log(
        f"run {run} {name:<10} {res[key]:>12,.0f} {unit}  "
        f"server CPU {g('server_cpu_pct')} % (core {g('server_core_busy_pct')} %)  "
        f"client CPU {g('client_cpu_pct')} % (core {g('client_core_busy_pct')} %)  "
        f"softirq {g('softirq_pct')} %  other {g('other_cpu_pct')} %  errors {g('errors')}"
    )
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


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--scenario", choices=sorted(SCENARIOS), default="E2")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument(
        "--duration", type=float, default=5.0, help="measured seconds per run (default 5)"
    )
    ap.add_argument(
        "--warmup", type=float, default=1.0, help="unmeasured seconds before (default 1)"
    )
    ap.add_argument(
        "--servers",
        default=",".join(SERVERS),
        help="comma-separated, in run order (default %(default)s)",
    )
    ap.add_argument("--conns", type=int, default=100, help="E2 connections (default 100)")
    ap.add_argument("--size", type=int, default=256, help="E2 message size in bytes (default 256)")
    ap.add_argument(
        "--inflight", type=int, default=1, help="E2 messages in flight per connection (default 1)"
    )
    ap.add_argument("--text", action="store_true", help="E2 text messages (default binary)")
    ap.add_argument(
        "--concurrency", type=int, default=100, help="H1 concurrent handshakes (default 100)"
    )
    ap.add_argument("--path", default="/echo", help="URL path (default /echo)")
    ap.add_argument("--server-cpu", default="0", help="taskset CPU list for the server (default 0)")
    ap.add_argument(
        "--client-cpu", default="1", help="taskset CPU list for the load client (default 1)"
    )
    ap.add_argument("--no-pin", action="store_true", help="do not use taskset")
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
    a = ap.parse_args(argv)
    if a.no_pin:
        a.server_cpu = a.client_cpu = None
    elif not shutil.which("taskset"):
        log("taskset not found: running unpinned")
        a.server_cpu = a.client_cpu = None
    servers = [s.strip() for s in a.servers.split(",") if s.strip()]
    for s in servers:
        if s not in SERVERS:
            ap.error(f"unknown server {s}")

    loadgen = ensure_loadgen(a.rebuild)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    logdir = RESULTS / f"{stamp}-{a.scenario}"
    logdir.mkdir(parents=True, exist_ok=True)
    key, unit = SCENARIOS[a.scenario][1], SCENARIOS[a.scenario][2]
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
                srv = Server(name, port, a.server_cpu, logdir)
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
            except RuntimeError as e:
                skipped[name] = str(e)
                log(f"SKIP {name}: {e}")
                continue
            finally:
                srv.stop()  # also on Ctrl-C
            res.update(run=run, server=name, port=port)
            res["ok"] = bool(res.get(key)) and res.get("loadgen_rc") == 0
            results.append(res)
            report_run(run, name, res, key, unit, srv)

    shown = [s for s in servers if s not in skipped or any(r["server"] == s for r in results)]
    summary = summarize(a, results, shown)
    print(table(a, summary, shown, a.markdown), flush=True)
    for s, why in skipped.items():
        print(f"\nskipped {s}: {why.splitlines()[0]}", file=sys.stderr)
    if a.json:
        doc = {
            "scenario": a.scenario,
            "describe": describe(a),
            "date": datetime.datetime.now().isoformat(timespec="seconds"),
            "machine": machine(),
            "args": vars(a),
            "results": results,
            "summary": summary,
            "skipped": skipped,
        }
        Path(a.json).write_text(json.dumps(doc, indent=2) + "\n")
        log(f"raw results written to {a.json}")
    return 0 if any(r.get("ok") for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
