//! A recipe query: read from a layer1-format JSON object, or from free text.
//!
//! Spec: spec/retrieval.md (recipe queries, free text).

use std::path::Path;

use serde::Serialize;

use crate::{Error, Result};

/// A recipe to find photos for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecipeQuery {
    /// Its id, when given (a dataset id selects that recipe's `det_ingrs.json` detections).
    pub id: Option<String>,
    /// Title.
    pub title: String,
    /// Raw ingredient lines.
    pub ingredients: Vec<String>,
    /// Instruction sentences.
    pub instructions: Vec<String>,
}

impl RecipeQuery {
    /// Reads one recipe in `layer1.json`'s format: an object with `title` (a string),
    /// `ingredients` and `instructions` (arrays of `{"text": …}`), and optionally `id`. Other
    /// fields (`url`, `partition`) are ignored.
    ///
    /// Errors: the file cannot be read; it is not JSON ([`Error::Json`]); a field is missing
    /// ([`Error::MissingField`], naming the field and the file) or has the wrong type.
    pub fn read_json(path: &Path) -> Result<Self> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(file.clone(), e))?;
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::Json {
            file: file.clone(),
            line: e.line(),
            column: e.column(),
            problem: e.to_string(),
        })?;
        let id = v.get("id").and_then(|i| i.as_str()).map(str::to_string);
        let record = id
            .as_ref()
            .map_or_else(|| "query recipe".to_string(), |id| format!("recipe {id}"));
        let bad = |field: &'static str, problem: &str| Error::BadField {
            file: file.clone(),
            record: record.clone(),
            field,
            problem: problem.into(),
        };
        if !v.is_object() {
            return Err(Error::BadField {
                file: file.clone(),
                record: record.clone(),
                field: "(top level)",
                problem: "is not a json object".into(),
            });
        }
        let field = |name: &'static str| {
            v.get(name).ok_or_else(|| Error::MissingField {
                file: file.clone(),
                record: record.clone(),
                field: name,
            })
        };
        let title = field("title")?
            .as_str()
            .ok_or_else(|| bad("title", "is not a string"))?
            .to_string();
        let texts = |name: &'static str| -> Result<Vec<String>> {
            let items = field(name)?
                .as_array()
                .ok_or_else(|| bad(name, "is not an array of {\"text\": …} objects"))?;
            items
                .iter()
                .map(|item| {
                    item.get("text")
                        .and_then(|t| t.as_str())
                        .map(str::to_string)
                        .ok_or_else(|| bad(name, "has an entry without a string `text`"))
                })
                .collect()
        };
        Ok(Self {
            title,
            ingredients: texts("ingredients")?,
            instructions: texts("instructions")?,
            id,
        })
    }

    /// A recipe typed as free text: the first non-blank line is the title; a later line starting
    /// with `-`, `*` or `•` is an ingredient line (the marker removed); every other line is split
    /// into sentences after `.`, `!` or `?` followed by white space, each sentence one
    /// instruction. No id.
    ///
    /// Errors: the text has no non-blank line.
    pub fn from_text(text: &str) -> Result<Self> {
        let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
        let title = lines.next().ok_or_else(|| Error::Invalid {
            what: "recipe text".into(),
            problem: "is empty: the first line is the title".into(),
        })?;
        let (mut ingredients, mut instructions) = (Vec::new(), Vec::new());
        for line in lines {
            if let Some(rest) = line.strip_prefix(['-', '*', '•']) {
                let rest = rest.trim();
                if !rest.is_empty() {
                    ingredients.push(rest.to_string());
                }
            } else {
                instructions.extend(sentences(line));
            }
        }
        Ok(Self {
            id: None,
            title: title.to_string(),
            ingredients,
            instructions,
        })
    }
}

/// Splits a line after `.`, `!` or `?` followed by white space.
fn sentences(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut start = 0;
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    for (k, &(at, c)) in chars.iter().enumerate() {
        let next_is_space = chars.get(k + 1).is_some_and(|&(_, n)| n.is_whitespace());
        if matches!(c, '.' | '!' | '?') && next_is_space {
            let end = at + c.len_utf8();
            out.push(line[start..end].trim().to_string());
            start = end;
        }
    }
    let rest = line[start..].trim();
    if !rest.is_empty() {
        out.push(rest.to_string());
    }
    out.retain(|s| !s.is_empty());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_text_maps_title_ingredients_and_sentences() {
        let q = RecipeQuery::from_text(
            "Tomato soup\n- 2 tomatoes\n* 1 onion\nChop the onion. Simmer 10 min!\n\nServe hot",
        )
        .unwrap();
        assert_eq!(q.title, "Tomato soup");
        assert_eq!(q.ingredients, ["2 tomatoes", "1 onion"]);
        assert_eq!(
            q.instructions,
            ["Chop the onion.", "Simmer 10 min!", "Serve hot"]
        );
        assert!(RecipeQuery::from_text(" \n\n").is_err());
    }

    #[test]
    fn decimal_points_do_not_split() {
        assert_eq!(sentences("Add 1.5 cups. Stir"), ["Add 1.5 cups.", "Stir"]);
    }
}
