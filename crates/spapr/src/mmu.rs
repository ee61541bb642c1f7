//! Partition MMU hypercalls. H_REGISTER_PROC_TBL tells the (virtual) hypervisor which MMU the
//! guest uses: radix, with its process table recorded in the partition-table entry (dw1) and
//! LPCR[HR] set, or hash with the SLB (LPCR[HR] clear), translating through the hashed page table
//! whose calls (H_ENTER…) are in `hpt.rs`. PATE dw0 always describes that table.

use crate::hcall::{HcallFn, H_PARAMETER, H_SUCCESS};
use crate::machine::{Machine, PartitionCpuState};
use ppc::cpu::lpcr;
use ppc::Cpu;

pub use crate::papr::{H_LOGICAL_CI_LOAD, H_LOGICAL_CI_STORE, H_REGISTER_PROC_TBL};

pub const HCALLS: &[(u64, &str, HcallFn)] = &[
    (H_LOGICAL_CI_LOAD, "H_LOGICAL_CI_LOAD", h_logical_ci_load),
    (H_LOGICAL_CI_STORE, "H_LOGICAL_CI_STORE", h_logical_ci_store),
    (
        H_REGISTER_PROC_TBL,
        "H_REGISTER_PROC_TBL",
        h_register_proc_tbl,
    ),
];

/// H_LOGICAL_CI_LOAD(size, address) -> value: a cache-inhibited, big-endian load from the
/// partition's logical address space (early debug consoles use it). Only RAM answers here.
fn h_logical_ci_load(m: &Machine, cpu: &mut Cpu) -> i64 {
    let (size, addr) = (cpu.gpr[4], cpu.gpr[5]);
    if !matches!(size, 1 | 2 | 4 | 8) {
        return H_PARAMETER;
    }
    let mut b = [0u8; 8];
    let n = size as usize;
    if !m.mem.read(addr, &mut b[8 - n..]) {
        return H_PARAMETER;
    }
    cpu.gpr[4] = u64::from_be_bytes(b);
    H_SUCCESS
}

/// H_LOGICAL_CI_STORE(size, address, value).
fn h_logical_ci_store(m: &Machine, cpu: &mut Cpu) -> i64 {
    let (size, addr, val) = (cpu.gpr[4], cpu.gpr[5], cpu.gpr[6]);
    if !matches!(size, 1 | 2 | 4 | 8) {
        return H_PARAMETER;
    }
    let n = size as usize;
    if !m.mem.write(addr, &val.to_be_bytes()[8 - n..]) {
        return H_PARAMETER;
    }
    H_SUCCESS
}

/// Flags of H_REGISTER_PROC_TBL (r4).
pub mod proc_tbl {
    pub const MODIFY: u64 = 0x10;
    pub const REGISTER: u64 = 0x08;
    pub const RADIX: u64 = 0x04;
    pub const HASH_PROC_TBL: u64 = 0x02;
    pub const GTSE: u64 = 0x01;
}

/// PATE dw1 bit 0: the partition uses radix (guest radix).
const PATE1_GR: u64 = 1 << 63;

/// H_REGISTER_PROC_TBL(flags, proc_tbl, page_size, table_size).
fn h_register_proc_tbl(m: &Machine, cpu: &mut Cpu) -> i64 {
    let (flags, base, page_size, size) = (cpu.gpr[4], cpu.gpr[5], cpu.gpr[6], cpu.gpr[7]);
    if flags & !0x1f != 0 {
        return H_PARAMETER;
    }
    let radix = flags & proc_tbl::RADIX != 0;
    if flags & proc_tbl::MODIFY == 0 {
        // Keep the registered table (Linux on hash says "hash with SLB, no table" this way); the
        // MMU mode must agree with it.
        let registered_radix = m
            .cpu_state
            .lock()
            .map(|st| st.pate[1] & PATE1_GR != 0)
            .unwrap_or(false);
        if registered_radix != radix {
            return H_PARAMETER;
        }
        m.update_cpu_state(cpu, |st| set_hr(st, radix));
        return H_SUCCESS;
    }
    if flags & proc_tbl::REGISTER == 0 {
        m.update_cpu_state(cpu, |st| {
            st.pate[1] = 0;
            st.lpcr &= !lpcr::HR;
        });
        return H_SUCCESS;
    }
    if !radix {
        // Hash with segment tables is not implemented; hash with the SLB only records the table
        // (a guest may keep one for its own use), which must fit the PATE fields.
        if flags & proc_tbl::HASH_PROC_TBL != 0
            || base & 0xfff != 0
            || base >> 60 != 0
            || page_size & !7 != 0
            || size > 24
        {
            return H_PARAMETER;
        }
        m.update_cpu_state(cpu, |st| {
            st.pate[1] = base | size;
            set_hr(st, false);
        });
        return H_SUCCESS;
    }
    // The table must be 4 KiB aligned, of 2^(12+size) bytes, and inside guest RAM.
    if size > 24 || base & 0xfff != 0 {
        return H_PARAMETER;
    }
    let bytes = 1u64 << (size + 12);
    if base.checked_add(bytes).is_none_or(|end| end > m.mem.size()) {
        return H_PARAMETER;
    }
    m.update_cpu_state(cpu, |st| {
        st.pate[1] = PATE1_GR | base | size;
        set_hr(st, true);
    });
    H_SUCCESS
}

fn set_hr(st: &mut PartitionCpuState, radix: bool) {
    if radix {
        st.lpcr |= lpcr::HR;
    } else {
        st.lpcr &= !lpcr::HR;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{cpu, hcall, machine};
    use ppc::cpu::sprn;

    const REG: u64 = proc_tbl::MODIFY | proc_tbl::REGISTER | proc_tbl::RADIX | proc_tbl::GTSE;

    #[test]
    fn registers_radix_table() {
        let (m, _) = machine();
        let mut c = cpu(&m);
        assert_eq!(
            hcall(&m, &mut c, H_REGISTER_PROC_TBL, &[REG, 0x10_0000, 0, 4]),
            H_SUCCESS
        );
        assert_eq!(c.pate[1], PATE1_GR | 0x10_0000 | 4);
        assert_ne!(c.spr[sprn::LPCR] & lpcr::HR, 0);
        // Deregister.
        let dereg = proc_tbl::MODIFY;
        assert_eq!(
            hcall(&m, &mut c, H_REGISTER_PROC_TBL, &[dereg, 0, 0, 0]),
            H_SUCCESS
        );
        assert_eq!(c.pate[1], 0);
        assert_eq!(c.spr[sprn::LPCR] & lpcr::HR, 0);
    }

    #[test]
    fn hash_guest_keeps_the_hpt() {
        let (m, _) = machine();
        let mut c = cpu(&m);
        let pate0 = m.cpu_state.lock().expect("state").pate[0];
        // Linux on hash: flags 0 (no change, hash with SLB).
        assert_eq!(
            hcall(&m, &mut c, H_REGISTER_PROC_TBL, &[0, 0, 0, 0]),
            H_SUCCESS
        );
        assert_eq!(c.spr[sprn::LPCR] & lpcr::HR, 0);
        assert_eq!(c.pate, [pate0, 0]);
        assert!(c.hpt.is_some());
        // Asking to keep a radix registration that doesn't exist.
        assert_eq!(
            hcall(&m, &mut c, H_REGISTER_PROC_TBL, &[proc_tbl::RADIX, 0, 0, 0]),
            H_PARAMETER
        );
        // Registering a table for hash with SLB records it, HR stays clear.
        let reg = proc_tbl::MODIFY | proc_tbl::REGISTER;
        assert_eq!(
            hcall(&m, &mut c, H_REGISTER_PROC_TBL, &[reg, 0x10_0000, 0, 4]),
            H_SUCCESS
        );
        assert_eq!(c.pate, [pate0, 0x10_0000 | 4]);
        assert_eq!(c.spr[sprn::LPCR] & lpcr::HR, 0);
        // Segment tables are not supported.
        assert_eq!(
            hcall(
                &m,
                &mut c,
                H_REGISTER_PROC_TBL,
                &[reg | proc_tbl::HASH_PROC_TBL, 0x10_0000, 0, 4]
            ),
            H_PARAMETER
        );
        // Switching to radix and back to "keep" with radix.
        assert_eq!(
            hcall(&m, &mut c, H_REGISTER_PROC_TBL, &[REG, 0x10_0000, 0, 4]),
            H_SUCCESS
        );
        assert_eq!(c.pate[0], pate0, "PATE dw0 keeps describing the HPT");
        assert_eq!(
            hcall(&m, &mut c, H_REGISTER_PROC_TBL, &[proc_tbl::RADIX, 0, 0, 0]),
            H_SUCCESS
        );
        assert_ne!(c.spr[sprn::LPCR] & lpcr::HR, 0);
        assert_eq!(
            hcall(&m, &mut c, H_REGISTER_PROC_TBL, &[0, 0, 0, 0]),
            H_PARAMETER
        );
    }

    #[test]
    fn logical_ci_load_store() {
        let (m, _) = machine();
        let mut c = cpu(&m);
        assert_eq!(
            hcall(&m, &mut c, H_LOGICAL_CI_STORE, &[4, 0x1000, 0xdead_beef]),
            H_SUCCESS
        );
        assert_eq!(
            hcall(&m, &mut c, H_LOGICAL_CI_LOAD, &[2, 0x1002]),
            H_SUCCESS
        );
        assert_eq!(c.gpr[4], 0xbeef);
        assert_eq!(
            hcall(&m, &mut c, H_LOGICAL_CI_LOAD, &[3, 0x1000]),
            H_PARAMETER
        );
        assert_eq!(
            hcall(&m, &mut c, H_LOGICAL_CI_LOAD, &[8, m.mem.size() - 4]),
            H_PARAMETER
        );
        assert_eq!(
            hcall(&m, &mut c, H_LOGICAL_CI_STORE, &[1, u64::MAX, 0]),
            H_PARAMETER
        );
    }

    #[test]
    fn rejects_bad_tables() {
        let (m, _) = machine();
        let mut c = cpu(&m);
        for args in [
            [REG, 0x10_0800, 0, 4],                     // misaligned
            [REG, 0x10_0000, 0, 25],                    // too large a size field
            [REG, m.mem.size() - 0x1000, 0, 4],         // runs past RAM
            [REG, !0xfff, 0, 0],                        // wraps
            [REG & !proc_tbl::MODIFY, 0x10_0000, 0, 4], // keep radix: none registered
            [REG | 0x100, 0x10_0000, 0, 4],             // unknown flag
            [REG & !proc_tbl::RADIX, 0x10_0800, 0, 4],  // hash: misaligned table
        ] {
            assert_eq!(
                hcall(&m, &mut c, H_REGISTER_PROC_TBL, &args),
                H_PARAMETER,
                "{args:x?}"
            );
        }
        assert_eq!(c.pate[1], 0);
    }
}
