//! VMX single-precision floating point (ISA 3.0B Book I 6.9.x).
//!
//! These instructions always round to nearest-even, never touch FPSCR and take no FP exceptions.
//! NaN results follow the VMX rules: the first NaN operand (in the order VRA, VRB, VRC) quieted, or
//! the default QNaN 0x7FC0_0000 for invalid operations. With VSCR[NJ]=1, denormal operands are
//! taken as zero and denormal results are replaced by zero, both keeping their sign. Host f32
//! arithmetic is IEEE round-to-nearest, so it gives the ISA's results once NaNs are fixed up.

use super::{note_sat, set_cmp, split, VSCR_NJ};
use crate::cpu::{Cpu, Ex};
use crate::insn::Insn;

const DEFAULT_NAN: u32 = 0x7fc0_0000;

#[inline(always)]
fn is_nan(x: u32) -> bool {
    x & 0x7fff_ffff > 0x7f80_0000
}

#[inline(always)]
fn quiet(x: u32) -> u32 {
    x | 0x0040_0000
}

/// Non-Java mode: a denormal becomes a zero of the same sign.
#[inline(always)]
fn flush(x: u32, nj: bool) -> u32 {
    if nj && x & 0x7f80_0000 == 0 {
        x & 0x8000_0000
    } else {
        x
    }
}

/// Final result bits: host NaNs (only produced by invalid operations, the NaN operands having been
/// handled before) become the default NaN; denormals are flushed in non-Java mode.
#[inline(always)]
fn fin(r: f32, nj: bool) -> u32 {
    if r.is_nan() {
        DEFAULT_NAN
    } else {
        flush(r.to_bits(), nj)
    }
}

#[inline(always)]
fn nj(cpu: &Cpu) -> bool {
    cpu.vscr & VSCR_NJ != 0
}

#[inline(always)]
fn f(x: u32) -> f32 {
    f32::from_bits(x)
}

/// Elementwise on the four words of VRB.
#[inline(always)]
fn fp1(cpu: &mut Cpu, i: Insn, op: impl Fn(f32) -> f32) -> Ex {
    cpu.check_vec()?;
    let nj = nj(cpu);
    let b = split::<u32, 4>(cpu.vr(i.rb()));
    let r = b.map(|x| {
        let x = flush(x, nj);
        if is_nan(x) {
            quiet(x)
        } else {
            fin(op(f(x)), nj)
        }
    });
    cpu.set_vr(i.rt(), super::join::<u32, 4>(r));
    Ok(())
}

/// Elementwise on VRA and VRB.
#[inline(always)]
fn fp2(cpu: &mut Cpu, i: Insn, op: impl Fn(f32, f32) -> u32) -> Ex {
    cpu.check_vec()?;
    let nj = nj(cpu);
    let (a, b) = (
        split::<u32, 4>(cpu.vr(i.ra())),
        split::<u32, 4>(cpu.vr(i.rb())),
    );
    let mut r = [0u32; 4];
    for k in 0..4 {
        let (x, y) = (flush(a[k], nj), flush(b[k], nj));
        r[k] = if is_nan(x) {
            quiet(x)
        } else if is_nan(y) {
            quiet(y)
        } else {
            flush(op(f(x), f(y)), nj)
        };
    }
    cpu.set_vr(i.rt(), super::join::<u32, 4>(r));
    Ok(())
}

/// Elementwise on VRA, VRB, VRC (NaN precedence in that order).
#[inline(always)]
fn fp3(cpu: &mut Cpu, i: Insn, op: impl Fn(f32, f32, f32) -> f32) -> Ex {
    cpu.check_vec()?;
    let nj = nj(cpu);
    let a = split::<u32, 4>(cpu.vr(i.ra()));
    let b = split::<u32, 4>(cpu.vr(i.rb()));
    let c = split::<u32, 4>(cpu.vr(i.rc()));
    let mut r = [0u32; 4];
    for k in 0..4 {
        let (x, y, z) = (flush(a[k], nj), flush(b[k], nj), flush(c[k], nj));
        r[k] = if is_nan(x) {
            quiet(x)
        } else if is_nan(y) {
            quiet(y)
        } else if is_nan(z) {
            quiet(z)
        } else {
            fin(op(f(x), f(y), f(z)), nj)
        };
    }
    cpu.set_vr(i.rt(), super::join::<u32, 4>(r));
    Ok(())
}

pub(super) fn vaddfp(cpu: &mut Cpu, i: Insn) -> Ex {
    fp2(cpu, i, |a, b| fin(a + b, false))
}

pub(super) fn vsubfp(cpu: &mut Cpu, i: Insn) -> Ex {
    fp2(cpu, i, |a, b| fin(a - b, false))
}

/// vmaxfp: max(+0, -0) is +0.
pub(super) fn vmaxfp(cpu: &mut Cpu, i: Insn) -> Ex {
    fp2(cpu, i, |a, b| {
        if a > b {
            a.to_bits()
        } else if a < b {
            b.to_bits()
        } else {
            a.to_bits() & b.to_bits()
        }
    })
}

/// vminfp: min(+0, -0) is -0.
pub(super) fn vminfp(cpu: &mut Cpu, i: Insn) -> Ex {
    fp2(cpu, i, |a, b| {
        if a < b {
            a.to_bits()
        } else if a > b {
            b.to_bits()
        } else {
            a.to_bits() | b.to_bits()
        }
    })
}

/// vmaddfp: VRA * VRC + VRB with a single rounding.
pub(super) fn vmaddfp(cpu: &mut Cpu, i: Insn) -> Ex {
    fp3(cpu, i, |a, b, c| a.mul_add(c, b))
}

/// vnmsubfp: -(VRA * VRC - VRB) with a single rounding (NaN results are not negated).
pub(super) fn vnmsubfp(cpu: &mut Cpu, i: Insn) -> Ex {
    fp3(cpu, i, |a, b, c| -a.mul_add(c, -b))
}

// The estimates: the ISA allows any result within the stated relative error. Reciprocal and
// reciprocal square root are computed as QEMU does (1/x, and 1/sqrt(x) with the square root rounded
// first) so that results are identical to it; exp2 and log2 use the host libm (within an ulp or
// so, far inside the ISA's bounds). QEMU 7.2's own exp2 is wrong for large or negative inputs, so
// vexptefp does not match it there.

pub(super) fn vrefp(cpu: &mut Cpu, i: Insn) -> Ex {
    fp1(cpu, i, |x| 1.0 / x)
}

pub(super) fn vrsqrtefp(cpu: &mut Cpu, i: Insn) -> Ex {
    fp1(cpu, i, |x| 1.0 / x.sqrt())
}

pub(super) fn vexptefp(cpu: &mut Cpu, i: Insn) -> Ex {
    fp1(cpu, i, f32::exp2)
}

pub(super) fn vlogefp(cpu: &mut Cpu, i: Insn) -> Ex {
    fp1(cpu, i, f32::log2)
}

pub(super) fn vrfin(cpu: &mut Cpu, i: Insn) -> Ex {
    fp1(cpu, i, f32::round_ties_even)
}

pub(super) fn vrfiz(cpu: &mut Cpu, i: Insn) -> Ex {
    fp1(cpu, i, f32::trunc)
}

pub(super) fn vrfip(cpu: &mut Cpu, i: Insn) -> Ex {
    fp1(cpu, i, f32::ceil)
}

pub(super) fn vrfim(cpu: &mut Cpu, i: Insn) -> Ex {
    fp1(cpu, i, f32::floor)
}

/// 2^-uim as f32 (uim <= 31, so always a normal number).
#[inline(always)]
fn pow2_neg(uim: u32) -> f32 {
    f32::from_bits((127 - uim) << 23)
}

/// vcfux: unsigned words to float, divided by 2^UIM (UIM is the VRA field); the conversion rounds
/// and the scaling is exact.
pub(super) fn vcfux(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let s = pow2_neg(i.ra() as u32);
    let r = split::<u32, 4>(cpu.vr(i.rb())).map(|x| (x as f32 * s).to_bits());
    cpu.set_vr(i.rt(), super::join::<u32, 4>(r));
    Ok(())
}

pub(super) fn vcfsx(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let s = pow2_neg(i.ra() as u32);
    let r = split::<u32, 4>(cpu.vr(i.rb())).map(|x| (x as i32 as f32 * s).to_bits());
    cpu.set_vr(i.rt(), super::join::<u32, 4>(r));
    Ok(())
}

/// vctuxs / vctsxs: (VRB * 2^UIM) truncated toward zero and saturated to [lo, hi]; saturation sets
/// VSCR[SAT]. A NaN converts to 0 (without SAT, as QEMU does).
fn cvt_sat(cpu: &mut Cpu, i: Insn, lo: f64, hi: f64) -> Ex {
    cpu.check_vec()?;
    let nj = nj(cpu);
    // f32 * 2^31 is exact in f64.
    let scale = (1u64 << i.ra()) as f64;
    let mut sat = false;
    let r = split::<u32, 4>(cpu.vr(i.rb())).map(|x| {
        let x = flush(x, nj);
        if is_nan(x) {
            return 0;
        }
        let t = (f(x) as f64 * scale).trunc();
        let t = if t > hi {
            sat = true;
            hi
        } else if t < lo {
            sat = true;
            lo
        } else {
            t
        };
        t as i64 as u32
    });
    cpu.set_vr(i.rt(), super::join::<u32, 4>(r));
    note_sat(cpu, sat);
    Ok(())
}

pub(super) fn vctuxs(cpu: &mut Cpu, i: Insn) -> Ex {
    cvt_sat(cpu, i, 0.0, u32::MAX as f64)
}

pub(super) fn vctsxs(cpu: &mut Cpu, i: Insn) -> Ex {
    cvt_sat(cpu, i, i32::MIN as f64, i32::MAX as f64)
}

/// Floating-point compares: false whenever an operand is a NaN.
#[inline(always)]
fn fcmp(cpu: &mut Cpu, i: Insn, op: impl Fn(f32, f32) -> bool) -> Ex {
    cpu.check_vec()?;
    let nj = nj(cpu);
    let (a, b) = (
        split::<u32, 4>(cpu.vr(i.ra())),
        split::<u32, 4>(cpu.vr(i.rb())),
    );
    let mut r = [0u32; 4];
    for k in 0..4 {
        if op(f(flush(a[k], nj)), f(flush(b[k], nj))) {
            r[k] = u32::MAX;
        }
    }
    set_cmp(cpu, i, super::join::<u32, 4>(r));
    Ok(())
}

pub(super) fn vcmpeqfp(cpu: &mut Cpu, i: Insn) -> Ex {
    fcmp(cpu, i, |a, b| a == b)
}

pub(super) fn vcmpgefp(cpu: &mut Cpu, i: Insn) -> Ex {
    fcmp(cpu, i, |a, b| a >= b)
}

pub(super) fn vcmpgtfp(cpu: &mut Cpu, i: Insn) -> Ex {
    fcmp(cpu, i, |a, b| a > b)
}

/// vcmpbfp: bit 0 of each word is set unless VRA <= VRB, bit 1 unless VRA >= -VRB (both set for
/// NaNs). The record form sets CR6[2] when every element is within bounds.
pub(super) fn vcmpbfp(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let nj = nj(cpu);
    let (a, b) = (
        split::<u32, 4>(cpu.vr(i.ra())),
        split::<u32, 4>(cpu.vr(i.rb())),
    );
    let mut r = [0u32; 4];
    for k in 0..4 {
        let (x, y) = (f(flush(a[k], nj)), f(flush(b[k], nj)));
        r[k] = ((x <= y) as u32 ^ 1) << 31 | ((x >= -y) as u32 ^ 1) << 30;
    }
    let r = super::join::<u32, 4>(r);
    cpu.set_vr(i.rt(), r);
    if i.0 & 0x400 != 0 {
        cpu.set_crf(6, if r == 0 { 0b0010 } else { 0 });
    }
    Ok(())
}
