//! End to end: the Debian ppc64el kernel, told "disable_radix", boots on the pseries machine with
//! the hash MMU (SLB, hashed page table, H_ENTER & co.) to a busybox init that reports the MMU
//! and powers off. Needs the guest software of scripts/fetch-assets.sh in $LPAR_ASSETS (default
//! ~/.cache/lpar-assets); a missing asset fails the test with a message saying so.

use spapr::{MachineConfig, RunState};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The boot is stopped and the test failed after this long (a boot takes seconds; CI is slow).
const BOOT_TIMEOUT: Duration = Duration::from_secs(600);

const INIT: &str = "#!/bin/sh
/bin/busybox mount -t proc proc /proc
echo HASH-BOOT-BEGIN
/bin/busybox grep MMU /proc/cpuinfo
echo HASH-BOOT-END
/bin/busybox poweroff -f
";

fn assets() -> PathBuf {
    match std::env::var_os("LPAR_ASSETS") {
        Some(p) => PathBuf::from(p),
        None => {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/lpar-assets")
        }
    }
}

fn asset(name: &str) -> PathBuf {
    let p = assets().join(name);
    assert!(
        p.exists(),
        "missing guest asset {}: run scripts/fetch-assets.sh (or point LPAR_ASSETS at the assets)",
        p.display()
    );
    p
}

/// A newc cpio archive built in memory (no root needed for the /dev/console node).
#[derive(Default)]
struct Cpio {
    out: Vec<u8>,
    ino: u32,
}

impl Cpio {
    fn entry(&mut self, name: &str, mode: u32, rdev: (u32, u32), data: &[u8]) {
        self.ino += 1;
        let fields = [
            self.ino,
            mode,
            0, // uid
            0, // gid
            if mode & 0o170000 == 0o040000 { 2 } else { 1 },
            0, // mtime
            data.len() as u32,
            0, // devmajor
            0, // devminor
            rdev.0,
            rdev.1,
            name.len() as u32 + 1,
            0, // check
        ];
        self.out.extend_from_slice(b"070701");
        for f in fields {
            self.out.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(0);
        self.pad();
        self.out.extend_from_slice(data);
        self.pad();
    }

    fn pad(&mut self) {
        while !self.out.len().is_multiple_of(4) {
            self.out.push(0);
        }
    }

    fn finish(mut self) -> Vec<u8> {
        self.entry("TRAILER!!!", 0, (0, 0), &[]);
        self.out
    }
}

/// The initramfs: busybox, /bin/sh, /init, /proc and /dev/console, gzip-compressed.
fn initramfs() -> Vec<u8> {
    let busybox = std::fs::read(asset("busybox-ppc64el")).expect("read busybox");
    let mut c = Cpio::default();
    for d in ["bin", "dev", "proc"] {
        c.entry(d, 0o040755, (0, 0), &[]);
    }
    c.entry("bin/busybox", 0o100755, (0, 0), &busybox);
    c.entry("bin/sh", 0o120777, (0, 0), b"busybox");
    c.entry("dev/console", 0o020600, (5, 1), &[]);
    c.entry("init", 0o100755, (0, 0), INIT.as_bytes());
    let cpio = c.finish();
    let mut gz = Command::new("gzip")
        .arg("-c")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("gzip is needed to build the initramfs (apt-get install gzip)");
    let mut stdin = gz.stdin.take().expect("gzip stdin");
    let writer = std::thread::spawn(move || stdin.write_all(&cpio));
    let out = gz.wait_with_output().expect("gzip");
    writer.join().expect("writer").expect("write to gzip");
    assert!(out.status.success(), "gzip failed");
    out.stdout
}

/// Console output, shared with the test.
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

#[test]
fn debian_kernel_boots_with_the_hash_mmu() {
    let kernel = asset("vmlinux");
    let dir = std::env::temp_dir().join(format!("lpar-hash-boot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let initrd = dir.join("initrd.gz");
    std::fs::write(&initrd, initramfs()).expect("write initramfs");

    let console = Console::default();
    let cfg = MachineConfig {
        ram_size: 1 << 30,
        // One vCPU: with two, st*cx. is not yet atomic across vCPUs (loadstore.rs) and a boot can
        // deadlock in a spinlock whatever the MMU.
        smp: 1,
        kernel: Some(kernel),
        initrd: Some(initrd),
        append: "console=hvc0 disable_radix".into(),
        ..Default::default()
    };
    let (m, vcpus) = spapr::boot::create(cfg, Box::new(console.clone())).expect("machine");
    let (tx, rx) = std::sync::mpsc::channel();
    let runner = {
        let m = m.clone();
        std::thread::spawn(move || {
            let _ = tx.send(spapr::boot::run(&m, vcpus));
        })
    };
    let st = match rx.recv_timeout(BOOT_TIMEOUT) {
        Ok(st) => st,
        Err(_) => {
            m.request(RunState::Terminated("test timeout".into()));
            rx.recv().unwrap_or(RunState::Terminated("no state".into()))
        }
    };
    let _ = runner.join();
    let _ = std::fs::remove_dir_all(&dir);
    let out = console.text();
    assert_eq!(st, RunState::PowerOff, "console:\n{out}");
    assert!(
        out.contains("hash-mmu: Initializing hash mmu with SLB"),
        "console:\n{out}"
    );
    let between = out
        .split("HASH-BOOT-BEGIN")
        .nth(1)
        .and_then(|s| s.split("HASH-BOOT-END").next())
        .unwrap_or_else(|| panic!("init's markers missing; console:\n{out}"));
    let mmu: Vec<&str> = between
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| l.starts_with("MMU"))
        .collect();
    assert_eq!(mmu.len(), 1, "console:\n{out}");
    assert!(
        mmu[0].split(':').nth(1).map(str::trim) == Some("Hash"),
        "MMU line {:?}; console:\n{out}",
        mmu[0]
    );
}
