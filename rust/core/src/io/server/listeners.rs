//! Listeners: binding, turning them off and on, accepting (with the
//! backoff when the process runs out of file descriptors).

use super::*;

/// After `accept` failed for want of file descriptors (or memory), the
/// listener is not accepted from for this long; connections wait in its
/// backlog meanwhile. Retried by `poll` and `tick`.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(500);
/// Accept notices kept for a host that does not ask for them.
const MAX_NOTICES: usize = 16;

pub(super) struct ListenerEntry {
    pub sock: Option<TcpListener>,
    pub addr: SocketAddr,
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub opts: ListenerOptions,
    /// Accepting failed (see `ACCEPT_BACKOFF`): not before this instant.
    pub retry_at: Option<Instant>,
}

/// Accepting connections failed, or works again: for the host to log (one
/// line when it starts failing, one when it recovers; `Server::accept_notices`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcceptNotice {
    /// `accept` on the listener at `addr` failed with `error` (EMFILE: the
    /// process is out of file descriptors; ENFILE: the system is); new
    /// connections wait in the backlog and accepting is retried every
    /// `ACCEPT_BACKOFF`.
    Failing { addr: SocketAddr, error: String },
    /// Accepting works again; `failed` attempts failed meanwhile.
    Recovered { addr: SocketAddr, failed: u64 },
}

impl Server {
    /// Listen on `addr` (port 0 picks one); returns the listener id and the bound address.
    pub fn listen(
        &mut self,
        addr: SocketAddr,
        tls: Option<Arc<rustls::ServerConfig>>,
        opts: ListenerOptions,
    ) -> io::Result<(u32, SocketAddr)> {
        let mut sock = bind(addr, opts.reuse_port, 1024)?;
        let local = sock.local_addr()?;
        let entry = self.listeners.vacant_entry();
        let id = entry.key();
        self.poll
            .registry()
            .register(&mut sock, Token(LISTENER_BASE + id), Interest::READABLE)?;
        entry.insert(ListenerEntry {
            sock: Some(sock),
            addr: local,
            tls,
            opts,
            retry_at: None,
        });
        Ok((id as u32, local))
    }

    /// Stop (close the socket) or restart a listener; connections stay.
    pub fn set_listener_enabled(&mut self, id: u32, enabled: bool) -> io::Result<()> {
        let l = self
            .listeners
            .get_mut(id as usize)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such listener"))?;
        match (enabled, l.sock.is_some()) {
            (false, true) => {
                let mut s = l.sock.take().unwrap();
                self.poll.registry().deregister(&mut s)?;
            }
            (true, false) => {
                let mut s = bind(l.addr, l.opts.reuse_port, 1024)?;
                self.poll.registry().register(
                    &mut s,
                    Token(LISTENER_BASE + id as usize),
                    Interest::READABLE,
                )?;
                l.sock = Some(s);
                l.retry_at = None;
            }
            _ => {}
        }
        Ok(())
    }

    pub fn listener_addrs(&self) -> Vec<(u32, SocketAddr, bool, bool)> {
        self.listeners
            .iter()
            .map(|(i, l)| (i as u32, l.addr, l.sock.is_some(), l.tls.is_some()))
            .collect()
    }

    /// Accept again from the listeners whose backoff is over.
    pub(super) fn retry_accepts(&mut self) {
        self.accept_waits = false;
        let now = self.now;
        let due: Vec<usize> = self
            .listeners
            .iter()
            .filter(|(_, l)| l.retry_at.is_some())
            .map(|(i, _)| i)
            .collect();
        for lid in due {
            let l = &mut self.listeners[lid];
            if l.retry_at.is_some_and(|t| now >= t) {
                l.retry_at = None;
                self.accept_from(lid);
            } else {
                self.accept_waits = true;
            }
        }
    }

    /// Accepting failed with `e`: stop accepting from `lid` for
    /// `ACCEPT_BACKOFF` (an edge-triggered listener would otherwise wait for
    /// the next connection to try again; a level-triggered one would spin).
    fn accept_failed(&mut self, lid: usize, e: &io::Error) {
        self.stats.accept_errors += 1;
        self.accept_failed += 1;
        let addr = self.listeners[lid].addr;
        self.listeners[lid].retry_at = Some(self.now + ACCEPT_BACKOFF);
        self.accept_waits = true;
        if self.accept_failed == 1 && self.accept_notices.len() < MAX_NOTICES {
            log::warn!("accept failed on {addr}: {e}");
            self.accept_notices.push(AcceptNotice::Failing {
                addr,
                error: e.to_string(),
            });
        }
    }

    /// Accepting failed or works again since the last call (oldest first).
    pub fn accept_notices(&mut self) -> Vec<AcceptNotice> {
        std::mem::take(&mut self.accept_notices)
    }

    pub(super) fn accept_from(&mut self, lid: usize) {
        loop {
            let Some(l) = self.listeners.get(lid) else {
                return;
            };
            let Some(sock) = l.sock.as_ref() else { return };
            if l.retry_at.is_some() {
                // backing off: `retry_accepts` comes back to it
                return;
            }
            let (stream, peer) = match sock.accept() {
                Ok(s) => s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // An error of that connection alone (it was reset before it
                // was accepted, or its network failed): on to the next.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionAborted
                            | io::ErrorKind::ConnectionReset
                            | io::ErrorKind::NetworkDown
                            | io::ErrorKind::NetworkUnreachable
                            | io::ErrorKind::HostUnreachable
                    ) =>
                {
                    continue
                }
                Err(e) => {
                    // EMFILE, ENFILE, ENOBUFS, ENOMEM (and anything else,
                    // which could repeat for ever): back off.
                    self.accept_failed(lid, &e);
                    return;
                }
            };
            if self.accept_failed > 0 && self.accept_notices.len() < MAX_NOTICES {
                self.accept_notices.push(AcceptNotice::Recovered {
                    addr: l.addr,
                    failed: self.accept_failed,
                });
            }
            self.accept_failed = 0;
            let _ = stream.set_nodelay(true);
            let transport = match &l.tls {
                Some(cfg) => match Transport::tls(stream, cfg.clone()) {
                    Ok(t) => t,
                    Err(e) => {
                        log::warn!("TLS setup failed: {e}");
                        continue;
                    }
                },
                None => Transport::Plain(stream),
            };
            self.generation = self.generation.wrapping_add(1);
            let entry = self.conns.vacant_entry();
            let slot = entry.key();
            let id = (self.generation as u64) << 32 | slot as u64;
            let mut conn = Conn::new(id, transport, peer, lid as u32, &self.cfg, self.now);
            if let Some(access) = &l.opts.access {
                // Answered with 403 once its request is read.
                conn.forbidden = !access.permits(&peer.ip());
            }
            conn.idle_timeout = l.opts.idle_timeout;
            if let Err(e) = self.poll.registry().register(
                conn.transport.socket_mut(),
                Token(slot),
                Interest::READABLE,
            ) {
                log::warn!("register failed: {e}");
                continue;
            }
            entry.insert(conn);
            self.stats.connections_accepted += 1;
            // Data often arrives with the connection: read it now.
            self.ready.push(slot);
        }
    }
}
