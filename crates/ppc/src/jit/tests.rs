//! Translator tests: translated code must leave exactly the interpreter's state, take
//! interrupts inside tight loops, and drop stale code when the guest or the host says so.

use super::{JitConfig, JitMode};
use crate::cpu::{Cpu, Exception, IrqLines};
use crate::exec::{run, DecodeCache};
use crate::testutil::{cpu, cpu_be, d_form, x_form, xo_form, CODE, DATA};

fn jit(mode: JitMode) -> DecodeCache {
    DecodeCache::with_config(
        1 << 20,
        JitConfig {
            mode,
            threshold: 1,
            background: false,
        },
    )
}

fn put(c: &Cpu, at: u64, words: &[u32]) {
    for (k, w) in words.iter().enumerate() {
        let b = if c.le {
            w.to_le_bytes()
        } else {
            w.to_be_bytes()
        };
        assert!(c.mem.write(at + 4 * k as u64, &b));
    }
}

/// A loop mixing the inline instruction groups: loads and stores (with update), dcbz, carries,
/// record forms, rotates, compares, isel, CTR branches; ends with sc.
fn mixed_loop() -> Vec<u32> {
    let rlwinm = |rs: u32, ra: u32, sh: u32, mb: u32, me: u32| {
        21 << 26 | rs << 21 | ra << 16 | sh << 11 | mb << 6 | me << 1
    };
    let mut p = vec![
        d_form(14, 3, 0, 0),             // li r3,0
        d_form(14, 4, 0, 100),           // li r4,100
        x_form(31, 4, 9, 0, 467, false), // mtctr r4
        d_form(24, 0, 5, DATA as u16),   // ori r5,r0,DATA
        d_form(14, 11, 0, -3i16 as u16), // li r11,-3
        d_form(14, 17, 0, 256),          // li r17,256
    ];
    let top = p.len();
    p.extend([
        d_form(32, 6, 5, 0),                                        // lwz r6,0(r5)
        xo_form(31, 6, 6, 3, false, 266, false),                    // add r6,r6,r3
        d_form(36, 6, 5, 0),                                        // stw r6,0(r5)
        rlwinm(3, 7, 3, 0, 28),                                     // rlwinm r7,r3,3,0,28
        xo_form(31, 8, 7, 6, false, 40, true),                      // subf. r8,r7,r6
        d_form(12, 3, 3, 7),                                        // addic r3,r3,7
        xo_form(31, 9, 9, 3, false, 138, false),                    // adde r9,r9,r3
        d_form(11, 4, 3, 50),                                       // cmpwi cr1,r3,50
        31 << 26 | 10 << 21 | 3 << 16 | 9 << 11 | 5 << 6 | 15 << 1, // isel r10,r3,r9,5
        62 << 26 | 3 << 21 | 5 << 16 | 8 | 1,                       // stdu r3,8(r5)
        x_form(31, 0, 5, 17, 1014, false),                          // dcbz r5,r17 (ahead)
        x_form(31, 11, 12, 0, 824, true) | 4 << 11,                 // srawi. r12,r11,4
        xo_form(31, 13, 11, 9, false, 233, false),                  // mulld r13,r11,r9
        xo_form(31, 14, 13, 9, false, 9, false),                    // mulhdu r14,r13,r9
        x_form(31, 11, 15, 0, 26, false),                           // cntlzw r15,r11
        d_form(58, 16, 5, 0xfff8),                                  // ld r16,-8(r5)
        x_form(31, 11, 11, 3, 316, false),                          // xor r11,r11,r3
    ]);
    let here = p.len();
    let bd = ((top as i32 - here as i32) * 4) as u32 & 0xfffc;
    p.push(16 << 26 | 16 << 21 | bd); // bdnz top
                                      // The loop's superblock would run on into its fall-through: end it with a branch, so the
                                      // loop is all inline (and checkable) and sc is a block of its own.
    p.push(0x4800_0008); // b .+8
    p.push(0); // never reached
    p.push(0x4400_0002); // sc
    p
}

fn state(c: &Cpu) -> (Vec<u64>, u32, u64, u64, bool, Vec<u8>) {
    let mut m = vec![0u8; 2048];
    assert!(c.mem.read(DATA - 8, &mut m));
    (c.gpr.to_vec(), c.cr, c.ctr, c.lr, c.xer.ca, m)
}

fn run_mixed(mk: fn() -> Cpu, cache: &mut DecodeCache) -> (Vec<u64>, u32, u64, u64, bool, Vec<u8>) {
    let mut c = mk();
    put(&c, CODE, &mixed_loop());
    // Data that is not zero, so that what dcbz clears (ahead of the stores) shows.
    let fill: Vec<u8> = (0..2048u32).map(|i| (i * 7 + 1) as u8 | 1).collect();
    assert!(c.mem.write(DATA - 8, &fill));
    c.pc = CODE;
    assert_eq!(
        run(&mut c, cache, 1_000_000),
        Err(Exception::SystemCall { lev: 0 })
    );
    state(&c)
}

#[test]
fn translated_code_leaves_the_interpreters_state_in_both_byte_orders() {
    for mk in [cpu as fn() -> Cpu, cpu_be] {
        let want = run_mixed(mk, &mut jit(JitMode::Off));
        let mut cache = jit(JitMode::On);
        let got = run_mixed(mk, &mut cache);
        assert_eq!(got, want);
        let st = cache.jit.as_ref().expect("translator").stats;
        assert!(st.blocks >= 1 && st.inline > 20, "{st:?}");
        assert!(st.regions >= 1, "the loop runs as a region: {st:?}");
        assert_eq!(st.helpers, 1, "only sc is left to the interpreter: {st:?}");
    }
}

#[test]
fn the_lockstep_checker_runs_translated_blocks_and_finds_no_divergence() {
    let before = super::check::DIVERGENCES.load(std::sync::atomic::Ordering::SeqCst);
    let want = run_mixed(cpu, &mut jit(JitMode::Off));
    let mut cache = jit(JitMode::Check);
    assert_eq!(run_mixed(cpu, &mut cache), want);
    let st = cache.jit.as_ref().expect("translator").stats;
    assert!(
        st.checked >= 1 && st.regions >= 1,
        "the loop is checked as a region: {st:?}"
    );
    assert_eq!(
        super::check::DIVERGENCES.load(std::sync::atomic::Ordering::SeqCst),
        before
    );
}

#[test]
fn an_interrupt_stops_a_translated_tight_loop() {
    let mut c = cpu();
    c.async_irqs = true;
    put(&c, CODE, &[0x4800_0000]); // b .
                                   // The external interrupt vector runs big-endian (LPCR[ILE]=0): sc there.
    assert!(c.mem.write(0x500, &0x4400_0002u32.to_be_bytes()));
    c.pc = CODE;
    let lines = c.irq.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(50));
        lines.raise(IrqLines::EXTERNAL);
    });
    let mut cache = jit(JitMode::On);
    assert_eq!(
        run(&mut c, &mut cache, u64::MAX),
        Err(Exception::SystemCall { lev: 0 })
    );
    t.join().expect("thread");
    assert_eq!(c.pc, 0x504);
    assert!(c.icount > 1000, "the loop ran translated for a while");
    assert!(cache.jit.as_ref().expect("translator").stats.blocks >= 1);
}

#[test]
fn icbi_and_host_writes_drop_stale_translations() {
    let mut c = cpu();
    let mut cache = jit(JitMode::On);
    let go = |c: &mut Cpu, cache: &mut DecodeCache| {
        c.pc = CODE;
        assert_eq!(
            run(c, cache, 1_000_000),
            Err(Exception::SystemCall { lev: 0 })
        );
        c.gpr[3]
    };
    put(&c, CODE, &[d_form(14, 3, 0, 1), 0x4400_0002]);
    for _ in 0..5 {
        assert_eq!(go(&mut c, &mut cache), 1);
    }
    assert!(cache.jit.as_ref().expect("translator").stats.blocks >= 1);
    // The guest rewrites its code and says so (icbi).
    put(&c, CODE, &[d_form(14, 3, 0, 2)]);
    c.invalidate_icache(CODE);
    assert_eq!(go(&mut c, &mut cache), 2);
    // The host writes guest code (loader, DMA) and invalidates the range.
    put(&c, CODE, &[d_form(14, 3, 0, 3)]);
    cache.invalidate_range(CODE, 4);
    assert_eq!(go(&mut c, &mut cache), 3);
}

#[test]
fn budgets_are_exact_with_the_translator() {
    let mut c = cpu();
    put(&c, CODE, &[d_form(14, 3, 3, 1), 0x4bff_fffc]); // addi r3,r3,1; b .-4
    let mut cache = jit(JitMode::On);
    c.pc = CODE;
    for _ in 0..10 {
        assert_eq!(run(&mut c, &mut cache, 1001), Ok(()));
    }
    assert_eq!(c.icount, 10_010);
    assert_eq!(c.gpr[3], 5005);
}

/// A loop over the inline forms of CR moves, FPR loads/stores, VSX logicals, cmpb, popcntd,
/// sraw, the hints and barriers, and branches on lazily formed CR fields; ends with sc.
fn more_loop() -> Vec<u32> {
    let xx3 = |xo: u32, t: u32, a: u32, b: u32| {
        60 << 26
            | (t & 31) << 21
            | (a & 31) << 16
            | (b & 31) << 11
            | xo << 3
            | (a >> 5) << 2
            | (b >> 5) << 1
            | t >> 5
    };
    let mut p = vec![
        d_form(14, 4, 0, 40),            // li r4,40
        x_form(31, 4, 9, 0, 467, false), // mtctr r4
        d_form(24, 0, 5, DATA as u16),   // ori r5,r0,DATA
        d_form(14, 20, 0, 0x1234),       // li r20,0x1234
        d_form(14, 30, 0, 8),            // li r30,8
    ];
    let top = p.len();
    p.extend([
        d_form(14, 20, 20, 0x3b1),                            // addi r20,r20,0x3b1
        x_form(31, 20, 20, 20, 233, false),                   // mulld r20,r20,r20 (spread bits)
        d_form(15, 20, 20, 0x8001),                           // addis r20,r20,-0x7fff
        31 << 26 | 20 << 21 | 0x5a << 12 | 144 << 1,          // mtcrf 0x5a,r20
        31 << 26 | 21 << 21 | 1 << 20 | 0x10 << 12 | 19 << 1, // mfocrf r21,0x10
        31 << 26 | 22 << 21 | 19 << 1,                        // mfcr r22
        d_form(26, 20, 18, 0x4500),                           // xori r18,r20,0x4500
        x_form(31, 20, 23, 18, 508, false),                   // cmpb r23,r20,r18
        x_form(31, 20, 24, 0, 506, false),                    // popcntd r24,r20
        d_form(28, 20, 27, 63),                               // andi. r27,r20,63
        x_form(31, 23, 26, 27, 792, false),                   // sraw r26,r23,r27
        x_form(31, 20, 28, 4, 792, true),                     // sraw. r28,r20,r4
        x_form(31, 0, 5, 4, 278, false),                      // dcbt r5,r4
        62 << 26 | 20 << 21 | 5 << 16,                        // std r20,0(r5)
        d_form(50, 1, 5, 0),                                  // lfd f1,0(r5)
        d_form(54, 1, 5, 16),                                 // stfd f1,16(r5)
        x_form(31, 2, 5, 30, 599, false),                     // lfdx f2,r5,r30
        d_form(55, 2, 5, 24),                                 // stfdu f2,24(r5)
        xx3(154, 3, 3, 3),                                    // xxlxor vs3,vs3,vs3
        xx3(146, 34, 1, 2),                                   // xxlor vs34,vs1,vs2
        xx3(162, 4, 1, 34),                                   // xxlnor vs4,vs1,vs34
        xx3(154, 5, 4, 34),                                   // xxlxor vs5,vs4,vs34
        19 << 26 | 150 << 1,                                  // isync
        31 << 26 | 1 << 21 | 598 << 1,                        // lwsync
        31 << 26 | 598 << 1,                                  // sync
        x_form(31, 6, 20, 22, 0, false) | 1 << 21,            // cmpd cr6,r20,r22
        16 << 26 | 4 << 21 | 26 << 16 | 8,                    // bne cr6,.+8
        d_form(14, 29, 29, 1),                                // addi r29,r29,1
        x_form(31, 7, 20, 21, 32, false),                     // cmplw cr7,r20,r21
        31 << 26 | 31 << 21 | 20 << 16 | 21 << 11 | 29 << 6 | 15 << 1, // isel r31,r20,r21,29
        31 << 26 | 19 << 21 | 19 << 1,                        // mfcr r19
    ]);
    let here = p.len();
    let bd = ((top as i32 - here as i32) * 4) as u32 & 0xfffc;
    p.push(16 << 26 | 16 << 21 | bd); // bdnz top
    p.push(0x4800_0008); // b .+8
    p.push(0);
    p.push(0x4400_0002); // sc
    p
}

type Full = (Vec<u64>, u32, u64, bool, Vec<u8>, Vec<[u64; 2]>);

fn run_more(mk: fn() -> Cpu, cache: &mut DecodeCache) -> Full {
    let mut c = mk();
    put(&c, CODE, &more_loop());
    c.pc = CODE;
    assert_eq!(
        run(&mut c, cache, 1_000_000),
        Err(Exception::SystemCall { lev: 0 })
    );
    let mut m = vec![0u8; 2048];
    assert!(c.mem.read(DATA, &mut m));
    (c.gpr.to_vec(), c.cr, c.ctr, c.xer.ca, m, c.vsr.to_vec())
}

#[test]
fn cr_moves_fpr_and_vsx_forms_match_the_interpreter() {
    for mk in [cpu as fn() -> Cpu, cpu_be] {
        let want = run_more(mk, &mut jit(JitMode::Off));
        let mut cache = jit(JitMode::On);
        assert_eq!(run_more(mk, &mut cache), want);
        let st = cache.jit.as_ref().expect("translator").stats;
        assert_eq!(st.helpers, 1, "only sc is left to the interpreter: {st:?}");
        assert!(st.regions >= 1, "the loop runs as a region: {st:?}");
    }
}

#[test]
fn a_translated_fpr_load_with_fp_off_raises_fp_unavailable_at_its_pc() {
    let go = |mode| {
        let mut c = cpu();
        c.set_msr(c.msr & !crate::cpu::msr::FP);
        put(
            &c,
            CODE,
            &[
                d_form(14, 3, 0, 1),           // li r3,1
                d_form(24, 0, 5, DATA as u16), // ori r5,r0,DATA
                d_form(50, 1, 5, 0),           // lfd f1,0(r5)
                0x4400_0002,
            ],
        );
        c.pc = CODE;
        let mut cache = jit(mode);
        let r = run(&mut c, &mut cache, 1000);
        let blocks = cache.jit.as_ref().map_or(0, |j| j.stats.blocks);
        assert_eq!(blocks > 0, mode == JitMode::On);
        (r, c.pc, c.gpr[3], c.icount)
    };
    let want = go(JitMode::Off);
    assert_eq!(want.0, Err(Exception::FpUnavailable));
    assert_eq!(want.1, CODE + 8);
    assert_eq!(go(JitMode::On), want);
}

/// Region discovery stops at a prefixed instruction whose suffix lies beyond the slots it was
/// given (a loop whose branch reaches the end of the translation window), instead of reading
/// past them.
#[test]
fn a_region_reaching_a_prefixed_instruction_at_the_window_end_translates() {
    let mem = std::sync::Arc::new(crate::mem::GuestMemory::new(1 << 20).expect("mmap"));
    let mut c = Cpu::new(crate::cpu::CpuModel::Power10, mem);
    {
        use crate::cpu::msr::*;
        c.set_msr(SF | PR | FP | VEC | VSX | LE | EE);
    }
    let mut p = vec![0x6000_0000u32; 128]; // nop
    p[0] = 16 << 26 | 12 << 21 | 2 << 16 | 480; // beq cr0,.+480 (to word 120; cr0 is clear)
    p[1] = 0x4bff_fffc; // b .-4: the loop back to the start
    for w in &mut p[120..127] {
        *w = d_form(14, 3, 3, 1); // addi r3,r3,1
    }
    p[127] = 0x0600_0000; // the prefix of a paddi whose suffix is word 128
    p.push(d_form(14, 4, 4, 1)); // suffix: (p)addi r4,r4,1
    put(&c, CODE, &p);
    c.pc = CODE;
    let mut cache = jit(JitMode::On);
    assert_eq!(run(&mut c, &mut cache, 10_000), Ok(()));
    let st = cache.jit.as_ref().expect("translator").stats;
    assert!(st.regions >= 1, "{st:?}");
    assert_eq!(c.icount, 10_000);
}

/// Sixteen bytes of device registers at one real address outside RAM, recording each access.
struct Regs {
    base: u64,
    bytes: std::sync::Mutex<[u8; 16]>,
    accesses: std::sync::atomic::AtomicU64,
}

impl crate::mem::Mmio for Regs {
    fn read(&self, ra: u64, data: &mut [u8]) -> bool {
        let Some(off) = ra
            .checked_sub(self.base)
            .filter(|o| o + data.len() as u64 <= 16)
        else {
            return false;
        };
        let b = self.bytes.lock().expect("regs");
        data.copy_from_slice(&b[off as usize..off as usize + data.len()]);
        self.accesses
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        true
    }
    fn write(&self, ra: u64, data: &[u8]) -> bool {
        let Some(off) = ra
            .checked_sub(self.base)
            .filter(|o| o + data.len() as u64 <= 16)
        else {
            return false;
        };
        let mut b = self.bytes.lock().expect("regs");
        b[off as usize..off as usize + data.len()].copy_from_slice(data);
        self.accesses
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        true
    }
}

/// Loads and stores outside RAM reach the device bus, in the interpreter and from translated
/// code (whose inline path leaves them to the interpreter), in the guest's byte order; an address
/// no device claims still raises the data storage interrupt.
#[test]
fn mmio_accesses_reach_the_device_from_interpreted_and_translated_code() {
    const BASE: u64 = 1 << 32;
    for (be, mk) in [(false, cpu as fn() -> Cpu), (true, cpu_be)] {
        let mut results = Vec::new();
        for mode in [JitMode::Off, JitMode::On] {
            let regs = std::sync::Arc::new(Regs {
                base: BASE,
                bytes: std::sync::Mutex::new([0; 16]),
                accesses: Default::default(),
            });
            let mut c = mk();
            c.mmio = Some(regs.clone());
            c.gpr[4] = BASE;
            c.ctr = 50;
            put(
                &c,
                CODE,
                &[
                    d_form(36, 3, 4, 4),                          // stw r3,4(r4)
                    d_form(32, 5, 4, 4),                          // lwz r5,4(r4)
                    xo_form(31, 6, 6, 5, false, 266, false),      // add r6,r6,r5
                    d_form(14, 3, 3, 1),                          // addi r3,r3,1
                    16 << 26 | 16 << 21 | (-16i16 as u16 as u32), // bdnz .-16
                    0x4400_0002,                                  // sc
                ],
            );
            c.pc = CODE;
            let mut cache = jit(mode);
            assert_eq!(
                run(&mut c, &mut cache, 1_000_000),
                Err(Exception::SystemCall { lev: 0 })
            );
            let bytes = *regs.bytes.lock().expect("regs");
            let n = regs.accesses.load(std::sync::atomic::Ordering::Relaxed);
            let blocks = cache.jit.as_ref().map_or(0, |j| j.stats.blocks);
            assert_eq!(blocks > 0, mode == JitMode::On);
            results.push((c.gpr[5], c.gpr[6], bytes, n));
            // Nothing answers 0x100 bytes further: a data storage interrupt, as outside RAM.
            put(&c, CODE, &[d_form(32, 7, 4, 0x100)]); // lwz r7,0x100(r4)
            cache.invalidate_range(CODE, 4);
            c.pc = CODE;
            assert!(matches!(
                run(&mut c, &mut cache, 1),
                Err(Exception::DataStorage { write: false, .. })
            ));
        }
        let (r5, r6, bytes, n) = results[0];
        assert_eq!((r5, r6, n), (49, (0..50).sum::<u64>(), 100));
        let want = if be { [0, 0, 0, 49] } else { [49, 0, 0, 0] };
        assert_eq!(bytes[4..8], want);
        assert_eq!(results[1], results[0], "translated code as the interpreter");
    }
}

/// POWER9 snoops stores into the instruction cache and Linux counts on it (it issues no icbi for
/// a page it fills with new code): a store by the guest, or a device's write, into code that
/// already ran must be seen by the next execution, translated or interpreted.
#[test]
fn stores_and_dma_into_code_are_seen_without_icbi() {
    const B: u64 = CODE + 0x1000;
    for mode in [JitMode::Off, JitMode::On, JitMode::Check] {
        let mut c = cpu();
        let mut cache = jit(mode);
        // A: bl B; stw r5,0(r6); bl B; sc        B: addi r3,r3,1; blr
        put(
            &c,
            CODE,
            &[0x4800_1001, d_form(36, 5, 6, 0), 0x4800_0ff9, 0x4400_0002],
        );
        put(&c, B, &[d_form(14, 3, 3, 1), 0x4e80_0020]);
        c.gpr[5] = d_form(14, 3, 3, 16) as u64; // addi r3,r3,16
        c.gpr[6] = B;
        assert_eq!(
            run(&mut c, &mut cache, 1000),
            Err(Exception::SystemCall { lev: 0 })
        );
        assert_eq!(c.gpr[3], 17, "{mode:?}: the stored instruction ran");
        // A device writes B (DMA through a host pointer) and says so.
        let p = c.mem.ptr(B, 4).expect("B in memory");
        // SAFETY: 4 bytes inside guest memory; nothing else accesses them meanwhile.
        unsafe { p.copy_from(d_form(14, 3, 3, 100).to_le_bytes().as_ptr(), 4) };
        c.mem.note_write(B, 4);
        c.gpr[3] = 0;
        c.pc = CODE + 8;
        assert_eq!(
            run(&mut c, &mut cache, 1000),
            Err(Exception::SystemCall { lev: 0 })
        );
        assert_eq!(c.gpr[3], 100, "{mode:?}: the DMA-written instruction ran");
    }
}
