//! `-netdev tap` against the real kernel (needs root and /dev/net/tun). Each test creates its
//! tap in this namespace, moves it into a network namespace of its own that holds 10.9.9.1/24,
//! and talks ARP with that namespace's stack through the tap's descriptor, which keeps working
//! after the move. Traffic never leaves those namespaces.

mod common;

use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use net::{Backend, NetdevConfig, NetdevKind, Offload, TapConfig, VNET_HDR_LEN};

const NS_IP: Ipv4Addr = Ipv4Addr::new(10, 9, 9, 1);
const GUEST_IP: Ipv4Addr = Ipv4Addr::new(10, 9, 9, 2);
const TIMEOUT: Duration = Duration::from_secs(10);

fn run(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A network namespace deleted on drop, also when the test fails.
struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Netns {
        let name = format!("lparnet-{}-{tag}", std::process::id());
        // A leftover from a killed run would make `add` fail.
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        run(&["ip", "netns", "add", &name]);
        Netns(name)
    }

    /// Moves interface `dev` in, gives it NS_IP and brings it up.
    fn adopt(&self, dev: &str) {
        run(&["ip", "link", "set", dev, "netns", &self.0]);
        run(&[
            "ip",
            "-n",
            &self.0,
            "addr",
            "add",
            "10.9.9.1/24",
            "dev",
            dev,
        ]);
        run(&["ip", "-n", &self.0, "link", "set", dev, "up"]);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

fn ifname(tag: &str) -> String {
    format!("lpt{}{tag}", std::process::id())
}

fn tap_cfg(tag: &str) -> TapConfig {
    TapConfig {
        ifname: Some(ifname(tag)),
        ..Default::default()
    }
}

/// Sends ARP requests for NS_IP through `out` (repeated: the first may race the link coming
/// up) until a reply arrives on one of `queues`; checks the vnet header when there is one.
fn arp_roundtrip(queues: &[&dyn Backend], out: &dyn Backend, w: &Waiter) {
    let vnet = out.vnet_hdr();
    let hdr = if vnet { VNET_HDR_LEN } else { 0 };
    let mut frame = vec![0u8; hdr];
    frame.extend_from_slice(&arp_request_frame(GUEST_MAC, GUEST_IP, NS_IP));
    let is_reply = |f: &[u8]| {
        let (h, e) = f.split_at(hdr.min(f.len()));
        match parse_arp(e) {
            Some((2, _, spa, tha, tpa)) if spa == NS_IP && tpa == GUEST_IP => {
                assert_eq!(tha, GUEST_MAC);
                if vnet {
                    // flags and gso_type: nothing to offload for ARP.
                    assert_eq!(h[0], 0, "vnet header flags");
                    assert_eq!(h[1], 0, "vnet header gso_type");
                }
                Some(())
            }
            _ => None,
        }
    };
    let until = Instant::now() + TIMEOUT;
    loop {
        send(out, &frame);
        if try_recv_until(queues, w, Duration::from_millis(300), |_, f| is_reply(f)).is_some() {
            break;
        }
        assert!(Instant::now() < until, "no ARP reply from the namespace");
    }
    // The link works; now the waker: once every queue has said None, the next frame must call
    // it without anyone polling.
    let mut buf = vec![0u8; 65536];
    for q in queues {
        while q.recv(&mut buf).unwrap().is_some() {}
    }
    let seen = w.count();
    send(out, &frame);
    assert!(
        w.wait_past(seen, Instant::now() + TIMEOUT) > seen,
        "waker not called"
    );
    recv_until(queues, w, TIMEOUT, |_, f| is_reply(f));
}

#[test]
fn tap_arp_with_vnet_hdr() {
    let name = ifname("a");
    let cfg = NetdevConfig {
        id: "n0".into(),
        kind: NetdevKind::Tap(tap_cfg("a")),
    };
    let qs = net::open(&cfg).expect("open tap");
    assert_eq!(qs.len(), 1);
    let q = &qs[0];
    // This kernel supports IFF_VNET_HDR, so the default takes it.
    assert!(q.vnet_hdr());
    q.set_offload(Offload {
        csum: true,
        tso4: true,
        tso6: true,
        ecn: true,
        ufo: true,
    });
    let w = Waiter::default();
    q.set_waker(w.waker());
    let ns = Netns::new("a");
    ns.adopt(&name);
    arp_roundtrip(&[&**q], &**q, &w);
    drop(qs);
    drop(ns);
}

#[test]
fn tap_arp_without_vnet_hdr() {
    let name = ifname("b");
    let qs = net::open_tap(
        "n1",
        &TapConfig {
            vnet_hdr: Some(false),
            ..tap_cfg("b")
        },
    )
    .expect("open tap");
    let q = &qs[0];
    assert!(!q.vnet_hdr());
    assert_eq!(q.ifname(), name);
    let w = Waiter::default();
    q.set_waker(w.waker());
    let ns = Netns::new("b");
    ns.adopt(&name);
    arp_roundtrip(&[&**q], &**q, &w);

    // A frame that does not fit is dropped whole: the reply (42+ bytes) into 20.
    let mut small = [0u8; 20];
    while q.recv(&mut small).unwrap().is_some() {}
    let dropped = q.dropped();
    let seen = w.count();
    send(&**q, &arp_request_frame(GUEST_MAC, GUEST_IP, NS_IP));
    w.wait_past(seen, Instant::now() + TIMEOUT);
    let until = Instant::now() + TIMEOUT;
    while q.dropped() == dropped {
        assert!(
            q.recv(&mut small).unwrap().is_none(),
            "truncated frame delivered"
        );
        assert!(Instant::now() < until, "nothing arrived to drop");
        thread_sleep_ms(20);
    }
}

fn thread_sleep_ms(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

#[test]
fn tap_multiqueue() {
    let name = ifname("m");
    let qs = net::open_tap(
        "n2",
        &TapConfig {
            queues: 2,
            ..tap_cfg("m")
        },
    )
    .expect("open multiqueue tap");
    assert_eq!(qs.len(), 2);
    assert!(qs.iter().all(|q| q.ifname() == name && q.vnet_hdr()));
    let w = Waiter::default();
    for q in &qs {
        q.set_waker(w.waker());
    }
    let ns = Netns::new("m");
    ns.adopt(&name);
    // The kernel picks the queue for the reply; either will do.
    let all: Vec<&dyn Backend> = qs.iter().map(|q| &**q as &dyn Backend).collect();
    arp_roundtrip(&all, &*qs[1], &w);
    arp_roundtrip(&all, &*qs[0], &w);
}

#[test]
fn tap_kernel_picks_name_and_scripts_run() {
    let dir = PathBuf::from(format!("/tmp/lparnet-{}-scripts", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let script = |name: &str, body: &str| {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    };
    let up = script("up", &format!("echo \"$1\" > {}/up.out", dir.display()));
    let down = script(
        "down",
        &format!(
            "ip link show \"$1\" >/dev/null && echo \"$1\" > {}/down.out",
            dir.display()
        ),
    );
    let qs = net::open_tap(
        "n3",
        &TapConfig {
            script: Some(up),
            downscript: Some(down),
            queues: 2,
            ..Default::default()
        },
    )
    .expect("open tap");
    let name = qs[0].ifname().to_string();
    assert!(name.starts_with("tap"), "{name}");
    let out = |f: &str| std::fs::read_to_string(dir.join(f)).ok();
    assert_eq!(out("up.out").as_deref(), Some(format!("{name}\n").as_str()));
    let mut qs = qs;
    qs.pop();
    assert_eq!(
        out("down.out"),
        None,
        "downscript ran before the last queue closed"
    );
    drop(qs);
    // The interface still existed when the downscript ran.
    assert_eq!(
        out("down.out").as_deref(),
        Some(format!("{name}\n").as_str())
    );

    let fail = script("fail", "exit 3");
    let e = net::open_tap(
        "n4",
        &TapConfig {
            script: Some(fail.clone()),
            ..Default::default()
        },
    )
    .err()
    .unwrap();
    assert!(e.starts_with("-netdev tap,id=n4: network script "), "{e}");
    assert!(e.contains(&fail.display().to_string()), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn tap_inherited_fd() {
    let name = ifname("f");
    // SAFETY: a NUL-terminated path literal.
    let raw = unsafe { libc::open(c"/dev/net/tun".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    assert!(raw >= 0, "{}", std::io::Error::last_os_error());
    // SAFETY: fresh descriptor, owned here.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let mut ifr = [0u8; 40];
    ifr[..name.len()].copy_from_slice(name.as_bytes());
    let flags = (libc::IFF_TAP | libc::IFF_NO_PI) as u16;
    ifr[16..18].copy_from_slice(&flags.to_ne_bytes());
    // SAFETY: TUNSETIFF on a 40-byte struct ifreq image.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF, ifr.as_mut_ptr()) };
    assert!(r >= 0, "{}", std::io::Error::last_os_error());

    let cfg = |vnet_hdr| TapConfig {
        fd: Some(fd.as_raw_fd()),
        vnet_hdr,
        ..Default::default()
    };
    let e = net::open_tap("n5", &cfg(Some(true))).err().unwrap();
    assert!(
        e.starts_with("-netdev tap,id=n5: vnet_hdr=on, but fd="),
        "{e}"
    );
    let qs = net::open_tap("n5", &cfg(None)).expect("open fd=");
    assert_eq!(qs[0].ifname(), name);
    assert!(!qs[0].vnet_hdr());
    // Our descriptor is duplicated, not taken: closing ours leaves the backend working.
    drop(fd);
    let w = Waiter::default();
    qs[0].set_waker(w.waker());
    let ns = Netns::new("f");
    ns.adopt(&name);
    let q: Arc<dyn Backend> = qs[0].clone();
    arp_roundtrip(&[&*q], &*q, &w);
}

#[test]
fn tap_errors_name_the_netdev() {
    let long = TapConfig {
        ifname: Some("x".repeat(16)),
        ..Default::default()
    };
    let e = net::open_tap("bad", &long).err().unwrap();
    assert!(e.starts_with("-netdev tap,id=bad: invalid ifname"), "{e}");
    let e = net::open_tap(
        "bad2",
        &TapConfig {
            fd: Some(-1),
            ..Default::default()
        },
    )
    .err()
    .unwrap();
    assert!(e.starts_with("-netdev tap,id=bad2: invalid fd=-1"), "{e}");
    let e = net::open_tap(
        "bad3",
        &TapConfig {
            fd: Some(0),
            queues: 2,
            ..Default::default()
        },
    )
    .err()
    .unwrap();
    assert!(e.starts_with("-netdev tap,id=bad3: "), "{e}");
}
