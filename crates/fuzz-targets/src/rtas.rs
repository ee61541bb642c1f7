//! `rtas`: arbitrary RTAS argument buffers (token, nargs, nret, cells) at chosen or wild addresses,
//! handed to the KVMPPC_H_RTAS hcall as the RTAS blob does.
//!
//! Input: byte 0 model and vCPUs as in `hcall`; the data window; then per call: a token selector
//! (below 0xf0: the n-th service; else any 32-bit token), nargs and nret (below 0x80: 0..16; else
//! any 32-bit count), a buffer-address selector, and the argument cells.

use crate::input::Input;
use crate::machine::{arg32, cpu, load_data, machine, write_words, DATA, RAM};
use ppc::CpuModel;
use spapr::hcall::{dispatch, H_PARAMETER, H_SUCCESS};
use spapr::rtas::{tokens, KVMPPC_H_RTAS, MAX_CELLS, RTAS_OUT_NOT_SUPPORTED};

const MAX_CALLS: usize = 6;
/// The usual buffer (below the data window, so arguments can point at fuzz data).
const BUF: u64 = 0x8000;

/// A cell count: usually a valid one, sometimes anything.
fn count(inp: &mut Input) -> u32 {
    match inp.u8() {
        b @ 0..=0x7f => b as u32 % (MAX_CELLS as u32 + 1),
        _ => inp.u32(),
    }
}

pub fn rtas(data: &[u8]) {
    let mut inp = Input::new(data);
    let b0 = inp.u8();
    let smp = 1 + (b0 as u32 >> 2 & 3);
    let m = machine(CpuModel::ALL[b0 as usize & 3], smp);
    let mut c = cpu(&m, 0);
    load_data(&m, &mut inp);
    let services: Vec<u32> = tokens().map(|(_, t)| t).collect();
    for _ in 0..MAX_CALLS {
        if inp.is_empty() {
            break;
        }
        let token = match inp.u8() {
            s @ 0..=0xef => services[s as usize % services.len()],
            _ => inp.u32(),
        };
        let (nargs, nret) = (count(&mut inp), count(&mut inp));
        let buf = match inp.u8() & 7 {
            0..=3 => BUF,
            4 => RAM - (inp.u8() as u64 & !3),
            5 => DATA + (inp.u16() as u64 & !3),
            6 => inp.u32() as u64,
            _ => inp.u64(),
        };
        let mut words = vec![token, nargs, nret];
        for _ in 0..(nargs as usize).min(MAX_CELLS) {
            words.push(arg32(&mut inp));
        }
        // Return cells start as a marker, so a service that leaves one untouched is visible.
        let rets_at = words.len();
        words.extend(std::iter::repeat_n(
            0xdead_beef,
            (nret as usize).min(MAX_CELLS),
        ));
        write_words(&m, buf, &words);

        c.gpr[3] = KVMPPC_H_RTAS;
        c.gpr[4] = buf;
        dispatch(&m, &mut c);
        let ret = c.gpr[3] as i64;
        crate::trace!(
            "rtas token {token:#x} nargs {nargs} nret {nret} at {buf:#x}: {ret} status {:?}",
            (nret > 0).then(|| {
                let mut b = [0u8; 4];
                m.mem
                    .read(buf.wrapping_add(4 * rets_at as u64), &mut b)
                    .then(|| i32::from_be_bytes(b))
            })
        );
        assert!(
            ret == H_SUCCESS || ret == H_PARAMETER,
            "KVMPPC_H_RTAS returned {ret}"
        );
        // A well-formed block entirely inside RAM is always answered.
        let cells = nargs as u64 + nret as u64;
        let fits = cells <= MAX_CELLS as u64 && buf.saturating_add(12 + 4 * cells) <= RAM;
        if fits {
            assert_eq!(ret, H_SUCCESS, "well-formed RTAS block at {buf:#x} refused");
        }
        // A token of no implemented service is answered "not supported".
        if fits && nret > 0 && !services.contains(&token) {
            let mut b = [0u8; 4];
            assert!(m.mem.read(buf + 4 * rets_at as u64, &mut b));
            assert_eq!(
                i32::from_be_bytes(b),
                RTAS_OUT_NOT_SUPPORTED,
                "unknown token {token:#x}"
            );
        }
    }
}
