//! The events `_core.Server.poll()`, `tick()` and `accept()` hand to Python:
//! one immutable class per kind (read-only attributes, `__match_args__` for
//! `match`, equality by value), declared in `_core.pyi` as the union `Event`.
//! Python may build them too (the app reports a CloseEvent for sessions still
//! open at shutdown; tests).
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString, PyTuple};
use scanbridge_core::io::Event;
use scanbridge_core::wire::handshake::Request;

/// One `#[pyclass(frozen)]` value class: fields readable by name and
/// position, equality by value. Every typed object that crosses the binding
/// is made with it (events here, scans in `hid`, messages in `client`).
macro_rules! event_class {
    ($(#[$doc:meta])* $name:ident [$($opt:tt)*] { $($field:ident : $ty:ty),* $(,)? }) => {
        $(#[$doc])*
        #[pyclass(module = "scanbridge._core", frozen $($opt)*)]
        pub struct $name {
            $(#[pyo3(get)] pub $field: $ty,)*
        }

        #[pymethods]
        impl $name {
            #[new]
            #[allow(clippy::too_many_arguments)]
            fn new($($field: $ty),*) -> Self {
                Self { $($field),* }
            }

            #[classattr]
            fn __match_args__(py: Python<'_>) -> PyResult<Bound<'_, PyTuple>> {
                PyTuple::new(py, [$(stringify!($field)),*])
            }

            fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
                let mut parts: Vec<String> = Vec::new();
                $(parts.push(format!(
                    "{}={}",
                    stringify!($field),
                    slf.getattr(stringify!($field))?.repr()?
                ));)*
                Ok(format!("{}({})", stringify!($name), parts.join(", ")))
            }

            fn __eq__(slf: &Bound<'_, Self>, other: &Bound<'_, PyAny>) -> PyResult<bool> {
                if !other.is_instance_of::<$name>() {
                    return Ok(false);
                }
                $(if !slf
                    .getattr(stringify!($field))?
                    .eq(other.getattr(stringify!($field))?)?
                {
                    return Ok(false);
                })*
                Ok(true)
            }
        }
    };
}

pub(crate) use event_class;

event_class! {
    /// A text message of a Python endpoint's connection. `size` is its length
    /// in UTF-8 bytes: report it with `Server.consumed(conn, size)` when done.
    TextEvent [, freelist = 256] { conn: u64, data: Py<PyString>, size: usize }
}

event_class! {
    /// A binary message; `size` as for TextEvent.
    BinaryEvent [, freelist = 64] { conn: u64, data: Py<PyBytes>, size: usize }
}

event_class! {
    /// A WebSocket of a Python endpoint is open. `peer` is (host, port).
    OpenEvent [] {
        conn: u64,
        endpoint: u32,
        listener: u32,
        path: String,
        query: String,
        headers: Py<PyTuple>,
        peer: (String, u16),
        subprotocol: Option<String>,
    }
}

event_class! {
    /// An upgrade for an endpoint with `ask_upgrade`: answer with
    /// `Server.accept` or `Server.respond`.
    UpgradeEvent [] {
        conn: u64,
        endpoint: u32,
        listener: u32,
        path: String,
        query: String,
        headers: Py<PyTuple>,
        peer: (String, u16),
        subprotocol: Option<String>,
    }
}

event_class! {
    /// A plain HTTP request: answer with `Server.respond`.
    HttpEvent [] {
        conn: u64,
        listener: u32,
        method: String,
        path: String,
        query: String,
        headers: Py<PyTuple>,
        body: Py<PyBytes>,
        peer: (String, u16),
    }
}

event_class! {
    /// The WebSocket closed (1006: without a close frame).
    CloseEvent [] { conn: u64, code: u16, reason: String }
}

event_class! {
    /// A bug while handling `conn`: it was closed (1011). Log it.
    PanicEvent [] { conn: u64, message: String }
}

event_class! {
    /// A NOTIFY on a rooms endpoint with room hooks; `message` is JSON text.
    RoomNotifyEvent [] { conn: u64, namespace: String, room: String, sender: String, message: String }
}

event_class! {
    /// Backplane on: a NOTIFY was published here; forward it to other processes.
    RoomForwardEvent [] { namespace: String, room: String, sender: String, message: String }
}

event_class! {
    /// Backplane on: `name` joined (`joined`) or left a room.
    RoomMembershipEvent [] { conn: u64, namespace: String, room: String, name: String, joined: bool }
}

event_class! {
    /// Backplane on: CLIENTS of a room, to be answered across processes.
    RoomClientsEvent [] { conn: u64, namespace: String, room: String }
}

event_class! {
    /// Accepting connections on `address` failed (`failing` True: out of file
    /// descriptors; `detail` is the error) or works again (`failing` False;
    /// `detail` counts the attempts that failed). `Server.accept_notices()`.
    AcceptNotice [] { failing: bool, address: String, detail: String }
}

/// ((name, value), ...) in the order received.
fn headers_tuple(py: Python<'_>, req: &Request) -> PyResult<Py<PyTuple>> {
    Ok(PyTuple::new(
        py,
        req.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
    )?
    .unbind())
}

/// A value class instance as a Python object.
pub(crate) fn obj<T: pyo3::PyClass + Into<PyClassInitializer<T>>>(
    py: Python<'_>,
    v: T,
) -> PyResult<PyObject> {
    Ok(Bound::new(py, v)?.into_any().unbind())
}

/// Add `name` to the module: the union (`A | B | ...`) of its classes
/// `members`, for isinstance() and annotations.
pub(crate) fn add_union(m: &Bound<'_, PyModule>, name: &str, members: &[&str]) -> PyResult<()> {
    let (first, rest) = members.split_first().expect("a union has members");
    let mut union = m.getattr(*first)?;
    for member in rest {
        union = union.bitor(m.getattr(*member)?)?;
    }
    m.add(name, union)
}

/// One core event as the Python object for it.
pub fn to_python(py: Python<'_>, ev: Event<'_>) -> PyResult<PyObject> {
    match ev {
        Event::Text { conn, data } => obj(
            py,
            TextEvent {
                conn,
                data: PyString::new(py, data).unbind(),
                size: data.len(),
            },
        ),
        Event::Binary { conn, data } => obj(
            py,
            BinaryEvent {
                conn,
                data: PyBytes::new(py, data).unbind(),
                size: data.len(),
            },
        ),
        Event::Close { conn, code, reason } => obj(
            py,
            CloseEvent {
                conn,
                code,
                reason: reason.to_owned(),
            },
        ),
        Event::Panic { conn, message } => obj(
            py,
            PanicEvent {
                conn,
                message: message.to_owned(),
            },
        ),
        Event::Open {
            conn,
            listener,
            endpoint,
            peer,
            req,
            subprotocol,
        } => obj(
            py,
            OpenEvent {
                conn,
                endpoint,
                listener,
                path: req.path.clone(),
                query: req.query.clone(),
                headers: headers_tuple(py, req)?,
                peer: (peer.ip().to_string(), peer.port()),
                subprotocol: subprotocol.map(str::to_owned),
            },
        ),
        Event::Upgrade {
            conn,
            listener,
            endpoint,
            peer,
            req,
            subprotocol,
        } => obj(
            py,
            UpgradeEvent {
                conn,
                endpoint,
                listener,
                path: req.path.clone(),
                query: req.query.clone(),
                headers: headers_tuple(py, req)?,
                peer: (peer.ip().to_string(), peer.port()),
                subprotocol: subprotocol.map(str::to_owned),
            },
        ),
        Event::Http {
            conn,
            listener,
            peer,
            req,
            body,
        } => obj(
            py,
            HttpEvent {
                conn,
                listener,
                method: req.method.clone(),
                path: req.path.clone(),
                query: req.query.clone(),
                headers: headers_tuple(py, req)?,
                body: PyBytes::new(py, body).unbind(),
                peer: (peer.ip().to_string(), peer.port()),
            },
        ),
        Event::RoomNotify {
            conn,
            namespace,
            room,
            sender,
            message,
        } => obj(
            py,
            RoomNotifyEvent {
                conn,
                namespace: namespace.to_owned(),
                room: room.to_owned(),
                sender: sender.to_owned(),
                message: message.to_owned(),
            },
        ),
        Event::RoomForward {
            namespace,
            room,
            sender,
            message,
        } => obj(
            py,
            RoomForwardEvent {
                namespace: namespace.to_owned(),
                room: room.to_owned(),
                sender: sender.to_owned(),
                message: message.to_owned(),
            },
        ),
        Event::RoomMembership {
            conn,
            namespace,
            room,
            name,
            joined,
        } => obj(
            py,
            RoomMembershipEvent {
                conn,
                namespace: namespace.to_owned(),
                room: room.to_owned(),
                name: name.to_owned(),
                joined,
            },
        ),
        Event::RoomClients {
            conn,
            namespace,
            room,
        } => obj(
            py,
            RoomClientsEvent {
                conn,
                namespace: namespace.to_owned(),
                room: room.to_owned(),
            },
        ),
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<TextEvent>()?;
    m.add_class::<AcceptNotice>()?;
    m.add_class::<BinaryEvent>()?;
    m.add_class::<OpenEvent>()?;
    m.add_class::<UpgradeEvent>()?;
    m.add_class::<HttpEvent>()?;
    m.add_class::<CloseEvent>()?;
    m.add_class::<PanicEvent>()?;
    m.add_class::<RoomNotifyEvent>()?;
    m.add_class::<RoomForwardEvent>()?;
    m.add_class::<RoomMembershipEvent>()?;
    m.add_class::<RoomClientsEvent>()?;
    add_union(
        m,
        "Event",
        &[
            "TextEvent",
            "BinaryEvent",
            "OpenEvent",
            "UpgradeEvent",
            "HttpEvent",
            "CloseEvent",
            "PanicEvent",
            "RoomNotifyEvent",
            "RoomForwardEvent",
            "RoomMembershipEvent",
            "RoomClientsEvent",
        ],
    )?;
    Ok(())
}
