//! Thin wrappers over the libc calls the load client needs: epoll,
//! non-blocking TCP sockets, reads and writes, CPU time.

use std::io;
use std::net::SocketAddrV4;

pub type Fd = libc::c_int;

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

pub struct Epoll {
    fd: Fd,
}

impl Epoll {
    pub fn new() -> io::Result<Epoll> {
        let fd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        Ok(Epoll { fd })
    }

    /// Registers `fd` edge-triggered for read and write readiness, once:
    /// no epoll_ctl calls are needed afterwards.
    pub fn add(&self, fd: Fd, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32,
            u64: token,
        };
        cvt(unsafe { libc::epoll_ctl(self.fd, libc::EPOLL_CTL_ADD, fd, &mut ev) })?;
        Ok(())
    }

    pub fn wait(&self, events: &mut [libc::epoll_event], timeout_ms: i32) -> io::Result<usize> {
        let n = unsafe {
            libc::epoll_wait(self.fd, events.as_mut_ptr(), events.len() as libc::c_int, timeout_ms)
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(0);
            }
            return Err(e);
        }
        Ok(n as usize)
    }
}

impl Drop for Epoll {
    fn drop(&mut self) {
        unsafe { libc::close(self.fd) };
    }
}

/// Outcome of starting a non-blocking connect.
pub enum Connect {
    Done,
    InProgress,
}

/// Creates a non-blocking TCP socket with TCP_NODELAY (and SO_RCVBUF when
/// given, which must be set before the connect) and starts connecting it
/// to `addr`.
pub fn tcp_connect(addr: &SocketAddrV4, rcvbuf: Option<i32>) -> io::Result<(Fd, Connect)> {
    let fd = cvt(unsafe {
        libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0)
    })?;
    let one: libc::c_int = 1;
    unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            &one as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
        if let Some(n) = rcvbuf {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                &n as *const _ as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: addr.port().to_be(),
        sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(addr.ip().octets()) },
        sin_zero: [0; 8],
    };
    let r = unsafe {
        libc::connect(
            fd,
            &sin as *const libc::sockaddr_in as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    if r == 0 {
        return Ok((fd, Connect::Done));
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EINPROGRESS) {
        return Ok((fd, Connect::InProgress));
    }
    unsafe { libc::close(fd) };
    Err(e)
}

pub fn socket_error(fd: Fd) -> Option<io::Error> {
    let mut err: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            &mut err as *mut _ as *mut libc::c_void,
            &mut len,
        )
    };
    if r < 0 {
        return Some(io::Error::last_os_error());
    }
    if err != 0 {
        return Some(io::Error::from_raw_os_error(err));
    }
    None
}

pub enum Io {
    /// n > 0 bytes transferred
    Bytes(usize),
    /// read returned 0: the peer closed its side
    Eof,
    WouldBlock,
    Err(io::Error),
}

#[inline]
pub fn read(fd: Fd, buf: &mut [u8]) -> Io {
    loop {
        let n = unsafe { libc::read(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
        if n > 0 {
            return Io::Bytes(n as usize);
        }
        if n == 0 {
            return Io::Eof;
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EAGAIN) => return Io::WouldBlock,
            _ => return Io::Err(e),
        }
    }
}

#[inline]
pub fn write(fd: Fd, buf: &[u8]) -> Io {
    loop {
        let n = unsafe {
            libc::send(fd, buf.as_ptr() as *const libc::c_void, buf.len(), libc::MSG_NOSIGNAL)
        };
        if n >= 0 {
            return Io::Bytes(n as usize);
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EAGAIN) => return Io::WouldBlock,
            _ => return Io::Err(e),
        }
    }
}

pub fn close(fd: Fd) {
    unsafe { libc::close(fd) };
}

/// Raises RLIMIT_NOFILE's soft limit to the hard limit.
pub fn raise_nofile() -> u64 {
    unsafe {
        let mut rl = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) == 0 {
            if rl.rlim_cur < rl.rlim_max {
                rl.rlim_cur = rl.rlim_max;
                libc::setrlimit(libc::RLIMIT_NOFILE, &rl);
            }
            return rl.rlim_cur as u64;
        }
    }
    0
}

/// User + system CPU time of this process, in seconds.
pub fn cpu_seconds() -> f64 {
    unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 * 1e-6;
        t(ru.ru_utime) + t(ru.ru_stime)
    }
}
