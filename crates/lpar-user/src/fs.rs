//! File-system ABI differences between the ppc64 guest and the host: open flags and the layouts of
//! struct stat, statx, statfs and linux_dirent64 in the guest's byte order.

use crate::guest::{swap_fields, Out};

/// Open flags whose values differ on powerpc (arch/powerpc/include/uapi/asm/fcntl.h); all the
/// others are the asm-generic values every Linux host uses too.
const PPC_O_DIRECTORY: u64 = 0o40000;
const PPC_O_NOFOLLOW: u64 = 0o100000;
const PPC_O_LARGEFILE: u64 = 0o200000;
const PPC_O_DIRECT: u64 = 0o400000;

/// The generic bits, identical on guest and host.
const COMMON: u64 = 0o3 // O_ACCMODE
    | 0o100 // O_CREAT
    | 0o200 // O_EXCL
    | 0o400 // O_NOCTTY
    | 0o1000 // O_TRUNC
    | 0o2000 // O_APPEND
    | 0o4000 // O_NONBLOCK
    | 0o10000 // O_DSYNC
    | 0o20000 // FASYNC
    | 0o1000000 // O_NOATIME
    | 0o2000000 // O_CLOEXEC
    | 0o4000000 // __O_SYNC
    | 0o10000000 // O_PATH
    | 0o20000000; // __O_TMPFILE

const MOVED: [(u64, libc::c_int); 3] = [
    (PPC_O_DIRECTORY, libc::O_DIRECTORY),
    (PPC_O_NOFOLLOW, libc::O_NOFOLLOW),
    (PPC_O_DIRECT, libc::O_DIRECT),
];

pub fn oflags_to_host(g: u64) -> libc::c_int {
    let mut h = (g & COMMON) as libc::c_int;
    for (p, hb) in MOVED {
        if g & p != 0 {
            h |= hb;
        }
    }
    h
}

pub fn oflags_to_guest(h: libc::c_int) -> u64 {
    let mut g = h as u64 & COMMON;
    for (p, hb) in MOVED {
        if h & hb != 0 {
            g |= p;
        }
    }
    // The host reports O_LARGEFILE (implied on 64-bit) under its own value; the guest's is set
    // for 64-bit processes as Linux does.
    g | PPC_O_LARGEFILE
}

/// Size of the ppc64 `struct stat` (arch/powerpc/include/uapi/asm/stat.h).
pub const STAT_SIZE: usize = 144;

/// The host stat in the ppc64 layout.
pub fn stat_to_guest(s: &libc::stat, le: bool) -> [u8; STAT_SIZE] {
    let mut b = [0u8; STAT_SIZE];
    let mut o = Out { buf: &mut b, le };
    o.u64(0, s.st_dev);
    o.u64(8, s.st_ino);
    #[allow(clippy::useless_conversion)] // st_nlink is u32 on some hosts
    o.u64(16, u64::from(s.st_nlink));
    o.u32(24, s.st_mode);
    o.u32(28, s.st_uid);
    o.u32(32, s.st_gid);
    o.u64(40, s.st_rdev);
    o.u64(48, s.st_size as u64);
    o.u64(56, s.st_blksize as u64);
    o.u64(64, s.st_blocks as u64);
    o.u64(72, s.st_atime as u64);
    o.u64(80, s.st_atime_nsec as u64);
    o.u64(88, s.st_mtime as u64);
    o.u64(96, s.st_mtime_nsec as u64);
    o.u64(104, s.st_ctime as u64);
    o.u64(112, s.st_ctime_nsec as u64);
    b
}

/// Size of struct statx (include/uapi/linux/stat.h), the same on every architecture.
pub const STATX_SIZE: usize = 256;

/// The scalar fields of struct statx, to byte-swap for a big-endian guest.
pub const STATX_FIELDS: [(usize, usize); 32] = [
    (0, 4),   // stx_mask
    (4, 4),   // stx_blksize
    (8, 8),   // stx_attributes
    (16, 4),  // stx_nlink
    (20, 4),  // stx_uid
    (24, 4),  // stx_gid
    (28, 2),  // stx_mode
    (32, 8),  // stx_ino
    (40, 8),  // stx_size
    (48, 8),  // stx_blocks
    (56, 8),  // stx_attributes_mask
    (64, 8),  // stx_atime.tv_sec
    (72, 4),  // stx_atime.tv_nsec
    (80, 8),  // stx_btime
    (88, 4),  //
    (96, 8),  // stx_ctime
    (104, 4), //
    (112, 8), // stx_mtime
    (120, 4), //
    (128, 4), // stx_rdev_major
    (132, 4), // stx_rdev_minor
    (136, 4), // stx_dev_major
    (140, 4), // stx_dev_minor
    (144, 8), // stx_mnt_id
    (152, 4), // stx_dio_mem_align
    (156, 4), // stx_dio_offset_align
    (160, 8), // stx_subvol
    (168, 4), // stx_atomic_write_unit_min
    (172, 4), // stx_atomic_write_unit_max
    (176, 4), // stx_atomic_write_segments_max
    (180, 4), // stx_dio_read_offset_align
    (184, 4), // stx_atomic_write_unit_max_opt
];

/// struct statfs on 64-bit Linux (asm-generic/statfs.h): 120 bytes, longs except f_fsid's two ints.
pub const STATFS_SIZE: usize = 120;
pub const STATFS_FIELDS: [(usize, usize); 14] = [
    (0, 8),
    (8, 8),
    (16, 8),
    (24, 8),
    (32, 8),
    (40, 8),
    (48, 8),
    (56, 4),
    (60, 4),
    (64, 8),
    (72, 8),
    (80, 8),
    (88, 8),
    (96, 8),
];

/// Turns a buffer of host (little-endian) linux_dirent64 records into big-endian ones in place.
pub fn dirents_to_be(buf: &mut [u8]) {
    let mut off = 0usize;
    while off + 19 <= buf.len() {
        let reclen = u16::from_le_bytes([buf[off + 16], buf[off + 17]]) as usize;
        if reclen < 19 {
            break;
        }
        if let Some(rec) = buf.get_mut(off..) {
            swap_fields(rec, &[(0, 8), (8, 8), (16, 2)]);
        }
        off += reclen;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_flags_translate_the_powerpc_specific_bits() {
        // O_RDWR|O_CREAT|O_TRUNC|O_CLOEXEC are generic.
        let g = 2 | 0o100 | 0o1000 | 0o2000000;
        assert_eq!(
            oflags_to_host(g),
            libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC
        );
        assert_eq!(oflags_to_host(PPC_O_DIRECTORY), libc::O_DIRECTORY);
        assert_eq!(
            oflags_to_host(PPC_O_NOFOLLOW | PPC_O_LARGEFILE),
            libc::O_NOFOLLOW
        );
        assert_eq!(
            oflags_to_guest(libc::O_DIRECTORY | libc::O_WRONLY),
            PPC_O_DIRECTORY | 1 | PPC_O_LARGEFILE
        );
    }

    #[test]
    fn stat_layout() {
        // SAFETY: libc::stat is plain data; all-zero is a valid value.
        let mut s: libc::stat = unsafe { std::mem::zeroed() };
        s.st_dev = 0x0102;
        s.st_ino = 77;
        s.st_nlink = 3;
        s.st_mode = 0o100644;
        s.st_uid = 1000;
        s.st_size = 0x1234_5678_9abc;
        s.st_mtime = 1_700_000_000;
        s.st_mtime_nsec = 5;
        let b = stat_to_guest(&s, false);
        assert_eq!(&b[0..8], &[0, 0, 0, 0, 0, 0, 1, 2]);
        assert_eq!(&b[16..24], &3u64.to_be_bytes());
        assert_eq!(&b[24..28], &0o100644u32.to_be_bytes());
        assert_eq!(&b[28..32], &1000u32.to_be_bytes());
        assert_eq!(&b[48..56], &0x1234_5678_9abcu64.to_be_bytes());
        assert_eq!(&b[88..96], &1_700_000_000u64.to_be_bytes());
        assert_eq!(&b[96..104], &5u64.to_be_bytes());
        let l = stat_to_guest(&s, true);
        assert_eq!(&l[8..16], &77u64.to_le_bytes());
    }

    #[test]
    fn dirent_swap() {
        let mut rec = vec![0u8; 24];
        rec[..8].copy_from_slice(&5u64.to_le_bytes());
        rec[8..16].copy_from_slice(&9u64.to_le_bytes());
        rec[16..18].copy_from_slice(&24u16.to_le_bytes());
        rec[18] = 8;
        rec[19] = b'a';
        let mut two = rec.clone();
        two.extend_from_slice(&rec);
        dirents_to_be(&mut two);
        for r in two.chunks(24) {
            assert_eq!(&r[..8], &5u64.to_be_bytes());
            assert_eq!(&r[8..16], &9u64.to_be_bytes());
            assert_eq!(&r[16..18], &24u16.to_be_bytes());
            assert_eq!(&r[18..20], &[8, b'a']);
        }
        // A corrupt record length stops the walk instead of looping or panicking.
        let mut bad = vec![0u8; 40];
        dirents_to_be(&mut bad);
    }
}
