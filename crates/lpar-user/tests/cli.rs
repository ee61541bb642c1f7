//! lpar-user as a command: bad input is one line on stderr and exit status 1; tiny hand-made
//! static executables (both byte orders and ABIs) run, see their arguments and exit.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_lpar-user");

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lpar-user-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(args: &[&Path]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("LPAR_USER_STATS", "1")
        .output()
        .unwrap()
}

const LOAD: u64 = 0x1000_0000;
const CODE: u64 = 0x100;
const DESC: u64 = 0x200;
const DATA: u64 = 0x300;

/// A static executable: one PT_LOAD of the whole file at LOAD, code at file offset 0x100, an
/// ELFv1 function descriptor {code, toc = data} at 0x200, data at 0x300.
fn exe(le: bool, elfv2: bool, code: &[u32], data: &[u8]) -> Vec<u8> {
    image(le, 21, 2, elfv2, false, code, data)
}

fn image(
    le: bool,
    machine: u16,
    class: u8,
    elfv2: bool,
    interp: bool,
    code: &[u32],
    data: &[u8],
) -> Vec<u8> {
    let mut d = vec![0u8; DATA as usize];
    d.extend_from_slice(data);
    let put = |d: &mut Vec<u8>, off: u64, v: u64, n: usize| {
        let b = if le { v.to_le_bytes() } else { v.to_be_bytes() };
        let s = if le { &b[..n] } else { &b[8 - n..] };
        d[off as usize..off as usize + n].copy_from_slice(s);
    };
    d[..4].copy_from_slice(b"\x7fELF");
    d[4] = class;
    d[5] = if le { 1 } else { 2 };
    d[6] = 1;
    let len = d.len() as u64;
    put(&mut d, 16, 2, 2); // ET_EXEC
    put(&mut d, 18, machine as u64, 2);
    put(&mut d, 20, 1, 4);
    put(&mut d, 24, LOAD + if elfv2 { CODE } else { DESC }, 8);
    put(&mut d, 32, 64, 8);
    put(&mut d, 48, if elfv2 { 2 } else { 1 }, 4);
    put(&mut d, 52, 64, 2);
    put(&mut d, 54, 56, 2);
    put(&mut d, 56, if interp { 2 } else { 1 }, 2);
    // PT_LOAD, RWX, covering the whole file.
    put(&mut d, 64, 1, 4);
    put(&mut d, 68, 7, 4);
    put(&mut d, 64 + 16, LOAD, 8);
    put(&mut d, 64 + 24, LOAD, 8);
    put(&mut d, 64 + 32, len, 8);
    put(&mut d, 64 + 40, len + 0x1000, 8);
    if interp {
        put(&mut d, 120, 3, 4);
        put(&mut d, 120 + 8, DATA, 8);
        put(&mut d, 120 + 32, 4, 8);
    }
    for (i, w) in code.iter().enumerate() {
        put(&mut d, CODE + 4 * i as u64, *w as u64, 4);
    }
    put(&mut d, DESC, LOAD + CODE, 8);
    put(&mut d, DESC + 8, LOAD + DATA, 8);
    d
}

const MSG: &[u8] = b"hello from lpar-user\n";

/// write(1, msg, 21); exit_group(7). r4 from r12 (ELFv2) or r2 (ELFv1 TOC).
fn hello(elfv2: bool) -> Vec<u32> {
    vec![
        0x3800_0004,                                   // li r0,4
        0x3860_0001,                                   // li r3,1
        if elfv2 { 0x388c_0200 } else { 0x3882_0000 }, // addi r4,r12,512 / addi r4,r2,0
        0x38a0_0015,                                   // li r5,21
        0x4400_0002,                                   // sc
        0x3800_00ea,                                   // li r0,234
        0x3860_0007,                                   // li r3,7
        0x4400_0002,                                   // sc
    ]
}

/// write(1, argv[1], 3); exit_group(argc).
const ARGS: [u32; 8] = [
    0x3800_0004, // li r0,4
    0x3860_0001, // li r3,1
    0xe881_0010, // ld r4,16(r1)
    0x38a0_0003, // li r5,3
    0x4400_0002, // sc
    0x3800_00ea, // li r0,234
    0xe861_0000, // ld r3,0(r1)
    0x4400_0002, // sc
];

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// Exit status 1 and exactly one stderr line naming the file and containing `what`.
fn rejected(path: &Path, what: &str) {
    let o = run(&[path]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(&*path.to_string_lossy()), "{err}");
    assert!(err.contains(what), "expected {what:?} in {err:?}");
    assert!(o.stdout.is_empty());
}

#[test]
fn usage_without_arguments() {
    let o = Command::new(BIN).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("usage"));
}

#[test]
fn bad_inputs_are_one_line_and_status_1() {
    let d = tmpdir("bad");
    rejected(&d.join("missing"), "No such file");
    rejected(&d, "directory");
    rejected(&write(&d, "script", b"#!/bin/sh\necho hi\n"), "not an ELF");
    rejected(&write(&d, "empty", b""), "not an ELF");
    let ok = exe(true, true, &hello(true), MSG);
    rejected(&write(&d, "short", &ok[..50]), "truncated");
    rejected(
        &write(
            &d,
            "dynamic",
            &image(true, 21, 2, true, true, &hello(true), b"/ld\0"),
        ),
        "dynamically linked ELF not supported, use a static binary",
    );
    rejected(
        &write(&d, "x86", &image(true, 62, 2, true, false, &[], b"")),
        "x86-64",
    );
    rejected(
        &write(&d, "ppc32", &image(false, 20, 1, false, false, &[], b"")),
        "64-bit PowerPC",
    );
    // A segment whose file range runs past the end of the file.
    let mut past = ok.clone();
    past[96..104].copy_from_slice(&0x10_0000u64.to_le_bytes());
    past[104..112].copy_from_slice(&0x20_0000u64.to_le_bytes());
    rejected(&write(&d, "past", &past), "past the end");
    // A segment that does not fit the guest address space.
    let mut high = ok.clone();
    high[80..88].copy_from_slice(&0xffff_ffff_0000_0000u64.to_le_bytes());
    rejected(&write(&d, "high", &high), "outside the guest address space");
    // A host x86-64 program is refused, not run.
    if Path::new("/bin/busybox").exists() {
        rejected(Path::new("/bin/busybox"), "x86-64");
    }
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn little_endian_elfv2_hello() {
    let d = tmpdir("le");
    let p = write(&d, "hello", &exe(true, true, &hello(true), MSG));
    let o = run(&[&p]);
    assert_eq!(o.stdout, MSG);
    assert_eq!(o.status.code(), Some(7));
    // Exactly the eight instructions of the program.
    assert!(String::from_utf8_lossy(&o.stderr).contains("lpar-user: 8 instructions"));
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn big_endian_elfv1_hello_through_function_descriptor() {
    let d = tmpdir("be");
    let p = write(&d, "hello", &exe(false, false, &hello(false), MSG));
    let o = run(&[&p]);
    assert_eq!(o.stdout, MSG, "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.status.code(), Some(7));
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn position_independent_executable_is_placed_by_the_loader() {
    // ET_DYN at vaddr 0 (a static-pie): Linux puts it at ELF_ET_DYN_BASE; the code only uses r12.
    let d = tmpdir("pie");
    let mut img = exe(true, true, &hello(true), MSG);
    img[16] = 3; // ET_DYN
    img[24..32].copy_from_slice(&CODE.to_le_bytes()); // e_entry
    img[80..88].copy_from_slice(&0u64.to_le_bytes()); // p_vaddr
    img[88..96].copy_from_slice(&0u64.to_le_bytes()); // p_paddr
    let p = write(&d, "pie", &img);
    let o = run(&[&p]);
    assert_eq!(o.stdout, MSG, "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.status.code(), Some(7));
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn arguments_reach_the_guest() {
    let d = tmpdir("args");
    for le in [true, false] {
        let p = write(&d, "args", &exe(le, le, &ARGS, b""));
        let o = run(&[&p, Path::new("abc"), Path::new("defg")]);
        assert_eq!(o.stdout, b"abc", "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(o.status.code(), Some(3), "argc");
    }
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn faults_kill_the_guest_like_a_signal() {
    let d = tmpdir("fault");
    // li r3,-8; ld r4,0(r3): outside the guest address space.
    let p = write(
        &d,
        "segv",
        &exe(true, true, &[0x3860_fff8, 0xe883_0000], b""),
    );
    let o = run(&[&p]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(139), "{err}");
    assert!(
        err.contains("guest killed by SIGSEGV at pc 0x10000104"),
        "{err}"
    );
    // Word 0 is no instruction.
    let p = write(&d, "ill", &exe(false, false, &[0], b""));
    let o = run(&[&p]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(132), "{err}");
    assert!(
        err.contains("guest killed by SIGILL at pc 0x10000100"),
        "{err}"
    );
    std::fs::remove_dir_all(&d).unwrap();
}
