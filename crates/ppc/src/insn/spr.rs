//! The SPR table: every SPR number that mfspr/mtspr/mftb reach, with its access rules, in one match.
//!
//! Privilege follows ISA 3.0 Book III: an SPR number with bit 0x10 set (spr[0] of the instruction's
//! swapped field) is privileged, so mfspr/mtspr of it in problem state is a privileged-instruction
//! program interrupt whether or not the SPR exists. Any other number the table does not list is an
//! illegal instruction. Supervisor and hypervisor SPRs are added to `access` as arms of the same match.

use crate::cpu::{msr, sprn, Cpu, Exception, IsaLevel, ProgramKind};

pub const XER: u32 = 1;
pub const DSCR: u32 = 3;
pub const LR: u32 = 8;
pub const CTR: u32 = 9;
/// CTRL read alias (problem state); writes go through the privileged number 152.
pub const CTRL_RD: u32 = 136;
pub const VRSAVE: u32 = 256;
/// SPRG3 read alias (problem state).
pub const SPRG3_RD: u32 = 259;
pub const TB: u32 = 268;
pub const TBU: u32 = 269;
pub const TAR: u32 = 815;
pub const PPR: u32 = 896;
pub const EBBHR: u32 = 804;
pub const EBBRR: u32 = 805;
pub const BESCR: u32 = 806;
pub const PPR32: u32 = 898;

/// DSCR bits 39:63 are the defined fields; the rest are reserved and read as zero.
const DSCR_MASK: u64 = (1 << 25) - 1;
/// PPR[PRI] is PPR bits 11:13.
const PPR_PRI_SHIFT: u32 = 50;
/// CTRL[RUN], the run latch: set whenever software is running (Linux clears it only when idle).
const CTRL_RUN: u64 = 1;

/// Whether SPR `n` is privileged (spr[0] = 1).
#[inline(always)]
pub fn privileged(n: u32) -> bool {
    n & 0x10 != 0
}

/// mfspr: the value of SPR `n`.
#[inline]
pub fn read(cpu: &mut Cpu, n: u32) -> Result<u64, Exception> {
    access(cpu, n, None)
}

/// mtspr: writes `v` to SPR `n`.
#[inline]
pub fn write(cpu: &mut Cpu, n: u32, v: u64) -> Result<(), Exception> {
    access(cpu, n, Some(v)).map(|_| ())
}

/// The SPR table. `w` is None for a read (returns the value) and Some for a write (returns 0).
fn access(cpu: &mut Cpu, n: u32, w: Option<u64>) -> Result<u64, Exception> {
    if privileged(n) && cpu.pr() {
        return Err(Exception::Program(ProgramKind::Privileged));
    }
    if !exists_on(cpu.model.isa_level(), n) {
        return Err(Exception::Program(ProgramKind::Illegal));
    }
    Ok(match (n, w) {
        (XER, None) => cpu.xer.get(),
        (XER, Some(v)) => {
            cpu.xer.set(v);
            0
        }
        // FSCR[DSCR] would gate problem-state access; Cpu has no FSCR yet, so it is always on.
        (DSCR, None) => cpu.dscr,
        (DSCR, Some(v)) => {
            cpu.dscr = v & DSCR_MASK;
            0
        }
        (LR, None) => cpu.lr,
        (LR, Some(v)) => {
            cpu.lr = v;
            0
        }
        (CTR, None) => cpu.ctr,
        (CTR, Some(v)) => {
            cpu.ctr = v;
            0
        }
        // CTRL[RUN], the run latch: software sets it while running and clears it when idle.
        (CTRL_RD, None) => cpu.spr[sprn::CTRL_W] & CTRL_RUN,
        (VRSAVE, None) => cpu.vrsave as u64,
        (VRSAVE, Some(v)) => {
            cpu.vrsave = v as u32;
            0
        }
        // The problem-state read alias of SPRG3 (Linux's vDSO keeps the CPU/node number there).
        (SPRG3_RD, None) => cpu.spr[sprn::SPRG3],
        (TB, None) => cpu.timebase(),
        (TBU, None) => cpu.timebase() >> 32,
        (TAR, None) => cpu.tar,
        (TAR, Some(v)) => {
            cpu.tar = v;
            0
        }
        (PPR, None) => cpu.ppr,
        (PPR, Some(v)) => {
            set_ppr_pri(cpu, (v >> PPR_PRI_SHIFT & 7) as u8);
            0
        }
        // PPR32 is PPR bits 0:31 seen in the low word.
        (PPR32, None) => cpu.ppr >> 32,
        (PPR32, Some(v)) => {
            set_ppr_pri(cpu, (v >> (PPR_PRI_SHIFT - 32) & 7) as u8);
            0
        }
        // The read-only, non-privileged view of DEXCR (ISA 3.1): its problem-state aspects
        // (bits 32:63). Only POWER10 has it (`exists_on`).
        (812, None) => cpu.spr[DEXCR] & 0xffff_ffff,
        // Event-based branch registers: plain storage (EBB events are not generated).
        (EBBHR | EBBRR | BESCR, None) => cpu.spr[n as usize],
        (EBBHR | EBBRR | BESCR, Some(v)) => {
            cpu.spr[n as usize] = v;
            0
        }
        _ => return supervisor(cpu, n, w),
    })
}

/// Whether SPR `n` exists at ISA level `level`: SPRs introduced by later levels are undefined on
/// older models (mfspr/mtspr of them is illegal there, like any undefined SPR).
fn exists_on(level: IsaLevel, n: u32) -> bool {
    let since = match n as usize {
        // ISA 2.07 (POWER8): TAR, the EBB registers, PPR32, problem-state DSCR.
        815 | 804 | 805 | 806 | 898 | 3 => IsaLevel::V2_07,
        // ... and FSCR, PSPB, IAMR, MMCR2, SIER, MMCRS, VTB.
        sprn::FSCR | sprn::PSPB | sprn::IAMR | MMCR2 | SIER | MMCRS | VTB => IsaLevel::V2_07,
        // ISA 3.0 (POWER9): PIDR, PSSCR (both numbers), PTCR, ASDR.
        sprn::PIDR | sprn::PSSCR_U | sprn::PSSCR | sprn::PTCR | sprn::ASDR => IsaLevel::V3_0,
        // ISA 3.1 (POWER10): MMCR3, SIER2, SIER3, DEXCR (both numbers), HASHKEYR.
        MMCR3 | SIER2 | SIER3 | DEXCR | DEXCR_RO | HASHKEYR => IsaLevel::V3_1,
        _ => return true,
    };
    level >= since
}

/// Supervisor-state SPRs of a partition (MSR[HV]=0). Privilege was checked by `access`:
/// every number here has the 0x10 bit set. Hypervisor resources (LPCR, HSRR*, HDEC, PTCR, DAWR,
/// CIABR…) are set through hypercalls in a partition, so touching them directly is privileged.
fn supervisor(cpu: &mut Cpu, n: u32, w: Option<u64>) -> Result<u64, Exception> {
    if cpu.pr() {
        // Not a problem-state SPR, and its number is not a privileged one: undefined.
        return Err(Exception::Program(ProgramKind::Illegal));
    }
    let n = n as usize;
    // Registers that are plain storage: the architected effects live elsewhere (interrupt entry
    // writes SRR0/1, DAR, DSISR) or are not emulated (the PMU does not count; CFAR is not tracked).
    const PLAIN: &[usize] = &[
        sprn::DSISR,
        sprn::DAR,
        sprn::SRR0,
        sprn::SRR1,
        sprn::CFAR,
        sprn::AMR,
        sprn::IAMR,
        sprn::FSCR,
        sprn::UAMOR,
        sprn::PSPB,
        sprn::DPDES,
        sprn::SPRG0,
        sprn::SPRG1,
        sprn::SPRG2,
        sprn::SPRG3,
        MMCR0,
        MMCR1,
        MMCR2,
        MMCRA,
        SIAR,
        SDAR,
        SIER,
        PMC1,
        PMC1 + 1,
        PMC1 + 2,
        PMC1 + 3,
        PMC1 + 4,
        PMC1 + 5,
        MMCRS,
        MMCR3,
        SIER2,
        SIER3,
        // The DEXCR aspects and the hash key only matter to hashst/hashchk, which are not
        // implemented; the registers hold what software writes.
        DEXCR,
        HASHKEYR,
    ];
    Ok(match (n, w) {
        (n, None) if PLAIN.contains(&n) => cpu.spr[n],
        // The hash MMU checks page keys against AMR/IAMR when it fills the TLB, so cached
        // translations must go when they change. Radix translation does not use them, and a
        // radix kernel writes the AMR around every user access (KUAP): no flush there.
        (sprn::AMR | sprn::IAMR, Some(v)) => {
            if cpu.spr[n] != v {
                cpu.spr[n] = v;
                if cpu.spr[sprn::LPCR] & crate::cpu::lpcr::HR == 0 {
                    cpu.tlb_flush();
                }
            }
            0
        }
        (n, Some(v)) if PLAIN.contains(&n) => {
            cpu.spr[n] = v;
            0
        }
        (sprn::DSCR, None) => cpu.dscr,
        (sprn::DSCR, Some(v)) => {
            cpu.dscr = v & DSCR_MASK;
            0
        }
        (sprn::CTRL_W, Some(v)) => {
            cpu.spr[sprn::CTRL_W] = v & CTRL_RUN;
            0
        }
        (sprn::DEC, None) => cpu.dec(),
        (sprn::DEC, Some(v)) => {
            cpu.set_dec(v);
            0
        }
        // A new PID changes every quadrant-0 translation (and only those).
        (sprn::PIDR, None) => cpu.spr[sprn::PIDR],
        (sprn::PIDR, Some(v)) => {
            cpu.spr[sprn::PIDR] = v & 0xffff_ffff;
            cpu.tlb_flush_user();
            0
        }
        (sprn::PVR | sprn::PIR, None) => cpu.spr[n],
        // The thread's number in its core (set when the machine is built).
        (sprn::TIR, None) => cpu.spr[sprn::TIR],
        // PURR/SPURR: a vCPU is always dispatched, so its cycles are the timebase's.
        (sprn::PURR | sprn::SPURR, None) => cpu.timebase(),
        (sprn::LPCR, None) => cpu.spr[sprn::LPCR],
        // The virtual timebase counts while the partition is dispatched, which is always.
        (VTB, None) => cpu.timebase(),
        (n, _) if HYPERVISOR.contains(&n) => {
            return Err(Exception::Program(ProgramKind::Privileged))
        }
        _ => {
            log_unknown(n);
            return Err(Exception::Program(ProgramKind::Illegal));
        }
    })
}

/// Reports each undefined SPR number a supervisor touches, rate-limited, so missing SPRs are visible.
fn log_unknown(n: usize) {
    static LOG: crate::ratelog::RateLog = crate::ratelog::RateLog::new("unimplemented SPRs");
    LOG.once(n as u64, || {
        format!("unimplemented SPR {n} accessed in supervisor state")
    });
}

/// Virtual timebase (supervisor read).
const VTB: usize = 849;

/// Hypervisor resources a partition may not touch directly.
const HYPERVISOR: &[usize] = &[
    sprn::SDR1,
    sprn::DAWR0,
    sprn::CIABR,
    sprn::DAWRX0,
    sprn::HFSCR,
    sprn::TBL_W,
    sprn::TBU_W,
    sprn::TBU40,
    sprn::PVR,
    sprn::HSPRG0,
    sprn::HSPRG1,
    sprn::HDSISR,
    sprn::HDAR,
    sprn::SPURR,
    sprn::PURR,
    sprn::HDEC,
    sprn::HRMOR,
    sprn::HSRR0,
    sprn::HSRR1,
    sprn::LPCR,
    sprn::LPIDR,
    sprn::HMER,
    sprn::HMEER,
    sprn::PCR,
    sprn::HEIR,
    sprn::AMOR,
    sprn::PTCR,
    sprn::ASDR,
    sprn::PSSCR,
    sprn::PIR,
];

/// POWER8's supervisor monitor-mode control register (Linux's POWER8 CPU setup clears it, also
/// in a partition).
const MMCRS: usize = 894;
/// POWER10 (ISA 3.1) performance-monitor and execution-control SPRs.
const SIER2: usize = 752;
const SIER3: usize = 753;
const MMCR3: usize = 754;
const DEXCR: usize = 828;
/// Read-only DEXCR number (not privileged: problem state reads its own aspects).
const DEXCR_RO: usize = 812;
const HASHKEYR: usize = 468;

/// Performance-monitor SPRs (privileged numbers).
const SIER: usize = 784;
const MMCR2: usize = 785;
const MMCRA: usize = 786;
const PMC1: usize = 787;
const MMCR0: usize = 795;
const SIAR: usize = 796;
const SDAR: usize = 797;
const MMCR1: usize = 798;

/// Sets PPR[PRI] if the current privilege level may use that priority; otherwise, and for the
/// reserved value 0, PPR is left unchanged (ISA Book II, Program Priority Register). Problem state
/// may set low, medium-low and medium; the OS also very-low, medium-high and high; only the
/// hypervisor very-high.
fn set_ppr_pri(cpu: &mut Cpu, pri: u8) {
    let hv = cpu.msr & msr::HV != 0 && !cpu.pr();
    let ok = match pri {
        2..=4 => true,
        1 | 5 | 6 => !cpu.pr(),
        7 => hv,
        _ => false,
    };
    if ok {
        cpu.ppr = (pri as u64) << PPR_PRI_SHIFT;
    }
}

#[cfg(test)]
mod tests {
    use crate::cpu::{msr, Cpu, CpuModel, Exception, ProgramKind};
    use crate::testutil::{cpu, try_exec, x_form};

    fn mfspr(rt: u32, n: u32) -> u32 {
        x_form(31, rt, n & 31, n >> 5, 339, false)
    }

    fn mtspr(n: u32, rs: u32) -> u32 {
        x_form(31, rs, n & 31, n >> 5, 467, false)
    }

    fn on(model: CpuModel, supervisor: bool) -> Cpu {
        let mut c = cpu();
        c.model = model;
        if supervisor {
            c.set_msr(c.msr & !msr::PR);
        }
        c
    }

    const ILLEGAL: Result<(), Exception> = Err(Exception::Program(ProgramKind::Illegal));

    #[test]
    fn sprs_follow_the_model() {
        // (SPR, first model that has it, accessible from problem state)
        for (n, since, user) in [
            (815u32, CpuModel::Power8, true), // TAR
            (804, CpuModel::Power8, true),    // EBBHR
            (898, CpuModel::Power8, true),    // PPR32
            (3, CpuModel::Power8, true),      // DSCR (problem-state number)
            (153, CpuModel::Power8, false),   // FSCR
            (785, CpuModel::Power8, false),   // MMCR2
            (894, CpuModel::Power8, false),   // MMCRS
            (48, CpuModel::Power9, false),    // PIDR
            (754, CpuModel::Power10, false),  // MMCR3
            (752, CpuModel::Power10, false),  // SIER2
            (828, CpuModel::Power10, false),  // DEXCR
            (468, CpuModel::Power10, false),  // HASHKEYR
        ] {
            for model in CpuModel::ALL {
                let mut c = on(model, !user);
                c.gpr[4] = 0x1234;
                let has = model.isa_level() >= since.isa_level();
                let want = if has { Ok(()) } else { ILLEGAL };
                assert_eq!(
                    try_exec(&mut c, mtspr(n, 4)),
                    want,
                    "mtspr {n} on {model:?}"
                );
                assert_eq!(
                    try_exec(&mut c, mfspr(3, n)),
                    want,
                    "mfspr {n} on {model:?}"
                );
            }
        }
        // Registers common to all models stay: SPRG0, CTR, PPR.
        for model in CpuModel::ALL {
            let mut c = on(model, true);
            assert_eq!(try_exec(&mut c, mfspr(3, 272)), Ok(()));
            assert_eq!(try_exec(&mut c, mfspr(3, 9)), Ok(()));
            assert_eq!(try_exec(&mut c, mfspr(3, 896)), Ok(()));
        }
    }

    #[test]
    fn power10_registers() {
        let mut c = on(CpuModel::Power10, true);
        c.gpr[4] = 0xdead_beef_0000_0005;
        assert_eq!(try_exec(&mut c, mtspr(754, 4)), Ok(())); // MMCR3
        assert_eq!(try_exec(&mut c, mfspr(3, 754)), Ok(()));
        assert_eq!(c.gpr[3], 0xdead_beef_0000_0005);
        assert_eq!(try_exec(&mut c, mtspr(828, 4)), Ok(())); // DEXCR
                                                             // Problem state reads the problem-state aspects (bits 32:63) through 812 and may not
                                                             // write it or touch the privileged number.
        c.set_msr(c.msr | msr::PR);
        assert_eq!(try_exec(&mut c, mfspr(5, 812)), Ok(()));
        assert_eq!(c.gpr[5], 5);
        assert_eq!(try_exec(&mut c, mtspr(812, 4)), ILLEGAL);
        assert_eq!(
            try_exec(&mut c, mfspr(5, 828)),
            Err(Exception::Program(ProgramKind::Privileged))
        );
        // Privileged numbers stay privileged in problem state on every model, defined or not.
        let mut c = on(CpuModel::Power8, false);
        assert_eq!(
            try_exec(&mut c, mfspr(3, 754)),
            Err(Exception::Program(ProgramKind::Privileged))
        );
    }
}
