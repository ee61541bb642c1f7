//! Differential testing support: the random instruction-test generator.
