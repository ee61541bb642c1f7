//! virtio-rng: entropy for the guest (`/dev/hwrng`), from the host's getrandom (QEMU's
//! `rng-builtin`, the default) or from a file such as /dev/urandom (`rng-random,filename=`).
//! Reads happen on the device's I/O thread, so a blocking source never stalls a vCPU.

use super::worker::{Descriptor, Handler, Worker};
use super::{kind, Queue, VirtioDevice, VirtioInterrupt};
use crate::ram::GuestRam;
use std::io::Read;
use std::sync::Arc;

/// Most bytes given per request: a guest asking for more gets this much (its driver asks again).
const MAX_REQUEST: usize = 64 << 10;

/// Where the entropy comes from.
#[derive(Clone, Debug)]
pub enum Source {
    /// The host kernel's getrandom(2).
    Builtin,
    /// A file or device, read as a stream.
    File(std::path::PathBuf),
}

pub struct Rng {
    source: Source,
    sizes: [u16; 1],
    worker: Option<Worker>,
}

impl Rng {
    /// Checks that the source can be read (a missing file is the user's error, reported now).
    pub fn new(source: Source) -> Result<Rng, String> {
        if let Source::File(p) = &source {
            std::fs::File::open(p).map_err(|e| format!("{}: {e}", p.display()))?;
        }
        Ok(Rng {
            source,
            sizes: [256],
            worker: None,
        })
    }
}

impl VirtioDevice for Rng {
    fn device_type(&self) -> u16 {
        kind::RNG
    }

    fn pci_class(&self) -> u32 {
        // "Other" device class, as QEMU presents virtio-rng.
        0xff_00_00
    }

    fn queue_max_sizes(&self) -> &[u16] {
        &self.sizes
    }

    fn features(&self) -> u64 {
        0
    }

    fn read_config(&self, _offset: u64, data: &mut [u8]) {
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
        let file = match &self.source {
            Source::Builtin => None,
            Source::File(p) => {
                Some(std::fs::File::open(p).map_err(|e| format!("{}: {e}", p.display()))?)
            }
        };
        let io = Io {
            file,
            buf: vec![0; MAX_REQUEST],
        };
        self.worker = Some(Worker::spawn("virtio-rng", io, queues, mem, irq)?);
        Ok(())
    }

    fn notify(&self, q: u16) {
        if let Some(w) = &self.worker {
            w.notify(q);
        }
    }

    fn reset(&mut self) {
        if let Some(mut w) = self.worker.take() {
            w.stop();
        }
    }
}

struct Io {
    file: Option<std::fs::File>,
    buf: Vec<u8>,
}

impl Io {
    /// Fills `self.buf[..n]` with entropy; how many bytes it got.
    fn fill(&mut self, n: usize) -> usize {
        let b = &mut self.buf[..n];
        match &mut self.file {
            Some(f) => f.read(b).unwrap_or(0),
            None => {
                // SAFETY: getrandom writes at most b.len() bytes into the live buffer b.
                let r = unsafe { libc::getrandom(b.as_mut_ptr() as *mut libc::c_void, b.len(), 0) };
                r.max(0) as usize
            }
        }
    }
}

impl Handler for Io {
    fn handle(&mut self, _queue: u16, descs: &[Descriptor], mem: &GuestRam) -> u32 {
        let mut written = 0usize;
        for d in descs.iter().filter(|d| d.is_write_only()) {
            let want = (d.len() as usize).min(MAX_REQUEST - written);
            if want == 0 {
                break;
            }
            let got = self.fill(want);
            if got == 0 || mem.write_slice(&self.buf[..got], d.addr()).is_err() {
                break;
            }
            written += got;
            if got < want {
                break;
            }
        }
        written as u32
    }
}
