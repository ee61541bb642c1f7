//! lpar-user: runs a static ppc64 Linux ELF (little- or big-endian) on the `ppc` CPU core,
//! emulating the Linux system calls. A test tool for the CPU core, not part of the machine.
//!
//! Usage: `lpar-user BINARY [ARGS...]`. The exit status is the guest's; a guest killed by a signal
//! gives 128+signo as a shell reports it. With LPAR_USER_STATS=1 the number of instructions
//! executed is printed on stderr at exit.

mod elf;
mod fs;
mod guest;
mod mm;
mod stack;
mod syscall;
mod tty;

use guest::Guest;
use mm::{Vm, PAGE};
use ppc::{Cpu, CpuModel, DecodeCache, Exception, GuestMemory, ProgramKind};
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;
use syscall::{signal_name, Flow, Process, STACK_SIZE};

/// Guest address space size: everything a static binary, its heap, mmaps and stack use.
const MEM_SIZE: u64 = 1 << 32;
/// Initial stack top; the page above it is left unmapped.
const STACK_TOP: u64 = MEM_SIZE - PAGE;
/// Lowest address of the stack reservation; one never-mapped guard page sits below it.
const STACK_BOTTOM: u64 = STACK_TOP - STACK_SIZE;
/// mmap hands out addresses below the stack guard page; ELF segments must lie below it too.
const MMAP_TOP: u64 = STACK_BOTTOM - PAGE;

fn main() {
    std::process::exit(run());
}

fn os_error(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        // SAFETY: strerror returns a valid NUL-terminated static string for any errno.
        Some(n) => unsafe { std::ffi::CStr::from_ptr(libc::strerror(n)) }
            .to_string_lossy()
            .into_owned(),
        None => e.to_string(),
    }
}

fn run() -> i32 {
    let args: Vec<OsString> = std::env::args_os().collect();
    let Some(path) = args.get(1) else {
        eprintln!("usage: lpar-user BINARY [ARGS...]");
        return 1;
    };
    let shown = path.to_string_lossy().into_owned();
    let fail = |msg: &str| {
        eprintln!("lpar-user: {shown}: {msg}");
        1
    };
    // Anything larger than the guest address space cannot be a guest executable.
    if std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() > MEM_SIZE) {
        return fail("file too large for the guest address space");
    }
    let data = match std::fs::read(path) {
        Ok(d) => d,
        Err(e) => return fail(&os_error(&e)),
    };
    let elf = match elf::parse(&data, PAGE, MMAP_TOP) {
        Ok(e) => e,
        Err(m) => return fail(&m),
    };
    // The guest gets the host environment, as under qemu-user. Taken before the feature probe,
    // which briefly sets a variable of its own.
    let envp: Vec<Vec<u8>> = std::env::vars_os()
        .map(|(k, v)| [k.as_bytes(), b"=", v.as_bytes()].concat())
        .collect();
    let hwcap2 = stack::hwcap2();
    let mem = match GuestMemory::new(MEM_SIZE) {
        Ok(m) => Arc::new(m),
        Err(e) => return fail(&format!("cannot map guest memory: {}", os_error(&e))),
    };
    if let Err(m) = elf::load(&elf, &data, &mem) {
        return fail(&m);
    }
    let mut vm = Vm::new(MEM_SIZE, MMAP_TOP);
    for s in &elf.segments {
        vm.reserve(s.vaddr, s.memsz);
    }
    vm.reserve(MMAP_TOP, MEM_SIZE - MMAP_TOP);
    vm.set_brk_start(elf.end());

    let g = Guest {
        mem: mem.clone(),
        le: elf.le,
    };
    let argv: Vec<Vec<u8>> = args[1..].iter().map(|a| a.as_bytes().to_vec()).collect();
    let mut random = [0u8; 16];
    // SAFETY: getrandom writes at most 16 bytes into the local array.
    unsafe { libc::getrandom(random.as_mut_ptr() as *mut libc::c_void, 16, 0) };
    // SAFETY: the id calls have no preconditions and cannot fail.
    let ids = unsafe {
        [
            libc::getuid() as u64,
            libc::geteuid() as u64,
            libc::getgid() as u64,
            libc::getegid() as u64,
        ]
    };
    let start = stack::Start {
        argv: &argv,
        envp: &envp,
        execfn: path.as_bytes(),
        elf: &elf,
        hwcap2,
        random,
        ids,
    };
    let sp = match stack::build(&g, STACK_TOP, STACK_BOTTOM, &start) {
        Ok(sp) => sp,
        Err(m) => return fail(&m),
    };
    let mut cpu = Cpu::new(CpuModel::Power9, mem);
    if let Err(m) = stack::init_regs(&mut cpu, &g, &elf, sp) {
        return fail(&m);
    }
    drop(data);
    let mut proc = Process::new(g, vm, syscall::exe_path(&shown));
    let code = execute(&mut cpu, &mut proc);
    if std::env::var_os("LPAR_USER_STATS").is_some_and(|v| v == "1") {
        eprintln!("lpar-user: {} instructions", cpu.icount);
    }
    code
}

/// Runs the guest to its end; returns the exit status.
fn execute(cpu: &mut Cpu, proc: &mut Process) -> i32 {
    let mut cache = DecodeCache::default();
    loop {
        let flow = match ppc::run(cpu, &mut cache, u64::MAX) {
            Ok(()) => Flow::Continue,
            Err(Exception::SystemCall { lev: 0 }) => proc.syscall(cpu, &mut cache, false),
            Err(Exception::SystemCallVectored { lev: 0 }) => {
                // scv leaves the return address in LR (the kernel returns through it).
                cpu.lr = cpu.pc;
                proc.syscall(cpu, &mut cache, true)
            }
            Err(e) => {
                let (sig, detail) = fault_signal(e);
                eprintln!(
                    "lpar-user: guest killed by {} at pc {:#x}{detail}",
                    signal_name(sig),
                    cpu.pc
                );
                Flow::Exit(128 + sig as i32)
            }
        };
        if let Flow::Exit(code) = flow {
            return code;
        }
    }
}

/// The signal Linux/ppc64 delivers for an exception taken in problem state.
fn fault_signal(e: Exception) -> (u64, String) {
    const SIGILL: u64 = 4;
    const SIGTRAP: u64 = 5;
    const SIGBUS: u64 = 7;
    const SIGFPE: u64 = 8;
    const SIGSEGV: u64 = 11;
    match e {
        Exception::DataStorage { ea, write } => (
            SIGSEGV,
            format!(" ({} of {ea:#x})", if write { "write" } else { "read" }),
        ),
        Exception::DataSegment { ea } => (SIGSEGV, format!(" (access to {ea:#x})")),
        Exception::InstructionStorage { ea } | Exception::InstructionSegment { ea } => {
            (SIGSEGV, format!(" (fetch from {ea:#x})"))
        }
        Exception::Alignment { ea } => (SIGBUS, format!(" (unaligned access to {ea:#x})")),
        Exception::Program(ProgramKind::Trap) => (SIGTRAP, " (trap)".into()),
        Exception::Program(ProgramKind::FloatingPoint) => (SIGFPE, String::new()),
        Exception::Program(ProgramKind::Privileged) => (SIGILL, " (privileged instruction)".into()),
        Exception::Program(ProgramKind::Illegal) => (SIGILL, " (illegal instruction)".into()),
        Exception::SystemCall { lev } | Exception::SystemCallVectored { lev } => {
            (SIGILL, format!(" (system call level {lev})"))
        }
        Exception::FpUnavailable | Exception::VecUnavailable | Exception::VsxUnavailable => {
            (SIGILL, format!(" ({e:?})"))
        }
        Exception::FacilityUnavailable { ic } => (SIGILL, format!(" (facility {ic} unavailable)")),
    }
}
