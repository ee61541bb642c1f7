//! End to end: Debian's ppc64le kernel boots to init on each CPU model and reports that model in
//! /proc/cpuinfo; the MMU is radix from POWER9 on and hash before. The initramfs is built here from
//! the Debian busybox (scripts/fetch-assets.sh puts it in $LPAR_ASSETS, default
//! ~/.cache/lpar-assets): a newc archive written by this file, compressed with the host's gzip.

use ppc::cpu::IsaLevel;
use ppc::CpuModel;
use spapr::machine::{MachineConfig, RunState};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Longest a boot may take (a POWER9 boot to init takes about 5 s on one host core).
const BOOT_TIMEOUT: Duration = Duration::from_secs(120);

/// /init: report the processor and MMU, then power off.
const INIT: &str = "#!/bin/sh
/bin/busybox mount -t proc proc /proc
echo '=== cpuinfo'
/bin/busybox cat /proc/cpuinfo
echo '=== end'
/bin/busybox poweroff -f
";

fn assets() -> PathBuf {
    let dir = std::env::var_os("LPAR_ASSETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/lpar-assets")
        });
    for f in ["vmlinux", "busybox-ppc64el"] {
        assert!(
            dir.join(f).exists(),
            "missing {}: run scripts/fetch-assets.sh (LPAR_ASSETS={})",
            dir.join(f).display(),
            dir.display()
        );
    }
    dir
}

/// One newc (SVR4 without CRC) cpio entry: header, NUL-terminated name, data, each padded to 4.
fn newc(out: &mut Vec<u8>, ino: u32, name: &str, mode: u32, rdev: (u32, u32), data: &[u8]) {
    let fields = [
        ino,
        mode,
        0, // uid
        0, // gid
        1, // nlink
        0, // mtime
        data.len() as u32,
        0, // devmajor
        0, // devminor
        rdev.0,
        rdev.1,
        name.len() as u32 + 1,
        0, // check
    ];
    out.extend_from_slice(b"070701");
    for f in fields {
        out.extend_from_slice(format!("{f:08x}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
    out.extend_from_slice(data);
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

/// A gzip'd initramfs with busybox, `/init` = `init` and /dev/console, in `dir`.
fn initramfs(dir: &Path, init: &str) -> PathBuf {
    let busybox = std::fs::read(assets().join("busybox-ppc64el")).expect("read busybox");
    let mut a = Vec::new();
    const DIR: u32 = 0o040755;
    const FILE: u32 = 0o100755;
    const LINK: u32 = 0o120777;
    const CHR: u32 = 0o020600;
    let mut ino = 1;
    let mut add = |a: &mut Vec<u8>, name: &str, mode: u32, rdev: (u32, u32), data: &[u8]| {
        newc(a, ino, name, mode, rdev, data);
        ino += 1;
    };
    for d in ["bin", "dev", "proc", "sys", "tmp"] {
        add(&mut a, d, DIR, (0, 0), &[]);
    }
    add(&mut a, "bin/busybox", FILE, (0, 0), &busybox);
    add(&mut a, "bin/sh", LINK, (0, 0), b"busybox");
    add(&mut a, "init", FILE, (0, 0), init.as_bytes());
    // The kernel opens /dev/console before running /init.
    add(&mut a, "dev/console", CHR, (5, 1), &[]);
    add(&mut a, "TRAILER!!!", 0, (0, 0), &[]);

    let path = dir.join("initrd.gz");
    let out = std::fs::File::create(&path).expect("create initrd");
    let mut gz = Command::new("gzip")
        .arg("-c")
        .stdin(Stdio::piped())
        .stdout(out)
        .spawn()
        .expect("gzip (apt-get install gzip)");
    gz.stdin
        .take()
        .expect("gzip stdin")
        .write_all(&a)
        .expect("write to gzip");
    assert!(gz.wait().expect("gzip").success(), "gzip failed");
    path
}

/// A per-test scratch directory under the target directory.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Console output collected from the machine's vty.
#[derive(Clone, Default)]
struct Console(Arc<Mutex<Vec<u8>>>);

impl Write for Console {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut v) = self.0.lock() {
            v.extend_from_slice(b);
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Console {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().map(|v| v.clone()).unwrap_or_default()).into_owned()
    }
}

/// Boots the kernel with the test initramfs on `model` (with an optional compatibility limit)
/// and returns how the machine stopped and what the console printed.
fn boot(model: CpuModel, max_compat: Option<IsaLevel>, tag: &str) -> (RunState, String) {
    let dir = scratch(tag);
    let cfg = MachineConfig {
        ram_size: 1 << 30,
        kernel: Some(assets().join("vmlinux")),
        initrd: Some(initramfs(&dir, INIT)),
        append: "console=hvc0".into(),
        cpu_model: model,
        max_compat,
        ..Default::default()
    };
    let console = Console::default();
    let (m, vcpus) = spapr::boot::create(cfg, Box::new(console.clone())).expect("create");
    // A hung guest must not hang the test: stop the machine at the deadline.
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watchdog = {
        let (m, done) = (m.clone(), done.clone());
        std::thread::spawn(move || {
            let t0 = Instant::now();
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                if t0.elapsed() > BOOT_TIMEOUT {
                    m.request(RunState::Terminated("test timeout".into()));
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let st = spapr::boot::run(&m, vcpus);
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = watchdog.join();
    (st, console.text())
}

/// The value of `key` in the /proc/cpuinfo dump on the console.
fn cpuinfo<'a>(console: &'a str, key: &str) -> Option<&'a str> {
    let start = console.find("=== cpuinfo")?;
    let end = console[start..].find("=== end")? + start;
    console[start..end].lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == key).then_some(v.trim())
    })
}

#[test]
fn power10_boots_with_radix_and_reports_power10() {
    let (st, out) = boot(CpuModel::Power10, None, "power10");
    assert_eq!(st, RunState::PowerOff, "console:\n{out}");
    let cpu = cpuinfo(&out, "cpu").unwrap_or_default();
    assert!(cpu.starts_with("POWER10"), "cpu: {cpu:?}\nconsole:\n{out}");
    assert_eq!(cpuinfo(&out, "MMU"), Some("Radix"), "console:\n{out}");
    // The real PVR shows in the revision line.
    let rev = cpuinfo(&out, "revision").unwrap_or_default();
    assert!(rev.contains("pvr 0080 1200"), "revision: {rev:?}");
}

#[test]
fn power10_limited_to_power9_mode() {
    let (st, out) = boot(CpuModel::Power10, Some(IsaLevel::V3_0), "power10-compat9");
    assert_eq!(st, RunState::PowerOff, "console:\n{out}");
    let cpu = cpuinfo(&out, "cpu").unwrap_or_default();
    assert!(cpu.starts_with("POWER9"), "cpu: {cpu:?}\nconsole:\n{out}");
    assert_eq!(cpuinfo(&out, "MMU"), Some("Radix"));
}

#[test]
fn power8_boots_with_hash_and_reports_power8() {
    let (st, out) = boot(CpuModel::Power8, None, "power8");
    assert_eq!(st, RunState::PowerOff, "console:\n{out}");
    let cpu = cpuinfo(&out, "cpu").unwrap_or_default();
    assert!(cpu.starts_with("POWER8"), "cpu: {cpu:?}\nconsole:\n{out}");
    assert_eq!(cpuinfo(&out, "MMU"), Some("Hash"), "console:\n{out}");
}

#[test]
fn compat_newer_than_the_cpu_fails_at_creation() {
    let cfg = MachineConfig {
        kernel: Some(PathBuf::from("/nonexistent")),
        cpu_model: CpuModel::Power8,
        max_compat: Some(IsaLevel::V3_0),
        ..Default::default()
    };
    let err = spapr::boot::create(cfg, Box::new(std::io::sink()))
        .err()
        .expect("must fail");
    assert_eq!(
        err,
        "-cpu POWER8,compat=power9: compat mode newer than the CPU"
    );
}
