//! ISA 3.1 prefixed instructions: a prefix word (primary opcode 1) and a suffix word, executed as
//! one 8-byte instruction (Book I 1.6.3). Implemented: the 8LS/MLS D-form loads and stores with
//! 34-bit displacements (PC-relative when R=1), paddi (pli, pla), pnop, and the 8RR forms
//! xxsplti32dx, xxspltidp, xxspltiw, xxpermx, xxblendv[bhwd] and xxeval. MMA (MMIRR) prefixes are
//! not implemented and decode as illegal.
//!
//! Decode sees both words; handlers read the prefix from `Cpu::prefix` and set `nip` past the
//! suffix. A prefixed instruction may not cross a 64-byte boundary: the run loop hands decode no
//! suffix then, and the instruction raises an alignment interrupt.

use crate::cpu::{Cpu, Ex};
use crate::exec::Handler;
use crate::insn::fp::fpu::{double_to_single, single_to_double};
use crate::insn::isa31::{load_pair, store_pair, xtp};
use crate::insn::{loadstore, Insn};

/// Prefix type (bits 6:7).
const TYPE_8LS: u32 = 0;
const TYPE_8RR: u32 = 1;
const TYPE_MLS: u32 = 2;
const TYPE_MRR: u32 = 3;
/// R (bit 11): the displacement is relative to the instruction's address.
const R_BIT: u32 = 1 << 20;

/// The handler of the prefixed instruction `prefix`/`suffix`, or None (illegal) for reserved
/// prefixes, unknown suffixes and invalid forms.
pub fn decode(prefix: u32, s: Insn) -> Option<Handler> {
    let ptype = prefix >> 24 & 3;
    // Bits 8:11: ST (0 for every defined 8LS/MLS/8RR form) and, for 8RR/MRR, the sub-type.
    let sub = prefix >> 20 & 0xf;
    match ptype {
        TYPE_8LS | TYPE_MLS => {
            if sub & 8 != 0 {
                return None;
            }
            // With R=1 the base is the instruction address: RA must be 0.
            if prefix & R_BIT != 0 && s.ra() != 0 {
                return None;
            }
            if ptype == TYPE_MLS {
                decode_mls(s)
            } else {
                decode_8ls(s)
            }
        }
        TYPE_8RR if sub == 0 => decode_8rr(prefix, s),
        // pnop: bits 8:11 and 14:31 zero; any suffix but a branch or a context-synchronizing
        // or serializing one the ISA forbids there.
        TYPE_MRR if sub == 0 && prefix & 0x3ffff == 0 => {
            if pnop_suffix_ok(s) {
                Some(pnop)
            } else {
                None
            }
        }
        _ => None,
    }
}

/// Suffixes pnop may not have: branches (I/B-forms and bclr/bcctr/bctar), rfebb, sync.
fn pnop_suffix_ok(s: Insn) -> bool {
    match s.opcd() {
        16 | 18 => false,
        19 => !matches!(s.xo10(), 16 | 528 | 560 | 146),
        31 => s.xo10() != 598,
        _ => true,
    }
}

fn decode_mls(s: Insn) -> Option<Handler> {
    Some(match s.opcd() {
        14 => paddi,
        32 => pload::<{ loadstore::W }>,
        34 => pload::<{ loadstore::B }>,
        36 => pstore::<{ loadstore::W }>,
        38 => pstore::<{ loadstore::B }>,
        40 => pload::<{ loadstore::H }>,
        42 => pload::<{ loadstore::HA }>,
        44 => pstore::<{ loadstore::H }>,
        48 => plfs,
        50 => plfd,
        52 => pstfs,
        54 => pstfd,
        _ => return None,
    })
}

fn decode_8ls(s: Insn) -> Option<Handler> {
    let (rt, ra) = (s.rt(), s.ra());
    Some(match s.opcd() {
        41 => pload::<{ loadstore::WA }>,
        42 => plxsd,
        43 => plxssp,
        46 => pstxsd,
        47 => pstxssp,
        // TX is the low bit of the opcode.
        50 | 51 => plxv,
        54 | 55 => pstxv,
        // RTp must be even and differ from a base register RA.
        56 if rt & 1 == 0 && (ra == 0 || ra != rt) => plq,
        57 => pload::<{ loadstore::D }>,
        58 => plxvp,
        60 if rt & 1 == 0 => pstq,
        61 => pstore::<{ loadstore::D }>,
        62 => pstxvp,
        _ => return None,
    })
}

fn decode_8rr(prefix: u32, s: Insn) -> Option<Handler> {
    match s.opcd() {
        // 8RR:D-forms: bits 11:14 (with IX in bit 14 for xxsplti32dx) select; TX is bit 15.
        32 => match s.0 >> 17 & 0xf {
            0 | 1 => Some(xxsplti32dx),
            2 => Some(xxspltidp),
            3 => Some(xxspltiw),
            _ => None,
        },
        // 8RR:XX4-forms: bits 26:27 select.
        33 => Some(match s.0 >> 4 & 3 {
            0 => xxblendvb,
            1 => xxblendvh,
            2 => xxblendvw,
            _ => xxblendvd,
        }),
        34 => match s.0 >> 4 & 3 {
            // UIM in prefix bits 29:31; bits 14:28 reserved.
            0 if prefix & 0x3fff8 == 0 => Some(xxpermx),
            // IMM in prefix bits 24:31.
            1 if prefix & 0x3ff00 == 0 => Some(xxeval),
            _ => None,
        },
        _ => None,
    }
}

/// The 34-bit signed displacement d0 (prefix bits 14:31) || d1 (suffix bits 16:31).
#[inline(always)]
fn d34(prefix: u32, s: Insn) -> i64 {
    let v = ((prefix & 0x3ffff) as i64) << 16 | (s.0 & 0xffff) as i64;
    v << 30 >> 30
}

/// EA of the 8LS/MLS loads and stores: (RA|0) + d, or the instruction address + d when R=1.
/// Also advances `nip` past the suffix, which every handler here must do.
#[inline(always)]
fn ea(cpu: &mut Cpu, s: Insn) -> u64 {
    cpu.nip = cpu.pc.wrapping_add(8);
    let d = d34(cpu.prefix, s) as u64;
    let base = if cpu.prefix & R_BIT != 0 {
        cpu.pc
    } else if s.ra() == 0 {
        0
    } else {
        cpu.gpr[s.ra()]
    };
    cpu.ea(base.wrapping_add(d))
}

fn pnop(cpu: &mut Cpu, _s: Insn) -> Ex {
    cpu.nip = cpu.pc.wrapping_add(8);
    Ok(())
}

/// paddi RT,RA,SI (pli with RA=0, pla with R=1): RT = (RA|0) + SI or CIA + SI.
fn paddi(cpu: &mut Cpu, s: Insn) -> Ex {
    cpu.nip = cpu.pc.wrapping_add(8);
    let d = d34(cpu.prefix, s) as u64;
    let base = if cpu.prefix & R_BIT != 0 {
        cpu.pc
    } else if s.ra() == 0 {
        0
    } else {
        cpu.gpr[s.ra()]
    };
    cpu.gpr[s.rt()] = base.wrapping_add(d);
    Ok(())
}

/// Fixed-point prefixed loads (plbz, plhz, plha, plwz, plwa, pld), kinds as loadstore's.
fn pload<const K: u8>(cpu: &mut Cpu, s: Insn) -> Ex {
    let a = ea(cpu, s);
    cpu.gpr[s.rt()] = loadstore::load::<K>(cpu, a)?;
    Ok(())
}

/// Fixed-point prefixed stores (pstb, psth, pstw, pstd).
fn pstore<const K: u8>(cpu: &mut Cpu, s: Insn) -> Ex {
    let a = ea(cpu, s);
    loadstore::store::<K>(cpu, a, cpu.gpr[s.rt()])
}

/// plq: the quadword in the current byte order into RTp (high half) and RTp+1, as lq.
fn plq(cpu: &mut Cpu, s: Insn) -> Ex {
    let a = ea(cpu, s);
    let b = cpu.ld_bytes16(a)?;
    let v = if cpu.le {
        u128::from_le_bytes(b)
    } else {
        u128::from_be_bytes(b)
    };
    let rt = s.rt() & 30;
    cpu.gpr[rt] = (v >> 64) as u64;
    cpu.gpr[rt + 1] = v as u64;
    Ok(())
}

fn pstq(cpu: &mut Cpu, s: Insn) -> Ex {
    let a = ea(cpu, s);
    let rt = s.rt() & 30;
    let v = (cpu.gpr[rt] as u128) << 64 | cpu.gpr[rt + 1] as u128;
    let b = if cpu.le {
        v.to_le_bytes()
    } else {
        v.to_be_bytes()
    };
    cpu.st_bytes16(a, b)
}

fn plfs(cpu: &mut Cpu, s: Insn) -> Ex {
    cpu.check_fp()?;
    let a = ea(cpu, s);
    let w = cpu.ld_u32(a)?;
    cpu.set_fpr(s.rt(), single_to_double(w));
    Ok(())
}

fn plfd(cpu: &mut Cpu, s: Insn) -> Ex {
    cpu.check_fp()?;
    let a = ea(cpu, s);
    let v = cpu.ld_u64(a)?;
    cpu.set_fpr(s.rt(), v);
    Ok(())
}

fn pstfs(cpu: &mut Cpu, s: Insn) -> Ex {
    cpu.check_fp()?;
    let a = ea(cpu, s);
    cpu.st_u32(a, double_to_single(cpu.fpr(s.rt())))
}

fn pstfd(cpu: &mut Cpu, s: Insn) -> Ex {
    cpu.check_fp()?;
    let a = ea(cpu, s);
    cpu.st_u64(a, cpu.fpr(s.rt()))
}

/// plxsd/plxssp/pstxsd/pstxssp address VR RT (VSR 32+RT) like lxsd and friends.
fn plxsd(cpu: &mut Cpu, s: Insn) -> Ex {
    cpu.check_vec()?;
    let a = ea(cpu, s);
    let v = cpu.ld_u64(a)?;
    cpu.vsr[32 + s.rt()] = [v, 0];
    Ok(())
}

fn plxssp(cpu: &mut Cpu, s: Insn) -> Ex {
    cpu.check_vec()?;
    let a = ea(cpu, s);
    let w = cpu.ld_u32(a)?;
    cpu.vsr[32 + s.rt()] = [single_to_double(w), 0];
    Ok(())
}

fn pstxsd(cpu: &mut Cpu, s: Insn) -> Ex {
    cpu.check_vec()?;
    let a = ea(cpu, s);
    cpu.st_u64(a, cpu.vsr[32 + s.rt()][0])
}

fn pstxssp(cpu: &mut Cpu, s: Insn) -> Ex {
    cpu.check_vec()?;
    let a = ea(cpu, s);
    cpu.st_u32(a, double_to_single(cpu.vsr[32 + s.rt()][0]))
}

/// XS/XT of plxv/pstxv: TX is bit 5 of the suffix (the low bit of its opcode).
#[inline(always)]
fn xv_reg(s: Insn) -> usize {
    ((s.0 >> 26 & 1) << 5) as usize | s.rt()
}

#[inline(always)]
fn check_vsx_vec(cpu: &Cpu, r: usize) -> Ex {
    if r < 32 {
        cpu.check_vsx()
    } else {
        cpu.check_vec()
    }
}

/// plxv: 16 bytes as one quadword element in the current byte order, as lxv.
fn plxv(cpu: &mut Cpu, s: Insn) -> Ex {
    let xt = xv_reg(s);
    check_vsx_vec(cpu, xt)?;
    let a = ea(cpu, s);
    let b = cpu.ld_bytes16(a)?;
    let v = if cpu.le {
        u128::from_le_bytes(b)
    } else {
        u128::from_be_bytes(b)
    };
    cpu.set_vsr128(xt, v);
    Ok(())
}

fn pstxv(cpu: &mut Cpu, s: Insn) -> Ex {
    let xs = xv_reg(s);
    check_vsx_vec(cpu, xs)?;
    let a = ea(cpu, s);
    let v = cpu.vsr128(xs);
    let b = if cpu.le {
        v.to_le_bytes()
    } else {
        v.to_be_bytes()
    };
    cpu.st_bytes16(a, b)
}

fn plxvp(cpu: &mut Cpu, s: Insn) -> Ex {
    let a = ea(cpu, s);
    load_pair(cpu, xtp(s), a)
}

fn pstxvp(cpu: &mut Cpu, s: Insn) -> Ex {
    let a = ea(cpu, s);
    store_pair(cpu, xtp(s), a)
}

// ---------------------------------------------------------------------------------------------
// 8RR forms

/// XT of the 8RR:D-forms: TX in bit 15.
#[inline(always)]
fn xt_8rr_d(s: Insn) -> usize {
    ((s.0 >> 16 & 1) << 5) as usize | s.rt()
}

/// The 32-bit immediate IMM0 (prefix bits 16:31) || IMM1 (suffix bits 16:31).
#[inline(always)]
fn imm32(cpu: &Cpu, s: Insn) -> u32 {
    (cpu.prefix & 0xffff) << 16 | (s.0 & 0xffff)
}

/// xxsplti32dx: word IX and word IX+2 of XT get the immediate; the others are unchanged.
fn xxsplti32dx(cpu: &mut Cpu, s: Insn) -> Ex {
    cpu.nip = cpu.pc.wrapping_add(8);
    cpu.check_vsx()?;
    let xt = xt_8rr_d(s);
    let imm = imm32(cpu, s) as u64;
    // IX (bit 14) picks the high (0) or low (1) word of each doubleword.
    let (sh, keep) = if s.0 >> 17 & 1 == 0 {
        (32, 0xffff_ffff)
    } else {
        (0, 0xffff_ffff_0000_0000)
    };
    for d in &mut cpu.vsr[xt] {
        *d = *d & keep | imm << sh;
    }
    Ok(())
}

/// xxspltidp: the immediate as a single-precision value, converted exactly to double precision,
/// in both doublewords (a single denormal, undefined in the ISA, is converted exactly too).
fn xxspltidp(cpu: &mut Cpu, s: Insn) -> Ex {
    cpu.nip = cpu.pc.wrapping_add(8);
    cpu.check_vsx()?;
    let d = single_to_double(imm32(cpu, s));
    cpu.vsr[xt_8rr_d(s)] = [d, d];
    Ok(())
}

fn xxspltiw(cpu: &mut Cpu, s: Insn) -> Ex {
    cpu.nip = cpu.pc.wrapping_add(8);
    cpu.check_vsx()?;
    let w = imm32(cpu, s) as u64;
    cpu.vsr[xt_8rr_d(s)] = [w << 32 | w; 2];
    Ok(())
}

/// The XX4 operands XA, XB, XC as 128-bit values and the target register XT.
#[inline(always)]
fn xx4(cpu: &Cpu, s: Insn) -> (u128, u128, u128, usize) {
    (
        cpu.vsr128(s.xa()),
        cpu.vsr128(s.xb()),
        cpu.vsr128(s.xc()),
        s.xt(),
    )
}

/// xxblendv[bhwd]: each element from XB where the matching element of XC has its most
/// significant bit set, else from XA.
fn xxblendv(cpu: &mut Cpu, s: Insn, bits: u32) -> Ex {
    cpu.nip = cpu.pc.wrapping_add(8);
    cpu.check_vsx()?;
    let (a, b, c, xt) = xx4(cpu, s);
    let n = 128 / bits;
    let mut m = 0u128;
    for k in 0..n {
        let sh = 128 - bits * (k + 1);
        if c >> (sh + bits - 1) & 1 != 0 {
            m |= (u128::MAX >> (128 - bits)) << sh;
        }
    }
    cpu.set_vsr128(xt, b & m | a & !m);
    Ok(())
}

fn xxblendvb(cpu: &mut Cpu, s: Insn) -> Ex {
    xxblendv(cpu, s, 8)
}
fn xxblendvh(cpu: &mut Cpu, s: Insn) -> Ex {
    xxblendv(cpu, s, 16)
}
fn xxblendvw(cpu: &mut Cpu, s: Insn) -> Ex {
    xxblendv(cpu, s, 32)
}
fn xxblendvd(cpu: &mut Cpu, s: Insn) -> Ex {
    xxblendv(cpu, s, 64)
}

/// xxpermx: byte i of XT is byte XC.byte[i][3:7] of XA || XB when XC.byte[i][0:2] equals UIM
/// (prefix bits 29:31), else zero.
fn xxpermx(cpu: &mut Cpu, s: Insn) -> Ex {
    cpu.nip = cpu.pc.wrapping_add(8);
    cpu.check_vsx()?;
    let (a, b, c, xt) = xx4(cpu, s);
    let uim = (cpu.prefix & 7) as u8;
    let mut src = [0u8; 32];
    src[..16].copy_from_slice(&a.to_be_bytes());
    src[16..].copy_from_slice(&b.to_be_bytes());
    let mut out = [0u8; 16];
    for (o, sel) in out.iter_mut().zip(c.to_be_bytes()) {
        if sel >> 5 == uim {
            *o = src[(sel & 31) as usize];
        }
    }
    cpu.set_vsr128(xt, u128::from_be_bytes(out));
    Ok(())
}

/// xxeval: bit j of XT is bit (A_j B_j C_j) of the 8-bit IMM (prefix bits 24:31), IMM bit 0 being
/// its most significant: any three-input boolean function.
fn xxeval(cpu: &mut Cpu, s: Insn) -> Ex {
    cpu.nip = cpu.pc.wrapping_add(8);
    cpu.check_vsx()?;
    let (a, b, c, xt) = xx4(cpu, s);
    let imm = cpu.prefix & 0xff;
    let mut r = 0u128;
    // Minterm by minterm: IMM bit k (from the MSB) selects A,B,C = k's three bits.
    for k in 0..8 {
        if imm >> (7 - k) & 1 != 0 {
            let ta = if k & 4 != 0 { a } else { !a };
            let tb = if k & 2 != 0 { b } else { !b };
            let tc = if k & 1 != 0 { c } else { !c };
            r |= ta & tb & tc;
        }
    }
    cpu.set_vsr128(xt, r);
    Ok(())
}

#[cfg(test)]
#[path = "prefixed_tests.rs"]
mod tests;
