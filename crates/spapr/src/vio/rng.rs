//! spapr-rng: the platform's random-number facility, H_RANDOM (64 bits per call), as a node
//! under `/ibm,platform-facilities` that Linux's pseries-rng driver binds (`/dev/hwrng`) and its
//! arch random hook uses. Backed by `-object rng-random,filename=` (read as a stream) or
//! `rng-builtin` (the host's getrandom). Without the device the hcall is not there (H_FUNCTION),
//! as in QEMU.

use super::VioDevice;
use crate::devtree::{DeviceTree, NodeId};
use crate::hcall::{HcallFn, H_FUNCTION, H_HARDWARE, H_SUCCESS};
use crate::machine::Machine;
use ppc::Cpu;
use std::io::Read;
use std::sync::Mutex;

pub use crate::papr::H_RANDOM;

pub struct Rng {
    /// None: getrandom.
    file: Option<Mutex<std::fs::File>>,
}

impl Rng {
    /// Opens the source now, so a missing file is the user's error at start.
    pub fn new(file: Option<&std::path::Path>) -> Result<Rng, String> {
        let file = match file {
            Some(p) => Some(Mutex::new(
                std::fs::File::open(p).map_err(|e| format!("{}: {e}", p.display()))?,
            )),
            None => None,
        };
        Ok(Rng { file })
    }

    /// Eight bytes of entropy, or None if the source failed or ran dry.
    fn next(&self) -> Option<[u8; 8]> {
        let mut b = [0u8; 8];
        match &self.file {
            Some(f) => f.lock().ok()?.read_exact(&mut b).ok()?,
            None => {
                // SAFETY: getrandom writes at most 8 bytes into the live buffer b.
                let r = unsafe { libc::getrandom(b.as_mut_ptr() as *mut libc::c_void, 8, 0) };
                if r != 8 {
                    return None;
                }
            }
        }
        Some(b)
    }
}

impl VioDevice for Rng {
    fn reg(&self) -> Option<u32> {
        None
    }

    fn build_node(&self, t: &mut DeviceTree, _vdevice: NodeId) {
        let pf = match t.find("/ibm,platform-facilities") {
            Some(n) => n,
            None => {
                let n = t.add_node(DeviceTree::ROOT, "ibm,platform-facilities");
                t.set_str(n, "device_type", "ibm,platform-facilities");
                t.set_u32(n, "#address-cells", 1);
                t.set_u32(n, "#size-cells", 0);
                n
            }
        };
        // Linux's VIO bus names a platform facility after its node; pseries-rng matches the
        // name "ibm,random-v1" and compatible "ibm,random".
        let n = t.add_node(pf, "ibm,random-v1");
        t.set_str(n, "device_type", "ibm,random-v1");
        t.set_str(n, "compatible", "ibm,random");
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

pub const HCALLS: &[(u64, &str, HcallFn)] = &[(H_RANDOM, "H_RANDOM", h_random)];

/// H_RANDOM() -> r4 = 64 random bits.
fn h_random(m: &Machine, cpu: &mut Cpu) -> i64 {
    let Some(rng) = m.vio.all::<Rng>().next() else {
        return H_FUNCTION;
    };
    match rng.next() {
        Some(b) => {
            // The file's bytes in little-endian order, as QEMU on an x86 host gives them: a
            // little-endian guest storing r4 gets the bytes back in file order.
            cpu.gpr[4] = u64::from_le_bytes(b);
            H_SUCCESS
        }
        None => H_HARDWARE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{cpu, hcall, machine};

    #[test]
    fn absent_without_the_device() {
        let (m, _) = machine();
        let mut c = cpu(&m);
        assert_eq!(hcall(&m, &mut c, H_RANDOM, &[]), H_FUNCTION);
    }

    #[test]
    fn reads_the_file_in_order_then_fails_at_its_end() {
        let p = std::env::temp_dir().join(format!("lpar-rng-{}", std::process::id()));
        std::fs::write(&p, b"0123456789abcdefXYZ").unwrap();
        let cfg = crate::MachineConfig {
            ram_size: 64 << 20,
            devices: vec![crate::wiring::DeviceConfig::SpaprRng {
                file: Some(p.clone()),
            }],
            ..Default::default()
        };
        let m = Machine::new(cfg, Box::new(std::io::sink())).unwrap();
        let mut c = cpu(&m);
        assert_eq!(hcall(&m, &mut c, H_RANDOM, &[]), H_SUCCESS);
        assert_eq!(c.gpr[4].to_le_bytes(), *b"01234567");
        assert_eq!(hcall(&m, &mut c, H_RANDOM, &[]), H_SUCCESS);
        assert_eq!(c.gpr[4].to_le_bytes(), *b"89abcdef");
        assert_eq!(hcall(&m, &mut c, H_RANDOM, &[]), H_HARDWARE);
        let mut t = crate::fdt::build(&m.config, None);
        m.build_device_nodes(&mut t);
        let n = t.find("/ibm,platform-facilities/ibm,random-v1").unwrap();
        assert_eq!(t.prop(n, "compatible"), Some(&b"ibm,random\0"[..]));
        let pf = t.find("/ibm,platform-facilities").unwrap();
        assert_eq!(
            t.prop(pf, "device_type"),
            Some(&b"ibm,platform-facilities\0"[..])
        );
        let _ = std::fs::remove_file(&p);
    }

    #[test]
    fn builtin_source_gives_bits() {
        let r = Rng::new(None).unwrap();
        let a = r.next().unwrap();
        let b = r.next().unwrap();
        assert_ne!(a, b);
    }
}
