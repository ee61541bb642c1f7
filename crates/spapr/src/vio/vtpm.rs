//! tpm-spapr: PowerVM's virtual TPM (Linux's tpm_ibmvtpm), carrying TPM commands between the
//! guest and a `-tpmdev` backend (a real swtpm, `tpm::Emulator`).
//!
//! The transport is the device's CRQ (`crq.rs`). The guest opens it with an init request
//! (0xC0 0x01), which the device echoes; the guest then sends init-complete (0xC0 0x02), echoed
//! too. Payload messages (0x80) carry a type byte, a 16-bit length and a 32-bit bus address; the
//! device answers each with the type | 0x80:
//! - 0x01 GET_VERSION: the TPM's major version (1 or 2) in the data word;
//! - 0x03 GET_RTCE_BUFFER_SIZE: the largest command or response, in the length (the guest then
//!   allocates that buffer and maps it into the device's TCE window);
//! - 0x02 TPM_COMMAND: the command blob lies at the bus address; the response is written over
//!   it and the reply carries its length and the same address;
//! - 0x04 PREPARE_TO_SUSPEND: acknowledged (nothing is held across a suspend).
//!
//! One command runs at a time, on the device's own thread (a TPM command can take seconds, and
//! vCPUs must not wait for it); a second TPM_COMMAND sent before the first's reply gets H_BUSY,
//! as in QEMU. A command the guest cannot DMA in or a response it cannot take gets the error
//! reply (type 0xFF, data 3: copy-in failed, 4: copy-out failed). A command the backend refuses
//! (shorter than a header, longer than the buffer) gets the TPM's own "bad size" response, and
//! a lost backend the TPM's "failure" response, so the guest driver sees a TPM answer either way.
//!
//! Reference for what Linux expects: drivers/char/tpm/tpm_ibmvtpm.[ch]; QEMU's hw/tpm/tpm_spapr.c.

use super::crq::{self, Crq, CrqDevice, DeliverError};
use super::worker::{Submit, Worker};
use super::VioDevice;
use crate::devtree::{DeviceTree, NodeId};
use crate::hcall::{H_BUSY, H_RESOURCE, H_SUCCESS};
use crate::irq::IrqLine;
use crate::tce::TceTable;
use ppc::GuestMemory;
use std::sync::Arc;
use tpm::{Emulator, TpmVersion};

/// Largest command or response the device carries (QEMU's bound; Linux allocates that much).
pub const BUFFER_MAX: usize = 4096;

/// First byte of a message or reply.
pub const VALID_INIT: u8 = crq::VALID_INIT;
pub const VALID_CMD: u8 = crq::VALID_PAYLOAD;
/// Init message types (echoed back).
pub const INIT: u8 = 0x01;
pub const INIT_COMPLETE: u8 = 0x02;
/// Payload message types; a reply's type is the request's | [`RESULT`].
pub const GET_VERSION: u8 = 0x01;
pub const TPM_COMMAND: u8 = 0x02;
pub const GET_RTCE_BUFFER_SIZE: u8 = 0x03;
pub const PREPARE_TO_SUSPEND: u8 = 0x04;
pub const RESULT: u8 = 0x80;
/// The error reply's type, and its codes (in the data word).
pub const VTPM_ERROR: u8 = 0xff;
pub const ERR_COPY_IN_FAILED: u32 = 3;
pub const ERR_COPY_OUT_FAILED: u32 = 4;
/// A TPM command's header: tag (2), size (4), code (4).
const HEADER: usize = 10;

/// Rate-limited diagnostics, one key per kind of trouble.
fn log(key: u64, msg: impl FnOnce() -> String) {
    static LOG: ppc::ratelog::RateLog = ppc::ratelog::RateLog::new("tpm-spapr errors");
    LOG.once(key, || format!("tpm-spapr: {}", msg()));
}

/// A reply: valid byte, type, length, data word.
fn reply(valid: u8, kind: u8, len: u16, data: u32) -> [u8; 16] {
    let mut e = [0u8; 16];
    e[0] = valid;
    e[1] = kind;
    e[2..4].copy_from_slice(&len.to_be_bytes());
    e[4..8].copy_from_slice(&data.to_be_bytes());
    e
}

/// A TPM response of just a header carrying `rc`, in the version's format: what a TPM answers
/// to a command it cannot run.
fn error_response(version: TpmVersion, rc: u32, out: &mut [u8]) -> usize {
    let tag: u16 = match version {
        TpmVersion::V2_0 => 0x8001, // TPM_ST_NO_SESSIONS
        TpmVersion::V1_2 => 0x00c4, // TPM_TAG_RSP_COMMAND
    };
    out[..2].copy_from_slice(&tag.to_be_bytes());
    out[2..6].copy_from_slice(&(HEADER as u32).to_be_bytes());
    out[6..10].copy_from_slice(&rc.to_be_bytes());
    HEADER
}

/// The response codes used when the backend does not run a command.
fn bad_size(version: TpmVersion) -> u32 {
    match version {
        TpmVersion::V2_0 => 0x142, // TPM_RC_COMMAND_SIZE
        TpmVersion::V1_2 => 0x19,  // TPM_BAD_PARAM_SIZE
    }
}

fn failure(version: TpmVersion) -> u32 {
    match version {
        TpmVersion::V2_0 => 0x101, // TPM_RC_FAILURE
        TpmVersion::V1_2 => 0x09,  // TPM_FAIL
    }
}

/// A TPM command waiting for, or being run by, the device's thread.
#[derive(Clone, Copy)]
struct Pending {
    connection: u64,
    /// Bus address of the guest's buffer (command in, response out).
    ioba: u32,
}

/// What the vCPUs and the device's thread share.
struct Shared {
    crq: Crq,
    tpm: Arc<Emulator>,
    /// Largest command or response: the backend's, at most [`BUFFER_MAX`].
    buffer_size: usize,
}

pub struct Vtpm {
    reg: u32,
    shared: Arc<Shared>,
    /// Runs the one command in flight.
    worker: Worker<Pending>,
}

impl Vtpm {
    /// The vTPM at unit address `reg` (its DMA window has LIOBN `reg`), interrupting on `irq`,
    /// passing commands to `tpm`. Its thread starts now.
    pub fn new(reg: u32, irq: IrqLine, mem: Arc<GuestMemory>, tpm: Arc<Emulator>) -> Vtpm {
        let dma = Arc::new(TceTable::new(reg, 0, super::DMA_WINDOW));
        let shared = Arc::new(Shared {
            crq: Crq::new(mem, dma, irq),
            buffer_size: tpm.buffer_size().min(BUFFER_MAX),
            tpm,
        });
        let s = shared.clone();
        let worker = Worker::spawn(format!("vtpm-{reg:x}"), "tpm-spapr", 1, || {
            // Reused from command to command.
            let (mut buf, mut out) = (vec![0u8; s.buffer_size], vec![0u8; s.buffer_size]);
            move |cmd| s.execute(cmd, &mut buf, &mut out)
        });
        Vtpm {
            reg,
            shared,
            worker,
        }
    }

    /// The largest command or response the device reports to the guest.
    pub fn buffer_size(&self) -> usize {
        self.shared.buffer_size
    }

    /// What platform firmware does before the OS runs (SLOF's TCG BIOS on PowerVM and QEMU):
    /// TPM2_Startup(SU_CLEAR), or TPM_Startup(ST_CLEAR) on a TPM 1.2. Linux's tpm_ibmvtpm
    /// expects a started TPM and does not start it itself. lpar's built-in firmware calls this;
    /// with `-bios` the firmware does its own.
    pub fn firmware_startup(&self) -> Result<(), String> {
        let cmd: [u8; 12] = match self.shared.tpm.version() {
            TpmVersion::V2_0 => [0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x44, 0, 0],
            TpmVersion::V1_2 => [0x00, 0xc1, 0, 0, 0, 12, 0, 0, 0, 0x99, 0, 1],
        };
        let mut rsp = [0u8; 64];
        let n = self
            .shared
            .tpm
            .execute(&cmd, &mut rsp)
            .map_err(|e| format!("tpm-spapr: starting the TPM: {e}"))?;
        let rc = match rsp.get(6..10) {
            Some(b) if n >= HEADER => u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            _ => return Err(format!("tpm-spapr: starting the TPM: a {n}-byte response")),
        };
        // TPM_RC_INITIALIZE / TPM_INVALID_POSTINIT: started already (swtpm kept running).
        match rc {
            0 | 0x100 | 0x26 => Ok(()),
            rc => Err(format!(
                "tpm-spapr: starting the TPM: response code {rc:#x}"
            )),
        }
    }

    /// Waits until no command is in flight (reset, tests, fuzzing).
    pub fn wait_idle(&self) {
        self.worker.wait_idle();
    }
}

impl Shared {
    /// Runs one TPM command and delivers its reply.
    fn execute(&self, cmd: Pending, buf: &mut [u8], out: &mut [u8]) {
        // The guest closed (or reset) the queue since: it no longer waits for this.
        if self.crq.connection() != Some(cmd.connection) {
            return;
        }
        let (mem, dma) = (self.crq.mem(), self.crq.table());
        let ioba = u64::from(cmd.ioba);
        let reply = 'reply: {
            // The header first: its size field says how much of the buffer is the command.
            if !crq::dma_read(mem, dma, ioba, &mut buf[..HEADER]) {
                break 'reply reply(VALID_CMD, VTPM_ERROR, 0, ERR_COPY_IN_FAILED);
            }
            let size = u32::from_be_bytes([buf[2], buf[3], buf[4], buf[5]]) as usize;
            let len = size.clamp(HEADER, buf.len());
            if !crq::dma_read(mem, dma, ioba, &mut buf[..len]) {
                break 'reply reply(VALID_CMD, VTPM_ERROR, 0, ERR_COPY_IN_FAILED);
            }
            let version = self.tpm.version();
            // A size field outside the buffer is the TPM's error to report, not the backend's.
            let n = if size != len {
                error_response(version, bad_size(version), out)
            } else {
                match self.tpm.execute(&buf[..len], out) {
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => {
                        error_response(version, bad_size(version), out)
                    }
                    Err(e) => {
                        log(1, || format!("the TPM backend failed: {e}"));
                        error_response(version, failure(version), out)
                    }
                }
            };
            if !crq::dma_write(mem, dma, ioba, &out[..n]) {
                break 'reply reply(VALID_CMD, VTPM_ERROR, 0, ERR_COPY_OUT_FAILED);
            }
            reply(VALID_CMD, TPM_COMMAND | RESULT, n as u16, cmd.ioba)
        };
        self.deliver(cmd.connection, reply);
    }

    fn deliver(&self, connection: u64, entry: [u8; 16]) {
        match self.crq.deliver_on(connection, entry) {
            Ok(()) | Err(DeliverError::Closed) => {}
            Err(DeliverError::Full) => log(2, || {
                "the guest's queue is full: a reply was dropped".into()
            }),
            Err(DeliverError::Dma) => log(3, || {
                "the guest's queue is no longer mapped: a reply was dropped".into()
            }),
        }
    }
}

impl CrqDevice for Vtpm {
    fn queue(&self) -> &Crq {
        &self.shared.crq
    }

    fn receive(&self, msg: [u8; 16]) -> i64 {
        let Some(connection) = self.shared.crq.connection() else {
            return H_RESOURCE;
        };
        let s = &self.shared;
        match (msg[0], msg[1]) {
            (VALID_INIT, t @ (INIT | INIT_COMPLETE)) => {
                s.deliver(connection, reply(VALID_INIT, t, 0, 0));
            }
            (VALID_CMD, GET_VERSION) => {
                let v = match s.tpm.version() {
                    TpmVersion::V1_2 => 1,
                    TpmVersion::V2_0 => 2,
                };
                s.deliver(connection, reply(VALID_CMD, GET_VERSION | RESULT, 0, v));
            }
            (VALID_CMD, GET_RTCE_BUFFER_SIZE) => {
                let len = s.buffer_size as u16;
                s.deliver(
                    connection,
                    reply(VALID_CMD, GET_RTCE_BUFFER_SIZE | RESULT, len, 0),
                );
            }
            (VALID_CMD, PREPARE_TO_SUSPEND) => {
                s.deliver(
                    connection,
                    reply(VALID_CMD, PREPARE_TO_SUSPEND | RESULT, 0, 0),
                );
            }
            (VALID_CMD, TPM_COMMAND) => {
                let cmd = Pending {
                    connection,
                    ioba: u32::from_be_bytes([msg[4], msg[5], msg[6], msg[7]]),
                };
                match self.worker.submit_if_idle(cmd) {
                    Submit::Queued => {}
                    Submit::Busy => return H_BUSY,
                    // No thread (it could not start, or the machine is stopping): run it here.
                    Submit::Inline(cmd) => {
                        let mut buf = vec![0u8; s.buffer_size];
                        let mut out = vec![0u8; s.buffer_size];
                        s.execute(cmd, &mut buf, &mut out);
                    }
                }
            }
            (v, t) => log(5, || {
                format!("ignored a message of unknown kind {v:#04x} {t:#04x}")
            }),
        }
        H_SUCCESS
    }
}

impl VioDevice for Vtpm {
    fn reg(&self) -> Option<u32> {
        Some(self.reg)
    }

    fn build_node(&self, t: &mut DeviceTree, vdevice: NodeId) {
        super::add_node(
            t,
            vdevice,
            &super::Kind {
                name: "vtpm",
                device_type: "IBM,vtpm",
                compatible: match self.shared.tpm.version() {
                    TpmVersion::V1_2 => "IBM,vtpm",
                    TpmVersion::V2_0 => "IBM,vtpm20",
                },
            },
            self.reg,
            self.shared.crq.irq().number(),
            Some(self.shared.crq.table()),
        );
    }

    fn signal(&self, mode: u64) {
        self.shared.crq.signal(mode);
    }

    fn dma(&self) -> Option<&Arc<TceTable>> {
        Some(self.shared.crq.table())
    }

    /// Closes the queue, waits for the command in flight (its reply goes nowhere) and power
    /// cycles the TPM, whose firmware-facing state starts over (the guest sends TPM2_Startup).
    fn reset(&self) {
        self.shared.crq.reset();
        self.wait_idle();
        if let Err(e) = self.shared.tpm.reset() {
            log(4, || e);
        }
    }

    /// Stops the thread; the backend lives on (`wiring::release_backends` shuts it down at
    /// exit), since a reboot builds the machine again on it.
    fn shutdown(&self) {
        self.worker.stop();
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
    use crate::hcall::H_SUCCESS;
    use crate::tce::{TCE_READ, TCE_WRITE};
    use crate::vio::crq::tests::Pulses;
    use std::path::PathBuf;
    use std::process::{Child, Command, Stdio};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    const REG: u32 = 0x7100_0004;
    const PAGE: u64 = 4096;
    /// Window layout: the ring, the TPM buffer (one page), a read-only page.
    const RING: u64 = 0x0000;
    const BUF: u64 = 0x1000;
    const RO: u64 = 0x2000;
    const UNMAPPED: u64 = 0x8000;
    const REAL: u64 = 0x10_0000;

    /// A swtpm process (TPM 2.0) in a state directory of its own; killed on drop.
    struct Swtpm {
        child: Child,
        dir: PathBuf,
    }

    impl Swtpm {
        fn start() -> Swtpm {
            static N: AtomicUsize = AtomicUsize::new(0);
            let dir = std::env::temp_dir().join(format!(
                "lpar-vtpm-test-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::SeqCst)
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("scratch dir");
            let child = Command::new("swtpm")
                .arg("socket")
                .arg("--tpm2")
                .arg("--tpmstate")
                .arg(format!("dir={}", dir.display()))
                .arg("--ctrl")
                .arg(format!("type=unixio,path={}", dir.join("ctrl").display()))
                .stdin(Stdio::null())
                .spawn()
                .expect("cannot run swtpm (apt-get install swtpm; scripts/fetch-assets.sh does)");
            let deadline = Instant::now() + Duration::from_secs(10);
            while !dir.join("ctrl").exists() {
                assert!(Instant::now() < deadline, "swtpm made no control socket");
                std::thread::sleep(Duration::from_millis(10));
            }
            Swtpm { child, dir }
        }
    }

    impl Drop for Swtpm {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    /// A guest driving the vTPM the way tpm_ibmvtpm does.
    struct Guest {
        mem: Arc<GuestMemory>,
        dev: Vtpm,
        pulses: Arc<Pulses>,
        next: u64,
        _swtpm: Swtpm,
    }

    impl Guest {
        fn new() -> Guest {
            let swtpm = Swtpm::start();
            let tpm = Emulator::connect("t0", &swtpm.dir.join("ctrl")).expect("connect");
            let mem = Arc::new(GuestMemory::new(16 << 20).expect("guest memory"));
            let pulses = Arc::new(Pulses::default());
            let irq = IrqLine::new(pulses.clone(), 0x1104, false);
            let dev = Vtpm::new(REG, irq, mem.clone(), Arc::new(tpm));
            let t = dev.dma().expect("window");
            assert!(t.put(RING, REAL | TCE_READ | TCE_WRITE));
            assert!(t.put(BUF, (REAL + PAGE) | TCE_READ | TCE_WRITE));
            assert!(t.put(RO, (REAL + 2 * PAGE) | TCE_READ));
            assert_eq!(dev.queue().register(RING, PAGE), H_SUCCESS);
            dev.signal(1);
            Guest {
                mem,
                dev,
                pulses,
                next: 0,
                _swtpm: swtpm,
            }
        }

        fn send(&self, valid: u8, kind: u8, len: u16, data: u32) -> i64 {
            let e = reply(valid, kind, len, data);
            let hi = u64::from_be_bytes(e[..8].try_into().unwrap());
            let r = crq::send(&self.dev, hi, 0);
            self.dev.wait_idle();
            r
        }

        /// The next reply in the ring (consumed), if any.
        fn reply(&mut self) -> Option<[u8; 16]> {
            let mut e = [0u8; 16];
            assert!(self.mem.read(REAL + self.next, &mut e));
            if e[0] == 0 {
                return None;
            }
            assert!(self.mem.write(REAL + self.next, &[0]));
            self.next = (self.next + 16) % PAGE;
            Some(e)
        }

        /// Runs `cmd` from the buffer at bus address `at`: the reply and the response.
        fn command(&mut self, at: u64, real: u64, cmd: &[u8]) -> ([u8; 16], Vec<u8>) {
            assert!(self.mem.write(real, cmd));
            assert_eq!(
                self.send(VALID_CMD, TPM_COMMAND, cmd.len() as u16, at as u32),
                H_SUCCESS
            );
            let e = self.reply().expect("a reply");
            let n = u16::from_be_bytes([e[2], e[3]]) as usize;
            let mut rsp = vec![0u8; n];
            assert!(self.mem.read(real, &mut rsp));
            (e, rsp)
        }
    }

    fn rc(rsp: &[u8]) -> u32 {
        u32::from_be_bytes([rsp[6], rsp[7], rsp[8], rsp[9]])
    }

    /// TPM2_Startup(SU_CLEAR).
    const STARTUP: [u8; 12] = [0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x44, 0, 0];
    /// TPM2_PCR_Read of SHA-256 PCR 0.
    const PCR_READ: [u8; 20] = [
        0x80, 0x01, 0, 0, 0, 20, 0, 0, 0x01, 0x7e, 0, 0, 0, 1, 0, 0x0b, 3, 1, 0, 0,
    ];

    #[test]
    fn the_handshake_and_queries_answer_as_ibmvtpm_expects() {
        let mut g = Guest::new();
        assert_eq!(g.send(VALID_INIT, INIT, 0, 0), H_SUCCESS);
        assert_eq!(g.reply().map(|e| (e[0], e[1])), Some((0xc0, 0x01)));
        assert_eq!(g.send(VALID_INIT, INIT_COMPLETE, 0, 0), H_SUCCESS);
        assert_eq!(g.reply().map(|e| (e[0], e[1])), Some((0xc0, 0x02)));
        assert_eq!(g.send(VALID_CMD, GET_RTCE_BUFFER_SIZE, 0, 0), H_SUCCESS);
        let e = g.reply().expect("size reply");
        assert_eq!((e[0], e[1]), (0x80, 0x83));
        let size = u16::from_be_bytes([e[2], e[3]]) as usize;
        assert!((1024..=BUFFER_MAX).contains(&size), "{size}");
        assert_eq!(g.send(VALID_CMD, GET_VERSION, 0, 0), H_SUCCESS);
        let e = g.reply().expect("version reply");
        assert_eq!((e[0], e[1], &e[4..8]), (0x80, 0x81, &[0u8, 0, 0, 2][..]));
        assert_eq!(g.send(VALID_CMD, PREPARE_TO_SUSPEND, 0, 0), H_SUCCESS);
        assert_eq!(g.reply().map(|e| (e[0], e[1])), Some((0x80, 0x84)));
        // Unknown messages are ignored, not answered.
        assert_eq!(g.send(VALID_CMD, 0x33, 0, 0), H_SUCCESS);
        assert_eq!(g.send(0x12, 0x01, 0, 0), H_SUCCESS);
        assert_eq!(g.reply(), None);
        // One interrupt per reply.
        assert_eq!(g.pulses.count(), 5);
    }

    #[test]
    fn tpm_commands_run_on_the_real_tpm_through_the_window() {
        let mut g = Guest::new();
        // Before TPM2_Startup the TPM refuses commands (TPM_RC_INITIALIZE).
        let (_, rsp) = g.command(BUF, REAL + PAGE, &PCR_READ);
        assert_eq!(rc(&rsp), 0x100);
        let (e, rsp) = g.command(BUF, REAL + PAGE, &STARTUP);
        assert_eq!(
            (e[0], e[1], &e[4..8]),
            (0x80, 0x82, &BUF.to_be_bytes()[4..])
        );
        assert_eq!((rsp.len(), rc(&rsp)), (10, 0));
        let (_, rsp) = g.command(BUF, REAL + PAGE, &PCR_READ);
        assert_eq!(rc(&rsp), 0, "{rsp:02x?}");
        // The response's size field matches the reply's length; PCR 0 reads all zero after a
        // fresh start, a 32-byte SHA-256 digest at the end.
        assert_eq!(
            u32::from_be_bytes([rsp[2], rsp[3], rsp[4], rsp[5]]) as usize,
            rsp.len()
        );
        assert_eq!(
            &rsp[rsp.len() - 34..],
            &[&[0u8, 32][..], &[0u8; 32]].concat()[..]
        );
    }

    #[test]
    fn bad_buffers_and_sizes_get_error_replies() {
        let mut g = Guest::new();
        // Not mapped: copy-in failed.
        assert_eq!(
            g.send(VALID_CMD, TPM_COMMAND, 12, UNMAPPED as u32),
            H_SUCCESS
        );
        let e = g.reply().expect("error reply");
        assert_eq!((e[0], e[1], &e[4..8]), (0x80, 0xff, &[0u8, 0, 0, 3][..]));
        // Read-only: the command runs, its response cannot be written back.
        let (e, _) = g.command(RO, REAL + 2 * PAGE, &STARTUP);
        assert_eq!((e[0], e[1], &e[4..8]), (0x80, 0xff, &[0u8, 0, 0, 4][..]));
        // A size field beyond the buffer, or shorter than a header: the TPM's size error.
        let mut big = STARTUP;
        big[2..6].copy_from_slice(&0x10_0000u32.to_be_bytes());
        let (_, rsp) = g.command(BUF, REAL + PAGE, &big);
        assert_eq!((rsp.len(), rc(&rsp)), (10, 0x142));
        let mut short = STARTUP;
        short[2..6].copy_from_slice(&3u32.to_be_bytes());
        let (_, rsp) = g.command(BUF, REAL + PAGE, &short);
        assert_eq!((rsp.len(), rc(&rsp)), (10, 0x142));
        // The device still works, and the TPM did run the startup whose response was lost.
        let (_, rsp) = g.command(BUF, REAL + PAGE, &PCR_READ);
        assert_eq!(rc(&rsp), 0);
    }

    #[test]
    fn a_reset_closes_the_queue_and_power_cycles_the_tpm() {
        let mut g = Guest::new();
        let (_, rsp) = g.command(BUF, REAL + PAGE, &STARTUP);
        assert_eq!(rc(&rsp), 0);
        g.dev.reset();
        assert_eq!(
            crq::send(&g.dev, 0x8002_0000_0000_1000, 0),
            crate::hcall::H_RESOURCE
        );
        assert_eq!(g.dev.queue().register(RING, PAGE), H_SUCCESS);
        g.next = 0;
        // The TPM wants TPM2_Startup again.
        let (_, rsp) = g.command(BUF, REAL + PAGE, &PCR_READ);
        assert_eq!(rc(&rsp), 0x100);
        let (_, rsp) = g.command(BUF, REAL + PAGE, &STARTUP);
        assert_eq!(rc(&rsp), 0);
    }
}
