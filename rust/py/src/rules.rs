//! Connection rules that Python's HTTP routes share with the WebSocket
//! upgrade, so that both sides answer the same request the same way.
use pyo3::prelude::*;
use scanbridge_core::wire::close;
use scanbridge_core::wire::handshake::Request;

/// The rule for a close an application asks for (`wire::close::check_close_request`:
/// RFC 6455 7.4 codes, a reason of at most 123 bytes): `None` when it may be
/// sent, else the one-line reason (the same text for the client, sessions and
/// the admin API).
#[pyfunction]
#[pyo3(signature = (code, reason = ""))]
fn close_problem(code: i64, reason: &str) -> Option<String> {
    close::check_close_request(code, reason)
        .err()
        .map(|e| e.to_string())
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
    let rooms = pyo3::types::PyTuple::new(m.py(), scanbridge_core::hub::ROOM_NAMESPACES)?;
    m.add("ROOM_NAMESPACES", rooms)?;
    m.add("LOBBY_NAMESPACE", scanbridge_core::hub::LOBBY_NAMESPACE)?;
    m.add_function(wrap_pyfunction!(origin_allowed, m)?)?;
    m.add_function(wrap_pyfunction!(close_problem, m)?)?;
    m.add_function(wrap_pyfunction!(room_key, m)?)?;
    m.add_function(wrap_pyfunction!(member_field, m)?)?;
    m.add_function(wrap_pyfunction!(member_field_room_key, m)?)?;
    Ok(())
}
