//! The random single-instruction test generator.
//!
//! Each case loads random operand values (biased toward edge cases) into r3..r6, VSR 3..6 and
//! VSR 35..38 (= VR 3..6), puts XER, CR, FPSCR (including a random rounding mode) and VSCR into
//! random states, executes ONE instruction from the template table, and records all those
//! registers plus XER, CR, FPSCR and VSCR. The program is assembly: a driver loop walks a table of
//! per-case input blocks and calls a two-instruction stub (`insn; blr`) per case, then writes the
//! case's record to stdout. Records are written one case at a time, so when lpar dies on a case
//! the records before it still count and the missing one names the culprit.

use crate::harness::{self, Endian, RunOutput};
use crate::rng::{self, Rng};
use crate::templates::{Group, Kind, Template};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Operand and state values of one case.
#[derive(Clone, Debug)]
pub struct CaseInput {
    /// r3, r4, r5, r6.
    pub gpr: [u64; 4],
    /// VSR 3, 4, 5, 6, 35, 36, 37, 38 as [dw0, dw1].
    pub vsr: [[u64; 2]; 8],
    pub xer: u64,
    pub cr: u64,
    pub fpscr: u64,
    pub vscr: u64,
}

/// One generated test case.
#[derive(Clone, Debug)]
pub struct Case {
    /// Case number within the seed's sequence (stable when other cases are dropped).
    pub id: usize,
    /// Index into the template table.
    pub template: usize,
    /// The instruction as assembled.
    pub insn: String,
    pub input: CaseInput,
}

/// Input block layout (bytes), read by the driver.
const IN_SIZE: usize = 208;
/// Output record: 28 doublewords.
pub const REC_WORDS: usize = 28;
const REC_SIZE: usize = REC_WORDS * 8;

/// Record field indices.
pub mod f {
    pub const ID: usize = 0;
    pub const R3: usize = 2;
    /// VSR k of the 8 (3,4,5,6,35,36,37,38) dw d is at VSR + 2k + d.
    pub const VSR: usize = 6;
    pub const XER: usize = 22;
    pub const CR: usize = 23;
    pub const FPSCR: usize = 24;
    pub const VSCR: usize = 26;
}

pub type Record = [u64; REC_WORDS];
/// Bits of each record field that must agree (1 = compared).
pub type Mask = [u64; REC_WORDS];

pub fn field_name(i: usize) -> String {
    const V: [u32; 8] = [3, 4, 5, 6, 35, 36, 37, 38];
    match i {
        0 => "case".into(),
        1 | 25 => "pad".into(),
        2..=5 => format!("r{}", i + 1),
        6..=21 => format!("vs{}.dw{}", V[(i - 6) / 2], (i - 6) % 2),
        22 => "xer".into(),
        23 => "cr".into(),
        24 => "fpscr".into(),
        26 => "vscr.dw0".into(),
        _ => "vscr.dw1".into(),
    }
}

/// Bits of FPSCR, as shifts from the least significant end (ISA bit 32+k is shift 31-k).
pub mod fpscr {
    pub const FX: u64 = 1 << 31;
    pub const FEX: u64 = 1 << 30;
    pub const VX: u64 = 1 << 29;
    pub const FR: u64 = 1 << 18;
    pub const FI: u64 = 1 << 17;
    pub const FPRF: u64 = 0x1f << 12;
    /// Sticky exception bits that software may set: FX OX UX ZX XX VXSNAN VXISI VXIDI VXZDZ
    /// VXIMZ VXVC, and VXSOFT VXSQRT VXCVI.
    pub const STICKY: u64 = 0x9ff8_0000 | 0x700;
    /// VE OE UE ZE XE.
    pub const ENABLES: u64 = 0xf8;
}

/// XER bits that exist: SO OV CA OV32 CA32 and the byte count.
pub const XER_DEFINED: u64 = 0xe00c_007f;

fn gen_vsr(r: &mut Rng, kind: Kind) -> [u64; 2] {
    match kind {
        Kind::Int => {
            let v = rng::edge_vint(r);
            [(v >> 64) as u64, v as u64]
        }
        Kind::F64 => [rng::edge_f64(r), rng::edge_f64(r)],
        Kind::F32 => {
            let w: Vec<u64> = (0..4).map(|_| rng::edge_f32(r) as u64).collect();
            [w[0] << 32 | w[1], w[2] << 32 | w[3]]
        }
        Kind::F32s => [
            rng::f32_to_f64_bits(rng::edge_f32(r)),
            rng::f32_to_f64_bits(rng::edge_f32(r)),
        ],
        Kind::F128 => {
            let v = rng::edge_f128(r);
            [(v >> 64) as u64, v as u64]
        }
    }
}

/// Flips the sign of every element of a value of `kind`.
fn negate(kind: Kind, v: [u64; 2]) -> [u64; 2] {
    match kind {
        Kind::Int => v,
        Kind::F64 | Kind::F32s => [v[0] ^ 1 << 63, v[1] ^ 1 << 63],
        Kind::F32 => [v[0] ^ 0x8000_0000_8000_0000, v[1] ^ 0x8000_0000_8000_0000],
        Kind::F128 => [v[0] ^ 1 << 63, v[1]],
    }
}

/// Random operands and state for a template of `kind`.
pub fn gen_input(r: &mut Rng, kind: Kind) -> CaseInput {
    let mut gpr = [0u64; 4];
    for i in 0..4 {
        gpr[i] = if i > 0 && r.chance(1, 8) {
            // Equal or opposite operands: compares, cancellation, x-x.
            let j = r.below(i as u64) as usize;
            if r.bool() {
                gpr[j]
            } else {
                gpr[j].wrapping_neg()
            }
        } else {
            rng::edge_int(r, 64)
        };
    }
    let mut vsr = [[0u64; 2]; 8];
    for i in 0..8 {
        vsr[i] = if i > 0 && r.chance(1, 6) {
            let j = r.below(i as u64) as usize;
            if r.bool() {
                vsr[j]
            } else {
                negate(kind, vsr[j])
            }
        } else {
            gen_vsr(r, kind)
        };
    }
    let mut xer = 0;
    for bit in [31, 30, 29, 19, 18] {
        if r.bool() {
            xer |= 1u64 << bit;
        }
    }
    if r.chance(1, 4) {
        xer |= r.below(128);
    }
    let cr = r.next_u64() & 0xffff_ffff;
    // FPSCR: random sticky exception bits, FR/FI/FPRF, rounding mode and decimal rounding mode
    // (upper word). The enable bits stay 0: QEMU's user mode runs with MSR[FE0,FE1] set, so an
    // enabled exception would trap there and not in lpar-user (a runner difference, not a CPU one).
    let mut fpscr = r.below(4); // RN
    if r.bool() {
        fpscr |= r.next_u64() & fpscr::STICKY;
    }
    if r.bool() {
        fpscr |= r.next_u64() & (fpscr::FR | fpscr::FI | fpscr::FPRF);
    }
    if r.chance(1, 4) {
        fpscr |= r.below(8) << 32; // DRN
    }
    let mut vscr = 0;
    if r.bool() {
        vscr |= 0x1_0000; // NJ
    }
    if r.bool() {
        vscr |= 1; // SAT
    }
    CaseInput {
        gpr,
        vsr,
        xer,
        cr,
        fpscr,
        vscr,
    }
}

/// Expands the template's placeholders with random values (see templates.rs for the syntax).
pub fn expand(r: &mut Rng, text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut rest = text;
    while let Some(p) = rest.find('{') {
        out.push_str(&rest[..p]);
        let end = rest[p..]
            .find('}')
            .map(|e| p + e)
            .expect("unclosed placeholder");
        let ph = &rest[p + 1..end];
        rest = &rest[end + 1..];
        let biased = |r: &mut Rng, lo: i64, hi: i64| -> i64 {
            match r.below(8) {
                0 => lo,
                1 => hi,
                _ => r.range(lo, hi),
            }
        };
        let v: String = if let Some(n) = ph.strip_prefix('u') {
            let n: u32 = n.parse().expect("bad {uN}");
            biased(r, 0, (1i64 << n) - 1).to_string()
        } else if let Some(n) = ph.strip_prefix('s') {
            let n: u32 = n.parse().expect("bad {sN}");
            let v = match r.below(8) {
                0 => 0,
                1 => -1,
                _ => biased(r, -(1i64 << (n - 1)), (1i64 << (n - 1)) - 1),
            };
            v.to_string()
        } else if let Some(rg) = ph.strip_prefix("r:") {
            let (a, b) = rg.split_once(':').expect("bad {r:A:B}");
            let (a, b): (i64, i64) = (a.parse().expect("A"), b.parse().expect("B"));
            biased(r, a, b).to_string()
        } else if ph == "bit8" {
            (1u32 << r.below(8)).to_string()
        } else if ph == "flm" {
            // FPSCR fields 0..5 only: fields 6 and 7 hold the exception enables (see gen_input).
            (r.below(256) & 0xfc).to_string()
        } else if let Some(n) = ph.strip_prefix('x') {
            // VSR operand: the FPR half (n) or the VR half (32+n), so both encodings are used.
            let n: u32 = n.parse().expect("bad {xN}");
            (if r.bool() { n } else { n + 32 }).to_string()
        } else {
            panic!("unknown placeholder {{{ph}}} in {text}")
        };
        out.push_str(&v);
    }
    out.push_str(rest);
    out
}

/// The cases for `seed`: `n` cases drawn uniformly from the templates in `sel`.
pub fn gen_cases(table: &[Template], sel: &[usize], seed: u64, n: usize) -> Vec<Case> {
    let mut r = Rng::new(seed);
    (0..n)
        .map(|id| {
            let template = sel[r.below(sel.len() as u64) as usize];
            let t = &table[template];
            let insn = expand(&mut r, &t.asm);
            let input = gen_input(&mut r, t.kind);
            Case {
                id,
                template,
                insn,
                input,
            }
        })
        .collect()
}

/// Assembly for a program running `cases` in order. The text is the same for both byte orders:
/// lxvd2x/stxvd2x and .quad keep doublewords in element order in either.
pub fn emit_program(cases: &[&Case]) -> String {
    let mut s = String::with_capacity(256 * cases.len() + 4096);
    s.push_str(
        "\t# Generated by crates/difftest (random single-instruction tests).\n\
         \t.abiversion 2\n\t.machine power9\n\t.text\n\t.globl _start\n_start:\n\
         \tlis 31,inputs@ha\n\taddi 31,31,inputs@l\n\
         \tlis 30,outbuf@ha\n\taddi 30,30,outbuf@l\n\
         \tlis 27,stubs@ha\n\taddi 27,27,stubs@l\n",
    );
    let n = cases.len() as u32;
    let _ = writeln!(
        s,
        "\tli 29,0\n\tlis 28,{}\n\tori 28,28,{}",
        n >> 16,
        n & 0xffff
    );
    // Per case: state, operands, call the stub, store everything, write the record.
    s.push_str(
        "loop:\n\tcmpd 29,28\n\tbge done\n\
         \tlfd 0,176(31)\n\tmtfsf 0xff,0,1,0\n\
         \tli 7,192\n\tlxvd2x 32,31,7\n\tmtvscr 0\n\
         \tld 7,160(31)\n\tmtxer 7\n\
         \tld 7,168(31)\n\tmtcrf 0xff,7\n\
         \tld 3,0(31)\n\tld 4,8(31)\n\tld 5,16(31)\n\tld 6,24(31)\n",
    );
    let regs = [3, 4, 5, 6, 35, 36, 37, 38];
    for (k, v) in regs.iter().enumerate() {
        let _ = writeln!(s, "\tli 7,{}\n\tlxvd2x {v},31,7", 32 + 16 * k);
    }
    s.push_str("\tmtctr 27\n\tbctrl\n");
    s.push_str("\tstd 3,16(30)\n\tstd 4,24(30)\n\tstd 5,32(30)\n\tstd 6,40(30)\n");
    for (k, v) in regs.iter().enumerate() {
        let _ = writeln!(s, "\tli 7,{}\n\tstxvd2x {v},30,7", 48 + 16 * k);
    }
    s.push_str(
        "\tmfxer 7\n\tstd 7,176(30)\n\
         \tmfcr 7\n\tstd 7,184(30)\n\
         \tmffs 0\n\tstfd 0,192(30)\n\
         \tmfvscr 0\n\tli 7,208\n\tstxvd2x 32,30,7\n\
         \tld 7,184(31)\n\tstd 7,0(30)\n\
         \tli 0,4\n\tli 3,1\n\tmr 4,30\n",
    );
    let _ = writeln!(s, "\tli 5,{REC_SIZE}\n\tsc");
    let _ = writeln!(
        s,
        "\taddi 31,31,{IN_SIZE}\n\taddi 27,27,8\n\taddi 29,29,1\n\tb loop\n\
         done:\n\tli 0,234\n\tli 3,0\n\tsc\n\n\t.p2align 3\nstubs:"
    );
    for c in cases {
        let _ = writeln!(s, "\t{}\t# case {}\n\tblr", c.insn, c.id);
    }
    s.push_str("\n\t.data\n\t.p2align 4\ninputs:\n");
    for c in cases {
        let i = &c.input;
        let _ = write!(
            s,
            "\t.quad {:#x},{:#x},{:#x},{:#x}",
            i.gpr[0], i.gpr[1], i.gpr[2], i.gpr[3]
        );
        for v in &i.vsr {
            let _ = write!(s, ",{:#x},{:#x}", v[0], v[1]);
        }
        let _ = writeln!(
            s,
            ",{:#x},{:#x},{:#x},{},0,{:#x}",
            i.xer, i.cr, i.fpscr, c.id, i.vscr
        );
    }
    let _ = writeln!(s, "\n\t.bss\n\t.p2align 4\noutbuf:\n\t.space {REC_SIZE}");
    s
}

/// Splits a program's stdout into records keyed by case id, in output order.
pub fn parse_records(out: &[u8], endian: Endian) -> Vec<Record> {
    out.chunks_exact(REC_SIZE)
        .map(|c| {
            let mut r = [0u64; REC_WORDS];
            for (i, w) in r.iter_mut().enumerate() {
                *w = endian.u64_from(&c[8 * i..]);
            }
            r
        })
        .collect()
}

/// The bits of a record that must agree for `case`: everything, less what the ISA leaves
/// undefined for this template and input (the template's `undef`) and the known QEMU deviations
/// (which may depend on QEMU's result `q`).
pub fn mask_for(t: &Template, c: &Case, q: &Record) -> Mask {
    let mut m = [u64::MAX; REC_WORDS];
    m[1] = 0;
    m[25] = 0;
    if let Some(u) = t.undef {
        u(c, &mut m);
    }
    // An FP (non-VSX) instruction leaves doubleword 1 of the VSR behind its target FPR undefined
    // (QEMU zeroes it, lpar keeps it); the FP templates all target f3.
    if t.group == Group::Fp {
        m[f::VSR + 1] = 0;
    }
    crate::templates::qemu_deviations(c, q, &mut m);
    m
}

/// A case whose lpar record differs from QEMU's, or on which lpar stopped.
#[derive(Debug)]
pub struct Failure {
    pub case: Case,
    pub qemu: Record,
    /// None: lpar produced no record for this case (it died or hung on it).
    pub lpar: Option<Record>,
    pub lpar_status: String,
    pub lpar_stderr: String,
    pub repro: PathBuf,
    /// How many cases of this template failed in all.
    pub count: usize,
}

fn hex_input(i: &CaseInput, kind: Kind) -> String {
    let mut s = format!(
        "r3={:#x} r4={:#x} r5={:#x} r6={:#x} xer={:#x} cr={:#010x} fpscr={:#x} vscr={:#x}",
        i.gpr[0], i.gpr[1], i.gpr[2], i.gpr[3], i.xer, i.cr, i.fpscr, i.vscr
    );
    // Integer templates mostly read GPRs, but VSX/VMX moves read the vector inputs too.
    let _ = kind;
    const V: [u32; 8] = [3, 4, 5, 6, 35, 36, 37, 38];
    for (k, v) in i.vsr.iter().enumerate() {
        let _ = write!(s, "\n      vs{}={:016x}_{:016x}", V[k], v[0], v[1]);
    }
    s
}

impl Failure {
    pub fn report(&self, table: &[Template]) -> String {
        let t = &table[self.case.template];
        let mut s = format!(
            "case {} `{}` (template `{}`, {} failing case(s))\n    inputs: {}\n",
            self.case.id,
            self.case.insn,
            t.asm,
            self.count,
            hex_input(&self.case.input, t.kind)
        );
        match &self.lpar {
            Some(l) => {
                let m = mask_for(t, &self.case, &self.qemu);
                for i in 0..REC_WORDS {
                    if (l[i] ^ self.qemu[i]) & m[i] != 0 {
                        let _ = writeln!(
                            s,
                            "    {:>9}: lpar={:#018x} qemu={:#018x} (compared bits {:#x})",
                            field_name(i),
                            l[i],
                            self.qemu[i],
                            m[i]
                        );
                    }
                }
            }
            None => {
                let _ = writeln!(
                    s,
                    "    lpar stopped on this case ({}); qemu's record: {}",
                    self.lpar_status,
                    record_summary(&self.qemu)
                );
                if !self.lpar_stderr.is_empty() {
                    let _ = writeln!(
                        s,
                        "    lpar stderr: {}",
                        harness::tail(&self.lpar_stderr, 3)
                    );
                }
            }
        }
        let _ = writeln!(s, "    repro: {}", self.repro.display());
        s
    }
}

fn record_summary(r: &Record) -> String {
    format!(
        "r3={:#x} xer={:#x} cr={:#010x} fpscr={:#x} vs3={:016x}_{:016x} vs35={:016x}_{:016x}",
        r[f::R3],
        r[f::XER],
        r[f::CR],
        r[f::FPSCR],
        r[6],
        r[7],
        r[14],
        r[15]
    )
}

/// Outcome of a random run.
pub struct Outcome {
    pub name: String,
    pub seed: u64,
    pub cases: usize,
    pub compared: usize,
    pub failures: BTreeMap<usize, Failure>,
    /// Templates QEMU itself could not run (a broken template or an instruction QEMU lacks).
    pub qemu_failures: Vec<String>,
    /// The driver itself (state set-up and recording, around a `nop`) fails under lpar: no case
    /// can be judged until that is fixed.
    pub driver_failure: Option<String>,
    pub dir: PathBuf,
}

impl Outcome {
    pub fn ok(&self) -> bool {
        self.failures.is_empty() && self.qemu_failures.is_empty() && self.driver_failure.is_none()
    }

    pub fn report(&self, table: &[Template]) -> String {
        let mut s = format!(
            "{}: seed {:#x}, {} cases, {} compared equal or masked, {} template(s) failing; files in {}\n\
             (reproduce with LPAR_DIFF_SEED={:#x}; each repro .s builds with \
             `<cross-gcc> -nostdlib -static -no-pie -o x case-N.s` and prints one 224-byte record)\n",
            self.name,
            self.seed,
            self.cases,
            self.compared,
            self.failures.len() + self.qemu_failures.len(),
            self.dir.display(),
            self.seed
        );
        if let Some(d) = &self.driver_failure {
            let _ = writeln!(s, "  DRIVER FAILS under lpar, no case was judged: {d}");
        }
        for q in &self.qemu_failures {
            let _ = writeln!(s, "  QEMU cannot run: {q}");
        }
        for fl in self.failures.values() {
            let _ = write!(s, "  FAIL {}", fl.report(table));
        }
        s
    }
}

fn assemble(dir: &Path, name: &str, cases: &[&Case], endian: Endian) -> Result<PathBuf, String> {
    let src = dir.join(format!("{name}.s"));
    std::fs::write(&src, emit_program(cases))
        .map_err(|e| format!("write {}: {e}", src.display()))?;
    let bin = dir.join(name);
    harness::compile(&[src], endian, &bin, &[])?;
    Ok(bin)
}

/// Runs `n` random cases of the templates in `groups`, under QEMU once and under lpar as often as
/// needed: when lpar stops on a case, that template is recorded as failing and dropped, and the
/// run resumes with the following cases.
pub fn run_random(name: &str, groups: &[Group], endian: Endian, seed: u64, n: usize) -> Outcome {
    harness::tool(endian.gcc());
    harness::tool(endian.qemu());
    let table = crate::templates::all();
    let sel: Vec<usize> = (0..table.len())
        .filter(|&i| groups.contains(&table[i].group))
        .collect();
    let cases = gen_cases(&table, &sel, seed, n);
    let dir = harness::work_dir(name);
    let mut out = Outcome {
        name: name.into(),
        seed,
        cases: n,
        compared: 0,
        failures: BTreeMap::new(),
        qemu_failures: Vec::new(),
        driver_failure: None,
        dir: dir.clone(),
    };
    if let Some(d) = check_driver(&dir, endian) {
        out.driver_failure = Some(d);
        return out;
    }

    // The oracle. A case QEMU cannot run drops its template (reported: the table must not hold such).
    let mut expected: BTreeMap<usize, Record> = BTreeMap::new();
    let mut dropped: Vec<usize> = Vec::new();
    let mut pending: Vec<&Case> = cases.iter().collect();
    let mut q: RunOutput;
    loop {
        let bin = match assemble(&dir, "prog", &pending, endian) {
            Ok(b) => b,
            Err(e) => panic!("{name}: assembling the generated program failed: {e}"),
        };
        q = harness::run_qemu(&bin, endian, &dir);
        let recs = parse_records(&q.stdout, endian);
        for (k, r) in recs.iter().enumerate() {
            expected.insert(pending[k].id, *r);
        }
        if recs.len() >= pending.len() {
            break;
        }
        let bad = pending[recs.len()];
        out.qemu_failures.push(format!(
            "case {} `{}`: {} {}",
            bad.id,
            bad.insn,
            q.describe_status(),
            harness::tail(&q.stderr, 2)
        ));
        dropped.push(bad.template);
        let from = recs.len() + 1;
        pending = pending[from..]
            .iter()
            .copied()
            .filter(|c| !dropped.contains(&c.template))
            .collect();
        if pending.is_empty() {
            break;
        }
    }

    let mut pending: Vec<&Case> = cases
        .iter()
        .filter(|c| expected.contains_key(&c.id))
        .collect();
    // The oracle's program can be reused as is only if QEMU ran all of it.
    let prog_is_all = out.qemu_failures.is_empty();
    let mut round = 0;
    while !pending.is_empty() {
        round += 1;
        let pname = format!("prog-{round}");
        let bin = if round == 1 && prog_is_all {
            dir.join("prog")
        } else {
            match assemble(&dir, &pname, &pending, endian) {
                Ok(b) => b,
                Err(e) => panic!("{name}: assembling the generated program failed: {e}"),
            }
        };
        let l = harness::run_lpar(&bin, &dir);
        let recs = parse_records(&l.stdout, endian);
        for (k, lr) in recs.iter().enumerate() {
            let Some(c) = pending.get(k) else { break };
            let qr = &expected[&c.id];
            let t = &table[c.template];
            let m = mask_for(t, c, qr);
            let differs = (0..REC_WORDS).any(|i| (lr[i] ^ qr[i]) & m[i] != 0);
            if differs {
                note_failure(&mut out, &dir, endian, c, qr, Some(*lr), &l);
            } else {
                out.compared += 1;
            }
        }
        if recs.len() >= pending.len() {
            break;
        }
        let bad = pending[recs.len()];
        note_failure(&mut out, &dir, endian, bad, &expected[&bad.id], None, &l);
        let failed_tpl = bad.template;
        pending = pending[recs.len() + 1..]
            .iter()
            .copied()
            .filter(|c| c.template != failed_tpl)
            .collect();
        if round > 500 {
            break;
        }
    }
    out
}

/// Runs the driver around a single `nop` under both emulators: every case depends on the
/// instructions the driver uses (mtfsf, mtvscr, mtxer, mtcrf, ld/std, lxvd2x/stxvd2x, mfxer, mfcr,
/// mffs, mfvscr, bctrl, sc), so if they misbehave nothing else can be judged.
fn check_driver(dir: &Path, endian: Endian) -> Option<String> {
    let mut r = Rng::new(0xd1);
    let c = Case {
        id: 0,
        template: usize::MAX,
        insn: "nop".into(),
        input: gen_input(&mut r, Kind::F64),
    };
    let bin = match assemble(dir, "driver", &[&c], endian) {
        Ok(b) => b,
        Err(e) => panic!("assembling the driver failed: {e}"),
    };
    let q = harness::run_qemu(&bin, endian, dir);
    let l = harness::run_lpar(&bin, dir);
    let qr = parse_records(&q.stdout, endian);
    let lr = parse_records(&l.stdout, endian);
    if qr.len() != 1 || q.status != 0 {
        panic!(
            "the driver fails under QEMU ({}): {}",
            q.describe_status(),
            q.stderr
        );
    }
    match lr.first() {
        None => Some(format!(
            "{}; {}",
            l.describe_status(),
            harness::tail(&l.stderr, 4)
        )),
        Some(lr) => {
            let diffs: Vec<String> = (0..REC_WORDS)
                .filter(|&i| i != 1 && i != 25 && lr[i] != qr[0][i])
                .map(|i| format!("{}: lpar={:#x} qemu={:#x}", field_name(i), lr[i], qr[0][i]))
                .collect();
            if diffs.is_empty() && l.status == 0 {
                None
            } else {
                Some(format!("{} ({})", diffs.join(", "), l.describe_status()))
            }
        }
    }
}

fn note_failure(
    out: &mut Outcome,
    dir: &Path,
    endian: Endian,
    c: &Case,
    qemu: &Record,
    lpar: Option<Record>,
    l: &RunOutput,
) {
    if let Some(fl) = out.failures.get_mut(&c.template) {
        fl.count += 1;
        return;
    }
    let repro = dir.join(format!("case-{}.s", c.id));
    let _ = std::fs::write(&repro, emit_program(&[c]));
    let _ = endian;
    out.failures.insert(
        c.template,
        Failure {
            case: c.clone(),
            qemu: *qemu,
            lpar,
            lpar_status: l.describe_status(),
            lpar_stderr: l.stderr.clone(),
            repro,
            count: 1,
        },
    );
}

/// The seed for a test: LPAR_DIFF_SEED (decimal or 0x-hex) when set, else the test's fixed seed.
pub fn seed(default: u64) -> u64 {
    match std::env::var("LPAR_DIFF_SEED") {
        Ok(s) => {
            let s = s.trim();
            let v = if let Some(h) = s.strip_prefix("0x") {
                u64::from_str_radix(h, 16)
            } else {
                s.parse()
            };
            v.unwrap_or_else(|_| panic!("LPAR_DIFF_SEED={s}: not a number"))
        }
        Err(_) => default,
    }
}

/// Number of cases for a test: LPAR_DIFF_CASES when set, else `default`.
pub fn cases(default: usize) -> usize {
    std::env::var("LPAR_DIFF_CASES")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_reproducible() {
        let table = crate::templates::all();
        let sel: Vec<usize> = (0..table.len()).collect();
        let a = gen_cases(&table, &sel, 42, 200);
        let b = gen_cases(&table, &sel, 42, 200);
        let c = gen_cases(&table, &sel, 43, 200);
        assert!(a
            .iter()
            .zip(&b)
            .all(|(x, y)| x.insn == y.insn && x.input.gpr == y.input.gpr));
        assert!(a.iter().zip(&c).any(|(x, y)| x.insn != y.insn));
    }

    #[test]
    fn placeholders_stay_in_range() {
        let mut r = Rng::new(5);
        for _ in 0..2000 {
            let v: i64 = expand(&mut r, "{r:0:12}").parse().unwrap();
            assert!((0..=12).contains(&v));
            let v: i64 = expand(&mut r, "{s5}").parse().unwrap();
            assert!((-16..=15).contains(&v));
            let v: u32 = expand(&mut r, "{flm}").parse().unwrap();
            assert_eq!(v & 3, 0, "fields 6 and 7 hold the enables");
            let v: u32 = expand(&mut r, "{x4}").parse().unwrap();
            assert!(v == 4 || v == 36);
        }
    }

    #[test]
    fn inputs_keep_fp_enables_clear() {
        let mut r = Rng::new(9);
        for _ in 0..2000 {
            let i = gen_input(&mut r, Kind::F64);
            assert_eq!(i.fpscr & (fpscr::ENABLES | 4), 0);
            assert_eq!(i.xer & !XER_DEFINED, 0);
        }
    }

    #[test]
    fn records_parse_in_either_byte_order() {
        let mut le = vec![0u8; REC_SIZE];
        let mut be = vec![0u8; REC_SIZE];
        le[8 * f::R3..8 * f::R3 + 8].copy_from_slice(&0x0102_0304_0506_0708u64.to_le_bytes());
        be[8 * f::R3..8 * f::R3 + 8].copy_from_slice(&0x0102_0304_0506_0708u64.to_be_bytes());
        assert_eq!(
            parse_records(&le, Endian::Le)[0][f::R3],
            0x0102_0304_0506_0708
        );
        assert_eq!(
            parse_records(&be, Endian::Be)[0][f::R3],
            0x0102_0304_0506_0708
        );
        // A truncated trailing record is ignored.
        assert_eq!(parse_records(&le[..REC_SIZE - 1], Endian::Le).len(), 0);
    }
}
