//! Seed inputs for every target, built from meaningful values (real instruction encodings, hcall
//! numbers, RTAS tokens, client-interface services, command lines) in each target's input layout.
//! `cargo run -p fuzz-targets --example seeds` writes them to `fuzz/corpus/<target>/`.

use crate::client;
use spapr::rtas::token;

/// (target, seed name, bytes) for every seed.
pub fn all() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let mut v = Vec::new();
    for (name, s) in insn_seeds() {
        v.push(("insn_exec", name, s));
    }
    for (name, s) in hcall_seeds() {
        v.push(("hcall", name, s));
    }
    for (name, s) in rtas_seeds() {
        v.push(("rtas", name, s));
    }
    for (name, s) in client_seeds() {
        v.push(("client_interface", name, s));
    }
    for (name, s) in devtree_seeds() {
        v.push(("devtree", name, s));
    }
    for (name, s) in cli_seeds() {
        v.push(("cli", name, s));
    }
    v
}

// ---- insn_exec -------------------------------------------------------------------------------

fn d(op: u32, rt: u32, ra: u32, imm: u16) -> u32 {
    op << 26 | rt << 21 | ra << 16 | imm as u32
}
fn x(rt: u32, ra: u32, rb: u32, xo: u32) -> u32 {
    31 << 26 | rt << 21 | ra << 16 | rb << 11 | xo << 1
}
fn b(off: i32) -> u32 {
    18 << 26 | (off as u32 & 0x03ff_fffc)
}

const SC: u32 = 0x4400_0002;
const RFID: u32 = 0x4c00_0024;
const TRAP: u32 = 0x7fe0_0008; // tw 31,0,0

/// Header (see `insn.rs`) plus code words in the byte order the header selects.
fn insn(b0: u8, b1: u8, b2: u8, seed: u64, code: &[u32]) -> Vec<u8> {
    let le = b0 & 4 != 0;
    let mut v = vec![b0, b1, b2, 0];
    v.extend(seed.to_be_bytes());
    for w in code {
        v.extend(if le { w.to_le_bytes() } else { w.to_be_bytes() });
    }
    v
}

fn insn_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let p9 = 2; // CpuModel::ALL index
    let arith = [
        d(14, 3, 0, 1),      // li r3,1
        d(14, 4, 0, 0x2000), // li r4,0x2000
        d(14, 3, 3, 1),      // addi r3,r3,1
        d(36, 3, 4, 0),      // stw r3,0(r4)
        d(32, 5, 4, 0),      // lwz r5,0(r4)
        d(58, 6, 4, 0),      // ld r6,0(r4)
        d(62, 6, 4, 8),      // std r6,8(r4)
        x(5, 0, 4, 20),      // lwarx r5,0,r4
        x(5, 0, 4, 150) | 1, // stwcx. r5,0,r4
        x(0, 0, 4, 1014),    // dcbz 0,r4
        x(0, 0, 4, 982),     // icbi 0,r4
        0x7c68_03a6,         // mtlr r3
        b(-44),              // back to the addi
    ];
    let fp_vsx = [
        63 << 26 | 1 << 21 | 2 << 16 | 3 << 11 | 21 << 1, // fadd f1,f2,f3
        63 << 26 | 4 << 21 | 5 << 16 | 6 << 11 | 18 << 1, // fdiv f4,f5,f6
        4 << 26 | 1 << 21 | 2 << 16 | 3 << 11,            // vaddubm v1,v2,v3
        60 << 26 | 1 << 21 | 2 << 16 | 3 << 11 | 32 << 3, // xsadddp vs1,vs2,vs3
        x(0, 0, 4, 844),                                  // lxvd2x vs0,0,r4
        x(0, 0, 4, 972),                                  // stxvd2x vs0,0,r4
        SC,
        TRAP,
    ];
    let supervisor = [
        0x7c60_00a6,                             // mfmsr r3
        0x7c7a_03a6,                             // mtsrr0 r3
        0x7c60_0164,                             // mtmsrd r3
        x(0, 0, 0, 306),                         // tlbie 0
        31 << 26 | 3 << 21 | 4 << 11 | 402 << 1, // slbmte r3,r4
        0x7c00_03e4,                             // slbia
        d(14, 3, 0, 0x100),
        0x7c76_03a6, // mtdec r3
        RFID,
    ];
    // pli r3,0x12345 and plwz r4,8(0): ISA 3.1 prefixed forms.
    let prefixed = [
        0x0600_0001,
        d(14, 3, 0, 0x2345),
        0x0600_0000,
        d(32, 4, 0, 8),
        0x7c00_0034 | 3 << 21 | 5 << 16, // cntlzw r5,r3
        SC,
    ];
    vec![
        ("real_be_arith", insn(p9, 0, 0, 1, &arith)),
        // LE problem state with FP/VEC/VSX on.
        ("user_le_fp_vsx", insn(p9 | 4 | 8, 7, 0, 2, &fp_vsx)),
        // Radix, translated, supervisor, AIL=3, EE and interrupts.
        (
            "radix_supervisor",
            insn(p9 | 0x30 | 0x40, 0x28 | 0xc0, 1, 3, &supervisor),
        ),
        // Hash, translated, POWER8.
        ("hash_p8", insn(1 | 0x30 | 0x80, 0, 0, 4, &arith)),
        // Hash table present but real mode (VRMA), 32-bit mode, step first.
        (
            "hash_realmode_32bit",
            insn(p9 | 0xc0, 0x10, 8, 5, &supervisor),
        ),
        ("power10_prefixed", insn(3, 0, 0, 6, &prefixed)),
        // POWER9 in POWER8 compat (PCR) running a prefixed instruction: illegal.
        ("power9_compat_p8", insn(p9, 0, 4, 7, &prefixed)),
        ("power7_le_fp", insn(4, 7, 0, 8, &fp_vsx)), // POWER7 (model 0), LE
    ]
}

// ---- hcall -------------------------------------------------------------------------------------

/// hcall/RTAS argument encodings (`machine::arg64`).
#[derive(Clone, Copy)]
enum A {
    Zero,
    Small(u8),
    Data(u16),
    Prev,
    U32(u32),
    U64(u64),
}

fn arg64(v: &mut Vec<u8>, a: A) {
    match a {
        A::Zero => v.push(0),
        A::Small(n) => v.extend([1, n]),
        A::Prev => v.push(6),
        A::Data(o) => {
            v.push(8);
            v.extend(o.to_be_bytes());
        }
        A::U32(n) => {
            v.push(11);
            v.extend(n.to_be_bytes());
        }
        A::U64(n) => {
            v.push(15);
            v.extend(n.to_be_bytes());
        }
    }
}

/// Header, data window, then calls of (number, r4..r12; missing ones are zero).
fn hcalls(b0: u8, data: &[u8], calls: &[(u64, &[A])]) -> Vec<u8> {
    let mut v = vec![b0, 0];
    v.extend((data.len() as u16).to_be_bytes());
    v.extend(data);
    for &(nr, args) in calls {
        v.push(0xf0);
        v.extend(nr.to_be_bytes());
        for i in 0..9 {
            arg64(&mut v, args.get(i).copied().unwrap_or(A::Zero));
        }
    }
    v
}

fn hcall_seeds() -> Vec<(&'static str, Vec<u8>)> {
    use A::*;
    let vty = U32(spapr::machine::layout::VTY_REG);
    let hello = u64::from_be_bytes(*b"hello!\r\n");
    // A VPA: size (u16 at offset 4) 640.
    let mut vpa = vec![0u8; 0x280];
    vpa[4..6].copy_from_slice(&0x280u16.to_be_bytes());
    let v0 = 0x4000_0000_0000_0001u64; // B=1T segment, valid
    vec![
        (
            "vty",
            hcalls(
                2,
                &[],
                &[
                    (0x58, &[vty, Small(8), U64(hello)]),
                    (0x54, &[vty]),
                    (0x104, &[vty, Small(1)]),
                ],
            ),
        ),
        (
            "hpt_enter_read_remove",
            hcalls(
                2,
                &[],
                &[
                    (0x08, &[Zero, Small(0), U64(v0), U64(0x1_0192)]),
                    (0x0c, &[Zero, Prev]),
                    (0x18, &[Zero, Prev, Small(3)]),
                    (0x14, &[Zero, Prev]),
                    (0x04, &[Zero, Prev]),
                ],
            ),
        ),
        (
            "vpa_cede",
            hcalls(
                1,
                &vpa,
                &[
                    (0xdc, &[U64(1 << 45), Zero, Data(0)]),
                    (0xe0, &[]),
                    (0xe4, &[U64(u64::MAX)]),
                    (0xe8, &[Zero]),
                ],
            ),
        ),
        (
            "set_mode_proc_tbl",
            hcalls(
                3,
                &[],
                &[
                    (0x31c, &[Small(1), Small(4)]),
                    (0x31c, &[Small(3), Small(3)]),
                    (0x37c, &[Small(0x18), U32(0x20_0000), Zero, Small(0)]),
                    (0x1c8, &[Data(0)]),
                ],
            ),
        ),
        (
            "xics_smp",
            hcalls(
                2 | 4,
                &[],
                &[
                    (0x68, &[Small(0xff)]),
                    (0x6c, &[Small(1), Small(5)]),
                    (0x6c, &[Zero, Small(5)]),
                    (0x74, &[]),
                    (0x64, &[Prev]),
                    (0x70, &[Zero]),
                    (0x2fc, &[Zero]),
                ],
            ),
        ),
        (
            "resize_hpt_ci",
            hcalls(
                2,
                &[],
                &[
                    (0x36c, &[Zero, Small(19)]),
                    (0x370, &[Zero, Small(19)]),
                    (0x3c, &[Small(4), Data(0)]),
                    (0x40, &[Small(8), Data(8), U64(0x1122_3344_5566_7788)]),
                    (0x124, &[U64(0x4000_0000_0000_0000)]),
                ],
            ),
        ),
    ]
}

// ---- rtas --------------------------------------------------------------------------------------

/// RTAS argument cells (`machine::arg32`).
fn cell32(v: &mut Vec<u8>, a: u32) {
    v.push(6);
    v.extend(a.to_be_bytes());
}

/// Header, data window, then calls (service, args, nret) at the usual buffer.
fn rtas_calls(data: &[u8], calls: &[(&str, &[u32], u8)]) -> Vec<u8> {
    let mut v = vec![2 | 4]; // POWER9, two vCPUs (for start-cpu)
    v.extend((data.len() as u16).to_be_bytes());
    v.extend(data);
    for &(name, args, nret) in calls {
        v.push(0xff);
        v.extend(token(name).expect("service exists").to_be_bytes());
        v.extend([args.len() as u8, nret, 0]);
        for &a in args {
            cell32(&mut v, a);
        }
    }
    v
}

fn rtas_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let data = crate::machine::DATA as u32;
    vec![
        (
            "time_and_console",
            rtas_calls(
                &[],
                &[
                    ("get-time-of-day", &[], 8),
                    ("set-time-of-day", &[2024, 2, 29, 23, 59, 59, 0], 1),
                    ("display-character", &[b'A' as u32], 1),
                    ("event-scan", &[0xffff_ffff, 0, data, 2048], 1),
                    ("check-exception", &[0x500, 0x1200, 0, 0, data, 2048], 1),
                ],
            ),
        ),
        (
            "nvram",
            rtas_calls(
                b"nvram contents",
                &[
                    ("nvram-store", &[0x100, data, 14], 2),
                    ("nvram-fetch", &[0x100, data + 0x100, 14], 2),
                    ("nvram-fetch", &[0xfff0, data, 0x100], 2),
                ],
            ),
        ),
        (
            "xics",
            rtas_calls(
                &[],
                &[
                    ("ibm,set-xive", &[0x1100, 0, 5], 1),
                    ("ibm,get-xive", &[0x1100], 3),
                    ("ibm,int-off", &[0x1100], 1),
                    ("ibm,int-on", &[0x1100], 1),
                ],
            ),
        ),
        (
            "cpus_and_power",
            rtas_calls(
                b"kernel panic\0",
                &[
                    ("query-cpu-stopped-state", &[1], 2),
                    ("start-cpu", &[1, 0x100, 0], 1),
                    ("stop-self", &[], 1),
                    ("ibm,os-term", &[data], 1),
                    ("power-off", &[u32::MAX, u32::MAX], 1),
                ],
            ),
        ),
    ]
}

// ---- client_interface --------------------------------------------------------------------------

/// Client-interface cells (`client::cell`).
enum C<'a> {
    Str(&'a str),
    Ih(u8),
    Ph(u8),
    Data(u16),
    Raw(u32),
}

fn ci_calls(data: &[u8], calls: &[(&str, &[C], u8)]) -> Vec<u8> {
    let mut v = vec![2];
    v.extend((data.len() as u16).to_be_bytes());
    v.extend(data);
    for (svc, args, nret) in calls {
        v.push(client::service_index(svc));
        v.extend([args.len() as u8, *nret, 0]);
        for a in args.iter() {
            match a {
                C::Str(s) => v.extend([0, client::string_index(s)]),
                C::Ph(n) => v.extend([2, *n]),
                C::Ih(n) => v.extend([3, *n]),
                C::Data(o) => {
                    v.push(4);
                    v.extend(o.to_be_bytes());
                }
                C::Raw(n) => {
                    v.extend([6, 6]);
                    v.extend(n.to_be_bytes());
                }
            }
        }
    }
    v
}

/// An ibm,client-architecture-support vector as Linux's prom_init sends it: (mask, PVR) pairs
/// ending with one whose PVR has bits outside its mask, then option vectors 1..6.
fn cas_vector(ov5_mmu: u8) -> Vec<u8> {
    let mut v = Vec::new();
    for (mask, pvr) in [
        (0xffff_0000u32, 0x004e_0000u32),
        (0xffff_ffff, 0x0f00_0006),
        (0xffff_ffff, 0x0f00_0005),
        (0xffff_ffff, 0x0f00_0004),
        (0xffff_fffe, 0x0f00_0001),
    ] {
        v.extend(mask.to_be_bytes());
        v.extend(pvr.to_be_bytes());
    }
    let mut ov5 = vec![0u8; 26];
    ov5[23] = ov5_mmu; // byte 24: MMU
    ov5[25] = 0x40; // byte 26: GTSE
    let vectors: [Vec<u8>; 6] = [
        vec![0x00, 0xff, 0xc0],
        vec![0; 3],
        vec![0x00, 0xe0],
        vec![0x00, 0x01],
        ov5,
        vec![0x00, 0x00, 0x02],
    ];
    v.push(vectors.len() as u8 - 1);
    for o in vectors {
        v.push(o.len() as u8 - 1);
        v.extend(o);
    }
    v
}

fn client_seeds() -> Vec<(&'static str, Vec<u8>)> {
    use C::*;
    vec![
        (
            "prom_init_walk",
            ci_calls(
                &[],
                &[
                    ("finddevice", &[Str("/chosen")], 1),
                    ("getprop", &[Ph(2), Str("stdout"), Data(0), Raw(4)], 1),
                    ("instance-to-package", &[Ih(0)], 1),
                    ("package-to-path", &[Ph(1), Data(0x100), Raw(256)], 1),
                    ("child", &[Ph(1)], 1),
                    ("peer", &[Ph(2)], 1),
                    ("nextprop", &[Ph(1), Str(""), Data(0x200)], 1),
                    ("getproplen", &[Ph(1), Str("ibm,architecture-vec-5")], 1),
                ],
            ),
        ),
        (
            "cas_radix",
            ci_calls(
                &cas_vector(0x40),
                &[
                    (
                        "call-method",
                        &[Str("ibm,client-architecture-support"), Ih(1), Data(0)],
                        2,
                    ),
                    ("finddevice", &[Str("/chosen")], 1),
                    (
                        "getprop",
                        &[Ph(2), Str("ibm,architecture-vec-5"), Data(0x400), Raw(64)],
                        1,
                    ),
                ],
            ),
        ),
        (
            "cas_hash_rtas",
            ci_calls(
                &cas_vector(0x00),
                &[
                    (
                        "call-method",
                        &[Str("ibm,client-architecture-support"), Ih(1), Data(0)],
                        2,
                    ),
                    (
                        "call-method",
                        &[Str("instantiate-rtas"), Ih(2), Raw(0x30_0000)],
                        2,
                    ),
                ],
            ),
        ),
        (
            "claim_release_write",
            ci_calls(
                b"hello from the client\n",
                &[
                    ("claim", &[Raw(0), Raw(0x10_0000), Raw(0x1_0000)], 1),
                    ("claim", &[Raw(0x80_0000), Raw(0x1000), Raw(0)], 1),
                    ("release", &[Raw(0x80_0000), Raw(0x800)], 1),
                    ("write", &[Ih(0), Data(0), Raw(22)], 1),
                    ("open", &[Str("/vdevice/vty@71000000")], 1),
                    ("close", &[Ih(3)], 1),
                    ("milliseconds", &[], 1),
                ],
            ),
        ),
        (
            "setprop_canon",
            ci_calls(
                b"console=hvc0 quiet\0",
                &[
                    ("setprop", &[Ph(2), Str("bootargs"), Data(0), Raw(19)], 1),
                    (
                        "canon",
                        &[Str("/vdevice/VTY@71000000:arg"), Data(0x100), Raw(64)],
                        1,
                    ),
                    ("test", &[Str("claim")], 1),
                    ("interpret", &[Str("name")], 1),
                    ("quiesce", &[], 0),
                ],
            ),
        ),
    ]
}

// ---- devtree -----------------------------------------------------------------------------------

fn devtree_seeds() -> Vec<(&'static str, Vec<u8>)> {
    // b0, smp-1, RAM blocks-1 (u16), kernel-addr selector, initrd selector, boot cpu, append.
    let cfg = |b0: u8, smp: u8, blocks: u16, initrd: &[u8], append: &[u8]| {
        let mut v = vec![b0, smp];
        v.extend(blocks.to_be_bytes());
        v.push(0);
        v.extend(initrd);
        v.extend([0, 0, 0, 0]);
        v.extend(append);
        v
    };
    let mut initrd = vec![1];
    initrd.extend(0x0200_0000u32.to_be_bytes());
    initrd.extend(0x0040_0000u32.to_be_bytes());
    vec![
        ("power9_default", cfg(2 | 0x1c | 0x20, 0, 1, &[0], b"")),
        (
            "power10_smp4_append",
            cfg(
                3 | 0x1c,
                3,
                7,
                &initrd,
                b"console=hvc0 root=/dev/ram0 quiet",
            ),
        ),
        (
            "power8_compat",
            cfg(1 | 1 << 2, 0, 0, &[2], b"init=/bin/sh"),
        ),
        (
            "power9_compat_p8_nul",
            cfg(2 | 1 << 2, 1, 3, &[0], b"a\0b\xff\xfe"),
        ),
    ]
}

// ---- cli ---------------------------------------------------------------------------------------

fn cli_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let argv = |args: &[&str]| args.join("\0").into_bytes();
    vec![
        (
            "kernel_full",
            argv(&[
                "-M",
                "pseries,kernel-addr=0x10000,resize-hpt=disabled,max-cpu-compat=power9",
                "-cpu",
                "POWER10,compat=power9",
                "-m",
                "1.5G",
                "-smp",
                "1",
                "-nographic",
                "-kernel",
                "vmlinux",
                "-initrd",
                "initrd.img",
                "-append",
                "console=hvc0",
                "-serial",
                "mon:stdio",
            ]),
        ),
        (
            "bios_accel",
            argv(&[
                "-bios",
                "fw.bin",
                "-accel",
                "tcg,thread=single,tb-size=16",
                "-nodefaults",
                "-no-reboot",
                "-device",
                "spapr-vty,reg=0x71000000",
                "-d",
                "int",
            ]),
        ),
        ("help_lists", argv(&["-M", "help", "-cpu", "?", "--help"])),
        (
            "errors",
            argv(&[
                "--kernel=vmlinux",
                "-m",
                "size=0x100,slots=2",
                "-enable-kvm",
                "disk.img",
            ]),
        ),
    ]
}
