//! `virtio_net`: virtio-net (`devices::virtio::net::Net`) behind the virtio-pci transport, driven
//! by a driver of arbitrary behaviour and a network of arbitrary behaviour, on fresh 256 KiB of
//! guest RAM. Fuzz bytes choose the device (1–3 backends, with or without a virtio-net header,
//! its options: mergeable buffers, multiqueue, control queue, offloads, MTU, status), the
//! driver's features (any subset of the offered ones, or more), queue sizes and ring addresses
//! (the usual layout, misaligned, shared, wild), receive chains (any number of descriptors of
//! any size, direct or indirect, some device-readable, wild), transmit chains (a header with
//! garbage flags, GSO and checksum fields, then a frame of any size split anyhow, some parts
//! device-writable, empty or wild), control commands (RX mode, MAC table and address, queue
//! pairs, guest offloads; right and wrong lengths, classes, layouts), raw descriptors, avail-index
//! moves, doorbells, frames arriving at any backend (any length, beyond the device's buffer too),
//! ISR and configuration reads, driver stores, status writes and resets.
//!
//! The backends are `vlan::Wire`, the in-memory `net::Backend` the `vlan` target uses. The device
//! serves on its own I/O threads (one per backend), which this harness cannot ask whether they
//! are done; after each step it waits until every one sleeps (`/proc/self/task/TID/stat` says
//! `S`, twice in a row; a thread woken by the step shows `R` as soon as the wake-up call
//! returns), learning each thread's id from its first `recv`.
//!
//! Invariants besides "no panic" (on the I/O threads too, which must stay alive): the device goes
//! idle after every step (bounded work: a busy thread after 5 s fails) and calls its backend a
//! bounded number of times; it starts exactly when the enabled rings are aligned and inside RAM;
//! a step writes guest memory only in the used rings of the queues it serves, the writable
//! buffers of pending receive chains and the ack byte of pending control commands (when nothing
//! it writes overlaps what it reads); every used element names a pending chain and its length
//! never exceeds the chain's writable bytes; the transmit and control queues follow a model:
//! each chain the doorbell made pending is used once, in order, with length 0 (transmit) or 1
//! with the ack byte the command deserves (control, checked against the rules of `net.rs`), and
//! each transmit chain's frame reaches its backend byte for byte (header dropped unless the
//! backend takes it) or is counted dropped (a device-writable part, more than the device's
//! buffer, outside RAM, shorter than the header); received frames fill their chains in order
//! (every chain full but the last), with the header's `num_buffers` counting them (1 without
//! mergeable buffers) and a zero header without a vnet backend, and are the frames the backends
//! handed out, in each backend's order, to the receive queue of a pair that backend may feed;
//! a frame the backend handed out and the device never delivered was counted dropped, except
//! the one each thread may hold while the driver has no buffers; the configuration reads the MAC
//! the control queue set, and the INTx line falls when ISR is read. Injected frames carry a
//! serial number in their last 4 bytes (past a vnet header), so the frames of two backends
//! sharing a queue can be told apart. Steps where the driver made buffers overlap rings,
//! descriptors or each other (or used one receive chain twice), or where frames too short for a
//! serial number are alike in two backends, make the harness stop following the device until a
//! reset (then only the first three invariants hold).
//!
//! Input: byte 0 (bits 0-1: backends, bit 2: vnet header, bits 3-6: mrg_rxbuf, mq, ctrl_vq,
//! status off, bit 7: an MTU), byte 1 (offload toggles off, link down), then operations, each a
//! selector byte and its arguments (see `Harness::run`).

use crate::input::Input;
use crate::vlan::{frame, frame_len, Wire, WireLog};
use devices::msix::MsiSink;
use devices::pci::PciDevice;
use devices::ram::GuestRam;
use devices::virtio::net::{ctrl, f, Net, NetOptions};
use devices::virtio::pci::{VirtioPci, BAR};
use devices::virtio::{feature, status, Queue, VirtioDevice, VirtioInterrupt};
use devices::Interrupt;
use net::Backend;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Guest RAM: small, so snapshots are cheap; a 64 KiB frame still fits twice.
const RAM: u64 = 256 << 10;
const MAX_OPS: usize = 48;
const MAX_BACKENDS: usize = 3;
const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];

/// The usual layout: queue q's rings at `q * QSTRIDE` + these (7 queues at most), indirect
/// tables, then buffers.
const DESC: u64 = 0x0000;
const AVAIL: u64 = 0x1000;
const USED: u64 = 0x2000;
const QSTRIDE: u64 = 0x3000;
const INDIRECT: u64 = 0x15000;
const BUF: u64 = 0x18000;

/// BAR 4 layout and common configuration registers.
const STATUS: u64 = 0x14;
const ISR: u64 = 0x1000;
const DEVCFG: u64 = 0x2000;
const NOTIFY: u64 = 0x3000;
const MSIX_BAR: usize = 1;
const CAP_MSIX: u32 = 0x11;

/// Descriptor flags.
const NEXT: u16 = 1;
const WRITE: u16 = 2;
const F_INDIRECT: u16 = 4;

/// The device's header, frame and buffer sizes (`net.rs`).
const HDR: usize = 12;
const BUF_LEN: usize = HDR + 65_536 + 64;
const CHAIN_MAX: usize = devices::virtio::worker::MAX_CHAIN;

/// How long a step may keep an I/O thread busy.
const IDLE_LIMIT: Duration = Duration::from_secs(5);

// ---- the device, shared with the harness -------------------------------------------------------

/// The transport owns its device; this forwards to a `Net` the harness can still reach (for
/// its drop counter).
struct Shared {
    net: Arc<Mutex<Net>>,
    sizes: Vec<u16>,
}

impl Shared {
    fn net(&self) -> std::sync::MutexGuard<'_, Net> {
        self.net.lock().expect("net")
    }
}

impl VirtioDevice for Shared {
    fn device_type(&self) -> u16 {
        self.net().device_type()
    }
    fn pci_class(&self) -> u32 {
        self.net().pci_class()
    }
    fn queue_max_sizes(&self) -> &[u16] {
        &self.sizes
    }
    fn features(&self) -> u64 {
        self.net().features()
    }
    fn read_config(&self, offset: u64, data: &mut [u8]) {
        self.net().read_config(offset, data)
    }
    fn write_config(&mut self, offset: u64, data: &[u8]) {
        self.net().write_config(offset, data)
    }
    fn activate(
        &mut self,
        features: u64,
        queues: Vec<(u16, Queue)>,
        mem: Arc<GuestRam>,
        irq: Arc<VirtioInterrupt>,
    ) -> Result<(), String> {
        self.net().activate(features, queues, mem, irq)
    }
    fn notify(&self, q: u16) {
        self.net().notify(q)
    }
    fn reset(&mut self) {
        self.net().reset()
    }
    fn shutdown(&mut self) {
        self.net().shutdown()
    }
}

#[derive(Default)]
struct Line(AtomicBool);

impl Interrupt for Line {
    fn pulse(&self) {}
    fn set_level(&self, level: bool) {
        self.0.store(level, Ordering::SeqCst);
    }
}

struct NoMsi;

impl MsiSink for NoMsi {
    fn send(&self, _addr: u64, _data: u32) {}
}

// ---- the I/O threads ---------------------------------------------------------------------------

/// The scheduler state of thread `tid` of this process (`R`, `S`, ...), None if it is gone.
fn thread_state(tid: i32) -> Option<u8> {
    let s = std::fs::read(format!("/proc/self/task/{tid}/stat")).ok()?;
    let close = s.iter().rposition(|&b| b == b')')?;
    s.get(close + 2).copied()
}

// ---- guest memory as the device sees it --------------------------------------------------------

#[derive(Clone, Copy, Debug)]
struct Desc {
    addr: u64,
    len: u32,
    flags: u16,
    next: u16,
}

impl Desc {
    fn write(&self) -> bool {
        self.flags & WRITE != 0
    }
    /// Inside RAM as a whole.
    fn in_ram(&self) -> bool {
        self.addr
            .checked_add(self.len as u64)
            .is_some_and(|e| e <= RAM)
    }
}

fn rd<const N: usize>(mem: &[u8], at: u64) -> Option<[u8; N]> {
    let end = at.checked_add(N as u64)?;
    (end <= mem.len() as u64).then(|| {
        let mut b = [0u8; N];
        b.copy_from_slice(&mem[at as usize..end as usize]);
        b
    })
}

fn rd16(mem: &[u8], at: u64) -> u16 {
    rd::<2>(mem, at).map_or(0, u16::from_le_bytes)
}

fn fits(at: u64, len: u64) -> bool {
    at.checked_add(len).is_some_and(|e| e <= RAM)
}

/// A queue as the device runs it.
#[derive(Clone, Copy, Debug)]
struct Ring {
    size: u16,
    desc: u64,
    avail: u64,
    used: u64,
}

impl Ring {
    fn used_len(&self) -> u64 {
        6 + 8 * self.size as u64
    }
    fn avail_len(&self) -> u64 {
        6 + 2 * self.size as u64
    }
}

/// One chain as virtio-queue walks it (then `take(MAX_CHAIN)`): the descriptors it yields, and
/// the descriptor slots it read into `meta`.
fn walk(mem: &[u8], r: &Ring, head: u16, meta: &mut Vec<(u64, u64)>) -> Vec<Desc> {
    let (mut table, mut size, mut ttl, mut next) = (r.desc, r.size, r.size, head);
    let mut indirect = false;
    let mut yielded = 0u32;
    let mut out = Vec::new();
    while out.len() < CHAIN_MAX && ttl > 0 && next < size {
        let Some(at) = table.checked_add(16 * next as u64) else {
            break;
        };
        let Some(b) = rd::<16>(mem, at) else {
            break;
        };
        meta.push((at, at + 16));
        let d = Desc {
            addr: u64::from_le_bytes(b[0..8].try_into().expect("8 bytes")),
            len: u32::from_le_bytes(b[8..12].try_into().expect("4 bytes")),
            flags: u16::from_le_bytes([b[12], b[13]]),
            next: u16::from_le_bytes([b[14], b[15]]),
        };
        if d.flags & F_INDIRECT != 0 {
            if indirect || !d.len.is_multiple_of(16) || d.len / 16 > u16::MAX as u32 {
                break;
            }
            table = d.addr;
            size = (d.len / 16) as u16;
            ttl = size;
            next = 0;
            indirect = true;
            continue;
        }
        let Some(y) = yielded.checked_add(d.len) else {
            break;
        };
        yielded = y;
        out.push(d);
        if d.flags & NEXT != 0 {
            next = d.next;
            ttl -= 1;
        } else {
            ttl = 0;
        }
    }
    out
}

/// The writable descriptors a receive chain offers (`RxScratch::deliver`): device-writable,
/// not empty, inside RAM.
fn rx_parts(c: &[Desc]) -> Vec<(u64, u64)> {
    c.iter()
        .filter(|d| d.write() && d.len != 0 && d.in_ram())
        .map(|d| (d.addr, d.len as u64))
        .collect()
}

/// The frame a transmit chain carries as `send` gathers it (header included), None if dropped.
fn tx_bytes(mem: &[u8], c: &[Desc]) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    for d in c {
        if d.write() || d.len as usize > BUF_LEN - buf.len() {
            return None;
        }
        if d.len != 0 {
            if !d.in_ram() {
                return None;
            }
            buf.extend_from_slice(&mem[d.addr as usize..(d.addr + d.len as u64) as usize]);
        }
    }
    (buf.len() >= HDR).then_some(buf)
}

/// What a control chain gets (`command`): the ack's address and value, the used length, and
/// the command's data when it runs.
struct Command {
    ack_at: Option<u64>,
    ack: u8,
    used: u32,
}

/// Sorted, merged intervals.
fn merge(mut v: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    v.retain(|&(a, b)| a < b);
    v.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(v.len());
    for (a, b) in v {
        match out.last_mut() {
            Some(l) if a <= l.1 => l.1 = l.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

fn overlap(a: &[(u64, u64)], b: &[(u64, u64)]) -> bool {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].1 <= b[j].0 {
            i += 1;
        } else if b[j].1 <= a[i].0 {
            j += 1;
        } else {
            return true;
        }
    }
    false
}

fn covers(v: &[(u64, u64)], at: u64) -> bool {
    let i = v.partition_point(|&(a, _)| a <= at);
    i > 0 && at < v[i - 1].1
}

/// Intervals (unmerged) with no two overlapping.
fn disjoint(v: &[(u64, u64)]) -> bool {
    let mut s: Vec<(u64, u64)> = v.iter().copied().filter(|&(a, b)| a < b).collect();
    s.sort_unstable();
    s.windows(2).all(|p| p[0].1 <= p[1].0)
}

// ---- the model ---------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Debug)]
enum Role {
    Rx(usize),
    Tx(usize),
    Ctrl,
}

/// The device while it runs, as the harness follows it.
struct Run {
    features: u64,
    /// Pairs in the negotiated layout, and the ones the driver uses (VQ_PAIRS_SET).
    pairs: usize,
    active: usize,
    ctrl: Option<u16>,
    /// Served queues by transport index.
    rings: Vec<Option<Ring>>,
    /// The used index the device has reached, and (transmit and control queues) the avail index
    /// it has popped up to.
    used: Vec<u16>,
    next_avail: Vec<u16>,
}

impl Run {
    fn role(&self, q: usize) -> Option<Role> {
        if self.ctrl == Some(q as u16) {
            Some(Role::Ctrl)
        } else if q / 2 < self.pairs {
            Some(if q.is_multiple_of(2) {
                Role::Rx(q / 2)
            } else {
                Role::Tx(q / 2)
            })
        } else {
            None
        }
    }

    fn mrg(&self) -> bool {
        self.features & f::MRG_RXBUF != 0
    }
}

/// What a step may do, worked out from guest memory before it.
struct Plan {
    /// Where the step may write (merged).
    allowed: Vec<(u64, u64)>,
    /// Nothing the device writes overlaps what it reads.
    stable: bool,
    /// The used rings are the device's alone: their indexes in memory are its.
    used_ok: bool,
    /// Receive buffers and acks do not overlap one another: what a frame wrote can be read back.
    distinct: bool,
    /// Per queue: the chain of every pending head.
    chains: Vec<HashMap<u16, Vec<Desc>>>,
}

/// Receive offloads as a backend is told them: checksum, TSO4, TSO6, ECN, UFO.
type Offloads = (bool, bool, bool, bool, bool);

fn offloads(features: u64) -> Offloads {
    (
        features & f::GUEST_CSUM != 0,
        features & f::GUEST_TSO4 != 0,
        features & f::GUEST_TSO6 != 0,
        features & f::GUEST_ECN != 0,
        features & f::GUEST_UFO != 0,
    )
}

/// What the step kicked.
#[derive(Clone, Copy, PartialEq)]
enum Kick {
    /// The driver's DRIVER_OK store (with the status it wrote).
    Start(u8),
    /// A doorbell on transport queue q.
    Doorbell(usize),
    /// A frame arrived.
    Arrival,
}

struct Harness {
    mem: Arc<ppc::GuestMemory>,
    dev: VirtioPci,
    net: Arc<Mutex<Net>>,
    wires: Vec<Arc<Wire>>,
    line: Arc<Line>,
    vnet: bool,
    opts: NetOptions,
    /// Pairs offered, transport queues, device features.
    pairs: usize,
    nq: usize,
    features: u64,
    msix_cap: usize,
    /// The MAC the configuration must show.
    mac: [u8; 6],
    run: Option<Run>,
    /// The harness stopped following the device (until a reset).
    lost: bool,
    /// Frames each backend handed out that the model has not placed yet.
    outstanding: Vec<VecDeque<Vec<u8>>>,
    /// Receive drops the model explained, and the device's receive drops, since it started.
    rx_known: u64,
    rx_counted: u64,
    /// The device's drop counter at the last look.
    dropped: u64,
    next_desc: Vec<u16>,
    avail_next: Vec<u16>,
    bump: u64,
    ibump: u64,
    snap: Vec<u8>,
    now: Vec<u8>,
    /// The last serial number put in a frame.
    serial: u32,
}

impl Harness {
    fn new(b0: u8, b1: u8) -> Harness {
        let backends = 1 + (b0 & 3) as usize % MAX_BACKENDS;
        let vnet = b0 & 4 != 0;
        let opts = NetOptions {
            mrg_rxbuf: b0 & 8 == 0,
            mq: b0 & 0x10 == 0,
            ctrl_vq: b0 & 0x20 == 0,
            status: b0 & 0x40 == 0,
            mtu: (b0 & 0x80 != 0).then_some([1500u16, 68, 9000, 65535][(b1 & 3) as usize]),
            csum: b1 & 4 == 0,
            guest_csum: b1 & 8 == 0,
            gso: b1 & 0x10 == 0,
            guest_tso4: b1 & 0x20 == 0,
            guest_tso6: b1 & 0x40 == 0,
            guest_ecn: true,
            guest_ufo: b1 & 0x40 == 0,
            link_up: b1 & 0x80 == 0,
        };
        let wires: Vec<Arc<Wire>> = (0..backends).map(|_| Wire::new(vnet)).collect();
        let bes = wires
            .iter()
            .map(|w| w.clone() as Arc<dyn Backend>)
            .collect();
        let net = Net::new(bes, MAC, opts.clone());
        let sizes = net.queue_max_sizes().to_vec();
        let features = net.features();
        let pairs = if opts.mq && opts.ctrl_vq && backends > 1 {
            backends
        } else {
            1
        };
        assert_eq!(
            sizes.len(),
            2 * pairs + opts.ctrl_vq as usize,
            "queues offered"
        );
        let net = Arc::new(Mutex::new(net));
        let mem = Arc::new(ppc::GuestMemory::new(RAM).expect("guest RAM"));
        let ram = Arc::new(GuestRam::new(mem.clone()).expect("RAM view"));
        let line = Arc::new(Line::default());
        let nq = sizes.len();
        let dev = VirtioPci::new(
            "virtio-net-pci",
            Box::new(Shared {
                net: net.clone(),
                sizes,
            }),
            ram,
            line.clone(),
            Arc::new(NoMsi),
        );
        let mut cap = dev.config_read(0x34, 1) as usize;
        for _ in 0..48 {
            if cap == 0 || dev.config_read(cap, 1) == CAP_MSIX {
                break;
            }
            cap = dev.config_read(cap + 1, 1) as usize;
        }
        Harness {
            mem,
            dev,
            net,
            outstanding: vec![VecDeque::new(); backends],
            wires,
            line,
            vnet,
            opts,
            pairs,
            nq,
            features,
            msix_cap: cap,
            mac: MAC,
            run: None,
            lost: false,
            rx_known: 0,
            rx_counted: 0,
            dropped: 0,
            next_desc: vec![0; nq],
            avail_next: vec![0; nq],
            bump: BUF,
            ibump: INDIRECT,
            snap: vec![0; RAM as usize],
            now: vec![0; RAM as usize],
            serial: 0,
        }
    }

    fn r(&self, off: u64, n: usize) -> u64 {
        let mut b = [0u8; 8];
        self.dev.bar_read(BAR, off, &mut b[..n.min(8)]);
        u64::from_le_bytes(b)
    }

    fn w(&self, off: u64, v: u64, n: usize) {
        self.dev.bar_write(BAR, off, &v.to_le_bytes()[..n]);
    }

    fn dropped_now(&self) -> u64 {
        self.net.lock().expect("net").dropped()
    }

    /// The used rings of served queues: the driver never writes there.
    fn device_owned(&self, at: u64, end: u64) -> bool {
        self.run.as_ref().is_some_and(|run| {
            run.rings
                .iter()
                .flatten()
                .any(|r| at < r.used + r.used_len() && r.used < end)
        })
    }

    /// A driver store (the part inside RAM, off the device's used rings).
    fn put(&self, at: u64, v: &[u8]) {
        if at >= RAM {
            return;
        }
        let v = &v[..v.len().min((RAM - at) as usize)];
        let end = at + v.len() as u64;
        if !self.device_owned(at, end) {
            let _ = self.mem.write(at, v);
            return;
        }
        for (k, &b) in v.iter().enumerate() {
            let a = at + k as u64;
            if !self.device_owned(a, a + 1) {
                let _ = self.mem.write(a, &[b]);
            }
        }
    }

    /// `n` bytes for a buffer (wrapping round the buffer area).
    fn alloc(&mut self, n: u64) -> u64 {
        if self.bump.saturating_add(n) > RAM {
            self.bump = BUF;
        }
        let at = self.bump;
        self.bump = (at + n.min(RAM) + 15) & !15;
        at
    }

    // ---- queues as the driver set them ----

    /// Queue q's registers: (size, enabled, desc, driver, device).
    fn regs(&self, q: usize) -> (u16, bool, u64, u64, u64) {
        let sel = self.r(0x16, 2);
        self.w(0x16, q as u64, 2);
        let v = (
            self.r(0x18, 2) as u16,
            self.r(0x1c, 2) == 1,
            self.r(0x20, 8),
            self.r(0x28, 8),
            self.r(0x30, 8),
        );
        self.w(0x16, sel, 2);
        v
    }

    fn ring_of(&self, q: usize) -> Ring {
        let (size, _, desc, avail, used) = self.regs(q);
        Ring {
            size,
            desc,
            avail,
            used,
        }
    }

    fn driver_features(&self) -> u64 {
        let sel = self.r(0x08, 4);
        self.w(0x08, 0, 4);
        let lo = self.r(0x0c, 4);
        self.w(0x08, 1, 4);
        let hi = self.r(0x0c, 4);
        self.w(0x08, sel, 4);
        lo | hi << 32
    }

    // ---- steps ----

    /// Runs `op`, which may make the device work, waits until it is idle and checks what it did.
    fn step(&mut self, kick: Kick, op: impl FnOnce(&Harness)) {
        let start = matches!(kick, Kick::Start(_));
        if self.run.is_none() && !start {
            op(self);
            return;
        }
        assert!(self.mem.read(0, &mut self.snap));
        let mut plan = match &self.run {
            Some(run) if !self.lost => Some(self.plan(run)),
            _ => None,
        };
        if start {
            for w in &self.wires {
                w.clear_tid();
            }
        }
        op(self);
        if let Kick::Start(asked) = kick {
            if !self.started(asked) {
                return;
            }
            let run = self.run.as_ref().expect("started");
            plan = Some(self.plan(run));
            // Every thread's first recv names it.
            let t0 = Instant::now();
            while self.wires.iter().any(|w| w.tid() == 0) {
                assert!(
                    t0.elapsed() < IDLE_LIMIT,
                    "a virtio-net I/O thread never ran"
                );
                std::thread::yield_now();
            }
        }
        self.wait_idle();
        let logs: Vec<WireLog> = self.wires.iter().map(|w| w.take_log()).collect();
        // Each pass over the receive path looks at the backend once more; passes come from the
        // step's kick, receive budgets running out, and queue-pair commands (each wakes every
        // thread), at most a control ring's worth.
        let commands = self.run.as_ref().map_or(0, |run| {
            run.ctrl
                .filter(|&c| match kick {
                    Kick::Start(_) => true,
                    Kick::Doorbell(d) => d == c as usize,
                    Kick::Arrival => false,
                })
                .and_then(|c| run.rings[c as usize])
                .map_or(0, |r| r.size as usize)
        });
        for (k, l) in logs.iter().enumerate() {
            let bound =
                l.taken.len() + l.sent.len() + l.too_big + 4 + l.taken.len() / 32 + commands;
            assert!(
                l.calls <= bound,
                "backend {k}: {} calls in one step ({} frames taken, {} sent)",
                l.calls,
                l.taken.len(),
                l.sent.len()
            );
        }
        let d = self.dropped_now();
        let delta = d - self.dropped;
        self.dropped = d;
        match plan {
            Some(p) if !self.lost => self.check(&p, kick, logs, delta),
            _ => {}
        }
    }

    /// Waits until every I/O thread sleeps (twice in a row), failing if one died or stays busy.
    fn wait_idle(&self) {
        let t0 = Instant::now();
        let mut calm = 0;
        for n in 0u32.. {
            let mut idle = true;
            for w in &self.wires {
                let tid = w.tid();
                match thread_state(tid) {
                    Some(b'S') => {}
                    Some(b'Z' | b'X') | None => panic!("a virtio-net I/O thread ({tid}) died"),
                    Some(_) => idle = false,
                }
            }
            if idle {
                calm += 1;
                if calm == 2 {
                    return;
                }
            } else {
                calm = 0;
            }
            assert!(
                t0.elapsed() < IDLE_LIMIT,
                "a virtio-net I/O thread is still busy {IDLE_LIMIT:?} after one step"
            );
            // Yield a few times (a step is usually done within microseconds), then leave the
            // CPU to the threads.
            if n < 8 {
                std::thread::yield_now();
            } else {
                std::thread::sleep(Duration::from_micros(20));
            }
        }
    }

    /// After a DRIVER_OK store: whether the device started (then `run` describes it). It must
    /// start exactly when the enabled rings are aligned and inside RAM.
    fn started(&mut self, asked: u8) -> bool {
        let s = self.r(STATUS, 1) as u8;
        if s & status::FEATURES_OK == 0 || s & status::DRIVER_OK == 0 {
            return false;
        }
        let regs: Vec<_> = (0..self.nq).map(|q| self.regs(q)).collect();
        let misaligned = regs
            .iter()
            .any(|r| r.1 && (r.2 % 16 != 0 || r.3 % 2 != 0 || r.4 % 4 != 0));
        let rings: Vec<Option<Ring>> = regs
            .iter()
            .map(|r| {
                r.1.then_some(Ring {
                    size: r.0,
                    desc: r.2,
                    avail: r.3,
                    used: r.4,
                })
            })
            .collect();
        let valid = !misaligned
            && rings.iter().flatten().all(|r| {
                fits(r.desc, 16 * r.size as u64)
                    && fits(r.avail, r.avail_len())
                    && fits(r.used, r.used_len())
            });
        let failed = s & status::NEEDS_RESET != 0;
        assert!(
            valid || failed,
            "the device started on rings outside RAM or misaligned: {regs:x?}"
        );
        assert!(
            !valid || !failed || asked & status::NEEDS_RESET != 0,
            "the device refused aligned rings inside RAM: {regs:x?}"
        );
        if !valid {
            return false;
        }
        let features = self.driver_features() & (self.features | feature::VERSION_1);
        let pairs = if features & f::MQ != 0 { self.pairs } else { 1 };
        let ctrl = (features & f::CTRL_VQ != 0).then_some(2 * pairs as u16);
        let mut run = Run {
            features,
            pairs,
            active: 1,
            ctrl,
            rings: Vec::new(),
            used: vec![0; self.nq],
            next_avail: vec![0; self.nq],
        };
        run.rings = rings
            .iter()
            .enumerate()
            .map(|(q, r)| r.filter(|_| run.role(q).is_some()))
            .collect();
        crate::trace!(
            "started: features {features:#x}, {pairs} pairs, ctrl {ctrl:?}, rings {:x?}",
            run.rings
        );
        self.run = Some(run);
        self.lost = false;
        self.mac = MAC;
        self.restart_accounting();
        true
    }

    /// The device starts: nothing taken from the backends yet (the step's logs, read after
    /// this, hold what the new threads take).
    fn restart_accounting(&mut self) {
        for o in &mut self.outstanding {
            o.clear();
        }
        self.rx_known = 0;
        self.rx_counted = 0;
    }

    /// The device stopped: frames its threads held are gone with them.
    fn stopped(&mut self) {
        self.run = None;
        self.lost = false;
        self.mac = MAC;
        self.restart_accounting();
        self.dropped = self.dropped_now();
        for w in &self.wires {
            let _ = w.take_log();
        }
    }

    /// The avail slots of queue q the device may pop: from the position it reached (transmit and
    /// control) or its used index (receive: chains are used in the order popped) to the avail
    /// index; every slot when the index is more than a ring ahead.
    fn pending(mem: &[u8], run: &Run, q: usize, r: &Ring) -> Vec<u16> {
        if r.avail == 0 {
            return Vec::new();
        }
        let idx = rd16(mem, r.avail + 2);
        let from = match run.role(q) {
            Some(Role::Rx(_)) => run.used[q],
            _ => run.next_avail[q],
        };
        let n = idx.wrapping_sub(from);
        let slots: Vec<u16> = if n <= r.size {
            (0..n).map(|i| from.wrapping_add(i) % r.size).collect()
        } else {
            (0..r.size).collect()
        };
        slots
            .into_iter()
            .map(|s| rd16(mem, r.avail + 4 + 2 * s as u64))
            .collect()
    }

    fn plan(&self, run: &Run) -> Plan {
        let mem = &self.snap;
        let (mut reads, mut writes, mut used) = (Vec::new(), Vec::new(), Vec::new());
        let mut chains = Vec::new();
        for (q, r) in run.rings.iter().enumerate() {
            let mut by_head: HashMap<u16, Vec<Desc>> = HashMap::new();
            if let Some(r) = r {
                used.push((r.used, r.used + r.used_len()));
                reads.push((r.avail, r.avail + r.avail_len()));
                for head in Self::pending(mem, run, q, r) {
                    if by_head.contains_key(&head) {
                        continue;
                    }
                    let c = walk(mem, r, head, &mut reads);
                    match run.role(q) {
                        Some(Role::Rx(_)) => {
                            writes.extend(rx_parts(&c).iter().map(|&(a, n)| (a, a + n)));
                        }
                        Some(Role::Tx(_)) => {
                            reads.extend(
                                c.iter()
                                    .filter(|d| d.in_ram())
                                    .map(|d| (d.addr, d.addr + d.len as u64)),
                            );
                        }
                        _ => {
                            let cmd = Self::command(mem, &c, run);
                            if let Some(a) = cmd.ack_at.filter(|&a| a < RAM) {
                                writes.push((a, a + 1));
                            }
                            reads.extend(
                                c.iter()
                                    .filter(|d| !d.write() && d.in_ram())
                                    .map(|d| (d.addr, d.addr + (d.len as u64).min(64))),
                            );
                        }
                    }
                    by_head.insert(head, c);
                }
            }
            chains.push(by_head);
        }
        let distinct = disjoint(&writes);
        let mw = merge(writes);
        let mu = merge(used.clone());
        let mut all = mw.clone();
        all.extend_from_slice(&mu);
        let allowed = merge(all);
        Plan {
            stable: !overlap(&allowed, &merge(reads)),
            used_ok: !overlap(&mw, &mu) && disjoint(&used),
            distinct,
            allowed,
            chains,
        }
    }

    /// What `command` makes of a control chain.
    fn command(mem: &[u8], c: &[Desc], run: &Run) -> Command {
        let mut data = Vec::new();
        let mut total = 0u64;
        let mut ack_at = None;
        let mut bad = false;
        for d in c {
            if d.write() {
                if ack_at.is_none() && d.len >= 1 {
                    ack_at = Some(d.addr);
                }
                continue;
            }
            bad |= ack_at.is_some();
            let take = (d.len as usize).min(64 - data.len());
            if take > 0 {
                match d.addr.checked_add(take as u64).filter(|&e| e <= RAM) {
                    Some(e) => data.extend_from_slice(&mem[d.addr as usize..e as usize]),
                    None => {
                        bad = true;
                        data.resize(data.len() + take, 0);
                    }
                }
            }
            total += d.len as u64;
        }
        let Some(at) = ack_at else {
            return Command {
                ack_at: None,
                ack: 0,
                used: 0,
            };
        };
        let ack = if bad || total < 2 {
            ctrl::ERR
        } else {
            Self::execute(data[0], data[1], &data[2..], total - 2, run)
        };
        Command {
            ack_at: Some(at),
            ack,
            used: (at < RAM) as u32,
        }
    }

    /// The ack a command deserves (`execute`'s rules).
    fn execute(class: u8, cmd: u8, data: &[u8], len: u64, run: &Run) -> u8 {
        use ctrl::*;
        let has = |bit: u64| run.features & bit != 0;
        let ok = match (class, cmd) {
            (CLASS_RX, RX_PROMISC | RX_ALLMULTI) => has(f::CTRL_RX) && len == 1,
            (CLASS_MAC, MAC_TABLE_SET) => has(f::CTRL_RX) && len >= 8,
            (CLASS_MAC, MAC_ADDR_SET) => has(f::CTRL_MAC_ADDR) && len == 6,
            (CLASS_MQ, MQ_VQ_PAIRS_SET) if has(f::MQ) && len == 2 => {
                let p = u16::from_le_bytes([data[0], data[1]]) as usize;
                p != 0 && p <= run.pairs
            }
            (CLASS_GUEST_OFFLOADS, GUEST_OFFLOADS_SET)
                if has(f::CTRL_GUEST_OFFLOADS) && len == 8 =>
            {
                let o = u64::from_le_bytes(data[..8].try_into().expect("8 bytes"));
                o & !(run.features & f::GUEST_OFFLOADS) == 0
            }
            _ => false,
        };
        if ok {
            OK
        } else {
            ERR
        }
    }

    /// Checks a step against the plan.
    fn check(&mut self, plan: &Plan, kick: Kick, logs: Vec<WireLog>, dropped: u64) {
        assert!(self.mem.read(0, &mut self.now));
        if !plan.stable || !plan.used_ok {
            crate::trace!("the device's view may change in the step: not followed any more");
            self.lost = true;
            return;
        }
        // Writes only where the plan allows (pages, then lines, then bytes that differ).
        for (p, (pa, pb)) in self
            .snap
            .chunks(4096)
            .zip(self.now.chunks(4096))
            .enumerate()
        {
            if pa == pb {
                continue;
            }
            for (i, (a, b)) in pa.chunks(64).zip(pb.chunks(64)).enumerate() {
                if a == b {
                    continue;
                }
                for k in 0..64 {
                    let at = (4096 * p + 64 * i + k) as u64;
                    assert!(
                        a[k] == b[k] || covers(&plan.allowed, at),
                        "the device wrote guest memory at {at:#x} ({:#x} -> {:#x}), outside \
                         the used rings, receive buffers and acks of pending chains",
                        a[k],
                        b[k]
                    );
                }
            }
        }
        // A used index the device has not written yet (the driver stored something else there
        // before DRIVER_OK) does not tell how far the device got.
        let run = self.run.as_ref().expect("running");
        if run
            .rings
            .iter()
            .enumerate()
            .any(|(q, r)| r.is_some_and(|r| rd16(&self.snap, r.used + 2) != run.used[q]))
        {
            crate::trace!("a used index the device did not write: not followed any more");
            self.lost = true;
            return;
        }
        let mut run = self.run.take().expect("running");
        let mut sent: Vec<VecDeque<Vec<u8>>> = logs
            .iter()
            .map(|l| l.sent.iter().cloned().collect())
            .collect();
        // TUNSETOFFLOAD: at activation only over a vnet backend, then as the driver asks.
        let offload_set: Vec<_> = logs.iter().map(|l| l.offload).collect();
        let mut want_offload = match kick {
            Kick::Start(_) if self.vnet => Some(offloads(run.features)),
            _ => None,
        };
        for (k, l) in logs.into_iter().enumerate() {
            self.outstanding[k].extend(l.taken);
        }
        // The pairs in use during the step (queue-pair commands change them).
        let mut actives = vec![run.active];
        let mut tx_drops = 0u64;
        let mut acks: HashMap<u64, u8> = HashMap::new();
        let mut rx_used: Vec<(usize, Vec<(u16, u32)>)> = Vec::new();
        for q in 0..run.rings.len() {
            let Some(r) = run.rings[q] else {
                continue;
            };
            let role = run.role(q).expect("a served queue has a role");
            let new = rd16(&self.now, r.used + 2);
            let n = new.wrapping_sub(run.used[q]);
            assert!(
                n <= r.size,
                "queue {q}: the used index moved by {n} in one step (size {})",
                r.size
            );
            let entries: Vec<(u16, u32)> = (0..n)
                .map(|i| {
                    let slot = run.used[q].wrapping_add(i) % r.size;
                    let e = rd::<8>(&self.now, r.used + 4 + 8 * slot as u64).expect("in RAM");
                    let id = u32::from_le_bytes(e[0..4].try_into().expect("4 bytes"));
                    let len = u32::from_le_bytes(e[4..8].try_into().expect("4 bytes"));
                    assert!(
                        id < r.size as u32,
                        "queue {q}: used element names head {id} (size {})",
                        r.size
                    );
                    assert!(
                        plan.chains[q].contains_key(&(id as u16)),
                        "queue {q}: used element names head {id}, which no pending slot holds"
                    );
                    (id as u16, len)
                })
                .collect();
            run.used[q] = new;
            let served = match (kick, role) {
                (Kick::Start(_), Role::Tx(_) | Role::Ctrl) => true,
                (Kick::Doorbell(d), Role::Tx(_) | Role::Ctrl) => d == q,
                _ => false,
            };
            match role {
                Role::Rx(j) => rx_used.push((j, entries)),
                Role::Tx(p) => {
                    // Every pending chain is popped in order; bogus heads are dropped unused.
                    let mut want = Vec::new();
                    let mut frames = Vec::new();
                    if served {
                        let heads = self.popped(&mut run, q, &r);
                        for h in heads {
                            let c = (h < r.size).then(|| plan.chains[q].get(&h)).flatten();
                            let bytes = c.and_then(|c| tx_bytes(&self.snap, c));
                            match bytes {
                                Some(b) => {
                                    frames.push(if self.vnet { b } else { b[HDR..].to_vec() })
                                }
                                None => tx_drops += 1,
                            }
                            if h < r.size {
                                want.push((h, 0));
                            }
                        }
                    }
                    assert_eq!(entries, want, "queue {q} (tx {p}): used elements");
                    if !want.is_empty() {
                        crate::trace!("tx {p}: used {want:?}, {} frames sent", frames.len());
                    }
                    let got: Vec<Vec<u8>> = sent[p].drain(..).collect();
                    assert_eq!(
                        got.len(),
                        frames.len(),
                        "tx {p}: frames sent to the backend"
                    );
                    for (i, (g, w)) in got.iter().zip(&frames).enumerate() {
                        assert!(
                            g == w,
                            "tx {p}: frame {i} sent ({} bytes) differs from its chain ({} bytes)",
                            g.len(),
                            w.len()
                        );
                    }
                }
                Role::Ctrl => {
                    let mut want = Vec::new();
                    if served {
                        for h in self.popped(&mut run, q, &r) {
                            if h >= r.size {
                                continue;
                            }
                            let c = &plan.chains[q][&h];
                            let cmd = Self::command(&self.snap, c, &run);
                            want.push((h, cmd.used));
                            if cmd.used == 1 {
                                let at = cmd.ack_at.expect("an ack");
                                acks.insert(at, cmd.ack);
                                if cmd.ack == ctrl::OK {
                                    if let Some(o) = self.apply(c, &mut run) {
                                        want_offload = Some(o);
                                    }
                                    actives.push(run.active);
                                }
                            }
                        }
                    }
                    assert_eq!(entries, want, "queue {q} (control): used elements");
                }
            }
        }
        for (k, s) in sent.iter().enumerate() {
            assert!(
                s.is_empty(),
                "backend {k}: frames sent without a transmit chain"
            );
        }
        for (k, o) in offload_set.iter().enumerate() {
            assert_eq!(*o, want_offload, "backend {k}: the offloads set");
        }
        for (&at, &ack) in &acks {
            assert_eq!(self.now[at as usize], ack, "the control ack at {at:#x}");
        }
        // Received frames: readable back when no two used chains share a buffer (nor one chain
        // used twice).
        let mut heads: Vec<(usize, u16)> = rx_used
            .iter()
            .flat_map(|(j, e)| e.iter().map(move |&(h, _)| (*j, h)))
            .collect();
        let n = heads.len();
        heads.sort_unstable();
        heads.dedup();
        if n > 0 && (!plan.distinct || heads.len() != n) {
            crate::trace!("receive buffers overlap: not followed any more");
            self.lost = true;
            self.run = Some(run);
            return;
        }
        for (j, entries) in rx_used {
            if !entries.is_empty() {
                crate::trace!("rx {j}: used {entries:?}");
            }
            if !self.received(plan, &run, j, &entries, &actives) {
                crate::trace!("alike frames from two backends: not followed any more");
                self.lost = true;
                self.run = Some(run);
                return;
            }
        }
        // Accounting: each backend's frames but its last were delivered or dropped.
        for o in &mut self.outstanding {
            while o.len() > 1 {
                o.pop_front();
                self.rx_known += 1;
            }
        }
        self.rx_counted += dropped
            .checked_sub(tx_drops)
            .expect("the device counted fewer drops than the transmit chains it dropped");
        let held: u64 = self.outstanding.iter().map(|o| o.len() as u64).sum();
        assert!(
            self.rx_known <= self.rx_counted && self.rx_counted <= self.rx_known + held,
            "receive drops: the device counted {}, the model knows of {} (and {held} frames \
             may be held or dropped)",
            self.rx_counted,
            self.rx_known
        );
        crate::trace!(
            "checked: {tx_drops} transmit drops, receive drops {} counted / {} known, {held} \
             held, acks {acks:?}",
            self.rx_counted,
            self.rx_known
        );
        self.run = Some(run);
        // The MAC the control queue set shows in the configuration.
        let mut cfg = [0u8; 6];
        self.dev.bar_read(BAR, DEVCFG, &mut cfg);
        assert_eq!(cfg, self.mac, "the configuration's MAC");
    }

    /// The heads a served transmit or control queue pops now (the model moves its position).
    fn popped(&self, run: &mut Run, q: usize, r: &Ring) -> Vec<u16> {
        if r.avail == 0 {
            return Vec::new();
        }
        let idx = rd16(&self.snap, r.avail + 2);
        let n = idx.wrapping_sub(run.next_avail[q]);
        if n > r.size {
            return Vec::new();
        }
        let heads = (0..n)
            .map(|i| {
                let s = run.next_avail[q].wrapping_add(i) % r.size;
                rd16(&self.snap, r.avail + 4 + 2 * s as u64)
            })
            .collect();
        run.next_avail[q] = idx;
        heads
    }

    /// A control command the device accepted changes the model; the receive offloads it set,
    /// if it did.
    fn apply(&mut self, c: &[Desc], run: &mut Run) -> Option<Offloads> {
        let mut data = Vec::new();
        for d in c.iter().filter(|d| !d.write()) {
            let take = (d.len as usize).min(64 - data.len());
            if take > 0 {
                data.extend_from_slice(&self.snap[d.addr as usize..d.addr as usize + take]);
            }
        }
        match (data[0], data[1]) {
            (ctrl::CLASS_MAC, ctrl::MAC_ADDR_SET) => self.mac.copy_from_slice(&data[2..8]),
            (ctrl::CLASS_MQ, ctrl::MQ_VQ_PAIRS_SET) => {
                run.active = u16::from_le_bytes([data[2], data[3]]) as usize;
            }
            (ctrl::CLASS_GUEST_OFFLOADS, ctrl::GUEST_OFFLOADS_SET) => {
                let o = u64::from_le_bytes(data[2..10].try_into().expect("8 bytes"));
                return Some(offloads(o));
            }
            _ => {}
        }
        None
    }

    /// Checks what receive queue j's new used elements hold: whole frames, in order, each the
    /// next frame of a backend that may feed the queue. False if the frames' sources are
    /// ambiguous.
    fn received(
        &mut self,
        plan: &Plan,
        run: &Run,
        j: usize,
        entries: &[(u16, u32)],
        actives: &[usize],
    ) -> bool {
        let q = 2 * j;
        let mrg = run.mrg();
        let parts = |h: u16| rx_parts(&plan.chains[q][&h]);
        let mut i = 0;
        while i < entries.len() {
            let (h, len) = entries[i];
            let cap: u64 = parts(h).iter().map(|p| p.1).sum();
            assert!(
                len as u64 <= cap,
                "rx {j}: used length {len} beyond the chain's {cap} writable bytes"
            );
            if mrg && len == 0 && cap == 0 {
                // A chain that holds nothing, returned on its own.
                i += 1;
                continue;
            }
            // A frame: its chains' bytes in order, every chain full but the last.
            let mut stream = Vec::new();
            let mut chains = 0usize;
            loop {
                let Some(&(h, len)) = entries.get(i) else {
                    panic!("rx {j}: the used elements end inside a frame");
                };
                let ps = parts(h);
                let cap: u64 = ps.iter().map(|p| p.1).sum();
                assert!(
                    len as u64 <= cap,
                    "rx {j}: used length {len} beyond the chain's {cap} writable bytes"
                );
                let mut left = len as u64;
                for (a, n) in ps {
                    let k = n.min(left);
                    stream.extend_from_slice(&self.now[a as usize..(a + k) as usize]);
                    left -= k;
                }
                chains += 1;
                i += 1;
                if !mrg {
                    break;
                }
                if stream.len() >= HDR {
                    let n = u16::from_le_bytes([stream[10], stream[11]]) as usize;
                    assert!(
                        chains <= n,
                        "rx {j}: a frame in more chains than num_buffers"
                    );
                    if chains == n {
                        break;
                    }
                }
                assert_eq!(
                    len as u64, cap,
                    "rx {j}: a chain of a frame left partly empty before the frame's end"
                );
            }
            assert!(
                stream.len() >= HDR,
                "rx {j}: a frame shorter than its header"
            );
            let n = u16::from_le_bytes([stream[10], stream[11]]) as usize;
            assert_eq!(n, chains, "rx {j}: num_buffers");
            if !self.vnet {
                assert!(
                    stream[..10].iter().all(|&b| b == 0),
                    "rx {j}: a header the backend did not give: {:02x?}",
                    &stream[..HDR]
                );
            }
            let body = if self.vnet {
                &stream[..]
            } else {
                &stream[HDR..]
            };
            if !self.match_frame(j, body, mrg, actives) {
                return false;
            }
        }
        true
    }

    /// Finds a received frame among the backends' outstanding frames: the first of a backend
    /// feeding pair j, after frames the device may have dropped.
    /// False if it could come from more than one backend.
    fn match_frame(&mut self, j: usize, body: &[u8], mrg: bool, actives: &[usize]) -> bool {
        let vnet = self.vnet;
        let same = |f: &Vec<u8>| {
            f.len() == body.len()
                && if vnet {
                    f[..10] == body[..10] && f[HDR..] == body[HDR..]
                } else {
                    f[..] == body[..]
                }
        };
        let droppable = |f: &Vec<u8>| !mrg || (vnet && f.len() < HDR);
        let found: Vec<(usize, usize)> = (0..self.outstanding.len())
            .filter(|&k| actives.iter().any(|&a| k % a.max(1) == j))
            .filter_map(|k| {
                let o = &self.outstanding[k];
                let p = o.iter().position(same)?;
                o.iter().take(p).all(droppable).then_some((k, p))
            })
            .collect();
        match found[..] {
            [(k, p)] => {
                self.outstanding[k].drain(..=p);
                self.rx_known += p as u64;
                true
            }
            // Frames too short to carry a serial number may be alike in two backends: which one
            // delivered cannot be told.
            [_, _, ..] => false,
            [] => panic!(
                "rx {j}: a frame of {} bytes that no backend feeding it handed out in this order",
                body.len()
            ),
        }
    }

    // ---- the driver ----

    fn status_write(&mut self, v: u8) {
        if v == 0 {
            self.w(STATUS, 0, 1);
            self.stopped();
            return;
        }
        if self.run.is_some() || v & status::DRIVER_OK == 0 {
            self.w(STATUS, v as u64, 1);
            return;
        }
        self.step(Kick::Start(v), |h| h.w(STATUS, v as u64, 1));
    }

    fn doorbell(&mut self, q: usize) {
        self.step(Kick::Doorbell(q), |h| h.w(NOTIFY + 4 * q as u64, 0, 2));
    }

    /// A whole driver initialisation (fuzz-chosen features, sizes, rings).
    fn init(&mut self, inp: &mut Input) {
        let fl = inp.u8();
        self.status_write(0);
        self.status_write(status::ACKNOWLEDGE);
        self.status_write(status::ACKNOWLEDGE | status::DRIVER);
        self.w(0x00, 0, 4);
        let lo = self.r(0x04, 4);
        self.w(0x00, 1, 4);
        let offered = lo | self.r(0x04, 4) << 32;
        let mut want = feature::VERSION_1 | (offered & inp.u32() as u64);
        if fl & 1 != 0 {
            want |= feature::RING_INDIRECT_DESC;
        }
        if fl & 2 != 0 {
            want |= feature::RING_EVENT_IDX;
        }
        if fl & 4 != 0 {
            want = offered;
        }
        if fl & 8 != 0 {
            want |= offered & (f::MRG_RXBUF | f::CTRL_VQ | f::MQ | f::CTRL_RX | f::CTRL_MAC_ADDR);
        }
        if fl & 16 != 0 {
            want &= !f::MRG_RXBUF;
        }
        if fl & 32 != 0 {
            want |= 1 << (inp.u8() & 63);
        }
        if fl & 64 != 0 {
            want &= !feature::VERSION_1;
        }
        self.w(0x08, 0, 4);
        self.w(0x0c, want & 0xffff_ffff, 4);
        self.w(0x08, 1, 4);
        self.w(0x0c, want >> 32, 4);
        let s = status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK;
        self.status_write(s);
        for q in 0..self.nq {
            let size = inp.pick(&[256u16, 256, 64, 16, 8, 4, 2, 1, 128, 32, 0, 3]);
            let base = q as u64 * QSTRIDE;
            let (desc, avail, used) = match inp.u8() % 8 {
                0..=4 => (DESC + base, AVAIL + base, USED + base),
                5 => (ring_addr(inp), ring_addr(inp), ring_addr(inp)),
                6 => {
                    let k = inp.u8() as u64 % 4;
                    (DESC + base + k * 4, AVAIL + base + k, USED + base + k * 2)
                }
                _ => (DESC, AVAIL, USED),
            };
            self.w(0x16, q as u64, 2);
            self.w(0x18, size as u64, 2);
            self.w(0x20, desc, 8);
            self.w(0x28, avail, 8);
            self.w(0x30, used, 8);
            let n = self.ring_of(q).size as u64;
            for (at, len) in [(desc, 16 * n), (avail, 6 + 2 * n), (used, 6 + 8 * n)] {
                if at < RAM {
                    let _ = self.mem.fill(at, len.min(RAM - at), 0);
                }
            }
            let enable = !inp.u8().is_multiple_of(8);
            self.w(0x1c, enable as u64, 2);
            self.next_desc[q] = 0;
            self.avail_next[q] = 0;
        }
        if !inp.u8().is_multiple_of(8) {
            self.status_write(s | status::DRIVER_OK);
        }
        crate::trace!(
            "init: features {want:#x} -> {:#x}, running {}",
            self.driver_features(),
            self.run.is_some()
        );
    }

    fn put_desc(&self, table: u64, i: u16, d: Desc) {
        let mut b = [0u8; 16];
        b[0..8].copy_from_slice(&d.addr.to_le_bytes());
        b[8..12].copy_from_slice(&d.len.to_le_bytes());
        b[12..14].copy_from_slice(&d.flags.to_le_bytes());
        b[14..16].copy_from_slice(&d.next.to_le_bytes());
        if let Some(a) = table.checked_add(16 * i as u64) {
            self.put(a, &b);
        }
    }

    /// Puts a chain in queue q (direct, or in an indirect table), its head in the avail ring;
    /// publishes the index and rings as `flags` say.
    fn post(&mut self, q: usize, ds: &[Desc], flags: u8, inp: &mut Input) {
        let r = self.ring_of(q);
        let size = r.size.max(1);
        let n = ds.len() as u16;
        let head = self.next_desc[q] % size;
        if flags & 1 != 0 {
            let table = self.ibump;
            self.ibump += 16 * n as u64;
            if self.ibump > BUF {
                self.ibump = INDIRECT;
            }
            for (k, d) in ds.iter().enumerate() {
                let last = k + 1 == ds.len();
                let d = Desc {
                    flags: d.flags | if last { 0 } else { NEXT },
                    next: k as u16 + 1,
                    ..*d
                };
                self.put_desc(table, k as u16, d);
            }
            let len = if flags & 2 != 0 {
                inp.u16() as u32
            } else {
                16 * n as u32
            };
            let ind = Desc {
                addr: table,
                len,
                flags: F_INDIRECT,
                next: 0,
            };
            self.put_desc(r.desc, head, ind);
            self.next_desc[q] = (head + 1) % size;
        } else {
            for (k, d) in ds.iter().enumerate() {
                let i = (head + k as u16) % size;
                let last = k + 1 == ds.len();
                let d = Desc {
                    flags: d.flags | if last { 0 } else { NEXT },
                    next: (i + 1) % size,
                    ..*d
                };
                self.put_desc(r.desc, i, d);
            }
            self.next_desc[q] = (head + n) % size;
        }
        let slot = self.avail_next[q] % size;
        self.put(
            r.avail.wrapping_add(4 + 2 * slot as u64),
            &head.to_le_bytes(),
        );
        self.avail_next[q] = self.avail_next[q].wrapping_add(1);
        if flags & 4 == 0 {
            self.put(r.avail.wrapping_add(2), &self.avail_next[q].to_le_bytes());
        }
        if flags & 8 == 0 {
            self.doorbell(q);
        }
    }

    /// Pairs the driver can address now.
    fn driver_pairs(&self) -> usize {
        self.run.as_ref().map_or(self.pairs, |r| r.pairs)
    }

    /// Receive buffers: 1–4 chains of 1–4 writable descriptors (some readable, empty or wild).
    fn rx(&mut self, inp: &mut Input) {
        let q = 2 * (inp.u8() as usize % self.driver_pairs());
        for _ in 0..inp.u8() % 4 + 1 {
            let flags = inp.u8();
            let mut ds = Vec::new();
            for _ in 0..inp.u8() % 4 + 1 {
                let len = match inp.u8() % 8 {
                    0..=2 => inp.pick(&[1526u32, 2048, 4096, 65562, 1514, 12, 256, 65550]),
                    3 => inp.pick(&[0u32, 1, 10, 11, 13, 64, 100, 60]),
                    4 => 4096 * (inp.u8() as u32 % 17),
                    _ => inp.u16() as u32,
                };
                let sel = inp.u8();
                let addr = if sel < 0xe0 {
                    self.alloc(len as u64)
                } else {
                    buf_addr(inp)
                };
                ds.push(Desc {
                    addr,
                    len,
                    flags: if sel % 16 == 15 { 0 } else { WRITE },
                    next: 0,
                });
            }
            self.post(q, &ds, flags, inp);
        }
    }

    /// A frame to send: a header with garbage fields, a frame of any size, split anyhow.
    fn tx(&mut self, inp: &mut Input) {
        let q = 2 * (inp.u8() as usize % self.driver_pairs()) + 1;
        let flags = inp.u8();
        let mut hdr = [0u8; HDR];
        if flags & 0x10 != 0 {
            hdr.iter_mut().for_each(|b| *b = inp.u8());
        } else {
            hdr[0] = inp.pick(&[0, 1, 2, 4, 0xff]);
            hdr[1] = inp.pick(&[0, 1, 3, 4, 5, 0x80, 0x81, 0xff]);
        }
        let len = frame_len(inp);
        let mut bytes = hdr.to_vec();
        bytes.extend(frame(inp, len));
        let total = bytes.len() as u64;
        let at = self.alloc(total);
        self.put(at, &bytes);
        // Split points.
        let mut cuts = vec![0u64];
        match inp.u8() % 4 {
            0 => {}
            1 => cuts.push(HDR as u64),
            2 => {
                cuts.push(HDR as u64);
                for _ in 0..inp.u8() % 4 {
                    cuts.push(inp.u16() as u64 % total.max(1));
                }
            }
            _ => cuts.push(inp.u8() as u64 % (HDR as u64 + 2)),
        }
        cuts.push(total);
        cuts.sort_unstable();
        cuts.dedup();
        let mut ds: Vec<Desc> = cuts
            .windows(2)
            .map(|w| Desc {
                addr: at + w[0],
                len: (w[1] - w[0]) as u32,
                flags: 0,
                next: 0,
            })
            .collect();
        if ds.is_empty() {
            ds.push(Desc {
                addr: at,
                len: 0,
                flags: 0,
                next: 0,
            });
        }
        let odd = inp.u8();
        if odd & 0xc0 == 0xc0 {
            // A part the device may not read from, an empty one, or one anywhere.
            let k = odd as usize % (ds.len() + 1);
            let d = match odd % 3 {
                0 => Desc {
                    addr: at,
                    len: 4,
                    flags: WRITE,
                    next: 0,
                },
                1 => Desc {
                    addr: buf_addr(inp),
                    len: 0,
                    flags: 0,
                    next: 0,
                },
                _ => Desc {
                    addr: buf_addr(inp),
                    len: inp.u16() as u32,
                    flags: 0,
                    next: 0,
                },
            };
            ds.insert(k, d);
        }
        self.post(q, &ds, flags, inp);
    }

    /// A control command: class, command and data (right or wrong), in various layouts.
    fn command_op(&mut self, inp: &mut Input) {
        use ctrl::*;
        let q = match &self.run {
            Some(r) => r.ctrl.map_or(2 * r.pairs, |c| c as usize),
            None => 2 * self.pairs,
        }
        .min(self.nq - 1);
        let (class, cmd) = inp.pick(&[
            (CLASS_RX, RX_PROMISC),
            (CLASS_RX, RX_ALLMULTI),
            (CLASS_MAC, MAC_TABLE_SET),
            (CLASS_MAC, MAC_ADDR_SET),
            (CLASS_MQ, MQ_VQ_PAIRS_SET),
            (CLASS_GUEST_OFFLOADS, GUEST_OFFLOADS_SET),
            (2, 0),
            (0xff, 0xff),
        ]);
        let mut data: Vec<u8> = match (class, cmd) {
            (CLASS_RX, _) => vec![inp.u8() & 1],
            (CLASS_MAC, MAC_TABLE_SET) => {
                let mut v = 0u32.to_le_bytes().to_vec();
                v.extend(1u32.to_le_bytes());
                v.extend(MAC);
                v
            }
            (CLASS_MAC, _) => inp.bytes(6).to_vec(),
            (CLASS_MQ, _) => {
                let p = inp.pick(&[1u16, 2, 3, 0, 4, 0xffff, self.pairs as u16]);
                p.to_le_bytes().to_vec()
            }
            (CLASS_GUEST_OFFLOADS, _) => {
                let o = match inp.u8() % 4 {
                    0 => 0,
                    1 => f::GUEST_CSUM,
                    2 => f::GUEST_OFFLOADS,
                    _ => inp.u64(),
                };
                o.to_le_bytes().to_vec()
            }
            _ => {
                let n = inp.u8() as usize % 8;
                inp.bytes(n).to_vec()
            }
        };
        match inp.u8() % 8 {
            0 => {
                data.pop();
            }
            1 => data.push(inp.u8()),
            _ => {}
        }
        let mut body = vec![class, cmd];
        body.extend(&data);
        let at = self.alloc(body.len() as u64 + 1);
        self.put(at, &body);
        let ack = at + body.len() as u64;
        self.put(ack, &[0xee]);
        let d = |addr: u64, len: usize, w: bool| Desc {
            addr,
            len: len as u32,
            flags: if w { WRITE } else { 0 },
            next: 0,
        };
        let n = body.len();
        let ds = match inp.u8() % 8 {
            0..=2 => vec![d(at, 2, false), d(at + 2, n - 2, false), d(ack, 1, true)],
            3 => vec![d(at, n, false), d(ack, 1, true)],
            4 => vec![d(at, 1, false), d(at + 1, n - 1, false), d(ack, 1, true)],
            5 => vec![d(at, n, false)],
            6 => vec![d(ack, 1, true), d(at, n, false), d(ack, 1, true)],
            _ => vec![
                d(at, 2, false),
                d(buf_addr(inp), n - 2, false),
                d(ack, 0, true),
                d(ack, 1, true),
            ],
        };
        let flags = inp.u8() & !2;
        self.post(q, &ds, flags, inp);
    }

    fn run(&mut self, inp: &mut Input) {
        for _ in 0..MAX_OPS {
            if inp.is_empty() {
                break;
            }
            let op = inp.u8();
            crate::trace!(
                "op {op} (running {}, lost {})",
                self.run.is_some(),
                self.lost
            );
            match op % 16 {
                0 | 1 => self.init(inp),
                2 | 3 => self.rx(inp),
                4 | 5 => self.tx(inp),
                6 => self.command_op(inp),
                7 | 8 => {
                    let k = inp.u8() as usize % self.wires.len();
                    let len = frame_len(inp);
                    let mut fr = frame(inp, len);
                    // A serial number in its last bytes (past a vnet header) tells frames apart.
                    if len >= 4 + if self.vnet { HDR } else { 0 } {
                        self.serial += 1;
                        fr[len - 4..].copy_from_slice(&self.serial.to_be_bytes());
                    }
                    crate::trace!("a frame of {len} bytes arrives at backend {k}");
                    let w = self.wires[k].clone();
                    self.step(Kick::Arrival, move |_| w.arrive(fr));
                }
                9 => {
                    // Any descriptor, in a queue's table or an indirect one.
                    let q = inp.u8() as usize % self.nq;
                    let table = if inp.bool() {
                        self.ring_of(q).desc
                    } else {
                        INDIRECT + 16 * (inp.u8() as u64 % 64)
                    };
                    let i = inp.u8() as u16;
                    let addr = buf_addr(inp);
                    let len = match inp.u8() % 6 {
                        0 => 12,
                        1 => 1,
                        2 => 1526,
                        3 => inp.u16() as u32,
                        4 => 0,
                        _ => inp.u32(),
                    };
                    let flags = inp.pick(&[0, NEXT, WRITE, NEXT | WRITE, F_INDIRECT, 0xffff]);
                    let next = inp.u8() as u16;
                    let d = Desc {
                        addr,
                        len,
                        flags,
                        next,
                    };
                    self.put_desc(table, i, d);
                }
                10 => {
                    // The avail index: caught up, a ring ahead, more, or anything.
                    let q = inp.u8() as usize % self.nq;
                    let r = self.ring_of(q);
                    let v = match inp.u8() % 5 {
                        0 | 1 => self.avail_next[q],
                        2 => self.avail_next[q].wrapping_add(r.size),
                        3 => self.avail_next[q].wrapping_add(r.size).wrapping_add(1),
                        _ => inp.u16(),
                    };
                    self.put(r.avail.wrapping_add(2), &v.to_le_bytes());
                }
                11 => {
                    let q = match inp.u8() % 8 {
                        0..=5 => inp.u8() as usize % self.nq,
                        6 => self.nq,
                        _ => inp.u16() as usize % 0x400,
                    };
                    self.doorbell(q);
                }
                12 => {
                    let v = self.r(ISR, 1);
                    assert!(v <= 3, "ISR {v:#x}");
                    assert!(
                        !self.line.0.load(Ordering::SeqCst),
                        "the line stays up after the ISR read"
                    );
                    // The device configuration.
                    let off = inp.u8() as u64 % 16;
                    let n = inp.pick(&[1usize, 2, 4, 6, 8, 12]);
                    let mut b = [0u8; 16];
                    self.dev.bar_read(BAR, DEVCFG + off, &mut b[..n]);
                    let mut c = [0u8; 16];
                    c[..6].copy_from_slice(&self.mac);
                    c[6] = self.opts.link_up as u8;
                    c[8..10].copy_from_slice(&(self.pairs as u16).to_le_bytes());
                    c[10..12].copy_from_slice(&self.opts.mtu.unwrap_or(0).to_le_bytes());
                    for (i, &got) in b.iter().enumerate().take(n) {
                        let at = off as usize + i;
                        // The MAC is known while the model follows the control queue.
                        if at >= 6 || self.run.is_none() || !self.lost {
                            assert_eq!(
                                got,
                                c.get(at).copied().unwrap_or(0),
                                "device configuration byte {at}"
                            );
                        }
                    }
                }
                13 => {
                    // A driver store anywhere (ring fields, used_event, buffers).
                    let q = inp.u8() as usize % self.nq;
                    let r = self.ring_of(q);
                    let at = match inp.u8() % 4 {
                        0 => r.avail.wrapping_add(4 + 2 * r.size as u64),
                        1 => r.avail,
                        _ => buf_addr(inp),
                    };
                    let n = inp.u8() as usize % 33;
                    let b = inp.bytes(n);
                    self.put(at, b);
                }
                14 => {
                    let v = inp.pick(&[
                        0u8,
                        status::ACKNOWLEDGE,
                        status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK,
                        0x0f,
                        0x4f,
                        status::FAILED,
                        0xff,
                        0x07,
                    ]);
                    self.status_write(v);
                }
                _ => {
                    if inp.bool() {
                        // Configuration space: command, MSI-X control, anything.
                        let off = match inp.u8() % 4 {
                            0 => 0x04,
                            1 => self.msix_cap + 2,
                            _ => inp.u16() as usize % 0x1001,
                        };
                        let n = inp.pick(&[1usize, 2, 4, 3]);
                        self.dev.config_write(off, n, inp.u32());
                        let off = inp.u16() as u64 % 0x1000;
                        let n = inp.u8() as usize % 17;
                        let b = inp.bytes(n);
                        self.dev.bar_write(MSIX_BAR, off, b);
                    } else {
                        // Machine reset.
                        self.dev.reset();
                        self.stopped();
                        assert_eq!(self.r(STATUS, 1), 0);
                    }
                }
            }
        }
    }
}

/// A ring address: the usual places, a little off them, the end of RAM, or anything.
fn ring_addr(inp: &mut Input) -> u64 {
    match inp.u8() % 6 {
        0 => DESC + (inp.u8() as u64 % 7) * QSTRIDE,
        1 => AVAIL + (inp.u8() as u64 % 7) * QSTRIDE,
        2 => USED + (inp.u8() as u64 % 7) * QSTRIDE,
        3 => RAM - inp.u16() as u64 % 0x1000,
        4 => (inp.u16() as u64) << 4,
        _ => inp.u64(),
    }
}

/// A buffer address: the buffer area, the rings, the end of RAM, beyond it, anything.
fn buf_addr(inp: &mut Input) -> u64 {
    match inp.u8() % 8 {
        0 | 1 => BUF + inp.u16() as u64 % (RAM - BUF),
        2 => BUF + 2048 * (inp.u8() as u64 % ((RAM - BUF) / 2048)),
        3 => inp.u16() as u64 % BUF,
        4 => RAM - inp.u16() as u64 % 0x1000,
        5 => RAM + inp.u8() as u64,
        6 => u64::MAX - inp.u16() as u64,
        _ => inp.u64(),
    }
}

pub fn virtio_net(data: &[u8]) {
    let mut inp = Input::new(data);
    let (b0, b1) = (inp.u8(), inp.u8());
    let mut h = Harness::new(b0, b1);
    h.run(&mut inp);
    // Teardown stops the device's threads (as a machine reset would) without hanging.
    h.dev.reset();
}
