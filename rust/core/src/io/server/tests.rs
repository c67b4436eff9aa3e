//! The server over real loopback sockets: what one connection may cost the
//! others (panics, input waiting for Python, work per turn).

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::*;
use crate::hub::{ERRORS_PER_WINDOW, ERROR_WINDOW};
use crate::io::conn::TEST_PANIC;
use crate::io::endpoint::Kind;
use crate::wire::deflate::{Deflater, Inflater};
use crate::wire::frame::{encode_header, encode_masked_frame, OP_CLOSE};
use crate::wire::mask::apply_mask;
use crate::wire::reader::{FrameReader, Message};

const KEY: [u8; 4] = [1, 2, 3, 4];

#[derive(Debug, Clone, PartialEq)]
enum Ev {
    Open(ConnId),
    Text(ConnId, String),
    Binary(ConnId, usize),
    Close(ConnId, u16),
    Panic(ConnId, String),
    Other,
}

fn own(ev: Event<'_>) -> Ev {
    match ev {
        Event::Open { conn, .. } => Ev::Open(conn),
        Event::Text { conn, data } => Ev::Text(conn, data.to_string()),
        Event::Binary { conn, data } => Ev::Binary(conn, data.len()),
        Event::Close { conn, code, .. } => Ev::Close(conn, code),
        Event::Panic { conn, message } => Ev::Panic(conn, message.to_string()),
        _ => Ev::Other,
    }
}

struct Harness {
    server: Server,
    addr: SocketAddr,
    events: Vec<Ev>,
}

impl Harness {
    fn new(cfg: ServerConfig) -> Self {
        let mut server = Server::new(cfg).unwrap();
        server.add_endpoint(&["/echo".into()], Endpoint::new(Kind::Echo));
        server.add_endpoint(&["/py".into()], Endpoint::new(Kind::Python));
        server.add_endpoint(
            &["/layout".into()],
            Endpoint {
                namespace: "layout".into(),
                ..Endpoint::new(Kind::Rooms)
            },
        );
        server.add_endpoint(&["/socket.io/".into()], Endpoint::new(Kind::SocketIo));
        let (_, addr) = server
            .listen("127.0.0.1:0".parse().unwrap(), None, Default::default())
            .unwrap();
        Harness {
            server,
            addr,
            events: Vec::new(),
        }
    }

    /// One poll and a flush; events are kept in `self.events`.
    fn poll(&mut self) {
        let events = &mut self.events;
        self.server.poll(&mut |e| events.push(own(e))).unwrap();
        self.server.flush();
    }

    /// Poll until `done` (bounded: 5 s).
    fn pump_until(&mut self, what: &str, mut done: impl FnMut(&mut Self) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !done(self) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            self.poll();
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn connect(&mut self, path: &str, extensions: Option<&str>) -> Client {
        let mut s = TcpStream::connect(self.addr).unwrap();
        let ext = extensions
            .map(|e| format!("Sec-WebSocket-Extensions: {e}\r\n"))
            .unwrap_or_default();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{ext}\r\n"
        )
        .unwrap();
        s.set_nonblocking(true).unwrap();
        let mut c = Client {
            s,
            buf: Vec::new(),
            reader: FrameReader::new(64 << 20, false),
        };
        let mut head = Vec::new();
        self.pump_until("the 101", |_| {
            c.read_some(&mut head);
            head.windows(4).any(|w| w == b"\r\n\r\n")
        });
        let end = head.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        assert!(
            head.starts_with(b"HTTP/1.1 101"),
            "{:?}",
            String::from_utf8_lossy(&head)
        );
        c.buf = head.split_off(end);
        if extensions.is_some() {
            // (the server agrees server_no_context_takeover by default)
            c.reader.set_inflater(Inflater::new(15, true));
        }
        c
    }

    fn conn_id(&self, n: usize) -> ConnId {
        let mut ids = self.server.conn_ids();
        ids.sort_by_key(|id| id & 0xffff_ffff);
        ids[n]
    }

    fn texts(&self, conn: ConnId) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Ev::Text(c, t) if *c == conn => Some(t.clone()),
                _ => None,
            })
            .collect()
    }

    fn opened(&self) -> Vec<ConnId> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Ev::Open(c) => Some(*c),
                _ => None,
            })
            .collect()
    }
}

struct Client {
    s: TcpStream,
    /// Bytes read and not parsed yet.
    buf: Vec<u8>,
    reader: FrameReader,
}

/// What a client got from the server.
#[derive(Debug, PartialEq)]
enum Got {
    Text(String),
    Binary(Vec<u8>),
    Close(u16),
}

impl Client {
    fn read_some(&mut self, into: &mut Vec<u8>) {
        let mut b = [0u8; 65536];
        loop {
            match self.s.read(&mut b) {
                Ok(0) => return,
                Ok(n) => into.extend_from_slice(&b[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(_) => return,
            }
        }
    }

    /// Messages that arrived so far.
    fn messages(&mut self) -> Vec<Got> {
        let mut data = std::mem::take(&mut self.buf);
        self.read_some(&mut data);
        let mut got = Vec::new();
        let _ = self.reader.feed(&mut data, &mut |m| match m {
            Message::Text(t) => got.push(Got::Text(t.to_string())),
            Message::Binary(b) => got.push(Got::Binary(b.to_vec())),
            Message::Close(code, _) => got.push(Got::Close(code.unwrap_or(1005))),
            _ => {}
        });
        got
    }

    /// Write what the socket takes now; returns how much.
    fn write_some(&mut self, bytes: &[u8]) -> usize {
        match self.s.write(bytes) {
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => 0,
            Err(e) => panic!("{e}"),
        }
    }
}

impl Harness {
    /// Write all of `bytes` from the client, polling the server whenever
    /// the socket is full; then give the kernel a moment.
    fn send(&mut self, c: &mut Client, bytes: &[u8]) {
        let mut sent = 0;
        self.pump_until("the client's write", |_| {
            sent += c.write_some(&bytes[sent..]);
            sent == bytes.len()
        });
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn text(out: &mut Vec<u8>, t: &str) {
    encode_masked_frame(out, OP_TEXT, t.as_bytes(), false, KEY);
}

/// A masked frame, compressed (RSV1) with `d`.
fn deflated(out: &mut Vec<u8>, d: &mut Deflater, op: u8, payload: &[u8]) {
    let mut z = Vec::new();
    d.compress(payload, &mut z).unwrap();
    encode_header(out, true, true, op, z.len(), Some(KEY));
    let s = out.len();
    out.extend_from_slice(&z);
    apply_mask(&mut out[s..], KEY, 0);
}

/// Wait for the client's messages until `want` of them came (bounded).
fn receive(h: &mut Harness, c: &mut Client, want: usize) -> Vec<Got> {
    let mut got = Vec::new();
    h.pump_until("messages", |_| {
        got.extend(c.messages());
        got.len() >= want
    });
    got
}

/// Issue 12: the Socket.IO text frame `4é` sliced inside a UTF-8 character
/// and panicked inside `Server::poll`. A packet type may be any character:
/// unknown ones are ignored and the connection goes on.
#[test]
fn socketio_non_ascii_packet_types_do_not_panic() {
    let mut h = Harness::new(ServerConfig::default());
    let mut c = h.connect("/socket.io/?EIO=4&transport=websocket", None);
    let open = receive(&mut h, &mut c, 1);
    assert!(
        matches!(&open[0], Got::Text(t) if t.starts_with("0{")),
        "{open:?}"
    );
    let mut b = Vec::new();
    for p in [
        "4é",
        "é",
        "4",
        "42é",
        "4€/layout,",
        "44",
        "2é",
        "40/layoüt,",
    ] {
        text(&mut b, p);
    }
    text(&mut b, "2probe");
    h.send(&mut c, &b);
    let got = receive(&mut h, &mut c, 3);
    assert!(got.contains(&Got::Text("3é".into())), "{got:?}");
    assert!(got.contains(&Got::Text("3probe".into())), "{got:?}");
    assert_eq!(h.server.stats().panics, 0);
    assert!(!h.events.iter().any(|e| matches!(e, Ev::Panic(..))));
    assert_eq!(h.server.connection_count(), 1);
}

/// A panic while handling one connection closes that one (1011 to the
/// peer, `Panic` then `Close` to Python); the events of the same poll and
/// the other connections go on.
#[test]
fn a_panic_costs_one_connection() {
    let mut h = Harness::new(ServerConfig::default());
    let mut a = h.connect("/py", None);
    let mut b = h.connect("/py", None);
    let mut e = h.connect("/echo", None);
    h.pump_until("two opens", |h| h.opened().len() == 2);
    let (ida, idb) = (h.opened()[0], h.opened()[1]);
    let mut burst = Vec::new();
    text(&mut burst, "before");
    text(&mut burst, TEST_PANIC);
    text(&mut burst, "after");
    h.send(&mut a, &burst);
    let mut bb = Vec::new();
    text(&mut bb, "from b");
    h.send(&mut b, &bb);
    let mut eb = Vec::new();
    text(&mut eb, "echo me");
    h.send(&mut e, &eb);
    std::thread::sleep(Duration::from_millis(20));
    h.pump_until("the close of a and b's text", |h| {
        h.events.contains(&Ev::Close(ida, 1011)) && !h.texts(idb).is_empty()
    });
    assert_eq!(h.texts(ida), vec!["before".to_string()]);
    let panics: Vec<_> = h
        .events
        .iter()
        .filter(|e| matches!(e, Ev::Panic(..)))
        .collect();
    assert_eq!(panics.len(), 1, "{:?}", h.events);
    assert!(matches!(panics[0], Ev::Panic(c, m) if *c == ida && m.contains("test hook")));
    let p = h.events.iter().position(|e| matches!(e, Ev::Panic(..)));
    let c = h.events.iter().position(|e| *e == Ev::Close(ida, 1011));
    assert!(p < c, "Panic before Close: {:?}", h.events);
    assert_eq!(h.server.stats().panics, 1);
    // The peer got a 1011 close frame.
    assert_eq!(receive(&mut h, &mut a, 1), vec![Got::Close(1011)]);
    // The others go on.
    assert_eq!(
        receive(&mut h, &mut e, 1),
        vec![Got::Text("echo me".into())]
    );
    let mut bb = Vec::new();
    text(&mut bb, "still here");
    h.send(&mut b, &bb);
    h.pump_until("b's second text", |h| h.texts(idb).len() == 2);
    assert!(h.server.send(idb, false, b"to b").is_ok());
    assert_eq!(receive(&mut h, &mut b, 1), vec![Got::Text("to b".into())]);
    h.server.tick(&mut |_| {});
    assert_eq!(h.server.connection_count(), 2);
}

/// Messages handed to Python and not consumed are bounded per connection
/// (count and bytes); past the bound the socket is not read (its bytes wait
/// in the kernel) until Python reports them consumed, then reading resumes
/// by itself (edge-triggered: no new bytes arrive to wake it).
#[test]
fn python_input_waits_for_python() {
    let cfg = ServerConfig {
        max_pending_messages: 8,
        ..ServerConfig::default()
    };
    let mut h = Harness::new(cfg);
    let mut a = h.connect("/py", None);
    let mut b = h.connect("/py", None);
    h.pump_until("two opens", |h| h.opened().len() == 2);
    let (ida, idb) = (h.opened()[0], h.opened()[1]);
    let mut burst = Vec::new();
    for i in 0..100 {
        text(&mut burst, &format!("m{i}"));
    }
    h.send(&mut a, &burst);
    for _ in 0..20 {
        h.poll();
    }
    assert_eq!(h.texts(ida).len(), 8, "at most 8 wait for Python");
    let info = h.server.conn_info(ida).unwrap();
    assert!(info.blocked);
    assert_eq!(info.pending_messages, 8);
    // Another connection is served meanwhile.
    let mut bb = Vec::new();
    text(&mut bb, "b");
    h.send(&mut b, &bb);
    h.pump_until("b's text", |h| h.texts(idb).len() == 1);
    // Python consumes: below half of the bound, reading resumes.
    let mut done = 0;
    let deadline = Instant::now() + Duration::from_secs(5);
    while h.texts(ida).len() < 100 {
        assert!(
            Instant::now() < deadline,
            "stalled at {}",
            h.texts(ida).len()
        );
        let got = h.texts(ida);
        for t in &got[done..] {
            h.server.consumed(ida, t.len(), 1);
        }
        done = got.len();
        h.poll();
        let pending = h.server.conn_info(ida).unwrap().pending_messages;
        assert!(pending <= 8, "{pending} waiting");
    }
    let want: Vec<String> = (0..100).map(|i| format!("m{i}")).collect();
    assert_eq!(h.texts(ida), want);
}

#[test]
fn python_input_bytes_are_bounded() {
    let cfg = ServerConfig {
        max_pending_bytes: Some(1000),
        ..ServerConfig::default()
    };
    let mut h = Harness::new(cfg);
    let mut a = h.connect("/py", None);
    h.pump_until("the open", |h| h.opened().len() == 1);
    let id = h.opened()[0];
    let mut burst = Vec::new();
    for _ in 0..20 {
        text(&mut burst, &"x".repeat(300));
    }
    h.send(&mut a, &burst);
    for _ in 0..20 {
        h.poll();
    }
    // 4 * 300 >= 1000: the fourth message is the last.
    assert_eq!(h.texts(id).len(), 4);
    assert_eq!(h.server.conn_info(id).unwrap().pending_bytes, 1200);
    h.server.consumed(id, 900, 3);
    // 300 + 3 * 300 >= 1000: three more.
    h.pump_until("more", |h| h.texts(id).len() == 7);
    for _ in 0..5 {
        h.poll();
    }
    assert_eq!(h.texts(id).len(), 7);
}

/// Issue 12: compressed frames of ~15 KB that each inflate to 15 MiB, sent
/// to a Python endpoint, were all inflated and handed over at once (3.8 GB).
/// Now at most max(4 MiB, max_message) (plus the last message) waits.
#[test]
fn deflate_bombs_to_python_are_bounded() {
    let cfg = ServerConfig {
        max_message: 2 << 20,
        ..ServerConfig::default()
    };
    let mut h = Harness::new(cfg);
    let mut a = h.connect("/py", Some("permessage-deflate"));
    h.pump_until("the open", |h| h.opened().len() == 1);
    let id = h.opened()[0];
    let mut d = Deflater::new(15, true, 9);
    let mut burst = Vec::new();
    let bomb = vec![b'a'; 1 << 20];
    for _ in 0..50 {
        deflated(&mut burst, &mut d, OP_BINARY, &bomb);
    }
    assert!(burst.len() < 60_000, "{}", burst.len());
    h.send(&mut a, &burst);
    for _ in 0..20 {
        h.poll();
    }
    let n = |h: &Harness| {
        h.events
            .iter()
            .filter(|e| matches!(e, Ev::Binary(c, _) if *c == id))
            .count()
    };
    assert_eq!(n(&h), 4, "4 MiB wait for Python");
    assert!(h.server.conn_info(id).unwrap().pending_bytes <= 4 << 20);
    h.server.consumed(id, 4 << 20, 4);
    h.pump_until("the next ones", |h| n(h) == 8);
    let _ = a;
}

/// One connection's deflated input is handled a bounded amount per turn:
/// one poll does not inflate and handle all of it.
#[test]
fn work_per_turn_is_bounded() {
    let mut h = Harness::new(ServerConfig::default());
    let mut r = h.connect("/layout", Some("permessage-deflate"));
    let id = h.conn_id(0);
    let mut d = Deflater::new(15, true, 9);
    let mut burst = Vec::new();
    let junk = " ".repeat(1 << 20);
    for _ in 0..60 {
        deflated(&mut burst, &mut d, OP_TEXT, junk.as_bytes());
    }
    h.send(&mut r, &burst);
    // One turn per poll call (the turn ends after the message that passes
    // TURN_WORK; the next is in the next call).
    let messages_in = |h: &Harness| h.server.conn_info(id).unwrap().messages_in;
    let before = messages_in(&h);
    assert!(before < 60);
    h.poll();
    assert_eq!(messages_in(&h), before + 1, "messages in one poll");
    h.poll();
    assert_eq!(messages_in(&h), before + 2);
    h.pump_until("all of them", |h| {
        h.server.conn_info(id).unwrap().messages_in == 60
    });
    // Each got its error reply, but for those past the connection's share
    // of error replies (counted instead).
    let mut got = Vec::new();
    h.pump_until("the error replies", |h| {
        got.extend(r.messages());
        got.len() as u64 + h.server.stats().errors_dropped == 60
    });
    assert!(got.len() >= ERRORS_PER_WINDOW as usize, "{}", got.len());
    assert!(got
        .iter()
        .all(|g| matches!(g, Got::Text(t) if t.contains("ERROR"))));
}

/// The echo path stops reading at `max_queue` mid-read too.
#[test]
fn echo_of_a_reader_that_does_not_read_is_bounded() {
    let cfg = ServerConfig {
        max_queue: 64 * 1024,
        ..ServerConfig::default()
    };
    let mut h = Harness::new(cfg);
    let mut e = h.connect("/echo", Some("permessage-deflate"));
    let id = h.conn_id(0);
    let mut d = Deflater::new(15, true, 1);
    let mut burst = Vec::new();
    let mut payload = vec![0u8; 256 * 1024];
    // incompressible on the way back (the server compresses what it echoes)
    let mut x: u32 = 1;
    for b in payload.iter_mut() {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        *b = (x >> 24) as u8;
    }
    for _ in 0..4 {
        deflated(&mut burst, &mut d, OP_BINARY, &payload);
    }
    h.send(&mut e, &burst);
    for _ in 0..5 {
        h.poll();
    }
    let got = receive(&mut h, &mut e, 4);
    assert!(got.iter().all(|g| *g == Got::Binary(payload.clone())));
    assert_eq!(h.server.conn_info(id).unwrap().messages_out, 4);
    let mut close = Vec::new();
    encode_masked_frame(&mut close, OP_CLOSE, &[3, 232], false, KEY);
    h.send(&mut e, &close);
    assert_eq!(receive(&mut h, &mut e, 1), vec![Got::Close(1000)]);
}

/// Many small messages over many reads while Python holds the bound: every
/// message arrives once, in order, whatever the read boundaries.
#[test]
fn a_long_burst_to_python_arrives_intact() {
    let mut h = Harness::new(ServerConfig::default());
    let mut a = h.connect("/py", None);
    h.pump_until("the open", |h| h.opened().len() == 1);
    let id = h.opened()[0];
    let mut burst = Vec::new();
    let n = 50_000;
    for i in 0..n {
        text(&mut burst, &format!("{}", i % 10));
    }
    let mut sent = 0;
    let mut done = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    while h.texts(id).len() < n {
        assert!(
            Instant::now() < deadline,
            "stalled at {} {:?} sent {sent} {:?}",
            h.texts(id).len(),
            h.server.conn_info(id),
            &h.events[h.events.len().saturating_sub(3)..]
        );
        if sent < burst.len() {
            sent += a.write_some(&burst[sent..]);
        }
        let got = h.texts(id);
        for t in &got[done..] {
            h.server.consumed(id, t.len(), 1);
        }
        done = got.len();
        h.poll();
        assert!(
            h.server.conn_info(id).is_some(),
            "closed: {:?}",
            &h.events[h.events.len().saturating_sub(3)..]
        );
    }
    let got = h.texts(id);
    assert!(got
        .iter()
        .enumerate()
        .all(|(i, t)| *t == format!("{}", i % 10)));
}

/// Send an HTTP request on a fresh connection; the server answers the
/// `Event::Http` with `body` (when `answer`). Returns the client.
fn http_client(h: &mut Harness, request: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(h.addr).unwrap();
    s.write_all(request).unwrap();
    s.set_nonblocking(true).unwrap();
    s
}

/// Read what has arrived; true at the end of the stream.
fn read_into(s: &mut TcpStream, into: &mut Vec<u8>) -> bool {
    let mut b = [0u8; 65536];
    loop {
        match s.read(&mut b) {
            Ok(0) => return true,
            Ok(n) => into.extend_from_slice(&b[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        }
    }
}

/// Issue 12 (RFC 9112 6.3): a request whose body length is ambiguous gets
/// 400 and the connection closes; nothing reaches the host.
#[test]
fn ambiguous_request_lengths_get_400_and_close() {
    let mut h = Harness::new(ServerConfig::default());
    for headers in [
        "Content-Length: 5\r\nContent-Length: 50\r\n",
        "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
        "Content-Length: +5\r\n",
    ] {
        // The second "request" is smuggled in the body of the first under
        // one reading of the lengths.
        let req = format!(
            "POST /api HTTP/1.1\r\nHost: x\r\n{headers}\r\nhelloGET /smuggled HTTP/1.1\r\n\r\n"
        );
        let mut c = http_client(&mut h, req.as_bytes());
        let mut got = Vec::new();
        h.pump_until("the answer and the close", |_| read_into(&mut c, &mut got));
        let text = String::from_utf8_lossy(&got);
        assert!(text.starts_with("HTTP/1.1 400 "), "{headers:?}: {text:?}");
        assert_eq!(text.matches("HTTP/1.1").count(), 1, "{text:?}");
    }
    assert!(!h.events.contains(&Ev::Other), "{:?}", h.events);
}

/// Issue 12: an HTTP response is written as fast as the reader reads it: a
/// reader that waits longer than the close timeout before it reads gets
/// the whole body (it was cut at the close timeout), and the body is
/// queued once.
#[test]
fn a_slow_reader_gets_the_whole_response() {
    let cfg = ServerConfig {
        close_timeout: Duration::from_millis(200),
        ..ServerConfig::default()
    };
    let mut h = Harness::new(cfg);
    let mut c = http_client(&mut h, b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
    h.pump_until("the request", |h| {
        h.server.connection_count() == 1 && h.events.contains(&Ev::Other)
    });
    let id = h.conn_id(0);
    let body: Vec<u8> = (0..16 << 20).map(|i: u32| (i % 251) as u8).collect();
    assert!(h.server.respond(id, 200, &[], &body));
    // Queued once: the whole response, not a copy per write.
    let queued = h.server.conn_info(id).unwrap().queued;
    assert!(queued > body.len() && queued < body.len() + 256, "{queued}");
    // The reader reads nothing for 5 close timeouts.
    let wait = Instant::now() + Duration::from_secs(1);
    while Instant::now() < wait {
        h.poll();
        h.server.tick(&mut |_| {});
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(h.server.connection_count(), 1, "closed while waiting");
    // Then reads slowly: 64 KiB at a time.
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut b = vec![0u8; 65536];
    loop {
        assert!(Instant::now() < deadline, "{} bytes", got.len());
        h.poll();
        h.server.tick(&mut |_| {});
        match c.read(&mut b) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&b[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(1))
            }
            Err(e) => panic!("{e} after {} bytes", got.len()),
        }
    }
    let end = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert!(got.starts_with(b"HTTP/1.1 200 OK\r\n"));
    assert_eq!(got.len() - end, body.len());
    assert!(got[end..] == body[..]);
}

/// A reader that reads nothing of its response is closed after the idle
/// timeout (the response's memory is not held for ever).
#[test]
fn a_reader_that_reads_nothing_is_closed() {
    let cfg = ServerConfig {
        close_timeout: Duration::from_millis(100),
        idle_timeout: Some(Duration::from_millis(500)),
        ..ServerConfig::default()
    };
    let mut h = Harness::new(cfg);
    let _c = http_client(&mut h, b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
    h.pump_until("the request", |h| h.events.contains(&Ev::Other));
    let id = h.conn_id(0);
    assert!(h.server.respond(id, 200, &[], &vec![b'x'; 16 << 20]));
    let t0 = Instant::now();
    h.pump_until("the close", |h| {
        h.server.tick(&mut |_| {});
        h.server.connection_count() == 0
    });
    let took = t0.elapsed();
    assert!(took >= Duration::from_millis(450), "{took:?}");
}

fn join(room: &str) -> String {
    format!(r#"["JOIN",{{"room":"{room}","name":"n"}}]"#)
}

/// Issue 12: 100,000 JOINs by one client were all accepted. Past
/// `max_rooms_per_connection` a JOIN gets a TOO_MANY_ROOMS error; joining
/// a room it is in, or after a LEAVE, still works. The same for Socket.IO.
#[test]
fn rooms_per_connection_are_bounded() {
    let cfg = ServerConfig {
        max_rooms_per_connection: 5,
        ..ServerConfig::default()
    };
    let mut h = Harness::new(cfg);
    let mut r = h.connect("/layout", None);
    let id = h.conn_id(0);
    let mut b = Vec::new();
    for i in 0..8 {
        text(&mut b, &join(&format!("r{i}")));
    }
    text(&mut b, &join("r0"));
    text(&mut b, r#"["LEAVE",{"room":"r1"}]"#);
    text(&mut b, &join("r7"));
    text(&mut b, &join("r8"));
    h.send(&mut r, &b);
    let got = receive(&mut h, &mut r, 4);
    assert_eq!(got.len(), 4, "{got:?}");
    assert!(got.iter().all(
        |g| matches!(g, Got::Text(t) if t.starts_with(r#"["ERROR",{"code":"TOO_MANY_ROOMS""#))
    ));
    let mut rooms = h.server.rooms_of(id);
    rooms.sort();
    let want: Vec<String> = ["r0", "r2", "r3", "r4", "r7"]
        .iter()
        .map(|r| format!("layout\u{1}{r}"))
        .collect();
    assert_eq!(rooms, want);

    let mut s = h.connect("/socket.io/?EIO=4&transport=websocket", None);
    receive(&mut h, &mut s, 1);
    let sid = h.conn_id(1);
    let mut b = Vec::new();
    text(&mut b, "40/layout,");
    for i in 0..6 {
        text(&mut b, &format!("42/layout,{}", join(&format!("s{i}"))));
    }
    h.send(&mut s, &b);
    let got = receive(&mut h, &mut s, 2);
    assert!(
        matches!(&got[1], Got::Text(t) if t.starts_with(r#"42/layout,["ERROR",{"code":"TOO_MANY_ROOMS""#)),
        "{got:?}"
    );
    assert_eq!(h.server.rooms_of(sid).len(), 5);
}

/// Issue 12: a flood of invalid commands got one ERROR frame each. Now a
/// connection gets `ERRORS_PER_WINDOW` error replies per window; the rest
/// are dropped and counted, valid commands are still answered, and the
/// next window has its share again.
#[test]
fn error_replies_are_rate_limited() {
    let mut h = Harness::new(ServerConfig::default());
    let mut r = h.connect("/layout", None);
    let mut b = Vec::new();
    for _ in 0..5000 {
        text(&mut b, "x");
    }
    encode_masked_frame(&mut b, OP_BINARY, b"bin", false, KEY);
    text(&mut b, r#"["CLIENTS",{"room":"a"}]"#);
    let t0 = Instant::now();
    h.send(&mut r, &b);
    let mut got = Vec::new();
    h.pump_until("the CLIENTS answer", |_| {
        got.extend(r.messages());
        got.iter()
            .any(|g| matches!(g, Got::Text(t) if t.starts_with(r#"["CLIENTS""#)))
    });
    for _ in 0..10 {
        h.poll();
        got.extend(r.messages());
    }
    let errors = got.len() as u64 - 1;
    let dropped = h.server.stats().errors_dropped;
    assert_eq!(errors + dropped, 5001);
    // (a slow machine may begin a second window)
    let windows = 1 + (t0.elapsed().as_millis() / ERROR_WINDOW.as_millis()) as u64;
    assert!(
        errors >= u64::from(ERRORS_PER_WINDOW) && errors <= windows * u64::from(ERRORS_PER_WINDOW),
        "{errors} error replies"
    );
    // The next window answers again.
    std::thread::sleep(ERROR_WINDOW);
    let mut b = Vec::new();
    text(&mut b, "y");
    h.send(&mut r, &b);
    let got = receive(&mut h, &mut r, 1);
    assert!(
        matches!(&got[0], Got::Text(t) if t.contains("INVALID_JSON")),
        "{got:?}"
    );
}
