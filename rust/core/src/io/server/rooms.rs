//! Room and lobby traffic, handled in Rust (PROTOCOLS.md section 2): a
//! NOTIFY is parsed, framed once as an EVENT and queued to every member; it
//! reaches Python only when the endpoint has a room hook.

use super::{SendError, Server};
use crate::hub::protocol::{
    encode_clients, encode_event, encode_joined, encode_left, encode_message, encode_peers,
    encode_rtcsignal, parse_lobby_command, parse_room_command, LobbyCommand, ProtocolError,
    RoomCommand,
};
use crate::hub::room_key;
use crate::io::chunk::{ChunkWriter, Slice};
use crate::io::conn::{lock, Ctx, Framing, RoomInput, State};
use crate::io::endpoint::Kind;
use crate::io::event::{ConnId, Event};
use crate::wire::frame::{encode_frame, OP_TEXT};
use serde_json::value::RawValue;
use std::borrow::Cow;

/// `42/<namespace>,`: a Socket.IO EVENT packet inside an Engine.IO message.
pub(super) fn sio_event_prefix(out: &mut Vec<u8>, ns: &str) {
    out.extend_from_slice(b"42/");
    out.extend_from_slice(ns.as_bytes());
    out.push(b',');
}

/// The sender of a NOTIFY before its socket JOINed anything.
const UNKNOWN_SENDER: &str = "unknown";

/// Error replies one connection gets per `ERROR_WINDOW`: a flood of invalid
/// commands gets this many answers a second, the rest are dropped (and
/// counted: `ServerStats::errors_dropped`).
pub(crate) const ERRORS_PER_WINDOW: u32 = 32;
pub(crate) const ERROR_WINDOW: std::time::Duration = std::time::Duration::from_secs(1);

impl Server {
    /// Handle what a rooms/lobby connection sent (in order).
    pub(super) fn room_inputs(
        &mut self,
        slot: usize,
        inputs: Vec<RoomInput>,
        sink: &mut dyn FnMut(Event<'_>),
    ) {
        let Some(conn) = self.conns.get(slot) else {
            return;
        };
        let ep = &self.endpoints[conn.endpoint as usize];
        let (kind, hook) = (ep.kind, ep.room_hook);
        let ns = ep.namespace.clone();
        for input in inputs {
            if self.conns.get(slot).map(|c| c.state) != Some(State::Open) {
                return;
            }
            match (kind, input) {
                (Kind::Rooms, RoomInput::Text(t)) => self.room_text(slot, &ns, hook, &t, sink),
                (Kind::Lobby, RoomInput::Text(t)) => self.lobby_text(slot, &ns, &t),
                (Kind::Lobby | Kind::SocketIo, RoomInput::Hello) => self.lobby_hello(slot),
                (Kind::SocketIo, RoomInput::Text(t)) => self.sio_text(slot, hook, &t, sink),
                (Kind::Lobby, RoomInput::ConnectLobby(id)) => self.lobby_join(slot, &ns, &id, true),
                (_, RoomInput::Binary) => self.reply_error(
                    slot,
                    "",
                    &ProtocolError::new(
                        ProtocolError::INVALID_MESSAGE,
                        "room messages are JSON text, not binary",
                    ),
                ),
                _ => {}
            }
        }
    }

    /// Send `data` (a JSON text) to one connection; Socket.IO connections get
    /// it as an event of namespace `ns`.
    pub(super) fn reply(&mut self, slot: usize, ns: &str, data: &[u8]) {
        let ctx = ctx!(self);
        if let Some(conn) = self.conns.get_mut(slot) {
            let was_dirty = conn.dirty;
            let r = match conn.room.as_ref().and_then(|r| r.sio.as_ref()) {
                // (`ns` empty: not an event of a namespace, sent as it is)
                Some(_) if !ns.is_empty() => {
                    let mut framed = Vec::with_capacity(data.len() + ns.len() + 4);
                    sio_event_prefix(&mut framed, ns);
                    framed.extend_from_slice(data);
                    conn.send(OP_TEXT, &framed, &ctx)
                }
                _ => conn.send(OP_TEXT, data, &ctx),
            };
            if r == Err(SendError::Overflow) {
                self.stats.overflow_closes += 1;
            }
            if !was_dirty {
                self.dirty.push(slot);
            }
        }
    }

    pub(super) fn reply_error(&mut self, slot: usize, ns: &str, e: &ProtocolError) {
        if !self.error_allowed(slot) {
            return;
        }
        let mut b = Vec::new();
        e.encode(&mut b);
        self.reply(slot, ns, &b);
    }

    /// Whether this connection may get one more error reply now (at most
    /// `ERRORS_PER_WINDOW` per `ERROR_WINDOW`); a dropped one is counted.
    pub(super) fn error_allowed(&mut self, slot: usize) -> bool {
        let now = self.now;
        let Some(rc) = self.conns.get_mut(slot).and_then(|c| c.room.as_mut()) else {
            return true;
        };
        if rc
            .errors_since
            .is_none_or(|t| now.saturating_duration_since(t) >= ERROR_WINDOW)
        {
            rc.errors_since = Some(now);
            rc.errors = 0;
        }
        if rc.errors < ERRORS_PER_WINDOW {
            rc.errors += 1;
            true
        } else {
            self.stats.errors_dropped += 1;
            false
        }
    }

    pub(super) fn room_text(
        &mut self,
        slot: usize,
        ns: &str,
        hook: bool,
        text: &str,
        sink: &mut dyn FnMut(Event<'_>),
    ) {
        let cmd = match parse_room_command(text) {
            Ok(c) => c,
            Err(e) => return self.reply_error(slot, ns, &e),
        };
        match cmd {
            RoomCommand::Join { room, name } => {
                let key = room_key(ns, &room);
                let max = self.cfg.max_rooms_per_connection;
                if self.rooms.room_count(slot) >= max && !self.rooms.is_member(slot, &key) {
                    let e = ProtocolError::new(
                        ProtocolError::TOO_MANY_ROOMS,
                        format!("JOIN: this connection is in {max} rooms already (the most allowed): LEAVE one first"),
                    );
                    return self.reply_error(slot, ns, &e);
                }
                self.rooms.join_as(slot, &key, &name);
                let conn = &mut self.conns[slot];
                if let Some(rc) = conn.room.as_mut() {
                    rc.nick = Some((*name).into());
                }
                if self.backplane {
                    sink(Event::RoomMembership {
                        conn: conn.id,
                        namespace: ns,
                        room: &room,
                        name: &name,
                        joined: true,
                    });
                }
            }
            RoomCommand::Leave { room } => {
                let left = self.rooms.leave(slot, &room_key(ns, &room));
                if left && self.backplane {
                    let conn = &self.conns[slot];
                    let name = conn
                        .room
                        .as_ref()
                        .and_then(|r| r.nick.as_deref())
                        .unwrap_or("");
                    sink(Event::RoomMembership {
                        conn: conn.id,
                        namespace: ns,
                        room: &room,
                        name,
                        joined: false,
                    });
                }
            }
            RoomCommand::Notify { room, message } => {
                let conn = &self.conns[slot];
                // The name it joined this room under; else its last JOIN's name.
                let sender: String = self
                    .rooms
                    .name_of(slot, &room_key(ns, &room))
                    .or_else(|| conn.room.as_ref().and_then(|r| r.nick.as_deref()))
                    .unwrap_or(UNKNOWN_SENDER)
                    .to_string();
                if hook {
                    sink(Event::RoomNotify {
                        conn: conn.id,
                        namespace: ns,
                        room: &room,
                        sender: &sender,
                        message: message.get(),
                    });
                } else {
                    self.publish_event_raw(ns, &room, &sender, &message, Some(slot));
                    if self.backplane {
                        sink(Event::RoomForward {
                            namespace: ns,
                            room: &room,
                            sender: &sender,
                            message: message.get(),
                        });
                    }
                }
            }
            RoomCommand::Clients { room } if self.backplane => {
                sink(Event::RoomClients {
                    conn: self.conns[slot].id,
                    namespace: ns,
                    room: &room,
                });
            }
            RoomCommand::Clients { room } => {
                let mut b = Vec::new();
                encode_clients(
                    &mut b,
                    &room,
                    &self.rooms.member_names(&room_key(ns, &room)),
                );
                self.reply(slot, ns, &b);
            }
        }
    }

    /// Frame `["EVENT", {sender, room, message}]` once and queue it to the
    /// room's members but `exclude`. Returns (delivered, overflowed).
    pub(super) fn publish_event_raw(
        &mut self,
        ns: &str,
        room: &str,
        sender: &str,
        message: &RawValue,
        exclude: Option<usize>,
    ) -> (usize, usize) {
        let mut payload = std::mem::take(&mut self.payload);
        payload.clear();
        encode_event(&mut payload, sender, room, message);
        let r = self.fan_out(&room_key(ns, room), OP_TEXT, &payload, exclude);
        self.payload = payload;
        r
    }

    /// Publish an EVENT from Python or HTTP; `message` must be one JSON value.
    pub fn publish_event(
        &mut self,
        ns: &str,
        room: &str,
        sender: &str,
        message: &str,
        exclude: Option<ConnId>,
    ) -> Result<(usize, usize), crate::hub::RoomError> {
        let raw: &RawValue =
            serde_json::from_str(message).map_err(crate::hub::RoomError::NotJson)?;
        let exclude = exclude.and_then(|id| self.slot_of_live(id));
        Ok(self.publish_event_raw(ns, room, sender, raw, exclude))
    }

    /// Frame `data` once and queue it to every open member of room `key` but
    /// `exclude` (Socket.IO members get it framed once more, as an event of
    /// the room's namespace).
    pub(super) fn fan_out(
        &mut self,
        key: &str,
        op: u8,
        data: &[u8],
        exclude: Option<usize>,
    ) -> (usize, usize) {
        // Framed once, copied once into a shared chunk; members queue slices.
        // Socket.IO members get the event in a Socket.IO packet; members that
        // agreed deflate without context takeover share one compressed frame
        // per window size; only members compressing with their own context
        // get a frame of their own.
        let mut plain = Frames::new(op, Cow::Borrowed(data), 0);
        let mut sio: Option<Frames> = None;
        let ctx = ctx!(self);
        let (mut sent, mut over) = (0, 0);
        for &slot in self.rooms.members(key) {
            if Some(slot) == exclude {
                continue;
            }
            let conn = &mut self.conns[slot];
            let was_dirty = conn.dirty;
            let frames = if conn.kind == Kind::SocketIo {
                sio.get_or_insert_with(|| {
                    let ns = key.split_once('\u{1}').map_or("", |(ns, _)| ns);
                    let mut p = Vec::with_capacity(ns.len() + data.len() + 16);
                    sio_event_prefix(&mut p, ns);
                    p.extend_from_slice(data);
                    Frames::new(OP_TEXT, Cow::Owned(p), 2)
                })
            } else {
                &mut plain
            };
            let r = match conn.framing(frames.data.len()) {
                Framing::Plain => {
                    let f = frames.plain(&mut self.frame, &mut self.shared);
                    conn.send_slice(f, &ctx)
                }
                Framing::Deflated(bits) => {
                    let f = frames.deflated(bits, &mut self.frame, &mut self.shared, &ctx);
                    conn.send_slice(f, &ctx)
                }
                Framing::Own => conn.send(frames.op, &frames.data, &ctx),
            };
            match r {
                Ok(()) => sent += 1,
                Err(SendError::Overflow) => over += 1,
                Err(SendError::NotOpen) => continue,
            }
            if !was_dirty {
                self.dirty.push(slot);
            }
        }
        self.stats.overflow_closes += over as u64;
        self.stats.fanout_deliveries += sent as u64;
        (sent, over)
    }

    fn socket_id(&self, slot: usize) -> Box<str> {
        self.conns[slot]
            .room
            .as_ref()
            .map(|r| r.socket_id.clone())
            .unwrap_or_default()
    }

    fn lobby_hello(&mut self, slot: usize) {
        let id = self.socket_id(slot);
        self.lobby_ids.insert(id, slot);
    }

    pub(super) fn lobby_text(&mut self, slot: usize, ns: &str, text: &str) {
        let cmd = match parse_lobby_command(text) {
            Ok(c) => c,
            Err(e) => return self.reply_error(slot, ns, &e),
        };
        match cmd {
            LobbyCommand::Join { lobby } => self.lobby_join(slot, ns, &lobby, false),
            LobbyCommand::Leave { lobby } => {
                let key = room_key(ns, &lobby);
                if self.conns[slot]
                    .room
                    .as_ref()
                    .and_then(|r| r.lobby.as_deref())
                    == Some(&*key)
                {
                    self.lobby_leave(slot);
                } else {
                    let e = ProtocolError::new(
                        ProtocolError::INVALID_FIELD,
                        format!("LEAVE: not in lobby {lobby:?}"),
                    );
                    self.reply_error(slot, ns, &e);
                }
            }
            LobbyCommand::Broadcast { message } => {
                let Some(key) = self.conns[slot].room.as_ref().and_then(|r| r.lobby.clone()) else {
                    let e = ProtocolError::new(
                        ProtocolError::INVALID_FIELD,
                        "BROADCAST: JOIN a lobby first",
                    );
                    return self.reply_error(slot, ns, &e);
                };
                let id = self.socket_id(slot);
                let mut payload = Vec::new();
                encode_message(&mut payload, &id, &message);
                self.fan_out(&key, OP_TEXT, &payload, None);
            }
            LobbyCommand::RtcSignal { to, signal } => match self.lobby_ids.get(&*to).copied() {
                Some(target) => {
                    let mut payload = Vec::new();
                    encode_rtcsignal(&mut payload, &signal);
                    self.reply(target, ns, &payload);
                }
                None => {
                    let e = ProtocolError::new(
                        ProtocolError::INVALID_FIELD,
                        format!("RTCSIGNAL: no socket {to:?}"),
                    );
                    self.reply_error(slot, ns, &e);
                }
            },
        }
    }

    fn lobby_join(&mut self, slot: usize, ns: &str, lobby: &str, on_connect: bool) {
        let key = room_key(ns, lobby);
        let current = self.conns[slot].room.as_ref().and_then(|r| r.lobby.clone());
        if current.as_deref() == Some(&*key) {
            return;
        }
        if current.is_some() {
            self.lobby_leave(slot);
        }
        let id = self.socket_id(slot);
        self.lobby_ids.insert(id.clone(), slot);
        if on_connect {
            let peers: Vec<Box<str>> = self
                .rooms
                .members(&key)
                .iter()
                .map(|&s| self.socket_id(s))
                .collect();
            let refs: Vec<&str> = peers.iter().map(|p| &**p).collect();
            let mut b = Vec::new();
            encode_peers(&mut b, &refs);
            self.reply(slot, ns, &b);
        }
        self.rooms.join(slot, &key);
        if let Some(rc) = self.conns[slot].room.as_mut() {
            rc.lobby = Some(key.clone().into());
        }
        let mut b = Vec::new();
        encode_joined(&mut b, &id);
        self.fan_out(&key, OP_TEXT, &b, on_connect.then_some(slot));
    }

    /// Leave the current lobby; the remaining members get LEFT.
    pub(super) fn lobby_leave(&mut self, slot: usize) {
        let Some(key) = self
            .conns
            .get_mut(slot)
            .and_then(|c| c.room.as_mut())
            .and_then(|r| r.lobby.take())
        else {
            return;
        };
        self.rooms.leave(slot, &key);
        let id = self.socket_id(slot);
        let mut b = Vec::new();
        encode_left(&mut b, &id);
        self.fan_out(&key, OP_TEXT, &b, None);
    }
}

/// One fan-out message's frames, each made on first use: plain, and
/// compressed per window size (8..=15).
struct Frames<'a> {
    op: u8,
    /// The chunk writer of the plain frame; deflated frames use the next.
    writer: usize,
    data: Cow<'a, [u8]>,
    plain: Option<Slice>,
    deflated: [Option<Slice>; 8],
}

impl<'a> Frames<'a> {
    fn new(op: u8, data: Cow<'a, [u8]>, writer: usize) -> Self {
        Frames {
            op,
            writer,
            data,
            plain: None,
            deflated: Default::default(),
        }
    }

    fn plain(&mut self, scratch: &mut Vec<u8>, chunks: &mut [ChunkWriter; 4]) -> &Slice {
        let (op, data, w) = (self.op, &self.data, self.writer);
        self.plain.get_or_insert_with(|| {
            scratch.clear();
            encode_frame(scratch, op, data, false);
            chunks[w].append(scratch)
        })
    }

    fn deflated(
        &mut self,
        bits: u8,
        scratch: &mut Vec<u8>,
        chunks: &mut [ChunkWriter; 4],
        ctx: &Ctx<'_>,
    ) -> &Slice {
        let i = usize::from(bits.clamp(8, 15) - 8);
        if self.deflated[i].is_none() {
            let mut z = Vec::with_capacity(self.data.len() / 2 + 64);
            let f = if lock(ctx.deflaters)
                .compress(bits, &self.data, &mut z)
                .is_ok()
            {
                scratch.clear();
                encode_frame(scratch, self.op, &z, true);
                chunks[self.writer + 1].append(scratch)
            } else {
                // uncompressed is always allowed (RSV1 clear)
                self.plain(scratch, chunks).clone()
            };
            self.deflated[i] = Some(f);
        }
        self.deflated[i].as_ref().expect("just set")
    }
}
