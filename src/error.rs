//! The library's typed errors. Messages are lower-case, have no trailing period and name the
//! offending input (which tensor, which file, which recipe id).
//!
//! Spec: spec/README.md (conventions).

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
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A file was read but its content is not what the format requires.
    #[error("{path}: {problem}")]
    Format {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong, naming the field or offset.
        problem: String,
    },
    /// An embedding row holds NaN or an infinity.
    #[error("{what}: row {row}{id} holds a non-finite value ({value}) at column {column}")]
    NonFinite {
        /// Which matrix (`image embeddings of run.safetensors`).
        what: String,
        /// The row.
        row: usize,
        /// ` (recipe id …)` when the ids are known, else empty.
        id: String,
        /// The column.
        column: usize,
        /// The value (`NaN`, `inf`, `-inf`).
        value: f32,
    },
    /// An evaluation subset is larger than the test set it is drawn from.
    #[error("subset size {size} is larger than the test set ({available} pairs)")]
    SubsetTooLarge {
        /// The requested size.
        size: usize,
        /// The number of pairs available.
        available: usize,
    },
    /// libtorch reported an error.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}

/// Result with the library's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
