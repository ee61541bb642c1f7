//! The socket calls std does not offer: sending bytes with a file descriptor attached
//! (SCM_RIGHTS, how swtpm is handed its data channel) and sending without SIGPIPE, so that a
//! dead swtpm is an error here and never a signal that kills the whole emulator. Reads go
//! through std; both directions turn a socket timeout into `ErrorKind::TimedOut`.

use std::io::{self, ErrorKind, Read};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// How long one send or receive may wait for swtpm before the channel is given up: long enough
/// for the slowest TPM operation (RSA key generation takes seconds), short enough that a hung
/// swtpm does not stall a vCPU for ever.
pub(crate) const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// Control-message space for one file descriptor, as u64s so the buffer has `cmsghdr`'s
/// alignment.
type CmsgBuf = [u64; 4];

const INT_LEN: u32 = std::mem::size_of::<libc::c_int>() as u32;
// SAFETY: CMSG_SPACE and CMSG_LEN are pure arithmetic on the length; libc marks them unsafe
// only because some platforms implement them as functions.
const CMSG_SPACE_INT: usize = unsafe { libc::CMSG_SPACE(INT_LEN) } as usize;
// SAFETY: as above.
const CMSG_LEN_INT: usize = unsafe { libc::CMSG_LEN(INT_LEN) } as usize;
const _: () = assert!(CMSG_SPACE_INT <= std::mem::size_of::<CmsgBuf>());

/// Puts [`IO_TIMEOUT`] on both directions of `sock`.
pub(crate) fn set_timeouts(sock: &UnixStream) -> io::Result<()> {
    sock.set_read_timeout(Some(IO_TIMEOUT))?;
    sock.set_write_timeout(Some(IO_TIMEOUT))
}

/// Sends all of `buf`, with `fd` attached to the first byte when given. One `sendmsg` normally
/// carries it all, which matters: swtpm reads a command with a single read.
pub(crate) fn send_all(sock: &UnixStream, mut buf: &[u8], mut fd: Option<RawFd>) -> io::Result<()> {
    while !buf.is_empty() {
        let mut iov = libc::iovec {
            iov_base: buf.as_ptr() as *mut libc::c_void,
            iov_len: buf.len(),
        };
        let mut cmsg_buf: CmsgBuf = [0; 4];
        // SAFETY: msghdr is plain old data; all-zero is a valid empty header.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        if let Some(fd) = fd {
            msg.msg_control = cmsg_buf.as_mut_ptr().cast();
            msg.msg_controllen = CMSG_SPACE_INT as _;
            // SAFETY: msg_control points at cmsg_buf, aligned for cmsghdr and at least
            // CMSG_SPACE(sizeof(int)) long (checked at compile time above), so CMSG_FIRSTHDR is
            // non-null and the header plus one int of data lie inside the buffer.
            unsafe {
                let cmsg = libc::CMSG_FIRSTHDR(&msg);
                (*cmsg).cmsg_level = libc::SOL_SOCKET;
                (*cmsg).cmsg_type = libc::SCM_RIGHTS;
                (*cmsg).cmsg_len = CMSG_LEN_INT as _;
                std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::c_int>(), fd);
            }
        }
        // SAFETY: msg describes one iovec over `buf` (alive and unaliased for the call) and,
        // when set, a control buffer on this stack frame; sendmsg only reads them.
        let n = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
        if n < 0 {
            let e = io::Error::last_os_error();
            match e.kind() {
                ErrorKind::Interrupted => continue,
                ErrorKind::WouldBlock => return Err(timed_out()),
                _ => return Err(e),
            }
        }
        if n == 0 {
            return Err(ErrorKind::WriteZero.into());
        }
        // The descriptor went with the first chunk; it must not be sent twice.
        fd = None;
        buf = &buf[n as usize..];
    }
    Ok(())
}

/// Fills `buf` from `sock`; end of stream is `UnexpectedEof`, a timeout `TimedOut`.
pub(crate) fn recv_exact(mut sock: &UnixStream, buf: &mut [u8]) -> io::Result<()> {
    sock.read_exact(buf).map_err(|e| match e.kind() {
        // A receive timeout surfaces as EAGAIN.
        ErrorKind::WouldBlock => timed_out(),
        ErrorKind::UnexpectedEof => {
            io::Error::new(ErrorKind::UnexpectedEof, "swtpm closed the connection")
        }
        _ => e,
    })
}

fn timed_out() -> io::Error {
    io::Error::new(
        ErrorKind::TimedOut,
        format!("swtpm did not answer within {} s", IO_TIMEOUT.as_secs()),
    )
}
