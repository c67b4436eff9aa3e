//! The WebSocket wire format: everything that turns bytes into messages and back.
pub mod close;
pub mod deflate;
pub mod frame;
pub mod handshake;
pub mod mask;
pub mod reader;
pub mod utf8;
