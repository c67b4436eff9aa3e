//! RFC 7692 permessage-deflate: extension negotiation (server and client side)
//! and the per-direction compressor ([`Deflater`]) / decompressor
//! ([`Inflater`]).
//!
//! The handshake side lives in `negotiate.rs`, the compression streams in
//! `codec.rs`; everything public is re-exported here.

mod codec;
mod negotiate;

pub use codec::{Deflater, InflateError, Inflater, TAIL};
pub use negotiate::{
    client_accept, client_offer, negotiate, DeflateConfig, DeflateParams, NegotiationError,
    EXTENSION_NAME,
};

/// The smallest window size the RFC allows in negotiation.
pub const MIN_WINDOW_BITS: u8 = 8;
/// The largest (and default) window size.
pub const MAX_WINDOW_BITS: u8 = 15;
/// The smallest window zlib accepts for raw deflate streams.
const ZLIB_MIN_WINDOW_BITS: u8 = 9;
