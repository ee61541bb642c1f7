//! Building guest programs with the Debian cross compilers and running them under lpar-user and
//! qemu-user (the oracle). Used by the tests in `tests/`.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Byte order of a guest program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endian {
    Le,
    Be,
}

impl Endian {
    pub fn gcc(self) -> &'static str {
        match self {
            Endian::Le => "powerpc64le-linux-gnu-gcc",
            Endian::Be => "powerpc64-linux-gnu-gcc",
        }
    }

    pub fn qemu(self) -> &'static str {
        match self {
            Endian::Le => "qemu-ppc64le",
            Endian::Be => "qemu-ppc64",
        }
    }

    pub fn suffix(self) -> &'static str {
        match self {
            Endian::Le => "le",
            Endian::Be => "be",
        }
    }

    pub fn u64_from(self, b: &[u8]) -> u64 {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[..8]);
        match self {
            Endian::Le => u64::from_le_bytes(a),
            Endian::Be => u64::from_be_bytes(a),
        }
    }
}

/// Finds `name` on PATH.
fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Absolute path of a required host tool. A missing tool fails the test: a differential test that
/// silently passes without its oracle would hide regressions.
pub fn tool(name: &str) -> PathBuf {
    match which(name) {
        Some(p) => p,
        None => panic!("difftest: `{name}` not found on PATH: run scripts/fetch-assets.sh"),
    }
}

/// The Cargo profile directory the test executable lives in (target/<profile>), from
/// target/<profile>/deps/<test>-<hash>.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("difftest: current_exe");
    let deps = exe
        .parent()
        .expect("difftest: test executable has no parent");
    deps.parent()
        .expect("difftest: deps dir has no parent")
        .to_path_buf()
}

/// Scratch directory for build outputs and failure reports: <target>/difftest/<name>, emptied.
pub fn work_dir(name: &str) -> PathBuf {
    let d = profile_dir()
        .parent()
        .expect("difftest: profile dir has no parent")
        .join("difftest")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("difftest: create work dir");
    d
}

/// Directory of the guest test programs (crates/difftest/progs).
pub fn progs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("progs")
}

/// Path of lpar-user for the profile the tests were built with. It is (re)built once per test
/// process with `cargo build -p lpar-user`, which is a quick no-op when it is up to date: a stale
/// binary would make the comparison meaningless. Set LPAR_DIFF_NO_BUILD=1 to use it as it is.
/// LPAR_DIFF_LPAR=<program> runs that instead (a self-check of the harness: a wrapper running
/// qemu must make every test pass).
pub fn lpar_user() -> PathBuf {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let r = BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("LPAR_DIFF_LPAR") {
            return Ok(PathBuf::from(p));
        }
        let pdir = profile_dir();
        let bin = pdir.join("lpar-user");
        if std::env::var_os("LPAR_DIFF_NO_BUILD").is_some() && bin.is_file() {
            return Ok(bin);
        }
        let profile = pdir
            .file_name()
            .and_then(|s| s.to_str())
            .unwrap_or("debug")
            .to_string();
        let target_dir = pdir.parent().ok_or("no target dir")?.to_path_buf();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut c = Command::new(cargo);
        c.current_dir(&root)
            .args(["build", "--quiet", "-p", "lpar-user", "--target-dir"])
            .arg(&target_dir);
        match profile.as_str() {
            "debug" => {}
            "release" => {
                c.arg("--release");
            }
            p => {
                c.args(["--profile", p]);
            }
        }
        let out = c
            .output()
            .map_err(|e| format!("cannot run cargo to build lpar-user: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "building lpar-user failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        if !bin.is_file() {
            return Err(format!("{} missing after build", bin.display()));
        }
        Ok(bin)
    });
    match r {
        Ok(p) => p.clone(),
        Err(e) => panic!("difftest: {e}"),
    }
}

/// Compiles and links `sources` into a static, libc-free executable `out`.
/// Sources ending in `.c` use the C flags; `.s`/`.S` files are assembled with POWER9 enabled.
pub fn compile(
    sources: &[PathBuf],
    endian: Endian,
    out: &Path,
    extra: &[&str],
) -> Result<(), String> {
    let gcc = tool(endian.gcc());
    let mut c = Command::new(&gcc);
    c.args([
        "-nostdlib",
        "-static",
        "-no-pie",
        "-fno-pie",
        "-ffreestanding",
        "-fno-builtin",
        "-fno-stack-protector",
        "-fno-asynchronous-unwind-tables",
        "-O1",
        // Compiler-generated code stays at POWER8 without vector registers so a gap in the
        // core's vector support shows up in the tested instruction, not in compiler glue;
        // the inline asm under test may use any POWER9 instruction (-many).
        "-mcpu=power8",
        "-mno-altivec",
        "-mno-vsx",
        "-Wa,-many",
        "-Wall",
        "-Werror",
        "-Wno-unused-function",
    ]);
    // ELFv2 in both byte orders: the entry point is then code, not a function descriptor.
    if endian == Endian::Be {
        c.arg("-mabi=elfv2");
    }
    c.arg("-I").arg(progs_dir());
    c.args(extra);
    c.arg("-o").arg(out);
    c.args(sources);
    let o = c
        .output()
        .map_err(|e| format!("cannot run {}: {e}", gcc.display()))?;
    if !o.status.success() {
        return Err(format!(
            "{} failed:\n{}",
            endian.gcc(),
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    Ok(())
}

/// Result of one guest run.
#[derive(Debug)]
pub struct RunOutput {
    pub stdout: Vec<u8>,
    pub stderr: String,
    /// Exit code, or 128 + signal number as a shell reports it.
    pub status: i32,
    pub timed_out: bool,
}

impl RunOutput {
    pub fn describe_status(&self) -> String {
        if self.timed_out {
            "timed out (killed)".into()
        } else {
            format!("exit status {}", self.status)
        }
    }
}

/// Runs `prog args...`, with stdout/stderr captured to files in `dir`, killing it after `timeout`.
pub fn run(prog: &Path, args: &[&OsStr], dir: &Path, tag: &str, timeout: Duration) -> RunOutput {
    run_env(prog, args, dir, tag, timeout, &[])
}

/// `run` with extra environment variables.
pub fn run_env(
    prog: &Path,
    args: &[&OsStr],
    dir: &Path,
    tag: &str,
    timeout: Duration,
    env: &[(&str, &str)],
) -> RunOutput {
    let out_p = dir.join(format!("{tag}.stdout"));
    let err_p = dir.join(format!("{tag}.stderr"));
    let out_f = std::fs::File::create(&out_p).expect("difftest: create stdout file");
    let err_f = std::fs::File::create(&err_p).expect("difftest: create stderr file");
    let mut child = Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .stdout(out_f)
        .stderr(err_f)
        .env_remove("LPAR_QUIET_ILLEGAL")
        .env_remove("LPAR_USER_STATS")
        .envs(env.iter().copied())
        .spawn()
        .unwrap_or_else(|e| panic!("difftest: cannot run {}: {e}", prog.display()));
    let start = Instant::now();
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) => {
                if start.elapsed() > timeout {
                    let _ = child.kill();
                    timed_out = true;
                    break child.wait().expect("difftest: wait");
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) => panic!("difftest: wait for {}: {e}", prog.display()),
        }
    };
    use std::os::unix::process::ExitStatusExt;
    let code = match (status.code(), status.signal()) {
        (Some(c), _) => c,
        (None, Some(s)) => 128 + s,
        _ => -1,
    };
    RunOutput {
        stdout: std::fs::read(&out_p).unwrap_or_default(),
        stderr: String::from_utf8_lossy(&std::fs::read(&err_p).unwrap_or_default()).into_owned(),
        status: code,
        timed_out,
    }
}

/// How long one guest program may run under either emulator.
pub const TIMEOUT: Duration = Duration::from_secs(120);

/// Runs a test program under lpar-user. Its blocks are translated from their second arrival
/// (unless LPAR_JIT_HOT says otherwise), so the comparison covers the translator too; with
/// LPAR_JIT=off it covers the interpreter alone.
pub fn run_lpar(bin: &Path, dir: &Path) -> RunOutput {
    let hot = std::env::var("LPAR_JIT_HOT").unwrap_or_else(|_| "2".into());
    run_env(
        &lpar_user(),
        &[bin.as_os_str()],
        dir,
        "lpar",
        TIMEOUT,
        &[("LPAR_JIT_HOT", hot.as_str())],
    )
}

pub fn run_qemu(bin: &Path, endian: Endian, dir: &Path) -> RunOutput {
    let q = tool(endian.qemu());
    run(
        &q,
        &[OsStr::new("-cpu"), OsStr::new("power9"), bin.as_os_str()],
        dir,
        "qemu",
        TIMEOUT,
    )
}

/// Last `n` lines of a text, for error reports.
pub fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Builds a hand-written program from `progs/<name>.c` (plus the runtime) for `endian`, runs it
/// under both emulators and compares stdout and exit status. Err holds a report of the first
/// difference.
pub fn diff_program(name: &str, endian: Endian) -> Result<(), String> {
    // Check all tools first so a missing one is reported as such, not as a compile error.
    tool(endian.gcc());
    tool(endian.qemu());
    let dir = work_dir(&format!("{name}-{}", endian.suffix()));
    let bin = dir.join(name);
    let srcs = vec![
        progs_dir().join(format!("{name}.c")),
        progs_dir().join("rt.c"),
    ];
    compile(&srcs, endian, &bin, &[])?;
    let q = run_qemu(&bin, endian, &dir);
    let l = run_lpar(&bin, &dir);
    if q.timed_out || q.status != 0 {
        return Err(format!(
            "{name} ({}) failed under qemu ({}): the program itself is wrong\n{}",
            endian.suffix(),
            q.describe_status(),
            tail(&q.stderr, 10)
        ));
    }
    if q.stdout == l.stdout && q.status == l.status && !l.timed_out {
        return Ok(());
    }
    let qs = String::from_utf8_lossy(&q.stdout);
    let ls = String::from_utf8_lossy(&l.stdout);
    let mut rep = format!(
        "{name} ({}): lpar and qemu differ; outputs in {}\n",
        endian.suffix(),
        dir.display()
    );
    let ql: Vec<&str> = qs.lines().collect();
    let ll: Vec<&str> = ls.lines().collect();
    if l.status != q.status || l.timed_out {
        let _ = writeln!(
            rep,
            "  lpar: {} (qemu: exit status {}) after {} of {} lines; last line: {}",
            l.describe_status(),
            q.status,
            ll.len(),
            ql.len(),
            ll.last().unwrap_or(&"<none>")
        );
        let _ = writeln!(rep, "  lpar stderr:\n{}", tail(&l.stderr, 15));
    }
    let mut shown = 0;
    for i in 0..ql.len().max(ll.len()) {
        let a = ql.get(i).copied();
        let b = ll.get(i).copied();
        if a != b {
            if shown == 0 {
                // Context: the line before usually names the test in progress.
                if i > 0 {
                    let _ = writeln!(rep, "  line {}:   {}", i, ql[i - 1]);
                }
            }
            let _ = writeln!(rep, "  line {}: qemu: {}", i + 1, a.unwrap_or("<missing>"));
            let _ = writeln!(rep, "  line {}: lpar: {}", i + 1, b.unwrap_or("<missing>"));
            shown += 1;
            if shown >= 12 {
                let _ = writeln!(rep, "  ...");
                break;
            }
        }
    }
    let _ = writeln!(
        rep,
        "  qemu: {}, {} lines; lpar: {}, {} lines",
        q.describe_status(),
        ql.len(),
        l.describe_status(),
        ll.len()
    );
    if !l.stderr.is_empty() && l.status == q.status {
        let _ = writeln!(rep, "  lpar stderr:\n{}", tail(&l.stderr, 15));
    }
    Err(rep)
}
