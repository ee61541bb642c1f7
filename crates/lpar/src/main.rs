//! lpar: a pSeries (sPAPR) machine emulator with QEMU's command line.

use lpar::cli;
mod console;
mod term;

use cli::{Action, Serial};
use spapr::{boot, Machine, MachineConfig, RunState};
use std::sync::{Arc, Mutex};

fn main() {
    let opts = match cli::parse(std::env::args_os().skip(1)) {
        Ok(Action::Run(o)) => o,
        Ok(Action::Help) => {
            print!("{}", cli::HELP);
            return;
        }
        Ok(Action::Version) => {
            println!(
                "lpar version {}: a pSeries (sPAPR) emulator with QEMU's command line",
                env!("CARGO_PKG_VERSION")
            );
            return;
        }
        Ok(Action::List(text)) => {
            print!("{text}");
            return;
        }
        Err(e) => {
            eprintln!("lpar: {e}");
            std::process::exit(1);
        }
    };
    for w in &opts.warnings {
        eprintln!("lpar: warning: {w}");
    }
    term::install_handlers();
    let current: console::Current = Arc::new(Mutex::new(None));
    if let Serial::Stdio { mux } = opts.serial {
        // Plain stdio keeps Ctrl-C for lpar; mon:stdio hands it to the guest (Ctrl-A x quits).
        if let Err(e) = term::enter_raw(!mux) {
            eprintln!("lpar: warning: cannot put the terminal in raw mode: {e}");
        }
        console::spawn_input(current.clone(), mux && term::stdin_is_tty());
    }
    let status = run(&opts.config, opts.serial, &current);
    spapr::wiring::release_backends();
    let hidden = ppc::ratelog::suppressed_total();
    if hidden > 0 {
        eprintln!("lpar: {hidden} diagnostic lines were not shown (rate limit)");
    }
    term::exit(status)
}

/// Boots the machine, again after each guest reboot unless -no-reboot; returns the exit status.
fn run(cfg: &MachineConfig, serial: Serial, current: &console::Current) -> i32 {
    loop {
        let out: Box<dyn std::io::Write + Send> = match serial {
            Serial::Stdio { .. } => Box::new(std::io::stdout()),
            Serial::Null => Box::new(std::io::sink()),
        };
        let (m, vcpus) = match boot::create(cfg.clone(), out) {
            Ok(x) => x,
            Err(e) => {
                term::restore();
                eprintln!("lpar: {e}");
                return 1;
            }
        };
        set_current(current, Some(m.clone()));
        let st = boot::run(&m, vcpus);
        set_current(current, None);
        m.shutdown();
        // The image locks go with the machine, before a reset opens the images again.
        drop(m);
        match st {
            RunState::PowerOff => return 0,
            RunState::Reset if cfg.no_reboot => return 0,
            RunState::Reset => continue,
            RunState::Terminated(msg) => {
                term::restore();
                eprintln!("lpar: guest terminated: {msg}");
                return 1;
            }
            RunState::Crashed(msg) => {
                term::restore();
                eprintln!("lpar: internal error, the machine stopped: {msg}");
                return 1;
            }
            RunState::Running => {
                term::restore();
                eprintln!("lpar: the machine stopped unexpectedly");
                return 1;
            }
        }
    }
}

fn set_current(current: &console::Current, m: Option<Arc<Machine>>) {
    if let Ok(mut g) = current.lock() {
        *g = m;
    }
}
