//! `spapr`: the pseries machine a PAPR guest sees: memory map, device tree, hypercalls, RTAS, the
//! built-in Open Firmware client interface (VOF style), XICS, and the VIO devices. One module per
//! PAPR concept, like QEMU's hw/ppc/spapr_*.c.

pub mod boot;
pub mod bus;
pub mod devtree;
pub mod fdt;
pub mod hcall;
pub mod hpt;
pub mod irq;
pub mod loader;
pub mod machine;
pub mod mmu;
pub mod papr;
pub mod pci;
pub mod rtas;
pub mod tce;
pub mod vcpu;
pub mod vio;
pub mod vof;
pub mod wiring;
pub mod xics;

pub use machine::{Machine, MachineConfig, RunState};

#[cfg(test)]
pub(crate) mod testutil;
