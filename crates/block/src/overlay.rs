//! `snapshot=on`: a write overlay over any read-only [`BlockBackend`]. Guest writes go to an
//! unlinked, sparse temporary file of the disk's size, so they vanish when lpar exits (or
//! crashes); a bitmap records which 4 KiB blocks live in the overlay. Reads take those blocks
//! from the overlay and the rest from the base.
//!
//! Memory is one bit per block (32 MiB for a 1 TiB disk). A write covering only part of a block
//! not yet in the overlay first copies the rest of that block from the base, so a block is
//! either wholly in the overlay or wholly in the base.

use crate::BlockBackend;
use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

const BLOCK: u64 = 4096;
/// Locks serialising the first write to a block (its copy from the base) against other first
/// writes to it; block `b` uses stripe `b % STRIPES`, so a request's stripes fit one `u64` mask.
const STRIPES: usize = 64;

pub struct Overlay {
    base: Arc<dyn BlockBackend>,
    file: File,
    size: u64,
    /// Bit `b`: block `b` is in the overlay. Set only after its data is written (Release), so a
    /// reader that sees it (Acquire) reads complete data; never cleared.
    written: Vec<AtomicU64>,
    stripes: [Mutex<()>; STRIPES],
}

impl Overlay {
    /// Wraps `base` (opened read-only); `image` names it in errors.
    pub fn new(base: Arc<dyn BlockBackend>, image: &Path) -> Result<Overlay, String> {
        let size = base.size();
        let file = temp_file(size).map_err(|e| {
            format!(
                "{}: cannot create the snapshot overlay in {}: {e}",
                image.display(),
                temp_dir().display()
            )
        })?;
        let blocks = size.div_ceil(BLOCK);
        Ok(Overlay {
            base,
            file,
            size,
            written: (0..blocks.div_ceil(64))
                .map(|_| AtomicU64::new(0))
                .collect(),
            stripes: std::array::from_fn(|_| Mutex::new(())),
        })
    }

    fn is_written(&self, block: u64) -> bool {
        self.written[(block / 64) as usize].load(Ordering::Acquire) & (1 << (block % 64)) != 0
    }

    fn set_written(&self, block: u64) {
        self.written[(block / 64) as usize].fetch_or(1 << (block % 64), Ordering::Release);
    }

    /// Copies `[from, to)` of the base into the overlay (part of one block).
    fn copy_from_base(&self, from: u64, to: u64) -> io::Result<()> {
        let mut buf = vec![0u8; (to - from) as usize];
        let v = iovec(&mut buf);
        // SAFETY: `buf` is live and writable for the call.
        unsafe { self.base.readv(&[v], from) }?;
        self.file.write_all_at(&buf, from)
    }

    unsafe fn write_overlay(&self, iov: &[libc::iovec], offset: u64) -> io::Result<()> {
        let fd = self.file.as_raw_fd();
        // SAFETY: the caller guarantees the iovecs are readable memory.
        unsafe {
            crate::raw::whole(iov, offset, |v, off| {
                libc::pwritev(fd, v.as_ptr(), v.len() as i32, off as libc::off_t)
            })
        }
    }

    unsafe fn read_overlay(&self, iov: &[libc::iovec], offset: u64) -> io::Result<()> {
        let fd = self.file.as_raw_fd();
        // SAFETY: the caller guarantees the iovecs are writable memory.
        unsafe {
            crate::raw::whole(iov, offset, |v, off| {
                libc::preadv(fd, v.as_ptr(), v.len() as i32, off as libc::off_t)
            })
        }
    }
}

/// Where the overlay lives: `$TMPDIR`, else /var/tmp like QEMU (/tmp is often RAM).
fn temp_dir() -> PathBuf {
    match std::env::var_os("TMPDIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ if Path::new("/var/tmp").is_dir() => PathBuf::from("/var/tmp"),
        _ => std::env::temp_dir(),
    }
}

/// A sparse temporary file of `size` bytes, unlinked at once so nothing is left behind.
fn temp_file(size: u64) -> io::Result<File> {
    use std::sync::atomic::AtomicUsize;
    static SERIAL: AtomicUsize = AtomicUsize::new(0);
    let dir = temp_dir();
    loop {
        let path = dir.join(format!(
            "lpar-snapshot-{}-{}",
            std::process::id(),
            SERIAL.fetch_add(1, Ordering::Relaxed)
        ));
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(f) => {
                std::fs::remove_file(&path)?;
                f.set_len(size)?;
                return Ok(f);
            }
            // A stale name left by an earlier process with our pid: take the next.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

fn iovec(b: &mut [u8]) -> libc::iovec {
    libc::iovec {
        iov_base: b.as_mut_ptr() as *mut libc::c_void,
        iov_len: b.len(),
    }
}

/// The iovecs covering bytes `[skip, skip + len)` of the scatter list `iov`.
fn slice_iov(iov: &[libc::iovec], mut skip: usize, mut len: usize) -> Vec<libc::iovec> {
    let mut out = Vec::new();
    for v in iov {
        if len == 0 {
            break;
        }
        if skip >= v.iov_len {
            skip -= v.iov_len;
            continue;
        }
        let n = (v.iov_len - skip).min(len);
        out.push(libc::iovec {
            // Pointer arithmetic only; the memory is not touched here.
            iov_base: (v.iov_base as *mut u8).wrapping_add(skip) as *mut libc::c_void,
            iov_len: n,
        });
        len -= n;
        skip = 0;
    }
    out
}

impl BlockBackend for Overlay {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_only(&self) -> bool {
        false
    }

    unsafe fn readv(&self, iov: &[libc::iovec], offset: u64) -> io::Result<()> {
        let len: u64 = iov.iter().map(|v| v.iov_len as u64).sum();
        let end = match offset.checked_add(len) {
            Some(end) if end <= self.size => end,
            _ => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "end of image")),
        };
        // Runs of blocks in the same place are read with one request each.
        let mut pos = offset;
        while pos < end {
            let in_overlay = self.is_written(pos / BLOCK);
            let mut run_end = ((pos / BLOCK + 1) * BLOCK).min(end);
            while run_end < end && self.is_written(run_end / BLOCK) == in_overlay {
                run_end = (run_end + BLOCK).min(end);
            }
            let whole_request = pos == offset && run_end == end;
            let part;
            let v = if whole_request {
                iov
            } else {
                part = slice_iov(iov, (pos - offset) as usize, (run_end - pos) as usize);
                &part[..]
            };
            // SAFETY: `v` lies within the caller's iovecs, writable for this call.
            unsafe {
                if in_overlay {
                    self.read_overlay(v, pos)?
                } else {
                    self.base.readv(v, pos)?
                }
            }
            pos = run_end;
        }
        Ok(())
    }

    unsafe fn writev(&self, iov: &[libc::iovec], offset: u64) -> io::Result<()> {
        let len: u64 = iov.iter().map(|v| v.iov_len as u64).sum();
        let end = match offset.checked_add(len) {
            Some(end) if end <= self.size => end,
            _ => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "end of image")),
        };
        if len == 0 {
            return Ok(());
        }
        let (first, last) = (offset / BLOCK, (end - 1) / BLOCK);
        // Blocks already in the overlay are simply overwritten; the others need their stripe
        // locked so that two first writes to one block cannot each copy the base over the other.
        let mut mask = 0u64;
        for b in first..=last {
            if mask == u64::MAX {
                break;
            }
            if !self.is_written(b) {
                mask |= 1 << (b % STRIPES as u64);
            }
        }
        if mask == 0 {
            // SAFETY: the caller guarantees the iovecs are readable memory.
            return unsafe { self.write_overlay(iov, offset) };
        }
        // Increasing stripe order: no two writers can deadlock.
        let _guards: Vec<MutexGuard<()>> = (0..STRIPES)
            .filter(|s| mask & (1 << s) != 0)
            .map(|s| self.stripes[s].lock().unwrap_or_else(|p| p.into_inner()))
            .collect();
        // Partial head and tail blocks not yet in the overlay get the rest of their data from
        // the base (checked again under the lock: another writer may have copied it meanwhile).
        let head = first * BLOCK;
        if head < offset && !self.is_written(first) {
            self.copy_from_base(head, offset)?;
        }
        let tail = ((last + 1) * BLOCK).min(self.size);
        if end < tail && !self.is_written(last) {
            self.copy_from_base(end, tail)?;
        }
        // SAFETY: the caller guarantees the iovecs are readable memory.
        unsafe { self.write_overlay(iov, offset) }?;
        for b in first..=last {
            self.set_written(b);
        }
        Ok(())
    }

    /// Nothing to make durable: the overlay dies with the process, and the base is not written.
    fn flush(&self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;
    use crate::{open, Format, Options};

    fn snapshot(p: &Path, format: Format) -> Arc<dyn BlockBackend> {
        open(&Options {
            path: p.to_path_buf(),
            format: Some(format),
            snapshot: true,
            ..Default::default()
        })
        .expect("open with snapshot=on")
    }

    /// Scattered writes (single sectors inside blocks, runs across blocks) over `base`.
    fn writes_stay_in_the_overlay(base: &Path, format: Format, contents: Vec<u8>) {
        let before = std::fs::read(base).expect("read base");
        let mut shadow = contents;
        let mut rng = Rng::new(shadow.len() as u64);
        {
            let o = snapshot(base, format);
            assert!(!o.read_only());
            assert_eq!(o.size(), shadow.len() as u64);
            assert!(read_all(&*o) == shadow, "reads see the base");
            scattered_writes(&*o, &mut shadow, &mut rng, 300);
            // The last sector, in a block the disk's end cuts short.
            let last = o.size() - 512;
            write(&*o, last, &[0x77; 512], &mut rng);
            shadow[last as usize..].fill(0x77);
            assert!(read_all(&*o) == shadow);
            for _ in 0..100 {
                let len = 512 * (1 + rng.below(40));
                let off = rng.below((o.size() - len) / 512 + 1) * 512;
                let got = read(&*o, off, len as usize, &mut rng);
                assert!(
                    got == shadow[off as usize..(off + len) as usize],
                    "at {off:#x}"
                );
            }
            o.flush().expect("flush");
            // Others may read the base meanwhile (shared lock), nobody may write it.
            let _second = snapshot(base, format);
            let e = open(&Options {
                path: base.to_path_buf(),
                format: Some(format),
                ..Default::default()
            })
            .err()
            .expect("a writer must be refused");
            assert!(e.contains("in use by another process"), "{e}");
        }
        assert!(
            std::fs::read(base).expect("read base") == before,
            "base untouched"
        );
    }

    #[test]
    fn snapshot_on_a_raw_image_keeps_the_base_byte_identical() {
        // Not a multiple of the 4 KiB block: the last block is partial.
        let len = 3 * (1 << 20) + 1536;
        let base = TempPath::new("snap.raw");
        let data = pattern(len, 21);
        std::fs::write(base.path(), &data).expect("write base");
        writes_stay_in_the_overlay(base.path(), Format::Raw, data);
    }

    #[test]
    fn snapshot_on_a_qcow2_image_keeps_the_base_byte_identical() {
        let raw = TempPath::new("snap-src.raw");
        let data = pattern(4 << 20, 22);
        std::fs::write(raw.path(), &data).expect("write raw");
        let base = TempPath::new("snap.qcow2");
        qemu_img(&["convert", "-O", "qcow2", s(raw.path()), s(base.path())]);
        writes_stay_in_the_overlay(base.path(), Format::Qcow2, data);
        check_clean(base.path());
    }

    #[test]
    fn concurrent_sector_writes_into_one_block_are_all_kept() {
        // Eight threads each write their own sector of the same blocks, in different orders: a
        // first write's copy of the base must never undo another thread's sector.
        let len = 4 << 20;
        let base = TempPath::new("snap-mt.raw");
        let data = pattern(len, 23);
        std::fs::write(base.path(), &data).expect("write base");
        let blocks = (len as u64 / BLOCK) as usize;
        // Races are rare per block: several fresh overlays make a lost sector near certain to
        // show if the locking were wrong.
        for round in 0..4 {
            let o = snapshot(base.path(), Format::Raw);
            let threads: Vec<_> = (0..8u64)
                .map(|t| {
                    let o = Arc::clone(&o);
                    std::thread::spawn(move || {
                        let mut rng = Rng::new(t + 100 * round);
                        let mut order: Vec<u64> = (0..blocks as u64).collect();
                        for i in (1..order.len()).rev() {
                            order.swap(i, rng.below(i as u64 + 1) as usize);
                        }
                        for b in order {
                            write(&*o, b * BLOCK + t * 512, &[t as u8 + 1; 512], &mut rng);
                        }
                    })
                })
                .collect();
            for t in threads {
                t.join().expect("writer thread");
            }
            let got = read_all(&*o);
            for (i, sector) in got.chunks(512).enumerate() {
                assert!(sector.iter().all(|&x| x == (i % 8) as u8 + 1), "sector {i}");
            }
        }
    }

    #[test]
    fn the_overlay_file_is_unlinked_from_the_start() {
        let f = temp_file(1 << 30).expect("temp file");
        let link = std::fs::read_link(format!("/proc/self/fd/{}", f.as_raw_fd())).expect("link");
        assert!(link.to_string_lossy().ends_with(" (deleted)"), "{link:?}");
        assert_eq!(f.metadata().expect("meta").len(), 1 << 30);
    }

    #[test]
    fn iovec_slicing_takes_exactly_the_range() {
        let mut b = [0u8; 100];
        let p = b.as_mut_ptr();
        let iov = [
            libc::iovec {
                iov_base: p as *mut libc::c_void,
                iov_len: 10,
            },
            libc::iovec {
                iov_base: p.wrapping_add(10) as *mut libc::c_void,
                iov_len: 0,
            },
            libc::iovec {
                iov_base: p.wrapping_add(10) as *mut libc::c_void,
                iov_len: 90,
            },
        ];
        let v = slice_iov(&iov, 5, 20);
        let got: Vec<(usize, usize)> = v
            .iter()
            .map(|v| (v.iov_base as usize - p as usize, v.iov_len))
            .collect();
        assert_eq!(got, [(5, 5), (10, 15)]);
    }
}
