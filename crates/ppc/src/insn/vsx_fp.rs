//! VSX binary floating-point instructions on top of `fpu`: scalar (xs*) and vector (xv*)
//! arithmetic, comparisons, maximum/minimum, rounding, conversions and the software-divide/sqrt
//! tests.
//!
//! Scalar instructions behave like their FP counterparts (FR, FI and FPRF are set, an enabled
//! invalid/zero-divide exception leaves the target unchanged) and write doubleword 1 of the
//! target as 0. Vector instructions only raise exception bits, and leave the whole target
//! unchanged if any element raised an exception that is enabled (ISA: ex_flag).

use super::{from_words, words, Entry};
use crate::cpu::{Cpu, Ex};
use crate::exec::Handler;
use crate::insn::fp::fpu::{
    self, Ctx, Fma, IntKind, Prec, Res, Round, FI, FR, FRAC_MASK, INF, QUIET, SIGN, VXSNAN, XX,
};
use crate::insn::Insn;

/// XX3-form instructions of this module, by bits 21:28.
pub(super) fn lookup_xx3(i: Insn) -> Option<Entry> {
    let xo8 = i.0 >> 3 & 0xff;
    // The forms with a BF target have bits 9:10 and 31 reserved.
    if matches!(xo8, 35 | 43 | 59 | 61 | 93 | 125) && i.0 & (3 << 21 | 1) != 0 {
        return None;
    }
    Some(match xo8 {
        0 => ("xsaddsp", xsaddsp as Handler),
        8 => ("xssubsp", xssubsp),
        16 => ("xsmulsp", xsmulsp),
        24 => ("xsdivsp", xsdivsp),
        32 => ("xsadddp", xsadddp),
        40 => ("xssubdp", xssubdp),
        48 => ("xsmuldp", xsmuldp),
        56 => ("xsdivdp", xsdivdp),
        1 => ("xsmaddasp", xsmaddasp),
        9 => ("xsmaddmsp", xsmaddmsp),
        17 => ("xsmsubasp", xsmsubasp),
        25 => ("xsmsubmsp", xsmsubmsp),
        129 => ("xsnmaddasp", xsnmaddasp),
        137 => ("xsnmaddmsp", xsnmaddmsp),
        145 => ("xsnmsubasp", xsnmsubasp),
        153 => ("xsnmsubmsp", xsnmsubmsp),
        33 => ("xsmaddadp", xsmaddadp),
        41 => ("xsmaddmdp", xsmaddmdp),
        49 => ("xsmsubadp", xsmsubadp),
        57 => ("xsmsubmdp", xsmsubmdp),
        161 => ("xsnmaddadp", xsnmaddadp),
        169 => ("xsnmaddmdp", xsnmaddmdp),
        177 => ("xsnmsubadp", xsnmsubadp),
        185 => ("xsnmsubmdp", xsnmsubmdp),
        35 => ("xscmpudp", xscmpudp),
        43 => ("xscmpodp", xscmpodp),
        3 => ("xscmpeqdp", xscmpeqdp),
        11 => ("xscmpgtdp", xscmpgtdp),
        19 => ("xscmpgedp", xscmpgedp),
        59 => ("xscmpexpdp", xscmpexpdp),
        160 => ("xsmaxdp", xsmaxdp),
        168 => ("xsmindp", xsmindp),
        128 => ("xsmaxcdp", xsmaxcdp),
        136 => ("xsmincdp", xsmincdp),
        144 => ("xsmaxjdp", xsmaxjdp),
        152 => ("xsminjdp", xsminjdp),
        61 => ("xstdivdp", xstdivdp),
        96 => ("xvadddp", xvadddp),
        104 => ("xvsubdp", xvsubdp),
        112 => ("xvmuldp", xvmuldp),
        120 => ("xvdivdp", xvdivdp),
        64 => ("xvaddsp", xvaddsp),
        72 => ("xvsubsp", xvsubsp),
        80 => ("xvmulsp", xvmulsp),
        88 => ("xvdivsp", xvdivsp),
        97 => ("xvmaddadp", xvmaddadp),
        105 => ("xvmaddmdp", xvmaddmdp),
        113 => ("xvmsubadp", xvmsubadp),
        121 => ("xvmsubmdp", xvmsubmdp),
        225 => ("xvnmaddadp", xvnmaddadp),
        233 => ("xvnmaddmdp", xvnmaddmdp),
        241 => ("xvnmsubadp", xvnmsubadp),
        249 => ("xvnmsubmdp", xvnmsubmdp),
        65 => ("xvmaddasp", xvmaddasp),
        73 => ("xvmaddmsp", xvmaddmsp),
        81 => ("xvmsubasp", xvmsubasp),
        89 => ("xvmsubmsp", xvmsubmsp),
        193 => ("xvnmaddasp", xvnmaddasp),
        201 => ("xvnmaddmsp", xvnmaddmsp),
        209 => ("xvnmsubasp", xvnmsubasp),
        217 => ("xvnmsubmsp", xvnmsubmsp),
        // Vector compares: bit 21 is Rc.
        99 | 227 => ("xvcmpeqdp", xvcmpeqdp),
        107 | 235 => ("xvcmpgtdp", xvcmpgtdp),
        115 | 243 => ("xvcmpgedp", xvcmpgedp),
        67 | 195 => ("xvcmpeqsp", xvcmpeqsp),
        75 | 203 => ("xvcmpgtsp", xvcmpgtsp),
        83 | 211 => ("xvcmpgesp", xvcmpgesp),
        224 => ("xvmaxdp", xvmaxdp),
        232 => ("xvmindp", xvmindp),
        192 => ("xvmaxsp", xvmaxsp),
        200 => ("xvminsp", xvminsp),
        125 => ("xvtdivdp", xvtdivdp),
        93 => ("xvtdivsp", xvtdivsp),
        _ => return None,
    })
}

/// XX2-form instructions of this module, by bits 21:29 and (for 347/475) bits 11:15. Bits 11:15
/// are reserved in the others (bits 9:15 and 31 in the BF forms).
pub(super) fn lookup_xx2(i: Insn) -> Option<Entry> {
    let xo9 = i.0 >> 2 & 0x1ff;
    let sub = i.0 >> 16 & 31;
    match xo9 {
        106 | 170 | 234 if i.0 & (0x7f << 16 | 1) != 0 => return None,
        347 | 475 => {}
        _ if sub != 0 => return None,
        _ => {}
    }
    Some(match xo9 {
        75 => ("xssqrtdp", xssqrtdp as Handler),
        11 => ("xssqrtsp", xssqrtsp),
        90 => ("xsredp", xsredp),
        74 => ("xsrsqrtedp", xsrsqrtedp),
        26 => ("xsresp", xsresp),
        10 => ("xsrsqrtesp", xsrsqrtesp),
        106 => ("xstsqrtdp", xstsqrtdp),
        73 => ("xsrdpi", xsrdpi),
        107 => ("xsrdpic", xsrdpic),
        121 => ("xsrdpim", xsrdpim),
        105 => ("xsrdpip", xsrdpip),
        89 => ("xsrdpiz", xsrdpiz),
        281 => ("xsrsp", xsrsp),
        265 => ("xscvdpsp", xscvdpsp),
        267 => ("xscvdpspn", xscvdpspn),
        329 => ("xscvspdp", xscvspdp),
        331 => ("xscvspdpn", xscvspdpn),
        344 => ("xscvdpsxds", xscvdpsxds),
        88 => ("xscvdpsxws", xscvdpsxws),
        328 => ("xscvdpuxds", xscvdpuxds),
        72 => ("xscvdpuxws", xscvdpuxws),
        376 => ("xscvsxddp", xscvsxddp),
        360 => ("xscvuxddp", xscvuxddp),
        312 => ("xscvsxdsp", xscvsxdsp),
        296 => ("xscvuxdsp", xscvuxdsp),
        203 => ("xvsqrtdp", xvsqrtdp),
        139 => ("xvsqrtsp", xvsqrtsp),
        218 => ("xvredp", xvredp),
        202 => ("xvrsqrtedp", xvrsqrtedp),
        154 => ("xvresp", xvresp),
        138 => ("xvrsqrtesp", xvrsqrtesp),
        234 => ("xvtsqrtdp", xvtsqrtdp),
        170 => ("xvtsqrtsp", xvtsqrtsp),
        201 => ("xvrdpi", xvrdpi),
        235 => ("xvrdpic", xvrdpic),
        249 => ("xvrdpim", xvrdpim),
        233 => ("xvrdpip", xvrdpip),
        217 => ("xvrdpiz", xvrdpiz),
        137 => ("xvrspi", xvrspi),
        171 => ("xvrspic", xvrspic),
        185 => ("xvrspim", xvrspim),
        169 => ("xvrspip", xvrspip),
        153 => ("xvrspiz", xvrspiz),
        393 => ("xvcvdpsp", xvcvdpsp),
        457 => ("xvcvspdp", xvcvspdp),
        472 => ("xvcvdpsxds", xvcvdpsxds),
        216 => ("xvcvdpsxws", xvcvdpsxws),
        456 => ("xvcvdpuxds", xvcvdpuxds),
        200 => ("xvcvdpuxws", xvcvdpuxws),
        408 => ("xvcvspsxds", xvcvspsxds),
        152 => ("xvcvspsxws", xvcvspsxws),
        392 => ("xvcvspuxds", xvcvspuxds),
        136 => ("xvcvspuxws", xvcvspuxws),
        504 => ("xvcvsxddp", xvcvsxddp),
        440 => ("xvcvsxdsp", xvcvsxdsp),
        248 => ("xvcvsxwdp", xvcvsxwdp),
        184 => ("xvcvsxwsp", xvcvsxwsp),
        488 => ("xvcvuxddp", xvcvuxddp),
        424 => ("xvcvuxdsp", xvcvuxdsp),
        232 => ("xvcvuxwdp", xvcvuxwdp),
        168 => ("xvcvuxwsp", xvcvuxwsp),
        347 => match sub {
            16 => ("xscvhpdp", xscvhpdp),
            17 => ("xscvdphp", xscvdphp),
            _ => return None,
        },
        475 => match sub {
            24 => ("xvcvhpsp", xvcvhpsp),
            25 => ("xvcvsphp", xvcvsphp),
            _ => return None,
        },
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------------
// Common plumbing

/// Single-format element to the double that holds the same value (exact, NaNs unchanged).
#[inline(always)]
fn s2d(w: u32) -> u64 {
    fpu::single_to_double(w)
}

/// A single-precision result held in double format back to single format (exact).
#[inline(always)]
fn d2s(d: u64) -> u32 {
    fpu::double_to_single(d)
}

#[inline(always)]
fn quiet(x: u64) -> u64 {
    x | QUIET
}

/// Ends a scalar instruction: commits `r` (FPRF as `prec`), writes `[v, 0]` unless suppressed.
#[inline(always)]
fn scalar_done(cpu: &mut Cpu, xt: usize, r: Res, prec: Prec) -> Ex {
    if let Some(v) = fpu::commit(cpu, r, prec) {
        cpu.vsr[xt] = [v, 0];
    }
    fpu::check_enabled(cpu, r.flags)
}

/// Ends a vector instruction: raises the accumulated exceptions, writes `v` unless one of them
/// is enabled.
#[inline(always)]
fn vector_done(cpu: &mut Cpu, xt: usize, v: u128, flags: u64) -> Ex {
    let write = !fpu::enabled(cpu.fpscr, flags);
    fpu::accumulate(cpu, flags);
    if write {
        cpu.set_vsr128(xt, v);
    }
    fpu::check_enabled(cpu, flags)
}

#[inline(always)]
fn dwords(v: [u64; 2]) -> u128 {
    (v[0] as u128) << 64 | v[1] as u128
}

/// Applies `f` to each doubleword element (with its operands from `srcs`), for DP vectors.
#[inline(always)]
fn map_dp<const N: usize>(
    cpu: &mut Cpu,
    srcs: [usize; N],
    f: impl Fn(Ctx, [u64; N]) -> Res,
) -> ([u64; 2], u64) {
    let ctx = Ctx::new(cpu.fpscr);
    let mut out = [0u64; 2];
    let mut flags = 0;
    for (k, o) in out.iter_mut().enumerate() {
        let ops = srcs.map(|r| cpu.vsr[r][k]);
        let r = f(ctx, ops);
        *o = r.bits;
        flags |= r.flags;
    }
    (out, flags)
}

/// Applies `f` to each word element, operands and results in double format, for SP vectors.
#[inline(always)]
fn map_sp<const N: usize>(
    cpu: &mut Cpu,
    srcs: [usize; N],
    f: impl Fn(Ctx, [u64; N]) -> Res,
) -> ([u32; 4], u64) {
    let ctx = Ctx::new(cpu.fpscr);
    let w = srcs.map(|r| words(cpu.vsr128(r)));
    let mut out = [0u32; 4];
    let mut flags = 0;
    for (k, o) in out.iter_mut().enumerate() {
        let r = f(ctx, w.map(|x| s2d(x[k])));
        *o = d2s(r.bits);
        flags |= r.flags;
    }
    (out, flags)
}

// ---------------------------------------------------------------------------------------------
// Arithmetic

macro_rules! xs_binary {
    ($name:ident, $op:path, $prec:expr) => {
        fn $name(cpu: &mut Cpu, i: Insn) -> Ex {
            cpu.check_vsx()?;
            let r = $op(
                Ctx::new(cpu.fpscr),
                cpu.vsr[i.xa()][0],
                cpu.vsr[i.xb()][0],
                $prec,
            );
            scalar_done(cpu, i.xt(), r, $prec)
        }
    };
}

xs_binary!(xsadddp, fpu::add, Prec::Double);
xs_binary!(xssubdp, fpu::sub, Prec::Double);
xs_binary!(xsmuldp, fpu::mul, Prec::Double);
xs_binary!(xsdivdp, fpu::div, Prec::Double);
xs_binary!(xsaddsp, fpu::add, Prec::Single);
xs_binary!(xssubsp, fpu::sub, Prec::Single);
xs_binary!(xsmulsp, fpu::mul, Prec::Single);
xs_binary!(xsdivsp, fpu::div, Prec::Single);

macro_rules! xs_unary {
    ($name:ident, $op:path, $prec:expr) => {
        fn $name(cpu: &mut Cpu, i: Insn) -> Ex {
            cpu.check_vsx()?;
            let r = $op(Ctx::new(cpu.fpscr), cpu.vsr[i.xb()][0], $prec);
            scalar_done(cpu, i.xt(), r, $prec)
        }
    };
}

xs_unary!(xssqrtdp, fpu::sqrt, Prec::Double);
xs_unary!(xssqrtsp, fpu::sqrt, Prec::Single);
xs_unary!(xsredp, fpu::re_estimate, Prec::Double);
xs_unary!(xsresp, fpu::re_estimate, Prec::Single);
xs_unary!(xsrsqrtedp, fpu::rsqrte_estimate, Prec::Double);
xs_unary!(xsrsqrtesp, fpu::rsqrte_estimate, Prec::Single);

/// The multiply-add forms: "a" forms compute XA × XB ± XT, "m" forms XA × XT ± XB. `fpu::fma`
/// takes (multiplicand, multiplier, addend) and gives NaN priority multiplicand, addend,
/// multiplier.
macro_rules! xs_fma {
    ($name:ident, $op:expr, $prec:expr, $m:expr) => {
        fn $name(cpu: &mut Cpu, i: Insn) -> Ex {
            cpu.check_vsx()?;
            let a = cpu.vsr[i.xa()][0];
            let (c, b) = if $m {
                (cpu.vsr[i.xt()][0], cpu.vsr[i.xb()][0])
            } else {
                (cpu.vsr[i.xb()][0], cpu.vsr[i.xt()][0])
            };
            let r = fpu::fma(Ctx::new(cpu.fpscr), a, c, b, $op, $prec);
            scalar_done(cpu, i.xt(), r, $prec)
        }
    };
}

xs_fma!(xsmaddadp, Fma::MAdd, Prec::Double, false);
xs_fma!(xsmaddmdp, Fma::MAdd, Prec::Double, true);
xs_fma!(xsmsubadp, Fma::MSub, Prec::Double, false);
xs_fma!(xsmsubmdp, Fma::MSub, Prec::Double, true);
xs_fma!(xsnmaddadp, Fma::NMAdd, Prec::Double, false);
xs_fma!(xsnmaddmdp, Fma::NMAdd, Prec::Double, true);
xs_fma!(xsnmsubadp, Fma::NMSub, Prec::Double, false);
xs_fma!(xsnmsubmdp, Fma::NMSub, Prec::Double, true);
xs_fma!(xsmaddasp, Fma::MAdd, Prec::Single, false);
xs_fma!(xsmaddmsp, Fma::MAdd, Prec::Single, true);
xs_fma!(xsmsubasp, Fma::MSub, Prec::Single, false);
xs_fma!(xsmsubmsp, Fma::MSub, Prec::Single, true);
xs_fma!(xsnmaddasp, Fma::NMAdd, Prec::Single, false);
xs_fma!(xsnmaddmsp, Fma::NMAdd, Prec::Single, true);
xs_fma!(xsnmsubasp, Fma::NMSub, Prec::Single, false);
xs_fma!(xsnmsubmsp, Fma::NMSub, Prec::Single, true);

macro_rules! xv_binary {
    ($dp:ident, $sp:ident, $op:path) => {
        fn $dp(cpu: &mut Cpu, i: Insn) -> Ex {
            cpu.check_vsx()?;
            let (v, f) = map_dp(cpu, [i.xa(), i.xb()], |c, [a, b]| {
                $op(c, a, b, Prec::Double)
            });
            vector_done(cpu, i.xt(), dwords(v), f)
        }

        fn $sp(cpu: &mut Cpu, i: Insn) -> Ex {
            cpu.check_vsx()?;
            let (v, f) = map_sp(cpu, [i.xa(), i.xb()], |c, [a, b]| {
                $op(c, a, b, Prec::Single)
            });
            vector_done(cpu, i.xt(), from_words(v), f)
        }
    };
}

xv_binary!(xvadddp, xvaddsp, fpu::add);
xv_binary!(xvsubdp, xvsubsp, fpu::sub);
xv_binary!(xvmuldp, xvmulsp, fpu::mul);
xv_binary!(xvdivdp, xvdivsp, fpu::div);

macro_rules! xv_unary {
    ($dp:ident, $sp:ident, $op:path) => {
        fn $dp(cpu: &mut Cpu, i: Insn) -> Ex {
            cpu.check_vsx()?;
            let (v, f) = map_dp(cpu, [i.xb()], |c, [b]| $op(c, b, Prec::Double));
            vector_done(cpu, i.xt(), dwords(v), f)
        }

        fn $sp(cpu: &mut Cpu, i: Insn) -> Ex {
            cpu.check_vsx()?;
            let (v, f) = map_sp(cpu, [i.xb()], |c, [b]| $op(c, b, Prec::Single));
            vector_done(cpu, i.xt(), from_words(v), f)
        }
    };
}

xv_unary!(xvsqrtdp, xvsqrtsp, fpu::sqrt);
xv_unary!(xvredp, xvresp, fpu::re_estimate);
xv_unary!(xvrsqrtedp, xvrsqrtesp, fpu::rsqrte_estimate);

macro_rules! xv_fma {
    ($dp:ident, $sp:ident, $op:expr, $m:expr) => {
        fn $dp(cpu: &mut Cpu, i: Insn) -> Ex {
            cpu.check_vsx()?;
            let srcs = if $m {
                [i.xa(), i.xt(), i.xb()]
            } else {
                [i.xa(), i.xb(), i.xt()]
            };
            let (v, f) = map_dp(cpu, srcs, |c, [a, m, b]| {
                fpu::fma(c, a, m, b, $op, Prec::Double)
            });
            vector_done(cpu, i.xt(), dwords(v), f)
        }

        fn $sp(cpu: &mut Cpu, i: Insn) -> Ex {
            cpu.check_vsx()?;
            let srcs = if $m {
                [i.xa(), i.xt(), i.xb()]
            } else {
                [i.xa(), i.xb(), i.xt()]
            };
            let (v, f) = map_sp(cpu, srcs, |c, [a, m, b]| {
                fpu::fma(c, a, m, b, $op, Prec::Single)
            });
            vector_done(cpu, i.xt(), from_words(v), f)
        }
    };
}

xv_fma!(xvmaddadp, xvmaddasp, Fma::MAdd, false);
xv_fma!(xvmaddmdp, xvmaddmsp, Fma::MAdd, true);
xv_fma!(xvmsubadp, xvmsubasp, Fma::MSub, false);
xv_fma!(xvmsubmdp, xvmsubmsp, Fma::MSub, true);
xv_fma!(xvnmaddadp, xvnmaddasp, Fma::NMAdd, false);
xv_fma!(xvnmaddmdp, xvnmaddmsp, Fma::NMAdd, true);
xv_fma!(xvnmsubadp, xvnmsubasp, Fma::NMSub, false);
xv_fma!(xvnmsubmdp, xvnmsubmsp, Fma::NMSub, true);

// ---------------------------------------------------------------------------------------------
// Comparisons

/// xscmpudp/xscmpodp: CR field BF and FPCC get the comparison result, as fcmpu/fcmpo.
fn scalar_compare(cpu: &mut Cpu, i: Insn, ordered: bool) -> Ex {
    cpu.check_vsx()?;
    let r = fpu::compare(
        Ctx::new(cpu.fpscr),
        cpu.vsr[i.xa()][0],
        cpu.vsr[i.xb()][0],
        ordered,
    );
    cpu.set_crf(i.bf(), r.bits as u32);
    let f = fpu::set_exceptions(cpu.fpscr, r.flags);
    cpu.fpscr = (f & !fpu::FPCC) | r.bits << fpu::FPRF_SHIFT;
    fpu::check_enabled(cpu, r.flags)
}

fn xscmpudp(cpu: &mut Cpu, i: Insn) -> Ex {
    scalar_compare(cpu, i, false)
}

fn xscmpodp(cpu: &mut Cpu, i: Insn) -> Ex {
    scalar_compare(cpu, i, true)
}

/// Predicate on the 4-bit comparison result of `fpu::compare` (8 lt, 4 gt, 2 eq, 1 unordered).
#[derive(Clone, Copy)]
enum Cmp {
    Eq,
    Gt,
    Ge,
}

impl Cmp {
    #[inline(always)]
    fn test(self, cc: u64) -> bool {
        match self {
            Cmp::Eq => cc == 2,
            Cmp::Gt => cc == 4,
            Cmp::Ge => cc & 6 != 0,
        }
    }

    /// eq is a quiet comparison (VXSNAN only); gt/ge also raise VXVC for NaNs.
    #[inline(always)]
    fn ordered(self) -> bool {
        !matches!(self, Cmp::Eq)
    }
}

/// One element compare: all-ones/zero mask (in `bits`) and the exception flags.
#[inline(always)]
fn cmp_mask(ctx: Ctx, a: u64, b: u64, p: Cmp) -> Res {
    let r = fpu::compare(ctx, a, b, p.ordered());
    Res {
        bits: if p.test(r.bits) { u64::MAX } else { 0 },
        flags: r.flags,
    }
}

/// xscmpeqdp/xscmpgtdp/xscmpgedp (ISA 3.0): a mask in doubleword 0; FPRF/FR/FI unchanged.
fn scalar_cmp_mask(cpu: &mut Cpu, i: Insn, p: Cmp) -> Ex {
    cpu.check_vsx()?;
    let r = cmp_mask(
        Ctx::new(cpu.fpscr),
        cpu.vsr[i.xa()][0],
        cpu.vsr[i.xb()][0],
        p,
    );
    let write = !fpu::suppresses(cpu.fpscr, r.flags);
    fpu::accumulate(cpu, r.flags);
    if write {
        cpu.vsr[i.xt()] = [r.bits, 0];
    }
    fpu::check_enabled(cpu, r.flags)
}

fn xscmpeqdp(cpu: &mut Cpu, i: Insn) -> Ex {
    scalar_cmp_mask(cpu, i, Cmp::Eq)
}

fn xscmpgtdp(cpu: &mut Cpu, i: Insn) -> Ex {
    scalar_cmp_mask(cpu, i, Cmp::Gt)
}

fn xscmpgedp(cpu: &mut Cpu, i: Insn) -> Ex {
    scalar_cmp_mask(cpu, i, Cmp::Ge)
}

/// xscmpexpdp: compares the biased exponents; unordered if either operand is a NaN.
fn xscmpexpdp(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    let a = cpu.vsr[i.xa()][0];
    let b = cpu.vsr[i.xb()][0];
    let cc: u32 = if fpu::is_nan(a) || fpu::is_nan(b) {
        1
    } else {
        match (a >> 52 & 0x7ff).cmp(&(b >> 52 & 0x7ff)) {
            std::cmp::Ordering::Less => 8,
            std::cmp::Ordering::Greater => 4,
            std::cmp::Ordering::Equal => 2,
        }
    };
    cpu.set_crf(i.bf(), cc);
    cpu.fpscr = (cpu.fpscr & !fpu::FPCC) | (cc as u64) << fpu::FPRF_SHIFT;
    Ok(())
}

/// Vector compares: per-element masks; with Rc=1 (bit 21) CR6 = all-true || 0 || none-true || 0,
/// set even when an enabled exception suppresses the target.
fn vector_cmp(cpu: &mut Cpu, i: Insn, p: Cmp, sp: bool) -> Ex {
    cpu.check_vsx()?;
    let (v, flags, all, none) = if sp {
        let ctx = Ctx::new(cpu.fpscr);
        let a = words(cpu.vsr128(i.xa()));
        let b = words(cpu.vsr128(i.xb()));
        let mut w = [0u32; 4];
        let mut f = 0;
        for k in 0..4 {
            let r = cmp_mask(ctx, s2d(a[k]), s2d(b[k]), p);
            w[k] = r.bits as u32;
            f |= r.flags;
        }
        let all = w.iter().all(|&x| x != 0);
        let none = w.iter().all(|&x| x == 0);
        (from_words(w), f, all, none)
    } else {
        let (d, f) = map_dp(cpu, [i.xa(), i.xb()], |c, [a, b]| cmp_mask(c, a, b, p));
        let all = d.iter().all(|&x| x != 0);
        let none = d.iter().all(|&x| x == 0);
        (dwords(d), f, all, none)
    };
    if i.0 & (1 << 10) != 0 {
        cpu.set_crf(6, (all as u32) << 3 | (none as u32) << 1);
    }
    vector_done(cpu, i.xt(), v, flags)
}

fn xvcmpeqdp(cpu: &mut Cpu, i: Insn) -> Ex {
    vector_cmp(cpu, i, Cmp::Eq, false)
}

fn xvcmpgtdp(cpu: &mut Cpu, i: Insn) -> Ex {
    vector_cmp(cpu, i, Cmp::Gt, false)
}

fn xvcmpgedp(cpu: &mut Cpu, i: Insn) -> Ex {
    vector_cmp(cpu, i, Cmp::Ge, false)
}

fn xvcmpeqsp(cpu: &mut Cpu, i: Insn) -> Ex {
    vector_cmp(cpu, i, Cmp::Eq, true)
}

fn xvcmpgtsp(cpu: &mut Cpu, i: Insn) -> Ex {
    vector_cmp(cpu, i, Cmp::Gt, true)
}

fn xvcmpgesp(cpu: &mut Cpu, i: Insn) -> Ex {
    vector_cmp(cpu, i, Cmp::Ge, true)
}

// ---------------------------------------------------------------------------------------------
// Maximum and minimum

/// a < b for non-NaN doubles; -0 and +0 are equal.
#[inline(always)]
fn less(a: u64, b: u64) -> bool {
    let key = |x: u64| -> i64 {
        if x & SIGN != 0 {
            -((x & !SIGN) as i64)
        } else {
            x as i64
        }
    };
    key(a) < key(b)
}

#[inline(always)]
fn snan_flags(a: u64, b: u64) -> u64 {
    if fpu::is_snan(a) || fpu::is_snan(b) {
        VXSNAN
    } else {
        0
    }
}

/// xsmaxdp/xsmindp/xvmax*/xvmin* (IEEE maxNum/minNum): a QNaN operand gives the other operand;
/// an SNaN operand, or two NaNs, give the first NaN quieted (XA before XB);
/// max(+0, -0) = +0 and min(+0, -0) = -0.
#[inline(always)]
fn max_min(a: u64, b: u64, max: bool) -> Res {
    let flags = snan_flags(a, b);
    let (na, nb) = (fpu::is_nan(a), fpu::is_nan(b));
    let bits = if na && (nb || fpu::is_snan(a)) {
        quiet(a)
    } else if nb && fpu::is_snan(b) {
        quiet(b)
    } else if na {
        b
    } else if nb {
        a
    } else if fpu::is_zero(a) && fpu::is_zero(b) {
        if max {
            a & b
        } else {
            a | b
        }
    } else if less(a, b) == max {
        b
    } else {
        a
    };
    Res { bits, flags }
}

/// Type-C (xsmaxcdp/xsmincdp): (a > b) ? a : b, so any NaN or equal operands give b.
#[inline(always)]
fn max_min_c(a: u64, b: u64, max: bool) -> Res {
    let flags = snan_flags(a, b);
    // Equal values (including -0 and +0) give b too.
    let bits = if fpu::is_nan(a) || fpu::is_nan(b) {
        b
    } else if (max && less(b, a)) || (!max && less(a, b)) {
        a
    } else {
        b
    };
    Res { bits, flags }
}

/// Type-J (xsmaxjdp/xsminjdp, Java): a NaN operand is the result (XA first), -0 < +0.
#[inline(always)]
fn max_min_j(a: u64, b: u64, max: bool) -> Res {
    let flags = snan_flags(a, b);
    let bits = if fpu::is_nan(a) {
        a
    } else if fpu::is_nan(b) {
        b
    } else if fpu::is_zero(a) && fpu::is_zero(b) {
        if max {
            a & b
        } else {
            a | b
        }
    } else if less(a, b) == max {
        b
    } else {
        a
    };
    Res { bits, flags }
}

/// Scalar max/min family: VXSNAN only; the target is kept when VE=1 and VXSNAN occurs.
fn scalar_max_min(cpu: &mut Cpu, i: Insn, f: fn(u64, u64, bool) -> Res, max: bool) -> Ex {
    cpu.check_vsx()?;
    let r = f(cpu.vsr[i.xa()][0], cpu.vsr[i.xb()][0], max);
    let write = !fpu::suppresses(cpu.fpscr, r.flags);
    fpu::accumulate(cpu, r.flags);
    if write {
        cpu.vsr[i.xt()] = [r.bits, 0];
    }
    fpu::check_enabled(cpu, r.flags)
}

fn xsmaxdp(cpu: &mut Cpu, i: Insn) -> Ex {
    scalar_max_min(cpu, i, max_min, true)
}

fn xsmindp(cpu: &mut Cpu, i: Insn) -> Ex {
    scalar_max_min(cpu, i, max_min, false)
}

fn xsmaxcdp(cpu: &mut Cpu, i: Insn) -> Ex {
    scalar_max_min(cpu, i, max_min_c, true)
}

fn xsmincdp(cpu: &mut Cpu, i: Insn) -> Ex {
    scalar_max_min(cpu, i, max_min_c, false)
}

fn xsmaxjdp(cpu: &mut Cpu, i: Insn) -> Ex {
    scalar_max_min(cpu, i, max_min_j, true)
}

fn xsminjdp(cpu: &mut Cpu, i: Insn) -> Ex {
    scalar_max_min(cpu, i, max_min_j, false)
}

fn xvmaxdp(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    let (v, f) = map_dp(cpu, [i.xa(), i.xb()], |_, [a, b]| max_min(a, b, true));
    vector_done(cpu, i.xt(), dwords(v), f)
}

fn xvmindp(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    let (v, f) = map_dp(cpu, [i.xa(), i.xb()], |_, [a, b]| max_min(a, b, false));
    vector_done(cpu, i.xt(), dwords(v), f)
}

fn xvmaxsp(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    let (v, f) = map_sp(cpu, [i.xa(), i.xb()], |_, [a, b]| max_min(a, b, true));
    vector_done(cpu, i.xt(), from_words(v), f)
}

fn xvminsp(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    let (v, f) = map_sp(cpu, [i.xa(), i.xb()], |_, [a, b]| max_min(a, b, false));
    vector_done(cpu, i.xt(), from_words(v), f)
}

// ---------------------------------------------------------------------------------------------
// Software divide / square root tests

fn xstdivdp(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    let c = fpu::test_div(cpu.vsr[i.xa()][0], cpu.vsr[i.xb()][0]);
    cpu.set_crf(i.bf(), c);
    Ok(())
}

fn xstsqrtdp(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    let c = fpu::test_sqrt(cpu.vsr[i.xb()][0]);
    cpu.set_crf(i.bf(), c);
    Ok(())
}

fn xvtdivdp(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    let (a, b) = (cpu.vsr[i.xa()], cpu.vsr[i.xb()]);
    let c = fpu::test_div(a[0], b[0]) | fpu::test_div(a[1], b[1]);
    cpu.set_crf(i.bf(), c);
    Ok(())
}

fn xvtsqrtdp(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    let b = cpu.vsr[i.xb()];
    let c = fpu::test_sqrt(b[0]) | fpu::test_sqrt(b[1]);
    cpu.set_crf(i.bf(), c);
    Ok(())
}

/// Single-format classification for the SP tests: (unbiased exponent, NaN, inf, zero, denormal).
#[inline(always)]
fn sp_parts(x: u32) -> (i32, bool, bool, bool, bool) {
    let be = (x >> 23 & 0xff) as i32;
    let f = x & 0x7f_ffff;
    (
        be - 127,
        be == 0xff && f != 0,
        be == 0xff && f == 0,
        be == 0 && f == 0,
        be == 0 && f != 0,
    )
}

/// xvtdivsp for one element pair: fe/fg with the single-precision limits.
#[inline(always)]
fn test_div_sp(a: u32, b: u32) -> u32 {
    let (ea, nan_a, inf_a, zero_a, _) = sp_parts(a);
    let (eb, nan_b, inf_b, zero_b, den_b) = sp_parts(b);
    let fe = nan_a
        || inf_a
        || nan_b
        || inf_b
        || zero_b
        || eb <= -126
        || eb >= 125
        || (!zero_a && (ea - eb >= 127 || ea - eb <= -125 || ea <= -103));
    let fg = inf_a || inf_b || zero_b || den_b;
    8 | (fg as u32) << 2 | (fe as u32) << 1
}

#[inline(always)]
fn test_sqrt_sp(b: u32) -> u32 {
    let (eb, nan, inf, zero, den) = sp_parts(b);
    let fe = zero || nan || inf || b >> 31 != 0 || eb <= -103;
    let fg = zero || inf || den;
    8 | (fg as u32) << 2 | (fe as u32) << 1
}

fn xvtdivsp(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    let a = words(cpu.vsr128(i.xa()));
    let b = words(cpu.vsr128(i.xb()));
    let c = (0..4).fold(0, |c, k| c | test_div_sp(a[k], b[k]));
    cpu.set_crf(i.bf(), c);
    Ok(())
}

fn xvtsqrtsp(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    let b = words(cpu.vsr128(i.xb()));
    let c = b.iter().fold(0, |c, &x| c | test_sqrt_sp(x));
    cpu.set_crf(i.bf(), c);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Round to integral value

/// `round_to_int` with XX/FR/FI kept only for the "c" (current mode) forms, which report
/// inexactness; the fixed-mode forms never do.
#[inline(always)]
fn round_int(b: u64, rm: Round, report_inexact: bool) -> Res {
    let mut r = fpu::round_to_int(b, rm);
    if !report_inexact {
        r.flags &= !(XX | FR | FI);
    }
    r
}

macro_rules! xs_round {
    ($name:ident, $rm:expr, $c:expr) => {
        fn $name(cpu: &mut Cpu, i: Insn) -> Ex {
            cpu.check_vsx()?;
            let rm: Option<Round> = $rm;
            let rm = rm.unwrap_or(Round::from_rn(cpu.fpscr));
            let r = round_int(cpu.vsr[i.xb()][0], rm, $c);
            scalar_done(cpu, i.xt(), r, Prec::Double)
        }
    };
}

xs_round!(xsrdpi, Some(Round::NearestAway), false);
xs_round!(xsrdpic, None, true);
xs_round!(xsrdpim, Some(Round::Down), false);
xs_round!(xsrdpip, Some(Round::Up), false);
xs_round!(xsrdpiz, Some(Round::Zero), false);

macro_rules! xv_round {
    ($dp:ident, $sp:ident, $rm:expr, $c:expr) => {
        fn $dp(cpu: &mut Cpu, i: Insn) -> Ex {
            cpu.check_vsx()?;
            let rm: Option<Round> = $rm;
            let rm = rm.unwrap_or(Round::from_rn(cpu.fpscr));
            let (v, f) = map_dp(cpu, [i.xb()], |_, [b]| round_int(b, rm, $c));
            vector_done(cpu, i.xt(), dwords(v), f)
        }

        fn $sp(cpu: &mut Cpu, i: Insn) -> Ex {
            cpu.check_vsx()?;
            let rm: Option<Round> = $rm;
            let rm = rm.unwrap_or(Round::from_rn(cpu.fpscr));
            // Integral values of single magnitude are exact singles, so rounding in double
            // format and narrowing is exact.
            let (v, f) = map_sp(cpu, [i.xb()], |_, [b]| round_int(b, rm, $c));
            vector_done(cpu, i.xt(), from_words(v), f)
        }
    };
}

xv_round!(xvrdpi, xvrspi, Some(Round::NearestAway), false);
xv_round!(xvrdpic, xvrspic, None, true);
xv_round!(xvrdpim, xvrspim, Some(Round::Down), false);
xv_round!(xvrdpip, xvrspip, Some(Round::Up), false);
xv_round!(xvrdpiz, xvrspiz, Some(Round::Zero), false);

// ---------------------------------------------------------------------------------------------
// Precision conversions

fn xsrsp(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    let r = fpu::round_to_single(Ctx::new(cpu.fpscr), cpu.vsr[i.xb()][0]);
    scalar_done(cpu, i.xt(), r, Prec::Single)
}

/// xscvdpsp: rounded to single, delivered in single format in words 0 and 1, words 2-3 zero.
fn xscvdpsp(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    let r = fpu::round_to_single(Ctx::new(cpu.fpscr), cpu.vsr[i.xb()][0]);
    if let Some(v) = fpu::commit(cpu, r, Prec::Single) {
        let w = d2s(v) as u64;
        cpu.vsr[i.xt()] = [w << 32 | w, 0];
    }
    fpu::check_enabled(cpu, r.flags)
}

/// xscvdpspn: format change only (no rounding, no status), as stfs stores: values too small even
/// for a single denormal give zero.
fn xscvdpspn(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    let w = super::dp_to_sp_bits(cpu.vsr[i.xb()][0]) as u64;
    cpu.vsr[i.xt()] = [w << 32 | w, 0];
    Ok(())
}

/// xscvspdp: word 0 to double; an SNaN is quieted with VXSNAN.
fn xscvspdp(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    let r = fpu::cvt_single_to_double(words(cpu.vsr128(i.xb()))[0]);
    scalar_done(cpu, i.xt(), r, Prec::Double)
}

/// xscvspdpn: word 0 to double with no status and no quieting.
fn xscvspdpn(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    let d = s2d(words(cpu.vsr128(i.xb()))[0]);
    cpu.vsr[i.xt()] = [d, 0];
    Ok(())
}

fn xvcvdpsp(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    let (v, f) = map_dp(cpu, [i.xb()], |c, [b]| {
        let r = fpu::round_to_single(c, b);
        let w = d2s(r.bits) as u64;
        Res {
            bits: w << 32 | w,
            flags: r.flags,
        }
    });
    vector_done(cpu, i.xt(), dwords(v), f)
}

/// xvcvspdp: words 0 and 2 to doublewords 0 and 1.
fn xvcvspdp(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    let w = words(cpu.vsr128(i.xb()));
    let r0 = fpu::cvt_single_to_double(w[0]);
    let r1 = fpu::cvt_single_to_double(w[2]);
    vector_done(cpu, i.xt(), dwords([r0.bits, r1.bits]), r0.flags | r1.flags)
}

// ---------------------------------------------------------------------------------------------
// Conversions to and from integers (the FP->integer ones all round toward zero)

macro_rules! xs_to_int {
    ($name:ident, $kind:expr, $word:expr) => {
        fn $name(cpu: &mut Cpu, i: Insn) -> Ex {
            cpu.check_vsx()?;
            let r = fpu::to_int(cpu.vsr[i.xb()][0], $kind, Round::Zero);
            if let Some(v) = fpu::commit_no_fprf(cpu, r) {
                // Word results go to words 0 and 1.
                let v = if $word {
                    (v as u32 as u64) * 0x1_0000_0001
                } else {
                    v
                };
                cpu.vsr[i.xt()] = [v, 0];
            }
            fpu::check_enabled(cpu, r.flags)
        }
    };
}

xs_to_int!(xscvdpsxds, IntKind::I64, false);
xs_to_int!(xscvdpsxws, IntKind::I32, true);
xs_to_int!(xscvdpuxds, IntKind::U64, false);
xs_to_int!(xscvdpuxws, IntKind::U32, true);

macro_rules! xs_from_int {
    ($name:ident, $signed:expr, $prec:expr) => {
        fn $name(cpu: &mut Cpu, i: Insn) -> Ex {
            cpu.check_vsx()?;
            let r = fpu::from_int(Ctx::new(cpu.fpscr), cpu.vsr[i.xb()][0], $signed, $prec);
            scalar_done(cpu, i.xt(), r, $prec)
        }
    };
}

xs_from_int!(xscvsxddp, true, Prec::Double);
xs_from_int!(xscvuxddp, false, Prec::Double);
xs_from_int!(xscvsxdsp, true, Prec::Single);
xs_from_int!(xscvuxdsp, false, Prec::Single);

/// Doubleword elements to 64-bit integers.
macro_rules! xv_dp_to_i64 {
    ($name:ident, $kind:expr) => {
        fn $name(cpu: &mut Cpu, i: Insn) -> Ex {
            cpu.check_vsx()?;
            let (v, f) = map_dp(cpu, [i.xb()], |_, [b]| fpu::to_int(b, $kind, Round::Zero));
            vector_done(cpu, i.xt(), dwords(v), f)
        }
    };
}

xv_dp_to_i64!(xvcvdpsxds, IntKind::I64);
xv_dp_to_i64!(xvcvdpuxds, IntKind::U64);

/// Doubleword elements to 32-bit integers in both words of each doubleword.
macro_rules! xv_dp_to_i32 {
    ($name:ident, $kind:expr) => {
        fn $name(cpu: &mut Cpu, i: Insn) -> Ex {
            cpu.check_vsx()?;
            let (v, f) = map_dp(cpu, [i.xb()], |_, [b]| {
                let r = fpu::to_int(b, $kind, Round::Zero);
                Res {
                    bits: (r.bits as u32 as u64) * 0x1_0000_0001,
                    flags: r.flags,
                }
            });
            vector_done(cpu, i.xt(), dwords(v), f)
        }
    };
}

xv_dp_to_i32!(xvcvdpsxws, IntKind::I32);
xv_dp_to_i32!(xvcvdpuxws, IntKind::U32);

/// Words 0 and 2 (single) to 64-bit integers.
macro_rules! xv_sp_to_i64 {
    ($name:ident, $kind:expr) => {
        fn $name(cpu: &mut Cpu, i: Insn) -> Ex {
            cpu.check_vsx()?;
            let w = words(cpu.vsr128(i.xb()));
            let r0 = fpu::to_int(s2d(w[0]), $kind, Round::Zero);
            let r1 = fpu::to_int(s2d(w[2]), $kind, Round::Zero);
            vector_done(cpu, i.xt(), dwords([r0.bits, r1.bits]), r0.flags | r1.flags)
        }
    };
}

xv_sp_to_i64!(xvcvspsxds, IntKind::I64);
xv_sp_to_i64!(xvcvspuxds, IntKind::U64);

/// Each single word to a 32-bit integer word.
macro_rules! xv_sp_to_i32 {
    ($name:ident, $kind:expr) => {
        fn $name(cpu: &mut Cpu, i: Insn) -> Ex {
            cpu.check_vsx()?;
            let w = words(cpu.vsr128(i.xb()));
            let mut out = [0u32; 4];
            let mut flags = 0;
            for (o, x) in out.iter_mut().zip(w) {
                let r = fpu::to_int(s2d(x), $kind, Round::Zero);
                *o = r.bits as u32;
                flags |= r.flags;
            }
            vector_done(cpu, i.xt(), from_words(out), flags)
        }
    };
}

xv_sp_to_i32!(xvcvspsxws, IntKind::I32);
xv_sp_to_i32!(xvcvspuxws, IntKind::U32);

/// Doubleword integers to double.
macro_rules! xv_i64_to_dp {
    ($name:ident, $signed:expr) => {
        fn $name(cpu: &mut Cpu, i: Insn) -> Ex {
            cpu.check_vsx()?;
            let (v, f) = map_dp(cpu, [i.xb()], |c, [b]| {
                fpu::from_int(c, b, $signed, Prec::Double)
            });
            vector_done(cpu, i.xt(), dwords(v), f)
        }
    };
}

xv_i64_to_dp!(xvcvsxddp, true);
xv_i64_to_dp!(xvcvuxddp, false);

/// Doubleword integers to single, in both words of each doubleword.
macro_rules! xv_i64_to_sp {
    ($name:ident, $signed:expr) => {
        fn $name(cpu: &mut Cpu, i: Insn) -> Ex {
            cpu.check_vsx()?;
            let (v, f) = map_dp(cpu, [i.xb()], |c, [b]| {
                let r = fpu::from_int(c, b, $signed, Prec::Single);
                let w = d2s(r.bits) as u64;
                Res {
                    bits: w << 32 | w,
                    flags: r.flags,
                }
            });
            vector_done(cpu, i.xt(), dwords(v), f)
        }
    };
}

xv_i64_to_sp!(xvcvsxdsp, true);
xv_i64_to_sp!(xvcvuxdsp, false);

/// Words 0 and 2 (32-bit integers) to double: always exact.
macro_rules! xv_i32_to_dp {
    ($name:ident, $signed:expr) => {
        fn $name(cpu: &mut Cpu, i: Insn) -> Ex {
            cpu.check_vsx()?;
            let w = words(cpu.vsr128(i.xb()));
            let ctx = Ctx::new(cpu.fpscr);
            let ext = |x: u32| {
                if $signed {
                    x as i32 as i64 as u64
                } else {
                    x as u64
                }
            };
            let r0 = fpu::from_int(ctx, ext(w[0]), $signed, Prec::Double);
            let r1 = fpu::from_int(ctx, ext(w[2]), $signed, Prec::Double);
            vector_done(cpu, i.xt(), dwords([r0.bits, r1.bits]), r0.flags | r1.flags)
        }
    };
}

xv_i32_to_dp!(xvcvsxwdp, true);
xv_i32_to_dp!(xvcvuxwdp, false);

/// Each 32-bit integer word to a single word.
macro_rules! xv_i32_to_sp {
    ($name:ident, $signed:expr) => {
        fn $name(cpu: &mut Cpu, i: Insn) -> Ex {
            cpu.check_vsx()?;
            let w = words(cpu.vsr128(i.xb()));
            let ctx = Ctx::new(cpu.fpscr);
            let mut out = [0u32; 4];
            let mut flags = 0;
            for (o, x) in out.iter_mut().zip(w) {
                let v = if $signed {
                    x as i32 as i64 as u64
                } else {
                    x as u64
                };
                let r = fpu::from_int(ctx, v, $signed, Prec::Single);
                *o = d2s(r.bits);
                flags |= r.flags;
            }
            vector_done(cpu, i.xt(), from_words(out), flags)
        }
    };
}

xv_i32_to_sp!(xvcvsxwsp, true);
xv_i32_to_sp!(xvcvuxwsp, false);

// ---------------------------------------------------------------------------------------------
// Half precision (binary16: 1 sign, 5 exponent bits with bias 15, 10 fraction bits). fpu has no
// half format, so the rounding is done here.

/// Half to double, exactly; NaNs keep their payload (no quieting).
fn hp_to_dp(h: u16) -> u64 {
    let s = ((h >> 15) as u64) << 63;
    let e = (h >> 10 & 0x1f) as u64;
    let f = (h & 0x3ff) as u64;
    match e {
        0x1f => s | INF | f << 42,
        0 if f == 0 => s,
        0 => {
            // f × 2^-24 with its leading one at bit p.
            let p = 63 - f.leading_zeros() as u64;
            s | (1023 + p - 24) << 52 | (f << (52 - p)) & FRAC_MASK
        }
        _ => s | (e + 1023 - 15) << 52 | f << 42,
    }
}

/// Half to double with SNaN quieting (VXSNAN), for the conversions that signal.
fn cvt_hp_to_dp(h: u16) -> Res {
    let d = hp_to_dp(h);
    if fpu::is_snan(d) {
        Res {
            bits: quiet(d),
            flags: VXSNAN,
        }
    } else {
        Res { bits: d, flags: 0 }
    }
}

/// Rounds a double to half precision per `ctx` (tininess before rounding, as the FP unit).
/// Returns the 16-bit result in `bits` and VXSNAN/OX/UX/XX/FR/FI in `flags`. With OE/UE set the
/// default (unadjusted) result is still delivered: the ISA's exponent-adjusted results are not
/// defined for this format.
fn dp_to_hp(ctx: Ctx, d: u64) -> Res {
    let neg = d & SIGN != 0;
    let s = (neg as u64) << 15;
    let be = (d >> 52 & 0x7ff) as i32;
    let f = d & FRAC_MASK;
    if be == 0x7ff {
        if f == 0 {
            return Res {
                bits: s | 0x7c00,
                flags: 0,
            };
        }
        let flags = if f & QUIET == 0 { VXSNAN } else { 0 };
        return Res {
            bits: s | 0x7e00 | f >> 42,
            flags,
        };
    }
    if be == 0 && f == 0 {
        return Res { bits: s, flags: 0 };
    }
    // value = m × 2^(e - 52) with bit 52 of m set.
    let (m, e) = if be == 0 {
        let lz = f.leading_zeros() - 11;
        (f << lz, -1022 - lz as i32)
    } else {
        (f | 1 << 52, be - 1023)
    };
    let tiny = e < -14;
    // Keep 11 significant bits, fewer below the normal range; shifts past 64 discard everything
    // (m < 2^53 stays below the halfway point, as it would for any larger shift).
    let shift = (42 + (-14 - e).max(0)).min(64) as u32;
    let m = m as u128;
    let mut q = (m >> shift) as u64;
    let rem = m & ((1u128 << shift) - 1);
    let half = 1u128 << (shift - 1);
    let up = rem != 0
        && match ctx.rm {
            Round::NearestEven => rem > half || (rem == half && q & 1 != 0),
            Round::NearestAway => rem >= half,
            Round::Zero => false,
            Round::Up => !neg,
            Round::Down => neg,
        };
    q += up as u64;
    let mut flags = 0;
    if rem != 0 {
        flags |= XX | FI;
        if up {
            flags |= FR;
        }
    }
    if tiny && (rem != 0 || ctx.ue) {
        flags |= fpu::UX;
    }
    let mut e = e;
    if !tiny && q == 1 << 11 {
        q >>= 1;
        e += 1;
    }
    if !tiny && e > 15 {
        // Overflow: infinity or the largest finite number, by rounding direction.
        let to_inf = match ctx.rm {
            Round::NearestEven | Round::NearestAway => true,
            Round::Zero => false,
            Round::Up => !neg,
            Round::Down => neg,
        };
        let bits = s | if to_inf { 0x7c00 } else { 0x7bff };
        let fr = if to_inf { FR } else { 0 };
        return Res {
            bits,
            flags: fpu::OX | XX | FI | fr,
        };
    }
    let bits = if tiny {
        // A denormal; q = 2^10 encodes the smallest normal number.
        s | q
    } else {
        s | ((e + 15) as u64) << 10 | (q & 0x3ff)
    };
    Res { bits, flags }
}

/// FPRF of a half-precision result (half denormals are normal doubles, so classify here).
fn fprf_hp(h: u64) -> u64 {
    let d = hp_to_dp(h as u16);
    if h & 0x7c00 == 0 && h & 0x3ff != 0 {
        let c = if h & 0x8000 != 0 {
            fpu::class::NEG_DENORMAL
        } else {
            fpu::class::POS_DENORMAL
        };
        c << fpu::FPRF_SHIFT
    } else {
        fpu::fprf(d, Prec::Double)
    }
}

/// xscvhpdp: halfword 3 of doubleword 0 to double.
fn xscvhpdp(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    let r = cvt_hp_to_dp(cpu.vsr[i.xb()][0] as u16);
    scalar_done(cpu, i.xt(), r, Prec::Double)
}

/// xscvdphp: double to half, zero-extended into doubleword 0; FPRF classifies the half result.
fn xscvdphp(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    let r = dp_to_hp(Ctx::new(cpu.fpscr), cpu.vsr[i.xb()][0]);
    if let Some(v) = fpu::commit_no_fprf(cpu, r) {
        cpu.fpscr = (cpu.fpscr & !fpu::FPRF) | fprf_hp(v);
        cpu.vsr[i.xt()] = [v, 0];
    }
    fpu::check_enabled(cpu, r.flags)
}

/// xvcvhpsp: the low halfword of each word to single.
fn xvcvhpsp(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    let w = words(cpu.vsr128(i.xb()));
    let mut out = [0u32; 4];
    let mut flags = 0;
    for (o, x) in out.iter_mut().zip(w) {
        let r = cvt_hp_to_dp(x as u16);
        *o = d2s(r.bits);
        flags |= r.flags;
    }
    vector_done(cpu, i.xt(), from_words(out), flags)
}

/// xvcvsphp: each single word to half, zero-extended in its word.
fn xvcvsphp(cpu: &mut Cpu, i: Insn) -> Ex {
    cpu.check_vsx()?;
    let ctx = Ctx::new(cpu.fpscr);
    let w = words(cpu.vsr128(i.xb()));
    let mut out = [0u32; 4];
    let mut flags = 0;
    for (o, x) in out.iter_mut().zip(w) {
        let r = dp_to_hp(ctx, s2d(x));
        *o = r.bits as u32;
        flags |= r.flags;
    }
    vector_done(cpu, i.xt(), from_words(out), flags)
}
