//! Hand-built Ethernet/ARP/IPv4/UDP/TCP frames and a waker that tests can block on, shared by
//! the slirp and tap tests. Each test uses a different subset.
#![allow(dead_code)]

use std::io::IoSlice;
use std::net::Ipv4Addr;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use net::Backend;

pub const GUEST_MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
pub const BROADCAST: [u8; 6] = [0xff; 6];
pub const ETH_ARP: u16 = 0x0806;
pub const ETH_IP: u16 = 0x0800;
pub const TCP_FIN: u8 = 0x01;
pub const TCP_SYN: u8 = 0x02;
pub const TCP_RST: u8 = 0x04;
pub const TCP_PSH: u8 = 0x08;
pub const TCP_ACK: u8 = 0x10;

/// The Internet checksum (RFC 1071) of `parts` laid end to end (each part even-length but the last).
pub fn checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    for p in parts {
        for c in p.chunks(2) {
            let w = if c.len() == 2 {
                u16::from_be_bytes([c[0], c[1]])
            } else {
                u16::from_be_bytes([c[0], 0])
            };
            sum += u32::from(w);
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

pub fn eth(dst: [u8; 6], src: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + payload.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An ARP packet (Ethernet/IPv4), `op` 1 = request, 2 = reply.
pub fn arp(op: u16, sha: [u8; 6], spa: Ipv4Addr, tha: [u8; 6], tpa: Ipv4Addr) -> Vec<u8> {
    let mut p = vec![0, 1, 0x08, 0x00, 6, 4];
    p.extend_from_slice(&op.to_be_bytes());
    p.extend_from_slice(&sha);
    p.extend_from_slice(&spa.octets());
    p.extend_from_slice(&tha);
    p.extend_from_slice(&tpa.octets());
    p
}

pub fn arp_request_frame(mac: [u8; 6], ip: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
    eth(BROADCAST, mac, ETH_ARP, &arp(1, mac, ip, [0; 6], target))
}

/// An IPv4 packet with a correct header checksum.
pub fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, payload: &[u8]) -> Vec<u8> {
    let total = (20 + payload.len()) as u16;
    let mut h = vec![0x45, 0];
    h.extend_from_slice(&total.to_be_bytes());
    h.extend_from_slice(&[0x12, 0x34, 0x40, 0x00, 64, proto, 0, 0]);
    h.extend_from_slice(&src.octets());
    h.extend_from_slice(&dst.octets());
    let c = checksum(&[&h]);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend_from_slice(payload);
    h
}

fn pseudo(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, len: usize) -> Vec<u8> {
    let mut p = Vec::with_capacity(12);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(&[0, proto]);
    p.extend_from_slice(&(len as u16).to_be_bytes());
    p
}

pub fn udp(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let len = 8 + payload.len();
    let mut u = Vec::with_capacity(len);
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&(len as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    let mut c = checksum(&[&pseudo(src, dst, 17, len), &u]);
    if c == 0 {
        c = 0xffff;
    }
    u[6..8].copy_from_slice(&c.to_be_bytes());
    u
}

#[allow(clippy::too_many_arguments)]
pub fn tcp(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    options: &[u8],
    payload: &[u8],
) -> Vec<u8> {
    assert_eq!(options.len() % 4, 0);
    let hlen = 20 + options.len();
    let mut t = Vec::with_capacity(hlen + payload.len());
    t.extend_from_slice(&sport.to_be_bytes());
    t.extend_from_slice(&dport.to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&ack.to_be_bytes());
    t.push(((hlen / 4) as u8) << 4);
    t.push(flags);
    t.extend_from_slice(&65535u16.to_be_bytes());
    t.extend_from_slice(&[0, 0, 0, 0]);
    t.extend_from_slice(options);
    t.extend_from_slice(payload);
    let c = checksum(&[&pseudo(src, dst, 6, t.len()), &t]);
    t[16..18].copy_from_slice(&c.to_be_bytes());
    t
}

pub fn ethertype(f: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes(f.get(12..14)?.try_into().ok()?))
}

/// An ARP packet's (op, sender MAC, sender IP, target MAC, target IP).
pub type Arp = (u16, [u8; 6], Ipv4Addr, [u8; 6], Ipv4Addr);

pub fn parse_arp(f: &[u8]) -> Option<Arp> {
    if ethertype(f)? != ETH_ARP || f.len() < 42 {
        return None;
    }
    let a = &f[14..42];
    let ip = |o: usize| Ipv4Addr::new(a[o], a[o + 1], a[o + 2], a[o + 3]);
    Some((
        u16::from_be_bytes([a[6], a[7]]),
        a[8..14].try_into().ok()?,
        ip(14),
        a[18..24].try_into().ok()?,
        ip(24),
    ))
}

/// An IPv4 frame's (source, destination, protocol, payload).
pub fn parse_ipv4(f: &[u8]) -> Option<(Ipv4Addr, Ipv4Addr, u8, &[u8])> {
    if ethertype(f)? != ETH_IP {
        return None;
    }
    let ip = f.get(14..)?;
    let ihl = usize::from(ip.first()? & 0xf) * 4;
    let total = usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]));
    let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    Some((src, dst, ip[9], ip.get(ihl..total)?))
}

pub struct TcpSeg<'a> {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub payload: &'a [u8],
}

pub fn parse_tcp(f: &[u8]) -> Option<TcpSeg<'_>> {
    let (src, dst, proto, t) = parse_ipv4(f)?;
    if proto != 6 || t.len() < 20 {
        return None;
    }
    let be32 = |o: usize| u32::from_be_bytes([t[o], t[o + 1], t[o + 2], t[o + 3]]);
    let hlen = usize::from(t[12] >> 4) * 4;
    Some(TcpSeg {
        src,
        dst,
        sport: u16::from_be_bytes([t[0], t[1]]),
        dport: u16::from_be_bytes([t[2], t[3]]),
        seq: be32(4),
        ack: be32(8),
        flags: t[13],
        payload: t.get(hlen..)?,
    })
}

/// Counts waker calls and lets a test sleep until the next one.
#[derive(Clone, Default)]
pub struct Waiter(Arc<(Mutex<u64>, Condvar)>);

impl Waiter {
    pub fn waker(&self) -> Arc<dyn Fn() + Send + Sync> {
        let w = self.0.clone();
        Arc::new(move || {
            *w.0.lock().unwrap() += 1;
            w.1.notify_all();
        })
    }

    pub fn count(&self) -> u64 {
        *self.0 .0.lock().unwrap()
    }

    /// Waits until the count exceeds `seen` or `until` passes; the count then.
    pub fn wait_past(&self, seen: u64, until: Instant) -> u64 {
        let mut n = self.0 .0.lock().unwrap();
        while *n <= seen {
            let now = Instant::now();
            if now >= until {
                break;
            }
            n = self.0 .1.wait_timeout(n, until - now).unwrap().0;
        }
        *n
    }
}

/// Receives frames from any of `backends` until `f` returns Some, sleeping on the waker
/// between empty polls; `f` sees (queue index, frame). None after `timeout`.
pub fn try_recv_until<T>(
    backends: &[&dyn Backend],
    waiter: &Waiter,
    timeout: Duration,
    mut f: impl FnMut(usize, &[u8]) -> Option<T>,
) -> Option<T> {
    let until = Instant::now() + timeout;
    let mut buf = vec![0u8; 65536 + 256];
    loop {
        let seen = waiter.count();
        let mut got_any = false;
        for (i, b) in backends.iter().enumerate() {
            while let Some(n) = b.recv(&mut buf).expect("recv") {
                got_any = true;
                if let Some(r) = f(i, &buf[..n]) {
                    return Some(r);
                }
            }
        }
        if Instant::now() >= until {
            return None;
        }
        if !got_any {
            waiter.wait_past(seen, until);
        }
    }
}

/// [`try_recv_until`] that fails the test on timeout.
pub fn recv_until<T>(
    backends: &[&dyn Backend],
    waiter: &Waiter,
    timeout: Duration,
    f: impl FnMut(usize, &[u8]) -> Option<T>,
) -> T {
    try_recv_until(backends, waiter, timeout, f).expect("timed out waiting for a frame")
}

pub fn send(b: &dyn Backend, frame: &[u8]) {
    b.send(&[IoSlice::new(frame)]).expect("send");
}

/// A small deterministic PRNG (xorshift64*) for garbage frames.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}
