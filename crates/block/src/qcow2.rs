//! qcow2 images (versions 2 and 3) through the `imago` crate: reads, sparse writes with
//! refcounted cluster allocation, zlib-compressed clusters (read; rewritten on write), and backing
//! chains of qcow2 and raw layers.
//!
//! imago does the format; this file does what lpar needs around it: locking every file of the
//! chain, opening the backing chain itself (so each layer is locked, checked, and named in
//! errors), and validating the header before imago sees it — imago accepts encrypted images as if
//! they were plain and reads tables lying beyond the end of the file as zeroes, and its
//! allocations follow header fields, so those are checked here first.

use crate::{check_range, BlockBackend, Cache, Format, Options};
use imago::file::File as ImagoFile;
use imago::io_buffers::{IoVector, IoVectorMut};
use imago::qcow2::Qcow2 as ImagoQcow2;
use imago::raw::Raw as ImagoRaw;
use imago::FormatAccess;
use std::fs::File;
use std::io::{self, IoSlice, IoSliceMut};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

/// One layer of an image chain, as imago drives it.
type Layer = FormatAccess<ImagoFile>;

pub struct Qcow2 {
    image: Layer,
    size: u64,
    read_only: bool,
    cache: Cache,
}

impl Qcow2 {
    pub fn open(o: &Options) -> Result<Qcow2, String> {
        Qcow2::open_as(o, Format::Qcow2)
    }

    /// Opens `o.path` as a `format` image through imago (a raw one only for direct I/O, see
    /// `crate::open`).
    pub fn open_as(o: &Options, format: Format) -> Result<Qcow2, String> {
        let mut seen = Vec::new();
        let image = open_layer(&o.path, format, !o.read_only, o.direct, &mut seen)?;
        Ok(Qcow2 {
            // The guest sees whole sectors; a partial tail sector is not addressable.
            size: image.size() & !511,
            image,
            read_only: o.read_only,
            cache: o.cache,
        })
    }

    /// Writes imago's cached metadata (L2 tables, refcounts) to the file and, unless
    /// `cache=unsafe`, makes the file durable.
    fn commit(&self) -> io::Result<()> {
        self.image.flush()?;
        match self.cache {
            Cache::Unsafe => Ok(()),
            _ => self.image.sync(),
        }
    }
}

impl BlockBackend for Qcow2 {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_only(&self) -> bool {
        self.read_only
    }

    unsafe fn readv(&self, iov: &[libc::iovec], offset: u64) -> io::Result<()> {
        check_range(self.size, iov, offset)?;
        let bufs: Vec<IoSliceMut> = iov
            .iter()
            .filter(|v| v.iov_len > 0)
            .map(|v| {
                // SAFETY: the caller guarantees each iovec is writable memory for this call.
                IoSliceMut::new(unsafe {
                    std::slice::from_raw_parts_mut(v.iov_base as *mut u8, v.iov_len)
                })
            })
            .collect();
        self.image.readv(IoVectorMut::from(bufs), offset)
    }

    unsafe fn writev(&self, iov: &[libc::iovec], offset: u64) -> io::Result<()> {
        if self.read_only {
            return Err(io::Error::from_raw_os_error(libc::EROFS));
        }
        check_range(self.size, iov, offset)?;
        let bufs: Vec<IoSlice> = iov
            .iter()
            .filter(|v| v.iov_len > 0)
            .map(|v| {
                // SAFETY: the caller guarantees each iovec is readable memory for this call.
                IoSlice::new(unsafe {
                    std::slice::from_raw_parts(v.iov_base as *const u8, v.iov_len)
                })
            })
            .collect();
        self.image.writev(IoVector::from(bufs), offset)?;
        // Writethrough: QEMU's meaning for qcow2 is a flush after every write, metadata included.
        if self.cache == Cache::Writethrough {
            self.commit()?;
        }
        Ok(())
    }

    fn flush(&self) -> io::Result<()> {
        if self.read_only {
            return Ok(());
        }
        self.commit()
    }
}

/// Turns on O_DIRECT for an open image, or says the file system cannot do it.
fn set_direct(file: &File) -> Result<(), String> {
    use std::os::unix::io::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on a descriptor we own, with no pointer arguments.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    // SAFETY: as above.
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_DIRECT) } < 0 {
        let e = io::Error::last_os_error();
        return Err(match e.raw_os_error() {
            Some(libc::EINVAL) => {
                "cache=none (O_DIRECT): not supported by this file system (use cache=writeback)"
                    .into()
            }
            _ => format!("cache=none (O_DIRECT): {e}"),
        });
    }
    Ok(())
}

/// imago's errors may carry context over several lines; ours are one line.
fn one_line(e: impl std::fmt::Display) -> String {
    e.to_string().replace('\n', "; ")
}

/// Backing chains longer than this are refused rather than opened without end.
const MAX_CHAIN: usize = 256;

/// Opens (and locks) one layer of a chain and, recursively, its backing layers; only the top one
/// may be `writable`. `seen` holds (device, inode) of the layers above, to refuse loops.
fn open_layer(
    path: &Path,
    format: Format,
    writable: bool,
    direct: bool,
    seen: &mut Vec<(u64, u64)>,
) -> Result<Layer, String> {
    let name = path.display();
    // Before locking: a loop through the writable top would otherwise read as a lock conflict.
    if let Ok(m) = std::fs::metadata(path) {
        if seen.contains(&(m.dev(), m.ino())) {
            return Err(format!("{name}: backing chain loops back to this file"));
        }
    }
    if seen.len() >= MAX_CHAIN {
        return Err(format!(
            "{name}: backing chain longer than {MAX_CHAIN} images"
        ));
    }
    let (file, meta) = crate::open_locked(path, !writable, 0)?;
    seen.push((meta.dev(), meta.ino()));
    let len = file_len(&file, &meta).map_err(|e| format!("{name}: {e}"))?;
    if format == Format::Qcow2 {
        check_header(&file, len, writable).map_err(|e| format!("{name}: {e}"))?;
    }
    if direct {
        // Only now: the header checks above read at any offset. imago sees the flag on the
        // descriptor and aligns its requests to what the file system wants.
        set_direct(&file).map_err(|e| format!("{name}: {e}"))?;
    }
    let storage = ImagoFile::try_from(file).map_err(|e| format!("{name}: {}", one_line(e)))?;
    let layer = match format {
        Format::Raw => FormatAccess::new(
            ImagoRaw::open_image(storage, writable)
                .map_err(|e| format!("{name}: {}", one_line(e)))?,
        ),
        Format::Qcow2 => {
            let mut q = ImagoQcow2::<ImagoFile>::open_image(storage, writable)
                .map_err(|e| format!("{name}: {}", one_line(e)))?;
            let backing = match q.implicit_backing_file() {
                None => None,
                Some(b) => {
                    let bpath = backing_path(path, b);
                    let bformat = match q.implicit_backing_format().map(String::as_str) {
                        Some("qcow2") => Format::Qcow2,
                        Some("raw") | Some("file") => Format::Raw,
                        Some(f) => {
                            return Err(format!(
                                "{name}: backing file format {f:?} is not supported"
                            ))
                        }
                        // Safe to probe: the backing file is never written through us.
                        None => {
                            crate::probe(&bpath).map_err(|e| format!("{name}: backing file {e}"))?
                        }
                    };
                    Some(
                        open_layer(&bpath, bformat, false, direct, seen)
                            .map_err(|e| format!("{name}: backing file {e}"))?,
                    )
                }
            };
            // Every dependency is given explicitly, so imago opens nothing by itself.
            q.set_backing(backing);
            q.set_data_file(None);
            FormatAccess::new(q)
        }
    };
    Ok(layer)
}

/// A relative backing file name is relative to the directory of the image naming it (QEMU's rule).
fn backing_path(image: &Path, backing: &str) -> PathBuf {
    let b = Path::new(backing);
    match image.parent() {
        Some(dir) if b.is_relative() => dir.join(b),
        _ => b.to_path_buf(),
    }
}

/// The file's length; a block device reports 0 in its metadata, seeking to its end finds it.
fn file_len(file: &File, meta: &std::fs::Metadata) -> io::Result<u64> {
    use std::io::Seek;
    match meta.len() {
        0 if !meta.is_file() => (&*file).seek(io::SeekFrom::End(0)),
        n => Ok(n),
    }
}

fn be32(h: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&h[at..at + 4]);
    u32::from_be_bytes(b)
}

fn be64(h: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&h[at..at + 8]);
    u64::from_be_bytes(b)
}

/// Header bytes examined: the v3 header up to and including `compression_type`.
const HEADER_LEN: usize = 105;
const V2_HEADER_LEN: u64 = 72;
/// Cluster sizes QEMU (and imago) accept: 512 B to 2 MiB.
const CLUSTER_BITS: std::ops::RangeInclusive<u32> = 9..=21;
/// QEMU's limits on the L1 table (32 MiB) and the refcount table (8 MiB), which bound what a
/// header can make us allocate.
const MAX_L1_BYTES: u64 = 32 << 20;
const MAX_REFTABLE_BYTES: u64 = 8 << 20;

/// Incompatible feature bits (qcow2 spec).
const INCOMPAT_DIRTY: u64 = 1 << 0;
const INCOMPAT_CORRUPT: u64 = 1 << 1;
const INCOMPAT_DATA_FILE: u64 = 1 << 2;
const INCOMPAT_COMPRESSION: u64 = 1 << 3;
const INCOMPAT_EXTL2: u64 = 1 << 4;

/// Header extension types.
const EXT_END: u32 = 0;
const EXT_FEATURE_TABLE: u32 = 0x6803_f857;

/// Checks what imago does not, or not before acting on it: magic, version, encryption, feature
/// bits we refuse, that the header's tables are sane and inside the file, and for a writer that
/// the header's cluster is refcounted.
fn check_header(file: &File, len: u64, writable: bool) -> Result<(), String> {
    let mut h = [0u8; HEADER_LEN];
    let avail = len.min(HEADER_LEN as u64) as usize;
    file.read_exact_at(&mut h[..avail], 0)
        .map_err(|e| e.to_string())?;
    if avail < 4 {
        return Err(format!("not a qcow2 image (only {len} bytes long)"));
    }
    if h[..4] != crate::QCOW2_MAGIC {
        return Err("not a qcow2 image (bad magic)".to_string());
    }
    if avail < 8 {
        return Err(format!("truncated qcow2 image ({len} bytes)"));
    }
    let version = be32(&h, 4);
    if version != 2 && version != 3 {
        return Err(format!("qcow2 version {version} is not supported"));
    }
    let min = if version == 2 {
        V2_HEADER_LEN
    } else {
        HEADER_LEN as u64 - 1
    };
    if len < min {
        return Err(format!(
            "truncated qcow2 image ({len} bytes, shorter than its header)"
        ));
    }
    let cluster_bits = be32(&h, 20);
    if !CLUSTER_BITS.contains(&cluster_bits) {
        return Err(format!(
            "corrupt qcow2 header: cluster_bits {cluster_bits} out of range ({}..={})",
            CLUSTER_BITS.start(),
            CLUSTER_BITS.end()
        ));
    }
    let cluster = 1u64 << cluster_bits;
    let disk_size = be64(&h, 24);
    // Version 2 has 16-bit refcounts.
    let mut refcount_order = 4;
    match be32(&h, 32) {
        0 => {}
        1 => return Err("AES-encrypted qcow2 images are not supported".to_string()),
        2 => return Err("LUKS-encrypted qcow2 images are not supported".to_string()),
        m => return Err(format!("corrupt qcow2 header: encryption method {m}")),
    }

    if version == 3 {
        let incompat = be64(&h, 72);
        let header_length = be32(&h, 100) as u64;
        if header_length < HEADER_LEN as u64 - 1 || header_length > cluster {
            return Err(format!(
                "corrupt qcow2 header: header_length {header_length}"
            ));
        }
        if incompat & INCOMPAT_DIRTY != 0 {
            let fix = "repair it with `qemu-img check -r all`";
            return Err(format!(
                "image was not closed cleanly (dirty, lazy refcounts); {fix}"
            ));
        }
        if incompat & INCOMPAT_CORRUPT != 0 {
            return Err("image is marked corrupt; repair it with `qemu-img check -r all`".into());
        }
        if incompat & INCOMPAT_DATA_FILE != 0 {
            return Err("qcow2 images with an external data file are not supported".into());
        }
        // compression_type exists when the header is long enough for it.
        let compression = if header_length > HEADER_LEN as u64 - 1 {
            h[HEADER_LEN - 1]
        } else {
            0
        };
        if incompat & INCOMPAT_COMPRESSION != 0 {
            return Err(match compression {
                1 => "zstd-compressed qcow2 images are not supported".to_string(),
                t => format!("qcow2 compression type {t} is not supported"),
            });
        }
        if compression != 0 {
            // imago would take such clusters for zlib.
            return Err(format!(
                "corrupt qcow2 header: compression type {compression} without its feature bit"
            ));
        }
        if incompat & INCOMPAT_EXTL2 != 0 {
            return Err("qcow2 images with extended L2 entries are not supported".into());
        }
        let unknown = incompat
            & !(INCOMPAT_DIRTY
                | INCOMPAT_CORRUPT
                | INCOMPAT_DATA_FILE
                | INCOMPAT_COMPRESSION
                | INCOMPAT_EXTL2);
        if unknown != 0 {
            return Err(format!(
                "unknown incompatible qcow2 features {unknown:#x} are not supported"
            ));
        }
        refcount_order = be32(&h, 96);
        if refcount_order > 6 {
            return Err(format!(
                "corrupt qcow2 header: refcount_order {refcount_order}"
            ));
        }
        check_extensions(file, len, header_length, cluster)?;
    }

    let backing_offset = be64(&h, 8);
    let backing_len = be32(&h, 16) as u64;
    if backing_offset != 0
        && (backing_len > 1023
            || backing_offset
                .checked_add(backing_len)
                .is_none_or(|end| end > cluster.min(len)))
    {
        return Err("corrupt qcow2 header: backing file name outside the header".into());
    }

    // The L1 table: bounded, covering the disk, inside the file.
    let l1_entries = be32(&h, 36) as u64;
    let l1_offset = be64(&h, 40);
    let l1_bytes = l1_entries * 8;
    if l1_bytes > MAX_L1_BYTES {
        return Err(format!(
            "corrupt qcow2 header: L1 table of {l1_entries} entries is too large"
        ));
    }
    // Bytes of disk one L1 entry maps: a cluster of 8-byte L2 entries, each mapping a cluster.
    let per_l1 = 1u64 << (2 * cluster_bits - 3);
    if l1_entries < disk_size.div_ceil(per_l1) {
        return Err(format!(
            "corrupt qcow2 header: L1 table ({l1_entries} entries) too small for the disk size \
             ({disk_size} bytes)"
        ));
    }
    check_table("L1 table", l1_offset, l1_bytes, cluster, len)?;

    // The refcount table (imago loads it only for writing; QEMU checks it always).
    let rt_offset = be64(&h, 48);
    let rt_bytes = (be32(&h, 56) as u64) << cluster_bits;
    if rt_bytes == 0 || rt_bytes > MAX_REFTABLE_BYTES {
        return Err(format!(
            "corrupt qcow2 header: refcount table of {rt_bytes} bytes"
        ));
    }
    check_table("refcount table", rt_offset, rt_bytes, cluster, len)?;
    if writable && !header_refcounted(file, len, rt_offset, refcount_order)? {
        return Err(
            "corrupt qcow2 image: the header's cluster has no refcount (a write would \
                    allocate it); repair it with `qemu-img check -r all`"
                .into(),
        );
    }
    Ok(())
}

/// Whether cluster 0 (the header) has a nonzero refcount. If not, imago's allocator hands it out
/// (overwriting the header) and, when no refcount block covers it, puts a new block there, at
/// offset 0, which reads as "no block": it then recurses until the stack overflows.
fn header_refcounted(file: &File, len: u64, rt_offset: u64, order: u32) -> Result<bool, String> {
    let mut e = [0u8; 8];
    file.read_exact_at(&mut e, rt_offset)
        .map_err(|e| e.to_string())?;
    // The low 9 bits are reserved (imago refuses them when it loads the block).
    let rb = u64::from_be_bytes(e) & !511;
    if rb == 0 || rb >= len {
        return Ok(false);
    }
    // Refcount 0: the first 2^order bits, sub-byte ones from the low bits of the first byte.
    let mut b = [0u8; 8];
    let n = (1usize << order).div_ceil(8);
    let avail = (len - rb).min(n as u64) as usize;
    file.read_exact_at(&mut b[..avail], rb)
        .map_err(|e| e.to_string())?;
    Ok(match order {
        0..=2 => b[0] & ((1u8 << (1u8 << order)) - 1) != 0,
        _ => b[..n].iter().any(|&x| x != 0),
    })
}

/// Walks the v3 header extensions (from `header_length` to the end of the first cluster) as imago
/// will: a feature name table must be whole 48-byte entries, as the spec says; imago 0.2.6 panics
/// on a last entry shorter than 2 bytes (a slice `entry[2..]`).
fn check_extensions(file: &File, len: u64, header_length: u64, cluster: u64) -> Result<(), String> {
    // At most one cluster (2 MiB); bytes beyond the end of the file read as zero (the end
    // marker), as imago reads them.
    let mut area = vec![0u8; (cluster - header_length) as usize];
    let in_file = cluster.min(len).saturating_sub(header_length) as usize;
    file.read_exact_at(&mut area[..in_file], header_length)
        .map_err(|e| e.to_string())?;
    let mut at = 0usize;
    while at + 8 <= area.len() {
        let (ty, n) = (be32(&area, at), be32(&area, at + 4) as usize);
        if ty == EXT_END {
            break;
        }
        if ty == EXT_FEATURE_TABLE && !n.is_multiple_of(48) {
            return Err(format!(
                "corrupt qcow2 header: feature name table of {n} bytes (not whole 48-byte entries)"
            ));
        }
        // Past the cluster: imago refuses the image itself.
        at += 8 + n.next_multiple_of(8);
    }
    Ok(())
}

/// A table of `bytes` at `offset`: cluster-aligned and inside a file of `len` bytes.
fn check_table(what: &str, offset: u64, bytes: u64, cluster: u64, len: u64) -> Result<(), String> {
    if bytes == 0 {
        return Ok(());
    }
    if offset == 0 {
        return Err(format!("corrupt qcow2 header: {what} overlaps the header"));
    }
    if !offset.is_multiple_of(cluster) {
        return Err(format!(
            "corrupt qcow2 header: {what} offset {offset:#x} is not a cluster boundary"
        ));
    }
    match offset.checked_add(bytes) {
        Some(end) if end <= len => Ok(()),
        _ => Err(format!(
            "{what} at {offset:#x} (+{bytes:#x}) lies beyond the end of the file ({len:#x} \
             bytes): truncated or corrupt image"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;
    use crate::{open, Options};
    use std::sync::Arc;

    const MIB: u64 = 1 << 20;

    fn opts(p: &Path) -> Options {
        Options {
            path: p.to_path_buf(),
            format: Some(Format::Qcow2),
            ..Default::default()
        }
    }

    fn create(p: &Path, size: &str, extra: &[&str]) {
        let mut args = vec!["create", "-q", "-f", "qcow2"];
        args.extend_from_slice(extra);
        args.push(s(p));
        // No size: take the backing file's.
        if !size.is_empty() {
            args.push(size);
        }
        qemu_img(&args);
    }

    /// Writes scattered data through lpar, reads it back, then lets QEMU judge the image.
    fn round_trip(extra: &[&str], size: u64, writes: usize) -> TempPath {
        let img = TempPath::new("rt.qcow2");
        create(img.path(), &size.to_string(), extra);
        let mut shadow = vec![0u8; size as usize];
        let mut rng = Rng::new(size ^ writes as u64);
        {
            let q = Qcow2::open(&opts(img.path())).expect("open");
            assert_eq!(q.size(), size);
            assert!(!q.read_only());
            scattered_writes(&q, &mut shadow, &mut rng, writes);
            for _ in 0..50 {
                let len = 512 * (1 + rng.below(200));
                let off = rng.below((size - len) / 512 + 1) * 512;
                let got = read(&q, off, len as usize, &mut rng);
                assert!(
                    got == shadow[off as usize..(off + len) as usize],
                    "at {off:#x}"
                );
            }
            assert!(read_all(&q) == shadow);
            q.flush().expect("flush");
        }
        check_clean(img.path());
        assert!(qemu_contents(img.path(), "qcow2") == shadow);
        // And lpar reads back what it left, after reopening.
        let q = Qcow2::open(&opts(img.path())).expect("reopen");
        assert!(read_all(&q) == shadow);
        drop(q);
        img
    }

    #[test]
    fn qcow2_v3_scattered_writes_pass_qemu_img_check_and_convert() {
        round_trip(&[], 64 * MIB, 300);
    }

    #[test]
    fn qcow2_v2_compat_0_10_scattered_writes_round_trip() {
        round_trip(&["-o", "compat=0.10"], 48 * MIB, 200);
    }

    #[test]
    fn small_clusters_grow_the_refcount_table_cleanly() {
        // 512-byte clusters: one refcount table cluster covers only 8 MiB of file, so this many
        // writes make imago grow the refcount table and allocate refcount blocks repeatedly.
        let img = round_trip(&["-o", "cluster_size=512"], 32 * MIB, 600);
        let h = std::fs::read(img.path()).expect("read image");
        assert!(be32(&h, 56) > 1, "the refcount table grew");
    }

    #[test]
    fn concurrent_writers_on_several_threads_keep_the_image_consistent() {
        let img = TempPath::new("mt.qcow2");
        let size = 16 * MIB;
        create(img.path(), &size.to_string(), &["-o", "cluster_size=4096"]);
        let q: Arc<dyn BlockBackend> = open(&opts(img.path())).expect("open");
        // Thread t owns sectors with index % 4 == t: neighbouring sectors of one cluster are
        // written concurrently by different threads, each allocating if first.
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let q = Arc::clone(&q);
                std::thread::spawn(move || {
                    let mut rng = Rng::new(t + 1);
                    let mut mine = Vec::new();
                    for _ in 0..800 {
                        let sector = rng.below(size / 2048) * 4 + t;
                        let mut data = vec![0u8; 512];
                        rng.fill(&mut data);
                        write(&*q, sector * 512, &data, &mut rng);
                        mine.push((sector, data));
                    }
                    mine
                })
            })
            .collect();
        let mut shadow = vec![0u8; size as usize];
        for t in threads {
            // Later writes to a sector win: replay in each thread's order.
            for (sector, data) in t.join().expect("writer thread") {
                let at = (sector * 512) as usize;
                shadow[at..at + 512].copy_from_slice(&data);
            }
        }
        assert!(read_all(&*q) == shadow);
        q.flush().expect("flush");
        drop(q);
        check_clean(img.path());
        assert!(qemu_contents(img.path(), "qcow2") == shadow);
    }

    #[test]
    fn a_backing_chain_reads_through_and_writes_only_the_top() {
        let size = 8 * MIB;
        // base.raw <- mid.qcow2 (some clusters rewritten by QEMU) <- top.qcow2, both naming
        // their backing file relative to their own directory.
        let base = TempPath::new("base.raw");
        std::fs::write(base.path(), pattern(size as usize, 1)).expect("write base");
        let mid = TempPath::new("mid.qcow2");
        create(
            mid.path(),
            &size.to_string(),
            &["-b", &base.file_name(), "-F", "raw"],
        );
        qemu(
            "qemu-io",
            &[
                "-c",
                "write -P 0xa5 1M 192k",
                "-c",
                "write -P 0x3c 5000k 3k",
                s(mid.path()),
            ],
        );
        let top = TempPath::new("top.qcow2");
        create(top.path(), "", &["-b", &mid.file_name(), "-F", "qcow2"]);
        let before_base = std::fs::read(base.path()).expect("base");
        let before_mid = std::fs::read(mid.path()).expect("mid");
        let mut shadow = qemu_contents(top.path(), "qcow2");

        let mut rng = Rng::new(7);
        {
            let q = open(&Options {
                path: top.path().to_path_buf(),
                format: None,
                ..Default::default()
            })
            .expect("open chain");
            assert_eq!(q.size(), size);
            assert!(read_all(&*q) == shadow, "reads see the backing chain");
            // Partial clusters: imago must copy the rest of each cluster up from the chain.
            scattered_writes(&*q, &mut shadow, &mut rng, 120);
            assert!(read_all(&*q) == shadow);
            // The backing files are locked shared: nobody may open them for writing meanwhile.
            let e = crate::raw::Raw::open(&Options {
                path: base.path().to_path_buf(),
                ..Default::default()
            })
            .err()
            .expect("base must be locked");
            assert!(e.contains("in use by another process"), "{e}");
            q.flush().expect("flush");
        }
        assert!(std::fs::read(base.path()).expect("base") == before_base);
        assert!(std::fs::read(mid.path()).expect("mid") == before_mid);
        check_clean(top.path());
        check_clean(mid.path());
        assert!(qemu_contents(top.path(), "qcow2") == shadow);
    }

    #[test]
    fn compressed_clusters_read_back_and_can_be_overwritten() {
        let size = 6 * MIB;
        let raw = TempPath::new("plain.raw");
        let data = pattern(size as usize, 3);
        std::fs::write(raw.path(), &data).expect("write raw");
        let img = TempPath::new("comp.qcow2");
        qemu_img(&["convert", "-c", "-O", "qcow2", s(raw.path()), s(img.path())]);
        assert!(
            std::fs::metadata(img.path()).expect("meta").len() < size / 2,
            "qemu-img compressed the image"
        );
        let ro = Qcow2::open(&Options {
            read_only: true,
            ..opts(img.path())
        })
        .expect("open read-only");
        assert!(ro.read_only());
        assert!(read_all(&ro) == data);
        drop(ro);

        let mut shadow = data;
        let mut rng = Rng::new(11);
        {
            let q = Qcow2::open(&opts(img.path())).expect("open");
            scattered_writes(&q, &mut shadow, &mut rng, 60);
            assert!(read_all(&q) == shadow);
        }
        check_clean(img.path());
        assert!(qemu_contents(img.path(), "qcow2") == shadow);
    }

    #[test]
    fn after_flush_or_writethrough_the_file_is_consistent_while_open() {
        // qemu-img locks with fcntl OFD locks, independent of our flock, so it can look at the
        // image while we hold it: everything written must be in the file, metadata included.
        for cache in [Cache::Writeback, Cache::Writethrough, Cache::Unsafe] {
            let img = TempPath::new("flush.qcow2");
            create(img.path(), "8M", &[]);
            let q = Qcow2::open(&Options {
                cache,
                ..opts(img.path())
            })
            .expect("open");
            let mut shadow = vec![0u8; 8 << 20];
            let mut rng = Rng::new(3);
            scattered_writes(&q, &mut shadow, &mut rng, 40);
            if cache != Cache::Writethrough {
                q.flush().expect("flush");
            }
            let u = ["check", "-U", s(img.path())];
            let out = qemu_img(&u);
            assert!(out.contains("No errors were found"), "{cache:?}: {out}");
            assert!(qemu_contents(img.path(), "qcow2") == shadow, "{cache:?}");
            drop(q);
        }
    }

    #[test]
    fn internal_snapshots_survive_our_writes() {
        // Clusters shared with an internal snapshot (refcount 2) must be copied, not overwritten.
        let img = TempPath::new("intsnap.qcow2");
        create(img.path(), "4M", &[]);
        qemu("qemu-io", &["-c", "write -P 0x5a 0 1M", s(img.path())]);
        qemu_img(&["snapshot", "-c", "before", s(img.path())]);
        let old = qemu_contents(img.path(), "qcow2");
        let mut shadow = old.clone();
        let mut rng = Rng::new(17);
        {
            let q = Qcow2::open(&opts(img.path())).expect("open");
            scattered_writes(&q, &mut shadow, &mut rng, 100);
            assert!(read_all(&q) == shadow);
        }
        check_clean(img.path());
        assert!(qemu_contents(img.path(), "qcow2") == shadow);
        qemu_img(&["snapshot", "-a", "before", s(img.path())]);
        assert!(
            qemu_contents(img.path(), "qcow2") == old,
            "the snapshot kept its data"
        );
    }

    #[test]
    fn a_second_writer_is_refused_and_readers_share() {
        let img = TempPath::new("lock.qcow2");
        create(img.path(), "1M", &[]);
        let first = Qcow2::open(&opts(img.path())).expect("first");
        let e = Qcow2::open(&opts(img.path())).err().expect("second writer");
        assert!(e.contains("in use by another process"), "{e}");
        let ro = Options {
            read_only: true,
            ..opts(img.path())
        };
        let e = Qcow2::open(&ro).err().expect("reader while writing");
        assert!(e.contains("in use by another process"), "{e}");
        drop(first);
        // A process another test is spawning right now may hold a copy of the descriptor (and
        // so the lock) between its fork and exec: allow that moment to pass.
        let t = std::time::Instant::now();
        let r1 = loop {
            match Qcow2::open(&ro) {
                Ok(r) => break r,
                Err(e) if t.elapsed() > std::time::Duration::from_secs(5) => {
                    panic!("reader 1: {e}")
                }
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
            }
        };
        let _r2 = Qcow2::open(&ro).expect("reader 2");
        let mut b = [0u8; 512];
        let v = libc::iovec {
            iov_base: b.as_mut_ptr() as *mut libc::c_void,
            iov_len: 512,
        };
        // SAFETY: `b` lives across the call.
        assert!(unsafe { r1.writev(&[v], 0) }.is_err());
    }

    #[test]
    fn requests_beyond_the_end_fail() {
        let img = TempPath::new("end.qcow2");
        create(img.path(), "1M", &[]);
        let q = Qcow2::open(&opts(img.path())).expect("open");
        let mut b = [0u8; 1024];
        let v = libc::iovec {
            iov_base: b.as_mut_ptr() as *mut libc::c_void,
            iov_len: b.len(),
        };
        // SAFETY: `b` lives across the calls.
        assert!(unsafe { q.readv(&[v], MIB - 512) }.is_err());
        // SAFETY: as above.
        assert!(unsafe { q.writev(&[v], MIB - 512) }.is_err());
    }

    /// Opening must fail with one line naming the file (and must not panic).
    fn refused(p: &Path, want: &str) {
        let e = open(&opts(p)).err().expect("must be refused");
        assert!(e.starts_with(&format!("{}: ", p.display())), "{e}");
        assert!(!e.contains('\n'), "{e}");
        assert!(e.contains(want), "expected {want:?} in {e:?}");
    }

    fn patch(p: &Path, at: u64, bytes: &[u8]) {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(p)
            .expect("open for patching");
        f.write_all_at(bytes, at).expect("patch");
    }

    /// A real image with some data in it, copied to a fresh path.
    fn sample(name: &str) -> TempPath {
        let p = TempPath::new(name);
        create(p.path(), "4M", &[]);
        qemu("qemu-io", &["-c", "write -P 0x11 0 64k", s(p.path())]);
        p
    }

    #[test]
    fn malformed_headers_give_one_line_errors() {
        let cases: &[(&str, u64, &[u8], &str)] = &[
            ("magic", 0, b"QFI\x00", "bad magic"),
            ("version", 4, &4u32.to_be_bytes(), "version 4"),
            ("cbits-hi", 20, &30u32.to_be_bytes(), "cluster_bits 30"),
            ("cbits-lo", 20, &8u32.to_be_bytes(), "cluster_bits 8"),
            ("crypt", 32, &1u32.to_be_bytes(), "AES-encrypted"),
            ("l1-huge", 36, &u32::MAX.to_be_bytes(), "too large"),
            ("l1-small", 24, &(1u64 << 50).to_be_bytes(), "too small"),
            ("l1-eof", 40, &(1u64 << 40).to_be_bytes(), "beyond the end"),
            ("l1-odd", 40, &0x10001u64.to_be_bytes(), "cluster boundary"),
            ("rt-eof", 48, &(1u64 << 40).to_be_bytes(), "beyond the end"),
            ("dirty", 79, &[1], "not closed cleanly"),
            ("corrupt", 79, &[2], "marked corrupt"),
            ("datafile", 79, &[4], "external data file"),
            ("extl2", 79, &[16], "extended L2"),
            ("unknown", 72, &[0x80], "unknown incompatible"),
            ("hdrlen", 100, &1u32.to_be_bytes(), "header_length"),
            ("ctype", 104, &[1], "without its feature bit"),
            ("l1-zero", 40, &0u64.to_be_bytes(), "overlaps the header"),
            ("rcorder", 96, &9u32.to_be_bytes(), "refcount_order"),
            (
                "backing",
                8,
                &(1u64 << 20).to_be_bytes(),
                "backing file name",
            ),
        ];
        for (name, at, bytes, want) in cases {
            let p = sample(name);
            if *name == "backing" {
                patch(p.path(), 16, &10u32.to_be_bytes());
            }
            patch(p.path(), *at, bytes);
            refused(p.path(), want);
        }
    }

    #[test]
    fn a_header_without_refcount_is_refused_for_writing() {
        // No refcount block for the first clusters (a write used to recurse in imago until the
        // stack overflowed), or a block giving the header refcount 0.
        for how in ["no block", "zero"] {
            let p = sample(how);
            let h = std::fs::read(p.path()).expect("read");
            let rt = be64(&h, 48);
            if how == "no block" {
                patch(p.path(), rt, &0u64.to_be_bytes());
            } else {
                patch(p.path(), be64(&h, rt as usize), &0u16.to_be_bytes());
            }
            refused(p.path(), "header's cluster has no refcount");
            // Readers are not affected.
            let q = open(&Options {
                read_only: true,
                ..opts(p.path())
            })
            .expect("read-only open");
            let mut b = [0u8; 512];
            let v = libc::iovec {
                iov_base: b.as_mut_ptr() as *mut libc::c_void,
                iov_len: b.len(),
            };
            // SAFETY: `b` lives across the call.
            unsafe { q.readv(&[v], 0) }.expect("read");
            assert_eq!(b, [0x11; 512]);
        }
    }

    #[test]
    fn a_cut_feature_name_table_is_refused() {
        // qemu-img writes a feature name table among the extensions after the 112-byte header;
        // cut its length to leave a partial last entry (1 byte made imago panic).
        for cut in [1u32, 2, 47, 49] {
            let p = sample("features");
            let h = std::fs::read(p.path()).expect("read");
            let mut at = be32(&h, 100) as usize;
            while be32(&h, at) != EXT_FEATURE_TABLE {
                assert_ne!(
                    be32(&h, at),
                    EXT_END,
                    "qemu-img wrote no feature name table"
                );
                at += 8 + (be32(&h, at + 4) as usize).next_multiple_of(8);
            }
            patch(p.path(), at as u64 + 4, &cut.to_be_bytes());
            refused(p.path(), "feature name table");
        }
    }

    #[test]
    fn truncated_images_give_one_line_errors() {
        let p = sample("trunc");
        let full = std::fs::read(p.path()).expect("read");
        // Cut inside the magic, the header, the refcount table (0x10000) and the L1 table
        // (0x30000 in a 4M image made by qemu-img; checked first).
        let cuts: &[(usize, &str)] = &[
            (0, "only 0 bytes"),
            (3, "only 3 bytes"),
            (6, "truncated"),
            (50, "truncated"),
            (100, "truncated"),
            (0x10000 + 100, "L1 table"),
            (0x30004, "L1 table"),
        ];
        for &(len, want) in cuts {
            std::fs::write(p.path(), &full[..len]).expect("truncate");
            refused(p.path(), want);
        }
    }

    #[test]
    fn features_qemu_makes_but_we_lack_are_refused_clearly() {
        let enc = TempPath::new("luks.qcow2");
        let args = [
            "create",
            "-q",
            "-f",
            "qcow2",
            "--object",
            "secret,id=sec0,data=lpar",
            "-o",
            "encrypt.format=luks,encrypt.key-secret=sec0",
            s(enc.path()),
            "1M",
        ];
        // qemu-img times its key derivation on the CPU and gives up ("Unable to get accurate
        // CPU usage") on a loaded host: try a few times.
        let made = (0..5).any(|_| {
            std::process::Command::new("qemu-img")
                .args(args)
                .status()
                .is_ok_and(|st| st.success())
        });
        assert!(made, "qemu-img could not make a LUKS image");
        refused(enc.path(), "LUKS-encrypted");

        let data = TempPath::new("data.raw");
        let ext = TempPath::new("ext.qcow2");
        create(
            ext.path(),
            "1M",
            &["-o", &format!("data_file={}", s(data.path()))],
        );
        refused(ext.path(), "external data file");

        let zstd = TempPath::new("zstd.qcow2");
        create(zstd.path(), "1M", &["-o", "compression_type=zstd"]);
        refused(zstd.path(), "zstd");
    }

    #[test]
    fn bad_backing_files_give_one_line_errors() {
        let top = TempPath::new("orphan.qcow2");
        let gone = TempPath::new("gone.raw");
        std::fs::write(gone.path(), [0u8; 4096]).expect("base");
        create(top.path(), "", &["-b", &gone.file_name(), "-F", "raw"]);
        drop(gone);
        refused(top.path(), "backing file");

        // a <- b <- a: a loop is refused, not followed forever.
        let a = TempPath::new("loop-a.qcow2");
        let b = TempPath::new("loop-b.qcow2");
        create(a.path(), "1M", &[]);
        create(b.path(), "", &["-b", &a.file_name(), "-F", "qcow2"]);
        qemu_img(&[
            "rebase",
            "-u",
            "-f",
            "qcow2",
            "-b",
            &b.file_name(),
            "-F",
            "qcow2",
            s(a.path()),
        ]);
        for read_only in [true, false] {
            let e = open(&Options {
                read_only,
                ..opts(a.path())
            })
            .err()
            .expect("loop");
            assert!(e.contains("loops back"), "{e}");
            assert!(!e.contains('\n'), "{e}");
        }

        let bad = TempPath::new("badbase.qcow2");
        let base = sample("notq.qcow2");
        patch(base.path(), 0, b"QFI\x00");
        create(
            bad.path(),
            "",
            &[
                "-u",
                "-b",
                &base.file_name(),
                "-F",
                "qcow2",
                "-o",
                "size=4M",
            ],
        );
        refused(bad.path(), "bad magic");
    }

    #[test]
    fn corrupt_tables_never_panic() {
        // Random bytes over the metadata clusters of a real image with 512-byte clusters: open,
        // read everything and write a little; errors are fine, panics are not.
        let pristine = TempPath::new("fuzz-src.qcow2");
        create(pristine.path(), "1M", &["-o", "cluster_size=512"]);
        qemu(
            "qemu-io",
            &[
                "-c",
                "write -P 0x22 0 40k",
                "-c",
                "write -P 0x33 600k 7k",
                s(pristine.path()),
            ],
        );
        let image = std::fs::read(pristine.path()).expect("read");
        let mut rng = Rng::new(5);
        let p = TempPath::new("fuzz.qcow2");
        for round in 0..300 {
            let mut bad = image.clone();
            for _ in 0..1 + rng.below(4) {
                // Header fields are covered above; hit the tables behind them.
                let at = 512 + rng.below(6 * 512) as usize;
                bad[at] ^= 1 << rng.below(8);
                if round % 3 == 0 {
                    bad[at & !7] = 0xff;
                }
            }
            std::fs::write(p.path(), &bad).expect("write");
            let Ok(q) = open(&opts(p.path())) else {
                continue;
            };
            let mut buf = vec![0u8; 64 << 10];
            let v = libc::iovec {
                iov_base: buf.as_mut_ptr() as *mut libc::c_void,
                iov_len: buf.len(),
            };
            for off in (0..q.size()).step_by(64 << 10) {
                // SAFETY: `buf` lives across the calls.
                let _ = unsafe { q.readv(&[v], off) };
            }
            // SAFETY: as above.
            let _ = unsafe { q.writev(&[v], 128 << 10) };
            let _ = q.flush();
        }
    }
}
