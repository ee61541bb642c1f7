//! Coherence between the vCPUs of one machine, each running on its own host thread: TLB
//! shootdowns (tlbie and hypervisor page-table updates) and code-cache invalidation (icbi).
//!
//! TLB shootdown: the issuing vCPU flushes its own TLB, bumps the machine's TLB generation, asks
//! every other vCPU to leave its inner loop (`IrqLines::EXIT`, seen before its next instruction)
//! and waits until each one is either outside `run` or has flushed and acknowledged the new
//! generation. A vCPU entering `run` catches up first, so one that was idle needs no waiting for.
//! While waiting, the issuer acknowledges others' shootdowns itself, so two vCPUs flushing at
//! once cannot wait on each other for ever.
//!
//! Code invalidation: icbi queues the real page on every other vCPU (at most `ICACHE_QUEUE`
//! pages; past that the vCPU drops its whole decode cache) and asks it to leave its inner loop;
//! it re-decodes the page before running it again.

use crate::cpu::{Cpu, IrqLines};
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;

/// Code pages queued per vCPU before it drops its whole decode cache instead.
pub const ICACHE_QUEUE: usize = 64;
/// Queue entry meaning "drop every decoded page".
pub(crate) const ICACHE_ALL: u64 = u64::MAX;

/// What the vCPUs of one machine share.
#[derive(Debug)]
pub struct Smp {
    cpus: Vec<Arc<IrqLines>>,
    tlb_gen: AtomicU64,
}

impl Smp {
    /// The machine's vCPUs, by their `IrqLines` (each `Cpu::irq` must be one of these).
    pub fn new(cpus: Vec<Arc<IrqLines>>) -> Arc<Smp> {
        Arc::new(Smp {
            cpus,
            tlb_gen: AtomicU64::new(0),
        })
    }

    /// Raises interrupt line `bit` on vCPU `id` (a doorbell from a sibling thread); ids outside
    /// the machine are ignored.
    pub fn raise(&self, id: usize, bit: u32) {
        if let Some(l) = self.cpus.get(id) {
            l.raise(bit);
        }
    }

    fn others<'a>(&'a self, me: &'a Arc<IrqLines>) -> impl Iterator<Item = &'a Arc<IrqLines>> {
        self.cpus.iter().filter(move |l| !Arc::ptr_eq(l, me))
    }

    /// Queues the code page of real address `ra` (None: every page) for invalidation on every
    /// vCPU but `me`.
    pub(crate) fn invalidate_code(&self, me: &Arc<IrqLines>, ra: Option<u64>) {
        let page = ra.map_or(ICACHE_ALL, |a| a & !4095);
        for l in self.others(me) {
            if let Ok(mut q) = l.icache.lock() {
                if q.last() == Some(&page) || q.last() == Some(&ICACHE_ALL) {
                    continue;
                }
                if q.len() + 1 >= ICACHE_QUEUE {
                    q.clear();
                    q.push(ICACHE_ALL);
                } else {
                    q.push(page);
                }
            }
            l.raise(0);
        }
    }
}

impl Cpu {
    /// Drops every cached translation on every vCPU of the machine and returns once none can use
    /// a stale one (tlbie, and the hypervisor's page-table hcalls).
    pub fn tlb_shootdown(&mut self) {
        self.tlb_flush();
        let Some(smp) = self.smp.clone() else {
            return;
        };
        let me = self.irq.clone();
        let gen = smp.tlb_gen.fetch_add(1, SeqCst) + 1;
        // Our TLB stays empty from the flush until we run again: any generation is acknowledged.
        self.tlb_seen = gen;
        me.tlb_acked.store(gen, SeqCst);
        for l in smp.others(&me) {
            l.raise(0);
        }
        for l in smp.others(&me) {
            while l.running.load(SeqCst) && l.tlb_acked.load(SeqCst) < gen {
                // Another vCPU may be waiting for us: catch up with its shootdown meanwhile.
                self.tlb_catch_up();
                std::thread::yield_now();
            }
        }
    }

    /// Flushes the TLB if another vCPU shot it down since, and acknowledges.
    pub(crate) fn tlb_catch_up(&mut self) {
        let Some(smp) = &self.smp else {
            return;
        };
        let gen = smp.tlb_gen.load(SeqCst);
        if gen != self.tlb_seen {
            self.tlb.flush();
            self.tlb_seen = gen;
            self.irq.tlb_acked.store(gen, SeqCst);
        }
    }

    /// Marks this vCPU inside `run` (true) or out of it; entering catches up with shootdowns.
    pub(crate) fn set_running(&mut self, on: bool) {
        self.irq.running.store(on, SeqCst);
        if on {
            self.tlb_catch_up();
        }
    }

    /// Takes the code pages other vCPUs invalidated (ICACHE_ALL: all of them).
    pub(crate) fn take_remote_icache(&self, into: &mut Vec<u64>) {
        if let Ok(mut q) = self.irq.icache.lock() {
            into.append(&mut q);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::msr;
    use crate::exec::{run, DecodeCache};
    use crate::testutil::{cpu, x_form, CODE};
    use std::sync::atomic::AtomicBool;

    /// Two supervisor-state vCPUs on one memory and one `Smp`.
    fn pair() -> (Cpu, Cpu) {
        let a = cpu();
        let mut b = Cpu::new(a.model, a.mem.clone());
        let smp = Smp::new(vec![a.irq.clone(), b.irq.clone()]);
        let mut a = a;
        for c in [&mut a, &mut b] {
            c.smp = Some(smp.clone());
            c.set_msr(msr::SF | msr::ME | msr::LE);
            c.pc = CODE;
        }
        (a, b)
    }

    fn put(c: &Cpu, words: &[u32]) {
        for (k, w) in words.iter().enumerate() {
            assert!(c.mem.write(CODE + 4 * k as u64, &w.to_le_bytes()));
        }
    }

    #[test]
    fn a_shootdown_waits_for_the_running_vcpu_to_flush() {
        let (mut a, mut b) = pair();
        put(&a, &[0x4800_0000]); // b .
        let stop = Arc::new(AtomicBool::new(false));
        let b_lines = b.irq.clone();
        let stop_b = stop.clone();
        let t = std::thread::spawn(move || {
            let mut cache = DecodeCache::default();
            while !stop_b.load(SeqCst) {
                let _ = run(&mut b, &mut cache, 100_000);
            }
            // B may have been descheduled between slices (not running, so A did not wait) for
            // the last shootdowns: like a vCPU thread resuming, its next slice catches up first.
            let _ = run(&mut b, &mut cache, 100);
            b.tlb_seen
        });
        while !b_lines.running.load(SeqCst) {
            std::thread::yield_now();
        }
        for _ in 0..1000 {
            a.tlb_shootdown();
            let gen = a.tlb_seen;
            // Returned: B flushed and acknowledged, or is outside `run`, or is just entering it
            // (it sets `running`, then catches up before its first instruction). So within a
            // moment B has acknowledged or is out. (That B never runs an instruction with a stale
            // translation is proven end to end by lpar's bare-metal tlbie test.)
            let t0 = std::time::Instant::now();
            while b_lines.tlb_acked.load(SeqCst) < gen && b_lines.running.load(SeqCst) {
                assert!(t0.elapsed().as_secs() < 5, "B never caught up with {gen}");
                std::thread::yield_now();
            }
        }
        stop.store(true, SeqCst);
        b_lines.raise(0);
        let seen = t.join().expect("vCPU B");
        assert_eq!(seen, a.tlb_seen, "B caught up with every shootdown");
    }

    #[test]
    fn two_vcpus_issuing_tlbie_at_once_do_not_deadlock() {
        let (a, b) = pair();
        // tlbie r0; bdnz .-4; b .
        put(
            &a,
            &[x_form(31, 0, 0, 0, 306, false), 0x4200_fffc, 0x4800_0000],
        );
        let threads: Vec<_> = [a, b]
            .into_iter()
            .map(|mut c| {
                c.ctr = 20_000;
                std::thread::spawn(move || {
                    let mut cache = DecodeCache::default();
                    while c.pc != CODE + 8 {
                        run(&mut c, &mut cache, 1000).expect("no exception");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("vCPU");
        }
    }

    #[test]
    fn icbi_reaches_the_other_vcpus_decode_cache() {
        let (mut a, mut b) = pair();
        // B runs `addi r3,r3,1; b .` ... then A rewrites the addi to add 16 and executes icbi.
        put(&a, &[0x3863_0001, 0x4800_0000]);
        let mut cache_b = DecodeCache::default();
        assert_eq!(run(&mut b, &mut cache_b, 2), Ok(()));
        assert_eq!(b.gpr[3], 1);
        put(&a, &[0x3863_0010]);
        a.invalidate_icache(CODE);
        b.pc = CODE;
        assert_eq!(run(&mut b, &mut cache_b, 1), Ok(()));
        assert_eq!(b.gpr[3], 0x11, "B decoded the page again");
        // Past the queue bound B drops its whole cache instead.
        for p in 0..(2 * ICACHE_QUEUE as u64) {
            a.invalidate_icache(CODE + (p << 12));
        }
        let q = b.irq.icache.lock().expect("queue").clone();
        assert!(q.len() <= ICACHE_QUEUE);
        assert_eq!(q.last(), Some(&ICACHE_ALL));
    }
}
