"""WebSocket client (the "client endpoint"): scanbridge connecting out to a server.

Two ways to use it::

    async with scanbridge.connect("wss://host/path", auth=scanbridge.BasicAuth("u", "p")) as s:
        await s.send_text("hello")
        reply = await s.recv()          # str or bytes
        async for message in s:         # ends when the connection closes
            ...

    session = await scanbridge.connect(url, on_text=handle, reconnect=True)
    ...
    await session.close()               # also stops reconnecting

Callbacks take the session first, like an :class:`~scanbridge.Endpoint`'s:
``on_connect(session)``, ``on_text(session, text)``, ``on_binary(session,
data)``, ``on_close(session, code, reason)``; each may be sync or async and
they run one after the other on a receive loop of their own. With callbacks
(or ``reconnect=True``) that loop consumes the messages, so ``recv()`` is not
available. With ``reconnect=True`` a dropped connection is opened again after
an exponential backoff with jitter (base 0.5 s, doubling up to 30 s, each
delay drawn from its upper half), ``on_connect`` running each time; the first
connection is not retried: ``await connect(...)`` raises when it fails.

Framing, masking, parsing and permessage-deflate are done by the Rust codec
(``scanbridge._core.ClientCodec``); this package does the HTTP/1.1 upgrade and
the I/O on an asyncio (or uvloop) transport. Sends wait while the transport's
write buffer is above its high-water mark; when ``max_queue`` received
messages wait for ``recv()``, reading pauses (and so do pongs) until the
application catches up.

The package holds: :mod:`.options` (the arguments of :func:`connect`, checked),
:mod:`.handshake` (opening: TCP/TLS and the upgrade), :mod:`.protocol` (one
connection: frames, flow control, the closing handshake), :mod:`.reconnect`
(the backoff loop), :mod:`.session` (:class:`ClientSession`, :func:`connect`)
and :mod:`.errors`.
"""

from .errors import ConnectionClosed, HandshakeError
from .session import ClientSession, connect

__all__ = ["ClientSession", "ConnectionClosed", "HandshakeError", "connect"]
