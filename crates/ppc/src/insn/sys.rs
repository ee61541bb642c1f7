//! Supervisor-state instructions of a partition (ISA 3.0B Book III): MSR moves, return from
//! interrupt, TLB management, processor doorbells. All are privileged: in problem state they raise
//! the privileged-instruction program interrupt. Hypervisor-only instructions (hrfid…) are
//! privileged for a guest, which runs with MSR[HV]=0. The SLB instructions drive the hash MMU
//! (`mmu_hash.rs`).

use crate::cpu::{msr, sprn, Cpu, Ex, Exception, ProgramKind};
use crate::exec::Handler;
use crate::insn::Insn;

/// Opcode 19 instructions owned here.
pub fn decode(i: Insn) -> Option<Handler> {
    if i.opcd() != 19 {
        return None;
    }
    Some(match i.xo10() {
        18 => rfid,
        82 => rfscv,
        274 => hyp_only, // hrfid
        _ => return None,
    })
}

/// Opcode 31 instructions owned here.
pub fn decode31(i: Insn) -> Option<Handler> {
    Some(match i.xo10() {
        30 => wait,
        83 => mfmsr,
        146 => mtmsr,
        178 => mtmsrd,
        142 => msgsndp,
        174 => msgclrp,
        274 => tlbiel,
        306 => tlbie,
        338 => priv_nop, // slbsync
        402 => slbmte,
        434 => slbie,
        466 | 850 => hyp_only, // slbieg, slbiag
        498 => slbia,
        566 => priv_nop, // tlbsync
        851 => slbmfev,
        915 => slbmfee,
        979 if i.rc_bit() => slbfee,
        886 => priv_nop, // msgsync
        _ => return None,
    })
}

#[inline(always)]
fn privileged(cpu: &Cpu) -> Ex {
    if cpu.pr() {
        return Err(Exception::Program(ProgramKind::Privileged));
    }
    Ok(())
}

fn hyp_only(_cpu: &mut Cpu, _i: Insn) -> Ex {
    Err(Exception::Program(ProgramKind::Privileged))
}

fn priv_nop(cpu: &mut Cpu, _i: Insn) -> Ex {
    privileged(cpu)
}

/// `wait`: the ISA lets the processor resume for implementation-specific reasons, so an
/// interpreter may resume at once; the vCPU's slice ends so pending interrupts are looked at.
fn wait(cpu: &mut Cpu, _i: Insn) -> Ex {
    cpu.end_slice();
    Ok(())
}

/// New MSR value written by mtmsrd/rfid/rfscv under the ISA 3.0 rules for a non-hypervisor
/// partition: HV and ME can't be changed, and entering problem state turns on EE, IR and DR.
pub fn filter_msr(old: u64, new: u64) -> u64 {
    let keep = msr::HV | msr::ME;
    let mut v = (new & !keep) | (old & keep);
    if v & msr::PR != 0 {
        v |= msr::EE | msr::IR | msr::DR;
    }
    v
}

fn mfmsr(cpu: &mut Cpu, i: Insn) -> Ex {
    privileged(cpu)?;
    cpu.gpr[i.rt()] = cpu.msr;
    Ok(())
}

/// L bit (bit 15) of mtmsr/mtmsrd: only EE and RI change.
#[inline(always)]
fn l15(i: Insn) -> bool {
    i.0 & (1 << 16) != 0
}

fn mtmsrd(cpu: &mut Cpu, i: Insn) -> Ex {
    privileged(cpu)?;
    let rs = cpu.gpr[i.rt()];
    let v = if l15(i) {
        let m = msr::EE | msr::RI;
        (cpu.msr & !m) | (rs & m)
    } else {
        filter_msr(cpu.msr, rs)
    };
    cpu.set_msr(v);
    Ok(())
}

fn mtmsr(cpu: &mut Cpu, i: Insn) -> Ex {
    privileged(cpu)?;
    let rs = cpu.gpr[i.rt()];
    let v = if l15(i) {
        let m = msr::EE | msr::RI;
        (cpu.msr & !m) | (rs & m)
    } else {
        // Only MSR bits 32:63 are written.
        let low = filter_msr(cpu.msr, rs) & 0xffff_ffff;
        (cpu.msr & !0xffff_ffff) | low
    };
    cpu.set_msr(v);
    Ok(())
}

fn rfid(cpu: &mut Cpu, _i: Insn) -> Ex {
    privileged(cpu)?;
    let v = filter_msr(cpu.msr, cpu.spr[sprn::SRR1]);
    cpu.set_msr(v);
    cpu.nip = cpu.ea(cpu.spr[sprn::SRR0] & !3);
    cpu.reservation = None;
    Ok(())
}

/// rfscv: return from scv; MSR from CTR, NIA from LR.
fn rfscv(cpu: &mut Cpu, _i: Insn) -> Ex {
    privileged(cpu)?;
    let v = filter_msr(cpu.msr, cpu.ctr);
    cpu.set_msr(v);
    cpu.nip = cpu.ea(cpu.lr & !3);
    cpu.reservation = None;
    Ok(())
}

/// tlbie (radix and hash forms): every form is served by dropping all cached translations, which
/// covers any subset the instruction names, on every vCPU (the ISA broadcasts tlbie); it returns
/// once no vCPU can use a stale translation.
fn tlbie(cpu: &mut Cpu, _i: Insn) -> Ex {
    privileged(cpu)?;
    cpu.tlb_shootdown();
    Ok(())
}

/// tlbiel: the same, on this vCPU only.
fn tlbiel(cpu: &mut Cpu, _i: Insn) -> Ex {
    privileged(cpu)?;
    cpu.tlb_flush();
    Ok(())
}

/// slbmte RS,RB: SLB entry RB[52:63] from RS (VSID data) and RB (ESID, V). A bad index, segment
/// size or page size encoding is an illegal instruction, as QEMU treats it.
fn slbmte(cpu: &mut Cpu, i: Insn) -> Ex {
    privileged(cpu)?;
    let (rs, rb) = (cpu.gpr[i.rt()], cpu.gpr[i.rb()]);
    if !cpu.slb_store(rb, rs) {
        return Err(Exception::Program(ProgramKind::Illegal));
    }
    Ok(())
}

/// slbmfee RT,RB / slbmfev RT,RB: the ESID or VSID doubleword of SLB entry RB[52:63].
fn slb_move_from(cpu: &mut Cpu, i: Insn, vsid: bool) -> Ex {
    privileged(cpu)?;
    match cpu.slb_read(cpu.gpr[i.rb()], vsid) {
        Some(v) => {
            cpu.gpr[i.rt()] = v;
            Ok(())
        }
        None => Err(Exception::Program(ProgramKind::Illegal)),
    }
}

fn slbmfee(cpu: &mut Cpu, i: Insn) -> Ex {
    slb_move_from(cpu, i, false)
}

fn slbmfev(cpu: &mut Cpu, i: Insn) -> Ex {
    slb_move_from(cpu, i, true)
}

/// slbie RB: invalidates the SLB entry of ESID RB[0:35], segment size RB[37:38].
fn slbie(cpu: &mut Cpu, i: Insn) -> Ex {
    privileged(cpu)?;
    let rb = cpu.gpr[i.rb()];
    cpu.slb_invalidate(rb);
    Ok(())
}

/// slbia IH: invalidates SLB entries as IH (instruction bits 8:10) selects, and the ERAT.
fn slbia(cpu: &mut Cpu, i: Insn) -> Ex {
    privileged(cpu)?;
    cpu.slb_invalidate_all((i.rt() & 7) as u32);
    Ok(())
}

/// slbfee. RT,RB: RT = VSID data of the entry translating EA RB (CR0[EQ] set), or 0.
fn slbfee(cpu: &mut Cpu, i: Insn) -> Ex {
    privileged(cpu)?;
    let found = cpu.slb_find(cpu.gpr[i.rb()]);
    cpu.gpr[i.rt()] = found.unwrap_or(0);
    let eq = if found.is_some() { 2 } else { 0 };
    cpu.set_crf(0, eq | cpu.xer.so as u32);
    Ok(())
}

/// msgsndp: directed privileged doorbell to thread RB[57:63] of this core (Linux's IPI between
/// sibling threads): this thread's DPDES bit, or the sibling vCPU's doorbell line.
fn msgsndp(cpu: &mut Cpu, i: Insn) -> Ex {
    privileged(cpu)?;
    let rb = cpu.gpr[i.rb()];
    // Message type 5 (privileged doorbell) in RB bits 32:36, target thread in bits 57:63.
    let target = rb & 0x7f;
    if (rb >> 27) & 0x1f != 5 || target >= cpu.threads as u64 {
        return Ok(());
    }
    if target == cpu.spr[sprn::TIR] {
        cpu.spr[sprn::DPDES] |= 1;
        cpu.end_slice();
    } else if let Some(smp) = &cpu.smp {
        let id = cpu.spr[sprn::PIR] - cpu.spr[sprn::TIR] + target;
        smp.raise(id as usize, crate::cpu::IrqLines::DOORBELL);
    }
    Ok(())
}

fn msgclrp(cpu: &mut Cpu, i: Insn) -> Ex {
    privileged(cpu)?;
    let rb = cpu.gpr[i.rb()];
    if (rb >> 27) & 0x1f == 5 {
        cpu.spr[sprn::DPDES] &= !1;
        cpu.irq.lower(crate::cpu::IrqLines::DOORBELL);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;

    fn sup() -> Cpu {
        let mut c = cpu();
        c.set_msr(msr::SF | msr::ME | msr::LE);
        c
    }

    #[test]
    fn privileged_in_problem_state() {
        let mut c = cpu(); // problem state
        for w in [
            x_form(31, 3, 0, 0, 83, false),  // mfmsr
            x_form(31, 3, 0, 0, 178, false), // mtmsrd
            x_form(19, 0, 0, 0, 18, false),  // rfid
            x_form(31, 0, 0, 4, 306, false), // tlbie
        ] {
            assert_eq!(
                try_exec(&mut c, w),
                Err(Exception::Program(ProgramKind::Privileged))
            );
        }
        let mut s = sup();
        assert_eq!(
            try_exec(&mut s, x_form(19, 0, 0, 0, 274, false)),
            Err(Exception::Program(ProgramKind::Privileged)),
            "hrfid is hypervisor-only"
        );
    }

    #[test]
    fn mtmsrd_l1_changes_only_ee_ri() {
        let mut c = sup();
        c.gpr[3] = msr::EE | msr::RI | msr::PR | msr::IR;
        exec(&mut c, x_form(31, 3, 1, 0, 178, false)); // L=1 in bit 15 (RA field low bit)
        assert_eq!(c.msr, msr::SF | msr::ME | msr::LE | msr::EE | msr::RI);
    }

    #[test]
    fn mtmsrd_to_problem_state_sets_ee_ir_dr_and_keeps_hv_me() {
        let mut c = sup();
        c.gpr[3] = msr::SF | msr::PR | msr::HV | msr::LE;
        exec(&mut c, x_form(31, 3, 0, 0, 178, false));
        assert_eq!(
            c.msr,
            msr::SF | msr::PR | msr::LE | msr::ME | msr::EE | msr::IR | msr::DR
        );
        assert!(c.slice_ending());
    }

    #[test]
    fn mtmsr_writes_low_word_only() {
        let mut c = sup();
        c.gpr[3] = msr::LE | msr::EE; // SF clear in RS: unchanged by mtmsr
        exec(&mut c, x_form(31, 3, 0, 0, 146, false));
        assert_eq!(c.msr, msr::SF | msr::ME | msr::LE | msr::EE);
    }

    #[test]
    fn rfid_returns_to_srr0_with_srr1() {
        let mut c = sup();
        c.spr[sprn::SRR0] = 0x1234_5679;
        c.spr[sprn::SRR1] = msr::SF | msr::PR | msr::LE;
        exec(&mut c, x_form(19, 0, 0, 0, 18, false));
        assert_eq!(c.pc, 0x1234_5678);
        assert_eq!(
            c.msr & (msr::PR | msr::EE | msr::IR | msr::DR),
            msr::PR | msr::EE | msr::IR | msr::DR
        );
        // mfmsr reads it back (from supervisor state again).
        let mut s = sup();
        exec(&mut s, x_form(31, 7, 0, 0, 83, false));
        assert_eq!(s.gpr[7], s.msr);
    }

    #[test]
    fn msgsndp_sets_own_doorbell() {
        let mut c = sup();
        c.gpr[4] = 5 << 27;
        exec(&mut c, x_form(31, 0, 0, 4, 142, false));
        assert_eq!(c.spr[sprn::DPDES], 1);
        c.set_msr(c.msr | msr::EE);
        c.async_irqs = true;
        assert!(c.check_async());
        assert_eq!(c.pc, 0xa00);
        c.gpr[4] = 5 << 27;
        c.set_msr(msr::SF | msr::ME);
        exec(&mut c, x_form(31, 0, 0, 4, 142, false));
        exec(&mut c, x_form(31, 0, 0, 4, 174, false));
        assert_eq!(c.spr[sprn::DPDES], 0);
    }

    #[test]
    fn msgsndp_rings_a_sibling_thread() {
        use crate::cpu::IrqLines;
        // Threads 2 and 3 of a 4-thread core (vCPUs 6 and 7 of two cores).
        let lines: Vec<_> = (0..8)
            .map(|_| std::sync::Arc::new(IrqLines::default()))
            .collect();
        let smp = crate::smp::Smp::new(lines.clone());
        let mut c = sup();
        c.smp = Some(smp);
        c.irq = lines[6].clone();
        c.threads = 4;
        c.spr[sprn::PIR] = 6;
        c.spr[sprn::TIR] = 2;
        c.gpr[4] = 5 << 27 | 3;
        exec(&mut c, x_form(31, 0, 0, 4, 142, false));
        assert_ne!(lines[7].get() & IrqLines::DOORBELL, 0, "thread 3 = vCPU 7");
        assert_eq!(c.spr[sprn::DPDES], 0);
        // Thread 4 does not exist in a 4-thread core: nothing happens.
        c.gpr[4] = 5 << 27 | 4;
        exec(&mut c, x_form(31, 0, 0, 4, 142, false));
        assert_eq!(lines[4].get() & IrqLines::DOORBELL, 0);
        // Its own thread number sets its own DPDES bit; TIR reads back.
        c.gpr[4] = 5 << 27 | 2;
        exec(&mut c, x_form(31, 0, 0, 4, 142, false));
        assert_eq!(c.spr[sprn::DPDES], 1);
        exec(&mut c, mfspr(5, sprn::TIR as u32));
        assert_eq!(c.gpr[5], 2);
    }

    fn mtspr(rs: u32, spr: u32) -> u32 {
        x_form(31, rs, spr & 31, spr >> 5, 467, false)
    }

    fn mfspr(rt: u32, spr: u32) -> u32 {
        x_form(31, rt, spr & 31, spr >> 5, 339, false)
    }

    #[test]
    fn supervisor_sprs() {
        let mut c = sup();
        c.gpr[3] = 0xabcd;
        exec(&mut c, mtspr(3, sprn::SRR0 as u32));
        exec(&mut c, mfspr(4, sprn::SRR0 as u32));
        assert_eq!(c.gpr[4], 0xabcd);
        // DEC counts down from what was written and reads sign-extended.
        c.gpr[3] = 1_000_000;
        exec(&mut c, mtspr(3, sprn::DEC as u32));
        exec(&mut c, mfspr(5, sprn::DEC as u32));
        assert!(c.gpr[5] <= 1_000_000 && c.gpr[5] > 900_000, "{}", c.gpr[5]);
        c.gpr[3] = 0xffff_fff0;
        exec(&mut c, mtspr(3, sprn::DEC as u32));
        exec(&mut c, mfspr(5, sprn::DEC as u32));
        assert!((c.gpr[5] as i64) < 0);
        // A PID change flushes translations.
        c.irq.lower(crate::cpu::IrqLines::EXIT);
        c.gpr[3] = 7;
        exec(&mut c, mtspr(3, sprn::PIDR as u32));
        assert!(c.slice_ending());
        assert_eq!(c.spr[sprn::PIDR], 7);
        // Hypervisor SPRs are privileged for a partition; PVR is readable, not writable.
        assert_eq!(
            try_exec(&mut c, mtspr(3, sprn::LPCR as u32)),
            Err(Exception::Program(ProgramKind::Privileged))
        );
        c.spr[sprn::PVR] = 0x004e_1202;
        exec(&mut c, mfspr(6, sprn::PVR as u32));
        assert_eq!(c.gpr[6], 0x004e_1202);
        assert_eq!(
            try_exec(&mut c, mtspr(3, sprn::PVR as u32)),
            Err(Exception::Program(ProgramKind::Privileged))
        );
        // A new AMR drops cached translations (hash page keys are checked at TLB fill).
        c.irq.lower(crate::cpu::IrqLines::EXIT);
        c.gpr[3] = 0xc000_0000_0000_0000;
        exec(&mut c, mtspr(3, sprn::AMR as u32));
        assert!(c.slice_ending());
        assert_eq!(c.spr[sprn::AMR], 0xc000_0000_0000_0000);
        // An undefined privileged number is illegal in supervisor state.
        assert_eq!(
            try_exec(&mut c, mfspr(3, 1000)),
            Err(Exception::Program(ProgramKind::Illegal))
        );
    }

    #[test]
    fn slb_instructions() {
        use crate::mmu::slb;
        let mut c = sup();
        let slbmte = |rs, rb| x_form(31, rs, 0, rb, 402, false);
        // Entry 2: ESID 0x1 (EA 0x1000_0000), VSID 0x555, Ks=0, Kp=1, 64 KiB base pages.
        let rs = 0x555 << 12 | slb::KP | 0x110;
        c.gpr[3] = rs;
        c.gpr[4] = 0x1000_0000 | slb::V | 2;
        exec(&mut c, slbmte(3, 4));
        // slbmfee/slbmfev read it back (index in RB[52:63]).
        c.gpr[6] = 2;
        exec(&mut c, x_form(31, 5, 0, 6, 915, false));
        assert_eq!(c.gpr[5], 0x1000_0000 | slb::V);
        exec(&mut c, x_form(31, 5, 0, 6, 851, false));
        assert_eq!(c.gpr[5], rs);
        // slbfee. finds it by EA: CR0 = 0b0010 (EQ) || SO.
        c.gpr[9] = 0x1fff_fff8;
        exec(&mut c, x_form(31, 8, 0, 9, 979, true));
        assert_eq!((c.gpr[8], c.crf(0)), (rs, 0b0010));
        c.gpr[9] = 0x2000_0000;
        c.xer.so = true;
        exec(&mut c, x_form(31, 8, 0, 9, 979, true));
        assert_eq!((c.gpr[8], c.crf(0)), (0, 0b0001));
        // slbfee without Rc is an invalid form.
        assert_eq!(
            try_exec(&mut c, x_form(31, 8, 0, 9, 979, false)),
            Err(Exception::Program(ProgramKind::Illegal))
        );
        // slbie RB = ESID (B=0 in RB[37:38]) removes it; slbsync is a no-op.
        c.gpr[7] = 0x1000_0000;
        exec(&mut c, x_form(31, 0, 0, 7, 434, false));
        exec(&mut c, x_form(31, 0, 0, 0, 338, false));
        exec(&mut c, x_form(31, 5, 0, 6, 915, false));
        assert_eq!(c.gpr[5] & slb::V, 0);
        // slbia (IH=0) keeps entry 0, IH=4 (RT field) drops it too.
        c.gpr[4] = slb::V; // entry 0, EA 0
        exec(&mut c, slbmte(3, 4));
        c.gpr[4] = 0x3000_0000 | slb::V | 1;
        exec(&mut c, slbmte(3, 4));
        exec(&mut c, x_form(31, 0, 0, 0, 498, false));
        assert!(c.slb_find(0).is_some() && c.slb_find(0x3000_0000).is_none());
        c.irq.lower(crate::cpu::IrqLines::EXIT);
        exec(&mut c, x_form(31, 4, 0, 0, 498, false));
        assert!(c.slb_find(0).is_none());
        assert!(c.slice_ending(), "slbia drops cached translations");
        // Index beyond the 32 entries, or an unimplemented page size: illegal.
        c.gpr[4] = slb::V | 32;
        assert_eq!(
            try_exec(&mut c, slbmte(3, 4)),
            Err(Exception::Program(ProgramKind::Illegal))
        );
        c.gpr[3] = rs | 0x120; // 16 GiB base pages
        c.gpr[4] = slb::V;
        assert_eq!(
            try_exec(&mut c, slbmte(3, 4)),
            Err(Exception::Program(ProgramKind::Illegal))
        );
        c.gpr[6] = 32;
        assert_eq!(
            try_exec(&mut c, x_form(31, 5, 0, 6, 851, false)),
            Err(Exception::Program(ProgramKind::Illegal))
        );
        // slbieg/slbiag are the hypervisor's; everything is privileged.
        for xo in [466, 850] {
            assert_eq!(
                try_exec(&mut c, x_form(31, 3, 0, 4, xo, false)),
                Err(Exception::Program(ProgramKind::Privileged))
            );
        }
        let mut u = cpu();
        for xo in [402, 434, 498, 851, 915, 338] {
            assert_eq!(
                try_exec(&mut u, x_form(31, 3, 0, 4, xo, false)),
                Err(Exception::Program(ProgramKind::Privileged)),
                "xo {xo}"
            );
        }
    }

    #[test]
    fn tlbie_flushes() {
        let mut c = sup();
        c.irq.lower(crate::cpu::IrqLines::EXIT);
        exec(&mut c, x_form(31, 0, 0, 4, 306, false));
        assert!(c.slice_ending());
    }
}
