//! Machine bring-up and the run loop: creates the machine, loads the kernel and initrd (or a -bios
//! image), builds the device tree, installs the client interface, sets the boot vCPU's entry state,
//! and runs every vCPU on its own host thread until power-off, reset or termination.

use crate::loader;
use crate::machine::{Machine, MachineConfig, RunState};
use crate::vcpu::Vcpu;
use ppc::cpu::{msr, sprn};
use ppc::Cpu;
use std::sync::Arc;

/// Where -bios firmware starts (QEMU's SPAPR_ENTRY_POINT).
pub const BIOS_ENTRY: u64 = 0x100;
/// Maximum size of the flattened tree handed to -bios firmware.
pub const FDT_MAX_SIZE: u64 = 0x10_0000;

/// Top of the region firmware may use: the first 256 MiB (the real-mode area) or all RAM if less.
pub fn fw_top(ram: u64) -> u64 {
    ram.min(256 << 20)
}

/// Creates the machine with everything loaded and the boot vCPU at its entry point.
pub fn create(
    cfg: MachineConfig,
    console: Box<dyn std::io::Write + Send>,
) -> Result<(Arc<Machine>, Vec<Vcpu>), String> {
    let m = Machine::new(cfg, console)?;
    let cfg = m.config.clone();
    let mut vcpus = make_vcpus(&m);
    let boot = &mut vcpus[0].cpu;
    boot.set_msr(msr::SF | msr::ME);
    if let Some(bios) = &cfg.bios {
        // Firmware gets the flattened tree in r3, as SLOF expects from QEMU.
        loader::load_raw(&m.mem, bios)?;
        let tree = crate::fdt::build(&cfg, None);
        let blob = tree.to_fdt(0).map_err(|e| format!("device tree: {e:?}"))?;
        let at = fw_top(cfg.ram_size) - 2 * FDT_MAX_SIZE;
        if blob.len() as u64 > FDT_MAX_SIZE || !m.mem.write(at, &blob) {
            return Err("device tree: too large".into());
        }
        *m.tree.lock().map_err(|_| "device tree lock")? = tree;
        boot.pc = BIOS_ENTRY;
        boot.gpr[3] = at;
    } else {
        let Some(kpath) = &cfg.kernel else {
            return Err("no -kernel or -bios given".into());
        };
        let k = loader::load_kernel(&m.mem, kpath, cfg.kernel_addr)?;
        let initrd = match &cfg.initrd {
            Some(p) => {
                let at = loader::initrd_addr(&k);
                Some((at, loader::load_initrd(&m.mem, p, at)?))
            }
            None => None,
        };
        let tree = crate::fdt::build(&cfg, initrd);
        let entry = {
            let mut vof = m.vof.lock().map_err(|_| "client interface lock")?;
            *vof = crate::vof::Vof::new(cfg.ram_size);
            vof.install(&m.mem, &tree, (k.low, k.high), initrd)?
        };
        *m.tree.lock().map_err(|_| "device tree lock")? = tree;
        // prom_init's contract: r3/r4 = initrd, r5 = client interface entry, r1 = a stack.
        boot.pc = k.entry;
        boot.gpr[1] = entry.stack_top;
        boot.gpr[3] = initrd.map_or(0, |i| i.0);
        boot.gpr[4] = initrd.map_or(0, |i| i.1);
        boot.gpr[5] = entry.ci_entry;
    }
    Ok((Arc::new(m), vcpus))
}

/// One CPU per -smp, wired to its XICS server and per-vCPU hypervisor state.
fn make_vcpus(m: &Machine) -> Vec<Vcpu> {
    let slots = m.cpus.lock().map(|c| c.clone()).unwrap_or_default();
    slots
        .iter()
        .enumerate()
        .map(|(i, slot)| {
            let model = m.config.cpu_model;
            let mut cpu = Cpu::new(model, m.mem.clone());
            cpu.spr[sprn::PIR] = i as u64;
            cpu.spr[sprn::PVR] = model.pvr() as u64;
            cpu.irq = slot.irq.clone();
            cpu.async_irqs = true;
            m.xics.connect(i as u32, slot.irq.clone());
            Vcpu::new(i, cpu)
        })
        .collect()
}

/// Runs all vCPUs (vCPU 0 on the calling thread) until the machine stops; returns why.
pub fn run(m: &Arc<Machine>, mut vcpus: Vec<Vcpu>) -> RunState {
    let rest: Vec<Vcpu> = vcpus.drain(1..).collect();
    let threads: Vec<_> = rest
        .into_iter()
        .map(|mut v| {
            let m = m.clone();
            std::thread::spawn(move || v.run(&m))
        })
        .collect();
    let st = match vcpus.first_mut() {
        Some(v) => v.run(m),
        None => RunState::Terminated("no vCPU".into()),
    };
    m.kick();
    for t in threads {
        let _ = t.join();
    }
    st
}
