//! A small seeded PRNG (SplitMix64) and operand value generators biased toward edge cases.

/// SplitMix64: tiny, fast, and every seed (including 0) gives a good stream.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in 0..n (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// True with probability num/den.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }

    /// Uniform in lo..=hi.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo.wrapping_add(self.below((hi - lo) as u64 + 1) as i64)
    }

    pub fn bool(&mut self) -> bool {
        self.next_u64() >> 63 != 0
    }
}

fn mask(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

/// An integer of `bits` (1..=64) bits, zero-extended, biased toward edge values: 0, ±1, the signed
/// and unsigned extremes, powers of two and their neighbours, small values (shift counts), and for
/// 64-bit values the 32-bit extremes both sign- and zero-extended.
pub fn edge_int(r: &mut Rng, bits: u32) -> u64 {
    let m = mask(bits);
    let k = r.below(bits as u64) as u32;
    let v: u64 = match r.below(20) {
        0 => 0,
        1 => 1,
        2 => u64::MAX,
        3 => 1 << (bits - 1),                      // signed min
        4 => (1u64 << (bits - 1)).wrapping_sub(1), // signed max
        5 => 1u64 << k,
        6 => (1u64 << k).wrapping_sub(1),
        7 => (1u64 << k).wrapping_neg(),
        8 => ((1u64 << k) as i64).wrapping_add(r.range(-2, 2)) as u64,
        9 | 10 => r.range(-300, 300) as u64,
        11 => r.below(130),
        12 if bits == 64 => [
            0x8000_0000,
            0x7fff_ffff,
            0xffff_ffff,
            0xffff_ffff_8000_0000,
            0x1_0000_0000,
            0xffff_ffff_7fff_ffff,
        ][r.below(6) as usize],
        13 if bits == 64 => r.next_u64() as i32 as i64 as u64,
        14 if bits == 64 => r.next_u64() as u32 as u64,
        15 => {
            // Byte pattern: each byte 00, ff or random.
            let mut v = 0u64;
            for i in 0..8 {
                let b = match r.below(3) {
                    0 => 0,
                    1 => 0xff,
                    _ => r.next_u64() & 0xff,
                };
                v |= b << (8 * i);
            }
            v
        }
        16 => r.next_u64() >> r.below(64),
        _ => r.next_u64(),
    };
    v & m
}

pub const F64_QNAN: u64 = 0x7ff8_0000_0000_0000;

/// A double (as bits) biased toward edge values: ±0, ±inf, quiet and signalling NaNs with
/// payloads, denormals, 1.0, extreme normals, integers and half-integers around conversion limits,
/// single-precision limits, and random values of ordinary and extreme magnitude.
pub fn edge_f64(r: &mut Rng) -> u64 {
    let sign = if r.bool() { 1u64 << 63 } else { 0 };
    let frac = r.next_u64() & ((1 << 52) - 1);
    let v: u64 = match r.below(24) {
        0 => 0,
        1 => 0x7ff0_0000_0000_0000,               // inf
        2 => F64_QNAN,                            // default QNaN
        3 => F64_QNAN | (frac & ((1 << 51) - 1)), // QNaN with payload
        4 => 0x7ff0_0000_0000_0000 | (frac & ((1 << 51) - 1)).max(1), // SNaN
        5 => frac.max(1),                         // denormal
        6 => [1, (1 << 52) - 1, 1 << 51][r.below(3) as usize],
        7 | 8 => 0x3ff0_0000_0000_0000, // 1.0
        9 => 0x7fef_ffff_ffff_ffff,     // max normal
        10 => 0x0010_0000_0000_0000,    // min normal
        11 => {
            // Integer-valued, near conversion limits and rounding ties.
            let ints: [f64; 14] = [
                2147483647.0,
                2147483648.0,
                2147483647.5,
                4294967295.0,
                4294967296.0,
                4294967295.5,
                9.223372036854775e18,
                1.8446744073709552e19,
                0.5,
                1.5,
                2.5,
                -0.5,
                3.0,
                2.0,
            ];
            (ints[r.below(14) as usize] + [0.0, 0.25, 0.5, 0.75, 1.0][r.below(5) as usize])
                .to_bits()
        }
        12 => (r.range(-(1 << 40), 1 << 40) as f64).to_bits() & !(1 << 63),
        13 => {
            // Single-precision limits, as doubles.
            let v = [
                0x47ef_ffff_e000_0000u64, // FLT_MAX
                0x47ef_ffff_f000_0000,    // FLT_MAX + half ulp: rounds to inf in some modes
                0x47f0_0000_0000_0000,    // 2^128
                0x3810_0000_0000_0000,    // FLT_MIN
                0x36a0_0000_0000_0000,    // 2^-149, smallest single denormal
                0x3690_0000_0000_0000,    // 2^-150
                0x380f_ffff_c000_0000,    // largest single denormal
                0x3810_0000_1000_0000,    // FLT_MIN with bits below single precision
            ];
            v[r.below(8) as usize]
        }
        14 => {
            // Exactly halfway between two singles: exercises round-to-nearest-even.
            let e = r.range(1023 - 20, 1023 + 20) as u64;
            e << 52 | (frac & !((1 << 29) - 1)) | 1 << 28
        }
        15..=17 => {
            // Ordinary magnitudes around 1.
            let e = r.range(1023 - 30, 1023 + 30) as u64;
            e << 52 | frac
        }
        18 => {
            // Extreme exponents.
            let e = if r.bool() {
                r.range(1, 60)
            } else {
                r.range(2046 - 60, 2046)
            } as u64;
            e << 52 | frac
        }
        19 => {
            // Few significant bits: exact results are likely.
            let e = r.range(1023 - 8, 1023 + 8) as u64;
            e << 52 | (frac & 0xffff_0000_0000_0000 >> 12)
        }
        _ => r.next_u64() & !(1 << 63),
    };
    v | sign
}

/// A single (as bits) biased toward edge values, as `edge_f64`.
pub fn edge_f32(r: &mut Rng) -> u32 {
    let sign = if r.bool() { 1u32 << 31 } else { 0 };
    let frac = (r.next_u64() as u32) & ((1 << 23) - 1);
    let v: u32 = match r.below(20) {
        0 => 0,
        1 => 0x7f80_0000,
        2 => 0x7fc0_0000,
        3 => 0x7fc0_0000 | (frac & ((1 << 22) - 1)),
        4 => 0x7f80_0000 | (frac & ((1 << 22) - 1)).max(1),
        5 => frac.max(1),
        6 => [1, (1 << 23) - 1, 1 << 22][r.below(3) as usize],
        7 | 8 => 0x3f80_0000,
        9 => 0x7f7f_ffff,
        10 => 0x0080_0000,
        11 => {
            let ints: [f32; 10] = [
                2147483520.0,
                2147483648.0,
                4294967040.0,
                4294967296.0,
                9.223372e18,
                0.5,
                1.5,
                2.5,
                3.0,
                16777216.0,
            ];
            (ints[r.below(10) as usize] + [0.0, 0.25, 0.5, 1.0][r.below(4) as usize]).to_bits()
        }
        12 => (r.range(-(1 << 24), 1 << 24) as f32).to_bits() & !(1 << 31),
        13..=15 => {
            let e = r.range(127 - 20, 127 + 20) as u32;
            e << 23 | frac
        }
        16 => {
            let e = if r.bool() {
                r.range(1, 30)
            } else {
                r.range(254 - 30, 254)
            } as u32;
            e << 23 | frac
        }
        17 => {
            let e = r.range(127 - 8, 127 + 8) as u32;
            e << 23 | (frac & 0x7f_f000)
        }
        _ => (r.next_u64() as u32) & !(1 << 31),
    };
    v | sign
}

/// A binary128 (as bits) biased toward edge values.
pub fn edge_f128(r: &mut Rng) -> u128 {
    let sign = if r.bool() { 1u128 << 127 } else { 0 };
    let frac = ((r.next_u64() as u128) << 64 | r.next_u64() as u128) & ((1u128 << 112) - 1);
    const EXP_SHIFT: u32 = 112;
    let v: u128 = match r.below(16) {
        0 => 0,
        1 => 0x7fffu128 << EXP_SHIFT,
        2 => 0x7fff_8000u128 << (EXP_SHIFT - 16),
        3 => 0x7fff_8000u128 << (EXP_SHIFT - 16) | (frac & ((1u128 << 111) - 1)),
        4 => 0x7fffu128 << EXP_SHIFT | (frac & ((1u128 << 111) - 1)).max(1),
        5 => frac.max(1),
        6 | 7 => 0x3fffu128 << EXP_SHIFT,
        8 => 0x7ffeu128 << EXP_SHIFT | ((1u128 << 112) - 1),
        9 => 1u128 << EXP_SHIFT,
        10 => {
            // A double converted exactly: exercises the conversions to/from binary64 and ints.
            let d = edge_f64(r);
            f64_to_f128_bits(d)
        }
        11..=13 => {
            let e = r.range(0x3fff - 70, 0x3fff + 70) as u128;
            e << EXP_SHIFT | frac
        }
        _ => ((r.next_u64() as u128) << 64 | r.next_u64() as u128) & !(1u128 << 127),
    };
    v | sign
}

/// Exact conversion of a single's bits to the double with the same value (NaN payloads kept,
/// SNaNs stay signalling), as the ISA's single-to-double format conversion does.
pub fn f32_to_f64_bits(w: u32) -> u64 {
    let s = ((w >> 31) as u64) << 63;
    let e = (w >> 23) & 0xff;
    let m = (w & 0x7f_ffff) as u64;
    match e {
        0xff => s | 0x7ff << 52 | m << 29,
        0 if m == 0 => s,
        0 => {
            // Denormal: value m * 2^-149; normalise so the leading one becomes implicit.
            let p = 63 - m.leading_zeros() as u64; // position of the leading one, 0..=22
            let exp = p + 1023 - 149;
            s | exp << 52 | ((m << (52 - p)) & ((1 << 52) - 1))
        }
        _ => s | (e as u64 + 1023 - 127) << 52 | m << 29,
    }
}

/// Exact conversion of a double's bits to binary128 (NaN payloads kept).
pub fn f64_to_f128_bits(d: u64) -> u128 {
    let s = ((d >> 63) as u128) << 127;
    let e = (d >> 52) & 0x7ff;
    let m = (d & ((1 << 52) - 1)) as u128;
    match e {
        0x7ff => s | 0x7fffu128 << 112 | m << 60,
        0 if m == 0 => s,
        0 => {
            let p = 127 - m.leading_zeros() as u128; // 0..=51
            let exp = p + 16383 - 1074;
            s | exp << 112 | ((m << (112 - p)) & ((1u128 << 112) - 1))
        }
        _ => s | (e as u128 + 16383 - 1023) << 112 | m << 60,
    }
}

/// 128 random bits shaped as a vector of integers: the element width is chosen at random and each
/// element gets an edge value of that width.
pub fn edge_vint(r: &mut Rng) -> u128 {
    match r.below(7) {
        0 => (r.next_u64() as u128) << 64 | r.next_u64() as u128,
        5 | 6 => {
            // A whole-quadword edge value.
            let hi = edge_int(r, 64);
            let lo = edge_int(r, 64);
            match r.below(4) {
                0 => lo as u128,
                1 => (lo as i64 as i128) as u128,
                2 => (hi as u128) << 64,
                _ => (hi as u128) << 64 | lo as u128,
            }
        }
        w => {
            let bits = 4u32 << w; // w in 1..=4: 8..64
            let n = 128 / bits;
            let mut v = 0u128;
            for i in 0..n {
                v |= (edge_int(r, bits) as u128) << (i * bits);
            }
            v
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_reference_values() {
        // Reference outputs of SplitMix64 seeded with 0 (from the published algorithm).
        let mut r = Rng::new(0);
        assert_eq!(r.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(r.next_u64(), 0x6e78_9e6a_a1b9_65f4);
    }

    #[test]
    fn single_to_double() {
        assert_eq!(f32_to_f64_bits(1.0f32.to_bits()), 1.0f64.to_bits());
        assert_eq!(f32_to_f64_bits((-2.5f32).to_bits()), (-2.5f64).to_bits());
        // Smallest single denormal is 2^-149.
        assert_eq!(f32_to_f64_bits(1), 0x36a0_0000_0000_0000);
        // Largest single denormal (2^-126 - 2^-149).
        assert_eq!(f32_to_f64_bits(0x007f_ffff), 0x380f_ffff_c000_0000);
        // SNaN stays signalling with its payload.
        assert_eq!(f32_to_f64_bits(0x7f80_0001), 0x7ff0_0000_2000_0000);
    }

    #[test]
    fn double_to_quad() {
        assert_eq!(f64_to_f128_bits(1.0f64.to_bits()), 0x3fffu128 << 112);
        // 2^-1074 = 2^(-1074) -> biased exponent 16383 - 1074.
        assert_eq!(f64_to_f128_bits(1), ((16383 - 1074) as u128) << 112);
    }

    #[test]
    fn edge_values_fit_width() {
        let mut r = Rng::new(7);
        for _ in 0..10000 {
            assert!(edge_int(&mut r, 16) <= 0xffff);
            assert!(edge_int(&mut r, 5) < 32);
        }
    }
}
