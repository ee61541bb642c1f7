//! `insn_exec`: arbitrary instruction words run on a `ppc::Cpu` of any model, in either byte
//! order, problem or supervisor state, real mode or translated (radix or hash), through `ppc::run`
//! (the decode cache) and `ppc::step`, with every exception delivered as an interrupt so execution
//! continues at the vector (which holds the same fuzz code).
//!
//! Input: 12 header bytes, then the code.
//! - byte 0: model (bits 0-1), LE (2), PR (3), IR (4), DR (5), MMU (6-7: none, radix, hash, hash
//!   table present but real mode)
//! - byte 1: FP (0), VEC (1), VSX (2), EE (3), 32-bit mode (4), async interrupts (5), AIL (6-7)
//! - byte 2: LPCR[ILE] (0), PCR compat (1-2), step before run (3), initial PIDR nonzero (4),
//!   engine (5-6: default; every block translated and checked against the interpreter in
//!   lockstep, where a divergence fails the input; every block translated and chained)
//! - byte 3: start pc (word index in the first page)
//! - bytes 4-11: seed of the register file

use crate::input::Input;
use ppc::cpu::{lpcr, msr, sprn};
use ppc::jit::{JitConfig, JitMode};
use ppc::mmu::{hpte, pte, slb, Hpt, SlbEntry};
use ppc::{Cpu, CpuModel, DecodeCache, Exception, GuestMemory};
use std::cell::RefCell;
use std::sync::{Arc, OnceLock};

/// Guest memory: enough for the vectors (up to 0x18f60 with AIL=2), the page tables and data.
const MEM: u64 = 1 << 20;
/// Instructions executed per input, over all rounds.
const BUDGET: u64 = 10_000;
/// Interrupts delivered per input before giving up (an input that faults in a loop).
const ROUNDS: usize = 32;
/// Single steps after the run phase.
const STEPS: usize = 64;
/// Most code bytes taken from the input.
const MAX_CODE: usize = 0x4000;
/// Pages that receive a copy of the first code page: the real-mode vectors (0x0-0xfff), the AIL=3
/// vectors (0x4000 + vec, via the 0xc000... mapping), the AIL=2 vectors (0x18000 + vec), and the
/// scv vectors (0x17000 and, with AIL=3, 0x3000).
const CODE_MIRRORS: [u64; 4] = [0x3000, 0x4000, 0x17000, 0x18000];

/// Radix tables: process table, then a 3-level tree (root of 2^13 entries, two 512-entry levels)
/// whose leaf maps the first 2 MiB of both quadrant 0 and quadrant 3 onto real address 0.
const RADIX_ROOT: u64 = 0xe_0000;
const RADIX_L2: u64 = 0xf_0000;
const RADIX_L3: u64 = 0xf_1000;
const RADIX_PRTB: u64 = 0xf_2000;

/// Hashed page table: the smallest the ISA allows, holding 4 KiB pages of the first 1 MiB for
/// VSID 0 (EA 0...) and VSID 1 (EA 0xc000...).
const HPT_SHIFT: u32 = Hpt::MIN_SHIFT;

thread_local! {
    /// One decode cache per thread and engine, cleared per input: allocating its pages anew each
    /// time would cost more than running the input.
    static CACHE: RefCell<DecodeCache> = RefCell::new(DecodeCache::with_budget(0));
    static CACHE_CHECK: RefCell<DecodeCache> =
        RefCell::new(DecodeCache::with_config(1 << 20, JitConfig::eager(JitMode::Check)));
    static CACHE_JIT: RefCell<DecodeCache> =
        RefCell::new(DecodeCache::with_config(1 << 20, JitConfig::eager(JitMode::On)));
}

/// The hash table never changes after it is built (the guest cannot write it, and R/C are preset),
/// so every input shares it.
fn shared_hpt() -> Arc<Hpt> {
    static HPT: OnceLock<Arc<Hpt>> = OnceLock::new();
    HPT.get_or_init(|| {
        let hpt = Hpt::new(HPT_SHIFT).expect("HPT mapping");
        let groups = hpt.entries() / 8;
        for page in 0..MEM >> 12 {
            let r = page << 12 | hpte::R | hpte::C | 0b10; // PP=010: read/write under either key
            for (vsid, slot) in [(0u64, 0u64), (1, 1)] {
                // Primary hash of a 256 MiB segment with 4 KiB pages: VSID ^ page.
                let group = (vsid ^ page) & (groups - 1);
                let v = vsid << 12 | hpte::V;
                assert!(hpt.write(group * 8 + slot, v, r), "HPTE inside the table");
            }
        }
        Arc::new(hpt)
    })
    .clone()
}

fn setup_radix(cpu: &mut Cpu) {
    let w = |a: u64, v: u64| cpu.mem.write(a, &v.to_be_bytes());
    // RTS = 52 bits (RTS1=0b10, RTS2=0b101), root NLS = 13.
    let prte0 = (0b10u64 << 61) | RADIX_ROOT | (0b101 << 5) | 13;
    let leaf = pte::V | pte::L | pte::R | pte::C | pte::READ | pte::RW | pte::EXEC;
    let ok = w(RADIX_PRTB, prte0)
        && w(RADIX_ROOT, pte::V | RADIX_L2 | 9)
        && w(RADIX_L2, pte::V | RADIX_L3 | 9)
        && w(RADIX_L3, leaf);
    assert!(ok, "radix tables inside guest memory");
    cpu.pate[1] = RADIX_PRTB; // PRTS 0: 256 process table entries
    cpu.spr[sprn::LPCR] |= lpcr::HR;
}

fn setup_hash(cpu: &mut Cpu) {
    let hpt = shared_hpt();
    cpu.pate[0] = hpt.pate0();
    cpu.hpt = Some(hpt);
    cpu.slb[0] = SlbEntry {
        esid: slb::V,
        vsid: 0,
    };
    cpu.slb[1] = SlbEntry {
        esid: 0xc000_0000_0000_0000 | slb::V,
        vsid: 1 << 12,
    };
}

/// splitmix64: spreads the 8-byte seed over the register file.
fn mix(s: &mut u64) -> u64 {
    *s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *s;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A register value: often an address inside memory (so loads and stores land), sometimes an
/// edge value, sometimes anything.
fn reg_value(s: &mut u64) -> u64 {
    let r = mix(s);
    match r & 7 {
        0..=2 => ((r >> 8) % MEM) & !7,
        3 => 0,
        4 => u64::MAX - (r >> 60),
        5 => 0xc000_0000_0000_0000 | ((r >> 8) % MEM),
        _ => r,
    }
}

fn seed_registers(cpu: &mut Cpu, mut seed: u64) {
    for i in 0..32 {
        cpu.gpr[i] = reg_value(&mut seed);
    }
    for v in cpu.vsr.iter_mut() {
        *v = [mix(&mut seed), mix(&mut seed)];
    }
    cpu.cr = mix(&mut seed) as u32;
    cpu.lr = reg_value(&mut seed);
    cpu.ctr = mix(&mut seed) & 0xff;
    cpu.xer.set(mix(&mut seed));
    cpu.fpscr = mix(&mut seed) & 0xffff_ffff;
    cpu.tar = reg_value(&mut seed);
}

/// Invariants that hold after any instruction: the run loop keeps `pc` word aligned and inside the
/// 32-bit space when MSR[SF]=0, the cached MSR-derived fields agree with MSR, and the decode cache
/// stays within its capacity.
fn check(cpu: &Cpu, cache: &DecodeCache) {
    assert_eq!(cpu.pc & 3, 0, "pc {:#x} not word aligned", cpu.pc);
    if !cpu.sf() {
        assert!(cpu.pc <= u32::MAX as u64, "pc {:#x} in 32-bit mode", cpu.pc);
    }
    assert_eq!(cpu.le, cpu.msr & msr::LE != 0, "cached MSR[LE] stale");
    let mask = if cpu.sf() { u64::MAX } else { 0xffff_ffff };
    assert_eq!(cpu.ea_mask, mask, "cached EA mask stale");
    assert!(cache.len() <= cache.capacity(), "decode cache over budget");
}

/// Takes the interrupt for `e`; a hypercall (which `deliver` must not see) fails as an unknown one
/// would.
fn take(cpu: &mut Cpu, e: Exception) {
    match e {
        Exception::SystemCall { lev: 1 } if !cpu.pr() => cpu.gpr[3] = -2i64 as u64,
        _ => cpu.deliver(e),
    }
}

pub fn insn_exec(data: &[u8]) {
    let mut inp = Input::new(data);
    let (b0, b1, b2, b3) = (inp.u8(), inp.u8(), inp.u8(), inp.u8());
    let seed = inp.u64();
    let code = inp.bytes(MAX_CODE);

    let mem = Arc::new(GuestMemory::new(MEM).expect("guest memory mapping"));
    if !code.is_empty() {
        // The first page repeats the code so every real-mode vector holds some of it.
        let mut page = [0u8; 4096];
        for (i, b) in page.iter_mut().enumerate() {
            *b = code[i % code.len()];
        }
        let mut ok = mem.write(0, &page) && mem.write(0, code);
        for at in CODE_MIRRORS {
            ok &= mem.write(at, &page);
        }
        assert!(ok, "code inside guest memory");
    }

    let model = CpuModel::ALL[b0 as usize & 3];
    let mut cpu = Cpu::new(model, mem);
    cpu.spr[sprn::PVR] = model.pvr() as u64;
    seed_registers(&mut cpu, seed);

    let mut m = msr::ME;
    for (bit, flag) in [
        (b0 >> 2, msr::LE),
        (b0 >> 3, msr::PR),
        (b0 >> 4, msr::IR),
        (b0 >> 5, msr::DR),
        (b1, msr::FP),
        (b1 >> 1, msr::VEC),
        (b1 >> 2, msr::VSX),
        (b1 >> 3, msr::EE),
    ] {
        if bit & 1 != 0 {
            m |= flag;
        }
    }
    if b1 & 0x10 == 0 {
        m |= msr::SF;
    }
    match b0 >> 6 {
        1 => setup_radix(&mut cpu),
        2 => setup_hash(&mut cpu),
        3 => {
            setup_hash(&mut cpu);
            m &= !(msr::IR | msr::DR);
        }
        _ => m &= !(msr::IR | msr::DR),
    }
    cpu.async_irqs = b1 & 0x20 != 0;
    cpu.spr[sprn::LPCR] |= ((b1 >> 6) as u64) << lpcr::AIL_SHIFT;
    if b2 & 1 != 0 {
        cpu.spr[sprn::LPCR] |= lpcr::ILE;
    }
    // The PCR values a hypervisor sets for compat modes: none, 3.0, 2.07, 2.06.
    cpu.spr[sprn::PCR] = [0, 0x10, 0x18, 0x1c][(b2 >> 1) as usize & 3];
    if b2 & 0x10 != 0 {
        cpu.spr[sprn::PIDR] = 1;
    }
    cpu.set_msr(m);
    cpu.pc = (b3 as u64) << 2;
    if m & msr::SF == 0 {
        cpu.gpr.iter_mut().for_each(|r| *r &= 0xffff_ffff);
    }

    let engine = match b2 >> 5 & 3 {
        1 => &CACHE_CHECK,
        2 => &CACHE_JIT,
        _ => &CACHE,
    };
    let divergences = ppc::jit::divergences();
    engine.with(|c| {
        let mut cache = c.borrow_mut();
        cache.clear();
        if b2 & 8 != 0 {
            steps(&mut cpu, &cache, STEPS / 4);
        }
        let mut left = BUDGET;
        for _ in 0..ROUNDS {
            let before = cpu.icount;
            let r = ppc::run(&mut cpu, &mut cache, left);
            crate::trace!(
                "insn_exec: {} insns, pc {:#x} msr {:#x}: {r:?}",
                cpu.icount - before,
                cpu.pc,
                cpu.msr
            );
            check(&cpu, &cache);
            // An exception on the first instruction retires none: count it so the loop ends.
            left = left.saturating_sub((cpu.icount - before).max(1));
            match r {
                Ok(()) => break,
                Err(e) => take(&mut cpu, e),
            }
            check(&cpu, &cache);
            if left == 0 {
                break;
            }
        }
        steps(&mut cpu, &cache, STEPS);
    });
    assert_eq!(
        ppc::jit::divergences(),
        divergences,
        "the translator diverged from the interpreter (see the report above)"
    );
}

fn steps(cpu: &mut Cpu, cache: &DecodeCache, n: usize) {
    for _ in 0..n {
        if let Err(e) = ppc::step(cpu) {
            take(cpu, e);
        }
        check(cpu, cache);
    }
}
