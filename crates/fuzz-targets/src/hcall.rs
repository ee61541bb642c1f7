//! `hcall`: sequences of hypercalls with arbitrary register files, through `spapr::hcall::dispatch`
//! as the vCPU loop makes them after `sc 1`. Outputs of one call stay in the registers, so a later
//! call can use them (H_ENTER's PTE index for H_REMOVE, say).
//!
//! Input: byte 0 model (bits 0-1) and vCPUs (bits 2-3, 1..4), byte 1 calling vCPU; the data
//! window (u16 length + bytes, written at `machine::DATA`); then per call: a number selector (below
//! 0xf0: the n-th implemented hcall; 0xf0: any 64-bit number; else a multiple of 4 below 0x1000)
//! and r4..r12.

use crate::input::Input;
use crate::machine::{arg64, cpu, hcall_numbers, load_data, machine};
use ppc::CpuModel;
use spapr::hcall::{dispatch, lookup, H_FUNCTION};

/// Calls per input.
const MAX_CALLS: usize = 8;

pub fn hcall(data: &[u8]) {
    let mut inp = Input::new(data);
    let b0 = inp.u8();
    let model = CpuModel::ALL[b0 as usize & 3];
    let smp = 1 + (b0 as u32 >> 2 & 3);
    let me = inp.u8() as usize % smp as usize;
    let m = machine(model, smp);
    let mut c = cpu(&m, me);
    load_data(&m, &mut inp);
    let nrs = hcall_numbers();
    for _ in 0..MAX_CALLS {
        if inp.is_empty() {
            break;
        }
        let sel = inp.u8();
        let nr = match sel {
            0..=0xef => nrs[sel as usize % nrs.len()],
            0xf0 => inp.u64(),
            _ => (inp.u16() as u64 & 0x3ff) << 2,
        };
        c.gpr[3] = nr;
        for r in 4..=12 {
            c.gpr[r] = arg64(&mut inp, c.gpr[r]);
        }
        let args = [c.gpr[4], c.gpr[5], c.gpr[6]];
        dispatch(&m, &mut c);
        crate::trace!(
            "hcall {nr:#x}({:#x}, {:#x}, {:#x}) = {}",
            args[0],
            args[1],
            args[2],
            c.gpr[3] as i64
        );
        if lookup(nr).is_none() {
            assert_eq!(c.gpr[3], H_FUNCTION as u64, "unknown hcall {nr:#x}");
        }
    }
}
