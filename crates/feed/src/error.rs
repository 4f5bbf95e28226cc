use std::path::PathBuf;

/// An error reading or merging market data. Every variant names where it happened.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// A resumed run's recorded data no longer matches the inputs the run
    /// journaled: resuming would compute from data the run never saw.
    #[error("the recorded data changed under this run: feed input {index} at {at} was journaled as {journaled}, the data now has {found}; restore the data, or start a new run (another `name` or journal)")]
    ReplayMismatch {
        /// Position in the feed.
        index: u64,
        /// The journaled input's time.
        at: vigil_core::Timestamp,
        /// What the journal holds.
        journaled: String,
        /// What the data holds now (`nothing`: it ends earlier).
        found: String,
    },
    /// The file could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A required column is missing from the header.
    #[error("{path}:1: missing column `{column}` (header has: {found})")]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The column looked for (with accepted aliases).
        column: String,
        /// The columns present.
        found: String,
    },
    /// A field could not be parsed or failed validation.
    #[error("{path}:{line}: field `{field}`: {reason} (value `{value}`)")]
    Field {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// The column name.
        field: String,
        /// The raw text.
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// A row is malformed as CSV (wrong field count, bad quoting, not UTF-8).
    #[error("{path}:{line}: malformed row: {message}")]
    Row {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// A row's timestamp is not after the previous row's.
    #[error("{path}:{line}: field `{field}`: timestamp {ts} is not after the previous row's {prev}; rows must be in increasing time order")]
    OutOfOrder {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// The timestamp column.
        field: String,
        /// This row's timestamp.
        ts: String,
        /// The previous row's timestamp.
        prev: String,
    },
    /// A merged source produced an event earlier than its previous one.
    #[error("source `{source_name}`: event at {ts} comes after one at {prev}; sources must be time-ordered")]
    SourceOutOfOrder {
        /// The source's name.
        source_name: String,
        /// The offending event's time.
        ts: String,
        /// The previous event's time.
        prev: String,
    },
    /// A binary bar file (`.vbar`) is damaged, edited or invalid.
    #[error("{path}: {message}")]
    BarFile {
        /// The file.
        path: PathBuf,
        /// What is wrong (naming the record where there is one).
        message: String,
    },
    /// Two files of one instrument hold different bars for the same time.
    #[error("{first} and {second} disagree at {ts} ({detail}): files that overlap must hold the same bars")]
    Overlap {
        /// The file read first.
        first: PathBuf,
        /// The other file.
        second: PathBuf,
        /// The bar's open time.
        ts: String,
        /// Both bars.
        detail: String,
    },
    /// An invalid option was given to a reader.
    #[error("{0}")]
    Config(String),
    /// A source names an instrument that is not declared.
    #[error("`instrument`: `{0}` is not declared under [[instruments]]")]
    UnknownInstrument(String),
}
