//! scanbridge's pure-Rust core.
//!
//! - [`wire`]: HTTP upgrade, RFC 6455 frames, masking, UTF-8, close codes,
//!   RFC 7692 permessage-deflate.
//! - [`io`]: non-blocking sockets behind one poller, TLS, corked writes.
pub mod glob;
pub mod hid;
pub mod hub;
pub mod io;
pub mod wire;
