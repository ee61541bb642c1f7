//! Branches, CR logical operations, SPR moves, system call and synchronisation instructions.
//!
//! Reserved bits: X-form words of opcode 31 with Rc=1 where the ISA defines no record form are not
//! claimed (illegal), as QEMU does; real POWER9 leaves such invalid forms boundedly undefined.

use crate::cpu::{Cpu, Ex, Exception};
use crate::exec::Handler;
use crate::insn::Insn;

#[path = "spr.rs"]
mod spr;

/// Opcodes 16 (bc), 17 (sc/scv), 18 (b), 19 (CR ops, bclr, bcctr, bctar, addpcis, isync).
pub fn decode(i: Insn) -> Option<Handler> {
    Some(match i.opcd() {
        16 => bc,
        // Bits 30:31 tell sc (10) from scv (01); the other two values are not instructions.
        17 => match i.0 & 3 {
            2 => sc,
            1 => scv,
            _ => return None,
        },
        18 => b,
        19 => {
            // addpcis is DX-form: its xo is only bits 26:30, the rest of the word is immediate.
            if i.xo5() == 2 {
                return Some(addpcis);
            }
            match i.xo10() {
                0 => mcrf,
                16 => bclr,
                33 | 129 | 193 | 225 | 257 | 289 | 417 | 449 => cr_logical,
                150 => nop, // isync: no prefetched instructions to discard in an interpreter
                // BO[2]=0 (decrement CTR) is an invalid form of bcctr: the CTR is the target.
                528 if i.rt() & 4 != 0 => bcctr,
                560 => bctar,
                _ => return None,
            }
        }
        _ => return None,
    })
}

/// Opcode 31 extended opcodes owned by this module: SPR and CR moves, mcrxrx, sync, eieio.
pub fn decode31(i: Insn) -> Option<Handler> {
    if i.rc_bit() {
        return None;
    }
    Some(match i.xo10() {
        19 => mfcr,
        144 => mtcrf,
        339 => mfspr,
        371 if matches!(i.spr(), spr::TB | spr::TBU) => mfspr, // mftb: other TBR values are invalid
        467 => mtspr,
        576 => mcrxrx,
        598 => sync,
        854 => eieio,
        _ => return None,
    })
}

fn nop(_: &mut Cpu, _: Insn) -> Ex {
    Ok(())
}

/// sync L: hwsync (0) and ptesync (2) order every earlier access before every later one, which on
/// an x86-64 host (TSO) takes a full fence: only a store followed by a load may pass there.
/// lwsync (1) orders all but store→load, which TSO already gives: it only keeps the compiler from
/// moving guest accesses across it (a weaker host needs an acquire-release fence).
fn sync(_: &mut Cpu, i: Insn) -> Ex {
    use std::sync::atomic::{fence, Ordering::SeqCst};
    if i.rt() & 3 == 1 {
        light_fence();
    } else {
        fence(SeqCst);
    }
    Ok(())
}

/// eieio orders storage accesses in pairs TSO never reorders (store→store, load→load, the
/// caching-inhibited ones), like lwsync.
fn eieio(_: &mut Cpu, _: Insn) -> Ex {
    light_fence();
    Ok(())
}

/// The ordering lwsync and eieio promise: all but store→load.
#[inline(always)]
fn light_fence() {
    #[cfg(any(target_arch = "x86_64", target_arch = "x86"))]
    std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
    #[cfg(not(any(target_arch = "x86_64", target_arch = "x86")))]
    std::sync::atomic::fence(std::sync::atomic::Ordering::AcqRel);
}

/// BO/BI condition evaluation, decrementing CTR when BO says so. BO[4] (and the "at" hint bits)
/// only predict the outcome.
#[inline(always)]
fn cond_ok(cpu: &mut Cpu, i: Insn) -> bool {
    let bo = i.rt() as u32;
    let mut ctr_ok = true;
    if bo & 4 == 0 {
        cpu.ctr = cpu.ctr.wrapping_sub(1);
        // In 32-bit mode only the low word of CTR is tested (the decrement is still 64-bit).
        let ctr = if cpu.sf() {
            cpu.ctr
        } else {
            cpu.ctr as u32 as u64
        };
        ctr_ok = (ctr != 0) ^ (bo & 2 != 0);
    }
    let cond_ok = bo & 16 != 0 || cpu.crbit(i.ra()) == (bo & 8 != 0);
    ctr_ok && cond_ok
}

/// LR <- CIA + 4, wrapping to 32 bits in 32-bit mode.
#[inline(always)]
fn link(cpu: &mut Cpu, i: Insn) {
    if i.lk() {
        cpu.lr = cpu.ea(cpu.nip);
    }
}

fn b(cpu: &mut Cpu, i: Insn) -> Ex {
    let li = ((i.0 & 0x03ff_fffc) << 6) as i32 >> 6;
    let target = if i.aa() {
        li as i64 as u64
    } else {
        cpu.pc.wrapping_add(li as i64 as u64)
    };
    link(cpu, i);
    cpu.nip = cpu.ea(target);
    Ok(())
}

fn bc(cpu: &mut Cpu, i: Insn) -> Ex {
    let take = cond_ok(cpu, i);
    link(cpu, i);
    if take {
        let bd = (i.0 & 0xfffc) as u16 as i16 as i64 as u64;
        let target = if i.aa() { bd } else { cpu.pc.wrapping_add(bd) };
        cpu.nip = cpu.ea(target);
    }
    Ok(())
}

fn bclr(cpu: &mut Cpu, i: Insn) -> Ex {
    let take = cond_ok(cpu, i);
    // The target is the LR from before this instruction's own link update (bclrl).
    let target = cpu.lr & !3;
    link(cpu, i);
    if take {
        cpu.nip = cpu.ea(target);
    }
    Ok(())
}

fn bcctr(cpu: &mut Cpu, i: Insn) -> Ex {
    // decode() only accepts BO[2]=1, so cond_ok never touches the CTR here.
    let take = cond_ok(cpu, i);
    link(cpu, i);
    if take {
        cpu.nip = cpu.ea(cpu.ctr & !3);
    }
    Ok(())
}

/// bctar: like bclr but to TAR; CTR decrementing is allowed (unlike bcctr).
fn bctar(cpu: &mut Cpu, i: Insn) -> Ex {
    let take = cond_ok(cpu, i);
    link(cpu, i);
    if take {
        cpu.nip = cpu.ea(cpu.tar & !3);
    }
    Ok(())
}

fn sc(_: &mut Cpu, i: Insn) -> Ex {
    Err(Exception::SystemCall {
        lev: i.bits(20, 26) as u8,
    })
}

fn scv(_: &mut Cpu, i: Insn) -> Ex {
    Err(Exception::SystemCallVectored {
        lev: i.bits(20, 26) as u8,
    })
}

/// crand, cror, crxor, crnand, crnor, creqv, crandc, crorc. Bits 22:25 of these eight encodings
/// are the operation's truth table: bit (2*a + b) of them is the result for inputs a, b.
fn cr_logical(cpu: &mut Cpu, i: Insn) -> Ex {
    let table = i.bits(22, 25);
    let a = cpu.crbit(i.ra()) as u32;
    let b = cpu.crbit(i.rb()) as u32;
    cpu.set_crbit(i.rt(), table >> (2 * a + b) & 1 != 0);
    Ok(())
}

fn mcrf(cpu: &mut Cpu, i: Insn) -> Ex {
    let v = cpu.crf(i.bfa());
    cpu.set_crf(i.bf(), v);
    Ok(())
}

/// addpcis RT,D: RT <- NIA + (D || 0x0000), D split over d0 (16:25), d1 (11:15), d2 (31).
fn addpcis(cpu: &mut Cpu, i: Insn) -> Ex {
    let d = (i.bits(16, 25) << 6 | i.bits(11, 15) << 1 | i.bits(31, 31)) as u16 as i16 as i64;
    cpu.gpr[i.rt()] = cpu.nip.wrapping_add((d << 16) as u64);
    Ok(())
}

/// The CR field mask selected by FXM (bits 12:19): FXM bit 0 (MSB) selects CR0.
#[inline(always)]
fn fxm_mask(i: Insn) -> u32 {
    let fxm = i.bits(12, 19);
    let mut m = 0;
    for f in 0..8 {
        if fxm & (0x80 >> f) != 0 {
            m |= 0xf000_0000 >> (4 * f);
        }
    }
    m
}

/// mfcr, and mfocrf (bit 11 set). For mfocrf the ISA leaves the unselected fields undefined; we
/// return them as zero, and FXM with several (or no) bits set selects those fields.
fn mfcr(cpu: &mut Cpu, i: Insn) -> Ex {
    let m = if i.bits(11, 11) != 0 {
        fxm_mask(i)
    } else {
        0xffff_ffff
    };
    cpu.gpr[i.rt()] = (cpu.cr & m) as u64;
    Ok(())
}

/// mtcrf, and mtocrf (bit 11 set). An mtocrf FXM without exactly one bit set leaves CR undefined
/// in the ISA; we update the selected fields as mtcrf does.
fn mtcrf(cpu: &mut Cpu, i: Insn) -> Ex {
    let m = fxm_mask(i);
    cpu.cr = (cpu.cr & !m) | (cpu.gpr[i.rt()] as u32 & m);
    Ok(())
}

/// mcrxrx BF: CR[BF] <- OV || OV32 || CA || CA32.
fn mcrxrx(cpu: &mut Cpu, i: Insn) -> Ex {
    let x = cpu.xer;
    let v = (x.ov as u32) << 3 | (x.ov32 as u32) << 2 | (x.ca as u32) << 1 | x.ca32 as u32;
    cpu.set_crf(i.bf(), v);
    Ok(())
}

/// mfspr, and mftb (TBR 268/269 read through the same table).
fn mfspr(cpu: &mut Cpu, i: Insn) -> Ex {
    let v = spr::read(cpu, i.spr())?;
    cpu.gpr[i.rt()] = v;
    Ok(())
}

fn mtspr(cpu: &mut Cpu, i: Insn) -> Ex {
    spr::write(cpu, i.spr(), cpu.gpr[i.rt()])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::ProgramKind;
    use crate::testutil::*;

    /// B-form bc: BO, BI, BD (byte displacement, low two bits dropped), AA, LK.
    fn bc_w(bo: u32, bi: u32, bd: i16, aa: bool, lk: bool) -> u32 {
        16 << 26 | bo << 21 | bi << 16 | (bd as u16 as u32 & 0xfffc) | (aa as u32) << 1 | lk as u32
    }

    /// XL-form of opcode 19.
    fn xl(bt: u32, ba: u32, bb: u32, xo: u32, lk: bool) -> u32 {
        19 << 26 | bt << 21 | ba << 16 | bb << 11 | xo << 1 | lk as u32
    }

    /// Runs bc at CODE with the given BO/BI and reports whether it branched (to CODE+0x40).
    fn taken(c: &mut crate::Cpu, bo: u32, bi: u32) -> bool {
        exec(c, bc_w(bo, bi, 0x40, false, false));
        match c.pc {
            x if x == CODE + 0x40 => true,
            x if x == CODE + 4 => false,
            x => panic!("bad pc {x:#x}"),
        }
    }

    #[test]
    fn bo_condition_only() {
        // BO=12 (1z1zz... = 011zz): branch if CR bit set; BO=4 (001zz): branch if clear. CTR untouched.
        let mut c = cpu();
        c.ctr = 5;
        c.set_crbit(2, true); // CR0[EQ]
        assert!(taken(&mut c, 12, 2));
        assert!(!taken(&mut c, 4, 2));
        assert!(!taken(&mut c, 12, 1));
        assert!(taken(&mut c, 4, 1));
        // BO=20 (1z1zz): always; the "at" hint bits (BO=13/15) do not change the outcome.
        assert!(taken(&mut c, 20, 0));
        assert!(taken(&mut c, 15, 2));
        assert_eq!(c.ctr, 5);
    }

    #[test]
    fn bo_ctr_decrement() {
        let mut c = cpu();
        // BO=16 (bdnz): decrement, branch if CTR != 0.
        c.ctr = 2;
        assert!(taken(&mut c, 16, 0));
        assert_eq!(c.ctr, 1);
        assert!(!taken(&mut c, 16, 0));
        assert_eq!(c.ctr, 0);
        // BO=18 (bdz): branch if CTR == 0 after the decrement; 0 wraps to all ones.
        assert!(!taken(&mut c, 18, 0));
        assert_eq!(c.ctr, u64::MAX);
        c.ctr = 1;
        assert!(taken(&mut c, 18, 0));
        // BO=8 (bdnzt): CTR != 0 and CR bit set; BO=0 (bdnzf): CTR != 0 and bit clear.
        c.cr = 0x8000_0000; // CR0[LT]
        c.ctr = 3;
        assert!(taken(&mut c, 8, 0));
        assert!(!taken(&mut c, 0, 0));
        assert_eq!(c.ctr, 1);
        // BO=10 (bdzt) / BO=2 (bdzf) with CTR reaching zero.
        c.ctr = 1;
        assert!(taken(&mut c, 10, 0));
        c.ctr = 1;
        assert!(!taken(&mut c, 2, 0));
        c.ctr = 1;
        assert!(taken(&mut c, 2, 1));
    }

    #[test]
    fn ctr_32bit_mode_tests_low_word() {
        // In 32-bit mode bdnz looks only at CTR[32:63]: 0x1_0000_0001 - 1 has a zero low word.
        let mut c = cpu();
        c.set_msr(c.msr & !crate::cpu::msr::SF);
        c.ctr = 0x1_0000_0001;
        assert!(!taken(&mut c, 16, 0));
        assert_eq!(c.ctr, 0x1_0000_0000);
    }

    #[test]
    fn bc_link_and_absolute() {
        let mut c = cpu();
        // bcl 20,0,-8: LR = CIA+4, target CIA-8.
        exec(&mut c, bc_w(20, 0, -8, false, true));
        assert_eq!(c.pc, CODE - 8);
        assert_eq!(c.lr, CODE + 4);
        // bcla 20,0,0x100: absolute target.
        exec(&mut c, bc_w(20, 0, 0x100, true, true));
        assert_eq!(c.pc, 0x100);
        // LK is honoured even when not taken.
        c.lr = 0;
        exec(&mut c, bc_w(12, 0, 0x100, false, true)); // CR0[LT] is clear
        assert_eq!((c.pc, c.lr), (CODE + 4, CODE + 4));
        // bca with a negative BD sign-extends: 0xfff0 -> -16.
        exec(&mut c, bc_w(20, 0, -16, true, false));
        assert_eq!(c.pc, (-16i64) as u64);
    }

    #[test]
    fn b_forms() {
        let mut c = cpu();
        // b +0x1000 / bl -0x1000 / ba 0x2000 / bla with LI = -4 (absolute, sign-extended).
        exec(&mut c, 18 << 26 | 0x1000);
        assert_eq!(c.pc, CODE + 0x1000);
        exec(&mut c, 18 << 26 | (-0x1000i32 as u32 & 0x03ff_fffc) | 1);
        assert_eq!((c.pc, c.lr), (CODE - 0x1000, CODE + 4));
        exec(&mut c, 18 << 26 | 0x2000 | 2);
        assert_eq!(c.pc, 0x2000);
        exec(&mut c, 18 << 26 | (-4i32 as u32 & 0x03ff_fffc) | 3);
        assert_eq!(c.pc, u64::MAX - 3);
    }

    #[test]
    fn branch_target_32bit_truncation() {
        // In 32-bit mode the target and the LR wrap at 2^32: ba to -4 gives 0xffff_fffc.
        let mut c = cpu();
        c.set_msr(c.msr & !crate::cpu::msr::SF);
        exec(&mut c, 18 << 26 | (-4i32 as u32 & 0x03ff_fffc) | 3);
        assert_eq!(c.pc, 0xffff_fffc);
        assert_eq!(c.lr, CODE + 4);
        // blr to an LR with high bits set lands on the low word.
        c.lr = 0xdead_0000_0000_2003;
        exec(&mut c, xl(20, 0, 0, 16, false));
        assert_eq!(c.pc, 0x2000);
    }

    #[test]
    fn bclr_bcctr_bctar() {
        let mut c = cpu();
        // blrl: target is the old LR (low bits cleared), LR becomes CIA+4.
        c.lr = 0x3003;
        exec(&mut c, xl(20, 0, 0, 16, true));
        assert_eq!((c.pc, c.lr), (0x3000, CODE + 4));
        // bdnzlr: decrements CTR.
        c.lr = 0x3000;
        c.ctr = 2;
        exec(&mut c, xl(16, 0, 0, 16, false));
        assert_eq!((c.pc, c.ctr), (0x3000, 1));
        // bctrl.
        c.ctr = 0x4002;
        exec(&mut c, xl(20, 0, 0, 528, true));
        assert_eq!((c.pc, c.lr), (0x4000, CODE + 4));
        // beqctr not taken.
        c.cr = 0;
        exec(&mut c, xl(12, 2, 0, 528, false));
        assert_eq!(c.pc, CODE + 4);
        // bctar (btar) and bdnztar: TAR target, CTR decrement allowed.
        c.tar = 0x5001;
        exec(&mut c, xl(20, 0, 0, 560, false));
        assert_eq!(c.pc, 0x5000);
        c.ctr = 1;
        exec(&mut c, xl(16, 0, 0, 560, true));
        assert_eq!((c.pc, c.ctr, c.lr), (CODE + 4, 0, CODE + 4));
    }

    #[test]
    fn bcctr_decrement_is_illegal() {
        // bcctr with BO[2]=0 (BO=16, bdnzctr) is an invalid form.
        let mut c = cpu();
        c.ctr = 5;
        assert_eq!(
            try_exec(&mut c, xl(16, 0, 0, 528, false)),
            Err(Exception::Program(ProgramKind::Illegal))
        );
        assert_eq!(c.ctr, 5);
    }

    #[test]
    fn cr_logical_ops() {
        // CR bits: 1 = 1, 2 = 0 (a=1, b=0), and a=b=1 using bits 1,1; targets bit 9.
        let mut c = cpu();
        c.cr = 0x4000_0000; // only bit 1 set
                            // (xo, a=1 b=0 result, a=1 b=1 result, a=0 b=0 result)
        let ops: [(u32, bool, bool, bool); 8] = [
            (257, false, true, false), // crand
            (449, true, true, false),  // cror
            (193, true, false, false), // crxor
            (225, true, false, true),  // crnand
            (33, false, false, true),  // crnor
            (289, false, true, true),  // creqv
            (129, true, false, false), // crandc
            (417, true, true, true),   // crorc
        ];
        for (xo, r10, r11, r00) in ops {
            exec(&mut c, xl(9, 1, 2, xo, false));
            assert_eq!(c.crbit(9), r10, "xo {xo} a=1 b=0");
            exec(&mut c, xl(9, 1, 1, xo, false));
            assert_eq!(c.crbit(9), r11, "xo {xo} a=1 b=1");
            exec(&mut c, xl(9, 2, 3, xo, false));
            assert_eq!(c.crbit(9), r00, "xo {xo} a=0 b=0");
            // The other bits are untouched.
            assert_eq!(c.cr & !(1 << 22), 0x4000_0000);
        }
        // crandc a=0 b=1 is 0, crorc a=0 b=1 is 0.
        c.set_crbit(3, true);
        exec(&mut c, xl(9, 2, 3, 417, false));
        assert!(!c.crbit(9));
    }

    #[test]
    fn mcrf_copies_field() {
        let mut c = cpu();
        c.cr = 0x0a00_0000; // CR1 = 0b1010
        exec(&mut c, xl(7 << 2, 1 << 2, 0, 0, false)); // mcrf cr7,cr1
        assert_eq!(c.cr, 0x0a00_000a);
    }

    #[test]
    fn mtcrf_mfcr() {
        let mut c = cpu();
        c.cr = 0x1234_5678;
        c.gpr[3] = 0xffff_ffff_9abc_def0;
        // mtcrf 0x81,r3: fields 0 and 7 only.
        exec(&mut c, 0x7c68_1120);
        assert_eq!(c.cr, 0x9234_5670);
        // mtocrf 0x20,r3: field 2.
        exec(&mut c, 0x7c72_0120);
        assert_eq!(c.cr, 0x92b4_5670);
        // mfcr r4 zero-extends; mfocrf r4,0x20 returns field 2 only.
        exec(&mut c, 0x7c80_0026);
        assert_eq!(c.gpr[4], 0x92b4_5670);
        exec(&mut c, 0x7c92_0026);
        assert_eq!(c.gpr[4], 0x00b0_0000);
    }

    #[test]
    fn mcrxrx_fields() {
        let mut c = cpu();
        c.xer.ov = true;
        c.xer.ca = true;
        c.xer.ca32 = true;
        exec(&mut c, 0x7d80_0480); // mcrxrx cr3
        assert_eq!(c.crf(3), 0b1011);
        assert_eq!(c.cr & !0x000f_0000, 0);
    }

    #[test]
    fn addpcis_forms() {
        let mut c = cpu();
        // addpcis r3,1 -> NIA + 0x10000; addpcis r3,-1 -> NIA - 0x10000.
        exec(&mut c, 0x4c60_0005);
        assert_eq!(c.gpr[3], CODE + 4 + 0x10000);
        exec(&mut c, 0x4c7f_ffc5);
        assert_eq!(c.gpr[3], (CODE + 4).wrapping_sub(0x10000));
        // D = 0x4321 spread as d0=0x4321>>6, d1=(0x4321>>1)&31, d2=1.
        let (d0, d1, d2) = (0x4321u32 >> 6, (0x4321u32 >> 1) & 31, 1u32);
        exec(
            &mut c,
            19 << 26 | 5 << 21 | d1 << 16 | d0 << 6 | 2 << 1 | d2,
        );
        assert_eq!(c.gpr[5], CODE + 4 + 0x4321_0000);
    }

    #[test]
    fn sc_and_scv() {
        let mut c = cpu();
        assert_eq!(
            try_exec(&mut c, 0x4400_0002),
            Err(Exception::SystemCall { lev: 0 })
        );
        assert_eq!(c.pc, CODE + 4);
        assert_eq!(
            try_exec(&mut c, 0x4400_0022),
            Err(Exception::SystemCall { lev: 1 })
        );
        assert_eq!(
            try_exec(&mut c, 0x4400_0021),
            Err(Exception::SystemCallVectored { lev: 1 })
        );
        assert_eq!(
            try_exec(&mut c, 0x4400_0000),
            Err(Exception::Program(ProgramKind::Illegal))
        );
    }

    #[test]
    fn sync_isync_eieio_change_no_registers() {
        let mut c = cpu();
        for w in [
            0x7c00_04ac,
            0x7c20_04ac,
            0x7c40_04ac,
            0x7c00_06ac,
            0x4c00_012c,
        ] {
            exec(&mut c, w);
            assert_eq!(c.pc, CODE + 4);
        }
    }

    /// mfspr/mtspr RT,n with the SPR halves swapped as encoded.
    fn mfspr_w(rt: u32, n: u32) -> u32 {
        31 << 26 | rt << 21 | (n & 31) << 16 | (n >> 5) << 11 | 339 << 1
    }
    fn mtspr_w(n: u32, rs: u32) -> u32 {
        31 << 26 | rs << 21 | (n & 31) << 16 | (n >> 5) << 11 | 467 << 1
    }

    #[test]
    fn spr_user_moves() {
        let mut c = cpu();
        assert_eq!(mfspr_w(3, 256), 0x7c60_42a6); // mfvrsave r3, from the assembler
        c.gpr[3] = 0x1234_5678_9abc_def0;
        for n in [8, 9, 815] {
            exec(&mut c, mtspr_w(n, 3));
            exec(&mut c, mfspr_w(4, n));
            assert_eq!(c.gpr[4], 0x1234_5678_9abc_def0, "spr {n}");
        }
        assert_eq!((c.lr, c.ctr, c.tar), (c.gpr[3], c.gpr[3], c.gpr[3]));
        // VRSAVE is 32 bits.
        exec(&mut c, mtspr_w(256, 3));
        exec(&mut c, mfspr_w(4, 256));
        assert_eq!(c.gpr[4], 0x9abc_def0);
        // XER: SO OV CA OV32 CA32 and the byte count.
        c.gpr[3] = 1 << 31 | 1 << 29 | 1 << 18 | 0x45;
        exec(&mut c, mtspr_w(1, 3));
        assert!(c.xer.so && !c.xer.ov && c.xer.ca && !c.xer.ov32 && c.xer.ca32);
        assert_eq!(c.xer.count, 0x45);
        exec(&mut c, mfspr_w(4, 1));
        assert_eq!(c.gpr[4], c.gpr[3]);
        // DSCR keeps its defined bits 39:63.
        c.gpr[3] = u64::MAX;
        exec(&mut c, mtspr_w(3, 3));
        exec(&mut c, mfspr_w(4, 3));
        assert_eq!(c.gpr[4], 0x1ff_ffff);
        // SPRG3 read alias reads 0 (no SPRG3 in Cpu yet); CTRL read shows the run latch.
        exec(&mut c, mfspr_w(4, 259));
        assert_eq!(c.gpr[4], 0);
        exec(&mut c, mfspr_w(4, 136));
        assert_eq!(c.gpr[4], 1);
    }

    #[test]
    fn timebase_reads() {
        let mut c = cpu();
        c.tb_offset = 0x7000_0000_0000_0000;
        exec(&mut c, mfspr_w(3, 268));
        exec(&mut c, mfspr_w(4, 269));
        exec(&mut c, 0x7cac_42e6); // old-style mftb r5 (31/371, TBR 268)
        exec(&mut c, 0x7ccd_42e6); // mftbu r6 (31/371, TBR 269)
        assert!(c.gpr[3] >= 0x7000_0000_0000_0000);
        assert!(c.gpr[5] >= c.gpr[3]);
        // TBU is read after TB: its value is TB's high word, or one more if a carry came between.
        assert!(c.gpr[4].wrapping_sub(c.gpr[3] >> 32) <= 1);
        assert!(c.gpr[6].wrapping_sub(c.gpr[5] >> 32) <= 1);
        // mftb with another TBR is invalid; TB is read-only through mtspr 268.
        assert_eq!(
            try_exec(&mut c, 0x7cc8_42e6),
            Err(Exception::Program(ProgramKind::Illegal))
        );
        assert_eq!(
            try_exec(&mut c, mtspr_w(268, 3)),
            Err(Exception::Program(ProgramKind::Illegal))
        );
    }

    #[test]
    fn spr_privilege() {
        let mut c = cpu();
        c.gpr[4] = 77;
        // SRR0 (26), SPRG0 (272), CTRL write (152) have spr[0] (0x10) set: privileged in problem
        // state, and so is a number with that bit that names no SPR (0x3f1).
        for n in [26, 272, 152, 0x3f1] {
            assert_eq!(
                try_exec(&mut c, mfspr_w(4, n)),
                Err(Exception::Program(ProgramKind::Privileged)),
                "mfspr {n}"
            );
            assert_eq!(
                try_exec(&mut c, mtspr_w(n, 4)),
                Err(Exception::Program(ProgramKind::Privileged)),
                "mtspr {n}"
            );
        }
        assert_eq!(c.gpr[4], 77);
        // Undefined numbers without the 0x10 bit are illegal.
        for n in [0, 2, 100, 777, 1000] {
            assert_eq!(
                try_exec(&mut c, mfspr_w(4, n)),
                Err(Exception::Program(ProgramKind::Illegal)),
                "mfspr {n}"
            );
        }
        // Read-only aliases are not writable: mtspr 259 / 136 are undefined numbers.
        for n in [136, 259] {
            assert_eq!(
                try_exec(&mut c, mtspr_w(n, 4)),
                Err(Exception::Program(ProgramKind::Illegal))
            );
        }
    }

    #[test]
    fn ppr_priorities() {
        let mut c = cpu();
        // Problem state may set medium (4) ...
        c.gpr[3] = 4 << 50;
        exec(&mut c, mtspr_w(896, 3));
        assert_eq!(c.ppr, 4 << 50);
        // ... but not high (6), very high (7) or the reserved 0: PPR is unchanged.
        for p in [6u64, 7, 0] {
            c.gpr[3] = p << 50;
            exec(&mut c, mtspr_w(896, 3));
            assert_eq!(c.ppr, 4 << 50);
        }
        // PPR32 shows PPR[0:31] in the low word; writing it sets PRI from bits 43:45.
        exec(&mut c, mfspr_w(5, 898));
        assert_eq!(c.gpr[5], 4 << 18);
        c.gpr[3] = 2 << 18;
        exec(&mut c, mtspr_w(898, 3));
        assert_eq!(c.ppr, 2 << 50);
        // The OS may set high.
        c.set_msr(c.msr & !crate::cpu::msr::PR);
        c.gpr[3] = 6 << 50;
        exec(&mut c, mtspr_w(896, 3));
        assert_eq!(c.ppr, 6 << 50);
    }

    #[test]
    fn reserved_rc_bit_not_claimed() {
        // mfspr with bit 31 set is not an instruction.
        assert!(decode31(Insn(mfspr_w(3, 8) | 1)).is_none());
        assert!(decode31(Insn(0x7c00_04ac)).is_some());
    }
}
