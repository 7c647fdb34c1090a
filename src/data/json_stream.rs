//! Streaming reader for files that hold one JSON array of records (Recipe1M's `layer1.json`,
//! `layer2.json`, `det_ingrs.json`): records are parsed and handed over one at a time, so memory
//! stays bounded by the largest record, never by the file (the real `layer1.json` is 1.4 GB).
//!
//! Spec: spec/data-recipe1m.md (streaming, bounded memory, error positions).

use std::cell::RefCell;
use std::fmt;
use std::fs::File;
use std::io::BufReader;
use std::marker::PhantomData;
use std::path::Path;

use serde::de::{DeserializeOwned, SeqAccess, Visitor};
use serde::Deserializer as _;

use crate::{Error, Result};

/// Buffer size of the reader: large enough that parsing, not system calls, dominates.
const BUFFER: usize = 1 << 20;

/// Reads `path`, which must hold one JSON array, and calls `each(index, record)` for every
/// element in order. `file` is how errors name the file (a path relative to the dataset root).
/// Returns the number of elements.
///
/// Malformed JSON and values of the wrong type give [`Error::Json`] with the 1-based line and
/// column; an error returned by `each` stops the reading and is returned unchanged.
pub fn for_each_record<T, F>(path: &Path, file: &str, each: F) -> Result<usize>
where
    T: DeserializeOwned,
    F: FnMut(usize, T) -> Result<()>,
{
    let handle = File::open(path).map_err(|e| Error::io(file, e))?;
    let reader = BufReader::with_capacity(BUFFER, handle);
    let mut de = serde_json::Deserializer::from_reader(reader);
    let failure = RefCell::new(None);
    let visitor = Records {
        each: RefCell::new(each),
        failure: &failure,
        _record: PhantomData,
    };
    let outcome = de
        .deserialize_seq(visitor)
        .and_then(|n| de.end().map(|()| n));
    if let Some(e) = failure.into_inner() {
        return Err(e);
    }
    outcome.map_err(|e| json_error(file, e))
}

/// Converts a serde_json error into [`Error::Json`] (or [`Error::Io`] for read failures), keeping
/// the position and dropping serde_json's own " at line L column C" suffix.
pub fn json_error(file: &str, e: serde_json::Error) -> Error {
    if e.is_io() {
        // serde_json hands back the reader's own error for its IO category.
        return Error::io(file, std::io::Error::from(e));
    }
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let problem = text.strip_suffix(&suffix).unwrap_or(&text).to_string();
    Error::Json {
        file: file.to_string(),
        line: e.line(),
        column: e.column(),
        problem,
    }
}

struct Records<'a, T, F> {
    each: RefCell<F>,
    failure: &'a RefCell<Option<Error>>,
    _record: PhantomData<T>,
}

impl<'de, T, F> Visitor<'de> for Records<'_, T, F>
where
    T: DeserializeOwned,
    F: FnMut(usize, T) -> Result<()>,
{
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON array of records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<usize, A::Error> {
        let mut each = self.each.borrow_mut();
        let mut n = 0;
        while let Some(record) = seq.next_element::<T>()? {
            if let Err(e) = each(n, record) {
                *self.failure.borrow_mut() = Some(e);
                return Err(serde::de::Error::custom("stopped by the record handler"));
            }
            n += 1;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Vec<u32>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        std::fs::write(&path, text).unwrap();
        let mut out = Vec::new();
        for_each_record::<u32, _>(&path, "a.json", |_, x| {
            out.push(x);
            Ok(())
        })?;
        Ok(out)
    }

    #[test]
    fn reads_every_element_in_order() {
        assert_eq!(read("[3, 1,\n 2]").unwrap(), [3, 1, 2]);
        assert_eq!(read("[]").unwrap(), Vec::<u32>::new());
    }

    #[test]
    fn malformed_json_names_line_and_column() {
        let e = read("[1,\n 2,,]").unwrap_err().to_string();
        assert_eq!(e, "a.json:2:4: malformed json: expected value");
    }

    #[test]
    fn trailing_text_is_an_error() {
        let e = read("[1] x").unwrap_err().to_string();
        assert!(
            e.starts_with("a.json:1:5: malformed json: trailing characters"),
            "{e}"
        );
    }

    #[test]
    fn an_object_is_not_an_array() {
        let e = read("{}").unwrap_err().to_string();
        assert!(e.contains("a JSON array of records"), "{e}");
    }

    #[test]
    fn the_handler_error_is_returned_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        std::fs::write(&path, "[1, 2, 3]").unwrap();
        let e = for_each_record::<u32, _>(&path, "a.json", |i, _| {
            if i == 1 {
                Err(Error::Invalid {
                    what: "x".into(),
                    problem: "stop".into(),
                })
            } else {
                Ok(())
            }
        })
        .unwrap_err();
        assert_eq!(e.to_string(), "x: stop");
    }
}
