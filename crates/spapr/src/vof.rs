//! The built-in Open Firmware client interface (VOF style: no firmware blob). The kernel's
//! prom_init calls the client-interface entry, a tiny stub that makes the KVMPPC_H_VOF_CLIENT hcall;
//! we answer finddevice/getprop/…/claim/call-method (incl. ibm,client-architecture-support) from
//! the live device tree.

use crate::hcall::HcallFn;

#[derive(Default)]
pub struct Vof {}

pub const HCALLS: &[(u64, &str, HcallFn)] = &[];
