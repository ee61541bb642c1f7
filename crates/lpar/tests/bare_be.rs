//! Big-endian guests on `lpar -kernel`: Debian has no big-endian kernel, so bare-metal programs
//! (crates/lpar/tests/bare/) prove the BE machine: the console hcall, the client interface,
//! RTAS, interrupt delivery and big-endian storage order. Each program is built at test time with
//! powerpc64-linux-gnu-gcc (scripts/fetch-assets.sh installs it) into a scratch directory and run
//! with QEMU's usual options; stdout must match exactly.
//!
//! The programs are ELFv1 (the compiler's default) with `_start`, a plain code label, as the ELF
//! entry: lpar jumps to e_entry rather than reading a function descriptor (bare/bare.ld).

mod common;

use common::{build_bare as build, run, scratch, Output};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const TIMEOUT: Duration = Duration::from_secs(60);
/// Builds and runs program `name` on the pseries machine.
fn boot(name: &str) -> Output {
    boot_with(name, &[])
}

/// The same with more lpar options.
fn boot_with(name: &str, extra: &[&str]) -> Output {
    let dir = scratch(&format!("bare-be-{name}{}", extra.join("")));
    let elf = build(&dir, name);
    let mut args = vec![
        "-M",
        "pseries",
        "-m",
        "256M",
        "-kernel",
        elf.to_str().expect("utf-8 path"),
        "-nographic",
        "-no-reboot",
    ];
    args.extend_from_slice(extra);
    run(&args, TIMEOUT)
}

/// lpar may log hcalls it does not implement; any other stderr line must start with one of
/// `allowed`.
fn check_stderr(o: &Output, allowed: &[&str]) {
    for line in o.stderr.lines() {
        assert!(
            line.starts_with("lpar: unimplemented hcall")
                || allowed.iter().any(|a| line.starts_with(a)),
            "unexpected stderr line {line:?}: {o:?}"
        );
    }
}

/// The UTC year of `t` (days counted out year by year: independent of lpar's calendar code).
fn utc_year(t: SystemTime) -> u64 {
    let mut days = t.duration_since(UNIX_EPOCH).expect("clock").as_secs() / 86_400;
    let mut year = 1970;
    loop {
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        let len = if leap { 366 } else { 365 };
        if days < len {
            return year;
        }
        days -= len;
        year += 1;
    }
}

#[test]
fn hello_prints_and_powers_off_through_rtas() {
    let o = boot("hello");
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert_eq!(
        o.stdout, "Hello from a big-endian bare-metal guest on lpar!\n",
        "{o:?}"
    );
    check_stderr(&o, &[]);
}

#[test]
fn rtas_time_nvram_display_and_bad_token() {
    let before = utc_year(SystemTime::now());
    let o = boot("rtas");
    let after = utc_year(SystemTime::now());
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    // The year comes from the host clock: it must be this year (the run may straddle New Year).
    let year: u64 = o
        .stdout
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("get-time-of-day: status 0 year "))
        .and_then(|y| y.parse().ok())
        .unwrap_or_else(|| panic!("no year: {o:?}"));
    assert!(year == before || year == after, "year {year}: {o:?}");
    let want = format!(
        "get-time-of-day: status 0 year {year}
year >= 2024: yes, fields valid
nvram-store: status 0 stored 17
nvram-fetch: status 0 fetched 17, round trip ok
nvram says: big-endian nvram!
nvram-fetch at +2: status 0 fetched 3 \"g-e\"
nvram #bytes: len 4, fetch across the end: status -3
display-character ok
display-character failures: 0
invalid token: status -3
unknown name: token ffffffff
"
    );
    assert_eq!(o.stdout, want, "{o:?}");
    check_stderr(&o, &[]);
}

#[test]
fn interrupts_program_trap_decrementer_cede_ipi_and_system_call() {
    let o = boot("interrupts");
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let want = "msr at entry: ok
vectors installed: ok
program: count 1, vector 700, srr0 ok, srr1 bit 44 ok, other reasons ok, srr1 msr ok, handler msr ok
trap: count 1, vector 700, srr0 ok, srr1 bit 46 ok, other reasons ok
dec counts down: ok
dec ok
decrementer: handler msr ok
cede: rc 0, woken by the decrementer ok
external: h_ipi 0, count 1, vector 500, xirr ff000002, eoi 0, srr1 ee ok, handler msr ok
external: then xirr ff000000
syscall: count 1, vector c00, srr0 ok, srr1 msr ok, handler msr ok
";
    assert_eq!(o.stdout, want, "{o:?}");
    // XIRR of the IPI: the CPPR before acceptance (0xff) over XISR 2 (PAPR's IPI source); after
    // the EOI nothing is pending. The illegal instruction is logged.
    check_stderr(
        &o,
        &["lpar: illegal or unimplemented instruction 0x00000000 at 0x"],
    );
}

#[test]
fn endian_storage_order_and_firmware_replies() {
    let o = boot("endian");
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    // Big-endian: the most significant byte at the lowest address; the byte-reversed forms the
    // opposite; lmw/lswi/stmw/stswi work on the low words (ISA 3.0B Book I 3.3). The firmware's
    // cells are big-endian too: the timebase runs at 512 MHz, the vty's reg is its unit address,
    // /memory@0 reg is (0, the 256 MiB of -m) in 64-bit cells.
    let want = "std   0102030405060708 -> 01 02 03 04 05 06 07 08
stw   0a0b0c0d -> 0a 0b 0c 0d
sth   1122 -> 11 22
stb   7f -> 7f ee
stdbrx 0102030405060708 -> 08 07 06 05 04 03 02 01
stwbrx 0a0b0c0d -> 0d 0c 0b 0a
sthbrx 1122 -> 22 11
stw at +6 -> ee ee 0a 0b 0c 0d ee ee
stmw  r30=01020304 r31=05060708 -> 01 02 03 04 05 06 07 08
stswi 6 bytes of r9=01020304 r10=05060708 -> 01 02 03 04 05 06 ee ee
memory: 80 91 a2 b3 c4 d5 e6 f7 08 19 2a 3b 4c 5d 6e 7f
ld     8091a2b3c4d5e6f7
lwz    000000008091a2b3
lwa    ffffffff8091a2b3
lhz    0000000000008091
lha    ffffffffffff8091
lbz    0000000000000080
ldbrx  f7e6d5c4b3a29180
lwbrx  00000000b3a29180
lhbrx  0000000000009180
ld at +5 d5e6f708192a3b4c
lmw at +4 r30 00000000c4d5e6f7 r31 0000000008192a3b
lswi 7 bytes r9 000000008091a2b3 r10 00000000c4d5e600
getprop /cpus/PowerPC,POWER9@0 reg: len 4 bytes 00 00 00 00 = 0x0 = 0
getprop /cpus/PowerPC,POWER9@0 timebase-frequency: len 4 bytes 1e 84 80 00 = 0x1e848000 = 512000000
getprop /cpus/PowerPC,POWER9@0 d-cache-block-size: len 4 bytes 00 00 00 80 = 0x80 = 128
getprop /vdevice/vty@71000000 reg: len 4 bytes 71 00 00 00 = 0x71000000 = 1895825408
getprop /memory@0 reg: len 16 bytes 00 00 00 00 00 00 00 00 00 00 00 00 10 00 00 00 = 0x0 0x10000000
getprop /chosen stdout: len 4, instance of the vty ok
written through the client interface
of write returned 37
";
    assert_eq!(o.stdout, want, "{o:?}");
    check_stderr(&o, &[]);
}

#[test]
fn os_term_stops_with_the_message() {
    let o = boot("osterm");
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert_eq!(o.stdout, "calling ibm,os-term\n", "{o:?}");
    assert!(
        o.stderr.lines().any(
            |l| l == "lpar: guest terminated: bare-metal BE guest says goodbye via ibm,os-term"
        ),
        "{o:?}"
    );
    check_stderr(&o, &["lpar: guest terminated: "]);
}

/// Every vCPU at once: shared counters updated a million times per vCPU with lwarx/stwcx. and
/// ldarx/stdcx. are exact, a spinlock keeps plain counters consistent, and two vCPUs play IPI
/// ping-pong through XICS.
#[test]
fn smp_atomics_spinlock_and_ipi_ping_pong() {
    for n in [4u32, 8] {
        let smp = n.to_string();
        let o = boot_with("smp", &["-smp", &smp]);
        assert_eq!(o.status.code(), Some(0), "{o:?}");
        let want = format!(
            "cpus: {n}
lwarx/stwcx. counter: {c}, ok
ldarx/stdcx. counter: {c}, ok
spinlock: a {a} b {b}, ok
ipi ping-pong: 1000 pings 1000 pongs, ok
",
            c = n * 1_000_000,
            a = n * 50_000,
            b = n * 100_000
        );
        assert_eq!(o.stdout, want, "{o:?}");
        check_stderr(&o, &[]);
    }
}

/// TLB shootdown: vCPU 0 remaps a page vCPU 1 is reading through its TLB (H_REMOVE + H_ENTER);
/// vCPU 1's first read after vCPU 0 says so sees the new page, never a stale translation, and
/// once the page is unmapped its next read faults at that address.
#[test]
fn hpt_changes_reach_the_other_vcpus_tlb_before_the_hcall_returns() {
    let o = boot_with("tlbie", &["-smp", "2"]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert_eq!(
        o.stdout,
        "remap: H_REMOVE 0, H_ENTER ok, read after the flag NEW ok
unmap: H_REMOVE 0, reader faulted ok at TEST ok
",
        "{o:?}"
    );
    check_stderr(&o, &[]);
}
