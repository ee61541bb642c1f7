//! End to end: networking with the Debian kernel. A busybox guest gets its address by DHCP
//! from `-netdev user`, fetches a file from an HTTP server this test runs on the host's
//! loopback (through the gateway 10.0.2.2) and prints its checksum, which must be the file's;
//! the host fetches a page from the guest's busybox httpd through `hostfwd`. Over spapr-vlan
//! (ibmveth) and virtio-net-pci.
//! Needs scripts/fetch-assets.sh (guest kernel and busybox).

mod common;

use common::{assets, initramfs_with_modules, scratch, Session};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const BOOT_TIMEOUT: Duration = Duration::from_secs(300);

/// One Linux boot at a time: the CI machine has two cores.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// Content no guest could guess.
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn md5_hex(data: &[u8]) -> String {
    let mut c = std::process::Command::new("md5sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("md5sum");
    c.stdin.take().unwrap().write_all(data).unwrap();
    let out = c.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string()
}

/// Serves `body` to every GET on a loopback port until the test ends; returns the port.
fn http_server(body: Vec<u8>) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let body = body.clone();
            std::thread::spawn(move || {
                let mut req = Vec::new();
                let mut b = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut b) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&b[..n]),
                    }
                }
                let head = format!(
                    "HTTP/1.0 200 OK\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(head.as_bytes());
                let _ = s.write_all(&body);
            });
        }
    });
    port
}

/// A free loopback port (bound and released; another process could take it, but nothing else
/// here allocates ports).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The guest side: bring eth0 up by DHCP, fetch the host's file, serve a page, wait for the
/// host to fetch it (the host writes "done" to the console), power off.
fn init(modules: &[&str], port: u16) -> String {
    let mut s = String::from(
        "#!/bin/sh\n/bin/busybox mount -t proc proc /proc\n/bin/busybox --install -s\n\
         mount -t sysfs sysfs /sys\nmount -t devtmpfs devtmpfs /dev\n",
    );
    for m in modules {
        s.push_str(&format!(
            "insmod /modules/{m}.ko || echo insmod-{m}-failed\n"
        ));
    }
    s.push_str(&format!(
        r#"cat >/bin/dhcp.sh <<'EOF'
#!/bin/sh
[ "$1" = bound ] || exit 0
ip addr add $ip/$mask dev $interface
ip route add default via $router
echo "DHCP: $ip via $router dns $dns"
EOF
chmod +x /bin/dhcp.sh
ip link set lo up
ip link set eth0 up
cat /sys/class/net/eth0/address | sed 's/^/MAC: /'
[ -e /sys/bus/virtio/devices/virtio0/features ] && echo VFEAT: $(cat /sys/bus/virtio/devices/virtio0/features)
udhcpc -i eth0 -n -q -t 10 -s /bin/dhcp.sh || echo DHCP-FAILED
echo "GOT: $(wget -q -O - http://10.0.2.2:{port}/file | md5sum)"
mkdir -p /www && echo guest-page-$(uname -r) >/www/index.html
httpd -p 8080 -h /www
echo SERVING
read line </dev/hvc0
echo "HOST-SAID: $line"
"#
    ));
    s.push_str("poweroff -f\n");
    s
}

/// Fetches http://127.0.0.1:port/ (retrying while the forwarding comes up).
fn fetch(port: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
            let _ = s.write_all(b"GET /index.html HTTP/1.0\r\n\r\n");
            let mut r = String::new();
            let _ = s.read_to_string(&mut r);
            if r.contains("200") {
                return r;
            }
        }
        assert!(Instant::now() < deadline, "no answer through hostfwd");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn user_net_round_trip(dir: &Path, modules: &[&str], nic: &[&str], mac: &str) -> common::Output {
    let a = assets();
    let file = pattern(300 << 10, 0x9e37_79b9_7f4a_7c15);
    let want = md5_hex(&file);
    let port = http_server(file);
    let fwd = free_port();
    let initrd = dir.join("initrd.cpio");
    initramfs_with_modules(&a, &init(modules, port), modules, &initrd);
    let vmlinux = a.join("vmlinux");
    let netdev = format!("user,id=n0,hostfwd=tcp:127.0.0.1:{fwd}-:8080");
    let mut args = vec![
        "-M",
        "pseries",
        "-m",
        "512M",
        "-kernel",
        vmlinux.to_str().unwrap(),
        "-initrd",
        initrd.to_str().unwrap(),
        "-append",
        "console=hvc0 quiet",
        "-nographic",
        "-netdev",
        &netdev,
    ];
    args.extend_from_slice(nic);
    let mut s = Session::start(&args, BOOT_TIMEOUT);
    s.wait_for("SERVING", 0);
    let page = fetch(fwd);
    s.send(b"done\n");
    let out = s.finish();
    assert!(out.stdout.contains(&format!("MAC: {mac}")), "{out:?}");
    assert!(
        out.stdout
            .contains("DHCP: 10.0.2.15 via 10.0.2.2 dns 10.0.2.3"),
        "{out:?}"
    );
    assert!(
        out.stdout.contains(&format!("GOT: {want}  -")),
        "want {want}\n{out:?}"
    );
    assert!(page.contains("guest-page-"), "page: {page}\n{out:?}");
    assert!(out.stdout.contains("HOST-SAID: done"), "{out:?}");
    out
}

#[test]
fn spapr_vlan_on_user_networking() {
    let _g = lock();
    let dir = scratch("net-vlan");
    let _ = user_net_round_trip(
        &dir,
        &["ibmveth"],
        &["-device", "spapr-vlan,netdev=n0,mac=52:54:00:aa:bb:01"],
        "52:54:00:aa:bb:01",
    );
}

/// A network namespace for one test, deleted when dropped (also when the test fails).
struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Netns {
        let name = format!("lpar-{tag}-{}", std::process::id());
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &name])
            .status();
        let st = std::process::Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .expect("ip (apt-get install iproute2; scripts/fetch-assets.sh does)");
        assert!(st.success(), "ip netns add {name} (needs root)");
        Netns(name)
    }

    /// Runs `cmd` inside the namespace; its output.
    fn run(&self, cmd: &[&str]) -> std::process::Output {
        std::process::Command::new("ip")
            .args(["netns", "exec", &self.0])
            .args(cmd)
            .output()
            .expect("ip netns exec")
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.0])
            .status();
    }
}

/// The guest side on a tap: a static address, fetch from the host's httpd in the namespace,
/// serve a page, wait for the host. `probe` runs first (its output is checked by the caller).
fn tap_init(modules: &[&str], probe: &str) -> String {
    let mut s = String::from(
        "#!/bin/sh\n/bin/busybox mount -t proc proc /proc\n/bin/busybox --install -s\n\
         mount -t sysfs sysfs /sys\nmount -t devtmpfs devtmpfs /dev\n",
    );
    for m in modules {
        s.push_str(&format!(
            "insmod /modules/{m}.ko || echo insmod-{m}-failed\n"
        ));
    }
    s.push_str(probe);
    s.push_str(
        r#"ip link set eth0 up
ip addr add 192.168.77.2/24 dev eth0
echo READY
read line </dev/hvc0
echo "GOT: $(wget -q -O - http://192.168.77.1:8081/file | md5sum)"
mkdir -p /www && echo tap-guest-$(uname -r) >/www/index.html
httpd -p 8080 -h /www
echo SERVING
read line </dev/hvc0
echo "HOST-SAID: $line"
poweroff -f
"#,
    );
    s
}

fn tap_round_trip(tag: &str, modules: &[&str], nic: &str) {
    let _ = tap_round_trip_with(
        tag,
        modules,
        "tap,id=t0,ifname=lpt0,script=no,downscript=no,vhost=off",
        nic,
        "",
        &[],
        "1",
    );
}

fn tap_round_trip_with(
    tag: &str,
    modules: &[&str],
    netdev: &str,
    nic: &str,
    probe: &str,
    expect: &[&str],
    smp: &str,
) -> common::Output {
    let ns = Netns::new(tag);
    let dir = scratch(&format!("net-{tag}"));
    let www = dir.join("www");
    std::fs::create_dir_all(&www).unwrap();
    let file = pattern(200 << 10, 0x1234_5678_9abc_def1);
    let want = md5_hex(&file);
    std::fs::write(www.join("file"), &file).unwrap();
    let a = assets();
    let initrd = dir.join("initrd.cpio");
    initramfs_with_modules(&a, &tap_init(modules, probe), modules, &initrd);
    let vmlinux = a.join("vmlinux");
    let args = [
        "netns",
        "exec",
        &ns.0,
        env!("CARGO_BIN_EXE_lpar"),
        "-M",
        "pseries",
        "-m",
        "512M",
        "-kernel",
        vmlinux.to_str().unwrap(),
        "-initrd",
        initrd.to_str().unwrap(),
        "-append",
        "console=hvc0 quiet",
        "-nographic",
        "-netdev",
        netdev,
        "-device",
        nic,
        "-smp",
        smp,
    ];
    let mut s = Session::start_program("ip", &args, BOOT_TIMEOUT);
    s.wait_for("READY", 0);
    // lpar made the tap in the namespace: give it the host side's address.
    for cmd in [
        &["ip", "addr", "add", "192.168.77.1/24", "dev", "lpt0"][..],
        &["ip", "link", "set", "lpt0", "up"],
        &["ip", "link", "set", "lo", "up"],
    ] {
        let o = ns.run(cmd);
        assert!(
            o.status.success(),
            "{cmd:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let mut httpd = std::process::Command::new("ip")
        .args(["netns", "exec", &ns.0, "busybox", "httpd", "-f", "-p"])
        .arg("192.168.77.1:8081")
        .arg("-h")
        .arg(&www)
        .spawn()
        .expect("busybox httpd (apt-get install busybox-static)");
    s.send(b"go\n");
    s.wait_for("SERVING", 0);
    let mut page = String::new();
    for _ in 0..100 {
        let o = ns.run(&[
            "busybox",
            "wget",
            "-q",
            "-O",
            "-",
            "http://192.168.77.2:8080/",
        ]);
        page = String::from_utf8_lossy(&o.stdout).into_owned();
        if page.contains("tap-guest-") {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    s.send(b"done\n");
    let out = s.finish();
    let _ = httpd.kill();
    let _ = httpd.wait();
    assert!(
        out.stdout.contains(&format!("GOT: {want}  -")),
        "want {want}\n{out:?}"
    );
    assert!(page.contains("tap-guest-"), "page: {page}\n{out:?}");
    assert!(out.stdout.contains("HOST-SAID: done"), "{out:?}");
    for e in expect {
        assert!(out.stdout.contains(e), "want {e:?}\n{out:?}");
    }
    out
}

/// The virtio feature bits the guest's driver accepted (its sysfs string, bit 0 first).
fn virtio_features(out: &common::Output) -> Vec<bool> {
    out.stdout
        .lines()
        .find_map(|l| l.strip_prefix("VFEAT: "))
        .unwrap_or_else(|| panic!("no feature line\n{out:?}"))
        .trim()
        .bytes()
        .map(|b| b == b'1')
        .collect()
}

/// virtio-net feature bits: CSUM, GUEST_CSUM, GUEST_TSO4, HOST_TSO4, MRG_RXBUF, MQ.
const CSUM: usize = 0;
const GUEST_CSUM: usize = 1;
const GUEST_TSO4: usize = 7;
const HOST_TSO4: usize = 11;
const MRG_RXBUF: usize = 15;
const MQ: usize = 22;

#[test]
fn spapr_vlan_on_a_tap_in_a_namespace() {
    let _g = lock();
    tap_round_trip("vlan", &["ibmveth"], "spapr-vlan,netdev=t0");
}

/// Modules (in load order) for virtio-net-pci.
const VIRTIO_NET: &[&str] = &[
    "virtio_ring",
    "virtio",
    "virtio_pci_modern_dev",
    "virtio_pci_legacy_dev",
    "virtio_pci",
    "failover",
    "net_failover",
    "virtio_net",
];

#[test]
fn virtio_net_on_user_networking() {
    let _g = lock();
    let dir = scratch("net-virtio");
    let out = user_net_round_trip(
        &dir,
        VIRTIO_NET,
        &["-device", "virtio-net-pci,netdev=n0,mac=52:54:00:aa:bb:02"],
        "52:54:00:aa:bb:02",
    );
    // No vnet header on user networking: frames are whole, so no transmit segmentation or
    // checksum offload; slirp's own frames come marked checksum-valid (GUEST_CSUM) and runs of
    // one TCP stream merged into GSO frames (GUEST_TSO4), both taken by the guest, which
    // fetched the file through them above; mergeable buffers.
    let f = virtio_features(&out);
    for bit in [CSUM, HOST_TSO4] {
        assert!(
            f.get(bit) == Some(&false),
            "feature bit {bit} offered\n{out:?}"
        );
    }
    assert_eq!(f.get(GUEST_CSUM), Some(&true), "{out:?}");
    assert_eq!(f.get(GUEST_TSO4), Some(&true), "{out:?}");
    assert_eq!(f.get(MRG_RXBUF), Some(&true), "{out:?}");
}

#[test]
fn virtio_net_on_a_tap_with_offloads_and_two_queues() {
    let _g = lock();
    let out = tap_round_trip_with(
        "virtio",
        VIRTIO_NET,
        "tap,id=t0,ifname=lpt0,script=no,downscript=no,vhost=off,queues=2",
        "virtio-net-pci,netdev=t0,mq=on",
        // The guest took both queue pairs and the offloads the tap gave it.
        "echo QUEUES: $(ls /sys/class/net/eth0/queues)\n\
         echo VFEAT: $(cat /sys/bus/virtio/devices/virtio0/features)\n",
        &["QUEUES: rx-0 rx-1 tx-0 tx-1"],
        // Linux uses as many pairs as it has CPUs.
        "2",
    );
    // Over a tap (vnet header) the offloads are offered and taken.
    let f = virtio_features(&out);
    for bit in [CSUM, GUEST_CSUM, GUEST_TSO4, HOST_TSO4, MRG_RXBUF, MQ] {
        assert!(
            f.get(bit) == Some(&true),
            "feature bit {bit} missing\n{out:?}"
        );
    }
}

#[test]
fn nic_shorthand_gives_a_spapr_vlan() {
    let _g = lock();
    let dir = scratch("net-nic");
    let a = assets();
    let initrd = dir.join("initrd.cpio");
    let init = "#!/bin/sh\n/bin/busybox mount -t proc proc /proc\n/bin/busybox --install -s\n\
                mount -t sysfs sysfs /sys\ninsmod /modules/ibmveth.ko\n\
                echo DRIVER=$(basename $(readlink /sys/class/net/eth0/device/driver))\n\
                echo MAC=$(cat /sys/class/net/eth0/address)\npoweroff -f\n";
    initramfs_with_modules(&a, init, &["ibmveth"], &initrd);
    let vmlinux = a.join("vmlinux");
    let out = common::run(
        &[
            "-M",
            "pseries",
            "-m",
            "512M",
            "-kernel",
            vmlinux.to_str().unwrap(),
            "-initrd",
            initrd.to_str().unwrap(),
            "-append",
            "console=hvc0 quiet",
            "-nographic",
            "-nic",
            "user,restrict=on",
        ],
        BOOT_TIMEOUT,
    );
    assert!(out.stdout.contains("DRIVER=ibmveth"), "{out:?}");
    assert!(out.stdout.contains("MAC=52:54:00:12:34:56"), "{out:?}");
}
