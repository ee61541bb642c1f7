//! `-bios FILE`: a raw firmware image is loaded at 0 and started at 0x100 in big-endian real mode
//! with the flattened device tree in r3 (what SLOF expects from QEMU), instead of the built-in
//! client interface. The test firmware, assembled here with the cross assembler, checks the FDT
//! header, prints through H_PUT_TERM_CHAR and powers off through the KVMPPC_H_RTAS hypercall.

mod common;

use common::{run, scratch};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Assembles `src` and extracts the raw image with objcopy.
fn assemble(dir: &Path, src: &str) -> std::path::PathBuf {
    let (asm, obj, bin) = (dir.join("fw.S"), dir.join("fw.o"), dir.join("fw.bin"));
    std::fs::write(&asm, src).expect("write source");
    let tool = |t: &str| format!("powerpc64-linux-gnu-{t}");
    let st = Command::new(tool("as"))
        .args(["-mbig", "-a64", "-o"])
        .arg(&obj)
        .arg(&asm)
        .status()
        .unwrap_or_else(|e| panic!("powerpc64-linux-gnu-as: {e}: run scripts/fetch-assets.sh"));
    assert!(st.success(), "assembling the test firmware failed");
    let st = Command::new(tool("objcopy"))
        .args(["-O", "binary", "-j", ".text"])
        .arg(&obj)
        .arg(&bin)
        .status()
        .unwrap_or_else(|e| {
            panic!("powerpc64-linux-gnu-objcopy: {e}: run scripts/fetch-assets.sh")
        });
    assert!(st.success(), "objcopy failed");
    bin
}

#[test]
fn bios_image_runs_with_fdt_in_r3_and_powers_off() {
    let power_off = spapr::rtas::token("power-off").expect("power-off token");
    let src = format!(
        r#"
    .text
    .org 0x100
_start:
    lwz   4, 0(3)              # FDT header magic
    lis   5, 0xd00d
    ori   5, 5, 0xfeed
    cmplw 4, 5
    bne   bad
    li    3, 0x58              # H_PUT_TERM_CHAR(vty, 7, "FDT ok\n")
    lis   4, 0x7100
    li    5, 7
    lis   6, 0x4644            # "FD"
    ori   6, 6, 0x5420         # "T "
    rldicr 6, 6, 32, 31
    oris  6, 6, 0x6f6b         # "ok"
    ori   6, 6, 0x0a00         # "\n"
    li    7, 0
    sc    1
    li    7, 0x2000            # RTAS power-off(-1, -1): token, nargs 2, nret 1
    lis   8, {hi}
    ori   8, 8, {lo}
    stw   8, 0(7)
    li    8, 2
    stw   8, 4(7)
    li    8, 1
    stw   8, 8(7)
    li    8, -1
    stw   8, 12(7)
    stw   8, 16(7)
    lis   3, 0
    ori   3, 3, 0xf000         # KVMPPC_H_RTAS
    mr    4, 7
    sc    1
    b     .
bad:
    li    3, 0x58
    lis   4, 0x7100
    li    5, 4
    lis   6, 0x6261            # "ba"
    ori   6, 6, 0x640a         # "d\n"
    rldicr 6, 6, 32, 31
    li    7, 0
    sc    1
    b     .
"#,
        hi = power_off >> 16,
        lo = power_off & 0xffff
    );
    let dir = scratch("bios");
    let bin = assemble(&dir, &src);
    let o = run(
        &[
            "-M",
            "pseries",
            "-m",
            "256M",
            "-bios",
            bin.to_str().expect("utf-8 path"),
            "-nographic",
            "-no-reboot",
        ],
        Duration::from_secs(60),
    );
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert_eq!(o.stdout, "FDT ok\n", "{o:?}");
}
