//! Opcode 60 decode and the VSX logical, permute, sign and bit-field instructions.

use super::{check_vsx_vec, from_words, word, words, Entry};
use crate::cpu::{Cpu, Ex};
use crate::exec::Handler;
use crate::insn::Insn;

/// Decodes opcode 60. The forms nest: XX4 (xxsel) owns bits 26:27 = 0b11, XX3 opcodes use bits
/// 21:28, XX2 opcodes bits 21:29 (some with a sub-opcode in bits 11:15), X-forms bits 21:30.
pub(super) fn lookup60(i: Insn) -> Option<Entry> {
    let w = i.0;
    if w >> 4 & 3 == 3 {
        return Some(("xxsel", xxsel));
    }
    match i.xo10() {
        360 if w >> 19 & 3 == 0 => return Some(("xxspltib", xxspltib)),
        918 => return Some(("xsiexpdp", xsiexpdp)),
        _ => {}
    }
    let xo8 = w >> 3 & 0xff;
    match xo8 & 0x9f {
        2 => return Some(("xxsldwi", xxsldwi)),
        10 => return Some(("xxpermdi", xxpermdi)),
        _ => {}
    }
    match xo8 & 0xf7 {
        0xd5 => return Some(("xvtstdcsp", xvtstdcsp)),
        0xf5 => return Some(("xvtstdcdp", xvtstdcdp)),
        _ => {}
    }
    let e: Entry = match xo8 {
        130 => ("xxland", xxland),
        138 => ("xxlandc", xxlandc),
        146 => ("xxlor", xxlor),
        154 => ("xxlxor", xxlxor),
        162 => ("xxlnor", xxlnor),
        170 => ("xxlorc", xxlorc),
        178 => ("xxlnand", xxlnand),
        186 => ("xxleqv", xxleqv),
        18 => ("xxmrghw", xxmrghw),
        50 => ("xxmrglw", xxmrglw),
        26 => ("xxperm", xxperm),
        58 => ("xxpermr", xxpermr),
        176 => ("xscpsgndp", xscpsgndp),
        240 => ("xvcpsgndp", xvcpsgndp),
        208 => ("xvcpsgnsp", xvcpsgnsp),
        248 => ("xviexpdp", xviexpdp),
        216 => ("xviexpsp", xviexpsp),
        _ => return super::fparith::lookup_xx3(i).or_else(|| lookup_xx2(i)),
    };
    Some(e)
}

/// XX2 forms. Reserved bits must be zero (invalid forms are treated as illegal, as the assembler
/// and QEMU do): bits 11:15 unless they hold UIM/DCMX/a sub-opcode, and bit 31 where the target
/// is a GPR or CR field.
fn lookup_xx2(i: Insn) -> Option<Entry> {
    let w = i.0;
    let sub = w >> 16 & 31;
    let xo9 = w >> 2 & 0x1ff;
    let ok = match xo9 {
        164 => w >> 18 & 7 == 0,
        165 | 181 => w >> 20 & 1 == 0,
        298 | 362 => w & 1 == 0,
        347 if sub < 2 => w & 1 == 0,
        345 | 361 | 377 | 473 | 489 | 505 | 409 | 425 | 441 => sub == 0,
        _ => true,
    };
    if !ok {
        return None;
    }
    Some(match xo9 {
        164 => ("xxspltw", xxspltw as Handler),
        165 => ("xxextractuw", xxextractuw),
        181 => ("xxinsertw", xxinsertw),
        475 => match sub {
            0 => ("xvxexpdp", xvxexpdp),
            1 => ("xvxsigdp", xvxsigdp),
            7 => ("xxbrh", xxbrh),
            8 => ("xvxexpsp", xvxexpsp),
            9 => ("xvxsigsp", xvxsigsp),
            15 => ("xxbrw", xxbrw),
            23 => ("xxbrd", xxbrd),
            31 => ("xxbrq", xxbrq),
            _ => return super::fparith::lookup_xx2(i),
        },
        347 => match sub {
            0 => ("xsxexpdp", xsxexpdp),
            1 => ("xsxsigdp", xsxsigdp),
            _ => return super::fparith::lookup_xx2(i),
        },
        362 => ("xststdcdp", xststdcdp),
        298 => ("xststdcsp", xststdcsp),
        345 => ("xsabsdp", xsabsdp),
        361 => ("xsnabsdp", xsnabsdp),
        377 => ("xsnegdp", xsnegdp),
        473 => ("xvabsdp", xvabsdp),
        489 => ("xvnabsdp", xvnabsdp),
        505 => ("xvnegdp", xvnegdp),
        409 => ("xvabssp", xvabssp),
        425 => ("xvnabssp", xvnabssp),
        441 => ("xvnegsp", xvnegsp),
        _ => return super::fparith::lookup_xx2(i),
    })
}

// ---------------------------------------------------------------------------------------------
// Logical

macro_rules! logical {
    ($name:ident, |$a:ident, $b:ident| $e:expr) => {
        fn $name(cpu: &mut Cpu, i: Insn) -> Ex {
            cpu.check_vsx()?;
            let $a = cpu.vsr128(i.xa());
            let $b = cpu.vsr128(i.xb());
            cpu.set_vsr128(i.xt(), $e);
            Ok(())
        }
    };
}

logical!(xxland, |a, b| a & b);
logical!(xxlandc, |a, b| a & !b);
logical!(xxlor, |a, b| a | b);
logical!(xxlxor, |a, b| a ^ b);
logical!(xxlnor, |a, b| !(a | b));
logical!(xxlorc, |a, b| a | !b);
logical!(xxlnand, |a, b| !(a & b));
logical!(xxleqv, |a, b| !(a ^ b));

fn xxsel(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    let c = cpu.vsr128(i.xc());
    let v = cpu.vsr128(i.xa()) & !c | cpu.vsr128(i.xb()) & c;
    cpu.set_vsr128(i.xt(), v);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Permute

/// xxsldwi: the high quadword of XA || XB shifted left by SHW (bits 22:23) words.
fn xxsldwi(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    let sh = 32 * (i.0 >> 8 & 3);
    let a = cpu.vsr128(i.xa());
    let b = cpu.vsr128(i.xb());
    let v = if sh == 0 {
        a
    } else {
        a << sh | b >> (128 - sh)
    };
    cpu.set_vsr128(i.xt(), v);
    Ok(())
}

/// xxpermdi: DM bit 0 picks the doubleword of XA, DM bit 1 that of XB.
fn xxpermdi(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    let dm = i.0 >> 8 & 3;
    let a = cpu.vsr[i.xa()][(dm >> 1) as usize];
    let b = cpu.vsr[i.xb()][(dm & 1) as usize];
    cpu.vsr[i.xt()] = [a, b];
    Ok(())
}

fn xxmrghw(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    let a = words(cpu.vsr128(i.xa()));
    let b = words(cpu.vsr128(i.xb()));
    cpu.set_vsr128(i.xt(), from_words([a[0], b[0], a[1], b[1]]));
    Ok(())
}

fn xxmrglw(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    let a = words(cpu.vsr128(i.xa()));
    let b = words(cpu.vsr128(i.xb()));
    cpu.set_vsr128(i.xt(), from_words([a[2], b[2], a[3], b[3]]));
    Ok(())
}

/// xxspltw: UIM in bits 14:15.
fn xxspltw(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    let w = word(cpu.vsr128(i.xb()), (i.0 >> 16 & 3) as usize);
    cpu.set_vsr128(i.xt(), from_words([w; 4]));
    Ok(())
}

/// xxspltib: IMM8 in bits 13:20 replicated into every byte.
fn xxspltib(cpu: &mut Cpu, i: Insn) -> Ex {
    check_vsx_vec(cpu, i.xt())?;
    let b = (i.0 >> 11 & 0xff) as u128;
    cpu.set_vsr128(i.xt(), b * (u128::MAX / 0xff));
    Ok(())
}

/// xxperm/xxpermr: bytes of XA || XT selected by the low five bits of each byte of XB.
fn permute(cpu: &mut Cpu, i: Insn, reverse: bool) -> Ex {
    cpu.check_vsx()?;
    let mut src = [0u8; 32];
    src[..16].copy_from_slice(&cpu.vsr128(i.xa()).to_be_bytes());
    src[16..].copy_from_slice(&cpu.vsr128(i.xt()).to_be_bytes());
    let sel = cpu.vsr128(i.xb()).to_be_bytes();
    let mut out = [0u8; 16];
    for (o, s) in out.iter_mut().zip(sel) {
        let k = (s & 31) as usize;
        *o = src[if reverse { 31 - k } else { k }];
    }
    cpu.set_vsr128(i.xt(), u128::from_be_bytes(out));
    Ok(())
}

fn xxperm(cpu: &mut Cpu, i: Insn) -> Ex {
    permute(cpu, i, false)
}

fn xxpermr(cpu: &mut Cpu, i: Insn) -> Ex {
    permute(cpu, i, true)
}

/// xxextractuw: bytes UIM..UIM+3 of XB into word 1 of XT, the rest zero. UIM > 12 is undefined
/// in the ISA; bytes past the end of XB are taken as zero.
fn xxextractuw(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    let uim = (i.0 >> 16 & 15) as usize;
    let b = cpu.vsr128(i.xb()).to_be_bytes();
    let mut w = [0u8; 4];
    for (k, x) in w.iter_mut().enumerate() {
        *x = b.get(uim + k).copied().unwrap_or(0);
    }
    cpu.vsr[i.xt()] = [u32::from_be_bytes(w) as u64, 0];
    Ok(())
}

/// xxinsertw: word 1 of XB into bytes UIM..UIM+3 of XT, other bytes unchanged. For UIM > 12 (undefined)
/// only the bytes that fit are written.
fn xxinsertw(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    let uim = (i.0 >> 16 & 15) as usize;
    let w = word(cpu.vsr128(i.xb()), 1).to_be_bytes();
    let mut t = cpu.vsr128(i.xt()).to_be_bytes();
    for (k, x) in w.iter().enumerate() {
        if let Some(d) = t.get_mut(uim + k) {
            *d = *x;
        }
    }
    cpu.set_vsr128(i.xt(), u128::from_be_bytes(t));
    Ok(())
}

fn xxbrh(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    let v = cpu.vsr128(i.xb());
    let m = u128::MAX / 0xffff * 0xff; // 0x00ff in every halfword
    cpu.set_vsr128(i.xt(), (v & m) << 8 | (v >> 8) & m);
    Ok(())
}

fn xxbrw(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    let w = words(cpu.vsr128(i.xb())).map(u32::swap_bytes);
    cpu.set_vsr128(i.xt(), from_words(w));
    Ok(())
}

fn xxbrd(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    let [a, b] = cpu.vsr[i.xb()];
    cpu.vsr[i.xt()] = [a.swap_bytes(), b.swap_bytes()];
    Ok(())
}

fn xxbrq(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    let v = cpu.vsr128(i.xb());
    cpu.set_vsr128(i.xt(), v.swap_bytes());
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Sign manipulation

const DP_SIGN: u64 = 1 << 63;
const SP_SIGN2: u64 = 0x8000_0000_8000_0000;

macro_rules! scalar_sign {
    ($name:ident, |$b:ident| $e:expr) => {
        fn $name(cpu: &mut Cpu, i: Insn) -> Ex {
            cpu.check_vsx()?;
            let $b = cpu.vsr[i.xb()][0];
            cpu.vsr[i.xt()] = [$e, 0];
            Ok(())
        }
    };
}

scalar_sign!(xsabsdp, |b| b & !DP_SIGN);
scalar_sign!(xsnabsdp, |b| b | DP_SIGN);
scalar_sign!(xsnegdp, |b| b ^ DP_SIGN);

fn xscpsgndp(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    let v = cpu.vsr[i.xa()][0] & DP_SIGN | cpu.vsr[i.xb()][0] & !DP_SIGN;
    cpu.vsr[i.xt()] = [v, 0];
    Ok(())
}

macro_rules! vector_sign {
    ($name:ident, |$b:ident| $e:expr) => {
        fn $name(cpu: &mut Cpu, i: Insn) -> Ex {
            cpu.check_vsx()?;
            let v = cpu.vsr[i.xb()];
            cpu.vsr[i.xt()] = v.map(|$b| $e);
            Ok(())
        }
    };
}

vector_sign!(xvabsdp, |b| b & !DP_SIGN);
vector_sign!(xvnabsdp, |b| b | DP_SIGN);
vector_sign!(xvnegdp, |b| b ^ DP_SIGN);
vector_sign!(xvabssp, |b| b & !SP_SIGN2);
vector_sign!(xvnabssp, |b| b | SP_SIGN2);
vector_sign!(xvnegsp, |b| b ^ SP_SIGN2);

fn cpsgn(cpu: &mut Cpu, i: Insn, m: u64) -> Ex {
    cpu.check_vsx()?;
    let a = cpu.vsr[i.xa()];
    let b = cpu.vsr[i.xb()];
    cpu.vsr[i.xt()] = [a[0] & m | b[0] & !m, a[1] & m | b[1] & !m];
    Ok(())
}

fn xvcpsgndp(cpu: &mut Cpu, i: Insn) -> Ex {
    cpsgn(cpu, i, DP_SIGN)
}

fn xvcpsgnsp(cpu: &mut Cpu, i: Insn) -> Ex {
    cpsgn(cpu, i, SP_SIGN2)
}

// ---------------------------------------------------------------------------------------------
// Data class tests and exponent/significand fields

/// DCMX bits (ISA bit 0 is the 0x40 bit) of the data-class tests.
const DC_NAN: u32 = 0x40;
const DC_PINF: u32 = 0x20;
const DC_NINF: u32 = 0x10;
const DC_PZERO: u32 = 0x08;
const DC_NZERO: u32 = 0x04;
const DC_PDEN: u32 = 0x02;
const DC_NDEN: u32 = 0x01;

/// Whether a value of the given sign/biased exponent/fraction is in one of the DCMX classes.
/// `den` says whether the value counts as denormal (callers decide, for xststdcsp's sake).
#[inline(always)]
fn dc_match(dcmx: u32, sign: bool, exp_max: bool, zero_exp: bool, frac0: bool, den: bool) -> bool {
    let (p, n) = (!sign, sign);
    if exp_max {
        if frac0 {
            (p && dcmx & DC_PINF != 0) || (n && dcmx & DC_NINF != 0)
        } else {
            dcmx & DC_NAN != 0
        }
    } else if zero_exp && frac0 {
        (p && dcmx & DC_PZERO != 0) || (n && dcmx & DC_NZERO != 0)
    } else if den {
        (p && dcmx & DC_PDEN != 0) || (n && dcmx & DC_NDEN != 0)
    } else {
        false
    }
}

#[inline(always)]
fn dc_dp(x: u64, dcmx: u32) -> bool {
    let e = x >> 52 & 0x7ff;
    let f0 = x << 12 == 0;
    dc_match(dcmx, x >> 63 != 0, e == 0x7ff, e == 0, f0, e == 0 && !f0)
}

#[inline(always)]
fn dc_sp(x: u32, dcmx: u32) -> bool {
    let e = x >> 23 & 0xff;
    let f0 = x << 9 == 0;
    dc_match(dcmx, x >> 31 != 0, e == 0xff, e == 0, f0, e == 0 && !f0)
}

/// DCMX of xvtstdc*: dc (bit 25) || dm (bit 29) || dx (bits 11:15).
#[inline(always)]
fn xv_dcmx(i: Insn) -> u32 {
    (i.0 >> 6 & 1) << 6 | (i.0 >> 2 & 1) << 5 | (i.0 >> 16 & 31)
}

fn xvtstdcsp(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    let d = xv_dcmx(i);
    let w = words(cpu.vsr128(i.xb())).map(|x| if dc_sp(x, d) { u32::MAX } else { 0 });
    cpu.set_vsr128(i.xt(), from_words(w));
    Ok(())
}

fn xvtstdcdp(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    let d = xv_dcmx(i);
    let v = cpu.vsr[i.xb()].map(|x| if dc_dp(x, d) { u64::MAX } else { 0 });
    cpu.vsr[i.xt()] = v;
    Ok(())
}

/// Sets CR field BF and FPSCR[FPCC] to sign || 0 || match || so, as xststdc* do.
fn set_tstdc_cc(cpu: &mut Cpu, i: Insn, sign: bool, m: bool, so: bool) {
    let cc = (sign as u32) << 3 | (m as u32) << 1 | so as u32;
    cpu.set_crf(i.bf(), cc);
    cpu.fpscr = cpu.fpscr & !(0xf << 12) | (cc as u64) << 12;
}

/// xststdcdp: DCMX in bits 9:15.
fn xststdcdp(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    let x = cpu.vsr[i.xb()][0];
    let m = dc_dp(x, i.0 >> 16 & 0x7f);
    set_tstdc_cc(cpu, i, x >> 63 != 0, m, false);
    Ok(())
}

/// xststdcsp tests a double-format operand against the single-precision classes: exponents below
/// the single normal range count as denormal, and SO says the value is not exactly a single.
fn xststdcsp(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    let x = cpu.vsr[i.xb()][0];
    let e = x >> 52 & 0x7ff;
    let f0 = x << 12 == 0;
    let den = (e == 0 && !f0) || (e > 0 && e < 0x381);
    let m = dc_match(i.0 >> 16 & 0x7f, x >> 63 != 0, e == 0x7ff, e == 0, f0, den);
    let not_sp = super::sp_to_dp_bits(super::dp_to_sp_bits(x)) != x;
    set_tstdc_cc(cpu, i, x >> 63 != 0, m, not_sp);
    Ok(())
}

/// xsiexpdp XT,RA,RB: sign and fraction from RA, biased exponent from the low 11 bits of RB.
fn xsiexpdp(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    let a = cpu.gpr[i.ra()];
    let v = a & 0x800f_ffff_ffff_ffff | (cpu.gpr[i.rb()] & 0x7ff) << 52;
    cpu.vsr[i.xt()] = [v, 0];
    Ok(())
}

/// Significand with the implicit bit: 1 unless the exponent is 0 or all ones.
#[inline(always)]
fn sig_dp(x: u64) -> u64 {
    let e = x >> 52 & 0x7ff;
    let hidden = (e != 0 && e != 0x7ff) as u64;
    hidden << 52 | x & 0xf_ffff_ffff_ffff
}

#[inline(always)]
fn sig_sp(x: u32) -> u32 {
    let e = x >> 23 & 0xff;
    let hidden = (e != 0 && e != 0xff) as u32;
    hidden << 23 | x & 0x7f_ffff
}

fn xsxexpdp(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    cpu.gpr[i.rt()] = cpu.vsr[i.xb()][0] >> 52 & 0x7ff;
    Ok(())
}

fn xsxsigdp(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    cpu.gpr[i.rt()] = sig_dp(cpu.vsr[i.xb()][0]);
    Ok(())
}

fn xviexpdp(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    let a = cpu.vsr[i.xa()];
    let b = cpu.vsr[i.xb()];
    let f = |a: u64, b: u64| a & 0x800f_ffff_ffff_ffff | (b & 0x7ff) << 52;
    cpu.vsr[i.xt()] = [f(a[0], b[0]), f(a[1], b[1])];
    Ok(())
}

fn xviexpsp(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    let a = words(cpu.vsr128(i.xa()));
    let b = words(cpu.vsr128(i.xb()));
    let mut t = [0u32; 4];
    for k in 0..4 {
        t[k] = a[k] & 0x807f_ffff | (b[k] & 0xff) << 23;
    }
    cpu.set_vsr128(i.xt(), from_words(t));
    Ok(())
}

fn xvxexpdp(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    cpu.vsr[i.xt()] = cpu.vsr[i.xb()].map(|x| x >> 52 & 0x7ff);
    Ok(())
}

fn xvxsigdp(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    cpu.vsr[i.xt()] = cpu.vsr[i.xb()].map(sig_dp);
    Ok(())
}

fn xvxexpsp(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    let w = words(cpu.vsr128(i.xb())).map(|x| x >> 23 & 0xff);
    cpu.set_vsr128(i.xt(), from_words(w));
    Ok(())
}

fn xvxsigsp(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    let w = words(cpu.vsr128(i.xb())).map(sig_sp);
    cpu.set_vsr128(i.xt(), from_words(w));
    Ok(())
}
