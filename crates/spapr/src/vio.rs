//! The VIO bus: virtual devices addressed by their unit address (`reg`), with the bus-level
//! H_VIO_SIGNAL hcall that switches each device's interrupt on or off.

use crate::hcall::{HcallFn, H_PARAMETER, H_SUCCESS};
use crate::machine::{layout, Machine};
use ppc::Cpu;

pub use crate::papr::H_VIO_SIGNAL;

pub const HCALLS: &[(u64, &str, HcallFn)] = &[(H_VIO_SIGNAL, "H_VIO_SIGNAL", h_vio_signal)];

/// H_VIO_SIGNAL(unit address, mode): mode bit 0 enables the device's interrupt.
fn h_vio_signal(m: &Machine, cpu: &mut Cpu) -> i64 {
    let (unit, mode) = (cpu.gpr[4], cpu.gpr[5]);
    if mode & !1 != 0 {
        return H_PARAMETER;
    }
    match unit {
        u if u == layout::VTY_REG as u64 => m.vty.set_signal(m, mode),
        // The NVRAM never interrupts; accept the mode as QEMU does.
        u if u == layout::NVRAM_REG as u64 => {}
        _ => return H_PARAMETER,
    }
    H_SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{cpu, hcall, machine};

    #[test]
    fn signal_known_units_only() {
        let (m, _) = machine();
        let mut c = cpu(&m);
        assert_eq!(
            hcall(&m, &mut c, H_VIO_SIGNAL, &[layout::VTY_REG as u64, 1]),
            H_SUCCESS
        );
        assert_eq!(
            hcall(&m, &mut c, H_VIO_SIGNAL, &[layout::VTY_REG as u64, 2]),
            H_PARAMETER
        );
        assert_eq!(hcall(&m, &mut c, H_VIO_SIGNAL, &[0x1234, 1]), H_PARAMETER);
        assert_eq!(
            hcall(&m, &mut c, H_VIO_SIGNAL, &[layout::NVRAM_REG as u64, 0]),
            H_SUCCESS
        );
    }
}
