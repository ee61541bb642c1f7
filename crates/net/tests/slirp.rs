//! `-netdev user` end to end: hand-built guest frames go into libslirp and its answers come back
//! through recv — ARP, DHCP, a guest TCP connection to a host listener and a host connection
//! through hostfwd. All traffic stays inside slirp or on 127.0.0.1.

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use net::{Backend, HostFwd, NetdevConfig, NetdevKind, UserConfig};

const GUEST_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 15);
const HOST_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);
const DNS_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 3);
const TIMEOUT: Duration = Duration::from_secs(10);

fn open_user(cfg: UserConfig) -> (Arc<dyn Backend>, Waiter) {
    let mut v = net::open(&NetdevConfig {
        id: "u0".into(),
        kind: NetdevKind::User(cfg),
    })
    .expect("open user netdev");
    assert_eq!(v.len(), 1);
    let b = v.pop().unwrap();
    assert!(!b.vnet_hdr());
    let w = Waiter::default();
    b.set_waker(w.waker());
    (b, w)
}

/// Like `recv_until`, but plays the guest's part in ARP: slirp asks for 10.0.2.15's MAC before
/// it sends anything to it.
fn guest_recv_until<T>(b: &dyn Backend, w: &Waiter, mut f: impl FnMut(&[u8]) -> Option<T>) -> T {
    recv_until(&[b], w, TIMEOUT, |_, frame| {
        if let Some((1, sha, spa, _, tpa)) = parse_arp(frame) {
            if tpa == GUEST_IP {
                let reply = arp(2, GUEST_MAC, GUEST_IP, sha, spa);
                send(b, &eth(sha, GUEST_MAC, ETH_ARP, &reply));
                return None;
            }
        }
        f(frame)
    })
}

fn is_arp_reply_from_host(f: &[u8]) -> bool {
    matches!(parse_arp(f), Some((2, _, spa, tha, tpa)) if spa == HOST_IP && tha == GUEST_MAC && tpa == GUEST_IP)
}

#[test]
fn arp_reply_wakes_once() {
    let (b, w) = open_user(UserConfig::default());
    let mut buf = [0u8; 2048];
    assert_eq!(b.recv(&mut buf).unwrap(), None);
    let before = w.count();
    send(&*b, &arp_request_frame(GUEST_MAC, GUEST_IP, HOST_IP));
    let until = Instant::now() + TIMEOUT;
    assert!(w.wait_past(before, until) > before, "waker not called");
    // Edge-triggered: a second frame before the next recv does not call it again.
    send(&*b, &arp_request_frame(GUEST_MAC, GUEST_IP, HOST_IP));
    thread::sleep(Duration::from_millis(300));
    assert_eq!(w.count(), before + 1);
    let mut replies = 0;
    while let Some(n) = b.recv(&mut buf).unwrap() {
        let f = &buf[..n];
        if is_arp_reply_from_host(f) {
            assert_eq!(&f[0..6], &GUEST_MAC, "reply is unicast to the asker");
            replies += 1;
        }
    }
    assert_eq!(replies, 2);
    // Re-armed by the None: the next frame wakes again.
    send(&*b, &arp_request_frame(GUEST_MAC, GUEST_IP, HOST_IP));
    assert!(w.wait_past(before + 1, Instant::now() + TIMEOUT) > before + 1);
    recv_until(&[&*b], &w, TIMEOUT, |_, f| {
        is_arp_reply_from_host(f).then_some(())
    });
    assert_eq!(b.dropped(), 0);
}

#[test]
fn oversized_frame_is_dropped_not_truncated() {
    let (b, w) = open_user(UserConfig::default());
    let mut small = [0u8; 20];
    assert_eq!(b.recv(&mut small).unwrap(), None);
    send(&*b, &arp_request_frame(GUEST_MAC, GUEST_IP, HOST_IP));
    w.wait_past(0, Instant::now() + TIMEOUT);
    // Slirp's ARP reply is 42+ bytes: it must vanish, not arrive cut to 20.
    assert_eq!(b.recv(&mut small).unwrap(), None);
    assert!(b.dropped() >= 1);
    let mut big = [0u8; 2048];
    assert_eq!(b.recv(&mut big).unwrap(), None);
}

/// A DHCPDISCOVER from GUEST_MAC with transaction id `xid`.
fn dhcp_discover(xid: u32) -> Vec<u8> {
    let mut bootp = vec![0u8; 548];
    bootp[0] = 1; // BOOTREQUEST
    bootp[1] = 1; // Ethernet
    bootp[2] = 6;
    bootp[4..8].copy_from_slice(&xid.to_be_bytes());
    bootp[10] = 0x80; // broadcast flag
    bootp[28..34].copy_from_slice(&GUEST_MAC);
    bootp[236..240].copy_from_slice(&[99, 130, 83, 99]);
    let opts = [53, 1, 1, 55, 3, 1, 3, 6, 255];
    bootp[240..240 + opts.len()].copy_from_slice(&opts);
    let u = udp(Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST, 68, 67, &bootp);
    let ip = ipv4(Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST, 17, &u);
    eth(BROADCAST, GUEST_MAC, ETH_IP, &ip)
}

/// DHCP options of a BOOTP reply: (code, value) pairs.
fn dhcp_options(bootp: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    let mut o = bootp.get(240..).unwrap_or(&[]);
    while let [code, rest @ ..] = o {
        match code {
            0 => o = rest,
            255 => break,
            _ => {
                let [len, rest @ ..] = rest else { break };
                let len = usize::from(*len);
                let Some(v) = rest.get(..len) else { break };
                out.push((*code, v.to_vec()));
                o = &rest[len..];
            }
        }
    }
    out
}

#[test]
fn dhcp_discover_gets_offer() {
    let (b, w) = open_user(UserConfig::default());
    let xid = 0x1234_5678;
    send(&*b, &dhcp_discover(xid));
    let (yiaddr, opts) = recv_until(&[&*b], &w, TIMEOUT, |_, f| {
        let (_, _, proto, p) = parse_ipv4(f)?;
        if proto != 17 || p.len() < 8 || p[0..4] != [0, 67, 0, 68] {
            return None;
        }
        let bootp = &p[8..];
        if bootp.len() < 240 || bootp[0] != 2 || bootp[4..8] != xid.to_be_bytes() {
            return None;
        }
        let yiaddr = Ipv4Addr::new(bootp[16], bootp[17], bootp[18], bootp[19]);
        Some((yiaddr, dhcp_options(bootp)))
    });
    assert_eq!(yiaddr, GUEST_IP);
    let opt = |c: u8| opts.iter().find(|(k, _)| *k == c).map(|(_, v)| v.clone());
    assert_eq!(opt(53), Some(vec![2]), "DHCPOFFER");
    assert_eq!(opt(3), Some(HOST_IP.octets().to_vec()), "router");
    assert_eq!(opt(6), Some(DNS_IP.octets().to_vec()), "DNS");
    assert_eq!(opt(54), Some(HOST_IP.octets().to_vec()), "server id");
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn hostfwd_connect_reaches_guest_as_syn() {
    let port = free_port();
    let cfg = UserConfig {
        hostfwd: vec![HostFwd::parse(&format!("tcp:127.0.0.1:{port}-:2222")).unwrap()],
        ..Default::default()
    };
    let (b, w) = open_user(cfg);
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let client = thread::spawn(move || {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect to hostfwd port");
        // Keep the connection open until the guest has seen it.
        let _ = done_rx.recv_timeout(TIMEOUT);
        drop(s);
    });
    let syn = guest_recv_until(&*b, &w, |f| {
        let t = parse_tcp(f)?;
        (t.dst == GUEST_IP && t.dport == 2222).then(|| (t.src, t.flags, f[0..6].to_vec()))
    });
    assert_eq!(
        syn.0, HOST_IP,
        "connection appears to come from the gateway"
    );
    assert_eq!(syn.1 & (TCP_SYN | TCP_ACK), TCP_SYN);
    assert_eq!(syn.2, GUEST_MAC);
    done_tx.send(()).unwrap();
    client.join().unwrap();
}

#[test]
fn hostfwd_port_in_use_is_an_error() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let cfg = UserConfig {
        hostfwd: vec![HostFwd::parse(&format!("tcp:127.0.0.1:{port}-:22")).unwrap()],
        ..Default::default()
    };
    let e = net::open(&NetdevConfig {
        id: "x".into(),
        kind: NetdevKind::User(cfg),
    })
    .err()
    .expect("port in use");
    assert_eq!(
        e,
        format!(
            "-netdev user,id=x: hostfwd tcp:127.0.0.1:{port}-:22: could not set up host forwarding rule"
        )
    );
}

#[test]
fn drop_stops_the_stack_and_frees_forwarded_ports() {
    let port = free_port();
    let cfg = UserConfig {
        hostfwd: vec![HostFwd::parse(&format!("tcp:127.0.0.1:{port}-:22")).unwrap()],
        ..Default::default()
    };
    for _ in 0..3 {
        let (b, _w) = open_user(cfg.clone());
        send(&*b, &arp_request_frame(GUEST_MAC, GUEST_IP, HOST_IP));
        drop(b);
    }
    // Slirp's listening socket is closed once the backend is gone.
    TcpListener::bind(("127.0.0.1", port)).expect("port released after drop");
}

#[test]
fn guest_tcp_to_host_listener() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    let server = thread::spawn(move || {
        listener.set_nonblocking(true).unwrap();
        let until = Instant::now() + TIMEOUT;
        let mut s = loop {
            match listener.accept() {
                Ok((s, _)) => break s,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    assert!(Instant::now() < until, "no connection from the guest");
                    thread::sleep(Duration::from_millis(10));
                }
                Err(e) => panic!("accept: {e}"),
            }
        };
        s.set_nonblocking(false).unwrap();
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 64];
        while got.len() < 5 {
            let n = s.read(&mut buf).expect("read from guest");
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        s.write_all(b"bye").unwrap();
        tx.send(got).unwrap();
        // Hold the socket until the test has seen "bye".
        thread::sleep(Duration::from_millis(500));
    });

    let (b, w) = open_user(UserConfig::default());
    // Learn the gateway's MAC the way a guest would.
    send(&*b, &arp_request_frame(GUEST_MAC, GUEST_IP, HOST_IP));
    let gw_mac: [u8; 6] = guest_recv_until(&*b, &w, |f| match parse_arp(f) {
        Some((2, sha, spa, _, _)) if spa == HOST_IP => Some(sha),
        _ => None,
    });
    let sport = 40_001;
    let iss = 1000u32;
    let seg = |seq: u32, ack: u32, flags: u8, opts: &[u8], data: &[u8]| {
        let t = tcp(GUEST_IP, HOST_IP, sport, port, seq, ack, flags, opts, data);
        eth(gw_mac, GUEST_MAC, ETH_IP, &ipv4(GUEST_IP, HOST_IP, 6, &t))
    };
    // MSS 1460.
    send(&*b, &seg(iss, 0, TCP_SYN, &[2, 4, 0x05, 0xb4], &[]));
    let server_seq = guest_recv_until(&*b, &w, |f| {
        let t = parse_tcp(f)?;
        if t.sport != port || t.dport != sport {
            return None;
        }
        assert_eq!(t.flags & TCP_RST, 0, "connection refused");
        assert_eq!(t.flags & (TCP_SYN | TCP_ACK), TCP_SYN | TCP_ACK);
        assert_eq!(t.ack, iss + 1);
        Some(t.seq)
    });
    send(&*b, &seg(iss + 1, server_seq + 1, TCP_ACK, &[], &[]));
    send(
        &*b,
        &seg(iss + 1, server_seq + 1, TCP_ACK | TCP_PSH, &[], b"hello"),
    );
    let got = rx.recv_timeout(TIMEOUT).expect("host side got nothing");
    assert_eq!(got, b"hello");
    // The host's reply comes back as data for the guest, acknowledging our 5 bytes.
    let reply = guest_recv_until(&*b, &w, |f| {
        let t = parse_tcp(f)?;
        (t.dport == sport && !t.payload.is_empty()).then(|| (t.ack, t.payload.to_vec()))
    });
    assert_eq!(reply, (iss + 6, b"bye".to_vec()));
    server.join().unwrap();
}

/// Garbage of every size and shape must neither panic nor wedge the stack. `restrict=on` keeps
/// anything that happens to parse from leaving the machine.
#[test]
fn garbage_frames_are_harmless() {
    let (b, w) = open_user(UserConfig {
        restrict: true,
        ..Default::default()
    });
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let sizes = [
        0usize, 1, 13, 14, 15, 20, 33, 41, 42, 60, 64, 100, 576, 1500, 1514, 1518, 9000, 65535,
        65600, 65601, 100_000,
    ];
    let mut expected_drops = 0;
    for &n in &sizes {
        for et in [None, Some(ETH_IP), Some(ETH_ARP), Some(0x86dd)] {
            let mut f = rng.bytes(n);
            if let Some(et) = et {
                if n >= 14 {
                    f[12..14].copy_from_slice(&et.to_be_bytes());
                }
                if n >= 15 && et == ETH_IP {
                    f[14] = 0x45;
                }
            }
            if !(14..=65600).contains(&n) {
                expected_drops += 1;
            }
            send(&*b, &f);
        }
    }
    // Well-formed headers around garbage: bad IP lengths, DHCP with junk options, TCP/UDP to
    // closed host ports (port 53 avoided: DNS would be forwarded to the host's resolver).
    for i in 0..200u32 {
        let len = (rng.next() % 700) as usize;
        let junk = rng.bytes(len);
        let mut ip = match i % 4 {
            0 => ipv4(
                GUEST_IP,
                HOST_IP,
                17,
                &udp(GUEST_IP, HOST_IP, 1234, 9 + (i as u16), &junk),
            ),
            1 => {
                let mut bootp = vec![0u8; 240];
                bootp[0] = 1;
                bootp[236..240].copy_from_slice(&[99, 130, 83, 99]);
                bootp.extend_from_slice(&junk);
                let u = udp(Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST, 68, 67, &bootp);
                ipv4(Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST, 17, &u)
            }
            2 => ipv4(
                GUEST_IP,
                HOST_IP,
                6,
                &tcp(
                    GUEST_IP,
                    HOST_IP,
                    5000,
                    9,
                    rng.next() as u32,
                    0,
                    rng.next() as u8,
                    &[],
                    &junk,
                ),
            ),
            _ => ipv4(GUEST_IP, HOST_IP, rng.next() as u8, &junk),
        };
        if i % 5 == 0 && ip.len() > 4 {
            // Lie about the total length.
            ip[2..4].copy_from_slice(&(rng.next() as u16).to_be_bytes());
        }
        send(&*b, &eth(BROADCAST, GUEST_MAC, ETH_IP, &ip));
    }
    // Still alive and answering.
    send(&*b, &arp_request_frame(GUEST_MAC, GUEST_IP, HOST_IP));
    recv_until(&[&*b], &w, TIMEOUT, |_, f| {
        is_arp_reply_from_host(f).then_some(())
    });
    assert!(
        b.dropped() >= expected_drops,
        "{} < {expected_drops}",
        b.dropped()
    );
}

/// A Router Solicitation from the guest's link-local address, with a correct ICMPv6 checksum.
fn router_solicitation() -> Vec<u8> {
    let src: [u8; 16] = [
        0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x50, 0x54, 0x00, 0xff, 0xfe, 0x12, 0x34, 0x56,
    ];
    let dst: [u8; 16] = [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
    let mut icmp = vec![133, 0, 0, 0, 0, 0, 0, 0, 1, 1];
    icmp.extend_from_slice(&GUEST_MAC);
    let len = icmp.len() as u32;
    let c = checksum(&[&src, &dst, &len.to_be_bytes(), &[0, 0, 0, 58], &icmp]);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let mut ip = vec![0x60, 0, 0, 0];
    ip.extend_from_slice(&(len as u16).to_be_bytes());
    ip.extend_from_slice(&[58, 255]);
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    ip.extend_from_slice(&icmp);
    eth([0x33, 0x33, 0, 0, 0, 2], GUEST_MAC, 0x86dd, &ip)
}

/// The prefix options (prefix, length) of a Router Advertisement frame.
fn ra_prefixes(f: &[u8]) -> Option<Vec<(std::net::Ipv6Addr, u8)>> {
    if ethertype(f)? != 0x86dd || *f.get(20)? != 58 || *f.get(54)? != 134 {
        return None;
    }
    let mut out = Vec::new();
    let mut o = f.get(70..)?;
    while o.len() >= 8 {
        let len = usize::from(o[1]) * 8;
        if len == 0 || len > o.len() {
            break;
        }
        if o[0] == 3 && len == 32 {
            let p: [u8; 16] = o[16..32].try_into().ok()?;
            out.push((p.into(), o[2]));
        }
        o = &o[len..];
    }
    Some(out)
}

#[test]
fn ipv6_router_solicitation_gets_fec0_prefix() {
    let (b, w) = open_user(UserConfig::default());
    send(&*b, &router_solicitation());
    let prefixes = recv_until(&[&*b], &w, TIMEOUT, |_, f| ra_prefixes(f));
    assert_eq!(prefixes, vec![("fec0::".parse().unwrap(), 64)]);

    let (b, w) = open_user(UserConfig {
        ipv6: false,
        ..Default::default()
    });
    send(&*b, &router_solicitation());
    let got = try_recv_until(&[&*b], &w, Duration::from_millis(500), |_, f| {
        ra_prefixes(f)
    });
    assert_eq!(got, None, "ipv6=off still advertises");
}

#[test]
fn custom_network_and_ipv6_off() {
    let mut cfg = UserConfig::default();
    cfg.set_net("192.168.76.0/24").unwrap();
    cfg.ipv6 = false;
    cfg.hostname = Some("guest".into());
    let (b, w) = open_user(cfg);
    let me = Ipv4Addr::new(192, 168, 76, 15);
    let gw = Ipv4Addr::new(192, 168, 76, 2);
    send(&*b, &arp_request_frame(GUEST_MAC, me, gw));
    recv_until(&[&*b], &w, TIMEOUT, |_, f| match parse_arp(f) {
        Some((2, _, spa, _, tpa)) if spa == gw && tpa == me => Some(()),
        _ => None,
    });
}

#[test]
fn invalid_config_is_an_error() {
    let cfg = UserConfig {
        dns: Ipv4Addr::new(10, 0, 3, 3),
        ..Default::default()
    };
    let e = net::open(&NetdevConfig {
        id: "u9".into(),
        kind: NetdevKind::User(cfg),
    })
    .err()
    .unwrap();
    assert!(e.starts_with("-netdev user,id=u9: dns=10.0.3.3"), "{e}");
    let cfg = UserConfig {
        hostname: Some("a\0b".into()),
        ..Default::default()
    };
    let e = net::open_user("u8", &cfg).err().unwrap();
    assert_eq!(e, "-netdev user,id=u8: hostname contains a NUL byte");
}
