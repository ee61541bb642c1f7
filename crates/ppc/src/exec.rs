//! The execution loop and the decoded-instruction cache.
//!
//! Instructions are decoded a 4 KiB page at a time into (handler, word) slots the first time the
//! page is executed; the loop then dispatches through the slot with no allocation or re-decode.
//! A page's slots are dropped when the guest invalidates it (icbi) or the runner says its memory
//! changed (`invalidate_range`). The cache is keyed by guest real address and byte order, so address
//! space switches need no flush.

use crate::cpu::{Cpu, Ex, Exception, IsaLevel};
use crate::decode::{decode_for, decode_prefixed_for};
use crate::insn::Insn;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Semantics of one instruction. `cpu.nip` holds pc+4 on entry; branches overwrite it.
pub type Handler = fn(&mut Cpu, Insn) -> Ex;

const PAGE_SHIFT: u32 = 12;
const PAGE_MASK: u64 = !((1 << PAGE_SHIFT) - 1);
const SLOTS: usize = 1 << (PAGE_SHIFT - 2);

#[derive(Clone, Copy)]
struct Slot {
    h: Handler,
    i: Insn,
    /// Prefix word of an ISA 3.1 prefixed instruction whose suffix is `i` (0 otherwise); the
    /// handler finds it in `Cpu::prefix` and advances `nip` past both words.
    p: u32,
}

struct Page {
    slots: [Slot; SLOTS],
}

/// Page addresses are already well distributed in their upper bits; skip SipHash.
#[derive(Default)]
struct PageHasher(u64);

impl Hasher for PageHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, _: &[u8]) {
        unreachable!("only u64 keys are hashed")
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (v >> PAGE_SHIFT).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// Decoded pages of one vCPU.
#[derive(Default)]
pub struct DecodeCache {
    pages: HashMap<u64, Box<Page>, BuildHasherDefault<PageHasher>>,
    /// The ISA level the pages were decoded for (`Cpu::isa_level`); a change drops them all.
    level: Option<IsaLevel>,
}

impl DecodeCache {
    /// The decoded page at guest real address `ra` (page aligned) in byte order `le`.
    fn page(&mut self, cpu: &Cpu, ra: u64, le: bool) -> &Page {
        let key = ra | le as u64;
        let level = self.level.unwrap_or(IsaLevel::MAX);
        self.pages.entry(key).or_insert_with(|| {
            let mut p = Box::new(Page {
                slots: [Slot {
                    h: fetch_fault,
                    i: Insn(0),
                    p: 0,
                }; SLOTS],
            });
            let mut raw = [0u8; 1 << PAGE_SHIFT];
            if cpu.mem.read(ra, &mut raw) {
                let words: Vec<u32> = raw
                    .chunks_exact(4)
                    .map(|w| {
                        let b = [w[0], w[1], w[2], w[3]];
                        if le {
                            u32::from_le_bytes(b)
                        } else {
                            u32::from_be_bytes(b)
                        }
                    })
                    .collect();
                for (n, s) in p.slots.iter_mut().enumerate() {
                    let w = words[n];
                    *s = if Insn(w).opcd() == 1 {
                        // A prefix in the last word of a 64-byte block would cross the
                        // boundary, which the ISA forbids: decode_prefixed reports it.
                        let suffix = if n % 16 != 15 {
                            words.get(n + 1).copied()
                        } else {
                            None
                        };
                        Slot {
                            h: decode_prefixed_for(level, w, suffix),
                            i: Insn(suffix.unwrap_or(0)),
                            p: w,
                        }
                    } else {
                        Slot {
                            h: decode_for(level, w),
                            i: Insn(w),
                            p: 0,
                        }
                    };
                }
            }
            p
        })
    }

    /// Forgets the decoded form of every page overlapping guest real range `[ea, ea+len)`.
    pub fn invalidate_range(&mut self, ea: u64, len: u64) {
        if len == 0 {
            return;
        }
        let first = ea & PAGE_MASK;
        let last = ea.saturating_add(len - 1) & PAGE_MASK;
        if (last - first) >> PAGE_SHIFT > self.pages.len() as u64 {
            self.pages.retain(|&k, _| k < first || k > last | 1);
        } else {
            let mut p = first;
            loop {
                self.pages.remove(&p);
                self.pages.remove(&(p | 1));
                if p >= last {
                    break;
                }
                p += 1 << PAGE_SHIFT;
            }
        }
    }

    pub fn clear(&mut self) {
        self.pages.clear();
    }
}

/// A word the page decode could not fetch (only possible at the end of memory).
fn fetch_fault(cpu: &mut Cpu, _: Insn) -> Ex {
    Err(Exception::InstructionStorage { ea: cpu.pc })
}

impl Exception {
    /// Exceptions whose interrupt resumes after the instruction rather than re-executing it.
    pub fn is_after(&self) -> bool {
        matches!(
            self,
            Exception::SystemCall { .. } | Exception::SystemCallVectored { .. }
        )
    }
}

/// Runs up to `budget` instructions. Returns Ok when the budget is spent, or the exception that
/// stopped execution; `cpu.pc` then addresses the faulting instruction, or the next one when
/// `Exception::is_after` holds.
pub fn run(cpu: &mut Cpu, cache: &mut DecodeCache, budget: u64) -> Result<(), Exception> {
    let mut n: u64 = 0;
    // The level is fixed per model but a hypervisor may lower it (PCR): decode anew then.
    let level = cpu.isa_level();
    if cache.level != Some(level) {
        cache.clear();
        cache.level = Some(level);
    }
    let r = 'outer: loop {
        let page_ea = cpu.pc & PAGE_MASK;
        let ra = match cpu.fetch_page(cpu.pc) {
            Ok(ra) => ra,
            Err(e) => break Err(e),
        };
        let page = cache.page(cpu, ra, cpu.le);
        loop {
            let s = page.slots[((cpu.pc >> 2) as usize) & (SLOTS - 1)];
            cpu.nip = cpu.pc.wrapping_add(4);
            cpu.prefix = s.p;
            if let Err(e) = (s.h)(cpu, s.i) {
                if e.is_after() {
                    cpu.pc = cpu.ea(cpu.nip);
                    n += 1;
                }
                break 'outer Err(e);
            }
            cpu.pc = cpu.ea(cpu.nip);
            n += 1;
            if cpu.slice_end {
                break;
            }
            if cpu.pc & PAGE_MASK != page_ea || n >= budget {
                break;
            }
        }
        if cpu.slice_end {
            cpu.slice_end = false;
            // MSR changes (e.g. EE turned on) take effect before the next instruction.
            cpu.check_async();
            while let Some(ea) = cpu.icache_inval.pop() {
                match cpu.translate(ea, crate::mmu::Access::Read) {
                    Ok(ra) => cache.invalidate_range(ra, 1),
                    Err(_) => cache.clear(),
                }
            }
            cpu.fault_bits = 0;
        }
        if n >= budget {
            break Ok(());
        }
    };
    cpu.icount += n;
    r
}

/// Executes exactly one instruction without the cache (for tests and single-stepping).
pub fn step(cpu: &mut Cpu) -> Result<(), Exception> {
    let w = cpu.fetch(cpu.pc)?;
    cpu.nip = cpu.pc.wrapping_add(4);
    let level = cpu.isa_level();
    let r = if Insn(w).opcd() == 1 {
        let suffix = if (cpu.pc & 63) != 60 {
            cpu.fetch(cpu.pc.wrapping_add(4)).ok()
        } else {
            None
        };
        cpu.prefix = w;
        decode_prefixed_for(level, w, suffix)(cpu, Insn(suffix.unwrap_or(0)))
    } else {
        cpu.prefix = 0;
        decode_for(level, w)(cpu, Insn(w))
    };
    match r {
        Ok(()) => {
            cpu.pc = cpu.ea(cpu.nip);
            cpu.icount += 1;
            Ok(())
        }
        Err(e) => {
            if e.is_after() {
                cpu.pc = cpu.ea(cpu.nip);
                cpu.icount += 1;
            }
            Err(e)
        }
    }
}
