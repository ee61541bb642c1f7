//! `-netdev user`: libslirp, QEMU's user-mode TCP/IP stack, which terminates the guest's
//! connections in host sockets and serves DHCP, DNS forwarding and TFTP itself.
//!
//! A Slirp instance is not thread-safe, so it is created, used and destroyed on one dedicated
//! thread that runs a poll() loop: slirp's sockets, slirp's timers and an eventfd that other
//! threads signal. Frames cross between that thread and the rest of the emulator through two
//! bounded queues whose buffers are recycled, so steady-state traffic allocates nothing.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::io::{self, IoSlice};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::{self, JoinHandle};

use libslirp_sys as sys;

use crate::{lock, Backend, EventFd, UserConfig};

/// Guest-bound queue bounds: beyond them frames are dropped, as a NIC drops when its ring is
/// full; TCP inside slirp retransmits.
const RX_MAX_FRAMES: usize = 1024;
const RX_MAX_BYTES: usize = 4 << 20;
/// Network-bound queue bounds (frames the guest sent that the slirp thread has not taken yet).
const TX_MAX_FRAMES: usize = 1024;
const TX_MAX_BYTES: usize = 4 << 20;
/// Largest guest frame passed on: a 64 KiB IP packet plus Ethernet and VLAN headers. Anything
/// bigger is garbage.
const MAX_FRAME: usize = 65_536 + 64;
/// An Ethernet header; shorter frames carry nothing slirp could use.
const MIN_FRAME: usize = 14;
/// Spare buffers kept for reuse per queue.
const POOL_MAX: usize = 256;
/// Guest errors printed before the rest are suppressed: a misbehaving guest must not flood stderr.
const GUEST_ERROR_LINES: u32 = 5;

/// A bounded FIFO of frames plus a pool of spare buffers to copy the next frames into.
struct FrameQueue {
    frames: VecDeque<Vec<u8>>,
    bytes: usize,
    pool: Vec<Vec<u8>>,
    max_frames: usize,
    max_bytes: usize,
}

impl FrameQueue {
    fn new(max_frames: usize, max_bytes: usize) -> FrameQueue {
        FrameQueue {
            frames: VecDeque::with_capacity(max_frames),
            bytes: 0,
            pool: Vec::with_capacity(POOL_MAX),
            max_frames,
            max_bytes,
        }
    }

    /// Appends the concatenation of `parts` (`len` bytes in all); false if the queue is full.
    fn push<'a>(&mut self, parts: impl Iterator<Item = &'a [u8]>, len: usize) -> bool {
        if self.frames.len() >= self.max_frames || self.bytes + len > self.max_bytes {
            return false;
        }
        let mut buf = self.pool.pop().unwrap_or_default();
        buf.clear();
        buf.reserve(len);
        for p in parts {
            buf.extend_from_slice(p);
        }
        self.bytes += buf.len();
        self.frames.push_back(buf);
        true
    }

    fn recycle(&mut self, buf: Vec<u8>) {
        if self.pool.len() < POOL_MAX {
            self.pool.push(buf);
        }
    }
}

struct Rx {
    q: FrameQueue,
    /// recv found the queue empty and the next frame must call the waker.
    armed: bool,
}

/// What the slirp thread and the front end's threads share.
struct Shared {
    id: String,
    rx: Mutex<Rx>,
    tx: Mutex<FrameQueue>,
    waker: Mutex<Option<Arc<dyn Fn() + Send + Sync>>>,
    dropped: AtomicU64,
    stop: AtomicBool,
    /// Wakes the slirp thread: a frame to send, or stop.
    wake: EventFd,
}

impl Shared {
    fn drop_frame(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// A frame from slirp for the guest; the front end hears of it at the end of slirp's turn
    /// ([`Shared::wake_guest`]), so that it takes the whole burst at once (and may merge it).
    fn deliver(&self, frame: &[u8]) {
        let mut rx = lock(&self.rx);
        if !rx.q.push(std::iter::once(frame), frame.len()) {
            drop(rx);
            self.drop_frame();
        }
    }

    /// Calls the waker if frames arrived since recv last found the queue empty.
    fn wake_guest(&self) {
        let wake = {
            let mut rx = lock(&self.rx);
            !rx.q.frames.is_empty() && std::mem::replace(&mut rx.armed, false)
        };
        if wake {
            // Cloned so that the waker runs unlocked and may call recv itself.
            let w = lock(&self.waker).clone();
            if let Some(w) = w {
                w();
            }
        }
    }
}

/// The `-netdev user` backend: a handle on the slirp thread.
pub struct SlirpBackend {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// Starts the slirp thread for `cfg` and waits until it has set up the stack and the port
/// forwards, so that errors come back from here.
pub(crate) fn open(id: &str, cfg: &UserConfig) -> Result<Arc<SlirpBackend>, String> {
    let err = |m: String| format!("-netdev user,id={id}: {m}");
    cfg.validate().map_err(err)?;
    let wake = EventFd::new().map_err(|e| err(format!("cannot create eventfd: {e}")))?;
    let shared = Arc::new(Shared {
        id: id.to_string(),
        rx: Mutex::new(Rx {
            q: FrameQueue::new(RX_MAX_FRAMES, RX_MAX_BYTES),
            // A fresh backend acts as if recv had just come back empty.
            armed: true,
        }),
        tx: Mutex::new(FrameQueue::new(TX_MAX_FRAMES, TX_MAX_BYTES)),
        waker: Mutex::new(None),
        dropped: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        wake,
    });
    let (ready_tx, ready_rx) = mpsc::sync_channel(1);
    let thread = {
        let shared = shared.clone();
        let cfg = cfg.clone();
        thread::Builder::new()
            .name(format!("slirp-{id}"))
            .spawn(move || run(&shared, &cfg, ready_tx))
            .map_err(|e| err(format!("cannot start the slirp thread: {e}")))?
    };
    match ready_rx.recv() {
        Ok(Ok(())) => Ok(Arc::new(SlirpBackend {
            shared,
            thread: Some(thread),
        })),
        Ok(Err(m)) => {
            let _ = thread.join();
            Err(err(m))
        }
        Err(_) => {
            let _ = thread.join();
            Err(err("the slirp thread died while starting".into()))
        }
    }
}

impl SlirpBackend {
    /// The netdev's `id=`.
    pub fn id(&self) -> &str {
        &self.shared.id
    }
}

impl Backend for SlirpBackend {
    fn vnet_hdr(&self) -> bool {
        false
    }

    fn send(&self, bufs: &[IoSlice]) -> io::Result<()> {
        let len = bufs.iter().fold(0usize, |a, b| a.saturating_add(b.len()));
        if !(MIN_FRAME..=MAX_FRAME).contains(&len) {
            self.shared.drop_frame();
            return Ok(());
        }
        let was_empty = {
            let mut tx = lock(&self.shared.tx);
            let was_empty = tx.frames.is_empty();
            if !tx.push(bufs.iter().map(|b| &b[..]), len) {
                drop(tx);
                self.shared.drop_frame();
                return Ok(());
            }
            was_empty
        };
        // The slirp thread empties the whole queue each time it wakes, so only the first frame
        // of a batch needs to wake it.
        if was_empty {
            self.shared.wake.signal();
        }
        Ok(())
    }

    fn recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        let mut rx = lock(&self.shared.rx);
        while let Some(f) = rx.q.frames.pop_front() {
            rx.q.bytes -= f.len();
            let n = f.len();
            let fits = n <= buf.len();
            if fits {
                buf[..n].copy_from_slice(&f);
            }
            rx.q.recycle(f);
            if fits {
                return Ok(Some(n));
            }
            self.shared.drop_frame();
        }
        rx.armed = true;
        Ok(None)
    }

    fn set_waker(&self, waker: Arc<dyn Fn() + Send + Sync>) {
        *lock(&self.shared.waker) = Some(waker);
    }

    /// libslirp terminates the guest's connections and builds every frame it sends the guest,
    /// computing the IP, TCP, UDP and ICMP checksums as it does (none is forwarded as received).
    fn checksums_valid(&self) -> bool {
        true
    }

    fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }
}

impl Drop for SlirpBackend {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.wake.signal();
        if let Some(t) = self.thread.take() {
            // The last reference may go away inside the waker, on the slirp thread itself;
            // it then finishes on its own after seeing `stop`.
            if t.thread().id() != thread::current().id() {
                let _ = t.join();
            }
        }
    }
}

/// A timer slirp created; fired by the loop.
struct Timer {
    cb: sys::SlirpTimerCb,
    cb_opaque: *mut c_void,
    /// Expiry in milliseconds of `clock_ns`'s clock; None when not armed.
    expire_ms: Cell<Option<i64>>,
}

/// The slirp thread's state, reached by every callback through slirp's opaque pointer. Only
/// shared references are ever formed to it (callbacks nest inside slirp calls), hence the cells.
struct LoopState {
    shared: Arc<Shared>,
    fds: RefCell<Vec<libc::pollfd>>,
    /// Boxed timers, owned here, freed by timer_free or at the end.
    timers: RefCell<Vec<*mut Timer>>,
    guest_errors: Cell<u32>,
}

impl Drop for LoopState {
    fn drop(&mut self) {
        for t in self.timers.get_mut().drain(..) {
            // SAFETY: every pointer in the list came from Box::into_raw in timer_new and was
            // not freed (timer_free removes what it frees).
            drop(unsafe { Box::from_raw(t) });
        }
    }
}

fn clock_ns() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: writes into a live timespec; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec)
}

impl LoopState {
    /// Milliseconds until the next armed timer, if any.
    fn next_timer_ms(&self) -> Option<i64> {
        let now = clock_ns() / 1_000_000;
        let timers = self.timers.try_borrow().ok()?;
        timers
            .iter()
            // SAFETY: pointers in the list are live timers.
            .filter_map(|&t| unsafe { (*t).expire_ms.get() })
            .min()
            .map(|e| (e - now).max(0))
    }

    /// Fires the timers that are due. A callback may add, change or free timers, so the list is
    /// searched afresh each time and never borrowed across a callback.
    fn run_timers(&self) {
        // Bounded: a timer that keeps re-arming itself in the past must not hang the loop.
        for _ in 0..64 {
            let now = clock_ns() / 1_000_000;
            let due = match self.timers.try_borrow() {
                Ok(v) => v.iter().copied().find(|&t| {
                    // SAFETY: pointers in the list are live timers.
                    unsafe { (*t).expire_ms.get() }.is_some_and(|e| e <= now)
                }),
                Err(_) => None,
            };
            let Some(t) = due else { break };
            // SAFETY: `t` is in the list, hence live; nothing frees it before the callback.
            let (cb, arg) = unsafe {
                (*t).expire_ms.set(None);
                ((*t).cb, (*t).cb_opaque)
            };
            if let Some(cb) = cb {
                // SAFETY: slirp's own callback with the argument it registered.
                unsafe { cb(arg) };
            }
        }
    }
}

/// Frees the Slirp instance when the thread's function returns, whichever way.
struct SlirpHandle(*mut sys::Slirp);

impl Drop for SlirpHandle {
    fn drop(&mut self) {
        // SAFETY: the pointer came from slirp_new and is freed only here; the LoopState its
        // callbacks use is declared before this handle and so outlives it.
        unsafe { sys::slirp_cleanup(self.0) };
    }
}

/// `SlirpCb` as libslirp 4.7 declares it: two members longer than the crate's copy. libslirp
/// reads them only for SlirpConfig version 4 and up; the padding makes the table the full size
/// regardless.
#[repr(C)]
struct CallbackTable {
    cb: sys::SlirpCb,
    init_completed: Option<unsafe extern "C" fn(*mut sys::Slirp, *mut c_void)>,
    timer_new_opaque: Option<unsafe extern "C" fn(c_int, *mut c_void, *mut c_void) -> *mut c_void>,
}

static CALLBACKS: CallbackTable = CallbackTable {
    cb: sys::SlirpCb {
        send_packet: Some(cb_send_packet),
        guest_error: Some(cb_guest_error),
        clock_get_ns: Some(cb_clock_get_ns),
        timer_new: Some(cb_timer_new),
        timer_free: Some(cb_timer_free),
        timer_mod: Some(cb_timer_mod),
        register_poll_fd: Some(cb_register_poll_fd),
        unregister_poll_fd: Some(cb_unregister_poll_fd),
        notify: Some(cb_notify),
    },
    init_completed: None,
    timer_new_opaque: None,
};

/// # Safety
/// `opaque` must be the LoopState pointer given to slirp_new (every callback gets that).
unsafe fn state<'a>(opaque: *mut c_void) -> &'a LoopState {
    // SAFETY: per this function's contract, a live LoopState that outlives the Slirp.
    unsafe { &*(opaque as *const LoopState) }
}

unsafe extern "C" fn cb_send_packet(buf: *const c_void, len: usize, opaque: *mut c_void) -> isize {
    // SAFETY: slirp passes back our opaque pointer.
    let st = unsafe { state(opaque) };
    if buf.is_null() {
        return -1;
    }
    // SAFETY: slirp hands a frame of `len` readable bytes, valid for this call.
    let frame = unsafe { std::slice::from_raw_parts(buf.cast::<u8>(), len) };
    st.shared.deliver(frame);
    isize::try_from(len).unwrap_or(isize::MAX)
}

unsafe extern "C" fn cb_guest_error(msg: *const c_char, opaque: *mut c_void) {
    // SAFETY: slirp passes back our opaque pointer.
    let st = unsafe { state(opaque) };
    let n = st.guest_errors.get();
    st.guest_errors.set(n.saturating_add(1));
    let id = &st.shared.id;
    if n < GUEST_ERROR_LINES {
        let text = if msg.is_null() {
            "(no message)".into()
        } else {
            // SAFETY: slirp passes a NUL-terminated string valid for this call.
            unsafe { CStr::from_ptr(msg) }.to_string_lossy()
        };
        eprintln!("-netdev user,id={id}: guest error: {text}");
    } else if n == GUEST_ERROR_LINES {
        eprintln!("-netdev user,id={id}: further guest errors not shown");
    }
}

unsafe extern "C" fn cb_clock_get_ns(_opaque: *mut c_void) -> i64 {
    clock_ns()
}

unsafe extern "C" fn cb_timer_new(
    cb: sys::SlirpTimerCb,
    cb_opaque: *mut c_void,
    opaque: *mut c_void,
) -> *mut c_void {
    // SAFETY: slirp passes back our opaque pointer.
    let st = unsafe { state(opaque) };
    let t = Box::into_raw(Box::new(Timer {
        cb,
        cb_opaque,
        expire_ms: Cell::new(None),
    }));
    match st.timers.try_borrow_mut() {
        Ok(mut v) => v.push(t),
        // Never borrowed across a slirp call, so this cannot happen; an untracked timer would
        // merely never fire.
        Err(_) => eprintln!("-netdev user,id={}: timer list busy", st.shared.id),
    }
    t.cast()
}

unsafe extern "C" fn cb_timer_free(timer: *mut c_void, opaque: *mut c_void) {
    // SAFETY: slirp passes back our opaque pointer.
    let st = unsafe { state(opaque) };
    let t = timer.cast::<Timer>();
    let Ok(mut v) = st.timers.try_borrow_mut() else {
        return;
    };
    // Only pointers we handed out and still own are freed.
    if let Some(i) = v.iter().position(|&p| p == t) {
        v.swap_remove(i);
        // SAFETY: it came from Box::into_raw in timer_new and has just left the list.
        drop(unsafe { Box::from_raw(t) });
    }
}

unsafe extern "C" fn cb_timer_mod(timer: *mut c_void, expire_ms: i64, opaque: *mut c_void) {
    // SAFETY: slirp passes back our opaque pointer.
    let st = unsafe { state(opaque) };
    let t = timer.cast::<Timer>();
    let Ok(v) = st.timers.try_borrow() else {
        return;
    };
    if v.contains(&t) {
        // SAFETY: a timer in the list is live.
        unsafe { (*t).expire_ms.set(Some(expire_ms)) };
    }
}

unsafe extern "C" fn cb_register_poll_fd(_fd: c_int, _opaque: *mut c_void) {
    // Nothing to do: slirp reports its descriptors afresh through add_poll every iteration.
}

unsafe extern "C" fn cb_unregister_poll_fd(_fd: c_int, _opaque: *mut c_void) {}

unsafe extern "C" fn cb_notify(opaque: *mut c_void) {
    // SAFETY: slirp passes back our opaque pointer.
    let st = unsafe { state(opaque) };
    // Makes the next poll() return at once so slirp gets another look.
    st.shared.wake.signal();
}

unsafe extern "C" fn cb_add_poll(fd: c_int, events: c_int, opaque: *mut c_void) -> c_int {
    // SAFETY: slirp_pollfds_fill passes back the LoopState pointer we gave it.
    let st = unsafe { state(opaque) };
    let mut ev: libc::c_short = 0;
    if events & sys::SLIRP_POLL_IN != 0 {
        ev |= libc::POLLIN;
    }
    if events & sys::SLIRP_POLL_OUT != 0 {
        ev |= libc::POLLOUT;
    }
    if events & sys::SLIRP_POLL_PRI != 0 {
        ev |= libc::POLLPRI;
    }
    // (POLLERR and POLLHUP are always reported.)
    let Ok(mut fds) = st.fds.try_borrow_mut() else {
        return -1;
    };
    fds.push(libc::pollfd {
        fd,
        events: ev,
        revents: 0,
    });
    c_int::try_from(fds.len() - 1).unwrap_or(-1)
}

unsafe extern "C" fn cb_get_revents(idx: c_int, opaque: *mut c_void) -> c_int {
    // SAFETY: slirp_pollfds_poll passes back the LoopState pointer we gave it.
    let st = unsafe { state(opaque) };
    let Ok(fds) = st.fds.try_borrow() else {
        return 0;
    };
    let Some(p) = usize::try_from(idx).ok().and_then(|i| fds.get(i)) else {
        return 0;
    };
    let mut r = 0;
    for (poll, slirp) in [
        (libc::POLLIN, sys::SLIRP_POLL_IN),
        (libc::POLLOUT, sys::SLIRP_POLL_OUT),
        (libc::POLLPRI, sys::SLIRP_POLL_PRI),
        (libc::POLLERR, sys::SLIRP_POLL_ERR),
        (libc::POLLHUP, sys::SLIRP_POLL_HUP),
    ] {
        if p.revents & poll != 0 {
            r |= slirp;
        }
    }
    r
}

fn in_addr(a: Ipv4Addr) -> sys::in_addr {
    a.into()
}

fn in6_addr(a: Ipv6Addr) -> sys::in6_addr {
    a.into()
}

fn cstring(what: &str, s: &[u8]) -> Result<CString, String> {
    CString::new(s).map_err(|_| format!("{what} contains a NUL byte"))
}

fn opt_ptr(s: &Option<CString>) -> *const c_char {
    s.as_ref().map_or(std::ptr::null(), |c| c.as_ptr())
}

/// The slirp thread: sets the stack up, reports through `ready`, then loops until `stop`.
fn run(shared: &Arc<Shared>, cfg: &UserConfig, ready: mpsc::SyncSender<Result<(), String>>) {
    let strings = (|| -> Result<_, String> {
        let opt = |what: &str, s: &Option<String>| {
            s.as_deref()
                .map(|s| cstring(what, s.as_bytes()))
                .transpose()
        };
        Ok((
            opt("hostname", &cfg.hostname)?,
            opt("domainname", &cfg.domainname)?,
            opt("bootfile", &cfg.bootfile)?,
            cfg.tftp
                .as_ref()
                .map(|p| cstring("tftp", p.as_os_str().as_bytes()))
                .transpose()?,
        ))
    })();
    let (hostname, domainname, bootfile, tftp) = match strings {
        Ok(s) => s,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let mask = Ipv4Addr::from(crate::prefix_mask(cfg.prefix_len));
    let config = sys::SlirpConfig {
        // Version 1: everything `-netdev user` needs; later fields are left to their defaults.
        version: 1,
        restricted: c_int::from(cfg.restrict),
        in_enabled: true,
        vnetwork: in_addr(cfg.net),
        vnetmask: in_addr(mask),
        vhost: in_addr(cfg.host),
        in6_enabled: cfg.ipv6,
        vprefix_addr6: in6_addr(Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0)),
        vprefix_len: 64,
        vhost6: in6_addr(Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 2)),
        vhostname: opt_ptr(&hostname),
        tftp_server_name: std::ptr::null(),
        tftp_path: opt_ptr(&tftp),
        bootfile: opt_ptr(&bootfile),
        vdhcp_start: in_addr(cfg.dhcp_start),
        vnameserver: in_addr(cfg.dns),
        vnameserver6: in6_addr(Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 3)),
        vdnssearch: std::ptr::null_mut(),
        vdomainname: opt_ptr(&domainname),
        if_mtu: 0,
        if_mru: 0,
        disable_host_loopback: false,
        enable_emu: false,
        outbound_addr: std::ptr::null(),
        outbound_addr6: std::ptr::null(),
        disable_dns: false,
        disable_dhcp: false,
    };
    // Declared before the handle: slirp_cleanup still calls back into it.
    let st = LoopState {
        shared: shared.clone(),
        fds: RefCell::new(Vec::with_capacity(64)),
        timers: RefCell::new(Vec::new()),
        guest_errors: Cell::new(0),
    };
    let opaque = &st as *const LoopState as *mut c_void;
    // SAFETY: the config and its strings live until the end of this function, past
    // slirp_cleanup (libslirp copies them anyway); the callback table is static; `opaque` points
    // to `st`, which outlives the instance (see SlirpHandle).
    let slirp = unsafe { sys::slirp_new(&config, &CALLBACKS.cb, opaque) };
    if slirp.is_null() {
        let _ = ready.send(Err("libslirp could not create the network stack".into()));
        return;
    }
    let slirp = SlirpHandle(slirp);
    for f in &cfg.hostfwd {
        // SAFETY: a live instance, used on its own thread.
        let r = unsafe {
            sys::slirp_add_hostfwd(
                slirp.0,
                c_int::from(f.udp),
                in_addr(f.host_addr),
                c_int::from(f.host_port),
                in_addr(f.guest_addr.unwrap_or(Ipv4Addr::UNSPECIFIED)),
                c_int::from(f.guest_port),
            )
        };
        if r < 0 {
            let _ = ready.send(Err(format!(
                "hostfwd {f}: could not set up host forwarding rule"
            )));
            return;
        }
    }
    if ready.send(Ok(())).is_err() {
        return;
    }
    drop(ready);
    poll_loop(&st, &slirp);
}

fn poll_loop(st: &LoopState, slirp: &SlirpHandle) {
    let shared = &st.shared;
    let opaque = st as *const LoopState as *mut c_void;
    // The batch of guest frames being fed to slirp; swapped with the shared queue's deque so
    // both keep their capacity.
    let mut batch: VecDeque<Vec<u8>> = VecDeque::with_capacity(TX_MAX_FRAMES);
    let mut fed = false;
    while !shared.stop.load(Ordering::SeqCst) {
        let mut timeout = u32::MAX;
        match st.fds.try_borrow_mut() {
            Ok(mut fds) => {
                fds.clear();
                fds.push(libc::pollfd {
                    fd: shared.wake.raw(),
                    events: libc::POLLIN,
                    revents: 0,
                });
            }
            Err(_) => return,
        }
        // SAFETY: a live instance on its own thread; add_poll gets our state pointer back.
        unsafe { sys::slirp_pollfds_fill(slirp.0, &mut timeout, Some(cb_add_poll), opaque) };
        let mut wait = i64::from(timeout);
        if let Some(t) = st.next_timer_ms() {
            wait = wait.min(t);
        }
        // Frames just fed may have queued replies (e.g. behind an ARP lookup) that slirp sends
        // from slirp_pollfds_poll: take that turn at once instead of after slirp's timeout.
        if fed {
            wait = 0;
        }
        let wait = c_int::try_from(wait).unwrap_or(c_int::MAX);
        let ret = match st.fds.try_borrow_mut() {
            Ok(mut fds) => {
                // SAFETY: the pointer and length describe the live, exclusively borrowed Vec.
                let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, wait) };
                if r > 0 && fds[0].revents != 0 {
                    shared.wake.drain();
                }
                r
            }
            Err(_) => return,
        };
        // SAFETY: as for slirp_pollfds_fill; get_revents reads the Vec add_poll filled.
        unsafe {
            sys::slirp_pollfds_poll(slirp.0, c_int::from(ret < 0), Some(cb_get_revents), opaque)
        };
        st.run_timers();
        shared.wake_guest();
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        fed = feed(shared, slirp, &mut batch);
        if fed {
            shared.wake_guest();
        }
    }
}

/// Hands every queued guest frame to slirp; true if there were any.
fn feed(shared: &Shared, slirp: &SlirpHandle, batch: &mut VecDeque<Vec<u8>>) -> bool {
    {
        let mut tx = lock(&shared.tx);
        std::mem::swap(&mut tx.frames, batch);
        tx.bytes = 0;
    }
    if batch.is_empty() {
        return false;
    }
    for f in batch.iter() {
        // send() bounds frames to MAX_FRAME, which fits a c_int.
        let Ok(len) = c_int::try_from(f.len()) else {
            continue;
        };
        // SAFETY: a live instance on its own thread; the frame is `len` readable bytes.
        unsafe { sys::slirp_input(slirp.0, f.as_ptr(), len) };
    }
    let mut tx = lock(&shared.tx);
    for f in batch.drain(..) {
        tx.recycle(f);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    unsafe extern "C" fn bump(arg: *mut c_void) {
        // SAFETY: the tests pass a pointer to a live Cell<u32>.
        let c = unsafe { &*(arg as *const Cell<u32>) };
        c.set(c.get() + 1);
    }

    fn state() -> LoopState {
        LoopState {
            shared: Arc::new(Shared {
                id: "t".into(),
                rx: Mutex::new(Rx {
                    q: FrameQueue::new(2, 100),
                    armed: true,
                }),
                tx: Mutex::new(FrameQueue::new(2, 100)),
                waker: Mutex::new(None),
                dropped: AtomicU64::new(0),
                stop: AtomicBool::new(false),
                wake: EventFd::new().unwrap(),
            }),
            fds: RefCell::new(Vec::new()),
            timers: RefCell::new(Vec::new()),
            guest_errors: Cell::new(0),
        }
    }

    /// The timer callbacks slirp uses for IPv6 router advertisements: armed timers fire once
    /// when due, disarmed or freed ones never.
    #[test]
    fn timers_fire_when_due() {
        let st = state();
        let op = &st as *const LoopState as *mut c_void;
        let hits = Cell::new(0u32);
        let arg = &hits as *const Cell<u32> as *mut c_void;
        // SAFETY: `op` is a live LoopState and `arg` a live Cell for the whole test.
        unsafe {
            let a = cb_timer_new(Some(bump), arg, op);
            let b = cb_timer_new(Some(bump), arg, op);
            assert_eq!(st.next_timer_ms(), None);
            st.run_timers();
            assert_eq!(hits.get(), 0, "unarmed timers fired");
            let now_ms = clock_ns() / 1_000_000;
            cb_timer_mod(a, now_ms - 1, op);
            cb_timer_mod(b, now_ms + 60_000, op);
            let next = st.next_timer_ms().unwrap();
            assert_eq!(next, 0);
            st.run_timers();
            assert_eq!(hits.get(), 1);
            st.run_timers();
            assert_eq!(hits.get(), 1, "fired twice");
            let next = st.next_timer_ms().unwrap();
            assert!((59_000..=60_000).contains(&next), "{next}");
            cb_timer_free(b, op);
            assert_eq!(st.next_timer_ms(), None);
            // A pointer we never handed out is ignored, not freed.
            cb_timer_free(std::ptr::dangling_mut::<Timer>().cast(), op);
            assert_eq!(st.timers.borrow().len(), 1);
        }
        // `a` is freed by LoopState's drop.
    }

    #[test]
    fn poll_events_map_both_ways() {
        let st = state();
        let op = &st as *const LoopState as *mut c_void;
        // SAFETY: `op` is a live LoopState.
        unsafe {
            assert_eq!(
                cb_add_poll(7, sys::SLIRP_POLL_IN | sys::SLIRP_POLL_PRI, op),
                0
            );
            assert_eq!(cb_add_poll(8, sys::SLIRP_POLL_OUT, op), 1);
            assert_eq!(st.fds.borrow()[0].events, libc::POLLIN | libc::POLLPRI);
            assert_eq!(st.fds.borrow()[1].events, libc::POLLOUT);
            st.fds.borrow_mut()[1].revents = libc::POLLOUT | libc::POLLHUP | libc::POLLERR;
            assert_eq!(
                cb_get_revents(1, op),
                sys::SLIRP_POLL_OUT | sys::SLIRP_POLL_HUP | sys::SLIRP_POLL_ERR
            );
            assert_eq!(cb_get_revents(0, op), 0);
            assert_eq!(cb_get_revents(2, op), 0);
            assert_eq!(cb_get_revents(-1, op), 0);
        }
    }

    #[test]
    fn queues_are_bounded() {
        let st = state();
        // Limits of 2 frames / 100 bytes.
        st.shared.deliver(&[1; 60]);
        st.shared.deliver(&[2; 60]);
        st.shared.deliver(&[3; 30]);
        st.shared.deliver(&[4; 30]);
        st.shared.deliver(&[5; 30]);
        assert_eq!(st.shared.dropped.load(Ordering::Relaxed), 3);
        let rx = lock(&st.shared.rx);
        assert_eq!(rx.q.frames.len(), 2);
        assert_eq!(rx.q.bytes, 90);
    }
}
