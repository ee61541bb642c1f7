//! Guest memory and the data-access path of the CPU.
//!
//! `GuestMemory` is one host mapping that backs guest real addresses `0..size`. Every access goes
//! through `Cpu::xlate`, which today is the identity map with a bounds check (problem-state user
//! emulation and real mode); the MMU slots in there. Accesses honour MSR[LE].

use crate::cpu::{Cpu, Exception, IrqLines};
use crate::mmu::Access;
use std::collections::VecDeque;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex, OnceLock};

/// The devices behind guest real addresses outside RAM (PCI BARs, interrupt-controller pages):
/// loads and stores there leave the fast paths (the TLB never maps them, so translated code
/// exits to the interpreter) and reach `read`/`write` with the bytes in memory order. An
/// address no device claims gets the storage interrupt an access outside RAM always got.
pub trait Mmio: Send + Sync {
    /// Fills `data` from the device at real address `ra`; false if nothing answers there.
    fn read(&self, ra: u64, data: &mut [u8]) -> bool;
    /// Writes `data` to the device at real address `ra`; false if nothing answers there.
    fn write(&self, ra: u64, data: &[u8]) -> bool;
}

/// A contiguous, host-mapped range of guest real memory. Pages are allocated lazily by the host
/// kernel, so a large window costs nothing until touched.
pub struct GuestMemory {
    base: NonNull<u8>,
    size: u64,
    code: CodeMap,
}

/// Instruction-cache coherence for the vCPUs' decoded and translated code.
///
/// POWER9 and later snoop stores into the instruction cache, and Linux relies on it: it issues
/// no icbi for a page it fills with new code (a page-cache page read from disk or written by
/// `write()`, a module), only one dummy icbi at most. So every write to a page some vCPU
/// decoded must drop that decoded form, as QEMU drops its translation blocks:
/// - a bit per 4 KiB page says "code may be cached for it" (set when a vCPU decodes the page);
/// - no vCPU keeps a fast write translation (`Tlb` `tag_w`) for a marked page, so every store to
///   it takes the slow path, which finds the bit; writes by the machine (`write`, `fill`) and by
///   devices' DMA (`note_write`) check the bits too;
/// - a write to a marked page clears the bit and logs the page; every vCPU drops its decoded
///   pages and translated blocks for the logged pages before its next instruction (`EXIT`).
///
/// A page marked anew is logged too, so that other vCPUs drop their write translations for it.
struct CodeMap {
    bits: Box<[AtomicU64]>,
    /// Generation of the newest event in `log` (0: none yet).
    gen: AtomicU64,
    log: Mutex<VecDeque<(u64, u64)>>,
    /// The machine's vCPUs, told of every event (none: the only vCPU finds the log at its next
    /// exit from the inner loop, which the writer requests itself).
    vcpus: OnceLock<Vec<Arc<IrqLines>>>,
}

/// Events kept: a vCPU further behind drops all its code and write translations instead.
const CODE_LOG: usize = 256;
/// Event kinds, in the low bits of the logged page address.
pub(crate) const CODE_WRITTEN: u64 = 1;
pub(crate) const CODE_MARKED: u64 = 2;

// SAFETY: the mapping lives as long as the GuestMemory and is only accessed through raw pointers
// with bounds checks; concurrent guest accesses from several vCPUs are the guest's business, as on
// real hardware.
unsafe impl Send for GuestMemory {}
// SAFETY: as above.
unsafe impl Sync for GuestMemory {}

impl GuestMemory {
    /// Maps `size` bytes of zeroed, lazily allocated memory.
    pub fn new(size: u64) -> std::io::Result<GuestMemory> {
        // SAFETY: an anonymous private mapping with no address hint has no effect on existing memory.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size as usize,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        let words = size.div_ceil(4096 * 64) as usize;
        Ok(GuestMemory {
            base: NonNull::new(p as *mut u8).ok_or_else(std::io::Error::last_os_error)?,
            size,
            code: CodeMap {
                bits: (0..words).map(|_| AtomicU64::new(0)).collect(),
                gen: AtomicU64::new(0),
                log: Mutex::new(VecDeque::with_capacity(CODE_LOG)),
                vcpus: OnceLock::new(),
            },
        })
    }

    /// The vCPUs to notify of code-coherence events (set once, when the machine is built).
    pub fn set_vcpus(&self, lines: Vec<Arc<IrqLines>>) {
        let _ = self.code.vcpus.set(lines);
    }

    /// Host address of the code bitmap (bit `p % 64` of word `p / 64` for page `p`), which
    /// translated real-mode stores test.
    pub(crate) fn code_bits_ptr(&self) -> u64 {
        self.code.bits.as_ptr() as u64
    }

    /// Whether code may be cached for the page holding real address `ra`.
    #[inline(always)]
    pub(crate) fn is_code(&self, ra: u64) -> bool {
        let p = ra >> 12;
        self.code
            .bits
            .get((p / 64) as usize)
            .is_some_and(|w| w.load(std::sync::atomic::Ordering::Relaxed) & 1 << (p % 64) != 0)
    }

    /// Marks the page of `ra` as holding decoded code; when it was not, logs it so that vCPUs
    /// drop their fast write translations of it, and returns true.
    pub(crate) fn mark_code(&self, ra: u64) -> bool {
        let p = ra >> 12;
        let Some(w) = self.code.bits.get((p / 64) as usize) else {
            return false;
        };
        let new = w.fetch_or(1 << (p % 64), SeqCst) & 1 << (p % 64) == 0;
        if new {
            self.code_event(p << 12 | CODE_MARKED);
        }
        new
    }

    /// Says that guest real range `[addr, addr+len)` was just written (by a store's slow path,
    /// the machine or a device's DMA): pages marked as code are unmarked and logged for every
    /// vCPU to drop. True if there was one.
    pub fn note_write(&self, addr: u64, len: u64) -> bool {
        if len == 0 {
            return false;
        }
        let (first, last) = (addr >> 12, addr.saturating_add(len - 1) >> 12);
        let mut hit = false;
        for p in first..=last {
            let Some(w) = self.code.bits.get((p / 64) as usize) else {
                break;
            };
            let bit = 1u64 << (p % 64);
            if w.load(SeqCst) & bit != 0 && w.fetch_and(!bit, SeqCst) & bit != 0 {
                self.code_event(p << 12 | CODE_WRITTEN);
                hit = true;
            }
        }
        hit
    }

    fn code_event(&self, ev: u64) {
        if let Ok(mut log) = self.code.log.lock() {
            let gen = self.code.gen.load(SeqCst) + 1;
            if log.len() == CODE_LOG {
                log.pop_front();
            }
            log.push_back((gen, ev));
            self.code.gen.store(gen, SeqCst);
        }
        for l in self.code.vcpus.get().into_iter().flatten() {
            l.raise(0);
        }
    }

    /// The code-coherence generation: a vCPU that saw this one has nothing to do.
    #[inline(always)]
    pub(crate) fn code_gen(&self) -> u64 {
        self.code.gen.load(SeqCst)
    }

    /// Hands the events after generation `seen` to `f` (`None`: the caller fell too far behind
    /// and must drop all its code and write translations) and returns the generation reached.
    pub(crate) fn code_events(&self, seen: u64, mut f: impl FnMut(Option<u64>)) -> u64 {
        let Ok(log) = self.code.log.lock() else {
            f(None);
            return self.code_gen();
        };
        let gen = self.code.gen.load(SeqCst);
        match log.front() {
            Some(&(g, _)) if g <= seen + 1 => {
                for &(_, ev) in log.iter().filter(|e| e.0 > seen) {
                    f(Some(ev));
                }
            }
            _ if gen == seen => {}
            _ => f(None),
        }
        gen
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Guest real address of a host pointer obtained from `ptr`.
    #[inline(always)]
    pub fn real_addr_of(&self, p: *mut u8) -> u64 {
        (p as usize).wrapping_sub(self.base.as_ptr() as usize) as u64
    }

    /// Host pointer for `len` bytes at guest address `addr`, or None if any byte is outside.
    #[inline(always)]
    pub fn ptr(&self, addr: u64, len: u64) -> Option<*mut u8> {
        let end = addr.checked_add(len)?;
        if end > self.size {
            return None;
        }
        // SAFETY: addr + len <= size, so the offset stays inside the mapping.
        Some(unsafe { self.base.as_ptr().add(addr as usize) })
    }

    /// Copies guest memory out; false if the range is outside.
    pub fn read(&self, addr: u64, buf: &mut [u8]) -> bool {
        match self.ptr(addr, buf.len() as u64) {
            Some(p) => {
                // SAFETY: ptr() checked the whole range; buf is a distinct host buffer.
                unsafe { std::ptr::copy_nonoverlapping(p, buf.as_mut_ptr(), buf.len()) };
                true
            }
            None => false,
        }
    }

    /// Copies into guest memory; false if the range is outside.
    pub fn write(&self, addr: u64, buf: &[u8]) -> bool {
        match self.ptr(addr, buf.len() as u64) {
            Some(p) => {
                // SAFETY: ptr() checked the whole range; buf is a distinct host buffer.
                unsafe { std::ptr::copy_nonoverlapping(buf.as_ptr(), p, buf.len()) };
                self.note_write(addr, buf.len() as u64);
                true
            }
            None => false,
        }
    }

    /// Fills a guest range with a byte; false if the range is outside.
    pub fn fill(&self, addr: u64, len: u64, v: u8) -> bool {
        match self.ptr(addr, len) {
            Some(p) => {
                // SAFETY: ptr() checked the whole range.
                unsafe { std::ptr::write_bytes(p, v, len as usize) };
                self.note_write(addr, len);
                true
            }
            None => false,
        }
    }

    /// Gives a range's host pages back to the kernel (they read as zero afterwards).
    pub fn discard(&self, addr: u64, len: u64) {
        if let Some(p) = self.ptr(addr, len) {
            // SAFETY: the range is inside our private anonymous mapping; MADV_DONTNEED only zeroes it.
            unsafe { libc::madvise(p as *mut libc::c_void, len as usize, libc::MADV_DONTNEED) };
            self.note_write(addr, len);
        }
    }
}

impl Drop for GuestMemory {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the mapping we created; no references outlive self.
        unsafe { libc::munmap(self.base.as_ptr() as *mut libc::c_void, self.size as usize) };
    }
}

/// Atomically replaces the `N` bytes at `p` with `new` if they still hold `old` (a host
/// compare-and-swap, a full barrier on x86-64); N is 1, 2, 4, 8 or 16.
///
/// # Safety
/// `p` must be valid for `N` bytes and aligned to `N`.
pub(crate) unsafe fn compare_exchange_bytes<const N: usize>(
    p: *mut u8,
    old: [u8; N],
    new: [u8; N],
) -> bool {
    use std::sync::atomic::{AtomicU16, AtomicU32, AtomicU64, AtomicU8, Ordering::SeqCst};
    fn word<const M: usize>(b: &[u8]) -> [u8; M] {
        let mut w = [0u8; M];
        w.copy_from_slice(&b[..M]);
        w
    }
    // SAFETY (each arm): the caller guarantees p is valid and aligned for N bytes, and guest
    // memory is only ever accessed through raw pointers, never through Rust references.
    unsafe {
        match N {
            1 => AtomicU8::from_ptr(p)
                .compare_exchange(old[0], new[0], SeqCst, SeqCst)
                .is_ok(),
            2 => AtomicU16::from_ptr(p.cast())
                .compare_exchange(
                    u16::from_ne_bytes(word(&old)),
                    u16::from_ne_bytes(word(&new)),
                    SeqCst,
                    SeqCst,
                )
                .is_ok(),
            4 => AtomicU32::from_ptr(p.cast())
                .compare_exchange(
                    u32::from_ne_bytes(word(&old)),
                    u32::from_ne_bytes(word(&new)),
                    SeqCst,
                    SeqCst,
                )
                .is_ok(),
            8 => AtomicU64::from_ptr(p.cast())
                .compare_exchange(
                    u64::from_ne_bytes(word(&old)),
                    u64::from_ne_bytes(word(&new)),
                    SeqCst,
                    SeqCst,
                )
                .is_ok(),
            16 => cas16(
                p.cast(),
                u128::from_ne_bytes(word(&old)),
                u128::from_ne_bytes(word(&new)),
            ),
            _ => false,
        }
    }
}

/// 16-byte compare-and-swap: `lock cmpxchg16b`, which every x86-64 CPU able to run a current
/// Linux has. Inline assembly, since the compiler only offers it as a library call without a
/// build-wide target feature. rbx is reserved by the compiler, so the new low half is swapped in
/// and out of it around the instruction.
#[cfg(target_arch = "x86_64")]
unsafe fn cas16(p: *mut u128, old: u128, new: u128) -> bool {
    let ok_word: u64;
    // SAFETY: the caller guarantees p is valid and 16-byte aligned; rbx is restored before the
    // block ends; cmpxchg16b only touches the 16 bytes at p and rax/rdx/flags, declared here.
    unsafe {
        std::arch::asm!(
            "xchg rsi, rbx",
            "lock cmpxchg16b xmmword ptr [rdi]",
            "sete al",
            "mov rbx, rsi",
            // Fixed registers: the allocator may hand out rbx for a `reg` operand (it did, for
            // `p`, which the xchg then clobbered), so no operand is left to it.
            in("rdi") p,
            inout("rsi") new as u64 => _,
            inout("rax") old as u64 => ok_word,
            inout("rdx") (old >> 64) as u64 => _,
            in("rcx") (new >> 64) as u64,
            options(nostack),
        );
    }
    ok_word & 0xff != 0
}

/// Elsewhere a lock serialises quadword store-conditionals among themselves (not against plain
/// stores of other vCPUs).
#[cfg(not(target_arch = "x86_64"))]
unsafe fn cas16(p: *mut u128, old: u128, new: u128) -> bool {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _g = LOCK.lock();
    // SAFETY: the caller guarantees p is valid and 16-byte aligned.
    unsafe {
        if p.read_volatile() != old {
            return false;
        }
        p.write_volatile(new);
    }
    true
}

macro_rules! access {
    ($ld:ident, $st:ident, $t:ty) => {
        /// Loads with the current byte order (MSR[LE]).
        #[inline(always)]
        pub fn $ld(&mut self, ea: u64) -> Result<$t, Exception> {
            const N: usize = std::mem::size_of::<$t>();
            let raw = match self.xlate_fast(ea, N as u64, Access::Read) {
                // SAFETY: xlate_fast returned a pointer valid for N bytes.
                Some(p) => unsafe { (p as *const [u8; N]).read_unaligned() },
                None => self.read_slow::<N>(ea)?,
            };
            Ok(if self.le {
                <$t>::from_le_bytes(raw)
            } else {
                <$t>::from_be_bytes(raw)
            })
        }

        /// Stores with the current byte order (MSR[LE]).
        #[inline(always)]
        pub fn $st(&mut self, ea: u64, v: $t) -> Result<(), Exception> {
            const N: usize = std::mem::size_of::<$t>();
            let raw = if self.le {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            };
            match self.xlate_fast(ea, N as u64, Access::Write) {
                Some(p) => {
                    // SAFETY: xlate_fast returned a pointer valid for N bytes.
                    unsafe { (p as *mut [u8; N]).write_unaligned(raw) };
                    Ok(())
                }
                None => self.write_slow::<N>(ea, raw),
            }
        }
    };
}

impl Cpu {
    /// Effective address truncated to the current addressing mode.
    #[inline(always)]
    pub fn ea(&self, ea: u64) -> u64 {
        ea & self.ea_mask
    }

    /// Host pointer for a data access of `len` bytes at `ea` (len <= 4096). Accesses that cross a
    /// page boundary onto a discontiguous page get an alignment interrupt: callers that must
    /// handle any alignment use the typed accessors, which split such accesses.
    #[inline(always)]
    pub fn xlate(&mut self, ea: u64, len: u64, write: bool) -> Result<*mut u8, Exception> {
        let acc = if write { Access::Write } else { Access::Read };
        if let Some(p) = self.xlate_fast(ea, len, acc) {
            return Ok(p);
        }
        if !self.relocating(false) {
            return Err(Exception::DataStorage { ea, write });
        }
        let p = self.xlate_page(ea, acc)?;
        let in_page = 4096 - (ea & 4095);
        if len > in_page {
            let last = ea.wrapping_add(len - 1);
            let q = self.xlate_page(last, acc)?;
            if q as usize != p as usize + (len - 1) as usize {
                return Err(Exception::Alignment { ea });
            }
        }
        Ok(p)
    }

    /// Byte-wise load for accesses the fast path can't serve (TLB miss, page crossing, faults).
    /// All bytes are translated before any is read, so a fault leaves no partial effect.
    #[inline(never)]
    fn read_slow<const N: usize>(&mut self, ea: u64) -> Result<[u8; N], Exception> {
        let ptrs = match self.slow_ptrs::<N>(ea, Access::Read) {
            Ok(p) => p,
            Err(e) => {
                let mut out = [0u8; N];
                let (ra, bus) = self.mmio_ra(ea, N as u64, Access::Read, e)?;
                if !bus.read(ra, &mut out) {
                    return Err(e);
                }
                self.fault_bits = 0;
                return Ok(out);
            }
        };
        let mut out = [0u8; N];
        for (o, p) in out.iter_mut().zip(ptrs) {
            // SAFETY: each pointer was translated for one byte.
            *o = unsafe { p.read() };
        }
        Ok(out)
    }

    /// Byte-wise store counterpart of `read_slow`: translates every byte first, then writes.
    #[inline(never)]
    fn write_slow<const N: usize>(&mut self, ea: u64, v: [u8; N]) -> Result<(), Exception> {
        let ptrs = match self.slow_ptrs::<N>(ea, Access::Write) {
            Ok(p) => p,
            Err(e) => {
                let (ra, bus) = self.mmio_ra(ea, N as u64, Access::Write, e)?;
                if !bus.write(ra, &v) {
                    return Err(e);
                }
                self.fault_bits = 0;
                return Ok(());
            }
        };
        for (b, p) in v.iter().zip(ptrs) {
            // SAFETY: each pointer was translated for one byte.
            unsafe { p.write(*b) };
        }
        Ok(())
    }

    /// For an access that found no RAM (`e`): its real address and the device bus, when the
    /// access lies in one page outside RAM and a bus is attached; otherwise `e` stands (a fault
    /// translating the address comes back as it is).
    #[cold]
    fn mmio_ra(
        &mut self,
        ea: u64,
        n: u64,
        acc: Access,
        e: Exception,
    ) -> Result<(u64, std::sync::Arc<dyn Mmio>), Exception> {
        let Some(bus) = self.mmio.clone() else {
            return Err(e);
        };
        if !matches!(e, Exception::DataStorage { .. }) || (ea & 4095) + n > 4096 {
            return Err(e);
        }
        let ra = if self.relocating(false) {
            self.translate(ea, acc)?
        } else {
            ea & 0x0fff_ffff_ffff_ffff
        };
        if ra.saturating_add(n) <= self.mem.size() {
            return Err(e);
        }
        Ok((ra, bus))
    }

    fn slow_ptrs<const N: usize>(
        &mut self,
        ea: u64,
        acc: Access,
    ) -> Result<[*mut u8; N], Exception> {
        let mut ptrs = [std::ptr::null_mut(); N];
        if !self.relocating(false) {
            let p = self.mem.ptr(ea & 0x0fff_ffff_ffff_ffff, N as u64).ok_or(
                Exception::DataStorage {
                    ea,
                    write: acc == Access::Write,
                },
            )?;
            for (i, q) in ptrs.iter_mut().enumerate() {
                // SAFETY: ptr() checked all N bytes.
                *q = unsafe { p.add(i) };
            }
            return Ok(ptrs);
        }
        let mut base_ptr = self.xlate_page(ea, acc)?;
        let mut base_ea = ea;
        for (i, q) in ptrs.iter_mut().enumerate() {
            let a = self.ea(ea.wrapping_add(i as u64));
            if a & !4095 != base_ea & !4095 {
                base_ptr = self.xlate_page(a, acc)?;
                base_ea = a;
            }
            // SAFETY: a is in the page of base_ea at or after it; xlate_page made base_ptr valid
            // to that page's end.
            *q = unsafe { base_ptr.add(a.wrapping_sub(base_ea) as usize) };
        }
        Ok(ptrs)
    }

    access!(ld_u16, st_u16, u16);
    access!(ld_u32, st_u32, u32);
    access!(ld_u64, st_u64, u64);

    #[inline(always)]
    pub fn ld_u8(&mut self, ea: u64) -> Result<u8, Exception> {
        Ok(self.read_slow_or_fast::<1>(ea)?[0])
    }

    #[inline(always)]
    pub fn st_u8(&mut self, ea: u64, v: u8) -> Result<(), Exception> {
        match self.xlate_fast(ea, 1, Access::Write) {
            Some(p) => {
                // SAFETY: xlate_fast returned a pointer valid for one byte.
                unsafe { p.write(v) };
                Ok(())
            }
            None => self.write_slow::<1>(ea, [v]),
        }
    }

    #[inline(always)]
    fn read_slow_or_fast<const N: usize>(&mut self, ea: u64) -> Result<[u8; N], Exception> {
        match self.xlate_fast(ea, N as u64, Access::Read) {
            // SAFETY: xlate_fast returned a pointer valid for N bytes.
            Some(p) => Ok(unsafe { (p as *const [u8; N]).read_unaligned() }),
            None => self.read_slow::<N>(ea),
        }
    }

    /// Loads 16 bytes in memory order (byte 0 at `ea` first), for the vector loads to arrange.
    #[inline(always)]
    pub fn ld_bytes16(&mut self, ea: u64) -> Result<[u8; 16], Exception> {
        match self.xlate_fast(ea, 16, Access::Read) {
            // SAFETY: xlate_fast returned a pointer valid for 16 bytes.
            Some(p) => Ok(unsafe { (p as *const [u8; 16]).read_unaligned() }),
            None => self.read_slow::<16>(ea),
        }
    }

    /// Stores 16 bytes in memory order.
    #[inline(always)]
    pub fn st_bytes16(&mut self, ea: u64, v: [u8; 16]) -> Result<(), Exception> {
        match self.xlate_fast(ea, 16, Access::Write) {
            Some(p) => {
                // SAFETY: xlate_fast returned a pointer valid for 16 bytes.
                unsafe { (p as *mut [u8; 16]).write_unaligned(v) };
                Ok(())
            }
            None => self.write_slow::<16>(ea, v),
        }
    }

    /// Guest real address of the instruction page holding `ea` (translated for execute).
    #[inline]
    pub fn fetch_page(&mut self, ea: u64) -> Result<u64, Exception> {
        let p = match self.xlate_fast(ea, 4, Access::Exec) {
            Some(p) => p,
            None if !self.relocating(true) => {
                return Err(Exception::InstructionStorage { ea });
            }
            None => self.xlate_page(ea, Access::Exec)?,
        };
        Ok(self.mem.real_addr_of(p) & !4095)
    }

    /// Fetches the instruction word at `ea` (instruction byte order follows MSR[LE] too).
    pub fn fetch(&mut self, ea: u64) -> Result<u32, Exception> {
        let ra = self.fetch_page(ea)? | (ea & 4092);
        let mut b = [0u8; 4];
        if !self.mem.read(ra, &mut b) {
            return Err(Exception::InstructionStorage { ea });
        }
        Ok(if self.le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    }
}
