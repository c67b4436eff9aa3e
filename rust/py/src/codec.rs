//! The wire codec's functions, for tests, tools and microbenchmarks.
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use scanbridge_core::wire::{deflate, frame, mask, reader, utf8};

use crate::errors::deflate_error;

/// XOR `data` with a 4-byte mask key (RFC 6455 5.3).
#[pyfunction]
fn apply_mask<'py>(py: Python<'py>, data: &[u8], key: [u8; 4]) -> Bound<'py, PyBytes> {
    PyBytes::new_with(py, data.len(), |b| {
        b.copy_from_slice(data);
        mask::apply_mask(b, key, 0);
        Ok(())
    })
    .expect("no allocation failure")
}

/// One whole frame: unmasked (server) or masked with `mask_key` (client).
#[pyfunction]
#[pyo3(signature = (opcode, payload, mask_key=None, rsv1=false))]
fn encode_frame<'py>(
    py: Python<'py>,
    opcode: u8,
    payload: &[u8],
    mask_key: Option<[u8; 4]>,
    rsv1: bool,
) -> Bound<'py, PyBytes> {
    let mut out = Vec::with_capacity(payload.len() + frame::MAX_HEADER);
    match mask_key {
        Some(k) => frame::encode_masked_frame(&mut out, opcode, payload, rsv1, k),
        None => frame::encode_frame(&mut out, opcode, payload, rsv1),
    }
    PyBytes::new(py, &out)
}

/// Parse a byte stream of frames; returns (kind, payload) pairs where kind
/// is "text", "binary", "ping", "pong" or "close". Raises ValueError with
/// the close code a server would send for a bad stream.
#[pyfunction]
#[pyo3(signature = (data, masked=true, max_message_bytes=16 * 1024 * 1024))]
fn parse_frames(
    data: &[u8],
    masked: bool,
    max_message_bytes: usize,
) -> PyResult<Vec<(&'static str, Vec<u8>)>> {
    let mut r = reader::FrameReader::new(max_message_bytes, masked);
    let mut buf = data.to_vec();
    let mut out = Vec::new();
    r.feed(&mut buf, &mut |m| {
        out.push(match m {
            reader::Message::Text(t) => ("text", t.as_bytes().to_vec()),
            reader::Message::Binary(b) => ("binary", b.to_vec()),
            reader::Message::Ping(b) => ("ping", b.to_vec()),
            reader::Message::Pong(b) => ("pong", b.to_vec()),
            reader::Message::Close(c, reason) => {
                let mut v = c.map(|c| c.to_be_bytes().to_vec()).unwrap_or_default();
                v.extend_from_slice(reason.as_bytes());
                ("close", v)
            }
        })
    })
    .map_err(|e| PyValueError::new_err((e.code, e.reason)))?;
    Ok(out)
}

/// Count the messages in a stream of masked frames (benchmark helper: no copies out).
#[pyfunction]
fn count_messages(data: &[u8]) -> PyResult<usize> {
    let mut r = reader::FrameReader::new(usize::MAX >> 1, true);
    let mut buf = data.to_vec();
    let mut n = 0usize;
    r.feed(&mut buf, &mut |_| n += 1)
        .map_err(|e| PyValueError::new_err((e.code, e.reason)))?;
    Ok(n)
}

#[pyfunction]
fn is_valid_utf8(data: &[u8]) -> bool {
    utf8::validate(data).is_ok()
}

/// permessage-deflate one message (raw deflate, sync flush, tail removed).
#[pyfunction]
#[pyo3(signature = (data, window_bits=15, level=1))]
fn deflate_message<'py>(
    py: Python<'py>,
    data: &[u8],
    window_bits: u8,
    level: u32,
) -> PyResult<Bound<'py, PyBytes>> {
    let mut d = deflate::Deflater::new(window_bits, true, level);
    let mut out = Vec::new();
    d.compress(data, &mut out).map_err(deflate_error)?;
    Ok(PyBytes::new(py, &out))
}

/// Inflate one permessage-deflate message (at most `max_size` bytes out).
#[pyfunction]
#[pyo3(signature = (data, window_bits=15, max_size=16 * 1024 * 1024))]
fn inflate_message<'py>(
    py: Python<'py>,
    data: &[u8],
    window_bits: u8,
    max_size: usize,
) -> PyResult<Bound<'py, PyBytes>> {
    let mut i = deflate::Inflater::new(window_bits, true);
    let mut out = Vec::new();
    i.decompress(data, max_size, &mut out)
        .map_err(deflate_error)?;
    Ok(PyBytes::new(py, &out))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(deflate_message, m)?)?;
    m.add_function(wrap_pyfunction!(inflate_message, m)?)?;
    m.add_function(wrap_pyfunction!(apply_mask, m)?)?;
    m.add_function(wrap_pyfunction!(encode_frame, m)?)?;
    m.add_function(wrap_pyfunction!(parse_frames, m)?)?;
    m.add_function(wrap_pyfunction!(count_messages, m)?)?;
    m.add_function(wrap_pyfunction!(is_valid_utf8, m)?)?;
    Ok(())
}
