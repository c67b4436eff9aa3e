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
}

fn tls_err(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl Transport {
    pub fn tls(sock: TcpStream, config: std::sync::Arc<rustls::ServerConfig>) -> io::Result<Self> {
        let mut tls = rustls::ServerConnection::new(config).map_err(tls_err)?;
        // Our own per-connection queue bounds what we hand to rustls.
        tls.set_buffer_limit(None);
        Ok(Transport::Tls(Box::new(TlsStream { sock, tls })))
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

    /// Read plaintext. `Ok(0)` is the end of the stream; `WouldBlock` means
    /// nothing more for now. After a read, TLS may have records to send
    /// (handshake, alerts): call `flush_tls`.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.read(buf),
            Transport::Tls(t) => loop {
                match t.tls.reader().read(buf) {
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                    Err(e) => return Err(e),
                }
                match t.tls.read_tls(&mut t.sock) {
                    Ok(0) => return Ok(0),
                    Ok(_) => {
                        if let Err(e) = t.tls.process_new_packets() {
                            // Try to tell the peer (an alert) before failing.
                            let _ = t.tls.write_tls(&mut t.sock);
                            return Err(tls_err(e));
                        }
                    }
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
