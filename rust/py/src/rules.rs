//! Connection rules that Python's HTTP routes share with the WebSocket
//! upgrade, so that both sides answer the same request the same way.
use pyo3::prelude::*;
use scanbridge_core::wire::close;
use scanbridge_core::wire::handshake::Request;

/// The close-code rule (RFC 6455 7.4, `wire::close::is_valid_wire_code`):
/// `None` when `code` may be sent in a close frame, else the one-line reason
/// (the same text for the client, sessions and the admin API).
#[pyfunction]
fn close_code_problem(code: i64) -> Option<String> {
    let ok = u16::try_from(code).is_ok_and(close::is_valid_wire_code);
    (!ok)
        .then(|| format!("close code {code} may not be sent (use 1000-1003, 1007-1014, 3000-4999)"))
}

/// The WebSocket upgrade's origin policy (`io::conn` with
/// `Request::origin_allowed`): a request without Origin passes, no patterns
/// let every origin pass, otherwise the Origin (trimmed) must match one
/// `*` / `?` pattern, ASCII case-insensitive. `origin` is the first Origin
/// header, as the upgrade reads it.
#[pyfunction]
fn origin_allowed(origin: Option<String>, patterns: Vec<String>) -> bool {
    let Some(origin) = origin else {
        return true;
    };
    if patterns.is_empty() {
        return true;
    }
    let req = Request {
        method: String::new(),
        path: String::new(),
        query: String::new(),
        headers: vec![("origin".to_string(), origin)],
        head_len: 0,
        content_length: 0,
    };
    req.origin_allowed(&patterns)
}

/// The key of `room` in `namespace` in the room table (`hub::room_key`):
/// the backplane shares it with the core.
#[pyfunction]
fn room_key(namespace: &str, room: &str) -> String {
    scanbridge_core::hub::room_key(namespace, room)
}

/// The backplane's hash field for member `conn` of a room (`hub::member_field`).
#[pyfunction]
fn member_field(namespace: &str, room: &str, conn: u64) -> String {
    scanbridge_core::hub::member_field(namespace, room, conn)
}

/// The room key a member field belongs to; `None` for a field of another form.
#[pyfunction]
fn member_field_room_key(field: &str) -> Option<&str> {
    scanbridge_core::hub::member_field_room_key(field)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(origin_allowed, m)?)?;
    m.add_function(wrap_pyfunction!(close_code_problem, m)?)?;
    m.add_function(wrap_pyfunction!(room_key, m)?)?;
    m.add_function(wrap_pyfunction!(member_field, m)?)?;
    m.add_function(wrap_pyfunction!(member_field_room_key, m)?)?;
    Ok(())
}
