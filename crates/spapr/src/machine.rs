//! The pseries machine: configuration, shared state of all vCPUs, the run state (running, powered
//! off, reset, terminated by the OS).

use crate::devtree::DeviceTree;
use ppc::GuestMemory;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};

/// What the command line asked for.
#[derive(Clone, Debug)]
pub struct MachineConfig {
    pub ram_size: u64,
    pub smp: u32,
    pub kernel: Option<PathBuf>,
    pub initrd: Option<PathBuf>,
    pub append: String,
    pub bios: Option<PathBuf>,
    /// Where the kernel image is loaded (pseries `kernel-addr`).
    pub kernel_addr: u64,
    /// Exit instead of resetting when the guest reboots.
    pub no_reboot: bool,
}

impl Default for MachineConfig {
    fn default() -> Self {
        MachineConfig {
            ram_size: 512 << 20,
            smp: 1,
            kernel: None,
            initrd: None,
            append: String::new(),
            bios: None,
            kernel_addr: 0,
            no_reboot: false,
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
}

/// State shared by every vCPU thread and device.
pub struct Machine {
    pub config: MachineConfig,
    pub mem: Arc<GuestMemory>,
    pub tree: Mutex<DeviceTree>,
    pub state: Mutex<RunState>,
    /// Signalled whenever an interrupt is posted or the run state changes, to wake idle vCPUs.
    pub wake: (Mutex<()>, Condvar),
    pub vty: crate::vty::Vty,
    pub nvram: crate::nvram::Nvram,
    pub xics: crate::xics::Xics,
    pub vof: Mutex<crate::vof::Vof>,
}

impl Machine {
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

    /// Wakes idle vCPUs so they re-check interrupts and the run state.
    pub fn kick(&self) {
        let _g = self.wake.0.lock();
        self.wake.1.notify_all();
    }
}
