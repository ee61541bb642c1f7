//! `devices`: device models that any lpar machine can plug in. A device is handed what it needs
//! when it is built (guest RAM for DMA, an [`Interrupt`] line, a block backend) and never reaches
//! into the machine; the machine's buses (PCI host bridge, later VIO) route accesses to it.

pub mod msix;
pub mod pci;
pub mod poll;
pub mod ram;
pub mod scsi;
pub mod virtio;

/// An interrupt line as a device sees it; the machine decides which controller is behind it.
pub trait Interrupt: Send + Sync {
    /// Sends one message (edge).
    fn pulse(&self);
    /// Drives a level-sensitive line.
    fn set_level(&self, level: bool);
}
