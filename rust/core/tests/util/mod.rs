//! Helpers for the integration tests: a `Server` polled on its own thread,
//! and a blocking WebSocket client over a plain `std::net::TcpStream`.
//!
//! The client has its own small frame codec rather than the crate's `wire`
//! module, so that a bug shared by the server's encoder and decoder cannot
//! hide itself. Every wait is bounded: reads have a timeout, and every
//! loop has a deadline.

// Each test file is its own crate and uses only some of these helpers.
#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use scanbridge_core::io::event::ConnId;
use scanbridge_core::io::{Endpoint, Event, Kind, Server, ServerConfig};
use serde_json::Value;

/// How long any one wait may take before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// An endpoint of `kind` whose rooms live in `namespace`.
pub fn endpoint(kind: Kind, namespace: &str) -> Endpoint {
    Endpoint {
        namespace: namespace.to_string(),
        ..Endpoint::new(kind)
    }
}

/// Check `done` every few milliseconds until it holds; fail the test if it
/// does not within `TIMEOUT`.
pub fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// What the server reported to its host, owned (events borrow the server).
#[derive(Debug, Clone, PartialEq)]
pub enum Ev {
    Open {
        conn: ConnId,
        endpoint: u32,
        path: String,
    },
    Text {
        conn: ConnId,
        data: String,
    },
    Binary {
        conn: ConnId,
        data: Vec<u8>,
    },
    Close {
        conn: ConnId,
        code: u16,
        reason: String,
    },
    /// Any other event, as its `Debug` text.
    Other(String),
}

impl Ev {
    fn own(e: Event<'_>) -> Self {
        match e {
            Event::Open {
                conn,
                endpoint,
                req,
                ..
            } => Ev::Open {
                conn,
                endpoint,
                path: req.path.clone(),
            },
            Event::Text { conn, data } => Ev::Text {
                conn,
                data: data.to_string(),
            },
            Event::Binary { conn, data } => Ev::Binary {
                conn,
                data: data.to_vec(),
            },
            Event::Close { conn, code, reason } => Ev::Close {
                conn,
                code,
                reason: reason.to_string(),
            },
            other => Ev::Other(format!("{other:?}")),
        }
    }
}

type Cmd = Box<dyn FnOnce(&mut Server) + Send>;

/// A `Server` listening on 127.0.0.1 (port 0), polled by its own thread the
/// way the Python binding drives it: `poll`, then `tick` now and then; the
/// host's calls (`send`, `close`, `join`, ...) run on that thread between
/// polls (`with`), and its events come out of `next_event`.
pub struct TestServer {
    pub addr: SocketAddr,
    events: Receiver<Ev>,
    cmds: Sender<Cmd>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Serve each `(path, endpoint)` with the default configuration.
    pub fn start(endpoints: &[(&str, Endpoint)]) -> Self {
        Self::start_with(ServerConfig::default(), endpoints)
    }

    pub fn start_with(cfg: ServerConfig, endpoints: &[(&str, Endpoint)]) -> Self {
        let endpoints: Vec<(String, Endpoint)> = endpoints
            .iter()
            .map(|(p, e)| (p.to_string(), e.clone()))
            .collect();
        let (ev_tx, events) = mpsc::channel();
        let (cmds, cmd_rx) = mpsc::channel::<Cmd>();
        let (addr_tx, addr_rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        // The server is made on its thread and never leaves it.
        let thread = std::thread::spawn(move || {
            let mut server = Server::new(cfg).expect("Server::new");
            for (path, ep) in endpoints {
                server.add_endpoint(&[path], ep);
            }
            let (_, addr) = server
                .listen("127.0.0.1:0".parse().unwrap(), None, Default::default())
                .expect("listen");
            addr_tx.send(addr).unwrap();
            poll_loop(&mut server, &ev_tx, &cmd_rx, &stopped);
        });
        let addr = addr_rx
            .recv_timeout(TIMEOUT)
            .expect("the server thread did not start");
        TestServer {
            addr,
            events,
            cmds,
            stop,
            thread: Some(thread),
        }
    }

    /// Run `f` on the server's thread between two polls; its queued output
    /// is flushed right after.
    pub fn with<R: Send + 'static>(&self, f: impl FnOnce(&mut Server) -> R + Send + 'static) -> R {
        let (tx, rx) = mpsc::channel();
        self.cmds
            .send(Box::new(move |s: &mut Server| {
                let _ = tx.send(f(s));
            }))
            .expect("the server thread is gone");
        rx.recv_timeout(TIMEOUT)
            .expect("the server thread did not answer")
    }

    /// The next event the server reported (bounded wait).
    pub fn next_event(&self) -> Ev {
        match self.events.recv_timeout(TIMEOUT) {
            Ok(e) => e,
            Err(RecvTimeoutError::Timeout) => panic!("no event within {TIMEOUT:?}"),
            Err(RecvTimeoutError::Disconnected) => panic!("the server thread ended"),
        }
    }

    /// Skip events until one matches `want` (bounded wait).
    pub fn wait_event(&self, what: &str, mut want: impl FnMut(&Ev) -> bool) -> Ev {
        let deadline = Instant::now() + TIMEOUT;
        let mut skipped = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(e) if want(&e) => return e,
                Ok(e) => skipped.push(e),
                Err(_) => panic!("timed out waiting for {what}; got {skipped:?}"),
            }
        }
    }

    /// Events already reported, without waiting.
    pub fn pending_events(&self) -> Vec<Ev> {
        self.events.try_iter().collect()
    }

    /// A WebSocket client connected to `path_and_query`.
    pub fn client(&self, path_and_query: &str) -> Client {
        Client::connect(self.addr, path_and_query)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let r = t.join();
            if r.is_err() && !std::thread::panicking() {
                panic!("the server thread panicked");
            }
        }
    }
}

fn poll_loop(server: &mut Server, events: &Sender<Ev>, cmds: &Receiver<Cmd>, stop: &AtomicBool) {
    let mut sink = |e: Event<'_>| {
        let _ = events.send(Ev::own(e));
    };
    let mut last_tick = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let mut busy = false;
        while let Ok(cmd) = cmds.try_recv() {
            cmd(server);
            server.flush();
            busy = true;
        }
        busy |= server.poll(&mut sink).expect("poll");
        if last_tick.elapsed() >= Duration::from_millis(100) {
            // Close deadlines (and idle timeouts, pings) run on ticks.
            server.tick(&mut sink);
            last_tick = Instant::now();
        }
        if !busy {
            // Not a busy loop: the host waits on `fd()`; a short nap is
            // enough here and keeps command latency low.
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

pub const OP_CONT: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

/// The RFC 6455 section 1.3 example key and the accept value it must get.
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// One frame from the server.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub fin: bool,
    pub rsv: u8,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

/// One message from the server: data messages reassembled from their
/// fragments; control frames as they came.
#[derive(Debug, Clone, PartialEq)]
pub enum Msg {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    /// `None`: a close frame without a status code.
    Close(Option<u16>, String),
}

/// A blocking WebSocket client. Reads time out after `TIMEOUT`, so a
/// missing reply fails the test instead of hanging it.
pub struct Client {
    stream: TcpStream,
    /// Bytes read and not parsed yet.
    buf: Vec<u8>,
    /// Varies the masking key from frame to frame.
    frames_sent: u32,
}

impl Client {
    /// Connect and complete the opening handshake (checks the 101 and the
    /// accept value).
    pub fn connect(addr: SocketAddr, path_and_query: &str) -> Client {
        let (c, head) = Self::upgrade(addr, path_and_query, "");
        assert!(head.starts_with("HTTP/1.1 101"), "not upgraded: {head:?}");
        let accept = header(&head, "sec-websocket-accept");
        assert_eq!(accept.as_deref(), Some(ACCEPT), "{head}");
        c
    }

    /// Send an upgrade request (with `extra_headers`, each ending in CRLF)
    /// and return the client and the response head, whatever its status.
    pub fn upgrade(
        addr: SocketAddr,
        path_and_query: &str,
        extra_headers: &str,
    ) -> (Client, String) {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        let mut c = Client {
            stream,
            buf: Vec::new(),
            frames_sent: 0,
        };
        let req = format!(
            "GET {path_and_query} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\
             {extra_headers}\r\n"
        );
        c.stream.write_all(req.as_bytes()).expect("write request");
        let end = loop {
            if let Some(i) = c.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            assert!(c.fill(), "connection ended before the response head");
        };
        let head = String::from_utf8(c.buf.drain(..end).collect()).expect("ASCII head");
        (c, head)
    }

    /// Read more bytes into `buf`; false at the end of the stream. A read
    /// that times out fails the test.
    fn fill(&mut self) -> bool {
        let mut b = [0u8; 16 * 1024];
        loop {
            match self.stream.read(&mut b) {
                Ok(0) => return false,
                Ok(n) => {
                    self.buf.extend_from_slice(&b[..n]);
                    return true;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    panic!("nothing from the server within {TIMEOUT:?}")
                }
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return false,
                Err(e) => panic!("read: {e}"),
            }
        }
    }

    fn need(&mut self, n: usize) {
        while self.buf.len() < n {
            assert!(self.fill(), "connection ended inside a frame");
        }
    }

    /// Write one frame, masked as a client must.
    pub fn send_frame(&mut self, fin: bool, opcode: u8, payload: &[u8]) {
        let mut out = Vec::with_capacity(payload.len() + 14);
        out.push(if fin { 0x80 } else { 0 } | opcode);
        match payload.len() {
            n @ 0..=125 => out.push(0x80 | n as u8),
            n @ 126..=0xffff => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        self.frames_sent = self.frames_sent.wrapping_add(1);
        let key = 0x9e37_79b9u32.wrapping_mul(self.frames_sent).to_be_bytes();
        out.extend_from_slice(&key);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        self.send_raw(&out);
    }

    /// Write bytes as they are (for frames a client must not send).
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    pub fn send_text(&mut self, text: &str) {
        self.send_frame(true, OP_TEXT, text.as_bytes());
    }

    pub fn send_binary(&mut self, data: &[u8]) {
        self.send_frame(true, OP_BINARY, data);
    }

    /// Send `value` as a JSON text message.
    pub fn send_json(&mut self, value: &Value) {
        self.send_text(&value.to_string());
    }

    pub fn send_close(&mut self, code: u16, reason: &str) {
        let mut p = code.to_be_bytes().to_vec();
        p.extend_from_slice(reason.as_bytes());
        self.send_frame(true, OP_CLOSE, &p);
    }

    /// The next frame from the server (bounded wait). Server frames must
    /// not be masked.
    pub fn recv_frame(&mut self) -> Frame {
        self.need(2);
        let (b0, b1) = (self.buf[0], self.buf[1]);
        assert_eq!(b1 & 0x80, 0, "a server frame is masked");
        let (len, at) = match b1 & 0x7f {
            126 => {
                self.need(4);
                (u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize, 4)
            }
            127 => {
                self.need(10);
                let mut l = [0u8; 8];
                l.copy_from_slice(&self.buf[2..10]);
                (u64::from_be_bytes(l) as usize, 10)
            }
            n => (n as usize, 2),
        };
        self.need(at + len);
        let payload = self.buf[at..at + len].to_vec();
        self.buf.drain(..at + len);
        Frame {
            fin: b0 & 0x80 != 0,
            rsv: (b0 >> 4) & 0x7,
            opcode: b0 & 0x0f,
            payload,
        }
    }

    /// The next message (fragments reassembled; bounded wait).
    pub fn recv(&mut self) -> Msg {
        let mut first = self.recv_frame();
        assert_eq!(first.rsv, 0, "RSV bits without an extension");
        match first.opcode {
            OP_PING => return Msg::Ping(first.payload),
            OP_PONG => return Msg::Pong(first.payload),
            OP_CLOSE => {
                let p = first.payload;
                return if p.len() < 2 {
                    Msg::Close(None, String::new())
                } else {
                    let reason = String::from_utf8(p[2..].to_vec()).expect("UTF-8 reason");
                    Msg::Close(Some(u16::from_be_bytes([p[0], p[1]])), reason)
                };
            }
            OP_TEXT | OP_BINARY => {}
            op => panic!("unexpected opcode {op:#x}"),
        }
        while !first.fin {
            let next = self.recv_frame();
            assert_eq!(next.opcode, OP_CONT, "interleaved data frames");
            first.payload.extend_from_slice(&next.payload);
            first.fin = next.fin;
        }
        if first.opcode == OP_TEXT {
            Msg::Text(String::from_utf8(first.payload).expect("UTF-8 text"))
        } else {
            Msg::Binary(first.payload)
        }
    }

    /// The next message, which must be text.
    pub fn recv_text(&mut self) -> String {
        match self.recv() {
            Msg::Text(t) => t,
            other => panic!("expected text, got {other:?}"),
        }
    }

    /// The next message, which must be JSON text.
    pub fn recv_json(&mut self) -> Value {
        let t = self.recv_text();
        serde_json::from_str(&t).unwrap_or_else(|e| panic!("not JSON ({e}): {t:?}"))
    }

    /// The next message, which must be a close frame: its code and reason.
    pub fn recv_close(&mut self) -> (Option<u16>, String) {
        match self.recv() {
            Msg::Close(code, reason) => (code, reason),
            other => panic!("expected a close frame, got {other:?}"),
        }
    }

    /// Wait for the server to end the connection (bounded); bytes that
    /// still arrive fail the test.
    pub fn expect_eof(&mut self) {
        assert!(self.buf.is_empty(), "unread bytes: {:?}", self.buf);
        assert!(!self.fill(), "more bytes after the end: {:?}", self.buf);
    }

    /// The close handshake from the client's side: send `code`, get the
    /// server's close frame, then the end of the stream.
    pub fn close(&mut self, code: u16, reason: &str) -> (Option<u16>, String) {
        self.send_close(code, reason);
        let got = self.recv_close();
        self.expect_eof();
        got
    }

    /// Hang up without a close frame.
    pub fn drop_connection(self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

/// A header's value from a response head (name case-insensitive).
pub fn header(head: &str, name: &str) -> Option<String> {
    head.lines().skip(1).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

/// Rooms protocol helpers (PROTOCOLS.md 2.1), for `/layout`-like endpoints.
pub mod rooms {
    use super::Client;
    use serde_json::{json, Value};

    pub fn join(c: &mut Client, room: &str, name: &str) {
        c.send_json(&json!(["JOIN", {"room": room, "name": name}]));
    }

    pub fn leave(c: &mut Client, room: &str) {
        c.send_json(&json!(["LEAVE", {"room": room}]));
    }

    pub fn notify(c: &mut Client, room: &str, message: Value) {
        c.send_json(&json!(["NOTIFY", {"room": room, "message": message}]));
    }

    /// Ask CLIENTS and return the member names, sorted. The reply must be
    /// the next message: it also shows that everything this client sent
    /// before was handled (one connection's input is handled in order).
    pub fn clients(c: &mut Client, room: &str) -> Vec<String> {
        c.send_json(&json!(["CLIENTS", {"room": room}]));
        let reply = c.recv_json();
        assert_eq!(reply[0], "CLIENTS", "{reply}");
        assert_eq!(reply[1]["room"], room, "{reply}");
        let mut names: Vec<String> = reply[1]["clients"]
            .as_array()
            .unwrap_or_else(|| panic!("no clients list: {reply}"))
            .iter()
            .map(|n| n.as_str().expect("a name").to_string())
            .collect();
        names.sort();
        names
    }
}
