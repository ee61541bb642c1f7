//! Hand-written guest programs (crates/difftest/progs), built at test time for each byte order
//! and run under lpar-user and qemu-user: stdout and exit status must be identical.

use difftest::harness::{diff_program, Endian};

fn check(name: &str, endian: Endian) {
    if let Err(e) = diff_program(name, endian) {
        panic!("{e}");
    }
}

macro_rules! progs {
    ($($le:ident $be:ident $name:literal;)*) => {$(
        #[test]
        fn $le() {
            check($name, Endian::Le);
        }
        #[test]
        fn $be() {
            check($name, Endian::Be);
        }
    )*};
}

progs! {
    fixed_le fixed_be "fixed";
    rot_le rot_be "rot";
    ldst_le ldst_be "ldst";
    branch_le branch_be "branch";
    fp_le fp_be "fp";
    vmx_le vmx_be "vmx";
    vsx_le vsx_be "vsx";
}
