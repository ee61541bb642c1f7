//! VSX quad-precision scalar instructions (Power ISA 3.0B Book I 7.6, opcode 63 X- and Z23-forms).
//! Their operands are VRs (VSR 32..63) holding binary128 values, but the facility is VSX: each
//! starts with the MSR[VSX] check. The arithmetic is in `qp_soft.rs`.
//!
//! Like the scalar double-precision instructions they set FR, FI and FPRF, and an enabled
//! invalid-operation or zero-divide exception leaves the target (and FPRF) unchanged. The `o`
//! forms (bit 31 = RO) round to odd. Invalid forms (reserved bits set) are illegal instructions.
//!
//! Choices where the ISA leaves freedom: xsrqpi/xsrqpxp with R=0 and the reserved RMC values 1
//! and 2 round to nearest-even (as QEMU); xsrqpi[x] leaves FR 0.
//!
//! Known differences from QEMU 7.2, where this follows the ISA: xsrqpi[x]/xsrqpxp with R=0,
//! RMC=3 use FPSCR[RN] as the ISA numbers it (QEMU swaps toward-zero and toward-minus-infinity);
//! xsnmsubqpo rounds to odd (QEMU uses FPSCR[RN]); the nm forms round, then negate (QEMU negates
//! first, which differs in the directed modes); FR is maintained.

use super::Entry;
use crate::cpu::{Cpu, Ex};
use crate::exec::Handler;
use crate::insn::fp::fpu::{self, Prec, FI, FPCC, FPRF, FPRF_SHIFT, FR, XX};
use crate::insn::Insn;

#[path = "qp_soft.rs"]
mod soft;

use soft::{Ctx, IntKind, Res, Rm};

/// Opcode 63 words of the quad-precision instructions (fp.rs has declined them already).
pub(super) fn lookup63(i: Insn) -> Option<Entry> {
    let w = i.0;
    let bit31 = w & 1 != 0;
    // Z23-forms: extended opcode in bits 23:30, RMC in 21:22, R in 15; bits 11:14 reserved.
    match w >> 1 & 0xff {
        5 if w >> 17 & 0xf == 0 => {
            return Some(if bit31 {
                ("xsrqpix", xsrqpi as Handler)
            } else {
                ("xsrqpi", xsrqpi)
            })
        }
        37 if w >> 17 & 0xf == 0 && !bit31 => return Some(("xsrqpxp", xsrqpxp)),
        _ => {}
    }
    let e: Entry = match i.xo10() {
        4 if bit31 => ("xsaddqpo", xsaddqp),
        4 => ("xsaddqp", xsaddqp),
        516 if bit31 => ("xssubqpo", xssubqp),
        516 => ("xssubqp", xssubqp),
        36 if bit31 => ("xsmulqpo", xsmulqp),
        36 => ("xsmulqp", xsmulqp),
        548 if bit31 => ("xsdivqpo", xsdivqp),
        548 => ("xsdivqp", xsdivqp),
        388 if bit31 => ("xsmaddqpo", xsmaddqp),
        388 => ("xsmaddqp", xsmaddqp),
        420 if bit31 => ("xsmsubqpo", xsmsubqp),
        420 => ("xsmsubqp", xsmsubqp),
        452 if bit31 => ("xsnmaddqpo", xsnmaddqp),
        452 => ("xsnmaddqp", xsnmaddqp),
        484 if bit31 => ("xsnmsubqpo", xsnmsubqp),
        484 => ("xsnmsubqp", xsnmsubqp),
        // The rest have bit 31 reserved, except xssqrtqpo and xscvqpdpo below.
        804 if i.ra() == 27 => {
            if bit31 {
                ("xssqrtqpo", xssqrtqp)
            } else {
                ("xssqrtqp", xssqrtqp)
            }
        }
        836 if i.ra() == 20 => {
            if bit31 {
                ("xscvqpdpo", xscvqpdp)
            } else {
                ("xscvqpdp", xscvqpdp)
            }
        }
        _ if bit31 => return None,
        100 => ("xscpsgnqp", xscpsgnqp),
        868 => ("xsiexpqp", xsiexpqp),
        // BF forms: bits 9:10 reserved.
        644 | 132 | 164 if w >> 21 & 3 != 0 => return None,
        644 => ("xscmpuqp", xscmpuqp),
        132 => ("xscmpoqp", xscmpoqp),
        164 => ("xscmpexpqp", xscmpexpqp),
        708 => ("xststdcqp", xststdcqp),
        804 => match i.ra() {
            0 => ("xsabsqp", xsabsqp),
            2 => ("xsxexpqp", xsxexpqp),
            8 => ("xsnabsqp", xsnabsqp),
            16 => ("xsnegqp", xsnegqp),
            18 => ("xsxsigqp", xsxsigqp),
            _ => return None,
        },
        836 => match i.ra() {
            1 => ("xscvqpuwz", xscvqpuwz),
            2 => ("xscvudqp", xscvudqp),
            9 => ("xscvqpswz", xscvqpswz),
            10 => ("xscvsdqp", xscvsdqp),
            17 => ("xscvqpudz", xscvqpudz),
            22 => ("xscvdpqp", xscvdpqp),
            25 => ("xscvqpsdz", xscvqpsdz),
            _ => return None,
        },
        _ => return None,
    };
    Some(e)
}

// ---------------------------------------------------------------------------------------------
// Common plumbing

/// The RO bit (bit 31) of the arithmetic forms: round to odd.
#[inline]
fn ro(i: Insn) -> bool {
    i.0 & 1 != 0
}

/// Ends an instruction with a binary128 result: raises its exceptions, and unless an enabled
/// invalid/zero-divide exception suppresses the write (then FR/FI are cleared and FPRF kept),
/// writes VRT and sets FR, FI and FPRF.
#[inline]
fn qp_done(cpu: &mut Cpu, vrt: usize, r: Res) -> Ex {
    let f = cpu.fpscr;
    let mut n = fpu::set_exceptions(f, r.flags) & !(FR | FI);
    if !fpu::suppresses(f, r.flags) {
        n = (n & !FPRF) | (r.flags & (FR | FI)) | soft::fprf(r.bits);
        cpu.set_vr(vrt, r.bits);
    }
    cpu.fpscr = n;
    fpu::check_enabled(cpu, r.flags)
}

/// Ends an instruction with a 64-bit result for doubleword 0 (doubleword 1 becomes 0): binary64
/// (FPRF set from `prec`) or an integer (`prec` None: FPRF unchanged).
#[inline]
fn dw_done(cpu: &mut Cpu, vrt: usize, r: Res, prec: Option<Prec>) -> Ex {
    let r = fpu::Res {
        bits: r.bits as u64,
        flags: r.flags,
    };
    let v = match prec {
        Some(p) => fpu::commit(cpu, r, p),
        None => fpu::commit_no_fprf(cpu, r),
    };
    if let Some(v) = v {
        cpu.set_vr(vrt, (v as u128) << 64);
    }
    fpu::check_enabled(cpu, r.flags)
}

/// Sets CR field BF and FPSCR[FPCC] to a 4-bit condition.
#[inline]
fn set_cc(cpu: &mut Cpu, i: Insn, cc: u32) {
    cpu.set_crf(i.bf(), cc);
    cpu.fpscr = (cpu.fpscr & !FPCC) | (cc as u64) << FPRF_SHIFT;
}

// ---------------------------------------------------------------------------------------------
// Arithmetic

macro_rules! qp_binary {
    ($($name:ident => |$c:ident, $a:ident, $b:ident| $e:expr;)*) => {$(
        fn $name(cpu: &mut Cpu, i: Insn) -> Ex {
            cpu.check_vsx()?;
            let $c = Ctx::new(cpu.fpscr, ro(i));
            let ($a, $b) = (cpu.vr(i.ra()), cpu.vr(i.rb()));
            qp_done(cpu, i.rt(), $e)
        }
    )*};
}

qp_binary! {
    xsaddqp => |c, a, b| soft::add(c, a, b, false);
    xssubqp => |c, a, b| soft::add(c, a, b, true);
    xsmulqp => |c, a, b| soft::mul(c, a, b);
    xsdivqp => |c, a, b| soft::div(c, a, b);
}

/// VRT ← ±(VRA × VRB ± VRT), rounded once (the nm forms negate the rounded result).
macro_rules! qp_fma {
    ($($name:ident: $negc:expr, $negr:expr;)*) => {$(
        fn $name(cpu: &mut Cpu, i: Insn) -> Ex {
            cpu.check_vsx()?;
            let c = Ctx::new(cpu.fpscr, ro(i));
            let r = soft::fma(c, cpu.vr(i.ra()), cpu.vr(i.rb()), cpu.vr(i.rt()), $negc, $negr);
            qp_done(cpu, i.rt(), r)
        }
    )*};
}

qp_fma! {
    xsmaddqp: false, false;
    xsmsubqp: true, false;
    xsnmaddqp: false, true;
    xsnmsubqp: true, true;
}

fn xssqrtqp(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    let r = soft::sqrt(Ctx::new(cpu.fpscr, ro(i)), cpu.vr(i.rb()));
    qp_done(cpu, i.rt(), r)
}

// ---------------------------------------------------------------------------------------------
// Sign manipulation and fields (no FPSCR changes)

macro_rules! qp_move {
    ($($name:ident => |$a:ident, $b:ident| $e:expr;)*) => {$(
        fn $name(cpu: &mut Cpu, i: Insn) -> Ex {
            cpu.check_vsx()?;
            let ($a, $b) = (cpu.vr(i.ra()), cpu.vr(i.rb()));
            cpu.set_vr(i.rt(), $e);
            Ok(())
        }
    )*};
}

qp_move! {
    xsabsqp => |_a, b| b & !soft::SIGN;
    xsnabsqp => |_a, b| b | soft::SIGN;
    xsnegqp => |_a, b| b ^ soft::SIGN;
    xscpsgnqp => |a, b| (a & soft::SIGN) | (b & !soft::SIGN);
    // Biased exponent into doubleword 0.
    xsxexpqp => |_a, b| (soft::exp_field(b) as u128) << 64;
    // The 113-bit significand: the implicit bit is 1 unless the exponent is 0 or all ones.
    xsxsigqp => |_a, b| {
        let e = soft::exp_field(b);
        let hidden = (e != 0 && e != 0x7fff) as u128;
        hidden << 112 | b & soft::FRAC_MASK
    };
    // Sign and fraction from VRA, exponent from bits 49:63 of VRB.
    xsiexpqp => |a, b| (a & (soft::SIGN | soft::FRAC_MASK)) | (b >> 64 & 0x7fff) << 112;
}

// ---------------------------------------------------------------------------------------------
// Comparisons and class test

fn qp_compare(cpu: &mut Cpu, i: Insn, ordered: bool) -> Ex {
    cpu.check_vsx()?;
    let c = Ctx::new(cpu.fpscr, false);
    let r = soft::compare(c, cpu.vr(i.ra()), cpu.vr(i.rb()), ordered);
    cpu.fpscr = fpu::set_exceptions(cpu.fpscr, r.flags);
    set_cc(cpu, i, r.bits as u32);
    fpu::check_enabled(cpu, r.flags)
}

fn xscmpuqp(cpu: &mut Cpu, i: Insn) -> Ex {
    qp_compare(cpu, i, false)
}

fn xscmpoqp(cpu: &mut Cpu, i: Insn) -> Ex {
    qp_compare(cpu, i, true)
}

/// Compares the biased exponents; unordered if either operand is a NaN. No exceptions.
fn xscmpexpqp(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    let (a, b) = (cpu.vr(i.ra()), cpu.vr(i.rb()));
    let cc = if soft::is_nan(a) || soft::is_nan(b) {
        1
    } else {
        match soft::exp_field(a).cmp(&soft::exp_field(b)) {
            std::cmp::Ordering::Less => 8,
            std::cmp::Ordering::Greater => 4,
            std::cmp::Ordering::Equal => 2,
        }
    };
    set_cc(cpu, i, cc);
    Ok(())
}

/// xststdcqp BF,VRB,DCMX: CR field BF and FPCC ← sign || 0 || match || 0, DCMX (bits 9:15)
/// selecting NaN, +inf, -inf, +0, -0, +denormal, -denormal (0x40 .. 0x01).
fn xststdcqp(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    let b = cpu.vr(i.rb());
    let dcmx = i.0 >> 16 & 0x7f;
    let neg = b & soft::SIGN != 0;
    let sel = |pos_bit: u32| {
        if neg {
            dcmx & pos_bit >> 1 != 0
        } else {
            dcmx & pos_bit != 0
        }
    };
    let m = if soft::is_nan(b) {
        dcmx & 0x40 != 0
    } else if soft::is_inf(b) {
        sel(0x20)
    } else if soft::is_zero(b) {
        sel(0x08)
    } else if soft::exp_field(b) == 0 {
        sel(0x02)
    } else {
        false
    };
    set_cc(cpu, i, (neg as u32) << 3 | (m as u32) << 1);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Conversions

fn xscvqpdp(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    let r = soft::to_dp(Ctx::new(cpu.fpscr, ro(i)), cpu.vr(i.rb()));
    dw_done(cpu, i.rt(), r, Some(Prec::Double))
}

fn xscvdpqp(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    let r = soft::from_dp((cpu.vr(i.rb()) >> 64) as u64);
    qp_done(cpu, i.rt(), r)
}

macro_rules! qp_to_int {
    ($($name:ident: $k:expr;)*) => {$(
        fn $name(cpu: &mut Cpu, i: Insn) -> Ex {
            cpu.check_vsx()?;
            let r = soft::to_int(cpu.vr(i.rb()), $k);
            dw_done(cpu, i.rt(), r, None)
        }
    )*};
}

qp_to_int! {
    xscvqpsdz: IntKind::I64;
    xscvqpswz: IntKind::I32;
    xscvqpudz: IntKind::U64;
    xscvqpuwz: IntKind::U32;
}

/// Doubleword 0 of VRB as a signed/unsigned integer to binary128 (always exact).
fn int_to_qp(cpu: &mut Cpu, i: Insn, signed: bool) -> Ex {
    cpu.check_vsx()?;
    let r = soft::from_int((cpu.vr(i.rb()) >> 64) as u64, signed);
    qp_done(cpu, i.rt(), r)
}

fn xscvsdqp(cpu: &mut Cpu, i: Insn) -> Ex {
    int_to_qp(cpu, i, true)
}

fn xscvudqp(cpu: &mut Cpu, i: Insn) -> Ex {
    int_to_qp(cpu, i, false)
}

// ---------------------------------------------------------------------------------------------
// Rounding

/// Rounding mode of the Z23-forms from R (bit 15) and RMC (bits 21:22): R=1 selects RMC as an
/// RN-style mode; R=0 gives ties-away (RMC 0) or FPSCR[RN] (RMC 3).
fn z23_mode(cpu: &Cpu, i: Insn) -> Rm {
    let r = i.0 >> 16 & 1;
    let rmc = i.0 >> 9 & 3;
    match (r, rmc) {
        (1, _) => Rm::from_rn(rmc as u64),
        (_, 0) => Rm::NearestAway,
        (_, 3) => Rm::from_rn(cpu.fpscr),
        // Reserved: nearest-even.
        _ => Rm::NearestEven,
    }
}

/// xsrqpi[x] R,VRT,VRB,RMC: round to an integral value. Only xsrqpix (EX, bit 31) reports
/// inexactness (XX, FI); FR is 0.
fn xsrqpi(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    let mut r = soft::round_to_int(cpu.vr(i.rb()), z23_mode(cpu, i));
    r.flags &= !FR;
    if i.0 & 1 == 0 {
        r.flags &= !(XX | FI);
    }
    qp_done(cpu, i.rt(), r)
}

/// xsrqpxp R,VRT,VRB,RMC: round to extended precision (64-bit significand).
fn xsrqpxp(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    let c = Ctx::new(cpu.fpscr, false).with_round(z23_mode(cpu, i));
    let r = soft::round_to_xp(c, cpu.vr(i.rb()));
    qp_done(cpu, i.rt(), r)
}

#[cfg(test)]
mod tests {
    //! Expected values are worked out by hand from the ISA definitions and the binary128 format
    //! (1 sign bit, 15-bit exponent biased by 16383, 112-bit fraction); instruction words in the
    //! decode table come from the binutils assembler.

    use super::lookup63;
    use crate::cpu::{msr, Exception, ProgramKind};
    use crate::insn::fp::fpu::*;
    use crate::insn::Insn;
    use crate::testutil::{cpu, exec, try_exec};

    const ONE: u128 = 0x3fff << 112;
    const TWO: u128 = 0x4000 << 112;
    const THREE: u128 = 0x40008 << 108;
    const HALF: u128 = 0x3ffe << 112;
    const INFQ: u128 = 0x7fff << 112;
    const QNAN: u128 = 0x7fff8 << 108;
    const MAXQ: u128 = (0x7fff << 112) - 1;
    const MIN_NORMAL: u128 = 1 << 112;
    const NEG: u128 = 1 << 127;

    // FPRF classes, shifted into place.
    const P_NORM: u64 = 0x4000;
    const N_NORM: u64 = 0x8000;
    const P_ZERO: u64 = 0x2000;
    const N_ZERO: u64 = 0x12000;
    const P_DEN: u64 = 0x14000;
    const P_INF: u64 = 0x5000;
    const C_QNAN: u64 = 0x11000;

    fn q(hi: u64, lo: u64) -> u128 {
        (hi as u128) << 64 | lo as u128
    }

    /// X-form: 63 | VRT | VRA | VRB | xo | bit 31.
    fn x(xo: u32, t: u32, a: u32, b: u32, bit31: bool) -> u32 {
        63 << 26 | t << 21 | a << 16 | b << 11 | xo << 1 | bit31 as u32
    }

    /// Z23-form: 63 | VRT | R (bit 15) | VRB | RMC | xo | EX.
    fn z23(xo: u32, r: u32, t: u32, b: u32, rmc: u32, ex: bool) -> u32 {
        63 << 26 | t << 21 | r << 16 | b << 11 | rmc << 9 | xo << 1 | ex as u32
    }

    /// Runs `w` with FPSCR `fpscr`, VR1 = `t`, VR2 = `a`, VR3 = `b`; returns (VR1, FPSCR).
    fn run(w: u32, fpscr: u64, t: u128, a: u128, b: u128) -> (u128, u64) {
        let mut c = cpu();
        c.fpscr = fpscr;
        c.set_vr(1, t);
        c.set_vr(2, a);
        c.set_vr(3, b);
        exec(&mut c, w);
        (c.vr(1), c.fpscr)
    }

    fn add(fpscr: u64, odd: bool, a: u128, b: u128) -> (u128, u64) {
        run(x(4, 1, 2, 3, odd), fpscr, 0, a, b)
    }

    fn mul(fpscr: u64, odd: bool, a: u128, b: u128) -> (u128, u64) {
        run(x(36, 1, 2, 3, odd), fpscr, 0, a, b)
    }

    fn div(fpscr: u64, odd: bool, a: u128, b: u128) -> (u128, u64) {
        run(x(548, 1, 2, 3, odd), fpscr, 0, a, b)
    }

    #[test]
    fn decode_matches_assembler() {
        // (word, mnemonic), from `powerpc64le-linux-gnu-as -mpower9` on `op 1,2,3` / `op 1,3`.
        for (w, n) in [
            (0xfc221808u32, "xsaddqp"),
            (0xfc221809, "xsaddqpo"),
            (0xfc221c08, "xssubqp"),
            (0xfc221c09, "xssubqpo"),
            (0xfc221848, "xsmulqp"),
            (0xfc221849, "xsmulqpo"),
            (0xfc221c48, "xsdivqp"),
            (0xfc221c49, "xsdivqpo"),
            (0xfc3b1e48, "xssqrtqp"),
            (0xfc3b1e49, "xssqrtqpo"),
            (0xfc221b08, "xsmaddqp"),
            (0xfc221b09, "xsmaddqpo"),
            (0xfc221b48, "xsmsubqp"),
            (0xfc221b49, "xsmsubqpo"),
            (0xfc221b88, "xsnmaddqp"),
            (0xfc221b89, "xsnmaddqpo"),
            (0xfc221bc8, "xsnmsubqp"),
            (0xfc221bc9, "xsnmsubqpo"),
            (0xfc201e48, "xsabsqp"),
            (0xfc281e48, "xsnabsqp"),
            (0xfc301e48, "xsnegqp"),
            (0xfc2218c8, "xscpsgnqp"),
            (0xfc821d08, "xscmpuqp"),
            (0xfc821908, "xscmpoqp"),
            (0xfc821948, "xscmpexpqp"),
            (0xfc341e88, "xscvqpdp"),
            (0xfc341e89, "xscvqpdpo"),
            (0xfc361e88, "xscvdpqp"),
            (0xfc391e88, "xscvqpsdz"),
            (0xfc291e88, "xscvqpswz"),
            (0xfc311e88, "xscvqpudz"),
            (0xfc211e88, "xscvqpuwz"),
            (0xfc2a1e88, "xscvsdqp"),
            (0xfc221e88, "xscvudqp"),
            (0xfc221ec8, "xsiexpqp"),
            (0xfc221e48, "xsxexpqp"),
            (0xfc321e48, "xsxsigqp"),
            (0xfcff1d88, "xststdcqp"),
            (0xfc211e0a, "xsrqpi"),
            (0xfc211e0b, "xsrqpix"),
            (0xfc211e4a, "xsrqpxp"),
        ] {
            assert_eq!(lookup63(Insn(w)).map(|e| e.0), Some(n), "{w:#010x}");
        }
    }

    #[test]
    fn decode_rejects_invalid_forms() {
        for w in [
            0xfc221ec9u32, // xsiexpqp with bit 31
            0xfc2218c9,    // xscpsgnqp with bit 31
            0xfca21d08,    // xscmpuqp with bit 10 set
            0xfc821d09,    // xscmpuqp with bit 31
            0xfc201e49,    // xsabsqp with bit 31
            0xfc211e48,    // 804 with an unassigned sub-opcode
            0xfc201e88,    // 836 sub-opcode 0 (ISA 3.1 xscvqpuqz)
            0xfc361e89,    // xscvdpqp with bit 31
            0xfc231e0a,    // xsrqpi with bit 14 set
            0xfc211e4b,    // xsrqpxp with bit 31
            0xfc221888,    // xscmpeqqp (ISA 3.1)
        ] {
            assert!(lookup63(Insn(w)).is_none(), "{w:#010x}");
        }
    }

    #[test]
    fn vsx_facility() {
        let mut c = cpu();
        c.set_msr(c.msr & !msr::VSX);
        assert_eq!(
            try_exec(&mut c, x(4, 1, 2, 3, false)),
            Err(Exception::VsxUnavailable)
        );
        assert_eq!(
            try_exec(&mut c, x(804, 1, 0, 3, false)),
            Err(Exception::VsxUnavailable)
        );
    }

    #[test]
    fn add_exact_and_signed_zeros() {
        assert_eq!(add(0, false, ONE, TWO), (THREE, P_NORM));
        // x + (-x) is +0, or -0 when rounding toward -inf; (-0) + (-0) is -0.
        assert_eq!(add(0, false, ONE, ONE | NEG), (0, P_ZERO));
        assert_eq!(add(3, false, ONE, ONE | NEG), (NEG, N_ZERO | 3));
        assert_eq!(add(0, false, NEG, NEG), (NEG, N_ZERO));
        // 1 - 1 via xssubqp.
        assert_eq!(run(x(516, 1, 2, 3, false), 0, 0, ONE, ONE), (0, P_ZERO));
        // 3 - 1 = 2.
        assert_eq!(run(x(516, 1, 2, 3, false), 0, 0, THREE, ONE), (TWO, P_NORM));
    }

    #[test]
    fn add_rounding_modes_and_round_to_odd() {
        // 1 + 2^-113 lies halfway between 1 and 1 + 2^-112 (the next binary128).
        let tiny = (0x3fff - 113) << 112;
        let inexact = FX | XX | FI;
        assert_eq!(add(0, false, ONE, tiny), (ONE, inexact | P_NORM));
        assert_eq!(add(1, false, ONE, tiny), (ONE, inexact | P_NORM | 1));
        assert_eq!(
            add(2, false, ONE, tiny),
            (ONE + 1, inexact | FR | P_NORM | 2)
        );
        assert_eq!(add(3, false, ONE, tiny), (ONE, inexact | P_NORM | 3));
        // Round to odd: truncate to 1 (even), then set the last bit (an increment: FR).
        assert_eq!(add(0, true, ONE, tiny), (ONE + 1, inexact | FR | P_NORM));
        // (1 + 2^-112) + 2^-113: a tie with an odd last bit rounds up to even (1 + 2^-111);
        // round-to-odd keeps the odd truncation (no increment).
        assert_eq!(
            add(0, false, ONE + 1, tiny),
            (ONE + 2, inexact | FR | P_NORM)
        );
        assert_eq!(add(0, true, ONE + 1, tiny), (ONE + 1, inexact | P_NORM));
        // -(1) - 2^-113 toward -inf: magnitude rounds up.
        assert_eq!(
            add(3, false, ONE | NEG, tiny | NEG),
            ((ONE + 1) | NEG, inexact | FR | N_NORM | 3)
        );
    }

    #[test]
    fn overflow() {
        let ovf = FX | OX | XX | FI;
        // max + max = (2 - 2^-112) × 2^16384: to +inf in RN, to max toward zero and to odd.
        assert_eq!(add(0, false, MAXQ, MAXQ), (INFQ, ovf | FR | P_INF));
        assert_eq!(add(1, false, MAXQ, MAXQ), (MAXQ, ovf | P_NORM | 1));
        assert_eq!(add(3, false, MAXQ, MAXQ), (MAXQ, ovf | P_NORM | 3));
        assert_eq!(add(0, true, MAXQ, MAXQ), (MAXQ, ovf | P_NORM));
        assert_eq!(
            add(3, false, MAXQ | NEG, MAXQ | NEG),
            (INFQ | NEG, ovf | FR | 0x9000 | 3)
        );
        // OE=1: the exact sum is delivered with its exponent reduced by 24576:
        // 16384 - 24576 = -8192, biased 0x1fff; exact, so no XX.
        let (v, f) = add(OE, false, MAXQ, MAXQ);
        assert_eq!(v, 0x1fff << 112 | (MAXQ & ((1 << 112) - 1)));
        assert_eq!(f, FX | FEX | OX | OE | P_NORM);
    }

    #[test]
    fn enabled_overflow_interrupts_after_writing() {
        let mut c = cpu();
        c.set_msr(c.msr | msr::FE0);
        c.fpscr = OE;
        c.set_vr(2, MAXQ);
        c.set_vr(3, MAXQ);
        assert_eq!(
            try_exec(&mut c, x(4, 1, 2, 3, false)),
            Err(Exception::Program(ProgramKind::FloatingPoint))
        );
        assert_eq!(c.vr(1), 0x1fff << 112 | (MAXQ & ((1 << 112) - 1)));
    }

    #[test]
    fn underflow_and_denormals() {
        // min normal × 0.5 = 2^-16383: an exact denormal (no UX with UE=0).
        assert_eq!(mul(0, false, MIN_NORMAL, HALF), (1 << 111, P_DEN));
        // Smallest denormal × 0.5 = 2^-16495, a tie between 0 and 2^-16494.
        let unf = FX | UX | XX | FI;
        assert_eq!(mul(0, false, 1, HALF), (0, unf | P_ZERO));
        assert_eq!(mul(2, false, 1, HALF), (1, unf | FR | P_DEN | 2));
        assert_eq!(mul(0, true, 1, HALF), (1, unf | FR | P_DEN));
        assert_eq!(mul(1, false, 1 | NEG, HALF), (NEG, unf | N_ZERO | 1));
        // UE=1: the exact result is delivered with the exponent raised by 24576:
        // -16383 + 24576 = 8193, biased 0x6000; UX is set although the result is exact.
        assert_eq!(
            mul(UE, false, MIN_NORMAL, HALF),
            (0x6000 << 112, FX | FEX | UX | UE | P_NORM)
        );
        // Denormal operands: 2^-16494 × 2^16383 (biased 0x7ffe) = 2^-111.
        assert_eq!(
            mul(0, false, 1, 0x7ffe << 112),
            ((0x3fff - 111) << 112, P_NORM)
        );
    }

    #[test]
    fn nan_operands() {
        let snan = INFQ | 5; // quiet bit clear, payload 5
        let qa = QNAN | 0xa;
        // A QNaN propagates unchanged, no exception.
        assert_eq!(add(0, false, qa, ONE), (qa, C_QNAN));
        // An SNaN is quieted and raises VXSNAN.
        assert_eq!(
            add(0, false, ONE, snan),
            (snan | 1 << 111, FX | VX | VXSNAN | C_QNAN)
        );
        // Priority: the first operand's NaN, even when the second is the signalling one.
        assert_eq!(add(0, false, qa, snan), (qa, FX | VX | VXSNAN | C_QNAN));
        // inf - inf: default QNaN, VXISI.
        assert_eq!(
            add(0, false, INFQ, INFQ | NEG),
            (QNAN, FX | VX | VXISI | C_QNAN)
        );
        // 0 × inf: VXIMZ.
        assert_eq!(mul(0, false, 0, INFQ), (QNAN, FX | VX | VXIMZ | C_QNAN));
    }

    #[test]
    fn enabled_invalid_leaves_target_and_fprf() {
        let before = FR | FI | P_NORM | VE;
        let (v, f) = run(x(4, 1, 2, 3, false), before, 0x1234, INFQ | 1, ONE);
        assert_eq!(v, 0x1234);
        // FR/FI cleared, FPRF kept, VXSNAN/VX/FX/FEX set.
        assert_eq!(f, FX | FEX | VX | VXSNAN | P_NORM | VE);
        // And with MSR[FE0] the program interrupt follows.
        let mut c = cpu();
        c.set_msr(c.msr | msr::FE0);
        c.fpscr = VE;
        c.set_vr(2, INFQ | 1);
        assert_eq!(
            try_exec(&mut c, x(4, 1, 2, 3, false)),
            Err(Exception::Program(ProgramKind::FloatingPoint))
        );
    }

    #[test]
    fn multiply() {
        // 3 × 1.5 = 4.5 = 1.125 × 2^2.
        assert_eq!(
            mul(0, false, THREE, 0x3fff8 << 108),
            (0x40012 << 108, P_NORM)
        );
        assert_eq!(mul(0, false, INFQ, TWO | NEG), (INFQ | NEG, 0x9000));
        assert_eq!(mul(0, false, 0, TWO | NEG), (NEG, N_ZERO));
    }

    #[test]
    fn divide() {
        // 1/3 = 1.0101...b × 2^-2: fraction 0x5555...5, next bits 0101... (below half).
        let third = q(0x3ffd_5555_5555_5555, 0x5555_5555_5555_5555);
        let inexact = FX | XX | FI;
        assert_eq!(div(0, false, ONE, THREE), (third, inexact | P_NORM));
        assert_eq!(
            div(2, false, ONE, THREE),
            (third + 1, inexact | FR | P_NORM | 2)
        );
        // Truncation is already odd: round-to-odd leaves it.
        assert_eq!(div(0, true, ONE, THREE), (third, inexact | P_NORM));
        // 2/3: truncation ends in ...a (even), round-to-odd makes it ...b.
        let two_thirds = q(0x3ffe_5555_5555_5555, 0x5555_5555_5555_5555);
        assert_eq!(div(0, true, TWO, THREE), (two_thirds, inexact | P_NORM));
        assert_eq!(div(0, false, THREE, TWO), (0x3fff8 << 108, P_NORM));
        // x/0: ZX, inf; with ZE=1 the target is unchanged.
        assert_eq!(div(0, false, ONE | NEG, 0), (INFQ | NEG, FX | ZX | 0x9000));
        let (v, f) = run(x(548, 1, 2, 3, false), ZE, 7, ONE, 0);
        assert_eq!((v, f), (7, FX | FEX | ZX | ZE));
        // 0/0 and inf/inf.
        assert_eq!(div(0, false, 0, 0), (QNAN, FX | VX | VXZDZ | C_QNAN));
        assert_eq!(div(0, false, INFQ, INFQ), (QNAN, FX | VX | VXIDI | C_QNAN));
        // Denormal quotient: min normal / 4 = 2^-16384.
        assert_eq!(div(0, false, MIN_NORMAL, 0x4001 << 112), (1 << 110, P_DEN));
    }

    #[test]
    fn square_root() {
        let sqrt = |f: u64, odd: bool, b: u128| run(x(804, 1, 27, 3, odd), f, 0, 0, b);
        assert_eq!(sqrt(0, false, 0x4001 << 112), (TWO, P_NORM));
        // √2 = 1.6a09e667f3bcc908b2fb1366ea95 7d3e...(hex): the discarded part is below half.
        let r2 = q(0x3fff_6a09_e667_f3bc, 0xc908_b2fb_1366_ea95);
        assert_eq!(sqrt(0, false, TWO), (r2, FX | XX | FI | P_NORM));
        assert_eq!(
            sqrt(2, false, TWO),
            (r2 + 1, FX | XX | FI | FR | P_NORM | 2)
        );
        // Truncation ends in 5 (odd): round-to-odd keeps it.
        assert_eq!(sqrt(0, true, TWO), (r2, FX | XX | FI | P_NORM));
        // √-0 = -0; √-1 is invalid; √ of the smallest denormal (2^-16494) is 2^-8247.
        assert_eq!(sqrt(0, false, NEG), (NEG, N_ZERO));
        assert_eq!(sqrt(0, false, ONE | NEG), (QNAN, FX | VX | VXSQRT | C_QNAN));
        assert_eq!(sqrt(0, false, 1), ((0x3fff - 8247) << 112, P_NORM));
        assert_eq!(sqrt(0, false, INFQ), (INFQ, P_INF));
    }

    #[test]
    fn fused_multiply_add() {
        // VRT ← VRA × VRB ± VRT: 2 × 3 ± 1.
        let seven = 0x4001c << 108;
        let five = 0x40014 << 108;
        assert_eq!(
            run(x(388, 1, 2, 3, false), 0, ONE, TWO, THREE),
            (seven, P_NORM)
        );
        assert_eq!(
            run(x(420, 1, 2, 3, false), 0, ONE, TWO, THREE),
            (five, P_NORM)
        );
        assert_eq!(
            run(x(452, 1, 2, 3, false), 0, ONE, TWO, THREE),
            (seven | NEG, N_NORM)
        );
        assert_eq!(
            run(x(484, 1, 2, 3, false), 0, ONE, TWO, THREE),
            (five | NEG, N_NORM)
        );
        // One rounding: (1 + 2^-60)² - 1 = 2^-59 + 2^-120 exactly; a rounded product would
        // have lost the 2^-120.
        let a = q(0x3fff_0000_0000_0000, 0x0010_0000_0000_0000);
        assert_eq!(
            run(x(388, 1, 2, 3, false), 0, ONE | NEG, a, a),
            (q(0x3fc4_0000_0000_0000, 0x0008_0000_0000_0000), P_NORM)
        );
        // Exact zero: 1 × 1 - 1 = +0 (-0 toward -inf); the nm form negates the rounded zero.
        assert_eq!(run(x(420, 1, 2, 3, false), 0, ONE, ONE, ONE), (0, P_ZERO));
        assert_eq!(
            run(x(420, 1, 2, 3, false), 3, ONE, ONE, ONE),
            (NEG, N_ZERO | 3)
        );
        assert_eq!(run(x(484, 1, 2, 3, false), 0, ONE, ONE, ONE), (NEG, N_ZERO));
    }

    #[test]
    fn fused_multiply_add_special_cases() {
        let (qa, qb, qt) = (QNAN | 0xa, QNAN | 0xb, QNAN | 0xc);
        // NaN priority: VRA, then VRT (the addend), then VRB.
        assert_eq!(run(x(388, 1, 2, 3, false), 0, qt, qa, qb).0, qa);
        assert_eq!(run(x(388, 1, 2, 3, false), 0, qt, ONE, qb).0, qt);
        assert_eq!(run(x(388, 1, 2, 3, false), 0, ONE, ONE, qb).0, qb);
        // NaNs are not negated by the nm forms.
        assert_eq!(run(x(452, 1, 2, 3, false), 0, qt, ONE, ONE).0, qt);
        // inf × 0 + QNaN: the QNaN, and VXIMZ.
        assert_eq!(
            run(x(388, 1, 2, 3, false), 0, qt, INFQ, 0),
            (qt, FX | VX | VXIMZ | C_QNAN)
        );
        // inf × 1 - inf: VXISI.
        assert_eq!(
            run(x(420, 1, 2, 3, false), 0, INFQ, INFQ, ONE),
            (QNAN, FX | VX | VXISI | C_QNAN)
        );
    }

    #[test]
    fn compares() {
        let cmp = |xo: u32, f: u64, a: u128, b: u128| {
            let mut c = cpu();
            c.fpscr = f;
            c.set_vr(2, a);
            c.set_vr(3, b);
            // BF = 1.
            exec(&mut c, x(xo, 4, 2, 3, false));
            (c.crf(1), c.fpscr)
        };
        assert_eq!(cmp(644, 0, ONE, TWO), (8, 0x8000));
        assert_eq!(cmp(644, 0, TWO | NEG, ONE), (8, 0x8000));
        assert_eq!(cmp(644, 0, TWO, ONE), (4, 0x4000));
        assert_eq!(cmp(644, 0, 0, NEG), (2, 0x2000));
        assert_eq!(cmp(644, 0, QNAN, ONE), (1, 0x1000));
        assert_eq!(cmp(644, 0, INFQ | 1, ONE), (1, FX | VX | VXSNAN | 0x1000));
        // Ordered: a QNaN raises VXVC; an SNaN VXSNAN, plus VXVC only when VE=0.
        assert_eq!(cmp(132, 0, QNAN, ONE), (1, FX | VX | VXVC | 0x1000));
        assert_eq!(
            cmp(132, 0, ONE, INFQ | 1),
            (1, FX | VX | VXSNAN | VXVC | 0x1000)
        );
        assert_eq!(
            cmp(132, VE, ONE, INFQ | 1),
            (1, FX | FEX | VX | VXSNAN | VE | 0x1000)
        );
        // FPRF[C] is left alone, FPCC replaced.
        assert_eq!(cmp(644, 0x1f000, ONE, ONE), (2, 0x12000));
        // Exponent compare: 1 and 1.5 share an exponent; NaNs are unordered, infinities equal.
        assert_eq!(cmp(164, 0, ONE, 0x3fff8 << 108), (2, 0x2000));
        assert_eq!(cmp(164, 0, ONE | NEG, TWO), (8, 0x8000));
        assert_eq!(cmp(164, 0, INFQ | 1, TWO), (1, 0x1000));
        assert_eq!(cmp(164, 0, INFQ, INFQ | NEG), (2, 0x2000));
    }

    #[test]
    fn test_data_class() {
        let tst = |dcmx: u32, b: u128| {
            let mut c = cpu();
            c.set_vr(3, b);
            // xststdcqp BF=1, DCMX in bits 9:15.
            exec(&mut c, 63 << 26 | 1 << 23 | dcmx << 16 | 3 << 11 | 708 << 1);
            (c.crf(1), c.fpscr & 0xf000)
        };
        assert_eq!(tst(0x01, 5 | NEG), (0b1010, 0xa000)); // -denormal
        assert_eq!(tst(0x02, 5 | NEG), (0b1000, 0x8000));
        assert_eq!(tst(0x20, INFQ), (0b0010, 0x2000));
        assert_eq!(tst(0x10, INFQ), (0b0000, 0));
        assert_eq!(tst(0x40, QNAN | NEG), (0b1010, 0xa000));
        assert_eq!(tst(0x3f, QNAN), (0, 0));
        assert_eq!(tst(0x04, NEG), (0b1010, 0xa000)); // -0
        assert_eq!(tst(0x7f, ONE), (0, 0)); // normal: no class bit
    }

    #[test]
    fn sign_and_field_moves() {
        let snan = INFQ | 1 | NEG;
        let f = FR | FI | P_NORM;
        // No quieting, no FPSCR change.
        assert_eq!(run(x(804, 1, 0, 3, false), f, 0, 0, snan), (INFQ | 1, f));
        assert_eq!(run(x(804, 1, 8, 3, false), f, 0, 0, ONE), (ONE | NEG, f));
        assert_eq!(run(x(804, 1, 16, 3, false), f, 0, 0, snan), (INFQ | 1, f));
        assert_eq!(run(x(100, 1, 2, 3, false), 0, 0, NEG, TWO), (TWO | NEG, 0));
        // xsxexpqp / xsxsigqp.
        let x15 = 0x3fff8 << 108;
        assert_eq!(run(x(804, 1, 2, 3, false), 0, 0, 0, x15).0, q(0x3fff, 0));
        assert_eq!(run(x(804, 1, 2, 3, false), 0, 0, 0, 5).0, 0);
        assert_eq!(run(x(804, 1, 18, 3, false), 0, 0, 0, x15).0, 0x18 << 108);
        assert_eq!(run(x(804, 1, 18, 3, false), 0, 0, 0, 5).0, 5);
        assert_eq!(run(x(804, 1, 18, 3, false), 0, 0, 0, INFQ | 1).0, 1);
        // xsiexpqp: sign and fraction of VRA, exponent from the low 15 bits of VRB dw0.
        assert_eq!(
            run(x(868, 1, 2, 3, false), 0, 0, x15 | NEG, q(0xffff_c000, 7)).0,
            (0x40008 << 108) | NEG
        );
    }

    #[test]
    fn convert_to_double() {
        let cv = |f: u64, odd: bool, b: u128| run(x(836, 1, 20, 3, odd), f, 0, 0, b);
        assert_eq!(cv(0, false, 0x3fff8 << 108), (q(0x3ff8 << 48, 0), P_NORM));
        // 1 + 2^-53: halfway between 1 and 1 + 2^-52.
        let tie = ONE | 1 << 59;
        assert_eq!(
            cv(0, false, tie),
            (q(0x3ff0 << 48, 0), FX | XX | FI | P_NORM)
        );
        assert_eq!(
            cv(0, true, tie),
            (q(0x3ff0 << 48 | 1, 0), FX | XX | FI | FR | P_NORM)
        );
        // 2^1024 overflows: inf, or the largest double rounding to odd.
        let big = (0x3fff + 1024) << 112;
        assert_eq!(
            cv(0, false, big),
            (q(0x7ff << 52, 0), FX | OX | XX | FI | FR | P_INF)
        );
        assert_eq!(
            cv(0, true, big),
            (q(0x7fef_ffff_ffff_ffff, 0), FX | OX | XX | FI | P_NORM)
        );
        // 2^-1075 is half the smallest double denormal.
        let small = (0x3fff - 1075) << 112;
        assert_eq!(cv(0, false, small), (0, FX | UX | XX | FI | P_ZERO));
        assert_eq!(
            cv(0, true, small),
            (q(1, 0), FX | UX | XX | FI | FR | P_DEN)
        );
        // SNaN: quieted, top 52 fraction bits kept.
        assert_eq!(
            cv(0, false, q(0x7fff_4000_0000_0000, 0)),
            (q(0x7ffc << 48, 0), FX | VX | VXSNAN | C_QNAN)
        );
    }

    #[test]
    fn convert_from_double_and_integers() {
        let cv = |sub: u32, b: u128| run(x(836, 1, sub, 3, false), 0, 0, 0, b);
        assert_eq!(cv(22, q(0x3ff8 << 48, 0)), (0x3fff8 << 108, P_NORM));
        // The smallest double denormal, 2^-1074, is a normal binary128.
        assert_eq!(cv(22, q(1, 0)), ((0x3fff - 1074) << 112, P_NORM));
        assert_eq!(
            cv(22, q(0x7ff0_0000_0000_0001, 0)),
            (
                q(0x7fff_8000_0000_0000, 0x1000_0000_0000_0000),
                FX | VX | VXSNAN | C_QNAN
            )
        );
        assert_eq!(cv(22, q(1 << 63, 0)), (NEG, N_ZERO));
        // xscvsdqp / xscvudqp.
        assert_eq!(cv(10, q(u64::MAX, 0)), (ONE | NEG, N_NORM));
        assert_eq!(cv(10, q(1 << 63, 0)), ((0x3fff + 63) << 112 | NEG, N_NORM));
        let u64max = q(0x403e_ffff_ffff_ffff, 0xfffe_0000_0000_0000);
        assert_eq!(cv(2, q(u64::MAX, 0)), (u64max, P_NORM));
        assert_eq!(cv(2, 0), (0, P_ZERO));
    }

    #[test]
    fn convert_to_integers() {
        // FPRF is left unchanged (0x1f000 here), FR 0.
        let cv = |sub: u32, b: u128| {
            let (v, f) = run(x(836, 1, sub, 3, false), 0x1f000, 0, 0, b);
            assert_eq!(v as u64, 0, "dw1");
            ((v >> 64) as u64, f & !0x1f000)
        };
        let two_half = 0x40004 << 108;
        let inexact = FX | XX | FI;
        let cvi = FX | VX | VXCVI;
        // xscvqpsdz (25)
        assert_eq!(cv(25, two_half), (2, inexact));
        assert_eq!(cv(25, two_half | NEG), (-2i64 as u64, inexact));
        assert_eq!(cv(25, (0x3fff + 63) << 112), (i64::MAX as u64, cvi));
        assert_eq!(cv(25, (0x3fff + 63) << 112 | NEG), (1 << 63, 0));
        assert_eq!(cv(25, QNAN), (1 << 63, cvi));
        assert_eq!(cv(25, INFQ | 1), (1 << 63, cvi | VXSNAN));
        // xscvqpswz (9): sign-extended word results.
        assert_eq!(cv(9, (0x3fff + 31) << 112), (0x7fff_ffff, cvi));
        assert_eq!(cv(9, 0x3fff8 << 108 | NEG), (u64::MAX, inexact));
        assert_eq!(cv(9, QNAN), (0xffff_ffff_8000_0000, cvi));
        assert_eq!(cv(9, INFQ | NEG), (0xffff_ffff_8000_0000, cvi));
        // xscvqpudz (17): -0.5 truncates to 0 (inexact), -1 is out of range.
        assert_eq!(cv(17, HALF | NEG), (0, inexact));
        assert_eq!(cv(17, ONE | NEG), (0, cvi));
        assert_eq!(
            cv(17, q(0x403e_ffff_ffff_ffff, 0xfffe_0000_0000_0000)),
            (u64::MAX, 0)
        );
        assert_eq!(cv(17, INFQ), (u64::MAX, cvi));
        // xscvqpuwz (1)
        assert_eq!(cv(1, (0x3fff + 32) << 112), (0xffff_ffff, cvi));
        assert_eq!(cv(1, THREE), (3, 0));
        assert_eq!(cv(1, QNAN), (0, cvi));
    }

    #[test]
    fn round_to_integer() {
        let rqpi =
            |r: u32, rmc: u32, ex: bool, f: u64, b: u128| run(z23(5, r, 1, 3, rmc, ex), f, 0, 0, b);
        let two_half = 0x40004 << 108;
        let two_one = q(0x4000_0ccc_cccc_cccc, 0xcccc_cccc_cccc_cccd); // ≈ 2.1
                                                                       // R=0 RMC=0: nearest, ties away.
        assert_eq!(rqpi(0, 0, false, 0, two_half), (THREE, P_NORM));
        assert_eq!(rqpi(0, 0, false, 0, two_half | NEG), (THREE | NEG, N_NORM));
        // R=1: RMC as RN: nearest-even, zero, +inf, -inf.
        assert_eq!(rqpi(1, 0, false, 0, two_half), (TWO, P_NORM));
        assert_eq!(rqpi(1, 1, false, 0, two_half | NEG), (TWO | NEG, N_NORM));
        assert_eq!(rqpi(1, 2, false, 0, two_one), (THREE, P_NORM));
        assert_eq!(rqpi(1, 3, false, 0, HALF | NEG), (ONE | NEG, N_NORM));
        assert_eq!(rqpi(1, 1, false, 0, HALF | NEG), (NEG, N_ZERO));
        // R=0 RMC=3: FPSCR[RN] (1 = toward zero, 3 = toward -inf).
        let m15 = 0x3fff8 << 108 | NEG;
        assert_eq!(rqpi(0, 3, false, 1, m15), (ONE | NEG, N_NORM | 1));
        assert_eq!(rqpi(0, 3, false, 3, m15), (TWO | NEG, N_NORM | 3));
        // Only xsrqpix reports the inexact result.
        assert_eq!(rqpi(1, 2, true, 0, two_one), (THREE, FX | XX | FI | P_NORM));
        // Large values are already integral; SNaNs are quieted.
        let big = (0x3fff + 112) << 112 | 1;
        assert_eq!(rqpi(1, 2, true, 0, big), (big, P_NORM));
        assert_eq!(
            rqpi(1, 0, false, 0, INFQ | 1),
            (QNAN | 1, FX | VX | VXSNAN | C_QNAN)
        );
    }

    #[test]
    fn round_to_extended_precision() {
        let rqpxp = |rmc: u32, f: u64, b: u128| run(z23(37, 1, 1, 3, rmc, false), f, 0, 0, b);
        // 1 + 2^-64 is halfway between 1 and 1 + 2^-63 (the 64-bit significand's last place).
        let tie = ONE | 1 << 48;
        let up = ONE | 1 << 49;
        assert_eq!(rqpxp(0, 0, tie), (ONE, FX | XX | FI | P_NORM));
        assert_eq!(rqpxp(2, 0, tie), (up, FX | XX | FI | FR | P_NORM));
        // Exactly representable: unchanged.
        assert_eq!(rqpxp(0, 0, up), (up, P_NORM));
        // NaNs are quieted and keep the 63 fraction bits of the extended format.
        assert_eq!(
            rqpxp(0, 0, q(0x7fff_0000_0000_0001, 0x0003_ffff_ffff_ffff)),
            (
                q(0x7fff_8000_0000_0001, 0x0002_0000_0000_0000),
                FX | VX | VXSNAN | C_QNAN
            )
        );
        // max rounds up past the largest extended value (overflow); truncated it is that value.
        assert_eq!(rqpxp(0, 0, MAXQ), (INFQ, FX | OX | XX | FI | FR | P_INF));
        assert_eq!(
            rqpxp(1, 0, MAXQ),
            (
                q(0x7ffe_ffff_ffff_ffff, 0xfffe_0000_0000_0000),
                FX | XX | FI | P_NORM
            )
        );
    }

    #[test]
    fn fpscr_summary_bits_accumulate() {
        // An exception bit already set does not set FX again.
        let (_, f) = add(XX, false, ONE, (0x3fff - 113) << 112);
        assert_eq!(f, XX | FI | P_NORM);
        // A second exception in a row keeps the earlier sticky ones.
        let (_, f) = add(FX | VX | VXISI, false, ONE, (0x3fff - 113) << 112);
        assert_eq!(f, FX | VX | VXISI | XX | FI | P_NORM);
    }
}
