//! virtio-scsi: a SCSI host adapter whose targets and LUNs are a [`scsi::Bus`] (scsi-hd and
//! scsi-cd units). Queue 0 is the control queue (task management, asynchronous-notification
//! queries), queue 1 the event queue, queues 2.. carry commands. This file only decodes and
//! encodes virtio's request format; the SCSI commands themselves are `crate::scsi`'s.
//!
//! Requests are served on the device's own I/O thread, like virtio-blk's: the doorbell only
//! wakes it. Data moves between the image and guest RAM with vectored I/O, without a bounce
//! buffer, and serving a request allocates nothing.

use super::worker::{Descriptor, Handler, Worker, MAX_CHAIN};
use super::{kind, Queue, VirtioDevice, VirtioInterrupt};
use crate::ram::GuestRam;
use crate::scsi::{Bus, DataBuffers, Direction};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use vm_memory::Bytes;

pub const QUEUE_SIZE: u16 = 256;
/// Data segments per request: the ring, less the request and response descriptors.
const SEG_MAX: u32 = QUEUE_SIZE as u32 - 2;
/// Largest transfer in 512-byte sectors, and commands per LUN: QEMU's defaults.
const MAX_SECTORS: u32 = 0xffff;
const CMD_PER_LUN: u32 = 128;
/// sizeof(struct virtio_scsi_event).
const EVENT_INFO_SIZE: u32 = 16;
/// Default sense and CDB sizes (the driver may change them in the configuration space).
pub const SENSE_SIZE: u32 = 96;
pub const CDB_SIZE: u32 = 32;
/// Largest CDB size the driver may set (QEMU refuses 256 and up).
const MAX_CDB_SIZE: usize = 255;
/// Largest sense size the driver may set.
const MAX_SENSE_SIZE: u32 = 0xffff;
/// Addressing limits advertised (QEMU's): targets 0-255, LUNs 0-16383 (flat space), channel 0.
pub const MAX_TARGET: u16 = 255;
pub const MAX_LUN: u16 = 16383;
/// Request queues at most: with the control and event queues they fit the I/O thread's 64
/// doorbell bits.
pub const MAX_QUEUES: u16 = 62;

/// Queue indexes.
const CONTROL_QUEUE: u16 = 0;
const EVENT_QUEUE: u16 = 1;

/// virtio_scsi_cmd_req before the CDB: lun[8], tag (8), task_attr, prio, crn.
const REQ_HDR: usize = 19;
/// virtio_scsi_cmd_resp before the sense: sense_len (4), resid (4), status_qualifier (2),
/// status, response.
const RESP_HDR: usize = 12;

/// Response codes.
pub mod response {
    pub const OK: u8 = 0;
    pub const OVERRUN: u8 = 1;
    pub const BAD_TARGET: u8 = 3;
    pub const FAILURE: u8 = 9;
    /// Task management: FUNCTION COMPLETE is OK's value.
    pub const FUNCTION_COMPLETE: u8 = 0;
    pub const FUNCTION_SUCCEEDED: u8 = 10;
    pub const FUNCTION_REJECTED: u8 = 11;
    pub const INCORRECT_LUN: u8 = 12;
}

/// Control queue request types.
const T_TMF: u32 = 0;
const T_AN_QUERY: u32 = 1;
const T_AN_SUBSCRIBE: u32 = 2;
/// Task management functions.
const TMF_I_T_NEXUS_RESET: u32 = 4;
const TMF_QUERY_TASK_SET: u32 = 7;

/// The driver-settable sizes, shared with the I/O thread (the driver may set them at any time).
struct Sizes {
    sense: AtomicU32,
    cdb: AtomicU32,
}

impl Sizes {
    fn reset(&self) {
        self.sense.store(SENSE_SIZE, Ordering::Relaxed);
        self.cdb.store(CDB_SIZE, Ordering::Relaxed);
    }
}

pub struct Scsi {
    bus: Arc<Bus>,
    sizes: Vec<u16>,
    settable: Arc<Sizes>,
    worker: Option<Worker>,
    /// The event queue, never popped: its buffers wait for events (none are reported yet, as
    /// hotplug is not offered).
    events: Option<Queue>,
}

impl Scsi {
    /// A controller for the units of `bus`, with `queues` request queues (1..=MAX_QUEUES).
    pub fn new(bus: Bus, queues: u16) -> Scsi {
        Scsi {
            bus: Arc::new(bus),
            sizes: vec![QUEUE_SIZE; 2 + queues.clamp(1, MAX_QUEUES) as usize],
            settable: Arc::new(Sizes {
                sense: AtomicU32::new(SENSE_SIZE),
                cdb: AtomicU32::new(CDB_SIZE),
            }),
            worker: None,
            events: None,
        }
    }

    fn config(&self) -> [u8; 36] {
        let mut c = [0u8; 36];
        let mut put = |off: usize, v: u32| c[off..off + 4].copy_from_slice(&v.to_le_bytes());
        put(0, self.sizes.len() as u32 - 2);
        put(4, SEG_MAX);
        put(8, MAX_SECTORS);
        put(12, CMD_PER_LUN);
        put(16, EVENT_INFO_SIZE);
        put(20, self.settable.sense.load(Ordering::Relaxed));
        put(24, self.settable.cdb.load(Ordering::Relaxed));
        put(32, MAX_LUN as u32);
        // max_channel (28) is 0.
        c[30..32].copy_from_slice(&MAX_TARGET.to_le_bytes());
        c
    }

    /// Stops serving; the configuration stays (activation follows the driver's writes to it).
    fn stop(&mut self) {
        if let Some(mut w) = self.worker.take() {
            w.stop();
        }
        self.events = None;
    }
}

impl VirtioDevice for Scsi {
    fn device_type(&self) -> u16 {
        kind::SCSI
    }

    fn pci_class(&self) -> u32 {
        // Mass storage, SCSI controller.
        0x01_00_00
    }

    fn queue_max_sizes(&self) -> &[u16] {
        &self.sizes
    }

    fn features(&self) -> u64 {
        // No hotplug/change events, no T10 protection information, no bidirectional commands.
        0
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

    fn write_config(&mut self, offset: u64, data: &[u8]) {
        // Only sense_size and cdb_size are writable; the rest of the write is ignored.
        let mut c = self.config();
        for (i, &b) in data.iter().enumerate() {
            if let Some(slot) = offset
                .checked_add(i as u64)
                .filter(|o| (20..28).contains(o))
                .and_then(|o| c.get_mut(o as usize))
            {
                *slot = b;
            }
        }
        let field = |off: usize| u32::from_le_bytes([c[off], c[off + 1], c[off + 2], c[off + 3]]);
        self.settable
            .sense
            .store(field(20).min(MAX_SENSE_SIZE), Ordering::Relaxed);
        self.settable
            .cdb
            .store(field(24).min(MAX_CDB_SIZE as u32), Ordering::Relaxed);
    }

    fn activate(
        &mut self,
        _features: u64,
        queues: Vec<(u16, Queue)>,
        mem: Arc<GuestRam>,
        irq: Arc<VirtioInterrupt>,
    ) -> Result<(), String> {
        self.stop();
        let mut served = Vec::with_capacity(queues.len());
        for (i, q) in queues {
            if i == EVENT_QUEUE {
                self.events = Some(q);
            } else {
                served.push((i, q));
            }
        }
        let io = Io {
            bus: self.bus.clone(),
            sizes: self.settable.clone(),
            iov: Vec::with_capacity(MAX_CHAIN),
        };
        self.worker = Some(Worker::spawn("virtio-scsi", io, served, mem, irq)?);
        Ok(())
    }

    fn notify(&self, q: u16) {
        if let Some(w) = &self.worker {
            w.notify(q);
        }
    }

    fn reset(&mut self) {
        self.stop();
        self.settable.reset();
    }

    fn shutdown(&mut self) {
        self.reset();
        if let Err(e) = self.bus.flush() {
            eprintln!("lpar: virtio-scsi: flushing the disk images at exit failed: {e}");
        }
    }
}

/// (target, LUN) of a virtio-scsi LUN field: byte 0 is 1, byte 1 the target, bytes 2-3 the
/// LUN in peripheral (below 256) or flat space addressing. None for other formats.
pub fn decode_lun(l: &[u8]) -> Option<(u16, u16)> {
    if l.len() < 4 || l[0] != 1 {
        return None;
    }
    let lun = match l[2] {
        0 => l[3] as u16,
        0x40..=0x7f => ((l[2] & 0x3f) as u16) << 8 | l[3] as u16,
        _ => return None,
    };
    Some((l[1] as u16, lun))
}

/// A chain split into its device-readable part and the device-writable part after it; None
/// when a readable buffer follows a writable one (the virtio ordering rule).
fn split(d: &[Descriptor]) -> Option<(&[Descriptor], &[Descriptor])> {
    let w = d.iter().position(|x| x.is_write_only()).unwrap_or(d.len());
    let (out, inn) = d.split_at(w);
    inn.iter().all(|x| x.is_write_only()).then_some((out, inn))
}

fn total(d: &[Descriptor]) -> u64 {
    d.iter().map(|x| x.len() as u64).sum()
}

/// Reads the first `buf.len()` bytes of the buffers `d` taken as one byte stream (a header may
/// span descriptors); false if they are shorter or outside RAM.
fn read_stream(d: &[Descriptor], buf: &mut [u8], mem: &GuestRam) -> bool {
    let mut done = 0;
    for x in d {
        if done == buf.len() {
            break;
        }
        let n = (x.len() as usize).min(buf.len() - done);
        if mem
            .mem()
            .read_slice(&mut buf[done..done + n], x.addr())
            .is_err()
        {
            return false;
        }
        done += n;
    }
    done == buf.len()
}

/// Writes `src` at the start of the byte stream `d`; false if it does not fit or is outside RAM.
fn write_stream(d: &[Descriptor], src: &[u8], mem: &GuestRam) -> bool {
    let mut done = 0;
    for x in d {
        if done == src.len() {
            break;
        }
        let n = (x.len() as usize).min(src.len() - done);
        if mem.write_slice(&src[done..done + n], x.addr()).is_err() {
            return false;
        }
        done += n;
    }
    done == src.len()
}

/// Appends to `iov` the host scatter list of the stream `d` past its first `skip` bytes; false
/// when a buffer lies outside RAM.
fn map_data(d: &[Descriptor], skip: u64, mem: &GuestRam, iov: &mut Vec<libc::iovec>) -> bool {
    let mut skip = skip;
    for x in d {
        let len = x.len() as u64;
        if skip >= len {
            skip -= len;
            continue;
        }
        let n = len - skip;
        let Some(p) = x.addr().0.checked_add(skip).and_then(|a| mem.ptr(a, n)) else {
            return false;
        };
        skip = 0;
        iov.push(libc::iovec {
            iov_base: p as *mut libc::c_void,
            iov_len: n as usize,
        });
    }
    true
}

/// The I/O thread's side of the controller.
struct Io {
    bus: Arc<Bus>,
    sizes: Arc<Sizes>,
    /// Scatter list of the request being served (capacity: the longest chain; never grows).
    iov: Vec<libc::iovec>,
}

// SAFETY: the iovecs are scratch space pointing into guest RAM, rebuilt for every request and
// used only during it, on the I/O thread; the worker keeps the RAM mapping alive meanwhile.
unsafe impl Send for Io {}

impl Handler for Io {
    fn handle(&mut self, queue: u16, descs: &[Descriptor], mem: &GuestRam) -> u32 {
        match queue {
            CONTROL_QUEUE => self.control(descs, mem),
            // Never served (held by the device); nothing to do should it be.
            EVENT_QUEUE => 0,
            _ => self.command(descs, mem),
        }
    }
}

/// What a command request gets back.
struct Outcome {
    response: u8,
    status: u8,
    resid: u64,
    sense: ([u8; crate::scsi::Sense::FIXED_LEN], usize),
    /// Bytes written into the data-in buffers.
    data_in: u64,
}

impl Outcome {
    /// A transport-level answer: no SCSI status, nothing transferred.
    fn transport(response: u8, resid: u64) -> Outcome {
        Outcome {
            response,
            status: 0,
            resid,
            sense: ([0; crate::scsi::Sense::FIXED_LEN], 0),
            data_in: 0,
        }
    }
}

impl Io {
    /// Serves one command request; returns the bytes written into the chain.
    fn command(&mut self, d: &[Descriptor], mem: &GuestRam) -> u32 {
        let Some((out, inn)) = split(d) else {
            return 0;
        };
        let cdb_size = (self.sizes.cdb.load(Ordering::Relaxed) as usize).min(MAX_CDB_SIZE);
        let sense_size = self.sizes.sense.load(Ordering::Relaxed) as u64;
        let mut hdr = [0u8; REQ_HDR + MAX_CDB_SIZE];
        let hdr_len = REQ_HDR + cdb_size;
        let resp_len = RESP_HDR as u64 + sense_size;
        let (out_len, in_len) = (total(out), total(inn));
        // A request without room for its header or response cannot be answered at all.
        if !read_stream(out, &mut hdr[..hdr_len], mem) || in_len < resp_len {
            return 0;
        }
        let o = self.execute(
            &hdr[..hdr_len],
            out,
            inn,
            out_len - hdr_len as u64,
            in_len - resp_len,
            mem,
        );
        let mut r = [0u8; RESP_HDR + crate::scsi::Sense::FIXED_LEN];
        let sense_len = (o.sense.1 as u64).min(sense_size) as usize;
        r[0..4].copy_from_slice(&(sense_len as u32).to_le_bytes());
        r[4..8].copy_from_slice(&(o.resid.min(u32::MAX as u64) as u32).to_le_bytes());
        r[10] = o.status;
        r[11] = o.response;
        r[RESP_HDR..RESP_HDR + sense_len].copy_from_slice(&o.sense.0[..sense_len]);
        if !write_stream(inn, &r[..RESP_HDR + sense_len], mem) {
            return 0;
        }
        (resp_len + o.data_in).min(u32::MAX as u64) as u32
    }

    /// Decodes the request header `hdr` and runs its CDB on the bus with the data buffers that
    /// follow the header (`out`, `data_out` bytes) or the response (`inn`, `data_in` bytes).
    fn execute(
        &mut self,
        hdr: &[u8],
        out: &[Descriptor],
        inn: &[Descriptor],
        data_out: u64,
        data_in: u64,
        mem: &GuestRam,
    ) -> Outcome {
        let len = data_out + data_in;
        // Bidirectional commands need VIRTIO_SCSI_F_INOUT, which is not offered.
        if data_out != 0 && data_in != 0 {
            return Outcome::transport(response::FAILURE, len);
        }
        let Some((target, lun)) = decode_lun(&hdr[..8]) else {
            return Outcome::transport(response::BAD_TARGET, len);
        };
        if !self.bus.has_target(target) {
            return Outcome::transport(response::BAD_TARGET, len);
        }
        let cdb = &hdr[REQ_HDR..];
        self.iov.clear();
        let (dir, mapped) = if data_out != 0 {
            let skip = total(out) - data_out;
            (Direction::Out, map_data(out, skip, mem, &mut self.iov))
        } else {
            let skip = total(inn) - data_in;
            (Direction::In, map_data(inn, skip, mem, &mut self.iov))
        };
        if !mapped {
            return Outcome::transport(response::FAILURE, len);
        }
        // SAFETY: map_data bounds-checked every iovec against guest RAM, which `mem` keeps
        // mapped through this request; the guest's buffers are not referenced by Rust meanwhile.
        let mut data = unsafe { DataBuffers::new(dir, &mut self.iov) };
        let r = self.bus.execute(target, lun, cdb, &mut data);
        if dir == Direction::In {
            // What the target read into the guest's buffers (even if it then failed).
            let skip = total(inn) - data_in;
            let mut skip = skip;
            for x in inn {
                let l = x.len() as u64;
                if skip < l {
                    mem.written(x.addr().0.saturating_add(skip), l - skip);
                }
                skip = skip.saturating_sub(l);
            }
        }
        let Some(r) = r else {
            return Outcome::transport(response::BAD_TARGET, len);
        };
        if r.overrun {
            return Outcome::transport(response::OVERRUN, len);
        }
        Outcome {
            response: response::OK,
            status: r.status,
            resid: r.residual,
            sense: r.sense_bytes(),
            data_in: if dir == Direction::In {
                data_in.saturating_sub(r.residual)
            } else {
                0
            },
        }
    }

    /// Serves one control request: task management functions and asynchronous-notification
    /// queries. Commands complete one after the other on this thread, so a TMF never finds a
    /// task in progress: every function is complete at once.
    fn control(&mut self, d: &[Descriptor], mem: &GuestRam) -> u32 {
        let Some((out, inn)) = split(d) else {
            return 0;
        };
        let mut req = [0u8; 24];
        if !read_stream(out, &mut req[..4], mem) {
            return 0;
        }
        match u32::from_le_bytes([req[0], req[1], req[2], req[3]]) {
            T_TMF => {
                // type, subtype, lun[8], id (8) -> response (1)
                if !read_stream(out, &mut req, mem) {
                    return 0;
                }
                let subtype = u32::from_le_bytes([req[4], req[5], req[6], req[7]]);
                let r = match decode_lun(&req[8..16]) {
                    Some((t, _)) if !self.bus.has_target(t) => response::BAD_TARGET,
                    None => response::BAD_TARGET,
                    Some(_) if subtype > TMF_QUERY_TASK_SET => response::FUNCTION_REJECTED,
                    Some(_) if subtype == TMF_I_T_NEXUS_RESET => response::FUNCTION_COMPLETE,
                    Some((t, l)) if self.bus.unit(t, l).is_none() => response::INCORRECT_LUN,
                    Some(_) => response::FUNCTION_COMPLETE,
                };
                if write_stream(inn, &[r], mem) {
                    1
                } else {
                    0
                }
            }
            T_AN_QUERY | T_AN_SUBSCRIBE => {
                // type, lun[8], event_requested (4) -> event_actual (4), response (1): no
                // event class is supported.
                if !read_stream(out, &mut req[..16], mem) {
                    return 0;
                }
                let resp = [0, 0, 0, 0, response::OK];
                if write_stream(inn, &resp, mem) {
                    resp.len() as u32
                } else {
                    0
                }
            }
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scsi::tests::MemDisk;
    use crate::scsi::{op, Kind, ScsiDisk, Sense};

    const RAM: u64 = 1 << 20;
    /// Guest addresses of the request header, the response and the data.
    const HDR: u64 = 0x1000;
    const RESP: u64 = 0x2000;
    const DATA: u64 = 0x4000;
    const RESP_LEN: u32 = RESP_HDR as u32 + SENSE_SIZE;

    fn ram() -> GuestRam {
        GuestRam::new(Arc::new(ppc::GuestMemory::new(RAM).expect("RAM"))).expect("view")
    }

    /// Target 0 LUN 0: a 1 MiB disk; target 1 LUN 2: a CD-ROM.
    fn io() -> (Io, Arc<MemDisk>) {
        let m = MemDisk::new(1 << 20, false);
        let mut bus = Bus::new();
        bus.attach(0, 0, ScsiDisk::new(m.clone(), Kind::Disk, "S0", "d0"))
            .unwrap();
        bus.attach(
            1,
            2,
            ScsiDisk::new(MemDisk::new(1 << 20, false), Kind::Cdrom, "", "cd"),
        )
        .unwrap();
        let io = Io {
            bus: Arc::new(bus),
            sizes: Arc::new(Sizes {
                sense: AtomicU32::new(SENSE_SIZE),
                cdb: AtomicU32::new(CDB_SIZE),
            }),
            iov: Vec::with_capacity(MAX_CHAIN),
        };
        (io, m)
    }

    fn rd(addr: u64, len: u32) -> Descriptor {
        Descriptor::new(addr, len, 0, 0)
    }

    fn wr(addr: u64, len: u32) -> Descriptor {
        Descriptor::new(addr, len, 2, 0)
    }

    /// A virtio_scsi_cmd_req for target/LUN with `cdb`, written at HDR.
    fn request(mem: &GuestRam, target: u8, lun: u16, cdb: &[u8]) {
        let mut h = [0u8; REQ_HDR + CDB_SIZE as usize];
        h[0] = 1;
        h[1] = target;
        h[2] = 0x40 | (lun >> 8) as u8;
        h[3] = lun as u8;
        h[8] = 0x77; // tag
        h[REQ_HDR..REQ_HDR + cdb.len()].copy_from_slice(cdb);
        mem.mem()
            .write_slice(&h, vm_memory::GuestAddress(HDR))
            .unwrap();
    }

    fn read(mem: &GuestRam, addr: u64, len: usize) -> Vec<u8> {
        let mut v = vec![0u8; len];
        mem.mem()
            .read_slice(&mut v, vm_memory::GuestAddress(addr))
            .unwrap();
        v
    }

    /// (sense_len, resid, status, response, sense) of the response at `at`.
    fn resp(mem: &GuestRam, at: u64) -> (u32, u32, u8, u8, Vec<u8>) {
        let r = read(mem, at, RESP_LEN as usize);
        let sl = u32::from_le_bytes(r[0..4].try_into().unwrap());
        let resid = u32::from_le_bytes(r[4..8].try_into().unwrap());
        (sl, resid, r[10], r[11], r[12..12 + sl as usize].to_vec())
    }

    const HDR_LEN: u32 = REQ_HDR as u32 + CDB_SIZE;

    #[test]
    fn luns_are_decoded_per_the_virtio_spec() {
        assert_eq!(decode_lun(&[1, 0, 0x40, 0, 0, 0, 0, 0]), Some((0, 0)));
        assert_eq!(decode_lun(&[1, 7, 0x40, 5, 0, 0, 0, 0]), Some((7, 5)));
        assert_eq!(
            decode_lun(&[1, 255, 0x7f, 0xff, 0, 0, 0, 0]),
            Some((255, 16383))
        );
        assert_eq!(decode_lun(&[1, 3, 0, 9, 0, 0, 0, 0]), Some((3, 9)));
        assert_eq!(decode_lun(&[0, 3, 0x40, 0, 0, 0, 0, 0]), None);
        assert_eq!(decode_lun(&[1, 3, 0x80, 0, 0, 0, 0, 0]), None);
        assert_eq!(decode_lun(&[1, 3]), None);
    }

    #[test]
    fn an_inquiry_round_trips() {
        let mem = ram();
        let (mut io, _) = io();
        request(&mem, 0, 0, &[op::INQUIRY, 0, 0, 0, 96, 0]);
        let used = io.handle(
            2,
            &[rd(HDR, HDR_LEN), wr(RESP, RESP_LEN), wr(DATA, 96)],
            &mem,
        );
        assert_eq!(used, RESP_LEN + 36);
        assert_eq!(resp(&mem, RESP), (0, 60, 0, response::OK, vec![]));
        let d = read(&mem, DATA, 36);
        assert_eq!(&d[8..12], b"QEMU");
        // The CD-ROM at target 1 LUN 2, from another request queue.
        request(&mem, 1, 2, &[op::INQUIRY, 0, 0, 0, 36, 0]);
        io.handle(
            3,
            &[rd(HDR, HDR_LEN), wr(RESP, RESP_LEN), wr(DATA, 36)],
            &mem,
        );
        assert_eq!(read(&mem, DATA, 1), [5]);
    }

    #[test]
    fn headers_and_data_may_share_or_span_descriptors() {
        let mem = ram();
        let (mut io, m) = io();
        // The header split in two, the response and the data in one writable buffer.
        let mut cdb = [0u8; 10];
        cdb[0] = op::READ_10;
        cdb[5] = 3;
        cdb[8] = 1;
        request(&mem, 0, 0, &cdb);
        let used = io.handle(
            2,
            &[
                rd(HDR, 10),
                rd(HDR + 10, HDR_LEN - 10),
                wr(RESP, RESP_LEN + 512),
            ],
            &mem,
        );
        assert_eq!(used, RESP_LEN + 512);
        assert_eq!(resp(&mem, RESP).3, response::OK);
        let want = m.data.lock().unwrap()[3 * 512..4 * 512].to_vec();
        assert_eq!(read(&mem, RESP + RESP_LEN as u64, 512), want);
        // A write whose data follows the header in the same buffer.
        cdb[0] = op::WRITE_10;
        cdb[5] = 9;
        request(&mem, 0, 0, &cdb);
        mem.mem()
            .write_slice(&[0x5a; 512], vm_memory::GuestAddress(HDR + HDR_LEN as u64))
            .unwrap();
        let used = io.handle(2, &[rd(HDR, HDR_LEN + 512), wr(RESP, RESP_LEN)], &mem);
        assert_eq!(used, RESP_LEN);
        assert_eq!(resp(&mem, RESP), (0, 0, 0, response::OK, vec![]));
        assert!(m.data.lock().unwrap()[9 * 512..10 * 512]
            .iter()
            .all(|&x| x == 0x5a));
    }

    #[test]
    fn check_conditions_carry_sense() {
        let mem = ram();
        let (mut io, _) = io();
        request(&mem, 0, 0, &[0xff]);
        io.handle(2, &[rd(HDR, HDR_LEN), wr(RESP, RESP_LEN)], &mem);
        let (sl, _, status, r, sense) = resp(&mem, RESP);
        assert_eq!((sl, status, r), (18, 2, response::OK));
        assert_eq!(sense, Sense::INVALID_OPCODE.fixed());
        // LUN 5 of target 0 does not exist: the target says so.
        request(&mem, 0, 5, &[op::TEST_UNIT_READY]);
        io.handle(2, &[rd(HDR, HDR_LEN), wr(RESP, RESP_LEN)], &mem);
        let (_, _, status, r, sense) = resp(&mem, RESP);
        assert_eq!((status, r), (2, response::OK));
        assert_eq!(sense, Sense::LUN_NOT_SUPPORTED.fixed());
        // A smaller sense size set by the driver truncates the sense and moves the data.
        let (mut dev, _) = (Scsi::new(Bus::new(), 1), ());
        dev.write_config(20, &8u32.to_le_bytes());
        io.sizes = dev.settable.clone();
        request(&mem, 0, 0, &[0xff]);
        let used = io.handle(2, &[rd(HDR, HDR_LEN), wr(RESP, 20)], &mem);
        assert_eq!(used, 20);
        let r = read(&mem, RESP, 20);
        assert_eq!(r[0], 8);
        assert_eq!(&r[12..20], &Sense::INVALID_OPCODE.fixed()[..8]);
    }

    #[test]
    fn transport_errors() {
        let mem = ram();
        let (mut io, _) = io();
        let inq = [op::INQUIRY, 0, 0, 0, 36, 0];
        // No target 9: bad target, the whole buffer is residual.
        request(&mem, 9, 0, &inq);
        io.handle(
            2,
            &[rd(HDR, HDR_LEN), wr(RESP, RESP_LEN), wr(DATA, 36)],
            &mem,
        );
        assert_eq!(resp(&mem, RESP), (0, 36, 0, response::BAD_TARGET, vec![]));
        // A LUN field not in the virtio format.
        mem.mem()
            .write_obj(0u8, vm_memory::GuestAddress(HDR))
            .unwrap();
        io.handle(2, &[rd(HDR, HDR_LEN), wr(RESP, RESP_LEN)], &mem);
        assert_eq!(resp(&mem, RESP).3, response::BAD_TARGET);
        // Two blocks into one block's buffer: overrun, nothing read.
        let mut cdb = [0u8; 10];
        cdb[0] = op::READ_10;
        cdb[8] = 2;
        request(&mem, 0, 0, &cdb);
        mem.mem()
            .write_slice(&[0xee; 512], vm_memory::GuestAddress(DATA))
            .unwrap();
        io.handle(
            2,
            &[rd(HDR, HDR_LEN), wr(RESP, RESP_LEN), wr(DATA, 512)],
            &mem,
        );
        assert_eq!(resp(&mem, RESP), (0, 512, 0, response::OVERRUN, vec![]));
        assert!(read(&mem, DATA, 512).iter().all(|&x| x == 0xee));
        // Data both ways: not negotiated.
        request(&mem, 0, 0, &inq);
        io.handle(
            2,
            &[rd(HDR, HDR_LEN + 8), wr(RESP, RESP_LEN), wr(DATA, 36)],
            &mem,
        );
        assert_eq!(resp(&mem, RESP).3, response::FAILURE);
        // Data outside guest RAM.
        io.handle(
            2,
            &[rd(HDR, HDR_LEN), wr(RESP, RESP_LEN), wr(RAM - 8, 36)],
            &mem,
        );
        assert_eq!(resp(&mem, RESP).3, response::FAILURE);
        // No room for the response, a short header, or a readable buffer after a writable
        // one: unanswerable, nothing written.
        mem.mem()
            .write_slice(&[0xcc; 128], vm_memory::GuestAddress(RESP))
            .unwrap();
        assert_eq!(io.handle(2, &[rd(HDR, HDR_LEN), wr(RESP, 50)], &mem), 0);
        assert_eq!(io.handle(2, &[rd(HDR, 20), wr(RESP, RESP_LEN)], &mem), 0);
        assert_eq!(
            io.handle(
                2,
                &[rd(HDR, HDR_LEN), wr(RESP, RESP_LEN), rd(DATA, 8)],
                &mem
            ),
            0
        );
        assert_eq!(io.handle(2, &[], &mem), 0);
        assert!(read(&mem, RESP, 128).iter().all(|&x| x == 0xcc));
    }

    fn tmf(io: &mut Io, mem: &GuestRam, subtype: u32, target: u8, lun: u16) -> u8 {
        let mut r = [0u8; 24];
        r[4..8].copy_from_slice(&subtype.to_le_bytes());
        r[8] = 1;
        r[9] = target;
        r[10] = 0x40 | (lun >> 8) as u8;
        r[11] = lun as u8;
        mem.mem()
            .write_slice(&r, vm_memory::GuestAddress(HDR))
            .unwrap();
        mem.mem()
            .write_obj(0xffu8, vm_memory::GuestAddress(RESP))
            .unwrap();
        assert_eq!(io.handle(0, &[rd(HDR, 24), wr(RESP, 1)], mem), 1);
        read(mem, RESP, 1)[0]
    }

    #[test]
    fn the_control_queue_answers_tmfs_and_an_queries() {
        let mem = ram();
        let (mut io, _) = io();
        for sub in 0..=7 {
            assert_eq!(tmf(&mut io, &mem, sub, 0, 0), response::FUNCTION_COMPLETE);
        }
        assert_eq!(tmf(&mut io, &mem, 8, 0, 0), response::FUNCTION_REJECTED);
        assert_eq!(tmf(&mut io, &mem, 0, 4, 0), response::BAD_TARGET);
        assert_eq!(tmf(&mut io, &mem, 5, 0, 1), response::INCORRECT_LUN);
        assert_eq!(tmf(&mut io, &mem, 4, 1, 0), response::FUNCTION_COMPLETE);
        for ty in [T_AN_QUERY, T_AN_SUBSCRIBE] {
            let mut r = [0u8; 16];
            r[0..4].copy_from_slice(&ty.to_le_bytes());
            r[4] = 1;
            r[12] = 0xff; // every event class
            mem.mem()
                .write_slice(&r, vm_memory::GuestAddress(HDR))
                .unwrap();
            mem.mem()
                .write_slice(&[0xff; 5], vm_memory::GuestAddress(RESP))
                .unwrap();
            assert_eq!(io.handle(0, &[rd(HDR, 16), wr(RESP, 5)], &mem), 5);
            assert_eq!(read(&mem, RESP, 5), [0, 0, 0, 0, response::OK]);
        }
        // An unknown request type is not answered.
        mem.mem()
            .write_slice(&[9, 0, 0, 0], vm_memory::GuestAddress(HDR))
            .unwrap();
        assert_eq!(io.handle(0, &[rd(HDR, 16), wr(RESP, 5)], &mem), 0);
    }

    #[test]
    fn configuration_space() {
        let mut dev = Scsi::new(Bus::new(), 4);
        assert_eq!(dev.queue_max_sizes().len(), 6);
        assert_eq!(dev.device_type(), kind::SCSI);
        let mut c = [0u8; 36];
        dev.read_config(0, &mut c);
        let at = |c: &[u8], o: usize| u32::from_le_bytes(c[o..o + 4].try_into().unwrap());
        assert_eq!(at(&c, 0), 4);
        assert_eq!(at(&c, 4), 254);
        assert_eq!(at(&c, 8), 0xffff);
        assert_eq!(at(&c, 16), 16);
        assert_eq!(at(&c, 20), 96);
        assert_eq!(at(&c, 24), 32);
        assert_eq!(u16::from_le_bytes([c[28], c[29]]), 0);
        assert_eq!(u16::from_le_bytes([c[30], c[31]]), 255);
        assert_eq!(at(&c, 32), 16383);
        // The driver sets sense_size and cdb_size; everything else is read-only.
        dev.write_config(0, &[9; 20]);
        dev.write_config(20, &64u32.to_le_bytes());
        dev.write_config(24, &[16]);
        dev.write_config(26, &[1, 0]);
        dev.read_config(0, &mut c);
        assert_eq!((at(&c, 0), at(&c, 20), at(&c, 24)), (4, 64, 255));
        dev.write_config(24, &16u32.to_le_bytes());
        dev.read_config(24, &mut c[..4]);
        assert_eq!(at(&c, 0), 16);
        // A reset restores the defaults.
        dev.reset();
        dev.read_config(20, &mut c[..8]);
        assert_eq!((at(&c, 0), at(&c, 4)), (96, 32));
        // Reads past the end are zero.
        let mut z = [0xffu8; 8];
        dev.read_config(33, &mut z);
        assert_eq!(z, [0x3f, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(Scsi::new(Bus::new(), 500).queue_max_sizes().len(), 64);
    }
}
