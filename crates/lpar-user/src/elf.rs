//! ELF64 PowerPC executable parsing and loading. Every field of the file is untrusted: offsets and
//! sizes are checked with overflow-free arithmetic against the file and the guest window.

const EM_PPC: u16 = 20;
const EM_PPC64: u16 = 21;
const ET_EXEC: u16 = 2;
const ET_DYN: u16 = 3;
pub const PT_LOAD: u32 = 1;
const PT_INTERP: u32 = 3;
const PT_PHDR: u32 = 6;
const EHDR_SIZE: usize = 64;
const PHDR_SIZE: usize = 56;
/// Where a position-independent (static-pie) executable is placed, as Linux's ELF_ET_DYN_BASE.
const DYN_BASE: u64 = 0x1000_0000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Guest address (load bias applied).
    pub vaddr: u64,
    pub memsz: u64,
    pub offset: u64,
    pub filesz: u64,
}

#[derive(Debug)]
pub struct Elf {
    pub le: bool,
    /// e_flags ABI level 2: ELFv2, entry is code; otherwise ELFv1, entry is a function descriptor.
    pub elfv2: bool,
    /// e_entry with the load bias applied.
    pub entry: u64,
    pub phdr_addr: u64,
    pub phnum: u64,
    pub segments: Vec<Segment>,
}

impl Elf {
    /// First byte past the highest loaded segment.
    pub fn end(&self) -> u64 {
        self.segments
            .iter()
            .map(|s| s.vaddr + s.memsz)
            .max()
            .unwrap_or(0)
    }
}

fn machine_name(m: u16) -> &'static str {
    match m {
        3 => "i386",
        8 => "MIPS",
        20 => "PowerPC (32-bit)",
        22 => "S/390",
        40 => "ARM",
        62 => "x86-64",
        183 => "AArch64",
        243 => "RISC-V",
        _ => "unknown machine",
    }
}

struct Reader<'a> {
    d: &'a [u8],
    le: bool,
}

impl Reader<'_> {
    fn bytes<const N: usize>(&self, off: usize) -> Option<[u8; N]> {
        self.d.get(off..off.checked_add(N)?)?.try_into().ok()
    }
    fn u16(&self, off: usize) -> Option<u16> {
        let b = self.bytes::<2>(off)?;
        Some(if self.le {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        })
    }
    fn u32(&self, off: usize) -> Option<u32> {
        let b = self.bytes::<4>(off)?;
        Some(if self.le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    }
    fn u64(&self, off: usize) -> Option<u64> {
        let b = self.bytes::<8>(off)?;
        Some(if self.le {
            u64::from_le_bytes(b)
        } else {
            u64::from_be_bytes(b)
        })
    }
}

/// Parses and validates an executable for a guest whose loadable range is `[lo, hi)`.
/// Errors are one-line descriptions of the problem, without the file name.
pub fn parse(d: &[u8], lo: u64, hi: u64) -> Result<Elf, String> {
    if d.len() < 4 || &d[..4] != b"\x7fELF" {
        return Err("not an ELF file".into());
    }
    if d.len() < EHDR_SIZE {
        return Err("truncated ELF header".into());
    }
    let le = match d[5] {
        1 => true,
        2 => false,
        n => return Err(format!("invalid ELF byte order {n}")),
    };
    let r = Reader { d, le };
    let bad = || "truncated ELF header".to_string();
    let machine = r.u16(18).ok_or_else(bad)?;
    match d[4] {
        2 => {}
        1 if machine == EM_PPC => {
            return Err(
                "32-bit PowerPC ELF not supported, need a 64-bit PowerPC (ppc64) binary".into(),
            )
        }
        1 => {
            return Err(format!(
                "ELF for {} (32-bit, e_machine {machine}), need a 64-bit PowerPC (ppc64) binary",
                machine_name(machine)
            ))
        }
        n => return Err(format!("invalid ELF class {n}")),
    }
    if machine != EM_PPC64 {
        return Err(format!(
            "ELF for {} (e_machine {machine}), need a 64-bit PowerPC (ppc64) binary",
            machine_name(machine)
        ));
    }
    let etype = r.u16(16).ok_or_else(bad)?;
    let load_bias = match etype {
        ET_EXEC => 0,
        ET_DYN => DYN_BASE,
        1 => return Err("relocatable object file, not an executable".into()),
        4 => return Err("core dump, not an executable".into()),
        n => return Err(format!("ELF type {n} is not an executable")),
    };
    let entry = r.u64(24).ok_or_else(bad)?;
    let phoff = r.u64(32).ok_or_else(bad)?;
    let flags = r.u32(48).ok_or_else(bad)?;
    let phentsize = r.u16(54).ok_or_else(bad)?;
    let phnum = r.u16(56).ok_or_else(bad)?;
    if phnum == 0 {
        return Err("no program headers".into());
    }
    if phentsize as usize != PHDR_SIZE {
        return Err(format!("unexpected program header size {phentsize}"));
    }
    let table_len = phnum as u64 * PHDR_SIZE as u64;
    let table_end = phoff
        .checked_add(table_len)
        .filter(|&e| e <= d.len() as u64)
        .ok_or("program header table extends past the end of the file")?;
    let mut segments = Vec::new();
    let mut phdr_addr = None;
    let mut first_load: Option<(u64, u64)> = None;
    for n in 0..phnum as u64 {
        let p = (phoff + n * PHDR_SIZE as u64) as usize;
        let ptype = r.u32(p).ok_or_else(bad)?;
        let offset = r.u64(p + 8).ok_or_else(bad)?;
        let vaddr = r.u64(p + 16).ok_or_else(bad)?;
        let filesz = r.u64(p + 32).ok_or_else(bad)?;
        let memsz = r.u64(p + 40).ok_or_else(bad)?;
        match ptype {
            PT_INTERP => {
                return Err("dynamically linked ELF not supported, use a static binary".into())
            }
            PT_PHDR => phdr_addr = vaddr.checked_add(load_bias),
            PT_LOAD => {
                if filesz > memsz {
                    return Err(format!("segment {n}: file size exceeds memory size"));
                }
                if offset
                    .checked_add(filesz)
                    .is_none_or(|e| e > d.len() as u64)
                {
                    return Err(format!("segment {n} extends past the end of the file"));
                }
                let va = vaddr.checked_add(load_bias);
                let end = va.and_then(|v| v.checked_add(memsz));
                match (va, end) {
                    (Some(va), Some(end)) if va >= lo && end <= hi => {
                        if first_load.is_none() {
                            first_load = Some((va, offset));
                        }
                        if memsz > 0 {
                            segments.push(Segment {
                                vaddr: va,
                                memsz,
                                offset,
                                filesz,
                            });
                        }
                    }
                    _ => {
                        return Err(format!(
                            "segment {n} ({vaddr:#x}, {memsz:#x} bytes) lies outside the guest \
                             address space {lo:#x}..{hi:#x}"
                        ))
                    }
                }
            }
            _ => {}
        }
    }
    if segments.is_empty() {
        return Err("no loadable segments".into());
    }
    // Without PT_PHDR, the headers are where the segment holding them in the file puts them;
    // failing that, where the first segment's mapping would (Linux's load_addr + e_phoff).
    let phdr_addr = phdr_addr
        .or_else(|| {
            segments
                .iter()
                .find(|s| s.offset <= phoff && table_end <= s.offset + s.filesz)
                .map(|s| s.vaddr + (phoff - s.offset))
        })
        .or_else(|| first_load.and_then(|(va, off)| va.checked_sub(off)?.checked_add(phoff)))
        .unwrap_or(0);
    let entry = entry
        .checked_add(load_bias)
        .ok_or("entry point out of range")?;
    Ok(Elf {
        le,
        elfv2: flags & 3 == 2,
        entry,
        phdr_addr,
        phnum: phnum as u64,
        segments,
    })
}

/// Copies the file bytes of every segment into guest memory (the rest of each segment is already
/// zero: the guest window starts zeroed).
pub fn load(elf: &Elf, d: &[u8], mem: &ppc::GuestMemory) -> Result<(), String> {
    for s in &elf.segments {
        // parse() checked offset + filesz <= d.len().
        let bytes = d
            .get(s.offset as usize..(s.offset + s.filesz) as usize)
            .ok_or("segment outside the file")?;
        if !mem.write(s.vaddr, bytes) {
            return Err(format!("segment at {:#x} outside guest memory", s.vaddr));
        }
    }
    Ok(())
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A minimal ELF64 image of 4 KiB: header and the given program headers
    /// (type, offset, vaddr, filesz, memsz); the caller appends any contents.
    pub fn build(
        le: bool,
        machine: u16,
        phdrs: &[(u32, u64, u64, u64, u64)],
        entry: u64,
    ) -> Vec<u8> {
        let mut d = vec![0u8; 0x1000];
        d[..4].copy_from_slice(b"\x7fELF");
        d[4] = 2;
        d[5] = if le { 1 } else { 2 };
        d[6] = 1;
        let put = |d: &mut Vec<u8>, off: usize, v: u64, n: usize| {
            let b = if le { v.to_le_bytes() } else { v.to_be_bytes() };
            let s = if le { &b[..n] } else { &b[8 - n..] };
            d[off..off + n].copy_from_slice(s);
        };
        put(&mut d, 16, ET_EXEC as u64, 2);
        put(&mut d, 18, machine as u64, 2);
        put(&mut d, 20, 1, 4);
        put(&mut d, 24, entry, 8);
        put(&mut d, 32, 64, 8);
        put(&mut d, 48, if le { 2 } else { 1 }, 4);
        put(&mut d, 52, 64, 2);
        put(&mut d, 54, 56, 2);
        put(&mut d, 56, phdrs.len() as u64, 2);
        for (i, &(t, off, va, fsz, msz)) in phdrs.iter().enumerate() {
            let p = 64 + i * 56;
            put(&mut d, p, t as u64, 4);
            put(&mut d, p + 8, off, 8);
            put(&mut d, p + 16, va, 8);
            put(&mut d, p + 32, fsz, 8);
            put(&mut d, p + 40, msz, 8);
        }
        d
    }

    const LO: u64 = 0x10000;
    const HI: u64 = 0xf000_0000;

    #[test]
    fn parses_static_executable() {
        let mut d = build(
            true,
            EM_PPC64,
            &[(PT_LOAD, 0, 0x1000_0000, 0x1010, 0x3000)],
            0x1000_1000,
        );
        d.resize(0x1010, 0x60);
        let e = parse(&d, LO, HI).unwrap();
        assert!(e.le && e.elfv2);
        assert_eq!(e.entry, 0x1000_1000);
        assert_eq!(e.phdr_addr, 0x1000_0040);
        assert_eq!(e.phnum, 1);
        assert_eq!(e.end(), 0x1000_3000);
        let mem = ppc::GuestMemory::new(0x2000_0000).unwrap();
        load(&e, &d, &mem).unwrap();
        let mut b = [0u8; 4];
        mem.read(0x1000_1000, &mut b);
        assert_eq!(b, [0x60; 4]);
    }

    #[test]
    fn big_endian_v1() {
        let d = build(
            false,
            EM_PPC64,
            &[(PT_LOAD, 0, 0x1000_0000, 0x1000, 0x1000)],
            0x1000_0800,
        );
        let e = parse(&d, LO, HI).unwrap();
        assert!(!e.le && !e.elfv2);
        assert_eq!(e.entry, 0x1000_0800);
    }

    #[test]
    fn rejects_bad_input_without_panicking() {
        let ok = build(
            true,
            EM_PPC64,
            &[(PT_LOAD, 0, 0x1000_0000, 0x1000, 0x1000)],
            0x1000_0000,
        );
        assert!(parse(b"#!/bin/sh\n", LO, HI)
            .unwrap_err()
            .contains("not an ELF"));
        assert!(parse(&ok[..40], LO, HI).unwrap_err().contains("truncated"));
        let x86 = build(true, 62, &[(PT_LOAD, 0, 0x1000_0000, 0x1000, 0x1000)], 0);
        assert!(parse(&x86, LO, HI).unwrap_err().contains("x86-64"));
        let mut c32 = ok.clone();
        c32[4] = 1;
        assert!(parse(&c32, LO, HI).unwrap_err().contains("64-bit PowerPC"));
        let dynamic = build(
            true,
            EM_PPC64,
            &[
                (PT_INTERP, 0x100, 0, 10, 10),
                (PT_LOAD, 0, 0x1000_0000, 0x1000, 0x1000),
            ],
            0,
        );
        assert!(parse(&dynamic, LO, HI)
            .unwrap_err()
            .contains("dynamically linked"));
        // Segment past the end of the file, with sizes chosen to overflow naive arithmetic.
        let huge = build(
            true,
            EM_PPC64,
            &[(PT_LOAD, u64::MAX - 4, 0x1000_0000, 16, 16)],
            0,
        );
        assert!(parse(&huge, LO, HI).unwrap_err().contains("past the end"));
        let wrap = build(true, EM_PPC64, &[(PT_LOAD, 0, u64::MAX - 8, 0, 0x100)], 0);
        assert!(parse(&wrap, LO, HI).unwrap_err().contains("outside"));
        let high = build(true, EM_PPC64, &[(PT_LOAD, 0, HI - 0x10, 0, 0x100)], 0);
        assert!(parse(&high, LO, HI).unwrap_err().contains("outside"));
        let null = build(true, EM_PPC64, &[(PT_LOAD, 0, 0, 0x100, 0x100)], 0);
        assert!(parse(&null, LO, HI).unwrap_err().contains("outside"));
        let mut many = ok.clone();
        many[56] = 0xff;
        many[57] = 0xff;
        assert!(parse(&many, LO, HI)
            .unwrap_err()
            .contains("program header table"));
        let fsz = build(
            true,
            EM_PPC64,
            &[(PT_LOAD, 0, 0x1000_0000, 0x200, 0x100)],
            0,
        );
        assert!(parse(&fsz, LO, HI).unwrap_err().contains("file size"));
        // Every truncation of a valid file is rejected cleanly.
        for n in 0..ok.len() {
            let _ = parse(&ok[..n], LO, HI);
        }
    }
}
