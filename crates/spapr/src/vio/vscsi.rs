//! spapr-vscsi: PowerVM's virtual SCSI client adapter (LoPAR "Virtual SCSI", Linux's ibmvscsi),
//! serving the units of a [`devices::scsi::Bus`].
//!
//! The guest speaks SRP (the SCSI RDMA Protocol, T10 draft 16a) over the device's CRQ
//! (`crq.rs`). After the CRQ handshake (init 0xC0 0x01, answered 0xC0 0x02) each message is a
//! payload entry (0x80) naming an information unit (IU, at most 256 bytes) in guest memory
//! through the device's TCE window, in format 0x01, SRP (LOGIN_REQ, CMD, TSK_MGMT), or 0x02, MAD
//! (IBM's management datagrams: adapter info, capabilities). The device reads the IU, does the
//! work, writes its response IU over the request in the guest's buffer and queues a payload
//! entry carrying the request's tag.
//!
//! A command's data moves straight between the image and guest memory: its SRP data descriptors
//! (direct, or an indirect list inline in the IU and, beyond what fits there, in a table in guest
//! memory) are translated page by page through the TCE window, permission-checked, into the
//! scatter list `scsi::Bus::execute` takes. Errors come back with the command (autosense).
//!
//! The work happens on the device's I/O thread: H_SEND_CRQ queues the message (at most
//! [`MAX_PENDING`]; beyond that H_DROPPED, PAPR's "the partner's queue is full", which a guest
//! keeping to the request limit granted at login never sees) and wakes the thread. Messages are
//! served in order, one at a time, so a task-management request finds every command sent before
//! it complete (QEMU's behaviour too, whose SCSI layer completes these synchronously).
//!
//! Reference for what Linux expects: QEMU's hw/scsi/spapr_vscsi.c (LUN decoding, MAD answers,
//! the residual convention Linux's ibmvscsi reads).

use super::crq::{self, Crq, CrqDevice, DeliverError};
use super::worker::{Submit, Worker};
use super::VioDevice;
use crate::devtree::{DeviceTree, NodeId};
use crate::hcall::{H_DROPPED, H_RESOURCE, H_SUCCESS};
use crate::irq::IrqLine;
use crate::tce::TceTable;
use devices::scsi::{self, key, op, status, DataBuffers, Direction, Response, Sense};
use ppc::GuestMemory;
use std::sync::Arc;

/// Messages queued for the I/O thread at most.
pub const MAX_PENDING: usize = 256;
/// Requests the guest may have outstanding (the SRP request limit granted at login): well
/// inside the pending queue, and inside the guest's ring of replies (256 entries in a page).
pub const REQ_LIMIT: u32 = 64;
/// Largest IU either way (SRP_MAX_IU_LEN of QEMU and Linux).
pub const IU_MAX: usize = 256;
/// Largest transfer of one command, advertised in the adapter info (QEMU's 4096 sectors).
pub const MAX_TRANSFER: u64 = 4096 * 512;
/// Data descriptors of one command at most (Linux sends up to 128).
pub const MAX_DESCRIPTORS: usize = 256;
/// Scatter-list entries of one command at most: a largest transfer over scattered 4 KiB pages,
/// plus one per descriptor.
const MAX_IOVECS: usize = (MAX_TRANSFER / 4096) as usize + MAX_DESCRIPTORS;

/// CRQ payload formats.
pub const FORMAT_SRP: u8 = 0x01;
pub const FORMAT_MAD: u8 = 0x02;
/// CRQ reply status: the response IU reached the guest, or not.
const VIOSRP_OK: u8 = 0x00;
const VIOSRP_ADAPTER_FAIL: u8 = 0x10;

/// SRP IU types.
pub mod srp {
    pub const LOGIN_REQ: u8 = 0x00;
    pub const TSK_MGMT: u8 = 0x01;
    pub const CMD: u8 = 0x02;
    pub const LOGIN_RSP: u8 = 0xc0;
    pub const RSP: u8 = 0xc1;
    /// Data descriptor formats (nibbles of SRP_CMD byte 5: data-out high, data-in low).
    pub const DESC_DIRECT: u8 = 1;
    pub const DESC_INDIRECT: u8 = 2;
    /// Buffer formats supported (login response).
    pub const BUF_FORMAT_DIRECT: u16 = 1 << 1;
    pub const BUF_FORMAT_INDIRECT: u16 = 1 << 2;
    /// SRP_RSP flags.
    pub const RSP_FLAG_RSPVALID: u8 = 1 << 0;
    pub const RSP_FLAG_SNSVALID: u8 = 1 << 1;
    pub const RSP_FLAG_DOOVER: u8 = 1 << 2;
    pub const RSP_FLAG_DIOVER: u8 = 1 << 4;
    /// Task management functions and their answers.
    pub const TSK_ABORT_TASK: u8 = 0x01;
    pub const TSK_ABORT_TASK_SET: u8 = 0x02;
    pub const TSK_CLEAR_TASK_SET: u8 = 0x04;
    pub const TSK_LUN_RESET: u8 = 0x08;
    pub const TSK_CLEAR_ACA: u8 = 0x40;
    pub const TSK_MGMT_COMPLETE: u8 = 0x00;
    pub const TSK_MGMT_FIELDS_INVALID: u8 = 0x02;
    pub const TSK_MGMT_NOT_SUPPORTED: u8 = 0x04;
    /// Lengths: SRP_RSP without data, SRP_LOGIN_RSP, SRP_CMD before its additional data.
    pub const RSP_LEN: usize = 36;
    pub const LOGIN_RSP_LEN: usize = 52;
    pub const CMD_LEN: usize = 48;
}

/// MAD types and statuses (IBM's viosrp.h).
pub mod mad {
    pub const EMPTY_IU: u32 = 0x01;
    pub const ERROR_LOG: u32 = 0x02;
    pub const ADAPTER_INFO: u32 = 0x03;
    pub const HOST_CONFIG: u32 = 0x04;
    pub const CAPABILITIES: u32 = 0x05;
    pub const SUCCESS: u16 = 0x00;
    pub const NOT_SUPPORTED: u16 = 0xf1;
    pub const FAILED: u16 = 0xf7;
    /// mad_common (type, status, length, tag), and with the buffer address after it.
    pub const COMMON_LEN: usize = 16;
    pub const BUFFER_IU_LEN: usize = 24;
    /// viosrp_empty_iu as C lays it out (padded to 8).
    pub const EMPTY_IU_LEN: usize = 32;
    /// mad_adapter_info_data and struct capabilities.
    pub const ADAPTER_INFO_LEN: usize = 148;
    pub const CAPABILITIES_LEN: usize = 92;
    /// What the adapter info says (QEMU's values; os_type 2 is Linux: 3, AIX, would make Linux
    /// limit transfers for old SRP versions).
    pub const SRP_VERSION: &[u8] = b"16.a";
    pub const PARTITION_NAME: &[u8] = b"lpar";
    pub const MAD_VERSION: u32 = 1;
    pub const OS_TYPE: u32 = 2;
}

/// The REPORT LUNS well-known logical unit.
pub const REPORT_LUNS_WLUN: u64 = 0xc101_0000_0000_0000;

/// The error a command gets when its data cannot be moved (a descriptor not mapped, buffers
/// smaller than the transfer): QEMU's answer to an RDMA failure.
const TRANSFER_FAILED: Sense = Sense::new(key::HARDWARE_ERROR, 0, 0);

fn be16(b: &[u8]) -> u16 {
    b.iter().take(2).fold(0, |a, &x| a << 8 | x as u16)
}

fn be32(b: &[u8]) -> u32 {
    b.iter().take(4).fold(0, |a, &x| a << 8 | x as u32)
}

fn be64(b: &[u8]) -> u64 {
    b.iter().take(8).fold(0, |a, &x| a << 8 | x as u64)
}

/// Rate-limited diagnostics of what a guest sent that the device could not serve.
fn log(key: u64, msg: impl FnOnce() -> String) {
    static LOG: ppc::ratelog::RateLog = ppc::ratelog::RateLog::new("spapr-vscsi errors");
    LOG.once(key, || format!("spapr-vscsi: {}", msg()));
}

/// (target, LUN) of an 8-byte SRP LUN, as QEMU's vscsi decodes it: peripheral addressing (a
/// non-zero bus byte selects bus and target and moves on to the next level), flat space, or
/// logical unit addressing (target, bus, 5-bit LUN: what Linux's ibmvscsi sends). None for a
/// bus other than 0 (the SCSI bus has one) and for the extended format.
pub fn decode_lun(lun: u64) -> Option<(u16, u16)> {
    let (mut bus, mut target) = (0u64, 0u64);
    let mut l = lun;
    // Each level shifts 16 bits out: after four the rest is zero, which ends it.
    for _ in 0..5 {
        let (b, t, unit) = match l >> 62 {
            0 if l >> 56 != 0 => {
                bus = (l >> 56) & 0x3f;
                target = (l >> 48) & 0xff;
                l <<= 16;
                continue;
            }
            0 => (bus, target, (l >> 48) & 0xff),
            1 => (bus, target, (l >> 48) & 0x3fff),
            2 => ((l >> 53) & 0x7, (l >> 56) & 0x3f, (l >> 48) & 0x1f),
            _ => return None,
        };
        return (b == 0).then_some((t as u16, unit as u16));
    }
    None
}

/// A command to a target the bus does not have: INQUIRY answers "no device here" (peripheral
/// qualifier 3), so a scan goes on; anything else is refused.
fn no_unit(cdb: &[u8], data: &mut DataBuffers) -> Response {
    let len = data.len();
    match cdb {
        [op::INQUIRY, b1, page, a0, a1, ..] => {
            if b1 & 3 != 0 || *page != 0 {
                return Response::check(len, Sense::INVALID_FIELD);
            }
            let mut b = [0u8; 36];
            b[0] = 0x7f;
            b[2] = 5;
            b[3] = 0x12;
            b[4] = 36 - 5;
            let n = (u16::from_be_bytes([*a0, *a1]) as usize).min(b.len());
            let done = data.copy_in(&b[..n]);
            Response::good(len, done)
        }
        _ => Response::check(len, Sense::LUN_NOT_SUPPORTED),
    }
}

/// One IU being served: the message that named it, and its bytes (zero beyond its length).
struct Iu {
    connection: u64,
    format: u8,
    /// Bus address of the guest's buffer (request in, response out).
    ptr: u64,
    buf: [u8; IU_MAX],
}

impl Iu {
    /// The request's tag, as the guest wrote it (a reply names it back).
    fn tag(&self) -> &[u8] {
        &self.buf[8..16]
    }
}

/// A message with the connection it arrived on.
type Job = (u64, [u8; 16]);

/// What the vCPUs and the I/O thread share.
struct Shared {
    crq: Crq,
    bus: scsi::Bus,
}

pub struct Vscsi {
    reg: u32,
    shared: Arc<Shared>,
    /// Serves the messages in order, one at a time.
    worker: Worker<Job>,
}

impl Vscsi {
    /// The adapter at unit address `reg` (its DMA window has LIOBN `reg`), interrupting on
    /// `irq`, serving the units of `bus` from guest memory `mem`. Its I/O thread starts now.
    pub fn new(reg: u32, irq: IrqLine, mem: Arc<GuestMemory>, bus: scsi::Bus) -> Vscsi {
        let dma = Arc::new(TceTable::new(reg, 0, super::DMA_WINDOW));
        let shared = Arc::new(Shared {
            crq: Crq::new(mem, dma, irq),
            bus,
        });
        let s = shared.clone();
        let worker = Worker::spawn(format!("vscsi-{reg:x}"), "spapr-vscsi", MAX_PENDING, || {
            // The scatter list is reused from command to command.
            let mut iov: Vec<libc::iovec> = Vec::with_capacity(64);
            move |(connection, msg): Job| s.serve(connection, msg, &mut iov)
        });
        Vscsi {
            reg,
            shared,
            worker,
        }
    }

    /// The SCSI bus behind the adapter.
    pub fn bus(&self) -> &scsi::Bus {
        &self.shared.bus
    }

    /// Waits until every message queued so far has been served (tests, fuzzing).
    pub fn wait_idle(&self) {
        self.worker.wait_idle();
    }

    /// Whether the I/O thread is serving (false once it stopped, or if it died: a harness
    /// checks this, since a panic there would not reach the caller).
    pub fn io_thread_running(&self) -> bool {
        self.worker.running()
    }
}

impl Shared {
    fn mem(&self) -> &GuestMemory {
        self.crq.mem()
    }

    fn dma(&self) -> &TceTable {
        self.crq.table()
    }

    /// Serves one message that arrived on `connection`.
    fn serve(&self, connection: u64, msg: [u8; 16], iov: &mut Vec<libc::iovec>) {
        // Sent before the guest closed (or reset) the queue: it no longer waits for an answer.
        if self.crq.connection() != Some(connection) {
            return;
        }
        match (msg[0], msg[1]) {
            (crq::VALID_INIT, crq::INIT_REQUEST) => {
                let mut e = [0u8; 16];
                e[0] = crq::VALID_INIT;
                e[1] = crq::INIT_COMPLETE;
                self.post(connection, e);
            }
            // "Init complete" answers an init the device never sends; transport events are
            // the hypervisor's to send.
            (crq::VALID_INIT, _) | (crq::VALID_TRANSPORT, _) => {}
            (crq::VALID_PAYLOAD, FORMAT_SRP | FORMAT_MAD) => self.payload(connection, msg, iov),
            (a, b) => log(0x100 | a as u64, || {
                format!("unsupported CRQ message {a:#04x} {b:#04x}")
            }),
        }
    }

    /// A payload message: reads the IU it names and serves it.
    fn payload(&self, connection: u64, msg: [u8; 16], iov: &mut Vec<libc::iovec>) {
        let len = be16(&msg[6..8]) as usize;
        let ptr = be64(&msg[8..16]);
        // Unreadable: there is no tag to answer with (QEMU drops these too).
        if len > IU_MAX {
            return log(1, || {
                format!("IU of {len} bytes dropped (at most {IU_MAX})")
            });
        }
        let mut iu = Iu {
            connection,
            format: msg[1],
            ptr,
            buf: [0; IU_MAX],
        };
        if !crq::dma_read(self.mem(), self.dma(), ptr, &mut iu.buf[..len]) {
            return log(2, || {
                format!("IU at {ptr:#x} not readable through the window")
            });
        }
        if iu.format == FORMAT_MAD {
            return self.mad(&iu);
        }
        match iu.buf[0] {
            srp::LOGIN_REQ => self.login(&iu),
            srp::TSK_MGMT => self.task_mgmt(&iu),
            srp::CMD => self.command(&iu, iov),
            t => log(0x200 | t as u64, || {
                format!("unsupported SRP IU type {t:#04x}")
            }),
        }
    }

    /// Writes response `body` over the request and tells the guest.
    fn reply(&self, iu: &Iu, body: &[u8]) {
        // The guest may have reused the buffer if it closed the queue meanwhile.
        if self.crq.connection() != Some(iu.connection) {
            return;
        }
        let ok = crq::dma_write(self.mem(), self.dma(), iu.ptr, body);
        let mut e = [0u8; 16];
        e[0] = crq::VALID_PAYLOAD;
        e[1] = iu.format;
        e[3] = if ok { VIOSRP_OK } else { VIOSRP_ADAPTER_FAIL };
        e[6..8].copy_from_slice(&(body.len() as u16).to_be_bytes());
        e[8..16].copy_from_slice(iu.tag());
        self.post(iu.connection, e);
    }

    fn post(&self, connection: u64, e: [u8; 16]) {
        match self.crq.deliver_on(connection, e) {
            Ok(()) | Err(DeliverError::Closed) => {}
            Err(err) => log(3, || format!("reply dropped: the guest's queue is {err:?}")),
        }
    }

    /// SRP_LOGIN_REQ: always accepted, with QEMU's answer (requests, IU sizes, both
    /// descriptor formats).
    fn login(&self, iu: &Iu) {
        let mut r = [0u8; srp::LOGIN_RSP_LEN];
        r[0] = srp::LOGIN_RSP;
        r[4..8].copy_from_slice(&REQ_LIMIT.to_be_bytes());
        r[8..16].copy_from_slice(iu.tag());
        r[16..20].copy_from_slice(&(IU_MAX as u32).to_be_bytes());
        r[20..24].copy_from_slice(&(IU_MAX as u32).to_be_bytes());
        r[24..26]
            .copy_from_slice(&(srp::BUF_FORMAT_DIRECT | srp::BUF_FORMAT_INDIRECT).to_be_bytes());
        self.reply(iu, &r);
    }

    /// SRP_TSK_MGMT: commands complete in order, so an abort or reset finds nothing to do;
    /// the answer says whether the function and LUN make sense (QEMU's rules).
    fn task_mgmt(&self, iu: &Iu) {
        let b = &iu.buf;
        let unit = decode_lun(be64(&b[20..28])).and_then(|(t, l)| self.bus.unit(t, l));
        let code = match (unit, b[30]) {
            (None, _) => srp::TSK_MGMT_FIELDS_INVALID,
            (
                Some(_),
                srp::TSK_ABORT_TASK
                | srp::TSK_ABORT_TASK_SET
                | srp::TSK_CLEAR_TASK_SET
                | srp::TSK_LUN_RESET,
            ) => srp::TSK_MGMT_COMPLETE,
            (Some(_), srp::TSK_CLEAR_ACA) => srp::TSK_MGMT_NOT_SUPPORTED,
            (Some(_), _) => srp::TSK_MGMT_FIELDS_INVALID,
        };
        let mut r = [0u8; srp::RSP_LEN + 4];
        r[0] = srp::RSP;
        r[1] = if code == srp::TSK_MGMT_COMPLETE {
            (b[1] & 2) >> 1
        } else {
            (b[1] & 4) >> 2
        };
        r[4..8].copy_from_slice(&1u32.to_be_bytes());
        r[8..16].copy_from_slice(iu.tag());
        r[18] = srp::RSP_FLAG_RSPVALID;
        r[19] = status::GOOD;
        r[32..36].copy_from_slice(&4u32.to_be_bytes());
        r[srp::RSP_LEN + 3] = code;
        self.reply(iu, &r);
    }

    /// SRP_CMD: runs the CDB with the command's data buffers and answers with SRP_RSP.
    fn command(&self, iu: &Iu, iov: &mut Vec<libc::iovec>) {
        let b = &iu.buf;
        let lun = be64(&b[20..28]);
        // Additional CDB bytes: a multiple of 4 (the low bits are reserved).
        let cdb_end = srp::CMD_LEN + (b[31] & !3) as usize;
        let Some(cdb) = b.get(32..cdb_end) else {
            return self.command_rsp(iu, &Response::check(0, Sense::INVALID_FIELD), None);
        };
        let (dir, descs) = match self.descriptors(b, cdb_end) {
            Ok(d) => d,
            Err(s) => return self.command_rsp(iu, &Response::check(0, s), None),
        };
        iov.clear();
        if !self.map(&descs, dir == Direction::In, iov) {
            let len = descs.iter().map(|d| d.1).sum();
            return self.command_rsp(iu, &Response::check(len, TRANSFER_FAILED), None);
        }
        // SAFETY: `map` built every iovec from `GuestMemory::ptr` (inside guest RAM, which the
        // Arc in `crq` keeps mapped through this call) for pages the TCE window maps with the
        // access the direction needs; Rust holds no reference to guest RAM meanwhile.
        let mut data = unsafe { DataBuffers::new(dir, iov.as_mut_slice()) };
        let addr = if lun == REPORT_LUNS_WLUN && cdb[0] == op::REPORT_LUNS {
            Some((0, 0))
        } else {
            decode_lun(lun)
        };
        let r = match addr.and_then(|(t, l)| self.bus.execute(t, l, cdb, &mut data)) {
            Some(r) => r,
            None => no_unit(cdb, &mut data),
        };
        let dir = data.direction();
        if dir == Direction::In {
            // Decoded code in the pages written is stale now.
            for v in iov.iter() {
                let real = self.mem().real_addr_of(v.iov_base as *mut u8);
                self.mem().note_write(real, v.iov_len as u64);
            }
        }
        // Buffers smaller than the transfer: nothing was moved.
        let r = if r.overrun {
            Response::check(r.residual, TRANSFER_FAILED)
        } else {
            r
        };
        self.command_rsp(iu, &r, Some(dir));
    }

    /// The data descriptors of SRP_CMD `b` (the CDB ends at `cdb_end`): the direction and
    /// (bus address, length) of each buffer. An error is the sense the command fails with.
    fn descriptors(&self, b: &[u8], cdb_end: usize) -> Result<(Direction, Vec<(u64, u64)>), Sense> {
        let bad = Sense::INVALID_FIELD;
        // The data-out descriptor comes first; a command has one direction only, so the
        // data-in one is at the same place when it is the one given.
        let (dir, format, count) = match (b[5] >> 4, b[5] & 0xf) {
            (0, 0) => return Ok((Direction::None, Vec::new())),
            (f, 0) => (Direction::Out, f, b[6]),
            (0, f) => (Direction::In, f, b[7]),
            _ => return Err(bad),
        };
        let desc = |at: usize| {
            let d = b.get(at..at.checked_add(16)?)?;
            Some((be64(&d[0..8]), be32(&d[12..16]) as u64))
        };
        let list = match format {
            srp::DESC_DIRECT => vec![desc(cdb_end).ok_or(bad)?],
            srp::DESC_INDIRECT => {
                // srp_indirect_buf: the table's descriptor, the total length, then the first
                // descriptors inline; the table in guest memory holds the whole list.
                let (table, table_len) = desc(cdb_end).ok_or(bad)?;
                let total = (table_len / 16) as usize;
                if total > MAX_DESCRIPTORS {
                    return Err(bad);
                }
                let inline = (count as usize).min(total);
                let mut v = Vec::with_capacity(total);
                for i in 0..inline {
                    v.push(desc(cdb_end + 20 + 16 * i).ok_or(bad)?);
                }
                if total > inline {
                    let mut t = vec![0u8; (total - inline) * 16];
                    let at = table
                        .checked_add(inline as u64 * 16)
                        .ok_or(TRANSFER_FAILED)?;
                    if !crq::dma_read(self.mem(), self.dma(), at, &mut t) {
                        return Err(TRANSFER_FAILED);
                    }
                    v.extend(
                        t.chunks_exact(16)
                            .map(|d| (be64(&d[0..8]), be32(&d[12..16]) as u64)),
                    );
                }
                v
            }
            _ => return Err(bad),
        };
        if list.iter().map(|d| d.1).sum::<u64>() > MAX_TRANSFER {
            return Err(bad);
        }
        Ok((dir, list))
    }

    /// Translates the buffers into host iovecs (adjacent pieces merged), each page through the
    /// window with the access the transfer needs (`write`: data-in). False if a page is not
    /// mapped so, or the list grows beyond [`MAX_IOVECS`].
    fn map(&self, descs: &[(u64, u64)], write: bool, iov: &mut Vec<libc::iovec>) -> bool {
        let mem = self.mem();
        descs.iter().all(|&(va, len)| {
            crq::walk(self.dma(), va, len, write, |real, _, n| {
                let Some(p) = mem.ptr(real, n) else {
                    return false;
                };
                if let Some(last) = iov.last_mut() {
                    if (last.iov_base as usize).wrapping_add(last.iov_len) == p as usize {
                        last.iov_len += n as usize;
                        return true;
                    }
                }
                if iov.len() == MAX_IOVECS {
                    return false;
                }
                iov.push(libc::iovec {
                    iov_base: p as *mut libc::c_void,
                    iov_len: n as usize,
                });
                true
            })
        })
    }

    /// SRP_RSP for a command: status, autosense, residuals. `dir`: the data direction when
    /// data moved. Residuals are reported QEMU's way, with the *OVER flags, because those are
    /// the ones Linux's ibmvscsi reads (it ignores the *UNDER ones); and only with GOOD status.
    fn command_rsp(&self, iu: &Iu, r: &Response, dir: Option<Direction>) {
        let mut rsp = [0u8; srp::RSP_LEN + Sense::FIXED_LEN];
        let sol_not = iu.buf[1];
        rsp[0] = srp::RSP;
        rsp[4..8].copy_from_slice(&1u32.to_be_bytes());
        rsp[8..16].copy_from_slice(iu.tag());
        let mut flags = 0;
        let mut len = srp::RSP_LEN;
        if r.status == status::GOOD {
            rsp[1] = (sol_not & 2) >> 1;
            let resid = r.residual.min(u32::MAX as u64) as u32;
            match dir {
                Some(Direction::In) if resid != 0 => {
                    flags |= srp::RSP_FLAG_DIOVER;
                    rsp[24..28].copy_from_slice(&resid.to_be_bytes());
                }
                Some(Direction::Out) if resid != 0 => {
                    flags |= srp::RSP_FLAG_DOOVER;
                    rsp[20..24].copy_from_slice(&resid.to_be_bytes());
                }
                _ => {}
            }
        } else {
            rsp[1] = (sol_not & 4) >> 2;
            if let Some(s) = r.sense {
                flags |= srp::RSP_FLAG_SNSVALID;
                rsp[28..32].copy_from_slice(&(Sense::FIXED_LEN as u32).to_be_bytes());
                rsp[srp::RSP_LEN..].copy_from_slice(&s.fixed());
                len += Sense::FIXED_LEN;
            }
        }
        rsp[18] = flags;
        rsp[19] = r.status;
        self.reply(iu, &rsp[..len]);
    }

    /// A management datagram: adapter info and capabilities are answered, the rest is "not
    /// supported" (the common header written back so the guest sees the status).
    fn mad(&self, iu: &Iu) {
        let b = &iu.buf;
        let kind = be32(&b[0..4]);
        let len = be16(&b[6..8]) as u64;
        let buffer = be64(&b[16..24]);
        let (status, reply_len) = match kind {
            mad::ADAPTER_INFO => (self.adapter_info(buffer, len), mad::BUFFER_IU_LEN),
            mad::CAPABILITIES => (self.capabilities(buffer, len), mad::BUFFER_IU_LEN),
            mad::EMPTY_IU => (mad::NOT_SUPPORTED, mad::EMPTY_IU_LEN),
            mad::ERROR_LOG | mad::HOST_CONFIG => (mad::NOT_SUPPORTED, mad::BUFFER_IU_LEN),
            _ => (mad::NOT_SUPPORTED, mad::COMMON_LEN),
        };
        let mut r = [0u8; IU_MAX];
        r[..reply_len].copy_from_slice(&b[..reply_len]);
        r[4..6].copy_from_slice(&status.to_be_bytes());
        self.reply(iu, &r[..reply_len]);
    }

    /// Writes the adapter info (`len` bytes of it, zero beyond) at bus address `buffer`.
    fn adapter_info(&self, buffer: u64, len: u64) -> u16 {
        let mut info = [0u8; mad::ADAPTER_INFO_LEN];
        info[..mad::SRP_VERSION.len()].copy_from_slice(mad::SRP_VERSION);
        info[8..8 + mad::PARTITION_NAME.len()].copy_from_slice(mad::PARTITION_NAME);
        // partition_number (104) stays 0.
        info[108..112].copy_from_slice(&mad::MAD_VERSION.to_be_bytes());
        info[112..116].copy_from_slice(&mad::OS_TYPE.to_be_bytes());
        info[116..120].copy_from_slice(&(MAX_TRANSFER as u32).to_be_bytes());
        self.write_reply(buffer, &info, len)
    }

    /// Reads the guest's capabilities at `buffer` and writes them back with every capability
    /// refused (no migration, no reservations: QEMU's answer).
    fn capabilities(&self, buffer: u64, len: u64) -> u16 {
        let mut cap = [0u8; mad::CAPABILITIES_LEN];
        let n = (len as usize).min(cap.len());
        if !crq::dma_read(self.mem(), self.dma(), buffer, &mut cap[..n]) {
            return mad::FAILED;
        }
        // flags; migration: server_support, ecl; reserve: server_support, type.
        for (at, w) in [(0, 4), (74, 2), (76, 4), (86, 2), (88, 4)] {
            cap[at..at + w].fill(0);
        }
        self.write_reply(buffer, &cap, len)
    }

    /// Writes the first `len` bytes of `data` at `buffer`, zeroes beyond it up to `len`.
    fn write_reply(&self, buffer: u64, data: &[u8], len: u64) -> u16 {
        let n = (len as usize).min(data.len());
        let ok = crq::dma_write(self.mem(), self.dma(), buffer, &data[..n])
            && crq::dma_fill(
                self.mem(),
                self.dma(),
                buffer.wrapping_add(n as u64),
                len - n as u64,
                0,
            );
        if ok {
            mad::SUCCESS
        } else {
            mad::FAILED
        }
    }
}

impl CrqDevice for Vscsi {
    fn queue(&self) -> &Crq {
        &self.shared.crq
    }

    fn receive(&self, msg: [u8; 16]) -> i64 {
        let Some(connection) = self.shared.crq.connection() else {
            return H_RESOURCE;
        };
        match self.worker.submit((connection, msg)) {
            Submit::Queued => H_SUCCESS,
            Submit::Busy => H_DROPPED,
            // No I/O thread (it could not start, or the machine is stopping): serve it here.
            Submit::Inline((connection, msg)) => {
                self.shared.serve(connection, msg, &mut Vec::new());
                H_SUCCESS
            }
        }
    }
}

impl VioDevice for Vscsi {
    fn reg(&self) -> Option<u32> {
        Some(self.reg)
    }

    fn build_node(&self, t: &mut DeviceTree, vdevice: NodeId) {
        let n = super::add_node(
            t,
            vdevice,
            &super::Kind {
                name: "v-scsi",
                device_type: "vscsi",
                compatible: "IBM,v-scsi",
            },
            self.reg,
            self.shared.crq.irq().number(),
            Some(self.shared.crq.table()),
        );
        // Children are addressed by 8-byte SRP LUNs (QEMU's properties).
        t.set_u32(n, "#address-cells", 2);
        t.set_u32(n, "#size-cells", 0);
    }

    fn signal(&self, mode: u64) {
        self.shared.crq.signal(mode);
    }

    fn dma(&self) -> Option<&Arc<TceTable>> {
        Some(self.shared.crq.table())
    }

    /// Closes the queue, drops the messages not yet served and waits for the one being served
    /// (whose reply then goes nowhere).
    fn reset(&self) {
        self.shared.crq.reset();
        self.worker.clear();
        self.wait_idle();
    }

    fn shutdown(&self) {
        self.worker.stop();
        if let Err(e) = self.shared.bus.flush() {
            eprintln!("lpar: spapr-vscsi: flushing the disk images at exit failed: {e}");
        }
    }

    fn crq(&self) -> Option<&dyn CrqDevice> {
        Some(self)
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hcall::{H_NOT_FOUND, H_PARAMETER, H_PERMISSION};
    use crate::tce::{TCE_READ, TCE_WRITE};
    use crate::vio::crq::tests::Pulses;
    use crate::vio::crq::{H_COPY_RDMA, H_ENABLE_CRQ, H_FREE_CRQ, H_REG_CRQ, H_SEND_CRQ};
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const REG: u32 = 0x7100_0003;
    const PAGE: u64 = 4096;
    /// Window layout: the ring, IU buffers, an indirect table, data pages.
    const RING: u64 = 0x0000;
    const IU: u64 = 0x1000;
    const TABLE: u64 = 0x2000;
    const DATA: u64 = 0x4000;
    /// Window pages 0..16 map real pages from here (read/write) ...
    const REAL: u64 = 0x10_0000;
    const MAPPED: u64 = 16;
    /// ... and window pages 16..19 map scattered real pages.
    const SCATTERED: [u64; 3] = [0x30_0000, 0x20_0000, 0x50_0000];
    const SCATTER: u64 = 16 * PAGE;
    /// Target 0 LUN 0, as Linux's ibmvscsi addresses it (logical unit addressing).
    const LUN0: u64 = 0x8000 << 48;
    const IMAGE: usize = 1 << 20;

    /// A raw image file, removed when dropped.
    struct Image(PathBuf);

    impl Image {
        /// Byte i is i * 7 + i / 512.
        fn new() -> Image {
            static N: AtomicUsize = AtomicUsize::new(0);
            let path = std::env::temp_dir().join(format!(
                "lpar-vscsi-test-{}-{}.img",
                std::process::id(),
                N.fetch_add(1, Ordering::SeqCst)
            ));
            let data: Vec<u8> = (0..IMAGE).map(|i| (i * 7 + i / 512) as u8).collect();
            std::fs::write(&path, data).expect("write image");
            Image(path)
        }

        fn bus(&self) -> scsi::Bus {
            let backend = block::open(&block::Options {
                path: self.0.clone(),
                format: Some(block::Format::Raw),
                ..Default::default()
            })
            .expect("open image");
            let mut bus = scsi::Bus::new();
            bus.attach(
                0,
                0,
                scsi::ScsiDisk::new(backend, scsi::Kind::Disk, "sn0", ""),
            )
            .expect("attach");
            bus
        }

        fn bytes(&self) -> Vec<u8> {
            std::fs::read(&self.0).expect("read image")
        }
    }

    impl Drop for Image {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    /// A guest driving the adapter: its memory, the device, the next reply slot.
    struct Guest {
        mem: Arc<GuestMemory>,
        vs: Vscsi,
        pulses: Arc<Pulses>,
        next: u64,
        tag: u64,
        image: Image,
    }

    impl Guest {
        fn new() -> Guest {
            let mem = Arc::new(GuestMemory::new(64 << 20).expect("guest memory"));
            let pulses = Arc::new(Pulses::default());
            let irq = IrqLine::new(pulses.clone(), 0x1103, false);
            let image = Image::new();
            let vs = Vscsi::new(REG, irq, mem.clone(), image.bus());
            let g = Guest {
                mem,
                vs,
                pulses,
                next: 0,
                tag: 0x1000,
                image,
            };
            for p in 0..MAPPED {
                g.map(p * PAGE, REAL + p * PAGE, TCE_READ | TCE_WRITE);
            }
            for (i, r) in SCATTERED.iter().enumerate() {
                g.map(SCATTER + i as u64 * PAGE, *r, TCE_READ | TCE_WRITE);
            }
            assert_eq!(g.vs.queue().register(RING, PAGE), H_SUCCESS);
            g
        }

        fn table(&self) -> &TceTable {
            self.vs.dma().expect("window")
        }

        fn map(&self, ioba: u64, real: u64, perm: u64) {
            assert!(self.table().put(ioba, real | perm));
        }

        fn write(&self, ioba: u64, data: &[u8]) {
            let real = self.table().translate(ioba, false).expect("mapped");
            assert!(self.mem.write(real, data));
        }

        fn read(&self, ioba: u64, len: usize) -> Vec<u8> {
            let mut b = vec![0u8; len];
            assert!(crq::dma_read(&self.mem, self.table(), ioba, &mut b));
            b
        }

        /// H_SEND_CRQ, then waits until the device has served it.
        fn send(&self, m: [u8; 16]) -> i64 {
            let r = crq::send(&self.vs, be64(&m[..8]), be64(&m[8..]));
            self.vs.wait_idle();
            r
        }

        /// The next reply in the ring (consumed), if any.
        fn reply(&mut self) -> Option<[u8; 16]> {
            let mut e = [0u8; 16];
            e.copy_from_slice(&self.read(RING + self.next, 16));
            if e[0] == 0 {
                return None;
            }
            self.write(RING + self.next, &[0]);
            self.next = (self.next + 16) % PAGE;
            Some(e)
        }

        /// Sends IU `iu` (format `format`) from buffer `at`; returns the reply entry and the
        /// response IU it announces.
        fn iu(&mut self, format: u8, at: u64, iu: &[u8]) -> Option<([u8; 16], Vec<u8>)> {
            let mut buf = [0u8; IU_MAX];
            buf[..iu.len()].copy_from_slice(iu);
            self.write(at, &buf);
            let mut m = [0u8; 16];
            m[0] = crq::VALID_PAYLOAD;
            m[1] = format;
            m[6..8].copy_from_slice(&(IU_MAX as u16).to_be_bytes());
            m[8..16].copy_from_slice(&at.to_be_bytes());
            assert_eq!(self.send(m), H_SUCCESS);
            let e = self.reply()?;
            let rsp = self.read(at, be16(&e[6..8]) as usize);
            Some((e, rsp))
        }

        fn next_tag(&mut self) -> u64 {
            self.tag += 1;
            self.tag
        }

        /// An SRP_CMD to `lun` with `cdb`, buffer formats `fmt`, descriptor counts and the
        /// descriptor bytes after the CDB; returns the SRP_RSP.
        fn cmd(&mut self, lun: u64, cdb: &[u8], fmt: u8, counts: (u8, u8), desc: &[u8]) -> Vec<u8> {
            let tag = self.next_tag();
            let mut iu = vec![0u8; srp::CMD_LEN];
            iu[0] = srp::CMD;
            iu[5] = fmt;
            iu[6] = counts.0;
            iu[7] = counts.1;
            iu[8..16].copy_from_slice(&tag.to_be_bytes());
            iu[20..28].copy_from_slice(&lun.to_be_bytes());
            iu[32..32 + cdb.len()].copy_from_slice(cdb);
            iu.extend_from_slice(desc);
            let (e, rsp) = self.iu(FORMAT_SRP, IU, &iu).expect("a reply");
            assert_eq!(&e[..4], &[crq::VALID_PAYLOAD, FORMAT_SRP, 0, VIOSRP_OK]);
            assert_eq!(be64(&e[8..16]), tag, "the reply names the request's tag");
            assert_eq!(rsp[0], srp::RSP);
            assert_eq!(be64(&rsp[8..16]), tag);
            assert_eq!(be32(&rsp[4..8]), 1, "one more request granted");
            rsp
        }
    }

    fn direct(va: u64, len: u32) -> Vec<u8> {
        let mut d = va.to_be_bytes().to_vec();
        d.extend(0u32.to_be_bytes());
        d.extend(len.to_be_bytes());
        d
    }

    /// SRP_RSP fields: flags, status, data-out and data-in residuals, sense.
    fn rsp_fields(r: &[u8]) -> (u8, u8, u32, u32, &[u8]) {
        let sense_len = be32(&r[28..32]) as usize;
        (
            r[18],
            r[19],
            be32(&r[20..24]),
            be32(&r[24..28]),
            &r[36..36 + sense_len],
        )
    }

    fn read10(lba: u32, blocks: u16) -> [u8; 10] {
        let mut c = [0u8; 10];
        c[0] = op::READ_10;
        c[2..6].copy_from_slice(&lba.to_be_bytes());
        c[7..9].copy_from_slice(&blocks.to_be_bytes());
        c
    }

    #[test]
    fn luns_decode_as_qemu_does() {
        assert_eq!(decode_lun(0), Some((0, 0)));
        // Linux: 0x8000 | target << 8 | channel << 5 | lun, in the top 16 bits.
        assert_eq!(decode_lun(0x8000 << 48), Some((0, 0)));
        assert_eq!(decode_lun(0x8305 << 48), Some((3, 5)));
        assert_eq!(decode_lun(0x8325 << 48), None, "channel 1");
        // Peripheral: LUN in byte 1; a bus byte moves to the next level.
        assert_eq!(decode_lun(0x0007 << 48), Some((0, 7)));
        assert_eq!(decode_lun(0x0102_0004 << 32), None, "bus 1");
        // Flat space.
        assert_eq!(decode_lun(0x4123 << 48), Some((0, 0x123)));
        // Extended: no unit.
        assert_eq!(decode_lun(REPORT_LUNS_WLUN), None);
        assert_eq!(decode_lun(u64::MAX), None);
    }

    #[test]
    fn init_login_and_interrupts() {
        let mut g = Guest::new();
        let mut init = [0u8; 16];
        init[0] = crq::VALID_INIT;
        init[1] = crq::INIT_REQUEST;
        assert_eq!(g.send(init), H_SUCCESS);
        let e = g.reply().expect("init complete");
        assert_eq!(&e[..2], &[crq::VALID_INIT, crq::INIT_COMPLETE]);
        assert_eq!(g.pulses.count(), 0, "interrupt not enabled yet");
        g.vs.signal(1);
        let mut login = vec![0u8; 64];
        login[0] = srp::LOGIN_REQ;
        login[8..16].copy_from_slice(&0xfeed_u64.to_be_bytes());
        let (e, rsp) = g.iu(FORMAT_SRP, IU + 0x100, &login).expect("login reply");
        assert_eq!(g.pulses.count(), 1);
        assert_eq!(&e[..4], &[crq::VALID_PAYLOAD, FORMAT_SRP, 0, VIOSRP_OK]);
        assert_eq!(be16(&e[6..8]) as usize, srp::LOGIN_RSP_LEN);
        assert_eq!(be64(&e[8..16]), 0xfeed);
        assert_eq!(rsp[0], srp::LOGIN_RSP);
        assert_eq!(be32(&rsp[4..8]), REQ_LIMIT);
        assert_eq!(be64(&rsp[8..16]), 0xfeed);
        assert_eq!(be32(&rsp[16..20]), 256);
        assert_eq!(be32(&rsp[20..24]), 256);
        assert_eq!(be16(&rsp[24..26]), 6, "direct and indirect descriptors");
        // Init complete and transport events from the guest need no answer.
        init[1] = crq::INIT_COMPLETE;
        assert_eq!(g.send(init), H_SUCCESS);
        init[0] = crq::VALID_TRANSPORT;
        assert_eq!(g.send(init), H_SUCCESS);
        assert_eq!(g.reply(), None);
    }

    #[test]
    fn inquiry_through_a_direct_descriptor() {
        let mut g = Guest::new();
        let mut cdb = [0u8; 6];
        cdb[0] = op::INQUIRY;
        cdb[4] = 96;
        let rsp = g.cmd(LUN0, &cdb, srp::DESC_DIRECT, (0, 1), &direct(DATA + 8, 96));
        let (flags, st, _, din, sense) = rsp_fields(&rsp);
        assert_eq!(st, status::GOOD);
        assert!(sense.is_empty());
        // 36 bytes of 96: the residual, QEMU's way.
        assert_eq!(flags, srp::RSP_FLAG_DIOVER);
        assert_eq!(din, 60);
        let data = g.read(DATA + 8, 36);
        assert_eq!(data[0], 0, "direct-access device");
        assert_eq!(data[4], 31);
        assert_eq!(&data[8..12], b"QEMU");
        // LUN 0 written all zero addresses the same unit.
        let rsp = g.cmd(0, &cdb, srp::DESC_DIRECT, (0, 1), &direct(DATA, 36));
        assert_eq!(rsp_fields(&rsp).1, status::GOOD);
        assert_eq!(rsp[18], 0, "no residual");
    }

    #[test]
    fn read10_through_an_indirect_table_over_three_scattered_pages() {
        let mut g = Guest::new();
        let image = g.image.bytes();
        // Three descriptors, one per page, the list in a table in guest memory (one inline).
        let descs: Vec<Vec<u8>> = (0..3)
            .map(|i| direct(SCATTER + i * PAGE, PAGE as u32))
            .collect();
        g.write(TABLE, &descs.concat());
        let mut ind = direct(TABLE, 48);
        ind.extend((3 * PAGE as u32).to_be_bytes());
        ind.extend(&descs[0]);
        let lba = 5;
        let rsp = g.cmd(LUN0, &read10(lba, 24), srp::DESC_INDIRECT, (0, 1), &ind);
        let (flags, st, _, _, _) = rsp_fields(&rsp);
        assert_eq!((flags, st), (0, status::GOOD));
        let want = &image[lba as usize * 512..][..3 * PAGE as usize];
        for (i, real) in SCATTERED.iter().enumerate() {
            let mut got = vec![0u8; PAGE as usize];
            assert!(g.mem.read(*real, &mut got));
            assert_eq!(
                &got[..],
                &want[i * PAGE as usize..][..PAGE as usize],
                "page {i}"
            );
        }
        // The same with the whole list inline, and one descriptor crossing two pages.
        assert!(g.mem.fill(SCATTERED[1], PAGE, 0));
        let two = [
            direct(SCATTER, 2048),
            direct(SCATTER + 2048, 2 * PAGE as u32 + 2048),
        ];
        let mut ind = direct(0, 32);
        ind.extend((3 * PAGE as u32).to_be_bytes());
        ind.extend(two.concat());
        let rsp = g.cmd(LUN0, &read10(lba, 24), srp::DESC_INDIRECT, (0, 2), &ind);
        assert_eq!(rsp_fields(&rsp).1, status::GOOD);
        let mut got = vec![0u8; PAGE as usize];
        assert!(g.mem.read(SCATTERED[1], &mut got));
        assert_eq!(&got[..], &want[PAGE as usize..][..PAGE as usize]);
    }

    #[test]
    fn write10_reaches_the_image() {
        let mut g = Guest::new();
        let data: Vec<u8> = (0..1024u32).map(|i| (i * 31 + 5) as u8).collect();
        g.write(DATA, &data);
        let mut cdb = read10(7, 2);
        cdb[0] = op::WRITE_10;
        let rsp = g.cmd(
            LUN0,
            &cdb,
            srp::DESC_DIRECT << 4,
            (1, 0),
            &direct(DATA, 1024),
        );
        assert_eq!(rsp_fields(&rsp), (0, status::GOOD, 0, 0, &[][..]));
        assert_eq!(&g.image.bytes()[7 * 512..9 * 512], &data[..]);
        // A write with a buffer longer than the transfer: the rest is the residual.
        let rsp = g.cmd(
            LUN0,
            &read10(7, 1).map(|b| if b == op::READ_10 { op::WRITE_10 } else { b }),
            srp::DESC_DIRECT << 4,
            (1, 0),
            &direct(DATA, 1024),
        );
        let (flags, st, dout, _, _) = rsp_fields(&rsp);
        assert_eq!((flags, st, dout), (srp::RSP_FLAG_DOOVER, status::GOOD, 512));
    }

    #[test]
    fn missing_units_get_check_condition() {
        let mut g = Guest::new();
        // A missing LUN of an existing target: LUN NOT SUPPORTED, as autosense.
        let rsp = g.cmd(
            0x8003 << 48,
            &[op::TEST_UNIT_READY, 0, 0, 0, 0, 0],
            0,
            (0, 0),
            &[],
        );
        let (flags, st, _, _, sense) = rsp_fields(&rsp);
        assert_eq!(st, status::CHECK_CONDITION);
        assert_eq!(flags, srp::RSP_FLAG_SNSVALID);
        assert_eq!(sense.len(), 18);
        assert_eq!((sense[2], sense[12]), (key::ILLEGAL_REQUEST, 0x25));
        // A missing target answers INQUIRY with "no device here" and refuses the rest.
        let mut cdb = [0u8; 6];
        cdb[0] = op::INQUIRY;
        cdb[4] = 36;
        let rsp = g.cmd(
            0x8500 << 48,
            &cdb,
            srp::DESC_DIRECT,
            (0, 1),
            &direct(DATA, 36),
        );
        assert_eq!(rsp_fields(&rsp).1, status::GOOD);
        assert_eq!(g.read(DATA, 1)[0], 0x7f);
        let rsp = g.cmd(
            0x8520 << 48,
            &read10(0, 1),
            srp::DESC_DIRECT,
            (0, 1),
            &direct(DATA, 512),
        );
        let (_, st, _, _, sense) = rsp_fields(&rsp);
        assert_eq!((st, sense[12]), (status::CHECK_CONDITION, 0x25));
        // REPORT LUNS to the well-known LUN lists target 0's units.
        let mut rl = [0u8; 12];
        rl[0] = op::REPORT_LUNS;
        rl[9] = 64;
        let rsp = g.cmd(
            REPORT_LUNS_WLUN,
            &rl,
            srp::DESC_DIRECT,
            (0, 1),
            &direct(DATA, 64),
        );
        assert_eq!(rsp_fields(&rsp).1, status::GOOD);
        assert_eq!(be32(&g.read(DATA, 4)), 8, "one LUN");
    }

    #[test]
    fn task_management_and_management_datagrams() {
        let mut g = Guest::new();
        let tmf = |g: &mut Guest, lun: u64, func: u8| {
            let mut iu = vec![0u8; 48];
            iu[0] = srp::TSK_MGMT;
            iu[8..16].copy_from_slice(&7u64.to_be_bytes());
            iu[20..28].copy_from_slice(&lun.to_be_bytes());
            iu[30] = func;
            let (_, rsp) = g.iu(FORMAT_SRP, IU, &iu).expect("reply");
            assert_eq!(rsp.len(), srp::RSP_LEN + 4);
            assert_eq!(
                (rsp[0], rsp[18], rsp[19]),
                (srp::RSP, srp::RSP_FLAG_RSPVALID, 0)
            );
            assert_eq!(be32(&rsp[32..36]), 4);
            rsp[srp::RSP_LEN + 3]
        };
        assert_eq!(
            tmf(&mut g, LUN0, srp::TSK_LUN_RESET),
            srp::TSK_MGMT_COMPLETE
        );
        assert_eq!(
            tmf(&mut g, LUN0, srp::TSK_ABORT_TASK),
            srp::TSK_MGMT_COMPLETE
        );
        assert_eq!(
            tmf(&mut g, LUN0, srp::TSK_CLEAR_ACA),
            srp::TSK_MGMT_NOT_SUPPORTED
        );
        assert_eq!(tmf(&mut g, LUN0, 0x99), srp::TSK_MGMT_FIELDS_INVALID);
        assert_eq!(
            tmf(&mut g, 0x8100 << 48, srp::TSK_LUN_RESET),
            srp::TSK_MGMT_FIELDS_INVALID
        );

        let mad_iu = |kind: u32, len: u16, buffer: u64| {
            let mut iu = vec![0u8; 24];
            iu[0..4].copy_from_slice(&kind.to_be_bytes());
            iu[6..8].copy_from_slice(&len.to_be_bytes());
            iu[8..16].copy_from_slice(&0xabcu64.to_be_bytes());
            iu[16..24].copy_from_slice(&buffer.to_be_bytes());
            iu
        };
        // Adapter info, into a buffer larger than the structure (zeroed beyond it).
        g.write(DATA, &[0xff; 200]);
        let (e, rsp) = g
            .iu(FORMAT_MAD, IU, &mad_iu(mad::ADAPTER_INFO, 200, DATA))
            .expect("reply");
        assert_eq!((e[1], be16(&e[6..8])), (FORMAT_MAD, 24));
        assert_eq!(be64(&e[8..16]), 0xabc);
        assert_eq!(be16(&rsp[4..6]), mad::SUCCESS);
        let info = g.read(DATA, 200);
        assert_eq!(&info[..5], b"16.a\0");
        assert_eq!(&info[8..13], b"lpar\0");
        assert_eq!(be32(&info[108..112]), 1);
        assert_eq!(be32(&info[112..116]), 2);
        assert_eq!(be32(&info[116..120]), MAX_TRANSFER as u32);
        assert!(info[148..].iter().all(|&b| b == 0));
        // Adapter info into an unmapped buffer: failed.
        let (_, rsp) = g
            .iu(FORMAT_MAD, IU, &mad_iu(mad::ADAPTER_INFO, 148, 1 << 27))
            .expect("reply");
        assert_eq!(be16(&rsp[4..6]), mad::FAILED);
        // Capabilities: every one refused, the names kept.
        let mut cap = vec![0xffu8; mad::CAPABILITIES_LEN];
        cap[4..8].copy_from_slice(b"name");
        g.write(DATA, &cap);
        let (_, rsp) = g
            .iu(FORMAT_MAD, IU, &mad_iu(mad::CAPABILITIES, 92, DATA))
            .expect("reply");
        assert_eq!(be16(&rsp[4..6]), mad::SUCCESS);
        let back = g.read(DATA, 92);
        assert_eq!(be32(&back[0..4]), 0);
        assert_eq!(&back[4..8], b"name");
        assert_eq!((be16(&back[74..76]), be32(&back[76..80])), (0, 0));
        assert_eq!((be16(&back[86..88]), be32(&back[88..92])), (0, 0));
        assert_eq!(
            be16(&back[72..74]),
            0xffff,
            "the rest as the guest wrote it"
        );
        // Fast fail (0x08) and the empty IU: not supported, the status seen.
        for (kind, len) in [(0x08, 16), (mad::EMPTY_IU, 32), (mad::HOST_CONFIG, 24)] {
            let (e, rsp) = g.iu(FORMAT_MAD, IU, &mad_iu(kind, 0, 0)).expect("reply");
            assert_eq!(be16(&e[6..8]), len);
            assert_eq!(be16(&rsp[4..6]), mad::NOT_SUPPORTED);
            assert_eq!(be32(&rsp[0..4]), kind);
        }
    }

    #[test]
    fn bad_requests_get_errors_or_are_dropped() {
        let mut g = Guest::new();
        let mut cdb = [0u8; 6];
        cdb[0] = op::INQUIRY;
        cdb[4] = 36;
        let check = |rsp: &[u8]| {
            let (_, st, _, _, sense) = rsp_fields(rsp);
            assert_eq!(st, status::CHECK_CONDITION);
            (sense[2], sense[12])
        };
        // Data buffer not mapped, mapped read-only for data-in, beyond the window.
        let transfer = (key::HARDWARE_ERROR, 0);
        let rsp = g.cmd(LUN0, &cdb, srp::DESC_DIRECT, (0, 1), &direct(40 * PAGE, 36));
        assert_eq!(check(&rsp), transfer);
        g.map(41 * PAGE, 0x40_0000, TCE_READ);
        let rsp = g.cmd(LUN0, &cdb, srp::DESC_DIRECT, (0, 1), &direct(41 * PAGE, 36));
        assert_eq!(check(&rsp), transfer);
        let rsp = g.cmd(
            LUN0,
            &cdb,
            srp::DESC_DIRECT,
            (0, 1),
            &direct(u64::MAX - 8, 36),
        );
        assert_eq!(check(&rsp), transfer);
        // A TCE pointing beyond RAM.
        g.map(42 * PAGE, 1 << 40, TCE_READ | TCE_WRITE);
        let rsp = g.cmd(LUN0, &cdb, srp::DESC_DIRECT, (0, 1), &direct(42 * PAGE, 36));
        assert_eq!(check(&rsp), transfer);
        // Buffers smaller than the transfer.
        let rsp = g.cmd(
            LUN0,
            &read10(0, 2),
            srp::DESC_DIRECT,
            (0, 1),
            &direct(DATA, 512),
        );
        assert_eq!(check(&rsp), transfer);
        // Malformed: both directions, an unknown format, a huge length, a huge table, a
        // CDB running out of the IU, an indirect table not mapped.
        let invalid = (key::ILLEGAL_REQUEST, 0x24);
        let rsp = g.cmd(
            LUN0,
            &cdb,
            0x11,
            (1, 1),
            &[direct(DATA, 36), direct(DATA, 36)].concat(),
        );
        assert_eq!(check(&rsp), invalid);
        let rsp = g.cmd(LUN0, &cdb, 0x03, (0, 1), &direct(DATA, 36));
        assert_eq!(check(&rsp), invalid);
        let rsp = g.cmd(
            LUN0,
            &cdb,
            srp::DESC_DIRECT,
            (0, 1),
            &direct(DATA, u32::MAX),
        );
        assert_eq!(check(&rsp), invalid);
        let mut ind = direct(TABLE, 16 * 1000);
        ind.extend(0u32.to_be_bytes());
        let rsp = g.cmd(LUN0, &cdb, srp::DESC_INDIRECT, (0, 0), &ind);
        assert_eq!(check(&rsp), invalid);
        let mut ind = direct(50 * PAGE, 16 * 20);
        ind.extend(0u32.to_be_bytes());
        let rsp = g.cmd(LUN0, &cdb, srp::DESC_INDIRECT, (0, 1), &ind);
        assert_eq!(check(&rsp), transfer);
        // Inline count larger than fits in the IU.
        let mut ind = direct(TABLE, 16 * 20);
        ind.extend(0u32.to_be_bytes());
        let rsp = g.cmd(LUN0, &cdb, srp::DESC_INDIRECT, (0, 20), &ind);
        assert_eq!(check(&rsp), invalid);
        let tag = g.next_tag();
        let mut iu = vec![0u8; 48];
        iu[0] = srp::CMD;
        iu[8..16].copy_from_slice(&tag.to_be_bytes());
        iu[31] = 0xff;
        let (_, rsp) = g.iu(FORMAT_SRP, IU, &iu).expect("reply");
        assert_eq!(check(&rsp), invalid);

        // Dropped: an IU too long, unreadable, of an unknown kind or format.
        let mut m = [0u8; 16];
        m[0] = crq::VALID_PAYLOAD;
        m[1] = FORMAT_SRP;
        m[6..8].copy_from_slice(&257u16.to_be_bytes());
        m[8..16].copy_from_slice(&IU.to_be_bytes());
        assert_eq!(g.send(m), H_SUCCESS);
        m[6..8].copy_from_slice(&64u16.to_be_bytes());
        m[8..16].copy_from_slice(&(60 * PAGE).to_be_bytes());
        assert_eq!(g.send(m), H_SUCCESS);
        m[8..16].copy_from_slice(&u64::MAX.to_be_bytes());
        assert_eq!(g.send(m), H_SUCCESS);
        m[1] = 0x06;
        assert_eq!(g.send(m), H_SUCCESS);
        m[0] = 0x42;
        assert_eq!(g.send(m), H_SUCCESS);
        g.write(IU, &[srp::RSP; 64]);
        m = [
            crq::VALID_PAYLOAD,
            FORMAT_SRP,
            0,
            0,
            0,
            0,
            0,
            64,
            0,
            0,
            0,
            0,
            0,
            0,
            0x10,
            0,
        ];
        assert_eq!(g.send(m), H_SUCCESS);
        assert_eq!(g.reply(), None);

        // A response the guest's buffer cannot take: the reply says so.
        g.map(44 * PAGE, 0x44_0000, TCE_READ);
        let mut login = [0u8; 64];
        login[8] = 9;
        // The IU is put there by the guest's CPU, not through the window.
        assert!(g.mem.write(0x44_0000, &login));
        let mut m = [0u8; 16];
        m[0] = crq::VALID_PAYLOAD;
        m[1] = FORMAT_SRP;
        m[7] = 64;
        m[8..16].copy_from_slice(&(44 * PAGE).to_be_bytes());
        assert_eq!(g.send(m), H_SUCCESS);
        let e = g.reply().expect("reply");
        assert_eq!(e[3], VIOSRP_ADAPTER_FAIL);
        assert_eq!(e[8], 9, "the tag still names the request");
    }

    #[test]
    fn random_ius_never_panic() {
        let mut g = Guest::new();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for i in 0..2000 {
            let mut iu = [0u8; IU_MAX];
            for b in iu.iter_mut() {
                *b = next() as u8;
            }
            // Plausible opcodes and formats half the time, so the parsers are reached.
            if i % 2 == 0 {
                iu[0] = [srp::LOGIN_REQ, srp::TSK_MGMT, srp::CMD][i % 3];
                iu[5] = [0x00, 0x01, 0x02, 0x10, 0x20, 0x12][(next() % 6) as usize];
                iu[31] &= 0x0f;
                let va = [DATA, SCATTER, TABLE, 40 * PAGE, u64::MAX - 100][(next() % 5) as usize];
                iu[48..56].copy_from_slice(&va.to_be_bytes());
                iu[60..64].copy_from_slice(&((next() % 70_000) as u32).to_be_bytes());
            }
            g.write(IU, &iu);
            let mut m = [0u8; 16];
            m[0] = [crq::VALID_PAYLOAD, crq::VALID_INIT, 0][(next() % 3) as usize];
            m[1] = (next() % 4) as u8;
            m[6..8].copy_from_slice(&((next() % 300) as u16).to_be_bytes());
            m[8..16].copy_from_slice(&[IU, IU + 7, 30 * PAGE][(next() % 3) as usize].to_be_bytes());
            let r = g.send(m);
            assert!(r == H_SUCCESS || r == H_DROPPED, "{r}");
            // Consume replies only sometimes: a full ring must not hurt either.
            if next() % 4 != 0 {
                while g.reply().is_some() {}
            }
        }
    }

    #[test]
    fn the_pending_queue_is_bounded_and_reset_closes_everything() {
        let g = Guest::new();
        // Stop the thread, then pretend it runs: nothing is served, the queue fills.
        g.vs.worker.stop();
        g.vs.worker.pretend_running(true);
        let init = [
            crq::VALID_INIT,
            crq::INIT_REQUEST,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
        ];
        for _ in 0..MAX_PENDING {
            assert_eq!(crq::send(&g.vs, be64(&init[..8]), 0), H_SUCCESS);
        }
        assert_eq!(crq::send(&g.vs, be64(&init[..8]), 0), H_DROPPED);
        g.vs.reset();
        assert_eq!(g.vs.worker.queued(), 0);
        assert_eq!(g.vs.queue().ring(), None);
        assert_eq!(crq::send(&g.vs, be64(&init[..8]), 0), H_RESOURCE);
        // Without the thread, messages are served on the caller.
        g.vs.worker.pretend_running(false);
        assert_eq!(g.vs.queue().register(RING, PAGE), H_SUCCESS);
        assert_eq!(crq::send(&g.vs, be64(&init[..8]), 0), H_SUCCESS);
        assert_eq!(g.read(RING, 2), [crq::VALID_INIT, crq::INIT_COMPLETE]);
        g.vs.shutdown();
    }

    #[test]
    fn device_tree_node() {
        let g = Guest::new();
        let mut t = DeviceTree::new();
        let v = t.add_node(DeviceTree::ROOT, "vdevice");
        g.vs.build_node(&mut t, v);
        let n = t.find("/vdevice/v-scsi@71000003").expect("node");
        assert_eq!(t.prop(n, "compatible"), Some(&b"IBM,v-scsi\0"[..]));
        assert_eq!(t.prop(n, "device_type"), Some(&b"vscsi\0"[..]));
        assert_eq!(t.prop(n, "#address-cells"), Some(&2u32.to_be_bytes()[..]));
        assert_eq!(t.prop(n, "#size-cells"), Some(&0u32.to_be_bytes()[..]));
        assert_eq!(
            t.prop(n, "ibm,my-dma-window"),
            Some(&crate::devtree::cells(&[REG, 0, 0, 0, 0x1000_0000])[..])
        );
    }

    /// The hcalls on a machine with the adapter on its VIO bus, as the guest makes them.
    #[test]
    fn crq_hcalls_on_a_machine() {
        use crate::testutil::{cpu, hcall, machine};
        let (mut m, _) = machine();
        let image = Image::new();
        let irq = IrqLine::new(m.xics.clone(), 0x1103, false);
        let vs = Arc::new(Vscsi::new(REG, irq, m.mem.clone(), image.bus()));
        m.vio.add(vs.clone()).expect("add");
        let mut c = cpu(&m);
        let unit = REG as u64;
        let t = vs.dma().expect("window").clone();
        for p in 0..4 {
            assert!(t.put(p * PAGE, (REAL + p * PAGE) | TCE_READ | TCE_WRITE));
        }
        let (hi, lo) = (0xc001_0000_0000_0000u64, 0);
        assert_eq!(hcall(&m, &mut c, H_SEND_CRQ, &[unit, hi, lo]), H_RESOURCE);
        assert_eq!(
            hcall(&m, &mut c, H_REG_CRQ, &[unit + 9, 0, 0x1000]),
            H_PARAMETER
        );
        assert_eq!(
            hcall(&m, &mut c, H_REG_CRQ, &[1 << 32 | unit, 0, 0x1000]),
            H_PARAMETER
        );
        let vty = crate::machine::layout::VTY_REG as u64;
        assert_eq!(hcall(&m, &mut c, H_REG_CRQ, &[vty, 0, 0x1000]), H_NOT_FOUND);
        assert_eq!(
            hcall(&m, &mut c, H_SEND_CRQ, &[vty, hi, lo]),
            crate::hcall::H_HARDWARE
        );
        assert_eq!(
            hcall(&m, &mut c, H_REG_CRQ, &[unit, 0x10, 0x1000]),
            H_PARAMETER
        );
        assert_eq!(
            hcall(&m, &mut c, H_REG_CRQ, &[unit, 0x3000, 0x2000]),
            H_PARAMETER
        );
        assert_eq!(hcall(&m, &mut c, H_REG_CRQ, &[unit, 0, 0x1000]), H_SUCCESS);
        assert_eq!(hcall(&m, &mut c, H_REG_CRQ, &[unit, 0, 0x1000]), H_RESOURCE);
        assert_eq!(hcall(&m, &mut c, H_ENABLE_CRQ, &[unit]), H_SUCCESS);
        assert_eq!(hcall(&m, &mut c, H_ENABLE_CRQ, &[unit + 9]), H_PARAMETER);
        assert_eq!(
            hcall(&m, &mut c, crate::vio::H_VIO_SIGNAL, &[unit, 1]),
            H_SUCCESS
        );
        assert!(vs.queue().irq_enabled());
        assert_eq!(hcall(&m, &mut c, H_SEND_CRQ, &[unit, hi, lo]), H_SUCCESS);
        vs.wait_idle();
        let mut e = [0u8; 2];
        assert!(m.mem.read(REAL, &mut e));
        assert_eq!(e, [crq::VALID_INIT, crq::INIT_COMPLETE]);
        assert_eq!(hcall(&m, &mut c, H_FREE_CRQ, &[unit]), H_SUCCESS);
        assert_eq!(hcall(&m, &mut c, H_SEND_CRQ, &[unit, hi, lo]), H_RESOURCE);
        assert_eq!(hcall(&m, &mut c, H_FREE_CRQ, &[unit + 9]), H_PARAMETER);
        // H_COPY_RDMA from this window into the PCI bridge's default one.
        assert!(m.mem.write(REAL + 0x1000, b"rdma"));
        let phb = 0x8000_0000u64;
        assert_eq!(
            hcall(
                &m,
                &mut c,
                crate::tce::H_PUT_TCE,
                &[phb, 0x5000, 0x60_0000 | 2]
            ),
            0
        );
        assert_eq!(
            hcall(&m, &mut c, H_COPY_RDMA, &[4, unit, 0x1000, phb, 0x5010]),
            H_SUCCESS
        );
        let mut b = [0u8; 4];
        assert!(m.mem.read(0x60_0010, &mut b));
        assert_eq!(&b, b"rdma");
        assert_eq!(
            hcall(&m, &mut c, H_COPY_RDMA, &[4, phb, 0x5010, unit, 0x1000]),
            H_PERMISSION
        );
        assert_eq!(
            hcall(&m, &mut c, H_COPY_RDMA, &[4, 0x1234, 0, phb, 0]),
            H_PARAMETER
        );
        // A machine reset closes the queue.
        assert_eq!(hcall(&m, &mut c, H_REG_CRQ, &[unit, 0, 0x1000]), H_SUCCESS);
        m.vio.reset();
        assert_eq!(vs.queue().ring(), None);
        assert!(!vs.queue().irq_enabled());
        m.vio.shutdown();
    }
}
