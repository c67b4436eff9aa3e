//! Pub/sub: rooms of connections and encode-once fan-out.
//!
//! [`rooms::Rooms`] is the membership bookkeeping; the fan-out itself is
//! `Server::publish`, which frames a message once and appends the same
//! bytes to every member's output buffer (flushed with one write per
//! member per loop iteration).
pub mod protocol;
pub mod rooms;

pub use rooms::{RoomId, Rooms};
