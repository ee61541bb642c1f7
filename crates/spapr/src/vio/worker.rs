//! A device's I/O thread: jobs the vCPUs queue (bounded) are served in order, one at a time, so
//! that a slow backend (a disk, a TPM) never holds a vCPU. When the thread cannot start, or has
//! stopped, the caller serves the job itself: slower, still correct.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

struct State<J> {
    queue: VecDeque<J>,
    /// The thread is serving a job.
    busy: bool,
    /// The thread runs (false: it could not be started, or stopped).
    running: bool,
    stop: bool,
}

struct Shared<J> {
    state: Mutex<State<J>>,
    /// The thread waits here for jobs.
    wake: Condvar,
    /// Signalled when the thread has nothing left to do.
    idle: Condvar,
}

/// What became of a submitted job.
pub enum Submit<J> {
    /// The thread will serve it.
    Queued,
    /// The queue is full (or, for [`Worker::submit_if_idle`], a job is in flight).
    Busy,
    /// No thread: the caller serves it.
    Inline(J),
}

pub struct Worker<J> {
    shared: Arc<Shared<J>>,
    capacity: usize,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// Marks the thread gone however it ends (a panic too), so that nobody waits for it.
struct Exit<'a, J>(&'a Shared<J>);

impl<J> Drop for Exit<'_, J> {
    fn drop(&mut self) {
        if let Ok(mut s) = self.0.state.lock() {
            s.running = false;
            s.busy = false;
        }
        self.0.idle.notify_all();
    }
}

impl<J: Send + 'static> Worker<J> {
    /// Starts thread `name`, which makes its server with `init` (its scratch state lives on
    /// the thread) and passes each job to it; at most `capacity` jobs wait. `what` names the
    /// device in the message when the thread cannot start.
    pub fn spawn<F: FnMut(J)>(
        name: String,
        what: &str,
        capacity: usize,
        init: impl FnOnce() -> F + Send + 'static,
    ) -> Worker<J> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                busy: false,
                running: true,
                stop: false,
            }),
            wake: Condvar::new(),
            idle: Condvar::new(),
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new().name(name).spawn(move || {
            let _exit = Exit(&s);
            let mut serve = init();
            while let Some(job) = s.next() {
                serve(job);
            }
        });
        let thread = match thread {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("lpar: {what}: cannot start its I/O thread ({e}); serving inline");
                if let Ok(mut st) = shared.state.lock() {
                    st.running = false;
                }
                None
            }
        };
        Worker {
            shared,
            capacity,
            thread: Mutex::new(thread),
        }
    }

    /// Queues `job` for the thread.
    pub fn submit(&self, job: J) -> Submit<J> {
        self.push(job, false)
    }

    /// Queues `job` only if no other is queued or being served.
    pub fn submit_if_idle(&self, job: J) -> Submit<J> {
        self.push(job, true)
    }

    fn push(&self, job: J, only_if_idle: bool) -> Submit<J> {
        let Ok(mut s) = self.shared.state.lock() else {
            return Submit::Inline(job);
        };
        if !s.running || s.stop {
            return Submit::Inline(job);
        }
        if s.queue.len() >= self.capacity || (only_if_idle && (s.busy || !s.queue.is_empty())) {
            return Submit::Busy;
        }
        s.queue.push_back(job);
        self.shared.wake.notify_one();
        Submit::Queued
    }

    /// Drops the jobs not yet served.
    pub fn clear(&self) {
        if let Ok(mut s) = self.shared.state.lock() {
            s.queue.clear();
        }
    }

    /// Waits until every job queued so far has been served.
    pub fn wait_idle(&self) {
        let Ok(mut s) = self.shared.state.lock() else {
            return;
        };
        while s.running && (s.busy || !s.queue.is_empty()) {
            s = match self.shared.idle.wait(s) {
                Ok(g) => g,
                Err(_) => return,
            };
        }
    }

    /// Whether the thread is serving (false once it stopped, or if it died: a harness checks
    /// this, since a panic there would not reach the caller).
    pub fn running(&self) -> bool {
        self.shared.state.lock().is_ok_and(|s| s.running)
    }

    /// Tests: after [`Worker::stop`], accept jobs as if a thread ran (nothing serves them).
    #[cfg(test)]
    pub(crate) fn pretend_running(&self, running: bool) {
        if let Ok(mut s) = self.shared.state.lock() {
            (s.running, s.stop) = (running, false);
        }
    }

    #[cfg(test)]
    pub(crate) fn queued(&self) -> usize {
        self.shared.state.lock().map_or(0, |s| s.queue.len())
    }
}

impl<J> Worker<J> {
    /// Stops the thread after the job it is serving; later jobs are served by their callers.
    pub fn stop(&self) {
        if let Ok(mut s) = self.shared.state.lock() {
            s.stop = true;
            self.shared.wake.notify_all();
        }
        if let Some(t) = self.thread.lock().ok().and_then(|mut g| g.take()) {
            let _ = t.join();
        }
    }
}

impl<J> Drop for Worker<J> {
    fn drop(&mut self) {
        self.stop();
    }
}

impl<J> Shared<J> {
    /// The thread's next job; None when told to stop.
    fn next(&self) -> Option<J> {
        let mut s = self.state.lock().ok()?;
        loop {
            if s.stop {
                return None;
            }
            if let Some(j) = s.queue.pop_front() {
                s.busy = true;
                return Some(j);
            }
            s.busy = false;
            self.idle.notify_all();
            s = self.wake.wait(s).ok()?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn jobs_are_served_in_order_and_bounded() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let w = Worker::spawn("t".into(), "test", 4, move || {
            move |j: u32| s.lock().unwrap().push(j)
        });
        for i in 0..100 {
            while matches!(w.submit(i), Submit::Busy) {
                std::thread::yield_now();
            }
        }
        w.wait_idle();
        assert_eq!(*seen.lock().unwrap(), (0..100).collect::<Vec<_>>());
        w.stop();
        assert!(!w.running());
        assert!(matches!(w.submit(7), Submit::Inline(7)));
    }

    #[test]
    fn submit_if_idle_refuses_while_a_job_is_in_flight() {
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let served = Arc::new(AtomicUsize::new(0));
        let (g, n) = (gate.clone(), served.clone());
        let w = Worker::spawn("t".into(), "test", 8, move || {
            move |_: ()| {
                let mut open = g.0.lock().unwrap();
                while !*open {
                    open = g.1.wait(open).unwrap();
                }
                n.fetch_add(1, Ordering::SeqCst);
            }
        });
        assert!(matches!(w.submit_if_idle(()), Submit::Queued));
        assert!(matches!(w.submit_if_idle(()), Submit::Busy));
        *gate.0.lock().unwrap() = true;
        gate.1.notify_all();
        w.wait_idle();
        assert!(matches!(w.submit_if_idle(()), Submit::Queued));
        w.wait_idle();
        assert_eq!(served.load(Ordering::SeqCst), 2);
    }
}
