//! `-tpmdev emulator`: a TPM in a separate swtpm process. Connecting hands swtpm the data
//! channel (one end of a socket pair, passed with SCM_RIGHTS), sets the buffer size, starts the
//! TPM with CMD_INIT and probes which TPM it is. Commands then go over the data channel one at a
//! time, each answered by exactly one response whose length is in its header.
//!
//! The guest's bytes never desynchronise the data channel: swtpm reads a command with a single
//! read into a buffer of the negotiated size (plus a 9-byte prefix), so anything longer would be
//! taken as two commands and anything shorter than the 10-byte header would leave it waiting for
//! more; those are refused here without being sent. Responses are read by their size field, which
//! is checked against the buffer size before anything is read into memory. Any I/O error or
//! timeout leaves the channel out of step, so it is then closed for good.

use std::io::{self, ErrorKind};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::ctrl::{self, Ctrl, CtrlError};
use crate::{sys, TpmVersion};

/// TPM command and response header: tag (2), size (4), ordinal or result code (4).
const HEADER_LEN: usize = 10;

/// Buffer size asked of swtpm: what QEMU's TPM devices use, and the most libtpms offers.
const WANTED_BUFFER_SIZE: u32 = 4096;

/// Bounds on the buffer size swtpm may answer with, so a confused swtpm cannot make us allocate
/// without limit or accept no command at all.
const MIN_BUFFER_SIZE: usize = 256;
const MAX_BUFFER_SIZE: usize = 1 << 20;

/// swtpm (TPM 2 only) takes a command starting with this big-endian word as a TCG "send command"
/// prefix: it strips 9 bytes, switches locality and wraps the response in a size prefix and an
/// acknowledgement, which would put the response stream out of step.
const TCG_SEND_COMMAND: u32 = 8;

const TPM2_ST_NO_SESSIONS: u16 = 0x8001;
const TPM_TAG_RSP_COMMAND: u16 = 0x00c4;

/// TPM2_GetCapability(TPM_CAP_TPM_PROPERTIES, TPM_PT_FAMILY_INDICATOR, 1). A TPM 2 answers with
/// its own tag (here TPM_RC_INITIALIZE, as TPM2_Startup has not run, so nothing changes); a
/// TPM 1.2 rejects the unknown tag with a TPM 1.2 response.
const PROBE: [u8; 22] = [
    0x80, 0x01, // TPM_ST_NO_SESSIONS
    0x00, 0x00, 0x00, 0x16, // size
    0x00, 0x00, 0x01, 0x7a, // TPM_CC_GetCapability
    0x00, 0x00, 0x00, 0x06, // TPM_CAP_TPM_PROPERTIES
    0x00, 0x00, 0x01, 0x00, // TPM_PT_FAMILY_INDICATOR
    0x00, 0x00, 0x00, 0x01, // propertyCount
];

/// The data channel and a response buffer of the negotiated size.
struct Data {
    sock: UnixStream,
    buf: Vec<u8>,
    /// Why the channel was given up, once it has been.
    broken: Option<String>,
}

impl Data {
    /// Sends `cmd` and reads its response into `self.buf`, returning the response's length.
    fn transact(&mut self, cmd: &[u8]) -> io::Result<usize> {
        if let Some(why) = &self.broken {
            return Err(io::Error::new(
                ErrorKind::NotConnected,
                format!("TPM data channel lost earlier: {why}"),
            ));
        }
        let r = self.exchange(cmd);
        if let Err(e) = &r {
            self.broken = Some(e.to_string());
            // Tells swtpm too, which then drops its end.
            let _ = self.sock.shutdown(std::net::Shutdown::Both);
        }
        r
    }

    fn exchange(&mut self, cmd: &[u8]) -> io::Result<usize> {
        sys::send_all(&self.sock, cmd, None)?;
        sys::recv_exact(&self.sock, &mut self.buf[..HEADER_LEN])?;
        let size =
            u32::from_be_bytes([self.buf[2], self.buf[3], self.buf[4], self.buf[5]]) as usize;
        if !(HEADER_LEN..=self.buf.len()).contains(&size) {
            return Err(io::Error::new(
                ErrorKind::InvalidData,
                format!(
                    "swtpm sent a response of {size} bytes (buffer size {})",
                    self.buf.len()
                ),
            ));
        }
        sys::recv_exact(&self.sock, &mut self.buf[HEADER_LEN..size])?;
        Ok(size)
    }
}

/// A connection to one swtpm. Commands are serialised; the control channel has its own lock so
/// that [`Emulator::cancel`] can reach swtpm while a command runs.
pub struct Emulator {
    id: String,
    version: TpmVersion,
    buffer_size: usize,
    ctrl: Mutex<Ctrl>,
    data: Mutex<Data>,
    shut_down: AtomicBool,
}

/// Locks ignoring poison: the guarded state is consistent between statements, and a panic
/// elsewhere must not turn into panics here.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Emulator {
    /// Connects to swtpm's control socket at `ctrl`, hands it the data channel, negotiates the
    /// buffer size, starts the TPM (CMD_INIT) and finds out which TPM it is. `id` is the
    /// `-tpmdev` id, for the one-line error.
    pub fn connect(id: &str, ctrl: &Path) -> Result<Emulator, String> {
        Self::handshake(id, ctrl).map_err(|e| {
            format!(
                "-tpmdev emulator,id={id}: cannot connect to swtpm at {}: {e}",
                ctrl.display()
            )
        })
    }

    fn handshake(id: &str, path: &Path) -> Result<Emulator, String> {
        let sock = UnixStream::connect(path).map_err(|e| e.to_string())?;
        sys::set_timeouts(&sock).map_err(|e| e.to_string())?;
        let mut ctrl = Ctrl::new(sock);
        let err = |e: CtrlError| e.to_string();

        let caps = ctrl.capabilities().map_err(err)?;
        let needed = [
            (ctrl::CAP_INIT, "CMD_INIT"),
            (ctrl::CAP_SHUTDOWN, "CMD_SHUTDOWN"),
            (ctrl::CAP_STOP, "CMD_STOP"),
            (ctrl::CAP_SET_DATAFD, "CMD_SET_DATAFD"),
            (ctrl::CAP_SET_BUFFERSIZE, "CMD_SET_BUFFERSIZE"),
        ];
        if let Some((_, name)) = needed.iter().find(|(bit, _)| caps & bit == 0) {
            return Err(format!("this swtpm does not support {name}"));
        }

        let (ours, theirs) = UnixStream::pair().map_err(|e| e.to_string())?;
        sys::set_timeouts(&ours).map_err(|e| e.to_string())?;
        ctrl.request::<0>(ctrl::CMD_SET_DATAFD, None, Some(theirs.as_raw_fd()))
            .map_err(err)?;
        // swtpm holds its own copy now.
        drop(theirs);

        // The buffer size can only be set while the TPM is stopped (it may be running already,
        // e.g. when swtpm was started with --flags not-need-init).
        ctrl.request::<0>(ctrl::CMD_STOP, None, None).map_err(err)?;
        let sizes = ctrl
            .request::<12>(ctrl::CMD_SET_BUFFERSIZE, Some(WANTED_BUFFER_SIZE), None)
            .map_err(err)?;
        let buffer_size = u32::from_be_bytes([sizes[0], sizes[1], sizes[2], sizes[3]]) as usize;
        if !(MIN_BUFFER_SIZE..=MAX_BUFFER_SIZE).contains(&buffer_size) {
            return Err(format!(
                "swtpm offers an unusable buffer size of {buffer_size} bytes"
            ));
        }
        ctrl.request::<0>(ctrl::CMD_INIT, Some(0), None)
            .map_err(err)?;

        let mut data = Data {
            sock: ours,
            buf: vec![0; buffer_size],
            broken: None,
        };
        let n = data
            .transact(&PROBE)
            .map_err(|e| format!("probing the TPM version: {e}"))?;
        let tag = u16::from_be_bytes([data.buf[0], data.buf[1]]);
        let version = match tag {
            TPM2_ST_NO_SESSIONS => TpmVersion::V2_0,
            TPM_TAG_RSP_COMMAND => TpmVersion::V1_2,
            _ => {
                return Err(format!(
                    "probing the TPM version: unexpected response tag {tag:#06x} ({n} bytes)"
                ))
            }
        };

        Ok(Emulator {
            id: id.to_string(),
            version,
            buffer_size,
            ctrl: Mutex::new(ctrl),
            data: Mutex::new(data),
            shut_down: AtomicBool::new(false),
        })
    }

    pub fn version(&self) -> TpmVersion {
        self.version
    }

    /// The largest command or response, in bytes (the buffer size negotiated with swtpm).
    pub fn buffer_size(&self) -> usize {
        self.buffer_size
    }

    /// Runs one TPM command (a whole command blob) and writes its response into `resp`,
    /// returning the response's length. Commands from several threads run one after another.
    ///
    /// A malformed command is the TPM's to answer, with an error code in a normal response.
    /// Errors of kind `InvalidInput` are commands refused without being sent (longer than
    /// [`Self::buffer_size`], shorter than a header, or a TCG send-command prefix), leaving the
    /// channel usable; so does a response longer than `resp`. Any other error means swtpm is
    /// gone or broke the protocol, and every later command fails too.
    pub fn execute(&self, cmd: &[u8], resp: &mut [u8]) -> io::Result<usize> {
        let refuse = |why: String| Err(io::Error::new(ErrorKind::InvalidInput, why));
        if cmd.len() > self.buffer_size {
            return refuse(format!(
                "TPM command of {} bytes exceeds the buffer size of {}",
                cmd.len(),
                self.buffer_size
            ));
        }
        if cmd.len() < HEADER_LEN {
            return refuse(format!(
                "TPM command of {} bytes is shorter than a command header",
                cmd.len()
            ));
        }
        if self.version == TpmVersion::V2_0
            && u32::from_be_bytes([cmd[0], cmd[1], cmd[2], cmd[3]]) == TCG_SEND_COMMAND
        {
            return refuse("TPM command starts with a TCG send-command prefix".to_string());
        }
        if self.shut_down.load(Ordering::Acquire) {
            return Err(io::Error::new(
                ErrorKind::NotConnected,
                "the TPM has been shut down",
            ));
        }

        let mut data = lock(&self.data);
        let n = data.transact(cmd)?;
        let Some(out) = resp.get_mut(..n) else {
            return Err(io::Error::other(format!(
                "TPM response of {n} bytes does not fit a {}-byte buffer",
                resp.len()
            )));
        };
        out.copy_from_slice(&data.buf[..n]);
        Ok(n)
    }

    /// Asks swtpm to cancel the command in progress (CMD_CANCEL_TPM_CMD). Best effort: swtpm
    /// handles control requests between commands, and whatever it answers is of no consequence.
    pub fn cancel(&self) {
        if self.shut_down.load(Ordering::Acquire) {
            return;
        }
        let _ = lock(&self.ctrl).request::<0>(ctrl::CMD_CANCEL_TPM_CMD, None, None);
    }

    /// Restarts the TPM after a machine reset (CMD_INIT), as a power cycle would: the guest's
    /// firmware sends TPM2_Startup again.
    pub fn reset(&self) -> Result<(), String> {
        let fail = |why: String| {
            format!(
                "-tpmdev emulator,id={}: cannot reset the TPM: {why}",
                self.id
            )
        };
        if self.shut_down.load(Ordering::Acquire) {
            return Err(fail("the TPM has been shut down".to_string()));
        }
        // Waits for a command in flight so the TPM is not restarted under it.
        let _data = lock(&self.data);
        lock(&self.ctrl)
            .request::<0>(ctrl::CMD_INIT, Some(0), None)
            .map(|_| ())
            .map_err(|e| fail(e.to_string()))
    }

    /// Stops swtpm for good (CMD_SHUTDOWN, after which the swtpm process exits). Only the first
    /// call does anything; also done on drop.
    pub fn shutdown(&self) {
        if self.shut_down.swap(true, Ordering::AcqRel) {
            return;
        }
        // Not waiting for the data lock: a command stuck in a hung swtpm must not delay exit
        // beyond the control channel's own timeout.
        let _ = lock(&self.ctrl).request::<0>(ctrl::CMD_SHUTDOWN, None, None);
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.shutdown();
    }
}
