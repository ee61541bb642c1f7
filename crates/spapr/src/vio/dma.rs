//! DMA of VIO devices through their TCE window: every access translated page by page,
//! permission-checked, then `GuestMemory::read/write` (bounds, instruction-cache coherence).

use crate::tce::TceTable;
use ppc::GuestMemory;

/// I/O page: every access is translated per 4 KiB page (the VIO windows' page size).
const PAGE: u64 = 1 << crate::tce::PAGE_SHIFT;

/// Walks `[ioba, ioba + len)` of window `dma` page by page: `f(real, offset, n)` gets the guest
/// real address of each piece (never crossing an I/O page), its offset in the range and its
/// length. False, stopping there, at the first page the window does not map for the access
/// (`write`: device writes guest memory) or that `f` refuses; pieces before it were visited.
pub fn walk(
    dma: &TceTable,
    ioba: u64,
    len: u64,
    write: bool,
    mut f: impl FnMut(u64, u64, u64) -> bool,
) -> bool {
    let Some(end) = ioba.checked_add(len) else {
        return false;
    };
    let mut at = ioba;
    while at < end {
        let n = (PAGE - (at & (PAGE - 1))).min(end - at);
        let Some(real) = dma.translate(at, write) else {
            return false;
        };
        if !f(real, at - ioba, n) {
            return false;
        }
        at += n;
    }
    true
}

/// Whether the whole range is mapped for the access and lands in guest RAM.
pub fn mapped(mem: &GuestMemory, dma: &TceTable, ioba: u64, len: u64, write: bool) -> bool {
    walk(dma, ioba, len, write, |real, _, n| {
        mem.ptr(real, n).is_some()
    })
}

/// Device read of guest memory at bus address `ioba`; false if any page is not readable (the
/// pages before it were read).
pub fn dma_read(mem: &GuestMemory, dma: &TceTable, ioba: u64, buf: &mut [u8]) -> bool {
    walk(dma, ioba, buf.len() as u64, false, |real, off, n| {
        let (a, b) = (off as usize, (off + n) as usize);
        buf.get_mut(a..b).is_some_and(|s| mem.read(real, s))
    })
}

/// Device write of guest memory at bus address `ioba`; false if any page is not writable (the
/// pages before it were written).
pub fn dma_write(mem: &GuestMemory, dma: &TceTable, ioba: u64, buf: &[u8]) -> bool {
    walk(dma, ioba, buf.len() as u64, true, |real, off, n| {
        let (a, b) = (off as usize, (off + n) as usize);
        buf.get(a..b).is_some_and(|s| mem.write(real, s))
    })
}

/// Device fill of `len` bytes at bus address `ioba` with `v`.
pub fn dma_fill(mem: &GuestMemory, dma: &TceTable, ioba: u64, len: u64, v: u8) -> bool {
    walk(dma, ioba, len, true, |real, _, n| mem.fill(real, n, v))
}
