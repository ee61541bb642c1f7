//! Builds the devices the configuration lists and plugs them into their buses: each device is
//! handed its interrupt line, guest RAM and backend here, and never sees the machine.

use crate::bus::AddressSpace;
use crate::irq::{Intc, IrqLine};
use crate::machine::layout;
use crate::pci::Phb;
use crate::vio::{self, nvram::Nvram, vty::Vty};
use crate::xics::Xics;
use devices::virtio::pci::VirtioPci;
use std::sync::Arc;

/// Addressing limits of a virtio-scsi bus, for the command line's checks: SCSI ids 0-255,
/// LUNs 0-16383, request queues 1-62.
pub const SCSI_MAX_TARGET: u16 = devices::virtio::scsi::MAX_TARGET;
pub const SCSI_MAX_LUN: u16 = devices::virtio::scsi::MAX_LUN;
pub const SCSI_MAX_QUEUES: u16 = devices::virtio::scsi::MAX_QUEUES;
/// Of a spapr-vscsi bus: what Linux's ibmvscsi addresses (logical unit addressing: a 6-bit
/// target, a 5-bit LUN), QEMU's limits too.
pub const VSCSI_MAX_TARGET: u16 = 63;
pub const VSCSI_MAX_LUN: u16 = 31;

/// One device of the command line.
#[derive(Clone, Debug)]
pub enum DeviceConfig {
    /// `-device spapr-vty,chardev=ID[,reg=]`: a further hypervisor console (hvc1...).
    SpaprVty {
        chardev: chardev::Config,
        reg: Option<u32>,
    },
    /// `-device spapr-rng[,rng=ID]`: H_RANDOM from a file (`rng-random`) or getrandom.
    SpaprRng { file: Option<std::path::PathBuf> },
    /// `-device virtio-net-pci,netdev=ID[,mac=]...` (or `-nic model=virtio-net-pci`).
    VirtioNet {
        netdev: net::NetdevConfig,
        mac: [u8; 6],
        opts: devices::virtio::net::NetOptions,
        bus: u32,
        slot: Option<u32>,
    },
    /// `-device spapr-vlan,netdev=ID[,mac=][,reg=]` (or `-nic model=spapr-vlan`).
    SpaprVlan {
        netdev: net::NetdevConfig,
        mac: [u8; 6],
        reg: Option<u32>,
    },
    /// `-device spapr-vscsi[,reg=]` with the `scsi-hd`/`scsi-cd` units on its bus.
    SpaprVscsi {
        reg: Option<u32>,
        disks: Vec<ScsiDiskConfig>,
    },
    /// `-device tpm-spapr,tpmdev=ID[,reg=]` on `-tpmdev emulator,id=ID,chardev=CHR`: a vTPM
    /// passing commands to the swtpm whose control socket is `socket`.
    TpmSpapr {
        tpmdev: String,
        socket: std::path::PathBuf,
        reg: Option<u32>,
    },
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
    /// `-device virtio-serial-pci` with its `virtconsole` port (None: no port connected).
    VirtioConsole {
        chardev: Option<chardev::Config>,
        bus: u32,
        slot: Option<u32>,
    },
    /// `-device virtio-scsi-pci` with the `scsi-hd`/`scsi-cd` units on its bus (and the
    /// `-cdrom` drive).
    VirtioScsi {
        bus: u32,
        slot: Option<u32>,
        /// Request queues (`num_queues=`).
        queues: u16,
        disks: Vec<ScsiDiskConfig>,
    },
}

/// One `-device scsi-hd` or `scsi-cd` on a SCSI controller.
#[derive(Clone, Debug)]
pub struct ScsiDiskConfig {
    pub drive: block::Options,
    /// A CD-ROM (read-only medium, 2048-byte blocks) rather than a hard disk.
    pub cdrom: bool,
    /// SCSI id (`scsi-id=`) and LUN (`lun=`); the channel is always 0.
    pub target: u16,
    pub lun: u16,
    /// VPD unit serial number (`serial=`; may be empty).
    pub serial: String,
    /// VPD device identification (page 0x83): the serial, else the drive's id, as QEMU.
    pub device_id: String,
}

impl DeviceConfig {
    /// The PCI bus and slot of a PCI device.
    fn placement(&self) -> Option<(u32, Option<u32>, &'static str)> {
        match self {
            DeviceConfig::Phb { .. }
            | DeviceConfig::SpaprVty { .. }
            | DeviceConfig::SpaprRng { .. }
            | DeviceConfig::SpaprVscsi { .. }
            | DeviceConfig::TpmSpapr { .. }
            | DeviceConfig::SpaprVlan { .. } => None,
            DeviceConfig::VirtioBlk { bus, slot, .. } => Some((*bus, *slot, "virtio-blk-pci")),
            DeviceConfig::VirtioRng { bus, slot, .. } => Some((*bus, *slot, "virtio-rng-pci")),
            DeviceConfig::VirtioBalloon { bus, slot } => Some((*bus, *slot, "virtio-balloon-pci")),
            DeviceConfig::VirtioNet { bus, slot, .. } => Some((*bus, *slot, "virtio-net-pci")),
            DeviceConfig::VirtioScsi { bus, slot, .. } => Some((*bus, *slot, "virtio-scsi-pci")),
            DeviceConfig::VirtioConsole { bus, slot, .. } => {
                Some((*bus, *slot, "virtio-serial-pci"))
            }
        }
    }

    /// The virtio device itself.
    fn virtio(&self) -> Result<Option<Box<dyn devices::virtio::VirtioDevice>>, String> {
        use devices::virtio::{balloon, blk, rng};
        Ok(Some(match self {
            DeviceConfig::Phb { .. }
            | DeviceConfig::SpaprVty { .. }
            | DeviceConfig::SpaprRng { .. }
            | DeviceConfig::SpaprVscsi { .. }
            | DeviceConfig::TpmSpapr { .. }
            | DeviceConfig::SpaprVlan { .. } => return Ok(None),
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
            DeviceConfig::VirtioNet {
                netdev, mac, opts, ..
            } => Box::new(devices::virtio::net::Net::new(
                net::open(netdev)?,
                *mac,
                opts.clone(),
            )),
            DeviceConfig::VirtioConsole { chardev, .. } => {
                let c = chardev.clone().unwrap_or(chardev::Config {
                    id: String::new(),
                    backend: chardev::Backend::Null,
                });
                Box::new(devices::virtio::console::Console::new(
                    chardev::Chardev::open(&c)?,
                ))
            }
            DeviceConfig::VirtioScsi { queues, disks, .. } => {
                let bus = scsi_bus(disks)?;
                Box::new(devices::virtio::scsi::Scsi::new(bus, *queues))
            }
        }))
    }
}

/// A SCSI controller's bus with its units open.
fn scsi_bus(disks: &[ScsiDiskConfig]) -> Result<devices::scsi::Bus, String> {
    let mut bus = devices::scsi::Bus::new();
    for d in disks {
        let kind = if d.cdrom {
            devices::scsi::Kind::Cdrom
        } else {
            devices::scsi::Kind::Disk
        };
        let disk =
            devices::scsi::ScsiDisk::new(block::open(&d.drive)?, kind, &d.serial, &d.device_id);
        let name = if d.cdrom { "scsi-cd" } else { "scsi-hd" };
        bus.attach(d.target, d.lun, disk)
            .map_err(|e| format!("-device {name}: {e}"))?;
    }
    Ok(bus)
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

/// TPM backends by `-tpmdev` id and socket. A backend outlives the machine, as QEMU's do: a
/// guest reboot builds the machine again, and swtpm must stay connected through it (its
/// CMD_SHUTDOWN ends the swtpm process).
static TPMS: std::sync::Mutex<Vec<(String, std::path::PathBuf, Arc<tpm::Emulator>)>> =
    std::sync::Mutex::new(Vec::new());

/// The backend of `-tpmdev emulator,id=ID`: connected the first time; power cycled (CMD_INIT,
/// as a machine reset does to a real TPM) when a rebuilt machine takes it again.
fn tpm_backend(id: &str, socket: &std::path::Path) -> Result<Arc<tpm::Emulator>, String> {
    let mut tpms = TPMS.lock().map_err(|_| "TPM backends lock".to_string())?;
    if let Some((_, _, t)) = tpms.iter().find(|(i, s, _)| i == id && s == socket) {
        t.reset()?;
        return Ok(t.clone());
    }
    let t = Arc::new(tpm::Emulator::connect(id, socket)?);
    tpms.push((id.to_string(), socket.to_path_buf(), t.clone()));
    Ok(t)
}

/// At exit: shuts the backends that outlive a machine down (swtpm gets CMD_SHUTDOWN, as from
/// QEMU at exit).
pub fn release_backends() {
    let tpms = match TPMS.lock() {
        Ok(mut g) => std::mem::take(&mut *g),
        Err(_) => return,
    };
    for (_, _, t) in tpms {
        t.shutdown();
    }
}

/// Hands out VIO unit addresses (QEMU's order: the next free one from `vio::REG_BASE`, skipping
/// those the command line chose) and interrupt sources.
struct VioAlloc {
    taken: Vec<u32>,
    next_reg: u32,
    next_irq: u32,
}

impl VioAlloc {
    fn reg(&mut self, want: Option<u32>, name: &str) -> Result<u32, String> {
        let reg = match want {
            Some(r) => r,
            None => {
                while self.taken.contains(&self.next_reg) {
                    self.next_reg += 1;
                }
                self.next_reg
            }
        };
        if want.is_some() && self.taken.iter().filter(|&&r| r == reg).count() > 1 {
            return Err(format!(
                "-device {name},reg={reg:#x}: a VIO device has that address"
            ));
        }
        if want.is_none() {
            self.taken.push(reg);
        }
        Ok(reg)
    }

    fn irq(&mut self, name: &str) -> Result<u32, String> {
        if self.next_irq >= vio::IRQ_BASE + vio::MAX_DEVICES {
            return Err(format!(
                "-device {name}: too many VIO devices (at most {})",
                vio::MAX_DEVICES
            ));
        }
        self.next_irq += 1;
        Ok(self.next_irq - 1)
    }
}

/// Creates the VIO bus: the console vty (output to `console`), the NVRAM, then the command
/// line's VIO devices in order.
pub fn build_vio(
    cfg: &crate::MachineConfig,
    mem: &Arc<ppc::GuestMemory>,
    xics: &Arc<crate::xics::Xics>,
    console: Box<dyn std::io::Write + Send>,
) -> Result<(vio::Bus, Arc<Vty>, Arc<Nvram>), String> {
    let intc: Arc<dyn Intc> = xics.clone();
    let mut alloc = VioAlloc {
        taken: vec![layout::VTY_REG, layout::NVRAM_REG],
        next_reg: vio::REG_BASE,
        next_irq: layout::NVRAM_IRQ + 1,
    };
    for d in &cfg.devices {
        if let DeviceConfig::SpaprVty { reg: Some(r), .. }
        | DeviceConfig::SpaprVlan { reg: Some(r), .. }
        | DeviceConfig::SpaprVscsi { reg: Some(r), .. }
        | DeviceConfig::TpmSpapr { reg: Some(r), .. } = d
        {
            alloc.taken.push(*r);
        }
    }
    let mut bus = vio::Bus::default();
    let vty = Arc::new(Vty::new(
        layout::VTY_REG,
        IrqLine::new(intc.clone(), layout::VTY_IRQ, false),
        console,
    ));
    bus.add(vty.clone())?;
    let nvram = Arc::new(Nvram::new(cfg.nvram.as_ref())?);
    bus.add(nvram.clone())?;
    for d in &cfg.devices {
        match d {
            DeviceConfig::SpaprVty { chardev, reg } => {
                let reg = alloc.reg(*reg, "spapr-vty")?;
                let irq = IrqLine::new(intc.clone(), alloc.irq("spapr-vty")?, false);
                let dev = chardev::Chardev::open(chardev)?;
                bus.add(Arc::new(Vty::on_chardev(reg, irq, dev)))
                    .map_err(|e| format!("-device spapr-vty: {e}"))?;
            }
            DeviceConfig::SpaprRng { file } => {
                if bus.all::<vio::rng::Rng>().next().is_some() {
                    return Err("-device spapr-rng: only one spapr-rng is allowed".into());
                }
                bus.add(Arc::new(vio::rng::Rng::new(file.as_deref())?))?;
            }
            DeviceConfig::SpaprVlan { netdev, mac, reg } => {
                let reg = alloc.reg(*reg, "spapr-vlan")?;
                let irq = IrqLine::new(intc.clone(), alloc.irq("spapr-vlan")?, false);
                let backend = net::open(netdev)?
                    .into_iter()
                    .next()
                    .ok_or_else(|| format!("-netdev id={}: no queue", netdev.id))?;
                let v = vio::vlan::Vlan::new(reg, irq, mem.clone(), *mac, backend)?;
                bus.add(v).map_err(|e| format!("-device spapr-vlan: {e}"))?;
            }
            DeviceConfig::SpaprVscsi { reg, disks } => {
                let reg = alloc.reg(*reg, "spapr-vscsi")?;
                let irq = IrqLine::new(intc.clone(), alloc.irq("spapr-vscsi")?, false);
                let v = vio::vscsi::Vscsi::new(reg, irq, mem.clone(), scsi_bus(disks)?);
                bus.add(Arc::new(v))
                    .map_err(|e| format!("-device spapr-vscsi: {e}"))?;
            }
            DeviceConfig::TpmSpapr {
                tpmdev,
                socket,
                reg,
            } => {
                let reg = alloc.reg(*reg, "tpm-spapr")?;
                let irq = IrqLine::new(intc.clone(), alloc.irq("tpm-spapr")?, false);
                let tpm = tpm_backend(tpmdev, socket)?;
                let v = vio::vtpm::Vtpm::new(reg, irq, mem.clone(), tpm);
                bus.add(Arc::new(v))
                    .map_err(|e| format!("-device tpm-spapr: {e}"))?;
            }
            _ => {}
        }
    }
    Ok((bus, vty, nvram))
}
