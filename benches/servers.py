"""Peer echo servers for the side-by-side benchmarks.

    python benches/servers.py picows --port P
    python benches/servers.py websockets --port P

Each echoes every message on any path, on 127.0.0.1:P, under uvloop, set up
the fastest way its documentation shows, and prints ``listening <port>``
once it accepts connections. SIGTERM/SIGINT stop it.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys


def _print_listening(port: int) -> None:
    print(f"listening {port}", flush=True)


async def _wait_for_stop() -> None:
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    await stop


async def serve_picows(host: str, port: int) -> None:
    # Core API, as in picows' README "Server" example: echo each frame with
    # transport.send(msg_type, memoryview) in on_ws_frame; answer CLOSE with
    # send_close + disconnect; PING is answered by enable_auto_pong (the
    # default). picows uses aiofastnet for its transport when installed.
    from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_create_server

    class EchoListener(WSListener):
        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            if frame.msg_type == WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code(), frame.get_close_message())
                transport.disconnect()
            else:
                transport.send(frame.msg_type, frame.get_payload_as_memoryview())

    def factory(_request):  # any path echoes
        return EchoListener()

    server = await ws_create_server(
        factory, host, port, websocket_handshake_timeout=5, enable_auto_pong=True
    )
    _print_listening(port)
    async with server:
        await _wait_for_stop()


async def serve_websockets(host: str, port: int) -> None:
    from websockets.asyncio.server import serve

    async def echo(ws) -> None:
        async for msg in ws:
            await ws.send(msg)

    async with serve(echo, host, port, compression=None, max_queue=None, max_size=None):
        _print_listening(port)
        await _wait_for_stop()


SERVERS = {"picows": serve_picows, "websockets": serve_websockets}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("server", choices=sorted(SERVERS))
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    args = ap.parse_args(argv)

    import uvloop

    try:
        uvloop.run(SERVERS[args.server](args.host, args.port))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
