//! A hostile guest and hostile inputs cannot make lpar grow without bound.
//!
//! The guest (bare/hostile.c) executes code on every page of a 512 MiB RAM (once per byte order),
//! a million distinct illegal words, and two million unknown hcalls. lpar must finish each run
//! with peak RSS under guest RAM + 256 MiB (the decoded-code cache is bounded by tb-size, 64 MiB
//! by default) and stderr under 4 KiB (diagnostics are rate-limited). Peak RSS is the child's own
//! `ru_maxrss` from wait4, so parallel tests do not disturb it.
//!
//! Bad input files each give one line naming the culprit and exit status 1, without reading
//! them whole: /dev/zero, a FIFO, a directory, a sparse file larger than RAM, an ELF with 2000
//! overlapping segments, an empty -bios, a wild kernel-addr.

mod common;

use common::{build_bare, elf_be_segments, lpar, scratch};
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

const RAM_MIB: u64 = 512;
/// Host memory lpar may use beyond the guest's RAM.
const RSS_SLACK_MIB: u64 = 256;
/// Most stderr a run may print.
const STDERR_MAX: usize = 4096;
const TIMEOUT: Duration = Duration::from_secs(120);

struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
    stderr_bytes: usize,
    peak_rss_mib: u64,
}

/// Runs lpar to completion and measures its peak RSS; stderr is counted in full but only its
/// first 64 KiB is kept.
#[allow(clippy::zombie_processes)] // reaped by wait4, which also reports its peak RSS
fn measured(args: &[&str]) -> Run {
    let mut child = lpar()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn lpar");
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let (mut kept, mut total, mut buf) = (Vec::new(), 0usize, [0u8; 65536]);
        while let Ok(n) = err.read(&mut buf) {
            if n == 0 {
                break;
            }
            total += n;
            if kept.len() < 65536 {
                kept.extend_from_slice(&buf[..n]);
            }
        }
        (String::from_utf8_lossy(&kept).into_owned(), total)
    });
    let pid = child.id() as libc::pid_t;
    let start = Instant::now();
    let (status, rusage) = loop {
        let mut st = 0;
        // SAFETY: an all-zero rusage is a valid value for wait4 to fill.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: pid is our child; st and ru are valid for writes.
        let r = unsafe { libc::wait4(pid, &mut st, libc::WNOHANG, &mut ru) };
        if r == pid {
            break (ExitStatus::from_raw(st), ru);
        }
        assert!(r == 0, "wait4 failed");
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("lpar {args:?} did not finish within {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = out_t.join().expect("stdout reader");
    let (stderr, stderr_bytes) = err_t.join().expect("stderr reader");
    Run {
        status,
        stdout,
        stderr,
        stderr_bytes,
        // ru_maxrss is in KiB on Linux.
        peak_rss_mib: rusage.ru_maxrss as u64 / 1024,
    }
}

fn hostile(mode: &str) -> Run {
    let dir = scratch(&format!("hostile-{mode}"));
    let elf = build_bare(&dir, "hostile");
    let ram = format!("{RAM_MIB}M");
    let r = measured(&[
        "-M",
        "pseries",
        "-m",
        &ram,
        "-kernel",
        elf.to_str().expect("utf-8 path"),
        "-append",
        mode,
        "-nographic",
        "-no-reboot",
    ]);
    let report = format!(
        "{mode}: status {:?}, peak RSS {} MiB, stderr {} bytes\n--- stdout ---\n{}\n--- stderr ---\n{}",
        r.status, r.peak_rss_mib, r.stderr_bytes, r.stdout, r.stderr
    );
    assert_eq!(r.status.code(), Some(0), "{report}");
    assert!(
        r.peak_rss_mib < RAM_MIB + RSS_SLACK_MIB,
        "peak RSS over guest RAM + {RSS_SLACK_MIB} MiB: {report}"
    );
    assert!(r.stderr_bytes < STDERR_MAX, "stderr too large: {report}");
    eprintln!("{report}");
    r
}

#[test]
fn code_on_every_page_stays_within_the_code_cache_budget() {
    let r = hostile("pages");
    assert_eq!(r.stdout, "pages: 126976 runs, 126976 traps\n");
    // The guest wrote every page, so RSS must reflect its RAM: the bound above is not vacuous.
    assert!(r.peak_rss_mib > RAM_MIB - 32, "{} MiB", r.peak_rss_mib);
}

#[test]
fn code_on_every_page_in_both_byte_orders_stays_within_the_budget() {
    let r = hostile("pages-alt");
    assert_eq!(r.stdout, "pages: 253952 runs, 253952 traps\n");
}

#[test]
fn distinct_illegal_words_are_logged_rate_limited() {
    let r = hostile("illegal");
    assert_eq!(
        r.stdout,
        "illegal: 1000000 words, 1000000 program interrupts\n"
    );
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert!(lines[0].starts_with("lpar: illegal or unimplemented instruction 0x00000001 at "));
    assert!(lines.len() <= 12, "{lines:?}");
    let last = lines.last().copied().unwrap_or_default();
    let hidden: u64 = last
        .strip_prefix("lpar: ")
        .and_then(|l| l.strip_suffix(" diagnostic lines were not shown (rate limit)"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no suppression count: {lines:?}"));
    assert_eq!(hidden + lines.len() as u64 - 1, 1_000_000, "{lines:?}");
}

#[test]
fn unknown_hcalls_are_logged_rate_limited() {
    let r = hostile("hcalls");
    assert_eq!(r.stdout, "hcalls: 2000000 made, 2000000 H_FUNCTION\n");
    assert!(r.stderr.starts_with("lpar: unimplemented hcall 0x100000\n"));
    assert!(r.stderr.lines().count() <= 12, "{}", r.stderr);
}

/// lpar must refuse `args` at once: status 1, one line on stderr naming every culprit.
fn refused(args: &[&str], culprits: &[&str]) {
    let start = Instant::now();
    let r = measured(args);
    let report = format!("{args:?}: status {:?}, stderr {:?}", r.status, r.stderr);
    assert_eq!(r.status.code(), Some(1), "{report}");
    assert_eq!(r.stderr.lines().count(), 1, "{report}");
    assert!(r.stderr.starts_with("lpar: "), "{report}");
    for c in culprits {
        assert!(r.stderr.contains(c), "{c:?} not named: {report}");
    }
    // Refused from metadata and headers: nothing big is read or allocated.
    assert!(
        r.peak_rss_mib < 64,
        "{report}: peak RSS {} MiB",
        r.peak_rss_mib
    );
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{report}: too slow"
    );
}

fn elf_with_segments(path: &Path, n: u16, memsz: u64) {
    std::fs::write(path, elf_be_segments(n, 0, memsz)).expect("write elf");
}

#[test]
fn hostile_input_files_are_refused_before_they_are_read() {
    let dir = scratch("hostile-files");
    let p = |name: &str| dir.join(name).to_str().expect("utf-8").to_string();
    let k = p("k");
    elf_with_segments(Path::new(&k), 1, 0x1000);
    for opt in ["-kernel", "-initrd", "-bios"] {
        let mut args = vec![opt, "/dev/zero"];
        if opt == "-initrd" {
            args.extend(["-kernel", &k]);
        }
        refused(&args, &["/dev/zero", "not a regular file"]);
    }
    let fifo = p("fifo");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo")
        .success());
    refused(&["-kernel", &fifo], &[&fifo, "not a regular file"]);
    refused(
        &["-bios", dir.to_str().expect("utf-8")],
        &["is a directory"],
    );
    // A sparse file larger than RAM: refused from its size.
    let big = p("big");
    std::fs::File::create(&big)
        .and_then(|f| f.set_len(3 << 30))
        .expect("sparse file");
    refused(
        &["-m", "1G", "-kernel", &k, "-initrd", &big],
        &[&big, "does not fit in guest RAM"],
    );
    refused(&["-m", "1G", "-bios", &big], &[&big, "does not fit"]);
    refused(&["-m", "1G", "-kernel", &big], &[&big, "not a 64-bit ELF"]);
    let many = p("many");
    elf_with_segments(Path::new(&many), 2000, 255 << 20);
    refused(&["-kernel", &many], &[&many, "2000 program headers"]);
    let two = p("two");
    elf_with_segments(Path::new(&two), 2, 0x1000);
    refused(&["-kernel", &two], &[&two, "segments overlap"]);
    let empty = p("empty");
    std::fs::write(&empty, b"").expect("empty file");
    refused(&["-bios", &empty], &[&empty, "empty file"]);
    refused(
        &[
            "-M",
            "pseries,kernel-addr=0xffffffffffffffff",
            "-kernel",
            &k,
        ],
        &["kernel-addr=0xffffffffffffffff", "not 64 KiB aligned"],
    );
    refused(
        &["-M", "pseries,kernel-addr=1", "-kernel", &k],
        &["kernel-addr=0x1", "not 64 KiB aligned"],
    );
    refused(
        &[
            "-m",
            "512M",
            "-M",
            "pseries,kernel-addr=0x40000000",
            "-kernel",
            &k,
        ],
        &["kernel-addr=0x40000000", "outside guest RAM"],
    );
}
