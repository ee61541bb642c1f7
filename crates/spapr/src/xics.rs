//! XICS: the interrupt presentation controllers (one ICP per vCPU "server", driven by H_CPPR/H_EOI/
//! H_XIRR/H_XIRR_X/H_IPI/H_IPOLL) and the interrupt source controller (ICS, configured through RTAS
//! ibm,set-xive/get-xive/int-on/int-off). Priorities: lower is more favoured, 0xff is masked.
//!
//! Each ICP presents at most one interrupt (XISR) and raises its vCPU's external line while it does.
//! A source that cannot be presented (less favoured than CPPR or than what is presented) is
//! "rejected" and presented again when the ICP becomes able to take it (CPPR lowered, EOI).

use crate::hcall::{HcallFn, H_PARAMETER, H_SUCCESS};
use crate::irq::{Intc, Waker};
use crate::machine::{layout, Machine};
use crate::rtas::{RtasCall, RtasFn, RTAS_OUT_PARAM_ERROR, RTAS_OUT_SUCCESS};
use ppc::cpu::IrqLines;
use ppc::Cpu;
use std::sync::{Arc, Mutex};

/// The source number of inter-processor interrupts in XISR.
pub const XICS_IPI: u32 = 2;
const MASKED: u8 = 0xff;

#[derive(Clone, Copy, Debug)]
struct Source {
    server: u32,
    priority: u8,
    /// Priority before ibm,int-off, restored by ibm,int-on.
    saved_priority: u8,
    /// Level-sensitive: re-presented after EOI while still asserted.
    lsi: bool,
    asserted: bool,
    /// Could not be presented (masked or rejected); deliver on the next chance.
    pending: bool,
}

#[derive(Clone, Copy, Debug)]
struct Icp {
    cppr: u8,
    xisr: u32,
    pending_priority: u8,
    mfrr: u8,
}

impl Default for Icp {
    fn default() -> Self {
        Icp {
            cppr: 0,
            xisr: 0,
            pending_priority: MASKED,
            mfrr: MASKED,
        }
    }
}

struct State {
    sources: Vec<Source>,
    icps: Vec<Icp>,
    lines: Vec<Arc<IrqLines>>,
    /// Sources with `pending` set: EOI and CPPR changes scan the sources only when some are.
    pending: usize,
}

pub struct Xics {
    st: Mutex<State>,
    /// Kicked whenever an interrupt may have been presented, so idle vCPUs look.
    waker: Arc<Waker>,
}

impl Default for Xics {
    fn default() -> Self {
        Xics::new(1, Arc::default())
    }
}

impl Xics {
    /// XICS with `servers` ICPs and `layout::XICS_NR_IRQS` message-signalled sources.
    pub fn new(servers: u32, waker: Arc<Waker>) -> Xics {
        let src = Source {
            server: 0,
            priority: MASKED,
            saved_priority: MASKED,
            lsi: false,
            asserted: false,
            pending: false,
        };
        Xics {
            st: Mutex::new(State {
                sources: vec![src; layout::XICS_NR_IRQS as usize],
                icps: vec![Icp::default(); servers as usize],
                lines: (0..servers)
                    .map(|_| Arc::new(IrqLines::default()))
                    .collect(),
                pending: 0,
            }),
            waker,
        }
    }

    /// Connects server `n`'s output to a vCPU's interrupt lines.
    pub fn connect(&self, n: u32, lines: Arc<IrqLines>) {
        if let Ok(mut s) = self.st.lock() {
            if let Some(l) = s.lines.get_mut(n as usize) {
                *l = lines;
            }
        }
    }

    /// Makes source `irq` level-sensitive (LSI).
    pub fn set_lsi(&self, irq: u32, lsi: bool) {
        if let Ok(mut s) = self.st.lock() {
            if let Some(src) = src_index(irq).and_then(|i| s.sources.get_mut(i)) {
                src.lsi = lsi;
            }
        }
    }

    /// Signals source `irq`: a message for edge sources, an assertion for LSIs.
    pub fn raise(&self, irq: u32) {
        if let Ok(mut s) = self.st.lock() {
            if let Some(i) = src_index(irq) {
                s.sources[i].asserted = true;
                s.set_pending(i, true);
                s.try_deliver(i);
            }
        }
        self.waker.kick();
    }

    /// Deasserts a level-sensitive source.
    pub fn lower(&self, irq: u32) {
        if let Ok(mut s) = self.st.lock() {
            if let Some(i) = src_index(irq) {
                s.sources[i].asserted = false;
                if s.sources[i].lsi {
                    s.set_pending(i, false);
                }
            }
        }
    }
}

impl Intc for Xics {
    fn pulse(&self, irq: u32) {
        self.raise(irq)
    }

    fn set_level(&self, irq: u32, level: bool) {
        if !level {
            return self.lower(irq);
        }
        // A line already high is already pending or presented (and re-presented after EOI).
        if let Ok(mut s) = self.st.lock() {
            match src_index(irq) {
                Some(i) if !s.sources[i].asserted => {
                    s.sources[i].asserted = true;
                    s.set_pending(i, true);
                    s.try_deliver(i);
                }
                _ => return,
            }
        }
        self.waker.kick();
    }

    fn set_lsi(&self, irq: u32, lsi: bool) {
        Xics::set_lsi(self, irq, lsi)
    }
}

fn src_index(irq: u32) -> Option<usize> {
    let i = irq.checked_sub(layout::XICS_IRQ_BASE)?;
    (i < layout::XICS_NR_IRQS).then_some(i as usize)
}

impl State {
    fn set_pending(&mut self, i: usize, v: bool) {
        let s = &mut self.sources[i];
        if s.pending != v {
            s.pending = v;
            if v {
                self.pending += 1;
            } else {
                self.pending -= 1;
            }
        }
    }

    fn set_line(&self, server: usize, on: bool) {
        if let Some(l) = self.lines.get(server) {
            if on {
                l.raise(IrqLines::EXTERNAL)
            } else {
                l.lower(IrqLines::EXTERNAL)
            }
        }
    }

    /// Tries to present pending source `i` to its server.
    fn try_deliver(&mut self, i: usize) {
        let s = self.sources[i];
        if !s.pending || s.priority == MASKED {
            return;
        }
        let server = s.server as usize;
        if server >= self.icps.len() {
            return;
        }
        if self.present(server, layout::XICS_IRQ_BASE + i as u32, s.priority) {
            self.set_pending(i, false);
        }
    }

    /// Presents `nr` at `prio` to ICP `server` if it is favoured enough; the displaced interrupt,
    /// if any, goes back to pending. Returns false if `nr` was rejected.
    fn present(&mut self, server: usize, nr: u32, prio: u8) -> bool {
        let icp = self.icps[server];
        if prio >= icp.cppr || (icp.xisr != 0 && icp.pending_priority <= prio) {
            return false;
        }
        if icp.xisr != 0 {
            self.reject(icp.xisr);
        }
        let icp = &mut self.icps[server];
        icp.xisr = nr;
        icp.pending_priority = prio;
        self.set_line(server, true);
        true
    }

    /// Returns a displaced interrupt to its source (or drops an IPI: MFRR still holds it).
    fn reject(&mut self, nr: u32) {
        if let Some(i) = src_index(nr) {
            self.set_pending(i, true);
        }
    }

    /// Re-offers every pending source and the IPI of `server` (after CPPR was lowered or EOI).
    fn resend(&mut self, server: usize) {
        self.check_ipi(server);
        if self.pending == 0 {
            return;
        }
        for i in 0..self.sources.len() {
            if self.sources[i].pending && self.sources[i].server as usize == server {
                self.try_deliver(i);
            }
        }
    }

    fn check_ipi(&mut self, server: usize) {
        let icp = self.icps[server];
        if icp.mfrr == MASKED || (icp.xisr != 0 && icp.pending_priority <= icp.mfrr) {
            return;
        }
        if icp.xisr == XICS_IPI {
            return;
        }
        self.present(server, XICS_IPI, icp.mfrr);
    }

    /// Accepts the presented interrupt: returns the old XIRR, CPPR becomes its priority.
    fn accept(&mut self, server: usize) -> u32 {
        let icp = self.icps[server];
        let xirr = (icp.cppr as u32) << 24 | icp.xisr;
        self.set_line(server, false);
        let icp = &mut self.icps[server];
        if icp.xisr != 0 {
            icp.cppr = icp.pending_priority;
        }
        icp.xisr = 0;
        icp.pending_priority = MASKED;
        xirr
    }

    fn set_cppr(&mut self, server: usize, cppr: u8) {
        let old = self.icps[server].cppr;
        self.icps[server].cppr = cppr;
        if cppr < old {
            let icp = self.icps[server];
            if icp.xisr != 0 && cppr <= icp.pending_priority {
                let nr = icp.xisr;
                let icp = &mut self.icps[server];
                icp.xisr = 0;
                icp.pending_priority = MASKED;
                self.set_line(server, false);
                self.reject(nr);
            }
        } else if cppr > old {
            self.resend(server);
        }
    }

    fn eoi(&mut self, server: usize, xirr: u32) {
        self.icps[server].cppr = (xirr >> 24) as u8;
        let nr = xirr & 0xff_ffff;
        if let Some(i) = src_index(nr) {
            let s = &self.sources[i];
            if s.lsi && s.asserted {
                self.set_pending(i, true);
            }
        }
        self.resend(server);
    }

    fn set_mfrr(&mut self, server: usize, mfrr: u8) {
        self.icps[server].mfrr = mfrr;
        if mfrr == MASKED && self.icps[server].xisr == XICS_IPI {
            // Withdrawn before it was accepted.
            let icp = &mut self.icps[server];
            icp.xisr = 0;
            icp.pending_priority = MASKED;
            self.set_line(server, false);
            self.resend(server);
        } else {
            self.check_ipi(server);
        }
    }
}

pub use crate::papr::{H_CPPR, H_EOI, H_IPI, H_IPOLL, H_XIRR, H_XIRR_X};

pub const HCALLS: &[(u64, &str, HcallFn)] = &[
    (H_EOI, "H_EOI", h_eoi),
    (H_CPPR, "H_CPPR", h_cppr),
    (H_IPI, "H_IPI", h_ipi),
    (H_IPOLL, "H_IPOLL", h_ipoll),
    (H_XIRR, "H_XIRR", h_xirr),
    (H_XIRR_X, "H_XIRR_X", h_xirr_x),
];

pub const RTAS: &[(&str, RtasFn)] = &[
    ("ibm,set-xive", rtas_set_xive),
    ("ibm,get-xive", rtas_get_xive),
    ("ibm,int-off", rtas_int_off),
    ("ibm,int-on", rtas_int_on),
];

/// The ICP of the calling vCPU (its server number is its PIR).
fn me(cpu: &Cpu) -> usize {
    cpu.spr[ppc::cpu::sprn::PIR] as usize
}

fn with_state<R>(m: &Machine, f: impl FnOnce(&mut State) -> R) -> Option<R> {
    let r = m.xics.st.lock().ok().map(|mut s| f(&mut s));
    m.kick();
    r
}

fn h_cppr(m: &Machine, cpu: &mut Cpu) -> i64 {
    let (server, cppr) = (me(cpu), cpu.gpr[4] as u8);
    with_state(m, |s| {
        if server < s.icps.len() {
            s.set_cppr(server, cppr);
        }
    });
    H_SUCCESS
}

fn h_eoi(m: &Machine, cpu: &mut Cpu) -> i64 {
    let (server, xirr) = (me(cpu), cpu.gpr[4] as u32);
    with_state(m, |s| {
        if server < s.icps.len() {
            s.eoi(server, xirr);
        }
    });
    H_SUCCESS
}

fn h_xirr(m: &Machine, cpu: &mut Cpu) -> i64 {
    let server = me(cpu);
    match with_state(m, |s| (server < s.icps.len()).then(|| s.accept(server))).flatten() {
        Some(x) => {
            cpu.gpr[4] = x as u64;
            H_SUCCESS
        }
        None => H_PARAMETER,
    }
}

fn h_xirr_x(m: &Machine, cpu: &mut Cpu) -> i64 {
    let r = h_xirr(m, cpu);
    cpu.gpr[5] = cpu.timebase();
    r
}

fn h_ipi(m: &Machine, cpu: &mut Cpu) -> i64 {
    let (server, mfrr) = (cpu.gpr[4] as usize, cpu.gpr[5] as u8);
    with_state(m, |s| {
        if server < s.icps.len() {
            s.set_mfrr(server, mfrr);
            H_SUCCESS
        } else {
            H_PARAMETER
        }
    })
    .unwrap_or(H_PARAMETER)
}

fn h_ipoll(m: &Machine, cpu: &mut Cpu) -> i64 {
    let server = cpu.gpr[4] as usize;
    let r = with_state(m, |s| {
        s.icps
            .get(server)
            .map(|i| ((i.cppr as u32) << 24 | i.xisr, i.mfrr))
    })
    .flatten();
    match r {
        Some((xirr, mfrr)) => {
            cpu.gpr[4] = xirr as u64;
            cpu.gpr[5] = mfrr as u64;
            H_SUCCESS
        }
        None => H_PARAMETER,
    }
}

fn rtas_set_xive(m: &Machine, _cpu: &mut Cpu, c: &mut RtasCall) {
    let (Some(irq), Some(server), Some(prio)) = (c.arg(0), c.arg(1), c.arg(2)) else {
        return c.status(RTAS_OUT_PARAM_ERROR);
    };
    let ok = with_state(m, |s| {
        let Some(i) = src_index(irq) else {
            return false;
        };
        if server as usize >= s.icps.len() || prio > 0xff {
            return false;
        }
        s.sources[i].server = server;
        s.sources[i].priority = prio as u8;
        s.sources[i].saved_priority = prio as u8;
        s.try_deliver(i);
        true
    });
    c.status(if ok == Some(true) {
        RTAS_OUT_SUCCESS
    } else {
        RTAS_OUT_PARAM_ERROR
    });
}

fn rtas_get_xive(m: &Machine, _cpu: &mut Cpu, c: &mut RtasCall) {
    let r = c.arg(0).and_then(|irq| {
        with_state(m, |s| {
            src_index(irq).map(|i| (s.sources[i].server, s.sources[i].priority))
        })
        .flatten()
    });
    match r {
        Some((server, prio)) => {
            c.status(RTAS_OUT_SUCCESS);
            c.set_ret(1, server);
            c.set_ret(2, prio as u32);
        }
        None => c.status(RTAS_OUT_PARAM_ERROR),
    }
}

fn rtas_int_off(m: &Machine, _cpu: &mut Cpu, c: &mut RtasCall) {
    let ok = c.arg(0).and_then(|irq| {
        with_state(m, |s| {
            src_index(irq).map(|i| {
                let src = &mut s.sources[i];
                if src.priority != MASKED {
                    src.saved_priority = src.priority;
                }
                src.priority = MASKED;
            })
        })
        .flatten()
    });
    c.status(if ok.is_some() {
        RTAS_OUT_SUCCESS
    } else {
        RTAS_OUT_PARAM_ERROR
    });
}

fn rtas_int_on(m: &Machine, _cpu: &mut Cpu, c: &mut RtasCall) {
    let ok = c.arg(0).and_then(|irq| {
        with_state(m, |s| {
            src_index(irq).map(|i| {
                s.sources[i].priority = s.sources[i].saved_priority;
                s.try_deliver(i);
            })
        })
        .flatten()
    });
    c.status(if ok.is_some() {
        RTAS_OUT_SUCCESS
    } else {
        RTAS_OUT_PARAM_ERROR
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(servers: u32) -> State {
        let x = Xics::new(servers, Arc::default());
        x.st.into_inner().expect("fresh lock")
    }

    fn configure(s: &mut State, irq: u32, server: u32, prio: u8) {
        let i = src_index(irq).expect("irq in range");
        s.sources[i].server = server;
        s.sources[i].priority = prio;
    }

    fn raise(s: &mut State, irq: u32) {
        let i = src_index(irq).expect("irq in range");
        s.sources[i].asserted = true;
        s.set_pending(i, true);
        s.try_deliver(i);
    }

    fn line(s: &State, server: usize) -> bool {
        s.lines[server].get() & IrqLines::EXTERNAL != 0
    }

    #[test]
    fn masked_until_cppr_opens_then_accept_and_eoi() {
        let mut s = state(1);
        configure(&mut s, 0x1100, 0, 5);
        raise(&mut s, 0x1100);
        // CPPR 0 at reset masks everything: held pending, no line.
        assert!(!line(&s, 0));
        s.set_cppr(0, 0xff);
        assert!(line(&s, 0));
        assert_eq!(s.accept(0), 0xff00_1100);
        assert!(!line(&s, 0));
        assert_eq!(s.icps[0].cppr, 5);
        s.eoi(0, 0xff00_1100);
        assert_eq!(s.icps[0].cppr, 0xff);
        // Nothing pending: XIRR reads empty.
        assert_eq!(s.accept(0), 0xff00_0000);
    }

    #[test]
    fn more_favoured_source_displaces_and_the_other_is_resent() {
        let mut s = state(1);
        s.set_cppr(0, 0xff);
        configure(&mut s, 0x1100, 0, 6);
        configure(&mut s, 0x1101, 0, 3);
        raise(&mut s, 0x1100);
        raise(&mut s, 0x1101);
        assert_eq!(s.accept(0) & 0xff_ffff, 0x1101);
        s.eoi(0, 0xff00_1101);
        // The displaced source comes back after the EOI.
        assert!(line(&s, 0));
        assert_eq!(s.accept(0) & 0xff_ffff, 0x1100);
    }

    #[test]
    fn ipi_via_mfrr_and_priority_rules() {
        let mut s = state(2);
        s.set_cppr(1, 0xff);
        s.set_mfrr(1, 4);
        assert!(line(&s, 1));
        assert!(!line(&s, 0));
        assert_eq!(s.accept(1), 0xff00_0002);
        s.set_mfrr(1, 0xff);
        s.eoi(1, 0xff00_0002);
        assert!(!line(&s, 1));
        // An IPI less favoured than CPPR waits until CPPR is raised.
        s.set_cppr(1, 3);
        s.set_mfrr(1, 5);
        assert!(!line(&s, 1));
        s.set_cppr(1, 0xff);
        assert!(line(&s, 1));
    }

    #[test]
    fn lowering_cppr_rejects_presented_interrupt() {
        let mut s = state(1);
        s.set_cppr(0, 0xff);
        configure(&mut s, 0x1100, 0, 5);
        raise(&mut s, 0x1100);
        assert!(line(&s, 0));
        s.set_cppr(0, 5);
        assert!(!line(&s, 0));
        s.set_cppr(0, 6);
        assert!(line(&s, 0));
    }

    #[test]
    fn lsi_represented_after_eoi_while_asserted() {
        let mut s = state(1);
        s.set_cppr(0, 0xff);
        let i = src_index(0x1200).expect("in range");
        s.sources[i].lsi = true;
        configure(&mut s, 0x1200, 0, 5);
        raise(&mut s, 0x1200);
        let x = s.accept(0);
        s.eoi(0, 0xff00_0000 | (x & 0xff_ffff));
        assert!(line(&s, 0), "still asserted: presented again");
        s.accept(0);
        s.sources[i].asserted = false;
        s.eoi(0, 0xff00_1200);
        assert!(!line(&s, 0));
    }

    #[test]
    fn out_of_range_sources_are_ignored() {
        assert_eq!(src_index(0), None);
        assert_eq!(
            src_index(layout::XICS_IRQ_BASE + layout::XICS_NR_IRQS),
            None
        );
        assert_eq!(src_index(layout::XICS_IRQ_BASE), Some(0));
    }
}

#[cfg(test)]
mod hcall_tests {
    use super::*;
    use crate::hcall::H_PARAMETER;
    use crate::testutil::{cpu, hcall, machine, rtas};

    const P: u32 = RTAS_OUT_PARAM_ERROR as u32;

    #[test]
    fn ipi_through_hcalls_reaches_the_cpu_line() {
        let (m, _) = machine();
        let mut c = cpu(&m);
        m.xics.connect(0, c.irq.clone());
        assert_eq!(hcall(&m, &mut c, H_CPPR, &[0xff]), 0);
        assert_eq!(hcall(&m, &mut c, H_IPI, &[0, 5]), 0);
        assert_ne!(c.irq.get() & IrqLines::EXTERNAL, 0);
        assert_eq!(hcall(&m, &mut c, H_IPOLL, &[0]), 0);
        assert_eq!((c.gpr[4], c.gpr[5]), (0xff00_0002, 5));
        assert_eq!(hcall(&m, &mut c, H_XIRR_X, &[]), 0);
        assert_eq!(c.gpr[4], 0xff00_0002);
        assert_eq!(c.irq.get() & IrqLines::EXTERNAL, 0);
        assert_eq!(hcall(&m, &mut c, H_IPI, &[0, 0xff]), 0);
        assert_eq!(hcall(&m, &mut c, H_EOI, &[0xff00_0002]), 0);
        assert_eq!(hcall(&m, &mut c, H_XIRR, &[]), 0);
        assert_eq!(c.gpr[4], 0xff00_0000, "nothing pending");
    }

    #[test]
    fn bad_servers_and_sources() {
        let (m, _) = machine();
        let mut c = cpu(&m);
        assert_eq!(hcall(&m, &mut c, H_IPI, &[1, 5]), H_PARAMETER);
        assert_eq!(hcall(&m, &mut c, H_IPI, &[u64::MAX, 5]), H_PARAMETER);
        assert_eq!(hcall(&m, &mut c, H_IPOLL, &[7]), H_PARAMETER);
        let vty = layout::VTY_IRQ;
        assert_eq!(
            rtas(&m, &mut c, "ibm,set-xive", &[vty, 1, 5], 1),
            [P],
            "no server 1"
        );
        assert_eq!(
            rtas(&m, &mut c, "ibm,set-xive", &[vty, 0, 0x100], 1),
            [P],
            "priority > 0xff"
        );
        assert_eq!(
            rtas(&m, &mut c, "ibm,set-xive", &[5, 0, 5], 1),
            [P],
            "not a source"
        );
        assert_eq!(
            rtas(&m, &mut c, "ibm,set-xive", &[vty, 0], 1),
            [P],
            "missing argument"
        );
        assert_eq!(rtas(&m, &mut c, "ibm,get-xive", &[0xffff_ffff], 3)[0], P);
        assert_eq!(rtas(&m, &mut c, "ibm,int-off", &[1], 1), [P]);
        assert_eq!(rtas(&m, &mut c, "ibm,int-on", &[], 1), [P]);
    }

    #[test]
    fn set_get_xive_and_int_off_on() {
        let (m, _) = machine();
        let mut c = cpu(&m);
        m.xics.connect(0, c.irq.clone());
        let vty = layout::VTY_IRQ;
        assert_eq!(rtas(&m, &mut c, "ibm,set-xive", &[vty, 0, 5], 1), [0]);
        assert_eq!(rtas(&m, &mut c, "ibm,get-xive", &[vty], 3), [0, 0, 5]);
        assert_eq!(rtas(&m, &mut c, "ibm,int-off", &[vty], 1), [0]);
        assert_eq!(rtas(&m, &mut c, "ibm,get-xive", &[vty], 3), [0, 0, 0xff]);
        assert_eq!(hcall(&m, &mut c, H_CPPR, &[0xff]), 0);
        m.xics.raise(vty);
        assert_eq!(c.irq.get() & IrqLines::EXTERNAL, 0, "masked: held");
        assert_eq!(rtas(&m, &mut c, "ibm,int-on", &[vty], 1), [0]);
        assert_ne!(
            c.irq.get() & IrqLines::EXTERNAL,
            0,
            "delivered once unmasked"
        );
        assert_eq!(hcall(&m, &mut c, H_XIRR, &[]), 0);
        assert_eq!(c.gpr[4], 0xff00_0000 | vty as u64);
    }
}
