//! spapr-nvram: the partition's non-volatile RAM, read and written through RTAS nvram-fetch /
//! nvram-store. Without a drive it is 64 KiB (QEMU's default) held in memory for the life of the
//! process; with one (`-drive if=pflash,...` or `-global spapr-nvram.drive=ID`) it is the image,
//! 8 KiB to 1 MiB as QEMU allows, read at start and written through on every store, so what the
//! guest stores survives a restart.

use crate::machine::{layout, Machine};
use crate::rtas::{RtasCall, RtasFn, RTAS_OUT_HW_ERROR, RTAS_OUT_PARAM_ERROR, RTAS_OUT_SUCCESS};
use block::BlockBackend;
use ppc::Cpu;
use std::sync::{Arc, Mutex};

/// Sizes QEMU accepts for an NVRAM image.
pub const MIN_SIZE: u64 = 8 << 10;
pub const MAX_SIZE: u64 = 1 << 20;

pub struct Nvram {
    data: Mutex<Vec<u8>>,
    backing: Option<Arc<dyn BlockBackend>>,
}

impl Default for Nvram {
    fn default() -> Self {
        Nvram {
            data: Mutex::new(vec![0; layout::NVRAM_SIZE as usize]),
            backing: None,
        }
    }
}

impl Nvram {
    /// An NVRAM on `drive` (its whole content), or the default in-memory one.
    pub fn new(drive: Option<&block::Options>) -> Result<Nvram, String> {
        let Some(o) = drive else {
            return Ok(Nvram::default());
        };
        let name = o.path.display();
        let b = block::open(o)?;
        let size = b.size();
        if !(MIN_SIZE..=MAX_SIZE).contains(&size) {
            return Err(format!(
                "{name}: spapr-nvram must be between {MIN_SIZE} and {MAX_SIZE} bytes in size (it is {size})"
            ));
        }
        let mut data = vec![0u8; size as usize];
        let iov = [libc::iovec {
            iov_base: data.as_mut_ptr() as *mut libc::c_void,
            iov_len: data.len(),
        }];
        // SAFETY: `data` is a live buffer of exactly iov_len bytes for the call.
        unsafe { b.readv(&iov, 0) }.map_err(|e| format!("{name}: reading the NVRAM: {e}"))?;
        Ok(Nvram {
            data: Mutex::new(data),
            backing: Some(b),
        })
    }

    pub fn size(&self) -> u64 {
        self.data.lock().map(|d| d.len() as u64).unwrap_or(0)
    }

    /// Writes `d[off..off+len]` through to the image, if there is one.
    fn write_through(&self, d: &mut [u8], off: u64, len: u64) -> bool {
        let Some(b) = &self.backing else {
            return true;
        };
        if len == 0 || b.read_only() {
            return true;
        }
        // The image is written in whole 512-byte sectors around the range.
        let start = off & !511;
        let end = (off + len).next_multiple_of(512).min(d.len() as u64);
        let part = &mut d[start as usize..end as usize];
        let iov = [libc::iovec {
            iov_base: part.as_mut_ptr() as *mut libc::c_void,
            iov_len: part.len(),
        }];
        // SAFETY: `part` is borrowed for the whole call and is iov_len bytes long.
        unsafe { b.writev(&iov, start) }.is_ok()
    }

    /// Makes what was stored durable (at machine stop).
    pub fn flush(&self) {
        if let Some(b) = &self.backing {
            if let Err(e) = b.flush() {
                eprintln!("lpar: spapr-nvram: flushing the image failed: {e}");
            }
        }
    }
}

impl super::VioDevice for Nvram {
    fn reg(&self) -> Option<u32> {
        Some(layout::NVRAM_REG)
    }

    /// Accessed through RTAS nvram-fetch/nvram-store; Linux sizes it from #bytes.
    fn build_node(&self, t: &mut crate::devtree::DeviceTree, vdevice: crate::devtree::NodeId) {
        let n = super::add_node(
            t,
            vdevice,
            &super::Kind {
                name: "nvram",
                device_type: "nvram",
                compatible: "qemu,spapr-nvram",
            },
            layout::NVRAM_REG,
            layout::NVRAM_IRQ,
            None,
        );
        t.set_u32(n, "#bytes", self.size() as u32);
    }

    fn shutdown(&self) {
        self.flush();
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
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
    if !m.nvram.write_through(&mut d, off, len) {
        return c.status(RTAS_OUT_HW_ERROR);
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
    fn an_image_backs_the_nvram_and_keeps_what_was_stored() {
        let img = std::env::temp_dir().join(format!("lpar-nvram-{}.img", std::process::id()));
        std::fs::write(&img, vec![0u8; 16 << 10]).unwrap();
        let o = block::Options {
            path: img.clone(),
            format: Some(block::Format::Raw),
            ..Default::default()
        };
        let cfg = crate::MachineConfig {
            ram_size: 64 << 20,
            nvram: Some(o.clone()),
            ..Default::default()
        };
        let m = Machine::new(cfg.clone(), Box::new(std::io::sink())).expect("machine");
        assert_eq!(m.nvram.size(), 16 << 10);
        let mut c = cpu(&m);
        assert!(m.mem.write(0x40000, b"persistent"));
        assert_eq!(
            rtas(&m, &mut c, "nvram-store", &[1000, 0x40000, 10], 2),
            [0, 10]
        );
        m.shutdown();
        drop(m);
        let disk = std::fs::read(&img).unwrap();
        assert_eq!(&disk[1000..1010], b"persistent");
        // A new machine on the same image sees it.
        let m = Machine::new(cfg, Box::new(std::io::sink())).expect("machine");
        let mut c = cpu(&m);
        assert_eq!(
            rtas(&m, &mut c, "nvram-fetch", &[1000, 0x50000, 10], 2),
            [0, 10]
        );
        let mut b = [0u8; 10];
        assert!(m.mem.read(0x50000, &mut b));
        assert_eq!(&b, b"persistent");
        drop(m);
        // Too small or too large an image is refused, naming it.
        std::fs::write(&img, vec![0u8; 4096]).unwrap();
        let e = Nvram::new(Some(&o)).err().expect("too small");
        assert!(e.contains("between 8192 and 1048576"), "{e}");
        let _ = std::fs::remove_file(img);
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
