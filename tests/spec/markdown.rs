//! Reads spec pages: every fenced block whose info string is `toml example` is one example.
//!
//! Spec: spec/README.md (how pages are written). Prose and other code blocks are ignored.

use std::path::Path;

use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Parser, Tag, TagEnd};

/// The info string that marks an executable example.
pub const EXAMPLE_INFO: &str = "toml example";

/// One executable example of a spec page.
#[derive(Debug, Clone)]
pub struct Example {
    /// File name of the page (`phase2-embedding-space.md`).
    pub page: String,
    /// 1-based line of the opening fence.
    pub line: usize,
    /// Trial name: `page - heading - heading`, unique within the page.
    pub name: String,
    /// The TOML text inside the fences.
    pub body: String,
}

/// All examples of one page, in order.
pub fn examples(page: &str, text: &str) -> Vec<Example> {
    let mut out: Vec<Example> = Vec::new();
    // Headings below the page title (level 2 and deeper) form the trial name.
    let mut headings: Vec<(HeadingLevel, String)> = Vec::new();
    let mut heading_text: Option<(HeadingLevel, String)> = None;
    let mut block: Option<(usize, String)> = None;
    for (event, range) in Parser::new(text).into_offset_iter() {
        match event {
            Event::Start(Tag::Heading { level, .. }) => heading_text = Some((level, String::new())),
            Event::End(TagEnd::Heading(_)) => {
                if let Some((level, t)) = heading_text.take() {
                    headings.retain(|(l, _)| *l < level);
                    if level > HeadingLevel::H1 {
                        headings.push((level, t.trim().to_string()));
                    }
                }
            }
            Event::Text(t) | Event::Code(t) if heading_text.is_some() => {
                heading_text.as_mut().expect("checked").1.push_str(&t);
            }
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(info)))
                if info.trim() == EXAMPLE_INFO =>
            {
                let line = text[..range.start].matches('\n').count() + 1;
                block = Some((line, String::new()));
            }
            Event::Text(t) if block.is_some() => block.as_mut().expect("checked").1.push_str(&t),
            Event::End(TagEnd::CodeBlock) => {
                if let Some((line, body)) = block.take() {
                    let mut name = page.to_string();
                    for (_, h) in &headings {
                        name.push_str(" - ");
                        name.push_str(h);
                    }
                    let base = name.clone();
                    let mut k = 2;
                    while out.iter().any(|e| e.name == name) {
                        name = format!("{base} #{k}");
                        k += 1;
                    }
                    out.push(Example {
                        page: page.to_string(),
                        line,
                        name,
                        body,
                    });
                }
            }
            _ => {}
        }
    }
    out
}

/// All examples of every page in `dir` (sorted by file name).
pub fn collect(dir: &Path) -> Vec<Example> {
    let mut pages: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    pages.sort();
    pages
        .iter()
        .flat_map(|p| {
            let text = std::fs::read_to_string(p)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()));
            examples(&p.file_name().expect("file").to_string_lossy(), &text)
        })
        .collect()
}
