//! spapr-vty: the hypervisor virtual console (hvc0), a VIO device driven by H_PUT_TERM_CHAR /
//! H_GET_TERM_CHAR, with an interrupt when input arrives.

use crate::hcall::HcallFn;
use crate::rtas::RtasFn;

#[derive(Default)]
pub struct Vty {}

pub const HCALLS: &[(u64, &str, HcallFn)] = &[];
pub const RTAS: &[(&str, RtasFn)] = &[];
