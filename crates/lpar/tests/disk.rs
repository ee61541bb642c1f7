//! End to end: disks. The Debian kernel finds a virtio-blk-pci disk behind the default PCI host
//! bridge, mounts the ext4 file system the host made on it, reads a file byte for byte and writes
//! one the host then reads back with debugfs; the image passes e2fsck afterwards. Also read-only
//! drives, several disks, and the command-line errors of bad drives.
//! Needs scripts/fetch-assets.sh (guest kernel and busybox, e2fsprogs on the host).

mod common;

use common::{assets, initramfs_with_modules, scratch, Session, VIRTIO_BLK_EXT4};
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

const BOOT_TIMEOUT: Duration = Duration::from_secs(300);

/// One Linux boot at a time: the CI machine has two cores.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// An init that loads the disk modules, runs `body`, and powers off.
fn init(body: &str) -> String {
    let mut s = String::from(
        "#!/bin/sh\n/bin/busybox mount -t proc proc /proc\n/bin/busybox --install -s\n\
         mount -t sysfs sysfs /sys\nmount -t devtmpfs devtmpfs /dev\n",
    );
    for m in VIRTIO_BLK_EXT4 {
        s.push_str(&format!(
            "insmod /modules/{m}.ko || echo insmod-{m}-failed\n"
        ));
    }
    s.push_str(body);
    s.push_str("\npoweroff -f\n");
    s
}

/// Boots with `init` and the extra arguments (drives); returns the console output.
fn boot(dir: &Path, init: &str, extra: &[&str]) -> common::Output {
    let a = assets();
    let initrd = dir.join("initrd.cpio");
    initramfs_with_modules(&a, init, VIRTIO_BLK_EXT4, &initrd);
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

/// An ext4 image of `mib` MiB holding the files of `from`.
fn mkfs(from: &Path, image: &Path, mib: u32) {
    let st = Command::new("mkfs.ext4")
        .args(["-q", "-F", "-d"])
        .arg(from)
        .arg(image)
        .arg(format!("{mib}M"))
        .status()
        .expect("mkfs.ext4 (apt-get install e2fsprogs; scripts/fetch-assets.sh does)");
    assert!(st.success(), "mkfs.ext4 failed");
}

fn debugfs_cat(image: &Path, file: &str) -> Vec<u8> {
    let out = Command::new("debugfs")
        .arg("-R")
        .arg(format!("cat {file}"))
        .arg(image)
        .output()
        .expect("debugfs");
    out.stdout
}

fn fsck_clean(image: &Path) {
    let out = Command::new("e2fsck")
        .arg("-fn")
        .arg(image)
        .output()
        .expect("e2fsck");
    assert!(
        out.status.success(),
        "e2fsck found errors:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Content no guest could guess: 200 KiB of a pseudo-random sequence, so reads span many requests.
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

fn lines(out: &str) -> Vec<&str> {
    out.lines().map(|l| l.trim_end_matches('\r')).collect()
}

#[test]
fn an_ext4_virtio_disk_is_read_and_written_by_the_guest() {
    let _g = lock();
    let dir = scratch("disk-ext4");
    let files = dir.join("files");
    std::fs::create_dir_all(&files).unwrap();
    let data = pattern(200 << 10, 0x1234_5678);
    std::fs::write(files.join("data.bin"), &data).unwrap();
    std::fs::write(files.join("hello.txt"), b"hello from the host\n").unwrap();
    let image = dir.join("disk.img");
    mkfs(&files, &image, 32);
    let host = Command::new("md5sum")
        .arg(files.join("data.bin"))
        .output()
        .expect("md5sum");
    let want_sum = String::from_utf8_lossy(&host.stdout)
        .split_whitespace()
        .next()
        .expect("a sum")
        .to_string();
    let body = "cat /sys/block/vda/size
grep virtio0-req.0 /proc/interrupts | grep -q PCI-MSI && echo msix-in-use
mount -t ext4 /dev/vda /mnt || echo mount-failed
cat /mnt/hello.txt
md5sum /mnt/data.bin
seq 1 20000 > /mnt/written.txt
sync
umount /mnt && echo unmounted";
    let img = format!("file={},format=raw,if=virtio", image.display());
    let out = boot(&dir, &init(body), &["-drive", &img]);
    assert!(out.status.success(), "{out:?}");
    let l = lines(&out.stdout);
    assert!(!out.stdout.contains("failed"), "{out:?}");
    // Size in 512-byte sectors, as the host made it.
    assert!(l.contains(&"65536"), "{out:?}");
    assert!(l.contains(&"hello from the host"), "{out:?}");
    // The request queue interrupts through MSI-X (ibm,change-msi), not INTx.
    assert!(l.contains(&"msix-in-use"), "{out:?}");
    assert!(
        l.contains(&format!("{want_sum}  /mnt/data.bin").as_str()),
        "{out:?}"
    );
    assert!(l.contains(&"unmounted"), "{out:?}");
    let want: String = (1..=20000).map(|i| format!("{i}\n")).collect();
    assert_eq!(debugfs_cat(&image, "/written.txt"), want.as_bytes());
    fsck_clean(&image);
}

#[test]
fn read_only_drives_and_several_disks() {
    let _g = lock();
    let dir = scratch("disk-ro");
    let files = dir.join("files");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::write(files.join("a.txt"), b"disk a\n").unwrap();
    let a = dir.join("a.img");
    mkfs(&files, &a, 8);
    std::fs::write(files.join("a.txt"), b"disk b\n").unwrap();
    let b = dir.join("b.img");
    mkfs(&files, &b, 8);
    let before = std::fs::read(&a).unwrap();
    let body = "cat /sys/block/vda/ro /sys/block/vdb/ro
mkdir /mnt/a /mnt/b
mount -t ext4 -o ro /dev/vda /mnt/a && cat /mnt/a/a.txt
mount -t ext4 /dev/vdb /mnt/b && cat /mnt/b/a.txt
dd if=/dev/zero of=/dev/vda bs=512 count=1 2>/dev/null || echo write-refused
umount /mnt/a /mnt/b";
    let da = format!("file={},format=raw,if=none,id=a,readonly=on", a.display());
    let db = format!("file={},format=raw,if=none,id=b", b.display());
    let out = boot(
        &dir,
        &init(body),
        &[
            "-drive",
            &da,
            "-drive",
            &db,
            "-device",
            "virtio-blk-pci,drive=a,addr=3",
            "-device",
            "virtio-blk-pci,drive=b,addr=4,num-queues=2",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let l = lines(&out.stdout);
    // vda (slot 3) is read-only, vdb (slot 4) is not.
    let ro = l.iter().position(|x| *x == "1").expect("ro flag");
    assert_eq!(l.get(ro + 1), Some(&"0"), "{out:?}");
    assert!(l.contains(&"disk a"), "{out:?}");
    assert!(l.contains(&"disk b"), "{out:?}");
    assert!(l.contains(&"write-refused"), "{out:?}");
    assert_eq!(
        std::fs::read(&a).unwrap(),
        before,
        "read-only image changed"
    );
    fsck_clean(&b);
}

#[test]
fn bad_drives_are_one_line_errors() {
    let dir = scratch("disk-errors");
    let vmlinux = assets().join("vmlinux");
    let k = vmlinux.to_str().unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["-M", "pseries", "-kernel", k, "-nographic"];
        args.extend_from_slice(extra);
        common::run(&args, Duration::from_secs(30))
    };
    let missing = dir.join("missing.img");
    let m = format!("file={}", missing.display());
    let out = run(&["-drive", &m]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
    assert!(out.stderr.contains("missing.img"), "{out:?}");

    // A second lpar cannot open an image another one is writing.
    let image = dir.join("locked.img");
    std::fs::write(&image, vec![0u8; 1 << 20]).unwrap();
    let file = std::fs::File::open(&image).unwrap();
    // SAFETY: flock on a descriptor this test owns.
    assert_eq!(
        unsafe { libc::flock(std::os::unix::io::AsRawFd::as_raw_fd(&file), libc::LOCK_EX,) },
        0
    );
    let l = format!("file={},format=raw", image.display());
    let out = run(&["-drive", &l]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stderr.contains("in use by another process"), "{out:?}");
    drop(file);

    let out = run(&["-device", "virtio-blk-pci,drive=nothere"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stderr.contains("drive=nothere"), "{out:?}");
}
