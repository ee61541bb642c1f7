//! Inline translations: the fixed-point, load/store and branch instructions that dominate Linux
//! and user code. Each one mirrors its interpreter handler in `crate::insn` exactly (the lockstep
//! checker compares them); anything not here goes to the interpreter through a helper.

use super::*;
use crate::insn::loadstore::DCBZ_BLOCK;

/// Side exits per superblock: each costs code (its own write-back and chaining sequence) and
/// compile time, which a boot pays for (LPAR_JIT_SIDES overrides, for measurements).
fn max_sides() -> u32 {
    static N: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *N.get_or_init(|| {
        std::env::var("LPAR_JIT_SIDES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2)
    })
}

/// The ISA's MASK(mb, me) over 64 bits (bit 0 is the MSB), wrapping when mb > me.
fn mask(mb: u32, me: u32) -> u64 {
    let from = u64::MAX >> mb;
    let to = u64::MAX << (63 - me);
    if mb <= me {
        from & to
    } else {
        from | to
    }
}

/// The target of a b (I-form) or bc (B-form) at `pc`, absolute when AA.
pub(super) fn branch_target(i: Insn, pc: u64, mode: Mode) -> u64 {
    let d = if i.opcd() == 18 {
        (((i.0 & 0x03ff_fffc) << 6) as i32 >> 6) as i64 as u64
    } else {
        (i.0 & 0xfffc) as u16 as i16 as i64 as u64
    };
    mode.ea(if i.aa() { d } else { pc.wrapping_add(d) })
}

/// The CR bits an FXM field selects (mtcrf, mfocrf).
fn fxm_mask(i: Insn) -> u32 {
    let fxm = i.bits(12, 19);
    (0..8)
        .filter(|f| fxm & (0x80 >> f) != 0)
        .fold(0, |m, f| m | 0xf000_0000 >> (4 * f))
}

/// The 6-bit shift of XS/MD/MDS-forms.
fn sh6(i: Insn) -> u32 {
    (i.0 & 2) << 4 | (i.0 >> 11 & 31)
}

/// MD/MDS-form mb or me.
fn mb6(i: Insn) -> u32 {
    let f = i.0 >> 5 & 0x3f;
    (f & 1) << 5 | f >> 1
}

impl E<'_> {
    fn set_crf(&mut self, bf: usize, c: Crf) {
        self.crf_written[bf] = true;
        self.crf[bf] = c;
    }

    /// CR field `bf` <- the comparison of a with b (and XER[SO]), formed lazily.
    fn cmp_to(&mut self, bf: usize, a: Value, b: Value, signed: bool) {
        self.set_crf(bf, Crf::Cmp { a, b, signed });
    }

    /// CR0 from a result, as `Cpu::set_cr0`.
    fn cr0(&mut self, r: Value) {
        let s = if self.mode.sf { r } else { self.sext32(r) };
        let z = self.k(0);
        self.cmp_to(0, s, z, true);
    }

    /// RA <- r, and CR0 for record forms.
    fn put_ra(&mut self, i: Insn, r: Value) {
        self.set_gpr(i.ra(), r);
        if i.rc_bit() {
            self.cr0(r);
        }
    }

    fn put_rt(&mut self, i: Insn, r: Value) {
        self.set_gpr(i.rt(), r);
        if i.rc_bit() {
            self.cr0(r);
        }
    }

    /// The low word of v, zero-extended (a 32-bit move on x86-64, no mask constant).
    fn zext32(&mut self, v: Value) -> Value {
        let w = self.b.ins().ireduce(I32, v);
        self.b.ins().uextend(I64, w)
    }

    fn sext32(&mut self, v: Value) -> Value {
        let w = self.b.ins().ireduce(I32, v);
        self.b.ins().sextend(I64, w)
    }

    fn sext(&mut self, v: Value, ty: Type) -> Value {
        let w = self.b.ins().ireduce(ty, v);
        self.b.ins().sextend(I64, w)
    }

    /// Whether CR bit `n` (ISA numbering) is `set`, as an I8 0/1: a single host compare when
    /// the field holds a comparison made in this block.
    fn crbit_is(&mut self, n: usize, set: bool) -> Value {
        let f = n / 4;
        if let Crf::Cmp { a, b, signed } = self.crf[f] {
            let cc = match (n % 4, signed) {
                (0, true) => Some(IntCC::SignedLessThan),
                (0, false) => Some(IntCC::UnsignedLessThan),
                (1, true) => Some(IntCC::SignedGreaterThan),
                (1, false) => Some(IntCC::UnsignedGreaterThan),
                (2, _) => Some(IntCC::Equal),
                _ => None,
            };
            if let Some(cc) = cc {
                let cc = if set { cc } else { cc.complement() };
                return self.b.ins().icmp(cc, a, b);
            }
            let so = self.so(true);
            let cc = if set { IntCC::NotEqual } else { IntCC::Equal };
            return self.b.ins().icmp_imm_s(cc, so, 0);
        }
        let v = self.crf_val(f, true);
        let v = self.b.ins().band_imm_s(v, 8 >> (n % 4));
        let cc = if set { IntCC::NotEqual } else { IntCC::Equal };
        self.b.ins().icmp_imm_s(cc, v, 0)
    }

    /// a + b (+ cin): the sum, the carry out of bit 0 and out of bit 32 (I8 each).
    fn add3(&mut self, a: Value, b: Value, cin: Option<Value>) -> (Value, Value, Value) {
        let (s, c1) = self.b.ins().uadd_overflow(a, b);
        let (r, ca) = match cin {
            Some(c) => {
                let (r, c2) = self.b.ins().uadd_overflow(s, c);
                (r, self.b.ins().bor(c1, c2))
            }
            None => (s, c1),
        };
        let la = self.zext32(a);
        let lb = self.zext32(b);
        let mut lo = self.b.ins().iadd(la, lb);
        if let Some(c) = cin {
            lo = self.b.ins().iadd(lo, c);
        }
        let hi = self.b.ins().ushr_imm_s(lo, 32);
        let ca32 = self.b.ins().icmp_imm_s(IntCC::NotEqual, hi, 0);
        (r, ca, ca32)
    }

    fn set_ca(&mut self, ca64: Value, ca32: Value) {
        let ca = if self.mode.sf { ca64 } else { ca32 };
        self.store_cpu(ca, OFF_CA);
        self.store_cpu(ca32, OFF_CA32);
    }

    fn xer_ca(&mut self) -> Value {
        let c = self.load_cpu(I8, OFF_CA);
        self.b.ins().uextend(I64, c)
    }

    fn ea(&mut self, v: Value) -> Value {
        if self.mode.sf {
            v
        } else {
            self.zext32(v)
        }
    }

    /// CA and CA32 of an algebraic right shift of `v`: negative, and 1 bits shifted out
    /// (`lost` is v masked to them).
    fn sra_ca(&mut self, v: Value, lost: Value) {
        let lost = self.b.ins().icmp_imm_s(IntCC::NotEqual, lost, 0);
        let neg = self.b.ins().icmp_imm_s(IntCC::SignedLessThan, v, 0);
        let ca = self.b.ins().band(lost, neg);
        self.store_cpu(ca, OFF_CA);
        self.store_cpu(ca, OFF_CA32);
    }

    /// v & m, without a constant-pool load for the common masks.
    fn and_mask(&mut self, v: Value, m: u64) -> Value {
        match m {
            u64::MAX => v,
            M32 => self.zext32(v),
            _ => self.b.ins().band_imm_s(v, m as i64),
        }
    }

    /// ROTL32(RS, n) replicated in both words, masked with `m`.
    fn rotl32_masked(&mut self, v: Value, n: Value, m: u64) -> Value {
        let w = self.b.ins().ireduce(I32, v);
        let r = self.b.ins().rotl(w, n);
        let u = self.b.ins().uextend(I64, r);
        let r = if m >> 32 != 0 {
            let hi = self.b.ins().ishl_imm_s(u, 32);
            self.b.ins().bor(u, hi)
        } else {
            u
        };
        self.b.ins().band_imm_s(r, m as i64)
    }

    /// Translates `i` inline if it is one of the instructions this file knows; false leaves it
    /// to the interpreter (and emits nothing).
    pub(super) fn inline(&mut self, i: Insn, pc: u64, n: u32) -> bool {
        let (rt, ra, rb) = (i.rt(), i.ra(), i.rb());
        match i.opcd() {
            7 => {
                let a = self.gpr(ra);
                let r = self.b.ins().imul_imm_s(a, i.si());
                self.set_gpr(rt, r);
            }
            10 | 11 => {
                let a = self.gpr(ra);
                let signed = i.opcd() == 11;
                let (a, b) = match (signed, i.l10()) {
                    (true, true) => (a, self.k(i.si() as u64)),
                    (true, false) => (self.sext32(a), self.k(i.si() as u64)),
                    (false, true) => (a, self.k(i.ui())),
                    (false, false) => (self.zext32(a), self.k(i.ui())),
                };
                self.cmp_to(i.bf(), a, b, signed);
            }
            12 | 13 => {
                let a = self.gpr(ra);
                let b = self.k(i.si() as u64);
                let (r, ca, ca32) = self.add3(a, b, None);
                self.set_ca(ca, ca32);
                self.set_gpr(rt, r);
                if i.opcd() == 13 {
                    self.cr0(r);
                }
            }
            8 => {
                let a = self.gpr(ra);
                let na = self.b.ins().bnot(a);
                let b = self.k(i.si() as u64);
                let one = self.k(1);
                let (r, ca, ca32) = self.add3(na, b, Some(one));
                self.set_ca(ca, ca32);
                self.set_gpr(rt, r);
            }
            14 | 15 => {
                let a = self.ra0(ra);
                let d = if i.opcd() == 14 { i.si() } else { i.si() << 16 };
                let r = self.b.ins().iadd_imm_s(a, d);
                self.set_gpr(rt, r);
            }
            20 | 21 => {
                let m = mask(i.rc() as u32 + 32, (i.0 >> 1 & 31) + 32);
                let s = self.gpr(rt);
                let r = if rb == 0 && m >> 32 == 0 {
                    // No rotation (clrlwi and friends): a mask of the low word.
                    self.and_mask(s, m)
                } else {
                    let sh = self.k32(rb as u32);
                    self.rotl32_masked(s, sh, m)
                };
                let r = if i.opcd() == 20 {
                    let old = self.gpr(ra);
                    let kept = self.b.ins().band_imm_s(old, !m as i64);
                    self.b.ins().bor(r, kept)
                } else {
                    r
                };
                self.put_ra(i, r);
            }
            23 => {
                let m = mask(i.rc() as u32 + 32, (i.0 >> 1 & 31) + 32);
                let s = self.gpr(rt);
                let b = self.gpr(rb);
                let sh = self.b.ins().ireduce(I32, b);
                let sh = self.b.ins().band_imm_s(sh, 31);
                let r = self.rotl32_masked(s, sh, m);
                self.put_ra(i, r);
            }
            24..=29 => {
                let s = self.gpr(rt);
                let r = match i.opcd() {
                    24 => self.b.ins().bor_imm_s(s, i.ui() as i64),
                    25 => self.b.ins().bor_imm_s(s, (i.ui() << 16) as i64),
                    26 => self.b.ins().bxor_imm_s(s, i.ui() as i64),
                    27 => self.b.ins().bxor_imm_s(s, (i.ui() << 16) as i64),
                    28 => self.b.ins().band_imm_s(s, i.ui() as i64),
                    _ => self.b.ins().band_imm_s(s, (i.ui() << 16) as i64),
                };
                self.set_gpr(ra, r);
                if i.opcd() >= 28 {
                    self.cr0(r);
                }
            }
            30 => {
                let sh = sh6(i);
                let (m, insert) = match i.0 >> 2 & 7 {
                    0 => (mask(mb6(i), 63), false),
                    1 => (mask(0, mb6(i)), false),
                    2 => (mask(mb6(i), 63 - sh), false),
                    3 => (mask(mb6(i), 63 - sh), true),
                    _ => return false,
                };
                let s = self.gpr(rt);
                let form = i.0 >> 2 & 7;
                let mut r = if sh == 0 {
                    self.and_mask(s, m)
                } else if form == 0 && mb6(i) == 64 - sh {
                    // srdi
                    self.b.ins().ushr_imm_s(s, 64 - sh as i64)
                } else if form == 1 && mb6(i) == 63 - sh {
                    // sldi
                    self.b.ins().ishl_imm_s(s, sh as i64)
                } else {
                    let r = self.b.ins().rotl_imm_s(s, sh as i64);
                    self.and_mask(r, m)
                };
                if insert {
                    let old = self.gpr(ra);
                    let kept = self.b.ins().band_imm_s(old, !m as i64);
                    r = self.b.ins().bor(r, kept);
                }
                self.put_ra(i, r);
            }
            31 => return self.inline31(i, pc, n),
            60 => return self.vsx_logical(i, pc, n),
            32..=45 | 50 | 51 | 54 | 55 | 58 | 62 => return self.mem_d(i, pc, n),
            _ => return false,
        }
        true
    }

    fn inline31(&mut self, i: Insn, pc: u64, n: u32) -> bool {
        let (rt, ra, rb) = (i.rt(), i.ra(), i.rb());
        let xo = i.xo10();
        if xo & 0x1f == 15 {
            // isel
            let bit = self.crbit_is(i.rc(), true);
            let a = self.ra0(ra);
            let b = self.gpr(rb);
            let r = self.b.ins().select(bit, a, b);
            self.set_gpr(rt, r);
            return true;
        }
        match xo {
            // XO-form add/subtract family, OE=0 only (OE=1 sets OV/SO: interpreter).
            266 | 40 | 104 | 10 | 8 | 138 | 136 | 202 | 200 => {
                let a = self.gpr(ra);
                let (x, y, cin, ca) = match xo {
                    266 => (a, self.gpr(rb), None, false),
                    40 => (self.b.ins().bnot(a), self.gpr(rb), Some(self.k(1)), false),
                    104 => (self.b.ins().bnot(a), self.k(0), Some(self.k(1)), false),
                    10 => (a, self.gpr(rb), None, true),
                    8 => (self.b.ins().bnot(a), self.gpr(rb), Some(self.k(1)), true),
                    138 => (a, self.gpr(rb), Some(self.xer_ca()), true),
                    136 => (
                        self.b.ins().bnot(a),
                        self.gpr(rb),
                        Some(self.xer_ca()),
                        true,
                    ),
                    202 => (a, self.k(0), Some(self.xer_ca()), true),
                    _ => (self.b.ins().bnot(a), self.k(0), Some(self.xer_ca()), true),
                };
                let (r, c64, c32) = self.add3(x, y, cin);
                if ca {
                    self.set_ca(c64, c32);
                }
                self.put_rt(i, r);
            }
            // and, andc, or, orc, xor, nand, nor, eqv
            28 | 60 | 444 | 412 | 316 | 476 | 124 | 284 => {
                let s = self.gpr(rt);
                let b = self.gpr(rb);
                let r = match xo {
                    28 => self.b.ins().band(s, b),
                    60 => self.b.ins().band_not(s, b),
                    444 => self.b.ins().bor(s, b),
                    412 => self.b.ins().bor_not(s, b),
                    316 => self.b.ins().bxor(s, b),
                    476 => {
                        let x = self.b.ins().band(s, b);
                        self.b.ins().bnot(x)
                    }
                    124 => {
                        let x = self.b.ins().bor(s, b);
                        self.b.ins().bnot(x)
                    }
                    _ => {
                        let x = self.b.ins().bxor(s, b);
                        self.b.ins().bnot(x)
                    }
                };
                self.put_ra(i, r);
            }
            954 | 922 | 986 => {
                let s = self.gpr(rt);
                let ty = match xo {
                    954 => I8,
                    922 => I16,
                    _ => I32,
                };
                let r = self.sext(s, ty);
                self.put_ra(i, r);
            }
            26 | 58 => {
                let s = self.gpr(rt);
                let r = if xo == 26 {
                    let w = self.b.ins().ireduce(I32, s);
                    let c = self.b.ins().clz(w);
                    self.b.ins().uextend(I64, c)
                } else {
                    self.b.ins().clz(s)
                };
                self.put_ra(i, r);
            }
            0 | 32 => {
                let signed = xo == 0;
                let mut a = self.gpr(ra);
                let mut b = self.gpr(rb);
                if !i.l10() {
                    if signed {
                        a = self.sext32(a);
                        b = self.sext32(b);
                    } else {
                        a = self.zext32(a);
                        b = self.zext32(b);
                    }
                }
                self.cmp_to(i.bf(), a, b, signed);
            }
            // slw, srw, sld, srd
            24 | 536 | 27 | 539 => {
                let s = self.gpr(rt);
                let b = self.gpr(rb);
                let word = xo == 24 || xo == 536;
                let nmask = if word { 0x3f } else { 0x7f };
                let lim = if word { 32 } else { 64 };
                let sh = self.b.ins().band_imm_s(b, nmask);
                let src = if word { self.zext32(s) } else { s };
                let r = if xo == 24 || xo == 27 {
                    self.b.ins().ishl(src, sh)
                } else {
                    self.b.ins().ushr(src, sh)
                };
                let r = if word { self.zext32(r) } else { r };
                let ok = self.b.ins().icmp_imm_s(IntCC::UnsignedLessThan, sh, lim);
                let z = self.k(0);
                let r = self.b.ins().select(ok, r, z);
                self.put_ra(i, r);
            }
            // srawi, sradi
            824 | 826 | 827 => {
                let s = self.gpr(rt);
                let (v, sh, bits) = if xo == 824 {
                    (self.sext32(s), rb as u32, 32)
                } else {
                    (s, sh6(i), 64)
                };
                let r = self.b.ins().sshr_imm_s(v, sh as i64);
                // CA: negative and 1 bits shifted out.
                let lost_mask = if sh == 0 { 0 } else { (1u64 << sh) - 1 };
                let lost_mask = if bits == 32 {
                    lost_mask & M32
                } else {
                    lost_mask
                };
                let lost = self.b.ins().band_imm_s(v, lost_mask as i64);
                self.sra_ca(v, lost);
                self.put_ra(i, r);
            }
            // mulld, mullw (OE=0), mulhdu, mulhd
            233 | 235 | 9 | 73 => {
                let a = self.gpr(ra);
                let b = self.gpr(rb);
                let r = match xo {
                    233 => self.b.ins().imul(a, b),
                    235 => {
                        let a = self.sext32(a);
                        let b = self.sext32(b);
                        self.b.ins().imul(a, b)
                    }
                    9 => self.b.ins().umulhi(a, b),
                    _ => self.b.ins().smulhi(a, b),
                };
                self.put_rt(i, r);
            }
            // mfspr/mtspr of LR and CTR
            339 | 467 if matches!(i.spr(), 8 | 9) => {
                let lr = i.spr() == 8;
                if xo == 339 {
                    let v = if lr { self.lr() } else { self.ctr() };
                    self.set_gpr(rt, v);
                } else {
                    let v = self.gpr(rt);
                    if lr {
                        self.lr = Some((v, true));
                    } else {
                        self.ctr = Some((v, true));
                    }
                }
            }
            // mfcr, and mfocrf (only the selected fields, the rest zero)
            19 => {
                let cr = self.cr_word(true);
                let cr = if i.bits(11, 11) == 0 {
                    cr
                } else {
                    self.b.ins().band_imm_s(cr, fxm_mask(i) as i64)
                };
                let v = self.b.ins().uextend(I64, cr);
                self.set_gpr(rt, v);
            }
            // mtcrf, mtocrf: the selected fields
            144 => {
                let m = fxm_mask(i);
                let s = self.gpr(rt);
                let w = self.b.ins().ireduce(I32, s);
                for f in 0..8 {
                    if m & (0xf000_0000 >> (4 * f)) != 0 {
                        let v = self.b.ins().ushr_imm_s(w, 28 - 4 * f as i64);
                        let v = self.b.ins().band_imm_s(v, 0xf);
                        self.set_crf(f, Crf::Val(v, true));
                    }
                }
            }
            // sraw: CA as for srawi; shift amounts of 32..63 shift out every bit
            792 => {
                let s = self.gpr(rt);
                let v = self.sext32(s);
                let b = self.gpr(rb);
                let n = self.b.ins().band_imm_s(b, 0x3f);
                let small = self.b.ins().icmp_imm_s(IntCC::UnsignedLessThan, n, 32);
                let k63 = self.k(63);
                let m = self.b.ins().select(small, n, k63);
                let r = self.b.ins().sshr(v, m);
                let one = self.k(1);
                let lost_mask = self.b.ins().ishl(one, m);
                let lost_mask = self.b.ins().iadd_imm_s(lost_mask, -1);
                let lost = self.b.ins().band(v, lost_mask);
                self.sra_ca(v, lost);
                self.put_ra(i, r);
            }
            // cmpb: 0xff in each byte where RS and RB agree (an exact zero-byte test)
            508 => {
                let s = self.gpr(rt);
                let b = self.gpr(rb);
                let x = self.b.ins().bxor(s, b);
                const L7: i64 = 0x7f7f_7f7f_7f7f_7f7f;
                let y = self.b.ins().band_imm_s(x, L7);
                let y = self.b.ins().iadd_imm_s(y, L7);
                let y = self.b.ins().bor(y, x);
                let y = self.b.ins().bor_imm_s(y, L7);
                let y = self.b.ins().bnot(y);
                let y = self.b.ins().ushr_imm_s(y, 7);
                let r = self.b.ins().imul_imm_s(y, 0xff);
                self.set_gpr(ra, r);
            }
            // popcntd
            506 => {
                let s = self.gpr(rt);
                let r = self.b.ins().popcnt(s);
                self.set_gpr(ra, r);
            }
            // dcbt, dcbtst, icbt: prefetch hints, no effect
            278 | 246 | 22 => {}
            // dcbz: the guest's clear_page and clear_user.
            1014 => {
                let base = self.ra0(ra);
                let idx = self.gpr(rb);
                let ea = self.b.ins().iadd(base, idx);
                let ea = self.ea(ea);
                let ea = self.b.ins().band_imm_s(ea, !(DCBZ_BLOCK as i64 - 1));
                self.zero_block(ea, pc, n);
            }
            // sync (heavyweight) orders everything; lwsync and eieio only what x86-64 never
            // reorders (as the interpreter's handlers)
            598 | 854 if cfg!(target_arch = "x86_64") => {
                if xo == 598 && i.rt() & 3 != 1 {
                    self.b.ins().fence();
                }
            }
            _ => return self.mem_x(i, pc, n),
        }
        true
    }

    /// D/DS-form loads and stores (update forms only where decode accepted them: the slot's
    /// handler is not `illegal`, checked by the caller).
    fn mem_d(&mut self, i: Insn, pc: u64, n: u32) -> bool {
        use kind::*;
        let (op, ds) = (i.opcd(), i.xo2());
        let (k, store, update, disp) = match op {
            32 => (W, false, false, i.si()),
            33 => (W, false, true, i.si()),
            34 => (B, false, false, i.si()),
            35 => (B, false, true, i.si()),
            36 => (W, true, false, i.si()),
            37 => (W, true, true, i.si()),
            38 => (B, true, false, i.si()),
            39 => (B, true, true, i.si()),
            40 => (H, false, false, i.si()),
            41 => (H, false, true, i.si()),
            42 => (HA, false, false, i.si()),
            43 => (HA, false, true, i.si()),
            44 => (H, true, false, i.si()),
            45 => (H, true, true, i.si()),
            58 if ds == 0 => (D, false, false, i.ds()),
            58 if ds == 1 => (D, false, true, i.ds()),
            58 if ds == 2 => (WA, false, false, i.ds()),
            62 if ds == 0 => (D, true, false, i.ds()),
            62 if ds == 1 => (D, true, true, i.ds()),
            // lfd, lfdu, stfd, stfdu
            50 | 51 | 54 | 55 => (FD, op >= 54, op & 1 != 0, i.si()),
            _ => return false,
        };
        let base = self.ra0(i.ra());
        let ea = self.b.ins().iadd_imm_s(base, disp);
        let ea = self.ea(ea);
        self.access(i, ea, k, store, update, pc, n);
        true
    }

    fn mem_x(&mut self, i: Insn, pc: u64, n: u32) -> bool {
        use kind::*;
        let (k, store, update) = match i.xo10() {
            87 => (B, false, false),
            119 => (B, false, true),
            279 => (H, false, false),
            311 => (H, false, true),
            343 => (HA, false, false),
            375 => (HA, false, true),
            23 => (W, false, false),
            55 => (W, false, true),
            341 => (WA, false, false),
            373 => (WA, false, true),
            21 => (D, false, false),
            53 => (D, false, true),
            215 => (B, true, false),
            247 => (B, true, true),
            407 => (H, true, false),
            439 => (H, true, true),
            151 => (W, true, false),
            183 => (W, true, true),
            149 => (D, true, false),
            181 => (D, true, true),
            // lfdx, lfdux, stfdx, stfdux
            599 => (FD, false, false),
            631 => (FD, false, true),
            727 => (FD, true, false),
            759 => (FD, true, true),
            _ => return false,
        };
        let base = self.ra0(i.ra());
        let idx = self.gpr(i.rb());
        let ea = self.b.ins().iadd(base, idx);
        let ea = self.ea(ea);
        self.access(i, ea, k, store, update, pc, n);
        true
    }

    #[allow(clippy::too_many_arguments)]
    fn access(&mut self, i: Insn, ea: Value, k: u8, store: bool, update: bool, pc: u64, n: u32) {
        if k == kind::FD {
            // An FPR doubleword, once MSR[FP] is known to be set (else the interpreter raises
            // the FP unavailable interrupt).
            self.fp_check(pc, n);
            let off = OFF_VSR + 16 * i.rt();
            if store {
                let v = self.load_cpu(I64, off);
                self.store(ea, v, kind::D, pc, n);
            } else {
                let v = self.load(ea, kind::D, pc, n);
                self.store_cpu(v, off);
            }
        } else if store {
            let v = self.gpr(i.rt());
            self.store(ea, v, k, pc, n);
        } else {
            let v = self.load(ea, k, pc, n);
            self.set_gpr(i.rt(), v);
        }
        if update {
            self.set_gpr(i.ra(), ea);
        }
    }

    /// Leaves the block before the instruction at `pc` unless the MSR bit `bit` (FP, VSX) is
    /// set, for the interpreter to raise the unavailable interrupt. Checked once per block, or
    /// again after a helper.
    fn facility_check(&mut self, bit: u64, pc: u64, n: u32) {
        if self.msr_ok & bit != 0 {
            return;
        }
        let msr = self.load_cpu(I64, OFF_MSR);
        let on = self.b.ins().band_imm_s(msr, bit as i64);
        let ok = self.b.create_block();
        let off = self.b.create_block();
        self.b.ins().brif(on, ok, &[], off, &[]);
        self.b.switch_to_block(off);
        self.b.set_cold_block(off);
        self.miss_exit(pc, n);
        self.b.switch_to_block(ok);
        self.msr_ok |= bit;
    }

    fn fp_check(&mut self, pc: u64, n: u32) {
        self.facility_check(crate::cpu::msr::FP, pc, n);
    }

    /// VSX logical operations (xxland, xxlor, xxlxor...) on both doublewords.
    fn vsx_logical(&mut self, i: Insn, pc: u64, n: u32) -> bool {
        let xo8 = i.0 >> 3 & 0xff;
        if !matches!(xo8, 130 | 138 | 146 | 154 | 162 | 170 | 178 | 186) {
            return false;
        }
        self.facility_check(crate::cpu::msr::VSX, pc, n);
        let (t, a, b) = (i.xt(), i.xa(), i.xb());
        for d in 0..2 {
            let off = |r: usize| OFF_VSR + 16 * r + 8 * d;
            let r = if a == b && matches!(xo8, 154 | 138) {
                // xxlxor/xxlandc of a register with itself: zero (how code clears a VSR).
                self.k(0)
            } else {
                let x = self.load_cpu(I64, off(a));
                let y = self.load_cpu(I64, off(b));
                let ins = self.b.ins();
                match xo8 {
                    130 => ins.band(x, y),
                    138 => ins.band_not(x, y),
                    146 => ins.bor(x, y),
                    154 => ins.bxor(x, y),
                    162 => {
                        let o = ins.bor(x, y);
                        self.b.ins().bnot(o)
                    }
                    170 => ins.bor_not(x, y),
                    178 => {
                        let o = ins.band(x, y);
                        self.b.ins().bnot(o)
                    }
                    _ => ins.bxor_not(x, y),
                }
            };
            self.store_cpu(r, off(t));
        }
        true
    }

    /// The software-TLB probe: a value that is nonzero when the access must take the slow path
    /// (no entry with this access's tag, or the access crosses its page), and the entry address.
    fn tlb_probe(&mut self, ea: Value, bytes: u32, write: bool) -> (Value, Value) {
        let entry = self.tlb_entry(ea);
        let tag_off = if write {
            crate::mmu::TLB_TAG_W
        } else {
            crate::mmu::TLB_TAG_R
        };
        let tag = self.b.ins().load(I64, T, entry, tag_off as i32);
        // The page of the access's last byte: one that crosses into the next page finds a tag
        // of its first page in this slot, never that of the next, and misses.
        let last = if bytes > 1 {
            self.b.ins().iadd_imm_s(ea, bytes as i64 - 1)
        } else {
            ea
        };
        let page = self.b.ins().band_imm_s(last, !4095i64);
        let want = self
            .b
            .ins()
            .bor_imm_s(page, crate::mmu::tag_bits(self.mode.pr) as i64);
        let bad = self.b.ins().icmp(IntCC::NotEqual, tag, want);
        (bad, entry)
    }

    /// The address of the software-TLB entry for effective address `ea`.
    pub(super) fn tlb_entry(&mut self, ea: Value) -> Value {
        let sh = crate::mmu::TLB_ENTRY_SIZE.trailing_zeros() as i64;
        let off = self.b.ins().ushr_imm_s(ea, 12 - sh);
        let off = self.b.ins().band_imm_s(
            off,
            ((crate::mmu::TLB_SIZE - 1) * crate::mmu::TLB_ENTRY_SIZE) as i64,
        );
        let tlb = self.load_cpu(I64, OFF_TLB);
        self.b.ins().iadd(tlb, off)
    }

    /// The host address of an access on the fast path: branches to `slow` when it must take the
    /// slow path (TLB miss, page crossing; in real mode, beyond the RAM the fast path covers).
    fn fast_host(&mut self, ea: Value, bytes: u32, write: bool, slow: Block) -> Value {
        let fast = self.b.create_block();
        if self.mode.dr {
            let (bad, entry) = self.tlb_probe(ea, bytes, write);
            self.b.ins().brif(bad, slow, &[], fast, &[]);
            self.b.switch_to_block(fast);
            let addend = self
                .b
                .ins()
                .load(I64, T, entry, crate::mmu::TLB_ADDEND as i32);
            self.b.ins().iadd(ea, addend)
        } else {
            // Real mode: EA bits 0:3 ignored; addresses below the real-mode limit of a hash
            // partition (and inside RAM) need no further check.
            let ra = self.b.ins().band_imm_s(ea, 0x0fff_ffff_ffff_ffff);
            let bad = self.b.ins().icmp_imm_s(
                IntCC::UnsignedGreaterThan,
                ra,
                (self.real_limit - bytes as u64) as i64,
            );
            if write {
                // Real mode has no TLB to keep stores off pages holding decoded code: test the
                // page's bit in the code bitmap (and send page-crossing stores, whose second
                // page goes untested, the slow way too).
                let inside = self.b.create_block();
                self.b.ins().brif(bad, slow, &[], inside, &[]);
                self.b.switch_to_block(inside);
                let word = self.b.ins().ushr_imm_s(ra, 18);
                let word = self.b.ins().ishl_imm_s(word, 3);
                let at = self.b.ins().iadd_imm_s(word, self.code_bits as i64);
                let bits = self
                    .b
                    .ins()
                    .load(I64, MemFlagsData::new().with_notrap(), at, 0);
                let sh = self.b.ins().ushr_imm_s(ra, 12);
                let bit = self.b.ins().ushr(bits, sh);
                let code = self.b.ins().band_imm_s(bit, 1);
                let low = self.b.ins().band_imm_s(ra, 4095);
                let cross =
                    self.b
                        .ins()
                        .icmp_imm_s(IntCC::UnsignedGreaterThan, low, 4096 - bytes as i64);
                let cross = self.b.ins().uextend(I64, cross);
                let bad = self.b.ins().bor(code, cross);
                self.b.ins().brif(bad, slow, &[], fast, &[]);
            } else {
                self.b.ins().brif(bad, slow, &[], fast, &[]);
            }
            self.b.switch_to_block(fast);
            self.b.ins().iadd_imm_s(ra, self.mem_base as i64)
        }
    }

    fn load(&mut self, ea: Value, k: u8, pc: u64, n: u32) -> Value {
        let join = self.b.create_block();
        let v = self.b.append_block_param(join, I64);
        let bytes = kind::bytes(k);
        let slow = self.b.create_block();
        {
            let host = self.fast_host(ea, bytes, false, slow);
            let g = MemFlagsData::new().with_notrap();
            let ty = match bytes {
                1 => I8,
                2 => I16,
                4 => I32,
                _ => I64,
            };
            let mut raw = self.b.ins().load(ty, g, host, 0);
            if !self.mode.le && bytes > 1 {
                raw = self.b.ins().bswap(raw);
            }
            let r = match k {
                kind::HA | kind::WA => self.b.ins().sextend(I64, raw),
                kind::D => raw,
                _ => self.b.ins().uextend(I64, raw),
            };
            self.b.ins().jump(join, &[BlockArg::Value(r)]);
            self.b.switch_to_block(slow);
            self.b.set_cold_block(slow);
        }
        self.miss_exit(pc, n);
        self.b.switch_to_block(join);
        v
    }

    /// The slow path of an access: leave the block before the instruction, for the dispatcher
    /// to run it in the interpreter (which walks the MMU, fills the TLB, or faults). No call
    /// here keeps every value of the block out of callee-saved registers.
    fn miss_exit(&mut self, pc: u64, n: u32) {
        self.store_dirty();
        let p = self.k(pc);
        self.store_cpu(p, OFF_PC);
        self.ret(n, super::super::EXIT_MISS);
    }

    fn store(&mut self, ea: Value, v: Value, k: u8, pc: u64, n: u32) {
        let join = self.b.create_block();
        let bytes = kind::bytes(k);
        let slow = self.b.create_block();
        {
            let host = self.fast_host(ea, bytes, true, slow);
            let g = MemFlagsData::new().with_notrap();
            let mut raw = match bytes {
                1 => self.b.ins().ireduce(I8, v),
                2 => self.b.ins().ireduce(I16, v),
                4 => self.b.ins().ireduce(I32, v),
                _ => v,
            };
            if !self.mode.le && bytes > 1 {
                raw = self.b.ins().bswap(raw);
            }
            if self.check {
                let f = self.k(super::super::check::log_store as *const () as usize as u64);
                let nb = self.k32(bytes);
                let cpu = self.cpu();
                self.b
                    .ins()
                    .call_indirect(self.sigs.log, f, &[cpu, host, nb]);
            }
            self.b.ins().store(g, raw, host, 0);
            self.b.ins().jump(join, &[]);
            self.b.switch_to_block(slow);
            self.b.set_cold_block(slow);
        }
        self.miss_exit(pc, n);
        self.b.switch_to_block(join);
    }

    /// Zeroes the aligned `DCBZ_BLOCK` bytes at `ea` on the store fast path (the block never
    /// crosses a page); the slow path leaves for the interpreter, as a store's does.
    fn zero_block(&mut self, ea: Value, pc: u64, n: u32) {
        let join = self.b.create_block();
        let slow = self.b.create_block();
        let host = self.fast_host(ea, DCBZ_BLOCK as u32, true, slow);
        if self.check {
            let f = self.k(super::super::check::log_store as *const () as usize as u64);
            let nb = self.k32(DCBZ_BLOCK as u32);
            let cpu = self.cpu();
            self.b
                .ins()
                .call_indirect(self.sigs.log, f, &[cpu, host, nb]);
        }
        let z = self.k(0);
        let g = MemFlagsData::new().with_notrap();
        for off in (0..DCBZ_BLOCK as i32).step_by(8) {
            self.b.ins().store(g, z, host, off);
        }
        self.b.ins().jump(join, &[]);
        self.b.switch_to_block(slow);
        self.b.set_cold_block(slow);
        self.miss_exit(pc, n);
        self.b.switch_to_block(join);
    }

    /// b, bc, bclr, bcctr: the block ends with the next pc chosen. False for the other
    /// branch-class instructions (sc, rfid, isync, CR logicals, bctar...).
    pub(super) fn branch(&mut self, i: Insn, pc: u64, n: u32) -> bool {
        let next = self.mode.ea(pc.wrapping_add(4));
        match i.opcd() {
            18 => {
                let t = branch_target(i, pc, self.mode);
                if i.lk() {
                    let l = self.k(next);
                    self.lr = Some((l, true));
                }
                self.exit_const(t, n + 1);
                true
            }
            16 => {
                let take = self.cond(i);
                if i.lk() {
                    let l = self.k(next);
                    self.lr = Some((l, true));
                }
                let t = branch_target(i, pc, self.mode);
                match take {
                    None => self.exit_const(t, n + 1),
                    Some(c) => {
                        // Two exits, each with its own link slot.
                        let taken = self.b.create_block();
                        let not = self.b.create_block();
                        self.b.ins().brif(c, taken, &[], not, &[]);
                        self.b.switch_to_block(taken);
                        self.exit_const(t, n + 1);
                        self.b.switch_to_block(not);
                        self.exit_const(next, n + 1);
                    }
                }
                true
            }
            19 if matches!(i.xo10(), 16 | 528) => {
                let to_lr = i.xo10() == 16;
                // bcctr with BO[2]=0 is illegal (the caller never passes illegal words here).
                let take = self.cond(i);
                let src = if to_lr { self.lr() } else { self.ctr() };
                let t = self.b.ins().band_imm_s(src, !3);
                let t = self.ea(t);
                if i.lk() {
                    let l = self.k(next);
                    self.lr = Some((l, true));
                }
                let v = match take {
                    None => t,
                    Some(c) => {
                        let nv = self.k(next);
                        self.b.ins().select(c, t, nv)
                    }
                };
                self.exit_val(v, n + 1);
                true
            }
            _ => false,
        }
    }

    /// A conditional bc (no link) inside a superblock: the taken path leaves the block, the
    /// fall-through goes on translating (the caller continues). False when the branch must end
    /// the block: unconditional, linking, or its fall-through is on the next page.
    pub(super) fn side_exit_branch(&mut self, i: Insn, pc: u64, n: u32) -> bool {
        let next = self.mode.ea(pc.wrapping_add(4));
        // Only in problem state: user loops gain ~10% from superblocks, while kernel code (a
        // boot) is bound by how fast the background translator gets through it, and bigger
        // blocks slow that down (measured: boot 2.1 s without, 2.3 s with two side exits).
        let sides = if self.mode.pr { max_sides() } else { 0 };
        if i.opcd() != 16 || i.lk() || next & !4095 != pc & !4095 || self.sides >= sides {
            return false;
        }
        self.sides += 1;
        let bo = i.rt() as u32;
        if bo & 4 != 0 && bo & 16 != 0 {
            return false;
        }
        let Some(take) = self.cond(i) else {
            return false;
        };
        let t = branch_target(i, pc, self.mode);
        let taken = self.b.create_block();
        let not = self.b.create_block();
        self.b.ins().brif(take, taken, &[], not, &[]);
        self.b.switch_to_block(taken);
        self.b.set_cold_block(taken);
        self.exit_const(t, n + 1);
        self.b.switch_to_block(not);
        true
    }

    /// BO/BI evaluation with the CTR decrement; None when the branch is always taken.
    pub(super) fn cond(&mut self, i: Insn) -> Option<Value> {
        let bo = i.rt() as u32;
        let mut ok: Option<Value> = None;
        if bo & 4 == 0 {
            let c = self.ctr();
            let c = self.b.ins().iadd_imm_s(c, -1);
            self.ctr = Some((c, true));
            let t = if self.mode.sf { c } else { self.zext32(c) };
            let cc = if bo & 2 != 0 {
                IntCC::Equal
            } else {
                IntCC::NotEqual
            };
            ok = Some(self.b.ins().icmp_imm_s(cc, t, 0));
        }
        if bo & 16 == 0 {
            let c = self.crbit_is(i.ra(), bo & 8 != 0);
            ok = Some(match ok {
                Some(o) => self.b.ins().band(o, c),
                None => c,
            });
        }
        ok
    }
}
