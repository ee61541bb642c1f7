//! Diagnostics a guest can trigger (an illegal instruction, an unknown hcall or SPR), logged on
//! stderr without letting the guest flood the log or grow host memory.
//!
//! Bounds, per category: each distinct key is logged once while it is among the last
//! [`REMEMBERED`] keys seen (a fixed ring, no per-value allocation), and at most [`BURST`] lines are
//! printed per [`WINDOW`]; lines over the limit are counted, the count is printed when the category
//! may print again, and [`suppressed_total`] gives the whole run's count for a closing line.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Distinct keys remembered per category (older ones may be logged again, within the rate).
pub const REMEMBERED: usize = 64;
/// Lines a category may print per window.
pub const BURST: u32 = 10;
/// The rate-limit window.
pub const WINDOW: Duration = Duration::from_secs(10);

static SUPPRESSED: AtomicU64 = AtomicU64::new(0);

/// Lines suppressed by every category since the process started.
pub fn suppressed_total() -> u64 {
    SUPPRESSED.load(Ordering::Relaxed)
}

/// One category of rate-limited diagnostics; meant to be a `static`.
pub struct RateLog {
    what: &'static str,
    st: Mutex<State>,
}

struct State {
    keys: [u64; REMEMBERED],
    nkeys: usize,
    next: usize,
    window: Option<Instant>,
    printed: u32,
    suppressed: u64,
}

impl RateLog {
    /// A category; `what` names it in the suppression notice ("illegal instructions").
    pub const fn new(what: &'static str) -> RateLog {
        RateLog {
            what,
            st: Mutex::new(State {
                keys: [0; REMEMBERED],
                nkeys: 0,
                next: 0,
                window: None,
                printed: 0,
                suppressed: 0,
            }),
        }
    }

    /// Logs `msg()` unless `key` was logged recently or the category is over its rate.
    pub fn once(&self, key: u64, msg: impl FnOnce() -> String) {
        self.emit(Some(key), msg, &mut std::io::stderr());
    }

    /// Logs `msg()` unless the category is over its rate.
    pub fn line(&self, msg: impl FnOnce() -> String) {
        self.emit(None, msg, &mut std::io::stderr());
    }

    fn emit(&self, key: Option<u64>, msg: impl FnOnce() -> String, out: &mut dyn std::io::Write) {
        let Ok(mut st) = self.st.lock() else {
            return;
        };
        if let Some(k) = key {
            if st.keys[..st.nkeys].contains(&k) {
                return;
            }
            let at = st.next;
            st.keys[at] = k;
            st.next = (at + 1) % REMEMBERED;
            st.nkeys = (st.nkeys + 1).min(REMEMBERED);
        }
        let now = Instant::now();
        if st.window.is_none_or(|w| now.duration_since(w) >= WINDOW) {
            st.window = Some(now);
            st.printed = 0;
        }
        if st.printed >= BURST {
            st.suppressed += 1;
            SUPPRESSED.fetch_add(1, Ordering::Relaxed);
            return;
        }
        st.printed += 1;
        // Write errors (a closed stderr) must not stop the guest.
        if st.suppressed > 0 {
            let _ = writeln!(
                out,
                "lpar: {} more {} not shown (rate limit)",
                st.suppressed, self.what
            );
            st.suppressed = 0;
        }
        let _ = writeln!(out, "lpar: {}", msg());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(log: &RateLog, keys: impl Iterator<Item = Option<u64>>) -> String {
        let mut out = Vec::new();
        for k in keys {
            log.emit(k, || format!("key {k:?}"), &mut out);
        }
        String::from_utf8(out).expect("utf8")
    }

    #[test]
    fn a_key_is_logged_once() {
        let log = RateLog::new("things");
        let out = run(&log, [1, 2, 1, 1, 2].into_iter().map(Some));
        assert_eq!(out, "lpar: key Some(1)\nlpar: key Some(2)\n");
    }

    #[test]
    fn distinct_keys_are_rate_limited_and_memory_is_fixed() {
        let log = RateLog::new("things");
        let before = suppressed_total();
        let out = run(&log, (0..100_000u64).map(Some));
        assert_eq!(out.lines().count(), BURST as usize);
        assert!(suppressed_total() - before >= 100_000 - BURST as u64);
        let st = log.st.lock().expect("lock");
        assert_eq!(st.nkeys, REMEMBERED);
        assert_eq!(st.suppressed, 100_000 - BURST as u64);
    }

    #[test]
    fn the_suppressed_count_is_reported_when_the_window_reopens() {
        let log = RateLog::new("things");
        run(&log, (0..BURST as u64 + 5).map(|_| None));
        log.st.lock().expect("lock").window = Some(Instant::now() - WINDOW);
        let out = run(&log, std::iter::once(None));
        assert_eq!(
            out,
            "lpar: 5 more things not shown (rate limit)\nlpar: key None\n"
        );
    }
}
