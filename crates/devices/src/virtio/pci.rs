//! The virtio-pci transport, modern interface (virtio 1.x): vendor capabilities point into one
//! 64-bit memory BAR (BAR 4) holding the common configuration, the ISR, the device configuration
//! and the queue doorbells, at the offsets QEMU uses. Interrupts are MSI-X (table in BAR 1, one
//! vector per queue plus one for configuration changes) once the driver enables it, INTx (pin A)
//! before that.

use super::{feature, status, Queue, QueueT, VirtioDevice, VirtioInterrupt};
use crate::msix::{MsiSink, Msix};
use crate::pci::{Bar, BarKind, ConfigSpace, Ids, PciDevice, CAP_VENDOR};
use crate::ram::GuestRam;
use crate::Interrupt;
use std::sync::{Arc, Mutex};
use vm_memory::GuestAddress;

/// PCI vendor of virtio devices; modern device ids are 0x1040 + type.
pub const VIRTIO_VENDOR: u16 = 0x1af4;
const MODERN_DEVICE_BASE: u16 = 0x1040;

/// BAR 4 layout (QEMU's): one page per structure.
pub const BAR: usize = 4;
const BAR_SIZE: u64 = 0x4000;
const COMMON: u64 = 0x0000;
const ISR: u64 = 0x1000;
const DEVICE: u64 = 0x2000;
const NOTIFY: u64 = 0x3000;
const COMMON_LEN: u64 = 0x40;
/// Doorbell of queue q is at NOTIFY + q * NOTIFY_MULT.
const NOTIFY_MULT: u32 = 4;

/// virtio_pci_cap cfg_type values.
const CAP_COMMON: u8 = 1;
const CAP_NOTIFY: u8 = 2;
const CAP_ISR: u8 = 3;
const CAP_DEVICE: u8 = 4;

/// BAR 1: the MSI-X table, and its pending bits from this offset.
const MSIX_BAR: usize = 1;
const MSIX_BAR_SIZE: u64 = 0x1000;
const MSIX_PBA: u64 = 0x800;

#[derive(Clone, Copy, Default)]
struct QueueRegs {
    size: u16,
    enable: bool,
    desc: u64,
    driver: u64,
    device: u64,
}

struct State {
    dev: Box<dyn VirtioDevice>,
    device_feature_select: u32,
    driver_feature_select: u32,
    driver_features: u64,
    status: u8,
    generation: u8,
    queue_select: u16,
    queues: Vec<QueueRegs>,
    active: bool,
}

pub struct VirtioPci {
    name: String,
    config: Mutex<ConfigSpace>,
    st: Mutex<State>,
    irq: Arc<VirtioInterrupt>,
    msix: Arc<Msix>,
    mem: Arc<GuestRam>,
}

impl VirtioPci {
    pub fn new(
        name: &str,
        dev: Box<dyn VirtioDevice>,
        mem: Arc<GuestRam>,
        line: Arc<dyn Interrupt>,
        msi: Arc<dyn MsiSink>,
    ) -> VirtioPci {
        let ty = dev.device_type();
        let mut c = ConfigSpace::new(Ids {
            vendor: VIRTIO_VENDOR,
            device: MODERN_DEVICE_BASE + ty,
            revision: 1,
            class: dev.pci_class(),
            subsystem_vendor: VIRTIO_VENDOR,
            subsystem: 0x40 + ty,
        });
        c.add_bar(
            BAR,
            Bar {
                size: BAR_SIZE,
                kind: BarKind::Mem64 { prefetch: true },
            },
        );
        c.set_interrupt_pin(1);
        c.add_bar(
            MSIX_BAR,
            Bar {
                size: MSIX_BAR_SIZE,
                kind: BarKind::Mem32,
            },
        );
        let nq = dev.queue_max_sizes().len();
        // One vector per queue and one for configuration changes, as Linux asks for.
        let msix = Arc::new(Msix::new(&mut c, nq as u16 + 1, MSIX_BAR, MSIX_PBA, msi));
        let cap = |ty: u8, off: u64, len: u64, extra: &[u8]| {
            let mut b = vec![16 + extra.len() as u8, ty, BAR as u8, 0, 0, 0];
            b.extend_from_slice(&(off as u32).to_le_bytes());
            b.extend_from_slice(&(len as u32).to_le_bytes());
            b.extend_from_slice(extra);
            b
        };
        c.add_capability(CAP_VENDOR, &cap(CAP_COMMON, COMMON, COMMON_LEN, &[]), &[]);
        c.add_capability(CAP_VENDOR, &cap(CAP_ISR, ISR, 1, &[]), &[]);
        c.add_capability(CAP_VENDOR, &cap(CAP_DEVICE, DEVICE, 0x1000, &[]), &[]);
        c.add_capability(
            CAP_VENDOR,
            &cap(
                CAP_NOTIFY,
                NOTIFY,
                (nq as u64).max(1) * NOTIFY_MULT as u64,
                &NOTIFY_MULT.to_le_bytes(),
            ),
            &[],
        );
        let queues = dev
            .queue_max_sizes()
            .iter()
            .map(|&m| QueueRegs {
                size: m,
                ..Default::default()
            })
            .collect();
        VirtioPci {
            name: name.to_string(),
            config: Mutex::new(c),
            st: Mutex::new(State {
                dev,
                device_feature_select: 0,
                driver_feature_select: 0,
                driver_features: 0,
                status: 0,
                generation: 0,
                queue_select: 0,
                queues,
                active: false,
            }),
            irq: Arc::new(VirtioInterrupt::new(line, Some(msix.clone()), nq)),
            msix,
            mem,
        }
    }

    fn offered(dev: &dyn VirtioDevice) -> u64 {
        dev.features() | feature::VERSION_1 | feature::RING_INDIRECT_DESC | feature::RING_EVENT_IDX
    }
}

impl State {
    /// The common configuration structure as the driver reads it now.
    fn common_image(&self, irq: &VirtioInterrupt) -> [u8; COMMON_LEN as usize] {
        let mut b = [0u8; COMMON_LEN as usize];
        let put = |b: &mut [u8], off: usize, v: &[u8]| b[off..off + v.len()].copy_from_slice(v);
        let feats = VirtioPci::offered(&*self.dev);
        let dfs = match self.device_feature_select {
            0 => feats as u32,
            1 => (feats >> 32) as u32,
            _ => 0,
        };
        put(&mut b, 0x00, &self.device_feature_select.to_le_bytes());
        put(&mut b, 0x04, &dfs.to_le_bytes());
        put(&mut b, 0x08, &self.driver_feature_select.to_le_bytes());
        let drv = match self.driver_feature_select {
            0 => self.driver_features as u32,
            1 => (self.driver_features >> 32) as u32,
            _ => 0,
        };
        put(&mut b, 0x0c, &drv.to_le_bytes());
        put(&mut b, 0x10, &irq.vector(None).to_le_bytes());
        put(&mut b, 0x12, &(self.queues.len() as u16).to_le_bytes());
        b[0x14] = self.status;
        b[0x15] = self.generation;
        put(&mut b, 0x16, &self.queue_select.to_le_bytes());
        if let Some(q) = self.queues.get(self.queue_select as usize) {
            put(&mut b, 0x18, &q.size.to_le_bytes());
            put(
                &mut b,
                0x1a,
                &irq.vector(Some(self.queue_select)).to_le_bytes(),
            );
            put(&mut b, 0x1c, &(q.enable as u16).to_le_bytes());
            put(&mut b, 0x1e, &self.queue_select.to_le_bytes());
            put(&mut b, 0x20, &q.desc.to_le_bytes());
            put(&mut b, 0x28, &q.driver.to_le_bytes());
            put(&mut b, 0x30, &q.device.to_le_bytes());
        }
        b
    }

    fn reset(&mut self, irq: &VirtioInterrupt) {
        self.dev.reset();
        self.active = false;
        self.status = 0;
        self.driver_features = 0;
        self.device_feature_select = 0;
        self.driver_feature_select = 0;
        self.queue_select = 0;
        for (q, &m) in self.queues.iter_mut().zip(self.dev.queue_max_sizes()) {
            *q = QueueRegs {
                size: m,
                ..Default::default()
            };
        }
        irq.clear();
    }

    fn write_status(&mut self, v: u8, irq: &Arc<VirtioInterrupt>, mem: &Arc<GuestRam>) {
        if v == 0 {
            return self.reset(irq);
        }
        let mut v = v;
        if v & status::FEATURES_OK != 0 && self.status & status::FEATURES_OK == 0 {
            let offered = VirtioPci::offered(&*self.dev);
            // A driver accepting what was not offered, or a legacy driver, is refused: it reads
            // FEATURES_OK back clear.
            if self.driver_features & !offered != 0
                || self.driver_features & feature::VERSION_1 == 0
            {
                v &= !status::FEATURES_OK;
            }
        }
        let starting = v & status::DRIVER_OK != 0 && !self.active;
        self.status = v;
        if starting && v & status::FEATURES_OK != 0 {
            if let Err(e) = self.activate(irq, mem) {
                log(&e);
                self.status |= status::NEEDS_RESET;
                irq.signal_config();
            }
        }
    }

    fn activate(&mut self, irq: &Arc<VirtioInterrupt>, mem: &Arc<GuestRam>) -> Result<(), String> {
        let event_idx = self.driver_features & feature::RING_EVENT_IDX != 0;
        let mut queues = Vec::new();
        for (i, r) in self.queues.iter().enumerate() {
            if !r.enable {
                continue;
            }
            let max = self.dev.queue_max_sizes().get(i).copied().unwrap_or(0);
            let mut q = Queue::new(max).map_err(|e| format!("queue {i}: {e:?}"))?;
            // The try_ forms refuse a bad size or a misaligned ring (the plain setters log and
            // leave the address at 0, which would serve the guest's page 0 as a ring).
            let bad = |what: &str, e: virtio_queue::Error| format!("queue {i}: {what}: {e:?}");
            q.try_set_size(r.size).map_err(|e| bad("size", e))?;
            q.try_set_desc_table_address(GuestAddress(r.desc))
                .map_err(|e| bad("descriptor table", e))?;
            q.try_set_avail_ring_address(GuestAddress(r.driver))
                .map_err(|e| bad("driver area", e))?;
            q.try_set_used_ring_address(GuestAddress(r.device))
                .map_err(|e| bad("device area", e))?;
            q.set_event_idx(event_idx);
            q.set_ready(true);
            if !q.is_valid(mem.mem()) {
                return Err(format!("queue {i}: invalid size or ring address"));
            }
            queues.push((i as u16, q));
        }
        self.dev
            .activate(self.driver_features, queues, mem.clone(), irq.clone())?;
        self.active = true;
        Ok(())
    }

    /// Applies a write of `len` bytes at `off` whose result is `img`.
    fn write_common(
        &mut self,
        off: usize,
        len: usize,
        img: &[u8; COMMON_LEN as usize],
        irq: &Arc<VirtioInterrupt>,
        mem: &Arc<GuestRam>,
    ) {
        let touches = |f: usize, w: usize| off < f + w && f < off + len;
        let u16_at = |f: usize| u16::from_le_bytes([img[f], img[f + 1]]);
        let u32_at = |f: usize| u32::from_le_bytes([img[f], img[f + 1], img[f + 2], img[f + 3]]);
        let u64_at = |f: usize| u32_at(f) as u64 | (u32_at(f + 4) as u64) << 32;
        if touches(0x00, 4) {
            self.device_feature_select = u32_at(0x00);
        }
        if touches(0x08, 4) {
            self.driver_feature_select = u32_at(0x08);
        }
        // Features may change only before FEATURES_OK.
        if touches(0x0c, 4) && self.status & status::FEATURES_OK == 0 {
            let v = u32_at(0x0c) as u64;
            match self.driver_feature_select {
                0 => self.driver_features = (self.driver_features & !0xffff_ffff) | v,
                1 => self.driver_features = (self.driver_features & 0xffff_ffff) | v << 32,
                _ => {}
            }
        }
        if touches(0x10, 2) {
            irq.set_vector(None, u16_at(0x10));
        }
        if touches(0x16, 2) {
            self.queue_select = u16_at(0x16);
        }
        if touches(0x1a, 2) && (self.queue_select as usize) < self.queues.len() {
            irq.set_vector(Some(self.queue_select), u16_at(0x1a));
        }
        // Queue registers are frozen once the device runs.
        let sel = self.queue_select as usize;
        if !self.active {
            let max = self.dev.queue_max_sizes().get(sel).copied().unwrap_or(0);
            if let Some(q) = self.queues.get_mut(sel) {
                if touches(0x18, 2) {
                    let s = u16_at(0x18);
                    // Split rings are a power of two no larger than the device's maximum.
                    q.size = if s.is_power_of_two() && s <= max {
                        s
                    } else {
                        max
                    };
                }
                if touches(0x1c, 2) {
                    q.enable = u16_at(0x1c) == 1;
                }
                if touches(0x20, 8) {
                    q.desc = u64_at(0x20);
                }
                if touches(0x28, 8) {
                    q.driver = u64_at(0x28);
                }
                if touches(0x30, 8) {
                    q.device = u64_at(0x30);
                }
            }
        }
        if touches(0x14, 1) {
            self.write_status(img[0x14], irq, mem);
        }
    }
}

/// Device errors are logged, rate-limited per message: a guest cannot flood stderr.
fn log(msg: &str) {
    static LOG: ppc::ratelog::RateLog = ppc::ratelog::RateLog::new("virtio-pci messages");
    let key = msg
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64));
    LOG.once(key, || format!("virtio-pci: {msg}"));
}

impl PciDevice for VirtioPci {
    fn name(&self) -> &str {
        &self.name
    }

    fn config(&self) -> &Mutex<ConfigSpace> {
        &self.config
    }

    fn config_write(&self, off: usize, len: usize, val: u32) {
        if let Ok(mut c) = self.config.lock() {
            c.write(off, len, val);
            self.msix.config_written(&c);
        }
    }

    fn bar_read(&self, bar: usize, off: u64, data: &mut [u8]) {
        data.fill(0);
        if bar == MSIX_BAR {
            self.msix.bar_read(off, data);
            return;
        }
        if bar != BAR {
            return;
        }
        let Ok(st) = self.st.lock() else {
            return;
        };
        match off {
            o if o < COMMON + COMMON_LEN => {
                let img = st.common_image(&self.irq);
                let o = o as usize;
                let n = data.len().min(img.len() - o);
                data[..n].copy_from_slice(&img[o..o + n]);
            }
            o if o == ISR => {
                drop(st);
                data[0] = self.irq.read_isr();
            }
            o if (DEVICE..NOTIFY).contains(&o) => st.dev.read_config(o - DEVICE, data),
            _ => {}
        }
    }

    fn bar_write(&self, bar: usize, off: u64, data: &[u8]) {
        if bar == MSIX_BAR {
            self.msix.bar_write(off, data);
            return;
        }
        if bar != BAR {
            return;
        }
        let Ok(mut st) = self.st.lock() else {
            return;
        };
        match off {
            o if o < COMMON + COMMON_LEN => {
                let mut img = st.common_image(&self.irq);
                let o = o as usize;
                let n = data.len().min(img.len() - o);
                img[o..o + n].copy_from_slice(&data[..n]);
                st.write_common(o, n, &img, &self.irq, &self.mem);
            }
            o if (DEVICE..NOTIFY).contains(&o) => st.dev.write_config(o - DEVICE, data),
            o if (NOTIFY..BAR_SIZE).contains(&o) => {
                let q = (o - NOTIFY) / NOTIFY_MULT as u64;
                if st.active && (q as usize) < st.queues.len() {
                    st.dev.notify(q as u16);
                }
            }
            _ => {}
        }
    }

    fn reset(&self) {
        if let Ok(mut st) = self.st.lock() {
            st.reset(&self.irq);
        }
        self.msix.reset();
    }

    fn shutdown(&self) {
        if let Ok(mut st) = self.st.lock() {
            st.dev.shutdown();
        }
    }
}
