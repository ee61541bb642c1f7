//! Loads the kernel (a 64-bit PowerPC ELF, either byte order, or a raw image with -bios) and the
//! initrd into guest memory, the way QEMU's pseries does: ELF addresses are taken modulo 256 MiB
//! and placed at `kernel-addr`; the initrd follows the kernel, 64 KiB aligned.

use object::elf::{EM_PPC64, PT_LOAD};
use object::read::elf::{ElfFile64, FileHeader, ProgramHeader};
use object::Endianness;
use ppc::GuestMemory;
use std::path::Path;

/// Where and how the kernel was loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kernel {
    /// Guest real address of the entry point.
    pub entry: u64,
    /// Little-endian kernel.
    pub le: bool,
    /// Lowest and highest (exclusive) guest real addresses the image occupies, incl. bss.
    pub low: u64,
    pub high: u64,
}

/// Guest real address of an ELF virtual address (kernel links at 0xc000…; QEMU keeps the low 28 bits).
fn place(vaddr: u64, kernel_addr: u64) -> u64 {
    (vaddr & 0x0fff_ffff).wrapping_add(kernel_addr)
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{what} '{}': {e}", path.display()))
}

/// Loads an ELF kernel. Errors name the file and what is wrong with it.
pub fn load_kernel(mem: &GuestMemory, path: &Path, kernel_addr: u64) -> Result<Kernel, String> {
    let data = read(path, "kernel")?;
    let bad = |why: &str| format!("kernel '{}': {why}", path.display());
    let elf = ElfFile64::<Endianness>::parse(&*data).map_err(|_| bad("not a 64-bit ELF file"))?;
    let hdr = elf.elf_header();
    let e = elf.endian();
    if hdr.e_machine(e) != EM_PPC64 {
        return Err(bad("not a PowerPC 64-bit ELF (wrong machine)"));
    }
    let mut low = u64::MAX;
    let mut high = 0u64;
    for ph in elf.elf_program_headers() {
        if ph.p_type(e) != PT_LOAD {
            continue;
        }
        let (off, filesz, memsz) = (ph.p_offset(e), ph.p_filesz(e), ph.p_memsz(e));
        let bytes = off
            .checked_add(filesz)
            .and_then(|end| data.get(off as usize..end as usize))
            .ok_or_else(|| bad("segment outside the file"))?;
        let addr = place(ph.p_vaddr(e), kernel_addr);
        let end = addr
            .checked_add(memsz.max(filesz))
            .filter(|&end| end <= mem.size())
            .ok_or_else(|| bad("does not fit in guest RAM (raise -m)"))?;
        if !mem.write(addr, bytes) || !mem.fill(addr + filesz, memsz.saturating_sub(filesz), 0) {
            return Err(bad("does not fit in guest RAM (raise -m)"));
        }
        low = low.min(addr);
        high = high.max(end);
    }
    if high == 0 {
        return Err(bad("no loadable segments"));
    }
    Ok(Kernel {
        entry: place(hdr.e_entry(e), kernel_addr),
        le: e == Endianness::Little,
        low,
        high,
    })
}

/// Loads an initrd at `addr`; returns its size.
pub fn load_initrd(mem: &GuestMemory, path: &Path, addr: u64) -> Result<u64, String> {
    let data = read(path, "initrd")?;
    if !mem.write(addr, &data) {
        return Err(format!(
            "initrd '{}': does not fit in guest RAM (raise -m)",
            path.display()
        ));
    }
    Ok(data.len() as u64)
}

/// Loads a raw firmware image at address 0 (-bios).
pub fn load_raw(mem: &GuestMemory, path: &Path) -> Result<u64, String> {
    let data = read(path, "bios")?;
    if !mem.write(0, &data) {
        return Err(format!(
            "bios '{}': does not fit in guest RAM",
            path.display()
        ));
    }
    Ok(data.len() as u64)
}

/// Where the initrd goes: after the kernel, 64 KiB aligned.
pub fn initrd_addr(k: &Kernel) -> u64 {
    (k.high + 0xffff) & !0xffff
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str, data: &[u8]) -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!("lpar-loader-{}-{name}", std::process::id()));
        std::fs::write(&p, data).expect("write temp");
        p
    }

    /// A minimal ELF64 with one PT_LOAD of `code` at vaddr 0xc000000000000000 (+ bss).
    fn elf(le: bool, machine: u16, code: &[u8], bss: u64) -> Vec<u8> {
        let mut v = Vec::new();
        let w16 =
            |v: &mut Vec<u8>, x: u16| v.extend(if le { x.to_le_bytes() } else { x.to_be_bytes() });
        let w32 =
            |v: &mut Vec<u8>, x: u32| v.extend(if le { x.to_le_bytes() } else { x.to_be_bytes() });
        let w64 =
            |v: &mut Vec<u8>, x: u64| v.extend(if le { x.to_le_bytes() } else { x.to_be_bytes() });
        v.extend([0x7f, b'E', b'L', b'F', 2, if le { 1 } else { 2 }, 1, 0]);
        v.extend([0; 8]);
        w16(&mut v, 2); // ET_EXEC
        w16(&mut v, machine);
        w32(&mut v, 1);
        w64(&mut v, 0xc000_0000_0000_0010); // entry
        w64(&mut v, 64); // phoff
        w64(&mut v, 0); // shoff
        w32(&mut v, 0);
        w16(&mut v, 64);
        w16(&mut v, 56);
        w16(&mut v, 1);
        w16(&mut v, 64);
        w16(&mut v, 0);
        w16(&mut v, 0);
        // Program header
        w32(&mut v, 1); // PT_LOAD
        w32(&mut v, 7);
        w64(&mut v, 120); // offset
        w64(&mut v, 0xc000_0000_0000_0000);
        w64(&mut v, 0);
        w64(&mut v, code.len() as u64);
        w64(&mut v, code.len() as u64 + bss);
        w64(&mut v, 0x10000);
        v.extend(code);
        v
    }

    #[test]
    fn loads_le_and_be_at_kernel_addr() {
        for le in [true, false] {
            let mem = GuestMemory::new(1 << 24).expect("mem");
            mem.fill(0x400000 + 4, 64, 0xaa);
            let p = tmp(&format!("k{le}"), &elf(le, EM_PPC64, &[1, 2, 3, 4], 16));
            let k = load_kernel(&mem, &p, 0x400000).expect("load");
            assert_eq!(k.entry, 0x400010);
            assert_eq!(k.le, le);
            assert_eq!((k.low, k.high), (0x400000, 0x400014));
            let mut b = [0u8; 8];
            assert!(mem.read(0x400000, &mut b));
            assert_eq!(b, [1, 2, 3, 4, 0, 0, 0, 0], "bss must be zeroed");
            assert_eq!(initrd_addr(&k), 0x410000);
            let _ = std::fs::remove_file(p);
        }
    }

    #[test]
    fn rejects_bad_kernels() {
        let mem = GuestMemory::new(1 << 20).expect("mem");
        let p = tmp(
            "notelf",
            b"hello world, not an elf at all....................................",
        );
        assert!(load_kernel(&mem, &p, 0)
            .unwrap_err()
            .contains("not a 64-bit ELF"));
        let p2 = tmp("x86", &elf(true, 62, &[0; 4], 0));
        assert!(load_kernel(&mem, &p2, 0)
            .unwrap_err()
            .contains("wrong machine"));
        let p3 = tmp("big", &elf(true, EM_PPC64, &[0; 4], 1 << 21));
        assert!(load_kernel(&mem, &p3, 0).unwrap_err().contains("raise -m"));
        let missing = std::path::Path::new("/nonexistent/vmlinux");
        assert!(load_kernel(&mem, missing, 0)
            .unwrap_err()
            .contains("/nonexistent/vmlinux"));
        for p in [p, p2, p3] {
            let _ = std::fs::remove_file(p);
        }
    }
}
