//! spapr-pci-host-bridge: a PAPR PCI host bridge (PHB) as QEMU's pseries machine has one. The
//! guest reaches configuration space through RTAS (`ibm,read-pci-config` and friends, by bus
//! unit id), the device windows through MMIO (an I/O window, a 32-bit and a 64-bit memory window
//! at QEMU's addresses), and DMA goes through the bridge's TCE table. Devices on it are described
//! in the device tree (Linux on an LPAR builds its PCI devices from the tree, not by probing), with
//! their BARs assigned here as firmware would; Linux may move them (`linux,pci-probe-only` is 0).
//!
//! Interrupts are INTx (four level-sensitive sources per bridge, swizzled by slot as on real
//! hardware) until the OS asks firmware for MSI-X vectors with `ibm,change-msi`: then sources
//! come from a machine-wide pool and the device's MSI-X table is programmed with messages to the
//! bridge's MSI window, as QEMU does; `ibm,query-interrupt-source-number` tells the OS which.

use crate::bus::MmioDevice;
use crate::devtree::{cells, DeviceTree, NodeId};
use crate::irq::IrqLine;
use crate::machine::{layout, Machine};
use crate::rtas::{RtasCall, RtasFn, RTAS_OUT_HW_ERROR, RTAS_OUT_PARAM_ERROR, RTAS_OUT_SUCCESS};
use crate::tce::TceTable;
use devices::msix::MsiSink;
use devices::pci::{BarKind, PciDevice, CAP_MSIX};
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
/// Where a dynamic (64-bit) DMA window starts on the bus (QEMU's choice, 2^59).
pub const DDW_BUS_ADDR: u64 = 0x800_0000_0000_0000;
/// Most entries a dynamic window's table may have (32 MiB of table): larger windows must use
/// larger pages.
const DDW_MAX_ENTRIES: u64 = 1 << 22;
/// I/O page sizes offered for dynamic windows (ibm,query-pe-dma-window's mask: 4K, 64K, 16M).
const DDW_PAGE_MASK: u32 = 0x1 | 0x2 | 0x4;
/// Highest `index` a bridge may have (its four INTx sources must fit the XICS source range).
pub const MAX_INDEX: u32 = 63;
/// Slots (devices) on the root bus; function 0 of each.
pub const SLOTS: usize = 32;

/// Where MSI messages are written (QEMU's SPAPR_PCI_MSI_WINDOW): the data is the interrupt
/// source number.
pub const MSI_WINDOW: u64 = 0x400_0000_0000;

/// The machine's MSI sources (`layout::MSI_BASE..`), shared by all bridges.
pub struct MsiPool {
    used: Mutex<Vec<bool>>,
}

impl MsiPool {
    pub fn new() -> MsiPool {
        MsiPool {
            used: Mutex::new(vec![false; layout::MSI_COUNT as usize]),
        }
    }

    /// `n` consecutive free sources: the first one's number.
    fn alloc(&self, n: u32) -> Option<u32> {
        let mut u = self.used.lock().ok()?;
        let n = n as usize;
        let mut run = 0;
        for i in 0..u.len() {
            run = if u[i] { 0 } else { run + 1 };
            if run == n {
                let first = i + 1 - n;
                u[first..=i].fill(true);
                return Some(layout::MSI_BASE + first as u32);
            }
        }
        None
    }

    fn free(&self, first: u32, n: u32) {
        if let Ok(mut u) = self.used.lock() {
            let at = first.saturating_sub(layout::MSI_BASE) as usize;
            let end = (at + n as usize).min(u.len());
            if at < end {
                u[at..end].fill(false);
            }
        }
    }
}

impl Default for MsiPool {
    fn default() -> Self {
        Self::new()
    }
}

/// A bridge's MSI window: messages become pulses of their source.
struct MsiWindow {
    intc: Arc<dyn crate::irq::Intc>,
}

impl MsiSink for MsiWindow {
    fn send(&self, addr: u64, data: u32) {
        // A message the OS reprogrammed to anywhere else, or naming a source outside the MSI
        // pool, goes nowhere (as a write to an unmapped address would).
        if addr == MSI_WINDOW && data.wrapping_sub(layout::MSI_BASE) < layout::MSI_COUNT {
            self.intc.pulse(data);
        }
    }
}

/// MSI sources a device was given: (slot, first source, count).
type MsiGrant = (usize, u32, u32);

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
    msi_pool: Arc<MsiPool>,
    msi_window: Arc<MsiWindow>,
    msis: Mutex<Vec<MsiGrant>>,
    /// The dynamic DMA window the OS created (ibm,create-pe-dma-window), if any.
    ddw: Mutex<Option<Arc<TceTable>>>,
}

impl Phb {
    /// Bridge `index`, its INTx sources numbered from `lsi_base` on `intc`, MSIs from `pool`.
    pub fn new(
        index: u32,
        intc: Arc<dyn crate::irq::Intc>,
        lsi_base: u32,
        pool: Arc<MsiPool>,
    ) -> Phb {
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
            msi_pool: pool,
            msi_window: Arc::new(MsiWindow { intc }),
            msis: Mutex::new(Vec::new()),
            ddw: Mutex::new(None),
        }
    }

    /// The DMA window with LIOBN `liobn`: the default one or the dynamic one.
    pub fn table(&self, liobn: u32) -> Option<Arc<TceTable>> {
        if self.tce.liobn == liobn {
            return Some(self.tce.clone());
        }
        self.ddw
            .lock()
            .ok()?
            .as_ref()
            .filter(|t| t.liobn == liobn)
            .cloned()
    }

    /// The interrupt source of INTA in `slot` (the standard swizzle).
    fn lsi_of(&self, slot: usize) -> &Arc<Lsi> {
        &self.lsis[slot % 4]
    }

    /// Plugs a device built by `make` (given its INTA line and where its MSIs go) into `slot`,
    /// or the first free slot; returns the slot.
    pub fn plug(
        &mut self,
        slot: Option<u32>,
        make: impl FnOnce(Arc<dyn Interrupt>, Arc<dyn MsiSink>) -> Result<Arc<dyn PciDevice>, String>,
    ) -> Result<usize, String> {
        let s = match slot {
            Some(s) if (s as usize) < SLOTS => s as usize,
            Some(s) => return Err(format!("addr={s:#x}: PCI slot out of range (0-31)")),
            None => (0..SLOTS)
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
        self.slots[s] = Some(make(pin, self.msi_window.clone())?);
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
        if let Ok(mut g) = self.msis.lock() {
            for (_, first, n) in g.drain(..) {
                self.msi_pool.free(first, n);
            }
        }
        self.tce.clear();
        if let Ok(mut d) = self.ddw.lock() {
            *d = None;
        }
        let _ = self.assign_bars();
    }

    /// The machine stops: devices finish and flush.
    pub fn shutdown(&self) {
        for (_, d) in self.devices() {
            d.shutdown();
        }
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
        t.set_u32(node, "ibm,pe-total-#msi", layout::MSI_COUNT);
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
        // Dynamic DMA windows: the three services, then the extensions (two: the reset service,
        // and "query returns six cells").
        let tok = |n| crate::rtas::token(n).unwrap_or(0);
        t.set_prop(
            node,
            "ibm,ddw-applicable",
            cells(&[
                tok("ibm,query-pe-dma-window"),
                tok("ibm,create-pe-dma-window"),
                tok("ibm,remove-pe-dma-window"),
            ]),
        );
        t.set_prop(
            node,
            "ibm,ddw-extensions",
            cells(&[2, tok("ibm,reset-pe-dma-window"), 1]),
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
        // How many vectors the OS may ask ibm,change-msi for.
        if let Some(cap) = c.find_capability(CAP_MSIX) {
            t.set_u32(n, "ibm,req#msi-x", (c.read(cap + 2, 2) & 0x7ff) + 1);
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
    ("ibm,change-msi", ibm_change_msi),
    (
        "ibm,query-interrupt-source-number",
        ibm_query_interrupt_source_number,
    ),
    ("ibm,query-pe-dma-window", ibm_query_pe_dma_window),
    ("ibm,create-pe-dma-window", ibm_create_pe_dma_window),
    ("ibm,remove-pe-dma-window", ibm_remove_pe_dma_window),
    ("ibm,reset-pe-dma-window", ibm_reset_pe_dma_window),
    // EEH: the devices here are emulated, so there is no error state to report or recover
    // from; like QEMU's emulated bridges, the services exist and answer "parameter error",
    // which Linux reads as "EEH not supported on this device".
    ("ibm,set-eeh-option", eeh_unsupported),
    ("ibm,get-config-addr-info2", eeh_unsupported),
    ("ibm,read-slot-reset-state2", eeh_unsupported),
    ("ibm,set-slot-reset", eeh_unsupported),
    ("ibm,configure-pe", eeh_unsupported),
    ("ibm,slot-error-detail", eeh_unsupported),
];

fn eeh_unsupported(_m: &Machine, _cpu: &mut Cpu, c: &mut RtasCall) {
    c.status(RTAS_OUT_PARAM_ERROR);
}

/// The bridge named by (buid hi, buid lo) of args 1-2, if arg 0 addresses a device on it.
fn pe_of<'a>(m: &'a Machine, c: &RtasCall) -> Option<&'a Arc<Phb>> {
    let p = phb_by_buid(m, c.arg(1)?, c.arg(2)?)?;
    p.config_target(c.arg(0)? & !0xff)?;
    Some(p)
}

/// ibm,query-pe-dma-window(config addr, buid hi, buid lo) -> (status, windows available,
/// largest block in 4 KiB pages (two cells with the 6-output extension), page sizes, migration).
fn ibm_query_pe_dma_window(m: &Machine, _cpu: &mut Cpu, c: &mut RtasCall) {
    let Some(p) = pe_of(m, c).filter(|_| c.args.len() == 3) else {
        return c.status(RTAS_OUT_PARAM_ERROR);
    };
    let avail = p.ddw.lock().map_or(0, |d| u32::from(d.is_none()));
    // The largest window worth having maps all of RAM.
    let pages = m.config.ram_size.next_power_of_two() >> crate::tce::PAGE_SHIFT;
    c.status(RTAS_OUT_SUCCESS);
    c.set_ret(1, avail);
    if c.rets.len() == 6 {
        c.set_ret(2, hi(pages));
        c.set_ret(3, lo(pages));
        c.set_ret(4, DDW_PAGE_MASK);
        c.set_ret(5, 0);
    } else {
        c.set_ret(2, pages.min(u32::MAX as u64) as u32);
        c.set_ret(3, DDW_PAGE_MASK);
        c.set_ret(4, 0);
    }
}

/// ibm,create-pe-dma-window(config addr, buid hi, buid lo, page shift, window shift) ->
/// (status, liobn, bus address hi, lo).
fn ibm_create_pe_dma_window(m: &Machine, _cpu: &mut Cpu, c: &mut RtasCall) {
    let (Some(p), Some(ps), Some(ws), 5) = (pe_of(m, c), c.arg(3), c.arg(4), c.args.len()) else {
        return c.status(RTAS_OUT_PARAM_ERROR);
    };
    // The page sizes of DDW_PAGE_MASK; a table of at most DDW_MAX_ENTRIES.
    if !matches!(ps, 12 | 16 | 24) || ws < ps || ws > 63 || (1u64 << (ws - ps)) > DDW_MAX_ENTRIES {
        return c.status(RTAS_OUT_PARAM_ERROR);
    }
    let Ok(mut d) = p.ddw.lock() else {
        return c.status(RTAS_OUT_HW_ERROR);
    };
    if d.is_some() {
        // One dynamic window per bridge: the OS must remove it first.
        return c.status(RTAS_OUT_HW_ERROR);
    }
    let t = Arc::new(TceTable::with_pages(
        p.tce.liobn | 1,
        DDW_BUS_ADDR,
        1u64 << ws,
        ps,
    ));
    c.status(RTAS_OUT_SUCCESS);
    c.set_ret(1, t.liobn);
    c.set_ret(2, hi(DDW_BUS_ADDR));
    c.set_ret(3, lo(DDW_BUS_ADDR));
    *d = Some(t);
}

/// ibm,remove-pe-dma-window(liobn) -> status.
fn ibm_remove_pe_dma_window(m: &Machine, _cpu: &mut Cpu, c: &mut RtasCall) {
    let Some(liobn) = c.arg(0).filter(|_| c.args.len() == 1) else {
        return c.status(RTAS_OUT_PARAM_ERROR);
    };
    for p in &m.phbs {
        if let Ok(mut d) = p.ddw.lock() {
            if d.as_ref().is_some_and(|t| t.liobn == liobn) {
                *d = None;
                return c.status(RTAS_OUT_SUCCESS);
            }
        }
    }
    c.status(RTAS_OUT_PARAM_ERROR);
}

/// ibm,reset-pe-dma-window(config addr, buid hi, buid lo) -> status: back to the default window
/// only (which lpar never removes).
fn ibm_reset_pe_dma_window(m: &Machine, _cpu: &mut Cpu, c: &mut RtasCall) {
    let Some(p) = pe_of(m, c).filter(|_| c.args.len() == 3) else {
        return c.status(RTAS_OUT_PARAM_ERROR);
    };
    if let Ok(mut d) = p.ddw.lock() {
        *d = None;
    }
    c.status(RTAS_OUT_SUCCESS);
}

/// ibm,change-msi functions (PAPR): which kind of message interrupts the OS wants.
const CHANGE_FN: u32 = 1;
const CHANGE_MSI_FN: u32 = 3;
const CHANGE_MSIX_FN: u32 = 4;
const CHANGE_32MSI_FN: u32 = 5;
/// Interrupt types in the fourth return cell.
const TYPE_MSIX: u32 = 2;

impl Phb {
    /// Gives the device in `slot` `n` MSI-X sources (0: takes them back) and programs its table
    /// with their messages. Returns how many it got.
    fn change_msix(&self, slot: usize, d: &Arc<dyn PciDevice>, n: u32) -> Result<u32, i32> {
        let (bar, table, vectors) = {
            let c = d.config().lock().map_err(|_| RTAS_OUT_HW_ERROR)?;
            let cap = c.find_capability(CAP_MSIX).ok_or(RTAS_OUT_PARAM_ERROR)?;
            let t = c.read(cap + 4, 4);
            (
                (t & 7) as usize,
                (t & !7) as u64,
                (c.read(cap + 2, 2) & 0x7ff) + 1,
            )
        };
        let mut grants = self.msis.lock().map_err(|_| RTAS_OUT_HW_ERROR)?;
        if let Some(i) = grants.iter().position(|g| g.0 == slot) {
            let (_, first, count) = grants.swap_remove(i);
            self.msi_pool.free(first, count);
        }
        let n = n.min(vectors);
        if n == 0 {
            return Ok(0);
        }
        let first = self.msi_pool.alloc(n).ok_or(RTAS_OUT_HW_ERROR)?;
        grants.push((slot, first, n));
        for v in 0..n {
            let mut e = [0u8; 12];
            e[..8].copy_from_slice(&MSI_WINDOW.to_le_bytes());
            e[8..].copy_from_slice(&(first + v).to_le_bytes());
            d.bar_write(bar, table + devices::msix::ENTRY_SIZE * v as u64, &e);
        }
        Ok(n)
    }

    /// The source of interrupt `k` of the device in `slot`: its k-th MSI, or its INTx.
    fn source_of(&self, slot: usize, k: u32) -> Option<(u32, bool)> {
        let grants = self.msis.lock().ok()?;
        match grants.iter().find(|g| g.0 == slot) {
            Some(&(_, first, n)) => (k < n).then(|| (first + k, false)),
            None => (k == 0).then(|| (self.lsi_of(slot).line.number(), true)),
        }
    }
}

/// ibm,change-msi(config addr, buid hi, buid lo, function, count, sequence) -> (status,
/// count granted, next sequence[, interrupt type]).
fn ibm_change_msi(m: &Machine, _cpu: &mut Cpu, c: &mut RtasCall) {
    let (Some(addr), Some(h), Some(l), Some(func), Some(n), Some(seq), 6) = (
        c.arg(0),
        c.arg(1),
        c.arg(2),
        c.arg(3),
        c.arg(4),
        c.arg(5),
        c.args.len(),
    ) else {
        return c.status(RTAS_OUT_PARAM_ERROR);
    };
    let Some(p) = phb_by_buid(m, h, l) else {
        return c.status(RTAS_OUT_PARAM_ERROR);
    };
    let Some((d, _)) = p.config_target(addr & !0xff) else {
        return c.status(RTAS_OUT_PARAM_ERROR);
    };
    let slot = ((addr >> 11) & 0x1f) as usize;
    // Devices here have MSI-X only: the generic and MSI-X requests get it; plain MSI does not
    // exist, except that a request for 0 (release) is accepted whatever the kind.
    match func {
        CHANGE_FN | CHANGE_MSIX_FN => {}
        CHANGE_MSI_FN | CHANGE_32MSI_FN if n == 0 => {}
        _ => return c.status(RTAS_OUT_PARAM_ERROR),
    }
    match p.change_msix(slot, d, n) {
        Ok(got) => {
            c.status(RTAS_OUT_SUCCESS);
            c.set_ret(1, got);
            c.set_ret(2, seq.wrapping_add(1));
            c.set_ret(3, TYPE_MSIX);
        }
        Err(e) => c.status(e),
    }
}

/// ibm,query-interrupt-source-number(config addr, buid hi, buid lo, n) -> (status, source,
/// edge (1) or level (0)).
fn ibm_query_interrupt_source_number(m: &Machine, _cpu: &mut Cpu, c: &mut RtasCall) {
    let (Some(addr), Some(h), Some(l), Some(k), 4) =
        (c.arg(0), c.arg(1), c.arg(2), c.arg(3), c.args.len())
    else {
        return c.status(RTAS_OUT_PARAM_ERROR);
    };
    let found = phb_by_buid(m, h, l).and_then(|p| {
        p.config_target(addr & !0xff)?;
        p.source_of(((addr >> 11) & 0x1f) as usize, k)
    });
    match found {
        Some((irq, lsi)) => {
            c.status(RTAS_OUT_SUCCESS);
            c.set_ret(1, irq);
            c.set_ret(2, if lsi { 0 } else { 1 });
        }
        None => c.status(RTAS_OUT_PARAM_ERROR),
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{cpu, rtas};
    use crate::wiring::DeviceConfig;
    use ppc::Mmio;

    /// A machine with one virtio-blk-pci disk (a 1 MiB raw image) in slot 2.
    fn machine_with_disk(name: &str) -> (Machine, std::path::PathBuf) {
        let img = std::env::temp_dir().join(format!("lpar-pci-{}-{name}.img", std::process::id()));
        std::fs::write(&img, vec![0u8; 1 << 20]).unwrap();
        let cfg = crate::MachineConfig {
            ram_size: 64 << 20,
            devices: vec![DeviceConfig::VirtioBlk {
                drive: block::Options {
                    path: img.clone(),
                    ..Default::default()
                },
                bus: 0,
                slot: Some(2),
                queues: 2,
                serial: "s".into(),
            }],
            ..Default::default()
        };
        let m = Machine::new(cfg, Box::new(std::io::sink())).expect("machine");
        (m, img)
    }

    const SLOT2: u32 = 2 << 11;
    const BUID_HI: u32 = (BUID_BASE >> 32) as u32;
    const BUID_LO: u32 = BUID_BASE as u32;

    #[test]
    fn config_space_through_rtas() {
        let (m, img) = machine_with_disk("cfg");
        let mut c = cpu(&m);
        let r = rtas(
            &m,
            &mut c,
            "ibm,read-pci-config",
            &[SLOT2, BUID_HI, BUID_LO, 4],
            2,
        );
        assert_eq!(r, vec![0, 0x1042_1af4]);
        // The old form reaches bridge 0.
        assert_eq!(
            rtas(&m, &mut c, "read-pci-config", &[SLOT2 + 2, 2], 2),
            vec![0, 0x1042]
        );
        // An empty slot, a wrong bridge, a bad size, an unaligned register: errors.
        let empty = rtas(
            &m,
            &mut c,
            "ibm,read-pci-config",
            &[3 << 11, BUID_HI, BUID_LO, 4],
            2,
        );
        assert_eq!(empty, vec![RTAS_OUT_HW_ERROR as u32, u32::MAX]);
        let r = rtas(&m, &mut c, "ibm,read-pci-config", &[SLOT2, 0, 7, 4], 2);
        assert_eq!(r[0], RTAS_OUT_HW_ERROR as u32);
        let r = rtas(
            &m,
            &mut c,
            "ibm,read-pci-config",
            &[SLOT2, BUID_HI, BUID_LO, 3],
            2,
        );
        assert_eq!(r[0], RTAS_OUT_HW_ERROR as u32);
        let r = rtas(
            &m,
            &mut c,
            "ibm,read-pci-config",
            &[SLOT2 + 2, BUID_HI, BUID_LO, 4],
            2,
        );
        assert_eq!(r[0], RTAS_OUT_HW_ERROR as u32);
        // BAR 4 (64-bit) was assigned in the 64-bit window and decodes there.
        let lo = rtas(
            &m,
            &mut c,
            "ibm,read-pci-config",
            &[SLOT2 + 0x20, BUID_HI, BUID_LO, 4],
            2,
        )[1];
        let hi = rtas(
            &m,
            &mut c,
            "ibm,read-pci-config",
            &[SLOT2 + 0x24, BUID_HI, BUID_LO, 4],
            2,
        )[1];
        let bar4 = (hi as u64) << 32 | (lo & !0xf) as u64;
        let p = &m.phbs[0];
        assert!(bar4 >= p.mem64_base && bar4 < p.mem64_base + MEM64_WIN_SIZE);
        // num_queues in the common configuration (offset 0x12) reads 2 through MMIO.
        let mut b = [0u8; 2];
        assert!(m.bus.read(bar4 + 0x12, &mut b));
        assert_eq!(u16::from_le_bytes(b), 2);
        // Nothing decodes elsewhere in the window: all ones.
        let mut b = [0u8; 4];
        assert!(m.bus.read(p.mem64_base + MEM64_WIN_SIZE - 4, &mut b));
        assert_eq!(b, [0xff; 4]);
        // Memory decoding off: the BAR no longer answers.
        let w = rtas(
            &m,
            &mut c,
            "ibm,write-pci-config",
            &[SLOT2 + 4, BUID_HI, BUID_LO, 2, 0],
            1,
        );
        assert_eq!(w, vec![0]);
        let mut b = [0u8; 2];
        assert!(m.bus.read(bar4 + 0x12, &mut b));
        assert_eq!(b, [0xff; 2]);
        let _ = std::fs::remove_file(img);
    }

    #[test]
    fn msix_vectors_are_granted_programmed_queried_and_released() {
        let (m, img) = machine_with_disk("msi");
        let mut c = cpu(&m);
        let args = |n: u32| [SLOT2, BUID_HI, BUID_LO, CHANGE_MSIX_FN, n, 1];
        // Three queues' worth plus config is what the device has: asking for 8 gives 3.
        let r = rtas(&m, &mut c, "ibm,change-msi", &args(8), 4);
        assert_eq!(r, vec![0, 3, 2, TYPE_MSIX]);
        let q = |k| {
            rtas(
                &m,
                &mut cpu(&m),
                "ibm,query-interrupt-source-number",
                &[SLOT2, BUID_HI, BUID_LO, k],
                3,
            )
        };
        let first = q(0)[1];
        assert_eq!(q(0), vec![0, first, 1]);
        assert_eq!(q(2), vec![0, first + 2, 1]);
        assert_eq!(q(3)[0], RTAS_OUT_PARAM_ERROR as u32);
        assert!((layout::MSI_BASE..layout::MSI_BASE + layout::MSI_COUNT).contains(&first));
        // The device's table holds the messages (address = MSI window, data = source).
        let d = m.phbs[0].slots[2].clone().unwrap();
        let mut e = [0u8; 12];
        d.bar_read(1, 16, &mut e);
        assert_eq!(u64::from_le_bytes(e[..8].try_into().unwrap()), MSI_WINDOW);
        assert_eq!(u32::from_le_bytes(e[8..].try_into().unwrap()), first + 1);
        // Plain MSI does not exist here; releasing with 0 works for any kind.
        let r = rtas(
            &m,
            &mut c,
            "ibm,change-msi",
            &[SLOT2, BUID_HI, BUID_LO, CHANGE_MSI_FN, 1, 1],
            4,
        );
        assert_eq!(r[0], RTAS_OUT_PARAM_ERROR as u32);
        let r = rtas(&m, &mut c, "ibm,change-msi", &args(0), 4);
        assert_eq!(&r[..2], &[0, 0]);
        // Without MSIs the device's interrupt 0 is its INTx (level).
        assert_eq!(q(0), vec![0, layout::PCI_LSI_BASE + 2, 0]);
        // The freed sources are handed out again.
        assert_eq!(rtas(&m, &mut c, "ibm,change-msi", &args(1), 4)[1], 1);
        assert_eq!(q(0)[1], first);
        let _ = std::fs::remove_file(img);
    }

    #[test]
    fn a_dynamic_dma_window_is_queried_created_used_and_removed() {
        let (m, img) = machine_with_disk("ddw");
        let mut c = cpu(&m);
        let pe = [SLOT2, BUID_HI, BUID_LO];
        let q = rtas(&m, &mut c, "ibm,query-pe-dma-window", &pe, 6);
        // One window free, all 64 MiB of RAM in 4 KiB pages, 4K/64K/16M pages.
        assert_eq!(q, vec![0, 1, 0, (64 << 20) >> 12, 7, 0]);
        let bad = rtas(
            &m,
            &mut c,
            "ibm,create-pe-dma-window",
            &[SLOT2, BUID_HI, BUID_LO, 13, 30],
            4,
        );
        assert_eq!(bad[0], RTAS_OUT_PARAM_ERROR as u32);
        let huge = rtas(
            &m,
            &mut c,
            "ibm,create-pe-dma-window",
            &[SLOT2, BUID_HI, BUID_LO, 12, 60],
            4,
        );
        assert_eq!(huge[0], RTAS_OUT_PARAM_ERROR as u32);
        let w = rtas(
            &m,
            &mut c,
            "ibm,create-pe-dma-window",
            &[SLOT2, BUID_HI, BUID_LO, 24, 31],
            4,
        );
        assert_eq!(w, vec![0, liobn(0) | 1, hi(DDW_BUS_ADDR), lo(DDW_BUS_ADDR)]);
        assert_eq!(rtas(&m, &mut c, "ibm,query-pe-dma-window", &pe, 5)[1], 0);
        // The OS maps RAM with 16 MiB TCEs through the usual hcalls on the new LIOBN.
        let ioba = DDW_BUS_ADDR + (1 << 24);
        let tce = (2 << 24) | crate::tce::TCE_READ | crate::tce::TCE_WRITE;
        let r = crate::testutil::hcall(
            &m,
            &mut c,
            crate::tce::H_PUT_TCE,
            &[(liobn(0) | 1) as u64, ioba, tce],
        );
        assert_eq!(r, 0);
        let t = m.tce_table(liobn(0) | 1).unwrap();
        assert_eq!(t.translate(ioba + 0x123, true), Some((2 << 24) + 0x123));
        assert_eq!(
            rtas(&m, &mut c, "ibm,remove-pe-dma-window", &[liobn(0) | 1], 1),
            vec![0]
        );
        assert!(m.tce_table(liobn(0) | 1).is_none());
        assert_eq!(
            rtas(&m, &mut c, "ibm,remove-pe-dma-window", &[liobn(0) | 1], 1)[0],
            RTAS_OUT_PARAM_ERROR as u32
        );
        assert_eq!(rtas(&m, &mut c, "ibm,reset-pe-dma-window", &pe, 1), vec![0]);
        // EEH is not offered for emulated devices.
        assert_eq!(
            rtas(
                &m,
                &mut c,
                "ibm,set-eeh-option",
                &[SLOT2, BUID_HI, BUID_LO, 1],
                1
            )[0],
            RTAS_OUT_PARAM_ERROR as u32
        );
        let _ = std::fs::remove_file(img);
    }

    #[test]
    fn the_pool_allocates_consecutive_sources_and_reuses_freed_ones() {
        let p = MsiPool::new();
        let a = p.alloc(4).unwrap();
        let b = p.alloc(2).unwrap();
        assert_eq!(b, a + 4);
        p.free(a, 4);
        assert_eq!(p.alloc(3), Some(a));
        assert_eq!(p.alloc(layout::MSI_COUNT), None);
        p.free(u32::MAX, 5);
    }
}
