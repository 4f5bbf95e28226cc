//! Errors of the data tools. Each names the file, URL or row it is about.

use std::path::{Path, PathBuf};

/// An error downloading, converting or checking market data.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A local file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The request did not get an answer (DNS, refused, TLS, timeout…), after retries.
    #[error("{url}: {cause}")]
    Network {
        /// The URL.
        url: String,
        /// The cause, in one line.
        cause: String,
    },
    /// The server answered with an error status (after retries where they apply).
    #[error("{url}: HTTP {status}{message}")]
    Http {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
        /// `: <what the server said>`, or empty.
        message: String,
    },
    /// A `.CHECKSUM` file is missing or unreadable.
    #[error("{url}: {message}")]
    Checksum {
        /// The CHECKSUM file's URL.
        url: String,
        /// What is wrong.
        message: String,
    },
    /// A downloaded file's sha256 differs from its published checksum.
    #[error("{file}: checksum mismatch: the archive publishes sha256 {expected}, the download has {actual}; nothing was written")]
    ChecksumMismatch {
        /// The archive file's name.
        file: String,
        /// The published digest.
        expected: String,
        /// The digest of what arrived.
        actual: String,
    },
    /// An archive is not a readable zip of one CSV.
    #[error("{file}: {message}")]
    Zip {
        /// The archive file's name.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// A row of downloaded data is wrong.
    #[error("{file}:{line}: field `{field}`: {message}")]
    Row {
        /// The file (an archive's inner CSV, or a REST URL).
        file: String,
        /// 1-based line (or row index for REST pages).
        line: u64,
        /// The field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The archive has no file for a period before the symbol's first data.
    #[error("{series}: the archive has no {period} file (HTTP 404): {why}")]
    NotListed {
        /// `binance spot BTCUSDT 1h`.
        series: String,
        /// The period asked for.
        period: String,
        /// When the data starts, or what else is known.
        why: String,
    },
    /// An existing output file cannot be extended.
    #[error("{path}: {message}")]
    Output {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Invalid options.
    #[error("{0}")]
    Options(String),
}

impl DataError {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> DataError {
        DataError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
