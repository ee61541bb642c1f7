//! The process start state Linux/ppc64 gives a new program: argc/argv/envp/auxv on the stack
//! (fs/binfmt_elf.c create_elf_tables with powerpc's ARCH_DLINFO), and the hardware capability
//! bits it reports for a POWER9.

use crate::elf::Elf;
use crate::guest::Guest;
use crate::mm::PAGE;
use ppc::cpu::msr;
use ppc::{Cpu, CpuModel, Exception, GuestMemory};
use std::sync::Arc;

const AT_NULL: u64 = 0;
const AT_PHDR: u64 = 3;
const AT_PHENT: u64 = 4;
const AT_PHNUM: u64 = 5;
const AT_PAGESZ: u64 = 6;
const AT_BASE: u64 = 7;
const AT_FLAGS: u64 = 8;
const AT_ENTRY: u64 = 9;
const AT_UID: u64 = 11;
const AT_EUID: u64 = 12;
const AT_GID: u64 = 13;
const AT_EGID: u64 = 14;
const AT_PLATFORM: u64 = 15;
const AT_HWCAP: u64 = 16;
const AT_CLKTCK: u64 = 17;
const AT_DCACHEBSIZE: u64 = 19;
const AT_ICACHEBSIZE: u64 = 20;
const AT_UCACHEBSIZE: u64 = 21;
const AT_IGNOREPPC: u64 = 22;
const AT_SECURE: u64 = 23;
const AT_BASE_PLATFORM: u64 = 24;
const AT_RANDOM: u64 = 25;
const AT_HWCAP2: u64 = 26;
const AT_EXECFN: u64 = 31;
const AT_L1I_CACHESIZE: u64 = 40;
const AT_L1I_CACHEGEOMETRY: u64 = 41;
const AT_L1D_CACHESIZE: u64 = 42;
const AT_L1D_CACHEGEOMETRY: u64 = 43;

/// AT_HWCAP bits (Linux arch/powerpc/include/uapi/asm/cputable.h).
pub mod hwcap {
    pub const PPC32: u64 = 0x8000_0000;
    pub const PPC64: u64 = 0x4000_0000;
    pub const ALTIVEC: u64 = 0x1000_0000;
    pub const FPU: u64 = 0x0800_0000;
    pub const MMU: u64 = 0x0400_0000;
    pub const SMT: u64 = 0x0000_4000;
    pub const ICACHE_SNOOP: u64 = 0x0000_2000;
    pub const ARCH_2_06: u64 = 0x0000_0100;
    pub const VSX: u64 = 0x0000_0080;
    pub const PSERIES_PERFMON_COMPAT: u64 = 0x0000_0040;
    pub const TRUE_LE: u64 = 0x0000_0002;
}

/// AT_HWCAP2 bits.
pub mod hwcap2 {
    pub const ARCH_2_07: u64 = 0x8000_0000;
    pub const DSCR: u64 = 0x2000_0000;
    pub const ISEL: u64 = 0x0800_0000;
    pub const TAR: u64 = 0x0400_0000;
    pub const VEC_CRYPTO: u64 = 0x0200_0000;
    pub const ARCH_3_00: u64 = 0x0080_0000;
    pub const DARN: u64 = 0x0020_0000;
    pub const SCV: u64 = 0x0010_0000;
}

/// Linux on a POWER9 reports COMMON_USER_POWER9 plus ALTIVEC/VSX (from the device tree) in
/// AT_HWCAP. Left out because the core lacks them: HAS_DFP (no decimal FP).
pub const HWCAP: u64 = hwcap::PPC32
    | hwcap::PPC64
    | hwcap::ALTIVEC
    | hwcap::FPU
    | hwcap::MMU
    | hwcap::SMT
    | hwcap::ICACHE_SNOOP
    | hwcap::ARCH_2_06
    | hwcap::VSX
    | hwcap::PSERIES_PERFMON_COMPAT
    | hwcap::TRUE_LE;

/// The AT_HWCAP2 bits of COMMON_USER2_POWER9 always given. Never given because the core lacks
/// them: HTM_COMP/HTM_NOSC_COMP (no transactional memory), HAS_IEEE128 (no quad-precision FP);
/// EBB is not reported (no PMU). The rest of the POWER9 set is in `HWCAP2_PROBED`.
const HWCAP2_BASE: u64 = hwcap2::ARCH_2_07 | hwcap2::ARCH_3_00;

/// Optional POWER9 features, reported only if the core executes this instruction word (given
/// little-endian): a feature bit must never promise an instruction that then traps.
const HWCAP2_PROBED: [(u64, u32); 6] = [
    (hwcap2::ISEL, 0x7c64_281e),       // isel r3,r4,r5,lt
    (hwcap2::DSCR, 0x7c63_02a6),       // mfspr r3,3 (problem-state DSCR)
    (hwcap2::TAR, 0x7c6f_caa6),        // mfspr r3,815 (TAR)
    (hwcap2::VEC_CRYPTO, 0x1000_0508), // vcipher v0,v0,v0
    (hwcap2::DARN, 0x7c61_05e6),       // darn r3,1
    (hwcap2::SCV, 0x4400_0001),        // scv 0
];

/// Runs one instruction on a scratch CPU; true if it completes as a problem-state program expects
/// (scv completes by raising the vectored system call).
fn executes(word: u32) -> bool {
    let Ok(mem) = GuestMemory::new(PAGE) else {
        return false;
    };
    let mem = Arc::new(mem);
    if !mem.write(0, &word.to_le_bytes()) {
        return false;
    }
    let mut cpu = Cpu::new(CpuModel::Power9, mem);
    cpu.set_msr(msr::SF | msr::PR | msr::FP | msr::VEC | msr::VSX | msr::LE);
    match ppc::step(&mut cpu) {
        Ok(()) => true,
        Err(Exception::SystemCallVectored { lev: 0 }) => word == 0x4400_0001,
        Err(_) => false,
    }
}

/// AT_HWCAP2 for this core: the POWER9 set minus what it cannot execute.
pub fn hwcap2() -> u64 {
    // The core reports every illegal word it decodes; probes are not the guest's doing.
    let quiet = std::env::var_os("LPAR_QUIET_ILLEGAL");
    std::env::set_var("LPAR_QUIET_ILLEGAL", "1");
    let mut v = HWCAP2_BASE;
    for (bit, word) in HWCAP2_PROBED {
        if executes(word) {
            v |= bit;
        }
    }
    if quiet.is_none() {
        std::env::remove_var("LPAR_QUIET_ILLEGAL");
    }
    v
}

/// Everything the initial stack describes.
pub struct Start<'a> {
    pub argv: &'a [Vec<u8>],
    pub envp: &'a [Vec<u8>],
    /// The program path as given (AT_EXECFN).
    pub execfn: &'a [u8],
    pub elf: &'a Elf,
    pub hwcap2: u64,
    pub random: [u8; 16],
    pub ids: [u64; 4],
}

/// Pushes NUL-terminated bytes below `*p`; returns the address.
fn push_str(g: &Guest, p: &mut u64, floor: u64, s: &[u8]) -> Result<u64, String> {
    let need = s.len() as u64 + 1;
    let a = p
        .checked_sub(need)
        .filter(|&a| a >= floor)
        .ok_or("arguments and environment do not fit on the stack")?;
    g.write(a, s).map_err(|_| "stack outside guest memory")?;
    g.write(a + s.len() as u64, &[0])
        .map_err(|_| "stack outside guest memory")?;
    *p = a;
    Ok(a)
}

/// Writes the initial stack below `top` (not below `floor`) and returns the initial r1, which
/// points at argc as Linux leaves it (16-byte aligned, no back chain).
pub fn build(g: &Guest, top: u64, floor: u64, s: &Start) -> Result<u64, String> {
    // Linux keeps one pointer-sized zero at the very top, then the strings.
    let mut p = top - 8;
    g.write(p, &[0; 8])
        .map_err(|_| "stack outside guest memory")?;
    let execfn = push_str(g, &mut p, floor, s.execfn)?;
    let mut envp = vec![0u64; s.envp.len()];
    for (i, e) in s.envp.iter().enumerate().rev() {
        envp[i] = push_str(g, &mut p, floor, e)?;
    }
    let mut argv = vec![0u64; s.argv.len()];
    for (i, a) in s.argv.iter().enumerate().rev() {
        argv[i] = push_str(g, &mut p, floor, a)?;
    }
    let platform = push_str(g, &mut p, floor, b"power9")?;
    let base_platform = push_str(g, &mut p, floor, b"power9")?;
    p = (p - 16) & !15;
    let random = p;
    g.write(random, &s.random)
        .map_err(|_| "stack outside guest memory")?;

    let e = s.elf;
    let geometry = 8 << 16 | 128; // POWER9 L1: 32 KiB, 8-way, 128-byte lines
    let auxv: [(u64, u64); 29] = [
        // powerpc ARCH_DLINFO comes first; the two AT_IGNOREPPC keep old glibc's auxv scan happy.
        (AT_IGNOREPPC, AT_IGNOREPPC),
        (AT_IGNOREPPC, AT_IGNOREPPC),
        (AT_DCACHEBSIZE, 128),
        (AT_ICACHEBSIZE, 128),
        (AT_UCACHEBSIZE, 0),
        (AT_L1I_CACHESIZE, 32 * 1024),
        (AT_L1I_CACHEGEOMETRY, geometry),
        (AT_L1D_CACHESIZE, 32 * 1024),
        (AT_L1D_CACHEGEOMETRY, geometry),
        (AT_HWCAP, HWCAP),
        (AT_PAGESZ, PAGE),
        (AT_CLKTCK, 100),
        (AT_PHDR, e.phdr_addr),
        (AT_PHENT, 56),
        (AT_PHNUM, e.phnum),
        (AT_BASE, 0),
        (AT_FLAGS, 0),
        (AT_ENTRY, e.entry),
        (AT_UID, s.ids[0]),
        (AT_EUID, s.ids[1]),
        (AT_GID, s.ids[2]),
        (AT_EGID, s.ids[3]),
        (AT_SECURE, 0),
        (AT_RANDOM, random),
        (AT_HWCAP2, s.hwcap2),
        (AT_EXECFN, execfn),
        (AT_PLATFORM, platform),
        (AT_BASE_PLATFORM, base_platform),
        (AT_NULL, 0),
    ];
    let words = 1 + argv.len() + 1 + envp.len() + 1 + 2 * auxv.len();
    let sp = p
        .checked_sub(words as u64 * 8)
        .filter(|&a| a >= floor)
        .ok_or("arguments and environment do not fit on the stack")?
        & !15;
    let mut v: Vec<u64> = Vec::with_capacity(words);
    v.push(argv.len() as u64);
    v.extend_from_slice(&argv);
    v.push(0);
    v.extend_from_slice(&envp);
    v.push(0);
    for (k, val) in auxv {
        v.push(k);
        v.push(val);
    }
    let bytes: Vec<u8> = v.iter().flat_map(|&w| g.enc64(w)).collect();
    g.write(sp, &bytes)
        .map_err(|_| "stack outside guest memory")?;
    Ok(sp)
}

/// Sets the registers as Linux's start_thread does for a 64-bit task: everything zero except r1,
/// and r12 = entry (ELFv2) or the function descriptor's code address and r2 = its TOC (ELFv1).
pub fn init_regs(cpu: &mut Cpu, g: &Guest, elf: &Elf, sp: u64) -> Result<(), String> {
    let le = if elf.le { msr::LE } else { 0 };
    // FP, VMX and VSX are usable at once (Linux enables them lazily, invisibly to the program).
    cpu.set_msr(msr::SF | msr::PR | msr::EE | msr::FP | msr::VEC | msr::VSX | le);
    cpu.gpr = [0; 32];
    cpu.gpr[1] = sp;
    if elf.elfv2 {
        cpu.pc = elf.entry;
        cpu.gpr[12] = elf.entry;
    } else {
        let bad = |_| {
            format!(
                "entry function descriptor at {:#x} is not in guest memory",
                elf.entry
            )
        };
        cpu.pc = g.read_u64(elf.entry).map_err(bad)?;
        cpu.gpr[2] = g.read_u64(elf.entry.wrapping_add(8)).map_err(bad)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf::Segment;

    fn elf(le: bool, elfv2: bool) -> Elf {
        Elf {
            le,
            elfv2,
            entry: 0x1000_0100,
            phdr_addr: 0x1000_0040,
            phnum: 6,
            segments: vec![Segment {
                vaddr: 0x1000_0000,
                memsz: 0x1000,
                offset: 0,
                filesz: 0x1000,
            }],
        }
    }

    fn read_str(g: &Guest, a: u64) -> Vec<u8> {
        g.cstring(a).unwrap().into_bytes()
    }

    #[test]
    fn stack_layout_matches_linux() {
        for le in [true, false] {
            let g = Guest {
                mem: Arc::new(GuestMemory::new(0x40_0000).unwrap()),
                le,
            };
            let e = elf(le, le);
            let argv = [b"prog".to_vec(), b"arg one".to_vec()];
            let envp = [b"A=1".to_vec()];
            let s = Start {
                argv: &argv,
                envp: &envp,
                execfn: b"./prog",
                elf: &e,
                hwcap2: 0x1234,
                random: [7; 16],
                ids: [1, 2, 3, 4],
            };
            let sp = build(&g, 0x40_0000, 0x30_0000, &s).unwrap();
            assert_eq!(sp % 16, 0);
            assert_eq!(g.read_u64(sp).unwrap(), 2, "argc");
            assert_eq!(read_str(&g, g.read_u64(sp + 8).unwrap()), b"prog");
            assert_eq!(read_str(&g, g.read_u64(sp + 16).unwrap()), b"arg one");
            assert_eq!(g.read_u64(sp + 24).unwrap(), 0);
            assert_eq!(read_str(&g, g.read_u64(sp + 32).unwrap()), b"A=1");
            assert_eq!(g.read_u64(sp + 40).unwrap(), 0);
            let mut aux = std::collections::HashMap::new();
            let mut a = sp + 48;
            loop {
                let k = g.read_u64(a).unwrap();
                let v = g.read_u64(a + 8).unwrap();
                a += 16;
                if k == AT_NULL {
                    break;
                }
                aux.insert(k, v);
            }
            assert_eq!(aux[&AT_PAGESZ], 65536);
            assert_eq!(aux[&AT_PHDR], 0x1000_0040);
            assert_eq!(aux[&AT_PHENT], 56);
            assert_eq!(aux[&AT_PHNUM], 6);
            assert_eq!(aux[&AT_ENTRY], 0x1000_0100);
            assert_eq!(aux[&AT_HWCAP2], 0x1234);
            assert_eq!(aux[&AT_UID], 1);
            assert_eq!(aux[&AT_EGID], 4);
            assert_eq!(aux[&AT_SECURE], 0);
            assert_eq!(aux[&AT_DCACHEBSIZE], 128);
            assert_eq!(read_str(&g, aux[&AT_EXECFN]), b"./prog");
            assert_eq!(read_str(&g, aux[&AT_PLATFORM]), b"power9");
            assert_eq!(read_str(&g, aux[&AT_BASE_PLATFORM]), b"power9");
            let mut r = [0u8; 16];
            g.read(aux[&AT_RANDOM], &mut r).unwrap();
            assert_eq!(r, [7; 16]);
            assert!(!aux.contains_key(&33), "no vDSO");
            // Strings sit above the vectors, argv strings below envp strings as in Linux.
            assert!(g.read_u64(sp + 8).unwrap() < g.read_u64(sp + 32).unwrap());
            assert!(aux[&AT_EXECFN] < 0x40_0000 - 8);
        }
    }

    #[test]
    fn oversized_environment_is_an_error() {
        let g = Guest {
            mem: Arc::new(GuestMemory::new(0x10_0000).unwrap()),
            le: true,
        };
        let e = elf(true, true);
        let envp = vec![vec![b'x'; 5000]; 20];
        let s = Start {
            argv: &[],
            envp: &envp,
            execfn: b"p",
            elf: &e,
            hwcap2: 0,
            random: [0; 16],
            ids: [0; 4],
        };
        assert!(build(&g, 0x10_0000, 0xf_0000, &s).is_err());
    }

    #[test]
    fn registers_for_both_abis() {
        let g = Guest {
            mem: Arc::new(GuestMemory::new(0x2000_0000).unwrap()),
            le: false,
        };
        let mut cpu = Cpu::new(CpuModel::Power9, g.mem.clone());
        cpu.gpr[3] = 99;
        let v2 = elf(true, true);
        init_regs(&mut cpu, &g, &v2, 0x1234_0000).unwrap();
        assert_eq!(
            (cpu.pc, cpu.gpr[12], cpu.gpr[1], cpu.gpr[3]),
            (0x1000_0100, 0x1000_0100, 0x1234_0000, 0)
        );
        assert!(cpu.le && cpu.pr());
        // ELFv1: e_entry addresses the descriptor {code, toc}.
        let v1 = elf(false, false);
        g.write_u64(0x1000_0100, 0x1000_0800).unwrap();
        g.write_u64(0x1000_0108, 0x1002_8000).unwrap();
        init_regs(&mut cpu, &g, &v1, 0x1234_0000).unwrap();
        assert_eq!(
            (cpu.pc, cpu.gpr[2], cpu.gpr[12]),
            (0x1000_0800, 0x1002_8000, 0)
        );
        assert!(!cpu.le);
        let mut bad = elf(false, false);
        bad.entry = u64::MAX - 4;
        assert!(init_regs(&mut cpu, &g, &bad, 0).is_err());
    }

    #[test]
    fn hwcaps_exclude_what_the_core_lacks() {
        // Facts from Linux cputable: these are the POWER9 bits; DFP, HTM and IEEE128 are absent.
        assert_eq!(HWCAP & 0x0000_0400, 0, "no DFP");
        let h2 = hwcap2();
        assert_eq!(h2 & 0x4000_0000, 0, "no HTM");
        assert_eq!(h2 & 0x0040_0000, 0, "no IEEE128");
        assert_eq!(h2 & HWCAP2_BASE, HWCAP2_BASE);
        // A word that is no instruction is never reported as executing.
        assert!(!executes(0));
    }
}
