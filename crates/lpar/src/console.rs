//! The console's input side: a thread reads stdin and feeds the spapr-vty of whichever machine is
//! running (a reboot replaces it), handling QEMU's `mon:stdio` Ctrl-A escapes on a terminal.

use spapr::Machine;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The escape character of QEMU's character-device multiplexer (Ctrl-A).
const ESCAPE: u8 = 0x01;

/// A Ctrl-A command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// Ctrl-A x: quit.
    Exit,
    /// Ctrl-A h or ?: list the escapes.
    Help,
    /// Ctrl-A c: switch to the monitor, which lpar does not have.
    Monitor,
}

/// What one input byte amounts to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// A byte for the guest.
    Send(u8),
    /// Nothing (an escape started, or an escape lpar does not act on).
    Nothing,
    Cmd(Command),
}

pub const ESCAPE_HELP: &str = "\r\n\
C-a h    print this help\r\n\
C-a x    exit lpar\r\n\
C-a c    switch to the monitor (not supported)\r\n\
C-a C-a  send C-a to the guest\r\n";

/// The Ctrl-A escape decoder.
#[derive(Default)]
pub struct Mux {
    escaped: bool,
}

impl Mux {
    pub fn step(&mut self, b: u8) -> Step {
        if !self.escaped {
            if b == ESCAPE {
                self.escaped = true;
                return Step::Nothing;
            }
            return Step::Send(b);
        }
        self.escaped = false;
        match b {
            ESCAPE => Step::Send(ESCAPE),
            b'x' => Step::Cmd(Command::Exit),
            b'h' | b'?' => Step::Cmd(Command::Help),
            b'c' => Step::Cmd(Command::Monitor),
            // QEMU drops unknown escapes (and lpar has nothing for break, timestamps or disks).
            _ => Step::Nothing,
        }
    }
}

/// The machine currently running, for the input thread (none between a reset and the restart).
pub type Current = Arc<Mutex<Option<Arc<Machine>>>>;

/// Offers `data` to the running machine's vty until all of it is taken; waits while the queue is
/// full or no machine runs.
fn deliver(current: &Current, mut data: &[u8]) {
    while !data.is_empty() {
        let m = current.lock().ok().and_then(|g| g.clone());
        if let Some(m) = m {
            let n = m.vty.push_input(data);
            data = data.get(n..).unwrap_or_default();
            if n > 0 {
                continue;
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Starts the stdin thread. With `mux`, Ctrl-A escapes are decoded (Ctrl-A x ends lpar with
/// status 0, as QEMU does). End of input stops the thread and leaves the guest running.
pub fn spawn_input(current: Current, mux: bool) {
    std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || input_loop(current, mux))
        .map(drop)
        .unwrap_or_else(|e| eprintln!("lpar: warning: no console input: {e}"));
}

fn input_loop(current: Current, mux: bool) {
    let mut stdin = std::io::stdin().lock();
    let mut buf = [0u8; 256];
    let mut decoder = Mux::default();
    let mut out = Vec::with_capacity(buf.len());
    loop {
        let n = match stdin.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        };
        if !mux {
            deliver(&current, &buf[..n]);
            continue;
        }
        for &b in &buf[..n] {
            match decoder.step(b) {
                Step::Send(b) => out.push(b),
                Step::Nothing => {}
                Step::Cmd(c) => {
                    // What was typed before the command goes first.
                    deliver(&current, &out);
                    out.clear();
                    command(c);
                }
            }
        }
        deliver(&current, &out);
        out.clear();
    }
}

fn command(c: Command) {
    let say = |s: &str| {
        let mut o = std::io::stdout().lock();
        let _ = o.write_all(s.as_bytes());
        let _ = o.flush();
    };
    match c {
        Command::Exit => {
            say("\r\nlpar: Terminated\r\n");
            crate::term::exit(0);
        }
        Command::Help => say(ESCAPE_HELP),
        Command::Monitor => say("\r\n(monitor not supported)\r\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(input: &[u8]) -> Vec<Step> {
        let mut m = Mux::default();
        input.iter().map(|&b| m.step(b)).collect()
    }

    #[test]
    fn plain_bytes_pass_through() {
        assert_eq!(
            decode(b"ls\r"),
            [Step::Send(b'l'), Step::Send(b's'), Step::Send(b'\r')]
        );
        // Ctrl-C is just a byte for the guest.
        assert_eq!(decode(&[3]), [Step::Send(3)]);
    }

    #[test]
    fn escapes() {
        assert_eq!(
            decode(&[1, b'x']),
            [Step::Nothing, Step::Cmd(Command::Exit)]
        );
        assert_eq!(
            decode(&[1, b'h']),
            [Step::Nothing, Step::Cmd(Command::Help)]
        );
        assert_eq!(
            decode(&[1, b'?']),
            [Step::Nothing, Step::Cmd(Command::Help)]
        );
        assert_eq!(
            decode(&[1, b'c']),
            [Step::Nothing, Step::Cmd(Command::Monitor)]
        );
        // Ctrl-A Ctrl-A sends one Ctrl-A, and the escape is over afterwards.
        assert_eq!(
            decode(&[1, 1, b'x']),
            [Step::Nothing, Step::Send(1), Step::Send(b'x')]
        );
        // Unknown escapes are dropped, then input flows again.
        assert_eq!(
            decode(&[1, b'z', b'a']),
            [Step::Nothing, Step::Nothing, Step::Send(b'a')]
        );
    }

    #[test]
    fn an_escape_split_across_reads_still_works() {
        let mut m = Mux::default();
        assert_eq!(m.step(1), Step::Nothing);
        assert_eq!(m.step(b'x'), Step::Cmd(Command::Exit));
    }
}
