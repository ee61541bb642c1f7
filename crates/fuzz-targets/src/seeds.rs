//! Seed inputs for every target, built from meaningful values (real instruction encodings, hcall
//! numbers, RTAS tokens, client-interface services, command lines) in each target's input layout.
//! `cargo run -p fuzz-targets --example seeds` writes them to `fuzz/corpus/<target>/`.

use crate::client;
use crate::qcow2::{build, Guest, Spec};
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
    for (name, s) in virtqueue_seeds() {
        v.push(("virtqueue", name, s));
    }
    for (name, s) in pci_config_seeds() {
        v.push(("pci_config", name, s));
    }
    for (name, s) in tce_seeds() {
        v.push(("tce", name, s));
    }
    for (name, s) in qcow2_seeds() {
        v.push(("qcow2", name, s));
    }
    for (name, s) in vscsi_seeds() {
        v.push(("vscsi", name, s));
    }
    for (name, s) in vlan_seeds() {
        v.push(("vlan", name, s));
    }
    for (name, s) in virtio_net_seeds() {
        v.push(("virtio_net", name, s));
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

// ---- virtqueue ---------------------------------------------------------------------------------

/// Encoders of `virtqueue` operations (see `virtqueue.rs`, `Harness::run`).
mod vq {
    /// Queue sizes by pick index: 2 = 4, 3 = 8, 5 = 16, 10 = 256.
    pub const SIZE8: u8 = 3;
    pub const SIZE16: u8 = 5;
    pub const SIZE256: u8 = 10;
    /// Request types by selector.
    pub const IN: u8 = 0;
    pub const OUT: u8 = 2;
    pub const FLUSH: u8 = 4;
    pub const GET_ID: u8 = 5;
    /// Request flags.
    pub const INDIRECT: u8 = 1;
    pub const NO_PUBLISH: u8 = 4;
    pub const NO_KICK: u8 = 8;

    /// A driver initialisation: feature flags `f` (1 indirect, 2 event index, 4 all offered),
    /// the feature mask, then (size pick, address mode bytes, enable) per queue.
    pub fn init(v: &mut Vec<u8>, f: u8, queues: &[(u8, &[u8], bool)], driver_ok: bool) {
        v.extend([0, f]);
        v.extend(u32::MAX.to_be_bytes());
        for &(size, mode, enable) in queues {
            v.push(size);
            v.extend(mode);
            v.push(enable as u8);
        }
        v.push(driver_ok as u8);
    }

    /// A request on queue `q`: type selector, sector selector bytes, flags, data buffers
    /// (length selector bytes, device-writable as the type wants or flipped).
    pub fn req(
        v: &mut Vec<u8>,
        q: u8,
        ty: &[u8],
        sector: &[u8],
        flags: u8,
        segs: &[(&[u8], bool)],
    ) {
        v.extend([2, q]);
        v.extend(ty);
        v.extend(sector);
        v.push(flags);
        v.push(segs.len() as u8);
        for &(len, flip) in segs {
            v.extend(len);
            // Allocated in the buffer area.
            v.extend([0, if flip { 0 } else { 1 }]);
        }
    }

    /// Buffer length selectors.
    pub const L512: &[u8] = &[0];
    pub const L1K: &[u8] = &[3];
    pub const L4K: &[u8] = &[4];
    pub const L20: &[u8] = &[5];

    pub fn isr(v: &mut Vec<u8>) {
        v.push(10);
    }

    pub fn notify(v: &mut Vec<u8>, q_pick: u8) {
        v.extend([9, q_pick, 1]);
    }

    /// A common-configuration store of `n` (1, 2, 4 or 8 by pick index) bytes of `val`.
    pub fn common(v: &mut Vec<u8>, off: u8, n_pick: u8, val: u64) {
        v.extend([5, off, n_pick]);
        v.extend(val.to_be_bytes());
    }
}

fn virtqueue_seeds() -> Vec<(&'static str, Vec<u8>)> {
    use vq::*;
    let default: &[u8] = &[0];
    let mut rw = vec![0];
    init(&mut rw, 0, &[(SIZE8, default, true)], true);
    req(&mut rw, 0, &[IN], &[0], 0, &[(L512, false)]);
    req(
        &mut rw,
        0,
        &[OUT],
        &[2, 3],
        0,
        &[(L512, false), (L1K, false)],
    );
    req(&mut rw, 0, &[FLUSH], &[0], 0, &[]);
    isr(&mut rw);
    req(&mut rw, 0, &[GET_ID], &[0], 0, &[(L20, false)]);
    // The last sector, then one beyond the disk.
    req(&mut rw, 0, &[IN], &[3], 0, &[(L512, false)]);
    req(&mut rw, 0, &[IN], &[5], 0, &[(L512, false)]);
    isr(&mut rw);

    let mut ind = vec![0];
    init(&mut ind, 1 | 2, &[(SIZE16, default, true)], true);
    req(
        &mut ind,
        0,
        &[IN],
        &[2, 7],
        INDIRECT,
        &[(L512, false), (L512, false)],
    );
    // used_event = 0: an interrupt for the next completion.
    ind.extend([11, 0, 0, 2, 0, 0]);
    req(&mut ind, 0, &[OUT], &[0], INDIRECT, &[(L1K, false)]);
    // Two posted before one doorbell.
    req(&mut ind, 0, &[FLUSH], &[0], NO_PUBLISH | NO_KICK, &[]);
    req(
        &mut ind,
        0,
        &[GET_ID],
        &[0],
        INDIRECT | NO_PUBLISH | NO_KICK,
        &[(L20, false)],
    );
    ind.extend([8, 0, 0]);
    notify(&mut ind, 0);
    isr(&mut ind);

    let mut mq = vec![1];
    init(
        &mut mq,
        4,
        &[(SIZE256, default, true), (SIZE8, default, true)],
        true,
    );
    req(&mut mq, 1, &[IN], &[2, 9], 0, &[(L4K, false)]);
    req(&mut mq, 0, &[OUT], &[0], 0, &[(L512, false)]);
    notify(&mut mq, 3);
    isr(&mut mq);

    let mut errors = vec![0];
    init(&mut errors, 0, &[(SIZE8, default, true)], true);
    // An unknown type, a write from device-writable buffers, a partial sector, a huge sector.
    req(
        &mut errors,
        0,
        &[7, 0, 0, 0, 0x55],
        &[0],
        0,
        &[(L512, false)],
    );
    req(&mut errors, 0, &[OUT], &[0], 0, &[(L512, true)]);
    req(&mut errors, 0, &[IN], &[0], 0, &[(&[6, 0, 100], false)]);
    req(
        &mut errors,
        0,
        &[IN],
        &[7, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        0,
        &[(L512, false)],
    );
    // Descriptors 0 -> 1 -> 0, made available (slot 4 holds head 0) and rung.
    errors.extend([7, 0, 1, 0, 0, 0x10, 0, 0, 1, 1]);
    errors.extend([7, 0, 1, 1, 2, 4, 2, 3, 0]);
    errors.extend([8, 0, 4, 0, 5]);
    notify(&mut errors, 0);
    // The avail index a ring and one ahead.
    errors.extend([8, 0, 3]);
    notify(&mut errors, 0);
    errors.push(15);
    init(&mut errors, 0, &[(SIZE8, default, true)], true);
    req(&mut errors, 0, &[FLUSH], &[0], 0, &[]);

    let mut msix = vec![0];
    // MSI-X on, entry 1 unmasked.
    msix.extend([13, 1, 1]);
    msix.extend(0x8000u32.to_be_bytes());
    msix.extend([14, 0, 16, 16]);
    msix.extend([0, 0, 0, 0, 0, 4, 0, 0, 0x21, 0x14, 0, 0, 0, 0, 0, 0]);
    init(&mut msix, 0, &[(SIZE8, default, true)], false);
    common(&mut msix, 0x1a, 1, 1);
    msix.extend([6, 4]);
    req(&mut msix, 0, &[IN], &[0], 0, &[(L512, false)]);
    isr(&mut msix);

    let mut ro = vec![2];
    init(&mut ro, 4, &[(SIZE8, default, true)], true);
    req(&mut ro, 0, &[OUT], &[0], 0, &[(L512, false)]);
    req(&mut ro, 0, &[IN], &[0], 0, &[(L512, false)]);

    // Rings a driver may pick but the device must survive: the avail ring at address 0, then
    // rings a little misaligned.
    let mut rings = vec![0];
    let avail0: &[u8] = &[5, 4, 0x01, 0x00, 4, 0, 0, 2, 0];
    init(&mut rings, 0, &[(SIZE8, avail0, true)], true);
    // avail.idx (at address 2) = 1.
    rings.extend([11, 0, 1, 4, 0, 0, 1, 0]);
    notify(&mut rings, 0);
    req(&mut rings, 0, &[FLUSH], &[0], 0, &[]);
    init(&mut rings, 0, &[(SIZE8, &[6, 1], true)], true);
    req(&mut rings, 0, &[FLUSH], &[0], 0, &[]);
    rings.push(15);

    vec![
        ("read_write_flush_get_id", rw),
        ("indirect_event_idx", ind),
        ("two_queues", mq),
        ("errors_loop_reset", errors),
        ("msix", msix),
        ("read_only", ro),
        ("odd_rings", rings),
    ]
}

// ---- pci_config --------------------------------------------------------------------------------

/// Encoders of `pci_config` operations (see `pci_config.rs`, `Harness::run`).
mod pc {
    /// A configuration access: which (0 read-pci-config, 1 write-pci-config, 2 ibm,read, 3
    /// ibm,write), register selector bytes, device selector bytes, buid selector bytes, size
    /// selector, value selector bytes (writes), well-formed.
    #[allow(clippy::too_many_arguments)]
    pub fn cfg(
        v: &mut Vec<u8>,
        which: u8,
        reg: &[u8],
        dev: &[u8],
        buid: &[u8],
        size: u8,
        val: &[u8],
        ok: bool,
    ) {
        v.extend([0, which]);
        v.extend(reg);
        v.extend(dev);
        v.push(1);
        v.extend(buid);
        v.push(size);
        if which & 1 != 0 {
            v.extend(val);
        }
        v.push(if ok { 1 } else { 8 });
        if !ok {
            v.extend(0xdead_beefu32.to_be_bytes());
        }
    }

    /// Register selectors.
    pub const VENDOR: &[u8] = &[0];
    pub const COMMAND: &[u8] = &[1];
    pub const CAPS: &[u8] = &[3];
    /// Device selectors.
    pub const DEV: &[u8] = &[0];
    pub const OUR_BUID: &[u8] = &[0];
    /// Size selectors.
    pub const S4: u8 = 0;
    pub const S2: u8 = 2;
    pub const S1: u8 = 3;

    pub fn mmio(v: &mut Vec<u8>, target: &[u8], n_pick: u8, write: Option<u64>) {
        v.push(8);
        v.extend(target);
        v.push(n_pick);
        match write {
            Some(x) => {
                v.push(1);
                v.extend(x.to_be_bytes());
            }
            None => v.push(0),
        }
    }
}

fn pci_config_seeds() -> Vec<(&'static str, Vec<u8>)> {
    use pc::*;
    let mut probe = vec![2];
    cfg(&mut probe, 2, VENDOR, DEV, OUR_BUID, S4, &[], true);
    cfg(&mut probe, 0, CAPS, DEV, OUR_BUID, S1, &[], true);
    probe.push(6);
    // Size BARs 0, 1, 4 and 5.
    probe.extend([4, 0, 4, 1, 4, 4, 4, 5]);
    // Command: memory and bus master.
    probe.extend([5, 2, 0]);
    // Through BAR 4: num_queues, the ISR, a status store.
    mmio(&mut probe, &[4, 0, 0x12], 1, None);
    mmio(&mut probe, &[4, 1], 0, None);
    mmio(&mut probe, &[5, 0, 0x14], 0, Some(0x0f));
    mmio(&mut probe, &[6, 0, 0x10], 3, None);

    let mut msi = vec![2];
    // change-msi (MSI-X, 2 vectors), queries, release, query.
    msi.extend([7, 0, 0, 1, 1, 2]);
    msi.extend(7u32.to_be_bytes());
    for k in [0u8, 2, 3] {
        msi.extend([7, 0, 0, 0, k]);
    }
    msi.extend([7, 0, 0, 1, 5, 0]);
    msi.extend(8u32.to_be_bytes());
    msi.extend([7, 0, 0, 0, 0]);
    // Plain MSI is refused; a wrong bridge too.
    msi.extend([7, 0, 0, 1, 3, 1]);
    msi.extend(9u32.to_be_bytes());
    msi.extend([7, 0, 6, 1, 1, 1, 1]);
    msi.extend(10u32.to_be_bytes());

    let mut wild = vec![1];
    // Another bridge, a bad size, an unaligned register, the extended space, an empty slot,
    // a function, a bus, a raw address, the old form, argument counts off by one.
    cfg(&mut wild, 2, VENDOR, DEV, &[6, 3], S4, &[], true);
    cfg(&mut wild, 2, VENDOR, DEV, OUR_BUID, 5, &[], true);
    cfg(&mut wild, 2, &[9, 1], DEV, OUR_BUID, S2, &[], true);
    cfg(
        &mut wild,
        3,
        &[6, 0x01, 0x00],
        DEV,
        OUR_BUID,
        S4,
        &[0],
        true,
    );
    cfg(&mut wild, 2, &[7, 3], DEV, OUR_BUID, S4, &[], true);
    cfg(&mut wild, 2, VENDOR, &[5, 7], OUR_BUID, S4, &[], true);
    cfg(&mut wild, 2, VENDOR, &[6, 9], OUR_BUID, S4, &[], true);
    cfg(&mut wild, 0, VENDOR, &[7, 1, 8], OUR_BUID, S2, &[], true);
    cfg(&mut wild, 1, COMMAND, DEV, OUR_BUID, S2, &[2, 0], true);
    cfg(&mut wild, 2, VENDOR, DEV, OUR_BUID, S4, &[], false);
    cfg(&mut wild, 3, COMMAND, DEV, OUR_BUID, S2, &[0], false);
    mmio(&mut wild, &[7, 0], 2, Some(1));
    mmio(&mut wild, &[3, 0], 3, None);
    wild.push(11);

    let mut bars = vec![2];
    // BAR 1 and BAR 4 into the 32-bit window, then use them there; BAR 4 high half; reset.
    bars.extend([10, 3, 0, 0x10, 0]);
    bars.extend([10, 3, 0, 0x20, 1]);
    bars.extend([10, 1, 2]);
    mmio(&mut bars, &[4, 0, 0x12], 1, None);
    mmio(&mut bars, &[6, 0, 0x0c], 2, Some(0));
    cfg(&mut bars, 2, &[2, 4], DEV, OUR_BUID, S4, &[], true);
    bars.extend([10, 0, 2]);
    mmio(&mut bars, &[2, 0, 0, 0, 0, 0, 0, 0, 0], 2, None);
    bars.push(11);
    bars.push(6);

    vec![
        ("linux_probe", probe),
        ("msi", msi),
        ("wild_addresses", wild),
        ("bar_moves", bars),
    ]
}

// ---- tce ---------------------------------------------------------------------------------------

/// One `tce` call: selector (0 put, 1 get, 2 stuff, 3 indirect), LIOBN, ioba and operand
/// selector bytes, then the probes.
fn tce_call(v: &mut Vec<u8>, sel: u8, liobn: &[u8], ioba: &[u8], ops: &[u8]) {
    v.push(sel);
    v.extend(liobn);
    v.extend(ioba);
    v.extend(ops);
    v.extend([0, 0, 0, 7, 0, 0, 0, 7, 0, 0x10]);
}

fn tce_seeds() -> Vec<(&'static str, Vec<u8>)> {
    const REAL: &[u8] = &[0];
    let page = |p: u32| {
        let mut b = vec![1];
        b.extend(p.to_be_bytes());
        b
    };
    // A TCE: RAM page 0x2000, read and write.
    let rw_tce = [0, 0, 0, 0x20, 0, 3];
    let mut basic = vec![2, 0, 0];
    tce_call(&mut basic, 0, REAL, &page(5), &rw_tce);
    tce_call(&mut basic, 1, REAL, &page(5), &[]);
    // The last four pages of the window, then the window's end and beyond.
    let mut stuff = rw_tce.to_vec();
    stuff.extend([5, 4]);
    tce_call(&mut basic, 2, REAL, &[7, 0, 4], &stuff);
    tce_call(&mut basic, 0, REAL, &[4], &rw_tce);
    tce_call(&mut basic, 1, REAL, &[3], &[]);
    tce_call(&mut basic, 1, REAL, &[5], &[]);
    // Unaligned.
    tce_call(&mut basic, 0, REAL, &[6, 0, 0, 0, 9, 0, 0x21], &rw_tce);

    let mut indirect = vec![2];
    let list: Vec<u8> = (0..32u64)
        .flat_map(|k| ((0x10_0000 + (k << 12)) | 1).to_be_bytes())
        .collect();
    indirect.extend((list.len() as u16).to_be_bytes());
    indirect.extend(&list);
    // 32 entries from the data window, 513 (too many), 512 from the end of RAM at the
    // window's end, and a list that is not page-aligned.
    tce_call(&mut indirect, 3, REAL, &[0], &[0, 0, 5, 32]);
    tce_call(&mut indirect, 3, REAL, &[0], &[0, 0, 4]);
    tce_call(&mut indirect, 3, REAL, &[7, 2, 0], &[3, 3]);
    tce_call(&mut indirect, 3, REAL, &[0], &[4, 0, 8, 1]);
    tce_call(&mut indirect, 3, REAL, &[0], &[6, 0x80, 5, 2]);

    let mut wrong = vec![0, 0, 0];
    // Bridge 1, a LIOBN with high bits, zero, anything; a huge count; stuffing all of it.
    tce_call(&mut wrong, 0, &[6, 1, 0], &page(1), &rw_tce);
    tce_call(&mut wrong, 0, &[7, 0], &page(1), &rw_tce);
    tce_call(&mut wrong, 1, &[8], &page(1), &[]);
    let mut all = vec![2];
    all.extend([6]);
    tce_call(&mut wrong, 2, REAL, &[0], &all);
    let mut huge = vec![2];
    huge.extend([7, 0]);
    tce_call(&mut wrong, 2, REAL, &page(7), &huge);
    tce_call(&mut wrong, 1, REAL, &page(7), &[]);

    vec![
        ("put_get_stuff", basic),
        ("indirect", indirect),
        ("wrong_liobn_huge_counts", wrong),
    ]
}

// ---- qcow2 -------------------------------------------------------------------------------------

/// Encoders of `qcow2` inputs (see `qcow2.rs`, `Harness::op`).
mod q {
    pub const RW: u8 = 0;
    pub const RO: u8 = 1;
    pub const PROBE: u8 = 2;

    /// First open's mode, the image, the patches.
    pub fn input(mode: u8, img: &[u8], patches: &[&[u8]]) -> Vec<u8> {
        let mut v = vec![mode];
        v.extend((img.len() as u16).to_be_bytes());
        v.extend(img);
        v.push(patches.len() as u8);
        for p in patches {
            v.extend(*p);
        }
        v
    }

    /// Length selectors.
    pub const CLUSTER: &[u8] = &[4];
    pub const CLUSTER_MINUS_1: &[u8] = &[7];
    pub fn bytes(n: u16) -> Vec<u8> {
        let [hi, lo] = n.to_be_bytes();
        vec![8, hi, lo]
    }
    pub fn sectors(n: u8) -> Vec<u8> {
        vec![2, n - 1]
    }

    /// Offset selectors.
    pub const ZERO: &[u8] = &[0];
    pub const TO_END: &[u8] = &[4];
    pub fn cluster(k: u8) -> Vec<u8> {
        vec![1, k]
    }
    /// Any offset below 2^32 (taken modulo the disk size).
    pub fn at(off: u32) -> Vec<u8> {
        let mut v = vec![9];
        v.extend(off.to_be_bytes());
        v
    }

    /// Read, one iovec.
    pub fn read(v: &mut Vec<u8>, len: &[u8], off: &[u8]) {
        v.push(0);
        v.extend(len);
        v.extend(off);
        v.extend([0, 0, 0, 0, 0, 0]);
    }

    /// Write of pattern `p`, cut into three iovecs.
    pub fn write(v: &mut Vec<u8>, len: &[u8], off: &[u8], p: u8) {
        v.push(3);
        v.extend(len);
        v.extend(off);
        v.extend([p, 0, 2, 0, 3, 1]);
    }

    pub fn flush(v: &mut Vec<u8>) {
        v.push(6);
    }

    pub fn reopen(v: &mut Vec<u8>, mode: u8) {
        v.extend([7, mode]);
    }

    /// Reads the last write's clusters and one either side.
    pub fn reread(v: &mut Vec<u8>) {
        v.extend([8, 0, 0, 0, 0, 0, 0]);
    }

    /// A request `back` bytes before the end of the disk (past it when `len` is longer).
    pub fn at_end(v: &mut Vec<u8>, write: bool, len: &[u8], back: u16) {
        v.extend([9, write as u8]);
        v.extend(len);
        v.extend(back.to_be_bytes());
        v.extend([0x77, 0, 0, 0, 0, 0]);
    }
}

fn qcow2_seeds() -> Vec<(&'static str, Vec<u8>)> {
    use q::*;
    let v3 = |cluster_bits, size, clusters| Spec {
        version: 3,
        cluster_bits,
        size,
        refcount_order: 4,
        backing: None,
        clusters,
    };

    // v3, 512-byte clusters: data, a zero cluster; writes across clusters, into unallocated
    // ones, flush, reopen read-only, the end of the disk.
    let img = build(&v3(
        9,
        64 << 10,
        &[
            (0, Guest::Data(0x11)),
            (1, Guest::Data(0x22)),
            (5, Guest::Zero),
        ],
    ));
    let mut rw = input(RW, &img, &[]);
    read(&mut rw, &[6, 0, 0], ZERO);
    write(&mut rw, &sectors(3), &at(700), 0x42);
    reread(&mut rw);
    write(&mut rw, CLUSTER, &cluster(20), 0x43);
    read(&mut rw, CLUSTER, &cluster(5));
    write(&mut rw, &bytes(100), &at(5 * 512 + 50), 0x44);
    reread(&mut rw);
    flush(&mut rw);
    reopen(&mut rw, RO);
    read(&mut rw, &bytes(12 << 10), ZERO);
    write(&mut rw, CLUSTER, ZERO, 0x45);
    at_end(&mut rw, false, &sectors(1), 512);
    at_end(&mut rw, false, &sectors(2), 512);
    at_end(&mut rw, true, CLUSTER, 0);

    // Compressed cluster (1 KiB clusters): read it, then overwrite part of it.
    let img = build(&v3(
        10,
        32 << 10,
        &[(1, Guest::Compressed(0x3c)), (2, Guest::Data(0x44))],
    ));
    let mut comp = input(RO, &img, &[]);
    read(&mut comp, CLUSTER, &cluster(1));
    read(&mut comp, &bytes(3000), &at(100));
    reopen(&mut comp, RW);
    write(&mut comp, &bytes(16), &at(1024 + 300), 0x5e);
    reread(&mut comp);
    write(&mut comp, CLUSTER_MINUS_1, &cluster(2), 0x5f);
    reread(&mut comp);

    // Version 2, probed.
    let img = build(&Spec {
        version: 2,
        ..v3(
            9,
            40 << 10,
            &[(0, Guest::Data(0x66)), (2, Guest::Data(0x67))],
        )
    });
    let mut v2 = input(PROBE, &img, &[]);
    write(&mut v2, &bytes(1000), &at(600), 0x68);
    reread(&mut v2);
    flush(&mut v2);
    reopen(&mut v2, RO | PROBE);
    read(&mut v2, &bytes(3 << 9), ZERO);
    write(&mut v2, &sectors(1), TO_END, 0x69);

    // A raw backing file (shorter than the disk): copy-on-write across its end.
    let img = build(&Spec {
        backing: Some(("base.raw", Some("raw"))),
        ..v3(9, 16 << 10, &[(1, Guest::Data(0x21))])
    });
    let mut backing = input(RW, &img, &[]);
    read(&mut backing, &bytes(4096), ZERO);
    write(&mut backing, &bytes(200), &at(2900), 0x23);
    reread(&mut backing);
    write(&mut backing, &bytes(10), &at(100), 0x24);
    reread(&mut backing);
    reopen(&mut backing, RO);
    read(&mut backing, &bytes(4096), ZERO);

    // A probed chain: mid.qcow2 (qcow2) -> base.raw.
    let img = build(&Spec {
        backing: Some(("mid.qcow2", None)),
        ..v3(9, 8 << 10, &[(0, Guest::Data(0x10))])
    });
    let mut chain = input(RO, &img, &[]);
    read(&mut chain, &bytes(6144), ZERO);
    reopen(&mut chain, RW);
    write(&mut chain, &bytes(64), &at(2 * 512 + 64), 0x12);
    reread(&mut chain);

    // 1-bit refcounts: allocation of new clusters.
    let img = build(&Spec {
        refcount_order: 0,
        ..v3(9, 32 << 10, &[(0, Guest::Data(1))])
    });
    let mut rc1 = input(RW, &img, &[]);
    write(&mut rc1, CLUSTER, &cluster(3), 0x31);
    write(&mut rc1, &sectors(1), &cluster(9), 0x32);
    write(&mut rc1, &sectors(3), TO_END, 0x33);
    reread(&mut rc1);
    flush(&mut rc1);
    reopen(&mut rc1, RO);
    read(&mut rc1, &bytes(32 << 10), ZERO);

    // Patched: new extensions (backing format qcow2, end), a backing name after them, and a
    // valid compressed cluster appended to the file for guest cluster 3.
    let img = build(&v3(9, 16 << 10, &[(0, Guest::Data(0x71))]));
    let mut patched = input(
        RO,
        &img,
        &[
            &[14, 1, 1, 1, 2, 0, 2],
            &[15, 2, 0, 3],
            &[17, 0, 0, 3, 8, 0x99, 0],
        ],
    );
    read(&mut patched, &bytes(2048), ZERO);
    reopen(&mut patched, RW);
    write(&mut patched, &bytes(20), &at(3 * 512 + 40), 0x72);
    reread(&mut patched);

    // A feature name table of two whole entries (a cut one is one mutation away).
    let img = build(&v3(9, 8 << 10, &[(1, Guest::Data(0x81))]));
    let mut features = input(RO, &img, &[&[14, 0, 3, 0, 2, 0, 2]]);
    read(&mut features, CLUSTER, &cluster(1));

    vec![
        ("v3_write_reopen", rw),
        ("compressed", comp),
        ("v2_probed", v2),
        ("backing_raw", backing),
        ("backing_chain", chain),
        ("refcount_bits_1", rc1),
        ("patched_backing_compressed", patched),
        ("feature_table", features),
    ]
}

// ---- vscsi -------------------------------------------------------------------------------------

/// Encoders of `vscsi` operations (see `vscsi.rs`, `Harness::run`). Bus addresses are given as
/// window pages (the `ioba` decoder's selector 0).
mod vs {
    /// Window pages `first..first + n` map real pages from `real`, read/write.
    pub fn map_run(v: &mut Vec<u8>, first: u8, real: u8, n: u8) {
        v.extend([1, first, real, n - 1]);
    }
    /// H_REG_CRQ of `pages` pages at window page `page`.
    pub fn register(v: &mut Vec<u8>, page: u8, pages: u8) {
        v.extend([2, 0, page, 0, pages - 1]);
    }
    pub fn signal(v: &mut Vec<u8>, mode: u8) {
        v.extend([4, mode]);
    }
    /// A raw message.
    pub fn raw(v: &mut Vec<u8>, msg: [u8; 16]) {
        v.push(5);
        v.extend(msg);
    }
    /// An IU of 256 bytes at window page `page`, LUN selector `lun`; `body` is the kind and its
    /// arguments.
    pub fn iu(v: &mut Vec<u8>, page: u8, lun: u8, body: &[u8]) {
        v.extend([6, 0, page, 0, lun]);
        v.extend(body);
    }
    /// The guest consumes the ring's entries.
    pub fn consume(v: &mut Vec<u8>) {
        v.extend([8, 255]);
    }
    pub const LOGIN: &[u8] = &[0];
    /// LUN reset.
    pub const TMF: &[u8] = &[1, 3];
    /// Adapter info (148 bytes) into window page 4.
    pub const ADAPTER_INFO: &[u8] = &[5, 2, 0, 0, 4];
    /// Capabilities (92 bytes) at window page 4.
    pub const CAPABILITIES: &[u8] = &[5, 4, 1, 0, 4];
    /// INQUIRY of 96 bytes into window page 4, a direct descriptor.
    pub const INQUIRY: &[u8] = &[2, 0, 0, 96, 0, 0, 1, 0, 4, 0, 0, 1];
    /// READ(10) of 16 sectors at LBA 3 into window pages 5 and 6, an indirect table at page 3.
    pub const READ_INDIRECT: &[u8] = &[2, 0, 1, 1, 3, 16, 0, 1, 2, 0, 5, 1, 0, 6, 1, 0, 1, 0, 3, 1];
    /// WRITE(10) of 8 sectors at LBA 9 from window page 5, a direct descriptor.
    pub const WRITE: &[u8] = &[2, 0, 1, 0, 9, 8, 0, 2, 1, 0, 5, 1, 1, 0];
}

fn vscsi_seeds() -> Vec<(&'static str, Vec<u8>)> {
    use vs::*;
    let init = |v: &mut Vec<u8>| {
        map_run(v, 0, 16, 8);
        register(v, 0, 1);
        signal(v, 1);
        let mut m = [0u8; 16];
        m[0] = 0xc0;
        m[1] = 0x01;
        raw(v, m);
    };
    // Linux's bring-up: init, adapter info, login, then a scan and I/O.
    let mut linux = Vec::new();
    init(&mut linux);
    iu(&mut linux, 1, 0, ADAPTER_INFO);
    iu(&mut linux, 1, 0, LOGIN);
    iu(&mut linux, 1, 0, INQUIRY);
    iu(&mut linux, 1, 5, INQUIRY);
    consume(&mut linux);
    iu(&mut linux, 1, 0, READ_INDIRECT);
    iu(&mut linux, 2, 0, WRITE);
    iu(&mut linux, 2, 0, READ_INDIRECT);
    iu(&mut linux, 1, 0, TMF);
    iu(&mut linux, 1, 0, CAPABILITIES);

    // A full ring (the guest stores a valid byte in the next slot): the reply is dropped;
    // consumed, the next one lands; then a reset and a re-registration.
    let mut full = Vec::new();
    init(&mut full);
    full.extend([9, 16, 0, 0x10, 1, 0x80]);
    iu(&mut full, 1, 0, LOGIN);
    consume(&mut full);
    iu(&mut full, 1, 0, LOGIN);
    full.push(11);
    map_run(&mut full, 0, 30, 4);
    register(&mut full, 0, 2);
    iu(&mut full, 1, 0, LOGIN);

    // Wrong: unaligned and unmapped rings, a free, an unreadable IU, a CD-ROM write, RDMA.
    let mut wrong = Vec::new();
    map_run(&mut wrong, 0, 10, 2);
    wrong.extend([2, 4, 0, 0, 0x10, 0, 0]);
    register(&mut wrong, 1, 3);
    register(&mut wrong, 0, 1);
    register(&mut wrong, 0, 1);
    wrong.push(3);
    register(&mut wrong, 0, 1);
    iu(&mut wrong, 20, 0, LOGIN);
    iu(&mut wrong, 1, 4, WRITE);
    wrong.extend([10, 0, 1, 0, 0, 0, 0x01, 0x00]);
    wrong.extend([10, 0, 0, 0, 1, 3]);

    vec![
        ("linux_bringup", linux),
        ("ring_full_reset", full),
        ("wrong", wrong),
    ]
}

// ---- vlan --------------------------------------------------------------------------------------

/// Encoders of `vlan` operations (see `vlan.rs`, `Harness::run`). Bus addresses are window pages
/// (the `ioba` decoder's selector 0); the unit address is the adapter's.
mod vl {
    /// Window pages `first..first + n` map real pages from `real`, read/write.
    pub fn map_run(v: &mut Vec<u8>, first: u8, real: u8, n: u8) {
        v.extend([1, first, real, n - 1]);
    }
    /// H_REGISTER_LOGICAL_LAN: buffer list at page `list`, a receive queue of `len` (the length
    /// decoder's bytes) at page `rxq`, the filter list at page `filter`.
    pub fn register(v: &mut Vec<u8>, list: u8, len: &[u8], rxq: u8, filter: u8) {
        v.extend([2, 0, 0, list, 1]);
        v.extend(len);
        v.extend([0, rxq, 0, filter]);
        v.extend([0, 0, 0x52, 0x54, 0, 0xab, 0xcd, 0xef]);
    }
    pub fn free(v: &mut Vec<u8>) {
        v.extend([3, 0]);
    }
    /// H_ADD_LOGICAL_LAN_BUFFER of `len` (the length decoder's bytes) at page `page`, with a
    /// correlator.
    pub fn add(v: &mut Vec<u8>, len: &[u8], page: u8) {
        v.extend([4, 0, 0x41]);
        v.extend(len);
        v.extend([0, page]);
    }
    /// H_SEND_LOGICAL_LAN of descriptors (length selector bytes, page, content).
    pub fn send(v: &mut Vec<u8>, descs: &[(&[u8], u8, &[u8])]) {
        v.extend([7, 0, descs.len() as u8]);
        for (len, page, data) in descs {
            v.push(0x10 | len[0]);
            v.extend(&len[1..]);
            v.extend([0, *page, data.len() as u8]);
            v.extend(*data);
        }
        v.push(0);
    }
    /// A frame from the network: its length (the frame-length decoder's bytes) and first bytes.
    pub fn arrive(v: &mut Vec<u8>, len: &[u8], head: &[u8]) {
        v.push(9);
        v.extend(len);
        v.push(head.len() as u8);
        v.extend(head);
    }
    pub fn signal(v: &mut Vec<u8>, on: bool) {
        v.extend([11, 0, if on { 0 } else { 1 }]);
    }
    /// The guest clears the flags of the receive queue's first `n` entries.
    pub fn consume(v: &mut Vec<u8>, n: u8) {
        v.extend([14, 1, n]);
    }
    pub const L2048: &[u8] = &[0, 0];
    pub const L4096: &[u8] = &[0, 2];
    pub const L16: &[u8] = &[0, 3];
    pub const L64K: &[u8] = &[0, 6];
    /// Frame lengths: 1514, 60, 9000, 65536.
    pub const F1514: &[u8] = &[0, 5];
    pub const F60: &[u8] = &[0, 0];
    pub const F9000: &[u8] = &[3, 4];
    pub const F64K: &[u8] = &[4, 1];
}

fn vlan_seeds() -> Vec<(&'static str, Vec<u8>)> {
    use vl::*;
    let eth: &[u8] = &[
        0x52, 0x54, 0, 0xab, 0xcd, 0xef, 0x52, 0x55, 0x0a, 0, 2, 2, 8, 0, 0x45, 0,
    ];
    // ibmveth's open: queues registered, buffers in three sizes, the interrupt on; frames both
    // ways (one of two descriptors), the guest consuming entries.
    let mut linux = vec![0];
    map_run(&mut linux, 0, 16, 16);
    map_run(&mut linux, 16, 32, 16);
    register(&mut linux, 0, L4096, 1, 2);
    signal(&mut linux, true);
    for p in 3..7 {
        add(&mut linux, L2048, p);
    }
    add(&mut linux, L4096, 7);
    add(&mut linux, L64K, 8);
    arrive(&mut linux, F1514, eth);
    arrive(&mut linux, F60, eth);
    arrive(&mut linux, F9000, eth);
    send(
        &mut linux,
        &[(&[0, 6], 9, eth), (&[0, 6], 10, &[1, 2, 3, 4])],
    );
    consume(&mut linux, 3);
    arrive(&mut linux, F64K, eth);
    arrive(&mut linux, F1514, eth);
    free(&mut linux);
    arrive(&mut linux, F60, eth);
    register(&mut linux, 0, L4096, 1, 2);
    add(&mut linux, L2048, 3);

    // A tap (virtio-net headers): frames wait for buffers, a short one, a one-entry queue whose
    // toggle flips at every frame.
    let mut tap = vec![1];
    map_run(&mut tap, 0, 8, 8);
    arrive(&mut tap, F60, eth);
    register(&mut tap, 0, L16, 1, 2);
    arrive(&mut tap, &[2, 2], &[]);
    arrive(&mut tap, F1514, eth);
    add(&mut tap, L2048, 3);
    add(&mut tap, L2048, 4);
    add(&mut tap, L2048, 5);
    signal(&mut tap, true);
    arrive(&mut tap, F60, eth);
    send(&mut tap, &[(&[0, 4], 6, eth)]);

    // Wrong: unmapped and unaligned queues, a second registration, buffers too small, unaligned,
    // before registration; sends before registration and too long; a reset.
    let mut wrong = vec![0];
    map_run(&mut wrong, 0, 4, 4);
    add(&mut wrong, L2048, 2);
    send(&mut wrong, &[(&[0, 4], 2, &[])]);
    register(&mut wrong, 8, L4096, 1, 2);
    wrong.extend([
        2, 0, 4, 0, 0, 0x10, 1, 0, 2, 0, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0,
    ]);
    register(&mut wrong, 0, L4096, 1, 2);
    register(&mut wrong, 0, L4096, 1, 2);
    add(&mut wrong, &[3, 1], 2);
    wrong.extend([4, 0, 0x01, 0, 0, 0, 2]);
    send(&mut wrong, &[(&[2, 0], 2, &[]), (&[2, 0], 2, &[])]);
    wrong.extend([6, 5, 9, 0x41, 0, 0, 0, 3]);
    wrong.extend([12, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    wrong.extend([13, 0, 0, 0, 0x52, 0x54, 0, 0, 0, 1]);
    wrong.push(15);
    add(&mut wrong, L2048, 2);

    vec![("linux", linux), ("tap_waiting", tap), ("wrong", wrong)]
}

// ---- virtio_net --------------------------------------------------------------------------------

/// Encoders of `virtio_net` operations (see `virtio_net.rs`, `Harness::run`).
mod vn {
    /// A driver initialisation: `fl` (feature choices), the feature mask, `queues` queues of
    /// `size` (the size list's index) in the usual layout, enabled, then DRIVER_OK.
    pub fn init(v: &mut Vec<u8>, fl: u8, queues: usize, size: u8) {
        v.extend([0, fl, 0xff, 0xff, 0xff, 0xff]);
        for _ in 0..queues {
            v.extend([size, 0, 1]);
        }
        v.push(1);
    }
    /// Receive chains on pair `pair`, each one descriptor of the length list's entry `len`.
    pub fn rx(v: &mut Vec<u8>, pair: u8, chains: u8, len: u8) {
        v.extend([2, pair, chains - 1]);
        for _ in 0..chains {
            v.extend([0, 0, 0, len, 0]);
        }
    }
    /// A frame to send on pair `pair`: a header of `flags`/`gso` (list indexes), a frame (the
    /// frame-length decoder's bytes and first bytes), header and frame in two descriptors.
    pub fn tx(v: &mut Vec<u8>, pair: u8, gso: u8, len: &[u8], head: &[u8]) {
        v.extend([4, pair, 0, 1, gso]);
        v.extend(len);
        v.push(head.len() as u8);
        v.extend(head);
        v.extend([1, 0]);
    }
    /// A control command: the class list's entry, its data bytes, exact length, three parts.
    pub fn command(v: &mut Vec<u8>, class: u8, data: &[u8]) {
        v.push(6);
        v.push(class);
        v.extend(data);
        v.extend([2, 0, 0]);
    }
    /// A frame arrives at backend `k`.
    pub fn arrive(v: &mut Vec<u8>, k: u8, len: &[u8], head: &[u8]) {
        v.extend([7, k]);
        v.extend(len);
        v.push(head.len() as u8);
        v.extend(head);
    }
    /// ISR, then the device configuration's first 12 bytes.
    pub fn isr_config(v: &mut Vec<u8>) {
        v.extend([12, 0, 5]);
    }
    pub fn doorbell(v: &mut Vec<u8>, q: u8) {
        v.extend([11, 0, q]);
    }
    pub fn reset(v: &mut Vec<u8>) {
        v.extend([15, 0]);
    }
    /// Frame lengths: 60, 1514, 9000, 65536; buffer lengths: 1526, 4096, 65562, 256.
    pub const F60: &[u8] = &[0, 0];
    pub const F1514: &[u8] = &[0, 5];
    pub const F9000: &[u8] = &[3, 4];
    pub const F64K: &[u8] = &[4, 1];
    pub const B1526: u8 = 0;
    pub const B4096: u8 = 2;
    pub const B64K: u8 = 3;
    pub const B256: u8 = 6;
    /// Control classes: RX promiscuous, MAC address, queue pairs, guest offloads.
    pub const PROMISC: u8 = 0;
    pub const MAC_ADDR: u8 = 3;
    pub const PAIRS: u8 = 4;
    pub const OFFLOADS: u8 = 5;
}

fn virtio_net_seeds() -> Vec<(&'static str, Vec<u8>)> {
    use vn::*;
    let eth: &[u8] = &[
        0x52, 0x54, 0, 0x12, 0x34, 0x56, 0x52, 0x55, 0x0a, 0, 2, 2, 8, 0, 0x45, 0,
    ];
    // Linux on user networking: mergeable buffers, the control queue; frames both ways, one
    // waiting for buffers, MAC and RX-mode commands.
    let mut linux = vec![0, 0];
    init(&mut linux, 0x09, 3, 0);
    rx(&mut linux, 0, 4, B1526);
    arrive(&mut linux, 0, F60, eth);
    arrive(&mut linux, 0, F1514, eth);
    arrive(&mut linux, 0, F9000, eth);
    rx(&mut linux, 0, 4, B4096);
    tx(&mut linux, 0, 0, F1514, eth);
    tx(&mut linux, 0, 1, F60, eth);
    command(&mut linux, PROMISC, &[1]);
    command(&mut linux, MAC_ADDR, &[0x52, 0x54, 0, 1, 2, 3]);
    isr_config(&mut linux);
    arrive(&mut linux, 0, F60, eth);

    // A 3-queue tap with vnet headers, every feature: three pairs, offloads, frames on each
    // backend, a send on pair 1.
    let mut tap = vec![0x06, 0];
    init(&mut tap, 0x04, 7, 0);
    command(&mut tap, PAIRS, &[2]);
    command(&mut tap, OFFLOADS, &[1]);
    for p in 0..3 {
        rx(&mut tap, p, 2, B4096);
    }
    let mut hdr_frame = vec![1, 0x81, 0x36, 0, 0x90, 0x05, 0x22, 0, 0x10, 0, 0, 0];
    hdr_frame.extend(eth);
    for k in 0..3 {
        arrive(&mut tap, k, F1514, &hdr_frame);
    }
    arrive(&mut tap, 2, &[2, 3], &[]);
    tx(&mut tap, 1, 4, F9000, eth);
    doorbell(&mut tap, 2);

    // No mergeable buffers: a frame too big for the first chain is dropped, a 64 KiB one fits a
    // big chain; small chains; then a reset and a restart.
    let mut big = vec![0x08, 0];
    init(&mut big, 0x01, 3, 0);
    rx(&mut big, 0, 1, B256);
    rx(&mut big, 0, 1, B64K);
    arrive(&mut big, 0, F1514, eth);
    arrive(&mut big, 0, F64K, eth);
    arrive(&mut big, 0, F60, eth);
    tx(&mut big, 0, 7, F64K, eth);
    reset(&mut big);
    init(&mut big, 0x01, 3, 4);
    rx(&mut big, 0, 2, B1526);
    arrive(&mut big, 0, F1514, eth);

    vec![
        ("linux_mrg", linux),
        ("tap_multiqueue", tap),
        ("no_mrg_big", big),
    ]
}
