"""Journal throughput: sustained scans/s the journal stores on this machine.

    python benches/journal.py [--seconds 3] [--dir /tmp]

For ``synchronous`` normal and full: one commit per scan (a scanner's pace:
each scan waits for the previous one) and group commit through the writer
thread (many scans in flight, e.g. a burst of POST /api/scans).  Prints
scans/s and commits/s.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from scanbridge.journal import Journal
from scanbridge.journal_writer import JournalWriter
from scanbridge.streams import messages as m


def event(i: int) -> dict:
    return m.scan_event(f"4006381{i:06d}", None, "BENCH-1", "SB0000000000", symbology="EAN-13")


async def one_at_a_time(j: Journal, seconds: float) -> tuple[int, int]:
    loop = asyncio.get_running_loop()
    w = JournalWriter(j, loop=loop, on_stored=lambda stored: None)
    n = 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        await w.submit(event(n), hold=False)
        n += 1
    await w.close()
    return n, w.commits


async def in_flight(j: Journal, seconds: float, window: int) -> tuple[int, int]:
    loop = asyncio.get_running_loop()
    w = JournalWriter(j, loop=loop, on_stored=lambda stored: None)
    n = 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        await asyncio.gather(*(w.submit(event(n + k), hold=False) for k in range(window)))
        n += window
    await w.close()
    return n, w.commits


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--dir", default=None, help="directory for the journal files")
    ap.add_argument("--window", type=int, default=64, help="scans in flight for group commit")
    args = ap.parse_args()
    base = Path(args.dir or tempfile.mkdtemp())
    for sync in ("normal", "full"):
        for name in ("one at a time", f"{args.window} in flight"):
            path = base / f"bench-{sync}-{name.split()[0]}.sqlite3"
            for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                p.unlink(missing_ok=True)
            with Journal(path, synchronous=sync) as j:  # type: ignore[arg-type]
                if name == "one at a time":
                    n, commits = asyncio.run(one_at_a_time(j, args.seconds))
                else:
                    n, commits = asyncio.run(in_flight(j, args.seconds, args.window))
            print(
                f"synchronous={sync:6s} {name:14s}: {n / args.seconds:9.0f} scans/s, "
                f"{commits / args.seconds:7.0f} commits/s"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
