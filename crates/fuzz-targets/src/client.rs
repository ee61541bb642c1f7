//! `client_interface`: sequences of Open Firmware client-interface calls (finddevice, getprop,
//! setprop, claim, call-method with CAS and instantiate-rtas, …) with arbitrary argument blocks,
//! made through the KVMPPC_H_VOF_CLIENT hcall the entry stub uses, on a machine whose tree and
//! client interface are installed as `boot.rs` does for a kernel.
//!
//! Input: byte 0 model; the data window (u16 length + bytes at `machine::DATA`, e.g. a CAS
//! vector or a property value); then per call: a service selector (below 0xf0: a known service;
//! 0xf0-0xfe: a name of up to 70 bytes from the input; 0xff: a wild name pointer), nargs and nret
//! (0..11: one past the limit is allowed), a block-address selector, and the argument cells.

use crate::fdt_check;
use crate::input::Input;
use crate::machine::{arg32, cpu, load_data, machine, write_words, DATA, RAM};
use ppc::CpuModel;
use spapr::devtree::DeviceTree;
use spapr::hcall::{dispatch, H_PARAMETER, H_SUCCESS};
use spapr::vof::{Vof, KVMPPC_H_VOF_CLIENT, STDOUT_IHANDLE};
use std::sync::OnceLock;

const MAX_CALLS: usize = 8;
/// Guest addresses of the string table, the usual argument block, and a custom service name.
const STRS: u64 = 0x20_0000;
const ARGS: u64 = 0x20_8000;
const NAME: u64 = 0x20_9000;
/// The kernel image the client interface is told about (pre-claimed).
const KERNEL: (u64, u64) = (0x40_0000, 0x50_0000);
/// Cells a prom_args block holds (`vof.rs`); one more is asked for sometimes.
const MAX_CELLS: u32 = 10;

/// Service names: every one `vof.rs` implements, a few it refuses, and an unknown one.
const SERVICES: &[&str] = &[
    "finddevice",
    "getprop",
    "getproplen",
    "nextprop",
    "setprop",
    "peer",
    "child",
    "parent",
    "instance-to-package",
    "package-to-path",
    "instance-to-path",
    "canon",
    "open",
    "close",
    "write",
    "read",
    "seek",
    "claim",
    "release",
    "milliseconds",
    "quiesce",
    "exit",
    "call-method",
    "test",
    "interpret",
    "boot",
    "enter",
    "chain",
    "nonexistent",
];

/// Strings arguments point at: paths, aliases, property names, methods.
const STRINGS: &[&str] = &[
    "/",
    "/chosen",
    "/rtas",
    "/cpus",
    "/cpus/PowerPC,POWER9@0",
    "/memory@0",
    "/vdevice",
    "/vdevice/vty@71000000",
    "/vdevice/VTY@71000000:arg",
    "/vdevice/nvram@71000001",
    "/interrupt-controller",
    "/event-sources",
    "/aliases",
    "/nonexistent/node",
    "vty",
    "screen",
    "",
    "name",
    "device_type",
    "reg",
    "phandle",
    "linux,phandle",
    "ibm,phandle",
    "stdout",
    "stdout-path",
    "bootargs",
    "linux,initrd-start",
    "ibm,arch-vec-5-platform-support",
    "ibm,architecture-vec-5",
    "ibm,pa-features",
    "ibm,segment-page-sizes",
    "ibm,client-architecture-support",
    "instantiate-rtas",
    "ibm,query-interrupt-source-number",
    "finddevice",
    "getprop",
    "claim",
];

/// Offsets of `STRINGS` in the table written at `STRS`, and the table itself.
fn string_table() -> &'static (Vec<u32>, Vec<u8>) {
    static T: OnceLock<(Vec<u32>, Vec<u8>)> = OnceLock::new();
    T.get_or_init(|| {
        let mut offs = Vec::new();
        let mut bytes = Vec::new();
        for s in STRINGS.iter().chain(SERVICES) {
            offs.push(bytes.len() as u32);
            bytes.extend_from_slice(s.as_bytes());
            bytes.push(0);
        }
        (offs, bytes)
    })
}

/// The selector byte of service `s` (for seeds).
pub(crate) fn service_index(s: &str) -> u8 {
    SERVICES
        .iter()
        .position(|x| *x == s)
        .expect("service in the list") as u8
}

/// The cell byte of string `s` (for seeds).
pub(crate) fn string_index(s: &str) -> u8 {
    STRINGS
        .iter()
        .chain(SERVICES)
        .position(|x| *x == s)
        .expect("string in the table") as u8
}

/// Guest address of a string of the table.
fn str_addr(s: &str) -> u32 {
    let (offs, _) = string_table();
    let i = STRINGS
        .iter()
        .chain(SERVICES)
        .position(|x| *x == s)
        .expect("string in the table");
    STRS as u32 + offs[i]
}

/// A client-interface cell: a string, a phandle, an ihandle, a data-window pointer, a size or
/// alignment, or any 32-bit value.
fn cell(inp: &mut Input, nodes: u32) -> u32 {
    let (offs, _) = string_table();
    match inp.u8() & 7 {
        0 | 1 => STRS as u32 + offs[inp.u8() as usize % offs.len()],
        2 => inp.u8() as u32 % (nodes + 2),
        3 => STDOUT_IHANDLE + inp.u8() as u32 % 4,
        4 => DATA as u32 + inp.u16() as u32,
        5 => 1 << (inp.u8() % 32),
        _ => arg32(inp),
    }
}

/// The machine's tree for `model`, built once: building it costs more than the rest of an input,
/// and the machine configuration depends only on the model.
fn tree_for(model: CpuModel, cfg: &spapr::MachineConfig) -> DeviceTree {
    static TREES: OnceLock<Vec<(CpuModel, DeviceTree)>> = OnceLock::new();
    let trees = TREES.get_or_init(|| {
        CpuModel::ALL
            .iter()
            .map(|&m| {
                let mut c = cfg.clone();
                c.cpu_model = m;
                (m, spapr::fdt::build(&c, None))
            })
            .collect()
    });
    match trees.iter().find(|(m, _)| *m == model) {
        Some((_, t)) => t.clone(),
        None => spapr::fdt::build(cfg, None),
    }
}

/// Makes one client call with the block at `at`; the hcall answers 0 or H_PARAMETER.
fn call(m: &spapr::Machine, c: &mut ppc::Cpu, at: u64) {
    c.gpr[3] = KVMPPC_H_VOF_CLIENT;
    c.gpr[4] = at;
    dispatch(m, c);
    let ret = c.gpr[3] as i64;
    if crate::tracing() {
        let mut w = [0u8; 12];
        let _ = m.mem.read(at, &mut w);
        let word = |i: usize| u32::from_be_bytes([w[i], w[i + 1], w[i + 2], w[i + 3]]);
        let mut name = [0u8; 40];
        let _ = m.mem.read(word(0) as u64, &mut name);
        let name = name.split(|&b| b == 0).next().unwrap_or(&[]);
        let mut r0 = [0u8; 4];
        let _ = m.mem.read(at + 12 + 4 * word(4) as u64, &mut r0);
        eprintln!(
            "client {:?} nargs {} nret {}: {ret}, ret0 {:#x}",
            String::from_utf8_lossy(name),
            word(4),
            word(8),
            u32::from_be_bytes(r0)
        );
    }
    assert!(
        ret == H_SUCCESS || ret == H_PARAMETER,
        "KVMPPC_H_VOF_CLIENT returned {ret}"
    );
}

pub fn client_interface(data: &[u8]) {
    let mut inp = Input::new(data);
    let model = CpuModel::ALL[inp.u8() as usize & 3];
    let m = machine(model, 1);
    let tree = tree_for(model, &m.config);
    {
        let mut vof = m.vof.lock().expect("client interface lock");
        *vof = Vof::new(m.config.ram_size);
        vof.install(&m.mem, &tree, KERNEL, None)
            .expect("client interface install");
    }
    *m.tree.lock().expect("tree lock") = tree;
    let (offs, table) = string_table();
    assert!(m.mem.write(STRS, table), "string table inside RAM");
    let mut c = cpu(&m, 0);

    // prom_init opens the root (for CAS) and /rtas (for instantiate-rtas) before using them: do
    // the same, so those ihandles exist whatever the input.
    for path in ["/", "/rtas"] {
        write_words(&m, ARGS, &[str_addr("open"), 1, 1, str_addr(path), 0]);
        call(&m, &mut c, ARGS);
    }

    load_data(&m, &mut inp);
    let nodes = m.tree.lock().map(|t| t.len() as u32).unwrap_or(0);
    for _ in 0..MAX_CALLS {
        if inp.is_empty() {
            break;
        }
        let service = match inp.u8() {
            s @ 0..=0xef => STRS as u32 + offs[STRINGS.len() + s as usize % SERVICES.len()],
            0xff => arg32(&mut inp),
            len => {
                let mut name = inp.bytes((len - 0xf0) as usize * 5).to_vec();
                name.push(0);
                assert!(m.mem.write(NAME, &name), "name slot inside RAM");
                NAME as u32
            }
        };
        let nargs = inp.u8() as u32 % (MAX_CELLS + 2);
        let nret = inp.u8() as u32 % (MAX_CELLS + 2);
        let at = match inp.u8() & 7 {
            0..=4 => ARGS,
            5 => RAM - (inp.u8() as u64 & !3),
            6 => DATA + (inp.u16() as u64 & !3),
            _ => inp.u64(),
        };
        let mut words = vec![service, nargs, nret];
        for _ in 0..nargs {
            words.push(cell(&mut inp, nodes));
        }
        words.extend(std::iter::repeat_n(0, nret as usize));
        write_words(&m, at, &words);
        call(&m, &mut c, at);
    }

    check_claims(&m);
    // The tree the guest edited (setprop, CAS) must still flatten to a well-formed blob.
    let tree = m.tree.lock().expect("tree lock");
    if let Ok(blob) = tree.to_fdt(0) {
        if let Err(e) = fdt_check::check(&blob) {
            panic!("client-interface-edited tree flattens to a bad FDT: {e}");
        }
    }
}

/// Claims stay sorted, disjoint, non-empty, within claimable RAM and few.
fn check_claims(m: &spapr::Machine) {
    let vof = m.vof.lock().expect("client interface lock");
    let claims = vof.claims();
    assert!(claims.len() <= 1024, "{} claims kept", claims.len());
    let top = RAM.min(1 << 32);
    let mut prev_end = 0;
    for &(s, e) in claims {
        assert!(s < e, "empty claim [{s:#x}, {e:#x})");
        assert!(e <= top, "claim [{s:#x}, {e:#x}) beyond RAM");
        assert!(s >= prev_end, "claims overlap or unsorted: {claims:x?}");
        prev_end = e;
    }
}
