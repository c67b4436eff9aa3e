//! What the core reports to its host (Python) from `Server::poll`.

use std::net::SocketAddr;

use crate::wire::handshake::Request;

/// Connection ids are unique for the life of a server (slot and generation).
pub type ConnId = u64;

#[derive(Debug)]
pub enum Event<'a> {
    /// A plain HTTP request: answer with `Server::respond`.
    Http {
        conn: ConnId,
        listener: u32,
        peer: SocketAddr,
        req: &'a Request,
        body: &'a [u8],
    },
    /// An upgrade for an endpoint with `ask_upgrade`: answer with
    /// `Server::accept` or `Server::respond` (a refusal).
    Upgrade {
        conn: ConnId,
        listener: u32,
        endpoint: u32,
        peer: SocketAddr,
        req: &'a Request,
        subprotocol: Option<&'a str>,
    },
    /// A WebSocket on a Python endpoint is open (also after `Server::accept`).
    Open {
        conn: ConnId,
        listener: u32,
        endpoint: u32,
        peer: SocketAddr,
        req: &'a Request,
        subprotocol: Option<&'a str>,
    },
    Text {
        conn: ConnId,
        data: &'a str,
    },
    Binary {
        conn: ConnId,
        data: &'a [u8],
    },
    /// A NOTIFY on a rooms endpoint with a Python hook: Python publishes it
    /// (`Server::publish_event`) or not. `message` is the raw JSON value.
    RoomNotify {
        conn: ConnId,
        namespace: &'a str,
        room: &'a str,
        sender: &'a str,
        message: &'a str,
    },
    /// Backplane on: a NOTIFY was published locally; Python forwards it to
    /// the other processes. `message` is the raw JSON value.
    RoomForward {
        namespace: &'a str,
        room: &'a str,
        sender: &'a str,
        message: &'a str,
    },
    /// Backplane on: a member joined (`joined`) or left a room.
    RoomMembership {
        conn: ConnId,
        namespace: &'a str,
        room: &'a str,
        name: &'a str,
        joined: bool,
    },
    /// Backplane on: CLIENTS spans processes, so Python answers it
    /// (local members from `Server::room_member_names`, the rest from the backplane).
    RoomClients {
        conn: ConnId,
        namespace: &'a str,
        room: &'a str,
    },
    /// A panic (a bug) while handling this connection: it is closed (1011
    /// to the peer; `Close` follows when Python knew of it). Log it.
    Panic {
        conn: ConnId,
        message: &'a str,
    },
    /// The WebSocket is closed (1006 when it ended without a close frame).
    /// Reported once for every connection that had an `Open` or `Upgrade`.
    Close {
        conn: ConnId,
        code: u16,
        reason: &'a str,
    },
}
