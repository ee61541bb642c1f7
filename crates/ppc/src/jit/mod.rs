//! The translator: hot guest blocks become host code (Cranelift), behind the same `Cpu` state
//! and `run` contract as the interpreter, which stays the reference and runs cold code.
//!
//! Tiering: the dispatcher counts how often each block start is reached; code below
//! `JitConfig::threshold` runs in the interpreter (a Linux boot runs most of its code only a few
//! times, and compiling it would cost more than interpreting it), hotter blocks are translated.
//!
//! Blocks are keyed like the decode cache (real address and byte order) plus the MSR bits the
//! generated code depends on (`Mode`): the same code run in another mode is another block. A
//! block never spans a page, so invalidating a code page (icbi, `invalidate_range`) drops exactly
//! the blocks in it. Generated code lives in a bounded arena (`tb-size`), flushed whole when full.

mod arena;
mod translate;
mod worker;

use crate::cpu::{msr, Cpu, Exception, IrqLines};
use crate::exec::{DecodeCache, Handler, Page};
use crate::insn::Insn;
use std::collections::HashMap;
use std::time::Instant;

/// How a block exited (bits 32.. of its return value).
pub(crate) const EXIT_NORMAL: u64 = 0;
/// An interpreter helper retired its instruction and asked to leave (branch taken elsewhere,
/// MSR or translation change, exit request): `cpu.pc` is the next instruction.
pub(crate) const EXIT_RETIRED: u64 = 1;
/// An exception before the instruction retired: `cpu.pc` is the instruction, `cpu.jit_exc` the
/// exception.
pub(crate) const EXIT_FAULT: u64 = 2;
/// An exception taken after the instruction (sc): `cpu.pc` is the next instruction.
pub(crate) const EXIT_FAULT_AFTER: u64 = 3;
/// A load or store the inline path could not serve (TLB miss, page crossing, beyond the RAM of
/// real mode): `cpu.pc` is that instruction, for the interpreter to run.
pub(crate) const EXIT_MISS: u64 = 4;

/// The MSR bits translated code depends on: 64-bit mode (address wrapping), problem state (TLB
/// tags), instruction and data relocation (how branch targets and accesses are translated
/// inline), byte order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Mode {
    pub sf: bool,
    pub pr: bool,
    pub ir: bool,
    pub dr: bool,
    pub le: bool,
}

/// Bits of a block key below the real address (`Jit::key`).
pub(crate) const KEY_MODE_BITS: u32 = 5;

impl Mode {
    fn of(cpu: &Cpu) -> Mode {
        Mode {
            sf: cpu.msr & msr::SF != 0,
            pr: cpu.msr & msr::PR != 0,
            ir: cpu.msr & msr::IR != 0,
            dr: cpu.msr & msr::DR != 0,
            le: cpu.le,
        }
    }

    pub(crate) fn bits(self) -> u64 {
        (self.sf as u64) << 4
            | (self.ir as u64) << 3
            | (self.pr as u64) << 2
            | (self.dr as u64) << 1
            | self.le as u64
    }

    /// An address wrapped to the mode (32 bits unless 64-bit mode).
    pub(crate) fn ea(self, v: u64) -> u64 {
        if self.sf {
            v
        } else {
            v & 0xffff_ffff
        }
    }
}

/// Execution engine choice: `-accel tcg,jit=on|off|check`, or `LPAR_JIT` in the environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JitMode {
    /// The interpreter only.
    Off,
    /// Hot blocks translated.
    On,
    /// Translated blocks checked against the interpreter (`check`): slow, for tests.
    Check,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JitConfig {
    pub mode: JitMode,
    /// Times a block start is reached before it is translated.
    pub threshold: u32,
    /// Translate on a background thread, so the vCPU never waits for the compiler (the check
    /// mode always translates synchronously).
    pub background: bool,
}

/// Default tiering threshold. A block costs ~100-250 µs to compile (Cranelift), done on the
/// background translator; a low threshold floods it with code run a few times, a high one keeps
/// the vCPU interpreting. Measured on a Linux boot to power-off (interpreter alone 4.8 s): 50 →
/// 2.38 s, 200 → 2.25 s, 1000 → 2.13 s, 5000 → 2.24 s. (Compiling on the vCPU's thread: 32 →
/// 12.8 s, 1000 → 4.6 s, 5000 → 3.7 s.)
pub const DEFAULT_THRESHOLD: u32 = 1000;

impl JitConfig {
    /// The default engine, changed by `LPAR_JIT=off|on|check` and `LPAR_JIT_HOT=N` (so every
    /// test can run either way).
    pub fn from_env() -> JitConfig {
        let mode = match std::env::var("LPAR_JIT").as_deref() {
            Ok("off") | Ok("0") => JitMode::Off,
            Ok("check") => JitMode::Check,
            _ => JitMode::On,
        };
        let threshold = std::env::var("LPAR_JIT_HOT")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(DEFAULT_THRESHOLD);
        let background = std::env::var_os("LPAR_JIT_SYNC").is_none();
        JitConfig {
            mode,
            threshold,
            background,
        }
    }

    /// Every block translated at its first arrival, on the vCPU's thread: what tests and fuzz
    /// targets use to put all code through the translator (or, with `Check`, the checker).
    pub fn eager(mode: JitMode) -> JitConfig {
        JitConfig {
            mode,
            threshold: 1,
            background: false,
        }
    }

    pub fn off() -> JitConfig {
        JitConfig {
            mode: JitMode::Off,
            threshold: DEFAULT_THRESHOLD,
            background: false,
        }
    }
}

impl Default for JitConfig {
    fn default() -> Self {
        JitConfig::from_env()
    }
}

/// Counters for benchmarks and tests.
#[derive(Clone, Copy, Debug, Default)]
pub struct JitStats {
    pub blocks: u64,
    pub compile_ns: u64,
    pub flushes: u64,
    pub inline: u64,
    pub helpers: u64,
    pub code_bytes: u64,
    pub failed: u64,
    /// Lockstep comparisons made (check mode).
    pub checked: u64,
    /// Guest instructions retired by `run` with this cache (translated and interpreted).
    pub insns: u64,
    /// Blocks translated as regions (loops whole).
    pub regions: u64,
    /// Entries into translated code from the dispatcher, and the miss exits among their ends
    /// (an access the inline path could not do, e.g. MMIO): what it costs to leave generated code.
    pub enters: u64,
    pub misses: u64,
    /// Instructions interpreted because their code was not (yet) translated.
    pub cold: u64,
}

/// The host address of a translated block's entry (tail-call convention: called only through
/// `EnterFn`).
type BlockFn = usize;
/// The trampoline that runs a block from Rust: `(cpu, block) -> status`.
type EnterFn = unsafe extern "C" fn(*mut Cpu, BlockFn) -> u64;

#[derive(Clone, Copy)]
struct Block {
    pc: u64,
    f: BlockFn,
    /// Every instruction inline (no interpreter helper): the lockstep checker can undo and
    /// replay it exactly.
    pure: bool,
    /// Most instructions it retires (words covered).
    len: u32,
}

/// Laid out for the inline lookup of translated code (`translate::JC_*`).
#[derive(Clone, Copy, Default)]
#[repr(C)]
struct JcEntry {
    key: u64,
    pc: u64,
    /// The block's entry, 0 for none.
    f: BlockFn,
    len: u32,
}

/// Direct-mapped cache in front of the block map (QEMU's tb_jmp_cache).
const JC: usize = 4096;
/// Heat counters, direct-mapped by key hash (collisions only make a block hot sooner).
const HEAT: usize = 1 << 14;
/// Most blocks one vCPU may have asked of the background translator at a time.
const MAX_PENDING: usize = 256;

/// One vCPU's translated code.
pub struct Jit {
    tr: translate::Translator,
    arena: arena::Arena,
    /// Holds the entry trampoline, which survives flushes of `arena`.
    _entry_arena: arena::Arena,
    enter: EnterFn,
    /// Bumped by every flush: a link request from before it names a slot that no longer exists.
    gen: u64,
    blocks: HashMap<u64, Block, FastHash>,
    /// Block keys per code page (real address >> 12), for invalidation.
    pages: HashMap<u64, Vec<u64>, FastHash>,
    jc: Box<[JcEntry]>,
    heat: Box<[u16]>,
    threshold: u32,
    check: bool,
    /// Host base and size of the guest memory the code was translated for.
    mem: (u64, u64, u64),
    /// Address of the vCPU's interrupt-line bits, which chained exits test (embedded in code).
    irq: usize,
    /// Translate on a background thread (`worker`) instead of the vCPU's.
    background: bool,
    /// Blocks asked of the background translator: key → request id.
    pending: HashMap<u64, u64, FastHash>,
    next_id: u64,
    done_tx: std::sync::mpsc::Sender<worker::Done>,
    done_rx: std::sync::mpsc::Receiver<worker::Done>,
    /// Blocks the translator finished for this vCPU (bumped after each reply is sent), and the
    /// count when the replies were last taken: polling the channel costs more than this load.
    ready: std::sync::Arc<std::sync::atomic::AtomicU64>,
    seen: u64,
    pub stats: JitStats,
    /// `LPAR_JIT_PERFMAP`: a symbol per block in /tmp/perf-PID.map for `perf report`, with the
    /// lines left before it stops (a profiling aid the user asks for; bounded all the same).
    perfmap: Option<(std::fs::File, u32)>,
}

/// Jump-cache index of a key (translated code computes the same: `translate::exit_lookup`).
pub(crate) const HASH_MUL: u64 = 0x9e37_79b9_7f4a_7c15;
pub(crate) const HASH_SHIFT: u32 = 40;

/// Keys are addresses: a multiply spreads them well enough; SipHash would cost more than the
/// lookup itself on the dispatcher's path.
#[derive(Default)]
struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, b: &[u8]) {
        for &x in b {
            self.0 = (self.0 ^ x as u64).wrapping_mul(HASH_MUL);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v.wrapping_mul(HASH_MUL);
    }
}

type FastHash = std::hash::BuildHasherDefault<KeyHasher>;

fn hash(key: u64) -> usize {
    (key.wrapping_mul(HASH_MUL) >> HASH_SHIFT) as usize
}

impl Jit {
    /// A translator whose code may use `bytes` of host memory; None when the host has no
    /// backend or the memory cannot be mapped (the interpreter runs everything then).
    pub fn new(bytes: usize, cfg: JitConfig) -> Option<Jit> {
        // The generated code assumes a 64-bit little-endian host (x86-64, aarch64).
        if cfg.mode == JitMode::Off
            || cfg!(target_endian = "big")
            || cfg!(not(target_pointer_width = "64"))
        {
            return None;
        }
        let mut tr = translate::Translator::new()?;
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let mut entry_arena = arena::Arena::new(1 << 16).ok()?;
        let p = entry_arena.put(&tr.entry()?)?;
        // SAFETY: p is host code Cranelift compiled for exactly EnterFn's signature (two
        // pointers in, one i64 out, the host's C calling convention).
        let enter = unsafe { std::mem::transmute::<*const u8, EnterFn>(p) };
        Some(Jit {
            tr,
            arena: arena::Arena::new(bytes).ok()?,
            _entry_arena: entry_arena,
            enter,
            gen: 0,
            blocks: HashMap::default(),
            pages: HashMap::default(),
            jc: vec![JcEntry::default(); JC].into_boxed_slice(),
            heat: vec![0u16; HEAT].into_boxed_slice(),
            threshold: cfg.threshold,
            check: cfg.mode == JitMode::Check,
            mem: (0, 0, 0),
            irq: 0,
            background: cfg.background && cfg.mode == JitMode::On,
            pending: HashMap::default(),
            next_id: 0,
            done_tx,
            done_rx,
            ready: Default::default(),
            seen: 0,
            stats: JitStats::default(),
            perfmap: std::env::var_os("LPAR_JIT_PERFMAP").and_then(|_| {
                let path = format!("/tmp/perf-{}.map", std::process::id());
                let f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path);
                f.ok().map(|f| (f, 1 << 20))
            }),
        })
    }

    /// Code bytes in use now, and the budget.
    pub fn code_size(&self) -> (usize, usize) {
        (self.arena.used(), self.arena.size())
    }

    fn key(ra: u64, mode: Mode) -> u64 {
        ra << KEY_MODE_BITS | mode.bits()
    }

    /// The block at `pc` (real address and mode in `key`) if translated and it retires at most
    /// `left` instructions; else whether the block start is hot (reached `threshold` times), for
    /// which the arrival is counted. Cold code costs one counter, not a map lookup.
    #[inline]
    fn lookup(&mut self, key: u64, pc: u64, left: u64) -> Result<BlockFn, bool> {
        let e = &self.jc[hash(key) & (JC - 1)];
        if e.key == key && e.pc == pc && e.len as u64 <= left && e.f != 0 {
            return Ok(e.f);
        }
        let h = &mut self.heat[hash(key) & (HEAT - 1)];
        if (*h as u32) < self.threshold {
            *h = h.saturating_add(1);
            return Err(*h as u32 >= self.threshold);
        }
        let Some(&b) = self.blocks.get(&key) else {
            return Err(true);
        };
        if b.pc != pc || b.len as u64 > left {
            return Err(true);
        }
        self.jc[hash(key) & (JC - 1)] = JcEntry {
            key,
            pc,
            len: b.len,
            f: b.f,
        };
        Ok(b.f)
    }

    /// Reserves the block's link slots: two per block (a block ends at its first branch), in the
    /// arena before its code; none in check mode, where every block must return to be checked.
    fn chain_for(&mut self, key: u64) -> Option<Option<translate::Chain>> {
        if self.check {
            return Some(None);
        }
        const Z: [u8; 8 * translate::LINK_SLOTS] = [0; 8 * translate::LINK_SLOTS];
        let slots = match self.arena.put(&Z) {
            Some(p) => p,
            None => {
                self.clear();
                self.stats.flushes += 1;
                self.arena.put(&Z)?
            }
        };
        Some(Some(translate::Chain {
            slots: slots as u64,
            key,
            jc: self.jc.as_ptr() as u64,
        }))
    }

    /// Translates the block at `pc` now (on this thread).
    fn compile(
        &mut self,
        page: &Page,
        pc: u64,
        key: u64,
        mode: Mode,
        mem: (u64, u64, u64),
    ) -> Option<BlockFn> {
        let first = ((pc & 4095) >> 2) as usize;
        let end = (first + 2 * translate::MAX_INSNS).min(page.slots.len());
        let chain = self.chain_for(key)?;
        let t0 = Instant::now();
        let out = self.tr.translate(
            &page.slots[first..end],
            pc,
            mode,
            self.check,
            mem,
            chain,
            self.irq as u64,
        );
        self.stats.compile_ns += t0.elapsed().as_nanos() as u64;
        let code = std::mem::take(&mut self.tr.code);
        let f = self.install(key, pc, out, &code);
        self.tr.code = code;
        f
    }

    /// Asks the background translator for the block at `pc`; it is installed when done
    /// (`poll`). False when the queue is full (the block stays hot and is asked for again).
    fn request(
        &mut self,
        page: &Page,
        pc: u64,
        key: u64,
        mode: Mode,
        mem: (u64, u64, u64),
    ) -> bool {
        if self.pending.contains_key(&key) || self.pending.len() >= MAX_PENDING {
            return false;
        }
        let Some(svc) = worker::service() else {
            return false;
        };
        let Some(chain) = self.chain_for(key) else {
            return false;
        };
        let first = ((pc & 4095) >> 2) as usize;
        let end = (first + 2 * translate::MAX_INSNS).min(page.slots.len());
        self.next_id += 1;
        let req = worker::Request {
            id: self.next_id,
            slots: page.slots[first..end].to_vec(),
            pc,
            key,
            mode,
            mem,
            chain,
            irq: self.irq as u64,
            reply: self.done_tx.clone(),
            ready: self.ready.clone(),
        };
        if svc.try_send(req).is_err() {
            return false;
        }
        self.pending.insert(key, self.next_id);
        true
    }

    /// Installs the blocks the background translator finished, unless their code was
    /// invalidated (or the arena flushed) since they were asked for.
    fn poll(&mut self) {
        self.seen = self.ready.load(std::sync::atomic::Ordering::Acquire);
        while let Ok(d) = self.done_rx.try_recv() {
            if self.pending.get(&d.key) != Some(&d.id) {
                continue;
            }
            self.pending.remove(&d.key);
            self.stats.compile_ns += d.ns;
            self.install(d.key, d.pc, d.out, &d.code);
        }
    }

    /// Puts translated code in the arena and makes it reachable.
    fn install(
        &mut self,
        key: u64,
        pc: u64,
        out: Option<translate::Output>,
        code: &[u8],
    ) -> Option<BlockFn> {
        let Some(out) = out else {
            self.stats.failed += 1;
            self.heat[hash(key) & (HEAT - 1)] = 0;
            return None;
        };
        let Some(f) = self.arena.put(code).map(|p| p as usize) else {
            // Full: flush, and translate again when the block is hot again (its link slots
            // went with the flush).
            self.clear();
            self.stats.flushes += 1;
            return None;
        };
        if let Some((file, left)) = self.perfmap.as_mut().filter(|(_, left)| *left > 0) {
            use std::io::Write;
            *left -= 1;
            let _ = writeln!(file, "{f:x} {:x} ppc_{pc:x}_m{}", code.len(), key & 31);
        }
        self.stats.blocks += 1;
        self.stats.regions += out.region as u64;
        self.stats.inline += out.inline as u64;
        self.stats.helpers += out.helpers as u64;
        self.stats.code_bytes += code.len() as u64;
        let pure = out.helpers == 0;
        // The same real address reached at another effective address replaces the older block.
        let block = Block {
            pc,
            f,
            pure,
            len: out.words,
        };
        if self.blocks.insert(key, block).is_none() {
            self.pages
                .entry(key >> (KEY_MODE_BITS + 12))
                .or_default()
                .push(key);
        }
        self.jc[hash(key) & (JC - 1)] = JcEntry {
            key,
            pc,
            len: out.words,
            f,
        };
        Some(f)
    }

    fn drop_page(&mut self, page: u64) {
        if !self.pending.is_empty() {
            self.pending
                .retain(|k, _| k >> (KEY_MODE_BITS + 12) != page);
        }
        if let Some(keys) = self.pages.remove(&page) {
            for k in keys {
                self.blocks.remove(&k);
                let e = &mut self.jc[hash(k) & (JC - 1)];
                if e.key == k {
                    *e = JcEntry::default();
                }
            }
        }
    }

    /// Forgets the blocks in every page overlapping guest real range `[ra, ra+len)`.
    pub fn invalidate_range(&mut self, ra: u64, len: u64) {
        if len == 0 || self.pages.is_empty() {
            return;
        }
        let first = ra >> 12;
        let last = ra.saturating_add(len - 1) >> 12;
        if last - first > self.pages.len() as u64 {
            let doomed: Vec<u64> = self
                .pages
                .keys()
                .copied()
                .filter(|&p| p >= first && p <= last)
                .collect();
            for p in doomed {
                self.drop_page(p);
            }
        } else {
            for p in first..=last {
                self.drop_page(p);
            }
        }
    }

    /// Forgets every block. Heat is forgotten too, so that after a flush only code that is
    /// still hot is translated again (no storm of recompiles of everything once hot).
    pub fn clear(&mut self) {
        self.gen += 1;
        self.pending.clear();
        self.heat.fill(0);
        self.blocks.clear();
        self.pages.clear();
        self.jc.fill(JcEntry::default());
        self.arena.reset();
    }
}

impl Drop for Jit {
    fn drop(&mut self) {
        if self.check {
            eprintln!(
                "jit check: {} blocks checked against the interpreter, {} divergences",
                self.stats.checked,
                check::DIVERGENCES.load(std::sync::atomic::Ordering::SeqCst)
            );
        }
        if std::env::var_os("LPAR_JIT_STATS").is_some() {
            // One line per vCPU, read by bench/*.sh.
            let s = &self.stats;
            eprintln!(
                "jit: insns={} cold={} enters={} misses={} blocks={} regions={} compile_ms={:.1} code_kib={} flushes={} inline={} helpers={} failed={}",
                s.insns,
                s.cold,
                s.enters,
                s.misses,
                s.blocks,
                s.regions,
                s.compile_ns as f64 / 1e6,
                s.code_bytes / 1024,
                s.flushes,
                s.inline,
                s.helpers,
                s.failed
            );
        }
    }
}

/// Runs one instruction through its interpreter handler, for translated code. Returns 0 to go
/// on with the block, else an `EXIT_*` code with `cpu.pc` set.
pub(crate) extern "C" fn helper_insn(
    cpu: *mut Cpu,
    h: usize,
    insn: u32,
    prefix: u32,
    pc: u64,
) -> u32 {
    // SAFETY: blocks are called with the vCPU's only live reference turned into this pointer,
    // and pass it on unchanged; nothing else touches the Cpu during the call.
    let cpu = unsafe { &mut *cpu };
    // SAFETY: the translator embeds `h` from a `Handler` (a decode-cache slot) as an integer.
    let h: Handler = unsafe { std::mem::transmute::<usize, Handler>(h) };
    cpu.pc = pc;
    cpu.nip = pc.wrapping_add(4);
    cpu.prefix = prefix;
    let next = cpu.ea(pc.wrapping_add(if prefix != 0 { 8 } else { 4 }));
    match h(cpu, Insn(insn)) {
        Ok(()) => {
            let nip = cpu.ea(cpu.nip);
            if nip != next || cpu.irq.exit_requested() {
                cpu.pc = nip;
                EXIT_RETIRED as u32
            } else {
                0
            }
        }
        Err(e) => {
            cpu.jit_exc = Some(e);
            if e.is_after() {
                cpu.pc = cpu.ea(cpu.nip);
                EXIT_FAULT_AFTER as u32
            } else {
                EXIT_FAULT as u32
            }
        }
    }
}

/// `crate::exec::run` with translation: same contract (up to `budget` instructions, give or take
/// a block; the exception that stopped execution with `cpu.pc` as the interpreter leaves it).
pub(crate) fn run(
    cpu: &mut Cpu,
    cache: &mut DecodeCache,
    jit: &mut Jit,
    budget: u64,
) -> Result<(), Exception> {
    let lines = cpu.irq.clone();
    // Translated code embeds the host address of guest memory: a cache moved to another
    // memory (tests do that) starts afresh.
    let mem = (
        cpu.mem.ptr(0, 0).map_or(0, |p| p as u64),
        cpu.mem.size(),
        cpu.mem.code_bits_ptr(),
    );
    // Likewise the vCPU's interrupt lines (one cache serves one vCPU in lpar; tests may move it).
    let irq = lines.bits_ptr() as usize;
    if jit.mem != mem || jit.irq != irq {
        jit.clear();
        jit.mem = mem;
        jit.irq = irq;
    }
    let mut n: u64 = 0;
    cpu.jit_link_slot = 0;
    // The flush generation when the last block ran: its link request is void after a flush.
    let mut gen = jit.gen;
    let r = 'outer: loop {
        if lines.exit_requested() {
            lines.lower(IrqLines::EXIT);
            cpu.check_async();
            crate::exec::sync_code(cpu, cache, Some(jit));
            cpu.tlb_catch_up();
            cpu.fault_bits = 0;
        }
        if n >= budget {
            break Ok(());
        }
        let page_ra = match cpu.fetch_page(cpu.pc) {
            Ok(ra) => ra,
            Err(e) => break Err(e),
        };
        let mode = Mode::of(cpu);
        let key = Jit::key(page_ra | (cpu.pc & 4095), mode);
        let pc = cpu.pc;
        // A block must not overshoot the budget: callers count on exact instruction counts
        // (single-stepping, the reproducible mode); near the end the interpreter finishes.
        let left = budget - n;
        if !jit.pending.is_empty()
            && jit.ready.load(std::sync::atomic::Ordering::Acquire) != jit.seen
        {
            jit.poll();
        }
        let found = jit.lookup(key, pc, left);
        let mut f = found.ok();
        if found == Err(true) && left >= translate::MAX_INSNS as u64 * 2 {
            let page = cache.page(cpu, page_ra, cpu.le);
            if jit.background {
                jit.request(page, pc, key, mode, mem);
            } else {
                f = jit.compile(page, pc, key, mode, mem);
                f = f.filter(|_| jit.blocks.get(&key).is_some_and(|b| b.len as u64 <= left));
            }
        }
        let link = std::mem::take(&mut cpu.jit_link_slot);
        if let Some(f) = f {
            // The exit that brought us here asked to be linked to this block: only within one
            // page (so one translation of pc covers both) and one mode.
            if link != 0
                && gen == jit.gen
                && cpu.jit_link_key >> (KEY_MODE_BITS + 12) == key >> (KEY_MODE_BITS + 12)
                && cpu.jit_link_key & 31 == key & 31
            {
                // SAFETY: `link` is a link slot in the arena (flush generation unchanged), 8
                // bytes, aligned; only this vCPU's thread touches its arena.
                unsafe {
                    let slot = link as *mut u64;
                    if slot.read() == 0 {
                        slot.write(f as u64);
                    }
                }
            }
            gen = jit.gen;
            if jit.check && jit.blocks.get(&key).is_some_and(|b| b.pure) {
                match check::run_checked(cpu, jit, f) {
                    Ok(k) => {
                        n += k;
                        continue;
                    }
                    Err((k, e)) => {
                        n += k;
                        break Err(e);
                    }
                }
            }
            let start = left.min(i64::MAX as u64) as i64;
            cpu.jit_left = start;
            // SAFETY: f is a block compiled for this vCPU from code still in its arena (a flush
            // or invalidation removes it from every lookup structure first), entered through the
            // trampoline made for the blocks' convention; it gets the vCPU's Cpu, which nothing
            // else uses while the block runs.
            let r = unsafe { (jit.enter)(cpu as *mut Cpu, f) };
            jit.stats.enters += 1;
            n += start.wrapping_sub(cpu.jit_left) as u64;
            match r {
                EXIT_NORMAL => {}
                EXIT_RETIRED => n += 1,
                EXIT_MISS => {
                    jit.stats.misses += 1;
                    // The access the block could not do inline: one instruction in the
                    // interpreter, which fills the TLB (so the block's next run stays inline).
                    let ra = match cpu.fetch_page(cpu.pc) {
                        Ok(ra) => ra,
                        Err(e) => break Err(e),
                    };
                    let s = cache.page(cpu, ra, cpu.le).slots[((cpu.pc >> 2) as usize) & 1023];
                    if let Err((e, retired)) = s.exec(cpu) {
                        n += retired as u64;
                        break Err(e);
                    }
                    n += 1;
                }
                st => {
                    if st == EXIT_FAULT_AFTER {
                        n += 1;
                    }
                    let e = cpu.jit_exc.take();
                    break Err(e.unwrap_or(Exception::Program(crate::ProgramKind::Illegal)));
                }
            }
            continue;
        }
        // Cold code: interpret up to the next branch (a block start the dispatcher must see).
        let page = cache.page(cpu, page_ra, cpu.le);
        let page_ea = cpu.pc & !4095;
        loop {
            let s = page.slots[((cpu.pc >> 2) as usize) & 1023];
            let fall = cpu.ea(cpu.pc.wrapping_add(4));
            if let Err((e, retired)) = s.exec(cpu) {
                n += retired as u64;
                break 'outer Err(e);
            }
            let straight = s.p == 0 && cpu.pc == fall;
            n += 1;
            jit.stats.cold += 1;
            if lines.exit_requested() || cpu.pc & !4095 != page_ea || n >= budget {
                break;
            }
            // A block start in this page (mode unchanged: an MSR change requests an exit):
            // interpret on unless it is translated or now hot, without a trip through the
            // dispatcher.
            if (!straight || matches!(s.i.opcd(), 16..=19))
                && jit.lookup(
                    Jit::key(page_ra | (cpu.pc & 4095), mode),
                    cpu.pc,
                    budget - n,
                ) != Err(false)
            {
                break;
            }
        }
    };
    cpu.icount += n;
    jit.stats.insns += n;
    r
}

mod check;

/// Divergences the lockstep checker has reported in this process (`JitMode::Check`).
pub fn divergences() -> u64 {
    check::DIVERGENCES.load(std::sync::atomic::Ordering::SeqCst)
}

#[cfg(test)]
mod tests;
