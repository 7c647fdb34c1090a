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
    /// A loss term would be NaN or infinite; training stops instead of spreading it.
    #[error("non-finite {term}: {problem}")]
    NonFinite {
        /// Which loss term (for example `L_D (seje_log form)`).
        term: String,
        /// Why it is not finite.
        problem: String,
    },
    /// A configuration is malformed, has an unknown key or an invalid value.
    #[error("{origin}: {problem}")]
    Config {
        /// The file or override it came from.
        origin: String,
        /// What is wrong.
        problem: String,
    },
    /// A JSON file is not valid JSON, or a value in it has the wrong type.
    #[error("{file}:{line}:{column}: malformed json: {problem}")]
    Json {
        /// The file, relative to the dataset root.
        file: String,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// What the parser found.
        problem: String,
    },
    /// A record lacks a field the dataset format requires.
    #[error("{file}: {record}: missing field `{field}`")]
    MissingField {
        /// The file, relative to the dataset root.
        file: String,
        /// Which record: `recipe <id>`, or `entry <n>` when the id itself is missing.
        record: String,
        /// The missing field.
        field: &'static str,
    },
    /// A field has a value outside its domain (a partition that is not train/val/test, a `valid`
    /// list whose length differs from the ingredient list).
    #[error("{file}: {record}: field `{field}` {problem}")]
    BadField {
        /// The file, relative to the dataset root.
        file: String,
        /// Which record (`recipe <id>`).
        record: String,
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// The same recipe id appears twice in one file.
    #[error("{file}: recipe {id} appears twice (entries {first} and {second})")]
    DuplicateId {
        /// The file, relative to the dataset root.
        file: String,
        /// The repeated recipe id.
        id: String,
        /// 0-based index of the first entry with this id.
        first: usize,
        /// 0-based index of the second entry with this id.
        second: usize,
    },
    /// A recipe id is not lowercase hex, or could escape the image root.
    #[error("{file}: recipe id {id:?} {problem}")]
    BadRecipeId {
        /// The file, relative to the dataset root.
        file: String,
        /// The offending id, verbatim.
        id: String,
        /// Why it is refused.
        problem: String,
    },
    /// An image id is not `<lowercase hex>.<jpg|jpeg|png>`, or could escape the image root.
    #[error("{file}: recipe {recipe}: image id {image:?} {problem}")]
    BadImageId {
        /// The file, relative to the dataset root.
        file: String,
        /// The recipe that lists the image.
        recipe: String,
        /// The offending image id, verbatim.
        image: String,
        /// Why it is refused.
        problem: String,
    },
    /// A recipe of layer1.json has no entry in another file that must describe every recipe.
    #[error("{file}: no entry for recipe {id} (listed in layer1.json)")]
    MissingRecord {
        /// The file that lacks the entry, relative to the dataset root.
        file: String,
        /// The recipe id.
        id: String,
    },
    /// An image listed in layer2.json is in neither image layout.
    #[error("recipe {recipe}: image {image} not found (looked for {tried})")]
    ImageMissing {
        /// The recipe that lists the image.
        recipe: String,
        /// The image id.
        image: String,
        /// The paths tried, relative to the dataset root.
        tried: String,
    },
    /// An image file exists but cannot be decoded.
    #[error("{file}: recipe {recipe}: image {image} cannot be decoded: {problem}")]
    ImageCorrupt {
        /// The image file, relative to the dataset root.
        file: String,
        /// The recipe that lists the image.
        recipe: String,
        /// The image id.
        image: String,
        /// What the decoder said.
        problem: String,
    },
    /// A file or directory cannot be opened, read, listed, renamed or removed (writes that fail
    /// are [`Error::Write`]). The operating system's error is kept as the source; the message
    /// shows it in lower case, as every message of the library.
    #[error("{}: {}", path.display(), lower_case(source))]
    Io {
        /// The file (relative to the dataset root where there is one).
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// A feature store file is not what the reader expects.
    #[error("{file}: feature store: {problem}")]
    FeatureStore {
        /// The store file.
        file: String,
        /// What is wrong.
        problem: String,
    },
    /// A job sized for a GPU would run on the CPU and the person did not ask for the CPU.
    #[error(
        "{job} is sized for a GPU and would run on this CPU: {estimate}. Lighter: {lighter}. To run \
         it on the CPU anyway, pass --device cpu"
    )]
    HeavyOnCpu {
        /// The job, in words.
        job: String,
        /// What a timed batch says about it.
        estimate: String,
        /// The lighter alternative.
        lighter: String,
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
    NonFiniteEmbedding {
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
    /// A retrieval index was built with another run than the model it is queried with.
    #[error(
        "index {index} was built with another run: the index holds {index_run}; the model is {model_run}"
    )]
    IndexMismatch {
        /// The index file.
        index: PathBuf,
        /// The run identity the index records.
        index_run: String,
        /// The identity of the run given with the query.
        model_run: String,
    },
    /// libtorch reported an error.
    /// libtorch could not read or write a file (a variable store, a safetensors file).
    #[error("{}: {source}", path.display())]
    TorchFile {
        /// The file.
        path: PathBuf,
        /// What libtorch said.
        #[source]
        source: tch::TchError,
    },
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}

/// Result with the library's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// A libtorch failure reading or writing `path`, libtorch's error kept as the source.
    pub fn torch_file(path: impl Into<PathBuf>, source: tch::TchError) -> Self {
        Error::TorchFile {
            path: path.into(),
            source,
        }
    }

    /// An IO error on `path`, the operating system's error kept as the source.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// The operating system's message in the library's lower case.
fn lower_case(e: &std::io::Error) -> String {
    e.to_string().to_lowercase()
}
