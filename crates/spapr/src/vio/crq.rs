//! The command/response queue (CRQ) of PAPR's partner-to-partner VIO devices (LoPAR "Command
//! Response Queue"): the transport of spapr-vscsi (Linux's ibmvscsi) and, later, the vTPM.
//!
//! The guest registers a ring of 16-byte entries in the device's own TCE window (H_REG_CRQ) and
//! sends the device 16-byte messages (H_SEND_CRQ). The device answers by writing entries into the
//! ring: an entry belongs to the guest while its first byte is non-zero (0x80 payload, 0xC0
//! initialisation, 0xFF transport event), and the guest zeroes it when done. After each entry
//! the device pulses its interrupt if H_VIO_SIGNAL enabled it. H_FREE_CRQ closes the connection
//! (replies to messages sent before it are dropped); H_ENABLE_CRQ, which re-enables a queue after
//! a partition migration, has nothing to do; H_COPY_RDMA copies between any two DMA windows (a
//! server partition's call, in the same hcall set).
//!
//! A device embeds a [`Crq`] and implements [`CrqDevice`], which the hcalls reach through
//! `VioDevice::crq`. Every guest-memory access goes through the device's TCE table page by page,
//! permission-checked, then `GuestMemory::read/write` (bounds, instruction-cache coherence).
//!
//! Semantics follow QEMU's hw/ppc/spapr_vio.c, plus: the whole ring must be mapped (read and
//! write) when it is registered, and registration zeroes it; a message to a device whose ring is
//! not registered gets H_RESOURCE.

use super::VioDevice;
use crate::hcall::{
    HcallFn, H_HARDWARE, H_NOT_FOUND, H_PARAMETER, H_PERMISSION, H_RESOURCE, H_SUCCESS,
};
use crate::irq::IrqLine;
use crate::machine::Machine;
use crate::tce::TceTable;
use ppc::{Cpu, GuestMemory};

// The DMA helpers began here; devices without a CRQ use them too.
pub use super::dma::{dma_fill, dma_read, dma_write, mapped, walk};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

pub use crate::papr::{H_COPY_RDMA, H_ENABLE_CRQ, H_FREE_CRQ, H_REG_CRQ, H_SEND_CRQ};

/// Bytes of one queue entry and of one message.
pub const ENTRY: u64 = 16;
/// First byte of an entry: what it carries (0: the slot is free).
pub const VALID_PAYLOAD: u8 = 0x80;
pub const VALID_INIT: u8 = 0xc0;
pub const VALID_TRANSPORT: u8 = 0xff;
/// Second byte of an initialisation entry.
pub const INIT_REQUEST: u8 = 0x01;
pub const INIT_COMPLETE: u8 = 0x02;
/// Ring sizes H_REG_CRQ accepts (QEMU's bounds: one page to the whole default window).
pub const QUEUE_MIN: u64 = 0x1000;
pub const QUEUE_MAX: u64 = 0x1000_0000;
/// Largest H_COPY_RDMA: the copy runs on the calling vCPU, so it is bounded (128 KiB, the
/// default `ibm,max-virtual-dma-size` a server partition sees).
pub const RDMA_MAX: u64 = 128 << 10;
/// I/O page: every access is translated per 4 KiB page (the VIO windows' page size).
const PAGE: u64 = 1 << crate::tce::PAGE_SHIFT;

// ---- the queue ---------------------------------------------------------------------------------

/// A registered ring: its bus address and length in the device's window, and the next slot
/// the device writes (a byte offset, a multiple of [`ENTRY`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ring {
    pub ioba: u64,
    pub len: u64,
    pub next: u64,
}

/// Why an entry was not delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliverError {
    /// The next slot still holds an entry the guest has not consumed.
    Full,
    /// No ring is registered (or the connection the entry answers was closed since).
    Closed,
    /// The slot is no longer mapped (the guest changed its TCEs).
    Dma,
}

#[derive(Default)]
struct State {
    ring: Option<Ring>,
    /// Bumped at every registration and free: a reply prepared for an earlier connection is
    /// not delivered into a later one (the guest would take it for one of its new requests).
    connection: u64,
}

/// The CRQ of one device: the guest's ring in the device's window, and the interrupt raised
/// when an entry arrives.
pub struct Crq {
    mem: Arc<GuestMemory>,
    dma: Arc<TceTable>,
    irq: IrqLine,
    /// H_VIO_SIGNAL mode bit 0: interrupt on delivery.
    signal: AtomicBool,
    state: Mutex<State>,
}

impl Crq {
    /// The queue of a device whose DMA window is `dma`.
    pub fn new(mem: Arc<GuestMemory>, dma: Arc<TceTable>, irq: IrqLine) -> Crq {
        Crq {
            mem,
            dma,
            irq,
            signal: AtomicBool::new(false),
            state: Mutex::new(State::default()),
        }
    }

    pub fn mem(&self) -> &Arc<GuestMemory> {
        &self.mem
    }

    /// The device's DMA window (what `VioDevice::dma` returns).
    pub fn table(&self) -> &Arc<TceTable> {
        &self.dma
    }

    pub fn irq(&self) -> &IrqLine {
        &self.irq
    }

    /// H_REG_CRQ: registers a ring of `len` bytes at bus address `ioba`. H_PARAMETER for a
    /// size outside [`QUEUE_MIN`]..=[`QUEUE_MAX`] or not a whole number of entries, a ring not
    /// 4 KiB-aligned, or one not wholly mapped (read and write) into guest RAM; H_RESOURCE if a
    /// ring is registered already. The ring is zeroed: every slot free.
    pub fn register(&self, ioba: u64, len: u64) -> i64 {
        if !(QUEUE_MIN..=QUEUE_MAX).contains(&len)
            || !len.is_multiple_of(ENTRY)
            || !ioba.is_multiple_of(PAGE)
        {
            return H_PARAMETER;
        }
        let Ok(mut st) = self.state.lock() else {
            return H_HARDWARE;
        };
        if st.ring.is_some() {
            return H_RESOURCE;
        }
        if !mapped(&self.mem, &self.dma, ioba, len, false)
            || !mapped(&self.mem, &self.dma, ioba, len, true)
            || !dma_fill(&self.mem, &self.dma, ioba, len, 0)
        {
            return H_PARAMETER;
        }
        st.ring = Some(Ring { ioba, len, next: 0 });
        st.connection = st.connection.wrapping_add(1);
        H_SUCCESS
    }

    /// H_FREE_CRQ: forgets the ring (entries already written stay for the guest to read).
    pub fn free(&self) {
        if let Ok(mut st) = self.state.lock() {
            if st.ring.take().is_some() {
                st.connection = st.connection.wrapping_add(1);
            }
        }
    }

    /// Machine reset: no ring, interrupt disabled.
    pub fn reset(&self) {
        self.free();
        self.signal.store(false, Ordering::SeqCst);
    }

    /// The registered ring, if any.
    pub fn ring(&self) -> Option<Ring> {
        self.state.lock().ok()?.ring
    }

    /// The current connection (None: no ring). Replies to a message received now are delivered
    /// with [`Crq::deliver_on`] this value.
    pub fn connection(&self) -> Option<u64> {
        let st = self.state.lock().ok()?;
        st.ring.map(|_| st.connection)
    }

    /// H_VIO_SIGNAL: mode bit 0 enables the interrupt on delivery.
    pub fn signal(&self, mode: u64) {
        self.signal.store(mode & 1 != 0, Ordering::SeqCst);
    }

    pub fn irq_enabled(&self) -> bool {
        self.signal.load(Ordering::SeqCst)
    }

    /// Writes `entry` into the next slot of the ring if that slot is free, advances (wrapping
    /// at the end) and pulses the interrupt if enabled.
    pub fn deliver(&self, entry: [u8; 16]) -> Result<(), DeliverError> {
        self.deliver_to(None, entry)
    }

    /// [`Crq::deliver`], but only while `connection` is still the current one.
    pub fn deliver_on(&self, connection: u64, entry: [u8; 16]) -> Result<(), DeliverError> {
        self.deliver_to(Some(connection), entry)
    }

    fn deliver_to(&self, connection: Option<u64>, entry: [u8; 16]) -> Result<(), DeliverError> {
        {
            let mut st = self.state.lock().map_err(|_| DeliverError::Closed)?;
            if connection.is_some_and(|c| c != st.connection) {
                return Err(DeliverError::Closed);
            }
            let ring = st.ring.as_mut().ok_or(DeliverError::Closed)?;
            let slot = ring.ioba + ring.next;
            let mut head = [0u8; 1];
            if !dma_read(&self.mem, &self.dma, slot, &mut head) {
                return Err(DeliverError::Dma);
            }
            if head[0] != 0 {
                return Err(DeliverError::Full);
            }
            // The first byte last: the guest polls it, and must not see the entry before the
            // rest of it (a store fence keeps host stores in order on any host).
            if !dma_write(&self.mem, &self.dma, slot + 1, &entry[1..]) {
                return Err(DeliverError::Dma);
            }
            std::sync::atomic::fence(Ordering::Release);
            if !dma_write(&self.mem, &self.dma, slot, &entry[..1]) {
                return Err(DeliverError::Dma);
            }
            ring.next = (ring.next + ENTRY) % ring.len;
        }
        if self.irq_enabled() {
            self.irq.pulse();
        }
        Ok(())
    }
}

/// A VIO device with a CRQ.
pub trait CrqDevice: Send + Sync {
    /// The device's queue.
    fn queue(&self) -> &Crq;
    /// A message from the guest (H_SEND_CRQ, the ring registered): the device takes it and
    /// returns the hcall's code (H_SUCCESS, or H_DROPPED when it cannot take more now).
    fn receive(&self, msg: [u8; 16]) -> i64;
}

// ---- hypercalls --------------------------------------------------------------------------------

pub const HCALLS: &[(u64, &str, HcallFn)] = &[
    (H_REG_CRQ, "H_REG_CRQ", h_reg_crq),
    (H_FREE_CRQ, "H_FREE_CRQ", h_free_crq),
    (H_SEND_CRQ, "H_SEND_CRQ", h_send_crq),
    (H_ENABLE_CRQ, "H_ENABLE_CRQ", h_enable_crq),
    (H_COPY_RDMA, "H_COPY_RDMA", h_copy_rdma),
];

/// The device at unit address `unit`.
fn device(m: &Machine, unit: u64) -> Option<&Arc<dyn VioDevice>> {
    m.vio.by_reg(u32::try_from(unit).ok()?)
}

/// H_REG_CRQ(unit, queue ioba, queue length).
fn h_reg_crq(m: &Machine, cpu: &mut Cpu) -> i64 {
    let Some(d) = device(m, cpu.gpr[4]) else {
        return H_PARAMETER;
    };
    match d.crq() {
        Some(c) => c.queue().register(cpu.gpr[5], cpu.gpr[6]),
        None => H_NOT_FOUND,
    }
}

/// H_FREE_CRQ(unit).
fn h_free_crq(m: &Machine, cpu: &mut Cpu) -> i64 {
    let Some(d) = device(m, cpu.gpr[4]) else {
        return H_PARAMETER;
    };
    if let Some(c) = d.crq() {
        c.queue().free();
    }
    H_SUCCESS
}

/// H_SEND_CRQ(unit, message bytes 0-7, bytes 8-15), each doubleword big-endian.
fn h_send_crq(m: &Machine, cpu: &mut Cpu) -> i64 {
    let Some(d) = device(m, cpu.gpr[4]) else {
        return H_PARAMETER;
    };
    match d.crq() {
        Some(c) => send(c, cpu.gpr[5], cpu.gpr[6]),
        // QEMU's answer for a device without a queue.
        None => H_HARDWARE,
    }
}

/// H_SEND_CRQ to device `dev`: H_RESOURCE without a registered ring, else what the device
/// says.
pub fn send(dev: &dyn CrqDevice, hi: u64, lo: u64) -> i64 {
    if dev.queue().ring().is_none() {
        return H_RESOURCE;
    }
    let mut msg = [0u8; 16];
    msg[..8].copy_from_slice(&hi.to_be_bytes());
    msg[8..].copy_from_slice(&lo.to_be_bytes());
    dev.receive(msg)
}

/// H_ENABLE_CRQ(unit): re-enables a queue after a partition suspension; nothing to do here.
fn h_enable_crq(m: &Machine, cpu: &mut Cpu) -> i64 {
    match device(m, cpu.gpr[4]) {
        Some(_) => H_SUCCESS,
        None => H_PARAMETER,
    }
}

/// H_COPY_RDMA(length, source LIOBN, source ioba, destination LIOBN, destination ioba).
fn h_copy_rdma(m: &Machine, cpu: &mut Cpu) -> i64 {
    let g = &cpu.gpr;
    let table = |liobn: u64| u32::try_from(liobn).ok().and_then(|l| m.tce_table(l));
    let (Some(src), Some(dst)) = (table(g[5]), table(g[7])) else {
        return H_PARAMETER;
    };
    copy_rdma(&m.mem, &src, g[6], &dst, g[8], g[4])
}

/// Copies `len` bytes from bus address `sioba` of window `src` to `dioba` of window `dst`.
/// H_PARAMETER for a length over [`RDMA_MAX`] or a range leaving either window or guest RAM,
/// H_PERMISSION for a page the source does not map readable or the destination writable;
/// nothing is copied then. Overlapping ranges copy as if through a buffer, page by page.
pub fn copy_rdma(
    mem: &GuestMemory,
    src: &TceTable,
    sioba: u64,
    dst: &TceTable,
    dioba: u64,
    len: u64,
) -> i64 {
    // A window is contiguous: its first and last byte in it put the whole range in it.
    let inside = |t: &TceTable, ioba: u64| {
        len == 0
            || (t.get(ioba).is_some()
                && ioba
                    .checked_add(len - 1)
                    .is_some_and(|e| t.get(e).is_some()))
    };
    if len > RDMA_MAX {
        return H_PARAMETER;
    }
    if !inside(src, sioba) || !inside(dst, dioba) {
        return H_PARAMETER;
    }
    if !mapped(mem, src, sioba, len, false) || !mapped(mem, dst, dioba, len, true) {
        return H_PERMISSION;
    }
    let mut buf = [0u8; PAGE as usize];
    let mut done = 0;
    while done < len {
        let (s, d) = (sioba + done, dioba + done);
        let n = (PAGE - (s & (PAGE - 1)))
            .min(PAGE - (d & (PAGE - 1)))
            .min(len - done);
        let chunk = &mut buf[..n as usize];
        // Both checked above; a TCE changed meanwhile by another vCPU fails the copy there.
        if !dma_read(mem, src, s, chunk) || !dma_write(mem, dst, d, chunk) {
            return H_PERMISSION;
        }
        done += n;
    }
    H_SUCCESS
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::irq::Intc;
    use crate::tce::{TCE_READ, TCE_WRITE};
    use std::sync::atomic::AtomicUsize;

    /// An interrupt controller that counts pulses.
    #[derive(Default)]
    pub struct Pulses(pub AtomicUsize);

    impl Intc for Pulses {
        fn pulse(&self, _irq: u32) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
        fn set_level(&self, _irq: u32, _level: bool) {}
        fn set_lsi(&self, _irq: u32, _lsi: bool) {}
    }

    impl Pulses {
        pub fn count(&self) -> usize {
            self.0.load(Ordering::SeqCst)
        }
    }

    pub const LIOBN: u32 = 0x7100_0003;
    /// The window's pages 0..32 map guest pages 0x100.. (read/write) in these tests.
    pub const MAPPED: u64 = 32;
    pub const REAL: u64 = 0x10_0000;

    /// 64 MiB of guest RAM, a window whose first pages map RAM from `REAL`, an interrupt.
    pub fn setup() -> (Arc<GuestMemory>, Arc<TceTable>, IrqLine, Arc<Pulses>) {
        let mem = Arc::new(GuestMemory::new(64 << 20).expect("guest memory"));
        let dma = Arc::new(TceTable::new(LIOBN, 0, super::super::DMA_WINDOW));
        for p in 0..MAPPED {
            assert!(dma.put(p * PAGE, (REAL + p * PAGE) | TCE_READ | TCE_WRITE));
        }
        let pulses = Arc::new(Pulses::default());
        let irq = IrqLine::new(pulses.clone(), 0x1103, false);
        (mem, dma, irq, pulses)
    }

    fn entry(b: u8) -> [u8; 16] {
        let mut e = [b; 16];
        e[0] = VALID_PAYLOAD;
        e
    }

    #[test]
    fn registration_checks_size_alignment_mapping_and_twice() {
        let (mem, dma, irq, _) = setup();
        let q = Crq::new(mem.clone(), dma.clone(), irq);
        assert_eq!(q.register(0x800, 0x1000), H_PARAMETER, "unaligned");
        assert_eq!(q.register(0, 0x800), H_PARAMETER, "too small");
        assert_eq!(q.register(0, 0x1008), H_PARAMETER, "partial entry");
        assert_eq!(q.register(0, QUEUE_MAX + 0x1000), H_PARAMETER, "too big");
        assert_eq!(
            q.register((MAPPED - 1) * PAGE, 0x2000),
            H_PARAMETER,
            "runs off the mapped pages"
        );
        assert_eq!(q.register(!0xfff, 0x2000), H_PARAMETER);
        // Mapped read-only: the device could not write its entries.
        assert!(dma.put(40 * PAGE, 0x20_0000 | TCE_READ));
        assert_eq!(q.register(40 * PAGE, 0x1000), H_PARAMETER);
        // Mapped beyond RAM.
        assert!(dma.put(41 * PAGE, (1 << 40) | TCE_READ | TCE_WRITE));
        assert_eq!(q.register(41 * PAGE, 0x1000), H_PARAMETER);
        assert_eq!(q.ring(), None);
        // Garbage in the ring is zeroed at registration.
        assert!(mem.fill(REAL + 0x2000, 0x2000, 0xaa));
        assert_eq!(q.register(0x2000, 0x2000), H_SUCCESS);
        let mut b = vec![1u8; 0x2000];
        assert!(mem.read(REAL + 0x2000, &mut b));
        assert!(b.iter().all(|&x| x == 0));
        assert_eq!(q.register(0x2000, 0x2000), H_RESOURCE);
        assert_eq!(q.register(0, 0x1000), H_RESOURCE);
        q.free();
        assert_eq!(q.ring(), None);
        assert_eq!(q.register(0, 0x1000), H_SUCCESS);
    }

    #[test]
    fn delivery_wraps_and_stops_at_an_unconsumed_slot() {
        let (mem, dma, irq, pulses) = setup();
        let q = Crq::new(mem.clone(), dma, irq);
        assert_eq!(q.deliver(entry(1)), Err(DeliverError::Closed));
        assert_eq!(q.register(0x1000, 0x1000), H_SUCCESS);
        let slots = 0x1000 / ENTRY;
        for i in 0..slots {
            assert_eq!(q.deliver(entry(i as u8)), Ok(()));
        }
        // Interrupt still disabled.
        assert_eq!(pulses.count(), 0);
        // Full: slot 0 not consumed.
        assert_eq!(q.deliver(entry(0xee)), Err(DeliverError::Full));
        let mut e = [0u8; 16];
        assert!(mem.read(REAL + 0x1000 + 5 * ENTRY, &mut e));
        assert_eq!(e, entry(5));
        // The guest consumes slot 0: the next entry wraps there.
        assert!(mem.write(REAL + 0x1000, &[0]));
        q.signal(1);
        assert_eq!(q.deliver(entry(0x77)), Ok(()));
        assert_eq!(pulses.count(), 1);
        assert!(mem.read(REAL + 0x1000, &mut e));
        assert_eq!(e, entry(0x77));
        // Slot 1 is still in use.
        assert_eq!(q.deliver(entry(0x78)), Err(DeliverError::Full));
        assert_eq!(pulses.count(), 1);
        // Unmapping the ring page makes delivery fail, not panic.
        let (mem2, dma2, irq2, _) = setup();
        let q2 = Crq::new(mem2, dma2.clone(), irq2);
        assert_eq!(q2.register(0, 0x1000), H_SUCCESS);
        assert!(dma2.put(0, 0));
        assert_eq!(q2.deliver(entry(1)), Err(DeliverError::Dma));
    }

    #[test]
    fn a_reply_for_a_closed_connection_is_not_delivered() {
        let (mem, dma, irq, _) = setup();
        let q = Crq::new(mem, dma, irq);
        assert_eq!(q.connection(), None);
        assert_eq!(q.register(0, 0x1000), H_SUCCESS);
        let c = q.connection().expect("registered");
        q.free();
        assert_eq!(q.register(0, 0x1000), H_SUCCESS);
        assert_eq!(q.deliver_on(c, entry(1)), Err(DeliverError::Closed));
        let c2 = q.connection().expect("registered");
        assert_eq!(q.deliver_on(c2, entry(1)), Ok(()));
        q.reset();
        assert!(!q.irq_enabled());
        assert_eq!(q.deliver(entry(1)), Err(DeliverError::Closed));
    }

    #[test]
    fn dma_goes_through_the_window_with_permissions() {
        let (mem, dma, _, _) = setup();
        // Across a page boundary: two real pages.
        assert!(dma.put(50 * PAGE, 0x30_0000 | TCE_READ | TCE_WRITE));
        assert!(dma.put(51 * PAGE, 0x50_0000 | TCE_READ | TCE_WRITE));
        let data: Vec<u8> = (0..64u8).collect();
        assert!(dma_write(&mem, &dma, 51 * PAGE - 16, &data));
        let mut a = [0u8; 16];
        assert!(mem.read(0x30_0000 + PAGE - 16, &mut a));
        assert_eq!(&a[..], &data[..16]);
        let mut b = [0u8; 48];
        assert!(mem.read(0x50_0000, &mut b));
        assert_eq!(&b[..], &data[16..]);
        let mut back = [0u8; 64];
        assert!(dma_read(&mem, &dma, 51 * PAGE - 16, &mut back));
        assert_eq!(&back[..], &data[..]);
        // Write-only page: readable no more.
        assert!(dma.put(52 * PAGE, 0x60_0000 | TCE_WRITE));
        assert!(!dma_read(&mem, &dma, 52 * PAGE, &mut back));
        assert!(dma_write(&mem, &dma, 52 * PAGE, &back));
        assert!(!dma_write(&mem, &dma, 53 * PAGE, &back));
        assert!(!dma_read(&mem, &dma, u64::MAX - 4, &mut back));
        assert!(!mapped(&mem, &dma, u64::MAX, 2, false));
    }

    #[test]
    fn copy_rdma_between_windows() {
        let (mem, a, _, _) = setup();
        let b = TceTable::new(0x8000_0000, 0, 1 << 20);
        assert!(b.put(0x3000, 0x40_0000 | TCE_WRITE));
        assert!(b.put(0x4000, 0x70_0000 | TCE_WRITE));
        assert!(b.put(0x5000, 0x71_0000 | TCE_READ));
        let data: Vec<u8> = (0..0x1800u32).map(|i| (i * 13) as u8).collect();
        assert!(mem.write(REAL + 0x1100, &data));
        assert_eq!(
            copy_rdma(&mem, &a, 0x1100, &b, 0x3800, data.len() as u64),
            H_SUCCESS
        );
        let mut got = vec![0u8; data.len()];
        assert!(mem.read(0x40_0800, &mut got[..0x800]));
        assert!(mem.read(0x70_0000, &mut got[0x800..]));
        assert_eq!(got, data);
        // The destination page is read-only: nothing is copied.
        assert!(mem.fill(0x70_0000, 0x1000, 0));
        assert_eq!(copy_rdma(&mem, &a, 0, &b, 0x4800, 0x1000), H_PERMISSION);
        let mut z = vec![1u8; 0x800];
        assert!(mem.read(0x70_0800, &mut z));
        assert!(z.iter().all(|&x| x == 0));
        // Outside the window, overflowing, too long.
        assert_eq!(copy_rdma(&mem, &a, 0, &b, 1 << 20, 16), H_PARAMETER);
        assert_eq!(copy_rdma(&mem, &a, u64::MAX - 8, &b, 0, 16), H_PARAMETER);
        assert_eq!(
            copy_rdma(&mem, &a, 0, &b, 0x3000, RDMA_MAX + 1),
            H_PARAMETER
        );
        assert_eq!(copy_rdma(&mem, &a, 0, &b, 0x3000, 0), H_SUCCESS);
    }
}
