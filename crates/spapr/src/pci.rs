//! spapr-pci-host-bridge: a PAPR PCI host bridge (PHB) as QEMU's pseries machine has one. The
//! guest reaches configuration space through RTAS (`ibm,read-pci-config` and friends, by bus
//! unit id), the device windows through MMIO (an I/O window, a 32-bit and a 64-bit memory window
//! at QEMU's addresses), and DMA goes through the bridge's TCE table. Devices on it are described
//! in the device tree (Linux on an LPAR builds its PCI devices from the tree, not by probing), with
//! their BARs assigned here as firmware would; Linux may move them (`linux,pci-probe-only` is 0).
//!
//! Interrupts are INTx: four level-sensitive sources per bridge, swizzled by slot as on real
//! hardware. MSI arrives with `ibm,change-msi`.

use crate::bus::MmioDevice;
use crate::devtree::{cells, DeviceTree, NodeId};
use crate::irq::IrqLine;
use crate::machine::Machine;
use crate::rtas::{RtasCall, RtasFn, RTAS_OUT_HW_ERROR, RTAS_OUT_PARAM_ERROR, RTAS_OUT_SUCCESS};
use crate::tce::TceTable;
use devices::pci::{BarKind, PciDevice};
use devices::Interrupt;
use ppc::Cpu;
use std::sync::{Arc, Mutex};

/// Where bridges' windows start (32 TiB) and their sizes, as QEMU places them.
pub const PCI_BASE: u64 = 1 << 45;
pub const IO_WIN_SIZE: u64 = 0x1_0000;
pub const MEM32_WIN_SIZE: u64 = 0x8000_0000;
pub const MEM64_WIN_SIZE: u64 = 0x10_0000_0000;
/// Bus address of the 32-bit window (its upper 2 GiB of the 4 GiB space).
pub const MEM32_BUS: u64 = 0x8000_0000;
/// Bus unit id of bridge 0; bridge N is this + N.
pub const BUID_BASE: u64 = 0x0800_0000_2000_0000;
/// The default 32-bit DMA window: 1 GiB at bus address 0.
pub const DMA_WINDOW_SIZE: u64 = 0x4000_0000;
/// Highest `index` a bridge may have (its four INTx sources must fit the XICS source range).
pub const MAX_INDEX: u32 = 63;
/// Slots (devices) on the root bus; function 0 of each.
pub const SLOTS: usize = 32;

/// PCI address space codes in the `phys.hi` cell of OF addresses.
const SS_IO: u32 = 0x0100_0000;
const SS_MEM32: u32 = 0x0200_0000;
const SS_MEM64: u32 = 0x0300_0000;
const PREFETCH: u32 = 0x4000_0000;

/// A level-sensitive interrupt source shared by the slots swizzled onto it: asserted while any
/// of them asserts.
struct Lsi {
    line: IrqLine,
    asserted: Mutex<u32>,
}

/// One slot's INTA, as its device sees it.
struct Pin {
    lsi: Arc<Lsi>,
    slot: u32,
}

impl Interrupt for Pin {
    fn pulse(&self) {
        self.lsi.line.pulse()
    }

    fn set_level(&self, level: bool) {
        if let Ok(mut a) = self.lsi.asserted.lock() {
            let bit = 1u32 << self.slot;
            let old = *a != 0;
            if level {
                *a |= bit
            } else {
                *a &= !bit
            }
            // Held under the lock so two slots cannot reorder their edges on the source.
            if (*a != 0) != old {
                self.lsi.line.set_level(*a != 0);
            }
        }
    }
}

pub struct Phb {
    pub index: u32,
    pub buid: u64,
    pub io_base: u64,
    pub mem32_base: u64,
    pub mem64_base: u64,
    slots: Vec<Option<Arc<dyn PciDevice>>>,
    lsis: Vec<Arc<Lsi>>,
    pub tce: Arc<TceTable>,
}

impl Phb {
    /// Bridge `index`, its INTx sources numbered from `lsi_base` on `intc`.
    pub fn new(index: u32, intc: Arc<dyn crate::irq::Intc>, lsi_base: u32) -> Phb {
        let i = index as u64;
        Phb {
            index,
            buid: BUID_BASE + i,
            io_base: PCI_BASE + i * IO_WIN_SIZE,
            mem32_base: PCI_BASE + (i + 1) * MEM32_WIN_SIZE,
            mem64_base: PCI_BASE + (i + 1) * MEM64_WIN_SIZE,
            slots: vec![None; SLOTS],
            lsis: (0..4)
                .map(|k| {
                    Arc::new(Lsi {
                        line: IrqLine::new(intc.clone(), lsi_base + k, true),
                        asserted: Mutex::new(0),
                    })
                })
                .collect(),
            tce: Arc::new(TceTable::new(liobn(index), 0, DMA_WINDOW_SIZE)),
        }
    }

    /// The interrupt source of INTA in `slot` (the standard swizzle).
    fn lsi_of(&self, slot: usize) -> &Arc<Lsi> {
        &self.lsis[slot % 4]
    }

    /// Plugs a device built by `make` (given its INTA line) into `slot`, or the first free slot
    /// from 1; returns the slot.
    pub fn plug(
        &mut self,
        slot: Option<u32>,
        make: impl FnOnce(Arc<dyn Interrupt>) -> Result<Arc<dyn PciDevice>, String>,
    ) -> Result<usize, String> {
        let s = match slot {
            Some(s) if (s as usize) < SLOTS => s as usize,
            Some(s) => return Err(format!("addr={s:#x}: PCI slot out of range (0-31)")),
            None => (1..SLOTS)
                .find(|&s| self.slots[s].is_none())
                .ok_or_else(|| format!("PCI bus {}: no free slot", self.index))?,
        };
        if self.slots[s].is_some() {
            return Err(format!(
                "addr={s:#x}: PCI slot already in use on bus {}",
                self.index
            ));
        }
        let pin: Arc<dyn Interrupt> = Arc::new(Pin {
            lsi: self.lsi_of(s).clone(),
            slot: s as u32,
        });
        self.slots[s] = Some(make(pin)?);
        Ok(s)
    }

    fn devices(&self) -> impl Iterator<Item = (usize, &Arc<dyn PciDevice>)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(s, d)| d.as_ref().map(|d| (s, d)))
    }

    /// Assigns every BAR an address in its window and enables decoding, as firmware does before
    /// the OS starts. Fails if the windows are too small for the devices.
    pub fn assign_bars(&self) -> Result<(), String> {
        let mut io = 0x1000u64;
        let mut m32 = MEM32_BUS;
        let mut m64 = self.mem64_base;
        for (s, d) in self.devices() {
            let Ok(mut c) = d.config().lock() else {
                continue;
            };
            for i in 0..6 {
                let Some(bar) = c.bar(i) else {
                    continue;
                };
                let (next, end) = match bar.kind {
                    BarKind::Io => (&mut io, IO_WIN_SIZE),
                    BarKind::Mem32 => (&mut m32, MEM32_BUS + MEM32_WIN_SIZE),
                    BarKind::Mem64 { .. } => (&mut m64, self.mem64_base + MEM64_WIN_SIZE),
                };
                let at = next.next_multiple_of(bar.size);
                if at + bar.size > end {
                    return Err(format!(
                        "PCI bus {}: no room for BAR {i} of slot {s} ({:#x} bytes)",
                        self.index, bar.size
                    ));
                }
                c.set_bar_address(i, at);
                *next = at + bar.size;
            }
            let cmd = c.command()
                | devices::pci::command::MEMORY
                | devices::pci::command::IO
                | devices::pci::command::MASTER;
            c.write(devices::pci::reg::COMMAND, 2, cmd as u32);
        }
        Ok(())
    }

    /// Machine reset: devices back to power-on, DMA mappings gone, BARs as firmware left them.
    pub fn reset(&self) {
        for (_, d) in self.devices() {
            d.reset();
        }
        self.tce.clear();
        let _ = self.assign_bars();
    }

    /// The device at configuration address `addr` (RTAS form: bus, devfn, register).
    fn config_target(&self, addr: u32) -> Option<(&Arc<dyn PciDevice>, usize)> {
        let bus = (addr >> 16) & 0xff;
        let devfn = (addr >> 8) & 0xff;
        let reg = (addr & 0xff) | ((addr >> 20) & 0xf00);
        if bus != 0 || devfn & 7 != 0 {
            return None;
        }
        let d = self.slots.get((devfn >> 3) as usize)?.as_ref()?;
        Some((d, reg as usize))
    }

    /// Turns a CPU address in one of the windows into (is I/O space, bus address).
    fn bus_addr(&self, addr: u64) -> Option<(bool, u64)> {
        if (self.io_base..self.io_base + IO_WIN_SIZE).contains(&addr) {
            Some((true, addr - self.io_base))
        } else if (self.mem32_base..self.mem32_base + MEM32_WIN_SIZE).contains(&addr) {
            Some((false, addr - self.mem32_base + MEM32_BUS))
        } else if (self.mem64_base..self.mem64_base + MEM64_WIN_SIZE).contains(&addr) {
            Some((false, addr))
        } else {
            None
        }
    }

    /// The device BAR decoding `len` bytes at bus address `a`: (device, BAR, offset).
    fn decode(&self, io: bool, a: u64, len: usize) -> Option<(&Arc<dyn PciDevice>, usize, u64)> {
        for (_, d) in self.devices() {
            let Ok(c) = d.config().lock() else {
                continue;
            };
            for i in 0..6 {
                let Some(bar) = c.bar(i) else {
                    continue;
                };
                if (bar.kind == BarKind::Io) != io {
                    continue;
                }
                if let Some((base, size)) = c.decoded_bar(i) {
                    if a >= base && a - base + len as u64 <= size {
                        return Some((d, i, a - base));
                    }
                }
            }
        }
        None
    }

    /// Adds the bridge's node and its devices' nodes under the root.
    pub fn build_tree(&self, t: &mut DeviceTree, intc_phandle: u32) {
        let node = t.add_node(DeviceTree::ROOT, &format!("pci@{:x}", self.buid));
        t.set_str(node, "device_type", "pci");
        t.set_str(node, "compatible", "IBM,Logical_PHB");
        t.set_u32(node, "#address-cells", 3);
        t.set_u32(node, "#size-cells", 2);
        t.set_u32(node, "#interrupt-cells", 1);
        t.set_prop(node, "reg", crate::devtree::cells64(&[self.buid, 1]));
        t.set_prop(node, "bus-range", cells(&[0, 0xff]));
        let mut ranges = Vec::new();
        for (ss, bus, cpu, size) in [
            (SS_IO, 0, self.io_base, IO_WIN_SIZE),
            (SS_MEM32, MEM32_BUS, self.mem32_base, MEM32_WIN_SIZE),
            (SS_MEM64, self.mem64_base, self.mem64_base, MEM64_WIN_SIZE),
        ] {
            ranges.extend([ss, hi(bus), lo(bus), hi(cpu), lo(cpu), hi(size), lo(size)]);
        }
        t.set_prop(node, "ranges", cells(&ranges));
        t.set_u32(node, "ibm,pci-config-space-type", 1);
        t.set_u32(node, "ibm,pe-total-#msi", 0);
        t.set_str(node, "ibm,loc-code", &format!("vpci@{:x}", self.buid));
        t.set_u32(node, "ibm,#dma-address-cells", 2);
        t.set_u32(node, "ibm,#dma-size-cells", 2);
        let win = self.tce.size();
        t.set_prop(
            node,
            "ibm,dma-window",
            cells(&[
                self.tce.liobn,
                hi(self.tce.offset),
                lo(self.tce.offset),
                hi(win),
                lo(win),
            ]),
        );
        // INTx routing: (slot, pin) -> (controller, source, level-sensitive).
        t.set_prop(node, "interrupt-map-mask", cells(&[0xf800, 0, 0, 7]));
        let mut map = Vec::with_capacity(SLOTS * 4 * 7);
        for slot in 0..SLOTS as u32 {
            for pin in 1..=4u32 {
                let lsi = &self.lsis[((slot + pin - 1) % 4) as usize];
                map.extend([slot << 11, 0, 0, pin, intc_phandle, lsi.line.number(), 1]);
            }
        }
        t.set_prop(node, "interrupt-map", cells(&map));
        for (s, d) in self.devices() {
            self.device_node(t, node, s, d);
        }
    }

    fn device_node(&self, t: &mut DeviceTree, parent: NodeId, slot: usize, d: &Arc<dyn PciDevice>) {
        let Ok(c) = d.config().lock() else {
            return;
        };
        let ids = c.ids();
        let name = match ids.class >> 8 {
            0x0100 => "scsi".to_string(),
            0x0200 => "ethernet".to_string(),
            0x0780 => "communication-controller".to_string(),
            _ => format!("pci{:x},{:x}", ids.vendor, ids.device),
        };
        let n = t.add_node(parent, &format!("{name}@{slot:x}"));
        t.set_u32(n, "vendor-id", ids.vendor as u32);
        t.set_u32(n, "device-id", ids.device as u32);
        t.set_u32(n, "revision-id", ids.revision as u32);
        t.set_u32(n, "class-code", ids.class);
        t.set_u32(n, "subsystem-vendor-id", ids.subsystem_vendor as u32);
        t.set_u32(n, "subsystem-id", ids.subsystem as u32);
        if c.interrupt_pin() != 0 {
            t.set_u32(n, "interrupts", c.interrupt_pin() as u32);
        }
        let devfn_hi = (slot as u32) << 11;
        let mut reg = vec![devfn_hi, 0, 0, 0, 0];
        let mut assigned = Vec::new();
        for i in 0..6 {
            let Some(bar) = c.bar(i) else {
                continue;
            };
            let ss = match bar.kind {
                BarKind::Io => SS_IO,
                BarKind::Mem32 => SS_MEM32,
                BarKind::Mem64 { prefetch } => SS_MEM64 | if prefetch { PREFETCH } else { 0 },
            };
            let phys = ss | devfn_hi | (devices::pci::reg::BAR0 + 4 * i) as u32;
            reg.extend([phys, 0, 0, hi(bar.size), lo(bar.size)]);
            if let Some(a) = c.bar_address(i).filter(|&a| a != 0) {
                // 0x80000000: "non-relocatable" is not set; the address is where firmware put it.
                assigned.extend([phys, hi(a), lo(a), hi(bar.size), lo(bar.size)]);
            }
        }
        t.set_prop(n, "reg", cells(&reg));
        t.set_prop(n, "assigned-addresses", cells(&assigned));
        t.set_str(
            n,
            "ibm,loc-code",
            &format!("vpci@{:x}/{}@{slot:x}", self.buid, d.name()),
        );
    }
}

fn hi(v: u64) -> u32 {
    (v >> 32) as u32
}

fn lo(v: u64) -> u32 {
    v as u32
}

/// LIOBN of bridge `index`'s 32-bit DMA window (QEMU's numbering).
pub fn liobn(index: u32) -> u32 {
    0x8000_0000 | (index << 8)
}

impl MmioDevice for Phb {
    fn read(&self, addr: u64, data: &mut [u8]) {
        let hit = self
            .bus_addr(addr)
            .and_then(|(io, a)| self.decode(io, a, data.len()));
        match hit {
            Some((d, bar, off)) => d.bar_read(bar, off, data),
            // No device decodes it: a master abort reads all ones.
            None => data.fill(0xff),
        }
    }

    fn write(&self, addr: u64, data: &[u8]) {
        if let Some((d, bar, off)) = self
            .bus_addr(addr)
            .and_then(|(io, a)| self.decode(io, a, data.len()))
        {
            d.bar_write(bar, off, data);
        }
    }
}

/// The MMIO ranges of bridge `p`: (base, size).
pub fn windows(p: &Phb) -> [(u64, u64); 3] {
    [
        (p.io_base, IO_WIN_SIZE),
        (p.mem32_base, MEM32_WIN_SIZE),
        (p.mem64_base, MEM64_WIN_SIZE),
    ]
}

pub const RTAS: &[(&str, RtasFn)] = &[
    ("read-pci-config", read_pci_config),
    ("write-pci-config", write_pci_config),
    ("ibm,read-pci-config", ibm_read_pci_config),
    ("ibm,write-pci-config", ibm_write_pci_config),
];

fn phb_by_buid(m: &Machine, hi: u32, lo: u32) -> Option<&Arc<Phb>> {
    let buid = (hi as u64) << 32 | lo as u64;
    m.phbs.iter().find(|p| p.buid == buid)
}

fn config_read(p: Option<&Arc<Phb>>, addr: u32, size: u32, c: &mut RtasCall) {
    let target = p.and_then(|p| p.config_target(addr));
    match target {
        Some((d, reg))
            if matches!(size, 1 | 2 | 4)
                && reg % size as usize == 0
                && reg < devices::pci::CONFIG_SIZE =>
        {
            let v = d.config_read(reg, size as usize);
            c.status(RTAS_OUT_SUCCESS);
            c.set_ret(1, v);
        }
        // No device there (or a bad access): the status says so and the value reads all ones,
        // which is what Linux's probe expects of an empty slot.
        _ => {
            c.status(RTAS_OUT_HW_ERROR);
            c.set_ret(1, u32::MAX);
        }
    }
}

fn config_write(p: Option<&Arc<Phb>>, addr: u32, size: u32, val: u32, c: &mut RtasCall) {
    match p.and_then(|p| p.config_target(addr)) {
        Some((d, reg))
            if matches!(size, 1 | 2 | 4)
                && reg % size as usize == 0
                && reg < devices::pci::CONFIG_SIZE =>
        {
            d.config_write(reg, size as usize, val);
            c.status(RTAS_OUT_SUCCESS);
        }
        _ => c.status(RTAS_OUT_HW_ERROR),
    }
}

/// read-pci-config(addr, size) -> (status, value): the first bridge.
fn read_pci_config(m: &Machine, _cpu: &mut Cpu, c: &mut RtasCall) {
    match (c.arg(0), c.arg(1), c.args.len()) {
        (Some(addr), Some(size), 2) => config_read(m.phbs.first(), addr, size, c),
        _ => c.status(RTAS_OUT_PARAM_ERROR),
    }
}

/// write-pci-config(addr, size, value) -> status.
fn write_pci_config(m: &Machine, _cpu: &mut Cpu, c: &mut RtasCall) {
    match (c.arg(0), c.arg(1), c.arg(2), c.args.len()) {
        (Some(addr), Some(size), Some(v), 3) => config_write(m.phbs.first(), addr, size, v, c),
        _ => c.status(RTAS_OUT_PARAM_ERROR),
    }
}

/// ibm,read-pci-config(addr, buid hi, buid lo, size) -> (status, value).
fn ibm_read_pci_config(m: &Machine, _cpu: &mut Cpu, c: &mut RtasCall) {
    match (c.arg(0), c.arg(1), c.arg(2), c.arg(3), c.args.len()) {
        (Some(addr), Some(h), Some(l), Some(size), 4) => {
            config_read(phb_by_buid(m, h, l), addr, size, c)
        }
        _ => c.status(RTAS_OUT_PARAM_ERROR),
    }
}

/// ibm,write-pci-config(addr, buid hi, buid lo, size, value) -> status.
fn ibm_write_pci_config(m: &Machine, _cpu: &mut Cpu, c: &mut RtasCall) {
    match (
        c.arg(0),
        c.arg(1),
        c.arg(2),
        c.arg(3),
        c.arg(4),
        c.args.len(),
    ) {
        (Some(addr), Some(h), Some(l), Some(size), Some(v), 5) => {
            config_write(phb_by_buid(m, h, l), addr, size, v, c)
        }
        _ => c.status(RTAS_OUT_PARAM_ERROR),
    }
}
