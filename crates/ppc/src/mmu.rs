//! Address translation: real mode, the POWER9 radix MMU (process-scoped, for a partition whose
//! partition-scoped translation is the identity, as under a virtual hypervisor), the hash MMU
//! (`mmu_hash.rs`), and a software TLB that caches page translations as host-pointer addends.
//!
//! Radix tables live in guest real memory and are big-endian regardless of MSR[LE].

use crate::cpu::{lpcr, msr, sprn, Cpu, Exception};
use crate::interrupt::{DSISR_NOPTE, DSISR_PROT, DSISR_RC};

#[path = "mmu_hash.rs"]
mod hash;
pub use hash::{
    hpte, hpte_page_shift_any, slb, Hpt, SegmentPageSize, SlbEntry, FAULT_KEY, FAULT_NOEXEC,
    SEGMENT_PAGE_SIZES, SLB_SIZE, VRMA_MAX,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    Exec,
}

const PAGE: u64 = 4096;
/// Entries per vCPU (64 bytes each: 256 KiB, allocated zeroed so untouched ones cost no memory).
/// 4096 measured best for a multi-process guest workload against 256 and 1024 (bench/guest.sh
/// sort: 2.0 s at 256, 1.7 s at 1024, 1.5 s at 4096).
pub(crate) const TLB_SIZE: usize = 4096;
/// No tag: valid tags have bit 0 set (`tag`), so an all-zero entry is empty.
const NO_TAG: u64 = 0;

/// One software-TLB line: a 4 KiB page translation, with a tag per access kind so that a page may be
/// readable but not yet writable (C bit clear) or not executable.
/// 64 bytes (a cache line, a power of two): generated code finds an entry with a shift and a mask.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
pub struct TlbEntry {
    tag_r: u64,
    tag_w: u64,
    tag_x: u64,
    /// Host address of the page minus the page's EA (wrapping).
    addend: u64,
    /// Guest real address of the page.
    ra: u64,
}

impl Default for TlbEntry {
    fn default() -> Self {
        TlbEntry {
            tag_r: NO_TAG,
            tag_w: NO_TAG,
            tag_x: NO_TAG,
            addend: 0,
            ra: 0,
        }
    }
}

const _: () = assert!(NO_TAG == 0 && TLB_SIZE <= 1 << 16);

// Layout facts the translator's inline TLB probe relies on (`crate::jit`).
pub(crate) const TLB_ENTRY_SIZE: usize = std::mem::size_of::<TlbEntry>();
const _: () = assert!(TLB_ENTRY_SIZE.is_power_of_two() && TLB_ENTRY_SIZE <= 4096);
pub(crate) const TLB_TAG_R: usize = std::mem::offset_of!(TlbEntry, tag_r);
pub(crate) const TLB_TAG_W: usize = std::mem::offset_of!(TlbEntry, tag_w);
pub(crate) const TLB_ADDEND: usize = std::mem::offset_of!(TlbEntry, addend);
pub(crate) const TLB_TAG_X: usize = std::mem::offset_of!(TlbEntry, tag_x);
pub(crate) const TLB_RA: usize = std::mem::offset_of!(TlbEntry, ra);
/// Offset in `Tlb` of the pointer to its entries.
pub(crate) const TLB_ENTRIES_OFFSET: usize = std::mem::offset_of!(Tlb, e);

/// The software TLB of one vCPU.
pub struct Tlb {
    pub(crate) e: Box<[TlbEntry; TLB_SIZE]>,
    /// The slots filled since the last flush, each once: a flush (every context switch of a
    /// radix guest) clears only those, so the table can be large.
    used: Vec<u16>,
}

impl Default for Tlb {
    fn default() -> Self {
        Tlb {
            // SAFETY: every field of TlbEntry is a u64, so all-zero bytes are a valid (empty,
            // NO_TAG == 0) entry; zeroed memory is only touched as entries are filled.
            e: unsafe { Box::<[TlbEntry; TLB_SIZE]>::new_zeroed().assume_init() },
            used: Vec::with_capacity(TLB_SIZE),
        }
    }
}

impl Tlb {
    pub fn flush(&mut self) {
        for &s in &self.used {
            self.e[s as usize] = TlbEntry::default();
        }
        self.used.clear();
    }

    /// Drops the write permission of every entry mapping the page at real address `ra` (`None`:
    /// of every entry), so that stores to it take the slow path (see `mem::CodeMap`).
    pub(crate) fn drop_writes(&mut self, ra: Option<u64>) {
        for &s in &self.used {
            let e = &mut self.e[s as usize];
            if ra.is_none_or(|ra| e.ra == ra & !(PAGE - 1)) {
                e.tag_w = NO_TAG;
            }
        }
    }

    /// Drops the entries of quadrants 0-2 and keeps quadrant 3's (EA top bits 0b11: a radix
    /// guest's kernel, translated through process-table entry 0 whatever PIDR says). A context
    /// switch changes PIDR and so the user quadrant only; keeping the kernel's translations
    /// spares a table walk per kernel page after every switch.
    pub fn flush_user(&mut self) {
        let mut keep = 0;
        for i in 0..self.used.len() {
            let s = self.used[i] as usize;
            let e = &self.e[s];
            let tag = [e.tag_r, e.tag_w, e.tag_x]
                .into_iter()
                .find(|&t| t != NO_TAG)
                .unwrap_or(NO_TAG);
            if tag != NO_TAG && tag >> 62 == 3 {
                self.used[keep] = s as u16;
                keep += 1;
            } else {
                self.e[s] = TlbEntry::default();
            }
        }
        self.used.truncate(keep);
    }
}

/// Tag of a page for the current privilege: page EA with MSR[PR] folded into bit 1 (page
/// addresses have their low 12 bits clear), so user and kernel lookups never share an entry,
/// and bit 0 set (a valid tag is never NO_TAG).
#[inline(always)]
fn tag(ea: u64, pr: bool) -> u64 {
    (ea & !(PAGE - 1)) | tag_bits(pr)
}

/// The low bits of a tag (generated code builds tags too).
#[inline(always)]
pub(crate) const fn tag_bits(pr: bool) -> u64 {
    (pr as u64) << 1 | 1
}

#[inline(always)]
fn slot(ea: u64) -> usize {
    ((ea >> 12) as usize) & (TLB_SIZE - 1)
}

/// A radix leaf: the real address of the page containing the EA and its PTE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Leaf {
    pub ra: u64,
    pub pte: u64,
    pub page_shift: u32,
}

/// Why a radix walk failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WalkFault {
    /// EA outside the quadrant's tree, bad quadrant, or PID beyond the process table: a segment
    /// interrupt.
    Segment,
    /// No valid PTE: DSI/ISI with "no translation".
    NoPte,
}

pub mod pte {
    pub const V: u64 = 1 << 63;
    pub const L: u64 = 1 << 62;
    pub const RPN: u64 = 0x01ff_ffff_ffff_f000;
    pub const NLB: u64 = 0x0fff_ffff_ffff_ff00;
    pub const R: u64 = 1 << 8;
    pub const C: u64 = 1 << 7;
    pub const PRIV: u64 = 1 << 3;
    pub const READ: u64 = 1 << 2;
    pub const RW: u64 = 1 << 1;
    pub const EXEC: u64 = 1;
}

impl Cpu {
    /// Radix process-scoped walk of `ea` for `pid` (PRTE from the partition table entry).
    pub fn radix_walk(&self, ea: u64) -> Result<Leaf, WalkFault> {
        let pid = match ea >> 62 {
            0 => self.spr[sprn::PIDR] & 0xffff_ffff,
            3 => 0,
            _ => return Err(WalkFault::Segment),
        };
        let prtb = self.pate[1] & 0x0fff_ffff_ffff_f000;
        let prts = self.pate[1] & 0x1f;
        // Process table size is 2^(12+PRTS) bytes of 16-byte entries.
        if prts > 24 || pid >= 1u64 << (prts + 12 - 4) {
            return Err(WalkFault::Segment);
        }
        let prte0 = self
            .read_be64_real(prtb + pid * 16)
            .ok_or(WalkFault::NoPte)?;
        let rts = (((prte0 >> 61) & 3) << 3 | (prte0 >> 5) & 7) as u32 + 31;
        if rts > 62 {
            return Err(WalkFault::Segment);
        }
        let off = ea & 0x3fff_ffff_ffff_ffff;
        if off >> rts != 0 {
            return Err(WalkFault::Segment);
        }
        let mut base = prte0 & pte::NLB;
        let mut nls = (prte0 & 0x1f) as u32;
        let mut shift = rts;
        // Each level consumes at least 5 bits, so this ends within 11 levels.
        loop {
            if nls < 5 || nls > shift {
                return Err(WalkFault::NoPte);
            }
            shift -= nls;
            let idx = (off >> shift) & ((1 << nls) - 1);
            let e = self
                .read_be64_real(base + idx * 8)
                .ok_or(WalkFault::NoPte)?;
            if e & pte::V == 0 {
                return Err(WalkFault::NoPte);
            }
            if e & pte::L != 0 {
                if shift < 12 {
                    return Err(WalkFault::NoPte);
                }
                let mask = (1u64 << shift) - 1;
                return Ok(Leaf {
                    ra: (e & pte::RPN & !mask) | (off & mask),
                    pte: e,
                    page_shift: shift,
                });
            }
            base = e & pte::NLB;
            nls = (e & 0x1f) as u32;
        }
    }

    fn read_be64_real(&self, ra: u64) -> Option<u64> {
        let mut b = [0u8; 8];
        self.mem.read(ra, &mut b).then(|| u64::from_be_bytes(b))
    }

    /// True when data (or, with `insn`, instruction) accesses are translated.
    #[inline(always)]
    pub fn relocating(&self, insn: bool) -> bool {
        self.msr & if insn { msr::IR } else { msr::DR } != 0
    }

    /// Full translation of `ea` to a guest real address, checking permissions. On a fault sets
    /// `fault_bits` (DSISR or SRR1 cause) and returns the interrupt to take.
    pub fn translate(&mut self, ea: u64, acc: Access) -> Result<u64, Exception> {
        if !self.relocating(acc == Access::Exec) {
            // Guest real mode: EA bits 0:3 are ignored; a hash partition reaches only its RMA.
            let ra = ea & 0x0fff_ffff_ffff_ffff;
            if self.beyond_vrma(ra) {
                self.fault_bits = DSISR_NOPTE;
                return Err(match acc {
                    Access::Exec => Exception::InstructionStorage { ea },
                    _ => Exception::DataStorage {
                        ea,
                        write: acc == Access::Write,
                    },
                });
            }
            return Ok(ra);
        }
        let fault = |cpu: &mut Cpu, bits: u64| -> Exception {
            cpu.fault_bits = bits;
            match acc {
                Access::Exec => Exception::InstructionStorage { ea },
                _ => Exception::DataStorage {
                    ea,
                    write: acc == Access::Write,
                },
            }
        };
        if self.spr[sprn::LPCR] & lpcr::HR == 0 {
            return self.hash_translate(ea, acc);
        }
        let leaf = match self.radix_walk(ea) {
            Ok(l) => l,
            Err(WalkFault::Segment) => {
                return Err(match acc {
                    Access::Exec => Exception::InstructionSegment { ea },
                    _ => Exception::DataSegment { ea },
                })
            }
            Err(WalkFault::NoPte) => return Err(fault(self, DSISR_NOPTE)),
        };
        let p = leaf.pte;
        let user = self.pr();
        let ok = if user && p & pte::PRIV != 0 {
            false
        } else {
            match acc {
                Access::Read => p & (pte::READ | pte::RW) != 0,
                Access::Write => p & pte::RW != 0,
                Access::Exec => p & pte::EXEC != 0,
            }
        };
        if !ok {
            return Err(fault(self, DSISR_PROT));
        }
        if p & pte::R == 0 || (acc == Access::Write && p & pte::C == 0) {
            return Err(fault(self, DSISR_RC));
        }
        Ok(leaf.ra)
    }

    /// Fast path: host pointer for `len` bytes at `ea` if they lie in one cached, permitted page
    /// (or in real mode, in RAM). None sends the caller to the slow path.
    #[inline(always)]
    pub fn xlate_fast(&self, ea: u64, len: u64, acc: Access) -> Option<*mut u8> {
        if !self.relocating(acc == Access::Exec) {
            let ra = ea & 0x0fff_ffff_ffff_ffff;
            if self.beyond_vrma(ra) {
                return None;
            }
            // A store to a page holding decoded code: every vCPU drops that code before its next
            // instruction (`mem::CodeMap`). Real mode has no TLB to keep stores off the page.
            if acc == Access::Write
                && (self.mem.is_code(ra)
                    || self.mem.is_code(ra.wrapping_add(len.saturating_sub(1))))
                && self.mem.note_write(ra, len)
            {
                self.irq.raise(0);
            }
            return self.mem.ptr(ra, len);
        }
        if (ea & (PAGE - 1)) + len > PAGE {
            return None;
        }
        let e = &self.tlb.e[slot(ea)];
        let t = tag(ea, self.pr());
        let hit = match acc {
            Access::Read => e.tag_r == t,
            Access::Write => e.tag_w == t,
            Access::Exec => e.tag_x == t,
        };
        hit.then(|| ea.wrapping_add(e.addend) as usize as *mut u8)
    }

    /// Slow path: translates, fills the TLB, and returns the host pointer of the byte at `ea`.
    /// The pointer is valid to the end of the 4 KiB page.
    pub fn xlate_page(&mut self, ea: u64, acc: Access) -> Result<*mut u8, Exception> {
        let ra = self.translate(ea, acc)?;
        let page_ra = ra & !(PAGE - 1);
        // The store about to be made may change code this or another vCPU decoded: every vCPU
        // drops it before its next instruction (the store's own vCPU too: EXIT).
        if acc == Access::Write && self.mem.is_code(page_ra) && self.mem.note_write(page_ra, 1) {
            self.irq.raise(0);
        }
        let host = match self.mem.ptr(page_ra, PAGE) {
            Some(h) => h,
            None => {
                // Translated outside RAM: no device answers there yet.
                self.fault_bits = DSISR_NOPTE;
                return Err(match acc {
                    Access::Exec => Exception::InstructionStorage { ea },
                    _ => Exception::DataStorage {
                        ea,
                        write: acc == Access::Write,
                    },
                });
            }
        };
        if self.relocating(acc == Access::Exec) {
            let t = tag(ea, self.pr());
            let s = slot(ea);
            let page_ea = ea & !(PAGE - 1);
            let addend = (host as usize as u64).wrapping_sub(page_ea);
            let e = &mut self.tlb.e[s];
            // An entry with no tag at all was not filled since the last flush (a filled one
            // keeps a tag until the flush clears it).
            if e.tag_r == NO_TAG && e.tag_w == NO_TAG && e.tag_x == NO_TAG {
                self.tlb.used.push(s as u16);
            }
            let e = &mut self.tlb.e[s];
            if e.tag_r != t && e.tag_w != t && e.tag_x != t || e.addend != addend {
                *e = TlbEntry::default();
            }
            e.addend = addend;
            e.ra = page_ra;
            match acc {
                Access::Read => e.tag_r = t,
                Access::Write => {
                    // A store implies read permission was granted too (RW covers it).
                    e.tag_w = t;
                    e.tag_r = t;
                }
                Access::Exec => e.tag_x = t,
            }
        }
        // SAFETY: host points at a whole page inside the mapping; the offset is below PAGE.
        Ok(unsafe { host.add((ra & (PAGE - 1)) as usize) })
    }

    /// Drops every cached translation (tlbie, PID/LPCR/partition-table changes).
    pub fn tlb_flush(&mut self) {
        self.tlb.flush();
        self.end_slice();
    }

    /// Drops the translations a new PIDR changes (quadrant 0; see `Tlb::flush_user`).
    pub fn tlb_flush_user(&mut self) {
        self.tlb.flush_user();
        self.end_slice();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::cpu;

    #[test]
    fn a_pid_change_keeps_the_kernel_quadrant() {
        let mut t = Tlb::default();
        let user = 0x0000_7fff_1234_5000u64;
        let kernel = 0xc000_0000_0123_4000u64;
        for (ea, ra) in [(user, 0x10_0000), (kernel, 0x20_0000)] {
            let s = slot(ea);
            t.e[s].tag_r = tag(ea, false);
            t.e[s].ra = ra;
            t.used.push(s as u16);
        }
        t.flush_user();
        assert_eq!(t.e[slot(user)].tag_r, NO_TAG);
        assert_eq!(t.e[slot(kernel)].tag_r, tag(kernel, false));
        assert_eq!(t.used, vec![slot(kernel) as u16]);
        t.flush();
        assert_eq!(t.e[slot(kernel)].tag_r, NO_TAG);
        assert!(t.used.is_empty());
    }

    /// Builds a 4-level radix tree (52-bit, 13/9/9/9 split, 4K pages) in test memory mapping
    /// `ea` -> `ra` with leaf flags `flags`, for PID `pid`.
    fn map(c: &mut Cpu, pid: u64, ea: u64, ra: u64, flags: u64) {
        let prtb = 0x10000;
        c.pate[1] = prtb; // PRTS 0: 4 KiB, 256 entries
        let root = 0x20000 + pid * 0x10000; // 2^13 * 8 = 64 KiB per root
        let rts = 52 - 31; // = 21 = 0b10101: RTS1 = 0b10, RTS2 = 0b101
        let prte0 = (0b10u64 << 61) | root | (0b101 << 5) | 13;
        assert!(c.mem.write(prtb + pid * 16, &prte0.to_be_bytes()));
        let _ = rts;
        let l2 = 0x40000 + pid * 0x3000;
        let l3 = l2 + 0x1000;
        let l4 = l3 + 0x1000;
        let off = ea & 0x3fff_ffff_ffff_ffff;
        let i1 = (off >> 39) & 0x1fff;
        let i2 = (off >> 30) & 0x1ff;
        let i3 = (off >> 21) & 0x1ff;
        let i4 = (off >> 12) & 0x1ff;
        let w = |c: &mut Cpu, a: u64, v: u64| assert!(c.mem.write(a, &v.to_be_bytes()));
        w(c, root + i1 * 8, pte::V | l2 | 9);
        w(c, l2 + i2 * 8, pte::V | l3 | 9);
        w(c, l3 + i3 * 8, pte::V | l4 | 9);
        w(c, l4 + i4 * 8, pte::V | pte::L | ra | flags);
    }

    fn radix_cpu() -> Cpu {
        let mut c = cpu();
        c.spr[sprn::LPCR] = lpcr::HR;
        c.set_msr(msr::SF | msr::IR | msr::DR | msr::LE);
        c
    }

    const ALL: u64 = pte::R | pte::C | pte::READ | pte::RW | pte::EXEC;

    #[test]
    fn kernel_quadrant_walk_and_tlb() {
        let mut c = radix_cpu();
        let ea = 0xc000_0000_0012_3456;
        map(&mut c, 0, ea, 0x80000, ALL | pte::PRIV);
        assert_eq!(c.translate(ea, Access::Read), Ok(0x80456));
        assert!(c.mem.write(0x80456, &0x1122_3344u32.to_le_bytes()));
        assert_eq!(c.ld_u32(ea), Ok(0x1122_3344));
        // Now cached: the fast path hits.
        assert!(c.xlate_fast(ea, 4, Access::Read).is_some());
        c.st_u32(ea + 4, 0xaabb_ccdd).expect("store");
        let mut b = [0u8; 4];
        assert!(c.mem.read(0x8045a, &mut b));
        assert_eq!(u32::from_le_bytes(b), 0xaabb_ccdd);
    }

    #[test]
    fn user_quadrant_uses_pidr_and_privilege() {
        let mut c = radix_cpu();
        map(&mut c, 5, 0x1000_0000, 0x90000, ALL);
        map(&mut c, 0, 0xc000_0000_0000_0000, 0xa0000, ALL | pte::PRIV);
        c.spr[sprn::PIDR] = 5;
        assert_eq!(c.translate(0x1000_0010, Access::Write), Ok(0x90010));
        c.set_msr(c.msr | msr::PR);
        assert_eq!(
            c.translate(0xc000_0000_0000_0000, Access::Read),
            Err(Exception::DataStorage {
                ea: 0xc000_0000_0000_0000,
                write: false
            })
        );
        assert_eq!(c.fault_bits, DSISR_PROT);
    }

    #[test]
    fn faults_no_pte_rc_and_segment() {
        let mut c = radix_cpu();
        map(
            &mut c,
            0,
            0xc000_0000_0000_0000,
            0xa0000,
            pte::R | pte::READ | pte::PRIV,
        );
        // Unmapped page in a mapped table: no translation.
        assert!(c.translate(0xc000_0000_0000_1000, Access::Read).is_err());
        assert_eq!(c.fault_bits, DSISR_NOPTE);
        // Store to a read-only page: protection.
        assert!(c.translate(0xc000_0000_0000_0000, Access::Write).is_err());
        assert_eq!(c.fault_bits, DSISR_PROT);
        // Execute without EXEC permission.
        assert_eq!(
            c.translate(0xc000_0000_0000_0000, Access::Exec),
            Err(Exception::InstructionStorage {
                ea: 0xc000_0000_0000_0000
            })
        );
        // Quadrant 1 is not usable by a guest: segment interrupt.
        assert_eq!(
            c.translate(0x4000_0000_0000_0000, Access::Read),
            Err(Exception::DataSegment {
                ea: 0x4000_0000_0000_0000
            })
        );
        // Beyond the 52-bit tree.
        assert!(matches!(
            c.translate(0xc010_0000_0000_0000, Access::Read),
            Err(Exception::DataSegment { .. })
        ));
        // R clear: R/C update fault.
        map(
            &mut c,
            0,
            0xc000_0000_0000_2000,
            0xb0000,
            pte::READ | pte::PRIV,
        );
        assert!(c.translate(0xc000_0000_0000_2000, Access::Read).is_err());
        assert_eq!(c.fault_bits, DSISR_RC);
    }

    #[test]
    fn large_page_leaf_at_pmd_level() {
        let mut c = radix_cpu();
        // 2 MiB leaf one level up.
        let prtb = 0x10000;
        c.pate[1] = prtb;
        let root = 0x20000;
        let prte0 = (0b10u64 << 61) | root | (0b101 << 5) | 13;
        assert!(c.mem.write(prtb, &prte0.to_be_bytes()));
        let (l2, l3) = (0x40000u64, 0x41000u64);
        let w = |c: &mut Cpu, a: u64, v: u64| assert!(c.mem.write(a, &v.to_be_bytes()));
        w(&mut c, root, pte::V | l2 | 9);
        w(&mut c, l2, pte::V | l3 | 9);
        w(
            &mut c,
            l3 + 8,
            pte::V | pte::L | 0x20_0000 | ALL | pte::PRIV,
        ); // EA 2M..4M
        assert_eq!(
            c.translate(0xc000_0000_002f_f123, Access::Read),
            Ok(0x2f_f123)
        );
    }

    #[test]
    fn cross_page_access_with_discontiguous_pages() {
        let mut c = radix_cpu();
        map(&mut c, 0, 0xc000_0000_0000_0000, 0x90000, ALL | pte::PRIV);
        map(&mut c, 0, 0xc000_0000_0000_1000, 0x70000, ALL | pte::PRIV);
        c.st_u64(0xc000_0000_0000_0ffc, 0x8877_6655_4433_2211)
            .expect("store");
        let mut a = [0u8; 4];
        let mut b = [0u8; 4];
        assert!(c.mem.read(0x90ffc, &mut a) && c.mem.read(0x70000, &mut b));
        assert_eq!(a, [0x11, 0x22, 0x33, 0x44]);
        assert_eq!(b, [0x55, 0x66, 0x77, 0x88]);
        assert_eq!(c.ld_u64(0xc000_0000_0000_0ffc), Ok(0x8877_6655_4433_2211));
    }
}
