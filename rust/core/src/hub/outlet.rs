//! What the hub needs from the sockets, and what it tells the host.
//!
//! The hub works on connection *slots* and never touches a socket: it asks
//! an [`Outlet`] (implemented by `io::Server`) to queue bytes, fan a message
//! out, close a connection or report something to the host (Python).

use std::time::Instant;

/// What the hub reports to the host. `slot` is the connection's slot; the
/// server turns it into the connection's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HubEvent<'a> {
    /// A NOTIFY on a rooms endpoint with a room hook: the host publishes it
    /// (`Hub::publish_event`) or not. `message` is the raw JSON value.
    Notify {
        slot: usize,
        namespace: &'a str,
        room: &'a str,
        sender: &'a str,
        message: &'a str,
    },
    /// Backplane on: a NOTIFY was published locally; the host forwards it to
    /// the other processes.
    Forward {
        namespace: &'a str,
        room: &'a str,
        sender: &'a str,
        message: &'a str,
    },
    /// Backplane on: a member joined (`joined`) or left a room.
    Membership {
        slot: usize,
        namespace: &'a str,
        room: &'a str,
        name: &'a str,
        joined: bool,
    },
    /// Backplane on: CLIENTS spans processes, so the host answers it.
    Clients {
        slot: usize,
        namespace: &'a str,
        room: &'a str,
    },
}

/// The sockets, as the hub sees them.
pub trait Outlet {
    /// The time of the current poll (for the error-reply window).
    fn now(&self) -> Instant;
    /// Whether the connection in `slot` is an open WebSocket.
    fn is_open(&self, slot: usize) -> bool;
    /// Queue one text message to one connection.
    fn send(&mut self, slot: usize, data: &[u8]);
    /// Queue one message (`op`: text or binary) to every one of `members`
    /// but `exclude`, framed once; Socket.IO members get it as an event of
    /// `namespace`. Returns (delivered, overflowed).
    fn fan_out(
        &mut self,
        members: &[usize],
        namespace: &str,
        op: u8,
        data: &[u8],
        exclude: Option<usize>,
    ) -> (usize, usize);
    /// Close a connection normally (1000): a Socket.IO close packet.
    fn close(&mut self, slot: usize);
    /// Tell the host.
    fn report(&mut self, event: HubEvent<'_>);
}
