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
    /// `-device virtio-rng-pci[,rng=ID]`: entropy from a file (`rng-random`) or getrandom.
    VirtioRng {
        file: Option<std::path::PathBuf>,
        bus: u32,
        slot: Option<u32>,
    },
    /// `-device virtio-balloon-pci`.
    VirtioBalloon { bus: u32, slot: Option<u32> },
}

impl DeviceConfig {
    /// The PCI bus and slot of a PCI device.
    fn placement(&self) -> Option<(u32, Option<u32>, &'static str)> {
        match self {
            DeviceConfig::Phb { .. } => None,
            DeviceConfig::VirtioBlk { bus, slot, .. } => Some((*bus, *slot, "virtio-blk-pci")),
            DeviceConfig::VirtioRng { bus, slot, .. } => Some((*bus, *slot, "virtio-rng-pci")),
            DeviceConfig::VirtioBalloon { bus, slot } => Some((*bus, *slot, "virtio-balloon-pci")),
        }
    }

    /// The virtio device itself.
    fn virtio(&self) -> Result<Option<Box<dyn devices::virtio::VirtioDevice>>, String> {
        use devices::virtio::{balloon, blk, rng};
        Ok(Some(match self {
            DeviceConfig::Phb { .. } => return Ok(None),
            DeviceConfig::VirtioBlk {
                drive,
                queues,
                serial,
                ..
            } => Box::new(blk::Blk::new(block::open(drive)?, *queues, serial)),
            DeviceConfig::VirtioRng { file, .. } => Box::new(rng::Rng::new(match file {
                Some(f) => rng::Source::File(f.clone()),
                None => rng::Source::Builtin,
            })?),
            DeviceConfig::VirtioBalloon { .. } => Box::new(balloon::Balloon::default()),
        }))
    }
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
        let (Some((bus, slot, name)), Some(dev)) = (d.placement(), d.virtio()?) else {
            continue;
        };
        let phb = phbs
            .iter_mut()
            .find(|p| p.index == bus)
            .ok_or_else(|| format!("-device {name},bus=pci.{bus}: no such PCI bus"))?;
        let ram = ram.clone();
        phb.plug(slot, move |irq, msi| {
            Ok(Arc::new(VirtioPci::new(name, dev, ram, irq, msi)))
        })
        .map_err(|e| format!("-device {name}: {e}"))?;
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
