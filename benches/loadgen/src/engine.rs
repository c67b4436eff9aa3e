//! The event loop shared by every scenario: a slab of client connections
//! on one edge-triggered epoll, each going connect -> upgrade -> open ->
//! closing -> dead. Scenarios see `Event`s and act through `Engine`
//! methods (open, send, close). Writes are queued and flushed once per loop
//! iteration, so several frames for one connection leave in one send().

use std::io::{Read, Write};
use std::net::SocketAddrV4;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::sys::{self, Fd, Io};
use crate::ws::{self, Decoder, DecodeError};

pub type Id = usize;

/// How many bytes of a data message's payload are kept for the scenario
/// (the rooms scenarios read a sequence number at offset ~60 of an EVENT).
pub const MSG_PREFIX: usize = 80;

#[derive(Clone, Copy)]
#[allow(dead_code)]
pub struct Msg {
    pub opcode: u8,
    pub len: u64,
    pub prefix: [u8; MSG_PREFIX],
    pub prefix_len: u8,
    /// the first frame had RSV1 set (permessage-deflate)
    pub compressed: bool,
}

impl Msg {
    #[allow(dead_code)]
    pub fn prefix(&self) -> &[u8] {
        &self.prefix[..self.prefix_len as usize]
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// TCP connect failed (refused, reset, timeout)
    ConnectFailed,
    /// the server did not answer 101 with the right accept key
    HandshakeFailed,
    /// read() returned 0
    Eof,
    /// a read or write error after the connect (e.g. ECONNRESET)
    IoError,
    /// the server sent an invalid frame
    ProtocolError,
    /// the scenario (or the engine's shutdown) closed it
    Closed,
}

#[allow(dead_code)]
pub enum Event {
    /// upgrade done: the connection can send and receive frames
    Open(Id),
    /// one whole data message (all its fragments) arrived
    Message(Id, Msg),
    /// the server's close frame arrived (the engine already answered it if
    /// we had not sent one)
    Close(Id, u16),
    /// the connection is gone and its fd closed; sent exactly once per Id
    /// returned by `open`
    Ended(Id, End),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Connecting,
    Handshaking,
    Open,
    Dead,
}

struct Conn {
    fd: Fd,
    state: State,
    hs: Vec<u8>,
    dec: Decoder,
    wbuf: Vec<u8>,
    woff: usize,
    dirty: bool,
    close_sent: bool,
    close_received: bool,
    /// reads suspended (a slow consumer): readiness is ignored until resume
    paused: bool,
    frag_opcode: u8,
    frag_len: u64,
    frag_prefix: [u8; MSG_PREFIX],
    frag_prefix_len: u8,
    frag_rsv1: bool,
    /// wss: the TLS session (plaintext goes through it)
    tls: Option<Box<rustls::ClientConnection>>,
    /// permessage-deflate accepted by the server
    deflate: bool,
}

#[derive(Default, Clone, Debug)]
pub struct Stats {
    pub opened: u64,
    pub connect_errors: u64,
    pub handshake_errors: u64,
    pub io_errors: u64,
    pub protocol_errors: u64,
    /// EOF before any close frame was exchanged
    pub early_eof: u64,
    pub last_error: String,
    // syscall counters, for --debug
    pub waits: u64,
    pub ready: u64,
    pub reads: u64,
    pub writes: u64,
    /// bytes read from / written to the sockets (TLS records included)
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// upgrades whose response accepted permessage-deflate
    pub deflate_accepted: u64,
}

impl Stats {
    pub fn errors(&self) -> u64 {
        self.connect_errors + self.handshake_errors + self.io_errors + self.protocol_errors + self.early_eof
    }
}

pub trait Scenario {
    /// Called every loop iteration (at least every few ms). Returns false
    /// to stop the loop.
    fn tick(&mut self, eng: &mut Engine, now: Instant) -> bool;
    fn on_event(&mut self, eng: &mut Engine, ev: Event);
}

pub struct Engine {
    ep: sys::Epoll,
    addr: SocketAddrV4,
    request: Vec<u8>,
    conns: Vec<Conn>,
    free: Vec<Id>,
    dead: Vec<Id>,
    dirty: Vec<Id>,
    events: Vec<Event>,
    rbuf: Vec<u8>,
    /// TLS plaintext
    pbuf: Vec<u8>,
    tls: Option<(Arc<rustls::ClientConfig>, rustls::pki_types::ServerName<'static>)>,
    deflate_offer: bool,
    data_capture: usize,
    live: usize,
    pub stats: Stats,
}

const READ_BUF: usize = 256 * 1024;

impl Engine {
    pub fn new(url: &ws::Url) -> std::io::Result<Engine> {
        sys::raise_nofile();
        let tls = if url.tls {
            let name = rustls::pki_types::ServerName::try_from(url.host.clone())
                .map_err(|e| std::io::Error::other(format!("TLS server name: {e}")))?;
            Some((crate::tls::client_config(), name))
        } else {
            None
        };
        Ok(Engine {
            ep: sys::Epoll::new()?,
            addr: url.addr,
            request: ws::upgrade_request(url, false),
            pbuf: if tls.is_some() { vec![0u8; READ_BUF] } else { Vec::new() },
            tls,
            deflate_offer: false,
            conns: Vec::new(),
            free: Vec::new(),
            dead: Vec::new(),
            dirty: Vec::new(),
            events: Vec::with_capacity(1024),
            rbuf: vec![0u8; READ_BUF],
            data_capture: MSG_PREFIX,
            live: 0,
            stats: Stats::default(),
        })
    }

    /// Offer permessage-deflate in every upgrade from now on.
    pub fn offer_deflate(&mut self, url: &ws::Url) {
        self.deflate_offer = true;
        self.request = ws::upgrade_request(url, true);
    }

    /// Whether the server accepted permessage-deflate on this connection.
    pub fn deflate(&self, id: Id) -> bool {
        self.conns.get(id).map_or(false, |c| c.deflate)
    }

    /// Connections not yet Ended.
    pub fn live(&self) -> usize {
        self.live
    }

    #[allow(dead_code)]
    pub fn is_open(&self, id: Id) -> bool {
        self.conns.get(id).map_or(false, |c| c.state == State::Open && !c.close_sent)
    }

    fn note_error(&mut self, what: &str, e: &dyn std::fmt::Display) {
        if self.stats.last_error.is_empty() {
            self.stats.last_error = format!("{what}: {e}");
        }
    }

    /// Starts a new connection (connect + upgrade). Returns None when the
    /// connect fails at once (counted in stats.connect_errors).
    pub fn open(&mut self) -> Option<Id> {
        self.open_with(None)
    }

    /// `open` with SO_RCVBUF set to `rcvbuf` bytes before the connect (the
    /// kernel doubles it), for slow consumers whose window must close fast.
    pub fn open_with(&mut self, rcvbuf: Option<i32>) -> Option<Id> {
        let (fd, progress) = match sys::tcp_connect(&self.addr, rcvbuf) {
            Ok(x) => x,
            Err(e) => {
                self.stats.connect_errors += 1;
                self.note_error("connect", &e);
                return None;
            }
        };
        let conn = Conn {
            fd,
            state: State::Connecting,
            hs: Vec::new(),
            dec: Decoder::new(self.data_capture),
            wbuf: Vec::new(),
            woff: 0,
            dirty: false,
            close_sent: false,
            close_received: false,
            paused: false,
            frag_opcode: 0,
            frag_len: 0,
            frag_prefix: [0; MSG_PREFIX],
            frag_prefix_len: 0,
            frag_rsv1: false,
            tls: match &self.tls {
                Some((cfg, name)) => match rustls::ClientConnection::new(cfg.clone(), name.clone()) {
                    Ok(t) => Some(Box::new(t)),
                    Err(e) => {
                        sys::close(fd);
                        self.stats.connect_errors += 1;
                        self.note_error("tls", &e);
                        return None;
                    }
                },
                None => None,
            },
            deflate: false,
        };
        let id = match self.free.pop() {
            Some(id) => {
                self.conns[id] = conn;
                id
            }
            None => {
                self.conns.push(conn);
                self.conns.len() - 1
            }
        };
        self.live += 1;
        if let Err(e) = self.ep.add(fd, id as u64) {
            self.stats.connect_errors += 1;
            self.note_error("epoll_ctl", &e);
            self.kill(id, End::ConnectFailed);
            return None;
        }
        if let sys::Connect::Done = progress {
            self.connected(id);
        }
        Some(id)
    }

    fn connected(&mut self, id: Id) {
        let c = &mut self.conns[id];
        c.state = State::Handshaking;
        c.wbuf.extend_from_slice(&self.request);
        if !c.dirty {
            c.dirty = true;
            self.dirty.push(id);
        }
    }

    /// Closes the fd now and reports Ended(id, end) once.
    fn kill(&mut self, id: Id, end: End) {
        let c = &mut self.conns[id];
        if c.state == State::Dead {
            return;
        }
        sys::close(c.fd);
        c.state = State::Dead;
        c.wbuf = Vec::new();
        c.hs = Vec::new();
        self.live -= 1;
        self.events.push(Event::Ended(id, end));
        self.dead.push(id);
    }

    /// Closes the connection at once (no close handshake).
    pub fn close(&mut self, id: Id) {
        self.kill(id, End::Closed);
    }

    /// Stops reading the connection (data piles up in the kernel, then the
    /// TCP window closes): a consumer that does not read.
    #[allow(dead_code)]
    pub fn pause(&mut self, id: Id) {
        if let Some(c) = self.conns.get_mut(id) {
            c.paused = true;
        }
    }

    /// Reads again, at once (edge-triggered: no new edge may come for data
    /// that is already waiting). Events go out with the next dispatch.
    #[allow(dead_code)]
    pub fn resume(&mut self, id: Id) {
        let Some(c) = self.conns.get_mut(id) else { return };
        if !c.paused {
            return;
        }
        c.paused = false;
        if c.state == State::Open {
            self.on_ready(id, (libc::EPOLLIN | libc::EPOLLRDHUP) as u32);
        }
    }

    /// Queues raw bytes (already framed) for the connection.
    #[inline]
    pub fn send_raw(&mut self, id: Id, bytes: &[u8]) {
        let c = &mut self.conns[id];
        if c.state == State::Dead {
            return;
        }
        c.wbuf.extend_from_slice(bytes);
        if !c.dirty {
            c.dirty = true;
            self.dirty.push(id);
        }
    }

    /// Queues one frame (masked with a zero key).
    #[allow(dead_code)]
    pub fn send_frame(&mut self, id: Id, opcode: u8, payload: &[u8]) {
        let c = &mut self.conns[id];
        if c.state == State::Dead {
            return;
        }
        ws::encode_frame(&mut c.wbuf, opcode, payload);
        if !c.dirty {
            c.dirty = true;
            self.dirty.push(id);
        }
    }

    /// Starts the close handshake (close frame 1000) if not started.
    pub fn send_close(&mut self, id: Id) {
        let c = &mut self.conns[id];
        if c.state == State::Dead || c.close_sent {
            return;
        }
        c.close_sent = true;
        ws::encode_close(&mut c.wbuf, 1000);
        if !c.dirty {
            c.dirty = true;
            self.dirty.push(id);
        }
    }

    fn flush(&mut self) {
        let mut i = 0;
        while i < self.dirty.len() {
            let id = self.dirty[i];
            i += 1;
            let c = &mut self.conns[id];
            c.dirty = false;
            if c.state == State::Dead || c.state == State::Connecting {
                continue;
            }
            if let Some(tls) = c.tls.as_mut() {
                let fd = c.fd;
                let mut failed = None;
                loop {
                    if c.woff < c.wbuf.len() {
                        let n = tls.writer().write(&c.wbuf[c.woff..]).unwrap_or(0);
                        c.woff += n;
                        if c.woff >= c.wbuf.len() {
                            c.wbuf.clear();
                            c.woff = 0;
                        }
                    }
                    if !tls.wants_write() {
                        break;
                    }
                    self.stats.writes += 1;
                    let mut w = crate::tls::FdIo { fd, bytes: &mut self.stats.bytes_out };
                    match tls.write_tls(&mut w) {
                        Ok(0) => break,
                        Ok(_) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                        Err(e) => {
                            failed = Some(e);
                            break;
                        }
                    }
                }
                if let Some(e) = failed {
                    self.stats.io_errors += 1;
                    self.note_error("write", &e);
                    self.kill(id, End::IoError);
                }
                continue;
            }
            if c.woff >= c.wbuf.len() {
                continue;
            }
            loop {
                self.stats.writes += 1;
                match sys::write(c.fd, &c.wbuf[c.woff..]) {
                    Io::Bytes(n) => {
                        self.stats.bytes_out += n as u64;
                        c.woff += n;
                        if c.woff >= c.wbuf.len() {
                            c.wbuf.clear();
                            c.woff = 0;
                            break;
                        }
                    }
                    // EPOLLOUT's edge will call flush again.
                    Io::WouldBlock | Io::Eof => break,
                    Io::Err(e) => {
                        self.stats.io_errors += 1;
                        self.note_error("write", &e);
                        self.kill(id, End::IoError);
                        break;
                    }
                }
            }
        }
        self.dirty.clear();
    }

    fn on_ready(&mut self, id: Id, flags: u32) {
        let err = flags & (libc::EPOLLERR | libc::EPOLLHUP) as u32 != 0;
        let st = self.conns[id].state;
        if st == State::Dead {
            return;
        }
        if st == State::Connecting {
            if err {
                let e = sys::socket_error(self.conns[id].fd)
                    .unwrap_or_else(|| std::io::Error::other("connection failed"));
                self.stats.connect_errors += 1;
                self.note_error("connect", &e);
                self.kill(id, End::ConnectFailed);
                return;
            }
            if flags & libc::EPOLLOUT as u32 != 0 {
                self.connected(id);
            }
            return;
        }
        if flags & libc::EPOLLOUT as u32 != 0 {
            let c = &mut self.conns[id];
            let tls_pending = c.tls.as_ref().map_or(false, |t| t.wants_write());
            if (c.woff < c.wbuf.len() || tls_pending) && !c.dirty {
                c.dirty = true;
                self.dirty.push(id);
            }
        }
        if flags & (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as u32 == 0 {
            return;
        }
        if self.conns[id].paused && self.conns[id].state == State::Open {
            return;
        }
        let hup = flags & (libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as u32 != 0;
        let mut rbuf = std::mem::take(&mut self.rbuf);
        loop {
            let fd = self.conns[id].fd;
            self.stats.reads += 1;
            match sys::read(fd, &mut rbuf) {
                Io::Bytes(n) => {
                    self.stats.bytes_in += n as u64;
                    if self.conns[id].tls.is_some() {
                        self.on_tls_data(id, &rbuf[..n]);
                    } else {
                        self.on_data(id, &rbuf[..n]);
                    }
                    if self.conns[id].state == State::Dead {
                        break;
                    }
                    // Edge-triggered: a short read drained the socket,
                    // unless the peer also hung up (then read on to EOF).
                    if n < rbuf.len() && !hup {
                        break;
                    }
                }
                Io::WouldBlock => break,
                Io::Eof => {
                    let c = &self.conns[id];
                    if !(c.close_received || c.close_sent) {
                        if c.state == State::Handshaking {
                            self.stats.handshake_errors += 1;
                            self.note_error("handshake", &"EOF before 101");
                        } else {
                            self.stats.early_eof += 1;
                            self.note_error("read", &"EOF without close frame");
                        }
                    }
                    self.kill(id, End::Eof);
                    break;
                }
                Io::Err(e) => {
                    let c = &self.conns[id];
                    // A reset after the close handshake is not an error.
                    if !(c.close_received && c.close_sent) {
                        self.stats.io_errors += 1;
                        self.note_error("read", &e);
                    }
                    self.kill(id, End::IoError);
                    break;
                }
            }
        }
        self.rbuf = rbuf;
    }

    /// Feeds TLS records to the session, passes the plaintext on, and
    /// schedules a flush when the session has records to send.
    fn on_tls_data(&mut self, id: Id, mut data: &[u8]) {
        let mut pbuf = std::mem::take(&mut self.pbuf);
        while !data.is_empty() {
            let c = &mut self.conns[id];
            let Some(tls) = c.tls.as_mut() else { break };
            let res = tls.read_tls(&mut data).map_err(|e| e.to_string()).and_then(|n| {
                tls.process_new_packets().map(|_| n).map_err(|e| e.to_string())
            });
            let n = match res {
                Ok(n) => n,
                Err(e) => {
                    self.stats.protocol_errors += 1;
                    self.note_error("tls", &e);
                    self.kill(id, End::ProtocolError);
                    break;
                }
            };
            loop {
                let c = &mut self.conns[id];
                if c.state == State::Dead {
                    break;
                }
                let Some(tls) = c.tls.as_mut() else { break };
                match tls.reader().read(&mut pbuf) {
                    Ok(0) | Err(_) => break,
                    Ok(m) => self.on_data(id, &pbuf[..m]),
                }
            }
            let c = &mut self.conns[id];
            if c.state == State::Dead {
                break;
            }
            if c.tls.as_ref().map_or(false, |t| t.wants_write()) && !c.dirty {
                c.dirty = true;
                self.dirty.push(id);
            }
            if n == 0 {
                break;
            }
        }
        self.pbuf = pbuf;
    }

    fn on_data(&mut self, id: Id, data: &[u8]) {
        if self.conns[id].state != State::Handshaking {
            self.on_frames(id, data);
            return;
        }
        let c = &mut self.conns[id];
        let before = c.hs.len();
        c.hs.extend_from_slice(data);
        match ws::check_response(&c.hs, before) {
            Ok(None) => {}
            Ok(Some(end)) => {
                if self.deflate_offer && ws::accepts_deflate(&c.hs[..end]) {
                    c.deflate = true;
                    c.dec.allow_rsv1 = true;
                    self.stats.deflate_accepted += 1;
                }
                let mut rest = std::mem::take(&mut c.hs);
                rest.drain(..end);
                c.state = State::Open;
                self.stats.opened += 1;
                self.events.push(Event::Open(id));
                if !rest.is_empty() {
                    self.on_frames(id, &rest);
                }
            }
            Err(e) => {
                self.stats.handshake_errors += 1;
                self.note_error("handshake", &e);
                self.kill(id, End::HandshakeFailed);
            }
        }
    }

    fn on_frames(&mut self, id: Id, data: &[u8]) {
        let Engine { conns, events, dirty, .. } = self;
        let c = &mut conns[id];
        let mut protocol_error: Option<&'static str> = None;
        let res = c.dec.feed(data, |f| {
            match f.opcode {
                ws::OP_TEXT | ws::OP_BINARY | ws::OP_CONT => {
                    if f.opcode != ws::OP_CONT {
                        c.frag_opcode = f.opcode;
                        c.frag_rsv1 = f.rsv1;
                        c.frag_len = 0;
                        let n = f.prefix.len().min(MSG_PREFIX);
                        c.frag_prefix[..n].copy_from_slice(&f.prefix[..n]);
                        c.frag_prefix_len = n as u8;
                    }
                    c.frag_len += f.len;
                    if f.fin {
                        events.push(Event::Message(
                            id,
                            Msg {
                                opcode: c.frag_opcode,
                                len: c.frag_len,
                                prefix: c.frag_prefix,
                                prefix_len: c.frag_prefix_len,
                                compressed: c.frag_rsv1,
                            },
                        ));
                    }
                }
                ws::OP_PING => {
                    if !c.close_sent {
                        ws::encode_frame(&mut c.wbuf, ws::OP_PONG, f.prefix);
                        if !c.dirty {
                            c.dirty = true;
                            dirty.push(id);
                        }
                    }
                }
                ws::OP_PONG => {}
                ws::OP_CLOSE => {
                    let code = if f.prefix.len() >= 2 {
                        u16::from_be_bytes([f.prefix[0], f.prefix[1]])
                    } else {
                        1005
                    };
                    c.close_received = true;
                    if !c.close_sent {
                        c.close_sent = true;
                        let reply = if code == 1005 { 1000 } else { code };
                        ws::encode_close(&mut c.wbuf, reply);
                        if !c.dirty {
                            c.dirty = true;
                            dirty.push(id);
                        }
                    }
                    events.push(Event::Close(id, code));
                }
                _ => protocol_error = Some("unknown opcode"),
            }
        });
        if let Err(DecodeError::Protocol(m)) = res {
            protocol_error = Some(m);
        }
        if let Some(m) = protocol_error {
            self.stats.protocol_errors += 1;
            self.note_error("protocol", &m);
            self.kill(id, End::ProtocolError);
        }
    }

    /// Runs the loop until the scenario's tick returns false or
    /// `hard_deadline` passes (then returns false).
    pub fn run<S: Scenario>(&mut self, sc: &mut S, hard_deadline: Instant) -> bool {
        let mut evbuf = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
        loop {
            let now = Instant::now();
            if now >= hard_deadline {
                return false;
            }
            if !sc.tick(self, now) {
                return true;
            }
            self.dispatch(sc);
            let n = match self.ep.wait(&mut evbuf, 5) {
                Ok(n) => n,
                Err(e) => {
                    self.note_error("epoll_wait", &e);
                    return false;
                }
            };
            self.stats.waits += 1;
            self.stats.ready += n as u64;
            for ev in &evbuf[..n] {
                let (id, flags) = (ev.u64 as Id, ev.events);
                self.on_ready(id, flags);
            }
            self.dispatch(sc);
        }
    }

    /// Delivers queued events and flushes writes until both are empty,
    /// then recycles the slots of dead connections.
    fn dispatch<S: Scenario>(&mut self, sc: &mut S) {
        loop {
            let mut events = std::mem::take(&mut self.events);
            for ev in events.drain(..) {
                sc.on_event(self, ev);
            }
            if self.events.is_empty() {
                self.events = events; // keep the capacity
            }
            self.flush();
            if self.events.is_empty() && self.dirty.is_empty() {
                break;
            }
        }
        self.free.append(&mut self.dead);
    }

    /// Sends a close frame on every open connection, waits up to `grace`
    /// for the servers' answers, then closes whatever is left.
    pub fn shutdown(&mut self, grace: Duration) {
        struct Drain {
            until: Instant,
        }
        impl Scenario for Drain {
            fn tick(&mut self, eng: &mut Engine, now: Instant) -> bool {
                eng.live() > 0 && now < self.until
            }
            fn on_event(&mut self, eng: &mut Engine, ev: Event) {
                if let Event::Close(id, _) = ev {
                    eng.close(id);
                }
            }
        }
        for id in 0..self.conns.len() {
            match self.conns[id].state {
                State::Open => self.send_close(id),
                State::Connecting | State::Handshaking => self.kill(id, End::Closed),
                State::Dead => {}
            }
        }
        let until = Instant::now() + grace;
        let mut d = Drain { until };
        self.run(&mut d, until + Duration::from_millis(10));
        for id in 0..self.conns.len() {
            self.kill(id, End::Closed);
        }
        self.events.clear();
        self.free.append(&mut self.dead);
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        for c in &self.conns {
            if c.state != State::Dead {
                sys::close(c.fd);
            }
        }
    }
}
