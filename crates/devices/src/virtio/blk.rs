//! virtio-blk: a disk on a [`block::BlockBackend`]. Requests are served on the device's own I/O
//! thread: the driver's doorbell only sets a bit and wakes it, so a vCPU never waits for the host
//! disk. Data moves between the image and guest RAM with vectored I/O, without a bounce buffer.

use super::worker::{Descriptor, Handler, Worker};
use super::{kind, Queue, QueueT, VirtioDevice, VirtioInterrupt};
use crate::ram::GuestRam;
use block::BlockBackend;
use std::sync::{Arc, Condvar, Mutex};
use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend};

/// Feature bits.
pub const F_SEG_MAX: u64 = 1 << 2;
pub const F_RO: u64 = 1 << 5;
pub const F_BLK_SIZE: u64 = 1 << 6;
pub const F_FLUSH: u64 = 1 << 9;
pub const F_MQ: u64 = 1 << 12;

/// Request types and status values.
const T_IN: u32 = 0;
const T_OUT: u32 = 1;
const T_FLUSH: u32 = 4;
const T_GET_ID: u32 = 8;
const S_OK: u8 = 0;
const S_IOERR: u8 = 1;
const S_UNSUPP: u8 = 2;

pub const QUEUE_SIZE: u16 = 256;
/// Data segments per request: the ring, less the header and status descriptors.
const SEG_MAX: u32 = QUEUE_SIZE as u32 - 2;
const SECTOR: u64 = 512;
/// Bytes of the GET_ID answer.
const ID_LEN: usize = 20;

pub struct Blk {
    disk: Arc<dyn BlockBackend>,
    serial: [u8; ID_LEN],
    sizes: Vec<u16>,
    worker: Option<Worker>,
    /// Set by [`Blk::serve_synchronously`] (fuzzing and tests only).
    sync: Option<Arc<Passes>>,
}

impl Blk {
    /// A disk with `queues` request queues (1..=64) and serial number `serial` (GET_ID).
    pub fn new(disk: Arc<dyn BlockBackend>, queues: u16, serial: &str) -> Blk {
        let mut s = [0u8; ID_LEN];
        let n = serial.len().min(ID_LEN);
        s[..n].copy_from_slice(&serial.as_bytes()[..n]);
        Blk {
            disk,
            serial: s,
            sizes: vec![QUEUE_SIZE; queues.clamp(1, 64) as usize],
            worker: None,
            sync: None,
        }
    }

    /// Fuzzing and test hook: a doorbell (and DRIVER_OK) returns only once the I/O thread has
    /// served it, so a harness finds every request completed, deterministically, on the real
    /// worker. The thread says it is done through a marker queue ([`MARKER`], after the real
    /// ones, its rings in the last 64 bytes of guest RAM, which it writes): the marker's bit is
    /// rung after the driver's, and the thread reports reaching it. A vCPU would wait for the
    /// disk this way: machines never use it. The device must have fewer than 64 queues.
    #[doc(hidden)]
    pub fn serve_synchronously(mut self) -> Blk {
        self.sync = Some(Arc::default());
        self
    }

    fn config(&self) -> [u8; 36] {
        let mut c = [0u8; 36];
        c[0..8].copy_from_slice(&(self.disk.size() / SECTOR).to_le_bytes());
        c[12..16].copy_from_slice(&SEG_MAX.to_le_bytes());
        c[20..24].copy_from_slice(&(SECTOR as u32).to_le_bytes());
        c[34..36].copy_from_slice(&(self.sizes.len() as u16).to_le_bytes());
        c
    }
}

impl VirtioDevice for Blk {
    fn device_type(&self) -> u16 {
        kind::BLOCK
    }

    fn pci_class(&self) -> u32 {
        // Mass storage, SCSI controller (as QEMU presents virtio-blk).
        0x01_00_00
    }

    fn queue_max_sizes(&self) -> &[u16] {
        &self.sizes
    }

    fn features(&self) -> u64 {
        let mut f = F_SEG_MAX | F_BLK_SIZE | F_FLUSH;
        if self.disk.read_only() {
            f |= F_RO;
        }
        if self.sizes.len() > 1 {
            f |= F_MQ;
        }
        f
    }

    fn read_config(&self, offset: u64, data: &mut [u8]) {
        let c = self.config();
        for (i, b) in data.iter_mut().enumerate() {
            *b = offset
                .checked_add(i as u64)
                .and_then(|o| c.get(o as usize).copied())
                .unwrap_or(0);
        }
    }

    fn activate(
        &mut self,
        _features: u64,
        queues: Vec<(u16, Queue)>,
        mem: Arc<GuestRam>,
        irq: Arc<VirtioInterrupt>,
    ) -> Result<(), String> {
        self.reset();
        let io = Io {
            disk: self.disk.clone(),
            serial: self.serial,
            iov: Vec::with_capacity(QUEUE_SIZE as usize),
            sync: self.sync.clone(),
        };
        let Some(p) = self.sync.clone() else {
            self.worker = Some(Worker::spawn("virtio-blk", io, queues, mem, irq)?);
            return Ok(());
        };
        let mut queues = queues;
        queues.push((MARKER, marker_queue(&mem)?));
        let seen = p.count();
        // The worker starts by serving every queue, the marker last.
        self.worker = Some(Worker::spawn("virtio-blk", io, queues, mem, irq)?);
        p.wait_past(seen);
        Ok(())
    }

    fn notify(&self, q: u16) {
        if let Some(w) = &self.worker {
            match &self.sync {
                None => w.notify(q),
                Some(p) => {
                    let seen = p.count();
                    w.notify(q);
                    w.notify(MARKER);
                    p.wait_past(seen);
                }
            }
        }
    }

    fn shutdown(&mut self) {
        self.reset();
        if let Err(e) = self.disk.flush() {
            eprintln!("lpar: virtio-blk: flushing the disk image at exit failed: {e}");
        }
    }

    fn reset(&mut self) {
        if let Some(mut w) = self.worker.take() {
            w.stop();
        }
    }
}

/// The I/O thread's side of the disk.
struct Io {
    disk: Arc<dyn BlockBackend>,
    serial: [u8; ID_LEN],
    /// Scatter list of the request being served (capacity: a whole ring; never grows beyond).
    iov: Vec<libc::iovec>,
    /// The synchronous-serving hook's pass counter, if on.
    sync: Option<Arc<Passes>>,
}

// SAFETY: the iovecs are scratch space pointing into guest RAM, rebuilt for every request and
// used only during it, on the I/O thread; the worker keeps the RAM mapping alive meanwhile.
unsafe impl Send for Io {}

impl Handler for Io {
    fn handle(&mut self, _queue: u16, descs: &[Descriptor], mem: &GuestRam) -> u32 {
        self.request(descs, mem)
    }

    fn ready(&mut self, queue: u16) -> bool {
        match &self.sync {
            // The worker serves queues in order: reaching the marker, it is done with the
            // doorbells rung before it. Nothing is ever popped from the marker.
            Some(p) if queue == MARKER => {
                p.bump();
                false
            }
            _ => true,
        }
    }
}

/// Queue index of [`Blk::serve_synchronously`]'s marker.
pub const MARKER: u16 = 63;

/// How often the I/O thread reached the marker queue.
#[derive(Default)]
struct Passes {
    n: Mutex<u64>,
    cv: Condvar,
}

impl Passes {
    fn count(&self) -> u64 {
        self.n.lock().map_or(0, |n| *n)
    }

    fn bump(&self) {
        if let Ok(mut n) = self.n.lock() {
            *n += 1;
            self.cv.notify_all();
        }
    }

    /// Waits until the thread passes the marker again; a thread that does not within seconds
    /// hangs, which the hook's users (fuzzers, tests) must see.
    fn wait_past(&self, seen: u64) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let Ok(mut n) = self.n.lock() else {
            return;
        };
        while *n <= seen {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            assert!(
                !left.is_zero(),
                "virtio-blk: the I/O thread did not serve a doorbell within 5 s"
            );
            n = match self.cv.wait_timeout(n, left) {
                Ok((g, _)) => g,
                Err(_) => return,
            };
        }
    }
}

/// The marker queue: one entry, its rings in the last 64 bytes of guest RAM.
fn marker_queue(mem: &GuestRam) -> Result<Queue, String> {
    let top = mem.mem().last_addr().0;
    let base = top
        .checked_sub(63)
        .ok_or("guest RAM too small for the marker queue")?;
    let mut q = Queue::new(1).map_err(|e| format!("marker queue: {e:?}"))?;
    let at = |off: u64| Some((base + off) as u32);
    let hi = Some((base >> 32) as u32);
    q.set_desc_table_address(at(0), hi);
    q.set_avail_ring_address(at(16), hi);
    q.set_used_ring_address(at(32), hi);
    q.set_ready(true);
    Ok(q)
}

impl Io {
    /// Serves one request; returns the bytes written into the guest's buffers.
    fn request(&mut self, d: &[Descriptor], mem: &GuestRam) -> u32 {
        let m = mem.mem();
        // Header (16 bytes, device-readable) first, status byte last (device-writable).
        let Some((&hdr, rest)) = d.split_first() else {
            return 0;
        };
        let Some((&status_d, data)) = rest.split_last() else {
            return 0;
        };
        if hdr.is_write_only() || hdr.len() < 16 || !status_d.is_write_only() || status_d.len() < 1
        {
            return 0;
        }
        let mut h = [0u8; 16];
        if m.read_slice(&mut h, hdr.addr()).is_err() {
            return 0;
        }
        let ty = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
        let sector = u64::from_le_bytes([h[8], h[9], h[10], h[11], h[12], h[13], h[14], h[15]]);
        let status_at = status_d
            .addr()
            .0
            .checked_add(status_d.len() as u64 - 1)
            .unwrap_or(status_d.addr().0);
        let (st, written) = match ty {
            T_IN | T_OUT => self.rw(ty == T_IN, sector, data, mem),
            T_FLUSH => (
                if self.disk.flush().is_ok() {
                    S_OK
                } else {
                    S_IOERR
                },
                0,
            ),
            T_GET_ID => match data.first() {
                Some(b) if b.is_write_only() => {
                    let n = (b.len() as usize).min(ID_LEN);
                    match mem.write_slice(&self.serial[..n], b.addr()) {
                        Ok(()) => (S_OK, n as u32),
                        Err(_) => (S_IOERR, 0),
                    }
                }
                _ => (S_IOERR, 0),
            },
            _ => (S_UNSUPP, 0),
        };
        let _ = m.write_obj(st, GuestAddress(status_at));
        written + 1
    }

    /// A read (`into_guest`) or write of `data` at `sector`.
    fn rw(
        &mut self,
        into_guest: bool,
        sector: u64,
        data: &[Descriptor],
        mem: &GuestRam,
    ) -> (u8, u32) {
        self.iov.clear();
        let mut total = 0u64;
        for b in data {
            // Reads fill device-writable buffers, writes take device-readable ones.
            if b.is_write_only() != into_guest {
                return (S_IOERR, 0);
            }
            let Some(p) = mem.ptr(b.addr().0, b.len() as u64) else {
                return (S_IOERR, 0);
            };
            self.iov.push(libc::iovec {
                iov_base: p as *mut libc::c_void,
                iov_len: b.len() as usize,
            });
            total += b.len() as u64;
        }
        let in_disk = sector
            .checked_mul(SECTOR)
            .and_then(|off| off.checked_add(total).map(|end| (off, end)))
            .filter(|&(_, end)| end <= self.disk.size());
        let Some((off, _)) = in_disk else {
            return (S_IOERR, 0);
        };
        if !total.is_multiple_of(SECTOR) {
            return (S_IOERR, 0);
        }
        // SAFETY: every iovec was bounds-checked against guest RAM just above, and `mem` keeps
        // that mapping alive through the call.
        let r = unsafe {
            if into_guest {
                self.disk.readv(&self.iov, off)
            } else {
                self.disk.writev(&self.iov, off)
            }
        };
        if into_guest {
            // Even a failed read may have filled part of the buffers.
            for b in data {
                mem.written(b.addr().0, b.len() as u64);
            }
        }
        match r {
            Ok(()) if into_guest => (S_OK, total as u32),
            Ok(()) => (S_OK, 0),
            Err(_) => (S_IOERR, 0),
        }
    }
}
