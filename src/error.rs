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
    /// A file or directory could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file or directory.
        path: std::path::PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// An image could not be encoded.
    #[error("cannot encode image {image_id}: {source}")]
    ImageEncode {
        /// The image id (`3e233001e2.jpg`).
        image_id: String,
        /// What the encoder said.
        #[source]
        source: image::ImageError,
    },
    /// libtorch reported an error.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}

/// Result with the library's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
