//! End to end: virtio-scsi-pci and spapr-vscsi with scsi-hd and scsi-cd units. The Debian
//! kernel's virtio_scsi or ibmvscsi driver scans the bus, sd makes the ext4 scsi-hd /dev/sda (mounted, a file read byte for byte,
//! one written that the host reads back with debugfs), sr makes the scsi-cd /dev/sr0 (an ISO 9660
//! image, mounted and read); `-cdrom` gets a spapr-vscsi of its own; read-only disks, units at
//! other LUNs and several controllers; and the command-line errors of bad SCSI setups.
//! Needs scripts/fetch-assets.sh (guest kernel, modules and busybox; e2fsprogs on the host) and,
//! for ISO images, xorriso or genisoimage (else the CD-ROM carries an ext4 image).

mod common;

use common::{assets, initramfs_with_modules, scratch, Session, SCSI_EXT4_ISO};
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

/// An init that loads the SCSI, ext4 and ISO 9660 modules, waits for `devices` (the SCSI scan
/// is asynchronous), runs `body` and powers off.
fn init(devices: &[&str], body: &str) -> String {
    let mut s = String::from(
        "#!/bin/sh\n/bin/busybox mount -t proc proc /proc\n/bin/busybox --install -s\n\
         mount -t sysfs sysfs /sys\nmount -t devtmpfs devtmpfs /dev\n",
    );
    for m in SCSI_EXT4_ISO {
        s.push_str(&format!(
            "insmod /modules/{m}.ko || echo insmod-{m}-failed\n"
        ));
    }
    for d in devices {
        s.push_str(&format!(
            "i=0; while [ ! -b {d} ] && [ $i -lt 120 ]; do sleep 1; i=$((i+1)); done\n\
             [ -b {d} ] || echo missing-{d}\n"
        ));
    }
    s.push_str(body);
    s.push_str("\npoweroff -f\n");
    s
}

/// Boots with `init` and the extra arguments; returns the console output.
fn boot(dir: &Path, init: &str, extra: &[&str]) -> common::Output {
    let a = assets();
    let initrd = dir.join("initrd.cpio");
    initramfs_with_modules(&a, init, SCSI_EXT4_ISO, &initrd);
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

/// An ext4 image of `mib` MiB holding the files of `from`, with `block` bytes per block.
fn mkfs(from: &Path, image: &Path, mib: u32, block: u32) {
    let st = Command::new("mkfs.ext4")
        .args(["-q", "-F", "-b", &block.to_string(), "-d"])
        .arg(from)
        .arg(image)
        .arg(format!("{mib}M"))
        .status()
        .expect("mkfs.ext4 (apt-get install e2fsprogs; scripts/fetch-assets.sh does)");
    assert!(st.success(), "mkfs.ext4 failed");
}

/// A CD image of the files of `from`: ISO 9660 (Rock Ridge, Joliet) when xorriso or
/// genisoimage is there, else ext4 with 4 KiB blocks (a 2048-byte-block device can hold it).
/// Returns the file system type to mount.
fn mkcd(from: &Path, image: &Path) -> &'static str {
    let xorriso = Command::new("xorriso")
        .args(["-as", "mkisofs", "-quiet", "-R", "-J", "-V", "LPARCD", "-o"])
        .arg(image)
        .arg(from)
        .output();
    if matches!(&xorriso, Ok(o) if o.status.success()) {
        return "iso9660";
    }
    let geniso = Command::new("genisoimage")
        .args(["-quiet", "-R", "-J", "-V", "LPARCD", "-o"])
        .arg(image)
        .arg(from)
        .output();
    if matches!(&geniso, Ok(o) if o.status.success()) {
        return "iso9660";
    }
    eprintln!("note: no xorriso or genisoimage (apt-get install xorriso): the CD carries ext4");
    mkfs(from, image, 8, 4096);
    "ext4"
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

/// Content no guest could guess, large enough that reads span many requests.
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

fn md5(file: &Path) -> String {
    let out = Command::new("md5sum").arg(file).output().expect("md5sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("a sum")
        .to_string()
}

fn lines(out: &str) -> Vec<&str> {
    out.lines().map(|l| l.trim_end_matches('\r')).collect()
}

#[test]
fn an_ext4_scsi_hd_and_an_iso_scsi_cd_work_in_the_guest() {
    let _g = lock();
    let dir = scratch("scsi-hd-cd");
    let files = dir.join("files");
    std::fs::create_dir_all(&files).unwrap();
    let data = pattern(300 << 10, 0x5eed_5c51);
    std::fs::write(files.join("data.bin"), &data).unwrap();
    std::fs::write(files.join("hello.txt"), b"hello from the scsi disk\n").unwrap();
    let image = dir.join("disk.img");
    mkfs(&files, &image, 32, 1024);
    let cdfiles = dir.join("cdfiles");
    std::fs::create_dir_all(&cdfiles).unwrap();
    let cddata = pattern(500 << 10, 0xc0ffee);
    std::fs::write(cdfiles.join("cddata.bin"), &cddata).unwrap();
    std::fs::write(cdfiles.join("readme.txt"), b"on the cd\n").unwrap();
    let iso = dir.join("cd.iso");
    let cdfs = mkcd(&cdfiles, &iso);
    let (disk_sum, cd_sum) = (
        md5(&files.join("data.bin")),
        md5(&cdfiles.join("cddata.bin")),
    );
    let body = format!(
        "echo size $(cat /sys/block/sda/size) ro $(cat /sys/block/sda/ro /sys/block/sr0/ro)
cat /sys/block/sda/device/vendor /sys/block/sda/device/model /sys/block/sr0/device/model
cat /sys/block/sda/device/wwid
echo types $(cat /sys/block/sda/device/type /sys/block/sr0/device/type)
grep virtio0-request /proc/interrupts | grep -q PCI-MSI && echo msix-in-use
mount -t ext4 /dev/sda /mnt || echo mount-failed
cat /mnt/hello.txt
md5sum /mnt/data.bin
seq 1 20000 > /mnt/written.txt
sync
umount /mnt && echo unmounted
mkdir /cd
mount -t {cdfs} -o ro /dev/sr0 /cd || echo cd-mount-failed
cat /cd/readme.txt
md5sum /cd/cddata.bin
umount /cd && echo cd-unmounted
dd if=/dev/zero of=/dev/sr0 bs=2048 count=1 2>/dev/null || echo cd-write-refused"
    );
    let hd = format!("file={},format=raw,if=none,id=hd0", image.display());
    let cd = format!(
        "file={},format=raw,if=none,id=cd0,media=cdrom",
        iso.display()
    );
    let out = boot(
        &dir,
        &init(&["/dev/sda", "/dev/sr0"], &body),
        &[
            "-device",
            "virtio-scsi-pci,id=scsi0",
            "-drive",
            &hd,
            "-device",
            "scsi-hd,drive=hd0,bus=scsi0.0,channel=0,scsi-id=0,lun=0,serial=LPARDISK1",
            "-drive",
            &cd,
            "-device",
            "scsi-cd,drive=cd0,bus=scsi0.0,scsi-id=1",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    assert!(!out.stdout.contains("failed"), "{out:?}");
    assert!(!out.stdout.contains("missing-"), "{out:?}");
    let l = lines(&out.stdout);
    // 32 MiB in 512-byte sectors; the disk is writable, the CD-ROM is not.
    assert!(l.contains(&"size 65536 ro 0 1"), "{out:?}");
    assert!(l.contains(&"QEMU    "), "{out:?}");
    assert!(l.contains(&"QEMU HARDDISK   "), "{out:?}");
    assert!(l.contains(&"QEMU CD-ROM     "), "{out:?}");
    // VPD page 0x83 names the disk by its serial.
    assert!(
        l.iter()
            .any(|x| x.starts_with("t10.QEMU") && x.contains("LPARDISK1")),
        "{out:?}"
    );
    // SCSI peripheral types: disk 0, CD-ROM 5.
    assert!(l.contains(&"types 0 5"), "{out:?}");
    assert!(l.contains(&"msix-in-use"), "{out:?}");
    assert!(l.contains(&"hello from the scsi disk"), "{out:?}");
    assert!(
        l.contains(&format!("{disk_sum}  /mnt/data.bin").as_str()),
        "{out:?}"
    );
    assert!(l.contains(&"unmounted"), "{out:?}");
    assert!(l.contains(&"on the cd"), "{out:?}");
    assert!(
        l.contains(&format!("{cd_sum}  /cd/cddata.bin").as_str()),
        "{out:?}"
    );
    assert!(l.contains(&"cd-unmounted"), "{out:?}");
    assert!(l.contains(&"cd-write-refused"), "{out:?}");
    let want: String = (1..=20000).map(|i| format!("{i}\n")).collect();
    assert_eq!(debugfs_cat(&image, "/written.txt"), want.as_bytes());
    fsck_clean(&image);
}

/// `-cdrom` and `-hda` (QEMU's legacy drives on pseries' default SCSI bus): a spapr-vscsi is
/// added for them, as QEMU's pseries does, the CD-ROM at SCSI id 2 and the disk at id 0.
#[test]
fn cdrom_and_hda_get_a_spapr_vscsi_of_their_own() {
    let _g = lock();
    let dir = scratch("scsi-cdrom");
    let cdfiles = dir.join("cdfiles");
    std::fs::create_dir_all(&cdfiles).unwrap();
    std::fs::write(cdfiles.join("label.txt"), b"lpar -cdrom\n").unwrap();
    let iso = dir.join("install.iso");
    let cdfs = mkcd(&cdfiles, &iso);
    let before = std::fs::read(&iso).unwrap();
    let files = dir.join("files");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::write(files.join("which.txt"), b"the -hda disk\n").unwrap();
    let hda = dir.join("hda.img");
    mkfs(&files, &hda, 8, 1024);
    let body = format!(
        "echo host $(cat /sys/class/scsi_host/host0/proc_name)
echo at-id-2 $(ls /sys/bus/scsi/devices | grep -c ':0:2:0$')
echo at-id-0 $(ls /sys/bus/scsi/devices | grep -c ':0:0:0$')
echo size $(cat /sys/block/sr0/size)
mount -t {cdfs} -o ro /dev/sr0 /mnt && cat /mnt/label.txt
umount /mnt && echo unmounted
mkdir -p /h && mount -t ext4 /dev/sda /h && cat /h/which.txt && umount /h"
    );
    let out = boot(
        &dir,
        &init(&["/dev/sr0", "/dev/sda"], &body),
        &[
            "-cdrom",
            iso.to_str().unwrap(),
            "-hda",
            hda.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{out:?}");
    assert!(!out.stdout.contains("missing-"), "{out:?}");
    let l = lines(&out.stdout);
    assert!(l.contains(&"host ibmvscsi"), "{out:?}");
    // The CD-ROM is SCSI id 2 and the disk id 0, as QEMU's -cdrom and -hda.
    assert!(l.contains(&"at-id-2 1"), "{out:?}");
    assert!(l.contains(&"at-id-0 1"), "{out:?}");
    // Its size in 512-byte sectors.
    let size = format!("size {}", before.len() / 512);
    assert!(l.contains(&size.as_str()), "{out:?}");
    assert!(l.contains(&"lpar -cdrom"), "{out:?}");
    assert!(l.contains(&"unmounted"), "{out:?}");
    assert!(l.contains(&"the -hda disk"), "{out:?}");
    assert_eq!(std::fs::read(&iso).unwrap(), before, "the CD image changed");
}

/// spapr-vscsi (PowerVM's virtual SCSI, Linux's ibmvscsi over the CRQ and SRP): an ext4 disk
/// at a non-zero id and LUN is read byte for byte and written (the host reads the file back),
/// a CD-ROM beside it is read and refuses writes.
#[test]
fn an_ext4_disk_and_a_cd_on_spapr_vscsi_round_trip_data() {
    let _g = lock();
    let dir = scratch("vscsi-hd-cd");
    let files = dir.join("files");
    std::fs::create_dir_all(&files).unwrap();
    let data = pattern(3 << 20, 0x0b5c_5151);
    std::fs::write(files.join("data.bin"), &data).unwrap();
    let image = dir.join("disk.img");
    mkfs(&files, &image, 32, 4096);
    let cdfiles = dir.join("cdfiles");
    std::fs::create_dir_all(&cdfiles).unwrap();
    std::fs::write(cdfiles.join("readme.txt"), b"on the vscsi cd\n").unwrap();
    let iso = dir.join("cd.iso");
    let cdfs = mkcd(&cdfiles, &iso);
    let before = std::fs::read(&iso).unwrap();
    let sum = md5(&files.join("data.bin"));
    let body = format!(
        "echo host $(cat /sys/class/scsi_host/host0/proc_name)
ls /sys/bus/scsi/devices | grep -E ':0:(5:3|1:0)$' | sed 's/^[0-9]*:/at /'
echo size $(cat /sys/block/sda/size) ro $(cat /sys/block/sda/ro /sys/block/sr0/ro)
grep -q ibmvscsi /proc/interrupts && echo vio-irq
mount -t ext4 /dev/sda /mnt || echo mount-failed
md5sum /mnt/data.bin
dd if=/mnt/data.bin of=/mnt/copy.bin bs=64k 2>/dev/null
seq 1 50000 > /mnt/written.txt
sync
umount /mnt && echo unmounted
mount -t ext4 /dev/sda /mnt && md5sum /mnt/copy.bin && umount /mnt
mkdir /cd
mount -t {cdfs} -o ro /dev/sr0 /cd || echo cd-mount-failed
cat /cd/readme.txt
umount /cd
dd if=/dev/zero of=/dev/sr0 bs=2048 count=1 2>/dev/null || echo cd-write-refused"
    );
    let hd = format!("file={},format=raw,if=none,id=hd0", image.display());
    let cd = format!(
        "file={},format=raw,if=none,id=cd0,media=cdrom",
        iso.display()
    );
    let out = boot(
        &dir,
        &init(&["/dev/sda", "/dev/sr0"], &body),
        &[
            "-device",
            "spapr-vscsi,id=vs,reg=0x71000040",
            "-drive",
            &hd,
            "-device",
            "scsi-hd,drive=hd0,bus=vs.0,scsi-id=5,lun=3",
            "-drive",
            &cd,
            "-device",
            "scsi-cd,drive=cd0,bus=vs.0,scsi-id=1",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    assert!(!out.stdout.contains("failed"), "{out:?}");
    assert!(!out.stdout.contains("missing-"), "{out:?}");
    let l = lines(&out.stdout);
    assert!(l.contains(&"host ibmvscsi"), "{out:?}");
    assert!(l.contains(&"at 0:5:3"), "{out:?}");
    assert!(l.contains(&"at 0:1:0"), "{out:?}");
    assert!(l.contains(&"size 65536 ro 0 1"), "{out:?}");
    assert!(l.contains(&"vio-irq"), "{out:?}");
    let read = format!("{sum}  /mnt/data.bin");
    let copied = format!("{sum}  /mnt/copy.bin");
    assert!(l.contains(&read.as_str()), "{out:?}");
    assert!(l.contains(&copied.as_str()), "{out:?}");
    assert!(l.contains(&"unmounted"), "{out:?}");
    assert!(l.contains(&"on the vscsi cd"), "{out:?}");
    assert!(l.contains(&"cd-write-refused"), "{out:?}");
    let want: String = (1..=50000).map(|i| format!("{i}\n")).collect();
    assert_eq!(debugfs_cat(&image, "/written.txt"), want.as_bytes());
    assert_eq!(debugfs_cat(&image, "/copy.bin"), data);
    fsck_clean(&image);
    assert_eq!(std::fs::read(&iso).unwrap(), before, "the CD image changed");
}

#[test]
fn read_only_disks_luns_and_several_controllers() {
    let _g = lock();
    let dir = scratch("scsi-luns");
    let files = dir.join("files");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::write(files.join("which.txt"), b"read-only disk\n").unwrap();
    let ro = dir.join("ro.img");
    mkfs(&files, &ro, 8, 1024);
    std::fs::write(files.join("which.txt"), b"disk at lun 2\n").unwrap();
    let lun = dir.join("lun.img");
    mkfs(&files, &lun, 8, 1024);
    let before = std::fs::read(&ro).unwrap();
    // Target 3 has no LUN 0: the kernel finds LUN 2 through REPORT LUNS. The second
    // controller has two request queues.
    let body = "ls /sys/bus/scsi/devices | grep -E ':0:(0:0|3:2)$' | sed 's/^[0-9]*://'
for d in /sys/block/sd*; do echo $(basename $d) $(cat $d/ro) $(ls $d/device/scsi_device); done
for d in /dev/sda /dev/sdb; do
  mkdir -p /m$d; mount -t ext4 -o ro $d /m$d && cat /m$d/which.txt; umount /m$d
done
for d in /sys/block/sd*; do
  [ $(cat $d/ro) = 1 ] && { dd if=/dev/zero of=/dev/$(basename $d) bs=512 count=1 2>/dev/null || echo write-refused; }
done";
    let dro = format!("file={},format=raw,if=none,id=ro,readonly=on", ro.display());
    let dlun = format!("file={},format=raw,if=none,id=lun", lun.display());
    let out = boot(
        &dir,
        &init(&["/dev/sda", "/dev/sdb"], body),
        &[
            "-device",
            "virtio-scsi-pci,id=a,addr=5",
            "-device",
            "virtio-scsi-pci,id=b,num_queues=2,addr=6",
            "-drive",
            &dro,
            "-drive",
            &dlun,
            "-device",
            "scsi-hd,drive=ro,bus=a.0",
            "-device",
            "scsi-hd,drive=lun,bus=b.0,scsi-id=3,lun=2",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    assert!(!out.stdout.contains("missing-"), "{out:?}");
    let l = lines(&out.stdout);
    assert!(l.contains(&"0:0:0"), "{out:?}");
    assert!(l.contains(&"0:3:2"), "{out:?}");
    assert!(l.contains(&"read-only disk"), "{out:?}");
    assert!(l.contains(&"disk at lun 2"), "{out:?}");
    assert!(l.contains(&"write-refused"), "{out:?}");
    // One disk read-only, the other not.
    let ro_flags: Vec<&str> = l
        .iter()
        .filter(|x| x.starts_with("sd"))
        .filter_map(|x| x.split_whitespace().nth(1))
        .collect();
    let mut sorted = ro_flags.clone();
    sorted.sort();
    assert_eq!(sorted, ["0", "1"], "{out:?}");
    assert_eq!(
        std::fs::read(&ro).unwrap(),
        before,
        "read-only image changed"
    );
}

#[test]
fn bad_scsi_setups_are_one_line_errors() {
    let dir = scratch("scsi-errors");
    let vmlinux = assets().join("vmlinux");
    let k = vmlinux.to_str().unwrap();
    let image = dir.join("d.img");
    std::fs::write(&image, vec![0u8; 1 << 20]).unwrap();
    let d0 = format!("file={},format=raw,if=none,id=d0", image.display());
    let run = |extra: &[&str]| {
        let mut args = vec!["-M", "pseries", "-kernel", k, "-nographic", "-drive", &d0];
        args.extend_from_slice(extra);
        common::run(&args, Duration::from_secs(30))
    };
    let refused = |extra: &[&str], want: &str| {
        let out = run(extra);
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
        assert!(out.stderr.contains(want), "{want}: {out:?}");
    };
    refused(&["-device", "scsi-hd,drive=d0"], "no SCSI bus for scsi-hd");
    refused(
        &[
            "-device",
            "virtio-scsi-pci,id=scsi0",
            "-device",
            "scsi-hd,drive=d0,bus=scsi9.0",
        ],
        "bus=scsi9.0",
    );
    refused(
        &[
            "-device",
            "virtio-scsi-pci",
            "-device",
            "scsi-hd,drive=d0,scsi-id=1",
            "-device",
            "scsi-cd,drive=d0,scsi-id=2",
        ],
        "drive=d0: already in use",
    );
    let d1 = format!(
        "file={},format=raw,if=none,id=d1,readonly=on",
        image.display()
    );
    refused(
        &[
            "-drive",
            &d1,
            "-device",
            "virtio-scsi-pci",
            "-device",
            "scsi-hd,drive=d0,scsi-id=4",
            "-device",
            "scsi-cd,drive=d1,scsi-id=4,lun=0",
        ],
        "scsi-id=4,lun=0 on bus scsi.0 is already used by drive=d0",
    );
    let missing = dir.join("missing.iso");
    refused(&["-cdrom", missing.to_str().unwrap()], "missing.iso");
}
