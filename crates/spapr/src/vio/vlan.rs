//! spapr-vlan: PAPR's interpartition logical LAN (LoPAR "Logical LAN"), the network adapter of
//! PowerVM guests (Linux's ibmveth), on any `-netdev` backend.
//!
//! The guest registers a buffer-list page, a receive queue and a filter list
//! (H_REGISTER_LOGICAL_LAN), all in the device's TCE window; it posts receive buffers one at a
//! time (H_ADD_LOGICAL_LAN_BUFFER: a descriptor of valid bit, 24-bit length, 32-bit bus
//! address) and sends frames gathered from up to six descriptors (H_SEND_LOGICAL_LAN). A received
//! frame goes into the smallest posted buffer it fits, 8 bytes in (the buffer's first 8 bytes
//! hold the guest's correlator), and a 16-byte entry in the receive queue tells the guest: flags
//! (valid, and a toggle bit that flips at each wrap of the queue), offset, length, correlator.
//!
//! Posted buffers are kept in per-size pools inside lpar rather than in the guest's buffer-list
//! page (QEMU's "rx buffer pools"): ibmveth posts more buffers (about 1000) than the page's ring
//! holds, and picking by size is then cheap. The pools are bounded.
//!
//! Frames from the backend are delivered by whoever learns they can be: the backend's own thread
//! when a frame arrives (its waker), or the vCPU that posts buffers the frames were waiting for
//! (as QEMU flushes its queue there). No thread of our own: a hop through one more thread cost
//! a context switch per frame on a two-core host. Sends happen on the vCPU that makes the hcall.

use super::{dma, VioDevice};
use crate::devtree::{DeviceTree, NodeId};
use crate::hcall::{HcallFn, H_DROPPED, H_PARAMETER, H_RESOURCE, H_SUCCESS};
use crate::irq::IrqLine;
use crate::machine::Machine;
use crate::tce::TceTable;
use ppc::{Cpu, GuestMemory};
use std::io::IoSlice;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

pub use crate::papr::{
    H_ADD_LOGICAL_LAN_BUFFER, H_CHANGE_LOGICAL_LAN_MAC, H_FREE_LOGICAL_LAN, H_MULTICAST_CTRL,
    H_REGISTER_LOGICAL_LAN, H_SEND_LOGICAL_LAN,
};

/// Buffer descriptor fields.
const BD_VALID: u64 = 1 << 63;
const BD_TOGGLE: u64 = 1 << 62;
const BD_LEN_SHIFT: u32 = 32;
const BD_LEN_MASK: u64 = 0x00ff_ffff;
const BD_ADDR_MASK: u64 = 0xffff_ffff;

fn bd_len(bd: u64) -> u64 {
    (bd >> BD_LEN_SHIFT) & BD_LEN_MASK
}

fn bd_addr(bd: u64) -> u64 {
    bd & BD_ADDR_MASK
}

/// Receive-queue entry flags (first byte).
const RXQ_TOGGLE: u8 = 0x80;
const RXQ_VALID: u8 = 0x40;
/// The frame's checksums are good (ibmveth marks it CHECKSUM_UNNECESSARY).
const RXQ_CSUM_GOOD: u8 = 0x01;
/// Where the frame starts in a receive buffer (after the correlator).
const RX_OFFSET: u64 = 8;
/// Largest frame either way (a 64 KiB send is all six descriptors can describe usefully).
const MAX_FRAME: usize = 65536;
/// Posted receive buffers kept at most, and distinct buffer sizes (ibmveth uses up to five).
const MAX_BUFS: usize = 4096;
const MAX_POOLS: usize = 8;
const PAGE: u64 = 4096;

/// What the guest registered.
#[derive(Default)]
struct Lan {
    open: bool,
    /// Receive queue descriptor (address and length in the TCE window), next entry, and the
    /// toggle value for the current pass over it.
    rxq: u64,
    rxq_ptr: u64,
    toggle: bool,
    /// Posted buffers by size: (length, descriptors in posting order).
    pools: Vec<(u64, std::collections::VecDeque<u64>)>,
    bufs: usize,
}

pub struct Vlan {
    reg: u32,
    irq: IrqLine,
    dma: Arc<TceTable>,
    mem: Arc<GuestMemory>,
    mac: Mutex<[u8; 6]>,
    backend: Arc<dyn net::Backend>,
    /// Frames carry a virtio-net header on this backend (a tap): sent with a zero one, the
    /// header dropped from received frames once it has been acted on.
    vnet_hdr: bool,
    /// The backend builds its frames itself with good checksums (user networking).
    made_here: bool,
    lan: Mutex<Lan>,
    /// H_VIO_SIGNAL mode bit 0: interrupt on receive.
    signal: AtomicBool,
    /// Send gather buffer (one frame, reused).
    tx: Mutex<Vec<u8>>,
    /// Receive buffer; holding it is the right to deliver, so frames keep their order.
    rx: Mutex<Vec<u8>>,
}

impl Vlan {
    /// The adapter at `reg` with MAC `mac`, on `backend`.
    pub fn new(
        reg: u32,
        irq: IrqLine,
        mem: Arc<GuestMemory>,
        mac: [u8; 6],
        backend: Arc<dyn net::Backend>,
    ) -> Result<Arc<Vlan>, String> {
        let vnet_hdr = backend.vnet_hdr();
        if vnet_hdr {
            // The host's own packets then come with a partial checksum, completed here in
            // host code and passed on as good, rather than summed in the host kernel and
            // again by the guest on emulated time.
            backend.set_offload(net::Offload {
                csum: true,
                ..Default::default()
            });
        }
        let made_here = backend.checksums_valid();
        let v = Arc::new(Vlan {
            reg,
            irq,
            dma: Arc::new(TceTable::new(reg, 0, super::DMA_WINDOW)),
            mem,
            mac: Mutex::new(mac),
            backend,
            vnet_hdr,
            made_here,
            lan: Mutex::new(Lan::default()),
            signal: AtomicBool::new(false),
            tx: Mutex::new(Vec::with_capacity(MAX_FRAME + net::VNET_HDR_LEN)),
            rx: Mutex::new(vec![0u8; MAX_FRAME + net::VNET_HDR_LEN]),
        });
        // Weak: the backend (owned by the adapter) must not keep the adapter alive.
        let weak = Arc::downgrade(&v);
        v.backend.set_waker(Arc::new(move || {
            if let Some(v) = weak.upgrade() {
                v.receive_all();
            }
        }));
        Ok(v)
    }

    /// Whether DMA of `len` bytes at bus address `ioba` lands in guest RAM, mapped for both
    /// directions (the queues and buffers are read and written).
    fn mapped(&self, ioba: u64, len: u64) -> bool {
        dma::mapped(&self.mem, &self.dma, ioba, len, true)
            && dma::mapped(&self.mem, &self.dma, ioba, len, false)
    }

    fn read(&self, ioba: u64, buf: &mut [u8]) -> bool {
        dma::dma_read(&self.mem, &self.dma, ioba, buf)
    }

    fn write(&self, ioba: u64, data: &[u8]) -> bool {
        dma::dma_write(&self.mem, &self.dma, ioba, data)
    }

    /// Delivers waiting frames while the guest has buffers for them. Stopping for want of
    /// buffers leaves the backend unarmed: posting a buffer calls this again.
    fn receive_all(&self) {
        let Ok(mut buf) = self.rx.lock() else {
            return;
        };
        loop {
            {
                let Ok(lan) = self.lan.lock() else {
                    return;
                };
                if !lan.open || lan.bufs == 0 {
                    return;
                }
            }
            let n = match self.backend.recv(&mut buf) {
                Ok(Some(n)) => n,
                _ => return,
            };
            let Some(got) = buf.get_mut(..n) else {
                continue;
            };
            let (good, frame) = if self.vnet_hdr {
                if got.len() <= net::VNET_HDR_LEN {
                    continue;
                }
                let (hdr, frame) = got.split_at_mut(net::VNET_HDR_LEN);
                match net::finish_checksum(hdr, frame) {
                    net::Checksum::Good => (true, &*frame),
                    net::Checksum::Unknown => (false, &*frame),
                    net::Checksum::Bad => continue,
                }
            } else {
                (self.made_here, &*got)
            };
            if !frame.is_empty() {
                self.deliver(frame, good);
            }
        }
    }

    /// Puts one frame into a posted buffer and the receive queue; drops it when no buffer is
    /// large enough or the guest's queue is unusable (as a full NIC would).
    fn deliver(&self, frame: &[u8], csum_good: bool) {
        let Ok(mut lan) = self.lan.lock() else {
            return;
        };
        let need = frame.len() as u64 + RX_OFFSET;
        let Some(pool) = lan
            .pools
            .iter_mut()
            .filter(|(len, q)| *len >= need && !q.is_empty())
            .min_by_key(|(len, _)| *len)
        else {
            return;
        };
        let Some(bd) = pool.1.pop_front() else {
            return;
        };
        lan.bufs -= 1;
        let mut correlator = [0u8; 8];
        if !self.read(bd_addr(bd), &mut correlator) || !self.write(bd_addr(bd) + RX_OFFSET, frame) {
            return;
        }
        let (rxq_addr, rxq_len) = (bd_addr(lan.rxq), bd_len(lan.rxq));
        let mut flags = RXQ_VALID;
        if csum_good {
            flags |= RXQ_CSUM_GOOD;
        }
        if !lan.toggle {
            flags |= RXQ_TOGGLE;
        }
        let at = rxq_addr + lan.rxq_ptr;
        let mut entry = [0u8; 16];
        entry[2..4].copy_from_slice(&(RX_OFFSET as u16).to_be_bytes());
        entry[4..8].copy_from_slice(&(frame.len() as u32).to_be_bytes());
        entry[8..].copy_from_slice(&correlator);
        // The flags byte last: the guest polls it, and must see the rest first.
        if !self.write(at + 1, &entry[1..]) || !self.write(at, &[flags]) {
            return;
        }
        lan.rxq_ptr += 16;
        if lan.rxq_ptr + 16 > rxq_len {
            lan.rxq_ptr = 0;
            lan.toggle = !lan.toggle;
        }
        drop(lan);
        if self.signal.load(Ordering::SeqCst) {
            self.irq.pulse();
        }
    }

    fn register(&self, buf_list: u64, rxq: u64, filter_list: u64, mac: u64) -> i64 {
        let Ok(mut lan) = self.lan.lock() else {
            return H_PARAMETER;
        };
        if lan.open {
            return H_RESOURCE;
        }
        let aligned = |a: u64, n: u64| a.is_multiple_of(n);
        if !aligned(buf_list, PAGE) || !self.mapped(buf_list, PAGE) {
            return H_PARAMETER;
        }
        if !aligned(filter_list, PAGE) || !self.mapped(filter_list, PAGE) {
            return H_PARAMETER;
        }
        let (qa, ql) = (bd_addr(rxq), bd_len(rxq));
        if rxq & BD_VALID == 0
            || !aligned(qa, 16)
            || !aligned(ql, 16)
            || ql == 0
            || !self.mapped(qa, ql)
        {
            return H_PARAMETER;
        }
        // The receive queue starts empty; the guest's own view of the buffer list is the
        // registered descriptors (what PAPR puts in its first two doublewords).
        let zero = [0u8; 256];
        let mut off = 0;
        while off < ql {
            let n = (ql - off).min(zero.len() as u64) as usize;
            if !self.write(qa + off, &zero[..n]) {
                return H_PARAMETER;
            }
            off += n as u64;
        }
        let mut head = [0u8; 16];
        head[..8].copy_from_slice(&(rxq & !BD_TOGGLE).to_be_bytes());
        head[8..].copy_from_slice(&(BD_VALID | (PAGE << BD_LEN_SHIFT) | filter_list).to_be_bytes());
        if !self.write(buf_list, &head) {
            return H_PARAMETER;
        }
        *lan = Lan {
            open: true,
            rxq: rxq & !BD_TOGGLE,
            ..Lan::default()
        };
        let _ = mac; // the MAC is the device's (mac=); QEMU ignores this argument too
        self.signal.store(false, Ordering::SeqCst);
        drop(lan);
        self.receive_all();
        H_SUCCESS
    }

    fn add_buffer(&self, bd: u64) -> i64 {
        let (addr, len) = (bd_addr(bd), bd_len(bd));
        if bd & BD_VALID == 0 || !addr.is_multiple_of(4) || len < 16 || !self.mapped(addr, len) {
            return H_PARAMETER;
        }
        let Ok(mut lan) = self.lan.lock() else {
            return H_PARAMETER;
        };
        if !lan.open || lan.bufs >= MAX_BUFS {
            return H_RESOURCE;
        }
        let bd = bd & !BD_TOGGLE;
        let npools = lan.pools.len();
        match lan.pools.iter_mut().find(|(l, _)| *l == len) {
            Some((_, q)) => q.push_back(bd),
            None if npools < MAX_POOLS => {
                lan.pools
                    .push((len, std::collections::VecDeque::from([bd])));
            }
            None => return H_RESOURCE,
        }
        lan.bufs += 1;
        drop(lan);
        self.receive_all();
        H_SUCCESS
    }

    fn send(&self, bds: &[u64]) -> i64 {
        if !self.lan.lock().is_ok_and(|l| l.open) {
            return H_DROPPED;
        }
        let Ok(mut tx) = self.tx.lock() else {
            return H_PARAMETER;
        };
        tx.clear();
        if self.vnet_hdr {
            tx.resize(net::VNET_HDR_LEN, 0);
        }
        let hdr = tx.len();
        for &bd in bds.iter().take_while(|&&bd| bd & BD_VALID != 0) {
            let len = bd_len(bd) as usize;
            let start = tx.len();
            if start - hdr + len > MAX_FRAME {
                return H_RESOURCE;
            }
            tx.resize(start + len, 0);
            if !self.read(bd_addr(bd), &mut tx[start..]) {
                return H_PARAMETER;
            }
        }
        if tx.len() == hdr {
            return H_SUCCESS;
        }
        // A backend that cannot take the frame drops it, as a wire would.
        let _ = self.backend.send(&[IoSlice::new(&tx)]);
        H_SUCCESS
    }

    fn free(&self) -> i64 {
        let Ok(mut lan) = self.lan.lock() else {
            return H_PARAMETER;
        };
        if !lan.open {
            return H_RESOURCE;
        }
        *lan = Lan::default();
        H_SUCCESS
    }

    pub fn mac(&self) -> [u8; 6] {
        self.mac.lock().map(|m| *m).unwrap_or_default()
    }
}

impl VioDevice for Vlan {
    fn reg(&self) -> Option<u32> {
        Some(self.reg)
    }

    fn build_node(&self, t: &mut DeviceTree, vdevice: NodeId) {
        let n = super::add_node(
            t,
            vdevice,
            &super::Kind {
                name: "l-lan",
                device_type: "network",
                compatible: "IBM,l-lan",
            },
            self.reg,
            self.irq.number(),
            Some(&self.dma),
        );
        // An 8-byte property with the MAC in its last six bytes: ibmveth guesses the layout
        // from the first byte, and a 6-byte property with some first bytes misleads it.
        let mut mac = [0u8; 8];
        mac[2..].copy_from_slice(&self.mac());
        t.set_prop(n, "local-mac-address", mac.to_vec());
        t.set_prop(n, "mac-address", mac.to_vec());
        t.set_u32(n, "ibm,mac-address-filters", 0);
    }

    fn signal(&self, mode: u64) {
        let on = mode & 1 != 0;
        self.signal.store(on, Ordering::SeqCst);
    }

    fn dma(&self) -> Option<&Arc<TceTable>> {
        Some(&self.dma)
    }

    fn reset(&self) {
        if let Ok(mut lan) = self.lan.lock() {
            *lan = Lan::default();
        }
        self.signal.store(false, Ordering::SeqCst);
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

pub const HCALLS: &[(u64, &str, HcallFn)] = &[
    (
        H_REGISTER_LOGICAL_LAN,
        "H_REGISTER_LOGICAL_LAN",
        h_register_logical_lan,
    ),
    (H_FREE_LOGICAL_LAN, "H_FREE_LOGICAL_LAN", h_free_logical_lan),
    (
        H_ADD_LOGICAL_LAN_BUFFER,
        "H_ADD_LOGICAL_LAN_BUFFER",
        h_add_logical_lan_buffer,
    ),
    (H_SEND_LOGICAL_LAN, "H_SEND_LOGICAL_LAN", h_send_logical_lan),
    (H_MULTICAST_CTRL, "H_MULTICAST_CTRL", h_multicast_ctrl),
    (
        H_CHANGE_LOGICAL_LAN_MAC,
        "H_CHANGE_LOGICAL_LAN_MAC",
        h_change_logical_lan_mac,
    ),
];

/// The adapter an hcall names by its unit address (r4).
fn vlan<'a>(m: &'a Machine, cpu: &Cpu) -> Option<&'a Vlan> {
    m.vio.get::<Vlan>(cpu.gpr[4])
}

/// H_REGISTER_LOGICAL_LAN(unit, buffer list, receive queue, filter list, MAC).
fn h_register_logical_lan(m: &Machine, cpu: &mut Cpu) -> i64 {
    match vlan(m, cpu) {
        Some(v) => v.register(cpu.gpr[5], cpu.gpr[6], cpu.gpr[7], cpu.gpr[8]),
        None => H_PARAMETER,
    }
}

/// H_FREE_LOGICAL_LAN(unit).
fn h_free_logical_lan(m: &Machine, cpu: &mut Cpu) -> i64 {
    vlan(m, cpu).map_or(H_PARAMETER, |v| v.free())
}

/// H_ADD_LOGICAL_LAN_BUFFER(unit, buffer descriptor).
fn h_add_logical_lan_buffer(m: &Machine, cpu: &mut Cpu) -> i64 {
    vlan(m, cpu).map_or(H_PARAMETER, |v| v.add_buffer(cpu.gpr[5]))
}

/// H_SEND_LOGICAL_LAN(unit, descriptors 1-6, continuation token).
fn h_send_logical_lan(m: &Machine, cpu: &mut Cpu) -> i64 {
    let Some(v) = vlan(m, cpu) else {
        return H_PARAMETER;
    };
    // A continuation (a frame split over several calls) is never needed: six descriptors
    // describe any frame ibmveth sends.
    if cpu.gpr[11] != 0 {
        return H_PARAMETER;
    }
    let bds = [
        cpu.gpr[5],
        cpu.gpr[6],
        cpu.gpr[7],
        cpu.gpr[8],
        cpu.gpr[9],
        cpu.gpr[10],
    ];
    v.send(&bds)
}

/// H_MULTICAST_CTRL(unit, flags, address): every frame is delivered (no filtering), so the
/// filter the guest keeps needs nothing here.
fn h_multicast_ctrl(m: &Machine, cpu: &mut Cpu) -> i64 {
    vlan(m, cpu).map_or(H_PARAMETER, |_| H_SUCCESS)
}

/// H_CHANGE_LOGICAL_LAN_MAC(unit, MAC in the low 48 bits).
fn h_change_logical_lan_mac(m: &Machine, cpu: &mut Cpu) -> i64 {
    let Some(v) = vlan(m, cpu) else {
        return H_PARAMETER;
    };
    let b = cpu.gpr[5].to_be_bytes();
    if let Ok(mut mac) = v.mac.lock() {
        mac.copy_from_slice(&b[2..]);
    }
    H_SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tce::{TCE_READ, TCE_WRITE};
    use crate::vio::crq::tests::Pulses;
    use net::loopback::Loopback;

    const REG: u32 = 0x7100_0001;
    /// Window pages 0..16 map real pages from here.
    const REAL: u64 = 0x10_0000;
    const BUF_LIST: u64 = 0;
    const FILTER: u64 = PAGE;
    const RXQ: u64 = 2 * PAGE;
    /// Two 2 KiB receive buffers per page from here.
    const BUFS: u64 = 4 * PAGE;

    struct Guest {
        mem: Arc<GuestMemory>,
        lb: Arc<Loopback>,
        v: Arc<Vlan>,
        /// Receive-queue entries read so far.
        seen: u64,
    }

    impl Guest {
        /// An adapter on `lb`, registered, with `bufs` 2 KiB buffers posted (correlator i+1).
        fn new(lb: Arc<Loopback>, bufs: u64) -> Guest {
            let mem = Arc::new(GuestMemory::new(64 << 20).expect("guest memory"));
            let irq = IrqLine::new(Arc::new(Pulses::default()), 0x1001, false);
            let backend: Arc<dyn net::Backend> = lb.clone();
            let v = Vlan::new(REG, irq, mem.clone(), [2, 0, 0, 0, 0, 1], backend).expect("vlan");
            for p in 0..16 {
                assert!(v
                    .dma
                    .put(p * PAGE, (REAL + p * PAGE) | TCE_READ | TCE_WRITE));
            }
            let rxq = BD_VALID | (PAGE << BD_LEN_SHIFT) | RXQ;
            assert_eq!(v.register(BUF_LIST, rxq, FILTER, 0), H_SUCCESS);
            for i in 0..bufs {
                let at = BUFS + i * 2048;
                assert!(mem.write(REAL + at, &(i + 1).to_be_bytes()));
                assert_eq!(
                    v.add_buffer(BD_VALID | (2048 << BD_LEN_SHIFT) | at),
                    H_SUCCESS
                );
            }
            Guest {
                mem,
                lb,
                v,
                seen: 0,
            }
        }

        /// The next receive-queue entry if valid: (flags byte, the frame by its correlator).
        fn next(&mut self) -> Option<(u8, Vec<u8>)> {
            let mut e = [0u8; 16];
            assert!(self.mem.read(REAL + RXQ + self.seen * 16, &mut e));
            if e[0] & RXQ_VALID == 0 {
                return None;
            }
            self.seen += 1;
            let off = u64::from(u16::from_be_bytes([e[2], e[3]]));
            let len = u32::from_be_bytes([e[4], e[5], e[6], e[7]]) as usize;
            let corr = u64::from_be_bytes(e[8..].try_into().expect("8 bytes"));
            let mut frame = vec![0u8; len];
            assert!(self
                .mem
                .read(REAL + BUFS + (corr - 1) * 2048 + off, &mut frame));
            Some((e[0], frame))
        }
    }

    /// One's complement sum of 16-bit big-endian words (RFC 1071), unfolded.
    fn sum(data: &[u8]) -> u64 {
        data.chunks(2)
            .map(|w| u64::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)])))
            .sum()
    }

    fn fold(mut s: u64) -> u16 {
        while s >> 16 != 0 {
            s = (s & 0xffff) + (s >> 16);
        }
        s as u16
    }

    /// An Ethernet/IPv4/TCP frame with `payload`; the TCP checksum field holds `check`.
    fn tcp_frame(payload: &[u8], check: u16) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 20 + 20];
        f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
        let ip = &mut f[14..34];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&((40 + payload.len()) as u16).to_be_bytes());
        ip[8] = 64;
        ip[9] = 6;
        ip[12..16].copy_from_slice(&[10, 0, 2, 2]);
        ip[16..20].copy_from_slice(&[10, 0, 2, 15]);
        let c = !fold(sum(ip));
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        f[34 + 12] = 5 << 4;
        f[34 + 16..34 + 18].copy_from_slice(&check.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    /// The TCP pseudo-header sum of a `tcp_frame`: what a sender with offload leaves in the field.
    fn pseudo(frame: &[u8]) -> u16 {
        let tcp_len = (frame.len() - 34) as u64;
        fold(sum(&frame[26..34]) + 6 + tcp_len)
    }

    /// Whether the frame's TCP checksum verifies: the sum over pseudo-header and segment is all ones.
    fn tcp_verifies(frame: &[u8]) -> bool {
        let tcp_len = (frame.len() - 34) as u64;
        fold(sum(&frame[26..34]) + 6 + tcp_len + sum(&frame[34..])) == 0xffff
    }

    /// A virtio-net header: flags, csum_start, csum_offset.
    fn vnet(flags: u8, start: u16, offset: u16) -> Vec<u8> {
        let mut h = vec![0u8; net::VNET_HDR_LEN];
        h[0] = flags;
        h[6..8].copy_from_slice(&start.to_le_bytes());
        h[8..10].copy_from_slice(&offset.to_le_bytes());
        h
    }

    fn with_hdr(h: Vec<u8>, frame: &[u8]) -> Vec<u8> {
        let mut v = h;
        v.extend_from_slice(frame);
        v
    }

    #[test]
    fn a_tap_frame_with_a_partial_checksum_arrives_completed_and_marked_good() {
        let mut g = Guest::new(Loopback::new(true), 4);
        // Partial checksums are asked of the tap, nothing that makes frames too big for ibmveth.
        let o =
            g.lb.offload()
                .expect("offload set on a vnet-header backend");
        assert!(o.csum && !o.tso4 && !o.tso6 && !o.ufo);
        let payload: Vec<u8> = (0..333u32).map(|i| (i * 7) as u8).collect();
        let partial = tcp_frame(&payload, 0);
        let partial = tcp_frame(&payload, pseudo(&partial));
        assert!(!tcp_verifies(&partial));
        g.lb.arrive(with_hdr(vnet(net::VNET_F_NEEDS_CSUM, 34, 16), &partial));
        let (flags, got) = g.next().expect("delivered");
        assert_eq!(flags & RXQ_CSUM_GOOD, RXQ_CSUM_GOOD);
        assert!(tcp_verifies(&got), "{got:x?}");
        // Only the checksum field changed.
        assert_eq!(got[..50], partial[..50]);
        assert_eq!(got[52..], partial[52..]);
    }

    #[test]
    fn tap_frames_keep_what_their_header_says_of_their_checksums() {
        let mut g = Guest::new(Loopback::new(true), 4);
        let frame = tcp_frame(b"checked by the host", 0x1234);
        // Nothing said: the guest checks.
        g.lb.arrive(with_hdr(vnet(0, 0, 0), &frame));
        let (flags, got) = g.next().expect("delivered");
        assert_eq!((flags & RXQ_CSUM_GOOD, got), (0, frame.clone()));
        // DATA_VALID: good, untouched.
        g.lb.arrive(with_hdr(vnet(net::VNET_F_DATA_VALID, 0, 0), &frame));
        let (flags, got) = g.next().expect("delivered");
        assert_eq!((flags & RXQ_CSUM_GOOD, got), (RXQ_CSUM_GOOD, frame.clone()));
        // A checksum field past the frame's end: dropped, its buffer kept for the next frame.
        g.lb.arrive(with_hdr(vnet(net::VNET_F_NEEDS_CSUM, 34, 400), &frame));
        assert!(g.next().is_none());
        g.lb.arrive(with_hdr(vnet(0, 0, 0), &frame));
        assert_eq!(g.next().map(|(_, f)| f), Some(frame.clone()));
        // A header and nothing after it: nothing delivered.
        g.lb.arrive(vnet(0, 0, 0));
        assert!(g.next().is_none());
        assert_eq!(g.v.lan.lock().map(|l| l.bufs).ok(), Some(1));
    }

    #[test]
    fn frames_are_marked_good_only_from_a_backend_that_built_them() {
        for valid in [false, true] {
            let mut g = Guest::new(Loopback::with(false, valid), 2);
            assert!(g.lb.offload().is_none());
            let frame = tcp_frame(b"from slirp", 0x4321);
            g.lb.arrive(frame.clone());
            let (flags, got) = g.next().expect("delivered");
            assert_eq!(got, frame);
            assert_eq!(flags & RXQ_CSUM_GOOD != 0, valid);
        }
    }
}
