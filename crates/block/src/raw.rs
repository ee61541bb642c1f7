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

/// iovecs passed to one system call: a stack array, so a request allocates nothing.
const IOV_BATCH: usize = 64;

/// Repeats a vectored transfer until the whole range moved: short transfers are legal.
///
/// # Safety
/// Every iovec must be valid for the transfer's direction for the call's duration.
pub(crate) unsafe fn whole(
    iov: &[libc::iovec],
    mut offset: u64,
    mut op: impl FnMut(&[libc::iovec], u64) -> isize,
) -> io::Result<()> {
    let empty = libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    };
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
        let mut batch = [empty; IOV_BATCH];
        let mut n = 0;
        for (k, v) in iov[i..].iter().enumerate().take(IOV_BATCH) {
            let s = if k == 0 { skip } else { 0 };
            // SAFETY: advancing within the buffer the caller vouched for.
            batch[n].iov_base = unsafe { (v.iov_base as *mut u8).add(s) } as *mut libc::c_void;
            batch[n].iov_len = v.iov_len - s;
            n += 1;
        }
        let r = op(&batch[..n], offset);
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
