//! Fixed-point arithmetic, logical, compare, rotate and shift instructions.

use crate::cpu::{Cpu, Ex};
use crate::exec::Handler;
use crate::insn::Insn;

/// Primary opcodes owned by this module (everything not claimed elsewhere in decode.rs).
pub fn decode(i: Insn) -> Option<Handler> {
    Some(match i.opcd() {
        14 => addi,
        15 => addis,
        24 => ori,
        _ => return None,
    })
}

/// Opcode 31 extended opcodes owned by this module.
pub fn decode31(i: Insn) -> Option<Handler> {
    Some(match i.xo9() {
        266 => add,
        _ => match i.xo10() {
            444 => or,
            _ => return None,
        },
    })
}

fn ra0(cpu: &Cpu, i: Insn) -> u64 {
    if i.ra() == 0 {
        0
    } else {
        cpu.gpr[i.ra()]
    }
}

fn addi(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.gpr[i.rt()] = ra0(cpu, i).wrapping_add(i.si() as u64);
    Ok(())
}

fn addis(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.gpr[i.rt()] = ra0(cpu, i).wrapping_add((i.si() << 16) as u64);
    Ok(())
}

fn ori(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.gpr[i.ra()] = cpu.gpr[i.rt()] | i.ui();
    Ok(())
}

fn add(cpu: &mut Cpu, i: Insn) -> Ex {
    let (a, b) = (cpu.gpr[i.ra()], cpu.gpr[i.rb()]);
    let r = a.wrapping_add(b);
    if i.oe() {
        let ov = ((a ^ r) & (b ^ r)) >> 63 != 0;
        let ov32 = ((a ^ r) & (b ^ r)) >> 31 & 1 != 0;
        cpu.xer.ov = ov;
        cpu.xer.ov32 = ov32;
        cpu.xer.so |= ov;
    }
    cpu.gpr[i.rt()] = r;
    if i.rc_bit() {
        cpu.set_cr0(r);
    }
    Ok(())
}

fn or(cpu: &mut Cpu, i: Insn) -> Ex {
    let r = cpu.gpr[i.rt()] | cpu.gpr[i.rb()];
    cpu.gpr[i.ra()] = r;
    if i.rc_bit() {
        cpu.set_cr0(r);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;

    #[test]
    fn addi_li() {
        // addi r3,0,-5 (li r3,-5): RA=0 means the literal 0, not r0.
        let mut c = cpu();
        c.gpr[0] = 100;
        exec(&mut c, d_form(14, 3, 0, -5i16 as u16));
        assert_eq!(c.gpr[3], -5i64 as u64);
    }

    #[test]
    fn addo_overflow() {
        // addo. r3,r4,r5 with 0x7fff..ff + 1: signed overflow sets OV, SO, and CR0[SO].
        let mut c = cpu();
        c.gpr[4] = i64::MAX as u64;
        c.gpr[5] = 1;
        exec(&mut c, xo_form(31, 3, 4, 5, true, 266, true));
        assert_eq!(c.gpr[3], 1 << 63);
        assert!(c.xer.ov && c.xer.so && !c.xer.ov32);
        assert_eq!(c.crf(0), 0b1001);
    }
}
