"""`--workers N`: N processes serve one port (SO_REUSEPORT), sharing rooms
through the Redis backplane. The parent only supervises: it forwards
SIGINT/SIGTERM and exits when the workers have."""

from __future__ import annotations

import logging
import multiprocessing as mp
import signal
import socket
import time

from .config import Config

log = logging.getLogger("scanbridge.workers")


def _reserve_port(host: str, port: int) -> tuple[socket.socket, int]:
    """Bind (not listen) with SO_REUSEPORT so that port 0 becomes one port for all."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        s.bind((host, port))
    except OSError as e:
        s.close()
        from .listeners import listen_error

        raise listen_error(e, host, port) from None
    return s, s.getsockname()[1]


def _worker(config: Config, index: int) -> None:
    from .app import App

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent tells us with SIGTERM
    app = App(config)
    app.reuse_port = True
    app.run()


def run_workers(config: Config) -> int:
    holder, port = _reserve_port(config.host, config.port)
    import msgspec

    child_config = msgspec.structs.replace(config, port=port, workers=1)
    ctx = mp.get_context("spawn")
    procs = [
        ctx.Process(target=_worker, args=(child_config, i), name=f"scanbridge-worker-{i}")
        for i in range(config.workers)
    ]
    for p in procs:
        p.start()
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        for p in procs:
            if p.is_alive() and p.pid:
                try:
                    import os

                    os.kill(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        while any(p.is_alive() for p in procs):
            if not stopping and any(p.exitcode not in (None, 0) for p in procs):
                log.error("a worker failed; stopping the others")
                stop(signal.SIGTERM, None)
            time.sleep(0.1)
    finally:
        holder.close()
    codes = [p.exitcode or 0 for p in procs]
    return 0 if stopping and all(c == 0 for c in codes) else max(codes, default=0) or 0
