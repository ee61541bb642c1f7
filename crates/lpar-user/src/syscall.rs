//! Linux/ppc64 system calls: one match from the syscall number (arch/powerpc/kernel/syscalls/
//! syscall.tbl) to its handler. Most calls are forwarded to the host kernel with the guest's file
//! descriptors used as host descriptors (as qemu-user does), converting structures whose ppc64
//! layout, flag values or byte order differ.
//!
//! Conventions: `sc` returns the result in r3 and clears CR0[SO], or sets CR0[SO] with the
//! positive errno in r3; `scv` returns -errno in r3 and leaves CR alone.
//!
//! Signals are recorded (rt_sigaction, rt_sigprocmask, sigaltstack) but handlers are never run:
//! there is no signal frame. A signal the guest sends itself (kill/tkill/tgkill, or SIGPIPE with
//! EPIPE) takes its default action: ignored, or the end of the run with status 128+signo; while
//! blocked it stays pending until unblocked (glibc's abort blocks signals around its tgkill). A
//! signal with a handler installed is dropped, with a note on stderr. Single-threaded: futex
//! waits that could only be ended by another thread stop the run instead of hanging.
//!
//! Unsafe code here is host system calls. Every pointer handed to the host comes from
//! `Guest::ptr` (bounds-checked against the guest window, no Rust reference aliases it) or
//! points at a local buffer.

use crate::fs::{self, STATFS_FIELDS, STATFS_SIZE, STATX_FIELDS, STATX_SIZE};
use crate::guest::{
    host_errno, host_ret, swap_fields, Errno, Guest, Out, SysResult, EFAULT, EINVAL, ENOSYS,
};
use crate::mm::Vm;
use crate::tty;
use ppc::{Cpu, DecodeCache};
use std::collections::HashSet;
use std::ffi::CString;

mod nr {
    pub const EXIT: u64 = 1;
    pub const FORK: u64 = 2;
    pub const READ: u64 = 3;
    pub const WRITE: u64 = 4;
    pub const OPEN: u64 = 5;
    pub const CLOSE: u64 = 6;
    pub const CREAT: u64 = 8;
    pub const LINK: u64 = 9;
    pub const UNLINK: u64 = 10;
    pub const CHDIR: u64 = 12;
    pub const TIME: u64 = 13;
    pub const CHMOD: u64 = 15;
    pub const LCHOWN: u64 = 16;
    pub const LSEEK: u64 = 19;
    pub const GETPID: u64 = 20;
    pub const GETUID: u64 = 24;
    pub const ACCESS: u64 = 33;
    pub const SYNC: u64 = 36;
    pub const KILL: u64 = 37;
    pub const RENAME: u64 = 38;
    pub const MKDIR: u64 = 39;
    pub const RMDIR: u64 = 40;
    pub const DUP: u64 = 41;
    pub const PIPE: u64 = 42;
    pub const TIMES: u64 = 43;
    pub const BRK: u64 = 45;
    pub const GETGID: u64 = 47;
    pub const GETEUID: u64 = 49;
    pub const GETEGID: u64 = 50;
    pub const IOCTL: u64 = 54;
    pub const FCNTL: u64 = 55;
    pub const UMASK: u64 = 60;
    pub const DUP2: u64 = 63;
    pub const GETPPID: u64 = 64;
    pub const GETPGRP: u64 = 65;
    pub const SETRLIMIT: u64 = 75;
    pub const GETRUSAGE: u64 = 77;
    pub const GETTIMEOFDAY: u64 = 78;
    pub const GETGROUPS: u64 = 80;
    pub const SYMLINK: u64 = 83;
    pub const READLINK: u64 = 85;
    pub const MMAP: u64 = 90;
    pub const MUNMAP: u64 = 91;
    pub const TRUNCATE: u64 = 92;
    pub const FTRUNCATE: u64 = 93;
    pub const FCHMOD: u64 = 94;
    pub const FCHOWN: u64 = 95;
    pub const STATFS: u64 = 99;
    pub const FSTATFS: u64 = 100;
    pub const STAT: u64 = 106;
    pub const LSTAT: u64 = 107;
    pub const FSTAT: u64 = 108;
    pub const WAIT4: u64 = 114;
    pub const SYSINFO: u64 = 116;
    pub const FSYNC: u64 = 118;
    pub const CLONE: u64 = 120;
    pub const UNAME: u64 = 122;
    pub const MPROTECT: u64 = 125;
    pub const GETPGID: u64 = 132;
    pub const FCHDIR: u64 = 133;
    pub const FLOCK: u64 = 143;
    pub const MSYNC: u64 = 144;
    pub const READV: u64 = 145;
    pub const WRITEV: u64 = 146;
    pub const GETSID: u64 = 147;
    pub const FDATASYNC: u64 = 148;
    pub const SCHED_YIELD: u64 = 158;
    pub const NANOSLEEP: u64 = 162;
    pub const MREMAP: u64 = 163;
    pub const LLSEEK: u64 = 140;
    pub const GETRESUID: u64 = 165;
    pub const POLL: u64 = 167;
    pub const GETRESGID: u64 = 170;
    pub const PRCTL: u64 = 171;
    pub const RT_SIGACTION: u64 = 173;
    pub const RT_SIGPROCMASK: u64 = 174;
    pub const RT_SIGPENDING: u64 = 175;
    pub const PREAD64: u64 = 179;
    pub const PWRITE64: u64 = 180;
    pub const CHOWN: u64 = 181;
    pub const GETCWD: u64 = 182;
    pub const SIGALTSTACK: u64 = 185;
    pub const SENDFILE: u64 = 186;
    pub const VFORK: u64 = 189;
    pub const UGETRLIMIT: u64 = 190;
    pub const READAHEAD: u64 = 191;
    pub const GETDENTS64: u64 = 202;
    pub const MADVISE: u64 = 205;
    pub const GETTID: u64 = 207;
    pub const TKILL: u64 = 208;
    pub const FUTEX: u64 = 221;
    pub const SCHED_GETAFFINITY: u64 = 223;
    pub const SET_TID_ADDRESS: u64 = 232;
    pub const FADVISE64: u64 = 233;
    pub const EXIT_GROUP: u64 = 234;
    pub const CLOCK_GETTIME: u64 = 246;
    pub const CLOCK_GETRES: u64 = 247;
    pub const CLOCK_NANOSLEEP: u64 = 248;
    pub const TGKILL: u64 = 250;
    pub const STATFS64: u64 = 252;
    pub const FSTATFS64: u64 = 253;
    pub const OPENAT: u64 = 286;
    pub const MKDIRAT: u64 = 287;
    pub const FCHOWNAT: u64 = 289;
    pub const NEWFSTATAT: u64 = 291;
    pub const UNLINKAT: u64 = 292;
    pub const RENAMEAT: u64 = 293;
    pub const LINKAT: u64 = 294;
    pub const SYMLINKAT: u64 = 295;
    pub const READLINKAT: u64 = 296;
    pub const FCHMODAT: u64 = 297;
    pub const FACCESSAT: u64 = 298;
    pub const SET_ROBUST_LIST: u64 = 300;
    pub const GETCPU: u64 = 302;
    pub const UTIMENSAT: u64 = 304;
    pub const FALLOCATE: u64 = 309;
    pub const DUP3: u64 = 316;
    pub const PIPE2: u64 = 317;
    pub const PREADV: u64 = 320;
    pub const PWRITEV: u64 = 321;
    pub const PRLIMIT64: u64 = 325;
    pub const RENAMEAT2: u64 = 357;
    pub const GETRANDOM: u64 = 359;
    pub const COPY_FILE_RANGE: u64 = 379;
    pub const STATX: u64 = 383;
    pub const RSEQ: u64 = 387;
    pub const CLOSE_RANGE: u64 = 436;
    pub const FACCESSAT2: u64 = 439;
}

/// What the run loop does after a system call.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// The guest is finished; the runner exits with this status.
    Exit(i32),
}

const AT_FDCWD: i32 = -100;
const AT_EMPTY_PATH: u64 = 0x1000;
const SIG_DFL: u64 = 0;
const SIG_IGN: u64 = 1;
const SIGKILL: u64 = 9;
const SIGSTOP: u64 = 19;
const SIGPIPE: u64 = 13;
const RLIM_NLIMITS: usize = 16;
const RLIMIT_STACK: usize = 3;
/// Stack reserved for the guest, reported as RLIMIT_STACK.
pub const STACK_SIZE: u64 = 8 << 20;

pub fn signal_name(sig: u64) -> String {
    const NAMES: [&str; 32] = [
        "",
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGSTKFLT",
        "SIGCHLD",
        "SIGCONT",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGIO",
        "SIGPWR",
        "SIGSYS",
    ];
    match NAMES.get(sig as usize) {
        Some(n) if !n.is_empty() => n.to_string(),
        _ => format!("signal {sig}"),
    }
}

pub struct Process {
    pub g: Guest,
    pub vm: Vm,
    /// Host path of the executable, what /proc/self/exe names.
    exe: CString,
    pid: i32,
    /// rt_sigaction records per signal: handler, flags, restorer, mask.
    sigactions: [[u64; 4]; 65],
    sigmask: u64,
    /// Signals sent to itself while blocked, acted on when unblocked.
    pending: u64,
    /// sigaltstack: sp, flags, size.
    altstack: [u64; 3],
    rlimits: [Option<(u64, u64)>; RLIM_NLIMITS],
    comm: [u8; 16],
    /// (kind, number) pairs already reported on stderr.
    reported: HashSet<(&'static str, u64)>,
    /// Set when the guest is finished (exit, or a fatal signal).
    exit: Option<i32>,
}

impl Process {
    pub fn new(g: Guest, vm: Vm, exe: CString) -> Process {
        let mut comm = [0u8; 16];
        let name = exe.as_bytes().rsplit(|&c| c == b'/').next().unwrap_or(b"");
        for (d, s) in comm.iter_mut().take(15).zip(name) {
            *d = *s;
        }
        Process {
            g,
            vm,
            exe,
            // SAFETY: getpid has no preconditions.
            pid: unsafe { libc::getpid() },
            sigactions: [[0; 4]; 65],
            sigmask: 0,
            pending: 0,
            altstack: [0, 2, 0], // SS_DISABLE
            rlimits: [None; RLIM_NLIMITS],
            comm,
            reported: HashSet::new(),
            exit: None,
        }
    }

    /// Reports something unimplemented once per (kind, number).
    fn report(&mut self, kind: &'static str, n: u64) {
        if self.reported.insert((kind, n)) {
            match kind {
                "syscall" => eprintln!("lpar-user: unimplemented syscall {n}"),
                // ioctl request numbers are read in hex.
                "unimplemented ioctl" => eprintln!("lpar-user: {kind} {n:#x}"),
                _ => eprintln!("lpar-user: {kind} {n}"),
            }
        }
    }

    /// Handles the system call the guest just made (`sc` when `vectored` is false, `scv` when
    /// true), writing the result registers.
    pub fn syscall(&mut self, cpu: &mut Cpu, cache: &mut DecodeCache, vectored: bool) -> Flow {
        let nr = cpu.gpr[0];
        let a = [
            cpu.gpr[3], cpu.gpr[4], cpu.gpr[5], cpu.gpr[6], cpu.gpr[7], cpu.gpr[8],
        ];
        let mut r = self.call(cpu, cache, nr, a);
        if r == Err(Errno(libc::EPIPE))
            && matches!(
                nr,
                nr::WRITE | nr::WRITEV | nr::PWRITE64 | nr::PWRITEV | nr::SENDFILE
            )
        {
            // Linux sends SIGPIPE along with EPIPE (the host runner itself ignores SIGPIPE).
            r = self.signal_self(SIGPIPE, cpu.pc).and(r);
        }
        if let Some(code) = self.exit {
            return Flow::Exit(code);
        }
        const SO: u32 = 1 << 28; // CR0[SO]
        match (r, vectored) {
            (Ok(v), false) => {
                cpu.gpr[3] = v;
                cpu.cr &= !SO;
            }
            (Err(Errno(e)), false) => {
                cpu.gpr[3] = e as u64;
                cpu.cr |= SO;
            }
            (Ok(v), true) => cpu.gpr[3] = v,
            (Err(Errno(e)), true) => cpu.gpr[3] = (-(e as i64)) as u64,
        }
        Flow::Continue
    }

    fn path(&self, a: u64) -> Result<CString, Errno> {
        let p = self.g.cstring(a)?;
        if p.as_bytes() == b"/proc/self/exe" {
            return Ok(self.exe.clone());
        }
        Ok(p)
    }

    fn call(&mut self, cpu: &mut Cpu, cache: &mut DecodeCache, nr: u64, a: [u64; 6]) -> SysResult {
        use nr::*;
        let fd = a[0] as i32;
        match nr {
            EXIT | EXIT_GROUP => {
                self.exit = Some((a[0] & 0xff) as i32);
                Ok(0)
            }
            READ => {
                let p = self.g.ptr(a[1], a[2])?;
                // SAFETY: see the module comment.
                host_ret(unsafe { libc::read(fd, p as *mut libc::c_void, a[2] as usize) } as i64)
            }
            WRITE => {
                let p = self.g.ptr(a[1], a[2])?;
                // SAFETY: see the module comment.
                host_ret(unsafe { libc::write(fd, p as *const libc::c_void, a[2] as usize) } as i64)
            }
            PREAD64 => {
                let p = self.g.ptr(a[1], a[2])?;
                // SAFETY: see the module comment.
                host_ret(unsafe {
                    libc::pread(fd, p as *mut libc::c_void, a[2] as usize, a[3] as i64)
                } as i64)
            }
            PWRITE64 => {
                let p = self.g.ptr(a[1], a[2])?;
                // SAFETY: see the module comment.
                host_ret(unsafe {
                    libc::pwrite(fd, p as *const libc::c_void, a[2] as usize, a[3] as i64)
                } as i64)
            }
            READV | WRITEV | PREADV | PWRITEV => self.rw_vec(nr, fd, a[1], a[2], a[3]),
            OPEN => self.openat(AT_FDCWD, a[0], a[1], a[2]),
            CREAT => self.openat(AT_FDCWD, a[0], 0o1101, a[1]), // O_CREAT|O_WRONLY|O_TRUNC
            OPENAT => self.openat(a[0] as i32, a[1], a[2], a[3]),
            // SAFETY: see the module comment.
            CLOSE => host_ret(unsafe { libc::close(fd) } as i64),
            // SAFETY: see the module comment.
            LSEEK => host_ret(unsafe { libc::lseek(fd, a[1] as i64, a[2] as i32) }),
            LLSEEK => {
                // The offset comes in two 32-bit halves; the result goes to a loff_t.
                let off = (a[1] as u32 as u64) << 32 | a[2] as u32 as u64;
                // SAFETY: see the module comment.
                let r = host_ret(unsafe { libc::lseek(fd, off as i64, a[4] as i32) })?;
                self.g.write_u64(a[3], r)?;
                Ok(0)
            }
            FSTAT => self.stat(fd, None, a[1], AT_EMPTY_PATH),
            STAT => self.stat(AT_FDCWD, Some(a[0]), a[1], 0),
            LSTAT => self.stat(AT_FDCWD, Some(a[0]), a[1], libc::AT_SYMLINK_NOFOLLOW as u64),
            NEWFSTATAT => {
                let path = if a[1] == 0 && a[3] & AT_EMPTY_PATH != 0 {
                    None
                } else {
                    Some(a[1])
                };
                self.stat(a[0] as i32, path, a[2], a[3])
            }
            STATX => self.statx(a),
            STATFS | FSTATFS => self.statfs(nr == STATFS, a[0], a[1]),
            // On 64-bit, struct statfs64 is struct statfs; the middle argument is its size.
            STATFS64 | FSTATFS64 if a[1] != STATFS_SIZE as u64 => Err(EINVAL),
            STATFS64 | FSTATFS64 => self.statfs(nr == STATFS64, a[0], a[2]),
            GETDENTS64 => {
                let p = self.g.ptr(a[1], a[2])?;
                // SAFETY: see the module comment.
                let n =
                    host_ret(unsafe { libc::syscall(libc::SYS_getdents64, fd, p, a[2] as usize) })?;
                if !self.g.le {
                    // SAFETY: the host filled n <= a[2] bytes at p, inside the checked range.
                    fs::dirents_to_be(unsafe { std::slice::from_raw_parts_mut(p, n as usize) });
                }
                Ok(n)
            }
            IOCTL => match tty::ioctl(&self.g, fd, a[1] as u32, a[2]) {
                Some(r) => r,
                None => {
                    self.report("unimplemented ioctl", a[1] as u32 as u64);
                    Err(Errno(libc::ENOTTY))
                }
            },
            FCNTL => self.fcntl(fd, a[1] as i32, a[2]),
            // SAFETY: see the module comment.
            DUP => host_ret(unsafe { libc::dup(fd) } as i64),
            // SAFETY: see the module comment.
            DUP2 => host_ret(unsafe { libc::dup2(fd, a[1] as i32) } as i64),
            // SAFETY: see the module comment.
            DUP3 => {
                host_ret(unsafe { libc::dup3(fd, a[1] as i32, fs::oflags_to_host(a[2])) } as i64)
            }
            PIPE | PIPE2 => {
                let flags = if nr == PIPE2 {
                    fs::oflags_to_host(a[1])
                } else {
                    0
                };
                let mut fds = [0 as libc::c_int; 2];
                // SAFETY: see the module comment.
                host_ret(unsafe { libc::pipe2(fds.as_mut_ptr(), flags) } as i64)?;
                let w = self
                    .g
                    .write_u32(a[0], fds[0] as u32)
                    .and_then(|_| self.g.write_u32(a[0].wrapping_add(4), fds[1] as u32));
                if let Err(e) = w {
                    // SAFETY: closing the descriptors just created.
                    unsafe {
                        libc::close(fds[0]);
                        libc::close(fds[1]);
                    }
                    return Err(e);
                }
                Ok(0)
            }
            ACCESS => self.faccessat(AT_FDCWD, a[0], a[1], 0),
            FACCESSAT => self.faccessat(a[0] as i32, a[1], a[2], 0),
            FACCESSAT2 => self.faccessat(a[0] as i32, a[1], a[2], a[3]),
            GETCWD => {
                let p = self.g.ptr(a[0], a[1])?;
                // SAFETY: see the module comment.
                host_ret(unsafe { libc::syscall(libc::SYS_getcwd, p, a[1] as usize) })
            }
            CHDIR => {
                let p = self.path(a[0])?;
                // SAFETY: see the module comment.
                host_ret(unsafe { libc::chdir(p.as_ptr()) } as i64)
            }
            // SAFETY: see the module comment.
            FCHDIR => host_ret(unsafe { libc::fchdir(fd) } as i64),
            READLINK => self.readlinkat(AT_FDCWD, a[0], a[1], a[2]),
            READLINKAT => self.readlinkat(a[0] as i32, a[1], a[2], a[3]),
            // SAFETY (path calls below): host calls given NUL-terminated paths owned by the
            // handler and plain integers; they touch no other memory.
            UNLINK => self.path_op(AT_FDCWD, a[0], |d, p| unsafe { libc::unlinkat(d, p, 0) }),
            RMDIR => self.path_op(AT_FDCWD, a[0], |d, p| unsafe {
                libc::unlinkat(d, p, libc::AT_REMOVEDIR)
            }),
            UNLINKAT => self.path_op(a[0] as i32, a[1], |d, p| unsafe {
                libc::unlinkat(d, p, a[2] as i32)
            }),
            MKDIR => self.path_op(AT_FDCWD, a[0], |d, p| unsafe {
                libc::mkdirat(d, p, a[1] as u32)
            }),
            MKDIRAT => self.path_op(a[0] as i32, a[1], |d, p| unsafe {
                libc::mkdirat(d, p, a[2] as u32)
            }),
            CHMOD => self.path_op(AT_FDCWD, a[0], |d, p| unsafe {
                libc::fchmodat(d, p, a[1] as u32, 0)
            }),
            FCHMODAT => self.path_op(a[0] as i32, a[1], |d, p| unsafe {
                libc::fchmodat(d, p, a[2] as u32, 0)
            }),
            CHOWN => self.path_op(AT_FDCWD, a[0], |d, p| unsafe {
                libc::fchownat(d, p, a[1] as u32, a[2] as u32, 0)
            }),
            LCHOWN => self.path_op(AT_FDCWD, a[0], |d, p| unsafe {
                libc::fchownat(d, p, a[1] as u32, a[2] as u32, libc::AT_SYMLINK_NOFOLLOW)
            }),
            FCHOWNAT => self.path_op(a[0] as i32, a[1], |d, p| unsafe {
                libc::fchownat(d, p, a[2] as u32, a[3] as u32, a[4] as i32)
            }),
            TRUNCATE => self.path_op(AT_FDCWD, a[0], |_, p| unsafe {
                libc::truncate(p, a[1] as i64)
            }),
            // SAFETY: see the module comment.
            FCHMOD => host_ret(unsafe { libc::fchmod(fd, a[1] as u32) } as i64),
            // SAFETY: see the module comment.
            FCHOWN => host_ret(unsafe { libc::fchown(fd, a[1] as u32, a[2] as u32) } as i64),
            // SAFETY: see the module comment.
            FTRUNCATE => host_ret(unsafe { libc::ftruncate(fd, a[1] as i64) } as i64),
            // SAFETY: see the module comment.
            FSYNC => host_ret(unsafe { libc::fsync(fd) } as i64),
            // SAFETY: see the module comment.
            FDATASYNC => host_ret(unsafe { libc::fdatasync(fd) } as i64),
            // SAFETY: see the module comment.
            FLOCK => host_ret(unsafe { libc::flock(fd, a[1] as i32) } as i64),
            // SAFETY: see the module comment.
            FALLOCATE => {
                host_ret(
                    unsafe { libc::fallocate(fd, a[1] as i32, a[2] as i64, a[3] as i64) } as i64,
                )
            }
            SYNC => {
                // SAFETY: no arguments.
                unsafe { libc::sync() };
                Ok(0)
            }
            // SAFETY (path calls below): as above.
            RENAME => self.two_paths(AT_FDCWD, a[0], AT_FDCWD, a[1], |d1, p1, d2, p2| unsafe {
                libc::renameat(d1, p1, d2, p2)
            }),
            RENAMEAT => self.two_paths(
                a[0] as i32,
                a[1],
                a[2] as i32,
                a[3],
                |d1, p1, d2, p2| unsafe { libc::renameat(d1, p1, d2, p2) },
            ),
            RENAMEAT2 => self.two_paths(
                a[0] as i32,
                a[1],
                a[2] as i32,
                a[3],
                |d1, p1, d2, p2| unsafe {
                    libc::syscall(libc::SYS_renameat2, d1, p1, d2, p2, a[4] as u32) as i32
                },
            ),
            LINK => self.two_paths(AT_FDCWD, a[0], AT_FDCWD, a[1], |d1, p1, d2, p2| unsafe {
                libc::linkat(d1, p1, d2, p2, 0)
            }),
            LINKAT => self.two_paths(
                a[0] as i32,
                a[1],
                a[2] as i32,
                a[3],
                |d1, p1, d2, p2| unsafe { libc::linkat(d1, p1, d2, p2, a[4] as i32) },
            ),
            SYMLINK => self.two_paths(AT_FDCWD, a[0], AT_FDCWD, a[1], |_, p1, d2, p2| unsafe {
                libc::symlinkat(p1, d2, p2)
            }),
            SYMLINKAT => {
                self.two_paths(AT_FDCWD, a[0], a[1] as i32, a[2], |_, p1, d2, p2| unsafe {
                    libc::symlinkat(p1, d2, p2)
                })
            }
            UTIMENSAT => self.utimensat(a),
            SENDFILE => self.sendfile(a),
            COPY_FILE_RANGE => self.copy_file_range(a),
            // SAFETY: see the module comment.
            CLOSE_RANGE => host_ret(unsafe {
                libc::syscall(libc::SYS_close_range, a[0] as u32, a[1] as u32, a[2] as u32)
            }),
            POLL => self.poll(a[0], a[1], a[2] as i32),
            // SAFETY: umask cannot fail.
            UMASK => Ok(unsafe { libc::umask(a[0] as u32 & 0o777) } as u64),
            READAHEAD | FADVISE64 | MADVISE | MSYNC => Ok(0),

            BRK => Ok(self.vm.brk(&self.g.mem, cache, a[0])),
            MMAP => self.vm.mmap(
                &self.g.mem,
                cache,
                a[0],
                a[1],
                a[2],
                a[3],
                a[4] as i32,
                a[5],
            ),
            MUNMAP => self.vm.munmap(&self.g.mem, cache, a[0], a[1]),
            MREMAP => self
                .vm
                .mremap(&self.g.mem, cache, a[0], a[1], a[2], a[3], a[4]),
            MPROTECT => self.vm.mprotect(cache, a[0], a[1]),

            GETPID | GETTID | SET_TID_ADDRESS => Ok(self.pid as u64),
            // SAFETY (ids): these calls have no preconditions and cannot fail.
            GETPPID => Ok(unsafe { libc::getppid() } as u64),
            GETUID => Ok(unsafe { libc::getuid() } as u64),
            GETEUID => Ok(unsafe { libc::geteuid() } as u64),
            GETGID => Ok(unsafe { libc::getgid() } as u64),
            GETEGID => Ok(unsafe { libc::getegid() } as u64),
            GETPGRP => Ok(unsafe { libc::getpgrp() } as u64),
            GETPGID => host_ret(unsafe { libc::getpgid(a[0] as i32) } as i64),
            GETSID => host_ret(unsafe { libc::getsid(a[0] as i32) } as i64),
            GETRESUID | GETRESGID => {
                let ids = if nr == GETRESUID {
                    unsafe { [libc::getuid(), libc::geteuid(), libc::getuid()] }
                } else {
                    unsafe { [libc::getgid(), libc::getegid(), libc::getgid()] }
                };
                for (i, id) in ids.iter().enumerate() {
                    self.g.write_u32(a[i], *id)?;
                }
                Ok(0)
            }
            GETGROUPS => {
                let mut v = [0 as libc::gid_t; 256];
                let n = (a[0] as i32).clamp(0, 256);
                // SAFETY: v holds 256 entries and n <= 256.
                let r = host_ret(unsafe { libc::getgroups(n, v.as_mut_ptr()) } as i64)?;
                if n > 0 {
                    for (i, gid) in v.iter().take(r as usize).enumerate() {
                        self.g.write_u32(a[1].wrapping_add(4 * i as u64), *gid)?;
                    }
                }
                Ok(r)
            }
            UNAME => self.uname(a[0]),
            // SAFETY (struct calls below): the host writes the structure at the checked pointer.
            SYSINFO => self.raw_struct(a[0], 112, &SYSINFO_FIELDS, |p| unsafe {
                libc::syscall(libc::SYS_sysinfo, p)
            }),
            TIMES => self.raw_struct(a[0], 32, &[(0, 8), (8, 8), (16, 8), (24, 8)], |p| unsafe {
                libc::syscall(libc::SYS_times, p)
            }),
            GETRUSAGE => {
                let fields: Vec<(usize, usize)> = (0..18).map(|i| (8 * i, 8)).collect();
                self.raw_struct(a[1], 144, &fields, |p| unsafe {
                    libc::syscall(libc::SYS_getrusage, a[0] as i32, p)
                })
            }
            WAIT4 => Err(Errno(libc::ECHILD)),
            PRLIMIT64 => self.prlimit(a[0] as i32, a[1], a[2], a[3]),
            UGETRLIMIT => self.prlimit(0, a[0], 0, a[1]),
            SETRLIMIT => self.prlimit(0, a[0], a[1], 0),
            SCHED_GETAFFINITY => {
                if a[1] < 8 || !a[1].is_multiple_of(8) {
                    return Err(EINVAL);
                }
                // One CPU: the interpreter runs the guest on one thread.
                self.g.write_u64(a[2], 1)?;
                Ok(8)
            }
            SCHED_YIELD => Ok(0),
            GETCPU => {
                if a[0] != 0 {
                    self.g.write_u32(a[0], 0)?;
                }
                if a[1] != 0 {
                    self.g.write_u32(a[1], 0)?;
                }
                Ok(0)
            }
            PRCTL => self.prctl(a),

            TIME => {
                let t = now(libc::CLOCK_REALTIME)?;
                if a[0] != 0 {
                    self.g.write_u64(a[0], t.tv_sec as u64)?;
                }
                Ok(t.tv_sec as u64)
            }
            GETTIMEOFDAY => {
                if a[0] != 0 {
                    let t = now(libc::CLOCK_REALTIME)?;
                    self.write_pair(a[0], t.tv_sec as u64, (t.tv_nsec / 1000) as u64)?;
                }
                if a[1] != 0 {
                    self.g.write_u64(a[1], 0)?;
                }
                Ok(0)
            }
            CLOCK_GETTIME => {
                let t = now(a[0] as i32)?;
                self.write_pair(a[1], t.tv_sec as u64, t.tv_nsec as u64)?;
                Ok(0)
            }
            CLOCK_GETRES => {
                let mut t = libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                };
                // SAFETY: writes only the local timespec.
                host_ret(unsafe { libc::clock_getres(a[0] as i32, &mut t) } as i64)?;
                if a[1] != 0 {
                    self.write_pair(a[1], t.tv_sec as u64, t.tv_nsec as u64)?;
                }
                Ok(0)
            }
            NANOSLEEP => self.sleep(libc::CLOCK_MONOTONIC, 0, a[0], a[1]),
            CLOCK_NANOSLEEP => self.sleep(a[0] as i32, a[1] as i32, a[2], a[3]),
            GETRANDOM => {
                let p = self.g.ptr(a[0], a[1])?;
                // SAFETY: see the module comment.
                host_ret(unsafe {
                    libc::getrandom(p as *mut libc::c_void, a[1] as usize, a[2] as u32)
                } as i64)
            }

            RT_SIGACTION => self.sigaction(a[0], a[1], a[2], a[3]),
            RT_SIGPROCMASK => {
                if a[3] != 8 {
                    return Err(EINVAL);
                }
                let old = self.sigmask;
                if a[1] != 0 {
                    let set = self.g.read_u64(a[1])?;
                    let new = match a[0] {
                        0 => old | set,
                        1 => old & !set,
                        2 => set,
                        _ => return Err(EINVAL),
                    };
                    // SIGKILL and SIGSTOP cannot be blocked.
                    self.sigmask = new & !(1 << (SIGKILL - 1) | 1 << (SIGSTOP - 1));
                }
                if a[2] != 0 {
                    self.g.write_u64(a[2], old)?;
                }
                // Signals unblocked now take effect, as on the return to user mode.
                let ready = self.pending & !self.sigmask;
                for sig in 1..=64u64 {
                    if ready & 1 << (sig - 1) != 0 && self.exit.is_none() {
                        self.pending &= !(1 << (sig - 1));
                        self.act(sig, cpu.pc);
                    }
                }
                Ok(0)
            }
            RT_SIGPENDING => {
                self.g.write_u64(a[0], self.pending & self.sigmask)?;
                Ok(0)
            }
            SIGALTSTACK => {
                let old = self.altstack;
                if a[0] != 0 {
                    let sp = self.g.read_u64(a[0])?;
                    let flags = self.g.read_u32(a[0].wrapping_add(8))? as u64;
                    let size = self.g.read_u64(a[0].wrapping_add(16))?;
                    self.altstack = [sp, flags, size];
                }
                if a[1] != 0 {
                    let mut b = [0u8; 24];
                    let mut o = Out {
                        buf: &mut b,
                        le: self.g.le,
                    };
                    o.u64(0, old[0]);
                    o.u32(8, old[1] as u32);
                    o.u64(16, old[2]);
                    self.g.write(a[1], &b)?;
                }
                Ok(0)
            }
            KILL => {
                let pid = a[0] as i32;
                if pid == self.pid || pid == 0 {
                    self.signal_self(a[1], cpu.pc)
                } else if pid > 0 {
                    // SAFETY: see the module comment.
                    host_ret(unsafe { libc::kill(pid, a[1] as i32) } as i64)
                } else {
                    // Process groups and "everyone" reach far beyond the guest: refused.
                    Err(Errno(libc::EPERM))
                }
            }
            TKILL => self.tkill(a[0] as i32, a[1], cpu.pc),
            TGKILL => {
                if a[0] as i32 != self.pid {
                    return Err(Errno(libc::ESRCH));
                }
                self.tkill(a[1] as i32, a[2], cpu.pc)
            }
            FUTEX => self.futex(a),
            SET_ROBUST_LIST => {
                if a[1] != 24 {
                    return Err(EINVAL);
                }
                Ok(0)
            }
            // glibc registers rseq at startup and copes with ENOSYS; not worth a report.
            RSEQ => Err(ENOSYS),
            FORK | VFORK | CLONE => {
                self.report("syscall", nr);
                Err(ENOSYS)
            }
            _ => {
                self.report("syscall", nr);
                Err(ENOSYS)
            }
        }
    }

    fn write_pair(&self, addr: u64, a: u64, b: u64) -> Result<(), Errno> {
        let mut buf = [0u8; 16];
        buf[..8].copy_from_slice(&self.g.enc64(a));
        buf[8..].copy_from_slice(&self.g.enc64(b));
        self.g.write(addr, &buf)
    }

    fn read_timespec(&self, addr: u64) -> Result<libc::timespec, Errno> {
        Ok(libc::timespec {
            tv_sec: self.g.read_u64(addr)? as i64,
            tv_nsec: self.g.read_u64(addr.wrapping_add(8))? as i64,
        })
    }

    fn openat(&mut self, dirfd: i32, path: u64, flags: u64, mode: u64) -> SysResult {
        let p = self.path(path)?;
        // SAFETY: see the module comment.
        host_ret(unsafe {
            libc::openat(
                dirfd,
                p.as_ptr(),
                fs::oflags_to_host(flags),
                mode as libc::c_uint,
            )
        } as i64)
    }

    /// A call taking (dirfd, path) and returning 0 or -1.
    fn path_op(
        &self,
        dirfd: i32,
        path: u64,
        f: impl FnOnce(i32, *const libc::c_char) -> i32,
    ) -> SysResult {
        let p = self.path(path)?;
        host_ret(f(dirfd, p.as_ptr()) as i64)
    }

    fn two_paths(
        &self,
        d1: i32,
        p1: u64,
        d2: i32,
        p2: u64,
        f: impl FnOnce(i32, *const libc::c_char, i32, *const libc::c_char) -> i32,
    ) -> SysResult {
        let (p1, p2) = (self.path(p1)?, self.path(p2)?);
        host_ret(f(d1, p1.as_ptr(), d2, p2.as_ptr()) as i64)
    }

    fn faccessat(&self, dirfd: i32, path: u64, mode: u64, flags: u64) -> SysResult {
        let p = self.path(path)?;
        // SAFETY: see the module comment.
        host_ret(unsafe {
            libc::syscall(
                libc::SYS_faccessat2,
                dirfd,
                p.as_ptr(),
                mode as i32,
                flags as i32,
            )
        })
    }

    fn stat(&self, dirfd: i32, path: Option<u64>, buf: u64, flags: u64) -> SysResult {
        let p = match path {
            Some(a) => self.path(a)?,
            None => CString::default(),
        };
        // SAFETY: libc::stat is plain data.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: see the module comment.
        host_ret(unsafe { libc::fstatat(dirfd, p.as_ptr(), &mut st, flags as i32) } as i64)?;
        self.g.write(buf, &fs::stat_to_guest(&st, self.g.le))?;
        Ok(0)
    }

    fn statx(&self, a: [u64; 6]) -> SysResult {
        let path = if a[1] == 0 && a[2] & AT_EMPTY_PATH != 0 {
            CString::default()
        } else {
            self.path(a[1])?
        };
        let p = self.g.ptr(a[4], STATX_SIZE as u64)?;
        // SAFETY: see the module comment; statx writes at most STATX_SIZE bytes.
        let r = unsafe {
            libc::syscall(
                libc::SYS_statx,
                a[0] as i32,
                path.as_ptr(),
                a[2] as i32,
                a[3] as u32,
                p,
            )
        };
        host_ret(r)?;
        if !self.g.le {
            // SAFETY: p is valid for STATX_SIZE bytes (checked above).
            swap_fields(
                unsafe { std::slice::from_raw_parts_mut(p, STATX_SIZE) },
                &STATX_FIELDS,
            );
        }
        Ok(0)
    }

    fn statfs(&self, by_path: bool, target: u64, buf: u64) -> SysResult {
        let path = if by_path {
            Some(self.path(target)?)
        } else {
            None
        };
        self.raw_struct(buf, STATFS_SIZE, &STATFS_FIELDS, |p| match &path {
            // SAFETY: see the module comment.
            Some(path) => unsafe { libc::syscall(libc::SYS_statfs, path.as_ptr(), p) },
            // SAFETY: see the module comment.
            None => unsafe { libc::syscall(libc::SYS_fstatfs, target as i32, p) },
        })
    }

    /// A host call that fills a structure whose layout is the same on the (little-endian, 64-bit)
    /// host and the guest: it writes straight into guest memory, then the fields are byte-swapped
    /// for a big-endian guest.
    fn raw_struct(
        &self,
        addr: u64,
        size: usize,
        fields: &[(usize, usize)],
        f: impl FnOnce(*mut u8) -> i64,
    ) -> SysResult {
        let p = self.g.ptr(addr, size as u64)?;
        let r = host_ret(f(p))?;
        if !self.g.le {
            // SAFETY: p is valid for size bytes.
            swap_fields(unsafe { std::slice::from_raw_parts_mut(p, size) }, fields);
        }
        Ok(r)
    }

    fn readlinkat(&self, dirfd: i32, path: u64, buf: u64, size: u64) -> SysResult {
        if size as i64 <= 0 {
            return Err(EINVAL);
        }
        let raw = self.g.cstring(path)?;
        let pid_exe = format!("/proc/{}/exe", self.pid);
        if raw.as_bytes() == b"/proc/self/exe" || raw.as_bytes() == pid_exe.as_bytes() {
            let t = self.exe.as_bytes();
            let n = t.len().min(size as usize);
            self.g.write(buf, &t[..n])?;
            return Ok(n as u64);
        }
        let p = self.g.ptr(buf, size)?;
        // SAFETY: see the module comment.
        host_ret(unsafe {
            libc::readlinkat(dirfd, raw.as_ptr(), p as *mut libc::c_char, size as usize)
        } as i64)
    }

    fn rw_vec(&self, nr: u64, fd: i32, iov: u64, cnt: u64, off: u64) -> SysResult {
        const IOV_MAX: usize = 1024;
        if cnt > IOV_MAX as u64 {
            return Err(EINVAL);
        }
        let mut v = [libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        }; IOV_MAX];
        for (i, e) in v.iter_mut().enumerate().take(cnt as usize) {
            let at = iov.checked_add(16 * i as u64).ok_or(EFAULT)?;
            let base = self.g.read_u64(at)?;
            let len = self.g.read_u64(at + 8)?;
            if len > isize::MAX as u64 {
                return Err(EINVAL);
            }
            *e = libc::iovec {
                iov_base: self.g.ptr(base, len)? as *mut libc::c_void,
                iov_len: len as usize,
            };
        }
        let (v, n) = (v.as_ptr(), cnt as i32);
        // SAFETY: see the module comment; v holds cnt initialised entries.
        let r = unsafe {
            match nr {
                nr::READV => libc::readv(fd, v, n),
                nr::WRITEV => libc::writev(fd, v, n),
                nr::PREADV => libc::preadv(fd, v, n, off as i64),
                _ => libc::pwritev(fd, v, n, off as i64),
            }
        };
        host_ret(r as i64)
    }

    fn fcntl(&mut self, fd: i32, cmd: i32, arg: u64) -> SysResult {
        const F_DUPFD: i32 = 0;
        const F_GETFD: i32 = 1;
        const F_SETFD: i32 = 2;
        const F_GETFL: i32 = 3;
        const F_SETFL: i32 = 4;
        const F_GETLK: i32 = 5;
        const F_SETLK: i32 = 6;
        const F_SETLKW: i32 = 7;
        const F_OFD_GETLK: i32 = 36;
        const F_OFD_SETLKW: i32 = 38;
        const F_DUPFD_CLOEXEC: i32 = 1030;
        const F_SETPIPE_SZ: i32 = 1031;
        const F_GETPIPE_SZ: i32 = 1032;
        // SAFETY (this function): see the module comment.
        match cmd {
            F_DUPFD | F_DUPFD_CLOEXEC | F_GETFD | F_SETFD | F_SETPIPE_SZ | F_GETPIPE_SZ => {
                host_ret(unsafe { libc::fcntl(fd, cmd, arg as i32) } as i64)
            }
            F_GETFL => {
                let r = host_ret(unsafe { libc::fcntl(fd, F_GETFL) } as i64)?;
                Ok(fs::oflags_to_guest(r as i32))
            }
            F_SETFL => {
                host_ret(unsafe { libc::fcntl(fd, F_SETFL, fs::oflags_to_host(arg)) } as i64)
            }
            F_GETLK | F_SETLK | F_SETLKW | F_OFD_GETLK..=F_OFD_SETLKW => {
                // struct flock on ppc64: short type, short whence, off_t start, off_t len, pid_t pid.
                let mut b = [0u8; 32];
                self.g.read(arg, &mut b)?;
                let h16 = |o: usize| {
                    let v = [b[o], b[o + 1]];
                    if self.g.le {
                        i16::from_le_bytes(v)
                    } else {
                        i16::from_be_bytes(v)
                    }
                };
                // SAFETY: plain data.
                let mut fl: libc::flock = unsafe { std::mem::zeroed() };
                fl.l_type = h16(0);
                fl.l_whence = h16(2);
                fl.l_start = self.g.read_u64(arg + 8)? as i64;
                fl.l_len = self.g.read_u64(arg + 16)? as i64;
                fl.l_pid = self.g.read_u32(arg + 24)? as i32;
                host_ret(unsafe { libc::fcntl(fd, cmd, &mut fl) } as i64)?;
                let mut o = Out {
                    buf: &mut b,
                    le: self.g.le,
                };
                o.u16(0, fl.l_type as u16);
                o.u16(2, fl.l_whence as u16);
                o.u64(8, fl.l_start as u64);
                o.u64(16, fl.l_len as u64);
                o.u32(24, fl.l_pid as u32);
                self.g.write(arg, &b)?;
                Ok(0)
            }
            _ => {
                self.report("unimplemented fcntl command", cmd as u64);
                Err(EINVAL)
            }
        }
    }

    fn utimensat(&self, a: [u64; 6]) -> SysResult {
        let path = if a[1] == 0 {
            None
        } else {
            Some(self.path(a[1])?)
        };
        let mut ts = [libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        }; 2];
        let tp = if a[2] == 0 {
            std::ptr::null()
        } else {
            ts[0] = self.read_timespec(a[2])?;
            ts[1] = self.read_timespec(a[2].wrapping_add(16))?;
            ts.as_ptr()
        };
        let pp = path.as_ref().map_or(std::ptr::null(), |p| p.as_ptr());
        // SAFETY: see the module comment. A null path is the futimens form.
        host_ret(unsafe { libc::syscall(libc::SYS_utimensat, a[0] as i32, pp, tp, a[3] as i32) })
    }

    fn sendfile(&self, a: [u64; 6]) -> SysResult {
        let mut off: i64 = 0;
        let offp = if a[2] != 0 {
            off = self.g.read_u64(a[2])? as i64;
            &mut off as *mut i64
        } else {
            std::ptr::null_mut()
        };
        // SAFETY: see the module comment.
        let r = host_ret(
            unsafe { libc::sendfile(a[0] as i32, a[1] as i32, offp, a[3] as usize) } as i64,
        );
        if a[2] != 0 {
            self.g.write_u64(a[2], off as u64)?;
        }
        r
    }

    fn copy_file_range(&self, a: [u64; 6]) -> SysResult {
        let mut offs = [0i64; 2];
        let mut ptrs = [std::ptr::null_mut::<i64>(); 2];
        for (i, at) in [a[1], a[3]].into_iter().enumerate() {
            if at != 0 {
                offs[i] = self.g.read_u64(at)? as i64;
                ptrs[i] = &mut offs[i];
            }
        }
        // SAFETY: see the module comment.
        let r = host_ret(unsafe {
            libc::syscall(
                libc::SYS_copy_file_range,
                a[0] as i32,
                ptrs[0],
                a[2] as i32,
                ptrs[1],
                a[4] as usize,
                a[5] as u32,
            )
        });
        for (i, at) in [a[1], a[3]].into_iter().enumerate() {
            if at != 0 {
                self.g.write_u64(at, offs[i] as u64)?;
            }
        }
        r
    }

    fn poll(&self, fds: u64, n: u64, timeout: i32) -> SysResult {
        if n > 4096 {
            return Err(EINVAL);
        }
        let mut v = Vec::with_capacity(n as usize);
        for i in 0..n {
            let at = fds.checked_add(8 * i).ok_or(EFAULT)?;
            let fd = self.g.read_u32(at)? as i32;
            let mut b = [0u8; 2];
            self.g.read(at + 4, &mut b)?;
            let events = if self.g.le {
                i16::from_le_bytes(b)
            } else {
                i16::from_be_bytes(b)
            };
            v.push(libc::pollfd {
                fd,
                events,
                revents: 0,
            });
        }
        // SAFETY: v holds n pollfds.
        let r = host_ret(unsafe { libc::poll(v.as_mut_ptr(), n as libc::nfds_t, timeout) } as i64)?;
        for (i, p) in v.iter().enumerate() {
            let b = if self.g.le {
                p.revents.to_le_bytes()
            } else {
                p.revents.to_be_bytes()
            };
            self.g.write(fds + 8 * i as u64 + 6, &b)?;
        }
        Ok(r)
    }

    fn uname(&self, buf: u64) -> SysResult {
        // SAFETY: plain data; uname writes only the local struct.
        let mut u: libc::utsname = unsafe { std::mem::zeroed() };
        unsafe { libc::uname(&mut u) };
        let mut b = [0u8; 6 * 65];
        let node: Vec<u8> = u
            .nodename
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        let machine: &[u8] = if self.g.le { b"ppc64le" } else { b"ppc64" };
        let fields: [&[u8]; 6] = [
            b"Linux",
            &node,
            b"6.1.0",
            b"#1 SMP lpar-user",
            machine,
            b"(none)",
        ];
        for (i, f) in fields.iter().enumerate() {
            let n = f.len().min(64);
            b[65 * i..65 * i + n].copy_from_slice(&f[..n]);
        }
        self.g.write(buf, &b)?;
        Ok(0)
    }

    fn prlimit(&mut self, pid: i32, res: u64, new: u64, old: u64) -> SysResult {
        if pid != 0 && pid != self.pid {
            return Err(Errno(libc::EPERM));
        }
        let r = res as usize;
        if r >= RLIM_NLIMITS {
            return Err(EINVAL);
        }
        let cur = match self.rlimits[r] {
            Some(v) => v,
            None if r == RLIMIT_STACK => (STACK_SIZE, u64::MAX),
            None => {
                let mut l = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                // SAFETY: writes only the local rlimit.
                host_ret(unsafe { libc::getrlimit(r as _, &mut l) } as i64)?;
                (l.rlim_cur, l.rlim_max)
            }
        };
        if new != 0 {
            let (c, m) = (self.g.read_u64(new)?, self.g.read_u64(new.wrapping_add(8))?);
            if c > m {
                return Err(EINVAL);
            }
            // Recorded for the guest only: the host's limits are the runner's own.
            self.rlimits[r] = Some((c, m));
        }
        if old != 0 {
            self.write_pair(old, cur.0, cur.1)?;
        }
        Ok(0)
    }

    fn prctl(&mut self, a: [u64; 6]) -> SysResult {
        const PR_SET_NAME: u64 = 15;
        const PR_GET_NAME: u64 = 16;
        match a[0] {
            PR_SET_NAME => {
                let mut b = [0u8; 16];
                for (i, d) in b.iter_mut().take(15).enumerate() {
                    let mut c = [0u8];
                    self.g.read(a[1].wrapping_add(i as u64), &mut c)?;
                    if c[0] == 0 {
                        break;
                    }
                    *d = c[0];
                }
                self.comm = b;
                Ok(0)
            }
            PR_GET_NAME => {
                self.g.write(a[1], &self.comm)?;
                Ok(0)
            }
            n => {
                self.report("unimplemented prctl option", n);
                Err(EINVAL)
            }
        }
    }

    fn sleep(&self, clock: i32, flags: i32, req: u64, rem: u64) -> SysResult {
        let t = self.read_timespec(req)?;
        let mut left = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: reads the local t, writes the local left.
        let e = unsafe { libc::clock_nanosleep(clock, flags, &t, &mut left) };
        if e != 0 {
            if e == libc::EINTR && rem != 0 && flags & libc::TIMER_ABSTIME == 0 {
                self.write_pair(rem, left.tv_sec as u64, left.tv_nsec as u64)?;
            }
            return Err(Errno(e));
        }
        Ok(0)
    }

    fn sigaction(&mut self, sig: u64, act: u64, oact: u64, size: u64) -> SysResult {
        if size != 8 || sig == 0 || sig > 64 {
            return Err(EINVAL);
        }
        if act != 0 && (sig == SIGKILL || sig == SIGSTOP) {
            return Err(EINVAL);
        }
        let old = self.sigactions[sig as usize];
        if act != 0 {
            let mut new = [0u64; 4];
            for (i, w) in new.iter_mut().enumerate() {
                *w = self.g.read_u64(act.wrapping_add(8 * i as u64))?;
            }
            self.sigactions[sig as usize] = new;
            if self.ignored(sig) {
                self.pending &= !(1 << (sig - 1));
            }
        }
        if oact != 0 {
            let b: Vec<u8> = old.iter().flat_map(|&w| self.g.enc64(w)).collect();
            self.g.write(oact, &b)?;
        }
        Ok(0)
    }

    fn tkill(&mut self, tid: i32, sig: u64, pc: u64) -> SysResult {
        if tid != self.pid {
            return Err(Errno(libc::ESRCH));
        }
        self.signal_self(sig, pc)
    }

    /// A signal the guest sends itself: its default action, or nothing (see the module comment).
    fn signal_self(&mut self, sig: u64, pc: u64) -> SysResult {
        if sig == 0 {
            return Ok(0);
        }
        if sig > 64 {
            return Err(EINVAL);
        }
        if self.sigmask & 1 << (sig - 1) != 0 {
            self.pending |= 1 << (sig - 1);
        } else {
            self.act(sig, pc);
        }
        Ok(0)
    }

    /// Whether a signal's current disposition discards it.
    fn ignored(&self, sig: u64) -> bool {
        match self.sigactions[sig as usize][0] {
            SIG_IGN => true,
            // SIGCHLD, SIGCONT, SIGURG, SIGWINCH are ignored by default.
            SIG_DFL => matches!(sig, 17 | 18 | 23 | 28),
            _ => false,
        }
    }

    /// Takes the action of an unblocked signal.
    fn act(&mut self, sig: u64, pc: u64) {
        if self.ignored(sig) {
            return;
        }
        match self.sigactions[sig as usize][0] {
            SIG_DFL if (19..=22).contains(&sig) => {
                self.report("stop signal ignored (job control not emulated):", sig);
            }
            SIG_DFL => {
                // Like a shell, say nothing about a death by SIGPIPE (`prog | head`).
                if sig != SIGPIPE {
                    eprintln!(
                        "lpar-user: guest killed by {} at pc {pc:#x}",
                        signal_name(sig)
                    );
                }
                self.exit = Some(128 + sig as i32);
            }
            _ => self.report(
                "signal handler not run (signals are not delivered), signal",
                sig,
            ),
        }
    }

    fn futex(&mut self, a: [u64; 6]) -> SysResult {
        const WAIT: u64 = 0;
        const WAKE: u64 = 1;
        const REQUEUE: u64 = 3;
        const CMP_REQUEUE: u64 = 4;
        const WAKE_OP: u64 = 5;
        const WAIT_BITSET: u64 = 9;
        const WAKE_BITSET: u64 = 10;
        const CLOCK_REALTIME: u64 = 256;
        let op = a[1] & 0x7f;
        match op {
            WAIT | WAIT_BITSET => {
                if self.g.read_u32(a[0])? != a[2] as u32 {
                    return Err(Errno(libc::EAGAIN));
                }
                if a[3] == 0 {
                    // One thread: nobody can ever wake it. Linux would hang; stop instead.
                    eprintln!(
                        "lpar-user: guest deadlocked (futex wait at {:#x} with no other thread)",
                        a[0]
                    );
                    self.exit = Some(128 + SIGKILL as i32);
                    return Ok(0);
                }
                let t = self.read_timespec(a[3])?;
                let (clock, flags) = match (op, a[1] & CLOCK_REALTIME != 0) {
                    (WAIT, _) => (libc::CLOCK_MONOTONIC, 0),
                    (_, true) => (libc::CLOCK_REALTIME, libc::TIMER_ABSTIME),
                    (_, false) => (libc::CLOCK_MONOTONIC, libc::TIMER_ABSTIME),
                };
                // SAFETY: reads the local timespec.
                unsafe { libc::clock_nanosleep(clock, flags, &t, std::ptr::null_mut()) };
                Err(Errno(libc::ETIMEDOUT))
            }
            WAKE | WAKE_BITSET | WAKE_OP | REQUEUE | CMP_REQUEUE => Ok(0),
            _ => {
                self.report("unimplemented futex op", op);
                Err(ENOSYS)
            }
        }
    }
}

/// struct sysinfo (64-bit): long uptime, 3 loads, 6 memory counts, u16 procs, 2 high counts,
/// u32 mem_unit.
const SYSINFO_FIELDS: [(usize, usize); 14] = [
    (0, 8),
    (8, 8),
    (16, 8),
    (24, 8),
    (32, 8),
    (40, 8),
    (48, 8),
    (56, 8),
    (64, 8),
    (72, 8),
    (80, 2),
    (88, 8),
    (96, 8),
    (104, 4),
];

fn now(clock: i32) -> Result<libc::timespec, Errno> {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: writes only the local timespec.
    if unsafe { libc::clock_gettime(clock, &mut t) } < 0 {
        return Err(host_errno());
    }
    Ok(t)
}

/// The executable's host path as /proc/self/exe reports it.
pub fn exe_path(path: &str) -> CString {
    let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.into());
    CString::new(abs.into_os_string().into_encoded_bytes()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ppc::{CpuModel, GuestMemory};
    use std::sync::Arc;

    const SIZE: u64 = 0x100_0000;
    const BUF: u64 = 0x10_0000;

    fn setup(le: bool) -> (Process, Cpu, DecodeCache) {
        let mem = Arc::new(GuestMemory::new(SIZE).unwrap());
        let g = Guest {
            mem: mem.clone(),
            le,
        };
        let mut vm = Vm::new(SIZE, SIZE - 0x10_0000);
        vm.set_brk_start(0x20_0000);
        let p = Process::new(g, vm, CString::new("/opt/guest/prog").unwrap());
        (p, Cpu::new(CpuModel::Power9, mem), DecodeCache::default())
    }

    /// Makes system call `nr` with `sc`; returns (r3, CR0[SO]).
    fn sys(
        p: &mut Process,
        cpu: &mut Cpu,
        c: &mut DecodeCache,
        nr: u64,
        args: &[u64],
    ) -> (u64, bool) {
        cpu.gpr[0] = nr;
        for (i, a) in args.iter().enumerate() {
            cpu.gpr[3 + i] = *a;
        }
        assert_eq!(p.syscall(cpu, c, false), Flow::Continue);
        (cpu.gpr[3], cpu.cr & 1 << 28 != 0)
    }

    fn cstr(p: &Process, at: u64, s: &str) -> u64 {
        p.g.write(at, s.as_bytes()).unwrap();
        p.g.write(at + s.len() as u64, &[0]).unwrap();
        at
    }

    fn temp(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("lpar-user-sys-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn result_conventions_of_sc_and_scv() {
        let (mut p, mut cpu, mut c) = setup(true);
        cpu.cr = 1 << 28;
        // Success clears CR0[SO]; an error sets it with the positive errno in r3.
        assert_eq!(
            sys(&mut p, &mut cpu, &mut c, nr::GETPID, &[]),
            (p.pid as u64, false)
        );
        assert_eq!(
            sys(&mut p, &mut cpu, &mut c, nr::WRITE, &[1, SIZE - 2, 5]),
            (14, true)
        );
        // scv: -errno in r3, CR untouched.
        cpu.cr = 0;
        cpu.gpr[0] = nr::WRITE;
        cpu.gpr[3] = 1;
        cpu.gpr[4] = SIZE - 2;
        cpu.gpr[5] = 5;
        assert_eq!(p.syscall(&mut cpu, &mut c, true), Flow::Continue);
        assert_eq!((cpu.gpr[3] as i64, cpu.cr), (-14, 0));
        // Unknown: ENOSYS.
        assert_eq!(sys(&mut p, &mut cpu, &mut c, 9999, &[]), (38, true));
    }

    #[test]
    fn write_and_writev_reach_the_host_fd() {
        let (mut p, mut cpu, mut c) = setup(false);
        let mut fds = [0; 2];
        // SAFETY: test-local pipe.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        p.g.write(BUF, b"hello world").unwrap();
        assert_eq!(
            sys(
                &mut p,
                &mut cpu,
                &mut c,
                nr::WRITE,
                &[fds[1] as u64, BUF, 5]
            ),
            (5, false)
        );
        // Two iovecs, big-endian {base, len} pairs.
        p.g.write_u64(BUF + 0x100, BUF + 5).unwrap();
        p.g.write_u64(BUF + 0x108, 6).unwrap();
        p.g.write_u64(BUF + 0x110, BUF).unwrap();
        p.g.write_u64(BUF + 0x118, 1).unwrap();
        assert_eq!(
            sys(
                &mut p,
                &mut cpu,
                &mut c,
                nr::WRITEV,
                &[fds[1] as u64, BUF + 0x100, 2]
            ),
            (7, false)
        );
        // A bad iovec base is EFAULT.
        p.g.write_u64(BUF + 0x110, SIZE).unwrap();
        assert_eq!(
            sys(
                &mut p,
                &mut cpu,
                &mut c,
                nr::WRITEV,
                &[fds[1] as u64, BUF + 0x100, 2]
            ),
            (14, true)
        );
        let mut out = [0u8; 12];
        // SAFETY: test-local buffer.
        let n = unsafe { libc::read(fds[0], out.as_mut_ptr() as *mut libc::c_void, 12) };
        assert_eq!(&out[..n as usize], b"hello worldh");
        // TCGETS on a pipe is ENOTTY.
        assert_eq!(
            sys(
                &mut p,
                &mut cpu,
                &mut c,
                nr::IOCTL,
                &[fds[0] as u64, tty::TCGETS as u64, BUF]
            ),
            (25, true)
        );
        // SAFETY: closing the test pipe.
        unsafe {
            libc::close(fds[0]);
            libc::close(fds[1]);
        }
    }

    #[test]
    fn file_calls_with_guest_layouts() {
        let dir = temp("files");
        let f = dir.join("data");
        std::fs::write(&f, vec![b'x'; 1000]).unwrap();
        for le in [true, false] {
            let (mut p, mut cpu, mut c) = setup(le);
            let path = cstr(&p, BUF, f.to_str().unwrap());
            let (fd, err) = sys(
                &mut p,
                &mut cpu,
                &mut c,
                nr::OPENAT,
                &[AT_FDCWD as u64, path, 0, 0],
            );
            assert!(!err);
            assert_eq!(
                sys(&mut p, &mut cpu, &mut c, nr::READ, &[fd, BUF + 0x1000, 10]),
                (10, false)
            );
            assert_eq!(
                sys(&mut p, &mut cpu, &mut c, nr::LSEEK, &[fd, 0, 2]),
                (1000, false)
            );
            assert_eq!(
                sys(&mut p, &mut cpu, &mut c, nr::FSTAT, &[fd, BUF + 0x2000]),
                (0, false)
            );
            // struct stat: st_size at 48, st_mode at 24 (ppc64 layout, guest byte order).
            assert_eq!(p.g.read_u64(BUF + 0x2000 + 48).unwrap(), 1000);
            assert_eq!(
                p.g.read_u32(BUF + 0x2000 + 24).unwrap() & 0o170000,
                0o100000
            );
            assert_eq!(
                sys(
                    &mut p,
                    &mut cpu,
                    &mut c,
                    nr::NEWFSTATAT,
                    &[AT_FDCWD as u64, path, BUF + 0x3000, 0]
                ),
                (0, false)
            );
            assert_eq!(p.g.read_u64(BUF + 0x3000 + 48).unwrap(), 1000);
            // statx: stx_size at 40.
            assert_eq!(
                sys(
                    &mut p,
                    &mut cpu,
                    &mut c,
                    nr::STATX,
                    &[AT_FDCWD as u64, path, 0, 0x7ff, BUF + 0x4000]
                ),
                (0, false)
            );
            assert_eq!(p.g.read_u64(BUF + 0x4000 + 40).unwrap(), 1000);
            assert_eq!(
                p.g.read_u32(BUF + 0x4000).unwrap() & 0x200,
                0x200,
                "STATX_SIZE in stx_mask"
            );
            // F_GETFL reports the powerpc O_LARGEFILE.
            assert_eq!(
                sys(&mut p, &mut cpu, &mut c, nr::FCNTL, &[fd, 3, 0]),
                (0o200000, false)
            );
            assert_eq!(sys(&mut p, &mut cpu, &mut c, nr::CLOSE, &[fd]), (0, false));
            assert_eq!(sys(&mut p, &mut cpu, &mut c, nr::CLOSE, &[fd]), (9, true));
            // The powerpc O_DIRECTORY (0o40000) reaches the host as O_DIRECTORY: ENOTDIR.
            assert_eq!(
                sys(
                    &mut p,
                    &mut cpu,
                    &mut c,
                    nr::OPENAT,
                    &[AT_FDCWD as u64, path, 0o40000, 0]
                ),
                (20, true)
            );
            // An empty path (zero memory) is ENOENT.
            let empty = BUF + 0x5000;
            assert_eq!(
                sys(&mut p, &mut cpu, &mut c, nr::OPEN, &[empty, 0, 0]),
                (2, true)
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn getdents64_in_guest_byte_order() {
        let dir = temp("dents");
        std::fs::write(dir.join("alpha"), b"").unwrap();
        std::fs::write(dir.join("beta"), b"").unwrap();
        for le in [true, false] {
            let (mut p, mut cpu, mut c) = setup(le);
            let path = cstr(&p, BUF, dir.to_str().unwrap());
            let (fd, _) = sys(
                &mut p,
                &mut cpu,
                &mut c,
                nr::OPENAT,
                &[AT_FDCWD as u64, path, 0o40000, 0],
            );
            let (n, err) = sys(
                &mut p,
                &mut cpu,
                &mut c,
                nr::GETDENTS64,
                &[fd, BUF + 0x1000, 4096],
            );
            assert!(!err && n > 0);
            let mut names = Vec::new();
            let mut off = 0;
            while off < n {
                let rec = BUF + 0x1000 + off;
                let mut b = [0u8; 2];
                p.g.read(rec + 16, &mut b).unwrap();
                let reclen = if le {
                    u16::from_le_bytes(b)
                } else {
                    u16::from_be_bytes(b)
                } as u64;
                names.push(p.g.cstring(rec + 19).unwrap().into_string().unwrap());
                assert!(p.g.read_u64(rec).unwrap() != 0, "d_ino");
                off += reclen;
            }
            names.sort();
            assert_eq!(names, [".", "..", "alpha", "beta"]);
            sys(&mut p, &mut cpu, &mut c, nr::CLOSE, &[fd]);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn process_information() {
        let (mut p, mut cpu, mut c) = setup(false);
        assert_eq!(sys(&mut p, &mut cpu, &mut c, nr::UNAME, &[BUF]), (0, false));
        assert_eq!(p.g.cstring(BUF).unwrap().as_bytes(), b"Linux");
        assert_eq!(p.g.cstring(BUF + 4 * 65).unwrap().as_bytes(), b"ppc64");
        let (mut q, _, _) = setup(true);
        assert_eq!(sys(&mut q, &mut cpu, &mut c, nr::UNAME, &[BUF]), (0, false));
        assert_eq!(q.g.cstring(BUF + 4 * 65).unwrap().as_bytes(), b"ppc64le");
        // /proc/self/exe names the guest binary.
        let l = cstr(&p, BUF, "/proc/self/exe");
        assert_eq!(
            sys(
                &mut p,
                &mut cpu,
                &mut c,
                nr::READLINK,
                &[l, BUF + 0x100, 64]
            ),
            (15, false)
        );
        let mut b = [0u8; 15];
        p.g.read(BUF + 0x100, &mut b).unwrap();
        assert_eq!(&b, b"/opt/guest/prog");
        // getcwd returns the length including the NUL.
        let cwd = std::env::current_dir().unwrap();
        let (n, err) = sys(&mut p, &mut cpu, &mut c, nr::GETCWD, &[BUF, 4096]);
        assert!(!err);
        assert_eq!(n as usize, cwd.as_os_str().len() + 1);
        assert_eq!(
            sys(&mut p, &mut cpu, &mut c, nr::GETCWD, &[BUF, 1]),
            (34, true)
        );
        // The stack limit is the reservation; other limits may be set for the guest alone.
        assert_eq!(
            sys(&mut p, &mut cpu, &mut c, nr::PRLIMIT64, &[0, 3, 0, BUF]),
            (0, false)
        );
        assert_eq!(p.g.read_u64(BUF).unwrap(), STACK_SIZE);
        p.g.write_u64(BUF, 10).unwrap();
        p.g.write_u64(BUF + 8, 20).unwrap();
        assert_eq!(
            sys(
                &mut p,
                &mut cpu,
                &mut c,
                nr::PRLIMIT64,
                &[0, 7, BUF, BUF + 16]
            ),
            (0, false)
        );
        assert_eq!(
            sys(&mut p, &mut cpu, &mut c, nr::UGETRLIMIT, &[7, BUF + 32]),
            (0, false)
        );
        assert_eq!(p.g.read_u64(BUF + 40).unwrap(), 20);
        assert_eq!(
            sys(
                &mut p,
                &mut cpu,
                &mut c,
                nr::SCHED_GETAFFINITY,
                &[0, 128, BUF]
            ),
            (8, false)
        );
        assert_eq!(p.g.read_u64(BUF).unwrap(), 1);
        // Clocks, in the guest's byte order.
        assert_eq!(
            sys(&mut p, &mut cpu, &mut c, nr::CLOCK_GETTIME, &[0, BUF]),
            (0, false)
        );
        let s = p.g.read_u64(BUF).unwrap();
        assert!(s > 1_600_000_000 && s < 1 << 40, "{s:#x}");
        assert!(p.g.read_u64(BUF + 8).unwrap() < 1_000_000_000);
        assert_eq!(
            sys(&mut p, &mut cpu, &mut c, nr::CLOCK_GETTIME, &[0, SIZE]),
            (14, true)
        );
        assert_eq!(
            sys(&mut p, &mut cpu, &mut c, nr::GETRANDOM, &[BUF, 16, 0]),
            (16, false)
        );
        // statfs64 of "/": f_bsize (at 8) is a power of two, f_blocks (at 16) non-zero.
        let root = cstr(&p, BUF, "/");
        assert_eq!(
            sys(
                &mut p,
                &mut cpu,
                &mut c,
                nr::STATFS64,
                &[root, 120, BUF + 0x100]
            ),
            (0, false)
        );
        assert!(p.g.read_u64(BUF + 0x108).unwrap().is_power_of_two());
        assert!(p.g.read_u64(BUF + 0x110).unwrap() > 0);
        assert_eq!(
            sys(
                &mut p,
                &mut cpu,
                &mut c,
                nr::STATFS64,
                &[root, 88, BUF + 0x100]
            ),
            (22, true)
        );
    }

    #[test]
    fn memory_calls() {
        let (mut p, mut cpu, mut c) = setup(true);
        assert_eq!(
            sys(&mut p, &mut cpu, &mut c, nr::BRK, &[0]),
            (0x20_0000, false)
        );
        assert_eq!(
            sys(&mut p, &mut cpu, &mut c, nr::BRK, &[0x20_8000]),
            (0x20_8000, false)
        );
        let (a, err) = sys(
            &mut p,
            &mut cpu,
            &mut c,
            nr::MMAP,
            &[0, 0x3000, 3, 0x22, u64::MAX, 0],
        );
        assert!(!err && a % 0x10000 == 0 && a < SIZE);
        assert_eq!(
            sys(&mut p, &mut cpu, &mut c, nr::MPROTECT, &[a, 0x1000, 1]),
            (0, false)
        );
        assert_eq!(
            sys(&mut p, &mut cpu, &mut c, nr::MUNMAP, &[a, 0x3000]),
            (0, false)
        );
        assert_eq!(
            sys(&mut p, &mut cpu, &mut c, nr::MPROTECT, &[a, 0x1000, 1]),
            (12, true)
        );
    }

    #[test]
    fn signals_are_recorded_and_self_kill_ends_the_run() {
        let (mut p, mut cpu, mut c) = setup(false);
        // Install SIG_IGN for SIGUSR1 and read it back.
        p.g.write_u64(BUF, SIG_IGN).unwrap();
        p.g.write_u64(BUF + 8, 0x0400_0000).unwrap();
        assert_eq!(
            sys(&mut p, &mut cpu, &mut c, nr::RT_SIGACTION, &[10, BUF, 0, 8]),
            (0, false)
        );
        assert_eq!(
            sys(
                &mut p,
                &mut cpu,
                &mut c,
                nr::RT_SIGACTION,
                &[10, 0, BUF + 0x100, 8]
            ),
            (0, false)
        );
        assert_eq!(p.g.read_u64(BUF + 0x100).unwrap(), SIG_IGN);
        assert_eq!(p.g.read_u64(BUF + 0x108).unwrap(), 0x0400_0000);
        assert_eq!(
            sys(&mut p, &mut cpu, &mut c, nr::RT_SIGACTION, &[9, BUF, 0, 8]),
            (22, true)
        );
        // Ignored and default-ignored signals do nothing.
        let pid = p.pid as u64;
        assert_eq!(
            sys(&mut p, &mut cpu, &mut c, nr::KILL, &[pid, 10]),
            (0, false)
        );
        assert_eq!(
            sys(&mut p, &mut cpu, &mut c, nr::TGKILL, &[pid, pid, 17]),
            (0, false)
        );
        assert_eq!(
            sys(&mut p, &mut cpu, &mut c, nr::TGKILL, &[pid, pid + 1, 6]),
            (3, true)
        );
        // Blocking and unblocking.
        p.g.write_u64(BUF, 1 << 5).unwrap();
        assert_eq!(
            sys(
                &mut p,
                &mut cpu,
                &mut c,
                nr::RT_SIGPROCMASK,
                &[0, BUF, BUF + 8, 8]
            ),
            (0, false)
        );
        assert_eq!(p.g.read_u64(BUF + 8).unwrap(), 0);
        assert_eq!(
            sys(
                &mut p,
                &mut cpu,
                &mut c,
                nr::RT_SIGPROCMASK,
                &[1, BUF, BUF + 8, 8]
            ),
            (0, false)
        );
        assert_eq!(p.g.read_u64(BUF + 8).unwrap(), 1 << 5);
        // SIGABRT with the default action terminates: 128 + 6.
        cpu.gpr[0] = nr::TGKILL;
        cpu.gpr[3] = pid;
        cpu.gpr[4] = pid;
        cpu.gpr[5] = 6;
        assert_eq!(p.syscall(&mut cpu, &mut c, false), Flow::Exit(134));
    }

    #[test]
    fn blocked_signal_acts_when_unblocked() {
        // glibc's raise: block everything, tgkill, restore the mask.
        let (mut p, mut cpu, mut c) = setup(true);
        let pid = p.pid as u64;
        p.g.write_u64(BUF, u64::MAX).unwrap();
        assert_eq!(
            sys(
                &mut p,
                &mut cpu,
                &mut c,
                nr::RT_SIGPROCMASK,
                &[2, BUF, BUF + 8, 8]
            ),
            (0, false)
        );
        assert_eq!(
            sys(&mut p, &mut cpu, &mut c, nr::TGKILL, &[pid, pid, 6]),
            (0, false)
        );
        assert_eq!(
            sys(&mut p, &mut cpu, &mut c, nr::RT_SIGPENDING, &[BUF + 16, 8]),
            (0, false)
        );
        assert_eq!(p.g.read_u64(BUF + 16).unwrap(), 1 << 5);
        cpu.gpr[0] = nr::RT_SIGPROCMASK;
        cpu.gpr[3] = 2;
        cpu.gpr[4] = BUF + 8;
        cpu.gpr[5] = 0;
        cpu.gpr[6] = 8;
        assert_eq!(p.syscall(&mut cpu, &mut c, false), Flow::Exit(134));
    }

    #[test]
    fn broken_pipe_raises_sigpipe() {
        for ignore in [false, true] {
            let (mut p, mut cpu, mut c) = setup(true);
            let mut fds = [0; 2];
            // SAFETY: test-local pipe; the read end is closed at once.
            unsafe {
                assert_eq!(libc::pipe(fds.as_mut_ptr()), 0);
                libc::close(fds[0]);
            }
            cpu.gpr[0] = nr::WRITE;
            cpu.gpr[3] = fds[1] as u64;
            cpu.gpr[4] = BUF;
            cpu.gpr[5] = 1;
            if ignore {
                p.g.write_u64(BUF + 8, SIG_IGN).unwrap();
                assert_eq!(
                    sys(
                        &mut p,
                        &mut cpu,
                        &mut c,
                        nr::RT_SIGACTION,
                        &[13, BUF + 8, 0, 8]
                    ),
                    (0, false)
                );
                assert_eq!(
                    sys(
                        &mut p,
                        &mut cpu,
                        &mut c,
                        nr::WRITE,
                        &[fds[1] as u64, BUF, 1]
                    ),
                    (32, true)
                );
            } else {
                assert_eq!(p.syscall(&mut cpu, &mut c, false), Flow::Exit(128 + 13));
            }
            // SAFETY: closing the test pipe.
            unsafe { libc::close(fds[1]) };
        }
    }

    #[test]
    fn exit_status_is_the_low_byte() {
        let (mut p, mut cpu, mut c) = setup(true);
        cpu.gpr[0] = nr::EXIT_GROUP;
        cpu.gpr[3] = 0x1234;
        assert_eq!(p.syscall(&mut cpu, &mut c, false), Flow::Exit(0x34));
    }

    #[test]
    fn futex_single_thread() {
        let (mut p, mut cpu, mut c) = setup(true);
        p.g.write_u32(BUF, 5).unwrap();
        assert_eq!(
            sys(&mut p, &mut cpu, &mut c, nr::FUTEX, &[BUF, 128, 4, 0]),
            (11, true)
        );
        assert_eq!(
            sys(&mut p, &mut cpu, &mut c, nr::FUTEX, &[BUF, 129, 1]),
            (0, false)
        );
        // A timed wait on a matching value times out.
        p.g.write_u64(BUF + 8, 0).unwrap();
        p.g.write_u64(BUF + 16, 1000).unwrap();
        assert_eq!(
            sys(&mut p, &mut cpu, &mut c, nr::FUTEX, &[BUF, 0, 5, BUF + 8]),
            (110, true)
        );
        assert_eq!(
            sys(&mut p, &mut cpu, &mut c, nr::FUTEX, &[SIZE, 0, 5, 0]),
            (14, true)
        );
    }
}
