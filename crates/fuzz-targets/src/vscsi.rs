//! `vscsi`: spapr-vscsi (PowerVM virtual SCSI over a CRQ) driven by a guest of arbitrary
//! behaviour, on a fresh 256 KiB of guest RAM: TCE entries (any window page to any real page, in
//! RAM or beyond, any permissions), CRQ registrations (aligned or not, any size, mapped or not),
//! frees, H_VIO_SIGNAL, raw 16-byte messages and structured ones naming IUs built from fuzz
//! choices: SRP logins, task management, commands (INQUIRY, READ/WRITE(10), REPORT LUNS... or
//! random CDBs, to existing, missing and malformed LUNs) with direct or indirect descriptors
//! (inline, in a table in guest memory, wild), MADs; ring consumption, guest stores,
//! H_COPY_RDMA and resets. Messages are served on the device's I/O thread; the harness waits for
//! it after each one.
//!
//! Invariants besides "no panic" (on the I/O thread too, which must stay alive): H_REG_CRQ
//! succeeds exactly when a model of the window says so; H_SEND_CRQ answers H_RESOURCE exactly
//! when no ring is registered, else H_SUCCESS; the device writes guest memory only in pages some
//! TCE maps writable, and the disk's scatter lists lie in guest RAM in pages TCEs map with the
//! access's permission; in the ring, a message changes at most the one slot at the device's
//! position, which was free and then holds a payload or init entry (checked when nothing the
//! step names aliases the ring); a well-formed IU readable through the window gets exactly one
//! reply naming its tag when the ring had room; the interrupt pulses once per entry exactly
//! when enabled; a reset leaves no ring.
//!
//! Input: operations, each a selector byte and its arguments (see `Harness::run`).

use crate::input::Input;
use block::BlockBackend;
use ppc::GuestMemory;
use spapr::hcall::{H_PARAMETER, H_PERMISSION, H_RESOURCE, H_SUCCESS};
use spapr::irq::{Intc, IrqLine};
use spapr::tce::{TceTable, TCE_READ, TCE_WRITE};
use spapr::vio::crq::{self, CrqDevice};
use spapr::vio::vscsi::{self, Vscsi};
use spapr::vio::VioDevice;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const RAM: u64 = 256 << 10;
const PAGE: u64 = 4096;
const REG: u32 = 0x7100_0003;
/// Window pages the harness maps and names most of the time.
const NEAR: u64 = 32;
const MAX_OPS: usize = 48;
const IMAGE: u64 = 1 << 20;
/// Target 0 LUN 0 as Linux addresses it; a CD-ROM sits at target 1 LUN 2.
const LUN0: u64 = 0x8000 << 48;
const LUN_CD: u64 = 0x8102 << 48;

// ---- the disk ----------------------------------------------------------------------------------

/// Real pages TCEs map readable and writable (the model's view, updated between steps).
#[derive(Default)]
struct Perms {
    read: HashSet<u64>,
    write: HashSet<u64>,
}

/// The image behind a backend that checks every scatter list the device hands it.
struct Checked {
    inner: Arc<dyn BlockBackend>,
    mem: Arc<GuestMemory>,
    perms: Arc<Mutex<Perms>>,
}

impl Checked {
    fn check(&self, device_writes: bool, iov: &[libc::iovec]) {
        let perms = self.perms.lock().expect("perms");
        let set = if device_writes {
            &perms.write
        } else {
            &perms.read
        };
        for v in iov.iter().filter(|v| v.iov_len != 0) {
            let real = self.mem.real_addr_of(v.iov_base as *mut u8);
            let len = v.iov_len as u64;
            assert!(
                real.checked_add(len).is_some_and(|e| e <= RAM),
                "scatter list outside guest RAM: {real:#x}+{len:#x}"
            );
            for p in real / PAGE..=(real + len - 1) / PAGE {
                assert!(
                    set.contains(&p),
                    "disk DMA ({}) at real page {p:#x}, which no TCE maps so",
                    if device_writes { "data-in" } else { "data-out" }
                );
            }
        }
    }
}

impl BlockBackend for Checked {
    fn size(&self) -> u64 {
        self.inner.size()
    }
    fn read_only(&self) -> bool {
        self.inner.read_only()
    }
    unsafe fn readv(&self, iov: &[libc::iovec], offset: u64) -> std::io::Result<()> {
        self.check(true, iov);
        // SAFETY: the caller's guarantee, passed on.
        unsafe { self.inner.readv(iov, offset) }
    }
    unsafe fn writev(&self, iov: &[libc::iovec], offset: u64) -> std::io::Result<()> {
        self.check(false, iov);
        // SAFETY: the caller's guarantee, passed on.
        unsafe { self.inner.writev(iov, offset) }
    }
    fn flush(&self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn open_image() -> Arc<dyn BlockBackend> {
    static N: AtomicUsize = AtomicUsize::new(0);
    let path = std::env::temp_dir().join(format!(
        "lpar-fuzz-vscsi-{}-{}.img",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let f = std::fs::File::create(&path).expect("create the image");
    f.set_len(IMAGE).expect("size the image");
    drop(f);
    let b = block::open(&block::Options {
        path: path.clone(),
        format: Some(block::Format::Raw),
        // Flushes are no-ops: a fuzzer must not wait for the host disk.
        cache: block::Cache::Unsafe,
        ..Default::default()
    })
    .expect("open the image");
    // The descriptor keeps the file; nothing is left behind.
    let _ = std::fs::remove_file(&path);
    b
}

thread_local! {
    /// One image per thread (an image is locked by its writer).
    static DISK: Arc<dyn BlockBackend> = open_image();
}

// ---- interrupts --------------------------------------------------------------------------------

#[derive(Default)]
struct Pulses(AtomicUsize);

impl Intc for Pulses {
    fn pulse(&self, _irq: u32) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
    fn set_level(&self, _irq: u32, _level: bool) {}
    fn set_lsi(&self, _irq: u32, _lsi: bool) {}
}

// ---- the harness -------------------------------------------------------------------------------

fn be64(b: &[u8]) -> u64 {
    b.iter().take(8).fold(0, |a, &x| a << 8 | x as u64)
}

/// What a step expects of the ring.
struct Expect {
    /// Nothing the step names aliases the ring: its slots can be checked.
    clean: bool,
    /// The reply the step must produce: (first byte, format or second byte, tag).
    reply: Option<(u8, u8, Option<[u8; 8]>)>,
}

/// State before a step.
struct Before {
    ring: Option<crq::Ring>,
    pulses: usize,
}

struct Harness {
    mem: Arc<GuestMemory>,
    vs: Vscsi,
    table: Arc<TceTable>,
    /// Window page → TCE, as the harness set them.
    tces: HashMap<u64, u64>,
    perms: Arc<Mutex<Perms>>,
    pulses: Arc<Pulses>,
    signal: bool,
    tag: u64,
    /// Guest memory before and after a step (kept from step to step: no allocation per step).
    snap: Vec<u8>,
    now: Vec<u8>,
}

impl Harness {
    fn new() -> Harness {
        let mem = Arc::new(GuestMemory::new(RAM).expect("guest memory"));
        let perms = Arc::new(Mutex::new(Perms::default()));
        let inner = DISK.with(|d| d.clone());
        let disk: Arc<dyn BlockBackend> = Arc::new(Checked {
            inner,
            mem: mem.clone(),
            perms: perms.clone(),
        });
        let mut bus = devices::scsi::Bus::new();
        bus.attach(
            0,
            0,
            devices::scsi::ScsiDisk::new(disk.clone(), devices::scsi::Kind::Disk, "s0", ""),
        )
        .expect("attach the disk");
        bus.attach(
            1,
            2,
            devices::scsi::ScsiDisk::new(disk, devices::scsi::Kind::Cdrom, "", ""),
        )
        .expect("attach the CD-ROM");
        let pulses = Arc::new(Pulses::default());
        let irq = IrqLine::new(pulses.clone(), 0x1103, false);
        let vs = Vscsi::new(REG, irq, mem.clone(), bus);
        let table = vs.dma().expect("a DMA window").clone();
        Harness {
            mem,
            vs,
            table,
            tces: HashMap::new(),
            perms,
            pulses,
            signal: false,
            tag: 0,
            snap: vec![0; RAM as usize],
            now: vec![0; RAM as usize],
        }
    }

    // ---- the model of the window ----

    fn update_perms(&self) {
        let mut p = self.perms.lock().expect("perms");
        p.read.clear();
        p.write.clear();
        for &tce in self.tces.values() {
            let page = tce / PAGE;
            if tce & TCE_READ != 0 {
                p.read.insert(page);
            }
            if tce & TCE_WRITE != 0 {
                p.write.insert(page);
            }
        }
    }

    /// The real address bus address `ioba` reaches with permissions `need`, if in RAM.
    fn real(&self, ioba: u64, need: u64) -> Option<u64> {
        let tce = *self.tces.get(&(ioba / PAGE))?;
        let real = (tce & !(PAGE - 1)) | (ioba & (PAGE - 1));
        (tce & need == need && tce & (TCE_READ | TCE_WRITE) != 0 && real < RAM).then_some(real)
    }

    /// Whether every page of the range is mapped with `need` into RAM.
    fn mapped(&self, ioba: u64, len: u64, need: u64) -> bool {
        let Some(end) = ioba.checked_add(len) else {
            return false;
        };
        let mut at = ioba;
        while at < end {
            if self.real(at, need).is_none() {
                return false;
            }
            at = (at / PAGE + 1) * PAGE;
        }
        true
    }

    /// Real pages the window range `[ioba, ioba + len)` reaches (any permission).
    fn pages_of(&self, ioba: u64, len: u64, out: &mut HashSet<u64>) {
        let end = ioba.saturating_add(len);
        for (&wp, &tce) in &self.tces {
            let (a, b) = (wp * PAGE, wp * PAGE + PAGE);
            if a < end && ioba < b {
                out.insert(tce / PAGE);
            }
        }
    }

    /// The guest's CPU stores `data` at bus address `ioba` (through its own mapping of the
    /// pages, whatever the TCE permissions).
    fn store(&self, ioba: u64, data: &[u8]) {
        for (i, b) in data.iter().enumerate() {
            if let Some(r) = ioba.checked_add(i as u64).and_then(|a| self.real(a, 0)) {
                let _ = self.mem.write(r, &[*b]);
            }
        }
    }

    /// What the device reads at `ioba` (zero where it could not).
    fn load(&self, ioba: u64, n: usize) -> Vec<u8> {
        (0..n as u64)
            .map(|i| {
                let mut b = [0u8];
                if let Some(r) = ioba.checked_add(i).and_then(|a| self.real(a, TCE_READ)) {
                    let _ = self.mem.read(r, &mut b);
                }
                b[0]
            })
            .collect()
    }

    /// Real pages of the registered ring, if each is mapped read/write into RAM and nothing
    /// else in the window reaches them (else the ring's slots cannot be told from data).
    fn exclusive_ring(&self, r: &crq::Ring) -> Option<HashSet<u64>> {
        let (first, last) = (r.ioba / PAGE, (r.ioba + r.len - 1) / PAGE);
        let mut pages = HashSet::new();
        for wp in first..=last {
            let real = self.real(wp * PAGE, TCE_READ | TCE_WRITE)?;
            if !pages.insert(real / PAGE) {
                return None;
            }
        }
        let shared = self
            .tces
            .iter()
            .any(|(&wp, &tce)| !(first..=last).contains(&wp) && pages.contains(&(tce / PAGE)));
        (!shared).then_some(pages)
    }

    // ---- steps ----

    fn before(&mut self) -> Before {
        assert!(self.mem.read(0, &mut self.snap));
        Before {
            ring: self.vs.queue().ring(),
            pulses: self.pulses.0.load(Ordering::SeqCst),
        }
    }

    /// Checks what the device did in a step.
    fn after(&mut self, b: &Before, e: &Expect) {
        assert!(self.vs.io_thread_running(), "the I/O thread died");
        let mut now = std::mem::take(&mut self.now);
        assert!(self.mem.read(0, &mut now));
        self.check_after(b, e, &now);
        self.now = now;
    }

    fn check_after(&self, b: &Before, e: &Expect, now: &[u8]) {
        let perms = self.perms.lock().expect("perms");
        for (p, (x, y)) in self
            .snap
            .chunks(PAGE as usize)
            .zip(now.chunks(PAGE as usize))
            .enumerate()
        {
            assert!(
                x == y || perms.write.contains(&(p as u64)),
                "the device wrote real page {p:#x}, which no TCE maps writable"
            );
        }
        drop(perms);
        let ring = self.vs.queue().ring();
        let mut delivered = 0;
        if let (Some(r0), Some(r1)) = (b.ring, ring) {
            assert_eq!((r0.ioba, r0.len), (r1.ioba, r1.len), "the ring moved");
            delivered = ((r1.next + r1.len - r0.next) % r1.len) / crq::ENTRY;
            assert!(delivered <= 1, "{delivered} entries for one message");
            if e.clean && self.exclusive_ring(&r0).is_some() {
                self.check_ring(now, &r0, delivered);
            }
        }
        if let Some((b0, b1, tag)) = e.reply {
            assert_eq!(delivered, 1, "no reply to a well-formed message");
            let r = b.ring.expect("a ring");
            let slot = self.load(r.ioba + r.next, 16);
            assert_eq!((slot[0], slot[1]), (b0, b1), "reply kind");
            if let Some(t) = tag {
                assert_eq!(&slot[8..16], &t, "the reply names the request's tag");
            }
        }
        let pulses = self.pulses.0.load(Ordering::SeqCst) - b.pulses;
        let want = if self.signal { delivered as usize } else { 0 };
        assert_eq!(pulses, want, "interrupts: signal {}", self.signal);
    }

    /// In an exclusive ring, only the slot at the old position changed (if one was delivered),
    /// from free to an entry.
    fn check_ring(&self, now: &[u8], r: &crq::Ring, n: u64) {
        for s in 0..r.len / crq::ENTRY {
            let at = r.ioba + s * crq::ENTRY;
            let real = self.real(at, TCE_READ | TCE_WRITE).expect("ring mapped") as usize;
            let (old, new) = (&self.snap[real..real + 16], &now[real..real + 16]);
            if n == 1 && s * crq::ENTRY == r.next {
                assert_eq!(old[0], 0, "the device overwrote an unconsumed entry");
                assert!(
                    new[0] == crq::VALID_PAYLOAD || new[0] == crq::VALID_INIT,
                    "entry kind {:#x}",
                    new[0]
                );
            } else {
                assert_eq!(old, new, "ring slot {s} changed out of turn");
            }
        }
    }

    /// Sends `msg`; H_RESOURCE exactly without a ring.
    fn send(&mut self, msg: [u8; 16], e: Expect) {
        let b = self.before();
        let r = crq::send(&self.vs, be64(&msg[..8]), be64(&msg[8..]));
        self.vs.wait_idle();
        crate::trace!("send {msg:02x?} -> {r}");
        let want = if b.ring.is_some() {
            H_SUCCESS
        } else {
            H_RESOURCE
        };
        assert_eq!(r, want, "H_SEND_CRQ");
        self.after(&b, &e);
    }

    /// Whether the ring can take a reply now (mapped, the slot free).
    fn ring_has_room(&self) -> bool {
        self.vs.queue().ring().is_some_and(|r| {
            self.mapped(r.ioba, r.len, TCE_READ | TCE_WRITE)
                && self.load(r.ioba + r.next, 1)[0] == 0
        })
    }

    fn ioba(&self, inp: &mut Input) -> u64 {
        match inp.u8() % 8 {
            0..=3 => (inp.u8() as u64 % NEAR) * PAGE,
            4 => (inp.u8() as u64 % NEAR) * PAGE + inp.u16() as u64 % PAGE,
            5 => (inp.u8() as u64 % NEAR) * PAGE + PAGE - 16 * (inp.u8() as u64 % 4),
            6 => spapr::vio::DMA_WINDOW - PAGE * (inp.u8() as u64 % 2),
            _ => inp.u64(),
        }
    }

    fn map(&mut self, ioba: u64, tce: u64) {
        if self.table.put(ioba, tce) {
            self.tces.insert(ioba / PAGE, tce);
            self.update_perms();
        }
    }

    fn register(&mut self, ioba: u64, len: u64) {
        let ring = self.vs.queue().ring();
        let ok = (crq::QUEUE_MIN..=crq::QUEUE_MAX).contains(&len)
            && len.is_multiple_of(crq::ENTRY)
            && ioba.is_multiple_of(PAGE)
            && ring.is_none()
            && self.mapped(ioba, len, TCE_READ | TCE_WRITE);
        let b = self.before();
        let r = self.vs.queue().register(ioba, len);
        crate::trace!("register {ioba:#x} {len:#x} -> {r}");
        let want = if ok {
            H_SUCCESS
        } else if ring.is_some()
            && (crq::QUEUE_MIN..=crq::QUEUE_MAX).contains(&len)
            && len.is_multiple_of(crq::ENTRY)
            && ioba.is_multiple_of(PAGE)
        {
            H_RESOURCE
        } else {
            H_PARAMETER
        };
        assert_eq!(r, want, "H_REG_CRQ({ioba:#x}, {len:#x})");
        // Registration zeroes the ring; nothing else changes.
        let e = Expect {
            clean: false,
            reply: None,
        };
        let before = Before { ring: None, ..b };
        self.after(&before, &e);
        if ok {
            let mut at = ioba;
            while at < ioba + len {
                let n = PAGE.min(ioba + len - at) as usize;
                let real = self.real(at, TCE_READ).expect("ring mapped") as usize;
                assert!(
                    self.now[real..real + n].iter().all(|&b| b == 0),
                    "ring not zeroed"
                );
                at += PAGE;
            }
        }
    }

    /// Writes a structured IU at bus address `at`; returns its format and bytes, adds the real
    /// pages it names to `names`, and says whether what the device will find there may differ
    /// from what the harness knows (a descriptor table the IU overwrote, or longer than the
    /// list written).
    fn build_iu(
        &mut self,
        inp: &mut Input,
        at: u64,
        names: &mut HashSet<u64>,
    ) -> (u8, Vec<u8>, bool) {
        let mut tainted = false;
        self.tag += 1;
        let mut iu = vec![0u8; vscsi::IU_MAX];
        iu[8..16].copy_from_slice(&self.tag.to_be_bytes());
        let lun = match inp.u8() % 8 {
            0..=3 => LUN0,
            4 => LUN_CD,
            5 => 0x8003 << 48,
            6 => vscsi::REPORT_LUNS_WLUN,
            _ => inp.u64(),
        };
        let kind = inp.u8() % 6;
        let format = if kind == 5 {
            vscsi::FORMAT_MAD
        } else {
            vscsi::FORMAT_SRP
        };
        match kind {
            0 => iu[0] = vscsi::srp::LOGIN_REQ,
            1 => {
                iu[0] = vscsi::srp::TSK_MGMT;
                iu[20..28].copy_from_slice(&lun.to_be_bytes());
                iu[30] = inp.pick(&[1, 2, 4, 8, 0x40, 0x77]);
            }
            5 => {
                let t: u32 = inp.pick(&[1, 2, 3, 4, 5, 8, 0xdead]);
                let len: u16 = inp.pick(&[148, 92, 0, 200, 16, 0xffff]);
                let buf = self.ioba(inp);
                iu[0..4].copy_from_slice(&t.to_be_bytes());
                iu[6..8].copy_from_slice(&len.to_be_bytes());
                iu[16..24].copy_from_slice(&buf.to_be_bytes());
                self.pages_of(buf, len as u64, names);
            }
            _ => {
                iu[0] = vscsi::srp::CMD;
                iu[1] = inp.u8();
                iu[20..28].copy_from_slice(&lun.to_be_bytes());
                let cdb: [u8; 16] = match inp.u8() % 10 {
                    0 => [0x12, 0, 0, 0, inp.u8(), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                    1 | 2 => {
                        let op = if inp.bool() { 0x28 } else { 0x2a };
                        let lba = inp.u8();
                        [
                            op,
                            0,
                            0,
                            0,
                            0,
                            lba,
                            0,
                            0,
                            inp.u8() % 20,
                            0,
                            0,
                            0,
                            0,
                            0,
                            0,
                            0,
                        ]
                    }
                    3 => [0; 16],
                    4 => [0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 64, 0, 0, 0, 0, 0, 0],
                    5 => [0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                    6 => [0x1a, 0, 0x3f, 0, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                    7 => [0x03, 0, 0, 0, 18, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                    _ => {
                        let mut c = [0u8; 16];
                        c.iter_mut().for_each(|b| *b = inp.u8());
                        c
                    }
                };
                iu[32..48].copy_from_slice(&cdb);
                iu[31] = inp.pick(&[0, 0, 0, 4, 3, 0xfc]);
                let fmt: u8 = inp.pick(&[0x01, 0x02, 0x10, 0x20, 0x00, 0x11, 0x03, 0x22]);
                iu[5] = fmt;
                let n = (inp.u8() % 5) as usize;
                let descs: Vec<(u64, u32)> = (0..n)
                    .map(|_| {
                        let va = self.ioba(inp);
                        let len: u32 =
                            inp.pick(&[512, 4096, 36, 0, 8192, 1024, 0x20_0001, 0xffff_ffff]);
                        (va, len)
                    })
                    .collect();
                for &(va, len) in &descs {
                    self.pages_of(va, len as u64, names);
                }
                let enc = |d: &(u64, u32)| {
                    let mut v = d.0.to_be_bytes().to_vec();
                    v.extend([0; 4]);
                    v.extend(d.1.to_be_bytes());
                    v
                };
                let off = (vscsi::srp::CMD_LEN + (iu[31] & !3) as usize).min(vscsi::IU_MAX);
                let mut add = Vec::new();
                let counts = (inp.u8() % 16, inp.u8() % 16);
                if fmt & 0x22 != 0 {
                    // Indirect: the table (in guest memory), total length, inline entries.
                    let table = self.ioba(inp);
                    let tlen = if inp.bool() {
                        16 * n as u32
                    } else {
                        inp.u32() % 0x2000
                    };
                    add.extend(enc(&(table, tlen)));
                    add.extend(0u32.to_be_bytes());
                    let inline = (counts.0.max(counts.1) as usize).min(n);
                    for d in &descs[..inline] {
                        add.extend(enc(d));
                    }
                    let list: Vec<u8> = descs.iter().flat_map(enc).collect();
                    self.store(table, &list);
                    let mut tp = HashSet::new();
                    self.pages_of(table, tlen as u64, &mut tp);
                    let mut ip = HashSet::new();
                    self.pages_of(at, vscsi::IU_MAX as u64, &mut ip);
                    tainted |= tlen as usize / 16 > n || !tp.is_disjoint(&ip);
                    names.extend(tp);
                } else if let Some(d) = descs.first() {
                    add.extend(enc(d));
                }
                iu[6] = counts.0;
                iu[7] = counts.1;
                let room = vscsi::IU_MAX - off;
                iu[off..off + add.len().min(room)].copy_from_slice(&add[..add.len().min(room)]);
            }
        }
        self.store(at, &iu);
        (format, iu, tainted)
    }

    fn run(&mut self, inp: &mut Input) {
        for _ in 0..MAX_OPS {
            if inp.is_empty() {
                break;
            }
            match inp.u8() % 12 {
                0 => {
                    let ioba = self.ioba(inp);
                    let real = if inp.u8().is_multiple_of(8) {
                        inp.u64() & !(PAGE - 1)
                    } else {
                        (inp.u8() as u64 % 72) * PAGE
                    };
                    let perm = inp.u8() as u64 & 3;
                    self.map(ioba, real | perm);
                }
                1 => {
                    // A run of read/write pages (rings, buffers).
                    let first = inp.u8() as u64 % NEAR;
                    let real = inp.u8() as u64 % 64;
                    for i in 0..(inp.u8() % 8 + 1) as u64 {
                        self.map((first + i) * PAGE, (((real + i) % 64) * PAGE) | 3);
                    }
                }
                2 => {
                    let ioba = self.ioba(inp);
                    let len = match inp.u8() % 6 {
                        0..=2 => PAGE * (inp.u8() as u64 % 3 + 1),
                        3 => inp.pick(&[0x800, 0x1008, crq::QUEUE_MAX, crq::QUEUE_MAX + PAGE]),
                        4 => crq::QUEUE_MIN,
                        _ => inp.u32() as u64,
                    };
                    self.register(ioba, len);
                }
                3 => {
                    self.vs.queue().free();
                    assert_eq!(self.vs.queue().ring(), None);
                }
                4 => {
                    let mode = inp.u8() as u64;
                    self.vs.signal(mode);
                    self.signal = mode & 1 != 0;
                }
                5 => {
                    let mut msg = [0u8; 16];
                    msg.iter_mut().for_each(|b| *b = inp.u8());
                    // A payload's IU is whatever guest memory holds: its effects are unknown.
                    let clean = msg[0] != crq::VALID_PAYLOAD;
                    let reply = (clean
                        && msg[0] == crq::VALID_INIT
                        && msg[1] == crq::INIT_REQUEST
                        && self.ring_has_room())
                    .then_some((crq::VALID_INIT, crq::INIT_COMPLETE, None));
                    self.send(msg, Expect { clean, reply });
                }
                6 | 7 => {
                    let at = self.ioba(inp);
                    let len = match inp.u8() % 4 {
                        0 | 1 => vscsi::IU_MAX as u16,
                        2 => inp.pick(&[0, 16, 48, 64, 24, 257]),
                        _ => inp.u16() % 300,
                    };
                    let mut names = HashSet::new();
                    let (format, iu, tainted) = self.build_iu(inp, at, &mut names);
                    self.pages_of(at, vscsi::IU_MAX as u64, &mut names);
                    // Cut before its buffer address, a MAD names bus address 0 (the device reads
                    // zeroes for the rest; its length comes first).
                    if format == vscsi::FORMAT_MAD && (len as usize) < vscsi::mad::BUFFER_IU_LEN {
                        self.pages_of(0, 1 << 16, &mut names);
                    }
                    let ring_pages = self.vs.queue().ring().and_then(|r| self.exclusive_ring(&r));
                    let clean = !tainted && ring_pages.is_some_and(|p| p.is_disjoint(&names));
                    let readable =
                        len as usize <= vscsi::IU_MAX && self.mapped(at, len as u64, TCE_READ);
                    let reply = (clean && readable && self.ring_has_room()).then(|| {
                        let seen = self.load(at, (len as usize).min(16));
                        let mut tag = [0u8; 8];
                        for (i, t) in tag.iter_mut().enumerate() {
                            *t = seen.get(8 + i).copied().unwrap_or(0);
                        }
                        (crq::VALID_PAYLOAD, format, Some(tag))
                    });
                    crate::trace!("IU {:02x?} at {at:#x} len {len}", &iu[..48]);
                    let mut msg = [0u8; 16];
                    msg[0] = crq::VALID_PAYLOAD;
                    msg[1] = format;
                    msg[6..8].copy_from_slice(&len.to_be_bytes());
                    msg[8..16].copy_from_slice(&at.to_be_bytes());
                    self.send(msg, Expect { clean, reply });
                }
                8 => {
                    // The guest consumes entries: zeroes the first byte of the first slots.
                    if let Some(r) = self.vs.queue().ring() {
                        for s in 0..(inp.u8() as u64).min(r.len / crq::ENTRY) {
                            self.store(r.ioba + s * crq::ENTRY, &[0]);
                        }
                    }
                }
                9 => {
                    let at = inp.u8() as u64 % 64 * PAGE + inp.u16() as u64 % PAGE;
                    let n = inp.u8() as usize % 64;
                    let data = inp.bytes(n);
                    let _ = self.mem.write(at, data);
                }
                10 => {
                    let (s, d) = (self.ioba(inp), self.ioba(inp));
                    let len = match inp.u8() % 4 {
                        0 => inp.u16() as u64,
                        1 => PAGE,
                        2 => crq::RDMA_MAX + inp.u8() as u64 % 2,
                        _ => inp.u64(),
                    };
                    let b = self.before();
                    let r = crq::copy_rdma(&self.mem, &self.table, s, &self.table, d, len);
                    crate::trace!("copy_rdma {s:#x} -> {d:#x} {len:#x}: {r}");
                    assert!(
                        [H_SUCCESS, H_PARAMETER, H_PERMISSION].contains(&r),
                        "H_COPY_RDMA: {r}"
                    );
                    let e = Expect {
                        clean: false,
                        reply: None,
                    };
                    self.after(&b, &e);
                }
                _ => {
                    // Machine reset: the bus clears the window, then resets the device.
                    self.table.clear();
                    self.tces.clear();
                    self.update_perms();
                    self.vs.reset();
                    self.signal = false;
                    assert_eq!(self.vs.queue().ring(), None);
                    assert!(!self.vs.queue().irq_enabled());
                }
            }
        }
    }
}

pub fn vscsi(data: &[u8]) {
    let mut inp = Input::new(data);
    let mut h = Harness::new();
    h.run(&mut inp);
    // Teardown: stop the thread (as at power-off) without hanging.
    h.vs.shutdown();
}
