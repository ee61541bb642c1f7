//! `block`: disk images behind one trait, [`BlockBackend`]. Front ends (virtio-blk, later
//! virtio-scsi and spapr-vscsi) address an image by byte offset and hand it scatter lists of
//! guest memory; the backend knows nothing of virtio or PAPR.
//!
//! Opening takes QEMU's `-drive` options (`format=`, `readonly=`, `cache=`, `snapshot=`) and
//! locks the image so that two processes cannot both write it. Formats: raw (`raw.rs`) and qcow2
//! (`qcow2.rs`, with backing chains); `snapshot=on` wraps either in a throw-away write overlay
//! (`overlay.rs`).

mod overlay;
mod qcow2;
mod raw;
#[cfg(test)]
mod testutil;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A disk image.
pub trait BlockBackend: Send + Sync {
    /// Size in bytes (a multiple of 512).
    fn size(&self) -> u64;
    fn read_only(&self) -> bool;
    /// Reads `len(iov)` buffers' worth of bytes at `offset`, the whole range or an error.
    ///
    /// # Safety
    /// Every iovec must describe memory writable for the call's duration (guest RAM the caller
    /// has bounds-checked).
    unsafe fn readv(&self, iov: &[libc::iovec], offset: u64) -> io::Result<()>;
    /// Writes the buffers at `offset`.
    ///
    /// # Safety
    /// Every iovec must describe memory readable for the call's duration.
    unsafe fn writev(&self, iov: &[libc::iovec], offset: u64) -> io::Result<()>;
    /// Makes every completed write durable (`fdatasync`), unless `cache=unsafe`.
    fn flush(&self) -> io::Result<()>;
}

/// Image formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Raw,
    Qcow2,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "raw" => Some(Format::Raw),
            "qcow2" => Some(Format::Qcow2),
            _ => None,
        }
    }
}

/// Host cache modes (`cache=`), QEMU's meanings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Cache {
    /// Host page cache; a guest flush is fdatasync.
    #[default]
    Writeback,
    /// Every write is durable before it completes (O_DSYNC).
    Writethrough,
    /// Guest flushes are ignored: fast, and data is lost if the host crashes.
    Unsafe,
}

impl Cache {
    pub fn parse(s: &str) -> Option<Cache> {
        match s {
            "writeback" => Some(Cache::Writeback),
            "writethrough" => Some(Cache::Writethrough),
            "unsafe" => Some(Cache::Unsafe),
            _ => None,
        }
    }
}

/// How to open an image.
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub path: PathBuf,
    /// None: probe (a qcow2 header is recognised; anything else is raw).
    pub format: Option<Format>,
    pub read_only: bool,
    pub cache: Cache,
    /// QEMU's `cache.direct=on` (`cache=none`, `directsync`): the image is read and written with
    /// O_DIRECT, past the host page cache; a guest flush still syncs (the device may cache).
    pub direct: bool,
    /// QEMU's `snapshot=on`: the image is opened read-only and guest writes go to a temporary
    /// overlay, discarded when the backend is dropped. Ignored when `read_only` is set.
    pub snapshot: bool,
}

/// Opens an image; errors are one line naming the file.
pub fn open(o: &Options) -> Result<Arc<dyn BlockBackend>, String> {
    if o.snapshot && !o.read_only {
        let base = open_image(&Options {
            read_only: true,
            snapshot: false,
            ..o.clone()
        })?;
        return Ok(Arc::new(overlay::Overlay::new(base, &o.path)?));
    }
    open_image(o)
}

fn open_image(o: &Options) -> Result<Arc<dyn BlockBackend>, String> {
    let format = match o.format {
        Some(f) => f,
        None => probe(&o.path)?,
    };
    match format {
        // O_DIRECT wants aligned offsets, lengths and buffers; imago realigns what is not (a
        // guest's buffers need not be), so direct raw images go through it too.
        Format::Raw if o.direct => Ok(Arc::new(qcow2::Qcow2::open_as(o, Format::Raw)?)),
        Format::Raw => Ok(Arc::new(raw::Raw::open(o)?)),
        Format::Qcow2 => Ok(Arc::new(qcow2::Qcow2::open(o)?)),
    }
}

/// Opens an image file and locks it: shared for a reader, exclusive for a writer, never waiting,
/// so that two lpar processes cannot both write one image (nor read one that is being written).
/// `flags` are extra open(2) flags.
fn open_locked(
    path: &Path,
    read_only: bool,
    flags: i32,
) -> Result<(std::fs::File, std::fs::Metadata), String> {
    use std::os::unix::fs::FileTypeExt;
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::io::AsRawFd;
    let name = path.display();
    // Checked before opening: opening a FIFO (say, a backing file name in an image) would
    // block until some writer came.
    let kind = std::fs::metadata(path)
        .map_err(|e| format!("{name}: {e}"))?
        .file_type();
    if kind.is_dir() {
        return Err(format!("{name}: is a directory"));
    }
    if !kind.is_file() && !kind.is_block_device() {
        return Err(format!("{name}: not a regular file or block device"));
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(!read_only)
        .custom_flags(flags)
        .open(path)
        .map_err(|e| format!("{name}: {e}"))?;
    let meta = file.metadata().map_err(|e| format!("{name}: {e}"))?;
    let lock = if read_only {
        libc::LOCK_SH
    } else {
        libc::LOCK_EX
    };
    // A lock can be held for an instant by a process that is being spawned (between its fork
    // and exec it shares our descriptors), so contention is retried for 200 ms before the
    // image counts as in use; a real second user holds it far longer.
    let t = std::time::Instant::now();
    // SAFETY (both calls): flock on a descriptor we own; no memory is involved.
    while unsafe { libc::flock(file.as_raw_fd(), lock | libc::LOCK_NB) } != 0
        && t.elapsed() < std::time::Duration::from_millis(200)
    {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    if unsafe { libc::flock(file.as_raw_fd(), lock | libc::LOCK_NB) } != 0 {
        return Err(format!(
            "{name}: in use by another process (image locked{})",
            if read_only { " for writing" } else { "" }
        ));
    }
    Ok((file, meta))
}

/// Fails a request reaching beyond the disk: imago would fill a read's tail with zeroes, and a
/// raw file would grow on a write (or serve its partial tail sector on a read).
fn check_range(size: u64, iov: &[libc::iovec], offset: u64) -> io::Result<()> {
    let len: u64 = iov.iter().map(|v| v.iov_len as u64).sum();
    match offset.checked_add(len) {
        Some(end) if end <= size => Ok(()),
        _ => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "request beyond the end of the image",
        )),
    }
}

/// The qcow2 magic, "QFI\xfb".
const QCOW2_MAGIC: [u8; 4] = *b"QFI\xfb";

fn probe(path: &Path) -> Result<Format, String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut magic = [0u8; 4];
    match f.read_exact(&mut magic) {
        Ok(()) if magic == QCOW2_MAGIC => Ok(Format::Qcow2),
        _ => Ok(Format::Raw),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str, data: &[u8]) -> PathBuf {
        let p = std::env::temp_dir().join(format!("lpar-block-{}-{name}", std::process::id()));
        std::fs::write(&p, data).expect("write image");
        p
    }

    /// Whether this process has `path` open with O_DIRECT.
    fn opened_direct(path: &Path) -> bool {
        let path = std::fs::canonicalize(path).expect("canonical path");
        for e in std::fs::read_dir("/proc/self/fd")
            .expect("/proc/self/fd")
            .flatten()
        {
            if std::fs::read_link(e.path()).ok().as_deref() != Some(path.as_path()) {
                continue;
            }
            let info = std::fs::read_to_string(Path::new("/proc/self/fdinfo").join(e.file_name()))
                .unwrap_or_default();
            let flags = info
                .lines()
                .find_map(|l| l.strip_prefix("flags:"))
                .and_then(|v| i32::from_str_radix(v.trim(), 8).ok())
                .unwrap_or(0);
            if flags & libc::O_DIRECT != 0 {
                return true;
            }
        }
        false
    }

    /// cache=none: raw and qcow2 images are opened with O_DIRECT, and unaligned guest buffers
    /// and sector-sized requests (imago realigns them) land where they belong. The images
    /// live under the build directory: tmpfs (a possible /tmp) has no O_DIRECT.
    #[test]
    fn direct_io_images_take_unaligned_requests() {
        use testutil::{qemu_contents, qemu_img, read_all, s, scattered_writes, Rng};
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/lpar-direct-test");
        std::fs::create_dir_all(&dir).expect("mkdir");
        for fmt in ["raw", "qcow2"] {
            let path = dir.join(format!("direct-{}.{fmt}", std::process::id()));
            qemu_img(&["create", "-q", "-f", fmt, s(&path), "4M"]);
            let o = Options {
                path: path.clone(),
                format: Format::parse(fmt),
                direct: true,
                ..Default::default()
            };
            let b = open(&o).unwrap_or_else(|e| panic!("{e}"));
            assert!(opened_direct(&path), "{fmt}: not opened with O_DIRECT");
            let mut shadow = vec![0u8; 4 << 20];
            let mut rng = Rng::new(7);
            scattered_writes(&*b, &mut shadow, &mut rng, 40);
            b.flush().expect("flush");
            assert!(read_all(&*b) == shadow, "{fmt}: read back differs");
            drop(b);
            assert!(qemu_contents(&path, fmt) == shadow, "{fmt}: image differs");
            if fmt == "qcow2" {
                testutil::check_clean(&path);
            }
            let _ = std::fs::remove_file(&path);
        }
    }

    #[test]
    fn fifos_and_directories_are_refused_without_blocking() {
        let dir = std::env::temp_dir().join(format!("lpar-block-fifo-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        let fifo = dir.join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().expect("utf-8")).expect("path");
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        for ro in [true, false] {
            let e = open_locked(&fifo, ro, 0).expect_err("a FIFO must be refused");
            assert!(
                e.ends_with("fifo: not a regular file or block device"),
                "{e}"
            );
            let e = open_locked(&dir, ro, 0).expect_err("a directory must be refused");
            assert!(e.ends_with(": is a directory"), "{e}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn probing_recognises_qcow2_and_defaults_to_raw() {
        let q = tmp("probe.qcow2", b"QFI\xfb\0\0\0\x03");
        let r = tmp("probe.img", &[0u8; 512]);
        assert_eq!(probe(&q), Ok(Format::Qcow2));
        assert_eq!(probe(&r), Ok(Format::Raw));
        let _ = std::fs::remove_file(q);
        let _ = std::fs::remove_file(r);
    }

    #[test]
    fn a_missing_image_is_one_line_naming_it() {
        let o = Options {
            path: "/nonexistent/disk.img".into(),
            ..Default::default()
        };
        let e = open(&o).err().expect("must fail");
        assert!(e.starts_with("/nonexistent/disk.img: "), "{e}");
        assert!(!e.contains('\n'));
    }

    #[test]
    fn snapshot_with_read_only_stays_read_only() {
        let p = tmp("snap-ro.img", &[0u8; 4096]);
        let b = open(&Options {
            path: p.clone(),
            read_only: true,
            snapshot: true,
            ..Default::default()
        })
        .expect("open");
        assert!(b.read_only());
        drop(b);
        let _ = std::fs::remove_file(p);
    }

    #[test]
    fn probing_opens_a_qcow2_image_as_qcow2() {
        let t = testutil::TempPath::new("probe-open.qcow2");
        testutil::qemu_img(&["create", "-q", "-f", "qcow2", testutil::s(t.path()), "3M"]);
        let b = open(&Options {
            path: t.path().to_path_buf(),
            ..Default::default()
        })
        .expect("open");
        // The guest sees the virtual disk, not the (smaller) file.
        assert_eq!(b.size(), 3 << 20);
    }
}
