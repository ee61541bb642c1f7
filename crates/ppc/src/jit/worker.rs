//! The background translator: one thread per process compiles the blocks vCPUs ask for, so a
//! vCPU keeps interpreting instead of waiting for Cranelift (a block costs ~100-200 µs). Requests
//! go through a bounded queue; each vCPU installs its finished blocks itself, between blocks.

use super::translate::{Chain, Output, Translator};
use super::Mode;
use crate::exec::Slot;
use std::sync::mpsc::{sync_channel, Sender, SyncSender};
use std::sync::OnceLock;
use std::time::Instant;

/// Requests waiting for the translator, all vCPUs together.
const QUEUE: usize = 512;

pub(super) struct Request {
    pub id: u64,
    pub slots: Vec<Slot>,
    pub pc: u64,
    pub key: u64,
    pub mode: Mode,
    pub mem: (u64, u64, u64),
    pub chain: Option<Chain>,
    /// Address of the vCPU's interrupt-line bits.
    pub irq: u64,
    pub reply: Sender<Done>,
    pub ready: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

pub(super) struct Done {
    pub id: u64,
    pub key: u64,
    pub pc: u64,
    pub out: Option<Output>,
    pub code: Vec<u8>,
    pub ns: u64,
}

/// The translator thread's queue, started on first use; None if it cannot run.
pub(super) fn service() -> Option<&'static SyncSender<Request>> {
    static S: OnceLock<Option<SyncSender<Request>>> = OnceLock::new();
    S.get_or_init(|| {
        let mut tr = Translator::new()?;
        let (tx, rx) = sync_channel::<Request>(QUEUE);
        std::thread::Builder::new()
            .name("jit".into())
            .spawn(move || {
                for r in rx {
                    let t0 = Instant::now();
                    // A Cranelift panic (a bug) loses this block, not the machine: the vCPU
                    // goes on interpreting it.
                    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        tr.translate(&r.slots, r.pc, r.mode, false, r.mem, r.chain, r.irq)
                    }))
                    .unwrap_or(None);
                    let done = Done {
                        id: r.id,
                        key: r.key,
                        pc: r.pc,
                        out,
                        code: tr.code.clone(),
                        ns: t0.elapsed().as_nanos() as u64,
                    };
                    // A vCPU that has gone away no longer wants its blocks.
                    let _ = r.reply.send(done);
                    r.ready.fetch_add(1, std::sync::atomic::Ordering::Release);
                }
            })
            .ok()?;
        Some(tx)
    })
    .as_ref()
}
