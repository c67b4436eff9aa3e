//! The subset of scanbridge's rooms protocol the B1/B2/S1 scenarios use,
//! and how their messages are laid out so that every server sends the same
//! bytes and the client can read a sequence number at a fixed offset.
//!
//! - `["JOIN",{"room":"bench","name":"c00017"}]` (names are 6 characters)
//! - `["NOTIFY",{"room":"bench","message":{"r":"00000042","p":"aaaa"}}]`,
//!   the message exactly `size` bytes of compact ASCII JSON: `r` is the
//!   sequence number (8 digits, a string so that it has a fixed width); a
//!   probe (used to learn that every JOIN was processed) has the key `q`
//!   instead of `r`.
//! - every other member gets
//!   `["EVENT",{"sender":"c00017","room":"bench","message":{"r":"00000042","p":"aaaa"}}]`;
//!   a peer that re-serializes the message with compact separators sends
//!   the same bytes as scanbridge, which copies it raw.

use crate::engine::Msg;
use crate::ws;

pub const ROOM: &str = "bench";
const DIGITS: usize = 8;
const SEQ_MAX: u32 = 99_999_999;
/// `{"r":"` + 8 digits + `","p":"` + `"}`
pub const MIN_SIZE: usize = 23;

/// A member's name: always 6 characters, so every EVENT has the same layout.
pub fn name(prefix: char, i: usize) -> String {
    format!("{prefix}{:05}", i % 100_000)
}

pub fn join_frame(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let payload = format!("[\"JOIN\",{{\"room\":\"{ROOM}\",\"name\":\"{name}\"}}]");
    ws::encode_frame(&mut out, ws::OP_TEXT, payload.as_bytes());
    out
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// a data message with its sequence number; `ok` is false when its
    /// length is not the expected one
    Data { seq: u32, ok: bool },
    Probe,
    /// not an EVENT of ours (a server error reply, a binary frame, ...)
    Other,
}

pub struct Layout {
    /// a whole NOTIFY frame (client-masked with a zero key), patched in place
    notify: Vec<u8>,
    /// offset of the message's key byte (`r` / `q`) in `notify`
    notify_key: usize,
    /// offset of the first digit in `notify`
    notify_digits: usize,
    /// payload length of every data EVENT
    pub event_len: u64,
    /// offset in an EVENT's payload of `{"r":"`
    event_msg: usize,
}

impl Layout {
    pub fn new(size: usize) -> Result<Layout, String> {
        if size < MIN_SIZE {
            return Err(format!("--size must be at least {MIN_SIZE} (a message is {{\"r\":\"00000000\",\"p\":\"...\"}})"));
        }
        let pad: String = (0..size - MIN_SIZE).map(|i| (b'a' + (i % 26) as u8) as char).collect();
        let msg = format!("{{\"r\":\"{}\",\"p\":\"{pad}\"}}", "0".repeat(DIGITS));
        debug_assert_eq!(msg.len(), size);
        let head = format!("[\"NOTIFY\",{{\"room\":\"{ROOM}\",\"message\":");
        let payload = format!("{head}{msg}}}]");
        let mut notify = Vec::new();
        ws::encode_frame(&mut notify, ws::OP_TEXT, payload.as_bytes());
        let hdr = notify.len() - payload.len();
        let notify_key = hdr + head.len() + 2;
        let notify_digits = hdr + head.len() + 6;
        let ev_head = format!("[\"EVENT\",{{\"sender\":\"{}\",\"room\":\"{ROOM}\",\"message\":", name('c', 0));
        let event_msg = ev_head.len();
        if event_msg + 6 + DIGITS > crate::engine::MSG_PREFIX {
            return Err("internal: EVENT prefix longer than the captured prefix".into());
        }
        Ok(Layout {
            notify,
            notify_key,
            notify_digits,
            event_len: (ev_head.len() + size + 2) as u64,
            event_msg,
        })
    }

    /// Appends one NOTIFY frame (data, or a probe) with sequence number `seq`.
    pub fn put_notify(&mut self, out: &mut Vec<u8>, seq: u32, probe: bool) {
        let mut n = seq.min(SEQ_MAX);
        for i in (0..DIGITS).rev() {
            self.notify[self.notify_digits + i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
        self.notify[self.notify_key] = if probe { b'q' } else { b'r' };
        out.extend_from_slice(&self.notify);
    }

    /// What an incoming message is.
    #[inline]
    pub fn classify(&self, m: &Msg) -> Kind {
        let p = m.prefix();
        let o = self.event_msg;
        if m.opcode != ws::OP_TEXT || p.len() < o + 6 + DIGITS || !p.starts_with(b"[\"EVENT\",") {
            return Kind::Other;
        }
        let k = &p[o..o + 6];
        let probe = match k {
            b"{\"r\":\"" => false,
            b"{\"q\":\"" => true,
            _ => return Kind::Other,
        };
        if probe {
            return Kind::Probe;
        }
        let mut seq = 0u32;
        for &d in &p[o + 6..o + 6 + DIGITS] {
            if !d.is_ascii_digit() {
                return Kind::Other;
            }
            seq = seq * 10 + (d - b'0') as u32;
        }
        Kind::Data { seq, ok: m.len == self.event_len }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::MSG_PREFIX;

    fn as_msg(payload: &[u8]) -> Msg {
        let mut prefix = [0u8; MSG_PREFIX];
        let n = payload.len().min(MSG_PREFIX);
        prefix[..n].copy_from_slice(&payload[..n]);
        Msg { opcode: ws::OP_TEXT, len: payload.len() as u64, prefix, prefix_len: n as u8, compressed: false }
    }

    #[test]
    fn notify_and_event_layout() {
        let mut l = Layout::new(64).unwrap();
        let mut f = Vec::new();
        l.put_notify(&mut f, 42, false);
        // 2 header bytes + 4 mask bytes (payload < 126)
        let payload = std::str::from_utf8(&f[6..]).unwrap();
        assert!(payload.starts_with("[\"NOTIFY\",{\"room\":\"bench\",\"message\":{\"r\":\"00000042\",\"p\":\"abc"));
        let msg = &payload["[\"NOTIFY\",{\"room\":\"bench\",\"message\":".len()..payload.len() - 2];
        assert_eq!(msg.len(), 64);
        let ev = format!("[\"EVENT\",{{\"sender\":\"c00017\",\"room\":\"bench\",\"message\":{msg}}}]");
        assert_eq!(l.classify(&as_msg(ev.as_bytes())), Kind::Data { seq: 42, ok: true });
        let ev2 = format!("[\"EVENT\",{{\"sender\":\"p00000\",\"room\":\"bench\",\"message\":{msg} }}]");
        assert_eq!(l.classify(&as_msg(ev2.as_bytes())), Kind::Data { seq: 42, ok: false });
        let mut g = Vec::new();
        l.put_notify(&mut g, 7, true);
        let probe = std::str::from_utf8(&g[6..]).unwrap().replace("[\"NOTIFY\",{\"room\":\"bench\",", "[\"EVENT\",{\"sender\":\"c00000\",\"room\":\"bench\",");
        assert_eq!(l.classify(&as_msg(probe.as_bytes())), Kind::Probe);
        assert_eq!(l.classify(&as_msg(b"[\"ERROR\",{}]")), Kind::Other);
    }
}
