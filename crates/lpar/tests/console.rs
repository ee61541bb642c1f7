//! The console and lpar's ways out, with a tiny hand-written guest (no Linux needed): output,
//! input over pipes and over a terminal, raw mode and its restoration, Ctrl-A escapes, signals,
//! and a guest that terminates through the client interface.

mod common;

use common::{echo_guest, scratch, Session};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(120);

#[test]
fn echo_over_pipes_and_eof_leaves_the_guest_running() {
    let dir = scratch("echo-pipes");
    let guest = echo_guest(&dir);
    let mut s = Session::start(&["-kernel", guest.to_str().unwrap(), "-nographic"], T);
    let at = s.wait_for("ready\n", 0);
    s.send(b"hello lpar\n");
    let at = s.wait_for("hello lpar\n", at);
    // Not a terminal: Ctrl-A is an ordinary byte, no escape.
    s.send(b"\x01x\n");
    s.wait_for("\x01x\n", at);
    drop(s.stdin.take());
    std::thread::sleep(Duration::from_millis(500));
    assert!(s.running(), "EOF on stdin must not stop the guest");
    s.signal(libc::SIGTERM);
    let o = s.finish();
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert_eq!(o.stderr, "lpar: terminating on signal 15\n", "{o:?}");
}

#[test]
fn a_guest_that_exits_through_the_client_interface_is_terminated() {
    let dir = scratch("of-exit");
    let guest = echo_guest(&dir);
    let mut s = Session::start(&["-kernel", guest.to_str().unwrap(), "-serial", "stdio"], T);
    s.wait_for("ready\n", 0);
    s.send(b"!");
    let o = s.finish();
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let lines: Vec<&str> = o.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{o:?}");
    assert!(lines[0].starts_with("lpar: guest terminated: "), "{o:?}");
}

#[test]
fn serial_null_drops_the_console() {
    let dir = scratch("serial-null");
    let guest = echo_guest(&dir);
    let mut s = Session::start(&["-kernel", guest.to_str().unwrap(), "-serial", "null"], T);
    std::thread::sleep(Duration::from_secs(2));
    assert!(s.running());
    s.signal(libc::SIGINT);
    let o = s.finish();
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert_eq!(o.stdout, "", "{o:?}");
    assert_eq!(o.stderr, "lpar: terminating on signal 2\n", "{o:?}");
}

/// lpar on a pseudo-terminal, as its controlling terminal (so Ctrl-C can raise SIGINT).
struct Pty {
    master: std::fs::File,
    /// The test's own handle on the terminal, to read its settings.
    slave: OwnedFd,
    /// The terminal's settings before lpar started.
    before: libc::termios,
    out: Arc<Mutex<Vec<u8>>>,
    child: std::process::Child,
    deadline: Instant,
}

fn termios(fd: &OwnedFd) -> libc::termios {
    // SAFETY: a zeroed termios is valid plain data, filled by tcgetattr on a valid descriptor.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        assert_eq!(libc::tcgetattr(fd.as_raw_fd(), &mut t), 0);
        t
    }
}

impl Pty {
    fn start(args: &[&str]) -> Pty {
        // SAFETY: plain libc pty calls; every returned descriptor is checked and owned once.
        let (master, slave) = unsafe {
            let m = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
            assert!(m >= 0, "posix_openpt");
            assert_eq!(libc::grantpt(m), 0);
            assert_eq!(libc::unlockpt(m), 0);
            let mut name = [0 as libc::c_char; 128];
            assert_eq!(libc::ptsname_r(m, name.as_mut_ptr(), name.len()), 0);
            let s = libc::open(name.as_ptr(), libc::O_RDWR | libc::O_NOCTTY);
            assert!(s >= 0, "open pty slave");
            (std::fs::File::from_raw_fd(m), OwnedFd::from_raw_fd(s))
        };
        let before = termios(&slave);
        let io = || Stdio::from(slave.try_clone().expect("dup"));
        let mut cmd = common::lpar();
        cmd.args(args).stdin(io()).stdout(io()).stderr(io());
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn lpar");
        let out = Arc::new(Mutex::new(Vec::new()));
        let mut r = master.try_clone().expect("dup master");
        let o = out.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 1024];
            while let Ok(n) = r.read(&mut buf) {
                if n == 0 {
                    return;
                }
                o.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Pty {
            master,
            slave,
            before,
            out,
            child,
            deadline: Instant::now() + T,
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().unwrap()).into_owned()
    }

    fn fail(&mut self, why: &str) -> ! {
        let _ = self.child.kill();
        let _ = self.child.wait();
        panic!("{why}\n--- terminal ---\n{}", self.text());
    }

    fn wait_for(&mut self, text: &str) {
        while !self.text().contains(text) {
            if Instant::now() > self.deadline {
                self.fail(&format!("timed out waiting for {text:?}"));
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                std::thread::sleep(Duration::from_millis(100));
                if !self.text().contains(text) {
                    self.fail(&format!("lpar exited ({st}) before printing {text:?}"));
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn send(&mut self, data: &[u8]) {
        self.master.write_all(data).expect("write to terminal");
    }

    fn exit_code(&mut self) -> Option<i32> {
        loop {
            match self.child.try_wait() {
                Ok(Some(st)) => return st.code(),
                _ if Instant::now() > self.deadline => {
                    self.fail("timed out waiting for lpar to exit")
                }
                _ => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
}

/// lpar runs in its own session here, so a failing test must kill it or it outlives the test.
impl Drop for Pty {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[test]
fn terminal_raw_mode_escapes_and_restoration() {
    let dir = scratch("pty-mux");
    let guest = echo_guest(&dir);
    let mut p = Pty::start(&["-kernel", guest.to_str().unwrap(), "-nographic"]);
    let before = p.before;
    assert_ne!(before.c_lflag & libc::ICANON, 0, "a fresh pty is cooked");
    p.wait_for("ready");
    let raw = termios(&p.slave);
    assert_eq!(
        raw.c_lflag & (libc::ICANON | libc::ECHO | libc::ISIG),
        0,
        "mon:stdio: raw, no signals"
    );
    assert_eq!(raw.c_iflag & libc::ICRNL, 0);
    // Input reaches the guest byte by byte, Ctrl-C included, with no local echo.
    p.send(b"abc\x03\r");
    p.wait_for("abc\x03\r");
    // Ctrl-A Ctrl-A sends one Ctrl-A.
    p.send(b"\x01\x01z");
    p.wait_for("\x01z");
    p.send(b"\x01h");
    p.wait_for("C-a x");
    p.send(b"\x01c");
    p.wait_for("(monitor not supported)");
    p.send(b"\x01x");
    assert_eq!(p.exit_code(), Some(0), "{}", p.text());
    assert!(p.text().contains("lpar: Terminated"), "{}", p.text());
    let after = termios(&p.slave);
    assert_eq!(after.c_lflag, before.c_lflag, "terminal settings restored");
    assert_eq!(after.c_iflag, before.c_iflag, "terminal settings restored");
}

#[test]
fn plain_stdio_keeps_ctrl_c_for_lpar() {
    let dir = scratch("pty-stdio");
    let guest = echo_guest(&dir);
    let mut p = Pty::start(&["-kernel", guest.to_str().unwrap(), "-serial", "stdio"]);
    let before = p.before;
    p.wait_for("ready");
    let raw = termios(&p.slave);
    assert_eq!(raw.c_lflag & (libc::ICANON | libc::ECHO), 0);
    assert_ne!(raw.c_lflag & libc::ISIG, 0, "plain stdio keeps signals");
    // No escapes on plain stdio: Ctrl-A x is guest input.
    p.send(b"\x01x");
    p.wait_for("\x01x");
    p.send(b"\x03");
    assert_eq!(p.exit_code(), Some(0), "{}", p.text());
    assert!(p.text().contains("terminating on signal 2"), "{}", p.text());
    let after = termios(&p.slave);
    assert_eq!(after.c_lflag, before.c_lflag, "terminal settings restored");
}
