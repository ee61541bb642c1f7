//! Scalar floating-point instructions (ISA 3.0B Book I ch. 4): loads/stores, arithmetic,
//! rounding/conversion, compares and FPSCR moves. The arithmetic itself is in `fpu`.

#[path = "../fpu.rs"]
pub mod fpu;

use crate::cpu::{Cpu, Ex};
use crate::exec::Handler;
use crate::insn::{ea_d, ea_x, Insn};
use fpu::{Ctx, Fma, IntKind, Prec, Res, Round};

/// Primary opcodes 48..55 (D-form loads/stores), 57/61 with xo2 = 0 (lfdp/stfdp), 59 and 63.
pub fn decode(i: Insn) -> Option<Handler> {
    let upd = i.ra() != 0; // update forms with RA = 0 are invalid
    Some(match i.opcd() {
        48 => lfs,
        49 if upd => lfsu,
        50 => lfd,
        51 if upd => lfdu,
        52 => stfs,
        53 if upd => stfsu,
        54 => stfd,
        55 if upd => stfdu,
        // An odd FRTp is an invalid form.
        57 if i.xo2() == 0 && i.rt() & 1 == 0 => lfdp,
        61 if i.xo2() == 0 && i.rt() & 1 == 0 => stfdp,
        59 => return decode59(i),
        63 => return decode63(i),
        _ => return None,
    })
}

/// Opcode 31 extended opcodes owned by this module: the X-form FP loads and stores.
pub fn decode31(i: Insn) -> Option<Handler> {
    let upd = i.ra() != 0;
    Some(match i.xo10() {
        535 => lfsx,
        567 if upd => lfsux,
        599 => lfdx,
        631 if upd => lfdux,
        663 => stfsx,
        695 if upd => stfsux,
        727 => stfdx,
        759 if upd => stfdux,
        855 => lfiwax,
        887 => lfiwzx,
        983 => stfiwx,
        791 if i.rt() & 1 == 0 => lfdpx,
        919 if i.rt() & 1 == 0 => stfdpx,
        _ => return None,
    })
}

/// Opcode 59: single-precision arithmetic (A-form) and fcfid[u]s.
fn decode59(i: Insn) -> Option<Handler> {
    Some(match i.xo5() {
        18 => fdivs,
        20 => fsubs,
        21 => fadds,
        22 => fsqrts,
        24 => fres,
        25 => fmuls,
        26 => frsqrtes,
        28 => fmsubs,
        29 => fmadds,
        30 => fnmsubs,
        31 => fnmadds,
        _ => match i.xo10() {
            846 => fcfids,
            974 => fcfidus,
            _ => return None,
        },
    })
}

/// Opcode 63: double-precision arithmetic (A-form, xo5 >= 16) and the X-form rest.
fn decode63(i: Insn) -> Option<Handler> {
    if i.xo5() >= 16 {
        return Some(match i.xo5() {
            18 => fdiv,
            20 => fsub,
            21 => fadd,
            22 => fsqrt,
            23 => fsel,
            24 => fre,
            25 => fmul,
            26 => frsqrte,
            28 => fmsub,
            29 => fmadd,
            30 => fnmsub,
            31 => fnmadd,
            _ => return None,
        });
    }
    Some(match i.xo10() {
        0 => fcmpu,
        32 => fcmpo,
        8 => fcpsgn,
        12 => frsp,
        14 => fctiw,
        15 => fctiwz,
        142 => fctiwu,
        143 => fctiwuz,
        814 => fctid,
        815 => fctidz,
        942 => fctidu,
        943 => fctiduz,
        846 => fcfid,
        974 => fcfidu,
        392 => frin,
        424 => friz,
        456 => frip,
        488 => frim,
        40 => fneg,
        72 => fmr,
        136 => fnabs,
        264 => fabs,
        128 => ftdiv,
        160 => ftsqrt,
        38 => mtfsb1,
        70 => mtfsb0,
        134 => mtfsfi,
        711 => mtfsf,
        64 => mcrfs,
        966 => fmrgew,
        838 => fmrgow,
        583 => match i.ra() {
            0 => mffs,
            1 => mffsce,
            20 => mffscdrn,
            21 => mffscdrni,
            22 => mffscrn,
            23 => mffscrni,
            24 => mffsl,
            _ => return None,
        },
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------------
// Common tails.

/// CR1 ← FPSCR[FX, FEX, VX, OX], the record form of FP instructions.
#[inline(always)]
fn set_cr1(cpu: &mut Cpu) {
    cpu.set_crf(1, (cpu.fpscr >> 28) as u32 & 0xf);
}

/// Commits an arithmetic result to FRT and FPSCR, then the record form and enabled exceptions.
#[inline(always)]
fn finish(cpu: &mut Cpu, i: Insn, r: Res, prec: Prec) -> Ex {
    if let Some(v) = fpu::commit(cpu, r, prec) {
        cpu.set_fpr(i.rt(), v);
    }
    if i.rc_bit() {
        set_cr1(cpu);
    }
    fpu::check_enabled(cpu, r.flags)
}

/// Tail of instructions that change no FPSCR bit: only the record form.
#[inline(always)]
fn rc_only(cpu: &mut Cpu, i: Insn) -> Ex {
    if i.rc_bit() {
        set_cr1(cpu);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Loads and stores.

macro_rules! load_store {
    ($name:ident, $ea:ident, upd = $upd:expr, $body:ident) => {
        fn $name(cpu: &mut Cpu, i: Insn) -> Ex {
            cpu.check_fp()?;
            let ea = $ea(cpu, i);
            $body(cpu, i, ea)?;
            if $upd {
                cpu.gpr[i.ra()] = ea;
            }
            Ok(())
        }
    };
}

#[inline(always)]
fn ea_disp(cpu: &Cpu, i: Insn) -> u64 {
    ea_d(cpu, i, i.si())
}

#[inline(always)]
fn ea_ds(cpu: &Cpu, i: Insn) -> u64 {
    ea_d(cpu, i, i.ds())
}

/// lfs: the single at EA converted exactly to double (SNaNs stay signalling).
#[inline(always)]
fn ld_single(cpu: &mut Cpu, i: Insn, ea: u64) -> Ex {
    let w = cpu.ld_u32(ea)?;
    cpu.set_fpr(i.rt(), fpu::single_to_double(w));
    Ok(())
}

#[inline(always)]
fn ld_double(cpu: &mut Cpu, i: Insn, ea: u64) -> Ex {
    let v = cpu.ld_u64(ea)?;
    cpu.set_fpr(i.rt(), v);
    Ok(())
}

#[inline(always)]
fn st_single(cpu: &mut Cpu, i: Insn, ea: u64) -> Ex {
    cpu.st_u32(ea, fpu::double_to_single(cpu.fpr(i.rt())))
}

#[inline(always)]
fn st_double(cpu: &mut Cpu, i: Insn, ea: u64) -> Ex {
    cpu.st_u64(ea, cpu.fpr(i.rt()))
}

/// lfdp/lfdpx: the quadword at EA into FRTp:FRTp+1. In little-endian mode the quadword is
/// byte-reversed as a whole, so FRTp gets the doubleword at EA+8.
#[inline(always)]
fn ld_pair(cpu: &mut Cpu, i: Insn, ea: u64) -> Ex {
    let d0 = cpu.ld_u64(ea)?;
    let d1 = cpu.ld_u64(cpu.ea(ea.wrapping_add(8)))?;
    let (hi, lo) = if cpu.le { (d1, d0) } else { (d0, d1) };
    let t = i.rt() & 30;
    cpu.set_fpr(t, hi);
    cpu.set_fpr(t + 1, lo);
    Ok(())
}

#[inline(always)]
fn st_pair(cpu: &mut Cpu, i: Insn, ea: u64) -> Ex {
    let t = i.rt() & 30;
    let (hi, lo) = (cpu.fpr(t), cpu.fpr(t + 1));
    let (d0, d1) = if cpu.le { (lo, hi) } else { (hi, lo) };
    // A fault on the second doubleword can leave the first stored, which the ISA permits for
    // accesses that are split.
    cpu.st_u64(ea, d0)?;
    let ea1 = cpu.ea(ea.wrapping_add(8));
    cpu.st_u64(ea1, d1)
}

load_store!(lfs, ea_disp, upd = false, ld_single);
load_store!(lfsu, ea_disp, upd = true, ld_single);
load_store!(lfsx, ea_x, upd = false, ld_single);
load_store!(lfsux, ea_x, upd = true, ld_single);
load_store!(lfd, ea_disp, upd = false, ld_double);
load_store!(lfdu, ea_disp, upd = true, ld_double);
load_store!(lfdx, ea_x, upd = false, ld_double);
load_store!(lfdux, ea_x, upd = true, ld_double);
load_store!(stfs, ea_disp, upd = false, st_single);
load_store!(stfsu, ea_disp, upd = true, st_single);
load_store!(stfsx, ea_x, upd = false, st_single);
load_store!(stfsux, ea_x, upd = true, st_single);
load_store!(stfd, ea_disp, upd = false, st_double);
load_store!(stfdu, ea_disp, upd = true, st_double);
load_store!(stfdx, ea_x, upd = false, st_double);
load_store!(stfdux, ea_x, upd = true, st_double);
load_store!(lfdp, ea_ds, upd = false, ld_pair);
load_store!(lfdpx, ea_x, upd = false, ld_pair);
load_store!(stfdp, ea_ds, upd = false, st_pair);
load_store!(stfdpx, ea_x, upd = false, st_pair);
load_store!(lfiwax, ea_x, upd = false, ld_word_signed);
load_store!(lfiwzx, ea_x, upd = false, ld_word_zero);
load_store!(stfiwx, ea_x, upd = false, st_word);

#[inline(always)]
fn ld_word_signed(cpu: &mut Cpu, i: Insn, ea: u64) -> Ex {
    let w = cpu.ld_u32(ea)?;
    cpu.set_fpr(i.rt(), w as i32 as i64 as u64);
    Ok(())
}

#[inline(always)]
fn ld_word_zero(cpu: &mut Cpu, i: Insn, ea: u64) -> Ex {
    let w = cpu.ld_u32(ea)?;
    cpu.set_fpr(i.rt(), w as u64);
    Ok(())
}

/// stfiwx: the low word of FRS, stored as an integer.
#[inline(always)]
fn st_word(cpu: &mut Cpu, i: Insn, ea: u64) -> Ex {
    cpu.st_u32(ea, cpu.fpr(i.rt()) as u32)
}

// ---------------------------------------------------------------------------------------------
// Moves and selects: no FPSCR change.

macro_rules! mov {
    ($name:ident, |$a:ident, $b:ident| $e:expr) => {
        fn $name(cpu: &mut Cpu, i: Insn) -> Ex {
            cpu.check_fp()?;
            let $a = cpu.fpr(i.ra());
            let $b = cpu.fpr(i.rb());
            cpu.set_fpr(i.rt(), $e);
            rc_only(cpu, i)
        }
    };
}

mov!(fmr, |_a, b| b);
mov!(fneg, |_a, b| b ^ fpu::SIGN);
mov!(fabs, |_a, b| b & !fpu::SIGN);
mov!(fnabs, |_a, b| b | fpu::SIGN);
mov!(fcpsgn, |a, b| (a & fpu::SIGN) | (b & !fpu::SIGN));
mov!(fmrgew, |a, b| (a & 0xffff_ffff_0000_0000) | b >> 32);
mov!(fmrgow, |a, b| a << 32 | (b & 0xffff_ffff));

/// fsel: FRT ← FRC if FRA ≥ 0 (including -0, excluding NaN), else FRB.
fn fsel(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_fp()?;
    let a = cpu.fpr(i.ra());
    let ge0 = !fpu::is_nan(a) && (a & fpu::SIGN == 0 || fpu::is_zero(a));
    let v = if ge0 {
        cpu.fpr(i.rc())
    } else {
        cpu.fpr(i.rb())
    };
    cpu.set_fpr(i.rt(), v);
    rc_only(cpu, i)
}

// ---------------------------------------------------------------------------------------------
// Arithmetic.

macro_rules! binop {
    ($name:ident, $f:path, $prec:expr, $second:ident) => {
        fn $name(cpu: &mut Cpu, i: Insn) -> Ex {
            cpu.check_fp()?;
            let r = $f(
                Ctx::new(cpu.fpscr),
                cpu.fpr(i.ra()),
                cpu.fpr(i.$second()),
                $prec,
            );
            finish(cpu, i, r, $prec)
        }
    };
}

binop!(fadd, fpu::add, Prec::Double, rb);
binop!(fadds, fpu::add, Prec::Single, rb);
binop!(fsub, fpu::sub, Prec::Double, rb);
binop!(fsubs, fpu::sub, Prec::Single, rb);
binop!(fmul, fpu::mul, Prec::Double, rc);
binop!(fmuls, fpu::mul, Prec::Single, rc);
binop!(fdiv, fpu::div, Prec::Double, rb);
binop!(fdivs, fpu::div, Prec::Single, rb);

macro_rules! unop {
    ($name:ident, $f:path, $prec:expr) => {
        fn $name(cpu: &mut Cpu, i: Insn) -> Ex {
            cpu.check_fp()?;
            let r = $f(Ctx::new(cpu.fpscr), cpu.fpr(i.rb()), $prec);
            finish(cpu, i, r, $prec)
        }
    };
}

unop!(fsqrt, fpu::sqrt, Prec::Double);
unop!(fsqrts, fpu::sqrt, Prec::Single);
unop!(fre, fpu::re_estimate, Prec::Double);
unop!(fres, fpu::re_estimate, Prec::Single);
unop!(frsqrte, fpu::rsqrte_estimate, Prec::Double);
unop!(frsqrtes, fpu::rsqrte_estimate, Prec::Single);

macro_rules! fmaop {
    ($name:ident, $op:expr, $prec:expr) => {
        /// FRT ← ±(FRA × FRC ± FRB), one rounding.
        fn $name(cpu: &mut Cpu, i: Insn) -> Ex {
            cpu.check_fp()?;
            let r = fpu::fma(
                Ctx::new(cpu.fpscr),
                cpu.fpr(i.ra()),
                cpu.fpr(i.rc()),
                cpu.fpr(i.rb()),
                $op,
                $prec,
            );
            finish(cpu, i, r, $prec)
        }
    };
}

fmaop!(fmadd, Fma::MAdd, Prec::Double);
fmaop!(fmadds, Fma::MAdd, Prec::Single);
fmaop!(fmsub, Fma::MSub, Prec::Double);
fmaop!(fmsubs, Fma::MSub, Prec::Single);
fmaop!(fnmadd, Fma::NMAdd, Prec::Double);
fmaop!(fnmadds, Fma::NMAdd, Prec::Single);
fmaop!(fnmsub, Fma::NMSub, Prec::Double);
fmaop!(fnmsubs, Fma::NMSub, Prec::Single);

// ---------------------------------------------------------------------------------------------
// Rounding and conversion.

fn frsp(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_fp()?;
    let r = fpu::round_to_single(Ctx::new(cpu.fpscr), cpu.fpr(i.rb()));
    finish(cpu, i, r, Prec::Single)
}

macro_rules! fcti {
    ($name:ident, $kind:expr, $rm:expr) => {
        /// Convert to integer. FPRF is undefined: it is left unchanged, except that a disabled
        /// VXCVI sets it to the QNaN class as QEMU does, so the two can be compared.
        fn $name(cpu: &mut Cpu, i: Insn) -> Ex {
            cpu.check_fp()?;
            #[allow(clippy::redundant_closure_call)]
            let rm = ($rm)(cpu.fpscr);
            let r = fpu::to_int(cpu.fpr(i.rb()), $kind, rm);
            if let Some(v) = fpu::commit_no_fprf(cpu, r) {
                cpu.set_fpr(i.rt(), v);
                if r.flags & fpu::VXCVI != 0 {
                    cpu.fpscr = (cpu.fpscr & !fpu::FPRF) | fpu::class::QNAN << fpu::FPRF_SHIFT;
                }
            }
            if i.rc_bit() {
                set_cr1(cpu);
            }
            fpu::check_enabled(cpu, r.flags)
        }
    };
}

fcti!(fctiw, IntKind::I32, Round::from_rn);
fcti!(fctiwz, IntKind::I32, |_| Round::Zero);
fcti!(fctiwu, IntKind::U32, Round::from_rn);
fcti!(fctiwuz, IntKind::U32, |_| Round::Zero);
fcti!(fctid, IntKind::I64, Round::from_rn);
fcti!(fctidz, IntKind::I64, |_| Round::Zero);
fcti!(fctidu, IntKind::U64, Round::from_rn);
fcti!(fctiduz, IntKind::U64, |_| Round::Zero);

macro_rules! fcfid {
    ($name:ident, $signed:expr, $prec:expr) => {
        fn $name(cpu: &mut Cpu, i: Insn) -> Ex {
            cpu.check_fp()?;
            let r = fpu::from_int(Ctx::new(cpu.fpscr), cpu.fpr(i.rb()), $signed, $prec);
            finish(cpu, i, r, $prec)
        }
    };
}

fcfid!(fcfid, true, Prec::Double);
fcfid!(fcfids, true, Prec::Single);
fcfid!(fcfidu, false, Prec::Double);
fcfid!(fcfidus, false, Prec::Single);

macro_rules! frint {
    ($name:ident, $rm:expr) => {
        /// Round to integral value: FR and FI are set to 0 and XX is not altered.
        fn $name(cpu: &mut Cpu, i: Insn) -> Ex {
            cpu.check_fp()?;
            let mut r = fpu::round_to_int(cpu.fpr(i.rb()), $rm);
            r.flags &= !(fpu::XX | fpu::FI | fpu::FR);
            finish(cpu, i, r, Prec::Double)
        }
    };
}

frint!(frin, Round::NearestAway);
frint!(friz, Round::Zero);
frint!(frip, Round::Up);
frint!(frim, Round::Down);

// ---------------------------------------------------------------------------------------------
// Compares and tests.

/// fcmpu/fcmpo: CR[BF] and FPSCR[FPCC] ← the comparison; FR, FI and C are not changed.
#[inline(always)]
fn fcmp(cpu: &mut Cpu, i: Insn, ordered: bool) -> Ex {
    cpu.check_fp()?;
    let r = fpu::compare(
        Ctx::new(cpu.fpscr),
        cpu.fpr(i.ra()),
        cpu.fpr(i.rb()),
        ordered,
    );
    let f = fpu::set_exceptions(cpu.fpscr, r.flags);
    cpu.fpscr = (f & !fpu::FPCC) | r.bits << fpu::FPRF_SHIFT;
    cpu.set_crf(i.bf(), r.bits as u32);
    fpu::check_enabled(cpu, r.flags)
}

fn fcmpu(cpu: &mut Cpu, i: Insn) -> Ex {
    fcmp(cpu, i, false)
}

fn fcmpo(cpu: &mut Cpu, i: Insn) -> Ex {
    fcmp(cpu, i, true)
}

fn ftdiv(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_fp()?;
    let c = fpu::test_div(cpu.fpr(i.ra()), cpu.fpr(i.rb()));
    cpu.set_crf(i.bf(), c);
    Ok(())
}

fn ftsqrt(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_fp()?;
    let c = fpu::test_sqrt(cpu.fpr(i.rb()));
    cpu.set_crf(i.bf(), c);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// FPSCR moves.

/// FPSCR fields returned by the mffsc* "control" forms: DRN, VE..XE, NI, RN.
const MFFS_CONTROL: u64 = fpu::DRN | 0xff;
/// mffsl: the control fields plus FR, FI and FPRF.
const MFFSL_MASK: u64 = MFFS_CONTROL | fpu::FR | fpu::FI | fpu::FPRF;
const ENABLES: u64 = fpu::VE | fpu::OE | fpu::UE | fpu::ZE | fpu::XE;

fn mffs(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_fp()?;
    cpu.set_fpr(i.rt(), cpu.fpscr);
    rc_only(cpu, i)
}

/// mffsce: FRT ← FPSCR, then all exception enables cleared.
fn mffsce(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_fp()?;
    cpu.set_fpr(i.rt(), cpu.fpscr);
    cpu.fpscr = fpu::summarize(cpu.fpscr & !ENABLES);
    Ok(())
}

fn mffscdrn(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_fp()?;
    let drn = cpu.fpr(i.rb()) & fpu::DRN;
    cpu.set_fpr(i.rt(), cpu.fpscr & MFFS_CONTROL);
    cpu.fpscr = (cpu.fpscr & !fpu::DRN) | drn;
    Ok(())
}

fn mffscdrni(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_fp()?;
    let drn = (i.bits(18, 20) as u64) << 32;
    cpu.set_fpr(i.rt(), cpu.fpscr & MFFS_CONTROL);
    cpu.fpscr = (cpu.fpscr & !fpu::DRN) | drn;
    Ok(())
}

fn mffscrn(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_fp()?;
    let rn = cpu.fpr(i.rb()) & fpu::RN;
    cpu.set_fpr(i.rt(), cpu.fpscr & MFFS_CONTROL);
    cpu.fpscr = (cpu.fpscr & !fpu::RN) | rn;
    Ok(())
}

fn mffscrni(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_fp()?;
    let rn = i.bits(19, 20) as u64;
    cpu.set_fpr(i.rt(), cpu.fpscr & MFFS_CONTROL);
    cpu.fpscr = (cpu.fpscr & !fpu::RN) | rn;
    Ok(())
}

fn mffsl(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_fp()?;
    cpu.set_fpr(i.rt(), cpu.fpscr & MFFSL_MASK);
    Ok(())
}

/// Mask of FPSCR field `n` (0..15, 4 bits each, field 0 the most significant nibble).
#[inline(always)]
fn field_mask(n: u32) -> u64 {
    0xf << (60 - 4 * n)
}

/// Ends an explicit FPSCR write: FEX and VX follow from the other bits (they cannot be written),
/// then the record form and a possible enabled-exception interrupt.
#[inline(always)]
fn fpscr_written(cpu: &mut Cpu, i: Insn, v: u64) -> Ex {
    cpu.fpscr = fpu::summarize(v & fpu::FPSCR_MASK);
    if i.rc_bit() {
        set_cr1(cpu);
    }
    fpu::check_fex(cpu)
}

/// mtfsf FLM,FRB,L,W: L=1 writes the whole FPSCR, else the fields selected by FLM from word
/// 1-W (W=0: fields 8..15, the classic 32-bit FPSCR).
fn mtfsf(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_fp()?;
    let frb = cpu.fpr(i.rb());
    let v = if i.bits(6, 6) != 0 {
        frb
    } else {
        let flm = i.bits(7, 14);
        let base = if i.bits(15, 15) != 0 { 0 } else { 8 };
        let mut mask = 0;
        for k in 0..8 {
            if flm >> (7 - k) & 1 != 0 {
                mask |= field_mask(base + k);
            }
        }
        (cpu.fpscr & !mask) | (frb & mask)
    };
    fpscr_written(cpu, i, v)
}

/// mtfsfi BF,U,W: field BF of word 1-W ← U.
fn mtfsfi(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_fp()?;
    let n = i.bf() as u32 + if i.bits(15, 15) != 0 { 0 } else { 8 };
    let u = i.bits(16, 19) as u64;
    let sh = 60 - 4 * n;
    let v = (cpu.fpscr & !field_mask(n)) | u << sh;
    fpscr_written(cpu, i, v)
}

/// Mask of FPSCR bit 32+BT.
#[inline(always)]
fn bt_mask(i: Insn) -> u64 {
    1 << (31 - i.rt())
}

fn mtfsb0(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_fp()?;
    let m = bt_mask(i) & !(fpu::FEX | fpu::VX);
    fpscr_written(cpu, i, cpu.fpscr & !m)
}

/// mtfsb1: also sets FX when it turns an exception bit on.
fn mtfsb1(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_fp()?;
    let m = bt_mask(i) & !(fpu::FEX | fpu::VX) & fpu::FPSCR_MASK;
    let mut v = cpu.fpscr | m;
    if m & fpu::EXC_ALL & !cpu.fpscr != 0 {
        v |= fpu::FX;
    }
    fpscr_written(cpu, i, v)
}

/// mcrfs BF,BFA: CR[BF] ← FPSCR field BFA (of bits 32:63); the exception bits copied are cleared.
fn mcrfs(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_fp()?;
    let n = 8 + i.bfa() as u32;
    let field = (cpu.fpscr >> (60 - 4 * n)) as u32 & 0xf;
    cpu.set_crf(i.bf(), field);
    let clear = field_mask(n) & (fpu::FX | fpu::EXC_ALL);
    cpu.fpscr = fpu::summarize(cpu.fpscr & !clear);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::fpu::{self, *};
    use crate::cpu::{msr, Cpu, Exception, ProgramKind};
    use crate::testutil::{cpu, cpu_be, d_form, exec, try_exec, x_form, DATA};

    /// A-form: opcd | frt | fra | frb | frc | xo(5) | rc.
    fn a_form(op: u32, t: u32, a: u32, b: u32, c: u32, xo: u32, rc: bool) -> u32 {
        op << 26 | t << 21 | a << 16 | b << 11 | c << 6 | xo << 1 | rc as u32
    }

    // Operand registers used by the helpers below: FRA = f2, FRB = f3, FRC = f4, FRT = f1.
    const FADD: (u32, u32) = (63, 21);
    const FADDS: (u32, u32) = (59, 21);
    const FSUB: (u32, u32) = (63, 20);
    const FMUL: (u32, u32) = (63, 25);
    const FMULS: (u32, u32) = (59, 25);
    const FDIV: (u32, u32) = (63, 18);
    const FSQRT: (u32, u32) = (63, 22);
    const FMADD: (u32, u32) = (63, 29);
    const FMADDS: (u32, u32) = (59, 29);
    const FMSUB: (u32, u32) = (63, 28);
    const FNMADD: (u32, u32) = (63, 31);
    const FNMSUB: (u32, u32) = (63, 30);
    const FRE: (u32, u32) = (63, 24);
    const FRES: (u32, u32) = (59, 24);
    const FRSQRTE: (u32, u32) = (63, 26);

    const ONE: u64 = 0x3ff0_0000_0000_0000;
    const NEG_ONE: u64 = 0xbff0_0000_0000_0000;
    const TWO: u64 = 0x4000_0000_0000_0000;
    const PZERO: u64 = 0;
    const NZERO: u64 = 0x8000_0000_0000_0000;
    const PINF: u64 = 0x7ff0_0000_0000_0000;
    const NINF: u64 = 0xfff0_0000_0000_0000;
    const QN1: u64 = 0x7ff8_0000_0000_0001;
    const QN2: u64 = 0x7ff8_0000_0000_0002;
    const QN3: u64 = 0x7ff8_0000_0000_0003;
    const SN2: u64 = 0x7ff0_0000_0000_0002;
    const SN3: u64 = 0x7ff0_0000_0000_0003;

    fn f(x: f64) -> u64 {
        x.to_bits()
    }

    /// Runs an A-form op on FRA=a, FRB=b, FRC=c with the given FPSCR; returns (FRT, FPSCR).
    fn arith(op: (u32, u32), a: u64, b: u64, c_: u64, fpscr: u64) -> (u64, u64) {
        let mut c = cpu();
        c.fpscr = fpscr;
        c.set_fpr(1, 0x1234_5678_9abc_def0);
        c.set_fpr(2, a);
        c.set_fpr(3, b);
        c.set_fpr(4, c_);
        exec(&mut c, a_form(op.0, 1, 2, 3, 4, op.1, false));
        (c.fpr(1), c.fpscr)
    }

    /// X-form op 63 on FRB=b (FRA=a) with the given FPSCR; returns (FRT, FPSCR).
    fn xop(xo: u32, a: u64, b: u64, fpscr: u64) -> (u64, u64) {
        xop_op(63, xo, a, b, fpscr)
    }

    fn xop_op(op: u32, xo: u32, a: u64, b: u64, fpscr: u64) -> (u64, u64) {
        let mut c = cpu();
        c.fpscr = fpscr;
        c.set_fpr(1, 0x1234_5678_9abc_def0);
        c.set_fpr(2, a);
        c.set_fpr(3, b);
        exec(&mut c, x_form(op, 1, 2, 3, xo, false));
        (c.fpr(1), c.fpscr)
    }

    fn fprf_of(fpscr: u64) -> u64 {
        (fpscr & FPRF) >> FPRF_SHIFT
    }

    #[test]
    fn rounding_modes() {
        // 1 + 2^-53 + 2^-60: just above the halfway point between 1 and 1 + 2^-52.
        let b = 0x3ca0_2000_0000_0000; // 2^-53 + 2^-60
        let up = 0x3ff0_0000_0000_0001;
        for (rn, pos, neg) in [(0, up, up), (1, ONE, ONE), (2, up, ONE), (3, ONE, up)] {
            let (r, fs) = arith(FADD, ONE, b, 0, rn);
            assert_eq!(r, pos, "positive, RN={rn}");
            assert_eq!(fs & FI, FI);
            assert_eq!(fs & XX, XX);
            assert_eq!(fs & FX, FX);
            assert_eq!(fs & FR != 0, pos == up, "FR, RN={rn}");
            assert_eq!(fprf_of(fs), class::POS_NORMAL);
            let (r, fs) = arith(FADD, NEG_ONE, b | SIGN, 0, rn);
            assert_eq!(r, neg | SIGN, "negative, RN={rn}");
            assert_eq!(fs & FR != 0, neg == up);
            assert_eq!(fprf_of(fs), class::NEG_NORMAL);
        }
        // An exact tie rounds to even under RN: 1 + 2^-53 -> 1, 1 + 3*2^-53 -> 1 + 2^-51.
        assert_eq!(arith(FADD, ONE, 0x3ca0_0000_0000_0000, 0, 0).0, ONE);
        assert_eq!(
            arith(FADD, 0x3ff0_0000_0000_0001, 0x3ca0_0000_0000_0000, 0, 0).0,
            0x3ff0_0000_0000_0002
        );
        // Single precision: 1 + 2^-24 + 2^-30 in each mode.
        let b = 0x3e70_0000_0000_0000 | 1 << 46; // 2^-24 + 2^-30
        let sup = 0x3ff0_0000_2000_0000; // 1 + 2^-23
        for (rn, pos) in [(0, sup), (1, ONE), (2, sup), (3, ONE)] {
            assert_eq!(arith(FADDS, ONE, b, 0, rn).0, pos, "fadds RN={rn}");
        }
        // An exact result leaves FR and FI clear and XX unchanged.
        let (r, fs) = arith(FADD, ONE, ONE, 0, FR | FI);
        assert_eq!(r, TWO);
        assert_eq!(fs & (FR | FI | XX | FX), 0);
    }

    #[test]
    fn exact_zero_sign() {
        // x - x is +0, except -0 when rounding toward -inf.
        assert_eq!(arith(FSUB, ONE, ONE, 0, 0).0, PZERO);
        assert_eq!(arith(FSUB, ONE, ONE, 0, 3).0, NZERO);
        assert_eq!(arith(FADD, NZERO, NZERO, 0, 0).0, NZERO);
        assert_eq!(arith(FADD, PZERO, NZERO, 0, 0).0, PZERO);
        // fnmadd of an exact +0 sum gives -0.
        assert_eq!(arith(FNMADD, PZERO, PZERO, ONE, 0).0, NZERO);
    }

    #[test]
    fn fma_single_rounding() {
        // (1 + 2^-30)^2 - 1 = 2^-29 + 2^-60 exactly; fmul would round away the 2^-60.
        let a = 0x3ff0_0000_0040_0000; // 1 + 2^-30
        let (r, fs) = arith(FMSUB, a, ONE, a, 0);
        assert_eq!(r, 0x3e20_0000_0020_0000);
        assert_eq!(fs & (XX | FI | FR), 0);
        let (r, _) = arith(FMADD, a, NEG_ONE, a, 0);
        assert_eq!(r, 0x3e20_0000_0020_0000);
        let (p, fs) = arith(FMUL, a, 0, a, 0);
        assert_eq!(p, 0x3ff0_0000_0080_0000);
        assert_eq!(fs & XX, XX);
        assert_eq!(arith(FSUB, p, ONE, 0, 0).0, 0x3e20_0000_0000_0000);
        // Negative forms negate after rounding: fnmsub = -(a*c - b).
        assert_eq!(arith(FNMSUB, a, ONE, a, 0).0, 0xbe20_0000_0020_0000);
        // Under RP, fnmadd rounds the positive sum up and then negates.
        let b = 0x3ca0_2000_0000_0000; // 2^-53 + 2^-60
        assert_eq!(arith(FNMADD, ONE, b, ONE, 2).0, 0xbff0_0000_0000_0001);
    }

    #[test]
    fn single_ops_on_double_operands_round_once() {
        // 1 + 2^-24 + 2^-60: rounded to double first it would be a tie (-> 1.0); rounded once
        // to single it is above the tie (-> 1 + 2^-23).
        let b = 0x3ff0_0000_1000_0000; // 1 + 2^-24, not a single
        let t = 0x3e10_0000_0000_0000; // 2^-30
        let want = 0x3ff0_0000_2000_0000;
        let (r, fs) = arith(FMADDS, t, b, t, 0);
        assert_eq!(r, want);
        assert_eq!(fs & (FR | FI | XX), FR | FI | XX);
        assert_eq!(arith(FADDS, b, 0x3c30_0000_0000_0000, 0, 0).0, want);
        // frsp of 1 + 2^-24 alone is a tie and goes to even.
        assert_eq!(xop(12, 0, b, 0).0, ONE);
        // Single operands whose exact a*c + b = 1 + 2^-24 + 2^-64 lies just above a single
        // midpoint; the double-rounded value would sit on the midpoint and tie to even (1.0).
        let (a, c_, b) = (
            0xbf30_0001_0000_0000,
            0x3f2f_fffe_0000_0000,
            0x3ff0_0000_2000_0000,
        );
        let (r, fs) = arith(FMADDS, a, b, c_, 0);
        assert_eq!(r, 0x3ff0_0000_2000_0000);
        assert_eq!(fs & (FR | FI | XX), FR | FI | XX);
        // fmuls: (1 + 2^-12)^2 = 1 + 2^-11 + 2^-24 is a single tie -> even (1 + 2^-11).
        let a = 0x3ff0_0100_0000_0000;
        assert_eq!(arith(FMULS, a, 0, a, 0).0, 0x3ff0_0200_0000_0000);
    }

    #[test]
    fn nan_priority_and_snan() {
        assert_eq!(arith(FMADD, QN1, QN2, QN3, 0).0, QN1);
        let (r, fs) = arith(FMADD, ONE, SN2, QN3, 0);
        assert_eq!(r, SN2 | QUIET);
        assert_eq!(fs & (VXSNAN | VX | FX), VXSNAN | VX | FX);
        assert_eq!(fprf_of(fs), class::QNAN);
        assert_eq!(arith(FMADD, ONE, ONE, QN3, 0).0, QN3);
        let (r, fs) = arith(FMADD, ONE, QN2, SN3, 0);
        assert_eq!(r, QN2);
        assert_eq!(fs & VXSNAN, VXSNAN);
        // FRA before FRB for two-operand ops; the NaN keeps its sign, even for fsub/fnmadd.
        assert_eq!(arith(FADD, QN1, QN2, 0, 0).0, QN1);
        assert_eq!(arith(FSUB, ONE, QN2 | SIGN, 0, 0).0, QN2 | SIGN);
        assert_eq!(arith(FNMADD, QN1, ONE, ONE, 0).0, QN1);
        assert_eq!(arith(FMUL, ONE, 0, SN3, 0).0, SN3 | QUIET);
        // A QNaN operand raises nothing.
        let (_, fs) = arith(FADD, QN1, ONE, 0, 0);
        assert_eq!(fs & !FPRF, 0);
        // frsp quiets and truncates the fraction to single.
        let (r, fs) = xop(12, 0, 0x7ff4_0000_0000_0001, 0);
        assert_eq!(r, 0x7ffc_0000_0000_0000);
        assert_eq!(fs & VXSNAN, VXSNAN);
    }

    #[test]
    fn invalid_operations() {
        let cases = [
            (FADD, PINF, NINF, 0, VXISI),
            (FSUB, PINF, PINF, 0, VXISI),
            (FDIV, PZERO, NZERO, 0, VXZDZ),
            (FDIV, PINF, NINF, 0, VXIDI),
            (FMUL, PZERO, 0, PINF, VXIMZ),
            (FSQRT, 0, NEG_ONE, 0, VXSQRT),
            (FSQRT, 0, NINF, 0, VXSQRT),
            (FMADD, PINF, ONE, PZERO, VXIMZ),
            (FMADD, PINF, NINF, ONE, VXISI),
            (FMSUB, PINF, PINF, ONE, VXISI),
        ];
        for (op, a, b, c_, bit) in cases {
            let (r, fs) = arith(op, a, b, c_, 0);
            assert_eq!(r, DEFAULT_NAN, "{op:?}");
            assert_eq!(fs & (bit | VX | FX | FEX), bit | VX | FX, "{op:?}");
            assert_eq!(fprf_of(fs), class::QNAN);
        }
        // 0 x inf with a QNaN addend: the NaN is returned and VXIMZ still raised.
        let (r, fs) = arith(FMADD, PZERO, QN2, PINF, 0);
        assert_eq!(r, QN2);
        assert_eq!(fs & VXIMZ, VXIMZ);
        // sqrt(-0) = -0 without exception.
        assert_eq!(arith(FSQRT, 0, NZERO, 0, 0), (NZERO, class::NEG_ZERO << 12));
    }

    #[test]
    fn zero_divide() {
        let (r, fs) = arith(FDIV, ONE, PZERO, 0, 0);
        assert_eq!(r, PINF);
        assert_eq!(fs & (ZX | FX | VX), ZX | FX);
        assert_eq!(fprf_of(fs), class::POS_INF);
        assert_eq!(arith(FDIV, NEG_ONE, PZERO, 0, 0).0, NINF);
        assert_eq!(arith(FDIV, ONE, NZERO, 0, 0).0, NINF);
        // inf / 0 is inf with no exception.
        assert_eq!(arith(FDIV, PINF, PZERO, 0, 0).1 & ZX, 0);
        // fre(0) -> inf with ZX.
        let (r, fs) = arith(FRE, 0, NZERO, 0, 0);
        assert_eq!(r, NINF);
        assert_eq!(fs & ZX, ZX);
    }

    #[test]
    fn enabled_exceptions_suppress_target() {
        // VE=1: target unchanged, FR/FI cleared, FPRF kept, FEX set; no interrupt while
        // MSR[FE0|FE1] = 0.
        let init = VE | FR | FI | class::POS_ZERO << 12;
        let (r, fs) = arith(FADD, PINF, NINF, 0, init);
        assert_eq!(r, 0x1234_5678_9abc_def0);
        assert_eq!(
            fs,
            VE | VXISI | VX | FX | FEX | class::POS_ZERO << 12,
            "{fs:#x}"
        );
        // ZE=1: the same for zero divide.
        let (r, fs) = arith(FDIV, ONE, PZERO, 0, ZE);
        assert_eq!(r, 0x1234_5678_9abc_def0);
        assert_eq!(fs & (ZX | FEX | FX), ZX | FEX | FX);
        // With MSR[FE0] set the instruction ends in the FP program interrupt, after its
        // FPSCR update (and CR1 for the record form).
        let mut c = cpu();
        c.set_msr(c.msr | msr::FE0);
        c.fpscr = ZE;
        c.set_fpr(2, ONE);
        c.set_fpr(3, PZERO);
        c.set_fpr(1, 7);
        let r = try_exec(&mut c, a_form(63, 1, 2, 3, 0, 18, true));
        assert_eq!(r, Err(Exception::Program(ProgramKind::FloatingPoint)));
        assert_eq!(c.fpr(1), 7);
        assert_eq!(c.crf(1), 0b1100);
        // A disabled exception does not interrupt even in FP exception mode.
        c.fpscr = 0;
        assert_eq!(try_exec(&mut c, a_form(63, 1, 2, 3, 0, 18, false)), Ok(()));
        assert_eq!(c.fpr(1), PINF);
        // XE=1 with an inexact result: the result is written, then the interrupt.
        c.fpscr = XE;
        c.set_fpr(2, ONE);
        c.set_fpr(3, 0x4008_0000_0000_0000); // 3.0
        let r = try_exec(&mut c, a_form(63, 1, 2, 3, 0, 18, false));
        assert_eq!(r, Err(Exception::Program(ProgramKind::FloatingPoint)));
        assert_eq!(c.fpr(1), 0x3fd5_5555_5555_5555);
    }

    #[test]
    fn overflow_and_underflow() {
        let big = 0x7fe0_0000_0000_0000; // 2^1023
        let four = 0x4010_0000_0000_0000;
        // Disabled overflow: inf (RN) or the largest finite number (RZ); OX, XX, FI.
        let (r, fs) = arith(FMUL, big, 0, four, 0);
        assert_eq!(r, PINF);
        assert_eq!(fs & (OX | XX | FI | FX), OX | XX | FI | FX);
        assert_eq!(arith(FMUL, big, 0, four, 1).0, 0x7fef_ffff_ffff_ffff);
        assert_eq!(arith(FMUL, big | SIGN, 0, four, 2).0, 0xffef_ffff_ffff_ffff);
        assert_eq!(arith(FMUL, big | SIGN, 0, four, 3).0, NINF);
        // Enabled overflow: 2^1025 delivered as 2^(1025-1536) = 2^-511, exact.
        let (r, fs) = arith(FMUL, big, 0, four, OE);
        assert_eq!(r, 0x2000_0000_0000_0000);
        assert_eq!(fs & (OX | XX | FEX), OX | FEX);
        // Single: 2^127 * 4 overflows single range; enabled -> 2^(129-192) = 2^-63.
        let s127 = 0x47e0_0000_0000_0000;
        assert_eq!(arith(FMULS, s127, 0, four, 0).0, PINF);
        assert_eq!(arith(FMULS, s127, 0, four, 1).0, 0x47ef_ffff_e000_0000);
        assert_eq!(arith(FMULS, s127, 0, four, OE).0, 0x3c00_0000_0000_0000);
        // Exact denormal result: no underflow when UE=0.
        let m1000 = 0x0170_0000_0000_0000; // 2^-1000
        let m60 = 0x3c30_0000_0000_0000; // 2^-60
        let (r, fs) = arith(FMUL, m1000, 0, m60, 0);
        assert_eq!(r, 0x4000); // 2^-1060 = 2^14 * 2^-1074
        assert_eq!(fs & (UX | XX), 0);
        assert_eq!(fprf_of(fs), class::POS_DENORMAL);
        // Enabled underflow: tiny even if exact, delivered as 2^(-1060+1536) = 2^476.
        let (r, fs) = arith(FMUL, m1000, 0, m60, UE);
        assert_eq!(r, 0x5db0_0000_0000_0000);
        assert_eq!(fs & (UX | FEX), UX | FEX);
        // Inexact denormal: 1.5 * 2^-1075 rounds to 2^-1074 with UX, XX, FI, FR.
        let a = 0x0178_0000_0000_0000; // 1.5 * 2^-1000
        let b = 0x3b40_0000_0000_0000; // 2^-75
        let (r, fs) = arith(FMUL, a, 0, b, 0);
        assert_eq!(r, 1);
        assert_eq!(fs & (UX | XX | FI | FR), UX | XX | FI | FR);
        // Underflow to zero under RZ.
        let (r, fs) = arith(FMUL, a, 0, b, 1);
        assert_eq!(r, 0);
        assert_eq!(fs & (UX | XX | FI | FR), UX | XX | FI);
        assert_eq!(fprf_of(fs), class::POS_ZERO);
        // Single denormal result 2^-130 (a normal double) classes as denormal.
        let (r, fs) = arith(FMULS, 0x39b0_0000_0000_0000, 0, 0x3e10_0000_0000_0000, 0);
        assert_eq!(r, 0x37d0_0000_0000_0000);
        assert_eq!(fprf_of(fs), class::POS_DENORMAL);
        assert_eq!(fs & UX, 0);
        // frsp of 2^-149 * 1.5 rounds (RN, tie to even) to 2^-148 with underflow.
        let (r, fs) = xop(12, 0, 0x36a8_0000_0000_0000, 0);
        assert_eq!(r, 0x36b0_0000_0000_0000);
        assert_eq!(fs & (UX | XX | FR), UX | XX | FR);
        // frsp of a too-large double overflows.
        let (r, fs) = xop(12, 0, 0x4800_0000_0000_0000, 0);
        assert_eq!(r, PINF);
        assert_eq!(fs & OX, OX);
    }

    #[test]
    fn fprf_classes() {
        // x + (-0) = x for every class (and +0 + -0 = +0 in RN).
        let cases = [
            (ONE, class::POS_NORMAL),
            (NEG_ONE, class::NEG_NORMAL),
            (PZERO, class::POS_ZERO),
            (NZERO, class::NEG_ZERO),
            (1, class::POS_DENORMAL),
            (1 | SIGN, class::NEG_DENORMAL),
            (PINF, class::POS_INF),
            (NINF, class::NEG_INF),
            (QN1, class::QNAN),
        ];
        for (x, cl) in cases {
            let (r, fs) = arith(FADD, x, NZERO, 0, 0);
            assert_eq!(r, x);
            assert_eq!(fprf_of(fs), cl, "{x:#x}");
            assert_eq!(fs & !FPRF, 0);
        }
    }

    #[test]
    fn divide_and_sqrt() {
        assert_eq!(
            arith(FDIV, ONE, 0x4008_0000_0000_0000, 0, 0).0,
            f(1.0 / 3.0)
        );
        assert_eq!(
            arith(FDIV, ONE, 0x4008_0000_0000_0000, 0, 1).0,
            f(1.0 / 3.0)
        );
        assert_eq!(
            arith(FDIV, ONE, 0x4008_0000_0000_0000, 0, 2).0,
            f(1.0 / 3.0) + 1
        );
        assert_eq!(arith(FSQRT, 0, TWO, 0, 0).0, 0x3ff6_a09e_667f_3bcd);
        assert_eq!(arith(FSQRT, 0, TWO, 0, 1).0, 0x3ff6_a09e_667f_3bcc);
        let (r, fs) = arith(FSQRT, 0, 0x4010_0000_0000_0000, 0, 0);
        assert_eq!(r, TWO);
        assert_eq!(fs & (XX | FI), 0);
        // sqrt of the smallest denormal 2^-1074 = 2^-537.
        assert_eq!(arith(FSQRT, 0, 1, 0, 0).0, 0x1e60_0000_0000_0000);
        assert_eq!(arith(FSQRT, 0, PINF, 0, 0).0, PINF);
    }

    #[test]
    fn estimates() {
        assert_eq!(arith(FRE, 0, TWO, 0, 0).0, 0x3fe0_0000_0000_0000);
        let (r, fs) = arith(FRES, 0, 0x4008_0000_0000_0000, 0, 0);
        let q = f64::from_bits(r);
        assert!((q - 1.0 / 3.0).abs() < 1.0 / 3.0 / 256.0);
        assert_eq!(r & 0x1fff_ffff, 0, "single-precision result");
        assert_eq!(fs & XX, 0, "estimates do not set XX");
        let (r, fs) = arith(FRSQRTE, 0, 0x4010_0000_0000_0000, 0, 0);
        assert_eq!(r, 0x3fe0_0000_0000_0000);
        assert_eq!(fs & XX, 0);
        let (r, fs) = arith(FRSQRTE, 0, NEG_ONE, 0, 0);
        assert_eq!(r, DEFAULT_NAN);
        assert_eq!(fs & VXSQRT, VXSQRT);
        let (r, fs) = arith(FRSQRTE, 0, NZERO, 0, 0);
        assert_eq!(r, NINF);
        assert_eq!(fs & ZX, ZX);
        assert_eq!(arith(FRSQRTE, 0, PINF, 0, 0).0, PZERO);
        assert_eq!(arith(FRE, 0, NINF, 0, 0).0, NZERO);
    }

    #[test]
    fn convert_to_integer() {
        let e9 = f(3e9);
        // fctiw saturates with VXCVI; FR/FI cleared.
        let (r, fs) = xop(14, 0, e9, FI | FR);
        assert_eq!(r as u32, 0x7fff_ffff);
        assert_eq!(fs & (VXCVI | VX | FX | FI | FR | XX), VXCVI | VX | FX);
        // An exact conversion leaves FPRF (undefined for these) unchanged.
        assert_eq!(xop(14, 0, f(-5.0), 0x1f << 12), (-5i64 as u64, 0x1f << 12));
        assert_eq!(xop(14, 0, e9 | SIGN, 0).0 as u32, 0x8000_0000);
        let (r, fs) = xop(14, 0, QN1, 0);
        assert_eq!(r as u32, 0x8000_0000);
        assert_eq!(fs & (VXCVI | VXSNAN), VXCVI);
        let (r, fs) = xop(15, 0, SN2, 0);
        assert_eq!(r as u32, 0x8000_0000);
        assert_eq!(fs & (VXCVI | VXSNAN), VXCVI | VXSNAN);
        assert_eq!(xop(14, 0, PINF, 0).0 as u32, 0x7fff_ffff);
        // Rounding: 2.5 -> 2 (RN, even), 3.5 -> 4, fctiwz(-2.7) = -2.
        let (r, fs) = xop(14, 0, f(2.5), 0);
        assert_eq!(r as u32, 2);
        assert_eq!(fs & (XX | FI | FR), XX | FI);
        let (r, fs) = xop(14, 0, f(3.5), 0);
        assert_eq!(r as u32, 4);
        assert_eq!(fs & (XX | FI | FR), XX | FI | FR);
        assert_eq!(xop(15, 0, f(-2.7), 0).0 as u32, -2i32 as u32);
        assert_eq!(xop(14, 0, f(-2.7), 3).0 as u32, -3i32 as u32);
        assert_eq!(xop(14, 0, f(2.1), 2).0 as u32, 3);
        // -2^31 is in range; -2^31 - 1 is not.
        let (r, fs) = xop(15, 0, f(-2147483648.0), 0);
        assert_eq!((r as u32, fs & VXCVI), (0x8000_0000, 0));
        assert_eq!(xop(15, 0, f(-2147483649.0), 0).1 & VXCVI, VXCVI);
        // Unsigned: negatives saturate to 0 with VXCVI unless they round to zero.
        let (r, fs) = xop(142, 0, NEG_ONE, 0);
        assert_eq!((r as u32, fs & VXCVI), (0, VXCVI));
        let (r, fs) = xop(143, 0, f(-0.5), 0);
        assert_eq!((r as u32, fs & (VXCVI | XX)), (0, XX));
        assert_eq!(xop(143, 0, f(4294967295.0), 0).0 as u32, 0xffff_ffff);
        assert_eq!(xop(143, 0, f(4294967296.0), 0).1 & VXCVI, VXCVI);
        // 64-bit forms.
        let (r, fs) = xop(814, 0, 0x43e0_0000_0000_0000, 0); // 2^63
        assert_eq!((r, fs & VXCVI), (0x7fff_ffff_ffff_ffff, VXCVI));
        let (r, fs) = xop(815, 0, 0xc3e0_0000_0000_0000, 0); // -2^63
        assert_eq!((r, fs & VXCVI), (0x8000_0000_0000_0000, 0));
        assert_eq!(xop(815, 0, QN1, 0).0, 0x8000_0000_0000_0000);
        assert_eq!(
            xop(943, 0, 0x43ef_ffff_ffff_ffff, 0).0,
            0xffff_ffff_ffff_f800
        );
        assert_eq!(xop(943, 0, 0x43f0_0000_0000_0000, 0).0, u64::MAX);
        assert_eq!(xop(942, 0, NINF, 0).0, 0);
        assert_eq!(xop(815, 0, f(-1e-300), 0).0, 0);
        // VE=1: target unchanged.
        let (r, fs) = xop(14, 0, e9, VE);
        assert_eq!(r, 0x1234_5678_9abc_def0);
        assert_eq!(fs & FEX, FEX);
    }

    #[test]
    fn convert_from_integer() {
        assert_eq!(xop(846, 0, u64::MAX, 0).0, NEG_ONE);
        // 2^53 + 1 is a tie: RN -> 2^53, RP -> 2^53 + 2.
        let (r, fs) = xop(846, 0, (1 << 53) + 1, 0);
        assert_eq!(r, 0x4340_0000_0000_0000);
        assert_eq!(fs & (XX | FI | FR), XX | FI);
        assert_eq!(xop(846, 0, (1 << 53) + 1, 2).0, 0x4340_0000_0000_0001);
        assert_eq!(xop(846, 0, 0, 0).1 & FPRF, class::POS_ZERO << 12);
        // fcfidu of 2^64-1 rounds to 2^64; fcfidus likewise in single.
        assert_eq!(xop(974, 0, u64::MAX, 0).0, 0x43f0_0000_0000_0000);
        assert_eq!(xop_op(59, 974, 0, u64::MAX, 0).0, 0x43f0_0000_0000_0000);
        assert_eq!(xop_op(59, 974, 0, u64::MAX, 1).0, 0x43ef_ffff_e000_0000);
        // fcfids of 2^24 + 1 is a single tie -> 2^24.
        assert_eq!(
            xop_op(59, 846, 0, (1 << 24) + 1, 0).0,
            0x4170_0000_0000_0000
        );
    }

    #[test]
    fn round_to_integer() {
        // frin (nearest, ties away), friz, frip, frim; FR=FI=0 and XX untouched.
        let cases = [
            (392, 2.5, 3.0),
            (392, -2.5, -3.0),
            (392, 0.3, 0.0),
            (424, -2.7, -2.0),
            (456, -2.7, -2.0),
            (456, 2.1, 3.0),
            (488, 2.7, 2.0),
            (488, -0.5, -1.0),
            (456, -0.5, -0.0),
            (392, -0.3, -0.0),
            (424, 4503599627370497.0, 4503599627370497.0),
        ];
        for (xo, x, want) in cases {
            let (r, fs) = xop(xo, 0, f(x), FR | FI);
            assert_eq!(r, f(want), "xo {xo} of {x}");
            assert_eq!(fs & (FR | FI | XX | FX), 0);
        }
        let (r, fs) = xop(392, 0, SN2, 0);
        assert_eq!(r, SN2 | QUIET);
        assert_eq!(fs & VXSNAN, VXSNAN);
        assert_eq!(xop(392, 0, NINF, 0).0, NINF);
    }

    #[test]
    fn compares() {
        let mut c = cpu();
        let run = |c: &mut Cpu, xo: u32, a: u64, b: u64, fpscr: u64| {
            c.fpscr = fpscr;
            c.set_fpr(2, a);
            c.set_fpr(3, b);
            c.cr = 0;
            exec(c, x_form(63, 3 << 2, 2, 3, xo, false)); // BF = 3
            (c.crf(3), c.fpscr)
        };
        assert_eq!(run(&mut c, 0, ONE, TWO, 0), (8, 8 << 12));
        assert_eq!(run(&mut c, 0, TWO, ONE, 0), (4, 4 << 12));
        assert_eq!(run(&mut c, 0, PZERO, NZERO, 0), (2, 2 << 12));
        assert_eq!(run(&mut c, 0, NINF, 1, 0), (8, 8 << 12));
        assert_eq!(run(&mut c, 32, NEG_ONE, NZERO | 1, 0), (8, 8 << 12));
        // FPRF's C bit is kept.
        assert_eq!(run(&mut c, 0, ONE, ONE, 1 << 16).1, 1 << 16 | 2 << 12);
        // fcmpu: QNaN is just unordered; SNaN raises VXSNAN.
        assert_eq!(run(&mut c, 0, QN1, ONE, 0), (1, 1 << 12));
        let (cr, fs) = run(&mut c, 0, ONE, SN2, 0);
        assert_eq!((cr, fs & (VXSNAN | VXVC | FX)), (1, VXSNAN | FX));
        // fcmpo: QNaN -> VXVC; SNaN -> VXSNAN and, if VE=0, VXVC.
        let (cr, fs) = run(&mut c, 32, QN1, ONE, 0);
        assert_eq!((cr, fs & (VXSNAN | VXVC)), (1, VXVC));
        let (cr, fs) = run(&mut c, 32, SN2, ONE, 0);
        assert_eq!((cr, fs & (VXSNAN | VXVC)), (1, VXSNAN | VXVC));
        let (cr, fs) = run(&mut c, 32, SN2, ONE, VE);
        assert_eq!((cr, fs & (VXSNAN | VXVC | FEX)), (1, VXSNAN | FEX));
    }

    #[test]
    fn test_div_sqrt() {
        let mut c = cpu();
        let mut run = |w: u32, a: u64, b: u64| {
            c.set_fpr(2, a);
            c.set_fpr(3, b);
            exec(&mut c, w);
            c.crf(1)
        };
        let ftdiv = x_form(63, 1 << 2, 2, 3, 128, false);
        let ftsqrt = x_form(63, 1 << 2, 0, 3, 160, false);
        assert_eq!(run(ftdiv, ONE, TWO), 0b1000);
        assert_eq!(run(ftdiv, ONE, PZERO), 0b1110);
        assert_eq!(run(ftdiv, PINF, ONE), 0b1110);
        assert_eq!(run(ftdiv, QN1, ONE), 0b1010);
        assert_eq!(run(ftdiv, 0x0010_0000_0000_0000, ONE), 0b1010); // e_a <= -970
        assert_eq!(run(ftdiv, ONE, 1), 0b1110); // denormal divisor
        assert_eq!(run(ftdiv, 0x7fd0_0000_0000_0000, ONE), 0b1000);
        assert_eq!(run(ftdiv, 0x7fe0_0000_0000_0000, ONE), 0b1010); // e_a - e_b >= 1023
        assert_eq!(run(ftdiv, ONE, 0x7fc0_0000_0000_0000), 0b1010); // e_b >= 1021
        assert_eq!(run(ftsqrt, 0, f(4.0)), 0b1000);
        assert_eq!(run(ftsqrt, 0, NEG_ONE), 0b1010);
        assert_eq!(run(ftsqrt, 0, PZERO), 0b1110);
        assert_eq!(run(ftsqrt, 0, 1), 0b1110);
        assert_eq!(run(ftsqrt, 0, PINF), 0b1110);
    }

    #[test]
    fn moves_and_select() {
        let a = 0x8123_4567_89ab_cdef;
        let b = 0x7edc_ba98_7654_3210;
        assert_eq!(xop(72, 0, b, 0).0, b);
        assert_eq!(xop(40, 0, b, 0).0, b | SIGN);
        assert_eq!(xop(264, 0, a, 0).0, a & !SIGN);
        assert_eq!(xop(136, 0, b, 0).0, b | SIGN);
        assert_eq!(xop(8, a, b, 0).0, b | SIGN);
        assert_eq!(xop(966, a, b, 0).0, 0x8123_4567_7edc_ba98);
        assert_eq!(xop(838, a, b, 0).0, 0x89ab_cdef_7654_3210);
        // Moves never touch FPSCR, even with an SNaN.
        assert_eq!(xop(72, 0, SN2, 0), (SN2, 0));
        // fsel: FRA >= 0 (including -0) selects FRC, else (also NaN) FRB.
        for (sel, want) in [(NZERO, 4u64), (ONE, 4), (NEG_ONE, 3), (QN1, 3), (NINF, 3)] {
            let mut c = cpu();
            c.set_fpr(2, sel);
            c.set_fpr(3, 3);
            c.set_fpr(4, 4);
            exec(&mut c, a_form(63, 1, 2, 3, 4, 23, false));
            assert_eq!(c.fpr(1), want, "fsel on {sel:#x}");
        }
    }

    #[test]
    fn record_form_sets_cr1() {
        let mut c = cpu();
        c.set_fpr(2, PINF);
        c.set_fpr(3, NINF);
        exec(&mut c, a_form(63, 1, 2, 3, 0, 21, true)); // fadd. -> VXISI
        assert_eq!(c.crf(1), 0b1010);
        c.fpscr = OX | FX;
        exec(&mut c, x_form(63, 1, 0, 3, 72, true)); // fmr. copies FX..OX
        assert_eq!(c.crf(1), 0b1001);
        c.fpscr = 0;
        c.cr = 0;
        c.set_fpr(2, ONE);
        exec(&mut c, a_form(63, 1, 2, 2, 0, 21, false)); // no Rc: CR untouched
        assert_eq!(c.cr, 0);
    }

    #[test]
    fn fpscr_moves() {
        let mut c = cpu();
        // mtfsf 0xff: FX from FRB, FEX/VX recomputed (XX & XE -> FEX; no VX bits -> VX = 0).
        c.set_fpr(2, 0xe200_000b);
        exec(
            &mut c,
            (63 << 26) | (0xff << 17) | (2 << 11) | (711 << 1) | 1,
        );
        assert_eq!(c.fpscr, 0xc200_000b);
        assert_eq!(c.crf(1), 0b1100);
        exec(&mut c, x_form(63, 5, 0, 0, 583, false)); // mffs f5
        assert_eq!(c.fpr(5), 0xc200_000b);
        // Round trip of an arbitrary pattern through mffs/mtfsf (reserved bit 52 reads 0).
        c.fpscr = 0;
        c.set_fpr(2, 0x0000_0005_0f0f_fffc);
        exec(&mut c, (63 << 26) | 1 << 25 | (2 << 11) | (711 << 1)); // L=1: whole FPSCR
        exec(&mut c, x_form(63, 5, 0, 0, 583, false));
        let want = fpu::summarize(0x0000_0005_0f0f_fffc & FPSCR_MASK);
        assert_eq!(c.fpr(5), want);
        assert_eq!(c.fpscr & DRN, 5 << 32);
        // W=1, FLM selects field 7 (bits 28:31, DRN).
        c.fpscr = 0;
        c.set_fpr(2, 0x0000_0003_ffff_ffff);
        exec(
            &mut c,
            (63 << 26) | (0x01 << 17) | 1 << 16 | (2 << 11) | (711 << 1),
        );
        assert_eq!(c.fpscr, 3 << 32);
        // FLM = 0x01 without W: field 15 only (XE NI RN).
        c.fpscr = 0;
        exec(&mut c, (63 << 26) | (0x01 << 17) | (2 << 11) | (711 << 1));
        assert_eq!(c.fpscr, 0xf);
        // mtfsfi 7,5: field 15 = 0101 (NI, RN=1). mtfsfi 0,9: FX and OX from U, VX/FEX derived.
        c.fpscr = 0;
        exec(&mut c, (63 << 26) | (7 << 23) | (5 << 12) | (134 << 1));
        assert_eq!(c.fpscr, 5);
        exec(&mut c, (63 << 26) | (0xf << 12) | (134 << 1));
        assert_eq!(c.fpscr, FX | OX | 5);
        // mtfsb1 6 (XX) sets FX too; mtfsb1 2 (VX) is ignored; mtfsb0 clears.
        c.fpscr = 0;
        exec(&mut c, x_form(63, 6, 0, 0, 38, false));
        assert_eq!(c.fpscr, XX | FX);
        exec(&mut c, x_form(63, 2, 0, 0, 38, false));
        assert_eq!(c.fpscr, XX | FX);
        exec(&mut c, x_form(63, 0, 0, 0, 70, false));
        assert_eq!(c.fpscr, XX);
        // mtfsb1 of an enable with its exception set raises FEX.
        exec(&mut c, x_form(63, 28, 0, 0, 38, false));
        assert_eq!(c.fpscr, XX | XE | FEX);
        // ...and interrupts in FP exception mode.
        c.fpscr = XX;
        c.set_msr(c.msr | msr::FE1);
        assert_eq!(
            try_exec(&mut c, x_form(63, 28, 0, 0, 38, false)),
            Err(Exception::Program(ProgramKind::FloatingPoint))
        );
    }

    #[test]
    fn mcrfs_clears_copied_exceptions() {
        let mut c = cpu();
        c.fpscr = fpu::summarize(FX | OX | UX | VXISI | VXVC | FR | XE | 2 << 12);
        exec(&mut c, x_form(63, 2 << 2, 0, 0, 64, false)); // field 0: FX FEX VX OX
        assert_eq!(c.crf(2), 0b1011);
        assert_eq!(c.fpscr & (FX | OX), 0);
        exec(&mut c, x_form(63, 3 << 2, 3 << 2, 0, 64, false)); // field 3: VXVC FR FI C
        assert_eq!(c.crf(3), 0b1100);
        assert_eq!(
            c.fpscr & (VXVC | FR),
            FR,
            "only the exception bit is cleared"
        );
        exec(&mut c, x_form(63, 4 << 2, 2 << 2, 0, 64, false)); // field 2: VXISI..
        assert_eq!(c.crf(4), 0b1000);
        assert_eq!(c.fpscr & (VX | VXISI), 0, "VX follows its sources");
    }

    #[test]
    fn mffs_variants() {
        let base = fpu::summarize(DRN & (6 << 32) | FX | XX | FR | FI | 4 << 12 | VE | XE | NI | 2);
        let run = |ra: u32, rb: u32, frb: u64| {
            let mut c = cpu();
            c.fpscr = base;
            c.set_fpr(3, frb);
            exec(&mut c, x_form(63, 1, ra, rb, 583, false));
            (c.fpr(1), c.fpscr)
        };
        assert_eq!(run(0, 0, 0), (base, base));
        let (r, fs) = run(1, 0, 0); // mffsce
        assert_eq!(r, base);
        assert_eq!(fs, fpu::summarize(base & !(VE | XE)));
        assert_eq!(fs & FEX, 0);
        let ctl = base & (DRN | 0xff);
        let (r, fs) = run(20, 3, 0x0000_0001_0000_0003); // mffscdrn f1, f3
        assert_eq!((r, fs), (ctl, (base & !DRN) | 1 << 32));
        let (r, fs) = run(21, 0b00101, 0); // mffscdrni 5
        assert_eq!((r, fs), (ctl, (base & !DRN) | 5 << 32));
        let (r, fs) = run(22, 3, 0xffff_ffff_ffff_fff1); // mffscrn f1, f3 -> RN=1
        assert_eq!((r, fs), (ctl, (base & !RN) | 1));
        let (r, fs) = run(23, 3, 0); // mffscrni 3
        assert_eq!((r, fs), (ctl, base | 3));
        let (r, fs) = run(24, 0, 0); // mffsl
        assert_eq!((r, fs), (base & (DRN | 0xff | FR | FI | FPRF), base));
    }

    #[test]
    fn single_loads_and_stores() {
        for le in [true, false] {
            let mut c = if le { cpu() } else { cpu_be() };
            c.gpr[3] = DATA;
            // (single bits, double bits): smallest denormal, a negative denormal, a normal,
            // an SNaN (kept signalling), infinity.
            let cases: [(u32, u64); 6] = [
                (0x0000_0001, 0x36a0_0000_0000_0000),
                (0x8040_0000, 0xb800_0000_0000_0000),
                (0x007f_ffff, 0x380f_ffff_c000_0000),
                (0x3fc0_0000, 0x3ff8_0000_0000_0000),
                (0x7f80_0001, 0x7ff0_0000_2000_0000),
                (0xff80_0000, NINF),
            ];
            for (s, d) in cases {
                c.st_u32(DATA, s).unwrap();
                exec(&mut c, d_form(48, 1, 3, 0)); // lfs f1,0(r3)
                assert_eq!(c.fpr(1), d, "lfs {s:#x}");
                exec(&mut c, d_form(52, 1, 3, 4)); // stfs f1,4(r3)
                assert_eq!(c.ld_u32(DATA + 4).unwrap(), s, "stfs {d:#x}");
            }
            // stfs of a double in the single denormal range truncates: 2^-140 -> 2^9 ulps.
            c.set_fpr(1, 0x3730_0000_0000_0000);
            exec(&mut c, d_form(52, 1, 3, 4));
            assert_eq!(c.ld_u32(DATA + 4).unwrap(), 0x0000_0200);
            // stfs does not round: 1 + 2^-24 + 2^-30 stores as 1.0.
            c.set_fpr(1, 0x3ff0_0000_1400_0000);
            exec(&mut c, d_form(52, 1, 3, 4));
            assert_eq!(c.ld_u32(DATA + 4).unwrap(), 0x3f80_0000);
        }
    }

    #[test]
    fn other_loads_and_stores() {
        let mut c = cpu();
        c.gpr[3] = DATA;
        c.gpr[4] = 8;
        c.st_u64(DATA + 8, 0x0123_4567_89ab_cdef).unwrap();
        exec(&mut c, x_form(31, 1, 3, 4, 599, false)); // lfdx
        assert_eq!(c.fpr(1), 0x0123_4567_89ab_cdef);
        exec(&mut c, d_form(51, 2, 3, 8)); // lfdu f2,8(r3)
        assert_eq!((c.fpr(2), c.gpr[3]), (0x0123_4567_89ab_cdef, DATA + 8));
        c.gpr[3] = DATA;
        exec(&mut c, x_form(31, 1, 3, 4, 759, false)); // stfdux f1,r3,r4
        assert_eq!(c.gpr[3], DATA + 8);
        c.gpr[3] = DATA;
        c.st_u32(DATA + 16, 0x8000_0001).unwrap();
        c.gpr[4] = 16;
        exec(&mut c, x_form(31, 1, 3, 4, 855, false)); // lfiwax
        assert_eq!(c.fpr(1), 0xffff_ffff_8000_0001);
        exec(&mut c, x_form(31, 1, 3, 4, 887, false)); // lfiwzx
        assert_eq!(c.fpr(1), 0x8000_0001);
        c.set_fpr(1, 0xdead_beef_0bad_f00d);
        exec(&mut c, x_form(31, 1, 3, 4, 983, false)); // stfiwx
        assert_eq!(c.ld_u32(DATA + 16).unwrap(), 0x0bad_f00d);
        // lfsu with RA=0 is an invalid form.
        assert_eq!(
            try_exec(&mut c, d_form(49, 1, 0, 0)),
            Err(Exception::Program(ProgramKind::Illegal))
        );
        // MSR[FP]=0: FP unavailable.
        c.set_msr(c.msr & !msr::FP);
        assert_eq!(
            try_exec(&mut c, d_form(48, 1, 3, 0)),
            Err(Exception::FpUnavailable)
        );
        assert_eq!(
            try_exec(&mut c, a_form(63, 1, 2, 3, 0, 21, false)),
            Err(Exception::FpUnavailable)
        );
    }

    #[test]
    fn load_store_pair() {
        for le in [true, false] {
            let mut c = if le { cpu() } else { cpu_be() };
            c.gpr[3] = DATA;
            c.st_u64(DATA + 16, 0x1111_1111_1111_1111).unwrap();
            c.st_u64(DATA + 24, 0x2222_2222_2222_2222).unwrap();
            exec(&mut c, d_form(57, 4, 3, 16)); // lfdp f4,16(r3)
                                                // FRTp holds the high-order doubleword of the quadword at EA.
            let (hi, lo) = if le {
                (0x2222_2222_2222_2222, 0x1111_1111_1111_1111)
            } else {
                (0x1111_1111_1111_1111, 0x2222_2222_2222_2222)
            };
            assert_eq!((c.fpr(4), c.fpr(5)), (hi, lo));
            c.gpr[4] = 32;
            exec(&mut c, x_form(31, 4, 3, 4, 919, false)); // stfdpx f4,r3,r4
            assert_eq!(c.ld_u64(DATA + 32).unwrap(), 0x1111_1111_1111_1111);
            assert_eq!(c.ld_u64(DATA + 40).unwrap(), 0x2222_2222_2222_2222);
            exec(&mut c, x_form(31, 6, 3, 4, 791, false)); // lfdpx f6
            assert_eq!((c.fpr(6), c.fpr(7)), (hi, lo));
            exec(&mut c, d_form(61, 6, 3, 48)); // stfdp f6,48(r3)
            assert_eq!(c.ld_u64(DATA + 48).unwrap(), 0x1111_1111_1111_1111);
            // Odd FRTp: invalid form.
            assert_eq!(
                try_exec(&mut c, d_form(57, 5, 3, 16)),
                Err(Exception::Program(ProgramKind::Illegal))
            );
        }
    }
}
