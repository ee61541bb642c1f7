//! `cli`: `lpar::cli::parse` on an argv cut from the input at NUL and newline bytes. A one-byte
//! argument of 0x80 or more stands for a word of lpar's help text (an option name or a value it
//! lists), so the fuzzer composes real command lines without guessing spellings. The parse must
//! return; a configuration it accepts must be one the parser's own rules allow, and its device
//! tree must flatten (the machine is never run).

use lpar::cli::{parse, Action, HELP};
use spapr::machine::MIN_RAM;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::sync::OnceLock;

/// Arguments per input (lpar's real command lines have a dozen or two).
const MAX_ARGS: usize = 64;

/// Words of the help text: every `-option` and every `key=value`, `name|name` and `A,B` item,
/// split on the punctuation the help uses around them.
fn words() -> &'static [String] {
    static W: OnceLock<Vec<String>> = OnceLock::new();
    W.get_or_init(|| {
        let mut w: Vec<String> = Vec::new();
        for tok in HELP.split(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == ';') {
            let tok = tok.trim_end_matches([',', '.', ':']);
            if tok.is_empty() || !tok.is_ascii() {
                continue;
            }
            let mut add = |s: &str| {
                if !s.is_empty() && !w.iter().any(|x| x == s) {
                    w.push(s.to_string());
                }
            };
            add(tok);
            for part in tok.split([',', '|', '[', ']']) {
                add(part);
                if let Some((k, _)) = part.split_once('=') {
                    add(k);
                }
            }
        }
        w
    })
}

pub fn cli(data: &[u8]) {
    let words = words();
    let args: Vec<OsString> = data
        .split(|&b| b == 0 || b == b'\n')
        .take(MAX_ARGS)
        .map(|a| match a {
            [b] if *b >= 0x80 => OsString::from(&words[(*b - 0x80) as usize % words.len()]),
            _ => OsString::from_vec(a.to_vec()),
        })
        .collect();
    crate::trace!("cli: {args:?}");
    let r = parse(args);
    crate::trace!("cli: {r:?}");
    match r {
        Ok(Action::Run(opts)) => {
            let c = &opts.config;
            assert!(c.check_cpu().is_ok(), "compat newer than the CPU accepted");
            assert!(
                c.ram_size >= MIN_RAM && c.ram_size % (256 << 20) == 0,
                "-m {:#x} accepted",
                c.ram_size
            );
            assert!(
                (1..=lpar::cli::MAX_CPUS).contains(&(c.smp as u64)),
                "-smp {} accepted",
                c.smp
            );
            assert!(c.kernel.is_some() || c.bios.is_some(), "nothing to boot");
            assert!(c.tb_size <= 64 << 30, "tb-size {:#x} accepted", c.tb_size);
            // The tree of what the parser accepted flattens (when the machine would start).
            if c.check_kernel_addr().is_ok() {
                let tree = spapr::fdt::build(c, None);
                match tree.to_fdt(0) {
                    Ok(blob) => {
                        if let Err(e) = crate::fdt_check::check(&blob) {
                            panic!("device tree of an accepted command line: {e}");
                        }
                    }
                    Err(e) => panic!("device tree of an accepted command line: {e:?}"),
                }
            }
        }
        Ok(Action::List(text)) => assert!(!text.is_empty()),
        Ok(Action::Help | Action::Version) | Err(_) => {}
    }
}
