//! Top-level decode: the primary opcode picks the group module that owns it; each module decodes
//! its extended opcodes. Anything no module claims is an illegal instruction, and so is anything
//! introduced by a later ISA level than the CPU's (`insn::levels`): gating happens here, when a
//! page is decoded, so it costs nothing per executed instruction.

use crate::cpu::{Cpu, Ex, Exception, IsaLevel, ProgramKind};
use crate::exec::Handler;
use crate::insn::{branch, fixed, fp, isa31, levels, loadstore, prefixed, sys, vmx, vsx, Insn};

/// Maps an instruction word to its handler at the newest ISA level implemented. Never fails:
/// unknown words get `illegal`.
pub fn decode(w: u32) -> Handler {
    decode_for(IsaLevel::MAX, w)
}

/// Maps an instruction word to its handler on a processor of ISA level `level`: instructions
/// introduced by later levels are illegal there.
pub fn decode_for(level: IsaLevel, w: u32) -> Handler {
    let i = Insn(w);
    if level < IsaLevel::MAX && levels::introduced(i) > level {
        return illegal;
    }
    let h = match i.opcd() {
        // maddhd/maddhdu/maddld are VA-form fixed-point instructions under the vector opcode.
        4 => fixed::decode(i)
            .or_else(|| vmx::decode(i))
            .or_else(|| isa31::decode(i)),
        // lxvp/stxvp.
        6 => isa31::decode(i),
        16..=19 => branch::decode(i).or_else(|| sys::decode(i)),
        31 => fixed::decode31(i)
            .or_else(|| loadstore::decode31(i))
            .or_else(|| branch::decode31(i))
            .or_else(|| sys::decode31(i))
            .or_else(|| fp::decode31(i))
            .or_else(|| vmx::decode31(i))
            .or_else(|| vsx::decode31(i))
            .or_else(|| isa31::decode(i)),
        48..=55 | 59 => fp::decode(i),
        // The quad-precision xs*qp instructions share opcode 63 with scalar FP.
        63 => fp::decode(i).or_else(|| vsx::decode(i)),
        // lfdp/stfdp (FP) share these with lxsd/lxssp/lxv/stxv/stxsd/stxssp (VSX).
        57 | 61 => fp::decode(i).or_else(|| vsx::decode(i)),
        60 => vsx::decode(i).or_else(|| isa31::decode(i)),
        32..=47 | 56 | 58 | 62 => loadstore::decode(i),
        _ => fixed::decode(i),
    };
    h.unwrap_or(illegal)
}

/// Maps a prefixed instruction (ISA 3.1: prefix word with primary opcode 1, then the suffix) to
/// its handler at the newest ISA level.
pub fn decode_prefixed(prefix: u32, suffix: Option<u32>) -> Handler {
    decode_prefixed_for(IsaLevel::MAX, prefix, suffix)
}

/// Maps a prefixed instruction to its handler on a processor of ISA level `level`; the handler
/// reads the prefix from `Cpu::prefix` and sets `nip` past the suffix. `suffix` is None when the
/// instruction would cross a 64-byte boundary (the prefix is the last word of a 64-byte block),
/// which raises an alignment interrupt. Before ISA 3.1, primary opcode 1 is illegal.
pub fn decode_prefixed_for(level: IsaLevel, prefix: u32, suffix: Option<u32>) -> Handler {
    if level < IsaLevel::V3_1 {
        return illegal_prefix;
    }
    match suffix {
        None => prefix_crossing,
        Some(s) => prefixed::decode(prefix, Insn(s)).unwrap_or(illegal_prefix),
    }
}

/// An unimplemented or invalid prefixed instruction, or opcode 1 before ISA 3.1.
fn illegal_prefix(cpu: &mut Cpu, _i: Insn) -> Ex {
    log_once(cpu.prefix, cpu.pc);
    Err(Exception::Program(ProgramKind::Illegal))
}

/// A prefixed instruction crossing a 64-byte boundary: alignment interrupt.
fn prefix_crossing(cpu: &mut Cpu, _i: Insn) -> Ex {
    Err(Exception::Alignment { ea: cpu.pc })
}

/// Words that are not instructions of the implemented ISA.
pub fn illegal(cpu: &mut Cpu, i: Insn) -> Ex {
    log_once(i.0, cpu.pc);
    Err(Exception::Program(ProgramKind::Illegal))
}

/// Reports each distinct unimplemented/illegal word on stderr, rate-limited (`crate::ratelog`), so
/// gaps are visible without a guest that probes features in a loop flooding the log.
fn log_once(w: u32, pc: u64) {
    static LOG: crate::ratelog::RateLog = crate::ratelog::RateLog::new("illegal instructions");
    if std::env::var_os("LPAR_QUIET_ILLEGAL").is_some() {
        return;
    }
    LOG.once(w as u64, || {
        format!("illegal or unimplemented instruction {w:#010x} at {pc:#x}")
    });
}
