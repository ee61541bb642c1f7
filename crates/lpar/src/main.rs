//! lpar: a pSeries (sPAPR) machine emulator with QEMU's command line.

fn main() {
    eprintln!("lpar: the machine is not wired up yet");
    std::process::exit(1);
}
