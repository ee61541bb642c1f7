//! Fixed-point arithmetic, logical, compare, trap, rotate and shift instructions (ISA 3.0B Book I
//! chapter 3, problem state).
//!
//! Results the ISA leaves undefined follow POWER9 hardware:
//! - invalid divides (divisor 0, signed overflow, divde/divwe quotients out of range) give 0, and
//!   the o-forms set OV/OV32/SO;
//! - word divides (divw, divwu, divwe, divweu) clear RT[0:31];
//! - mulhw/mulhwu put the high word of the product in both halves of RT;
//! - modsw/moduw/modsd/modud by zero give 0 (modsw sign-extends, moduw zero-extends).
//!
//! QEMU 7.2 differs on the first point for divw/divwu/divd/divdu (it returns the dividend) and on
//! mulhw/mulhwu (it zero-extends).

use crate::cpu::{Cpu, Ex, Exception, ProgramKind};
use crate::exec::Handler;
use crate::insn::Insn;
use std::cell::RefCell;

/// Primary opcodes owned by this module (everything not claimed elsewhere in decode.rs), plus the
/// three VA-form multiply-adds under opcode 4.
pub fn decode(i: Insn) -> Option<Handler> {
    Some(match i.opcd() {
        2 => tdi,
        3 => twi,
        // Every other opcode-4 word belongs to VMX.
        4 => match i.xo6() {
            48 => maddhd,
            49 => maddhdu,
            51 => maddld,
            _ => return None,
        },
        7 => mulli,
        8 => subfic,
        10 => cmpli,
        11 => cmpi,
        12 => addic,
        13 => addic_rc,
        14 => addi,
        15 => addis,
        20 => rlwimi,
        21 => rlwinm,
        23 => rlwnm,
        24 => ori,
        25 => oris,
        26 => xori,
        27 => xoris,
        28 => andi_rc,
        29 => andis_rc,
        // MD-form xo is bits 27:29; MDS-form (xo 8, 9) is bits 27:30.
        30 => match i.0 >> 2 & 7 {
            0 => rldicl,
            1 => rldicr,
            2 => rldic,
            3 => rldimi,
            4 if i.0 & 2 == 0 => rldcl,
            4 => rldcr,
            _ => return None,
        },
        _ => return None,
    })
}

/// Opcode 31 extended opcodes owned by this module. Matching is on the full 10-bit xo: XO-forms with
/// an OE bit get one arm for each OE value, so no X-form owned by another module (whose xo happens
/// to share the low 9 bits) is captured.
pub fn decode31(i: Insn) -> Option<Handler> {
    let xo = i.xo10();
    // isel is A-form: xo 15 in bits 26:30, BC anywhere in bits 21:25.
    if xo & 0x1f == 15 {
        return Some(isel);
    }
    Some(match xo {
        0 => cmp,
        4 => tw,
        8 | 520 => subfc,
        9 => mulhdu,
        10 | 522 => addc,
        11 => mulhwu,
        24 => slw,
        26 => cntlzw,
        27 => sld,
        28 => and,
        32 => cmpl,
        40 | 552 => subf,
        58 => cntlzd,
        60 => andc,
        68 => td,
        73 => mulhd,
        75 => mulhw,
        104 | 616 => neg,
        122 => popcntb,
        124 => nor,
        128 => setb,
        136 | 648 => subfe,
        138 | 650 => adde,
        154 => prtyw,
        // Z23-form with CY in bits 21:22; only CY=0 is defined.
        170 => addex,
        186 => prtyd,
        192 => cmprb,
        200 | 712 => subfze,
        202 | 714 => addze,
        224 => cmpeqb,
        232 | 744 => subfme,
        233 | 745 => mulld,
        234 | 746 => addme,
        235 | 747 => mullw,
        252 => bpermd,
        265 => modud,
        266 | 778 => add,
        267 => moduw,
        284 => eqv,
        316 => xor,
        378 => popcntw,
        393 | 905 => divdeu,
        395 | 907 => divweu,
        412 => orc,
        425 | 937 => divde,
        427 | 939 => divwe,
        444 => or,
        457 | 969 => divdu,
        459 | 971 => divwu,
        476 => nand,
        489 | 1001 => divd,
        491 | 1003 => divw,
        506 => popcntd,
        508 => cmpb,
        536 => srw,
        538 => cnttzw,
        539 => srd,
        570 => cnttzd,
        755 => darn,
        777 => modsd,
        779 => modsw,
        792 => sraw,
        794 => srad,
        824 => srawi,
        // XS-form: xo in bits 21:29, sh5 in bit 30.
        826 | 827 => sradi,
        890 | 891 => extswsli,
        922 => extsh,
        954 => extsb,
        986 => extsw,
        _ => return None,
    })
}

const M32: u64 = 0xffff_ffff;

fn ra0(cpu: &Cpu, i: Insn) -> u64 {
    if i.ra() == 0 {
        0
    } else {
        cpu.gpr[i.ra()]
    }
}

/// CR0 from the result, for record forms.
#[inline(always)]
fn rc(cpu: &mut Cpu, i: Insn, r: u64) {
    if i.rc_bit() {
        cpu.set_cr0(r);
    }
}

/// Writes RT (bits 6:10) and CR0 for record forms.
#[inline(always)]
fn put_rt(cpu: &mut Cpu, i: Insn, r: u64) -> Ex {
    cpu.gpr[i.rt()] = r;
    rc(cpu, i, r);
    Ok(())
}

/// Writes RA (bits 11:15), the target of logical, shift and rotate forms, and CR0 for record forms.
#[inline(always)]
fn put_ra(cpu: &mut Cpu, i: Insn, r: u64) -> Ex {
    cpu.gpr[i.ra()] = r;
    rc(cpu, i, r);
    Ok(())
}

/// OV, OV32 and the sticky SO.
#[inline(always)]
fn set_ov(cpu: &mut Cpu, ov: bool, ov32: bool) {
    cpu.xer.ov = ov;
    cpu.xer.ov32 = ov32;
    cpu.xer.so |= ov;
}

/// a + b + cin with the carry out of bit 0 and of bit 32 (ISA numbering).
#[inline(always)]
fn add3(a: u64, b: u64, cin: bool) -> (u64, bool, bool) {
    let (s, c1) = a.overflowing_add(b);
    let (r, c2) = s.overflowing_add(cin as u64);
    let ca32 = ((a & M32) + (b & M32) + cin as u64) >> 32 != 0;
    (r, c1 | c2, ca32)
}

/// CA is the carry out of bit 0 in 64-bit mode and of bit 32 in 32-bit mode; CA32 is always the
/// carry out of bit 32.
#[inline(always)]
fn set_ca(cpu: &mut Cpu, ca64: bool, ca32: bool) {
    cpu.xer.ca = if cpu.sf() { ca64 } else { ca32 };
    cpu.xer.ca32 = ca32;
}

/// OV for r = a + b (+ carry): signed overflow of the 64-bit sum in 64-bit mode, of the low word in
/// 32-bit mode; OV32 always from the low word.
#[inline(always)]
fn set_ov_add(cpu: &mut Cpu, a: u64, b: u64, r: u64) {
    let v = (a ^ r) & (b ^ r);
    let ov32 = v >> 31 & 1 != 0;
    let ov = if cpu.sf() { v >> 63 != 0 } else { ov32 };
    set_ov(cpu, ov, ov32);
}

/// The XO-form add/subtract family: RT = a + b + cin, CA when `CA`, OV when OE, CR0 when Rc.
#[inline(always)]
fn xo_add<const CA: bool>(cpu: &mut Cpu, i: Insn, a: u64, b: u64, cin: bool) -> Ex {
    let (r, ca64, ca32) = add3(a, b, cin);
    if CA {
        set_ca(cpu, ca64, ca32);
    }
    if i.oe() {
        set_ov_add(cpu, a, b, r);
    }
    put_rt(cpu, i, r)
}

// ---- D-form arithmetic ----

fn addi(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.gpr[i.rt()] = ra0(cpu, i).wrapping_add(i.si() as u64);
    Ok(())
}

fn addis(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.gpr[i.rt()] = ra0(cpu, i).wrapping_add((i.si() << 16) as u64);
    Ok(())
}

/// addic: unlike addi, RA=0 means r0.
fn addic(cpu: &mut Cpu, i: Insn) -> Ex {
    let (r, ca64, ca32) = add3(cpu.gpr[i.ra()], i.si() as u64, false);
    set_ca(cpu, ca64, ca32);
    cpu.gpr[i.rt()] = r;
    Ok(())
}

fn addic_rc(cpu: &mut Cpu, i: Insn) -> Ex {
    addic(cpu, i)?;
    cpu.set_cr0(cpu.gpr[i.rt()]);
    Ok(())
}

fn subfic(cpu: &mut Cpu, i: Insn) -> Ex {
    let (r, ca64, ca32) = add3(!cpu.gpr[i.ra()], i.si() as u64, true);
    set_ca(cpu, ca64, ca32);
    cpu.gpr[i.rt()] = r;
    Ok(())
}

fn mulli(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.gpr[i.rt()] = cpu.gpr[i.ra()].wrapping_mul(i.si() as u64);
    Ok(())
}

// ---- XO-form add/subtract ----

fn add(cpu: &mut Cpu, i: Insn) -> Ex {
    let (a, b) = (cpu.gpr[i.ra()], cpu.gpr[i.rb()]);
    xo_add::<false>(cpu, i, a, b, false)
}

fn addc(cpu: &mut Cpu, i: Insn) -> Ex {
    let (a, b) = (cpu.gpr[i.ra()], cpu.gpr[i.rb()]);
    xo_add::<true>(cpu, i, a, b, false)
}

fn adde(cpu: &mut Cpu, i: Insn) -> Ex {
    let (a, b) = (cpu.gpr[i.ra()], cpu.gpr[i.rb()]);
    xo_add::<true>(cpu, i, a, b, cpu.xer.ca)
}

fn addme(cpu: &mut Cpu, i: Insn) -> Ex {
    let a = cpu.gpr[i.ra()];
    xo_add::<true>(cpu, i, a, u64::MAX, cpu.xer.ca)
}

fn addze(cpu: &mut Cpu, i: Insn) -> Ex {
    let a = cpu.gpr[i.ra()];
    xo_add::<true>(cpu, i, a, 0, cpu.xer.ca)
}

fn subf(cpu: &mut Cpu, i: Insn) -> Ex {
    let (a, b) = (cpu.gpr[i.ra()], cpu.gpr[i.rb()]);
    xo_add::<false>(cpu, i, !a, b, true)
}

fn subfc(cpu: &mut Cpu, i: Insn) -> Ex {
    let (a, b) = (cpu.gpr[i.ra()], cpu.gpr[i.rb()]);
    xo_add::<true>(cpu, i, !a, b, true)
}

fn subfe(cpu: &mut Cpu, i: Insn) -> Ex {
    let (a, b) = (cpu.gpr[i.ra()], cpu.gpr[i.rb()]);
    xo_add::<true>(cpu, i, !a, b, cpu.xer.ca)
}

fn subfme(cpu: &mut Cpu, i: Insn) -> Ex {
    let a = cpu.gpr[i.ra()];
    xo_add::<true>(cpu, i, !a, u64::MAX, cpu.xer.ca)
}

fn subfze(cpu: &mut Cpu, i: Insn) -> Ex {
    let a = cpu.gpr[i.ra()];
    xo_add::<true>(cpu, i, !a, 0, cpu.xer.ca)
}

fn neg(cpu: &mut Cpu, i: Insn) -> Ex {
    let a = cpu.gpr[i.ra()];
    xo_add::<false>(cpu, i, !a, 0, true)
}

/// addex with CY=0: RA + RB + OV, the carry out going to OV (mode-dependent like CA) and OV32.
/// SO is not affected.
fn addex(cpu: &mut Cpu, i: Insn) -> Ex {
    let (r, ca64, ca32) = add3(cpu.gpr[i.ra()], cpu.gpr[i.rb()], cpu.xer.ov);
    cpu.xer.ov = if cpu.sf() { ca64 } else { ca32 };
    cpu.xer.ov32 = ca32;
    cpu.gpr[i.rt()] = r;
    Ok(())
}

// ---- Multiply ----

fn mullw(cpu: &mut Cpu, i: Insn) -> Ex {
    let a = cpu.gpr[i.ra()] as i32 as i64;
    let b = cpu.gpr[i.rb()] as i32 as i64;
    let p = a * b; // |p| <= 2^62: cannot overflow
    if i.oe() {
        let ov = p != p as i32 as i64;
        set_ov(cpu, ov, ov);
    }
    put_rt(cpu, i, p as u64)
}

fn mulld(cpu: &mut Cpu, i: Insn) -> Ex {
    let a = cpu.gpr[i.ra()] as i64 as i128;
    let b = cpu.gpr[i.rb()] as i64 as i128;
    let p = a * b; // |p| <= 2^126: cannot overflow
    if i.oe() {
        let ov = p != p as i64 as i128;
        set_ov(cpu, ov, ov);
    }
    put_rt(cpu, i, p as u64)
}

/// The high word of a 32x32 product, in both halves of RT as POWER9 does (RT[0:31] is undefined).
#[inline(always)]
fn hi_word_twice(p: u64) -> u64 {
    (p >> 32) | (p & !M32)
}

fn mulhw(cpu: &mut Cpu, i: Insn) -> Ex {
    let p = (cpu.gpr[i.ra()] as i32 as i64) * (cpu.gpr[i.rb()] as i32 as i64);
    put_rt(cpu, i, hi_word_twice(p as u64))
}

fn mulhwu(cpu: &mut Cpu, i: Insn) -> Ex {
    let p = (cpu.gpr[i.ra()] & M32) * (cpu.gpr[i.rb()] & M32);
    put_rt(cpu, i, hi_word_twice(p))
}

fn mulhd(cpu: &mut Cpu, i: Insn) -> Ex {
    let p = (cpu.gpr[i.ra()] as i64 as i128) * (cpu.gpr[i.rb()] as i64 as i128);
    put_rt(cpu, i, (p >> 64) as u64)
}

fn mulhdu(cpu: &mut Cpu, i: Insn) -> Ex {
    let p = (cpu.gpr[i.ra()] as u128) * (cpu.gpr[i.rb()] as u128);
    put_rt(cpu, i, (p >> 64) as u64)
}

/// maddhd: high doubleword of (RA)*(RB) + EXTS(RC), signed. Cannot overflow 128 bits.
fn maddhd(cpu: &mut Cpu, i: Insn) -> Ex {
    let p = (cpu.gpr[i.ra()] as i64 as i128) * (cpu.gpr[i.rb()] as i64 as i128)
        + cpu.gpr[i.rc()] as i64 as i128;
    cpu.gpr[i.rt()] = (p >> 64) as u64;
    Ok(())
}

/// maddhdu: at most (2^64-1)^2 + 2^64-1 < 2^128, so no overflow.
fn maddhdu(cpu: &mut Cpu, i: Insn) -> Ex {
    let p = (cpu.gpr[i.ra()] as u128) * (cpu.gpr[i.rb()] as u128) + cpu.gpr[i.rc()] as u128;
    cpu.gpr[i.rt()] = (p >> 64) as u64;
    Ok(())
}

fn maddld(cpu: &mut Cpu, i: Insn) -> Ex {
    let p = cpu.gpr[i.ra()]
        .wrapping_mul(cpu.gpr[i.rb()])
        .wrapping_add(cpu.gpr[i.rc()]);
    cpu.gpr[i.rt()] = p;
    Ok(())
}

// ---- Divide ----

/// Common tail of the divides: `q` is None for the invalid cases, which give 0 (as POWER9) and
/// set OV/OV32 in the o-forms.
#[inline(always)]
fn div_result(cpu: &mut Cpu, i: Insn, q: Option<u64>) -> Ex {
    if i.oe() {
        let ov = q.is_none();
        set_ov(cpu, ov, ov);
    }
    put_rt(cpu, i, q.unwrap_or(0))
}

fn divw(cpu: &mut Cpu, i: Insn) -> Ex {
    let q = (cpu.gpr[i.ra()] as i32).checked_div(cpu.gpr[i.rb()] as i32);
    div_result(cpu, i, q.map(|q| q as u32 as u64))
}

fn divwu(cpu: &mut Cpu, i: Insn) -> Ex {
    let q = (cpu.gpr[i.ra()] as u32).checked_div(cpu.gpr[i.rb()] as u32);
    div_result(cpu, i, q.map(|q| q as u64))
}

fn divd(cpu: &mut Cpu, i: Insn) -> Ex {
    let q = (cpu.gpr[i.ra()] as i64).checked_div(cpu.gpr[i.rb()] as i64);
    div_result(cpu, i, q.map(|q| q as u64))
}

fn divdu(cpu: &mut Cpu, i: Insn) -> Ex {
    let q = cpu.gpr[i.ra()].checked_div(cpu.gpr[i.rb()]);
    div_result(cpu, i, q)
}

/// divwe: (RA)[32:63] || 32 zeros divided by (RB)[32:63]; invalid unless the quotient fits a word.
fn divwe(cpu: &mut Cpu, i: Insn) -> Ex {
    let dividend = ((cpu.gpr[i.ra()] as i32 as i64) << 32) as i128;
    let divisor = cpu.gpr[i.rb()] as i32 as i128;
    let q = dividend
        .checked_div(divisor)
        .and_then(|q| i32::try_from(q).ok());
    div_result(cpu, i, q.map(|q| q as u32 as u64))
}

fn divweu(cpu: &mut Cpu, i: Insn) -> Ex {
    let dividend = (cpu.gpr[i.ra()] & M32) << 32;
    let divisor = cpu.gpr[i.rb()] & M32;
    let q = dividend
        .checked_div(divisor)
        .and_then(|q| u32::try_from(q).ok());
    div_result(cpu, i, q.map(|q| q as u64))
}

/// divde: (RA) || 64 zeros divided by (RB); invalid unless the quotient fits a doubleword.
fn divde(cpu: &mut Cpu, i: Insn) -> Ex {
    let dividend = ((cpu.gpr[i.ra()] as u128) << 64) as i128;
    let divisor = cpu.gpr[i.rb()] as i64 as i128;
    let q = dividend
        .checked_div(divisor)
        .and_then(|q| i64::try_from(q).ok());
    div_result(cpu, i, q.map(|q| q as u64))
}

fn divdeu(cpu: &mut Cpu, i: Insn) -> Ex {
    let dividend = (cpu.gpr[i.ra()] as u128) << 64;
    let divisor = cpu.gpr[i.rb()] as u128;
    let q = dividend
        .checked_div(divisor)
        .and_then(|q| u64::try_from(q).ok());
    div_result(cpu, i, q)
}

// The modulo instructions have no OE or Rc. checked_rem is None for a zero divisor (result 0)
// and for MIN % -1, whose true remainder is 0 anyway.

fn modsw(cpu: &mut Cpu, i: Insn) -> Ex {
    let r = (cpu.gpr[i.ra()] as i32)
        .checked_rem(cpu.gpr[i.rb()] as i32)
        .unwrap_or(0);
    cpu.gpr[i.rt()] = r as i64 as u64;
    Ok(())
}

fn moduw(cpu: &mut Cpu, i: Insn) -> Ex {
    let r = (cpu.gpr[i.ra()] as u32)
        .checked_rem(cpu.gpr[i.rb()] as u32)
        .unwrap_or(0);
    cpu.gpr[i.rt()] = r as u64;
    Ok(())
}

fn modsd(cpu: &mut Cpu, i: Insn) -> Ex {
    let r = (cpu.gpr[i.ra()] as i64)
        .checked_rem(cpu.gpr[i.rb()] as i64)
        .unwrap_or(0);
    cpu.gpr[i.rt()] = r as u64;
    Ok(())
}

fn modud(cpu: &mut Cpu, i: Insn) -> Ex {
    let r = cpu.gpr[i.ra()].checked_rem(cpu.gpr[i.rb()]).unwrap_or(0);
    cpu.gpr[i.rt()] = r;
    Ok(())
}

// ---- Compare, trap, select ----

/// Writes a compare outcome (LT, GT or EQ, plus XER[SO]) to CR field `bf`.
#[inline(always)]
fn set_cmp(cpu: &mut Cpu, bf: usize, o: std::cmp::Ordering) {
    let c = match o {
        std::cmp::Ordering::Less => 8,
        std::cmp::Ordering::Greater => 4,
        std::cmp::Ordering::Equal => 2,
    };
    cpu.set_crf(bf, c | cpu.xer.so as u32);
}

/// Signed operand of a compare: the whole register when L=1, else its sign-extended low word.
#[inline(always)]
fn cmp_s(i: Insn, v: u64) -> i64 {
    if i.l10() {
        v as i64
    } else {
        v as i32 as i64
    }
}

/// Unsigned operand of a compare: the whole register when L=1, else its low word.
#[inline(always)]
fn cmp_u(i: Insn, v: u64) -> u64 {
    if i.l10() {
        v
    } else {
        v & M32
    }
}

fn cmp(cpu: &mut Cpu, i: Insn) -> Ex {
    let a = cmp_s(i, cpu.gpr[i.ra()]);
    let b = cmp_s(i, cpu.gpr[i.rb()]);
    set_cmp(cpu, i.bf(), a.cmp(&b));
    Ok(())
}

fn cmpi(cpu: &mut Cpu, i: Insn) -> Ex {
    let a = cmp_s(i, cpu.gpr[i.ra()]);
    set_cmp(cpu, i.bf(), a.cmp(&i.si()));
    Ok(())
}

fn cmpl(cpu: &mut Cpu, i: Insn) -> Ex {
    let a = cmp_u(i, cpu.gpr[i.ra()]);
    let b = cmp_u(i, cpu.gpr[i.rb()]);
    set_cmp(cpu, i.bf(), a.cmp(&b));
    Ok(())
}

fn cmpli(cpu: &mut Cpu, i: Insn) -> Ex {
    let a = cmp_u(i, cpu.gpr[i.ra()]);
    set_cmp(cpu, i.bf(), a.cmp(&i.ui()));
    Ok(())
}

/// cmprb: is the low byte of RA within the range RB[56:63]..RB[48:55] (or, with L=1, also
/// RB[40:47]..RB[32:39])? The answer goes to the GT bit of CR field BF.
fn cmprb(cpu: &mut Cpu, i: Insn) -> Ex {
    let c = cpu.gpr[i.ra()] & 0xff;
    let b = cpu.gpr[i.rb()];
    let within = |sh: u32| (b >> sh & 0xff) <= c && c <= (b >> (sh + 8) & 0xff);
    let in_range = within(0) || (i.l10() && within(16));
    cpu.set_crf(i.bf(), (in_range as u32) << 2);
    Ok(())
}

/// cmpeqb: does any byte of RB equal the low byte of RA? Answer in the GT bit of CR field BF.
fn cmpeqb(cpu: &mut Cpu, i: Insn) -> Ex {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let x = cpu.gpr[i.rb()] ^ (cpu.gpr[i.ra()] & 0xff).wrapping_mul(ONES);
    // Exact zero-byte test: the borrow can only reach a byte's top bit through a zero byte.
    let matched = x.wrapping_sub(ONES) & !x & (ONES << 7) != 0;
    cpu.set_crf(i.bf(), (matched as u32) << 2);
    Ok(())
}

/// setb: -1, 1 or 0 from the LT and GT bits of CR field BFA.
fn setb(cpu: &mut Cpu, i: Insn) -> Ex {
    let c = cpu.crf(i.bfa());
    cpu.gpr[i.rt()] = if c & 8 != 0 {
        u64::MAX
    } else if c & 4 != 0 {
        1
    } else {
        0
    };
    Ok(())
}

/// isel: RT = CR[BC] ? (RA|0) : (RB).
fn isel(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.gpr[i.rt()] = if cpu.crbit(i.rc()) {
        ra0(cpu, i)
    } else {
        cpu.gpr[i.rb()]
    };
    Ok(())
}

/// The trap condition: TO bits 0..4 (16, 8, 4, 2, 1) select <, >, =, <u, >u.
#[inline(always)]
fn trap(to: usize, a: i64, b: i64) -> Ex {
    let (ua, ub) = (a as u64, b as u64);
    if (to & 16 != 0 && a < b)
        || (to & 8 != 0 && a > b)
        || (to & 4 != 0 && a == b)
        || (to & 2 != 0 && ua < ub)
        || (to & 1 != 0 && ua > ub)
    {
        return Err(Exception::Program(ProgramKind::Trap));
    }
    Ok(())
}

fn tw(cpu: &mut Cpu, i: Insn) -> Ex {
    trap(
        i.rt(),
        cpu.gpr[i.ra()] as i32 as i64,
        cpu.gpr[i.rb()] as i32 as i64,
    )
}

fn twi(cpu: &mut Cpu, i: Insn) -> Ex {
    trap(i.rt(), cpu.gpr[i.ra()] as i32 as i64, i.si())
}

fn td(cpu: &mut Cpu, i: Insn) -> Ex {
    trap(i.rt(), cpu.gpr[i.ra()] as i64, cpu.gpr[i.rb()] as i64)
}

fn tdi(cpu: &mut Cpu, i: Insn) -> Ex {
    trap(i.rt(), cpu.gpr[i.ra()] as i64, i.si())
}

// ---- Logical (RS is bits 6:10, the result goes to RA) ----

fn andi_rc(cpu: &mut Cpu, i: Insn) -> Ex {
    let r = cpu.gpr[i.rt()] & i.ui();
    cpu.gpr[i.ra()] = r;
    cpu.set_cr0(r);
    Ok(())
}

fn andis_rc(cpu: &mut Cpu, i: Insn) -> Ex {
    let r = cpu.gpr[i.rt()] & i.ui() << 16;
    cpu.gpr[i.ra()] = r;
    cpu.set_cr0(r);
    Ok(())
}

fn ori(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.gpr[i.ra()] = cpu.gpr[i.rt()] | i.ui();
    Ok(())
}

fn oris(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.gpr[i.ra()] = cpu.gpr[i.rt()] | i.ui() << 16;
    Ok(())
}

fn xori(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.gpr[i.ra()] = cpu.gpr[i.rt()] ^ i.ui();
    Ok(())
}

fn xoris(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.gpr[i.ra()] = cpu.gpr[i.rt()] ^ i.ui() << 16;
    Ok(())
}

fn and(cpu: &mut Cpu, i: Insn) -> Ex {
    put_ra(cpu, i, cpu.gpr[i.rt()] & cpu.gpr[i.rb()])
}

fn andc(cpu: &mut Cpu, i: Insn) -> Ex {
    put_ra(cpu, i, cpu.gpr[i.rt()] & !cpu.gpr[i.rb()])
}

fn or(cpu: &mut Cpu, i: Insn) -> Ex {
    put_ra(cpu, i, cpu.gpr[i.rt()] | cpu.gpr[i.rb()])
}

fn orc(cpu: &mut Cpu, i: Insn) -> Ex {
    put_ra(cpu, i, cpu.gpr[i.rt()] | !cpu.gpr[i.rb()])
}

fn xor(cpu: &mut Cpu, i: Insn) -> Ex {
    put_ra(cpu, i, cpu.gpr[i.rt()] ^ cpu.gpr[i.rb()])
}

fn nand(cpu: &mut Cpu, i: Insn) -> Ex {
    put_ra(cpu, i, !(cpu.gpr[i.rt()] & cpu.gpr[i.rb()]))
}

fn nor(cpu: &mut Cpu, i: Insn) -> Ex {
    put_ra(cpu, i, !(cpu.gpr[i.rt()] | cpu.gpr[i.rb()]))
}

fn eqv(cpu: &mut Cpu, i: Insn) -> Ex {
    put_ra(cpu, i, !(cpu.gpr[i.rt()] ^ cpu.gpr[i.rb()]))
}

fn extsb(cpu: &mut Cpu, i: Insn) -> Ex {
    put_ra(cpu, i, cpu.gpr[i.rt()] as i8 as i64 as u64)
}

fn extsh(cpu: &mut Cpu, i: Insn) -> Ex {
    put_ra(cpu, i, cpu.gpr[i.rt()] as i16 as i64 as u64)
}

fn extsw(cpu: &mut Cpu, i: Insn) -> Ex {
    put_ra(cpu, i, cpu.gpr[i.rt()] as i32 as i64 as u64)
}

fn cntlzw(cpu: &mut Cpu, i: Insn) -> Ex {
    put_ra(cpu, i, (cpu.gpr[i.rt()] as u32).leading_zeros() as u64)
}

fn cntlzd(cpu: &mut Cpu, i: Insn) -> Ex {
    put_ra(cpu, i, cpu.gpr[i.rt()].leading_zeros() as u64)
}

fn cnttzw(cpu: &mut Cpu, i: Insn) -> Ex {
    put_ra(cpu, i, (cpu.gpr[i.rt()] as u32).trailing_zeros() as u64)
}

fn cnttzd(cpu: &mut Cpu, i: Insn) -> Ex {
    put_ra(cpu, i, cpu.gpr[i.rt()].trailing_zeros() as u64)
}

/// popcntb: the population count of each byte, in that byte.
fn popcntb(cpu: &mut Cpu, i: Insn) -> Ex {
    let s = cpu.gpr[i.rt()];
    let x = s - (s >> 1 & 0x5555_5555_5555_5555);
    let x = (x & 0x3333_3333_3333_3333) + (x >> 2 & 0x3333_3333_3333_3333);
    let x = (x + (x >> 4)) & 0x0f0f_0f0f_0f0f_0f0f;
    cpu.gpr[i.ra()] = x;
    Ok(())
}

fn popcntw(cpu: &mut Cpu, i: Insn) -> Ex {
    let s = cpu.gpr[i.rt()];
    cpu.gpr[i.ra()] = ((s >> 32).count_ones() as u64) << 32 | (s & M32).count_ones() as u64;
    Ok(())
}

fn popcntd(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.gpr[i.ra()] = cpu.gpr[i.rt()].count_ones() as u64;
    Ok(())
}

/// prtyw: for each word, the parity of the least significant bit of its four bytes.
fn prtyw(cpu: &mut Cpu, i: Insn) -> Ex {
    let s = cpu.gpr[i.rt()] & 0x0101_0101_0101_0101;
    let hi = (s >> 32).count_ones() as u64 & 1;
    let lo = (s & M32).count_ones() as u64 & 1;
    cpu.gpr[i.ra()] = hi << 32 | lo;
    Ok(())
}

/// prtyd: the parity of the least significant bit of each of the eight bytes.
fn prtyd(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.gpr[i.ra()] = (cpu.gpr[i.rt()] & 0x0101_0101_0101_0101).count_ones() as u64 & 1;
    Ok(())
}

/// cmpb: 0xff in each byte where RS and RB agree, 0x00 elsewhere.
fn cmpb(cpu: &mut Cpu, i: Insn) -> Ex {
    let x = cpu.gpr[i.rt()] ^ cpu.gpr[i.rb()];
    let mut r = 0;
    for k in 0..8 {
        if x >> (8 * k) & 0xff == 0 {
            r |= 0xff << (8 * k);
        }
    }
    cpu.gpr[i.ra()] = r;
    Ok(())
}

/// bpermd: byte k of RS is a bit index (ISA numbering) into RB; the selected bits, or 0 for
/// indices >= 64, form RA[56:63].
fn bpermd(cpu: &mut Cpu, i: Insn) -> Ex {
    let (s, b) = (cpu.gpr[i.rt()], cpu.gpr[i.rb()]);
    let mut r = 0;
    for k in 0..8 {
        let idx = s >> (56 - 8 * k) & 0xff;
        if idx < 64 {
            r |= (b >> (63 - idx) & 1) << (7 - k);
        }
    }
    cpu.gpr[i.ra()] = r;
    Ok(())
}

// ---- Shifts ----

fn slw(cpu: &mut Cpu, i: Insn) -> Ex {
    let n = cpu.gpr[i.rb()] & 0x3f;
    let w = cpu.gpr[i.rt()] as u32;
    put_ra(cpu, i, if n < 32 { (w << n) as u64 } else { 0 })
}

fn srw(cpu: &mut Cpu, i: Insn) -> Ex {
    let n = cpu.gpr[i.rb()] & 0x3f;
    let w = cpu.gpr[i.rt()] as u32;
    put_ra(cpu, i, if n < 32 { (w >> n) as u64 } else { 0 })
}

fn sld(cpu: &mut Cpu, i: Insn) -> Ex {
    let n = cpu.gpr[i.rb()] & 0x7f;
    let s = cpu.gpr[i.rt()];
    put_ra(cpu, i, if n < 64 { s << n } else { 0 })
}

fn srd(cpu: &mut Cpu, i: Insn) -> Ex {
    let n = cpu.gpr[i.rb()] & 0x7f;
    let s = cpu.gpr[i.rt()];
    put_ra(cpu, i, if n < 64 { s >> n } else { 0 })
}

/// Algebraic word shift by n (0..=63): the sign-extended result, with CA and CA32 set when the
/// word is negative and 1 bits were shifted out.
#[inline(always)]
fn sraw_n(cpu: &mut Cpu, i: Insn, n: u64) -> Ex {
    let w = cpu.gpr[i.rt()] as i32;
    let (r, lost) = if n < 32 {
        (w >> n, w as u32 & ((1u32 << n) - 1) != 0)
    } else {
        (w >> 31, w != 0)
    };
    let ca = w < 0 && lost;
    cpu.xer.ca = ca;
    cpu.xer.ca32 = ca;
    put_ra(cpu, i, r as i64 as u64)
}

fn sraw(cpu: &mut Cpu, i: Insn) -> Ex {
    sraw_n(cpu, i, cpu.gpr[i.rb()] & 0x3f)
}

fn srawi(cpu: &mut Cpu, i: Insn) -> Ex {
    sraw_n(cpu, i, i.rb() as u64)
}

/// Algebraic doubleword shift by n (0..=127), CA/CA32 as for sraw.
#[inline(always)]
fn srad_n(cpu: &mut Cpu, i: Insn, n: u64) -> Ex {
    let s = cpu.gpr[i.rt()] as i64;
    let (r, lost) = if n < 64 {
        (s >> n, s as u64 & ((1u64 << n) - 1) != 0)
    } else {
        (s >> 63, s != 0)
    };
    let ca = s < 0 && lost;
    cpu.xer.ca = ca;
    cpu.xer.ca32 = ca;
    put_ra(cpu, i, r as u64)
}

fn srad(cpu: &mut Cpu, i: Insn) -> Ex {
    srad_n(cpu, i, cpu.gpr[i.rb()] & 0x7f)
}

/// The 6-bit shift of XS/MD/MDS-forms: sh[5] in bit 30, sh[0:4] in bits 16:20.
#[inline(always)]
fn sh6(i: Insn) -> u32 {
    (i.0 & 2) << 4 | (i.0 >> 11 & 31)
}

fn sradi(cpu: &mut Cpu, i: Insn) -> Ex {
    srad_n(cpu, i, sh6(i) as u64)
}

/// extswsli: sign-extend the low word, then shift left.
fn extswsli(cpu: &mut Cpu, i: Insn) -> Ex {
    put_ra(cpu, i, (cpu.gpr[i.rt()] as i32 as i64 as u64) << sh6(i))
}

// ---- Rotates ----

/// The ISA's MASK(mb, me): ones from bit mb through bit me (bit 0 is the MSB), wrapping around
/// when mb > me.
#[inline(always)]
fn mask(mb: u32, me: u32) -> u64 {
    let from = u64::MAX >> mb;
    let to = u64::MAX << (63 - me);
    if mb <= me {
        from & to
    } else {
        from | to
    }
}

/// ROTL32: the low word rotated left, replicated in both halves as the ISA defines it.
#[inline(always)]
fn rotl32(v: u64, n: u32) -> u64 {
    ((v as u32).rotate_left(n) as u64) * 0x1_0000_0001
}

/// M-form MB (bits 21:25) and ME (bits 26:30) as 64-bit mask bounds.
#[inline(always)]
fn mask_m(i: Insn) -> u64 {
    mask(i.rc() as u32 + 32, (i.0 >> 1 & 31) + 32)
}

fn rlwinm(cpu: &mut Cpu, i: Insn) -> Ex {
    let r = rotl32(cpu.gpr[i.rt()], i.rb() as u32);
    put_ra(cpu, i, r & mask_m(i))
}

fn rlwnm(cpu: &mut Cpu, i: Insn) -> Ex {
    let r = rotl32(cpu.gpr[i.rt()], (cpu.gpr[i.rb()] & 31) as u32);
    put_ra(cpu, i, r & mask_m(i))
}

fn rlwimi(cpu: &mut Cpu, i: Insn) -> Ex {
    let r = rotl32(cpu.gpr[i.rt()], i.rb() as u32);
    let m = mask_m(i);
    put_ra(cpu, i, r & m | cpu.gpr[i.ra()] & !m)
}

/// MD/MDS-form mb or me: a 6-bit field in bits 21:26 stored with its high bit last.
#[inline(always)]
fn mb6(i: Insn) -> u32 {
    let f = i.0 >> 5 & 0x3f;
    (f & 1) << 5 | f >> 1
}

fn rldicl(cpu: &mut Cpu, i: Insn) -> Ex {
    let r = cpu.gpr[i.rt()].rotate_left(sh6(i));
    put_ra(cpu, i, r & mask(mb6(i), 63))
}

fn rldicr(cpu: &mut Cpu, i: Insn) -> Ex {
    let r = cpu.gpr[i.rt()].rotate_left(sh6(i));
    put_ra(cpu, i, r & mask(0, mb6(i)))
}

fn rldic(cpu: &mut Cpu, i: Insn) -> Ex {
    let sh = sh6(i);
    let r = cpu.gpr[i.rt()].rotate_left(sh);
    put_ra(cpu, i, r & mask(mb6(i), 63 - sh))
}

fn rldimi(cpu: &mut Cpu, i: Insn) -> Ex {
    let sh = sh6(i);
    let r = cpu.gpr[i.rt()].rotate_left(sh);
    let m = mask(mb6(i), 63 - sh);
    put_ra(cpu, i, r & m | cpu.gpr[i.ra()] & !m)
}

fn rldcl(cpu: &mut Cpu, i: Insn) -> Ex {
    let r = cpu.gpr[i.rt()].rotate_left((cpu.gpr[i.rb()] & 63) as u32);
    put_ra(cpu, i, r & mask(mb6(i), 63))
}

fn rldcr(cpu: &mut Cpu, i: Insn) -> Ex {
    let r = cpu.gpr[i.rt()].rotate_left((cpu.gpr[i.rb()] & 63) as u32);
    put_ra(cpu, i, r & mask(0, mb6(i)))
}

// ---- darn ----

/// Per-thread buffer of host random doublewords, so darn costs one getrandom call per 32 uses
/// and never allocates.
struct RandomPool {
    buf: [u64; 32],
    next: usize,
}

thread_local! {
    static POOL: RefCell<RandomPool> = const {
        RefCell::new(RandomPool { buf: [0; 32], next: 32 })
    };
}

/// Fills `buf` from the host's getrandom(2); false if the host cannot supply random bytes.
fn host_fill(buf: &mut [u64; 32]) -> bool {
    let len = std::mem::size_of_val(buf);
    let base = buf.as_mut_ptr() as *mut u8;
    let mut done = 0;
    let mut failures = 0;
    while done < len {
        // SAFETY: the destination [base+done, base+len) lies within `buf`, which we borrow mutably.
        let n = unsafe { libc::getrandom(base.add(done) as *mut libc::c_void, len - done, 0) };
        if n > 0 {
            done += n as usize;
        } else {
            // EINTR is worth a retry; anything persistent is a host failure.
            failures += 1;
            if failures > 8 {
                return false;
            }
        }
    }
    true
}

/// One random doubleword from the host, or None if the host source failed.
fn host_random() -> Option<u64> {
    POOL.try_with(|p| {
        let mut p = p.try_borrow_mut().ok()?;
        if p.next >= p.buf.len() {
            if !host_fill(&mut p.buf) {
                return None;
            }
            p.next = 0;
        }
        let v = p.buf[p.next];
        p.next += 1;
        Some(v)
    })
    .ok()
    .flatten()
}

/// darn: L=0 a 32-bit conditioned random number, L=1 a 64-bit conditioned one, L=2 a raw one
/// (the host source stands in for all three). All ones means "no random number available": it is
/// returned only if the host fails, and for the reserved L=3, as QEMU does.
fn darn(cpu: &mut Cpu, i: Insn) -> Ex {
    let l = i.0 >> 16 & 3;
    let mut r = u64::MAX;
    if l < 3 {
        while let Some(v) = host_random() {
            let v = if l == 0 { v & M32 } else { v };
            if v != u64::MAX {
                r = v;
                break;
            }
        }
    }
    cpu.gpr[i.rt()] = r;
    Ok(())
}

#[cfg(test)]
#[path = "fixed_tests.rs"]
mod tests;
