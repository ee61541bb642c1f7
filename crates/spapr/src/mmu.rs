//! Partition MMU hypercalls. Radix: H_REGISTER_PROC_TBL registers the guest's process table in the
//! partition-table entry the (virtual) hypervisor keeps for it. The hashed page table calls
//! (H_ENTER…) come with the hash MMU.

use crate::hcall::{HcallFn, H_PARAMETER, H_SUCCESS};
use crate::machine::Machine;
use ppc::cpu::lpcr;
use ppc::Cpu;

pub const H_REGISTER_PROC_TBL: u64 = 0x37c;

pub const H_LOGICAL_CI_LOAD: u64 = 0x3c;
pub const H_LOGICAL_CI_STORE: u64 = 0x40;

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
    let (flags, base, _page_size, size) = (cpu.gpr[4], cpu.gpr[5], cpu.gpr[6], cpu.gpr[7]);
    if flags & proc_tbl::MODIFY == 0 || flags & !0x1f != 0 {
        return H_PARAMETER;
    }
    if flags & proc_tbl::REGISTER == 0 {
        m.update_cpu_state(cpu, |st| {
            st.pate = [0; 2];
            st.lpcr &= !lpcr::HR;
        });
        return H_SUCCESS;
    }
    if flags & proc_tbl::RADIX == 0 {
        // Hash process tables belong to the hash MMU, not implemented yet.
        return H_PARAMETER;
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
        st.pate = [0, PATE1_GR | base | size];
        st.lpcr |= lpcr::HR;
    });
    H_SUCCESS
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
        assert_eq!(c.pate, [0, 0]);
        assert_eq!(c.spr[sprn::LPCR] & lpcr::HR, 0);
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
            [REG, 0x10_0800, 0, 4],             // misaligned
            [REG, 0x10_0000, 0, 25],            // too large a size field
            [REG, m.mem.size() - 0x1000, 0, 4], // runs past RAM
            [REG, !0xfff, 0, 0],                // wraps
            [REG & !proc_tbl::MODIFY, 0x10_0000, 0, 4],
            [REG | 0x100, 0x10_0000, 0, 4],            // unknown flag
            [REG & !proc_tbl::RADIX, 0x10_0000, 0, 4], // hash: not yet
        ] {
            assert_eq!(
                hcall(&m, &mut c, H_REGISTER_PROC_TBL, &args),
                H_PARAMETER,
                "{args:x?}"
            );
        }
        assert_eq!(c.pate, [0, 0]);
    }
}
