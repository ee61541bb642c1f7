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

fn user_net_round_trip(dir: &Path, modules: &[&str], nic: &[&str], mac: &str) {
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
}

#[test]
fn spapr_vlan_on_user_networking() {
    let _g = lock();
    let dir = scratch("net-vlan");
    user_net_round_trip(
        &dir,
        &["ibmveth"],
        &["-device", "spapr-vlan,netdev=n0,mac=52:54:00:aa:bb:01"],
        "52:54:00:aa:bb:01",
    );
}
