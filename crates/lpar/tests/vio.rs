//! End to end: the sPAPR VIO devices with the Debian kernel. spapr-rng's H_RANDOM feeds the
//! guest's /dev/hwrng from a host file whose bytes the test knows; a second spapr-vty on a
//! `-chardev file` is the guest's /dev/hvc1.
//! Needs scripts/fetch-assets.sh (guest kernel and busybox).

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
