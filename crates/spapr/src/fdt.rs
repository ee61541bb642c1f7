//! Builds the machine's device tree: /, /chosen, /memory, /cpus, /rtas, /vdevice, /interrupt-controller,
//! /event-sources, with the `ibm,*` properties Linux's pseries platform reads.
//!
//! The guest reads this tree through the built-in client interface (prom_init walks it with
//! `child`/`peer`/`nextprop`/`getprop` and flattens it for the kernel), so every property here is one
//! the kernel or prom_init consumes; the comments say who reads what.

use crate::devtree::{cells, cells64, strings, DeviceTree, NodeId};
use crate::machine::{layout, MachineConfig};
use crate::papr::*;
use ppc::cpu::IsaLevel;
use ppc::CpuModel;

/// Root `model`.
pub const MODEL: &str = "IBM pSeries (emulated by lpar)";
/// Path of the console (the stdout of the client interface).
pub const VTY_PATH: &str = "/vdevice/vty@71000000";

/// Cache line of every model.
const CACHE_LINE: u32 = 128;
/// Processor clock the tree advertises (only used for reporting by the guest).
const CLOCK_FREQ: u32 = 1_000_000_000;
/// SLB entries (hash MMU), the same on every model.
const SLB_SIZE: u32 = 32;
/// RTAS error log buffer the OS must provide (PAPR's usual 2 KiB).
const RTAS_ERROR_LOG_MAX: u32 = 2048;
/// Seconds between RTAS event-scan calls.
const RTAS_EVENT_SCAN_RATE: u32 = 1;

/// ibm,arch-vec-5-platform-support value for byte 24 (MMU): both hash and radix, switchable.
pub const OV5_MMU_DYNAMIC: u8 = 0xc0;
/// ... hash only.
pub const OV5_MMU_HASH_ONLY: u8 = 0x00;

/// Hypercall sets published in /rtas `ibm,hypertas-functions`, with the hcalls each one implies
/// (PAPR numbering). A set is published only when all of its hcalls are implemented, so the guest
/// never relies on a set we only half provide (e.g. "hcall-splpar" makes Linux register a VPA).
const HYPERTAS_SETS: &[(&str, &[u64])] = &[
    (
        "hcall-pft",
        &[
            H_REMOVE,
            H_ENTER,
            H_READ,
            H_CLEAR_MOD,
            H_CLEAR_REF,
            H_PROTECT,
        ],
    ),
    ("hcall-term", &[H_GET_TERM_CHAR, H_PUT_TERM_CHAR]),
    ("hcall-dabr", &[H_SET_DABR]),
    ("hcall-interrupt", &[H_EOI, H_CPPR, H_IPI, H_IPOLL, H_XIRR]),
    ("hcall-tce", &[H_GET_TCE, H_PUT_TCE]),
    ("hcall-vio", &[H_VIO_SIGNAL]),
    ("hcall-splpar", &[H_REGISTER_VPA, H_CEDE, H_CONFER, H_PROD]),
    ("hcall-join", &[H_JOIN]),
    ("hcall-bulk", &[H_BULK_REMOVE]),
    ("hcall-set-mode", &[H_SET_MODE]),
    ("hcall-sprg0", &[H_SET_SPRG0]),
    ("hcall-copy", &[H_PAGE_INIT]),
    ("hcall-debug", &[H_LOGICAL_CI_LOAD, H_LOGICAL_CI_STORE]),
    ("hcall-vphn", &[H_HOME_NODE_ASSOCIATIVITY]),
    ("hcall-multi-tce", &[H_PUT_TCE_INDIRECT, H_STUFF_TCE]),
    // Not with resize-hpt=disabled.
    (
        "hcall-hpt-resize",
        &[H_RESIZE_HPT_PREPARE, H_RESIZE_HPT_COMMIT],
    ),
    ("hcall-rpt-invalidate", &[H_RPT_INVALIDATE]),
    ("hcall-watchdog", &[H_WATCHDOG]),
];

/// QEMU-private hypercall sets (`qemu,hypertas-functions`): KVMPPC_H_LOGICAL_MEMOP.
const QEMU_HYPERTAS_SETS: &[(&str, &[u64])] = &[("hcall-memop1", &[0xf001])];

/// Builds the whole tree. `initrd` is (base, size) of the loaded initrd.
pub fn build(cfg: &MachineConfig, initrd: Option<(u64, u64)>) -> DeviceTree {
    let mut t = DeviceTree::new();
    let root = DeviceTree::ROOT;
    // prom_init identifies a PAPR platform by device_type "chrp" plus /rtas; Linux's pSeries_probe
    // checks the same device_type.
    t.set_str(root, "device_type", "chrp");
    t.set_str(root, "model", MODEL);
    t.set_str(root, "compatible", "qemu,pseries");
    // prom_init_mem reads the root cell sizes to parse memory "reg".
    t.set_u32(root, "#address-cells", 2);
    t.set_u32(root, "#size-cells", 2);

    build_chosen(&mut t, cfg, initrd);
    build_memory(&mut t, cfg.ram_size);
    build_cpus(&mut t, cfg);
    build_rtas(&mut t, cfg);
    build_xics(&mut t, cfg.id_space());
    build_vdevice(&mut t);
    build_event_sources(&mut t);
    t
}

fn build_chosen(t: &mut DeviceTree, cfg: &MachineConfig, initrd: Option<(u64, u64)>) {
    let chosen = t.add_node(DeviceTree::ROOT, "chosen");
    // prom_init's early_cmdline_parse reads bootargs; an absent property lets a built-in
    // CONFIG_CMDLINE apply, as it would with an empty command line.
    if !cfg.append.is_empty() {
        t.set_str(chosen, "bootargs", &cfg.append);
    }
    if let Some((base, size)) = initrd.filter(|&(_, size)| size > 0) {
        t.set_prop(chosen, "linux,initrd-start", cells64(&[base]));
        t.set_prop(
            chosen,
            "linux,initrd-end",
            cells64(&[base.saturating_add(size)]),
        );
    }
    t.set_str(chosen, "stdout-path", VTY_PATH);
    t.set_str(chosen, "linux,stdout-path", VTY_PATH);
    // BARs as lpar assigns them are a starting point: Linux may move them (QEMU says the same).
    t.set_u32(chosen, "linux,pci-probe-only", 0);
    // prom_init_stdout reads the *ihandle* of an open console from "stdout"; the client interface
    // opens the console under this ihandle when it is installed.
    t.set_u32(chosen, "stdout", crate::vof::STDOUT_IHANDLE);
    // What the guest may ask for in option vector 5 (pairs of byte index, allowed value):
    // byte 23 interrupt controller: 0 = XICS (legacy) only; byte 24 MMU: hash and radix (hash
    // only before ISA 3.0: a POWER8, or a compatibility mode below POWER9); byte 25 hash
    // extensions: none; byte 26 radix extensions: GTSE.
    // prom_check_platform_support parses at most 8 bytes of it.
    let mmu = if cfg.isa_level() >= IsaLevel::V3_0 {
        OV5_MMU_DYNAMIC
    } else {
        OV5_MMU_HASH_ONLY
    };
    t.set_prop(
        chosen,
        "ibm,arch-vec-5-platform-support",
        vec![23, 0x00, 24, mmu, 25, 0x00, 26, 0x40],
    );
    // The negotiated option vector 5 before CAS: empty (one zero byte). A guest that never calls
    // CAS therefore sees "no radix" (Linux's early_check_vec5 needs byte 24 to use radix).
    t.set_prop(chosen, "ibm,architecture-vec-5", vec![0, 0]);
}

/// Changes the MMU modes /chosen advertises to the guest for CAS (e.g. hash only). CAS grants
/// radix only if this allows it.
pub fn set_mmu_support(t: &mut DeviceTree, byte24: u8) {
    let Some(chosen) = t.find("/chosen") else {
        return;
    };
    let mut v = t
        .prop(chosen, "ibm,arch-vec-5-platform-support")
        .map(|p| p.to_vec())
        .unwrap_or_default();
    match v.chunks_exact_mut(2).find(|pair| pair[0] == 24) {
        Some(pair) => pair[1] = byte24,
        None => v.extend([24, byte24]),
    }
    t.set_prop(chosen, "ibm,arch-vec-5-platform-support", v);
}

fn build_memory(t: &mut DeviceTree, ram_size: u64) {
    // One node for all RAM: prom_init takes the first memory node at 0 as the RMO and allocates
    // below min(its top, 768 MiB).
    let mem = t.add_node(DeviceTree::ROOT, "memory@0");
    t.set_str(mem, "device_type", "memory");
    t.set_prop(mem, "reg", cells64(&[0, ram_size]));
}

/// `ibm,pa-features` of a processor at ISA level `level`: a 2-byte header (length, type 0) then
/// attribute bytes; bits are numbered from the MSB of each byte. Linux's scan_features *clears* a
/// feature whose bit is 0 within the property's length and leaves the processor table's default
/// beyond it, so the length matters as much as the bits: 6 bytes for ISA 2.06, 24 for 2.07 (no
/// radix byte), 66 for 3.0 (radix, byte 40, must be set), 74 for 3.1 (byte 64, the second
/// DAWR, stays clear: it is not implemented, and POWER10's table default has it).
pub fn pa_features(level: IsaLevel) -> Vec<u8> {
    use IsaLevel::{V2_06, V2_07, V3_0};
    // (byte, bit, first level that has it)
    const BITS: &[(usize, u8, IsaLevel)] = &[
        (0, 0, V2_06),  // MMU
        (0, 1, V2_06),  // FPU
        (0, 2, V2_06),  // SLB
        (0, 3, V2_06),  // RUN latch (CTRL)
        (0, 5, V2_06),  // DABR
        (0, 6, V2_06),  // no-execute
        (1, 3, V2_06),  // fri[nzpm]
        (1, 4, V2_06),  // DABRX
        (1, 5, V2_06),  // SPRG3 readable
        (1, 6, V2_06),  // SLB entry 0 fixed
        (1, 7, V2_06),  // PP = 110
        (2, 0, V2_06),  // VPM
        (2, 1, V2_06),  // data stream 2.05
        (2, 5, V2_06),  // PPR
        (2, 6, V2_06),  // data stream 2.02
        (2, 7, V2_06),  // data stream 2.06
        (3, 0, V2_07),  // lsd
        (3, 1, V2_07),  // URG
        (4, 0, V2_06),  // strong access ordering
        (5, 0, V2_06),  // true little-endian
        (5, 1, V2_06),  // CFAR
        (5, 2, V2_07),  // EB
        (5, 3, V2_07),  // load/store quadword
        (6, 0, V2_07),  // data stream 2.07
        (16, 0, V2_07), // vector
        (18, 0, V2_07), // vector-scalar
        (20, 0, V2_07), // vector crypto / XOR
        (24, 0, V3_0),  // extended decrementer
        (26, 0, V3_0),  // 64-bit facilities of 2.07
        (28, 0, V3_0),  // performance monitor facilities
        (30, 0, V3_0),  // move to/from MMR
        (32, 0, V3_0),  // little-endian atomics
        (34, 0, V3_0),  // event-based branch
        (34, 1, V3_0),  // extended EBB
        (36, 0, V3_0),  // SPR stack-overflow
        (38, 0, V3_0),  // copy/paste
        (40, 0, V3_0),  // radix MMU
        (42, 0, V3_0),  // ISA 3.0 performance monitor
        (44, 0, V3_0),  // PC-relative addressing
        (46, 0, V3_0),  // vectored system call
        (48, 0, V3_0),  // SIMD (ISA 3.0 vector)
        (50, 0, V3_0),  // quad-precision binary FP
        (52, 0, V3_0),  // string instructions
        (56, 0, V3_0),  // decimal integer
        (58, 0, V3_0),  // SHA
        (60, 0, V3_0),  // non-mutual-exclusion atomics
    ];
    let len: usize = match level {
        IsaLevel::V2_06 => 6,
        IsaLevel::V2_07 => 24,
        IsaLevel::V3_0 => 66,
        IsaLevel::V3_1 => 74,
    };
    let mut v = vec![0u8; 2 + len];
    v[0] = len as u8;
    for &(byte, bit, since) in BITS {
        if since <= level {
            v[2 + byte] |= 0x80 >> bit;
        }
    }
    v
}

/// L1 data and instruction cache sizes (QEMU's values for each model).
fn l1_cache_sizes(model: CpuModel) -> (u32, u32) {
    match model {
        CpuModel::Power7 | CpuModel::Power9 => (32 << 10, 32 << 10),
        CpuModel::Power8 => (64 << 10, 32 << 10),
        CpuModel::Power10 => (48 << 10, 32 << 10),
    }
}

/// Index of the radix bit within the `ibm,pa-features` property (byte 40 after the header).
pub const PA_RADIX_BYTE: usize = 2 + 40;

/// Hash page sizes (`ibm,segment-page-sizes`): per base page size, the SLB encoding and the
/// actual page sizes with their PTE encodings: exactly what the CPU's hash MMU implements (4K,
/// 64K, 16M; no 16G).
fn segment_page_sizes() -> Vec<u8> {
    let mut c = Vec::new();
    for s in ppc::mmu::SEGMENT_PAGE_SIZES {
        c.extend([s.shift, s.slb_enc as u32, s.pages.len() as u32]);
        for &(ps, enc) in s.pages {
            c.extend([ps, enc as u32]);
        }
    }
    cells(&c)
}

/// ISA 3.0 radix page sizes with their tlbie AP encodings: AP in the top 3 bits, log2 size below.
fn radix_ap_encodings() -> Vec<u8> {
    cells(&[
        12,             // 4K, AP 0
        (5 << 29) | 16, // 64K, AP 5
        (1 << 29) | 21, // 2M, AP 1
        (2 << 29) | 30, // 1G, AP 2
    ])
}

fn build_cpus(t: &mut DeviceTree, cfg: &MachineConfig) {
    let cpus = t.add_node(DeviceTree::ROOT, "cpus");
    t.set_u32(cpus, "#address-cells", 1);
    t.set_u32(cpus, "#size-cells", 0);
    // One node per core, named and numbered by its first thread's id (as QEMU's pseries).
    let threads = cfg.threads.max(1);
    for index in (0..cfg.smp.max(1)).step_by(threads as usize) {
        let first = cfg.vcpu_id(index);
        let name = format!("PowerPC,{}@{first:x}", cfg.cpu_model.name());
        let cpu = t.add_node(cpus, &name);
        let n = threads.min(cfg.smp.max(1) - index);
        cpu_props(t, cpu, first, n, cfg);
    }
}

/// Properties of the core whose threads are vCPUs `index..index + threads`.
fn cpu_props(t: &mut DeviceTree, cpu: NodeId, index: u32, threads: u32, cfg: &MachineConfig) {
    let model = cfg.cpu_model;
    let ram_size = cfg.ram_size;
    t.set_u32(cpu, "reg", index);
    t.set_str(cpu, "device_type", "cpu");
    // The real PVR, or with a compatibility limit the logical PVR of that mode (as QEMU sets the
    // limit at reset); CAS replaces it with the negotiated one.
    let version = cfg
        .max_compat
        .map_or(model.pvr(), |c| c.min(model.isa_level()).logical_pvr());
    t.set_u32(cpu, "cpu-version", version);
    let (l1d, l1i) = l1_cache_sizes(model);
    t.set_u32(cpu, "d-cache-block-size", CACHE_LINE);
    t.set_u32(cpu, "d-cache-line-size", CACHE_LINE);
    t.set_u32(cpu, "i-cache-block-size", CACHE_LINE);
    t.set_u32(cpu, "i-cache-line-size", CACHE_LINE);
    t.set_u32(cpu, "d-cache-size", l1d);
    t.set_u32(cpu, "i-cache-size", l1i);
    t.set_u32(cpu, "timebase-frequency", layout::TIMEBASE_FREQ);
    t.set_u32(cpu, "clock-frequency", CLOCK_FREQ);
    t.set_u32(cpu, "slb-size", SLB_SIZE);
    t.set_u32(cpu, "ibm,slb-size", SLB_SIZE);
    t.set_str(cpu, "status", "okay");
    t.set_prop(cpu, "64-bit", Vec::new());
    // Linux's check_cpu_feature_properties wants a cell >= 1 for these.
    t.set_u32(cpu, "ibm,purr", 1);
    t.set_u32(cpu, "ibm,spurr", 1);
    // 256M and 1T segments.
    t.set_prop(
        cpu,
        "ibm,processor-segment-sizes",
        cells(&[28, 40, 0xffff_ffff, 0xffff_ffff]),
    );
    // 2 = VMX and VSX; DFP is not implemented (0 = none).
    t.set_u32(cpu, "ibm,vmx", 2);
    t.set_u32(cpu, "ibm,dfp", 0);
    t.set_prop(cpu, "ibm,segment-page-sizes", segment_page_sizes());
    t.set_prop(cpu, "ibm,pa-features", pa_features(cfg.isa_level()));
    t.set_u32(
        cpu,
        "ibm,chip-id",
        index / cfg.threads.max(1) / cfg.cores.max(1),
    );
    // Hash page table size for a hash guest (first cell reserved).
    t.set_prop(
        cpu,
        "ibm,pft-size",
        cells(&[0, crate::hpt::shift_for_ram(ram_size)]),
    );
    // A thread's interrupt server is its vCPU number; the "gserver" pairs send the global queue
    // to server 0.
    let servers: Vec<u32> = (index..index + threads).collect();
    let gservers: Vec<u32> = servers.iter().flat_map(|&s| [s, 0]).collect();
    t.set_prop(cpu, "ibm,ppc-interrupt-server#s", cells(&servers));
    t.set_prop(cpu, "ibm,ppc-interrupt-gserver#s", cells(&gservers));
    // Radix page sizes only where the processor has a radix MMU (ISA 3.0 on).
    if model.isa_level() >= IsaLevel::V3_0 {
        t.set_prop(
            cpu,
            "ibm,processor-radix-AP-encodings",
            radix_ap_encodings(),
        );
    }
    // No storage keys (data, instruction).
    t.set_prop(cpu, "ibm,processor-storage-keys", cells(&[0, 0]));
}

/// The hypercall sets whose hcalls are all present in the machine's hcall tables and that the
/// configuration does not turn off.
fn hypertas(sets: &[(&str, &[u64])], cfg: &MachineConfig) -> Vec<u8> {
    let names: Vec<&str> = sets
        .iter()
        .filter(|&&(name, _)| name != "hcall-hpt-resize" || cfg.resize_hpt)
        .filter(|(_, nrs)| nrs.iter().all(|&nr| crate::hcall::lookup(nr).is_some()))
        .map(|&(name, _)| name)
        .collect();
    strings(&names)
}

fn build_rtas(t: &mut DeviceTree, cfg: &MachineConfig) {
    let rtas = t.add_node(DeviceTree::ROOT, "rtas");
    // prom_init allocates this much and calls instantiate-rtas there.
    t.set_u32(rtas, "rtas-size", crate::rtas::RTAS_SIZE as u32);
    for (name, tok) in crate::rtas::tokens() {
        t.set_u32(rtas, name, tok);
    }
    // Its presence makes prom_init and Linux treat the machine as an LPAR (hypercalls).
    t.set_prop(rtas, "ibm,hypertas-functions", hypertas(HYPERTAS_SETS, cfg));
    t.set_prop(
        rtas,
        "qemu,hypertas-functions",
        hypertas(QEMU_HYPERTAS_SETS, cfg),
    );
    t.set_u32(rtas, "rtas-error-log-max", RTAS_ERROR_LOG_MAX);
    t.set_u32(rtas, "rtas-event-scan-rate", RTAS_EVENT_SCAN_RATE);
    // ibm,os-term returns to the caller.
    t.set_prop(rtas, "ibm,extended-os-term", Vec::new());
    // Single NUMA node: four associativity levels, one domain at each. Linux uses the first
    // reference point as the primary domain index into max-associativity-domains.
    t.set_prop(
        rtas,
        "ibm,associativity-reference-points",
        cells(&[4, 3, 2, 1]),
    );
    t.set_prop(
        rtas,
        "ibm,max-associativity-domains",
        cells(&[4, 1, 1, 1, 1]),
    );
}

fn build_xics(t: &mut DeviceTree, smp: u32) {
    let ic = t.add_node(DeviceTree::ROOT, "interrupt-controller");
    // Linux's XICS code looks the presentation controller up by this compatible.
    t.set_str(ic, "device_type", "PowerPC-External-Interrupt-Presentation");
    t.set_str(ic, "compatible", "IBM,ppc-xicp");
    t.set_prop(ic, "interrupt-controller", Vec::new());
    t.set_prop(ic, "ibm,interrupt-server-ranges", cells(&[0, smp.max(1)]));
    t.set_u32(ic, "#interrupt-cells", 2);
    t.set_u32(ic, "#address-cells", 0);
}

fn build_vdevice(t: &mut DeviceTree) {
    let vdev = t.add_node(DeviceTree::ROOT, "vdevice");
    t.set_str(vdev, "device_type", "vdevice");
    t.set_str(vdev, "compatible", "IBM,vdevice");
    t.set_u32(vdev, "#address-cells", 1);
    t.set_u32(vdev, "#size-cells", 0);
    // The VIO bus is its devices' interrupt parent; its 2-cell specifiers are (XICS source,
    // sense) and Linux's XICS domain accepts them.
    t.set_prop(vdev, "interrupt-controller", Vec::new());
    t.set_u32(vdev, "#interrupt-cells", 2);
    // The devices' nodes are added by the VIO bus (`vio::Bus::build_tree`).
}

fn build_event_sources(t: &mut DeviceTree) {
    let ev = t.add_node(DeviceTree::ROOT, "event-sources");
    t.set_prop(ev, "interrupt-controller", Vec::new());
    t.set_u32(ev, "#interrupt-cells", 2);
    t.set_prop(
        ev,
        "interrupt-ranges",
        cells(&[layout::EPOW_IRQ, 1, layout::HOTPLUG_IRQ, 1]),
    );
    // Linux's RAS code requests these interrupts by path.
    let epow = t.add_node(ev, "epow-events");
    t.set_prop(epow, "interrupts", cells(&[layout::EPOW_IRQ, 0]));
    let hp = t.add_node(ev, "hot-plug-events");
    t.set_prop(hp, "interrupts", cells(&[layout::HOTPLUG_IRQ, 0]));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(smp: u32) -> MachineConfig {
        MachineConfig {
            ram_size: 512 << 20,
            smp,
            append: "console=hvc0 quiet".into(),
            ..Default::default()
        }
    }

    fn u32_at(v: &[u8], i: usize) -> u32 {
        u32::from_be_bytes([v[4 * i], v[4 * i + 1], v[4 * i + 2], v[4 * i + 3]])
    }

    fn node(t: &DeviceTree, path: &str) -> NodeId {
        t.find(path).unwrap_or_else(|| panic!("{path} missing"))
    }

    fn prop<'a>(t: &'a DeviceTree, path: &str, name: &str) -> &'a [u8] {
        t.prop(node(t, path), name)
            .unwrap_or_else(|| panic!("{path} {name} missing"))
    }

    #[test]
    fn root_identifies_a_papr_platform() {
        let t = build(&cfg(1), None);
        // prom_init's prom_find_machine_type and Linux's pSeries_probe: device_type "chrp" and
        // an /rtas node with ibm,hypertas-functions mean "pSeries LPAR".
        assert_eq!(prop(&t, "/", "device_type"), b"chrp\0");
        assert_eq!(prop(&t, "/", "compatible"), b"qemu,pseries\0");
        assert_eq!(prop(&t, "/", "model"), b"IBM pSeries (emulated by lpar)\0");
        assert_eq!(prop(&t, "/", "#address-cells"), [0, 0, 0, 2]);
        assert_eq!(prop(&t, "/", "#size-cells"), [0, 0, 0, 2]);
        assert!(t
            .prop(node(&t, "/rtas"), "ibm,hypertas-functions")
            .is_some());
    }

    #[test]
    fn chosen_has_command_line_initrd_console_and_cas_inputs() {
        let t = build(&cfg(1), Some((0x0200_0000, 0x1234)));
        assert_eq!(prop(&t, "/chosen", "bootargs"), b"console=hvc0 quiet\0");
        assert_eq!(
            prop(&t, "/chosen", "linux,initrd-start"),
            0x0200_0000u64.to_be_bytes()
        );
        assert_eq!(
            prop(&t, "/chosen", "linux,initrd-end"),
            0x0200_1234u64.to_be_bytes()
        );
        // The console path must name the vty node, whose ihandle prom_init reads from "stdout".
        assert_eq!(
            prop(&t, "/chosen", "stdout-path"),
            b"/vdevice/vty@71000000\0"
        );
        assert_eq!(
            prop(&t, "/chosen", "linux,stdout-path"),
            b"/vdevice/vty@71000000\0"
        );
        assert_eq!(
            prop(&t, "/chosen", "stdout"),
            crate::vof::STDOUT_IHANDLE.to_be_bytes()
        );
        // prom_check_platform_support reads (index, value) pairs into an 8-byte buffer:
        // 23 -> 0 (XICS only), 24 -> 0xc0 (hash or radix), 26 -> 0x40 (radix GTSE). prom_init
        // asks for radix only if radix and GTSE are both offered.
        assert_eq!(
            prop(&t, "/chosen", "ibm,arch-vec-5-platform-support"),
            [23, 0, 24, 0xc0, 25, 0, 26, 0x40]
        );
        assert_eq!(prop(&t, "/chosen", "ibm,architecture-vec-5"), [0, 0]);

        // No command line, no initrd: no properties (prom_init then uses its defaults).
        let t = build(&MachineConfig::default(), None);
        let chosen = node(&t, "/chosen");
        assert!(t.prop(chosen, "bootargs").is_none());
        assert!(t.prop(chosen, "linux,initrd-start").is_none());
    }

    #[test]
    fn mmu_support_can_be_narrowed_to_hash() {
        let mut t = build(&cfg(1), None);
        set_mmu_support(&mut t, OV5_MMU_HASH_ONLY);
        assert_eq!(
            prop(&t, "/chosen", "ibm,arch-vec-5-platform-support"),
            [23, 0, 24, 0, 25, 0, 26, 0x40]
        );
    }

    #[test]
    fn memory_covers_all_ram() {
        let t = build(&cfg(1), None);
        assert_eq!(prop(&t, "/memory@0", "device_type"), b"memory\0");
        // Two address cells and two size cells (root #address-cells/#size-cells).
        let reg = prop(&t, "/memory@0", "reg");
        assert_eq!(reg.len(), 16);
        assert_eq!(&reg[..8], 0u64.to_be_bytes());
        assert_eq!(&reg[8..], (512u64 << 20).to_be_bytes());
    }

    #[test]
    fn smt_cores_list_their_threads_and_sockets_are_chips() {
        let c = MachineConfig {
            smp: 16,
            threads: 4,
            cores: 2,
            ..cfg(16)
        };
        let t = build(&c, None);
        for core in 0..4u32 {
            let first = core * 4;
            let p = format!("/cpus/PowerPC,POWER9@{first:x}");
            assert_eq!(prop(&t, &p, "reg"), first.to_be_bytes());
            let servers: Vec<u32> = (first..first + 4).collect();
            assert_eq!(prop(&t, &p, "ibm,ppc-interrupt-server#s"), cells(&servers));
            let g: Vec<u32> = servers.iter().flat_map(|&s| [s, 0]).collect();
            assert_eq!(prop(&t, &p, "ibm,ppc-interrupt-gserver#s"), cells(&g));
            // Two cores per socket: cores 0-1 on chip 0, 2-3 on chip 1.
            assert_eq!(prop(&t, &p, "ibm,chip-id"), (core / 2).to_be_bytes());
        }
        assert!(
            t.find("/cpus/PowerPC,POWER9@1").is_none(),
            "threads are not nodes"
        );
    }

    #[test]
    fn vsmt_spaces_the_core_ids() {
        let c = MachineConfig {
            smp: 4,
            threads: 2,
            vsmt: 8,
            ..cfg(4)
        };
        let t = build(&c, None);
        for (first, servers) in [(0u32, [0u32, 1]), (8, [8, 9])] {
            let p = format!("/cpus/PowerPC,POWER9@{first:x}");
            assert_eq!(prop(&t, &p, "reg"), first.to_be_bytes());
            assert_eq!(prop(&t, &p, "ibm,ppc-interrupt-server#s"), cells(&servers));
        }
        let ic = "/interrupt-controller";
        assert_eq!(prop(&t, ic, "ibm,interrupt-server-ranges"), cells(&[0, 10]));
        assert_eq!(c.vcpu_id(3), 9);
        assert_eq!(c.id_space(), 10);
    }

    #[test]
    fn cpu_nodes_describe_power9() {
        let t = build(&cfg(2), None);
        assert_eq!(prop(&t, "/cpus", "#address-cells"), [0, 0, 0, 1]);
        assert_eq!(prop(&t, "/cpus", "#size-cells"), [0, 0, 0, 0]);
        for i in 0..2u32 {
            let p = format!("/cpus/PowerPC,POWER9@{i}");
            assert_eq!(prop(&t, &p, "reg"), i.to_be_bytes());
            assert_eq!(prop(&t, &p, "device_type"), b"cpu\0");
            assert_eq!(prop(&t, &p, "cpu-version"), 0x004e_1202u32.to_be_bytes());
            // One thread per core: the thread's server number is the vCPU number.
            assert_eq!(prop(&t, &p, "ibm,ppc-interrupt-server#s"), i.to_be_bytes());
            assert_eq!(prop(&t, &p, "ibm,ppc-interrupt-gserver#s").len(), 8);
            assert_eq!(
                prop(&t, &p, "timebase-frequency"),
                512_000_000u32.to_be_bytes()
            );
            assert_eq!(prop(&t, &p, "d-cache-block-size"), 128u32.to_be_bytes());
            assert_eq!(prop(&t, &p, "i-cache-line-size"), 128u32.to_be_bytes());
            assert_eq!(prop(&t, &p, "d-cache-size"), 0x8000u32.to_be_bytes());
            assert_eq!(prop(&t, &p, "ibm,slb-size"), 32u32.to_be_bytes());
            assert_eq!(prop(&t, &p, "ibm,vmx"), 2u32.to_be_bytes());
            assert_eq!(prop(&t, &p, "ibm,dfp"), 0u32.to_be_bytes());
            assert_eq!(prop(&t, &p, "ibm,purr"), 1u32.to_be_bytes());
            assert_eq!(prop(&t, &p, "64-bit"), b"");
            assert_eq!(prop(&t, &p, "ibm,processor-storage-keys"), [0; 8]);
        }
        let p = "/cpus/PowerPC,POWER9@0";
        // Radix page sizes: AP in bits 0:2 (MSB first), log2(size) below: 4K/AP0, 64K/AP5,
        // 2M/AP1, 1G/AP2.
        let ap = prop(&t, p, "ibm,processor-radix-AP-encodings");
        let ap: Vec<u32> = (0..ap.len() / 4).map(|i| u32_at(ap, i)).collect();
        assert_eq!(ap, [0x0000_000c, 0xa000_0010, 0x2000_0015, 0x4000_001e]);
        // Hash page sizes: 3 base sizes (no 16G); the first is 4K with SLB encoding 0 and 3
        // actual sizes, then 64K (2) and 16M (1).
        let sps = prop(&t, p, "ibm,segment-page-sizes");
        assert_eq!((u32_at(sps, 0), u32_at(sps, 1), u32_at(sps, 2)), (12, 0, 3));
        assert_eq!(sps.len(), 4 * (3 * 3 + 2 * (3 + 2 + 1)));
        // pa-features: header (66 bytes, type 0); bits Linux turns into features (and clears
        // when absent): MMU, FPU, CTRL, NX in byte 0; true LE (byte 5 bit 0); radix (byte 40
        // bit 0); no TM (byte 22 bit 0).
        let pa = prop(&t, p, "ibm,pa-features");
        assert_eq!((pa[0], pa[1], pa.len()), (66, 0, 68));
        assert_eq!(pa[2] & 0xd2, 0xd2);
        assert_eq!(pa[2 + 5] & 0x80, 0x80);
        assert_eq!(pa[PA_RADIX_BYTE], 0x80);
        assert_eq!(pa[2 + 22], 0);
        // 512 MiB of RAM: HPT of 2^29 / 128 = 2^22 bytes.
        assert_eq!(prop(&t, p, "ibm,pft-size"), cells(&[0, 22]));
    }

    #[test]
    fn rtas_lists_every_service_and_the_implemented_hcall_sets() {
        let t = build(&cfg(1), None);
        assert_eq!(
            prop(&t, "/rtas", "rtas-size"),
            (crate::rtas::RTAS_SIZE as u32).to_be_bytes()
        );
        for (name, _) in crate::rtas::table() {
            let tok = crate::rtas::token(name).expect("token");
            assert_eq!(prop(&t, "/rtas", name), tok.to_be_bytes(), "{name}");
        }
        let list = prop(&t, "/rtas", "ibm,hypertas-functions");
        let names: Vec<&str> = list
            .split(|&b| b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| std::str::from_utf8(s).expect("utf8"))
            .collect();
        for (set, nrs) in HYPERTAS_SETS {
            let all = nrs.iter().all(|&n| crate::hcall::lookup(n).is_some());
            assert_eq!(names.contains(set), all, "{set}");
        }
        // The console hcalls exist, so the terminal set is always there.
        assert!(names.contains(&"hcall-term"));
        assert_eq!(list.last(), Some(&0));
        assert_eq!(
            prop(&t, "/rtas", "rtas-error-log-max"),
            2048u32.to_be_bytes()
        );
        let dom = prop(&t, "/rtas", "ibm,max-associativity-domains");
        let refp = prop(&t, "/rtas", "ibm,associativity-reference-points");
        // Linux indexes the domain counts by the first reference point: one node.
        assert_eq!(u32_at(dom, u32_at(refp, 0) as usize), 1);
    }

    #[test]
    fn hpt_resize_set_follows_the_machine_property() {
        let names = |cfg: &MachineConfig| -> Vec<String> {
            let t = build(cfg, None);
            prop(&t, "/rtas", "ibm,hypertas-functions")
                .split(|&b| b == 0)
                .filter(|s| !s.is_empty())
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        };
        let on = names(&cfg(1));
        assert!(on.iter().any(|n| n == "hcall-hpt-resize"));
        let off = names(&MachineConfig {
            resize_hpt: false,
            ..cfg(1)
        });
        assert!(!off.iter().any(|n| n == "hcall-hpt-resize"));
        // Nothing else changes.
        assert_eq!(off.len() + 1, on.len());
    }

    #[test]
    fn vio_xics_and_event_sources() {
        let t = build(&cfg(3), None);
        assert_eq!(prop(&t, "/vdevice", "device_type"), b"vdevice\0");
        assert_eq!(prop(&t, "/vdevice", "compatible"), b"IBM,vdevice\0");
        assert_eq!(prop(&t, "/vdevice", "#address-cells"), [0, 0, 0, 1]);
        assert_eq!(prop(&t, "/vdevice", "#interrupt-cells"), [0, 0, 0, 2]);
        assert!(t
            .prop(node(&t, "/vdevice"), "interrupt-controller")
            .is_some());

        let ic = "/interrupt-controller";
        assert_eq!(prop(&t, ic, "compatible"), b"IBM,ppc-xicp\0");
        assert_eq!(
            prop(&t, ic, "device_type"),
            b"PowerPC-External-Interrupt-Presentation\0"
        );
        assert_eq!(prop(&t, ic, "ibm,interrupt-server-ranges"), cells(&[0, 3]));
        assert_eq!(prop(&t, ic, "#interrupt-cells"), [0, 0, 0, 2]);

        assert_eq!(
            prop(&t, "/event-sources/epow-events", "interrupts"),
            cells(&[0x1200, 0])
        );
        assert_eq!(
            prop(&t, "/event-sources/hot-plug-events", "interrupts"),
            cells(&[0x1201, 0])
        );
    }

    #[test]
    fn flattens() {
        let t = build(&cfg(2), Some((0x100_0000, 0x1000)));
        let blob = t.to_fdt(0).expect("fdt");
        assert_eq!(&blob[..4], &0xd00d_feedu32.to_be_bytes());
    }

    fn cfg_cpu(model: CpuModel, max_compat: Option<IsaLevel>) -> MachineConfig {
        MachineConfig {
            cpu_model: model,
            max_compat,
            ..cfg(1)
        }
    }

    #[test]
    fn cpu_nodes_per_model() {
        // (model, node, PVR, L1 d-cache, pa-features length, radix)
        for (model, path, pvr, l1d, pa_len, radix) in [
            (
                CpuModel::Power7,
                "/cpus/PowerPC,POWER7@0",
                0x003f_0203u32,
                32u32,
                6,
                false,
            ),
            (
                CpuModel::Power8,
                "/cpus/PowerPC,POWER8@0",
                0x004d_0200,
                64,
                24,
                false,
            ),
            (
                CpuModel::Power9,
                "/cpus/PowerPC,POWER9@0",
                0x004e_1202,
                32,
                66,
                true,
            ),
            (
                CpuModel::Power10,
                "/cpus/PowerPC,POWER10@0",
                0x0080_1200,
                48,
                74,
                true,
            ),
        ] {
            let t = build(&cfg_cpu(model, None), None);
            assert_eq!(
                prop(&t, path, "cpu-version"),
                pvr.to_be_bytes(),
                "{model:?}"
            );
            assert_eq!(prop(&t, path, "d-cache-size"), (l1d << 10).to_be_bytes());
            assert_eq!(prop(&t, path, "i-cache-size"), (32u32 << 10).to_be_bytes());
            assert_eq!(prop(&t, path, "d-cache-block-size"), 128u32.to_be_bytes());
            assert_eq!(prop(&t, path, "ibm,vmx"), 2u32.to_be_bytes());
            assert_eq!(prop(&t, path, "ibm,dfp"), 0u32.to_be_bytes());
            assert!(t.prop(node(&t, path), "ibm,segment-page-sizes").is_some());
            let pa = prop(&t, path, "ibm,pa-features");
            assert_eq!((pa[0] as usize, pa[1], pa.len()), (pa_len, 0, pa_len + 2));
            // Every model: MMU, FPU, CTRL, NX; true little-endian; no TM.
            assert_eq!(pa[2] & 0xd2, 0xd2);
            assert_eq!(pa[2 + 5] & 0x80, 0x80);
            assert!(pa.get(2 + 22).is_none_or(|&b| b == 0));
            assert_eq!(
                pa.get(PA_RADIX_BYTE).map(|b| b & 0x80 != 0),
                radix.then_some(true)
            );
            // The second DAWR (byte 64) is not offered even on POWER10.
            assert!(pa.get(2 + 64).is_none_or(|&b| b == 0));
            assert_eq!(
                t.prop(node(&t, path), "ibm,processor-radix-AP-encodings")
                    .is_some(),
                radix
            );
            // Hash-only machines say so before CAS.
            let support = prop(&t, "/chosen", "ibm,arch-vec-5-platform-support");
            let mmu = if radix {
                OV5_MMU_DYNAMIC
            } else {
                OV5_MMU_HASH_ONLY
            };
            assert_eq!(support[..4], [23, 0, 24, mmu]);
        }
        // ISA 2.07 adds vector, VSX and crypto (bytes 16, 18, 20) to 2.06's six bytes.
        let p8 = pa_features(IsaLevel::V2_07);
        assert_eq!((p8[2 + 16], p8[2 + 18], p8[2 + 20]), (0x80, 0x80, 0x80));
        assert_eq!(p8[2 + 5], 0xf0);
        assert_eq!(
            pa_features(IsaLevel::V2_06)[2..],
            [0xf6, 0x1f, 0xc7, 0x00, 0x80, 0xc0]
        );
        // POWER10 has POWER9's attributes.
        assert_eq!(
            pa_features(IsaLevel::V3_1)[2..68],
            pa_features(IsaLevel::V3_0)[2..]
        );
    }

    #[test]
    fn compat_limit_shapes_the_cpu_nodes() {
        // A POWER10 limited to the POWER9 mode: POWER10 node and caches, POWER9's logical PVR
        // and attributes before CAS.
        let t = build(&cfg_cpu(CpuModel::Power10, Some(IsaLevel::V3_0)), None);
        let p = "/cpus/PowerPC,POWER10@0";
        assert_eq!(prop(&t, p, "cpu-version"), 0x0f00_0005u32.to_be_bytes());
        assert_eq!(prop(&t, p, "ibm,pa-features").len(), 68);
        // A POWER9 in the POWER8 mode: hash only.
        let t = build(&cfg_cpu(CpuModel::Power9, Some(IsaLevel::V2_07)), None);
        let p = "/cpus/PowerPC,POWER9@0";
        assert_eq!(prop(&t, p, "cpu-version"), 0x0f00_0004u32.to_be_bytes());
        assert_eq!(prop(&t, p, "ibm,pa-features").len(), 26);
        let support = prop(&t, "/chosen", "ibm,arch-vec-5-platform-support");
        assert_eq!(support[3], OV5_MMU_HASH_ONLY);
    }

    #[test]
    fn compat_newer_than_the_cpu_is_rejected() {
        let c = cfg_cpu(CpuModel::Power8, Some(IsaLevel::V3_0));
        assert_eq!(
            c.check_cpu(),
            Err("-cpu POWER8,compat=power9: compat mode newer than the CPU".to_string())
        );
        let e = crate::machine::Machine::new(c, Box::new(std::io::sink())).err();
        assert_eq!(
            e.as_deref(),
            Some("-cpu POWER8,compat=power9: compat mode newer than the CPU")
        );
        for (model, compat) in [
            (CpuModel::Power8, IsaLevel::V2_07),
            (CpuModel::Power8, IsaLevel::V2_06),
            (CpuModel::Power10, IsaLevel::V3_0),
        ] {
            assert_eq!(cfg_cpu(model, Some(compat)).check_cpu(), Ok(()));
        }
        assert!(cfg_cpu(CpuModel::Power9, Some(IsaLevel::V3_1))
            .check_cpu()
            .is_err());
    }
}
