//! RTAS (Run-Time Abstraction Services): the guest calls the RTAS entry (a tiny code blob placed by
//! `instantiate-rtas`) with a big-endian argument buffer; the blob makes the KVMPPC_H_RTAS hcall and
//! we dispatch by token through one table. Each module exports its `RTAS` rows (name, handler); tokens
//! are assigned from the table order and published in the /rtas device-tree node.

use crate::hcall::{HcallFn, H_PARAMETER, H_SUCCESS};
use crate::machine::Machine;
use ppc::Cpu;

/// The hcall number the RTAS blob uses (QEMU/KVM private range).
pub const KVMPPC_H_RTAS: u64 = 0xf000;

/// RTAS status codes.
pub const RTAS_OUT_SUCCESS: i32 = 0;
pub const RTAS_OUT_HW_ERROR: i32 = -1;
pub const RTAS_OUT_PARAM_ERROR: i32 = -3;
pub const RTAS_OUT_NOT_SUPPORTED: i32 = -3;

/// First token number; tokens are `TOKEN_BASE + index` in `table()`.
pub const TOKEN_BASE: u32 = 0x2000;

/// Most arguments + returns an RTAS buffer may carry (the buffer is 3 + 16 cells).
pub const MAX_CELLS: usize = 16;

/// One decoded RTAS call: its argument cells and room for the return cells.
#[derive(Debug)]
pub struct RtasCall {
    pub args: Vec<u32>,
    pub rets: Vec<u32>,
}

impl RtasCall {
    pub fn arg(&self, i: usize) -> Option<u32> {
        self.args.get(i).copied()
    }
    /// Sets return cell `i` if the caller asked for that many.
    pub fn set_ret(&mut self, i: usize, v: u32) {
        if let Some(r) = self.rets.get_mut(i) {
            *r = v;
        }
    }
    /// Sets the status (return cell 0).
    pub fn status(&mut self, s: i32) {
        self.set_ret(0, s as u32);
    }
}

pub type RtasFn = fn(&Machine, &mut Cpu, &mut RtasCall);

/// Every module's RTAS rows.
pub fn table() -> impl Iterator<Item = &'static (&'static str, RtasFn)> {
    [
        crate::vty::RTAS,
        crate::nvram::RTAS,
        crate::xics::RTAS,
        crate::vcpu::RTAS,
        RTAS,
    ]
    .into_iter()
    .flat_map(|t| t.iter())
}

/// Token of the RTAS service `name`, as published in /rtas.
pub fn token(name: &str) -> Option<u32> {
    table()
        .position(|(n, _)| *n == name)
        .map(|i| TOKEN_BASE + i as u32)
}

/// RTAS services of the machine itself (power, time).
pub const RTAS: &[(&str, RtasFn)] = &[];

pub const HCALLS: &[(u64, &str, HcallFn)] = &[(KVMPPC_H_RTAS, "KVMPPC_H_RTAS", h_rtas)];

/// KVMPPC_H_RTAS: r4 = real address of the argument buffer.
fn h_rtas(m: &Machine, cpu: &mut Cpu) -> i64 {
    let buf = cpu.gpr[4];
    let mem = &m.mem;
    let rd = |a: u64| -> Option<u32> {
        let mut b = [0u8; 4];
        mem.read(a, &mut b).then(|| u32::from_be_bytes(b))
    };
    let (Some(tok), Some(nargs), Some(nret)) = (rd(buf), rd(buf + 4), rd(buf + 8)) else {
        return H_PARAMETER;
    };
    let (nargs, nret) = (nargs as usize, nret as usize);
    if nargs + nret > MAX_CELLS {
        return H_PARAMETER;
    }
    let mut call = RtasCall {
        args: Vec::with_capacity(nargs),
        rets: vec![0; nret],
    };
    for i in 0..nargs {
        match rd(buf + 12 + 4 * i as u64) {
            Some(v) => call.args.push(v),
            None => return H_PARAMETER,
        }
    }
    let idx = tok.wrapping_sub(TOKEN_BASE) as usize;
    match table().nth(idx) {
        Some((_, f)) if tok >= TOKEN_BASE => f(m, cpu, &mut call),
        _ => call.status(RTAS_OUT_NOT_SUPPORTED),
    }
    let rets_at = buf + 12 + 4 * nargs as u64;
    for (i, r) in call.rets.iter().enumerate() {
        if !mem.write(rets_at + 4 * i as u64, &r.to_be_bytes()) {
            return H_PARAMETER;
        }
    }
    H_SUCCESS
}

/// The RTAS entry blob, big-endian (RTAS is always entered in big-endian mode):
/// `mr r4,r3; lis r3,0; ori r3,r3,0xf000; sc 1; blr`.
pub const BLOB: [u32; 5] = [
    0x7c64_1b78,
    0x3c60_0000,
    0x6063_f000,
    0x4400_0022,
    0x4e80_0020,
];

/// Size the /rtas node advertises (`rtas-size`).
pub const RTAS_SIZE: u64 = 0x1000;
