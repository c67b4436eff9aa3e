//! Sockets: listeners, connections, the poller and corked writes.
//!
//! The [`server::Server`] owns every socket behind one `mio` poller whose
//! file descriptor the Python event loop watches. One `poll` call accepts,
//! reads, parses and answers everything ready (echo, pings, closes stay in
//! Rust), reports what Python must see as [`event::Event`]s, and writes
//! each connection's queued bytes with one `writev` (`outq`; fan-out
//! frames are shared between connections, `chunk`).
mod chunk;
mod conn;
mod deflaters;
pub mod endpoint;
pub mod event;
pub mod listener;
mod outq;
pub mod server;
pub mod tls;
mod transport;

pub use endpoint::{Endpoint, Kind, ServerConfig};
pub use event::Event;
pub use server::{AcceptNotice, SendError, Server, ServerStats};
