//! Branches, CR logical operations, SPR moves, system call and synchronisation instructions.

use crate::cpu::{Cpu, Ex, Exception, ProgramKind};
use crate::exec::Handler;
use crate::insn::Insn;

/// Opcodes 16 (bc), 17 (sc), 18 (b), 19 (CR ops, bclr, bcctr, isync, rfid...).
pub fn decode(i: Insn) -> Option<Handler> {
    Some(match i.opcd() {
        16 => bc,
        17 => sc,
        18 => b,
        19 => match i.xo10() {
            16 => bclr,
            528 => bcctr,
            150 => nop, // isync: no prefetch to discard in an interpreter
            _ => return None,
        },
        _ => return None,
    })
}

/// Opcode 31 extended opcodes owned by this module (SPR/CR moves, sync, traps).
pub fn decode31(i: Insn) -> Option<Handler> {
    Some(match i.xo10() {
        339 => mfspr,
        467 => mtspr,
        598 => nop, // sync/lwsync/ptesync: one thread, accesses already in order
        _ => return None,
    })
}

fn nop(_: &mut Cpu, _: Insn) -> Ex {
    Ok(())
}

/// BO/BI condition evaluation, decrementing CTR when BO says so.
#[inline(always)]
fn cond_ok(cpu: &mut Cpu, i: Insn, allow_ctr: bool) -> Result<bool, Exception> {
    let bo = i.rt() as u32;
    let mut ctr_ok = true;
    if bo & 4 == 0 {
        if !allow_ctr {
            return Err(Exception::Program(ProgramKind::Illegal));
        }
        cpu.ctr = cpu.ctr.wrapping_sub(1);
        let ctr = if cpu.sf() {
            cpu.ctr
        } else {
            cpu.ctr as u32 as u64
        };
        ctr_ok = (ctr != 0) ^ (bo & 2 != 0);
    }
    let cond_ok = bo & 16 != 0 || cpu.crbit(i.ra()) == (bo & 8 != 0);
    Ok(ctr_ok && cond_ok)
}

fn b(cpu: &mut Cpu, i: Insn) -> Ex {
    let li = ((i.0 & 0x03ff_fffc) << 6) as i32 >> 6;
    let target = if i.aa() {
        li as i64 as u64
    } else {
        cpu.pc.wrapping_add(li as i64 as u64)
    };
    if i.lk() {
        cpu.lr = cpu.nip;
    }
    cpu.nip = target;
    Ok(())
}

fn bc(cpu: &mut Cpu, i: Insn) -> Ex {
    let take = cond_ok(cpu, i, true)?;
    if i.lk() {
        cpu.lr = cpu.nip;
    }
    if take {
        let bd = (i.0 & 0xfffc) as u16 as i16 as i64 as u64;
        cpu.nip = if i.aa() { bd } else { cpu.pc.wrapping_add(bd) };
    }
    Ok(())
}

fn bclr(cpu: &mut Cpu, i: Insn) -> Ex {
    let take = cond_ok(cpu, i, true)?;
    let target = cpu.lr & !3;
    if i.lk() {
        cpu.lr = cpu.nip;
    }
    if take {
        cpu.nip = target;
    }
    Ok(())
}

fn bcctr(cpu: &mut Cpu, i: Insn) -> Ex {
    // BO[2]=0 (decrement CTR) is an invalid form for bcctr.
    let take = cond_ok(cpu, i, false)?;
    if i.lk() {
        cpu.lr = cpu.nip;
    }
    if take {
        cpu.nip = cpu.ctr & !3;
    }
    Ok(())
}

fn sc(_: &mut Cpu, i: Insn) -> Ex {
    if i.0 & 2 == 0 {
        return Err(Exception::Program(ProgramKind::Illegal));
    }
    Err(Exception::SystemCall {
        lev: i.bits(20, 26) as u8,
    })
}

fn mfspr(cpu: &mut Cpu, i: Insn) -> Ex {
    let v = match i.spr() {
        1 => cpu.xer.get(),
        8 => cpu.lr,
        9 => cpu.ctr,
        _ => return Err(Exception::Program(ProgramKind::Illegal)),
    };
    cpu.gpr[i.rt()] = v;
    Ok(())
}

fn mtspr(cpu: &mut Cpu, i: Insn) -> Ex {
    let v = cpu.gpr[i.rt()];
    match i.spr() {
        1 => cpu.xer.set(v),
        8 => cpu.lr = v,
        9 => cpu.ctr = v,
        _ => return Err(Exception::Program(ProgramKind::Illegal)),
    }
    Ok(())
}
