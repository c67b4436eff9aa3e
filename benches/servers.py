"""Peer servers for the side-by-side benchmarks.

    python benches/servers.py picows --port P
    python benches/servers.py websockets --port P

Each listens on 127.0.0.1:P under uvloop, set up the fastest way its
documentation shows, and prints ``listening <port>`` once it accepts
connections. SIGTERM/SIGINT stop it.

- ``/layout``: a chat-room server with the subset of scanbridge's rooms
  protocol the benchmarks use (PROTOCOLS.md section 2):
  ``["JOIN",{"room":R,"name":N}]`` makes the connection a member of R under
  the name N, and ``["NOTIFY",{"room":R,"message":M}]`` sends
  ``["EVENT",{"sender":N,"room":R,"message":M}]`` to every *other* member of
  R. Like scanbridge, the command is parsed (``json.loads``) and the EVENT is
  built once per NOTIFY (``json.dumps`` of the wrapper, compact separators,
  so the bytes are the same as scanbridge's for ASCII messages) and then
  broadcast the way each library's documentation recommends: websockets
  ``broadcast()``, picows a loop of ``transport.send()`` over the members.
- any other path: echo every message (E2, H1, M1).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys

ROOMS_PATH = "/layout"


def _print_listening(port: int) -> None:
    print(f"listening {port}", flush=True)


async def _wait_for_stop() -> None:
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    await stop


def _event(sender: str, room: str, message: object) -> str:
    """The EVENT text for one NOTIFY, like scanbridge's (compact JSON)."""
    return json.dumps(
        ["EVENT", {"sender": sender, "room": room, "message": message}], separators=(",", ":")
    )


def _command(text: str | bytes) -> tuple[str, dict] | None:
    """(kind, args) of a rooms command, or None when it is not one."""
    try:
        cmd = json.loads(text)
    except ValueError:
        return None
    if isinstance(cmd, list) and len(cmd) == 2 and isinstance(cmd[1], dict):
        return cmd[0], cmd[1]
    return None


async def serve_picows(host: str, port: int, deflate: bool = False, ssl=None) -> None:
    # Core API, as in picows' README "Server" example: one listener per
    # connection, frames handled in on_ws_frame, replies with
    # transport.send(); CLOSE answered with send_close + disconnect; PING
    # answered by enable_auto_pong (the default). Broadcast: a loop of
    # transport.send() over the room's members. picows uses aiofastnet for
    # its transport when installed.
    from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_create_server

    rooms: dict[str, dict[WSTransport, None]] = {}  # room -> members (ordered)

    class EchoListener(WSListener):
        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            if frame.msg_type == WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code(), frame.get_close_message())
                transport.disconnect()
            else:
                transport.send(frame.msg_type, frame.get_payload_as_memoryview())

    class RoomListener(WSListener):
        def __init__(self) -> None:
            self.name = "unknown"
            self.joined: list[str] = []

        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            if frame.msg_type == WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code(), frame.get_close_message())
                transport.disconnect()
                return
            if frame.msg_type != WSMsgType.TEXT:
                return
            cmd = _command(frame.get_payload_as_bytes())
            if cmd is None:
                return
            kind, args = cmd
            room = args.get("room")
            if not isinstance(room, str):
                return
            if kind == "NOTIFY":
                members = rooms.get(room)
                if members:
                    data = _event(self.name, room, args.get("message")).encode()
                    for t in members:
                        if t is not transport:
                            t.send(WSMsgType.TEXT, data)
            elif kind == "JOIN":
                self.name = str(args.get("name") or self.name)
                members = rooms.setdefault(room, {})
                if transport not in members:
                    members[transport] = None
                    self.joined.append(room)

        def on_ws_disconnected(self, transport: WSTransport) -> None:
            for room in self.joined:
                members = rooms.get(room)
                if members is not None:
                    members.pop(transport, None)
                    if not members:
                        del rooms[room]
            self.joined.clear()

    def factory(request):
        path = request.path.split(b"?", 1)[0]
        return RoomListener() if path == ROOMS_PATH.encode() else EchoListener()

    server = await ws_create_server(
        factory, host, port, websocket_handshake_timeout=5, enable_auto_pong=True, ssl=ssl
    )
    _print_listening(port)
    async with server:
        await _wait_for_stop()


async def serve_websockets(host: str, port: int, deflate: bool = False, ssl=None) -> None:
    # The asyncio API; broadcast() as its docs recommend for fan-out ("pushes
    # the message synchronously to all connections ... no backpressure").
    from websockets.asyncio.server import broadcast, serve

    rooms: dict[str, dict[object, None]] = {}

    async def echo(ws) -> None:
        async for msg in ws:
            await ws.send(msg)

    async def chat(ws) -> None:
        name = "unknown"
        joined: list[str] = []
        try:
            async for msg in ws:
                cmd = _command(msg)
                if cmd is None:
                    continue
                kind, args = cmd
                room = args.get("room")
                if not isinstance(room, str):
                    continue
                if kind == "NOTIFY":
                    members = rooms.get(room)
                    if members:
                        event = _event(name, room, args.get("message"))
                        broadcast((c for c in members if c is not ws), event)
                elif kind == "JOIN":
                    name = str(args.get("name") or name)
                    members = rooms.setdefault(room, {})
                    if ws not in members:
                        members[ws] = None
                        joined.append(room)
        finally:
            for room in joined:
                members = rooms.get(room)
                if members is not None:
                    members.pop(ws, None)
                    if not members:
                        del rooms[room]

    async def handler(ws) -> None:
        path = ws.request.path.split("?", 1)[0]
        await (chat(ws) if path == ROOMS_PATH else echo(ws))

    # C1: compression="deflate" (permessage-deflate, websockets' defaults)
    compression = "deflate" if deflate else None
    async with serve(
        handler, host, port, compression=compression, max_queue=None, max_size=None, ssl=ssl
    ):
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
    ap.add_argument("--deflate", action="store_true", help="permessage-deflate (C1)")
    ap.add_argument("--certfile", help="TLS certificate (PEM): serve wss (T1)")
    ap.add_argument("--keyfile", help="TLS private key (PEM)")
    args = ap.parse_args(argv)
    if args.deflate and args.server == "picows":
        print("picows has no permessage-deflate", file=sys.stderr)
        return 2
    ctx = None
    if args.certfile:
        import ssl

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.certfile, args.keyfile)

    import uvloop

    try:
        uvloop.run(SERVERS[args.server](args.host, args.port, args.deflate, ctx))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
