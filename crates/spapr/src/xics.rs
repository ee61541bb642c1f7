//! XICS: the interrupt presentation controllers (one ICP per vCPU, driven by H_CPPR/H_EOI/H_XIRR/
//! H_IPI/H_IPOLL) and the interrupt source controller (ICS, configured by ibm,set-xive & co.).

use crate::hcall::HcallFn;
use crate::rtas::RtasFn;

#[derive(Default)]
pub struct Xics {}

pub const HCALLS: &[(u64, &str, HcallFn)] = &[];
pub const RTAS: &[(&str, RtasFn)] = &[];
