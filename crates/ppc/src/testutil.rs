//! Helpers for the per-instruction unit tests: a CPU over a small memory, instruction encoders and
//! a one-instruction executor. Expectations in tests come from the ISA, not from running the code.

use crate::cpu::{Cpu, CpuModel, Exception};
use crate::mem::GuestMemory;
use std::sync::Arc;

/// Address where `exec` places the instruction under test.
pub const CODE: u64 = 0x1000;
/// A scratch data area tests may use.
pub const DATA: u64 = 0x8000;

/// A 64-bit little-endian problem-state CPU with FP/VEC/VSX enabled and 1 MiB of memory.
pub fn cpu() -> Cpu {
    let mem = Arc::new(GuestMemory::new(1 << 20).expect("mmap"));
    let mut c = Cpu::new(CpuModel::Power9, mem);
    use crate::cpu::msr::*;
    c.set_msr(SF | PR | FP | VEC | VSX | LE | EE);
    c.pc = CODE;
    c
}

/// The same CPU in big-endian mode.
pub fn cpu_be() -> Cpu {
    let mut c = cpu();
    c.set_msr(c.msr & !crate::cpu::msr::LE);
    c
}

/// Runs one instruction at `CODE`, panicking if it raises an exception.
pub fn exec(c: &mut Cpu, w: u32) {
    if let Err(e) = try_exec(c, w) {
        panic!("instruction {w:#010x} raised {e:?}");
    }
}

/// Runs one instruction at `CODE` and returns its outcome.
pub fn try_exec(c: &mut Cpu, w: u32) -> Result<(), Exception> {
    c.pc = CODE;
    let bytes = if c.le {
        w.to_le_bytes()
    } else {
        w.to_be_bytes()
    };
    assert!(c.mem.write(CODE, &bytes));
    crate::exec::step(c)
}

/// D-form: opcd | rt | ra | 16-bit immediate.
pub fn d_form(op: u32, rt: u32, ra: u32, imm: u16) -> u32 {
    op << 26 | rt << 21 | ra << 16 | imm as u32
}

/// X-form: opcd | rt | ra | rb | xo(10) | rc.
pub fn x_form(op: u32, rt: u32, ra: u32, rb: u32, xo: u32, rc: bool) -> u32 {
    op << 26 | rt << 21 | ra << 16 | rb << 11 | xo << 1 | rc as u32
}

/// XO-form: opcd | rt | ra | rb | oe | xo(9) | rc.
pub fn xo_form(op: u32, rt: u32, ra: u32, rb: u32, oe: bool, xo: u32, rc: bool) -> u32 {
    op << 26 | rt << 21 | ra << 16 | rb << 11 | (oe as u32) << 10 | xo << 1 | rc as u32
}

/// VX-form: 4 | vrt | vra | vrb | xo(11).
pub fn vx_form(vrt: u32, vra: u32, vrb: u32, xo: u32) -> u32 {
    4 << 26 | vrt << 21 | vra << 16 | vrb << 11 | xo
}

/// VA-form: 4 | vrt | vra | vrb | vrc | xo(6).
pub fn va_form(vrt: u32, vra: u32, vrb: u32, vrc: u32, xo: u32) -> u32 {
    4 << 26 | vrt << 21 | vra << 16 | vrb << 11 | vrc << 6 | xo
}

/// XX3-form: 60 | T | A | B | xo(8) at bits 21:28 | AX | BX | TX, from 6-bit register numbers.
pub fn xx3_form(xt: u32, xa: u32, xb: u32, xo: u32) -> u32 {
    60 << 26
        | (xt & 31) << 21
        | (xa & 31) << 16
        | (xb & 31) << 11
        | xo << 3
        | (xa >> 5) << 2
        | (xb >> 5) << 1
        | (xt >> 5)
}
