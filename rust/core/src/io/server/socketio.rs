//! Socket.IO clients (Engine.IO v4 and v3, websocket transport) on the same
//! rooms and lobbies (PROTOCOLS.md 2.4): `42/layout,["JOIN","{...}"]` is the
//! JOIN of /layout; pushes go out as `42/layout,["EVENT",{...}]`.

use super::Server;
use crate::io::conn::Ctx;
use crate::io::event::Event;
use crate::wire::frame::OP_TEXT;

/// Namespaces a Socket.IO client may connect to.
const NAMESPACES: [&str; 3] = ["layout", "bus", "lobby"];

/// Engine.IO's `open` packet.
pub(crate) fn open_packet(eio: u8, sid: &str, ping_interval_ms: u64) -> String {
    let timeout = if eio >= 4 { 20000 } else { 60000 };
    format!(
        "0{{\"sid\":\"{sid}\",\"upgrades\":[],\"pingInterval\":{ping_interval_ms},\"pingTimeout\":{timeout},\"maxPayload\":1000000}}"
    )
}

impl Server {
    fn sio_send(&mut self, slot: usize, data: &[u8]) {
        let ctx = ctx!(self);
        if let Some(conn) = self.conns.get_mut(slot) {
            let was_dirty = conn.dirty;
            let _ = conn.send(OP_TEXT, data, &ctx);
            if !was_dirty {
                self.dirty.push(slot);
            }
        }
    }

    /// One Engine.IO packet from a Socket.IO client.
    pub(super) fn sio_text(
        &mut self,
        slot: usize,
        hook: bool,
        text: &str,
        sink: &mut dyn FnMut(Event<'_>),
    ) {
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
                self.sio_send(slot, &pong);
            }
            // close
            '1' => {
                let ctx = ctx!(self);
                if let Some(c) = self.conns.get_mut(slot) {
                    c.close(1000, "", &ctx);
                    self.dirty.push(slot);
                }
            }
            '4' => self.sio_packet(slot, hook, rest, sink),
            // pong, upgrade, noop
            _ => {}
        }
    }

    fn sio_packet(&mut self, slot: usize, hook: bool, p: &str, sink: &mut dyn FnMut(Event<'_>)) {
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
        let Some(sio) = self.conns[slot].room.as_ref().and_then(|r| r.sio.as_ref()) else {
            return;
        };
        let eio = sio.eio;
        let sid = self.conns[slot]
            .room
            .as_ref()
            .map(|r| r.socket_id.clone())
            .unwrap_or_default();
        match ptype {
            '0' => {
                let known = ns.is_empty() || NAMESPACES.contains(&ns);
                let mut out = Vec::new();
                if !known {
                    if !self.error_allowed(slot) {
                        return;
                    }
                    out.extend_from_slice(
                        format!("44/{ns},{{\"message\":\"Invalid namespace\"}}").as_bytes(),
                    );
                    return self.sio_send(slot, &out);
                }
                out.extend_from_slice(b"40");
                if !ns.is_empty() {
                    out.extend_from_slice(format!("/{ns},").as_bytes());
                }
                if eio >= 4 {
                    out.extend_from_slice(format!("{{\"sid\":\"{sid}\"}}").as_bytes());
                }
                if let Some(s) = self.conns[slot].room.as_mut().and_then(|r| r.sio.as_mut()) {
                    if !s.namespaces.iter().any(|n| &**n == ns) {
                        s.namespaces.push(ns.into());
                    }
                }
                self.sio_send(slot, &out);
            }
            '1' => {
                if ns == "lobby" {
                    self.lobby_leave(slot);
                } else if !ns.is_empty() {
                    let prefix = crate::hub::room_key(ns, "");
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
                if let Some(s) = self.conns[slot].room.as_mut().and_then(|r| r.sio.as_mut()) {
                    s.namespaces.retain(|n| &**n != ns);
                }
            }
            '2' => {
                // An ack id may sit between the namespace and the array.
                let args = rest.trim_start_matches(|c: char| c.is_ascii_digit());
                match ns {
                    "layout" | "bus" => self.room_text(slot, ns, hook, args, sink),
                    "lobby" => self.lobby_text(slot, ns, args),
                    _ => {}
                }
            }
            _ => {}
        }
    }
}
