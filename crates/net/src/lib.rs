//! `net`: network backends behind one trait, [`Backend`]. A backend moves whole Ethernet frames
//! between the emulator and the outside world; it knows nothing of virtio or PAPR. Front ends
//! (virtio-net, spapr-vlan) pull frames with [`Backend::recv`] when the waker says some arrived
//! and push the guest's frames with [`Backend::send`].
//!
//! Opening takes QEMU's `-netdev` options: `user` (libslirp's user-mode stack on a thread of its
//! own, `slirp.rs`) and `tap` (a Linux tap device, one file descriptor per queue, `tap.rs`).

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod coalesce;
#[cfg(feature = "loopback")]
pub mod loopback;
mod slirp;
mod tap;

use std::fmt;
use std::io::{self, IoSlice};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;

#[cfg(feature = "loopback")]
pub use coalesce::test_segment;
pub use coalesce::{Coalesced, MAX_COALESCED};
pub use slirp::SlirpBackend;
pub use tap::TapQueue;

/// One `-netdev`: its `id=` and its type with that type's options.
#[derive(Clone, Debug)]
pub struct NetdevConfig {
    pub id: String,
    pub kind: NetdevKind,
}

#[derive(Clone, Debug)]
pub enum NetdevKind {
    User(UserConfig),
    Tap(TapConfig),
}

/// `-netdev user` options.
#[derive(Clone, Debug)]
pub struct UserConfig {
    /// The guest network and its prefix length (`net=`).
    pub net: Ipv4Addr,
    pub prefix_len: u8,
    /// The gateway; also how the guest reaches the host's loopback (`host=`).
    pub host: Ipv4Addr,
    /// First address the built-in DHCP server hands out (`dhcpstart=`).
    pub dhcp_start: Ipv4Addr,
    /// The built-in DNS forwarder (`dns=`).
    pub dns: Ipv4Addr,
    /// `restrict=on`: the guest reaches nothing outside; only forwarded ports work.
    pub restrict: bool,
    /// `ipv6=`: on by default as in QEMU, with the fixed prefix fec0::/64 (host fec0::2, DNS
    /// fec0::3).
    pub ipv6: bool,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    /// Directory the built-in TFTP server exports (`tftp=`).
    pub tftp: Option<PathBuf>,
    /// File name the DHCP server announces for network boot (`bootfile=`).
    pub bootfile: Option<String>,
    pub hostfwd: Vec<HostFwd>,
}

impl Default for UserConfig {
    fn default() -> Self {
        UserConfig {
            net: Ipv4Addr::new(10, 0, 2, 0),
            prefix_len: 24,
            host: Ipv4Addr::new(10, 0, 2, 2),
            dhcp_start: Ipv4Addr::new(10, 0, 2, 15),
            dns: Ipv4Addr::new(10, 0, 2, 3),
            restrict: false,
            ipv6: true,
            hostname: None,
            domainname: None,
            tftp: None,
            bootfile: None,
            hostfwd: Vec::new(),
        }
    }
}

fn prefix_mask(prefix_len: u8) -> u32 {
    match prefix_len {
        0 => 0,
        p => u32::MAX << (32 - u32::from(p.min(32))),
    }
}

impl UserConfig {
    /// Parses `net=`: `ADDR/PREFIX`, `ADDR/MASK` or a bare `ADDR` (whose mask then follows the
    /// address class, as QEMU does). Host bits of ADDR are dropped. Like QEMU, this also moves
    /// `host`, `dhcp_start` and `dns` to .2, .15 and .3 of the new network, so apply explicit
    /// `host=`, `dhcpstart=` and `dns=` after it.
    pub fn set_net(&mut self, s: &str) -> Result<(), String> {
        let bad = |why: &str| format!("invalid net= '{s}': {why}");
        let (addr, prefix_len) = match s.split_once('/') {
            Some((a, m)) => {
                let addr: Ipv4Addr = a.parse().map_err(|_| bad("not an IPv4 address"))?;
                let len = if let Ok(mask) = m.parse::<Ipv4Addr>() {
                    let mask = u32::from(mask);
                    // A mask is a run of ones then zeros: its complement plus one is a power of two.
                    if (!mask).wrapping_add(1) & !mask != 0 {
                        return Err(bad("netmask is not contiguous"));
                    }
                    mask.count_ones() as u8
                } else {
                    match m.parse::<u8>() {
                        Ok(n) if m.bytes().all(|b| b.is_ascii_digit()) => n,
                        _ => return Err(bad("bad prefix length or netmask")),
                    }
                };
                (addr, len)
            }
            None => {
                let addr: Ipv4Addr = s.parse().map_err(|_| bad("not an IPv4 address"))?;
                let a = u32::from(addr);
                // The classful guess QEMU makes when no prefix is given.
                let len = if a & 0x8000_0000 == 0 {
                    8
                } else if a & 0xfff0_0000 == 0xac10_0000 {
                    12
                } else if a & 0xc000_0000 == 0x8000_0000 || a & 0xffff_0000 == 0xc0a8_0000 {
                    // Class B, or 192.168/16.
                    16
                } else if a & 0xffff_0000 == 0xc612_0000 {
                    15
                } else if a & 0xe000_0000 == 0xe000_0000 {
                    24
                } else {
                    28
                };
                (addr, len)
            }
        };
        // QEMU's range: a /0../3 or a /33+ cannot hold the stack's fixed addresses.
        if !(4..=32).contains(&prefix_len) {
            return Err(bad("prefix length must be 4..32"));
        }
        let net = u32::from(addr) & prefix_mask(prefix_len);
        self.net = Ipv4Addr::from(net);
        self.prefix_len = prefix_len;
        self.host = Ipv4Addr::from(net | 2);
        self.dhcp_start = Ipv4Addr::from(net | 15);
        self.dns = Ipv4Addr::from(net | 3);
        Ok(())
    }

    /// Checks that the fixed addresses lie in the network (done by [`open`]).
    pub fn validate(&self) -> Result<(), String> {
        if !(4..=32).contains(&self.prefix_len) {
            return Err(format!("invalid prefix length /{}", self.prefix_len));
        }
        let mask = prefix_mask(self.prefix_len);
        let net = u32::from(self.net);
        if net & !mask != 0 {
            return Err(format!(
                "net={}/{} has host bits set",
                self.net, self.prefix_len
            ));
        }
        for (name, a) in [
            ("host", self.host),
            ("dhcpstart", self.dhcp_start),
            ("dns", self.dns),
        ] {
            if u32::from(a) & mask != net {
                return Err(format!(
                    "{name}={a} is outside the network {}/{}",
                    self.net, self.prefix_len
                ));
            }
        }
        if self.dhcp_start == self.host || self.dhcp_start == self.dns {
            return Err(format!(
                "dhcpstart={} must differ from host and dns",
                self.dhcp_start
            ));
        }
        Ok(())
    }
}

/// One `hostfwd=` rule: connections to the host's `host_addr:host_port` are forwarded to the
/// guest's `guest_addr:guest_port` (`guest_addr` None: the first DHCP address).
#[derive(Clone, Debug, PartialEq)]
pub struct HostFwd {
    pub udp: bool,
    pub host_addr: Ipv4Addr,
    pub host_port: u16,
    pub guest_addr: Option<Ipv4Addr>,
    pub guest_port: u16,
}

impl HostFwd {
    /// Parses QEMU's `[tcp|udp]:[hostaddr]:hostport-[guestaddr]:guestport`. An empty protocol
    /// means tcp, an empty host address all interfaces. Host port 0 is refused: the port the
    /// kernel would pick could not be told to anyone.
    pub fn parse(s: &str) -> Result<HostFwd, String> {
        let bad = |why: &str| format!("invalid host forwarding rule '{s}' ({why})");
        let syntax = "expected [tcp|udp]:[hostaddr]:hostport-[guestaddr]:guestport";
        let (proto, rest) = s.split_once(':').ok_or_else(|| bad(syntax))?;
        let udp = match proto {
            "" | "tcp" => false,
            "udp" => true,
            _ => return Err(bad("protocol must be tcp or udp")),
        };
        let (haddr, rest) = rest.split_once(':').ok_or_else(|| bad(syntax))?;
        let (hport, rest) = rest.split_once('-').ok_or_else(|| bad(syntax))?;
        let (gaddr, gport) = rest.split_once(':').ok_or_else(|| bad(syntax))?;
        let host_addr = if haddr.is_empty() {
            Ipv4Addr::UNSPECIFIED
        } else {
            haddr.parse().map_err(|_| bad("bad host address"))?
        };
        let guest_addr = if gaddr.is_empty() {
            None
        } else {
            Some(gaddr.parse().map_err(|_| bad("bad guest address"))?)
        };
        let port = |p: &str, what: &str| -> Result<u16, String> {
            match p.parse::<u16>() {
                Ok(n) if n != 0 && p.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
                _ => Err(bad(&format!("bad {what} port"))),
            }
        };
        Ok(HostFwd {
            udp,
            host_addr,
            host_port: port(hport, "host")?,
            guest_addr,
            guest_port: port(gport, "guest")?,
        })
    }
}

/// Back to QEMU's syntax, with empty fields where the defaults apply.
impl fmt::Display for HostFwd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", if self.udp { "udp" } else { "tcp" })?;
        if !self.host_addr.is_unspecified() {
            write!(f, "{}", self.host_addr)?;
        }
        write!(f, ":{}-", self.host_port)?;
        if let Some(a) = self.guest_addr {
            write!(f, "{a}")?;
        }
        write!(f, ":{}", self.guest_port)
    }
}

/// `-netdev tap` options.
#[derive(Clone, Debug, Default)]
pub struct TapConfig {
    /// Interface name (`ifname=`); None lets the kernel pick one (tapN).
    pub ifname: Option<String>,
    /// An already-open tap file descriptor (`fd=`); it is duplicated, the original left open.
    pub fd: Option<i32>,
    /// Run as `SCRIPT IFNAME` after the interface is created; None runs nothing.
    pub script: Option<PathBuf>,
    /// Run as `SCRIPT IFNAME` when the last queue closes.
    pub downscript: Option<PathBuf>,
    /// None: use a virtio-net header when the kernel supports it.
    pub vnet_hdr: Option<bool>,
    /// Queue pairs; 0 and 1 both mean a single queue.
    pub queues: u16,
}

/// virtio-net header flags (byte 0): the frame's checksum is partial, to be completed from
/// `csum_start` (bytes 6..8) with the result at `csum_start + csum_offset` (bytes 8..10).
pub const VNET_F_NEEDS_CSUM: u8 = 1;
/// The sender (the host kernel) has verified the frame's checksums.
pub const VNET_F_DATA_VALID: u8 = 2;
/// virtio-net header gso_type (byte 1): a TCP/IPv4 frame to be cut into gso_size segments.
pub const VNET_GSO_TCPV4: u8 = 1;

/// One's complement sum of `data` as big-endian 16-bit words (RFC 1071), unfolded.
fn ones_sum(data: &[u8]) -> u64 {
    let mut sum: u64 = 0;
    let mut words = data.chunks_exact(2);
    for w in &mut words {
        sum += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = words.remainder() {
        sum += u64::from(*last) << 8;
    }
    sum
}

/// Folds a one's complement sum to 16 bits (not inverted).
fn fold(mut sum: u64) -> u16 {
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// What a received frame's vnet header says of its checksums, once [`finish_checksum`] has
/// done what the header asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Checksum {
    /// Nothing is known: the guest checks it.
    Unknown,
    /// Verified by the host, or just computed here.
    Good,
    /// The header asked for a completion that does not fit the frame: drop the frame.
    Bad,
}

/// For a front end that drops the vnet header (spapr-vlan): completes a partial checksum
/// (`VNET_F_NEEDS_CSUM`, what a tap with `TUN_F_CSUM` gives for the host's own packets) in
/// `frame`, the bytes after the header, and says what is then known of the checksums.
pub fn finish_checksum(hdr: &[u8], frame: &mut [u8]) -> Checksum {
    let Some(&flags) = hdr.first() else {
        return Checksum::Unknown;
    };
    if flags & VNET_F_NEEDS_CSUM == 0 {
        return if flags & VNET_F_DATA_VALID != 0 {
            Checksum::Good
        } else {
            Checksum::Unknown
        };
    }
    let field = |i: usize| {
        hdr.get(i..i + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
    };
    let (Some(start), Some(off)) = (field(6), field(8)) else {
        return Checksum::Bad;
    };
    let at = start + off;
    if start > frame.len() || at + 2 > frame.len() {
        return Checksum::Bad;
    }
    // The field holds the pseudo-header sum; the one's complement sum of everything from
    // `start` (field included) folded and inverted is the checksum (RFC 1071).
    // A computed 0 goes out as 0xffff, as Linux does (for UDP, 0 would mean "no checksum").
    let c = match !fold(ones_sum(&frame[start..])) {
        0 => 0xffff,
        c => c,
    };
    frame[at..at + 2].copy_from_slice(&c.to_be_bytes());
    Checksum::Good
}

/// Offloads the guest accepts on receive (TUNSETOFFLOAD); ignored by backends without a vnet header.
#[derive(Clone, Copy, Debug, Default)]
pub struct Offload {
    pub csum: bool,
    pub tso4: bool,
    pub tso6: bool,
    pub ecn: bool,
    pub ufo: bool,
}

/// Size of the virtio-net header (struct virtio_net_hdr_v1 with num_buffers) when a backend carries one.
pub const VNET_HDR_LEN: usize = 12;

/// A source and sink of Ethernet frames.
pub trait Backend: Send + Sync {
    /// Whether every frame is preceded by a VNET_HDR_LEN-byte virtio-net header (little-endian),
    /// both directions (tap with IFF_VNET_HDR).
    fn vnet_hdr(&self) -> bool;
    /// Guest -> network: one frame gathered from `bufs` (with the header first iff vnet_hdr()).
    /// Never blocks for long: if the backend cannot take it now it may drop it (count drops) —
    /// like a full NIC queue.
    fn send(&self, bufs: &[IoSlice]) -> io::Result<()>;
    /// Network -> guest: the next frame into `buf` (with header iff vnet_hdr()); Ok(None) when
    /// nothing waits. After an Ok(None) the backend calls the waker ONCE when a frame arrives
    /// (edge-triggered, never missed: a frame arriving between the None and the wait must still
    /// wake). A frame bigger than buf is dropped, not truncated. A fresh backend behaves as if
    /// recv had just returned None.
    fn recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>>;
    /// The callback recv's edge calls (from the backend's own thread). Set once before use.
    fn set_waker(&self, waker: Arc<dyn Fn() + Send + Sync>);
    /// TUNSETOFFLOAD for tap; default no-op.
    fn set_offload(&self, _o: Offload) {}
    /// Every frame recv gives was made by the backend itself with correct checksums (a user-mode
    /// stack), so a front end may tell the guest they need no checking, as a NIC with receive
    /// checksum offload does. False for frames from a wire or another host (tap).
    fn checksums_valid(&self) -> bool {
        false
    }
    /// Frames dropped so far (for tests/diagnostics).
    fn dropped(&self) -> u64 {
        0
    }
}

/// Opens the backend; returns one Backend per queue pair (tap `queues=N` → N with
/// IFF_MULTI_QUEUE; user → exactly 1). Errors are one line naming the netdev: e.g.
/// "-netdev tap,id=n0: cannot open /dev/net/tun: ...".
pub fn open(cfg: &NetdevConfig) -> Result<Vec<Arc<dyn Backend>>, String> {
    match &cfg.kind {
        NetdevKind::User(u) => {
            let b: Arc<dyn Backend> = slirp::open(&cfg.id, u)?;
            Ok(vec![b])
        }
        NetdevKind::Tap(t) => Ok(tap::open(&cfg.id, t)?
            .into_iter()
            .map(|q| q as Arc<dyn Backend>)
            .collect()),
    }
}

/// `-netdev user` with the concrete type (e.g. for its `id()`); [`open`] is the usual way in.
pub fn open_user(id: &str, cfg: &UserConfig) -> Result<Arc<SlirpBackend>, String> {
    slirp::open(id, cfg)
}

/// `-netdev tap` with the concrete type (e.g. for the interface name the kernel picked).
pub fn open_tap(id: &str, cfg: &TapConfig) -> Result<Vec<Arc<TapQueue>>, String> {
    tap::open(id, cfg)
}

/// Locks a mutex whose data stays consistent even if a holder panicked (plain counters and
/// queues), so a poisoned lock is no reason to fail.
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// An eventfd used to wake a poll() loop from another thread.
struct EventFd(std::os::fd::OwnedFd);

impl EventFd {
    fn new() -> io::Result<EventFd> {
        use std::os::fd::FromRawFd;
        // SAFETY: plain syscall; the result is checked before use.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor nobody else owns.
        Ok(EventFd(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }))
    }

    fn raw(&self) -> libc::c_int {
        use std::os::fd::AsRawFd;
        self.0.as_raw_fd()
    }

    fn signal(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our own eventfd. A full counter (EAGAIN)
        // already means "signalled", so the result is ignored.
        unsafe { libc::write(self.raw(), (&one as *const u64).cast(), 8) };
    }

    fn drain(&self) {
        let mut v: u64 = 0;
        // SAFETY: reads 8 bytes into a live u64; non-blocking, EAGAIN just means "not signalled".
        unsafe { libc::read(self.raw(), (&mut v as *mut u64).cast(), 8) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 1071 sum of `parts`, folded (not inverted).
    fn ones_sum(parts: &[&[u8]]) -> u16 {
        let bytes: Vec<u8> = parts.concat();
        let mut s: u32 = 0;
        for w in bytes.chunks(2) {
            s += u32::from(w[0]) << 8 | u32::from(*w.get(1).unwrap_or(&0));
        }
        while s >> 16 != 0 {
            s = (s & 0xffff) + (s >> 16);
        }
        s as u16
    }

    /// An Ethernet + IPv4 frame carrying `l4` (protocol `proto`), with the L4 checksum field
    /// at `csum_at` (within `l4`) set to the pseudo-header sum, as a sender leaves a partial
    /// checksum; and the vnet header that says so.
    fn partial(proto: u8, mut l4: Vec<u8>, csum_at: usize) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let (src, dst) = ([192u8, 168, 77, 1], [192u8, 168, 77, 2]);
        let len = (l4.len() as u16).to_be_bytes();
        let pseudo = ones_sum(&[&src, &dst, &[0, proto], &len]);
        l4[csum_at..csum_at + 2].copy_from_slice(&pseudo.to_be_bytes());
        let mut f = vec![0u8; 14];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, proto, 0, 0];
        ip.extend_from_slice(&src);
        ip.extend_from_slice(&dst);
        f.extend_from_slice(&ip);
        f.extend_from_slice(&l4);
        let mut hdr = vec![0u8; VNET_HDR_LEN];
        hdr[0] = VNET_F_NEEDS_CSUM;
        hdr[6..8].copy_from_slice(&34u16.to_le_bytes());
        hdr[8..10].copy_from_slice(&(csum_at as u16).to_le_bytes());
        (hdr, f, [src, dst].concat())
    }

    #[test]
    fn a_partial_checksum_is_completed_so_the_segment_verifies() {
        // TCP (odd length, so the last byte is padded) and UDP.
        for (proto, at, n) in [(6u8, 16usize, 20 + 1001), (17, 6, 8 + 64)] {
            let l4: Vec<u8> = (0..n).map(|i| (i * 7 + 3) as u8).collect();
            let (hdr, mut f, addrs) = partial(proto, l4, at);
            assert_eq!(finish_checksum(&hdr, &mut f), Checksum::Good);
            // A receiver's check: the sum over pseudo-header and segment is all ones.
            let seg = &f[34..];
            let len = (seg.len() as u16).to_be_bytes();
            assert_eq!(ones_sum(&[&addrs, &[0, proto], &len, seg]), 0xffff);
        }
    }

    #[test]
    fn checksum_flags_and_bad_offsets() {
        let mut f = vec![0u8; 60];
        let mut hdr = [0u8; VNET_HDR_LEN];
        assert_eq!(finish_checksum(&hdr, &mut f), Checksum::Unknown);
        hdr[0] = VNET_F_DATA_VALID;
        assert_eq!(finish_checksum(&hdr, &mut f), Checksum::Good);
        assert_eq!(finish_checksum(&[], &mut f), Checksum::Unknown);
        // A completion beyond the frame is refused, the frame untouched.
        hdr[0] = VNET_F_NEEDS_CSUM;
        hdr[6..8].copy_from_slice(&50u16.to_le_bytes());
        hdr[8..10].copy_from_slice(&9u16.to_le_bytes());
        assert_eq!(finish_checksum(&hdr, &mut f), Checksum::Bad);
        hdr[6..8].copy_from_slice(&u16::MAX.to_le_bytes());
        assert_eq!(finish_checksum(&hdr, &mut f), Checksum::Bad);
        assert_eq!(f, vec![0u8; 60]);
        assert_eq!(finish_checksum(&hdr[..7], &mut f), Checksum::Bad);
    }

    #[test]
    fn hostfwd_parse_good() {
        let r = HostFwd::parse("tcp::5555-:22").unwrap();
        assert_eq!(
            r,
            HostFwd {
                udp: false,
                host_addr: Ipv4Addr::UNSPECIFIED,
                host_port: 5555,
                guest_addr: None,
                guest_port: 22
            }
        );
        assert_eq!(r.to_string(), "tcp::5555-:22");
        let r = HostFwd::parse("udp:127.0.0.1:6000-10.0.2.20:53").unwrap();
        assert!(r.udp);
        assert_eq!(r.host_addr, Ipv4Addr::LOCALHOST);
        assert_eq!(r.guest_addr, Some(Ipv4Addr::new(10, 0, 2, 20)));
        assert_eq!((r.host_port, r.guest_port), (6000, 53));
        assert_eq!(r.to_string(), "udp:127.0.0.1:6000-10.0.2.20:53");
        // An empty protocol is tcp, as in QEMU.
        assert!(!HostFwd::parse(":1.2.3.4:80-:8080").unwrap().udp);
    }

    #[test]
    fn hostfwd_parse_bad() {
        for s in [
            "",
            "tcp",
            "tcp::5555",
            "tcp::5555-22",
            "sctp::5555-:22",
            "tcp::0-:22",
            "tcp::5555-:0",
            "tcp::65536-:22",
            "tcp::-1-:22",
            "tcp::+80-:22",
            "tcp:localhost:5555-:22",
            "tcp::5555-10.0.2:22",
            "tcp::5555-:22:1",
            "tcp::x-:22",
        ] {
            let e = HostFwd::parse(s).expect_err(s);
            assert!(e.contains(&format!("'{s}'")), "{e}");
        }
    }

    #[test]
    fn set_net_good() {
        let mut c = UserConfig::default();
        c.set_net("192.168.76.0/24").unwrap();
        assert_eq!((c.net, c.prefix_len), (Ipv4Addr::new(192, 168, 76, 0), 24));
        assert_eq!(c.host, Ipv4Addr::new(192, 168, 76, 2));
        assert_eq!(c.dhcp_start, Ipv4Addr::new(192, 168, 76, 15));
        assert_eq!(c.dns, Ipv4Addr::new(192, 168, 76, 3));
        c.validate().unwrap();
        c.set_net("10.0.2.0").unwrap();
        assert_eq!((c.net, c.prefix_len), (Ipv4Addr::new(10, 0, 0, 0), 8));
        c.set_net("172.20.1.0").unwrap();
        assert_eq!((c.net, c.prefix_len), (Ipv4Addr::new(172, 16, 0, 0), 12));
        c.set_net("10.1.2.3/255.255.0.0").unwrap();
        assert_eq!((c.net, c.prefix_len), (Ipv4Addr::new(10, 1, 0, 0), 16));
        assert_eq!(c.host, Ipv4Addr::new(10, 1, 0, 2));
        c.validate().unwrap();
    }

    #[test]
    fn set_net_bad() {
        let mut c = UserConfig::default();
        for s in [
            "",
            "10.0.2",
            "10.0.2.0/",
            "10.0.2.0/33",
            "10.0.2.0/3",
            "10.0.2.0/+24",
            "10.0.2.0/255.0.255.0",
            "10.0.2.0/24/1",
            "fec0::/64",
            "net",
        ] {
            let e = c.set_net(s).expect_err(s);
            assert!(e.contains(&format!("'{s}'")), "{e}");
        }
        // Failed calls change nothing.
        assert_eq!((c.net, c.prefix_len), (Ipv4Addr::new(10, 0, 2, 0), 24));
    }

    #[test]
    fn validate_rejects_addresses_outside_the_net() {
        let mut c = UserConfig::default();
        c.validate().unwrap();
        c.dns = Ipv4Addr::new(10, 0, 3, 3);
        assert!(c.validate().unwrap_err().contains("dns=10.0.3.3"));
        let mut c = UserConfig {
            dhcp_start: Ipv4Addr::new(10, 0, 2, 2),
            ..Default::default()
        };
        assert!(c.validate().is_err());
        c.dhcp_start = Ipv4Addr::new(10, 0, 2, 15);
        c.net = Ipv4Addr::new(10, 0, 2, 1);
        assert!(c.validate().is_err());
    }
}
