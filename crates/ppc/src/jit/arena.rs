//! Executable memory for translated blocks: one mapping reserved up front (lazily backed by the
//! host kernel, so only the code written costs memory), filled by a bump pointer, and emptied as a
//! whole when full (QEMU's policy: a full flush is simpler and rarely needed with a sane budget).

use std::ptr::NonNull;

pub(crate) struct Arena {
    base: NonNull<u8>,
    size: usize,
    used: usize,
}

// SAFETY: the mapping is owned by one vCPU's translator; it is only written between block
// executions by that vCPU's thread.
unsafe impl Send for Arena {}

impl Arena {
    pub(crate) fn new(size: usize) -> std::io::Result<Arena> {
        let size = size.max(1 << 16);
        // SAFETY: an anonymous private mapping with no address hint touches no existing memory.
        // It is writable and executable at once (as QEMU's default on Linux): blocks are written
        // only by the translator, never at a guest-chosen address, and never while running.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size,
                libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Arena {
            base: NonNull::new(p as *mut u8).ok_or_else(std::io::Error::last_os_error)?,
            size,
            used: 0,
        })
    }

    /// Copies `code` in (16-byte aligned); None when it does not fit.
    pub(crate) fn put(&mut self, code: &[u8]) -> Option<*const u8> {
        let at = self.used.next_multiple_of(16);
        let end = at.checked_add(code.len())?;
        if end > self.size {
            return None;
        }
        // SAFETY: at..end lies inside the mapping; no block in that range exists yet (the bump
        // pointer only moves forward until `reset`, which happens with no block running).
        let dst = unsafe { self.base.as_ptr().add(at) };
        // SAFETY: as above; code is a distinct host buffer.
        unsafe { std::ptr::copy_nonoverlapping(code.as_ptr(), dst, code.len()) };
        self.used = end;
        Some(dst)
    }

    /// Forgets every block (their code is overwritten by later ones) and gives the pages back.
    pub(crate) fn reset(&mut self) {
        // SAFETY: the range is our own private anonymous mapping; MADV_DONTNEED zeroes it.
        unsafe {
            libc::madvise(
                self.base.as_ptr() as *mut libc::c_void,
                self.used.next_multiple_of(4096).min(self.size),
                libc::MADV_DONTNEED,
            )
        };
        self.used = 0;
    }

    pub(crate) fn used(&self) -> usize {
        self.used
    }

    pub(crate) fn size(&self) -> usize {
        self.size
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the mapping created in `new`; no block runs any more.
        unsafe { libc::munmap(self.base.as_ptr() as *mut libc::c_void, self.size) };
    }
}
