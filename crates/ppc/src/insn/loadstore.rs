//! Fixed-point loads and stores, reservations, string/multiple forms and cache-management hints.
//!
//! Invalid forms (ISA: "the instruction form is invalid") are illegal instructions here, which the
//! ISA permits and QEMU does for most of them; hardware may instead give boundedly undefined
//! results. They are: update forms with RA=0, or with RA=RT for
//! loads; lq/lqarx with an odd RTp or RTp=RA (lqarx also RTp=RB); stq/stqcx. with an odd RSp;
//! lmw/lswi/lswx whose RA (or RB for lswx) is among the registers loaded, counting RA=0; lswx with
//! RT=RA or RT=RB; and X-forms with the reserved bit 31 set. Loads write their target only once
//! the access succeeded, so a fault leaves the registers unchanged (lmw and the string loads too).
//! Stores of several units (stmw, stsw*) may be partly done when a later unit faults, as the ISA
//! permits.

use crate::cpu::{Cpu, Ex, Exception, ProgramKind, Reservation};
use crate::exec::Handler;
use crate::insn::{ea_d, ea_x, Insn};
use crate::mem::compare_exchange_bytes;

// Access kinds, used as const generic arguments so each handler is specialised at compile time.
/// Byte, zero-extended.
pub(crate) const B: u8 = 0;
/// Halfword, zero-extended.
pub(crate) const H: u8 = 1;
/// Halfword, sign-extended (algebraic).
pub(crate) const HA: u8 = 2;
/// Word, zero-extended.
pub(crate) const W: u8 = 3;
/// Word, sign-extended.
pub(crate) const WA: u8 = 4;
/// Doubleword.
pub(crate) const D: u8 = 5;
/// Byte-reversed halfword.
const HBR: u8 = 6;
/// Byte-reversed word.
const WBR: u8 = 7;
/// Byte-reversed doubleword.
const DBR: u8 = 8;

/// Primary opcodes 32..47, 56 (lq), 58 (ld/ldu/lwa), 62 (std/stdu/stq).
pub fn decode(i: Insn) -> Option<Handler> {
    let (rt, ra) = (i.rt(), i.ra());
    let load_update_ok = ra != 0 && ra != rt;
    let store_update_ok = ra != 0;
    Some(match i.opcd() {
        32 => load_d::<W>,
        33 if load_update_ok => load_du::<W>,
        34 => load_d::<B>,
        35 if load_update_ok => load_du::<B>,
        36 => store_d::<W>,
        37 if store_update_ok => store_du::<W>,
        38 => store_d::<B>,
        39 if store_update_ok => store_du::<B>,
        40 => load_d::<H>,
        41 if load_update_ok => load_du::<H>,
        42 => load_d::<HA>,
        43 if load_update_ok => load_du::<HA>,
        44 => store_d::<H>,
        45 if store_update_ok => store_du::<H>,
        // RT..31 are loaded; RA among them (RA=0 included) is invalid.
        46 if ra < rt => lmw,
        47 => stmw,
        56 if rt & 1 == 0 && rt != ra => lq,
        58 => match i.xo2() {
            0 => load_ds::<D>,
            1 if load_update_ok => load_dsu::<D>,
            2 => load_ds::<WA>,
            _ => return None,
        },
        62 => match i.xo2() {
            0 => store_ds::<D>,
            1 if store_update_ok => store_dsu::<D>,
            2 if rt & 1 == 0 => stq,
            _ => return None,
        },
        _ => return None,
    })
}

/// Opcode 31 extended opcodes owned by this module.
pub fn decode31(i: Insn) -> Option<Handler> {
    let (rt, ra, rb) = (i.rt(), i.ra(), i.rb());
    let load_update_ok = ra != 0 && ra != rt;
    let store_update_ok = ra != 0;
    let xo = i.xo10();
    // Bit 31 is the EH hint of the l*arx forms (ignored), must be 1 in st*cx., reserved elsewhere.
    match xo {
        52 => return Some(larx::<1>),
        116 => return Some(larx::<2>),
        20 => return Some(larx::<4>),
        84 => return Some(larx::<8>),
        276 if rt & 1 == 0 && rt != ra && rt != rb => return Some(lqarx),
        694 | 726 | 150 | 214 | 182 if !i.rc_bit() => return None,
        694 => return Some(stcx::<1>),
        726 => return Some(stcx::<2>),
        150 => return Some(stcx::<4>),
        214 => return Some(stcx::<8>),
        182 if rt & 1 == 0 => return Some(stqcx),
        _ => {}
    }
    if i.rc_bit() {
        return None;
    }
    Some(match xo {
        87 => load_x::<B>,
        119 if load_update_ok => load_xu::<B>,
        279 => load_x::<H>,
        311 if load_update_ok => load_xu::<H>,
        343 => load_x::<HA>,
        375 if load_update_ok => load_xu::<HA>,
        23 => load_x::<W>,
        55 if load_update_ok => load_xu::<W>,
        341 => load_x::<WA>,
        373 if load_update_ok => load_xu::<WA>,
        21 => load_x::<D>,
        53 if load_update_ok => load_xu::<D>,
        215 => store_x::<B>,
        247 if store_update_ok => store_xu::<B>,
        407 => store_x::<H>,
        439 if store_update_ok => store_xu::<H>,
        151 => store_x::<W>,
        183 if store_update_ok => store_xu::<W>,
        149 => store_x::<D>,
        181 if store_update_ok => store_xu::<D>,
        790 => load_x::<HBR>,
        534 => load_x::<WBR>,
        532 => load_x::<DBR>,
        918 => store_x::<HBR>,
        662 => store_x::<WBR>,
        660 => store_x::<DBR>,
        // lswi: NB (the RB field) bytes, 0 meaning 32.
        597 if !in_range(ra, rt, nb_regs(i)) => lswi,
        533 if rt != ra && rt != rb => lswx,
        725 => stswi,
        661 => stswx,
        1014 => dcbz,
        // dcbf (any L) and dcbst may fault like a load; they have no other effect here.
        86 | 54 => probe,
        982 => icbi,
        // dcbt, dcbtst, icbt: prefetch hints, which never fault.
        278 | 246 | 22 => nop,
        _ => return None,
    })
}

fn nop(_: &mut Cpu, _: Insn) -> Ex {
    Ok(())
}

/// Reads one unit of kind `K` at `ea`, extended to 64 bits.
#[inline(always)]
pub(crate) fn load<const K: u8>(cpu: &mut Cpu, ea: u64) -> Result<u64, Exception> {
    Ok(match K {
        B => cpu.ld_u8(ea)? as u64,
        H => cpu.ld_u16(ea)? as u64,
        HA => cpu.ld_u16(ea)? as i16 as i64 as u64,
        W => cpu.ld_u32(ea)? as u64,
        WA => cpu.ld_u32(ea)? as i32 as i64 as u64,
        D => cpu.ld_u64(ea)?,
        HBR => cpu.ld_u16(ea)?.swap_bytes() as u64,
        WBR => cpu.ld_u32(ea)?.swap_bytes() as u64,
        _ => cpu.ld_u64(ea)?.swap_bytes(), // DBR
    })
}

/// Writes the low-order unit of kind `K` of `v` at `ea`.
#[inline(always)]
pub(crate) fn store<const K: u8>(cpu: &mut Cpu, ea: u64, v: u64) -> Ex {
    match K {
        B => cpu.st_u8(ea, v as u8),
        H => cpu.st_u16(ea, v as u16),
        W => cpu.st_u32(ea, v as u32),
        D => cpu.st_u64(ea, v),
        HBR => cpu.st_u16(ea, (v as u16).swap_bytes()),
        WBR => cpu.st_u32(ea, (v as u32).swap_bytes()),
        _ => cpu.st_u64(ea, v.swap_bytes()), // DBR
    }
}

// D-form (16-bit displacement), DS-form (displacement with the low two bits as xo) and X-form
// (RA|0)+RB addressing, each with its update variant (RA <- EA; decode guarantees RA != 0).

fn load_d<const K: u8>(cpu: &mut Cpu, i: Insn) -> Ex {
    let ea = ea_d(cpu, i, i.si());
    cpu.gpr[i.rt()] = load::<K>(cpu, ea)?;
    Ok(())
}

fn load_du<const K: u8>(cpu: &mut Cpu, i: Insn) -> Ex {
    let ea = ea_d(cpu, i, i.si());
    cpu.gpr[i.rt()] = load::<K>(cpu, ea)?;
    cpu.gpr[i.ra()] = ea;
    Ok(())
}

fn load_ds<const K: u8>(cpu: &mut Cpu, i: Insn) -> Ex {
    let ea = ea_d(cpu, i, i.ds());
    cpu.gpr[i.rt()] = load::<K>(cpu, ea)?;
    Ok(())
}

fn load_dsu<const K: u8>(cpu: &mut Cpu, i: Insn) -> Ex {
    let ea = ea_d(cpu, i, i.ds());
    cpu.gpr[i.rt()] = load::<K>(cpu, ea)?;
    cpu.gpr[i.ra()] = ea;
    Ok(())
}

fn load_x<const K: u8>(cpu: &mut Cpu, i: Insn) -> Ex {
    let ea = ea_x(cpu, i);
    cpu.gpr[i.rt()] = load::<K>(cpu, ea)?;
    Ok(())
}

fn load_xu<const K: u8>(cpu: &mut Cpu, i: Insn) -> Ex {
    let ea = ea_x(cpu, i);
    cpu.gpr[i.rt()] = load::<K>(cpu, ea)?;
    cpu.gpr[i.ra()] = ea;
    Ok(())
}

fn store_d<const K: u8>(cpu: &mut Cpu, i: Insn) -> Ex {
    let ea = ea_d(cpu, i, i.si());
    store::<K>(cpu, ea, cpu.gpr[i.rt()])
}

/// The value stored is RS from before the update, also when RS = RA.
fn store_du<const K: u8>(cpu: &mut Cpu, i: Insn) -> Ex {
    let ea = ea_d(cpu, i, i.si());
    store::<K>(cpu, ea, cpu.gpr[i.rt()])?;
    cpu.gpr[i.ra()] = ea;
    Ok(())
}

fn store_ds<const K: u8>(cpu: &mut Cpu, i: Insn) -> Ex {
    let ea = ea_d(cpu, i, i.ds());
    store::<K>(cpu, ea, cpu.gpr[i.rt()])
}

fn store_dsu<const K: u8>(cpu: &mut Cpu, i: Insn) -> Ex {
    let ea = ea_d(cpu, i, i.ds());
    store::<K>(cpu, ea, cpu.gpr[i.rt()])?;
    cpu.gpr[i.ra()] = ea;
    Ok(())
}

fn store_x<const K: u8>(cpu: &mut Cpu, i: Insn) -> Ex {
    let ea = ea_x(cpu, i);
    store::<K>(cpu, ea, cpu.gpr[i.rt()])
}

fn store_xu<const K: u8>(cpu: &mut Cpu, i: Insn) -> Ex {
    let ea = ea_x(cpu, i);
    store::<K>(cpu, ea, cpu.gpr[i.rt()])?;
    cpu.gpr[i.ra()] = ea;
    Ok(())
}

// Quadwords. The pair RTp/RTp+1 holds the quadword as one 128-bit value in the current byte
// order, RTp the high-order half: in LE mode RTp therefore gets the doubleword at EA+8, byte
// reversed, as the ISA specifies. lq/stq are problem-state instructions since ISA 2.07 and need no
// alignment (only the atomicity guarantee needs it); lqarx/stqcx. need a quadword-aligned EA.

#[inline(always)]
fn ld_u128(cpu: &mut Cpu, ea: u64) -> Result<u128, Exception> {
    let b = cpu.ld_bytes16(ea)?;
    Ok(if cpu.le {
        u128::from_le_bytes(b)
    } else {
        u128::from_be_bytes(b)
    })
}

#[inline(always)]
fn st_u128(cpu: &mut Cpu, ea: u64, v: u128) -> Ex {
    let b = if cpu.le {
        v.to_le_bytes()
    } else {
        v.to_be_bytes()
    };
    cpu.st_bytes16(ea, b)
}

/// Writes a quadword to the even/odd pair starting at `rt` (decode guarantees `rt` is even).
#[inline(always)]
fn set_pair(cpu: &mut Cpu, rt: usize, v: u128) {
    cpu.gpr[rt & !1] = (v >> 64) as u64;
    cpu.gpr[rt | 1] = v as u64;
}

#[inline(always)]
fn get_pair(cpu: &Cpu, rs: usize) -> u128 {
    (cpu.gpr[rs & !1] as u128) << 64 | cpu.gpr[rs | 1] as u128
}

fn lq(cpu: &mut Cpu, i: Insn) -> Ex {
    let ea = ea_d(cpu, i, i.dq());
    let v = ld_u128(cpu, ea)?;
    set_pair(cpu, i.rt(), v);
    Ok(())
}

fn stq(cpu: &mut Cpu, i: Insn) -> Ex {
    let ea = ea_d(cpu, i, i.ds());
    st_u128(cpu, ea, get_pair(cpu, i.rt()))
}

// Load and reserve / store conditional. l*arx records the granule, its real address and the bytes
// loaded (`Reservation`); st*cx. to the same granule stores with a host compare-and-swap against
// those bytes, so it fails if another vCPU stored there meanwhile; it always clears the
// reservation.

#[inline(always)]
fn check_aligned(ea: u64, n: u8) -> Ex {
    if ea & (n as u64 - 1) != 0 {
        return Err(Exception::Alignment { ea });
    }
    Ok(())
}

/// Takes a reservation on the `N` aligned bytes at `ea` and returns them in memory order.
fn reserve<const N: usize>(cpu: &mut Cpu, ea: u64) -> Result<[u8; N], Exception> {
    check_aligned(ea, N as u8)?;
    let p = cpu.xlate(ea, N as u64, false)?;
    // SAFETY: xlate returned a pointer valid for N bytes; aligned accesses of up to 8 bytes are
    // single host loads (a torn quadword only makes the stqcx. that checks it fail).
    let bytes = unsafe { (p as *const [u8; N]).read_volatile() };
    let mut raw = [0u8; 16];
    raw[..N].copy_from_slice(&bytes);
    cpu.reservation = Some(Reservation {
        ea,
        len: N as u8,
        ra: cpu.mem.real_addr_of(p),
        raw,
    });
    Ok(bytes)
}

/// The bytes of an `N`-byte value in the current byte order, memory order.
#[inline(always)]
fn to_mem<const N: usize>(cpu: &Cpu, v: u128) -> [u8; N] {
    let mut out = [0u8; N];
    if cpu.le {
        out.copy_from_slice(&v.to_le_bytes()[..N]);
    } else {
        out.copy_from_slice(&v.to_be_bytes()[16 - N..]);
    }
    out
}

/// The value of `N` bytes in memory order, in the current byte order.
#[inline(always)]
fn from_mem<const N: usize>(cpu: &Cpu, b: [u8; N]) -> u128 {
    let mut w = [0u8; 16];
    if cpu.le {
        w[..N].copy_from_slice(&b);
        u128::from_le_bytes(w)
    } else {
        w[16 - N..].copy_from_slice(&b);
        u128::from_be_bytes(w)
    }
}

fn larx<const N: usize>(cpu: &mut Cpu, i: Insn) -> Ex {
    let ea = ea_x(cpu, i);
    let b = reserve::<N>(cpu, ea)?;
    cpu.gpr[i.rt()] = from_mem(cpu, b) as u64;
    Ok(())
}

fn lqarx(cpu: &mut Cpu, i: Insn) -> Ex {
    let ea = ea_x(cpu, i);
    let b = reserve::<16>(cpu, ea)?;
    set_pair(cpu, i.rt(), from_mem(cpu, b));
    Ok(())
}

/// st*cx. of `v` to the `N` bytes at `ea`: stores only if this vCPU holds the reservation for
/// exactly that granule and the bytes it loaded are still there. Sets CR0 to 0b00 || stored ||
/// XER[SO] and clears the reservation; a translation fault keeps it (the store is retried after
/// the interrupt).
fn store_conditional<const N: usize>(cpu: &mut Cpu, ea: u64, v: u128) -> Ex {
    check_aligned(ea, N as u8)?;
    let held = cpu
        .reservation
        .filter(|r| r.ea == ea && r.len as usize == N);
    let mut stored = false;
    if let Some(r) = held {
        let p = cpu.xlate(ea, N as u64, true)?;
        if cpu.mem.real_addr_of(p) == r.ra {
            let mut old = [0u8; N];
            old.copy_from_slice(&r.raw[..N]);
            // SAFETY: xlate returned a pointer valid for N bytes, aligned by check_aligned (the
            // host mapping is page aligned).
            stored = unsafe { compare_exchange_bytes::<N>(p, old, to_mem::<N>(cpu, v)) };
        }
    }
    cpu.reservation = None;
    cpu.set_crf(0, (stored as u32) << 1 | cpu.xer.so as u32);
    Ok(())
}

fn stcx<const N: usize>(cpu: &mut Cpu, i: Insn) -> Ex {
    let ea = ea_x(cpu, i);
    store_conditional::<N>(cpu, ea, cpu.gpr[i.rt()] as u128)
}

fn stqcx(cpu: &mut Cpu, i: Insn) -> Ex {
    let ea = ea_x(cpu, i);
    store_conditional::<16>(cpu, ea, get_pair(cpu, i.rt()))
}

// Load/store multiple and string forms. The ISA does not support them in little-endian mode: there
// they raise an alignment interrupt (as QEMU; binutils refuses to assemble them for LE).

/// Whether register `r` is among the `count` registers starting at `start`, wrapping after r31.
#[inline(always)]
fn in_range(r: usize, start: usize, count: usize) -> bool {
    (r + 32 - start) % 32 < count
}

/// Registers touched by lswi/stswi: NB bytes (0 means 32), four per register.
#[inline(always)]
fn nb_regs(i: Insn) -> usize {
    string_len_imm(i).div_ceil(4)
}

#[inline(always)]
fn string_len_imm(i: Insn) -> usize {
    match i.rb() {
        0 => 32,
        n => n,
    }
}

#[inline(always)]
fn no_le(cpu: &Cpu, ea: u64) -> Ex {
    if cpu.le {
        return Err(Exception::Alignment { ea });
    }
    Ok(())
}

/// lmw: words at EA, EA+4, ... into the low halves of RT..r31, high halves cleared.
fn lmw(cpu: &mut Cpu, i: Insn) -> Ex {
    let ea = ea_d(cpu, i, i.si());
    no_le(cpu, ea)?;
    let rt = i.rt();
    let mut words = [0u32; 32];
    for (k, w) in words.iter_mut().enumerate().skip(rt) {
        *w = cpu.ld_u32(cpu.ea(ea.wrapping_add(4 * (k - rt) as u64)))?;
    }
    for (g, w) in cpu.gpr.iter_mut().zip(words).skip(rt) {
        *g = w as u64;
    }
    Ok(())
}

/// stmw: the low halves of RS..r31 to EA, EA+4, ...
fn stmw(cpu: &mut Cpu, i: Insn) -> Ex {
    let ea = ea_d(cpu, i, i.si());
    no_le(cpu, ea)?;
    let rs = i.rt();
    for k in rs..32 {
        let a = cpu.ea(ea.wrapping_add(4 * (k - rs) as u64));
        cpu.st_u32(a, cpu.gpr[k] as u32)?;
    }
    Ok(())
}

/// Loads `n` (at most 128) bytes at `ea` into the low words of consecutive registers from `rt`,
/// wrapping after r31, high-order byte first; unfilled bytes of the last register are zero.
fn load_string(cpu: &mut Cpu, ea: u64, n: usize, rt: usize) -> Ex {
    let n = n.min(128);
    let mut words = [0u32; 32];
    for k in 0..n {
        let b = cpu.ld_u8(cpu.ea(ea.wrapping_add(k as u64)))?;
        words[k / 4] |= (b as u32) << (24 - 8 * (k % 4));
    }
    for (j, w) in words.iter().take(n.div_ceil(4)).enumerate() {
        cpu.gpr[(rt + j) % 32] = *w as u64;
    }
    Ok(())
}

/// Stores `n` (at most 128) bytes from the low words of consecutive registers from `rs`.
fn store_string(cpu: &mut Cpu, ea: u64, n: usize, rs: usize) -> Ex {
    for k in 0..n.min(128) {
        let w = cpu.gpr[(rs + k / 4) % 32] as u32;
        let a = cpu.ea(ea.wrapping_add(k as u64));
        cpu.st_u8(a, (w >> (24 - 8 * (k % 4))) as u8)?;
    }
    Ok(())
}

/// lswi: EA = (RA|0), NB bytes.
fn lswi(cpu: &mut Cpu, i: Insn) -> Ex {
    let ea = ea_d(cpu, i, 0);
    no_le(cpu, ea)?;
    load_string(cpu, ea, string_len_imm(i), i.rt())
}

/// lswx: EA = (RA|0)+(RB), XER[57:63] bytes; with a count of 0 nothing is loaded.
fn lswx(cpu: &mut Cpu, i: Insn) -> Ex {
    let ea = ea_x(cpu, i);
    no_le(cpu, ea)?;
    let n = cpu.xer.count as usize & 0x7f;
    let regs = n.div_ceil(4);
    // Which registers are loaded depends on XER, so this invalid form is found only now.
    if in_range(i.ra(), i.rt(), regs) || in_range(i.rb(), i.rt(), regs) {
        return Err(Exception::Program(ProgramKind::Illegal));
    }
    load_string(cpu, ea, n, i.rt())
}

fn stswi(cpu: &mut Cpu, i: Insn) -> Ex {
    let ea = ea_d(cpu, i, 0);
    no_le(cpu, ea)?;
    store_string(cpu, ea, string_len_imm(i), i.rt())
}

fn stswx(cpu: &mut Cpu, i: Insn) -> Ex {
    let ea = ea_x(cpu, i);
    no_le(cpu, ea)?;
    store_string(cpu, ea, cpu.xer.count as usize & 0x7f, i.rt())
}

// Cache management. There is no cache model, but the accesses the ISA lets these fault on are
// still translated, and icbi drops decoded instructions.

/// Size of the block dcbz zeroes (the POWER9 cache line).
pub(crate) const DCBZ_BLOCK: u64 = 128;

fn dcbz(cpu: &mut Cpu, i: Insn) -> Ex {
    let ea = ea_x(cpu, i) & !(DCBZ_BLOCK - 1);
    let p = cpu.xlate(ea, DCBZ_BLOCK, true)?;
    // SAFETY: xlate returned a pointer valid for DCBZ_BLOCK bytes.
    unsafe { std::ptr::write_bytes(p, 0, DCBZ_BLOCK as usize) };
    Ok(())
}

/// dcbf/dcbst: treated as a load for protection, so they fault where a load would.
fn probe(cpu: &mut Cpu, i: Insn) -> Ex {
    let ea = ea_x(cpu, i);
    cpu.xlate(ea, 1, false)?;
    Ok(())
}

/// icbi: faults like a load; afterwards the run loop drops the decoded page holding EA.
fn icbi(cpu: &mut Cpu, i: Insn) -> Ex {
    let ea = ea_x(cpu, i);
    cpu.xlate(ea, 1, false)?;
    cpu.invalidate_icache(ea);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;
    use crate::Cpu;

    fn ds_form(op: u32, rt: u32, ra: u32, ds: i16, xo: u32) -> u32 {
        d_form(op, rt, ra, (ds as u16 & 0xfffc) | xo as u16)
    }
    fn x31(rt: u32, ra: u32, rb: u32, xo: u32) -> u32 {
        x_form(31, rt, ra, rb, xo, false)
    }
    fn mem(c: &Cpu, addr: u64, n: usize) -> Vec<u8> {
        let mut b = vec![0; n];
        assert!(c.mem.read(addr, &mut b));
        b
    }
    fn put(c: &Cpu, addr: u64, b: &[u8]) {
        assert!(c.mem.write(addr, b));
    }
    const BYTES: [u8; 8] = [0x81, 0x92, 0xa3, 0xb4, 0xc5, 0xd6, 0xe7, 0xf8];

    #[test]
    fn loads_each_size_both_orders() {
        // (opcode, BE result, LE result) for the bytes 81 92 a3 b4 c5 d6 e7 f8 at DATA.
        let cases: [(u32, u64, u64); 5] = [
            (34, 0x81, 0x81),                                   // lbz
            (40, 0x8192, 0x9281),                               // lhz
            (42, 0xffff_ffff_ffff_8192, 0xffff_ffff_ffff_9281), // lha
            (32, 0x8192_a3b4, 0xb4a3_9281),                     // lwz
            (58, 0x8192_a3b4_c5d6_e7f8, 0xf8e7_d6c5_b4a3_9281), // ld
        ];
        for (op, be, le) in cases {
            for (mut c, want) in [(cpu_be(), be), (cpu(), le)] {
                put(&c, DATA + 8, &BYTES);
                c.gpr[4] = DATA;
                exec(&mut c, d_form(op, 3, 4, 8));
                assert_eq!(c.gpr[3], want, "op {op} le={}", c.le);
            }
        }
    }

    #[test]
    fn lwa_and_indexed_algebraic_loads() {
        for (mut c, want) in [
            (cpu_be(), 0xffff_ffff_8192_a3b4),
            (cpu(), 0xffff_ffff_b4a3_9281),
        ] {
            put(&c, DATA, &BYTES);
            c.gpr[4] = DATA - 4;
            exec(&mut c, ds_form(58, 3, 4, 4, 2)); // lwa r3,4(r4)
            assert_eq!(c.gpr[3], want);
            c.gpr[5] = 4;
            c.gpr[4] = DATA;
            exec(&mut c, x31(6, 4, 5, 341)); // lwax r6,r4,r5: bytes c5 d6 e7 f8
            let w = if c.le { 0xf8e7_d6c5u32 } else { 0xc5d6_e7f8 };
            assert_eq!(c.gpr[6], w as i32 as i64 as u64);
            exec(&mut c, x31(7, 4, 5, 343)); // lhax r7: c5 d6
            let h = if c.le { 0xd6c5u16 } else { 0xc5d6 };
            assert_eq!(c.gpr[7], h as i16 as i64 as u64);
        }
        // Positive values are not sign-extended.
        let mut c = cpu_be();
        put(&c, DATA, &[0x7f, 0xff, 0xff, 0xff]);
        c.gpr[4] = DATA;
        exec(&mut c, ds_form(58, 3, 4, 0, 2));
        assert_eq!(c.gpr[3], 0x7fff_ffff);
        exec(&mut c, d_form(42, 3, 4, 0));
        assert_eq!(c.gpr[3], 0x7fff);
    }

    #[test]
    fn stores_each_size_both_orders() {
        let v = 0x1122_3344_5566_7788u64;
        // (opcode, xo for DS-forms, bytes written in BE)
        let cases: [(u32, &[u8]); 4] = [
            (38, &[0x88]),
            (44, &[0x77, 0x88]),
            (36, &[0x55, 0x66, 0x77, 0x88]),
            (62, &[0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88]),
        ];
        for (op, be) in cases {
            for mut c in [cpu_be(), cpu()] {
                c.gpr[3] = v;
                c.gpr[4] = DATA;
                exec(&mut c, d_form(op, 3, 4, 16));
                let mut want = be.to_vec();
                if c.le {
                    want.reverse();
                }
                assert_eq!(mem(&c, DATA + 16, want.len() + 1)[..want.len()], want[..]);
                // Nothing beyond the unit is written.
                assert_eq!(mem(&c, DATA + 16 + want.len() as u64, 1), [0]);
            }
        }
    }

    #[test]
    fn indexed_forms() {
        let mut c = cpu_be();
        c.gpr[4] = DATA;
        c.gpr[5] = 0x20;
        c.gpr[3] = 0xa1b2_c3d4_e5f6_0718;
        exec(&mut c, x31(3, 4, 5, 149)); // stdx
        exec(&mut c, x31(6, 4, 5, 21)); // ldx
        assert_eq!(c.gpr[6], c.gpr[3]);
        exec(&mut c, x31(6, 4, 5, 23)); // lwzx
        assert_eq!(c.gpr[6], 0xa1b2_c3d4);
        exec(&mut c, x31(6, 4, 5, 279)); // lhzx
        assert_eq!(c.gpr[6], 0xa1b2);
        exec(&mut c, x31(6, 4, 5, 87)); // lbzx
        assert_eq!(c.gpr[6], 0xa1);
        exec(&mut c, x31(3, 4, 5, 151)); // stwx
        exec(&mut c, x31(3, 4, 5, 407)); // sthx
        exec(&mut c, x31(3, 4, 5, 215)); // stbx
                                         // stwx wrote e5 f6 07 18, sthx then 07 18, stbx then 18.
        assert_eq!(mem(&c, DATA + 0x20, 4), [0x18, 0x18, 0x07, 0x18]);
        // RA=0 means 0, not r0.
        c.gpr[0] = 0x999;
        c.gpr[5] = DATA + 0x20;
        exec(&mut c, x31(6, 0, 5, 87));
        assert_eq!(c.gpr[6], 0x18);
    }

    #[test]
    fn update_forms() {
        let mut c = cpu_be();
        put(&c, DATA + 8, &BYTES);
        // lwzu r3,8(r4): loads and sets r4 = EA.
        c.gpr[4] = DATA;
        exec(&mut c, d_form(33, 3, 4, 8));
        assert_eq!((c.gpr[3], c.gpr[4]), (0x8192_a3b4, DATA + 8));
        // lbzu, lhzu, lhau with a negative displacement.
        c.gpr[4] = DATA + 9;
        exec(&mut c, d_form(35, 3, 4, -1i16 as u16));
        assert_eq!((c.gpr[3], c.gpr[4]), (0x81, DATA + 8));
        exec(&mut c, d_form(41, 3, 4, 2));
        assert_eq!((c.gpr[3], c.gpr[4]), (0xa3b4, DATA + 10));
        exec(&mut c, d_form(43, 3, 4, 0));
        assert_eq!((c.gpr[3], c.gpr[4]), (0xffff_ffff_ffff_a3b4, DATA + 10));
        // ldu (DS xo 1), ldux, lwaux, lhzux.
        c.gpr[4] = DATA;
        exec(&mut c, ds_form(58, 3, 4, 8, 1));
        assert_eq!((c.gpr[3], c.gpr[4]), (0x8192_a3b4_c5d6_e7f8, DATA + 8));
        c.gpr[4] = DATA;
        c.gpr[5] = 12;
        exec(&mut c, x31(3, 4, 5, 373));
        assert_eq!((c.gpr[3], c.gpr[4]), (0xffff_ffff_c5d6_e7f8, DATA + 12));
        c.gpr[4] = DATA;
        exec(&mut c, x31(3, 4, 5, 311));
        assert_eq!((c.gpr[3], c.gpr[4]), (0xc5d6, DATA + 12));
        // stwu r1,-16(r1): stores the old r1, then r1 = EA.
        c.gpr[1] = DATA + 0x40;
        exec(&mut c, d_form(37, 1, 1, -16i16 as u16));
        assert_eq!(c.gpr[1], DATA + 0x30);
        assert_eq!(mem(&c, DATA + 0x30, 4), (DATA as u32 + 0x40).to_be_bytes());
        // stdu, stbux, sthux, stwux, stdux.
        c.gpr[3] = 0x0102_0304_0506_0708;
        c.gpr[4] = DATA + 0x100;
        exec(&mut c, ds_form(62, 3, 4, 8, 1));
        assert_eq!(c.gpr[4], DATA + 0x108);
        assert_eq!(
            mem(&c, DATA + 0x108, 8),
            0x0102_0304_0506_0708u64.to_be_bytes()
        );
        c.gpr[5] = 8;
        for (xo, n) in [(247u32, 1usize), (439, 2), (183, 4), (181, 8)] {
            let before = c.gpr[4];
            exec(&mut c, x31(3, 4, 5, xo));
            assert_eq!(c.gpr[4], before + 8);
            assert_eq!(mem(&c, before + 8, n), c.gpr[3].to_be_bytes()[8 - n..]);
        }
    }

    #[test]
    fn invalid_update_forms_are_illegal() {
        let ill = Err(Exception::Program(ProgramKind::Illegal));
        let mut c = cpu();
        c.gpr[3] = DATA;
        // Loads with RA=0 or RA=RT; stores with RA=0.
        assert_eq!(try_exec(&mut c, d_form(33, 3, 0, 0)), ill);
        assert_eq!(try_exec(&mut c, d_form(33, 3, 3, 0)), ill);
        assert_eq!(try_exec(&mut c, ds_form(58, 3, 3, 0, 1)), ill);
        assert_eq!(try_exec(&mut c, x31(3, 3, 4, 55)), ill);
        assert_eq!(try_exec(&mut c, d_form(37, 3, 0, 0)), ill);
        assert_eq!(try_exec(&mut c, x31(3, 0, 4, 181)), ill);
        // lwa has no update form (DS xo 3), nor does DS opcode 62 xo 3.
        assert_eq!(try_exec(&mut c, ds_form(58, 3, 4, 0, 3)), ill);
        assert_eq!(try_exec(&mut c, ds_form(62, 3, 4, 0, 3)), ill);
        assert_eq!(c.gpr[3], DATA);
    }

    #[test]
    fn update_ea_truncated_in_32bit_mode() {
        // In 32-bit mode the EA, and so the updated RA, is the low word of the sum.
        let mut c = cpu_be();
        c.set_msr(c.msr & !crate::cpu::msr::SF);
        c.gpr[4] = 0xffff_ffff_0000_0000 | DATA;
        put(&c, DATA + 4, &[1, 2, 3, 4]);
        exec(&mut c, d_form(33, 3, 4, 4));
        assert_eq!((c.gpr[3], c.gpr[4]), (0x0102_0304, DATA + 4));
    }

    #[test]
    fn byte_reversed() {
        // The byte-reversed forms use the byte order opposite to the current mode.
        for mut c in [cpu_be(), cpu()] {
            let le = c.le;
            put(&c, DATA, &BYTES);
            c.gpr[4] = DATA;
            c.gpr[5] = 0;
            exec(&mut c, x31(3, 4, 5, 790)); // lhbrx
            assert_eq!(c.gpr[3], if le { 0x8192 } else { 0x9281 });
            exec(&mut c, x31(3, 4, 5, 534)); // lwbrx
            assert_eq!(c.gpr[3], if le { 0x8192_a3b4 } else { 0xb4a3_9281 });
            exec(&mut c, x31(3, 4, 5, 532)); // ldbrx
            let d = if le {
                0x8192_a3b4_c5d6_e7f8
            } else {
                0xf8e7_d6c5_b4a3_9281
            };
            assert_eq!(c.gpr[3], d);
            c.gpr[6] = 0x1122_3344_5566_7788;
            c.gpr[5] = 0x10;
            let want = |be: &[u8]| -> Vec<u8> {
                let mut v = be.to_vec();
                if !le {
                    v.reverse();
                }
                v
            };
            exec(&mut c, x31(6, 4, 5, 918)); // sthbrx
            assert_eq!(mem(&c, DATA + 0x10, 2), want(&[0x77, 0x88]));
            exec(&mut c, x31(6, 4, 5, 662)); // stwbrx
            assert_eq!(mem(&c, DATA + 0x10, 4), want(&[0x55, 0x66, 0x77, 0x88]));
            exec(&mut c, x31(6, 4, 5, 660)); // stdbrx
            let all = 0x1122_3344_5566_7788u64.to_be_bytes();
            assert_eq!(mem(&c, DATA + 0x10, 8), want(&all));
        }
    }

    const SEQ: [u8; 16] = [
        0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e,
        0x0f,
    ];

    #[test]
    fn lswx_partial_word_and_wrap() {
        let mut c = cpu_be();
        put(&c, DATA, &SEQ[1..]);
        c.gpr[4] = DATA;
        c.gpr[5] = 0;
        for r in [30, 31, 0, 1] {
            c.gpr[r] = u64::MAX;
        }
        // 7 bytes into r30, r31: the last register's missing low byte is zero.
        c.xer.count = 7;
        exec(&mut c, x31(30, 4, 5, 533));
        assert_eq!((c.gpr[30], c.gpr[31]), (0x0102_0304, 0x0506_0700));
        assert_eq!(c.gpr[0], u64::MAX);
        // 11 bytes from r30 wrap to r0.
        c.xer.count = 11;
        exec(&mut c, x31(30, 4, 5, 533));
        assert_eq!(
            (c.gpr[30], c.gpr[31], c.gpr[0]),
            (0x0102_0304, 0x0506_0708, 0x090a_0b00)
        );
        assert_eq!(c.gpr[1], u64::MAX);
        // A count of 0 loads nothing.
        c.xer.count = 0;
        exec(&mut c, x31(1, 4, 5, 533));
        assert_eq!(c.gpr[1], u64::MAX);
    }

    #[test]
    fn lswx_invalid_forms() {
        let ill = Err(Exception::Program(ProgramKind::Illegal));
        let mut c = cpu_be();
        c.gpr[4] = DATA;
        c.gpr[5] = 0;
        // RA (r4) among r3, r4; RB (r5) among r3..r5; RA=0 with r0 loaded after a wrap.
        c.xer.count = 8;
        assert_eq!(try_exec(&mut c, x31(3, 4, 5, 533)), ill);
        c.xer.count = 9;
        assert_eq!(try_exec(&mut c, x31(3, 7, 5, 533)), ill);
        c.gpr[5] = DATA;
        c.xer.count = 8;
        assert_eq!(try_exec(&mut c, x31(31, 0, 5, 533)), ill);
        // RT=RA is invalid whatever the count.
        c.xer.count = 0;
        assert_eq!(try_exec(&mut c, x31(4, 4, 5, 533)), ill);
    }

    #[test]
    fn lswi_stswi_stswx() {
        let mut c = cpu_be();
        put(&c, DATA, &[0x11; 32]);
        c.gpr[5] = DATA;
        // lswi r28,r5,0: 32 bytes into r28..r31, r0..r3.
        exec(&mut c, x31(28, 5, 0, 597));
        for r in [28, 29, 30, 31, 0, 1, 2, 3] {
            assert_eq!(c.gpr[r], 0x1111_1111, "r{r}");
        }
        // lswi r6,r5,3: one register, low byte zero.
        put(&c, DATA, &[0xaa, 0xbb, 0xcc, 0xdd]);
        exec(&mut c, x31(6, 5, 3, 597));
        assert_eq!(c.gpr[6], 0xaabb_cc00);
        // stswi r31,r5,5: four bytes of r31's low word, then r0's high-order byte.
        c.gpr[31] = 0xffff_ffff_0102_0304;
        c.gpr[0] = 0x0506_0708;
        exec(&mut c, x31(31, 5, 5, 725));
        assert_eq!(mem(&c, DATA, 6), [1, 2, 3, 4, 5, 0x11]);
        // stswx r31,r5,r6 with XER count 6.
        c.gpr[6] = 0x10;
        c.xer.count = 6;
        exec(&mut c, x31(31, 5, 6, 661));
        assert_eq!(mem(&c, DATA + 0x10, 7), [1, 2, 3, 4, 5, 6, 0x11]);
        // lswi with RA among the loaded registers is invalid.
        assert_eq!(
            try_exec(&mut c, x31(5, 6, 8, 597)),
            Err(Exception::Program(ProgramKind::Illegal))
        );
    }

    #[test]
    fn lmw_stmw() {
        let mut c = cpu_be();
        put(&c, DATA + 4, &SEQ[..12]);
        c.gpr[4] = DATA;
        c.gpr[29] = u64::MAX;
        exec(&mut c, d_form(46, 29, 4, 4)); // lmw r29,4(r4)
        assert_eq!(
            (c.gpr[29], c.gpr[30], c.gpr[31]),
            (0x0001_0203, 0x0405_0607, 0x0809_0a0b)
        );
        c.gpr[30] = 0xffff_ffff_a1a2_a3a4;
        exec(&mut c, d_form(47, 30, 4, 0x40)); // stmw r30,0x40(r4)
        assert_eq!(
            mem(&c, DATA + 0x40, 9),
            [0xa1, 0xa2, 0xa3, 0xa4, 8, 9, 10, 11, 0]
        );
        // RA among RT..r31 (RA=0 counts when RT=0) is invalid.
        let ill = Err(Exception::Program(ProgramKind::Illegal));
        assert_eq!(try_exec(&mut c, d_form(46, 29, 30, 0)), ill);
        assert_eq!(try_exec(&mut c, d_form(46, 0, 0, 0)), ill);
    }

    #[test]
    fn multiple_and_string_alignment_in_le() {
        let mut c = cpu();
        c.gpr[4] = DATA;
        c.gpr[5] = 8;
        c.xer.count = 4;
        for w in [
            d_form(46, 30, 4, 4),
            d_form(47, 30, 4, 4),
            x31(30, 4, 8, 597),
            x31(30, 4, 5, 533),
            x31(30, 4, 8, 725),
            x31(30, 4, 5, 661),
        ] {
            let r = try_exec(&mut c, w);
            assert!(
                matches!(r, Err(Exception::Alignment { .. })),
                "{w:#x}: {r:?}"
            );
        }
        assert_eq!(
            try_exec(&mut c, d_form(46, 30, 4, 4)),
            Err(Exception::Alignment { ea: DATA + 4 })
        );
    }

    #[test]
    fn lq_stq_both_orders() {
        for mut c in [cpu_be(), cpu()] {
            put(&c, DATA + 0x10, &SEQ);
            c.gpr[4] = DATA;
            exec(&mut c, d_form(56, 6, 4, 0x10)); // lq r6,16(r4)
            if c.le {
                // RTp gets the doubleword at EA+8, byte-reversed; RTp+1 the one at EA.
                assert_eq!(
                    (c.gpr[6], c.gpr[7]),
                    (0x0f0e_0d0c_0b0a_0908, 0x0706_0504_0302_0100)
                );
            } else {
                assert_eq!(
                    (c.gpr[6], c.gpr[7]),
                    (0x0001_0203_0405_0607, 0x0809_0a0b_0c0d_0e0f)
                );
            }
            // stq r6,32(r4) writes the same quadword back.
            exec(&mut c, ds_form(62, 6, 4, 0x20, 2));
            assert_eq!(mem(&c, DATA + 0x20, 16), SEQ);
        }
        let ill = Err(Exception::Program(ProgramKind::Illegal));
        let mut c = cpu();
        c.gpr[4] = DATA;
        assert_eq!(try_exec(&mut c, d_form(56, 7, 4, 0)), ill); // odd RTp
        assert_eq!(try_exec(&mut c, d_form(56, 4, 4, 0)), ill); // RTp = RA
        assert_eq!(try_exec(&mut c, ds_form(62, 7, 4, 0, 2)), ill); // odd RSp
    }

    fn stcx_w(rs: u32, ra: u32, rb: u32, xo: u32) -> u32 {
        x_form(31, rs, ra, rb, xo, true)
    }

    /// Two vCPUs on two host threads each add 1 to a shared counter a million times with
    /// l*arx/st*cx. (word, doubleword, quadword): the total is exact, so no update was lost and no
    /// store-conditional succeeded after the other vCPU's store.
    #[test]
    fn reservations_are_atomic_across_threads() {
        use crate::exec::{run, DecodeCache};
        use std::sync::Arc;
        const N: u64 = 1_000_000;
        let start = Arc::new(std::sync::Barrier::new(2));
        for (larx, stcx, size) in [(20, 150, 4u64), (84, 214, 8), (276, 182, 16)] {
            let c0 = cpu();
            let mem = c0.mem.clone();
            // loop: l?arx r6,0,r4; addi r7,r7,1 (low half: r7 for quadwords, r6 else);
            // st?cx. r6,0,r4; bne- loop; bdnz loop; b .
            let low = if size == 16 { 7 } else { 6 };
            let prog = [
                x31(6, 0, 4, larx),
                d_form(14, low, low, 1),
                stcx_w(6, 0, 4, stcx),
                0x4082_fff4,
                0x4200_fff0,
                0x4800_0000,
            ];
            for (k, w) in prog.iter().enumerate() {
                assert!(mem.write(CODE + 4 * k as u64, &w.to_le_bytes()));
            }
            assert!(mem.fill(DATA, 16, 0));
            let threads: Vec<_> = (0..2)
                .map(|_| {
                    let mut c = crate::Cpu::new(c0.model, mem.clone());
                    c.set_msr(c0.msr);
                    c.pc = CODE;
                    c.gpr[4] = DATA;
                    c.ctr = N;
                    let start = start.clone();
                    std::thread::spawn(move || {
                        let mut cache = DecodeCache::default();
                        start.wait();
                        while c.pc != CODE + 20 {
                            run(&mut c, &mut cache, 10_000).expect("no exception");
                        }
                    })
                })
                .collect();
            for t in threads {
                t.join().expect("vCPU thread");
            }
            let mut b = [0u8; 16];
            assert!(mem.read(DATA, &mut b));
            let total = match size {
                4 => u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u64,
                8 => u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
                // LE quadword: RTp+1 (the low half) is the doubleword at EA.
                _ => u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
            };
            assert_eq!(total, 2 * N, "{size}-byte reservations lost updates");
        }
    }

    #[test]
    fn reservation_success_and_failure() {
        let mut c = cpu();
        c.gpr[4] = DATA;
        c.gpr[5] = 0;
        put(&c, DATA, &[1, 0, 0, 0, 2, 0, 0, 0]);
        // lwarx r3,r4,r5 ; stwcx. r6,r4,r5 -> stored, CR0 = 0010.
        exec(&mut c, x31(3, 4, 5, 20));
        assert_eq!(c.gpr[3], 1);
        assert_eq!(c.reservation.map(|r| (r.ea, r.len)), Some((DATA, 4)));
        c.gpr[6] = 0x55;
        exec(&mut c, stcx_w(6, 4, 5, 150));
        assert_eq!(c.crf(0), 0b0010);
        assert_eq!(mem(&c, DATA, 4), [0x55, 0, 0, 0]);
        assert_eq!(c.reservation, None);
        // stwcx. without a reservation fails and stores nothing; CR0[SO] copies XER[SO].
        c.xer.so = true;
        c.gpr[6] = 0x66;
        exec(&mut c, stcx_w(6, 4, 5, 150));
        assert_eq!(c.crf(0), 0b0001);
        assert_eq!(mem(&c, DATA, 4), [0x55, 0, 0, 0]);
        c.xer.so = false;
        // Address mismatch: reserve DATA, store to DATA+4 -> fails and clears the reservation.
        exec(&mut c, x31(3, 4, 5, 20));
        c.gpr[7] = 4;
        exec(&mut c, stcx_w(6, 4, 7, 150));
        assert_eq!(c.crf(0), 0);
        assert_eq!(mem(&c, DATA + 4, 4), [2, 0, 0, 0]);
        assert_eq!(c.reservation, None);
        // Length mismatch: lwarx then stdcx. to the same address fails.
        exec(&mut c, x31(3, 4, 5, 20));
        exec(&mut c, stcx_w(6, 4, 5, 214));
        assert_eq!(c.crf(0), 0);
        // ldarx/stdcx., lbarx/stbcx. (any alignment), lharx/sthcx.
        exec(&mut c, x31(3, 4, 5, 84));
        exec(&mut c, stcx_w(6, 4, 5, 214));
        assert_eq!(c.crf(0), 0b0010);
        assert_eq!(mem(&c, DATA, 8), [0x66, 0, 0, 0, 0, 0, 0, 0]);
        c.gpr[7] = 3;
        exec(&mut c, x31(3, 4, 7, 52));
        exec(&mut c, stcx_w(6, 4, 7, 694));
        assert_eq!((c.crf(0), mem(&c, DATA + 3, 1)[0]), (0b0010, 0x66));
        c.gpr[7] = 6;
        exec(&mut c, x31(3, 4, 7, 116));
        exec(&mut c, stcx_w(6, 4, 7, 726));
        assert_eq!((c.crf(0), mem(&c, DATA + 6, 2)), (0b0010, vec![0x66, 0]));
        // The EH hint bit of lwarx is accepted.
        exec(&mut c, x_form(31, 3, 4, 5, 20, true));
        assert_eq!(c.reservation.map(|r| (r.ea, r.len)), Some((DATA, 4)));
    }

    #[test]
    fn reservation_alignment() {
        let mut c = cpu();
        c.gpr[3] = 0x1234;
        c.gpr[4] = DATA;
        c.gpr[5] = 4;
        // ldarx at DATA+4 is not doubleword aligned: alignment interrupt, RT unchanged.
        assert_eq!(
            try_exec(&mut c, x31(3, 4, 5, 84)),
            Err(Exception::Alignment { ea: DATA + 4 })
        );
        assert_eq!(c.gpr[3], 0x1234);
        assert_eq!(c.reservation, None);
        c.gpr[5] = 1;
        assert_eq!(
            try_exec(&mut c, x31(3, 4, 5, 116)),
            Err(Exception::Alignment { ea: DATA + 1 })
        );
        assert_eq!(
            try_exec(&mut c, stcx_w(3, 4, 5, 150)),
            Err(Exception::Alignment { ea: DATA + 1 })
        );
        c.gpr[5] = 8;
        assert_eq!(
            try_exec(&mut c, x31(6, 4, 5, 276)),
            Err(Exception::Alignment { ea: DATA + 8 })
        );
    }

    #[test]
    fn lqarx_stqcx() {
        for mut c in [cpu_be(), cpu()] {
            put(&c, DATA + 0x10, &SEQ);
            c.gpr[4] = DATA;
            c.gpr[5] = 0x10;
            exec(&mut c, x31(8, 4, 5, 276));
            let (hi, lo) = if c.le {
                (0x0f0e_0d0c_0b0a_0908, 0x0706_0504_0302_0100)
            } else {
                (0x0001_0203_0405_0607, 0x0809_0a0b_0c0d_0e0f)
            };
            assert_eq!((c.gpr[8], c.gpr[9]), (hi, lo));
            assert_eq!(
                c.reservation.map(|r| (r.ea, r.len)),
                Some((DATA + 0x10, 16))
            );
            // stqcx. r8 with r8/r9 swapped stores the two doublewords the other way round.
            c.gpr[8] = lo;
            c.gpr[9] = hi;
            exec(&mut c, stcx_w(8, 4, 5, 182));
            assert_eq!(c.crf(0), 0b0010);
            let mut want = SEQ[8..].to_vec();
            want.extend_from_slice(&SEQ[..8]);
            assert_eq!(mem(&c, DATA + 0x10, 16), want);
        }
        let ill = Err(Exception::Program(ProgramKind::Illegal));
        let mut c = cpu();
        assert_eq!(try_exec(&mut c, x31(9, 4, 5, 276)), ill); // odd RTp
        assert_eq!(try_exec(&mut c, x31(4, 4, 5, 276)), ill); // RTp = RA
        assert_eq!(try_exec(&mut c, x31(6, 4, 6, 276)), ill); // RTp = RB
        assert_eq!(try_exec(&mut c, stcx_w(9, 4, 5, 182)), ill); // odd RSp
        assert_eq!(try_exec(&mut c, x31(6, 4, 5, 150)), ill); // stwcx. without Rc
    }

    #[test]
    fn dcbz_zeroes_aligned_block() {
        let mut c = cpu();
        put(&c, DATA, &[0xff; 0x200]);
        c.gpr[4] = DATA + 0x80;
        c.gpr[5] = 0x45;
        exec(&mut c, x31(0, 4, 5, 1014)); // dcbz r4,r5: EA = DATA+0xc5
        let m = mem(&c, DATA, 0x200);
        assert!(m[..0x80].iter().all(|&b| b == 0xff));
        assert!(m[0x80..0x100].iter().all(|&b| b == 0));
        assert!(m[0x100..].iter().all(|&b| b == 0xff));
    }

    #[test]
    fn icbi_invalidates_and_cache_hints() {
        let mut c = cpu();
        c.gpr[4] = CODE;
        c.gpr[5] = 0x24;
        exec(&mut c, x31(0, 4, 5, 982));
        assert_eq!(c.icache_inval, vec![CODE + 0x24]);
        // Beyond memory: icbi, dcbf, dcbst and dcbz fault; dcbt, dcbtst and icbt do not.
        c.gpr[5] = 1 << 20;
        c.gpr[4] = 0;
        for xo in [982, 86, 54] {
            assert_eq!(
                try_exec(&mut c, x31(0, 4, 5, xo)),
                Err(Exception::DataStorage {
                    ea: 1 << 20,
                    write: false
                }),
                "xo {xo}"
            );
        }
        assert_eq!(
            try_exec(&mut c, x31(0, 4, 5, 1014)),
            Err(Exception::DataStorage {
                ea: 1 << 20,
                write: true
            })
        );
        assert_eq!(c.icache_inval.len(), 1);
        for xo in [278, 246, 22] {
            exec(&mut c, x31(0, 4, 5, xo));
        }
        // Within memory dcbf/dcbst have no visible effect.
        c.gpr[5] = DATA;
        exec(&mut c, x31(0, 4, 5, 86));
        exec(&mut c, x31(0, 4, 5, 54));
    }

    #[test]
    fn fault_leaves_target_unchanged() {
        let end = 1u64 << 20; // testutil memory size
        let mut c = cpu();
        c.gpr[3] = 0x1111;
        c.gpr[4] = end;
        assert_eq!(
            try_exec(&mut c, d_form(32, 3, 4, 0)),
            Err(Exception::DataStorage {
                ea: end,
                write: false
            })
        );
        assert_eq!(c.gpr[3], 0x1111);
        // An access straddling the end faults too; the update form changes neither register.
        c.gpr[4] = end - 8;
        assert!(matches!(
            try_exec(&mut c, ds_form(58, 3, 4, 4, 1)),
            Err(Exception::DataStorage { write: false, .. })
        ));
        assert_eq!((c.gpr[3], c.gpr[4]), (0x1111, end - 8));
        assert!(matches!(
            try_exec(&mut c, d_form(37, 3, 4, 8)),
            Err(Exception::DataStorage { write: true, .. })
        ));
        assert_eq!(c.gpr[4], end - 8);
        // lmw that faults on its last word leaves all targets unchanged.
        let mut c = cpu_be();
        c.gpr[4] = end - 8;
        c.gpr[29] = 7;
        assert!(try_exec(&mut c, d_form(46, 29, 4, 0)).is_err());
        assert_eq!((c.gpr[29], c.gpr[30]), (7, 0));
    }

    #[test]
    fn decode_claims_only_its_words() {
        // Words from the assembler (powerpc64-linux-gnu-as -mpower9).
        for w in [
            0x7c6428ae, 0x7c6428ee, 0x7c642a2e, 0x7c642a6e, 0x7c642aae, 0x7c642aee, 0x7c64282e,
            0x7c64286e, 0x7c642aaa, 0x7c642aea, 0x7c64282a, 0x7c64286a, 0x7c6429ae, 0x7c6429ee,
            0x7c642b2e, 0x7c642b6e, 0x7c64292e, 0x7c64296e, 0x7c64292a, 0x7c64296a, 0x7c642e2c,
            0x7c642c2c, 0x7c642c28, 0x7c642f2c, 0x7c642d2c, 0x7c642d28, 0x7c682caa, 0x7c684c2a,
            0x7c642daa, 0x7c642d2a, 0x7c642868, 0x7c6428e8, 0x7c642828, 0x7c6428a8, 0x7cc42a28,
            0x7c642d6d, 0x7c642dad, 0x7c64292d, 0x7c6429ad, 0x7cc4296d, 0x7c042fec, 0x7c042a2c,
            0x7c0429ec, 0x7c0428ac, 0x7c04286c, 0x7c042fac, 0x7c04282c,
        ] {
            assert!(decode31(Insn(w)).is_some(), "{w:#010x}");
        }
        for w in [0xe0c40020u32, 0xf8c40022, 0xe864000a] {
            assert!(decode(Insn(w)).is_some(), "{w:#010x}");
        }
        // Reserved bit 31 set on a plain load; and words of other modules: add, or, mfspr, lvx,
        // lxvx.
        for w in [
            0x7c6428af,
            x31(3, 4, 5, 266),
            x31(3, 4, 5, 444),
            0x7c6042a6,
            x31(3, 4, 5, 103),
            x31(3, 4, 5, 268),
        ] {
            assert!(decode31(Insn(w)).is_none(), "{w:#010x}");
        }
    }
}
