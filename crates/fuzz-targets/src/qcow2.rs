//! `qcow2`: qcow2 images opened through `block::open` (`format=qcow2` as `-drive` gives it, or
//! probed), then read, written, flushed and reopened. The image file comes from the input (seeds
//! are real small images) and is patched by biased decoders: header fields (version,
//! cluster_bits, size, L1 and refcount tables, refcount order, header length, feature bits,
//! compression type, backing file name), header extensions, L1, L2 (standard, zero, compressed)
//! and refcount entries, raw bytes and the file's length.
//!
//! Invariants, besides "no panic, no hang, no unbounded allocation": a refused image gives one
//! line naming the file; a read-only open never changes the file, and the backing files are never
//! changed; the size is the header's (whole sectors); a request reaching past the end, and any
//! write to a read-only disk, fails. A model of the disk checks what reads return: bytes written
//! read back, reads repeat, and where the image's tables are consistent (see `Layout`) the model
//! starts from the contents the tables map (clusters, zero clusters, the file for raw) and
//! requests inside the disk must succeed (except where compressed clusters are involved).
//!
//! Backing files: the block crate opens the name in the header itself (relative to the image's
//! directory, or absolute) and probes its format when the header names none. The harness keeps
//! every image in a directory of its own and rewrites any name that could lead out of it
//! (`confine_backing`): names resolve to the backing images it puts there, the image itself (a
//! loop), the directory, or nothing.
//!
//! Input: byte 0 (the first open: bit 0 read-only, bit 1 probe the format), a u16 length and that
//! many bytes of image, a patch count byte and the patches, then operations (see `Harness::op`).

use crate::input::Input;
use block::{BlockBackend, Cache, Format, Options};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Patches may grow the file up to this.
const MAX_FILE: usize = 256 << 10;
const MAX_PATCHES: u8 = 12;
const MAX_OPS: usize = 24;
/// Longest read or write.
const MAX_LEN: u64 = 48 << 10;

// Header fields (byte offsets).
const H_VERSION: usize = 4;
const H_BACKING_OFFSET: usize = 8;
const H_BACKING_LEN: usize = 16;
const H_CLUSTER_BITS: usize = 20;
const H_SIZE: usize = 24;
const H_CRYPT: usize = 32;
const H_L1_SIZE: usize = 36;
const H_L1_OFFSET: usize = 40;
const H_RT_OFFSET: usize = 48;
const H_RT_CLUSTERS: usize = 56;
const H_NB_SNAPSHOTS: usize = 60;
const H_SNAPSHOTS_OFFSET: usize = 64;
const H_INCOMPAT: usize = 72;
const H_COMPAT: usize = 80;
const H_AUTOCLEAR: usize = 88;
const H_REFCOUNT_ORDER: usize = 96;
const H_HEADER_LEN: usize = 100;
const H_COMPRESSION: usize = 104;
const V2_HEADER: usize = 72;
/// The v3 header QEMU writes (with the compression type, padded).
const V3_HEADER: usize = 112;

const MAGIC: &[u8; 4] = b"QFI\xfb";
const COPIED: u64 = 1 << 63;
const COMPRESSED: u64 = 1 << 62;
const OFFSET_MASK: u64 = 0x00ff_ffff_ffff_fe00;
const L1_RESERVED: u64 = 0x7f00_0000_0000_01ff;
const L2_RESERVED: u64 = 0x3f00_0000_0000_01fe;

const EXT_END: u32 = 0;
const EXT_BACKING_FORMAT: u32 = 0xe279_2aca;
const EXT_FEATURE_TABLE: u32 = 0x6803_f857;
const EXT_DATA_FILE: u32 = 0x4441_5441;
const EXT_BITMAPS: u32 = 0x2385_2875;

// ---- bytes -----------------------------------------------------------------------------------

/// Big-endian `n`-byte field at `at`; bytes beyond the end read as zero (as imago reads a file).
fn get(img: &[u8], at: u64, n: usize) -> u64 {
    (0..n).fold(0, |v, k| {
        let b = at
            .checked_add(k as u64)
            .and_then(|i| img.get(usize::try_from(i).ok()?))
            .copied()
            .unwrap_or(0);
        v << 8 | b as u64
    })
}

fn get32(img: &[u8], at: usize) -> u32 {
    get(img, at as u64, 4) as u32
}

fn get64(img: &[u8], at: u64) -> u64 {
    get(img, at, 8)
}

/// Stores bytes at `at`, growing the file (within `MAX_FILE`; beyond, the patch is dropped).
fn put_bytes(img: &mut Vec<u8>, at: u64, bytes: &[u8]) {
    let Some(end) = at.checked_add(bytes.len() as u64) else {
        return;
    };
    if end > MAX_FILE as u64 {
        return;
    }
    if img.len() < end as usize {
        img.resize(end as usize, 0);
    }
    img[at as usize..end as usize].copy_from_slice(bytes);
}

fn put32(img: &mut Vec<u8>, at: usize, v: u32) {
    put_bytes(img, at as u64, &v.to_be_bytes());
}

fn put64(img: &mut Vec<u8>, at: u64, v: u64) {
    put_bytes(img, at, &v.to_be_bytes());
}

/// The data pattern of seed images and writes.
fn pattern(p: u8, i: usize) -> u8 {
    p ^ (i as u8).wrapping_mul(31) ^ (i >> 8) as u8
}

/// The header as far as the harness needs it (lenient: anything may be wrong).
struct Hdr {
    version: u32,
    cluster_bits: u32,
    size: u64,
    l1_size: u64,
    l1_offset: u64,
    rt_offset: u64,
    rt_clusters: u64,
    refcount_order: u32,
    header_len: u64,
    backing_offset: u64,
    backing_len: u64,
}

impl Hdr {
    fn parse(img: &[u8]) -> Hdr {
        let version = get32(img, H_VERSION);
        Hdr {
            version,
            cluster_bits: get32(img, H_CLUSTER_BITS),
            size: get64(img, H_SIZE as u64),
            l1_size: get32(img, H_L1_SIZE) as u64,
            l1_offset: get64(img, H_L1_OFFSET as u64),
            rt_offset: get64(img, H_RT_OFFSET as u64),
            rt_clusters: get32(img, H_RT_CLUSTERS) as u64,
            refcount_order: if version == 3 {
                get32(img, H_REFCOUNT_ORDER)
            } else {
                4
            },
            header_len: if version == 3 {
                get32(img, H_HEADER_LEN) as u64
            } else {
                V2_HEADER as u64
            },
            backing_offset: get64(img, H_BACKING_OFFSET as u64),
            backing_len: get32(img, H_BACKING_LEN) as u64,
        }
    }

    /// cluster_bits within what qcow2 allows, so shifts stay meaningful.
    fn cb(&self) -> u32 {
        self.cluster_bits.clamp(9, 21)
    }

    fn cluster(&self) -> u64 {
        1 << self.cb()
    }

    /// Where the header extensions end (after the end marker), or the v2 header's end.
    fn extensions_end(&self, img: &[u8]) -> u64 {
        if self.version != 3 {
            return V2_HEADER as u64;
        }
        let mut at = self.header_len.clamp(V3_HEADER as u64 - 8, self.cluster());
        while at + 8 <= self.cluster() {
            let ty = get(img, at, 4) as u32;
            let len = get(img, at + 4, 4);
            at += 8 + len.next_multiple_of(8);
            if ty == EXT_END {
                break;
            }
        }
        at
    }
}

// ---- refcounts -------------------------------------------------------------------------------

/// Refcount `j` of a refcount block (entries of 2^order bits, big-endian; sub-byte ones packed
/// from the low bits, as QEMU and imago do).
fn refcount(block: &[u8], at: u64, order: u32, j: u64) -> u64 {
    match order {
        0..=2 => {
            let bits = 1u64 << order;
            let byte = get(block, at + (j * bits) / 8, 1);
            (byte >> ((j * bits) % 8)) & ((1 << bits) - 1)
        }
        _ => get(block, at + j * (1 << (order - 3)), 1 << (order - 3)),
    }
}

fn set_refcount(img: &mut Vec<u8>, at: u64, order: u32, j: u64, v: u64) {
    match order {
        0..=2 => {
            let bits = 1u64 << order;
            let byte_at = at + (j * bits) / 8;
            let shift = (j * bits) % 8;
            let mask = ((1u64 << bits) - 1) << shift;
            let old = get(img, byte_at, 1);
            put_bytes(
                img,
                byte_at,
                &[((old & !mask) | ((v << shift) & mask)) as u8],
            );
        }
        3..=6 => {
            let n = 1usize << (order - 3);
            put_bytes(img, at + j * n as u64, &v.to_be_bytes()[8 - n..]);
        }
        _ => {}
    }
}

/// The host range a compressed L2 entry points at.
fn compressed_range(x: u64, cb: u32) -> (u64, u64) {
    let bits = 62 - (cb - 8);
    let desc = x & !(COPIED | COMPRESSED);
    let off = desc & ((1 << bits) - 1) & 0x00ff_ffff_ffff_ffff;
    let sectors = desc >> bits;
    (off, (sectors + 1) * 512 - (off & 511))
}

// ---- images ----------------------------------------------------------------------------------

/// A guest cluster of a built image.
#[derive(Clone, Copy)]
pub(crate) enum Guest {
    /// Allocated, filled with `pattern(p, _)`.
    Data(u8),
    /// A zero cluster (v3).
    Zero,
    /// Compressed (a stored deflate block of `pattern(p, _)`).
    Compressed(u8),
}

/// A small, consistent qcow2 image: what `qemu-img create` and `qemu-io` would make.
pub(crate) struct Spec<'a> {
    pub version: u32,
    /// 9..=15 (the stored deflate blocks of compressed clusters hold up to 64 KiB).
    pub cluster_bits: u32,
    pub size: u64,
    /// 4 for version 2.
    pub refcount_order: u32,
    /// Backing file name and format.
    pub backing: Option<(&'a str, Option<&'a str>)>,
    /// Guest clusters (all below the first L2 table's reach).
    pub clusters: &'a [(u64, Guest)],
}

/// Builds the image: header (extensions and backing name in cluster 0), refcount table, one
/// refcount block, L1 table, one L2 table, then the data clusters.
pub(crate) fn build(s: &Spec) -> Vec<u8> {
    let cb = s.cluster_bits;
    let c = 1u64 << cb;
    let per_l1 = c * (c / 8);
    let (rt, rb, l1, l2) = (c, 2 * c, 3 * c, 4 * c);
    let mut img = vec![0u8; 5 * c as usize];
    let mut next = 5 * c;
    for &(g, kind) in s.clusters {
        let e = match kind {
            Guest::Data(p) => {
                let data: Vec<u8> = (0..c as usize).map(|i| pattern(p, i)).collect();
                put_bytes(&mut img, next, &data);
                next += c;
                (next - c) | COPIED
            }
            Guest::Zero => 1,
            Guest::Compressed(p) => {
                // One final stored block: header bit, LEN, NLEN, the bytes.
                let mut z = vec![1u8];
                z.extend((c as u16).to_le_bytes());
                z.extend((!(c as u16)).to_le_bytes());
                z.extend((0..c as usize).map(|i| pattern(p, i)));
                put_bytes(&mut img, next, &z);
                let off = next;
                next += (z.len() as u64).div_ceil(c) * c;
                let sectors = (z.len() as u64 - 1) / 512;
                COMPRESSED | sectors << (62 - (cb - 8)) | off
            }
        };
        put64(&mut img, l2 + 8 * g, e);
    }
    img.resize(next as usize, 0);
    // Every cluster so far is used once.
    for k in 0..next / c {
        set_refcount(&mut img, rb, s.refcount_order, k, 1);
    }
    put64(&mut img, rt, rb);
    put64(&mut img, l1, l2 | COPIED);

    put_bytes(&mut img, 0, MAGIC);
    put32(&mut img, H_VERSION, s.version);
    put32(&mut img, H_CLUSTER_BITS, cb);
    put64(&mut img, H_SIZE as u64, s.size);
    put32(&mut img, H_L1_SIZE, s.size.div_ceil(per_l1).max(1) as u32);
    put64(&mut img, H_L1_OFFSET as u64, l1);
    put64(&mut img, H_RT_OFFSET as u64, rt);
    put32(&mut img, H_RT_CLUSTERS, 1);
    let mut at = V2_HEADER as u64;
    if s.version == 3 {
        put32(&mut img, H_REFCOUNT_ORDER, s.refcount_order);
        put32(&mut img, H_HEADER_LEN, V3_HEADER as u32);
        at = V3_HEADER as u64;
        let mut ext = |img: &mut Vec<u8>, ty: u32, data: &[u8]| {
            put32(img, at as usize, ty);
            put32(img, at as usize + 4, data.len() as u32);
            put_bytes(img, at + 8, data);
            at += 8 + (data.len() as u64).next_multiple_of(8);
        };
        if let Some((_, Some(f))) = s.backing {
            ext(&mut img, EXT_BACKING_FORMAT, f.as_bytes());
        }
        let mut table = Vec::new();
        for (ty, bit, name) in [
            (0u8, 0u8, "dirty bit"),
            (0, 1, "corrupt bit"),
            (1, 0, "lazy refcounts"),
        ] {
            let mut e = [0u8; 48];
            e[0] = ty;
            e[1] = bit;
            e[2..2 + name.len()].copy_from_slice(name.as_bytes());
            table.extend(e);
        }
        ext(&mut img, EXT_FEATURE_TABLE, &table);
        ext(&mut img, EXT_END, &[]);
    }
    if let Some((name, _)) = s.backing {
        put64(&mut img, H_BACKING_OFFSET as u64, at);
        put32(&mut img, H_BACKING_LEN, name.len() as u32);
        put_bytes(&mut img, at, name.as_bytes());
    }
    img
}

// ---- the directory ---------------------------------------------------------------------------

/// Backing images the harness provides, by file name.
fn bases() -> &'static [(&'static str, Vec<u8>)] {
    static B: std::sync::OnceLock<Vec<(&'static str, Vec<u8>)>> = std::sync::OnceLock::new();
    B.get_or_init(|| {
        vec![
            // Shorter than most top images, and not whole sectors.
            ("base.raw", (0..3000).map(|i| pattern(0x5a, i)).collect()),
            (
                "base.qcow2",
                build(&Spec {
                    version: 3,
                    cluster_bits: 9,
                    size: 8 << 9,
                    refcount_order: 4,
                    backing: None,
                    clusters: &[(1, Guest::Data(0x77)), (3, Guest::Zero)],
                }),
            ),
            // A chain: mid.qcow2 -> base.raw.
            (
                "mid.qcow2",
                build(&Spec {
                    version: 3,
                    cluster_bits: 9,
                    size: 12 << 9,
                    refcount_order: 4,
                    backing: Some(("base.raw", Some("raw"))),
                    clusters: &[(2, Guest::Data(0x33))],
                }),
            ),
        ]
    })
}

const TOP: &str = "top.qcow2";

/// This thread's directory, created for one input and removed with everything in it after.
struct Dir(PathBuf);

impl Dir {
    fn new() -> Dir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        thread_local! {
            static PATH: PathBuf = std::env::temp_dir().join(format!(
                "lpar-fuzz-qcow2-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
        }
        let p = PATH.with(|p| p.clone());
        std::fs::create_dir_all(&p).expect("create the image directory");
        Dir(p)
    }

    fn top(&self) -> PathBuf {
        self.0.join(TOP)
    }

    fn write_bases(&self) {
        for (name, bytes) in bases() {
            std::fs::write(self.0.join(name), bytes).expect("write a backing image");
        }
    }

    /// The backing images are only ever read.
    fn check_bases(&self) {
        for (name, bytes) in bases() {
            if let Ok(now) = std::fs::read(self.0.join(name)) {
                assert!(now == *bytes, "backing image {name} was modified");
            }
        }
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Rewrites the backing file name the header points at so that it cannot name anything outside
/// `dir`: a '/' is allowed only in `dir/` at the start, "." and ".." are replaced. Every byte imago
/// could read as the name is covered (bytes beyond the file read as NUL, an invalid name).
fn confine_backing(img: &mut [u8], dir: &Path) {
    let h = Hdr::parse(img);
    if h.backing_offset == 0 {
        return;
    }
    let start = h.backing_offset.min(img.len() as u64) as usize;
    let end = h
        .backing_offset
        .saturating_add(h.backing_len)
        .min(img.len() as u64) as usize;
    let name = &mut img[start..end];
    let prefix = format!("{}/", dir.display()).into_bytes();
    let leaf = if name.starts_with(&prefix) {
        &mut name[prefix.len()..]
    } else {
        name
    };
    for b in leaf.iter_mut() {
        if *b == b'/' {
            *b = b'_';
        }
    }
    if matches!(&*leaf, b"." | b"..") {
        leaf.fill(b'_');
    }
}

// ---- patches ---------------------------------------------------------------------------------

/// A host offset: a cluster in or just past the file, unaligned, the end, huge or wild.
fn host_offset(inp: &mut Input, c: u64, file: u64) -> u64 {
    match inp.u8() % 10 {
        0 => 0,
        1..=3 => c * (inp.u8() as u64 % (file / c + 2)),
        4 => c * (inp.u8() as u64 % (file / c + 1)) + 1 + inp.u16() as u64 % (c - 1),
        5 => file.next_multiple_of(c),
        6 => file.next_multiple_of(c).saturating_sub(c),
        7 => 1 << (inp.u8() % 64),
        8 => !(c - 1) - c * inp.u8() as u64,
        _ => inp.u64(),
    }
}

/// A cluster in (or just past) the file.
fn host_cluster(inp: &mut Input, c: u64, file: u64) -> u64 {
    c * (inp.u8() as u64 % (file / c + 2))
}

fn l1_entry(inp: &mut Input, c: u64, file: u64) -> u64 {
    match inp.u8() % 8 {
        0 => 0,
        1..=3 => host_cluster(inp, c, file) | COPIED,
        4 => host_cluster(inp, c, file),
        5 => host_cluster(inp, c, file) + 512 * (1 + inp.u8() as u64 % 8),
        6 => host_cluster(inp, c, file) | 1 << inp.pick(&[0u32, 1, 8, 56, 62]),
        _ => inp.u64(),
    }
}

/// An L2 entry; `append` receives a valid compressed cluster's bytes to place at the file's end.
fn l2_entry(inp: &mut Input, cb: u32, file: u64, append: &mut Vec<u8>) -> u64 {
    let c = 1u64 << cb;
    let bits = 62 - (cb - 8);
    match inp.u8() % 12 {
        0 => 0,
        1..=3 => host_cluster(inp, c, file) | COPIED,
        4 => host_cluster(inp, c, file),
        5 => 1,
        6 => host_cluster(inp, c, file) | COPIED | 1,
        7 => {
            // A compressed cluster anywhere, of any length.
            let off = host_cluster(inp, c, file) + inp.u16() as u64 % c;
            let sectors = inp.u8() as u64 & ((1 << (cb - 8)) - 1);
            COMPRESSED | sectors << bits | off
        }
        8 if cb <= 15 => {
            // A valid compressed cluster (a stored deflate block) appended to the file.
            let p = inp.u8();
            let off = file.next_multiple_of(512) + 512 * (inp.u8() as u64 % 2);
            append.resize((off - file) as usize, 0);
            append.push(1);
            append.extend((c as u16).to_le_bytes());
            append.extend((!(c as u16)).to_le_bytes());
            append.extend((0..c as usize).map(|i| pattern(p, i)));
            let sectors = (c + 5 - 1 + (off & 511)) / 512;
            COMPRESSED | sectors.min((1 << (cb - 8)) - 1) << bits | off
        }
        9 => host_cluster(inp, c, file) | COPIED | 1 << inp.pick(&[1u32, 8, 56, 61, 62]),
        10 => (host_cluster(inp, c, file) + 512) | COPIED,
        _ => inp.u64(),
    }
}

fn refcount_value(inp: &mut Input) -> u64 {
    match inp.u8() % 6 {
        0 => 0,
        1 | 2 => 1,
        3 => 2,
        4 => u64::MAX,
        _ => inp.u64(),
    }
}

fn patch(inp: &mut Input, img: &mut Vec<u8>, dir: &Path) {
    let h = Hdr::parse(img);
    let (cb, c, file) = (h.cb(), h.cluster(), img.len() as u64);
    let sel = inp.u8() % 20;
    crate::trace!("patch {sel}");
    match sel {
        0 => {
            let v = inp.pick(&[2, 3, 2, 3, 1, 4, 0]);
            put32(img, H_VERSION, v);
        }
        1 => {
            let v = match inp.u8() % 6 {
                0..=2 => 9 + inp.u8() as u32 % 13,
                3 => inp.pick(&[8, 22, 0, 31]),
                4 => inp.pick(&[32, 63, 64]),
                _ => inp.u32(),
            };
            put32(img, H_CLUSTER_BITS, v);
        }
        2 => {
            let per_l1 = c * (c / 8);
            let v = match inp.u8() % 10 {
                0 => 0,
                1 => 512 * inp.u16() as u64,
                2 => c * inp.u8() as u64,
                3 => per_l1.wrapping_mul(h.l1_size),
                4 => per_l1.wrapping_mul(h.l1_size).wrapping_add(512),
                5 => c * inp.u8() as u64 + 1 + inp.u16() as u64 % 511,
                6 => 1 << (inp.u8() % 64),
                7 => 1 << 61,
                8 => u64::MAX - inp.u8() as u64,
                _ => inp.u64(),
            };
            put64(img, H_SIZE as u64, v);
        }
        3 => {
            let v = match inp.u8() % 4 {
                0 => 0,
                1 => 1,
                2 => 2,
                _ => inp.u32(),
            };
            put32(img, H_CRYPT, v);
        }
        4 => {
            let need = h.size.div_ceil(c * (c / 8)).min(u32::MAX as u64) as u32;
            let v = match inp.u8() % 9 {
                0 => 0,
                1 => 1,
                2 => need,
                3 => need.saturating_sub(1),
                4 => need.saturating_add(1 + inp.u8() as u32),
                5 => 4 << 20,
                6 => (4 << 20) + 1,
                7 => u32::MAX,
                _ => inp.u32(),
            };
            put32(img, H_L1_SIZE, v);
        }
        5 => put64(img, H_L1_OFFSET as u64, host_offset(inp, c, file)),
        6 => put64(img, H_RT_OFFSET as u64, host_offset(inp, c, file)),
        7 => {
            let v = match inp.u8() % 7 {
                0 => 0,
                1 | 2 => 1 + inp.u8() as u32 % 3,
                3 => ((8u64 << 20) >> cb) as u32,
                4 => ((8u64 << 20) >> cb) as u32 + 1,
                5 => u32::MAX,
                _ => inp.u32(),
            };
            put32(img, H_RT_CLUSTERS, v);
        }
        8 => {
            let n = inp.pick(&[0, 1, 2, u32::MAX]);
            put32(img, H_NB_SNAPSHOTS, n);
            put64(img, H_SNAPSHOTS_OFFSET as u64, host_offset(inp, c, file));
        }
        9 => {
            let v = match inp.u8() % 4 {
                0 => 0,
                1 | 2 => 1 << (inp.u8() % 64),
                _ => inp.u64(),
            };
            put64(img, H_INCOMPAT as u64, v);
        }
        10 => {
            let at = inp.pick(&[H_COMPAT, H_AUTOCLEAR]);
            let v = match inp.u8() % 4 {
                0 => 0,
                1 | 2 => 1 << (inp.u8() % 64),
                _ => inp.u64(),
            };
            put64(img, at as u64, v);
        }
        11 => {
            let v = match inp.u8() % 4 {
                0..=2 => inp.u8() as u32 % 8,
                _ => inp.u32(),
            };
            put32(img, H_REFCOUNT_ORDER, v);
        }
        12 => {
            let v = match inp.u8() % 6 {
                0 => 104,
                1 => 105,
                2 => 112,
                3 => c as u32,
                4 => c as u32 + 1,
                _ => inp.u32(),
            };
            put32(img, H_HEADER_LEN, v);
        }
        13 => {
            let v = inp.pick(&[0u8, 1, 2, 0xff]);
            put_bytes(img, H_COMPRESSION as u64, &[v]);
        }
        14 => extensions(inp, img, &h),
        15 => backing(inp, img, &h, dir),
        16 => {
            // An L1 entry: the first ones, the last, any.
            let i = match inp.u8() % 4 {
                0 | 1 => inp.u8() as u64 % 2,
                2 => h.l1_size.saturating_sub(1),
                _ => inp.u16() as u64,
            };
            let v = l1_entry(inp, c, file);
            put64(img, h.l1_offset.saturating_add(8 * i), v);
        }
        17 => {
            // An entry of the L2 table the first (or any) L1 entry points at.
            let i = inp.u8() as u64 % 4;
            let l2 = get64(img, h.l1_offset.saturating_add(8 * i)) & OFFSET_MASK;
            let j = match inp.u8() % 3 {
                0 => inp.u8() as u64 % 8,
                1 => c / 8 - 1,
                _ => inp.u16() as u64 % (c / 8),
            };
            let mut append = Vec::new();
            let v = l2_entry(inp, cb, file, &mut append);
            if l2 != 0 && l2 < file {
                put_bytes(img, file, &append);
                put64(img, l2 + 8 * j, v);
            }
        }
        18 => {
            let v = refcount_value(inp);
            if inp.bool() {
                // A refcount table entry.
                let i = inp.u8() as u64 % 4;
                let e = match inp.u8() % 3 {
                    0 => host_offset(inp, c, file),
                    _ => v,
                };
                put64(img, h.rt_offset.saturating_add(8 * i), e);
            } else if h.refcount_order <= 6 {
                // A cluster's refcount in the first refcount block.
                let rb = get64(img, h.rt_offset) & !511;
                let j = inp.u8() as u64 % (file / c + 4);
                if rb != 0 && rb < file {
                    set_refcount(img, rb, h.refcount_order, j, v);
                }
            }
        }
        _ => match inp.u8() % 4 {
            0 => {
                // Raw bytes anywhere in the file.
                let at = inp.u16() as u64 % file.max(1);
                let n = inp.u8() as usize % 16;
                let b = inp.bytes(n).to_vec();
                put_bytes(img, at, &b);
            }
            1 => {
                // Grow by whole clusters.
                let n = 1 + inp.u8() as u64 % 8;
                let len = (file.next_multiple_of(c) + n * c).min(MAX_FILE as u64);
                img.resize(len as usize, 0);
            }
            2 => {
                // Cut: into the header, a table or the last cluster.
                let len = match inp.u8() % 3 {
                    0 => inp.u8() as u64,
                    1 => file.saturating_sub(1 + inp.u16() as u64 % c),
                    _ => inp.u16() as u64 % file.max(1),
                };
                img.truncate(len as usize);
            }
            _ => {
                let len = (file.next_multiple_of(c) + inp.u8() as u64).min(MAX_FILE as u64);
                img.resize(len as usize, 0);
            }
        },
    }
}

/// Rewrites the header extensions (v3: from header_length).
fn extensions(inp: &mut Input, img: &mut Vec<u8>, h: &Hdr) {
    let mut at = if h.version == 3 {
        h.header_len.min(MAX_FILE as u64)
    } else {
        V2_HEADER as u64
    };
    for _ in 0..1 + inp.u8() % 4 {
        let (ty, data): (u32, Vec<u8>) = match inp.u8() % 8 {
            0 => (EXT_END, Vec::new()),
            1 | 2 => {
                let f: &[u8] = match inp.u8() % 6 {
                    0 => b"raw",
                    1 => b"qcow2",
                    2 => b"file",
                    3 => b"vmdk",
                    4 => b"",
                    _ => b"\xff",
                };
                (EXT_BACKING_FORMAT, f.to_vec())
            }
            3 | 4 => {
                // Entries of 48 bytes (type, bit, name), possibly cut anywhere.
                let n = match inp.u8() % 4 {
                    0 => 48 * (inp.u8() as usize % 4),
                    1 => 48 * (inp.u8() as usize % 3) + 1,
                    2 => 48 * (inp.u8() as usize % 3) + 2 + inp.u8() as usize % 46,
                    _ => inp.u8() as usize,
                };
                let ty = inp.pick(&[0u8, 1, 2, 3]);
                let data = (0..n)
                    .map(|i| match i % 48 {
                        0 => ty,
                        1 => i as u8,
                        k => b"feature\0"[k % 8],
                    })
                    .collect();
                (EXT_FEATURE_TABLE, data)
            }
            5 => (EXT_DATA_FILE, b"data.raw".to_vec()),
            6 => (EXT_BITMAPS, vec![0; 24]),
            _ => (inp.u32(), vec![0x5a; inp.u8() as usize % 32]),
        };
        let len = match inp.u8() % 6 {
            0 => u32::MAX - inp.u8() as u32,
            1 => data.len() as u32 + inp.u8() as u32,
            _ => data.len() as u32,
        };
        put32(img, at as usize, ty);
        put32(img, at as usize + 4, len);
        put_bytes(img, at + 8, &data);
        at += 8 + (data.len() as u64).next_multiple_of(8);
        if ty == EXT_END {
            return;
        }
    }
    put64(img, at, 0);
}

/// Sets a backing file name: the harness's images, the image itself, a missing one, the
/// directory, escapes (confined later) or fuzz bytes; at the end of the extensions or anywhere.
fn backing(inp: &mut Input, img: &mut Vec<u8>, h: &Hdr, dir: &Path) {
    let name: Vec<u8> = match inp.u8() % 12 {
        0 | 1 => b"base.raw".to_vec(),
        2 => b"base.qcow2".to_vec(),
        3 => b"mid.qcow2".to_vec(),
        4 => TOP.as_bytes().to_vec(),
        5 => b"missing".to_vec(),
        6 => b"..".to_vec(),
        7 => Vec::new(),
        8 => format!("{}/base.qcow2", dir.display()).into_bytes(),
        9 => format!("{}/{TOP}", dir.display()).into_bytes(),
        10 => b"/etc/passwd".to_vec(),
        _ => {
            let n = inp.u8() as usize % 24;
            inp.bytes(n).to_vec()
        }
    };
    let n = name.len() as u64;
    let c = h.cluster();
    let off = match inp.u8() % 8 {
        0..=2 => h.extensions_end(img),
        3 if h.backing_offset != 0 => h.backing_offset,
        4 => c.saturating_sub(n + 1),
        5 => c.saturating_sub(n),
        6 => 0,
        _ => inp.u16() as u64,
    };
    let len = match inp.u8() % 6 {
        0 => 1023,
        1 => 1024,
        2 => n + 1,
        _ => n,
    };
    put64(img, H_BACKING_OFFSET as u64, off);
    put32(img, H_BACKING_LEN, len as u32);
    if off != 0 {
        put_bytes(img, off, &name);
    }
}

// ---- the model -------------------------------------------------------------------------------

/// Where a guest byte's initial value comes from.
enum Src {
    Zero,
    Host(u64),
    Unknown,
}

/// The tables of a consistent image: every cluster the active tables reference (header, L1,
/// refcount table and blocks, L2 tables, data and compressed clusters) lies in the file, is
/// referenced once (compressed clusters may share one) and has a refcount covering its
/// references; no reserved bits, no unaligned offsets. Then allocation cannot hand out a cluster
/// in use and writes cannot alias, so bytes map as the tables say and writes read back.
struct Layout {
    cb: u32,
    v3: bool,
    l1_offset: u64,
    l1_size: u64,
    backing: bool,
    compressed: bool,
}

struct Refs {
    /// Cluster -> (references, one of them not compressed).
    map: HashMap<u64, (u64, bool)>,
    ok: bool,
}

impl Refs {
    fn add(&mut self, cluster: u64, compressed: bool) -> bool {
        let e = self.map.entry(cluster).or_insert((0, false));
        if e.0 > 0 && (e.1 || !compressed) {
            self.ok = false;
        }
        e.0 += 1;
        e.1 |= !compressed;
        self.ok
    }
}

impl Layout {
    fn consistent(img: &[u8]) -> Option<Layout> {
        let h = Hdr::parse(img);
        if !(9..=21).contains(&h.cluster_bits) || h.refcount_order > 6 {
            return None;
        }
        let (cb, c, file) = (h.cluster_bits, h.cluster(), img.len() as u64);
        let fits = |off: u64, len: u64| off.checked_add(len).is_some_and(|e| e <= file);
        let rt_bytes = h.rt_clusters << cb;
        if !fits(h.l1_offset, 8 * h.l1_size) || !fits(h.rt_offset, rt_bytes) {
            return None;
        }
        let mut refs = Refs {
            map: HashMap::new(),
            ok: true,
        };
        let span = |off: u64, len: u64| (off / c)..(off + len).div_ceil(c);
        refs.add(0, false);
        for k in span(h.l1_offset, 8 * h.l1_size) {
            refs.add(k, false);
        }
        for k in span(h.rt_offset, rt_bytes) {
            refs.add(k, false);
        }
        let rt_entries = rt_bytes / 8;
        for i in 0..rt_entries {
            let e = get64(img, h.rt_offset + 8 * i);
            if !e.is_multiple_of(c) || (e != 0 && !fits(e, c)) {
                return None;
            }
            if e != 0 && !refs.add(e / c, false) {
                return None;
            }
        }
        let mut compressed = false;
        for i in 0..h.l1_size {
            let e = get64(img, h.l1_offset + 8 * i);
            let l2 = e & OFFSET_MASK;
            if e & L1_RESERVED != 0 || !l2.is_multiple_of(c) || (l2 == 0 && e != 0) {
                return None;
            }
            if l2 == 0 {
                continue;
            }
            if !fits(l2, c) || !refs.add(l2 / c, false) {
                return None;
            }
            for j in 0..c / 8 {
                let x = get64(img, l2 + 8 * j);
                if x == 0 {
                    continue;
                }
                if x & COMPRESSED != 0 {
                    let (off, len) = compressed_range(x, cb);
                    if x & COPIED != 0 || !fits(off, len) {
                        return None;
                    }
                    for k in span(off, len) {
                        refs.add(k, true);
                    }
                    compressed = true;
                    continue;
                }
                let off = x & OFFSET_MASK;
                let zero = x & 1 != 0;
                if x & L2_RESERVED != 0
                    || (zero && h.version != 3)
                    || !off.is_multiple_of(c)
                    || (off == 0 && x & COPIED != 0)
                {
                    return None;
                }
                if off != 0 && (!fits(off, c) || !refs.add(off / c, false)) {
                    return None;
                }
            }
        }
        if !refs.ok {
            return None;
        }
        // Refcounts cover the references.
        let rb_entries = (c * 8) >> h.refcount_order;
        for (&k, &(n, _)) in &refs.map {
            let i = k / rb_entries;
            let rb = if i < rt_entries {
                get64(img, h.rt_offset + 8 * i)
            } else {
                0
            };
            let rc = if rb == 0 {
                0
            } else {
                refcount(img, rb, h.refcount_order, k % rb_entries)
            };
            if rc < n {
                return None;
            }
        }
        Some(Layout {
            cb,
            v3: h.version == 3,
            l1_offset: h.l1_offset,
            l1_size: h.l1_size,
            backing: h.backing_offset != 0,
            compressed,
        })
    }

    /// The source of the guest cluster holding `g` (and `g`'s host offset for data).
    fn src(&self, img: &[u8], g: u64) -> Src {
        let c = 1u64 << self.cb;
        let gc = g >> self.cb;
        let i = gc >> (self.cb - 3);
        if i >= self.l1_size {
            return Src::Unknown;
        }
        let unallocated = if self.backing {
            Src::Unknown
        } else {
            Src::Zero
        };
        let l2 = get64(img, self.l1_offset + 8 * i) & OFFSET_MASK;
        if l2 == 0 {
            return unallocated;
        }
        let x = get64(img, l2 + 8 * (gc & (c / 8 - 1)));
        if x & COMPRESSED != 0 {
            return Src::Unknown;
        }
        if self.v3 && x & 1 != 0 {
            return Src::Zero;
        }
        match x & OFFSET_MASK {
            0 => unallocated,
            off => Src::Host(off + (g & (c - 1))),
        }
    }

    /// Whether a guest range touches a compressed cluster (whose data may not inflate).
    fn touches_compressed(&self, img: &[u8], off: u64, len: u64) -> bool {
        if !self.compressed {
            return false;
        }
        let c = 1u64 << self.cb;
        let mut g = off & !(c - 1);
        while g < off + len {
            let gc = g >> self.cb;
            let i = gc >> (self.cb - 3);
            let l2 = get64(img, self.l1_offset + 8 * i) & OFFSET_MASK;
            if i < self.l1_size
                && l2 != 0
                && get64(img, l2 + 8 * (gc & (c / 8 - 1))) & COMPRESSED != 0
            {
                return true;
            }
            g += c;
        }
        false
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Raw,
    Qcow2,
}

/// What the disk holds, as far as known: the initial contents (raw file, or a consistent qcow2
/// image's tables), then every read's and write's bytes in order (None: unknown after a failed
/// write).
struct Model {
    kind: Kind,
    /// The file when the model was made.
    img: Vec<u8>,
    layout: Option<Layout>,
    /// Writes have been attempted: an inconsistent image may then alias anything.
    wrote: bool,
    extents: Vec<(u64, u64, Option<Vec<u8>>)>,
}

impl Model {
    fn new(kind: Kind, img: Vec<u8>) -> Model {
        let layout = match kind {
            Kind::Raw => None,
            Kind::Qcow2 => Layout::consistent(&img),
        };
        let m = Model {
            kind,
            img,
            layout,
            wrote: false,
            extents: Vec::new(),
        };
        crate::trace!("model {kind:?}, strict: {}", m.strict());
        m
    }

    /// Reads and writes must behave (succeed inside the disk, read back).
    fn strict(&self) -> bool {
        self.kind == Kind::Raw || self.layout.is_some()
    }

    fn checking(&self) -> bool {
        self.strict() || !self.wrote
    }

    /// A request inside the disk may fail (compressed data that does not inflate).
    fn may_fail(&self, off: u64, len: u64) -> bool {
        match &self.layout {
            Some(l) => l.touches_compressed(&self.img, off, len),
            None => self.kind == Kind::Qcow2,
        }
    }

    fn expected(&self, off: u64, len: u64) -> Vec<Option<u8>> {
        let mut v: Vec<Option<u8>> = match (&self.layout, self.kind) {
            (_, Kind::Raw) => (off..off + len)
                .map(|g| self.img.get(g as usize).copied())
                .collect(),
            (Some(l), _) => {
                // A cluster at a time: the same source for all its bytes.
                let c = 1u64 << l.cb;
                let mut v = Vec::with_capacity(len as usize);
                let mut g = off;
                while g < off + len {
                    let end = ((g | (c - 1)) + 1).min(off + len);
                    match l.src(&self.img, g) {
                        Src::Zero => v.resize(v.len() + (end - g) as usize, Some(0)),
                        Src::Unknown => v.resize(v.len() + (end - g) as usize, None),
                        Src::Host(h) => v.extend(
                            (h..h + (end - g))
                                .map(|k| Some(self.img.get(k as usize).copied().unwrap_or(0))),
                        ),
                    }
                    g = end;
                }
                v
            }
            (None, _) => vec![None; len as usize],
        };
        for (o, l, data) in &self.extents {
            let (lo, hi) = ((*o).max(off), (o + l).min(off + len));
            for g in lo..hi {
                v[(g - off) as usize] = data.as_ref().map(|d| d[(g - o) as usize]);
            }
        }
        v
    }

    fn record(&mut self, off: u64, data: Option<Vec<u8>>, len: u64) {
        if len > 0 {
            self.extents.push((off, len, data));
        }
    }
}

// ---- the file ---------------------------------------------------------------------------------

/// Data in a file beyond which the harness stops comparing it.
const SNAPSHOT_MAX: u64 = 64 << 20;
/// Files the model reads whole.
const MODEL_MAX: u64 = 4 << 20;

/// A file's length and data regions. Writes through a corrupt image's tables can land at wild
/// host offsets (as in QEMU), leaving a huge sparse file: holes are skipped (SEEK_DATA).
#[derive(PartialEq, Eq)]
struct Snapshot {
    len: u64,
    /// None: more than `SNAPSHOT_MAX` bytes of data.
    data: Option<Vec<(u64, Vec<u8>)>>,
}

impl Snapshot {
    fn take(path: &Path) -> Snapshot {
        use std::os::unix::fs::FileExt;
        use std::os::unix::io::AsRawFd;
        let f = std::fs::File::open(path).expect("open the image");
        let len = f.metadata().expect("image metadata").len();
        let fd = f.as_raw_fd();
        let (mut data, mut pos, mut total) = (Vec::new(), 0u64, 0u64);
        while pos < len {
            // SAFETY (both): lseek on a descriptor we own.
            let d = unsafe { libc::lseek(fd, pos as libc::off_t, libc::SEEK_DATA) };
            if d < 0 {
                break;
            }
            let h = unsafe { libc::lseek(fd, d, libc::SEEK_HOLE) };
            let (d, h) = (d as u64, (h.max(d) as u64).min(len));
            total += h - d;
            if total > SNAPSHOT_MAX {
                return Snapshot { len, data: None };
            }
            let mut b = vec![0u8; (h - d) as usize];
            f.read_exact_at(&mut b, d).expect("read the image");
            data.push((d, b));
            pos = h.max(d + 1);
        }
        Snapshot {
            len,
            data: Some(data),
        }
    }

    /// The file's bytes (holes as zeros), if small enough.
    fn bytes(&self) -> Option<Vec<u8>> {
        if self.len > MODEL_MAX {
            return None;
        }
        let mut v = vec![0u8; self.len as usize];
        for (at, b) in self.data.as_ref()? {
            v[*at as usize..*at as usize + b.len()].copy_from_slice(b);
        }
        Some(v)
    }

    /// The first bytes (the header), holes as zeros.
    fn head(&self) -> Vec<u8> {
        let mut v = vec![0u8; self.len.min(4096) as usize];
        for (at, b) in self.data.iter().flatten() {
            for (k, x) in b.iter().enumerate() {
                match v.get_mut(*at as usize + k) {
                    Some(y) => *y = *x,
                    None => break,
                }
            }
        }
        v
    }

    /// Unchanged, as far as can be told.
    fn same(&self, other: &Snapshot) -> bool {
        self.len == other.len && (self.data.is_none() || other.data.is_none() || self == other)
    }
}

// ---- the harness -----------------------------------------------------------------------------

struct Harness {
    dir: Dir,
    disk: Option<Arc<dyn BlockBackend>>,
    /// The file before the current read-only open, to compare when it closes.
    ro_before: Option<Snapshot>,
    model: Option<Model>,
    cluster: u64,
    prev: u64,
    last_write: (u64, u64),
}

impl Harness {
    fn close(&mut self) {
        self.disk = None;
        if let Some(before) = self.ro_before.take() {
            let now = Snapshot::take(&self.dir.top());
            assert!(now.same(&before), "a read-only open modified the image");
        }
    }

    /// Opens (or reopens): bit 0 read-only, bit 1 probe the format.
    fn open(&mut self, mode: u8) {
        self.close();
        let (read_only, probe) = (mode & 1 != 0, mode & 2 != 0);
        let path = self.dir.top();
        let before = Snapshot::take(&path);
        let o = Options {
            path: path.clone(),
            format: (!probe).then_some(Format::Qcow2),
            read_only,
            // Flushes write metadata without waiting for the host disk.
            cache: Cache::Unsafe,
            // The per-thread directory may be on tmpfs, which has no O_DIRECT.
            direct: false,
            snapshot: false,
        };
        let r = block::open(&o);
        crate::trace!(
            "open read_only={read_only} probe={probe}: {}",
            r.as_ref()
                .map_or_else(|e| e.clone(), |d| format!("size {}", d.size()))
        );
        let disk = match r {
            Ok(d) => d,
            Err(e) => {
                assert!(
                    e.starts_with(&format!("{}: ", path.display())) && !e.contains('\n'),
                    "not one line naming the image: {e:?}"
                );
                if read_only {
                    let now = Snapshot::take(&path);
                    assert!(
                        now.same(&before),
                        "a failed read-only open modified the image"
                    );
                }
                return;
            }
        };
        assert_eq!(disk.read_only(), read_only);
        let head = before.head();
        let kind = if probe && !head.starts_with(MAGIC) {
            Kind::Raw
        } else {
            Kind::Qcow2
        };
        let h = Hdr::parse(&head);
        let want = match kind {
            Kind::Raw => before.len,
            Kind::Qcow2 => h.size,
        } & !511;
        assert_eq!(disk.size(), want, "size of the {kind:?} disk");
        self.cluster = if kind == Kind::Qcow2 {
            h.cluster()
        } else {
            512
        };
        if self.model.as_ref().map(|m| m.kind) != Some(kind) {
            // A file too large to read whole goes unmodelled.
            self.model = before.bytes().map(|b| Model::new(kind, b));
        }
        if read_only {
            self.ro_before = Some(before);
        }
        self.disk = Some(disk);
    }

    fn offset(&mut self, inp: &mut Input, size: u64, len: u64) -> u64 {
        let c = self.cluster;
        let off = match inp.u8() % 12 {
            0 => 0,
            1 | 2 => c * inp.u8() as u64,
            3 => (c * (1 + inp.u8() as u64)).saturating_sub(1 + inp.u16() as u64 % 1024),
            4 => size.saturating_sub(len),
            5 => size.saturating_sub(len).wrapping_add(1 + inp.u8() as u64),
            6 => size.wrapping_add(512 * inp.u8() as u64),
            7 => u64::MAX - inp.u16() as u64,
            8 => self.prev,
            9 => inp.u32() as u64 % size.max(1),
            10 => 1 << (inp.u8() % 64),
            _ => inp.u64(),
        };
        self.prev = off;
        off
    }

    fn length(&self, inp: &mut Input) -> u64 {
        let c = self.cluster;
        match inp.u8() % 10 {
            0 => 0,
            1 => 1 + inp.u8() as u64 % 16,
            2 | 3 => 512 * (1 + inp.u8() as u64 % 8),
            4 => c,
            5 => c + 512,
            6 => 2 * c + inp.u16() as u64 % c,
            7 => c - 1,
            _ => inp.u16() as u64,
        }
        .min(MAX_LEN)
    }

    /// One read or write of `len` bytes at `off`, the buffer cut into up to three iovecs.
    fn io(&mut self, inp: &mut Input, write: bool, off: u64, len: u64) {
        let Some(disk) = self.disk.clone() else {
            return;
        };
        let (size, read_only) = (disk.size(), disk.read_only());
        let p = inp.u8();
        let mut buf: Vec<u8> = if write {
            (0..len as usize).map(|i| pattern(p, i)).collect()
        } else {
            vec![0xee; len as usize]
        };
        let mut cuts = [inp.u16() as usize, inp.u16() as usize].map(|k| match k % 4 {
            0 => 0,
            1 => len as usize,
            2 => 512.min(len as usize),
            _ => k % (len as usize + 1),
        });
        if inp.u8().is_multiple_of(2) {
            cuts = [len as usize; 2];
        }
        cuts.sort_unstable();
        let base = buf.as_mut_ptr();
        let iov: Vec<libc::iovec> = [(0, cuts[0]), (cuts[0], cuts[1]), (cuts[1], len as usize)]
            .iter()
            .map(|&(a, b)| libc::iovec {
                // Pointer arithmetic within `buf`.
                iov_base: base.wrapping_add(a) as *mut libc::c_void,
                iov_len: b - a,
            })
            .collect();
        // SAFETY: the iovecs cover `buf`, which lives across the call.
        let r = unsafe {
            if write {
                disk.writev(&iov, off)
            } else {
                disk.readv(&iov, off)
            }
        };
        crate::trace!(
            "{} {off:#x}+{len:#x} {:?}: {:?}",
            if write { "write" } else { "read" },
            cuts,
            r.as_ref().err()
        );
        let inside = off.checked_add(len).is_some_and(|e| e <= size);
        if !inside {
            assert!(
                r.is_err(),
                "request {off:#x}+{len:#x} beyond the end ({size:#x}) succeeded"
            );
            return;
        }
        if write && read_only {
            assert!(r.is_err(), "a read-only disk accepted a write");
            return;
        }
        let Some(m) = self.model.as_mut() else {
            return;
        };
        if write {
            m.wrote = true;
        }
        if r.is_err() {
            assert!(
                !m.strict() || m.may_fail(off, len),
                "{} {off:#x}+{len:#x} inside a consistent image failed: {:?}",
                if write { "write" } else { "read" },
                r.err()
            );
            if write {
                m.record(off, None, len);
            }
            return;
        }
        if write {
            self.last_write = (off, len);
        } else if m.checking() {
            for (k, (got, want)) in buf.iter().zip(m.expected(off, len)).enumerate() {
                if let Some(w) = want {
                    assert_eq!(
                        *got,
                        w,
                        "byte {:#x} (read {off:#x}+{len:#x}, model {})",
                        off + k as u64,
                        if m.strict() {
                            "of a consistent image"
                        } else {
                            "of earlier reads"
                        }
                    );
                }
            }
        }
        if m.checking() {
            m.record(off, Some(buf), len);
        }
    }

    /// Operations: 0-2 read, 3-5 write, 6 flush, 7 reopen, 8 reread around the last write (a
    /// cluster either side), 9 a request at the end of the disk.
    fn op(&mut self, inp: &mut Input) {
        let size = self.disk.as_ref().map_or(0, |d| d.size());
        match inp.u8() % 10 {
            sel @ 0..=5 => {
                let len = self.length(inp);
                let off = self.offset(inp, size, len);
                self.io(inp, sel >= 3, off, len);
            }
            6 => {
                if let Some(d) = &self.disk {
                    let r = d.flush();
                    crate::trace!("flush: {r:?}");
                    if self.model.as_ref().is_some_and(|m| m.strict()) {
                        assert!(r.is_ok(), "flush of a consistent image failed: {r:?}");
                    }
                }
            }
            7 => self.open(inp.u8()),
            8 => {
                let c = self.cluster;
                let (o, l) = self.last_write;
                let off = (o & !(c - 1)).saturating_sub(c);
                let len = (o + l - off).next_multiple_of(c) + c;
                let len = len.min(MAX_LEN).min(size.saturating_sub(off));
                self.io(inp, false, off, len);
            }
            _ => {
                let write = inp.bool();
                let len = self.length(inp);
                let off = size.saturating_sub(inp.u16() as u64 % (2 * self.cluster));
                self.io(inp, write, off, len);
            }
        }
    }
}

pub fn qcow2(data: &[u8]) {
    let mut inp = Input::new(data);
    let mode = inp.u8();
    let n = inp.u16() as usize;
    let mut img = inp.bytes(n).to_vec();
    let dir = Dir::new();
    for _ in 0..inp.u8() % (MAX_PATCHES + 1) {
        patch(&mut inp, &mut img, &dir.0);
    }
    confine_backing(&mut img, &dir.0);
    std::fs::write(dir.top(), &img).expect("write the image");
    let with_bases = Hdr::parse(&img).backing_offset != 0;
    if with_bases {
        dir.write_bases();
    }
    let mut h = Harness {
        dir,
        disk: None,
        ro_before: None,
        model: None,
        cluster: 512,
        prev: 0,
        last_write: (0, 0),
    };
    h.open(mode);
    for _ in 0..MAX_OPS {
        if inp.is_empty() {
            break;
        }
        h.op(&mut inp);
    }
    h.close();
    if with_bases {
        h.dir.check_bases();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn qemu_img(args: &[&str]) -> String {
        let out = Command::new("qemu-img")
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("qemu-img: {e} (install qemu-utils)"));
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "qemu-img {args:?}: {text}");
        text
    }

    /// The guest contents `s` describes over `backing`.
    fn contents(s: &Spec, backing: &[u8]) -> Vec<u8> {
        let c = 1usize << s.cluster_bits;
        let mut v: Vec<u8> = (0..s.size as usize)
            .map(|i| backing.get(i).copied().unwrap_or(0))
            .collect();
        for &(g, kind) in s.clusters {
            let at = g as usize * c;
            for i in 0..c {
                v[at + i] = match kind {
                    Guest::Data(p) | Guest::Compressed(p) => pattern(p, i),
                    Guest::Zero => 0,
                };
            }
        }
        v
    }

    /// The images the seeds and backing files are built from are what QEMU makes: `qemu-img
    /// check` finds no error, and QEMU reads the contents they describe.
    #[test]
    fn built_images_pass_qemu_img_check() {
        let dir = Dir::new();
        dir.write_bases();
        let base_raw = &bases()[0].1;
        let specs = [
            (
                Spec {
                    version: 3,
                    cluster_bits: 9,
                    size: 64 << 10,
                    refcount_order: 4,
                    backing: None,
                    clusters: &[(0, Guest::Data(1)), (3, Guest::Zero), (7, Guest::Data(2))],
                },
                Vec::new(),
            ),
            (
                Spec {
                    version: 3,
                    cluster_bits: 10,
                    size: 32 << 10,
                    refcount_order: 0,
                    backing: None,
                    clusters: &[(1, Guest::Compressed(0x3c)), (2, Guest::Data(0x44))],
                },
                Vec::new(),
            ),
            (
                Spec {
                    version: 2,
                    cluster_bits: 9,
                    size: 40 << 10,
                    refcount_order: 4,
                    backing: None,
                    clusters: &[(0, Guest::Data(0x66)), (5, Guest::Compressed(7))],
                },
                Vec::new(),
            ),
            (
                Spec {
                    version: 3,
                    cluster_bits: 9,
                    size: 16 << 10,
                    refcount_order: 6,
                    backing: Some(("base.raw", Some("raw"))),
                    clusters: &[(1, Guest::Data(0x21))],
                },
                base_raw.clone(),
            ),
        ];
        let path = dir.top();
        let p = path.to_str().expect("UTF-8 path");
        for (s, backing) in &specs {
            std::fs::write(&path, build(s)).expect("write");
            let out = qemu_img(&["check", "-f", "qcow2", p]);
            assert!(out.contains("No errors were found"), "{out}");
            let raw = dir.0.join("out.raw");
            qemu_img(&[
                "convert",
                "-f",
                "qcow2",
                "-O",
                "raw",
                p,
                raw.to_str().expect("path"),
            ]);
            let got = std::fs::read(&raw).expect("read");
            assert!(
                got == contents(s, backing),
                "contents of a v{} image",
                s.version
            );
            // Consistent by the harness's rules too.
            assert!(Layout::consistent(&build(s)).is_some());
        }
        for (name, bytes) in &bases()[1..] {
            let out = qemu_img(&[
                "check",
                "-f",
                "qcow2",
                dir.0.join(name).to_str().expect("path"),
            ]);
            assert!(out.contains("No errors were found"), "{name}: {out}");
            assert!(Layout::consistent(bytes).is_some(), "{name}");
        }
    }

    #[test]
    fn backing_names_stay_in_the_directory() {
        let dir = Path::new("/tmp/d");
        for (name, want) in [
            (&b"/etc/passwd"[..], &b"_etc_passwd"[..]),
            (b"..", b"__"),
            (b"../x", b".._x"),
            (b"/tmp/d/base.raw", b"/tmp/d/base.raw"),
            (b"/tmp/d/../x", b"/tmp/d/.._x"),
            (b"/tmp/d/..", b"/tmp/d/__"),
            (b"/tmp/dx/y", b"_tmp_dx_y"),
        ] {
            let mut img = vec![0u8; 200];
            put64(&mut img, H_BACKING_OFFSET as u64, 120);
            put32(&mut img, H_BACKING_LEN, name.len() as u32);
            put_bytes(&mut img, 120, name);
            confine_backing(&mut img, dir);
            assert_eq!(&img[120..120 + name.len()], want);
        }
    }
}
