//! spapr-vty: the hypervisor virtual console (hvc0, and hvc1.. for more `-device spapr-vty`), a
//! VIO device driven by H_PUT_TERM_CHAR / H_GET_TERM_CHAR with its unit address as terminal
//! number (0 names the first console, as QEMU allows: early debug output and other firmware use
//! it). The machine's console takes input from the host terminal thread through `push_input`;
//! a vty on a `-chardev` reads and writes that instead. Input arriving raises the vty's
//! interrupt.

use super::VioDevice;
use crate::devtree::{DeviceTree, NodeId};
use crate::hcall::{HcallFn, H_PARAMETER, H_SUCCESS};
use crate::irq::IrqLine;
use crate::machine::Machine;
use crate::rtas::RtasFn;
use ppc::Cpu;
use std::collections::VecDeque;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Bytes of input buffered before the host side waits (the guest drains 16 at a time).
const INPUT_CAP: usize = 4096;

/// Where a vty's bytes go and come from.
enum Backend {
    /// The machine's console: output to a writer, input pushed by the terminal thread.
    Console {
        out: Mutex<Box<dyn Write + Send>>,
        input: Mutex<VecDeque<u8>>,
    },
    Chardev(Arc<chardev::Chardev>),
}

pub struct Vty {
    reg: u32,
    irq: IrqLine,
    backend: Backend,
    /// VIO interrupt enable (H_VIO_SIGNAL mode bit 0).
    irq_enabled: AtomicBool,
}

impl Vty {
    /// The console vty at `reg`, its output going to `out`.
    pub fn new(reg: u32, irq: IrqLine, out: Box<dyn Write + Send>) -> Vty {
        Vty {
            reg,
            irq,
            backend: Backend::Console {
                out: Mutex::new(out),
                input: Mutex::new(VecDeque::new()),
            },
            irq_enabled: AtomicBool::new(false),
        }
    }

    /// A vty on a character device: its input pulses the interrupt as it arrives.
    pub fn on_chardev(reg: u32, irq: IrqLine, dev: Arc<chardev::Chardev>) -> Vty {
        let line = irq.clone();
        dev.set_waker(move || line.pulse());
        Vty {
            reg,
            irq,
            backend: Backend::Chardev(dev),
            irq_enabled: AtomicBool::new(false),
        }
    }

    /// Writes console output (the guest's, or the firmware's before the OS takes over).
    pub fn write(&self, data: &[u8]) {
        match &self.backend {
            Backend::Console { out, .. } => {
                if let Ok(mut o) = out.lock() {
                    let _ = o.write_all(data);
                    let _ = o.flush();
                }
            }
            Backend::Chardev(c) => c.write(data),
        }
    }

    /// Queues host input for the console vty; returns how many bytes were accepted (the rest
    /// must be offered again). Input arriving in an empty buffer pulses the vty's interrupt (an
    /// edge, as QEMU's vty does: Linux's hvc driver stops polling once it has the interrupt and
    /// never sends H_VIO_SIGNAL).
    pub fn push_input(&self, data: &[u8]) -> usize {
        let Backend::Console { input, .. } = &self.backend else {
            return 0;
        };
        let (n, was_empty) = match input.lock() {
            Ok(mut q) => {
                let was_empty = q.is_empty();
                let n = data.len().min(INPUT_CAP.saturating_sub(q.len()));
                q.extend(&data[..n]);
                (n, was_empty)
            }
            Err(_) => (0, false),
        };
        if n > 0 && was_empty {
            self.irq.pulse();
        }
        n
    }

    /// Whether input is waiting.
    pub fn has_input(&self) -> bool {
        match &self.backend {
            Backend::Console { input, .. } => input.lock().map(|q| !q.is_empty()).unwrap_or(false),
            Backend::Chardev(c) => c.has_input(),
        }
    }

    /// Takes up to 16 bytes of input.
    fn read(&self, buf: &mut [u8; 16]) -> usize {
        match &self.backend {
            Backend::Console { input, .. } => {
                let Ok(mut q) = input.lock() else {
                    return 0;
                };
                let n = q.len().min(16);
                for (d, s) in buf.iter_mut().zip(q.drain(..n)) {
                    *d = s;
                }
                n
            }
            Backend::Chardev(c) => c.read(buf),
        }
    }
}

impl VioDevice for Vty {
    fn reg(&self) -> Option<u32> {
        Some(self.reg)
    }

    fn build_node(&self, t: &mut DeviceTree, vdevice: NodeId) {
        // Linux's hvc_vio binds to compatible "hvterm1" and uses reg as the terminal number.
        super::add_node(
            t,
            vdevice,
            &super::Kind {
                name: "vty",
                device_type: "serial",
                compatible: "hvterm1",
            },
            self.reg,
            self.irq.number(),
            None,
        );
    }

    /// Records the mode; the vty interrupts on input either way, like QEMU's, and enabling
    /// with input waiting delivers it.
    fn signal(&self, mode: u64) {
        let on = mode & 1 != 0;
        self.irq_enabled.store(on, Ordering::SeqCst);
        if on && self.has_input() {
            self.irq.pulse();
        }
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// The vty an hcall names: its unit address, or 0 for the first console.
fn lookup(m: &Machine, termno: u64) -> Option<&Vty> {
    if termno == 0 {
        return m.vio.all::<Vty>().min_by_key(|v| v.reg);
    }
    m.vio.get::<Vty>(termno)
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
    let Some(vty) = lookup(m, term) else {
        return H_PARAMETER;
    };
    if len > 16 {
        return H_PARAMETER;
    }
    let mut buf = [0u8; 16];
    buf[..8].copy_from_slice(&cpu.gpr[6].to_be_bytes());
    buf[8..].copy_from_slice(&cpu.gpr[7].to_be_bytes());
    vty.write(&buf[..len as usize]);
    H_SUCCESS
}

/// H_GET_TERM_CHAR(termno) -> r4 = count, r5/r6 = up to 16 bytes packed big-endian.
fn h_get_term_char(m: &Machine, cpu: &mut Cpu) -> i64 {
    let Some(vty) = lookup(m, cpu.gpr[4]) else {
        return H_PARAMETER;
    };
    let mut buf = [0u8; 16];
    let n = vty.read(&mut buf);
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
    use crate::machine::layout;
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
        assert_eq!(
            hcall(&m, &mut c, H_GET_TERM_CHAR, &[layout::NVRAM_REG as u64]),
            H_PARAMETER
        );
        assert_eq!(
            hcall(&m, &mut c, H_GET_TERM_CHAR, &[1 << 32 | VTY]),
            H_PARAMETER
        );
        assert_eq!(out.text(), "");
    }

    #[test]
    fn terminal_zero_is_the_first_console() {
        let (m, out) = machine();
        let mut c = cpu(&m);
        let r6 = u64::from_be_bytes(*b"early\n\0\0");
        assert_eq!(
            hcall(&m, &mut c, H_PUT_TERM_CHAR, &[0, 6, r6, 0]),
            H_SUCCESS
        );
        assert_eq!(out.text(), "early\n");
        m.vty.push_input(b"k");
        assert_eq!(hcall(&m, &mut c, H_GET_TERM_CHAR, &[0]), H_SUCCESS);
        assert_eq!((c.gpr[4], c.gpr[5] >> 56), (1, b'k' as u64));
    }

    #[test]
    fn a_second_vty_on_a_chardev() {
        let dir = std::env::temp_dir().join(format!("lpar-vty-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let sock = dir.join("vty1.sock");
        let _ = std::fs::remove_file(&sock);
        let cfg = crate::MachineConfig {
            ram_size: 64 << 20,
            devices: vec![crate::wiring::DeviceConfig::SpaprVty {
                chardev: chardev::Config {
                    id: "c1".into(),
                    backend: chardev::Backend::Unix {
                        path: sock.clone(),
                        server: true,
                    },
                },
                reg: None,
            }],
            ..Default::default()
        };
        let out = crate::testutil::Captured::default();
        let m = Machine::new(cfg, Box::new(out.clone())).expect("machine");
        let mut c = cpu(&m);
        // The next free unit address after the console and the NVRAM, with its own source.
        let reg = layout::NVRAM_REG as u64 + 1;
        let mut t = crate::fdt::build(&m.config, None);
        m.build_device_nodes(&mut t);
        let node = t.find("/vdevice/vty@71000002").expect("second vty node");
        assert_eq!(
            t.prop(node, "interrupts"),
            Some(&crate::devtree::cells(&[0x1102, 0])[..])
        );
        let mut peer = std::os::unix::net::UnixStream::connect(&sock).expect("connect");
        peer.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        // Output reaches the socket, not the console.
        let r6 = u64::from_be_bytes(*b"hvc1\0\0\0\0");
        for _ in 0..100 {
            assert_eq!(
                hcall(&m, &mut c, H_PUT_TERM_CHAR, &[reg, 4, r6, 0]),
                H_SUCCESS
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
            if peer.set_nonblocking(true).is_ok() {
                let mut b = [0u8; 64];
                if let Ok(n) = std::io::Read::read(&mut peer, &mut b) {
                    assert!(n >= 4 && b[..4] == *b"hvc1");
                    break;
                }
            }
        }
        assert_eq!(out.text(), "");
        // Input from the socket comes back through H_GET_TERM_CHAR on that terminal only.
        peer.set_nonblocking(false).unwrap();
        std::io::Write::write_all(&mut peer, b"in").unwrap();
        let mut got = Vec::new();
        for _ in 0..1000 {
            assert_eq!(hcall(&m, &mut c, H_GET_TERM_CHAR, &[reg]), H_SUCCESS);
            got.extend_from_slice(&c.gpr[5].to_be_bytes()[..c.gpr[4] as usize]);
            if got.len() >= 2 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(got, b"in");
        assert_eq!(hcall(&m, &mut c, H_GET_TERM_CHAR, &[VTY]), H_SUCCESS);
        assert_eq!(c.gpr[4], 0);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn get_term_char_returns_up_to_16() {
        let (m, _) = machine();
        let mut c = cpu(&m);
        assert_eq!(m.vty.push_input(b"0123456789abcdefXY"), 18);
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
