//! Random single-instruction differential tests: seeded, reproducible (LPAR_DIFF_SEED overrides the
//! fixed seeds, LPAR_DIFF_CASES the case counts). A failure lists every failing template with its
//! first failing case, both records and a one-case reproduction program.

use difftest::gen::{cases, run_random, seed};
use difftest::harness::Endian;
use difftest::templates::{all, Group};

fn check(name: &str, groups: &[Group], endian: Endian, default_seed: u64, n: usize) {
    let o = run_random(name, groups, endian, seed(default_seed), cases(n));
    eprintln!(
        "{name}: {} cases, {} agreed, {} failing templates",
        o.cases,
        o.compared,
        o.failures.len() + o.qemu_failures.len()
    );
    if !o.ok() {
        panic!("{}", o.report(&all()));
    }
}

#[test]
fn random_fixed_le() {
    check(
        "random-fixed-le",
        &[Group::Fixed],
        Endian::Le,
        0x1f1e_0001,
        2000,
    );
}

#[test]
fn random_fp_le() {
    check("random-fp-le", &[Group::Fp], Endian::Le, 0x1f1e_0002, 2000);
}

#[test]
fn random_vmx_le() {
    check(
        "random-vmx-le",
        &[Group::Vmx],
        Endian::Le,
        0x1f1e_0003,
        2000,
    );
}

#[test]
fn random_vsx_le() {
    check(
        "random-vsx-le",
        &[Group::Vsx],
        Endian::Le,
        0x1f1e_0004,
        2000,
    );
}

#[test]
fn random_qp_le() {
    check("random-qp-le", &[Group::Qp], Endian::Le, 0x1f1e_0005, 500);
}

#[test]
fn random_all_be() {
    check(
        "random-all-be",
        &[Group::Fixed, Group::Fp, Group::Vmx, Group::Vsx, Group::Qp],
        Endian::Be,
        0x1f1e_0006,
        2000,
    );
}
