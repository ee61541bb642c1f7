//! The vCPU: runs the CPU core in slices, services hypercalls, takes interrupts, and idles in
//! H_CEDE until an interrupt or the decrementer wakes it. Also the processor-related hcalls and RTAS
//! services (H_CEDE, H_PROD, H_CONFER, H_SET_MODE, H_REGISTER_VPA, start-cpu, stop-self, …).

use crate::hcall::{self, HcallFn};
use crate::machine::{apply_cpu_state, Machine, RunState};
use crate::rtas::{RtasCall, RtasFn, RTAS_OUT_HW_ERROR, RTAS_OUT_PARAM_ERROR, RTAS_OUT_SUCCESS};
use ppc::cpu::{msr, IrqLines};
use ppc::{Cpu, DecodeCache, Exception};
use std::sync::atomic::Ordering;

/// Instructions per slice between checks of interrupts and the run state.
pub const SLICE: u64 = 20_000;

/// What one `Vcpu::step` did.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Ran a slice (or took an hcall/interrupt).
    Ran,
    /// Stopped, or ceded with nothing pending: Some(ticks until its decrementer fires) if ceded.
    Idle(Option<u64>),
    /// The machine left the Running state.
    Stopped(RunState),
}

/// One virtual processor.
pub struct Vcpu {
    /// vCPU id: PIR, XICS server number, index in `Machine::cpus`.
    pub id: usize,
    pub cpu: Cpu,
    pub cache: DecodeCache,
    /// Set by H_CEDE: the vCPU sleeps until an interrupt is pending.
    pub ceded: bool,
    /// `Machine::wake`'s kick count when this vCPU last looked for work.
    pub wake_token: u64,
    /// Generation of the partition-wide CPU state last applied.
    gen_seen: u64,
    /// Slices run, for the LPAR_DEBUG_PC sampler.
    slices: u64,
    /// How long a ceded vCPU spins for an interrupt before it sleeps (`devices::poll`).
    poll: devices::poll::Poll,
}

/// LPAR_DEBUG_PC=1 samples each vCPU's pc on stderr now and then (debugging aid).
fn debug_pc() -> bool {
    use std::sync::OnceLock;
    static T: OnceLock<bool> = OnceLock::new();
    *T.get_or_init(|| std::env::var_os("LPAR_DEBUG_PC").is_some())
}

impl Vcpu {
    /// A vCPU whose decoded-code cache (and translated code) may use `code_budget` bytes of host
    /// memory each, run by the engine `jit` chooses.
    pub fn new(id: usize, cpu: Cpu, code_budget: usize, jit: ppc::jit::JitConfig) -> Vcpu {
        Vcpu {
            id,
            cpu,
            cache: DecodeCache::with_config(code_budget, jit),
            ceded: false,
            wake_token: 0,
            gen_seen: u64::MAX,
            slices: 0,
            poll: devices::poll::Poll::new(devices::poll::allowed()),
        }
    }

    /// Runs until the machine leaves the Running state; returns that state. The vCPU has this
    /// host thread to itself and sleeps while idle.
    pub fn run(&mut self, m: &Machine) -> RunState {
        loop {
            match self.step(m) {
                Step::Stopped(st) => return st,
                Step::Ran => {}
                Step::Idle(_) if self.ceded => self.cede_wait(m, self.ns_to_dec()),
                Step::Idle(_) => m.wake.wait(self.wake_token, 10_000_000),
            }
        }
    }

    /// One scheduling step: a slice of up to `SLICE` instructions with the hypercall or
    /// interrupt that ended it, or nothing while the vCPU is stopped or ceded with nothing
    /// pending (`Idle`, with the timebase ticks until its decrementer fires if ceded).
    pub fn step(&mut self, m: &Machine) -> Step {
        // Before anything is checked: a kick after this point ends the sleep that may follow.
        self.wake_token = m.wake.token();
        let st = m.run_state();
        if st != RunState::Running {
            return Step::Stopped(st);
        }
        self.sync_partition_state(m);
        if !self.check_started(m) {
            return Step::Idle(None);
        }
        if self.ceded && !self.wakes() {
            return Step::Idle(Some(self.cpu.ticks_to_dec()));
        }
        self.cpu.check_async();
        if debug_pc() {
            self.slices += 1;
            if self.slices.is_multiple_of(20_000) {
                eprintln!(
                    "vcpu{}: pc {:#x} lr {:#x} msr {:#x} icount {} dec {:#x}",
                    self.id,
                    self.cpu.pc,
                    self.cpu.lr,
                    self.cpu.msr,
                    self.cpu.icount,
                    self.cpu.dec()
                );
            }
        }
        let before = self.cpu.icount;
        let r = ppc::run(&mut self.cpu, &mut self.cache, SLICE);
        if let Some(c) = &m.vclock {
            c.advance(self.cpu.icount - before);
        }
        match r {
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
        Step::Ran
    }

    fn sync_partition_state(&mut self, m: &Machine) {
        let g = m.cpu_gen.load(Ordering::SeqCst);
        if g != self.gen_seen {
            self.gen_seen = g;
            if let Ok(st) = m.cpu_state.lock() {
                apply_cpu_state(&mut self.cpu, &st);
            }
        }
    }

    /// False while the vCPU is stopped; applies a pending start-cpu request.
    fn check_started(&mut self, m: &Machine) -> bool {
        let Ok(mut cpus) = m.cpus.lock() else {
            return false;
        };
        let Some(slot) = cpus.get_mut(self.id) else {
            return false;
        };
        if !slot.stopped {
            return true;
        }
        let Some((entry, r3)) = slot.start.take() else {
            return false;
        };
        slot.stopped = false;
        drop(cpus);
        // PAPR start-cpu: real mode, 64-bit, big-endian, r3 as given.
        self.cpu.set_msr(msr::SF | msr::ME);
        self.cpu.pc = entry;
        self.cpu.gpr[3] = r3;
        self.ceded = false;
        true
    }

    /// Whether a ceded vCPU has an interrupt to take (H_CEDE enabled MSR[EE]); ends the cede
    /// if so.
    fn wakes(&mut self) -> bool {
        if self.cpu.irq.get() & !IrqLines::EXIT != 0 || (self.cpu.dec() as i64) < 0 {
            self.ceded = false;
            self.cpu.irq.lower(IrqLines::KICK);
            return true;
        }
        false
    }

    /// Host nanoseconds to sleep while ceded: until the decrementer fires, at most 10 ms.
    fn ns_to_dec(&self) -> u64 {
        let ticks = self.cpu.ticks_to_dec();
        let ns = (ticks as u128 * 1_000_000_000 / ppc::cpu::TB_FREQ as u128).min(10_000_000) as u64;
        ns.max(1000)
    }

    /// Waits while ceded for a kick or `ns` (the decrementer), spinning first while that pays:
    /// an interrupt from the disk often comes within microseconds.
    fn cede_wait(&mut self, m: &Machine, ns: u64) {
        let t0 = std::time::Instant::now();
        let token = self.wake_token;
        if !self.poll.spin(std::time::Duration::from_nanos(ns), || {
            m.wake.token() != token
        }) {
            m.wake.wait(token, ns);
        }
        self.poll.update(t0.elapsed());
    }
}

pub use crate::papr::{
    H_CEDE, H_CONFER, H_GET_CPU_CHARACTERISTICS, H_PROD, H_REGISTER_VPA, H_SET_DABR, H_SET_MODE,
    H_SET_XDABR,
};

pub const HCALLS: &[(u64, &str, HcallFn)] = &[
    (H_SET_DABR, "H_SET_DABR", h_set_dabr),
    (H_REGISTER_VPA, "H_REGISTER_VPA", h_register_vpa),
    (H_CEDE, "H_CEDE", h_cede),
    (H_CONFER, "H_CONFER", h_confer),
    (H_PROD, "H_PROD", h_prod),
    (H_SET_XDABR, "H_SET_XDABR", h_set_xdabr),
    (
        H_GET_CPU_CHARACTERISTICS,
        "H_GET_CPU_CHARACTERISTICS",
        h_get_cpu_characteristics,
    ),
    (H_SET_MODE, "H_SET_MODE", h_set_mode),
];

pub const RTAS: &[(&str, RtasFn)] = &[
    ("query-cpu-stopped-state", rtas_query_cpu_stopped_state),
    ("start-cpu", rtas_start_cpu),
    ("stop-self", rtas_stop_self),
];

/// The calling vCPU's id (PIR).
fn my_id(cpu: &Cpu) -> usize {
    cpu.spr[ppc::cpu::sprn::PIR] as usize
}

/// H_PROD(cpu): wakes a vCPU sleeping in H_CEDE.
fn h_prod(m: &Machine, cpu: &mut Cpu) -> i64 {
    let target = cpu.gpr[4] as usize;
    let lines = m
        .cpus
        .lock()
        .ok()
        .and_then(|c| c.get(target).filter(|s| s.present).map(|s| s.irq.clone()));
    match lines {
        Some(l) => {
            l.raise(ppc::cpu::IrqLines::KICK);
            m.kick();
            hcall::H_SUCCESS
        }
        None => hcall::H_PARAMETER,
    }
}

/// H_CONFER(target, dispatch count): a hint to run another vCPU; each vCPU has its own host
/// thread, so yielding the host thread is all there is to do.
fn h_confer(m: &Machine, cpu: &mut Cpu) -> i64 {
    let target = cpu.gpr[4] as i64;
    let n = m.cpus.lock().map(|c| c.len()).unwrap_or(0) as i64;
    if target != -1 && !(0..n).contains(&target) {
        return hcall::H_PARAMETER;
    }
    std::thread::yield_now();
    hcall::H_SUCCESS
}

/// Data breakpoints are not emulated: clearing one succeeds, setting one reports H_HARDWARE.
fn h_set_dabr(_m: &Machine, cpu: &mut Cpu) -> i64 {
    let dabr = cpu.gpr[4];
    if dabr & 3 == 0 {
        hcall::H_SUCCESS
    } else {
        hcall::H_HARDWARE
    }
}

/// H_SET_XDABR(dabr, dabrx): as H_SET_DABR, with DABRX checked as PAPR requires.
fn h_set_xdabr(_m: &Machine, cpu: &mut Cpu) -> i64 {
    let (dabr, dabrx) = (cpu.gpr[4], cpu.gpr[5]);
    // Only the user/kernel/translation enable bits are allowed, and never the hypervisor one.
    if dabrx & !0x7 != 0 || dabrx & 0x4 != 0 {
        return hcall::H_PARAMETER;
    }
    if dabr & 3 == 0 || dabrx == 0 {
        hcall::H_SUCCESS
    } else {
        hcall::H_HARDWARE
    }
}

/// Speculation-mitigation characteristics (PAPR H_GET_CPU_CHARACTERISTICS).
pub mod cpu_char {
    pub const BEHAV_FAVOUR_SECURITY: u64 = 1 << 63;
    pub const BEHAV_L1D_FLUSH_PR: u64 = 1 << 62;
    pub const BEHAV_BNDS_CHK_SPEC_BAR: u64 = 1 << 61;
    pub const BEHAV_NO_L1D_FLUSH_ENTRY: u64 = 1 << 56;
    pub const BEHAV_NO_L1D_FLUSH_UACCESS: u64 = 1 << 55;
    pub const BEHAV_NO_STF_BARRIER: u64 = 1 << 54;
}

/// An interpreter executes nothing speculatively, so no flush or barrier is needed: report
/// "favour security" with every mitigation marked unnecessary.
fn h_get_cpu_characteristics(_m: &Machine, cpu: &mut Cpu) -> i64 {
    use cpu_char::*;
    cpu.gpr[4] = 0;
    cpu.gpr[5] = BEHAV_FAVOUR_SECURITY
        | BEHAV_NO_L1D_FLUSH_ENTRY
        | BEHAV_NO_L1D_FLUSH_UACCESS
        | BEHAV_NO_STF_BARRIER;
    hcall::H_SUCCESS
}

/// H_SET_MODE resources.
pub mod set_mode {
    pub const CIABR: u64 = 1;
    pub const DAWR0: u64 = 2;
    pub const ADDR_TRANS_MODE: u64 = 3;
    pub const LE: u64 = 4;
}

/// H_SET_MODE(mflags, resource, value1, value2).
fn h_set_mode(m: &Machine, cpu: &mut Cpu) -> i64 {
    use ppc::cpu::lpcr;
    let (mflags, resource, v1, v2) = (cpu.gpr[4], cpu.gpr[5], cpu.gpr[6], cpu.gpr[7]);
    match resource {
        set_mode::LE => {
            if v1 != 0 {
                return hcall::H_P3;
            }
            if v2 != 0 {
                return hcall::H_P4;
            }
            let ile = match mflags {
                0 => false,
                1 => true,
                _ => return hcall::H_UNSUPPORTED_FLAG,
            };
            m.update_cpu_state(cpu, |st| {
                st.lpcr = if ile {
                    st.lpcr | lpcr::ILE
                } else {
                    st.lpcr & !lpcr::ILE
                };
            });
            hcall::H_SUCCESS
        }
        set_mode::ADDR_TRANS_MODE => {
            if v1 != 0 {
                return hcall::H_P3;
            }
            if v2 != 0 {
                return hcall::H_P4;
            }
            // POWER9 implements AIL 0 and 3 only.
            if mflags != 0 && mflags != 3 {
                return hcall::H_UNSUPPORTED_FLAG;
            }
            m.update_cpu_state(cpu, |st| {
                st.lpcr = (st.lpcr & !lpcr::AIL_MASK) | mflags << lpcr::AIL_SHIFT;
            });
            hcall::H_SUCCESS
        }
        // Instruction and data breakpoints are not emulated: only disabling them succeeds.
        set_mode::CIABR => {
            if mflags != 0 {
                return hcall::H_UNSUPPORTED_FLAG;
            }
            if v2 != 0 {
                return hcall::H_P4;
            }
            if v1 & 3 == 3 {
                return hcall::H_P3;
            }
            if v1 & 3 == 0 {
                hcall::H_SUCCESS
            } else {
                hcall::H_HARDWARE
            }
        }
        set_mode::DAWR0 => {
            if mflags != 0 {
                return hcall::H_UNSUPPORTED_FLAG;
            }
            // DAWRX privilege field HYP must not be set by a guest.
            if v2 & 0x4 != 0 {
                return hcall::H_P4;
            }
            if v2 & 0x3 == 0 {
                hcall::H_SUCCESS
            } else {
                hcall::H_HARDWARE
            }
        }
        _ => hcall::H_P2,
    }
}

/// H_REGISTER_VPA subfunctions (flags bits 16:18).
pub mod vpa {
    pub const FUNC_SHIFT: u32 = 45;
    pub const REGISTER_VPA: u64 = 1;
    pub const REGISTER_DTL: u64 = 2;
    pub const REGISTER_SLBSHADOW: u64 = 3;
    pub const DEREGISTER_VPA: u64 = 5;
    pub const DEREGISTER_DTL: u64 = 6;
    pub const DEREGISTER_SLBSHADOW: u64 = 7;
    pub const MIN_SIZE: u64 = 640;
    pub const SIZE_OFFSET: u64 = 4;
    pub const SHARED_PROC_OFFSET: u64 = 0x22;
    /// "Shared processor" value of the VPA byte at SHARED_PROC_OFFSET, as QEMU/KVM set it.
    pub const SHARED_PROC_VAL: u8 = 2;
    pub const DTL_MIN_SIZE: u64 = 48;
}

/// H_REGISTER_VPA(flags, cpu, address): (de)registers the VPA, dispatch trace log and SLB shadow.
fn h_register_vpa(m: &Machine, cpu: &mut Cpu) -> i64 {
    let (flags, target, addr) = (cpu.gpr[4], cpu.gpr[5] as usize, cpu.gpr[6]);
    let Ok(mut cpus) = m.cpus.lock() else {
        return hcall::H_HARDWARE;
    };
    let Some(slot) = cpus.get_mut(target).filter(|s| s.present) else {
        return hcall::H_PARAMETER;
    };
    let rd16 = |a: u64| {
        let mut b = [0u8; 2];
        m.mem.read(a, &mut b).then(|| u16::from_be_bytes(b) as u64)
    };
    let rd32 = |a: u64| {
        let mut b = [0u8; 4];
        m.mem.read(a, &mut b).then(|| u32::from_be_bytes(b) as u64)
    };
    match (flags >> vpa::FUNC_SHIFT) & 7 {
        vpa::REGISTER_VPA => {
            if addr % 128 != 0 {
                return hcall::H_PARAMETER;
            }
            let Some(size) = rd16(addr + vpa::SIZE_OFFSET) else {
                return hcall::H_PARAMETER;
            };
            if size < vpa::MIN_SIZE || addr / 4096 != (addr + size - 1) / 4096 {
                return hcall::H_PARAMETER;
            }
            if !m
                .mem
                .write(addr + vpa::SHARED_PROC_OFFSET, &[vpa::SHARED_PROC_VAL])
            {
                return hcall::H_PARAMETER;
            }
            slot.vpa = addr;
        }
        vpa::REGISTER_DTL | vpa::REGISTER_SLBSHADOW => {
            let dtl = (flags >> vpa::FUNC_SHIFT) & 7 == vpa::REGISTER_DTL;
            if slot.vpa == 0 {
                return hcall::H_RESOURCE;
            }
            let Some(size) = rd32(addr + vpa::SIZE_OFFSET) else {
                return hcall::H_PARAMETER;
            };
            let min = if dtl { vpa::DTL_MIN_SIZE } else { 8 };
            if size < min || addr.checked_add(size).is_none_or(|e| e > m.mem.size()) {
                return hcall::H_PARAMETER;
            }
            if dtl {
                slot.dtl = addr;
            } else {
                slot.slb_shadow = addr;
            }
        }
        vpa::DEREGISTER_VPA => {
            if slot.dtl != 0 || slot.slb_shadow != 0 {
                return hcall::H_RESOURCE;
            }
            slot.vpa = 0;
        }
        vpa::DEREGISTER_DTL => slot.dtl = 0,
        vpa::DEREGISTER_SLBSHADOW => slot.slb_shadow = 0,
        _ => return hcall::H_PARAMETER,
    }
    hcall::H_SUCCESS
}

/// query-cpu-stopped-state(cpu) -> status, state (0 stopped, 2 running).
fn rtas_query_cpu_stopped_state(m: &Machine, _cpu: &mut Cpu, c: &mut RtasCall) {
    let st = c.arg(0).and_then(|id| {
        m.cpus
            .lock()
            .ok()?
            .get(id as usize)
            .filter(|s| s.present)
            .map(|s| s.stopped)
    });
    match st {
        Some(stopped) => {
            c.status(RTAS_OUT_SUCCESS);
            c.set_ret(1, if stopped { 0 } else { 2 });
        }
        None => c.status(RTAS_OUT_PARAM_ERROR),
    }
}

/// start-cpu(cpu, entry, r3): starts a stopped vCPU at `entry` in real mode.
fn rtas_start_cpu(m: &Machine, _cpu: &mut Cpu, c: &mut RtasCall) {
    let (Some(id), Some(entry), Some(r3)) = (c.arg(0), c.arg(1), c.arg(2)) else {
        return c.status(RTAS_OUT_PARAM_ERROR);
    };
    let ok = m.cpus.lock().ok().and_then(|mut cpus| {
        let s = cpus.get_mut(id as usize).filter(|s| s.present)?;
        if !s.stopped {
            return Some(false);
        }
        s.start = Some((entry as u64, r3 as u64));
        s.irq.raise(ppc::cpu::IrqLines::KICK);
        Some(true)
    });
    m.kick();
    c.status(match ok {
        Some(true) => RTAS_OUT_SUCCESS,
        Some(false) => RTAS_OUT_HW_ERROR,
        None => RTAS_OUT_PARAM_ERROR,
    });
}

/// stop-self: the calling vCPU stops until another starts it again.
fn rtas_stop_self(m: &Machine, cpu: &mut Cpu, c: &mut RtasCall) {
    if let Ok(mut cpus) = m.cpus.lock() {
        if let Some(s) = cpus.get_mut(my_id(cpu)) {
            s.stopped = true;
        }
    }
    c.status(RTAS_OUT_SUCCESS);
}

/// H_CEDE: give up the processor until an interrupt; returns with MSR[EE] set.
fn h_cede(_m: &Machine, cpu: &mut Cpu) -> i64 {
    cpu.set_msr(cpu.msr | ppc::cpu::msr::EE);
    hcall::H_SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{cpu, hcall, machine, rtas};
    use ppc::cpu::{lpcr, sprn};

    #[test]
    fn set_mode_le_and_ail() {
        let (m, _) = machine();
        let mut c = cpu(&m);
        assert_eq!(hcall(&m, &mut c, H_SET_MODE, &[1, set_mode::LE, 0, 0]), 0);
        assert_ne!(c.spr[sprn::LPCR] & lpcr::ILE, 0);
        assert_eq!(
            hcall(
                &m,
                &mut c,
                H_SET_MODE,
                &[3, set_mode::ADDR_TRANS_MODE, 0, 0]
            ),
            0
        );
        assert_eq!(c.spr[sprn::LPCR] & lpcr::AIL_MASK, 3 << lpcr::AIL_SHIFT);
        assert_eq!(hcall(&m, &mut c, H_SET_MODE, &[0, set_mode::LE, 0, 0]), 0);
        assert_eq!(c.spr[sprn::LPCR] & lpcr::ILE, 0);
        // Bad flags/values/resources.
        assert_eq!(
            hcall(&m, &mut c, H_SET_MODE, &[2, set_mode::LE, 0, 0]),
            hcall::H_UNSUPPORTED_FLAG
        );
        assert_eq!(
            hcall(
                &m,
                &mut c,
                H_SET_MODE,
                &[2, set_mode::ADDR_TRANS_MODE, 0, 0]
            ),
            hcall::H_UNSUPPORTED_FLAG
        );
        assert_eq!(
            hcall(&m, &mut c, H_SET_MODE, &[1, set_mode::LE, 5, 0]),
            hcall::H_P3
        );
        assert_eq!(
            hcall(&m, &mut c, H_SET_MODE, &[1, set_mode::LE, 0, 5]),
            hcall::H_P4
        );
        assert_eq!(hcall(&m, &mut c, H_SET_MODE, &[0, 99, 0, 0]), hcall::H_P2);
        // Breakpoints: clearing works, setting is reported as unavailable.
        assert_eq!(
            hcall(&m, &mut c, H_SET_MODE, &[0, set_mode::DAWR0, 0, 0]),
            0
        );
        assert_eq!(
            hcall(&m, &mut c, H_SET_MODE, &[0, set_mode::DAWR0, 0x1000, 3]),
            hcall::H_HARDWARE
        );
        assert_eq!(
            hcall(&m, &mut c, H_SET_MODE, &[0, set_mode::CIABR, 0, 0]),
            0
        );
    }

    #[test]
    fn vpa_registration_rules() {
        let (m, _) = machine();
        let mut c = cpu(&m);
        let f = |x: u64| x << vpa::FUNC_SHIFT;
        let base = 0x20000u64;
        assert!(m.mem.write(base + vpa::SIZE_OFFSET, &640u16.to_be_bytes()));
        // DTL before VPA: resource error.
        assert_eq!(
            hcall(
                &m,
                &mut c,
                H_REGISTER_VPA,
                &[f(vpa::REGISTER_DTL), 0, 0x30000]
            ),
            hcall::H_RESOURCE
        );
        // Misaligned, too small, crossing a page, bad cpu.
        assert_eq!(
            hcall(&m, &mut c, H_REGISTER_VPA, &[f(1), 0, base + 8]),
            hcall::H_PARAMETER
        );
        assert!(m
            .mem
            .write(0x21f80 + vpa::SIZE_OFFSET, &640u16.to_be_bytes()));
        assert_eq!(
            hcall(&m, &mut c, H_REGISTER_VPA, &[f(1), 0, 0x21f80]),
            hcall::H_PARAMETER
        );
        assert_eq!(
            hcall(&m, &mut c, H_REGISTER_VPA, &[f(1), 7, base]),
            hcall::H_PARAMETER
        );
        assert_eq!(
            hcall(&m, &mut c, H_REGISTER_VPA, &[f(1), 0, 1 << 40]),
            hcall::H_PARAMETER
        );
        assert_eq!(hcall(&m, &mut c, H_REGISTER_VPA, &[f(1), 0, base]), 0);
        let mut b = [0u8];
        assert!(m.mem.read(base + vpa::SHARED_PROC_OFFSET, &mut b));
        assert_eq!(b[0], vpa::SHARED_PROC_VAL);
        assert!(m.mem.write(0x30000 + 4, &64u32.to_be_bytes()));
        assert_eq!(
            hcall(
                &m,
                &mut c,
                H_REGISTER_VPA,
                &[f(vpa::REGISTER_DTL), 0, 0x30000]
            ),
            0
        );
        // Can't drop the VPA while the DTL hangs off it.
        assert_eq!(
            hcall(&m, &mut c, H_REGISTER_VPA, &[f(vpa::DEREGISTER_VPA), 0, 0]),
            hcall::H_RESOURCE
        );
        assert_eq!(
            hcall(&m, &mut c, H_REGISTER_VPA, &[f(vpa::DEREGISTER_DTL), 0, 0]),
            0
        );
        assert_eq!(
            hcall(&m, &mut c, H_REGISTER_VPA, &[f(vpa::DEREGISTER_VPA), 0, 0]),
            0
        );
        assert_eq!(
            hcall(&m, &mut c, H_REGISTER_VPA, &[f(4), 0, 0]),
            hcall::H_PARAMETER
        );
    }

    #[test]
    fn prod_confer_dabr_characteristics() {
        let (m, _) = machine();
        let mut c = cpu(&m);
        assert_eq!(hcall(&m, &mut c, H_PROD, &[0]), 0);
        assert_ne!(
            m.cpus.lock().expect("lock")[0].irq.get() & IrqLines::KICK,
            0
        );
        assert_eq!(hcall(&m, &mut c, H_PROD, &[3]), hcall::H_PARAMETER);
        assert_eq!(hcall(&m, &mut c, H_CONFER, &[u64::MAX, 0]), 0);
        assert_eq!(hcall(&m, &mut c, H_CONFER, &[9, 0]), hcall::H_PARAMETER);
        assert_eq!(hcall(&m, &mut c, H_SET_DABR, &[0]), 0);
        assert_eq!(hcall(&m, &mut c, H_SET_DABR, &[0x1003]), hcall::H_HARDWARE);
        assert_eq!(
            hcall(&m, &mut c, H_SET_XDABR, &[0x1003, 4]),
            hcall::H_PARAMETER
        );
        assert_eq!(
            hcall(&m, &mut c, H_SET_XDABR, &[0x1003, 0x10]),
            hcall::H_PARAMETER
        );
        assert_eq!(hcall(&m, &mut c, H_GET_CPU_CHARACTERISTICS, &[]), 0);
        assert_ne!(c.gpr[5] & cpu_char::BEHAV_FAVOUR_SECURITY, 0);
        assert_eq!(c.gpr[5] & cpu_char::BEHAV_L1D_FLUSH_PR, 0);
    }

    #[test]
    fn cpu_start_stop_rtas() {
        let (m, _) = machine();
        let mut c = cpu(&m);
        assert_eq!(rtas(&m, &mut c, "query-cpu-stopped-state", &[0], 2), [0, 2]);
        assert_eq!(
            rtas(&m, &mut c, "query-cpu-stopped-state", &[5], 2)[0],
            RTAS_OUT_PARAM_ERROR as u32
        );
        // Starting a running CPU is a hardware error; a missing one a parameter error.
        assert_eq!(
            rtas(&m, &mut c, "start-cpu", &[0, 0x100, 0], 1),
            [RTAS_OUT_HW_ERROR as u32]
        );
        assert_eq!(
            rtas(&m, &mut c, "start-cpu", &[4, 0x100, 0], 1),
            [RTAS_OUT_PARAM_ERROR as u32]
        );
        assert_eq!(rtas(&m, &mut c, "stop-self", &[], 1), [0]);
        assert_eq!(rtas(&m, &mut c, "query-cpu-stopped-state", &[0], 2), [0, 0]);
        assert_eq!(rtas(&m, &mut c, "start-cpu", &[0, 0x100, 7], 1), [0]);
        let mut v = Vcpu::new(0, cpu(&m), ppc::exec::DEFAULT_BUDGET, m.config.jit);
        assert!(v.check_started(&m));
        assert_eq!((v.cpu.pc, v.cpu.gpr[3]), (0x100, 7));
    }

    #[test]
    fn vsmt_leaves_holes_in_the_cpu_numbers() {
        let cfg = crate::MachineConfig {
            ram_size: 64 << 20,
            smp: 4,
            threads: 2,
            vsmt: 8,
            ..Default::default()
        };
        let m = crate::Machine::new(cfg, Box::new(std::io::sink())).expect("machine");
        let mut c = cpu(&m);
        for (id, present) in [
            (0, true),
            (1, true),
            (2, false),
            (7, false),
            (8, true),
            (9, true),
        ] {
            let r = rtas(&m, &mut c, "query-cpu-stopped-state", &[id], 2);
            assert_eq!(r[0] == 0, present, "cpu {id}: {r:?}");
        }
        assert_eq!(
            rtas(&m, &mut c, "start-cpu", &[2, 0x100, 0], 1),
            [RTAS_OUT_PARAM_ERROR as u32]
        );
        assert_eq!(rtas(&m, &mut c, "start-cpu", &[9, 0x100, 0], 1), [0]);
    }

    #[test]
    fn cede_idles_until_decrementer() {
        let (m, _) = machine();
        let mut v = Vcpu::new(0, cpu(&m), ppc::exec::DEFAULT_BUDGET, m.config.jit);
        assert_eq!(hcall(&m, &mut v.cpu, H_CEDE, &[]), 0);
        assert_ne!(v.cpu.msr & msr::EE, 0);
        v.ceded = true;
        v.cpu.set_dec(1000); // ~2 us
        let t = std::time::Instant::now();
        while v.ceded && t.elapsed() < std::time::Duration::from_secs(5) {
            if let Step::Idle(Some(_)) = v.step(&m) {
                let ns = v.ns_to_dec();
                v.cede_wait(&m, ns);
            }
        }
        assert!(!v.ceded, "the decrementer must end the cede");
    }
}
