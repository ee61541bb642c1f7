//! Tests of the fixed-point instructions. Expected values are worked out by hand from the ISA 3.0B
//! definitions (or, for results the ISA leaves undefined, from the POWER9 behaviour documented in
//! fixed.rs).

use super::*;
use crate::cpu::msr;
use crate::testutil::*;

const MIN64: u64 = 1 << 63;
const MAX64: u64 = u64::MAX >> 1;

// ---- encoders for the forms testutil lacks ----

/// M-form (rlwinm, rlwnm, rlwimi): opcd | rs | ra | sh/rb | mb | me | rc.
fn m_form(op: u32, rs: u32, ra: u32, sh: u32, mb: u32, me: u32, rc: bool) -> u32 {
    op << 26 | rs << 21 | ra << 16 | sh << 11 | mb << 6 | me << 1 | rc as u32
}

/// The 6-bit mb/me field of MD/MDS forms: low five bits first, then bit 5.
fn mb_field(mb: u32) -> u32 {
    (mb & 31) << 1 | mb >> 5
}

/// MD-form (rldicl 0, rldicr 1, rldic 2, rldimi 3).
fn md_form(xo: u32, rs: u32, ra: u32, sh: u32, mb: u32, rc: bool) -> u32 {
    30 << 26
        | rs << 21
        | ra << 16
        | (sh & 31) << 11
        | mb_field(mb) << 5
        | xo << 2
        | (sh >> 5) << 1
        | rc as u32
}

/// MDS-form (rldcl 8, rldcr 9).
fn mds_form(xo: u32, rs: u32, ra: u32, rb: u32, mb: u32, rc: bool) -> u32 {
    30 << 26 | rs << 21 | ra << 16 | rb << 11 | mb_field(mb) << 5 | xo << 1 | rc as u32
}

/// XS-form (sradi 413, extswsli 445).
fn xs_form(xo: u32, rs: u32, ra: u32, sh: u32, rc: bool) -> u32 {
    31 << 26 | rs << 21 | ra << 16 | (sh & 31) << 11 | xo << 2 | (sh >> 5) << 1 | rc as u32
}

/// isel RT,RA,RB,BC.
fn isel_w(rt: u32, ra: u32, rb: u32, bc: u32) -> u32 {
    31 << 26 | rt << 21 | ra << 16 | rb << 11 | bc << 6 | 15 << 1
}

/// X-form compares: BF in bits 6:8, L in bit 10.
fn cmp_w(xo: u32, bf: u32, l: bool, ra: u32, rb: u32) -> u32 {
    x_form(31, bf << 2 | l as u32, ra, rb, xo, false)
}

/// Opcode-31 XO-form RT,RA,RB.
fn xo(x: u32, oe: bool, rc: bool) -> u32 {
    xo_form(31, 3, 4, 5, oe, x, rc)
}

/// Opcode-31 X-form with RS=4 (bits 6:10), RA=3, RB=5: the logical/shift layout.
fn xl(x: u32, rc: bool) -> u32 {
    x_form(31, 4, 3, 5, x, rc)
}

/// A CPU with r4 = a, r5 = b and XER clear.
fn ab(a: u64, b: u64) -> Cpu {
    let mut c = cpu();
    c.gpr[4] = a;
    c.gpr[5] = b;
    c
}

/// XER flags as (CA, CA32).
fn ca(c: &Cpu) -> (bool, bool) {
    (c.xer.ca, c.xer.ca32)
}

/// XER flags as (OV, OV32, SO).
fn ov(c: &Cpu) -> (bool, bool, bool) {
    (c.xer.ov, c.xer.ov32, c.xer.so)
}

fn mode32(c: &mut Cpu) {
    c.set_msr(c.msr & !msr::SF);
}

const LT: u32 = 8;
const GT: u32 = 4;
const EQ: u32 = 2;
const SO: u32 = 1;

#[test]
fn encoders_match_the_assembler() {
    // Words from powerpc64le-linux-gnu-as -mpower9, so the tests below encode what they claim.
    assert_eq!(m_form(21, 4, 3, 5, 6, 7, false), 0x5483298e); // rlwinm 3,4,5,6,7
    assert_eq!(md_form(0, 4, 3, 35, 40, false), 0x78831a22); // rldicl 3,4,35,40
    assert_eq!(md_form(1, 4, 3, 1, 62, true), 0x78830fa5); // rldicr. 3,4,1,62
    assert_eq!(md_form(2, 4, 3, 33, 34, false), 0x788308aa); // rldic 3,4,33,34
    assert_eq!(md_form(3, 4, 3, 63, 0, false), 0x7883f80e); // rldimi 3,4,63,0
    assert_eq!(mds_form(8, 4, 3, 5, 33, false), 0x78832870); // rldcl 3,4,5,33
    assert_eq!(mds_form(9, 4, 3, 5, 62, false), 0x78832fb2); // rldcr 3,4,5,62
    assert_eq!(xs_form(413, 4, 3, 33, false), 0x7c830e76); // sradi 3,4,33
    assert_eq!(xs_form(445, 4, 3, 35, true), 0x7c831ef7); // extswsli. 3,4,35
    assert_eq!(isel_w(3, 4, 5, 7), 0x7c6429de); // isel 3,4,5,7
    assert_eq!(cmp_w(192, 2, true, 3, 4), 0x7d232180); // cmprb 2,1,3,4
    assert_eq!(cmp_w(224, 3, false, 4, 5), 0x7d8429c0); // cmpeqb 3,4,5
    assert_eq!(cmp_w(0, 1, true, 3, 4), 0x7ca32000); // cmpd 1,3,4
    assert_eq!(x_form(31, 3, 5 << 2, 0, 128, false), 0x7c740100); // setb 3,5
    assert_eq!(x_form(31, 3, 2, 0, 755, false), 0x7c6205e6); // darn 3,2
    assert_eq!(x_form(31, 3, 4, 5, 170, false), 0x7c642954); // addex 3,4,5,0
    assert_eq!(va_form(3, 4, 5, 6, 48), 0x106429b0); // maddhd 3,4,5,6
    assert_eq!(va_form(3, 4, 5, 6, 51), 0x106429b3); // maddld 3,4,5,6
    assert_eq!(x_form(31, 31, 0, 0, 4, false), 0x7fe00008); // tw 31,0,0 (trap)
}

// ---- decode ----

/// Every opcode-31 xo10 this module owns, with its handler.
fn owned31() -> Vec<(u32, Handler)> {
    let mut v: Vec<(u32, Handler)> = vec![
        (0, cmp),
        (4, tw),
        (9, mulhdu),
        (11, mulhwu),
        (24, slw),
        (26, cntlzw),
        (27, sld),
        (28, and),
        (32, cmpl),
        (58, cntlzd),
        (60, andc),
        (68, td),
        (73, mulhd),
        (75, mulhw),
        (122, popcntb),
        (124, nor),
        (128, setb),
        (154, prtyw),
        (170, addex),
        (186, prtyd),
        (192, cmprb),
        (224, cmpeqb),
        (252, bpermd),
        (265, modud),
        (267, moduw),
        (284, eqv),
        (316, xor),
        (378, popcntw),
        (412, orc),
        (444, or),
        (476, nand),
        (506, popcntd),
        (508, cmpb),
        (536, srw),
        (538, cnttzw),
        (539, srd),
        (570, cnttzd),
        (755, darn),
        (777, modsd),
        (779, modsw),
        (792, sraw),
        (794, srad),
        (824, srawi),
        (826, sradi),
        (827, sradi),
        (890, extswsli),
        (891, extswsli),
        (922, extsh),
        (954, extsb),
        (986, extsw),
    ];
    // XO-forms: both OE values.
    let xo_forms: [(u32, Handler); 21] = [
        (8, subfc),
        (10, addc),
        (40, subf),
        (104, neg),
        (136, subfe),
        (138, adde),
        (200, subfze),
        (202, addze),
        (232, subfme),
        (233, mulld),
        (234, addme),
        (235, mullw),
        (266, add),
        (393, divdeu),
        (395, divweu),
        (425, divde),
        (427, divwe),
        (457, divdu),
        (459, divwu),
        (489, divd),
        (491, divw),
    ];
    for (x, h) in xo_forms {
        v.push((x, h));
        v.push((x | 512, h));
    }
    // isel: A-form xo 15 with every BC.
    for bc in 0..32 {
        v.push((bc << 5 | 15, isel));
    }
    v
}

#[test]
fn decode31_claims_exactly_the_owned_words() {
    let owned = owned31();
    for (x, h) in &owned {
        for rc_bit in [0, 1] {
            let w = 0x7c00_0000 | x << 1 | rc_bit;
            let got = decode31(Insn(w)).unwrap_or_else(|| panic!("xo {x} not claimed"));
            assert!(std::ptr::fn_addr_eq(got, *h), "xo {x} decodes elsewhere");
            // And the top-level decoder routes it here.
            assert!(std::ptr::fn_addr_eq(crate::decode::decode(w), *h), "xo {x}");
        }
    }
    // Nothing else is claimed.
    for x in 0..1024u32 {
        if !owned.iter().any(|(o, _)| *o == x) {
            assert!(
                decode31(Insn(0x7c00_0000 | x << 1)).is_none(),
                "xo {x} wrongly claimed"
            );
        }
    }
    // Known words of other modules: lwzx, stdx, mfspr, lvx, lxvx.
    for x in [23, 149, 339, 103, 268] {
        assert!(decode31(Insn(0x7c00_0000 | x << 1)).is_none(), "xo {x}");
    }
    // Full words too, with register fields set.
    for w in [
        0x7c64282eu32,
        0x7c64292a,
        0x7c6802a6,
        0x7c6428ce,
        0x7c642a18,
    ] {
        assert!(decode31(Insn(w)).is_none(), "{w:#x}");
    }
}

#[test]
fn decode_opcode4_claims_only_the_multiply_adds() {
    for x in 0..64u32 {
        let w = 4 << 26 | 3 << 21 | 4 << 16 | 5 << 11 | 6 << 6 | x;
        let want: Option<Handler> = match x {
            48 => Some(maddhd),
            49 => Some(maddhdu),
            51 => Some(maddld),
            _ => None,
        };
        match (decode(Insn(w)), want) {
            (None, None) => {}
            (Some(g), Some(h)) => assert!(std::ptr::fn_addr_eq(g, h), "xo {x}"),
            _ => panic!("opcode 4 xo {x}"),
        }
    }
    // A VX-form vector add is left to VMX.
    assert!(decode(Insn(vx_form(1, 2, 3, 0))).is_none());
}

#[test]
fn decode_primary_opcodes() {
    let table: [(u32, Handler); 20] = [
        (2, tdi),
        (3, twi),
        (7, mulli),
        (8, subfic),
        (10, cmpli),
        (11, cmpi),
        (12, addic),
        (13, addic_rc),
        (14, addi),
        (15, addis),
        (20, rlwimi),
        (21, rlwinm),
        (23, rlwnm),
        (24, ori),
        (25, oris),
        (26, xori),
        (27, xoris),
        (28, andi_rc),
        (29, andis_rc),
        (30, rldicl),
    ];
    for (op, h) in table {
        let w = d_form(op, 3, 4, 0x1234 & !0x1e);
        let g = crate::decode::decode(w);
        assert!(std::ptr::fn_addr_eq(g, h), "opcode {op}");
    }
    // Opcode 30: MD xo 0..3 (bits 27:29), MDS xo 8, 9 (bits 27:30, so 4 here with bit 30 clear is
    // rldcl); the rest is illegal.
    let md: [(u32, Option<Handler>); 8] = [
        (0, Some(rldicl)),
        (1, Some(rldicr)),
        (2, Some(rldic)),
        (3, Some(rldimi)),
        (4, Some(rldcl)),
        (5, None),
        (6, None),
        (7, None),
    ];
    for (x, want) in md {
        let w = 30 << 26 | x << 2;
        match (decode(Insn(w)), want) {
            (None, None) => {}
            (Some(g), Some(h)) => assert!(std::ptr::fn_addr_eq(g, h)),
            _ => panic!("opcode 30 xo {x}"),
        }
    }
    assert!(std::ptr::fn_addr_eq(
        decode(Insn(mds_form(8, 0, 0, 0, 0, false))).unwrap(),
        rldcl as Handler
    ));
    assert!(std::ptr::fn_addr_eq(
        decode(Insn(mds_form(9, 0, 0, 0, 0, false))).unwrap(),
        rldcr as Handler
    ));
    assert!(decode(Insn(mds_form(10, 0, 0, 0, 0, false))).is_none());
    assert!(decode(Insn(mds_form(11, 0, 0, 0, 0, false))).is_none());
}

// ---- D-form arithmetic ----

#[test]
fn addi_li() {
    // addi r3,0,-5 (li r3,-5): RA=0 means the literal 0, not r0.
    let mut c = cpu();
    c.gpr[0] = 100;
    exec(&mut c, d_form(14, 3, 0, -5i16 as u16));
    assert_eq!(c.gpr[3], -5i64 as u64);
}

#[test]
fn addis_and_ori_build_a_constant() {
    // lis r3,0x8000; ori r3,r3,0x1234: lis sign-extends.
    let mut c = cpu();
    exec(&mut c, d_form(15, 3, 0, 0x8000));
    assert_eq!(c.gpr[3], 0xffff_ffff_8000_0000);
    exec(&mut c, d_form(24, 3, 3, 0x1234));
    assert_eq!(c.gpr[3], 0xffff_ffff_8000_1234);
    // oris/xori/xoris.
    exec(&mut c, d_form(25, 3, 4, 0x00ff)); // oris r4,r3,0xff
    assert_eq!(c.gpr[4], 0xffff_ffff_80ff_1234);
    exec(&mut c, d_form(26, 4, 4, 0xffff)); // xori r4,r4,0xffff
    assert_eq!(c.gpr[4], 0xffff_ffff_80ff_edcb);
    exec(&mut c, d_form(27, 4, 4, 0x8000)); // xoris r4,r4,0x8000
    assert_eq!(c.gpr[4], 0xffff_ffff_00ff_edcb);
}

#[test]
fn addic_carry_64_and_32_bit_mode() {
    // addic r3,r4,1 with r4 = 0xffffffff: no 64-bit carry, but a carry out of bit 32.
    let mut c = ab(0xffff_ffff, 0);
    exec(&mut c, d_form(12, 3, 4, 1));
    assert_eq!(c.gpr[3], 0x1_0000_0000);
    assert_eq!(ca(&c), (false, true));
    // The same in 32-bit mode: CA is the carry out of bit 32; the result keeps all 64 bits.
    let mut c = ab(0xffff_ffff, 0);
    mode32(&mut c);
    exec(&mut c, d_form(12, 3, 4, 1));
    assert_eq!(c.gpr[3], 0x1_0000_0000);
    assert_eq!(ca(&c), (true, true));
    // All ones + 1 carries out of both.
    let mut c = ab(u64::MAX, 0);
    exec(&mut c, d_form(12, 3, 4, 1));
    assert_eq!(c.gpr[3], 0);
    assert_eq!(ca(&c), (true, true));
    // Adding -1 to 0 carries out of neither.
    let mut c = ab(0, 0);
    c.xer.ca = true;
    exec(&mut c, d_form(12, 3, 4, 0xffff));
    assert_eq!(c.gpr[3], u64::MAX);
    assert_eq!(ca(&c), (false, false));
}

#[test]
fn addic_uses_r0_and_addic_rc_sets_cr0() {
    let mut c = cpu();
    c.gpr[0] = 10;
    exec(&mut c, d_form(12, 3, 0, 5)); // addic r3,r0,5
    assert_eq!(c.gpr[3], 15);
    c.gpr[4] = 0;
    exec(&mut c, d_form(13, 3, 4, 0xffff)); // addic. r3,r4,-1
    assert_eq!(c.gpr[3], u64::MAX);
    assert_eq!(c.crf(0), LT);
    c.gpr[4] = 1;
    exec(&mut c, d_form(13, 3, 4, 0xffff)); // 1 + -1 = 0, carry
    assert_eq!(c.crf(0), EQ);
    assert!(c.xer.ca);
}

#[test]
fn subfic_cases() {
    // subfic r3,r4,10: 10 - 3 = 7, no borrow so CA=1.
    let mut c = ab(3, 0);
    exec(&mut c, d_form(8, 3, 4, 10));
    assert_eq!(c.gpr[3], 7);
    assert_eq!(ca(&c), (true, true));
    // 3 - 10 borrows: CA=0.
    let mut c = ab(10, 0);
    exec(&mut c, d_form(8, 3, 4, 3));
    assert_eq!(c.gpr[3], -7i64 as u64);
    assert_eq!(ca(&c), (false, false));
    // 0 - 0: ~0 + 0 + 1 carries out.
    let mut c = ab(0, 0);
    exec(&mut c, d_form(8, 3, 4, 0));
    assert_eq!(c.gpr[3], 0);
    assert_eq!(ca(&c), (true, true));
}

#[test]
fn mulli_cases() {
    let mut c = ab(7, 0);
    exec(&mut c, d_form(7, 3, 4, -3i16 as u16));
    assert_eq!(c.gpr[3], -21i64 as u64);
    let mut c = ab(1 << 62, 0);
    exec(&mut c, d_form(7, 3, 4, 4)); // the low 64 bits only
    assert_eq!(c.gpr[3], 0);
}

// ---- XO-form add/subtract ----

#[test]
fn addo_overflow() {
    // addo. r3,r4,r5 with 0x7fff..ff + 1: signed overflow sets OV, SO, and CR0[SO].
    let mut c = ab(i64::MAX as u64, 1);
    exec(&mut c, xo_form(31, 3, 4, 5, true, 266, true));
    assert_eq!(c.gpr[3], 1 << 63);
    assert!(c.xer.ov && c.xer.so && !c.xer.ov32);
    assert_eq!(c.crf(0), 0b1001);
    // A later addo without overflow clears OV but SO is sticky.
    c.gpr[4] = 1;
    exec(&mut c, xo(266, true, false));
    assert_eq!(ov(&c), (false, false, true));
}

#[test]
fn add_ov_in_32_bit_mode() {
    // 0x7fffffff + 1 overflows a word: OV32 in both modes, OV only in 32-bit mode.
    let mut c = ab(0x7fff_ffff, 1);
    exec(&mut c, xo(266, true, false));
    assert_eq!(c.gpr[3], 0x8000_0000);
    assert_eq!(ov(&c), (false, true, false));
    let mut c = ab(0x7fff_ffff, 1);
    mode32(&mut c);
    exec(&mut c, xo(266, true, true));
    assert_eq!(ov(&c), (true, true, true));
    // CR0 in 32-bit mode looks at the low word: 0x80000000 is negative.
    assert_eq!(c.crf(0), LT | SO);
}

#[test]
fn add_without_oe_leaves_xer() {
    let mut c = ab(MAX64, 1);
    c.xer.ca = true;
    exec(&mut c, xo(266, false, false));
    assert_eq!(c.gpr[3], MIN64);
    assert_eq!(ov(&c), (false, false, false));
    assert!(c.xer.ca, "add does not touch CA");
}

#[test]
fn record_form_cr0() {
    // add. giving negative, positive and zero results, then with SO set.
    for (a, b, want) in [(0, u64::MAX, LT), (2, 3, GT), (5, -5i64 as u64, EQ)] {
        let mut c = ab(a, b);
        exec(&mut c, xo(266, false, true));
        assert_eq!(c.crf(0), want);
        let mut c = ab(a, b);
        c.xer.so = true;
        exec(&mut c, xo(266, false, true));
        assert_eq!(c.crf(0), want | SO);
    }
    // 0x1_00000000 is positive in 64-bit mode, zero in 32-bit mode.
    let mut c = ab(0xffff_ffff, 1);
    exec(&mut c, xo(266, false, true));
    assert_eq!(c.crf(0), GT);
    mode32(&mut c);
    exec(&mut c, xo(266, false, true));
    assert_eq!(c.crf(0), EQ);
    // Other CR fields are untouched.
    let mut c = ab(1, 1);
    c.cr = 0x0765_4321;
    exec(&mut c, xo(266, false, true));
    assert_eq!(c.cr, 0x4765_4321);
}

#[test]
fn addc_carries() {
    // All ones + 1: carry out of bit 0 and of bit 32.
    let mut c = ab(u64::MAX, 1);
    exec(&mut c, xo(10, false, false));
    assert_eq!(c.gpr[3], 0);
    assert_eq!(ca(&c), (true, true));
    // 0xffffffff + 1: carry only out of bit 32; in 64-bit mode CA stays clear.
    let mut c = ab(0xffff_ffff, 1);
    exec(&mut c, xo(10, false, false));
    assert_eq!(ca(&c), (false, true));
    let mut c = ab(0xffff_ffff, 1);
    mode32(&mut c);
    exec(&mut c, xo(10, false, false));
    assert_eq!(ca(&c), (true, true));
    // 0x8000000000000000 + same: 64-bit carry, overflow, zero low word without a word carry.
    let mut c = ab(MIN64, MIN64);
    exec(&mut c, xo(10, true, true));
    assert_eq!(c.gpr[3], 0);
    assert_eq!(ca(&c), (true, false));
    assert_eq!(ov(&c), (true, false, true));
    assert_eq!(c.crf(0), EQ | SO);
}

#[test]
fn adde_addme_addze() {
    let mut c = ab(5, 6);
    c.xer.ca = true;
    exec(&mut c, xo(138, false, false)); // adde
    assert_eq!(c.gpr[3], 12);
    assert_eq!(ca(&c), (false, false));
    // adde of all ones + 0 + CA carries.
    let mut c = ab(u64::MAX, 0);
    c.xer.ca = true;
    exec(&mut c, xo(138, false, false));
    assert_eq!(c.gpr[3], 0);
    assert_eq!(ca(&c), (true, true));
    // addme: RA + CA - 1.
    let mut c = ab(0, 0);
    exec(&mut c, xo(234, false, false));
    assert_eq!(c.gpr[3], u64::MAX);
    assert_eq!(ca(&c), (false, false));
    let mut c = ab(0, 0);
    c.xer.ca = true;
    exec(&mut c, xo(234, false, false));
    assert_eq!(c.gpr[3], 0);
    assert_eq!(ca(&c), (true, true));
    // addmeo: MIN + 0 - 1 overflows.
    let mut c = ab(MIN64, 0);
    exec(&mut c, xo(234, true, false));
    assert_eq!(c.gpr[3], MAX64);
    assert_eq!(ov(&c), (true, false, true));
    // addze: RA + CA.
    let mut c = ab(u64::MAX, 0);
    c.xer.ca = true;
    exec(&mut c, xo(202, false, false));
    assert_eq!(c.gpr[3], 0);
    assert_eq!(ca(&c), (true, true));
    let mut c = ab(MAX64, 0);
    c.xer.ca = true;
    exec(&mut c, xo(202, true, false));
    assert_eq!(c.gpr[3], MIN64);
    assert_eq!(ov(&c), (true, false, true));
    assert_eq!(
        ca(&c),
        (false, true),
        "0xffffffff + 1 carries out of the low word"
    );
}

#[test]
fn subf_family() {
    // subf r3,r4,r5 = r5 - r4.
    let mut c = ab(5, 3);
    exec(&mut c, xo(40, false, false));
    assert_eq!(c.gpr[3], -2i64 as u64);
    // subfo: MIN - 1 overflows.
    let mut c = ab(1, MIN64);
    exec(&mut c, xo(40, true, false));
    assert_eq!(c.gpr[3], MAX64);
    assert_eq!(ov(&c), (true, false, true));
    // subfc: CA is "no borrow".
    let mut c = ab(3, 5);
    exec(&mut c, xo(8, false, false));
    assert_eq!(c.gpr[3], 2);
    assert_eq!(ca(&c), (true, true));
    let mut c = ab(5, 3);
    exec(&mut c, xo(8, false, false));
    assert_eq!(ca(&c), (false, false));
    let mut c = ab(7, 7);
    exec(&mut c, xo(8, false, true));
    assert_eq!(ca(&c), (true, true));
    assert_eq!(c.crf(0), EQ);
    // 0x1_00000000 - 1: a borrow out of the low word only.
    let mut c = ab(1, 0x1_0000_0000);
    exec(&mut c, xo(8, false, false));
    assert_eq!(c.gpr[3], 0xffff_ffff);
    assert_eq!(ca(&c), (true, false));
    mode32(&mut c);
    exec(&mut c, xo(8, false, false));
    assert_eq!(ca(&c), (false, false));
    // subfe: RB + ~RA + CA; with CA=0 it is RB - RA - 1.
    let mut c = ab(3, 10);
    exec(&mut c, xo(136, false, false));
    assert_eq!(c.gpr[3], 6);
    assert!(c.xer.ca);
    let mut c = ab(3, 10);
    c.xer.ca = true;
    exec(&mut c, xo(136, false, false));
    assert_eq!(c.gpr[3], 7);
    // subfme: ~RA + CA - 1.
    let mut c = ab(0, 0);
    c.xer.ca = true;
    exec(&mut c, xo(232, false, false));
    assert_eq!(c.gpr[3], u64::MAX);
    assert_eq!(ca(&c), (true, true));
    let mut c = ab(u64::MAX, 0);
    exec(&mut c, xo(232, false, false)); // 0 + 0 - 1 borrows
    assert_eq!(c.gpr[3], u64::MAX);
    assert_eq!(ca(&c), (false, false));
    // subfze: ~RA + CA.
    let mut c = ab(0, 0);
    c.xer.ca = true;
    exec(&mut c, xo(200, false, false));
    assert_eq!(c.gpr[3], 0);
    assert_eq!(ca(&c), (true, true));
    let mut c = ab(1, 0);
    c.xer.ca = true;
    exec(&mut c, xo(200, false, false));
    assert_eq!(c.gpr[3], u64::MAX);
    assert_eq!(ca(&c), (false, false));
    // subfzeo of the most negative value: ~MIN + 1 = MIN overflows.
    let mut c = ab(MIN64, 0);
    c.xer.ca = true;
    exec(&mut c, xo(200, true, false));
    assert_eq!(c.gpr[3], MIN64);
    assert_eq!(ov(&c), (true, false, true));
}

#[test]
fn neg_cases() {
    let mut c = ab(5, 0);
    c.xer.ca = true;
    exec(&mut c, xo(104, false, true));
    assert_eq!(c.gpr[3], -5i64 as u64);
    assert_eq!(c.crf(0), LT);
    assert!(c.xer.ca, "neg leaves CA");
    // nego of the most negative doubleword.
    let mut c = ab(MIN64, 0);
    exec(&mut c, xo(104, true, false));
    assert_eq!(c.gpr[3], MIN64);
    assert_eq!(ov(&c), (true, false, true));
    // Of the most negative word: OV32 always, OV only in 32-bit mode.
    let mut c = ab(0x8000_0000, 0);
    exec(&mut c, xo(104, true, false));
    assert_eq!(c.gpr[3], 0xffff_ffff_8000_0000);
    assert_eq!(ov(&c), (false, true, false));
    let mut c = ab(0x8000_0000, 0);
    mode32(&mut c);
    exec(&mut c, xo(104, true, false));
    assert_eq!(ov(&c), (true, true, true));
    // neg 0 is 0 without overflow.
    let mut c = ab(0, 0);
    exec(&mut c, xo(104, true, false));
    assert_eq!((c.gpr[3], ov(&c)), (0, (false, false, false)));
}

#[test]
fn addex_cases() {
    // RA + RB + OV, carry out to OV and OV32; SO untouched.
    let mut c = ab(u64::MAX, 0);
    c.xer.ov = true;
    exec(&mut c, x_form(31, 3, 4, 5, 170, false));
    assert_eq!(c.gpr[3], 0);
    assert_eq!(ov(&c), (true, true, false));
    let mut c = ab(1, 2);
    c.xer.ov = true;
    c.xer.so = true;
    exec(&mut c, x_form(31, 3, 4, 5, 170, false));
    assert_eq!(c.gpr[3], 4);
    assert_eq!(ov(&c), (false, false, true));
    // Word carry only: OV in 32-bit mode, not in 64-bit mode.
    let mut c = ab(0xffff_ffff, 1);
    exec(&mut c, x_form(31, 3, 4, 5, 170, false));
    assert_eq!(ov(&c), (false, true, false));
    let mut c = ab(0xffff_ffff, 1);
    mode32(&mut c);
    exec(&mut c, x_form(31, 3, 4, 5, 170, false));
    assert_eq!(ov(&c), (true, true, false));
    // CA is not involved.
    let mut c = ab(1, 1);
    c.xer.ca = true;
    exec(&mut c, x_form(31, 3, 4, 5, 170, false));
    assert_eq!((c.gpr[3], c.xer.ca), (2, true));
}

// ---- multiply ----

#[test]
fn mullw_cases() {
    // The full 64-bit product of the signed low words; the high words are ignored.
    let mut c = ab(0xdead_beef_ffff_ffff, 2);
    exec(&mut c, xo(235, false, false));
    assert_eq!(c.gpr[3], -2i64 as u64);
    for (a, b, p, o) in [
        (0x1_0000, 0x1_0000, 0x1_0000_0000u64, true),
        (0x7fff_ffff, 2, 0xffff_fffe, true),
        (0xffff_ffff, 0xffff_ffff, 1, false),
        (0x8000_0000, 0xffff_ffff, 0x8000_0000, true), // MIN * -1
        (0x8000, 0xffff_0000, 0xffff_ffff_8000_0000, false), // 2^15 * -2^16 = -2^31
    ] {
        let mut c = ab(a, b);
        exec(&mut c, xo(235, true, true));
        assert_eq!(c.gpr[3], p, "{a:#x}*{b:#x}");
        assert_eq!(ov(&c), (o, o, o), "{a:#x}*{b:#x}");
    }
}

#[test]
fn mulld_cases() {
    for (a, b, p, o) in [
        (1u64 << 32, 1u64 << 31, MIN64, true),
        (1 << 32, 1 << 32, 0, true),
        (u64::MAX, u64::MAX, 1, false),
        (MIN64, u64::MAX, MIN64, true),
        (1 << 31, (-(1i64 << 32)) as u64, MIN64, false), // exactly -2^63
        (3, -7i64 as u64, -21i64 as u64, false),
    ] {
        let mut c = ab(a, b);
        exec(&mut c, xo(233, true, false));
        assert_eq!(c.gpr[3], p, "{a:#x}*{b:#x}");
        assert_eq!(ov(&c), (o, o, o), "{a:#x}*{b:#x}");
    }
}

#[test]
fn mulh() {
    // mulhw: (-2^31)^2 = 2^62, high word 0x40000000 (replicated in RT[0:31], as POWER9).
    let mut c = ab(0x8000_0000, 0x8000_0000);
    exec(&mut c, xo(75, false, true));
    assert_eq!(c.gpr[3], 0x4000_0000_4000_0000);
    assert_eq!(c.crf(0), GT);
    // -2 * 3 = -6: high word all ones.
    let mut c = ab(-2i64 as u64, 3);
    exec(&mut c, xo(75, false, false));
    assert_eq!(c.gpr[3], u64::MAX);
    // mulhwu: 0xffffffff^2 = 0xfffffffe_00000001.
    let mut c = ab(0x1234_5678_ffff_ffff, 0xffff_ffff);
    exec(&mut c, xo(11, false, false));
    assert_eq!(c.gpr[3], 0xffff_fffe_ffff_fffe);
    // mulhd: -1 * 1 = -1, high doubleword all ones; 2^62 * 4 = 2^64, high 1.
    let mut c = ab(u64::MAX, 1);
    exec(&mut c, xo(73, false, true));
    assert_eq!(c.gpr[3], u64::MAX);
    assert_eq!(c.crf(0), LT);
    let mut c = ab(1 << 62, 4);
    exec(&mut c, xo(73, false, false));
    assert_eq!(c.gpr[3], 1);
    // mulhdu: (2^64-1)^2 = 2^128 - 2^65 + 1, high doubleword 2^64 - 2.
    let mut c = ab(u64::MAX, u64::MAX);
    exec(&mut c, xo(9, false, false));
    assert_eq!(c.gpr[3], u64::MAX - 1);
}

#[test]
fn multiply_add() {
    let run = |x: u32, a: u64, b: u64, cc: u64| {
        let mut c = ab(a, b);
        c.gpr[6] = cc;
        exec(&mut c, va_form(3, 4, 5, 6, x));
        c.gpr[3]
    };
    // maddhd: signed, RC sign-extended into the 128-bit sum.
    assert_eq!(run(48, u64::MAX, 1, 0), u64::MAX);
    assert_eq!(run(48, 1 << 32, 1 << 32, 0), 1);
    assert_eq!(run(48, 1 << 32, 1 << 32, u64::MAX), 0); // 2^64 - 1
    assert_eq!(run(48, 0, 0, u64::MAX), u64::MAX); // EXTS(-1)
                                                   // maddhdu: unsigned; (2^64-1)^2 + 2^64-1 = 2^128 - 2^64.
    assert_eq!(run(49, u64::MAX, u64::MAX, u64::MAX), u64::MAX);
    assert_eq!(run(49, 0, 0, u64::MAX), 0);
    // maddld: low doubleword.
    assert_eq!(run(51, 3, -7i64 as u64, 100), 79);
    assert_eq!(run(51, u64::MAX, u64::MAX, u64::MAX), 0);
}

// ---- divide ----

/// Runs one divide XO-form and returns (RT, (OV, OV32, SO), CR0).
fn div(x: u32, a: u64, b: u64) -> (u64, (bool, bool, bool), u32) {
    let mut c = ab(a, b);
    exec(&mut c, xo(x, true, true));
    (c.gpr[3], ov(&c), c.crf(0))
}

const NO: (bool, bool, bool) = (false, false, false);
const OVF: (bool, bool, bool) = (true, true, true);

#[test]
fn divw_divwu() {
    // Truncating quotient of the low words; RT[0:31] is 0 (POWER9).
    assert_eq!(div(491, 0xffff_ffff_ffff_fff9, 2).0, 0xffff_fffd); // -7/2 = -3
    assert_eq!(div(491, 7, -2i64 as u64).0, 0xffff_fffd);
    assert_eq!(
        div(491, 0xaaaa_0000_0000_0064, 0xbbbb_0000_0000_0007),
        (14, NO, GT)
    );
    // Invalid: MIN/-1 and /0 give 0 with OV, OV32, SO.
    assert_eq!(div(491, 0x8000_0000, 0xffff_ffff), (0, OVF, EQ | SO));
    assert_eq!(div(491, 123, 0), (0, OVF, EQ | SO));
    assert_eq!(div(491, 0x1_0000_0000, 7), (0, NO, EQ)); // low word is 0
                                                         // divwu.
    assert_eq!(div(459, 0xffff_ffff, 2), (0x7fff_ffff, NO, GT));
    assert_eq!(div(459, 0x8000_0000, 0xffff_ffff), (0, NO, EQ));
    assert_eq!(div(459, 5, 0), (0, OVF, EQ | SO));
    // Without OE, XER is untouched even for the invalid case.
    let mut c = ab(5, 0);
    exec(&mut c, xo(491, false, false));
    assert_eq!((c.gpr[3], ov(&c)), (0, NO));
}

#[test]
fn divd_divdu() {
    assert_eq!(div(489, -7i64 as u64, 2), (-3i64 as u64, NO, LT));
    assert_eq!(div(489, MIN64, u64::MAX), (0, OVF, EQ | SO));
    assert_eq!(div(489, 1, 0), (0, OVF, EQ | SO));
    assert_eq!(div(489, MIN64, 2), (0xc000_0000_0000_0000, NO, LT));
    assert_eq!(div(457, u64::MAX, 2), (MAX64, NO, GT));
    assert_eq!(div(457, MIN64, u64::MAX), (0, NO, EQ));
    assert_eq!(div(457, u64::MAX, 0), (0, OVF, EQ | SO));
}

#[test]
fn divwe_divweu() {
    // divwe: (RA[32:63] || 0^32) / EXTS(RB[32:63]).
    assert_eq!(div(427, 1, 4).0, 0x4000_0000);
    assert_eq!(div(427, 0xffff_ffff, 4).0, 0xc000_0000); // -2^32/4 = -2^30
    assert_eq!(div(427, 1, 2), (0, OVF, EQ | SO)); // 2^31 does not fit
    assert_eq!(div(427, 3, 0xffff_fffe), (0, OVF, EQ | SO)); // -3*2^31 does not fit
    assert_eq!(div(427, 5, 0), (0, OVF, EQ | SO));
    // divweu: unsigned; overflow whenever RA[32:63] >= RB[32:63].
    assert_eq!(div(395, 1, 2), (0x8000_0000, NO, GT));
    assert_eq!(div(395, 0xffff_fff9, 0xffff_fffe).0, 0xffff_fffa);
    assert_eq!(div(395, 2, 2), (0, OVF, EQ | SO));
    assert_eq!(div(395, 0, 0), (0, OVF, EQ | SO));
}

#[test]
fn divde_divdeu() {
    // divde: (RA || 0^64) / RB.
    assert_eq!(div(425, 1, 4), (1 << 62, NO, GT));
    assert_eq!(div(425, 1, 2), (0, OVF, EQ | SO)); // 2^63 does not fit
    assert_eq!(div(425, u64::MAX, 2), (MIN64, NO, LT)); // -2^64/2 = -2^63 fits
    assert_eq!(div(425, MIN64, u64::MAX), (0, OVF, EQ | SO));
    assert_eq!(div(425, 1, 0), (0, OVF, EQ | SO));
    // divdeu.
    assert_eq!(div(393, 1, 2), (MIN64, NO, LT));
    // floor((2^64-7) * 2^64 / (2^64-2)) = 2^64 - 5 - floor(10/(2^64-2)) - 1 = 2^64 - 6.
    assert_eq!(div(393, -7i64 as u64, -2i64 as u64).0, -6i64 as u64);
    assert_eq!(div(393, 5, 5), (0, OVF, EQ | SO));
    assert_eq!(div(393, 0, 0), (0, OVF, EQ | SO));
}

#[test]
fn modulo() {
    let run = |x: u32, a: u64, b: u64| {
        let mut c = ab(a, b);
        c.cr = 0x1234_5678;
        exec(&mut c, x_form(31, 3, 4, 5, x, false));
        assert_eq!(c.cr, 0x1234_5678, "no record form");
        assert_eq!(ov(&c), NO);
        c.gpr[3]
    };
    // modsw: the sign follows the dividend; sign-extended.
    assert_eq!(run(779, 0xffff_ffff_ffff_fff9, 2), u64::MAX); // -7 % 2 = -1
    assert_eq!(run(779, 7, 0xffff_fffe), 1); // 7 % -2 = 1
    assert_eq!(run(779, 0x8000_0000, 0xffff_ffff), 0);
    assert_eq!(run(779, 7, 0), 0);
    // moduw.
    assert_eq!(run(267, 0xffff_fff9, 2), 1);
    assert_eq!(run(267, 0xffff_ffff_0000_0005, 3), 2);
    assert_eq!(run(267, 7, 0), 0);
    // modsd.
    assert_eq!(run(777, -7i64 as u64, 2), u64::MAX);
    assert_eq!(run(777, 0xffff_fff9, 2), 1);
    assert_eq!(run(777, MIN64, u64::MAX), 0);
    assert_eq!(run(777, 7, 0), 0);
    // modud.
    assert_eq!(run(265, -7i64 as u64, 2), 1);
    assert_eq!(run(265, -7i64 as u64, -2i64 as u64), -7i64 as u64);
    assert_eq!(run(265, 7, 0), 0);
}

// ---- compare ----

#[test]
fn cmp_and_cmpl() {
    let run = |w: u32, a: u64, b: u64, so: bool| {
        let mut c = ab(a, b);
        c.xer.so = so;
        exec(&mut c, w);
        c.crf(3)
    };
    // cmpw (L=0) compares low words signed.
    assert_eq!(
        run(cmp_w(0, 3, false, 4, 5), 0xffff_ffff_0000_0001, 1, false),
        EQ
    );
    assert_eq!(run(cmp_w(0, 3, false, 4, 5), 0xffff_ffff, 1, false), LT);
    // cmpd (L=1).
    assert_eq!(
        run(cmp_w(0, 3, true, 4, 5), 0xffff_ffff_0000_0001, 1, false),
        LT
    );
    assert_eq!(run(cmp_w(0, 3, true, 4, 5), 5, 3, true), GT | SO);
    // cmplw / cmpld.
    assert_eq!(run(cmp_w(32, 3, false, 4, 5), 0xffff_ffff, 1, false), GT);
    assert_eq!(run(cmp_w(32, 3, false, 4, 5), 0x1_0000_0000, 1, false), LT);
    assert_eq!(
        run(cmp_w(32, 3, true, 4, 5), 0x1_0000_0000, 1, true),
        GT | SO
    );
    assert_eq!(run(cmp_w(32, 3, true, 4, 5), 9, 9, false), EQ);
    // Only field 3 changes.
    let mut c = ab(1, 2);
    c.cr = 0xffff_ffff;
    exec(&mut c, cmp_w(0, 3, true, 4, 5));
    assert_eq!(c.cr, 0xfff8_ffff);
}

#[test]
fn cmpi_and_cmpli() {
    let run = |op: u32, l: bool, a: u64, imm: u16| {
        let mut c = ab(a, 0);
        exec(&mut c, d_form(op, 7 << 2 | l as u32, 4, imm));
        c.crf(7)
    };
    assert_eq!(run(11, false, 0xffff_ffff, 0xffff), EQ); // cmpwi -1,-1
    assert_eq!(run(11, true, 0xffff_ffff, 0xffff), GT); // cmpdi 2^32-1, -1
    assert_eq!(run(11, true, u64::MAX, 0), LT);
    assert_eq!(run(10, false, 0x1_0000_ffff, 0xffff), EQ); // cmplwi
    assert_eq!(run(10, true, 0x1_0000_ffff, 0xffff), GT); // cmpldi
    assert_eq!(run(10, true, 0x8000, 0xffff), LT); // UI is not sign-extended
}

#[test]
fn cmprb_isa_examples() {
    // cmprb results land in the GT bit; LT, EQ and SO are 0 (even with XER[SO] set).
    let run = |l: bool, ch: u8, rb: u64| {
        let mut c = ab(0xffff_ff00 | ch as u64, rb);
        c.xer.so = true;
        exec(&mut c, cmp_w(192, 1, l, 4, 5));
        c.crf(1)
    };
    // "Is a digit": range '0'..'9' in RB[48:63] = 0x3930.
    assert_eq!(run(false, b'5', 0x3930), GT);
    assert_eq!(run(false, b'0', 0x3930), GT);
    assert_eq!(run(false, b'9', 0x3930), GT);
    assert_eq!(run(false, b'a', 0x3930), 0);
    assert_eq!(run(false, b'/', 0x3930), 0);
    // "Is alphabetic": 'a'..'z' and 'A'..'Z' with L=1, RB = 0x7a61_5a41.
    assert_eq!(run(true, b'q', 0x7a61_5a41), GT);
    assert_eq!(run(true, b'Q', 0x7a61_5a41), GT);
    assert_eq!(run(true, b'5', 0x7a61_5a41), 0);
    assert_eq!(run(true, b'[', 0x7a61_5a41), 0);
    // With L=0 the second range is ignored.
    assert_eq!(run(false, b'q', 0x7a61_5a41), 0);
}

#[test]
fn cmpeqb_examples() {
    let run = |ch: u64, rb: u64| {
        let mut c = ab(ch, rb);
        exec(&mut c, cmp_w(224, 6, false, 4, 5));
        c.crf(6)
    };
    // Is the character one of " \t\n\r\x0b\x0c" (whitespace)?
    let ws = u64::from_be_bytes(*b"  \t\n\r\x0b\x0c ");
    assert_eq!(run(b' ' as u64, ws), GT);
    assert_eq!(run(b'\r' as u64, ws), GT);
    assert_eq!(run(b'x' as u64, ws), 0);
    // Only RA[56:63] matters.
    assert_eq!(run(0x4141_4141_4141_4100 | b'\n' as u64, ws), GT);
    // Each byte position, and the zero byte.
    for k in 0..8 {
        assert_eq!(run(0x5a, 0x5a << (8 * k)), GT, "byte {k}");
        assert_eq!(run(0x5b, 0x5a << (8 * k)), 0, "byte {k}");
    }
    assert_eq!(run(0, u64::MAX), 0);
    assert_eq!(run(0, 0xffff_ff00_ffff_ffff), GT);
    assert_eq!(run(0x01, 0x0200_0000_0000_0000), 0); // borrow cannot fake a match
}

#[test]
fn setb_each_state() {
    for (field, want) in [
        (LT, u64::MAX),
        (GT, 1),
        (EQ, 0),
        (SO, 0),
        (LT | GT, u64::MAX),
        (GT | EQ | SO, 1),
        (0, 0),
    ] {
        let mut c = cpu();
        c.gpr[3] = 0x55;
        c.set_crf(5, field);
        exec(&mut c, x_form(31, 3, 5 << 2, 0, 128, false));
        assert_eq!(c.gpr[3], want, "CR field {field:#x}");
    }
}

#[test]
fn isel_cases() {
    // BC=0 is CR0[LT].
    let mut c = ab(11, 22);
    c.set_crf(0, LT);
    exec(&mut c, isel_w(3, 4, 5, 0));
    assert_eq!(c.gpr[3], 11);
    c.set_crf(0, GT | EQ | SO);
    exec(&mut c, isel_w(3, 4, 5, 0));
    assert_eq!(c.gpr[3], 22);
    // RA=0 selects the literal 0.
    c.gpr[0] = 99;
    c.set_crf(0, LT);
    exec(&mut c, isel_w(3, 0, 5, 0));
    assert_eq!(c.gpr[3], 0);
    // BC=31 is CR7[SO].
    c.cr = 1;
    exec(&mut c, isel_w(3, 4, 5, 31));
    assert_eq!(c.gpr[3], 11);
}

// ---- traps ----

#[test]
fn traps_each_to_bit() {
    let trap = Err(Exception::Program(ProgramKind::Trap));
    // (TO, a, b, traps): one case that traps and one that does not for each bit.
    let cases: [(u32, u64, u64, bool); 12] = [
        (16, u64::MAX, 0, true), // -1 < 0
        (16, 0, u64::MAX, false),
        (8, 0, u64::MAX, true), // 0 > -1
        (8, u64::MAX, 0, false),
        (4, 7, 7, true),
        (4, 7, 8, false),
        (2, 0, u64::MAX, true), // 0 <u 0xff..ff
        (2, u64::MAX, 0, false),
        (1, u64::MAX, 0, true),
        (1, 0, u64::MAX, false),
        (31, 1, 2, true), // trap unconditionally
        (0, 1, 1, false),
    ];
    for (to, a, b, traps) in cases {
        for xo_ in [4, 68] {
            // tw and td
            let mut c = ab(a, b);
            let r = try_exec(&mut c, x_form(31, to, 4, 5, xo_, false));
            assert_eq!(
                r,
                if traps { trap } else { Ok(()) },
                "xo {xo_} TO {to} {a:#x} {b:#x}"
            );
            if traps {
                assert_eq!(c.pc, CODE, "a trap does not advance");
            } else {
                assert_eq!(c.pc, CODE + 4);
            }
        }
        // twi/tdi with the immediate: b is -1 or a small value that fits SI.
        let imm = b as u16;
        for op in [3, 2] {
            let mut c = ab(a, 0);
            let r = try_exec(&mut c, d_form(op, to, 4, imm));
            assert_eq!(r, if traps { trap } else { Ok(()) }, "op {op} TO {to}");
        }
    }
    // tw compares only the low words; td the whole doublewords.
    let mut c = ab(0x1_0000_0000, 0);
    assert_eq!(try_exec(&mut c, x_form(31, 4, 4, 5, 4, false)), trap);
    assert_eq!(try_exec(&mut c, x_form(31, 4, 4, 5, 68, false)), Ok(()));
    // twi: 0x80000000 is negative as a word; tdi: positive as a doubleword.
    let mut c = ab(0x8000_0000, 0);
    assert_eq!(try_exec(&mut c, d_form(3, 16, 4, 0)), trap);
    assert_eq!(try_exec(&mut c, d_form(2, 16, 4, 0)), Ok(()));
}

// ---- logical ----

#[test]
fn logical_x_forms() {
    let (s, b) = (0xff00_ff00_f0f0_0000u64, 0x0ff0_0ff0_ff00_0001u64);
    for (x, want) in [
        (28, s & b),
        (60, s & !b),
        (444, s | b),
        (412, s | !b),
        (316, s ^ b),
        (476, !(s & b)),
        (124, !(s | b)),
        (284, !(s ^ b)),
    ] {
        let mut c = ab(s, b);
        exec(&mut c, xl(x, true));
        assert_eq!(c.gpr[3], want, "xo {x}");
        let cr0 = if (want as i64) < 0 {
            LT
        } else if want == 0 {
            EQ
        } else {
            GT
        };
        assert_eq!(c.crf(0), cr0, "xo {x}");
    }
    // or with Rc=0 leaves CR0.
    let mut c = ab(1, 2);
    c.cr = 0xa000_0000;
    exec(&mut c, xl(444, false));
    assert_eq!((c.gpr[3], c.cr), (3, 0xa000_0000));
}

#[test]
fn andi_andis_always_record() {
    let mut c = ab(0xffff_ffff_8000_1234, 0);
    exec(&mut c, d_form(28, 4, 3, 0x00ff)); // andi. r3,r4,0xff
    assert_eq!(c.gpr[3], 0x34);
    assert_eq!(c.crf(0), GT);
    exec(&mut c, d_form(28, 4, 3, 0x0c00));
    assert_eq!((c.gpr[3], c.crf(0)), (0, EQ));
    exec(&mut c, d_form(29, 4, 3, 0x8000)); // andis. r3,r4,0x8000
    assert_eq!(c.gpr[3], 0x8000_0000);
    assert_eq!(c.crf(0), GT, "64-bit mode: positive doubleword");
    mode32(&mut c);
    exec(&mut c, d_form(29, 4, 3, 0x8000));
    assert_eq!(c.crf(0), LT, "32-bit mode: negative word");
}

#[test]
fn sign_extension() {
    let mut c = ab(0x1234_5678_9abc_de80, 0);
    exec(&mut c, xl(954, true)); // extsb.
    assert_eq!(c.gpr[3], 0xffff_ffff_ffff_ff80);
    assert_eq!(c.crf(0), LT);
    exec(&mut c, xl(922, false)); // extsh
    assert_eq!(c.gpr[3], 0xffff_ffff_ffff_de80);
    exec(&mut c, xl(986, false)); // extsw
    assert_eq!(c.gpr[3], 0xffff_ffff_9abc_de80);
    c.gpr[4] = 0xffff_ffff_7fff_7f7f;
    exec(&mut c, xl(954, false));
    assert_eq!(c.gpr[3], 0x7f);
    exec(&mut c, xl(922, false));
    assert_eq!(c.gpr[3], 0x7f7f);
    exec(&mut c, xl(986, true));
    assert_eq!(c.gpr[3], 0x7fff_7f7f);
    assert_eq!(c.crf(0), GT);
}

#[test]
fn count_zeros() {
    let run = |x: u32, s: u64| {
        let mut c = ab(s, 0);
        exec(&mut c, xl(x, true));
        (c.gpr[3], c.crf(0))
    };
    // cntlzw looks at the low word only.
    assert_eq!(run(26, 0xffff_ffff_0000_0000), (32, GT));
    assert_eq!(run(26, 0x0000_0000_0001_0000), (15, GT));
    assert_eq!(run(26, 0x8000_0000), (0, EQ));
    assert_eq!(run(58, 0), (64, GT));
    assert_eq!(run(58, 1), (63, GT));
    assert_eq!(run(58, MIN64), (0, EQ));
    assert_eq!(run(538, 0xffff_ffff_0000_0000), (32, GT));
    assert_eq!(run(538, 0x8000_0000), (31, GT));
    assert_eq!(run(538, 1), (0, EQ));
    assert_eq!(run(570, 0), (64, GT));
    assert_eq!(run(570, MIN64), (63, GT));
    assert_eq!(run(570, 0x100), (8, GT));
}

#[test]
fn population_and_parity() {
    let run = |x: u32, s: u64| {
        let mut c = ab(s, 0);
        c.cr = 0x1234_5678;
        exec(&mut c, xl(x, false));
        assert_eq!(c.cr, 0x1234_5678);
        c.gpr[3]
    };
    let s = 0xff01_0307_0f80_00feu64;
    assert_eq!(run(122, s), 0x0801_0203_0401_0007); // popcntb
    assert_eq!(run(378, s), (8 + 1 + 2 + 3) << 32 | (4 + 1 + 7)); // popcntw
    assert_eq!(run(506, s), 8 + 1 + 2 + 3 + 4 + 1 + 7); // popcntd
    assert_eq!(run(506, u64::MAX), 64);
    assert_eq!(run(122, u64::MAX), 0x0808_0808_0808_0808);
    // prtyw: the low bits of the high word's bytes are 1,1,1,1 -> 0; of the low word's 1,0,0,0 -> 1.
    assert_eq!(run(154, s), 1);
    assert_eq!(run(154, 0x0100_0000_0000_0000), 1 << 32);
    assert_eq!(run(154, 0xfefe_fefe_0101_0100), 1);
    // prtyd: five of the eight low bits are set.
    assert_eq!(run(186, s), 1);
    assert_eq!(run(186, 0x0101_0101_0101_0101), 0);
    assert_eq!(run(186, 0xfefe_fefe_fefe_fefe), 0);
}

#[test]
fn cmpb_cases() {
    let mut c = ab(0x1122_3344_5566_7788, 0x1100_3344_0066_7700);
    exec(&mut c, xl(508, false));
    assert_eq!(c.gpr[3], 0xff00_ffff_00ff_ff00);
    let mut c = ab(7, 7);
    exec(&mut c, xl(508, false));
    assert_eq!(c.gpr[3], u64::MAX);
}

#[test]
fn bpermd_cases() {
    // RS bytes are bit indices into RB (bit 0 = MSB); indices >= 64 give 0.
    let rb = 0x8000_0000_0000_0001u64 | 1 << (63 - 10);
    let rs = u64::from_be_bytes([0, 63, 10, 1, 64, 255, 62, 0]);
    let mut c = ab(rs, rb);
    exec(&mut c, xl(252, false));
    assert_eq!(c.gpr[3], 0b1110_0001);
}

// ---- shifts ----

#[test]
fn slw_srw_sld_srd() {
    let run = |x: u32, s: u64, n: u64| {
        let mut c = ab(s, n);
        exec(&mut c, xl(x, true));
        (c.gpr[3], c.crf(0))
    };
    let s = 0xdead_beef_8765_4321u64;
    // slw: the low word shifted, zero-extended; a shift in 32..63 gives 0.
    assert_eq!(run(24, s, 0).0, 0x8765_4321);
    assert_eq!(run(24, s, 4).0, 0x7654_3210);
    assert_eq!(run(24, s, 31).0, 0x8000_0000);
    assert_eq!(run(24, s, 32), (0, EQ));
    assert_eq!(run(24, s, 63).0, 0);
    assert_eq!(run(24, s, 64 + 4).0, 0x7654_3210, "only RB[58:63] counts");
    // srw.
    assert_eq!(run(536, s, 0).0, 0x8765_4321);
    assert_eq!(run(536, s, 4).0, 0x0876_5432);
    assert_eq!(run(536, s, 31).0, 1);
    assert_eq!(run(536, s, 32).0, 0);
    // sld / srd: RB[57:63], 64..127 give 0.
    assert_eq!(run(27, s, 0), (s, LT));
    assert_eq!(run(27, s, 4).0, 0xeadb_eef8_7654_3210);
    assert_eq!(run(27, s, 63).0, MIN64);
    assert_eq!(run(27, s, 64).0, 0);
    assert_eq!(run(27, s, 127).0, 0);
    assert_eq!(run(27, s, 128).0, s, "only RB[57:63] counts");
    assert_eq!(run(539, s, 4).0, 0x0dea_dbee_f876_5432);
    assert_eq!(run(539, s, 63), (1, GT));
    assert_eq!(run(539, s, 64).0, 0);
}

#[test]
fn sraw_srawi_carry() {
    let run = |s: u64, n: u32, imm: bool| {
        let mut c = ab(s, n as u64);
        let w = if imm {
            x_form(31, 4, 3, n & 31, 824, true)
        } else {
            xl(792, true)
        };
        exec(&mut c, w);
        (c.gpr[3], ca(&c).0, ca(&c).1, c.crf(0))
    };
    for imm in [false, true] {
        // -8 >> 2 = -2, only zeros shifted out: no carry.
        assert_eq!(run(0xffff_fff8, 2, imm), (-2i64 as u64, false, false, LT));
        // -7 >> 1 = -4, a 1 shifted out: CA.
        assert_eq!(run(0xffff_fff9, 1, imm), (-4i64 as u64, true, true, LT));
        // Positive values never set CA.
        assert_eq!(run(0x7fff_ffff, 4, imm), (0x07ff_ffff, false, false, GT));
        // Shift by 0: the sign-extended word, CA clear.
        assert_eq!(
            run(0x1234_5678_8000_0001, 0, imm),
            (0xffff_ffff_8000_0001, false, false, LT)
        );
        // Shift by 31.
        assert_eq!(run(0x8000_0001, 31, imm), (u64::MAX, true, true, LT));
        assert_eq!(run(0x8000_0000, 31, imm), (u64::MAX, false, false, LT));
    }
    // sraw by 32..63: all sign bits; CA when negative.
    assert_eq!(run(0x8000_0000, 32, false), (u64::MAX, true, true, LT));
    assert_eq!(run(0x7fff_ffff, 63, false), (0, false, false, EQ));
    assert_eq!(run(0xffff_ffff_0000_0000, 40, false), (0, false, false, EQ));
}

#[test]
fn srad_sradi_carry() {
    let run = |s: u64, n: u32, imm: bool| {
        let mut c = ab(s, n as u64);
        let w = if imm {
            xs_form(413, 4, 3, n, true)
        } else {
            xl(794, true)
        };
        exec(&mut c, w);
        (c.gpr[3], ca(&c).0, ca(&c).1)
    };
    for imm in [false, true] {
        assert_eq!(run(-8i64 as u64, 2, imm), (-2i64 as u64, false, false));
        assert_eq!(run(-7i64 as u64, 1, imm), (-4i64 as u64, true, true));
        assert_eq!(run(MIN64 | 1, 0, imm), (MIN64 | 1, false, false));
        assert_eq!(run(MIN64 | 1, 63, imm), (u64::MAX, true, true));
        assert_eq!(run(MIN64, 63, imm), (u64::MAX, false, false));
        assert_eq!(run(MAX64, 63, imm), (0, false, false));
        assert_eq!(run(MAX64, 33, imm), (0x3fff_ffff, false, false));
    }
    // srad by 64..127.
    assert_eq!(run(MIN64, 64, false), (u64::MAX, true, true));
    assert_eq!(run(MAX64, 127, false), (0, false, false));
    assert_eq!(
        run(-1i64 as u64, 128, false),
        (u64::MAX, false, false),
        "RB[57:63] = 0"
    );
}

#[test]
fn extswsli_cases() {
    let run = |s: u64, n: u32| {
        let mut c = ab(s, 0);
        c.xer.ca = true;
        exec(&mut c, xs_form(445, 4, 3, n, true));
        assert!(c.xer.ca, "no carry update");
        (c.gpr[3], c.crf(0))
    };
    assert_eq!(run(0x1234_5678_8000_0001, 0), (0xffff_ffff_8000_0001, LT));
    assert_eq!(run(0x1234_5678_8000_0001, 4), (0xffff_fff8_0000_0010, LT));
    assert_eq!(run(0x1234_5678_8000_0001, 32), (0x8000_0001_0000_0000, LT));
    assert_eq!(run(3, 63), (MIN64, LT));
    assert_eq!(run(2, 63), (0, EQ));
    assert_eq!(run(0x7fff_ffff, 1), (0xffff_fffe, GT));
}

// ---- rotates ----

fn rot(w: u32, rs: u64, ra: u64, rb: u64) -> (u64, u32) {
    let mut c = cpu();
    c.gpr[4] = rs;
    c.gpr[3] = ra;
    c.gpr[5] = rb;
    exec(&mut c, w);
    (c.gpr[3], c.crf(0))
}

#[test]
fn rlwinm_rlwnm() {
    let s = 0xdead_beef_1234_5678u64;
    // slwi 4 = rlwinm 4,0,27; srwi 4 = rlwinm 28,4,31; clrlwi 16 = rlwinm 0,16,31.
    assert_eq!(
        rot(m_form(21, 4, 3, 4, 0, 27, false), s, 0, 0).0,
        0x2345_6780
    );
    assert_eq!(
        rot(m_form(21, 4, 3, 28, 4, 31, false), s, 0, 0).0,
        0x0123_4567
    );
    assert_eq!(rot(m_form(21, 4, 3, 0, 16, 31, false), s, 0, 0).0, 0x5678);
    // rotlwi 8 with the full mask: the rotated low word, high word clear.
    assert_eq!(
        rot(m_form(21, 4, 3, 8, 0, 31, true), s, 0, 0),
        (0x3456_7812, GT)
    );
    // MB > ME wraps: mask = bits 0..(32+4) and (32+28)..63; ROTL32 replicates the word, so the
    // high word of the result is the rotated word masked by bits 0..31 (all ones).
    let r = 0x3456_7812u64 * 0x1_0000_0001;
    let m = 0xffff_ffff_f800_000fu64;
    assert_eq!(r & m, 0x3456_7812_3000_0002);
    assert_eq!(rot(m_form(21, 4, 3, 8, 28, 4, true), s, 0, 0), (r & m, GT));
    // MB = ME + 1 (modulo 32) gives the full 64-bit mask.
    assert_eq!(
        rot(m_form(21, 4, 3, 0, 1, 0, false), s, 0, 0).0,
        0x1234_5678_1234_5678
    );
    // rlwnm rotates by RB[59:63].
    assert_eq!(
        rot(m_form(23, 4, 3, 5, 0, 31, false), s, 0, 8 + 32).0,
        0x3456_7812
    );
    assert_eq!(rot(m_form(23, 4, 3, 5, 24, 31, true), s, 0, 4), (0x81, GT));
}

#[test]
fn rlwimi_cases() {
    // inslwi r3,r4,8,16 = rlwimi r3,r4,16,16,23: the top byte of r4's low word goes to word
    // bits 16:23 (doubleword bits 48:55).
    let (r, cr) = rot(
        m_form(20, 4, 3, 16, 16, 23, true),
        0xab00_0000,
        0x1111_1111_2222_2222,
        0,
    );
    assert_eq!((r, cr), (0x1111_1111_2222_ab22, GT));
    // Wrapping mask 31..0 (MB=31, ME=0): bits 0..32 and 63 from the rotation, which for a
    // zero rotation is the word replicated.
    let (r, _) = rot(
        m_form(20, 4, 3, 0, 31, 0, false),
        0x8000_0001,
        0x5555_5555_5555_5555,
        0,
    );
    // m = 0xffff_ffff_8000_0001: (0x8000_0001_8000_0001 & m) | (0x5555..55 & !m).
    assert_eq!(r, 0x8000_0001_d555_5555);
}

#[test]
fn rldicl_rldicr_rldic() {
    let s = 0x0123_4567_89ab_cdefu64;
    // rldicl: rotate left then clear the left.
    assert_eq!(rot(md_form(0, 4, 3, 0, 0, false), s, 0, 0).0, s);
    assert_eq!(
        rot(md_form(0, 4, 3, 8, 0, false), s, 0, 0).0,
        0x2345_6789_abcd_ef01
    );
    assert_eq!(
        rot(md_form(0, 4, 3, 60, 4, false), s, 0, 0).0,
        0x0012_3456_789a_bcde
    ); // srdi 4
    assert_eq!(rot(md_form(0, 4, 3, 0, 63, true), s, 0, 0), (1, GT)); // clrldi 63
    assert_eq!(rot(md_form(0, 4, 3, 63, 32, false), s, 0, 0).0, 0xc4d5_e6f7); // rotr 1, low word
                                                                              // rldicr: rotate left then clear the right.
    assert_eq!(
        rot(md_form(1, 4, 3, 4, 59, false), s, 0, 0).0,
        0x1234_5678_9abc_def0
    ); // sldi 4
    assert_eq!(rot(md_form(1, 4, 3, 63, 0, true), s, 0, 0), (MIN64, LT));
    assert_eq!(rot(md_form(1, 4, 3, 0, 63, false), s, 0, 0).0, s);
    // rldic: mask MB..63-SH.
    assert_eq!(rot(md_form(2, 4, 3, 8, 48, false), s, 0, 0).0, 0xef00);
    assert_eq!(rot(md_form(2, 4, 3, 0, 0, false), s, 0, 0).0, s);
    // rldic with MB > 63-SH wraps: SH=8, MB=60: bits 60..63 and 0..55.
    assert_eq!(
        rot(md_form(2, 4, 3, 8, 60, false), s, 0, 0).0,
        0x2345_6789_abcd_ef01 & 0xffff_ffff_ffff_ff0f
    );
}

#[test]
fn rldimi_rldcl_rldcr() {
    let s = 0x0123_4567_89ab_cdefu64;
    // insrdi r3,r4,8,24 = rldimi r3,r4,32,24: the low byte of r4 lands at bits 24:31.
    let (r, _) = rot(md_form(3, 4, 3, 32, 24, false), s, u64::MAX, 0);
    assert_eq!(r, 0xffff_ffef_ffff_ffff);
    // SH=0, MB=0: the mask is all ones, RS replaces RA.
    assert_eq!(rot(md_form(3, 4, 3, 0, 0, true), s, u64::MAX, 0), (s, GT));
    // SH=63, MB=0: mask 0..0, only bit 0 from the rotation.
    assert_eq!(rot(md_form(3, 4, 3, 63, 0, false), 1, 0, 0).0, MIN64);
    // rldcl rotates by RB[58:63].
    assert_eq!(
        rot(mds_form(8, 4, 3, 5, 0, false), s, 0, 8 + 64).0,
        0x2345_6789_abcd_ef01
    );
    assert_eq!(rot(mds_form(8, 4, 3, 5, 56, true), s, 0, 4), (0xf0, GT));
    // rldcr.
    assert_eq!(
        rot(mds_form(9, 4, 3, 5, 7, true), s, 0, 4),
        (0x1200_0000_0000_0000, GT)
    );
    assert_eq!(rot(mds_form(9, 4, 3, 5, 63, false), s, 0, 0).0, s);
}

// ---- darn ----

#[test]
fn darn_cases() {
    let run = |l: u32| {
        let mut c = cpu();
        exec(&mut c, x_form(31, 3, l, 0, 755, false));
        c.gpr[3]
    };
    let mut seen = Vec::new();
    for _ in 0..40 {
        let v = run(0);
        assert_eq!(v >> 32, 0, "L=0 is a 32-bit number");
        seen.push(v);
        for l in [1, 2] {
            let v = run(l);
            assert_ne!(v, u64::MAX);
            seen.push(v);
        }
    }
    seen.sort_unstable();
    seen.dedup();
    assert!(seen.len() > 100, "random values repeat: {}", seen.len());
    // The reserved L=3 reports "no random number".
    assert_eq!(run(3), u64::MAX);
}
