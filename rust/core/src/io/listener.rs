//! Listening sockets: SO_REUSEADDR always (a restart on the same port must
//! not fail on TIME_WAIT), SO_REUSEPORT on request (`--workers N`).

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

pub fn bind(addr: SocketAddr, reuse_port: bool, backlog: i32) -> io::Result<mio::net::TcpListener> {
    let domain = if addr.is_ipv6() {
        Domain::IPV6
    } else {
        Domain::IPV4
    };
    let sock = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
    sock.set_reuse_address(true)?;
    if reuse_port {
        sock.set_reuse_port(true)?;
    }
    if addr.is_ipv6() {
        sock.set_only_v6(true)?;
    }
    sock.set_nonblocking(true)?;
    sock.bind(&addr.into())?;
    sock.listen(backlog)?;
    Ok(mio::net::TcpListener::from_std(sock.into()))
}
