//! `cargo xtask bench`: the CPU rows of the README's performance table, regenerated. Runs the
//! package's benchmarks (`cargo bench --bench eval|data|word2vec|features_text|step`) one after the
//! other, each against its reference implementation in the same run, gathers the rows they record
//! (`SEJE_BENCH_OUT`), and writes them with the machine they ran on as `table.md`.
//!
//! Spec: spec/benchmarks.md.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

/// The benches, in the order they run.
pub const BENCHES: [&str; 5] = ["eval", "data", "word2vec", "features_text", "step"];

/// What the references import, checked before anything runs.
const PROBE: &str = "import json, platform, numpy, PIL, torch, torchvision, gensim; \
print(json.dumps({'python': platform.python_version(), 'numpy': numpy.__version__, \
'Pillow': PIL.__version__, 'torch': torch.__version__, 'torchvision': torchvision.__version__, \
'gensim': gensim.__version__}))";

#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct BenchArgs {
    /// Python with the references' packages (benches/reference/requirements.txt); default
    /// `$SEJE_BENCH_PYTHON`, then `python3`.
    #[arg(long)]
    pub python: Option<PathBuf>,
    /// Where the outputs, rows and `table.md` go (files of an earlier run there are replaced).
    #[arg(long, default_value = "target/bench-cpu")]
    pub out: PathBuf,
    /// Run only these benches (comma-separated: eval, data, word2vec, features_text, step).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Recipes of the generated dataset of the `features_text` bench.
    #[arg(long, default_value_t = 100_000)]
    pub text_recipes: usize,
}

/// One row a bench recorded (benches/common/mod.rs writes them).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Row {
    pub bench: String,
    pub what: String,
    pub ours: f64,
    /// `s` for durations (lower is better), otherwise a rate.
    pub unit: String,
    pub reference: Option<f64>,
    pub reference_name: Option<String>,
    pub no_reference: Option<String>,
    pub ratio: Option<f64>,
    pub load_average: Option<f64>,
}

pub fn run(root: &Path, args: &BenchArgs) -> Result<()> {
    let benches: Vec<&str> = if args.only.is_empty() {
        BENCHES.to_vec()
    } else {
        for b in &args.only {
            if !BENCHES.contains(&b.as_str()) {
                bail!("--only: unknown bench `{b}` (expected one of {BENCHES:?})");
            }
        }
        BENCHES
            .iter()
            .copied()
            .filter(|b| args.only.iter().any(|o| o == b))
            .collect()
    };
    let python = args
        .python
        .clone()
        .or_else(|| std::env::var_os("SEJE_BENCH_PYTHON").map(PathBuf::from))
        .unwrap_or_else(|| "python3".into());
    let versions = probe(&python)?;
    let out = if args.out.is_absolute() {
        args.out.clone()
    } else {
        root.join(&args.out)
    };
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    for b in BENCHES {
        for ext in ["jsonl", "txt"] {
            let f = out.join(format!("{b}.{ext}"));
            if f.exists() {
                std::fs::remove_file(&f)
                    .with_context(|| format!("cannot remove {}", f.display()))?;
            }
        }
    }
    let machine = Machine::here(root, &versions);
    eprintln!("xtask bench: {}", machine.line());
    for b in &benches {
        let start = Instant::now();
        eprintln!(
            "xtask bench: cargo bench --bench {b} (load average {})",
            load_average().unwrap_or_else(|| "unknown".into())
        );
        let log = out.join(format!("{b}.txt"));
        let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        cmd.current_dir(root)
            .args(["bench", "--quiet", "--bench", b])
            .env("SEJE_BENCH_PYTHON", &python)
            .env("SEJE_BENCH_OUT", &out)
            .env("SEJE_BENCH_TEXT_RECIPES", args.text_recipes.to_string());
        tee(cmd, &log).with_context(|| format!("bench `{b}` (output in {})", log.display()))?;
        eprintln!(
            "xtask bench: {b} done in {:.0} s (load average {})",
            start.elapsed().as_secs_f64(),
            load_average().unwrap_or_else(|| "unknown".into())
        );
    }
    let mut rows = Vec::new();
    for b in &benches {
        let f = out.join(format!("{b}.jsonl"));
        rows.extend(read_rows(&f)?);
    }
    let table = render(&machine, &rows);
    let path = out.join("table.md");
    crate::disk::write_atomic(&path, table.as_bytes())?;
    println!("{table}");
    eprintln!("xtask bench: wrote {}", path.display());
    Ok(())
}

/// Runs the reference probe; the error says what to install.
fn probe(python: &Path) -> Result<Vec<(String, String)>> {
    let fail = |why: String| {
        anyhow::anyhow!(
            "{why}\nthe references need Python 3 with NumPy, Pillow, torch 2.11, torchvision 0.26 \
             and gensim 4.4: `python3 -m venv DIR && DIR/bin/pip install -r \
             benches/reference/requirements.txt`, then `cargo xtask bench --python DIR/bin/python`"
        )
    };
    let o = Command::new(python)
        .args(["-c", PROBE])
        .output()
        .map_err(|e| fail(format!("cannot run {}: {e}", python.display())))?;
    if !o.status.success() {
        let err = String::from_utf8_lossy(&o.stderr);
        let last = err.lines().last().unwrap_or("").to_string();
        return Err(fail(format!("{}: {last}", python.display())));
    }
    let v: std::collections::BTreeMap<String, String> =
        serde_json::from_slice(&o.stdout).map_err(|e| {
            fail(format!(
                "{}: unexpected probe output: {e}",
                python.display()
            ))
        })?;
    Ok(v.into_iter().collect())
}

/// Runs `cmd`, printing its output and keeping it in `log`.
fn tee(mut cmd: Command, log: &Path) -> Result<()> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot run cargo")?;
    let mut file =
        std::fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    let stdout = child.stdout.take().expect("piped");
    for line in BufReader::new(stdout).lines() {
        let line = line.context("reading the bench's output")?;
        println!("{line}");
        writeln!(file, "{line}").with_context(|| format!("cannot write {}", log.display()))?;
    }
    let status = child.wait().context("waiting for cargo bench")?;
    if !status.success() {
        bail!("cargo bench failed ({status})");
    }
    Ok(())
}

/// The rows of one `<bench>.jsonl`; the error names the file and line.
pub fn read_rows(path: &Path) -> Result<Vec<Row>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: the bench recorded no row", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .with_context(|| format!("{}, line {}: not a bench row", path.display(), i + 1))
        })
        .collect()
}

fn load_average() -> Option<String> {
    let s = std::fs::read_to_string("/proc/loadavg").ok()?;
    Some(s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}

/// The machine and software a run was measured on.
#[derive(Debug, Clone, PartialEq)]
pub struct Machine {
    pub cpu: String,
    pub threads: usize,
    pub memory_gib: Option<f64>,
    pub commit: String,
    pub date: String,
    pub versions: Vec<(String, String)>,
}

impl Machine {
    fn here(root: &Path, versions: &[(String, String)]) -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|l| l.split_once(':'))
            .map_or_else(|| "unknown CPU".to_string(), |(_, m)| m.trim().to_string());
        let memory_gib = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find_map(|l| l.strip_prefix("MemTotal:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            })
            .map(|kib| kib / (1024.0 * 1024.0));
        let commit = crate::git_commit(root);
        let date = Command::new("date")
            .args(["-u", "+%Y-%m-%d %H:%M UTC"])
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_else(|| "unknown date".into());
        Machine {
            cpu,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_gib,
            commit,
            date,
            versions: versions.to_vec(),
        }
    }

    /// One line: CPU, threads, memory, commit (`-dirty`: uncommitted changes), date, reference
    /// versions.
    pub fn line(&self) -> String {
        let mem = self
            .memory_gib
            .map_or_else(String::new, |g| format!(", {g:.0} GiB"));
        let versions: Vec<String> = self
            .versions
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        format!(
            "{}, {} threads{mem}; commit {}; {}; references: {}",
            self.cpu,
            self.threads,
            self.commit,
            self.date,
            versions.join(", ")
        )
    }
}

/// A figure with its unit: seconds and rates below 100 with two decimals, other rates as whole
/// numbers with thousands separators.
fn figure(v: f64, unit: &str) -> String {
    if unit == "s" {
        return format!("{v:.2} s");
    }
    if v.abs() < 100.0 {
        return format!("{v:.2} {unit}");
    }
    let whole = format!("{:.0}", v.round());
    let (sign, digits) = whole
        .strip_prefix('-')
        .map_or(("", whole.as_str()), |d| ("-", d));
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{sign}{grouped} {unit}")
}

/// The Markdown table of a run: a machine line, then one row per figure.
pub fn render(machine: &Machine, rows: &[Row]) -> String {
    let mut s = String::new();
    s.push_str("# CPU performance, `cargo xtask bench`\n\n");
    s.push_str(&format!("Machine: {}\n\n", machine.line()));
    s.push_str(
        "Ratio = our speed / the reference's speed in the same run (above 1: we are faster). \
         Load average: the machine's 1-minute load when the row was recorded.\n\n",
    );
    s.push_str("| what | ours | reference, same run | ratio | load average |\n");
    s.push_str("|---|---|---|---|---|\n");
    for r in rows {
        let reference = match (&r.reference, &r.reference_name) {
            (Some(v), Some(n)) => format!("{n}: {}", figure(*v, &r.unit)),
            (Some(v), None) => figure(*v, &r.unit),
            _ => r.no_reference.clone().unwrap_or_else(|| "—".into()),
        };
        let ratio = r.ratio.map_or_else(|| "—".into(), |x| format!("{x:.2}"));
        let load = r
            .load_average
            .map_or_else(|| "—".into(), |x| format!("{x:.2}"));
        s.push_str(&format!(
            "| {} | {} | {reference} | {ratio} | {load} |\n",
            r.what.replace('|', "\\|"),
            figure(r.ours, &r.unit)
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine() -> Machine {
        Machine {
            cpu: "Test CPU".into(),
            threads: 2,
            memory_gib: Some(24.0),
            commit: "abc1234".into(),
            date: "2026-11-23 12:00 UTC".into(),
            versions: vec![("gensim".into(), "4.4.0".into())],
        }
    }

    #[test]
    fn figures_group_thousands_and_keep_two_decimals_for_seconds() {
        assert_eq!(figure(129_462.4, "words/s"), "129,462 words/s");
        assert_eq!(figure(999.6, "images/s"), "1,000 images/s");
        assert_eq!(figure(2.3417, "images/s"), "2.34 images/s");
        assert_eq!(figure(420.4, "images/s"), "420 images/s");
        assert_eq!(figure(1_234_567.0, "words/s"), "1,234,567 words/s");
        assert_eq!(figure(12.345, "s"), "12.35 s");
    }

    #[test]
    fn rows_render_with_reference_or_the_reason_there_is_none() {
        let text = r#"{"bench":"eval","what":"a | b","ours":2.0,"unit":"s","higher_is_better":false,"reference":1.0,"reference_name":"NumPy","no_reference":null,"ratio":0.5,"load_average":0.25}
{"bench":"features_text","what":"key terms","ours":10.0,"unit":"s","higher_is_better":false,"reference":null,"reference_name":null,"no_reference":"no reference: none released","ratio":null,"load_average":null}
"#;
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("eval.jsonl");
        std::fs::write(&f, text).unwrap();
        let rows = read_rows(&f).unwrap();
        let table = render(&machine(), &rows);
        assert!(table.contains(
            "Machine: Test CPU, 2 threads, 24 GiB; commit abc1234; 2026-11-23 12:00 UTC; references: gensim 4.4.0"
        ));
        assert!(table.contains("| a \\| b | 2.00 s | NumPy: 1.00 s | 0.50 | 0.25 |"));
        assert!(table.contains("| key terms | 10.00 s | no reference: none released | — | — |"));
    }

    #[test]
    fn a_bad_row_names_its_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("data.jsonl");
        std::fs::write(&f, "{\"bench\":\"data\"}\n").unwrap();
        let e = format!("{:#}", read_rows(&f).unwrap_err());
        assert!(e.contains("data.jsonl, line 1: not a bench row"), "{e}");
    }

    #[test]
    fn a_missing_python_says_what_to_install() {
        let e = probe(Path::new("/nonexistent/python"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot run /nonexistent/python"), "{e}");
        assert!(e.contains("benches/reference/requirements.txt"), "{e}");
    }
}
