//! Why reuse could not help a job: its settings are wrong, it has no key, or the store could
//! not keep or give back an entry. None of these fails a run — the runner notes the reason and
//! runs the job — so the messages are written to follow "not reused: ".

use std::path::PathBuf;

/// A mistake in `reuse`, `[reuse_store]` or `[jobs.NAME]` of `.gantry/config.toml`; the
/// message names the table.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// `reuse = "yes"` and the like.
    #[error("`reuse` must be true or false, not {value}")]
    NotABool {
        /// The value as written.
        value: toml::Value,
    },
    /// `[reuse_store]` has an unknown key or a wrong type.
    #[error("[reuse_store]: {source}")]
    Store {
        /// The decoder's error.
        source: toml::de::Error,
    },
    /// `max_size` is not a size.
    #[error("[reuse_store] max_size: {source}")]
    MaxSize {
        /// Why.
        source: SizeError,
    },
    /// `[jobs.NAME]` is not a table of `inputs` and `reuse`.
    #[error("[jobs.{job}] must be a table with `inputs` and/or `reuse`")]
    JobShape {
        /// The table's name.
        job: String,
    },
    /// An `inputs` glob does not parse.
    #[error("[jobs.{job}] inputs: `{glob}`: {source}")]
    Glob {
        /// The table's name.
        job: String,
        /// The glob as written.
        glob: String,
        /// The parser's error.
        source: globset::Error,
    },
    /// A job's globs do not build into one matcher.
    #[error("[jobs.{job}]: {source}")]
    Globs {
        /// The table's name.
        job: String,
        /// The builder's error.
        source: globset::Error,
    },
    /// All jobs' globs do not build into one matcher.
    #[error("[jobs] inputs: {source}")]
    AllGlobs {
        /// The builder's error.
        source: globset::Error,
    },
}

/// A size that is not one (`max_size = "lots"`).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SizeError {
    /// No number in front.
    #[error("`{text}` is not a size")]
    NotANumber {
        /// As written.
        text: String,
    },
    /// A unit gantry does not know.
    #[error("unknown unit `{unit}` (use B, KiB, MiB, GiB, KB, MB, GB)")]
    Unit {
        /// As written.
        unit: String,
    },
    /// More bytes than 64 bits hold.
    #[error("`{text}` is too large")]
    TooLarge {
        /// As written.
        text: String,
    },
    /// Neither a number nor a string.
    #[error("expected bytes or a string like \"2 GiB\", not {value}")]
    Type {
        /// The value as written.
        value: toml::Value,
    },
}

/// Why a job has no key (so it runs).
#[derive(Debug, thiserror::Error)]
pub enum NoKey {
    /// Its image or a service's has no known digest.
    #[error("image `{image}` cannot be resolved to a digest: {source}")]
    Image {
        /// The image.
        image: String,
        /// Why (from the executor; boxed: the clients' errors are large).
        source: Box<crate::executor::ExecutorError>,
    },
    /// A job it needs has no key either.
    #[error(transparent)]
    Dependency(#[from] Unknown),
}

/// Why what a needed job hands on is not known before it runs (`gantry plan --reuse`).
#[derive(Clone, Debug, thiserror::Error)]
pub enum Unknown {
    /// The needed job is not in the plan.
    #[error("needs `{job}`, which is not in this plan")]
    NotInPlan {
        /// The needed job.
        job: String,
    },
    /// The needed job would not be reused.
    #[error("needs `{job}`, which would run")]
    WouldRun {
        /// The needed job.
        job: String,
    },
}

/// The store could not keep an entry or give one back, or its key could not be made.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file of the store or the key could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// Which file or directory.
        path: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// The entry could not be encoded.
    #[error("entry.json: {source}")]
    Json {
        /// The encoder's error.
        source: serde_json::Error,
    },
    /// No random bytes for the project's key.
    #[error("no randomness: {source}")]
    Randomness {
        /// The system's error.
        source: getrandom::Error,
    },
    /// Another run's key is there but cannot be read.
    #[error("{} is unreadable", path.display())]
    KeyUnreadable {
        /// The key file.
        path: PathBuf,
    },
    /// The entry's `entry.json` could not be read; the entry was deleted.
    #[error("its store entry was unreadable and has been removed")]
    Unreadable,
    /// The entry failed its check; it was deleted.
    #[error("its store entry was corrupt ({why}) and has been removed")]
    Corrupt {
        /// What did not match.
        why: Corruption,
    },
}

/// What an entry's check found.
#[derive(Debug, thiserror::Error)]
pub enum Corruption {
    /// A file could not be read or copied (`path` relative to the entry or the workspace).
    #[error("{path}: {source}")]
    Io {
        /// Which file.
        path: String,
        /// The system's error.
        source: std::io::Error,
    },
    /// The log changed.
    #[error("the log does not match its digest")]
    LogDigest,
    /// Files appeared or went.
    #[error("{present} artifact files where {stored} were stored")]
    Count {
        /// Files there now.
        present: usize,
        /// Files recorded.
        stored: usize,
    },
    /// The recorded list changed.
    #[error("the artifact list does not match its digest")]
    ListDigest,
    /// A recorded path is absolute or climbs out.
    #[error("artifact path `{path}` leaves the store")]
    Escapes {
        /// The recorded path.
        path: String,
    },
    /// A recorded file is something else now.
    #[error("`{path}` is not the file stored")]
    NotStored {
        /// The recorded path.
        path: String,
    },
    /// A file's content changed.
    #[error("`{path}` does not match its digest")]
    Digest {
        /// The recorded path.
        path: String,
    },
    /// The log is not text.
    #[error("the log is not UTF-8")]
    LogUtf8,
}
