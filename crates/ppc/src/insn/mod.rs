//! Instruction semantics, one module per instruction group. Each module owns the decode of its
//! opcodes (`decode*` functions returning a handler) so groups can grow independently.

pub mod branch;
pub mod fixed;
pub mod fp;
pub mod isa31;
pub mod levels;
pub mod loadstore;
pub mod prefixed;
pub mod sys;
pub mod vmx;
pub mod vsx;

/// A 32-bit instruction word with field accessors named as in the ISA (bit 0 = MSB).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn(pub u32);

impl Insn {
    /// Bits `a..=b` (ISA numbering) as an unsigned value.
    #[inline(always)]
    pub fn bits(self, a: u32, b: u32) -> u32 {
        (self.0 >> (31 - b)) & ((1u32 << (b - a + 1)) - 1)
    }
    #[inline(always)]
    pub fn opcd(self) -> u32 {
        self.0 >> 26
    }
    /// RT / RS / FRT / FRS / VRT / BO / TO / BF (bits 6:10).
    #[inline(always)]
    pub fn rt(self) -> usize {
        (self.0 >> 21 & 31) as usize
    }
    /// RA / BI (bits 11:15).
    #[inline(always)]
    pub fn ra(self) -> usize {
        (self.0 >> 16 & 31) as usize
    }
    /// RB (bits 16:20).
    #[inline(always)]
    pub fn rb(self) -> usize {
        (self.0 >> 11 & 31) as usize
    }
    /// RC / FRC / VRC / MB of M-forms (bits 21:25).
    #[inline(always)]
    pub fn rc(self) -> usize {
        (self.0 >> 6 & 31) as usize
    }
    /// The record bit (bit 31).
    #[inline(always)]
    pub fn rc_bit(self) -> bool {
        self.0 & 1 != 0
    }
    /// OE (bit 21) of XO-forms.
    #[inline(always)]
    pub fn oe(self) -> bool {
        self.0 & (1 << 10) != 0
    }
    /// BF (bits 6:8), a CR field number.
    #[inline(always)]
    pub fn bf(self) -> usize {
        (self.0 >> 23 & 7) as usize
    }
    /// BFA (bits 11:13).
    #[inline(always)]
    pub fn bfa(self) -> usize {
        (self.0 >> 18 & 7) as usize
    }
    /// L of compares (bit 10).
    #[inline(always)]
    pub fn l10(self) -> bool {
        self.0 & (1 << 21) != 0
    }
    /// SI / D: signed 16-bit immediate.
    #[inline(always)]
    pub fn si(self) -> i64 {
        self.0 as u16 as i16 as i64
    }
    /// UI: unsigned 16-bit immediate.
    #[inline(always)]
    pub fn ui(self) -> u64 {
        (self.0 & 0xffff) as u64
    }
    /// DS field of DS-forms, already shifted (low two bits zero), sign-extended.
    #[inline(always)]
    pub fn ds(self) -> i64 {
        (self.0 & 0xfffc) as u16 as i16 as i64
    }
    /// DQ field of DQ-forms, already shifted (low four bits zero), sign-extended.
    #[inline(always)]
    pub fn dq(self) -> i64 {
        (self.0 & 0xfff0) as u16 as i16 as i64
    }
    /// Extended opcode of X/XO-forms: bits 21:30.
    #[inline(always)]
    pub fn xo10(self) -> u32 {
        self.0 >> 1 & 0x3ff
    }
    /// Extended opcode of XO-forms with OE: bits 22:30.
    #[inline(always)]
    pub fn xo9(self) -> u32 {
        self.0 >> 1 & 0x1ff
    }
    /// Extended opcode of A-forms: bits 26:30.
    #[inline(always)]
    pub fn xo5(self) -> u32 {
        self.0 >> 1 & 0x1f
    }
    /// Extended opcode of DS-forms: bits 30:31.
    #[inline(always)]
    pub fn xo2(self) -> u32 {
        self.0 & 3
    }
    /// Extended opcode of VX-forms: bits 21:31.
    #[inline(always)]
    pub fn xo11(self) -> u32 {
        self.0 & 0x7ff
    }
    /// Extended opcode of VA-forms: bits 26:31.
    #[inline(always)]
    pub fn xo6(self) -> u32 {
        self.0 & 0x3f
    }
    /// LK (bit 31) of branches.
    #[inline(always)]
    pub fn lk(self) -> bool {
        self.0 & 1 != 0
    }
    /// AA (bit 30) of branches.
    #[inline(always)]
    pub fn aa(self) -> bool {
        self.0 & 2 != 0
    }
    /// SPR number with its two halves swapped back (bits 11:20).
    #[inline(always)]
    pub fn spr(self) -> u32 {
        (self.0 >> 16 & 0x1f) | (self.0 >> 6 & 0x3e0)
    }
    /// VSX register T of XX1/XX2/XX3 forms: TX (bit 31) << 5 | T (bits 6:10).
    #[inline(always)]
    pub fn xt(self) -> usize {
        ((self.0 & 1) << 5 | self.0 >> 21 & 31) as usize
    }
    /// VSX register A of XX3 forms: AX (bit 29) << 5 | A.
    #[inline(always)]
    pub fn xa(self) -> usize {
        ((self.0 >> 2 & 1) << 5 | self.0 >> 16 & 31) as usize
    }
    /// VSX register B of XX2/XX3 forms: BX (bit 30) << 5 | B.
    #[inline(always)]
    pub fn xb(self) -> usize {
        ((self.0 >> 1 & 1) << 5 | self.0 >> 11 & 31) as usize
    }
    /// VSX register C of XX4 forms: CX (bit 28) << 5 | C.
    #[inline(always)]
    pub fn xc(self) -> usize {
        ((self.0 >> 3 & 1) << 5 | self.0 >> 6 & 31) as usize
    }
}

/// EA for D-form accesses: (RA|0) + disp.
#[inline(always)]
pub fn ea_d(cpu: &crate::Cpu, i: Insn, disp: i64) -> u64 {
    let base = if i.ra() == 0 { 0 } else { cpu.gpr[i.ra()] };
    cpu.ea(base.wrapping_add(disp as u64))
}

/// EA for X-form accesses: (RA|0) + (RB).
#[inline(always)]
pub fn ea_x(cpu: &crate::Cpu, i: Insn) -> u64 {
    let base = if i.ra() == 0 { 0 } else { cpu.gpr[i.ra()] };
    cpu.ea(base.wrapping_add(cpu.gpr[i.rb()]))
}
