//! The `lpar` command line as a library, so the CLI parser can be fuzzed and tested on its own; the
//! binary (`main.rs`) adds the console and terminal handling.

pub mod cli;
