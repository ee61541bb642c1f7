//! Hypercalls (`sc 1` from the guest kernel): one table from hcall number to handler. Handlers read
//! their arguments from r4.. and may write outputs to r4..; their return value goes to r3.
//! Each PAPR concept's module exports its own `HCALLS` rows; unknown numbers get H_FUNCTION and are
//! logged once.

use crate::machine::Machine;
use ppc::Cpu;

pub type HcallFn = fn(&Machine, &mut Cpu) -> i64;

/// PAPR return codes.
pub const H_SUCCESS: i64 = 0;
pub const H_BUSY: i64 = 1;
pub const H_HARDWARE: i64 = -1;
pub const H_FUNCTION: i64 = -2;
pub const H_PRIVILEGE: i64 = -3;
pub const H_PARAMETER: i64 = -4;
pub const H_BAD_MODE: i64 = -5;
pub const H_PTEG_FULL: i64 = -6;
pub const H_NOT_FOUND: i64 = -7;
pub const H_RESERVED_DABR: i64 = -8;
pub const H_NO_MEM: i64 = -9;
pub const H_AUTHORITY: i64 = -10;
pub const H_PERMISSION: i64 = -11;
pub const H_DROPPED: i64 = -12;
pub const H_RESOURCE: i64 = -16;
pub const H_CLOSED: i64 = -34;
pub const H_NOT_AVAILABLE: i64 = -40;
pub const H_P2: i64 = -55;
pub const H_P3: i64 = -56;
pub const H_P4: i64 = -57;
pub const H_UNSUPPORTED_FLAG: i64 = -256;

/// Every module's hcall rows. A module adds its handlers by exporting `HCALLS`.
fn tables() -> [&'static [(u64, &'static str, HcallFn)]; 8] {
    [
        crate::vio::HCALLS,
        crate::mmu::HCALLS,
        crate::hpt::HCALLS,
        crate::vty::HCALLS,
        crate::xics::HCALLS,
        crate::rtas::HCALLS,
        crate::vof::HCALLS,
        crate::vcpu::HCALLS,
    ]
}

/// Finds the handler of hcall `nr`.
pub fn lookup(nr: u64) -> Option<(&'static str, HcallFn)> {
    tables()
        .iter()
        .flat_map(|t| t.iter())
        .find(|(n, _, _)| *n == nr)
        .map(|&(_, name, f)| (name, f))
}

/// Runs the hypercall the guest asked for in r3 and puts the return code in r3.
pub fn dispatch(m: &Machine, cpu: &mut Cpu) {
    let nr = cpu.gpr[3];
    let ret = match lookup(nr) {
        Some((name, f)) => {
            if trace() {
                eprintln!(
                    "hcall {name}({:#x}, {:#x}, {:#x}, {:#x})",
                    cpu.gpr[4], cpu.gpr[5], cpu.gpr[6], cpu.gpr[7]
                );
            }
            f(m, cpu)
        }
        None => {
            log_unknown(nr);
            H_FUNCTION
        }
    };
    cpu.gpr[3] = ret as u64;
}

/// LPAR_TRACE_HCALLS=1 prints every hypercall on stderr (debugging aid).
fn trace() -> bool {
    use std::sync::OnceLock;
    static T: OnceLock<bool> = OnceLock::new();
    *T.get_or_init(|| std::env::var_os("LPAR_TRACE_HCALLS").is_some())
}

fn log_unknown(nr: u64) {
    use std::collections::HashSet;
    static SEEN: Mutex<Option<HashSet<u64>>> = Mutex::new(None);
    if let Ok(mut g) = SEEN.lock() {
        if g.get_or_insert_with(HashSet::new).insert(nr) {
            eprintln!("lpar: unimplemented hcall {nr:#x}");
        }
    }
}

use std::sync::Mutex;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_duplicate_hcall_numbers() {
        let mut all: Vec<u64> = tables()
            .iter()
            .flat_map(|t| t.iter().map(|r| r.0))
            .collect();
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), n, "an hcall number is registered twice");
    }
}
