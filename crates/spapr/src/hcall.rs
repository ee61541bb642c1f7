//! Hypercalls (`sc 1` from the guest kernel): one table from hcall number to handler. Handlers read
//! their arguments from r4.. and may write outputs to r4..; their return value goes to r3.
//! Each PAPR concept's module exports its own `HCALLS` rows; unknown numbers get H_FUNCTION and are
//! logged, rate-limited (`ppc::ratelog`).

use crate::machine::Machine;
use ppc::Cpu;

pub type HcallFn = fn(&Machine, &mut Cpu) -> i64;

pub use crate::papr::{
    H_AUTHORITY, H_BAD_MODE, H_BUSY, H_CLOSED, H_DROPPED, H_FUNCTION, H_HARDWARE, H_NOT_AVAILABLE,
    H_NOT_FOUND, H_NO_MEM, H_P2, H_P3, H_P4, H_PARAMETER, H_PERMISSION, H_PRIVILEGE, H_PTEG_FULL,
    H_RESERVED_DABR, H_RESOURCE, H_SUCCESS, H_UNSUPPORTED_FLAG,
};

/// An hcall number that panics in unit tests, to prove a vCPU panic stops the machine.
#[cfg(test)]
pub const TEST_PANIC: u64 = 0x7ff0;

/// Every module's hcall rows. A module adds its handlers by exporting `HCALLS`.
fn tables() -> [&'static [(u64, &'static str, HcallFn)]; 12] {
    [
        crate::tce::HCALLS,
        crate::vio::HCALLS,
        crate::vio::crq::HCALLS,
        crate::vio::rng::HCALLS,
        crate::vio::vlan::HCALLS,
        crate::mmu::HCALLS,
        crate::hpt::HCALLS,
        crate::vio::vty::HCALLS,
        crate::xics::HCALLS,
        crate::rtas::HCALLS,
        crate::vof::HCALLS,
        crate::vcpu::HCALLS,
    ]
}

/// Finds the handler of hcall `nr`.
pub fn lookup(nr: u64) -> Option<(&'static str, HcallFn)> {
    #[cfg(test)]
    if nr == TEST_PANIC {
        return Some(("test-panic", |_, _| panic!("test panic")));
    }
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

/// Unknown numbers are logged rate-limited: a guest looping over numbers cannot flood stderr.
fn log_unknown(nr: u64) {
    static LOG: ppc::ratelog::RateLog = ppc::ratelog::RateLog::new("unimplemented hcalls");
    LOG.once(nr, || format!("unimplemented hcall {nr:#x}"));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every registered hcall, fed seeded random and edge-value arguments (including RTAS buffers
    /// and client-interface blocks full of garbage), must return a code and never panic.
    #[test]
    fn random_arguments_never_panic() {
        use crate::testutil::{cpu, machine};
        let mut seed = 0x1234_5678_9abc_def0u64;
        let mut next = || {
            seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = seed;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        let edges = [
            0,
            1,
            u64::MAX,
            0x7100_0000,
            0x1100,
            0x1000,
            0xfff,
            1 << 40,
            0x10_0000,
        ];
        let (m, _) = machine();
        // Fill low memory with garbage so pointers to it read nonsense.
        let mut junk = vec![0u8; 1 << 20];
        for b in junk.iter_mut() {
            *b = next() as u8;
        }
        assert!(m.mem.write(0, &junk));
        let nrs: Vec<u64> = tables()
            .iter()
            .flat_map(|t| t.iter().map(|r| r.0))
            .collect();
        for round in 0..300 {
            for &nr in &nrs {
                let mut c = cpu(&m);
                c.gpr[3] = nr;
                for r in 4..12 {
                    let v = next();
                    c.gpr[r] = match v % 4 {
                        0 => edges[(v >> 8) as usize % edges.len()],
                        1 => v % (1 << 20),
                        _ => v,
                    };
                }
                dispatch(&m, &mut c);
                let _ = round;
            }
        }
    }

    /// Every RTAS service with random argument counts and values must answer without panicking
    /// (power-off & co. may change the run state; that is fine).
    #[test]
    fn random_rtas_calls_never_panic() {
        use crate::testutil::{cpu, machine};
        let mut seed = 42u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let (m, _) = machine();
        let names: Vec<&str> = crate::rtas::table().map(|(n, _)| *n).collect();
        let buf = 0x8000u64;
        for _ in 0..200 {
            for name in &names {
                let tok = crate::rtas::token(name).expect("listed");
                let nargs = (next() % 9) as u32;
                let nret = (next() % 9) as u32;
                let mut words = vec![tok, nargs, nret];
                for _ in 0..nargs {
                    let v = next();
                    words.push(match v % 3 {
                        0 => v as u32 % 0x2000,
                        1 => u32::MAX - (v as u32 % 16),
                        _ => v as u32,
                    });
                }
                words.extend(std::iter::repeat_n(0, nret as usize));
                let b: Vec<u8> = words.iter().flat_map(|w| w.to_be_bytes()).collect();
                assert!(m.mem.write(buf, &b));
                let mut c = cpu(&m);
                c.gpr[3] = crate::rtas::KVMPPC_H_RTAS;
                c.gpr[4] = buf;
                dispatch(&m, &mut c);
            }
        }
    }

    /// Every client-interface service, called with random argument counts and values (pointers
    /// into garbage, at the end of RAM, or wild), must fail cleanly rather than panic.
    #[test]
    fn random_client_interface_calls_never_panic() {
        use crate::testutil::{cpu, machine};
        let mut seed = 7u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let (m, _) = machine();
        let tree = crate::fdt::build(&m.config, None);
        {
            let mut vof = m.vof.lock().expect("vof");
            *vof = crate::vof::Vof::new(m.config.ram_size);
            vof.install(&m.mem, &tree, (0x40_0000, 0x50_0000), None)
                .expect("install");
        }
        *m.tree.lock().expect("tree") = tree;
        let services = [
            "finddevice",
            "getprop",
            "getproplen",
            "nextprop",
            "setprop",
            "peer",
            "child",
            "parent",
            "instance-to-package",
            "package-to-path",
            "instance-to-path",
            "canon",
            "open",
            "close",
            "write",
            "read",
            "seek",
            "claim",
            "release",
            "milliseconds",
            "call-method",
            "test",
            "interpret",
            "quiesce",
            "nonexistent",
        ];
        let (args, strs) = (0x20_0000u64, 0x20_1000u64);
        let mem_end = m.mem.size() as u32;
        for _ in 0..300 {
            for svc in services {
                let mut name = svc.as_bytes().to_vec();
                name.push(0);
                assert!(m.mem.write(strs, &name));
                let nargs = (next() % 12) as u32;
                let nret = (next() % 12) as u32;
                let mut words = vec![strs as u32, nargs, nret];
                for _ in 0..10 {
                    let v = next();
                    words.push(match v % 4 {
                        0 => strs as u32 + (v as u32 % 64),
                        1 => mem_end.wrapping_sub(v as u32 % 8),
                        2 => v as u32 % 0x100,
                        _ => v as u32,
                    });
                }
                let b: Vec<u8> = words.iter().flat_map(|w| w.to_be_bytes()).collect();
                assert!(m.mem.write(args, &b));
                let mut c = cpu(&m);
                c.gpr[3] = crate::vof::KVMPPC_H_VOF_CLIENT;
                c.gpr[4] = args;
                dispatch(&m, &mut c);
            }
        }
    }

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
