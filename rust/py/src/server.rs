//! `_core.Server`: the core server for the asyncio side. Every call comes
//! from the event loop's thread; pyo3's borrow flags keep calls exclusive, and the
//! object may be freed on any thread (the garbage collector may run anywhere).
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString};
use scanbridge_core::io::endpoint::{Access, ListenerOptions};
use scanbridge_core::io::{self, tls, Endpoint, Event, Kind, SendError, ServerConfig};
use scanbridge_core::wire::deflate::DeflateConfig;

use crate::errors::{tls_error, QueueFull, RoomError};
use crate::events::{self, AcceptNotice};

#[pyclass(module = "scanbridge._core")]
pub struct Server {
    inner: io::Server,
}

fn secs(s: f64) -> Option<Duration> {
    (s > 0.0).then(|| Duration::from_secs_f64(s))
}

/// A sink that appends each event (an `events` class) to a Python list.
fn collect<'py>(py: Python<'py>, list: &Bound<'py, PyList>) -> impl FnMut(Event<'_>) + 'py {
    let list = list.clone();
    move |ev| {
        // Conversion fails only when memory does: drop the event, keep serving.
        if let Ok(obj) = events::to_python(py, ev) {
            let _ = list.append(obj);
        }
    }
}

#[pymethods]
impl Server {
    #[new]
    #[pyo3(signature = (*, max_message_bytes=16*1024*1024, max_queue_bytes=1024*1024, compression=true, compression_context_takeover=false,
                        allowed_origins=Vec::new(), idle_timeout=0.0, ping_interval=0.0, close_timeout=3.0,
                        handshake_timeout=10.0, max_http_body=1024*1024, max_pending_bytes=None,
                        max_pending_messages=256, max_rooms_per_connection=1000))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        max_message_bytes: usize,
        max_queue_bytes: usize,
        compression: bool,
        compression_context_takeover: bool,
        allowed_origins: Vec<String>,
        idle_timeout: f64,
        ping_interval: f64,
        close_timeout: f64,
        handshake_timeout: f64,
        max_http_body: usize,
        max_pending_bytes: Option<usize>,
        max_pending_messages: u16,
        max_rooms_per_connection: usize,
    ) -> PyResult<Self> {
        if max_pending_bytes == Some(0) || max_pending_messages == 0 {
            return Err(PyValueError::new_err(
                "max_pending_bytes and max_pending_messages must be at least 1",
            ));
        }
        let cfg = ServerConfig {
            max_message: max_message_bytes,
            max_queue: max_queue_bytes,
            deflate: DeflateConfig {
                enabled: compression,
                server_no_context_takeover: !compression_context_takeover,
                ..ServerConfig::default().deflate
            },
            allowed_origins,
            idle_timeout: secs(idle_timeout),
            ping_interval: secs(ping_interval),
            close_timeout: secs(close_timeout).unwrap_or(Duration::from_secs(3)),
            handshake_timeout: secs(handshake_timeout).unwrap_or(Duration::from_secs(10)),
            max_http_body,
            max_pending_bytes,
            max_pending_messages,
            max_rooms_per_connection,
            ..ServerConfig::default()
        };
        Ok(Self {
            inner: io::Server::new(cfg).map_err(|e| PyOSError::new_err(e.to_string()))?,
        })
    }

    /// Serve an endpoint at `paths`; `kind` is "echo" or "python". Timeouts in
    /// seconds override the server's (0 turns them off for this endpoint).
    #[pyo3(signature = (paths, kind, *, subprotocols=Vec::new(), ask_upgrade=false, allowed_origins=None,
                        idle_timeout=None, ping_interval=None, namespace=String::new(), room_hook=false))]
    #[allow(clippy::too_many_arguments)]
    fn add_endpoint(
        &mut self,
        paths: Vec<String>,
        kind: &str,
        subprotocols: Vec<String>,
        ask_upgrade: bool,
        allowed_origins: Option<Vec<String>>,
        idle_timeout: Option<f64>,
        ping_interval: Option<f64>,
        namespace: String,
        room_hook: bool,
    ) -> PyResult<u32> {
        let kind = match kind {
            "echo" => Kind::Echo,
            "python" => Kind::Python,
            "rooms" => Kind::Rooms,
            "lobby" => Kind::Lobby,
            "socketio" => Kind::SocketIo,
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown endpoint kind {other:?}"
                )))
            }
        };
        let ep = Endpoint {
            kind,
            subprotocols,
            ask_upgrade,
            allowed_origins,
            idle_timeout: idle_timeout.map(|s| secs(s).unwrap_or(Duration::ZERO)),
            ping_interval: ping_interval.map(|s| secs(s).unwrap_or(Duration::ZERO)),
            namespace,
            room_hook,
        };
        Ok(self.inner.add_endpoint(&paths, ep))
    }

    /// Listen; returns (listener id, bound host, bound port). `allow`/`deny` are
    /// address patterns (`*`, `?`): with `allow` given only those pass, else
    /// everyone but `deny`; refused peers get 403.
    #[pyo3(signature = (host, port, *, cert_pem=None, key_pem=None, reuse_port=false, allow=None, deny=None,
                        idle_timeout=None))]
    #[allow(clippy::too_many_arguments)]
    fn listen(
        &mut self,
        host: &str,
        port: u16,
        cert_pem: Option<&[u8]>,
        key_pem: Option<&[u8]>,
        reuse_port: bool,
        allow: Option<Vec<String>>,
        deny: Option<Vec<String>>,
        idle_timeout: Option<f64>,
    ) -> PyResult<(u32, String, u16)> {
        let ip: IpAddr = match host {
            "localhost" => IpAddr::from([127, 0, 0, 1]),
            h => h
                .trim_matches(|c| c == '[' || c == ']')
                .parse()
                .map_err(|_| {
                    PyValueError::new_err(format!("host {host:?} is not an IP address"))
                })?,
        };
        let tls = match (cert_pem, key_pem) {
            (Some(c), Some(k)) => Some(tls::server_config_from_pem(c, k).map_err(tls_error)?),
            (None, None) => None,
            _ => return Err(PyValueError::new_err("cert_pem and key_pem go together")),
        };
        let access = match (allow, deny) {
            (None, None) => None,
            (Some(allow), deny) => Some(Access {
                default_allow: false,
                allow,
                deny: deny.unwrap_or_default(),
            }),
            (None, Some(deny)) => Some(Access {
                default_allow: true,
                allow: Vec::new(),
                deny,
            }),
        };
        let opts = ListenerOptions {
            access,
            idle_timeout: idle_timeout.and_then(secs),
            reuse_port,
        };
        let (id, addr) = self
            .inner
            .listen(SocketAddr::new(ip, port), tls, opts)
            .map_err(|e| PyOSError::new_err(format!("cannot listen on {host}:{port}: {e}")))?;
        Ok((id, addr.ip().to_string(), addr.port()))
    }

    fn set_listener_enabled(&mut self, listener: u32, enabled: bool) -> PyResult<()> {
        self.inner
            .set_listener_enabled(listener, enabled)
            .map_err(|e| PyOSError::new_err(e.to_string()))
    }

    /// [(listener id, host, port, enabled, tls)]
    fn listeners(&self) -> Vec<(u32, String, u16, bool, bool)> {
        self.inner
            .listener_addrs()
            .into_iter()
            .map(|(i, a, en, tls)| (i, a.ip().to_string(), a.port(), en, tls))
            .collect()
    }

    fn fileno(&self) -> i32 {
        self.inner.fd()
    }

    /// Do all ready work; returns (events, more).
    fn poll<'py>(&mut self, py: Python<'py>) -> PyResult<(Bound<'py, PyList>, bool)> {
        let list = PyList::empty(py);
        let mut sink = collect(py, &list);
        let more = self
            .inner
            .poll(&mut sink)
            .map_err(|e| PyOSError::new_err(e.to_string()))?;
        Ok((list, more))
    }

    /// Python is done with `messages` TextEvent/BinaryEvent of `conn` holding
    /// `nbytes` bytes (their `size`s summed). A connection that has
    /// `max_pending_bytes` / `max_pending_messages` of its input waiting
    /// for Python is not read from until Python has consumed half of it.
    #[pyo3(signature = (conn, nbytes, messages=1))]
    fn consumed(&mut self, conn: u64, nbytes: usize, messages: u32) {
        self.inner.consumed(conn, nbytes, messages);
    }

    /// Write every connection's queued bytes.
    fn flush(&mut self) {
        self.inner.flush();
    }

    /// Queue a message: str as text, bytes-like as binary. False when the
    /// connection is not open; raises QueueFull (scanbridge.errors) when its
    /// queue overflowed (the connection is being closed with 1008).
    fn send(&mut self, conn: u64, data: &Bound<'_, PyAny>) -> PyResult<bool> {
        let r = if let Ok(s) = data.downcast::<PyString>() {
            self.inner.send(conn, false, s.to_str()?.as_bytes())
        } else {
            let b: &[u8] = data.extract()?;
            self.inner.send(conn, true, b)
        };
        match r {
            Ok(()) => Ok(true),
            Err(SendError::NotOpen) => Ok(false),
            Err(SendError::Overflow) => Err(QueueFull::new_err(
                "outbound queue full (max_queue_bytes): connection closed with 1008",
            )),
        }
    }

    /// Add a connection to a room (rooms exist while they have members).
    fn join(&mut self, conn: u64, room: &str) -> bool {
        self.inner.join(conn, room)
    }

    fn leave(&mut self, conn: u64, room: &str) -> bool {
        self.inner.leave(conn, room)
    }

    /// Frame once, queue to every member but `exclude`: (delivered, overflowed).
    #[pyo3(signature = (room, data, exclude=None))]
    fn publish(
        &mut self,
        room: &str,
        data: &Bound<'_, PyAny>,
        exclude: Option<u64>,
    ) -> PyResult<(usize, usize)> {
        Ok(if let Ok(s) = data.downcast::<PyString>() {
            self.inner
                .publish(room, false, s.to_str()?.as_bytes(), exclude)
        } else {
            let b: &[u8] = data.extract()?;
            self.inner.publish(room, true, b, exclude)
        })
    }

    /// Publish `["EVENT", {sender, room, message}]` to a room of a namespace;
    /// `message` is JSON text. Returns (delivered, overflowed).
    #[pyo3(signature = (namespace, room, sender, message, exclude=None))]
    fn publish_event(
        &mut self,
        namespace: &str,
        room: &str,
        sender: &str,
        message: &str,
        exclude: Option<u64>,
    ) -> PyResult<(usize, usize)> {
        self.inner
            .publish_event(namespace, room, sender, message, exclude)
            .map_err(|e| RoomError::new_err(e.to_string()))
    }

    /// Answer a CLIENTS request (a RoomClientsEvent) with `names`, encoded and
    /// framed as the core's own replies are; False when the connection is gone.
    fn reply_clients(
        &mut self,
        conn: u64,
        namespace: &str,
        room: &str,
        names: Vec<String>,
    ) -> bool {
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        self.inner.reply_clients(conn, namespace, room, &refs)
    }

    /// Rooms span processes: report NOTIFYs, membership and CLIENTS as events.
    fn set_backplane(&mut self, on: bool) {
        self.inner.set_backplane(on);
    }

    /// {room: [member names]} of a namespace.
    fn namespace_rooms(&self, namespace: &str) -> Vec<(String, Vec<String>)> {
        self.inner.namespace_rooms(namespace)
    }

    fn room_member_names(&self, namespace: &str, room: &str) -> Vec<String> {
        self.inner.room_member_names(namespace, room)
    }

    fn rooms_of(&self, conn: u64) -> Vec<String> {
        self.inner.rooms_of(conn)
    }

    fn rooms(&self) -> Vec<(String, usize)> {
        self.inner.room_list()
    }

    #[pyo3(signature = (conn, code=1000, reason=""))]
    fn close(&mut self, conn: u64, code: u16, reason: &str) -> bool {
        self.inner.close(conn, code, reason)
    }

    /// Accept an upgrade reported as an UpgradeEvent; returns (accepted, events).
    #[pyo3(signature = (conn, headers=Vec::new()))]
    fn accept<'py>(
        &mut self,
        py: Python<'py>,
        conn: u64,
        headers: Vec<(String, String)>,
    ) -> (bool, Bound<'py, PyList>) {
        let list = PyList::empty(py);
        let mut sink = collect(py, &list);
        let ok = self.inner.accept(conn, &headers, &mut sink);
        (ok, list)
    }

    /// Answer an HTTP request (or refuse an upgrade); the connection then closes.
    #[pyo3(signature = (conn, status, headers, body))]
    fn respond(
        &mut self,
        conn: u64,
        status: u16,
        headers: Vec<(String, String)>,
        body: &[u8],
    ) -> bool {
        self.inner.respond(conn, status, &headers, body)
    }

    /// Timers (deadlines, idle, pings); returns events (CloseEvents).
    fn tick<'py>(&mut self, py: Python<'py>) -> Bound<'py, PyList> {
        let list = PyList::empty(py);
        let mut sink = collect(py, &list);
        self.inner.tick(&mut sink);
        list
    }

    #[pyo3(signature = (code=1001, reason="server shutting down"))]
    fn shutdown(&mut self, code: u16, reason: &str) {
        self.inner.shutdown(code, reason);
    }

    /// Each endpoint's first path, by endpoint id.
    fn endpoint_paths(&self) -> Vec<String> {
        self.inner.endpoint_paths().to_vec()
    }

    fn connection_count(&self) -> usize {
        self.inner.connection_count()
    }

    fn connection_ids(&self) -> Vec<u64> {
        self.inner.conn_ids()
    }

    /// Facts about one connection, or None.
    fn connection_info<'py>(
        &self,
        py: Python<'py>,
        conn: u64,
    ) -> PyResult<Option<Bound<'py, pyo3::types::PyDict>>> {
        let Some(i) = self.inner.conn_info(conn) else {
            return Ok(None);
        };
        let d = pyo3::types::PyDict::new(py);
        d.set_item("id", i.id)?;
        d.set_item("peer", i.peer.to_string())?;
        d.set_item("listener", i.listener)?;
        d.set_item("endpoint", i.endpoint)?;
        d.set_item("path", i.endpoint.and_then(|e| self.inner.endpoint_path(e)))?;
        d.set_item("websocket", i.websocket)?;
        d.set_item("tls", i.tls)?;
        let since = i
            .opened_at
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        d.set_item("opened_at", since)?;
        d.set_item("bytes_in", i.bytes_in)?;
        d.set_item("bytes_out", i.bytes_out)?;
        d.set_item("messages_in", i.messages_in)?;
        d.set_item("messages_out", i.messages_out)?;
        d.set_item("queued", i.queued)?;
        d.set_item("pending_messages", i.pending_messages)?;
        d.set_item("pending_bytes", i.pending_bytes)?;
        d.set_item("waiting_for_python", i.blocked)?;
        Ok(Some(d))
    }

    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
        let s = self.inner.stats();
        let d = pyo3::types::PyDict::new(py);
        d.set_item("connections_accepted", s.connections_accepted)?;
        d.set_item("connections_open", s.connections_open)?;
        d.set_item("websockets_open", s.websockets_open)?;
        d.set_item("bytes_in", s.bytes_in)?;
        d.set_item("bytes_out", s.bytes_out)?;
        d.set_item("messages_in", s.messages_in)?;
        d.set_item("messages_out", s.messages_out)?;
        d.set_item("overflow_closes", s.overflow_closes)?;
        d.set_item("fanout_deliveries", s.fanout_deliveries)?;
        d.set_item("panics", s.panics)?;
        d.set_item("accept_errors", s.accept_errors)?;
        d.set_item("errors_dropped", s.errors_dropped)?;
        Ok(d)
    }

    /// Accepting connections failed (out of file descriptors) or works
    /// again, since the last call, for the host to log.
    fn accept_notices(&mut self) -> Vec<AcceptNotice> {
        self.inner
            .accept_notices()
            .into_iter()
            .map(|n| match n {
                io::AcceptNotice::Failing { addr, error } => AcceptNotice {
                    failing: true,
                    address: addr.to_string(),
                    detail: error,
                },
                io::AcceptNotice::Recovered { addr, failed } => AcceptNotice {
                    failing: false,
                    address: addr.to_string(),
                    detail: failed.to_string(),
                },
            })
            .collect()
    }
}

/// A self-signed certificate: (cert_pem, key_pem, sha256 fingerprint).
#[pyfunction]
fn self_signed_cert(names: Vec<String>) -> PyResult<(String, String, String)> {
    let s = tls::self_signed(&names).map_err(tls_error)?;
    Ok((s.cert_pem, s.key_pem, s.sha256_fingerprint))
}

/// Read PEM files, checking they make a usable TLS config: (cert_pem, key_pem).
#[pyfunction]
fn load_pem_files(certfile: PathBuf, keyfile: PathBuf) -> PyResult<(Vec<u8>, Vec<u8>)> {
    tls::server_config_from_pem_files(&certfile, &keyfile).map_err(tls_error)?;
    let read = |p: &PathBuf| {
        std::fs::read(p).map_err(|e| PyOSError::new_err(format!("{}: {e}", p.display())))
    };
    Ok((read(&certfile)?, read(&keyfile)?))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    events::register(m)?;
    m.add_function(wrap_pyfunction!(self_signed_cert, m)?)?;
    m.add_function(wrap_pyfunction!(load_pem_files, m)?)?;
    Ok(())
}
