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
        let mut tree = crate::fdt::build(&cfg, None);
        m.build_device_nodes(&mut tree);
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
        let mut tree = crate::fdt::build(&cfg, initrd);
        m.build_device_nodes(&mut tree);
        let entry = {
            let mut vof = m.vof.lock().map_err(|_| "client interface lock")?;
            *vof = crate::vof::Vof::new(cfg.ram_size);
            vof.install(&m.mem, &tree, (k.low, k.high), initrd)?
        };
        *m.tree.lock().map_err(|_| "device tree lock")? = tree;
        // The firmware's part of the TPM's life (SLOF starts it before the OS).
        for t in m.vio.all::<crate::vio::vtpm::Vtpm>() {
            t.firmware_startup()?;
        }
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
    // Waits spin only while the vCPU threads leave a host CPU free (one thread runs them all
    // with -icount).
    devices::poll::configure(if m.config.round_robin() {
        1
    } else {
        slots.len()
    });
    slots
        .iter()
        .enumerate()
        .filter(|(_, slot)| slot.present)
        .map(|(i, slot)| {
            let model = m.config.cpu_model;
            let mut cpu = Cpu::new(model, m.mem.clone());
            cpu.spr[sprn::PIR] = i as u64;
            cpu.threads = m.config.threads.max(1);
            // Ids of a core's threads are consecutive from a multiple of the stride (vsmt).
            let stride = m.config.vsmt.max(cpu.threads);
            cpu.spr[sprn::TIR] = (i as u32 % stride) as u64;
            cpu.spr[sprn::PVR] = model.pvr() as u64;
            cpu.irq = slot.irq.clone();
            cpu.smp = m.smp.clone();
            cpu.mmio = Some(m.bus.clone());
            if let Some(c) = &m.vclock {
                cpu.set_clock(c.clone());
            }
            cpu.async_irqs = true;
            m.xics.connect(i as u32, slot.irq.clone());
            Vcpu::new(i, cpu, m.config.code_cache_budget(), m.config.jit)
        })
        .collect()
}

/// Runs all vCPUs (vCPU 0 on the calling thread) until the machine stops; returns why. A vCPU
/// that panics stops the whole machine with `RunState::Crashed` instead of vanishing while the
/// others run on.
pub fn run(m: &Arc<Machine>, mut vcpus: Vec<Vcpu>) -> RunState {
    if m.config.round_robin() {
        let m2 = m.clone();
        return match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            run_round_robin(&m2, &mut vcpus)
        })) {
            Ok(st) => st,
            Err(p) => {
                let st = RunState::Crashed(format!("a vCPU panicked: {}", panic_message(&*p)));
                m.request(st.clone());
                st
            }
        };
    }
    let rest: Vec<Vcpu> = vcpus.drain(1..).collect();
    let threads: Vec<_> = rest
        .into_iter()
        .map(|v| {
            let m = m.clone();
            std::thread::Builder::new()
                .name(format!("vcpu{}", v.id))
                .spawn(move || run_guarded(&m, v))
        })
        .collect();
    for t in &threads {
        if let Err(e) = t {
            m.request(RunState::Crashed(format!(
                "cannot start a vCPU thread: {e}"
            )));
        }
    }
    let st = match vcpus.pop() {
        Some(v) => run_guarded(m, v),
        None => RunState::Terminated("no vCPU".into()),
    };
    m.kick();
    for t in threads.into_iter().flatten() {
        let _ = t.join();
    }
    // The first request wins: a crash elsewhere outranks what vCPU 0 saw.
    match m.run_state() {
        RunState::Running => st,
        s => s,
    }
}

/// The text of a panic payload.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Runs every vCPU on this thread, one slice each in turn (`-icount`, `-accel tcg,thread=single`):
/// the same inputs give the same execution. When all are idle, the virtual clock jumps to the
/// earliest decrementer deadline (icount), or the thread sleeps until it or a device wakes it.
fn run_round_robin(m: &Machine, vcpus: &mut [Vcpu]) -> RunState {
    loop {
        let mut ran = false;
        let mut next: Option<u64> = None;
        let token = m.wake.token();
        for v in vcpus.iter_mut() {
            match v.step(m) {
                crate::vcpu::Step::Stopped(st) => return st,
                crate::vcpu::Step::Ran => ran = true,
                crate::vcpu::Step::Idle(Some(t)) => next = Some(next.map_or(t, |n| n.min(t))),
                crate::vcpu::Step::Idle(None) => {}
            }
        }
        if ran {
            continue;
        }
        match (&m.vclock, next) {
            (Some(c), Some(ticks)) => c.warp_ticks(ticks),
            _ => {
                // Real time, or nothing armed: wait for a device (console input) or the deadline.
                let ns = next.map_or(10_000_000, |t| {
                    (t as u128 * 1_000_000_000 / ppc::cpu::TB_FREQ as u128).clamp(1000, 10_000_000)
                        as u64
                });
                m.wake.wait(token, ns);
            }
        }
    }
}

/// Runs one vCPU, turning a panic into a machine-wide `Crashed` state.
fn run_guarded(m: &Arc<Machine>, mut v: Vcpu) -> RunState {
    let id = v.id;
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| v.run(m))) {
        Ok(st) => st,
        Err(payload) => {
            let msg = panic_message(&*payload);
            let st = RunState::Crashed(format!("vCPU {id} panicked: {msg}"));
            m.request(st.clone());
            st
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A vCPU thread that panics stops the whole machine with the message; the other vCPU, in an
    /// endless loop, is not left running.
    #[test]
    fn a_vcpu_panic_stops_the_machine() {
        let cfg = MachineConfig {
            ram_size: 64 << 20,
            smp: 2,
            ..Default::default()
        };
        let m = Machine::new(cfg, Box::new(std::io::sink())).expect("machine");
        let prog = |at: u64, words: &[u32]| {
            let b: Vec<u8> = words.iter().flat_map(|w| w.to_be_bytes()).collect();
            assert!(m.mem.write(at, &b));
        };
        prog(
            0x100,
            &[0x3860_0000 | crate::hcall::TEST_PANIC as u32, 0x4400_0022],
        ); // li r3; sc 1
        prog(0x200, &[0x4800_0000]); // b .
        if let Ok(mut cpus) = m.cpus.lock() {
            cpus[1].stopped = false;
        }
        let mut vcpus = make_vcpus(&m);
        for (v, pc) in vcpus.iter_mut().zip([0x200, 0x100]) {
            v.cpu.set_msr(msr::SF | msr::ME);
            v.cpu.pc = pc;
        }
        let st = run(&Arc::new(m), vcpus);
        assert_eq!(st, RunState::Crashed("vCPU 1 panicked: test panic".into()));
    }
}
