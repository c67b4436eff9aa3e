//! The server: listeners and connections behind one poller.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token, Waker};
use slab::Slab;

use super::chunk::ChunkWriter;
use super::conn::{Conn, Ctx, State, TURN_WORK};
use super::deflaters::SharedDeflaters;
use super::endpoint::{Endpoint, ListenerOptions, ServerConfig};
use super::event::{ConnId, Event};
use super::listener::bind;
use super::transport::Transport;
use crate::hub::Hub;
use crate::wire::frame::{OP_BINARY, OP_TEXT};

/// The context a connection works in, borrowed field by field from the
/// server (so the connections can be borrowed mutably at the same time).
macro_rules! ctx {
    ($s:ident) => {
        Ctx {
            cfg: &$s.cfg,
            endpoints: &$s.endpoints,
            routes: &$s.routes,
            now: $s.now,
            deflaters: &$s.deflaters,
            work: &$s.work,
        }
    };
}

/// The sockets lent to the hub (`fanout::Wire`), with the event sink.
macro_rules! wire {
    ($s:ident, $sink:expr) => {
        Wire {
            conns: &mut $s.conns,
            dirty: &mut $s.dirty,
            stats: &mut $s.stats,
            frame: &mut $s.frame,
            shared: &mut $s.shared,
            ctx: ctx!($s),
            sink: $sink,
        }
    };
}

mod fanout;
mod host_calls;
mod info;
mod listeners;
mod rooms_api;

use fanout::Wire;
pub use info::ConnInfo;
use listeners::ListenerEntry;
pub use listeners::{AcceptNotice, ACCEPT_BACKOFF};

/// An event sink for calls that report nothing.
fn no_events(_: Event<'_>) {}

const WAKER: Token = Token(usize::MAX);
const LISTENER_BASE: usize = 1 << 40;
/// Bytes read from one connection per poll before others get a turn.
const READ_BUDGET: usize = 256 * 1024;
const SCRATCH: usize = 64 * 1024;
/// Poll rounds (reads without writing) per `poll` call while input keeps coming.
const POLL_ROUNDS: usize = 8;
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// No such connection, or it is not (or no longer) an open WebSocket.
    NotOpen,
    /// Its outbound queue overflowed: it is being closed with 1008.
    Overflow,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct ServerStats {
    pub connections_accepted: u64,
    pub connections_open: u64,
    pub websockets_open: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub messages_in: u64,
    pub messages_out: u64,
    pub overflow_closes: u64,
    pub fanout_deliveries: u64,
    /// Connections closed because handling them panicked (a bug).
    pub panics: u64,
    /// `accept` calls that failed (no file descriptors or memory left).
    pub accept_errors: u64,
    /// Error replies to room commands not sent: the connection had had its
    /// share of them (`ERRORS_PER_WINDOW` a second).
    pub errors_dropped: u64,
}

pub struct Server {
    poll: Poll,
    events: Events,
    waker: Waker,
    cfg: ServerConfig,
    endpoints: Vec<Endpoint>,
    routes: HashMap<String, u32>,
    listeners: Slab<ListenerEntry>,
    conns: Slab<Conn>,
    generation: u32,
    ready: Vec<usize>,
    /// Connections whose turn ended on `TURN_WORK`: read again in the next
    /// `poll` call, not the next round of this one (the others' turns and
    /// Python's events come first).
    later: Vec<usize>,
    dirty: Vec<usize>,
    dead: Vec<usize>,
    scratch: Vec<u8>,
    tokens: Vec<(Token, u8, bool)>,
    now: Instant,
    stats: ServerStats,
    /// Rooms, lobbies, Socket.IO: what hub connections sent is handled
    /// there, and it acts through `fanout::Wire`.
    hub: Hub,
    /// The frame being fanned out (reused).
    frame: Vec<u8>,
    /// Fan-out frames, shared by the connections they go to: one writer per
    /// kind of frame (plain or Socket.IO packet, uncompressed or deflated),
    /// so that each member's frames of a burst stay contiguous.
    shared: [ChunkWriter; 4],
    /// Compressors shared by every no-context-takeover connection.
    deflaters: Mutex<SharedDeflaters>,
    /// The first path of each endpoint (for admin listings).
    endpoint_paths: Vec<String>,
    /// Panics caught (connection, message), reported by the next `reap`.
    panics: Vec<(ConnId, String)>,
    /// Work done in the current connection's turn (see `conn::TURN_WORK`).
    work: AtomicUsize,
    /// A listener waits to retry `accept` (see `ACCEPT_BACKOFF`).
    accept_waits: bool,
    /// `accept` failures since it last worked (0: it works).
    accept_failed: u64,
    /// For the host to log (see `AcceptNotice`); at most two per episode.
    accept_notices: Vec<AcceptNotice>,
}

fn slot_of(id: ConnId) -> usize {
    (id & 0xffff_ffff) as usize
}

impl Server {
    pub fn new(cfg: ServerConfig) -> io::Result<Self> {
        let poll = Poll::new()?;
        let waker = Waker::new(poll.registry(), WAKER)?;
        let level = cfg.deflate.level;
        let hub = Hub::new(cfg.max_rooms_per_connection);
        Ok(Self {
            poll,
            events: Events::with_capacity(1024),
            waker,
            cfg,
            endpoints: Vec::new(),
            routes: HashMap::new(),
            listeners: Slab::new(),
            conns: Slab::new(),
            generation: 0,
            ready: Vec::new(),
            later: Vec::new(),
            dirty: Vec::new(),
            dead: Vec::new(),
            scratch: vec![0; SCRATCH],
            tokens: Vec::new(),
            now: Instant::now(),
            stats: ServerStats::default(),
            hub,
            frame: Vec::new(),
            shared: Default::default(),
            deflaters: Mutex::new(SharedDeflaters::new(level)),
            endpoint_paths: Vec::new(),
            panics: Vec::new(),
            work: AtomicUsize::new(0),
            accept_waits: false,
            accept_failed: 0,
            accept_notices: Vec::new(),
        })
    }

    pub fn config(&self) -> &ServerConfig {
        &self.cfg
    }

    /// Serve `ep` at each of `paths`; returns the endpoint's id.
    pub fn add_endpoint(&mut self, paths: &[String], ep: Endpoint) -> u32 {
        let id = self.endpoints.len() as u32;
        self.endpoints.push(ep);
        self.endpoint_paths
            .push(paths.first().cloned().unwrap_or_default());
        for p in paths {
            self.routes.insert(p.clone(), id);
        }
        id
    }

    /// The poller's file descriptor: readable when `poll` has work.
    pub fn fd(&self) -> RawFd {
        self.poll.as_raw_fd()
    }

    /// Do everything that is ready, without blocking. Returns true when work
    /// is left (call again soon).
    pub fn poll(&mut self, sink: &mut dyn FnMut(Event<'_>)) -> io::Result<bool> {
        self.now = Instant::now();
        if self.accept_waits {
            self.retry_accepts();
        }
        // Cork across rounds: while input keeps arriving (a publisher streaming
        // NOTIFYs), read it all before writing, so each member gets one write
        // per batch instead of one per read.
        for _ in 0..POLL_ROUNDS {
            self.poll.poll(&mut self.events, Some(Duration::ZERO))?;
            self.tokens.clear();
            for e in self.events.iter() {
                // (readable: 1 = new bytes only, 2 = also the end or an error)
                let readable = if e.is_read_closed() || e.is_error() {
                    2
                } else {
                    u8::from(e.is_readable())
                };
                self.tokens.push((e.token(), readable, e.is_writable()));
            }
            let ready = std::mem::take(&mut self.ready);
            if self.tokens.iter().all(|t| t.0 == WAKER) && ready.is_empty() {
                break;
            }
            for i in 0..self.tokens.len() {
                let (token, readable, writable) = self.tokens[i];
                if token == WAKER {
                    continue;
                }
                if token.0 >= LISTENER_BASE {
                    self.accept_from(token.0 - LISTENER_BASE);
                    continue;
                }
                let slot = token.0;
                if writable && self.conns.contains(slot) {
                    self.guard(slot, |s| s.flush_one(slot));
                }
                if readable > 0 {
                    // new bytes only: a short read means the socket is empty
                    self.guard(slot, |s| s.read(slot, readable == 1, sink));
                }
            }
            for slot in ready {
                self.guard(slot, |s| s.read(slot, false, sink));
            }
        }
        self.ready.append(&mut self.later);
        self.reap(sink);
        self.flush();
        self.reap(sink);
        Ok(!self.ready.is_empty())
    }

    /// Read what a connection has. `stop_short`: the wake-up was an
    /// edge-triggered event for new bytes (not the end of the stream), so a
    /// short read ends the loop without a last read that would return
    /// `WouldBlock` (a third of E2's system calls).
    fn read(&mut self, slot: usize, stop_short: bool, sink: &mut dyn FnMut(Event<'_>)) {
        let mut scratch = std::mem::take(&mut self.scratch);
        let ctx = ctx!(self);
        let Some(conn) = self.conns.get_mut(slot) else {
            self.scratch = scratch;
            return;
        };
        let mut budget = READ_BUDGET;
        ctx.work.store(0, Relaxed);
        loop {
            if conn.waits() {
                // Resumed (and read: the socket is edge-triggered) by
                // `flush_one`, `accept` or `consumed`.
                break;
            }
            if ctx.work.load(Relaxed) >= TURN_WORK {
                // Its turn is over; the others get theirs first.
                self.later.push(slot);
                break;
            }
            if conn.holds() {
                conn.feed_held(&ctx, sink);
                if conn.holds() && !conn.waits() && ctx.work.load(Relaxed) < TURN_WORK {
                    // (every stop has one of those reasons; never spin)
                    self.later.push(slot);
                    break;
                }
                continue;
            }
            match conn.transport.read(&mut scratch) {
                Ok((0, _)) => {
                    conn.on_eof(sink);
                    break;
                }
                Ok((n, short)) => {
                    conn.stats.bytes_in += n as u64;
                    conn.on_data(&mut scratch[..n], &ctx, sink);
                    if n >= budget {
                        self.ready.push(slot);
                        break;
                    }
                    if short && stop_short && !conn.holds() {
                        break;
                    }
                    budget -= n;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    log::debug!("read error on {}: {}", conn.id, e);
                    conn.on_eof(sink);
                    break;
                }
            }
        }
        self.scratch = scratch;
        let inbox = std::mem::take(&mut conn.inbox);
        if conn.state == State::Dead {
            self.dead.push(slot);
        } else if conn.dirty || conn.transport.is_tls() {
            // TLS may owe the peer handshake records even with nothing queued.
            self.dirty.push(slot);
        }
        if !inbox.is_empty() {
            self.hub.handle(slot, inbox, &mut wire!(self, sink));
        }
    }

    /// The one place a panic is caught. Handling one connection (reading
    /// and parsing its input and acting on it, writing its output, its
    /// timers, Python's accept and send) runs under `catch_unwind`: a panic
    /// there is a bug (nothing the network sends may cause one), and it
    /// costs that connection only. It is closed (1011 to the peer), Python
    /// hears `Event::Panic` (once) and then its `Close`, and the other
    /// connections and the events of this poll go on. `AssertUnwindSafe`:
    /// the connection that panicked is dropped; what it shares (rooms, the
    /// chunk writers, the shared compressors, which are reset when a panic
    /// poisoned their lock) is left consistent between statements, and the
    /// buffers a handler takes out of `self` are put back here. This needs
    /// `panic = "unwind"` (the workspace's profiles).
    fn guard<R>(&mut self, slot: usize, f: impl FnOnce(&mut Self) -> R) -> Option<R> {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(self))) {
            Ok(r) => Some(r),
            Err(payload) => {
                self.on_panic(slot, payload);
                None
            }
        }
    }

    fn on_panic(&mut self, slot: usize, payload: Box<dyn std::any::Any + Send>) {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".to_string());
        self.stats.panics += 1;
        // `read` had the scratch buffer out when it panicked.
        if self.scratch.len() != SCRATCH {
            self.scratch = vec![0; SCRATCH];
        }
        if let Some(conn) = self.conns.get_mut(slot) {
            log::error!("connection {} closed after a panic: {message}", conn.id);
            self.panics.push((conn.id, message));
            conn.on_panic();
            self.dead.push(slot);
        }
        let _ = self.waker.wake();
    }

    /// Write every connection's queued bytes, one `writev` each.
    pub fn flush(&mut self) {
        self.now = Instant::now();
        let mut dirty = std::mem::take(&mut self.dirty);
        dirty.sort_unstable();
        dirty.dedup();
        for &slot in &dirty {
            self.guard(slot, |s| s.flush_one(slot));
        }
        dirty.clear();
        if self.dirty.is_empty() {
            self.dirty = dirty;
        }
        if !self.dead.is_empty() || !self.ready.is_empty() {
            let _ = self.waker.wake();
        }
    }

    fn flush_one(&mut self, slot: usize) {
        let ctx = ctx!(self);
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        if conn.state == State::Dead {
            return;
        }
        let was_paused = conn.paused;
        match conn.flush(&ctx) {
            Ok(done) => {
                let want_write = !done;
                if want_write != conn.writable_armed {
                    let interest = if want_write {
                        Interest::READABLE | Interest::WRITABLE
                    } else {
                        Interest::READABLE
                    };
                    let _ = self.poll.registry().reregister(
                        conn.transport.socket_mut(),
                        Token(slot),
                        interest,
                    );
                    conn.writable_armed = want_write;
                }
                if was_paused && !conn.paused {
                    // Edge-triggered: read what arrived while paused.
                    self.ready.push(slot);
                }
            }
            Err(e) => {
                log::debug!("write error on {}: {}", conn.id, e);
                conn.state = State::Dead;
                self.dead.push(slot);
            }
        }
    }

    fn reap(&mut self, sink: &mut dyn FnMut(Event<'_>)) {
        for (conn, message) in std::mem::take(&mut self.panics) {
            sink(Event::Panic {
                conn,
                message: &message,
            });
        }
        while let Some(slot) = self.dead.pop() {
            if self.conns.get(slot).map(|c| c.state == State::Dead) != Some(true) {
                continue;
            }
            // Remaining lobby members hear LEFT (the socket is already
            // closed); the host hears of the rooms it left (backplane).
            self.hub.disconnect(slot, &mut wire!(self, sink));
            let mut conn = self.conns.remove(slot);
            if !conn.out.is_empty() {
                // Best effort: what was queued before the end (the echo of a
                // last frame, events) still goes if the socket takes it (a
                // peer that half-closed can still read).
                let ctx = ctx!(self);
                let _ = conn.flush(&ctx);
            }
            // Closed connections' counts stay in the totals.
            self.stats.bytes_in += conn.stats.bytes_in;
            self.stats.bytes_out += conn.stats.bytes_out;
            self.stats.messages_in += conn.stats.msgs_in;
            self.stats.messages_out += conn.stats.msgs_out;
            if conn.panicked {
                conn.report_close(crate::wire::close::SERVER_ERROR, "internal error", sink);
            } else {
                conn.report_close(1006, "", sink);
            }
            let _ = self.poll.registry().deregister(conn.transport.socket_mut());
        }
    }

    /// Timers: deadlines, idle timeouts, pings. Call about once a second.
    pub fn tick(&mut self, sink: &mut dyn FnMut(Event<'_>)) {
        self.now = Instant::now();
        if self.accept_waits {
            self.retry_accepts();
        }
        let slots: Vec<usize> = self.conns.iter().map(|(slot, _)| slot).collect();
        for slot in slots {
            self.guard(slot, |s| s.tick_one(slot, sink));
        }
        self.reap(sink);
        self.flush();
    }

    fn tick_one(&mut self, slot: usize, sink: &mut dyn FnMut(Event<'_>)) {
        let ctx = ctx!(self);
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        if conn.deadline.is_some_and(|d| ctx.now >= d) {
            if conn.state == State::Closing {
                conn.report_close(1006, "", sink);
            }
            conn.state = State::Dead;
            self.dead.push(slot);
            return;
        }
        if conn.state != State::Open {
            return;
        }
        let ep = ctx.endpoints.get(conn.endpoint as usize);
        let idle = ep
            .and_then(|e| e.idle_timeout)
            .or(conn.idle_timeout)
            .or(ctx.cfg.idle_timeout)
            .filter(|d| !d.is_zero());
        if let Some(idle) = idle.filter(|_| !conn.py_blocked) {
            // (a connection waiting for Python is not idle)
            if ctx.now.duration_since(conn.last_seen) >= idle {
                conn.close(crate::wire::close::GOING_AWAY, "idle timeout", &ctx);
                self.dirty.push(slot);
                return;
            }
        }
        let every = ep
            .and_then(|e| e.ping_interval)
            .or(ctx.cfg.ping_interval)
            .filter(|d| !d.is_zero());
        if let Some(every) = every {
            if ctx.now.duration_since(conn.last_ping) >= every {
                conn.ping(&ctx);
                self.dirty.push(slot);
            }
        }
    }

    /// Stop listening and close every connection (WebSockets with `code`).
    pub fn shutdown(&mut self, code: u16, reason: &str) {
        for (_, l) in self.listeners.iter_mut() {
            if let Some(mut s) = l.sock.take() {
                let _ = self.poll.registry().deregister(&mut s);
            }
        }
        let ctx = ctx!(self);
        for (slot, conn) in self.conns.iter_mut() {
            conn.close(code, reason, &ctx);
            if conn.state == State::Dead {
                self.dead.push(slot);
            } else {
                self.dirty.push(slot);
            }
        }
        self.flush();
    }
}

#[cfg(test)]
mod tests;
