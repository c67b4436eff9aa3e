//! Socket.IO clients (Engine.IO v4 and v3, websocket transport) on the same
//! rooms and lobbies (PROTOCOLS.md 2.4): `42/layout,["JOIN","{...}"]` is the
//! JOIN of /layout; pushes go out as `42/layout,["EVENT",{...}]`.

use super::outlet::Outlet;
use super::{room_key, Hub, LOBBY_NAMESPACE, ROOM_NAMESPACES};

/// Namespaces a Socket.IO client may connect to.
const NAMESPACES: [&str; 3] = [ROOM_NAMESPACES[0], ROOM_NAMESPACES[1], LOBBY_NAMESPACE];

/// A Socket.IO connection's state.
pub(super) struct SioState {
    /// Engine.IO protocol version (3 or 4).
    pub eio: u8,
    /// Socket.IO namespaces connected.
    pub namespaces: Vec<Box<str>>,
}

impl SioState {
    pub fn new(eio: u8) -> Self {
        SioState {
            eio,
            namespaces: Vec::new(),
        }
    }
}

/// The ping interval of a Socket.IO endpoint that was given none (Engine.IO's
/// default).
pub const DEFAULT_PING_INTERVAL: std::time::Duration = std::time::Duration::from_secs(25);

/// Engine.IO v4's ping: the server sends it, the client answers `3`.
pub const PING_PACKET: &[u8] = b"2";

/// The Engine.IO version a client asked for with `?EIO=`: 3, or 4 (the
/// default, and for anything else).
pub fn eio_version(param: Option<&str>) -> u8 {
    match param {
        Some("3") => 3,
        _ => 4,
    }
}

/// Engine.IO's `open` packet.
pub fn open_packet(eio: u8, sid: &str, ping_interval_ms: u64) -> String {
    let timeout = if eio >= 4 { 20000 } else { 60000 };
    format!(
        "0{{\"sid\":\"{sid}\",\"upgrades\":[],\"pingInterval\":{ping_interval_ms},\"pingTimeout\":{timeout},\"maxPayload\":1000000}}"
    )
}

/// `42/<namespace>,`: a Socket.IO EVENT packet inside an Engine.IO message.
pub fn event_prefix(out: &mut Vec<u8>, ns: &str) {
    out.extend_from_slice(b"42/");
    out.extend_from_slice(ns.as_bytes());
    out.push(b',');
}

impl Hub {
    /// One Engine.IO packet from a Socket.IO client.
    pub(super) fn sio_text(&mut self, slot: usize, hook: bool, text: &str, out: &mut dyn Outlet) {
        // The packet type is one character, which need not be ASCII: split
        // by chars, never at byte 1 (`4é` once panicked here).
        let mut chars = text.chars();
        let Some(kind) = chars.next() else {
            return;
        };
        let rest = chars.as_str();
        match kind {
            // ping (v3 clients ping; probes too): answer pong with the same data
            '2' => {
                let mut pong = Vec::with_capacity(text.len());
                pong.push(b'3');
                pong.extend_from_slice(rest.as_bytes());
                out.send(slot, &pong);
            }
            // close
            '1' => out.close(slot),
            '4' => self.sio_packet(slot, hook, rest, out),
            // pong, upgrade, noop
            _ => {}
        }
    }

    fn sio_packet(&mut self, slot: usize, hook: bool, p: &str, out: &mut dyn Outlet) {
        let mut chars = p.chars();
        let Some(ptype) = chars.next() else {
            return;
        };
        let rest = chars.as_str();
        let (ns, rest) = match rest.strip_prefix('/') {
            Some(r) => match r.find(',') {
                Some(i) => (&r[..i], &r[i + 1..]),
                None => (r, ""),
            },
            None => ("", rest),
        };
        let Some(eio) = self
            .member(slot)
            .and_then(|m| m.sio.as_ref())
            .map(|s| s.eio)
        else {
            return;
        };
        match ptype {
            '0' => {
                let known = ns.is_empty() || NAMESPACES.contains(&ns);
                if !known {
                    if !self.error_allowed(slot, out.now()) {
                        return;
                    }
                    let refusal = format!("44/{ns},{{\"message\":\"Invalid namespace\"}}");
                    return out.send(slot, refusal.as_bytes());
                }
                let mut ok = Vec::from(&b"40"[..]);
                if !ns.is_empty() {
                    ok.extend_from_slice(format!("/{ns},").as_bytes());
                }
                if eio >= 4 {
                    let sid = self.socket_id(slot);
                    ok.extend_from_slice(format!("{{\"sid\":\"{sid}\"}}").as_bytes());
                }
                if let Some(s) = self.member_mut(slot).and_then(|m| m.sio.as_mut()) {
                    if !s.namespaces.iter().any(|n| &**n == ns) {
                        s.namespaces.push(ns.into());
                    }
                }
                out.send(slot, &ok);
            }
            '1' => {
                if ns == LOBBY_NAMESPACE {
                    self.lobby_leave(slot, out);
                } else if !ns.is_empty() {
                    let prefix = room_key(ns, "");
                    let mine: Vec<String> = self
                        .rooms
                        .rooms_of(slot)
                        .into_iter()
                        .filter(|k| k.starts_with(&prefix))
                        .map(String::from)
                        .collect();
                    for k in mine {
                        self.rooms.leave(slot, &k);
                    }
                }
                if let Some(s) = self.member_mut(slot).and_then(|m| m.sio.as_mut()) {
                    s.namespaces.retain(|n| &**n != ns);
                }
            }
            '2' => {
                // An ack id may sit between the namespace and the array.
                let args = rest.trim_start_matches(|c: char| c.is_ascii_digit());
                if ROOM_NAMESPACES.contains(&ns) {
                    self.room_text(slot, ns, hook, args, out);
                } else if ns == LOBBY_NAMESPACE {
                    self.lobby_text(slot, ns, args, out);
                }
            }
            _ => {}
        }
    }
}
