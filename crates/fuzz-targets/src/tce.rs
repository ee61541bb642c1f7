//! `tce`: the TCE hcalls (H_PUT_TCE, H_GET_TCE, H_STUFF_TCE, H_PUT_TCE_INDIRECT) against the
//! default PCI host bridge's DMA window (LIOBN 0x80000000, 1 GiB at bus address 0), checked
//! against a model of the table. LIOBNs are biased to the real one (and its neighbours, and
//! values that only match when truncated to 32 bits), I/O bus addresses to the window's edges
//! (0, 1 GiB - 4 KiB, 1 GiB, unaligned, huge), counts to 0/1/512/513/huge, TCE lists to the
//! fuzz-filled data window, the end of RAM, unaligned and wild addresses.
//!
//! Invariants: every call returns H_SUCCESS or H_PARAMETER, and H_SUCCESS exactly when the
//! model says so (the LIOBN names the window, the entries fit in it, a list is page-aligned,
//! at most 512 entries and inside RAM); a successful call sets exactly the modelled entries (a
//! H_GET_TCE after H_PUT_TCE returns the value) and a failing one changes nothing; translation
//! follows the entries' permission bits.
//!
//! Input: byte 0 (vCPU model), the data window (as in `hcall`), then per call: a selector
//! byte and the operands.

use crate::input::Input;
use crate::machine::{cpu, load_data, machine, DATA, DATA_MAX, RAM};
use ppc::CpuModel;
use spapr::hcall::{dispatch, H_PARAMETER, H_SUCCESS};
use spapr::tce::{TceTable, H_GET_TCE, H_PUT_TCE, H_PUT_TCE_INDIRECT, H_STUFF_TCE};

const MAX_CALLS: usize = 16;
const LIOBN: u64 = 0x8000_0000;
const PAGE: u64 = 0x1000;
/// The default DMA window: 1 GiB from bus address 0.
const WINDOW: u64 = spapr::pci::DMA_WINDOW_SIZE;
const ENTRIES: u64 = WINDOW / PAGE;
/// H_PUT_TCE_INDIRECT's limit (one page of TCEs).
const LIST_MAX: u64 = 512;
/// The address mask H_PUT_TCE_INDIRECT applies to its list (as QEMU does).
const LIST_MASK: u64 = 0x0fff_ffff_ffff_f000;

fn liobn(inp: &mut Input) -> u64 {
    match inp.u8() % 10 {
        0..=5 => LIOBN,
        // Bridge 1 (not present), a neighbour.
        6 => LIOBN + 0x100 * (inp.u8() as u64 % 3) + inp.u8() as u64 % 2,
        // Matches only if truncated to 32 bits.
        7 => LIOBN | (1 + inp.u8() as u64) << 32,
        8 => 0,
        _ => inp.u64(),
    }
}

fn ioba(inp: &mut Input, prev: u64) -> u64 {
    match inp.u8() % 12 {
        0 => 0,
        1 | 2 => (inp.u32() as u64 % ENTRIES) * PAGE,
        3 => WINDOW - PAGE,
        4 => WINDOW,
        5 => WINDOW + PAGE,
        6 => (inp.u32() as u64 % ENTRIES) * PAGE + 1 + inp.u16() as u64 % (PAGE - 1),
        7 => WINDOW - PAGE * (inp.u16() as u64 % 1024),
        8 => u64::MAX - inp.u16() as u64,
        9 => prev,
        10 => 1 << (inp.u8() % 64),
        _ => inp.u64(),
    }
}

fn count(inp: &mut Input) -> u64 {
    match inp.u8() % 10 {
        0 => 0,
        1 | 2 => 1,
        3 => LIST_MAX,
        4 => LIST_MAX + 1,
        5 => inp.u8() as u64,
        6 => ENTRIES,
        7 => u64::MAX - inp.u8() as u64,
        8 => inp.u32() as u64,
        _ => inp.u16() as u64,
    }
}

fn tce_value(inp: &mut Input) -> u64 {
    match inp.u8() % 4 {
        // A page of RAM with read/write permission bits.
        0 | 1 => (inp.u32() as u64 % RAM) & !(PAGE - 1) | (inp.u8() as u64 % 4),
        2 => 0,
        _ => inp.u64(),
    }
}

fn list_addr(inp: &mut Input) -> u64 {
    match inp.u8() % 8 {
        0..=2 => DATA + PAGE * (inp.u8() as u64 % (DATA_MAX as u64 / PAGE)),
        3 => RAM - PAGE,
        4 => RAM - 8 * (inp.u16() as u64 % 1024),
        5 => RAM,
        // High bits the mask drops.
        6 => DATA | (inp.u8() as u64) << 56,
        _ => inp.u64(),
    }
}

/// The table as it must be: every entry, and the last ones written (to probe).
struct Model {
    e: Vec<u64>,
    touched: Vec<u64>,
}

impl Model {
    /// The index range `n` entries from `ioba` cover, if inside the window.
    fn range(ioba: u64, n: u64) -> Option<(u64, u64)> {
        let i = ioba / PAGE;
        let end = i.checked_add(n)?;
        (end <= ENTRIES).then_some((i, end))
    }

    fn touch(&mut self, i: u64) {
        if i < ENTRIES {
            self.touched.push(i);
            if self.touched.len() > 64 {
                self.touched.remove(0);
            }
        }
    }

    /// Compares entries `idx` (those inside the window) with the table.
    fn check(&self, t: &TceTable, idx: impl IntoIterator<Item = u64>) {
        for i in idx {
            if i < ENTRIES {
                assert_eq!(
                    t.get(i * PAGE),
                    Some(self.e[i as usize]),
                    "entry {i:#x} (bus address {:#x})",
                    i * PAGE
                );
            }
        }
    }
}

pub fn tce(data: &[u8]) {
    let mut inp = Input::new(data);
    let b0 = inp.u8();
    let m = machine(CpuModel::ALL[b0 as usize & 3], 1);
    let mut c = cpu(&m, 0);
    load_data(&m, &mut inp);
    let t = m
        .tce_table(LIOBN as u32)
        .expect("the default bridge's DMA window");
    assert_eq!(t.size(), WINDOW);
    let mut model = Model {
        e: vec![0; ENTRIES as usize],
        touched: Vec::new(),
    };
    let mut prev = 0;
    for _ in 0..MAX_CALLS {
        if inp.is_empty() {
            break;
        }
        let sel = inp.u8() % 5;
        let l = liobn(&mut inp);
        let a = ioba(&mut inp, prev);
        prev = a;
        let ours = l == LIOBN;
        let (nr, args, want): (u64, [u64; 4], Option<(u64, u64)>) = match sel {
            0 => {
                let v = tce_value(&mut inp);
                let r = Model::range(a, 1).filter(|_| ours);
                (H_PUT_TCE, [l, a, v, 0], r)
            }
            1 => (H_GET_TCE, [l, a, 0, 0], Model::range(a, 1).filter(|_| ours)),
            2 => {
                let v = tce_value(&mut inp);
                let n = count(&mut inp);
                (
                    H_STUFF_TCE,
                    [l, a, v, n],
                    Model::range(a, n).filter(|_| ours),
                )
            }
            _ => {
                let list = list_addr(&mut inp);
                let n = count(&mut inp);
                let readable = (list & LIST_MASK)
                    .checked_add(8 * n.min(LIST_MAX))
                    .is_some_and(|e| e <= RAM);
                let ok = ours && n <= LIST_MAX && list.is_multiple_of(PAGE) && readable;
                (
                    H_PUT_TCE_INDIRECT,
                    [l, a, list, n],
                    Model::range(a, n).filter(|_| ok),
                )
            }
        };
        c.gpr[3] = nr;
        c.gpr[4..8].copy_from_slice(&args);
        dispatch(&m, &mut c);
        let ret = c.gpr[3] as i64;
        crate::trace!("hcall {nr:#x}{args:x?} = {ret}");
        assert!(
            ret == H_SUCCESS || ret == H_PARAMETER,
            "hcall {nr:#x}{args:x?} returned {ret}"
        );
        assert_eq!(
            ret == H_SUCCESS,
            want.is_some(),
            "hcall {nr:#x}{args:x?} returned {ret}, the model expected {want:x?}"
        );
        match (nr, want) {
            (H_GET_TCE, Some((i, _))) => {
                assert_eq!(c.gpr[4], model.e[i as usize], "H_GET_TCE at {a:#x}");
            }
            (H_PUT_TCE, Some((i, _))) | (H_STUFF_TCE, Some((i, _))) => {
                let end = want.map_or(i, |w| w.1);
                model.e[i as usize..end as usize].fill(args[2]);
                model.touch(i);
                model.touch(end.saturating_sub(1));
                if nr == H_PUT_TCE {
                    // Read back through the hcall.
                    c.gpr[3] = H_GET_TCE;
                    c.gpr[4] = l;
                    c.gpr[5] = a;
                    dispatch(&m, &mut c);
                    assert_eq!(c.gpr[3] as i64, H_SUCCESS);
                    assert_eq!(c.gpr[4], args[2], "H_GET_TCE after H_PUT_TCE at {a:#x}");
                }
            }
            (H_PUT_TCE_INDIRECT, Some((i, end))) => {
                let mut list = vec![0u8; 8 * (end - i) as usize];
                assert!(m.mem.read(args[2] & LIST_MASK, &mut list));
                for (k, w) in list.chunks_exact(8).enumerate() {
                    let v = u64::from_be_bytes(w.try_into().expect("8 bytes"));
                    model.e[i as usize + k] = v;
                }
                model.touch(i);
                model.touch(end.saturating_sub(1));
                // Every entry of a list (at most 512).
                model.check(&t, i..end);
            }
            _ => {}
        }
        // The entries around the call's range (which a failing call must leave alone), the
        // recently written ones, and one the input picks.
        let i = a / PAGE;
        let n = args[3].min(ENTRIES);
        let edges = [
            i.wrapping_sub(1),
            i,
            i.wrapping_add(1),
            i.wrapping_add(n).wrapping_sub(1),
            i.wrapping_add(n),
            inp.u32() as u64 % ENTRIES,
        ];
        model.check(&t, edges);
        model.check(&t, model.touched.iter().copied());
        // Translation follows the permission bits.
        let probe = (inp.u32() as u64 % ENTRIES) * PAGE + inp.u16() as u64 % PAGE;
        let e = model.e[(probe / PAGE) as usize];
        for write in [false, true] {
            let need = if write { 2 } else { 1 };
            let want = (e & need != 0).then_some((e & !(PAGE - 1)) | (probe % PAGE));
            assert_eq!(t.translate(probe, write), want, "translate {probe:#x}");
        }
    }
}
