//! `vlan`: spapr-vlan (PAPR's interpartition logical LAN, Linux's ibmveth) driven by a guest of
//! arbitrary behaviour through its hcalls, as the vCPU loop makes them (`spapr::hcall::dispatch`
//! on a machine, one per thread, whose VIO bus is rebuilt for each input around a fresh adapter),
//! and by a network of arbitrary behaviour
//! (frames of any length, with or without a virtio-net header, arriving at any time). The
//! adapter does its DMA into its own fresh 256 KiB of guest RAM (small: snapshots are cheap).
//! Fuzz bytes choose TCE entries of the adapter's window (any window page to any real page, in
//! RAM or beyond, any permissions), H_REGISTER_LOGICAL_LAN (buffer list, receive queue and
//! filter list aligned or not, mapped or not, any sizes), H_FREE_LOGICAL_LAN,
//! H_ADD_LOGICAL_LAN_BUFFER (any valid bit, length, address; bursts up to past the pools'
//! bounds), H_SEND_LOGICAL_LAN (up to six descriptors of any content, a continuation token),
//! H_MULTICAST_CTRL, H_CHANGE_LOGICAL_LAN_MAC, H_VIO_SIGNAL, other unit addresses, guest stores
//! (correlators, consumed receive-queue entries) and machine resets.
//!
//! The network is [`Wire`], an in-memory backend with the `net::Backend` contract (frames the
//! harness injects wait in its inbox; recv hands them out, dropping one larger than the buffer;
//! the waker fires on the edge after an empty recv), which records what the adapter sends.
//!
//! Invariants besides "no panic": every hcall answers exactly what a model of the adapter says
//! (H_SUCCESS, H_PARAMETER, H_RESOURCE or H_DROPPED as `vlan.rs` documents them: an open adapter
//! refuses a second registration, a closed one a buffer or a free, and so on); the adapter
//! writes guest memory only in pages a TCE maps writable, and exactly what the model writes: a
//! received frame lands in exactly one posted buffer (the smallest pool that fits it, 8 bytes
//! in), or is dropped when none fits, and the receive-queue entry at the adapter's position (with
//! the pass's toggle) describes it (length, offset, the buffer's correlator, and CSUM_GOOD as
//! the frame's virtio-net header says: a partial checksum completed in the frame, DATA_VALID, or
//! a frame dropped whose checksum field lies outside it); a sent frame is
//! the concatenation of its descriptors' bytes (with a zero virtio-net header on such a backend)
//! when the hcall succeeds, and nothing is sent when it fails; the interrupt pulses once per
//! received frame exactly when H_VIO_SIGNAL enabled it; at most 4096 buffers in at most 8 sizes
//! are kept; a frame waits in the backend only while the adapter has no buffer for it.
//!
//! Input: byte 0 (bit 0: the backend carries virtio-net headers), then operations, each a
//! selector byte and its arguments (see `Harness::run`).

use crate::input::Input;
use net::{Backend, Offload, VNET_HDR_LEN};
use ppc::{Cpu, CpuModel, GuestMemory};
use spapr::hcall::{dispatch, H_DROPPED, H_PARAMETER, H_RESOURCE, H_SUCCESS};
use spapr::irq::{Intc, IrqLine};
use spapr::machine::layout;
use spapr::tce::{TceTable, TCE_READ, TCE_WRITE};
use spapr::vio::vlan::{
    Vlan, H_ADD_LOGICAL_LAN_BUFFER, H_CHANGE_LOGICAL_LAN_MAC, H_FREE_LOGICAL_LAN, H_MULTICAST_CTRL,
    H_REGISTER_LOGICAL_LAN, H_SEND_LOGICAL_LAN,
};
use spapr::vio::{VioDevice, DMA_WINDOW, H_VIO_SIGNAL};
use spapr::Machine;
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::io::{self, IoSlice};
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

// ---- the network -------------------------------------------------------------------------------

/// The harness's end of the network: an in-memory backend. Frames the harness injects wait in
/// the inbox until the device pulls them; frames the device sends are recorded. The waker fires
/// as the `net::Backend` contract says: once, on the first arrival after a recv that found
/// nothing (a fresh backend is in that state).
pub(crate) struct Wire {
    vnet: bool,
    st: Mutex<WireState>,
    waker: Mutex<Option<Arc<dyn Fn() + Send + Sync>>>,
    /// The thread id of the last device thread (virtio-net's) that called `recv` (0: none yet).
    tid: AtomicI32,
}

#[derive(Default)]
struct WireState {
    inbox: VecDeque<Vec<u8>>,
    /// The next arrival calls the waker.
    armed: bool,
    log: WireLog,
}

/// What the device did with the backend since the last `take_log`.
#[derive(Default)]
pub(crate) struct WireLog {
    /// Frames recv handed to the device, in order.
    pub taken: Vec<Vec<u8>>,
    /// Frames the device sent, in order.
    pub sent: Vec<Vec<u8>>,
    /// Frames recv dropped because the device's buffer was too small.
    pub too_big: usize,
    /// Calls of recv and send.
    pub calls: usize,
    /// The last offload setting.
    pub offload: Option<(bool, bool, bool, bool, bool)>,
}

impl Wire {
    pub(crate) fn new(vnet: bool) -> Arc<Wire> {
        Arc::new(Wire {
            vnet,
            st: Mutex::new(WireState {
                armed: true,
                ..Default::default()
            }),
            waker: Mutex::new(None),
            tid: AtomicI32::new(0),
        })
    }

    /// A frame arrives from the network (the waker runs on the caller's thread).
    pub(crate) fn arrive(&self, frame: Vec<u8>) {
        let wake = {
            let mut s = self.st.lock().expect("wire");
            s.inbox.push_back(frame);
            std::mem::replace(&mut s.armed, false)
        };
        if wake {
            let w = self.waker.lock().expect("waker").clone();
            if let Some(w) = w {
                w();
            }
        }
    }

    pub(crate) fn take_log(&self) -> WireLog {
        std::mem::take(&mut self.st.lock().expect("wire").log)
    }

    /// Frames waiting in the inbox.
    pub(crate) fn waiting(&self) -> usize {
        self.st.lock().expect("wire").inbox.len()
    }

    pub(crate) fn tid(&self) -> i32 {
        self.tid.load(Ordering::SeqCst)
    }

    pub(crate) fn clear_tid(&self) {
        self.tid.store(0, Ordering::SeqCst);
    }
}

impl Backend for Wire {
    fn vnet_hdr(&self) -> bool {
        self.vnet
    }

    fn send(&self, bufs: &[IoSlice]) -> io::Result<()> {
        let frame = bufs.iter().flat_map(|b| b.iter().copied()).collect();
        let mut s = self.st.lock().expect("wire");
        s.log.sent.push(frame);
        s.log.calls += 1;
        Ok(())
    }

    fn recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        // Only a device thread's id is worth keeping: front ends also receive on the caller's
        // thread (a doorbell, an arrival's waker), which is done when the call returns.
        if std::thread::current()
            .name()
            .is_some_and(|n| n.starts_with("virtio-net-"))
        {
            // SAFETY: a plain syscall without arguments.
            let tid = unsafe { libc::syscall(libc::SYS_gettid) } as i32;
            self.tid.store(tid, Ordering::SeqCst);
        }
        let mut s = self.st.lock().expect("wire");
        s.log.calls += 1;
        while let Some(f) = s.inbox.pop_front() {
            let n = f.len();
            if n <= buf.len() {
                buf[..n].copy_from_slice(&f);
                s.log.taken.push(f);
                return Ok(Some(n));
            }
            s.log.too_big += 1;
        }
        s.armed = true;
        Ok(None)
    }

    fn set_waker(&self, waker: Arc<dyn Fn() + Send + Sync>) {
        *self.waker.lock().expect("waker") = Some(waker);
    }

    fn set_offload(&self, o: Offload) {
        self.st.lock().expect("wire").log.offload = Some((o.csum, o.tso4, o.tso6, o.ecn, o.ufo));
    }
}

/// A frame of `len` bytes: a count byte and that many of the input's bytes (up to 32), then a
/// pattern.
pub(crate) fn frame(inp: &mut Input, len: usize) -> Vec<u8> {
    let k = inp.u8() as usize % 33;
    let head = inp.bytes(k.min(len));
    let seed = head.first().copied().unwrap_or(0x5a);
    let mut f = head.to_vec();
    f.extend((head.len()..len).map(|i| (i as u8).wrapping_mul(13) ^ seed));
    f
}

/// A frame length: small, Ethernet sizes, jumbo, the 64 KiB limits of the devices and past them.
pub(crate) fn frame_len(inp: &mut Input) -> usize {
    match inp.u8() % 8 {
        0 | 1 => inp.pick(&[60usize, 64, 98, 342, 590, 1514, 1518, 54]),
        2 => inp.pick(&[0usize, 1, 11, 12, 13, 14, 17, 20]),
        3 => inp.pick(&[4080usize, 4088, 4096, 8192, 9000, 9014, 16384, 32768]),
        4 => inp.pick(&[
            65535usize, 65536, 65537, 65540, 65548, 65549, 65600, 65612, 65613, 70000,
        ]),
        5 => inp.u8() as usize,
        _ => inp.u16() as usize + inp.u8() as usize % 8 * 8,
    }
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

// ---- the model ---------------------------------------------------------------------------------

const RAM: u64 = 256 << 10;
const PAGE: u64 = 4096;
const REG: u32 = 0x7100_0003;
const IRQ: u32 = 0x1103;
/// Window pages the harness maps and names most of the time.
const NEAR: u64 = 32;
const MAX_OPS: usize = 64;
const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0xab, 0xcd, 0xef];

/// The adapter's documented bounds (`vlan.rs`).
const MAX_FRAME: u64 = 65536;
const MAX_BUFS: usize = 4096;
const MAX_POOLS: usize = 8;
/// Descriptor fields.
const BD_VALID: u64 = 1 << 63;
const BD_TOGGLE: u64 = 1 << 62;
/// Receive-queue entry flags, and where a frame starts in its buffer.
const RXQ_TOGGLE: u8 = 0x80;
const RXQ_VALID: u8 = 0x40;
const RXQ_CSUM_GOOD: u8 = 0x01;

/// What the adapter makes of a tap frame's virtio-net header: NEEDS_CSUM (flags bit 0) has the
/// checksum over `body[start..]` stored at `start + offset` (the field holding the pseudo-header
/// sum), then the frame is good, or it is dropped (None) if the field is not inside the frame;
/// otherwise the frame is good iff DATA_VALID (bit 1).
fn checksum_from_header(hdr: &[u8], body: &mut [u8]) -> Option<bool> {
    let flags = hdr[0];
    if flags & 1 == 0 {
        return Some(flags & 2 != 0);
    }
    let start = u16::from_le_bytes([hdr[6], hdr[7]]) as usize;
    let field = start + u16::from_le_bytes([hdr[8], hdr[9]]) as usize;
    if start > body.len() || field + 2 > body.len() {
        return None;
    }
    let mut sum = 0u32;
    for (i, &b) in body[start..].iter().enumerate() {
        sum += if i % 2 == 0 {
            (b as u32) << 8
        } else {
            b as u32
        };
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let c = match !(sum as u16) {
        0 => 0xffff,
        c => c,
    };
    body[field..field + 2].copy_from_slice(&c.to_be_bytes());
    Some(true)
}
const RX_OFFSET: u64 = 8;

fn bd_len(bd: u64) -> u64 {
    (bd >> 32) & 0x00ff_ffff
}

fn bd_addr(bd: u64) -> u64 {
    bd & 0xffff_ffff
}

fn bd(valid: bool, len: u64, addr: u64) -> u64 {
    (valid as u64) << 63 | (len & 0x00ff_ffff) << 32 | (addr & 0xffff_ffff)
}

/// What the guest registered, as the model follows it.
#[derive(Default)]
struct Lan {
    open: bool,
    rxq: u64,
    ptr: u64,
    toggle: bool,
    /// Posted buffers by size, in the order sizes first appeared.
    pools: Vec<(u64, VecDeque<u64>)>,
    bufs: usize,
}

struct Harness {
    m: Machine,
    cpu: Cpu,
    mem: Arc<GuestMemory>,
    vlan: Arc<Vlan>,
    table: Arc<TceTable>,
    wire: Arc<Wire>,
    pulses: Arc<Pulses>,
    vnet: bool,
    /// Window page → TCE, as the harness set them.
    tces: HashMap<u64, u64>,
    lan: Lan,
    signal: bool,
    mac: [u8; 6],
    /// Guest memory as the model says it is (equal to the real one between steps), and as it is
    /// after a step.
    exp: Vec<u8>,
    now: Vec<u8>,
    /// Interrupts the step must have raised, and the count before it.
    want_pulses: usize,
    pulses0: usize,
    correlator: u64,
}

thread_local! {
    /// The machine whose VIO bus dispatches the hcalls, and its vCPU, one per thread: creating
    /// a machine costs most of an input's time. Its bus is rebuilt for each input (the console,
    /// the NVRAM, a fresh adapter); the adapter's memory is its own.
    static MACHINE: RefCell<Option<(Machine, Cpu)>> = const { RefCell::new(None) };
}

impl Harness {
    fn new(vnet: bool) -> Harness {
        let (mut m, cpu) = MACHINE.with(|c| c.borrow_mut().take()).unwrap_or_else(|| {
            let m = crate::machine::machine(CpuModel::ALL[2], 1);
            let cpu = crate::machine::cpu(&m, 0);
            (m, cpu)
        });
        let mem = Arc::new(GuestMemory::new(RAM).expect("guest memory"));
        let wire = Wire::new(vnet);
        let pulses = Arc::new(Pulses::default());
        let irq = IrqLine::new(pulses.clone(), IRQ, false);
        let vlan = Vlan::new(REG, irq, mem.clone(), MAC, wire.clone()).expect("spapr-vlan");
        m.vty.signal(0);
        m.vio = spapr::vio::Bus::default();
        m.vio.add(m.vty.clone()).expect("the console");
        m.vio.add(m.nvram.clone()).expect("the NVRAM");
        m.vio.add(vlan.clone()).expect("a free unit address");
        let table = vlan.dma().expect("a DMA window").clone();
        Harness {
            m,
            cpu,
            mem,
            vlan,
            table,
            wire,
            pulses,
            vnet,
            tces: HashMap::new(),
            lan: Lan::default(),
            signal: false,
            mac: MAC,
            exp: vec![0; RAM as usize],
            now: vec![0; RAM as usize],
            want_pulses: 0,
            pulses0: 0,
            correlator: 0,
        }
    }

    // ---- the window, as the model sees it ----

    /// Where DMA to bus address `ioba` goes, if the TCE allows it (`TceTable::translate`).
    fn xlate(&self, ioba: u64, write: bool) -> Option<u64> {
        let tce = *self.tces.get(&(ioba / PAGE))?;
        let need = if write { TCE_WRITE } else { TCE_READ };
        (tce & need != 0).then_some((tce & !(PAGE - 1)) | (ioba & (PAGE - 1)))
    }

    /// Whether the range is mapped both ways and lands in RAM (the adapter's `mapped`, over
    /// `vio::dma::walk`).
    fn mapped(&self, ioba: u64, len: u64) -> bool {
        let Some(end) = ioba.checked_add(len) else {
            return false;
        };
        let mut at = ioba;
        while at < end {
            let n = (PAGE - (at & (PAGE - 1))).min(end - at);
            match (self.xlate(at, true), self.xlate(at, false)) {
                (Some(r), Some(_)) if r.checked_add(n).is_some_and(|e| e <= RAM) => {}
                _ => return false,
            }
            at += n;
        }
        true
    }

    /// The adapter's DMA write into the model's memory: page by page, stopping at the first page
    /// it cannot reach (no TCE with write permission, or outside RAM).
    fn dma_write(&mut self, ioba: u64, data: &[u8]) -> bool {
        let mut done = 0usize;
        while done < data.len() {
            let Some(at) = ioba.checked_add(done as u64) else {
                return false;
            };
            let n = ((PAGE - (at & (PAGE - 1))) as usize).min(data.len() - done);
            let Some(real) = self.xlate(at, true) else {
                return false;
            };
            if real.checked_add(n as u64).is_none_or(|e| e > RAM) {
                return false;
            }
            self.exp[real as usize..real as usize + n].copy_from_slice(&data[done..done + n]);
            done += n;
        }
        true
    }

    /// The adapter's DMA read from the model's memory.
    fn dma_read(&self, ioba: u64, n: usize) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let at = ioba.checked_add(out.len() as u64)?;
            let k = ((PAGE - (at & (PAGE - 1))) as usize).min(n - out.len());
            let real = self.xlate(at, false)?;
            let end = real.checked_add(k as u64).filter(|&e| e <= RAM)?;
            out.extend_from_slice(&self.exp[real as usize..end as usize]);
        }
        Some(out)
    }

    /// The guest's CPU stores `data` at bus address `ioba` (through its own mapping of the pages,
    /// whatever the TCE permissions); outside a step.
    fn store(&mut self, ioba: u64, data: &[u8]) {
        for (i, b) in data.iter().enumerate() {
            let Some(a) = ioba.checked_add(i as u64) else {
                break;
            };
            if let Some(&tce) = self.tces.get(&(a / PAGE)) {
                let real = (tce & !(PAGE - 1)) | (a & (PAGE - 1));
                self.cpu_write(real, &[*b]);
            }
        }
    }

    /// A store of the guest's CPU at real address `at` (the model's memory follows).
    fn cpu_write(&mut self, at: u64, data: &[u8]) {
        if self.mem.write(at, data) {
            self.exp[at as usize..at as usize + data.len()].copy_from_slice(data);
        }
    }

    fn map(&mut self, ioba: u64, tce: u64) {
        crate::trace!("TCE for {ioba:#x}: {tce:#x}");
        let ok = self.table.put(ioba, tce);
        assert_eq!(ok, ioba < DMA_WINDOW, "TCE put at {ioba:#x}");
        if ok {
            self.tces.insert(ioba / PAGE, tce);
            assert_eq!(self.table.get(ioba), Some(tce));
        }
    }

    // ---- hcalls and steps ----

    fn hcall(&mut self, nr: u64, args: &[u64]) -> i64 {
        self.cpu.gpr[3] = nr;
        self.cpu.gpr[4..4 + args.len()].copy_from_slice(args);
        dispatch(&self.m, &mut self.cpu);
        let r = self.cpu.gpr[3] as i64;
        crate::trace!("hcall {nr:#x}({args:x?}) = {r}");
        // Frames the call made the adapter take from the backend (posting buffers does).
        self.model_receive();
        r
    }

    fn is_vlan(unit: u64) -> bool {
        unit == REG as u64
    }

    /// Before a step.
    fn begin(&mut self) {
        self.want_pulses = 0;
        self.pulses0 = self.pulses.0.load(Ordering::SeqCst);
        let log = self.wire.take_log();
        assert!(
            log.taken.is_empty() && log.sent.is_empty(),
            "backend used between steps"
        );
    }

    /// After a step: memory, interrupts and the backend are as the model says.
    fn end(&mut self, what: &str) {
        assert!(self.mem.read(0, &mut self.now));
        if self.now != self.exp {
            let at = (0..RAM as usize)
                .find(|&i| self.now[i] != self.exp[i])
                .unwrap_or(0) as u64;
            let page = at / PAGE;
            assert!(
                self.tces
                    .values()
                    .any(|&t| t & TCE_WRITE != 0 && t / PAGE == page),
                "{what}: the adapter wrote real page {page:#x}, which no TCE maps writable"
            );
            let lo = (at & !15) as usize;
            panic!(
                "{what}: guest memory differs from the model at real {at:#x}: {:02x?} (model \
                 {:02x?})",
                &self.now[lo..lo + 16],
                &self.exp[lo..lo + 16],
            );
        }
        let pulses = self.pulses.0.load(Ordering::SeqCst) - self.pulses0;
        assert_eq!(
            pulses, self.want_pulses,
            "{what}: interrupts (signal {})",
            self.signal
        );
        let log = self.wire.take_log();
        assert!(
            log.taken.is_empty(),
            "{what}: frames taken and not modelled"
        );
        assert!(
            log.sent.is_empty(),
            "{what}: a frame sent outside H_SEND_LOGICAL_LAN"
        );
        // A frame waits only while the adapter has nowhere to put it.
        if self.wire.waiting() > 0 {
            assert!(
                !self.lan.open || self.lan.bufs == 0,
                "{what}: {} frames wait in the backend while {} buffers are posted",
                self.wire.waiting(),
                self.lan.bufs
            );
        }
        assert!(self.lan.bufs <= MAX_BUFS && self.lan.pools.len() <= MAX_POOLS);
    }

    /// Frames the adapter took from the backend since the last look, delivered in the model.
    fn model_receive(&mut self) {
        let log = std::mem::take(&mut self.wire.st.lock().expect("wire").log.taken);
        for f in log {
            assert!(
                self.lan.open && self.lan.bufs > 0,
                "the adapter took a frame with no buffer posted (open {})",
                self.lan.open
            );
            if !self.vnet {
                // The wire builds no frames itself: nothing is said of their checksums.
                if !f.is_empty() {
                    self.deliver(&f, false);
                }
                continue;
            }
            let Some((hdr, body)) = f.split_at_checked(VNET_HDR_LEN) else {
                continue;
            };
            if body.is_empty() {
                continue;
            }
            let mut body = body.to_vec();
            match checksum_from_header(hdr, &mut body) {
                Some(good) => self.deliver(&body, good),
                None => crate::trace!("frame with a checksum field outside it dropped"),
            }
        }
    }

    /// Where the adapter puts a received frame: the smallest pool it fits, 8 bytes into the
    /// oldest buffer there, and an entry in the receive queue.
    fn deliver(&mut self, frame: &[u8], csum_good: bool) {
        let need = frame.len() as u64 + RX_OFFSET;
        let Some(i) = (0..self.lan.pools.len())
            .filter(|&i| self.lan.pools[i].0 >= need && !self.lan.pools[i].1.is_empty())
            .min_by_key(|&i| self.lan.pools[i].0)
        else {
            crate::trace!("frame of {} bytes dropped: no buffer fits", frame.len());
            return;
        };
        let b = self.lan.pools[i].1.pop_front().expect("a buffer");
        self.lan.bufs -= 1;
        let addr = bd_addr(b);
        crate::trace!("frame of {} bytes into {b:#x}", frame.len());
        let Some(correlator) = self.dma_read(addr, 8) else {
            return;
        };
        if !self.dma_write(addr + RX_OFFSET, frame) {
            return;
        }
        let (qa, ql) = (bd_addr(self.lan.rxq), bd_len(self.lan.rxq));
        let mut e = [0u8; 16];
        e[0] = RXQ_VALID
            | if self.lan.toggle { 0 } else { RXQ_TOGGLE }
            | if csum_good { RXQ_CSUM_GOOD } else { 0 };
        e[2..4].copy_from_slice(&(RX_OFFSET as u16).to_be_bytes());
        e[4..8].copy_from_slice(&(frame.len() as u32).to_be_bytes());
        e[8..].copy_from_slice(&correlator);
        let at = qa + self.lan.ptr;
        if !self.dma_write(at + 1, &e[1..]) || !self.dma_write(at, &e[..1]) {
            return;
        }
        self.lan.ptr += 16;
        if self.lan.ptr + 16 > ql {
            self.lan.ptr = 0;
            self.lan.toggle = !self.lan.toggle;
        }
        if self.signal {
            self.want_pulses += 1;
        }
    }

    /// H_REGISTER_LOGICAL_LAN's answer in the model (and its writes).
    fn model_register(&mut self, unit: u64, list: u64, rxq: u64, filter: u64) -> i64 {
        if !Self::is_vlan(unit) {
            return H_PARAMETER;
        }
        if self.lan.open {
            return H_RESOURCE;
        }
        if !list.is_multiple_of(PAGE) || !self.mapped(list, PAGE) {
            return H_PARAMETER;
        }
        if !filter.is_multiple_of(PAGE) || !self.mapped(filter, PAGE) {
            return H_PARAMETER;
        }
        let (qa, ql) = (bd_addr(rxq), bd_len(rxq));
        if rxq & BD_VALID == 0
            || !qa.is_multiple_of(16)
            || !ql.is_multiple_of(16)
            || ql == 0
            || !self.mapped(qa, ql)
        {
            return H_PARAMETER;
        }
        let zero = [0u8; 256];
        let mut off = 0;
        while off < ql {
            let n = (ql - off).min(256) as usize;
            if !self.dma_write(qa + off, &zero[..n]) {
                return H_PARAMETER;
            }
            off += n as u64;
        }
        let mut head = [0u8; 16];
        head[..8].copy_from_slice(&(rxq & !BD_TOGGLE).to_be_bytes());
        head[8..].copy_from_slice(&(BD_VALID | PAGE << 32 | filter).to_be_bytes());
        if !self.dma_write(list, &head) {
            return H_PARAMETER;
        }
        self.lan = Lan {
            open: true,
            rxq: rxq & !BD_TOGGLE,
            ..Lan::default()
        };
        self.signal = false;
        H_SUCCESS
    }

    /// H_ADD_LOGICAL_LAN_BUFFER's answer in the model.
    fn model_add(&mut self, unit: u64, b: u64) -> i64 {
        if !Self::is_vlan(unit) {
            return H_PARAMETER;
        }
        let (addr, len) = (bd_addr(b), bd_len(b));
        if b & BD_VALID == 0 || !addr.is_multiple_of(4) || len < 16 || !self.mapped(addr, len) {
            return H_PARAMETER;
        }
        if !self.lan.open || self.lan.bufs >= MAX_BUFS {
            return H_RESOURCE;
        }
        let b = b & !BD_TOGGLE;
        let npools = self.lan.pools.len();
        match self.lan.pools.iter_mut().find(|(l, _)| *l == len) {
            Some((_, q)) => q.push_back(b),
            None if npools < MAX_POOLS => {
                self.lan.pools.push((len, VecDeque::from([b])));
            }
            None => return H_RESOURCE,
        }
        self.lan.bufs += 1;
        H_SUCCESS
    }

    /// H_SEND_LOGICAL_LAN's answer in the model, and the frame it must send.
    fn model_send(&self, unit: u64, bds: &[u64; 6], token: u64) -> (i64, Option<Vec<u8>>) {
        if !Self::is_vlan(unit) || token != 0 {
            return (H_PARAMETER, None);
        }
        if !self.lan.open {
            return (H_DROPPED, None);
        }
        let mut data = Vec::new();
        for &b in bds.iter().take_while(|&&b| b & BD_VALID != 0) {
            let len = bd_len(b);
            if data.len() as u64 + len > MAX_FRAME {
                return (H_RESOURCE, None);
            }
            match self.dma_read(bd_addr(b), len as usize) {
                Some(d) => data.extend(d),
                None => return (H_PARAMETER, None),
            }
        }
        if data.is_empty() {
            return (H_SUCCESS, None);
        }
        let mut f = if self.vnet {
            vec![0u8; VNET_HDR_LEN]
        } else {
            Vec::new()
        };
        f.extend(data);
        (H_SUCCESS, Some(f))
    }

    // ---- decoders ----

    /// A unit address: mostly the adapter's, else the console's, the NVRAM's, one that
    /// truncates to the adapter's, a free one or anything.
    fn unit(inp: &mut Input) -> u64 {
        match inp.u8() {
            0xf0..=0xff => match inp.u8() % 6 {
                0 => layout::VTY_REG as u64,
                1 => layout::NVRAM_REG as u64,
                2 => 1 << 32 | REG as u64,
                3 => REG as u64 + 1,
                4 => 0,
                _ => inp.u64(),
            },
            _ => REG as u64,
        }
    }

    /// A bus address: a page near the start of the window, inside one, near a page's end, the
    /// window's end, or anything.
    fn ioba(inp: &mut Input) -> u64 {
        match inp.u8() % 8 {
            0..=3 => (inp.u8() as u64 % NEAR) * PAGE,
            4 => (inp.u8() as u64 % NEAR) * PAGE + inp.u16() as u64 % PAGE,
            5 => (inp.u8() as u64 % NEAR) * PAGE + PAGE - 8 * (inp.u8() as u64 % 4 + 1),
            6 => DMA_WINDOW - PAGE * (inp.u8() as u64 % 2 + 1),
            _ => inp.u64(),
        }
    }

    /// A buffer or receive-queue length.
    fn len(inp: &mut Input) -> u64 {
        match inp.u8() % 8 {
            0..=2 => inp.pick(&[2048u64, 1536 + 16, 4096, 16, 64, 9216, 65536 + 8, 512]),
            3 => inp.pick(&[0u64, 8, 15, 17, 4095, 4097, 65535 + 8, 65544 + 1]),
            4 => 16 * (inp.u8() as u64 + 1),
            5 => PAGE * (inp.u8() as u64 % 8 + 1),
            _ => inp.u32() as u64 & 0x00ff_ffff,
        }
    }

    // ---- operations ----

    fn register(&mut self, inp: &mut Input) {
        let unit = Self::unit(inp);
        let list = Self::ioba(inp);
        let flags = inp.u8();
        let rxq = bd(!flags.is_multiple_of(8), Self::len(inp), Self::ioba(inp))
            | if flags & 0x10 != 0 { BD_TOGGLE } else { 0 };
        let filter = Self::ioba(inp);
        let mac = inp.u64();
        self.begin();
        let want = self.model_register(unit, list, rxq, filter);
        let r = self.hcall(H_REGISTER_LOGICAL_LAN, &[unit, list, rxq, filter, mac]);
        assert_eq!(
            r, want,
            "H_REGISTER_LOGICAL_LAN({unit:#x}, {list:#x}, {rxq:#x}, {filter:#x})"
        );
        self.end("H_REGISTER_LOGICAL_LAN");
    }

    fn free(&mut self, inp: &mut Input) {
        let unit = Self::unit(inp);
        self.begin();
        let want = if !Self::is_vlan(unit) {
            H_PARAMETER
        } else if self.lan.open {
            self.lan = Lan::default();
            H_SUCCESS
        } else {
            H_RESOURCE
        };
        let r = self.hcall(H_FREE_LOGICAL_LAN, &[unit]);
        assert_eq!(r, want, "H_FREE_LOGICAL_LAN({unit:#x})");
        self.end("H_FREE_LOGICAL_LAN");
    }

    /// One buffer descriptor as ibmveth would post it (or not), with a correlator in its first
    /// bytes.
    fn buffer(&mut self, inp: &mut Input) -> u64 {
        let flags = inp.u8();
        let len = Self::len(inp);
        let addr = match flags >> 5 {
            0 => Self::ioba(inp) | 2,
            1 => inp.u32() as u64,
            _ => Self::ioba(inp) & !3,
        };
        if flags & 8 == 0 {
            self.correlator += 1;
            let c = self.correlator ^ (flags as u64) << 56;
            self.store(addr, &c.to_be_bytes());
        }
        bd(!flags.is_multiple_of(8), len, addr) | if flags & 0x10 != 0 { BD_TOGGLE } else { 0 }
    }

    fn add(&mut self, unit: u64, b: u64) {
        let want = self.model_add(unit, b);
        let r = self.hcall(H_ADD_LOGICAL_LAN_BUFFER, &[unit, b]);
        assert_eq!(r, want, "H_ADD_LOGICAL_LAN_BUFFER({unit:#x}, {b:#x})");
    }

    fn send(&mut self, inp: &mut Input) {
        let unit = Self::unit(inp);
        let n = inp.u8() % 7;
        let mut bds = [0u64; 6];
        for b in bds.iter_mut().take(n as usize) {
            let flags = inp.u8();
            let len = match flags % 4 {
                0 => inp.pick(&[0u64, 1, 14, 20, 60, 1514, 4096, 9000]),
                1 => inp.u16() as u64,
                2 => inp.pick(&[
                    65536u64, 65535, 65537, 32768, 0x10_0000, 0xff_ffff, 100, 4097,
                ]),
                _ => inp.u32() as u64 & 0x00ff_ffff,
            };
            let addr = Self::ioba(inp);
            if flags & 0x10 != 0 {
                // Some content (the rest is whatever memory holds).
                let k = inp.u8() as usize % 64;
                let data = inp.bytes(k.min(len as usize));
                self.store(addr, data);
            }
            *b = bd(flags & 0x20 == 0, len, addr);
        }
        let token = if inp.u8() == 0xff { inp.u64() } else { 0 };
        self.begin();
        let (want, frame) = self.model_send(unit, &bds, token);
        let mut args = vec![unit];
        args.extend(bds);
        args.push(token);
        let r = self.hcall(H_SEND_LOGICAL_LAN, &args);
        assert_eq!(
            r, want,
            "H_SEND_LOGICAL_LAN({unit:#x}, {bds:x?}, {token:#x})"
        );
        let log = self.wire.take_log();
        match frame {
            Some(f) => {
                assert_eq!(log.sent.len(), 1, "one frame sent");
                assert!(
                    log.sent[0] == f,
                    "the frame sent ({} bytes) is not its descriptors' bytes ({} bytes)",
                    log.sent[0].len(),
                    f.len()
                );
            }
            None => assert!(log.sent.is_empty(), "a frame sent: {r}"),
        }
        self.end("H_SEND_LOGICAL_LAN");
    }

    fn run(&mut self, inp: &mut Input) {
        for _ in 0..MAX_OPS {
            if inp.is_empty() {
                break;
            }
            let op = inp.u8();
            crate::trace!(
                "op {op} (open {}, {} buffers)",
                self.lan.open,
                self.lan.bufs
            );
            match op % 16 {
                0 => {
                    let ioba = Self::ioba(inp);
                    let real = if inp.u8().is_multiple_of(8) {
                        inp.u64() & !(PAGE - 1)
                    } else {
                        (inp.u8() as u64 % 72) * PAGE
                    };
                    let perm = inp.u8() as u64 & 3;
                    self.map(ioba, real | perm);
                }
                1 => {
                    // A run of read/write pages (the queues, buffers).
                    let first = inp.u8() as u64 % NEAR;
                    let real = inp.u8() as u64 % 64;
                    for i in 0..(inp.u8() % 16 + 1) as u64 {
                        self.map((first + i) * PAGE, (((real + i) % 64) * PAGE) | 3);
                    }
                }
                2 => self.register(inp),
                3 => self.free(inp),
                4 | 5 => {
                    let unit = Self::unit(inp);
                    let b = self.buffer(inp);
                    self.begin();
                    self.add(unit, b);
                    self.end("H_ADD_LOGICAL_LAN_BUFFER");
                }
                6 => {
                    // A burst, up to past the bounds: n buffers in k sizes.
                    let n = inp.pick(&[8usize, 64, 300, 4095, 4097, 5000]);
                    let k = inp.u8() as u64 % 10 + 1;
                    let b = self.buffer(inp);
                    self.begin();
                    for i in 0..n as u64 {
                        let len = bd_len(b) + 16 * (i % k);
                        self.add(
                            REG as u64,
                            (b & !(0x00ff_ffff << 32)) | (len & 0xff_ffff) << 32,
                        );
                    }
                    self.end("a burst of H_ADD_LOGICAL_LAN_BUFFER");
                }
                7 | 8 => self.send(inp),
                9 | 10 => {
                    let len = frame_len(inp);
                    let f = frame(inp, len);
                    crate::trace!("a frame of {len} bytes arrives");
                    self.begin();
                    self.wire.arrive(f);
                    self.model_receive();
                    self.end("a frame from the network");
                }
                11 => {
                    let unit = Self::unit(inp);
                    let mode = inp.pick(&[1u64, 0, 1, 2, 3, 1 << 63]);
                    self.begin();
                    let known = u32::try_from(unit)
                        .ok()
                        .is_some_and(|u| self.m.vio.by_reg(u).is_some());
                    let want = if mode & !1 != 0 || !known {
                        H_PARAMETER
                    } else {
                        if Self::is_vlan(unit) {
                            self.signal = mode & 1 != 0;
                        }
                        H_SUCCESS
                    };
                    let r = self.hcall(H_VIO_SIGNAL, &[unit, mode]);
                    assert_eq!(r, want, "H_VIO_SIGNAL({unit:#x}, {mode:#x})");
                    self.end("H_VIO_SIGNAL");
                }
                12 => {
                    let unit = Self::unit(inp);
                    let (flags, addr) = (inp.u64(), inp.u64());
                    self.begin();
                    let r = self.hcall(H_MULTICAST_CTRL, &[unit, flags, addr]);
                    let want = if Self::is_vlan(unit) {
                        H_SUCCESS
                    } else {
                        H_PARAMETER
                    };
                    assert_eq!(
                        r, want,
                        "H_MULTICAST_CTRL({unit:#x}, {flags:#x}, {addr:#x})"
                    );
                    self.end("H_MULTICAST_CTRL");
                }
                13 => {
                    let unit = Self::unit(inp);
                    let mac = inp.u64();
                    self.begin();
                    let r = self.hcall(H_CHANGE_LOGICAL_LAN_MAC, &[unit, mac]);
                    let want = if Self::is_vlan(unit) {
                        self.mac.copy_from_slice(&mac.to_be_bytes()[2..]);
                        H_SUCCESS
                    } else {
                        H_PARAMETER
                    };
                    assert_eq!(r, want, "H_CHANGE_LOGICAL_LAN_MAC({unit:#x}, {mac:#x})");
                    assert_eq!(self.vlan.mac(), self.mac, "the MAC");
                    self.end("H_CHANGE_LOGICAL_LAN_MAC");
                }
                14 => {
                    if inp.bool() {
                        // The guest consumes receive-queue entries: clears their flags.
                        let (qa, ql) = (bd_addr(self.lan.rxq), bd_len(self.lan.rxq));
                        for s in 0..(inp.u8() as u64).min(ql / 16) {
                            self.store(qa + 16 * s, &[0]);
                        }
                    } else {
                        let at = inp.u8() as u64 % 64 * PAGE + inp.u16() as u64 % PAGE;
                        let n = inp.u8() as usize % 64;
                        let data = inp.bytes(n);
                        self.cpu_write(at, data);
                    }
                }
                _ => {
                    // Machine reset: the bus clears the windows, then resets the devices.
                    self.begin();
                    self.m.vio.reset();
                    self.tces.clear();
                    self.lan = Lan::default();
                    self.signal = false;
                    self.end("reset");
                    self.begin();
                    let r = self.hcall(H_FREE_LOGICAL_LAN, &[REG as u64]);
                    assert_eq!(r, H_RESOURCE, "open after a reset");
                    self.end("H_FREE_LOGICAL_LAN after a reset");
                }
            }
        }
    }
}

pub fn vlan(data: &[u8]) {
    let mut inp = Input::new(data);
    let b0 = inp.u8();
    let mut h = Harness::new(b0 & 1 != 0);
    h.run(&mut inp);
    h.m.vio.shutdown();
    let Harness { m, cpu, .. } = h;
    MACHINE.with(|c| *c.borrow_mut() = Some((m, cpu)));
}
