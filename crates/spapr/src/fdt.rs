//! Builds the machine's device tree: /, /chosen, /memory, /cpus, /rtas, /vdevice, /interrupt-controller,
//! /event-sources, with the `ibm,*` properties Linux's pseries platform reads.
//!
//! The guest reads this tree through the built-in client interface (prom_init walks it with
//! `child`/`peer`/`nextprop`/`getprop` and flattens it for the kernel), so every property here is one
//! the kernel or prom_init consumes; the comments say who reads what.

use crate::devtree::{cells, cells64, strings, DeviceTree, NodeId};
use crate::machine::{layout, MachineConfig};

/// Root `model`.
pub const MODEL: &str = "IBM pSeries (emulated by lpar)";
/// Path of the console (the stdout of the client interface).
pub const VTY_PATH: &str = "/vdevice/vty@71000000";

/// POWER9 cache geometry (L1 I and D: 32 KiB, 128-byte lines).
const CACHE_LINE: u32 = 128;
const L1_DCACHE: u32 = 32 * 1024;
const L1_ICACHE: u32 = 32 * 1024;
/// Processor clock the tree advertises (only used for reporting by the guest).
const CLOCK_FREQ: u32 = 1_000_000_000;
/// POWER9 SLB entries (hash MMU).
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
    // H_REMOVE, H_ENTER, H_READ, H_CLEAR_MOD, H_CLEAR_REF, H_PROTECT
    ("hcall-pft", &[0x04, 0x08, 0x0c, 0x10, 0x14, 0x18]),
    // H_GET_TERM_CHAR, H_PUT_TERM_CHAR
    ("hcall-term", &[0x54, 0x58]),
    // H_SET_DABR
    ("hcall-dabr", &[0x28]),
    // H_EOI, H_CPPR, H_IPI, H_IPOLL, H_XIRR
    ("hcall-interrupt", &[0x64, 0x68, 0x6c, 0x70, 0x74]),
    // H_GET_TCE, H_PUT_TCE
    ("hcall-tce", &[0x1c, 0x20]),
    // H_VIO_SIGNAL
    ("hcall-vio", &[0x104]),
    // H_REGISTER_VPA, H_CEDE, H_CONFER, H_PROD
    ("hcall-splpar", &[0xdc, 0xe0, 0xe4, 0xe8]),
    // H_JOIN
    ("hcall-join", &[0x298]),
    // H_BULK_REMOVE
    ("hcall-bulk", &[0x24c]),
    // H_SET_MODE
    ("hcall-set-mode", &[0x31c]),
    // H_SET_SPRG0
    ("hcall-sprg0", &[0x24]),
    // H_PAGE_INIT
    ("hcall-copy", &[0x2c]),
    // H_LOGICAL_CI_LOAD, H_LOGICAL_CI_STORE
    ("hcall-debug", &[0x3c, 0x40]),
    // H_HOME_NODE_ASSOCIATIVITY
    ("hcall-vphn", &[0x2ec]),
    // H_PUT_TCE_INDIRECT, H_STUFF_TCE
    ("hcall-multi-tce", &[0x138, 0x13c]),
    // H_RESIZE_HPT_PREPARE, H_RESIZE_HPT_COMMIT
    ("hcall-hpt-resize", &[0x36c, 0x370]),
    // H_RPT_INVALIDATE
    ("hcall-rpt-invalidate", &[0x448]),
    // H_WATCHDOG
    ("hcall-watchdog", &[0x45c]),
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
    build_rtas(&mut t);
    build_xics(&mut t, cfg.smp);
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
    // prom_init_stdout reads the *ihandle* of an open console from "stdout"; the client interface
    // opens the console under this ihandle when it is installed.
    t.set_u32(chosen, "stdout", crate::vof::STDOUT_IHANDLE);
    // What the guest may ask for in option vector 5 (pairs of byte index, allowed value):
    // byte 23 interrupt controller: 0 = XICS (legacy) only; byte 24 MMU: hash and radix;
    // byte 25 hash extensions: none; byte 26 radix extensions: GTSE.
    // prom_check_platform_support parses at most 8 bytes of it.
    t.set_prop(
        chosen,
        "ibm,arch-vec-5-platform-support",
        vec![23, 0x00, 24, OV5_MMU_DYNAMIC, 25, 0x00, 26, 0x40],
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

/// Log2 of the hash page table size for `ram`: 1/128 of RAM rounded up to a power of two, within
/// the architected 256 KiB .. 64 TiB.
fn hpt_shift(ram: u64) -> u32 {
    let pow2 = ram.max(1).checked_next_power_of_two().unwrap_or(1 << 63);
    (pow2.trailing_zeros().saturating_sub(7)).clamp(18, 46)
}

/// POWER9 `ibm,pa-features`: a 2-byte header (length, type 0) then attribute bytes; bits are
/// numbered from the MSB of each byte. Linux's scan_features *clears* a feature whose bit is 0,
/// so the radix bit (byte 40) and true little-endian (byte 5) must be present.
pub fn pa_features_power9() -> Vec<u8> {
    const LEN: usize = 66;
    // (byte, bit, meaning)
    const BITS: &[(usize, u8)] = &[
        (0, 0),  // MMU
        (0, 1),  // FPU
        (0, 2),  // SLB
        (0, 3),  // RUN latch (CTRL)
        (0, 5),  // DABR
        (0, 6),  // no-execute
        (1, 3),  // fri[nzpm]
        (1, 4),  // DABRX
        (1, 5),  // SPRG3 readable
        (1, 6),  // SLB entry 0 fixed
        (1, 7),  // PP = 110
        (2, 0),  // VPM
        (2, 1),  // data stream 2.05
        (2, 5),  // PPR
        (2, 6),  // data stream 2.02
        (2, 7),  // data stream 2.06
        (3, 0),  // lsd
        (3, 1),  // URG
        (4, 0),  // strong access ordering
        (5, 0),  // true little-endian
        (5, 1),  // CFAR
        (5, 2),  // EB
        (5, 3),  // load/store quadword
        (6, 0),  // data stream 2.07
        (16, 0), // vector
        (18, 0), // vector-scalar
        (20, 0), // vector crypto / XOR
        (24, 0), // extended decrementer
        (26, 0), // 64-bit facilities of 2.07
        (28, 0), // performance monitor facilities
        (30, 0), // move to/from MMR
        (32, 0), // little-endian atomics
        (34, 0), // event-based branch
        (34, 1), // extended EBB
        (36, 0), // SPR stack-overflow
        (38, 0), // copy/paste
        (40, 0), // radix MMU
        (42, 0), // ISA 3.0 performance monitor
        (44, 0), // PC-relative addressing
        (46, 0), // vectored system call
        (48, 0), // SIMD (ISA 3.0 vector)
        (50, 0), // quad-precision binary FP
        (52, 0), // string instructions
        (56, 0), // decimal integer
        (58, 0), // SHA
        (60, 0), // non-mutual-exclusion atomics
    ];
    let mut v = vec![0u8; 2 + LEN];
    v[0] = LEN as u8;
    for &(byte, bit) in BITS {
        v[2 + byte] |= 0x80 >> bit;
    }
    v
}

/// Index of the radix bit within the `ibm,pa-features` property (byte 40 after the header).
pub const PA_RADIX_BYTE: usize = 2 + 40;

/// POWER9 hash page sizes (`ibm,segment-page-sizes`): per base page size, the SLB encoding and
/// the actual page sizes with their PTE encodings (4K, 64K, 16M, 16G).
fn segment_page_sizes() -> Vec<u8> {
    /// (base page shift, SLB encoding, [(actual page shift, PTE encoding)])
    type SegmentSize = (u32, u32, &'static [(u32, u32)]);
    const SIZES: &[SegmentSize] = &[
        (12, 0x000, &[(12, 0x0), (16, 0x7), (24, 0x38)]),
        (16, 0x110, &[(16, 0x1), (24, 0x8)]),
        (24, 0x100, &[(24, 0x0)]),
        (34, 0x120, &[(34, 0x3)]),
    ];
    let mut c = Vec::new();
    for &(shift, slb, encs) in SIZES {
        c.extend([shift, slb, encs.len() as u32]);
        for &(ps, enc) in encs {
            c.extend([ps, enc]);
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
    for i in 0..cfg.smp.max(1) {
        let cpu = t.add_node(cpus, &format!("PowerPC,POWER9@{i:x}"));
        cpu_props(t, cpu, i, cfg.ram_size);
    }
}

fn cpu_props(t: &mut DeviceTree, cpu: NodeId, index: u32, ram_size: u64) {
    t.set_u32(cpu, "reg", index);
    t.set_str(cpu, "device_type", "cpu");
    // The real PVR; CAS replaces it with the negotiated logical PVR.
    t.set_u32(cpu, "cpu-version", layout::PVR_POWER9);
    t.set_u32(cpu, "d-cache-block-size", CACHE_LINE);
    t.set_u32(cpu, "d-cache-line-size", CACHE_LINE);
    t.set_u32(cpu, "i-cache-block-size", CACHE_LINE);
    t.set_u32(cpu, "i-cache-line-size", CACHE_LINE);
    t.set_u32(cpu, "d-cache-size", L1_DCACHE);
    t.set_u32(cpu, "i-cache-size", L1_ICACHE);
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
    t.set_prop(cpu, "ibm,pa-features", pa_features_power9());
    t.set_u32(cpu, "ibm,chip-id", 0);
    // Hash page table size for a hash guest (first cell reserved).
    t.set_prop(cpu, "ibm,pft-size", cells(&[0, hpt_shift(ram_size)]));
    // One thread per core: the interrupt server is the vCPU number; the "gserver" pairs send the
    // global queue to server 0.
    t.set_u32(cpu, "ibm,ppc-interrupt-server#s", index);
    t.set_prop(cpu, "ibm,ppc-interrupt-gserver#s", cells(&[index, 0]));
    t.set_prop(
        cpu,
        "ibm,processor-radix-AP-encodings",
        radix_ap_encodings(),
    );
    // No storage keys (data, instruction).
    t.set_prop(cpu, "ibm,processor-storage-keys", cells(&[0, 0]));
}

/// The hypercall sets whose hcalls are all present in the machine's hcall tables.
fn hypertas(sets: &[(&str, &[u64])]) -> Vec<u8> {
    let names: Vec<&str> = sets
        .iter()
        .filter(|(_, nrs)| nrs.iter().all(|&nr| crate::hcall::lookup(nr).is_some()))
        .map(|&(name, _)| name)
        .collect();
    strings(&names)
}

fn build_rtas(t: &mut DeviceTree) {
    let rtas = t.add_node(DeviceTree::ROOT, "rtas");
    // prom_init allocates this much and calls instantiate-rtas there.
    t.set_u32(rtas, "rtas-size", crate::rtas::RTAS_SIZE as u32);
    for (name, _) in crate::rtas::table() {
        if let Some(tok) = crate::rtas::token(name) {
            t.set_u32(rtas, name, tok);
        }
    }
    // Its presence makes prom_init and Linux treat the machine as an LPAR (hypercalls).
    t.set_prop(rtas, "ibm,hypertas-functions", hypertas(HYPERTAS_SETS));
    t.set_prop(
        rtas,
        "qemu,hypertas-functions",
        hypertas(QEMU_HYPERTAS_SETS),
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

    // The console: Linux's hvc_vio binds to compatible "hvterm1" and uses reg as termno.
    let vty = t.add_node(vdev, &format!("vty@{:x}", layout::VTY_REG));
    t.set_str(vty, "device_type", "serial");
    t.set_str(vty, "compatible", "hvterm1");
    t.set_u32(vty, "reg", layout::VTY_REG);
    t.set_prop(vty, "interrupts", cells(&[layout::VTY_IRQ, 0]));

    // NVRAM, accessed through RTAS nvram-fetch/nvram-store; Linux sizes it from #bytes.
    let nvram = t.add_node(vdev, &format!("nvram@{:x}", layout::NVRAM_REG));
    t.set_str(nvram, "device_type", "nvram");
    t.set_str(nvram, "compatible", "qemu,spapr-nvram");
    t.set_u32(nvram, "reg", layout::NVRAM_REG);
    t.set_u32(nvram, "#bytes", layout::NVRAM_SIZE);
    t.set_prop(nvram, "interrupts", cells(&[layout::NVRAM_IRQ, 0]));
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
        assert!(t.find(VTY_PATH).is_some());
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
        // Hash page sizes: 4 base sizes; the first is 4K with SLB encoding 0 and 3 actual sizes.
        let sps = prop(&t, p, "ibm,segment-page-sizes");
        assert_eq!((u32_at(sps, 0), u32_at(sps, 1), u32_at(sps, 2)), (12, 0, 3));
        assert_eq!(sps.len(), 4 * (4 * 3 + 2 * (3 + 2 + 1 + 1)));
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
    fn hash_table_size_rule() {
        assert_eq!(hpt_shift(64 << 20), 19);
        assert_eq!(hpt_shift(100 << 20), 20, "rounded up to 128 MiB");
        assert_eq!(hpt_shift(1 << 20), 18, "architected minimum");
        assert_eq!(hpt_shift(u64::MAX), 46, "architected maximum");
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
    fn vio_xics_and_event_sources() {
        let t = build(&cfg(3), None);
        assert_eq!(prop(&t, "/vdevice", "device_type"), b"vdevice\0");
        assert_eq!(prop(&t, "/vdevice", "compatible"), b"IBM,vdevice\0");
        assert_eq!(prop(&t, "/vdevice", "#address-cells"), [0, 0, 0, 1]);
        assert_eq!(prop(&t, "/vdevice", "#interrupt-cells"), [0, 0, 0, 2]);
        assert!(t
            .prop(node(&t, "/vdevice"), "interrupt-controller")
            .is_some());
        let vty = "/vdevice/vty@71000000";
        assert_eq!(prop(&t, vty, "device_type"), b"serial\0");
        assert_eq!(prop(&t, vty, "compatible"), b"hvterm1\0");
        assert_eq!(prop(&t, vty, "reg"), 0x7100_0000u32.to_be_bytes());
        assert_eq!(prop(&t, vty, "interrupts"), cells(&[0x1100, 0]));
        let nv = "/vdevice/nvram@71000001";
        assert_eq!(prop(&t, nv, "device_type"), b"nvram\0");
        assert_eq!(prop(&t, nv, "#bytes"), 0x1_0000u32.to_be_bytes());
        assert_eq!(prop(&t, nv, "reg"), 0x7100_0001u32.to_be_bytes());

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
}
