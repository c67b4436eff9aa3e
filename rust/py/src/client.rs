//! The WebSocket client's codec (`scanbridge.client`): masked frames out,
//! server frames in, permessage-deflate both ways. The HTTP upgrade and all
//! I/O stay in Python; this is conversions around `scanbridge_core::wire`.
use std::borrow::Cow;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{SystemTime, UNIX_EPOCH};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString, PyTuple};

use crate::events::{add_union, event_class, obj};
use scanbridge_core::wire::close::{
    close_payload, is_valid_wire_code, CloseRequestError, NO_STATUS,
};
use scanbridge_core::wire::frame::{
    encode_header, header_len, OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT,
};
use scanbridge_core::wire::reader::{FrameReader, Message};
use scanbridge_core::wire::{deflate, handshake, mask};

use crate::errors::{deflate_error, DeflateError};

/// Masking keys (RFC 6455 section 5.3): SipHash, keyed by `RandomState`'s
/// OS-seeded random keys, of a counter that starts at the clock. Keys only
/// need to be unpredictable to intermediaries, not cryptographically strong.
struct MaskKeys {
    hasher: RandomState,
    counter: u64,
}

impl MaskKeys {
    fn new() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        MaskKeys {
            hasher: RandomState::new(),
            counter: nanos ^ (std::process::id() as u64) << 32,
        }
    }

    fn next_key(&mut self) -> [u8; 4] {
        let mut h = self.hasher.build_hasher();
        h.write_u64(self.counter);
        self.counter = self.counter.wrapping_add(1);
        let v = h.finish();
        ((v ^ (v >> 32)) as u32).to_le_bytes()
    }
}

event_class! {
    /// A text message from the server (`ClientCodec.feed`).
    TextMessage [] { data: Py<PyString> }
}

event_class! {
    /// A binary message from the server.
    BinaryMessage [] { data: Py<PyBytes> }
}

event_class! {
    /// A ping from the server: answer it with a pong of the same `data`.
    PingMessage [] { data: Py<PyBytes> }
}

event_class! {
    /// A pong from the server.
    PongMessage [] { data: Py<PyBytes> }
}

event_class! {
    /// The server's close frame (`code` 1005: it sent none).
    CloseMessage [] { code: u16, reason: String }
}

/// One client connection's framing state.
///
/// `ClientCodec(max_message_bytes, deflate_response)`: `deflate_response` is
/// the server's `Sec-WebSocket-Extensions` value when the offer made with
/// `client_deflate_offer()` (same keyword arguments) was answered; a bad
/// response raises scanbridge.errors.DeflateError, a ValueError (the
/// handshake must then fail).
#[pyclass(module = "scanbridge._core")]
pub struct ClientCodec {
    reader: FrameReader,
    deflater: Option<deflate::Deflater>,
    compress_min_size: usize,
    keys: MaskKeys,
    /// The first protocol error: raised by every `feed` after the one that
    /// found it (that one raises it too unless it returns messages).
    error: Option<(u16, &'static str)>,
    /// An outgoing fragmented message is in progress.
    sending_fragments: bool,
}

fn check_send_opcode(opcode: u8) -> PyResult<()> {
    match opcode {
        OP_CONT | OP_TEXT | OP_BINARY | OP_CLOSE | OP_PING | OP_PONG => Ok(()),
        _ => Err(PyValueError::new_err(format!("invalid opcode {opcode:#x}"))),
    }
}

impl ClientCodec {
    fn frame<'py>(
        &mut self,
        py: Python<'py>,
        opcode: u8,
        fin: bool,
        rsv1: bool,
        body: &[u8],
    ) -> Bound<'py, PyBytes> {
        let key = self.keys.next_key();
        let hl = header_len(body.len(), true);
        PyBytes::new_with(py, hl + body.len(), |b| {
            let mut hdr = Vec::with_capacity(hl);
            encode_header(&mut hdr, fin, rsv1, opcode, body.len(), Some(key));
            b[..hl].copy_from_slice(&hdr);
            b[hl..].copy_from_slice(body);
            mask::apply_mask(&mut b[hl..], key, 0);
            Ok(())
        })
        .expect("no allocation failure")
    }
}

#[pymethods]
impl ClientCodec {
    #[new]
    #[pyo3(signature = (
        max_message_bytes=16 * 1024 * 1024,
        deflate_response=None,
        *,
        client_max_window_bits=None,
        client_no_context_takeover=false,
        compression_level=1,
        compress_min_size=32,
    ))]
    fn new(
        max_message_bytes: usize,
        deflate_response: Option<&str>,
        client_max_window_bits: Option<u8>,
        client_no_context_takeover: bool,
        compression_level: u32,
        compress_min_size: usize,
    ) -> PyResult<Self> {
        let mut reader = FrameReader::new(max_message_bytes, false);
        let deflater = match deflate_response {
            None => None,
            Some(resp) => {
                let params = deflate::client_accept(
                    resp.as_bytes(),
                    client_max_window_bits,
                    client_no_context_takeover,
                )
                .map_err(deflate_error)?;
                reader.set_inflater(params.client_inflater());
                Some(params.client_deflater(compression_level))
            }
        };
        Ok(ClientCodec {
            reader,
            deflater,
            compress_min_size,
            keys: MaskKeys::new(),
            error: None,
            sending_fragments: false,
        })
    }

    /// One masked frame. Whole text/binary messages of at least
    /// `compress_min_size` bytes are compressed (RSV1) when deflate was
    /// agreed; fragmented messages (`fin=False`, then `OP_CONT`) never are.
    #[pyo3(signature = (opcode, payload, fin=true))]
    fn encode<'py>(
        &mut self,
        py: Python<'py>,
        opcode: u8,
        payload: &[u8],
        fin: bool,
    ) -> PyResult<Bound<'py, PyBytes>> {
        check_send_opcode(opcode)?;
        let control = opcode & 0x8 != 0;
        if control {
            if !fin {
                return Err(PyValueError::new_err("control frames cannot be fragmented"));
            }
            if payload.len() > 125 {
                return Err(PyValueError::new_err(
                    "control frame payload longer than 125 bytes",
                ));
            }
            return Ok(self.frame(py, opcode, true, false, payload));
        }
        let first = opcode != OP_CONT;
        if first && self.sending_fragments {
            return Err(PyValueError::new_err(
                "a new message cannot start inside a fragmented message",
            ));
        }
        if !first && !self.sending_fragments {
            return Err(PyValueError::new_err(
                "continuation frame without a fragmented message",
            ));
        }
        let whole = first && fin;
        self.sending_fragments = !fin;
        let body: Cow<'_, [u8]> = match self.deflater.as_mut() {
            Some(d) if whole && !d.is_store_only() && payload.len() >= self.compress_min_size => {
                let mut out = Vec::with_capacity(payload.len() / 2 + 64);
                d.compress(payload, &mut out)
                    .map_err(|e| DeflateError::new_err(format!("deflate failed: {e}")))?;
                Cow::Owned(out)
            }
            _ => Cow::Borrowed(payload),
        };
        let rsv1 = matches!(body, Cow::Owned(_));
        Ok(self.frame(py, opcode, fin, rsv1, &body))
    }

    /// A masked close frame. `code=None` sends an empty payload (then
    /// `reason` must be empty); the reason is cut to 123 bytes.
    #[pyo3(signature = (code=None, reason=""))]
    fn encode_close<'py>(
        &mut self,
        py: Python<'py>,
        code: Option<u16>,
        reason: &str,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let mut payload = Vec::new();
        match code {
            None if reason.is_empty() => {}
            None => return Err(PyValueError::new_err("a close reason needs a code")),
            Some(c) if !is_valid_wire_code(c) => {
                return Err(PyValueError::new_err(
                    CloseRequestError::Code(c.into()).to_string(),
                ))
            }
            Some(c) => close_payload(c, reason, &mut payload),
        }
        Ok(self.frame(py, OP_CLOSE, true, false, &payload))
    }

    /// Parse server bytes (any chunking) into messages: ("text", str),
    /// ("binary", bytes), ("ping", bytes), ("pong", bytes) or
    /// ("close", (code, reason)) with code 1005 for an empty close frame.
    /// A protocol error raises ValueError((code, reason)); when messages
    /// came before it in the same data they are returned and the error is
    /// raised by the next call (see `error`). The error is latched: every
    /// later call raises it and reads nothing.
    fn feed(&mut self, py: Python<'_>, data: &[u8]) -> PyResult<Vec<PyObject>> {
        if let Some(e) = self.error {
            return Err(PyValueError::new_err(e));
        }
        let mut buf = data.to_vec();
        let mut out: Vec<PyResult<PyObject>> = Vec::new();
        let result = self.reader.feed(&mut buf, &mut |m| {
            out.push(match m {
                Message::Text(t) => obj(
                    py,
                    TextMessage {
                        data: PyString::new(py, t).unbind(),
                    },
                ),
                Message::Binary(b) => obj(
                    py,
                    BinaryMessage {
                        data: PyBytes::new(py, b).unbind(),
                    },
                ),
                Message::Ping(b) => obj(
                    py,
                    PingMessage {
                        data: PyBytes::new(py, b).unbind(),
                    },
                ),
                Message::Pong(b) => obj(
                    py,
                    PongMessage {
                        data: PyBytes::new(py, b).unbind(),
                    },
                ),
                Message::Close(code, reason) => obj(
                    py,
                    CloseMessage {
                        code: code.unwrap_or(NO_STATUS),
                        reason: reason.to_owned(),
                    },
                ),
            })
        });
        if let Err(e) = result {
            // Latched: every later feed raises it too (as the reader does).
            self.error = Some((e.code, e.reason));
        }
        let out = out.into_iter().collect::<PyResult<Vec<_>>>()?;
        match self.error {
            Some(e) if out.is_empty() => Err(PyValueError::new_err(e)),
            _ => Ok(out),
        }
    }

    /// The protocol error this codec failed with (latched), as (code, reason).
    #[getter]
    fn error(&self) -> Option<(u16, &'static str)> {
        self.error
    }

    /// Whether permessage-deflate was agreed.
    #[getter]
    fn compressed(&self) -> bool {
        self.deflater.is_some()
    }

    /// True once the server's close frame was parsed (later input is ignored).
    #[getter]
    fn closed(&self) -> bool {
        self.reader.is_closed()
    }

    #[getter]
    fn max_message_bytes(&self) -> usize {
        self.reader.max_message
    }
}

/// The `Sec-WebSocket-Accept` value the server must answer to `key`.
#[pyfunction]
fn client_accept_key(key: &str) -> String {
    handshake::accept_key(key)
}

/// The request's `Sec-WebSocket-Extensions` value offering permessage-deflate.
#[pyfunction]
#[pyo3(signature = (client_max_window_bits=None, client_no_context_takeover=false))]
fn client_deflate_offer(
    client_max_window_bits: Option<u8>,
    client_no_context_takeover: bool,
) -> String {
    deflate::client_offer(client_max_window_bits, client_no_context_takeover)
}

/// Check the server's permessage-deflate response against the offer (same
/// keyword arguments); returns the agreed parameters or raises DeflateError.
#[pyfunction]
#[pyo3(signature = (response, client_max_window_bits=None, client_no_context_takeover=false))]
fn client_deflate_accept(
    response: &str,
    client_max_window_bits: Option<u8>,
    client_no_context_takeover: bool,
) -> PyResult<(bool, bool, u8, u8)> {
    let p = deflate::client_accept(
        response.as_bytes(),
        client_max_window_bits,
        client_no_context_takeover,
    )
    .map_err(deflate_error)?;
    Ok((
        p.server_no_context_takeover,
        p.client_no_context_takeover,
        p.server_max_window_bits,
        p.client_max_window_bits,
    ))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<ClientCodec>()?;
    m.add_class::<TextMessage>()?;
    m.add_class::<BinaryMessage>()?;
    m.add_class::<PingMessage>()?;
    m.add_class::<PongMessage>()?;
    m.add_class::<CloseMessage>()?;
    add_union(
        m,
        "ClientMessage",
        &[
            "TextMessage",
            "BinaryMessage",
            "PingMessage",
            "PongMessage",
            "CloseMessage",
        ],
    )?;
    m.add_function(wrap_pyfunction!(client_accept_key, m)?)?;
    m.add_function(wrap_pyfunction!(client_deflate_offer, m)?)?;
    m.add_function(wrap_pyfunction!(client_deflate_accept, m)?)?;
    Ok(())
}
