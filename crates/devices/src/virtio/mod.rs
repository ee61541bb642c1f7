//! Virtio devices (virtio 1.x). A device implements [`VirtioDevice`]: its type, features, config
//! space and what it does with its queues once the driver is ready; a transport (today
//! [`pci::VirtioPci`]) does feature negotiation, queue setup and interrupts. Queues are
//! virtio-queue's split rings; devices serve them on their own I/O thread so a vCPU never waits
//! for the host.

pub mod blk;
pub mod pci;

use crate::ram::GuestRam;
use crate::Interrupt;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
pub use virtio_queue::{Queue, QueueT};

/// Feature bits every device offers through the transport.
pub mod feature {
    pub const RING_INDIRECT_DESC: u64 = 1 << 28;
    pub const RING_EVENT_IDX: u64 = 1 << 29;
    pub const VERSION_1: u64 = 1 << 32;
}

/// Device status bits.
pub mod status {
    pub const ACKNOWLEDGE: u8 = 1;
    pub const DRIVER: u8 = 2;
    pub const DRIVER_OK: u8 = 4;
    pub const FEATURES_OK: u8 = 8;
    pub const NEEDS_RESET: u8 = 0x40;
    pub const FAILED: u8 = 0x80;
}

/// Device type ids.
pub mod kind {
    pub const BLOCK: u16 = 2;
}

/// A virtio device behind some transport.
pub trait VirtioDevice: Send {
    fn device_type(&self) -> u16;
    /// PCI class code the transport advertises.
    fn pci_class(&self) -> u32;
    /// Maximum size of each queue; the number of queues is this slice's length.
    fn queue_max_sizes(&self) -> &[u16];
    /// Device-specific feature bits (the transport adds the ring and version bits).
    fn features(&self) -> u64;
    fn read_config(&self, offset: u64, data: &mut [u8]);
    fn write_config(&mut self, _offset: u64, _data: &[u8]) {}
    /// The driver set DRIVER_OK: serve `queues` (index, ready queue) with the negotiated features.
    fn activate(
        &mut self,
        features: u64,
        queues: Vec<(u16, Queue)>,
        mem: Arc<GuestRam>,
        irq: Arc<VirtioInterrupt>,
    ) -> Result<(), String>;
    /// The driver made buffers available on queue `q` (a doorbell write; must not block).
    fn notify(&self, q: u16);
    /// Stops serving (device reset or machine reset); the queues are dropped.
    fn reset(&mut self);
}

/// The interrupt status a transport exposes (ISR) and the line behind it.
pub struct VirtioInterrupt {
    isr: AtomicU8,
    line: Arc<dyn Interrupt>,
}

/// ISR bits.
pub const ISR_QUEUE: u8 = 1;
pub const ISR_CONFIG: u8 = 2;

impl VirtioInterrupt {
    pub fn new(line: Arc<dyn Interrupt>) -> VirtioInterrupt {
        VirtioInterrupt {
            isr: AtomicU8::new(0),
            line,
        }
    }

    /// A queue has new used buffers.
    pub fn signal_used(&self) {
        self.isr.fetch_or(ISR_QUEUE, Ordering::SeqCst);
        self.line.set_level(true);
    }

    /// The device configuration changed.
    pub fn signal_config(&self) {
        self.isr.fetch_or(ISR_CONFIG, Ordering::SeqCst);
        self.line.set_level(true);
    }

    /// Reading ISR returns and clears it and drops the line; a signal racing with the read keeps
    /// the line up.
    pub fn read_isr(&self) -> u8 {
        let v = self.isr.swap(0, Ordering::SeqCst);
        if v != 0 {
            self.line.set_level(false);
            if self.isr.load(Ordering::SeqCst) != 0 {
                self.line.set_level(true);
            }
        }
        v
    }

    pub fn clear(&self) {
        self.isr.store(0, Ordering::SeqCst);
        self.line.set_level(false);
    }
}
