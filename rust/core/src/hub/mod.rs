//! Pub/sub: rooms of connections and encode-once fan-out.
//!
//! [`rooms::Rooms`] is the membership bookkeeping; the fan-out itself is
//! `Server::publish` (`io::server::rooms`), which frames a message once,
//! copies it once into a shared chunk (`io::chunk`) and queues a reference
//! to it for every member (`io::outq`; one `writev` per member per loop
//! iteration).
pub mod protocol;
pub mod rooms;

pub use rooms::{RoomError, RoomId, Rooms};

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
