//! Guest memory as seen by the syscall layer: every pointer and length comes from the guest and is
//! checked against the guest window; scalars are stored in the guest's byte order.

use ppc::GuestMemory;
use std::ffi::CString;
use std::sync::Arc;

/// A Linux errno value (the numbers are the same on ppc64 and on the x86-64/aarch64 hosts).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Errno(pub i32);

pub const EFAULT: Errno = Errno(libc::EFAULT);
pub const EINVAL: Errno = Errno(libc::EINVAL);
pub const ENOSYS: Errno = Errno(libc::ENOSYS);
pub const ENOMEM: Errno = Errno(libc::ENOMEM);
pub const ENAMETOOLONG: Errno = Errno(libc::ENAMETOOLONG);

pub type SysResult = Result<u64, Errno>;

/// The last host errno, for forwarding a failed host call.
pub fn host_errno() -> Errno {
    Errno(
        std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO),
    )
}

/// Converts a host call's return value (-1 = failure) into a syscall result.
pub fn host_ret(r: i64) -> SysResult {
    if r < 0 {
        Err(host_errno())
    } else {
        Ok(r as u64)
    }
}

/// Longest path accepted from the guest, including the NUL (Linux PATH_MAX).
const PATH_MAX: usize = 4096;

pub struct Guest {
    pub mem: Arc<GuestMemory>,
    /// The guest is little-endian (ppc64le); otherwise big-endian.
    pub le: bool,
}

impl Guest {
    /// Host pointer to `len` guest bytes at `addr`. A zero-length range is always valid (the
    /// pointer is then only passed to host calls that do not touch it).
    pub fn ptr(&self, addr: u64, len: u64) -> Result<*mut u8, Errno> {
        if len == 0 {
            return Ok(std::ptr::NonNull::<u8>::dangling().as_ptr());
        }
        self.mem.ptr(addr, len).ok_or(EFAULT)
    }

    pub fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), Errno> {
        if self.mem.read(addr, buf) {
            Ok(())
        } else {
            Err(EFAULT)
        }
    }

    pub fn write(&self, addr: u64, buf: &[u8]) -> Result<(), Errno> {
        if self.mem.write(addr, buf) {
            Ok(())
        } else {
            Err(EFAULT)
        }
    }

    pub fn read_u64(&self, addr: u64) -> Result<u64, Errno> {
        let mut b = [0u8; 8];
        self.read(addr, &mut b)?;
        Ok(if self.le {
            u64::from_le_bytes(b)
        } else {
            u64::from_be_bytes(b)
        })
    }

    pub fn read_u32(&self, addr: u64) -> Result<u32, Errno> {
        let mut b = [0u8; 4];
        self.read(addr, &mut b)?;
        Ok(if self.le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    }

    pub fn write_u64(&self, addr: u64, v: u64) -> Result<(), Errno> {
        self.write(addr, &self.enc64(v))
    }

    pub fn write_u32(&self, addr: u64, v: u32) -> Result<(), Errno> {
        let b = if self.le {
            v.to_le_bytes()
        } else {
            v.to_be_bytes()
        };
        self.write(addr, &b)
    }

    pub fn enc64(&self, v: u64) -> [u8; 8] {
        if self.le {
            v.to_le_bytes()
        } else {
            v.to_be_bytes()
        }
    }

    /// A NUL-terminated string at `addr` (at most PATH_MAX bytes with its NUL).
    pub fn cstring(&self, addr: u64) -> Result<CString, Errno> {
        let mut v = Vec::with_capacity(64);
        let mut a = addr;
        loop {
            // Read in chunks that stop at 4 KiB boundaries so a string ending just before the
            // end of the window is still readable.
            let chunk = (0x1000 - (a & 0xfff)).min(256);
            let mut b = [0u8; 256];
            let Some(buf) = b.get_mut(..chunk as usize) else {
                return Err(EFAULT);
            };
            self.read(a, buf)?;
            if let Some(n) = buf.iter().position(|&c| c == 0) {
                v.extend_from_slice(&buf[..n]);
                if v.len() >= PATH_MAX {
                    return Err(ENAMETOOLONG);
                }
                // No interior NUL by construction.
                return CString::new(v).map_err(|_| EINVAL);
            }
            v.extend_from_slice(buf);
            if v.len() >= PATH_MAX {
                return Err(ENAMETOOLONG);
            }
            a = a.checked_add(chunk).ok_or(EFAULT)?;
        }
    }
}

/// Builds a fixed-layout guest structure in the guest byte order. Offsets are the emulator's own
/// constants, never guest values.
pub struct Out<'a> {
    pub buf: &'a mut [u8],
    pub le: bool,
}

impl Out<'_> {
    fn put(&mut self, off: usize, le: &[u8], be: &[u8]) {
        let src = if self.le { le } else { be };
        if let Some(d) = self.buf.get_mut(off..off + src.len()) {
            d.copy_from_slice(src);
        }
    }
    pub fn u64(&mut self, off: usize, v: u64) {
        self.put(off, &v.to_le_bytes(), &v.to_be_bytes());
    }
    pub fn u32(&mut self, off: usize, v: u32) {
        self.put(off, &v.to_le_bytes(), &v.to_be_bytes());
    }
    pub fn u16(&mut self, off: usize, v: u16) {
        self.put(off, &v.to_le_bytes(), &v.to_be_bytes());
    }
}

/// Reverses the byte order of the fields of a little-endian structure in place, turning the host
/// (little-endian) layout into a big-endian guest's. `fields` lists (offset, size) pairs.
pub fn swap_fields(buf: &mut [u8], fields: &[(usize, usize)]) {
    for &(off, size) in fields {
        if let Some(f) = buf.get_mut(off..off + size) {
            f.reverse();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guest(le: bool) -> Guest {
        Guest {
            mem: Arc::new(GuestMemory::new(0x10000).unwrap()),
            le,
        }
    }

    #[test]
    fn scalars_follow_guest_byte_order() {
        let g = guest(false);
        g.write_u64(0x100, 0x0102_0304_0506_0708).unwrap();
        let mut b = [0u8; 8];
        g.read(0x100, &mut b).unwrap();
        assert_eq!(b, [1, 2, 3, 4, 5, 6, 7, 8]);
        let g = guest(true);
        g.write_u32(0x100, 0x0102_0304).unwrap();
        let mut b = [0u8; 4];
        g.read(0x100, &mut b).unwrap();
        assert_eq!(b, [4, 3, 2, 1]);
        assert_eq!(g.read_u32(0x100).unwrap(), 0x0102_0304);
    }

    #[test]
    fn bad_pointers_are_efault() {
        let g = guest(true);
        assert_eq!(g.read_u64(0xfffc), Err(EFAULT));
        assert_eq!(g.write_u64(u64::MAX - 3, 0), Err(EFAULT));
        assert_eq!(g.ptr(0x8000, 0x9000).err(), Some(EFAULT));
        assert!(g.ptr(u64::MAX, 0).is_ok());
    }

    #[test]
    fn cstring_reads_up_to_nul_and_stops_at_window_end() {
        let g = guest(true);
        g.write(0x1ffe, b"abc\0").unwrap();
        assert_eq!(g.cstring(0x1ffe).unwrap().as_bytes(), b"abc");
        // A string running into the end of the window is a fault, not a panic.
        g.write(0xfffd, b"xyz").unwrap();
        assert_eq!(g.cstring(0xfffd), Err(EFAULT));
        // Over-long strings are refused.
        g.fill_for_test(0x4000, 5000, b'a');
        assert_eq!(g.cstring(0x4000), Err(ENAMETOOLONG));
    }

    impl Guest {
        fn fill_for_test(&self, a: u64, n: u64, v: u8) {
            assert!(self.mem.fill(a, n, v));
        }
    }

    #[test]
    fn out_and_swap() {
        let mut b = [0u8; 8];
        Out {
            buf: &mut b,
            le: false,
        }
        .u32(4, 0x11223344);
        assert_eq!(b, [0, 0, 0, 0, 0x11, 0x22, 0x33, 0x44]);
        let mut b = 0x0102u16.to_le_bytes().to_vec();
        b.extend_from_slice(&[9]);
        swap_fields(&mut b, &[(0, 2), (2, 8)]);
        assert_eq!(b, [1, 2, 9]);
    }
}
