//! spapr-nvram: the partition's non-volatile RAM (64 KiB, QEMU's default), read and written through
//! RTAS nvram-fetch / nvram-store. Held in memory: contents last for the life of the process.

use crate::machine::{layout, Machine};
use crate::rtas::{RtasCall, RtasFn, RTAS_OUT_HW_ERROR, RTAS_OUT_PARAM_ERROR, RTAS_OUT_SUCCESS};
use ppc::Cpu;
use std::sync::Mutex;

pub struct Nvram {
    data: Mutex<Vec<u8>>,
}

impl Default for Nvram {
    fn default() -> Self {
        Nvram {
            data: Mutex::new(vec![0; layout::NVRAM_SIZE as usize]),
        }
    }
}

impl Nvram {
    pub fn size(&self) -> u64 {
        self.data.lock().map(|d| d.len() as u64).unwrap_or(0)
    }
}

pub const RTAS: &[(&str, RtasFn)] = &[("nvram-fetch", nvram_fetch), ("nvram-store", nvram_store)];

/// Validates (offset, buffer, length) against the NVRAM size; returns (offset, buffer, length).
fn args(c: &RtasCall, size: u64) -> Option<(u64, u64, u64)> {
    let (off, buf, len) = (c.arg(0)? as u64, c.arg(1)? as u64, c.arg(2)? as u64);
    (off < size && len <= size - off).then_some((off, buf, len))
}

/// nvram-fetch(offset, buffer, length) -> status, bytes fetched.
fn nvram_fetch(m: &Machine, _cpu: &mut Cpu, c: &mut RtasCall) {
    let Ok(d) = m.nvram.data.lock() else {
        return c.status(RTAS_OUT_HW_ERROR);
    };
    let Some((off, buf, len)) = args(c, d.len() as u64) else {
        return c.status(RTAS_OUT_PARAM_ERROR);
    };
    if !m.mem.write(buf, &d[off as usize..(off + len) as usize]) {
        return c.status(RTAS_OUT_PARAM_ERROR);
    }
    c.status(RTAS_OUT_SUCCESS);
    c.set_ret(1, len as u32);
}

/// nvram-store(offset, buffer, length) -> status, bytes stored.
fn nvram_store(m: &Machine, _cpu: &mut Cpu, c: &mut RtasCall) {
    let Ok(mut d) = m.nvram.data.lock() else {
        return c.status(RTAS_OUT_HW_ERROR);
    };
    let Some((off, buf, len)) = args(c, d.len() as u64) else {
        return c.status(RTAS_OUT_PARAM_ERROR);
    };
    if !m.mem.read(buf, &mut d[off as usize..(off + len) as usize]) {
        return c.status(RTAS_OUT_PARAM_ERROR);
    }
    c.status(RTAS_OUT_SUCCESS);
    c.set_ret(1, len as u32);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{cpu, machine, rtas};

    #[test]
    fn store_then_fetch_round_trips() {
        let (m, _) = machine();
        let mut c = cpu(&m);
        assert!(m.mem.write(0x40000, b"lpar nvram"));
        assert_eq!(
            rtas(&m, &mut c, "nvram-store", &[100, 0x40000, 10], 2),
            [0, 10]
        );
        assert_eq!(
            rtas(&m, &mut c, "nvram-fetch", &[98, 0x50000, 14], 2),
            [0, 14]
        );
        let mut b = [0u8; 14];
        assert!(m.mem.read(0x50000, &mut b));
        assert_eq!(&b, b"\0\0lpar nvram\0\0");
    }

    #[test]
    fn out_of_range_requests_fail() {
        let (m, _) = machine();
        let mut c = cpu(&m);
        let p = RTAS_OUT_PARAM_ERROR as u32;
        let size = layout::NVRAM_SIZE;
        assert_eq!(
            rtas(&m, &mut c, "nvram-fetch", &[size, 0x40000, 1], 2)[0],
            p
        );
        assert_eq!(
            rtas(&m, &mut c, "nvram-fetch", &[size - 4, 0x40000, 5], 2)[0],
            p
        );
        assert_eq!(
            rtas(&m, &mut c, "nvram-store", &[0, 0xffff_fff0, 64], 2)[0],
            p
        );
        assert_eq!(rtas(&m, &mut c, "nvram-fetch", &[0, 0x40000], 2)[0], p);
        assert_eq!(rtas(&m, &mut c, "nvram-fetch", &[0, 0x40000, 0], 2), [0, 0]);
    }
}
