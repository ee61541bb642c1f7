//! `vtpm`: tpm-spapr (PowerVM's vTPM over a CRQ) driven by a guest of arbitrary behaviour, on a
//! fresh 256 KiB of guest RAM, in front of a real swtpm (TPM 2.0; one per fuzzing process,
//! started on first use, its state kept from input to input as a long-running TPM's would be):
//! TCE entries (any window page to any real page, in RAM or beyond, any permissions), CRQ
//! registrations and frees, H_VIO_SIGNAL, raw 16-byte messages, and structured ones (init,
//! init-complete, version, buffer size, suspend, TPM commands at any bus address: well-formed
//! TPM2 commands or random bytes with any size field), guest stores, ring consumption and resets.
//! TPM commands run on the device's thread; the harness waits for it after each message.
//!
//! Invariants besides "no panic" (on the device's thread too): H_SEND_CRQ answers H_RESOURCE
//! exactly when no ring is registered, else H_SUCCESS (never H_BUSY: the harness waits for each
//! command); the device writes guest memory only in pages some TCE maps writable; a message
//! delivers at most one entry; with a ring that has room, a TPM command gets exactly one reply,
//! either the command result (0x82, a length within the buffer size, the request's address, and
//! in guest memory a response whose size field equals that length) or an error (0xFF, code 3 or
//! 4); queries get their answer, and unknown messages none; a reset leaves no ring.
//!
//! Input: operations, each a selector byte and its arguments (see `Harness::run`).

use crate::input::Input;
use ppc::GuestMemory;
use spapr::hcall::{H_RESOURCE, H_SUCCESS};
use spapr::irq::{Intc, IrqLine};
use spapr::tce::{TceTable, TCE_READ, TCE_WRITE};
use spapr::vio::crq::{self, CrqDevice};
use spapr::vio::vtpm::{self, Vtpm};
use spapr::vio::VioDevice;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

const RAM: u64 = 256 << 10;
const PAGE: u64 = 4096;
const REG: u32 = 0x7100_0005;
/// Window pages the harness maps and names most of the time.
const NEAR: u64 = 16;
const MAX_OPS: usize = 48;

// ---- the TPM -----------------------------------------------------------------------------------

/// The swtpm of this process and the connection to it; swtpm (`--terminate`) exits with us.
struct Tpm {
    emulator: Arc<tpm::Emulator>,
    _child: Child,
}

fn start_tpm() -> Tpm {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "lpar-fuzz-vtpm-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let ctrl: PathBuf = dir.join("ctrl");
    let child = Command::new("swtpm")
        .arg("socket")
        .arg("--tpm2")
        .arg("--tpmstate")
        .arg(format!("dir={}", dir.display()))
        .arg("--ctrl")
        .arg(format!("type=unixio,path={}", ctrl.display()))
        // Gone once our end of the data channel closes: when this process exits.
        .arg("--terminate")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cannot run swtpm (apt-get install swtpm)");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ctrl.exists() {
        assert!(Instant::now() < deadline, "swtpm made no control socket");
        std::thread::sleep(Duration::from_millis(5));
    }
    let emulator = Arc::new(tpm::Emulator::connect("fuzz", &ctrl).expect("connect to swtpm"));
    Tpm {
        emulator,
        _child: child,
    }
}

fn tpm() -> Arc<tpm::Emulator> {
    static TPM: OnceLock<Tpm> = OnceLock::new();
    TPM.get_or_init(start_tpm).emulator.clone()
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

/// TPM2 commands a driver sends: Startup, PCR_Read (SHA-256 PCR 0-2), GetRandom(32),
/// GetCapability(TPM_PROPERTIES), SelfTest.
const COMMANDS: &[&[u8]] = &[
    &[0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x44, 0, 0],
    &[
        0x80, 0x01, 0, 0, 0, 20, 0, 0, 0x01, 0x7e, 0, 0, 0, 1, 0, 0x0b, 3, 7, 0, 0,
    ],
    &[0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x7b, 0, 32],
    &[
        0x80, 0x01, 0, 0, 0, 22, 0, 0, 0x01, 0x7a, 0, 0, 0, 6, 0, 0, 1, 0, 0, 0, 0, 8,
    ],
    &[0x80, 0x01, 0, 0, 0, 11, 0, 0, 0x01, 0x43, 1],
];

/// What a step must produce in the ring, when it has room.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Want {
    /// Nothing (an unknown message, or a step without a message).
    Nothing,
    /// An entry with these first two bytes.
    Entry(u8, u8),
    /// A TPM command's reply: the result or an error.
    Command { ioba: u32 },
}

struct Harness {
    mem: Arc<GuestMemory>,
    dev: Vtpm,
    table: Arc<TceTable>,
    /// Window page → TCE, as the harness set them.
    tces: HashMap<u64, u64>,
    pulses: Arc<Pulses>,
    /// Guest memory before and after a step (reused: no allocation per step).
    snap: Vec<u8>,
    now: Vec<u8>,
}

impl Harness {
    fn new() -> Harness {
        let mem = Arc::new(GuestMemory::new(RAM).expect("guest memory"));
        let pulses = Arc::new(Pulses::default());
        let irq = IrqLine::new(pulses.clone(), 0x1105, false);
        let dev = Vtpm::new(REG, irq, mem.clone(), tpm());
        let table = dev.dma().expect("a window").clone();
        Harness {
            mem,
            dev,
            table,
            tces: HashMap::new(),
            pulses,
            snap: vec![0; RAM as usize],
            now: vec![0; RAM as usize],
        }
    }

    /// Real pages some TCE maps writable.
    fn writable(&self, real_page: u64) -> bool {
        self.tces
            .values()
            .any(|t| t & TCE_WRITE != 0 && (t & !(PAGE - 1)) / PAGE == real_page)
    }

    fn map(&mut self, page: u64, tce: u64) {
        if self.table.put(page * PAGE, tce) {
            if tce & (TCE_READ | TCE_WRITE) == 0 {
                self.tces.remove(&page);
            } else {
                self.tces.insert(page, tce);
            }
        }
    }

    /// A bus address, mostly in the mapped pages.
    fn ioba(&self, inp: &mut Input) -> u64 {
        match inp.u8() % 8 {
            0 => inp.u64(),
            1 => u64::from(inp.u32()),
            _ => (u64::from(inp.u8()) % NEAR) * PAGE + u64::from(inp.u16()) % PAGE,
        }
    }

    fn message(valid: u8, kind: u8, len: u16, data: u32) -> [u8; 16] {
        let mut m = [0u8; 16];
        m[0] = valid;
        m[1] = kind;
        m[2..4].copy_from_slice(&len.to_be_bytes());
        m[4..8].copy_from_slice(&data.to_be_bytes());
        m
    }

    /// Sends `m` and checks what the device did with it against `want`.
    fn send(&mut self, m: [u8; 16], want: Want) {
        let ring = self.dev.queue().ring();
        // Room: the next slot is free, and still mapped both ways (TCEs may have changed).
        let room = ring.is_some_and(|r| {
            let slot = r.ioba + r.next;
            let mut head = [0u8; 1];
            crq::mapped(&self.mem, &self.table, slot, 16, true)
                && crq::dma_read(&self.mem, &self.table, slot, &mut head)
                && head[0] == 0
        });
        let pulses = self.pulses.0.load(Ordering::SeqCst);
        let hi = u64::from_be_bytes(m[..8].try_into().expect("8 bytes"));
        let lo = u64::from_be_bytes(m[8..].try_into().expect("8 bytes"));
        let rc = crq::send(&self.dev, hi, lo);
        self.dev.wait_idle();
        crate::trace!("vtpm: send {m:02x?} -> {rc} (ring {ring:?}, room {room})");
        match ring {
            None => assert_eq!(rc, H_RESOURCE, "a message without a ring"),
            Some(_) => assert_eq!(rc, H_SUCCESS, "a message to a registered ring"),
        }
        let Some(r) = ring.filter(|_| room) else {
            return;
        };
        // A command whose buffer shares real pages with the ring may overwrite the slot: then
        // only the return code is checked.
        if let Want::Command { ioba } = want {
            if self.aliases(r, u64::from(ioba), self.dev.buffer_size() as u64) {
                return;
            }
        }
        let after = self.dev.queue().ring();
        let delivered = after.is_some_and(|a| a.next != r.next);
        let mut e = [0u8; 16];
        let read = crq::dma_read(&self.mem, &self.table, r.ioba + r.next, &mut e);
        match want {
            Want::Nothing => assert!(!delivered, "an entry for {m:02x?}"),
            Want::Entry(a, b) => {
                assert!(delivered && read, "no reply to {m:02x?}");
                assert_eq!((e[0], e[1]), (a, b), "reply to {m:02x?}");
                if b == vtpm::GET_RTCE_BUFFER_SIZE | vtpm::RESULT {
                    let n = u16::from_be_bytes([e[2], e[3]]) as usize;
                    assert_eq!(n, self.dev.buffer_size());
                }
            }
            Want::Command { ioba } => {
                // The ring may have been unmapped by the command's own TCEs only if it aliases:
                // the harness never changes TCEs during a send, so the reply must be there.
                assert!(delivered && read, "no reply to the command {m:02x?}");
                assert_eq!(e[0], vtpm::VALID_CMD);
                match e[1] {
                    0x82 => {
                        let n = u16::from_be_bytes([e[2], e[3]]) as usize;
                        assert!((10..=self.dev.buffer_size()).contains(&n), "length {n}");
                        assert_eq!(u32::from_be_bytes([e[4], e[5], e[6], e[7]]), ioba);
                        // The response is in guest memory, its size field saying its length.
                        let mut h = [0u8; 10];
                        if crq::dma_read(&self.mem, &self.table, ioba.into(), &mut h) {
                            let size = u32::from_be_bytes([h[2], h[3], h[4], h[5]]) as usize;
                            assert_eq!(size, n, "the response's size field");
                        }
                    }
                    0xff => {
                        let code = u32::from_be_bytes([e[4], e[5], e[6], e[7]]);
                        assert!(
                            code == vtpm::ERR_COPY_IN_FAILED || code == vtpm::ERR_COPY_OUT_FAILED,
                            "error code {code}"
                        );
                    }
                    t => panic!("a command reply of type {t:#x}"),
                }
            }
        }
        let expected_pulses = usize::from(delivered && self.dev_irq_enabled());
        assert_eq!(
            self.pulses.0.load(Ordering::SeqCst) - pulses,
            expected_pulses,
            "interrupts for one delivery"
        );
    }

    /// Whether window range `[ioba, ioba + len)` reaches a real page of ring `r`.
    fn aliases(&self, r: crq::Ring, ioba: u64, len: u64) -> bool {
        let real = |a: u64| {
            self.table
                .translate(a, false)
                .or_else(|| self.table.translate(a, true))
                .map(|x| x / PAGE)
        };
        let ring: Vec<u64> = (r.ioba / PAGE..(r.ioba + r.len).div_ceil(PAGE))
            .filter_map(|p| real(p * PAGE))
            .collect();
        let end = ioba.saturating_add(len);
        (ioba / PAGE..end.div_ceil(PAGE))
            .take(4)
            .filter_map(|p| real(p.checked_mul(PAGE)?))
            .any(|p| ring.contains(&p))
    }

    fn dev_irq_enabled(&self) -> bool {
        self.dev.queue().irq_enabled()
    }

    fn run(&mut self, inp: &mut Input) {
        for _ in 0..MAX_OPS {
            if inp.is_empty() {
                break;
            }
            assert!(self.mem.read(0, &mut self.snap), "snapshot");
            match inp.u8() % 12 {
                // TCE: a window page to a real page (in RAM or beyond) with any permissions.
                0 | 1 => {
                    let page = u64::from(inp.u8()) % NEAR;
                    let real = match inp.u8() % 8 {
                        0 => inp.u64() & !(PAGE - 1),
                        _ => (u64::from(inp.u8()) % (RAM / PAGE)) * PAGE,
                    };
                    let perm = match inp.u8() % 4 {
                        0 => TCE_READ,
                        1 => TCE_WRITE,
                        2 => 0,
                        _ => TCE_READ | TCE_WRITE,
                    };
                    self.map(page, real | perm);
                    continue;
                }
                2 => {
                    let ioba = self.ioba(inp);
                    let len = match inp.u8() % 4 {
                        0 => u64::from(inp.u32()),
                        _ => PAGE * (1 + u64::from(inp.u8() % 2)),
                    };
                    let rc = self.dev.queue().register(ioba & !(PAGE - 1), len);
                    crate::trace!("vtpm: register {ioba:#x}+{len:#x} -> {rc}");
                }
                3 => self.dev.queue().free(),
                4 => self.dev.signal(u64::from(inp.u8() & 1)),
                // A raw message: only its kind decides what it must produce.
                5 => {
                    let b = inp.bytes(16);
                    let mut m = [0u8; 16];
                    m[..b.len()].copy_from_slice(b);
                    let want = match (m[0], m[1]) {
                        (0xc0, t @ (1 | 2)) => Want::Entry(0xc0, t),
                        (0x80, 2) => Want::Command {
                            ioba: u32::from_be_bytes([m[4], m[5], m[6], m[7]]),
                        },
                        (0x80, t @ (1 | 3 | 4)) => Want::Entry(0x80, t | 0x80),
                        _ => Want::Nothing,
                    };
                    self.send(m, want);
                }
                6 => {
                    let t = inp.pick(&[1u8, 2]);
                    self.send(Self::message(0xc0, t, 0, 0), Want::Entry(0xc0, t));
                }
                7 => {
                    let t = inp.pick(&[1u8, 3, 4]);
                    let len = inp.u16();
                    self.send(Self::message(0x80, t, len, 0), Want::Entry(0x80, t | 0x80));
                }
                // A TPM command: a driver's, or random bytes, written at a bus address.
                8 | 9 => {
                    let ioba = self.ioba(inp) as u32;
                    let mut cmd = match inp.u8() % 3 {
                        0 => {
                            let n = usize::from(inp.u8());
                            inp.bytes(n).to_vec()
                        }
                        _ => inp.pick(COMMANDS).to_vec(),
                    };
                    if inp.u8().is_multiple_of(4) && cmd.len() >= 6 {
                        let size = inp.u32();
                        cmd[2..6].copy_from_slice(&size.to_be_bytes());
                    }
                    // The guest writes it where the window maps (best effort, as a driver would).
                    let _ = crq::dma_write(&self.mem, &self.table, u64::from(ioba), &cmd);
                    assert!(self.mem.read(0, &mut self.snap), "snapshot");
                    let len = cmd.len() as u16;
                    self.send(Self::message(0x80, 2, len, ioba), Want::Command { ioba });
                }
                // The guest consumes ring entries.
                10 => {
                    if let Some(r) = self.dev.queue().ring() {
                        for i in 0..usize::from(inp.u8() % 8) {
                            let at = r.ioba + (r.next + r.len - 16 * (i as u64 + 1)) % r.len;
                            let _ = crq::dma_write(&self.mem, &self.table, at, &[0]);
                        }
                    }
                    continue;
                }
                _ => {
                    self.dev.reset();
                    assert!(self.dev.queue().ring().is_none(), "a ring after reset");
                    self.tces.clear();
                    for p in 0..NEAR {
                        self.table.put(p * PAGE, 0);
                    }
                    continue;
                }
            }
            // The device's stores: only in pages a TCE maps writable.
            assert!(self.mem.read(0, &mut self.now), "memory");
            for (i, (a, b)) in self.snap.iter().zip(&self.now).enumerate() {
                if a != b {
                    let page = i as u64 / PAGE;
                    assert!(
                        self.writable(page),
                        "the device wrote real {i:#x}, in a page no TCE maps writable"
                    );
                }
            }
        }
    }
}

pub fn vtpm(data: &[u8]) {
    let mut inp = Input::new(data);
    let mut h = Harness::new();
    h.run(&mut inp);
}
