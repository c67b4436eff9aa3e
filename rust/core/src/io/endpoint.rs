//! What the server serves: endpoints by path, and the connection policy.

use std::time::Duration;

use crate::wire::deflate::DeflateConfig;

/// Who handles an endpoint's messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Every data message is sent back as it came, in Rust.
    Echo,
    /// Messages, opens and closes are reported to Python.
    Python,
    /// `/layout`, `/bus`: JOIN / LEAVE / NOTIFY / CLIENTS handled in Rust.
    Rooms,
    /// `/lobby`: JOIN / LEAVE / BROADCAST / RTCSIGNAL handled in Rust.
    Lobby,
    /// `/socket.io/`: Engine.IO + Socket.IO framing around the rooms and lobbies.
    SocketIo,
}

#[derive(Clone, Debug)]
pub struct Endpoint {
    pub kind: Kind,
    /// Subprotocols this endpoint speaks, in order of preference of the client.
    pub subprotocols: Vec<String>,
    /// Python decides on each upgrade (auth, custom response headers).
    pub ask_upgrade: bool,
    /// Overrides the server's origin patterns for this endpoint.
    pub allowed_origins: Option<Vec<String>>,
    /// Override the server's idle timeout / ping interval (`Some(ZERO)` turns them off).
    pub idle_timeout: Option<Duration>,
    pub ping_interval: Option<Duration>,
    /// Rooms / Lobby: the namespace rooms live in (rooms of different
    /// namespaces never mix).
    pub namespace: String,
    /// Rooms: NOTIFYs go to Python (`Event::RoomNotify`) to observe or veto
    /// instead of being published in Rust.
    pub room_hook: bool,
}

impl Endpoint {
    pub fn new(kind: Kind) -> Self {
        Self {
            kind,
            subprotocols: Vec::new(),
            ask_upgrade: false,
            allowed_origins: None,
            idle_timeout: None,
            ping_interval: None,
            namespace: String::new(),
            room_hook: false,
        }
    }
}

/// Which peers a listener serves: `*`/`?` patterns over the peer's IP address.
#[derive(Clone, Debug, Default)]
pub struct Access {
    /// true: everyone but `deny` matches; false: only `allow` matches.
    pub default_allow: bool,
    pub allow: Vec<String>,
    pub deny: Vec<String>,
}

impl Access {
    pub fn everyone() -> Self {
        Self {
            default_allow: true,
            ..Self::default()
        }
    }

    pub fn permits(&self, ip: &std::net::IpAddr) -> bool {
        let text = ip.to_string();
        let m = |ps: &[String]| ps.iter().any(|p| crate::glob::glob_match(p, &text));
        if self.default_allow {
            !m(&self.deny)
        } else {
            m(&self.allow)
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct ListenerOptions {
    pub access: Option<Access>,
    /// Idle timeout for connections of this listener (overrides the server's).
    pub idle_timeout: Option<Duration>,
    pub reuse_port: bool,
}

#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Largest incoming message (after decompression); larger: 1009.
    pub max_message: usize,
    /// Outbound bytes a connection may have queued; past that it is closed
    /// with 1008 (pushes) or no longer read from (echo) until it drains.
    pub max_queue: usize,
    pub deflate: DeflateConfig,
    /// Origin patterns (`*`, `?`); a request without Origin always passes.
    /// Empty: every origin passes.
    pub allowed_origins: Vec<String>,
    pub idle_timeout: Option<Duration>,
    pub ping_interval: Option<Duration>,
    /// Time to send a complete request head.
    pub handshake_timeout: Duration,
    /// Time for the peer to answer our close frame / to drain and hang up.
    pub close_timeout: Duration,
    /// Largest HTTP request body (for the JSON APIs).
    pub max_http_body: usize,
    /// Largest HTTP request head.
    pub max_http_head: usize,
    /// Bytes of messages a connection of a Python endpoint may have handed
    /// to Python and not yet reported consumed (`Server::consumed`); past
    /// that it is no longer read from (TCP backpressure) until Python has
    /// drained half of it. `None`: max(4 MiB, `max_message`).
    pub max_pending_bytes: Option<usize>,
    /// The same for the number of messages (at most 65535).
    pub max_pending_messages: u16,
    /// Rooms one connection may be in (`/layout`, `/bus`, Socket.IO); a
    /// JOIN past that is answered with a `TOO_MANY_ROOMS` error.
    pub max_rooms_per_connection: usize,
}

impl ServerConfig {
    /// The bound on bytes waiting for Python, per connection (at most 4 GiB).
    pub fn pending_bytes_limit(&self) -> u32 {
        let b = self
            .max_pending_bytes
            .unwrap_or_else(|| self.max_message.max(4 * 1024 * 1024));
        u32::try_from(b).unwrap_or(u32::MAX).max(1)
    }

    /// The bound on messages waiting for Python, per connection.
    pub fn pending_messages_limit(&self) -> u16 {
        self.max_pending_messages.max(1)
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_message: 16 * 1024 * 1024,
            max_queue: 1024 * 1024,
            // shared compressors (io::deflaters): nothing per connection
            deflate: DeflateConfig {
                server_no_context_takeover: true,
                ..DeflateConfig::default()
            },
            allowed_origins: Vec::new(),
            idle_timeout: None,
            ping_interval: None,
            handshake_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(3),
            max_http_body: 1024 * 1024,
            max_http_head: 16 * 1024,
            max_pending_bytes: None,
            max_pending_messages: 256,
            max_rooms_per_connection: 1000,
        }
    }
}
