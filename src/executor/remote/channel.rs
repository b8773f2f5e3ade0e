//! The byte stream to the executor: a pipe pair or a TCP socket, as raw descriptors.
//!
//! Sending never blocks for longer than the timeout (a stuck executor must not hang the
//! JIT); receiving blocks, on the reader thread only, and ends when the peer hangs up.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// Our sending end.
pub(super) struct Outbound {
    fd: OwnedFd,
    socket: bool,
}

impl Outbound {
    /// A pipe's write end (made non-blocking: it is ours alone) or a socket (left blocking,
    /// since the reader shares it; each send asks not to wait instead).
    pub fn new(fd: OwnedFd, socket: bool) -> io::Result<Outbound> {
        if !socket {
            // SAFETY: fcntl on a descriptor we own.
            let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
            if flags < 0 || unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(Outbound { fd, socket })
    }

    /// Writes all of `bytes`, waiting at most `timeout` for the peer to make room.
    pub fn send(&self, mut bytes: &[u8], timeout: Duration) -> io::Result<()> {
        let deadline = Instant::now() + timeout;
        let fd = self.fd.as_raw_fd();
        while !bytes.is_empty() {
            // SAFETY: writing from a live slice to a descriptor we own.
            let n = unsafe {
                if self.socket {
                    libc::send(fd, bytes.as_ptr().cast(), bytes.len(), libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL)
                } else {
                    libc::write(fd, bytes.as_ptr().cast(), bytes.len())
                }
            };
            if n >= 0 {
                bytes = &bytes[n as usize..];
                continue;
            }
            let error = io::Error::last_os_error();
            match error.kind() {
                io::ErrorKind::Interrupted => {}
                io::ErrorKind::WouldBlock => wait_writable(fd, deadline)?,
                _ => return Err(error),
            }
        }
        Ok(())
    }

    /// Tells the peer we are done; for a socket this also wakes our own reader.
    pub fn shut_down(&self) {
        if self.socket {
            // SAFETY: shutdown on a socket we own.
            unsafe { libc::shutdown(self.fd.as_raw_fd(), libc::SHUT_RDWR) };
        }
    }
}

fn wait_writable(fd: i32, deadline: Instant) -> io::Result<()> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "the executor stopped reading"));
        }
        let mut poll = libc::pollfd { fd, events: libc::POLLOUT, revents: 0 };
        let millis = left.as_millis().clamp(1, i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd.
        match unsafe { libc::poll(&mut poll, 1, millis) } {
            n if n > 0 => return Ok(()),
            0 => {}
            _ => {
                let error = io::Error::last_os_error();
                if error.kind() != io::ErrorKind::Interrupted {
                    return Err(error);
                }
            }
        }
    }
}

/// Our receiving end, read by the reader thread with ordinary blocking reads.
pub(super) fn inbound(fd: OwnedFd) -> File {
    File::from(fd)
}
