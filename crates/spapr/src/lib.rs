//! `spapr`: the pseries machine a PAPR guest sees. One module per PAPR concept.

pub mod devtree;
