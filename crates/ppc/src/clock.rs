//! The virtual clock of the reproducible mode (`-icount shift=N`): time advances by 2^N ns for
//! every instruction retired, not with the host clock, so the timebase and decrementer a guest
//! reads depend only on what it executed. vCPUs then run round-robin on one thread (the caller's
//! job), and idle time is skipped by warping the clock to the next timer deadline.

use std::sync::atomic::{AtomicU64, Ordering};

/// Virtual nanoseconds since the machine started; shared by all vCPUs of a machine.
#[derive(Debug)]
pub struct VirtualClock {
    ns: AtomicU64,
    shift: u32,
}

impl VirtualClock {
    /// A clock where each instruction takes 2^shift ns (shift at most `MAX_SHIFT`).
    pub fn new(shift: u32) -> VirtualClock {
        VirtualClock {
            ns: AtomicU64::new(0),
            shift: shift.min(Self::MAX_SHIFT),
        }
    }

    /// Largest shift (QEMU's limit): one instruction per 1 µs.
    pub const MAX_SHIFT: u32 = 10;

    /// Accounts for `insns` retired instructions.
    pub fn advance(&self, insns: u64) {
        self.ns
            .fetch_add(insns.saturating_mul(1 << self.shift), Ordering::Relaxed);
    }

    /// Moves the clock forward by `ticks` timebase ticks (idle time skipped).
    pub fn warp_ticks(&self, ticks: u64) {
        let ns = (ticks as u128 * 1_000_000_000).div_ceil(crate::cpu::TB_FREQ as u128);
        self.ns
            .fetch_add(ns.min(u64::MAX as u128) as u64, Ordering::Relaxed);
    }

    pub fn ns(&self) -> u64 {
        self.ns.load(Ordering::Relaxed)
    }

    /// The timebase (512 MHz ticks) at this virtual time.
    pub fn ticks(&self) -> u64 {
        (self.ns() as u128 * crate::cpu::TB_FREQ as u128 / 1_000_000_000) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_follows_instructions_and_warps() {
        let c = VirtualClock::new(3);
        c.advance(1000);
        assert_eq!(c.ns(), 8000);
        assert_eq!(c.ticks(), 4096);
        c.warp_ticks(512);
        assert_eq!(c.ns(), 9000);
        assert_eq!(VirtualClock::new(99).shift, VirtualClock::MAX_SHIFT);
    }
}
