//! Guest memory and the data-access path of the CPU.
//!
//! `GuestMemory` is one host mapping that backs guest real addresses `0..size`. Every access goes
//! through `Cpu::xlate`, which today is the identity map with a bounds check (problem-state user
//! emulation and real mode); the MMU slots in there. Accesses honour MSR[LE].

use crate::cpu::{Cpu, Exception};
use std::ptr::NonNull;

/// A contiguous, host-mapped range of guest real memory. Pages are allocated lazily by the host
/// kernel, so a large window costs nothing until touched.
pub struct GuestMemory {
    base: NonNull<u8>,
    size: u64,
}

// SAFETY: the mapping lives as long as the GuestMemory and is only accessed through raw pointers
// with bounds checks; concurrent guest accesses from several vCPUs are the guest's business, as on
// real hardware.
unsafe impl Send for GuestMemory {}
// SAFETY: as above.
unsafe impl Sync for GuestMemory {}

impl GuestMemory {
    /// Maps `size` bytes of zeroed, lazily allocated memory.
    pub fn new(size: u64) -> std::io::Result<GuestMemory> {
        // SAFETY: an anonymous private mapping with no address hint has no effect on existing memory.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size as usize,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(GuestMemory {
            base: NonNull::new(p as *mut u8).ok_or_else(std::io::Error::last_os_error)?,
            size,
        })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Host pointer for `len` bytes at guest address `addr`, or None if any byte is outside.
    #[inline(always)]
    pub fn ptr(&self, addr: u64, len: u64) -> Option<*mut u8> {
        let end = addr.checked_add(len)?;
        if end > self.size {
            return None;
        }
        // SAFETY: addr + len <= size, so the offset stays inside the mapping.
        Some(unsafe { self.base.as_ptr().add(addr as usize) })
    }

    /// Copies guest memory out; false if the range is outside.
    pub fn read(&self, addr: u64, buf: &mut [u8]) -> bool {
        match self.ptr(addr, buf.len() as u64) {
            Some(p) => {
                // SAFETY: ptr() checked the whole range; buf is a distinct host buffer.
                unsafe { std::ptr::copy_nonoverlapping(p, buf.as_mut_ptr(), buf.len()) };
                true
            }
            None => false,
        }
    }

    /// Copies into guest memory; false if the range is outside.
    pub fn write(&self, addr: u64, buf: &[u8]) -> bool {
        match self.ptr(addr, buf.len() as u64) {
            Some(p) => {
                // SAFETY: ptr() checked the whole range; buf is a distinct host buffer.
                unsafe { std::ptr::copy_nonoverlapping(buf.as_ptr(), p, buf.len()) };
                true
            }
            None => false,
        }
    }

    /// Fills a guest range with a byte; false if the range is outside.
    pub fn fill(&self, addr: u64, len: u64, v: u8) -> bool {
        match self.ptr(addr, len) {
            Some(p) => {
                // SAFETY: ptr() checked the whole range.
                unsafe { std::ptr::write_bytes(p, v, len as usize) };
                true
            }
            None => false,
        }
    }

    /// Gives a range's host pages back to the kernel (they read as zero afterwards).
    pub fn discard(&self, addr: u64, len: u64) {
        if let Some(p) = self.ptr(addr, len) {
            // SAFETY: the range is inside our private anonymous mapping; MADV_DONTNEED only zeroes it.
            unsafe { libc::madvise(p as *mut libc::c_void, len as usize, libc::MADV_DONTNEED) };
        }
    }
}

impl Drop for GuestMemory {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the mapping we created; no references outlive self.
        unsafe { libc::munmap(self.base.as_ptr() as *mut libc::c_void, self.size as usize) };
    }
}

macro_rules! access {
    ($ld:ident, $st:ident, $t:ty) => {
        /// Loads with the current byte order (MSR[LE]).
        #[inline(always)]
        pub fn $ld(&mut self, ea: u64) -> Result<$t, Exception> {
            let p = self.xlate(ea, std::mem::size_of::<$t>() as u64, false)?;
            // SAFETY: xlate returned a pointer valid for size_of::<$t>() bytes.
            let v = unsafe { (p as *const $t).read_unaligned() };
            Ok(if self.le {
                <$t>::from_le(v)
            } else {
                <$t>::from_be(v)
            })
        }

        /// Stores with the current byte order (MSR[LE]).
        #[inline(always)]
        pub fn $st(&mut self, ea: u64, v: $t) -> Result<(), Exception> {
            let p = self.xlate(ea, std::mem::size_of::<$t>() as u64, true)?;
            let v = if self.le { v.to_le() } else { v.to_be() };
            // SAFETY: xlate returned a pointer valid for size_of::<$t>() bytes.
            unsafe { (p as *mut $t).write_unaligned(v) };
            Ok(())
        }
    };
}

impl Cpu {
    /// Effective address truncated to the current addressing mode.
    #[inline(always)]
    pub fn ea(&self, ea: u64) -> u64 {
        if self.sf() {
            ea
        } else {
            ea as u32 as u64
        }
    }

    /// Translates a data access of `len` bytes at `ea` to a host pointer.
    #[inline(always)]
    pub fn xlate(&mut self, ea: u64, len: u64, write: bool) -> Result<*mut u8, Exception> {
        self.mem
            .ptr(ea, len)
            .ok_or(Exception::DataStorage { ea, write })
    }

    access!(ld_u16, st_u16, u16);
    access!(ld_u32, st_u32, u32);
    access!(ld_u64, st_u64, u64);

    #[inline(always)]
    pub fn ld_u8(&mut self, ea: u64) -> Result<u8, Exception> {
        let p = self.xlate(ea, 1, false)?;
        // SAFETY: xlate returned a pointer valid for one byte.
        Ok(unsafe { p.read() })
    }

    #[inline(always)]
    pub fn st_u8(&mut self, ea: u64, v: u8) -> Result<(), Exception> {
        let p = self.xlate(ea, 1, true)?;
        // SAFETY: xlate returned a pointer valid for one byte.
        unsafe { p.write(v) };
        Ok(())
    }

    /// Loads 16 bytes in memory order (byte 0 at `ea` first), for the vector loads to arrange.
    #[inline(always)]
    pub fn ld_bytes16(&mut self, ea: u64) -> Result<[u8; 16], Exception> {
        let p = self.xlate(ea, 16, false)?;
        // SAFETY: xlate returned a pointer valid for 16 bytes.
        Ok(unsafe { (p as *const [u8; 16]).read_unaligned() })
    }

    /// Stores 16 bytes in memory order.
    #[inline(always)]
    pub fn st_bytes16(&mut self, ea: u64, v: [u8; 16]) -> Result<(), Exception> {
        let p = self.xlate(ea, 16, true)?;
        // SAFETY: xlate returned a pointer valid for 16 bytes.
        unsafe { (p as *mut [u8; 16]).write_unaligned(v) };
        Ok(())
    }

    /// Fetches the instruction word at `ea` (instruction byte order follows MSR[LE] too).
    #[inline]
    pub fn fetch(&self, ea: u64) -> Result<u32, Exception> {
        let p = self
            .mem
            .ptr(ea, 4)
            .ok_or(Exception::InstructionStorage { ea })?;
        // SAFETY: ptr() returned a pointer valid for 4 bytes.
        let v = unsafe { (p as *const u32).read_unaligned() };
        Ok(if self.le {
            u32::from_le(v)
        } else {
            u32::from_be(v)
        })
    }
}
