//! End to end: the Debian ppc64el kernel boots on lpar with a busybox initramfs, runs applets, and
//! powers off / reboots / panics; an interactive shell takes commands from lpar's stdin.
//! Needs the guest software of scripts/fetch-assets.sh (a missing asset fails the test).

mod common;

use common::{assets, initramfs, kernel_release, scratch, Session};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

/// Each boot is killed and the test failed after this long.
const BOOT_TIMEOUT: Duration = Duration::from_secs(300);

/// One Linux boot at a time: the CI machine has two cores.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// Boots the kernel with an initramfs whose /init is `init`; stdin is closed.
fn boot(name: &str, init: &str, extra: &[&str]) -> common::Output {
    let a = assets();
    let dir = scratch(name);
    let initrd = dir.join("initrd.cpio");
    initramfs(&a, init, &initrd);
    let vmlinux = a.join("vmlinux");
    let mut args = vec![
        "-M",
        "pseries",
        "-m",
        "1G",
        "-kernel",
        vmlinux.to_str().unwrap(),
        "-initrd",
        initrd.to_str().unwrap(),
        "-append",
        "console=hvc0",
        "-nographic",
    ];
    args.extend_from_slice(extra);
    let mut s = Session::start(&args, BOOT_TIMEOUT);
    drop(s.stdin.take());
    s.finish()
}

/// The console's lines without the carriage returns the guest tty adds.
fn lines(out: &str) -> Vec<&str> {
    out.lines().map(|l| l.trim_end_matches('\r')).collect()
}

#[test]

fn boots_runs_applets_and_powers_off() {
    let _g = lock();
    let init = "#!/bin/sh
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s
echo \"release=$(uname -r)\"
grep -m1 '^cpu' /proc/cpuinfo
echo applets-start
ls /
echo one two three four five six seven | wc -w
echo applets-end
poweroff -f
";
    let o = boot("poweroff", init, &[]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert!(o.stdout.contains("Linux version"), "{o:?}");
    let release = kernel_release(&assets());
    let l = lines(&o.stdout);
    assert!(
        l.contains(&format!("release={release}").as_str()),
        "uname -r: {o:?}"
    );
    assert!(
        l.iter()
            .any(|x| x.starts_with("cpu") && x.contains("POWER9")),
        "cpu line of /proc/cpuinfo: {o:?}"
    );
    let start = l
        .iter()
        .position(|x| *x == "applets-start")
        .expect("applets ran");
    let end = l
        .iter()
        .position(|x| *x == "applets-end")
        .expect("applets finished");
    let applets = &l[start + 1..end];
    let words: Vec<&str> = applets.iter().flat_map(|x| x.split_whitespace()).collect();
    for entry in ["bin", "dev", "init", "proc", "sbin"] {
        assert!(words.contains(&entry), "ls / lacks {entry}: {o:?}");
    }
    assert_eq!(applets.last(), Some(&"7"), "wc -w: {o:?}");
    // The machine may log diagnostics on stderr, but nothing about the guest ending badly.
    assert!(!o.stderr.contains("guest terminated"), "{o:?}");
}

#[test]

fn reboot_with_no_reboot_exits_0() {
    let _g = lock();
    let init = "#!/bin/sh
echo about-to-reboot
/bin/busybox reboot -f
";
    let o = boot("reboot", init, &["-no-reboot"]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert_eq!(o.stdout.matches("about-to-reboot").count(), 1, "{o:?}");
    assert!(o.stdout.contains("reboot: Restarting system"), "{o:?}");
    assert_eq!(
        o.stdout.matches("Run /init as init process").count(),
        1,
        "booted once: {o:?}"
    );
}

#[test]

fn reboot_restarts_the_machine() {
    let _g = lock();
    let a = assets();
    let dir = scratch("restart");
    let initrd = dir.join("initrd.cpio");
    initramfs(
        &a,
        "#!/bin/sh\necho about-to-reboot\n/bin/busybox reboot -f\n",
        &initrd,
    );
    let vmlinux = a.join("vmlinux");
    let mut s = Session::start(
        &[
            "-kernel",
            vmlinux.to_str().unwrap(),
            "-initrd",
            initrd.to_str().unwrap(),
            "-append",
            "console=hvc0",
            "-nographic",
        ],
        2 * BOOT_TIMEOUT,
    );
    // Without -no-reboot, the reboot boots the machine again from scratch.
    let at = s.wait_for("about-to-reboot", 0);
    let at = s.wait_for("Linux version", at);
    s.wait_for("about-to-reboot", at);
    s.signal(libc::SIGTERM);
    let o = s.finish();
    assert_eq!(o.status.code(), Some(0), "{o:?}");
}

#[test]

fn kernel_panic_terminates_lpar() {
    let _g = lock();
    // init exiting makes the kernel panic; pseries reports it with RTAS ibm,os-term.
    let init = "#!/bin/sh
echo init-exits-now
exit 3
";
    let o = boot("panic", init, &[]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(o.stdout.contains("init-exits-now"), "{o:?}");
    assert!(o.stdout.contains("Attempted to kill init"), "{o:?}");
    // lpar's verdict is its last word (the machine may log diagnostics before it).
    let err = lines(&o.stderr);
    assert_eq!(o.stderr.matches("guest terminated").count(), 1, "{o:?}");
    let last = err.last().copied().unwrap_or_default();
    assert!(last.starts_with("lpar: guest terminated: "), "{o:?}");
    assert!(last.contains("Attempted to kill init"), "{o:?}");
}

/// scripts/mkinitramfs.sh with its default init: an interactive shell on hvc0, driven through
/// lpar's stdin (a pipe).
#[test]

fn interactive_shell_over_stdin() {
    let _g = lock();
    let a = assets();
    let dir = scratch("interactive");
    let initrd = dir.join("initrd.gz");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/mkinitramfs.sh");
    let st = std::process::Command::new("bash")
        .arg(&script)
        .arg(&initrd)
        .env("LPAR_ASSETS", &a)
        .status()
        .expect("run mkinitramfs.sh");
    assert!(st.success(), "mkinitramfs.sh failed: {st}");
    let vmlinux = a.join("vmlinux");
    let mut s = Session::start(
        &[
            "-M",
            "pseries",
            "-m",
            "1G",
            "-kernel",
            vmlinux.to_str().unwrap(),
            "-initrd",
            initrd.to_str().unwrap(),
            "-append",
            "console=hvc0",
            "-nographic",
        ],
        BOOT_TIMEOUT,
    );
    let at = s.wait_for("lpar initramfs", 0);
    let at = s.wait_for("# ", at);
    s.send(b"echo $((6 * 7))-is-the-answer; uname -m\n");
    let at = s.wait_for("42-is-the-answer", at);
    s.wait_for("ppc64le", at);
    s.send(b"poweroff -f\n");
    let o = s.finish();
    assert_eq!(o.status.code(), Some(0), "{o:?}");
}

/// The boot above with another CPU model or MMU: /proc/cpuinfo must name the model and the MMU that
/// were asked for, and the applets must run.
fn model_boot(name: &str, cpu: &str, append: &str, want_cpu: &str, want_mmu: &str) {
    let _g = lock();
    let init = "#!/bin/sh
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s
grep -E '^(cpu|MMU)' /proc/cpuinfo
echo one two three | wc -w
poweroff -f
";
    let o = boot(name, init, &["-cpu", cpu, "-append", append]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let l = lines(&o.stdout);
    assert!(
        l.iter()
            .any(|x| x.starts_with("cpu") && x.contains(want_cpu)),
        "cpu line: {o:?}"
    );
    assert!(
        l.iter()
            .any(|x| x.starts_with("MMU") && x.ends_with(want_mmu)),
        "MMU line: {o:?}"
    );
    assert!(l.contains(&"3"), "wc -w: {o:?}");
}

#[test]
fn power8_boots_with_hash() {
    model_boot("power8", "POWER8", "console=hvc0", "POWER8", "Hash");
}

#[test]
fn power10_boots_with_radix() {
    model_boot("power10", "POWER10", "console=hvc0", "POWER10", "Radix");
}

#[test]
fn power9_disable_radix_boots_with_hash() {
    model_boot(
        "power9-hash",
        "POWER9",
        "console=hvc0 disable_radix",
        "POWER9",
        "Hash",
    );
}

/// `-smp 4` (on a 2-core host): all four vCPUs come online, /proc/cpuinfo, nproc and sysfs agree,
/// and four parallel gzip | gunzip | sha256sum jobs (the kernel's spinlocks, IPIs and TLB
/// shootdowns at work) each produce the digest the data has. With `disable_radix` the same runs on
/// the hash MMU, whose page-table hcalls shoot down every vCPU's TLB.
fn smp_boot(name: &str, append: &str) {
    let _g = lock();
    let init = "#!/bin/sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
/bin/busybox mkdir -p /dev /tmp
/bin/busybox mount -t devtmpfs dev /dev
/bin/busybox --install -s
echo \"nproc=$(nproc) online=$(cat /sys/devices/system/cpu/online) cpuinfo=$(grep -c ^processor /proc/cpuinfo)\"
dd if=/bin/busybox bs=64k count=8 2>/dev/null > /tmp/data
echo \"want=$(sha256sum < /tmp/data)\"
for i in 1 2 3 4; do (gzip -c < /tmp/data | gunzip | sha256sum > /tmp/s$i) & done
wait
for i in 1 2 3 4; do echo \"got=$(cat /tmp/s$i)\"; done
poweroff -f
";
    let o = boot(name, init, &["-smp", "4", "-append", append]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let l = lines(&o.stdout);
    assert!(
        l.contains(&"nproc=4 online=0-3 cpuinfo=4"),
        "CPUs online: {o:?}"
    );
    let want = l
        .iter()
        .find_map(|x| x.strip_prefix("want="))
        .unwrap_or_else(|| panic!("no digest: {o:?}"));
    let got: Vec<&str> = l.iter().filter_map(|x| x.strip_prefix("got=")).collect();
    assert_eq!(got, vec![want; 4], "parallel jobs: {o:?}");
}

#[test]
fn smp4_brings_every_vcpu_online_and_runs_parallel_jobs() {
    smp_boot("smp4", "console=hvc0");
}

#[test]
fn smp4_hash_mmu_runs_parallel_jobs() {
    smp_boot("smp4-hash", "console=hvc0 disable_radix");
}

/// SMT: `-smp 8,sockets=1,cores=2,threads=4` gives two cores of four threads each, as a
/// PowerVM/KVM LPAR would: eight CPUs online and Linux's sibling masks follow the cores; with
/// `vsmt=8` the second core's threads have ids 8-11 (its device-tree node is @8).
#[test]
fn smt_threads_form_cores() {
    let _g = lock();
    let init = "#!/bin/sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
/bin/busybox --install -s
echo \"nproc=$(nproc) online=$(cat /sys/devices/system/cpu/online) cpuinfo=$(grep -c ^processor /proc/cpuinfo)\"
echo \"siblings=$(cat /sys/devices/system/cpu/cpu0/topology/thread_siblings_list),$(cat /sys/devices/system/cpu/cpu5/topology/thread_siblings_list)\"
echo cores: $(ls /proc/device-tree/cpus | grep PowerPC)
poweroff -f
";
    let o = boot(
        "smt",
        init,
        &[
            "-smp",
            "8,sockets=1,cores=2,threads=4",
            "-M",
            "pseries,vsmt=8",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let l = lines(&o.stdout);
    assert!(l.contains(&"nproc=8 online=0-7 cpuinfo=8"), "{o:?}");
    assert!(l.contains(&"siblings=0-3,4-7"), "{o:?}");
    assert!(
        l.contains(&"cores: PowerPC,POWER9@0 PowerPC,POWER9@8"),
        "{o:?}"
    );
}

/// `-icount`: two boots of the same command line with two vCPUs and a parallel workload print the
/// same console output byte for byte — the kernel's timestamps, the guest's clock (`-rtc
/// clock=vm` from a fixed date) and the interleaving of the vCPUs included.
#[test]
fn icount_runs_are_reproducible() {
    let init = "#!/bin/sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mkdir -p /dev /tmp
/bin/busybox mount -t devtmpfs dev /dev
/bin/busybox --install -s
date
dd if=/bin/busybox bs=64k count=4 2>/dev/null > /tmp/data
for i in 1 2; do (gzip -c < /tmp/data | sha256sum > /tmp/s$i; echo job $i done) & done
wait
cat /tmp/s1 /tmp/s2 /proc/uptime
dmesg | tail -n 3
poweroff -f
";
    let run = || {
        let _g = lock();
        boot(
            "icount",
            init,
            &[
                "-smp",
                "2",
                "-icount",
                "shift=3",
                "-rtc",
                "base=2024-01-01T00:00:00,clock=vm",
            ],
        )
    };
    let (a, b) = (run(), run());
    assert_eq!(a.status.code(), Some(0), "{a:?}");
    assert!(a.stdout.contains("UTC 2024"), "date from -rtc base: {a:?}");
    assert!(a.stdout.contains("job 2 done"), "{a:?}");
    assert_eq!(a.stdout, b.stdout, "two -icount runs differ");
}

/// 64 vCPUs (on a 2-core host): every one comes online. With 32 vCPU threads per host core a
/// spinlock holder can wait ~10 s for the host to run it again, which the guest's hard-lockup
/// watchdog reports (and its reports slow the boot further), so it is off here: lpar does not yet
/// tell the guest which vCPUs are preempted (VPA yield counts for H_CONFER).
#[test]
fn smp64_brings_every_vcpu_online() {
    let _g = lock();
    let init = "#!/bin/sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
/bin/busybox --install -s
echo \"nproc=$(nproc) online=$(cat /sys/devices/system/cpu/online)\"
poweroff -f
";
    let o = boot(
        "smp64",
        init,
        &[
            "-smp",
            "64",
            "-m",
            "2G",
            "-append",
            "console=hvc0 nowatchdog",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert!(lines(&o.stdout).contains(&"nproc=64 online=0-63"), "{o:?}");
}

/// The lockstep checker over a whole boot and a busybox workload: every translated block and
/// region whose instructions are all inline runs on the real state, then again in the
/// interpreter, and any difference is reported. Translating from the 20th arrival puts most of
/// the kernel's code through it.
#[test]
fn translated_blocks_match_the_interpreter_over_a_boot() {
    let _g = lock();
    let init = "#!/bin/busybox sh
/bin/busybox --install -s /bin
seq 1 3000 | sort -r | md5sum
echo checked-end
poweroff -f
";
    let o = boot(
        "jit-check",
        init,
        &["-accel", "tcg,jit=check,jit-threshold=20", "-no-reboot"],
    );
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    // The same pipeline on the host (C-locale sort, as busybox compares bytes).
    let host = std::process::Command::new("sh")
        .args(["-c", "seq 1 3000 | LC_ALL=C sort -r | md5sum"])
        .output()
        .expect("host sh");
    let want = String::from_utf8_lossy(&host.stdout).trim().to_string();
    let l = lines(&o.stdout);
    assert!(l.contains(&want.as_str()), "md5 {want}: {o:?}");
    assert!(l.contains(&"checked-end"), "{o:?}");
    let report = o
        .stderr
        .lines()
        .find(|x| x.starts_with("jit check: "))
        .unwrap_or_else(|| panic!("no checker report: {o:?}"));
    let checked: u64 = report
        .split_whitespace()
        .nth(2)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{report}"));
    assert!(checked > 1_000_000, "{report}");
    assert!(report.ends_with(", 0 divergences"), "{report}");
    assert!(!o.stderr.contains("divergence in the block"), "{o:?}");
}
