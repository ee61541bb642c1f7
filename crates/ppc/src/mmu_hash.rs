//! The hash MMU (ISA 3.0B Book III 5.7.7–5.7.13) of a partition whose hashed page table belongs to a
//! (virtual) hypervisor: the SLB, the hashed page table search, PP/key, no-execute and virtual page
//! class key protection, and hardware recording of R and C.
//!
//! The hashed page table (HPT) is host memory the hypervisor owns, outside guest RAM; the CPU reaches
//! it through `Cpu::hpt` and finds its size in the partition table entry (`Cpu::pate[0]`, HTABSIZE;
//! HTABORG is 0, the table being a region of its own). Its entries use the layout the PAPR hcalls
//! (H_ENTER, H_READ) exchange: the ISA 2.07 form, with the segment size B in doubleword 0. ISA 3.0
//! hardware moved B to doubleword 1, but the table is private to the hypervisor, which picks the
//! layout. Entries are big-endian and accessed with 64-bit atomics: several vCPUs and the
//! hypervisor use the table at once.

use super::Access;
use crate::cpu::{lpcr, sprn, Cpu, Exception};
use crate::interrupt::{DSISR_NOPTE, DSISR_PROT};
use crate::mem::GuestMemory;
use std::sync::atomic::{AtomicU64, Ordering};

/// SLB entries (POWER9: 32, the device tree's `ibm,slb-size`).
pub const SLB_SIZE: usize = 32;

/// DSISR / SRR1 bit 35: instruction fetch from no-execute (HPTE or SLB N) or guarded storage.
pub const FAULT_NOEXEC: u64 = 1 << 28;
/// DSISR / SRR1 bit 42: access denied by the AMR / IAMR (virtual page class key protection).
pub const FAULT_KEY: u64 = 1 << 21;

/// The real mode area a pseries hash guest can reach with translation off (its VRMA) is at most one
/// 1 TiB segment; the machine makes it min(RAM, 1 TiB) as QEMU's spapr does.
pub const VRMA_MAX: u64 = 1 << 40;

/// SLB entry fields: `esid` as slbmte's RB (ESID, V), `vsid` as its RS (B, VSID, Ks, Kp, N, L, C,
/// LP).
pub mod slb {
    pub const V: u64 = 1 << 27;
    /// ESID of a 256 MiB segment (EA bits 0:35) and of a 1 TiB segment (EA bits 0:23).
    pub const ESID_256M: u64 = 0xffff_ffff_f000_0000;
    pub const ESID_1T: u64 = 0xffff_ff00_0000_0000;
    /// Segment size B (bits 0:1): 0 = 256 MiB, 1 = 1 TiB.
    pub const B_SHIFT: u32 = 62;
    pub const KS: u64 = 1 << 11;
    pub const KP: u64 = 1 << 10;
    pub const N: u64 = 1 << 9;
    pub const L: u64 = 1 << 8;
    pub const C: u64 = 1 << 7;
    pub const LP: u64 = 3 << 4;
    /// L||LP: the base page size encoding.
    pub const LLP: u64 = L | LP;
    /// Defined bits of the VSID doubleword (the rest are reserved and read as 0).
    pub const VSID_DEFINED: u64 = 0xffff_ffff_ffff_ffb0;
}

/// Hashed page table entry fields.
pub mod hpte {
    // Doubleword 0.
    pub const B_SHIFT: u32 = 62;
    /// Abbreviated virtual page number: VA bits 0:54.
    pub const AVPN: u64 = 0x3fff_ffff_ffff_ff80;
    /// Software bits (57:60); PAPR gives 57:58 to the hypervisor.
    pub const SW: u64 = 0x78;
    /// Software bit 59, which Linux sets in the entries it bolts (never evicts or removes on
    /// its own); HPT resizing keeps these at any cost, as QEMU's and KVM's do.
    pub const BOLTED: u64 = 0x10;
    pub const L: u64 = 0x4;
    pub const H: u64 = 0x2;
    pub const V: u64 = 0x1;
    // Doubleword 1.
    pub const PP0: u64 = 1 << 63;
    pub const KEY_HI: u64 = 0x3000_0000_0000_0000;
    /// Real page number; for large pages its low bits hold the LP (page size) encoding.
    pub const RPN: u64 = 0x0fff_ffff_ffff_f000;
    pub const KEY_LO: u64 = 0xe00;
    pub const R: u64 = 0x100;
    pub const C: u64 = 0x80;
    pub const W: u64 = 0x40;
    pub const I: u64 = 0x20;
    pub const M: u64 = 0x10;
    pub const G: u64 = 0x8;
    pub const WIMG: u64 = 0x78;
    pub const N: u64 = 0x4;
    pub const PP: u64 = 0x3;
}

/// One segment base page size: its SLB L||LP encoding and the actual page sizes a segment of that
/// base size may map, as (log2 size, LP encoding found in the HPTE's low RPN bits).
#[derive(Clone, Copy, Debug)]
pub struct SegmentPageSize {
    pub shift: u32,
    pub slb_enc: u64,
    pub pages: &'static [(u32, u64)],
}

/// The POWER9 hash page sizes this MMU implements (what `ibm,segment-page-sizes` advertises):
/// 4 KiB, 64 KiB and 16 MiB, with 64 KiB and 16 MiB pages in 4 KiB segments (MPSS). 16 GiB pages
/// are not provided.
pub const SEGMENT_PAGE_SIZES: &[SegmentPageSize] = &[
    SegmentPageSize {
        shift: 12,
        slb_enc: 0x000,
        pages: &[(12, 0x0), (16, 0x7), (24, 0x38)],
    },
    SegmentPageSize {
        shift: 16,
        slb_enc: 0x110,
        pages: &[(16, 0x1), (24, 0x8)],
    },
    SegmentPageSize {
        shift: 24,
        slb_enc: 0x100,
        pages: &[(24, 0x0)],
    },
];

/// The actual page shift of HPTE (`v`, `r`) in a segment of base page size `seg`, or None when
/// the entry's size can't be in such a segment (the ISA says it then does not match).
fn hpte_page_shift(seg: &SegmentPageSize, v: u64, r: u64) -> Option<u32> {
    if v & hpte::L == 0 {
        return (seg.shift == 12).then_some(12);
    }
    seg.pages
        .iter()
        .find(|&&(shift, enc)| shift > 12 && r & ((1u64 << shift) - 1) & hpte::RPN == enc << 12)
        .map(|&(shift, _)| shift)
}

/// The actual page shift of an HPTE judged without a segment (the hypervisor checking H_ENTER):
/// the first base page size under which its encoding is valid.
pub fn hpte_page_shift_any(v: u64, r: u64) -> Option<u32> {
    if v & hpte::L == 0 {
        return Some(12);
    }
    SEGMENT_PAGE_SIZES
        .iter()
        .find_map(|s| hpte_page_shift(s, v, r))
}

/// The (base, actual) page shifts of an HPTE judged without a segment: the base size is what the
/// hash used to place it, the actual size what it maps. The LP encodings are distinct across base
/// sizes, so the pair is unambiguous.
fn hpte_page_shifts(v: u64, r: u64) -> Option<(u32, u32)> {
    if v & hpte::L == 0 {
        return Some((12, 12));
    }
    SEGMENT_PAGE_SIZES
        .iter()
        .find_map(|s| hpte_page_shift(s, v, r).map(|actual| (s.shift, actual)))
}

/// The full (39-bit) primary hash of valid entry (`v`, `r`) found in group `group` of a table
/// whose group mask is `mask`, or None if no search could ever find it there (an encoding no
/// segment accepts, a reserved segment size, or a group its hash does not select).
///
/// The AVPN holds B, the VSID and the segment offset from bit 23 up; the lower page-number bits
/// the hash needs (and bit 23 for pages larger than 8 MiB, which the AVPN does not reliably hold)
/// come back from the group index, which is the hash's low bits (complemented for H=1).
fn hpte_hash(v: u64, r: u64, group: u64, mask: u64) -> Option<u64> {
    let (base, actual) = hpte_page_shifts(v, r)?;
    let avpn = (v & hpte::AVPN) >> 7;
    let (vterm, off_hi) = match v >> hpte::B_SHIFT {
        0 => (avpn >> 5, avpn & 0x1f),
        1 => {
            let vsid = avpn >> 17;
            (vsid ^ (vsid << 25), avpn & 0x1_ffff)
        }
        _ => return None,
    };
    let low_hash = if v & hpte::H != 0 { !group } else { group } & mask;
    let from_group = ((1u64 << (actual.max(23) - base)) - 1) & mask;
    let page = ((off_hi << 23) >> base) & !from_group | (low_hash ^ vterm) & from_group;
    let hash = (vterm ^ page) & HASH_MASK;
    (hash & mask == low_hash).then_some(hash)
}

/// One SLB entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SlbEntry {
    /// ESID and V, as in slbmte's RB (index bits cleared).
    pub esid: u64,
    /// B, VSID, Ks, Kp, N, L, C, LP, as in slbmte's RS.
    pub vsid: u64,
}

impl SlbEntry {
    #[inline]
    fn valid(&self) -> bool {
        self.esid & slb::V != 0
    }

    /// Whether this valid entry's segment holds `ea`.
    #[inline]
    fn covers(&self, ea: u64) -> bool {
        self.valid()
            && match self.vsid >> slb::B_SHIFT {
                0 => (self.esid ^ ea) & slb::ESID_256M == 0,
                1 => (self.esid ^ ea) & slb::ESID_1T == 0,
                _ => false,
            }
    }
}

/// The hashed page table of a partition: 2^shift bytes of 128-byte PTE groups of eight 16-byte
/// entries, in host memory of its own.
pub struct Hpt {
    mem: GuestMemory,
    shift: u32,
}

impl std::fmt::Debug for Hpt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Hpt(2^{} bytes)", self.shift)
    }
}

impl Hpt {
    /// Architected size limits: 256 KiB .. 64 TiB.
    pub const MIN_SHIFT: u32 = 18;
    pub const MAX_SHIFT: u32 = 46;

    /// A zeroed (all invalid) table of 2^`shift` bytes; pages are allocated lazily by the host.
    pub fn new(shift: u32) -> std::io::Result<Hpt> {
        if !(Self::MIN_SHIFT..=Self::MAX_SHIFT).contains(&shift) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("hash page table of 2^{shift} bytes"),
            ));
        }
        Ok(Hpt {
            mem: GuestMemory::new(1u64 << shift)?,
            shift,
        })
    }

    pub fn shift(&self) -> u32 {
        self.shift
    }

    /// Number of entries (PTEX values are below this).
    pub fn entries(&self) -> u64 {
        1u64 << (self.shift - 4)
    }

    /// Partition table entry doubleword 0 for this table (HTABORG 0, HTABSIZE).
    pub fn pate0(&self) -> u64 {
        (self.shift - Self::MIN_SHIFT) as u64
    }

    fn word(&self, ptex: u64, dw: u64) -> Option<&AtomicU64> {
        let off = ptex.checked_mul(16)?.checked_add(dw * 8)?;
        let p = self.mem.ptr(off, 8)?;
        // SAFETY: the 8 bytes at p are inside the mapping, which lives as long as self; the
        // mapping is page aligned and off a multiple of 8, so p is aligned for AtomicU64, which
        // has u64's layout. The table is only ever accessed through these atomics.
        Some(unsafe { &*(p as *const AtomicU64) })
    }

    /// Entry `ptex` as (doubleword 0, doubleword 1), or None beyond the table.
    pub fn read(&self, ptex: u64) -> Option<(u64, u64)> {
        let v = self.word(ptex, 0)?.load(Ordering::Acquire);
        let r = self.word(ptex, 1)?.load(Ordering::Acquire);
        Some((u64::from_be(v), u64::from_be(r)))
    }

    /// Writes entry `ptex`: doubleword 1 first, so a reader that sees the new doubleword 0 (with
    /// V) also sees its doubleword 1. False beyond the table.
    pub fn write(&self, ptex: u64, v: u64, r: u64) -> bool {
        let (Some(w0), Some(w1)) = (self.word(ptex, 0), self.word(ptex, 1)) else {
            return false;
        };
        w1.store(r.to_be(), Ordering::Release);
        w0.store(v.to_be(), Ordering::Release);
        true
    }

    /// Sets bits of doubleword 1 (R and C recorded by the MMU); returns the old doubleword 1.
    pub fn set_dw1_bits(&self, ptex: u64, bits: u64) -> Option<u64> {
        let old = self.word(ptex, 1)?.fetch_or(bits.to_be(), Ordering::AcqRel);
        Some(u64::from_be(old))
    }

    /// Clears bits of doubleword 1 (H_CLEAR_REF/H_CLEAR_MOD); returns the old doubleword 1.
    pub fn clear_dw1_bits(&self, ptex: u64, bits: u64) -> Option<u64> {
        let old = self
            .word(ptex, 1)?
            .fetch_and(!bits.to_be(), Ordering::AcqRel);
        Some(u64::from_be(old))
    }

    /// Number of PTE groups minus one: the mask the hash is reduced with.
    fn group_mask(&self) -> u64 {
        (1u64 << (self.shift - 7)) - 1
    }

    /// HPT resizing: copies every valid entry of this table into `new` (empty, of any size), each
    /// in the group its hash selects there, in the same slot and with the same H, so that a guest
    /// that recorded where it put an entry (Linux keeps H and the slot, and recomputes the group
    /// from the hash) still finds it. Entries no search could find (see `hpte_hash`) are dropped.
    ///
    /// Shrinking folds several groups into one, so a slot may already be taken: a non-bolted
    /// entry gives way (the guest refaults it), a bolted one displaces a non-bolted one, and two
    /// bolted ones fail the rehash with Err(ptex of the second); `new` is then to be discarded.
    pub fn rehash_into(&self, new: &Hpt) -> Result<(), u64> {
        let (old_mask, new_mask) = (self.group_mask(), new.group_mask());
        for ptex in 0..self.entries() {
            let Some((v, r)) = self.read(ptex) else {
                break;
            };
            if v & hpte::V == 0 {
                continue;
            }
            let Some(hash) = hpte_hash(v, r, ptex >> 3, old_mask) else {
                continue;
            };
            let group = if v & hpte::H != 0 { !hash } else { hash } & new_mask;
            let to = group << 3 | (ptex & 7);
            let Some((nv, _)) = new.read(to) else {
                continue;
            };
            if nv & hpte::V != 0 && nv & hpte::BOLTED != 0 {
                if v & hpte::BOLTED != 0 {
                    return Err(ptex);
                }
                continue;
            }
            new.write(to, v, r);
        }
        Ok(())
    }

    /// Invalidates every entry.
    pub fn clear(&self) {
        for ptex in 0..self.entries() {
            if self.read(ptex).is_some_and(|(v, r)| v != 0 || r != 0) {
                self.write(ptex, 0, 0);
            }
        }
    }
}

/// An HPTE the search found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Found {
    ptex: u64,
    r: u64,
    ra: u64,
}

/// Hash bits the ISA defines (39).
const HASH_MASK: u64 = (1 << 39) - 1;

/// The hashed page table search of ISA 5.7.7.2 for `ea` in segment `seg`, in a table of
/// 2^(HTABSIZE+11) groups (`pate0`): the primary group, then the secondary one.
fn hpt_search(hpt: &Hpt, pate0: u64, seg: &SlbEntry, ea: u64) -> Option<Found> {
    let sps = SEGMENT_PAGE_SIZES
        .iter()
        .find(|s| s.slb_enc == seg.vsid & slb::LLP)?;
    let b = seg.vsid >> slb::B_SHIFT;
    // VA = VSID || segment offset; the AVPN is B || VA bits 0:54.
    let (vsid, off, avpn_vsid) = match b {
        0 => {
            let vsid = (seg.vsid >> 12) & ((1 << 50) - 1);
            (vsid, ea & ((1 << 28) - 1), vsid << 12)
        }
        1 => {
            let vsid = (seg.vsid >> 24) & ((1 << 38) - 1);
            (vsid, ea & ((1 << 40) - 1), vsid << 24)
        }
        _ => return None,
    };
    let page = off >> sps.shift;
    let hash = if b == 1 {
        vsid ^ (vsid << 25) ^ page
    } else {
        vsid ^ page
    } & HASH_MASK;
    let avpn = b << hpte::B_SHIFT | avpn_vsid | (off >> 23) << 7;
    let group_mask = (1u64 << ((pate0 & 0x1f) + 11)) - 1;
    for (h, secondary) in [(hash, false), (!hash, true)] {
        let group = h & group_mask;
        for slot in 0..8 {
            let ptex = group * 8 + slot;
            let (v, r) = hpt.read(ptex)?;
            if v & hpte::V == 0 || (v & hpte::H != 0) != secondary {
                continue;
            }
            let Some(shift) = hpte_page_shift(sps, v, r) else {
                continue;
            };
            // AVPN bits that fall inside a page larger than 8 MiB are not compared.
            let inside = if shift > 23 {
                ((1u64 << (shift - 23)) - 1) << 7
            } else {
                0
            };
            if (v ^ avpn) & !0x7f & !inside != 0 {
                continue;
            }
            let mask = (1u64 << shift) - 1;
            return Some(Found {
                ptex,
                r,
                ra: (r & hpte::RPN & !mask) | (ea & mask),
            });
        }
    }
    None
}

/// (read, write) access that PP (PP0||PP1||PP2) gives under key `key` (ISA 5.7.10.1).
fn pp_access(key: bool, pp: u64) -> (bool, bool) {
    match (key, pp) {
        (false, 0..=2) => (true, true),
        (false, 3 | 6) => (true, false),
        (true, 2) => (true, true),
        (true, 1 | 3) => (true, false),
        _ => (false, false),
    }
}

/// The virtual page class key (0..31) of an HPTE: KEY_HI || KEY_LO.
fn page_key(r: u64) -> u32 {
    ((r >> 60 & 3) << 3 | (r >> 9 & 7)) as u32
}

impl Cpu {
    /// Whether real address `ra` lies beyond the real mode area of a hash partition (one with a
    /// hypervisor-provided HPT and LPCR[HR]=0); such real-mode accesses fault.
    #[inline(always)]
    pub(super) fn beyond_vrma(&self, ra: u64) -> bool {
        ra >= VRMA_MAX && self.spr[sprn::LPCR] & lpcr::HR == 0 && self.hpt.is_some()
    }

    /// The SLB entry whose segment holds `ea`.
    pub fn slb_lookup(&self, ea: u64) -> Option<&SlbEntry> {
        self.slb.iter().find(|e| e.covers(ea))
    }

    /// slbmte: writes SLB entry RB[52:63] from RS and RB. False (an illegal instruction) for an
    /// index beyond the SLB, a reserved segment size or an unimplemented base page size.
    pub fn slb_store(&mut self, rb: u64, rs: u64) -> bool {
        let idx = (rb & 0xfff) as usize;
        if rs >> slb::B_SHIFT > 1
            || !SEGMENT_PAGE_SIZES
                .iter()
                .any(|s| s.slb_enc == rs & slb::LLP)
        {
            return false;
        }
        let Some(e) = self.slb.get_mut(idx) else {
            return false;
        };
        let old_valid = e.valid();
        *e = SlbEntry {
            esid: rb & (slb::ESID_256M | slb::V),
            vsid: rs & slb::VSID_DEFINED,
        };
        // Translations cached from a replaced segment must go; a new segment has none cached.
        if old_valid {
            self.tlb_flush();
        }
        true
    }

    /// slbmfee / slbmfev: doubleword 0 (ESID, V) or 1 (VSID data) of SLB entry RB[52:63].
    pub fn slb_read(&self, rb: u64, vsid: bool) -> Option<u64> {
        let e = self.slb.get((rb & 0xfff) as usize)?;
        Some(if vsid { e.vsid } else { e.esid })
    }

    /// slbie: invalidates the entry for ESID RB[0:35] with segment size RB[37:38].
    pub fn slb_invalidate(&mut self, rb: u64) {
        let b = (rb >> 25) & 3;
        for e in self.slb.iter_mut() {
            if e.vsid >> slb::B_SHIFT == b && e.covers(rb) {
                e.esid &= !slb::V;
            }
        }
        self.tlb_flush();
    }

    /// slbia IH: invalidates SLB entries as ISA 3.0 defines for IH (0, 1, 2, 6: all but entry 0;
    /// 3: entries with C=1; 4: all; 7: none, lookaside information only; 5 is reserved and treated
    /// as 0), and all cached translations.
    pub fn slb_invalidate_all(&mut self, ih: u32) {
        let (first, class_only) = match ih {
            7 => (SLB_SIZE, false),
            3 => (0, true),
            4 => (0, false),
            _ => (1, false),
        };
        for e in self.slb.iter_mut().skip(first) {
            if !class_only || e.vsid & slb::C != 0 {
                e.esid &= !slb::V;
            }
        }
        self.tlb_flush();
    }

    /// slbfee.: the VSID data of the entry translating RB, if any.
    pub fn slb_find(&self, rb: u64) -> Option<u64> {
        self.slb_lookup(rb).map(|e| e.vsid)
    }

    /// Hash translation of `ea` (translation on, LPCR[HR]=0): segment, HPT search, protection, R/C.
    pub(super) fn hash_translate(&mut self, ea: u64, acc: Access) -> Result<u64, Exception> {
        let Some(seg) = self.slb_lookup(ea).copied() else {
            return Err(match acc {
                Access::Exec => Exception::InstructionSegment { ea },
                _ => Exception::DataSegment { ea },
            });
        };
        let key = seg.vsid & if self.pr() { slb::KP } else { slb::KS } != 0;
        let amr = self.spr[sprn::AMR];
        let iamr = self.spr[sprn::IAMR];
        let checked = match self.hpt.as_deref() {
            None => Err(DSISR_NOPTE),
            Some(hpt) => match hpt_search(hpt, self.pate[0], &seg, ea) {
                None => Err(DSISR_NOPTE),
                Some(f) => {
                    let pp = (f.r & hpte::PP) | (f.r >> 63) << 2;
                    let (rd, wr) = pp_access(key, pp);
                    // AMR/IAMR: two bits per key from the left; in the AMR the first disables
                    // stores and the second loads, in the IAMR the second disables fetches.
                    let kbits = |reg: u64| reg >> (62 - 2 * page_key(f.r)) & 3;
                    let mut bits = 0;
                    match acc {
                        Access::Read => {
                            if !rd {
                                bits |= DSISR_PROT;
                            }
                            if kbits(amr) & 1 != 0 {
                                bits |= FAULT_KEY;
                            }
                        }
                        Access::Write => {
                            if !wr {
                                bits |= DSISR_PROT;
                            }
                            if kbits(amr) & 2 != 0 {
                                bits |= FAULT_KEY;
                            }
                        }
                        Access::Exec => {
                            if seg.vsid & slb::N != 0 || f.r & (hpte::N | hpte::G) != 0 {
                                bits |= FAULT_NOEXEC;
                            }
                            if !rd {
                                bits |= DSISR_PROT;
                            }
                            if kbits(iamr) & 1 != 0 {
                                bits |= FAULT_KEY;
                            }
                        }
                    }
                    if bits != 0 {
                        Err(bits)
                    } else {
                        // The MMU records the reference, and the change for stores.
                        let rc = if acc == Access::Write {
                            hpte::R | hpte::C
                        } else {
                            hpte::R
                        };
                        if f.r & rc != rc {
                            hpt.set_dw1_bits(f.ptex, rc);
                        }
                        Ok(f.ra)
                    }
                }
            },
        };
        checked.map_err(|bits| {
            self.fault_bits = bits;
            match acc {
                Access::Exec => Exception::InstructionStorage { ea },
                _ => Exception::DataStorage {
                    ea,
                    write: acc == Access::Write,
                },
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::msr;
    use crate::testutil::cpu;
    use std::sync::Arc;

    /// Supervisor CPU with relocation on, hash mode (LPCR[HR]=0), a 256 KiB HPT (HTABSIZE 0:
    /// 2048 groups, group mask 0x7ff).
    fn hash_cpu() -> Cpu {
        let mut c = cpu();
        c.spr[sprn::LPCR] &= !lpcr::HR;
        c.set_msr(msr::SF | msr::IR | msr::DR | msr::LE);
        c.hpt = Some(Arc::new(Hpt::new(18).expect("hpt")));
        c.pate[0] = 0;
        c
    }

    fn hpt(c: &Cpu) -> &Hpt {
        c.hpt.as_deref().expect("hpt")
    }

    /// SLB entry `idx`: ESID from `ea`, RS as given, valid.
    fn slbe(c: &mut Cpu, idx: u64, ea: u64, rs: u64) {
        assert!(c.slb_store((ea & slb::ESID_256M) | slb::V | idx, rs));
    }

    const VSID: u64 = 0x12_3456;
    /// Kernel-style segment: Ks=0, Kp=1, 4 KiB base pages.
    const KSEG: u64 = VSID << 12 | slb::KP;
    /// EA 0x1234_5678: segment 0x1, offset 0x234_5678, 4 KiB page 0x2345.
    const EA: u64 = 0x1234_5678;
    /// hash = VSID ^ page = 0x12_3456 ^ 0x2345 = 0x12_1713; primary group 0x713, secondary
    /// group (!hash) & 0x7ff = 0x0ec.
    const PRIMARY: u64 = 0x713 * 8;
    const SECONDARY: u64 = 0x0ec * 8;
    /// AVPN: VSID << 12 | (offset >> 23) << 7 = 0x1_2345_6000 | 4 << 7.
    const V0: u64 = 0x1_2345_6200 | hpte::V;

    #[test]
    fn primary_group_4k_page_and_rc_recording() {
        let mut c = hash_cpu();
        slbe(&mut c, 3, EA, KSEG);
        // Slot 5 of the primary group; the others hold unrelated valid entries.
        assert!(hpt(&c).write(PRIMARY, 0x9_9999_9200 | hpte::V, 0x1000 | hpte::M));
        assert!(hpt(&c).write(PRIMARY + 5, V0, 0x5_6000 | hpte::M));
        assert_eq!(c.translate(EA, Access::Read), Ok(0x5_6678));
        let (_, r) = hpt(&c).read(PRIMARY + 5).expect("entry");
        assert_eq!(r & (hpte::R | hpte::C), hpte::R, "a load sets R only");
        assert_eq!(c.translate(EA + 8, Access::Write), Ok(0x5_6680));
        let (_, r) = hpt(&c).read(PRIMARY + 5).expect("entry");
        assert_eq!(r & (hpte::R | hpte::C), hpte::R | hpte::C, "a store sets C");
        // Through the load/store path and the software TLB.
        assert!(c.mem.write(0x5_6678, &0xdead_beefu32.to_le_bytes()));
        assert_eq!(c.ld_u32(EA), Ok(0xdead_beef));
        assert!(c.xlate_fast(EA, 4, Access::Read).is_some());
        // Software bits (e.g. Linux's "bolted") don't take part in the match.
        assert!(hpt(&c).write(PRIMARY + 5, V0 | hpte::SW, 0x5_6000 | hpte::M));
        assert_eq!(c.translate(EA, Access::Read), Ok(0x5_6678));
    }

    #[test]
    fn secondary_group_needs_h() {
        let mut c = hash_cpu();
        slbe(&mut c, 0, EA, KSEG);
        // In the secondary group without H: not a match.
        assert!(hpt(&c).write(SECONDARY, V0, 0x7_7000));
        assert!(c.translate(EA, Access::Read).is_err());
        assert_eq!(c.fault_bits, DSISR_NOPTE);
        // In the primary group with H: not a match either.
        assert!(hpt(&c).write(PRIMARY, V0 | hpte::H, 0x6_6000));
        assert!(c.translate(EA, Access::Read).is_err());
        // In the secondary group with H (after a full primary group): found.
        for s in 0..8 {
            assert!(hpt(&c).write(PRIMARY + s, 0x5_5555_5000 | hpte::V, 0));
        }
        assert!(hpt(&c).write(SECONDARY + 7, V0 | hpte::H, 0x7_7000));
        assert_eq!(c.translate(EA, Access::Read), Ok(0x7_7678));
        // Invalid entries are skipped even if everything else matches.
        assert!(hpt(&c).write(SECONDARY + 7, (V0 | hpte::H) & !hpte::V, 0x7_7000));
        assert!(c.translate(EA, Access::Read).is_err());
    }

    #[test]
    fn table_size_comes_from_pate() {
        // HTABSIZE 1: 4096 groups, mask 0xfff: hash 0x12_1713 selects group 0x713 still (bit 11
        // of the hash is 0), secondary !hash & 0xfff = 0x8ec.
        let mut c = hash_cpu();
        c.hpt = Some(Arc::new(Hpt::new(19).expect("hpt")));
        c.pate[0] = 1;
        slbe(&mut c, 0, EA, KSEG);
        assert!(hpt(&c).write(0x8ec * 8, V0 | hpte::H, 0x3000));
        assert_eq!(c.translate(EA, Access::Read), Ok(0x3678));
        // The 256 KiB-table location (0x0ec) is no longer looked at.
        assert!(hpt(&c).write(0x8ec * 8, 0, 0));
        assert!(hpt(&c).write(SECONDARY, V0 | hpte::H, 0x3000));
        assert!(c.translate(EA, Access::Read).is_err());
    }

    #[test]
    fn page_64k_in_64k_segment() {
        let mut c = hash_cpu();
        // Base 64 KiB (L||LP = 0x110). EA 0x1234_5678: page = 0x234_5678 >> 16 = 0x234;
        // hash = 0x12_3456 ^ 0x234 = 0x12_3662, group 0x662. AVPN as for 4 KiB (offset >> 23 = 4).
        slbe(&mut c, 0, EA, KSEG | 0x110);
        // LP encoding 1 in RPN bits 12:15; the page is at 0x30_0000.
        assert!(hpt(&c).write(0x662 * 8 + 2, V0 | hpte::L, 0x30_1000 | hpte::M));
        assert_eq!(c.translate(EA, Access::Read), Ok(0x30_5678));
        // A 4 KiB entry (L=0) can't be in a 64 KiB segment.
        assert!(hpt(&c).write(0x662 * 8 + 2, V0, 0x30_0000));
        assert!(c.translate(EA, Access::Read).is_err());
        // Nor can an L=1 entry with an encoding of another size.
        assert!(hpt(&c).write(0x662 * 8 + 2, V0 | hpte::L, 0x30_7000));
        assert!(c.translate(EA, Access::Read).is_err());
    }

    #[test]
    fn page_64k_in_4k_segment_mpss() {
        let mut c = hash_cpu();
        // Base 4 KiB: the hash uses the base size (group 0x713 as for 4 KiB pages); the entry
        // says 64 KiB with LP encoding 0x7.
        slbe(&mut c, 0, EA, KSEG);
        assert!(hpt(&c).write(PRIMARY, V0 | hpte::L, 0x40_7000));
        assert_eq!(c.translate(EA, Access::Read), Ok(0x40_5678));
    }

    /// 1 TiB segment with 16 MiB pages, as Linux maps the kernel: VSID 0x1_2345_6789 (38-bit
    /// field), EA 0xc000_0000_0234_5678: offset 0x234_5678, page = offset >> 24 = 2.
    /// hash = vsid ^ (vsid << 25) ^ page; the group takes its low 11 bits, to which vsid << 25
    /// contributes nothing: 0x789 ^ 0x002 = 0x78b.
    #[test]
    fn page_16m_in_1t_segment() {
        let mut c = hash_cpu();
        let vsid: u64 = 0x1_2345_6789;
        let ea: u64 = 0xc000_0000_0234_5678;
        let rs = 1 << 62 | vsid << 24 | slb::KP | 0x100;
        assert!(c.slb_store((ea & slb::ESID_1T) | slb::V, rs));
        // AVPN: B=1 || vsid << 24 || (offset >> 23) << 7 = 4 << 7; bit 7 (offset bit 23) lies
        // inside the 16 MiB page and is not compared.
        let v = 1 << 62 | vsid << 24 | 4 << 7 | hpte::L | hpte::V;
        assert!(hpt(&c).write(0x78b * 8 + 1, v | 1 << 7, 0x100_0000 | hpte::M));
        assert_eq!(c.translate(ea, Access::Read), Ok(0x134_5678));
        assert_eq!(c.translate(ea + 0x7f_0000, Access::Exec), Ok(0x1b3_5678));
        // Bit 8 (offset bit 24) is compared.
        assert!(hpt(&c).write(0x78b * 8 + 1, v ^ 1 << 8, 0x100_0000));
        assert!(c.translate(ea, Access::Read).is_err());
        // B must match the segment size.
        assert!(hpt(&c).write(0x78b * 8 + 1, v & !(3 << 62), 0x100_0000));
        assert!(c.translate(ea, Access::Read).is_err());
    }

    #[test]
    fn segment_faults() {
        let mut c = hash_cpu();
        assert_eq!(
            c.translate(EA, Access::Read),
            Err(Exception::DataSegment { ea: EA })
        );
        assert_eq!(
            c.translate(EA, Access::Exec),
            Err(Exception::InstructionSegment { ea: EA })
        );
        slbe(&mut c, 1, EA, KSEG);
        // Neighbouring segment.
        assert!(matches!(
            c.translate(EA + 0x1000_0000, Access::Write),
            Err(Exception::DataSegment { .. })
        ));
        // Same segment, no entry: DSI / ISI with "no translation".
        assert_eq!(
            c.translate(EA, Access::Write),
            Err(Exception::DataStorage {
                ea: EA,
                write: true
            })
        );
        assert_eq!(c.fault_bits, DSISR_NOPTE);
        assert_eq!(
            c.translate(EA, Access::Exec),
            Err(Exception::InstructionStorage { ea: EA })
        );
        assert_eq!(c.fault_bits, DSISR_NOPTE);
    }

    #[test]
    fn pp_and_key_protection() {
        let mut c = hash_cpu();
        let user_seg = VSID << 12 | slb::KS | slb::KP;
        let set = |c: &mut Cpu, rs: u64, r: u64| {
            slbe(c, 0, EA, rs);
            assert!(hpt(c).write(PRIMARY, V0, 0x8000 | r));
            c.tlb_flush();
        };
        let can = |c: &mut Cpu, pr: bool, acc: Access| {
            let m = if pr {
                c.msr | msr::PR
            } else {
                c.msr & !msr::PR
            };
            c.set_msr(m);
            let ok = c.translate(EA, acc).is_ok();
            if !ok {
                assert_eq!(c.fault_bits, DSISR_PROT);
            }
            ok
        };
        // Kernel page in a kernel segment (Ks=0, Kp=1), PP=00: kernel RW, user nothing.
        set(&mut c, KSEG, 0);
        assert!(can(&mut c, false, Access::Write) && can(&mut c, false, Access::Read));
        assert!(!can(&mut c, true, Access::Read) && !can(&mut c, true, Access::Write));
        // User segment (Ks=Kp=1): PP=10 read/write for both, PP=11 read-only for both.
        set(&mut c, user_seg, 2);
        assert!(can(&mut c, true, Access::Write) && can(&mut c, false, Access::Write));
        set(&mut c, user_seg, 3);
        assert!(can(&mut c, true, Access::Read) && !can(&mut c, true, Access::Write));
        assert!(!can(&mut c, false, Access::Write));
        // PP=001 under key 1: read-only; under key 0 read/write.
        set(&mut c, user_seg, 1);
        assert!(can(&mut c, true, Access::Read) && !can(&mut c, true, Access::Write));
        set(&mut c, KSEG, 1);
        assert!(can(&mut c, false, Access::Write));
        // PP=110 (PP0 set): key 0 read-only, key 1 no access.
        set(&mut c, KSEG, hpte::PP0 | 2);
        assert!(can(&mut c, false, Access::Read) && !can(&mut c, false, Access::Write));
        assert!(!can(&mut c, true, Access::Read));
        // A store that was refused records nothing.
        let (_, r) = hpt(&c).read(PRIMARY).expect("entry");
        assert_eq!(r & hpte::C, 0);
    }

    #[test]
    fn no_execute_and_guarded() {
        let mut c = hash_cpu();
        slbe(&mut c, 0, EA, KSEG);
        assert!(hpt(&c).write(PRIMARY, V0, 0x8000 | 3)); // PP=11: read-only, executable
        assert_eq!(c.translate(EA, Access::Exec), Ok(0x8678));
        for r in [hpte::N, hpte::G] {
            assert!(hpt(&c).write(PRIMARY, V0, 0x8000 | 3 | r));
            assert_eq!(
                c.translate(EA, Access::Exec),
                Err(Exception::InstructionStorage { ea: EA })
            );
            assert_eq!(c.fault_bits, FAULT_NOEXEC);
            // Data accesses are unaffected.
            assert_eq!(c.translate(EA, Access::Read), Ok(0x8678));
        }
        // No-execute segment.
        slbe(&mut c, 0, EA, KSEG | slb::N);
        assert!(hpt(&c).write(PRIMARY, V0, 0x8000));
        assert!(c.translate(EA, Access::Exec).is_err());
        assert_eq!(c.fault_bits, FAULT_NOEXEC);
        // Fetch without read permission: protection.
        slbe(&mut c, 0, EA, KSEG);
        c.set_msr(c.msr | msr::PR);
        assert!(c.translate(EA, Access::Exec).is_err());
        assert_eq!(c.fault_bits, DSISR_PROT);
    }

    #[test]
    fn amr_and_iamr_keys() {
        let mut c = hash_cpu();
        slbe(&mut c, 0, EA, KSEG);
        // Key 9 = KEY_HI 0b01, KEY_LO 0b001: AMR bits 18:19.
        let r = 0x8000 | 1 << 60 | 1 << 9;
        assert!(hpt(&c).write(PRIMARY, V0, r));
        c.spr[sprn::AMR] = 2 << (62 - 18); // store disabled for key 9
        assert!(c.translate(EA, Access::Read).is_ok());
        assert!(c.translate(EA, Access::Write).is_err());
        assert_eq!(c.fault_bits, FAULT_KEY);
        c.spr[sprn::AMR] = 1 << (62 - 18); // load disabled
        assert!(c.translate(EA, Access::Read).is_err());
        assert_eq!(c.fault_bits, FAULT_KEY);
        c.spr[sprn::AMR] = 0;
        c.spr[sprn::IAMR] = 1 << (62 - 18);
        assert!(c.translate(EA, Access::Exec).is_err());
        assert_eq!(c.fault_bits, FAULT_KEY);
        // Other keys are unaffected.
        assert!(hpt(&c).write(PRIMARY, V0, 0x8000));
        assert!(c.translate(EA, Access::Exec).is_ok());
    }

    #[test]
    fn slb_instructions_semantics() {
        let mut c = hash_cpu();
        // Bad index, reserved segment size, unimplemented base page size (16 GiB, L||LP=0x120).
        assert!(!c.slb_store(slb::V | 32, KSEG));
        assert!(!c.slb_store(slb::V, 2 << 62 | KSEG));
        assert!(!c.slb_store(slb::V, KSEG | 0x120));
        slbe(&mut c, 0, 0x0000_0000, KSEG);
        slbe(&mut c, 1, 0x1000_0000, KSEG | slb::C);
        slbe(&mut c, 2, 0x2000_0000, KSEG);
        assert_eq!(c.slb_read(1, false), Some(0x1000_0000 | slb::V));
        assert_eq!(c.slb_read(1, true), Some(KSEG | slb::C));
        assert_eq!(c.slb_read(40, true), None);
        assert_eq!(c.slb_find(0x1234_5678), Some(KSEG | slb::C));
        assert_eq!(c.slb_find(0x3000_0000), None);
        // slbie with the wrong segment size misses; with B=0 it hits.
        c.slb_invalidate(0x2000_0000 | 1 << 25);
        assert!(c.slb_lookup(0x2000_0000).is_some());
        c.slb_invalidate(0x2000_0000);
        assert!(c.slb_lookup(0x2000_0000).is_none());
        // slbia IH=3: only C=1 entries; IH=0: all but entry 0; IH=4: all.
        slbe(&mut c, 2, 0x2000_0000, KSEG);
        c.slb_invalidate_all(3);
        assert!(c.slb_lookup(0x1000_0000).is_none() && c.slb_lookup(0x2000_0000).is_some());
        c.slb_invalidate_all(7);
        assert!(c.slb_lookup(0x2000_0000).is_some());
        c.slb_invalidate_all(0);
        assert!(c.slb_lookup(0x2000_0000).is_none() && c.slb_lookup(0).is_some());
        c.slb_invalidate_all(4);
        assert!(c.slb_lookup(0).is_none());
    }

    #[test]
    fn slb_changes_drop_cached_translations() {
        let mut c = hash_cpu();
        slbe(&mut c, 0, EA, KSEG);
        assert!(hpt(&c).write(PRIMARY, V0, 0x8000 | hpte::R | hpte::C));
        assert!(c.ld_u32(EA).is_ok());
        assert!(c.xlate_fast(EA, 4, Access::Read).is_some());
        // Replacing a valid entry flushes.
        slbe(&mut c, 0, EA, KSEG | slb::N);
        assert!(c.xlate_fast(EA, 4, Access::Read).is_none());
        assert!(c.ld_u32(EA).is_ok());
        c.slb_invalidate(EA & slb::ESID_256M);
        assert!(c.xlate_fast(EA, 4, Access::Read).is_none());
        assert_eq!(c.ld_u32(EA), Err(Exception::DataSegment { ea: EA }));
    }

    #[test]
    fn real_mode_is_limited_to_the_vrma() {
        let mut c = hash_cpu();
        c.set_msr(msr::SF | msr::LE);
        assert_eq!(c.translate(0x1234, Access::Read), Ok(0x1234));
        // EA bits 0:3 are ignored; beyond 1 TiB is outside any RMA.
        assert_eq!(c.translate(0xf000_0000_0000_1234, Access::Read), Ok(0x1234));
        assert_eq!(
            c.translate(VRMA_MAX + 8, Access::Write),
            Err(Exception::DataStorage {
                ea: VRMA_MAX + 8,
                write: true
            })
        );
        assert_eq!(c.fault_bits, DSISR_NOPTE);
        assert_eq!(
            c.translate(VRMA_MAX, Access::Exec),
            Err(Exception::InstructionStorage { ea: VRMA_MAX })
        );
        // Without a hypervisor's HPT (user-mode emulation), or with radix, there is no VRMA.
        c.spr[sprn::LPCR] |= lpcr::HR;
        assert_eq!(c.translate(VRMA_MAX, Access::Read), Ok(VRMA_MAX));
        c.spr[sprn::LPCR] &= !lpcr::HR;
        c.hpt = None;
        assert_eq!(c.translate(VRMA_MAX, Access::Read), Ok(VRMA_MAX));
    }

    #[test]
    fn page_size_without_segment() {
        assert_eq!(hpte_page_shift_any(hpte::V, 0x1234_5000), Some(12));
        assert_eq!(
            hpte_page_shift_any(hpte::V | hpte::L, 0x1_0000 | 0x1000),
            Some(16)
        );
        assert_eq!(
            hpte_page_shift_any(hpte::V | hpte::L, 0x1_0000 | 0x7000),
            Some(16)
        );
        assert_eq!(hpte_page_shift_any(hpte::V | hpte::L, 0x100_0000), Some(24));
        assert_eq!(hpte_page_shift_any(hpte::V | hpte::L, 0x100_8000), Some(24));
        assert_eq!(hpte_page_shift_any(hpte::V | hpte::L, 0x103_8000), Some(24));
        assert_eq!(hpte_page_shift_any(hpte::V | hpte::L, 0x100_3000), None);
    }

    /// The hash comes back from an entry and its group (the example values of the tests above).
    #[test]
    fn entry_hash_from_avpn_and_group() {
        // 4 KiB page, 256 MiB segment: hash 0x12_1713 (primary group 0x713, secondary 0x0ec).
        assert_eq!(hpte_hash(V0, 0, 0x713, 0x7ff), Some(0x12_1713));
        assert_eq!(hpte_hash(V0 | hpte::H, 0, 0x0ec, 0x7ff), Some(0x12_1713));
        // A 4 KiB entry's group gives page bits 0:10 (the AVPN the others), so any group is
        // consistent: in group 0x714 it maps page 0x2344.
        assert_eq!(hpte_hash(V0, 0, 0x714, 0x7ff), Some(0x12_1714));
        // 64 KiB base page (LP 1): page 0x234, hash 0x12_3662.
        assert_eq!(
            hpte_hash(V0 | hpte::L, 0x30_1000, 0x662, 0x7ff),
            Some(0x12_3662)
        );
        // A 64 KiB page's group gives page bits 0:6 only; the AVPN says bits 7:10 of the hash
        // select group 0x662 & 0x780, not 0x6e2 & 0x780: no search finds it there.
        assert_eq!(hpte_hash(V0 | hpte::L, 0x30_1000, 0x6e2, 0x7ff), None);
        // 64 KiB page in a 4 KiB segment (LP 7): hashed with the base size, as for 4 KiB.
        assert_eq!(
            hpte_hash(V0 | hpte::L, 0x40_7000, 0x713, 0x7ff),
            Some(0x12_1713)
        );
        // 16 MiB page, 1 TiB segment: vsid ^ (vsid << 25) ^ 2 (39 bits) = 0x4e_3145_678b.
        let vsid: u64 = 0x1_2345_6789;
        let v = 1 << 62 | vsid << 24 | 4 << 7 | hpte::L | hpte::V;
        assert_eq!(hpte_hash(v, 0x100_0000, 0x78b, 0x7ff), Some(0x4e_3145_678b));
        // A bigger table checks more bits: 0x4e_3145_678b & 0x1fff = 0x78b still, but
        // & 0x3fff = 0x278b.
        assert_eq!(
            hpte_hash(v, 0x100_0000, 0x78b, 0x1fff),
            Some(0x4e_3145_678b)
        );
        assert_eq!(hpte_hash(v, 0x100_0000, 0x78b, 0x3fff), None);
        assert_eq!(
            hpte_hash(v, 0x100_0000, 0x278b, 0x3fff),
            Some(0x4e_3145_678b)
        );
        // Reserved segment size, or a size encoding no segment has.
        assert_eq!(hpte_hash(2 << 62 | V0, 0, 0x713, 0x7ff), None);
        assert_eq!(hpte_hash(V0 | hpte::L, 0x100_3000, 0x713, 0x7ff), None);
    }

    /// Growing moves entries to the group the wider hash selects, keeping slot and H; the CPU
    /// finds them there.
    #[test]
    fn rehash_grows_and_shrinks() {
        let old = Hpt::new(18).expect("hpt");
        // Secondary entry in slot 3 of group 0x0ec: in a 2^19 table !0x12_1713 & 0xfff = 0x8ec.
        assert!(old.write(SECONDARY + 3, V0 | hpte::H, 0x3000 | hpte::R));
        // Primary 64 KiB entry, slot 6 of group 0x662: 0x12_3662 & 0xfff = 0x662, unmoved.
        let v64 = V0 | hpte::L | hpte::BOLTED;
        assert!(old.write(0x662 * 8 + 6, v64, 0x30_1000));
        // Invalid and misplaced entries are not copied.
        assert!(old.write(9, V0 & !hpte::V, 0x5000));
        assert!(old.write(0x6e2 * 8, V0 | hpte::L, 0x30_1000));
        let big = Hpt::new(19).expect("hpt");
        assert_eq!(old.rehash_into(&big), Ok(()));
        assert_eq!(
            big.read(0x8ec * 8 + 3),
            Some((V0 | hpte::H, 0x3000 | hpte::R))
        );
        assert_eq!(big.read(0x662 * 8 + 6), Some((v64, 0x30_1000)));
        let valid = (0..big.entries())
            .filter(|&i| big.read(i).is_some_and(|(v, _)| v & hpte::V != 0))
            .count();
        assert_eq!(valid, 2);
        let mut c = hash_cpu();
        c.hpt = Some(Arc::new(big));
        c.pate[0] = 1;
        slbe(&mut c, 0, EA, KSEG);
        assert_eq!(c.translate(EA, Access::Read), Ok(0x3678));
        slbe(&mut c, 1, 0x2000_0000, KSEG | 0x110);
        c.tlb_flush();
        assert_eq!(
            c.translate(0x2000_0000 | (EA & 0xfff_ffff), Access::Read),
            Ok(0x30_5678)
        );
        // And back: the same positions as at first.
        let small = Hpt::new(18).expect("hpt");
        assert_eq!(c.hpt.as_deref().expect("hpt").rehash_into(&small), Ok(()));
        assert_eq!(small.read(SECONDARY + 3).map(|e| e.0), Some(V0 | hpte::H));
        assert_eq!(small.read(0x662 * 8 + 6).map(|e| e.0), Some(v64));
    }

    /// Shrinking folds groups 0x713 and 0xf13 of a 2^19 table into 0x713: entries in the same
    /// slot collide. EA offset 0x2b4_5678 has page 0x2b45, hash 0x12_3456 ^ 0x2b45 = 0x12_1f13.
    #[test]
    fn rehash_collisions_when_shrinking() {
        let v_b = 0x1_2345_6280 | hpte::V; // AVPN offset bits: 0x2b4_5678 >> 23 = 5
        let run = |a: u64, b: u64, slot_b: u64| {
            let old = Hpt::new(19).expect("hpt");
            assert!(old.write(0x713 * 8 + 2, V0 | a, 0xa000));
            assert!(old.write(0xf13 * 8 + slot_b, v_b | b, 0xb000));
            let new = Hpt::new(18).expect("hpt");
            let rc = old.rehash_into(&new);
            (rc, new.read(0x713 * 8 + 2), new.read(0x713 * 8 + slot_b))
        };
        let bolted = hpte::BOLTED;
        // Two bolted entries: no room, the failure names the second.
        assert_eq!(run(bolted, bolted, 2).0, Err(0xf13 * 8 + 2));
        // A bolted entry displaces a non-bolted one, and keeps its place against one.
        assert_eq!(
            run(0, bolted, 2),
            (
                Ok(()),
                Some((v_b | bolted, 0xb000)),
                Some((v_b | bolted, 0xb000))
            )
        );
        assert_eq!(run(bolted, 0, 2).1, Some((V0 | bolted, 0xa000)));
        // Two non-bolted: the later one stays (either may go; the guest refaults it).
        assert_eq!(run(0, 0, 2).1, Some((v_b, 0xb000)));
        // Different slots don't collide.
        let (rc, a, b) = run(bolted, bolted, 5);
        assert_eq!(rc, Ok(()));
        assert_eq!(
            (a, b),
            (Some((V0 | bolted, 0xa000)), Some((v_b | bolted, 0xb000)))
        );
    }

    #[test]
    fn hpt_bounds_and_clear() {
        let h = Hpt::new(18).expect("hpt");
        assert_eq!(h.entries(), 1 << 14);
        assert_eq!(h.pate0(), 0);
        assert!(h.read(1 << 14).is_none());
        assert!(!h.write(1 << 14, 1, 1));
        assert!(h.read(u64::MAX).is_none());
        assert!(h.write(5, 0x11, 0x22));
        assert_eq!(h.set_dw1_bits(5, 0x100), Some(0x22));
        assert_eq!(h.clear_dw1_bits(5, 0x2), Some(0x122));
        assert_eq!(h.read(5), Some((0x11, 0x120)));
        h.clear();
        assert_eq!(h.read(5), Some((0, 0)));
        assert!(Hpt::new(17).is_err() && Hpt::new(47).is_err());
    }
}
