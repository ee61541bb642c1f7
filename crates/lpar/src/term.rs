//! The host terminal: raw mode for the guest console, and putting the terminal back the way it was
//! on every way out (normal exit, `exit()`, panics, and termination signals).

use std::io;
use std::sync::OnceLock;

/// The terminal settings found at start, once raw mode was entered; read by the signal handler,
/// so it is only ever written once, before the handlers can use it.
static SAVED: OnceLock<libc::termios> = OnceLock::new();

/// Whether stdin is a terminal.
pub fn stdin_is_tty() -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(libc::STDIN_FILENO) == 1 }
}

/// Puts the stdin terminal in raw mode, QEMU-style: no echo, no line editing, no CR/LF input
/// translation, 8-bit; output processing stays on so "\n" still returns the carriage. With
/// `signals`, Ctrl-C/Ctrl-Z/Ctrl-\ keep their meaning for lpar (QEMU's plain `stdio`); without, they
/// go to the guest (`mon:stdio`). Does nothing when stdin is not a terminal.
pub fn enter_raw(signals: bool) -> io::Result<()> {
    if !stdin_is_tty() {
        return Ok(());
    }
    // SAFETY: termios is plain data, fully written by tcgetattr before use.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: valid descriptor and a pointer to a termios.
    if unsafe { libc::tcgetattr(libc::STDIN_FILENO, &mut t) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if SAVED.set(t).is_err() {
        // Already raw (and the original settings are saved).
        return Ok(());
    }
    t.c_iflag &= !(libc::IGNBRK
        | libc::BRKINT
        | libc::PARMRK
        | libc::ISTRIP
        | libc::INLCR
        | libc::IGNCR
        | libc::ICRNL
        | libc::IXON);
    t.c_oflag |= libc::OPOST;
    t.c_lflag &= !(libc::ECHO | libc::ECHONL | libc::ICANON | libc::IEXTEN);
    if !signals {
        t.c_lflag &= !libc::ISIG;
    }
    t.c_cflag &= !(libc::CSIZE | libc::PARENB);
    t.c_cflag |= libc::CS8;
    t.c_cc[libc::VMIN] = 1;
    t.c_cc[libc::VTIME] = 0;
    // SAFETY: valid descriptor and termios.
    if unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &t) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Puts the terminal back as it was found. Idempotent, and async-signal-safe (a signal handler
/// calls it): it only reads the saved settings and makes one system call.
pub fn restore() {
    if let Some(t) = SAVED.get() {
        // SAFETY: valid descriptor and termios; tcsetattr is async-signal-safe.
        unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, t) };
    }
}

/// Restores the terminal and exits with `code`. `std::process::exit` runs no destructors, so every
/// exit of lpar goes through here.
pub fn exit(code: i32) -> ! {
    restore();
    std::process::exit(code)
}

/// Restores the terminal before a panic message is printed, and on SIGINT/SIGTERM/SIGHUP, which
/// end lpar the way they end QEMU ("terminating on signal N", status 0).
pub fn install_handlers() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        default(info);
    }));
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: sigaction is plain data; the handler only makes async-signal-safe calls.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

extern "C" fn on_signal(sig: libc::c_int) {
    restore();
    // Formatted by hand: no allocation or locks in a signal handler. Signal numbers have at most
    // two digits.
    const PREFIX: &[u8] = b"lpar: terminating on signal ";
    let mut buf = [0u8; PREFIX.len() + 3];
    buf[..PREFIX.len()].copy_from_slice(PREFIX);
    let mut len = PREFIX.len();
    let n = sig.unsigned_abs() % 100;
    if n >= 10 {
        buf[len] = b'0' + (n / 10) as u8;
        len += 1;
    }
    buf[len] = b'0' + (n % 10) as u8;
    buf[len + 1] = b'\n';
    len += 2;
    // SAFETY: write and _exit are async-signal-safe; the buffer holds `len` bytes.
    unsafe {
        libc::write(libc::STDERR_FILENO, buf.as_ptr().cast(), len);
        libc::_exit(0);
    }
}
