//! The pseries machine: configuration, shared state of all vCPUs, the run state (running, powered
//! off, reset, terminated by the OS).

use crate::devtree::DeviceTree;
use ppc::GuestMemory;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Memory map and numbering conventions shared by the device tree and the devices (QEMU's values,
/// so guests and tools see the same machine).
pub mod layout {
    /// VIO bus: reg of the first VIO device; further devices follow.
    pub const VTY_REG: u32 = 0x7100_0000;
    pub const NVRAM_REG: u32 = 0x7100_0001;
    /// XICS global interrupt numbers: IPIs are per-server; device sources start here.
    pub const XICS_IRQ_BASE: u32 = 0x1000;
    pub const XICS_NR_IRQS: u32 = 0x1000;
    /// VIO device interrupts.
    pub const VTY_IRQ: u32 = 0x1100;
    pub const NVRAM_IRQ: u32 = 0x1101;
    /// PCI host bridge INTx sources: four per bridge from here (bridge N at + 4N).
    pub const PCI_LSI_BASE: u32 = 0x1300;
    /// Message-signalled interrupts of PCI devices, allocated by ibm,change-msi: the rest of
    /// the XICS source range.
    pub const MSI_BASE: u32 = 0x1400;
    pub const MSI_COUNT: u32 = XICS_IRQ_BASE + XICS_NR_IRQS - MSI_BASE;
    /// EPOW / hot-plug event source interrupts (/event-sources).
    pub const EPOW_IRQ: u32 = 0x1200;
    pub const HOTPLUG_IRQ: u32 = 0x1201;
    /// Timebase frequency the device tree advertises (512 MHz, the ppc core's timebase).
    pub const TIMEBASE_FREQ: u32 = 512_000_000;
    /// NVRAM size (QEMU's default 64 KiB).
    pub const NVRAM_SIZE: u32 = 0x10000;
    /// Processor version register of a POWER9 DD2.2.
    pub const PVR_POWER9: u32 = 0x004e_1202;
}

/// What the command line asked for.
#[derive(Clone, Debug)]
pub struct MachineConfig {
    pub ram_size: u64,
    /// vCPUs (threads) in all.
    pub smp: u32,
    /// SMT threads per core (1, 2, 4 or 8) and cores per socket (`-smp threads=,cores=`); vCPU
    /// `i` is thread `i % threads` of core `i / threads`, in socket (chip) `i / threads / cores`.
    pub threads: u32,
    pub cores: u32,
    /// Virtual SMT mode (`-M vsmt=`): vCPU ids of consecutive cores are this far apart, as on a
    /// host with that many threads per core; 0 means `threads`.
    pub vsmt: u32,
    pub kernel: Option<PathBuf>,
    pub initrd: Option<PathBuf>,
    pub append: String,
    pub bios: Option<PathBuf>,
    /// Where the kernel image is loaded (pseries `kernel-addr`).
    pub kernel_addr: u64,
    /// Exit instead of resetting when the guest reboots.
    pub no_reboot: bool,
    /// Processor model of every vCPU (`-cpu`).
    pub cpu_model: ppc::CpuModel,
    /// Newest processor-compatibility mode CAS may choose (`-cpu ...,compat=powerN`,
    /// `max-cpu-compat`); it may not be newer than the model. None: up to the model's own level,
    /// and raw mode (the real PVR) is allowed too.
    pub max_compat: Option<ppc::cpu::IsaLevel>,
    /// HPT resizing (H_RESIZE_HPT_PREPARE/COMMIT, "hcall-hpt-resize") offered to hash guests
    /// (`-M pseries,resize-hpt=`); when off the hcalls answer H_AUTHORITY, as QEMU's do.
    pub resize_hpt: bool,
    /// The reproducible mode (`-icount shift=N`): Some(N) makes time advance by 2^N ns per
    /// instruction and runs the vCPUs round-robin on one thread.
    pub icount: Option<u32>,
    /// Round-robin on one thread without icount (`-accel tcg,thread=single`).
    pub single_thread: bool,
    /// `-rtc base=DATE`: the guest's time of day at start, in Unix seconds (None: the host's).
    pub rtc_base: Option<i64>,
    /// `-rtc clock=vm`: the time of day follows the virtual clock (with -icount) from `rtc_base`.
    pub rtc_vm: bool,
    /// Host memory for decoded/translated code, shared out among the vCPUs (`-accel tcg,tb-size=`,
    /// in bytes): each vCPU's cache is bounded by its share.
    pub tb_size: u64,
    /// The execution engine (`-accel tcg,jit=on|off|check`): translator, interpreter only, or
    /// the translator checked against the interpreter.
    pub jit: ppc::jit::JitConfig,
    /// Devices from the command line (`-device`, `-drive if=virtio`), in order; the default PCI
    /// host bridge (index 0) is always there.
    pub devices: Vec<crate::wiring::DeviceConfig>,
    /// The image behind spapr-nvram (`-drive if=pflash` or `-global spapr-nvram.drive=`);
    /// None: 64 KiB in memory.
    pub nvram: Option<block::Options>,
}

impl MachineConfig {
    /// The ISA level the guest sees before CAS: the model's, or the compatibility limit.
    pub fn isa_level(&self) -> ppc::cpu::IsaLevel {
        let model = self.cpu_model.isa_level();
        self.max_compat.map_or(model, |c| c.min(model))
    }

    /// The id (PIR, XICS server, RTAS cpu number) of the `index`th vCPU: thread `index % threads`
    /// of core `index / threads`, cores `max(vsmt, threads)` ids apart.
    pub fn vcpu_id(&self, index: u32) -> u32 {
        let t = self.threads.max(1);
        (index / t) * self.vsmt.max(t) + index % t
    }

    /// One more than the largest vCPU id.
    pub fn id_space(&self) -> u32 {
        self.vcpu_id(self.smp.max(1) - 1) + 1
    }

    /// Whether the vCPUs run round-robin on one thread.
    pub fn round_robin(&self) -> bool {
        self.single_thread || self.icount.is_some()
    }

    /// Each vCPU's share of `tb_size`.
    pub fn code_cache_budget(&self) -> usize {
        (self.tb_size / self.smp.max(1) as u64).min(usize::MAX as u64) as usize
    }

    /// Rejects a `kernel-addr` that is not 64 KiB aligned or lies outside RAM (the kernel would
    /// wrap around or land where the guest cannot run it).
    pub fn check_kernel_addr(&self) -> Result<(), String> {
        let a = self.kernel_addr;
        if a & (KERNEL_ADDR_ALIGN - 1) != 0 {
            return Err(format!(
                "-M pseries,kernel-addr={a:#x}: not {} KiB aligned",
                KERNEL_ADDR_ALIGN >> 10
            ));
        }
        if a >= self.ram_size {
            return Err(format!(
                "-M pseries,kernel-addr={a:#x}: outside guest RAM ({} MiB)",
                self.ram_size >> 20
            ));
        }
        Ok(())
    }

    /// Rejects a compatibility mode newer than the CPU model.
    pub fn check_cpu(&self) -> Result<(), String> {
        match self.max_compat {
            Some(c) if c > self.cpu_model.isa_level() => Err(format!(
                "-cpu {},compat={}: compat mode newer than the CPU",
                self.cpu_model.name(),
                c.compat_name()
            )),
            _ => Ok(()),
        }
    }
}

impl Default for MachineConfig {
    fn default() -> Self {
        MachineConfig {
            ram_size: 512 << 20,
            smp: 1,
            threads: 1,
            cores: 1,
            vsmt: 0,
            kernel: None,
            initrd: None,
            append: String::new(),
            bios: None,
            kernel_addr: 0,
            no_reboot: false,
            cpu_model: ppc::CpuModel::Power9,
            max_compat: None,
            resize_hpt: true,
            tb_size: ppc::exec::DEFAULT_BUDGET as u64,
            jit: ppc::jit::JitConfig::from_env(),
            icount: None,
            single_thread: false,
            rtc_base: None,
            rtc_vm: false,
            devices: Vec::new(),
            nvram: None,
        }
    }
}

/// How the machine stands; vCPUs poll it between slices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunState {
    Running,
    /// RTAS power-off.
    PowerOff,
    /// RTAS system-reboot: reset unless -no-reboot.
    Reset,
    /// ibm,os-term or an unrecoverable guest error, with the message.
    Terminated(String),
    /// An emulator bug (a vCPU thread panicked), with the message: the machine stops.
    Crashed(String),
}

/// State shared by every vCPU thread and device.
pub struct Machine {
    pub config: MachineConfig,
    pub mem: Arc<GuestMemory>,
    pub tree: Mutex<DeviceTree>,
    pub state: Mutex<RunState>,
    /// Signalled whenever an interrupt is posted or the run state changes, to wake idle vCPUs.
    pub wake: Arc<crate::irq::Waker>,
    /// The console (first spapr-vty) and the NVRAM, also on the VIO bus.
    pub vty: Arc<crate::vio::vty::Vty>,
    pub nvram: Arc<crate::vio::nvram::Nvram>,
    /// The VIO bus and its devices.
    pub vio: crate::vio::Bus,
    pub xics: Arc<crate::xics::Xics>,
    pub vof: Mutex<crate::vof::Vof>,
    /// Guest time-of-day minus host time, in seconds (RTAS set-time-of-day).
    pub tod_offset: std::sync::atomic::AtomicI64,
    /// Partition-wide processor state the hypervisor sets for every vCPU (H_SET_MODE,
    /// H_REGISTER_PROC_TBL); vCPUs copy it when `cpu_gen` changes.
    pub cpu_state: Mutex<PartitionCpuState>,
    pub cpu_gen: std::sync::atomic::AtomicU64,
    /// Per-vCPU hypervisor-side state, indexed by vCPU id (= XICS server = PIR).
    pub cpus: Mutex<Vec<CpuSlot>>,
    /// TLB shootdown and code invalidation among the vCPUs (None with one vCPU).
    pub smp: Option<Arc<ppc::smp::Smp>>,
    /// The virtual clock of the reproducible mode (`MachineConfig::icount`).
    pub vclock: Option<Arc<ppc::clock::VirtualClock>>,
    /// Real addresses beyond RAM: device MMIO (every vCPU's `Cpu::mmio`).
    pub bus: Arc<crate::bus::AddressSpace>,
    /// PCI host bridges, by index order.
    pub phbs: Vec<Arc<crate::pci::Phb>>,
}

/// What the hypervisor keeps about each vCPU.
#[derive(Clone, Debug, Default)]
pub struct CpuSlot {
    pub irq: Arc<ppc::cpu::IrqLines>,
    /// Registered VPA, dispatch trace log and SLB shadow buffers (guest real addresses).
    pub vpa: u64,
    pub dtl: u64,
    pub slb_shadow: u64,
    /// Stopped (never started, or RTAS stop-self) and waiting for start-cpu.
    pub stopped: bool,
    /// start-cpu request: (entry point, r3).
    pub start: Option<(u64, u64)>,
    /// A vCPU has this id (with `vsmt` above the threads per core, some ids have none).
    pub present: bool,
}

/// LPCR bits, partition-table entry and hashed page table shared by all vCPUs of the partition.
#[derive(Clone, Debug, Default)]
pub struct PartitionCpuState {
    pub lpcr: u64,
    pub pate: [u64; 2],
    /// The hashed page table the hypervisor keeps for the partition (`crate::hpt`).
    pub hpt: Option<Arc<ppc::mmu::Hpt>>,
    /// The table H_RESIZE_HPT_PREPARE made ready for H_RESIZE_HPT_COMMIT (`crate::hpt`); the
    /// hypervisor's own, not given to vCPUs.
    pub pending_hpt: Option<Arc<ppc::mmu::Hpt>>,
    /// Processor compatibility register: the ISA level negotiated at CAS (0: the model's own).
    pub pcr: u64,
}

/// The time-of-day offset at start: `-rtc base=DATE` on the host clock starts at that date (with
/// clock=vm and -icount the virtual clock counts from it instead: no offset).
fn initial_tod_offset(c: &MachineConfig) -> i64 {
    match c.rtc_base {
        Some(base) if !(c.rtc_vm && c.icount.is_some()) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            base - now
        }
        _ => 0,
    }
}

/// Alignment `kernel-addr` must have (the kernel's 64 KiB page size).
pub const KERNEL_ADDR_ALIGN: u64 = 0x1_0000;

/// Smallest RAM a pseries guest is given (the kernel, its initramfs and the firmware area fit).
pub const MIN_RAM: u64 = 64 << 20;

impl Machine {
    /// Creates the machine's memory and devices; nothing is loaded yet. `console` receives the vty's
    /// output.
    pub fn new(
        config: MachineConfig,
        console: Box<dyn std::io::Write + Send>,
    ) -> Result<Machine, String> {
        config.check_cpu()?;
        config.check_kernel_addr()?;
        if config.ram_size < MIN_RAM {
            return Err(format!(
                "-m {}M: too little memory for a pseries guest (at least {}M)",
                config.ram_size >> 20,
                MIN_RAM >> 20
            ));
        }
        let mem = GuestMemory::new(config.ram_size).map_err(|e| {
            format!(
                "-m {}M: cannot allocate guest RAM: {e}",
                config.ram_size >> 20
            )
        })?;
        let servers = config.id_space();
        let cpu_state = crate::hpt::initial_cpu_state(config.ram_size)?;
        let mut slots: Vec<CpuSlot> = (0..servers)
            .map(|i| CpuSlot {
                stopped: i != 0,
                ..Default::default()
            })
            .collect();
        for i in 0..config.smp.max(1) {
            if let Some(s) = slots.get_mut(config.vcpu_id(i) as usize) {
                s.present = true;
            }
        }
        let wake = Arc::new(crate::irq::Waker::default());
        let smp = (servers > 1)
            .then(|| ppc::smp::Smp::new(slots.iter().map(|s| s.irq.clone()).collect()));
        let mem = Arc::new(mem);
        // Writes to pages holding decoded code (stores, DMA) reach every vCPU.
        mem.set_vcpus(slots.iter().map(|s| s.irq.clone()).collect());
        let xics = Arc::new(crate::xics::Xics::new(servers, wake.clone()));
        let bus = Arc::new(crate::bus::AddressSpace::default());
        let phbs = crate::wiring::build(&config, &mem, &xics, &bus)?;
        let (vio, vty, nvram) = crate::wiring::build_vio(&config, &mem, &xics, console)?;
        Ok(Machine {
            mem,
            bus,
            phbs,
            tree: Mutex::new(DeviceTree::new()),
            state: Mutex::new(RunState::Running),
            wake: wake.clone(),
            vty,
            nvram,
            vio,
            xics,
            vof: Mutex::new(crate::vof::Vof::default()),
            tod_offset: std::sync::atomic::AtomicI64::new(initial_tod_offset(&config)),
            cpu_state: Mutex::new(cpu_state),
            cpu_gen: std::sync::atomic::AtomicU64::new(0),
            cpus: Mutex::new(slots),
            smp,
            vclock: config
                .icount
                .map(|shift| Arc::new(ppc::clock::VirtualClock::new(shift))),
            config,
        })
    }

    /// The run state, for vCPUs to poll.
    pub fn run_state(&self) -> RunState {
        self.state
            .lock()
            .map(|s| s.clone())
            .unwrap_or(RunState::Running)
    }

    /// Changes the run state (first request wins until the machine is restarted) and wakes vCPUs.
    pub fn request(&self, s: RunState) {
        if let Ok(mut g) = self.state.lock() {
            if *g == RunState::Running {
                *g = s;
            }
        }
        self.kick();
    }

    /// Changes the partition-wide CPU state and applies it to the calling vCPU at once (the others
    /// pick it up at their next slice).
    pub fn update_cpu_state(&self, cpu: &mut ppc::Cpu, f: impl FnOnce(&mut PartitionCpuState)) {
        if let Ok(mut st) = self.cpu_state.lock() {
            f(&mut st);
            self.cpu_gen
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            apply_cpu_state(cpu, &st);
        }
    }

    /// The TCE table (DMA window) with LIOBN `liobn`.
    pub fn tce_table(&self, liobn: u32) -> Option<Arc<crate::tce::TceTable>> {
        self.phbs
            .iter()
            .find_map(|p| p.table(liobn))
            .or_else(|| self.vio.table(liobn))
    }

    /// Adds the nodes of the configured devices (PCI host bridges and what is on them).
    pub fn build_device_nodes(&self, t: &mut crate::devtree::DeviceTree) {
        let intc = t
            .find("/interrupt-controller")
            .and_then(|n| t.node(n))
            .map_or(0, |n| n.phandle);
        for p in &self.phbs {
            p.build_tree(t, intc);
        }
        self.vio.build_tree(t);
    }

    /// Stops the devices once the vCPUs have: I/O in flight completes and disk images are
    /// flushed (qcow2 metadata written), so nothing the guest wrote is lost at exit or reset.
    pub fn shutdown(&self) {
        for p in &self.phbs {
            p.shutdown();
        }
        self.vio.shutdown();
    }

    /// Wakes idle vCPUs so they re-check interrupts and the run state.
    pub fn kick(&self) {
        self.wake.kick();
    }
}

/// Copies the partition-wide state into one vCPU, dropping translations it may invalidate.
pub fn apply_cpu_state(cpu: &mut ppc::Cpu, st: &PartitionCpuState) {
    use ppc::cpu::{lpcr, sprn};
    const MANAGED: u64 = lpcr::AIL_MASK | lpcr::ILE | lpcr::HR | lpcr::LD;
    cpu.spr[sprn::LPCR] = (cpu.spr[sprn::LPCR] & !MANAGED) | (st.lpcr & MANAGED);
    cpu.pate = st.pate;
    cpu.hpt = st.hpt.clone();
    cpu.spr[sprn::PCR] = st.pcr;
    cpu.tlb_flush();
}
