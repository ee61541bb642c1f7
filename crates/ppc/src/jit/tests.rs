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

/// A loop mixing the inline instruction groups: loads and stores (with update), carries, record
/// forms, rotates, compares, isel, CTR branches; ends with sc.
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
    let mut m = vec![0u8; 1024];
    assert!(c.mem.read(DATA - 8, &mut m));
    (c.gpr.to_vec(), c.cr, c.ctr, c.lr, c.xer.ca, m)
}

fn run_mixed(mk: fn() -> Cpu, cache: &mut DecodeCache) -> (Vec<u64>, u32, u64, u64, bool, Vec<u8>) {
    let mut c = mk();
    put(&c, CODE, &mixed_loop());
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
        assert!(st.blocks >= 2 && st.inline > 20, "{st:?}");
        assert_eq!(st.helpers, 1, "only sc is left to the interpreter: {st:?}");
    }
}

#[test]
fn the_lockstep_checker_runs_translated_blocks_and_finds_no_divergence() {
    let before = super::check::DIVERGENCES.load(std::sync::atomic::Ordering::SeqCst);
    let want = run_mixed(cpu, &mut jit(JitMode::Off));
    let mut cache = jit(JitMode::Check);
    assert_eq!(run_mixed(cpu, &mut cache), want);
    assert!(cache.jit.as_ref().expect("translator").stats.checked >= 90);
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
