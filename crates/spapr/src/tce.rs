//! TCE tables: the IOMMU of a PAPR partition. Each DMA window (a PCI host bridge's, later each
//! VIO device's) has a logical I/O bus number (LIOBN) and a table of translation control entries
//! the guest fills with H_PUT_TCE, H_PUT_TCE_INDIRECT and H_STUFF_TCE and reads with H_GET_TCE.
//! A device's DMA goes through `translate`, which checks bounds and permissions.

use crate::hcall::{HcallFn, H_PARAMETER, H_SUCCESS};
use crate::machine::Machine;
use ppc::Cpu;
use std::sync::{Arc, Mutex};

pub use crate::papr::{H_GET_TCE, H_PUT_TCE, H_PUT_TCE_INDIRECT, H_STUFF_TCE};

/// TCE permission bits.
pub const TCE_READ: u64 = 1;
pub const TCE_WRITE: u64 = 2;
/// I/O page size of the tables (4 KiB, as QEMU's default windows).
pub const PAGE_SHIFT: u32 = 12;
const PAGE: u64 = 1 << PAGE_SHIFT;
/// Entries H_PUT_TCE_INDIRECT takes at most (one 4 KiB page of TCEs).
pub const INDIRECT_MAX: u64 = 512;

/// One DMA window and its table.
pub struct TceTable {
    pub liobn: u32,
    /// Bus address of the window's first page.
    pub offset: u64,
    /// I/O page size of this window: 4 KiB for default windows; dynamic windows may use 64 KiB
    /// or 16 MiB pages.
    pub page_shift: u32,
    entries: Mutex<Vec<u64>>,
}

impl TceTable {
    /// A window of `size` bytes of 4 KiB pages at bus address `offset`, all entries invalid. The
    /// table is zero-filled lazily by the host (a 1 GiB window's 2 MiB table costs nothing until
    /// used).
    pub fn new(liobn: u32, offset: u64, size: u64) -> TceTable {
        TceTable::with_pages(liobn, offset, size, PAGE_SHIFT)
    }

    /// A window of `size` bytes of `1 << page_shift`-byte pages.
    pub fn with_pages(liobn: u32, offset: u64, size: u64, page_shift: u32) -> TceTable {
        TceTable {
            liobn,
            offset,
            page_shift,
            entries: Mutex::new(vec![0; (size >> page_shift) as usize]),
        }
    }

    /// Window size in bytes.
    pub fn size(&self) -> u64 {
        self.entries
            .lock()
            .map_or(0, |e| (e.len() as u64) << self.page_shift)
    }

    /// Index of the entry for bus address `ioba`, `n` entries from there staying in the window.
    fn index(&self, entries: &[u64], ioba: u64, n: u64) -> Option<usize> {
        let i = ioba.checked_sub(self.offset)? >> self.page_shift;
        (i.checked_add(n)? <= entries.len() as u64).then_some(i as usize)
    }

    /// Whether `n` entries from `ioba` lie in the window.
    pub fn fits(&self, ioba: u64, n: u64) -> bool {
        self.entries
            .lock()
            .is_ok_and(|e| self.index(&e, ioba, n).is_some())
    }

    /// Sets the entry for `ioba`; false if outside the window.
    pub fn put(&self, ioba: u64, tce: u64) -> bool {
        self.stuff(ioba, tce, 1)
    }

    pub fn get(&self, ioba: u64) -> Option<u64> {
        let e = self.entries.lock().ok()?;
        let i = self.index(&e, ioba, 1)?;
        Some(e[i])
    }

    /// Sets `n` entries from `ioba` to `tce`; false (and nothing set) if they leave the window.
    pub fn stuff(&self, ioba: u64, tce: u64, n: u64) -> bool {
        let Ok(mut e) = self.entries.lock() else {
            return false;
        };
        match self.index(&e, ioba, n) {
            Some(i) => {
                e[i..i + n as usize].fill(tce);
                true
            }
            None => false,
        }
    }

    /// The guest real address DMA to bus address `ioba` reaches, if the entry allows the access.
    pub fn translate(&self, ioba: u64, write: bool) -> Option<u64> {
        let tce = self.get(ioba)?;
        let need = if write { TCE_WRITE } else { TCE_READ };
        let mask = (1u64 << self.page_shift) - 1;
        (tce & need != 0).then_some((tce & !mask & !(PAGE - 1)) | (ioba & mask))
    }

    /// Invalidates every entry (machine reset).
    pub fn clear(&self) {
        if let Ok(mut e) = self.entries.lock() {
            e.fill(0);
        }
    }
}

/// The table with LIOBN `liobn`, among every bus's windows.
fn table(m: &Machine, liobn: u64) -> Option<Arc<TceTable>> {
    m.tce_table(u32::try_from(liobn).ok()?)
}

pub const HCALLS: &[(u64, &str, HcallFn)] = &[
    (H_PUT_TCE, "H_PUT_TCE", h_put_tce),
    (H_GET_TCE, "H_GET_TCE", h_get_tce),
    (H_STUFF_TCE, "H_STUFF_TCE", h_stuff_tce),
    (H_PUT_TCE_INDIRECT, "H_PUT_TCE_INDIRECT", h_put_tce_indirect),
];

/// H_PUT_TCE(liobn, ioba, tce).
fn h_put_tce(m: &Machine, cpu: &mut Cpu) -> i64 {
    let (liobn, ioba, tce) = (cpu.gpr[4], cpu.gpr[5], cpu.gpr[6]);
    match table(m, liobn).map(|t| t.put(ioba, tce)) {
        Some(true) => H_SUCCESS,
        _ => H_PARAMETER,
    }
}

/// H_GET_TCE(liobn, ioba) -> tce in r4.
fn h_get_tce(m: &Machine, cpu: &mut Cpu) -> i64 {
    let (liobn, ioba) = (cpu.gpr[4], cpu.gpr[5]);
    match table(m, liobn).and_then(|t| t.get(ioba)) {
        Some(tce) => {
            cpu.gpr[4] = tce;
            H_SUCCESS
        }
        None => H_PARAMETER,
    }
}

/// H_STUFF_TCE(liobn, ioba, tce, count).
fn h_stuff_tce(m: &Machine, cpu: &mut Cpu) -> i64 {
    let (liobn, ioba, tce, n) = (cpu.gpr[4], cpu.gpr[5], cpu.gpr[6], cpu.gpr[7]);
    match table(m, liobn).map(|t| t.stuff(ioba, tce, n)) {
        Some(true) => H_SUCCESS,
        _ => H_PARAMETER,
    }
}

/// H_PUT_TCE_INDIRECT(liobn, ioba, list, count): `count` big-endian TCEs from the 4 KiB-aligned
/// guest page at `list`.
fn h_put_tce_indirect(m: &Machine, cpu: &mut Cpu) -> i64 {
    let (liobn, ioba, list, n) = (cpu.gpr[4], cpu.gpr[5], cpu.gpr[6], cpu.gpr[7]);
    let Some(t) = table(m, liobn) else {
        return H_PARAMETER;
    };
    if n > INDIRECT_MAX || list & (PAGE - 1) != 0 {
        return H_PARAMETER;
    }
    let mut buf = [0u8; (INDIRECT_MAX * 8) as usize];
    let buf = &mut buf[..(n * 8) as usize];
    if !m.mem.read(list & 0x0fff_ffff_ffff_f000, buf) {
        return H_PARAMETER;
    }
    // Check the whole range first: a failing call changes nothing.
    if !t.fits(ioba, n) {
        return H_PARAMETER;
    }
    for (k, c) in buf.chunks_exact(8).enumerate() {
        let mut b = [0u8; 8];
        b.copy_from_slice(c);
        if !t.put(ioba + ((k as u64) << t.page_shift), u64::from_be_bytes(b)) {
            return H_PARAMETER;
        }
    }
    H_SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_translate_within_the_window_with_their_permissions() {
        let t = TceTable::new(0x8000_0000, 0, 1 << 20);
        assert_eq!(t.size(), 1 << 20);
        assert!(t.put(0x3000, 0x1234_5000 | TCE_READ));
        assert_eq!(t.translate(0x3abc, false), Some(0x1234_5abc));
        assert_eq!(t.translate(0x3abc, true), None);
        assert_eq!(t.translate(0x4000, false), None);
        assert!(!t.put(1 << 20, 1));
        assert!(!t.stuff(0xff000, 3, 2));
        assert!(t.stuff(0xfe000, 0x5000 | 3, 2));
        assert_eq!(t.translate(0xff008, true), Some(0x5008));
        assert_eq!(t.get(u64::MAX), None);
        t.clear();
        assert_eq!(t.get(0x3000), Some(0));
        // A 16 MiB-page window at a 64-bit bus address.
        let d = TceTable::with_pages(1, 1 << 59, 1 << 31, 24);
        assert_eq!(d.size(), 1 << 31);
        assert!(d.put((1 << 59) + (3 << 24), (7 << 24) | TCE_READ | TCE_WRITE));
        assert_eq!(
            d.translate((1 << 59) + (3 << 24) + 0x12345, true),
            Some((7 << 24) + 0x12345)
        );
        assert!(!d.put((1 << 59) + (1 << 31), 1));
    }
}
