//! Fixed-point loads and stores, reservations, string/multiple forms and cache-management hints.

use crate::cpu::{Cpu, Ex};
use crate::exec::Handler;
use crate::insn::{ea_d, Insn};

/// Primary opcodes 32..47 and the DS/DQ-form opcodes 56..58, 61, 62.
pub fn decode(i: Insn) -> Option<Handler> {
    Some(match i.opcd() {
        32 => lwz,
        36 => stw,
        58 if i.xo2() == 0 => ld,
        62 if i.xo2() == 0 => std,
        _ => return None,
    })
}

/// Opcode 31 extended opcodes owned by this module.
pub fn decode31(_i: Insn) -> Option<Handler> {
    None
}

fn lwz(cpu: &mut Cpu, i: Insn) -> Ex {
    let ea = ea_d(cpu, i, i.si());
    cpu.gpr[i.rt()] = cpu.ld_u32(ea)? as u64;
    Ok(())
}

fn stw(cpu: &mut Cpu, i: Insn) -> Ex {
    let ea = ea_d(cpu, i, i.si());
    cpu.st_u32(ea, cpu.gpr[i.rt()] as u32)
}

fn ld(cpu: &mut Cpu, i: Insn) -> Ex {
    let ea = ea_d(cpu, i, i.ds());
    cpu.gpr[i.rt()] = cpu.ld_u64(ea)?;
    Ok(())
}

fn std(cpu: &mut Cpu, i: Insn) -> Ex {
    let ea = ea_d(cpu, i, i.ds());
    cpu.st_u64(ea, cpu.gpr[i.rt()])
}
