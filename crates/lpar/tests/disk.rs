//! End to end: disks and the other virtio-pci devices. The Debian kernel finds a virtio-blk-pci disk behind the default PCI host
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
    init_with(VIRTIO_BLK_EXT4, body)
}

fn init_with(modules: &[&str], body: &str) -> String {
    let mut s = String::from(
        "#!/bin/sh\n/bin/busybox mount -t proc proc /proc\n/bin/busybox --install -s\n\
         mount -t sysfs sysfs /sys\nmount -t devtmpfs devtmpfs /dev\n",
    );
    for m in modules {
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
    boot_with(dir, VIRTIO_BLK_EXT4, init, extra)
}

fn boot_with(dir: &Path, modules: &[&str], init: &str, extra: &[&str]) -> common::Output {
    let a = assets();
    let initrd = dir.join("initrd.cpio");
    initramfs_with_modules(&a, init, modules, &initrd);
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

/// Through cache=none (O_DIRECT; the guest's buffers need not be aligned for it).
#[test]
fn an_ext4_virtio_disk_is_read_and_written_by_the_guest() {
    let _g = lock();
    let dir = scratch("disk-ext4");
    let files = dir.join("files");
    std::fs::create_dir_all(&files).unwrap();
    let data = pattern(200 << 10, 0x1234_5678);
    std::fs::write(files.join("data.bin"), &data).unwrap();
    std::fs::write(files.join("hello.txt"), b"hello from the host\n").unwrap();
    // cache=none (O_DIRECT) wants a file system that has it, which a tmpfs /tmp is not.
    let image = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("disk-ext4-{}.img", std::process::id()));
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
    let img = format!("file={},format=raw,if=virtio,cache=none", image.display());
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
    let _ = std::fs::remove_file(&image);
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

fn qemu_img(args: &[&str]) -> std::process::Output {
    Command::new("qemu-img")
        .args(args)
        .output()
        .expect("qemu-img (apt-get install qemu-utils; scripts/fetch-assets.sh does)")
}

/// `qemu-img check`: no corruption (exit 0; leaked clusters, which cost only space, are 3).
fn qcow2_check(image: &Path, allow_leaks: bool) {
    let out = qemu_img(&["check", image.to_str().unwrap()]);
    let ok = match out.status.code() {
        Some(0) => true,
        Some(3) => allow_leaks,
        _ => false,
    };
    assert!(
        ok,
        "qemu-img check failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn an_ext4_qcow2_disk_with_a_backing_file_round_trips() {
    let _g = lock();
    let dir = scratch("disk-qcow2");
    let files = dir.join("files");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::write(files.join("base.txt"), b"from the base image\n").unwrap();
    let raw = dir.join("base.img");
    mkfs(&files, &raw, 32);
    // A compressed qcow2 base and a qcow2 overlay on it: the guest writes only to the overlay.
    let base = dir.join("base.qcow2");
    let top = dir.join("top.qcow2");
    let o = qemu_img(&[
        "convert",
        "-c",
        "-O",
        "qcow2",
        raw.to_str().unwrap(),
        base.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{o:?}");
    let o = qemu_img(&[
        "create",
        "-f",
        "qcow2",
        "-b",
        base.to_str().unwrap(),
        "-F",
        "qcow2",
        top.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{o:?}");
    let base_before = std::fs::read(&base).unwrap();
    let body = "mount -t ext4 /dev/vda /mnt || echo mount-failed
cat /mnt/base.txt
seq 1 30000 > /mnt/new.txt
umount /mnt && echo unmounted";
    let d = format!("file={},format=qcow2,if=virtio", top.display());
    let out = boot(&dir, &init(body), &["-drive", &d]);
    assert!(out.status.success(), "{out:?}");
    let l = lines(&out.stdout);
    assert!(l.contains(&"from the base image"), "{out:?}");
    assert!(l.contains(&"unmounted"), "{out:?}");
    assert!(!out.stdout.contains("failed"), "{out:?}");
    qcow2_check(&top, false);
    assert_eq!(
        std::fs::read(&base).unwrap(),
        base_before,
        "the backing file changed"
    );
    let flat = dir.join("flat.img");
    let o = qemu_img(&[
        "convert",
        "-O",
        "raw",
        top.to_str().unwrap(),
        flat.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{o:?}");
    let want: String = (1..=30000).map(|i| format!("{i}\n")).collect();
    assert_eq!(debugfs_cat(&flat, "/new.txt"), want.as_bytes());
    fsck_clean(&flat);
}

#[test]
fn snapshot_on_leaves_the_image_untouched() {
    let _g = lock();
    let dir = scratch("disk-snapshot");
    let files = dir.join("files");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::write(files.join("a.txt"), b"original\n").unwrap();
    let image = dir.join("disk.img");
    mkfs(&files, &image, 16);
    let before = std::fs::read(&image).unwrap();
    let body = "mount -t ext4 /dev/vda /mnt && echo changed > /mnt/a.txt && sync && cat /mnt/a.txt
umount /mnt";
    let d = format!("file={},format=raw,snapshot=on", image.display());
    let out = boot(&dir, &init(body), &["-drive", &d]);
    assert!(out.status.success(), "{out:?}");
    assert!(lines(&out.stdout).contains(&"changed"), "{out:?}");
    assert_eq!(
        std::fs::read(&image).unwrap(),
        before,
        "snapshot=on wrote the image"
    );
}

#[test]
fn a_reboot_reopens_the_disk_and_sees_what_was_written() {
    let _g = lock();
    let dir = scratch("disk-reboot");
    let files = dir.join("files");
    std::fs::create_dir_all(&files).unwrap();
    let image = dir.join("disk.qcow2");
    let o = qemu_img(&["create", "-f", "qcow2", image.to_str().unwrap(), "16M"]);
    assert!(o.status.success(), "{o:?}");
    // First boot: no marker yet, write it and reboot; second boot: find it and power off.
    let body = "if dd if=/dev/vda bs=6 count=1 2>/dev/null | grep -q marker; then
  echo second-boot; poweroff -f
fi
echo marker | dd of=/dev/vda conv=fsync 2>/dev/null && echo first-boot
reboot -f";
    let d = format!("file={},format=qcow2,if=virtio", image.display());
    let out = boot(&dir, &init(body), &["-drive", &d]);
    assert!(out.status.success(), "{out:?}");
    let l = lines(&out.stdout);
    let first = l
        .iter()
        .position(|x| *x == "first-boot")
        .expect("first boot");
    let second = l
        .iter()
        .position(|x| *x == "second-boot")
        .expect("second boot");
    assert!(first < second, "{out:?}");
    qcow2_check(&image, false);
}

/// Data safety: lpar is killed (SIGKILL) while the guest writes and flushes block after block;
/// every block the guest saw acknowledged after its flush is in the image afterwards, and the
/// qcow2 image has no corruption (clusters allocated after the last flush may leak).
#[test]
fn writes_acknowledged_after_a_flush_survive_sigkill() {
    let _g = lock();
    let dir = scratch("disk-sigkill");
    let image = dir.join("disk.qcow2");
    let o = qemu_img(&["create", "-f", "qcow2", image.to_str().unwrap(), "64M"]);
    assert!(o.status.success(), "{o:?}");
    // Block i (4 KiB at 4096*i) is 256 lines "%015d\n" of i; conv=fsync flushes the disk before
    // dd returns, so "ACK i" means "durable".
    let body = "i=1
while [ $i -le 4000 ]; do
  yes $(printf %015d $i) | head -c 4096 > /tmp/b
  dd if=/tmp/b of=/dev/vda bs=4096 seek=$i count=1 conv=fsync 2>/dev/null && echo ACK $i
  i=$((i + 1))
done";
    let a = assets();
    let initrd = dir.join("initrd.cpio");
    initramfs_with_modules(&a, &init(body), VIRTIO_BLK_EXT4, &initrd);
    let vmlinux = a.join("vmlinux");
    let d = format!("file={},format=qcow2,if=virtio", image.display());
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
            "-drive",
            &d,
        ],
        BOOT_TIMEOUT,
    );
    // The guest tty ends lines with CR LF.
    s.wait_for("ACK 40\r", 0);
    s.signal(libc::SIGKILL);
    let out = s.finish();
    let acked: Vec<u32> = lines(&out.stdout)
        .iter()
        .filter_map(|l| l.strip_prefix("ACK ")?.parse().ok())
        .collect();
    let last = *acked.last().expect("acknowledged writes");
    assert!(last >= 40, "{out:?}");
    qcow2_check(&image, true);
    let flat = dir.join("flat.img");
    let o = qemu_img(&[
        "convert",
        "-O",
        "raw",
        image.to_str().unwrap(),
        flat.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{o:?}");
    let disk = std::fs::read(&flat).unwrap();
    for i in 1..=last {
        let want = format!("{i:015}\n").repeat(256);
        let at = 4096 * i as usize;
        assert_eq!(
            &disk[at..at + 4096],
            want.as_bytes(),
            "block {i} (acknowledged; the last acknowledged was {last}) is not in the image"
        );
    }
}

/// NVRAM persistence: what the guest stores through /dev/nvram (RTAS nvram-store) is in the
/// pflash image after power-off, and the next run reads it back.
#[test]
fn the_nvram_image_keeps_what_the_guest_stored() {
    let _g = lock();
    let dir = scratch("nvram");
    let image = dir.join("nvram.img");
    std::fs::write(&image, vec![0u8; 64 << 10]).unwrap();
    let write = "printf lpar-nvram-persists | dd of=/dev/nvram bs=1 seek=40000 conv=notrunc 2>/dev/null && echo stored";
    let d = format!("if=pflash,file={},format=raw", image.display());
    let out = boot(&dir, &init(write), &["-drive", &d]);
    assert!(out.status.success(), "{out:?}");
    assert!(lines(&out.stdout).contains(&"stored"), "{out:?}");
    let bytes = std::fs::read(&image).unwrap();
    assert_eq!(&bytes[40000..40019], b"lpar-nvram-persists");
    // The second run names the drive the other way QEMU allows.
    let read = "dd if=/dev/nvram bs=1 skip=40000 count=19 2>/dev/null; echo";
    let d = format!("if=none,id=nv,file={},format=raw", image.display());
    let out = boot(
        &dir,
        &init(read),
        &["-drive", &d, "-global", "spapr-nvram.drive=nv"],
    );
    assert!(out.status.success(), "{out:?}");
    assert!(
        lines(&out.stdout).contains(&"lpar-nvram-persists"),
        "{out:?}"
    );
}

/// virtio-rng feeds the guest's /dev/hwrng (from a file source and from getrandom), and the
/// balloon binds to its driver; both sit on the PCI bus with MSI-X.
#[test]
fn rng_and_balloon_devices_work_in_the_guest() {
    let _g = lock();
    let dir = scratch("rng");
    let modules = [
        "virtio_ring",
        "virtio",
        "virtio_pci_modern_dev",
        "virtio_pci_legacy_dev",
        "virtio_pci",
        "virtio-rng",
        "virtio_balloon",
    ];
    // The file source is a pattern the test knows, so the bytes prove where they came from.
    let src = dir.join("entropy.bin");
    std::fs::write(&src, b"0123456789abcdef".repeat(4096)).unwrap();
    let body = "cat /sys/class/misc/hw_random/rng_current
dd if=/dev/hwrng bs=16 count=2 2>/dev/null; echo
ls /sys/bus/virtio/drivers/virtio_balloon | grep -c virtio";
    let obj = format!("rng-random,id=r0,filename={}", src.display());
    let out = boot_with(
        &dir,
        &modules,
        &init_with(&modules, body),
        &[
            "-object",
            &obj,
            "-device",
            "virtio-rng-pci,rng=r0",
            "-device",
            "virtio-balloon-pci",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let l = lines(&out.stdout);
    assert!(l.iter().any(|x| x.starts_with("virtio_rng")), "{out:?}");
    assert!(l.contains(&"0123456789abcdef0123456789abcdef"), "{out:?}");
    assert!(l.contains(&"1"), "balloon not bound: {out:?}");
    // The builtin source: random bytes, not a pattern (16 bytes, 32 hex digits, not all equal).
    let body = "dd if=/dev/hwrng bs=16 count=1 2>/dev/null | od -An -tx1 | tr -d ' \\n'; echo";
    let out = boot_with(
        &dir,
        &modules,
        &init_with(&modules, body),
        &["-device", "virtio-rng-pci"],
    );
    assert!(out.status.success(), "{out:?}");
    let hex = lines(&out.stdout)
        .into_iter()
        .find(|x| x.len() == 32 && x.chars().all(|c| c.is_ascii_hexdigit()))
        .unwrap_or_else(|| panic!("no random bytes: {out:?}"));
    assert!(
        hex.as_bytes().chunks(2).any(|c| c != &hex.as_bytes()[..2]),
        "{hex}"
    );
}

/// A virtconsole on a unix-socket chardev: the guest's /dev/hvc1 writes reach the socket's client
/// and what the client sends arrives in the guest.
#[test]
fn a_virtconsole_carries_bytes_over_a_socket_chardev() {
    use std::io::{BufRead, BufReader, Write};
    let _g = lock();
    let dir = scratch("virtconsole");
    let modules = [
        "virtio_ring",
        "virtio",
        "virtio_pci_modern_dev",
        "virtio_pci_legacy_dev",
        "virtio_pci",
        "virtio_console",
    ];
    // hvc1 stays open throughout: a last close resets the tty and drops what it has buffered, so
    // a reply arriving before `echo`'s close would be lost if each command opened it anew.
    let body = "exec 3<>/dev/hvc1
stty -F /dev/hvc1 raw -echo
echo hello-from-guest >&3
read line <&3
echo \"got: $line\"";
    let a = assets();
    let initrd = dir.join("initrd.cpio");
    initramfs_with_modules(&a, &init_with(&modules, body), &modules, &initrd);
    let sock = dir.join("console.sock");
    let chardev = format!("socket,id=c0,path={},server=on,wait=off", sock.display());
    let vmlinux = a.join("vmlinux");
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
            "-device",
            "virtio-serial-pci",
            "-device",
            "virtconsole,chardev=c0",
        ],
        BOOT_TIMEOUT,
    );
    let t = std::time::Instant::now();
    let client = loop {
        match std::os::unix::net::UnixStream::connect(&sock) {
            Ok(c) => break c,
            Err(_) if t.elapsed() < Duration::from_secs(30) => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => panic!("cannot connect to the chardev socket: {e}"),
        }
    };
    client
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    let mut r = BufReader::new(client.try_clone().unwrap());
    let mut line = String::new();
    r.read_line(&mut line).expect("the guest's line");
    assert_eq!(line.trim_end(), "hello-from-guest");
    (&client).write_all(b"ping-from-host\n").unwrap();
    s.wait_for("got: ping-from-host", 0);
    let out = s.finish();
    assert!(out.status.success(), "{out:?}");
}

/// `-blockdev` nodes (a qcow2 format node over a file node, in key=value and JSON form) give
/// a virtio-blk-pci device its image.
#[test]
fn blockdev_nodes_back_a_virtio_disk() {
    let _g = lock();
    let dir = scratch("blockdev");
    let files = dir.join("files");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::write(files.join("a.txt"), b"through blockdev\n").unwrap();
    let raw = dir.join("a.img");
    mkfs(&files, &raw, 16);
    let q = dir.join("a.qcow2");
    let o = qemu_img(&[
        "convert",
        "-O",
        "qcow2",
        raw.to_str().unwrap(),
        q.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{o:?}");
    let body = "mount -t ext4 -o ro /dev/vda /mnt && cat /mnt/a.txt; umount /mnt
mount -t ext4 -o ro /dev/vdb /mnt && cat /mnt/a.txt";
    let f = format!("driver=file,node-name=f0,filename={}", q.display());
    let j = format!(
        r#"{{"driver":"raw","node-name":"d1","read-only":true,"file":{{"driver":"file","filename":"{}"}}}}"#,
        raw.display()
    );
    let out = boot(
        &dir,
        &init(body),
        &[
            "-blockdev",
            &f,
            "-blockdev",
            "driver=qcow2,node-name=d0,file=f0",
            "-blockdev",
            &j,
            "-device",
            "virtio-blk-pci,drive=d0",
            "-device",
            "virtio-blk-pci,drive=d1",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let n = lines(&out.stdout)
        .iter()
        .filter(|l| **l == "through blockdev")
        .count();
    assert_eq!(n, 2, "{out:?}");
}
