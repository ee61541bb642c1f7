//! MSI-X for PCI functions: the capability in configuration space, the vector table and pending
//! bit array in a BAR, and delivery. A vector fires by writing its message (address, data) to the
//! [`MsiSink`] the host bridge handed the device; masked vectors are held pending until unmasked.

use crate::pci::{ConfigSpace, CAP_MSIX};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Where messages go: the host bridge decodes the address and raises the interrupt.
pub trait MsiSink: Send + Sync {
    fn send(&self, addr: u64, data: u32);
}

/// Message control bits.
const CTRL_ENABLE: u16 = 1 << 15;
const CTRL_MASKALL: u16 = 1 << 14;
/// Vector control: masked.
const ENTRY_MASKED: u32 = 1;
/// Bytes per table entry.
pub const ENTRY_SIZE: u64 = 16;

#[derive(Clone, Copy, Default)]
struct Entry {
    addr: u64,
    data: u32,
    ctrl: u32,
}

/// One function's MSI-X state.
pub struct Msix {
    /// Offset of the capability in configuration space.
    cap: usize,
    /// BAR holding the table (at offset 0) and the PBA (at `pba_offset`).
    pub bar: usize,
    pub pba_offset: u64,
    table: Mutex<(Vec<Entry>, Vec<u64>)>,
    enabled: AtomicBool,
    masked_all: AtomicBool,
    sink: Arc<dyn MsiSink>,
}

impl Msix {
    /// Adds an MSI-X capability with `vectors` entries whose table is at offset 0 of BAR `bar`
    /// and PBA at `pba_offset`.
    pub fn new(
        c: &mut ConfigSpace,
        vectors: u16,
        bar: usize,
        pba_offset: u64,
        sink: Arc<dyn MsiSink>,
    ) -> Msix {
        let n = vectors.clamp(1, 2048);
        let mut body = Vec::with_capacity(10);
        body.extend_from_slice(&(n - 1).to_le_bytes());
        body.extend_from_slice(&(bar as u32).to_le_bytes());
        body.extend_from_slice(&((pba_offset as u32) | bar as u32).to_le_bytes());
        let ctrl_mask = (CTRL_ENABLE | CTRL_MASKALL).to_le_bytes();
        let cap = c.add_capability(CAP_MSIX, &body, &ctrl_mask);
        Msix {
            cap,
            bar,
            pba_offset,
            table: Mutex::new((
                vec![
                    Entry {
                        ctrl: ENTRY_MASKED,
                        ..Default::default()
                    };
                    n as usize
                ],
                vec![0; (n as usize).div_ceil(64)],
            )),
            enabled: AtomicBool::new(false),
            masked_all: AtomicBool::new(false),
            sink,
        }
    }

    pub fn vectors(&self) -> u16 {
        self.table.lock().map_or(0, |t| t.0.len() as u16)
    }

    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::SeqCst)
    }

    /// Follows a configuration write: picks up the enable and mask-all bits, and delivers what
    /// was held pending if they now allow it.
    pub fn config_written(&self, c: &ConfigSpace) {
        let ctrl = c.read(self.cap + 2, 2) as u16;
        self.enabled
            .store(ctrl & CTRL_ENABLE != 0, Ordering::SeqCst);
        self.masked_all
            .store(ctrl & CTRL_MASKALL != 0, Ordering::SeqCst);
        self.flush_pending();
    }

    /// Fires vector `v` (or holds it pending while masked). False if MSI-X is off.
    pub fn notify(&self, v: u16) -> bool {
        if !self.enabled() {
            return false;
        }
        let Ok(mut t) = self.table.lock() else {
            return false;
        };
        let v = v as usize;
        let Some(&e) = t.0.get(v) else {
            return true;
        };
        if e.ctrl & ENTRY_MASKED != 0 || self.masked_all.load(Ordering::SeqCst) {
            t.1[v / 64] |= 1 << (v % 64);
            return true;
        }
        drop(t);
        self.sink.send(e.addr, e.data);
        true
    }

    fn flush_pending(&self) {
        if !self.enabled() || self.masked_all.load(Ordering::SeqCst) {
            return;
        }
        let mut fire = Vec::new();
        if let Ok(mut t) = self.table.lock() {
            let (entries, pba) = &mut *t;
            for (v, e) in entries.iter().enumerate() {
                let bit = 1u64 << (v % 64);
                if pba[v / 64] & bit != 0 && e.ctrl & ENTRY_MASKED == 0 {
                    pba[v / 64] &= !bit;
                    fire.push((e.addr, e.data));
                }
            }
        }
        for (a, d) in fire {
            self.sink.send(a, d);
        }
    }

    /// Reads the table or PBA at `off` in the BAR; false if `off` is neither.
    pub fn bar_read(&self, off: u64, data: &mut [u8]) -> bool {
        let Ok(t) = self.table.lock() else {
            return false;
        };
        let (entries, pba) = &*t;
        let table_len = entries.len() as u64 * ENTRY_SIZE;
        if off < table_len {
            let e = entries[(off / ENTRY_SIZE) as usize];
            let mut b = [0u8; 16];
            b[0..8].copy_from_slice(&e.addr.to_le_bytes());
            b[8..12].copy_from_slice(&e.data.to_le_bytes());
            b[12..16].copy_from_slice(&e.ctrl.to_le_bytes());
            copy_out(&b, (off % ENTRY_SIZE) as usize, data);
            return true;
        }
        if off >= self.pba_offset && off - self.pba_offset < pba.len() as u64 * 8 {
            let rel = off - self.pba_offset;
            let b = pba[(rel / 8) as usize].to_le_bytes();
            copy_out(&b, (rel % 8) as usize, data);
            return true;
        }
        false
    }

    /// Writes the table at `off` (the PBA is read-only); false if `off` is not in the table.
    pub fn bar_write(&self, off: u64, data: &[u8]) -> bool {
        let unmasked = {
            let Ok(mut t) = self.table.lock() else {
                return false;
            };
            let len = t.0.len() as u64 * ENTRY_SIZE;
            if off >= len {
                return off >= self.pba_offset;
            }
            let e = &mut t.0[(off / ENTRY_SIZE) as usize];
            let mut b = [0u8; 16];
            b[0..8].copy_from_slice(&e.addr.to_le_bytes());
            b[8..12].copy_from_slice(&e.data.to_le_bytes());
            b[12..16].copy_from_slice(&e.ctrl.to_le_bytes());
            let at = (off % ENTRY_SIZE) as usize;
            let n = data.len().min(16 - at);
            b[at..at + n].copy_from_slice(&data[..n]);
            let was_masked = e.ctrl & ENTRY_MASKED != 0;
            e.addr = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
            e.data = u32::from_le_bytes([b[8], b[9], b[10], b[11]]);
            e.ctrl = u32::from_le_bytes([b[12], b[13], b[14], b[15]]) & ENTRY_MASKED;
            was_masked && e.ctrl & ENTRY_MASKED == 0
        };
        if unmasked {
            self.flush_pending();
        }
        true
    }

    /// Back to power-on: every vector masked, nothing pending, MSI-X off.
    pub fn reset(&self) {
        if let Ok(mut t) = self.table.lock() {
            t.0.fill(Entry {
                ctrl: ENTRY_MASKED,
                ..Default::default()
            });
            t.1.fill(0);
        }
        self.enabled.store(false, Ordering::SeqCst);
        self.masked_all.store(false, Ordering::SeqCst);
    }
}

fn copy_out(src: &[u8], at: usize, dst: &mut [u8]) {
    let n = dst.len().min(src.len().saturating_sub(at));
    dst[..n].copy_from_slice(&src[at..at + n]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pci::{ConfigSpace, Ids};

    #[derive(Default)]
    struct Rec(Mutex<Vec<(u64, u32)>>);
    impl MsiSink for Rec {
        fn send(&self, addr: u64, data: u32) {
            self.0.lock().unwrap().push((addr, data));
        }
    }

    fn setup() -> (ConfigSpace, Msix, Arc<Rec>) {
        let mut c = ConfigSpace::new(Ids {
            vendor: 1,
            device: 2,
            revision: 0,
            class: 0,
            subsystem_vendor: 0,
            subsystem: 0,
        });
        let rec = Arc::new(Rec::default());
        let m = Msix::new(&mut c, 3, 1, 0x800, rec.clone());
        (c, m, rec)
    }

    #[test]
    fn vectors_fire_when_enabled_and_unmasked_and_masked_ones_wait() {
        let (mut c, m, rec) = setup();
        assert!(!m.notify(0), "MSI-X off: the caller uses INTx");
        // The capability advertises 3 entries in BAR 1, PBA at 0x800.
        let cap = m.cap;
        assert_eq!(c.read(cap, 1), CAP_MSIX as u32);
        assert_eq!(c.read(cap + 2, 2), 2);
        assert_eq!(c.read(cap + 4, 4), 1);
        assert_eq!(c.read(cap + 8, 4), 0x801);
        c.write(cap + 2, 2, 0x8000);
        m.config_written(&c);
        assert!(m.bar_write(16, &0x1234u64.to_le_bytes()));
        assert!(m.bar_write(24, &7u32.to_le_bytes()));
        // Still masked (power-on state): held pending, visible in the PBA.
        assert!(m.notify(1));
        let mut p = [0u8; 8];
        assert!(m.bar_read(0x800, &mut p));
        assert_eq!(u64::from_le_bytes(p), 2);
        assert!(rec.0.lock().unwrap().is_empty());
        // Unmasking delivers it.
        assert!(m.bar_write(28, &0u32.to_le_bytes()));
        assert_eq!(*rec.0.lock().unwrap(), vec![(0x1234, 7)]);
        assert!(m.notify(1));
        assert_eq!(rec.0.lock().unwrap().len(), 2);
        // Out-of-range vectors and offsets are ignored.
        assert!(m.notify(99));
        let mut b = [0u8; 4];
        assert!(!m.bar_read(0x400, &mut b));
        m.reset();
        assert!(!m.enabled());
    }
}
