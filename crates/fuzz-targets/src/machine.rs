//! The small pieces every machine-level target shares: a 64 MiB machine with its console dropped, a
//! supervisor-state vCPU wired to it as `boot.rs` wires vCPU 0, the list of implemented hcall
//! numbers, and argument decoders biased toward values handlers treat specially.

use crate::input::Input;
use ppc::cpu::{msr, sprn};
use ppc::{Cpu, CpuModel};
use spapr::{Machine, MachineConfig};
use std::sync::OnceLock;

/// The smallest RAM the machine accepts; it is mapped lazily, so only touched pages cost.
pub const RAM: u64 = spapr::machine::MIN_RAM;

/// Where targets put fuzz-provided data in guest memory.
pub const DATA: u64 = 0x10_0000;
pub const DATA_MAX: usize = 0x1_0000;

/// A fresh machine per input: creating one costs tens of microseconds, and a fresh one keeps
/// inputs independent (reproducible crashes) without resetting every device by hand.
pub fn machine(model: CpuModel, smp: u32) -> Machine {
    let cfg = MachineConfig {
        ram_size: RAM,
        smp,
        cpu_model: model,
        ..Default::default()
    };
    Machine::new(cfg, Box::new(std::io::sink())).expect("a 64 MiB machine")
}

/// vCPU `id` of `m` in supervisor state, big-endian, 64-bit, with the partition's MMU state, as
/// the boot flow sets up vCPU 0.
pub fn cpu(m: &Machine, id: usize) -> Cpu {
    let model = m.config.cpu_model;
    let mut c = Cpu::new(model, m.mem.clone());
    c.spr[sprn::PIR] = id as u64;
    c.spr[sprn::PVR] = model.pvr() as u64;
    if let Some(irq) = m
        .cpus
        .lock()
        .ok()
        .and_then(|s| s.get(id).map(|s| s.irq.clone()))
    {
        c.irq = irq;
    }
    c.async_irqs = true;
    c.set_msr(msr::SF | msr::ME);
    if let Ok(st) = m.cpu_state.lock() {
        spapr::machine::apply_cpu_state(&mut c, &st);
    }
    c
}

/// Every hcall number the machine implements. `spapr::hcall` has no public list, so probe
/// `lookup` over the PAPR range (multiples of 4 up to 0x500) and the KVM/QEMU-private range.
pub fn hcall_numbers() -> &'static [u64] {
    static NRS: OnceLock<Vec<u64>> = OnceLock::new();
    NRS.get_or_init(|| {
        (0..=0x500u64)
            .step_by(4)
            .chain(0xef00..=0xf100)
            .filter(|&n| spapr::hcall::lookup(n).is_some())
            .collect()
    })
}

/// A 64-bit hcall argument: zero, small, a RAM or data-window address, the last bytes of RAM,
/// all ones, a single bit, a DMA window's LIOBN (the default bridge's or the next one's), or
/// anything.
pub fn arg64(inp: &mut Input, prev: u64) -> u64 {
    let tag = inp.u8();
    match tag & 0xf {
        0 => 0,
        1 => inp.u8() as u64,
        2 => (inp.u32() as u64 % RAM) & !7,
        3 => RAM - 1 - inp.u8() as u64,
        4 => u64::MAX - inp.u8() as u64,
        5 => 1 << (inp.u8() & 63),
        6 => prev,
        7 => -(inp.u8() as i64) as u64,
        8 => DATA + inp.u16() as u64,
        9 => inp.u16() as u64,
        10 => (inp.u8() as u64) << 56 | inp.u16() as u64,
        11 => inp.u32() as u64,
        12 => spapr::pci::liobn(inp.u8() as u32 & 1) as u64,
        _ => inp.u64(),
    }
}

/// A 32-bit RTAS / client-interface cell, with the same biases.
pub fn arg32(inp: &mut Input) -> u32 {
    let tag = inp.u8();
    match tag & 7 {
        0 => 0,
        1 => inp.u8() as u32,
        2 => DATA as u32 + inp.u16() as u32,
        3 => (RAM as u32).wrapping_sub(inp.u8() as u32),
        4 => u32::MAX - inp.u8() as u32,
        5 => inp.u32() % RAM as u32,
        _ => inp.u32(),
    }
}

/// Copies up to `DATA_MAX` bytes (length from the input) to the data window.
pub fn load_data(m: &Machine, inp: &mut Input) {
    let n = inp.u16() as usize % (DATA_MAX + 1);
    let bytes = inp.bytes(n);
    assert!(m.mem.write(DATA, bytes), "data window inside RAM");
}

/// Writes `words` big-endian at `at`, each word only if it lies inside RAM, so a block may start
/// just below the end of RAM and run off it.
pub fn write_words(m: &Machine, at: u64, words: &[u32]) {
    for (i, w) in words.iter().enumerate() {
        if let Some(a) = at.checked_add(4 * i as u64) {
            let _ = m.mem.write(a, &w.to_be_bytes());
        }
    }
}
