//! virtio-serial with one console port (`-device virtio-serial-pci -device
//! virtconsole,chardev=ID`): the guest's /dev/hvc1 (hvc0 is the spapr-vty) carried over a
//! [`chardev::Chardev`]. One port, so no multiport control queue: what the guest writes goes to
//! the chardev, what the chardev receives fills the guest's receive buffers. Input waits in the
//! chardev's bounded buffer until the guest posts buffers.

use super::worker::{Descriptor, Doorbell, Handler, Worker};
use super::{kind, Queue, VirtioDevice, VirtioInterrupt};
use crate::ram::GuestRam;
use chardev::Chardev;
use std::sync::{Arc, Mutex};
use vm_memory::Bytes;

const RX: u16 = 0;
const TX: u16 = 1;
/// Bytes moved per buffer at most (a scratch buffer of this size, allocated once).
const CHUNK: usize = 4096;

pub struct Console {
    dev: Arc<Chardev>,
    sizes: [u16; 2],
    worker: Option<Worker>,
    /// Where the chardev's input wake-up rings (None while the driver is not ready).
    bell: Arc<Mutex<Option<Doorbell>>>,
}

impl Console {
    pub fn new(dev: Arc<Chardev>) -> Console {
        let bell: Arc<Mutex<Option<Doorbell>>> = Arc::default();
        let b = bell.clone();
        dev.set_waker(move || {
            if let Ok(g) = b.lock() {
                if let Some(d) = g.as_ref() {
                    d.ring(RX);
                }
            }
        });
        Console {
            dev,
            sizes: [128, 128],
            worker: None,
            bell,
        }
    }
}

impl VirtioDevice for Console {
    fn device_type(&self) -> u16 {
        kind::CONSOLE
    }

    fn pci_class(&self) -> u32 {
        // Simple communication controller, other (as QEMU presents virtio-serial).
        0x07_80_00
    }

    fn queue_max_sizes(&self) -> &[u16] {
        &self.sizes
    }

    fn features(&self) -> u64 {
        0
    }

    fn read_config(&self, _offset: u64, data: &mut [u8]) {
        // cols, rows, max_nr_ports, emerg_wr: none of their features is offered.
        data.fill(0);
    }

    fn activate(
        &mut self,
        _features: u64,
        queues: Vec<(u16, Queue)>,
        mem: Arc<GuestRam>,
        irq: Arc<VirtioInterrupt>,
    ) -> Result<(), String> {
        self.reset();
        let io = Io {
            dev: self.dev.clone(),
            buf: vec![0; CHUNK],
        };
        let w = Worker::spawn("virtio-console", io, queues, mem, irq)?;
        if let Ok(mut b) = self.bell.lock() {
            *b = Some(w.doorbell());
        }
        self.worker = Some(w);
        Ok(())
    }

    fn notify(&self, q: u16) {
        if let Some(w) = &self.worker {
            w.notify(q);
        }
    }

    fn reset(&mut self) {
        if let Ok(mut b) = self.bell.lock() {
            *b = None;
        }
        if let Some(mut w) = self.worker.take() {
            w.stop();
        }
    }
}

struct Io {
    dev: Arc<Chardev>,
    buf: Vec<u8>,
}

impl Handler for Io {
    fn ready(&mut self, queue: u16) -> bool {
        queue != RX || self.dev.has_input()
    }

    fn handle(&mut self, queue: u16, descs: &[Descriptor], mem: &GuestRam) -> u32 {
        let m = mem.mem();
        match queue {
            TX => {
                for d in descs.iter().filter(|d| !d.is_write_only()) {
                    let mut off = 0u64;
                    while off < d.len() as u64 {
                        let n = ((d.len() as u64 - off) as usize).min(CHUNK);
                        let Some(at) = d.addr().0.checked_add(off) else {
                            return 0;
                        };
                        let at = vm_memory::GuestAddress(at);
                        if m.read_slice(&mut self.buf[..n], at).is_err() {
                            return 0;
                        }
                        self.dev.write(&self.buf[..n]);
                        off += n as u64;
                    }
                }
                0
            }
            RX => {
                let mut written = 0u32;
                for d in descs.iter().filter(|d| d.is_write_only()) {
                    let n = (d.len() as usize).min(CHUNK);
                    let got = self.dev.read(&mut self.buf[..n]);
                    if got == 0 || mem.write_slice(&self.buf[..got], d.addr()).is_err() {
                        break;
                    }
                    written += got as u32;
                    if got < n {
                        break;
                    }
                }
                written
            }
            _ => 0,
        }
    }
}
