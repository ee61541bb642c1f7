//! VMX crypto and bit-manipulation instructions: AES rounds (vcipher*, vncipher*, vsbox), SHA-2
//! sigma functions (vshasigma[wd]), carry-less multiply-sum (vpmsum[bhwd]), bit permutes (vbpermq,
//! vbpermd) and the bit-matrix transpose vgbbd.
//!
//! The AES state is the 16 bytes of the register in ISA order, mapped onto the FIPS-197 state
//! column by column (byte k is row k % 4 of column k / 4), as the ISA specifies.

use super::{join, map2, split};
use crate::cpu::{Cpu, Ex};
use crate::insn::Insn;

// ---------------------------------------------------------------------------------------------
// AES tables, derived at compile time from the field arithmetic in FIPS-197 section 4.

/// Multiplication in GF(2^8) modulo x^8 + x^4 + x^3 + x + 1.
const fn gmul(mut a: u8, mut b: u8) -> u8 {
    let mut p = 0;
    while b != 0 {
        if b & 1 != 0 {
            p ^= a;
        }
        let hi = a & 0x80;
        a <<= 1;
        if hi != 0 {
            a ^= 0x1b;
        }
        b >>= 1;
    }
    p
}

/// The S-box: multiplicative inverse (x^254, with 0 mapped to 0) then the affine transform.
const fn make_sbox() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut x = 0;
    while x < 256 {
        let (mut inv, mut base, mut e) = (1u8, x as u8, 254u32);
        while e != 0 {
            if e & 1 != 0 {
                inv = gmul(inv, base);
            }
            base = gmul(base, base);
            e >>= 1;
        }
        t[x] = inv
            ^ inv.rotate_left(1)
            ^ inv.rotate_left(2)
            ^ inv.rotate_left(3)
            ^ inv.rotate_left(4)
            ^ 0x63;
        x += 1;
    }
    t
}

const fn invert(s: &[u8; 256]) -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut x = 0;
    while x < 256 {
        t[s[x] as usize] = x as u8;
        x += 1;
    }
    t
}

const fn mul_table(k: u8) -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut x = 0;
    while x < 256 {
        t[x] = gmul(x as u8, k);
        x += 1;
    }
    t
}

pub(super) static SBOX: [u8; 256] = make_sbox();
static INV_SBOX: [u8; 256] = invert(&make_sbox());
static MUL2: [u8; 256] = mul_table(2);
static MUL3: [u8; 256] = mul_table(3);
static MUL9: [u8; 256] = mul_table(9);
static MUL11: [u8; 256] = mul_table(11);
static MUL13: [u8; 256] = mul_table(13);
static MUL14: [u8; 256] = mul_table(14);

type State = [u8; 16];

#[inline(always)]
fn sub_bytes(s: State) -> State {
    s.map(|x| SBOX[x as usize])
}

#[inline(always)]
fn inv_sub_bytes(s: State) -> State {
    s.map(|x| INV_SBOX[x as usize])
}

/// Row r is rotated left by r columns: s'[r][c] = s[r][(c + r) mod 4].
#[inline(always)]
fn shift_rows(s: State) -> State {
    let mut o = [0u8; 16];
    for c in 0..4 {
        for r in 0..4 {
            o[r + 4 * c] = s[r + 4 * ((c + r) % 4)];
        }
    }
    o
}

#[inline(always)]
fn inv_shift_rows(s: State) -> State {
    let mut o = [0u8; 16];
    for c in 0..4 {
        for r in 0..4 {
            o[r + 4 * ((c + r) % 4)] = s[r + 4 * c];
        }
    }
    o
}

/// Multiplies each column by the circulant matrix whose first row is `m` (table per coefficient).
#[inline(always)]
fn mix(s: State, m: [&[u8; 256]; 4]) -> State {
    let mut o = [0u8; 16];
    for c in 0..4 {
        let col = [s[4 * c], s[4 * c + 1], s[4 * c + 2], s[4 * c + 3]];
        for r in 0..4 {
            o[4 * c + r] = (0..4).fold(0, |acc, k| acc ^ m[(k + 4 - r) % 4][col[k] as usize]);
        }
    }
    o
}

static ID: [u8; 256] = mul_table(1);

#[inline(always)]
fn mix_columns(s: State) -> State {
    mix(s, [&MUL2, &MUL3, &ID, &ID])
}

#[inline(always)]
fn inv_mix_columns(s: State) -> State {
    mix(s, [&MUL14, &MUL11, &MUL13, &MUL9])
}

fn aes_op(cpu: &mut Cpu, i: Insn, f: impl Fn(State) -> u128) -> Ex {
    cpu.check_vec()?;
    let s = cpu.vr(i.ra()).to_be_bytes();
    cpu.set_vr(i.rt(), f(s));
    Ok(())
}

/// vcipher: one AES encryption round, MixColumns(ShiftRows(SubBytes(VRA))) ^ VRB.
pub(super) fn vcipher(cpu: &mut Cpu, i: Insn) -> Ex {
    let k = cpu.vr(i.rb());
    aes_op(cpu, i, |s| {
        u128::from_be_bytes(mix_columns(shift_rows(sub_bytes(s)))) ^ k
    })
}

/// vcipherlast: the final round, without MixColumns.
pub(super) fn vcipherlast(cpu: &mut Cpu, i: Insn) -> Ex {
    let k = cpu.vr(i.rb());
    aes_op(cpu, i, |s| {
        u128::from_be_bytes(shift_rows(sub_bytes(s))) ^ k
    })
}

/// vncipher: InvMixColumns(InvSubBytes(InvShiftRows(VRA)) ^ VRB), the FIPS-197 inverse round.
pub(super) fn vncipher(cpu: &mut Cpu, i: Insn) -> Ex {
    let k = cpu.vr(i.rb());
    aes_op(cpu, i, |s| {
        let t = u128::from_be_bytes(inv_sub_bytes(inv_shift_rows(s))) ^ k;
        u128::from_be_bytes(inv_mix_columns(t.to_be_bytes()))
    })
}

/// vncipherlast: InvSubBytes(InvShiftRows(VRA)) ^ VRB.
pub(super) fn vncipherlast(cpu: &mut Cpu, i: Insn) -> Ex {
    let k = cpu.vr(i.rb());
    aes_op(cpu, i, |s| {
        u128::from_be_bytes(inv_sub_bytes(inv_shift_rows(s))) ^ k
    })
}

/// vsbox: SubBytes(VRA).
pub(super) fn vsbox(cpu: &mut Cpu, i: Insn) -> Ex {
    aes_op(cpu, i, |s| u128::from_be_bytes(sub_bytes(s)))
}

// ---------------------------------------------------------------------------------------------
// SHA-2 sigma functions (FIPS 180-4 4.1.2, 4.1.3). ST (bit 16) picks the lower-case sigma (0) or
// the upper-case Sigma (1); SIX (bits 17:20) picks function 0 or 1 per element.

/// vshasigmaw: word k uses SIX bit k.
pub(super) fn vshasigmaw(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let st = i.0 >> 15 & 1 != 0;
    let six = i.0 >> 11 & 15;
    let mut w = split::<u32, 4>(cpu.vr(i.ra()));
    for (k, x) in w.iter_mut().enumerate() {
        let one = six >> (3 - k) & 1 != 0;
        let v = *x;
        *x = match (st, one) {
            (false, false) => v.rotate_right(7) ^ v.rotate_right(18) ^ v >> 3,
            (false, true) => v.rotate_right(17) ^ v.rotate_right(19) ^ v >> 10,
            (true, false) => v.rotate_right(2) ^ v.rotate_right(13) ^ v.rotate_right(22),
            (true, true) => v.rotate_right(6) ^ v.rotate_right(11) ^ v.rotate_right(25),
        };
    }
    cpu.set_vr(i.rt(), join::<u32, 4>(w));
    Ok(())
}

/// vshasigmad: doubleword k uses SIX bit 2k.
pub(super) fn vshasigmad(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let st = i.0 >> 15 & 1 != 0;
    let six = i.0 >> 11 & 15;
    let mut d = split::<u64, 2>(cpu.vr(i.ra()));
    for (k, x) in d.iter_mut().enumerate() {
        let one = six >> (3 - 2 * k) & 1 != 0;
        let v = *x;
        *x = match (st, one) {
            (false, false) => v.rotate_right(1) ^ v.rotate_right(8) ^ v >> 7,
            (false, true) => v.rotate_right(19) ^ v.rotate_right(61) ^ v >> 6,
            (true, false) => v.rotate_right(28) ^ v.rotate_right(34) ^ v.rotate_right(39),
            (true, true) => v.rotate_right(14) ^ v.rotate_right(18) ^ v.rotate_right(41),
        };
    }
    cpu.set_vr(i.rt(), join::<u64, 2>(d));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Carry-less multiply-sum.

/// Polynomial (carry-less) product over GF(2).
#[inline(always)]
pub(super) fn clmul(a: u64, mut b: u64) -> u128 {
    let a = a as u128;
    let mut r = 0u128;
    while b != 0 {
        r ^= a << b.trailing_zeros();
        b &= b - 1;
    }
    r
}

// Each result element is the XOR of the products of the even and the odd source elements of half
// its width; those are the high and low halves of the wide lane.

pub(super) fn vpmsumb(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let r = map2::<u16, 8>(cpu.vr(i.ra()), cpu.vr(i.rb()), |a, b| {
        (clmul((a >> 8) as u64, (b >> 8) as u64) ^ clmul((a & 0xff) as u64, (b & 0xff) as u64))
            as u16
    });
    cpu.set_vr(i.rt(), r);
    Ok(())
}

pub(super) fn vpmsumh(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let r = map2::<u32, 4>(cpu.vr(i.ra()), cpu.vr(i.rb()), |a, b| {
        (clmul((a >> 16) as u64, (b >> 16) as u64)
            ^ clmul((a & 0xffff) as u64, (b & 0xffff) as u64)) as u32
    });
    cpu.set_vr(i.rt(), r);
    Ok(())
}

pub(super) fn vpmsumw(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let r = map2::<u64, 2>(cpu.vr(i.ra()), cpu.vr(i.rb()), |a, b| {
        (clmul(a >> 32, b >> 32) ^ clmul(a & 0xffff_ffff, b & 0xffff_ffff)) as u64
    });
    cpu.set_vr(i.rt(), r);
    Ok(())
}

pub(super) fn vpmsumd(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let (a, b) = (cpu.vr(i.ra()), cpu.vr(i.rb()));
    let r = clmul((a >> 64) as u64, (b >> 64) as u64) ^ clmul(a as u64, b as u64);
    cpu.set_vr(i.rt(), r);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Bit permutes and gather.

/// vbpermq: bit k of a 16-bit field is bit (VRB byte k) of VRA, or 0 when that index is >= 128;
/// the field lands in bits 48:63 of VRT (doubleword 0), the rest is cleared.
pub(super) fn vbpermq(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let a = cpu.vr(i.ra());
    let idx = cpu.vr(i.rb()).to_be_bytes();
    let mut perm = 0u128;
    for x in idx {
        let bit = if x < 128 { a >> (127 - x) & 1 } else { 0 };
        perm = perm << 1 | bit;
    }
    cpu.set_vr(i.rt(), perm << 64);
    Ok(())
}

/// vbpermd: per doubleword, bit k of an 8-bit field (placed in bits 56:63) is bit (byte k of the
/// VRB doubleword) of the VRA doubleword, or 0 when that index is >= 64.
pub(super) fn vbpermd(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let r = map2::<u64, 2>(cpu.vr(i.ra()), cpu.vr(i.rb()), |a, b| {
        b.to_be_bytes().iter().fold(0u64, |perm, &x| {
            let bit = if x < 64 { a >> (63 - x) & 1 } else { 0 };
            perm << 1 | bit
        })
    });
    cpu.set_vr(i.rt(), r);
    Ok(())
}

/// vgbbd: each doubleword taken as an 8x8 bit matrix (byte = row) is transposed: bit j of result
/// byte k is bit k of source byte j.
pub(super) fn vgbbd(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let d = split::<u64, 2>(cpu.vr(i.rb())).map(|x| {
        let mut r = 0u64;
        for row in 0..8 {
            for col in 0..8 {
                let bit = x >> (63 - (8 * row + col)) & 1;
                r |= bit << (63 - (8 * col + row));
            }
        }
        r
    });
    cpu.set_vr(i.rt(), join::<u64, 2>(d));
    Ok(())
}
