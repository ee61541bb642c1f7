//! VSX instructions (Power ISA 3.0B Book I chapter 7): loads and stores, GPR<->VSR moves,
//! logical/permute operations and the binary floating-point scalar and vector instructions.
//!
//! VSRs are handled as `u128` values with ISA element 0 in the most significant position, so an
//! element's number never depends on MSR[LE]; only the storage accesses look at the byte order.
//!
//! Scalar results write doubleword 1 of the target as 0, as the ISA 3.0 pseudocode does for the
//! scalar loads and scalar operations; where the ISA leaves it undefined (mtvsrd, mtvsrwa,
//! mtvsrwz) it is left unchanged.
//!
//! This file holds the decoders, the loads/stores and the GPR<->VSR moves; `vsx_perm.rs` the
//! opcode-60 decode and the logical/permute/bit-field instructions; `vsx_fp.rs` the floating-point
//! arithmetic on top of `fp::fpu`. Invalid forms (reserved fields nonzero) are illegal
//! instructions, as in the assembler's and QEMU's decoders.

use crate::cpu::{Cpu, Ex};
use crate::exec::Handler;
use crate::insn::{ea_d, ea_x, Insn};

#[path = "vsx_perm.rs"]
mod perm;

#[path = "vsx_fp.rs"]
mod fparith;

#[path = "vsx_qp.rs"]
mod qp;

#[cfg(test)]
#[path = "vsx_tests.rs"]
mod tests;

/// A decoded instruction: its mnemonic (for tests and diagnostics) and its handler.
type Entry = (&'static str, Handler);

/// Primary opcodes 57, 60, 61 and 63 (57, 61 and 63 after fp.rs has taken its words; opcode 63
/// here is the quad-precision group of `vsx_qp.rs`).
pub fn decode(i: Insn) -> Option<Handler> {
    lookup(i).map(|e| e.1)
}

/// Opcode 31 extended opcodes owned by this module.
pub fn decode31(i: Insn) -> Option<Handler> {
    lookup31(i).map(|e| e.1)
}

fn lookup(i: Insn) -> Option<Entry> {
    match i.opcd() {
        57 => Some(match i.xo2() {
            2 => ("lxsd", lxsd as Handler),
            3 => ("lxssp", lxssp),
            _ => return None,
        }),
        61 => Some(match i.0 & 7 {
            1 => ("lxv", lxv as Handler),
            5 => ("stxv", stxv),
            2 | 6 => ("stxsd", stxsd),
            3 | 7 => ("stxssp", stxssp),
            _ => return None,
        }),
        60 => perm::lookup60(i),
        63 => qp::lookup63(i),
        _ => None,
    }
}

fn lookup31(i: Insn) -> Option<Entry> {
    let xo = i.xo10();
    // The GPR<->VSR moves other than mtvsrdd have RB reserved: nonzero is an invalid form,
    // treated as illegal (as the assembler and QEMU do).
    if matches!(xo, 51 | 115 | 179 | 211 | 243 | 307 | 403) && i.rb() != 0 {
        return None;
    }
    Some(match xo {
        12 => ("lxsiwzx", lxsiwzx as Handler),
        76 => ("lxsiwax", lxsiwax),
        524 => ("lxsspx", lxsspx),
        588 => ("lxsdx", lxsdx),
        781 => ("lxsibzx", lxsibzx),
        813 => ("lxsihzx", lxsihzx),
        844 => ("lxvd2x", lxvd2x),
        780 => ("lxvw4x", lxvw4x),
        812 => ("lxvh8x", lxvh8x),
        876 => ("lxvb16x", lxvb16x),
        332 => ("lxvdsx", lxvdsx),
        364 => ("lxvwsx", lxvwsx),
        // Bit 25 of lxvx is not part of its opcode (ISA 3.0B; stxvx has no such hole).
        268 | 300 => ("lxvx", lxvx),
        269 => ("lxvl", lxvl),
        301 => ("lxvll", lxvll),
        140 => ("stxsiwx", stxsiwx),
        652 => ("stxsspx", stxsspx),
        716 => ("stxsdx", stxsdx),
        909 => ("stxsibx", stxsibx),
        941 => ("stxsihx", stxsihx),
        972 => ("stxvd2x", stxvd2x),
        908 => ("stxvw4x", stxvw4x),
        940 => ("stxvh8x", stxvh8x),
        1004 => ("stxvb16x", stxvb16x),
        396 => ("stxvx", stxvx),
        397 => ("stxvl", stxvl),
        429 => ("stxvll", stxvll),
        51 => ("mfvsrd", mfvsrd),
        115 => ("mfvsrwz", mfvsrwz),
        179 => ("mtvsrd", mtvsrd),
        211 => ("mtvsrwa", mtvsrwa),
        243 => ("mtvsrwz", mtvsrwz),
        307 => ("mfvsrld", mfvsrld),
        435 => ("mtvsrdd", mtvsrdd),
        403 => ("mtvsrws", mtvsrws),
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------------
// Shared helpers

/// Facility check of the ISA 3.0 instructions that address the whole VSR file: VSRs 0..31 need
/// MSR[VSX], VSRs 32..63 (the VRs) need MSR[VEC].
#[inline(always)]
fn check_vsx_vec(cpu: &Cpu, r: usize) -> Ex {
    if r < 32 {
        cpu.check_vsx()
    } else {
        cpu.check_vec()
    }
}

/// Facility check of the ISA 2.07 GPR<->VSR moves: the FPR half needs MSR[FP], the VR half MSR[VEC].
#[inline(always)]
fn check_fp_vec(cpu: &Cpu, r: usize) -> Ex {
    if r < 32 {
        cpu.check_fp()
    } else {
        cpu.check_vec()
    }
}

/// Word element `n` (0..3, element 0 most significant).
#[inline(always)]
fn word(v: u128, n: usize) -> u32 {
    (v >> (96 - 32 * (n & 3))) as u32
}

/// Builds a vector from four word elements, element 0 first.
#[inline(always)]
fn from_words(w: [u32; 4]) -> u128 {
    (w[0] as u128) << 96 | (w[1] as u128) << 64 | (w[2] as u128) << 32 | w[3] as u128
}

#[inline(always)]
fn words(v: u128) -> [u32; 4] {
    [word(v, 0), word(v, 1), word(v, 2), word(v, 3)]
}

/// Single-precision bits to the double-precision format, exactly as lfs does: no rounding, SNaNs
/// stay signalling, denormals are normalised.
pub(crate) fn sp_to_dp_bits(w: u32) -> u64 {
    let sign = ((w >> 31) as u64) << 63;
    let exp = (w >> 23) & 0xff;
    let frac = (w & 0x7f_ffff) as u64;
    match exp {
        0xff => sign | 0x7ff << 52 | frac << 29,
        0 if frac == 0 => sign,
        0 => {
            // Denormal: value = frac * 2^-149; shift the leading one up to the implicit position.
            let lz = frac.leading_zeros() - 41; // zeros between bit 22 and the leading one
            let e = 1023 - 126 - 1 - lz as u64;
            let f = (frac << (lz + 1)) & 0x7f_ffff;
            sign | e << 52 | f << 29
        }
        _ => sign | (exp as u64 + 1023 - 127) << 52 | frac << 29,
    }
}

/// Double-precision bits to single-precision bits without rounding, as stfs does: values in the
/// single denormal range are denormalised by truncation, everything else keeps bits 0:1 and 5:34.
pub(crate) fn dp_to_sp_bits(d: u64) -> u32 {
    let exp = (d >> 52 & 0x7ff) as i32;
    if exp > 896 || d << 1 == 0 {
        return ((d >> 62) << 30 | (d >> 29) & 0x3fff_ffff) as u32;
    }
    let sign = ((d >> 63) as u32) << 31;
    // Denormalise: shift 1.fraction right until the exponent reaches -126. The ISA leaves exponents
    // below 874 undefined; the same shift (to zero) is used for them.
    let shift = (897 - exp) as u32; // 1..=896
    let m = (1u64 << 52 | (d & 0xf_ffff_ffff_ffff))
        .checked_shr(shift)
        .unwrap_or(0);
    sign | ((m >> 29) as u32 & 0x7f_ffff)
}

// ---------------------------------------------------------------------------------------------
// Scalar loads and stores

fn lxsdx(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    let v = cpu.ld_u64(ea_x(cpu, i))?;
    cpu.vsr[i.xt()] = [v, 0];
    Ok(())
}

fn lxsiwax(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    let v = cpu.ld_u32(ea_x(cpu, i))?;
    cpu.vsr[i.xt()] = [v as i32 as i64 as u64, 0];
    Ok(())
}

fn lxsiwzx(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    let v = cpu.ld_u32(ea_x(cpu, i))?;
    cpu.vsr[i.xt()] = [v as u64, 0];
    Ok(())
}

fn lxsspx(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    let v = cpu.ld_u32(ea_x(cpu, i))?;
    cpu.vsr[i.xt()] = [sp_to_dp_bits(v), 0];
    Ok(())
}

fn lxsibzx(cpu: &mut Cpu, i: Insn) -> Ex {
    check_vsx_vec(cpu, i.xt())?;
    let v = cpu.ld_u8(ea_x(cpu, i))?;
    cpu.vsr[i.xt()] = [v as u64, 0];
    Ok(())
}

fn lxsihzx(cpu: &mut Cpu, i: Insn) -> Ex {
    check_vsx_vec(cpu, i.xt())?;
    let v = cpu.ld_u16(ea_x(cpu, i))?;
    cpu.vsr[i.xt()] = [v as u64, 0];
    Ok(())
}

/// lxsd VRT,DS(RA): the target is a VR, so the facility is MSR[VEC].
fn lxsd(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let v = cpu.ld_u64(ea_d(cpu, i, i.ds()))?;
    cpu.vsr[32 + i.rt()] = [v, 0];
    Ok(())
}

fn lxssp(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let v = cpu.ld_u32(ea_d(cpu, i, i.ds()))?;
    cpu.vsr[32 + i.rt()] = [sp_to_dp_bits(v), 0];
    Ok(())
}

fn stxsdx(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    cpu.st_u64(ea_x(cpu, i), cpu.vsr[i.xt()][0])
}

fn stxsiwx(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    cpu.st_u32(ea_x(cpu, i), cpu.vsr[i.xt()][0] as u32)
}

fn stxsspx(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    cpu.st_u32(ea_x(cpu, i), dp_to_sp_bits(cpu.vsr[i.xt()][0]))
}

fn stxsibx(cpu: &mut Cpu, i: Insn) -> Ex {
    check_vsx_vec(cpu, i.xt())?;
    cpu.st_u8(ea_x(cpu, i), cpu.vsr[i.xt()][0] as u8)
}

fn stxsihx(cpu: &mut Cpu, i: Insn) -> Ex {
    check_vsx_vec(cpu, i.xt())?;
    cpu.st_u16(ea_x(cpu, i), cpu.vsr[i.xt()][0] as u16)
}

fn stxsd(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    cpu.st_u64(ea_d(cpu, i, i.ds()), cpu.vsr[32 + i.rt()][0])
}

fn stxssp(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    cpu.st_u32(ea_d(cpu, i, i.ds()), dp_to_sp_bits(cpu.vsr[32 + i.rt()][0]))
}

// ---------------------------------------------------------------------------------------------
// Vector loads and stores. Each reads/writes the 16 bytes in memory order and then places them
// by the element size of the instruction.

/// Register number of the DQ-form lxv/stxv: TX/SX is bit 28.
#[inline(always)]
fn dq_xt(i: Insn) -> usize {
    ((i.0 >> 3 & 1) << 5) as usize | i.rt()
}

/// Memory bytes to a vector whose elements of `n` bytes are each in the current byte order and
/// in ascending element order (lxvd2x, lxvw4x, lxvh8x; lxvb16x is n = 1).
#[inline(always)]
fn bytes_to_elems(b: [u8; 16], n: usize, le: bool) -> u128 {
    let v = u128::from_be_bytes(b);
    if !le || n == 1 {
        return v;
    }
    // Reverse the bytes inside each element.
    let mut out = [0u8; 16];
    for (k, o) in out.iter_mut().enumerate() {
        *o = b[(k & !(n - 1)) + (n - 1 - (k & (n - 1)))];
    }
    u128::from_be_bytes(out)
}

/// Inverse of `bytes_to_elems`.
#[inline(always)]
fn elems_to_bytes(v: u128, n: usize, le: bool) -> [u8; 16] {
    let b = v.to_be_bytes();
    if !le || n == 1 {
        return b;
    }
    let mut out = [0u8; 16];
    for (k, o) in out.iter_mut().enumerate() {
        *o = b[(k & !(n - 1)) + (n - 1 - (k & (n - 1)))];
    }
    out
}

fn ld_elems(cpu: &mut Cpu, i: Insn, n: usize) -> Ex {
    let b = cpu.ld_bytes16(ea_x(cpu, i))?;
    let le = cpu.le;
    cpu.set_vsr128(i.xt(), bytes_to_elems(b, n, le));
    Ok(())
}

fn st_elems(cpu: &mut Cpu, i: Insn, n: usize) -> Ex {
    let b = elems_to_bytes(cpu.vsr128(i.xt()), n, cpu.le);
    cpu.st_bytes16(ea_x(cpu, i), b)
}

fn lxvd2x(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    ld_elems(cpu, i, 8)
}

fn lxvw4x(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    ld_elems(cpu, i, 4)
}

fn lxvh8x(cpu: &mut Cpu, i: Insn) -> Ex {
    check_vsx_vec(cpu, i.xt())?;
    ld_elems(cpu, i, 2)
}

fn lxvb16x(cpu: &mut Cpu, i: Insn) -> Ex {
    check_vsx_vec(cpu, i.xt())?;
    ld_elems(cpu, i, 1)
}

/// lxvx loads the quadword as one element in the current byte order.
fn lxvx(cpu: &mut Cpu, i: Insn) -> Ex {
    check_vsx_vec(cpu, i.xt())?;
    ld_elems(cpu, i, 16)
}

fn lxv(cpu: &mut Cpu, i: Insn) -> Ex {
    let xt = dq_xt(i);
    check_vsx_vec(cpu, xt)?;
    let b = cpu.ld_bytes16(ea_d(cpu, i, i.dq()))?;
    let le = cpu.le;
    cpu.set_vsr128(xt, bytes_to_elems(b, 16, le));
    Ok(())
}

fn lxvdsx(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    let v = cpu.ld_u64(ea_x(cpu, i))?;
    cpu.vsr[i.xt()] = [v, v];
    Ok(())
}

fn lxvwsx(cpu: &mut Cpu, i: Insn) -> Ex {
    check_vsx_vec(cpu, i.xt())?;
    let v = cpu.ld_u32(ea_x(cpu, i))?;
    cpu.set_vsr128(i.xt(), from_words([v; 4]));
    Ok(())
}

fn stxvd2x(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    st_elems(cpu, i, 8)
}

fn stxvw4x(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    st_elems(cpu, i, 4)
}

fn stxvh8x(cpu: &mut Cpu, i: Insn) -> Ex {
    check_vsx_vec(cpu, i.xt())?;
    st_elems(cpu, i, 2)
}

fn stxvb16x(cpu: &mut Cpu, i: Insn) -> Ex {
    check_vsx_vec(cpu, i.xt())?;
    st_elems(cpu, i, 1)
}

fn stxvx(cpu: &mut Cpu, i: Insn) -> Ex {
    check_vsx_vec(cpu, i.xt())?;
    st_elems(cpu, i, 16)
}

fn stxv(cpu: &mut Cpu, i: Insn) -> Ex {
    let xs = dq_xt(i);
    check_vsx_vec(cpu, xs)?;
    let b = elems_to_bytes(cpu.vsr128(xs), 16, cpu.le);
    cpu.st_bytes16(ea_d(cpu, i, i.dq()), b)
}

/// EA (RA|0) and byte count (RB bits 0:7, at most 16) of the length-controlled forms.
#[inline(always)]
fn len_operands(cpu: &Cpu, i: Insn) -> (u64, usize) {
    let base = if i.ra() == 0 { 0 } else { cpu.gpr[i.ra()] };
    let nb = (cpu.gpr[i.rb()] >> 56).min(16) as usize;
    (cpu.ea(base), nb)
}

/// Loads `nb` bytes at `ea` into the first `nb` entries of a zeroed buffer. The VSR is written only
/// after every byte was read, so a fault leaves it unchanged.
#[inline(always)]
fn ld_partial(cpu: &mut Cpu, ea: u64, nb: usize) -> Result<[u8; 16], crate::cpu::Exception> {
    let mut m = [0u8; 16];
    for (k, b) in m.iter_mut().enumerate().take(nb) {
        *b = cpu.ld_u8(cpu.ea(ea.wrapping_add(k as u64)))?;
    }
    Ok(m)
}

/// Stores the first `nb` bytes of `m`; the whole range is checked before any byte is written.
#[inline(always)]
fn st_partial(cpu: &mut Cpu, ea: u64, m: &[u8; 16], nb: usize) -> Ex {
    if nb == 0 {
        return Ok(());
    }
    cpu.xlate(ea, nb as u64, true)?;
    for (k, b) in m.iter().enumerate().take(nb) {
        cpu.st_u8(cpu.ea(ea.wrapping_add(k as u64)), *b)?;
    }
    Ok(())
}

/// lxvl: in BE mode the bytes fill the register from the left, in LE mode from the right (byte at
/// EA into byte 15), the rest is zero.
fn lxvl(cpu: &mut Cpu, i: Insn) -> Ex {
    check_vsx_vec(cpu, i.xt())?;
    let (ea, nb) = len_operands(cpu, i);
    let m = ld_partial(cpu, ea, nb)?;
    let v = if cpu.le {
        u128::from_le_bytes(m)
    } else {
        u128::from_be_bytes(m)
    };
    cpu.set_vsr128(i.xt(), v);
    Ok(())
}

/// lxvll always fills from the left (big-endian byte order).
fn lxvll(cpu: &mut Cpu, i: Insn) -> Ex {
    check_vsx_vec(cpu, i.xt())?;
    let (ea, nb) = len_operands(cpu, i);
    let m = ld_partial(cpu, ea, nb)?;
    cpu.set_vsr128(i.xt(), u128::from_be_bytes(m));
    Ok(())
}

fn stxvl(cpu: &mut Cpu, i: Insn) -> Ex {
    check_vsx_vec(cpu, i.xt())?;
    let (ea, nb) = len_operands(cpu, i);
    let v = cpu.vsr128(i.xt());
    let m = if cpu.le {
        v.to_le_bytes()
    } else {
        v.to_be_bytes()
    };
    st_partial(cpu, ea, &m, nb)
}

fn stxvll(cpu: &mut Cpu, i: Insn) -> Ex {
    check_vsx_vec(cpu, i.xt())?;
    let (ea, nb) = len_operands(cpu, i);
    let m = cpu.vsr128(i.xt()).to_be_bytes();
    st_partial(cpu, ea, &m, nb)
}

// ---------------------------------------------------------------------------------------------
// GPR <-> VSR moves. In these X-forms the VSR is in bits 6:10 with its high bit in bit 31 and the
// GPR is RA.

fn mfvsrd(cpu: &mut Cpu, i: Insn) -> Ex {
    check_fp_vec(cpu, i.xt())?;
    cpu.gpr[i.ra()] = cpu.vsr[i.xt()][0];
    Ok(())
}

fn mfvsrwz(cpu: &mut Cpu, i: Insn) -> Ex {
    check_fp_vec(cpu, i.xt())?;
    cpu.gpr[i.ra()] = cpu.vsr[i.xt()][0] & 0xffff_ffff;
    Ok(())
}

fn mtvsrd(cpu: &mut Cpu, i: Insn) -> Ex {
    check_fp_vec(cpu, i.xt())?;
    cpu.vsr[i.xt()][0] = cpu.gpr[i.ra()];
    Ok(())
}

fn mtvsrwa(cpu: &mut Cpu, i: Insn) -> Ex {
    check_fp_vec(cpu, i.xt())?;
    cpu.vsr[i.xt()][0] = cpu.gpr[i.ra()] as i32 as i64 as u64;
    Ok(())
}

fn mtvsrwz(cpu: &mut Cpu, i: Insn) -> Ex {
    check_fp_vec(cpu, i.xt())?;
    cpu.vsr[i.xt()][0] = cpu.gpr[i.ra()] & 0xffff_ffff;
    Ok(())
}

fn mfvsrld(cpu: &mut Cpu, i: Insn) -> Ex {
    check_vsx_vec(cpu, i.xt())?;
    cpu.gpr[i.ra()] = cpu.vsr[i.xt()][1];
    Ok(())
}

fn mtvsrdd(cpu: &mut Cpu, i: Insn) -> Ex {
    check_vsx_vec(cpu, i.xt())?;
    let hi = if i.ra() == 0 { 0 } else { cpu.gpr[i.ra()] };
    cpu.vsr[i.xt()] = [hi, cpu.gpr[i.rb()]];
    Ok(())
}

fn mtvsrws(cpu: &mut Cpu, i: Insn) -> Ex {
    check_vsx_vec(cpu, i.xt())?;
    let w = cpu.gpr[i.ra()] as u32;
    cpu.set_vsr128(i.xt(), from_words([w; 4]));
    Ok(())
}
