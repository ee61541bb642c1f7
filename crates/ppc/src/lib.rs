//! `ppc`: a Power ISA (2.06–3.1) CPU core: architected state, decode, interpreter, memory access.
//! It knows nothing of any machine: callers run it and handle the `Exception`s it stops with.

pub mod clock;
pub mod cpu;
pub mod decode;
pub mod exec;
pub mod insn;
pub mod interrupt;
pub mod jit;
pub mod mem;
pub mod mmu;
pub mod ratelog;
pub mod smp;

pub use cpu::{Cpu, CpuModel, Ex, Exception, ProgramKind, Xer};
pub use exec::{run, step, DecodeCache, Handler};
pub use insn::Insn;
pub use mem::{GuestMemory, Mmio};

#[cfg(test)]
pub(crate) mod testutil;
