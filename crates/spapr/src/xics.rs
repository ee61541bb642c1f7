//! XICS: the interrupt presentation controllers (one ICP per vCPU, driven by H_CPPR/H_EOI/H_XIRR/
//! H_IPI/H_IPOLL) and the interrupt source controller (ICS, configured by ibm,set-xive & co.).

use crate::hcall::HcallFn;
use crate::machine::Machine;
use crate::rtas::RtasFn;

#[derive(Default)]
pub struct Xics {}

impl Xics {
    /// Signals source `irq` (message/edge semantics for VIO devices).
    pub fn raise(&self, _m: &Machine, _irq: u32) {}
}

pub const HCALLS: &[(u64, &str, HcallFn)] = &[];
pub const RTAS: &[(&str, RtasFn)] = &[];
