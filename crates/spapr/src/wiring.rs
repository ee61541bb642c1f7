//! Builds the devices the configuration lists and plugs them into their buses: each device is
//! handed its interrupt line, guest RAM and backend here, and never sees the machine.

use crate::bus::AddressSpace;
use crate::machine::layout;
use crate::pci::Phb;
use crate::xics::Xics;
use devices::virtio::pci::VirtioPci;
use std::sync::Arc;

/// One device of the command line.
#[derive(Clone, Debug)]
pub enum DeviceConfig {
    /// `-device spapr-pci-host-bridge,index=N` (bridge 0 is always there).
    Phb { index: u32 },
    /// `-device virtio-blk-pci,drive=ID` (or `-drive if=virtio`).
    VirtioBlk {
        drive: block::Options,
        /// Bridge index (`bus=pci.N`) and slot (`addr=`).
        bus: u32,
        slot: Option<u32>,
        queues: u16,
        serial: String,
    },
}

/// Creates the PCI host bridges and every device on them, maps their windows.
pub fn build(
    cfg: &crate::MachineConfig,
    mem: &Arc<ppc::GuestMemory>,
    xics: &Arc<Xics>,
    bus: &AddressSpace,
) -> Result<Vec<Arc<Phb>>, String> {
    let mut indexes = vec![0u32];
    for d in &cfg.devices {
        if let DeviceConfig::Phb { index } = d {
            if *index > crate::pci::MAX_INDEX {
                return Err(format!(
                    "-device spapr-pci-host-bridge,index={index}: index out of range (0-{})",
                    crate::pci::MAX_INDEX
                ));
            }
            if indexes.contains(index) {
                return Err(format!(
                    "-device spapr-pci-host-bridge,index={index}: a bridge with that index exists"
                ));
            }
            indexes.push(*index);
        }
    }
    let pool = Arc::new(crate::pci::MsiPool::new());
    let mut phbs: Vec<Phb> = indexes
        .iter()
        .map(|&i| Phb::new(i, xics.clone(), layout::PCI_LSI_BASE + 4 * i, pool.clone()))
        .collect();
    let ram = Arc::new(devices::ram::GuestRam::new(mem.clone())?);
    for d in &cfg.devices {
        if let DeviceConfig::VirtioBlk {
            drive,
            bus,
            slot,
            queues,
            serial,
        } = d
        {
            let phb = phbs
                .iter_mut()
                .find(|p| p.index == *bus)
                .ok_or_else(|| format!("-device virtio-blk-pci,bus=pci.{bus}: no such PCI bus"))?;
            let disk = block::open(drive)?;
            let blk = devices::virtio::blk::Blk::new(disk, *queues, serial);
            let ram = ram.clone();
            phb.plug(*slot, move |irq, msi| {
                Ok(Arc::new(VirtioPci::new(
                    "virtio-blk-pci",
                    Box::new(blk),
                    ram,
                    irq,
                    msi,
                )))
            })?;
        }
    }
    let phbs: Vec<Arc<Phb>> = phbs.into_iter().map(Arc::new).collect();
    for p in &phbs {
        p.assign_bars()?;
        for (base, size) in crate::pci::windows(p) {
            bus.map(base, size, p.clone())?;
        }
    }
    Ok(phbs)
}
