//! lpar-user: runs a static ppc64 Linux ELF on the `ppc` CPU core, emulating the Linux syscalls
//! the test workloads need. A test tool for the CPU core, not part of the machine.

use object::{Object, ObjectSegment};
use ppc::{Cpu, CpuModel, DecodeCache, Exception, GuestMemory};
use std::sync::Arc;

/// Guest address space size: everything a static binary, its heap, mmaps and stack use.
const MEM_SIZE: u64 = 1 << 32;
const STACK_TOP: u64 = 0xf000_0000;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 2 {
        eprintln!("usage: lpar-user BINARY [ARGS...]");
        std::process::exit(1);
    }
    let path = &args[1];
    let data = match std::fs::read(path) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("lpar-user: {path}: {e}");
            std::process::exit(1);
        }
    };
    let elf = match object::File::parse(&*data) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("lpar-user: {path}: not an ELF file ({e})");
            std::process::exit(1);
        }
    };
    let mem = Arc::new(GuestMemory::new(MEM_SIZE).expect("mmap guest memory"));
    for seg in elf.segments() {
        let (off, len) = seg.file_range();
        let bytes = &data[off as usize..(off + len) as usize];
        mem.write(seg.address(), bytes);
    }
    let mut cpu = Cpu::new(CpuModel::Power9, mem);
    use ppc::cpu::msr::*;
    let le = elf.is_little_endian();
    cpu.set_msr(SF | PR | FP | VEC | VSX | EE | if le { LE } else { 0 });
    cpu.pc = elf.entry();
    cpu.gpr[1] = STACK_TOP - 0x1000;
    let mut cache = DecodeCache::default();
    loop {
        match ppc::run(&mut cpu, &mut cache, u64::MAX) {
            Ok(()) => {}
            Err(Exception::SystemCall { lev: 0 }) => {
                let nr = cpu.gpr[0];
                match nr {
                    1 | 234 => std::process::exit(cpu.gpr[3] as i32),
                    4 => {
                        let mut buf = vec![0u8; cpu.gpr[5] as usize];
                        cpu.mem.read(cpu.gpr[4], &mut buf);
                        use std::io::Write;
                        let _ = std::io::stdout().write_all(&buf);
                        cpu.gpr[3] = buf.len() as u64;
                    }
                    _ => {
                        eprintln!("lpar-user: unknown syscall {nr}");
                        cpu.gpr[3] = -38i64 as u64;
                        cpu.cr |= 1 << 28;
                    }
                }
            }
            Err(e) => {
                eprintln!("lpar-user: {e:?} at {:#x}", cpu.pc);
                std::process::exit(128 + 11);
            }
        }
    }
}
