//! Debian's static ppc64el busybox under lpar-user, each applet on generated inputs of a few MiB,
//! compared byte for byte (stdout, stderr, exit status) with the same busybox version built for the
//! host (/bin/busybox from Debian busybox-static), or with qemu-ppc64le running the guest binary
//! where the output depends on the platform.
//!
//! The guest binary comes from `scripts/fetch-assets.sh` ($LPAR_ASSETS, default
//! ~/.cache/lpar-assets); without it these tests fail, saying so.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_lpar-user");
const HOST_BUSYBOX: &str = "/bin/busybox";
const MIB: usize = 1 << 20;
// Sizes keep the whole file near 25 s of CPU at ~200 M guest instructions/s: busybox awk and
// regex-heavy sed cost thousands of instructions per line, so they get smaller inputs.
const KIB: usize = 1 << 10;

fn assets() -> PathBuf {
    match std::env::var_os("LPAR_ASSETS") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var_os("HOME").expect("HOME is not set"))
            .join(".cache/lpar-assets"),
    }
}

fn guest_busybox() -> PathBuf {
    let p = assets().join("busybox-ppc64el");
    assert!(
        p.exists(),
        "the ppc64el busybox is missing at {}: run scripts/fetch-assets.sh",
        p.display()
    );
    p
}

fn host_busybox() -> &'static str {
    assert!(
        Path::new(HOST_BUSYBOX).exists(),
        "the reference {HOST_BUSYBOX} (Debian busybox-static) is missing: run scripts/fetch-assets.sh"
    );
    HOST_BUSYBOX
}

/// A scratch directory for one test.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("lpar-user-bb-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }
    fn file(&self, name: &str, data: &[u8]) -> String {
        std::fs::write(self.0.join(name), data).unwrap();
        name.to_string()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Deterministic pseudo-random numbers (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const WORDS: [&str; 24] = [
    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa",
    "lambda", "mu", "power", "isa", "vector", "scalar", "branch", "load", "store", "queue",
    "aardvark", "zebra", "Moon", "sun",
];

/// About `size` bytes of text lines: words, integers, punctuation.
fn text(size: usize, seed: u64) -> Vec<u8> {
    let mut r = Rng(seed);
    let mut out = Vec::with_capacity(size + 100);
    while out.len() < size {
        let n = 1 + r.below(12);
        for i in 0..n {
            if i > 0 {
                out.push(b' ');
            }
            match r.below(5) {
                0 => out.extend_from_slice(r.below(1_000_000).to_string().as_bytes()),
                _ => out.extend_from_slice(WORDS[r.below(WORDS.len() as u64) as usize].as_bytes()),
            }
        }
        if r.below(10) == 0 {
            out.extend_from_slice(b", done.");
        }
        out.push(b'\n');
    }
    out
}

/// About `size` bytes of lines "id x y": an integer, a decimal and a small float.
fn numbers(size: usize, seed: u64) -> Vec<u8> {
    let mut r = Rng(seed);
    let mut out = Vec::with_capacity(size + 100);
    while out.len() < size {
        let line = format!(
            "{} {}.{:03} {}e-{}\n",
            r.below(100_000),
            r.below(10_000),
            r.below(1000),
            1 + r.below(9),
            r.below(6)
        );
        out.extend_from_slice(line.as_bytes());
    }
    out
}

fn command(prog: &[&str], dir: &Dir, args: &[&str], stdin: Option<&str>) -> Output {
    let mut c = Command::new(prog[0]);
    c.args(&prog[1..])
        .args(args)
        .current_dir(&dir.0)
        .env_clear()
        .env("LC_ALL", "C")
        .env("TZ", "UTC")
        .env("PATH", "/usr/bin:/bin")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match stdin {
        Some(f) => c.stdin(std::fs::File::open(dir.0.join(f)).unwrap()),
        None => c.stdin(Stdio::null()),
    };
    c.output().unwrap()
}

fn guest(dir: &Dir, args: &[&str], stdin: Option<&str>) -> Output {
    let bb = guest_busybox();
    command(&[BIN, bb.to_str().unwrap()], dir, args, stdin)
}

fn show(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    if s.len() > 2000 {
        format!("{}... ({} bytes)", &s[..2000], b.len())
    } else {
        s.into_owned()
    }
}

fn assert_same(what: &str, got: &Output, want: &Output) {
    assert_eq!(
        got.status.code(),
        want.status.code(),
        "{what}: exit status differs; guest stderr: {}",
        show(&got.stderr)
    );
    assert!(
        got.stderr == want.stderr,
        "{what}: stderr differs:\nguest: {}\nreference: {}",
        show(&got.stderr),
        show(&want.stderr)
    );
    if got.stdout != want.stdout {
        let at = got
            .stdout
            .iter()
            .zip(&want.stdout)
            .position(|(a, b)| a != b);
        panic!(
            "{what}: stdout differs (guest {} bytes, reference {} bytes, first difference at {at:?})\nguest: {}\nreference: {}",
            got.stdout.len(),
            want.stdout.len(),
            show(&got.stdout),
            show(&want.stdout)
        );
    }
}

/// Runs `busybox ARGS` under lpar-user and natively on the host; the outputs must be identical.
fn same_as_host(dir: &Dir, args: &[&str], stdin: Option<&str>) -> Output {
    let got = guest(dir, args, stdin);
    let want = command(&[host_busybox()], dir, args, stdin);
    assert_same(&args.join(" "), &got, &want);
    got
}

/// Runs `busybox ARGS` under lpar-user and under qemu-ppc64le; the outputs must be identical.
fn same_as_qemu(dir: &Dir, args: &[&str]) -> Output {
    let got = guest(dir, args, None);
    let bb = guest_busybox();
    let want = command(&["qemu-ppc64le", bb.to_str().unwrap()], dir, args, None);
    assert_same(&args.join(" "), &got, &want);
    got
}

#[test]
fn md5sum_and_sha256sum() {
    let d = Dir::new("sums");
    let f = d.file("data", &text(4 * MIB, 1));
    same_as_host(&d, &["md5sum", &f], None);
    same_as_host(&d, &["sha256sum", &f], None);
    // From standard input as well.
    same_as_host(&d, &["md5sum"], Some(&f));
}

#[test]
fn sort_reverse() {
    let d = Dir::new("sort");
    let f = d.file("data", &text(2 * MIB, 2));
    let o = same_as_host(&d, &["sort", "-r", &f], None);
    assert_eq!(
        o.stdout.len(),
        std::fs::metadata(d.0.join(&f)).unwrap().len() as usize
    );
    let g = d.file("small", &text(512 * KIB, 12));
    same_as_host(&d, &["sort", "-n", "-k", "2", &g], None);
}

#[test]
fn gzip_and_gunzip_round_trip() {
    let d = Dir::new("gzip");
    let data = text(2 * MIB, 3);
    let f = d.file("data", &data);
    let z = same_as_host(&d, &["gzip", "-c", &f], None);
    d.file("data.gz", &z.stdout);
    let back = same_as_host(&d, &["gunzip", "-c", "data.gz"], None);
    assert!(
        back.stdout == data,
        "gunzip does not give back the original"
    );
    // In-place compression and decompression (open/unlink/fchmod/utimes of files).
    let small = &data[..256 * KIB];
    d.file("copy", small);
    let o = guest(&d, &["gzip", "-9", "copy"], None);
    assert!(o.status.success(), "{}", show(&o.stderr));
    let o = guest(&d, &["gunzip", "copy.gz"], None);
    assert!(o.status.success(), "{}", show(&o.stderr));
    assert!(std::fs::read(d.0.join("copy")).unwrap() == small);
}

#[test]
fn bzip2_round_trip() {
    let d = Dir::new("bzip2");
    let data = text(MIB, 4);
    let f = d.file("data", &data);
    let z = same_as_host(&d, &["bzip2", "-c", &f], None);
    d.file("data.bz2", &z.stdout);
    let back = same_as_host(&d, &["bunzip2", "-c", "data.bz2"], None);
    assert!(back.stdout == data);
}

#[test]
fn awk_arithmetic_and_float_printf() {
    let d = Dir::new("awk");
    let f = d.file("data", &numbers(512 * KIB, 5));
    let script = r#"
        { s += $2; p += $2 * $3; if ($3 > m) m = $3; c[$1 % 7]++; if (length(w[NR % 3]) < 40) w[NR % 3] = w[NR % 3] $1 % 10 }
        END {
            printf "%d %.6f %.3e %g %f\n", NR, s, p, m, s / NR
            for (k = 0; k < 7; k++) printf "%d:%d %.4f %10.2e\n", k, c[k], s / (k + 1), p * k
            print sqrt(s), exp(1), log(p), int(s / 3), 2 ^ 0.5, s % 97
            printf "%s %x %o %c|%-8s|%08.3f\n", substr(w[1], 1, 12), 255, 8, 65, "ab", -3.14159
        }"#;
    same_as_host(&d, &["awk", script, &f], None);
    same_as_host(
        &d,
        &[
            "awk",
            "-F",
            " ",
            "$1 > 50000 { n++; t += $2 } END { printf \"%d %.3f\\n\", n, t }",
            &f,
        ],
        None,
    );
}

#[test]
fn sed_regex_substitutions() {
    let d = Dir::new("sed");
    let f = d.file("data", &text(2 * MIB, 6));
    let g = d.file("small", &text(512 * KIB, 16));
    same_as_host(
        &d,
        &[
            "sed",
            "-e",
            r"s/\([a-z][a-z]*\) \([0-9][0-9]*\)/<\2:\1>/g",
            "-e",
            r"s/[aeiou]\{2,\}/[&]/g",
            "-e",
            "/^zebra/d",
            "-e",
            "y/abc/ABC/",
            &g,
        ],
        None,
    );
    same_as_host(
        &d,
        &["sed", "-n", "-e", r"/done\.$/p", "-e", "$=", &f],
        None,
    );
}

#[test]
fn wc_cat_and_ls() {
    let d = Dir::new("wc");
    let f = d.file("data", &text(4 * MIB, 7));
    same_as_host(&d, &["wc", &f], None);
    same_as_host(&d, &["wc", "-l"], Some(&f));
    let o = same_as_host(&d, &["cat", &f, &f], None);
    assert_eq!(
        o.stdout.len(),
        2 * std::fs::metadata(d.0.join(&f)).unwrap().len() as usize
    );
    d.file("small", b"x\n");
    same_as_host(&d, &["ls", "-la", "--full-time", "."], None);
    same_as_host(&d, &["ls", "-1", "nonexistent"], None);
}

#[test]
fn seq_expr_printf_echo() {
    let d = Dir::new("seq");
    same_as_host(&d, &["seq", "1", "3", "300000"], None);
    same_as_host(&d, &["seq", "-w", "-s", ",", "0.5", "0.25", "1000"], None);
    same_as_host(
        &d,
        &["expr", "123456789", "*", "987654", "+", "17", "%", "5"],
        None,
    );
    same_as_host(&d, &["expr", "length", "hello world"], None);
    same_as_host(&d, &["expr", "abc123def", ":", "[a-z]*\\([0-9]*\\)"], None);
    same_as_host(&d, &["expr", "1", "/", "0"], None);
    same_as_host(
        &d,
        &[
            "printf",
            "%f %.3f %e %g %10.4f|%-12.5e|%G\\n",
            "3.14159265",
            "2.718281828",
            "1e10",
            "0.0001",
            "-1.5",
            "6.02e23",
            "1e-300",
        ],
        None,
    );
    same_as_host(
        &d,
        &["printf", "%d %x %o %s %c\\n", "-42", "255", "8", "str", "A"],
        None,
    );
    same_as_host(&d, &["echo", "-e", "a\\tb\\nc"], None);
}

#[test]
fn platform_dependent_output_matches_qemu() {
    let d = Dir::new("uname");
    same_as_qemu(&d, &["uname", "-m"]);
}
