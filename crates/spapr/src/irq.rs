//! Interrupt wiring between devices and the interrupt controller. A device is handed an
//! [`IrqLine`] when it is built and never sees the machine: it pulses the line (a message, as
//! VIO devices and MSIs send) or sets its level (PCI INTx). The controller behind the line is an
//! [`Intc`]: XICS today, XIVE later, chosen when the machine is built.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// An interrupt controller's source side, as devices see it.
pub trait Intc: Send + Sync {
    /// Signals edge source `irq` once (a message).
    fn pulse(&self, irq: u32);
    /// Asserts or deasserts level-sensitive source `irq`.
    fn set_level(&self, irq: u32, level: bool);
    /// Declares source `irq` level-sensitive (LSI) or message-signalled.
    fn set_lsi(&self, irq: u32, lsi: bool);
}

/// One interrupt source a device owns: its global number and the controller serving it.
#[derive(Clone)]
pub struct IrqLine {
    intc: Arc<dyn Intc>,
    irq: u32,
}

impl IrqLine {
    /// Source `irq` of `intc`; a level-sensitive line is declared so on the controller.
    pub fn new(intc: Arc<dyn Intc>, irq: u32, lsi: bool) -> IrqLine {
        intc.set_lsi(irq, lsi);
        IrqLine { intc, irq }
    }

    /// The global interrupt number (what the device tree's `interrupts` names).
    pub fn number(&self) -> u32 {
        self.irq
    }

    pub fn pulse(&self) {
        self.intc.pulse(self.irq)
    }

    pub fn set_level(&self, level: bool) {
        self.intc.set_level(self.irq, level)
    }
}

impl std::fmt::Debug for IrqLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IrqLine({:#x})", self.irq)
    }
}

impl devices::Interrupt for IrqLine {
    fn pulse(&self) {
        IrqLine::pulse(self)
    }
    fn set_level(&self, level: bool) {
        IrqLine::set_level(self, level)
    }
}

/// Wakes vCPUs idling in H_CEDE (and the round-robin scheduler) when an interrupt is posted or
/// the run state changes. Kicks are counted, so a sleeper that looked for work before a kick
/// and sleeps after it is not left waiting for its timeout (a lost wake-up cost an I/O up to
/// 10 ms).
#[derive(Default)]
pub struct Waker {
    kicks: AtomicU64,
    /// Threads inside `wait`: a kick with nobody asleep costs no futex call.
    sleepers: AtomicUsize,
    lock: Mutex<()>,
    cv: Condvar,
}

impl Waker {
    pub fn kick(&self) {
        self.kicks.fetch_add(1, Ordering::SeqCst);
        // Paired with `wait`, which counts itself in before reading `kicks` (both SeqCst): a
        // sleeper that missed this kick is seen here and woken.
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            let _g = self.lock.lock();
            self.cv.notify_all();
        }
    }

    /// Take this before looking for work; pass it to `wait`.
    pub fn token(&self) -> u64 {
        self.kicks.load(Ordering::SeqCst)
    }

    /// Sleeps until kicked after `token` was taken, or `ns` nanoseconds passed.
    pub fn wait(&self, token: u64, ns: u64) {
        let Ok(g) = self.lock.lock() else {
            return;
        };
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        // A kick between `token` and here has already happened: do not sleep.
        if self.kicks.load(Ordering::SeqCst) == token {
            let _ = self
                .cv
                .wait_timeout_while(g, Duration::from_nanos(ns), |_| {
                    self.kicks.load(Ordering::SeqCst) == token
                });
        }
        self.sleepers.fetch_sub(1, Ordering::SeqCst);
    }
}
