//! Helpers shared by lpar's integration tests: running the binary with a deadline, an interactive
//! session over pipes, a newc cpio writer for initramfs images, the guest assets, and a tiny
//! hand-assembled guest.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub fn lpar() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lpar"))
}

/// What a finished lpar run printed.
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "status {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

/// A running lpar with piped stdio; output is collected by background threads.
pub struct Session {
    /// Killed when the session is dropped, so a failing test never leaves lpar running.
    pub child: Child,
    pub stdin: Option<ChildStdin>,
    out: Arc<Mutex<Vec<u8>>>,
    err: Arc<Mutex<Vec<u8>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
    deadline: Instant,
}

fn collect(
    mut r: impl Read + Send + 'static,
    into: Arc<Mutex<Vec<u8>>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            match r.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => into.lock().unwrap().extend_from_slice(&buf[..n]),
            }
        }
    })
}

impl Session {
    /// Starts lpar with `args`; the whole session must be over within `timeout`.
    pub fn start(args: &[&str], timeout: Duration) -> Session {
        Session::spawn(lpar(), args, timeout)
    }

    /// Runs `program` (which runs lpar, e.g. `ip netns exec NS lpar ...`) instead of lpar.
    #[allow(dead_code)]
    pub fn start_program(program: &str, args: &[&str], timeout: Duration) -> Session {
        Session::spawn(Command::new(program), args, timeout)
    }

    fn spawn(mut cmd: Command, args: &[&str], timeout: Duration) -> Session {
        let mut child = cmd
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn lpar");
        let out = Arc::new(Mutex::new(Vec::new()));
        let err = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            collect(child.stdout.take().unwrap(), out.clone()),
            collect(child.stderr.take().unwrap(), err.clone()),
        ];
        Session {
            stdin: child.stdin.take(),
            child,
            out,
            err,
            readers,
            deadline: Instant::now() + timeout,
        }
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().unwrap()).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.err.lock().unwrap()).into_owned()
    }

    fn fail(&mut self, why: &str) -> ! {
        let _ = self.child.kill();
        let _ = self.child.wait();
        panic!(
            "{why}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout(),
            self.stderr()
        );
    }

    /// Waits until stdout contains `text` (after byte offset `from`); returns the offset after it.
    pub fn wait_for(&mut self, text: &str, from: usize) -> usize {
        loop {
            {
                let out = self.out.lock().unwrap();
                let hay = out.get(from..).unwrap_or_default();
                if let Some(i) = hay.windows(text.len()).position(|w| w == text.as_bytes()) {
                    return from + i + text.len();
                }
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                // Let the readers drain what the process wrote before it exited.
                std::thread::sleep(Duration::from_millis(100));
                let out = self.out.lock().unwrap().clone();
                if out
                    .get(from..)
                    .unwrap_or_default()
                    .windows(text.len())
                    .any(|w| w == text.as_bytes())
                {
                    return out.len();
                }
                self.fail(&format!("lpar exited ({st}) before printing {text:?}"));
            }
            if Instant::now() > self.deadline {
                self.fail(&format!("timed out waiting for {text:?}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn send(&mut self, data: &[u8]) {
        let ok = match self.stdin.as_mut() {
            Some(s) => s.write_all(data).and_then(|_| s.flush()).is_ok(),
            None => false,
        };
        if !ok {
            self.fail("cannot write to lpar's stdin");
        }
    }

    /// Whether lpar is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for lpar to exit (killing it at the deadline) and returns everything it printed.
    pub fn finish(mut self) -> Output {
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(st)) => break st,
                Ok(None) if Instant::now() > self.deadline => {
                    self.fail("timed out waiting for lpar to exit")
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => self.fail(&format!("wait: {e}")),
            }
        };
        drop(self.stdin.take());
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        Output {
            status,
            stdout: self.stdout(),
            stderr: self.stderr(),
        }
    }

    pub fn signal(&mut self, sig: i32) {
        // SAFETY: kill with our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs lpar with `args` and stdin closed; kills it and fails after `timeout`.
pub fn run(args: &[&str], timeout: Duration) -> Output {
    let mut s = Session::start(args, timeout);
    drop(s.stdin.take());
    s.finish()
}

/// The guest software from scripts/fetch-assets.sh; fails the test when it is missing.
pub fn assets() -> PathBuf {
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

/// A fresh scratch directory for one test, removed when dropped.
pub struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn scratch(name: &str) -> Scratch {
    let d = std::env::temp_dir().join(format!("lpar-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch dir");
    Scratch(d)
}

/// A newc ("070701") cpio archive, the format the kernel unpacks as initramfs.
#[derive(Default)]
pub struct Cpio {
    buf: Vec<u8>,
    ino: u32,
}

impl Cpio {
    fn entry(&mut self, name: &str, mode: u32, rdev: (u32, u32), data: &[u8]) {
        self.ino += 1;
        let namesize = name.len() + 1;
        let fields = [
            self.ino,
            mode,
            0,
            0,
            1,
            0,
            data.len() as u32,
            0,
            0,
            rdev.0,
            rdev.1,
            namesize as u32,
            0,
        ];
        self.buf.extend_from_slice(b"070701");
        for f in fields {
            self.buf.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.push(0);
        self.pad();
        self.buf.extend_from_slice(data);
        self.pad();
    }

    fn pad(&mut self) {
        while !self.buf.len().is_multiple_of(4) {
            self.buf.push(0);
        }
    }

    pub fn dir(&mut self, name: &str) -> &mut Self {
        self.entry(name, 0o040755, (0, 0), &[]);
        self
    }

    pub fn file(&mut self, name: &str, mode: u32, data: &[u8]) -> &mut Self {
        self.entry(name, 0o100000 | mode, (0, 0), data);
        self
    }

    pub fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.entry(name, 0o120777, (0, 0), target.as_bytes());
        self
    }

    pub fn chardev(&mut self, name: &str, major: u32, minor: u32) -> &mut Self {
        self.entry(name, 0o020600, (major, minor), &[]);
        self
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.entry("TRAILER!!!", 0, (0, 0), &[]);
        self.buf
    }
}

/// An uncompressed initramfs: busybox as /bin/busybox (+ /bin/sh), /dev/console, and `init`.
pub fn initramfs(assets: &Path, init: &str, to: &Path) {
    let busybox = std::fs::read(assets.join("busybox-ppc64el")).expect("read busybox");
    let mut c = Cpio::default();
    for d in [
        "bin", "sbin", "usr", "usr/bin", "usr/sbin", "dev", "proc", "sys", "tmp", "root",
    ] {
        c.dir(d);
    }
    c.file("bin/busybox", 0o755, &busybox)
        .symlink("bin/sh", "busybox")
        .chardev("dev/console", 5, 1)
        .file("init", 0o755, init.as_bytes());
    std::fs::write(to, c.finish()).expect("write initramfs");
}

/// The kernel release the Debian vmlinux reports (from its file name, vmlinux-<release>).
pub fn kernel_release(assets: &Path) -> String {
    let target = std::fs::read_link(assets.join("vmlinux"))
        .expect("vmlinux is a symlink to kernel/boot/vmlinux-*");
    let name = target.file_name().unwrap().to_string_lossy().into_owned();
    name.strip_prefix("vmlinux-")
        .expect("vmlinux-<release>")
        .to_string()
}

/// A tiny big-endian guest (assembled with powerpc64-linux-gnu-as, loaded at real address 0):
/// prints "ready\n" with H_PUT_TERM_CHAR, then echoes console input read with H_GET_TERM_CHAR,
/// until a chunk starting with '!' arrives: then it calls the client interface's "exit".
const ECHO_GUEST: &[u32] = &[
    0x7cbf2b78, // mr r31,r5            client interface entry
    0x38600058, // li r3,H_PUT_TERM_CHAR
    0x3c807100, // lis r4,0x7100        the vty's unit address
    0x38a00006, // li r5,6
    0x3cc07265, // lis r6,"re"
    0x60c66164, // ori r6,r6,"ad"
    0x78c607c6, // sldi r6,r6,32
    0x64c6790a, // oris r6,r6,"y\n"
    0x38e00000, // li r7,0
    0x44000022, // sc 1
    0x38600054, // loop: li r3,H_GET_TERM_CHAR
    0x3c807100, // lis r4,0x7100
    0x44000022, // sc 1
    0x2c240000, // cmpdi r4,0
    0x4182fff0, // beq loop
    0x78a84620, // srdi r8,r5,56        first byte
    0x2c280021, // cmpdi r8,'!'
    0x41820020, // beq do_exit
    0x7cc73378, // mr r7,r6
    0x7ca62b78, // mr r6,r5
    0x7c852378, // mr r5,r4             count
    0x3c807100, // lis r4,0x7100
    0x38600058, // li r3,H_PUT_TERM_CHAR
    0x44000022, // sc 1
    0x4bffffc8, // b loop
    0x38600200, // do_exit: li r3,0x200 prom_args
    0x7fe903a6, // mtctr r31
    0x4e800421, // bctrl
    0x48000000, // b .
];

/// The echo guest as a big-endian ppc64 ELF file.
pub fn echo_guest(dir: &Path) -> PathBuf {
    let mut image = vec![0u8; 0x228];
    for (i, w) in ECHO_GUEST.iter().enumerate() {
        image[i * 4..i * 4 + 4].copy_from_slice(&w.to_be_bytes());
    }
    // prom_args at 0x200: service name pointer, nargs 0, nret 0; the name at 0x220.
    image[0x200..0x204].copy_from_slice(&0x220u32.to_be_bytes());
    image[0x220..0x225].copy_from_slice(b"exit\0");
    let path = dir.join("echo-guest.elf");
    std::fs::write(&path, elf_be(&image)).expect("write guest");
    path
}

/// A minimal ELF64 big-endian executable with one PT_LOAD of `image` at 0xc000000000000000.
fn elf_be(image: &[u8]) -> Vec<u8> {
    let len = image.len() as u64;
    let mut v = elf_be_segments(1, len, len);
    v.extend_from_slice(image);
    v
}

/// The headers of an ELF64 big-endian PowerPC executable with `n` PT_LOAD segments, all at
/// vaddr 0xc000000000000000 with `filesz` bytes from just after the headers and `memsz` in
/// memory (the caller appends the file data).
pub fn elf_be_segments(n: u16, filesz: u64, memsz: u64) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    v.extend_from_slice(&2u16.to_be_bytes()); // ET_EXEC
    v.extend_from_slice(&21u16.to_be_bytes()); // EM_PPC64
    v.extend_from_slice(&1u32.to_be_bytes());
    v.extend_from_slice(&0xc000_0000_0000_0000u64.to_be_bytes()); // entry
    v.extend_from_slice(&64u64.to_be_bytes()); // phoff
    v.extend_from_slice(&0u64.to_be_bytes()); // shoff
    v.extend_from_slice(&0u32.to_be_bytes()); // flags
    for h in [64u16, 56, n, 64, 0, 0] {
        v.extend_from_slice(&h.to_be_bytes());
    }
    let data = 64 + 56 * n as u64;
    for _ in 0..n {
        v.extend_from_slice(&1u32.to_be_bytes()); // PT_LOAD
        v.extend_from_slice(&7u32.to_be_bytes()); // RWX
                                                  // offset, vaddr, paddr, filesz, memsz, align
        for x in [data, 0xc000_0000_0000_0000, 0, filesz, memsz, 0x10000] {
            v.extend_from_slice(&x.to_be_bytes());
        }
    }
    v
}

const CC: &str = "powerpc64-linux-gnu-gcc";

/// Freestanding, no FP/vector code (MSR[FP]/[VEC] are off at entry), no libc.
const CFLAGS: &[&str] = &[
    "-O2",
    "-nostdlib",
    "-ffreestanding",
    "-fno-builtin",
    // Keeps GCC from turning memcpy/memset's own loops into calls to themselves.
    "-fno-tree-loop-distribute-patterns",
    "-fno-pie",
    "-no-pie",
    "-static",
    "-mbig-endian",
    "-mcpu=power8",
    "-msoft-float",
    "-mno-altivec",
    "-mno-vsx",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wl,--build-id=none",
];

fn sources() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bare")
}

/// Builds the big-endian bare-metal program bare/<name>.c (see bare/README.md) with the start code and runtime into `dir`; returns the ELF.
pub fn build_bare(dir: &Path, name: &str) -> PathBuf {
    let src = sources();
    let elf = dir.join(format!("{name}.elf"));
    let res = Command::new(CC)
        .args(CFLAGS)
        .arg(format!("-Wl,-T,{}", src.join("bare.ld").display()))
        .arg(src.join("start.S"))
        .arg(src.join("rt.c"))
        .arg(src.join(format!("{name}.c")))
        .arg("-o")
        .arg(&elf)
        .output();
    match res {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("{CC} not found: run scripts/fetch-assets.sh")
        }
        Err(e) => panic!("cannot run {CC}: {e}"),
        Ok(o) if !o.status.success() => panic!(
            "building {name} failed:\n{}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Ok(_) => elf,
    }
}

/// The kernel module `name` (e.g. "virtio_blk") from the fetched kernel package.
pub fn kernel_module(assets: &Path, name: &str) -> Vec<u8> {
    fn find(dir: &Path, file: &str) -> Option<PathBuf> {
        for e in std::fs::read_dir(dir).ok()?.flatten() {
            let p = e.path();
            if p.is_dir() {
                if let Some(f) = find(&p, file) {
                    return Some(f);
                }
            } else if p.file_name().is_some_and(|n| n == file) {
                return Some(p);
            }
        }
        None
    }
    let root = assets.join("kernel/lib/modules");
    let f = find(&root, &format!("{name}.ko"))
        .unwrap_or_else(|| panic!("kernel module {name} not under {}", root.display()));
    std::fs::read(f).expect("read module")
}

/// `initramfs` plus kernel modules as /modules/NAME.ko, for `init` to insmod.
pub fn initramfs_with_modules(assets: &Path, init: &str, modules: &[&str], to: &Path) {
    let busybox = std::fs::read(assets.join("busybox-ppc64el")).expect("read busybox");
    let mut c = Cpio::default();
    for d in [
        "bin", "sbin", "usr", "usr/bin", "usr/sbin", "dev", "proc", "sys", "tmp", "root", "mnt",
        "modules",
    ] {
        c.dir(d);
    }
    for m in modules {
        c.file(&format!("modules/{m}.ko"), 0o644, &kernel_module(assets, m));
    }
    c.file("bin/busybox", 0o755, &busybox)
        .symlink("bin/sh", "busybox")
        .chardev("dev/console", 5, 1)
        .file("init", 0o755, init.as_bytes());
    std::fs::write(to, c.finish()).expect("write initramfs");
}

/// Modules (in load order) for a virtio-blk disk holding ext4.
pub const VIRTIO_BLK_EXT4: &[&str] = &[
    "virtio_ring",
    "virtio",
    "virtio_pci_modern_dev",
    "virtio_pci_legacy_dev",
    "virtio_pci",
    "virtio_blk",
    "crc16",
    "mbcache",
    "jbd2",
    "crc32c_generic",
    "ext4",
];

/// Modules (in load order) for SCSI disks (sd) and CD-ROMs (sr) holding ext4 or ISO 9660 on
/// virtio-scsi or spapr-vscsi (ibmvscsi). SCSI itself is built into the kernel; sd needs the
/// T10 protection information library and its CRCs, which fall back to their table code
/// without the crypto drivers.
pub const SCSI_EXT4_ISO: &[&str] = &[
    "virtio_ring",
    "virtio",
    "virtio_pci_modern_dev",
    "virtio_pci_legacy_dev",
    "virtio_pci",
    "virtio_scsi",
    "scsi_transport_srp",
    "ibmvscsi",
    "crct10dif_common",
    "crc-t10dif",
    "crc64",
    "crc64-rocksoft",
    "t10-pi",
    "sd_mod",
    "cdrom",
    "sr_mod",
    "isofs",
    "crc16",
    "mbcache",
    "jbd2",
    "crc32c_generic",
    "ext4",
];
