//! Adaptive polling before a sleep, as KVM's halt polling: a thread that is usually woken again
//! within microseconds (an idle vCPU waiting for its disk, an I/O thread waiting for the next
//! request) spins that long instead of paying a futex sleep and the wake-up of an idle host CPU,
//! which costs tens of microseconds (more when the host is itself a virtual machine). A thread
//! whose waits are long stops spinning. Only when the machine's vCPUs leave a host CPU free:
//! spinning then takes no time from guest code.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// First window after a short wait, and the largest one (KVM's defaults are 10 and 200 µs).
const START: Duration = Duration::from_micros(10);
const MAX: Duration = Duration::from_micros(200);

static ALLOWED: AtomicBool = AtomicBool::new(false);

/// Set when the machine is built: whether waits may spin (`vcpus` threads besides the I/O ones
/// leave a host CPU free). `LPAR_POLL=off` forbids it (for measurements).
pub fn configure(vcpus: usize) {
    let host = std::thread::available_parallelism().map_or(1, |n| n.get());
    let off = std::env::var("LPAR_POLL").is_ok_and(|v| v == "off");
    ALLOWED.store(vcpus < host && !off, Ordering::Relaxed);
}

/// Whether `configure` allowed spinning.
pub fn allowed() -> bool {
    ALLOWED.load(Ordering::Relaxed)
}

/// One waiter's polling window.
#[derive(Debug)]
pub struct Poll {
    window: Duration,
    enabled: bool,
}

impl Poll {
    /// A window that starts closed; `enabled` false keeps it so.
    pub fn new(enabled: bool) -> Poll {
        Poll {
            window: Duration::ZERO,
            enabled,
        }
    }

    /// Spins until `ready` or the window (at most `limit`) has passed; whether it became ready.
    pub fn spin(&self, limit: Duration, ready: impl Fn() -> bool) -> bool {
        let window = self.window.min(limit);
        if window.is_zero() {
            return false;
        }
        let t0 = Instant::now();
        loop {
            if ready() {
                return true;
            }
            if t0.elapsed() >= window {
                return false;
            }
            std::hint::spin_loop();
        }
    }

    /// Adapts the window to a wait that lasted `waited` (spin and sleep together): one the
    /// window covered changes nothing, a longer one up to `MAX` doubles it, a longer one still
    /// closes it.
    pub fn update(&mut self, waited: Duration) {
        if !self.enabled || waited <= self.window {
            return;
        }
        self.window = if waited > MAX {
            Duration::ZERO
        } else {
            (self.window * 2).clamp(START, MAX)
        };
    }

    /// The current window (for tests).
    pub fn window(&self) -> Duration {
        self.window
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_grows_with_short_waits_and_closes_after_a_long_one() {
        let mut p = Poll::new(true);
        assert_eq!(p.window(), Duration::ZERO);
        // Closed: no spinning at all.
        assert!(!p.spin(MAX, || true));
        p.update(Duration::from_micros(30));
        assert_eq!(p.window(), START);
        p.update(Duration::from_micros(30));
        assert_eq!(p.window(), START * 2);
        // Covered by the window: unchanged.
        p.update(Duration::from_micros(15));
        assert_eq!(p.window(), START * 2);
        for _ in 0..10 {
            p.update(Duration::from_micros(199));
        }
        assert_eq!(p.window(), MAX);
        p.update(Duration::from_millis(4));
        assert_eq!(p.window(), Duration::ZERO);
        // Disabled: never opens.
        let mut q = Poll::new(false);
        q.update(Duration::from_micros(30));
        assert_eq!(q.window(), Duration::ZERO);
    }

    #[test]
    fn spinning_sees_readiness_and_gives_up_after_the_window() {
        let mut p = Poll::new(true);
        p.update(Duration::from_micros(100));
        assert!(p.spin(MAX, || true));
        let t0 = Instant::now();
        assert!(!p.spin(MAX, || false));
        assert!(t0.elapsed() >= p.window());
        // A limit shorter than the window bounds the spin.
        let t0 = Instant::now();
        assert!(!p.spin(Duration::from_nanos(1), || false));
        assert!(t0.elapsed() < Duration::from_millis(50));
    }
}
