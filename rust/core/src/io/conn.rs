//! One connection's state machine: HTTP request, upgrade, WebSocket,
//! closing handshake, lingering close.

use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Mutex;
use std::time::Instant;

use super::chunk::Slice;
use super::deflaters::SharedDeflaters;
use super::endpoint::{Endpoint, Kind, ServerConfig};
use super::event::{ConnId, Event};
use super::outq::{OutQueue, KEEP_OUT, MAX_IOV};
use super::transport::Transport;
use crate::hub::{Flavor, Input as HubInput, SOCKETIO_PING_PACKET};
use crate::wire::close::{close_payload, CloseError, NO_STATUS, SERVER_ERROR};
use crate::wire::deflate::{negotiate, DeflateParams, Deflater, Inflater};
use crate::wire::frame::{encode_frame, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT};
use crate::wire::handshake::{
    parse_request, write_101, write_error, write_response, HttpError, Request,
};
use crate::wire::reader::{FrameReader, Message};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// Reading an HTTP request head (and body).
    Http,
    /// Python is deciding on an upgrade; reading is paused.
    AwaitUpgrade,
    /// Python is answering a plain HTTP request.
    AwaitResponse,
    Open,
    /// We sent a close frame and wait for the peer's.
    Closing,
    /// Write what is queued, then half-close and linger.
    Draining,
    /// Half-closed: discard input until the peer hangs up.
    Lingering,
    Dead,
}

pub(crate) struct Compression {
    deflater: Deflater,
    min_size: usize,
    buf: Vec<u8>,
}

/// An upgrade waiting for Python's answer.
pub(crate) struct PendingUpgrade {
    pub req: Request,
    pub accept: String,
    pub subprotocol: Option<String>,
    pub deflate: Option<(DeflateParams, String)>,
}

#[derive(Default, Debug, Clone, Copy)]
pub struct ConnStats {
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub msgs_in: u64,
    pub msgs_out: u64,
}

pub(crate) struct Conn {
    pub id: ConnId,
    pub transport: Transport,
    pub peer: SocketAddr,
    pub listener: u32,
    pub endpoint: u32,
    pub kind: Kind,
    pub state: State,
    /// HTTP: the request read so far. WebSocket: bytes read from the socket
    /// but not parsed yet, because the connection stopped after a message
    /// (Python holds too much of its input, its echo queue is full, or its
    /// turn is over); parsed before the socket is read again, at most one
    /// read long.
    pub hs: Vec<u8>,
    pub pending: Option<Box<PendingUpgrade>>,
    pub reader: FrameReader,
    pub compression: Option<Box<Compression>>,
    pub out: OutQueue,
    /// Python has heard of this connection (Open or Upgrade): it gets a Close.
    pub reported: bool,
    pub close_reported: bool,
    pub close_sent: bool,
    /// Not read from until the output drains (echo backpressure) or Python answers.
    pub paused: bool,
    pub dirty: bool,
    pub writable_armed: bool,
    pub deadline: Option<Instant>,
    pub last_seen: Instant,
    pub last_ping: Instant,
    pub opened_at: std::time::SystemTime,
    pub stats: ConnStats,
    /// The listener refuses this peer: answer its request with 403.
    pub forbidden: bool,
    /// Hub traffic read but not handled yet (rooms, lobby and Socket.IO
    /// endpoints): the server hands it to the hub after the read.
    pub inbox: Vec<HubInput>,
    /// Engine.IO v4: the server pings with a "2" packet, not a ping frame.
    pub eio_pings: bool,
    /// The listener's idle timeout, if it has its own.
    pub idle_timeout: Option<std::time::Duration>,
    /// Messages handed to Python and not yet reported consumed, and their bytes.
    pub py_msgs: u16,
    pub py_bytes: u32,
    /// Not read from until Python reports enough of its input consumed.
    pub py_blocked: bool,
    /// A panic happened while handling this connection: it is closed (1011).
    pub panicked: bool,
}

/// Bytes of messages (after decompression) one connection may have handled
/// in one turn before the others get theirs: a turn ends after the message
/// that passes it, so a few deflated bytes cannot make one turn inflate and
/// handle gigabytes.
pub(crate) const TURN_WORK: usize = 1024 * 1024;

/// How long a draining connection may take nothing of what it is sent
/// when no idle timeout is set (see `Conn::drain_timeout`).
pub(crate) const DRAIN_STALL: std::time::Duration = std::time::Duration::from_secs(60);

/// Tests: a text message that panics while it is handled.
#[cfg(test)]
pub(crate) const TEST_PANIC: &str = "test hook: panic";

/// What a connection needs from the server while it works.
pub(crate) struct Ctx<'a> {
    pub cfg: &'a ServerConfig,
    pub endpoints: &'a [Endpoint],
    pub routes: &'a std::collections::HashMap<String, u32>,
    pub now: Instant,
    pub deflaters: &'a Mutex<SharedDeflaters>,
    /// Bytes of messages the connection being read handled in this turn
    /// (see `TURN_WORK`).
    pub work: &'a AtomicUsize,
}

impl Conn {
    pub fn new(
        id: ConnId,
        transport: Transport,
        peer: SocketAddr,
        listener: u32,
        cfg: &ServerConfig,
        now: Instant,
    ) -> Self {
        Self {
            id,
            transport,
            peer,
            listener,
            endpoint: u32::MAX,
            kind: Kind::Echo,
            state: State::Http,
            hs: Vec::new(),
            pending: None,
            reader: FrameReader::new(cfg.max_message, true),
            compression: None,
            out: OutQueue::new(),
            reported: false,
            close_reported: false,
            close_sent: false,
            paused: false,
            dirty: false,
            writable_armed: false,
            deadline: Some(now + cfg.handshake_timeout),
            last_seen: now,
            last_ping: now,
            opened_at: std::time::SystemTime::now(),
            stats: ConnStats::default(),
            forbidden: false,
            idle_timeout: None,
            inbox: Vec::new(),
            eio_pings: false,
            py_msgs: 0,
            py_bytes: 0,
            py_blocked: false,
            panicked: false,
        }
    }

    pub fn queued(&self) -> usize {
        self.out.len()
    }

    pub fn is_websocket(&self) -> bool {
        matches!(self.state, State::Open | State::Closing)
    }

    /// Bytes arrived.
    pub fn on_data(&mut self, data: &mut [u8], ctx: &Ctx<'_>, sink: &mut dyn FnMut(Event<'_>)) {
        self.last_seen = ctx.now;
        match self.state {
            State::Http => self.on_http(data, ctx, sink),
            State::Open | State::Closing => self.on_frames(data, ctx, sink),
            State::AwaitUpgrade => self.hs.extend_from_slice(data),
            State::AwaitResponse | State::Draining | State::Lingering | State::Dead => {}
        }
    }

    /// The peer hung up.
    pub fn on_eof(&mut self, sink: &mut dyn FnMut(Event<'_>)) {
        if self.state == State::Open || self.state == State::Closing {
            self.report_close(1006, "", sink);
        }
        self.state = State::Dead;
    }

    fn on_http(&mut self, data: &[u8], ctx: &Ctx<'_>, sink: &mut dyn FnMut(Event<'_>)) {
        self.hs.extend_from_slice(data);
        let req = match parse_request(&self.hs) {
            Ok(Some(r)) => r,
            Ok(None) => {
                if self.hs.len() > ctx.cfg.max_http_head {
                    self.refuse(&HttpError::new(431, "request head too large"), ctx);
                }
                return;
            }
            Err(e) => return self.refuse(&e, ctx),
        };
        if self.forbidden {
            let e = HttpError::new(
                403,
                format!("address {} is not allowed on this port", self.peer.ip()),
            );
            return self.refuse(&e, ctx);
        }
        if req.wants_upgrade() {
            return self.on_upgrade(req, ctx, sink);
        }
        if req.content_length > ctx.cfg.max_http_body {
            return self.refuse(&HttpError::new(413, "request body too large"), ctx);
        }
        let end = req.head_len + req.content_length;
        if self.hs.len() < end {
            return;
        }
        self.state = State::AwaitResponse;
        self.deadline = None;
        let body = &self.hs[req.head_len..end];
        sink(Event::Http {
            conn: self.id,
            listener: self.listener,
            peer: self.peer,
            req: &req,
            body,
        });
    }

    fn on_upgrade(&mut self, req: Request, ctx: &Ctx<'_>, sink: &mut dyn FnMut(Event<'_>)) {
        let accept = match req.check_upgrade() {
            Ok(a) => a,
            Err(e) => return self.refuse(&e, ctx),
        };
        let Some(&ep_id) = ctx.routes.get(&req.path) else {
            return self.refuse(
                &HttpError::new(404, format!("no WebSocket endpoint at {}", req.path)),
                ctx,
            );
        };
        let ep = &ctx.endpoints[ep_id as usize];
        let origins = ep
            .allowed_origins
            .as_ref()
            .unwrap_or(&ctx.cfg.allowed_origins);
        if !origins.is_empty() && !req.origin_allowed(origins) {
            let origin = req.header("origin").unwrap_or("");
            return self.refuse(
                &HttpError::new(403, format!("origin {origin:?} is not allowed")),
                ctx,
            );
        }
        let subprotocol = req.select_subprotocol(&ep.subprotocols);
        let deflate = if ctx.cfg.deflate.enabled {
            let offers: Vec<&[u8]> = req
                .header_all("sec-websocket-extensions")
                .map(str::as_bytes)
                .collect();
            match negotiate(&offers, &ctx.cfg.deflate) {
                Ok(d) => d,
                Err(msg) => return self.refuse(&HttpError::new(400, msg), ctx),
            }
        } else {
            None
        };
        self.endpoint = ep_id;
        self.kind = ep.kind;
        self.hs.drain(..req.head_len);
        let pending = PendingUpgrade {
            req,
            accept,
            subprotocol,
            deflate,
        };
        if ep.ask_upgrade {
            self.state = State::AwaitUpgrade;
            self.paused = true;
            self.deadline = None;
            self.reported = true;
            let p = self.pending.insert(Box::new(pending));
            sink(Event::Upgrade {
                conn: self.id,
                listener: self.listener,
                endpoint: ep_id,
                peer: self.peer,
                req: &p.req,
                subprotocol: p.subprotocol.as_deref(),
            });
        } else {
            self.complete_upgrade(pending, &[], ctx, sink);
        }
    }

    /// Send the 101 and start the WebSocket; bytes that came after the
    /// request are read as frames.
    pub fn complete_upgrade(
        &mut self,
        p: PendingUpgrade,
        extra_headers: &[(String, String)],
        ctx: &Ctx<'_>,
        sink: &mut dyn FnMut(Event<'_>),
    ) {
        let ext = p.deflate.as_ref().map(|(_, h)| h.as_str());
        write_101(
            self.out.buf(),
            &p.accept,
            p.subprotocol.as_deref(),
            ext,
            extra_headers,
        );
        self.dirty = true;
        if let Some((params, _)) = p.deflate {
            let d = &ctx.cfg.deflate;
            self.compression = Some(Box::new(Compression {
                deflater: Deflater::new(
                    params.server_max_window_bits,
                    params.server_no_context_takeover,
                    d.level,
                ),
                min_size: d.min_size,
                buf: Vec::new(),
            }));
            self.reader.set_inflater(Inflater::new(
                params.client_max_window_bits,
                params.client_no_context_takeover,
            ));
        }
        self.state = State::Open;
        self.paused = false;
        self.deadline = None;
        self.last_ping = ctx.now;
        let flavor = match self.kind {
            Kind::Rooms => Some(Flavor::Rooms),
            Kind::Lobby => Some(Flavor::Lobby),
            Kind::SocketIo => Some(Flavor::SocketIo),
            Kind::Echo | Kind::Python => None,
        };
        if let Some(flavor) = flavor {
            let ep = &ctx.endpoints[self.endpoint as usize];
            let input = HubInput::opened(
                flavor,
                &ep.namespace,
                ep.room_hook,
                &p.req.query,
                ep.ping_interval,
            );
            self.eio_pings = input.pings_in_band();
            self.inbox.push(input);
        }
        if self.kind == Kind::Python {
            self.reported = true;
            sink(Event::Open {
                conn: self.id,
                listener: self.listener,
                endpoint: self.endpoint,
                peer: self.peer,
                req: &p.req,
                subprotocol: p.subprotocol.as_deref(),
            });
        }
        let mut rest = std::mem::take(&mut self.hs);
        if !rest.is_empty() {
            self.on_frames(&mut rest, ctx, sink);
        }
    }

    /// Answer an HTTP request (or refuse an upgrade) and hang up.
    pub fn respond(
        &mut self,
        status: u16,
        headers: &[(String, String)],
        body: &[u8],
        ctx: &Ctx<'_>,
    ) {
        write_response(self.out.buf(), status, headers, body);
        self.hs = Vec::new();
        self.pending = None;
        self.drain(ctx);
    }

    fn refuse(&mut self, e: &HttpError, ctx: &Ctx<'_>) {
        write_error(self.out.buf(), e);
        self.hs = Vec::new();
        self.drain(ctx);
    }

    fn drain(&mut self, ctx: &Ctx<'_>) {
        self.state = State::Draining;
        self.paused = false;
        self.dirty = true;
        self.deadline = Some(ctx.now + self.drain_timeout(ctx));
    }

    /// How long a draining connection (an HTTP response, a last close
    /// frame) may go without taking any of it before it is closed. The
    /// deadline moves with every write that makes progress: a slow reader
    /// gets the whole response (TCP backpressure), one that reads nothing is
    /// closed after the idle timeout (`DRAIN_STALL` when there is none).
    fn drain_timeout(&self, ctx: &Ctx<'_>) -> std::time::Duration {
        self.idle_timeout
            .or(ctx.cfg.idle_timeout)
            .filter(|d| !d.is_zero())
            .unwrap_or(DRAIN_STALL)
            .max(ctx.cfg.close_timeout)
    }

    /// Parse frames and act on each message. Stops after a message when the
    /// connection must wait (Python has `max_pending_*` of its input, the
    /// echo queue is past `max_queue`) or its turn's work is done; the rest
    /// of `data` is kept in `held` for later.
    fn on_frames(&mut self, data: &mut [u8], ctx: &Ctx<'_>, sink: &mut dyn FnMut(Event<'_>)) {
        let Conn {
            reader,
            out,
            compression,
            state,
            kind,
            id,
            stats,
            inbox,
            py_msgs,
            py_bytes,
            py_blocked,
            ..
        } = self;
        let work = ctx.work;
        let id = *id;
        let open = *state == State::Open;
        let mut close: Option<(Option<u16>, String)> = None;
        let before = out.len();
        let max_queue = ctx.cfg.max_queue;
        let (max_py_msgs, max_py_bytes) = (
            ctx.cfg.pending_messages_limit(),
            ctx.cfg.pending_bytes_limit(),
        );
        // Hand one message to Python; false once it holds enough of them.
        let mut to_python = |ev: Event<'_>, len: usize| {
            sink(ev);
            *py_msgs = py_msgs.saturating_add(1);
            *py_bytes = py_bytes.saturating_add(u32::try_from(len).unwrap_or(u32::MAX));
            *py_blocked = *py_msgs >= max_py_msgs || *py_bytes >= max_py_bytes;
            !*py_blocked
        };
        let res = reader.feed_some(data, &mut |m| match m {
            Message::Text(t) => {
                #[cfg(test)]
                if t == TEST_PANIC {
                    panic!("test hook: a panic while handling this connection");
                }
                stats.msgs_in += 1;
                work.store(work.load(Relaxed) + t.len(), Relaxed);
                let go_on = if open {
                    match kind {
                        Kind::Echo => {
                            stats.msgs_out += 1;
                            write_message(
                                out.buf(),
                                compression,
                                ctx.deflaters,
                                OP_TEXT,
                                t.as_bytes(),
                            );
                            out.len() <= max_queue
                        }
                        Kind::Python => to_python(Event::Text { conn: id, data: t }, t.len()),
                        Kind::Rooms | Kind::Lobby | Kind::SocketIo => {
                            inbox.push(HubInput::Text(t.to_owned()));
                            true
                        }
                    }
                } else {
                    true
                };
                go_on && work.load(Relaxed) < TURN_WORK
            }
            Message::Binary(b) => {
                stats.msgs_in += 1;
                work.store(work.load(Relaxed) + b.len(), Relaxed);
                let go_on = if open {
                    match kind {
                        Kind::Echo => {
                            stats.msgs_out += 1;
                            write_message(out.buf(), compression, ctx.deflaters, OP_BINARY, b);
                            out.len() <= max_queue
                        }
                        Kind::Python => to_python(Event::Binary { conn: id, data: b }, b.len()),
                        Kind::Rooms | Kind::Lobby | Kind::SocketIo => {
                            // (answered by the server, whose error replies are rate-limited)
                            inbox.push(HubInput::Binary);
                            true
                        }
                    }
                } else {
                    true
                };
                go_on && work.load(Relaxed) < TURN_WORK
            }
            Message::Ping(p) => {
                encode_frame(out.buf(), OP_PONG, p, false);
                true
            }
            Message::Pong(_) => true,
            Message::Close(code, reason) => {
                close = Some((code, reason.to_string()));
                false
            }
        });
        if out.len() != before {
            self.dirty = true;
        }
        let used = match res {
            Ok(n) => n,
            Err(e) => return self.fail(e, ctx, sink),
        };
        if used < data.len() && close.is_none() {
            self.hs.extend_from_slice(&data[used..]);
        }
        if let Some((code, reason)) = close {
            if !self.close_sent {
                // Echo the peer's code (RFC 6455 5.5.1).
                let mut payload = Vec::with_capacity(2 + reason.len());
                close_payload(code.unwrap_or(NO_STATUS), &reason, &mut payload);
                encode_frame(self.out.buf(), OP_CLOSE, &payload, false);
                self.close_sent = true;
            }
            self.report_close(code.unwrap_or(NO_STATUS), &reason, sink);
            self.drain(ctx);
        } else if self.kind == Kind::Echo && self.queued() > ctx.cfg.max_queue {
            // The peer sends faster than it reads: stop reading until it drains.
            self.paused = true;
        }
    }

    /// Bytes `on_frames` held back (WebSocket states only).
    pub fn holds(&self) -> bool {
        !self.hs.is_empty() && matches!(self.state, State::Open | State::Closing)
    }

    /// Parse what `on_frames` held back (call before reading the socket).
    pub fn feed_held(&mut self, ctx: &Ctx<'_>, sink: &mut dyn FnMut(Event<'_>)) {
        let mut held = std::mem::take(&mut self.hs);
        if matches!(self.state, State::Open | State::Closing) {
            self.on_frames(&mut held, ctx, sink);
        }
    }

    /// Whether this connection waits (output to drain, Python to answer or
    /// to consume its input) before it is read again.
    #[inline]
    pub fn waits(&self) -> bool {
        self.paused || self.py_blocked || self.state == State::Dead
    }

    /// Python consumed `msgs` messages of `bytes` bytes. True when the
    /// connection was waiting for that and may be read again (it is below
    /// half of both limits).
    pub fn consumed(&mut self, bytes: usize, msgs: u32, cfg: &ServerConfig) -> bool {
        let msgs = u16::try_from(msgs).unwrap_or(u16::MAX);
        self.py_bytes = self
            .py_bytes
            .saturating_sub(u32::try_from(bytes).unwrap_or(u32::MAX));
        self.py_msgs = self.py_msgs.saturating_sub(msgs);
        if self.py_blocked
            && self.py_msgs <= cfg.pending_messages_limit() / 2
            && self.py_bytes <= cfg.pending_bytes_limit() / 2
        {
            self.py_blocked = false;
            return true;
        }
        false
    }

    /// After a panic while handling it: whatever it had queued may be half
    /// written, so it is replaced by a close frame (1011, when it was a
    /// WebSocket) and the connection ends.
    pub fn on_panic(&mut self) {
        let websocket = self.is_websocket();
        self.out = OutQueue::new();
        self.hs = Vec::new();
        self.inbox = Vec::new();
        if websocket && !self.close_sent {
            let mut payload = Vec::with_capacity(16);
            close_payload(SERVER_ERROR, "internal error", &mut payload);
            encode_frame(self.out.buf(), OP_CLOSE, &payload, false);
            self.close_sent = true;
        }
        self.panicked = true;
        self.state = State::Dead;
    }

    /// Fail the connection: close frame with the error's code, then half-close.
    pub fn fail(&mut self, e: CloseError, ctx: &Ctx<'_>, sink: &mut dyn FnMut(Event<'_>)) {
        log::debug!("connection {} failed: {}", self.id, e);
        self.send_close(e.code, e.reason);
        self.report_close(e.code, e.reason, sink);
        self.drain(ctx);
    }

    /// Start the closing handshake (Python's close, shutdown, idle timeout).
    pub fn close(&mut self, code: u16, reason: &str, ctx: &Ctx<'_>) {
        match self.state {
            State::Open => {
                self.send_close(code, reason);
                self.state = State::Closing;
                self.deadline = Some(ctx.now + ctx.cfg.close_timeout);
            }
            State::Http | State::AwaitUpgrade | State::AwaitResponse => self.state = State::Dead,
            _ => {}
        }
    }

    fn send_close(&mut self, code: u16, reason: &str) {
        if !self.close_sent {
            let mut payload = Vec::with_capacity(2 + reason.len());
            close_payload(code, reason, &mut payload);
            encode_frame(self.out.buf(), OP_CLOSE, &payload, false);
            self.close_sent = true;
            self.dirty = true;
        }
    }

    pub fn report_close(&mut self, code: u16, reason: &str, sink: &mut dyn FnMut(Event<'_>)) {
        if self.reported && !self.close_reported {
            self.close_reported = true;
            sink(Event::Close {
                conn: self.id,
                code,
                reason,
            });
        }
    }

    /// Queue a data message from the host. Errors when the connection is not
    /// open; closes it with 1008 when its queue overflows.
    pub fn send(&mut self, opcode: u8, data: &[u8], ctx: &Ctx<'_>) -> Result<(), super::SendError> {
        self.enqueue(ctx, |out, compression| {
            write_message(out.buf(), compression, ctx.deflaters, opcode, data)
        })
    }

    /// How a fan-out frame of a `len`-byte message reaches this connection.
    pub fn framing(&self, len: usize) -> Framing {
        match &self.compression {
            None => Framing::Plain,
            Some(c) if len < c.min_size => Framing::Plain,
            Some(c) if c.deflater.no_context_takeover() => {
                Framing::Deflated(c.deflater.window_bits())
            }
            Some(_) => Framing::Own,
        }
    }

    /// Queue a frame made once for many connections, as it is.
    pub fn send_slice(&mut self, frame: &Slice, ctx: &Ctx<'_>) -> Result<(), super::SendError> {
        self.enqueue(ctx, |out, _| out.push_shared(frame))
    }

    fn enqueue(
        &mut self,
        ctx: &Ctx<'_>,
        write: impl FnOnce(&mut OutQueue, &mut Option<Box<Compression>>),
    ) -> Result<(), super::SendError> {
        if self.state != State::Open {
            return Err(super::SendError::NotOpen);
        }
        let before = self.queued();
        write(&mut self.out, &mut self.compression);
        self.stats.msgs_out += 1;
        self.dirty = true;
        // A message always fits an empty queue; past that the limit holds.
        if before > 0 && self.queued() > ctx.cfg.max_queue {
            self.close(
                crate::wire::close::POLICY,
                "slow consumer: outbound queue full",
                ctx,
            );
            return Err(super::SendError::Overflow);
        }
        Ok(())
    }

    pub fn ping(&mut self, ctx: &Ctx<'_>) {
        if self.eio_pings {
            // Engine.IO v4: the server pings in band.
            encode_frame(self.out.buf(), OP_TEXT, SOCKETIO_PING_PACKET, false);
        } else {
            encode_frame(self.out.buf(), OP_PING, b"", false);
        }
        self.last_ping = ctx.now;
        self.dirty = true;
    }

    /// Write what is queued. `Ok(true)`: all of it went out.
    pub fn flush(&mut self, ctx: &Ctx<'_>) -> std::io::Result<bool> {
        self.dirty = false;
        while !self.out.is_empty() {
            let mut iov = [std::io::IoSlice::new(&[]); MAX_IOV];
            let k = self.out.iovecs(&mut iov);
            match self.transport.write_vectored(&iov[..k]) {
                Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.out.consume(n);
                    self.stats.bytes_out += n as u64;
                    if self.state == State::Draining {
                        // progress: the reader is slow, not gone
                        self.deadline = Some(ctx.now + self.drain_timeout(ctx));
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        // Backed up: keep copies, not the fan-out chunks.
        self.out.spill();
        let tls_done = self.transport.flush_tls()?;
        let done = tls_done && self.out.is_empty();
        if done && self.state == State::Draining {
            self.transport.shutdown_write();
            self.state = State::Lingering;
            self.deadline = Some(ctx.now + ctx.cfg.close_timeout);
        }
        if done && self.paused && self.state == State::Open && self.pending.is_none() {
            self.paused = false;
        }
        Ok(done)
    }
}

/// The shared compressors. A panic while one held them may have left a
/// stream in the middle of a message: they are then dropped (and made
/// afresh), so no message ever carries bytes of another connection's.
pub(crate) fn lock(d: &Mutex<SharedDeflaters>) -> std::sync::MutexGuard<'_, SharedDeflaters> {
    d.lock().unwrap_or_else(|poisoned| {
        let mut g = poisoned.into_inner();
        g.clear();
        d.clear_poison();
        g
    })
}

/// How a frame fanned out to many connections reaches this one.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// The uncompressed frame, shared.
    Plain,
    /// The frame compressed once for this window size, shared.
    Deflated(u8),
    /// Compressed with this connection's own context.
    Own,
}

/// Frame one data message into `out`, compressed when negotiated and worth it.
#[inline]
pub(crate) fn write_message(
    out: &mut Vec<u8>,
    compression: &mut Option<Box<Compression>>,
    deflaters: &Mutex<SharedDeflaters>,
    opcode: u8,
    data: &[u8],
) {
    if let Some(c) = compression {
        if data.len() >= c.min_size {
            c.buf.clear();
            let r = if c.deflater.no_context_takeover() {
                lock(deflaters).compress(c.deflater.window_bits(), data, &mut c.buf)
            } else {
                c.deflater.compress(data, &mut c.buf)
            };
            if r.is_ok() {
                encode_frame(out, opcode, &c.buf, true);
                if c.buf.capacity() > KEEP_OUT {
                    c.buf = Vec::new();
                }
                return;
            }
        }
    }
    encode_frame(out, opcode, data, false);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Idle memory per connection (BENCHMARKS.md M1: <= 8 KB in all) starts here.
    #[test]
    fn idle_connection_is_small() {
        let size = std::mem::size_of::<Conn>();
        assert!(size <= 512, "Conn is {size} bytes");
    }
}
