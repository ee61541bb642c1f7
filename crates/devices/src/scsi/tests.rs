//! Unit tests of the SCSI emulation, on an in-memory backend, with the guest's buffers played
//! by Rust vectors.

use super::*;
use block::BlockBackend;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// An in-memory image that counts flushes and can be made to fail.
pub(crate) struct MemDisk {
    pub data: Mutex<Vec<u8>>,
    /// Size reported instead of the data's (for capacity tests; I/O beyond the data fails).
    pub size: u64,
    pub ro: bool,
    pub flushes: AtomicUsize,
    pub fail: AtomicBool,
}

impl MemDisk {
    pub fn new(len: usize, ro: bool) -> Arc<MemDisk> {
        // A recognisable pattern: byte i of the image is i * 7 + i / 512.
        let data = (0..len).map(|i| (i * 7 + i / 512) as u8).collect();
        Arc::new(MemDisk {
            data: Mutex::new(data),
            size: len as u64,
            ro,
            flushes: AtomicUsize::new(0),
            fail: AtomicBool::new(false),
        })
    }

    pub fn huge(size: u64) -> Arc<MemDisk> {
        Arc::new(MemDisk {
            data: Mutex::new(Vec::new()),
            size,
            ro: false,
            flushes: AtomicUsize::new(0),
            fail: AtomicBool::new(false),
        })
    }
}

impl BlockBackend for MemDisk {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_only(&self) -> bool {
        self.ro
    }

    unsafe fn readv(&self, iov: &[libc::iovec], offset: u64) -> std::io::Result<()> {
        let d = self.data.lock().unwrap();
        let mut off = offset as usize;
        if self.fail.load(Ordering::SeqCst) {
            return Err(std::io::Error::other("injected"));
        }
        for v in iov {
            let end = off + v.iov_len;
            let src = d.get(off..end).ok_or(std::io::ErrorKind::UnexpectedEof)?;
            // SAFETY: the caller's contract: v is writable for iov_len bytes.
            unsafe {
                std::ptr::copy_nonoverlapping(src.as_ptr(), v.iov_base as *mut u8, v.iov_len)
            };
            off = end;
        }
        Ok(())
    }

    unsafe fn writev(&self, iov: &[libc::iovec], offset: u64) -> std::io::Result<()> {
        let mut d = self.data.lock().unwrap();
        let mut off = offset as usize;
        if self.fail.load(Ordering::SeqCst) {
            return Err(std::io::Error::other("injected"));
        }
        for v in iov {
            let end = off + v.iov_len;
            let dst = d
                .get_mut(off..end)
                .ok_or(std::io::ErrorKind::UnexpectedEof)?;
            // SAFETY: the caller's contract: v is readable for iov_len bytes.
            unsafe {
                std::ptr::copy_nonoverlapping(v.iov_base as *const u8, dst.as_mut_ptr(), v.iov_len)
            };
            off = end;
        }
        Ok(())
    }

    fn flush(&self) -> std::io::Result<()> {
        self.flushes.fetch_add(1, Ordering::SeqCst);
        if self.fail.load(Ordering::SeqCst) {
            return Err(std::io::Error::other("injected"));
        }
        Ok(())
    }
}

const MIB: usize = 1 << 20;

fn disk(len: usize, ro: bool) -> (Arc<MemDisk>, ScsiDisk) {
    let m = MemDisk::new(len, ro);
    let d = ScsiDisk::new(m.clone(), Kind::Disk, "SER123", "drive0");
    (m, d)
}

fn cdrom(len: usize) -> (Arc<MemDisk>, ScsiDisk) {
    let m = MemDisk::new(len, false);
    let d = ScsiDisk::new(m.clone(), Kind::Cdrom, "", "cd0");
    (m, d)
}

/// Runs `cdb` with data-in buffers of the given sizes (filled with 0xee); returns the response
/// and the buffers' bytes concatenated.
fn run_in_split(d: &ScsiDisk, cdb: &[u8], sizes: &[usize]) -> (Response, Vec<u8>) {
    let mut bufs: Vec<Vec<u8>> = sizes.iter().map(|&n| vec![0xee; n]).collect();
    let mut iov: Vec<libc::iovec> = bufs
        .iter_mut()
        .map(|b| libc::iovec {
            iov_base: b.as_mut_ptr() as *mut libc::c_void,
            iov_len: b.len(),
        })
        .collect();
    let r = {
        // SAFETY: the iovecs point into `bufs`, alive and untouched until after the call.
        let mut data = unsafe { DataBuffers::new(Direction::In, &mut iov) };
        d.execute(cdb, &mut data)
    };
    // The scatter list is left as it was given.
    for (v, b) in iov.iter().zip(&bufs) {
        assert_eq!(v.iov_len, b.len());
    }
    (r, bufs.concat())
}

fn run_in(d: &ScsiDisk, cdb: &[u8], len: usize) -> (Response, Vec<u8>) {
    run_in_split(d, cdb, &[len])
}

fn run_out(d: &ScsiDisk, cdb: &[u8], data: &[u8]) -> Response {
    let mut buf = data.to_vec();
    let mut iov = [libc::iovec {
        iov_base: buf.as_mut_ptr() as *mut libc::c_void,
        iov_len: buf.len(),
    }];
    // SAFETY: the iovec points into `buf`, alive until the end of this function.
    let mut data = unsafe { DataBuffers::new(Direction::Out, &mut iov) };
    d.execute(cdb, &mut data)
}

fn run_none(d: &ScsiDisk, cdb: &[u8]) -> Response {
    d.execute(cdb, &mut DataBuffers::none())
}

fn assert_sense(r: &Response, s: Sense) {
    assert_eq!(r.status, status::CHECK_CONDITION, "{r:?}");
    assert_eq!(r.sense, Some(s), "{r:?}");
    assert!(!r.overrun);
}

fn assert_good(r: &Response) {
    assert_eq!(r.status, status::GOOD, "{r:?}");
    assert_eq!(r.sense, None, "{r:?}");
    assert!(!r.overrun, "{r:?}");
}

fn cdb10(op: u8, lba: u32, count: u16) -> [u8; 10] {
    let mut c = [0u8; 10];
    c[0] = op;
    c[2..6].copy_from_slice(&lba.to_be_bytes());
    c[7..9].copy_from_slice(&count.to_be_bytes());
    c
}

fn cdb16(op: u8, lba: u64, count: u32) -> [u8; 16] {
    let mut c = [0u8; 16];
    c[0] = op;
    c[2..10].copy_from_slice(&lba.to_be_bytes());
    c[10..14].copy_from_slice(&count.to_be_bytes());
    c
}

fn cdb12(op: u8, lba: u32, count: u32) -> [u8; 12] {
    let mut c = [0u8; 12];
    c[0] = op;
    c[2..6].copy_from_slice(&lba.to_be_bytes());
    c[6..10].copy_from_slice(&count.to_be_bytes());
    c
}

#[test]
fn sense_data_is_fixed_format() {
    let s = Sense::LBA_OUT_OF_RANGE.fixed();
    assert_eq!(s.len(), 18);
    assert_eq!(s[0], 0x70);
    assert_eq!(s[2], key::ILLEGAL_REQUEST);
    assert_eq!(s[7], 10);
    assert_eq!((s[12], s[13]), (0x21, 0x00));
    let r = Response::check(4, Sense::WRITE_PROTECTED);
    let (b, n) = r.sense_bytes();
    assert_eq!(n, 18);
    assert_eq!((b[2], b[12]), (key::DATA_PROTECT, 0x27));
    assert_eq!(Response::good(10, 4).sense_bytes().1, 0);
    assert_eq!(Response::good(10, 4).residual, 6);
}

#[test]
fn test_unit_ready_and_unknown_opcodes() {
    let (_, d) = disk(MIB, false);
    assert_good(&run_none(&d, &[op::TEST_UNIT_READY, 0, 0, 0, 0, 0]));
    // REPORT SUPPORTED OPERATION CODES, vendor opcodes, WRITE SAME: not implemented.
    for opc in [0xa3u8, 0xff, 0x41, 0x93, 0x42] {
        let mut c = [0u8; 16];
        c[0] = opc;
        assert_sense(&run_none(&d, &c), Sense::INVALID_OPCODE);
    }
    assert_sense(&run_none(&d, &[]), Sense::INVALID_OPCODE);
    // A CDB shorter than its opcode's group needs.
    assert_sense(&run_none(&d, &[op::READ_10, 0, 0]), Sense::INVALID_FIELD);
    // MMC commands are a CD-ROM's.
    for opc in [
        op::READ_TOC,
        op::GET_CONFIGURATION,
        op::GET_EVENT_STATUS_NOTIFICATION,
        op::READ_DISC_INFORMATION,
        op::MECHANISM_STATUS,
    ] {
        let mut c = [0u8; 12];
        c[0] = opc;
        assert_sense(&run_in(&d, &c, 64).0, Sense::INVALID_OPCODE);
    }
}

#[test]
fn inquiry_standard_data() {
    let (_, d) = disk(MIB, false);
    let (r, b) = run_in(&d, &[op::INQUIRY, 0, 0, 0, 96, 0], 96);
    assert_good(&r);
    assert_eq!(r.residual, 96 - 36);
    assert_eq!(b[0], 0x00);
    assert_eq!(b[1], 0x00);
    assert_eq!(b[2], 5);
    assert_eq!(b[4] as usize + 5, 36);
    assert_eq!(&b[8..16], b"QEMU    ");
    assert_eq!(&b[16..32], b"QEMU HARDDISK   ");
    assert_eq!(&b[32..36], b"2.5+");
    assert_eq!(b[36], 0xee, "nothing beyond the answer");
    let (_, cd) = cdrom(MIB);
    let (_, b) = run_in(&cd, &[op::INQUIRY, 0, 0, 0, 36, 0], 36);
    assert_eq!((b[0], b[1]), (0x05, 0x80));
    assert_eq!(&b[16..32], b"QEMU CD-ROM     ");
    // The allocation length clamps the answer; so does a smaller buffer.
    let (r, b) = run_in(&d, &[op::INQUIRY, 0, 0, 0, 5, 0], 64);
    assert_good(&r);
    assert_eq!(r.residual, 59);
    assert_eq!(b[5], 0xee);
    let (r, b) = run_in(&d, &[op::INQUIRY, 0, 0, 0, 255, 0], 10);
    assert_good(&r);
    assert_eq!(r.residual, 0);
    assert_eq!(&b[8..10], b"QE");
    // CMDDT, or a page without EVPD: invalid.
    assert_sense(
        &run_in(&d, &[op::INQUIRY, 2, 0, 0, 36, 0], 36).0,
        Sense::INVALID_FIELD,
    );
    assert_sense(
        &run_in(&d, &[op::INQUIRY, 0, 0x80, 0, 36, 0], 36).0,
        Sense::INVALID_FIELD,
    );
    // No buffer at all: nothing moves, nothing breaks.
    assert_good(&run_none(&d, &[op::INQUIRY, 0, 0, 0, 36, 0]));
}

#[test]
fn inquiry_vital_product_data() {
    let (_, d) = disk(MIB, false);
    let vpd = |d: &ScsiDisk, page: u8| run_in(d, &[op::INQUIRY, 1, page, 1, 0, 0], 256);
    let (r, b) = vpd(&d, 0x00);
    assert_good(&r);
    assert_eq!(b[1], 0);
    assert_eq!(&b[2..10], &[0, 6, 0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2]);
    let (_, b) = vpd(&d, 0x80);
    assert_eq!(&b[1..4], &[0x80, 0, 6]);
    assert_eq!(&b[4..10], b"SER123");
    let (_, b) = vpd(&d, 0x83);
    let n = b[3] as usize;
    assert_eq!(n, 4 + 8 + 6);
    assert_eq!((b[4] & 0xf, b[5] & 0xf, b[7] as usize), (2, 1, 8 + 6));
    assert_eq!(&b[8..22], b"QEMU    drive0");
    for p in [0xb0u8, 0xb1] {
        let (r, b) = vpd(&d, p);
        assert_good(&r);
        assert_eq!((b[1], b[3]), (p, 0x3c));
        assert_eq!(r.residual, 256 - 64);
    }
    let (_, b) = vpd(&d, 0xb2);
    assert_eq!((b[1], b[3]), (0xb2, 4));
    assert_sense(&vpd(&d, 0x99).0, Sense::INVALID_FIELD);
    // A CD without a serial: pages 0x00 and 0x83 only.
    let (_, cd) = cdrom(MIB);
    let (_, b) = vpd(&cd, 0x00);
    assert_eq!(&b[0..6], &[0x05, 0, 0, 2, 0x00, 0x83]);
    for p in [0x80u8, 0xb0, 0xb1, 0xb2] {
        assert_sense(&vpd(&cd, p).0, Sense::INVALID_FIELD);
    }
    // The device id falls back to the serial; long serials are cut at 36 bytes, ids at 64.
    let long = "x".repeat(100);
    let d = ScsiDisk::new(MemDisk::new(MIB, false), Kind::Disk, &long, "");
    let (_, b) = vpd(&d, 0x80);
    assert_eq!(b[3], 36);
    let (_, b) = vpd(&d, 0x83);
    assert_eq!(b[7] as usize, 8 + 64);
}

#[test]
fn read_capacity_10_and_16() {
    let (_, d) = disk(4 * MIB, false);
    let (r, b) = run_in(&d, &[op::READ_CAPACITY_10, 0, 0, 0, 0, 0, 0, 0, 0, 0], 8);
    assert_good(&r);
    assert_eq!(&b[..], &[0, 0, 0x1f, 0xff, 0, 0, 2, 0]);
    let mut c = [0u8; 16];
    c[0] = op::SERVICE_ACTION_IN_16;
    c[1] = op::SAI_READ_CAPACITY_16;
    c[13] = 32;
    let (r, b) = run_in(&d, &c, 32);
    assert_good(&r);
    assert_eq!(be64(&b[0..8]), 8191);
    assert_eq!(be32(&b[8..12]), 512);
    assert_eq!(b[14] & 0x80, 0, "no thin provisioning");
    // Allocation length 12 clamps the answer.
    c[13] = 12;
    let (r, b) = run_in(&d, &c, 32);
    assert_eq!(r.residual, 20);
    assert_eq!(b[12], 0xee);
    // Another service action is refused.
    c[1] = 0x11;
    assert_sense(&run_in(&d, &c, 32).0, Sense::INVALID_FIELD);
    // Beyond 2^32 blocks READ CAPACITY(10) says "use the 16-byte command".
    let big = ScsiDisk::new(MemDisk::huge(4 << 40), Kind::Disk, "", "big");
    let (_, b) = run_in(&big, &[op::READ_CAPACITY_10, 0, 0, 0, 0, 0, 0, 0, 0, 0], 8);
    assert_eq!(&b[0..4], &[0xff; 4]);
    c[1] = op::SAI_READ_CAPACITY_16;
    c[13] = 32;
    let (_, b) = run_in(&big, &c, 32);
    assert_eq!(be64(&b[0..8]), (4u64 << 40) / 512 - 1);
    // A CD-ROM counts 2048-byte blocks.
    let (_, cd) = cdrom(4 * MIB);
    let (_, b) = run_in(&cd, &[op::READ_CAPACITY_10, 0, 0, 0, 0, 0, 0, 0, 0, 0], 8);
    assert_eq!(&b[..], &[0, 0, 0x07, 0xff, 0, 0, 8, 0]);
}

#[test]
fn reads_of_every_size_land_in_split_buffers() {
    let (m, d) = disk(MIB, false);
    let image = m.data.lock().unwrap().clone();
    let sector = |lba: usize, n: usize| image[lba * 512..(lba + n) * 512].to_vec();
    // READ(10) of 3 blocks at 5 into buffers of 100, 1000 and 436 bytes.
    let (r, b) = run_in_split(&d, &cdb10(op::READ_10, 5, 3), &[100, 1000, 436]);
    assert_good(&r);
    assert_eq!(r.residual, 0);
    assert_eq!(b, sector(5, 3));
    // A buffer larger than the transfer: the rest is untouched and counted as residual.
    let (r, b) = run_in_split(&d, &cdb12(op::READ_12, 7, 1), &[300, 4000]);
    assert_good(&r);
    assert_eq!(r.residual, 4300 - 512);
    assert_eq!(&b[..512], &sector(7, 1)[..]);
    assert!(b[512..].iter().all(|&x| x == 0xee));
    let (r, b) = run_in(&d, &cdb16(op::READ_16, 2047, 1), 512);
    assert_good(&r);
    assert_eq!(b, sector(2047, 1));
    // READ(6): 21-bit LBA; a count of 0 means 256 blocks.
    let (r, b) = run_in(&d, &[op::READ_6, 0, 0, 9, 2, 0], 1024);
    assert_good(&r);
    assert_eq!(b, sector(9, 2));
    let (r, b) = run_in(&d, &[op::READ_6, 0, 1, 0, 0, 0], 256 * 512);
    assert_good(&r);
    assert_eq!(b, sector(256, 256));
    // A count of 0 in READ(10) moves nothing.
    let (r, _) = run_in(&d, &cdb10(op::READ_10, 0, 0), 512);
    assert_good(&r);
    assert_eq!(r.residual, 512);
}

#[test]
fn writes_of_every_size_reach_the_image() {
    let (m, d) = disk(MIB, false);
    let block = |v: u8, n: usize| vec![v; 512 * n];
    assert_good(&run_out(&d, &[op::WRITE_6, 0, 0, 1, 1, 0], &block(1, 1)));
    assert_good(&run_out(&d, &cdb10(op::WRITE_10, 2, 2), &block(2, 2)));
    assert_good(&run_out(&d, &cdb12(op::WRITE_12, 4, 1), &block(3, 1)));
    assert_good(&run_out(&d, &cdb16(op::WRITE_16, 5, 1), &block(4, 1)));
    assert_good(&run_out(
        &d,
        &cdb10(op::WRITE_VERIFY_10, 6, 1),
        &block(5, 1),
    ));
    // A data-out buffer longer than the transfer: only the transfer is written.
    let r = run_out(&d, &cdb10(op::WRITE_10, 7, 1), &block(6, 2));
    assert_good(&r);
    assert_eq!(r.residual, 512);
    let img = m.data.lock().unwrap();
    assert!(img[512..1024].iter().all(|&x| x == 1));
    assert!(img[1024..2048].iter().all(|&x| x == 2));
    assert!(img[2048..2560].iter().all(|&x| x == 3));
    assert!(img[2560..3072].iter().all(|&x| x == 4));
    assert!(img[3072..3584].iter().all(|&x| x == 5));
    assert!(img[3584..4096].iter().all(|&x| x == 6));
    assert_ne!(img[4096], 6, "block 8 untouched");
}

#[test]
fn out_of_range_and_overrun_transfers_do_nothing() {
    let (m, d) = disk(MIB, false);
    let before = m.data.lock().unwrap().clone();
    let last = (MIB / 512) as u32 - 1;
    assert_good(&run_in(&d, &cdb10(op::READ_10, last, 1), 512).0);
    let r = run_in(&d, &cdb10(op::READ_10, last, 2), 1024).0;
    assert_sense(&r, Sense::LBA_OUT_OF_RANGE);
    assert_eq!(r.residual, 1024);
    assert_sense(
        &run_in(&d, &cdb16(op::READ_16, u64::MAX, 1), 512).0,
        Sense::LBA_OUT_OF_RANGE,
    );
    assert_sense(
        &run_out(&d, &cdb16(op::WRITE_16, u64::MAX - 1, 4), &[0; 2048]),
        Sense::LBA_OUT_OF_RANGE,
    );
    assert_sense(
        &run_out(&d, &cdb10(op::WRITE_10, last + 1, 0), &[]),
        Sense::LBA_OUT_OF_RANGE,
    );
    // More blocks than the buffers hold, no buffers, or buffers the wrong way: overrun.
    let (r, b) = run_in(&d, &cdb10(op::READ_10, 0, 2), 1000);
    assert!(r.overrun);
    assert_eq!(r.residual, 1000);
    assert!(b.iter().all(|&x| x == 0xee));
    assert!(run_none(&d, &cdb10(op::READ_10, 0, 1)).overrun);
    assert!(run_out(&d, &cdb10(op::READ_10, 0, 1), &[0; 512]).overrun);
    assert!(run_in(&d, &cdb10(op::WRITE_10, 0, 1), 512).0.overrun);
    assert!(run_out(&d, &cdb10(op::WRITE_10, 0, 2), &[9; 512]).overrun);
    assert_eq!(*m.data.lock().unwrap(), before);
}

#[test]
fn backend_errors_are_medium_errors() {
    let (m, d) = disk(MIB, false);
    m.fail.store(true, Ordering::SeqCst);
    assert_sense(
        &run_in(&d, &cdb10(op::READ_10, 0, 1), 512).0,
        Sense::READ_ERROR,
    );
    assert_sense(
        &run_out(&d, &cdb10(op::WRITE_10, 0, 1), &[0; 512]),
        Sense::WRITE_ERROR,
    );
    assert_sense(
        &run_none(&d, &[op::SYNCHRONIZE_CACHE_10, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        Sense::WRITE_ERROR,
    );
}

#[test]
fn read_only_media_refuse_writes() {
    let (m, d) = disk(MIB, true);
    let before = m.data.lock().unwrap().clone();
    let r = run_out(&d, &cdb10(op::WRITE_10, 0, 1), &[0; 512]);
    assert_sense(&r, Sense::WRITE_PROTECTED);
    assert_eq!(r.sense.map(|s| s.key), Some(key::DATA_PROTECT));
    assert_sense(
        &run_out(&d, &[op::WRITE_6, 0, 0, 0, 1, 0], &[0; 512]),
        Sense::WRITE_PROTECTED,
    );
    assert_eq!(*m.data.lock().unwrap(), before);
    assert!(d.read_only());
    // A CD-ROM is read-only even on a writable image.
    let (_, cd) = cdrom(MIB);
    assert!(cd.read_only());
    assert_sense(
        &run_out(&cd, &cdb10(op::WRITE_10, 0, 1), &[0; 2048]),
        Sense::WRITE_PROTECTED,
    );
    // Reads still work.
    assert_good(&run_in(&d, &cdb10(op::READ_10, 0, 1), 512).0);
}

#[test]
fn synchronize_cache_and_fua_flush_the_backend() {
    let (m, d) = disk(MIB, false);
    assert_good(&run_none(
        &d,
        &[op::SYNCHRONIZE_CACHE_10, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    ));
    assert_eq!(m.flushes.load(Ordering::SeqCst), 1);
    let mut c = [0u8; 16];
    c[0] = op::SYNCHRONIZE_CACHE_16;
    assert_good(&run_none(&d, &c));
    assert_eq!(m.flushes.load(Ordering::SeqCst), 2);
    assert_good(&run_out(&d, &cdb10(op::WRITE_10, 0, 1), &[1; 512]));
    assert_eq!(m.flushes.load(Ordering::SeqCst), 2, "no FUA, no flush");
    let mut c = cdb10(op::WRITE_10, 0, 1);
    c[1] = 0x08;
    assert_good(&run_out(&d, &c, &[1; 512]));
    assert_eq!(m.flushes.load(Ordering::SeqCst), 3);
}

/// Walks the mode pages after the header and block descriptors: (page, length) in order.
fn pages(b: &[u8], ten: bool) -> Vec<(u8, usize)> {
    let (total, mut p) = if ten {
        (be16(&b[0..2]) as usize + 2, 8 + be16(&b[6..8]) as usize)
    } else {
        (b[0] as usize + 1, 4 + b[3] as usize)
    };
    let mut v = Vec::new();
    while p < total {
        v.push((b[p] & 0x3f, b[p + 1] as usize));
        p += 2 + b[p + 1] as usize;
    }
    assert_eq!(p, total, "pages end where the mode data does");
    v
}

#[test]
fn mode_sense_caching_and_write_protect() {
    let (_, d) = disk(4 * MIB, false);
    let (r, b) = run_in(&d, &[op::MODE_SENSE_6, 0, 0x08, 0, 255, 0], 255);
    assert_good(&r);
    assert_eq!(b[2] & 0x80, 0, "writable");
    assert_eq!(b[3], 8, "one block descriptor");
    assert_eq!(&b[4..12], &[0, 0, 0x20, 0, 0, 0, 2, 0]);
    assert_eq!(pages(&b, false), vec![(0x08, 0x12)]);
    assert_eq!(b[14] & 0x04, 0x04, "WCE");
    assert_eq!(r.residual, 255 - (b[0] as u64 + 1));
    // DBD: no block descriptor; MODE SENSE(10) layout.
    let (r, b) = run_in(
        &d,
        &[op::MODE_SENSE_10, 0x08, 0x3f, 0, 0, 0, 0, 1, 0, 0],
        256,
    );
    assert_good(&r);
    assert_eq!(be16(&b[6..8]), 0);
    assert_eq!(pages(&b, true), vec![(0x01, 10), (0x08, 0x12)]);
    // Linux's first probe: all pages, 4 bytes.
    let (r, b) = run_in(&d, &[op::MODE_SENSE_6, 0, 0x3f, 0, 4, 0], 4);
    assert_good(&r);
    assert_eq!(r.residual, 0);
    assert!(b[0] > 3);
    // Changeable values: nothing (no MODE SELECT).
    let (_, b) = run_in(&d, &[op::MODE_SENSE_6, 8, 0x48, 0, 255, 0], 255);
    assert_eq!(b[4..4 + 20].iter().skip(2).filter(|&&x| x != 0).count(), 0);
    // Saved values, unknown pages, subpages: refused.
    assert_sense(
        &run_in(&d, &[op::MODE_SENSE_6, 0, 0xc8, 0, 255, 0], 255).0,
        Sense::SAVING_NOT_SUPPORTED,
    );
    assert_sense(
        &run_in(&d, &[op::MODE_SENSE_6, 0, 0x2a, 0, 255, 0], 255).0,
        Sense::INVALID_FIELD,
    );
    assert_sense(
        &run_in(&d, &[op::MODE_SENSE_6, 0, 0x08, 1, 255, 0], 255).0,
        Sense::INVALID_FIELD,
    );
    assert_good(&run_in(&d, &[op::MODE_SENSE_6, 0, 0x3f, 0xff, 255, 0], 255).0);
    // A read-only disk sets WP in the device-specific parameter of both layouts.
    let (_, ro) = disk(MIB, true);
    let (_, b) = run_in(&ro, &[op::MODE_SENSE_6, 0, 0x3f, 0, 255, 0], 255);
    assert_eq!(b[2] & 0x80, 0x80);
    let (_, b) = run_in(
        &ro,
        &[op::MODE_SENSE_10, 0, 0x3f, 0, 0, 0, 0, 0, 255, 0],
        255,
    );
    assert_eq!(b[3] & 0x80, 0x80);
}

#[test]
fn request_sense_reports_nothing_pending() {
    let (_, d) = disk(MIB, false);
    let (r, b) = run_in(&d, &[op::REQUEST_SENSE, 0, 0, 0, 252, 0], 252);
    assert_good(&r);
    assert_eq!(r.residual, 252 - 18);
    assert_eq!(&b[..18], &Sense::NO_SENSE.fixed());
    let (r, b) = run_in(&d, &[op::REQUEST_SENSE, 1, 0, 0, 252, 0], 252);
    assert_good(&r);
    assert_eq!(&b[..8], &[0x72, 0, 0, 0, 0, 0, 0, 0]);
}

#[test]
fn start_stop_prevent_allow_and_verify() {
    let (_, d) = disk(MIB, false);
    assert_good(&run_none(&d, &[op::START_STOP_UNIT, 0, 0, 0, 1, 0]));
    assert_good(&run_none(
        &d,
        &[op::PREVENT_ALLOW_MEDIUM_REMOVAL, 0, 0, 0, 1, 0],
    ));
    assert_good(&run_none(&d, &cdb10(op::VERIFY_10, 10, 10)));
    assert_good(&run_none(&d, &cdb12(op::VERIFY_12, 10, 10)));
    assert_good(&run_none(&d, &cdb16(op::VERIFY_16, 10, 10)));
    assert_sense(
        &run_none(&d, &cdb10(op::VERIFY_10, 2047, 2)),
        Sense::LBA_OUT_OF_RANGE,
    );
    let mut c = cdb10(op::VERIFY_10, 0, 1);
    c[1] = 0x02; // BYTCHK
    assert_sense(&run_out(&d, &c, &[0; 512]), Sense::INVALID_FIELD);
    // A locked CD-ROM refuses to eject; unlocked it accepts (the medium stays in).
    let (_, cd) = cdrom(MIB);
    let lock = [op::PREVENT_ALLOW_MEDIUM_REMOVAL, 0, 0, 0, 1, 0];
    let unlock = [op::PREVENT_ALLOW_MEDIUM_REMOVAL, 0, 0, 0, 0, 0];
    let eject = [op::START_STOP_UNIT, 0, 0, 0, 2, 0];
    assert_good(&run_none(&cd, &lock));
    assert_sense(&run_none(&cd, &eject), Sense::REMOVAL_PREVENTED);
    let (_, b) = run_in(
        &cd,
        &[op::MODE_SENSE_10, 0, 0x2a, 0, 0, 0, 0, 0, 255, 0],
        255,
    );
    assert_eq!(b[8 + 6] & 2, 2, "lock state in the capabilities page");
    assert_good(&run_none(&cd, &unlock));
    assert_good(&run_none(&cd, &eject));
    assert_good(&run_none(&cd, &[op::TEST_UNIT_READY, 0, 0, 0, 0, 0]));
}

#[test]
fn cdrom_reads_2048_byte_blocks() {
    let (m, cd) = cdrom(MIB);
    let image = m.data.lock().unwrap().clone();
    let (r, b) = run_in(&cd, &cdb10(op::READ_10, 16, 2), 4096);
    assert_good(&r);
    assert_eq!(b, &image[16 * 2048..18 * 2048]);
    assert_sense(
        &run_in(&cd, &cdb10(op::READ_10, 512, 1), 2048).0,
        Sense::LBA_OUT_OF_RANGE,
    );
    // Its mode data: no block descriptor, no WP bit, the capabilities page.
    let (_, b) = run_in(&cd, &[op::MODE_SENSE_10, 0, 0x3f, 0, 0, 0, 0, 1, 0, 0], 256);
    assert_eq!((b[3], be16(&b[6..8])), (0, 0));
    assert_eq!(
        pages(&b, true),
        vec![(0x01, 10), (0x08, 0x12), (0x2a, 0x14)]
    );
}

#[test]
fn cdrom_table_of_contents() {
    // 1 MiB: 512 blocks of 2048 bytes.
    let (_, cd) = cdrom(MIB);
    let toc = |msf: bool, format: u8, track: u8| {
        let mut c = [0u8; 10];
        c[0] = op::READ_TOC;
        c[1] = if msf { 2 } else { 0 };
        c[2] = format;
        c[6] = track;
        c[8] = 100;
        run_in(&cd, &c, 100)
    };
    let (r, b) = toc(false, 0, 0);
    assert_good(&r);
    assert_eq!(r.residual, 100 - 20);
    assert_eq!(&b[0..4], &[0, 18, 1, 1]);
    assert_eq!(&b[4..12], &[0, 0x14, 1, 0, 0, 0, 0, 0]);
    assert_eq!(&b[12..20], &[0, 0x16, 0xaa, 0, 0, 0, 2, 0]);
    // MSF addresses: 150 frames of lead-in; 512 + 150 = 8 s 62 f.
    let (_, b) = toc(true, 0, 1);
    assert_eq!(&b[8..12], &[0, 0, 2, 0]);
    assert_eq!(&b[16..20], &[0, 0, 8, 62]);
    // Only the lead-out.
    let (r, b) = toc(false, 0, 0xaa);
    assert_eq!(r.residual, 100 - 12);
    assert_eq!(&b[0..8], &[0, 10, 1, 1, 0, 0x16, 0xaa, 0]);
    assert_sense(&toc(false, 0, 2).0, Sense::INVALID_FIELD);
    // Session information.
    let (r, b) = toc(false, 1, 0);
    assert_eq!(r.residual, 100 - 12);
    assert_eq!(&b[0..7], &[0, 10, 1, 1, 0, 0x14, 1]);
    // SFF-8020i: the format in the control byte (Linux's sr_vendor asks this way).
    let mut c = [0u8; 10];
    c[0] = op::READ_TOC;
    c[8] = 12;
    c[9] = 0x40;
    let (_, b) = run_in(&cd, &c, 12);
    assert_eq!(&b[0..7], &[0, 10, 1, 1, 0, 0x14, 1]);
    // The full TOC: four 11-byte descriptors.
    let (r, b) = toc(false, 2, 1);
    assert_good(&r);
    assert_eq!(be16(&b[0..2]), 2 + 44);
    assert_eq!(b[4 + 3], 0xa0);
    assert_eq!(b[4 + 11 + 3], 0xa1);
    assert_eq!(b[4 + 22 + 3], 0xa2);
    assert_eq!(be32(&b[4 + 22 + 7..4 + 22 + 11]), 512);
    assert_sense(&toc(false, 5, 0).0, Sense::INVALID_FIELD);
}

#[test]
fn cdrom_mmc_queries() {
    let (_, cd) = cdrom(MIB);
    // GET CONFIGURATION: CD-ROM profile current.
    let mut c = [0u8; 10];
    c[0] = op::GET_CONFIGURATION;
    c[8] = 64;
    let (r, b) = run_in(&cd, &c, 64);
    assert_good(&r);
    assert_eq!(r.residual, 24);
    assert_eq!(be32(&b[0..4]), 36);
    assert_eq!(be16(&b[6..8]), 0x0008);
    assert_eq!((b[18], b[14]), (1, 0));
    // A DVD-sized medium has the DVD-ROM profile.
    let dvd = ScsiDisk::new(MemDisk::huge(1 << 30), Kind::Cdrom, "", "dvd");
    let (_, b) = run_in(&dvd, &c, 64);
    assert_eq!(be16(&b[6..8]), 0x0010);
    // GET EVENT STATUS NOTIFICATION, polled: media class, medium present.
    let mut c = [0u8; 10];
    c[0] = op::GET_EVENT_STATUS_NOTIFICATION;
    c[1] = 1;
    c[4] = 0x10;
    c[8] = 8;
    let (r, b) = run_in(&cd, &c, 8);
    assert_good(&r);
    assert_eq!(&b[..], &[0, 4, 4, 0x10, 0, 2, 0, 0]);
    c[4] = 0x02;
    let (r, b) = run_in(&cd, &c, 8);
    assert_eq!(r.residual, 4);
    assert_eq!(&b[..4], &[0, 0, 0x80, 0x10]);
    c[1] = 0; // asynchronous: not supported
    assert_sense(&run_in(&cd, &c, 8).0, Sense::INVALID_FIELD);
    // READ DISC INFORMATION.
    let mut c = [0u8; 10];
    c[0] = op::READ_DISC_INFORMATION;
    c[8] = 34;
    let (r, b) = run_in(&cd, &c, 34);
    assert_good(&r);
    assert_eq!(&b[..8], &[0, 32, 0x0e, 1, 1, 1, 1, 0x20]);
    c[1] = 1;
    assert_sense(&run_in(&cd, &c, 34).0, Sense::INVALID_FIELD);
    // MECHANISM STATUS.
    let mut c = [0u8; 12];
    c[0] = op::MECHANISM_STATUS;
    c[9] = 8;
    let (r, b) = run_in(&cd, &c, 8);
    assert_good(&r);
    assert_eq!(&b[..], &[0, 0, 0, 0, 0, 1, 0, 0]);
}

fn bus() -> Bus {
    let mut b = Bus::new();
    b.attach(0, 0, disk(MIB, false).1).unwrap();
    b.attach(2, 3, disk(MIB, false).1).unwrap();
    b.attach(2, 300, cdrom(MIB).1).unwrap();
    b
}

fn bus_in(b: &Bus, target: u16, lun: u16, cdb: &[u8], len: usize) -> Option<(Response, Vec<u8>)> {
    let mut buf = vec![0xeeu8; len];
    let mut iov = [libc::iovec {
        iov_base: buf.as_mut_ptr() as *mut libc::c_void,
        iov_len: buf.len(),
    }];
    let r = {
        // SAFETY: the iovec points into `buf`, untouched until after the call.
        let mut data = unsafe { DataBuffers::new(Direction::In, &mut iov) };
        b.execute(target, lun, cdb, &mut data)
    };
    r.map(|r| (r, buf))
}

#[test]
fn the_bus_routes_by_target_and_lun() {
    let b = bus();
    let inq = [op::INQUIRY, 0, 0, 0, 36, 0];
    assert!(bus_in(&b, 1, 0, &inq, 36).is_none(), "no target 1");
    let (r, d) = bus_in(&b, 2, 300, &inq, 36).unwrap();
    assert_good(&r);
    assert_eq!(d[0], 0x05);
    // LUN 0 of target 2 is not there: peripheral qualifier 3; other commands refused.
    let (r, d) = bus_in(&b, 2, 0, &inq, 36).unwrap();
    assert_good(&r);
    assert_eq!(d[0], 0x7f);
    let tur = [op::TEST_UNIT_READY, 0, 0, 0, 0, 0];
    let (r, _) = bus_in(&b, 2, 0, &tur, 0).unwrap();
    assert_sense(&r, Sense::LUN_NOT_SUPPORTED);
    let (r, d) = bus_in(&b, 2, 1, &[op::REQUEST_SENSE, 0, 0, 0, 18, 0], 18).unwrap();
    assert_good(&r);
    assert_eq!((d[2], d[12]), (key::ILLEGAL_REQUEST, 0x25));
}

#[test]
fn an_address_holds_one_unit() {
    let mut b = Bus::new();
    assert!(b.attach(0, 0, disk(MIB, false).1).is_ok());
    let e = b.attach(0, 0, disk(MIB, false).1).unwrap_err();
    assert_eq!(e, "scsi-id=0,lun=0 is already in use");
    assert!(b.attach(0, 1, disk(MIB, false).1).is_ok());
    assert!(b.has_target(0) && !b.has_target(1));
    assert!(b.unit(0, 1).is_some() && b.unit(0, 2).is_none());
}

#[test]
fn report_luns_lists_the_targets_units() {
    let b = bus();
    let mut c = [0u8; 12];
    c[0] = op::REPORT_LUNS;
    c[9] = 64;
    let (r, d) = bus_in(&b, 2, 0, &c, 64).unwrap();
    assert_good(&r);
    assert_eq!(be32(&d[0..4]), 24, "LUN 0, 3 and 300");
    assert_eq!(&d[8..16], &[0; 8]);
    assert_eq!(&d[16..24], &[0, 3, 0, 0, 0, 0, 0, 0]);
    assert_eq!(
        &d[24..32],
        &[0x41, 0x2c, 0, 0, 0, 0, 0, 0],
        "flat space for 300"
    );
    assert_eq!(r.residual, 64 - 32);
    // Target 0 has LUN 0 only; the command works from any LUN of the target.
    let (_, d) = bus_in(&b, 0, 5, &c, 64).unwrap();
    assert_eq!(be32(&d[0..4]), 8);
    // Truncated to the allocation length (the list length still says the whole).
    c[9] = 16;
    let (r, d) = bus_in(&b, 2, 3, &c, 64).unwrap();
    assert_good(&r);
    assert_eq!(r.residual, 48);
    assert_eq!(be32(&d[0..4]), 24);
    assert_eq!(d[16], 0xee);
    // ... and to the buffer.
    c[9] = 64;
    let (r, d) = bus_in(&b, 2, 3, &c, 20).unwrap();
    assert_eq!(r.residual, 0);
    assert_eq!(&d[16..20], &[0, 3, 0, 0]);
    c[9] = 15;
    assert_sense(&bus_in(&b, 2, 3, &c, 64).unwrap().0, Sense::INVALID_FIELD);
}

#[test]
fn copy_in_at_offsets_spans_buffers() {
    let mut a = vec![0u8; 3];
    let mut b = vec![0u8; 5];
    let mut iov = [
        libc::iovec {
            iov_base: a.as_mut_ptr() as *mut libc::c_void,
            iov_len: 3,
        },
        libc::iovec {
            iov_base: b.as_mut_ptr() as *mut libc::c_void,
            iov_len: 5,
        },
    ];
    {
        // SAFETY: the iovecs point into a and b, untouched while `d` lives.
        let mut d = unsafe { DataBuffers::new(Direction::In, &mut iov) };
        assert_eq!(d.len(), 8);
        assert_eq!(d.copy_in_at(2, &[1, 2, 3, 4]), 4);
        assert_eq!(d.copy_in_at(6, &[7, 8, 9, 10]), 2);
        assert_eq!(d.copy_in_at(9, &[1]), 0);
    }
    assert_eq!(a, [0, 0, 1]);
    assert_eq!(b, [2, 3, 4, 7, 8]);
    // Data-out buffers are never written.
    // SAFETY: as above.
    let mut d = unsafe { DataBuffers::new(Direction::Out, &mut iov) };
    assert_eq!(d.copy_in(&[5; 8]), 0);
}
