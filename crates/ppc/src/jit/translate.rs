//! Guest block → Cranelift IR → host code.
//!
//! A block is straight-line guest code in one 4 KiB page, ending at the first branch, at an
//! instruction that may change the machine state the block was compiled for, or after
//! `MAX_INSNS`. GPRs, LR, CTR and CR live in SSA values while the block runs and are written back
//! at every exit, so the host register allocator keeps them in registers. Instructions without an
//! inline form call their interpreter handler (`super::helper_insn`), with the cached registers
//! written back before and reloaded after: the interpreter stays the single definition of every
//! instruction, and the translator only speeds up the common ones.
//!
//! The block function is `extern "C" fn(*mut Cpu) -> u64`: the low 32 bits count the instructions
//! retired before the exit, the high bits say how it exited (`super::EXIT_*`). `cpu.pc` holds the
//! next instruction (or the faulting one) at every exit.

use super::Mode;
use crate::cpu::{Cpu, Xer};
use crate::exec::Slot;
use crate::insn::Insn;
use cranelift_codegen::ir::condcodes::{CondCode, IntCC};
use cranelift_codegen::ir::types::{I16, I32, I64, I8};
use cranelift_codegen::ir::{
    AbiParam, Block, BlockArg, Function, InstBuilder, MemFlagsData, SigRef, Signature, Type,
    UserFuncName, Value,
};
use cranelift_codegen::isa::OwnedTargetIsa;
use cranelift_codegen::settings::{self, Configurable};
use cranelift_codegen::{control::ControlPlane, Context};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};

#[path = "ops.rs"]
mod ops;
#[path = "region.rs"]
mod region;
use std::mem::offset_of;

/// Longest block, in instructions: bounds compile time and the latency of interrupts (a block
/// runs to its end before the dispatcher looks at them).
pub(crate) const MAX_INSNS: usize = 64;

const M32: u64 = 0xffff_ffff;

const OFF_GPR: usize = offset_of!(Cpu, gpr);
const OFF_LR: usize = offset_of!(Cpu, lr);
const OFF_CTR: usize = offset_of!(Cpu, ctr);
const OFF_CR: usize = offset_of!(Cpu, cr);
const OFF_PC: usize = offset_of!(Cpu, pc);
const OFF_MSR: usize = offset_of!(Cpu, msr);
const OFF_VSR: usize = offset_of!(Cpu, vsr);
const OFF_SO: usize = offset_of!(Cpu, xer) + offset_of!(Xer, so);
const OFF_CA: usize = offset_of!(Cpu, xer) + offset_of!(Xer, ca);
const OFF_CA32: usize = offset_of!(Cpu, xer) + offset_of!(Xer, ca32);
const OFF_TLB: usize = offset_of!(Cpu, tlb) + crate::mmu::TLB_ENTRIES_OFFSET;
const OFF_LEFT: usize = offset_of!(Cpu, jit_left);
const OFF_LINK_SLOT: usize = offset_of!(Cpu, jit_link_slot);
const OFF_LINK_KEY: usize = offset_of!(Cpu, jit_link_key);

/// A chained jump needs this many instructions of budget left, so that the next block (at most
/// `MAX_INSNS`, prefixed ones counting double) cannot overshoot it.
pub(crate) const CHAIN_MIN_LEFT: i64 = 2 * MAX_INSNS as i64;

/// Link slots per block: one per direct exit within the page (side exits of conditional branches
/// and the final one); exits beyond them look their target up instead.
pub(crate) const LINK_SLOTS: usize = 8;

/// Chaining for one block: its link slots (8 bytes each, in the code arena), its key, and
/// the vCPU's jump cache, which exits to other pages and indirect branches look up inline.
#[derive(Clone, Copy)]
pub(crate) struct Chain {
    pub slots: u64,
    pub key: u64,
    pub jc: u64,
}

const JC_KEY: usize = offset_of!(super::JcEntry, key);
const JC_PC: usize = offset_of!(super::JcEntry, pc);
const JC_F: usize = offset_of!(super::JcEntry, f);
const JC_SIZE: usize = std::mem::size_of::<super::JcEntry>();
const _: () = assert!(JC_SIZE.is_power_of_two());

/// Register state of the CPU struct: never aliased by guest memory.
const T: MemFlagsData = MemFlagsData::trusted();

/// What the translator made of a block.
pub(crate) struct Output {
    /// Guest instruction words covered (a prefixed instruction counts two).
    pub words: u32,
    /// Instructions translated inline, and those left to interpreter helpers.
    pub inline: u32,
    pub helpers: u32,
    /// A region (a loop translated whole, `region.rs`), not a plain block.
    pub region: bool,
}

pub(crate) struct Translator {
    isa: OwnedTargetIsa,
    fbc: FunctionBuilderContext,
    ctx: Context,
    /// Host code of the last block translated.
    pub code: Vec<u8>,
}

impl Translator {
    /// A translator for the host; None where Cranelift has no backend for it.
    pub(crate) fn new() -> Option<Translator> {
        let mut flags = settings::builder();
        // Cranelift's optimiser costs ~40% more compile time for ~2% faster code on busybox
        // workloads (measured; ARCHITECTURE.md): not worth it while compiling is on the vCPU's
        // own time. LPAR_JIT_OPT=speed and LPAR_JIT_REGALLOC are kept for measurements.
        let opt = std::env::var("LPAR_JIT_OPT").unwrap_or_else(|_| "none".into());
        flags.set("opt_level", &opt).ok()?;
        if let Ok(ra) = std::env::var("LPAR_JIT_REGALLOC") {
            flags.set("regalloc_algorithm", &ra).ok()?;
        }
        // The Cpu pointer is pinned in a register across every block of a chain.
        flags.set("enable_pinned_reg", "true").ok()?;
        // Cranelift's tail calls (chained blocks) need frame pointers.
        flags.set("preserve_frame_pointers", "true").ok()?;
        // The IR comes from this file only; verifying it on every block would double compile time.
        flags.set("enable_verifier", "false").ok()?;
        let isa = cranelift_native::builder()
            .ok()?
            .finish(settings::Flags::new(flags))
            .ok()?;
        Some(Translator {
            isa,
            fbc: FunctionBuilderContext::new(),
            ctx: Context::new(),
            code: Vec::with_capacity(4096),
        })
    }

    /// Compiles the entry trampoline: `extern "C" fn(cpu, block) -> status`, which calls a
    /// block (tail-call convention) from Rust.
    pub(crate) fn entry(&mut self) -> Option<Vec<u8>> {
        let ptr = self.isa.pointer_type();
        let mut sig = Signature::new(self.isa.default_call_conv());
        sig.params.push(AbiParam::new(ptr));
        sig.params.push(AbiParam::new(ptr));
        sig.returns.push(AbiParam::new(I64));
        self.ctx.clear();
        self.ctx.func = Function::with_name_signature(UserFuncName::default(), sig);
        let mut b = FunctionBuilder::new(&mut self.ctx.func, &mut self.fbc);
        let blk = b.create_block();
        b.append_block_params_for_function_params(blk);
        b.switch_to_block(blk);
        let (cpu, f) = (b.block_params(blk)[0], b.block_params(blk)[1]);
        // The pinned register is callee-saved in the host's C convention: keep the caller's.
        let saved = b.ins().get_pinned_reg(ptr);
        b.ins().set_pinned_reg(cpu);
        let bs = b.import_signature(block_sig(ptr));
        let call = b.ins().call_indirect(bs, f, &[cpu]);
        let r = b.inst_results(call)[0];
        b.ins().set_pinned_reg(saved);
        b.ins().return_(&[r]);
        b.seal_all_blocks();
        b.finalize(self.isa.frontend_config());
        let code = self
            .ctx
            .compile(&*self.isa, &mut ControlPlane::default())
            .ok()?;
        if !code.buffer.relocs().is_empty() {
            return None;
        }
        Some(code.code_buffer().to_vec())
    }

    /// Translates the block starting at guest address `pc` whose decoded words are `slots` (at
    /// most to the end of its page). The host code is left in `self.code`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn translate(
        &mut self,
        slots: &[Slot],
        pc: u64,
        mode: Mode,
        check: bool,
        mem: (u64, u64, u64),
        chain: Option<Chain>,
        irq: u64,
    ) -> Option<Output> {
        // Regions need the interrupt lines for their back edges.
        let mut region = (irq != 0)
            .then(|| region::discover(slots, pc, mode))
            .flatten();
        if let Some(r) = region.as_mut() {
            // A first pass over the region finds the registers its code really reads and
            // writes (the instruction fields overstate them: displacements, immediates), so
            // that only those live in variables and only the written ones are stored at exits.
            let (_, read, written, crf) =
                self.build(slots, pc, mode, check, mem, chain, irq, Some(r));
            r.narrow(read, written, crf);
        }
        let (out, ..) = self.build(slots, pc, mode, check, mem, chain, irq, region.as_ref());
        let compiled = self
            .ctx
            .compile(&*self.isa, &mut ControlPlane::default())
            .ok()?;
        // Helpers are called through constant addresses, so the code needs no relocation.
        if !compiled.buffer.relocs().is_empty() {
            return None;
        }
        self.code.clear();
        self.code.extend_from_slice(compiled.code_buffer());
        Some(out)
    }

    /// Builds the IR of a block (or of `region`) into `self.ctx`; returns what the translator
    /// made of it, the GPRs its code read and wrote, and the CR fields it wrote.
    #[allow(clippy::too_many_arguments)]
    fn build(
        &mut self,
        slots: &[Slot],
        pc: u64,
        mode: Mode,
        check: bool,
        mem: (u64, u64, u64),
        chain: Option<Chain>,
        irq: u64,
        region: Option<&region::Region>,
    ) -> (Output, [bool; 32], [bool; 32], [bool; 8]) {
        let call_conv = self.isa.default_call_conv();
        let ptr = self.isa.pointer_type();
        // Blocks use the tail-call convention, so that a chained exit jumps to the next block
        // without growing the stack; `entry` calls the first one from Rust.
        let sig = block_sig(ptr);
        self.ctx.clear();
        self.ctx.func = Function::with_name_signature(UserFuncName::default(), sig.clone());

        let mut helper_sig = Signature::new(call_conv);
        for t in [ptr, I64, I32, I32, I64] {
            helper_sig.params.push(AbiParam::new(t));
        }
        helper_sig.returns.push(AbiParam::new(I32));
        let mut log_sig = Signature::new(call_conv);
        for t in [ptr, I64, I32] {
            log_sig.params.push(AbiParam::new(t));
        }

        let mut b = FunctionBuilder::new(&mut self.ctx.func, &mut self.fbc);
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);

        let sigs = Sigs {
            helper: b.import_signature(helper_sig),
            log: b.import_signature(log_sig),
            block: b.import_signature(sig),
        };
        let mut e = E {
            b,
            sigs,
            mode,
            check,
            chain,
            chained: 0,
            sides: 0,
            pc0: pc,
            mem_base: mem.0,
            real_limit: mem.1.min(crate::mmu::VRMA_MAX),
            code_bits: mem.2,
            gpr: [None; 32],
            lr: None,
            ctr: None,
            cr_mem: None,
            crf: [Crf::Mem; 8],
            so: None,
            msr_ok: 0,
            vars: None,
            irq,
            read: [false; 32],
            written: [false; 32],
            crf_written: [false; 8],
            out: Output {
                words: 0,
                inline: 0,
                helpers: 0,
                region: false,
            },
        };
        let mut k = 0usize;
        let mut n = 0u32;
        let mut at = pc;
        if let Some(r) = region {
            e.region(slots, r);
        }
        while region.is_none() {
            if k >= slots.len() || n as usize >= MAX_INSNS {
                e.exit_const(at, n);
                break;
            }
            let s = slots[k];
            let words = if s.p != 0 { 2 } else { 1 };
            let flow = e.insn(s, at, n);
            k += words;
            n += 1;
            at = mode.ea(at.wrapping_add(4 * words as u64));
            e.out.words = k as u32;
            if flow == Flow::End {
                break;
            }
        }
        e.b.seal_all_blocks();
        e.b.finalize(self.isa.frontend_config());
        (e.out, e.read, e.written, e.crf_written)
    }
}

#[derive(PartialEq, Eq)]
enum Flow {
    Next,
    End,
}

struct Sigs {
    helper: SigRef,
    log: SigRef,
    block: SigRef,
}

/// The signature of a block: `(cpu) -> status`, tail-call convention.
fn block_sig(ptr: Type) -> Signature {
    let mut sig = Signature::new(cranelift_codegen::isa::CallConv::Tail);
    sig.params.push(AbiParam::new(ptr));
    sig.returns.push(AbiParam::new(I64));
    sig
}

/// A cached register: its SSA value and whether it differs from the CPU struct.
type Cached = Option<(Value, bool)>;

/// A CR field while a block runs.
#[derive(Clone, Copy)]
enum Crf {
    /// As in the Cpu struct.
    Mem,
    /// A 4-bit value (I32) and whether it differs from the Cpu struct.
    Val(Value, bool),
    /// The result of comparing `a` with `b` (I64), with XER[SO]: a branch on it is one host
    /// compare, and the 4-bit value is formed only where the field is written back.
    Cmp { a: Value, b: Value, signed: bool },
}

/// Access kinds of the load/store helpers (`crate::insn::loadstore` numbering).
mod kind {
    pub const B: u8 = 0;
    pub const H: u8 = 1;
    pub const HA: u8 = 2;
    pub const W: u8 = 3;
    pub const WA: u8 = 4;
    pub const D: u8 = 5;
    /// A doubleword to or from an FPR (lfd, stfd and their forms).
    pub const FD: u8 = 6;
    pub fn bytes(k: u8) -> u32 {
        match k {
            B => 1,
            H | HA => 2,
            W | WA => 4,
            _ => 8,
        }
    }
}

struct E<'a> {
    b: FunctionBuilder<'a>,
    sigs: Sigs,
    mode: Mode,
    check: bool,
    chain: Option<Chain>,
    /// Link slots used so far.
    chained: u32,
    /// Conditional branches passed (superblock side exits).
    sides: u32,
    /// Address of the block's first instruction.
    pc0: u64,
    /// Host address of guest real address 0, and the real addresses below which a real-mode
    /// access needs no check beyond its end (RAM size, capped at a hash partition's RMA).
    mem_base: u64,
    real_limit: u64,
    /// Host address of the guest memory's code bitmap (`mem::CodeMap`): a real-mode store to a
    /// page marked there takes the slow path.
    code_bits: u64,
    gpr: [Cached; 32],
    lr: Cached,
    ctr: Cached,
    /// The CR word as the Cpu struct holds it (loaded on first use), and each field's state.
    cr_mem: Option<Value>,
    crf: [Crf; 8],
    /// XER[SO] as an I32 0/1 (inline code never sets it).
    so: Option<Value>,
    /// MSR facility bits (FP, VSX) checked on the main path since the last helper.
    msr_ok: u64,
    /// The variables of a region (`region.rs`); None for a plain block.
    vars: Option<region::Vars>,
    /// Address of the vCPU's interrupt-line bits (0: unknown).
    irq: u64,
    /// GPRs the translated code read and wrote (inline; helpers go through the CPU struct).
    read: [bool; 32],
    written: [bool; 32],
    crf_written: [bool; 8],
    out: Output,
}

impl E<'_> {
    fn k(&mut self, v: u64) -> Value {
        self.b.ins().iconst(I64, v as i64)
    }

    fn k32(&mut self, v: u32) -> Value {
        self.b.ins().iconst(I32, v as i64)
    }

    /// The Cpu pointer: it lives in the pinned register (r15 on x86-64) for the whole chain of
    /// blocks, set by the entry trampoline, so it is never spilled.
    fn cpu(&mut self) -> Value {
        self.b.ins().get_pinned_reg(I64)
    }

    fn load_cpu(&mut self, ty: Type, off: usize) -> Value {
        let cpu = self.cpu();
        self.b.ins().load(ty, T, cpu, off as i32)
    }

    fn store_cpu(&mut self, v: Value, off: usize) {
        let cpu = self.cpu();
        self.b.ins().store(T, v, cpu, off as i32);
    }

    fn cached(&mut self, slot: Cached, ty: Type, off: usize) -> (Value, Cached) {
        match slot {
            Some((v, _)) => (v, slot),
            None => {
                let v = self.load_cpu(ty, off);
                (v, Some((v, false)))
            }
        }
    }

    fn gpr(&mut self, r: usize) -> Value {
        self.read[r] = true;
        let (v, c) = self.cached(self.gpr[r], I64, OFF_GPR + 8 * r);
        self.gpr[r] = c;
        v
    }

    /// (RA|0): zero for register 0.
    fn ra0(&mut self, r: usize) -> Value {
        if r == 0 {
            self.k(0)
        } else {
            self.gpr(r)
        }
    }

    fn set_gpr(&mut self, r: usize, v: Value) {
        self.written[r] = true;
        self.gpr[r] = Some((v, true));
    }

    fn lr(&mut self) -> Value {
        let (v, c) = self.cached(self.lr, I64, OFF_LR);
        self.lr = c;
        v
    }

    fn ctr(&mut self) -> Value {
        let (v, c) = self.cached(self.ctr, I64, OFF_CTR);
        self.ctr = c;
        v
    }

    /// The CR word of the Cpu struct, cached only when `keep` (a value loaded on an exit path
    /// must not be used after it).
    fn cr_mem(&mut self, keep: bool) -> Value {
        if let Some(v) = self.cr_mem {
            return v;
        }
        let v = self.load_cpu(I32, OFF_CR);
        if keep {
            self.cr_mem = Some(v);
        }
        v
    }

    /// XER[SO] as an I32 0/1, cached only when `keep`.
    fn so(&mut self, keep: bool) -> Value {
        if let Some(v) = self.so {
            return v;
        }
        let so = self.load_cpu(I8, OFF_SO);
        let v = self.b.ins().uextend(I32, so);
        if keep {
            self.so = Some(v);
        }
        v
    }

    /// The 4-bit value of CR field `f`; `keep` caches what it forms (only on the main path).
    fn crf_val(&mut self, f: usize, keep: bool) -> Value {
        match self.crf[f] {
            Crf::Val(v, _) => v,
            Crf::Mem => {
                let w = self.cr_mem(keep);
                let v = self.b.ins().ushr_imm_s(w, 28 - 4 * f as i64);
                let v = self.b.ins().band_imm_s(v, 0xf);
                if keep {
                    self.crf[f] = Crf::Val(v, false);
                }
                v
            }
            Crf::Cmp { a, b, signed } => {
                let lt = if signed {
                    IntCC::SignedLessThan
                } else {
                    IntCC::UnsignedLessThan
                };
                let lt = self.b.ins().icmp(lt, a, b);
                let eq = self.b.ins().icmp(IntCC::Equal, a, b);
                let (k8, k4, k2) = (self.k32(8), self.k32(4), self.k32(2));
                let ne = self.b.ins().select(lt, k8, k4);
                let c = self.b.ins().select(eq, k2, ne);
                let so = self.so(keep);
                let v = self.b.ins().bor(c, so);
                if keep {
                    self.crf[f] = Crf::Val(v, true);
                }
                v
            }
        }
    }

    /// The whole CR word with every cached field merged in; `keep` as for `crf_val`.
    fn cr_word(&mut self, keep: bool) -> Value {
        let mut w = None;
        for f in 0..8 {
            let dirty = match self.crf[f] {
                Crf::Mem | Crf::Val(_, false) => continue,
                _ => true,
            };
            debug_assert!(dirty);
            let v = self.crf_val(f, keep);
            let sh = 28 - 4 * f as i64;
            let base = match w {
                Some(w) => w,
                None => self.cr_mem(keep),
            };
            let kept = self.b.ins().band_imm_s(base, !(0xf_i64 << sh) & M32 as i64);
            let v = self.b.ins().ishl_imm_s(v, sh);
            w = Some(self.b.ins().bor(kept, v));
        }
        match w {
            Some(w) => w,
            None => self.cr_mem(keep),
        }
    }

    fn cr_dirty(&self) -> bool {
        self.crf
            .iter()
            .any(|c| !matches!(c, Crf::Mem | Crf::Val(_, false)))
    }

    /// Writes back every register that differs from the CPU struct (without forgetting them:
    /// side exits store, and the straight path goes on with the same values).
    fn store_dirty(&mut self) {
        for r in 0..32 {
            if let Some((v, true)) = self.gpr[r] {
                self.store_cpu(v, OFF_GPR + 8 * r);
            }
        }
        for (c, off) in [(self.lr, OFF_LR), (self.ctr, OFF_CTR)] {
            if let Some((v, true)) = c {
                self.store_cpu(v, off);
            }
        }
        // In a region the CR word itself may differ (an earlier iteration changed it).
        if self.cr_dirty() || self.vars.is_some() {
            let w = self.cr_word(false);
            self.store_cpu(w, OFF_CR);
        }
    }

    /// Writes back and forgets every cached register: a helper may read or write any of them.
    fn spill(&mut self) {
        self.store_dirty();
        self.gpr = [None; 32];
        self.lr = None;
        self.ctr = None;
        self.cr_mem = None;
        self.crf = [Crf::Mem; 8];
        self.so = None;
        self.msr_ok = 0;
    }

    /// Counts the `n` instructions this block retired off `cpu.jit_left` (the dispatcher counts
    /// what a dispatch retired from how far it went down); returns the new value.
    fn add_n(&mut self, n: u32) -> Value {
        let left = match &self.vars {
            // In a region, `n` counts from the start of the basic block, whose budget is in
            // a variable.
            Some(v) => self.b.use_var(v.left),
            None => self.load_cpu(I64, OFF_LEFT),
        };
        let left = self.b.ins().iadd_imm_s(left, -(n as i64));
        self.store_cpu(left, OFF_LEFT);
        left
    }

    fn ret(&mut self, n: u32, status: u64) {
        let _ = self.add_n(n);
        let r = self.k(status);
        self.b.ins().return_(&[r]);
    }

    /// Leaves the block for the instruction at `next`, `n` instructions retired: straight into
    /// the next block when it is linked (same page), no exit is requested and budget is left.
    fn exit_const(&mut self, next: u64, n: u32) {
        let Some(chain) = self
            .chain
            .filter(|_| next & !4095 == self.pc0 & !4095 && (self.chained as usize) < LINK_SLOTS)
        else {
            let v = self.k(next);
            self.exit_val(v, n);
            return;
        };
        let slot = chain.slots + 8 * self.chained as u64;
        self.chained += 1;
        self.store_dirty();
        let left = self.add_n(n);
        let sa = self.k(slot);
        // Three compare-and-branches (no flag arithmetic): budget, exit request, link.
        let back = self.b.create_block();
        self.go_on_if_room(left, back);
        let target = self.b.ins().load(I64, T, sa, 0);
        let unlinked = self.b.ins().icmp_imm_s(IntCC::Equal, target, 0);
        self.go_on_unless(unlinked, back);
        let cpu = self.cpu();
        self.b
            .ins()
            .return_call_indirect(self.sigs.block, target, &[cpu]);
        self.b.switch_to_block(back);
        // Only the dispatcher needs pc: a block knows its own, and every way out of one to
        // the dispatcher stores it.
        let p = self.k(next);
        self.store_cpu(p, OFF_PC);
        // Ask the dispatcher to link this exit to the block it finds at `next`.
        self.store_cpu(sa, OFF_LINK_SLOT);
        let key = self.k(chain.key);
        self.store_cpu(key, OFF_LINK_KEY);
        let r = self.k(0);
        self.b.ins().return_(&[r]);
    }

    fn exit_val(&mut self, next: Value, n: u32) {
        self.store_dirty();
        let Some(chain) = self.chain else {
            self.store_cpu(next, OFF_PC);
            self.ret(n, 0);
            return;
        };
        // Look the target up in the jump cache, as the dispatcher would: translate it for
        // execute (TLB tag compare, or real mode within RAM), form its key, compare the entry.
        let left = self.add_n(n);
        let back = self.b.create_block();
        self.go_on_if_room(left, back);
        let page = self.b.ins().band_imm_s(next, !4095);
        let ra_page = if self.mode.ir {
            let entry = self.tlb_entry(next);
            let tag = self
                .b
                .ins()
                .load(I64, T, entry, crate::mmu::TLB_TAG_X as i32);
            let want = self
                .b
                .ins()
                .bor_imm_s(page, crate::mmu::tag_bits(self.mode.pr) as i64);
            let miss = self.b.ins().icmp(IntCC::NotEqual, tag, want);
            self.go_on_unless(miss, back);
            self.b.ins().load(I64, T, entry, crate::mmu::TLB_RA as i32)
        } else {
            let ra = self.b.ins().band_imm_s(page, 0x0fff_ffff_ffff_ffff);
            let out = self.b.ins().icmp_imm_s(
                IntCC::UnsignedGreaterThanOrEqual,
                ra,
                self.real_limit as i64,
            );
            self.go_on_unless(out, back);
            ra
        };
        let low = self.b.ins().band_imm_s(next, 4095);
        let ra = self.b.ins().bor(ra_page, low);
        let key = self.b.ins().ishl_imm_s(ra, super::KEY_MODE_BITS as i64);
        let key = self.b.ins().bor_imm_s(key, self.mode.bits() as i64);
        let h = self.b.ins().imul_imm_s(key, super::HASH_MUL as i64);
        let h = self.b.ins().ushr_imm_s(h, super::HASH_SHIFT as i64);
        let h = self.b.ins().band_imm_s(h, (super::JC - 1) as i64);
        let off = self.b.ins().ishl_imm_s(h, JC_SIZE.trailing_zeros() as i64);
        let e = self.b.ins().iadd_imm_s(off, chain.jc as i64);
        let ek = self.b.ins().load(I64, T, e, JC_KEY as i32);
        let bad = self.b.ins().icmp(IntCC::NotEqual, ek, key);
        self.go_on_unless(bad, back);
        let epc = self.b.ins().load(I64, T, e, JC_PC as i32);
        let bad = self.b.ins().icmp(IntCC::NotEqual, epc, next);
        self.go_on_unless(bad, back);
        let f = self.b.ins().load(I64, T, e, JC_F as i32);
        let none = self.b.ins().icmp_imm_s(IntCC::Equal, f, 0);
        self.go_on_unless(none, back);
        let cpu = self.cpu();
        self.b
            .ins()
            .return_call_indirect(self.sigs.block, f, &[cpu]);
        self.b.switch_to_block(back);
        self.store_cpu(next, OFF_PC);
        let r = self.k(0);
        self.b.ins().return_(&[r]);
    }

    /// Continues in a new block if `left` (the budget after this exit) leaves room for another
    /// block and no exit is requested; else branches to `stop`. Every jump to more translated
    /// code (chained exit, jump-cache hit, region back edge) passes this check, which keeps
    /// budgets exact and loops interruptible.
    fn go_on_if_room(&mut self, left: Value, stop: Block) {
        let short = self
            .b
            .ins()
            .icmp_imm_s(IntCC::SignedLessThanOrEqual, left, CHAIN_MIN_LEFT);
        self.go_on_unless(short, stop);
        let irqp = self.k(self.irq);
        let irq = self.b.ins().load(I32, T, irqp, 0);
        let exit = self
            .b
            .ins()
            .band_imm_s(irq, crate::cpu::IrqLines::EXIT as i64);
        self.go_on_unless(exit, stop);
    }

    /// Continues in a new block unless `cond`, which branches to `stop`.
    fn go_on_unless(&mut self, cond: Value, stop: Block) {
        let cont = self.b.create_block();
        self.b.ins().brif(cond, stop, &[], cont, &[]);
        self.b.switch_to_block(cont);
    }

    /// Runs one instruction through its interpreter handler.
    fn helper(&mut self, s: Slot, pc: u64, n: u32) {
        self.out.helpers += 1;
        self.spill();
        let f = self.k(super::helper_insn as *const () as usize as u64);
        let h = self.k(s.h as usize as u64);
        let i = self.k32(s.i.0);
        let p = self.k32(s.p);
        let at = self.k(pc);
        let cpu = self.cpu();
        let call = self
            .b
            .ins()
            .call_indirect(self.sigs.helper, f, &[cpu, h, i, p, at]);
        let status = self.b.inst_results(call)[0];
        let exit = self.b.create_block();
        let cont = self.b.create_block();
        self.b.ins().brif(status, exit, &[], cont, &[]);
        self.b.switch_to_block(exit);
        let _ = self.add_n(n);
        let st = self.b.ins().uextend(I64, status);
        self.b.ins().return_(&[st]);
        self.b.switch_to_block(cont);
    }

    /// Translates one instruction; `pc` is its address, `n` the instructions before it.
    fn insn(&mut self, s: Slot, pc: u64, n: u32) -> Flow {
        let legal = s.p == 0 && s.h as usize != crate::decode::illegal as *const () as usize;
        // isync: nothing to discard here (the interpreter's is a no-op too); the block goes on.
        if legal && s.i.opcd() == 19 && s.i.xo10() == 150 {
            self.out.inline += 1;
            return Flow::Next;
        }
        if legal && matches!(s.i.opcd(), 16..=19) {
            if self.side_exit_branch(s.i, pc, n) {
                self.out.inline += 1;
                return Flow::Next;
            }
            if self.branch(s.i, pc, n) {
                self.out.inline += 1;
                return Flow::End;
            }
            // A branch-class instruction left to the interpreter: its fall-through ends the
            // block (nothing after it is known to run).
            self.helper(s, pc, n);
            self.exit_const(self.mode.ea(pc.wrapping_add(4)), n + 1);
            return Flow::End;
        }
        if legal && self.inline(s.i, pc, n) {
            self.out.inline += 1;
            return Flow::Next;
        }
        self.helper(s, pc, n);
        Flow::Next
    }
}
