//! `pci_config`: the PCI host bridge as a guest reaches it, on a machine with one virtio-blk-pci
//! disk in slot 1: configuration space through RTAS (`read-pci-config`, `write-pci-config`,
//! `ibm,read-pci-config`, `ibm,write-pci-config`, by the KVMPPC_H_RTAS hcall), MSI grants
//! (`ibm,change-msi`, `ibm,query-interrupt-source-number`), BAR sizing, command register
//! changes, capability-list walks, wild configuration addresses, sizes and bridge ids; then
//! loads and stores through the machine's MMIO bus in the bridge's windows, wherever the BARs
//! point now, and anywhere; and bridge resets (firmware's BAR assignment again).
//!
//! Invariants, besides "no panic": every call is answered (the block is well-formed and in
//! RAM) with status 0, -1 or -3; a configuration access succeeds exactly when it names the
//! device (this bridge, bus 0, slot 1, function 0), a size of 1, 2 or 4, an aligned register
//! below 4096 and the right number of arguments, and a read fits its size; the identity and the
//! capability list are read-only (vendor 0x1af4, device 0x1042, four virtio capabilities and
//! MSI-X, the list ending); sizing reads back each BAR's size and flags; MSI grants stay within
//! the table and the pool; the bus claims exactly the accesses inside a window; a BAR the device
//! decodes answers as the device (num_queues); after a reset the BARs are where firmware puts
//! them, aligned, in their windows and apart.
//!
//! Input: byte 0 (vCPU model), then operations: a selector byte and its arguments (see `run`).

use crate::input::Input;
use crate::machine::{cpu, RAM};
use ppc::{Cpu, CpuModel, Mmio};
use spapr::hcall::{dispatch, H_SUCCESS};
use spapr::pci::{
    windows, BUID_BASE, IO_WIN_SIZE, MEM32_BUS, MEM32_WIN_SIZE, MEM64_WIN_SIZE, PCI_BASE,
};
use spapr::rtas::{token, KVMPPC_H_RTAS, RTAS_OUT_HW_ERROR, RTAS_OUT_PARAM_ERROR};
use spapr::wiring::DeviceConfig;
use spapr::{Machine, MachineConfig};
use std::sync::OnceLock;

const MAX_OPS: usize = 32;
/// Where argument blocks go.
const BUF: u64 = 0x8000;
/// The disk's slot and its configuration address.
const SLOT: u32 = 1;
const DEV: u32 = SLOT << 11;
const BUID_HI: u32 = (BUID_BASE >> 32) as u32;
const BUID_LO: u32 = BUID_BASE as u32;

/// virtio-pci's BARs: MSI-X table (BAR 1, 32-bit, 4 KiB), the virtio structures (BAR 4,
/// 64-bit prefetchable, 16 KiB).
const BAR_MSIX: usize = 1;
const BAR_VIRTIO: usize = 4;
const CAP_VENDOR: u32 = 0x09;
const CAP_MSIX: u32 = 0x11;

/// A read-only image shared by every machine of the process (a shared lock does not conflict).
fn image() -> &'static std::path::Path {
    static P: OnceLock<std::path::PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        // One fixed name, created once (atomically, by rename), so runs leave no litter.
        let p = std::env::temp_dir().join("lpar-fuzz-pci_config.img");
        if std::fs::metadata(&p).map(|m| m.len()).ok() != Some(1 << 20) {
            let tmp = std::env::temp_dir()
                .join(format!("lpar-fuzz-pci_config.img.{}", std::process::id()));
            let f = std::fs::File::create(&tmp).expect("create the image");
            f.set_len(1 << 20).expect("size the image");
            drop(f);
            std::fs::rename(&tmp, &p).expect("place the image");
        }
        p
    })
}

fn machine(model: CpuModel) -> Machine {
    let cfg = MachineConfig {
        ram_size: RAM,
        cpu_model: model,
        devices: vec![DeviceConfig::VirtioBlk {
            drive: block::Options {
                path: image().to_path_buf(),
                format: Some(block::Format::Raw),
                read_only: true,
                ..Default::default()
            },
            bus: 0,
            slot: Some(SLOT),
            queues: 1,
            serial: "fuzz".into(),
        }],
        ..Default::default()
    };
    Machine::new(cfg, Box::new(std::io::sink())).expect("a machine with a disk")
}

struct Harness {
    m: Machine,
    c: Cpu,
}

/// The RTAS services this target calls, by name.
const SERVICES: [&str; 6] = [
    "read-pci-config",
    "write-pci-config",
    "ibm,read-pci-config",
    "ibm,write-pci-config",
    "ibm,change-msi",
    "ibm,query-interrupt-source-number",
];

impl Harness {
    /// Calls RTAS service `name` with `args`, asking for `nret` return cells.
    fn rtas(&mut self, name: &str, args: &[u32], nret: u32) -> Vec<u32> {
        let tok = token(name).expect("service implemented");
        let mut words = vec![tok, args.len() as u32, nret];
        words.extend_from_slice(args);
        words.extend(std::iter::repeat_n(0xdead_beef, nret as usize));
        for (i, w) in words.iter().enumerate() {
            assert!(self.m.mem.write(BUF + 4 * i as u64, &w.to_be_bytes()));
        }
        self.c.gpr[3] = KVMPPC_H_RTAS;
        self.c.gpr[4] = BUF;
        dispatch(&self.m, &mut self.c);
        assert_eq!(
            self.c.gpr[3] as i64, H_SUCCESS,
            "{name}: a well-formed block refused"
        );
        let at = BUF + 4 * (3 + args.len() as u64);
        let rets: Vec<u32> = (0..nret as u64)
            .map(|i| {
                let mut b = [0u8; 4];
                assert!(self.m.mem.read(at + 4 * i, &mut b));
                u32::from_be_bytes(b)
            })
            .collect();
        if let Some(&s) = rets.first() {
            let s = s as i32;
            assert!(
                s == 0 || s == RTAS_OUT_HW_ERROR || s == RTAS_OUT_PARAM_ERROR,
                "{name}{args:x?}: status {s}"
            );
        }
        crate::trace!("{name}{args:x?} -> {rets:x?}");
        rets
    }

    /// Reads the device's register `reg` (size 1, 2 or 4), which must succeed.
    fn read(&mut self, reg: u32, size: u32) -> u32 {
        let a = DEV | (reg & 0xff) | (reg & 0xf00) << 20;
        let r = self.rtas("ibm,read-pci-config", &[a, BUID_HI, BUID_LO, size], 2);
        assert_eq!(r[0], 0, "reading register {reg:#x} of the device failed");
        r[1]
    }

    fn write(&mut self, reg: u32, size: u32, v: u32) {
        let a = DEV | (reg & 0xff) | (reg & 0xf00) << 20;
        let r = self.rtas("ibm,write-pci-config", &[a, BUID_HI, BUID_LO, size, v], 1);
        assert_eq!(r[0], 0, "writing register {reg:#x} of the device failed");
    }

    /// The identity and the capability list, which no write may change.
    fn check_identity(&mut self) {
        assert_eq!(self.read(0, 2), 0x1af4, "vendor id");
        assert_eq!(self.read(2, 2), 0x1042, "device id");
        let mut at = self.read(0x34, 1);
        let (mut vendor, mut msix) = (0, 0);
        for _ in 0..48 {
            if at == 0 {
                break;
            }
            assert!((0x40..0x100).contains(&at), "capability at {at:#x}");
            match self.read(at, 1) {
                CAP_VENDOR => vendor += 1,
                CAP_MSIX => msix += 1,
                id => panic!("capability {id:#x} at {at:#x}"),
            }
            at = self.read(at + 1, 1);
        }
        assert_eq!(at, 0, "the capability list does not end");
        assert_eq!((vendor, msix), (4, 1), "capabilities");
    }

    /// Sizes BAR `i` as an OS does (all ones, read, restore) and checks what it reads.
    fn size_bar(&mut self, i: u32) {
        let reg = 0x10 + 4 * i;
        let old = self.read(reg, 4);
        self.write(reg, 4, u32::MAX);
        let got = self.read(reg, 4);
        let want = match i as usize {
            BAR_MSIX => 0xffff_f000,
            // 64-bit prefetchable memory, 16 KiB; its upper half sizes to all ones.
            BAR_VIRTIO => 0xffff_c00c,
            5 => u32::MAX,
            _ => 0,
        };
        assert_eq!(got, want, "BAR {i} sizing");
        self.write(reg, 4, old);
        assert_eq!(self.read(reg, 4), old, "BAR {i} restored");
    }

    /// The bus address BAR `i` holds, and whether memory decoding is on.
    fn bar(&mut self, i: usize) -> (u64, bool) {
        let lo = self.read(0x10 + 4 * i as u32, 4) as u64;
        let a = if i == BAR_VIRTIO {
            lo | (self.read(0x14 + 4 * i as u32, 4) as u64) << 32
        } else {
            lo
        };
        (a & !0xf, self.read(0x04, 2) & 2 != 0)
    }

    /// The CPU address of bus address `a` in the memory windows, if one maps it.
    fn cpu_addr(&self, a: u64) -> Option<u64> {
        let p = &self.m.phbs[0];
        if (MEM32_BUS..MEM32_BUS + MEM32_WIN_SIZE).contains(&a) {
            Some(p.mem32_base + (a - MEM32_BUS))
        } else if (p.mem64_base..p.mem64_base + MEM64_WIN_SIZE).contains(&a) {
            Some(a)
        } else {
            None
        }
    }

    /// Firmware's assignment (machine creation, bridge reset): both BARs programmed, aligned,
    /// inside their windows, apart, and decoded.
    fn check_assignment(&mut self) {
        let (b1, on) = self.bar(BAR_MSIX);
        let (b4, _) = self.bar(BAR_VIRTIO);
        assert!(on, "memory decoding off after assignment");
        assert!(b1 % 0x1000 == 0 && (MEM32_BUS..MEM32_BUS + MEM32_WIN_SIZE).contains(&b1));
        let p = &self.m.phbs[0];
        assert!(b4 % 0x4000 == 0 && (p.mem64_base..p.mem64_base + MEM64_WIN_SIZE).contains(&b4));
        assert!(b1 + 0x1000 <= b4 || b4 + 0x4000 <= b1, "BARs overlap");
        self.check_decode();
    }

    /// If BAR 4 is decoded in a window, the device answers there: num_queues is 1.
    fn check_decode(&mut self) {
        let (b4, on) = self.bar(BAR_VIRTIO);
        let (b1, _) = self.bar(BAR_MSIX);
        // Overlapping BARs decode to whichever the bridge finds first.
        let apart = b1 + 0x1000 <= b4 || b4 + 0x4000 <= b1;
        if let (true, true, Some(a)) = (on && b4 != 0, apart, self.cpu_addr(b4)) {
            let mut v = [0u8; 2];
            if self.m.bus.read(a + 0x12, &mut v) {
                assert_eq!(
                    u16::from_le_bytes(v),
                    1,
                    "num_queues through BAR 4 at {a:#x}"
                );
            }
        }
    }

    fn in_window(&self, a: u64, len: u64) -> bool {
        self.m.phbs.iter().any(|p| {
            windows(p)
                .iter()
                .any(|&(b, s)| a >= b && a.checked_add(len).is_some_and(|e| e <= b + s))
        })
    }

    /// A configuration address: mostly the device, else another slot, function or bus, or
    /// anything; the register biased to the header, BARs, capabilities and the extended space.
    fn config_addr(&mut self, inp: &mut Input) -> u32 {
        let reg = match inp.u8() % 10 {
            0 => 0x00,
            1 => 0x04,
            2 => 0x10 + 4 * (inp.u8() as u32 % 6),
            3 => 0x34,
            4 => 0x40 + inp.u8() as u32 % 0x40,
            5 => 0x3c + inp.u8() as u32 % 4,
            6 => inp.u16() as u32 % 0x1000,
            7 => 0xffc + inp.u8() as u32 % 8,
            _ => inp.u8() as u32,
        };
        let dev = match inp.u8() % 8 {
            0..=4 => DEV,
            5 => (inp.u8() as u32 % 32) << 11,
            6 => (inp.u8() as u32) << 8,
            _ => (inp.u8() as u32) << 16 | (inp.u8() as u32) << 8,
        };
        // The extended register bits live in the top nibble.
        if inp.u8().is_multiple_of(16) {
            return inp.u32();
        }
        dev | (reg & 0xff) | (reg & 0xf00) << 20
    }

    fn buid(&mut self, inp: &mut Input) -> (u32, u32) {
        match inp.u8() % 8 {
            0..=5 => (BUID_HI, BUID_LO),
            6 => (BUID_HI, BUID_LO + 1 + inp.u8() as u32 % 64),
            _ => (inp.u32(), inp.u32()),
        }
    }

    fn size(inp: &mut Input) -> u32 {
        match inp.u8() % 8 {
            0 | 1 => 4,
            2 => 2,
            3 => 1,
            4 => 0,
            5 => 3,
            6 => 8,
            _ => inp.u32(),
        }
    }

    fn value(&mut self, inp: &mut Input) -> u32 {
        match inp.u8() % 8 {
            0 => u32::MAX,
            1 => 0,
            // Command: memory, I/O, bus master, INTx off.
            2 => inp.pick(&[0x6u32, 0x7, 0x2, 0x406, 0x400]),
            3 => MEM32_BUS as u32 + ((inp.u16() as u32) << 12),
            4 => self.m.phbs[0].mem64_base as u32 + ((inp.u16() as u32) << 14),
            5 => (self.m.phbs[0].mem64_base >> 32) as u32,
            _ => inp.u32(),
        }
    }

    /// One RTAS configuration access with fuzz-chosen operands, checked against what the
    /// bridge must answer.
    fn config_call(&mut self, inp: &mut Input) {
        let which = inp.u8() % 4;
        let addr = self.config_addr(inp);
        let (hi, lo) = self.buid(inp);
        let size = Self::size(inp);
        let write = which & 1 != 0;
        let v = if write { self.value(inp) } else { 0 };
        let mut args = match which {
            0 => vec![addr, size],
            1 => vec![addr, size, v],
            2 => vec![addr, hi, lo, size],
            _ => vec![addr, hi, lo, size, v],
        };
        // Now and then a cell too many or too few.
        let shape = inp.u8();
        let well_formed = !shape.is_multiple_of(8);
        if !well_formed {
            if shape & 8 != 0 {
                args.push(inp.u32());
            } else {
                args.pop();
            }
        }
        let nret = if write { 1 } else { 2 };
        let r = self.rtas(SERVICES[which as usize], &args, nret);
        let reg = (addr & 0xff) | ((addr >> 20) & 0xf00);
        let ours = which < 2 || (hi, lo) == (BUID_HI, BUID_LO);
        let ok = well_formed
            && ours
            && (addr >> 8) & 0xffff == DEV >> 8
            && matches!(size, 1 | 2 | 4)
            && reg.is_multiple_of(size);
        if !well_formed {
            assert_eq!(r[0] as i32, RTAS_OUT_PARAM_ERROR, "bad argument count");
            return;
        }
        assert_eq!(
            r[0] == 0,
            ok,
            "config {} {addr:#x} size {size} on {hi:#x}/{lo:#x}: status {}",
            if write { "write" } else { "read" },
            r[0] as i32
        );
        if !write {
            if ok {
                assert!(size == 4 || r[1] >> (8 * size) == 0, "value too wide");
            } else {
                assert_eq!(r[1], u32::MAX, "a failed read is all ones");
            }
        }
    }

    fn msi_call(&mut self, inp: &mut Input) {
        let addr = match inp.u8() % 4 {
            0..=2 => DEV,
            _ => self.config_addr(inp),
        };
        let (hi, lo) = self.buid(inp);
        if inp.bool() {
            let func = inp.pick(&[1u32, 4, 4, 3, 5, 0, 2, 6]);
            let n = match inp.u8() % 6 {
                0 => 0,
                1 => 1,
                2 => 2,
                3 => 3,
                4 => 2048,
                _ => inp.u32(),
            };
            let seq = inp.u32();
            let r = self.rtas("ibm,change-msi", &[addr, hi, lo, func, n, seq], 4);
            if r[0] == 0 {
                // One vector per queue and one for configuration changes: 2 at most.
                assert!(r[1] <= n.min(2), "{} vectors granted for {n}", r[1]);
                assert_eq!(r[2], seq.wrapping_add(1));
            }
        } else {
            let k = inp.pick(&[0u32, 0, 1, 2, 0xffff, u32::MAX]);
            let r = self.rtas("ibm,query-interrupt-source-number", &[addr, hi, lo, k], 3);
            if r[0] == 0 {
                let (src, edge) = (r[1], r[2]);
                assert!(edge <= 1);
                let msi = spapr::machine::layout::MSI_BASE;
                assert!(
                    if edge == 1 { src >= msi } else { src < msi },
                    "source {src:#x}, edge {edge}"
                );
            }
        }
    }

    /// A load or store through the machine's bus.
    fn mmio(&mut self, inp: &mut Input) {
        let p = &self.m.phbs[0];
        let a = match inp.u8() % 10 {
            0 => p.io_base + inp.u16() as u64 % IO_WIN_SIZE,
            1 => p.mem32_base + (inp.u32() as u64 % MEM32_WIN_SIZE),
            2 => p.mem64_base + (inp.u64() % MEM64_WIN_SIZE),
            3 => p.mem64_base + MEM64_WIN_SIZE - 1 - inp.u8() as u64 % 8,
            4 | 5 => {
                let (b, _) = self.bar(BAR_VIRTIO);
                let off = match inp.u8() % 4 {
                    // The common configuration, the ISR, the doorbells.
                    0 => inp.u8() as u64 % 0x40,
                    1 => 0x1000,
                    2 => 0x3000 + 4 * (inp.u8() as u64 % 4),
                    _ => inp.u16() as u64 % 0x4100,
                };
                self.cpu_addr(b).unwrap_or(b).wrapping_add(off)
            }
            6 => {
                let (b, _) = self.bar(BAR_MSIX);
                let off = inp.u16() as u64 % 0x1100;
                self.cpu_addr(b).unwrap_or(b).wrapping_add(off)
            }
            7 => PCI_BASE - 1 - inp.u8() as u64 % 8,
            8 => spapr::pci::MSI_WINDOW + inp.u8() as u64,
            _ => inp.u64(),
        };
        let n = inp.pick(&[1usize, 2, 4, 8, 8, 3, 16]);
        let inside = self.in_window(a, n as u64);
        let claimed = if inp.bool() {
            let v = inp.u64().to_le_bytes();
            let mut d = [0u8; 16];
            for (k, b) in d.iter_mut().enumerate().take(n) {
                *b = v[k % 8];
            }
            self.m.bus.write(a, &d[..n])
        } else {
            let mut d = [0u8; 16];
            self.m.bus.read(a, &mut d[..n])
        };
        crate::trace!("mmio {a:#x}+{n}: claimed {claimed}");
        assert_eq!(
            claimed, inside,
            "an access at {a:#x}+{n} claimed {claimed}, in a window {inside}"
        );
    }

    fn run(&mut self, inp: &mut Input) {
        for _ in 0..MAX_OPS {
            if inp.is_empty() {
                break;
            }
            match inp.u8() % 12 {
                0..=3 => self.config_call(inp),
                4 => {
                    let i = inp.u8() as u32 % 6;
                    self.size_bar(i);
                }
                5 => {
                    let v = self.value(inp);
                    self.write(0x04, 2, v & 0xffff);
                }
                6 => self.check_identity(),
                7 => self.msi_call(inp),
                8 | 9 => self.mmio(inp),
                10 => {
                    // BAR 4 (both halves) or BAR 1 moved somewhere.
                    let v = self.value(inp);
                    match inp.u8() % 3 {
                        0 => self.write(0x10 + 4 * BAR_MSIX as u32, 4, v),
                        1 => self.write(0x10 + 4 * BAR_VIRTIO as u32, 4, v),
                        _ => self.write(0x14 + 4 * BAR_VIRTIO as u32, 4, v),
                    }
                    self.check_decode();
                }
                _ => {
                    self.m.phbs[0].reset();
                    self.check_assignment();
                }
            }
        }
    }
}

pub fn pci_config(data: &[u8]) {
    let mut inp = Input::new(data);
    let b0 = inp.u8();
    let m = machine(CpuModel::ALL[b0 as usize & 3]);
    let c = cpu(&m, 0);
    let mut h = Harness { m, c };
    h.check_assignment();
    h.run(&mut inp);
    h.check_identity();
}
