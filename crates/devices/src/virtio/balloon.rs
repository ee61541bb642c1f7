//! virtio-balloon: the host asks the guest to give memory back (the target, `set_target`, as the
//! monitor's `balloon` command will), the guest inflates by listing 4 KiB page frames it no longer
//! uses, and the host drops them (MADV_DONTNEED: the memory returns to the host, and reads back
//! as zeroes if the guest touches it again). Deflating needs no work: touching a page brings it
//! back.

use super::worker::{Descriptor, Handler, Worker};
use super::{kind, Queue, VirtioDevice, VirtioInterrupt};
use crate::ram::GuestRam;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use vm_memory::Bytes;

/// Page frames in balloon messages are 4 KiB (VIRTIO_BALLOON_PFN_SHIFT).
const PFN_SHIFT: u32 = 12;
const INFLATE: u16 = 0;

pub struct Balloon {
    sizes: [u16; 2],
    /// Pages the host wants the guest to hold (config num_pages) and holds (config actual).
    target: Arc<AtomicU32>,
    actual: Arc<AtomicU32>,
    irq: Option<Arc<VirtioInterrupt>>,
    worker: Option<Worker>,
}

impl Default for Balloon {
    fn default() -> Self {
        Balloon {
            sizes: [128, 128],
            target: Arc::default(),
            actual: Arc::default(),
            irq: None,
            worker: None,
        }
    }
}

impl Balloon {
    /// Asks the guest to hold `pages` 4 KiB pages (0: give everything back).
    pub fn set_target(&mut self, pages: u32) {
        self.target.store(pages, Ordering::SeqCst);
        if let Some(i) = &self.irq {
            i.signal_config();
        }
    }

    /// Pages the guest says it holds.
    pub fn actual(&self) -> u32 {
        self.actual.load(Ordering::SeqCst)
    }
}

impl VirtioDevice for Balloon {
    fn device_type(&self) -> u16 {
        kind::BALLOON
    }

    fn pci_class(&self) -> u32 {
        0xff_00_00
    }

    fn queue_max_sizes(&self) -> &[u16] {
        &self.sizes
    }

    fn features(&self) -> u64 {
        0
    }

    fn read_config(&self, offset: u64, data: &mut [u8]) {
        let mut c = [0u8; 8];
        c[..4].copy_from_slice(&self.target.load(Ordering::SeqCst).to_le_bytes());
        c[4..].copy_from_slice(&self.actual.load(Ordering::SeqCst).to_le_bytes());
        for (i, b) in data.iter_mut().enumerate() {
            *b = offset
                .checked_add(i as u64)
                .and_then(|o| c.get(o as usize).copied())
                .unwrap_or(0);
        }
    }

    fn write_config(&mut self, offset: u64, data: &[u8]) {
        // Only `actual` (offset 4) is the driver's to write.
        let mut a = self.actual.load(Ordering::SeqCst).to_le_bytes();
        for (i, &b) in data.iter().enumerate() {
            if let Some(k) = offset
                .checked_add(i as u64)
                .and_then(|o| o.checked_sub(4))
                .filter(|&k| k < 4)
            {
                a[k as usize] = b;
            }
        }
        self.actual.store(u32::from_le_bytes(a), Ordering::SeqCst);
    }

    fn activate(
        &mut self,
        _features: u64,
        queues: Vec<(u16, Queue)>,
        mem: Arc<GuestRam>,
        irq: Arc<VirtioInterrupt>,
    ) -> Result<(), String> {
        self.reset();
        self.irq = Some(irq.clone());
        self.worker = Some(Worker::spawn("virtio-balloon", Io, queues, mem, irq)?);
        Ok(())
    }

    fn notify(&self, q: u16) {
        if let Some(w) = &self.worker {
            w.notify(q);
        }
    }

    fn reset(&mut self) {
        if let Some(mut w) = self.worker.take() {
            w.stop();
        }
        self.irq = None;
        self.actual.store(0, Ordering::SeqCst);
    }
}

struct Io;

impl Handler for Io {
    fn handle(&mut self, queue: u16, descs: &[Descriptor], mem: &GuestRam) -> u32 {
        if queue != INFLATE {
            return 0;
        }
        for d in descs.iter().filter(|d| !d.is_write_only()) {
            for i in 0..d.len() as u64 / 4 {
                let Some(at) = d.addr().0.checked_add(4 * i) else {
                    break;
                };
                let Ok(pfn) = mem.mem().read_obj::<u32>(vm_memory::GuestAddress(at)) else {
                    break;
                };
                // Frames outside RAM are ignored, as a bad frame number cannot hurt the host.
                mem.discard((u32::from_le(pfn) as u64) << PFN_SHIFT, 1 << PFN_SHIFT);
            }
        }
        0
    }
}
