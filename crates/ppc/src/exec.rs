//! The execution loop and the decoded-instruction cache.
//!
//! Instructions are decoded a 4 KiB page at a time into (handler, word) slots the first time the
//! page is executed; the loop then dispatches through the slot with no allocation or re-decode.
//! A page's slots are dropped when the guest invalidates it (icbi) or the runner says its memory
//! changed (`invalidate_range`). The cache is keyed by guest real address and byte order, so address
//! space switches need no flush. It holds a bounded number of pages (a budget in bytes, QEMU's
//! `tb-size`) and evicts the least recently used ones (CLOCK) when full.

use crate::cpu::{Cpu, Ex, Exception, IrqLines, IsaLevel};
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
pub(crate) struct Slot {
    pub(crate) h: Handler,
    pub(crate) i: Insn,
    /// Prefix word of an ISA 3.1 prefixed instruction whose suffix is `i` (0 otherwise); the
    /// handler finds it in `Cpu::prefix` and advances `nip` past both words.
    pub(crate) p: u32,
}

impl Slot {
    /// Runs the instruction at `cpu.pc` that this slot holds, and moves `pc` past it. On an
    /// exception, `pc` stays at the instruction unless the exception comes after it
    /// (`Exception::is_after`); the bool says whether the instruction retired.
    #[inline(always)]
    pub(crate) fn exec(self, cpu: &mut Cpu) -> Result<(), (Exception, bool)> {
        cpu.nip = cpu.pc.wrapping_add(4);
        cpu.prefix = self.p;
        if let Err(e) = (self.h)(cpu, self.i) {
            let after = e.is_after();
            if after {
                cpu.pc = cpu.ea(cpu.nip);
            }
            return Err((e, after));
        }
        cpu.pc = cpu.ea(cpu.nip);
        Ok(())
    }
}

pub(crate) struct Page {
    pub(crate) slots: [Slot; SLOTS],
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

/// Host bytes one decoded page occupies (its slots); cache budgets are counted in these.
pub const PAGE_BYTES: usize = std::mem::size_of::<Page>();
/// Budget of a cache made with `DecodeCache::default()` (QEMU's `tb-size`, in bytes).
pub const DEFAULT_BUDGET: usize = 64 << 20;
/// Fewest pages a cache keeps whatever its budget: a loop spanning a few pages must not thrash.
const MIN_PAGES: usize = 16;
/// A key no page has (keys are page aligned, plus the byte-order bit).
const FREE: u64 = u64::MAX;

/// Decoded pages of one vCPU, at most `capacity` of them: a guest that executes code on every
/// page of its RAM cannot grow host memory past the budget. When full, a page not looked up since
/// the clock hand last passed it is evicted (CLOCK, an LRU approximation) and its slot reused, so
/// a warm cache allocates nothing.
pub struct DecodeCache {
    index: HashMap<u64, u32, BuildHasherDefault<PageHasher>>,
    pages: Vec<Box<Page>>,
    /// Key of each page in `pages` (`FREE` when unused), and whether it was used since the hand
    /// last passed.
    keys: Vec<u64>,
    used: Vec<bool>,
    free: Vec<u32>,
    hand: usize,
    capacity: usize,
    /// The ISA level the pages were decoded for (`Cpu::isa_level`); a change drops them all.
    level: Option<IsaLevel>,
    /// Scratch for code pages other vCPUs invalidated (kept to avoid allocating).
    remote: Vec<u64>,
    /// Pages decoded and pages evicted, for tests and statistics.
    pub decodes: u64,
    pub evictions: u64,
    /// The translator, when enabled: hot blocks run as host code (`crate::jit`).
    pub jit: Option<Box<crate::jit::Jit>>,
    /// Index in `pages` of the page `page` returned last.
    last: u32,
}

impl Default for DecodeCache {
    fn default() -> Self {
        DecodeCache::with_budget(DEFAULT_BUDGET)
    }
}

impl DecodeCache {
    /// A cache using at most about `bytes` of host memory for decoded pages, with the translator
    /// configured from the environment (`JitConfig::from_env`), its code within the same budget.
    pub fn with_budget(bytes: usize) -> DecodeCache {
        DecodeCache::with_config(bytes, crate::jit::JitConfig::from_env())
    }

    /// A cache of `bytes` for decoded pages and as much for translated code.
    pub fn with_config(bytes: usize, jit: crate::jit::JitConfig) -> DecodeCache {
        let capacity = (bytes / PAGE_BYTES).max(MIN_PAGES);
        DecodeCache {
            index: HashMap::default(),
            pages: Vec::new(),
            keys: Vec::new(),
            used: Vec::new(),
            free: Vec::new(),
            hand: 0,
            capacity,
            level: None,
            remote: Vec::new(),
            decodes: 0,
            evictions: 0,
            jit: crate::jit::Jit::new(bytes.max(1 << 20), jit).map(Box::new),
            last: 0,
        }
    }

    /// Most pages the cache holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Pages held now.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The decoded page at guest real address `ra` (page aligned) in byte order `le`.
    pub(crate) fn page(&mut self, cpu: &Cpu, ra: u64, le: bool) -> &Page {
        let key = ra | le as u64;
        // The translator's dispatcher asks for the same page again and again (once per
        // interpreted block): remember the last answer. `keys` says whether it is still valid.
        let m = self.last as usize;
        if self.keys.get(m) == Some(&key) {
            self.used[m] = true;
            return &self.pages[m];
        }
        if let Some(&i) = self.index.get(&key) {
            self.last = i;
            self.used[i as usize] = true;
            return &self.pages[i as usize];
        }
        let i = self.take_slot();
        self.keys[i] = key;
        // A new page earns its second chance only by being entered again, so code run once
        // (a scan) is evicted before code in use.
        self.used[i] = false;
        self.index.insert(key, i as u32);
        self.last = i as u32;
        self.decodes += 1;
        // From now on stores to the page must drop this decoded form (`mem::CodeMap`): this
        // vCPU too drops its write translations of it, at the EXIT this raises.
        if cpu.mem.mark_code(ra) {
            cpu.irq.raise(0);
        }
        let level = self.level.unwrap_or(IsaLevel::MAX);
        decode_page(&mut self.pages[i], cpu, ra, le, level);
        &self.pages[i]
    }

    /// A slot for a new page: a free one, a new one while under capacity, else the CLOCK victim.
    fn take_slot(&mut self) -> usize {
        if let Some(i) = self.free.pop() {
            return i as usize;
        }
        if self.pages.len() < self.capacity {
            self.pages.push(Box::new(Page {
                slots: [Slot {
                    h: fetch_fault,
                    i: Insn(0),
                    p: 0,
                }; SLOTS],
            }));
            self.keys.push(FREE);
            self.used.push(false);
            return self.pages.len() - 1;
        }
        // Every page in `pages` is live here (no free slot), so the sweep ends within two turns.
        loop {
            let h = self.hand;
            self.hand = (h + 1) % self.pages.len();
            if std::mem::take(&mut self.used[h]) {
                continue;
            }
            self.index.remove(&self.keys[h]);
            self.keys[h] = FREE;
            self.evictions += 1;
            return h;
        }
    }

    fn drop_key(&mut self, key: u64) {
        if let Some(i) = self.index.remove(&key) {
            self.keys[i as usize] = FREE;
            self.used[i as usize] = false;
            self.free.push(i);
        }
    }

    /// Forgets the decoded form of every page overlapping guest real range `[ea, ea+len)`.
    pub fn invalidate_range(&mut self, ea: u64, len: u64) {
        if len == 0 {
            return;
        }
        if let Some(j) = self.jit.as_mut() {
            j.invalidate_range(ea, len);
        }
        let first = ea & PAGE_MASK;
        let last = ea.saturating_add(len - 1) & PAGE_MASK;
        if (last - first) >> PAGE_SHIFT > self.index.len() as u64 {
            let doomed: Vec<u64> = self
                .keys
                .iter()
                .copied()
                .filter(|&k| k != FREE && k >= first && k <= last | 1)
                .collect();
            for k in doomed {
                self.drop_key(k);
            }
        } else {
            let mut p = first;
            loop {
                self.drop_key(p);
                self.drop_key(p | 1);
                if p >= last {
                    break;
                }
                p += 1 << PAGE_SHIFT;
            }
        }
    }

    /// Forgets every page (keeping their memory for reuse).
    pub fn clear(&mut self) {
        if let Some(j) = self.jit.as_mut() {
            j.clear();
        }
        self.index.clear();
        self.free.clear();
        for (i, k) in self.keys.iter_mut().enumerate() {
            *k = FREE;
            self.used[i] = false;
            self.free.push(i as u32);
        }
    }
}

/// Decodes the 4 KiB page at real address `ra` into `p`.
fn decode_page(p: &mut Page, cpu: &Cpu, ra: u64, le: bool, level: IsaLevel) {
    let mut raw = [0u8; 1 << PAGE_SHIFT];
    if !cpu.mem.read(ra, &mut raw) {
        p.slots.fill(Slot {
            h: fetch_fault,
            i: Insn(0),
            p: 0,
        });
        return;
    }
    let word = |n: usize| -> Option<u32> {
        let b: [u8; 4] = raw.get(n * 4..n * 4 + 4)?.try_into().ok()?;
        Some(if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    };
    for (n, s) in p.slots.iter_mut().enumerate() {
        let w = word(n).unwrap_or(0);
        *s = if Insn(w).opcd() == 1 {
            // A prefix in the last word of a 64-byte block would cross the boundary, which the
            // ISA forbids: decode_prefixed reports it.
            let suffix = if n % 16 != 15 { word(n + 1) } else { None };
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
    // Other threads set EXIT in these lines to make this loop stop before the next instruction.
    cpu.set_running(true);
    if let Some(mut jit) = cache.jit.take() {
        sync_code(cpu, cache, Some(&mut jit));
        let r = crate::jit::run(cpu, cache, &mut jit, budget);
        cache.jit = Some(jit);
        cpu.set_running(false);
        return r;
    }
    let lines = cpu.irq.clone();
    sync_code(cpu, cache, None);
    let r = 'outer: loop {
        let page_ea = cpu.pc & PAGE_MASK;
        let ra = match cpu.fetch_page(cpu.pc) {
            Ok(ra) => ra,
            Err(e) => break Err(e),
        };
        let page = cache.page(cpu, ra, cpu.le);
        loop {
            let s = page.slots[((cpu.pc >> 2) as usize) & (SLOTS - 1)];
            if let Err((e, retired)) = s.exec(cpu) {
                n += retired as u64;
                break 'outer Err(e);
            }
            n += 1;
            if lines.exit_requested() {
                break;
            }
            if cpu.pc & PAGE_MASK != page_ea || n >= budget {
                break;
            }
        }
        if lines.exit_requested() {
            lines.lower(IrqLines::EXIT);
            // MSR changes (e.g. EE turned on) take effect before the next instruction.
            cpu.check_async();
            sync_code(cpu, cache, None);
            cpu.tlb_catch_up();
            cpu.fault_bits = 0;
        }
        if n >= budget {
            break Ok(());
        }
    };
    cpu.set_running(false);
    cpu.icount += n;
    r
}

/// Drops decoded pages (and translated blocks) this vCPU (icbi) or another one (`crate::smp`)
/// invalidated. `jit` is the translator when it is out of the cache (while it runs).
pub(crate) fn sync_code(
    cpu: &mut Cpu,
    cache: &mut DecodeCache,
    mut jit: Option<&mut crate::jit::Jit>,
) {
    let mut inval = |cache: &mut DecodeCache, ra: Option<u64>| match ra {
        Some(ra) => {
            cache.invalidate_range(ra, 1);
            if let Some(j) = jit.as_deref_mut() {
                j.invalidate_range(ra, 1);
            }
        }
        None => {
            cache.clear();
            if let Some(j) = jit.as_deref_mut() {
                j.clear();
            }
        }
    };
    // Pages written since this vCPU last looked lose their decoded and translated code; pages
    // newly decoded (here or elsewhere) lose their fast write translations.
    if cpu.mem.code_gen() != cpu.code_seen {
        let mem = cpu.mem.clone();
        let tlb = &mut cpu.tlb;
        cpu.code_seen = mem.code_events(cpu.code_seen, |ev| match ev {
            Some(ev) if ev & crate::mem::CODE_WRITTEN != 0 => inval(cache, Some(ev & PAGE_MASK)),
            Some(ev) => tlb.drop_writes(Some(ev & PAGE_MASK)),
            None => {
                inval(cache, None);
                tlb.drop_writes(None);
            }
        });
    }
    while let Some(ea) = cpu.icache_inval.pop() {
        let ra = cpu.translate(ea, crate::mmu::Access::Read).ok();
        inval(cache, ra);
    }
    if cpu.smp.is_some() {
        let mut pages = std::mem::take(&mut cache.remote);
        cpu.take_remote_icache(&mut pages);
        for ra in pages.drain(..) {
            inval(cache, (ra != crate::smp::ICACHE_ALL).then_some(ra));
        }
        cache.remote = pages;
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::cpu;

    /// Every 4 KiB page of memory holds `addi r3,r3,1; b <next page>`, the last page branching
    /// back to the first: a guest touching far more code pages than the cache may hold.
    fn page_walker(c: &mut Cpu) -> u64 {
        let pages = c.mem.size() >> PAGE_SHIFT;
        for p in 0..pages {
            let at = p << PAGE_SHIFT;
            let off = if p + 1 == pages {
                (-(at as i64 + 4)) as u32 & 0x03ff_fffc
            } else {
                (1 << PAGE_SHIFT) - 4
            };
            let b = 0x4800_0000 | off;
            assert!(c.mem.write(at, &0x3863_0001u32.to_le_bytes()));
            assert!(c.mem.write(at + 4, &b.to_le_bytes()));
        }
        c.pc = 0;
        pages
    }

    #[test]
    fn the_cache_stays_within_its_budget_and_code_still_runs() {
        let mut c = cpu();
        let pages = page_walker(&mut c);
        let mut cache = DecodeCache::with_config(32 * PAGE_BYTES, crate::jit::JitConfig::off());
        assert_eq!(cache.capacity(), 32);
        for round in 1..=3u64 {
            assert_eq!(run(&mut c, &mut cache, 2 * pages), Ok(()));
            assert_eq!(
                c.gpr[3],
                round * pages,
                "every page's addi ran once per round"
            );
            assert_eq!(c.pc, 0);
            assert!(cache.len() <= 32);
        }
        assert_eq!(cache.decodes, 3 * pages);
        assert_eq!(cache.evictions, 3 * pages - 32);
    }

    #[test]
    fn both_byte_orders_share_one_budget() {
        let mut c = cpu();
        let pages = page_walker(&mut c);
        let mut cache = DecodeCache::with_budget(0);
        assert_eq!(cache.capacity(), MIN_PAGES);
        for _ in 0..4 {
            let _ = run(&mut c, &mut cache, 2 * pages);
            c.set_msr(c.msr ^ crate::cpu::msr::LE);
            c.pc = 0;
            assert!(cache.len() <= MIN_PAGES);
        }
    }

    #[test]
    fn a_hot_page_survives_eviction_and_invalidated_pages_are_decoded_again() {
        let mut c = cpu();
        // Page 0: a loop `addi r3,r3,1; b .-4` stays hot while other pages come and go.
        assert!(c.mem.write(0, &0x3863_0001u32.to_le_bytes()));
        assert!(c.mem.write(4, &0x4bff_fffcu32.to_le_bytes()));
        let mut cache = DecodeCache::with_budget(0);
        for p in 1..200u64 {
            c.pc = 0;
            assert_eq!(run(&mut c, &mut cache, 10), Ok(()));
            let at = p << PAGE_SHIFT;
            assert!(c.mem.write(at, &0x6000_0000u32.to_le_bytes()));
            c.pc = at;
            let _ = run(&mut c, &mut cache, 1);
        }
        assert_eq!(cache.decodes, 200, "page 0 was decoded once, never evicted");
        // After invalidation the page is decoded anew and the new code runs.
        assert!(c.mem.write(0, &0x3863_0010u32.to_le_bytes()));
        cache.invalidate_range(0, 4);
        c.gpr[3] = 0;
        c.pc = 0;
        assert_eq!(run(&mut c, &mut cache, 1), Ok(()));
        assert_eq!(c.gpr[3], 0x10);
        cache.clear();
        assert!(cache.is_empty());
        c.pc = 0;
        assert_eq!(run(&mut c, &mut cache, 1), Ok(()));
        assert_eq!(c.gpr[3], 0x20);
    }
}
