//! End to end: the sPAPR VIO devices with the Debian kernel. spapr-rng's H_RANDOM feeds the
//! guest's /dev/hwrng from a host file whose bytes the test knows; a second spapr-vty on a
//! `-chardev file` is the guest's /dev/hvc1; tpm-spapr on a real swtpm is the guest's TPM 2.0,
//! through a reboot.
//! Needs scripts/fetch-assets.sh (guest kernel and busybox; swtpm on the host).

mod common;

use common::{assets, initramfs_with_modules, scratch, Session};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

const BOOT_TIMEOUT: Duration = Duration::from_secs(300);

/// One Linux boot at a time: the CI machine has two cores.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

fn boot(dir: &Path, modules: &[&str], body: &str, extra: &[&str]) -> common::Output {
    let mut init = String::from(
        "#!/bin/sh\n/bin/busybox mount -t proc proc /proc\n/bin/busybox --install -s\n\
         mount -t sysfs sysfs /sys\nmount -t devtmpfs devtmpfs /dev\n",
    );
    for m in modules {
        init.push_str(&format!(
            "insmod /modules/{m}.ko || echo insmod-{m}-failed\n"
        ));
    }
    init.push_str(body);
    init.push_str("\npoweroff -f\n");
    let a = assets();
    let initrd = dir.join("initrd.cpio");
    initramfs_with_modules(&a, &init, modules, &initrd);
    let vmlinux = a.join("vmlinux");
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
    ];
    args.extend_from_slice(extra);
    let mut s = Session::start(&args, BOOT_TIMEOUT);
    drop(s.stdin.take());
    s.finish()
}

/// 64 KiB of 8-byte big-endian counters 0, 1, 2...: any 8-aligned run of it names its offset.
fn counters() -> Vec<u8> {
    (0u64..8192)
        .flat_map(|i| (i | 0x5a00_0000_0000_0000).to_be_bytes())
        .collect()
}

#[test]
fn spapr_rng_feeds_hwrng_from_the_host_file() {
    let _g = lock();
    let dir = scratch("vio-rng");
    let src = dir.join("entropy.bin");
    let data = counters();
    std::fs::write(&src, &data).unwrap();
    let obj = format!("rng-random,id=r0,filename={}", src.display());
    let out = boot(
        &dir,
        &["pseries-rng"],
        "echo HWRNG=$(cat /sys/class/misc/hw_random/rng_current)\n\
         echo BYTES:; head -c 64 /dev/hwrng | od -An -tx1 -v; echo :END",
        &["-object", &obj, "-device", "spapr-rng,rng=r0"],
    );
    let text = out.stdout.clone();
    assert!(text.contains("HWRNG=pseries_rng"), "{out:?}");
    let hex = text
        .split("BYTES:")
        .nth(1)
        .and_then(|t| t.split(":END").next())
        .unwrap_or_else(|| panic!("no dump:\n{out:?}"));
    let got: Vec<u8> = hex
        .split_whitespace()
        .map(|h| u8::from_str_radix(h, 16).expect("hex byte"))
        .collect();
    assert_eq!(got.len(), 64, "{out:?}");
    // The guest also drew seeds through H_RANDOM at boot, so the dump starts somewhere in the
    // file: it must be the file's bytes from an 8-byte boundary on, unchanged.
    let at = data
        .chunks(8)
        .position(|c| c == &got[..8])
        .unwrap_or_else(|| panic!("first word {:02x?} is not from the file", &got[..8]));
    assert_eq!(&data[at * 8..at * 8 + 64], &got[..]);
}

#[test]
fn second_vty_is_hvc1_on_its_chardev() {
    let _g = lock();
    let dir = scratch("vio-vty");
    let file = dir.join("hvc1.txt");
    let chardev = format!("file,id=c1,path={}", file.display());
    let out = boot(
        &dir,
        &[],
        "ls /sys/class/tty | grep -c '^hvc[0-9]' | sed 's/^/HVCS=/'\n\
         echo to-the-second-console >/dev/hvc1 && echo WROTE",
        &["-chardev", &chardev, "-device", "spapr-vty,chardev=c1"],
    );
    assert!(out.stdout.contains("WROTE"), "{out:?}");
    let got = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(
        got.contains("to-the-second-console"),
        "hvc1 file: {got:?}\n{out:?}"
    );
    assert!(!out.stdout.contains("to-the-second-console\n"), "{out:?}");
}

/// A swtpm (TPM 2.0) listening on a control socket in `dir`; killed on drop.
struct Swtpm(std::process::Child);

impl Swtpm {
    fn start(dir: &Path) -> (Swtpm, std::path::PathBuf) {
        let state = dir.join("tpmstate");
        std::fs::create_dir_all(&state).unwrap();
        let sock = dir.join("swtpm-sock");
        let child = std::process::Command::new("swtpm")
            .arg("socket")
            .arg("--tpm2")
            .arg("--tpmstate")
            .arg(format!("dir={}", state.display()))
            .arg("--ctrl")
            .arg(format!("type=unixio,path={}", sock.display()))
            .arg("--log")
            .arg(format!("file={}", dir.join("swtpm.log").display()))
            .stdin(std::process::Stdio::null())
            .spawn()
            .expect("cannot run swtpm (apt-get install swtpm; scripts/fetch-assets.sh does)");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !sock.exists() {
            assert!(std::time::Instant::now() < deadline, "swtpm made no socket");
            std::thread::sleep(Duration::from_millis(10));
        }
        (Swtpm(child), sock)
    }
}

impl Drop for Swtpm {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// tpm-spapr on a real swtpm: the kernel's tpm_ibmvtpm finds a TPM 2.0, reads PCRs through
/// sysfs, and a TPM2_PCR_Extend written to /dev/tpm0 changes PCR 16 to what the host computes.
/// The guest then reboots: swtpm stays connected, the TPM is power cycled (PCR 16 is zero
/// again) and works as before.
#[test]
fn tpm_spapr_on_swtpm_reads_and_extends_pcrs_across_a_reboot() {
    use sha2::{Digest, Sha256};
    let _g = lock();
    let dir = scratch("vio-tpm");
    let (_swtpm, sock) = Swtpm::start(&dir);
    let measured: [u8; 32] = Sha256::digest(b"lpar measured this").into();
    // TPM2_PCR_Extend(PCR 16, password session, one SHA-256 digest).
    let mut cmd: Vec<u8> = vec![0x80, 0x02, 0, 0, 0, 65, 0, 0, 0x01, 0x82, 0, 0, 0, 16];
    cmd.extend_from_slice(&[0, 0, 0, 9, 0x40, 0, 0, 9, 0, 0, 0, 0, 0]);
    cmd.extend_from_slice(&[0, 0, 0, 1, 0, 0x0b]);
    cmd.extend_from_slice(&measured);
    assert_eq!(cmd.len(), 65);
    let octal: String = cmd.iter().map(|b| format!("\\{b:03o}")).collect();
    // Each boot prints what it sees, then asks the console whether to reboot.
    let init = format!(
        "#!/bin/sh\n/bin/busybox mount -t proc proc /proc\n/bin/busybox --install -s
mount -t sysfs sysfs /sys\nmount -t devtmpfs devtmpfs /dev
echo VER=$(cat /sys/class/tpm/tpm0/tpm_version_major)
echo DESC=$(cat /sys/class/tpm/tpm0/device/devspec)
echo PCR0=$(cat /sys/class/tpm/tpm0/pcr-sha256/0)
echo PCR16=$(cat /sys/class/tpm/tpm0/pcr-sha256/16)
exec 3<>/dev/tpm0
printf '{octal}' >&3
echo RSP=$(dd bs=4096 count=1 <&3 2>/dev/null | od -An -tx1 -v | tr -d ' \\n')
exec 3>&-
echo PCR16=$(cat /sys/class/tpm/tpm0/pcr-sha256/16)
echo NEXT?
read next
[ \"$next\" = reboot ] && reboot -f
poweroff -f
"
    );
    let a = assets();
    let initrd = dir.join("initrd.cpio");
    initramfs_with_modules(&a, &init, &[], &initrd);
    let vmlinux = a.join("vmlinux");
    let chardev = format!("socket,id=chrtpm,path={}", sock.display());
    let mut s = Session::start(
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
            "-chardev",
            &chardev,
            "-tpmdev",
            "emulator,id=tpm0,chardev=chrtpm",
            "-device",
            "tpm-spapr,tpmdev=tpm0",
        ],
        BOOT_TIMEOUT,
    );
    let first = s.wait_for("NEXT?", 0);
    s.send(b"reboot\n");
    s.wait_for("NEXT?", first);
    s.send(b"off\n");
    let out = s.finish();
    assert!(out.status.success(), "{out:?}");
    let l: Vec<&str> = out
        .stdout
        .lines()
        .map(|x| x.trim_end_matches('\r'))
        .collect();
    let zero = "00".repeat(32);
    let mut h = Sha256::new();
    h.update([0u8; 32]);
    h.update(measured);
    let extended: String = h.finalize().iter().map(|b| format!("{b:02X}")).collect();
    let boots: Vec<&[&str]> = l.split(|x| x.contains("NEXT?")).take(2).collect();
    assert_eq!(boots.len(), 2, "{out:?}");
    for b in boots {
        let get = |k: &str| -> Vec<&str> { b.iter().filter_map(|x| x.strip_prefix(k)).collect() };
        assert_eq!(get("VER="), ["2"], "{out:?}");
        assert!(get("DESC=")[0].starts_with("/vdevice/vtpm@"), "{out:?}");
        assert_eq!(get("PCR0="), [zero.as_str()], "{out:?}");
        // Zero at boot (a power-cycled TPM), then extended by the guest's command: a TPM2
        // response with sessions (tag 0x8002), 19 bytes, TPM_RC_SUCCESS.
        assert_eq!(get("PCR16="), [zero.as_str(), extended.as_str()], "{out:?}");
        assert_eq!(
            get("RSP="),
            ["80020000001300000000000000000000010000"],
            "{out:?}"
        );
    }
}
