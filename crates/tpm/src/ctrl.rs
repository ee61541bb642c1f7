//! swtpm's control channel (`--ctrl type=unixio`): a request is a big-endian 32-bit command code
//! followed by its fixed-size payload; the answer starts with a 32-bit TPM result, and only a
//! zero result is followed by the rest of the command's answer. CMD_GET_CAPABILITY is the
//! exception: its answer is a bare 64-bit capability mask.

use std::fmt;
use std::io;
use std::os::fd::RawFd;
use std::os::unix::net::UnixStream;

use crate::sys;

pub(crate) const CMD_GET_CAPABILITY: u32 = 0x01;
pub(crate) const CMD_INIT: u32 = 0x02;
pub(crate) const CMD_SHUTDOWN: u32 = 0x03;
pub(crate) const CMD_CANCEL_TPM_CMD: u32 = 0x09;
pub(crate) const CMD_STOP: u32 = 0x0e;
pub(crate) const CMD_SET_DATAFD: u32 = 0x10;
pub(crate) const CMD_SET_BUFFERSIZE: u32 = 0x11;

// Bits of the CMD_GET_CAPABILITY mask that connecting relies on.
pub(crate) const CAP_INIT: u64 = 1 << 0;
pub(crate) const CAP_SHUTDOWN: u64 = 1 << 1;
pub(crate) const CAP_STOP: u64 = 1 << 10;
pub(crate) const CAP_SET_DATAFD: u64 = 1 << 12;
pub(crate) const CAP_SET_BUFFERSIZE: u64 = 1 << 13;

pub(crate) fn cmd_name(cmd: u32) -> &'static str {
    match cmd {
        CMD_GET_CAPABILITY => "CMD_GET_CAPABILITY",
        CMD_INIT => "CMD_INIT",
        CMD_SHUTDOWN => "CMD_SHUTDOWN",
        CMD_CANCEL_TPM_CMD => "CMD_CANCEL_TPM_CMD",
        CMD_STOP => "CMD_STOP",
        CMD_SET_DATAFD => "CMD_SET_DATAFD",
        CMD_SET_BUFFERSIZE => "CMD_SET_BUFFERSIZE",
        _ => "control command",
    }
}

/// Why a control command failed.
#[derive(Debug)]
pub(crate) enum CtrlError {
    /// The socket failed (or had failed before, leaving request and answer out of step).
    Io(u32, io::Error),
    /// swtpm answered with a non-zero TPM result.
    Result(u32, u32),
}

impl fmt::Display for CtrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CtrlError::Io(cmd, e) => write!(f, "{}: {e}", cmd_name(*cmd)),
            CtrlError::Result(cmd, r) => {
                write!(f, "{} failed with TPM result {r:#x}", cmd_name(*cmd))
            }
        }
    }
}

/// The control connection. After an I/O error it stays broken: a late answer to a timed-out
/// request would otherwise be taken for the answer to the next one.
pub(crate) struct Ctrl {
    sock: UnixStream,
    broken: bool,
}

impl Ctrl {
    pub(crate) fn new(sock: UnixStream) -> Ctrl {
        Ctrl {
            sock,
            broken: false,
        }
    }

    /// Sends `cmd` with its argument, if it takes one (and `fd` as SCM_RIGHTS when given), and
    /// returns the `N` bytes that follow a zero result.
    pub(crate) fn request<const N: usize>(
        &mut self,
        cmd: u32,
        arg: Option<u32>,
        fd: Option<RawFd>,
    ) -> Result<[u8; N], CtrlError> {
        let mut result = [0u8; 4];
        let mut answer = [0u8; N];
        self.exchange(cmd, arg, fd, &mut result)?;
        let r = u32::from_be_bytes(result);
        if r != 0 {
            // swtpm sends the bare result on failure: nothing more to read.
            return Err(CtrlError::Result(cmd, r));
        }
        self.recv(cmd, &mut answer)?;
        Ok(answer)
    }

    /// CMD_GET_CAPABILITY, whose answer has no result field.
    pub(crate) fn capabilities(&mut self) -> Result<u64, CtrlError> {
        let mut caps = [0u8; 8];
        self.exchange(CMD_GET_CAPABILITY, None, None, &mut caps)?;
        Ok(u64::from_be_bytes(caps))
    }

    fn exchange(
        &mut self,
        cmd: u32,
        arg: Option<u32>,
        fd: Option<RawFd>,
        first: &mut [u8],
    ) -> Result<(), CtrlError> {
        if self.broken {
            return Err(CtrlError::Io(
                cmd,
                io::Error::new(
                    io::ErrorKind::NotConnected,
                    "control channel lost by an earlier error",
                ),
            ));
        }
        // One buffer, one send: swtpm gives a request only 500 ms to arrive whole.
        let mut req = [0u8; 8];
        req[..4].copy_from_slice(&cmd.to_be_bytes());
        let len = match arg {
            Some(a) => {
                req[4..].copy_from_slice(&a.to_be_bytes());
                8
            }
            None => 4,
        };
        if let Err(e) = sys::send_all(&self.sock, &req[..len], fd) {
            self.broken = true;
            return Err(CtrlError::Io(cmd, e));
        }
        self.recv(cmd, first)
    }

    fn recv(&mut self, cmd: u32, buf: &mut [u8]) -> Result<(), CtrlError> {
        sys::recv_exact(&self.sock, buf).map_err(|e| {
            self.broken = true;
            CtrlError::Io(cmd, e)
        })
    }
}
