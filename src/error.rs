//! The library's typed errors. Messages are lower-case, have no trailing period and name the
//! offending input (which tensor, which file, which recipe id).
//!
//! Spec: spec/README.md (conventions).

use std::path::PathBuf;

/// Every error the `seje` library returns.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A tensor argument has the wrong shape.
    #[error("{what}: expected shape {expected}, got {got:?}")]
    Shape {
        /// Which tensor (for example `recipe embeddings`).
        what: String,
        /// The expected shape, in words (`[n, d]` with the same d as the images).
        expected: String,
        /// The shape that was given.
        got: Vec<i64>,
    },
    /// An argument is outside its domain.
    #[error("{what}: {problem}")]
    Invalid {
        /// Which argument.
        what: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A checkpoint file (`torch.save` output) is not what the reader expected.
    #[error("{file}: expected {expected}, found {found}")]
    Checkpoint {
        /// The file being read.
        file: PathBuf,
        /// What the reader expected (`a zip archive`, `a tensor under key \`state_dict\``).
        expected: String,
        /// What it found instead.
        found: String,
    },
    /// A pickle stream holds an opcode the reader does not implement.
    #[error(
        "{file}: unsupported pickle opcode {opcode:#04x} ({name}) at byte {offset} of {record}"
    )]
    PickleOpcode {
        /// The file being read.
        file: PathBuf,
        /// The pickle record inside the archive (`archive/data.pkl`).
        record: String,
        /// The opcode byte.
        opcode: u8,
        /// Its name in Python's `pickletools`, or `unknown`.
        name: &'static str,
        /// Byte offset of the opcode in the record.
        offset: usize,
    },
    /// A pickle stream names a Python global that is not on the reader's allow-list; the reader
    /// never executes code, so it refuses instead of calling it.
    #[error(
        "{file}: refusing pickle global `{module}.{name}` at byte {offset} of {record} \
         (only tensors, storages, OrderedDict and NumPy scalars are allowed; see \
         spec/checkpoint-format.md)"
    )]
    PickleGlobal {
        /// The file being read.
        file: PathBuf,
        /// The pickle record inside the archive.
        record: String,
        /// The global's module (`builtins`).
        module: String,
        /// The global's name (`print`).
        name: String,
        /// Byte offset of the GLOBAL opcode in the record.
        offset: usize,
    },
    /// The file is in the legacy (PyTorch < 1.6) `torch.save` format, which the reader refuses.
    #[error(
        "{file}: legacy torch.save format (PyTorch < 1.6) is not supported; re-save it with \
         PyTorch >= 1.6: torch.save(torch.load(path, weights_only=True), new_path)"
    )]
    LegacyCheckpoint {
        /// The file being read.
        file: PathBuf,
    },
    /// Reading a file failed.
    #[error("{file}: {source}")]
    Io {
        /// The file being read.
        file: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// libtorch reported an error.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}

/// Result with the library's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
