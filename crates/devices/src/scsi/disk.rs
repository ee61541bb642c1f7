//! A SCSI disk (SBC) or CD-ROM (MMC) logical unit on a [`BlockBackend`]: the commands Linux's
//! sd and sr drivers issue, answered as QEMU's scsi-hd and scsi-cd answer them (same INQUIRY
//! strings and mode pages), so guests see the same devices under lpar as under QEMU.

use super::{
    answer, be16, be32, be64, cdb_array, op, DataBuffers, Direction, Response, Sense, MAX_CDB,
};
use block::BlockBackend;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// What the unit is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A hard disk: 512-byte blocks, writable unless the image is read-only.
    Disk,
    /// A CD/DVD-ROM: 2048-byte blocks, read-only, removable medium (never removed: lpar has no
    /// monitor to change it).
    Cdrom,
}

/// INQUIRY identification, QEMU's (guests and their udev rules know these).
const VENDOR: &[u8] = b"QEMU";
const PRODUCT_DISK: &[u8] = b"QEMU HARDDISK";
const PRODUCT_CD: &[u8] = b"QEMU CD-ROM";
const REVISION: &[u8] = b"2.5+";
/// Longest unit serial number (VPD page 0x80), as QEMU.
const MAX_SERIAL: usize = 36;
/// Longest device identifier in VPD page 0x83.
const MAX_DEVICE_ID: usize = 64;
/// Peripheral device types.
const TYPE_DISK: u8 = 0x00;
const TYPE_ROM: u8 = 0x05;
/// A CD holds at most this many 2048-byte blocks (80 minutes); bigger media are DVDs.
const CD_MAX_BLOCKS: u64 = 80 * 60 * 75;
/// MMC profiles.
const PROFILE_CD_ROM: u16 = 0x0008;
const PROFILE_DVD_ROM: u16 = 0x0010;

pub struct ScsiDisk {
    backend: Arc<dyn BlockBackend>,
    kind: Kind,
    block_size: u64,
    read_only: bool,
    serial: String,
    device_id: String,
    /// PREVENT ALLOW MEDIUM REMOVAL state of a CD-ROM.
    locked: AtomicBool,
}

/// Truncates `s` to at most `max` bytes on a character boundary.
fn clip(s: &str, max: usize) -> String {
    let mut n = s.len().min(max);
    while !s.is_char_boundary(n) {
        n -= 1;
    }
    s[..n].to_string()
}

impl ScsiDisk {
    /// A unit of kind `kind` on `backend`. `serial` (may be empty: no VPD page 0x80) and
    /// `device_id` (VPD page 0x83; the serial when empty, else e.g. the drive's id) identify
    /// it to the guest. A CD-ROM is read-only whatever the backend allows.
    pub fn new(
        backend: Arc<dyn BlockBackend>,
        kind: Kind,
        serial: &str,
        device_id: &str,
    ) -> ScsiDisk {
        let read_only = kind == Kind::Cdrom || backend.read_only();
        let device_id = if device_id.is_empty() {
            serial
        } else {
            device_id
        };
        ScsiDisk {
            backend,
            kind,
            block_size: match kind {
                Kind::Disk => 512,
                Kind::Cdrom => 2048,
            },
            read_only,
            serial: clip(serial, MAX_SERIAL),
            device_id: clip(device_id, MAX_DEVICE_ID),
            locked: AtomicBool::new(false),
        }
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub fn read_only(&self) -> bool {
        self.read_only
    }

    pub fn block_size(&self) -> u64 {
        self.block_size
    }

    /// Number of logical blocks (a partial block at the end of the image is not addressable).
    pub fn blocks(&self) -> u64 {
        self.backend.size() / self.block_size
    }

    /// Makes written data durable.
    pub fn flush(&self) -> std::io::Result<()> {
        self.backend.flush()
    }

    fn is_cd(&self) -> bool {
        self.kind == Kind::Cdrom
    }

    fn device_type(&self) -> u8 {
        match self.kind {
            Kind::Disk => TYPE_DISK,
            Kind::Cdrom => TYPE_ROM,
        }
    }

    /// Executes one command. `data` is the guest's buffers; the CDB's lengths are never
    /// trusted beyond them (answers are clamped, transfers that do not fit are overruns).
    pub fn execute(&self, cdb: &[u8], data: &mut DataBuffers) -> Response {
        let len = data.len();
        if cdb.is_empty() {
            return Response::check(len, Sense::INVALID_OPCODE);
        }
        let Some(c) = cdb_array(cdb) else {
            return Response::check(len, Sense::INVALID_FIELD);
        };
        let cd = self.is_cd();
        // FUA (force unit access) of the 10/12/16-byte reads and writes.
        let fua = c[1] & 0x08 != 0;
        match c[0] {
            op::TEST_UNIT_READY => Response::good(len, 0),
            op::REQUEST_SENSE => {
                // Errors are reported with the command (autosense): nothing is ever pending.
                let s = Sense::NO_SENSE;
                if c[1] & 1 != 0 {
                    answer(data, &s.descriptor(), c[4] as u64)
                } else {
                    answer(data, &s.fixed(), c[4] as u64)
                }
            }
            op::INQUIRY => self.inquiry(&c, data),
            op::MODE_SENSE_6 | op::MODE_SENSE_10 => self.mode_sense(&c, data),
            op::START_STOP_UNIT => {
                let (start, eject) = (c[4] & 1 != 0, c[4] & 2 != 0);
                // The medium stays in (no tray to open); a locked drive refuses to eject it.
                if cd && eject && !start && self.locked.load(Ordering::Relaxed) {
                    Response::check(len, Sense::REMOVAL_PREVENTED)
                } else {
                    Response::good(len, 0)
                }
            }
            op::PREVENT_ALLOW_MEDIUM_REMOVAL => {
                if cd {
                    self.locked.store(c[4] & 3 != 0, Ordering::Relaxed);
                }
                Response::good(len, 0)
            }
            op::READ_CAPACITY_10 => {
                let mut b = [0u8; 8];
                let last = self.blocks().saturating_sub(1).min(0xffff_ffff);
                b[0..4].copy_from_slice(&(last as u32).to_be_bytes());
                b[4..8].copy_from_slice(&(self.block_size as u32).to_be_bytes());
                answer(data, &b, 8)
            }
            op::SERVICE_ACTION_IN_16 if c[1] & 0x1f == op::SAI_READ_CAPACITY_16 => {
                let mut b = [0u8; 32];
                b[0..8].copy_from_slice(&self.blocks().saturating_sub(1).to_be_bytes());
                b[8..12].copy_from_slice(&(self.block_size as u32).to_be_bytes());
                // Physical block exponent 0, no protection, no thin provisioning (LBPME=0):
                // the guest sends no UNMAP or WRITE SAME.
                answer(data, &b, be32(&c[10..14]))
            }
            // Other service actions (READ LONG, GET LBA STATUS...) are not implemented.
            op::SERVICE_ACTION_IN_16 => Response::check(len, Sense::INVALID_FIELD),
            op::READ_6 | op::WRITE_6 => {
                let lba = ((c[1] & 0x1f) as u64) << 16 | be16(&c[2..4]);
                // A transfer length of 0 means 256 blocks in the 6-byte commands.
                let count = if c[4] == 0 { 256 } else { c[4] as u64 };
                self.rw(c[0] == op::WRITE_6, lba, count, false, data)
            }
            op::READ_10 => self.rw(false, be32(&c[2..6]), be16(&c[7..9]), fua, data),
            op::READ_12 => self.rw(false, be32(&c[2..6]), be32(&c[6..10]), fua, data),
            op::READ_16 => self.rw(false, be64(&c[2..10]), be32(&c[10..14]), fua, data),
            // WRITE AND VERIFY: the backend's writes are what it reads back; no compare needed.
            op::WRITE_10 | op::WRITE_VERIFY_10 => {
                self.rw(true, be32(&c[2..6]), be16(&c[7..9]), fua, data)
            }
            op::WRITE_12 | op::WRITE_VERIFY_12 => {
                self.rw(true, be32(&c[2..6]), be32(&c[6..10]), fua, data)
            }
            op::WRITE_16 | op::WRITE_VERIFY_16 => {
                self.rw(true, be64(&c[2..10]), be32(&c[10..14]), fua, data)
            }
            op::VERIFY_10 | op::VERIFY_12 | op::VERIFY_16 => {
                // BYTCHK=0 only (medium verification, which a file always passes); comparing
                // with data-out is refused, as QEMU does.
                if c[1] & 0x06 != 0 {
                    return Response::check(len, Sense::INVALID_FIELD);
                }
                let (lba, count) = match c[0] {
                    op::VERIFY_10 => (be32(&c[2..6]), be16(&c[7..9])),
                    op::VERIFY_12 => (be32(&c[2..6]), be32(&c[6..10])),
                    _ => (be64(&c[2..10]), be32(&c[10..14])),
                };
                match self.check_range(lba, count) {
                    Some(s) => Response::check(len, s),
                    None => Response::good(len, 0),
                }
            }
            op::SYNCHRONIZE_CACHE_10 | op::SYNCHRONIZE_CACHE_16 => match self.backend.flush() {
                Ok(()) => Response::good(len, 0),
                Err(_) => Response::check(len, Sense::WRITE_ERROR),
            },
            op::READ_TOC if cd => self.read_toc(&c, data),
            op::GET_CONFIGURATION if cd => self.get_configuration(&c, data),
            op::GET_EVENT_STATUS_NOTIFICATION if cd => self.event_status(&c, data),
            op::READ_DISC_INFORMATION if cd => {
                // Types 1 and 2 are defined for Blu-ray only.
                if c[1] & 7 != 0 {
                    return Response::check(len, Sense::INVALID_FIELD);
                }
                let mut b = [0u8; 34];
                b[1] = 32;
                b[2] = 0x0e; // last session complete, disc finalized
                b[3] = 1; // first track on disc
                b[4] = 1; // sessions
                b[5] = 1; // first track of the last session
                b[6] = 1; // last track of the last session
                b[7] = 0x20; // unrestricted use
                answer(data, &b, be16(&c[7..9]))
            }
            op::MECHANISM_STATUS if cd => {
                let mut b = [0u8; 8];
                b[5] = 1; // one slot
                answer(data, &b, be16(&c[8..10]))
            }
            _ => Response::check(len, Sense::INVALID_OPCODE),
        }
    }

    /// None when blocks `lba..lba+count` exist, else the sense to report. The LBA itself must
    /// exist even for a transfer of no blocks (SBC-3 4.5).
    fn check_range(&self, lba: u64, count: u64) -> Option<Sense> {
        let blocks = self.blocks();
        match lba.checked_add(count) {
            Some(end) if lba < blocks && end <= blocks => None,
            _ => Some(Sense::LBA_OUT_OF_RANGE),
        }
    }

    /// A read or write of `count` blocks at `lba`, straight between the image and the guest's
    /// buffers.
    fn rw(&self, write: bool, lba: u64, count: u64, fua: bool, data: &mut DataBuffers) -> Response {
        let len = data.len();
        if write && self.read_only {
            return Response::check(len, Sense::WRITE_PROTECTED);
        }
        if let Some(s) = self.check_range(lba, count) {
            return Response::check(len, s);
        }
        // Cannot overflow: the range lies within the image.
        let bytes = count * self.block_size;
        let offset = lba * self.block_size;
        if bytes == 0 {
            return Response::good(len, 0);
        }
        let want = if write { Direction::Out } else { Direction::In };
        if data.direction() != want || len < bytes {
            return Response::overrun(len);
        }
        let backend = &self.backend;
        let r = data.with_prefix(bytes, |iov| {
            // SAFETY: DataBuffers::new's contract: the iovecs are live guest memory, writable
            // for data-in and readable for data-out, for the duration of this call.
            unsafe {
                if write {
                    backend.writev(iov, offset)
                } else {
                    backend.readv(iov, offset)
                }
            }
        });
        let r = r.and_then(|()| {
            if write && fua {
                backend.flush()
            } else {
                Ok(())
            }
        });
        match r {
            Ok(()) => Response::good(len, bytes),
            Err(_) if write => Response::check(len, Sense::WRITE_ERROR),
            Err(_) => Response::check(len, Sense::READ_ERROR),
        }
    }

    fn inquiry(&self, c: &[u8; MAX_CDB], data: &mut DataBuffers) -> Response {
        let alloc = be16(&c[3..5]);
        // CMDDT (obsolete) is refused; a page code without EVPD too.
        if c[1] & 2 != 0 || (c[1] & 1 == 0 && c[2] != 0) {
            return Response::check(data.len(), Sense::INVALID_FIELD);
        }
        if c[1] & 1 != 0 {
            return self.vpd(c[2], alloc, data);
        }
        let mut b = [b' '; 36];
        b[0] = self.device_type();
        b[1] = if self.is_cd() { 0x80 } else { 0 }; // removable medium
        b[2] = 5; // SPC-3
        b[3] = 0x12; // HiSup, response data format 2
        b[4] = 36 - 5;
        b[5] = 0;
        b[6] = 0;
        b[7] = 0x02; // CmdQue: tagged commands
        b[8..8 + VENDOR.len()].copy_from_slice(VENDOR);
        let product = if self.is_cd() {
            PRODUCT_CD
        } else {
            PRODUCT_DISK
        };
        b[16..16 + product.len()].copy_from_slice(product);
        b[32..32 + REVISION.len()].copy_from_slice(REVISION);
        answer(data, &b, alloc)
    }

    /// Vital product data page `page`.
    fn vpd(&self, page: u8, alloc: u64, data: &mut DataBuffers) -> Response {
        let mut b = [0u8; 256];
        b[0] = self.device_type();
        b[1] = page;
        let disk = !self.is_cd();
        let n = match page {
            // Supported pages.
            0x00 => {
                let mut n = 0;
                let mut add = |p: u8| {
                    b[4 + n] = p;
                    n += 1;
                };
                add(0x00);
                if !self.serial.is_empty() {
                    add(0x80);
                }
                add(0x83);
                if disk {
                    add(0xb0);
                    add(0xb1);
                    add(0xb2);
                }
                n
            }
            // Unit serial number.
            0x80 if !self.serial.is_empty() => {
                let s = self.serial.as_bytes();
                b[4..4 + s.len()].copy_from_slice(s);
                s.len()
            }
            // Device identification: one T10 vendor ID designator, "QEMU    " + the id.
            0x83 => {
                let id = self.device_id.as_bytes();
                b[4] = 0x02; // code set: ASCII
                b[5] = 0x01; // associated with the LU, type 1: T10 vendor ID
                b[7] = (8 + id.len()) as u8;
                b[8..16].fill(b' ');
                b[8..8 + VENDOR.len()].copy_from_slice(VENDOR);
                b[16..16 + id.len()].copy_from_slice(id);
                4 + 8 + id.len()
            }
            // Block limits: no limits beyond the transport's, no UNMAP, no WRITE SAME.
            0xb0 if disk => 0x3c,
            // Block device characteristics: rotation rate not reported, as QEMU's default.
            0xb1 if disk => 0x3c,
            // Logical block provisioning: none (fully provisioned).
            0xb2 if disk => 4,
            _ => return Response::check(data.len(), Sense::INVALID_FIELD),
        };
        b[2..4].copy_from_slice(&(n as u16).to_be_bytes());
        answer(data, &b[..4 + n], alloc)
    }

    fn mode_sense(&self, c: &[u8; MAX_CDB], data: &mut DataBuffers) -> Response {
        let len = data.len();
        let ten = c[0] == op::MODE_SENSE_10;
        let (control, page, subpage) = (c[2] >> 6, c[2] & 0x3f, c[3]);
        let alloc = if ten { be16(&c[7..9]) } else { c[4] as u64 };
        if control == 3 {
            return Response::check(len, Sense::SAVING_NOT_SUPPORTED);
        }
        if subpage != 0 && !(page == 0x3f && subpage == 0xff) {
            return Response::check(len, Sense::INVALID_FIELD);
        }
        let mut b = [0u8; 256];
        // MMC drives have no block descriptors and no device-specific parameter.
        let dbd = c[1] & 0x08 != 0 || self.is_cd();
        let wp = if self.read_only && !self.is_cd() {
            0x80
        } else {
            0
        };
        let mut p = if ten {
            b[3] = wp;
            8
        } else {
            b[2] = wp;
            4
        };
        if !dbd {
            if ten {
                b[7] = 8;
            } else {
                b[3] = 8;
            }
            let blocks = self.blocks();
            // Too many blocks for 24 bits reads as 0 ("see READ CAPACITY").
            let blocks = if blocks > 0xff_ffff { 0 } else { blocks };
            b[p + 1..p + 4].copy_from_slice(&(blocks as u32).to_be_bytes()[1..]);
            b[p + 5..p + 8].copy_from_slice(&(self.block_size as u32).to_be_bytes()[1..]);
            p += 8;
        }
        if page == 0x3f {
            for pg in [0x01, 0x08, 0x2a] {
                p += self.mode_page(pg, control, &mut b[p..]).unwrap_or(0);
            }
        } else {
            match self.mode_page(page, control, &mut b[p..]) {
                Some(n) => p += n,
                None => return Response::check(len, Sense::INVALID_FIELD),
            }
        }
        // The mode data length excludes itself.
        if ten {
            b[0..2].copy_from_slice(&((p - 2) as u16).to_be_bytes());
        } else {
            b[0] = (p - 1) as u8;
        }
        answer(data, &b[..p], alloc)
    }

    /// Writes mode page `page` (values for page control `control`: 1 = changeable, which is
    /// nothing as MODE SELECT is not supported) into `out`; its length, None if not supported.
    fn mode_page(&self, page: u8, control: u8, out: &mut [u8]) -> Option<usize> {
        let changeable = control == 1;
        let len = match page {
            // Read-write error recovery: automatic write reallocation.
            0x01 => {
                if !changeable {
                    out[2] = 0x80;
                    if self.is_cd() {
                        out[3] = 0x20; // read retry count
                    }
                }
                10
            }
            // Caching: the write cache is on (SYNCHRONIZE CACHE makes data durable).
            0x08 => {
                if !changeable && !self.read_only {
                    out[2] = 0x04; // WCE
                }
                0x12
            }
            // MM capabilities and mechanical status (MMC), QEMU's values: reads CD-R/RW,
            // writes nothing, tray with lock and eject.
            0x2a if self.is_cd() => {
                if !changeable {
                    let locked = self.locked.load(Ordering::Relaxed);
                    let speed = |x: u16| x.to_be_bytes();
                    out[2] = 0x3b;
                    out[3] = 0;
                    out[4] = 0x7f;
                    out[5] = 0xff;
                    out[6] = 0x2d | if locked { 2 } else { 0 };
                    out[7] = 0;
                    out[8..10].copy_from_slice(&speed(50 * 176));
                    out[10..12].copy_from_slice(&speed(2));
                    out[12..14].copy_from_slice(&speed(2048));
                    out[14..16].copy_from_slice(&speed(16 * 176));
                    out[18..20].copy_from_slice(&speed(16 * 176));
                    out[20..22].copy_from_slice(&speed(16 * 176));
                }
                0x14
            }
            _ => return None,
        };
        out[0] = page;
        out[1] = len as u8;
        Some(len + 2)
    }

    /// READ TOC/PMA/ATIP: one data track from block 0 and the lead-out.
    fn read_toc(&self, c: &[u8; MAX_CDB], data: &mut DataBuffers) -> Response {
        let msf = c[1] & 2 != 0;
        let mut format = c[2] & 0xf;
        // SFF-8020i drivers put the format in the top bits of the control byte.
        if format == 0 {
            format = c[9] >> 6;
        }
        let start_track = c[6];
        let alloc = be16(&c[7..9]);
        let blocks = self.blocks().min(u32::MAX as u64) as u32;
        let addr = |b: &mut [u8], lba: u32| {
            if msf {
                b[0] = 0;
                b[1..4].copy_from_slice(&lba_to_msf(lba));
            } else {
                b.copy_from_slice(&lba.to_be_bytes());
            }
        };
        let mut b = [0u8; 48];
        let n = match format {
            0 => {
                if start_track > 1 && start_track != 0xaa {
                    return Response::check(data.len(), Sense::INVALID_FIELD);
                }
                b[2] = 1; // first track
                b[3] = 1; // last track
                let mut p = 4;
                if start_track <= 1 {
                    b[p + 1] = 0x14; // ADR 1, data track
                    b[p + 2] = 1;
                    addr(&mut b[p + 4..p + 8], 0);
                    p += 8;
                }
                b[p + 1] = 0x16;
                b[p + 2] = 0xaa; // lead-out
                addr(&mut b[p + 4..p + 8], blocks);
                p + 8
            }
            // Multi-session information: one session, its first track at block 0.
            1 => {
                b[2] = 1;
                b[3] = 1;
                b[5] = 0x14;
                b[6] = 1;
                12
            }
            // Full (raw) TOC: points A0 (first track), A1 (last track), A2 (lead-out), 1.
            2 => {
                b[2] = 1;
                b[3] = 1;
                let mut p = 4;
                for (point, value) in [(0xa0u8, 1u8), (0xa1, 1), (0xa2, 0), (1, 0)] {
                    b[p] = 1; // session
                    b[p + 1] = 0x14;
                    b[p + 3] = point;
                    match point {
                        0xa2 => addr(&mut b[p + 7..p + 11], blocks),
                        1 => addr(&mut b[p + 7..p + 11], 0),
                        _ => b[p + 8] = value,
                    }
                    p += 11;
                }
                p
            }
            _ => return Response::check(data.len(), Sense::INVALID_FIELD),
        };
        b[0..2].copy_from_slice(&((n - 2) as u16).to_be_bytes());
        answer(data, &b[..n], alloc)
    }

    /// GET CONFIGURATION: the current profile (CD-ROM or DVD-ROM by size), the core and the
    /// removable-medium features, as QEMU.
    fn get_configuration(&self, c: &[u8; MAX_CDB], data: &mut DataBuffers) -> Response {
        let current = if self.blocks() <= CD_MAX_BLOCKS {
            PROFILE_CD_ROM
        } else {
            PROFILE_DVD_ROM
        };
        let mut b = [0u8; 40];
        b[0..4].copy_from_slice(&36u32.to_be_bytes());
        b[6..8].copy_from_slice(&current.to_be_bytes());
        // Feature 0: profile list.
        b[10] = 0x03; // persistent, current
        b[11] = 8;
        b[12..14].copy_from_slice(&PROFILE_DVD_ROM.to_be_bytes());
        b[14] = (current == PROFILE_DVD_ROM) as u8;
        b[16..18].copy_from_slice(&PROFILE_CD_ROM.to_be_bytes());
        b[18] = (current == PROFILE_CD_ROM) as u8;
        // Feature 1: core (SCSI physical interface, DBE).
        b[20..22].copy_from_slice(&1u16.to_be_bytes());
        b[22] = 0x08 | 0x03;
        b[23] = 4;
        b[24..28].copy_from_slice(&1u32.to_be_bytes());
        b[28] = 1;
        // Feature 3: removable medium (tray, eject, lock).
        b[32..34].copy_from_slice(&3u16.to_be_bytes());
        b[34] = 0x08 | 0x03;
        b[35] = 4;
        b[36] = 0x39;
        answer(data, &b, be16(&c[7..9]))
    }

    /// GET EVENT STATUS NOTIFICATION (polled only): media class, medium present, no change.
    fn event_status(&self, c: &[u8; MAX_CDB], data: &mut DataBuffers) -> Response {
        if c[1] & 1 == 0 {
            return Response::check(data.len(), Sense::INVALID_FIELD);
        }
        const MEDIA_CLASS: u8 = 4;
        let mut b = [0u8; 8];
        b[3] = 1 << MEDIA_CLASS; // supported classes
        let n = if c[4] & (1 << MEDIA_CLASS) != 0 {
            b[2] = MEDIA_CLASS;
            b[4] = 0; // no change
            b[5] = 2; // medium present, tray closed
            8
        } else {
            b[2] = 0x80; // no event available
            4
        };
        b[0..2].copy_from_slice(&((n - 4) as u16).to_be_bytes());
        answer(data, &b[..n], be16(&c[7..9]))
    }
}

/// A block address as minutes, seconds, frames (75 per second, 2 seconds of lead-in).
fn lba_to_msf(lba: u32) -> [u8; 3] {
    let l = lba as u64 + 150;
    [(l / 75 / 60) as u8, (l / 75 % 60) as u8, (l % 75) as u8]
}
