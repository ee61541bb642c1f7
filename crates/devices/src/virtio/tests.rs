//! virtio-blk behind the virtio-pci transport, driven as a guest driver drives it: split rings
//! laid out by hand in guest RAM (little-endian), registers written through BAR 4, completions
//! observed in the used ring while the device serves on its own I/O thread.

use super::blk::Blk;
use super::pci::{VirtioPci, BAR};
use super::{feature, status};
use crate::msix::MsiSink;
use crate::pci::PciDevice;
use crate::ram::GuestRam;
use crate::Interrupt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const RAM: u64 = 1 << 20;
/// Where the rings and buffers go.
const DESC: u64 = 0x1000;
const AVAIL: u64 = 0x3000;
const USED: u64 = 0x4000;
const INDIRECT: u64 = 0x8000;
const BUF: u64 = 0x1_0000;
const QSIZE: u16 = 16;
/// Image: 64 KiB, a pattern no two sectors share.
const IMAGE: usize = 64 << 10;
const SERIAL: &str = "lpar-test-serial";

/// Common configuration registers.
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
const ISR: u64 = 0x1000;
const NOTIFY: u64 = 0x3000;

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

/// An interrupt line that records every level it is driven to.
#[derive(Default)]
struct Line {
    level: AtomicBool,
    raised: AtomicUsize,
    log: Mutex<Vec<bool>>,
}

impl Interrupt for Line {
    fn pulse(&self) {}
    fn set_level(&self, level: bool) {
        self.level.store(level, Ordering::SeqCst);
        if level {
            self.raised.fetch_add(1, Ordering::SeqCst);
        }
        self.log.lock().unwrap().push(level);
    }
}

/// Records the MSI messages a device sends.
#[derive(Default)]
struct Msgs(Mutex<Vec<(u64, u32)>>);

impl MsiSink for Msgs {
    fn send(&self, addr: u64, data: u32) {
        self.0.lock().unwrap().push((addr, data));
    }
}

fn pattern(i: usize) -> u8 {
    (i * 7 + i / 512) as u8
}

/// One descriptor: guest address, length, device-writable.
#[derive(Clone, Copy)]
struct D(u64, u32, bool);

struct Rig {
    mem: Arc<ppc::GuestMemory>,
    dev: VirtioPci,
    line: Arc<Line>,
    msgs: Arc<Msgs>,
    image: PathBuf,
    /// Driver state: next free descriptor, the avail index published so far.
    next_desc: u16,
    avail: u16,
    indirect_at: u64,
    /// Request frames (header and status) handed out so far.
    frames: u64,
}

impl Drop for Rig {
    fn drop(&mut self) {
        // Stops the I/O thread before the image goes.
        self.dev.reset();
        let _ = std::fs::remove_file(&self.image);
    }
}

impl Rig {
    fn new(name: &str) -> Rig {
        Rig::with(name, false)
    }

    fn with(name: &str, read_only: bool) -> Rig {
        let image =
            std::env::temp_dir().join(format!("lpar-virtio-{}-{name}.img", std::process::id()));
        let data: Vec<u8> = (0..IMAGE).map(pattern).collect();
        std::fs::write(&image, data).unwrap();
        let disk = block::open(&block::Options {
            path: image.clone(),
            read_only,
            ..Default::default()
        })
        .unwrap();
        let mem = Arc::new(ppc::GuestMemory::new(RAM).unwrap());
        let ram = Arc::new(GuestRam::new(mem.clone()).unwrap());
        let line = Arc::new(Line::default());
        let msgs = Arc::new(Msgs::default());
        let dev = VirtioPci::new(
            "virtio-blk-pci",
            Box::new(Blk::new(disk, 1, SERIAL)),
            ram,
            line.clone(),
            msgs.clone(),
        );
        Rig {
            mem,
            dev,
            line,
            msgs,
            image,
            next_desc: 0,
            avail: 0,
            indirect_at: INDIRECT,
            frames: 0,
        }
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
    fn status(&self) -> u8 {
        self.r(STATUS, 1) as u8
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

    /// The features the device offers.
    fn device_features(&self) -> u64 {
        self.w32(DFSELECT, 0);
        let lo = self.r(DF, 4);
        self.w32(DFSELECT, 1);
        lo | self.r(DF, 4) << 32
    }

    /// Negotiates `features`; whether the device accepted them (FEATURES_OK reads back set).
    fn negotiate(&self, features: u64) -> bool {
        self.w8(STATUS, 0);
        self.w8(STATUS, status::ACKNOWLEDGE);
        self.w8(STATUS, status::ACKNOWLEDGE | status::DRIVER);
        self.w32(GFSELECT, 0);
        self.w32(GF, features as u32);
        self.w32(GFSELECT, 1);
        self.w32(GF, (features >> 32) as u32);
        self.w8(
            STATUS,
            status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK,
        );
        self.status() & status::FEATURES_OK != 0
    }

    /// Zeroes the rings and programs queue 0 at the usual places, with `size` entries.
    fn setup_queue(&mut self, size: u16) {
        assert!(self.mem.fill(DESC, 16 * 256, 0));
        assert!(self.mem.fill(AVAIL, 0x1000, 0));
        assert!(self.mem.fill(USED, 0x1000, 0));
        self.w16(Q_SELECT, 0);
        self.w16(Q_SIZE, size);
        assert_eq!(self.r(Q_SIZE, 2), size as u64);
        self.w64(Q_DESC, DESC);
        self.w64(Q_DRIVER, AVAIL);
        self.w64(Q_DEVICE, USED);
        self.w16(Q_ENABLE, 1);
        self.next_desc = 0;
        self.avail = 0;
        self.indirect_at = INDIRECT;
    }

    /// A driver's whole initialisation with `extra` features beyond VERSION_1.
    fn init(&mut self, extra: u64) {
        assert!(self.negotiate(feature::VERSION_1 | extra));
        self.setup_queue(QSIZE);
        self.w8(
            STATUS,
            status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK | status::DRIVER_OK,
        );
        assert_eq!(self.status() & status::NEEDS_RESET, 0);
    }

    /// Writes descriptor `i` of the table at `table`.
    fn desc(&self, table: u64, i: u16, d: D, flags: u16, next: u16) {
        let mut b = [0u8; 16];
        b[0..8].copy_from_slice(&d.0.to_le_bytes());
        b[8..12].copy_from_slice(&d.1.to_le_bytes());
        let f = flags | if d.2 { WRITE } else { 0 };
        b[12..14].copy_from_slice(&f.to_le_bytes());
        b[14..16].copy_from_slice(&next.to_le_bytes());
        self.put(table + 16 * i as u64, &b);
    }

    /// Writes a chain into the descriptor table; returns its head.
    fn chain(&mut self, ds: &[D]) -> u16 {
        let head = self.next_desc;
        for (k, &d) in ds.iter().enumerate() {
            let i = (head + k as u16) % QSIZE;
            let last = k + 1 == ds.len();
            let next = (i + 1) % QSIZE;
            self.desc(DESC, i, d, if last { 0 } else { NEXT }, next);
        }
        self.next_desc = (head + ds.len() as u16) % QSIZE;
        head
    }

    /// Writes a chain as an indirect table, referenced by one descriptor; returns its head.
    fn indirect_chain(&mut self, ds: &[D]) -> u16 {
        let table = self.indirect_at;
        for (k, &d) in ds.iter().enumerate() {
            let last = k + 1 == ds.len();
            self.desc(
                table,
                k as u16,
                d,
                if last { 0 } else { NEXT },
                k as u16 + 1,
            );
        }
        self.indirect_at += 16 * ds.len() as u64;
        let head = self.next_desc;
        self.desc(
            DESC,
            head,
            D(table, 16 * ds.len() as u32, false),
            F_INDIRECT,
            0,
        );
        self.next_desc = (head + 1) % QSIZE;
        head
    }

    /// Makes heads available (without ringing the doorbell).
    fn post(&mut self, heads: &[u16]) {
        for &h in heads {
            let slot = AVAIL + 4 + 2 * (self.avail % QSIZE) as u64;
            self.put(slot, &h.to_le_bytes());
            self.avail = self.avail.wrapping_add(1);
        }
        self.put(AVAIL + 2, &self.avail.to_le_bytes());
    }

    fn kick(&self) {
        self.w16(NOTIFY, 0);
    }

    fn used_idx(&self) -> u16 {
        self.get16(USED + 2)
    }

    /// Waits until the used index reaches `n`; panics after a few seconds.
    fn wait_used(&self, n: u16) {
        let t = Instant::now();
        while self.used_idx() != n {
            assert!(
                t.elapsed() < Duration::from_secs(5),
                "used index stuck at {} waiting for {n}",
                self.used_idx()
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Used element `i`: (head, length).
    fn used(&self, i: u16) -> (u32, u32) {
        let b = self.get(USED + 4 + 8 * (i % QSIZE) as u64, 8);
        (
            u32::from_le_bytes(b[0..4].try_into().unwrap()),
            u32::from_le_bytes(b[4..8].try_into().unwrap()),
        )
    }

    /// A request header at `at`.
    fn header(&self, at: u64, ty: u32, sector: u64) -> D {
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&ty.to_le_bytes());
        h[8..16].copy_from_slice(&sector.to_le_bytes());
        self.put(at, &h);
        D(at, 16, false)
    }

    /// Posts one request (header, data, status) as a direct chain, rings and waits; returns the
    /// status byte and the used length.
    fn request(&mut self, ty: u32, sector: u64, data: &[D]) -> (u8, u32) {
        let (hdr, st) = self.frame(ty, sector);
        let mut ds = vec![hdr];
        ds.extend_from_slice(data);
        ds.push(st);
        let head = self.chain(&ds);
        self.complete(head, st)
    }

    /// A header and a status descriptor (status preset to 0xff) in a fresh area.
    fn frame(&mut self, ty: u32, sector: u64) -> (D, D) {
        let at = BUF + 0x8_0000 + 0x100 * (self.frames % 0x600);
        self.frames += 1;
        let hdr = self.header(at, ty, sector);
        self.put(at + 0x20, &[0xff]);
        (hdr, D(at + 0x20, 1, true))
    }

    fn complete(&mut self, head: u16, st: D) -> (u8, u32) {
        self.post(&[head]);
        self.kick();
        self.wait_used(self.avail);
        let (id, len) = self.used(self.avail - 1);
        assert_eq!(id, head as u32, "used element names the head");
        (self.get(st.0, 1)[0], len)
    }

    fn file(&self) -> Vec<u8> {
        std::fs::read(&self.image).unwrap()
    }
}

#[test]
fn reads_return_the_image_bytes() {
    let mut r = Rig::new("read");
    r.init(0);
    // Two sectors from sector 3, scattered over two buffers of unequal size.
    r.put(BUF, &[0xee; 1024]);
    let (st, len) = r.request(T_IN, 3, &[D(BUF, 100, true), D(BUF + 0x200, 924, true)]);
    assert_eq!((st, len), (S_OK, 1024 + 1));
    let want: Vec<u8> = (3 * 512..5 * 512).map(pattern).collect();
    let mut got = r.get(BUF, 100);
    got.extend(r.get(BUF + 0x200, 924));
    assert_eq!(got, want);
    // The capacity the device reports: sectors of the image.
    assert_eq!(r.r(0x2000, 8), (IMAGE / 512) as u64);
}

#[test]
fn writes_land_in_the_file_and_flush_completes() {
    let mut r = Rig::new("write");
    r.init(0);
    r.put(BUF, &[0xa5; 512]);
    r.put(BUF + 0x1000, &[0x5a; 512]);
    let (st, len) = r.request(T_OUT, 7, &[D(BUF, 512, false), D(BUF + 0x1000, 512, false)]);
    assert_eq!((st, len), (S_OK, 1));
    let (st, _) = r.request(T_FLUSH, 0, &[]);
    assert_eq!(st, S_OK);
    let f = r.file();
    assert!(f[7 * 512..8 * 512].iter().all(|&b| b == 0xa5));
    assert!(f[8 * 512..9 * 512].iter().all(|&b| b == 0x5a));
    assert_eq!(f[6 * 512 + 511], pattern(6 * 512 + 511));
    assert_eq!(f[9 * 512], pattern(9 * 512));
    assert_eq!(f.len(), IMAGE);
}

#[test]
fn get_id_returns_the_serial() {
    let mut r = Rig::new("getid");
    r.init(0);
    r.put(BUF, &[0xcc; 32]);
    let (st, len) = r.request(T_GET_ID, 0, &[D(BUF, 32, true)]);
    assert_eq!((st, len), (S_OK, 20 + 1));
    let mut want = SERIAL.as_bytes().to_vec();
    want.resize(20, 0);
    assert_eq!(r.get(BUF, 20), want);
    // Only the 20 bytes of the answer are written.
    assert_eq!(r.get(BUF + 20, 12), vec![0xcc; 12]);
}

#[test]
fn requests_beyond_the_disk_fail_and_leave_the_file_alone() {
    let mut r = Rig::new("beyond");
    r.init(0);
    let last = (IMAGE / 512) as u64 - 1;
    r.put(BUF, &[0x11; 1024]);
    // The last sector plus one more.
    let (st, len) = r.request(T_OUT, last, &[D(BUF, 1024, false)]);
    assert_eq!((st, len), (S_IOERR, 1));
    // A sector number whose byte offset overflows.
    let (st, _) = r.request(T_OUT, u64::MAX / 256, &[D(BUF, 512, false)]);
    assert_eq!(st, S_IOERR);
    let (st, _) = r.request(T_IN, u64::MAX, &[D(BUF, 512, true)]);
    assert_eq!(st, S_IOERR);
    // Not a whole number of sectors.
    let (st, _) = r.request(T_OUT, 0, &[D(BUF, 100, false)]);
    assert_eq!(st, S_IOERR);
    // A read into a device-readable buffer, a write from a device-writable one.
    let (st, _) = r.request(T_IN, 0, &[D(BUF, 512, false)]);
    assert_eq!(st, S_IOERR);
    let (st, _) = r.request(T_OUT, 0, &[D(BUF, 512, true)]);
    assert_eq!(st, S_IOERR);
    assert_eq!(r.file(), (0..IMAGE).map(pattern).collect::<Vec<_>>());
    // The last sector alone is fine.
    let (st, _) = r.request(T_OUT, last, &[D(BUF, 512, false)]);
    assert_eq!(st, S_OK);
}

#[test]
fn a_read_only_disk_refuses_writes() {
    let mut r = Rig::with("ro", true);
    assert_ne!(r.device_features() & super::blk::F_RO, 0);
    r.init(super::blk::F_RO);
    r.put(BUF, &[0x22; 512]);
    let (st, _) = r.request(T_OUT, 0, &[D(BUF, 512, false)]);
    assert_eq!(st, S_IOERR);
    assert_eq!(r.file(), (0..IMAGE).map(pattern).collect::<Vec<_>>());
}

#[test]
fn an_unknown_request_type_is_unsupported() {
    let mut r = Rig::new("unsupp");
    r.init(0);
    let (st, len) = r.request(0x55, 0, &[D(BUF, 512, true)]);
    assert_eq!((st, len), (S_UNSUPP, 1));
    // DISCARD (11) is not offered either.
    let (st, _) = r.request(11, 0, &[D(BUF, 16, false)]);
    assert_eq!(st, S_UNSUPP);
}

#[test]
fn indirect_descriptors_work() {
    let mut r = Rig::new("indirect");
    assert_ne!(r.device_features() & feature::RING_INDIRECT_DESC, 0);
    r.init(feature::RING_INDIRECT_DESC);
    let (hdr, st) = r.frame(T_IN, 2);
    let head = r.indirect_chain(&[hdr, D(BUF, 512, true), D(BUF + 512, 512, true), st]);
    let (s, len) = r.complete(head, st);
    assert_eq!((s, len), (S_OK, 1024 + 1));
    let want: Vec<u8> = (2 * 512..4 * 512).map(pattern).collect();
    assert_eq!(r.get(BUF, 1024), want);
    // An indirect table inside an indirect table is refused without harm, and the queue goes on.
    let inner = r.indirect_at;
    r.desc(inner, 0, D(INDIRECT, 64, false), F_INDIRECT, 0);
    r.indirect_at += 16;
    let head = r.next_desc;
    r.desc(DESC, head, D(inner, 16, false), F_INDIRECT, 0);
    r.next_desc += 1;
    r.post(&[head]);
    r.kick();
    r.wait_used(r.avail);
    let (s, _) = r.request(T_FLUSH, 0, &[]);
    assert_eq!(s, S_OK);
}

#[test]
fn buffers_outside_ram_are_an_io_error() {
    let mut r = Rig::new("outside");
    r.init(0);
    // Straddling the end of RAM, wholly beyond it, and at the top of the address space.
    for at in [RAM - 256, RAM, 1 << 40, u64::MAX - 511] {
        let (st, len) = r.request(T_IN, 0, &[D(at, 512, true)]);
        assert_eq!((st, len), (S_IOERR, 1), "buffer at {at:#x}");
        let (st, _) = r.request(T_OUT, 0, &[D(at, 512, false)]);
        assert_eq!(st, S_IOERR, "buffer at {at:#x}");
    }
    // A GET_ID answer that does not fit in RAM.
    let (st, _) = r.request(T_GET_ID, 0, &[D(RAM - 4, 20, true)]);
    assert_eq!(st, S_IOERR);
    // A header outside RAM: not a request at all, returned with nothing written.
    let st = D(BUF, 1, true);
    r.put(BUF, &[0xff]);
    let head = r.chain(&[D(RAM + 0x1000, 16, false), st]);
    let (s, len) = r.complete(head, st);
    assert_eq!((s, len), (0xff, 0));
    assert_eq!(r.file(), (0..IMAGE).map(pattern).collect::<Vec<_>>());
}

#[test]
fn a_descriptor_loop_is_not_followed_forever() {
    let mut r = Rig::new("loop");
    r.init(0);
    let hdr = r.header(BUF, T_IN, 0);
    // 0 -> 1 -> 0 -> ...
    r.desc(DESC, 0, hdr, NEXT, 1);
    r.desc(DESC, 1, D(BUF + 0x1000, 512, true), NEXT, 0);
    r.next_desc = 2;
    r.post(&[0]);
    r.kick();
    r.wait_used(1);
    // The device is still usable.
    let (st, _) = r.request(T_FLUSH, 0, &[]);
    assert_eq!(st, S_OK);
    // The same through an indirect table that points back at itself.
    r.init(feature::RING_INDIRECT_DESC);
    let t = INDIRECT;
    r.desc(t, 0, hdr, NEXT, 1);
    r.desc(t, 1, D(BUF + 0x1000, 512, true), NEXT, 0);
    r.desc(DESC, 0, D(t, 32, false), F_INDIRECT, 0);
    r.next_desc = 1;
    r.indirect_at = t + 32;
    r.post(&[0]);
    r.kick();
    r.wait_used(1);
    let (st, _) = r.request(T_FLUSH, 0, &[]);
    assert_eq!(st, S_OK);
}

#[test]
fn event_index_suppresses_interrupts_without_losing_completions() {
    let mut r = Rig::new("eventidx");
    assert_ne!(r.device_features() & feature::RING_EVENT_IDX, 0);
    r.init(feature::RING_EVENT_IDX);
    let used_event = AVAIL + 4 + 2 * QSIZE as u64;
    // Interrupt wanted after the first completion (used_event 0).
    r.put(used_event, &0u16.to_le_bytes());
    let (st, _) = r.request(T_FLUSH, 0, &[]);
    assert_eq!(st, S_OK);
    wait_for(
        || r.line.level.load(Ordering::SeqCst),
        "interrupt after completion 1",
    );
    assert_eq!(r.r(ISR, 1), 1);
    assert!(!r.line.level.load(Ordering::SeqCst));
    // Not before the fifth completion (used_event 4): completions 2..4 raise nothing.
    r.put(used_event, &4u16.to_le_bytes());
    for _ in 0..3 {
        let (st, _) = r.request(T_FLUSH, 0, &[]);
        assert_eq!(st, S_OK);
    }
    // The device published where it wants the next doorbell (avail_event = its next index).
    assert_eq!(r.get16(USED + 4 + 8 * QSIZE as u64), 4);
    assert!(!r.line.level.load(Ordering::SeqCst));
    assert_eq!(r.r(ISR, 1), 0);
    // A batch of four: every one completes, and the fifth completion interrupts.
    let mut heads = Vec::new();
    let mut sts = Vec::new();
    for k in 0..4 {
        let (hdr, st) = r.frame(T_IN, k);
        sts.push(st);
        heads.push(r.chain(&[hdr, D(BUF + 512 * k, 512, true), st]));
    }
    r.post(&heads);
    r.kick();
    r.wait_used(8);
    for st in sts {
        assert_eq!(r.get(st.0, 1)[0], S_OK);
    }
    wait_for(
        || r.line.level.load(Ordering::SeqCst),
        "interrupt at used_event",
    );
    assert_eq!(r.r(ISR, 1), 1);
}

fn wait_for(mut f: impl FnMut() -> bool, what: &str) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < Duration::from_secs(5), "timed out: {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn the_line_rises_on_completion_and_falls_when_isr_is_read() {
    let mut r = Rig::new("isr");
    r.init(0);
    assert!(!r.line.level.load(Ordering::SeqCst));
    let (st, _) = r.request(T_FLUSH, 0, &[]);
    assert_eq!(st, S_OK);
    wait_for(|| r.line.level.load(Ordering::SeqCst), "interrupt");
    // Reading ISR returns the queue bit, clears it and drops the line.
    assert_eq!(r.r(ISR, 1), super::ISR_QUEUE as u64);
    assert!(!r.line.level.load(Ordering::SeqCst));
    assert_eq!(r.r(ISR, 1), 0);
    assert_eq!(r.line.raised.load(Ordering::SeqCst), 1);
}

#[test]
fn reset_stops_the_device_and_it_can_start_again() {
    let mut r = Rig::new("reset");
    r.init(0);
    let (st, _) = r.request(T_FLUSH, 0, &[]);
    assert_eq!(st, S_OK);
    r.w8(STATUS, 0);
    assert_eq!(r.status(), 0);
    assert_eq!(r.r(Q_ENABLE, 2), 0);
    assert_eq!(r.r(Q_SIZE, 2), 256);
    assert_eq!(r.r(Q_DESC, 8), 0);
    assert!(!r.line.level.load(Ordering::SeqCst));
    // A request posted now is not served: nothing runs.
    let (hdr, st) = r.frame(T_FLUSH, 0);
    let head = r.chain(&[hdr, st]);
    r.post(&[head]);
    r.kick();
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(r.used_idx(), 1);
    // Initialised again, on fresh rings, it serves from the start.
    r.init(0);
    let (st, _) = r.request(T_IN, 1, &[D(BUF, 512, true)]);
    assert_eq!(st, S_OK);
    assert_eq!(r.used_idx(), 1);
    // A buffer made available before DRIVER_OK is served at DRIVER_OK.
    assert!(r.negotiate(feature::VERSION_1));
    r.setup_queue(QSIZE);
    let (hdr, st) = r.frame(T_GET_ID, 0);
    let head = r.chain(&[hdr, D(BUF, 20, true), st]);
    r.post(&[head]);
    r.w8(
        STATUS,
        status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK | status::DRIVER_OK,
    );
    r.wait_used(1);
    assert_eq!(r.get(st.0, 1)[0], S_OK);
}

#[test]
fn features_not_offered_are_refused() {
    let r = Rig::new("features");
    let offered = r.device_features();
    assert_ne!(offered & feature::VERSION_1, 0);
    // Bit 0 (legacy BARRIER) is not offered.
    assert_eq!(offered & 1, 0);
    assert!(!r.negotiate(feature::VERSION_1 | 1));
    // Nor a bit beyond the first 64.
    assert!(!r.negotiate(feature::VERSION_1 | 1 << 63));
    // A legacy driver (no VERSION_1).
    assert!(!r.negotiate(offered & !feature::VERSION_1));
    // Everything offered is accepted.
    assert!(r.negotiate(offered));
    // DRIVER_OK without FEATURES_OK does not start the device.
    assert!(!r.negotiate(1));
    r.w8(
        STATUS,
        status::ACKNOWLEDGE | status::DRIVER | status::DRIVER_OK,
    );
    assert_eq!(r.status() & status::FEATURES_OK, 0);
}

#[test]
fn a_corrupt_avail_index_does_not_wedge_the_device() {
    let mut r = Rig::new("availjump");
    r.init(0);
    let (st, _) = r.request(T_FLUSH, 0, &[]);
    assert_eq!(st, S_OK);
    // The index runs more than a ring ahead of what the device consumed: virtio-queue refuses
    // to pop, and the I/O thread must not spin on it.
    r.put(AVAIL + 2, &(1 + QSIZE + 1).to_le_bytes());
    r.kick();
    std::thread::sleep(Duration::from_millis(20));
    reset_must_return(r, "the I/O thread spins on the corrupt avail index");
}

/// Resets the device from another thread; fails if that does not come back (the I/O thread,
/// which a reset joins, is spinning).
fn reset_must_return(r: Rig, why: &str) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        r.w8(STATUS, 0);
        let _ = tx.send(());
        drop(r);
    });
    if rx.recv_timeout(Duration::from_secs(5)).is_err() {
        panic!("device reset hangs: {why}");
    }
}

#[test]
fn an_avail_ring_at_address_0_does_not_wedge_the_device() {
    let mut r = Rig::new("avail0");
    assert!(r.negotiate(feature::VERSION_1));
    r.setup_queue(QSIZE);
    // Address 0 is a valid ring address, but virtio-queue takes it for "not set up" and pops
    // nothing, while the index there says a request is waiting.
    r.w64(Q_DRIVER, 0);
    r.put(0, &[0, 0, 1, 0]);
    r.w8(
        STATUS,
        status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK | status::DRIVER_OK,
    );
    r.kick();
    std::thread::sleep(Duration::from_millis(20));
    reset_must_return(r, "the I/O thread spins on an avail ring it cannot read");
}

/// A ring address that breaks the split ring's alignment (desc 16, avail 2, used 4) makes
/// activation fail (NEEDS_RESET) rather than serve some other address as that ring.
#[test]
fn misaligned_ring_addresses_are_refused() {
    let mut r = Rig::new("misaligned");
    assert!(r.negotiate(feature::VERSION_1));
    r.setup_queue(QSIZE);
    r.w64(Q_DEVICE, USED + 2);
    r.w8(
        STATUS,
        status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK | status::DRIVER_OK,
    );
    assert_ne!(r.status() & status::NEEDS_RESET, 0);
}

#[test]
fn with_msix_enabled_a_completion_sends_the_queue_vector_and_not_intx() {
    let mut r = Rig::new("msix");
    // Find the MSI-X capability (id 0x11) and enable it, as the bridge does for the OS.
    let mut cap = r.dev.config_read(0x34, 1) as usize;
    while r.dev.config_read(cap, 1) != 0x11 {
        cap = r.dev.config_read(cap + 1, 1) as usize;
        assert_ne!(cap, 0, "no MSI-X capability");
    }
    r.dev.config_write(cap + 2, 2, 0x8000);
    // Entry 1: address, data, unmasked (BAR 1 holds the table).
    r.dev.bar_write(1, 16, &0xfee0_0000u64.to_le_bytes());
    r.dev.bar_write(1, 24, &0x42u32.to_le_bytes());
    r.dev.bar_write(1, 28, &0u32.to_le_bytes());
    assert!(r.negotiate(feature::VERSION_1));
    r.setup_queue(QSIZE);
    r.w16(0x1a, 1);
    assert_eq!(r.r(0x1a, 2), 1);
    // A vector the table does not have reads back as "none".
    r.w16(0x10, 7);
    assert_eq!(r.r(0x10, 2), 0xffff);
    r.w8(
        STATUS,
        status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK | status::DRIVER_OK,
    );
    let (st, _) = r.request(T_FLUSH, 0, &[]);
    assert_eq!(st, S_OK);
    wait_for(|| !r.msgs.0.lock().unwrap().is_empty(), "MSI message");
    assert_eq!(*r.msgs.0.lock().unwrap(), vec![(0xfee0_0000, 0x42)]);
    assert_eq!(r.line.raised.load(Ordering::SeqCst), 0);
    assert_eq!(r.r(ISR, 1), 0);
}
