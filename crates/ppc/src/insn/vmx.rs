//! VMX (AltiVec) instructions as of Power ISA 3.0B (Book I chapter 6).
//!
//! Vector registers hold ISA element 0 in the most significant bits of the `u128` (`Cpu::vr`), so
//! element numbering is the ISA's big-endian numbering whatever MSR[LE] says; only the loads and
//! stores look at the byte order. Floating-point operations live in `vmx_fp.rs`, the AES/SHA/
//! carry-less-multiply/bit-permute group in `vmx_crypto.rs`.
//!
//! vmul10*uq and the decimal (BCD) instructions are in `vmx_bcd.rs`.

use crate::cpu::{Cpu, Ex};
use crate::exec::Handler;
use crate::insn::{ea_x, Insn};

/// VSCR[SAT] (sticky saturation) and VSCR[NJ] (non-Java mode) in `Cpu::vscr`.
const VSCR_SAT: u32 = 1;
const VSCR_NJ: u32 = 1 << 16;

/// One element type of a vector: an unsigned integer of `BITS` bits.
trait Lane: Copy + Default {
    const BITS: u32;
    fn trunc(v: u128) -> Self;
    fn wide(self) -> u128;
}

macro_rules! lane {
    ($($t:ty),*) => {$(
        impl Lane for $t {
            const BITS: u32 = <$t>::BITS;
            #[inline(always)]
            fn trunc(v: u128) -> Self {
                v as $t
            }
            #[inline(always)]
            fn wide(self) -> u128 {
                self as u128
            }
        }
    )*};
}
lane!(u8, u16, u32, u64);

/// Splits a register into its N elements, element 0 first.
#[inline(always)]
fn split<T: Lane, const N: usize>(v: u128) -> [T; N] {
    let mut r = [T::default(); N];
    for (k, e) in r.iter_mut().enumerate() {
        *e = T::trunc(v >> (T::BITS * (N - 1 - k) as u32));
    }
    r
}

/// Joins N elements (element 0 first) into a register value.
#[inline(always)]
fn join<T: Lane, const N: usize>(a: [T; N]) -> u128 {
    a.iter().fold(0u128, |v, e| v << T::BITS | e.wide())
}

#[inline(always)]
fn map1<T: Lane, const N: usize>(a: u128, f: impl Fn(T) -> T) -> u128 {
    join::<T, N>(split::<T, N>(a).map(f))
}

#[inline(always)]
fn map2<T: Lane, const N: usize>(a: u128, b: u128, f: impl Fn(T, T) -> T) -> u128 {
    let (a, b) = (split::<T, N>(a), split::<T, N>(b));
    let mut r = [T::default(); N];
    for k in 0..N {
        r[k] = f(a[k], b[k]);
    }
    join::<T, N>(r)
}

#[inline(always)]
fn map3<T: Lane, const N: usize>(a: u128, b: u128, c: u128, f: impl Fn(T, T, T) -> T) -> u128 {
    let (a, b, c) = (split::<T, N>(a), split::<T, N>(b), split::<T, N>(c));
    let mut r = [T::default(); N];
    for k in 0..N {
        r[k] = f(a[k], b[k], c[k]);
    }
    join::<T, N>(r)
}

/// Replicates one element into all N.
#[inline(always)]
fn splat<T: Lane, const N: usize>(x: T) -> u128 {
    join::<T, N>([x; N])
}

/// Clamps to the signed range of `bits` bits, noting saturation.
#[inline(always)]
fn sat_s(v: i128, bits: u32, sat: &mut bool) -> i128 {
    let (lo, hi) = (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1);
    if v < lo {
        *sat = true;
        lo
    } else if v > hi {
        *sat = true;
        hi
    } else {
        v
    }
}

/// Clamps to the unsigned range of `bits` bits, noting saturation.
#[inline(always)]
fn sat_u(v: i128, bits: u32, sat: &mut bool) -> i128 {
    let hi = (1i128 << bits) - 1;
    if v < 0 {
        *sat = true;
        0
    } else if v > hi {
        *sat = true;
        hi
    } else {
        v
    }
}

/// Sets the sticky VSCR[SAT] when an operation saturated.
#[inline(always)]
fn note_sat(cpu: &mut Cpu, sat: bool) {
    if sat {
        cpu.vscr |= VSCR_SAT;
    }
}

/// Writes a compare result and, for the record forms (Rc, bit 21), CR6 = all-true || 0 || all-false || 0.
#[inline(always)]
fn set_cmp(cpu: &mut Cpu, i: Insn, r: u128) {
    cpu.set_vr(i.rt(), r);
    if i.0 & 0x400 != 0 {
        let f = if r == u128::MAX {
            0b1000
        } else if r == 0 {
            0b0010
        } else {
            0
        };
        cpu.set_crf(6, f);
    }
}

/// Elementwise VX-form operations `VRT <- f(VRA, VRB)` (or `f(VRB)` for one operand).
macro_rules! vx2 {
    ($($name:ident: $t:ty => |$a:ident, $b:ident| $e:expr;)*) => {$(
        fn $name(cpu: &mut Cpu, i: Insn) -> Ex {
            cpu.check_vec()?;
            const N: usize = 16 / std::mem::size_of::<$t>();
            let r = map2::<$t, N>(cpu.vr(i.ra()), cpu.vr(i.rb()), |$a: $t, $b: $t| $e);
            cpu.set_vr(i.rt(), r);
            Ok(())
        }
    )*};
}

macro_rules! vx1 {
    ($($name:ident: $t:ty => |$b:ident| $e:expr;)*) => {$(
        fn $name(cpu: &mut Cpu, i: Insn) -> Ex {
            cpu.check_vec()?;
            const N: usize = 16 / std::mem::size_of::<$t>();
            let r = map1::<$t, N>(cpu.vr(i.rb()), |$b: $t| $e);
            cpu.set_vr(i.rt(), r);
            Ok(())
        }
    )*};
}

/// Saturating elementwise operations: the closure sets `$s` when it clamps.
macro_rules! vx2_sat {
    ($($name:ident: $t:ty => |$a:ident, $b:ident, $s:ident| $e:expr;)*) => {$(
        fn $name(cpu: &mut Cpu, i: Insn) -> Ex {
            cpu.check_vec()?;
            const N: usize = 16 / std::mem::size_of::<$t>();
            let mut sat = false;
            let $s = &mut sat;
            let (a, b) = (split::<$t, N>(cpu.vr(i.ra())), split::<$t, N>(cpu.vr(i.rb())));
            let mut r = [0 as $t; N];
            for k in 0..N {
                let ($a, $b) = (a[k], b[k]);
                r[k] = $e;
            }
            cpu.set_vr(i.rt(), join::<$t, N>(r));
            note_sat(cpu, sat);
            Ok(())
        }
    )*};
}

/// Integer compares producing all-ones / all-zeros elements.
macro_rules! vx_cmp {
    ($($name:ident: $t:ty => |$a:ident, $b:ident| $e:expr;)*) => {$(
        fn $name(cpu: &mut Cpu, i: Insn) -> Ex {
            cpu.check_vec()?;
            const N: usize = 16 / std::mem::size_of::<$t>();
            let r = map2::<$t, N>(cpu.vr(i.ra()), cpu.vr(i.rb()), |$a: $t, $b: $t| {
                if $e { <$t>::MAX } else { 0 }
            });
            set_cmp(cpu, i, r);
            Ok(())
        }
    )*};
}

/// Whole-register operations `VRT <- f(VRA, VRB)` on u128 values.
macro_rules! vq2 {
    ($($name:ident => |$a:ident, $b:ident| $e:expr;)*) => {$(
        fn $name(cpu: &mut Cpu, i: Insn) -> Ex {
            cpu.check_vec()?;
            let ($a, $b) = (cpu.vr(i.ra()), cpu.vr(i.rb()));
            cpu.set_vr(i.rt(), $e);
            Ok(())
        }
    )*};
}

/// VA-form whole-register operations `VRT <- f(VRA, VRB, VRC)`.
macro_rules! vq3 {
    ($($name:ident => |$a:ident, $b:ident, $c:ident| $e:expr;)*) => {$(
        fn $name(cpu: &mut Cpu, i: Insn) -> Ex {
            cpu.check_vec()?;
            let ($a, $b, $c) = (cpu.vr(i.ra()), cpu.vr(i.rb()), cpu.vr(i.rc()));
            cpu.set_vr(i.rt(), $e);
            Ok(())
        }
    )*};
}

#[path = "vmx_bcd.rs"]
mod bcd;
#[path = "vmx_crypto.rs"]
mod crypto;
#[path = "vmx_fp.rs"]
mod fp;
#[cfg(test)]
#[path = "vmx_tests.rs"]
mod tests;

/// Primary opcode 4 (VA, VX and VC forms).
pub fn decode(i: Insn) -> Option<Handler> {
    // VA-forms have bit 26 set; VX/VC-forms never do.
    if i.xo6() & 0x20 != 0 {
        return Some(match i.xo6() {
            32 => vmhaddshs,
            33 => vmhraddshs,
            34 => vmladduhm,
            35 => vmsumudm,
            36 => vmsumubm,
            37 => vmsummbm,
            38 => vmsumuhm,
            39 => vmsumuhs,
            40 => vmsumshm,
            41 => vmsumshs,
            42 => vsel,
            43 => vperm,
            44 if i.0 & 0x400 == 0 => vsldoi,
            45 => vpermxor,
            46 => fp::vmaddfp,
            47 => fp::vnmsubfp,
            59 => vpermr,
            60 => vaddeuqm,
            61 => vaddecuq,
            62 => vsubeuqm,
            63 => vsubecuq,
            _ => return None,
        });
    }
    // vmul10*uq and the decimal instructions: VX-forms with bits 26:31 = 0b000001.
    if i.xo6() == 1 {
        if let Some(h) = bcd::decode(i) {
            return Some(h);
        }
    }
    Some(match i.xo11() {
        // Modulo, carry and saturating add/subtract.
        0 => vaddubm,
        64 => vadduhm,
        128 => vadduwm,
        192 => vaddudm,
        256 => vadduqm,
        320 => vaddcuq,
        384 => vaddcuw,
        512 => vaddubs,
        576 => vadduhs,
        640 => vadduws,
        768 => vaddsbs,
        832 => vaddshs,
        896 => vaddsws,
        1024 => vsububm,
        1088 => vsubuhm,
        1152 => vsubuwm,
        1216 => vsubudm,
        1280 => vsubuqm,
        1344 => vsubcuq,
        1408 => vsubcuw,
        1536 => vsububs,
        1600 => vsubuhs,
        1664 => vsubuws,
        1792 => vsubsbs,
        1856 => vsubshs,
        1920 => vsubsws,
        // Maximum, minimum, average, absolute difference.
        2 => vmaxub,
        66 => vmaxuh,
        130 => vmaxuw,
        194 => vmaxud,
        258 => vmaxsb,
        322 => vmaxsh,
        386 => vmaxsw,
        450 => vmaxsd,
        514 => vminub,
        578 => vminuh,
        642 => vminuw,
        706 => vminud,
        770 => vminsb,
        834 => vminsh,
        898 => vminsw,
        962 => vminsd,
        1026 => vavgub,
        1090 => vavguh,
        1154 => vavguw,
        1282 => vavgsb,
        1346 => vavgsh,
        1410 => vavgsw,
        1027 => vabsdub,
        1091 => vabsduh,
        1155 => vabsduw,
        // Multiply and sum.
        8 => vmuloub,
        72 => vmulouh,
        136 => vmulouw,
        264 => vmulosb,
        328 => vmulosh,
        392 => vmulosw,
        520 => vmuleub,
        584 => vmuleuh,
        648 => vmuleuw,
        776 => vmulesb,
        840 => vmulesh,
        904 => vmulesw,
        137 => vmuluwm,
        1544 => vsum4ubs,
        1800 => vsum4sbs,
        1608 => vsum4shs,
        1672 => vsum2sws,
        1928 => vsumsws,
        // Integer compares; the record forms add 1024 (Rc is bit 21).
        6 | 1030 => vcmpequb,
        70 | 1094 => vcmpequh,
        134 | 1158 => vcmpequw,
        199 | 1223 => vcmpequd,
        7 | 1031 => vcmpneb,
        71 | 1095 => vcmpneh,
        135 | 1159 => vcmpnew,
        263 | 1287 => vcmpnezb,
        327 | 1351 => vcmpnezh,
        391 | 1415 => vcmpnezw,
        518 | 1542 => vcmpgtub,
        582 | 1606 => vcmpgtuh,
        646 | 1670 => vcmpgtuw,
        711 | 1735 => vcmpgtud,
        774 | 1798 => vcmpgtsb,
        838 | 1862 => vcmpgtsh,
        902 | 1926 => vcmpgtsw,
        967 | 1991 => vcmpgtsd,
        // Logical.
        1028 => vand,
        1092 => vandc,
        1156 => vor,
        1220 => vxor,
        1284 => vnor,
        1348 => vorc,
        1412 => vnand,
        1668 => veqv,
        // Rotates and shifts.
        4 => vrlb,
        68 => vrlh,
        132 => vrlw,
        196 => vrld,
        133 => vrlwmi,
        197 => vrldmi,
        389 => vrlwnm,
        453 => vrldnm,
        260 => vslb,
        324 => vslh,
        388 => vslw,
        1476 => vsld,
        516 => vsrb,
        580 => vsrh,
        644 => vsrw,
        1732 => vsrd,
        772 => vsrab,
        836 => vsrah,
        900 => vsraw,
        964 => vsrad,
        452 => vsl,
        708 => vsr,
        1036 => vslo,
        1100 => vsro,
        1860 => vslv,
        1796 => vsrv,
        // Merge, splat, pack, unpack, extract, insert.
        12 => vmrghb,
        76 => vmrghh,
        140 => vmrghw,
        268 => vmrglb,
        332 => vmrglh,
        396 => vmrglw,
        1932 => vmrgew,
        1676 => vmrgow,
        524 => vspltb,
        588 => vsplth,
        652 => vspltw,
        780 => vspltisb,
        844 => vspltish,
        908 => vspltisw,
        14 => vpkuhum,
        78 => vpkuwum,
        1102 => vpkudum,
        142 => vpkuhus,
        206 => vpkuwus,
        1230 => vpkudus,
        270 => vpkshus,
        334 => vpkswus,
        1358 => vpksdus,
        398 => vpkshss,
        462 => vpkswss,
        1486 => vpksdss,
        782 => vpkpx,
        526 => vupkhsb,
        590 => vupkhsh,
        1614 => vupkhsw,
        654 => vupklsb,
        718 => vupklsh,
        1742 => vupklsw,
        846 => vupkhpx,
        974 => vupklpx,
        525 => vextractub,
        589 => vextractuh,
        653 => vextractuw,
        717 => vextractd,
        781 => vinsertb,
        845 => vinserth,
        909 => vinsertw,
        973 => vinsertd,
        1549 => vextublx,
        1613 => vextuhlx,
        1677 => vextuwlx,
        1805 => vextubrx,
        1869 => vextuhrx,
        1933 => vextuwrx,
        // Counts, parity, negate, sign extension (xo 1538 is sub-decoded by the VRA field).
        1538 => match i.ra() {
            0 => vclzlsbb,
            1 => vctzlsbb,
            6 => vnegw,
            7 => vnegd,
            8 => vprtybw,
            9 => vprtybd,
            10 => vprtybq,
            16 => vextsb2w,
            17 => vextsh2w,
            24 => vextsb2d,
            25 => vextsh2d,
            26 => vextsw2d,
            28 => vctzb,
            29 => vctzh,
            30 => vctzw,
            31 => vctzd,
            _ => return None,
        },
        1794 => vclzb,
        1858 => vclzh,
        1922 => vclzw,
        1986 => vclzd,
        1795 => vpopcntb,
        1859 => vpopcnth,
        1923 => vpopcntw,
        1987 => vpopcntd,
        // Bit permutes, carry-less multiply, AES and SHA.
        1356 => crypto::vbpermq,
        1484 => crypto::vbpermd,
        1292 => crypto::vgbbd,
        1032 => crypto::vpmsumb,
        1096 => crypto::vpmsumh,
        1160 => crypto::vpmsumw,
        1224 => crypto::vpmsumd,
        1288 => crypto::vcipher,
        1289 => crypto::vcipherlast,
        1352 => crypto::vncipher,
        1353 => crypto::vncipherlast,
        1480 => crypto::vsbox,
        1666 => crypto::vshasigmaw,
        1730 => crypto::vshasigmad,
        // Status and control register.
        1540 => mfvscr,
        1604 => mtvscr,
        // Single-precision floating point.
        10 => fp::vaddfp,
        74 => fp::vsubfp,
        1034 => fp::vmaxfp,
        1098 => fp::vminfp,
        266 => fp::vrefp,
        330 => fp::vrsqrtefp,
        394 => fp::vexptefp,
        458 => fp::vlogefp,
        522 => fp::vrfin,
        586 => fp::vrfiz,
        650 => fp::vrfip,
        714 => fp::vrfim,
        778 => fp::vcfux,
        842 => fp::vcfsx,
        906 => fp::vctuxs,
        970 => fp::vctsxs,
        198 | 1222 => fp::vcmpeqfp,
        454 | 1478 => fp::vcmpgefp,
        710 | 1734 => fp::vcmpgtfp,
        966 | 1990 => fp::vcmpbfp,
        _ => return None,
    })
}

/// Opcode 31: the vector loads and stores and lvsl/lvsr.
fn stream_hint(_cpu: &mut Cpu, _i: Insn) -> Ex {
    Ok(())
}

pub fn decode31(i: Insn) -> Option<Handler> {
    Some(match i.xo10() {
        6 => lvsl,
        38 => lvsr,
        7 => lvebx,
        39 => lvehx,
        71 => lvewx,
        103 | 359 => lvx,
        135 => stvebx,
        167 => stvehx,
        199 => stvewx,
        231 | 487 => stvx,
        // dst/dstst/dss(all): data-stream touch hints, phased out in ISA 3.0 and no-ops on POWER9
        // (Linux still issues dssall on every mm switch).
        342 | 374 | 822 => stream_hint,
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------------
// Loads and stores.
//
// MEM(EA, 16) in little-endian mode is the 16 bytes at EA taken as one little-endian quadword, so
// with MSR[LE]=1 the byte at EA lands in element 15 (the least significant byte) and the whole
// quadword appears reversed; with MSR[LE]=0 the byte at EA is element 0.

/// lvx / lvxl: the aligned quadword containing EA.
fn lvx(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let ea = ea_x(cpu, i) & !15;
    let b = cpu.ld_bytes16(ea)?;
    let v = if cpu.le {
        u128::from_le_bytes(b)
    } else {
        u128::from_be_bytes(b)
    };
    cpu.set_vr(i.rt(), v);
    Ok(())
}

/// stvx / stvxl.
fn stvx(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let ea = ea_x(cpu, i) & !15;
    let v = cpu.vr(i.rt());
    let b = if cpu.le {
        v.to_le_bytes()
    } else {
        v.to_be_bytes()
    };
    cpu.st_bytes16(ea, b)
}

/// Bit offset (from the LSB) of the `len`-byte element that the element loads/stores move for the
/// aligned address `ea`: byte `ea & 15` of the quadword, numbered from the left in big-endian mode
/// and from the right in little-endian mode (as a quadword access would place it).
#[inline(always)]
fn elem_shift(cpu: &Cpu, ea: u64, len: u32) -> u32 {
    let eb = (ea & 15) as u32;
    if cpu.le {
        8 * eb
    } else {
        128 - 8 * (eb + len)
    }
}

/// The other elements of VRT are undefined after lvebx/lvehx/lvewx; they are left unchanged.
fn lv_elem(cpu: &mut Cpu, i: Insn, ea: u64, val: u128, len: u32) {
    let sh = elem_shift(cpu, ea, len);
    let mask = (u128::MAX >> (128 - 8 * len)) << sh;
    let v = cpu.vr(i.rt()) & !mask | val << sh;
    cpu.set_vr(i.rt(), v);
}

fn lvebx(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let ea = ea_x(cpu, i);
    let x = cpu.ld_u8(ea)?;
    lv_elem(cpu, i, ea, x as u128, 1);
    Ok(())
}

fn lvehx(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let ea = ea_x(cpu, i) & !1;
    let x = cpu.ld_u16(ea)?;
    lv_elem(cpu, i, ea, x as u128, 2);
    Ok(())
}

fn lvewx(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let ea = ea_x(cpu, i) & !3;
    let x = cpu.ld_u32(ea)?;
    lv_elem(cpu, i, ea, x as u128, 4);
    Ok(())
}

fn stvebx(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let ea = ea_x(cpu, i);
    let x = cpu.vr(i.rt()) >> elem_shift(cpu, ea, 1);
    cpu.st_u8(ea, x as u8)
}

fn stvehx(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let ea = ea_x(cpu, i) & !1;
    let x = cpu.vr(i.rt()) >> elem_shift(cpu, ea, 2);
    cpu.st_u16(ea, x as u16)
}

fn stvewx(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let ea = ea_x(cpu, i) & !3;
    let x = cpu.vr(i.rt()) >> elem_shift(cpu, ea, 4);
    cpu.st_u32(ea, x as u32)
}

/// Bytes 0x00, 0x01, ..., 0x0f; adding n to every byte gives the permute control n..n+15.
const IOTA: u128 = 0x0001_0203_0405_0607_0809_0a0b_0c0d_0e0f;
const ONES8: u128 = u128::MAX / 0xff;

/// lvsl: the vperm control selecting bytes sh..sh+15 (sh = EA[60:63]); no storage access.
fn lvsl(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let sh = (ea_x(cpu, i) & 15) as u128;
    cpu.set_vr(i.rt(), IOTA + sh * ONES8);
    Ok(())
}

/// lvsr: bytes 16-sh..31-sh.
fn lvsr(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let sh = (ea_x(cpu, i) & 15) as u128;
    cpu.set_vr(i.rt(), IOTA + (16 - sh) * ONES8);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Integer arithmetic.

vx2! {
    vaddubm: u8 => |a, b| a.wrapping_add(b);
    vadduhm: u16 => |a, b| a.wrapping_add(b);
    vadduwm: u32 => |a, b| a.wrapping_add(b);
    vaddudm: u64 => |a, b| a.wrapping_add(b);
    vaddcuw: u32 => |a, b| a.overflowing_add(b).1 as u32;
    vsububm: u8 => |a, b| a.wrapping_sub(b);
    vsubuhm: u16 => |a, b| a.wrapping_sub(b);
    vsubuwm: u32 => |a, b| a.wrapping_sub(b);
    vsubudm: u64 => |a, b| a.wrapping_sub(b);
    // The carry out of a + ~b + 1 is set exactly when a >= b.
    vsubcuw: u32 => |a, b| (a >= b) as u32;
}

vq2! {
    vadduqm => |a, b| a.wrapping_add(b);
    vaddcuq => |a, b| a.overflowing_add(b).1 as u128;
    vsubuqm => |a, b| a.wrapping_sub(b);
    vsubcuq => |a, b| (a >= b) as u128;
}

/// a + b + c, with the carry in taken from the last bit of c, and the carry out.
#[inline(always)]
fn add3(a: u128, b: u128, c: u128) -> (u128, bool) {
    let (s, c1) = a.overflowing_add(b);
    let (s, c2) = s.overflowing_add(c & 1);
    (s, c1 | c2)
}

vq3! {
    vaddeuqm => |a, b, c| add3(a, b, c).0;
    vaddecuq => |a, b, c| add3(a, b, c).1 as u128;
    vsubeuqm => |a, b, c| add3(a, !b, c).0;
    vsubecuq => |a, b, c| add3(a, !b, c).1 as u128;
}

vx2_sat! {
    vaddubs: u8 => |a, b, s| sat_u(a as i128 + b as i128, 8, s) as u8;
    vadduhs: u16 => |a, b, s| sat_u(a as i128 + b as i128, 16, s) as u16;
    vadduws: u32 => |a, b, s| sat_u(a as i128 + b as i128, 32, s) as u32;
    vaddsbs: u8 => |a, b, s| sat_s(a as i8 as i128 + b as i8 as i128, 8, s) as u8;
    vaddshs: u16 => |a, b, s| sat_s(a as i16 as i128 + b as i16 as i128, 16, s) as u16;
    vaddsws: u32 => |a, b, s| sat_s(a as i32 as i128 + b as i32 as i128, 32, s) as u32;
    vsububs: u8 => |a, b, s| sat_u(a as i128 - b as i128, 8, s) as u8;
    vsubuhs: u16 => |a, b, s| sat_u(a as i128 - b as i128, 16, s) as u16;
    vsubuws: u32 => |a, b, s| sat_u(a as i128 - b as i128, 32, s) as u32;
    vsubsbs: u8 => |a, b, s| sat_s(a as i8 as i128 - b as i8 as i128, 8, s) as u8;
    vsubshs: u16 => |a, b, s| sat_s(a as i16 as i128 - b as i16 as i128, 16, s) as u16;
    vsubsws: u32 => |a, b, s| sat_s(a as i32 as i128 - b as i32 as i128, 32, s) as u32;
}

vx2! {
    vmaxub: u8 => |a, b| a.max(b);
    vmaxuh: u16 => |a, b| a.max(b);
    vmaxuw: u32 => |a, b| a.max(b);
    vmaxud: u64 => |a, b| a.max(b);
    vmaxsb: u8 => |a, b| (a as i8).max(b as i8) as u8;
    vmaxsh: u16 => |a, b| (a as i16).max(b as i16) as u16;
    vmaxsw: u32 => |a, b| (a as i32).max(b as i32) as u32;
    vmaxsd: u64 => |a, b| (a as i64).max(b as i64) as u64;
    vminub: u8 => |a, b| a.min(b);
    vminuh: u16 => |a, b| a.min(b);
    vminuw: u32 => |a, b| a.min(b);
    vminud: u64 => |a, b| a.min(b);
    vminsb: u8 => |a, b| (a as i8).min(b as i8) as u8;
    vminsh: u16 => |a, b| (a as i16).min(b as i16) as u16;
    vminsw: u32 => |a, b| (a as i32).min(b as i32) as u32;
    vminsd: u64 => |a, b| (a as i64).min(b as i64) as u64;
    // (a + b + 1) >> 1 computed without overflow.
    vavgub: u8 => |a, b| ((a as u64 + b as u64 + 1) >> 1) as u8;
    vavguh: u16 => |a, b| ((a as u64 + b as u64 + 1) >> 1) as u16;
    vavguw: u32 => |a, b| ((a as u64 + b as u64 + 1) >> 1) as u32;
    vavgsb: u8 => |a, b| ((a as i8 as i64 + b as i8 as i64 + 1) >> 1) as u8;
    vavgsh: u16 => |a, b| ((a as i16 as i64 + b as i16 as i64 + 1) >> 1) as u16;
    vavgsw: u32 => |a, b| ((a as i32 as i64 + b as i32 as i64 + 1) >> 1) as u32;
    vabsdub: u8 => |a, b| a.abs_diff(b);
    vabsduh: u16 => |a, b| a.abs_diff(b);
    vabsduw: u32 => |a, b| a.abs_diff(b);
}

// Even/odd multiplies: the even elements of the narrow type are the high halves of the wide
// elements, the odd ones the low halves, so they are done on the wide (result) lanes.
vx2! {
    vmuleub: u16 => |a, b| (a >> 8) * (b >> 8);
    vmuloub: u16 => |a, b| (a & 0xff) * (b & 0xff);
    vmulesb: u16 => |a, b| ((a >> 8) as u8 as i8 as i16 * (b >> 8) as u8 as i8 as i16) as u16;
    vmulosb: u16 => |a, b| (a as u8 as i8 as i16 * b as u8 as i8 as i16) as u16;
    vmuleuh: u32 => |a, b| (a >> 16) * (b >> 16);
    vmulouh: u32 => |a, b| (a & 0xffff) * (b & 0xffff);
    vmulesh: u32 => |a, b| ((a >> 16) as u16 as i16 as i32 * (b >> 16) as u16 as i16 as i32) as u32;
    vmulosh: u32 => |a, b| (a as u16 as i16 as i32 * b as u16 as i16 as i32) as u32;
    vmuleuw: u64 => |a, b| (a >> 32) * (b >> 32);
    vmulouw: u64 => |a, b| (a & 0xffff_ffff) * (b & 0xffff_ffff);
    vmulesw: u64 => |a, b| ((a >> 32) as u32 as i32 as i64 * (b >> 32) as u32 as i32 as i64) as u64;
    vmulosw: u64 => |a, b| (a as u32 as i32 as i64 * b as u32 as i32 as i64) as u64;
    vmuluwm: u32 => |a, b| a.wrapping_mul(b);
}

/// Signed or unsigned bytes / halfwords of a word, element 0 first.
#[inline(always)]
fn bytes_u(w: u32) -> [i64; 4] {
    w.to_be_bytes().map(|x| x as i64)
}
#[inline(always)]
fn bytes_s(w: u32) -> [i64; 4] {
    w.to_be_bytes().map(|x| x as i8 as i64)
}
#[inline(always)]
fn halves_u(w: u32) -> [i64; 2] {
    [(w >> 16) as i64, (w & 0xffff) as i64]
}
#[inline(always)]
fn halves_s(w: u32) -> [i64; 2] {
    [(w >> 16) as i16 as i64, w as i16 as i64]
}

/// VA-form word-lane sums: `VRT.word <- f(VRA.word, VRB.word, VRC.word, sat)`.
fn va_words(cpu: &mut Cpu, i: Insn, f: impl Fn(u32, u32, u32, &mut bool) -> u32) -> Ex {
    cpu.check_vec()?;
    let (a, b, c) = (cpu.vr(i.ra()), cpu.vr(i.rb()), cpu.vr(i.rc()));
    let mut sat = false;
    let (a, b, c) = (split::<u32, 4>(a), split::<u32, 4>(b), split::<u32, 4>(c));
    let mut r = [0u32; 4];
    for k in 0..4 {
        r[k] = f(a[k], b[k], c[k], &mut sat);
    }
    cpu.set_vr(i.rt(), join::<u32, 4>(r));
    note_sat(cpu, sat);
    Ok(())
}

fn dot<const N: usize>(a: [i64; N], b: [i64; N]) -> i64 {
    a.iter().zip(b.iter()).map(|(x, y)| x * y).sum()
}

fn vmsumubm(cpu: &mut Cpu, i: Insn) -> Ex {
    va_words(cpu, i, |a, b, c, _| {
        (dot(bytes_u(a), bytes_u(b)) as u32).wrapping_add(c)
    })
}

fn vmsummbm(cpu: &mut Cpu, i: Insn) -> Ex {
    va_words(cpu, i, |a, b, c, _| {
        (dot(bytes_s(a), bytes_u(b)) as u32).wrapping_add(c)
    })
}

fn vmsumuhm(cpu: &mut Cpu, i: Insn) -> Ex {
    va_words(cpu, i, |a, b, c, _| {
        (dot(halves_u(a), halves_u(b)) as u32).wrapping_add(c)
    })
}

fn vmsumuhs(cpu: &mut Cpu, i: Insn) -> Ex {
    va_words(cpu, i, |a, b, c, s| {
        sat_u((dot(halves_u(a), halves_u(b)) + c as i64) as i128, 32, s) as u32
    })
}

fn vmsumshm(cpu: &mut Cpu, i: Insn) -> Ex {
    va_words(cpu, i, |a, b, c, _| {
        (dot(halves_s(a), halves_s(b)) as u32).wrapping_add(c)
    })
}

fn vmsumshs(cpu: &mut Cpu, i: Insn) -> Ex {
    va_words(cpu, i, |a, b, c, s| {
        sat_s(
            (dot(halves_s(a), halves_s(b)) + c as i32 as i64) as i128,
            32,
            s,
        ) as u32
    })
}

/// vmsumudm: the two 64x64 products plus VRC, all modulo 2^128.
fn vmsumudm(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let (a, b, c) = (cpu.vr(i.ra()), cpu.vr(i.rb()), cpu.vr(i.rc()));
    let p0 = (a >> 64) * (b >> 64);
    let p1 = (a as u64 as u128) * (b as u64 as u128);
    cpu.set_vr(i.rt(), p0.wrapping_add(p1).wrapping_add(c));
    Ok(())
}

/// VA-form halfword multiply-high/low-add.
fn va_halves(cpu: &mut Cpu, i: Insn, f: impl Fn(u16, u16, u16, &mut bool) -> u16) -> Ex {
    cpu.check_vec()?;
    let (a, b, c) = (cpu.vr(i.ra()), cpu.vr(i.rb()), cpu.vr(i.rc()));
    let (a, b, c) = (split::<u16, 8>(a), split::<u16, 8>(b), split::<u16, 8>(c));
    let mut sat = false;
    let mut r = [0u16; 8];
    for k in 0..8 {
        r[k] = f(a[k], b[k], c[k], &mut sat);
    }
    cpu.set_vr(i.rt(), join::<u16, 8>(r));
    note_sat(cpu, sat);
    Ok(())
}

fn vmhaddshs(cpu: &mut Cpu, i: Insn) -> Ex {
    va_halves(cpu, i, |a, b, c, s| {
        let p = (a as i16 as i64 * b as i16 as i64) >> 15;
        sat_s((p + c as i16 as i64) as i128, 16, s) as u16
    })
}

fn vmhraddshs(cpu: &mut Cpu, i: Insn) -> Ex {
    va_halves(cpu, i, |a, b, c, s| {
        let p = (a as i16 as i64 * b as i16 as i64 + 0x4000) >> 15;
        sat_s((p + c as i16 as i64) as i128, 16, s) as u16
    })
}

fn vmladduhm(cpu: &mut Cpu, i: Insn) -> Ex {
    va_halves(cpu, i, |a, b, c, _| a.wrapping_mul(b).wrapping_add(c))
}

vx2_sat! {
    vsum4ubs: u32 => |a, b, s| sat_u(bytes_u(a).iter().sum::<i64>() as i128 + b as i128, 32, s) as u32;
    vsum4sbs: u32 => |a, b, s| sat_s(bytes_s(a).iter().sum::<i64>() as i128 + b as i32 as i128, 32, s) as u32;
    vsum4shs: u32 => |a, b, s| sat_s(halves_s(a).iter().sum::<i64>() as i128 + b as i32 as i128, 32, s) as u32;
}

/// vsum2sws: words 1 and 3 get the saturated sums of the VRA word pairs plus VRB words 1 and 3.
fn vsum2sws(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let (a, b) = (
        split::<u32, 4>(cpu.vr(i.ra())),
        split::<u32, 4>(cpu.vr(i.rb())),
    );
    let mut sat = false;
    let mut r = [0u32; 4];
    for k in [0, 2] {
        let sum = a[k] as i32 as i128 + a[k + 1] as i32 as i128 + b[k + 1] as i32 as i128;
        r[k + 1] = sat_s(sum, 32, &mut sat) as u32;
    }
    cpu.set_vr(i.rt(), join::<u32, 4>(r));
    note_sat(cpu, sat);
    Ok(())
}

/// vsumsws: word 3 gets the saturated sum of all VRA words plus VRB word 3.
fn vsumsws(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let (a, b) = (
        split::<u32, 4>(cpu.vr(i.ra())),
        split::<u32, 4>(cpu.vr(i.rb())),
    );
    let sum = a.iter().map(|&x| x as i32 as i128).sum::<i128>() + b[3] as i32 as i128;
    let mut sat = false;
    let r = sat_s(sum, 32, &mut sat) as u32;
    cpu.set_vr(i.rt(), r as u128);
    note_sat(cpu, sat);
    Ok(())
}

vx1! {
    vnegw: u32 => |b| b.wrapping_neg();
    vnegd: u64 => |b| b.wrapping_neg();
    vextsb2w: u32 => |b| b as u8 as i8 as i32 as u32;
    vextsh2w: u32 => |b| b as u16 as i16 as i32 as u32;
    vextsb2d: u64 => |b| b as u8 as i8 as i64 as u64;
    vextsh2d: u64 => |b| b as u16 as i16 as i64 as u64;
    vextsw2d: u64 => |b| b as u32 as i32 as i64 as u64;
    // Parity of the least significant bit of each byte of the element.
    vprtybw: u32 => |b| (b & 0x0101_0101).count_ones() & 1;
    vprtybd: u64 => |b| ((b & 0x0101_0101_0101_0101).count_ones() & 1) as u64;
    vclzb: u8 => |b| b.leading_zeros() as u8;
    vclzh: u16 => |b| b.leading_zeros() as u16;
    vclzw: u32 => |b| b.leading_zeros();
    vclzd: u64 => |b| b.leading_zeros() as u64;
    vctzb: u8 => |b| b.trailing_zeros() as u8;
    vctzh: u16 => |b| b.trailing_zeros() as u16;
    vctzw: u32 => |b| b.trailing_zeros();
    vctzd: u64 => |b| b.trailing_zeros() as u64;
    vpopcntb: u8 => |b| b.count_ones() as u8;
    vpopcnth: u16 => |b| b.count_ones() as u16;
    vpopcntw: u32 => |b| b.count_ones();
    vpopcntd: u64 => |b| b.count_ones() as u64;
}

fn vprtybq(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let b = cpu.vr(i.rb());
    cpu.set_vr(i.rt(), ((b & ONES8).count_ones() & 1) as u128);
    Ok(())
}

/// vclzlsbb: RT <- number of leading bytes (from byte 0) whose least significant bit is 0.
fn vclzlsbb(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let m = cpu.vr(i.rb()) & ONES8;
    cpu.gpr[i.rt()] = (m.leading_zeros() / 8) as u64;
    Ok(())
}

/// vctzlsbb: the same counted from byte 15.
fn vctzlsbb(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let m = cpu.vr(i.rb()) & ONES8;
    cpu.gpr[i.rt()] = (m.trailing_zeros() / 8) as u64;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Compares.

vx_cmp! {
    vcmpequb: u8 => |a, b| a == b;
    vcmpequh: u16 => |a, b| a == b;
    vcmpequw: u32 => |a, b| a == b;
    vcmpequd: u64 => |a, b| a == b;
    vcmpneb: u8 => |a, b| a != b;
    vcmpneh: u16 => |a, b| a != b;
    vcmpnew: u32 => |a, b| a != b;
    vcmpnezb: u8 => |a, b| a != b || a == 0 || b == 0;
    vcmpnezh: u16 => |a, b| a != b || a == 0 || b == 0;
    vcmpnezw: u32 => |a, b| a != b || a == 0 || b == 0;
    vcmpgtub: u8 => |a, b| a > b;
    vcmpgtuh: u16 => |a, b| a > b;
    vcmpgtuw: u32 => |a, b| a > b;
    vcmpgtud: u64 => |a, b| a > b;
    vcmpgtsb: u8 => |a, b| a as i8 > b as i8;
    vcmpgtsh: u16 => |a, b| a as i16 > b as i16;
    vcmpgtsw: u32 => |a, b| a as i32 > b as i32;
    vcmpgtsd: u64 => |a, b| a as i64 > b as i64;
}

// ---------------------------------------------------------------------------------------------
// Logical.

vq2! {
    vand => |a, b| a & b;
    vandc => |a, b| a & !b;
    vor => |a, b| a | b;
    vxor => |a, b| a ^ b;
    vnor => |a, b| !(a | b);
    vorc => |a, b| a | !b;
    vnand => |a, b| !(a & b);
    veqv => |a, b| !(a ^ b);
}

// ---------------------------------------------------------------------------------------------
// Rotates and shifts. The shift count of each element is the low log2(bits) bits of the VRB
// element, which is exactly what wrapping_shl/shr and rotate_left do with their count.

vx2! {
    vrlb: u8 => |a, b| a.rotate_left(b as u32);
    vrlh: u16 => |a, b| a.rotate_left(b as u32);
    vrlw: u32 => |a, b| a.rotate_left(b);
    vrld: u64 => |a, b| a.rotate_left(b as u32);
    vslb: u8 => |a, b| a.wrapping_shl(b as u32);
    vslh: u16 => |a, b| a.wrapping_shl(b as u32);
    vslw: u32 => |a, b| a.wrapping_shl(b);
    vsld: u64 => |a, b| a.wrapping_shl(b as u32);
    vsrb: u8 => |a, b| a.wrapping_shr(b as u32);
    vsrh: u16 => |a, b| a.wrapping_shr(b as u32);
    vsrw: u32 => |a, b| a.wrapping_shr(b);
    vsrd: u64 => |a, b| a.wrapping_shr(b as u32);
    vsrab: u8 => |a, b| (a as i8).wrapping_shr(b as u32) as u8;
    vsrah: u16 => |a, b| (a as i16).wrapping_shr(b as u32) as u16;
    vsraw: u32 => |a, b| (a as i32).wrapping_shr(b) as u32;
    vsrad: u64 => |a, b| (a as i64).wrapping_shr(b as u32) as u64;
}

/// The ISA's MASK(mb, me) on an n-bit element (bit 0 = MSB), wrapping when mb > me.
#[inline(always)]
fn mask_n(mb: u32, me: u32, n: u32) -> u64 {
    let all = u64::MAX >> (64 - n);
    let from_mb = all >> mb;
    let to_me = all << (n - 1 - me) & all;
    if mb <= me {
        from_mb & to_me
    } else {
        from_mb | to_me
    }
}

// vrl[wd]mi / vrl[wd]nm: each VRB element holds the mask begin, mask end and rotate count, in
// bits 11:15, 19:23, 27:31 of a word and bits 42:47, 50:55, 58:63 of a doubleword.

/// The word rotate-and-mask: returns (rotated, mask).
#[inline(always)]
fn rlw_parts(a: u32, b: u32) -> (u32, u32) {
    let (mb, me, sh) = (b >> 16 & 31, b >> 8 & 31, b & 31);
    (a.rotate_left(sh), mask_n(mb, me, 32) as u32)
}

#[inline(always)]
fn rld_parts(a: u64, b: u64) -> (u64, u64) {
    let (mb, me, sh) = (b >> 16 & 63, b >> 8 & 63, b & 63);
    (a.rotate_left(sh as u32), mask_n(mb as u32, me as u32, 64))
}

vx2! {
    vrlwnm: u32 => |a, b| { let (r, m) = rlw_parts(a, b); r & m };
    vrldnm: u64 => |a, b| { let (r, m) = rld_parts(a, b); r & m };
}

fn vrlwmi(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let (a, b, t) = (cpu.vr(i.ra()), cpu.vr(i.rb()), cpu.vr(i.rt()));
    let r = map3::<u32, 4>(a, b, t, |a, b, t| {
        let (r, m) = rlw_parts(a, b);
        r & m | t & !m
    });
    cpu.set_vr(i.rt(), r);
    Ok(())
}

fn vrldmi(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let (a, b, t) = (cpu.vr(i.ra()), cpu.vr(i.rb()), cpu.vr(i.rt()));
    let r = map3::<u64, 2>(a, b, t, |a, b, t| {
        let (r, m) = rld_parts(a, b);
        r & m | t & !m
    });
    cpu.set_vr(i.rt(), r);
    Ok(())
}

vq2! {
    // vsl/vsr shift the whole register by VRB bits 125:127; vslo/vsro by octets, VRB bits 121:124.
    vsl => |a, b| a << (b & 7);
    vsr => |a, b| a >> (b & 7);
    vslo => |a, b| a << (b & 0x78);
    vsro => |a, b| a >> (b & 0x78);
}

/// vslv: each byte i is shifted left by VRB byte i [5:7], pulling bits in from byte i+1.
fn vslv(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let (a, b) = (cpu.vr(i.ra()).to_be_bytes(), cpu.vr(i.rb()).to_be_bytes());
    let mut r = [0u8; 16];
    for k in 0..16 {
        let next = if k < 15 { a[k + 1] } else { 0 };
        let pair = (a[k] as u16) << 8 | next as u16;
        r[k] = (pair << (b[k] & 7) >> 8) as u8;
    }
    cpu.set_vr(i.rt(), u128::from_be_bytes(r));
    Ok(())
}

/// vsrv: each byte i is shifted right by VRB byte i [5:7], pulling bits in from byte i-1.
fn vsrv(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let (a, b) = (cpu.vr(i.ra()).to_be_bytes(), cpu.vr(i.rb()).to_be_bytes());
    let mut r = [0u8; 16];
    for k in 0..16 {
        let prev = if k > 0 { a[k - 1] } else { 0 };
        let pair = (prev as u16) << 8 | a[k] as u16;
        r[k] = (pair >> (b[k] & 7)) as u8;
    }
    cpu.set_vr(i.rt(), u128::from_be_bytes(r));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Permute, select, shift by octets.

/// The 32 bytes of VRA || VRB.
#[inline(always)]
fn concat(a: u128, b: u128) -> [u8; 32] {
    let mut ab = [0u8; 32];
    ab[..16].copy_from_slice(&a.to_be_bytes());
    ab[16..].copy_from_slice(&b.to_be_bytes());
    ab
}

/// vperm: byte i of VRT is byte (VRC byte i)[3:7] of VRA || VRB.
fn vperm(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let ab = concat(cpu.vr(i.ra()), cpu.vr(i.rb()));
    let c = cpu.vr(i.rc()).to_be_bytes();
    cpu.set_vr(
        i.rt(),
        u128::from_be_bytes(c.map(|x| ab[(x & 31) as usize])),
    );
    Ok(())
}

/// vpermr: as vperm with the index counted from the right (31 - index).
fn vpermr(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let ab = concat(cpu.vr(i.ra()), cpu.vr(i.rb()));
    let c = cpu.vr(i.rc()).to_be_bytes();
    cpu.set_vr(
        i.rt(),
        u128::from_be_bytes(c.map(|x| ab[31 - (x & 31) as usize])),
    );
    Ok(())
}

/// vpermxor: byte i = VRA byte (VRC byte i)[0:3] xor VRB byte (VRC byte i)[4:7].
fn vpermxor(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let (a, b) = (cpu.vr(i.ra()).to_be_bytes(), cpu.vr(i.rb()).to_be_bytes());
    let c = cpu.vr(i.rc()).to_be_bytes();
    let r = c.map(|x| a[(x >> 4) as usize] ^ b[(x & 15) as usize]);
    cpu.set_vr(i.rt(), u128::from_be_bytes(r));
    Ok(())
}

vq3! {
    vsel => |a, b, c| a & !c | b & c;
}

/// vsldoi: bytes SHB..SHB+15 of VRA || VRB (SHB is bits 22:25).
fn vsldoi(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let (a, b) = (cpu.vr(i.ra()), cpu.vr(i.rb()));
    let sh = (i.0 >> 6 & 15) * 8;
    let r = if sh == 0 {
        a
    } else {
        a << sh | b >> (128 - sh)
    };
    cpu.set_vr(i.rt(), r);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Merge and splat.

/// Interleaves the high (elements 0..N/2) or low halves of VRA and VRB, VRA first.
#[inline(always)]
fn merge<T: Lane, const N: usize>(cpu: &mut Cpu, i: Insn, low: bool) -> Ex {
    cpu.check_vec()?;
    let (a, b) = (split::<T, N>(cpu.vr(i.ra())), split::<T, N>(cpu.vr(i.rb())));
    let base = if low { N / 2 } else { 0 };
    let mut r = [T::default(); N];
    for k in 0..N / 2 {
        r[2 * k] = a[base + k];
        r[2 * k + 1] = b[base + k];
    }
    cpu.set_vr(i.rt(), join::<T, N>(r));
    Ok(())
}

fn vmrghb(cpu: &mut Cpu, i: Insn) -> Ex {
    merge::<u8, 16>(cpu, i, false)
}
fn vmrghh(cpu: &mut Cpu, i: Insn) -> Ex {
    merge::<u16, 8>(cpu, i, false)
}
fn vmrghw(cpu: &mut Cpu, i: Insn) -> Ex {
    merge::<u32, 4>(cpu, i, false)
}
fn vmrglb(cpu: &mut Cpu, i: Insn) -> Ex {
    merge::<u8, 16>(cpu, i, true)
}
fn vmrglh(cpu: &mut Cpu, i: Insn) -> Ex {
    merge::<u16, 8>(cpu, i, true)
}
fn vmrglw(cpu: &mut Cpu, i: Insn) -> Ex {
    merge::<u32, 4>(cpu, i, true)
}

/// vmrgew / vmrgow: the even (or odd) words of VRA and VRB, interleaved.
fn merge_eo(cpu: &mut Cpu, i: Insn, odd: usize) -> Ex {
    cpu.check_vec()?;
    let (a, b) = (
        split::<u32, 4>(cpu.vr(i.ra())),
        split::<u32, 4>(cpu.vr(i.rb())),
    );
    let r = [a[odd], b[odd], a[2 + odd], b[2 + odd]];
    cpu.set_vr(i.rt(), join::<u32, 4>(r));
    Ok(())
}

fn vmrgew(cpu: &mut Cpu, i: Insn) -> Ex {
    merge_eo(cpu, i, 0)
}
fn vmrgow(cpu: &mut Cpu, i: Insn) -> Ex {
    merge_eo(cpu, i, 1)
}

/// vsplt[bhw]: replicates element UIM of VRB (UIM is the low bits of the VRA field).
#[inline(always)]
fn splt<T: Lane, const N: usize>(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    let e = split::<T, N>(cpu.vr(i.rb()))[i.ra() & (N - 1)];
    cpu.set_vr(i.rt(), splat::<T, N>(e));
    Ok(())
}

fn vspltb(cpu: &mut Cpu, i: Insn) -> Ex {
    splt::<u8, 16>(cpu, i)
}
fn vsplth(cpu: &mut Cpu, i: Insn) -> Ex {
    splt::<u16, 8>(cpu, i)
}
fn vspltw(cpu: &mut Cpu, i: Insn) -> Ex {
    splt::<u32, 4>(cpu, i)
}

/// The 5-bit signed immediate of vspltis[bhw] (the VRA field).
#[inline(always)]
fn sim(i: Insn) -> i64 {
    ((i.ra() as i64) << 59) >> 59
}

fn vspltisb(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    cpu.set_vr(i.rt(), splat::<u8, 16>(sim(i) as u8));
    Ok(())
}
fn vspltish(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    cpu.set_vr(i.rt(), splat::<u16, 8>(sim(i) as u16));
    Ok(())
}
fn vspltisw(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    cpu.set_vr(i.rt(), splat::<u32, 4>(sim(i) as u32));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Pack and unpack.

/// Packs the N wide elements of VRA then those of VRB into narrow elements of half the width.
#[inline(always)]
fn pack<W: Lane, const N: usize>(cpu: &mut Cpu, i: Insn, f: impl Fn(W, &mut bool) -> u128) -> Ex {
    cpu.check_vec()?;
    let (a, b) = (split::<W, N>(cpu.vr(i.ra())), split::<W, N>(cpu.vr(i.rb())));
    let nb = W::BITS / 2;
    let m = (1u128 << nb) - 1;
    let mut sat = false;
    let mut r = 0u128;
    for &e in a.iter().chain(b.iter()) {
        r = r << nb | f(e, &mut sat) & m;
    }
    cpu.set_vr(i.rt(), r);
    note_sat(cpu, sat);
    Ok(())
}

fn vpkuhum(cpu: &mut Cpu, i: Insn) -> Ex {
    pack::<u16, 8>(cpu, i, |e, _| e as u128)
}
fn vpkuwum(cpu: &mut Cpu, i: Insn) -> Ex {
    pack::<u32, 4>(cpu, i, |e, _| e as u128)
}
fn vpkudum(cpu: &mut Cpu, i: Insn) -> Ex {
    pack::<u64, 2>(cpu, i, |e, _| e as u128)
}
fn vpkuhus(cpu: &mut Cpu, i: Insn) -> Ex {
    pack::<u16, 8>(cpu, i, |e, s| sat_u(e as i128, 8, s) as u128)
}
fn vpkuwus(cpu: &mut Cpu, i: Insn) -> Ex {
    pack::<u32, 4>(cpu, i, |e, s| sat_u(e as i128, 16, s) as u128)
}
fn vpkudus(cpu: &mut Cpu, i: Insn) -> Ex {
    pack::<u64, 2>(cpu, i, |e, s| sat_u(e as i128, 32, s) as u128)
}
fn vpkshus(cpu: &mut Cpu, i: Insn) -> Ex {
    pack::<u16, 8>(cpu, i, |e, s| sat_u(e as i16 as i128, 8, s) as u128)
}
fn vpkswus(cpu: &mut Cpu, i: Insn) -> Ex {
    pack::<u32, 4>(cpu, i, |e, s| sat_u(e as i32 as i128, 16, s) as u128)
}
fn vpksdus(cpu: &mut Cpu, i: Insn) -> Ex {
    pack::<u64, 2>(cpu, i, |e, s| sat_u(e as i64 as i128, 32, s) as u128)
}
fn vpkshss(cpu: &mut Cpu, i: Insn) -> Ex {
    pack::<u16, 8>(cpu, i, |e, s| sat_s(e as i16 as i128, 8, s) as u128)
}
fn vpkswss(cpu: &mut Cpu, i: Insn) -> Ex {
    pack::<u32, 4>(cpu, i, |e, s| sat_s(e as i32 as i128, 16, s) as u128)
}
fn vpksdss(cpu: &mut Cpu, i: Insn) -> Ex {
    pack::<u64, 2>(cpu, i, |e, s| sat_s(e as i64 as i128, 32, s) as u128)
}

/// vpkpx: 32-bit pixels to 1:5:5:5 (bit 7, and bits 8:12, 16:20, 24:28 of each word).
fn vpkpx(cpu: &mut Cpu, i: Insn) -> Ex {
    pack::<u32, 4>(cpu, i, |w, _| {
        ((w >> 24 & 1) << 15 | (w >> 19 & 31) << 10 | (w >> 11 & 31) << 5 | (w >> 3 & 31)) as u128
    })
}

/// Widens the elements of the high (elements 0..) or low doubleword of VRB: `nb` is the narrow
/// element width in bits, `f` widens one element to `2 * nb` bits.
#[inline(always)]
fn unpack(cpu: &mut Cpu, i: Insn, low: bool, nb: u32, f: impl Fn(u64) -> u128) -> Ex {
    cpu.check_vec()?;
    let b = cpu.vr(i.rb());
    let src = if low { b as u64 } else { (b >> 64) as u64 };
    let n = 64 / nb;
    let m = u64::MAX >> (64 - nb);
    let mut r = 0u128;
    for k in 0..n {
        let e = src >> (64 - nb * (k + 1)) & m;
        r = r << (2 * nb) | f(e) & (u128::MAX >> (128 - 2 * nb));
    }
    cpu.set_vr(i.rt(), r);
    Ok(())
}

fn vupkhsb(cpu: &mut Cpu, i: Insn) -> Ex {
    unpack(cpu, i, false, 8, |e| e as u8 as i8 as i128 as u128)
}
fn vupklsb(cpu: &mut Cpu, i: Insn) -> Ex {
    unpack(cpu, i, true, 8, |e| e as u8 as i8 as i128 as u128)
}
fn vupkhsh(cpu: &mut Cpu, i: Insn) -> Ex {
    unpack(cpu, i, false, 16, |e| e as u16 as i16 as i128 as u128)
}
fn vupklsh(cpu: &mut Cpu, i: Insn) -> Ex {
    unpack(cpu, i, true, 16, |e| e as u16 as i16 as i128 as u128)
}
fn vupkhsw(cpu: &mut Cpu, i: Insn) -> Ex {
    unpack(cpu, i, false, 32, |e| e as u32 as i32 as i128 as u128)
}
fn vupklsw(cpu: &mut Cpu, i: Insn) -> Ex {
    unpack(cpu, i, true, 32, |e| e as u32 as i32 as i128 as u128)
}

/// 1:5:5:5 pixel to 8:8:8:8, the 1-bit field sign-extended to a byte.
#[inline(always)]
fn unpx(p: u64) -> u128 {
    let a = if p & 0x8000 != 0 { 0xff } else { 0 };
    (a << 24 | (p >> 10 & 31) << 16 | (p >> 5 & 31) << 8 | p & 31) as u128
}

fn vupkhpx(cpu: &mut Cpu, i: Insn) -> Ex {
    unpack(cpu, i, false, 16, unpx)
}
fn vupklpx(cpu: &mut Cpu, i: Insn) -> Ex {
    unpack(cpu, i, true, 16, unpx)
}

// ---------------------------------------------------------------------------------------------
// Extract and insert. Byte ranges that run past byte 15 (UIM too large for the element) are
// undefined in the ISA; here the missing bytes read as zero and are not written.

/// vextractu[bhw] / vextractd: `len` bytes of VRB from byte UIM (bits 12:15), zero-extended into
/// doubleword 0 of VRT; doubleword 1 is cleared.
#[inline(always)]
fn extract(cpu: &mut Cpu, i: Insn, len: u32) -> Ex {
    cpu.check_vec()?;
    let uim = (i.ra() & 15) as u32;
    let v = cpu.vr(i.rb()) << (8 * uim) >> (128 - 8 * len);
    cpu.set_vr(i.rt(), v << 64);
    Ok(())
}

fn vextractub(cpu: &mut Cpu, i: Insn) -> Ex {
    extract(cpu, i, 1)
}
fn vextractuh(cpu: &mut Cpu, i: Insn) -> Ex {
    extract(cpu, i, 2)
}
fn vextractuw(cpu: &mut Cpu, i: Insn) -> Ex {
    extract(cpu, i, 4)
}
fn vextractd(cpu: &mut Cpu, i: Insn) -> Ex {
    extract(cpu, i, 8)
}

/// vinsert[bhw] / vinsertd: the rightmost `len` bytes of doubleword 0 of VRB go to bytes
/// UIM..UIM+len-1 of VRT; the rest of VRT is unchanged.
#[inline(always)]
fn insert(cpu: &mut Cpu, i: Insn, len: u32) -> Ex {
    cpu.check_vec()?;
    let uim = (i.ra() & 15) as u32;
    let src = (cpu.vr(i.rb()) >> 64) << (128 - 8 * len) >> (8 * uim);
    let mask = (u128::MAX << (128 - 8 * len)) >> (8 * uim);
    let t = cpu.vr(i.rt());
    cpu.set_vr(i.rt(), t & !mask | src & mask);
    Ok(())
}

fn vinsertb(cpu: &mut Cpu, i: Insn) -> Ex {
    insert(cpu, i, 1)
}
fn vinserth(cpu: &mut Cpu, i: Insn) -> Ex {
    insert(cpu, i, 2)
}
fn vinsertw(cpu: &mut Cpu, i: Insn) -> Ex {
    insert(cpu, i, 4)
}
fn vinsertd(cpu: &mut Cpu, i: Insn) -> Ex {
    insert(cpu, i, 8)
}

/// vextu[bhw]lx: RT <- the `len`-byte element of VRB at byte (RA)[60:63] counted from the left.
#[inline(always)]
fn extu_lx(cpu: &mut Cpu, i: Insn, len: u32) -> Ex {
    cpu.check_vec()?;
    let idx = (cpu.gpr[i.ra()] & 15) as u32;
    let v = cpu.vr(i.rb()) << (8 * idx) >> (128 - 8 * len);
    cpu.gpr[i.rt()] = v as u64;
    Ok(())
}

/// vextu[bhw]rx: the element whose rightmost byte is byte 15 - (RA)[60:63].
#[inline(always)]
fn extu_rx(cpu: &mut Cpu, i: Insn, len: u32) -> Ex {
    cpu.check_vec()?;
    let idx = (cpu.gpr[i.ra()] & 15) as u32;
    let v = cpu.vr(i.rb()) >> (8 * idx) & (u128::MAX >> (128 - 8 * len));
    cpu.gpr[i.rt()] = v as u64;
    Ok(())
}

fn vextublx(cpu: &mut Cpu, i: Insn) -> Ex {
    extu_lx(cpu, i, 1)
}
fn vextuhlx(cpu: &mut Cpu, i: Insn) -> Ex {
    extu_lx(cpu, i, 2)
}
fn vextuwlx(cpu: &mut Cpu, i: Insn) -> Ex {
    extu_lx(cpu, i, 4)
}
fn vextubrx(cpu: &mut Cpu, i: Insn) -> Ex {
    extu_rx(cpu, i, 1)
}
fn vextuhrx(cpu: &mut Cpu, i: Insn) -> Ex {
    extu_rx(cpu, i, 2)
}
fn vextuwrx(cpu: &mut Cpu, i: Insn) -> Ex {
    extu_rx(cpu, i, 4)
}

// ---------------------------------------------------------------------------------------------
// VSCR access. Only NJ and SAT are implemented; the other VSCR bits are reserved.

fn mfvscr(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    cpu.set_vr(i.rt(), cpu.vscr as u128);
    Ok(())
}

fn mtvscr(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vec()?;
    cpu.vscr = cpu.vr(i.rb()) as u32 & (VSCR_NJ | VSCR_SAT);
    Ok(())
}
