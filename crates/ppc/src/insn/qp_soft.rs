//! IEEE 754 binary128 arithmetic in software on raw `u128` bit patterns, for the ISA 3.0
//! quad-precision instructions (`vsx_qp.rs`), with the same conventions as `fpu`: pure functions
//! returning the result bits and the FPSCR bits they raise (exception bits plus FR/FI), tininess
//! detected before rounding, the ISA's exponent-adjusted results when OE/UE are set (±24576 for
//! binary128, ±1536 for binary64), and the ISA's NaN rules (first NaN operand in priority order,
//! quieted; default QNaN 0x7fff8000...).
//!
//! Everything is exact integer arithmetic: significands are `u128` with the leading one at bit 127
//! and a sticky bit jammed into bit 0; products and FMA sums use a 256-bit pair. Rounding covers
//! the four FPSCR modes, round-to-nearest-away (xsrqpi) and round-to-odd (the `o` forms).

use crate::insn::fp::fpu::{
    class, FI, FPRF_SHIFT, FR, OX, UX, VXCVI, VXIDI, VXIMZ, VXISI, VXSNAN, VXSQRT, VXVC, VXZDZ, XX,
    ZX,
};

pub const SIGN: u128 = 1 << 127;
pub const EXP_MASK: u128 = 0x7fff << 112;
pub const FRAC_MASK: u128 = (1 << 112) - 1;
pub const QUIET: u128 = 1 << 111;
pub const INF: u128 = EXP_MASK;
/// The default QNaN of disabled invalid operations.
pub const DEFAULT_NAN: u128 = 0x7fff_8000 << 96;

/// Rounding of a result: the four FPSCR[RN] modes, ties-away (xsrqpi) and round-to-odd (the `o`
/// forms: truncate, then set the last bit if anything was discarded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rm {
    NearestEven,
    Zero,
    Up,
    Down,
    NearestAway,
    Odd,
}

impl Rm {
    /// The mode selected by an FPSCR value's RN field.
    #[inline]
    pub fn from_rn(fpscr: u64) -> Rm {
        match fpscr & 3 {
            0 => Rm::NearestEven,
            1 => Rm::Zero,
            2 => Rm::Up,
            _ => Rm::Down,
        }
    }
}

/// The FPSCR state an operation depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ctx {
    pub rm: Rm,
    /// Overflow enabled: overflowing results are delivered exponent-adjusted.
    pub oe: bool,
    /// Underflow enabled: tiny results are delivered exponent-adjusted.
    pub ue: bool,
    /// Invalid enabled (ordered compares only).
    pub ve: bool,
}

impl Ctx {
    /// The context of an instruction: FPSCR[RN], or round-to-odd when `odd` (the RO bit).
    #[inline]
    pub fn new(fpscr: u64, odd: bool) -> Ctx {
        use crate::insn::fp::fpu::{OE, UE, VE};
        Ctx {
            rm: if odd { Rm::Odd } else { Rm::from_rn(fpscr) },
            oe: fpscr & OE != 0,
            ue: fpscr & UE != 0,
            ve: fpscr & VE != 0,
        }
    }

    #[inline]
    pub fn with_round(self, rm: Rm) -> Ctx {
        Ctx { rm, ..self }
    }
}

/// Outcome of an operation: result bits (binary128, or a binary64/integer value in the low
/// 64 bits for the conversions that say so) and the FPSCR bits raised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Res {
    pub bits: u128,
    pub flags: u64,
}

impl Res {
    #[inline]
    const fn exact(bits: u128) -> Res {
        Res { bits, flags: 0 }
    }
}

// ---------------------------------------------------------------------------------------------
// Formats a result can be rounded to.

/// A binary floating-point format as far as rounding needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fmt {
    /// Significand bits, including the leading one.
    p: u32,
    emin: i32,
    emax: i32,
    /// Exponent adjustment of enabled overflow/underflow results (3 × 2^(w-2)).
    adj: i32,
    /// Fraction field width and exponent bias of the encoding.
    fbits: u32,
    bias: i32,
    /// Position of the sign bit of the encoding.
    sign_bit: u32,
}

/// binary128.
pub const QP: Fmt = Fmt {
    p: 113,
    emin: -16382,
    emax: 16383,
    adj: 24576,
    fbits: 112,
    bias: 16383,
    sign_bit: 127,
};

/// Extended precision (64-bit significand, binary128 exponent range) delivered in binary128
/// format, for xsrqpxp.
pub const XP: Fmt = Fmt { p: 64, ..QP };

/// binary64, delivered in the low 64 bits.
pub const DP: Fmt = Fmt {
    p: 53,
    emin: -1022,
    emax: 1023,
    adj: 1536,
    fbits: 52,
    bias: 1023,
    sign_bit: 63,
};

impl Fmt {
    #[inline]
    fn sign(self, neg: bool) -> u128 {
        (neg as u128) << self.sign_bit
    }

    #[inline]
    fn inf(self, neg: bool) -> u128 {
        let emask = (1u128 << (self.sign_bit - self.fbits)) - 1;
        self.sign(neg) | emask << self.fbits
    }

    /// Packs `(-1)^neg × m × 2^(e - (p-1))`, exactly representable in the format (m < 2^p; a
    /// value below the normal range must be a multiple of the denormal spacing).
    #[inline]
    fn encode(self, neg: bool, e: i32, m: u128) -> u128 {
        let s = self.sign(neg);
        if m == 0 {
            return s;
        }
        let msb = 127 - m.leading_zeros() as i32;
        let scale = e - (self.p as i32 - 1);
        let ve = scale + msb;
        let fmask = (1u128 << self.fbits) - 1;
        if ve >= self.emin {
            let frac = (m << (self.fbits as i32 - msb).clamp(0, 127)) & fmask;
            s | ((ve + self.bias) as u128) << self.fbits | frac
        } else {
            let sh = scale - self.emin + self.fbits as i32;
            s | (m << sh.clamp(0, 127)) & fmask
        }
    }

    #[inline]
    fn max_finite(self, neg: bool) -> u128 {
        self.encode(neg, self.emax, (1u128 << self.p) - 1)
    }
}

// ---------------------------------------------------------------------------------------------
// Classification and unpacking.

#[inline]
pub fn is_nan(x: u128) -> bool {
    x & !SIGN > INF
}

#[inline]
pub fn is_snan(x: u128) -> bool {
    is_nan(x) && x & QUIET == 0
}

#[inline]
pub fn is_inf(x: u128) -> bool {
    x & !SIGN == INF
}

#[inline]
pub fn is_zero(x: u128) -> bool {
    x & !SIGN == 0
}

#[inline]
fn neg_of(x: u128) -> bool {
    x & SIGN != 0
}

/// Biased exponent field.
#[inline]
pub fn exp_field(x: u128) -> u32 {
    (x >> 112) as u32 & 0x7fff
}

/// The FPRF field (shifted into place) describing binary128 value `x`.
pub fn fprf(x: u128) -> u64 {
    use class::*;
    let neg = neg_of(x);
    let c = if is_nan(x) {
        QNAN
    } else if is_inf(x) {
        if neg {
            NEG_INF
        } else {
            POS_INF
        }
    } else if is_zero(x) {
        if neg {
            NEG_ZERO
        } else {
            POS_ZERO
        }
    } else if exp_field(x) == 0 {
        if neg {
            NEG_DENORMAL
        } else {
            POS_DENORMAL
        }
    } else if neg {
        NEG_NORMAL
    } else {
        POS_NORMAL
    };
    c << FPRF_SHIFT
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Zero,
    Fin,
    Inf,
    Nan,
}

#[inline]
fn kind(x: u128) -> Kind {
    let m = x & !SIGN;
    if m == 0 {
        Kind::Zero
    } else if m < INF {
        Kind::Fin
    } else if m == INF {
        Kind::Inf
    } else {
        Kind::Nan
    }
}

/// The magnitude of a finite nonzero value: `sig × 2^(exp - 127)`, bit 127 of `sig` set.
#[derive(Clone, Copy, Debug)]
struct Fin {
    exp: i32,
    sig: u128,
}

/// Unpacks a finite nonzero binary128 value (denormals normalized).
#[inline]
fn fin(x: u128) -> Fin {
    let be = exp_field(x) as i32;
    let frac = x & FRAC_MASK;
    if be == 0 {
        let lz = frac.leading_zeros();
        Fin {
            exp: -16367 - lz as i32,
            sig: frac << lz,
        }
    } else {
        Fin {
            exp: be - 16383,
            sig: (frac | 1 << 112) << 15,
        }
    }
}

#[inline]
fn shr_jam(x: u128, n: u32) -> u128 {
    if n == 0 {
        x
    } else if n >= 128 {
        (x != 0) as u128
    } else {
        x >> n | (x << (128 - n) != 0) as u128
    }
}

// ---------------------------------------------------------------------------------------------
// 256-bit helper for products and fused sums.

/// An unsigned 256-bit integer; the derived order compares `hi` first, which is numeric order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct U256 {
    hi: u128,
    lo: u128,
}

impl U256 {
    const ZERO: U256 = U256 { hi: 0, lo: 0 };

    #[inline]
    fn is_zero(self) -> bool {
        self.hi == 0 && self.lo == 0
    }

    #[inline]
    fn leading_zeros(self) -> u32 {
        if self.hi != 0 {
            self.hi.leading_zeros()
        } else {
            128 + self.lo.leading_zeros()
        }
    }

    #[inline]
    fn shl(self, n: u32) -> U256 {
        match n {
            0 => self,
            1..=127 => U256 {
                hi: self.hi << n | self.lo >> (128 - n),
                lo: self.lo << n,
            },
            128..=255 => U256 {
                hi: self.lo << (n - 128),
                lo: 0,
            },
            _ => U256::ZERO,
        }
    }

    /// Shift right, ORing everything shifted out into bit 0.
    #[inline]
    fn shr_jam(self, n: u32) -> U256 {
        match n {
            0 => self,
            1..=127 => U256 {
                hi: self.hi >> n,
                lo: self.lo >> n | self.hi << (128 - n) | (self.lo << (128 - n) != 0) as u128,
            },
            128 => U256 {
                hi: 0,
                lo: self.hi | (self.lo != 0) as u128,
            },
            129..=255 => U256 {
                hi: 0,
                lo: self.hi >> (n - 128) | (self.hi << (256 - n) != 0 || self.lo != 0) as u128,
            },
            _ => U256 {
                hi: 0,
                lo: !self.is_zero() as u128,
            },
        }
    }

    #[inline]
    fn add(self, o: U256) -> U256 {
        let (lo, c) = self.lo.overflowing_add(o.lo);
        U256 {
            hi: self.hi.wrapping_add(o.hi).wrapping_add(c as u128),
            lo,
        }
    }

    #[inline]
    fn sub(self, o: U256) -> U256 {
        let (lo, b) = self.lo.overflowing_sub(o.lo);
        U256 {
            hi: self.hi.wrapping_sub(o.hi).wrapping_sub(b as u128),
            lo,
        }
    }

    /// The top 128 bits with the rest folded into a sticky bit 0.
    #[inline]
    fn collapse(self) -> u128 {
        self.hi | (self.lo != 0) as u128
    }
}

/// Full 128 × 128 → 256-bit product.
#[inline]
fn mul_wide(a: u128, b: u128) -> U256 {
    let (a1, a0) = (a >> 64, a & u64::MAX as u128);
    let (b1, b0) = (b >> 64, b & u64::MAX as u128);
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let p11 = a1 * b1;
    let mid = (p00 >> 64) + (p01 & u64::MAX as u128) + (p10 & u64::MAX as u128);
    U256 {
        hi: p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64),
        lo: (p00 & u64::MAX as u128) | mid << 64,
    }
}

/// A finite nonzero operand of a fused sum: `(-1)^neg × m × 2^(exp - 254)`, bit 254 of `m` set
/// (bit 255 stays clear so that a sum cannot carry out).
#[derive(Clone, Copy, Debug)]
struct Wide {
    neg: bool,
    exp: i32,
    m: U256,
}

impl Wide {
    #[inline]
    fn of(neg: bool, f: Fin) -> Wide {
        Wide {
            neg,
            exp: f.exp,
            m: U256 { hi: 0, lo: f.sig }.shl(127),
        }
    }

    /// The exact product of two finite nonzero magnitudes.
    #[inline]
    fn product(neg: bool, a: Fin, b: Fin) -> Wide {
        let p = mul_wide(a.sig, b.sig);
        // Both significands have 15 low zero bits, so the product's low 30 bits are zero and the
        // normalizing shift is exact.
        if p.hi >> 127 != 0 {
            Wide {
                neg,
                exp: a.exp + b.exp + 1,
                m: p.shr_jam(1),
            }
        } else {
            Wide {
                neg,
                exp: a.exp + b.exp,
                m: p,
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Rounding.

/// Whether a magnitude with discarded part `rem` (`half` the weight of its first bit) rounds up;
/// `lsb` is the kept part's last bit.
#[inline]
fn rounds_up(rm: Rm, neg: bool, lsb: bool, rem: u128, half: u128) -> bool {
    match rm {
        Rm::NearestEven => rem > half || (rem == half && lsb),
        Rm::NearestAway => rem >= half,
        Rm::Zero => false,
        Rm::Up => rem != 0 && !neg,
        Rm::Down => rem != 0 && neg,
        Rm::Odd => rem != 0 && !lsb,
    }
}

/// Rounds the exact (sticky-jammed) value `(-1)^neg × sig × 2^(exp-127)`, bit 127 of `sig` set, to
/// format `fmt` under `ctx`: tininess before rounding, disabled underflow denormalizes, enabled
/// overflow/underflow deliver the exponent-adjusted result, disabled overflow delivers ∞ or the
/// largest finite number per rounding mode (round-to-odd: the largest finite number).
fn round_pack(neg: bool, exp: i32, sig: u128, fmt: Fmt, ctx: Ctx) -> Res {
    let mut flags = 0;
    let mut e = exp;
    let mut sig = sig;
    let mut tiny = false;
    if e < fmt.emin {
        if ctx.ue {
            flags |= UX;
            e += fmt.adj;
        }
        // Still tiny only for conversions of values far outside the target range, which the
        // ISA leaves undefined; denormalize then as if UE were 0.
        if e < fmt.emin {
            sig = shr_jam(sig, (fmt.emin - e) as u32);
            e = fmt.emin;
            tiny = true;
        }
    }
    let sh = 128 - fmt.p;
    let half = 1u128 << (sh - 1);
    let rem = sig & ((1u128 << sh) - 1);
    let mut m = sig >> sh;
    let up = rounds_up(ctx.rm, neg, m & 1 != 0, rem, half);
    if rem != 0 {
        flags |= XX | FI;
        if tiny {
            flags |= UX;
        }
    }
    if up {
        flags |= FR;
        m += 1;
        if m >> fmt.p != 0 {
            m >>= 1;
            e += 1;
        }
    }
    if e > fmt.emax {
        if ctx.oe {
            flags |= OX;
            e -= fmt.adj;
        }
        if e > fmt.emax {
            flags |= OX | XX | FI;
            let to_inf = match ctx.rm {
                Rm::NearestEven | Rm::NearestAway => true,
                Rm::Zero | Rm::Odd => false,
                Rm::Up => !neg,
                Rm::Down => neg,
            };
            return if to_inf {
                Res {
                    bits: fmt.inf(neg),
                    flags: flags | FR,
                }
            } else {
                Res {
                    bits: fmt.max_finite(neg),
                    flags: flags & !FR,
                }
            };
        }
    }
    Res {
        bits: fmt.encode(neg, e, m),
        flags,
    }
}

#[inline]
fn round_fin(neg: bool, f: Fin, fmt: Fmt, ctx: Ctx) -> Res {
    round_pack(neg, f.exp, f.sig, fmt, ctx)
}

#[inline]
fn round_wide(w: Wide, ctx: Ctx) -> Res {
    round_pack(w.neg, w.exp, w.m.shl(1).collapse(), QP, ctx)
}

/// The NaN result of an operation with NaN operands, `ops` in ISA priority order: the first NaN,
/// quieted; VXSNAN if any operand is an SNaN.
fn nan_res(ops: &[u128]) -> Res {
    let mut flags = 0;
    let mut pick = None;
    for &x in ops {
        if is_nan(x) {
            if x & QUIET == 0 {
                flags |= VXSNAN;
            }
            pick = pick.or(Some(x));
        }
    }
    Res {
        bits: pick.unwrap_or(DEFAULT_NAN) | QUIET,
        flags,
    }
}

#[inline]
fn invalid(flag: u64) -> Res {
    Res {
        bits: DEFAULT_NAN,
        flags: flag,
    }
}

/// Signed zero of an exact zero sum of operands of different signs: -0 only rounding toward -∞.
#[inline]
fn zero_sum(ctx: Ctx) -> u128 {
    if ctx.rm == Rm::Down {
        SIGN
    } else {
        0
    }
}

/// Sum of two finite nonzero values, rounded once to binary128.
fn add_core(a: Wide, b: Wide, ctx: Ctx) -> Res {
    let (big, small) = if a.exp >= b.exp { (a, b) } else { (b, a) };
    let y = small.m.shr_jam((big.exp - small.exp).min(512) as u32);
    let x = big.m;
    let (neg, r) = if big.neg == small.neg {
        (big.neg, x.add(y))
    } else if x >= y {
        (big.neg, x.sub(y))
    } else {
        (small.neg, y.sub(x))
    };
    if r.is_zero() {
        return Res::exact(zero_sum(ctx));
    }
    let lz = r.leading_zeros();
    round_pack(neg, big.exp + 1 - lz as i32, r.shl(lz).collapse(), QP, ctx)
}

// ---------------------------------------------------------------------------------------------
// Arithmetic.

/// a + b, or a - b with `negb` (xsaddqp, xssubqp). Exceptions: VXSNAN, VXISI, OX, UX, XX.
pub fn add(ctx: Ctx, a: u128, b: u128, negb: bool) -> Res {
    let (ka, kb) = (kind(a), kind(b));
    if ka == Kind::Nan || kb == Kind::Nan {
        return nan_res(&[a, b]);
    }
    let na = neg_of(a);
    let nb = neg_of(b) ^ negb;
    match (ka, kb) {
        (Kind::Fin, Kind::Fin) => add_core(Wide::of(na, fin(a)), Wide::of(nb, fin(b)), ctx),
        (Kind::Inf, Kind::Inf) => {
            if na != nb {
                invalid(VXISI)
            } else {
                Res::exact(a)
            }
        }
        (Kind::Inf, _) => Res::exact(a),
        (_, Kind::Inf) => Res::exact(QP.inf(nb)),
        (Kind::Zero, Kind::Zero) => Res::exact(if na == nb { QP.sign(na) } else { zero_sum(ctx) }),
        (Kind::Zero, _) => round_fin(nb, fin(b), QP, ctx),
        _ => round_fin(na, fin(a), QP, ctx),
    }
}

/// a × b (xsmulqp). Exceptions: VXSNAN, VXIMZ, OX, UX, XX.
pub fn mul(ctx: Ctx, a: u128, b: u128) -> Res {
    let (ka, kb) = (kind(a), kind(b));
    if ka == Kind::Nan || kb == Kind::Nan {
        return nan_res(&[a, b]);
    }
    let neg = neg_of(a ^ b);
    match (ka, kb) {
        (Kind::Fin, Kind::Fin) => round_wide(Wide::product(neg, fin(a), fin(b)), ctx),
        (Kind::Inf, Kind::Zero) | (Kind::Zero, Kind::Inf) => invalid(VXIMZ),
        (Kind::Inf, _) | (_, Kind::Inf) => Res::exact(QP.inf(neg)),
        _ => Res::exact(QP.sign(neg)),
    }
}

/// a ÷ b (xsdivqp). Exceptions: VXSNAN, VXIDI, VXZDZ, ZX, OX, UX, XX.
pub fn div(ctx: Ctx, a: u128, b: u128) -> Res {
    let (ka, kb) = (kind(a), kind(b));
    if ka == Kind::Nan || kb == Kind::Nan {
        return nan_res(&[a, b]);
    }
    let neg = neg_of(a ^ b);
    match (ka, kb) {
        (Kind::Fin, Kind::Fin) => {
            let (fa, fb) = (fin(a), fin(b));
            // 113-bit integer significands; q = floor(A × 2^126 / B), 14 bits per step (the
            // remainder stays below B < 2^113, so shifting it by 14 cannot overflow).
            let (sa, sb) = (fa.sig >> 15, fb.sig >> 15);
            let mut q = sa / sb;
            let mut r = sa % sb;
            for _ in 0..9 {
                r <<= 14;
                q = (q << 14) | (r / sb);
                r %= sb;
            }
            // sa/sb is in (1/2, 2), so q is in (2^125, 2^127).
            let lz = q.leading_zeros();
            let sig = q << lz | (r != 0) as u128;
            round_pack(neg, fa.exp - fb.exp + 1 - lz as i32, sig, QP, ctx)
        }
        (Kind::Inf, Kind::Inf) => invalid(VXIDI),
        (Kind::Zero, Kind::Zero) => invalid(VXZDZ),
        (Kind::Inf, _) => Res::exact(QP.inf(neg)),
        (_, Kind::Inf) | (Kind::Zero, _) => Res::exact(QP.sign(neg)),
        _ => Res {
            bits: QP.inf(neg),
            flags: ZX,
        },
    }
}

/// floor(√n) for n < 2^244, bit by bit.
fn isqrt(n: U256) -> u128 {
    let mut r = 0u128;
    for i in (0..122).rev() {
        let c = r | 1 << i;
        if mul_wide(c, c) <= n {
            r = c;
        }
    }
    r
}

/// √b (xssqrtqp). Exceptions: VXSNAN, VXSQRT, XX. √-0 = -0.
pub fn sqrt(ctx: Ctx, b: u128) -> Res {
    match kind(b) {
        Kind::Nan => nan_res(&[b]),
        Kind::Zero => Res::exact(b),
        _ if neg_of(b) => invalid(VXSQRT),
        Kind::Inf => Res::exact(b),
        Kind::Fin => {
            let f = fin(b);
            // b = A × 2^t with A the 113-bit significand; make t even, then take
            // √(A' × 2^128), which has 121 bits.
            let a = f.sig >> 15;
            let t = f.exp - 112;
            let (a, t) = if t & 1 != 0 { (a << 1, t - 1) } else { (a, t) };
            let n = U256 { hi: a, lo: 0 };
            let r = isqrt(n);
            let sticky = mul_wide(r, r) != n;
            let lz = r.leading_zeros();
            let sig = r << lz | sticky as u128;
            round_pack(false, ((t - 128) >> 1) + 127 - lz as i32, sig, QP, ctx)
        }
    }
}

/// Fused a × b + c, rounded once, with the addend negated for the msub forms and the rounded
/// result negated for the nm forms (NaN results are never negated). NaN priority a, c, b (the
/// ISA's order for VRA × VRB + VRT). Exceptions: VXSNAN, VXIMZ (also with a NaN addend), VXISI,
/// OX, UX, XX.
pub fn fma(ctx: Ctx, a: u128, b: u128, c: u128, negc: bool, negr: bool) -> Res {
    let (ka, kb, kc) = (kind(a), kind(b), kind(c));
    let imz = (ka == Kind::Inf && kb == Kind::Zero) || (ka == Kind::Zero && kb == Kind::Inf);
    if ka == Kind::Nan || kb == Kind::Nan || kc == Kind::Nan {
        let mut r = nan_res(&[a, c, b]);
        if imz {
            r.flags |= VXIMZ;
        }
        return r;
    }
    if imz {
        return invalid(VXIMZ);
    }
    let np = neg_of(a ^ b);
    let nc = neg_of(c) ^ negc;
    let mut r = if ka == Kind::Inf || kb == Kind::Inf {
        if kc == Kind::Inf && nc != np {
            return invalid(VXISI);
        }
        Res::exact(QP.inf(np))
    } else if kc == Kind::Inf {
        Res::exact(QP.inf(nc))
    } else if ka == Kind::Zero || kb == Kind::Zero {
        match kc {
            Kind::Zero => Res::exact(if np == nc { QP.sign(np) } else { zero_sum(ctx) }),
            _ => round_fin(nc, fin(c), QP, ctx),
        }
    } else {
        let p = Wide::product(np, fin(a), fin(b));
        if kc == Kind::Zero {
            round_wide(p, ctx)
        } else {
            add_core(p, Wide::of(nc, fin(c)), ctx)
        }
    };
    if negr {
        r.bits ^= SIGN;
    }
    r
}

// ---------------------------------------------------------------------------------------------
// Comparison.

/// Compares a with b: `bits` is FL|FG|FE|FU (8 less, 4 greater, 2 equal, 1 unordered).
/// Unordered compares raise VXSNAN for an SNaN; ordered ones also VXVC (for an SNaN only when
/// VE=0).
pub fn compare(ctx: Ctx, a: u128, b: u128, ordered: bool) -> Res {
    if is_nan(a) || is_nan(b) {
        let mut flags = 0;
        if is_snan(a) || is_snan(b) {
            flags |= VXSNAN;
            if ordered && !ctx.ve {
                flags |= VXVC;
            }
        } else if ordered {
            flags |= VXVC;
        }
        return Res { bits: 1, flags };
    }
    if is_zero(a) && is_zero(b) {
        return Res::exact(2);
    }
    // Sign-magnitude to a monotonic signed key.
    let key = |x: u128| -> i128 {
        if neg_of(x) {
            -((x & !SIGN) as i128)
        } else {
            x as i128
        }
    };
    Res::exact(match key(a).cmp(&key(b)) {
        std::cmp::Ordering::Less => 8,
        std::cmp::Ordering::Greater => 4,
        std::cmp::Ordering::Equal => 2,
    })
}

// ---------------------------------------------------------------------------------------------
// Conversions and rounding.

/// binary128 → binary64 (xscvqpdp[o]), result in the low 64 bits. Exceptions: VXSNAN, OX, UX, XX.
/// NaNs are quieted and keep the top 52 fraction bits.
pub fn to_dp(ctx: Ctx, b: u128) -> Res {
    let neg = neg_of(b);
    match kind(b) {
        Kind::Nan => Res {
            bits: DP.inf(neg) | (b & FRAC_MASK) >> 60 | 1 << 51,
            flags: if is_snan(b) { VXSNAN } else { 0 },
        },
        Kind::Inf => Res::exact(DP.inf(neg)),
        Kind::Zero => Res::exact(DP.sign(neg)),
        Kind::Fin => round_fin(neg, fin(b), DP, ctx),
    }
}

/// binary64 → binary128 (xscvdpqp): exact. Exceptions: VXSNAN (the SNaN is quieted).
pub fn from_dp(d: u64) -> Res {
    let s = QP.sign(d >> 63 != 0);
    let be = (d >> 52 & 0x7ff) as i32;
    let frac = (d & ((1 << 52) - 1)) as u128;
    match be {
        0x7ff if frac != 0 && frac >> 51 == 0 => Res {
            bits: s | INF | frac << 60 | QUIET,
            flags: VXSNAN,
        },
        0x7ff => Res::exact(s | INF | frac << 60),
        0 if frac == 0 => Res::exact(s),
        0 => {
            // Denormal double: normalize (always a normal binary128).
            let msb = 127 - frac.leading_zeros() as i32; // 0..=51
            let e = msb - 1074;
            Res::exact(s | ((e + 16383) as u128) << 112 | (frac << (112 - msb)) & FRAC_MASK)
        }
        _ => Res::exact(s | ((be - 1023 + 16383) as u128) << 112 | frac << 60),
    }
}

/// A 64-bit integer (signed or not) → binary128 (xscvsdqp, xscvudqp): always exact.
pub fn from_int(v: u64, signed: bool) -> Res {
    let neg = signed && (v as i64) < 0;
    let m = if neg { (v as i64).unsigned_abs() } else { v } as u128;
    if m == 0 {
        return Res::exact(0);
    }
    Res::exact(QP.encode(neg, 112, m))
}

/// Target formats of the conversions to integer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntKind {
    I32,
    U32,
    I64,
    U64,
}

/// Truncates b to an integer (xscvqp{s,u}{w,d}z), result in the low 64 bits (I32 sign-extended,
/// U32 zero-extended). NaN or out of range: VXCVI (plus VXSNAN for an SNaN) and the saturated
/// value (NaN: the most negative value, or 0 for the unsigned forms). Otherwise XX|FI when
/// inexact (FR stays 0: truncation never increments).
pub fn to_int(b: u128, k: IntKind) -> Res {
    let (min, max): (i128, i128) = match k {
        IntKind::I32 => (i32::MIN as i128, i32::MAX as i128),
        IntKind::U32 => (0, u32::MAX as i128),
        IntKind::I64 => (i64::MIN as i128, i64::MAX as i128),
        IntKind::U64 => (0, u64::MAX as i128),
    };
    let enc = |v: i128| -> u128 {
        (match k {
            IntKind::I32 => v as i32 as i64 as u64,
            IntKind::U32 => v as u32 as u64,
            _ => v as u64,
        }) as u128
    };
    let neg = neg_of(b);
    let sat = |flags: u64| Res {
        bits: enc(if neg { min } else { max }),
        flags,
    };
    match kind(b) {
        Kind::Nan => Res {
            bits: enc(min),
            flags: VXCVI | if is_snan(b) { VXSNAN } else { 0 },
        },
        Kind::Inf => sat(VXCVI),
        Kind::Zero => Res::exact(0),
        Kind::Fin => {
            let f = fin(b);
            if f.exp > 64 {
                return sat(VXCVI);
            }
            let (mag, inexact) = if f.exp < 0 {
                (0, true)
            } else {
                let s = 127 - f.exp as u32; // 63..=127
                (f.sig >> s, f.sig << (128 - s) != 0)
            };
            let v = if neg { -(mag as i128) } else { mag as i128 };
            if v < min || v > max {
                return sat(VXCVI);
            }
            Res {
                bits: enc(v),
                flags: if inexact { XX | FI } else { 0 },
            }
        }
    }
}

/// Rounds b to an integral binary128 value with rounding `rm` (xsrqpi[x]). Exceptions: VXSNAN;
/// the flags also carry XX|FI (and FR) when the value changed, for the caller to keep or drop.
pub fn round_to_int(b: u128, rm: Rm) -> Res {
    match kind(b) {
        Kind::Nan => nan_res(&[b]),
        Kind::Fin => {
            let f = fin(b);
            if f.exp >= 112 {
                return Res::exact(b);
            }
            let neg = neg_of(b);
            // Integer part and the discarded fraction (as bits below a 128-bit point).
            let (int, frac) = if f.exp < 0 {
                (
                    0u128,
                    if f.exp == -1 {
                        f.sig
                    } else {
                        shr_jam(f.sig, (-1 - f.exp) as u32)
                    },
                )
            } else {
                let s = 127 - f.exp as u32; // 16..=127
                (f.sig >> s, f.sig << (128 - s))
            };
            let up = rounds_up(rm, neg, int & 1 != 0, frac, 1 << 127);
            let m = int + up as u128;
            let mut flags = 0;
            if frac != 0 {
                flags |= XX | FI;
            }
            if up {
                flags |= FR;
            }
            // encode takes any m < 2^113 and normalizes it itself; m × 2^0 is exact.
            let bits = QP.encode(neg, 112, m);
            Res { bits, flags }
        }
        _ => Res::exact(b),
    }
}

/// Rounds b to extended precision (64-bit significand, binary128 range) per `ctx`, delivered in
/// binary128 format (xsrqpxp). Exceptions: VXSNAN, OX, UX, XX. NaNs are quieted and, like any
/// NaN rounded to a narrower precision (frsp), keep only the fraction bits the format has (63).
pub fn round_to_xp(ctx: Ctx, b: u128) -> Res {
    match kind(b) {
        Kind::Nan => {
            let mut r = nan_res(&[b]);
            r.bits &= !((1u128 << (XP.fbits + 1 - XP.p)) - 1);
            r
        }
        Kind::Fin => round_fin(neg_of(b), fin(b), XP, ctx),
        _ => Res::exact(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_arithmetic() {
        // (2^128 - 1)² = 2^256 - 2^129 + 1.
        let p = mul_wide(u128::MAX, u128::MAX);
        assert_eq!(
            p,
            U256 {
                hi: u128::MAX - 1,
                lo: 1
            }
        );
        assert_eq!(mul_wide(1 << 64, 1 << 64), U256 { hi: 1, lo: 0 });
        let x = U256 { hi: 1, lo: 1 };
        // Shifting out a one leaves the sticky bit.
        assert_eq!(
            x.shr_jam(1),
            U256 {
                hi: 0,
                lo: 1 << 127 | 1
            }
        );
        assert_eq!(x.shr_jam(128), U256 { hi: 0, lo: 1 | 1 });
        assert_eq!(x.shr_jam(129), U256 { hi: 0, lo: 1 });
        assert_eq!(x.shr_jam(300), U256 { hi: 0, lo: 1 });
        assert_eq!(U256::ZERO.shr_jam(300), U256::ZERO);
        assert_eq!(
            x.shl(127),
            U256 {
                hi: 1 << 127,
                lo: 1 << 127
            }
        );
        assert_eq!(x.shl(200), U256 { hi: 1 << 72, lo: 0 });
        assert_eq!(
            U256 { hi: 1, lo: 0 }.sub(U256 { hi: 0, lo: 1 }),
            U256 {
                hi: 0,
                lo: u128::MAX
            }
        );
        assert_eq!(
            U256 {
                hi: 0,
                lo: u128::MAX
            }
            .add(U256 { hi: 0, lo: 1 }),
            U256 { hi: 1, lo: 0 }
        );
        assert_eq!(
            isqrt(U256 {
                hi: 1 << 112,
                lo: 0
            }),
            1 << 120
        );
        assert_eq!(isqrt(U256 { hi: 0, lo: 99 }), 9);
    }

    #[test]
    fn formats_encode() {
        assert_eq!(QP.max_finite(false), (0x7fff << 112) - 1);
        assert_eq!(DP.max_finite(true), 0xffef_ffff_ffff_ffff);
        assert_eq!(XP.max_finite(false), 0x7ffe_ffff_ffff_ffff_fffe << 48);
        assert_eq!(DP.inf(false), 0x7ff0_0000_0000_0000);
        // Denormal binary64: 3 × 2^-1074.
        assert_eq!(DP.encode(false, -1022, 3), 3);
        // An integer m with exponent 112 encodes m itself.
        assert_eq!(QP.encode(true, 112, 6), 0xc0018 << 108);
    }

    #[test]
    fn unpacking() {
        let one = fin(0x3fff << 112);
        assert_eq!((one.exp, one.sig), (0, 1 << 127));
        // Smallest denormal: 2^-16494.
        let d = fin(1);
        assert_eq!((d.exp, d.sig), (-16494, 1 << 127));
        assert_eq!(fprf(1 | SIGN), class::NEG_DENORMAL << FPRF_SHIFT);
        assert_eq!(fprf(DEFAULT_NAN | SIGN), class::QNAN << FPRF_SHIFT);
    }
}
