//! The guest's physical address space beyond RAM: MMIO ranges (PCI host bridge windows now,
//! XIVE pages later) each served by an [`MmioDevice`]. vCPUs reach it through `ppc::Mmio` when a
//! load or store misses RAM; an address no range claims is left unclaimed (a storage interrupt).

use std::sync::{Arc, RwLock};

/// A device answering loads and stores in its ranges. Addresses are absolute real addresses;
/// data is in memory order.
pub trait MmioDevice: Send + Sync {
    fn read(&self, addr: u64, data: &mut [u8]);
    fn write(&self, addr: u64, data: &[u8]);
}

struct Range {
    base: u64,
    size: u64,
    dev: Arc<dyn MmioDevice>,
}

/// The MMIO ranges, sorted by base, never overlapping.
#[derive(Default)]
pub struct AddressSpace {
    ranges: RwLock<Vec<Range>>,
}

impl AddressSpace {
    /// Maps `dev` at `[base, base + size)`; refuses an empty, wrapping or overlapping range.
    pub fn map(&self, base: u64, size: u64, dev: Arc<dyn MmioDevice>) -> Result<(), String> {
        let end = base
            .checked_add(size)
            .filter(|_| size > 0)
            .ok_or_else(|| format!("MMIO range {base:#x}+{size:#x} is empty or wraps"))?;
        let mut r = self
            .ranges
            .write()
            .map_err(|_| "address space lock poisoned".to_string())?;
        if let Some(o) = r.iter().find(|o| base < o.base + o.size && o.base < end) {
            return Err(format!(
                "MMIO range {base:#x}+{size:#x} overlaps {:#x}+{:#x}",
                o.base, o.size
            ));
        }
        let at = r.partition_point(|o| o.base < base);
        r.insert(at, Range { base, size, dev });
        Ok(())
    }

    fn find(&self, addr: u64, len: usize) -> Option<Arc<dyn MmioDevice>> {
        let r = self.ranges.read().ok()?;
        let i = r.partition_point(|o| o.base <= addr).checked_sub(1)?;
        let o = &r[i];
        let end = addr.checked_add(len as u64)?;
        (end <= o.base + o.size).then(|| o.dev.clone())
    }
}

impl ppc::Mmio for AddressSpace {
    fn read(&self, ra: u64, data: &mut [u8]) -> bool {
        match self.find(ra, data.len()) {
            Some(d) => {
                d.read(ra, data);
                true
            }
            None => false,
        }
    }

    fn write(&self, ra: u64, data: &[u8]) -> bool {
        match self.find(ra, data.len()) {
            Some(d) => {
                d.write(ra, data);
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ppc::Mmio;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Log(Mutex<Vec<(u64, usize)>>);
    impl MmioDevice for Log {
        fn read(&self, addr: u64, data: &mut [u8]) {
            data.fill(0xab);
            self.0.lock().unwrap().push((addr, data.len()));
        }
        fn write(&self, addr: u64, data: &[u8]) {
            self.0.lock().unwrap().push((addr, data.len()));
        }
    }

    #[test]
    fn accesses_reach_the_range_that_holds_them_whole() {
        let a = AddressSpace::default();
        let (d1, d2) = (Arc::new(Log::default()), Arc::new(Log::default()));
        a.map(0x2000, 0x1000, d2.clone()).unwrap();
        a.map(0x1000, 0x1000, d1.clone()).unwrap();
        let mut b = [0u8; 4];
        assert!(a.read(0x1ffc, &mut b));
        assert_eq!(b, [0xab; 4]);
        assert!(a.write(0x2000, &[1, 2]));
        // Straddling two ranges or outside all: unclaimed.
        assert!(!a.read(0x1ffe, &mut b));
        assert!(!a.write(0x3000, &[0]));
        assert!(!a.read(u64::MAX - 1, &mut b));
        assert_eq!(*d1.0.lock().unwrap(), vec![(0x1ffc, 4)]);
        assert_eq!(*d2.0.lock().unwrap(), vec![(0x2000, 2)]);
        assert!(a.map(0x1800, 0x1000, d1.clone()).is_err());
        assert!(a.map(u64::MAX, 2, d1).is_err());
    }
}
