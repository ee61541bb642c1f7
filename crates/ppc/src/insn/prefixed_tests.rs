//! Unit tests of the prefixed instructions. Expected values are worked out by hand from the ISA
//! 3.1 definitions; instruction words come from `powerpc64le-linux-gnu-as -mpower10`.

use crate::cpu::{msr, Cpu, CpuModel, Exception, ProgramKind};
use crate::exec::{run, step, DecodeCache};
use crate::testutil::{self, CODE, DATA};

fn cpu() -> Cpu {
    let mut c = testutil::cpu();
    c.model = CpuModel::Power10;
    c
}

fn cpu_be() -> Cpu {
    let mut c = testutil::cpu_be();
    c.model = CpuModel::Power10;
    c
}

const ILLEGAL: Result<(), Exception> = Err(Exception::Program(ProgramKind::Illegal));

/// Stores instruction words at `at` in the CPU's byte order.
fn put_code(c: &Cpu, at: u64, words: &[u32]) {
    for (k, w) in words.iter().enumerate() {
        let b = if c.le {
            w.to_le_bytes()
        } else {
            w.to_be_bytes()
        };
        assert!(c.mem.write(at + 4 * k as u64, &b));
    }
}

/// Executes the prefixed instruction `p`/`s` at `at` with the single-step path.
fn try_exec2_at(c: &mut Cpu, at: u64, p: u32, s: u32) -> Result<(), Exception> {
    put_code(c, at, &[p, s]);
    c.pc = at;
    step(c)
}

fn try_exec2(c: &mut Cpu, p: u32, s: u32) -> Result<(), Exception> {
    try_exec2_at(c, CODE, p, s)
}

fn exec2(c: &mut Cpu, p: u32, s: u32) {
    if let Err(e) = try_exec2(c, p, s) {
        panic!("{p:#010x} {s:#010x} raised {e:?}");
    }
    assert_eq!(c.pc, CODE + 8, "execution continues after the suffix");
}

fn put(c: &Cpu, at: u64, b: &[u8]) {
    assert!(c.mem.write(at, b));
}

fn get(c: &Cpu, at: u64, n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    assert!(c.mem.read(at, &mut b));
    b
}

/// MLS prefix (type 2) with R and the high 18 bits of a 34-bit displacement.
fn mls(r: bool, d: i64) -> u32 {
    0x0600_0000 | (r as u32) << 20 | ((d >> 16) as u32 & 0x3ffff)
}

/// 8LS prefix (type 0).
fn ls8(r: bool, d: i64) -> u32 {
    0x0400_0000 | (r as u32) << 20 | ((d >> 16) as u32 & 0x3ffff)
}

/// D-form suffix with the low 16 bits of the displacement.
fn sfx(op: u32, rt: u32, ra: u32, d: i64) -> u32 {
    op << 26 | rt << 21 | ra << 16 | (d as u32 & 0xffff)
}

#[test]
fn assembler_words() {
    // paddi r3,r4,74565 / pla r3,74565 / pli r3,-5
    let mut c = cpu();
    c.gpr[4] = 0x1000_0000;
    exec2(&mut c, 0x0600_0001, 0x3864_2345);
    assert_eq!(c.gpr[3], 0x1001_2345);
    exec2(&mut c, 0x0610_0001, 0x3860_2345);
    assert_eq!(c.gpr[3], CODE + 0x1_2345);
    exec2(&mut c, 0x0603_ffff, 0x3860_fffb);
    assert_eq!(c.gpr[3], (-5i64) as u64);
    // The helpers build the same words.
    assert_eq!(
        (mls(false, 0x1_2345), sfx(14, 3, 4, 0x1_2345)),
        (0x0600_0001, 0x3864_2345)
    );
    assert_eq!(
        (ls8(true, 0x1_2345), sfx(57, 3, 0, 0x1_2345)),
        (0x0410_0001, 0xe460_2345)
    );
}

#[test]
fn paddi_displacement_range_and_forms() {
    let mut c = cpu();
    c.gpr[4] = 1 << 40;
    // Largest and smallest 34-bit displacements: 2^33 - 1 and -2^33.
    exec2(&mut c, mls(false, (1 << 33) - 1), sfx(14, 3, 4, -1));
    assert_eq!(c.gpr[3], (1 << 40) + (1 << 33) - 1);
    exec2(&mut c, mls(false, -(1 << 33)), sfx(14, 3, 4, 0));
    assert_eq!(c.gpr[3], (1 << 40) - (1 << 33));
    // RA = 0 means 0, not r0 (pli).
    c.gpr[0] = 0x5555;
    exec2(&mut c, mls(false, 7), sfx(14, 3, 0, 7));
    assert_eq!(c.gpr[3], 7);
    // pla with a negative offset.
    exec2(&mut c, mls(true, -0x100), sfx(14, 3, 0, -0x100));
    assert_eq!(c.gpr[3], CODE - 0x100);
    // R = 1 with RA != 0 is an invalid form.
    assert_eq!(try_exec2(&mut c, mls(true, 0), sfx(14, 3, 4, 0)), ILLEGAL);
}

#[test]
fn fixed_point_loads_both_orders_and_pc_relative() {
    let data: Vec<u8> = (0x81..0x89).collect();
    for mut c in [cpu(), cpu_be()] {
        // Base + displacement beyond 16 bits.
        put(&c, DATA + 0x1_0004, &data);
        c.gpr[4] = DATA + 4;
        let d = 0x1_0000;
        let le = c.le;
        let cases: [(u32, u32, u64, u64); 6] = [
            (mls(false, d), 34, 0x81, 0x81),     // plbz
            (mls(false, d), 40, 0x8281, 0x8182), // plhz
            (
                mls(false, d),
                42,
                0xffff_ffff_ffff_8281,
                0xffff_ffff_ffff_8182,
            ), // plha
            (mls(false, d), 32, 0x8483_8281, 0x8182_8384), // plwz
            (
                ls8(false, d),
                41,
                0xffff_ffff_8483_8281,
                0xffff_ffff_8182_8384,
            ), // plwa
            (
                ls8(false, d),
                57,
                0x8887_8685_8483_8281,
                0x8182_8384_8586_8788,
            ), // pld
        ];
        for (p, op, want_le, want_be) in cases {
            exec2(&mut c, p, sfx(op, 3, 4, d));
            assert_eq!(c.gpr[3], if le { want_le } else { want_be }, "op {op}");
        }
        // PC-relative: CODE + 0x7000 = DATA.
        put(&c, DATA, &data);
        exec2(&mut c, ls8(true, 0x7000), sfx(57, 5, 0, 0x7000));
        let want = if le {
            0x8887_8685_8483_8281
        } else {
            0x8182_8384_8586_8788
        };
        assert_eq!(c.gpr[5], want);
    }
}

#[test]
fn fixed_point_stores() {
    for mut c in [cpu(), cpu_be()] {
        c.gpr[3] = 0x1122_3344_5566_7788;
        c.gpr[4] = DATA;
        let le = c.le;
        for (p, op, n) in [
            (mls(false, 0x20), 38u32, 1usize), // pstb
            (mls(false, 0x20), 44, 2),         // psth
            (mls(false, 0x20), 36, 4),         // pstw
            (ls8(false, 0x20), 61, 8),         // pstd
        ] {
            put(&c, DATA + 0x20, &[0; 8]);
            exec2(&mut c, p, sfx(op, 3, 4, 0x20));
            let v = c.gpr[3].to_le_bytes();
            let mut want: Vec<u8> = v[..n].to_vec();
            if !le {
                want.reverse();
            }
            want.resize(8, 0);
            assert_eq!(get(&c, DATA + 0x20, 8), want, "op {op}");
        }
        // PC-relative store.
        exec2(&mut c, ls8(true, 0x7100), sfx(61, 3, 0, 0x7100));
        let mut want = c.gpr[3].to_le_bytes().to_vec();
        if !le {
            want.reverse();
        }
        assert_eq!(get(&c, DATA + 0x100, 8), want);
    }
}

#[test]
fn quadword_load_store() {
    let seq: Vec<u8> = (0..16).collect();
    for mut c in [cpu(), cpu_be()] {
        put(&c, DATA + 0x10, &seq);
        c.gpr[4] = DATA;
        exec2(&mut c, ls8(false, 0x10), sfx(56, 6, 4, 0x10)); // plq r6,16(r4)
        if c.le {
            assert_eq!(
                (c.gpr[6], c.gpr[7]),
                (0x0f0e_0d0c_0b0a_0908, 0x0706_0504_0302_0100)
            );
        } else {
            assert_eq!(
                (c.gpr[6], c.gpr[7]),
                (0x0001_0203_0405_0607, 0x0809_0a0b_0c0d_0e0f)
            );
        }
        exec2(&mut c, ls8(false, 0x40), sfx(60, 6, 4, 0x40)); // pstq r6,64(r4)
        assert_eq!(get(&c, DATA + 0x40, 16), seq);
    }
    let mut c = cpu();
    c.gpr[4] = DATA;
    assert_eq!(
        try_exec2(&mut c, ls8(false, 0), sfx(56, 7, 4, 0)),
        ILLEGAL,
        "odd RTp"
    );
    assert_eq!(
        try_exec2(&mut c, ls8(false, 0), sfx(56, 4, 4, 0)),
        ILLEGAL,
        "RTp = RA"
    );
    assert_eq!(
        try_exec2(&mut c, ls8(false, 0), sfx(60, 5, 4, 0)),
        ILLEGAL,
        "odd RSp"
    );
    // RTp = 0 with no base register is fine.
    put(&c, DATA, &seq);
    exec2(&mut c, ls8(true, 0x7000), sfx(56, 0, 0, 0x7000));
    assert_eq!(c.gpr[1], 0x0706_0504_0302_0100);
}

#[test]
fn floating_point_and_scalar_vsx() {
    for mut c in [cpu(), cpu_be()] {
        c.gpr[4] = DATA;
        // 1.5 in single format is 0x3fc00000; as a double 0x3ff8000000000000.
        let single = if c.le {
            0x3fc0_0000u32.to_le_bytes()
        } else {
            0x3fc0_0000u32.to_be_bytes()
        };
        let double = if c.le {
            0x4004_0000_0000_0000u64.to_le_bytes() // 2.5
        } else {
            0x4004_0000_0000_0000u64.to_be_bytes()
        };
        put(&c, DATA, &single);
        put(&c, DATA + 8, &double);
        exec2(&mut c, mls(false, 0), sfx(48, 1, 4, 0)); // plfs f1,0(r4)
        assert_eq!(c.fpr(1), 0x3ff8_0000_0000_0000);
        exec2(&mut c, mls(false, 8), sfx(50, 2, 4, 8)); // plfd f2,8(r4)
        assert_eq!(c.fpr(2), 0x4004_0000_0000_0000);
        exec2(&mut c, mls(false, 0x10), sfx(52, 2, 4, 0x10)); // pstfs f2: 2.5f = 0x40200000
        let want = if c.le {
            0x4020_0000u32.to_le_bytes()
        } else {
            0x4020_0000u32.to_be_bytes()
        };
        assert_eq!(get(&c, DATA + 0x10, 4), want);
        exec2(&mut c, mls(false, 0x18), sfx(54, 1, 4, 0x18)); // pstfd f1
        assert_eq!(get(&c, DATA + 0x18, 8), {
            let v = 0x3ff8_0000_0000_0000u64;
            if c.le {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            }
        });
        // plxsd/plxssp/pstxsd/pstxssp address VR 3 (VSR 35) and clear doubleword 1.
        c.vsr[35] = [0, 0xdead];
        exec2(&mut c, ls8(false, 8), sfx(42, 3, 4, 8));
        assert_eq!(c.vsr[35], [0x4004_0000_0000_0000, 0]);
        exec2(&mut c, ls8(false, 0), sfx(43, 3, 4, 0));
        assert_eq!(c.vsr[35], [0x3ff8_0000_0000_0000, 0]);
        exec2(&mut c, ls8(false, 0x20), sfx(46, 3, 4, 0x20));
        assert_eq!(get(&c, DATA + 0x20, 8), get(&c, DATA + 0x18, 8));
        exec2(&mut c, ls8(false, 0x28), sfx(47, 3, 4, 0x28));
        assert_eq!(get(&c, DATA + 0x28, 4), single);
    }
    let mut c = cpu();
    c.set_msr(c.msr & !msr::FP);
    assert_eq!(
        try_exec2(&mut c, mls(false, 0), sfx(50, 2, 4, 0)),
        Err(Exception::FpUnavailable)
    );
}

#[test]
fn vector_loads_and_stores() {
    let bytes: Vec<u8> = (0..32).collect();
    for mut c in [cpu(), cpu_be()] {
        put(&c, DATA, &bytes);
        c.gpr[4] = DATA;
        // plxv vs3 (opcode 50) and vs35 (opcode 51: TX = 1).
        exec2(&mut c, ls8(false, 0), sfx(50, 3, 4, 0));
        exec2(&mut c, ls8(false, 16), sfx(51, 3, 4, 16));
        let v0 = u128::from_be_bytes(bytes[..16].try_into().unwrap());
        let v1 = u128::from_be_bytes(bytes[16..].try_into().unwrap());
        if c.le {
            // One little-endian quadword: byte 0 is the least significant.
            assert_eq!(c.vsr128(3), v0.swap_bytes());
            assert_eq!(c.vsr128(35), v1.swap_bytes());
        } else {
            assert_eq!((c.vsr128(3), c.vsr128(35)), (v0, v1));
        }
        exec2(&mut c, ls8(false, 0x40), sfx(54, 3, 4, 0x40)); // pstxv vs3
        exec2(&mut c, ls8(false, 0x50), sfx(55, 3, 4, 0x50)); // pstxv vs35
        assert_eq!(get(&c, DATA + 0x40, 32), bytes);
        // plxvp vs2 / pstxvp: as lxvp/stxvp.
        exec2(&mut c, ls8(false, 0), sfx(58, 2, 4, 0));
        if c.le {
            assert_eq!(
                (c.vsr128(2), c.vsr128(3)),
                (v1.swap_bytes(), v0.swap_bytes())
            );
        } else {
            assert_eq!((c.vsr128(2), c.vsr128(3)), (v0, v1));
        }
        exec2(&mut c, ls8(false, 0x80), sfx(62, 2, 4, 0x80));
        assert_eq!(get(&c, DATA + 0x80, 32), bytes);
    }
    let mut c = cpu();
    c.set_msr(c.msr & !msr::VSX);
    assert_eq!(
        try_exec2(&mut c, ls8(false, 0), sfx(50, 3, 4, 0)),
        Err(Exception::VsxUnavailable)
    );
    c.set_msr(c.msr & !msr::VEC);
    assert_eq!(
        try_exec2(&mut c, ls8(false, 0), sfx(42, 3, 4, 0)),
        Err(Exception::VecUnavailable)
    );
}

#[test]
fn sixty_four_byte_boundary() {
    let mut c = cpu();
    c.gpr[4] = 1;
    // A prefix in the last word of a 64-byte block: alignment interrupt at the prefix.
    let at = CODE + 60;
    assert_eq!(
        try_exec2_at(&mut c, at, mls(false, 1), sfx(14, 3, 4, 1)),
        Err(Exception::Alignment { ea: at })
    );
    assert_eq!(c.pc, at);
    // One word earlier it fits.
    assert_eq!(
        try_exec2_at(&mut c, CODE + 56, mls(false, 1), sfx(14, 3, 4, 1)),
        Ok(())
    );
    assert_eq!((c.gpr[3], c.pc), (2, CODE + 64));
    // The same through the decode cache of the run loop: paddi at 44 and 52, then a prefix at
    // offset 60.
    let mut c = cpu();
    let p = mls(false, 1);
    let s = sfx(14, 3, 3, 1);
    put_code(&c, CODE + 44, &[p, s, p, s, p, s]);
    c.pc = CODE + 44;
    c.gpr[3] = 0;
    let mut cache = DecodeCache::default();
    let r = run(&mut c, &mut cache, 10);
    assert_eq!(r, Err(Exception::Alignment { ea: CODE + 60 }));
    assert_eq!(c.gpr[3], 2);
}

#[test]
fn prefixed_instructions_are_illegal_before_power10() {
    let mut c = cpu();
    c.model = CpuModel::Power9;
    assert_eq!(try_exec2(&mut c, 0x0600_0001, 0x3864_2345), ILLEGAL);
    // ... even at a 64-byte boundary: opcode 1 is simply not an instruction there.
    assert_eq!(
        try_exec2_at(&mut c, CODE + 60, 0x0600_0001, 0x3864_2345),
        ILLEGAL
    );
    c.model = CpuModel::Power10;
    assert_eq!(try_exec2(&mut c, 0x0600_0001, 0x3864_2345), Ok(()));
}

#[test]
fn pnop_and_invalid_prefixes() {
    let mut c = cpu();
    exec2(&mut c, 0x0700_0000, 0x0000_0000); // pnop
    exec2(&mut c, 0x0700_0000, 0x3860_0001); // pnop with an addi suffix: not executed
    assert_ne!(c.gpr[3], 1);
    // A branch suffix is invalid.
    assert_eq!(try_exec2(&mut c, 0x0700_0000, 0x4800_0008), ILLEGAL);
    assert_eq!(try_exec2(&mut c, 0x0700_0000, 0x4e80_0020), ILLEGAL);
    // MMA (MMIRR) prefixes: not implemented.
    assert_eq!(try_exec2(&mut c, 0x0790_0000, 0xec00_0000), ILLEGAL);
    // Unknown suffix opcodes for the prefix type.
    assert_eq!(try_exec2(&mut c, ls8(false, 0), sfx(32, 3, 4, 0)), ILLEGAL);
    assert_eq!(try_exec2(&mut c, mls(false, 0), sfx(57, 3, 4, 0)), ILLEGAL);
    // ST (bit 8) set.
    assert_eq!(try_exec2(&mut c, 0x0680_0000, sfx(14, 3, 4, 0)), ILLEGAL);
    // Loads with R = 1 and RA != 0.
    assert_eq!(try_exec2(&mut c, ls8(true, 0), sfx(57, 3, 4, 0)), ILLEGAL);
}

#[test]
fn splat_immediates() {
    let mut c = cpu();
    // xxspltiw vs3,0x12345678
    exec2(&mut c, 0x0500_1234, 0x8066_5678);
    assert_eq!(c.vsr[3], [0x1234_5678_1234_5678; 2]);
    // TX (suffix bit 15) selects VSR 35.
    exec2(&mut c, 0x0500_1234, 0x8067_5678);
    assert_eq!(c.vsr[35], [0x1234_5678_1234_5678; 2]);
    // xxspltidp vs3,1.5f
    exec2(&mut c, 0x0500_3fc0, 0x8064_0000);
    assert_eq!(c.vsr[3], [0x3ff8_0000_0000_0000; 2]);
    // A single-precision denormal (2^-149; the ISA leaves the result undefined) is converted
    // exactly here, to a normal double.
    exec2(&mut c, 0x0500_0000, 0x8064_0001);
    assert_eq!(c.vsr[3], [(1023 - 149) << 52; 2]);
    // xxsplti32dx vs3,IX,imm: words IX and IX+2 only.
    c.vsr[3] = [0x1111_1111_2222_2222, 0x3333_3333_4444_4444];
    exec2(&mut c, 0x0500_abcd, 0x8060_ef01);
    assert_eq!(c.vsr[3], [0xabcd_ef01_2222_2222, 0xabcd_ef01_4444_4444]);
    exec2(&mut c, 0x0500_1234, 0x8062_5678);
    assert_eq!(c.vsr[3], [0xabcd_ef01_1234_5678, 0xabcd_ef01_1234_5678]);
}

/// 8RR:XX4 suffix: opcode, T, A, B, C, xo (bits 26:27); register numbers below 32.
fn xx4(op: u32, t: u32, a: u32, b: u32, cc: u32, xo: u32) -> u32 {
    op << 26 | t << 21 | a << 16 | b << 11 | cc << 6 | xo << 4
}

#[test]
fn permute_blend_eval() {
    let mut c = cpu();
    assert_eq!(xx4(34, 3, 4, 5, 6, 0), 0x8864_2980);
    let a: [u8; 16] = std::array::from_fn(|k| k as u8);
    let b: [u8; 16] = std::array::from_fn(|k| 0x10 + k as u8);
    c.set_vsr128(4, u128::from_be_bytes(a));
    c.set_vsr128(5, u128::from_be_bytes(b));
    // Selectors: index in bits 3:7, bits 0:2 compared with UIM = 7 (0xe0) or not.
    let sel: [u8; 16] = [
        0xe0, 0xff, 0x1f, 0xe5, 0xf0, 0x00, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9,
        0xea,
    ];
    c.set_vsr128(6, u128::from_be_bytes(sel));
    exec2(&mut c, 0x0500_0007, xx4(34, 3, 4, 5, 6, 0)); // xxpermx vs3,vs4,vs5,vs6,7
    let want: [u8; 16] = [0, 0x1f, 0, 5, 0x10, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    assert_eq!(c.vsr128(3).to_be_bytes(), want);
    // UIM bits with reserved prefix bits set: invalid.
    assert_eq!(
        try_exec2(&mut c, 0x0500_0107, xx4(34, 3, 4, 5, 6, 0)),
        ILLEGAL
    );

    // xxblendvb: bytes of XB where XC's byte is negative.
    let m: [u8; 16] = std::array::from_fn(|k| if k % 3 == 0 { 0x80 } else { 0x7f });
    c.set_vsr128(6, u128::from_be_bytes(m));
    exec2(&mut c, 0x0500_0000, xx4(33, 3, 4, 5, 6, 0));
    let want: [u8; 16] = std::array::from_fn(|k| if k % 3 == 0 { b[k] } else { a[k] });
    assert_eq!(c.vsr128(3).to_be_bytes(), want);
    // xxblendvw: words 0 and 3 have their sign bit set in XC (bytes 0 and 12).
    exec2(&mut c, 0x0500_0000, xx4(33, 3, 4, 5, 6, 2));
    let want: [u8; 16] = std::array::from_fn(|k| if !(4..12).contains(&k) { b[k] } else { a[k] });
    assert_eq!(c.vsr128(3).to_be_bytes(), want);
    // xxblendvd: doubleword 0's sign bit (byte 0) is set, doubleword 1's (byte 8) is not.
    exec2(&mut c, 0x0500_0000, xx4(33, 3, 4, 5, 6, 3));
    let want: [u8; 16] = std::array::from_fn(|k| if k < 8 { b[k] } else { a[k] });
    assert_eq!(c.vsr128(3).to_be_bytes(), want);

    // xxeval: IMM bit j (from the MSB) is the result for A,B,C = the bits of j.
    c.set_vsr128(4, 0xf0);
    c.set_vsr128(5, 0xcc);
    c.set_vsr128(6, 0xaa);
    for (imm, want) in [
        (0x01u32, 0x80u128), // A & B & C
        (0x69, 0x96),        // A ^ B ^ C
        (0x0f, 0xf0),        // A (the minterms with A = 1: j = 4..7)
        (0x00, 0),
        (0xff, !0),
    ] {
        exec2(&mut c, 0x0500_0000 | imm, xx4(34, 3, 4, 5, 6, 1));
        assert_eq!(c.vsr128(3), want, "imm {imm:#x}");
    }
}
