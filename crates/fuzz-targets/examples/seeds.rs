//! Writes the seed corpora (`fuzz_targets::seeds`) to `fuzz/corpus/<target>/`, one file per seed.
//! Run after changing a target's input layout: `cargo run -p fuzz-targets --example seeds`.

use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    for (target, name, bytes) in fuzz_targets::seeds::all() {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).expect("create corpus directory");
        let path = dir.join(format!("seed-{name}"));
        std::fs::write(&path, &bytes).expect("write seed");
        println!("{} ({} bytes)", path.display(), bytes.len());
    }
}
