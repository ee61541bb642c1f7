//! virtio-net (`-device virtio-net-pci`): an Ethernet NIC on a [`net::Backend`] (`-netdev user`
//! or `tap`), one backend per queue pair.
//!
//! Queues: rx0, tx0, rx1, tx1, ... then the control queue (at index 2 when the driver did not
//! take MQ, as the spec numbers it). Every frame carries the 12-byte `virtio_net_hdr_v1`. With a
//! tap that has a vnet header the header goes through unchanged both ways and the checksum and
//! segmentation offloads are offered; without one (user networking) frames are always complete
//! and the header is dropped on send and made on receive: zero, or DATA_VALID where the backend
//! built the frames itself (libslirp), and for such a backend consecutive TCP segments merged into
//! one GSO frame with a partial checksum when the driver took GUEST_TSO4 (QEMU offers no offload
//! there; the guest's receive path is what costs emulated time).
//!
//! The generic [`super::worker::Worker`] serves one chain per call, but a received frame may
//! need several chains (mergeable buffers), and receiving is driven by the backend, not by the
//! driver. Frames are delivered by whoever learns they can be: the backend's own thread when
//! one arrives (its waker), the vCPU that posts buffers frames were waiting for, or, when a
//! delivery's budget runs out, the backend's I/O thread, which also serves its pair's transmit
//! queue. Receive queues are shared behind a mutex: a
//! backend beyond the pairs the driver enabled (tap `queues=4` with a guest using one) delivers
//! into pair `k % active`, as QEMU's detaching those tap queues would make the kernel do. A frame
//! waits in its thread's buffer until the driver posts enough buffers: none is lost.

use super::worker::{Descriptor, Kick, MAX_CHAIN};
use super::{kind, Queue, QueueT, VirtioDevice, VirtioInterrupt};
use crate::poll::Poll;
use crate::ram::GuestRam;
use net::{Backend, Offload, VNET_F_DATA_VALID, VNET_F_NEEDS_CSUM, VNET_GSO_TCPV4, VNET_HDR_LEN};
use std::io::IoSlice;
use std::sync::atomic::{fence, AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use virtio_queue::QueueOwnedT;
use vm_memory::{Bytes, GuestAddress};

/// Feature bits (virtio 1.x 5.1.3).
pub mod f {
    pub const CSUM: u64 = 1 << 0;
    pub const GUEST_CSUM: u64 = 1 << 1;
    pub const CTRL_GUEST_OFFLOADS: u64 = 1 << 2;
    pub const MTU: u64 = 1 << 3;
    pub const MAC: u64 = 1 << 5;
    pub const GUEST_TSO4: u64 = 1 << 7;
    pub const GUEST_TSO6: u64 = 1 << 8;
    pub const GUEST_ECN: u64 = 1 << 9;
    pub const GUEST_UFO: u64 = 1 << 10;
    pub const HOST_TSO4: u64 = 1 << 11;
    pub const HOST_TSO6: u64 = 1 << 12;
    pub const HOST_ECN: u64 = 1 << 13;
    pub const HOST_UFO: u64 = 1 << 14;
    pub const MRG_RXBUF: u64 = 1 << 15;
    pub const STATUS: u64 = 1 << 16;
    pub const CTRL_VQ: u64 = 1 << 17;
    pub const CTRL_RX: u64 = 1 << 18;
    pub const MQ: u64 = 1 << 22;
    pub const CTRL_MAC_ADDR: u64 = 1 << 23;
    /// Every offload bit: offered only over a backend with a vnet header.
    pub const OFFLOADS: u64 = CSUM
        | GUEST_CSUM
        | CTRL_GUEST_OFFLOADS
        | GUEST_TSO4
        | GUEST_TSO6
        | GUEST_ECN
        | GUEST_UFO
        | HOST_TSO4
        | HOST_TSO6
        | HOST_ECN
        | HOST_UFO;
    /// The receive offloads CTRL_GUEST_OFFLOADS may switch.
    pub const GUEST_OFFLOADS: u64 = GUEST_CSUM | GUEST_TSO4 | GUEST_TSO6 | GUEST_ECN | GUEST_UFO;
}

/// Control queue classes, commands and acks.
pub mod ctrl {
    pub const CLASS_RX: u8 = 0;
    pub const RX_PROMISC: u8 = 0;
    pub const RX_ALLMULTI: u8 = 1;
    pub const CLASS_MAC: u8 = 1;
    pub const MAC_TABLE_SET: u8 = 0;
    pub const MAC_ADDR_SET: u8 = 1;
    pub const CLASS_MQ: u8 = 4;
    pub const MQ_VQ_PAIRS_SET: u8 = 0;
    pub const CLASS_GUEST_OFFLOADS: u8 = 5;
    pub const GUEST_OFFLOADS_SET: u8 = 0;
    pub const OK: u8 = 0;
    pub const ERR: u8 = 1;
}

/// Config `status`: the link is up.
pub const S_LINK_UP: u16 = 1;

/// The driver's header (VERSION_1 always has `num_buffers`, bytes 10..12).
const HDR: usize = 12;
const _: () = assert!(HDR == VNET_HDR_LEN);
/// Largest frame: a 64 KiB GSO packet plus Ethernet and VLAN headers (what the backends pass).
const MAX_FRAME: usize = 65_536 + 64;
/// One frame with its header: the size of each thread's receive and transmit buffer.
const BUF_LEN: usize = HDR + MAX_FRAME;
pub const QUEUE_SIZE: u16 = 256;
const CTRL_QUEUE_SIZE: u16 = 64;
/// Queue pairs offered at most: the transport's MSI-X table (BAR 1 below its PBA at 0x800)
/// holds 128 vectors, one per queue plus the configuration's.
pub const MAX_PAIRS: usize = 63;
/// Frames received, or chains sent, per pass before the thread looks at its other work.
const RX_BUDGET: usize = 64;
const TX_BUDGET: usize = 256;

/// Wake-up bits of a pair's thread.
const K_RX: u64 = 1;
const K_TX: u64 = 2;
const K_CTRL: u64 = 4;

/// The user's toggles, as QEMU's virtio-net properties (all on by default).
#[derive(Clone, Debug)]
pub struct NetOptions {
    /// Host checksum offload (VIRTIO_NET_F_CSUM).
    pub csum: bool,
    pub guest_csum: bool,
    /// Host segmentation offloads: HOST_TSO4/6, HOST_ECN, HOST_UFO (needs `csum`).
    pub gso: bool,
    pub guest_tso4: bool,
    pub guest_tso6: bool,
    pub guest_ecn: bool,
    pub guest_ufo: bool,
    pub mrg_rxbuf: bool,
    /// Offer several queue pairs when the backend has several.
    pub mq: bool,
    pub ctrl_vq: bool,
    /// Offer the config `status` field (VIRTIO_NET_F_STATUS).
    pub status: bool,
    /// `host_mtu=`: offered as VIRTIO_NET_F_MTU.
    pub mtu: Option<u16>,
    /// The link state `status` reports.
    pub link_up: bool,
}

impl Default for NetOptions {
    fn default() -> Self {
        NetOptions {
            csum: true,
            guest_csum: true,
            gso: true,
            guest_tso4: true,
            guest_tso6: true,
            guest_ecn: true,
            guest_ufo: true,
            mrg_rxbuf: true,
            mq: true,
            ctrl_vq: true,
            status: true,
            mtu: None,
            link_up: true,
        }
    }
}

/// What one backend's waker delivers to: the running activation, while the device runs.
type Slot = Arc<Mutex<Option<Arc<Run>>>>;

pub struct Net {
    backends: Vec<Arc<dyn Backend>>,
    /// The MAC given at creation; a reset returns to it.
    mac: [u8; 6],
    /// The MAC now (CTRL_MAC_ADDR may change it), in the low 48 bits.
    cur_mac: Arc<AtomicU64>,
    opts: NetOptions,
    features: u64,
    /// Queue pairs offered (max_virtqueue_pairs).
    pairs: usize,
    sizes: Vec<u16>,
    slots: Vec<Slot>,
    run: Option<Arc<Run>>,
    threads: Vec<JoinHandle<()>>,
    dropped: Arc<AtomicU64>,
}

fn mac_bits(m: [u8; 6]) -> u64 {
    let mut b = [0u8; 8];
    b[..6].copy_from_slice(&m);
    u64::from_le_bytes(b)
}

impl Net {
    /// A NIC with MAC `mac` on `backends` (one per queue pair, as [`net::open`] returns them).
    pub fn new(backends: Vec<Arc<dyn Backend>>, mac: [u8; 6], opts: NetOptions) -> Net {
        let vnet = backends.first().is_some_and(|b| b.vnet_hdr());
        let pairs = if opts.mq && opts.ctrl_vq && backends.len() > 1 {
            backends.len().min(MAX_PAIRS)
        } else {
            1
        };
        let mut features = f::MAC;
        if opts.status {
            features |= f::STATUS;
        }
        if opts.mrg_rxbuf {
            features |= f::MRG_RXBUF;
        }
        if opts.mtu.is_some() {
            features |= f::MTU;
        }
        if opts.ctrl_vq {
            features |= f::CTRL_VQ | f::CTRL_RX | f::CTRL_MAC_ADDR;
            if pairs > 1 {
                features |= f::MQ;
            }
        }
        // The spec's dependencies (5.1.3.1) decide what a toggle without its prerequisite means.
        if vnet {
            if opts.csum {
                features |= f::CSUM;
                if opts.gso {
                    features |= f::HOST_TSO4 | f::HOST_TSO6 | f::HOST_ECN | f::HOST_UFO;
                }
            }
            if opts.guest_csum {
                features |= f::GUEST_CSUM;
                if opts.guest_tso4 {
                    features |= f::GUEST_TSO4;
                }
                if opts.guest_tso6 {
                    features |= f::GUEST_TSO6;
                }
                if opts.guest_ecn && (opts.guest_tso4 || opts.guest_tso6) {
                    features |= f::GUEST_ECN;
                }
                if opts.guest_ufo {
                    features |= f::GUEST_UFO;
                }
            }
            if opts.ctrl_vq {
                features |= f::CTRL_GUEST_OFFLOADS;
            }
        } else if opts.guest_csum && backends.iter().all(|b| b.checksums_valid()) {
            // Frames the backend made itself (user networking) go to the guest marked
            // DATA_VALID: its stack then skips verifying every byte again, which costs emulated
            // guest time (a NIC's receive checksum offload).
            features |= f::GUEST_CSUM;
            // And consecutive segments of a TCP stream go as one GSO frame (net::Coalesced):
            // the guest's stack runs once per 64 KiB instead of once per 1500 bytes.
            if opts.guest_tso4 {
                features |= f::GUEST_TSO4;
            }
            if opts.ctrl_vq {
                features |= f::CTRL_GUEST_OFFLOADS;
            }
        }
        let mut sizes = vec![QUEUE_SIZE; 2 * pairs];
        if opts.ctrl_vq {
            sizes.push(CTRL_QUEUE_SIZE);
        }
        // Wakers are set once, here. The waker delivers on the backend's own thread: a hop through the pair's I/O thread
        // cost a context switch per frame on a two-core host (as spapr-vlan found).
        let slots = backends
            .iter()
            .enumerate()
            .map(|(k, b)| {
                let slot: Slot = Arc::default();
                let s = slot.clone();
                b.set_waker(Arc::new(move || {
                    // Cloned out so the slot is not held while delivering (reset takes it).
                    let run = s.lock().ok().and_then(|r| r.clone());
                    if let Some(run) = run {
                        run.receive(k, true);
                    }
                }));
                slot
            })
            .collect();
        Net {
            backends,
            mac,
            cur_mac: Arc::new(AtomicU64::new(mac_bits(mac))),
            opts,
            features,
            pairs,
            sizes,
            slots,
            run: None,
            threads: Vec::new(),
            dropped: Arc::default(),
        }
    }

    /// Frames the device dropped: malformed transmit chains, and received frames that did not
    /// fit a receive buffer without mergeable buffers (the backends count their own drops).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn config(&self) -> [u8; 12] {
        let mut c = [0u8; 12];
        c[0..6].copy_from_slice(&self.cur_mac.load(Ordering::SeqCst).to_le_bytes()[..6]);
        let status = if self.opts.link_up { S_LINK_UP } else { 0 };
        c[6..8].copy_from_slice(&status.to_le_bytes());
        c[8..10].copy_from_slice(&(self.pairs as u16).to_le_bytes());
        c[10..12].copy_from_slice(&self.opts.mtu.unwrap_or(0).to_le_bytes());
        c
    }
}

fn offload(features: u64) -> Offload {
    Offload {
        csum: features & f::GUEST_CSUM != 0,
        tso4: features & f::GUEST_TSO4 != 0,
        tso6: features & f::GUEST_TSO6 != 0,
        ecn: features & f::GUEST_ECN != 0,
        ufo: features & f::GUEST_UFO != 0,
    }
}

impl VirtioDevice for Net {
    fn device_type(&self) -> u16 {
        kind::NET
    }

    fn pci_class(&self) -> u32 {
        // Network controller, Ethernet.
        0x02_00_00
    }

    fn queue_max_sizes(&self) -> &[u16] {
        &self.sizes
    }

    fn features(&self) -> u64 {
        self.features
    }

    fn read_config(&self, offset: u64, data: &mut [u8]) {
        let c = self.config();
        for (i, b) in data.iter_mut().enumerate() {
            *b = offset
                .checked_add(i as u64)
                .and_then(|o| c.get(usize::try_from(o).ok()?).copied())
                .unwrap_or(0);
        }
    }

    fn activate(
        &mut self,
        features: u64,
        queues: Vec<(u16, Queue)>,
        mem: Arc<GuestRam>,
        irq: Arc<VirtioInterrupt>,
    ) -> Result<(), String> {
        self.reset();
        let features = features & (self.features | super::feature::VERSION_1);
        let pairs = if features & f::MQ != 0 { self.pairs } else { 1 };
        // The control queue follows the pairs the driver knows of (2 without MQ).
        let ctrl_index = (features & f::CTRL_VQ != 0).then_some(2 * pairs as u16);
        let mut rx: Vec<Option<Queue>> = (0..pairs).map(|_| None).collect();
        let mut tx: Vec<Option<(u16, Queue)>> = (0..pairs).map(|_| None).collect();
        let mut ctrl = None;
        for (i, q) in queues {
            let p = i as usize / 2;
            if Some(i) == ctrl_index {
                ctrl = Some((i, q));
            } else if p < pairs && i % 2 == 0 {
                rx[p] = Some(q);
            } else if p < pairs {
                tx[p] = Some((i, q));
            }
            // Any other queue is not in the layout the driver negotiated: never served.
        }
        let vnet = self.backends.first().is_some_and(|b| b.vnet_hdr());
        if vnet {
            for b in &self.backends {
                b.set_offload(offload(features));
            }
        }
        let threads = self.backends.len().max(1);
        let mrg = features & f::MRG_RXBUF != 0;
        let run = Arc::new(Run {
            recv: (0..threads)
                .map(|k| {
                    Mutex::new(RxPath {
                        backend: self.backends.get(k).cloned(),
                        vnet,
                        mrg,
                        scratch: RxScratch {
                            buf: vec![0; BUF_LEN],
                            pending: None,
                            next: vec![0; MAX_FRAME],
                            held: None,
                            descs: Vec::with_capacity(MAX_CHAIN),
                            chains: Vec::with_capacity(QUEUE_SIZE as usize),
                        },
                    })
                })
                .collect(),
            stopped: AtomicBool::new(false),
            data_valid: AtomicBool::new(!vnet && features & f::GUEST_CSUM != 0),
            coalesce: AtomicBool::new(!vnet && coalescing(features)),
            kicks: (0..threads).map(|_| Arc::new(Kick::default())).collect(),
            backends: self.backends.clone(),
            rx: rx
                .into_iter()
                .map(|q| {
                    Mutex::new(RxRing {
                        q,
                        // The driver starts with notifications on.
                        armed: true,
                    })
                })
                .collect(),
            active: AtomicU16::new(1),
            features,
            mem,
            irq,
            mac: self.cur_mac.clone(),
            dropped: self.dropped.clone(),
        });
        self.run = Some(run.clone());
        let mut tx = tx.into_iter();
        for k in 0..threads {
            let mut io = Io {
                k,
                run: run.clone(),
                backend: self.backends.get(k).cloned(),
                vnet,
                tx: tx.next().flatten(),
                ctrl: if k == 0 { ctrl.take() } else { None },
                tx_buf: vec![0; BUF_LEN],
                descs: Vec::with_capacity(MAX_CHAIN),
            };
            let kick = run.kicks[k].clone();
            let t = std::thread::Builder::new()
                .name(format!("virtio-net-{k}"))
                .spawn(move || {
                    let mut poll = Poll::new(crate::poll::allowed());
                    while let Some(bits) = kick.wait(&mut poll) {
                        let again = io.serve(bits);
                        if again != 0 {
                            kick.ring(again);
                        }
                    }
                });
            match t {
                Ok(t) => self.threads.push(t),
                Err(e) => {
                    self.reset();
                    return Err(format!("cannot start the virtio-net I/O thread: {e}"));
                }
            }
        }
        for slot in &self.slots {
            if let Ok(mut s) = slot.lock() {
                *s = Some(run.clone());
            }
        }
        // Buffers posted and frames that arrived before DRIVER_OK are served at once.
        for k in &run.kicks {
            k.ring(K_RX | K_TX | K_CTRL);
        }
        Ok(())
    }

    fn notify(&self, q: u16) {
        let Some(run) = &self.run else {
            return;
        };
        let pairs = run.rx.len();
        let p = q as usize / 2;
        if run.ctrl_index() == Some(q) {
            run.kicks[0].ring(K_CTRL);
        } else if p < pairs && q % 2 == 1 {
            if let Some(k) = run.kicks.get(p) {
                k.ring(K_TX);
            }
        } else {
            // Buffers on rx p: every backend whose frames go there delivers now, on this
            // vCPU (as QEMU flushes its queue in the doorbell's handler), or on its thread if
            // a delivery is under way elsewhere.
            let active = run.active();
            if p < active {
                for k in (p..run.recv.len()).step_by(active) {
                    run.receive(k, false);
                }
            }
        }
    }

    fn reset(&mut self) {
        for s in &self.slots {
            if let Ok(mut s) = s.lock() {
                *s = None;
            }
        }
        if let Some(run) = self.run.take() {
            // A waker may still hold the activation: once every receive path has been taken
            // after `stopped`, none writes to the guest again.
            run.stopped.store(true, Ordering::SeqCst);
            for r in &run.recv {
                drop(r.lock());
            }
            for k in &run.kicks {
                k.stop.store(true, Ordering::SeqCst);
                k.ring(0);
            }
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        self.cur_mac.store(mac_bits(self.mac), Ordering::SeqCst);
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        self.reset();
    }
}

/// What the threads of one activation share.
struct Run {
    /// One per thread (= per backend).
    kicks: Vec<Arc<Kick>>,
    backends: Vec<Arc<dyn Backend>>,
    /// The receive queue of each pair in the negotiated layout.
    rx: Vec<Mutex<RxRing>>,
    /// Pairs the driver uses (VQ_PAIRS_SET), 1..=rx.len().
    active: AtomicU16,
    features: u64,
    mem: Arc<GuestRam>,
    irq: Arc<VirtioInterrupt>,
    mac: Arc<AtomicU64>,
    dropped: Arc<AtomicU64>,
    /// Each backend's receive path; holding it is the right to take that backend's frames,
    /// so they keep their order whichever thread delivers.
    recv: Vec<Mutex<RxPath>>,
    /// The device was reset: nothing is delivered any more.
    stopped: AtomicBool,
    /// Received frames (from a backend without a vnet header) are marked DATA_VALID: the
    /// driver took GUEST_CSUM and has not switched it off (GUEST_OFFLOADS_SET).
    data_valid: AtomicBool,
    /// TCP segments from such a backend are merged into GSO frames: the driver took
    /// GUEST_TSO4 (with GUEST_CSUM) and has not switched it off.
    coalesce: AtomicBool,
}

impl Run {
    /// Delivers backend `k`'s waiting frames. Without `wait`, a delivery under way elsewhere
    /// hands the work to the backend's I/O thread rather than block (it may be just about to
    /// stop and would miss the buffers this caller announces). A spent budget goes on there.
    fn receive(&self, k: usize, wait: bool) {
        let path = match self.recv.get(k) {
            Some(p) if wait => p.lock().ok(),
            Some(p) => p.try_lock().ok(),
            None => return,
        };
        let more = match path {
            Some(mut p) => !self.stopped.load(Ordering::SeqCst) && p.receive(k, self),
            None => true,
        };
        if more {
            if let Some(kick) = self.kicks.get(k) {
                kick.ring(K_RX);
            }
        }
    }

    fn active(&self) -> usize {
        (self.active.load(Ordering::SeqCst) as usize).clamp(1, self.rx.len().max(1))
    }

    fn ctrl_index(&self) -> Option<u16> {
        (self.features & f::CTRL_VQ != 0).then_some(2 * self.rx.len() as u16)
    }

    fn drop_frame(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// Locks the receive queue thread `k`'s frames go to now; with its pair number.
    fn rx_for(&self, k: usize) -> Option<(usize, MutexGuard<'_, RxRing>)> {
        loop {
            let a = self.active();
            let j = k % a;
            let g = self.rx.get(j)?.lock().ok()?;
            // VQ_PAIRS_SET changes `active` and then takes every lock: a thread that locked
            // an old target after that sees the new value here.
            if self.active() == a {
                return Some((j, g));
            }
        }
    }
}

struct RxRing {
    q: Option<Queue>,
    /// Notifications are on: the device waits for buffers.
    armed: bool,
}

/// Device errors a guest or the host network can cause, logged rate-limited.
fn log(msg: impl FnOnce() -> String) {
    static LOG: ppc::ratelog::RateLog = ppc::ratelog::RateLog::new("virtio-net messages");
    LOG.line(|| format!("virtio-net: {}", msg()));
}

/// One thread: backend `k`'s spent receive budgets, its pair's transmit queue, and (thread 0)
/// the control queue.
struct Io {
    k: usize,
    run: Arc<Run>,
    backend: Option<Arc<dyn Backend>>,
    vnet: bool,
    tx: Option<(u16, Queue)>,
    ctrl: Option<(u16, Queue)>,
    /// The frame being sent (reused).
    tx_buf: Vec<u8>,
    /// The transmit or control chain being served (reused).
    descs: Vec<Descriptor>,
}

/// One backend's receive side.
struct RxPath {
    backend: Option<Arc<dyn Backend>>,
    vnet: bool,
    mrg: bool,
    scratch: RxScratch,
}

/// Receive state, allocated once.
struct RxScratch {
    /// The frame being delivered, with its header.
    buf: Vec<u8>,
    /// Length in `buf` of a frame taken from the backend and not yet delivered.
    pending: Option<usize>,
    /// A frame taken from the backend while merging that did not continue the stream
    /// (`held` bytes): the next to deliver.
    next: Vec<u8>,
    held: Option<usize>,
    /// The writable descriptors of the chains a frame goes into.
    descs: Vec<Descriptor>,
    /// Those chains: head and their range of `descs`.
    chains: Vec<(u16, usize, usize)>,
}

enum Delivery {
    Done,
    /// Without mergeable buffers, the next chain cannot hold the frame: it is dropped.
    TooBig,
    /// The ring ran out; the chains popped were put back. The ring's next index then.
    Empty(u16),
}

impl Io {
    /// Serves the kicked work; the bits to serve again (a budget ran out).
    fn serve(&mut self, bits: u64) -> u64 {
        let mut again = 0;
        if bits & K_RX != 0 {
            // Rings this thread again itself if the budget runs out.
            self.run.receive(self.k, true);
        }
        if bits & K_TX != 0 && self.transmit() {
            again |= K_TX;
        }
        if bits & K_CTRL != 0 && self.control() {
            again |= K_CTRL;
        }
        again
    }

    /// Sends the transmit queue's frames; true if its budget ran out with more waiting.
    fn transmit(&mut self) -> bool {
        let Some((index, q)) = self.tx.as_mut() else {
            return false;
        };
        let run = &*self.run;
        let mem = &*run.mem;
        let backend = self.backend.as_deref();
        let (vnet, buf) = (self.vnet, &mut self.tx_buf);
        serve_chains(q, *index, run, &mut self.descs, |descs| {
            if !send(descs, buf, backend, vnet, mem) {
                run.drop_frame();
            }
            0
        })
    }

    /// Serves the control queue; true if its budget ran out with more waiting.
    fn control(&mut self) -> bool {
        let Some((index, q)) = self.ctrl.as_mut() else {
            return false;
        };
        let run = &*self.run;
        serve_chains(q, *index, run, &mut self.descs, |descs| command(descs, run))
    }
}

impl RxPath {
    /// Moves frames from the backend to the guest until it has none or the budget runs out
    /// (then true) or the guest has no buffers (the frame waits for the doorbell).
    fn receive(&mut self, k: usize, run: &Run) -> bool {
        let Some(backend) = &self.backend else {
            return false;
        };
        let mem = &*run.mem;
        let m = mem.mem();
        // Without a vnet header the backend's frame goes after a header we make.
        let off = if self.vnet { 0 } else { HDR };
        let mut delivered = 0;
        let mut retries = 0;
        // Receive queues (pair numbers, < MAX_PAIRS) whose driver wants an interrupt.
        let mut notify = 0u64;
        let more = loop {
            let len = match self.scratch.pending {
                Some(len) => len,
                None => {
                    if delivered >= RX_BUDGET {
                        break true;
                    }
                    let got = match self.scratch.held.take() {
                        Some(n) => {
                            let sc = &mut self.scratch;
                            sc.buf[off..off + n].copy_from_slice(&sc.next[..n]);
                            Ok(Some(n))
                        }
                        None => backend.recv(&mut self.scratch.buf[off..]),
                    };
                    match got {
                        Ok(Some(n)) if off + n >= HDR => {
                            let len = if self.vnet {
                                n
                            } else {
                                self.scratch.own_header(backend.as_ref(), HDR + n, run)
                            };
                            self.scratch.pending = Some(len);
                            len
                        }
                        Ok(Some(_)) => {
                            run.drop_frame();
                            continue;
                        }
                        Ok(None) => break false,
                        Err(e) => {
                            log(|| format!("receiving from the backend failed: {e}"));
                            break false;
                        }
                    }
                }
            };
            let Some((j, mut ring)) = run.rx_for(k) else {
                break false;
            };
            let RxRing { q, armed } = &mut *ring;
            // A receive queue the driver did not enable: the frame waits (the backend drops
            // what comes meanwhile, as a full NIC).
            let Some(q) = q.as_mut() else {
                break false;
            };
            match self.scratch.deliver(q, len, self.mrg, mem) {
                Delivery::Done => {
                    self.scratch.pending = None;
                    delivered += 1;
                    if *armed {
                        let _ = q.disable_notification(m);
                        *armed = false;
                    }
                    if q.needs_notification(m).unwrap_or(true) {
                        notify |= 1 << j;
                    }
                }
                Delivery::TooBig => {
                    self.scratch.pending = None;
                    run.drop_frame();
                }
                Delivery::Empty(seen) => {
                    *armed = true;
                    // Two looks at most: a ring whose index claims buffers no chain can be
                    // popped from (corrupt) must not make the thread spin.
                    if arm(q, m, seen) && retries < 2 {
                        retries += 1;
                        continue;
                    }
                    break false;
                }
            }
        };
        for j in 0..run.rx.len() {
            if notify & (1 << j) != 0 {
                run.irq.signal_used(2 * j as u16);
            }
        }
        more
    }
}

/// Serves queue `q` one chain at a time (gathered into `descs`) with `handle`, which returns
/// the used length, like the generic worker; interrupts the driver if the ring's rules ask.
/// True if a budget's worth was served and more may wait.
fn serve_chains(
    q: &mut Queue,
    index: u16,
    run: &Run,
    descs: &mut Vec<Descriptor>,
    mut handle: impl FnMut(&[Descriptor]) -> u32,
) -> bool {
    let m = run.mem.mem();
    let mut notify = false;
    let mut left = TX_BUDGET;
    // Consecutive rounds that popped nothing.
    let mut empty = 0;
    let more = 'rounds: loop {
        if q.disable_notification(m).is_err() {
            break false;
        }
        let mut served = 0u32;
        while let Some(chain) = q.pop_descriptor_chain(m) {
            served += 1;
            let head = chain.head_index();
            descs.clear();
            descs.extend(chain.take(MAX_CHAIN));
            let len = handle(descs);
            if q.add_used(m, head, len).is_ok() {
                notify |= q.needs_notification(m).unwrap_or(true);
            }
            left -= 1;
            if left == 0 {
                break 'rounds true;
            }
        }
        // Re-enable and look again so a chain posted meanwhile is not missed; a ring claiming
        // chains none can be popped from waits for the next doorbell after two empty rounds.
        empty = if served == 0 { empty + 1 } else { 0 };
        match q.enable_notification(m) {
            Ok(true) if empty < 2 => continue,
            _ => break false,
        }
    };
    if notify {
        run.irq.signal_used(index);
    }
    more
}

/// Turns the driver's notifications on for a receive queue that ran out at index `seen`
/// (where popping found nothing); true if buffers were posted since, so look again.
fn arm(q: &mut Queue, m: &vm_memory::GuestMemoryMmap<()>, seen: u16) -> bool {
    if q.event_idx_enabled() {
        // avail_event = the index the ring had, not where we stopped (chains were put back
        // behind it): the driver's next post must ring.
        let at = q
            .used_ring()
            .checked_add(4 + 8 * u64::from(q.size()))
            .map(GuestAddress);
        let Some(at) = at else {
            return false;
        };
        if m.store(seen.to_le(), at, Ordering::Release).is_err() {
            return false;
        }
    } else if q.enable_notification(m).is_err() {
        return false;
    }
    // The driver writes its index then reads ours; we write ours then read its.
    fence(Ordering::SeqCst);
    q.avail_idx(m, Ordering::Acquire).is_ok_and(|i| i.0 != seen)
}

/// Whether offloads `o` let TCP segments be merged for the guest (GSO needs the partial checksum).
fn coalescing(o: u64) -> bool {
    o & f::GUEST_TSO4 != 0 && o & f::GUEST_CSUM != 0
}

impl RxScratch {
    /// Writes the header of a frame from a backend without one (`len` bytes in `buf` with the
    /// header's room), after merging the backend's next segments into it when the driver took
    /// that offload; the frame's length then.
    fn own_header(&mut self, backend: &dyn Backend, mut len: usize, run: &Run) -> usize {
        let gso = if run.coalesce.load(Ordering::Relaxed) {
            self.coalesce(backend, &mut len)
        } else {
            None
        };
        let h = &mut self.buf[..HDR];
        h.fill(0);
        if let Some((hdr_len, mss)) = gso {
            h[0] = VNET_F_NEEDS_CSUM;
            h[1] = VNET_GSO_TCPV4;
            h[2..4].copy_from_slice(&hdr_len.to_le_bytes());
            h[4..6].copy_from_slice(&mss.to_le_bytes());
            // The TCP checksum field: after Ethernet and IPv4 headers.
            h[6..8].copy_from_slice(&34u16.to_le_bytes());
            h[8..10].copy_from_slice(&16u16.to_le_bytes());
        } else if run.data_valid.load(Ordering::Relaxed) {
            h[0] = VNET_F_DATA_VALID;
        }
        len
    }

    /// Merges the backend's next frames into the one in `buf` (header first, `len` bytes in
    /// all) while they continue its TCP stream; the first that does not is held for the next
    /// delivery. The GSO header fields (header length, segment size) if frames were merged.
    fn coalesce(&mut self, backend: &dyn Backend, len: &mut usize) -> Option<(u16, u16)> {
        let mut c = net::Coalesced::start(&self.buf[HDR..*len]);
        let cap = (HDR + net::MAX_COALESCED).min(self.buf.len());
        while c.open() {
            let n = match backend.recv(&mut self.next) {
                Ok(Some(n)) => n,
                _ => break,
            };
            match c.merge(&mut self.buf[HDR..cap], *len - HDR, &self.next[..n]) {
                Some(l) => *len = HDR + l,
                None => {
                    self.held = Some(n);
                    break;
                }
            }
        }
        c.finish(&mut self.buf[HDR..*len])
    }

    /// Writes the pending frame (`len` bytes of `buf`, header first) into the ring's buffers.
    fn deliver(&mut self, q: &mut Queue, len: usize, mrg: bool, mem: &GuestRam) -> Delivery {
        let m = mem.mem();
        self.descs.clear();
        self.chains.clear();
        let need = len as u64;
        let mut cap = 0u64;
        // Chains taken off the ring that would go back if it runs out.
        let mut popped = 0usize;
        while cap < need {
            let Some(chain) = q.pop_descriptor_chain(m) else {
                let seen = q.next_avail();
                for _ in 0..popped {
                    q.go_to_previous_position();
                }
                return Delivery::Empty(seen);
            };
            popped += 1;
            let head = chain.head_index();
            let start = self.descs.len();
            let mut got = 0u64;
            for d in chain.take(MAX_CHAIN) {
                if cap + got >= need {
                    break;
                }
                // Device-readable parts, empty ones and ones outside RAM hold nothing.
                if !d.is_write_only()
                    || d.len() == 0
                    || mem.ptr(d.addr().0, u64::from(d.len())).is_none()
                {
                    continue;
                }
                self.descs.push(d);
                got += u64::from(d.len());
            }
            if head >= q.size() {
                // Not a chain the used ring can name: consumed, nothing written.
                self.descs.truncate(start);
                continue;
            }
            if !mrg {
                if got < need {
                    // QEMU's rule: the chain goes back, the frame is dropped.
                    q.go_to_previous_position();
                    return Delivery::TooBig;
                }
            } else if got == 0 && self.chains.is_empty() {
                // A chain that holds nothing would be a frame's first buffer without even the
                // header: it is returned empty on its own, ahead of the frame (never put back).
                let _ = q.add_used(m, head, 0);
                popped = 0;
                continue;
            }
            self.chains.push((head, start, self.descs.len()));
            cap += got;
        }
        let n = self.chains.len() as u16;
        self.buf[10..12].copy_from_slice(&n.to_le_bytes());
        let mut off = 0usize;
        for &(head, s, e) in &self.chains {
            let mut written = 0u32;
            for d in &self.descs[s..e] {
                let k = (d.len() as usize).min(len - off);
                if k == 0 || mem.write_slice(&self.buf[off..off + k], d.addr()).is_err() {
                    break;
                }
                off += k;
                written += k as u32;
            }
            let _ = q.add_used(m, head, written);
        }
        Delivery::Done
    }
}

/// Gathers a transmit chain (header and frame) and hands it to the backend; false if dropped.
fn send(
    descs: &[Descriptor],
    buf: &mut [u8],
    backend: Option<&dyn Backend>,
    vnet: bool,
    mem: &GuestRam,
) -> bool {
    let m = mem.mem();
    let mut len = 0usize;
    for d in descs {
        // A transmit chain is all device-readable.
        if d.is_write_only() {
            return false;
        }
        let n = d.len() as usize;
        if n > buf.len() - len {
            return false;
        }
        if m.read_slice(&mut buf[len..len + n], d.addr()).is_err() {
            return false;
        }
        len += n;
    }
    if len < HDR {
        return false;
    }
    let Some(b) = backend else {
        return false;
    };
    // A tap takes the header as is (it does the offloads); other backends want bare frames.
    let frame = if vnet { &buf[..len] } else { &buf[HDR..len] };
    match b.send(&[IoSlice::new(frame)]) {
        Ok(()) => true,
        Err(e) => {
            log(|| format!("sending to the backend failed: {e}"));
            false
        }
    }
}

/// Serves one control command; the used length (1 with the ack written, 0 without a place
/// for it).
fn command(descs: &[Descriptor], run: &Run) -> u32 {
    use ctrl::*;
    let mem = &*run.mem;
    let m = mem.mem();
    // class, command and the start of the data (enough for every command served).
    let mut data = [0u8; 64];
    let mut n = 0usize;
    let mut total = 0u64;
    let mut ack_at = None;
    let mut bad = false;
    for d in descs {
        if d.is_write_only() {
            if ack_at.is_none() && d.len() >= 1 {
                ack_at = Some(d.addr());
            }
            continue;
        }
        // Readable parts come before the writable ack.
        bad |= ack_at.is_some();
        let take = (d.len() as usize).min(data.len() - n);
        if take > 0 && m.read_slice(&mut data[n..n + take], d.addr()).is_err() {
            bad = true;
        }
        n += take;
        total += u64::from(d.len());
    }
    let Some(at) = ack_at else {
        return 0;
    };
    let ack = if bad || total < 2 {
        ERR
    } else {
        execute(data[0], data[1], &data[2..n], total - 2, run)
    };
    if mem.write_slice(&[ack], at).is_err() {
        return 0;
    }
    1
}

/// Runs command `cmd` of `class` whose data (`len` bytes) starts with `data`.
fn execute(class: u8, cmd: u8, data: &[u8], len: u64, run: &Run) -> u8 {
    use ctrl::*;
    let has = |bit: u64| run.features & bit != 0;
    match (class, cmd) {
        // Every frame is delivered (no filtering): promiscuous and all-multicast are what the
        // device does anyway, and the guest's stack drops frames not for it.
        (CLASS_RX, RX_PROMISC | RX_ALLMULTI) if has(f::CTRL_RX) && len == 1 => OK,
        (CLASS_MAC, MAC_TABLE_SET) if has(f::CTRL_RX) && len >= 8 => OK,
        (CLASS_MAC, MAC_ADDR_SET) if has(f::CTRL_MAC_ADDR) && len == 6 => {
            let mut mac = [0u8; 6];
            mac.copy_from_slice(&data[..6]);
            run.mac.store(mac_bits(mac), Ordering::SeqCst);
            OK
        }
        (CLASS_MQ, MQ_VQ_PAIRS_SET) if has(f::MQ) && len == 2 => {
            let p = u16::from_le_bytes([data[0], data[1]]);
            if p == 0 || p as usize > run.rx.len() {
                return ERR;
            }
            run.active.store(p, Ordering::SeqCst);
            // Once every queue lock has been taken, no thread delivers to a pair beyond `p`
            // (see rx_for): then the ack may go out.
            for r in &run.rx {
                drop(r.lock());
            }
            // Frames waiting for a pair's buffers may now go to another pair.
            for k in &run.kicks {
                k.ring(K_RX);
            }
            OK
        }
        (CLASS_GUEST_OFFLOADS, GUEST_OFFLOADS_SET) if has(f::CTRL_GUEST_OFFLOADS) && len == 8 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(&data[..8]);
            let o = u64::from_le_bytes(b);
            // Only offloads the driver negotiated may be switched on.
            if o & !(run.features & f::GUEST_OFFLOADS) != 0 {
                return ERR;
            }
            for be in &run.backends {
                be.set_offload(offload(o));
            }
            run.data_valid
                .store(o & f::GUEST_CSUM != 0, Ordering::Relaxed);
            run.coalesce.store(coalescing(o), Ordering::Relaxed);
            OK
        }
        _ => ERR,
    }
}

#[cfg(test)]
#[path = "net_tests.rs"]
mod tests;
