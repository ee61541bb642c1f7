//! ISA 3.1 (POWER10) instructions that are not prefixed: byte-reverse and set-boolean GPR
//! instructions, bit deposit/extract/centrifuge, the VSX paired and rightmost-element loads and
//! stores, vector mask manipulation, string isolate, insert/extract by GPR index, double-vector
//! shifts, clear-bytes, high/long multiplies, divides and moduli, quadword compares, rotates and
//! shifts, xvtlsbb and lxvkq.
//!
//! Decode is only reached for words no older group claims, and `levels` tags everything decoded
//! here as ISA 3.1 (except cp_abort, an ISA 3.0 instruction without another home), so these are
//! illegal on earlier models. The prefixed instructions are in
//! `prefixed`. Not implemented (illegal): MMA, xxgenpcv*, vgnb, the BF16 and quad-precision 3.1
//! additions, hashst/hashchk.

use crate::cpu::{Cpu, Ex};
use crate::exec::Handler;
use crate::insn::{ea_d, ea_x, Insn};

/// Decodes the ISA 3.1 words of opcodes 4, 6, 31 and 60.
pub fn decode(i: Insn) -> Option<Handler> {
    match i.opcd() {
        4 => decode4(i),
        // DQ-form with the opcode extension in bits 28:31.
        6 => match i.0 & 0xf {
            0 => Some(lxvp),
            1 => Some(stxvp),
            _ => None,
        },
        31 => decode31(i),
        60 => decode60(i),
        _ => None,
    }
}

fn decode31(i: Insn) -> Option<Handler> {
    let rb0 = i.rb() == 0;
    let rc0 = !i.rc_bit();
    Some(match i.xo10() {
        219 if rb0 && rc0 => brh,
        155 if rb0 && rc0 => brw,
        187 if rb0 && rc0 => brd,
        384 if rb0 && rc0 => setbc,
        416 if rb0 && rc0 => setbcr,
        448 if rb0 && rc0 => setnbc,
        480 if rb0 && rc0 => setnbcr,
        156 if rc0 => pdepd,
        188 if rc0 => pextd,
        220 if rc0 => cfuged,
        59 if rc0 => cntlzdm,
        571 if rc0 => cnttzdm,
        13 => lxvrbx,
        45 => lxvrhx,
        77 => lxvrwx,
        109 => lxvrdx,
        141 => stxvrbx,
        173 => stxvrhx,
        205 => stxvrwx,
        237 => stxvrdx,
        333 if rc0 => lxvpx,
        461 if rc0 => stxvpx,
        // cp_abort (ISA 3.0, tagged so in `levels`): all of its fields but the opcode reserved.
        838 if i.0 & 0x03ff_f801 == 0 => cp_abort,
        _ => return None,
    })
}

fn decode4(i: Insn) -> Option<Handler> {
    let w = i.0;
    // VA-forms whose xo (bits 26:31) lacks the 0x20 bit the ISA 2.x VA-forms all have.
    match w & 0x3f {
        24 => return Some(vextdubvlx),
        25 => return Some(vextdubvrx),
        26 => return Some(vextduhvlx),
        27 => return Some(vextduhvrx),
        28 => return Some(vextduwvlx),
        29 => return Some(vextduwvrx),
        30 => return Some(vextddvlx),
        31 => return Some(vextddvrx),
        // VN-form: bits 21:22 select, SH in bits 23:25.
        22 => {
            return match w >> 9 & 3 {
                0 => Some(vsldbi),
                1 => Some(vsrdbi),
                _ => None,
            }
        }
        _ => {}
    }
    // DX-form mtvsrbmi: xo in bits 26:30, the immediate in bits 16:25, 11:15 and 31.
    if w >> 1 & 31 == 10 {
        return Some(mtvsrbmi);
    }
    let sel = i.ra() as u32;
    Some(match i.xo11() {
        1602 => match sel {
            0 => vexpandbm,
            1 => vexpandhm,
            2 => vexpandwm,
            3 => vexpanddm,
            4 => vexpandqm,
            8 => vextractbm,
            9 => vextracthm,
            10 => vextractwm,
            11 => vextractdm,
            12 => vextractqm,
            16 => mtvsrbm,
            17 => mtvsrhm,
            18 => mtvsrwm,
            19 => mtvsrdm,
            20 => mtvsrqm,
            24 | 25 => vcntmbb,
            26 | 27 => vcntmbh,
            28 | 29 => vcntmbw,
            30 | 31 => vcntmbd,
            _ => return None,
        },
        1538 if sel == 27 => vextsd2q,
        // vstri*: VRA selects, bit 21 is Rc.
        13 | 1037 => match sel {
            0 => vstribl,
            1 => vstribr,
            2 => vstrihl,
            3 => vstrihr,
            _ => return None,
        },
        527 => vinsblx,
        783 => vinsbrx,
        591 => vinshlx,
        847 => vinshrx,
        655 => vinswlx,
        911 => vinswrx,
        719 => vinsdlx,
        975 => vinsdrx,
        15 => vinsbvlx,
        271 => vinsbvrx,
        79 => vinshvlx,
        335 => vinshvrx,
        143 => vinswvlx,
        399 => vinswvrx,
        // UIM is bits 12:15; bit 11 is reserved.
        207 if sel < 16 => vinsw,
        463 if sel < 16 => vinsd,
        397 => vclrlb,
        461 => vclrrb,
        1485 => vpdepd,
        1421 => vpextd,
        1357 => vcfuged,
        1924 => vclzdm,
        1988 => vctzdm,
        905 => vmulhsw,
        649 => vmulhuw,
        969 => vmulhsd,
        713 => vmulhud,
        457 => vmulld,
        968 => vmulesd,
        712 => vmuleud,
        456 => vmulosd,
        200 => vmuloud,
        395 => vdivsw,
        139 => vdivuw,
        459 => vdivsd,
        203 => vdivud,
        267 => vdivsq,
        11 => vdivuq,
        907 => vdivesw,
        651 => vdiveuw,
        971 => vdivesd,
        715 => vdiveud,
        779 => vdivesq,
        523 => vdiveuq,
        1931 => vmodsw,
        1675 => vmoduw,
        1995 => vmodsd,
        1739 => vmodud,
        1803 => vmodsq,
        1547 => vmoduq,
        455 | 1479 => vcmpequq,
        903 | 1927 => vcmpgtsq,
        647 | 1671 => vcmpgtuq,
        // BF in bits 6:8; bits 9:10 reserved.
        321 if i.rt() & 3 == 0 => vcmpsq,
        257 if i.rt() & 3 == 0 => vcmpuq,
        5 => vrlq,
        69 => vrlqmi,
        325 => vrlqnm,
        261 => vslq,
        517 => vsrq,
        773 => vsraq,
        _ => return None,
    })
}

fn decode60(i: Insn) -> Option<Handler> {
    let w = i.0;
    // xvtlsbb: XX2 xo 475 with sub-opcode 2 in bits 11:15; BF in bits 6:8, bits 9:10 and 31
    // reserved.
    if w >> 2 & 0x1ff == 475 && i.ra() == 2 && w & (3 << 21 | 1) == 0 {
        return Some(xvtlsbb);
    }
    // lxvkq: X-form xo 360 with bits 11:15 = 31, UIM in bits 16:20 (only the defined values).
    if i.xo10() == 360 && i.ra() == 31 && lxvkq_value(i.rb() as u32).is_some() {
        return Some(lxvkq);
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Fixed point

fn brh(cpu: &mut Cpu, i: Insn) -> Ex {
    let v = cpu.gpr[i.rt()];
    const M: u64 = 0x00ff_00ff_00ff_00ff;
    cpu.gpr[i.ra()] = (v & M) << 8 | (v >> 8) & M;
    Ok(())
}

fn brw(cpu: &mut Cpu, i: Insn) -> Ex {
    let v = cpu.gpr[i.rt()];
    cpu.gpr[i.ra()] =
        (((v >> 32) as u32).swap_bytes() as u64) << 32 | (v as u32).swap_bytes() as u64;
    Ok(())
}

fn brd(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.gpr[i.ra()] = cpu.gpr[i.rt()].swap_bytes();
    Ok(())
}

/// CR bit BI (bits 11:15).
#[inline(always)]
fn bi(cpu: &Cpu, i: Insn) -> bool {
    cpu.crbit(i.ra())
}

fn setbc(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.gpr[i.rt()] = bi(cpu, i) as u64;
    Ok(())
}

fn setbcr(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.gpr[i.rt()] = !bi(cpu, i) as u64;
    Ok(())
}

fn setnbc(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.gpr[i.rt()] = (bi(cpu, i) as u64).wrapping_neg();
    Ok(())
}

fn setnbcr(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.gpr[i.rt()] = (!bi(cpu, i) as u64).wrapping_neg();
    Ok(())
}

/// Parallel bits deposit: the low-order bits of `v` go, in order, to the 1 positions of `mask`
/// (from the least significant up).
pub(crate) fn pdep(v: u64, mask: u64) -> u64 {
    let (mut r, mut m, mut k) = (0u64, mask, 0);
    while m != 0 {
        let bit = m & m.wrapping_neg();
        if v >> k & 1 != 0 {
            r |= bit;
        }
        k += 1;
        m &= m - 1;
    }
    r
}

/// Parallel bits extract: the bits of `v` at the 1 positions of `mask`, packed at the low end.
pub(crate) fn pext(v: u64, mask: u64) -> u64 {
    let (mut r, mut m, mut k) = (0u64, mask, 0);
    while m != 0 {
        let bit = m & m.wrapping_neg();
        if v & bit != 0 {
            r |= 1 << k;
        }
        k += 1;
        m &= m - 1;
    }
    r
}

/// Centrifuge: bits of `v` under 1s of `mask` to the right end, those under 0s to the left, each
/// group in its original order.
fn cfuge(v: u64, mask: u64) -> u64 {
    let ones = mask.count_ones();
    let right = pext(v, mask);
    let left = pext(v, !mask).checked_shl(ones).unwrap_or(0);
    left | right
}

/// Leading zeros among the bits of `v` selected by `mask` (counted from the most significant
/// selected bit).
fn clzm(v: u64, mask: u64) -> u64 {
    let n = mask.count_ones();
    let x = pext(v, mask);
    (x.leading_zeros() - (64 - n)) as u64
}

/// Trailing zeros among the bits of `v` selected by `mask`.
fn ctzm(v: u64, mask: u64) -> u64 {
    let n = mask.count_ones();
    pext(v, mask).trailing_zeros().min(n) as u64
}

fn pdepd(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.gpr[i.ra()] = pdep(cpu.gpr[i.rt()], cpu.gpr[i.rb()]);
    Ok(())
}

fn pextd(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.gpr[i.ra()] = pext(cpu.gpr[i.rt()], cpu.gpr[i.rb()]);
    Ok(())
}

fn cfuged(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.gpr[i.ra()] = cfuge(cpu.gpr[i.rt()], cpu.gpr[i.rb()]);
    Ok(())
}

fn cntlzdm(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.gpr[i.ra()] = clzm(cpu.gpr[i.rt()], cpu.gpr[i.rb()]);
    Ok(())
}

fn cnttzdm(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.gpr[i.ra()] = ctzm(cpu.gpr[i.rt()], cpu.gpr[i.rb()]);
    Ok(())
}

/// cp_abort: ends a copy-paste sequence. Copy and paste are not implemented (illegal), so no
/// copy buffer ever holds data and there is nothing to discard; POWER10 Linux issues it on every
/// context switch.
fn cp_abort(_cpu: &mut Cpu, _i: Insn) -> Ex {
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// VSX loads and stores

/// VSX registers 0..31 need MSR[VSX], 32..63 (the VRs) MSR[VEC], as for the ISA 3.0 VSX
/// vector loads.
#[inline(always)]
fn check_vsx_vec(cpu: &Cpu, r: usize) -> Ex {
    if r < 32 {
        cpu.check_vsx()
    } else {
        cpu.check_vec()
    }
}

/// XTp of the paired forms: Tp in bits 6:9, TX in bit 10; the pair is XTp, XTp+1.
#[inline(always)]
pub(crate) fn xtp(i: Insn) -> usize {
    (i.rt() & 1) << 5 | (i.rt() & 0x1e)
}

/// Loads 32 bytes at `ea` into the pair `xt`, `xt`+1 (`xt` even, so `xt`+1 <= 63). In
/// big-endian mode `xt` gets the first 16 bytes; in little-endian mode the 32 bytes are one
/// little-endian value whose high half goes to `xt`, so `xt`+1 gets the first 16 bytes reversed.
pub(crate) fn load_pair(cpu: &mut Cpu, xt: usize, ea: u64) -> Ex {
    check_vsx_vec(cpu, xt)?;
    let a = cpu.ld_bytes16(ea)?;
    let b = cpu.ld_bytes16(cpu.ea(ea.wrapping_add(16)))?;
    let (hi, lo) = if cpu.le {
        (u128::from_le_bytes(b), u128::from_le_bytes(a))
    } else {
        (u128::from_be_bytes(a), u128::from_be_bytes(b))
    };
    cpu.set_vsr128(xt & 62, hi);
    cpu.set_vsr128((xt & 62) + 1, lo);
    Ok(())
}

/// Stores the pair `xt`, `xt`+1 as `load_pair` loads it.
pub(crate) fn store_pair(cpu: &mut Cpu, xt: usize, ea: u64) -> Ex {
    check_vsx_vec(cpu, xt)?;
    let (hi, lo) = (cpu.vsr128(xt & 62), cpu.vsr128((xt & 62) + 1));
    let (a, b) = if cpu.le {
        (lo.to_le_bytes(), hi.to_le_bytes())
    } else {
        (hi.to_be_bytes(), lo.to_be_bytes())
    };
    cpu.st_bytes16(ea, a)?;
    let ea2 = cpu.ea(ea.wrapping_add(16));
    cpu.st_bytes16(ea2, b)
}

fn lxvp(cpu: &mut Cpu, i: Insn) -> Ex {
    load_pair(cpu, xtp(i), ea_d(cpu, i, i.dq()))
}

fn stxvp(cpu: &mut Cpu, i: Insn) -> Ex {
    store_pair(cpu, xtp(i), ea_d(cpu, i, i.dq()))
}

fn lxvpx(cpu: &mut Cpu, i: Insn) -> Ex {
    load_pair(cpu, xtp(i), ea_x(cpu, i))
}

fn stxvpx(cpu: &mut Cpu, i: Insn) -> Ex {
    store_pair(cpu, xtp(i), ea_x(cpu, i))
}

/// lxvr[bhwd]x: one element in the current byte order, zero-extended into the whole VSR.
fn lxvr<const N: usize>(cpu: &mut Cpu, i: Insn) -> Ex {
    check_vsx_vec(cpu, i.xt())?;
    let ea = ea_x(cpu, i);
    let v = match N {
        1 => cpu.ld_u8(ea)? as u64,
        2 => cpu.ld_u16(ea)? as u64,
        4 => cpu.ld_u32(ea)? as u64,
        _ => cpu.ld_u64(ea)?,
    };
    cpu.set_vsr128(i.xt(), v as u128);
    Ok(())
}

/// stxvr[bhwd]x: the rightmost element of the VSR.
fn stxvr<const N: usize>(cpu: &mut Cpu, i: Insn) -> Ex {
    check_vsx_vec(cpu, i.xt())?;
    let ea = ea_x(cpu, i);
    let v = cpu.vsr[i.xt()][1];
    match N {
        1 => cpu.st_u8(ea, v as u8),
        2 => cpu.st_u16(ea, v as u16),
        4 => cpu.st_u32(ea, v as u32),
        _ => cpu.st_u64(ea, v),
    }
}

fn lxvrbx(cpu: &mut Cpu, i: Insn) -> Ex {
    lxvr::<1>(cpu, i)
}
fn lxvrhx(cpu: &mut Cpu, i: Insn) -> Ex {
    lxvr::<2>(cpu, i)
}
fn lxvrwx(cpu: &mut Cpu, i: Insn) -> Ex {
    lxvr::<4>(cpu, i)
}
fn lxvrdx(cpu: &mut Cpu, i: Insn) -> Ex {
    lxvr::<8>(cpu, i)
}
fn stxvrbx(cpu: &mut Cpu, i: Insn) -> Ex {
    stxvr::<1>(cpu, i)
}
fn stxvrhx(cpu: &mut Cpu, i: Insn) -> Ex {
    stxvr::<2>(cpu, i)
}
fn stxvrwx(cpu: &mut Cpu, i: Insn) -> Ex {
    stxvr::<4>(cpu, i)
}
fn stxvrdx(cpu: &mut Cpu, i: Insn) -> Ex {
    stxvr::<8>(cpu, i)
}

// ---------------------------------------------------------------------------------------------
// VSX

/// xvtlsbb: CR[BF] = all-true || 0 || all-false || 0 over the least significant bit of each byte.
fn xvtlsbb(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    let lsbs = cpu.vsr128(i.xb()) & 0x0101_0101_0101_0101_0101_0101_0101_0101;
    let all_true = lsbs == 0x0101_0101_0101_0101_0101_0101_0101_0101;
    let all_false = lsbs == 0;
    cpu.set_crf(i.bf(), (all_true as u32) << 3 | (all_false as u32) << 1);
    Ok(())
}

/// High doubleword of the quad-precision constant lxvkq loads for `uim` (the low doubleword is
/// zero): +1.0 .. +7.0, +Inf, the default QNaN, and their negatives from 16 (-0.0 at 16).
fn lxvkq_value(uim: u32) -> Option<u64> {
    let sign = if uim >= 16 { 1u64 << 63 } else { 0 };
    let magnitude = match uim & 15 {
        0 => 0,
        k @ 1..=7 => {
            // k = 1.f * 2^e: exponent bias 16383, 48 fraction bits in the high doubleword.
            let e = 31 - k.leading_zeros();
            let frac = ((k as u64) << (48 - e)) & ((1 << 48) - 1);
            (16383 + e as u64) << 48 | frac
        }
        8 => 0x7fff << 48,
        9 => 0xffff << 47,
        _ => return None,
    };
    match uim {
        1..=9 | 16..=25 => Some(sign | magnitude),
        _ => None,
    }
}

fn lxvkq(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    // Decode admits only the defined values.
    let hi = lxvkq_value(i.rb() as u32).unwrap_or(0);
    cpu.vsr[i.xt()] = [hi, 0];
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Vector: mask manipulation

/// Element `k` (0 = leftmost) of `bits`-bit elements of `v`.
#[inline(always)]
fn elem(v: u128, bits: u32, k: u32) -> u128 {
    let m = if bits == 128 { !0 } else { (1u128 << bits) - 1 };
    v >> (128 - bits * (k + 1)) & m
}

/// `v` with element `k` of `bits`-bit elements replaced by `x`.
#[inline(always)]
fn set_elem(v: u128, bits: u32, k: u32, x: u128) -> u128 {
    let m = if bits == 128 { !0 } else { (1u128 << bits) - 1 };
    let sh = 128 - bits * (k + 1);
    v & !(m << sh) | (x & m) << sh
}

/// The most significant bit of each `bits`-bit element, element 0 first (most significant).
fn msb_mask(v: u128, bits: u32) -> u64 {
    let n = 128 / bits;
    (0..n).fold(0, |r, k| r << 1 | (elem(v, bits, k) >> (bits - 1)) as u64)
}

/// A vector of `bits`-bit elements, all ones where the corresponding bit of the `128/bits`-bit
/// mask `m` is set (the mask's most significant bit is element 0).
fn expand_mask(m: u64, bits: u32) -> u128 {
    let n = 128 / bits;
    (0..n).fold(0, |v, k| {
        let on = m >> (n - 1 - k) & 1 != 0;
        set_elem(v, bits, k, if on { !0 } else { 0 })
    })
}

fn vextractm(cpu: &mut Cpu, i: Insn, bits: u32) -> Ex {
    cpu.check_vec()?;
    cpu.gpr[i.rt()] = msb_mask(cpu.vr(i.rb()), bits);
    Ok(())
}

fn vexpandm(cpu: &mut Cpu, i: Insn, bits: u32) -> Ex {
    cpu.check_vec()?;
    let m = msb_mask(cpu.vr(i.rb()), bits);
    cpu.set_vr(i.rt(), expand_mask(m, bits));
    Ok(())
}

fn mtvsrm(cpu: &mut Cpu, i: Insn, bits: u32) -> Ex {
    cpu.check_vec()?;
    let m = cpu.gpr[i.rb()];
    cpu.set_vr(i.rt(), expand_mask(m, bits));
    Ok(())
}

/// vcntmb[bhwd]: the number of elements whose most significant bit equals MP (bit 15), in the
/// leftmost bits of RT (bits 0:7 for bytes, 0:6 halfwords, 0:5 words, 0:4 doublewords).
fn vcntmb(cpu: &mut Cpu, i: Insn, bits: u32) -> Ex {
    cpu.check_vec()?;
    let m = msb_mask(cpu.vr(i.rb()), bits);
    let n = 128 / bits;
    let ones = m.count_ones() as u64;
    let cnt = if i.ra() & 1 != 0 {
        ones
    } else {
        n as u64 - ones
    };
    cpu.gpr[i.rt()] = cnt << (56 + bits.trailing_zeros() - 3);
    Ok(())
}

macro_rules! sized {
    ($($name:ident => $f:ident($bits:expr);)*) => {
        $(fn $name(cpu: &mut Cpu, i: Insn) -> Ex {
            $f(cpu, i, $bits)
        })*
    };
}

sized! {
    vextractbm => vextractm(8);
    vextracthm => vextractm(16);
    vextractwm => vextractm(32);
    vextractdm => vextractm(64);
    vextractqm => vextractm(128);
    vexpandbm => vexpandm(8);
    vexpandhm => vexpandm(16);
    vexpandwm => vexpandm(32);
    vexpanddm => vexpandm(64);
    vexpandqm => vexpandm(128);
    mtvsrbm => mtvsrm(8);
    mtvsrhm => mtvsrm(16);
    mtvsrwm => mtvsrm(32);
    mtvsrdm => mtvsrm(64);
    mtvsrqm => mtvsrm(128);
    vcntmbb => vcntmb(8);
    vcntmbh => vcntmb(16);
    vcntmbw => vcntmb(32);
    vcntmbd => vcntmb(64);
}

/// mtvsrbmi: the 16-bit mask b0 (bits 16:25) || b1 (bits 11:15) || b2 (bit 31), one bit a byte.
fn mtvsrbmi(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let w = i.0 as u64;
    let m = (w >> 6 & 0x3ff) << 6 | (w >> 16 & 31) << 1 | w & 1;
    cpu.set_vr(i.rt(), expand_mask(m, 8));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Vector: string isolate

/// vstri[bh][lr]: elements are copied from the left (or right) end up to the first zero
/// element, which and all beyond it become zero. The record form sets CR6 to 0b0010 when a zero
/// element was found, else 0.
fn vstri(cpu: &mut Cpu, i: Insn, bits: u32, left: bool) -> Ex {
    cpu.check_vec()?;
    let v = cpu.vr(i.rb());
    let n = 128 / bits;
    let mut r = 0u128;
    let mut found = false;
    for j in 0..n {
        let k = if left { j } else { n - 1 - j };
        let e = elem(v, bits, k);
        if e == 0 {
            found = true;
            break;
        }
        r = set_elem(r, bits, k, e);
    }
    cpu.set_vr(i.rt(), r);
    // Rc is bit 21.
    if i.0 & 0x400 != 0 {
        cpu.set_crf(6, (found as u32) << 1);
    }
    Ok(())
}

fn vstribl(cpu: &mut Cpu, i: Insn) -> Ex {
    vstri(cpu, i, 8, true)
}
fn vstribr(cpu: &mut Cpu, i: Insn) -> Ex {
    vstri(cpu, i, 8, false)
}
fn vstrihl(cpu: &mut Cpu, i: Insn) -> Ex {
    vstri(cpu, i, 16, true)
}
fn vstrihr(cpu: &mut Cpu, i: Insn) -> Ex {
    vstri(cpu, i, 16, false)
}

// ---------------------------------------------------------------------------------------------
// Vector: extract and insert by index

/// vextdu[bhw]v[lr]x / vextddv[lr]x: `n` bytes of VRA || VRB starting at byte index RC[59:63]
/// from the left (or ending that many bytes from the right), zero-extended into doubleword 0 of
/// VRT; doubleword 1 is zero. An index running past the 32 bytes is undefined in the ISA: the
/// result is then zero.
fn vextdv(cpu: &mut Cpu, i: Insn, n: usize, left: bool) -> Ex {
    cpu.check_vec()?;
    let mut src = [0u8; 32];
    src[..16].copy_from_slice(&cpu.vr(i.ra()).to_be_bytes());
    src[16..].copy_from_slice(&cpu.vr(i.rb()).to_be_bytes());
    let idx = (cpu.gpr[i.rc()] & 31) as usize;
    let start = if left {
        Some(idx)
    } else {
        (32 - n).checked_sub(idx)
    };
    let v = match start.and_then(|s| src.get(s..s + n)) {
        Some(b) => b.iter().fold(0u64, |a, &x| a << 8 | x as u64),
        None => 0,
    };
    cpu.set_vr(i.rt(), (v as u128) << 64);
    Ok(())
}

/// Replaces the `n` bytes of VRT starting at byte `start` (0 = leftmost) with the low `n` bytes
/// of `x`. Out-of-range positions are undefined in the ISA: VRT is then left unchanged.
fn insert_bytes(cpu: &mut Cpu, vrt: usize, start: Option<usize>, n: usize, x: u64) {
    let Some(s) = start.filter(|&s| s + n <= 16) else {
        return;
    };
    let bits = (n * 8) as u32;
    let sh = 128 - 8 * (s + n) as u32;
    let m = if bits == 64 {
        u64::MAX
    } else {
        (1 << bits) - 1
    };
    let v = cpu.vr(vrt) & !((m as u128) << sh) | ((x & m) as u128) << sh;
    cpu.set_vr(vrt, v);
}

/// The element position of vins*[lr]x: index RA[60:63] from the left, or from the right end.
#[inline(always)]
fn ins_index(cpu: &Cpu, i: Insn, n: usize, left: bool) -> Option<usize> {
    let idx = (cpu.gpr[i.ra()] & 15) as usize;
    if left {
        Some(idx)
    } else {
        (16 - n).checked_sub(idx)
    }
}

/// vins[bhwd][lr]x: the low element of GPR RB inserted at the GPR-specified index.
fn vinsx(cpu: &mut Cpu, i: Insn, n: usize, left: bool) -> Ex {
    cpu.check_vec()?;
    let at = ins_index(cpu, i, n, left);
    let x = cpu.gpr[i.rb()];
    insert_bytes(cpu, i.rt(), at, n, x);
    Ok(())
}

/// vins[bhw]v[lr]x: the element of VRB's doubleword 0 at its right end (byte 7, halfword 3,
/// word 1) inserted at the GPR-specified index.
fn vinsvx(cpu: &mut Cpu, i: Insn, n: usize, left: bool) -> Ex {
    cpu.check_vec()?;
    let at = ins_index(cpu, i, n, left);
    let x = cpu.vsr[32 + i.rb()][0];
    insert_bytes(cpu, i.rt(), at, n, x);
    Ok(())
}

macro_rules! sized_lr {
    ($($name:ident => $f:ident($n:expr, $l:expr);)*) => {
        $(fn $name(cpu: &mut Cpu, i: Insn) -> Ex {
            $f(cpu, i, $n, $l)
        })*
    };
}
sized_lr! {
    vinsblx => vinsx(1, true);
    vinsbrx => vinsx(1, false);
    vinshlx => vinsx(2, true);
    vinshrx => vinsx(2, false);
    vinswlx => vinsx(4, true);
    vinswrx => vinsx(4, false);
    vinsdlx => vinsx(8, true);
    vinsdrx => vinsx(8, false);
    vinsbvlx => vinsvx(1, true);
    vinsbvrx => vinsvx(1, false);
    vinshvlx => vinsvx(2, true);
    vinshvrx => vinsvx(2, false);
    vinswvlx => vinsvx(4, true);
    vinswvrx => vinsvx(4, false);
    vextdubvlx => vextdv(1, true);
    vextdubvrx => vextdv(1, false);
    vextduhvlx => vextdv(2, true);
    vextduhvrx => vextdv(2, false);
    vextduwvlx => vextdv(4, true);
    vextduwvrx => vextdv(4, false);
    vextddvlx => vextdv(8, true);
    vextddvrx => vextdv(8, false);
}

/// vinsw/vinsd: the low word (doubleword) of RB at byte UIM (bits 12:15).
fn vinsw(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let x = cpu.gpr[i.rb()];
    insert_bytes(cpu, i.rt(), Some(i.ra() & 15), 4, x);
    Ok(())
}

fn vinsd(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let x = cpu.gpr[i.rb()];
    insert_bytes(cpu, i.rt(), Some(i.ra() & 15), 8, x);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Vector: shifts, clears, bit manipulation by doubleword

/// SH of vsldbi/vsrdbi (bits 23:25).
#[inline(always)]
fn sh3(i: Insn) -> u32 {
    i.0 >> 6 & 7
}

/// vsldbi: the high 128 bits of (VRA || VRB) shifted left by SH bits.
fn vsldbi(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let (a, b, sh) = (cpu.vr(i.ra()), cpu.vr(i.rb()), sh3(i));
    let r = if sh == 0 {
        a
    } else {
        a << sh | b >> (128 - sh)
    };
    cpu.set_vr(i.rt(), r);
    Ok(())
}

/// vsrdbi: the low 128 bits of (VRA || VRB) shifted right by SH bits.
fn vsrdbi(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let (a, b, sh) = (cpu.vr(i.ra()), cpu.vr(i.rb()), sh3(i));
    let r = if sh == 0 {
        b
    } else {
        b >> sh | a << (128 - sh)
    };
    cpu.set_vr(i.rt(), r);
    Ok(())
}

/// vclrlb: keeps the rightmost N = GPR[RB] bytes of VRA, clearing the others (all kept if
/// N >= 16).
fn vclrlb(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let n = cpu.gpr[i.rb()];
    let a = cpu.vr(i.ra());
    let r = if n >= 16 {
        a
    } else {
        a & ((1u128 << (8 * n)) - 1)
    };
    cpu.set_vr(i.rt(), r);
    Ok(())
}

/// vclrrb: keeps the leftmost N = GPR[RB] bytes of VRA, clearing the others.
fn vclrrb(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let n = cpu.gpr[i.rb()];
    let a = cpu.vr(i.ra());
    let r = match n {
        0 => 0,
        1..=15 => a & !((1u128 << (128 - 8 * n)) - 1),
        _ => a,
    };
    cpu.set_vr(i.rt(), r);
    Ok(())
}

/// Applies `f` to each doubleword pair of VRA and VRB.
#[inline(always)]
fn dwords(cpu: &mut Cpu, i: Insn, f: fn(u64, u64) -> u64) -> Ex {
    cpu.check_vec()?;
    let (a, b) = (cpu.vsr[32 + i.ra()], cpu.vsr[32 + i.rb()]);
    cpu.vsr[32 + i.rt()] = [f(a[0], b[0]), f(a[1], b[1])];
    Ok(())
}

fn vpdepd(cpu: &mut Cpu, i: Insn) -> Ex {
    dwords(cpu, i, pdep)
}
fn vpextd(cpu: &mut Cpu, i: Insn) -> Ex {
    dwords(cpu, i, pext)
}
fn vcfuged(cpu: &mut Cpu, i: Insn) -> Ex {
    dwords(cpu, i, cfuge)
}
fn vclzdm(cpu: &mut Cpu, i: Insn) -> Ex {
    dwords(cpu, i, clzm)
}
fn vctzdm(cpu: &mut Cpu, i: Insn) -> Ex {
    dwords(cpu, i, ctzm)
}

// ---------------------------------------------------------------------------------------------
// Vector: multiply, divide, modulo

/// Applies `f` to each word pair of VRA and VRB.
#[inline(always)]
fn words(cpu: &mut Cpu, i: Insn, f: fn(u32, u32) -> u32) -> Ex {
    cpu.check_vec()?;
    let (a, b) = (cpu.vr(i.ra()), cpu.vr(i.rb()));
    let mut r = 0u128;
    for k in 0..4 {
        let x = f(elem(a, 32, k) as u32, elem(b, 32, k) as u32);
        r = set_elem(r, 32, k, x as u128);
    }
    cpu.set_vr(i.rt(), r);
    Ok(())
}

/// Applies `f` to the quadwords of VRA and VRB.
#[inline(always)]
fn quad(cpu: &mut Cpu, i: Insn, f: fn(u128, u128) -> u128) -> Ex {
    cpu.check_vec()?;
    let r = f(cpu.vr(i.ra()), cpu.vr(i.rb()));
    cpu.set_vr(i.rt(), r);
    Ok(())
}

fn vmulhsw(cpu: &mut Cpu, i: Insn) -> Ex {
    words(cpu, i, |a, b| {
        ((a as i32 as i64 * b as i32 as i64) >> 32) as u32
    })
}
fn vmulhuw(cpu: &mut Cpu, i: Insn) -> Ex {
    words(cpu, i, |a, b| ((a as u64 * b as u64) >> 32) as u32)
}
fn vmulhsd(cpu: &mut Cpu, i: Insn) -> Ex {
    dwords(cpu, i, |a, b| {
        ((a as i64 as i128 * b as i64 as i128) >> 64) as u64
    })
}
fn vmulhud(cpu: &mut Cpu, i: Insn) -> Ex {
    dwords(cpu, i, |a, b| ((a as u128 * b as u128) >> 64) as u64)
}
fn vmulld(cpu: &mut Cpu, i: Insn) -> Ex {
    dwords(cpu, i, u64::wrapping_mul)
}

/// vmul[eo][su]d: the full 128-bit product of doubleword element `k` of VRA and VRB.
fn vmul_dq(cpu: &mut Cpu, i: Insn, k: usize, signed: bool) -> Ex {
    cpu.check_vec()?;
    let (a, b) = (cpu.vsr[32 + i.ra()][k], cpu.vsr[32 + i.rb()][k]);
    let p = if signed {
        (a as i64 as i128).wrapping_mul(b as i64 as i128) as u128
    } else {
        a as u128 * b as u128
    };
    cpu.set_vr(i.rt(), p);
    Ok(())
}

fn vmulesd(cpu: &mut Cpu, i: Insn) -> Ex {
    vmul_dq(cpu, i, 0, true)
}
fn vmuleud(cpu: &mut Cpu, i: Insn) -> Ex {
    vmul_dq(cpu, i, 0, false)
}
fn vmulosd(cpu: &mut Cpu, i: Insn) -> Ex {
    vmul_dq(cpu, i, 1, true)
}
fn vmuloud(cpu: &mut Cpu, i: Insn) -> Ex {
    vmul_dq(cpu, i, 1, false)
}

// Divides: the ISA leaves division by zero, the most negative value divided by -1 and extended
// quotients that do not fit undefined; these give the (wrapped) truncated quotient, or 0 for a
// zero divisor. Moduli of those cases give 0.

fn vdivsw(cpu: &mut Cpu, i: Insn) -> Ex {
    words(cpu, i, |a, b| {
        (a as i32)
            .checked_div(b as i32)
            .unwrap_or(if b == 0 { 0 } else { a as i32 }) as u32
    })
}
fn vdivuw(cpu: &mut Cpu, i: Insn) -> Ex {
    words(cpu, i, |a, b| a.checked_div(b).unwrap_or(0))
}
fn vdivsd(cpu: &mut Cpu, i: Insn) -> Ex {
    dwords(cpu, i, |a, b| {
        (a as i64)
            .checked_div(b as i64)
            .unwrap_or(if b == 0 { 0 } else { a as i64 }) as u64
    })
}
fn vdivud(cpu: &mut Cpu, i: Insn) -> Ex {
    dwords(cpu, i, |a, b| a.checked_div(b).unwrap_or(0))
}
fn vdivsq(cpu: &mut Cpu, i: Insn) -> Ex {
    quad(cpu, i, |a, b| {
        (a as i128)
            .checked_div(b as i128)
            .unwrap_or(if b == 0 { 0 } else { a as i128 }) as u128
    })
}
fn vdivuq(cpu: &mut Cpu, i: Insn) -> Ex {
    quad(cpu, i, |a, b| a.checked_div(b).unwrap_or(0))
}
fn vdivesw(cpu: &mut Cpu, i: Insn) -> Ex {
    words(cpu, i, |a, b| {
        ((a as i32 as i64) << 32)
            .checked_div(b as i32 as i64)
            .unwrap_or(0) as u32
    })
}
fn vdiveuw(cpu: &mut Cpu, i: Insn) -> Ex {
    words(cpu, i, |a, b| {
        ((a as u64) << 32).checked_div(b as u64).unwrap_or(0) as u32
    })
}
fn vdivesd(cpu: &mut Cpu, i: Insn) -> Ex {
    dwords(cpu, i, |a, b| {
        ((a as i64 as i128) << 64)
            .checked_div(b as i64 as i128)
            .unwrap_or(0) as u64
    })
}
fn vdiveud(cpu: &mut Cpu, i: Insn) -> Ex {
    dwords(cpu, i, |a, b| {
        ((a as u128) << 64).checked_div(b as u128).unwrap_or(0) as u64
    })
}
fn vdivesq(cpu: &mut Cpu, i: Insn) -> Ex {
    quad(cpu, i, |a, b| {
        let (na, nb) = ((a as i128) < 0, (b as i128) < 0);
        let q = div256((a as i128).unsigned_abs(), (b as i128).unsigned_abs());
        if na != nb {
            q.wrapping_neg()
        } else {
            q
        }
    })
}
fn vdiveuq(cpu: &mut Cpu, i: Insn) -> Ex {
    quad(cpu, i, div256)
}

/// The low 128 bits of (`a` * 2^128) / `b`, by restoring long division (0 for `b` = 0).
fn div256(a: u128, b: u128) -> u128 {
    if b == 0 {
        return 0;
    }
    // Dividend a:0 (256 bits); the remainder stays below b, so it fits 128 bits plus a carry.
    let (mut rem, mut q) = (0u128, 0u128);
    let mut hi = a;
    for _ in 0..256 {
        let carry = rem >> 127 != 0;
        rem = rem << 1 | hi >> 127;
        hi <<= 1;
        q <<= 1;
        if carry || rem >= b {
            rem = rem.wrapping_sub(b);
            q |= 1;
        }
    }
    q
}

fn vmodsw(cpu: &mut Cpu, i: Insn) -> Ex {
    words(cpu, i, |a, b| {
        (a as i32).checked_rem(b as i32).unwrap_or(0) as u32
    })
}
fn vmoduw(cpu: &mut Cpu, i: Insn) -> Ex {
    words(cpu, i, |a, b| a.checked_rem(b).unwrap_or(0))
}
fn vmodsd(cpu: &mut Cpu, i: Insn) -> Ex {
    dwords(cpu, i, |a, b| {
        (a as i64).checked_rem(b as i64).unwrap_or(0) as u64
    })
}
fn vmodud(cpu: &mut Cpu, i: Insn) -> Ex {
    dwords(cpu, i, |a, b| a.checked_rem(b).unwrap_or(0))
}
fn vmodsq(cpu: &mut Cpu, i: Insn) -> Ex {
    quad(cpu, i, |a, b| {
        (a as i128).checked_rem(b as i128).unwrap_or(0) as u128
    })
}
fn vmoduq(cpu: &mut Cpu, i: Insn) -> Ex {
    quad(cpu, i, |a, b| a.checked_rem(b).unwrap_or(0))
}

// ---------------------------------------------------------------------------------------------
// Vector: quadword sign extension, compares, rotates and shifts

/// vextsd2q: doubleword 1 of VRB sign-extended to 128 bits.
fn vextsd2q(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let v = cpu.vsr[32 + i.rb()][1] as i64 as i128 as u128;
    cpu.set_vr(i.rt(), v);
    Ok(())
}

/// Quadword compare: VRT all ones if `t`, else zero; the record form (bit 21) sets CR6 to
/// 0b1000 (true) or 0b0010 (false).
fn vcmpq(cpu: &mut Cpu, i: Insn, t: bool) -> Ex {
    cpu.set_vr(i.rt(), if t { !0 } else { 0 });
    if i.0 & 0x400 != 0 {
        cpu.set_crf(6, if t { 8 } else { 2 });
    }
    Ok(())
}

fn vcmpequq(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let t = cpu.vr(i.ra()) == cpu.vr(i.rb());
    vcmpq(cpu, i, t)
}

fn vcmpgtsq(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let t = (cpu.vr(i.ra()) as i128) > (cpu.vr(i.rb()) as i128);
    vcmpq(cpu, i, t)
}

fn vcmpgtuq(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let t = cpu.vr(i.ra()) > cpu.vr(i.rb());
    vcmpq(cpu, i, t)
}

/// vcmp[su]q: CR[BF] = LT/GT/EQ of VRA against VRB (SO clear).
fn cmp_crf(cpu: &mut Cpu, i: Insn, o: std::cmp::Ordering) -> Ex {
    let c = match o {
        std::cmp::Ordering::Less => 8,
        std::cmp::Ordering::Greater => 4,
        std::cmp::Ordering::Equal => 2,
    };
    cpu.set_crf(i.bf(), c);
    Ok(())
}

fn vcmpsq(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let o = (cpu.vr(i.ra()) as i128).cmp(&(cpu.vr(i.rb()) as i128));
    cmp_crf(cpu, i, o)
}

fn vcmpuq(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let o = cpu.vr(i.ra()).cmp(&cpu.vr(i.rb()));
    cmp_crf(cpu, i, o)
}

/// The quadword shift/rotate amount: VRB bits 57:63.
#[inline(always)]
fn qsh(v: u128) -> u32 {
    (v >> 64) as u32 & 127
}

/// A 128-bit mask with ones from bit `mb` to bit `me` (ISA numbering, wrapping when mb > me).
fn mask128(mb: u32, me: u32) -> u128 {
    let from_mb = !0u128 >> mb;
    let to_me = !0u128 << (127 - me);
    if mb <= me {
        from_mb & to_me
    } else {
        from_mb | to_me
    }
}

fn vrlq(cpu: &mut Cpu, i: Insn) -> Ex {
    quad(cpu, i, |a, b| a.rotate_left(qsh(b)))
}

/// vrlqnm/vrlqmi operands: the rotated VRA and the mask from VRB bits 41:47 (begin) and 49:55
/// (end).
fn rlq_operands(cpu: &Cpu, i: Insn) -> (u128, u128) {
    let b = cpu.vr(i.rb());
    let mb = (b >> 80) as u32 & 127;
    let me = (b >> 72) as u32 & 127;
    (cpu.vr(i.ra()).rotate_left(qsh(b)), mask128(mb, me))
}

fn vrlqnm(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let (r, m) = rlq_operands(cpu, i);
    cpu.set_vr(i.rt(), r & m);
    Ok(())
}

fn vrlqmi(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let (r, m) = rlq_operands(cpu, i);
    let t = cpu.vr(i.rt());
    cpu.set_vr(i.rt(), r & m | t & !m);
    Ok(())
}

fn vslq(cpu: &mut Cpu, i: Insn) -> Ex {
    quad(cpu, i, |a, b| a << qsh(b))
}
fn vsrq(cpu: &mut Cpu, i: Insn) -> Ex {
    quad(cpu, i, |a, b| a >> qsh(b))
}
fn vsraq(cpu: &mut Cpu, i: Insn) -> Ex {
    quad(cpu, i, |a, b| ((a as i128) >> qsh(b)) as u128)
}

#[cfg(test)]
#[path = "isa31_tests.rs"]
mod tests;
