"""Typed codes: one code per line on standard input.

Standard input may be a pipe or socket (read by the event loop), or a regular
file (``< codes.txt``), a terminal or another character device such as
``/dev/null`` (what systemd and nohup give), read by a daemon thread: uvloop's
``connect_read_pipe`` aborts the process on files and ``/dev/null``. At
the end of the input the scanner is reported disconnected and the source ends;
the server keeps running.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import sys
import threading
from collections.abc import AsyncIterator
from typing import Any

from ..scan import Scan
from .base import DeviceInfo, Sink, Source

log = logging.getLogger("scanbridge.scanners")

#: Lines the reader thread may read ahead of the loop.
THREAD_READ_AHEAD = 64


def _fileno(stream: Any) -> int:
    return stream if isinstance(stream, int) else stream.fileno()


def input_kind(fd: int) -> str:
    """How ``fd`` is read: ``pipe`` (a FIFO or socket: by the event loop) or
    ``thread`` (a regular file, terminal or other character device, ``/dev/null``)."""
    mode = os.fstat(fd).st_mode
    if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        return "pipe"
    return "thread"


def _open_copy(fd: int) -> Any:
    """A binary file on a copy of ``fd`` (closing it leaves ``fd`` open)."""
    return open(os.dup(fd), "rb")


async def _pipe_lines(fd: int) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    pipe = _open_copy(fd)  # the transport closes it
    transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
    try:
        while line := await reader.readline():
            yield line
    finally:
        transport.close()


async def _thread_lines(fd: int) -> AsyncIterator[bytes]:
    """Lines read by a daemon thread (a blocked terminal read never holds up
    shutdown), at most THREAD_READ_AHEAD ahead of the consumer."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue()
    room = threading.Semaphore(THREAD_READ_AHEAD)
    stop = threading.Event()
    f = _open_copy(fd)  # closed by the thread

    def put(item: bytes | BaseException | None) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:  # the loop is closed
            stop.set()

    def read() -> None:
        try:
            with f:
                while not stop.is_set():
                    line = f.readline()
                    if not line:
                        break
                    room.acquire()
                    if stop.is_set():
                        return
                    put(line)
            put(None)
        except Exception as e:  # e.g. EIO from a hung-up terminal
            put(e)

    threading.Thread(target=read, name="scanbridge-stdin", daemon=True).start()
    try:
        while (item := await queue.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            room.release()
            yield item
    finally:
        stop.set()
        room.release()


class StdinSource(Source):
    kind = "stdin"

    def __init__(self, device: DeviceInfo, stream: object = None) -> None:
        super().__init__(device)
        self.stream = stream or sys.stdin

    def _lines(self) -> AsyncIterator[bytes]:
        fd = _fileno(self.stream)
        kind = input_kind(fd)
        if kind == "pipe":
            return _pipe_lines(fd)
        return _thread_lines(fd)

    async def run(self, sink: Sink) -> None:
        lines = self._lines()
        await sink.state(self.device, True)
        try:
            async for line in lines:
                code = line.rstrip(b"\r\n")
                if code and self.enabled:
                    text = code.decode("utf-8", "replace")
                    await sink.scan(
                        Scan(
                            text,
                            code,
                            self.device.serial,
                            source=self.kind,
                            device_model=self.device.model,
                        )
                    )
        finally:
            await lines.aclose()  # type: ignore[attr-defined]
        log.info("stdin: end of input; scanner %s disconnected", self.device.serial)
        await sink.state(self.device, False)
