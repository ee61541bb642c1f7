#!/usr/bin/env bash
# The slow tier: boots the Debian bookworm image of scripts/debian-image.sh on lpar to the login prompt
# on the console, logs in as root, runs `apt-get --version` and `df /`, checks their output, waits for
# the DHCP lease systemd-networkd gets from -nic user (virtio-net-pci), logs in with ssh from the host
# through hostfwd, powers off, and checks that lpar exits 0. Prints the boot-to-login wall time.
#
# Usage: scripts/test-debian.sh [--bench] [-v]
#   --bench  also boot the same image on qemu-system-ppc64 (a benchmark peer only) to the login
#            prompt and print a markdown row  | Debian boot to login | lpar s | QEMU s | ratio |
#   -v       copy the guest console to stdout as it comes (it always goes to the log file)
# Environment: LPAR_ASSETS (cache, default ~/.cache/lpar-assets), LPAR (the lpar binary; default:
# target/release/lpar, built with cargo), LPAR_DEBIAN_BOOT_TIMEOUT (seconds to the login prompt,
# default 1200), QEMU (default qemu-system-ppc64).
# Console logs: $LPAR_ASSETS/debian/test-lpar.log (and test-qemu.log).
set -euo pipefail

main() {
    cd "$(dirname "$0")/.."
    local bench=0 verbose=0
    for a in "$@"; do
        case $a in
        --bench) bench=1 ;;
        -v | --verbose) verbose=1 ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument '$a' (usage: $0 [--bench] [-v])" ;;
        esac
    done
    ASSETS=${LPAR_ASSETS:-$HOME/.cache/lpar-assets}
    export LPAR_ASSETS=$ASSETS
    local timeout=${LPAR_DEBIAN_BOOT_TIMEOUT:-1200}
    command -v python3 >/dev/null || die "python3 not found (apt-get install python3)"

    if [ -z "${LPAR:-}" ]; then
        cargo build --release -p lpar >/dev/null 2>&1 || die "cargo build --release -p lpar failed"
        LPAR=$PWD/target/release/lpar
    fi
    [ -x "$LPAR" ] || die "lpar binary '$LPAR' not found"
    export LPAR

    scripts/debian-image.sh | sed 's/^/  /' || die "scripts/debian-image.sh failed"
    local d=$ASSETS/debian
    for f in debian.qcow2 vmlinux initrd.img; do
        [ -s "$d/$f" ] || die "missing $d/$f after scripts/debian-image.sh"
    done
    # sysrq: a boot that stalls gets its blocked tasks and CPU backtraces dumped (see DRIVER).
    local append="root=/dev/vda console=hvc0 sysrq_always_enabled"

    command -v ssh >/dev/null || die "ssh not found (apt-get install openssh-client)"
    [ -s "$d/ssh/id_ed25519" ] || die "missing $d/ssh/id_ed25519 (scripts/debian-image.sh makes it)"
    # A free port on the host's loopback for hostfwd to the guest's sshd.
    local port
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    export LPAR_SSH_PORT=$port LPAR_SSH_KEY=$d/ssh/id_ed25519
    echo "test-debian: booting the image on lpar (console: $d/test-lpar.log)"
    local t_lpar
    t_lpar=$(drive lpar "$timeout" "$d/test-lpar.log" $verbose -- \
        "$LPAR" -M pseries -m 2G -kernel "$d/vmlinux" -initrd "$d/initrd.img" -append "$append" \
        -drive "file=$d/debian.qcow2,if=virtio,snapshot=on" -nographic \
        -nic "user,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:$port-:22") ||
        die "the lpar boot failed (console: $d/test-lpar.log)"
    echo "test-debian: PASS: lpar booted Debian to the login prompt in $t_lpar s, root ran apt-get and df, the guest took 10.0.2.15 by DHCP and answered ssh through hostfwd, powered off"

    if [ $bench -eq 1 ]; then
        local qemu=${QEMU:-qemu-system-ppc64}
        command -v "$qemu" >/dev/null || die "--bench: $qemu not found (apt-get install qemu-system-ppc)"
        echo "test-debian: booting the image on $qemu (console: $d/test-qemu.log)"
        local t_qemu
        t_qemu=$(drive qemu "$timeout" "$d/test-qemu.log" $verbose -- \
            "$qemu" -M pseries,x-vof=on -m 2G -kernel "$d/vmlinux" -initrd "$d/initrd.img" \
            -append "$append" -drive "file=$d/debian.qcow2,if=virtio,snapshot=on" \
            -nographic -nodefaults -serial mon:stdio) ||
            die "the QEMU boot failed (console: $d/test-qemu.log)"
        echo
        echo "| workload | lpar | QEMU | lpar/QEMU |"
        echo "|---|---|---|---|"
        python3 -c 'import sys; l, q = float(sys.argv[1]), float(sys.argv[2]); print(f"| Debian boot to login | {l:.1f} s | {q:.1f} s | {l / q:.2f} |")' "$t_lpar" "$t_qemu"
    fi
}

die() { echo "test-debian: FAIL: $*" >&2; exit 1; }

# drive MODE TIMEOUT LOG VERBOSE -- COMMAND...: runs the emulator with its console on pipes and prints
# the seconds from start to the login prompt on stdout. MODE lpar: log in, run the checks, power off,
# expect exit status 0. MODE qemu: stop at the login prompt.
drive() {
    local mode=$1 timeout=$2 log=$3 verbose=$4
    shift 5
    python3 -c "$DRIVER" "$mode" "$timeout" "$log" "$verbose" "$@"
}

DRIVER=$(
    cat <<'EOF'
import os, re, select, subprocess, sys, time

mode, timeout, log_path, verbose = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4] == "1"
cmd = sys.argv[5:]
log = open(log_path, "wb")
t0 = time.monotonic()
p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
buf = b""      # console output not yet matched
seen = b""     # everything, for the failure message

def fail(msg):
    tail = seen[-1500:].decode("utf-8", "replace")
    sys.stderr.write(f"test-debian: {msg} after {time.monotonic() - t0:.0f} s; last console output:\n{tail}\n")
    if p.poll() is None:
        p.kill()
        p.wait()
    sys.exit(1)

def read(deadline):
    """Reads what the console has; False at end of output."""
    global buf, seen
    r, _, _ = select.select([p.stdout], [], [], max(0.0, min(1.0, deadline - time.monotonic())))
    if not r:
        return True
    data = os.read(p.stdout.fileno(), 65536)
    if not data:
        return False
    log.write(data)
    log.flush()
    if verbose:
        sys.stderr.buffer.write(data)
        sys.stderr.flush()
    buf += data
    seen = (seen + data)[-65536:]
    return True

dumped = False

def expect(pattern, secs, what):
    """Waits for pattern (bytes regex); returns the match and drops the output up to its end."""
    global buf, dumped
    deadline = time.monotonic() + secs
    rx = re.compile(pattern)
    while True:
        # A systemd job waiting a minute is a stall worth a look: the console's magic SysRq
        # (Ctrl-O on hvc) dumps blocked tasks (w) and every CPU's backtrace (l) to the log.
        if not dumped and re.search(rb"running \(1min", seen):
            dumped = True
            sys.stderr.write(f"test-debian: a boot job is stalled; SysRq w and l dumps go to {log_path}\n")
            for k in (b"w", b"l"):
                send_bytes(b"\x0f" + k)
                time.sleep(2)
        m = rx.search(buf)
        if m:
            buf = buf[m.end():]
            return m
        if time.monotonic() > deadline:
            fail(f"timed out waiting for {what}")
        if not read(deadline):
            fail(f"the console ended (exit status {p.wait()}) while waiting for {what}")

def send_bytes(b):
    p.stdin.write(b)
    p.stdin.flush()

def send(s):
    send_bytes(s.encode())

expect(rb"login: ", timeout, "the login prompt")
t_login = time.monotonic() - t0
if mode == "qemu":
    p.kill()
    p.wait()
    print(f"{t_login:.1f}")
    sys.exit(0)

# Log in; root has no password. The prompt ends in "# ".
send("root\r")
m = expect(rb"(root@[\w-]+:~# |Password: |Login incorrect)", 300, "the shell prompt")
if not m.group(1).startswith(b"root@"):
    fail(f"login did not give a shell ({m.group(1).decode()})")
# The markers are split in the command so its echo does not match them.
send("echo @@BE''GIN; apt-get --version | head -n1; df /; echo @@E''ND\r")
m = expect(rb"(?s)@@BEGIN\r?\n(.*?)@@END", 600, "the output of apt-get --version and df /")
out = m.group(1).decode("utf-8", "replace").replace("\r", "")
if not re.search(r"^apt \d+\.\d+[.\d]* \(ppc64el\)", out, re.M):
    fail(f"apt-get --version printed no 'apt N.N (ppc64el)' line:\n{out}")
if not re.search(r"^/dev/vda\s+\d+\s+\d+\s+\d+\s+\d+%\s+/$", out, re.M):
    fail(f"df / does not show /dev/vda mounted on /:\n{out}")
sys.stderr.write("test-debian: guest output:\n" + "".join("    " + l + "\n" for l in out.strip().split("\n")))
expect(rb"# ", 60, "the shell prompt")

# Networking: systemd-networkd's DHCP lease from lpar's user networking, then ssh from the host
# through hostfwd (the image's network stage installed sshd and the key).
# (networkctl needs D-Bus, which the image has not: the lease file says the same.)
send("echo @@NE''T; for i in $(seq 180); do grep -qs '^ADDRESS=' /run/systemd/netif/leases/* && break; sleep 1; done; "
     "grep -hE '^(ADDRESS|SERVER_ADDRESS|ROUTER|DNS)=' /run/systemd/netif/leases/*; systemctl is-active ssh; echo @@T''EN\r")
m = expect(rb"(?s)@@NET\r?\n(.*?)@@TEN", 400, "the DHCP lease and sshd")
out = m.group(1).decode("utf-8", "replace").replace("\r", "")
if not (re.search(r"^ADDRESS=10\.0\.2\.15$", out, re.M) and re.search(r"^SERVER_ADDRESS=10\.0\.2\.2$", out, re.M)):
    fail(f"no DHCP address 10.0.2.15 from 10.0.2.2:\n{out}")
if not re.search(r"^active$", out, re.M):
    fail(f"sshd is not active:\n{out}")
sys.stderr.write("test-debian: network:\n" + "".join("    " + l + "\n" for l in out.strip().split("\n")))
expect(rb"# ", 60, "the shell prompt")
ssh = ["ssh", "-i", os.environ["LPAR_SSH_KEY"], "-p", os.environ["LPAR_SSH_PORT"],
       "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
       "-o", "ConnectTimeout=120", "-o", "LogLevel=ERROR", "root@127.0.0.1",
       "uname -m; cat /etc/hostname; echo ssh-answered"]
try:
    r = subprocess.run(ssh, stdin=subprocess.DEVNULL, capture_output=True, timeout=600)
except subprocess.TimeoutExpired:
    fail("ssh through hostfwd timed out")
got = r.stdout.decode("utf-8", "replace")
if r.returncode != 0 or got.split() != ["ppc64le", "debian-lpar", "ssh-answered"]:
    fail(f"ssh through hostfwd: exit {r.returncode}, output {got!r}, errors {r.stderr.decode('utf-8', 'replace')!r}")
sys.stderr.write("test-debian: ssh root@127.0.0.1 -p PORT (hostfwd to the guest's port 22): " + " ".join(got.split()) + "\n")
send("\r")
expect(rb"# ", 60, "the shell prompt")
send("poweroff\r")
deadline = time.monotonic() + 600
while read(deadline):
    if time.monotonic() > deadline:
        fail("timed out waiting for the machine to power off")
rc = p.wait()
if rc != 0:
    fail(f"lpar exited with status {rc} after poweroff")
print(f"{t_login:.1f}")
EOF
)

main "$@"
exit
