//! Interrupt entry for a partition (guest) running with MSR[HV]=0 under a virtual hypervisor, as
//! POWER9 delivers them (ISA 3.0B Book III ch. 7): SRR0/SRR1, the new MSR (LPCR[ILE], AIL), and
//! the vector. The hypervisor-level interrupts a real POWER9 would raise for a guest (HEAI for
//! illegal instructions, HDSI…) are reflected as the guest-level interrupt the hypervisor would give.

use crate::cpu::{lpcr, msr, sprn, Cpu, Exception, IrqLines, ProgramKind};

/// MSR bits copied into SRR1 (ISA bits 0:32, 37:41, 48:63).
const SRR1_MSR_MASK: u64 = 0xffff_ffff_87c0_ffff;

/// SRR1 bits of the program interrupt (ISA bits 43..46).
pub const SRR1_FP: u64 = 1 << 20;
pub const SRR1_ILLEGAL: u64 = 1 << 19;
pub const SRR1_PRIV: u64 = 1 << 18;
pub const SRR1_TRAP: u64 = 1 << 17;
/// SRR1 bit 34: the interrupt was caused by a prefixed instruction (ISA 3.1).
pub const SRR1_PREFIXED: u64 = 1 << 29;

/// DSISR bits.
pub const DSISR_NOPTE: u64 = 1 << 30;
pub const DSISR_PROT: u64 = 1 << 27;
pub const DSISR_STORE: u64 = 1 << 25;
/// Radix R/C update needed (the ISA leaves setting R/C to software or a DSI; POWER9 takes the DSI).
pub const DSISR_RC: u64 = 1 << 18;

/// Interrupt vectors (offsets from the interrupt base).
pub mod vector {
    pub const SYSTEM_RESET: u64 = 0x100;
    pub const MACHINE_CHECK: u64 = 0x200;
    pub const DSI: u64 = 0x300;
    pub const DSEG: u64 = 0x380;
    pub const ISI: u64 = 0x400;
    pub const ISEG: u64 = 0x480;
    pub const EXTERNAL: u64 = 0x500;
    pub const ALIGNMENT: u64 = 0x600;
    pub const PROGRAM: u64 = 0x700;
    pub const FP_UNAVAIL: u64 = 0x800;
    pub const DECREMENTER: u64 = 0x900;
    pub const DOORBELL: u64 = 0xa00;
    pub const SYSCALL: u64 = 0xc00;
    pub const TRACE: u64 = 0xd00;
    pub const VEC_UNAVAIL: u64 = 0xf20;
    pub const VSX_UNAVAIL: u64 = 0xf40;
    pub const FAC_UNAVAIL: u64 = 0xf60;
    pub const SCV: u64 = 0x17000;
}

/// FSCR[SCV] (bit 51): scv is enabled.
const FSCR_SCV: u64 = 1 << 12;

impl Cpu {
    /// Takes the interrupt for `e`, which stopped execution with `pc` as `run` left it.
    /// `SystemCall { lev: 1 }` from supervisor state is a hypercall and must be handled by the
    /// caller instead.
    pub fn deliver(&mut self, e: Exception) {
        let mut srr1_bits = 0;
        let vec = match e {
            Exception::SystemCall { .. } => vector::SYSCALL,
            Exception::SystemCallVectored { lev } => {
                if self.spr[sprn::FSCR] & FSCR_SCV == 0 {
                    // pc was advanced past scv; the facility interrupt reports scv itself.
                    self.pc = self.pc.wrapping_sub(4);
                    return self.deliver(Exception::FacilityUnavailable { ic: 12 });
                }
                return self.deliver_scv(lev);
            }
            Exception::Program(k) => {
                srr1_bits = match k {
                    ProgramKind::Illegal => SRR1_ILLEGAL,
                    ProgramKind::Privileged => SRR1_PRIV,
                    ProgramKind::Trap => SRR1_TRAP,
                    ProgramKind::FloatingPoint => SRR1_FP,
                };
                vector::PROGRAM
            }
            Exception::DataStorage { ea, write } => {
                // The MMU leaves the fault's DSISR in `fault_bits`; a plain bounds fault has none.
                let mut dsisr = if self.fault_bits != 0 {
                    self.fault_bits
                } else {
                    DSISR_NOPTE
                };
                if write {
                    dsisr |= DSISR_STORE;
                }
                self.spr[sprn::DAR] = ea;
                self.spr[sprn::DSISR] = dsisr & 0xffff_ffff;
                vector::DSI
            }
            Exception::InstructionStorage { .. } => {
                srr1_bits = if self.fault_bits != 0 {
                    self.fault_bits
                } else {
                    DSISR_NOPTE
                };
                vector::ISI
            }
            Exception::DataSegment { ea } => {
                self.spr[sprn::DAR] = ea;
                vector::DSEG
            }
            Exception::InstructionSegment { .. } => vector::ISEG,
            Exception::Alignment { ea } => {
                self.spr[sprn::DAR] = ea;
                vector::ALIGNMENT
            }
            Exception::FpUnavailable => vector::FP_UNAVAIL,
            Exception::VecUnavailable => vector::VEC_UNAVAIL,
            Exception::VsxUnavailable => vector::VSX_UNAVAIL,
            Exception::FacilityUnavailable { ic } => {
                let f = self.spr[sprn::FSCR];
                self.spr[sprn::FSCR] = (f & !(0xffu64 << 56)) | (ic as u64) << 56;
                vector::FAC_UNAVAIL
            }
        };
        self.fault_bits = 0;
        // ISA 3.1: SRR1[34] says the interrupted instruction was prefixed. Instruction fetch
        // faults happen before any instruction, so they never set it.
        let fetch = matches!(
            e,
            Exception::InstructionStorage { .. } | Exception::InstructionSegment { .. }
        );
        if self.prefix != 0 && !fetch && self.isa_level() >= crate::cpu::IsaLevel::V3_1 {
            srr1_bits |= SRR1_PREFIXED;
        }
        self.enter(vec, self.pc, srr1_bits);
    }

    /// Enters the interrupt at `vec` with SRR0 = `srr0`.
    pub fn enter(&mut self, vec: u64, srr0: u64, srr1_bits: u64) {
        let old = self.msr;
        self.spr[sprn::SRR0] = srr0;
        self.spr[sprn::SRR1] = (old & SRR1_MSR_MASK) | srr1_bits;
        let (addr, reloc) = self.interrupt_location(vec, old);
        let mut new = (old & (msr::HV | msr::ME)) | msr::SF;
        if self.spr[sprn::LPCR] & lpcr::ILE != 0 {
            new |= msr::LE;
        }
        if reloc {
            new |= msr::IR | msr::DR;
        }
        self.set_msr(new);
        self.reservation = None;
        self.pc = addr;
        self.nip = addr;
    }

    /// The vector address and whether it is taken with relocation on (LPCR[AIL]).
    fn interrupt_location(&self, vec: u64, old_msr: u64) -> (u64, bool) {
        let ail = (self.spr[sprn::LPCR] & lpcr::AIL_MASK) >> lpcr::AIL_SHIFT;
        let relocated = old_msr & (msr::IR | msr::DR) == (msr::IR | msr::DR);
        let exempt = matches!(vec, vector::SYSTEM_RESET | vector::MACHINE_CHECK);
        if relocated && !exempt {
            match ail {
                2 => return (vec + 0x18000, true),
                3 => return (vec + 0xc000_0000_0000_4000, true),
                _ => {}
            }
        }
        (vec, false)
    }

    /// scv: LR = next instruction, CTR = MSR, no SRR0/1 (ISA 3.0 System Call Vectored).
    fn deliver_scv(&mut self, lev: u8) {
        let old = self.msr;
        self.lr = self.pc;
        self.ctr = old & SRR1_MSR_MASK;
        let off = vector::SCV + 0x20 * lev as u64;
        let ail = (self.spr[sprn::LPCR] & lpcr::AIL_MASK) >> lpcr::AIL_SHIFT;
        // scv keeps EE and RI: nothing is saved in SRR0/1, so the state stays recoverable.
        let mut new = (old & (msr::HV | msr::ME | msr::EE | msr::RI)) | msr::SF;
        if self.spr[sprn::LPCR] & lpcr::ILE != 0 {
            new |= msr::LE;
        }
        let addr = if ail == 3 {
            new |= msr::IR | msr::DR;
            0xc000_0000_0000_0000 + off - 0x14000
        } else {
            off
        };
        self.set_msr(new);
        self.reservation = None;
        self.pc = addr;
        self.nip = addr;
    }

    /// Current decrementer value (32-bit, sign-extended: interrupts are pending while negative).
    pub fn dec(&self) -> u64 {
        let elapsed = self.timebase().wrapping_sub(self.dec_tb);
        self.dec_written.wrapping_sub(elapsed) as u32 as i32 as i64 as u64
    }

    pub fn set_dec(&mut self, v: u64) {
        self.dec_written = v;
        self.dec_tb = self.timebase();
    }

    /// Timebase ticks until the decrementer goes negative (0 if it already is).
    pub fn ticks_to_dec(&self) -> u64 {
        let d = self.dec() as i64;
        if d < 0 {
            0
        } else {
            d as u64 + 1
        }
    }

    /// Takes the highest-priority pending asynchronous interrupt if MSR[EE] allows one.
    /// Returns true if an interrupt was taken.
    pub fn check_async(&mut self) -> bool {
        if self.msr & msr::EE == 0 || !self.async_irqs {
            return false;
        }
        let lines = self.irq.get();
        let vec = if lines & IrqLines::EXTERNAL != 0 {
            vector::EXTERNAL
        } else if (self.dec() as i64) < 0 {
            vector::DECREMENTER
        } else if lines & IrqLines::DOORBELL != 0 || self.spr[sprn::DPDES] & 1 != 0 {
            self.irq.lower(IrqLines::DOORBELL);
            self.spr[sprn::DPDES] &= !1;
            vector::DOORBELL
        } else {
            return false;
        };
        let pc = self.pc;
        self.enter(vec, pc, 0);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::cpu;

    #[test]
    fn program_interrupt_saves_state_and_uses_ile() {
        let mut c = cpu();
        c.set_msr(msr::SF | msr::EE | msr::PR | msr::IR | msr::DR | msr::ME);
        c.spr[sprn::LPCR] = lpcr::ILE;
        c.pc = 0x1234;
        c.deliver(Exception::Program(ProgramKind::Illegal));
        assert_eq!(c.pc, 0x700);
        assert_eq!(c.spr[sprn::SRR0], 0x1234);
        let srr1 = c.spr[sprn::SRR1];
        assert_eq!(srr1 & SRR1_ILLEGAL, SRR1_ILLEGAL);
        assert_eq!(
            srr1 & (msr::EE | msr::PR | msr::SF),
            msr::EE | msr::PR | msr::SF
        );
        assert_eq!(c.msr, msr::SF | msr::ME | msr::LE);
    }

    #[test]
    fn prefixed_instruction_sets_srr1_34_on_power10_only() {
        let mut c = cpu();
        c.model = crate::cpu::CpuModel::Power10;
        c.prefix = 0x0400_0000;
        c.deliver(Exception::Alignment { ea: 0x1000 });
        assert_eq!(c.spr[sprn::SRR1] & SRR1_PREFIXED, SRR1_PREFIXED);
        c.prefix = 0;
        c.deliver(Exception::Alignment { ea: 0x1000 });
        assert_eq!(c.spr[sprn::SRR1] & SRR1_PREFIXED, 0);
        let mut c = cpu();
        c.model = crate::cpu::CpuModel::Power9;
        c.prefix = 0x0400_0000;
        c.deliver(Exception::Program(ProgramKind::Illegal));
        assert_eq!(c.spr[sprn::SRR1] & SRR1_PREFIXED, 0);
    }

    #[test]
    fn ail3_relocates_vector_when_translation_was_on() {
        let mut c = cpu();
        c.set_msr(msr::SF | msr::IR | msr::DR);
        c.spr[sprn::LPCR] = 3 << lpcr::AIL_SHIFT;
        c.pc = 0x4000;
        c.deliver(Exception::SystemCall { lev: 0 });
        assert_eq!(c.pc, 0xc000_0000_0000_4c00);
        assert_eq!(c.msr & (msr::IR | msr::DR), msr::IR | msr::DR);
        // Real mode at the time of the interrupt: AIL does not apply.
        c.set_msr(msr::SF);
        c.deliver(Exception::SystemCall { lev: 0 });
        assert_eq!(c.pc, 0xc00);
        assert_eq!(c.msr & (msr::IR | msr::DR), 0);
    }

    #[test]
    fn dsi_sets_dar_dsisr() {
        let mut c = cpu();
        c.deliver(Exception::DataStorage {
            ea: 0xdead0,
            write: true,
        });
        assert_eq!(c.pc, 0x300);
        assert_eq!(c.spr[sprn::DAR], 0xdead0);
        assert_eq!(c.spr[sprn::DSISR], DSISR_NOPTE | DSISR_STORE);
    }

    #[test]
    fn decrementer_pends_only_with_ee() {
        let mut c = cpu();
        c.async_irqs = true;
        c.set_msr(msr::SF);
        c.set_dec((-5i64) as u64);
        assert!((c.dec() as i64) < 0);
        assert!(!c.check_async());
        c.set_msr(msr::SF | msr::EE);
        c.pc = 0x2000;
        assert!(c.check_async());
        assert_eq!(c.pc, 0x900);
        assert_eq!(c.spr[sprn::SRR0], 0x2000);
        assert_eq!(c.msr & msr::EE, 0);
        c.set_dec(0x7fff_ffff);
        assert!(c.ticks_to_dec() > 1_000_000);
    }

    #[test]
    fn external_beats_decrementer() {
        let mut c = cpu();
        c.async_irqs = true;
        c.set_msr(msr::SF | msr::EE);
        c.set_dec((-1i64) as u64);
        c.irq.raise(IrqLines::EXTERNAL);
        assert!(c.check_async());
        assert_eq!(c.pc, 0x500);
    }

    #[test]
    fn scv_disabled_is_facility_unavailable() {
        let mut c = cpu();
        c.set_msr(msr::SF | msr::PR);
        c.pc = 0x1004; // as run() leaves it, past the scv at 0x1000
        c.deliver(Exception::SystemCallVectored { lev: 0 });
        assert_eq!(c.pc, 0xf60);
        assert_eq!(c.spr[sprn::SRR0], 0x1000);
        assert_eq!(c.spr[sprn::FSCR] >> 56, 12);
    }
}
