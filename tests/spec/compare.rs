//! Compares an example's `expected` value with what the operation returned, formats values for
//! failure messages, and (only when asked) rewrites `expected` in the page.
//!
//! Spec: spec/README.md (example keys: `op`, `expected`, `tolerance`, `expected_error`).

use std::path::Path;
use std::sync::Mutex;

use toml::Value;

/// Checks `got` against `expected`; numbers may differ by at most `tol` (absolute). On mismatch
/// returns where (`[1][0]`) and why.
pub fn compare(expected: &Value, got: &Value, tol: f64, at: &str) -> Result<(), String> {
    match (expected, got) {
        (Value::Array(e), Value::Array(g)) => {
            if e.len() != g.len() {
                return Err(format!(
                    "at {}: length {} expected, got {}",
                    root(at),
                    e.len(),
                    g.len()
                ));
            }
            for (i, (e, g)) in e.iter().zip(g).enumerate() {
                compare(e, g, tol, &format!("{at}[{i}]"))?;
            }
            Ok(())
        }
        (Value::Table(e), Value::Table(g)) => {
            for (k, ev) in e {
                let gv = g
                    .get(k)
                    .ok_or_else(|| format!("at {}: key `{k}` missing", root(at)))?;
                compare(ev, gv, tol, &format!("{at}.{k}"))?;
            }
            if let Some(k) = g.keys().find(|k| !e.contains_key(*k)) {
                return Err(format!("at {}: unexpected key `{k}`", root(at)));
            }
            Ok(())
        }
        (e, g) => match (number(e), number(g)) {
            (Some(a), Some(b)) => {
                let same = (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= tol;
                if same {
                    Ok(())
                } else {
                    Err(format!(
                        "at {}: expected {a}, got {b} (|difference| {:.3e} > tolerance {tol:e})",
                        root(at),
                        (a - b).abs()
                    ))
                }
            }
            _ if e == g => Ok(()),
            _ => Err(format!(
                "at {}: expected {}, got {}",
                root(at),
                format(e),
                format(g)
            )),
        },
    }
}

fn root(at: &str) -> &str {
    if at.is_empty() {
        "the top"
    } else {
        at
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Float(f) => Some(*f),
        Value::Integer(i) => Some(*i as f64),
        _ => None,
    }
}

/// One-line TOML for a value; floats rounded to 9 significant digits.
pub fn format(v: &Value) -> String {
    match v {
        Value::Float(f) if f.is_finite() => {
            let r: f64 = format!("{f:.8e}")
                .parse()
                .expect("a formatted float parses");
            let s = format!("{r}");
            if s.contains(['.', 'e', 'E']) {
                s
            } else {
                format!("{s}.0")
            }
        }
        Value::Float(f) if f.is_nan() => "nan".into(),
        Value::Float(f) => if *f > 0.0 { "inf" } else { "-inf" }.into(),
        Value::Array(a) => format!("[{}]", a.iter().map(format).collect::<Vec<_>>().join(", ")),
        Value::Table(t) => format!(
            "{{ {} }}",
            t.iter()
                .map(|(k, v)| format!("{k} = {}", format(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

static UPDATE_LOCK: Mutex<()> = Mutex::new(());

/// Replaces the `expected = …` entry of the example whose fenced body is `body` in `page` with
/// `got`. Used only under `SEJE_SPEC_UPDATE=1` outside CI.
pub fn rewrite_expected(page: &Path, body: &str, got: &Value) -> Result<(), String> {
    let _guard = UPDATE_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let text = std::fs::read_to_string(page).map_err(|e| format!("{}: {e}", page.display()))?;
    let start = text
        .find(body)
        .ok_or("the example changed on disk; rerun")?;
    let mut lines: Vec<String> = body.lines().map(str::to_string).collect();
    let is_key = |l: &str| {
        let l = l.trim_start();
        l.split_once('=').is_some_and(|(k, _)| {
            let k = k.trim();
            !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
    };
    let first = lines
        .iter()
        .position(|l| {
            l.trim_start().starts_with("expected")
                && is_key(l)
                && l.split('=').next().map(str::trim) == Some("expected")
        })
        .ok_or("the example has no `expected` key to update")?;
    let mut end = first + 1;
    while end < lines.len() && !is_key(&lines[end]) {
        end += 1;
    }
    lines.splice(first..end, [format!("expected = {}", format(got))]);
    let mut new_body = lines.join("\n");
    if body.ends_with('\n') {
        new_body.push('\n');
    }
    let new_text = format!(
        "{}{}{}",
        &text[..start],
        new_body,
        &text[start + body.len()..]
    );
    std::fs::write(page, new_text).map_err(|e| format!("{}: {e}", page.display()))
}
