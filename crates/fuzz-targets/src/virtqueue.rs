//! `virtqueue`: virtio-blk behind the virtio-pci transport, driven by a driver of arbitrary
//! behaviour. Fuzz bytes choose the features and the negotiation order, queue sizes and ring
//! addresses (the usual layout, overlapping, misaligned, at the end of RAM or wild), descriptors
//! (direct, indirect, chained in loops, pointing anywhere), request headers, avail-index moves,
//! doorbells, ISR reads, MSI-X and configuration writes and resets. The device serves its queues
//! on its I/O thread (the production worker), synchronously (`Blk::serve_synchronously`): every
//! request is complete when the doorbell write returns. That hook's marker queue owns the last
//! 64 bytes of guest RAM.
//!
//! Invariants, besides "no panic, no hang": DMA (the block backend's scatter lists) stays inside
//! guest RAM and the image; a serving step changes guest memory only inside device-writable
//! buffers of chains the driver made available and the used rings; the used index advances by at
//! most the chains made available; every used element names a head the driver posted, with the
//! length and status byte (0, 1 or 2) the request deserves; the image is written by OUT requests
//! only; activation succeeds exactly when the rings are aligned and fit in RAM; the INTx line rises on completion
//! (no event index, no MSI-X) and falls when ISR is read. Checks that need the device's view of
//! guest memory to stay put during a step are skipped when buffers overlap the rings or
//! descriptors (then the driver, not the device, is at fault).
//!
//! Input: byte 0 (bit 0: two queues, bit 1: read-only disk), then operations, each a selector
//! byte and its arguments (see `Op`).

use crate::input::Input;
use block::BlockBackend;
use devices::msix::MsiSink;
use devices::pci::PciDevice;
use devices::virtio::blk::Blk;
use devices::virtio::pci::{VirtioPci, BAR};
use devices::virtio::{feature, status};
use devices::Interrupt;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Guest RAM: small, so wild addresses often hit its end and snapshots are cheap.
const RAM: u64 = 128 << 10;
/// The image (sparse), in sectors.
const IMAGE: u64 = 4 << 20;
const SECTORS: u64 = IMAGE / 512;
const MAX_OPS: usize = 64;

/// The usual layout: queue q's rings at `q * QSTRIDE` + these, indirect tables, then buffers.
const DESC: u64 = 0x0000;
const AVAIL: u64 = 0x1000;
const USED: u64 = 0x2000;
const QSTRIDE: u64 = 0x3000;
const INDIRECT: u64 = 0x6000;
const BUF: u64 = 0x8000;

/// BAR 4 layout and common configuration registers.
const STATUS: u64 = 0x14;
const COMMON_LEN: u64 = 0x40;
const ISR: u64 = 0x1000;
const NOTIFY: u64 = 0x3000;
const BAR_SIZE: u64 = 0x4000;
const MSIX_BAR: usize = 1;
const CAP_MSIX: u32 = 0x11;

/// Descriptor flags.
const NEXT: u16 = 1;
const WRITE: u16 = 2;
const F_INDIRECT: u16 = 4;

/// Request types and status values.
const T_IN: u32 = 0;
const T_OUT: u32 = 1;
const T_FLUSH: u32 = 4;
const T_GET_ID: u32 = 8;
const S_OK: u8 = 0;
const S_IOERR: u8 = 1;
const S_UNSUPP: u8 = 2;
/// The GET_ID answer's size.
const ID_LEN: u64 = 20;
/// Descriptors of one request the device looks at.
const CHAIN_MAX: usize = devices::virtio::worker::MAX_CHAIN;
/// Where the synchronous-serving hook's marker queue keeps its rings (it writes there).
const MARKER: u64 = RAM - 64;

// ---- the disk --------------------------------------------------------------------------------

/// A raw image behind a backend that checks every transfer the device asks for.
struct Disk {
    inner: Arc<dyn BlockBackend>,
    /// Transfers of the current step: (write, offset, length).
    log: Mutex<Vec<(bool, u64, u64)>>,
    /// Host address range of the current input's guest RAM.
    ram: Mutex<(usize, usize)>,
}

impl Disk {
    fn open(read_only: bool) -> Arc<Disk> {
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "lpar-fuzz-virtqueue-{}-{}.img",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let f = std::fs::File::create(&path).expect("create the image");
        f.set_len(IMAGE).expect("size the image");
        drop(f);
        let inner = block::open(&block::Options {
            path: path.clone(),
            format: Some(block::Format::Raw),
            read_only,
            // Flushes are no-ops: a fuzzer must not wait for the host disk.
            cache: block::Cache::Unsafe,
            ..Default::default()
        })
        .expect("open the image");
        // The descriptor keeps the file; nothing is left behind.
        let _ = std::fs::remove_file(&path);
        Arc::new(Disk {
            inner,
            log: Mutex::new(Vec::new()),
            ram: Mutex::new((0, 0)),
        })
    }

    fn check(&self, write: bool, iov: &[libc::iovec], offset: u64) {
        let (lo, hi) = *self.ram.lock().expect("ram range");
        let mut total = 0u64;
        for v in iov {
            let p = v.iov_base as usize;
            assert!(
                p >= lo && p.checked_add(v.iov_len).is_some_and(|e| e <= hi),
                "DMA outside guest RAM: host {p:#x}+{:#x}, RAM at {lo:#x}..{hi:#x}",
                v.iov_len
            );
            total += v.iov_len as u64;
        }
        assert!(
            offset.checked_add(total).is_some_and(|e| e <= self.size()),
            "transfer beyond the image: {offset:#x}+{total:#x}"
        );
        self.log
            .lock()
            .expect("disk log")
            .push((write, offset, total));
    }
}

impl BlockBackend for Disk {
    fn size(&self) -> u64 {
        self.inner.size()
    }
    fn read_only(&self) -> bool {
        self.inner.read_only()
    }
    unsafe fn readv(&self, iov: &[libc::iovec], offset: u64) -> std::io::Result<()> {
        self.check(false, iov, offset);
        // SAFETY: the caller's guarantee, passed on.
        unsafe { self.inner.readv(iov, offset) }
    }
    unsafe fn writev(&self, iov: &[libc::iovec], offset: u64) -> std::io::Result<()> {
        self.check(true, iov, offset);
        // SAFETY: the caller's guarantee, passed on.
        unsafe { self.inner.writev(iov, offset) }
    }
    fn flush(&self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

thread_local! {
    /// One writable and one read-only image per thread (tests run targets on several threads,
    /// and an image is locked by its writer).
    static DISKS: [Arc<Disk>; 2] = [Disk::open(false), Disk::open(true)];
}

// ---- interrupts ------------------------------------------------------------------------------

#[derive(Default)]
struct Line(AtomicBool);

impl Interrupt for Line {
    fn pulse(&self) {}
    fn set_level(&self, level: bool) {
        self.0.store(level, Ordering::SeqCst);
    }
}

#[derive(Default)]
struct Msgs(AtomicUsize);

impl MsiSink for Msgs {
    fn send(&self, _addr: u64, _data: u32) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

// ---- guest memory as the device sees it ------------------------------------------------------

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
    /// The part of the buffer inside RAM.
    fn span(&self) -> Option<(u64, u64)> {
        let end = self.addr.saturating_add(self.len as u64).min(RAM);
        (self.addr < end).then_some((self.addr, end))
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

fn rd16(mem: &[u8], at: u64) -> Option<u16> {
    rd::<2>(mem, at).map(u16::from_le_bytes)
}

/// A ring of queue `size` at `at` (descriptor table: 16 bytes an entry, avail: 2, used: 8) fits
/// in RAM.
fn fits(at: u64, len: u64) -> bool {
    at.checked_add(len).is_some_and(|e| e <= RAM)
}

/// A queue as the device runs it: ring addresses as virtio-queue took them.
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

/// One chain as the device walks it (virtio-queue's rules, then Blk's CHAIN_MAX): the
/// descriptors it yields and the 16-byte descriptor slots it read.
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

/// A request's header if Blk takes the chain for one: (type, sector).
fn header(mem: &[u8], c: &[Desc]) -> Option<(u32, u64)> {
    let (hdr, st) = (c.first()?, c.last()?);
    if c.len() < 2 || hdr.write() || hdr.len < 16 || !st.write() || st.len < 1 {
        return None;
    }
    let h = rd::<16>(mem, hdr.addr)?;
    Some((
        u32::from_le_bytes(h[0..4].try_into().expect("4 bytes")),
        u64::from_le_bytes(h[8..16].try_into().expect("8 bytes")),
    ))
}

/// What Blk must answer to a chain: None if it is no request (nothing written, length 0), else
/// (status, used length).
fn expected(mem: &[u8], c: &[Desc], read_only: bool) -> Option<(u8, u32)> {
    let (ty, sector) = header(mem, c)?;
    let data = &c[1..c.len() - 1];
    let in_ram = |d: &Desc, n: u64| d.addr.checked_add(n).is_some_and(|e| e <= RAM);
    let (st, written) = match ty {
        T_IN | T_OUT => {
            let into = ty == T_IN;
            let total: u64 = data.iter().map(|d| d.len as u64).sum();
            let ok = data
                .iter()
                .all(|d| d.write() == into && in_ram(d, d.len as u64))
                && sector
                    .checked_mul(512)
                    .and_then(|o| o.checked_add(total))
                    .is_some_and(|e| e <= IMAGE)
                && total.is_multiple_of(512)
                && (into || !read_only);
            match (ok, into) {
                (true, true) => (S_OK, total as u32),
                (true, false) => (S_OK, 0),
                _ => (S_IOERR, 0),
            }
        }
        T_FLUSH => (S_OK, 0),
        T_GET_ID => match data.first() {
            Some(d) if d.write() => {
                let n = (d.len as u64).min(ID_LEN);
                // An empty answer is written anywhere (vm-memory checks no address for it).
                if n == 0 || in_ram(d, n) {
                    (S_OK, n as u32)
                } else {
                    (S_IOERR, 0)
                }
            }
            _ => (S_IOERR, 0),
        },
        _ => (S_UNSUPP, 0),
    };
    Some((st, written + 1))
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

/// What a serving step may do, worked out from guest memory before it.
struct Plan {
    /// Device-writable buffers of every chain in every avail slot (clipped to RAM; distinct
    /// within a chain).
    w: Vec<(u64, u64)>,
    /// The used rings (and the marker queue's area).
    u: Vec<(u64, u64)>,
    /// `w` and `u` merged: where the step may write.
    allowed: Vec<(u64, u64)>,
    /// Nothing the device writes overlaps what it reads (rings, descriptors, headers): its view
    /// of the requests stays put through the step.
    stable: bool,
    /// Besides, buffers stay off the used rings, and the used rings off each other: the used
    /// index in memory is the device's.
    used_ok: bool,
    /// Per queue: the chain of every head posted in an avail slot.
    chains: Vec<HashMap<u16, Vec<Desc>>>,
    /// Avail slots holding an OUT request.
    outs: usize,
}

fn plan(mem: &[u8], rings: &[Option<Ring>]) -> Plan {
    let (mut w, mut meta) = (Vec::new(), Vec::new());
    let mut u = vec![(MARKER, RAM)];
    let mut chains = Vec::new();
    let mut outs = 0;
    for r in rings {
        let mut by_head: HashMap<u16, Vec<Desc>> = HashMap::new();
        if let Some(r) = r {
            u.push((r.used, r.used + r.used_len()));
            meta.push((r.avail, r.avail + r.avail_len()));
            // virtio-queue serves nothing from an avail ring at address 0.
            if r.avail != 0 {
                for s in 0..r.size as u64 {
                    let head = rd16(mem, r.avail + 4 + 2 * s).unwrap_or(0);
                    let c = by_head
                        .entry(head)
                        .or_insert_with(|| walk(mem, r, head, &mut meta));
                    if let Some((ty, _)) = header(mem, c) {
                        meta.push((c[0].addr, c[0].addr + 16));
                        outs += (ty == T_OUT) as usize;
                    }
                }
            }
            for c in by_head.values() {
                let mut spans: Vec<_> = c
                    .iter()
                    .filter(|d| d.write())
                    .filter_map(Desc::span)
                    .collect();
                spans.sort_unstable();
                spans.dedup();
                w.extend(spans);
            }
        }
        chains.push(by_head);
    }
    let mw = merge(w.clone());
    let mu = merge(u.clone());
    let meta = merge(meta);
    let mut all = mw.clone();
    all.extend_from_slice(&mu);
    let allowed = merge(all);
    u.sort_unstable();
    let disjoint_used = u.windows(2).all(|p| p[0].1 <= p[1].0);
    Plan {
        stable: !overlap(&allowed, &meta),
        used_ok: !overlap(&mw, &mu) && disjoint_used,
        w,
        u: mu,
        allowed,
        chains,
        outs,
    }
}

// ---- the driver ------------------------------------------------------------------------------

#[derive(Clone, Copy, Default, Debug)]
struct Regs {
    size: u16,
    enable: bool,
    desc: u64,
    driver: u64,
    device: u64,
}

/// A queue the device serves, and what the harness knows of its used index.
#[derive(Clone, Copy)]
struct Active {
    ring: Ring,
    /// The device's used index (None: the harness lost track).
    used: Option<u16>,
}

struct Harness {
    mem: Arc<ppc::GuestMemory>,
    dev: VirtioPci,
    line: Arc<Line>,
    disk: Arc<Disk>,
    read_only: bool,
    nq: usize,
    msix_cap: usize,
    /// The queue registers as last read back.
    regs: Vec<Regs>,
    /// Some while the device runs: its queues by index.
    active: Option<Vec<Option<Active>>>,
    event_idx: bool,
    /// The harness cannot follow the device any more; only "no panic" is checked from here.
    lost: bool,
    next_desc: Vec<u16>,
    avail_next: Vec<u16>,
    bump: u64,
    indirect_bump: u64,
}

impl Harness {
    fn new(two_queues: bool, read_only: bool) -> Harness {
        let disk = DISKS.with(|d| d[read_only as usize].clone());
        let mem = Arc::new(ppc::GuestMemory::new(RAM).expect("guest RAM"));
        let base = mem.ptr(0, RAM).expect("RAM mapped") as usize;
        *disk.ram.lock().expect("ram range") = (base, base + RAM as usize);
        let ram = Arc::new(devices::ram::GuestRam::new(mem.clone()).expect("RAM view"));
        let line = Arc::new(Line::default());
        let nq = 1 + two_queues as usize;
        let blk = Blk::new(disk.clone(), nq as u16, "fuzz-serial").serve_synchronously();
        let dev = VirtioPci::new(
            "virtio-blk-pci",
            Box::new(blk),
            ram,
            line.clone(),
            Arc::new(Msgs::default()),
        );
        // The MSI-X capability, to know whether INTx is in use.
        let mut cap = dev.config_read(0x34, 1) as usize;
        for _ in 0..48 {
            if cap == 0 || dev.config_read(cap, 1) == CAP_MSIX {
                break;
            }
            cap = dev.config_read(cap + 1, 1) as usize;
        }
        assert_eq!(dev.config_read(cap, 1), CAP_MSIX, "virtio-pci has MSI-X");
        let mut h = Harness {
            mem,
            dev,
            line,
            disk,
            read_only,
            nq,
            msix_cap: cap,
            regs: Vec::new(),
            active: None,
            event_idx: false,
            lost: false,
            next_desc: vec![0; nq],
            avail_next: vec![0; nq],
            bump: BUF,
            indirect_bump: INDIRECT,
        };
        h.regs = h.readback();
        h
    }

    fn r(&self, off: u64, n: usize) -> u64 {
        let mut b = [0u8; 8];
        self.dev.bar_read(BAR, off, &mut b[..n.min(8)]);
        u64::from_le_bytes(b)
    }

    fn raw_w(&self, off: u64, v: u64, n: usize) {
        self.dev.bar_write(BAR, off, &v.to_le_bytes()[..n]);
    }

    /// Every queue's registers (restoring queue_select).
    fn readback(&self) -> Vec<Regs> {
        let sel = self.r(0x16, 2);
        let v = (0..self.nq as u64)
            .map(|q| {
                self.raw_w(0x16, q, 2);
                Regs {
                    size: self.r(0x18, 2) as u16,
                    enable: self.r(0x1c, 2) == 1,
                    desc: self.r(0x20, 8),
                    driver: self.r(0x28, 8),
                    device: self.r(0x30, 8),
                }
            })
            .collect();
        self.raw_w(0x16, sel, 2);
        v
    }

    /// The features the driver wrote (restoring the select register).
    fn driver_features(&self) -> u64 {
        let sel = self.r(0x08, 4);
        self.raw_w(0x08, 0, 4);
        let lo = self.r(0x0c, 4);
        self.raw_w(0x08, 1, 4);
        let hi = self.r(0x0c, 4);
        self.raw_w(0x08, sel, 4);
        lo | hi << 32
    }

    fn msix_enabled(&self) -> bool {
        self.dev.config_read(self.msix_cap + 2, 2) & 0x8000 != 0
    }

    /// The used rings of running queues: the driver never writes there.
    fn device_owned(&self, at: u64) -> bool {
        !self.lost
            && self
                .active
                .iter()
                .flatten()
                .flatten()
                .any(|a| (a.ring.used..a.ring.used + a.ring.used_len()).contains(&at))
    }

    /// A driver store to guest memory (the part inside RAM, off the device's used rings).
    fn put(&self, at: u64, v: &[u8]) {
        for (k, &b) in v.iter().enumerate() {
            let Some(a) = at.checked_add(k as u64) else {
                break;
            };
            if !self.device_owned(a) {
                let _ = self.mem.write(a, &[b]);
            }
        }
    }

    fn snapshot(&self) -> Vec<u8> {
        let mut s = vec![0u8; RAM as usize];
        assert!(self.mem.read(0, &mut s));
        s
    }

    /// A BAR 4 store, with the checks of whatever it triggers.
    fn bar_write(&mut self, off: u64, data: &[u8]) {
        if off < COMMON_LEN {
            let n = (data.len() as u64).min(COMMON_LEN - off);
            if off <= STATUS && STATUS < off + n {
                let v = data[(STATUS - off) as usize];
                return self.status_write(off, data, v);
            }
            self.dev.bar_write(BAR, off, data);
            self.regs = self.readback();
            return;
        }
        if (NOTIFY..BAR_SIZE).contains(&off) && self.active.is_some() {
            return self.serve(|h| h.dev.bar_write(BAR, off, data), None);
        }
        self.dev.bar_write(BAR, off, data);
    }

    fn status_write(&mut self, off: u64, data: &[u8], v: u8) {
        if v == 0 {
            self.dev.bar_write(BAR, off, data);
            self.stopped();
            return;
        }
        if self.active.is_some() || v & status::DRIVER_OK == 0 {
            self.dev.bar_write(BAR, off, data);
            self.regs = self.readback();
            return;
        }
        self.serve(|h| h.dev.bar_write(BAR, off, data), Some(v));
    }

    /// Device reset: the harness's view goes back to power-on.
    fn stopped(&mut self) {
        self.active = None;
        self.regs = self.readback();
    }

    /// Runs `op`, which may make the device serve (a doorbell, or a status store `starting` with
    /// DRIVER_OK), and checks what the device did.
    fn serve(&mut self, op: impl FnOnce(&Harness), starting: Option<u8>) {
        let asked = starting.unwrap_or(0);
        let starting = starting.is_some();
        let pre = self.snapshot();
        self.disk.log.lock().expect("disk log").clear();
        op(self);
        let fresh = starting && self.started(&pre, asked);
        self.regs = self.readback();
        if self.active.is_none() || self.lost {
            return;
        }
        self.check(&pre, fresh);
    }

    /// After the driver stored status `asked` with DRIVER_OK: whether the device started (its
    /// queues recorded in `active`). Checks that it started exactly when the enabled rings fit in
    /// RAM.
    fn started(&mut self, pre: &[u8], asked: u8) -> bool {
        let s = self.r(STATUS, 1) as u8;
        if s & status::FEATURES_OK == 0 {
            return false;
        }
        let regs = self.readback();
        // A ring address that breaks the split ring's alignment must make activation fail.
        let misaligned = regs
            .iter()
            .any(|r| r.enable && (r.desc % 16 != 0 || r.driver % 2 != 0 || r.device % 4 != 0));
        let rings: Vec<Option<Ring>> = regs
            .iter()
            .map(|r| {
                r.enable.then_some(Ring {
                    size: r.size,
                    desc: r.desc,
                    avail: r.driver,
                    used: r.device,
                })
            })
            .collect();
        let valid = !misaligned
            && rings.iter().flatten().all(|r| {
                fits(r.desc, 16 * r.size as u64)
                    && fits(r.avail, r.avail_len())
                    && fits(r.used, r.used_len())
            });
        // NEEDS_RESET reads back set when activation failed, or when the driver wrote it.
        let failed = s & status::NEEDS_RESET != 0;
        let own = asked & status::NEEDS_RESET != 0;
        assert!(
            valid || failed,
            "the device started on rings outside RAM or misaligned: {regs:x?}"
        );
        assert!(
            !valid || !failed || own,
            "the device refused aligned rings inside RAM: {regs:x?}"
        );
        let started = valid;
        if !started {
            return false;
        }
        self.event_idx = self.driver_features() & feature::RING_EVENT_IDX != 0;
        self.active = Some(
            rings
                .into_iter()
                .map(|r| {
                    r.map(|ring| {
                        // The device starts at used index 0 and stores it only with its first
                        // completion: a stale index of 0 in memory is the same thing; another
                        // one leaves the harness unsure until it changes.
                        let stale = rd16(pre, ring.used + 2).unwrap_or(0);
                        Active {
                            ring,
                            used: (stale == 0).then_some(0),
                        }
                    })
                })
                .collect(),
        );
        true
    }

    /// The checks of one serving step, from guest memory before it (`pre`) and after.
    fn check(&mut self, pre: &[u8], fresh: bool) {
        let post = self.snapshot();
        let Some(active) = self.active.clone() else {
            return;
        };
        let rings: Vec<Option<Ring>> = active.iter().map(|a| a.map(|a| a.ring)).collect();
        let p = plan(pre, &rings);
        let log = std::mem::take(&mut *self.disk.log.lock().expect("disk log"));
        if !p.stable {
            crate::trace!(
                "  unstable step: buffers {:x?} and used rings {:x?} overlap what the device reads",
                p.w,
                p.u
            );
            self.forget_used();
            return;
        }
        // Writes only where the device may write.
        const CHUNK: usize = 64;
        for (c, (x, y)) in pre.chunks(CHUNK).zip(post.chunks(CHUNK)).enumerate() {
            if x == y {
                continue;
            }
            for (k, (a, b)) in x.iter().zip(y).enumerate() {
                let i = c * CHUNK + k;
                assert!(
                    a == b || covers(&p.allowed, i as u64),
                    "the device wrote guest memory at {i:#x} ({a:#x} -> {b:#x}), outside \
                     device-writable buffers and used rings"
                );
            }
        }
        let writes = log.iter().filter(|l| l.0).count();
        assert!(
            writes <= p.outs,
            "{writes} image writes for {} OUT requests",
            p.outs
        );
        if !p.used_ok {
            crate::trace!("  buffers overlap the used rings");
            self.forget_used();
            return;
        }
        // Whether a completion owes the driver an interrupt.
        let mut due = false;
        let mut next = active.clone();
        for (q, a) in active.iter().enumerate() {
            let Some(a) = a else {
                continue;
            };
            let r = a.ring;
            let u1 = rd16(&post, r.used + 2).unwrap_or(0);
            let u0 = match a.used {
                Some(u0) => u0,
                // Fresh, with a stale index in memory: known once the device stores its own.
                None if fresh && u1 != rd16(pre, r.used + 2).unwrap_or(0) => 0,
                None => continue,
            };
            let adv = u1.wrapping_sub(u0);
            let avail = if r.avail == 0 {
                0
            } else {
                rd16(pre, r.avail + 2).unwrap_or(0)
            };
            assert!(
                adv <= r.size && adv <= avail.wrapping_sub(u0),
                "queue {q}: used index {u0} -> {u1} with avail index {avail}, size {}",
                r.size
            );
            crate::trace!("  queue {q}: used index {u0} -> {u1}");
            due |= if self.event_idx {
                // With the event index, the completion that moves the used index past
                // used_event interrupts (and only the driver's index says which).
                let used_event = rd16(pre, r.avail + 4 + 2 * r.size as u64).unwrap_or(0);
                r.avail != 0 && used_event.wrapping_sub(u0) < adv
            } else {
                adv > 0
            };
            for k in 0..adv {
                let slot = r.used + 4 + 8 * (u0.wrapping_add(k) % r.size) as u64;
                let e = rd::<8>(&post, slot).expect("used ring in RAM");
                let id = u32::from_le_bytes(e[0..4].try_into().expect("4 bytes"));
                let len = u32::from_le_bytes(e[4..8].try_into().expect("4 bytes"));
                let chain = u16::try_from(id)
                    .ok()
                    .and_then(|h| p.chains[q].get(&h))
                    .unwrap_or_else(|| panic!("queue {q}: used element {id} was never posted"));
                self.check_completion(q, id, len, chain, pre, &post, &p);
            }
            if let Some(Some(n)) = next.get_mut(q) {
                n.used = Some(u1);
            }
        }
        self.active = Some(next);
        if due && !self.msix_enabled() {
            assert!(
                self.line.0.load(Ordering::SeqCst),
                "completions without the interrupt they are due (event index {})",
                self.event_idx
            );
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn check_completion(
        &self,
        q: usize,
        id: u32,
        len: u32,
        chain: &[Desc],
        pre: &[u8],
        post: &[u8],
        p: &Plan,
    ) {
        let want = expected(pre, chain, self.read_only);
        crate::trace!("  queue {q}: head {id} length {len}, expected {want:?}");
        let Some((st, want_len)) = want else {
            assert_eq!(
                len, 0,
                "queue {q}: head {id} is no request but has length {len}"
            );
            return;
        };
        assert_eq!(
            len, want_len,
            "queue {q}: head {id}: used length {len}, expected {want_len} ({chain:x?})"
        );
        let s = chain[chain.len() - 1];
        let at = s.addr.checked_add(s.len as u64 - 1).unwrap_or(s.addr);
        // Checkable if no other buffer and no used ring holds that byte.
        let holders = p.w.iter().filter(|&&(a, b)| (a..b).contains(&at)).count();
        if at < RAM && holders == 1 && !covers(&p.u, at) {
            let got = post[at as usize];
            assert!(got <= S_UNSUPP, "queue {q}: status byte {got}");
            assert_eq!(
                got, st,
                "queue {q}: head {id}: status {got}, expected {st} ({chain:x?})"
            );
        }
    }

    fn forget_used(&mut self) {
        if let Some(a) = &mut self.active {
            for a in a.iter_mut().flatten() {
                a.used = None;
            }
        }
    }

    // ---- driver operations -------------------------------------------------------------------

    fn ring_of(&self, q: usize) -> Regs {
        self.regs.get(q).copied().unwrap_or_default()
    }

    /// A buffer of `len` bytes (at most a page) in the buffer area.
    fn alloc(&mut self, len: u64) -> u64 {
        let len = len.min(0x1000).next_multiple_of(16).max(16);
        if self.bump + len > MARKER {
            self.bump = BUF;
        }
        let at = self.bump;
        self.bump += len;
        at
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

    /// A whole driver initialisation, as Linux does it (fuzz-chosen features, sizes, rings).
    fn init(&mut self, inp: &mut Input) {
        let f = inp.u8();
        self.bar_write(STATUS, &[0]);
        self.bar_write(STATUS, &[status::ACKNOWLEDGE]);
        self.bar_write(STATUS, &[status::ACKNOWLEDGE | status::DRIVER]);
        self.raw_w(0x00, 0, 4);
        let lo = self.r(0x04, 4);
        self.raw_w(0x00, 1, 4);
        let offered = lo | self.r(0x04, 4) << 32;
        let mut want = feature::VERSION_1 | (offered & 0xffff_ffff & inp.u32() as u64);
        if f & 1 != 0 {
            want |= feature::RING_INDIRECT_DESC;
        }
        if f & 2 != 0 {
            want |= feature::RING_EVENT_IDX;
        }
        if f & 4 != 0 {
            want = offered;
        }
        if f & 8 != 0 {
            want |= 1 << (inp.u8() & 63);
        }
        if f & 16 != 0 {
            want &= !feature::VERSION_1;
        }
        self.bar_write(0x08, &0u32.to_le_bytes());
        self.bar_write(0x0c, &(want as u32).to_le_bytes());
        self.bar_write(0x08, &1u32.to_le_bytes());
        self.bar_write(0x0c, &((want >> 32) as u32).to_le_bytes());
        let s = status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK;
        self.bar_write(STATUS, &[s]);
        for q in 0..self.nq {
            let size = inp.pick(&[1u16, 2, 4, 8, 8, 16, 16, 32, 64, 128, 256, 3, 0, 512]);
            let base = q as u64 * QSTRIDE;
            let (desc, avail, used) = match inp.u8() % 8 {
                0..=4 => (DESC + base, AVAIL + base, USED + base),
                5 => (ring_addr(inp), ring_addr(inp), ring_addr(inp)),
                6 => {
                    // Misaligned by a little.
                    let k = inp.u8() as u64 % 4;
                    (DESC + base + k * 4, AVAIL + base + k, USED + base + k * 2)
                }
                // Every queue on the same rings.
                _ => (DESC, AVAIL, USED),
            };
            self.bar_write(0x16, &(q as u16).to_le_bytes());
            self.bar_write(0x18, &size.to_le_bytes());
            self.bar_write(0x20, &desc.to_le_bytes());
            self.bar_write(0x28, &avail.to_le_bytes());
            self.bar_write(0x30, &used.to_le_bytes());
            // A driver zeroes the rings it hands over.
            let n = self.ring_of(q).size as u64;
            for (at, len) in [(desc, 16 * n), (avail, 6 + 2 * n), (used, 6 + 8 * n)] {
                if at < RAM {
                    let _ = self.mem.fill(at, len.min(RAM - at), 0);
                }
            }
            let enable = !inp.u8().is_multiple_of(8);
            self.bar_write(0x1c, &(enable as u16).to_le_bytes());
            self.next_desc[q] = 0;
            self.avail_next[q] = 0;
        }
        if !inp.u8().is_multiple_of(8) {
            self.bar_write(STATUS, &[s | status::DRIVER_OK]);
        }
    }

    /// Builds one request (header, data buffers, status byte) as a chain, direct or indirect,
    /// and posts it in the avail ring; optionally publishes and rings.
    fn request(&mut self, inp: &mut Input) {
        let q = inp.u8() as usize % self.nq;
        let r = self.ring_of(q);
        let size = r.size.max(1);
        let ty = match inp.u8() % 9 {
            0 | 1 => T_IN,
            2 | 3 => T_OUT,
            4 => T_FLUSH,
            5 => T_GET_ID,
            6 => 11, // DISCARD, not offered
            _ => inp.u32(),
        };
        let sector = match inp.u8() % 8 {
            0 | 1 => 0,
            2 => inp.u8() as u64,
            3 => SECTORS - 1,
            4 => SECTORS - (inp.u8() as u64 % 8),
            5 => SECTORS,
            6 => u64::MAX / 512 + inp.u8() as u64,
            _ => inp.u64(),
        };
        let flags = inp.u8();
        let mut ds = Vec::new();
        let hdr_at = self.alloc(16);
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&ty.to_le_bytes());
        h[8..16].copy_from_slice(&sector.to_le_bytes());
        self.put(hdr_at, &h);
        let hdr_len = if flags & 0x80 != 0 {
            inp.u8() as u32
        } else {
            16
        };
        ds.push(Desc {
            addr: hdr_at,
            len: hdr_len,
            flags: 0,
            next: 0,
        });
        let into = matches!(ty, T_IN | T_GET_ID);
        for _ in 0..inp.u8() % 4 {
            let len = match inp.u8() % 8 {
                0..=2 => 512,
                3 => 1024,
                4 => 4096,
                5 => ID_LEN as u32,
                6 => inp.u16() as u32,
                _ => inp.u32(),
            };
            let addr = match inp.u8() % 8 {
                0..=5 => self.alloc(len as u64),
                _ => buf_addr(inp),
            };
            let w = into != inp.u8().is_multiple_of(8);
            ds.push(Desc {
                addr,
                len,
                flags: if w { WRITE } else { 0 },
                next: 0,
            });
        }
        let st_at = self.alloc(1);
        self.put(st_at, &[0xff]);
        ds.push(Desc {
            addr: st_at,
            len: if flags & 0x40 != 0 {
                inp.u8() as u32
            } else {
                1
            },
            flags: WRITE,
            next: 0,
        });
        let n = ds.len() as u16;
        let head;
        if flags & 1 != 0 {
            // Indirect: the chain in a table of its own, one descriptor pointing at it.
            let table = self.indirect_bump;
            self.indirect_bump += 16 * n as u64;
            if self.indirect_bump > BUF {
                self.indirect_bump = INDIRECT;
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
            head = self.next_desc[q] % size;
            let len = if flags & 2 != 0 {
                inp.u16() as u32
            } else {
                16 * n as u32
            };
            self.put_desc(
                r.desc,
                head,
                Desc {
                    addr: table,
                    len,
                    flags: F_INDIRECT,
                    next: 0,
                },
            );
            self.next_desc[q] = (head + 1) % size;
        } else {
            head = self.next_desc[q] % size;
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
            r.driver.wrapping_add(4 + 2 * slot as u64),
            &head.to_le_bytes(),
        );
        self.avail_next[q] = self.avail_next[q].wrapping_add(1);
        if flags & 4 == 0 {
            self.put(r.driver.wrapping_add(2), &self.avail_next[q].to_le_bytes());
        }
        if flags & 8 == 0 {
            self.bar_write(NOTIFY + 4 * q as u64, &0u16.to_le_bytes());
        }
    }

    fn run(&mut self, inp: &mut Input) {
        for _ in 0..MAX_OPS {
            if inp.is_empty() {
                break;
            }
            let op = inp.u8();
            crate::trace!(
                "op {op} (active {}, lost {})",
                self.active.is_some(),
                self.lost
            );
            match op % 16 {
                0 | 1 => self.init(inp),
                2..=4 => self.request(inp),
                5 => {
                    // Any common-configuration store.
                    let off = match inp.u8() {
                        b @ 0..=0xef => b as u64 % COMMON_LEN,
                        _ => inp.u16() as u64 % BAR_SIZE,
                    };
                    let n = inp.pick(&[1usize, 2, 4, 8]);
                    let v = inp.u64();
                    self.bar_write(off, &v.to_le_bytes()[..n]);
                }
                6 => {
                    let v = inp.pick(&[
                        0u8,
                        status::ACKNOWLEDGE,
                        status::ACKNOWLEDGE | status::DRIVER,
                        status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK,
                        0x0f,
                        0x4f,
                        status::FAILED,
                        0xff,
                    ]);
                    self.bar_write(STATUS, &[v]);
                }
                7 => {
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
                        0 => 16,
                        1 => 1,
                        2 => 512,
                        3 => inp.u16() as u32,
                        4 => 0,
                        _ => inp.u32(),
                    };
                    let flags = inp.pick(&[0, NEXT, WRITE, NEXT | WRITE, F_INDIRECT, 0xffff]);
                    let next = inp.u8() as u16;
                    self.put_desc(
                        table,
                        i,
                        Desc {
                            addr,
                            len,
                            flags,
                            next,
                        },
                    );
                }
                8 => {
                    // The avail index: caught up, a ring ahead, more, or anything.
                    let q = inp.u8() as usize % self.nq;
                    let r = self.ring_of(q);
                    let v = match inp.u8() % 5 {
                        0 | 1 => self.avail_next[q],
                        2 => self.avail_next[q].wrapping_add(r.size),
                        3 => self.avail_next[q].wrapping_add(r.size).wrapping_add(1),
                        _ => inp.u16(),
                    };
                    self.put(r.driver.wrapping_add(2), &v.to_le_bytes());
                }
                9 => {
                    let q = inp.pick(&[0u64, 0, 1, 2, 0x3ff]);
                    let off = if inp.u8().is_multiple_of(8) {
                        inp.u8() as u64
                    } else {
                        0
                    };
                    self.bar_write(NOTIFY + 4 * q + off, &0u16.to_le_bytes());
                }
                10 => {
                    let v = self.r(ISR, 1);
                    assert!(v <= 3, "ISR {v:#x}");
                    assert!(
                        !self.line.0.load(Ordering::SeqCst),
                        "the line stays up after the ISR read"
                    );
                }
                11 => {
                    // A driver store anywhere (ring fields, used_event, buffers).
                    let q = inp.u8() as usize % self.nq;
                    let r = self.ring_of(q);
                    let at = match inp.u8() % 4 {
                        // used_event
                        0 => r.driver.wrapping_add(4 + 2 * r.size as u64),
                        // avail flags
                        1 => r.driver,
                        _ => buf_addr(inp),
                    };
                    let n = inp.u8() as usize % 33;
                    let b = inp.bytes(n);
                    self.put(at, b);
                }
                12 => {
                    let bar = inp.pick(&[BAR, BAR, MSIX_BAR, 0, 2, 5, 6]);
                    let off = inp.u16() as u64 % (BAR_SIZE + 0x100);
                    let n = inp.pick(&[1usize, 2, 4, 8, 64]);
                    let mut b = vec![0u8; n];
                    self.dev.bar_read(bar, off, &mut b);
                    if bar == BAR && off == 0x12 && n == 2 {
                        assert_eq!(b, (self.nq as u16).to_le_bytes(), "num_queues");
                    }
                }
                13 => {
                    // Configuration space: command, MSI-X control, anything.
                    let off = match inp.u8() % 4 {
                        0 => 0x04,
                        1 => self.msix_cap + 2,
                        _ => inp.u16() as usize % 0x1001,
                    };
                    let n = inp.pick(&[1usize, 2, 4, 3]);
                    self.dev.config_write(off, n, inp.u32());
                }
                14 => {
                    // The MSI-X table.
                    let off = inp.u16() as u64 % 0x1000;
                    let n = inp.u8() as usize % 17;
                    let b = inp.bytes(n);
                    self.dev.bar_write(MSIX_BAR, off, b);
                }
                _ => {
                    // Machine reset.
                    self.dev.reset();
                    self.stopped();
                    assert_eq!(self.r(STATUS, 1), 0);
                }
            }
        }
    }
}

/// A ring address: the usual places, a little off them, the end of RAM, or anything.
fn ring_addr(inp: &mut Input) -> u64 {
    match inp.u8() % 6 {
        0 => DESC + (inp.u8() as u64 % 3) * QSTRIDE,
        1 => AVAIL + (inp.u8() as u64 % 3) * QSTRIDE,
        2 => USED + (inp.u8() as u64 % 3) * QSTRIDE,
        3 => RAM - inp.u16() as u64 % 0x1000,
        4 => (inp.u16() as u64) << 4,
        _ => inp.u64(),
    }
}

/// A buffer address: the buffer area, sector-aligned, the rings, the end of RAM, beyond it,
/// anything.
fn buf_addr(inp: &mut Input) -> u64 {
    match inp.u8() % 8 {
        0 | 1 => BUF + inp.u16() as u64 % (RAM - BUF),
        2 => BUF + 512 * (inp.u8() as u64 % ((RAM - BUF) / 512)),
        3 => inp.u16() as u64 % BUF,
        4 => RAM - inp.u16() as u64 % 0x1000,
        5 => RAM + inp.u8() as u64,
        6 => u64::MAX - inp.u16() as u64,
        _ => inp.u64(),
    }
}

pub fn virtqueue(data: &[u8]) {
    let mut inp = Input::new(data);
    let b0 = inp.u8();
    let mut h = Harness::new(b0 & 1 != 0, b0 & 2 != 0);
    h.run(&mut inp);
    // Teardown stops the device (as a machine reset would) without hanging.
    h.dev.reset();
}
