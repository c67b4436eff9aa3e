//! Fuzz targets for every input the network reaches in `scanbridge-core`.
//!
//! Each target is a plain function of the input bytes, so the same code runs
//! under libFuzzer (`fuzz_targets/*.rs`, `make fuzz`) and in `cargo test`
//! (`tests/replay.rs` replays `corpus/` and `regressions/`). A target fails by
//! panicking: the code under test panicked, or one of the properties checked
//! here does not hold.
//!
//! - [`frame_reader`]: bytes in any chunking into `FrameReader` (server and
//!   client side, with and without permessage-deflate).
//! - [`handshake`]: request heads into `parse_request`, the upgrade checks and
//!   the `Sec-WebSocket-Extensions` negotiation (server and client side).
//! - [`room_commands`]: text into the `/layout`, `/bus` and `/lobby` parsers.
//! - [`http`]: raw bytes on a TCP connection to a real `Server` (HTTP
//!   requests, bodies, pipelining, upgrades, frames) with an endpoint of every
//!   kind.
//! - [`websocket`]: an upgrade to one of those endpoints, then frames built
//!   from the input (opcode, FIN, RSV1, compressed or not).
//! - [`socketio`]: an upgrade to `/socket.io/`, then each input piece as one
//!   Engine.IO text packet.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use scanbridge_core::hub::protocol::{parse_lobby_command, parse_room_command};
use scanbridge_core::io::endpoint::ListenerOptions;
use scanbridge_core::io::{Endpoint, Event, Kind, Server, ServerConfig};
use scanbridge_core::wire::deflate::{client_accept, negotiate, DeflateConfig, Deflater, Inflater};
use scanbridge_core::wire::handshake::{parse_request, query_param};
use scanbridge_core::wire::reader::{FrameReader, Message};

/// A fuzz target: panics when it finds a defect.
pub type Target = fn(&[u8]);

/// Every target by name (the names of the libFuzzer binaries and of the
/// `corpus/` and `regressions/` folders).
pub const TARGETS: &[(&str, Target)] = &[
    ("frame_reader", frame_reader),
    ("handshake", handshake),
    ("room_commands", room_commands),
    ("http", http),
    ("websocket", websocket),
    ("socketio", socketio),
];

/// Pieces of one input: split at 0xFF, a byte that never occurs in UTF-8.
fn pieces(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    data.split(|&b| b == 0xFF)
}

// ---------------------------------------------------------------------------
// Pure parsers

/// The first two bytes pick the reader's set-up and the chunking; the rest
/// is fed in chunks, and feeding goes on after an error.
///
/// Properties: every text message is valid UTF-8 and no message is larger
/// than `max_message`; the first error is latched (every later `feed`
/// returns it and delivers nothing); nothing is delivered after a close.
pub fn frame_reader(data: &[u8]) {
    if data.len() < 2 {
        return;
    }
    let (ctl, rest) = data.split_at(2);
    let masked = ctl[0] & 1 == 0;
    let max_message = 1usize << (6 + (ctl[0] >> 5)); // 64 B .. 8 KiB
    let mut r = FrameReader::new(max_message, masked);
    if ctl[0] & 2 != 0 {
        r.set_inflater(Inflater::new(9 + (ctl[0] >> 2) % 7, ctl[0] & 4 != 0));
    }
    // chunk sizes 1..=255 bytes, or everything at once
    let chunk = if ctl[1] == 0 {
        usize::MAX
    } else {
        ctl[1] as usize
    };
    let mut buf = rest.to_vec();
    let mut failed = None;
    let mut closed = false;
    for part in buf.chunks_mut(chunk.min(rest.len().max(1))) {
        let mut delivered = 0usize;
        let res = r.feed(part, &mut |m| {
            delivered += 1;
            assert!(!closed, "message after a close frame: {m:?}");
            match m {
                Message::Text(t) => {
                    assert!(
                        std::str::from_utf8(t.as_bytes()).is_ok(),
                        "invalid UTF-8 text"
                    );
                    assert!(
                        t.len() <= max_message,
                        "text of {} > {max_message}",
                        t.len()
                    );
                }
                Message::Binary(b) => {
                    assert!(
                        b.len() <= max_message,
                        "binary of {} > {max_message}",
                        b.len()
                    )
                }
                Message::Close(..) => closed = true,
                Message::Ping(p) | Message::Pong(p) => assert!(p.len() <= 125),
            }
        });
        if let Some(first) = failed {
            assert_eq!(res, Err(first), "the first error is not latched");
            assert_eq!(delivered, 0, "messages delivered after an error");
        }
        if let Err(e) = res {
            failed.get_or_insert(e);
        }
    }
}

/// A request head into the parser, then every check the server makes on it
/// and the client-side check of an extension response.
pub fn handshake(data: &[u8]) {
    let Ok(Some(req)) = parse_request(data) else {
        return;
    };
    assert!(req.head_len <= data.len());
    let _ = req.check_upgrade();
    let _ = req.wants_upgrade();
    let _ = req.origin_allowed(&[
        "http://localhost:*".into(),
        "https://*.example.com".into(),
        "null".into(),
    ]);
    let _ = req.select_subprotocol(&["chat".into(), "v2.scanbridge".into()]);
    let _ = req.has_token("connection", "upgrade");
    for name in ["EIO", "transport", "since", "token", "room", ""] {
        let _ = query_param(&req.query, name);
    }
    let exts: Vec<&[u8]> = req
        .header_all("sec-websocket-extensions")
        .map(str::as_bytes)
        .collect();
    for cfg in [
        DeflateConfig::default(),
        DeflateConfig {
            server_max_window_bits: 9,
            server_no_context_takeover: true,
            ..DeflateConfig::default()
        },
    ] {
        if let Ok(Some((params, header))) = negotiate(&exts, &cfg) {
            assert!(!header.is_empty());
            // what we agreed must build
            let _ = params.server_deflater(1);
            let _ = params.server_inflater();
        }
    }
    for v in &exts {
        let _ = client_accept(v, None, false);
        let _ = client_accept(v, Some(9), true);
    }
}

/// Text into the room and lobby command parsers. An error must encode as a
/// JSON reply.
pub fn room_commands(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_room_command(text) {
        Ok(c) => {
            let _ = (c.type_name(), c.room().len());
            let _ = c.into_owned();
        }
        Err(e) => check_error_json(&e),
    }
    match parse_lobby_command(text) {
        Ok(c) => {
            let _ = c.type_name();
            let _ = c.into_owned();
        }
        Err(e) => check_error_json(&e),
    }
}

fn check_error_json(e: &scanbridge_core::hub::protocol::ProtocolError) {
    let mut out = Vec::new();
    e.encode(&mut out);
    if let Err(err) = serde_json::from_slice::<serde_json::Value>(&out) {
        panic!(
            "error reply is not JSON ({err}): {}",
            String::from_utf8_lossy(&out)
        );
    }
}

// ---------------------------------------------------------------------------
// A real server on loopback

/// Paths served, with their kinds (as `App._build_core` sets them up).
const PATHS: [&str; 7] = [
    "/echo",
    "/layout",
    "/bus",
    "/lobby",
    "/socket.io/?EIO=4&transport=websocket",
    "/",
    "/ask",
];

struct Harness {
    server: Server,
    addr: SocketAddr,
}

impl Harness {
    fn new() -> Self {
        let cfg = ServerConfig {
            max_message: 64 * 1024,
            max_queue: 256 * 1024,
            max_http_body: 16 * 1024,
            allowed_origins: vec!["http://localhost:*".into(), "null".into()],
            ..ServerConfig::default()
        };
        let mut server = Server::new(cfg).expect("server");
        let ep = |kind: Kind, ns: &str, hook: bool| Endpoint {
            namespace: ns.into(),
            room_hook: hook,
            ..Endpoint::new(kind)
        };
        server.add_endpoint(&["/echo".into()], ep(Kind::Echo, "", false));
        server.add_endpoint(&["/layout".into()], ep(Kind::Rooms, "layout", false));
        server.add_endpoint(&["/bus".into()], ep(Kind::Rooms, "bus", true));
        server.add_endpoint(&["/lobby".into()], ep(Kind::Lobby, "lobby", false));
        server.add_endpoint(
            &["/socket.io/".into(), "/socket.io".into()],
            ep(Kind::SocketIo, "", false),
        );
        server.add_endpoint(
            &["/".into()],
            Endpoint {
                subprotocols: vec!["chat".into()],
                ..Endpoint::new(Kind::Python)
            },
        );
        server.add_endpoint(
            &["/ask".into()],
            Endpoint {
                ask_upgrade: true,
                ..Endpoint::new(Kind::Python)
            },
        );
        let (_, addr) = server
            .listen(
                "127.0.0.1:0".parse().unwrap(),
                None,
                ListenerOptions::default(),
            )
            .expect("listen");
        Harness { server, addr }
    }

    /// One poll, answering what Python would answer: 200 to HTTP requests,
    /// accept to upgrades, an echo to messages.
    fn drive(&mut self) {
        let mut http = Vec::new();
        let mut upgrades = Vec::new();
        let mut texts: Vec<(u64, bool, Vec<u8>)> = Vec::new();
        let mut panics = Vec::new();
        let mut sink = |ev: Event<'_>| match ev {
            Event::Http { conn, body, .. } => http.push((conn, body.len())),
            Event::Upgrade { conn, .. } => upgrades.push(conn),
            Event::Text { conn, data } => texts.push((conn, false, data.as_bytes().to_vec())),
            Event::Binary { conn, data } => texts.push((conn, true, data.to_vec())),
            Event::Panic { message, .. } => panics.push(message.to_string()),
            _ => {}
        };
        let _ = self.server.poll(&mut sink);
        // The server catches a panic per connection (it closes that one with
        // 1011): still a bug reachable from the network.
        if let Some(message) = panics.first() {
            panic!("the server caught a panic: {message}");
        }
        for (id, n) in http {
            let body = format!("{{\"len\":{n}}}");
            self.server.respond(
                id,
                200,
                &[("Content-Type".into(), "application/json".into())],
                body.as_bytes(),
            );
        }
        for id in upgrades {
            self.server.accept(id, &[], &mut |_| {});
        }
        for (id, binary, data) in texts {
            let _ = self.server.send(id, binary, &data);
            self.server.consumed(id, data.len(), 1);
        }
        self.server.flush();
    }

    /// Send `bytes` on a new connection, half-close, and drive the server
    /// until it has closed the connection (bounded).
    fn exchange(&mut self, bytes: &[u8]) {
        let Ok(mut c) = TcpStream::connect(self.addr) else {
            return;
        };
        let _ = c.set_nonblocking(true);
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut sent = 0;
        let mut scratch = [0u8; 16 * 1024];
        while sent < bytes.len() && Instant::now() < deadline {
            match c.write(&bytes[sent..]) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    self.drive();
                    // the server may be waiting for us to read
                    let _ = c.read(&mut scratch);
                }
                Err(_) => break,
            }
        }
        // Let the server read and handle everything while the connection is
        // open (bytes that arrive together with the end of the stream are
        // not all acted on), then half-close.
        for _ in 0..2 {
            self.drive();
        }
        let _ = c.shutdown(Shutdown::Write);
        let mut idle = 0;
        while Instant::now() < deadline && idle < 200 {
            self.drive();
            match c.read(&mut scratch) {
                Ok(0) => break,
                Ok(_) => idle = 0,
                Err(e) if e.kind() == ErrorKind::WouldBlock => idle += 1,
                Err(_) => break,
            }
        }
        drop(c);
        for _ in 0..50 {
            if self.server.connection_count() == 0 {
                break;
            }
            self.drive();
        }
        self.server.tick(&mut |_| {});
    }
}

static HARNESS: Mutex<Option<Harness>> = Mutex::new(None);

/// The shared server (one per process; rebuilt after a panic poisoned it).
fn harness() -> MutexGuard<'static, Option<Harness>> {
    let mut g = HARNESS.lock().unwrap_or_else(|p| {
        HARNESS.clear_poison();
        let mut g = p.into_inner();
        *g = None;
        g
    });
    if g.is_none() {
        *g = Some(Harness::new());
    }
    g
}

fn with_server(bytes: &[u8]) {
    harness().as_mut().unwrap().exchange(bytes);
}

/// Raw bytes on one TCP connection to the server.
pub fn http(data: &[u8]) {
    with_server(data);
}

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

fn upgrade_head(path: &str, deflate: bool, subprotocol: bool) -> Vec<u8> {
    let mut h = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n"
    );
    if deflate {
        h.push_str("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n");
    }
    if subprotocol {
        h.push_str("Sec-WebSocket-Protocol: chat\r\n");
    }
    h.push_str("\r\n");
    h.into_bytes()
}

/// A masked client frame (mask key 0x11223344).
fn push_frame(out: &mut Vec<u8>, fin: bool, rsv1: bool, opcode: u8, payload: &[u8]) {
    let key = [0x11u8, 0x22, 0x33, 0x44];
    out.push(u8::from(fin) << 7 | u8::from(rsv1) << 6 | opcode);
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n <= 0xFFFF => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&key);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
}

/// The first byte picks the endpoint (low 3 bits), a deflate offer (0x08),
/// EIO=3 for Socket.IO (0x10) and a subprotocol (0x20). Every following
/// piece (split at 0xFF) is one frame whose first byte sets it up: the
/// opcode (low 3 bits: text, binary, continuation, ping, pong, close, text,
/// text), the payload made valid UTF-8 with `from_utf8_lossy` (0x08), FIN
/// cleared (0x10), RSV1 set (0x20), the payload compressed with
/// permessage-deflate (0x40, sets RSV1); the rest is the payload.
pub fn websocket(data: &[u8]) {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let mut path = PATHS[(ctl & 7) as usize % PATHS.len()].to_string();
    if ctl & 7 == 7 {
        path = "/socket.io/?EIO=4".into();
    }
    if ctl & 0x10 != 0 && path.starts_with("/socket.io") {
        path = path.replace("EIO=4", "EIO=3");
    }
    let deflate = ctl & 0x08 != 0;
    let mut out = upgrade_head(&path, deflate, ctl & 0x20 != 0);
    let mut deflater = Deflater::new(15, false, 1);
    for piece in pieces(rest) {
        let Some((&f, payload)) = piece.split_first() else {
            continue;
        };
        let opcode = [1, 2, 0, 9, 10, 8, 1, 1][(f & 7) as usize];
        let fin = f & 0x10 == 0;
        let lossy;
        let payload = if f & 0x08 != 0 {
            lossy = String::from_utf8_lossy(payload);
            lossy.as_bytes()
        } else {
            payload
        };
        if f & 0x40 != 0 {
            let mut z = Vec::new();
            if deflater.compress(payload, &mut z).is_ok() {
                push_frame(&mut out, fin, true, opcode, &z);
                continue;
            }
        }
        push_frame(&mut out, fin, f & 0x20 != 0, opcode, payload);
    }
    with_server(&out);
}

/// The first byte picks Engine.IO v4 or v3 (bit 0) and a deflate offer
/// (bit 1); every following piece (split at 0xFF) is one text frame, made
/// valid UTF-8 (`from_utf8_lossy`: any stray byte becomes U+FFFD) so that the
/// fuzzer spends its time on Engine.IO and Socket.IO parsing, not on the
/// UTF-8 check in front of it (that one is `frame_reader`'s and `websocket`'s).
pub fn socketio(data: &[u8]) {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let eio = if ctl & 1 == 0 { 4 } else { 3 };
    let mut out = upgrade_head(
        &format!("/socket.io/?EIO={eio}&transport=websocket"),
        ctl & 2 != 0,
        false,
    );
    for piece in pieces(rest) {
        push_frame(
            &mut out,
            true,
            false,
            1,
            String::from_utf8_lossy(piece).as_bytes(),
        );
    }
    with_server(&out);
}
