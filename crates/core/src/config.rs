//! Loading TOML config files: one error type for every file vigil reads (agent,
//! backtest, sweep), naming the file, the line and the field.
//!
//! A file is read once into a [`TomlFile`]; [`TomlFile::parse`] deserialises it
//! (syntax and type errors carry the parser's own span), and errors found later,
//! by validation, are placed with [`TomlFile::field_error`]: the line comes from
//! the parser's spans for that field, never from searching the text.
//!
//! ```
//! use vigil_core::config::{FieldError, TomlFile};
//! let file = TomlFile::from_text("agent.toml", "name = \"x\"\n[strategy]\nslow = 0\n");
//! let err = file.field_error(FieldError::new("strategy.slow", "`slow` must be positive"));
//! assert_eq!(err.to_string(), "agent.toml:3: `slow` must be positive");
//! assert_eq!(err.line, Some(3));
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// What went wrong with a config file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigErrorKind {
    /// The file could not be read.
    Read(String),
    /// The TOML is malformed, or a value has the wrong type or an unknown name.
    Syntax(String),
    /// A well-formed value is not acceptable (validation).
    Invalid(String),
}

impl fmt::Display for ConfigErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigErrorKind::Read(m) | ConfigErrorKind::Syntax(m) | ConfigErrorKind::Invalid(m) => {
                f.write_str(m)
            }
        }
    }
}

/// A config file error: the file, the 1-based line and the field where known,
/// and what is wrong. Displays as `path:line: message`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The file.
    pub path: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// The field at fault as a path (`strategy.slow`, `data.bars[2].interval`),
    /// when known.
    pub field: Option<String>,
    /// What is wrong.
    pub kind: ConfigErrorKind,
}

impl ConfigError {
    /// An error about the file as a whole (no line, no field).
    pub fn whole_file(path: impl Into<PathBuf>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            path: path.into(),
            line: None,
            field: None,
            kind: ConfigErrorKind::Invalid(message.into()),
        }
    }

    /// The message without the location.
    pub fn message(&self) -> String {
        self.kind.to_string()
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{}: {}", self.path.display(), l, self.kind),
            None => write!(f, "{}: {}", self.path.display(), self.kind),
        }
    }
}

impl std::error::Error for ConfigError {}

/// A validation error before it is placed in a file: the field path and what is
/// wrong with it. Libraries return these; the loader turns them into
/// [`ConfigError`]s with the line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FieldError {
    /// The field path (`""` for the file as a whole).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl FieldError {
    /// An error about `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The same error, one table deeper: `prefix.field`.
    pub fn within(mut self, prefix: &str) -> FieldError {
        if prefix.is_empty() {
            return self;
        }
        self.field = if self.field.is_empty() {
            prefix.to_string()
        } else {
            format!("{prefix}.{}", self.field)
        };
        self
    }
}

/// A config file's path and text, read once.
#[derive(Clone, Debug)]
pub struct TomlFile {
    /// Where it was read from (relative paths in it are relative to its directory).
    pub path: PathBuf,
    /// Its text.
    pub text: String,
}

impl TomlFile {
    /// Reads a file.
    pub fn read(path: impl AsRef<Path>) -> Result<TomlFile, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            path: path.to_path_buf(),
            line: None,
            field: None,
            kind: ConfigErrorKind::Read(e.to_string()),
        })?;
        Ok(TomlFile {
            path: path.to_path_buf(),
            text,
        })
    }

    /// A file from text already in memory (`path` names it in errors).
    pub fn from_text(path: impl Into<PathBuf>, text: impl Into<String>) -> TomlFile {
        TomlFile {
            path: path.into(),
            text: text.into(),
        }
    }

    /// The directory relative paths in the file are resolved against.
    pub fn dir(&self) -> PathBuf {
        self.path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }

    /// A path from the file, resolved against its directory.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.dir().join(path)
        }
    }

    /// Deserialises the file; errors carry the parser's line.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ConfigError> {
        toml::from_str::<T>(&self.text).map_err(|e| {
            let line = e.span().map(|s| self.line_at(s.start));
            let line_text = line
                .and_then(|l| self.text.lines().nth(l - 1))
                .unwrap_or("");
            ConfigError {
                path: self.path.clone(),
                line,
                field: None,
                kind: ConfigErrorKind::Syntax(plain_message(e.message().trim(), line_text)),
            }
        })
    }

    /// Places a validation error: the line of its field, from the parser's spans.
    pub fn field_error(&self, e: FieldError) -> ConfigError {
        let line = (!e.field.is_empty())
            .then(|| self.line_of(&e.field))
            .flatten();
        ConfigError {
            path: self.path.clone(),
            line,
            field: (!e.field.is_empty()).then_some(e.field),
            kind: ConfigErrorKind::Invalid(e.message),
        }
    }

    /// An error about the file as a whole.
    pub fn error(&self, message: impl Into<String>) -> ConfigError {
        ConfigError::whole_file(&self.path, message)
    }

    /// The 1-based line where `field` is written, if it is. A field is a dotted
    /// path of keys; an array element is chosen by index (`bars[2]`) or by the
    /// value of one of its keys (`instruments[symbol=BTCUSDT]`).
    pub fn line_of(&self, field: &str) -> Option<usize> {
        let doc = DeTable::parse(&self.text).ok()?;
        let mut table: &DeTable<'_> = doc.get_ref();
        let mut span = None;
        let segments: Vec<&str> = field.split('.').collect();
        for (i, segment) in segments.iter().enumerate() {
            let (key, selector) = match segment.split_once('[') {
                Some((k, rest)) => (k, Some(rest.trim_end_matches(']'))),
                None => (*segment, None),
            };
            let (k, v) = entry(table, key)?;
            let mut value: &Spanned<DeValue<'_>> = v;
            span = Some(k.span());
            if let Some(sel) = selector {
                let DeValue::Array(items) = value.get_ref() else {
                    return span.map(|s| self.line_at(s.start));
                };
                value = select(items, sel)?;
                span = Some(value.span());
            }
            let last = i + 1 == segments.len();
            match value.get_ref() {
                DeValue::Table(t) if !last => table = t,
                _ if last => break,
                _ => return span.map(|s| self.line_at(s.start)),
            }
        }
        span.map(|s| self.line_at(s.start))
    }

    fn line_at(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())]
            .matches('\n')
            .count()
            + 1
    }
}

fn entry<'a, 'i>(
    table: &'a DeTable<'i>,
    key: &str,
) -> Option<(
    &'a Spanned<toml::de::DeString<'i>>,
    &'a Spanned<DeValue<'i>>,
)> {
    table.iter().find(|(k, _)| k.get_ref().as_ref() == key)
}

fn select<'a, 'i>(
    items: &'a [Spanned<DeValue<'i>>],
    selector: &str,
) -> Option<&'a Spanned<DeValue<'i>>> {
    if let Ok(i) = selector.parse::<usize>() {
        return items.get(i);
    }
    let (key, want) = selector.split_once('=')?;
    items.iter().find(|item| match item.get_ref() {
        DeValue::Table(t) => entry(t, key).is_some_and(|(_, v)| match v.get_ref() {
            DeValue::String(s) => s.as_ref() == want,
            _ => false,
        }),
        _ => false,
    })
}

/// At most the first 60 characters of a value, for messages: an error never
/// echoes a whole field back (a 10 MB field must not become 10 MB on stderr).
pub fn excerpt(value: &str) -> String {
    const MAX: usize = 60;
    match value.char_indices().nth(MAX) {
        None => value.to_string(),
        Some((cut, _)) => format!("{}… ({} bytes in all)", &value[..cut], value.len()),
    }
}

/// A parser message made plainer: the ones serde and toml give for vigil's
/// common mistakes, rewritten to say what to write instead.
fn plain_message(message: &str, line_text: &str) -> String {
    let message = excerpt_long_values(message);
    if message.contains("expected a Decimal type representing a fixed-point number") {
        return "not a decimal vigil can hold exactly: numbers must lie within ±7.9e28 and \
                carry at most 28 significant digits"
            .to_string();
    }
    let value = line_text.split_once('=').map_or("", |(_, v)| v.trim());
    if message.starts_with("invalid type: map, expected a string")
        && value.chars().next().is_some_and(|c| c.is_ascii_digit())
    {
        let key = line_text.split_once('=').map_or("", |(k, _)| k.trim());
        return format!(
            "`{value}` is a TOML date literal; vigil reads times as strings: write {key} = \"{value}\""
        );
    }
    message
}

/// A message that quotes a value longer than [`excerpt`] allows, shortened.
fn excerpt_long_values(message: &str) -> String {
    if message.len() <= 200 {
        return message.to_string();
    }
    excerpt(message)
}

/// Reads and deserialises a TOML file in one step, keeping the file for placing
/// later validation errors.
pub fn load_toml<T: DeserializeOwned>(
    path: impl AsRef<Path>,
) -> Result<(T, TomlFile), ConfigError> {
    let file = TomlFile::read(path)?;
    let value = file.parse()?;
    Ok((value, file))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "a = 1\n[strategy]\nname = \"x\"\nslow = 2\n[risk]\nslow = 3\n\n[[instruments]]\nsymbol = \"BTCUSDT\"\n[[instruments]]\nsymbol = \"ETHUSDT\"\nbase = \"ETH\"\n[[data.bars]]\ninstrument = \"ETHUSDT\"\ninterval = \"1m\"\n";

    #[test]
    fn fields_are_placed_by_the_parser() {
        let f = TomlFile::from_text("c.toml", TEXT);
        assert_eq!(f.line_of("a"), Some(1));
        assert_eq!(f.line_of("strategy.slow"), Some(4));
        assert_eq!(f.line_of("risk.slow"), Some(6));
        assert_eq!(f.line_of("instruments[symbol=ETHUSDT].base"), Some(12));
        assert_eq!(f.line_of("instruments[1].symbol"), Some(11));
        assert_eq!(f.line_of("data.bars[0].interval"), Some(15));
        assert_eq!(
            f.line_of("data.bars[instrument=ETHUSDT].instrument"),
            Some(14)
        );
        assert_eq!(f.line_of("strategy.missing"), None);
        assert_eq!(f.line_of("nothing"), None);
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let f = TomlFile::from_text("c.toml", TEXT);
        let e = f.field_error(FieldError::new("risk.slow", "too slow").within(""));
        assert_eq!(e.to_string(), "c.toml:6: too slow");
        let e = f.field_error(FieldError::new("slow", "bad").within("strategy"));
        assert_eq!(e.field.as_deref(), Some("strategy.slow"));
        assert_eq!(e.line, Some(4));
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Small {
            a: i64,
        }
        let e = TomlFile::from_text("s.toml", "a = 1\nb = 2\n")
            .parse::<Small>()
            .unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
        assert!(matches!(e.kind, ConfigErrorKind::Syntax(_)));
        assert!(
            e.to_string().starts_with("s.toml:2: unknown field `b`"),
            "{e}"
        );
    }
}
