//! The SPR table: every SPR number that mfspr/mtspr/mftb reach, with its access rules, in one match.
//!
//! Privilege follows ISA 3.0 Book III: an SPR number with bit 0x10 set (spr[0] of the instruction's
//! swapped field) is privileged, so mfspr/mtspr of it in problem state is a privileged-instruction
//! program interrupt whether or not the SPR exists. Any other number the table does not list is an
//! illegal instruction. Supervisor and hypervisor SPRs are added to `access` as arms of the same match.

use crate::cpu::{msr, Cpu, Exception, ProgramKind};

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
        // No CTRL register in Cpu yet: a running thread always has its run latch set.
        (CTRL_RD, None) => CTRL_RUN,
        (VRSAVE, None) => cpu.vrsave as u64,
        (VRSAVE, Some(v)) => {
            cpu.vrsave = v as u32;
            0
        }
        // No SPRG3 in Cpu yet: reads 0 (what a Linux vDSO sees as CPU 0, node 0).
        (SPRG3_RD, None) => 0,
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
        _ => return Err(Exception::Program(ProgramKind::Illegal)),
    })
}

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
