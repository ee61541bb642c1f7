//! Unit tests of the ISA 3.1 non-prefixed instructions. Expected values are worked out by hand
//! from the ISA 3.1 definitions; instruction words come from `powerpc64le-linux-gnu-as -mpower10`.

use super::decode;
use crate::cpu::{msr, Cpu, CpuModel, Exception, ProgramKind};
use crate::insn::Insn;
use crate::testutil::{self, try_exec, va_form, vx_form, x_form, DATA};

/// A POWER10 test CPU (little-endian, problem state, FP/VEC/VSX on).
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

fn exec(c: &mut Cpu, w: u32) {
    if let Err(e) = try_exec(c, w) {
        panic!("{w:#010x} raised {e:?}");
    }
}

/// Bytes `first, first+1, ...` as a vector (byte 0 leftmost).
fn seq(first: u8) -> u128 {
    let mut b = [0u8; 16];
    for (k, x) in b.iter_mut().enumerate() {
        *x = first.wrapping_add(k as u8);
    }
    u128::from_be_bytes(b)
}

const ILLEGAL: Result<(), Exception> = Err(Exception::Program(ProgramKind::Illegal));

/// Words assembled with `as -mpower10` (operands as in the comment).
const ENCODINGS: &[u32] = &[
    0x7c8301b6, // brh r3,r4
    0x7c830136, // brw r3,r4
    0x7c830176, // brd r3,r4
    0x7c650300, // setbc r3,4*cr1+gt
    0x7c650340, // setbcr
    0x7c650380, // setnbc
    0x7c6503c0, // setnbcr
    0x7c832938, // pdepd r3,r4,r5
    0x7c832978, // pextd
    0x7c8329b8, // cfuged
    0x7c832876, // cntlzdm
    0x7c832c76, // cnttzdm
    0x7c64281a, // lxvrbx vs3,r4,r5
    0x7c6428da, // lxvrdx
    0x7c64291a, // stxvrbx
    0x7c6429da, // stxvrdx
    0x18440010, // lxvp vs2,16(r4)
    0x18440011, // stxvp vs2,16(r4)
    0x7c442a9a, // lxvpx vs2,r4,r5
    0x7c442b9a, // stxvpx
    0x10682642, // vextractbm r3,v4
    0x106c2642, // vextractqm
    0x10602642, // vexpandbm v3,v4
    0x10702642, // mtvsrbm v3,r4
    0x107a1214, // mtvsrbmi v3,0x1234
    0x10792642, // vcntmbb r3,v4,1
    0x1060200d, // vstribl v3,v4
    0x1063240d, // vstrihr. v3,v4
    0x10642998, // vextdubvlx v3,v4,v5,r6
    0x1064299f, // vextddvrx
    0x10642a0f, // vinsblx v3,r4,r5
    0x1064280f, // vinsbvlx v3,r4,v5
    0x106820cf, // vinsw v3,r4,8
    0x106428d6, // vsldbi v3,v4,v5,3
    0x10642ad6, // vsrdbi v3,v4,v5,3
    0x1064298d, // vclrlb v3,v4,r5
    0x10642dcd, // vpdepd
    0x10642f84, // vclzdm
    0x10642b89, // vmulhsw
    0x106429c9, // vmulld
    0x10642bc8, // vmulesd
    0x1064290b, // vdivsq
    0x10642a0b, // vdiveuq
    0x10642e0b, // vmoduq
    0x107b2602, // vextsd2q
    0x10642dc7, // vcmpequq.
    0x10842941, // vcmpsq cr1,v4,v5
    0x10642805, // vrlq
    0x10642b05, // vsraq
    0xf082276c, // xvtlsbb cr1,vs4
    0xf07f2ad0, // lxvkq vs3,5
    0x7c00068c, // cp_abort
];

#[test]
fn decode_claims_the_assembled_words_only() {
    for &w in ENCODINGS {
        assert!(decode(Insn(w)).is_some(), "{w:#010x}");
    }
    for w in [
        0x7c8309b6u32, // brh with RB != 0
        0x7c8301b7,    // brh with Rc = 1
        0x7c650301,    // setbc with Rc = 1
        0x1065200d,    // vstri with VRA = 5
        0x10652642,    // xo 1602 selector 5 (reserved)
        0x10f820cf,    // vinsw with bit 11 set
        0x10a42941,    // vcmpsq with bits 9:10 set
        0xf07a2ad0,    // lxvkq with UIM 10 (undefined)
        0x18440012,    // opcode 6 xo 2
        0x7c442a9b,    // lxvpx with bit 31 set
        0x7c00068d,    // cp_abort with bit 31 set
    ] {
        assert!(decode(Insn(w)).is_none(), "{w:#010x}");
    }
    // Selector 21..23 of xo 1602 are reserved.
    assert!(decode(Insn(0x10752642)).is_none());
}

#[test]
fn byte_reverse() {
    let mut c = cpu();
    c.gpr[4] = 0x0102_0304_0506_0708;
    exec(&mut c, 0x7c8301b6);
    assert_eq!(c.gpr[3], 0x0201_0403_0605_0807);
    exec(&mut c, 0x7c830136);
    assert_eq!(c.gpr[3], 0x0403_0201_0807_0605);
    exec(&mut c, 0x7c830176);
    assert_eq!(c.gpr[3], 0x0807_0605_0403_0201);
}

#[test]
fn set_boolean() {
    let mut c = cpu();
    // BI = 5: CR1[GT].
    for (cr, set) in [(0x0400_0000u32, true), (0x0800_0000, false)] {
        c.cr = cr;
        let b = set as u64;
        exec(&mut c, 0x7c650300);
        assert_eq!(c.gpr[3], b, "setbc");
        exec(&mut c, 0x7c650340);
        assert_eq!(c.gpr[3], 1 - b, "setbcr");
        exec(&mut c, 0x7c650380);
        assert_eq!(c.gpr[3], if set { u64::MAX } else { 0 }, "setnbc");
        exec(&mut c, 0x7c6503c0);
        assert_eq!(c.gpr[3], if set { 0 } else { u64::MAX }, "setnbcr");
    }
}

#[test]
fn deposit_extract_centrifuge_masked_counts() {
    let mut c = cpu();
    let run = |c: &mut Cpu, w: u32, rs: u64, rb: u64| {
        c.gpr[4] = rs;
        c.gpr[5] = rb;
        exec(c, w);
        c.gpr[3]
    };
    // pdepd: source bits 1,1,0,1,0.. (from the LSB) into mask positions 4..7 and 12..15.
    assert_eq!(run(&mut c, 0x7c832938, 0b1011, 0xf0f0), 0xb0);
    assert_eq!(run(&mut c, 0x7c832938, 0x1234, u64::MAX), 0x1234);
    assert_eq!(run(&mut c, 0x7c832938, u64::MAX, 0), 0);
    // pextd: bits 8..15, then the top nibble.
    assert_eq!(run(&mut c, 0x7c832978, 0x1234_5678_9abc_def0, 0xff00), 0xde);
    assert_eq!(
        run(&mut c, 0x7c832978, 0x1234_5678_9abc_def0, 0xf << 60),
        0x1
    );
    // cfuged: bits under ones (the low nibbles) to the right, the others to the left.
    assert_eq!(
        run(
            &mut c,
            0x7c8329b8,
            0x0123_4567_89ab_cdef,
            0x0f0f_0f0f_0f0f_0f0f
        ),
        0x0246_8ace_1357_9bdf
    );
    assert_eq!(run(&mut c, 0x7c8329b8, 0xabcd, u64::MAX), 0xabcd);
    assert_eq!(run(&mut c, 0x7c8329b8, 0xabcd, 0), 0xabcd);
    // cntlzdm/cnttzdm over the 8 bits 4..11: selected value 0b0000_1111.
    assert_eq!(run(&mut c, 0x7c832876, 0xf0, 0xff0), 4);
    assert_eq!(run(&mut c, 0x7c832c76, 0xf0, 0xff0), 0);
    assert_eq!(run(&mut c, 0x7c832c76, 0xe00, 0xff0), 5);
    // No selected one: the count is the number of selected bits.
    assert_eq!(run(&mut c, 0x7c832876, 0, 0xff0), 8);
    assert_eq!(run(&mut c, 0x7c832c76, 0, 0xff0), 8);
    assert_eq!(run(&mut c, 0x7c832876, u64::MAX, 0), 0);
}

fn put(c: &Cpu, at: u64, b: &[u8]) {
    assert!(c.mem.write(at, b));
}

fn get(c: &Cpu, at: u64, n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    assert!(c.mem.read(at, &mut b));
    b
}

#[test]
fn rightmost_element_loads_and_stores() {
    let bytes: Vec<u8> = (0x11..0x19).collect();
    for mut c in [cpu(), cpu_be()] {
        put(&c, DATA, &bytes);
        c.gpr[4] = DATA;
        c.gpr[5] = 0;
        c.set_vsr128(3, u128::MAX);
        let words: [(u32, u128, u128); 4] = [
            (0x7c64281a, 0x11, 0x11),                                   // lxvrbx
            (0x7c64285a, 0x1211, 0x1112),                               // lxvrhx
            (0x7c64289a, 0x1413_1211, 0x1112_1314),                     // lxvrwx
            (0x7c6428da, 0x1817_1615_1413_1211, 0x1112_1314_1516_1718), // lxvrdx
        ];
        for (w, le, be) in words {
            exec(&mut c, w);
            assert_eq!(c.vsr128(3), if c.le { le } else { be }, "{w:#x}");
        }
        // The stores write the rightmost element back in the current byte order.
        for (k, w) in [0x7c64291au32, 0x7c64295a, 0x7c64299a, 0x7c6429da]
            .into_iter()
            .enumerate()
        {
            let n = 1 << k;
            c.gpr[4] = DATA + 0x100;
            put(&c, DATA + 0x100, &[0; 8]);
            exec(&mut c, w);
            // The rightmost element: in LE its low byte came from the lowest address, in BE from
            // the highest.
            let mut want = if c.le {
                bytes[..n].to_vec()
            } else {
                bytes[8 - n..].to_vec()
            };
            want.resize(8, 0);
            assert_eq!(get(&c, DATA + 0x100, 8), want, "{w:#x}");
        }
    }
}

#[test]
fn paired_loads_and_stores() {
    let bytes: Vec<u8> = (0..32).collect();
    for mut c in [cpu(), cpu_be()] {
        put(&c, DATA + 16, &bytes);
        c.gpr[4] = DATA;
        exec(&mut c, 0x18440010); // lxvp vs2,16(r4)
        if c.le {
            // One little-endian 32-byte value: VSR 2 holds its high half (bytes 31..16).
            assert_eq!(c.vsr128(3), u128::from_le_bytes(seq(0).to_be_bytes()));
            assert_eq!(c.vsr128(2), u128::from_le_bytes(seq(16).to_be_bytes()));
        } else {
            assert_eq!(c.vsr128(2), seq(0));
            assert_eq!(c.vsr128(3), seq(16));
        }
        // stxvp vs2,48(r4) writes the same 32 bytes back.
        exec(&mut c, 0x18440031);
        assert_eq!(get(&c, DATA + 48, 32), bytes);
        // lxvpx vs2,r4,r5 / stxvpx.
        c.gpr[5] = 16;
        c.set_vsr128(2, 0);
        c.set_vsr128(3, 0);
        exec(&mut c, 0x7c442a9a);
        c.gpr[5] = 0x80;
        exec(&mut c, 0x7c442b9a);
        assert_eq!(get(&c, DATA + 0x80, 32), bytes);
    }
    // TX = 1 addresses the VRs: lxvp vs34,0(r4) (Tp = 1, TX = 1).
    let mut c = cpu_be();
    put(&c, DATA, &bytes);
    c.gpr[4] = DATA;
    exec(&mut c, 6 << 26 | 0b00011 << 21 | 4 << 16);
    assert_eq!((c.vr(2), c.vr(3)), (seq(0), seq(16)));
    // The facility follows the register half.
    c.set_msr(c.msr & !msr::VSX);
    assert_eq!(try_exec(&mut c, 0x18440010), Err(Exception::VsxUnavailable));
    exec(&mut c, 6 << 26 | 0b00011 << 21 | 4 << 16);
    c.set_msr(c.msr & !msr::VEC);
    assert_eq!(
        try_exec(&mut c, 6 << 26 | 0b00011 << 21 | 4 << 16),
        Err(Exception::VecUnavailable)
    );
}

#[test]
fn mask_extract_expand_move_count() {
    let mut c = cpu();
    // Bytes alternate 0x80, 0x7f: the byte MSBs are 1010...
    let v = u128::from_be_bytes([0x80, 0x7f].repeat(8).try_into().unwrap());
    c.set_vr(4, v);
    exec(&mut c, 0x10682642); // vextractbm r3,v4
    assert_eq!(c.gpr[3], 0xaaaa);
    exec(&mut c, 0x10692642); // vextracthm: halfwords 0x807f all negative
    assert_eq!(c.gpr[3], 0xff);
    exec(&mut c, 0x106c2642); // vextractqm
    assert_eq!(c.gpr[3], 1);
    exec(&mut c, 0x10602642); // vexpandbm v3,v4
    let want = u128::from_be_bytes([0xff, 0].repeat(8).try_into().unwrap());
    assert_eq!(c.vr(3), want);
    c.set_vr(4, 1u128 << 63);
    exec(&mut c, 0x10632642); // vexpanddm: only doubleword 1 is negative
    assert_eq!(c.vr(3), u64::MAX as u128);
    // mtvsrbm v3,r4: bits 48:63 of r4, bit 48 for byte 0.
    c.gpr[4] = 0xffff_ffff_ffff_8001;
    exec(&mut c, 0x10702642);
    assert_eq!(c.vr(3), 0xff << 120 | 0xff);
    c.gpr[4] = 0b10;
    exec(&mut c, 0x10732642); // mtvsrdm
    assert_eq!(c.vr(3), (u64::MAX as u128) << 64);
    // mtvsrbmi v3,0x1234: 0001 0010 0011 0100.
    exec(&mut c, 0x107a1214);
    let b: [u8; 16] = [
        0, 0, 0, 0xff, 0, 0, 0xff, 0, 0, 0, 0xff, 0xff, 0, 0xff, 0, 0,
    ];
    assert_eq!(c.vr(3), u128::from_be_bytes(b));
    // vcntmbb r3,v4,1 counts negative bytes into bits 0:7; MP=0 counts the others.
    c.set_vr(4, v);
    exec(&mut c, 0x10792642);
    assert_eq!(c.gpr[3], 8 << 56);
    exec(&mut c, 0x10782642);
    assert_eq!(c.gpr[3], 8 << 56);
    // vcntmbd: bits 0:4.
    c.set_vr(4, 1u128 << 127);
    exec(&mut c, 0x107f2642);
    assert_eq!(c.gpr[3], 1 << 59);
}

#[test]
fn string_isolate() {
    let mut c = cpu();
    let b: [u8; 16] = *b"ab\0cdefghijklm\0n";
    c.set_vr(4, u128::from_be_bytes(b));
    exec(&mut c, 0x1060200d); // vstribl
    let mut want = [0u8; 16];
    want[..2].copy_from_slice(b"ab");
    assert_eq!(c.vr(3).to_be_bytes(), want);
    c.cr = 0;
    exec(&mut c, 0x1061240d); // vstribr.: 'n' then the null
    let mut want = [0u8; 16];
    want[15] = b'n';
    assert_eq!(c.vr(3).to_be_bytes(), want);
    assert_eq!(c.crf(6), 0b0010);
    // No null: everything copied, CR6 = 0.
    c.set_vr(4, seq(1));
    c.cr = 0xffff_ffff;
    exec(&mut c, 0x1060240d);
    assert_eq!(c.vr(3), seq(1));
    assert_eq!(c.crf(6), 0);
    // Halfwords: 0x0100 is not null although its low byte is.
    let h: [u8; 16] = [1, 0, 2, 0, 0, 0, 3, 3, 0, 0, 0, 0, 0, 0, 0, 9];
    c.set_vr(4, u128::from_be_bytes(h));
    exec(&mut c, 0x1062200d); // vstrihl
    let mut want = [0u8; 16];
    want[..4].copy_from_slice(&[1, 0, 2, 0]);
    assert_eq!(c.vr(3).to_be_bytes(), want);
    exec(&mut c, 0x1063200d); // vstrihr: the rightmost halfword only
    let mut want = [0u8; 16];
    want[15] = 9;
    assert_eq!(c.vr(3).to_be_bytes(), want);
}

#[test]
fn extract_by_gpr_index() {
    let mut c = cpu();
    c.set_vr(4, seq(0));
    c.set_vr(5, seq(16));
    // va_form(vrt, vra, vrb, rc, xo)
    let ext = |c: &mut Cpu, xo: u32, idx: u64| {
        c.gpr[6] = idx;
        exec(c, va_form(3, 4, 5, 6, xo));
        c.vr(3)
    };
    assert_eq!(ext(&mut c, 24, 5), 0x05 << 64); // vextdubvlx
    assert_eq!(ext(&mut c, 24, 0x25), 0x05 << 64, "index is RC[59:63]");
    assert_eq!(ext(&mut c, 25, 0), 0x1f << 64); // vextdubvrx
    assert_eq!(ext(&mut c, 26, 15), 0x0f10 << 64); // vextduhvlx across VRA/VRB
    assert_eq!(ext(&mut c, 27, 0), 0x1e1f << 64); // vextduhvrx
    assert_eq!(ext(&mut c, 28, 1), 0x0102_0304 << 64); // vextduwvlx
    assert_eq!(ext(&mut c, 29, 4), 0x1819_1a1b << 64); // vextduwvrx
    assert_eq!(ext(&mut c, 30, 24), 0x1819_1a1b_1c1d_1e1f << 64); // vextddvlx
    assert_eq!(ext(&mut c, 31, 24), 0x0001_0203_0405_0607 << 64); // vextddvrx
                                                                  // Past the 32 bytes: undefined in the ISA, zero here.
    assert_eq!(ext(&mut c, 30, 25), 0);
}

#[test]
fn insert_by_gpr_index_and_immediate() {
    let mut c = cpu();
    let ins = |c: &mut Cpu, xo: u32, idx: u64, x: u64| {
        c.set_vr(3, seq(0));
        c.gpr[4] = idx;
        c.gpr[5] = x;
        exec(c, vx_form(3, 4, 5, xo));
        c.vr(3).to_be_bytes()
    };
    let mut want = seq(0).to_be_bytes();
    want[3] = 0xab;
    assert_eq!(ins(&mut c, 527, 3, 0x12ab), want); // vinsblx
    let mut want = seq(0).to_be_bytes();
    want[12] = 0xab;
    assert_eq!(ins(&mut c, 783, 3, 0xab), want); // vinsbrx: byte 15-3
    let mut want = seq(0).to_be_bytes();
    want[12..].copy_from_slice(&[0xa1, 0xa2, 0xa3, 0xa4]);
    assert_eq!(ins(&mut c, 911, 0, 0xffff_ffff_a1a2_a3a4), want); // vinswrx
    let mut want = seq(0).to_be_bytes();
    want[8..].copy_from_slice(&0x1122_3344_5566_7788u64.to_be_bytes());
    assert_eq!(ins(&mut c, 719, 8, 0x1122_3344_5566_7788), want); // vinsdlx
                                                                  // Index beyond the vector: undefined, VRT unchanged here.
    assert_eq!(ins(&mut c, 719, 9, 0), seq(0).to_be_bytes());
    // vinshvlx v3,r4,v5: halfword 3 of VRB.
    c.set_vr(3, 0);
    c.set_vr(5, 0x1111_2222_3333_4444u128 << 64 | 0x5555);
    c.gpr[4] = 2;
    exec(&mut c, vx_form(3, 4, 5, 79));
    assert_eq!(c.vr(3), 0x4444u128 << 96);
    // vinsw v3,r4,8: bytes 8..11.
    c.set_vr(3, 0);
    c.gpr[4] = 0x9999_9999_dead_beef;
    exec(&mut c, 0x106820cf);
    assert_eq!(c.vr(3), 0xdead_beefu128 << 32);
    // vinsd v3,r4,0.
    exec(&mut c, vx_form(3, 0, 4, 463));
    assert_eq!(
        c.vr(3),
        (0x9999_9999_dead_beefu128 << 64) | 0xdead_beefu128 << 32
    );
}

#[test]
fn double_shifts_and_clears() {
    let mut c = cpu();
    c.set_vr(4, 1u128 << 127 | 0xf0);
    c.set_vr(5, 0xe000_0000_0000_0000_0000_0000_0000_0001);
    exec(&mut c, 0x106428d6); // vsldbi v3,v4,v5,3
    assert_eq!(c.vr(3), 0xf0 << 3 | 0x7);
    exec(&mut c, 0x10642ad6); // vsrdbi v3,v4,v5,3
    assert_eq!(c.vr(3), 0x1c00_0000_0000_0000_0000_0000_0000_0000);
    // vsldbi with SH = 0 is VRA, vsrdbi VRB.
    exec(&mut c, va_form(3, 4, 5, 0, 22));
    assert_eq!(c.vr(3), c.vr(4));
    c.set_vr(4, seq(1));
    for (n, l, r) in [
        (3u64, 0x0e0f10u128, 0x010203u128 << 104),
        (0, 0, 0),
        (16, seq(1), seq(1)),
        (u64::MAX, seq(1), seq(1)),
    ] {
        c.gpr[5] = n;
        exec(&mut c, 0x1064298d); // vclrlb
        assert_eq!(c.vr(3), l, "vclrlb {n}");
        exec(&mut c, 0x106429cd); // vclrrb
        assert_eq!(c.vr(3), r, "vclrrb {n}");
    }
}

#[test]
fn doubleword_bit_manipulation() {
    let mut c = cpu();
    c.set_vr(4, (0x1234u128) << 64 | 0xf0);
    c.set_vr(5, (u64::MAX as u128) << 64 | 0xff0);
    exec(&mut c, 0x10642dcd); // vpdepd
    assert_eq!(c.vr(3), (0x1234u128) << 64 | 0xf00);
    exec(&mut c, 0x10642d8d); // vpextd
    assert_eq!(c.vr(3), (0x1234u128) << 64 | 0x0f);
    exec(&mut c, 0x10642f84); // vclzdm
    assert_eq!(c.vr(3), (51u128) << 64 | 4);
    exec(&mut c, 0x10642fc4); // vctzdm
    assert_eq!(c.vr(3), (2u128) << 64);
    exec(&mut c, 0x10642d4d); // vcfuged: dw1 = 0x..0f0 under 0x..ff0
    assert_eq!(c.vr(3), (0x1234u128) << 64 | 0x0f);
}

/// Four words as a vector.
fn w4(w: [u32; 4]) -> u128 {
    w.iter().fold(0, |v, &x| v << 32 | x as u128)
}

fn d2(a: u64, b: u64) -> u128 {
    (a as u128) << 64 | b as u128
}

#[test]
fn multiplies() {
    let mut c = cpu();
    c.set_vr(4, w4([0xffff_ffff, 0x8000_0000, 3, 0x1_0000]));
    c.set_vr(5, w4([0xffff_ffff, 2, 5, 0x1_0000]));
    exec(&mut c, 0x10642b89); // vmulhsw: (-1*-1)>>32 = 0, (-2^31*2)>>32 = -1
    assert_eq!(c.vr(3), w4([0, 0xffff_ffff, 0, 1]));
    exec(&mut c, 0x10642a89); // vmulhuw
    assert_eq!(c.vr(3), w4([0xffff_fffe, 1, 0, 1]));
    c.set_vr(4, d2(u64::MAX, 1 << 63));
    c.set_vr(5, d2(u64::MAX, 4));
    exec(&mut c, 0x10642bc9); // vmulhsd: -1*-1 = 1 -> high 0; -2^63*4 = -2^65 -> high -2
    assert_eq!(c.vr(3), d2(0, (-2i64) as u64));
    exec(&mut c, 0x10642ac9); // vmulhud
    assert_eq!(c.vr(3), d2(u64::MAX - 1, 2));
    exec(&mut c, 0x106429c9); // vmulld
    assert_eq!(c.vr(3), d2(1, 0));
    exec(&mut c, 0x10642bc8); // vmulesd: doubleword 0, signed: 1
    assert_eq!(c.vr(3), 1);
    exec(&mut c, 0x10642ac8); // vmuleud: (2^64-1)^2
    assert_eq!(c.vr(3), (u64::MAX as u128) * (u64::MAX as u128));
    exec(&mut c, 0x106429c8); // vmulosd: -2^63 * 4
    assert_eq!(c.vr(3), (-(1i128 << 65)) as u128);
    exec(&mut c, 0x106428c8); // vmuloud: 2^63 * 4
    assert_eq!(c.vr(3), 1u128 << 65);
}

#[test]
fn divides_and_moduli() {
    let mut c = cpu();
    c.set_vr(4, w4([7, (-7i32) as u32, 100, 0x8000_0000]));
    c.set_vr(5, w4([2, 2, 0, 0xffff_ffff]));
    exec(&mut c, 0x1064298b); // vdivsw
    assert_eq!(c.vr(3), w4([3, (-3i32) as u32, 0, 0x8000_0000]));
    exec(&mut c, 0x1064288b); // vdivuw
    assert_eq!(c.vr(3), w4([3, 0x7fff_fffc, 0, 0]));
    exec(&mut c, 0x10642f8b); // vmodsw: the sign of the dividend
    assert_eq!(c.vr(3), w4([1, (-1i32) as u32, 0, 0]));
    exec(&mut c, 0x10642e8b); // vmoduw
    assert_eq!(c.vr(3), w4([1, 1, 0, 0x8000_0000]));
    // vdiveuw: (1 << 32) / 3 in word 0.
    c.set_vr(4, w4([1, 0, 0, 0]));
    c.set_vr(5, w4([3, 1, 1, 1]));
    exec(&mut c, 0x10642a8b);
    assert_eq!(c.vr(3), w4([0x5555_5555, 0, 0, 0]));
    // Quadwords.
    c.set_vr(4, (-100i128) as u128);
    c.set_vr(5, 7);
    exec(&mut c, 0x1064290b); // vdivsq
    assert_eq!(c.vr(3), (-14i128) as u128);
    exec(&mut c, 0x10642f0b); // vmodsq
    assert_eq!(c.vr(3), (-2i128) as u128);
    exec(&mut c, 0x1064280b); // vdivuq
    assert_eq!(c.vr(3), ((-100i128) as u128) / 7);
    exec(&mut c, 0x10642e0b); // vmoduq
    assert_eq!(c.vr(3), ((-100i128) as u128) % 7);
    // vdiveuq: 2^128 / 3 = 0x5555...5555; vdivesq: -2^128 / 3.
    c.set_vr(4, 1);
    c.set_vr(5, 3);
    exec(&mut c, 0x10642a0b);
    assert_eq!(c.vr(3), u128::MAX / 3);
    c.set_vr(4, u128::MAX); // -1
    exec(&mut c, 0x10642b0b);
    assert_eq!(c.vr(3), (u128::MAX / 3).wrapping_neg());
    // vdiveud: (5 << 64) / 10 in doubleword 0; doubleword 1 by zero gives 0.
    c.set_vr(4, d2(5, 1));
    c.set_vr(5, d2(10, 0));
    exec(&mut c, 0x10642acb);
    assert_eq!(c.vr(3), d2(1 << 63, 0));
}

#[test]
fn quadword_sign_extend_compare_rotate_shift() {
    let mut c = cpu();
    c.set_vr(4, d2(0x1234, 0x8000_0000_0000_0000));
    exec(&mut c, 0x107b2602); // vextsd2q v3,v4
    assert_eq!(c.vr(3), (i64::MIN as i128) as u128);
    c.set_vr(4, u128::MAX);
    c.set_vr(5, 1);
    c.cr = 0;
    exec(&mut c, 0x10642dc7); // vcmpequq.
    assert_eq!((c.vr(3), c.crf(6)), (0, 0b0010));
    exec(&mut c, 0x10642b87); // vcmpgtsq: -1 > 1 is false
    assert_eq!(c.vr(3), 0);
    exec(&mut c, 0x10642e87); // vcmpgtuq.
    assert_eq!((c.vr(3), c.crf(6)), (u128::MAX, 0b1000));
    exec(&mut c, 0x10842941); // vcmpsq cr1: -1 < 1
    assert_eq!(c.crf(1), 0b1000);
    exec(&mut c, 0x10842901); // vcmpuq cr1: 2^128-1 > 1
    assert_eq!(c.crf(1), 0b0100);
    c.set_vr(5, u128::MAX);
    exec(&mut c, 0x10842901);
    assert_eq!(c.crf(1), 0b0010);
    // Shift amounts come from VRB bits 57:63.
    c.set_vr(4, 1u128 << 127 | 1);
    c.set_vr(5, d2(0xffff_ff04, 0xffff));
    exec(&mut c, 0x10642805); // vrlq by 4
    assert_eq!(c.vr(3), 0x18);
    exec(&mut c, 0x10642905); // vslq
    assert_eq!(c.vr(3), 0x10);
    exec(&mut c, 0x10642a05); // vsrq
    assert_eq!(c.vr(3), 1u128 << 123);
    exec(&mut c, 0x10642b05); // vsraq
    assert_eq!(c.vr(3), 0xf8u128 << 120);
    // vrlqnm: rotate by 4, mask bits 120..127 (mb = 120 in bits 41:47, me = 127 in 49:55).
    c.set_vr(5, d2(120 << 16 | 127 << 8 | 4, 0));
    exec(&mut c, 0x10642945);
    assert_eq!(c.vr(3), 0x18);
    // vrlqmi keeps VRT outside the mask.
    c.set_vr(3, u128::MAX);
    exec(&mut c, 0x10642845);
    assert_eq!(c.vr(3), !0xffu128 | 0x18);
    // A wrapping mask (mb > me): bits 127 and 0.
    c.set_vr(5, d2(127 << 16, 0));
    c.set_vr(4, u128::MAX);
    exec(&mut c, 0x10642945);
    assert_eq!(c.vr(3), 1u128 << 127 | 1);
}

#[test]
fn vsx_test_lsb_and_load_constant() {
    let mut c = cpu();
    c.set_vsr128(4, 0x0101_0101_0101_0101_0101_0101_0101_0101);
    exec(&mut c, 0xf082276c); // xvtlsbb cr1,vs4
    assert_eq!(c.crf(1), 0b1000);
    c.set_vsr128(4, 0xfefe_fefe_fefe_fefe_fefe_fefe_fefe_fefe);
    exec(&mut c, 0xf082276c);
    assert_eq!(c.crf(1), 0b0010);
    c.set_vsr128(4, 1);
    exec(&mut c, 0xf082276c);
    assert_eq!(c.crf(1), 0);
    // lxvkq: quad-precision constants (sign, 15-bit exponent biased by 16383, fraction).
    for (uim, hi) in [
        (1u32, 0x3fff_0000_0000_0000u64), // 1.0
        (3, 0x4000_8000_0000_0000),       // 3.0 = 1.1b * 2^1
        (5, 0x4001_4000_0000_0000),       // 5.0 = 1.01b * 2^2
        (7, 0x4001_c000_0000_0000),       // 7.0 = 1.11b * 2^2
        (8, 0x7fff_0000_0000_0000),       // +Inf
        (9, 0x7fff_8000_0000_0000),       // default QNaN
        (16, 0x8000_0000_0000_0000),      // -0.0
        (18, 0xc000_0000_0000_0000),      // -2.0
        (24, 0xffff_0000_0000_0000),      // -Inf
    ] {
        exec(&mut c, 0xf07f02d0 | uim << 11);
        assert_eq!(c.vsr[3], [hi, 0], "uim {uim}");
    }
    for uim in [0u32, 10, 15, 26, 31] {
        assert_eq!(
            try_exec(&mut c, 0xf07f02d0 | uim << 11),
            ILLEGAL,
            "uim {uim}"
        );
    }
}

#[test]
fn vector_facility_is_checked() {
    let mut c = cpu();
    c.set_msr(c.msr & !msr::VEC);
    assert_eq!(try_exec(&mut c, 0x10682642), Err(Exception::VecUnavailable));
    assert_eq!(try_exec(&mut c, 0x1064298b), Err(Exception::VecUnavailable));
    // The GPR-only ones need nothing.
    exec(&mut c, x_form(31, 4, 3, 0, 219, false));
}
