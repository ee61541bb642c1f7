//! Loads the kernel (a 64-bit PowerPC ELF, either byte order, or a raw image with -bios) and the
//! initrd into guest memory, the way QEMU's pseries does: ELF addresses are taken modulo 256 MiB
//! and placed at `kernel-addr`; the initrd follows the kernel, 64 KiB aligned.
//!
//! Files are checked before they are read: only regular files are taken (a FIFO would block, a
//! device like /dev/zero never ends), sizes come from metadata and must fit in guest RAM, and an
//! ELF's program headers are validated (count, bounds, overlap, total size) before any byte is
//! copied. Data goes from the file straight into guest RAM, so loading needs no host copy of it.

use ppc::GuestMemory;
use std::fs::File;
use std::os::unix::fs::FileExt;
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

/// Most program headers a kernel may have (Linux has a handful).
pub const MAX_PHDRS: u64 = 128;
const EM_PPC64: u16 = 21;
const PT_LOAD: u32 = 1;
const EHDR_SIZE: usize = 64;
const PHDR_SIZE: u64 = 56;
/// Copy chunk from file to guest RAM.
const CHUNK: usize = 1 << 20;

/// Guest real address of an ELF virtual address (kernel links at 0xc000…; QEMU keeps the low 28
/// bits); None if it would wrap.
fn place(vaddr: u64, kernel_addr: u64) -> Option<u64> {
    (vaddr & 0x0fff_ffff).checked_add(kernel_addr)
}

/// Opens a regular file for reading and returns it with its size. Non-regular files are refused
/// before they are opened: opening a FIFO blocks until a writer comes.
pub fn open_regular(path: &Path, what: &str) -> Result<(File, u64), String> {
    let bad = |why: String| format!("{what} '{}': {why}", path.display());
    let md = std::fs::metadata(path).map_err(|e| bad(e.to_string()))?;
    if md.is_dir() {
        return Err(bad("is a directory".into()));
    }
    if !md.is_file() {
        return Err(bad("not a regular file".into()));
    }
    let f = File::open(path).map_err(|e| bad(e.to_string()))?;
    Ok((f, md.len()))
}

/// Copies `len` bytes at `off` in `f` to guest real address `addr` (checked to fit by the caller).
fn copy_in(f: &File, off: u64, len: u64, mem: &GuestMemory, addr: u64) -> std::io::Result<bool> {
    let mut buf = vec![0u8; (len as usize).min(CHUNK)];
    let mut done = 0u64;
    while done < len {
        let n = ((len - done) as usize).min(CHUNK);
        f.read_exact_at(&mut buf[..n], off + done)?;
        if !mem.write(addr + done, &buf[..n]) {
            return Ok(false);
        }
        done += n as u64;
    }
    Ok(true)
}

/// A PT_LOAD segment, validated against the file and guest RAM.
struct Segment {
    off: u64,
    filesz: u64,
    addr: u64,
    end: u64,
}

/// Reads and validates an ELF64 PowerPC header and its loadable segments.
fn segments(
    f: &File,
    len: u64,
    ram: u64,
    kernel_addr: u64,
    bad: &dyn Fn(&str) -> String,
) -> Result<(u64, bool, Vec<Segment>), String> {
    let mut eh = [0u8; EHDR_SIZE];
    if len < EHDR_SIZE as u64 || f.read_exact_at(&mut eh, 0).is_err() {
        return Err(bad("not a 64-bit ELF file"));
    }
    if eh[..4] != *b"\x7fELF" || eh[4] != 2 || !(eh[5] == 1 || eh[5] == 2) {
        return Err(bad("not a 64-bit ELF file"));
    }
    let le = eh[5] == 1;
    let u16_at = |b: &[u8], o: usize| {
        let v = [b[o], b[o + 1]];
        if le {
            u16::from_le_bytes(v)
        } else {
            u16::from_be_bytes(v)
        }
    };
    let u32_at = |b: &[u8], o: usize| {
        let v = [b[o], b[o + 1], b[o + 2], b[o + 3]];
        if le {
            u32::from_le_bytes(v)
        } else {
            u32::from_be_bytes(v)
        }
    };
    let u64_at = |b: &[u8], o: usize| {
        let mut v = [0u8; 8];
        v.copy_from_slice(&b[o..o + 8]);
        if le {
            u64::from_le_bytes(v)
        } else {
            u64::from_be_bytes(v)
        }
    };
    if u16_at(&eh, 18) != EM_PPC64 {
        return Err(bad("not a PowerPC 64-bit ELF (wrong machine)"));
    }
    let entry = u64_at(&eh, 24);
    let phoff = u64_at(&eh, 32);
    let phentsize = u16_at(&eh, 54) as u64;
    let phnum = u16_at(&eh, 56) as u64;
    if phnum > MAX_PHDRS {
        return Err(bad(&format!(
            "{phnum} program headers (at most {MAX_PHDRS})"
        )));
    }
    if phnum > 0 && phentsize < PHDR_SIZE {
        return Err(bad("program header entries too small"));
    }
    let table = phentsize * phnum;
    if phoff.checked_add(table).is_none_or(|e| e > len) {
        return Err(bad("program headers outside the file"));
    }
    let mut ph = vec![0u8; table as usize];
    f.read_exact_at(&mut ph, phoff)
        .map_err(|e| bad(&e.to_string()))?;
    let mut segs = Vec::new();
    let mut total = 0u64;
    for p in ph.chunks_exact(phentsize as usize) {
        if u32_at(p, 0) != PT_LOAD {
            continue;
        }
        let (off, vaddr, filesz, memsz) =
            (u64_at(p, 8), u64_at(p, 16), u64_at(p, 32), u64_at(p, 40));
        if off.checked_add(filesz).is_none_or(|e| e > len) {
            return Err(bad("segment outside the file"));
        }
        let size = memsz.max(filesz);
        let addr =
            place(vaddr, kernel_addr).ok_or_else(|| bad("does not fit in guest RAM (raise -m)"))?;
        let end = addr
            .checked_add(size)
            .filter(|&end| end <= ram)
            .ok_or_else(|| bad("does not fit in guest RAM (raise -m)"))?;
        total = total.saturating_add(size);
        if total > ram {
            return Err(bad("segments larger than guest RAM (raise -m)"));
        }
        segs.push(Segment {
            off,
            filesz,
            addr,
            end,
        });
    }
    if segs.is_empty() {
        return Err(bad("no loadable segments"));
    }
    let mut by_addr: Vec<(u64, u64)> = segs.iter().map(|s| (s.addr, s.end)).collect();
    by_addr.sort_unstable();
    if by_addr.windows(2).any(|w| w[1].0 < w[0].1) {
        return Err(bad("loadable segments overlap"));
    }
    Ok((entry, le, segs))
}

/// Loads an ELF kernel. Errors name the file and what is wrong with it.
pub fn load_kernel(mem: &GuestMemory, path: &Path, kernel_addr: u64) -> Result<Kernel, String> {
    let bad = |why: &str| format!("kernel '{}': {why}", path.display());
    let (f, len) = open_regular(path, "kernel")?;
    let (entry, le, segs) = segments(&f, len, mem.size(), kernel_addr, &bad)?;
    let mut low = u64::MAX;
    let mut high = 0u64;
    for s in &segs {
        let ok = copy_in(&f, s.off, s.filesz, mem, s.addr).map_err(|e| bad(&e.to_string()))?;
        if !ok || !mem.fill(s.addr + s.filesz, s.end - s.addr - s.filesz, 0) {
            return Err(bad("does not fit in guest RAM (raise -m)"));
        }
        low = low.min(s.addr);
        high = high.max(s.end);
    }
    let entry = place(entry, kernel_addr)
        .filter(|&e| e < mem.size())
        .ok_or_else(|| bad("entry point outside guest RAM"))?;
    Ok(Kernel {
        entry,
        le,
        low,
        high,
    })
}

/// Loads the whole of a regular file at `addr`, checking its size against RAM before reading.
fn load_file(
    mem: &GuestMemory,
    path: &Path,
    what: &str,
    addr: u64,
    hint: &str,
) -> Result<u64, String> {
    let bad = |why: &str| format!("{what} '{}': {why}", path.display());
    let (f, len) = open_regular(path, what)?;
    if addr.checked_add(len).is_none_or(|e| e > mem.size()) {
        return Err(bad(&format!(
            "{} MiB does not fit in guest RAM{hint}",
            len.div_ceil(1 << 20)
        )));
    }
    let ok = copy_in(&f, 0, len, mem, addr).map_err(|e| bad(&e.to_string()))?;
    if !ok {
        return Err(bad(&format!("does not fit in guest RAM{hint}")));
    }
    Ok(len)
}

/// Loads an initrd at `addr`; returns its size.
pub fn load_initrd(mem: &GuestMemory, path: &Path, addr: u64) -> Result<u64, String> {
    load_file(mem, path, "initrd", addr, " (raise -m)")
}

/// Loads a raw firmware image at address 0 (-bios).
pub fn load_raw(mem: &GuestMemory, path: &Path) -> Result<u64, String> {
    let n = load_file(mem, path, "bios", 0, "")?;
    if n == 0 {
        return Err(format!("bios '{}': empty file", path.display()));
    }
    Ok(n)
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

    /// An ELF64 LE kernel with the given PT_LOAD segments (vaddr, filesz, memsz); file data zero.
    fn elf_segs(segs: &[(u64, u64, u64)]) -> Vec<u8> {
        let mut v = elf(true, EM_PPC64, &[], 0);
        v.truncate(64);
        v[56..58].copy_from_slice(&(segs.len() as u16).to_le_bytes());
        let data_at = 64 + 56 * segs.len() as u64;
        for &(vaddr, filesz, memsz) in segs {
            for x in [1u32, 7] {
                v.extend(x.to_le_bytes());
            }
            for x in [data_at, vaddr, 0, filesz, memsz, 0x10000] {
                v.extend(x.to_le_bytes());
            }
        }
        let file_end = data_at + segs.iter().map(|s| s.1).max().unwrap_or(0);
        v.resize(file_end as usize, 0);
        v
    }

    #[test]
    fn refuses_non_regular_files_before_opening_them() {
        let mem = GuestMemory::new(1 << 24).expect("mem");
        let dev = std::path::Path::new("/dev/zero");
        for (what, e) in [
            ("kernel", load_kernel(&mem, dev, 0).unwrap_err()),
            ("initrd", load_initrd(&mem, dev, 0).unwrap_err()),
            ("bios", load_raw(&mem, dev).unwrap_err()),
        ] {
            assert_eq!(e, format!("{what} '/dev/zero': not a regular file"));
        }
        let dir = std::env::temp_dir();
        assert!(load_kernel(&mem, &dir, 0)
            .unwrap_err()
            .ends_with("is a directory"));
        let fifo = std::env::temp_dir().join(format!("lpar-loader-{}-fifo", std::process::id()));
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo runs");
        assert!(made.success());
        // Opening a FIFO with no writer would block for ever: it must be refused first.
        assert!(load_kernel(&mem, &fifo, 0)
            .unwrap_err()
            .ends_with("not a regular file"));
        let _ = std::fs::remove_file(fifo);
    }

    #[test]
    fn sizes_are_checked_before_reading() {
        let mem = GuestMemory::new(1 << 24).expect("mem");
        // A sparse 1 TiB file: refused from its metadata, nothing is read.
        let p = tmp("sparse", b"");
        std::fs::File::options()
            .write(true)
            .open(&p)
            .and_then(|f| f.set_len(1 << 40))
            .expect("sparse file");
        let t = std::time::Instant::now();
        assert!(load_initrd(&mem, &p, 0x100000)
            .unwrap_err()
            .contains("1048576 MiB does not fit in guest RAM (raise -m)"));
        assert!(load_raw(&mem, &p).unwrap_err().contains("does not fit"));
        assert!(load_kernel(&mem, &p, 0)
            .unwrap_err()
            .contains("not a 64-bit ELF"));
        assert!(t.elapsed() < std::time::Duration::from_secs(5));
        let empty = tmp("empty", b"");
        assert!(load_raw(&mem, &empty).unwrap_err().ends_with("empty file"));
        assert_eq!(load_initrd(&mem, &empty, 0), Ok(0));
        for p in [p, empty] {
            let _ = std::fs::remove_file(p);
        }
    }

    #[test]
    fn program_headers_are_validated_before_any_copy() {
        let mem = GuestMemory::new(1 << 24).expect("mem");
        let k = 0xc000_0000_0000_0000u64;
        // 2000 overlapping 255 MiB zero-fill segments: refused by count.
        let many = tmp("many", &elf_segs(&vec![(k, 0, 255 << 20); 2000]));
        assert!(load_kernel(&mem, &many, 0)
            .unwrap_err()
            .contains("2000 program headers (at most 128)"));
        let overlap = tmp(
            "overlap",
            &elf_segs(&[(k, 16, 0x2000), (k + 0x1000, 16, 0x10)]),
        );
        assert!(load_kernel(&mem, &overlap, 0)
            .unwrap_err()
            .ends_with("segments overlap"));
        // Each fits, together they exceed RAM.
        let total = tmp(
            "total",
            &elf_segs(&[(k, 0, 12 << 20), (k + (12 << 20), 0, 8 << 20)]),
        );
        assert!(load_kernel(&mem, &total, 0)
            .unwrap_err()
            .contains("raise -m"));
        let fine = tmp(
            "fine",
            &elf_segs(&[(k, 16, 0x1000), (k + 0x1000, 16, 0x10)]),
        );
        let got = load_kernel(&mem, &fine, 0x10000).expect("two adjacent segments load");
        assert_eq!((got.low, got.high), (0x10000, 0x11010));
        // kernel-addr near the top of the address space must not wrap around.
        assert!(load_kernel(&mem, &fine, u64::MAX - 0xffff)
            .unwrap_err()
            .contains("does not fit"));
        for p in [many, overlap, total, fine] {
            let _ = std::fs::remove_file(p);
        }
    }
}
