//! `-netdev tap`: a Linux tap interface (/dev/net/tun, IFF_TAP|IFF_NO_PI), optionally with a
//! virtio-net header on every frame (IFF_VNET_HDR) so that checksum and segmentation offloads
//! pass straight through, and optionally multi-queue (one file descriptor per queue pair).
//!
//! The descriptors are non-blocking: send is one writev, recv one read. To tell the front end
//! when frames arrive, each queue has a small thread that poll()s its descriptor, but only
//! while armed by a recv that found nothing, so an idle or busy queue costs no wake-ups.

use std::ffi::c_int;
use std::io::{self, IoSlice};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};

use crate::{lock, Backend, EventFd, Offload, TapConfig, VNET_HDR_LEN};

/// `struct ifreq` with the flags member of its union, padded to the kernel's 40 bytes.
#[repr(C)]
struct IfReq {
    name: [u8; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

impl IfReq {
    fn new(name: &str, flags: c_int) -> IfReq {
        let mut r = IfReq {
            name: [0; libc::IFNAMSIZ],
            // The kernel's ifr_flags is a short; TUN flags all fit.
            flags: flags as libc::c_short,
            _pad: [0; 22],
        };
        let n = name.len().min(libc::IFNAMSIZ - 1);
        r.name[..n].copy_from_slice(&name.as_bytes()[..n]);
        r
    }

    fn name(&self) -> String {
        let n = self
            .name
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(self.name.len());
        String::from_utf8_lossy(&self.name[..n]).into_owned()
    }
}

/// Consecutive bad frames recv skips before it returns None (re-arming the waker), so that a
/// flood of oversized frames cannot keep one call busy.
const RECV_SKIP_MAX: usize = 64;

/// What all queues of one interface share; the last queue to close runs the downscript.
struct TapShared {
    id: String,
    ifname: String,
    downscript: Option<PathBuf>,
}

impl Drop for TapShared {
    fn drop(&mut self) {
        if let Some(s) = &self.downscript {
            if let Err(e) = run_script(s, &self.ifname) {
                eprintln!("-netdev tap,id={}: {e}", self.id);
            }
        }
    }
}

/// The arming handshake between recv and a queue's waker thread.
struct WakeCtl {
    state: Mutex<WakeState>,
    cond: Condvar,
    waker: Mutex<Option<Arc<dyn Fn() + Send + Sync>>>,
    /// Interrupts the thread's poll() when the queue closes.
    stop: EventFd,
}

struct WakeState {
    armed: bool,
    stop: bool,
}

impl WakeCtl {
    fn arm(&self) {
        let mut s = lock(&self.state);
        if !s.armed {
            s.armed = true;
            self.cond.notify_one();
        }
    }
}

/// One queue pair of a tap interface.
pub struct TapQueue {
    // Field order matters on drop: `shared` goes before `fd`, so a downscript run by the last
    // queue still finds the interface (it vanishes with its last descriptor).
    shared: Arc<TapShared>,
    fd: OwnedFd,
    vnet_hdr: bool,
    dropped: AtomicU64,
    ctl: Arc<WakeCtl>,
    thread: Option<JoinHandle<()>>,
}

impl TapQueue {
    /// The interface's name (the kernel's choice when none was given).
    pub fn ifname(&self) -> &str {
        &self.shared.ifname
    }

    fn new(shared: Arc<TapShared>, fd: OwnedFd, vnet_hdr: bool) -> Result<TapQueue, String> {
        let stop = EventFd::new().map_err(|e| format!("cannot create eventfd: {e}"))?;
        let ctl = Arc::new(WakeCtl {
            // A fresh queue acts as if recv had just come back empty.
            state: Mutex::new(WakeState {
                armed: true,
                stop: false,
            }),
            cond: Condvar::new(),
            waker: Mutex::new(None),
            stop,
        });
        let thread = {
            let ctl = ctl.clone();
            let raw = fd.as_raw_fd();
            thread::Builder::new()
                .name(format!("tap-{}", shared.ifname))
                // It only polls and calls the waker.
                .stack_size(256 << 10)
                .spawn(move || wake_thread(&ctl, raw))
                .map_err(|e| format!("cannot start a tap thread: {e}"))?
        };
        Ok(TapQueue {
            shared,
            fd,
            vnet_hdr,
            dropped: AtomicU64::new(0),
            ctl,
            thread: Some(thread),
        })
    }

    fn drop_frame(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }
}

/// Waits for the queue to be armed, then for its descriptor to become readable, then calls
/// the waker once and disarms.
fn wake_thread(ctl: &WakeCtl, fd: RawFd) {
    loop {
        {
            let mut s = lock(&ctl.state);
            while !s.armed && !s.stop {
                s = ctl.cond.wait(s).unwrap_or_else(|e| e.into_inner());
            }
            if s.stop {
                return;
            }
        }
        let mut fds = [
            libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: ctl.stop.raw(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: two live pollfds; `fd` stays open until this thread is joined.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if r < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            // Not expected with valid descriptors; back off rather than spin.
            thread::sleep(std::time::Duration::from_millis(100));
            continue;
        }
        if fds[1].revents != 0 {
            return;
        }
        // POLLERR/POLLHUP (interface gone) also wake: recv then reports the error and, having
        // failed rather than found nothing, does not re-arm.
        if fds[0].revents != 0 {
            let fire = {
                let mut s = lock(&ctl.state);
                std::mem::replace(&mut s.armed, false)
            };
            if fire {
                let w = lock(&ctl.waker).clone();
                if let Some(w) = w {
                    w();
                }
            }
        }
    }
}

impl Backend for TapQueue {
    fn vnet_hdr(&self) -> bool {
        self.vnet_hdr
    }

    fn send(&self, bufs: &[IoSlice]) -> io::Result<()> {
        let cnt = c_int::try_from(bufs.len()).unwrap_or(c_int::MAX);
        loop {
            // SAFETY: IoSlice is ABI-compatible with iovec; the slices are live for the call.
            let n = unsafe {
                libc::writev(
                    self.fd.as_raw_fd(),
                    bufs.as_ptr().cast::<libc::iovec>(),
                    cnt,
                )
            };
            if n >= 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                // Queue full, interface down, or a frame (or header) the kernel rejects:
                // dropped like a NIC drops, the guest's protocols recover.
                Some(
                    libc::EAGAIN
                    | libc::EIO
                    | libc::EINVAL
                    | libc::ENOBUFS
                    | libc::EMSGSIZE
                    | libc::ENOMEM,
                ) => {
                    self.drop_frame();
                    return Ok(());
                }
                _ => return Err(e),
            }
        }
    }

    fn recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        // One byte past `buf` tells a frame that did not fit, whether the kernel reports the
        // frame's full length or only what it copied.
        let mut spare = [0u8; 1];
        for _ in 0..RECV_SKIP_MAX {
            let iov = [
                libc::iovec {
                    iov_base: buf.as_mut_ptr().cast(),
                    iov_len: buf.len(),
                },
                libc::iovec {
                    iov_base: spare.as_mut_ptr().cast(),
                    iov_len: 1,
                },
            ];
            // SAFETY: both iovecs describe live, exclusively borrowed memory.
            let n = unsafe { libc::readv(self.fd.as_raw_fd(), iov.as_ptr(), 2) };
            if n < 0 {
                let e = io::Error::last_os_error();
                match e.raw_os_error() {
                    Some(libc::EAGAIN) => {
                        self.ctl.arm();
                        return Ok(None);
                    }
                    Some(libc::EINTR) => continue,
                    // A buffer too small for even the vnet header: the frame is gone.
                    Some(libc::EINVAL) => {
                        self.drop_frame();
                        continue;
                    }
                    _ => return Err(e),
                }
            }
            let n = n as usize;
            if n == 0 || n > buf.len() {
                self.drop_frame();
                continue;
            }
            return Ok(Some(n));
        }
        // Armed with frames possibly still queued: the thread wakes the caller at once.
        self.ctl.arm();
        Ok(None)
    }

    fn set_waker(&self, waker: Arc<dyn Fn() + Send + Sync>) {
        *lock(&self.ctl.waker) = Some(waker);
    }

    fn set_offload(&self, o: Offload) {
        if !self.vnet_hdr {
            return;
        }
        let mut flags: libc::c_uint = 0;
        // The kernel refuses segmentation offloads without checksum offload.
        if o.csum {
            flags |= libc::TUN_F_CSUM;
            if o.tso4 {
                flags |= libc::TUN_F_TSO4;
            }
            if o.tso6 {
                flags |= libc::TUN_F_TSO6;
            }
            if o.ecn {
                flags |= libc::TUN_F_TSO_ECN;
            }
            if o.ufo {
                flags |= libc::TUN_F_UFO;
            }
        }
        let set = |f: libc::c_uint| {
            // SAFETY: TUNSETOFFLOAD takes the flags by value.
            unsafe {
                libc::ioctl(
                    self.fd.as_raw_fd(),
                    libc::TUNSETOFFLOAD,
                    libc::c_ulong::from(f),
                )
            }
        };
        let mut r = set(flags);
        // Kernels from 4.14 on no longer accept UFO; everything else still applies.
        if r < 0 && flags & libc::TUN_F_UFO != 0 {
            r = set(flags & !libc::TUN_F_UFO);
        }
        if r < 0 {
            eprintln!(
                "-netdev tap,id={}: TUNSETOFFLOAD {flags:#x} failed: {}",
                self.shared.id,
                io::Error::last_os_error()
            );
        }
    }

    fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl Drop for TapQueue {
    fn drop(&mut self) {
        lock(&self.ctl.state).stop = true;
        self.ctl.cond.notify_one();
        self.ctl.stop.signal();
        if let Some(t) = self.thread.take() {
            // Dropped from inside the waker, i.e. on the thread itself, which must not join
            // itself: it is not polling now and exits on `stop` once the waker returns.
            if t.thread().id() != thread::current().id() {
                let _ = t.join();
            }
        }
    }
}

fn run_script(path: &Path, ifname: &str) -> Result<(), String> {
    let status = Command::new(path)
        .arg(ifname)
        .status()
        .map_err(|e| format!("could not launch network script {}: {e}", path.display()))?;
    if !status.success() {
        return Err(format!(
            "network script {} {ifname} failed with {status}",
            path.display()
        ));
    }
    Ok(())
}

fn os_err(what: &str) -> String {
    format!("{what}: {}", io::Error::last_os_error())
}

fn set_nonblocking(fd: RawFd) -> Result<(), String> {
    // SAFETY: fcntl on a descriptor we own.
    let fl = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    // SAFETY: as above.
    if fl < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK) } < 0 {
        return Err(os_err("cannot make the tap descriptor non-blocking"));
    }
    Ok(())
}

fn set_vnet_hdr_len(fd: RawFd) -> Result<(), String> {
    let len = VNET_HDR_LEN as c_int;
    // SAFETY: TUNSETVNETHDRSZ reads an int through the pointer.
    if unsafe { libc::ioctl(fd, libc::TUNSETVNETHDRSZ, &len) } < 0 {
        return Err(os_err("TUNSETVNETHDRSZ failed"));
    }
    // The header is little-endian (virtio 1.0); only big-endian hosts must say so.
    if cfg!(target_endian = "big") {
        let on: c_int = 1;
        // SAFETY: TUNSETVNETLE reads an int through the pointer.
        if unsafe { libc::ioctl(fd, libc::TUNSETVNETLE, &on) } < 0 {
            return Err(os_err("TUNSETVNETLE failed"));
        }
    }
    Ok(())
}

fn open_tun() -> Result<OwnedFd, String> {
    // SAFETY: a NUL-terminated path literal.
    let fd = unsafe { libc::open(c"/dev/net/tun".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(os_err("cannot open /dev/net/tun"));
    }
    // SAFETY: a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Opens the tap for `cfg`: one queue, or `queues` with IFF_MULTI_QUEUE.
pub(crate) fn open(id: &str, cfg: &TapConfig) -> Result<Vec<Arc<TapQueue>>, String> {
    open_inner(id, cfg).map_err(|m| format!("-netdev tap,id={id}: {m}"))
}

fn open_inner(id: &str, cfg: &TapConfig) -> Result<Vec<Arc<TapQueue>>, String> {
    let nq = usize::from(cfg.queues.max(1));
    if let Some(fd) = cfg.fd {
        if nq > 1 || cfg.ifname.is_some() || cfg.script.is_some() || cfg.downscript.is_some() {
            return Err("ifname=, script=, downscript= and queues= are invalid with fd=".into());
        }
        return open_fd(id, fd, cfg.vnet_hdr);
    }
    if let Some(n) = &cfg.ifname {
        if n.is_empty() || n.len() >= libc::IFNAMSIZ || n.contains(['\0', '/']) {
            return Err(format!(
                "invalid ifname '{n}' (1 to {} bytes, no '/')",
                libc::IFNAMSIZ - 1
            ));
        }
    }
    let first = open_tun()?;
    let mut features: libc::c_uint = 0;
    // SAFETY: TUNGETFEATURES writes an unsigned int through the pointer.
    if unsafe { libc::ioctl(first.as_raw_fd(), libc::TUNGETFEATURES, &mut features) } < 0 {
        // Kernels without the ioctl have neither feature.
        features = 0;
    }
    let has = |f: c_int| features & (f as libc::c_uint) != 0;
    let vnet = match cfg.vnet_hdr {
        Some(false) => false,
        Some(true) if !has(libc::IFF_VNET_HDR) => {
            return Err(
                "vnet_hdr=on requested, but the kernel does not support IFF_VNET_HDR".into(),
            )
        }
        Some(true) => true,
        None => has(libc::IFF_VNET_HDR),
    };
    if nq > 1 && !has(libc::IFF_MULTI_QUEUE) {
        return Err(format!(
            "queues={nq} requested, but the kernel does not support IFF_MULTI_QUEUE"
        ));
    }
    let mut flags = libc::IFF_TAP | libc::IFF_NO_PI;
    if vnet {
        flags |= libc::IFF_VNET_HDR;
    }
    if nq > 1 {
        flags |= libc::IFF_MULTI_QUEUE;
    }
    let mut name = cfg.ifname.clone().unwrap_or_default();
    let mut fds = Vec::with_capacity(nq);
    let mut first = Some(first);
    for _ in 0..nq {
        let fd = match first.take() {
            Some(f) => f,
            None => open_tun()?,
        };
        let mut ifr = IfReq::new(&name, flags);
        // SAFETY: TUNSETIFF reads and updates a 40-byte struct ifreq.
        if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF, &mut ifr) } < 0 {
            let shown = if name.is_empty() { "tap%d" } else { &name };
            return Err(os_err(&format!(
                "could not configure tap interface '{shown}'"
            )));
        }
        // Later queues attach to the interface the first one created.
        name = ifr.name();
        if vnet {
            set_vnet_hdr_len(fd.as_raw_fd())?;
        }
        set_nonblocking(fd.as_raw_fd())?;
        fds.push(fd);
    }
    if let Some(s) = &cfg.script {
        run_script(s, &name)?;
    }
    let shared = Arc::new(TapShared {
        id: id.to_string(),
        ifname: name,
        downscript: cfg.downscript.clone(),
    });
    fds.into_iter()
        .map(|fd| TapQueue::new(shared.clone(), fd, vnet).map(Arc::new))
        .collect()
}

/// `fd=`: a tap descriptor opened by whoever started us. It is duplicated so that the caller's
/// descriptor is never closed behind its back.
fn open_fd(id: &str, fd: i32, want_vnet: Option<bool>) -> Result<Vec<Arc<TapQueue>>, String> {
    // SAFETY: F_DUPFD_CLOEXEC on an arbitrary number either fails (EBADF) or yields a fresh
    // descriptor that we own; the original is untouched.
    let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if dup < 0 {
        return Err(os_err(&format!("invalid fd={fd}")));
    }
    // SAFETY: `dup` is fresh and ours alone.
    let owned = unsafe { OwnedFd::from_raw_fd(dup) };
    let mut ifr = IfReq::new("", 0);
    // SAFETY: TUNGETIFF fills a 40-byte struct ifreq.
    if unsafe { libc::ioctl(owned.as_raw_fd(), libc::TUNGETIFF, &mut ifr) } < 0 {
        return Err(os_err(&format!("fd={fd} is not a tap device")));
    }
    let flags = c_int::from(ifr.flags);
    if flags & libc::IFF_TAP == 0 {
        return Err(format!("fd={fd} is a tun device, not tap"));
    }
    if flags & libc::IFF_NO_PI == 0 {
        return Err(format!("fd={fd} was opened without IFF_NO_PI"));
    }
    // The header was chosen by whoever opened the device; vnet_hdr= can only confirm it.
    let vnet = flags & libc::IFF_VNET_HDR != 0;
    match want_vnet {
        Some(true) if !vnet => return Err(format!("vnet_hdr=on, but fd={fd} has no vnet header")),
        Some(false) if vnet => return Err(format!("vnet_hdr=off, but fd={fd} has a vnet header")),
        _ => {}
    }
    if vnet {
        set_vnet_hdr_len(owned.as_raw_fd())?;
    }
    set_nonblocking(owned.as_raw_fd())?;
    let shared = Arc::new(TapShared {
        id: id.to_string(),
        ifname: ifr.name(),
        downscript: None,
    });
    Ok(vec![Arc::new(TapQueue::new(shared, owned, vnet)?)])
}
