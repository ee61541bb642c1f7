//! virtio-net behind the virtio-pci transport, driven as a guest driver drives it (split rings
//! laid out by hand in guest RAM, one set per queue, registers through BAR 4), on a loopback
//! backend that records what is sent and holds frames to deliver, and on the real slirp stack.

use super::{ctrl, f, Net, NetOptions, S_LINK_UP};
use crate::msix::MsiSink;
use crate::pci::PciDevice;
use crate::ram::GuestRam;
use crate::virtio::pci::{VirtioPci, BAR};
use crate::virtio::{feature, status, VirtioDevice};
use crate::Interrupt;
use net::loopback::Loopback;
use net::Backend;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const RAM: u64 = 4 << 20;
const QSIZE: u16 = 64;
/// Buffers are handed out from here up.
const BUF: u64 = 0x10_0000;
const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];

/// Common configuration registers and the other BAR 4 areas.
const DFSELECT: u64 = 0x00;
const DF: u64 = 0x04;
const GFSELECT: u64 = 0x08;
const GF: u64 = 0x0c;
const STATUS: u64 = 0x14;
const Q_SELECT: u64 = 0x16;
const Q_SIZE: u64 = 0x18;
const Q_ENABLE: u64 = 0x1c;
const Q_DESC: u64 = 0x20;
const Q_DRIVER: u64 = 0x28;
const Q_DEVICE: u64 = 0x30;
const DEVICE: u64 = 0x2000;
const NOTIFY: u64 = 0x3000;

const NEXT: u16 = 1;
const WRITE: u16 = 2;

/// Queue indexes with one pair.
const RX: u16 = 0;
const TX: u16 = 1;
const CTRL: u16 = 2;

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

/// One descriptor: guest address, length, device-writable.
#[derive(Clone, Copy)]
struct D(u64, u32, bool);

/// The driver's side of one queue.
#[derive(Clone, Copy, Default)]
struct Vq {
    next_desc: u16,
    avail: u16,
}

struct Rig {
    mem: Arc<ppc::GuestMemory>,
    dev: VirtioPci,
    line: Arc<Line>,
    vqs: Vec<Vq>,
    next_buf: u64,
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.dev.reset();
    }
}

fn desc_at(q: u16) -> u64 {
    0x10000 * (q as u64 + 1)
}
fn avail_at(q: u16) -> u64 {
    desc_at(q) + 0x1000
}
fn used_at(q: u16) -> u64 {
    desc_at(q) + 0x2000
}

fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i * 13 + i / 251) as u8 ^ seed).collect()
}

fn wait_for(mut ok: impl FnMut() -> bool, what: &str) {
    let t = Instant::now();
    while !ok() {
        assert!(t.elapsed() < Duration::from_secs(5), "timed out: {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

impl Rig {
    fn new(backends: Vec<Arc<dyn Backend>>, opts: NetOptions) -> Rig {
        let mem = Arc::new(ppc::GuestMemory::new(RAM).unwrap());
        let ram = Arc::new(GuestRam::new(mem.clone()).unwrap());
        let line = Arc::new(Line::default());
        let dev = VirtioPci::new(
            "virtio-net-pci",
            Box::new(Net::new(backends, MAC, opts)),
            ram,
            line.clone(),
            Arc::new(NoMsi),
        );
        Rig {
            mem,
            dev,
            line,
            vqs: Vec::new(),
            next_buf: BUF,
        }
    }

    fn loopback(lb: &Arc<Loopback>) -> Rig {
        Rig::new(vec![lb.clone() as Arc<dyn Backend>], NetOptions::default())
    }

    fn w(&self, off: u64, v: &[u8]) {
        self.dev.bar_write(BAR, off, v);
    }
    fn w8(&self, off: u64, v: u8) {
        self.w(off, &[v]);
    }
    fn w16(&self, off: u64, v: u16) {
        self.w(off, &v.to_le_bytes());
    }
    fn w32(&self, off: u64, v: u32) {
        self.w(off, &v.to_le_bytes());
    }
    fn w64(&self, off: u64, v: u64) {
        self.w(off, &v.to_le_bytes());
    }
    fn r(&self, off: u64, n: usize) -> u64 {
        let mut b = [0u8; 8];
        self.dev.bar_read(BAR, off, &mut b[..n]);
        u64::from_le_bytes(b)
    }
    fn put(&self, at: u64, v: &[u8]) {
        assert!(self.mem.write(at, v));
    }
    fn get(&self, at: u64, n: usize) -> Vec<u8> {
        let mut b = vec![0; n];
        assert!(self.mem.read(at, &mut b));
        b
    }
    fn get16(&self, at: u64) -> u16 {
        u16::from_le_bytes(self.get(at, 2).try_into().unwrap())
    }

    fn device_features(&self) -> u64 {
        self.w32(DFSELECT, 0);
        let lo = self.r(DF, 4);
        self.w32(DFSELECT, 1);
        lo | self.r(DF, 4) << 32
    }

    /// A driver's initialisation: `extra` features beyond VERSION_1, queues 0..`queues`.
    fn init(&mut self, extra: u64, queues: u16) {
        let features = feature::VERSION_1 | extra;
        self.w8(STATUS, 0);
        self.w8(STATUS, status::ACKNOWLEDGE | status::DRIVER);
        self.w32(GFSELECT, 0);
        self.w32(GF, features as u32);
        self.w32(GFSELECT, 1);
        self.w32(GF, (features >> 32) as u32);
        self.w8(
            STATUS,
            status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK,
        );
        assert_ne!(
            self.r(STATUS, 1) as u8 & status::FEATURES_OK,
            0,
            "features {features:#x} refused"
        );
        self.vqs = vec![Vq::default(); queues as usize];
        for q in 0..queues {
            assert!(self.mem.fill(desc_at(q), 0x3000, 0));
            self.w16(Q_SELECT, q);
            self.w16(Q_SIZE, QSIZE);
            self.w64(Q_DESC, desc_at(q));
            self.w64(Q_DRIVER, avail_at(q));
            self.w64(Q_DEVICE, used_at(q));
            self.w16(Q_ENABLE, 1);
        }
        self.w8(
            STATUS,
            status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK | status::DRIVER_OK,
        );
        assert_eq!(self.r(STATUS, 1) as u8 & status::NEEDS_RESET, 0);
    }

    /// `n` bytes of guest RAM for a buffer.
    fn alloc(&mut self, n: u64) -> u64 {
        let at = self.next_buf;
        self.next_buf = (at + n + 15) & !15;
        assert!(self.next_buf < RAM);
        at
    }

    fn desc(&self, q: u16, i: u16, d: D, flags: u16, next: u16) {
        let mut b = [0u8; 16];
        b[0..8].copy_from_slice(&d.0.to_le_bytes());
        b[8..12].copy_from_slice(&d.1.to_le_bytes());
        let fl = flags | if d.2 { WRITE } else { 0 };
        b[12..14].copy_from_slice(&fl.to_le_bytes());
        b[14..16].copy_from_slice(&next.to_le_bytes());
        self.put(desc_at(q) + 16 * i as u64, &b);
    }

    /// Writes a chain into queue `q`'s table; returns its head.
    fn chain(&mut self, q: u16, ds: &[D]) -> u16 {
        let head = self.vqs[q as usize].next_desc;
        for (k, &d) in ds.iter().enumerate() {
            let i = (head + k as u16) % QSIZE;
            let last = k + 1 == ds.len();
            self.desc(q, i, d, if last { 0 } else { NEXT }, (i + 1) % QSIZE);
        }
        self.vqs[q as usize].next_desc = (head + ds.len() as u16) % QSIZE;
        head
    }

    fn post(&mut self, q: u16, heads: &[u16]) {
        for &h in heads {
            let v = &mut self.vqs[q as usize];
            let slot = avail_at(q) + 4 + 2 * (v.avail % QSIZE) as u64;
            v.avail = v.avail.wrapping_add(1);
            self.put(slot, &h.to_le_bytes());
        }
        let idx = self.vqs[q as usize].avail;
        self.put(avail_at(q) + 2, &idx.to_le_bytes());
    }

    fn kick(&self, q: u16) {
        self.w16(NOTIFY + 4 * q as u64, q);
    }

    fn used_idx(&self, q: u16) -> u16 {
        self.get16(used_at(q) + 2)
    }

    fn wait_used(&self, q: u16, n: u16) {
        wait_for(
            || self.used_idx(q) == n,
            &format!("queue {q} used index {n}"),
        );
    }

    /// Used element `i` of queue `q`: (head, length).
    fn used(&self, q: u16, i: u16) -> (u16, u32) {
        let b = self.get(used_at(q) + 4 + 8 * (i % QSIZE) as u64, 8);
        (
            u32::from_le_bytes(b[0..4].try_into().unwrap()) as u16,
            u32::from_le_bytes(b[4..8].try_into().unwrap()),
        )
    }

    /// The device's avail_event (where it wants the next doorbell).
    fn avail_event(&self, q: u16) -> u16 {
        self.get16(used_at(q) + 4 + 8 * QSIZE as u64)
    }

    /// Posts `n` receive buffers of `size` bytes on queue `q` (one descriptor each); returns
    /// (head, address) of each.
    fn rx_buffers(&mut self, q: u16, n: usize, size: u32) -> Vec<(u16, u64)> {
        let bufs: Vec<(u16, u64)> = (0..n)
            .map(|_| {
                let at = self.alloc(size as u64);
                self.put(at, &vec![0xee; size as usize]);
                (self.chain(q, &[D(at, size, true)]), at)
            })
            .collect();
        let heads: Vec<u16> = bufs.iter().map(|b| b.0).collect();
        self.post(q, &heads);
        bufs
    }

    /// Transmits a chain whose descriptors hold `parts` (device-readable); waits for it.
    fn transmit(&mut self, q: u16, parts: &[&[u8]]) {
        let ds: Vec<D> = parts
            .iter()
            .map(|p| {
                let at = self.alloc(p.len() as u64);
                self.put(at, p);
                D(at, p.len() as u32, false)
            })
            .collect();
        let head = self.chain(q, &ds);
        self.post(q, &[head]);
        self.kick(q);
        let n = self.vqs[q as usize].avail;
        self.wait_used(q, n);
        assert_eq!(self.used(q, n - 1), (head, 0));
    }

    /// Sends a control command; returns the ack.
    fn command(&mut self, class: u8, cmd: u8, data: &[u8]) -> u8 {
        let q = self.vqs.len() as u16 - 1;
        let hdr = self.alloc(2);
        self.put(hdr, &[class, cmd]);
        let mut ds = vec![D(hdr, 2, false)];
        if !data.is_empty() {
            let at = self.alloc(data.len() as u64);
            self.put(at, data);
            ds.push(D(at, data.len() as u32, false));
        }
        let ack = self.alloc(1);
        self.put(ack, &[0xff]);
        ds.push(D(ack, 1, true));
        let head = self.chain(q, &ds);
        self.post(q, &[head]);
        self.kick(q);
        let n = self.vqs[q as usize].avail;
        self.wait_used(q, n);
        assert_eq!(self.used(q, n - 1), (head, 1));
        self.get(ack, 1)[0]
    }

    fn config(&self, off: u64, n: usize) -> u64 {
        self.r(DEVICE + off, n)
    }
}

/// A 12-byte header with `flags`, `gso_type`, `hdr_len`, `gso_size`, `csum_start`,
/// `csum_offset` and `num_buffers`.
fn hdr(flags: u8, gso: u8, v: [u16; 5]) -> Vec<u8> {
    let mut h = vec![flags, gso];
    for x in v {
        h.extend_from_slice(&x.to_le_bytes());
    }
    h
}

#[test]
fn a_frame_over_three_descriptors_is_sent_whole_without_the_header() {
    let lb = Loopback::new(false);
    let mut r = Rig::loopback(&lb);
    r.init(f::MRG_RXBUF, 3);
    let frame = pattern(100, 1);
    let h = hdr(0, 0, [0; 5]);
    // The header and the frame's start share a descriptor; the rest is split unevenly.
    let mut first = h.clone();
    first.extend_from_slice(&frame[..8]);
    r.transmit(TX, &[&first, &frame[8..58], &frame[58..]]);
    assert_eq!(lb.sent(), vec![frame]);
    // No vnet header: no offload was set on the backend.
    assert!(lb.offload().is_none());
}

#[test]
fn with_a_vnet_header_the_frame_goes_out_with_its_header() {
    let lb = Loopback::new(true);
    let mut r = Rig::loopback(&lb);
    r.init(f::CSUM | f::GUEST_CSUM | f::GUEST_TSO4 | f::MRG_RXBUF, 3);
    // The driver's offloads reached the backend.
    let o = lb.offload().expect("set_offload at activation");
    assert!(o.csum && o.tso4 && !o.tso6 && !o.ecn && !o.ufo);
    let frame = pattern(300, 2);
    // NEEDS_CSUM, csum_start 34, csum_offset 16: the tap's business.
    let h = hdr(1, 0, [0, 0, 34, 16, 0]);
    r.transmit(TX, &[&h, &frame[..100], &frame[100..]]);
    let mut want = h.clone();
    want.extend_from_slice(&frame);
    assert_eq!(lb.sent(), vec![want]);
}

#[test]
fn a_1500_byte_frame_fills_one_mergeable_buffer() {
    let lb = Loopback::new(false);
    let mut r = Rig::loopback(&lb);
    r.init(f::MRG_RXBUF | feature::RING_EVENT_IDX, 3);
    let bufs = r.rx_buffers(RX, 2, 4096);
    r.kick(RX);
    let frame = pattern(1500, 3);
    lb.arrive(frame.clone());
    r.wait_used(RX, 1);
    assert_eq!(r.used(RX, 0), (bufs[0].0, 12 + 1500));
    let got = r.get(bufs[0].1, 12 + 1500);
    assert_eq!(got[..12], hdr(0, 0, [0, 0, 0, 0, 1])[..]);
    assert_eq!(got[12..], frame[..]);
    // Only what the frame needed was written.
    assert_eq!(r.get(bufs[0].1 + 1512, 4), vec![0xee; 4]);
    wait_for(|| r.line.0.load(Ordering::SeqCst), "receive interrupt");
}

#[test]
fn frames_a_backend_built_itself_are_marked_data_valid_while_the_driver_wants_it() {
    let lb = Loopback::with(false, true);
    let mut r = Rig::loopback(&lb);
    // The offloads offered without a vnet header, with the command that switches them.
    let offered = r.device_features() & f::OFFLOADS;
    assert_eq!(
        offered,
        f::GUEST_CSUM | f::GUEST_TSO4 | f::CTRL_GUEST_OFFLOADS
    );
    r.init(
        f::MRG_RXBUF | f::GUEST_CSUM | f::CTRL_VQ | f::CTRL_GUEST_OFFLOADS,
        3,
    );
    let bufs = r.rx_buffers(RX, 2, 4096);
    r.kick(RX);
    let frame = pattern(600, 5);
    lb.arrive(frame.clone());
    r.wait_used(RX, 1);
    let got = r.get(bufs[0].1, 12 + 600);
    assert_eq!(got[..12], hdr(2, 0, [0, 0, 0, 0, 1])[..], "DATA_VALID");
    assert_eq!(got[12..], frame[..]);
    // `ethtool -K eth0 rx off`: frames come unmarked, and the driver checks them itself.
    assert_eq!(
        r.command(
            ctrl::CLASS_GUEST_OFFLOADS,
            ctrl::GUEST_OFFLOADS_SET,
            &0u64.to_le_bytes()
        ),
        ctrl::OK
    );
    lb.arrive(frame.clone());
    r.wait_used(RX, 2);
    let got = r.get(bufs[1].1, 12 + 600);
    assert_eq!(got[..12], hdr(0, 0, [0, 0, 0, 0, 1])[..]);
    // A tap without a vnet header (frames from a wire) is offered nothing.
    let plain = Loopback::new(false);
    let r = Rig::loopback(&plain);
    assert_eq!(r.device_features() & f::OFFLOADS, 0);
}

#[test]
fn a_9000_byte_frame_spans_three_4k_mergeable_buffers() {
    let lb = Loopback::new(false);
    let mut r = Rig::loopback(&lb);
    r.init(f::MRG_RXBUF | feature::RING_EVENT_IDX, 3);
    let bufs = r.rx_buffers(RX, 4, 4096);
    let frame = pattern(9000, 4);
    lb.arrive(frame.clone());
    r.wait_used(RX, 3);
    let lens = [4096, 4096, 9012 - 2 * 4096];
    let mut got = Vec::new();
    for (i, &len) in lens.iter().enumerate() {
        assert_eq!(r.used(RX, i as u16), (bufs[i].0, len));
        got.extend(r.get(bufs[i].1, len as usize));
    }
    assert_eq!(got[..12], hdr(0, 0, [0, 0, 0, 0, 3])[..]);
    assert_eq!(got[12..], frame[..]);
    // The fourth buffer is still the driver's.
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(r.used_idx(RX), 3);
    assert_eq!(r.get(bufs[3].1, 16), vec![0xee; 16]);
}

#[test]
fn a_frame_waits_for_buffers_and_comes_after_the_doorbell() {
    let lb = Loopback::new(false);
    let mut r = Rig::loopback(&lb);
    r.init(f::MRG_RXBUF | feature::RING_EVENT_IDX, 3);
    let frame = pattern(9000, 5);
    lb.arrive(frame.clone());
    std::thread::sleep(Duration::from_millis(30));
    assert_eq!(r.used_idx(RX), 0);
    // One buffer is not enough: it goes back to the ring, and the device asks for a doorbell
    // at the next post (avail_event = the driver's index now).
    let first = r.rx_buffers(RX, 1, 4096);
    r.kick(RX);
    std::thread::sleep(Duration::from_millis(30));
    assert_eq!(r.used_idx(RX), 0);
    wait_for(
        || r.avail_event(RX) == 1,
        "avail_event at the driver's index",
    );
    // A second frame queued behind it must not overtake it.
    let second = pattern(60, 6);
    lb.arrive(second.clone());
    let more = r.rx_buffers(RX, 3, 4096);
    r.kick(RX);
    r.wait_used(RX, 4);
    let bufs = [first[0], more[0], more[1]];
    let mut got = Vec::new();
    for (i, b) in bufs.iter().enumerate() {
        let (head, len) = r.used(RX, i as u16);
        assert_eq!(head, b.0);
        got.extend(r.get(b.1, len as usize));
    }
    assert_eq!(got[..12], hdr(0, 0, [0, 0, 0, 0, 3])[..]);
    assert_eq!(got[12..], frame[..]);
    assert_eq!(r.used(RX, 3), (more[2].0, 72));
    assert_eq!(r.get(more[2].1 + 12, 60), second);
    assert_eq!(lb.dropped(), 0);
}

#[test]
fn without_mergeable_buffers_a_frame_needs_one_chain_that_holds_it() {
    let lb = Loopback::new(false);
    let mut r = Rig::loopback(&lb);
    r.init(0, 3);
    // Header and data in separate descriptors, as big-buffer drivers post them.
    let h = r.alloc(12);
    let d1 = r.alloc(1000);
    let d2 = r.alloc(1000);
    let head = r.chain(RX, &[D(h, 12, true), D(d1, 1000, true), D(d2, 1000, true)]);
    r.post(RX, &[head]);
    r.kick(RX);
    let frame = pattern(1500, 7);
    lb.arrive(frame.clone());
    r.wait_used(RX, 1);
    assert_eq!(r.used(RX, 0), (head, 1512));
    assert_eq!(r.get(h, 12), hdr(0, 0, [0, 0, 0, 0, 1]));
    let mut got = r.get(d1, 1000);
    got.extend(r.get(d2, 500));
    assert_eq!(got, frame);
    // A chain too small for the next frame: the frame is dropped, the chain kept for the one
    // after, which fits.
    let small = r.rx_buffers(RX, 1, 200);
    lb.arrive(pattern(1500, 8));
    let fits = pattern(100, 9);
    lb.arrive(fits.clone());
    r.wait_used(RX, 2);
    assert_eq!(r.used(RX, 1), (small[0].0, 112));
    assert_eq!(r.get(small[0].1 + 12, 100), fits);
}

#[test]
fn the_control_queue_sets_queue_pairs_and_refuses_bad_values() {
    let a = Loopback::new(false);
    let b = Loopback::new(false);
    let mut r = Rig::new(
        vec![a.clone() as Arc<dyn Backend>, b.clone()],
        NetOptions::default(),
    );
    let offered = r.device_features();
    assert_ne!(offered & f::MQ, 0);
    assert_eq!(r.config(8, 2), 2, "max_virtqueue_pairs");
    // rx0 tx0 rx1 tx1 ctrl
    r.init(f::MRG_RXBUF | f::CTRL_VQ | f::MQ | f::CTRL_RX, 5);
    let rx0 = r.rx_buffers(0, 2, 2048);
    let rx1 = r.rx_buffers(2, 2, 2048);
    r.kick(0);
    r.kick(2);
    // One pair in use (the default): the second backend's frames go to rx0.
    let f1 = pattern(200, 10);
    b.arrive(f1.clone());
    r.wait_used(0, 1);
    assert_eq!(r.get(rx0[0].1 + 12, 200), f1);
    for bad in [0u16, 3, 0xffff] {
        assert_eq!(
            r.command(ctrl::CLASS_MQ, ctrl::MQ_VQ_PAIRS_SET, &bad.to_le_bytes()),
            ctrl::ERR,
            "{bad} pairs"
        );
    }
    // A wrong length is refused too.
    assert_eq!(
        r.command(ctrl::CLASS_MQ, ctrl::MQ_VQ_PAIRS_SET, &[2]),
        ctrl::ERR
    );
    assert_eq!(
        r.command(ctrl::CLASS_MQ, ctrl::MQ_VQ_PAIRS_SET, &2u16.to_le_bytes()),
        ctrl::OK
    );
    let f2 = pattern(300, 11);
    b.arrive(f2.clone());
    r.wait_used(2, 1);
    assert_eq!(r.get(rx1[0].1 + 12, 300), f2);
    // Each pair transmits on its own backend.
    r.transmit(3, &[&hdr(0, 0, [0; 5]), &f1]);
    r.transmit(1, &[&hdr(0, 0, [0; 5]), &f2]);
    assert_eq!(b.sent(), vec![f1]);
    assert_eq!(a.sent(), vec![f2]);
    // Receive-mode commands are acknowledged; an unknown class, or a command for a feature
    // not negotiated, is not.
    assert_eq!(r.command(ctrl::CLASS_RX, ctrl::RX_PROMISC, &[1]), ctrl::OK);
    assert_eq!(r.command(ctrl::CLASS_RX, ctrl::RX_ALLMULTI, &[0]), ctrl::OK);
    assert_eq!(r.command(9, 0, &[0; 4]), ctrl::ERR);
    assert_eq!(
        r.command(ctrl::CLASS_MAC, ctrl::MAC_ADDR_SET, &[2, 0, 0, 0, 0, 1]),
        ctrl::ERR
    );
    assert_eq!(
        r.command(
            ctrl::CLASS_GUEST_OFFLOADS,
            ctrl::GUEST_OFFLOADS_SET,
            &[0; 8]
        ),
        ctrl::ERR
    );
}

#[test]
fn without_mq_the_control_queue_is_queue_2() {
    let a = Loopback::new(false);
    let b = Loopback::new(false);
    let mut r = Rig::new(
        vec![a.clone() as Arc<dyn Backend>, b.clone()],
        NetOptions::default(),
    );
    r.init(f::MRG_RXBUF | f::CTRL_VQ | f::CTRL_MAC_ADDR, 3);
    let mac = [0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee];
    assert_eq!(
        r.command(ctrl::CLASS_MAC, ctrl::MAC_ADDR_SET, &mac),
        ctrl::OK
    );
    let cfg: Vec<u8> = (0..6).map(|i| r.config(i, 1) as u8).collect();
    assert_eq!(cfg, mac);
    // MQ was not negotiated.
    assert_eq!(
        r.command(ctrl::CLASS_MQ, ctrl::MQ_VQ_PAIRS_SET, &1u16.to_le_bytes()),
        ctrl::ERR
    );
    // A reset brings the original MAC back.
    r.w8(STATUS, 0);
    let cfg: Vec<u8> = (0..6).map(|i| r.config(i, 1) as u8).collect();
    assert_eq!(cfg, MAC);
}

#[test]
fn offloads_are_offered_only_over_a_vnet_header() {
    let dynb = |b: Arc<Loopback>| -> Arc<dyn Backend> { b };
    let plain = Net::new(vec![dynb(Loopback::new(false))], MAC, NetOptions::default()).features();
    assert_eq!(plain & f::OFFLOADS, 0);
    let want = f::MAC | f::STATUS | f::MRG_RXBUF | f::CTRL_VQ | f::CTRL_RX | f::CTRL_MAC_ADDR;
    assert_eq!(plain, want);
    let tap = Net::new(vec![dynb(Loopback::new(true))], MAC, NetOptions::default()).features();
    assert_eq!(tap & f::OFFLOADS, f::OFFLOADS);
    // Two backends: MQ; the user's toggles take bits away, with what depends on them.
    let two = Net::new(
        vec![dynb(Loopback::new(true)), dynb(Loopback::new(true))],
        MAC,
        NetOptions {
            csum: false,
            guest_tso4: false,
            guest_tso6: false,
            mrg_rxbuf: false,
            ..Default::default()
        },
    );
    let t = two.features();
    assert_ne!(t & f::MQ, 0);
    assert_eq!(
        t & (f::CSUM | f::HOST_TSO4 | f::HOST_TSO6 | f::HOST_ECN | f::HOST_UFO),
        0
    );
    assert_eq!(t & (f::GUEST_TSO4 | f::GUEST_TSO6 | f::GUEST_ECN), 0);
    assert_eq!(
        t & (f::GUEST_CSUM | f::GUEST_UFO),
        f::GUEST_CSUM | f::GUEST_UFO
    );
    assert_eq!(t & f::MRG_RXBUF, 0);
    // rx0 tx0 rx1 tx1 ctrl.
    assert_eq!(two.queue_max_sizes().len(), 5);
    let noctrl = Net::new(
        vec![dynb(Loopback::new(true)), dynb(Loopback::new(true))],
        MAC,
        NetOptions {
            ctrl_vq: false,
            ..Default::default()
        },
    );
    assert_eq!(
        noctrl.features() & (f::CTRL_VQ | f::CTRL_RX | f::MQ | f::CTRL_GUEST_OFFLOADS),
        0
    );
    assert_eq!(noctrl.queue_max_sizes().len(), 2);
}

#[test]
fn config_space_has_the_mac_link_status_pairs_and_mtu() {
    let lb = Loopback::new(false);
    let r = Rig::loopback(&lb);
    let mac: Vec<u8> = (0..6).map(|i| r.config(i, 1) as u8).collect();
    assert_eq!(mac, MAC);
    assert_eq!(r.config(6, 2), S_LINK_UP as u64);
    assert_eq!(r.config(8, 2), 1);
    assert_eq!(r.device_features() & f::MTU, 0);
    // Beyond the structure: zeroes.
    assert_eq!(r.config(12, 4), 0);
    let r = Rig::new(
        vec![lb.clone() as Arc<dyn Backend>],
        NetOptions {
            link_up: false,
            mtu: Some(9000),
            ..Default::default()
        },
    );
    assert_eq!(r.config(6, 2), 0);
    assert_eq!(r.config(10, 2), 9000);
    assert_ne!(r.device_features() & f::MTU, 0);
}

#[test]
fn garbage_descriptors_are_survived() {
    let lb = Loopback::new(false);
    let mut r = Rig::loopback(&lb);
    r.init(f::MRG_RXBUF | f::CTRL_VQ | f::CTRL_RX, 3);
    let ok = r.alloc(64);
    // Transmit: outside RAM, at the top of the address space, empty, device-writable, larger
    // than any frame, shorter than a header.
    let bad = [
        vec![D(RAM + 0x1000, 100, false)],
        vec![D(u64::MAX - 10, 100, false)],
        vec![D(ok, 0, false)],
        vec![D(ok, 60, true)],
        vec![D(ok, 12, false), D(ok, 60, true)],
        vec![D(0, 200_000, false)],
        vec![D(ok, 5, false)],
    ];
    let heads: Vec<u16> = bad.iter().map(|ds| r.chain(TX, ds)).collect();
    r.post(TX, &heads);
    r.kick(TX);
    r.wait_used(TX, heads.len() as u16);
    assert!(lb.sent().is_empty());
    let frame = pattern(64, 12);
    r.transmit(TX, &[&hdr(0, 0, [0; 5]), &frame]);
    assert_eq!(lb.sent(), vec![frame.clone()]);
    // Receive: buffers outside RAM, empty, device-readable come back empty; the frame lands
    // in the good one after them.
    let good = r.alloc(2048);
    let heads = [
        r.chain(RX, &[D(RAM - 16, 2048, true)]),
        r.chain(RX, &[D(u64::MAX - 100, 2048, true)]),
        r.chain(RX, &[D(good, 0, true)]),
        r.chain(RX, &[D(good, 2048, false)]),
        r.chain(RX, &[D(good, 2048, true)]),
    ];
    r.post(RX, &heads);
    r.kick(RX);
    lb.arrive(frame.clone());
    r.wait_used(RX, 5);
    for i in 0..4 {
        assert_eq!(r.used(RX, i), (heads[i as usize], 0));
    }
    assert_eq!(r.used(RX, 4), (heads[4], 76));
    assert_eq!(r.get(good + 12, 64), frame);
    // Control: no ack descriptor, an ack outside RAM, a 1-byte header.
    let h = r.alloc(2);
    r.put(h, &[ctrl::CLASS_RX, ctrl::RX_PROMISC]);
    let heads = [
        r.chain(CTRL, &[D(h, 2, false)]),
        r.chain(CTRL, &[D(h, 2, false), D(RAM, 1, true)]),
        r.chain(CTRL, &[D(u64::MAX, 2, false), D(ok, 1, true)]),
        r.chain(CTRL, &[D(h, 1, false), D(ok, 1, true)]),
    ];
    r.post(CTRL, &heads);
    r.kick(CTRL);
    r.wait_used(CTRL, 4);
    assert_eq!(r.used(CTRL, 0), (heads[0], 0));
    assert_eq!(r.used(CTRL, 1), (heads[1], 0));
    assert_eq!(r.get(ok, 1)[0], ctrl::ERR);
    assert_eq!(r.command(ctrl::CLASS_RX, ctrl::RX_PROMISC, &[1]), ctrl::OK);
    // A head beyond the ring and a corrupt avail index: nothing spins, reset returns.
    r.post(TX, &[QSIZE + 3]);
    r.kick(TX);
    r.put(
        avail_at(RX) + 2,
        &(r.vqs[0].avail + QSIZE + 1).to_le_bytes(),
    );
    r.kick(RX);
    lb.arrive(pattern(64, 13));
    std::thread::sleep(Duration::from_millis(20));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        r.w8(STATUS, 0);
        let _ = tx.send(());
        drop(r);
    });
    rx.recv_timeout(Duration::from_secs(5))
        .expect("device reset hangs: an I/O thread spins on a corrupt ring");
}

#[test]
fn reset_stops_delivery_and_a_new_driver_gets_the_waiting_frame() {
    let lb = Loopback::new(false);
    let mut r = Rig::loopback(&lb);
    r.init(f::MRG_RXBUF, 3);
    r.w8(STATUS, 0);
    let frame = pattern(80, 14);
    lb.arrive(frame.clone());
    std::thread::sleep(Duration::from_millis(20));
    r.init(f::MRG_RXBUF, 3);
    let bufs = r.rx_buffers(RX, 1, 2048);
    r.kick(RX);
    r.wait_used(RX, 1);
    assert_eq!(r.get(bufs[0].1 + 12, 80), frame);
}

/// An ARP request for `target` from `mac` at 10.0.2.15.
fn arp_request(mac: [u8; 6], target: [u8; 4]) -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&mac);
    f.extend_from_slice(&[0x08, 0x06]);
    f.extend_from_slice(&[0, 1, 0x08, 0x00, 6, 4, 0, 1]);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&[10, 0, 2, 15]);
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&target);
    f
}

#[test]
fn slirp_answers_an_arp_request_for_the_gateway() {
    let cfg = net::NetdevConfig {
        id: "n0".into(),
        kind: net::NetdevKind::User(net::UserConfig::default()),
    };
    let backends = net::open(&cfg).expect("-netdev user");
    let mut r = Rig::new(backends, NetOptions::default());
    // Slirp's frames are its own: they may be marked DATA_VALID or merged, nothing more.
    assert_eq!(
        r.device_features() & f::OFFLOADS,
        f::GUEST_CSUM | f::GUEST_TSO4 | f::CTRL_GUEST_OFFLOADS
    );
    r.init(f::MRG_RXBUF | f::GUEST_CSUM | feature::RING_EVENT_IDX, 3);
    let bufs = r.rx_buffers(RX, 8, 2048);
    r.kick(RX);
    r.transmit(TX, &[&hdr(0, 0, [0; 5]), &arp_request(MAC, [10, 0, 2, 2])]);
    // Slirp may say other things first (IPv6 router advertisements): look for the reply.
    let t = Instant::now();
    let mut seen = 0;
    loop {
        let n = r.used_idx(RX);
        while seen < n {
            let (head, len) = r.used(RX, seen);
            let at = bufs.iter().find(|b| b.0 == head).expect("a posted head").1;
            let got = r.get(at, len as usize);
            assert_eq!(
                got[..12],
                hdr(2, 0, [0, 0, 0, 0, 1])[..],
                "DATA_VALID, one buffer"
            );
            let frame = &got[12..];
            if frame.len() >= 42 && frame[12..14] == [0x08, 0x06] {
                assert_eq!(frame[0..6], MAC, "to us");
                assert_eq!(frame[20..22], [0, 2], "an ARP reply");
                assert_eq!(frame[28..32], [10, 0, 2, 2], "from the gateway");
                assert_eq!(frame[38..42], [10, 0, 2, 15]);
                return;
            }
            seen += 1;
        }
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "no ARP reply from slirp"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn a_burst_of_one_tcp_stream_arrives_as_one_gso_frame_over_mergeable_buffers() {
    // TCP flags.
    const ACK: u8 = 0x10;
    const PSH: u8 = 0x08;
    let lb = Loopback::with(false, true);
    let mut r = Rig::loopback(&lb);
    r.init(
        f::MRG_RXBUF | f::GUEST_CSUM | f::GUEST_TSO4 | feature::RING_EVENT_IDX,
        3,
    );
    let bufs = r.rx_buffers(RX, 8, 2048);
    r.kick(RX);
    let data = pattern(3000, 7);
    let segs = vec![
        net::test_segment(100, ACK, &data[..1448]),
        net::test_segment(1548, ACK, &data[1448..2896]),
        net::test_segment(2996, ACK | PSH, &data[2896..]),
        // Not the stream's next bytes: delivered on its own after the merged frame.
        net::test_segment(9999, ACK, &data[..100]),
    ];
    let headers = 14 + 20 + 32;
    lb.arrive_all(segs.clone());
    r.wait_used(RX, 3);
    // 12 + 66 + 3000 bytes over two 2048-byte buffers, num_buffers 2.
    let (h0, l0) = r.used(RX, 0);
    let (h1, l1) = r.used(RX, 1);
    assert_eq!((h0, h1), (bufs[0].0, bufs[1].0));
    assert_eq!((l0 + l1) as usize, 12 + headers + 3000);
    let mut got = r.get(bufs[0].1, l0 as usize);
    got.extend(r.get(bufs[1].1, l1 as usize));
    assert_eq!(
        got[..12],
        hdr(1, 1, [headers as u16, 1448, 34, 16, 2])[..],
        "NEEDS_CSUM, GSO_TCPV4, header length, segment size, checksum at 34+16, 2 buffers"
    );
    let frame = &got[12..];
    assert_eq!(frame[headers..], data[..], "the stream's bytes in order");
    assert_eq!(frame[..14], segs[0][..14]);
    assert_eq!(
        u16::from_be_bytes([frame[16], frame[17]]) as usize,
        20 + 32 + 3000,
        "IP total length"
    );
    assert_eq!(frame[47], ACK | PSH);
    // Completed as the guest's stack would, the checksum is the stream's.
    let mut whole = frame.to_vec();
    assert!(matches!(
        net::finish_checksum(&got[..12], &mut whole),
        net::Checksum::Good
    ));
    let (h2, l2) = r.used(RX, 2);
    assert_eq!(h2, bufs[2].0);
    let got = r.get(bufs[2].1, l2 as usize);
    assert_eq!(
        got[..12],
        hdr(2, 0, [0, 0, 0, 0, 1])[..],
        "DATA_VALID alone"
    );
    assert_eq!(got[12..], segs[3][..]);
    // A driver without GUEST_TSO4: nothing is merged.
    r.init(f::MRG_RXBUF | f::GUEST_CSUM | feature::RING_EVENT_IDX, 3);
    let bufs = r.rx_buffers(RX, 8, 2048);
    r.kick(RX);
    lb.arrive_all(segs[..2].to_vec());
    r.wait_used(RX, 2);
    for (i, seg) in segs[..2].iter().enumerate() {
        let (h, l) = r.used(RX, i as u16);
        assert_eq!(h, bufs[i].0);
        assert_eq!(r.get(bufs[i].1, l as usize)[12..], seg[..]);
    }
}
