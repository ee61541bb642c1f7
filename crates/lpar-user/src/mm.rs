//! The guest address space: which 64 KiB pages of the guest window are in use (ELF image, stack,
//! brk heap, mmaps), and the brk/mmap/munmap/mremap/mprotect syscalls on top of it.
//!
//! Memory protection is recorded nowhere and not enforced: the core has no MMU in user mode, so
//! every page of the window is readable and writable. Freed pages are handed back to the host
//! (they read as zero afterwards), which gives fresh mappings their zero contents.

use crate::guest::{host_errno, Errno, SysResult, EINVAL, ENOMEM};
use ppc::{DecodeCache, GuestMemory};

/// Guest page size, as Debian's ppc64el kernels (64 KiB pages); also AT_PAGESZ.
pub const PAGE: u64 = 0x10000;

pub const PROT_WRITE: u64 = 2;
#[cfg(test)]
pub const MAP_SHARED: u64 = 0x01;
pub const MAP_PRIVATE: u64 = 0x02;
pub const MAP_SHARED_VALIDATE: u64 = 0x03;
pub const MAP_FIXED: u64 = 0x10;
pub const MAP_ANONYMOUS: u64 = 0x20;
pub const MAP_FIXED_NOREPLACE: u64 = 0x10_0000;
pub const MREMAP_MAYMOVE: u64 = 1;
pub const MREMAP_FIXED: u64 = 2;

pub fn page_up(v: u64) -> Option<u64> {
    Some(v.checked_add(PAGE - 1)? & !(PAGE - 1))
}

pub struct Vm {
    /// One flag per page of the window: in use.
    used: Vec<bool>,
    size: u64,
    /// Highest address (exclusive) mmap hands out when it chooses the address.
    mmap_top: u64,
    pub brk_start: u64,
    pub brk: u64,
    /// brk never grows past this.
    brk_limit: u64,
}

/// What a range operation must be followed by: the host pages to zero and the decoded
/// instructions to drop.
fn scrub(mem: &GuestMemory, cache: &mut DecodeCache, addr: u64, len: u64) {
    mem.discard(addr, len);
    cache.invalidate_range(addr, len);
}

impl Vm {
    /// A window of `size` bytes; mmap allocates below `mmap_top`. Page 0 is never mapped.
    pub fn new(size: u64, mmap_top: u64) -> Vm {
        let mut used = vec![false; (size / PAGE) as usize];
        if let Some(p) = used.first_mut() {
            *p = true;
        }
        Vm {
            used,
            size,
            mmap_top: mmap_top.min(size) & !(PAGE - 1),
            brk_start: 0,
            brk: 0,
            brk_limit: mmap_top.min(size),
        }
    }

    /// Sets the start of the brk heap (page aligned up from the end of the image).
    pub fn set_brk_start(&mut self, end: u64) {
        let s = page_up(end).unwrap_or(self.size);
        self.brk_start = s;
        self.brk = s;
    }

    fn pages(&self, addr: u64, len: u64) -> Option<std::ops::Range<usize>> {
        let end = addr.checked_add(len)?;
        if end > self.size || !addr.is_multiple_of(PAGE) {
            return None;
        }
        Some((addr / PAGE) as usize..(page_up(end)? / PAGE) as usize)
    }

    /// Marks `[addr, addr+len)` (page-rounded outward) in use; false if outside the window.
    pub fn reserve(&mut self, addr: u64, len: u64) -> bool {
        let a = addr & !(PAGE - 1);
        let Some(r) = len.checked_add(addr - a).and_then(|l| self.pages(a, l)) else {
            return false;
        };
        for u in &mut self.used[r] {
            *u = true;
        }
        true
    }

    fn set(&mut self, addr: u64, len: u64, v: bool) {
        if let Some(r) = self.pages(addr, len) {
            for u in &mut self.used[r] {
                *u = v;
            }
        }
    }

    fn all(&self, addr: u64, len: u64, v: bool) -> bool {
        self.pages(addr, len)
            .is_some_and(|r| self.used[r].iter().all(|&u| u == v))
    }

    /// Finds `len` free bytes, highest first below mmap_top.
    fn find_free(&self, len: u64) -> Option<u64> {
        let n = (len / PAGE) as usize;
        let mut run = 0usize;
        let top = (self.mmap_top / PAGE) as usize;
        for p in (0..top).rev() {
            if self.used[p] {
                run = 0;
            } else {
                run += 1;
                if run == n {
                    return Some(p as u64 * PAGE);
                }
            }
        }
        None
    }

    pub fn brk(&mut self, mem: &GuestMemory, cache: &mut DecodeCache, addr: u64) -> u64 {
        if addr < self.brk_start || addr > self.brk_limit {
            return self.brk;
        }
        let (Some(new_end), Some(cur_end)) = (page_up(addr), page_up(self.brk)) else {
            return self.brk;
        };
        if new_end > cur_end {
            if !self.all(cur_end, new_end - cur_end, false) {
                return self.brk;
            }
            self.set(cur_end, new_end - cur_end, true);
            // The guest may have run (zero) words from these pages before they were mapped.
            cache.invalidate_range(cur_end, new_end - cur_end);
        } else if new_end < cur_end {
            self.set(new_end, cur_end - new_end, false);
            scrub(mem, cache, new_end, cur_end - new_end);
        }
        self.brk = addr;
        addr
    }

    #[allow(clippy::too_many_arguments)]
    pub fn mmap(
        &mut self,
        mem: &GuestMemory,
        cache: &mut DecodeCache,
        addr: u64,
        len: u64,
        prot: u64,
        flags: u64,
        fd: i32,
        off: u64,
    ) -> SysResult {
        let len = match page_up(len) {
            Some(0) => return Err(EINVAL),
            Some(l) if l <= self.size => l,
            _ => return Err(ENOMEM),
        };
        let kind = flags & MAP_SHARED_VALIDATE;
        if kind == 0 || !off.is_multiple_of(PAGE) {
            return Err(EINVAL);
        }
        let anon = flags & MAP_ANONYMOUS != 0;
        if !anon && kind != MAP_PRIVATE && prot & PROT_WRITE != 0 {
            // Writes could never reach the file: refuse rather than silently diverge.
            return Err(Errno(libc::ENODEV));
        }
        let fixed = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) != 0;
        let at = if fixed {
            if !addr.is_multiple_of(PAGE) {
                return Err(EINVAL);
            }
            if addr == 0 || self.pages(addr, len).is_none() {
                return Err(ENOMEM);
            }
            if flags & MAP_FIXED == 0 && !self.all(addr, len, false) {
                return Err(Errno(libc::EEXIST));
            }
            addr
        } else if addr != 0 && addr.is_multiple_of(PAGE) && self.all(addr, len, false) {
            addr
        } else {
            self.find_free(len).ok_or(ENOMEM)?
        };
        // A fixed mapping may replace old contents; fresh pages are already zero.
        if fixed {
            scrub(mem, cache, at, len);
        } else {
            cache.invalidate_range(at, len);
        }
        if !anon {
            read_file(mem, fd, at, len, off)?;
        }
        self.set(at, len, true);
        Ok(at)
    }

    pub fn munmap(
        &mut self,
        mem: &GuestMemory,
        cache: &mut DecodeCache,
        addr: u64,
        len: u64,
    ) -> SysResult {
        if !addr.is_multiple_of(PAGE) || len == 0 {
            return Err(EINVAL);
        }
        let len = page_up(len).ok_or(EINVAL)?;
        // Linux ignores the part of the range outside the address space.
        let len = len.min(self.size.saturating_sub(addr));
        if len == 0 {
            return Ok(0);
        }
        self.set(addr, len, false);
        if addr == 0 {
            if let Some(u) = self.used.first_mut() {
                *u = true;
            }
        }
        scrub(mem, cache, addr, len);
        Ok(0)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn mremap(
        &mut self,
        mem: &GuestMemory,
        cache: &mut DecodeCache,
        old: u64,
        old_len: u64,
        new_len: u64,
        flags: u64,
        new_addr: u64,
    ) -> SysResult {
        if !old.is_multiple_of(PAGE) || flags & !(MREMAP_MAYMOVE | MREMAP_FIXED) != 0 {
            return Err(EINVAL);
        }
        if flags & MREMAP_FIXED != 0 && flags & MREMAP_MAYMOVE == 0 {
            return Err(EINVAL);
        }
        let (Some(old_len), Some(new_len)) = (page_up(old_len), page_up(new_len)) else {
            return Err(EINVAL);
        };
        if old_len == 0 || new_len == 0 {
            return Err(EINVAL);
        }
        if !self.all(old, old_len, true) {
            return Err(Errno(libc::EFAULT));
        }
        if flags & MREMAP_FIXED != 0 {
            if !new_addr.is_multiple_of(PAGE) || new_addr == 0 {
                return Err(EINVAL);
            }
            let overlap = new_addr < old + old_len && old < new_addr.saturating_add(new_len);
            if overlap || self.pages(new_addr, new_len).is_none() {
                return Err(EINVAL);
            }
            self.set(new_addr, new_len, false);
            scrub(mem, cache, new_addr, new_len);
            return Ok(self.move_to(mem, cache, old, old_len, new_addr, new_len));
        }
        if new_len <= old_len {
            if new_len < old_len {
                self.munmap(mem, cache, old + new_len, old_len - new_len)?;
            }
            return Ok(old);
        }
        let tail = old + old_len;
        if self.all(tail, new_len - old_len, false) {
            self.set(tail, new_len - old_len, true);
            return Ok(old);
        }
        if flags & MREMAP_MAYMOVE == 0 {
            return Err(ENOMEM);
        }
        let to = self.find_free(new_len).ok_or(ENOMEM)?;
        Ok(self.move_to(mem, cache, old, old_len, to, new_len))
    }

    /// Moves a mapping to a free (zero) range and releases the old one.
    fn move_to(
        &mut self,
        mem: &GuestMemory,
        cache: &mut DecodeCache,
        old: u64,
        old_len: u64,
        to: u64,
        new_len: u64,
    ) -> u64 {
        let n = old_len.min(new_len);
        if let (Some(src), Some(dst)) = (mem.ptr(old, n), mem.ptr(to, n)) {
            // SAFETY: both ranges are inside the guest window (checked by ptr) and do not overlap
            // (the destination was free while the source is in use).
            unsafe { std::ptr::copy_nonoverlapping(src, dst, n as usize) };
        }
        self.set(to, new_len, true);
        self.set(old, old_len, false);
        scrub(mem, cache, old, old_len);
        cache.invalidate_range(to, new_len);
        to
    }

    pub fn mprotect(&mut self, cache: &mut DecodeCache, addr: u64, len: u64) -> SysResult {
        if !addr.is_multiple_of(PAGE) {
            return Err(EINVAL);
        }
        let len = page_up(len).ok_or(ENOMEM)?;
        if len == 0 {
            return Ok(0);
        }
        if !self.all(addr, len, true) {
            return Err(ENOMEM);
        }
        // Permissions are not enforced, but a range becoming executable may hold new code.
        cache.invalidate_range(addr, len);
        Ok(0)
    }
}

/// Fills a private file mapping from the file; bytes past end of file stay zero.
fn read_file(mem: &GuestMemory, fd: i32, at: u64, len: u64, off: u64) -> Result<(), Errno> {
    let mut done = 0u64;
    while done < len {
        let p = mem.ptr(at + done, len - done).ok_or(EINVAL)?;
        // SAFETY: p is valid for len - done bytes of guest memory, which no Rust reference aliases.
        let r = unsafe {
            libc::pread(
                fd,
                p as *mut libc::c_void,
                (len - done) as usize,
                (off + done) as libc::off_t,
            )
        };
        if r < 0 {
            let e = host_errno();
            if e.0 == libc::EINTR {
                continue;
            }
            mem.discard(at, len);
            return Err(e);
        }
        if r == 0 {
            break;
        }
        done += r as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIZE: u64 = 64 * PAGE;

    fn setup() -> (Vm, GuestMemory, DecodeCache) {
        let mut vm = Vm::new(SIZE, 60 * PAGE);
        vm.reserve(4 * PAGE + 0x123, 0x10);
        vm.set_brk_start(4 * PAGE + 0x133);
        (vm, GuestMemory::new(SIZE).unwrap(), DecodeCache::default())
    }

    #[test]
    fn mmap_allocates_top_down_and_zeroed() {
        let (mut vm, mem, mut c) = setup();
        let a = vm
            .mmap(&mem, &mut c, 0, 100, 3, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
            .unwrap();
        assert_eq!(a, 59 * PAGE);
        let b = vm
            .mmap(
                &mem,
                &mut c,
                0,
                PAGE + 1,
                3,
                MAP_PRIVATE | MAP_ANONYMOUS,
                -1,
                0,
            )
            .unwrap();
        assert_eq!(b, 57 * PAGE);
        mem.fill(a, 16, 0xaa);
        vm.munmap(&mem, &mut c, a, 100).unwrap();
        let a2 = vm
            .mmap(&mem, &mut c, 0, 100, 3, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
            .unwrap();
        assert_eq!(a2, a);
        let mut buf = [1u8; 16];
        mem.read(a2, &mut buf);
        assert_eq!(buf, [0; 16], "a new mapping reads as zero");
    }

    #[test]
    fn mmap_argument_checks() {
        let (mut vm, mem, mut c) = setup();
        let anon = MAP_PRIVATE | MAP_ANONYMOUS;
        assert_eq!(vm.mmap(&mem, &mut c, 0, 0, 3, anon, -1, 0), Err(EINVAL));
        assert_eq!(
            vm.mmap(&mem, &mut c, 0, 1, 3, MAP_ANONYMOUS, -1, 0),
            Err(EINVAL)
        );
        assert_eq!(
            vm.mmap(&mem, &mut c, 0, u64::MAX, 3, anon, -1, 0),
            Err(ENOMEM)
        );
        assert_eq!(
            vm.mmap(&mem, &mut c, 0x1234, 1, 3, anon | MAP_FIXED, -1, 0),
            Err(EINVAL)
        );
        assert_eq!(
            vm.mmap(&mem, &mut c, SIZE, 1, 3, anon | MAP_FIXED, -1, 0),
            Err(ENOMEM)
        );
        assert_eq!(
            vm.mmap(
                &mem,
                &mut c,
                4 * PAGE,
                1,
                3,
                anon | MAP_FIXED_NOREPLACE,
                -1,
                0
            ),
            Err(Errno(libc::EEXIST))
        );
        assert_eq!(
            vm.mmap(&mem, &mut c, 0, 1, 3, MAP_PRIVATE, -1, 0),
            Err(Errno(libc::EBADF))
        );
        assert_eq!(
            vm.mmap(&mem, &mut c, 0, 1, 3, MAP_SHARED, 0, 0),
            Err(Errno(libc::ENODEV))
        );
        // A free hint is honoured.
        assert_eq!(
            vm.mmap(&mem, &mut c, 20 * PAGE, 1, 3, anon, -1, 0),
            Ok(20 * PAGE)
        );
        assert_eq!(vm.munmap(&mem, &mut c, 20 * PAGE + 1, 1), Err(EINVAL));
        // Address-space exhaustion is ENOMEM, not a panic.
        assert_eq!(
            vm.mmap(&mem, &mut c, 0, 60 * PAGE, 3, anon, -1, 0),
            Err(ENOMEM)
        );
    }

    #[test]
    fn fixed_mapping_replaces_contents() {
        let (mut vm, mem, mut c) = setup();
        let anon = MAP_PRIVATE | MAP_ANONYMOUS;
        let a = vm.mmap(&mem, &mut c, 0, PAGE, 3, anon, -1, 0).unwrap();
        mem.fill(a, PAGE, 7);
        assert_eq!(
            vm.mmap(&mem, &mut c, a, PAGE, 3, anon | MAP_FIXED, -1, 0),
            Ok(a)
        );
        let mut b = [9u8; 4];
        mem.read(a + 100, &mut b);
        assert_eq!(b, [0; 4]);
    }

    #[test]
    fn brk_grows_shrinks_and_respects_mappings() {
        let (mut vm, mem, mut c) = setup();
        assert_eq!(vm.brk_start, 5 * PAGE);
        assert_eq!(vm.brk(&mem, &mut c, 0), 5 * PAGE);
        assert_eq!(vm.brk(&mem, &mut c, 5 * PAGE + 0x100), 5 * PAGE + 0x100);
        mem.fill(5 * PAGE, 0x100, 1);
        assert_eq!(vm.brk(&mem, &mut c, 8 * PAGE), 8 * PAGE);
        assert_eq!(vm.brk(&mem, &mut c, 5 * PAGE), 5 * PAGE);
        let mut b = [0u8; 1];
        mem.read(5 * PAGE, &mut b);
        assert_eq!(b, [0], "memory given back by brk reads as zero");
        // A mapping in the way stops brk, which then reports the old break.
        let anon = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
        vm.mmap(&mem, &mut c, 7 * PAGE, PAGE, 3, anon, -1, 0)
            .unwrap();
        assert_eq!(vm.brk(&mem, &mut c, 9 * PAGE), 5 * PAGE);
        assert_eq!(vm.brk(&mem, &mut c, 7 * PAGE), 7 * PAGE);
        assert_eq!(vm.brk(&mem, &mut c, 1), 7 * PAGE);
        assert_eq!(vm.brk(&mem, &mut c, u64::MAX), 7 * PAGE);
    }

    #[test]
    fn mremap_in_place_and_moving() {
        let (mut vm, mem, mut c) = setup();
        let anon = MAP_PRIVATE | MAP_ANONYMOUS;
        let a = vm
            .mmap(&mem, &mut c, 30 * PAGE, PAGE, 3, anon, -1, 0)
            .unwrap();
        mem.fill(a, 8, 5);
        assert_eq!(vm.mremap(&mem, &mut c, a, PAGE, 2 * PAGE, 0, 0), Ok(a));
        vm.mmap(&mem, &mut c, 32 * PAGE, PAGE, 3, anon, -1, 0)
            .unwrap();
        assert_eq!(
            vm.mremap(&mem, &mut c, a, 2 * PAGE, 3 * PAGE, 0, 0),
            Err(ENOMEM)
        );
        let b = vm
            .mremap(&mem, &mut c, a, 2 * PAGE, 3 * PAGE, MREMAP_MAYMOVE, 0)
            .unwrap();
        assert_ne!(b, a);
        let mut buf = [0u8; 8];
        mem.read(b, &mut buf);
        assert_eq!(buf, [5; 8]);
        mem.read(a, &mut buf);
        assert_eq!(buf, [0; 8], "the old range is released");
        assert_eq!(vm.mremap(&mem, &mut c, b, 3 * PAGE, PAGE, 0, 0), Ok(b));
        assert_eq!(
            vm.mremap(&mem, &mut c, 40 * PAGE, PAGE, PAGE, 0, 0),
            Err(Errno(libc::EFAULT))
        );
        assert_eq!(vm.mremap(&mem, &mut c, b, PAGE, 0, 0, 0), Err(EINVAL));
    }

    #[test]
    fn file_mapping_reads_contents() {
        use std::io::Write;
        use std::os::fd::AsRawFd;
        let path = std::env::temp_dir().join(format!("lpar-user-mm-{}", std::process::id()));
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(&[0x5a; 100]).unwrap();
        drop(f);
        let f = std::fs::File::open(&path).unwrap();
        let (mut vm, mem, mut c) = setup();
        let a = vm
            .mmap(&mem, &mut c, 0, 200, 1, MAP_PRIVATE, f.as_raw_fd(), 0)
            .unwrap();
        let mut buf = [0u8; 102];
        mem.read(a, &mut buf);
        assert_eq!(&buf[..100], &[0x5a; 100]);
        assert_eq!(&buf[100..], &[0, 0]);
        std::fs::remove_file(&path).unwrap();
    }
}
