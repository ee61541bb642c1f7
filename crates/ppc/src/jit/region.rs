//! Regions: a loop inside one page translated as one function. From a hot start the
//! translator follows direct branches (b, bc without link) to the code they reach in the
//! following slots of the page, up to `MAX_INSNS` instructions in all; when one of them
//! branches back, the whole set becomes one function whose branches are host jumps. Guest
//! registers live in Cranelift variables across those jumps, so a loop iteration neither stores
//! nor reloads them; they are written back only where the region is left (to another block, the
//! dispatcher, a helper, a miss). A back edge checks the budget and exit requests, as a chained
//! exit does, so loops stay interruptible and budgets exact.

use super::*;
use cranelift_frontend::Variable;

/// Most basic blocks in a region.
const MAX_BBS: usize = 16;

/// One basic block of a region: its slots `start..end` (the last one the branch that ends it,
/// when `branch`).
pub(super) struct Bb {
    start: usize,
    end: usize,
    branch: bool,
}

/// What `discover` found: the blocks (the first starts at the region's start), and the GPRs
/// their instructions name (kept in variables).
pub(super) struct Region {
    bbs: Vec<Bb>,
    regs: [bool; 32],
    /// The GPRs the region may change (stored where it is left).
    dirty: [bool; 32],
    /// The CR fields its code writes: each lives in a variable of its own, merged into the CR
    /// word only where the region is left.
    crf: [bool; 8],
    words: usize,
}

impl Region {
    /// Keeps in variables only the GPRs the code reads or writes, and stores only those it
    /// writes, as a first translation found.
    pub(super) fn narrow(&mut self, read: [bool; 32], written: [bool; 32], crf: [bool; 8]) {
        for r in 0..32 {
            self.regs[r] = read[r] || written[r];
            self.dirty[r] = written[r];
        }
        self.crf = crf;
    }
}

/// The b/bc (no link) a region follows, with its targets: (taken, fall-through when conditional).
fn targets(i: Insn, pc: u64, mode: Mode) -> Option<(u64, Option<u64>)> {
    if i.lk() {
        return None;
    }
    let t = ops::branch_target(i, pc, mode);
    match i.opcd() {
        18 => Some((t, None)),
        16 => {
            let bo = i.rt() as u32;
            let always = bo & 4 != 0 && bo & 16 != 0;
            let next = mode.ea(pc.wrapping_add(4));
            Some((t, (!always).then_some(next)))
        }
        _ => None,
    }
}

fn legal(s: Slot) -> bool {
    s.p == 0 && s.h as usize != crate::decode::illegal as *const () as usize
}

/// The slot of guest address `t`, when it is one of `slots` (which start at `pc0`).
fn slot_of(t: u64, pc0: u64, n: usize) -> Option<usize> {
    let k = t.wrapping_sub(pc0) >> 2;
    (t & 3 == 0 && t >= pc0 && (k as usize) < n && t & !4095 == pc0 & !4095).then_some(k as usize)
}

/// The region starting at the first of `slots` (guest address `pc0`), when its code loops.
pub(super) fn discover(slots: &[Slot], pc0: u64, mode: Mode) -> Option<Region> {
    let mut bbs: Vec<Bb> = Vec::new();
    let mut starts = vec![0usize];
    let mut words = 0;
    let mut back = false;
    let mut i = 0;
    while i < starts.len() {
        let start = starts[i];
        let mut k = start;
        let mut branch = false;
        let mut succ: [Option<u64>; 2] = [None, None];
        while k < slots.len() && words < MAX_INSNS {
            let s = slots[k];
            let w = if s.p != 0 { 2 } else { 1 };
            // A prefixed instruction whose suffix is beyond the slots is left to an exit.
            if words + w > MAX_INSNS || k + w > slots.len() {
                break;
            }
            words += w;
            k += w;
            let op = s.i.opcd();
            if legal(s) && matches!(op, 16..=19) && !(op == 19 && s.i.xo10() == 150) {
                let pc = pc0.wrapping_add(4 * (k - w) as u64);
                if let Some((t, f)) = targets(s.i, pc, mode) {
                    branch = true;
                    succ = [Some(t), f];
                }
                break;
            }
        }
        if k == start {
            break;
        }
        bbs.push(Bb {
            start,
            end: k,
            branch,
        });
        for t in succ.into_iter().flatten() {
            let Some(j) = slot_of(t, pc0, slots.len()) else {
                continue;
            };
            match starts.iter().position(|&s| s == j) {
                // Only a loop whose head is the region's start pays for itself: one whose hot
                // path leaves the region every iteration would reload and store its registers
                // each time (measured: busybox sed 30% slower with any back edge accepted).
                Some(p) => back |= p == 0,
                None if starts.len() < MAX_BBS => starts.push(j),
                None => {}
            }
        }
        i += 1;
    }
    if !back || bbs.is_empty() {
        return None;
    }
    // Starts found but not translated (out of room) are left by exits instead.
    let mut regs = [false; 32];
    for bb in &bbs {
        for s in &slots[bb.start..bb.end] {
            regs[s.i.rt()] = true;
            regs[s.i.ra()] = true;
            regs[s.i.rb()] = true;
        }
    }
    Some(Region {
        bbs,
        regs,
        dirty: regs,
        crf: [false; 8],
        words,
    })
}

/// The variables of a region being translated.
pub(super) struct Vars {
    gpr: [Option<Variable>; 32],
    dirty: [bool; 32],
    lr: Variable,
    ctr: Variable,
    /// The CR word as of the region's entry or its last helper, and the written fields.
    cr: Variable,
    crf: [Option<Variable>; 8],
    pub(super) left: Variable,
    /// Cranelift block of each basic block, and its first slot.
    blocks: Vec<(usize, Block)>,
}

impl E<'_> {
    /// Translates region `r` of `slots` (which start at the block's address).
    pub(super) fn region(&mut self, slots: &[Slot], r: &Region) {
        let mut gpr = [None; 32];
        for (k, v) in gpr.iter_mut().enumerate() {
            if r.regs[k] {
                let var = self.b.declare_var(I64);
                let x = self.load_cpu(I64, OFF_GPR + 8 * k);
                self.b.def_var(var, x);
                *v = Some(var);
            }
        }
        let lr = self.b.declare_var(I64);
        let x = self.load_cpu(I64, OFF_LR);
        self.b.def_var(lr, x);
        let ctr = self.b.declare_var(I64);
        let x = self.load_cpu(I64, OFF_CTR);
        self.b.def_var(ctr, x);
        let cr = self.b.declare_var(I32);
        let word = self.load_cpu(I32, OFF_CR);
        self.b.def_var(cr, word);
        let mut crf = [None; 8];
        for (f, v) in crf.iter_mut().enumerate() {
            if r.crf[f] {
                let var = self.b.declare_var(I32);
                let x = self.b.ins().ushr_imm_s(word, 28 - 4 * f as i64);
                let x = self.b.ins().band_imm_s(x, 0xf);
                self.b.def_var(var, x);
                *v = Some(var);
            }
        }
        let left = self.b.declare_var(I64);
        let x = self.load_cpu(I64, OFF_LEFT);
        self.b.def_var(left, x);
        let blocks = r
            .bbs
            .iter()
            .map(|bb| (bb.start, self.b.create_block()))
            .collect();
        self.vars = Some(Vars {
            gpr,
            dirty: r.dirty,
            lr,
            ctr,
            cr,
            crf,
            left,
            blocks,
        });
        // No superblock side exits: conditional branches are the region's own.
        self.sides = u32::MAX;
        let first = self.block_at(0);
        self.b.ins().jump(first, &[]);
        for (idx, bb) in r.bbs.iter().enumerate() {
            let blk = self.block_at(idx);
            self.b.switch_to_block(blk);
            self.enter_bb();
            let mut n = 0u32;
            let mut k = bb.start;
            let mut ended = false;
            while k < bb.end {
                let s = slots[k];
                let w = if s.p != 0 { 2 } else { 1 };
                let pc = self.mode.ea(self.pc0.wrapping_add(4 * k as u64));
                if bb.branch && k + w == bb.end {
                    self.region_branch(s.i, pc, n, idx, slots.len());
                    self.out.inline += 1;
                    ended = true;
                } else if self.insn(s, pc, n) == Flow::End {
                    ended = true;
                }
                k += w;
                n += 1;
                if ended {
                    break;
                }
            }
            if !ended {
                let next = self.mode.ea(self.pc0.wrapping_add(4 * bb.end as u64));
                self.exit_const(next, n);
            }
        }
        self.out.words = r.words as u32;
        self.out.region = true;
    }

    fn block_at(&self, idx: usize) -> Block {
        self.vars.as_ref().map(|v| v.blocks[idx].1).expect("region")
    }

    /// The cached registers at the start of a basic block: the variables' values, all taken as
    /// differing from the CPU struct (an earlier iteration may have changed them).
    fn enter_bb(&mut self) {
        let Some(v) = self.vars.as_ref() else { return };
        let (gv, dirty, lr, ctr, cr, crf) = (v.gpr, v.dirty, v.lr, v.ctr, v.cr, v.crf);
        for (r, var) in gv.iter().enumerate() {
            self.gpr[r] = var.map(|var| (self.b.use_var(var), dirty[r]));
        }
        self.lr = Some((self.b.use_var(lr), true));
        self.ctr = Some((self.b.use_var(ctr), true));
        self.cr_mem = Some(self.b.use_var(cr));
        for (f, var) in crf.iter().enumerate() {
            self.crf[f] = match var {
                Some(var) => Crf::Val(self.b.use_var(*var), true),
                None => Crf::Mem,
            };
        }
        self.so = None;
        self.msr_ok = 0;
    }

    /// The branch ending a basic block: jumps to the region's blocks, exits elsewhere.
    fn region_branch(&mut self, i: Insn, pc: u64, n: u32, idx: usize, nslots: usize) {
        let Some((t, fall)) = targets(i, pc, self.mode) else {
            return;
        };
        let take = if i.opcd() == 16 { self.cond(i) } else { None };
        match (take, fall) {
            (Some(c), Some(f)) => {
                let taken = self.b.create_block();
                let not = self.b.create_block();
                self.b.ins().brif(c, taken, &[], not, &[]);
                self.b.switch_to_block(taken);
                self.edge_or_exit(t, n + 1, idx, nslots);
                self.b.switch_to_block(not);
                self.edge_or_exit(f, n + 1, idx, nslots);
            }
            _ => self.edge_or_exit(t, n + 1, idx, nslots),
        }
    }

    fn edge_or_exit(&mut self, t: u64, n: u32, idx: usize, nslots: usize) {
        let target = slot_of(t, self.pc0, nslots).and_then(|k| {
            let v = self.vars.as_ref()?;
            v.blocks.iter().position(|&(s, _)| s == k)
        });
        match target {
            Some(j) => self.edge(t, j, n, j <= idx),
            None => self.exit_const(t, n),
        }
    }

    /// A jump to basic block `j` (guest address `t`) after `n` instructions of this one: the
    /// cached registers go to the variables; a back edge first checks budget and exit requests.
    fn edge(&mut self, t: u64, j: usize, n: u32, back: bool) {
        let Some(v) = self.vars.as_ref() else { return };
        let (gv, lr, ctr, cr, crf, leftv) = (v.gpr, v.lr, v.ctr, v.cr, v.crf, v.left);
        let target = self.block_at(j);
        // Values not cached (a helper ran) come from the CPU struct, loaded here without caching:
        // this edge is one of two branch paths, and the other must not see them.
        for (r, var) in gv.iter().enumerate() {
            if let Some(var) = var {
                let x = match self.gpr[r] {
                    Some((x, _)) => x,
                    None => self.load_cpu(I64, OFF_GPR + 8 * r),
                };
                self.b.def_var(*var, x);
            }
        }
        for (c, var, off) in [(self.lr, lr, OFF_LR), (self.ctr, ctr, OFF_CTR)] {
            let x = match c {
                Some((x, _)) => x,
                None => self.load_cpu(I64, off),
            };
            self.b.def_var(var, x);
        }
        // The written fields in their own variables (a compare formed here, not merged); the
        // word as the CPU struct has it for the others.
        for (f, var) in crf.iter().enumerate() {
            if let Some(var) = var {
                let x = self.crf_val(f, false);
                self.b.def_var(*var, x);
            }
        }
        let x = self.cr_mem(false);
        self.b.def_var(cr, x);
        let left = self.b.use_var(leftv);
        let left = self.b.ins().iadd_imm_s(left, -(n as i64));
        self.b.def_var(leftv, left);
        if !back {
            self.b.ins().jump(target, &[]);
            return;
        }
        let out = self.b.create_block();
        self.go_on_if_room(left, out);
        self.b.ins().jump(target, &[]);
        // Out of budget or asked to stop: everything back to the CPU struct, pc at the target.
        self.b.switch_to_block(out);
        self.b.set_cold_block(out);
        let dirty = self.vars.as_ref().map_or([true; 32], |v| v.dirty);
        for (r, var) in gv.iter().enumerate() {
            if let (Some(var), true) = (var, dirty[r]) {
                let x = self.b.use_var(*var);
                self.store_cpu(x, OFF_GPR + 8 * r);
            }
        }
        for (var, off) in [(lr, OFF_LR), (ctr, OFF_CTR)] {
            let x = self.b.use_var(var);
            self.store_cpu(x, off);
        }
        let mut w = self.b.use_var(cr);
        for (f, var) in crf.iter().enumerate() {
            if let Some(var) = var {
                let sh = 28 - 4 * f as i64;
                let x = self.b.use_var(*var);
                let kept = self.b.ins().band_imm_s(w, !(0xf_i64 << sh) & 0xffff_ffff);
                let x = self.b.ins().ishl_imm_s(x, sh);
                w = self.b.ins().bor(kept, x);
            }
        }
        self.store_cpu(w, OFF_CR);
        let x = self.b.use_var(leftv);
        self.store_cpu(x, OFF_LEFT);
        let p = self.k(t);
        self.store_cpu(p, OFF_PC);
        let r = self.k(0);
        self.b.ins().return_(&[r]);
    }
}
