//! Test helpers: temporary files that remove themselves, `qemu-img`, deterministic patterns, and
//! scatter-list I/O through a [`BlockBackend`].

use crate::BlockBackend;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A path under the temporary directory, unique to this process and call; removed on drop.
pub struct TempPath(pub PathBuf);

impl TempPath {
    pub fn new(name: &str) -> TempPath {
        static SERIAL: AtomicUsize = AtomicUsize::new(0);
        TempPath(std::env::temp_dir().join(format!(
            "lpar-block-{}-{}-{name}",
            std::process::id(),
            SERIAL.fetch_add(1, Ordering::Relaxed)
        )))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// The file name alone, for relative backing file names.
    pub fn file_name(&self) -> String {
        self.0
            .file_name()
            .expect("file name")
            .to_string_lossy()
            .into_owned()
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Runs `qemu-img` (or `qemu-io`), panicking with its output if it fails.
pub fn qemu(tool: &str, args: &[&str]) -> String {
    let out = Command::new(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{tool}: {e} (install qemu-utils)"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{tool} {args:?} failed:\n{text}");
    text
}

pub fn qemu_img(args: &[&str]) -> String {
    qemu("qemu-img", args)
}

/// `qemu-img check` must report a clean image: no errors, no leaks.
pub fn check_clean(p: &Path) {
    let out = qemu_img(&["check", p.to_str().expect("utf-8 path")]);
    assert!(out.contains("No errors were found"), "{out}");
    assert!(!out.contains("leaked"), "{out}");
}

/// The guest-visible contents of an image, as QEMU sees them.
pub fn qemu_contents(p: &Path, fmt: &str) -> Vec<u8> {
    let raw = TempPath::new("convert.raw");
    qemu_img(&[
        "convert",
        "-f",
        fmt,
        "-O",
        "raw",
        p.to_str().expect("utf-8 path"),
        raw.path().to_str().expect("utf-8 path"),
    ]);
    std::fs::read(raw.path()).expect("read converted image")
}

/// Deterministic pseudo-random numbers (xorshift64*).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn fill(&mut self, b: &mut [u8]) {
        for c in b.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            c.copy_from_slice(&v[..c.len()]);
        }
    }
}

/// Splits `buf` at random points into at most `parts` iovecs (some tiny, some odd-sized).
fn scatter(buf: &mut [u8], rng: &mut Rng, parts: usize) -> Vec<libc::iovec> {
    let mut cuts: Vec<usize> = (1..parts)
        .map(|_| rng.below(buf.len() as u64 + 1) as usize)
        .collect();
    cuts.push(0);
    cuts.push(buf.len());
    cuts.sort_unstable();
    cuts.dedup();
    let base = buf.as_mut_ptr();
    cuts.windows(2)
        .map(|w| libc::iovec {
            // In bounds: both cuts lie within `buf`.
            iov_base: base.wrapping_add(w[0]) as *mut libc::c_void,
            iov_len: w[1] - w[0],
        })
        .collect()
}

/// Writes `data` at `offset` as a scatter list of up to 5 buffers.
pub fn write(b: &dyn BlockBackend, offset: u64, data: &[u8], rng: &mut Rng) {
    let mut buf = data.to_vec();
    let iov = scatter(&mut buf, rng, 5);
    // SAFETY: `buf` outlives the call and the iovecs lie within it.
    unsafe { b.writev(&iov, offset) }.unwrap_or_else(|e| panic!("write at {offset:#x}: {e}"));
}

/// Reads `len` bytes at `offset` through a scatter list of up to 5 buffers.
pub fn read(b: &dyn BlockBackend, offset: u64, len: usize, rng: &mut Rng) -> Vec<u8> {
    let mut buf = vec![0xeeu8; len];
    let iov = scatter(&mut buf, rng, 5);
    // SAFETY: `buf` outlives the call and the iovecs lie within it.
    unsafe { b.readv(&iov, offset) }.unwrap_or_else(|e| panic!("read at {offset:#x}: {e}"));
    buf
}

/// Reads the whole disk in 1 MiB requests.
pub fn read_all(b: &dyn BlockBackend) -> Vec<u8> {
    let mut rng = Rng::new(99);
    let mut out = Vec::with_capacity(b.size() as usize);
    let mut off = 0;
    while off < b.size() {
        let n = (b.size() - off).min(1 << 20) as usize;
        out.extend_from_slice(&read(b, off, n, &mut rng));
        off += n as u64;
    }
    out
}

/// Scattered writes of random sector-multiple lengths (some crossing clusters, some single
/// sectors), mirrored into `shadow`.
pub fn scattered_writes(b: &dyn BlockBackend, shadow: &mut [u8], rng: &mut Rng, count: usize) {
    let sectors = b.size() / 512;
    for i in 0..count {
        let len = match i % 4 {
            0 => 512,
            1 => 512 * (1 + rng.below(16)),
            2 => 512 * (1 + rng.below(300)),
            _ => 4096,
        };
        let start = rng.below(sectors - len / 512 + 1) * 512;
        let mut data = vec![0u8; len as usize];
        rng.fill(&mut data);
        write(b, start, &data, rng);
        shadow[start as usize..(start + len) as usize].copy_from_slice(&data);
    }
}

/// A patterned buffer that compresses well but is not trivially zero.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let mut v = vec![0u8; len];
    for (i, c) in v.chunks_mut(4096).enumerate() {
        match i % 3 {
            0 => c.fill((i as u8).wrapping_mul(37)),
            1 => rng.fill(c),
            _ => {
                for (k, x) in c.iter_mut().enumerate() {
                    *x = (k / 16) as u8 ^ i as u8;
                }
            }
        }
    }
    v
}

pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}
