//! The emulator backend against a real swtpm, one swtpm process per test, started as
//! `swtpm socket [--tpm2] --tpmstate dir=DIR --ctrl type=unixio,path=DIR/ctrl` (no `--flags`:
//! the backend's CMD_INIT starts the TPM, and the tests send TPM2_Startup themselves).

use std::io::ErrorKind;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tpm::{Emulator, TpmVersion};

/// A swtpm process in its own state directory; killed and cleaned up on drop.
struct Swtpm {
    child: Child,
    dir: PathBuf,
}

fn scratch_dir() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "lpar-tpm-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

impl Swtpm {
    fn start(tpm2: bool) -> Swtpm {
        let dir = scratch_dir();
        let mut cmd = Command::new("swtpm");
        cmd.arg("socket");
        if tpm2 {
            cmd.arg("--tpm2");
        }
        cmd.arg("--tpmstate")
            .arg(format!("dir={}", dir.display()))
            .arg("--ctrl")
            .arg(format!("type=unixio,path={}", dir.join("ctrl").display()))
            .arg("--log")
            .arg(format!("file={}", dir.join("log").display()))
            .stdin(Stdio::null());
        let child = cmd
            .spawn()
            .expect("cannot run swtpm (apt-get install swtpm swtpm-tools)");
        let mut s = Swtpm { child, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !s.ctrl().exists() {
            if let Some(status) = s.child.try_wait().unwrap() {
                panic!("swtpm exited ({status}): {}", s.log());
            }
            assert!(Instant::now() < deadline, "swtpm made no control socket");
            std::thread::sleep(Duration::from_millis(10));
        }
        s
    }

    fn ctrl(&self) -> PathBuf {
        self.dir.join("ctrl")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits up to `limit` for swtpm to exit by itself.
    fn exited_within(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.child.try_wait().unwrap().is_some() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }
}

impl Drop for Swtpm {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn connect(swtpm: &Swtpm) -> Emulator {
    Emulator::connect("tpm0", &swtpm.ctrl())
        .unwrap_or_else(|e| panic!("{e}\nswtpm log: {}", swtpm.log()))
}

// ---- TPM 2 commands, built by hand ----

const ST_NO_SESSIONS: u16 = 0x8001;
const ST_SESSIONS: u16 = 0x8002;
const CC_STARTUP: u32 = 0x144;
const CC_GET_RANDOM: u32 = 0x17b;
const CC_PCR_READ: u32 = 0x17e;
const CC_PCR_EXTEND: u32 = 0x182;
const RS_PW: u32 = 0x4000_0009;
const ALG_SHA256: u16 = 0x000b;
const RC_SUCCESS: u32 = 0;
const RC_INITIALIZE: u32 = 0x100;

/// A command: header (with the final size filled in) followed by `body`.
fn command(tag: u16, cc: u32, body: &[u8]) -> Vec<u8> {
    let mut c = Vec::with_capacity(10 + body.len());
    c.extend_from_slice(&tag.to_be_bytes());
    c.extend_from_slice(&((10 + body.len()) as u32).to_be_bytes());
    c.extend_from_slice(&cc.to_be_bytes());
    c.extend_from_slice(body);
    c
}

fn startup_clear() -> Vec<u8> {
    command(ST_NO_SESSIONS, CC_STARTUP, &0u16.to_be_bytes())
}

fn get_random(n: u16) -> Vec<u8> {
    command(ST_NO_SESSIONS, CC_GET_RANDOM, &n.to_be_bytes())
}

/// TPM2_PCR_Read of one SHA-256 PCR.
fn pcr_read(pcr: usize) -> Vec<u8> {
    let mut select = [0u8; 3];
    select[pcr / 8] |= 1 << (pcr % 8);
    let mut body = Vec::new();
    body.extend_from_slice(&1u32.to_be_bytes()); // TPML_PCR_SELECTION.count
    body.extend_from_slice(&ALG_SHA256.to_be_bytes());
    body.push(3); // sizeofSelect
    body.extend_from_slice(&select);
    command(ST_NO_SESSIONS, CC_PCR_READ, &body)
}

/// TPM2_PCR_Extend of one SHA-256 PCR, authorised by the empty password (TPM_RS_PW).
fn pcr_extend(pcr: u32, digest: &[u8; 32]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&pcr.to_be_bytes()); // pcrHandle
                                                // TPMS_AUTH_COMMAND: handle, empty nonce, attributes (continueSession), empty password.
    let mut auth = Vec::new();
    auth.extend_from_slice(&RS_PW.to_be_bytes());
    auth.extend_from_slice(&0u16.to_be_bytes());
    auth.push(0x01);
    auth.extend_from_slice(&0u16.to_be_bytes());
    body.extend_from_slice(&(auth.len() as u32).to_be_bytes());
    body.extend_from_slice(&auth);
    body.extend_from_slice(&1u32.to_be_bytes()); // TPML_DIGEST_VALUES.count
    body.extend_from_slice(&ALG_SHA256.to_be_bytes());
    body.extend_from_slice(digest);
    command(ST_SESSIONS, CC_PCR_EXTEND, &body)
}

/// Runs `cmd`, checks the response's header is consistent and returns (tag, rc, response).
fn run(tpm: &Emulator, cmd: &[u8]) -> (u16, u32, Vec<u8>) {
    let mut resp = vec![0u8; tpm.buffer_size()];
    let n = tpm.execute(cmd, &mut resp).expect("execute");
    assert!(n >= 10, "short response: {n} bytes");
    resp.truncate(n);
    let size = u32::from_be_bytes(resp[2..6].try_into().unwrap()) as usize;
    assert_eq!(size, n, "size field vs length");
    let tag = u16::from_be_bytes(resp[0..2].try_into().unwrap());
    let rc = u32::from_be_bytes(resp[6..10].try_into().unwrap());
    (tag, rc, resp)
}

fn run_ok(tpm: &Emulator, cmd: &[u8]) -> Vec<u8> {
    let (_, rc, resp) = run(tpm, cmd);
    assert_eq!(
        rc,
        RC_SUCCESS,
        "TPM rc {rc:#x} for command {:02x?}",
        &cmd[..10]
    );
    resp
}

/// The SHA-256 PCR's value from a TPM2_PCR_Read response.
fn pcr_value(resp: &[u8]) -> [u8; 32] {
    // header, pcrUpdateCounter, one-entry selection (4 + 2 + 1 + 3), TPML_DIGEST count, size.
    let at = 10 + 4 + 10 + 4;
    assert_eq!(resp.len(), at + 2 + 32);
    assert_eq!(u32::from_be_bytes(resp[24..28].try_into().unwrap()), 1);
    assert_eq!(u16::from_be_bytes(resp[at..at + 2].try_into().unwrap()), 32);
    resp[at + 2..].try_into().unwrap()
}

fn check_get_random(tpm: &Emulator) {
    let (tag, rc, resp) = run(tpm, &get_random(16));
    assert_eq!((tag, rc), (ST_NO_SESSIONS, RC_SUCCESS));
    assert_eq!(resp.len(), 10 + 2 + 16);
    assert_eq!(u16::from_be_bytes([resp[10], resp[11]]), 16);
}

// ---- tests ----

#[test]
fn tpm2_startup_random_and_pcrs() {
    let swtpm = Swtpm::start(true);
    let tpm = connect(&swtpm);
    assert_eq!(tpm.version(), TpmVersion::V2_0);
    assert_eq!(tpm.buffer_size(), 4096);

    let (tag, rc, _) = run(&tpm, &startup_clear());
    assert_eq!((tag, rc), (ST_NO_SESSIONS, RC_SUCCESS));
    check_get_random(&tpm);

    // A fresh TPM's PCR 0 is all zeros after TPM2_Startup(CLEAR).
    assert_eq!(pcr_value(&run_ok(&tpm, &pcr_read(0))), [0u8; 32]);

    // Extending PCR 16 gives SHA-256(old || digest).
    let old = pcr_value(&run_ok(&tpm, &pcr_read(16)));
    let digest: [u8; 32] = Sha256::digest(b"lpar tpm test").into();
    let resp = run_ok(&tpm, &pcr_extend(16, &digest));
    assert_eq!(u16::from_be_bytes([resp[0], resp[1]]), ST_SESSIONS);
    let mut h = Sha256::new();
    h.update(old);
    h.update(digest);
    let expected: [u8; 32] = h.finalize().into();
    assert_eq!(pcr_value(&run_ok(&tpm, &pcr_read(16))), expected);
}

#[test]
fn commands_the_tpm_rejects_and_commands_refused_before_sending() {
    let swtpm = Swtpm::start(true);
    let tpm = connect(&swtpm);
    run_ok(&tpm, &startup_clear());
    let mut resp = vec![0u8; tpm.buffer_size()];

    // Longer than the buffer: refused without sending.
    let mut big = get_random(16);
    big.resize(tpm.buffer_size() + 1, 0);
    let e = tpm.execute(&big, &mut resp).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    // Shorter than a header, or empty: also refused (swtpm would wait for the rest).
    for short in [&[][..], &[0x80, 0x01, 0, 0, 0, 9, 0, 0, 1]] {
        let e = tpm.execute(short, &mut resp).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    }
    // A TCG send-command prefix, which swtpm would unwrap and answer out of format.
    let mut prefixed = vec![0, 0, 0, 8, 0, 0, 0, 0, 12];
    prefixed.extend_from_slice(&get_random(4));
    let e = tpm.execute(&prefixed, &mut resp).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    check_get_random(&tpm);

    // Malformed commands are the TPM's business: error codes in well-formed responses.
    let (_, rc, _) = run(&tpm, &command(ST_NO_SESSIONS, 0xdead, &[]));
    assert_ne!(rc, RC_SUCCESS);
    let (_, rc, _) = run(&tpm, &command(0x1234, CC_GET_RANDOM, &[0, 4]));
    assert_ne!(rc, RC_SUCCESS);
    // A size field that lies either way.
    let mut lying = get_random(4);
    lying[2..6].copy_from_slice(&4000u32.to_be_bytes());
    let (_, rc, _) = run(&tpm, &lying);
    assert_ne!(rc, RC_SUCCESS);
    let mut lying = get_random(4);
    lying[2..6].copy_from_slice(&11u32.to_be_bytes());
    let (_, rc, _) = run(&tpm, &lying);
    assert_ne!(rc, RC_SUCCESS);
    // A whole buffer of garbage.
    let mut junk = vec![0xa5u8; tpm.buffer_size()];
    junk[..2].copy_from_slice(&ST_NO_SESSIONS.to_be_bytes());
    let (_, rc, _) = run(&tpm, &junk);
    assert_ne!(rc, RC_SUCCESS);

    // A response that does not fit the caller's buffer is an error; the channel stays usable.
    let e = tpm.execute(&get_random(16), &mut resp[..20]).unwrap_err();
    assert_ne!(e.kind(), ErrorKind::InvalidInput, "{e}");
    check_get_random(&tpm);
}

#[test]
fn reset_reinitialises_the_tpm() {
    let swtpm = Swtpm::start(true);
    let tpm = connect(&swtpm);
    run_ok(&tpm, &startup_clear());
    let digest = [0x5au8; 32];
    run_ok(&tpm, &pcr_extend(16, &digest));
    // A second Startup without a reset is refused.
    assert_eq!(run(&tpm, &startup_clear()).1, RC_INITIALIZE);

    tpm.reset().unwrap();
    // Not started again yet.
    assert_eq!(run(&tpm, &get_random(16)).1, RC_INITIALIZE);
    run_ok(&tpm, &startup_clear());
    check_get_random(&tpm);
    // Startup(CLEAR) after the power cycle reset PCR 16.
    assert_eq!(pcr_value(&run_ok(&tpm, &pcr_read(16))), [0u8; 32]);
}

#[test]
fn cancel_when_idle_is_harmless() {
    let swtpm = Swtpm::start(true);
    let tpm = connect(&swtpm);
    run_ok(&tpm, &startup_clear());
    tpm.cancel();
    check_get_random(&tpm);
}

#[test]
fn concurrent_commands_are_serialised() {
    let swtpm = Swtpm::start(true);
    let tpm = Arc::new(connect(&swtpm));
    run_ok(&tpm, &startup_clear());
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let tpm = tpm.clone();
            std::thread::spawn(move || {
                for _ in 0..25 {
                    check_get_random(&tpm);
                    assert_eq!(pcr_value(&run_ok(&tpm, &pcr_read(0))), [0u8; 32]);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn shutdown_stops_swtpm() {
    let mut swtpm = Swtpm::start(true);
    let tpm = connect(&swtpm);
    run_ok(&tpm, &startup_clear());
    tpm.shutdown();
    assert!(
        swtpm.exited_within(Duration::from_secs(10)),
        "swtpm still running"
    );
    tpm.shutdown();
    let mut resp = [0u8; 64];
    assert!(tpm.execute(&get_random(16), &mut resp).is_err());
    assert!(tpm.reset().is_err());
    drop(tpm);
}

#[test]
fn dropping_the_emulator_stops_swtpm() {
    let mut swtpm = Swtpm::start(true);
    drop(connect(&swtpm));
    assert!(
        swtpm.exited_within(Duration::from_secs(10)),
        "swtpm still running"
    );
}

#[test]
fn killed_swtpm_gives_errors_not_hangs() {
    let mut swtpm = Swtpm::start(true);
    let tpm = connect(&swtpm);
    run_ok(&tpm, &startup_clear());
    swtpm.kill();

    let start = Instant::now();
    let mut resp = vec![0u8; tpm.buffer_size()];
    assert!(tpm.execute(&get_random(16), &mut resp).is_err());
    // The channel stays given up.
    assert!(tpm.execute(&get_random(16), &mut resp).is_err());
    let e = tpm.reset().unwrap_err();
    assert!(e.starts_with("-tpmdev emulator,id=tpm0: "), "{e}");
    assert!(!e.contains('\n'), "{e}");
    tpm.cancel();
    tpm.shutdown();
    drop(tpm);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn missing_socket_is_a_one_line_error() {
    let dir = scratch_dir();
    let path = dir.join("no-such-socket");
    let e = Emulator::connect("tpm0", &path)
        .err()
        .expect("connected to nothing");
    let prefix = format!(
        "-tpmdev emulator,id=tpm0: cannot connect to swtpm at {}: ",
        path.display()
    );
    assert!(e.starts_with(&prefix), "{e}");
    assert!(e.len() > prefix.len() && !e.contains('\n'), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn peer_that_hangs_up_is_a_one_line_error() {
    let dir = scratch_dir();
    let path = dir.join("ctrl");
    let listener = UnixListener::bind(&path).unwrap();
    let t = std::thread::spawn(move || drop(listener.accept()));
    let e = Emulator::connect("tpm1", &path)
        .err()
        .expect("connected to a non-swtpm");
    t.join().unwrap();
    assert!(
        e.starts_with("-tpmdev emulator,id=tpm1: cannot connect to swtpm at "),
        "{e}"
    );
    assert!(!e.contains('\n'), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn tpm12_is_recognised() {
    let swtpm = Swtpm::start(false);
    let tpm = connect(&swtpm);
    assert_eq!(tpm.version(), TpmVersion::V1_2);
    // TPM_Startup(ST_CLEAR), TPM 1.2 style.
    let startup = [0x00, 0xc1, 0, 0, 0, 12, 0, 0, 0, 0x99, 0, 1];
    let mut resp = [0u8; 64];
    let n = tpm.execute(&startup, &mut resp).unwrap();
    assert_eq!(&resp[..n], &[0x00, 0xc4, 0, 0, 0, 10, 0, 0, 0, 0]);
}
