//! A connection's byte stream: plain TCP or TLS (rustls) over TCP.

use std::io::{self, Read, Write};
use std::net::Shutdown;

use mio::net::TcpStream;

pub enum Transport {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
}

pub struct TlsStream {
    sock: TcpStream,
    tls: rustls::ServerConnection,
    /// The last socket read returned less than asked: the kernel had no more.
    short: bool,
    /// The peer sent close_notify: the next plaintext read is the end.
    peer_closed: bool,
}

/// The socket as rustls reads it, noting whether a read came back short.
struct Probe<'a> {
    sock: &'a mut TcpStream,
    short: &'a mut bool,
}

impl Read for Probe<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.sock.read(buf)?;
        *self.short = n < buf.len();
        Ok(n)
    }
}

fn tls_err(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl Transport {
    pub fn tls(sock: TcpStream, config: std::sync::Arc<rustls::ServerConfig>) -> io::Result<Self> {
        let mut tls = rustls::ServerConnection::new(config).map_err(tls_err)?;
        // Our own per-connection queue bounds what we hand to rustls.
        tls.set_buffer_limit(None);
        Ok(Transport::Tls(Box::new(TlsStream {
            sock,
            tls,
            short: false,
            peer_closed: false,
        })))
    }

    pub fn socket(&self) -> &TcpStream {
        match self {
            Transport::Plain(s) => s,
            Transport::Tls(t) => &t.sock,
        }
    }

    pub fn socket_mut(&mut self) -> &mut TcpStream {
        match self {
            Transport::Plain(s) => s,
            Transport::Tls(t) => &mut t.sock,
        }
    }

    /// Read plaintext. `Ok((0, _))` is the end of the stream; `WouldBlock`
    /// means nothing more for now. With `Ok((n, true))` the socket had no
    /// more bytes when read (a short read): a caller woken by an
    /// edge-triggered event may stop there instead of paying a read that
    /// returns `WouldBlock`, since bytes arriving later raise a new event.
    /// (Linux also returns short at a TCP urgent mark; a peer that sends
    /// `MSG_OOB` only delays its own bytes until it sends again.)
    /// After a read, TLS may have records to send (handshake, alerts): call
    /// `flush_tls`.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<(usize, bool)> {
        match self {
            Transport::Plain(s) => s.read(buf).map(|n| (n, n < buf.len())),
            Transport::Tls(t) => loop {
                match t.tls.reader().read(buf) {
                    // all the plaintext rustls had, and the socket was drained
                    // (but after close_notify the end must still be read:
                    // no new event will announce it)
                    Ok(n) => return Ok((n, n < buf.len() && t.short && !t.peer_closed)),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok((0, false)),
                    Err(e) => return Err(e),
                }
                let mut probe = Probe {
                    sock: &mut t.sock,
                    short: &mut t.short,
                };
                match t.tls.read_tls(&mut probe) {
                    Ok(0) => return Ok((0, false)),
                    Ok(_) => match t.tls.process_new_packets() {
                        Ok(state) => t.peer_closed |= state.peer_has_closed(),
                        Err(e) => {
                            // Try to tell the peer (an alert) before failing.
                            let _ = t.tls.write_tls(&mut t.sock);
                            return Err(tls_err(e));
                        }
                    },
                    Err(e) => return Err(e),
                }
            },
        }
    }

    /// Write plaintext from several buffers (`writev` on plain TCP);
    /// returns how much was taken. TLS takes everything (the records are
    /// sent by `flush_tls`).
    pub fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.write_vectored(bufs),
            Transport::Tls(t) => {
                let mut n = 0;
                for b in bufs {
                    t.tls.writer().write_all(b)?;
                    n += b.len();
                }
                Ok(n)
            }
        }
    }

    /// Send buffered TLS records. `Ok(true)`: nothing left to send.
    pub fn flush_tls(&mut self) -> io::Result<bool> {
        match self {
            Transport::Plain(_) => Ok(true),
            Transport::Tls(t) => {
                while t.tls.wants_write() {
                    match t.tls.write_tls(&mut t.sock) {
                        Ok(_) => {}
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(true)
            }
        }
    }

    /// Half-close: no more bytes from us (TLS sends close_notify first).
    pub fn shutdown_write(&mut self) {
        if let Transport::Tls(t) = self {
            t.tls.send_close_notify();
            let _ = t.tls.write_tls(&mut t.sock);
        }
        let _ = self.socket().shutdown(Shutdown::Write);
    }

    pub fn is_tls(&self) -> bool {
        matches!(self, Transport::Tls(_))
    }
}
