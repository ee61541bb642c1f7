//! Guest RAM as vm-memory's `GuestMemory`, the view virtio-queue walks descriptor chains in. It is
//! built over the machine's existing mapping (no copy) and keeps that mapping alive.

use std::sync::Arc;
use vm_memory::{GuestAddress, GuestMemoryMmap, GuestRegionMmap, MmapRegion};

pub struct GuestRam {
    mem: GuestMemoryMmap<()>,
    /// Declared after `mem`, so the view is dropped before the mapping it points into.
    _backing: Arc<ppc::GuestMemory>,
}

impl GuestRam {
    pub fn new(backing: Arc<ppc::GuestMemory>) -> Result<GuestRam, String> {
        let size = backing.size();
        let base = backing
            .ptr(0, size)
            .ok_or_else(|| "guest RAM is empty".to_string())?;
        // SAFETY: `base..base+size` is the machine's RAM mapping, which `_backing` keeps alive for
        // as long as this view exists; build_raw does not take ownership (it will not unmap).
        let region = unsafe {
            MmapRegion::build_raw(
                base,
                size as usize,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_ANONYMOUS | libc::MAP_PRIVATE,
            )
        }
        .map_err(|e| format!("guest RAM view: {e}"))?;
        let region = GuestRegionMmap::new(region, GuestAddress(0))
            .ok_or_else(|| "guest RAM view: region overflows".to_string())?;
        let mem = GuestMemoryMmap::from_regions(vec![region])
            .map_err(|e| format!("guest RAM view: {e}"))?;
        Ok(GuestRam {
            mem,
            _backing: backing,
        })
    }

    pub fn mem(&self) -> &GuestMemoryMmap<()> {
        &self.mem
    }

    /// Gives `len` bytes at `addr` back to the host (they read as zeroes afterwards); ignored
    /// outside RAM.
    pub fn discard(&self, addr: u64, len: u64) {
        self._backing.discard(addr, len)
    }

    /// Copies `buf` into guest RAM at `addr` (a device's DMA write), then tells the vCPUs
    /// (`written`).
    pub fn write_slice(
        &self,
        buf: &[u8],
        addr: vm_memory::GuestAddress,
    ) -> Result<(), vm_memory::GuestMemoryError> {
        use vm_memory::Bytes;
        self.mem.write_slice(buf, addr)?;
        self.written(addr.0, buf.len() as u64);
        Ok(())
    }

    /// Says that a device wrote `len` bytes at `addr` (through a pointer from `ptr`, e.g. by
    /// preadv): code the vCPUs decoded from those pages is dropped, as a POWER9's snooping
    /// instruction cache would (`ppc::mem` `CodeMap`). Every DMA write into guest memory must
    /// be followed by this.
    pub fn written(&self, addr: u64, len: u64) {
        self._backing.note_write(addr, len);
    }

    /// Host pointer to `len` bytes of RAM at `addr`, if they are all inside RAM.
    pub fn ptr(&self, addr: u64, len: u64) -> Option<*mut u8> {
        self._backing.ptr(addr, len)
    }
}
