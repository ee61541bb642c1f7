//! Fuzz targets for lpar: each `pub fn NAME(data: &[u8])` drives one guest-reachable interface with
//! arbitrary bytes and panics only when an invariant breaks (a panic in the code under test, a
//! return code outside the documented set, a malformed result, unbounded state). cargo-fuzz runs
//! them from `fuzz/fuzz_targets/`; `tests/corpus.rs` replays the committed corpora on stable Rust.

/// `FUZZ_TRACE=1` makes the targets print what each input did (on stderr), to check that a seed
/// or a crash input exercises what it should.
fn tracing() -> bool {
    static T: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *T.get_or_init(|| std::env::var_os("FUZZ_TRACE").is_some())
}

macro_rules! trace {
    ($($t:tt)*) => {
        if $crate::tracing() {
            eprintln!($($t)*);
        }
    };
}
pub(crate) use trace;

mod cli;
mod client;
mod devtree;
pub mod fdt_check;
mod hcall;
pub mod input;
mod insn;
mod machine;
mod pci_config;
mod qcow2;
mod rtas;
pub mod seeds;
mod tce;
mod virtio_net;
mod virtqueue;
mod vlan;
mod vscsi;
mod vtpm;

pub use cli::cli;
pub use client::client_interface;
pub use devtree::devtree;
pub use hcall::hcall;
pub use insn::insn_exec;
pub use pci_config::pci_config;
pub use qcow2::qcow2;
pub use rtas::rtas;
pub use tce::tce;
pub use virtio_net::virtio_net;
pub use virtqueue::virtqueue;
pub use vlan::vlan;
pub use vscsi::vscsi;
pub use vtpm::vtpm;

/// A target's entry point.
pub type Target = fn(&[u8]);

/// Every target by name (the name of its `fuzz/fuzz_targets/` file and corpus directory).
pub const TARGETS: &[(&str, Target)] = &[
    ("insn_exec", insn_exec),
    ("hcall", hcall),
    ("rtas", rtas),
    ("client_interface", client_interface),
    ("devtree", devtree),
    ("cli", cli),
    ("virtqueue", virtqueue),
    ("pci_config", pci_config),
    ("tce", tce),
    ("qcow2", qcow2),
    ("vscsi", vscsi),
    ("vlan", vlan),
    ("virtio_net", virtio_net),
    ("vtpm", vtpm),
];
