//! PCI functions as a host bridge sees them: a configuration space ([`ConfigSpace`] does the
//! standard header, BAR sizing and the capability list) and accesses to the BARs the bridge has
//! decoded. A device implements [`PciDevice`]; the bridge owns the routing.

use std::sync::Mutex;

/// Extended configuration space (PCIe size; RTAS `ibm,read-pci-config` reaches all of it).
pub const CONFIG_SIZE: usize = 4096;

pub mod reg {
    pub const VENDOR_ID: usize = 0x00;
    pub const DEVICE_ID: usize = 0x02;
    pub const COMMAND: usize = 0x04;
    pub const STATUS: usize = 0x06;
    pub const REVISION: usize = 0x08;
    pub const CLASS_PROG: usize = 0x09;
    pub const HEADER_TYPE: usize = 0x0e;
    pub const BAR0: usize = 0x10;
    pub const SUBSYSTEM_VENDOR_ID: usize = 0x2c;
    pub const SUBSYSTEM_ID: usize = 0x2e;
    pub const CAPABILITIES: usize = 0x34;
    pub const INTERRUPT_LINE: usize = 0x3c;
    pub const INTERRUPT_PIN: usize = 0x3d;
}

pub mod command {
    pub const IO: u16 = 1 << 0;
    pub const MEMORY: u16 = 1 << 1;
    pub const MASTER: u16 = 1 << 2;
    pub const SERR: u16 = 1 << 8;
    pub const INTX_DISABLE: u16 = 1 << 10;
}

/// Status: the capability list is present.
const STATUS_CAP_LIST: u16 = 1 << 4;

/// Capability ids.
pub const CAP_VENDOR: u8 = 0x09;
pub const CAP_MSIX: u8 = 0x11;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BarKind {
    Io,
    Mem32,
    /// 64-bit memory BAR (takes this slot and the next); prefetchable if the flag says so.
    Mem64 {
        prefetch: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bar {
    pub size: u64,
    pub kind: BarKind,
}

/// A type-0 configuration header with BARs and a capability list.
pub struct ConfigSpace {
    bytes: Box<[u8; CONFIG_SIZE]>,
    /// Bits the guest may change.
    wmask: Box<[u8; CONFIG_SIZE]>,
    bars: [Option<Bar>; 6],
    /// Where the next capability goes, and the last one's "next" byte.
    cap_next: usize,
    cap_last: usize,
}

/// Identity of a function.
#[derive(Clone, Copy, Debug)]
pub struct Ids {
    pub vendor: u16,
    pub device: u16,
    pub revision: u8,
    /// Class code: base class, subclass, programming interface.
    pub class: u32,
    pub subsystem_vendor: u16,
    pub subsystem: u16,
}

impl ConfigSpace {
    pub fn new(ids: Ids) -> ConfigSpace {
        let mut c = ConfigSpace {
            bytes: Box::new([0; CONFIG_SIZE]),
            wmask: Box::new([0; CONFIG_SIZE]),
            bars: [None; 6],
            cap_next: 0x40,
            cap_last: reg::CAPABILITIES,
        };
        c.put16(reg::VENDOR_ID, ids.vendor);
        c.put16(reg::DEVICE_ID, ids.device);
        c.bytes[reg::REVISION] = ids.revision;
        c.bytes[reg::CLASS_PROG] = ids.class as u8;
        c.put16(reg::CLASS_PROG + 1, (ids.class >> 8) as u16);
        c.put16(reg::SUBSYSTEM_VENDOR_ID, ids.subsystem_vendor);
        c.put16(reg::SUBSYSTEM_ID, ids.subsystem);
        let cmd = command::IO | command::MEMORY | command::MASTER | command::SERR;
        c.set_wmask16(reg::COMMAND, cmd | command::INTX_DISABLE);
        c.wmask[reg::INTERRUPT_LINE] = 0xff;
        c
    }

    fn put16(&mut self, off: usize, v: u16) {
        self.bytes[off..off + 2].copy_from_slice(&v.to_le_bytes());
    }

    fn set_wmask16(&mut self, off: usize, v: u16) {
        self.wmask[off..off + 2].copy_from_slice(&v.to_le_bytes());
    }

    fn get(&self, off: usize, len: usize) -> u64 {
        let mut b = [0u8; 8];
        b[..len].copy_from_slice(&self.bytes[off..off + len]);
        u64::from_le_bytes(b)
    }

    /// Interrupt pin: 1 = INTA .. 4 = INTD, 0 = none.
    pub fn set_interrupt_pin(&mut self, pin: u8) {
        self.bytes[reg::INTERRUPT_PIN] = pin;
    }

    pub fn interrupt_pin(&self) -> u8 {
        self.bytes[reg::INTERRUPT_PIN]
    }

    pub fn command(&self) -> u16 {
        self.get(reg::COMMAND, 2) as u16
    }

    pub fn ids(&self) -> Ids {
        Ids {
            vendor: self.get(reg::VENDOR_ID, 2) as u16,
            device: self.get(reg::DEVICE_ID, 2) as u16,
            revision: self.bytes[reg::REVISION],
            class: self.get(reg::CLASS_PROG, 3) as u32,
            subsystem_vendor: self.get(reg::SUBSYSTEM_VENDOR_ID, 2) as u16,
            subsystem: self.get(reg::SUBSYSTEM_ID, 2) as u16,
        }
    }

    /// Declares BAR `i` (size a power of two, at least 16 bytes for memory, 4 for I/O).
    pub fn add_bar(&mut self, i: usize, bar: Bar) {
        debug_assert!(bar.size.is_power_of_two());
        let off = reg::BAR0 + 4 * i;
        let (flags, low_mask): (u32, u64) = match bar.kind {
            BarKind::Io => (1, !3),
            BarKind::Mem32 => (0, !15),
            BarKind::Mem64 { prefetch } => (4 | if prefetch { 8 } else { 0 }, !15),
        };
        let mask = !(bar.size - 1) & low_mask;
        self.bytes[off..off + 4].copy_from_slice(&flags.to_le_bytes());
        self.wmask[off..off + 4].copy_from_slice(&(mask as u32).to_le_bytes());
        if let BarKind::Mem64 { .. } = bar.kind {
            self.wmask[off + 4..off + 8].copy_from_slice(&((mask >> 32) as u32).to_le_bytes());
        }
        self.bars[i] = Some(bar);
    }

    pub fn bar(&self, i: usize) -> Option<Bar> {
        self.bars.get(i).copied().flatten()
    }

    /// The address BAR `i` is programmed with (whether or not decoding is on).
    pub fn bar_address(&self, i: usize) -> Option<u64> {
        let bar = self.bar(i)?;
        let off = reg::BAR0 + 4 * i;
        Some(match bar.kind {
            BarKind::Io => self.get(off, 4) & !3,
            BarKind::Mem32 => self.get(off, 4) & !15,
            BarKind::Mem64 { .. } => self.get(off, 8) & !15,
        })
    }

    /// Programs BAR `i` (as firmware does before the OS starts).
    pub fn set_bar_address(&mut self, i: usize, addr: u64) {
        if let Some(bar) = self.bar(i) {
            let off = reg::BAR0 + 4 * i;
            let len = if matches!(bar.kind, BarKind::Mem64 { .. }) {
                8
            } else {
                4
            };
            for k in 0..len {
                let m = self.wmask[off + k];
                self.bytes[off + k] = (self.bytes[off + k] & !m) | ((addr >> (8 * k)) as u8 & m);
            }
        }
    }

    /// The BAR range the function decodes now: (bus address, size), if its space is enabled.
    pub fn decoded_bar(&self, i: usize) -> Option<(u64, u64)> {
        let bar = self.bar(i)?;
        let enable = match bar.kind {
            BarKind::Io => command::IO,
            _ => command::MEMORY,
        };
        if self.command() & enable == 0 {
            return None;
        }
        let a = self.bar_address(i)?;
        // Unprogrammed (0) or mid-sizing (all ones): not decoded.
        (a != 0 && a.checked_add(bar.size).is_some()).then_some((a, bar.size))
    }

    /// Appends capability `id` whose body (after the id and next bytes) is `body`; returns its
    /// offset. `writable` marks body bytes the guest may change.
    pub fn add_capability(&mut self, id: u8, body: &[u8], writable: &[u8]) -> usize {
        let off = self.cap_next;
        let len = 2 + body.len();
        assert!(off + len <= 0x100, "capabilities overflow the header");
        self.bytes[off] = id;
        self.bytes[off + 1] = 0;
        self.bytes[off + 2..off + len].copy_from_slice(body);
        for (k, &w) in writable.iter().enumerate().take(body.len()) {
            self.wmask[off + 2 + k] = w;
        }
        self.bytes[self.cap_last] = off as u8;
        self.cap_last = off + 1;
        self.cap_next = (off + len + 3) & !3;
        let st = self.get(reg::STATUS, 2) as u16 | STATUS_CAP_LIST;
        self.put16(reg::STATUS, st);
        off
    }

    /// Reads `len` (1, 2 or 4) bytes at `off`, little-endian; out of range reads all ones.
    pub fn read(&self, off: usize, len: usize) -> u32 {
        match off.checked_add(len) {
            Some(end) if end <= CONFIG_SIZE && matches!(len, 1 | 2 | 4) => {
                self.get(off, len) as u32
            }
            _ => u32::MAX,
        }
    }

    /// Writes through the write mask; out of range writes are dropped.
    pub fn write(&mut self, off: usize, len: usize, val: u32) {
        let Some(end) = off.checked_add(len) else {
            return;
        };
        if end > CONFIG_SIZE || !matches!(len, 1 | 2 | 4) {
            return;
        }
        for k in 0..len {
            let m = self.wmask[off + k];
            let b = (val >> (8 * k)) as u8;
            self.bytes[off + k] = (self.bytes[off + k] & !m) | (b & m);
        }
    }

    /// Offset of the first capability with id `id`, walking the list as a driver does.
    pub fn find_capability(&self, id: u8) -> Option<usize> {
        let mut at = self.bytes[reg::CAPABILITIES] as usize;
        // A list longer than the header can hold is a loop.
        for _ in 0..48 {
            if !(0x40..=0xfc).contains(&at) {
                return None;
            }
            if self.bytes[at] == id {
                return Some(at);
            }
            at = self.bytes[at + 1] as usize;
        }
        None
    }

    /// Raw bytes, for a device's own registers inside its capabilities.
    pub fn bytes(&self) -> &[u8; CONFIG_SIZE] {
        &self.bytes
    }
}

/// A PCI function behind a host bridge. Accesses arrive already routed: configuration cycles by
/// offset, BAR accesses by BAR index and offset. Data is in the device's (little-endian) order.
pub trait PciDevice: Send + Sync {
    /// The name users give it (`-device NAME`), e.g. "virtio-blk-pci".
    fn name(&self) -> &str;
    fn config(&self) -> &Mutex<ConfigSpace>;
    fn config_read(&self, off: usize, len: usize) -> u32 {
        self.config().lock().map_or(u32::MAX, |c| c.read(off, len))
    }
    fn config_write(&self, off: usize, len: usize, val: u32) {
        if let Ok(mut c) = self.config().lock() {
            c.write(off, len, val);
        }
    }
    fn bar_read(&self, bar: usize, off: u64, data: &mut [u8]);
    fn bar_write(&self, bar: usize, off: u64, data: &[u8]);
    /// Machine reset: back to the power-on state (the BARs the firmware programs are kept).
    fn reset(&self);
    /// The machine stops: finish in-flight work and make written data durable.
    fn shutdown(&self) {
        self.reset()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cs() -> ConfigSpace {
        let mut c = ConfigSpace::new(Ids {
            vendor: 0x1af4,
            device: 0x1042,
            revision: 1,
            class: 0x01_00_00,
            subsystem_vendor: 0x1af4,
            subsystem: 0x40,
        });
        c.add_bar(
            1,
            Bar {
                size: 0x1000,
                kind: BarKind::Mem32,
            },
        );
        c.add_bar(
            4,
            Bar {
                size: 0x4000,
                kind: BarKind::Mem64 { prefetch: true },
            },
        );
        c
    }

    #[test]
    fn bar_sizing_reads_back_the_size_mask_and_flags() {
        let mut c = cs();
        c.write(0x14, 4, u32::MAX);
        assert_eq!(c.read(0x14, 4), 0xffff_f000);
        c.write(0x20, 4, u32::MAX);
        c.write(0x24, 4, u32::MAX);
        assert_eq!(c.read(0x20, 4), 0xffff_c00c);
        assert_eq!(c.read(0x24, 4), u32::MAX);
        // An absent BAR stays zero.
        c.write(0x10, 4, u32::MAX);
        assert_eq!(c.read(0x10, 4), 0);
        // Ids are read-only.
        c.write(0, 4, 0);
        assert_eq!(c.read(0, 4), 0x1042_1af4);
        assert_eq!(c.read(0x08, 4), 0x0100_0001);
    }

    #[test]
    fn a_bar_is_decoded_only_when_programmed_and_enabled() {
        let mut c = cs();
        c.set_bar_address(4, 0x2000_0000_c000);
        assert_eq!(c.decoded_bar(4), None);
        c.write(reg::COMMAND, 2, command::MEMORY as u32);
        assert_eq!(c.decoded_bar(4), Some((0x2000_0000_c000, 0x4000)));
        assert_eq!(c.decoded_bar(1), None);
    }

    #[test]
    fn capabilities_form_a_list() {
        let mut c = cs();
        let a = c.add_capability(CAP_VENDOR, &[14, 1, 4, 0, 0, 0], &[]);
        let b = c.add_capability(CAP_VENDOR, &[14, 2], &[]);
        assert_eq!(c.read(reg::CAPABILITIES, 1) as usize, a);
        assert_eq!(c.read(a + 1, 1) as usize, b);
        assert_eq!(c.read(b + 1, 1), 0);
        assert_ne!(c.read(reg::STATUS, 2) & 0x10, 0);
        // Wild offsets read all ones and writes there vanish.
        assert_eq!(c.read(4095, 4), u32::MAX);
        c.write(usize::MAX, 4, 0);
    }
}
