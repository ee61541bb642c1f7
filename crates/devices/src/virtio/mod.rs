//! Virtio devices (virtio 1.x). A device implements [`VirtioDevice`]: its type, features, config
//! space and what it does with its queues once the driver is ready; a transport (today
//! [`pci::VirtioPci`]) does feature negotiation, queue setup and interrupts. Queues are
//! virtio-queue's split rings; devices serve them on their own I/O thread so a vCPU never waits
//! for the host.

pub mod balloon;
pub mod blk;
pub mod console;
pub mod net;
pub mod pci;
pub mod rng;
pub mod scsi;
pub mod worker;

use crate::msix::Msix;
use crate::ram::GuestRam;
use crate::Interrupt;
use std::sync::atomic::{AtomicU16, AtomicU8, Ordering};
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
    pub const NET: u16 = 1;
    pub const BLOCK: u16 = 2;
    pub const CONSOLE: u16 = 3;
    pub const RNG: u16 = 4;
    pub const BALLOON: u16 = 5;
    pub const SCSI: u16 = 8;
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
    /// The machine stops: stop serving and make written data durable.
    fn shutdown(&mut self) {
        self.reset()
    }
}

/// How a device's notifications reach the driver: MSI-X vectors when the driver enabled them,
/// otherwise the interrupt status (ISR) and the INTx line behind it.
pub struct VirtioInterrupt {
    isr: AtomicU8,
    line: Arc<dyn Interrupt>,
    msix: Option<Arc<Msix>>,
    config_vector: AtomicU16,
    queue_vectors: Vec<AtomicU16>,
}

/// ISR bits.
pub const ISR_QUEUE: u8 = 1;
pub const ISR_CONFIG: u8 = 2;
/// "No MSI-X vector".
pub const NO_VECTOR: u16 = 0xffff;

impl VirtioInterrupt {
    pub fn new(line: Arc<dyn Interrupt>, msix: Option<Arc<Msix>>, queues: usize) -> Self {
        VirtioInterrupt {
            isr: AtomicU8::new(0),
            line,
            msix,
            config_vector: AtomicU16::new(NO_VECTOR),
            queue_vectors: (0..queues).map(|_| AtomicU16::new(NO_VECTOR)).collect(),
        }
    }

    /// Queue `q` has new used buffers.
    pub fn signal_used(&self, q: u16) {
        let v = self
            .queue_vectors
            .get(q as usize)
            .map_or(NO_VECTOR, |v| v.load(Ordering::SeqCst));
        self.signal(v, ISR_QUEUE);
    }

    /// The device configuration changed.
    pub fn signal_config(&self) {
        self.signal(self.config_vector.load(Ordering::SeqCst), ISR_CONFIG);
    }

    fn signal(&self, vector: u16, isr: u8) {
        if let Some(m) = self.msix.as_ref().filter(|m| m.enabled()) {
            // With MSI-X on, a source without a vector does not interrupt (virtio 1.x 4.1.5.1.2).
            if vector != NO_VECTOR {
                m.notify(vector);
            }
            return;
        }
        self.isr.fetch_or(isr, Ordering::SeqCst);
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

    /// Vector of the configuration-change notification (None: queue index out of range).
    pub fn vector(&self, queue: Option<u16>) -> u16 {
        match queue {
            None => self.config_vector.load(Ordering::SeqCst),
            Some(q) => self
                .queue_vectors
                .get(q as usize)
                .map_or(NO_VECTOR, |v| v.load(Ordering::SeqCst)),
        }
    }

    /// Sets a vector; one the table does not have reads back as NO_VECTOR (the driver checks).
    pub fn set_vector(&self, queue: Option<u16>, v: u16) {
        let n = self.msix.as_ref().map_or(0, |m| m.vectors());
        let v = if v < n { v } else { NO_VECTOR };
        match queue {
            None => self.config_vector.store(v, Ordering::SeqCst),
            Some(q) => {
                if let Some(slot) = self.queue_vectors.get(q as usize) {
                    slot.store(v, Ordering::SeqCst)
                }
            }
        }
    }

    /// Device reset: no status, no vectors. The MSI-X table belongs to the PCI function and
    /// stays (firmware programmed it; a driver re-probing expects it).
    pub fn clear(&self) {
        self.isr.store(0, Ordering::SeqCst);
        self.line.set_level(false);
        self.config_vector.store(NO_VECTOR, Ordering::SeqCst);
        for v in &self.queue_vectors {
            v.store(NO_VECTOR, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests;
