//! The vCPU: runs the CPU core in slices, services hypercalls, takes interrupts, and idles in
//! H_CEDE until an interrupt or the decrementer wakes it. Also the processor-related hcalls and RTAS
//! services (H_CEDE, H_PROD, H_CONFER, H_SET_MODE, H_REGISTER_VPA, start-cpu, stop-self, …).

use crate::hcall::{self, HcallFn};
use crate::machine::{Machine, RunState};
use crate::rtas::RtasFn;
use ppc::{Cpu, DecodeCache, Exception};
use std::time::Duration;

/// Instructions per slice between checks of interrupts and the run state.
pub const SLICE: u64 = 20_000;

/// One virtual processor.
pub struct Vcpu {
    pub cpu: Cpu,
    pub cache: DecodeCache,
    /// Set by H_CEDE: the vCPU sleeps until an interrupt is pending.
    pub ceded: bool,
}

impl Vcpu {
    pub fn new(cpu: Cpu) -> Vcpu {
        Vcpu {
            cpu,
            cache: DecodeCache::default(),
            ceded: false,
        }
    }

    /// Runs until the machine leaves the Running state; returns that state.
    pub fn run(&mut self, m: &Machine) -> RunState {
        loop {
            let st = m.run_state();
            if st != RunState::Running {
                return st;
            }
            if self.ceded {
                self.idle(m);
                continue;
            }
            self.cpu.check_async();
            match ppc::run(&mut self.cpu, &mut self.cache, SLICE) {
                Ok(()) => {}
                Err(Exception::SystemCall { lev: 1 }) if !self.cpu.pr() => {
                    let nr = self.cpu.gpr[3];
                    hcall::dispatch(m, &mut self.cpu);
                    if nr == H_CEDE && self.cpu.gpr[3] == 0 {
                        self.ceded = true;
                    }
                }
                Err(e) => self.cpu.deliver(e),
            }
        }
    }

    /// Sleeps until an interrupt can be taken (H_CEDE enabled MSR[EE]) or the machine stops.
    fn idle(&mut self, m: &Machine) {
        if self.cpu.irq.get() != 0 || (self.cpu.dec() as i64) < 0 {
            self.ceded = false;
            self.cpu.irq.lower(ppc::cpu::IrqLines::KICK);
            return;
        }
        let ticks = self.cpu.ticks_to_dec();
        let ns = (ticks as u128 * 1_000_000_000 / ppc::cpu::TB_FREQ as u128).min(10_000_000) as u64;
        if let Ok(g) = m.wake.0.lock() {
            let _ = m.wake.1.wait_timeout(g, Duration::from_nanos(ns.max(1000)));
        }
    }
}

pub const H_CEDE: u64 = 0xe0;

pub const HCALLS: &[(u64, &str, HcallFn)] = &[(H_CEDE, "H_CEDE", h_cede)];

pub const RTAS: &[(&str, RtasFn)] = &[];

/// H_CEDE: give up the processor until an interrupt; returns with MSR[EE] set.
fn h_cede(_m: &Machine, cpu: &mut Cpu) -> i64 {
    cpu.set_msr(cpu.msr | ppc::cpu::msr::EE);
    hcall::H_SUCCESS
}
