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
    /// A loss term would be NaN or infinite; training stops instead of spreading it.
    #[error("non-finite {term}: {problem}")]
    NonFinite {
        /// Which loss term (for example `L_D (seje_log form)`).
        term: String,
        /// Why it is not finite.
        problem: String,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// A configuration is malformed, has an unknown key or an invalid value.
    #[error("{origin}: {problem}")]
    Config {
        /// The file or override it came from.
        origin: String,
        /// What is wrong.
        problem: String,
    },
    /// libtorch reported an error.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}

/// Result with the library's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
