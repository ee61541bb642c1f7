//! Unit tests for the VMX instructions. Expected values are worked out from the ISA 3.0B
//! definitions (or FIPS-197 / FIPS 180-4 for the crypto group), not from running the code.

use crate::cpu::{Cpu, Exception, ProgramKind};
use crate::testutil::*;

fn bytes(b: [u8; 16]) -> u128 {
    u128::from_be_bytes(b)
}
fn halves(h: [u16; 8]) -> u128 {
    h.iter().fold(0, |v, &x| v << 16 | x as u128)
}
fn words(w: [u32; 4]) -> u128 {
    w.iter().fold(0, |v, &x| v << 32 | x as u128)
}
fn dwords(d: [u64; 2]) -> u128 {
    (d[0] as u128) << 64 | d[1] as u128
}
fn fwords(f: [f32; 4]) -> u128 {
    words(f.map(f32::to_bits))
}
fn word_of(v: u128, k: usize) -> u32 {
    (v >> (96 - 32 * k)) as u32
}
/// Bytes base, base+1, ..., base+15.
fn iota(base: u8) -> u128 {
    bytes(std::array::from_fn(|k| base + k as u8))
}
const ONES8: u128 = u128::MAX / 0xff;

/// Runs a VX-form instruction VR3 <- op(VR1, VR2) on `c`.
fn vx_on(c: &mut Cpu, xo: u32, a: u128, b: u128) -> u128 {
    c.set_vr(1, a);
    c.set_vr(2, b);
    exec(c, vx_form(3, 1, 2, xo));
    c.vr(3)
}
fn vx(xo: u32, a: u128, b: u128) -> u128 {
    vx_on(&mut cpu(), xo, a, b)
}
/// A one-operand VX-form: VR3 <- op(VR2), with `ra` in the VRA field (UIM, SIM or sub-opcode).
fn vx1(xo: u32, ra: u32, b: u128) -> u128 {
    let mut c = cpu();
    c.set_vr(2, b);
    exec(&mut c, vx_form(3, ra, 2, xo));
    c.vr(3)
}
/// A VA-form: VR4 <- op(VR1, VR2, VR3).
fn va_on(c: &mut Cpu, xo: u32, a: u128, b: u128, cc: u128) -> u128 {
    c.set_vr(1, a);
    c.set_vr(2, b);
    c.set_vr(3, cc);
    exec(c, va_form(4, 1, 2, 3, xo));
    c.vr(4)
}
fn va(xo: u32, a: u128, b: u128, cc: u128) -> u128 {
    va_on(&mut cpu(), xo, a, b, cc)
}
fn sat(c: &Cpu) -> bool {
    c.vscr & 1 != 0
}

// Extended opcodes used below.
const VADDUBM: u32 = 0;
const VADDUDM: u32 = 192;
const VADDUQM: u32 = 256;
const VADDCUQ: u32 = 320;
const VADDCUW: u32 = 384;
const VADDUBS: u32 = 512;
const VADDSBS: u32 = 768;
const VADDSWS: u32 = 896;
const VSUBUQM: u32 = 1280;
const VSUBCUQ: u32 = 1344;
const VSUBCUW: u32 = 1408;
const VSUBUWS: u32 = 1664;
const VSUBSHS: u32 = 1856;
const VADDEUQM: u32 = 60;
const VADDECUQ: u32 = 61;
const VSUBEUQM: u32 = 62;
const VSUBECUQ: u32 = 63;

#[test]
fn add_sub_modulo() {
    // Lanes are independent: no carry from doubleword 1 into doubleword 0.
    let r = vx(VADDUDM, dwords([u64::MAX, 5]), dwords([1, 7]));
    assert_eq!(r, dwords([0, 12]));
    assert_eq!(vx(VADDUBM, ONES8 * 0xff, ONES8), 0);
    assert_eq!(
        vx(1152, words([0, 1, 2, 3]), words([1, 1, 1, 1])),
        words([u32::MAX, 0, 1, 2])
    ); // vsubuwm
       // vaddcuw: carry out of each word; vsubcuw: carry of a + ~b + 1, i.e. a >= b.
    let r = vx(
        VADDCUW,
        words([u32::MAX, 1, 0x8000_0000, 0]),
        words([1, 1, 0x8000_0000, 0]),
    );
    assert_eq!(r, words([1, 0, 1, 0]));
    assert_eq!(
        vx(VSUBCUW, words([0, 1, 5, 4]), words([1, 1, 4, 5])),
        words([0, 1, 1, 0])
    );
}

#[test]
fn quadword_carries() {
    // vadduqm carries across the doubleword boundary.
    assert_eq!(vx(VADDUQM, u64::MAX as u128, 1), 1 << 64);
    assert_eq!(vx(VADDUQM, u128::MAX, 2), 1);
    // vaddcuq: the carry out of bit 0 into bit 127 of VRT.
    assert_eq!(vx(VADDCUQ, u128::MAX, 1), 1);
    assert_eq!(vx(VADDCUQ, u128::MAX - 1, 1), 0);
    // vaddeuqm / vaddecuq: the carry in is VRC bit 127 only.
    assert_eq!(va(VADDEUQM, u128::MAX, 0, 1), 0);
    assert_eq!(va(VADDECUQ, u128::MAX, 0, 1), 1);
    assert_eq!(va(VADDEUQM, 5, 6, 2), 11);
    assert_eq!(va(VADDECUQ, u128::MAX, 0, 2), 0);
    assert_eq!(
        va(VADDEUQM, u64::MAX as u128, u64::MAX as u128, 1),
        (1 << 65) - 1
    );
    // Subtraction is a + ~b + carry.
    assert_eq!(vx(VSUBUQM, 0, 1), u128::MAX);
    assert_eq!(vx(VSUBCUQ, 0, 1), 0);
    assert_eq!(vx(VSUBCUQ, 1, 1), 1);
    assert_eq!(va(VSUBEUQM, 5, 3, 1), 2);
    assert_eq!(va(VSUBEUQM, 5, 3, 0), 1);
    assert_eq!(va(VSUBECUQ, 5, 3, 1), 1);
    assert_eq!(va(VSUBECUQ, 3, 5, 1), 0);
    assert_eq!(va(VSUBECUQ, 3, 3, 0), 0);
    assert_eq!(va(VSUBECUQ, 3, 3, 1), 1);
}

#[test]
fn saturating_add_sub_sets_sat() {
    let mut c = cpu();
    c.vscr = 0;
    // In range: no saturation, SAT stays clear.
    assert_eq!(
        vx_on(&mut c, VADDUBS, ONES8 * 0x10, ONES8 * 0x20),
        ONES8 * 0x30
    );
    assert!(!sat(&c));
    // 0xf0 + 0x20 clamps to 0xff in the first byte only.
    let r = vx_on(&mut c, VADDUBS, 0xf0 << 120 | 1, 0x20 << 120 | 1);
    assert_eq!(r, 0xff << 120 | 2);
    assert!(sat(&c));
    // SAT is sticky: a later in-range operation leaves it set.
    vx_on(&mut c, VADDUBS, 0, 0);
    assert!(sat(&c));

    let mut c = cpu();
    c.vscr = 0;
    let r = vx_on(
        &mut c,
        VADDSBS,
        bytes([0x70, 0x90, 0x10, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        bytes([0x70, 0x90, 0x10, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
    );
    assert_eq!(
        r,
        bytes([0x7f, 0x80, 0x20, 0xfe, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    );
    assert!(sat(&c));

    let mut c = cpu();
    c.vscr = 0;
    assert_eq!(
        vx_on(&mut c, VSUBUWS, words([1, 5, 0, 0]), words([2, 3, 0, 0])),
        words([0, 2, 0, 0])
    );
    assert!(sat(&c));

    let mut c = cpu();
    c.vscr = 0;
    let r = vx_on(
        &mut c,
        VADDSWS,
        words([0x7fff_ffff, 0x8000_0000, 1, 0]),
        words([1, 0xffff_ffff, 1, 0]),
    );
    assert_eq!(r, words([0x7fff_ffff, 0x8000_0000, 2, 0]));
    assert!(sat(&c));

    let mut c = cpu();
    c.vscr = 0;
    let r = vx_on(
        &mut c,
        VSUBSHS,
        halves([0x8000, 5, 0, 0, 0, 0, 0, 0]),
        halves([1, 7, 0, 0, 0, 0, 0, 0]),
    );
    assert_eq!(r, halves([0x8000, 0xfffe, 0, 0, 0, 0, 0, 0]));
    assert!(sat(&c));
}

#[test]
fn multiplies() {
    // Even elements are 0, 2, 4, ...; odd are 1, 3, 5, ...
    let a = bytes([0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    let b = bytes([0xff, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(vx(520, a, b), halves([0xfe01, 0, 0, 0, 0, 0, 0, 0])); // vmuleub
    assert_eq!(vx(8, a, b), halves([6, 0, 0, 0, 0, 0, 0, 0])); // vmuloub
    assert_eq!(vx(776, a, b), halves([1, 0, 0, 0, 0, 0, 0, 0])); // vmulesb: -1 * -1
                                                                 // vmulosh: -32768 * 2.
    assert_eq!(
        vx(328, words([0x8000, 0, 0, 0]), words([2, 0, 0, 0])),
        words([0xffff_0000, 0, 0, 0])
    );
    // vmuleuw / vmulesw: words 0 and 2.
    let a = words([0xffff_ffff, 7, 0xffff_fffe, 1]);
    let b = words([0xffff_ffff, 9, 3, 1]);
    assert_eq!(
        vx(648, a, b),
        dwords([0xffff_fffe_0000_0001, 0x2_ffff_fffa])
    );
    assert_eq!(vx(904, a, b), dwords([1, (-6i64) as u64]));
    assert_eq!(vx(136, a, b), dwords([63, 1])); // vmulouw
    assert_eq!(
        vx(137, words([0x10000, 3, 0, 0]), words([0x10001, 5, 0, 0])),
        words([0x10000, 15, 0, 0])
    ); // vmuluwm
}

#[test]
fn multiply_sum_and_high() {
    // vmsumubm: 1*5 + 2*6 + 3*7 + 4*8 + 100.
    let a = words([0x0102_0304, 0, 0, 0]);
    let b = words([0x0506_0708, 0, 0, 0]);
    assert_eq!(va(36, a, b, words([100, 1, 0, 0])), words([170, 1, 0, 0]));
    // vmsummbm: -1*10 + 2*10 + 5 (VRA signed, VRB unsigned).
    assert_eq!(
        va(
            37,
            words([0xff02_0000, 0, 0, 0]),
            words([0x0a0a_0000, 0, 0, 0]),
            words([5, 0, 0, 0])
        ),
        words([15, 0, 0, 0])
    );
    // vmsumshs saturates: 2 * 32767^2 + 0x7fffffff.
    let mut c = cpu();
    c.vscr = 0;
    let x = words([0x7fff_7fff, 0xffff_0001, 0, 0]);
    let r = va_on(&mut c, 41, x, x, words([0x7fff_ffff, 3, 0, 0]));
    assert_eq!(r, words([0x7fff_ffff, 5, 0, 0]));
    assert!(sat(&c));
    // vmsumshm wraps instead.
    assert_eq!(
        va(40, x, x, words([0x7fff_ffff, 3, 0, 0])),
        words([0xfffe_0001, 5, 0, 0])
    );
    // vmsumuhs: 0xffff^2 * 2 overflows 32 bits.
    let mut c = cpu();
    c.vscr = 0;
    let y = words([0xffff_ffff, 0x0002_0003, 0, 0]);
    assert_eq!(
        va_on(&mut c, 39, y, y, words([0, 1, 0, 0])),
        words([0xffff_ffff, 14, 0, 0])
    );
    assert!(sat(&c));
    // vmsumudm: (2^64-1)^2 + 2*3 + 1 = 2^128 - 2^65 + 8.
    let r = va(35, dwords([u64::MAX, 2]), dwords([u64::MAX, 3]), 1);
    assert_eq!(r, 0xffff_ffff_ffff_fffe_0000_0000_0000_0008);
    // vmhaddshs: (0.5 * 0.5) in Q15 + 0x1000; vmhraddshs rounds 1 * 0x4000 up.
    let h = |x: u16| halves([x, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(va(32, h(0x4000), h(0x4000), h(0x1000)), h(0x3000));
    assert_eq!(va(32, h(1), h(0x4000), h(0)), h(0));
    assert_eq!(va(33, h(1), h(0x4000), h(0)), h(1));
    let mut c = cpu();
    c.vscr = 0;
    assert_eq!(
        va_on(&mut c, 32, h(0x7fff), h(0x7fff), h(0x7fff)),
        h(0x7fff)
    );
    assert!(sat(&c));
    // vmladduhm: 0xffff * 2 + 3 modulo 2^16.
    assert_eq!(va(34, h(0xffff), h(2), h(3)), h(1));
}

#[test]
fn sum_across() {
    let mut c = cpu();
    c.vscr = 0;
    // vsumsws: word 3 = sum of VRA words + VRB word 3; the rest cleared.
    assert_eq!(
        vx_on(&mut c, 1928, words([1, 2, 3, 4]), words([9, 9, 9, 10])),
        words([0, 0, 0, 20])
    );
    assert!(!sat(&c));
    assert_eq!(
        vx_on(&mut c, 1928, words([0x7fff_ffff; 4]), 0),
        words([0, 0, 0, 0x7fff_ffff])
    );
    assert!(sat(&c));
    // vsum2sws: words 1 and 3.
    assert_eq!(
        vx(1672, words([1, 2, 3, 4]), words([7, 10, 7, 20])),
        words([0, 13, 0, 27])
    );
    // vsum4ubs: 4 * 0xff + 0xffffffff saturates; 1+2+3+4 + 5.
    let mut c = cpu();
    c.vscr = 0;
    let r = vx_on(
        &mut c,
        1544,
        words([0xffff_ffff, 0x0102_0304, 0, 0]),
        words([0xffff_ffff, 5, 0, 0]),
    );
    assert_eq!(r, words([0xffff_ffff, 15, 0, 0]));
    assert!(sat(&c));
    // vsum4sbs: -1 -1 -1 -1 + 2; vsum4shs: -2 + 1 + 0.
    assert_eq!(
        vx(1800, words([0xffff_ffff, 0, 0, 0]), words([2, 0, 0, 0])),
        words([(-2i32) as u32, 0, 0, 0])
    );
    assert_eq!(
        vx(1608, words([0xfffe_0001, 0, 0, 0]), 0),
        words([u32::MAX, 0, 0, 0])
    );
}

#[test]
fn average_max_min_absdiff() {
    let b = |x: [u8; 4]| bytes([x[0], x[1], x[2], x[3], 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    // vavgub: (255 + 254 + 1) >> 1 = 255 without overflow; vavgsb: (-2 + -1 + 1) >> 1 = -1.
    assert_eq!(
        vx(1026, b([0xff, 1, 0, 0]), b([0xfe, 2, 0, 0])),
        b([0xff, 2, 0, 0])
    );
    assert_eq!(
        vx(1282, b([0xfe, 0xff, 0x7f, 0]), b([0xff, 0, 0x7f, 0])),
        b([0xff, 0, 0x7f, 0])
    );
    assert_eq!(
        vx(
            1410,
            words([0x7fff_ffff, 0, 0, 0]),
            words([0x7fff_ffff, 0, 0, 0])
        ),
        words([0x7fff_ffff, 0, 0, 0])
    );
    assert_eq!(
        vx(258, b([0x80, 0x7f, 0, 0]), b([0x7f, 0x80, 0, 0])),
        b([0x7f, 0x7f, 0, 0])
    ); // vmaxsb
    assert_eq!(
        vx(2, b([0x80, 0x7f, 0, 0]), b([0x7f, 0x80, 0, 0])),
        b([0x80, 0x80, 0, 0])
    ); // vmaxub
    assert_eq!(
        vx(962, dwords([1, u64::MAX]), dwords([u64::MAX, 1])),
        dwords([u64::MAX, u64::MAX])
    ); // vminsd
    assert_eq!(
        vx(706, dwords([1, u64::MAX]), dwords([u64::MAX, 1])),
        dwords([1, 1])
    ); // vminud
    assert_eq!(
        vx(1027, b([3, 250, 0, 0]), b([250, 3, 0, 0])),
        b([247, 247, 0, 0])
    ); // vabsdub
}

#[test]
fn compares_and_cr6() {
    let mut c = cpu();
    let x = iota(0);
    // vcmpequb. with equal operands: all true -> CR6 = 0b1000.
    assert_eq!(vx_on(&mut c, 6 | 1024, x, x), u128::MAX);
    assert_eq!(c.crf(6), 0b1000);
    // vcmpgtub. with every a < b: all false -> 0b0010.
    assert_eq!(vx_on(&mut c, 518 | 1024, x, iota(1)), 0);
    assert_eq!(c.crf(6), 0b0010);
    // Mixed -> 0b0000.
    let r = vx_on(
        &mut c,
        902 | 1024,
        words([1, 0xffff_ffff, 5, 0]),
        words([0, 0, 5, 0xffff_ffff]),
    );
    assert_eq!(r, words([u32::MAX, 0, 0, u32::MAX])); // vcmpgtsw.
    assert_eq!(c.crf(6), 0);
    // The non-record form leaves CR6 alone.
    c.set_crf(6, 0b0101);
    vx_on(&mut c, 6, x, x);
    assert_eq!(c.crf(6), 0b0101);
    // vcmpnezb: unequal, or either element zero.
    let a = bytes([0, 1, 2, 0, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5]);
    let b = bytes([0, 1, 3, 4, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 0]);
    assert_eq!(
        vx(263, a, b),
        bytes([0xff, 0, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff])
    );
    assert_eq!(
        vx(7, a, b),
        bytes([0, 0, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff])
    ); // vcmpneb
    assert_eq!(
        vx(967, dwords([u64::MAX, 1]), dwords([0, 0])),
        dwords([0, u64::MAX])
    ); // vcmpgtsd
    assert_eq!(
        vx(711, dwords([u64::MAX, 1]), dwords([0, 0])),
        dwords([u64::MAX, u64::MAX])
    ); // vcmpgtud
    assert_eq!(
        vx(199, dwords([3, 4]), dwords([3, 5])),
        dwords([u64::MAX, 0])
    ); // vcmpequd
}

#[test]
fn logical() {
    let (a, b) = (
        0xff00_ff00u128 << 96 | 0x1234,
        0xf0f0_f0f0u128 << 96 | 0xffff,
    );
    assert_eq!(vx(1028, a, b), 0xf000_f000u128 << 96 | 0x1234); // vand
    assert_eq!(vx(1092, a, b), 0x0f00_0f00u128 << 96); // vandc
    assert_eq!(vx(1156, a, b), 0xfff0_fff0u128 << 96 | 0xffff); // vor
    assert_eq!(vx(1220, a, b), 0x0ff0_0ff0u128 << 96 | 0xedcb); // vxor
    assert_eq!(vx(1284, a, b), !(0xfff0_fff0u128 << 96 | 0xffff)); // vnor
    assert_eq!(vx(1348, a, b), !b | a); // vorc
    assert_eq!(vx(1412, a, b), !(0xf000_f000u128 << 96 | 0x1234)); // vnand
    assert_eq!(vx(1668, a, b), !(0x0ff0_0ff0u128 << 96 | 0xedcb)); // veqv
}

#[test]
fn element_shifts_and_rotates() {
    // vslb by VRB byte k mod 8: byte k becomes 1 << (k & 7).
    let r = vx(260, ONES8, iota(0));
    assert_eq!(r, bytes(std::array::from_fn(|k| 1u8 << (k & 7))));
    // vsrab by 9 (i.e. 1): 0x80 -> 0xc0; vsrb: 0x80 -> 0x40.
    assert_eq!(vx(772, ONES8 * 0x80, ONES8 * 9), ONES8 * 0xc0);
    assert_eq!(vx(516, ONES8 * 0x80, ONES8 * 9), ONES8 * 0x40);
    assert_eq!(
        vx(132, words([0x8000_0001, 1, 0, 0]), words([1, 33, 0, 0])),
        words([3, 2, 0, 0])
    ); // vrlw
    assert_eq!(
        vx(196, dwords([1 << 63, 1]), dwords([65, 64])),
        dwords([1, 1])
    ); // vrld
    assert_eq!(
        vx(964, dwords([1 << 63, 1 << 62]), dwords([63, 62])),
        dwords([u64::MAX, 1])
    ); // vsrad
    assert_eq!(
        vx(1476, dwords([1, 1]), dwords([63, 64])),
        dwords([1 << 63, 1])
    ); // vsld
}

#[test]
fn rotate_and_mask() {
    // vrlwnm: mb=24, me=31, sh=8 -> rotl(0x12345678, 8) & 0xff.
    let ctl = |mb: u32, me: u32, sh: u32| mb << 16 | me << 8 | sh;
    let a = words([0x1234_5678; 4]);
    let b = words([ctl(24, 31, 8), ctl(0, 31, 0), ctl(28, 3, 0), ctl(2, 2, 4)]);
    assert_eq!(
        vx(389, a, b),
        words([0x12, 0x1234_5678, 0x1000_0008, 0x2000_0000])
    );
    // vrlwmi: inserts under the mask, keeps VRT elsewhere.
    let mut c = cpu();
    c.set_vr(3, words([0xaaaa_aaaa; 4]));
    let r = vx_on(
        &mut c,
        133,
        a,
        words([ctl(0, 7, 8), ctl(28, 3, 0), ctl(0, 31, 4), ctl(16, 15, 0)]),
    );
    assert_eq!(
        r,
        words([0x34aa_aaaa, 0x1aaa_aaa8, 0x2345_6781, 0x1234_5678])
    );
    // vrldnm / vrldmi: fields at bits 42:47, 50:55, 58:63.
    let dctl = |mb: u64, me: u64, sh: u64| mb << 16 | me << 8 | sh;
    let a = dwords([0x0123_4567_89ab_cdef; 2]);
    assert_eq!(
        vx(453, a, dwords([dctl(0, 63, 4), dctl(60, 3, 0)])),
        dwords([0x1234_5678_9abc_def0, 0x0000_0000_0000_000f])
    );
    let mut c = cpu();
    c.set_vr(3, dwords([u64::MAX, 0]));
    let r = vx_on(&mut c, 197, a, dwords([dctl(56, 63, 8), dctl(0, 7, 0)]));
    assert_eq!(r, dwords([0xffff_ffff_ffff_ff01, 0x0100_0000_0000_0000]));
}

#[test]
fn whole_register_shifts() {
    // vsl/vsr: by VRB bits 125:127.
    assert_eq!(vx(452, 1 << 127 | 1, 3), 8);
    assert_eq!(vx(708, 1 << 127 | 1, 0xb), 1 << 124);
    // vslo/vsro: by octets, VRB bits 121:124 (byte 15 = 0x18 -> 3 bytes).
    assert_eq!(vx(1036, iota(0), 0x18), iota(0) << 24);
    assert_eq!(vx(1100, iota(1), 0x78 | 0x80), 1);
    // vslv: byte k shifted left by VRB byte k [5:7] with bits from byte k+1.
    let a = bytes([0x80, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff]);
    let b = bytes([1, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4]);
    assert_eq!(
        vx(1860, a, b),
        bytes([0x00, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xf0])
    );
    // vsrv: byte k shifted right with bits from byte k-1.
    let a = bytes([0x01, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x03, 0]);
    let b = bytes([1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    assert_eq!(
        vx(1796, a, b),
        bytes([0x00, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x03, 0xc0])
    );
}

#[test]
fn vperm_is_endian_independent() {
    // Byte k of VRT is byte (VRC byte k & 31) of VRA || VRB, the same in both byte orders.
    let a = iota(0x00);
    let b = iota(0x10);
    let ctl = bytes([
        0x1f, 0x00, 0x21, 0xe2, 0x10, 0x0f, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x3f,
    ]);
    let want = bytes([
        0x1f, 0x00, 0x01, 0x02, 0x10, 0x0f, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x1f,
    ]);
    for mut c in [cpu(), cpu_be()] {
        assert_eq!(va_on(&mut c, 43, a, b, ctl), want);
    }
    // vpermr counts from the right: index 0 is byte 31 (VRB byte 15).
    assert_eq!(
        va(
            59,
            a,
            b,
            bytes([0, 31, 16, 15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
        ) >> 96,
        0x1f00_0f10
    );
    // vpermxor: 0x12 -> VRA byte 1 ^ VRB byte 2.
    assert_eq!(va(45, a, b, ONES8 * 0x12), ONES8 * (0x01 ^ 0x12));
    // vsel picks VRB where VRC is 1.
    assert_eq!(va(42, 0xffff_0000, 0x1234_5678, 0x00ff_00ff), 0xff34_0078);
}

#[test]
fn vsldoi() {
    for mut c in [cpu(), cpu_be()] {
        c.set_vr(1, iota(0));
        c.set_vr(2, iota(0x10));
        exec(&mut c, va_form(3, 1, 2, 3, 44));
        assert_eq!(c.vr(3), iota(3));
        exec(&mut c, va_form(3, 1, 2, 0, 44));
        assert_eq!(c.vr(3), iota(0));
        exec(&mut c, va_form(3, 1, 2, 15, 44));
        assert_eq!(c.vr(3), iota(15));
    }
}

#[test]
fn merges_and_splats() {
    let (a, b) = (iota(0), iota(0x10));
    assert_eq!(
        vx(12, a, b),
        bytes([0, 0x10, 1, 0x11, 2, 0x12, 3, 0x13, 4, 0x14, 5, 0x15, 6, 0x16, 7, 0x17])
    );
    assert_eq!(
        vx(268, a, b),
        bytes([8, 0x18, 9, 0x19, 10, 0x1a, 11, 0x1b, 12, 0x1c, 13, 0x1d, 14, 0x1e, 15, 0x1f])
    );
    let (a, b) = (
        words([0xa0, 0xa1, 0xa2, 0xa3]),
        words([0xb0, 0xb1, 0xb2, 0xb3]),
    );
    assert_eq!(vx(140, a, b), words([0xa0, 0xb0, 0xa1, 0xb1])); // vmrghw
    assert_eq!(vx(396, a, b), words([0xa2, 0xb2, 0xa3, 0xb3])); // vmrglw
    assert_eq!(vx(1932, a, b), words([0xa0, 0xb0, 0xa2, 0xb2])); // vmrgew
    assert_eq!(vx(1676, a, b), words([0xa1, 0xb1, 0xa3, 0xb3])); // vmrgow
    assert_eq!(
        vx(
            332,
            halves([0, 1, 2, 3, 4, 5, 6, 7]),
            halves([8, 9, 10, 11, 12, 13, 14, 15])
        ),
        halves([4, 12, 5, 13, 6, 14, 7, 15])
    );
    // Splats of element UIM.
    assert_eq!(vx1(524, 5, iota(0)), ONES8 * 5);
    assert_eq!(vx1(588, 7, iota(0)), halves([0x0e0f; 8]));
    assert_eq!(vx1(652, 2, iota(0)), words([0x0809_0a0b; 4]));
    // Immediate splats sign-extend the 5-bit SIM.
    assert_eq!(vx1(780, 0x10, 0), ONES8 * 0xf0);
    assert_eq!(vx1(844, 0x1f, 0), u128::MAX);
    assert_eq!(vx1(908, 0x0f, 0), words([15; 4]));
}

#[test]
fn pack_saturation() {
    let mut c = cpu();
    c.vscr = 0;
    // vpkshss: 0x7fff -> 0x7f and 0x8000 -> 0x80 saturate; 0x10 and -1 fit.
    let a = halves([0x7fff, 0x8000, 0x0010, 0xffff, 0, 1, 2, 3]);
    let b = halves([4, 5, 6, 7, 8, 9, 10, 11]);
    let r = vx_on(&mut c, 398, a, b);
    assert_eq!(
        r,
        bytes([0x7f, 0x80, 0x10, 0xff, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])
    );
    assert!(sat(&c));
    // In-range packs do not set SAT.
    let mut c = cpu();
    c.vscr = 0;
    vx_on(&mut c, 398, b, b);
    assert!(!sat(&c));
    // vpkshus: negative -> 0; vpkuhus: 0x100 -> 0xff (both saturate).
    let r = vx(270, halves([0xffff, 0x0100, 0x00ff, 0, 0, 0, 0, 0]), 0);
    assert_eq!(r >> 96, 0x00ff_ff00);
    let r = vx(142, halves([0xffff, 0x0100, 0x00ff, 0, 0, 0, 0, 0]), 0);
    assert_eq!(r >> 96, 0xffff_ff00);
    // Modulo packs keep the low halves.
    assert_eq!(
        vx(14, halves([0x1234; 8]), halves([0xabcd; 8])),
        bytes(
            [0x34; 8]
                .iter()
                .chain([0xcd; 8].iter())
                .copied()
                .collect::<Vec<u8>>()
                .try_into()
                .unwrap()
        )
    );
    assert_eq!(
        vx(1102, dwords([0x1_0000_0002, 3]), dwords([4, u64::MAX])),
        words([2, 3, 4, u32::MAX])
    );
    // vpksdss / vpkudus / vpksdus / vpkswus.
    let mut c = cpu();
    c.vscr = 0;
    let r = vx_on(
        &mut c,
        1486,
        dwords([1 << 40, (-1i64 << 40) as u64]),
        dwords([5, (-5i64) as u64]),
    );
    assert_eq!(r, words([0x7fff_ffff, 0x8000_0000, 5, (-5i32) as u32]));
    assert!(sat(&c));
    assert_eq!(
        vx(1230, dwords([1 << 40, 7]), dwords([u64::MAX, 0])),
        words([u32::MAX, 7, u32::MAX, 0])
    );
    assert_eq!(
        vx(1358, dwords([1 << 40, u64::MAX]), dwords([9, 0])),
        words([u32::MAX, 0, 9, 0])
    );
    assert_eq!(
        vx(334, words([0x1_0000, 0xffff_ffff, 0xffff, 0x8000]), 0) >> 64,
        0xffff_0000_ffff_8000
    );
}

#[test]
fn pixel_pack_unpack() {
    // vpkpx: bit 7 and the top 5 bits of bytes 1, 2, 3 of each word.
    let r = vx(782, words([0x01f8_f8f8, 0x0008_1018, 0xfe07_0707, 0]), 0);
    assert_eq!(r >> 64, 0xffff_0443_0000_0000);
    // vupkhpx: 1:5:5:5 -> 8:8:8:8 with the 1-bit field replicated into a byte.
    let r = vx1(846, 0, halves([0x8443, 0x7fff, 0, 0, 0, 0, 0, 0]));
    assert_eq!(r, words([0xff01_0203, 0x001f_1f1f, 0, 0]));
    let r = vx1(974, 0, halves([0, 0, 0, 0, 0x8443, 0, 0, 0]));
    assert_eq!(r, words([0xff01_0203, 0, 0, 0]));
}

#[test]
fn unpack_sign_extends() {
    let b = bytes([0x80, 0x7f, 1, 0xff, 0, 0, 0, 0, 0x81, 0, 0, 0, 0, 0, 0, 2]);
    assert_eq!(
        vx1(526, 0, b),
        halves([0xff80, 0x007f, 1, 0xffff, 0, 0, 0, 0])
    ); // vupkhsb
    assert_eq!(vx1(654, 0, b), halves([0xff81, 0, 0, 0, 0, 0, 0, 2])); // vupklsb
    assert_eq!(vx1(590, 0, b), words([0xffff_807f, 0x1ff, 0, 0])); // vupkhsh
    let w = words([1, 0xffff_fffe, 0x8000_0000, 1]);
    assert_eq!(vx1(1614, 0, w), dwords([1, (-2i64) as u64])); // vupkhsw
    assert_eq!(vx1(1742, 0, w), dwords([0xffff_ffff_8000_0000, 1])); // vupklsw
}

#[test]
fn extract_and_insert() {
    let x = iota(0);
    assert_eq!(vx1(653, 4, x), dwords([0x0405_0607, 0])); // vextractuw
    assert_eq!(vx1(525, 15, x), dwords([0x0f, 0])); // vextractub
    assert_eq!(vx1(589, 1, x), dwords([0x0102, 0])); // vextractuh
    assert_eq!(vx1(717, 8, x), dwords([0x0809_0a0b_0c0d_0e0f, 0])); // vextractd
                                                                    // vinsert*: the rightmost bytes of VRB doubleword 0 go to byte UIM of VRT.
    let mut c = cpu();
    let ins = |c: &mut Cpu, xo: u32, uim: u32| {
        c.set_vr(3, 0);
        c.set_vr(2, iota(0x10));
        exec(c, vx_form(3, uim, 2, xo));
        c.vr(3)
    };
    assert_eq!(ins(&mut c, 781, 0), 0x17 << 120); // vinsertb: byte 7
    assert_eq!(ins(&mut c, 845, 14), 0x1617); // vinserth: bytes 6:7
    assert_eq!(ins(&mut c, 909, 8), 0x1415_1617u128 << 32); // vinsertw: bytes 4:7
    assert_eq!(ins(&mut c, 973, 4), 0x1011_1213_1415_1617u128 << 32); // vinsertd
    c.set_vr(3, u128::MAX);
    c.set_vr(2, 0);
    exec(&mut c, vx_form(3, 2, 2, 845));
    assert_eq!(c.vr(3), !(0xffffu128 << 96));
}

#[test]
fn extract_to_gpr() {
    let mut c = cpu();
    c.set_vr(2, iota(0));
    let run = |c: &mut Cpu, xo: u32, idx: u64| {
        c.gpr[5] = idx;
        exec(c, vx_form(6, 5, 2, xo));
        c.gpr[6]
    };
    assert_eq!(run(&mut c, 1549, 0x33), 3); // vextublx: byte 3 (index mod 16)
    assert_eq!(run(&mut c, 1805, 3), 12); // vextubrx: byte 15 - 3
    assert_eq!(run(&mut c, 1613, 14), 0x0e0f); // vextuhlx
    assert_eq!(run(&mut c, 1869, 1), 0x0d0e); // vextuhrx: bytes 13:14
    assert_eq!(run(&mut c, 1677, 2), 0x0203_0405); // vextuwlx
    assert_eq!(run(&mut c, 1933, 0), 0x0c0d_0e0f); // vextuwrx
}

#[test]
fn lsb_counts_parity_negate_extend() {
    let mut c = cpu();
    let b = bytes([0, 2, 4, 0x81, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0xfe, 0]);
    c.set_vr(2, b);
    exec(&mut c, vx_form(6, 0, 2, 1538)); // vclzlsbb
    assert_eq!(c.gpr[6], 3);
    exec(&mut c, vx_form(6, 1, 2, 1538)); // vctzlsbb
    assert_eq!(c.gpr[6], 3);
    c.set_vr(2, ONES8 * 0xfe);
    exec(&mut c, vx_form(6, 0, 2, 1538));
    assert_eq!(c.gpr[6], 16);
    // vprtybw: parity of the byte lsbs per word; vprtybd; vprtybq.
    let w = words([0x0101_0100, 0x0101_0101, 0xfefe_fe01, 0]);
    assert_eq!(vx1(1538, 8, w), words([1, 0, 1, 0]));
    assert_eq!(vx1(1538, 9, w), dwords([1, 1]));
    assert_eq!(vx1(1538, 10, w), 0);
    assert_eq!(vx1(1538, 10, 1), 1);
    assert_eq!(
        vx1(1538, 6, words([1, 0, 0x8000_0000, 5])),
        words([u32::MAX, 0, 0x8000_0000, (-5i32) as u32])
    ); // vnegw
    assert_eq!(vx1(1538, 7, dwords([1, 0])), dwords([u64::MAX, 0])); // vnegd
    assert_eq!(
        vx1(1538, 16, words([0x1234_5680, 0x7f, 0, 0])),
        words([0xffff_ff80, 0x7f, 0, 0])
    ); // vextsb2w
    assert_eq!(
        vx1(1538, 17, words([0x1234_8000, 0, 0, 0])),
        words([0xffff_8000, 0, 0, 0])
    ); // vextsh2w
    assert_eq!(
        vx1(1538, 24, dwords([0xff, 0x7f])),
        dwords([u64::MAX, 0x7f])
    ); // vextsb2d
    assert_eq!(
        vx1(1538, 25, dwords([0x8000, 0])),
        dwords([0xffff_ffff_ffff_8000, 0])
    ); // vextsh2d
    assert_eq!(
        vx1(1538, 26, dwords([0x1_8000_0000, 0])),
        dwords([0xffff_ffff_8000_0000, 0])
    ); // vextsw2d
       // Undefined sub-opcodes of xo 1538 are illegal.
    let mut c = cpu();
    assert_eq!(
        try_exec(&mut c, vx_form(3, 2, 2, 1538)),
        Err(Exception::Program(ProgramKind::Illegal))
    );
}

#[test]
fn counts() {
    // vclzd: 64 for zero, 0 for a set MSB, 63 for 1.
    assert_eq!(vx1(1986, 0, dwords([0, 1])), dwords([64, 63]));
    assert_eq!(
        vx1(1986, 0, dwords([u64::MAX, 0x0000_0001_0000_0000])),
        dwords([0, 31])
    );
    // vctzw: 32 for zero.
    assert_eq!(
        vx1(1538, 30, words([0, 1, 0x8000_0000, 0x10])),
        words([32, 0, 31, 4])
    );
    // vpopcntb.
    assert_eq!(
        vx1(
            1795,
            0,
            bytes([0, 1, 3, 7, 0xff, 0x80, 0x55, 0, 0, 0, 0, 0, 0, 0, 0, 0xfe])
        ),
        bytes([0, 1, 2, 3, 8, 1, 4, 0, 0, 0, 0, 0, 0, 0, 0, 7])
    );
    assert_eq!(
        vx1(
            1794,
            0,
            bytes([0, 1, 0x80, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
        ) >> 96,
        0x0807_0003
    ); // vclzb
    assert_eq!(
        vx1(
            1538,
            28,
            bytes([0, 1, 0x80, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
        ) >> 96,
        0x0800_0704
    ); // vctzb
    assert_eq!(
        vx1(1987, 0, dwords([u64::MAX, 0x8000_0000_0000_0001])),
        dwords([64, 2])
    ); // vpopcntd
    assert_eq!(
        vx1(1859, 0, halves([0xffff, 0, 1, 3, 0, 0, 0, 0])),
        halves([16, 0, 1, 2, 0, 0, 0, 0])
    ); // vpopcnth
}

#[test]
fn bit_permutes() {
    // vbpermq: bit k of the result field is VRA bit (VRB byte k); indices >= 128 give 0.
    let a = 1u128 << 127 | 1 | 1 << 64;
    let idx = bytes([0, 127, 128, 1, 63, 0xff, 0, 0x80, 127, 2, 3, 4, 5, 6, 7, 8]);
    let r = vx(1356, a, idx);
    // Field bits: 1 1 0 0 1 0 1 0 1 0 0 0 0 0 0 0 = 0xca80, in bits 48:63.
    assert_eq!(r, dwords([0xca80, 0]));
    // vbpermd: per doubleword, 8 result bits in bits 56:63.
    let a = dwords([0x8000_0000_0000_0001, 0x00ff_0000_0000_0000]);
    let b = dwords([0x0000_3f40_3f01_0000, 0x0708_0910_ff00_0800]);
    // dw0 indices 0,0,63,64,63,1,0,0 -> bits 1,1,1,0,1,0,1,1 = 0xeb.
    // dw1 indices 7,8,9,16,255,0,8,0 -> bits 0,1,1,0,0,0,1,0 = 0x62.
    assert_eq!(vx(1484, a, b), dwords([0xeb, 0x62]));
    // vgbbd transposes each 8x8 bit matrix: byte 0 bit 7 -> byte 7 bit 0.
    assert_eq!(
        vx1(
            1292,
            0,
            dwords([0x8000_0000_0000_0000, 0x0100_0000_0000_0000])
        ),
        dwords([0x8000_0000_0000_0000, 0x80])
    );
    assert_eq!(
        vx1(1292, 0, dwords([0xff00_0000_0000_0000, u64::MAX])),
        dwords([0x8080_8080_8080_8080, u64::MAX])
    );
}

#[test]
fn polynomial_multiply_sum() {
    // vpmsumd: (x^63 + 1)^2 = x^126 + 1, xor (x^7 + ... + 1)^2 = 0x5555.
    let a = dwords([0x8000_0000_0000_0001, 0xff]);
    let r = vx(1224, a, a);
    assert_eq!(r, 1 << 126 | (1 ^ 0x5555));
    // (x + 1) * (x^2 + 1) = x^3 + x^2 + x + 1 in each word of vpmsumw; the even and odd products
    // are XORed.
    let r = vx(1160, dwords([3 << 32 | 1, 0]), dwords([5 << 32 | 1, 0]));
    assert_eq!(r, dwords([0xf ^ 1, 0]));
    let r = vx(
        1032,
        halves([0x0302, 0, 0, 0, 0, 0, 0, 0]),
        halves([0x0303, 0, 0, 0, 0, 0, 0, 0]),
    );
    assert_eq!(r, halves([0x5 ^ 0x6, 0, 0, 0, 0, 0, 0, 0])); // vpmsumb: 3*3 ^ 2*3
    let r = vx(
        1096,
        words([0x8000_8000, 0, 0, 0]),
        words([0x8000_0002, 0, 0, 0]),
    );
    assert_eq!(r, words([0x4000_0000 ^ 0x1_0000, 0, 0, 0])); // vpmsumh
}

// AES: FIPS-197 Appendix C.1 (AES-128, key 000102..0f, plaintext 00112233..ff).

/// SubWord via vsbox (byte-wise S-box of VRA).
fn sub_word(c: &mut Cpu, w: u32) -> u32 {
    c.set_vr(1, (w as u128) << 96);
    exec(c, vx_form(3, 1, 0, 1480));
    word_of(c.vr(3), 0)
}

/// FIPS-197 5.2 key expansion: 11 round keys as 128-bit values.
fn expand_key(c: &mut Cpu, key: u128) -> [u128; 11] {
    let mut w = [0u32; 44];
    for (k, x) in w.iter_mut().take(4).enumerate() {
        *x = word_of(key, k);
    }
    let mut rcon = 1u32;
    for k in 4..44 {
        let mut t = w[k - 1];
        if k % 4 == 0 {
            t = sub_word(c, t.rotate_left(8)) ^ rcon << 24;
            rcon = if rcon & 0x80 != 0 {
                (rcon << 1) ^ 0x11b
            } else {
                rcon << 1
            };
        }
        w[k] = w[k - 4] ^ t;
    }
    std::array::from_fn(|r| words([w[4 * r], w[4 * r + 1], w[4 * r + 2], w[4 * r + 3]]))
}

#[test]
fn aes_sbox_values() {
    let mut c = cpu();
    // FIPS-197 figure 7: S(0x00) = 0x63, S(0x53) = 0xed, S(0xff) = 0x16, S(0x01) = 0x7c.
    assert_eq!(sub_word(&mut c, 0x0053_ff01), 0x63ed_167c);
}

#[test]
fn aes128_fips197() {
    let mut c = cpu();
    let key = 0x0001_0203_0405_0607_0809_0a0b_0c0d_0e0f;
    let pt = 0x0011_2233_4455_6677_8899_aabb_ccdd_eeff;
    let ct = 0x69c4_e0d8_6a7b_0430_d8cd_b780_70b4_c55a;
    let rk = expand_key(&mut c, key);
    // Round 10 key from FIPS-197 C.1: 13111d7fe3944a17f307a78b4d2b30c5.
    assert_eq!(rk[10], 0x1311_1d7f_e394_4a17_f307_a78b_4d2b_30c5);
    let mut s = pt ^ rk[0];
    for k in rk.iter().take(10).skip(1) {
        s = vx_on(&mut c, 1288, s, *k); // vcipher
    }
    s = vx_on(&mut c, 1289, s, rk[10]); // vcipherlast
    assert_eq!(s, ct);
    // Decrypt with vncipher (the FIPS-197 inverse cipher order: the round key is added before
    // InvMixColumns, so the encryption keys are used unchanged).
    let mut s = ct ^ rk[10];
    for r in (1..10).rev() {
        s = vx_on(&mut c, 1352, s, rk[r]); // vncipher
    }
    s = vx_on(&mut c, 1353, s, rk[0]); // vncipherlast
    assert_eq!(s, pt);
}

/// FIPS 180-4 4.1.2 / 4.1.3 sigma functions, written out independently.
fn sha256_ref(x: u32, st: bool, one: bool) -> u32 {
    let r = |n: u32| x.rotate_right(n);
    match (st, one) {
        (false, false) => r(7) ^ r(18) ^ (x >> 3),
        (false, true) => r(17) ^ r(19) ^ (x >> 10),
        (true, false) => r(2) ^ r(13) ^ r(22),
        (true, true) => r(6) ^ r(11) ^ r(25),
    }
}
fn sha512_ref(x: u64, st: bool, one: bool) -> u64 {
    let r = |n: u32| x.rotate_right(n);
    match (st, one) {
        (false, false) => r(1) ^ r(8) ^ (x >> 7),
        (false, true) => r(19) ^ r(61) ^ (x >> 6),
        (true, false) => r(28) ^ r(34) ^ r(39),
        (true, true) => r(14) ^ r(18) ^ r(41),
    }
}

#[test]
fn sha_sigma() {
    let a = words([0x6a09_e667, 0xbb67_ae85, 0x3c6e_f372, 0xa54f_f53a]);
    for st in [false, true] {
        for six in 0..16u32 {
            let mut c = cpu();
            c.set_vr(1, a);
            // VX-form with ST at bit 16 and SIX at bits 17:20 in the VRB field.
            exec(&mut c, vx_form(3, 1, (st as u32) << 4 | six, 1666));
            for k in 0..4 {
                let one = six >> (3 - k) & 1 != 0;
                assert_eq!(
                    word_of(c.vr(3), k),
                    sha256_ref(word_of(a, k), st, one),
                    "w st={st} six={six} k={k}"
                );
            }
            let d = dwords([0x6a09_e667_f3bc_c908, 0xbb67_ae85_84ca_a73b]);
            c.set_vr(1, d);
            exec(&mut c, vx_form(3, 1, (st as u32) << 4 | six, 1730));
            for k in 0..2 {
                let one = six >> (3 - 2 * k) & 1 != 0;
                let x = (d >> (64 - 64 * k)) as u64;
                assert_eq!(
                    (c.vr(3) >> (64 - 64 * k)) as u64,
                    sha512_ref(x, st, one),
                    "d st={st} six={six} k={k}"
                );
            }
        }
    }
}

#[test]
fn vscr_moves() {
    let mut c = cpu();
    c.set_vr(2, words([0xffff_ffff, 0, 0, 0x0001_0001]));
    exec(&mut c, vx_form(0, 0, 2, 1604)); // mtvscr
    assert_eq!(c.vscr, 0x0001_0001);
    c.set_vr(3, u128::MAX);
    exec(&mut c, vx_form(3, 0, 0, 1540)); // mfvscr
    assert_eq!(c.vr(3), 0x0001_0001);
}

// Loads and stores.

fn mem_iota(c: &Cpu, at: u64) {
    let b: [u8; 16] = std::array::from_fn(|k| k as u8);
    assert!(c.mem.write(at, &b));
}

#[test]
fn lvx_stvx_byte_order() {
    // BE: the byte at EA is element 0 (most significant). LE: the quadword is loaded as a
    // little-endian value, so the byte at EA is element 15.
    for (mut c, want) in [
        (cpu_be(), iota(0)),
        (cpu(), u128::from_le_bytes(iota(0).to_be_bytes())),
    ] {
        mem_iota(&c, DATA);
        c.gpr[4] = DATA;
        c.gpr[5] = 7; // EA is rounded down to the quadword
        exec(&mut c, x_form(31, 3, 4, 5, 103, false)); // lvx
        assert_eq!(c.vr(3), want);
        exec(&mut c, x_form(31, 6, 4, 5, 359, false)); // lvxl
        assert_eq!(c.vr(6), want);
        // stvx writes the same bytes back.
        c.gpr[5] = 0x20 + 9;
        exec(&mut c, x_form(31, 3, 4, 5, 231, false));
        let mut out = [0u8; 16];
        assert!(c.mem.read(DATA + 0x20, &mut out));
        assert_eq!(out, iota(0).to_be_bytes());
        exec(&mut c, x_form(31, 3, 4, 5, 487, false)); // stvxl
    }
    // In LE, byte 0 of memory is element 15 (the last byte of the ISA numbering).
    let mut c = cpu();
    mem_iota(&c, DATA);
    c.gpr[4] = DATA;
    exec(&mut c, x_form(31, 3, 0, 4, 103, false)); // RA = 0
    assert_eq!(c.vr(3) as u8, 0x00);
    assert_eq!((c.vr(3) >> 120) as u8, 0x0f);
}

#[test]
fn element_loads_and_stores() {
    // BE: element at byte EA & 15 from the left. LE: from the right (as lvx would place it).
    let mut c = cpu_be();
    mem_iota(&c, DATA);
    c.set_vr(3, 0);
    c.gpr[4] = DATA + 5;
    exec(&mut c, x_form(31, 3, 0, 4, 7, false)); // lvebx
    assert_eq!(c.vr(3), 0x05 << (120 - 40));
    c.gpr[4] = DATA + 5;
    exec(&mut c, x_form(31, 3, 0, 4, 39, false)); // lvehx: EA & ~1 = 4
    assert_eq!(c.vr(3) >> 80 & 0xffff, 0x0405);
    c.gpr[4] = DATA + 9;
    exec(&mut c, x_form(31, 3, 0, 4, 71, false)); // lvewx: word 2
    assert_eq!(word_of(c.vr(3), 2), 0x0809_0a0b);

    let mut c = cpu();
    mem_iota(&c, DATA);
    c.set_vr(3, 0);
    c.gpr[4] = DATA + 5;
    exec(&mut c, x_form(31, 3, 0, 4, 7, false)); // lvebx -> byte 15 - 5
    assert_eq!(c.vr(3), 0x05 << 40);
    c.gpr[4] = DATA + 9;
    exec(&mut c, x_form(31, 3, 0, 4, 71, false)); // lvewx -> word 3 - 2 = 1, loaded LE
    assert_eq!(word_of(c.vr(3), 1), 0x0b0a_0908);
    c.gpr[4] = DATA + 14;
    exec(&mut c, x_form(31, 3, 0, 4, 39, false)); // lvehx -> halfword 0
    assert_eq!(c.vr(3) >> 112, 0x0f0e);

    // Stores take the element that lvx/lve*x would have loaded from that address.
    for mut c in [cpu(), cpu_be()] {
        let le = c.le;
        mem_iota(&c, DATA);
        c.gpr[4] = DATA;
        exec(&mut c, x_form(31, 3, 0, 4, 103, false)); // lvx
        assert!(c.mem.fill(DATA, 16, 0xee));
        for (xo, off) in [(135, 3u64), (167, 6), (199, 12)] {
            c.gpr[4] = DATA + off;
            exec(&mut c, x_form(31, 3, 0, 4, xo, false));
        }
        let mut out = [0u8; 16];
        assert!(c.mem.read(DATA, &mut out));
        let e = 0xee;
        assert_eq!(
            out,
            [e, e, e, 3, e, e, 6, 7, e, e, e, e, 12, 13, 14, 15],
            "le={le}"
        );
    }
}

#[test]
fn lvsl_lvsr() {
    let mut c = cpu();
    c.gpr[4] = 0x1003;
    exec(&mut c, x_form(31, 3, 0, 4, 6, false)); // lvsl
    assert_eq!(c.vr(3), iota(3));
    exec(&mut c, x_form(31, 3, 0, 4, 38, false)); // lvsr
    assert_eq!(c.vr(3), iota(13));
    c.gpr[4] = 0x1000;
    exec(&mut c, x_form(31, 3, 0, 4, 38, false));
    assert_eq!(c.vr(3), iota(16));
    exec(&mut c, x_form(31, 3, 0, 4, 6, false));
    assert_eq!(c.vr(3), iota(0));
}

#[test]
fn vector_unavailable_and_illegal() {
    let mut c = cpu();
    c.set_msr(c.msr & !crate::cpu::msr::VEC);
    assert_eq!(
        try_exec(&mut c, vx_form(3, 1, 2, 0)),
        Err(Exception::VecUnavailable)
    );
    assert_eq!(
        try_exec(&mut c, x_form(31, 3, 0, 4, 103, false)),
        Err(Exception::VecUnavailable)
    );
    assert_eq!(
        try_exec(&mut c, x_form(31, 3, 0, 4, 6, false)),
        Err(Exception::VecUnavailable)
    );
    // bcdus. with the reserved PS bit set is an invalid form.
    let mut c = cpu();
    assert_eq!(
        try_exec(&mut c, vx_form(3, 1, 2, 1665)),
        Err(Exception::Program(ProgramKind::Illegal))
    );
}

// Floating point.

const QNAN: u32 = 0x7fc0_0000;

#[test]
fn fp_arith_and_nans() {
    let mut c = cpu();
    c.vscr = 0;
    let a = words([1.5f32.to_bits(), 0x7f80_0001, 0x7f80_0000, 0xffc0_1234]);
    let b = words([2.25f32.to_bits(), 0x7fc0_0005, 0xff80_0000, 0x7f80_0001]);
    // 1.5 + 2.25; SNaN A quieted (A first); inf - inf = default NaN; QNaN A kept.
    let r = vx_on(&mut c, 10, a, b);
    assert_eq!(
        r,
        words([3.75f32.to_bits(), 0x7fc0_0001, QNAN, 0xffc0_1234])
    );
    assert_eq!(c.fpscr, 0, "VMX FP does not touch FPSCR");
    // vsubfp: B's NaN when A is a number.
    let r = vx_on(
        &mut c,
        74,
        words([0, 0, 0, 0]),
        words([0xff80_0001, 0, 0, 0]),
    );
    assert_eq!(word_of(r, 0), 0xffc0_0001);
}

#[test]
fn vmaddfp_single_rounding() {
    // a = c = 1 + 2^-12: a*c = 1 + 2^-11 + 2^-24, which rounds (tie to even) to 1 + 2^-11 as a
    // separate product; fused with b = -(1 + 2^-11) the exact result 2^-24 survives.
    let x = 1.0 + 2f32.powi(-12);
    let y = 1.0 + 2f32.powi(-11);
    let mut c = cpu();
    c.vscr = 0;
    // vmaddfp VRT, VRA, VRC, VRB: the VA-form fields are VRA=1, VRB=2 (addend), VRC=3.
    let r = va_on(&mut c, 46, fwords([x; 4]), fwords([-y; 4]), fwords([x; 4]));
    assert_eq!(word_of(r, 0), 0x3380_0000); // 2^-24
                                            // vnmsubfp: -(a*c - b) with b = 1 + 2^-11 gives -2^-24.
    let r = va_on(&mut c, 47, fwords([x; 4]), fwords([y; 4]), fwords([x; 4]));
    assert_eq!(word_of(r, 0), 0xb380_0000);
    // NaN precedence A, B, C; and inf * 0 + b is invalid -> default NaN.
    let r = va_on(
        &mut c,
        46,
        words([1, 0x7f80_0000, 0, 0]),
        words([0x7fc0_0002, 0, 0, 0]),
        words([0x7fc0_0003, 0, 0, 0]),
    );
    assert_eq!(word_of(r, 0), 0x7fc0_0002);
    assert_eq!(word_of(r, 1), QNAN);
}

#[test]
fn nj_flushes_denormals() {
    let den = 0x0000_0001u32;
    let mut c = cpu();
    // NJ=1 (the reset value): denormal input taken as zero of the same sign.
    c.vscr = 0x1_0000;
    let r = vx_on(
        &mut c,
        10,
        words([den, 0x8000_0001, 0x0080_0001, 0]),
        words([0, 0x8000_0000, 0x8080_0000, 0]),
    );
    // +0 + +0 = +0; -0 + -0 = -0; 2^-126(1+2^-23) - 2^-126 = 2^-149 is denormal -> +0.
    assert_eq!(r, words([0, 0x8000_0000, 0, 0]));
    // vcmpeqfp sees the flushed values: denormal == 0.
    let r = vx_on(&mut c, 198, words([den, 0, 0, 0]), 0);
    assert_eq!(word_of(r, 0), u32::MAX);
    // NJ=0: IEEE denormals.
    c.vscr = 0;
    let r = vx_on(
        &mut c,
        10,
        words([den, 0x8000_0001, 0x0080_0001, 0]),
        words([0, 0x8000_0000, 0x8080_0000, 0]),
    );
    assert_eq!(r, words([den, 0x8000_0001, den, 0]));
    let r = vx_on(&mut c, 198, words([den, 0, 0, 0]), 0);
    assert_eq!(word_of(r, 0), 0);
}

#[test]
fn fp_max_min_compare() {
    let (pz, nz) = (0u32, 0x8000_0000u32);
    let a = words([pz, nz, 1.0f32.to_bits(), 0x7fc0_0001]);
    let b = words([nz, pz, 2.0f32.to_bits(), 1.0f32.to_bits()]);
    assert_eq!(
        vx(1034, a, b),
        words([pz, pz, 2.0f32.to_bits(), 0x7fc0_0001])
    ); // vmaxfp
    assert_eq!(
        vx(1098, a, b),
        words([nz, nz, 1.0f32.to_bits(), 0x7fc0_0001])
    ); // vminfp
       // Compares are false for NaNs; +0 == -0.
    assert_eq!(vx(198, a, b), words([u32::MAX, u32::MAX, 0, 0])); // vcmpeqfp
    assert_eq!(vx(454, a, b), words([u32::MAX, u32::MAX, 0, 0])); // vcmpgefp
    assert_eq!(vx(710, b, a), words([0, 0, u32::MAX, 0])); // vcmpgtfp
                                                           // vcmpbfp.: in bounds iff -b <= a <= b; bit 0 = a > b, bit 1 = a < -b.
    let mut c = cpu();
    let a = fwords([0.5, 3.0, -3.0, f32::NAN]);
    let b = fwords([1.0, 2.0, 2.0, 1.0]);
    let r = vx_on(&mut c, 966 | 1024, a, b);
    assert_eq!(r, words([0, 0x8000_0000, 0x4000_0000, 0xc000_0000]));
    assert_eq!(c.crf(6), 0);
    vx_on(
        &mut c,
        966 | 1024,
        fwords([0.5, -1.0, 0.0, 2.0]),
        fwords([1.0, 1.0, 0.0, 2.0]),
    );
    assert_eq!(c.crf(6), 0b0010);
    vx_on(&mut c, 198 | 1024, fwords([1.0; 4]), fwords([1.0; 4]));
    assert_eq!(c.crf(6), 0b1000);
}

#[test]
fn fp_estimates_and_rounding() {
    // Reciprocal estimates are exactly rounded here: 1/3 = 0x3eaaaaab.
    assert_eq!(
        word_of(vx1(266, 0, fwords([3.0, 0.0, -0.0, f32::INFINITY])), 0),
        0x3eaa_aaab
    );
    assert_eq!(
        vx1(266, 0, fwords([0.5, 0.0, -0.0, f32::INFINITY])),
        fwords([2.0, f32::INFINITY, f32::NEG_INFINITY, 0.0])
    );
    let r = vx1(330, 0, fwords([4.0, -1.0, -0.0, f32::INFINITY]));
    assert_eq!(
        r,
        words([0.5f32.to_bits(), QNAN, f32::NEG_INFINITY.to_bits(), 0])
    );
    assert_eq!(
        vx1(394, 0, fwords([3.0, -1.0, f32::NEG_INFINITY, 0.0])),
        fwords([8.0, 0.5, 0.0, 1.0])
    ); // vexptefp
    let r = vx1(458, 0, fwords([8.0, 0.5, 0.0, -1.0])); // vlogefp
    assert_eq!(
        r,
        words([
            3.0f32.to_bits(),
            (-1.0f32).to_bits(),
            f32::NEG_INFINITY.to_bits(),
            QNAN
        ])
    );
    // Round to integral: nearest-even, toward zero, +inf, -inf.
    let x = fwords([2.5, 3.5, -0.5, -1.7]);
    assert_eq!(vx1(522, 0, x), fwords([2.0, 4.0, -0.0, -2.0]));
    assert_eq!(vx1(586, 0, x), fwords([2.0, 3.0, -0.0, -1.0]));
    assert_eq!(vx1(650, 0, x), fwords([3.0, 4.0, -0.0, -1.0]));
    assert_eq!(vx1(714, 0, x), fwords([2.0, 3.0, -1.0, -2.0]));
    assert_eq!(
        word_of(vx1(522, 0, words([0x7f80_0001, 0, 0, 0])), 0),
        0x7fc0_0001
    );
}

#[test]
fn fp_conversions() {
    // vcfsx / vcfux with a scale of 2^-UIM.
    assert_eq!(
        vx1(842, 1, words([(-1i32) as u32, 6, 0, 0x8000_0000])),
        fwords([-0.5, 3.0, 0.0, -1073741824.0])
    );
    assert_eq!(
        vx1(778, 31, words([u32::MAX, 1 << 31, 0, 0])),
        fwords([2.0, 1.0, 0.0, 0.0])
    );
    // vctsxs / vctuxs: scale by 2^UIM, truncate, saturate with SAT.
    let mut c = cpu();
    c.vscr = 0;
    c.set_vr(2, fwords([1.75, -1.75, 3e9, -3e9]));
    exec(&mut c, vx_form(3, 1, 2, 970)); // vctsxs, UIM=1
    assert_eq!(
        c.vr(3),
        words([3, (-3i32) as u32, 0x7fff_ffff, 0x8000_0000])
    );
    assert!(sat(&c));
    let mut c = cpu();
    c.vscr = 0;
    c.set_vr(2, fwords([1.75, -0.75, 3e9, 0.0]));
    exec(&mut c, vx_form(3, 0, 2, 906)); // vctuxs, UIM=0: -0.75 truncates to 0 without saturating
    assert_eq!(c.vr(3), words([1, 0, 3_000_000_000, 0]));
    assert!(!sat(&c));
    c.set_vr(2, fwords([-1.0, 5e9, f32::NAN, 1.0]));
    exec(&mut c, vx_form(3, 0, 2, 906));
    assert_eq!(c.vr(3), words([0, u32::MAX, 0, 1]));
    assert!(sat(&c));
}
