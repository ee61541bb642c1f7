//! The command line as a user meets it: every bad input ends lpar with status 1 and exactly one
//! line on stderr that names the culprit; --help and the listings succeed.

mod common;

use common::run;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

/// Runs lpar expecting a command-line error: status 1, nothing on stdout, one "lpar: " line on
/// stderr containing every string of `culprits`. Returns that line.
fn refused(args: &[&str], culprits: &[&str]) -> String {
    let o = run(args, T);
    assert_eq!(o.status.code(), Some(1), "{args:?}: {o:?}");
    assert_eq!(o.stdout, "", "{args:?}: {o:?}");
    let lines: Vec<&str> = o.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{args:?}: want one line: {o:?}");
    assert!(lines[0].starts_with("lpar: "), "{args:?}: {o:?}");
    for c in culprits {
        assert!(lines[0].contains(c), "{args:?}: {c:?} not named: {o:?}");
    }
    lines[0].to_string()
}

#[test]
fn bad_machine_options() {
    assert_eq!(
        refused(&["-M", "pseries,foo=1", "-kernel", "k"], &[]),
        "lpar: -M: unknown machine property 'foo'"
    );
    refused(
        &["-M", "pseries,cap-htm=on", "-kernel", "k"],
        &["cap-htm=on"],
    );
    refused(
        &["-M", "pseries,cap-vsx=off", "-kernel", "k"],
        &["cap-vsx=off"],
    );
    refused(
        &["-M", "pseries,cap-dfp=on", "-kernel", "k"],
        &["cap-dfp=on"],
    );
    refused(
        &["-M", "pseries,cap-nested-hv=on", "-kernel", "k"],
        &["cap-nested-hv=on"],
    );
    refused(
        &["-M", "pseries,cap-cfpc=sometimes", "-kernel", "k"],
        &["cap-cfpc=sometimes"],
    );
    refused(
        &["-M", "pseries,ic-mode=xive", "-kernel", "k"],
        &["ic-mode=xive", "not supported yet"],
    );
    refused(
        &["-M", "pseries,ic-mode=dual", "-kernel", "k"],
        &["ic-mode=dual", "not supported yet"],
    );
    refused(
        &["-M", "pseries,max-cpu-compat=power10", "-kernel", "k"],
        &["max-cpu-compat=power10"],
    );
    refused(
        &["-M", "pseries,kernel-addr=lots", "-kernel", "k"],
        &["kernel-addr=lots"],
    );
    refused(
        &["-M", "pseries,x-vof=off", "-kernel", "k"],
        &["x-vof=off", "-bios"],
    );
    refused(&["-M", "pseries,accel=kvm", "-kernel", "k"], &["kvm"]);
    refused(&["-M", "virt", "-kernel", "k"], &["virt"]);
    refused(
        &["-machine", "pseries,usb=on", "-kernel", "k"],
        &["-machine", "usb=on"],
    );
}

#[test]
fn bad_cpu_memory_and_smp() {
    refused(
        &["-cpu", "POWER11", "-kernel", "k"],
        &["-cpu POWER11", "CPU model"],
    );
    refused(
        &["-cpu", "POWER8,compat=power9", "-kernel", "k"],
        &["-cpu POWER8,compat=power9", "newer than the CPU"],
    );
    refused(
        &["-cpu", "pentium", "-kernel", "k"],
        &["-cpu pentium", "CPU model"],
    );
    assert_eq!(
        refused(&["-m", "abc", "-kernel", "k"], &[]),
        "lpar: -m 'abc': invalid size"
    );
    refused(&["-m", "2X", "-kernel", "k"], &["'2X'", "invalid size"]);
    refused(&["-m", "1000M", "-kernel", "k"], &["1000M", "256M"]);
    refused(&["-m", "1G,maxmem=2G", "-kernel", "k"], &["maxmem"]);
    refused(
        &["-smp", "0", "-kernel", "k"],
        &["-smp 0", "greater than zero"],
    );
    refused(
        &["-smp", "4,sockets=3", "-kernel", "k"],
        &[
            "-smp 4,sockets=3",
            "sockets (3) * cores (1) * threads (1) != maxcpus (4)",
        ],
    );
    refused(
        &["-smp", "4096", "-kernel", "k"],
        &["-smp 4096", "at most 1024"],
    );
    refused(&["-smp", "4,threads=3", "-kernel", "k"], &["threads=3"]);
    refused(&["-smp", "many", "-kernel", "k"], &["many"]);
}

#[test]
fn bad_and_unsupported_options() {
    refused(&["-accel", "kvm", "-kernel", "k"], &["-accel kvm", "KVM"]);
    refused(&["-enable-kvm", "-kernel", "k"], &["-enable-kvm"]);
    refused(
        &["-drive", "file=disk.img,if=ide", "-kernel", "k"],
        &["-drive", "if=ide", "not supported yet"],
    );
    refused(
        &["-drive", "file=/nonexistent/disk.img", "-kernel", "k"],
        &["/nonexistent/disk.img"],
    );
    refused(
        &["-netdev", "socket,id=n0", "-kernel", "k"],
        &["-netdev", "not supported yet"],
    );
    refused(
        &["-device", "virtio-net-pci", "-kernel", "k"],
        &["virtio-net-pci", "missing netdev="],
    );
    refused(
        &[
            "-netdev",
            "user,id=n0",
            "-device",
            "virtio-net-pci,netdev=n1",
            "-kernel",
            "k",
        ],
        &["netdev=n1", "no -netdev with that id"],
    );
    refused(
        &[
            "-netdev",
            "user,id=n0",
            "-device",
            "spapr-vlan,netdev=n0,mac=zz",
            "-kernel",
            "k",
        ],
        &["mac=zz", "invalid MAC"],
    );
    refused(&["-serial", "pty", "-kernel", "k"], &["-serial pty"]);
    refused(&["-monitor", "stdio", "-kernel", "k"], &["-monitor stdio"]);
    refused(&["-display", "gtk", "-kernel", "k"], &["-display gtk"]);
    refused(
        &["-nic", "user,model=e1000", "-kernel", "k"],
        &["-nic user", "model=e1000"],
    );
    refused(&["-S", "-kernel", "k"], &["-S"]);
    refused(
        &["-frobnicate", "-kernel", "k"],
        &["-frobnicate", "unknown option"],
    );
    refused(&["-kernel"], &["-kernel", "argument"]);
    refused(&["-kernel", "k", "disk.qcow2"], &["disk.qcow2"]);
}

#[test]
fn nothing_to_boot() {
    refused(&[], &["-kernel"]);
    refused(&["-m", "1G", "-nographic"], &["-kernel"]);
    refused(&["-initrd", "initrd.gz", "-bios", "fw"], &["-initrd"]);
    refused(&["-append", "console=hvc0", "-bios", "fw"], &["-append"]);
}

#[test]
fn missing_files_are_named() {
    // The size syntax is accepted and the error is about the missing kernel.
    refused(
        &[
            "-m",
            "1.5G",
            "-kernel",
            "/nonexistent/vmlinux",
            "-nographic",
        ],
        &["/nonexistent/vmlinux"],
    );
    refused(
        &["-m", "size=512", "-kernel", "/nonexistent/vmlinux"],
        &["/nonexistent/vmlinux"],
    );
}

#[test]
fn help_lists_the_options() {
    for flag in ["--help", "-help", "-h"] {
        let o = run(&[flag], T);
        assert_eq!(o.status.code(), Some(0), "{o:?}");
        assert_eq!(o.stderr, "");
        for opt in [
            "-M, -machine",
            "-cpu",
            "-m [size=]",
            "-smp",
            "-kernel",
            "-initrd",
            "-append",
            "-bios",
            "-accel",
            "-icount",
            "-rtc",
            "-nographic",
            "-serial",
            "-monitor",
            "-display",
            "-device",
            "-nodefaults",
            "-no-reboot",
            "-name",
            "-version",
            "cap-htm",
            "x-vof",
            "kernel-addr",
            "ic-mode",
        ] {
            assert!(o.stdout.contains(opt), "--help lacks {opt}: {o:?}");
        }
    }
}

#[test]
fn version_and_listings() {
    let o = run(&["-version"], T);
    assert_eq!(o.status.code(), Some(0));
    assert!(o.stdout.starts_with("lpar version "), "{o:?}");
    let o = run(&["-M", "help"], T);
    assert_eq!(o.status.code(), Some(0));
    assert!(o.stdout.contains("pseries"), "{o:?}");
    let o = run(&["-cpu", "help"], T);
    assert_eq!(o.status.code(), Some(0));
    assert!(o.stdout.contains("POWER9"), "{o:?}");
}

#[test]
fn warnings_do_not_stop_lpar() {
    // -d is ignored with a warning, then the run goes on (here to the missing kernel).
    let o = run(&["-d", "in_asm", "-kernel", "/nonexistent/vmlinux"], T);
    assert_eq!(o.status.code(), Some(1));
    let lines: Vec<&str> = o.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{o:?}");
    assert!(lines[0].starts_with("lpar: warning: -d in_asm"), "{o:?}");
    assert!(lines[1].contains("/nonexistent/vmlinux"), "{o:?}");
}
