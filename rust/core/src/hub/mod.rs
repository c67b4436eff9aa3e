//! Pub/sub without sockets: rooms (`/layout`, `/bus`), lobbies and Socket.IO
//! (PROTOCOLS.md section 2).
//!
//! [`Hub`] owns the room table, every connection's hub state (its JOIN
//! name, lobby, socket id, Socket.IO namespaces, error-reply budget) and the
//! command handling. It works on connection slots and acts through an
//! [`Outlet`], which `io::Server` implements: the hub decides what goes to
//! whom, the server frames it once and queues it (`io::server::fanout`).
//!
//! - [`protocol`]: the command parsers and the JSON encoders.
//! - [`rooms`]: membership bookkeeping.
//! - `members`: per-connection state, input dispatch, replies and the
//!   error-reply budget; `room_commands`, `lobby`, `socketio`: the commands
//!   of each flavour; `listing`: what the host (Python) asks and does.
//! - [`keys`]: room keys (namespace + room), shared with the backplane.
mod keys;
mod listing;
mod lobby;
mod members;
mod outlet;
pub mod protocol;
mod room_commands;
pub mod rooms;
mod socketio;

use std::collections::HashMap;

pub use keys::{
    member_field, member_field_room_key, namespace_of, new_socket_id, room_key, split_room_key,
    KEY_SEP,
};
pub use members::{Flavor, Input, ERRORS_PER_WINDOW, ERROR_WINDOW};
pub use outlet::{HubEvent, Outlet};
pub use rooms::{RoomError, RoomId, Rooms};
pub use socketio::{
    event_prefix as socketio_event_prefix, open_packet as socketio_open_packet,
    PING_PACKET as SOCKETIO_PING_PACKET,
};

use members::Member;

/// The namespaces whose members meet in rooms (`/layout`, `/bus`; Socket.IO
/// `/layout`, `/bus`).
pub const ROOM_NAMESPACES: [&str; 2] = ["layout", "bus"];
/// The lobby's namespace (`/lobby`; Socket.IO `/lobby`).
pub const LOBBY_NAMESPACE: &str = "lobby";

/// Rooms, lobbies and Socket.IO state of every hub connection.
#[derive(Default)]
pub struct Hub {
    rooms: Rooms,
    /// Hub state by connection slot (`None`: not a hub connection).
    members: Vec<Option<Box<Member>>>,
    /// Lobby socket ids to connection slots (RTCSIGNAL targets).
    lobby_ids: HashMap<Box<str>, usize>,
    /// Rooms one connection may be in (a JOIN past it is refused).
    max_rooms: usize,
    /// Rooms span processes: NOTIFYs, membership and CLIENTS go to the host.
    backplane: bool,
    /// Error replies not sent (see `ERRORS_PER_WINDOW`).
    errors_dropped: u64,
    /// A payload being built for fan-out (reused).
    payload: Vec<u8>,
}

impl Hub {
    pub fn new(max_rooms_per_connection: usize) -> Self {
        Hub {
            max_rooms: max_rooms_per_connection,
            ..Hub::default()
        }
    }

    /// Rooms span processes (a backplane): NOTIFYs, membership changes and
    /// CLIENTS requests are reported to the host.
    pub fn set_backplane(&mut self, on: bool) {
        self.backplane = on;
    }

    /// Error replies dropped because a connection had had its share.
    pub fn errors_dropped(&self) -> u64 {
        self.errors_dropped
    }
}

#[cfg(test)]
mod tests;
