//! `devtree`: the machine's device tree built (`spapr::fdt::build`) for an arbitrary configuration
//! the machine accepts, flattened as `-bios` boot does, and checked: a well-formed FDT, every node
//! of the live tree present with a distinct phandle, and the command line and RAM size carried over
//! intact.
//!
//! Input: byte 0 model (bits 0-1), compat limit (2-4: none or a level), resize-hpt (5); byte 1
//! vCPUs (1..16); u16 RAM in 256 MiB blocks; kernel-addr selector; initrd selector; u32 boot CPU;
//! the rest is the kernel command line (arbitrary bytes, made UTF-8 lossily as the CLI would refuse
//! non-UTF-8).

use crate::fdt_check;
use crate::input::Input;
use ppc::cpu::IsaLevel;
use ppc::CpuModel;
use spapr::MachineConfig;

const LEVELS: [IsaLevel; 4] = [
    IsaLevel::V2_06,
    IsaLevel::V2_07,
    IsaLevel::V3_0,
    IsaLevel::V3_1,
];

pub fn devtree(data: &[u8]) {
    let mut inp = Input::new(data);
    let b0 = inp.u8();
    let cpu_model = CpuModel::ALL[b0 as usize & 3];
    let compat = (b0 >> 2) & 7;
    let max_compat = (compat < 4).then(|| LEVELS[compat as usize]);
    let smp = 1 + inp.u8() as u32 % 16;
    let ram_size = (1 + inp.u16() as u64) << 28;
    let kernel_addr = match inp.u8() & 3 {
        0 => 0,
        1 => (inp.u16() as u64) << 16,
        2 => ram_size - (1 << 16),
        _ => inp.u64(),
    };
    let initrd = match inp.u8() & 3 {
        0 => None,
        1 => Some((inp.u32() as u64, inp.u32() as u64)),
        2 => Some((ram_size / 2, 0)),
        _ => Some((inp.u64(), inp.u64())),
    };
    let boot_cpuid = inp.u32() % smp;
    // SMT: 1, 2, 4 or 8 threads per core, vsmt 0 (= threads) or a power of two up to 8.
    let topo = inp.u8();
    let threads = 1u32 << (topo & 3);
    let vsmt = match (topo >> 2) & 3 {
        0 => 0,
        k => (1u32 << (k + 1)).max(threads),
    };
    let cfg = MachineConfig {
        ram_size,
        smp,
        threads,
        cores: 1 + (topo >> 4) as u32 % 4,
        vsmt,
        cpu_model,
        max_compat,
        resize_hpt: b0 & 0x20 != 0,
        kernel_addr,
        append: String::from_utf8_lossy(inp.rest()).into_owned(),
        ..Default::default()
    };
    // Only configurations `Machine::new` would accept.
    if cfg.check_cpu().is_err() || cfg.check_kernel_addr().is_err() {
        return;
    }

    let tree = spapr::fdt::build(&cfg, initrd);
    let blob = match tree.to_fdt(boot_cpuid) {
        Ok(b) => b,
        Err(e) => panic!("the tree of an accepted configuration does not flatten: {e:?}"),
    };
    let nodes = match fdt_check::check(&blob) {
        Ok(n) => n,
        Err(e) => panic!("bad FDT: {e}"),
    };
    crate::trace!(
        "devtree: {} nodes, {} bytes: {cfg:?}",
        nodes.len(),
        blob.len()
    );
    assert_eq!(nodes.len(), tree.len(), "nodes lost in flattening");
    let mut phandles: Vec<&[u8]> = nodes.iter().filter_map(|n| n.prop("phandle")).collect();
    assert_eq!(phandles.len(), nodes.len(), "a node without a phandle");
    assert!(phandles.iter().all(|p| p.len() == 4 && **p != [0; 4]));
    phandles.sort();
    phandles.dedup();
    assert_eq!(phandles.len(), nodes.len(), "duplicate phandles");

    let find = |path: &str| nodes.iter().find(|n| n.path == path);
    let chosen = find("/chosen").expect("/chosen node");
    let bootargs = chosen.prop("bootargs");
    if cfg.append.is_empty() {
        assert_eq!(bootargs, None, "bootargs without -append");
    } else {
        let mut want = cfg.append.as_bytes().to_vec();
        want.push(0);
        assert_eq!(bootargs, Some(&want[..]), "bootargs differ from -append");
    }
    let memory = find("/memory@0").expect("/memory@0 node");
    let mut reg = 0u64.to_be_bytes().to_vec();
    reg.extend(ram_size.to_be_bytes());
    assert_eq!(memory.prop("reg"), Some(&reg[..]), "memory reg");
    // One node per core, listing every thread's server: the vCPU ids, each once.
    let cores: Vec<_> = nodes
        .iter()
        .filter(|n| n.prop("device_type") == Some(b"cpu\0"))
        .collect();
    assert_eq!(cores.len(), smp.div_ceil(threads) as usize, "cpu nodes");
    let mut servers: Vec<u32> = cores
        .iter()
        .flat_map(|n| {
            n.prop("ibm,ppc-interrupt-server#s")
                .unwrap_or(&[])
                .chunks(4)
        })
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    servers.sort_unstable();
    let want: Vec<u32> = (0..smp).map(|i| cfg.vcpu_id(i)).collect();
    assert_eq!(servers, want, "interrupt servers are the vCPU ids");
}
