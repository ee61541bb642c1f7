//! spapr-nvram: the partition's non-volatile RAM, read and written through RTAS nvram-fetch /
//! nvram-store.

use crate::rtas::RtasFn;

#[derive(Default)]
pub struct Nvram {}

pub const RTAS: &[(&str, RtasFn)] = &[];
