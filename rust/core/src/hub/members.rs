//! Each hub connection's state, the dispatch of what it sent, and replies
//! (with the error-reply budget).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::outlet::{HubEvent, Outlet};
use super::protocol::{ErrorCode, ProtocolError};
use super::socketio::SioState;
use super::{new_socket_id, Hub};

/// Error replies one connection gets per `ERROR_WINDOW`: a flood of invalid
/// commands gets this many answers a second, the rest are dropped (and
/// counted: `Hub::errors_dropped`).
pub const ERRORS_PER_WINDOW: u32 = 32;
pub const ERROR_WINDOW: Duration = Duration::from_secs(1);

/// The protocol a hub connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// `/layout`, `/bus`: JOIN, LEAVE, NOTIFY, CLIENTS.
    Rooms,
    /// `/lobby`: JOIN, LEAVE, BROADCAST, RTCSIGNAL.
    Lobby,
    /// `/socket.io/`: both, in Engine.IO/Socket.IO packets.
    SocketIo,
}

/// What a hub connection did, in order (queued by the connection while it
/// parses, handled by the hub after).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The WebSocket opened.
    Opened {
        flavor: Flavor,
        /// The endpoint's namespace (`layout`, `bus`, `lobby`).
        namespace: Box<str>,
        /// The endpoint has a room hook: NOTIFYs go to the host.
        hook: bool,
        /// Socket.IO: the Engine.IO version (3 or 4) and ping interval.
        eio: u8,
        ping_interval_ms: u64,
        /// Lobby: `?lobbyId=` of the upgrade request.
        lobby: Option<String>,
    },
    Text(String),
    /// A binary message (hub traffic is JSON text): answered with an ERROR.
    Binary,
}

impl Input {
    /// The `Opened` input of a new hub connection of `flavor`, from its
    /// endpoint (`namespace`, `hook`, the ping interval it was given) and the
    /// upgrade's query string (Engine.IO `EIO=3|4`, the lobby's `lobbyId`).
    pub fn opened(
        flavor: Flavor,
        namespace: &str,
        hook: bool,
        query: &str,
        ping_interval: Option<std::time::Duration>,
    ) -> Input {
        let param = |name: &str| crate::wire::handshake::query_param(query, name);
        Input::Opened {
            flavor,
            namespace: namespace.into(),
            hook,
            eio: super::socketio::eio_version(param("EIO").as_deref()),
            ping_interval_ms: ping_interval
                .unwrap_or(super::socketio::DEFAULT_PING_INTERVAL)
                .as_millis() as u64,
            lobby: param("lobbyId"),
        }
    }

    /// Whether the connection this input opens is pinged in band (an
    /// Engine.IO v4 `2` packet, [`PING_PACKET`](super::socketio::PING_PACKET))
    /// rather than with WebSocket pings.
    pub fn pings_in_band(&self) -> bool {
        matches!(self, Input::Opened { flavor: Flavor::SocketIo, eio, .. } if *eio >= 4)
    }
}

/// The sender of a NOTIFY before its socket JOINed anything.
pub(super) const UNKNOWN_SENDER: &str = "unknown";

/// One hub connection's state.
pub(super) struct Member {
    pub flavor: Flavor,
    pub namespace: Arc<str>,
    pub hook: bool,
    /// The name of the last JOIN (`/layout`, `/bus`): the sender of NOTIFYs.
    pub nick: Option<Box<str>>,
    /// Lobby or Socket.IO socket id (a UUID).
    pub socket_id: Box<str>,
    /// The lobby this socket is in (its room key).
    pub lobby: Option<Box<str>>,
    /// Socket.IO framing (a `/socket.io/` connection).
    pub sio: Option<SioState>,
    /// Error replies sent in the current window, and when it began.
    pub errors: u32,
    pub errors_since: Option<Instant>,
}

impl Hub {
    pub(super) fn member(&self, slot: usize) -> Option<&Member> {
        self.members.get(slot).and_then(|m| m.as_deref())
    }

    pub(super) fn member_mut(&mut self, slot: usize) -> Option<&mut Member> {
        self.members.get_mut(slot).and_then(|m| m.as_deref_mut())
    }

    pub(super) fn socket_id(&self, slot: usize) -> Box<str> {
        self.member(slot)
            .map(|m| m.socket_id.clone())
            .unwrap_or_default()
    }

    /// Handle what connection `slot` sent, in order; stops when it is no
    /// longer open.
    pub fn handle(&mut self, slot: usize, inputs: Vec<Input>, out: &mut dyn Outlet) {
        // What the commands need of the member, read once per batch (a
        // burst of NOTIFYs is one batch) and again after it opened.
        let info = |hub: &Hub| {
            hub.member(slot)
                .map(|m| (m.flavor, m.hook, Arc::clone(&m.namespace)))
        };
        let mut member = info(self);
        for input in inputs {
            if !out.is_open(slot) {
                return;
            }
            if let Input::Opened { .. } = input {
                self.open(slot, input, out);
                member = info(self);
                continue;
            }
            let Some((flavor, hook, ns)) = &member else {
                return;
            };
            let (flavor, hook) = (*flavor, *hook);
            match (flavor, input) {
                (Flavor::Rooms, Input::Text(t)) => self.room_text(slot, ns, hook, &t, out),
                (Flavor::Lobby, Input::Text(t)) => self.lobby_text(slot, ns, &t, out),
                (Flavor::SocketIo, Input::Text(t)) => self.sio_text(slot, hook, &t, out),
                (_, Input::Binary) => self.reply_error(
                    slot,
                    "",
                    &ProtocolError::new(
                        ErrorCode::InvalidMessage,
                        "room messages are JSON text, not binary",
                    ),
                    out,
                ),
                (_, Input::Opened { .. }) => {}
            }
        }
    }

    fn open(&mut self, slot: usize, input: Input, out: &mut dyn Outlet) {
        let Input::Opened {
            flavor,
            namespace,
            hook,
            eio,
            ping_interval_ms,
            lobby,
        } = input
        else {
            return;
        };
        if self.members.len() <= slot {
            self.members.resize_with(slot + 1, || None);
        }
        let socket_id: Box<str> = match flavor {
            Flavor::Rooms => "".into(),
            Flavor::Lobby | Flavor::SocketIo => new_socket_id().into(),
        };
        let sio = (flavor == Flavor::SocketIo).then(|| SioState::new(eio));
        self.members[slot] = Some(Box::new(Member {
            flavor,
            namespace: Arc::from(&*namespace),
            hook,
            nick: None,
            socket_id: socket_id.clone(),
            lobby: None,
            sio,
            errors: 0,
            errors_since: None,
        }));
        if flavor == Flavor::SocketIo {
            out.send(
                slot,
                super::socketio::open_packet(eio, &socket_id, ping_interval_ms).as_bytes(),
            );
            if eio == 3 {
                // v3 clients are connected to the default namespace at once.
                out.send(slot, b"40");
            }
        }
        if flavor != Flavor::Rooms {
            // Reachable by its id (RTCSIGNAL).
            self.lobby_ids.insert(socket_id, slot);
        }
        if let Some(id) = lobby.filter(|s| !s.is_empty()) {
            if flavor == Flavor::Lobby {
                self.lobby_join(slot, &namespace, &id, true, out);
            }
        }
    }

    /// Connection `slot` is gone: it leaves its lobby (the others hear LEFT)
    /// and every room (the host hears of each, backplane on). Call while
    /// the `Outlet` still knows the slot.
    pub fn disconnect(&mut self, slot: usize, out: &mut dyn Outlet) {
        if let Some(m) = self.member(slot) {
            let id = m.socket_id.clone();
            if self.lobby_ids.get(&id) == Some(&slot) {
                self.lobby_ids.remove(&id);
            }
            self.lobby_leave(slot, out);
        }
        let left = self.rooms.leave_all(slot);
        let member = self.members.get_mut(slot).and_then(Option::take);
        if self.backplane && member.as_ref().is_some_and(|m| m.flavor == Flavor::Rooms) {
            let name = member
                .as_ref()
                .and_then(|m| m.nick.as_deref())
                .unwrap_or("");
            for key in &left {
                if let Some((namespace, room)) = super::split_room_key(key) {
                    out.report(HubEvent::Membership {
                        slot,
                        namespace,
                        room,
                        name,
                        joined: false,
                    });
                }
            }
        }
    }

    /// Send `data` (a JSON text) to one connection; Socket.IO connections get
    /// it as an event of namespace `ns` (`ns` empty: sent as it is).
    pub(super) fn reply(&mut self, slot: usize, ns: &str, data: &[u8], out: &mut dyn Outlet) {
        let sio = self.member(slot).is_some_and(|m| m.sio.is_some());
        if sio && !ns.is_empty() {
            let mut framed = Vec::with_capacity(data.len() + ns.len() + 4);
            super::socketio::event_prefix(&mut framed, ns);
            framed.extend_from_slice(data);
            out.send(slot, &framed);
        } else {
            out.send(slot, data);
        }
    }

    pub(super) fn reply_error(
        &mut self,
        slot: usize,
        ns: &str,
        e: &ProtocolError,
        out: &mut dyn Outlet,
    ) {
        if !self.error_allowed(slot, out.now()) {
            return;
        }
        let mut b = Vec::new();
        e.encode(&mut b);
        self.reply(slot, ns, &b, out);
    }

    /// Whether this connection may get one more error reply now (at most
    /// `ERRORS_PER_WINDOW` per `ERROR_WINDOW`); a dropped one is counted.
    pub(super) fn error_allowed(&mut self, slot: usize, now: Instant) -> bool {
        let Some(m) = self.member_mut(slot) else {
            return true;
        };
        if m.errors_since
            .is_none_or(|t| now.saturating_duration_since(t) >= ERROR_WINDOW)
        {
            m.errors_since = Some(now);
            m.errors = 0;
        }
        if m.errors < ERRORS_PER_WINDOW {
            m.errors += 1;
            true
        } else {
            self.errors_dropped += 1;
            false
        }
    }
}
