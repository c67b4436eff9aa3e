//! Pub/sub: rooms of connections and encode-once fan-out.
//!
//! [`rooms::Rooms`] is the membership bookkeeping; the fan-out itself is
//! `Server::publish`, which frames a message once and appends the same
//! bytes to every member's output buffer (flushed with one write per
//! member per loop iteration).
pub mod protocol;
pub mod rooms;

pub use rooms::{RoomId, Rooms};

/// A random (v4) UUID for a lobby socket.
pub fn new_socket_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The key of `room` in `namespace` in the shared room table.
pub fn room_key(namespace: &str, room: &str) -> String {
    let mut k = String::with_capacity(namespace.len() + 1 + room.len());
    k.push_str(namespace);
    k.push('\u{1}');
    k.push_str(room);
    k
}
