//! A test-harness backend for front-end tests (feature `loopback`): records the frames a device
//! sends and holds frames for it to receive, keeping the edge-triggered waker of the
//! [`Backend`] contract. Not a `-netdev` type: nothing on the command line reaches it.

use crate::{Backend, Offload};
use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

type Waker = Arc<dyn Fn() + Send + Sync>;

#[derive(Default)]
pub struct Loopback {
    /// Frames carry a virtio-net header, as on a tap.
    pub vnet: bool,
    /// Claims to build its frames itself, with good checksums (as libslirp does).
    pub valid: bool,
    sent: Mutex<Vec<Vec<u8>>>,
    /// Frames to deliver, and whether the next one must call the waker.
    inbox: Mutex<(VecDeque<Vec<u8>>, bool)>,
    waker: Mutex<Option<Waker>>,
    offload: Mutex<Option<Offload>>,
    dropped: AtomicU64,
}

/// Test code: a poisoned lock only follows a failed assertion elsewhere.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Loopback {
    pub fn new(vnet: bool) -> Arc<Loopback> {
        Loopback::with(vnet, false)
    }

    /// `valid`: see [`Backend::checksums_valid`].
    pub fn with(vnet: bool, valid: bool) -> Arc<Loopback> {
        Arc::new(Loopback {
            vnet,
            valid,
            inbox: Mutex::new((VecDeque::new(), true)),
            ..Default::default()
        })
    }

    /// A frame arrives from the "network" (with its header when `vnet`).
    pub fn arrive(&self, frame: Vec<u8>) {
        self.arrive_all(vec![frame]);
    }

    /// Frames arrive together, as a burst from libslirp's turn: the waker runs once, after all.
    pub fn arrive_all(&self, frames: Vec<Vec<u8>>) {
        let wake = {
            let mut g = lock(&self.inbox);
            g.0.extend(frames);
            std::mem::replace(&mut g.1, false)
        };
        if wake {
            let w = lock(&self.waker).clone();
            if let Some(w) = w {
                w();
            }
        }
    }

    /// Every frame sent so far.
    pub fn sent(&self) -> Vec<Vec<u8>> {
        lock(&self.sent).clone()
    }

    /// The offloads last set, if any.
    pub fn offload(&self) -> Option<Offload> {
        *lock(&self.offload)
    }
}

impl Backend for Loopback {
    fn vnet_hdr(&self) -> bool {
        self.vnet
    }

    fn send(&self, bufs: &[IoSlice]) -> io::Result<()> {
        let frame = bufs.iter().flat_map(|b| b.iter().copied()).collect();
        lock(&self.sent).push(frame);
        Ok(())
    }

    fn recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        let mut g = lock(&self.inbox);
        while let Some(f) = g.0.pop_front() {
            if let Some(dst) = buf.get_mut(..f.len()) {
                dst.copy_from_slice(&f);
                return Ok(Some(f.len()));
            }
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        g.1 = true;
        Ok(None)
    }

    fn set_waker(&self, waker: Waker) {
        *lock(&self.waker) = Some(waker);
    }

    fn set_offload(&self, o: Offload) {
        *lock(&self.offload) = Some(o);
    }

    fn checksums_valid(&self) -> bool {
        self.valid
    }

    fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}
