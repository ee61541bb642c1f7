//! vmx instructions.

use crate::exec::Handler;
use crate::insn::Insn;

/// Primary opcodes owned by this module.
pub fn decode(_i: Insn) -> Option<Handler> {
    None
}

/// Opcode 31 extended opcodes owned by this module.
pub fn decode31(_i: Insn) -> Option<Handler> {
    None
}
