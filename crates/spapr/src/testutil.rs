//! Helpers for unit tests: a small machine whose console output is captured, a supervisor-state
//! CPU on it, and RTAS/hcall invocation the way the guest does it.

use crate::machine::{Machine, MachineConfig};
use ppc::{Cpu, CpuModel};
use std::sync::{Arc, Mutex};

/// Console output captured by a test machine.
#[derive(Clone, Default)]
pub struct Captured(pub Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut v) = self.0.lock() {
            v.extend_from_slice(b);
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().map(|v| v.clone()).unwrap_or_default()).into_owned()
    }
}

/// A 64 MiB, one-vCPU machine and its captured console.
pub fn machine() -> (Machine, Captured) {
    let out = Captured::default();
    let cfg = MachineConfig {
        ram_size: 64 << 20,
        ..Default::default()
    };
    let m = Machine::new(cfg, Box::new(out.clone())).expect("machine");
    (m, out)
}

/// A supervisor-state, big-endian CPU on `m`'s memory.
pub fn cpu(m: &Machine) -> Cpu {
    let mut c = Cpu::new(CpuModel::Power9, m.mem.clone());
    c.set_msr(ppc::cpu::msr::SF | ppc::cpu::msr::ME);
    c
}

/// Makes hcall `nr` with arguments r4.. and returns r3.
pub fn hcall(m: &Machine, c: &mut Cpu, nr: u64, args: &[u64]) -> i64 {
    c.gpr[3] = nr;
    for (i, a) in args.iter().enumerate() {
        c.gpr[4 + i] = *a;
    }
    crate::hcall::dispatch(m, c);
    c.gpr[3] as i64
}

/// Buffer address used for RTAS argument blocks in tests.
pub const RTAS_BUF: u64 = 0x10000;

/// Calls RTAS service `name` with `args`, expecting `nret` returns; returns them.
pub fn rtas(m: &Machine, c: &mut Cpu, name: &str, args: &[u32], nret: usize) -> Vec<u32> {
    let tok = crate::rtas::token(name).expect("service exists");
    let mut words = vec![tok, args.len() as u32, nret as u32];
    words.extend_from_slice(args);
    words.extend(std::iter::repeat_n(0xdead_beef, nret));
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_be_bytes()).collect();
    assert!(m.mem.write(RTAS_BUF, &bytes));
    assert_eq!(hcall(m, c, crate::rtas::KVMPPC_H_RTAS, &[RTAS_BUF]), 0);
    (0..nret)
        .map(|i| {
            let mut b = [0u8; 4];
            assert!(m
                .mem
                .read(RTAS_BUF + 12 + 4 * (args.len() + i) as u64, &mut b));
            u32::from_be_bytes(b)
        })
        .collect()
}
