//! The VIO bus: PAPR's virtual devices (LoPAR "Virtual I/O"), each addressed by its unit address
//! (`reg`) under `/vdevice`, with an interrupt source and, for devices that do DMA, a TCE window
//! of their own (`ibm,my-dma-window`, LIOBN = reg, as QEMU). Devices are built from the command
//! line's list (`wiring::build_vio`) and registered here; each builds its own device-tree node,
//! and the bus-level H_VIO_SIGNAL reaches them by unit address. Platform facilities without a
//! unit address (spapr-rng under `/ibm,platform-facilities`) live on the bus too.

pub mod crq;
pub mod dma;
pub mod nvram;
pub mod rng;
pub mod vlan;
pub mod vscsi;
pub mod vtpm;
pub mod vty;
pub mod worker;

use crate::devtree::{cells, DeviceTree, NodeId};
use crate::hcall::{HcallFn, H_PARAMETER, H_SUCCESS};
use crate::machine::{layout, Machine};
use crate::tce::TceTable;
use ppc::Cpu;
use std::any::Any;
use std::sync::Arc;

pub use crate::papr::H_VIO_SIGNAL;

/// Unit addresses handed out in order from here (QEMU's numbering: the console, the NVRAM,
/// then the command line's devices).
pub const REG_BASE: u32 = layout::VTY_REG;
/// VIO interrupt sources: reg `REG_BASE + i` gets `IRQ_BASE + i`; the range ends where the
/// event sources start.
pub const IRQ_BASE: u32 = layout::VTY_IRQ;
pub const MAX_DEVICES: u32 = layout::EPOW_IRQ - IRQ_BASE;
/// Default TCE window of a DMA-capable VIO device (QEMU's 256 MiB).
pub const DMA_WINDOW: u64 = 0x1000_0000;

/// One device on the bus.
pub trait VioDevice: Send + Sync {
    /// Unit address; None for a platform facility outside `/vdevice`.
    fn reg(&self) -> Option<u32>;
    /// Adds the device's node (under `vdevice`, or wherever it belongs).
    fn build_node(&self, t: &mut DeviceTree, vdevice: NodeId);
    /// H_VIO_SIGNAL: mode bit 0 enables the device's interrupt.
    fn signal(&self, _mode: u64) {}
    /// The device's DMA window, if it does DMA.
    fn dma(&self) -> Option<&Arc<TceTable>> {
        None
    }
    /// Machine reset: back to the state at power-on (the guest re-registers its queues).
    fn reset(&self) {}
    /// Power-off: flush what must survive.
    fn shutdown(&self) {}
    /// The device's command/response queue, if it talks through one (H_REG_CRQ & co.).
    fn crq(&self) -> Option<&dyn crq::CrqDevice> {
        None
    }
    fn as_any(&self) -> &dyn Any;
}

/// What kind of device a `/vdevice` node describes: node name, `device_type`, `compatible`.
pub struct Kind<'a> {
    pub name: &'a str,
    pub device_type: &'a str,
    pub compatible: &'a str,
}

/// The standard properties of a `/vdevice` node: name@reg, device_type, compatible, reg,
/// interrupts, and the DMA window when the device has one.
pub fn add_node(
    t: &mut DeviceTree,
    vdevice: NodeId,
    kind: &Kind,
    reg: u32,
    irq: u32,
    dma: Option<&TceTable>,
) -> NodeId {
    let n = t.add_node(vdevice, &format!("{}@{reg:x}", kind.name));
    t.set_str(n, "device_type", kind.device_type);
    t.set_str(n, "compatible", kind.compatible);
    t.set_u32(n, "reg", reg);
    t.set_prop(n, "interrupts", cells(&[irq, 0]));
    if let Some(w) = dma {
        // LIOBN, then a 2-cell bus address and a 2-cell size (the counts given just below).
        let size = w.size();
        t.set_prop(
            n,
            "ibm,my-dma-window",
            cells(&[w.liobn, 0, 0, (size >> 32) as u32, size as u32]),
        );
        t.set_u32(n, "ibm,#dma-address-cells", 2);
        t.set_u32(n, "ibm,#dma-size-cells", 2);
    }
    n
}

/// The devices of the VIO bus.
#[derive(Default)]
pub struct Bus {
    devices: Vec<Arc<dyn VioDevice>>,
}

impl Bus {
    /// Adds a device; its unit address must be unique.
    pub fn add(&mut self, d: Arc<dyn VioDevice>) -> Result<(), String> {
        if let Some(r) = d.reg() {
            if self.by_reg(r).is_some() {
                return Err(format!("reg={r:#x}: a VIO device with that address exists"));
            }
        }
        self.devices.push(d);
        Ok(())
    }

    pub fn by_reg(&self, reg: u32) -> Option<&Arc<dyn VioDevice>> {
        self.devices.iter().find(|d| d.reg() == Some(reg))
    }

    /// The device of type `T` at unit address `reg` (an hcall's target).
    pub fn get<T: 'static>(&self, reg: u64) -> Option<&T> {
        let reg = u32::try_from(reg).ok()?;
        self.by_reg(reg)?.as_any().downcast_ref::<T>()
    }

    /// Every device of type `T`, in bus order.
    pub fn all<T: 'static>(&self) -> impl Iterator<Item = &T> {
        self.devices
            .iter()
            .filter_map(|d| d.as_any().downcast_ref())
    }

    pub fn devices(&self) -> &[Arc<dyn VioDevice>] {
        &self.devices
    }

    /// The DMA window with LIOBN `liobn`.
    pub fn table(&self, liobn: u32) -> Option<Arc<TceTable>> {
        self.devices
            .iter()
            .filter_map(|d| d.dma())
            .find(|t| t.liobn == liobn)
            .cloned()
    }

    /// Adds every device's node, in unit-address order (as firmware lists them).
    pub fn build_tree(&self, t: &mut DeviceTree) {
        let Some(vdev) = t.find("/vdevice") else {
            return;
        };
        let mut order: Vec<&Arc<dyn VioDevice>> = self.devices.iter().collect();
        order.sort_by_key(|d| d.reg().unwrap_or(u32::MAX));
        for d in order {
            d.build_node(t, vdev);
        }
    }

    pub fn reset(&self) {
        for d in &self.devices {
            if let Some(w) = d.dma() {
                w.clear();
            }
            d.reset();
        }
    }

    pub fn shutdown(&self) {
        for d in &self.devices {
            d.shutdown();
        }
    }
}

pub const HCALLS: &[(u64, &str, HcallFn)] = &[(H_VIO_SIGNAL, "H_VIO_SIGNAL", h_vio_signal)];

/// H_VIO_SIGNAL(unit address, mode): mode bit 0 enables the device's interrupt.
fn h_vio_signal(m: &Machine, cpu: &mut Cpu) -> i64 {
    let (unit, mode) = (cpu.gpr[4], cpu.gpr[5]);
    if mode & !1 != 0 {
        return H_PARAMETER;
    }
    match u32::try_from(unit).ok().and_then(|r| m.vio.by_reg(r)) {
        Some(d) => {
            d.signal(mode);
            H_SUCCESS
        }
        None => H_PARAMETER,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{cpu, hcall, machine};

    #[test]
    fn signal_known_units_only() {
        let (m, _) = machine();
        let mut c = cpu(&m);
        assert_eq!(
            hcall(&m, &mut c, H_VIO_SIGNAL, &[layout::VTY_REG as u64, 1]),
            H_SUCCESS
        );
        assert_eq!(
            hcall(&m, &mut c, H_VIO_SIGNAL, &[layout::VTY_REG as u64, 2]),
            H_PARAMETER
        );
        assert_eq!(hcall(&m, &mut c, H_VIO_SIGNAL, &[0x1234, 1]), H_PARAMETER);
        assert_eq!(
            hcall(
                &m,
                &mut c,
                H_VIO_SIGNAL,
                &[1 << 40 | layout::VTY_REG as u64, 1]
            ),
            H_PARAMETER
        );
        assert_eq!(
            hcall(&m, &mut c, H_VIO_SIGNAL, &[layout::NVRAM_REG as u64, 0]),
            H_SUCCESS
        );
    }

    fn prop<'a>(t: &'a DeviceTree, path: &str, name: &str) -> &'a [u8] {
        let n = t.find(path).unwrap_or_else(|| panic!("no node {path}"));
        t.prop(n, name)
            .unwrap_or_else(|| panic!("no property {name} at {path}"))
    }

    #[test]
    fn console_and_nvram_nodes() {
        let (m, _) = machine();
        let mut t = crate::fdt::build(&m.config, None);
        m.build_device_nodes(&mut t);
        let vty = "/vdevice/vty@71000000";
        assert_eq!(prop(&t, vty, "device_type"), b"serial\0");
        assert_eq!(prop(&t, vty, "compatible"), b"hvterm1\0");
        assert_eq!(prop(&t, vty, "reg"), 0x7100_0000u32.to_be_bytes());
        assert_eq!(prop(&t, vty, "interrupts"), cells(&[0x1100, 0]));
        assert!(t.prop(t.find(vty).unwrap(), "ibm,my-dma-window").is_none());
        let nv = "/vdevice/nvram@71000001";
        assert_eq!(prop(&t, nv, "device_type"), b"nvram\0");
        assert_eq!(prop(&t, nv, "compatible"), b"qemu,spapr-nvram\0");
        assert_eq!(prop(&t, nv, "reg"), 0x7100_0001u32.to_be_bytes());
        assert_eq!(prop(&t, nv, "#bytes"), 0x10000u32.to_be_bytes());
        assert_eq!(prop(&t, nv, "interrupts"), cells(&[0x1101, 0]));
    }

    #[test]
    fn dma_window_property() {
        let mut t = DeviceTree::new();
        let v = t.add_node(DeviceTree::ROOT, "vdevice");
        let w = TceTable::new(0x7100_0002, 0, DMA_WINDOW);
        add_node(
            &mut t,
            v,
            &Kind {
                name: "l-lan",
                device_type: "network",
                compatible: "IBM,l-lan",
            },
            0x7100_0002,
            0x1102,
            Some(&w),
        );
        let p = "/vdevice/l-lan@71000002";
        assert_eq!(
            prop(&t, p, "ibm,my-dma-window"),
            cells(&[0x7100_0002, 0, 0, 0, 0x1000_0000])
        );
        assert_eq!(prop(&t, p, "ibm,#dma-address-cells"), 2u32.to_be_bytes());
    }
}
