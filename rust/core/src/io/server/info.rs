//! Counters and facts for the admin API and metrics.

use super::*;

/// Facts about one connection, for the admin API.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub id: ConnId,
    pub peer: SocketAddr,
    pub listener: u32,
    pub endpoint: Option<u32>,
    pub websocket: bool,
    pub tls: bool,
    pub opened_at: std::time::SystemTime,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub messages_in: u64,
    pub messages_out: u64,
    pub queued: usize,
    /// Messages (and bytes) handed to Python and not yet reported consumed.
    pub pending_messages: u16,
    pub pending_bytes: u32,
    /// Not read from until Python consumes its input.
    pub blocked: bool,
}

impl Server {
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    pub fn stats(&self) -> ServerStats {
        let mut s = self.stats;
        s.errors_dropped = self.hub.errors_dropped();
        s.connections_open = self.conns.len() as u64;
        for (_, c) in self.conns.iter() {
            s.websockets_open += c.is_websocket() as u64;
            s.bytes_in += c.stats.bytes_in;
            s.bytes_out += c.stats.bytes_out;
            s.messages_in += c.stats.msgs_in;
            s.messages_out += c.stats.msgs_out;
        }
        s
    }

    pub fn conn_info(&self, id: ConnId) -> Option<ConnInfo> {
        let c = self.conns.get(slot_of(id)).filter(|c| c.id == id)?;
        Some(ConnInfo {
            id: c.id,
            peer: c.peer,
            listener: c.listener,
            endpoint: (c.endpoint != u32::MAX).then_some(c.endpoint),
            websocket: c.is_websocket(),
            tls: c.transport.is_tls(),
            opened_at: c.opened_at,
            bytes_in: c.stats.bytes_in,
            bytes_out: c.stats.bytes_out,
            messages_in: c.stats.msgs_in,
            messages_out: c.stats.msgs_out,
            queued: c.queued(),
            pending_messages: c.py_msgs,
            pending_bytes: c.py_bytes,
            blocked: c.py_blocked,
        })
    }

    /// Every endpoint's first path, by endpoint id.
    pub fn endpoint_paths(&self) -> &[String] {
        &self.endpoint_paths
    }

    /// The path an endpoint is served at (its first path).
    pub fn endpoint_path(&self, endpoint: u32) -> Option<&str> {
        self.endpoint_paths
            .get(endpoint as usize)
            .map(String::as_str)
    }

    pub fn conn_ids(&self) -> Vec<ConnId> {
        self.conns.iter().map(|(_, c)| c.id).collect()
    }
}
