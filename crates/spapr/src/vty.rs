//! spapr-vty: the hypervisor virtual console (hvc0), a VIO device driven by H_PUT_TERM_CHAR /
//! H_GET_TERM_CHAR. Input arrives from the host terminal thread through `push_input`; when the guest
//! enabled VIO interrupts (H_VIO_SIGNAL) each arrival raises the vty's XICS source.

use crate::hcall::{HcallFn, H_PARAMETER, H_SUCCESS};
use crate::machine::{layout, Machine};
use crate::rtas::RtasFn;
use ppc::Cpu;
use std::collections::VecDeque;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Bytes of input buffered before the host side waits (the guest drains 16 at a time).
const INPUT_CAP: usize = 4096;

pub struct Vty {
    out: Mutex<Box<dyn Write + Send>>,
    input: Mutex<VecDeque<u8>>,
    /// VIO interrupt enable (H_VIO_SIGNAL mode bit 0).
    irq_enabled: AtomicBool,
}

impl Default for Vty {
    fn default() -> Self {
        Vty::new(Box::new(std::io::stdout()))
    }
}

impl Vty {
    /// A vty whose output goes to `out`.
    pub fn new(out: Box<dyn Write + Send>) -> Vty {
        Vty {
            out: Mutex::new(out),
            input: Mutex::new(VecDeque::new()),
            irq_enabled: AtomicBool::new(false),
        }
    }

    /// Writes console output (the guest's, or the firmware's before the OS takes over).
    pub fn write(&self, data: &[u8]) {
        if let Ok(mut o) = self.out.lock() {
            let _ = o.write_all(data);
            let _ = o.flush();
        }
    }

    /// Queues host input; returns how many bytes were accepted (the rest must be offered again).
    /// Input arriving in an empty buffer pulses the vty's interrupt (an edge, as QEMU's vty does:
    /// Linux's hvc driver stops polling once it has the interrupt and never sends H_VIO_SIGNAL).
    pub fn push_input(&self, m: &Machine, data: &[u8]) -> usize {
        let (n, was_empty) = match self.input.lock() {
            Ok(mut q) => {
                let was_empty = q.is_empty();
                let n = data.len().min(INPUT_CAP.saturating_sub(q.len()));
                q.extend(&data[..n]);
                (n, was_empty)
            }
            Err(_) => (0, false),
        };
        if n > 0 && was_empty {
            m.xics.raise(layout::VTY_IRQ);
        }
        n
    }

    /// Whether input is waiting.
    pub fn has_input(&self) -> bool {
        self.input.lock().map(|q| !q.is_empty()).unwrap_or(false)
    }

    /// H_VIO_SIGNAL for this device: records the mode; the vty interrupts on input either way,
    /// like QEMU's, and enabling with input waiting delivers it.
    pub fn set_signal(&self, m: &Machine, mode: u64) {
        let on = mode & 1 != 0;
        self.irq_enabled.store(on, Ordering::SeqCst);
        if on && self.has_input() {
            m.xics.raise(layout::VTY_IRQ);
        }
    }
}

pub use crate::papr::{H_GET_TERM_CHAR, H_PUT_TERM_CHAR};

pub const HCALLS: &[(u64, &str, HcallFn)] = &[
    (H_GET_TERM_CHAR, "H_GET_TERM_CHAR", h_get_term_char),
    (H_PUT_TERM_CHAR, "H_PUT_TERM_CHAR", h_put_term_char),
];

pub const RTAS: &[(&str, RtasFn)] = &[];

/// H_PUT_TERM_CHAR(termno, len, chars 0-7 in r6, chars 8-15 in r7), bytes packed big-endian.
fn h_put_term_char(m: &Machine, cpu: &mut Cpu) -> i64 {
    let (term, len) = (cpu.gpr[4], cpu.gpr[5]);
    if term != layout::VTY_REG as u64 || len > 16 {
        return H_PARAMETER;
    }
    let mut buf = [0u8; 16];
    buf[..8].copy_from_slice(&cpu.gpr[6].to_be_bytes());
    buf[8..].copy_from_slice(&cpu.gpr[7].to_be_bytes());
    m.vty.write(&buf[..len as usize]);
    H_SUCCESS
}

/// H_GET_TERM_CHAR(termno) -> r4 = count, r5/r6 = up to 16 bytes packed big-endian.
fn h_get_term_char(m: &Machine, cpu: &mut Cpu) -> i64 {
    if cpu.gpr[4] != layout::VTY_REG as u64 {
        return H_PARAMETER;
    }
    let mut buf = [0u8; 16];
    let mut n = 0;
    if let Ok(mut q) = m.vty.input.lock() {
        while n < 16 {
            match q.pop_front() {
                Some(b) => {
                    buf[n] = b;
                    n += 1;
                }
                None => break,
            }
        }
    }
    cpu.gpr[4] = n as u64;
    cpu.gpr[5] = u64::from_be_bytes([
        buf[0], buf[1], buf[2], buf[3], buf[4], buf[5], buf[6], buf[7],
    ]);
    cpu.gpr[6] = u64::from_be_bytes([
        buf[8], buf[9], buf[10], buf[11], buf[12], buf[13], buf[14], buf[15],
    ]);
    H_SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{cpu, hcall, machine};

    const VTY: u64 = layout::VTY_REG as u64;

    #[test]
    fn put_term_char_packs_big_endian() {
        let (m, out) = machine();
        let mut c = cpu(&m);
        let r6 = u64::from_be_bytes(*b"hello, w");
        let r7 = u64::from_be_bytes(*b"orld!\n\0\0");
        assert_eq!(
            hcall(&m, &mut c, H_PUT_TERM_CHAR, &[VTY, 14, r6, r7]),
            H_SUCCESS
        );
        assert_eq!(out.text(), "hello, world!\n");
    }

    #[test]
    fn bad_terminal_or_length() {
        let (m, out) = machine();
        let mut c = cpu(&m);
        assert_eq!(
            hcall(&m, &mut c, H_PUT_TERM_CHAR, &[VTY, 17, 0, 0]),
            H_PARAMETER
        );
        assert_eq!(
            hcall(&m, &mut c, H_PUT_TERM_CHAR, &[VTY + 5, 1, 0, 0]),
            H_PARAMETER
        );
        assert_eq!(hcall(&m, &mut c, H_GET_TERM_CHAR, &[0]), H_PARAMETER);
        assert_eq!(out.text(), "");
    }

    #[test]
    fn get_term_char_returns_up_to_16() {
        let (m, _) = machine();
        let mut c = cpu(&m);
        assert_eq!(m.vty.push_input(&m, b"0123456789abcdefXY"), 18);
        assert_eq!(hcall(&m, &mut c, H_GET_TERM_CHAR, &[VTY]), H_SUCCESS);
        assert_eq!(c.gpr[4], 16);
        assert_eq!(c.gpr[5].to_be_bytes(), *b"01234567");
        assert_eq!(c.gpr[6].to_be_bytes(), *b"89abcdef");
        assert_eq!(hcall(&m, &mut c, H_GET_TERM_CHAR, &[VTY]), H_SUCCESS);
        assert_eq!(c.gpr[4], 2);
        assert_eq!(c.gpr[5].to_be_bytes()[..2], *b"XY");
        assert_eq!(hcall(&m, &mut c, H_GET_TERM_CHAR, &[VTY]), H_SUCCESS);
        assert_eq!(c.gpr[4], 0);
    }
}
