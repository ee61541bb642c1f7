//! Raw images: the file is the disk. Reads and writes go straight from and to guest memory with
//! preadv/pwritev; the file is locked (shared for read-only users, exclusive for a writer) so two
//! lpar processes cannot write one image.

use crate::{BlockBackend, Cache, Options};
use std::fs::File;
use std::io;
use std::os::unix::io::AsRawFd;

pub struct Raw {
    file: File,
    size: u64,
    read_only: bool,
    cache: Cache,
}

impl Raw {
    pub fn open(o: &Options) -> Result<Raw, String> {
        let name = o.path.display();
        // Writethrough: every write is durable before it completes.
        let flags = match o.cache {
            Cache::Writethrough => libc::O_DSYNC,
            _ => 0,
        };
        let (file, meta) = crate::open_locked(&o.path, o.read_only, flags)?;
        // A block device reports size 0 in its metadata; seeking to its end finds it.
        let size = match meta.len() {
            0 if !meta.is_file() => {
                use std::io::Seek;
                (&file)
                    .seek(io::SeekFrom::End(0))
                    .map_err(|e| format!("{name}: {e}"))?
            }
            n => n,
        };
        Ok(Raw {
            file,
            // The guest sees whole sectors; a partial tail sector is not addressable.
            size: size & !511,
            read_only: o.read_only,
            cache: o.cache,
        })
    }
}

/// Most iovecs one system call takes (Linux's IOV_MAX).
const IOV_MAX: usize = 1024;

/// Repeats a vectored transfer until the whole range moved: short transfers are legal.
/// The caller's iovecs go to the system call as they are (a whole virtio request is one call);
/// after a short transfer the rest of a partly moved buffer goes alone.
///
/// # Safety
/// Every iovec must be valid for the transfer's direction for the call's duration.
pub(crate) unsafe fn whole(
    iov: &[libc::iovec],
    mut offset: u64,
    mut op: impl FnMut(&[libc::iovec], u64) -> isize,
) -> io::Result<()> {
    // Position: buffer `i`, `skip` bytes into it.
    let (mut i, mut skip) = (0usize, 0usize);
    loop {
        while i < iov.len() && skip >= iov[i].iov_len {
            skip = 0;
            i += 1;
        }
        if i == iov.len() {
            return Ok(());
        }
        let rest;
        let v = if skip == 0 {
            &iov[i..iov.len().min(i + IOV_MAX)]
        } else {
            rest = libc::iovec {
                // SAFETY: advancing within the buffer the caller vouched for.
                iov_base: unsafe { (iov[i].iov_base as *mut u8).add(skip) } as *mut libc::c_void,
                iov_len: iov[i].iov_len - skip,
            };
            std::slice::from_ref(&rest)
        };
        let r = op(v, offset);
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if r == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "end of image"));
        }
        offset += r as u64;
        let mut r = r as usize;
        while r > 0 && i < iov.len() {
            let left = iov[i].iov_len - skip;
            if r >= left {
                r -= left;
                skip = 0;
                i += 1;
            } else {
                skip += r;
                r = 0;
            }
        }
    }
}

impl BlockBackend for Raw {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_only(&self) -> bool {
        self.read_only
    }

    unsafe fn readv(&self, iov: &[libc::iovec], offset: u64) -> io::Result<()> {
        crate::check_range(self.size, iov, offset)?;
        let fd = self.file.as_raw_fd();
        // SAFETY: the caller guarantees the iovecs are writable memory.
        unsafe {
            whole(iov, offset, |v, off| {
                libc::preadv(fd, v.as_ptr(), v.len() as i32, off as libc::off_t)
            })
        }
    }

    unsafe fn writev(&self, iov: &[libc::iovec], offset: u64) -> io::Result<()> {
        if self.read_only {
            return Err(io::Error::from_raw_os_error(libc::EROFS));
        }
        crate::check_range(self.size, iov, offset)?;
        let fd = self.file.as_raw_fd();
        // SAFETY: the caller guarantees the iovecs are readable memory.
        unsafe {
            whole(iov, offset, |v, off| {
                libc::pwritev(fd, v.as_ptr(), v.len() as i32, off as libc::off_t)
            })
        }
    }

    fn flush(&self) -> io::Result<()> {
        match self.cache {
            Cache::Unsafe => Ok(()),
            _ if self.read_only => Ok(()),
            _ => self.file.sync_data(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BlockBackend;

    fn image(name: &str, len: usize) -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!("lpar-raw-{}-{name}", std::process::id()));
        let data: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
        std::fs::write(&p, data).expect("write");
        p
    }

    fn iov(b: &mut [u8]) -> libc::iovec {
        libc::iovec {
            iov_base: b.as_mut_ptr() as *mut libc::c_void,
            iov_len: b.len(),
        }
    }

    #[test]
    fn scattered_reads_and_writes_round_trip() {
        let p = image("rw", 8192);
        let r = Raw::open(&Options {
            path: p.clone(),
            ..Default::default()
        })
        .expect("open");
        assert_eq!(r.size(), 8192);
        let (mut a, mut b) = ([0u8; 100], [0u8; 412]);
        // SAFETY: both buffers live across the call.
        unsafe { r.readv(&[iov(&mut a), iov(&mut b)], 512) }.expect("read");
        assert_eq!(a[0], (512 * 7) as u8);
        assert_eq!(b[411], ((1023) * 7) as u8);
        let (mut w1, mut w2) = ([0xaau8; 3], [0x55u8; 509]);
        // SAFETY: as above.
        unsafe { r.writev(&[iov(&mut w1), iov(&mut w2)], 4096) }.expect("write");
        r.flush().expect("flush");
        let back = std::fs::read(&p).expect("read back");
        assert_eq!(&back[4096..4099], &[0xaa; 3]);
        assert!(back[4099..4608].iter().all(|&x| x == 0x55));
        // Beyond the end: an error, not a short read dressed up as data.
        let mut c = [0u8; 1024];
        // SAFETY: as above.
        assert!(unsafe { r.readv(&[iov(&mut c)], 7680) }.is_err());
        drop(r);
        let _ = std::fs::remove_file(p);
    }

    /// Short transfers (a signal, a pipe) resume exactly where they stopped, also in the
    /// middle of a buffer, and more buffers than one call takes go in several calls.
    #[test]
    fn short_transfers_resume_where_they_stopped() {
        let src: Vec<u8> = (0..20_000u32).map(|i| (i * 13 % 251) as u8).collect();
        // 1500 buffers of 1..=25 bytes.
        let mut bufs: Vec<Vec<u8>> = (0..1500).map(|k| vec![0u8; 1 + k % 25]).collect();
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        let iovs: Vec<libc::iovec> = bufs.iter_mut().map(|b| iov(b)).collect();
        let (mut calls, mut most) = (0, 0);
        // SAFETY: the buffers outlive the call; `op` writes only into the iovecs it is given.
        unsafe {
            whole(&iovs, 100, |v, off| {
                calls += 1;
                most = most.max(v.len());
                // Every third call moves at most 7 bytes; the others fill up to 3000 bytes.
                let mut budget = if calls % 3 == 0 { 7 } else { 3000 };
                let mut pos = off as usize;
                for x in v {
                    let n = x.iov_len.min(budget);
                    std::ptr::copy_nonoverlapping(src[pos..].as_ptr(), x.iov_base as *mut u8, n);
                    pos += n;
                    budget -= n;
                    if budget == 0 {
                        break;
                    }
                }
                (pos - off as usize) as isize
            })
        }
        .expect("whole");
        assert!(
            most <= IOV_MAX && calls > 2,
            "{calls} calls, at most {most} iovecs"
        );
        let got: Vec<u8> = bufs.concat();
        assert_eq!(got.len(), total);
        assert_eq!(got, src[100..100 + total]);
    }

    #[test]
    fn requests_beyond_the_disk_fail_and_leave_the_file_alone() {
        // 1000 bytes: a 512-byte disk, the partial tail sector not addressable.
        let p = image("end", 1000);
        let r = Raw::open(&Options {
            path: p.clone(),
            ..Default::default()
        })
        .expect("open");
        assert_eq!(r.size(), 512);
        let mut b = [0u8; 512];
        // SAFETY (all calls): `b` lives across them.
        assert!(unsafe { r.readv(&[iov(&mut b)], 512) }.is_err());
        assert!(unsafe { r.readv(&[iov(&mut b[..1])], 512) }.is_err());
        assert!(unsafe { r.writev(&[iov(&mut b)], 512) }.is_err());
        assert!(unsafe { r.writev(&[iov(&mut b)], 4096) }.is_err());
        assert!(unsafe { r.writev(&[iov(&mut b)], u64::MAX - 100) }.is_err());
        assert_eq!(std::fs::metadata(&p).expect("meta").len(), 1000);
        unsafe { r.readv(&[iov(&mut b)], 0) }.expect("read inside");
        drop(r);
        let _ = std::fs::remove_file(p);
    }

    #[test]
    fn a_second_writer_is_refused_and_read_only_refuses_writes() {
        let p = image("lock", 1024);
        let o = Options {
            path: p.clone(),
            ..Default::default()
        };
        let first = Raw::open(&o).expect("first");
        let e = Raw::open(&o).err().expect("second writer must fail");
        assert!(e.contains("in use by another process"), "{e}");
        drop(first);
        let ro = Raw::open(&Options {
            read_only: true,
            ..o.clone()
        })
        .expect("read-only");
        let mut b = [0u8; 512];
        // SAFETY: b lives across the call.
        assert!(unsafe { ro.writev(&[iov(&mut b)], 0) }.is_err());
        drop(ro);
        let _ = std::fs::remove_file(p);
    }
}
