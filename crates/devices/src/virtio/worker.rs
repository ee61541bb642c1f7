//! The I/O thread every virtio device serves its queues on. The driver's doorbell (a vCPU's MMIO
//! store) only sets the queue's bit and wakes the thread, like an ioeventfd: a vCPU never waits for
//! host I/O. The thread pops descriptor chains, hands each to the device's [`Handler`], returns
//! it to the used ring and interrupts the driver when the ring's notification rules say so.

use super::{Queue, QueueT, VirtioInterrupt};
use crate::poll::Poll;
use crate::ram::GuestRam;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
pub use virtio_queue::desc::split::Descriptor;

/// What a device does with one request.
pub trait Handler: Send + 'static {
    /// Serves the chain `descs` from queue `queue`; returns how many bytes it wrote into the
    /// chain's device-writable buffers (the used length).
    fn handle(&mut self, queue: u16, descs: &[Descriptor], mem: &GuestRam) -> u32;

    /// Whether the device can serve a request on `queue` now. A receive queue with nothing to
    /// deliver says no: its buffers stay with the device until input arrives (and the device
    /// rings the queue's doorbell itself then, with `Worker::notify`).
    fn ready(&mut self, _queue: u16) -> bool {
        true
    }
}

/// Doorbells rung and the stop request (also the wake-up of virtio-net's own I/O threads).
#[derive(Default)]
pub(crate) struct Kick {
    pending: AtomicU64,
    pub(crate) stop: AtomicBool,
    lock: Mutex<()>,
    cv: Condvar,
}

impl Kick {
    pub(crate) fn ring(&self, bits: u64) {
        self.pending.fetch_or(bits, Ordering::SeqCst);
        // Always under the lock: skipping the wake-up when the thread looked busy lost a
        // doorbell in the virtconsole test (reverted; see the stop note).
        let _g = self.lock.lock();
        self.cv.notify_one();
    }

    /// Waits for doorbells, spinning first while `poll` says that pays; None once stopped.
    pub(crate) fn wait(&self, poll: &mut Poll) -> Option<u64> {
        let t0 = Instant::now();
        poll.spin(Duration::MAX, || {
            self.pending.load(Ordering::SeqCst) != 0 || self.stop.load(Ordering::SeqCst)
        });
        let r = self.sleep();
        poll.update(t0.elapsed());
        r
    }

    fn sleep(&self) -> Option<u64> {
        let mut g = self.lock.lock().ok()?;
        loop {
            let p = self.pending.swap(0, Ordering::SeqCst);
            if self.stop.load(Ordering::SeqCst) {
                return None;
            }
            if p != 0 {
                return Some(p);
            }
            g = self.cv.wait(g).ok()?;
        }
    }
}

/// Rings a worker's doorbells; harmless after the worker stopped.
#[derive(Clone)]
pub struct Doorbell(Arc<Kick>);

impl Doorbell {
    pub fn ring(&self, q: u16) {
        self.0.ring(1 << (q & 63));
    }
}

/// A running I/O thread.
pub struct Worker {
    kick: Arc<Kick>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Longest chain served (a ring's worth; virtio-queue bounds chains by the queue size too).
pub const MAX_CHAIN: usize = 1024;

impl Worker {
    /// Starts serving `queues` with `handler` on a thread named `name`.
    pub fn spawn<H: Handler>(
        name: &str,
        handler: H,
        queues: Vec<(u16, Queue)>,
        mem: Arc<GuestRam>,
        irq: Arc<VirtioInterrupt>,
    ) -> Result<Worker, String> {
        let kick = Arc::new(Kick::default());
        let k = kick.clone();
        let mut s = Serve {
            handler,
            queues,
            mem,
            irq,
            descs: Vec::with_capacity(256),
        };
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let mut poll = Poll::new(crate::poll::allowed());
                while let Some(bits) = k.wait(&mut poll) {
                    s.serve(bits, &k.stop);
                }
            })
            .map_err(|e| format!("cannot start the {name} I/O thread: {e}"))?;
        // Buffers made available before DRIVER_OK are served at once.
        kick.ring(u64::MAX);
        Ok(Worker {
            kick,
            thread: Some(thread),
        })
    }

    /// The driver rang queue `q`'s doorbell.
    pub fn notify(&self, q: u16) {
        self.kick.ring(1 << (q & 63));
    }

    /// A handle that rings the doorbells from elsewhere (a backend with input to deliver).
    pub fn doorbell(&self) -> Doorbell {
        Doorbell(self.kick.clone())
    }

    /// Stops the thread after the request in progress.
    pub fn stop(&mut self) {
        self.kick.stop.store(true, Ordering::SeqCst);
        self.kick.ring(0);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Serve<H> {
    handler: H,
    queues: Vec<(u16, Queue)>,
    mem: Arc<GuestRam>,
    irq: Arc<VirtioInterrupt>,
    /// The chain being served (reused: no allocation per request).
    descs: Vec<Descriptor>,
}

impl<H: Handler> Serve<H> {
    fn serve(&mut self, bits: u64, stop: &AtomicBool) {
        for qi in 0..self.queues.len() {
            let index = self.queues[qi].0;
            if bits & (1 << (index & 63)) != 0 && self.serve_queue(qi, stop) {
                self.irq.signal_used(index);
            }
        }
    }

    /// Serves queue `qi` until empty (or a stop request); whether the driver wants an interrupt.
    fn serve_queue(&mut self, qi: usize, stop: &AtomicBool) -> bool {
        let mem = self.mem.clone();
        let m = mem.mem();
        let index = self.queues[qi].0;
        let mut notify = false;
        // Consecutive rounds that popped nothing.
        let mut empty = 0;
        loop {
            if self.queues[qi].1.disable_notification(m).is_err() {
                return notify;
            }
            let mut served = 0u32;
            let mut blocked = false;
            loop {
                if !self.handler.ready(index) {
                    blocked = true;
                    break;
                }
                let Some(chain) = self.queues[qi].1.pop_descriptor_chain(m) else {
                    break;
                };
                served += 1;
                let head = chain.head_index();
                self.descs.clear();
                self.descs.extend(chain.take(MAX_CHAIN));
                let len = self.handler.handle(index, &self.descs, &mem);
                let q = &mut self.queues[qi].1;
                if q.add_used(m, head, len).is_err() {
                    // Completions earlier in this pass still get their interrupt.
                    return notify;
                }
                notify |= q.needs_notification(m).unwrap_or(true);
                if stop.load(Ordering::Relaxed) {
                    return notify;
                }
            }
            // Re-enable and look again: a buffer posted while notifications were off must not
            // be missed (one empty round is allowed for that). A ring that claims buffers no
            // chain can be popped from (a corrupt avail index or head) would spin here: after
            // two empty rounds it waits for the next doorbell instead; so does a queue the
            // device cannot serve now.
            empty = if served == 0 { empty + 1 } else { 0 };
            match self.queues[qi].1.enable_notification(m) {
                Ok(true) if !blocked && empty < 2 => continue,
                _ => return notify,
            }
        }
    }
}
