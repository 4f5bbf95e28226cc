//! `path` in a bar source: one file, a list, or a glob.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The files of one bar source, as a config writes them: `path = "a.csv"`,
/// `path = ["2023.csv", "2024.csv"]`, or `path = "data/BTCUSDT-1m-*.csv"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BarPaths {
    /// One path (or one glob).
    One(PathBuf),
    /// Several paths (each may be a glob).
    Many(Vec<PathBuf>),
}

impl From<PathBuf> for BarPaths {
    fn from(p: PathBuf) -> Self {
        BarPaths::One(p)
    }
}

impl From<String> for BarPaths {
    fn from(p: String) -> Self {
        BarPaths::One(PathBuf::from(p))
    }
}

impl From<&str> for BarPaths {
    fn from(p: &str) -> Self {
        BarPaths::One(PathBuf::from(p))
    }
}

fn is_glob(p: &Path) -> bool {
    p.to_string_lossy().contains(['*', '?', '['])
}

impl BarPaths {
    /// The paths as written.
    pub fn written(&self) -> &[PathBuf] {
        match self {
            BarPaths::One(p) => std::slice::from_ref(p),
            BarPaths::Many(v) => v,
        }
    }

    /// The files, relative paths joined to `base`, globs expanded (sorted; a
    /// leading dot must be matched literally, so caches are never picked up).
    /// A glob matching no file, or an empty list, is an error.
    pub fn expand(&self, base: &Path) -> Result<Vec<PathBuf>, String> {
        let mut out = Vec::new();
        if self.written().is_empty() {
            return Err("`path` is an empty list: name at least one file".into());
        }
        for p in self.written() {
            let full = if p.is_absolute() {
                p.clone()
            } else {
                base.join(p)
            };
            if !is_glob(p) {
                out.push(full);
                continue;
            }
            let options = glob::MatchOptions {
                require_literal_leading_dot: true,
                ..glob::MatchOptions::new()
            };
            let pattern = full.to_string_lossy().into_owned();
            let matches = glob::glob_with(&pattern, options)
                .map_err(|e| format!("`path` `{}` is not a valid pattern: {e}", p.display()))?;
            let mut found: Vec<PathBuf> = matches
                .filter_map(Result::ok)
                .filter(|m| m.is_file())
                .collect();
            if found.is_empty() {
                return Err(format!("`path` `{}` matches no file", p.display()));
            }
            found.sort();
            out.append(&mut found);
        }
        out.dedup();
        Ok(out)
    }

    /// A name for messages: the one file, or the paths as written.
    pub fn describe(&self, base: &Path) -> String {
        match self {
            BarPaths::One(p) if !is_glob(p) => {
                let full = if p.is_absolute() {
                    p.clone()
                } else {
                    base.join(p)
                };
                full.display().to_string()
            }
            _ => self
                .written()
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}

impl Serialize for BarPaths {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            BarPaths::One(p) => p.serialize(s),
            BarPaths::Many(v) => v.serialize(s),
        }
    }
}

struct PathsVisitor;

impl<'de> Visitor<'de> for PathsVisitor {
    type Value = BarPaths;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a path, a glob, or a list of paths")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<BarPaths, E> {
        Ok(BarPaths::One(PathBuf::from(v)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<BarPaths, A::Error> {
        let mut v = Vec::new();
        while let Some(p) = seq.next_element::<String>()? {
            v.push(PathBuf::from(p));
        }
        Ok(BarPaths::Many(v))
    }
}

impl<'de> Deserialize<'de> for BarPaths {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(PathsVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, Serialize, Debug)]
    struct T {
        path: BarPaths,
    }

    #[test]
    fn one_path_a_list_or_a_glob() {
        let t: T = toml::from_str("path = \"a.csv\"").unwrap();
        assert_eq!(t.path, BarPaths::One("a.csv".into()));
        let t: T = toml::from_str("path = [\"a.csv\", \"b.csv\"]").unwrap();
        assert_eq!(t.path, BarPaths::Many(vec!["a.csv".into(), "b.csv".into()]));
        assert_eq!(
            toml::to_string(&t).unwrap().trim(),
            "path = [\"a.csv\", \"b.csv\"]"
        );
        let e = toml::from_str::<T>("path = 3").unwrap_err().to_string();
        assert!(e.contains("a path, a glob, or a list of paths"), "{e}");

        let dir = tempfile::tempdir().unwrap();
        for f in ["x-2024-02.csv", "x-2024-01.csv", ".x-cache.csv", "y.csv"] {
            std::fs::write(dir.path().join(f), "").unwrap();
        }
        let files = BarPaths::from("x-*.csv").expand(dir.path()).unwrap();
        let names: Vec<_> = files
            .iter()
            .map(|f| f.file_name().unwrap().to_str().unwrap())
            .collect();
        assert_eq!(names, ["x-2024-01.csv", "x-2024-02.csv"]);
        let e = BarPaths::from("z-*.csv").expand(dir.path()).unwrap_err();
        assert_eq!(e, "`path` `z-*.csv` matches no file");
        assert!(BarPaths::Many(vec![]).expand(dir.path()).is_err());
    }
}
