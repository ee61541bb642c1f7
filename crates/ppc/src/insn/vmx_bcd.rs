//! VMX multiply-by-10 (vmul10*uq) and decimal (BCD) instructions, Power ISA 3.0B Book I 6.8 and
//! 6.17: VX-forms with bits 26:31 = 0b000001.
//!
//! Signed packed decimal: 31 digits in nibbles 0..30 (nibble 0 most significant), a sign code in
//! nibble 31 (0xA, 0xC, 0xE, 0xF positive; 0xB, 0xD negative; below 0xA invalid). Results use the
//! preferred sign codes: 0xD negative, 0xC (PS=0) or 0xF (PS=1) positive. The BCD instructions all
//! record into CR field 6: LT, GT, EQ describe the source or the unbounded result as each ISA
//! definition says, SO flags an invalid operand or an overflow.
//!
//! Where the ISA leaves the target undefined (an invalid operand, bcdcfsq. of a value beyond 31
//! digits) it is left unchanged; CR6 is then 0b0001 (bcdcfsq.: LT/GT/EQ and SO).
//!
//! Known differences from QEMU 7.2, where this follows the ISA: the shift, round, truncate and
//! set-sign forms set LT/GT/EQ from the source operand (QEMU: from the result, and bcdus. can set
//! LT); adding two zeros gives EQ and a positive zero (QEMU: GT|EQ, or LT|EQ and -0); invalid
//! digits with a valid sign are always detected by bcdadd./bcdsub.; the bcdtrunc. length is
//! unsigned; bcdus. of zero by 32 or more digits is no overflow.

use crate::cpu::{Cpu, Ex};
use crate::exec::Handler;
use crate::insn::Insn;

/// Opcode 4 words with bits 26:31 = 1 that this module owns.
pub(super) fn decode(i: Insn) -> Option<Handler> {
    lookup(i).map(|e| e.1)
}

fn lookup(i: Insn) -> Option<(&'static str, Handler)> {
    Some(match i.xo11() {
        513 => ("vmul10uq", vmul10uq as Handler),
        1 => ("vmul10cuq", vmul10cuq),
        577 => ("vmul10euq", vmul10euq),
        65 => ("vmul10ecuq", vmul10ecuq),
        // Bit 22 is PS where the instruction has one.
        1025 | 1537 => ("bcdadd.", bcdadd),
        1089 | 1601 => ("bcdsub.", bcdsub),
        833 => ("bcdcpsgn.", bcdcpsgn),
        1153 => ("bcdus.", bcdus),
        1217 | 1729 => ("bcds.", bcds),
        1281 | 1793 => ("bcdtrunc.", bcdtrunc),
        1345 => ("bcdutrunc.", bcdutrunc),
        1473 | 1985 => ("bcdsr.", bcdsr),
        // Conversions, selected by the VRA field; bcdctsq. and bcdctn. have no PS.
        1409 | 1921 => match (i.ra(), i.xo11() == 1921) {
            (0, false) => ("bcdctsq.", bcdctsq),
            (2, _) => ("bcdcfsq.", bcdcfsq),
            (4, _) => ("bcdctz.", bcdctz),
            (5, false) => ("bcdctn.", bcdctn),
            (6, _) => ("bcdcfz.", bcdcfz),
            (7, _) => ("bcdcfn.", bcdcfn),
            (31, _) => ("bcdsetsgn.", bcdsetsgn),
            _ => return None,
        },
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------------
// Multiply by 10

/// VRA × 10 + cin as (low 128 bits, carry-out).
#[inline]
fn mul10(a: u128, cin: u128) -> (u128, u128) {
    let lo = (a & u64::MAX as u128) * 10 + cin;
    let hi = (a >> 64) * 10 + (lo >> 64);
    (hi << 64 | (lo & u64::MAX as u128), hi >> 64)
}

/// The carry-in digit of the extended forms: bits 124:127 of VRB (not limited to 0..9).
#[inline]
fn cin(cpu: &Cpu, i: Insn) -> u128 {
    cpu.vr(i.rb()) & 0xf
}

fn vmul10uq(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let (lo, _) = mul10(cpu.vr(i.ra()), 0);
    cpu.set_vr(i.rt(), lo);
    Ok(())
}

fn vmul10cuq(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let (_, c) = mul10(cpu.vr(i.ra()), 0);
    cpu.set_vr(i.rt(), c);
    Ok(())
}

fn vmul10euq(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let (lo, _) = mul10(cpu.vr(i.ra()), cin(cpu, i));
    cpu.set_vr(i.rt(), lo);
    Ok(())
}

fn vmul10ecuq(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let (_, c) = mul10(cpu.vr(i.ra()), cin(cpu, i));
    cpu.set_vr(i.rt(), c);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Packed decimal helpers

const LT: u32 = 8;
const GT: u32 = 4;
const EQ: u32 = 2;
const SO: u32 = 1;

/// 10^31 - 1, the largest magnitude of a signed packed decimal.
const MAX31: u128 = 9_999_999_999_999_999_999_999_999_999_999;

/// Nibble `i` (0 = most significant).
#[inline]
fn nib(v: u128, i: u32) -> u32 {
    (v >> (124 - 4 * i)) as u32 & 0xf
}

/// Whether the low `n` nibbles of `d` are all decimal digits.
#[inline]
fn digits_ok(d: u128, n: u32) -> bool {
    (0..n).all(|k| (d >> (4 * k)) & 0xf <= 9)
}

/// A valid signed packed decimal: a sign code of 0xA or above and 31 decimal digits.
#[inline]
fn valid_signed(v: u128) -> bool {
    v & 0xf >= 0xa && digits_ok(v >> 4, 31)
}

#[inline]
fn negative(v: u128) -> bool {
    matches!(v & 0xf, 0xb | 0xd)
}

/// The preferred sign code.
#[inline]
fn sign_code(neg: bool, ps: bool) -> u128 {
    if neg {
        0xd
    } else if ps {
        0xf
    } else {
        0xc
    }
}

/// Binary value of up to 32 packed digits (least significant in the low nibble).
#[inline]
fn to_bin(d: u128) -> u128 {
    (0..32)
        .rev()
        .fold(0u128, |acc, k| acc * 10 + ((d >> (4 * k)) & 0xf))
}

/// The low 32 decimal digits of `x`, packed (least significant in the low nibble).
#[inline]
fn from_bin(mut x: u128) -> u128 {
    let mut d = 0u128;
    for k in 0..32 {
        d |= (x % 10) << (4 * k);
        x /= 10;
    }
    d
}

/// Mask of the low `n` nibbles (n ≤ 32).
#[inline]
fn nibble_mask(n: u32) -> u128 {
    if n >= 32 {
        u128::MAX
    } else {
        (1u128 << (4 * n)) - 1
    }
}

/// PS (bit 22).
#[inline]
fn ps(i: Insn) -> bool {
    i.0 & 0x200 != 0
}

/// LT/GT/EQ of a signed packed decimal source: by its sign code, zero digits being EQ.
#[inline]
fn cr_signed(v: u128) -> u32 {
    if v >> 4 == 0 {
        EQ
    } else if negative(v) {
        LT
    } else {
        GT
    }
}

/// Writes the target (unless the result is undefined) and CR field 6.
#[inline]
fn finish(cpu: &mut Cpu, i: Insn, result: Option<u128>, cr: u32) -> Ex {
    if let Some(r) = result {
        cpu.set_vr(i.rt(), r);
    }
    cpu.set_crf(6, cr);
    Ok(())
}

/// An invalid operand: target undefined (left unchanged), CR6 = 0b0001.
#[inline]
fn invalid(cpu: &mut Cpu, i: Insn) -> Ex {
    finish(cpu, i, None, SO)
}

// ---------------------------------------------------------------------------------------------
// Add, subtract, sign

/// bcdadd./bcdsub.: the signed sum, its low 31 digits delivered on overflow; a zero result has
/// the positive sign code. CR6 describes the unbounded result.
fn add_sub(cpu: &mut Cpu, i: Insn, sub: bool) -> Ex {
    cpu.check_vec()?;
    let (a, b) = (cpu.vr(i.ra()), cpu.vr(i.rb()));
    if !valid_signed(a) || !valid_signed(b) {
        return invalid(cpu, i);
    }
    let val = |v: u128, neg: bool| {
        let m = to_bin(v >> 4) as i128;
        if neg {
            -m
        } else {
            m
        }
    };
    // |a|, |b| < 10^31 < 2^104: no overflow in i128.
    let s = val(a, negative(a)) + val(b, negative(b) ^ sub);
    let mag = s.unsigned_abs();
    let ox = mag > MAX31;
    let r = from_bin(mag % (MAX31 + 1)) << 4 | sign_code(s < 0, ps(i));
    let cr = match s.cmp(&0) {
        std::cmp::Ordering::Less => LT,
        std::cmp::Ordering::Greater => GT,
        std::cmp::Ordering::Equal => EQ,
    } | if ox { SO } else { 0 };
    finish(cpu, i, Some(r), cr)
}

fn bcdadd(cpu: &mut Cpu, i: Insn) -> Ex {
    add_sub(cpu, i, false)
}

fn bcdsub(cpu: &mut Cpu, i: Insn) -> Ex {
    add_sub(cpu, i, true)
}

/// bcdcpsgn.: the digits of VRA with the sign code of VRB (as it is).
fn bcdcpsgn(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let (a, b) = (cpu.vr(i.ra()), cpu.vr(i.rb()));
    if !valid_signed(a) || !valid_signed(b) {
        return invalid(cpu, i);
    }
    let r = (a & !0xf) | (b & 0xf);
    finish(cpu, i, Some(r), cr_signed(r))
}

/// bcdsetsgn.: VRB with its sign code replaced by the preferred one.
fn bcdsetsgn(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let b = cpu.vr(i.rb());
    if !valid_signed(b) {
        return invalid(cpu, i);
    }
    let r = (b & !0xf) | sign_code(negative(b), ps(i));
    finish(cpu, i, Some(r), cr_signed(b))
}

// ---------------------------------------------------------------------------------------------
// Conversions

/// bcdcfsq.: a signed 128-bit integer to signed packed decimal; beyond 31 digits the result is
/// undefined and SO is set.
fn bcdcfsq(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let s = cpu.vr(i.rb()) as i128;
    let mag = s.unsigned_abs();
    let ox = mag > MAX31;
    let cr = match s.cmp(&0) {
        std::cmp::Ordering::Less => LT,
        std::cmp::Ordering::Greater => GT,
        std::cmp::Ordering::Equal => EQ,
    };
    if ox {
        return finish(cpu, i, None, cr | SO);
    }
    let r = from_bin(mag) << 4 | sign_code(s < 0, ps(i));
    finish(cpu, i, Some(r), cr)
}

/// bcdctsq.: signed packed decimal to a signed 128-bit integer (always fits).
fn bcdctsq(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let b = cpu.vr(i.rb());
    if !valid_signed(b) {
        return invalid(cpu, i);
    }
    let m = to_bin(b >> 4);
    let r = if negative(b) { m.wrapping_neg() } else { m };
    finish(cpu, i, Some(r), cr_signed(b))
}

/// bcdcfn.: national decimal (seven UTF-16 digits 0x0030..0x0039 in halfwords 0..6, sign
/// 0x002B/0x002D in halfword 7) to signed packed decimal.
fn bcdcfn(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let b = cpu.vr(i.rb());
    let hw = |k: u32| (b >> (112 - 16 * k)) as u16;
    let sign = hw(7);
    let ok = (sign == 0x2b || sign == 0x2d) && (0..7).all(|k| (0x30..=0x39).contains(&hw(k)));
    if !ok {
        return invalid(cpu, i);
    }
    let digits = (0..7).fold(0u128, |d, k| d << 4 | (hw(k) & 0xf) as u128);
    let r = digits << 4 | sign_code(sign == 0x2d, ps(i));
    let cr = if digits == 0 {
        EQ
    } else if sign == 0x2d {
        LT
    } else {
        GT
    };
    finish(cpu, i, Some(r), cr)
}

/// bcdctn.: signed packed decimal to national decimal: the low seven digits, SO if any higher
/// digit is nonzero.
fn bcdctn(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let b = cpu.vr(i.rb());
    if !valid_signed(b) {
        return invalid(cpu, i);
    }
    let ox = b >> 32 != 0;
    let mut r = if negative(b) { 0x2d } else { 0x2b };
    for k in 0..7 {
        // Digit nibble 24+k goes to halfword k.
        r |= (0x30 | nib(b, 24 + k) as u128) << (112 - 16 * k);
    }
    finish(cpu, i, Some(r), cr_signed(b) | if ox { SO } else { 0 })
}

/// bcdcfz.: zoned decimal (16 bytes, zone in the high nibble: 0x3 with PS=0, 0xF with PS=1; the
/// last byte's zone is the sign) to signed packed decimal.
fn bcdcfz(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let b = cpu.vr(i.rb());
    let ps = ps(i);
    let byte = |k: u32| (b >> (120 - 8 * k)) as u8;
    let zone = if ps { 0xf0 } else { 0x30 };
    let last_zone = byte(15) >> 4;
    let ok = (0..15).all(|k| (zone..=zone + 9).contains(&byte(k)))
        && byte(15) & 0xf <= 9
        && (!ps || last_zone >= 0xa);
    if !ok {
        return invalid(cpu, i);
    }
    let neg = if ps {
        last_zone == 0xb || last_zone == 0xd
    } else {
        last_zone & 0x4 != 0
    };
    let digits = (0..16).fold(0u128, |d, k| d << 4 | (byte(k) & 0xf) as u128);
    let r = digits << 4 | sign_code(neg, false);
    let cr = if digits == 0 {
        EQ
    } else if neg {
        LT
    } else {
        GT
    };
    finish(cpu, i, Some(r), cr)
}

/// bcdctz.: signed packed decimal to zoned decimal: the low 16 digits, SO if any higher digit
/// is nonzero. The last byte's zone is the sign: 0x3/0x7 (PS=0) or 0xC/0xD (PS=1).
fn bcdctz(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let b = cpu.vr(i.rb());
    if !valid_signed(b) {
        return invalid(cpu, i);
    }
    let ps = ps(i);
    let neg = negative(b);
    let ox = b >> 68 != 0;
    let zone: u128 = if ps { 0xf } else { 0x3 };
    let mut r = 0u128;
    for k in 0..16 {
        let z = if k < 15 {
            zone
        } else {
            match (ps, neg) {
                (false, false) => 0x3,
                (false, true) => 0x7,
                (true, false) => 0xc,
                (true, true) => 0xd,
            }
        };
        r |= (z << 4 | nib(b, 15 + k) as u128) << (120 - 8 * k);
    }
    finish(cpu, i, Some(r), cr_signed(b) | if ox { SO } else { 0 })
}

// ---------------------------------------------------------------------------------------------
// Shifts and truncation

/// The shift count of the shift forms: byte element 7 of VRA, signed (positive = left).
#[inline]
fn shift_count(cpu: &Cpu, i: Insn) -> i32 {
    (cpu.vr(i.ra()) >> 64) as u8 as i8 as i32
}

/// Shifts the low `n` digits of `d` left by `k` ≤ n digits: (result, a nonzero digit fell off).
#[inline]
fn digits_shl(d: u128, k: u32, n: u32) -> (u128, bool) {
    if k == 0 {
        return (d, false);
    }
    let lost = d >> (4 * (n - k)) != 0;
    let r = if k >= 32 { 0 } else { d << (4 * k) };
    (r & nibble_mask(n), lost)
}

#[inline]
fn digits_shr(d: u128, k: u32) -> u128 {
    if k >= 32 {
        0
    } else {
        d >> (4 * k)
    }
}

/// bcds.: shifts the 31 digits by up to 31 places; SO if a nonzero digit is shifted out to the
/// left. CR LT/GT/EQ describe the source.
fn bcds(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let b = cpu.vr(i.rb());
    if !valid_signed(b) {
        return invalid(cpu, i);
    }
    let n = shift_count(cpu, i);
    let d = b >> 4;
    let (r, ox) = if n > 0 {
        digits_shl(d, n.min(31) as u32, 31)
    } else {
        (digits_shr(d, (-n).min(31) as u32), false)
    };
    let res = r << 4 | sign_code(negative(b), ps(i));
    finish(cpu, i, Some(res), cr_signed(b) | if ox { SO } else { 0 })
}

/// bcdsr.: as bcds., but a right shift rounds: the magnitude is incremented when the first
/// digit shifted out is 5 or more.
fn bcdsr(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let b = cpu.vr(i.rb());
    if !valid_signed(b) {
        return invalid(cpu, i);
    }
    let n = shift_count(cpu, i);
    let d = b >> 4;
    let (r, ox) = if n > 0 {
        digits_shl(d, n.min(31) as u32, 31)
    } else {
        let k = (-n).min(31) as u32;
        let r = digits_shr(d, k);
        // At most 30 digits remain, so the increment cannot carry out of the 31.
        if k > 0 && (d >> (4 * (k - 1))) & 0xf >= 5 {
            (from_bin(to_bin(r) + 1), false)
        } else {
            (r, false)
        }
    };
    let res = r << 4 | sign_code(negative(b), ps(i));
    finish(cpu, i, Some(res), cr_signed(b) | if ox { SO } else { 0 })
}

/// bcdus.: unsigned shift of 32 digits (no sign code) by up to 32 places. CR: LT 0, GT/EQ by
/// whether the source is nonzero, SO on invalid digits or a nonzero digit shifted out.
fn bcdus(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let b = cpu.vr(i.rb());
    if !digits_ok(b, 32) {
        return invalid(cpu, i);
    }
    let n = shift_count(cpu, i);
    let (r, ox) = if n > 0 {
        digits_shl(b, n.min(32) as u32, 32)
    } else {
        (digits_shr(b, (-n).min(32) as u32), false)
    };
    let cr = if b == 0 { EQ } else { GT } | if ox { SO } else { 0 };
    finish(cpu, i, Some(r), cr)
}

/// The length operand of the truncations: bits 48:63 of VRA.
#[inline]
fn trunc_len(cpu: &Cpu, i: Insn) -> u32 {
    (cpu.vr(i.ra()) >> 64) as u16 as u32
}

/// bcdtrunc.: keeps the low `length` digits (all 31 when length ≥ 31); SO if a nonzero digit
/// was removed. CR LT/GT/EQ describe the source.
fn bcdtrunc(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let b = cpu.vr(i.rb());
    if !valid_signed(b) {
        return invalid(cpu, i);
    }
    let len = trunc_len(cpu, i).min(31);
    let d = b >> 4;
    let r = d & nibble_mask(len);
    let ox = r != d;
    let res = r << 4 | sign_code(negative(b), ps(i));
    finish(cpu, i, Some(res), cr_signed(b) | if ox { SO } else { 0 })
}

/// bcdutrunc.: keeps the low `length` of 32 unsigned digits.
fn bcdutrunc(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let b = cpu.vr(i.rb());
    if !digits_ok(b, 32) {
        return invalid(cpu, i);
    }
    let r = b & nibble_mask(trunc_len(cpu, i));
    let cr = if b == 0 { EQ } else { GT } | if r != b { SO } else { 0 };
    finish(cpu, i, Some(r), cr)
}

#[cfg(test)]
mod tests {
    //! Expected values worked out by hand from the ISA definitions; instruction words in the
    //! decode table come from the binutils assembler.

    use super::lookup;
    use crate::cpu::{msr, Exception};
    use crate::insn::Insn;
    use crate::testutil::{cpu, exec, try_exec, vx_form};

    /// Runs `w` with VR2 = `a`, VR3 = `b`, VR1 = a marker; returns (VR1, CR6).
    fn run(w: u32, a: u128, b: u128) -> (u128, u32) {
        let mut c = cpu();
        c.set_vr(1, 0x5a5a);
        c.set_vr(2, a);
        c.set_vr(3, b);
        exec(&mut c, w);
        (c.vr(1), c.crf(6))
    }

    /// VX-form with VRT=1, VRA=`a`, VRB=3.
    fn vx(xo: u32, a: u32) -> u32 {
        vx_form(1, a, 3, xo)
    }

    /// A shift-count / length operand: bits 48:63 (byte 7 is bits 56:63).
    fn count(n: u16) -> u128 {
        (n as u128) << 64
    }

    const UNCHANGED: u128 = 0x5a5a;

    #[test]
    fn decode_matches_assembler() {
        for (w, n) in [
            (0x10230201u32, "vmul10uq"),
            (0x10230001, "vmul10cuq"),
            (0x10221a41, "vmul10euq"),
            (0x10221841, "vmul10ecuq"),
            (0x10221e01, "bcdadd."),
            (0x10221c01, "bcdadd."),
            (0x10221e41, "bcdsub."),
            (0x10271f81, "bcdcfn."),
            (0x10261f81, "bcdcfz."),
            (0x10251d81, "bcdctn."),
            (0x10241f81, "bcdctz."),
            (0x10221f81, "bcdcfsq."),
            (0x10201d81, "bcdctsq."),
            (0x10221b41, "bcdcpsgn."),
            (0x103f1f81, "bcdsetsgn."),
            (0x10221ec1, "bcds."),
            (0x10221c81, "bcdus."),
            (0x10221fc1, "bcdsr."),
            (0x10221f01, "bcdtrunc."),
            (0x10221d41, "bcdutrunc."),
        ] {
            assert_eq!(lookup(Insn(w)).map(|e| e.0), Some(n), "{w:#010x}");
        }
        // Unassigned conversion sub-opcodes, and PS set where the instruction has none.
        for w in [
            0x10211d81u32,
            0x10201f81,
            0x10251f81,
            0x10221e81,
            0x10221f41,
        ] {
            assert!(lookup(Insn(w)).is_none(), "{w:#010x}");
        }
    }

    #[test]
    fn multiply_by_ten() {
        let m = |xo: u32, a: u128, b: u128| run(vx_form(1, 2, 3, xo), a, b).0;
        // 0x1234 × 10 = 46600 = 0xb608.
        assert_eq!(m(513, 0x1234, 0), 0xb608);
        assert_eq!(m(1, 0x1234, 0), 0);
        // 2^127 × 10 = 5 × 2^128.
        assert_eq!(m(513, 1 << 127, 0), 0);
        assert_eq!(m(1, 1 << 127, 0), 5);
        // (2^128 - 1) × 10 = 9 × 2^128 + (2^128 - 10).
        assert_eq!(m(513, u128::MAX, 0), u128::MAX - 9);
        assert_eq!(m(1, u128::MAX, 0), 9);
        // Extended forms add bits 124:127 of VRB (here 0xf; the rest of VRB is ignored):
        // 10 × 2^128 - 10 + 15 = 10 × 2^128 + 5.
        assert_eq!(
            m(577, u128::MAX, 0xffff_fff0_0000_0000_0000_0000_0000_001f),
            5
        );
        assert_eq!(m(65, u128::MAX, 0x1f), 10);
        assert_eq!(m(577, 7, 3), 73);
        assert_eq!(m(65, 7, 3), 0);
    }

    #[test]
    fn vector_facility() {
        let mut c = cpu();
        c.set_msr(c.msr & !msr::VEC);
        assert_eq!(try_exec(&mut c, 0x10230201), Err(Exception::VecUnavailable));
        assert_eq!(try_exec(&mut c, 0x10221e01), Err(Exception::VecUnavailable));
    }

    #[test]
    fn add_and_subtract() {
        let add = |a, b, ps: bool| run(vx_form(1, 2, 3, 1025 | (ps as u32) << 9), a, b);
        let sub = |a, b| run(vx_form(1, 2, 3, 1089), a, b);
        // +123 + +877 = +1000.
        assert_eq!(add(0x123c, 0x877c, false), (0x1000c, 4));
        assert_eq!(add(0x123c, 0x877c, true), (0x1000f, 4));
        // Alternate sign codes are accepted; results use the preferred ones.
        assert_eq!(add(0x5b, 0x2e, false), (0x3d, 8));
        // Zero results are positive, even -0 + -0.
        assert_eq!(add(0x5d, 0x5c, false), (0xc, 2));
        assert_eq!(add(0xd, 0xb, true), (0xf, 2));
        // 31 nines + 1 = 10^31: the low 31 digits (zero) with the sign, GT and SO.
        let nines = (1u128 << 124) - 1;
        let all9 = (nines / 0xf * 9) << 4 | 0xc;
        assert_eq!(add(all9, 0x1c, false), (0xc, 4 | 1));
        assert_eq!(add(all9 | 1, 0x1d, false), (0xd, 8 | 1));
        // Invalid operands: sign code below 0xA, or a digit above 9.
        assert_eq!(add(0x123c, 0x5, false), (UNCHANGED, 1));
        assert_eq!(add(0x1a3c, 0x5c, false), (UNCHANGED, 1));
        // 100 - 1 = 99; -1 - +2 = -3; 5 - 5 = 0.
        assert_eq!(sub(0x100c, 0x1c), (0x99c, 4));
        assert_eq!(sub(0x1b, 0x2a), (0x3d, 8));
        assert_eq!(sub(0x5c, 0x5f), (0xc, 2));
    }

    #[test]
    fn sign_operations() {
        // bcdcpsgn.: VRA's digits, VRB's sign code as it is.
        assert_eq!(run(vx_form(1, 2, 3, 833), 0x123c, 0x7b), (0x123b, 8));
        assert_eq!(run(vx_form(1, 2, 3, 833), 0x0c, 0x7b), (0xb, 2));
        assert_eq!(run(vx_form(1, 2, 3, 833), 0x123c, 0x7), (UNCHANGED, 1));
        // bcdsetsgn.: the preferred sign code.
        assert_eq!(run(vx(1409, 31), 0, 0x123a), (0x123c, 4));
        assert_eq!(run(vx(1921, 31), 0, 0x123e), (0x123f, 4));
        assert_eq!(run(vx(1921, 31), 0, 0x123b), (0x123d, 8));
        assert_eq!(run(vx(1409, 31), 0, 0x12f3c), (UNCHANGED, 1));
    }

    #[test]
    fn signed_quadword_conversions() {
        let neg = |x: u128| x.wrapping_neg();
        assert_eq!(run(vx(1409, 2), 0, neg(12345)), (0x12345d, 8));
        assert_eq!(run(vx(1921, 2), 0, 12345), (0x12345f, 4));
        assert_eq!(run(vx(1409, 2), 0, 0), (0xc, 2));
        // 10^31 - 1 fits; 10^31 does not (result undefined: left unchanged).
        let max = 9_999_999_999_999_999_999_999_999_999_999u128;
        let nines = ((1u128 << 124) - 1) / 0xf * 9;
        assert_eq!(run(vx(1409, 2), 0, neg(max)), (nines << 4 | 0xd, 8));
        assert_eq!(run(vx(1409, 2), 0, max + 1), (UNCHANGED, 4 | 1));
        assert_eq!(run(vx(1409, 2), 0, 1 << 127), (UNCHANGED, 8 | 1));
        // bcdctsq.
        assert_eq!(run(vx(1409, 0), 0, 0x12345d), (neg(12345), 8));
        assert_eq!(run(vx(1409, 0), 0, 0x12345a), (12345, 4));
        assert_eq!(run(vx(1409, 0), 0, 0xd), (0, 2));
        assert_eq!(run(vx(1409, 0), 0, nines << 4 | 0xc), (max, 4));
        assert_eq!(run(vx(1409, 0), 0, 0x1234), (UNCHANGED, 1));
    }

    #[test]
    fn national_conversions() {
        // "0000123-" in UTF-16.
        let nat = 0x0030_0030_0030_0030_0031_0032_0033_002d_u128;
        assert_eq!(run(vx(1409, 7), 0, nat), (0x123d, 8));
        assert_eq!(run(vx(1921, 7), 0, nat & !0xff | 0x2b), (0x123f, 4));
        assert_eq!(
            run(vx(1409, 7), 0, 0x0030_0030_0030_0030_0030_0030_0030_002b),
            (0xc, 2)
        );
        // Bad sign, bad digit.
        assert_eq!(run(vx(1409, 7), 0, nat & !0xff | 0x2c), (UNCHANGED, 1));
        assert_eq!(run(vx(1409, 7), 0, nat | 0xa << 16), (UNCHANGED, 1));
        // bcdctn.: back again; digits above the low seven set SO.
        assert_eq!(run(vx(1409, 5), 0, 0x123d), (nat, 8));
        assert_eq!(
            run(vx(1409, 5), 0, 0x1_2345_678c),
            (0x0032_0033_0034_0035_0036_0037_0038_002b, 4 | 1)
        );
        assert_eq!(run(vx(1409, 5), 0, 0x1_2345_6789), (UNCHANGED, 1));
    }

    #[test]
    fn zoned_conversions() {
        // PS=0: ASCII zones 0x3; the last byte's zone 0x7 means negative.
        let z0 = 0x3030_3030_3030_3030_3030_3030_3031_3273_u128;
        assert_eq!(run(vx(1409, 6), 0, z0), (0x123d, 8));
        assert_eq!(run(vx(1409, 6), 0, z0 & !0xf0 | 0x30), (0x123c, 4));
        // PS=1: zones 0xF, the last zone a sign code (positive results still use 0xC).
        let z1 = 0xf0f0_f0f0_f0f0_f0f0_f0f0_f0f0_f0f1_f2d3_u128;
        assert_eq!(run(vx(1921, 6), 0, z1), (0x123d, 8));
        assert_eq!(run(vx(1921, 6), 0, z1 & !0xf0 | 0xc0), (0x123c, 4));
        assert_eq!(run(vx(1921, 6), 0, z1 & !0xf0 | 0x30), (UNCHANGED, 1));
        assert_eq!(run(vx(1409, 6), 0, z1), (UNCHANGED, 1));
        // bcdctz.
        assert_eq!(run(vx(1409, 4), 0, 0x123d), (z0, 8));
        assert_eq!(run(vx(1921, 4), 0, 0x123d), (z1, 8));
        assert_eq!(
            run(vx(1921, 4), 0, 0x123c),
            (0xf0f0_f0f0_f0f0_f0f0_f0f0_f0f0_f0f1_f2c3, 4)
        );
        // 17 digits: the top one does not fit (SO); the low 16 are converted.
        assert_eq!(
            run(vx(1409, 4), 0, 0x0010_0000_0000_0000_002c),
            (0x3030_3030_3030_3030_3030_3030_3030_3032, 4 | 1)
        );
    }

    #[test]
    fn shifts() {
        let bcds = |n: u16, b| run(vx_form(1, 2, 3, 1217), count(n), b);
        assert_eq!(bcds(2, 0x123c), (0x12300c, 4));
        assert_eq!(bcds(0xff, 0x123d), (0x12d, 8));
        // Shift counts beyond 31 digits clamp; CR describes the source.
        assert_eq!(bcds(0x80, 0x123a), (0xc, 4));
        // A nonzero digit shifted out on the left sets SO.
        assert_eq!(bcds(1, 1 << 124 | 0xc), (0xc, 4 | 1));
        assert_eq!(bcds(1, 0x12f3c), (UNCHANGED, 1));
        // bcdsr. rounds right shifts on the first digit shifted out.
        let bcdsr = |n: u16, b| run(vx_form(1, 2, 3, 1473), count(n), b);
        assert_eq!(bcdsr(0xff, 0x125c), (0x13c, 4));
        assert_eq!(bcdsr(0xff, 0x124d), (0x12d, 8));
        assert_eq!(bcdsr(0xfe, 0x995c), (0x10c, 4));
        assert_eq!(bcdsr(1, 0x125c), (0x1250c, 4));
        // Shifting all 31 digits out rounds on the most significant one.
        assert_eq!(bcdsr(0x81, 0x5c), (0xc, 4));
        assert_eq!(bcdsr(0x81, 5 << 124 | 0xc), (0x1c, 4));
        // bcdus.: 32 unsigned digits, no sign code.
        let bcdus = |n: u16, b| run(vx_form(1, 2, 3, 1153), count(n), b);
        assert_eq!(bcdus(1, 0x1234), (0x12340, 4));
        assert_eq!(bcdus(0xff, 0x1234), (0x123, 4));
        assert_eq!(bcdus(4, 0x1234 << 112), (0, 4 | 1));
        assert_eq!(bcdus(0x7f, 0), (0, 2));
        assert_eq!(bcdus(1, 0x123c), (UNCHANGED, 1));
    }

    #[test]
    fn truncation() {
        let trunc =
            |n: u16, b, ps: bool| run(vx_form(1, 2, 3, 1281 | (ps as u32) << 9), count(n), b);
        assert_eq!(trunc(3, 0x12345c, false), (0x345c, 4 | 1));
        assert_eq!(trunc(3, 0x345b, true), (0x345d, 8));
        assert_eq!(trunc(10, 0x12345a, true), (0x12345f, 4));
        assert_eq!(trunc(0, 0x1d, false), (0xd, 8 | 1));
        assert_eq!(trunc(0xffff, 0x1d, false), (0x1d, 8));
        let utrunc = |n: u16, b| run(vx_form(1, 2, 3, 1345), count(n), b);
        assert_eq!(utrunc(2, 0x12345), (0x45, 4 | 1));
        assert_eq!(utrunc(32, u128::MAX / 0xf * 9), (u128::MAX / 0xf * 9, 4));
        assert_eq!(utrunc(0, 0), (0, 2));
        assert_eq!(utrunc(2, 0x1f), (UNCHANGED, 1));
    }
}
