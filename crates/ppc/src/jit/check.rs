//! The lockstep checker (`-accel tcg,jit=check`, `LPAR_JIT=check`): each translated block whose
//! instructions are all inline runs on the real state with its stores logged; then its memory
//! writes are undone, the state before it is restored, and the interpreter runs the same
//! instructions. Any difference in registers, memory written or exception is reported with the
//! block's address and words, and the interpreter's result stands.

use super::{BlockFn, Jit, EXIT_FAULT, EXIT_FAULT_AFTER, EXIT_MISS, EXIT_NORMAL, EXIT_RETIRED};
use crate::cpu::{Cpu, Exception, Xer};
use std::sync::atomic::{AtomicU64, Ordering};

/// Divergences found by every checker in this process (tests read it).
pub static DIVERGENCES: AtomicU64 = AtomicU64::new(0);

#[derive(Clone, PartialEq, Debug)]
struct State {
    gpr: [u64; 32],
    cr: u32,
    lr: u64,
    ctr: u64,
    xer: Xer,
    msr: u64,
    pc: u64,
}

impl State {
    fn of(c: &Cpu) -> State {
        State {
            gpr: c.gpr,
            cr: c.cr,
            lr: c.lr,
            ctr: c.ctr,
            xer: c.xer,
            msr: c.msr,
            pc: c.pc,
        }
    }

    fn restore(&self, c: &mut Cpu) {
        c.gpr = self.gpr;
        c.cr = self.cr;
        c.lr = self.lr;
        c.ctr = self.ctr;
        c.xer = self.xer;
        c.pc = self.pc;
    }
}

/// The budget a checked block runs with.
const CHECK_LEFT: i64 = 1 << 16;

/// Runs block `f` checked. Ok(retired) or Err((retired, exception)), as the interpreter did.
pub(super) fn run_checked(
    cpu: &mut Cpu,
    jit: &mut Jit,
    f: BlockFn,
) -> Result<u64, (u64, Exception)> {
    jit.stats.checked += 1;
    let before = State::of(cpu);
    cpu.jit_log = Some(Vec::new());
    // Enough for any block; a region's loop stops at a back edge once this runs low.
    cpu.jit_left = CHECK_LEFT;
    // SAFETY: as for an unchecked block in `super::run`.
    let r = unsafe { (jit.enter)(cpu as *mut Cpu, f) };
    let log = cpu.jit_log.take().unwrap_or_default();
    let after = State::of(cpu);
    let exc = cpu.jit_exc.take();
    let mut n = CHECK_LEFT.wrapping_sub(cpu.jit_left) as u64;
    let jit_exc = match r {
        EXIT_NORMAL | EXIT_MISS => None,
        EXIT_RETIRED => {
            n += 1;
            None
        }
        EXIT_FAULT => exc,
        EXIT_FAULT_AFTER => {
            n += 1;
            exc
        }
        _ => exc,
    };
    // What the block wrote, then undo it (last write first).
    let written: Vec<(usize, u8)> = log
        .iter()
        // SAFETY: each logged pointer was a valid guest-memory byte when stored through.
        .map(|&(p, _)| (p, unsafe { (p as *const u8).read() }))
        .collect();
    for &(p, old) in log.iter().rev() {
        // SAFETY: as above.
        unsafe { (p as *mut u8).write(old) };
    }
    before.restore(cpu);
    // The interpreter's turn.
    let mut interp_exc = None;
    let mut done = 0;
    while done < n || (jit_exc.is_some() && interp_exc.is_none() && done == n) {
        match crate::exec::step(cpu) {
            Ok(()) => done += 1,
            Err(e) => {
                if e.is_after() {
                    done += 1;
                }
                interp_exc = Some(e);
                break;
            }
        }
    }
    let got = State::of(cpu);
    let mut diffs = Vec::new();
    if got != after {
        diffs.push(format!("registers: jit {after:x?}\n  interpreter {got:x?}"));
    }
    if interp_exc != jit_exc || done != n {
        diffs.push(format!(
            "exit: jit {jit_exc:?} after {n}, interpreter {interp_exc:?} after {done}"
        ));
    }
    for &(p, v) in &written {
        // SAFETY: as above.
        let now = unsafe { (p as *const u8).read() };
        if now != v {
            let ra = cpu.mem.real_addr_of(p as *mut u8);
            diffs.push(format!(
                "memory {ra:#x}: jit {v:#04x}, interpreter {now:#04x}"
            ));
        }
    }
    if !diffs.is_empty() {
        DIVERGENCES.fetch_add(1, Ordering::SeqCst);
        let mut words = Vec::new();
        for k in 0..n.max(1) + 1 {
            if let Ok(w) = cpu.fetch(before.pc.wrapping_add(4 * k)) {
                words.push(format!("{w:08x}"));
            }
        }
        eprintln!(
            "jit check: divergence in the block at pc {:#x} (words {}):\n  {}",
            before.pc,
            words.join(" "),
            diffs.join("\n  ")
        );
    }
    match interp_exc {
        Some(e) => Err((done, e)),
        // The block stopped before an access it could not do inline: the interpreter does it
        // (as the dispatcher would), or the block would meet the same miss again.
        None if r == EXIT_MISS => match crate::exec::step(cpu) {
            Ok(()) => Ok(done + 1),
            Err(e) => Err((done + e.is_after() as u64, e)),
        },
        None => Ok(done),
    }
}

/// Saves the bytes a translated store is about to overwrite (check mode only).
pub(crate) extern "C" fn log_store(cpu: *mut Cpu, host: u64, bytes: u32) {
    // SAFETY: as in super::helper_insn.
    let cpu = unsafe { &mut *cpu };
    if let Some(log) = cpu.jit_log.as_mut() {
        for i in 0..bytes as u64 {
            let p = host.wrapping_add(i) as usize;
            // SAFETY: the inline TLB probe found these bytes in one mapped guest page.
            log.push((p, unsafe { (p as *const u8).read() }));
        }
    }
}
