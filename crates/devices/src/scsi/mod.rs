//! SCSI target emulation, independent of the transport: disks and CD-ROMs ([`ScsiDisk`]) on a
//! [`block::BlockBackend`], grouped by target and LUN on a [`Bus`]. A transport (virtio-scsi,
//! later spapr-vscsi) decodes its own request format, hands the CDB and the guest's scatter list
//! ([`DataBuffers`]) to [`Bus::execute`] and encodes the [`Response`] (status, sense, residual).
//!
//! Data moves between the image and guest memory with vectored I/O, without a bounce buffer;
//! the small answers (INQUIRY, MODE SENSE...) are built on the stack and copied into the guest's
//! buffers, clamped to both the CDB's allocation length and the buffers' size.

pub mod disk;

pub use disk::{Kind, ScsiDisk};

/// Status codes (SAM-5).
pub mod status {
    pub const GOOD: u8 = 0x00;
    pub const CHECK_CONDITION: u8 = 0x02;
    pub const BUSY: u8 = 0x08;
}

/// Sense keys.
pub mod key {
    pub const NO_SENSE: u8 = 0x0;
    pub const NOT_READY: u8 = 0x2;
    pub const MEDIUM_ERROR: u8 = 0x3;
    pub const HARDWARE_ERROR: u8 = 0x4;
    pub const ILLEGAL_REQUEST: u8 = 0x5;
    pub const UNIT_ATTENTION: u8 = 0x6;
    pub const DATA_PROTECT: u8 = 0x7;
    pub const ABORTED_COMMAND: u8 = 0xb;
}

/// Operation codes the emulation knows.
pub mod op {
    pub const TEST_UNIT_READY: u8 = 0x00;
    pub const REQUEST_SENSE: u8 = 0x03;
    pub const READ_6: u8 = 0x08;
    pub const WRITE_6: u8 = 0x0a;
    pub const INQUIRY: u8 = 0x12;
    pub const MODE_SENSE_6: u8 = 0x1a;
    pub const START_STOP_UNIT: u8 = 0x1b;
    pub const PREVENT_ALLOW_MEDIUM_REMOVAL: u8 = 0x1e;
    pub const READ_CAPACITY_10: u8 = 0x25;
    pub const READ_10: u8 = 0x28;
    pub const WRITE_10: u8 = 0x2a;
    pub const WRITE_VERIFY_10: u8 = 0x2e;
    pub const VERIFY_10: u8 = 0x2f;
    pub const SYNCHRONIZE_CACHE_10: u8 = 0x35;
    pub const READ_TOC: u8 = 0x43;
    pub const GET_CONFIGURATION: u8 = 0x46;
    pub const GET_EVENT_STATUS_NOTIFICATION: u8 = 0x4a;
    pub const READ_DISC_INFORMATION: u8 = 0x51;
    pub const MODE_SENSE_10: u8 = 0x5a;
    pub const READ_16: u8 = 0x88;
    pub const WRITE_16: u8 = 0x8a;
    pub const WRITE_VERIFY_16: u8 = 0x8e;
    pub const VERIFY_16: u8 = 0x8f;
    pub const SYNCHRONIZE_CACHE_16: u8 = 0x91;
    pub const SERVICE_ACTION_IN_16: u8 = 0x9e;
    pub const REPORT_LUNS: u8 = 0xa0;
    pub const READ_12: u8 = 0xa8;
    pub const WRITE_12: u8 = 0xaa;
    pub const WRITE_VERIFY_12: u8 = 0xae;
    pub const VERIFY_12: u8 = 0xaf;
    pub const MECHANISM_STATUS: u8 = 0xbd;
    /// SERVICE ACTION IN(16) service action.
    pub const SAI_READ_CAPACITY_16: u8 = 0x10;
}

/// A sense key with its additional sense code and qualifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sense {
    pub key: u8,
    pub asc: u8,
    pub ascq: u8,
}

impl Sense {
    pub const NO_SENSE: Sense = Sense::new(key::NO_SENSE, 0x00, 0x00);
    pub const INVALID_OPCODE: Sense = Sense::new(key::ILLEGAL_REQUEST, 0x20, 0x00);
    pub const LBA_OUT_OF_RANGE: Sense = Sense::new(key::ILLEGAL_REQUEST, 0x21, 0x00);
    pub const INVALID_FIELD: Sense = Sense::new(key::ILLEGAL_REQUEST, 0x24, 0x00);
    pub const LUN_NOT_SUPPORTED: Sense = Sense::new(key::ILLEGAL_REQUEST, 0x25, 0x00);
    pub const SAVING_NOT_SUPPORTED: Sense = Sense::new(key::ILLEGAL_REQUEST, 0x39, 0x00);
    pub const REMOVAL_PREVENTED: Sense = Sense::new(key::ILLEGAL_REQUEST, 0x53, 0x02);
    pub const WRITE_PROTECTED: Sense = Sense::new(key::DATA_PROTECT, 0x27, 0x00);
    pub const READ_ERROR: Sense = Sense::new(key::MEDIUM_ERROR, 0x11, 0x00);
    pub const WRITE_ERROR: Sense = Sense::new(key::MEDIUM_ERROR, 0x0c, 0x00);

    pub const fn new(key: u8, asc: u8, ascq: u8) -> Sense {
        Sense { key, asc, ascq }
    }

    /// Length of fixed-format sense data.
    pub const FIXED_LEN: usize = 18;

    /// Fixed-format sense data (response code 0x70, current error).
    pub fn fixed(&self) -> [u8; Sense::FIXED_LEN] {
        let mut s = [0u8; Sense::FIXED_LEN];
        s[0] = 0x70;
        s[2] = self.key & 0xf;
        s[7] = (Sense::FIXED_LEN - 8) as u8;
        s[12] = self.asc;
        s[13] = self.ascq;
        s
    }

    /// Descriptor-format sense data without descriptors (response code 0x72).
    pub fn descriptor(&self) -> [u8; 8] {
        [0x72, self.key & 0xf, self.asc, self.ascq, 0, 0, 0, 0]
    }
}

/// The outcome of one command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u8,
    /// With CHECK CONDITION: what went wrong (the transport returns it as autosense).
    pub sense: Option<Sense>,
    /// Bytes of the data buffers not transferred: buffers' length minus bytes moved.
    pub residual: u64,
    /// The command would move more data than the buffers hold: nothing was done, and the
    /// transport reports its own overrun error (virtio-scsi's VIRTIO_SCSI_S_OVERRUN).
    pub overrun: bool,
}

impl Response {
    /// GOOD, having moved `done` of the buffers' `len` bytes.
    pub fn good(len: u64, done: u64) -> Response {
        Response {
            status: status::GOOD,
            sense: None,
            residual: len.saturating_sub(done),
            overrun: false,
        }
    }

    /// CHECK CONDITION with `sense`; no data moved.
    pub fn check(len: u64, sense: Sense) -> Response {
        Response {
            status: status::CHECK_CONDITION,
            sense: Some(sense),
            residual: len,
            overrun: false,
        }
    }

    /// The buffers are too small for the transfer the CDB asks for.
    pub fn overrun(len: u64) -> Response {
        Response {
            status: status::GOOD,
            sense: None,
            residual: len,
            overrun: true,
        }
    }

    /// The sense data as the transport returns it (fixed format); empty without sense.
    pub fn sense_bytes(&self) -> ([u8; Sense::FIXED_LEN], usize) {
        match self.sense {
            Some(s) => (s.fixed(), Sense::FIXED_LEN),
            None => ([0; Sense::FIXED_LEN], 0),
        }
    }
}

/// Which way the data of a command flows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// No data buffers.
    None,
    /// Device to initiator (data-in: reads, INQUIRY...): the buffers are written.
    In,
    /// Initiator to device (data-out: writes): the buffers are read.
    Out,
}

/// The guest's data buffers for one command: a scatter list of host pointers into guest memory
/// (the transport translated and bounds-checked them), all in one direction.
pub struct DataBuffers<'a> {
    iov: &'a mut [libc::iovec],
    dir: Direction,
    len: u64,
}

impl<'a> DataBuffers<'a> {
    /// No data phase.
    pub fn none() -> DataBuffers<'static> {
        DataBuffers {
            iov: &mut [],
            dir: Direction::None,
            len: 0,
        }
    }

    /// Buffers flowing in direction `dir`.
    ///
    /// # Safety
    /// Every iovec must describe memory that stays valid for the lifetime `'a`, writable for
    /// [`Direction::In`] and readable for [`Direction::Out`], and not otherwise referenced by
    /// Rust while the buffers live (guest RAM the transport bounds-checked).
    pub unsafe fn new(dir: Direction, iov: &'a mut [libc::iovec]) -> DataBuffers<'a> {
        let len = iov.iter().map(|v| v.iov_len as u64).sum();
        let dir = if iov.is_empty() { Direction::None } else { dir };
        DataBuffers { iov, dir, len }
    }

    pub fn direction(&self) -> Direction {
        self.dir
    }

    /// Total bytes of the buffers.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Copies `src` into data-in buffers from their start; returns the bytes copied (all of
    /// `src` that fits; nothing for other directions).
    pub fn copy_in(&mut self, src: &[u8]) -> u64 {
        self.copy_in_at(0, src)
    }

    /// Copies `src` into data-in buffers at byte `offset` of the scatter list.
    pub fn copy_in_at(&mut self, offset: u64, src: &[u8]) -> u64 {
        if self.dir != Direction::In {
            return 0;
        }
        let mut skip = offset;
        let mut done = 0usize;
        for v in self.iov.iter() {
            if done == src.len() {
                break;
            }
            let vlen = v.iov_len as u64;
            if skip >= vlen {
                skip -= vlen;
                continue;
            }
            let room = (vlen - skip) as usize;
            let n = room.min(src.len() - done);
            // SAFETY: `new`'s contract makes this iovec writable memory of iov_len bytes, and
            // skip + n <= iov_len; src is a distinct Rust slice of at least done + n bytes.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    src.as_ptr().add(done),
                    (v.iov_base as *mut u8).add(skip as usize),
                    n,
                );
            }
            done += n;
            skip = 0;
        }
        done as u64
    }

    /// Runs `f` on the scatter list cut to its first `bytes` bytes (which the caller checked
    /// the buffers hold), then restores it: a transfer shorter than the buffers moves exactly
    /// `bytes` without copying the list.
    fn with_prefix<R>(&mut self, bytes: u64, f: impl FnOnce(&[libc::iovec]) -> R) -> R {
        let mut left = bytes;
        let mut n = 0;
        let mut saved = None;
        for (i, v) in self.iov.iter_mut().enumerate() {
            if left == 0 {
                break;
            }
            n = i + 1;
            let vlen = v.iov_len as u64;
            if vlen >= left {
                if vlen > left {
                    saved = Some((i, v.iov_len));
                    v.iov_len = left as usize;
                }
                break;
            }
            left -= vlen;
        }
        let r = f(&self.iov[..n]);
        if let Some((i, l)) = saved {
            if let Some(v) = self.iov.get_mut(i) {
                v.iov_len = l;
            }
        }
        r
    }
}

/// The longest CDB the emulation decodes; longer ones (virtio-scsi sends 32 bytes) carry only
/// padding for the commands it knows.
pub const MAX_CDB: usize = 16;

/// Length of the CDB of `opcode` (its group code), SPC-4 4.2.5.1.
pub fn cdb_len(opcode: u8) -> usize {
    match opcode >> 5 {
        0 => 6,
        1 | 2 => 10,
        4 => 16,
        5 => 12,
        // Groups 3 (variable length) and 6/7 (vendor): treated as 16 for the length check; no
        // such command is implemented.
        _ => 16,
    }
}

/// The CDB zero-padded to [`MAX_CDB`] bytes, so fields can be read at fixed offsets; None when
/// the transport gave fewer bytes than the opcode's CDB needs.
pub(crate) fn cdb_array(cdb: &[u8]) -> Option<[u8; MAX_CDB]> {
    let op = *cdb.first()?;
    if cdb.len() < cdb_len(op) {
        return None;
    }
    let mut c = [0u8; MAX_CDB];
    let n = cdb.len().min(MAX_CDB);
    c[..n].copy_from_slice(&cdb[..n]);
    Some(c)
}

pub(crate) fn be16(b: &[u8]) -> u64 {
    b.iter().take(2).fold(0, |a, &x| a << 8 | x as u64)
}

pub(crate) fn be32(b: &[u8]) -> u64 {
    b.iter().take(4).fold(0, |a, &x| a << 8 | x as u64)
}

pub(crate) fn be64(b: &[u8]) -> u64 {
    b.iter().take(8).fold(0, |a, &x| a << 8 | x as u64)
}

/// Copies the answer `buf` (the first `alloc` bytes of it, the CDB's allocation length) into
/// data-in buffers; GOOD with the residual.
pub(crate) fn answer(data: &mut DataBuffers, buf: &[u8], alloc: u64) -> Response {
    let n = (buf.len() as u64).min(alloc) as usize;
    let done = data.copy_in(&buf[..n]);
    Response::good(data.len(), done)
}

/// A LUN in the SAM single-level format REPORT LUNS lists: peripheral addressing below 256,
/// flat space addressing above.
pub fn encode_lun(lun: u16) -> [u8; 8] {
    let mut b = [0u8; 8];
    if lun < 256 {
        b[1] = lun as u8;
    } else {
        b[0] = 0x40 | ((lun >> 8) as u8 & 0x3f);
        b[1] = lun as u8;
    }
    b
}

/// One logical unit of a [`Bus`].
struct Unit {
    target: u16,
    lun: u16,
    disk: ScsiDisk,
}

/// The logical units behind one initiator port (channel 0): what a SCSI controller sees.
/// Besides forwarding commands to the units it answers what the SCSI target itself does:
/// REPORT LUNS, and the commands addressed to a LUN the target does not have.
#[derive(Default)]
pub struct Bus {
    units: Vec<Unit>,
}

impl Bus {
    pub fn new() -> Bus {
        Bus::default()
    }

    /// Attaches `disk` at `target`/`lun`; an occupied address is an error.
    pub fn attach(&mut self, target: u16, lun: u16, disk: ScsiDisk) -> Result<(), String> {
        if self
            .units
            .iter()
            .any(|u| u.target == target && u.lun == lun)
        {
            return Err(format!("scsi-id={target},lun={lun} is already in use"));
        }
        self.units.push(Unit { target, lun, disk });
        Ok(())
    }

    /// Whether any unit answers at `target`.
    pub fn has_target(&self, target: u16) -> bool {
        self.units.iter().any(|u| u.target == target)
    }

    /// The unit at `target`/`lun`.
    pub fn unit(&self, target: u16, lun: u16) -> Option<&ScsiDisk> {
        self.units
            .iter()
            .find(|u| u.target == target && u.lun == lun)
            .map(|u| &u.disk)
    }

    /// Executes `cdb` for `target`/`lun`; None when the target does not exist (the transport's
    /// "bad target" answer, e.g. a selection timeout).
    pub fn execute(
        &self,
        target: u16,
        lun: u16,
        cdb: &[u8],
        data: &mut DataBuffers,
    ) -> Option<Response> {
        if !self.has_target(target) {
            return None;
        }
        if cdb.first() == Some(&op::REPORT_LUNS) {
            return Some(self.report_luns(target, cdb, data));
        }
        Some(match self.unit(target, lun) {
            Some(d) => d.execute(cdb, data),
            None => missing_lun(cdb, data),
        })
    }

    /// REPORT LUNS: every LUN of `target`, LUN 0 always (SPC-4 requires LUN 0 to answer even
    /// when no unit is there, which `missing_lun` does).
    fn report_luns(&self, target: u16, cdb: &[u8], data: &mut DataBuffers) -> Response {
        let Some(c) = cdb_array(cdb) else {
            return Response::check(data.len(), Sense::INVALID_FIELD);
        };
        let alloc = be32(&c[6..10]);
        // SPC-4 6.33: an allocation length below 16 is invalid.
        if alloc < 16 {
            return Response::check(data.len(), Sense::INVALID_FIELD);
        }
        let others = self
            .units
            .iter()
            .filter(|u| u.target == target && u.lun != 0)
            .count() as u64;
        let list_len = 8 * (1 + others);
        let mut hdr = [0u8; 8];
        hdr[0..4].copy_from_slice(&(list_len as u32).to_be_bytes());
        let total = (8 + list_len).min(alloc);
        // Written in place, entry by entry: the list has no fixed bound worth a stack buffer.
        let mut done = data.copy_in_at(0, &hdr[..total.min(8) as usize]);
        let luns = std::iter::once(0).chain(
            self.units
                .iter()
                .filter(|u| u.target == target && u.lun != 0)
                .map(|u| u.lun),
        );
        for (i, lun) in luns.enumerate() {
            let at = 8 + 8 * i as u64;
            if at >= total {
                break;
            }
            let e = encode_lun(lun);
            let n = (total - at).min(8) as usize;
            done += data.copy_in_at(at, &e[..n]);
        }
        Response::good(data.len(), done)
    }

    /// Makes every unit's written data durable (at machine stop).
    pub fn flush(&self) -> Result<(), String> {
        let mut r = Ok(());
        for u in &self.units {
            if let Err(e) = u.disk.flush() {
                r = Err(format!("scsi-id={},lun={}: {e}", u.target, u.lun));
            }
        }
        r
    }
}

/// A command addressed to a LUN the target does not have (SPC-4 3.1.121, QEMU's behaviour):
/// INQUIRY says "no device here" (peripheral qualifier 3), REQUEST SENSE reports the LUN as
/// unsupported, anything else is refused with that sense.
fn missing_lun(cdb: &[u8], data: &mut DataBuffers) -> Response {
    let Some(c) = cdb_array(cdb) else {
        return Response::check(data.len(), Sense::LUN_NOT_SUPPORTED);
    };
    match c[0] {
        op::INQUIRY if c[1] & 3 == 0 && c[2] == 0 => {
            let mut b = [0u8; 36];
            // Peripheral qualifier 3 (not capable of a device here), type 0x1f (unknown).
            b[0] = 0x7f;
            b[2] = 5;
            b[3] = 0x12;
            b[4] = 36 - 5;
            answer(data, &b, be16(&c[3..5]))
        }
        op::REQUEST_SENSE => {
            let s = Sense::LUN_NOT_SUPPORTED;
            let alloc = c[4] as u64;
            if c[1] & 1 != 0 {
                answer(data, &s.descriptor(), alloc)
            } else {
                answer(data, &s.fixed(), alloc)
            }
        }
        _ => Response::check(data.len(), Sense::LUN_NOT_SUPPORTED),
    }
}

#[cfg(test)]
pub(crate) mod tests;
