#!/usr/bin/env python3
"""Network benchmark driver (bench/net.sh runs it): boots one emulator (lpar or QEMU) with a NIC
on -netdev user or tap and measures, with the guest's clock, TCP throughput guest->host (busybox
nc of SIZE MiB into a host sink) and host->guest (busybox wget of SIZE MiB from a host HTTP
server), then, with the host's clock, small HTTP GETs per second from the host to the guest's
busybox httpd (through hostfwd on user networking). Prints one line per measurement:
    RESULT <workload> <value>
Not a test; a benchmark peer (QEMU) is only ever run here."""

import http.server
import os
import socket
import subprocess
import sys
import threading
import time

CHUNK = b"\0" * (64 << 10)


def sink_server(sock):
    """Accepts uploads and reads each to EOF."""
    while True:
        c, _ = sock.accept()
        threading.Thread(target=drain, args=(c,), daemon=True).start()


def drain(c):
    with c:
        while c.recv(1 << 20):
            pass


class Big(http.server.BaseHTTPRequestHandler):
    size = 0

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(self.size))
        self.end_headers()
        left = self.size
        while left > 0:
            n = min(left, len(CHUNK))
            self.wfile.write(CHUNK[:n])
            left -= n

    def log_message(self, *a):
        pass


def listen(addr):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, 0))
    s.listen(16)
    return s


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def main():
    emu, nic, mode, rounds, mib, kernel, initrd_dir = sys.argv[1:8]
    extra = sys.argv[8:]
    rounds, mib = int(rounds), int(mib)
    host_ip = "10.0.2.2" if mode == "user" else "192.168.77.1"
    bind_ip = "127.0.0.1" if mode == "user" else "192.168.77.1"
    # On a tap the emulator creates the interface; the host side gets its address once the
    # guest is up, and the servers bind to it then.
    tap = "lpb%d" % (os.getpid() % 100000)
    port_fwd = free_port()
    mods = {
        "spapr-vlan": ["ibmveth"],
        "virtio-net-pci": [
            "virtio_ring", "virtio", "virtio_pci_modern_dev", "virtio_pci_legacy_dev",
            "virtio_pci", "failover", "net_failover", "virtio_net",
        ],
    }[nic]
    initrd = os.path.join(initrd_dir, "initrd-%s-%s.gz" % (nic, mode))
    init = os.path.join(initrd_dir, "init-%s-%s" % (nic, mode))
    with open(init, "w") as f:
        f.write("#!/bin/busybox sh\n/bin/busybox mount -t proc proc /proc\n")
        f.write("/bin/busybox mount -t devtmpfs devtmpfs /dev\n/bin/busybox --install -s /bin\n")
        for m in mods:
            f.write("insmod /modules/%s.ko\n" % m)
        f.write("ip link set lo up\nip link set eth0 up\n")
        if mode == "user":
            f.write("ip addr add 10.0.2.15/24 dev eth0\nip route add default via 10.0.2.2\n")
        else:
            f.write("ip addr add 192.168.77.2/24 dev eth0\n")
        f.write("echo READY\nread ports </dev/hvc0\nset -- $ports\n")
        f.write("w() { /bin/busybox time -p -o /tmp/t sh -c \"$2\" >/tmp/out 2>&1;"
                " echo \"BENCH $1 $(grep real /tmp/t | cut -d' ' -f2)\"; }\n")
        f.write("mkdir -p /tmp /www\nfor r in $(seq %d); do\n" % rounds)
        f.write("  w up \"dd if=/dev/zero bs=64k count=%d 2>/dev/null | nc %s $1\"\n"
                % (mib * 16, host_ip))
        f.write("  w down \"wget -q -O /dev/null http://%s:$2/big\"\n" % host_ip)
        f.write("done\necho hello >/www/index.html\nhttpd -p 8080 -h /www\necho SERVING\n")
        f.write("read line </dev/hvc0\npoweroff -f\n")
    os.chmod(init, 0o755)
    env = dict(os.environ, LPAR_INITRAMFS_MODULES=" ".join(mods))
    subprocess.run(["scripts/mkinitramfs.sh", initrd, init], check=True, env=env,
                   stdout=subprocess.DEVNULL)

    if mode == "user":
        netdev = "user,id=n0,hostfwd=tcp:127.0.0.1:%d-:8080" % port_fwd
    else:
        netdev = "tap,id=n0,ifname=%s,script=no,downscript=no" % tap
    # QEMU's virtio-net-pci loads a boot ROM (efi-virtio.rom) that Debian's qemu-system-ppc does
    # not ship for ppc; VOF boots without one.
    rom = ",romfile=" if nic == "virtio-net-pci" and "qemu" in os.path.basename(emu) else ""
    cmd = [emu] + extra + [
        "-m", "1G", "-kernel", kernel, "-initrd", initrd, "-append", "console=hvc0 quiet",
        "-nographic", "-no-reboot", "-netdev", netdev, "-device", "%s,netdev=n0%s" % (nic, rom),
    ]
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    out = []

    def wait_for(text, timeout=600):
        deadline = time.time() + timeout
        while time.time() < deadline:
            line = p.stdout.readline()
            if not line:
                break
            out.append(line)
            if text.encode() in line:
                return line.decode(errors="replace")
        sys.stderr.write(b"".join(out[-20:]).decode(errors="replace"))
        raise SystemExit("%s: no %r" % (emu, text))

    wait_for("READY")
    if mode == "tap":
        subprocess.run(["ip", "addr", "add", "192.168.77.1/24", "dev", tap], check=True)
        subprocess.run(["ip", "link", "set", tap, "up"], check=True)
    sink = listen(bind_ip)
    threading.Thread(target=sink_server, args=(sink,), daemon=True).start()
    Big.size = mib << 20
    web = http.server.ThreadingHTTPServer((bind_ip, 0), Big)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    p.stdin.write(b"%d %d\n" % (sink.getsockname()[1], web.server_address[1]))
    p.stdin.flush()
    for _ in range(2 * rounds):
        line = wait_for("BENCH")
        _, what, secs = line.split()[:3]
        secs = float(secs)
        print("RESULT %s %.1f" % (what, mib / secs if secs > 0 else 0), flush=True)
    wait_for("SERVING")
    target = ("127.0.0.1", port_fwd) if mode == "user" else ("192.168.77.2", 8080)
    n, t0 = 0, time.time()
    while time.time() - t0 < 10:
        with socket.create_connection(target, timeout=30) as s:
            s.sendall(b"GET /index.html HTTP/1.0\r\n\r\n")
            while s.recv(4096):
                pass
        n += 1
    print("RESULT rr %.0f" % (n / (time.time() - t0)), flush=True)
    p.stdin.write(b"done\n")
    p.stdin.flush()
    try:
        p.wait(timeout=120)
    except subprocess.TimeoutExpired:
        p.kill()


if __name__ == "__main__":
    main()
