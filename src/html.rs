//! Text made safe for HTML and SVG: the one escaping rule the pages and charts the package writes
//! share (retrieval results, run reports).
//!
//! Spec: spec/retrieval.md (HTML output), spec/phase2-run-report.md.

/// `&`, `<`, `>`, `"` and `'` as entities.
pub fn escape(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => s.push_str("&amp;"),
            '<' => s.push_str("&lt;"),
            '>' => s.push_str("&gt;"),
            '"' => s.push_str("&quot;"),
            '\'' => s.push_str("&#39;"),
            c => s.push(c),
        }
    }
    s
}
