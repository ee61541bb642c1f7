//! The hashed page table (HPT) of a hash-MMU partition, which the hypervisor owns, and the
//! hypercalls that manage it (PAPR 14.5.4.1: H_ENTER, H_REMOVE, H_READ, H_PROTECT, H_BULK_REMOVE,
//! H_CLEAR_REF, H_CLEAR_MOD).
//!
//! The table lives in host memory of its own, outside guest RAM, and is created with the machine,
//! sized as QEMU sizes it: 1/128 of RAM rounded up to a power of two, at least 256 KiB (the cpu
//! nodes' `ibm,pft-size` says the same). It goes to every vCPU with the partition state
//! (`Cpu::hpt`, its size in PATE dw0), so a partition that has not registered a radix process
//! table (LPCR[HR]=0: before CAS, or a guest that chose hash) translates through it. The hcalls
//! serialise on the partition-state lock; vCPUs read entries and record R/C with atomics. After an
//! entry is removed or changed the caller's cached translations are dropped and the partition
//! state generation is bumped, so the other vCPUs drop theirs before their next slice.
//!
//! Real mode: the guest's real mode area (its VRMA) is min(RAM, 1 TiB), as QEMU's spapr_rma_size
//! computes it (the VRMA is one 1 TiB segment); the CPU faults real-mode accesses beyond it.
//!
//! HPT resizing (PAPR's "hcall-hpt-resize", QEMU's protocol): H_RESIZE_HPT_PREPARE allocates an
//! empty table of the requested size (synchronously: it never answers H_LONG_BUSY), and
//! H_RESIZE_HPT_COMMIT rehashes every entry into it (`Hpt::rehash_into`) and switches the
//! partition to it under the partition-state lock; every vCPU drops its cached translations and
//! takes the new table and PATE HTABSIZE with the state generation. A bolted-entry collision
//! (shrinking) fails the commit with H_PTEG_FULL and leaves the old table in use. With
//! `resize-hpt=disabled` both answer H_AUTHORITY and the set is not advertised.

use crate::hcall::{
    HcallFn, H_AUTHORITY, H_CLOSED, H_FUNCTION, H_HARDWARE, H_NOT_AVAILABLE, H_NOT_FOUND, H_NO_MEM,
    H_PARAMETER, H_PTEG_FULL, H_RESOURCE, H_SUCCESS,
};
use crate::machine::{Machine, PartitionCpuState};
use ppc::mmu::{hpte, hpte_page_shift_any, Hpt};
use ppc::Cpu;
use std::sync::Arc;

pub use crate::papr::{
    H_BULK_REMOVE, H_CLEAR_MOD, H_CLEAR_REF, H_ENTER, H_PROTECT, H_READ, H_REMOVE,
    H_RESIZE_HPT_COMMIT, H_RESIZE_HPT_PREPARE,
};

pub const HCALLS: &[(u64, &str, HcallFn)] = &[
    (H_REMOVE, "H_REMOVE", h_remove),
    (H_ENTER, "H_ENTER", h_enter),
    (H_READ, "H_READ", h_read),
    (H_CLEAR_MOD, "H_CLEAR_MOD", h_clear_mod),
    (H_CLEAR_REF, "H_CLEAR_REF", h_clear_ref),
    (H_PROTECT, "H_PROTECT", h_protect),
    (H_BULK_REMOVE, "H_BULK_REMOVE", h_bulk_remove),
    (
        H_RESIZE_HPT_PREPARE,
        "H_RESIZE_HPT_PREPARE",
        h_resize_hpt_prepare,
    ),
    (
        H_RESIZE_HPT_COMMIT,
        "H_RESIZE_HPT_COMMIT",
        h_resize_hpt_commit,
    ),
];

/// hcall flags (PAPR numbering: bit n is 1 << (63 - n)).
pub mod flags {
    /// H_ENTER: use exactly the given slot.
    pub const H_EXACT: u64 = 1 << (63 - 24);
    /// H_READ: the logical page number is wanted (logical = real here: nothing to do).
    pub const H_R_XLATE: u64 = 1 << (63 - 25);
    /// H_READ: return the four entries of the aligned quarter group.
    pub const H_READ_4: u64 = 1 << (63 - 26);
    /// H_REMOVE/H_PROTECT: the entry's AVPN (pteh bits 0:56) must equal the argument.
    pub const H_AVPN: u64 = 1 << (63 - 32);
    /// H_REMOVE: the entry's pteh AND the argument must be 0.
    pub const H_ANDCOND: u64 = 1 << (63 - 33);
    /// H_ENTER: zero the page before mapping it.
    pub const H_ZERO_PAGE: u64 = 1 << (63 - 48);
    /// H_PROTECT: PP0 (bit 55 of the flags -> HPTE bit 0).
    pub const H_PP0: u64 = 1 << 8;
}

/// H_BULK_REMOVE translation specifier (high doubleword) fields.
pub mod bulk {
    pub const TYPE: u64 = 3 << 62;
    pub const REQUEST: u64 = 1 << 62;
    pub const RESPONSE: u64 = 2 << 62;
    pub const END: u64 = 3 << 62;
    /// Response code (bits 2:3): 0 success, 1 not found, 2 parameter error, 3 hardware error.
    pub const CODE_SHIFT: u32 = 60;
    pub const NOT_FOUND: u64 = 1;
    pub const PARM: u64 = 2;
    /// Reference and change bits of a removed entry (bits 4:5, R then C, as PAPR lays them out;
    /// QEMU puts them at bits 12:13).
    pub const RC_SHIFT: u32 = 51;
    /// Flags (bits 6:7): 0 absolute, 1 AND condition, 2 AVPN match.
    pub const FLAGS: u64 = 3 << 56;
    pub const ANDCOND: u64 = 1 << 56;
    pub const AVPN: u64 = 2 << 56;
    pub const PTEX: u64 = (1 << 56) - 1;
}

/// pteh bits PAPR reserves to the hypervisor (software bits 57:58); H_ENTER clears them.
const HV_RESERVED: u64 = 0x60;

/// Log2 of the HPT size for `ram` bytes of RAM: 1/128 of RAM rounded up to a power of two, within
/// the architected 256 KiB .. 64 TiB (QEMU's spapr_hpt_shift_for_ramsize).
pub fn shift_for_ram(ram: u64) -> u32 {
    let pow2 = ram.max(1).checked_next_power_of_two().unwrap_or(1 << 63);
    (pow2.trailing_zeros().saturating_sub(7)).clamp(Hpt::MIN_SHIFT, Hpt::MAX_SHIFT)
}

/// The partition state a new machine starts with: no radix process table (LPCR[HR]=0) and an
/// empty HPT sized for `ram`, so the vCPUs translate with the hash MMU until the guest registers
/// a radix table.
pub fn initial_cpu_state(ram: u64) -> Result<PartitionCpuState, String> {
    let shift = shift_for_ram(ram);
    let hpt = Hpt::new(shift)
        .map_err(|e| format!("cannot allocate the 2^{shift}-byte hash page table: {e}"))?;
    Ok(PartitionCpuState {
        lpcr: 0,
        pate: [hpt.pate0(), 0],
        hpt: Some(Arc::new(hpt)),
        pending_hpt: None,
        pcr: 0,
    })
}

/// Runs `f` on the partition's HPT with the hypervisor's HPT lock (the partition-state lock) held.
fn with_hpt(m: &Machine, f: impl FnOnce(&Hpt) -> i64) -> i64 {
    let Ok(st) = m.cpu_state.lock() else {
        return H_HARDWARE;
    };
    match st.hpt.as_deref() {
        Some(h) => f(h),
        None => H_FUNCTION,
    }
}

/// Drops translations of entries that changed, on every vCPU, before the hcall returns (the
/// hypervisor's tlbie).
fn invalidate_translations(_m: &Machine, cpu: &mut Cpu) {
    cpu.tlb_shootdown();
}

/// H_ENTER(flags, ptex, pteh, ptel) -> slot: adds an entry to the group of `ptex`, in its first
/// free slot or, with H_EXACT, in exactly that slot.
fn h_enter(m: &Machine, cpu: &mut Cpu) -> i64 {
    let (fl, ptex, pteh, ptel) = (cpu.gpr[4], cpu.gpr[5], cpu.gpr[6], cpu.gpr[7]);
    let Some(shift) = hpte_page_shift_any(pteh, ptel) else {
        return H_PARAMETER;
    };
    let size = 1u64 << shift;
    let ra = ptel & hpte::RPN & !(size - 1);
    let in_ram = ra < m.mem.size();
    if in_ram {
        // Memory is coherent and cacheable: WIMG = 0010.
        if ptel & hpte::WIMG != hpte::M {
            return H_PARAMETER;
        }
    } else {
        // I/O space: cache-inhibited, possibly coherent.
        let wim = ptel & (hpte::W | hpte::I | hpte::M);
        if wim != hpte::I && wim != hpte::I | hpte::M {
            return H_PARAMETER;
        }
    }
    let pteh = pteh & !HV_RESERVED;
    let mut placed = 0;
    let rc = with_hpt(m, |hpt| {
        if ptex >= hpt.entries() {
            return H_PARAMETER;
        }
        let free = |i: u64| hpt.read(i).is_some_and(|(v, _)| v & hpte::V == 0);
        let group = ptex & !7;
        let slot = if fl & flags::H_EXACT != 0 {
            Some(ptex).filter(|&i| free(i))
        } else {
            (group..group + 8).find(|&i| free(i))
        };
        let Some(slot) = slot else {
            return H_PTEG_FULL;
        };
        if fl & flags::H_ZERO_PAGE != 0 && in_ram {
            m.mem.fill(ra, size, 0);
        }
        hpt.write(slot, pteh, ptel);
        placed = slot;
        H_SUCCESS
    });
    if rc == H_SUCCESS {
        cpu.gpr[4] = placed;
    }
    rc
}

/// Removes entry `ptex` if it is valid and passes the H_AVPN / H_ANDCOND test; returns its old
/// doublewords, or the hcall status.
fn remove(hpt: &Hpt, ptex: u64, avpn: u64, fl: u64) -> Result<(u64, u64), i64> {
    if ptex >= hpt.entries() {
        return Err(H_PARAMETER);
    }
    let (v, r) = hpt.read(ptex).ok_or(H_PARAMETER)?;
    if v & hpte::V == 0
        || (fl & flags::H_AVPN != 0 && v & !0x7f != avpn)
        || (fl & flags::H_ANDCOND != 0 && v & avpn != 0)
    {
        return Err(H_NOT_FOUND);
    }
    hpt.write(ptex, 0, 0);
    Ok((v, r))
}

/// H_REMOVE(flags, ptex, avpn) -> old pteh, old ptel.
fn h_remove(m: &Machine, cpu: &mut Cpu) -> i64 {
    let (fl, ptex, avpn) = (cpu.gpr[4], cpu.gpr[5], cpu.gpr[6]);
    let mut old = (0, 0);
    let rc = with_hpt(m, |hpt| match remove(hpt, ptex, avpn, fl) {
        Ok(vr) => {
            old = vr;
            H_SUCCESS
        }
        Err(e) => e,
    });
    if rc == H_SUCCESS {
        (cpu.gpr[4], cpu.gpr[5]) = old;
        invalidate_translations(m, cpu);
    }
    rc
}

/// H_BULK_REMOVE(4 x (specifier, avpn)): up to four removals, each answered in its specifier:
/// response type, status code, the entry's R and C. Stops at an END specifier, and with
/// H_PARAMETER at a malformed one.
fn h_bulk_remove(m: &Machine, cpu: &mut Cpu) -> i64 {
    let mut removed = false;
    let rc = with_hpt(m, |hpt| {
        for i in 0..4 {
            let (tsh, tsl) = (cpu.gpr[4 + 2 * i], cpu.gpr[5 + 2 * i]);
            match tsh & bulk::TYPE {
                bulk::END => break,
                bulk::REQUEST => {}
                _ => return H_PARAMETER,
            }
            let mut resp = (tsh & (bulk::PTEX | bulk::FLAGS)) | bulk::RESPONSE;
            let f = tsh & bulk::FLAGS;
            if f == bulk::ANDCOND | bulk::AVPN {
                cpu.gpr[4 + 2 * i] = resp | bulk::PARM << bulk::CODE_SHIFT;
                return H_PARAMETER;
            }
            // The specifier's flags map onto H_REMOVE's.
            let fl = (if f == bulk::AVPN { flags::H_AVPN } else { 0 })
                | (if f == bulk::ANDCOND {
                    flags::H_ANDCOND
                } else {
                    0
                });
            match remove(hpt, tsh & bulk::PTEX, tsl, fl) {
                Ok((_, r)) => {
                    removed = true;
                    resp |= (r & (hpte::R | hpte::C)) << bulk::RC_SHIFT;
                    cpu.gpr[4 + 2 * i] = resp;
                }
                Err(H_NOT_FOUND) => {
                    cpu.gpr[4 + 2 * i] = resp | bulk::NOT_FOUND << bulk::CODE_SHIFT;
                }
                Err(e) => {
                    cpu.gpr[4 + 2 * i] = resp | bulk::PARM << bulk::CODE_SHIFT;
                    return e;
                }
            }
        }
        H_SUCCESS
    });
    if removed {
        invalidate_translations(m, cpu);
    }
    rc
}

/// H_READ(flags, ptex) -> pteh, ptel (or, with H_READ_4, the four entries from ptex & !3 in
/// r4..r11).
fn h_read(m: &Machine, cpu: &mut Cpu) -> i64 {
    let (fl, ptex) = (cpu.gpr[4], cpu.gpr[5]);
    let mut out = [0u64; 8];
    let rc = with_hpt(m, |hpt| {
        if ptex >= hpt.entries() {
            return H_PARAMETER;
        }
        let (first, n) = if fl & flags::H_READ_4 != 0 {
            (ptex & !3, 4)
        } else {
            (ptex, 1)
        };
        for k in 0..n {
            let Some((v, r)) = hpt.read(first + k) else {
                return H_PARAMETER;
            };
            out[2 * k as usize] = v;
            out[2 * k as usize + 1] = r;
        }
        H_SUCCESS
    });
    if rc == H_SUCCESS {
        let n = if fl & flags::H_READ_4 != 0 { 8 } else { 2 };
        cpu.gpr[4..4 + n].copy_from_slice(&out[..n]);
    }
    rc
}

/// H_PROTECT(flags, ptex, avpn): sets the entry's PP0, PP, N and key bits from the flags.
fn h_protect(m: &Machine, cpu: &mut Cpu) -> i64 {
    let (fl, ptex, avpn) = (cpu.gpr[4], cpu.gpr[5], cpu.gpr[6]);
    let rc = with_hpt(m, |hpt| {
        if ptex >= hpt.entries() {
            return H_PARAMETER;
        }
        let Some((v, r)) = hpt.read(ptex) else {
            return H_PARAMETER;
        };
        if v & hpte::V == 0 || (fl & flags::H_AVPN != 0 && v & !0x7f != avpn) {
            return H_NOT_FOUND;
        }
        let keep = !(hpte::PP0 | hpte::PP | hpte::N | hpte::KEY_HI | hpte::KEY_LO);
        let r = (r & keep)
            | (fl & flags::H_PP0) << 55
            | (fl << 48) & hpte::KEY_HI
            | fl & (hpte::PP | hpte::N | hpte::KEY_LO);
        hpt.write(ptex, v, r);
        H_SUCCESS
    });
    if rc == H_SUCCESS {
        invalidate_translations(m, cpu);
    }
    rc
}

/// H_CLEAR_REF / H_CLEAR_MOD(flags, ptex) -> old ptel: clears R or C of a valid entry.
fn clear_bit(m: &Machine, cpu: &mut Cpu, bit: u64) -> i64 {
    let (fl, ptex) = (cpu.gpr[4], cpu.gpr[5]);
    if fl != 0 {
        return H_PARAMETER;
    }
    let mut old = 0;
    let rc = with_hpt(m, |hpt| {
        if ptex >= hpt.entries() {
            return H_PARAMETER;
        }
        match hpt.read(ptex) {
            Some((v, _)) if v & hpte::V != 0 => {}
            Some(_) => return H_NOT_FOUND,
            None => return H_PARAMETER,
        }
        match hpt.clear_dw1_bits(ptex, bit) {
            Some(r) => {
                old = r;
                H_SUCCESS
            }
            None => H_PARAMETER,
        }
    });
    if rc == H_SUCCESS {
        cpu.gpr[4] = old;
        invalidate_translations(m, cpu);
    }
    rc
}

fn h_clear_ref(m: &Machine, cpu: &mut Cpu) -> i64 {
    clear_bit(m, cpu, hpte::R)
}

fn h_clear_mod(m: &Machine, cpu: &mut Cpu) -> i64 {
    clear_bit(m, cpu, hpte::C)
}

/// Whether the partition translates with the HPT (LPCR[HR]=0); a radix guest has no use for
/// resizing it (QEMU frees it and answers H_NOT_AVAILABLE).
fn hash_mode(st: &PartitionCpuState) -> bool {
    st.lpcr & ppc::cpu::lpcr::HR == 0 && st.hpt.is_some()
}

/// H_RESIZE_HPT_PREPARE(flags, shift): makes an empty 2^shift-byte table ready for the commit,
/// replacing a pending one of another size; shift 0 cancels. As QEMU, the table may be at most
/// twice the size the machine's RAM gets at boot (H_RESOURCE beyond).
fn h_resize_hpt_prepare(m: &Machine, cpu: &mut Cpu) -> i64 {
    let (fl, shift) = (cpu.gpr[4], cpu.gpr[5]);
    if !m.config.resize_hpt {
        return H_AUTHORITY;
    }
    let Ok(mut st) = m.cpu_state.lock() else {
        return H_HARDWARE;
    };
    if !hash_mode(&st) {
        return H_NOT_AVAILABLE;
    }
    if fl != 0 {
        return H_PARAMETER;
    }
    if shift != 0 && !(Hpt::MIN_SHIFT as u64..=Hpt::MAX_SHIFT as u64).contains(&shift) {
        return H_PARAMETER;
    }
    if shift > shift_for_ram(m.config.ram_size) as u64 + 1 {
        return H_RESOURCE;
    }
    // A pending table of this size is still empty (a commit always consumes it): keep it.
    if st
        .pending_hpt
        .as_ref()
        .is_some_and(|p| p.shift() as u64 == shift)
    {
        return H_SUCCESS;
    }
    st.pending_hpt = None;
    if shift == 0 {
        return H_SUCCESS;
    }
    match Hpt::new(shift as u32) {
        Ok(h) => {
            st.pending_hpt = Some(Arc::new(h));
            H_SUCCESS
        }
        Err(_) => H_NO_MEM,
    }
}

/// H_RESIZE_HPT_COMMIT(flags, shift): moves every entry into the table prepared for `shift` and
/// makes it the partition's. H_CLOSED without a prepared table of that size (QEMU and KVM answer
/// so for both cases); H_PTEG_FULL if bolted entries collide, the old table staying in use. The
/// prepared table is consumed either way.
fn h_resize_hpt_commit(m: &Machine, cpu: &mut Cpu) -> i64 {
    let (fl, shift) = (cpu.gpr[4], cpu.gpr[5]);
    if !m.config.resize_hpt {
        return H_AUTHORITY;
    }
    if fl != 0 {
        return H_PARAMETER;
    }
    // Under the state lock, so no hcall changes the table during the rehash; the caller takes the
    // new table at once (its translations dropped), the other vCPUs at their next slice.
    let mut rc = H_HARDWARE;
    m.update_cpu_state(cpu, |st| {
        rc = commit(st, shift);
    });
    rc
}

fn commit(st: &mut PartitionCpuState, shift: u64) -> i64 {
    if !hash_mode(st) {
        return H_NOT_AVAILABLE;
    }
    // A size that doesn't match leaves the prepared table for a commit that does.
    let Some(new) = st.pending_hpt.take_if(|p| p.shift() as u64 == shift) else {
        return H_CLOSED;
    };
    let Some(old) = st.hpt.as_deref() else {
        return H_NOT_AVAILABLE;
    };
    if old.rehash_into(&new).is_err() {
        return H_PTEG_FULL;
    }
    st.pate[0] = new.pate0();
    st.hpt = Some(new);
    H_SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{cpu, hcall, machine};
    use flags::*;
    use ppc::mmu::slb;
    use std::sync::atomic::Ordering;

    /// The test machine has 64 MiB of RAM: a 2^19-byte HPT (1/128 of RAM), 32768 entries.
    const ENTRIES: u64 = 1 << 15;

    fn read(m: &Machine, ptex: u64) -> (u64, u64) {
        let st = m.cpu_state.lock().expect("state");
        st.hpt.as_deref().expect("hpt").read(ptex).expect("entry")
    }

    fn write(m: &Machine, ptex: u64, v: u64, r: u64) {
        let st = m.cpu_state.lock().expect("state");
        assert!(st.hpt.as_deref().expect("hpt").write(ptex, v, r));
    }

    const V: u64 = 0xabc_0000_0080 | hpte::V;
    const R: u64 = 0x12_3000 | hpte::M | 2;

    #[test]
    fn machine_starts_with_a_hash_table_for_its_ram() {
        let (m, _) = machine();
        let st = m.cpu_state.lock().expect("state").clone();
        let hpt = st.hpt.expect("hpt");
        assert_eq!(hpt.shift(), 19);
        assert_eq!(hpt.entries(), ENTRIES);
        // PATE dw0: HTABORG 0, HTABSIZE = 19 - 18.
        assert_eq!(st.pate, [1, 0]);
        assert_eq!(st.lpcr & ppc::cpu::lpcr::HR, 0);
        // A vCPU gets it with the partition state.
        let mut c = cpu(&m);
        crate::machine::apply_cpu_state(&mut c, &m.cpu_state.lock().expect("state"));
        assert!(c.hpt.as_ref().is_some_and(|h| Arc::ptr_eq(h, &hpt)));
        assert_eq!(c.pate[0], 1);
    }

    #[test]
    fn hash_table_size_rule() {
        assert_eq!(shift_for_ram(64 << 20), 19);
        assert_eq!(shift_for_ram(1 << 30), 23);
        assert_eq!(shift_for_ram(100 << 20), 20, "rounded up to 128 MiB");
        assert_eq!(shift_for_ram(1 << 20), 18, "architected minimum");
        assert_eq!(shift_for_ram(u64::MAX), 46, "architected maximum");
    }

    #[test]
    fn enter_first_free_slot_and_exact() {
        let (m, _) = machine();
        let mut c = cpu(&m);
        // Slot 0 of group 2 taken: the next enter lands in slot 1, whatever ptex's low bits.
        assert_eq!(hcall(&m, &mut c, H_ENTER, &[0, 16 + 5, V, R]), H_SUCCESS);
        assert_eq!(c.gpr[4], 16);
        assert_eq!(hcall(&m, &mut c, H_ENTER, &[0, 16, V | 0x60, R]), H_SUCCESS);
        assert_eq!(c.gpr[4], 17);
        // The hypervisor's software bits are cleared; the rest is stored as given.
        assert_eq!(read(&m, 16), (V, R));
        assert_eq!(read(&m, 17), (V, R));
        // H_EXACT: the named slot, or H_PTEG_FULL if it is in use.
        assert_eq!(
            hcall(&m, &mut c, H_ENTER, &[H_EXACT, 16 + 6, V, R]),
            H_SUCCESS
        );
        assert_eq!(c.gpr[4], 22);
        assert_eq!(
            hcall(&m, &mut c, H_ENTER, &[H_EXACT, 17, V, R]),
            H_PTEG_FULL
        );
        // Fill the group: the ninth entry finds no room.
        for _ in 0..5 {
            assert_eq!(hcall(&m, &mut c, H_ENTER, &[0, 16, V, R]), H_SUCCESS);
        }
        assert_eq!(hcall(&m, &mut c, H_ENTER, &[0, 16, V, R]), H_PTEG_FULL);
        // An invalid entry frees its slot (only V counts).
        write(&m, 19, V & !hpte::V, R);
        assert_eq!(hcall(&m, &mut c, H_ENTER, &[0, 16, V, R]), H_SUCCESS);
        assert_eq!(c.gpr[4], 19);
    }

    #[test]
    fn enter_checks_arguments() {
        let (m, _) = machine();
        let mut c = cpu(&m);
        // PTE index beyond the table.
        assert_eq!(hcall(&m, &mut c, H_ENTER, &[0, ENTRIES, V, R]), H_PARAMETER);
        assert_eq!(
            hcall(&m, &mut c, H_ENTER, &[0, u64::MAX, V, R]),
            H_PARAMETER
        );
        // RAM must be mapped WIMG = 0010.
        for wimg in [0, hpte::I | hpte::M, hpte::M | hpte::G, hpte::W | hpte::M] {
            let r = 0x12_3000 | wimg;
            assert_eq!(
                hcall(&m, &mut c, H_ENTER, &[0, 0, V, r]),
                H_PARAMETER,
                "{wimg:#x}"
            );
        }
        // Beyond RAM (I/O): cache-inhibited, optionally coherent or guarded.
        let io = 1u64 << 40;
        for wimg in [hpte::I, hpte::I | hpte::G, hpte::I | hpte::M] {
            assert_eq!(hcall(&m, &mut c, H_ENTER, &[0, 0, V, io | wimg]), H_SUCCESS);
        }
        for wimg in [hpte::M, 0, hpte::W | hpte::I] {
            assert_eq!(
                hcall(&m, &mut c, H_ENTER, &[0, 0, V, io | wimg]),
                H_PARAMETER
            );
        }
        // Large page with an encoding no segment size has (L=1, LP bits 0x3).
        assert_eq!(
            hcall(
                &m,
                &mut c,
                H_ENTER,
                &[0, 0, V | hpte::L, 0x100_3000 | hpte::M]
            ),
            H_PARAMETER
        );
        // 16 MiB and 64 KiB pages are accepted.
        assert_eq!(
            hcall(
                &m,
                &mut c,
                H_ENTER,
                &[0, 8, V | hpte::L, 0x100_0000 | hpte::M]
            ),
            H_SUCCESS
        );
        assert_eq!(
            hcall(
                &m,
                &mut c,
                H_ENTER,
                &[0, 8, V | hpte::L, 0x1_1000 | hpte::M]
            ),
            H_SUCCESS
        );
    }

    #[test]
    fn enter_zero_page() {
        let (m, _) = machine();
        let mut c = cpu(&m);
        assert!(m.mem.fill(0x12_3000, 0x1000, 0xaa));
        assert_eq!(hcall(&m, &mut c, H_ENTER, &[0, 0, V, R]), H_SUCCESS);
        let mut b = [0u8; 2];
        assert!(m.mem.read(0x12_3ffe, &mut b));
        assert_eq!(b, [0xaa, 0xaa]);
        assert_eq!(
            hcall(&m, &mut c, H_ENTER, &[H_ZERO_PAGE, 0, V, R]),
            H_SUCCESS
        );
        assert!(m.mem.read(0x12_3ffe, &mut b));
        assert_eq!(b, [0, 0]);
    }

    #[test]
    fn remove_conditions() {
        let (m, _) = machine();
        let mut c = cpu(&m);
        write(&m, 40, V, R | hpte::R);
        // Bad index; empty slot.
        assert_eq!(hcall(&m, &mut c, H_REMOVE, &[0, ENTRIES, 0]), H_PARAMETER);
        assert_eq!(hcall(&m, &mut c, H_REMOVE, &[0, 41, 0]), H_NOT_FOUND);
        // AVPN mismatch (compares pteh bits 0:56), then the right AVPN.
        assert_eq!(
            hcall(&m, &mut c, H_REMOVE, &[H_AVPN, 40, (V & !0x7f) ^ 0x80]),
            H_NOT_FOUND
        );
        // ANDCOND: refused while pteh & arg != 0 (Linux passes the bolted bit).
        write(&m, 40, V | 0x10, R | hpte::R);
        assert_eq!(
            hcall(&m, &mut c, H_REMOVE, &[H_ANDCOND, 40, 0x10]),
            H_NOT_FOUND
        );
        assert_eq!(read(&m, 40).0, V | 0x10, "still there");
        c.irq.lower(ppc::cpu::IrqLines::EXIT);
        assert_eq!(
            hcall(&m, &mut c, H_REMOVE, &[H_AVPN, 40, V & !0x7f]),
            H_SUCCESS
        );
        // The old entry comes back in r4/r5; translations are dropped everywhere.
        assert_eq!((c.gpr[4], c.gpr[5]), (V | 0x10, R | hpte::R));
        assert_eq!(read(&m, 40), (0, 0));
        assert!(c.slice_ending());
        assert_eq!(hcall(&m, &mut c, H_REMOVE, &[0, 40, 0]), H_NOT_FOUND);
        // ANDCOND passes when the tested bits are clear.
        write(&m, 41, V, R);
        assert_eq!(
            hcall(&m, &mut c, H_REMOVE, &[H_ANDCOND, 41, 0x10]),
            H_SUCCESS
        );
    }

    #[test]
    fn read_one_and_four() {
        let (m, _) = machine();
        let mut c = cpu(&m);
        for i in 0..4 {
            write(&m, 100 + i, V + (i << 7), R + i);
        }
        assert_eq!(hcall(&m, &mut c, H_READ, &[0, 102]), H_SUCCESS);
        assert_eq!((c.gpr[4], c.gpr[5]), (V + (2 << 7), R + 2));
        // H_READ_4 starts at the aligned entry (103 & !3 = 100).
        assert_eq!(hcall(&m, &mut c, H_READ, &[H_READ_4, 103]), H_SUCCESS);
        for i in 0..4 {
            assert_eq!(c.gpr[4 + 2 * i], V + ((i as u64) << 7));
            assert_eq!(c.gpr[5 + 2 * i], R + i as u64);
        }
        assert_eq!(hcall(&m, &mut c, H_READ, &[0, ENTRIES]), H_PARAMETER);
        assert_eq!(
            hcall(&m, &mut c, H_READ, &[H_READ_4, ENTRIES + 1]),
            H_PARAMETER
        );
        // The last four entries can be read.
        assert_eq!(
            hcall(&m, &mut c, H_READ, &[H_READ_4, ENTRIES - 1]),
            H_SUCCESS
        );
    }

    #[test]
    fn protect_sets_pp_n_key() {
        let (m, _) = machine();
        let mut c = cpu(&m);
        let r = 0x12_3000 | hpte::M | hpte::R | hpte::C | hpte::KEY_HI | hpte::KEY_LO | 2;
        write(&m, 8, V, r);
        // flags: PP0 (bit 55 -> 0x100), key bits 0:1 (0x3000 -> KEY_HI), N, key low 0x200,
        // PP=01.
        let fl = H_PP0 | 0x1000 | hpte::N | 0x200 | 1;
        assert_eq!(hcall(&m, &mut c, H_PROTECT, &[fl, 8, 0]), H_SUCCESS);
        let want =
            0x12_3000 | hpte::M | hpte::R | hpte::C | hpte::PP0 | 1 << 60 | hpte::N | 0x200 | 1;
        assert_eq!(read(&m, 8), (V, want));
        // AVPN check, invalid entry, bad index.
        assert_eq!(
            hcall(&m, &mut c, H_PROTECT, &[H_AVPN, 8, 0x1_0000_0000]),
            H_NOT_FOUND
        );
        assert_eq!(
            hcall(&m, &mut c, H_PROTECT, &[H_AVPN | 3, 8, V & !0x7f]),
            H_SUCCESS
        );
        assert_eq!(read(&m, 8).1 & (hpte::PP0 | hpte::PP | hpte::N), 3);
        assert_eq!(hcall(&m, &mut c, H_PROTECT, &[0, 9, 0]), H_NOT_FOUND);
        assert_eq!(hcall(&m, &mut c, H_PROTECT, &[0, ENTRIES, 0]), H_PARAMETER);
    }

    #[test]
    fn clear_ref_and_mod() {
        let (m, _) = machine();
        let mut c = cpu(&m);
        write(&m, 3, V, R | hpte::R | hpte::C);
        assert_eq!(hcall(&m, &mut c, H_CLEAR_MOD, &[0, 3]), H_SUCCESS);
        assert_eq!(c.gpr[4], R | hpte::R | hpte::C, "old ptel");
        assert_eq!(read(&m, 3).1, R | hpte::R);
        assert_eq!(hcall(&m, &mut c, H_CLEAR_REF, &[0, 3]), H_SUCCESS);
        assert_eq!(c.gpr[4], R | hpte::R);
        assert_eq!(read(&m, 3).1, R);
        assert_eq!(hcall(&m, &mut c, H_CLEAR_REF, &[1, 3]), H_PARAMETER);
        assert_eq!(hcall(&m, &mut c, H_CLEAR_MOD, &[0, 4]), H_NOT_FOUND);
        assert_eq!(hcall(&m, &mut c, H_CLEAR_MOD, &[0, ENTRIES]), H_PARAMETER);
    }

    #[test]
    fn bulk_remove_mixed_results() {
        let (m, _) = machine();
        let mut c = cpu(&m);
        write(&m, 10, V, R | hpte::R | hpte::C);
        write(&m, 11, V | 0x10, R);
        write(&m, 12, V, R | hpte::R);
        let req = |ptex: u64, f: u64| bulk::REQUEST | f | ptex;
        let args = [
            req(10, 0),
            0,
            req(11, bulk::ANDCOND),
            0x10,
            req(12, bulk::AVPN),
            V & !0x7f,
            req(13, 0),
            0,
        ];
        assert_eq!(hcall(&m, &mut c, H_BULK_REMOVE, &args), H_SUCCESS);
        let resp = |ptex: u64, f: u64, code: u64, rc: u64| {
            bulk::RESPONSE | f | ptex | code << bulk::CODE_SHIFT | rc << bulk::RC_SHIFT
        };
        // 10: removed, R and C were set; 11: bolted, refused; 12: removed, R; 13: empty.
        assert_eq!(c.gpr[4], resp(10, 0, 0, 3 << 7));
        assert_eq!(c.gpr[6], resp(11, bulk::ANDCOND, bulk::NOT_FOUND, 0));
        assert_eq!(c.gpr[8], resp(12, bulk::AVPN, 0, 2 << 7));
        assert_eq!(c.gpr[10], resp(13, 0, bulk::NOT_FOUND, 0));
        assert_eq!(
            (read(&m, 10).0, read(&m, 11).0, read(&m, 12).0),
            (0, V | 0x10, 0)
        );
        // The R/C field sits in specifier bits 4:5 (R 4, C 5).
        assert_eq!(
            resp(0, 0, 0, 3 << 7) & !bulk::RESPONSE,
            0x0c00_0000_0000_0000
        );

        // END stops processing; later specifiers are left untouched.
        write(&m, 20, V, R);
        let args = [req(20, 0), 0, bulk::END, 0, req(21, 0), 0];
        assert_eq!(hcall(&m, &mut c, H_BULK_REMOVE, &args), H_SUCCESS);
        assert_eq!(c.gpr[4], resp(20, 0, 0, 0));
        assert_eq!(c.gpr[8], req(21, 0));

        // A response-type specifier, both conditions at once, or a bad index: H_PARAMETER.
        assert_eq!(
            hcall(&m, &mut c, H_BULK_REMOVE, &[bulk::RESPONSE | 5, 0]),
            H_PARAMETER
        );
        assert_eq!(
            hcall(
                &m,
                &mut c,
                H_BULK_REMOVE,
                &[req(5, bulk::ANDCOND | bulk::AVPN), 0, bulk::END, 0]
            ),
            H_PARAMETER
        );
        assert_eq!(c.gpr[4] >> bulk::CODE_SHIFT & 3, bulk::PARM);
        write(&m, 30, V, R);
        let args = [req(30, 0), 0, req(ENTRIES, 0), 0, bulk::END, 0];
        assert_eq!(hcall(&m, &mut c, H_BULK_REMOVE, &args), H_PARAMETER);
        assert_eq!(c.gpr[4], resp(30, 0, 0, 0), "earlier removals stand");
        assert_eq!(c.gpr[6] >> bulk::CODE_SHIFT & 3, bulk::PARM);
    }

    fn pending_shift(m: &Machine) -> Option<u32> {
        let st = m.cpu_state.lock().expect("state");
        st.pending_hpt.as_ref().map(|h| h.shift())
    }

    fn table(m: &Machine) -> Arc<Hpt> {
        m.cpu_state.lock().expect("state").hpt.clone().expect("hpt")
    }

    #[test]
    fn resize_prepare_checks_arguments() {
        let (m, _) = machine();
        let mut c = cpu(&m);
        let prepare =
            |c: &mut Cpu, fl: u64, shift: u64| hcall(&m, c, H_RESIZE_HPT_PREPARE, &[fl, shift]);
        assert_eq!(prepare(&mut c, 1, 20), H_PARAMETER, "flags must be 0");
        assert_eq!(prepare(&mut c, 1 << 63, 20), H_PARAMETER);
        // Outside the architected 2^18 .. 2^46.
        for shift in [1, 17, 47, 64, 1 << 32 | 20, u64::MAX] {
            assert_eq!(prepare(&mut c, 0, shift), H_PARAMETER, "{shift}");
        }
        // 64 MiB of RAM gets 2^19 at boot; one order more is the most a guest may ask for.
        assert_eq!(prepare(&mut c, 0, 21), H_RESOURCE);
        assert_eq!(prepare(&mut c, 0, 46), H_RESOURCE);
        assert_eq!(pending_shift(&m), None, "failures prepare nothing");
        for shift in [18, 19, 20] {
            assert_eq!(prepare(&mut c, 0, shift), H_SUCCESS, "{shift}");
            assert_eq!(pending_shift(&m), Some(shift as u32));
        }
        // Asking again for the pending size keeps it.
        let before = m.cpu_state.lock().expect("state").pending_hpt.clone();
        assert_eq!(prepare(&mut c, 0, 20), H_SUCCESS);
        let after = m.cpu_state.lock().expect("state").pending_hpt.clone();
        assert!(Arc::ptr_eq(
            before.as_ref().expect("p"),
            after.as_ref().expect("p")
        ));
        // Preparing changes nothing the vCPUs see.
        assert_eq!(table(&m).shift(), 19);
        assert_eq!(m.cpu_state.lock().expect("state").pate[0], 1);
    }

    #[test]
    fn resize_cancel_and_replace() {
        let (m, _) = machine();
        let mut c = cpu(&m);
        // Shift 0 cancels, and is fine with nothing pending.
        assert_eq!(hcall(&m, &mut c, H_RESIZE_HPT_PREPARE, &[0, 0]), H_SUCCESS);
        assert_eq!(hcall(&m, &mut c, H_RESIZE_HPT_PREPARE, &[0, 20]), H_SUCCESS);
        assert_eq!(hcall(&m, &mut c, H_RESIZE_HPT_PREPARE, &[0, 0]), H_SUCCESS);
        assert_eq!(pending_shift(&m), None);
        assert_eq!(hcall(&m, &mut c, H_RESIZE_HPT_COMMIT, &[0, 20]), H_CLOSED);
        // Another size replaces the pending one.
        assert_eq!(hcall(&m, &mut c, H_RESIZE_HPT_PREPARE, &[0, 20]), H_SUCCESS);
        assert_eq!(hcall(&m, &mut c, H_RESIZE_HPT_PREPARE, &[0, 18]), H_SUCCESS);
        assert_eq!(pending_shift(&m), Some(18));
        assert_eq!(hcall(&m, &mut c, H_RESIZE_HPT_COMMIT, &[0, 20]), H_CLOSED);
        assert_eq!(hcall(&m, &mut c, H_RESIZE_HPT_COMMIT, &[0, 18]), H_SUCCESS);
        assert_eq!(table(&m).shift(), 18);
    }

    #[test]
    fn resize_commit_needs_a_matching_prepare() {
        let (m, _) = machine();
        let mut c = cpu(&m);
        let old = table(&m);
        // Nothing prepared.
        assert_eq!(hcall(&m, &mut c, H_RESIZE_HPT_COMMIT, &[0, 20]), H_CLOSED);
        assert_eq!(hcall(&m, &mut c, H_RESIZE_HPT_COMMIT, &[0, 0]), H_CLOSED);
        assert_eq!(hcall(&m, &mut c, H_RESIZE_HPT_PREPARE, &[0, 20]), H_SUCCESS);
        // Flags, then another size: refused, and the prepared table stays for the right one.
        assert_eq!(
            hcall(&m, &mut c, H_RESIZE_HPT_COMMIT, &[1, 20]),
            H_PARAMETER
        );
        assert_eq!(hcall(&m, &mut c, H_RESIZE_HPT_COMMIT, &[0, 19]), H_CLOSED);
        assert_eq!(hcall(&m, &mut c, H_RESIZE_HPT_COMMIT, &[0, 18]), H_CLOSED);
        assert_eq!(pending_shift(&m), Some(20));
        assert!(Arc::ptr_eq(&table(&m), &old));
        assert_eq!(hcall(&m, &mut c, H_RESIZE_HPT_COMMIT, &[0, 20]), H_SUCCESS);
        // The prepared table is used up.
        assert_eq!(pending_shift(&m), None);
        assert_eq!(hcall(&m, &mut c, H_RESIZE_HPT_COMMIT, &[0, 20]), H_CLOSED);
        // The same size as the current one is a valid (if pointless) resize.
        assert_eq!(hcall(&m, &mut c, H_RESIZE_HPT_PREPARE, &[0, 20]), H_SUCCESS);
        assert_eq!(hcall(&m, &mut c, H_RESIZE_HPT_COMMIT, &[0, 20]), H_SUCCESS);
    }

    #[test]
    fn resize_refused_to_radix_guests() {
        let (m, _) = machine();
        let mut c = cpu(&m);
        assert_eq!(hcall(&m, &mut c, H_RESIZE_HPT_PREPARE, &[0, 20]), H_SUCCESS);
        m.update_cpu_state(&mut c, |st| st.lpcr |= ppc::cpu::lpcr::HR);
        assert_eq!(
            hcall(&m, &mut c, H_RESIZE_HPT_PREPARE, &[0, 20]),
            H_NOT_AVAILABLE
        );
        assert_eq!(
            hcall(&m, &mut c, H_RESIZE_HPT_COMMIT, &[0, 20]),
            H_NOT_AVAILABLE
        );
        assert_eq!(table(&m).shift(), 19);
    }

    #[test]
    fn resize_disabled() {
        let cfg = crate::machine::MachineConfig {
            ram_size: 64 << 20,
            resize_hpt: false,
            ..Default::default()
        };
        let m = Machine::new(cfg, Box::new(std::io::sink())).expect("machine");
        let mut c = cpu(&m);
        // QEMU's answer, checked before anything else.
        for args in [[0, 20], [0, 0], [1, 99]] {
            assert_eq!(hcall(&m, &mut c, H_RESIZE_HPT_PREPARE, &args), H_AUTHORITY);
            assert_eq!(hcall(&m, &mut c, H_RESIZE_HPT_COMMIT, &args), H_AUTHORITY);
        }
        assert_eq!(pending_shift(&m), None);
        assert_eq!(table(&m).shift(), 19);
    }

    /// The ISA's primary hash (Book III 5.7.7.2) of `ea` in a segment: VSID ^ page (256 MiB) or
    /// VSID ^ (VSID << 25) ^ page (1 TiB), page being the offset in the segment over the base
    /// page size; 39 bits.
    fn isa_hash(vsid: u64, one_tb: bool, ea: u64, base_shift: u32) -> u64 {
        let (off, v) = if one_tb {
            (ea & ((1 << 40) - 1), vsid ^ (vsid << 25))
        } else {
            (ea & ((1 << 28) - 1), vsid)
        };
        (v ^ (off >> base_shift)) & ((1 << 39) - 1)
    }

    /// One mapping for the resize test.
    struct Mapping {
        ea: u64,
        vsid: u64,
        one_tb: bool,
        /// Segment base page size (log2) and its SLB L||LP.
        base: u32,
        llp: u64,
        /// Actual page size (log2) and its LP encoding in the HPTE.
        actual: u32,
        lp: u64,
        ra: u64,
        secondary: bool,
        slot: u64,
        bolted: bool,
    }

    impl Mapping {
        fn slb_rs(&self) -> u64 {
            if self.one_tb {
                1 << 62 | self.vsid << 24 | slb::KP | self.llp
            } else {
                self.vsid << 12 | slb::KP | self.llp
            }
        }

        /// HPTE doubleword 0: B, AVPN (VA bits 0:54, with the bits inside a page larger than
        /// 8 MiB clear, as Linux writes them), L, H, V.
        fn pteh(&self) -> u64 {
            let (b, vsid_bits, off) = if self.one_tb {
                (1u64, self.vsid << 24, self.ea & ((1 << 40) - 1))
            } else {
                (0, self.vsid << 12, self.ea & ((1 << 28) - 1))
            };
            let mut hi = off >> 23;
            if self.actual > 23 {
                hi &= !((1 << (self.actual - 23)) - 1);
            }
            b << 62
                | vsid_bits
                | hi << 7
                | if self.actual > 12 { hpte::L } else { 0 }
                | if self.secondary { hpte::H } else { 0 }
                | if self.bolted { hpte::BOLTED } else { 0 }
                | hpte::V
        }

        fn ptel(&self) -> u64 {
            self.ra | self.lp << 12 | hpte::M
        }

        /// Where the entry belongs in a table of 2^shift bytes.
        fn ptex(&self, shift: u32) -> u64 {
            let h = isa_hash(self.vsid, self.one_tb, self.ea, self.base);
            let h = if self.secondary { !h } else { h };
            (h & ((1 << (shift - 7)) - 1)) << 3 | self.slot
        }

        fn expected_ra(&self) -> u64 {
            self.ra | (self.ea & ((1 << self.actual) - 1))
        }
    }

    fn mappings() -> Vec<Mapping> {
        let m =
            |ea, vsid, one_tb, (base, llp), (actual, lp), ra, secondary, slot, bolted| Mapping {
                ea,
                vsid,
                one_tb,
                base,
                llp,
                actual,
                lp,
                ra,
                secondary,
                slot,
                bolted,
            };
        vec![
            // 256 MiB segments: 4 KiB pages, primary and secondary.
            m(
                0x1234_5678,
                0x12_3456,
                false,
                (12, 0),
                (12, 0),
                0x1_0000,
                false,
                0,
                true,
            ),
            m(
                0x11ab_c123,
                0x12_3456,
                false,
                (12, 0),
                (12, 0),
                0x2_0000,
                true,
                7,
                false,
            ),
            // 64 KiB pages in a 64 KiB segment.
            m(
                0x2345_6789,
                0x5_4321,
                false,
                (16, 0x110),
                (16, 1),
                0x30_0000,
                false,
                3,
                true,
            ),
            // 16 MiB pages in a 1 TiB segment (Linux's kernel mapping), secondary.
            m(
                0xc000_0000_0234_5678,
                0x1_2345_6789,
                true,
                (24, 0x100),
                (24, 0),
                0x100_0000,
                true,
                1,
                true,
            ),
            // 4 KiB pages in a 1 TiB segment.
            m(
                0x0000_01ab_cdef_1234,
                0x77_7777,
                true,
                (12, 0),
                (12, 0),
                0x4_0000,
                false,
                5,
                false,
            ),
            // A 16 MiB page in a 64 KiB segment (Linux's THP), the 64 KiB subpage with offset
            // bit 23 set, which the AVPN does not carry.
            m(
                0x3192_3456,
                0x6_6666,
                false,
                (16, 0x110),
                (24, 0x8),
                0x200_0000,
                false,
                4,
                false,
            ),
            // A 64 KiB page in a 4 KiB segment.
            m(
                0x1560_abcd,
                0x12_3456,
                false,
                (12, 0),
                (16, 0x7),
                0x50_0000,
                true,
                6,
                false,
            ),
        ]
    }

    /// Every mapping translates on `c` and is where H_READ finds it (searching the table).
    fn check_mappings(m: &Machine, c: &mut Cpu, maps: &[Mapping], shift: u32) {
        let entries = 1u64 << (shift - 4);
        assert_eq!(c.pate[0], (shift - 18) as u64);
        assert_eq!(c.hpt.as_ref().map(|h| h.shift()), Some(shift));
        assert_eq!(hcall(m, c, H_READ, &[0, entries]), H_PARAMETER);
        assert_eq!(hcall(m, c, H_READ, &[0, entries - 1]), H_SUCCESS);
        for (i, map) in maps.iter().enumerate() {
            assert_eq!(
                c.translate(map.ea, ppc::mmu::Access::Read),
                Ok(map.expected_ra()),
                "mapping {i} in 2^{shift}"
            );
        }
        let mut found: Vec<Vec<u64>> = vec![Vec::new(); maps.len()];
        for first in (0..entries).step_by(4) {
            assert_eq!(hcall(m, c, H_READ, &[H_READ_4, first]), H_SUCCESS);
            for k in 0..4 {
                let (v, r) = (c.gpr[4 + 2 * k], c.gpr[5 + 2 * k]);
                if v & hpte::V == 0 {
                    continue;
                }
                let i = maps
                    .iter()
                    .position(|map| map.pteh() == v && map.ptel() == r & !(hpte::R | hpte::C))
                    .expect("only the test's entries");
                // The reference recorded by the first translation moved with the entry.
                assert_ne!(r & hpte::R, 0, "mapping {i}");
                found[i].push(first + k as u64);
            }
        }
        for (i, map) in maps.iter().enumerate() {
            assert_eq!(found[i], [map.ptex(shift)], "mapping {i} in 2^{shift}");
        }
    }

    #[test]
    fn resize_rehashes_every_entry() {
        use ppc::cpu::msr;
        let (m, _) = machine();
        let mut c = cpu(&m);
        let mut other = cpu(&m);
        crate::machine::apply_cpu_state(&mut c, &m.cpu_state.lock().expect("state"));
        crate::machine::apply_cpu_state(&mut other, &m.cpu_state.lock().expect("state"));
        let maps = mappings();
        for cpu in [&mut c, &mut other] {
            cpu.set_msr(msr::SF | msr::ME | msr::IR | msr::DR);
            for (i, map) in maps.iter().enumerate() {
                let esid = if map.one_tb {
                    map.ea & slb::ESID_1T
                } else {
                    map.ea & slb::ESID_256M
                };
                assert!(cpu.slb_store(esid | slb::V | i as u64, map.slb_rs()));
            }
        }
        for map in &maps {
            assert_eq!(
                hcall(
                    &m,
                    &mut c,
                    H_ENTER,
                    &[H_EXACT, map.ptex(19), map.pteh(), map.ptel()]
                ),
                H_SUCCESS
            );
        }
        check_mappings(&m, &mut c, &maps, 19);
        for shift in [20, 18, 19, 18, 20] {
            let gen = m.cpu_gen.load(Ordering::SeqCst);
            assert_eq!(
                hcall(&m, &mut c, H_RESIZE_HPT_PREPARE, &[0, shift as u64]),
                H_SUCCESS
            );
            assert_eq!(
                hcall(&m, &mut c, H_RESIZE_HPT_COMMIT, &[0, shift as u64]),
                H_SUCCESS
            );
            assert_eq!(
                m.cpu_state.lock().expect("state").pate[0],
                (shift - 18) as u64
            );
            check_mappings(&m, &mut c, &maps, shift);
            // The other vCPUs take the new table with the next state generation.
            assert!(m.cpu_gen.load(Ordering::SeqCst) > gen);
            crate::machine::apply_cpu_state(&mut other, &m.cpu_state.lock().expect("state"));
            for map in &maps {
                assert_eq!(
                    other.translate(map.ea, ppc::mmu::Access::Read),
                    Ok(map.expected_ra())
                );
            }
        }
    }

    /// Shrinking 2^19 -> 2^18 folds groups 0x713 and 0xf13 together: bolted entries in the same
    /// slot of both can't both stay, and the commit fails with the old table in place.
    #[test]
    fn resize_pteg_full_keeps_the_old_table() {
        let (m, _) = machine();
        let mut c = cpu(&m);
        // VSID 0x12_3456, 4 KiB pages: EA offsets 0x234_5678 and 0x2b4_5678 (pages 0x2345 and
        // 0x2b45) hash to 0x12_1713 and 0x12_1f13.
        let a = 0x1_2345_6200 | hpte::BOLTED | hpte::V;
        let b = 0x1_2345_6280 | hpte::BOLTED | hpte::V;
        let r = 0x1_0000 | hpte::M;
        for (ptex, v) in [(0x713 * 8 + 2, a), (0xf13 * 8 + 2, b)] {
            assert_eq!(
                hcall(&m, &mut c, H_ENTER, &[H_EXACT, ptex, v, r]),
                H_SUCCESS
            );
        }
        let old = table(&m);
        crate::machine::apply_cpu_state(&mut c, &m.cpu_state.lock().expect("state"));
        assert_eq!(hcall(&m, &mut c, H_RESIZE_HPT_PREPARE, &[0, 18]), H_SUCCESS);
        assert_eq!(
            hcall(&m, &mut c, H_RESIZE_HPT_COMMIT, &[0, 18]),
            H_PTEG_FULL
        );
        let st = m.cpu_state.lock().expect("state").clone();
        assert!(Arc::ptr_eq(st.hpt.as_ref().expect("hpt"), &old));
        assert_eq!(st.pate[0], 1);
        assert!(
            st.pending_hpt.is_none(),
            "a failed commit uses up the table"
        );
        assert!(c.hpt.as_ref().is_some_and(|h| Arc::ptr_eq(h, &old)));
        assert_eq!(c.pate[0], 1);
        assert_eq!(read(&m, 0x713 * 8 + 2), (a, r));
        assert_eq!(read(&m, 0xf13 * 8 + 2), (b, r));
        // Unbolted, the second one gives way and the shrink goes through.
        write(&m, 0xf13 * 8 + 2, b & !hpte::BOLTED, r);
        assert_eq!(hcall(&m, &mut c, H_RESIZE_HPT_PREPARE, &[0, 18]), H_SUCCESS);
        assert_eq!(hcall(&m, &mut c, H_RESIZE_HPT_COMMIT, &[0, 18]), H_SUCCESS);
        assert_eq!(read(&m, 0x713 * 8 + 2), (a, r));
        assert_eq!(table(&m).shift(), 18);
    }

    /// What the CPU sees after the hcalls: an H_ENTERed page translates, and H_REMOVE makes it
    /// fault again (the vCPU's cached translation is dropped).
    #[test]
    fn cpu_translates_through_entered_entries() {
        use ppc::cpu::msr;
        use ppc::mmu::slb;
        let (m, _) = machine();
        let mut c = cpu(&m);
        crate::machine::apply_cpu_state(&mut c, &m.cpu_state.lock().expect("state"));
        // Segment ESID 0 -> VSID 0x77, 4 KiB pages, kernel keys (Ks=0, Kp=1).
        assert!(c.slb_store(slb::V, 0x77 << 12 | slb::KP));
        // EA 0x5000: page 5; hash = 0x77 ^ 5 = 0x72; 4096 groups (HTABSIZE 1) -> group 0x72.
        // AVPN = 0x77 << 12 (offset >> 23 = 0).
        let v = 0x77 << 12 | hpte::V;
        assert_eq!(
            hcall(&m, &mut c, H_ENTER, &[0, 0x72 * 8, v, 0x9000 | hpte::M]),
            H_SUCCESS
        );
        let slot = c.gpr[4];
        c.set_msr(msr::SF | msr::ME | msr::IR | msr::DR);
        assert!(m.mem.write(0x9010, &0x1122_3344u32.to_be_bytes()));
        assert_eq!(c.ld_u32(0x5010), Ok(0x1122_3344));
        // The MMU recorded R; a store records C.
        assert_eq!(read(&m, slot).1 & (hpte::R | hpte::C), hpte::R);
        assert_eq!(c.st_u32(0x5010, 7), Ok(()));
        assert_eq!(read(&m, slot).1 & (hpte::R | hpte::C), hpte::R | hpte::C);
        assert_eq!(hcall(&m, &mut c, H_REMOVE, &[0, slot, 0]), H_SUCCESS);
        assert_eq!((c.gpr[5] & (hpte::R | hpte::C)), hpte::R | hpte::C);
        assert!(matches!(
            c.ld_u32(0x5010),
            Err(ppc::Exception::DataStorage { ea: 0x5010, .. })
        ));
    }
}
