//! Point-in-time grades from CSV.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use std::sync::Arc;

use vigil_core::{Grade, GradeKind, Interval, Timestamp, Universe};

use crate::error::FeedError;

/// How to read a grades file.
#[derive(Clone, Debug, Default)]
pub struct GradeCsvOptions {
    /// Source name for rows without a `source` column, e.g. `token-metrics`.
    pub default_source: Option<String>,
    /// Grade kind for rows without a `kind` column.
    pub default_kind: Option<GradeKind>,
    /// For files without a `published_at` column: publication = `as_of` + this lag
    /// (e.g. `1d` for daily grades dated at the start of the day they describe).
    /// Without it, such a file is refused — vigil never guesses publication times.
    pub publication_lag: Option<Interval>,
}

/// Reads a grades CSV into events ordered by publication time.
///
/// Columns (header-driven, case-insensitive): `symbol` (or `token`), `score` (or
/// `grade`), `as_of` (or `date`), `published_at`, and optional `kind` and `source`.
/// Scores must be within 0–100, and `published_at` must not precede `as_of`.
/// Grades files are small, so the file is read whole and sorted (stably) by
/// publication time; bars are streamed.
pub fn read_grades_csv(
    path: impl AsRef<Path>,
    universe: &mut Universe,
    options: &GradeCsvOptions,
) -> Result<Vec<Grade>, FeedError> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|source| FeedError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    read_grades(BufReader::new(file), path, universe, options)
}

fn find(headers: &[String], names: &[&str]) -> Option<usize> {
    headers
        .iter()
        .position(|h| names.iter().any(|n| h.eq_ignore_ascii_case(n)))
}

/// Reads grades from any reader; `path` is used in error messages.
pub(crate) fn read_grades<R: Read>(
    reader: R,
    path: &Path,
    universe: &mut Universe,
    options: &GradeCsvOptions,
) -> Result<Vec<Grade>, FeedError> {
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(reader);
    let headers: Vec<String> = rdr
        .headers()
        .map_err(|e| FeedError::Row {
            path: path.to_path_buf(),
            line: 1,
            message: e.to_string(),
        })?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').to_string())
        .collect();
    let missing = |names: &[&str]| FeedError::MissingColumn {
        path: path.to_path_buf(),
        column: names.join("|"),
        found: headers.join(","),
    };
    let symbol_col =
        find(&headers, &["symbol", "token"]).ok_or_else(|| missing(&["symbol", "token"]))?;
    let score_col =
        find(&headers, &["score", "grade"]).ok_or_else(|| missing(&["score", "grade"]))?;
    let as_of_col =
        find(&headers, &["as_of", "date"]).ok_or_else(|| missing(&["as_of", "date"]))?;
    let published_col = find(&headers, &["published_at"]);
    if published_col.is_none() && options.publication_lag.is_none() {
        return Err(FeedError::Config(format!(
            "{}:1: no `published_at` column; add one, or set a publication lag so that vigil knows when each grade became known",
            path.display()
        )));
    }
    let kind_col = find(&headers, &["kind"]);
    if kind_col.is_none() && options.default_kind.is_none() {
        return Err(missing(&["kind"]));
    }
    let source_col = find(&headers, &["source"]);
    let default_source: Arc<str> = Arc::from(options.default_source.as_deref().unwrap_or("csv"));

    let mut out: Vec<(Grade, u64)> = Vec::new();
    for row in rdr.records() {
        let rec = row.map_err(|e| FeedError::Row {
            path: path.to_path_buf(),
            line: e.position().map_or(0, |p| p.line()),
            message: e.to_string(),
        })?;
        let line = rec.position().map_or(0, |p| p.line());
        let field_err = |col: usize, reason: String| FeedError::Field {
            path: path.to_path_buf(),
            line,
            field: headers[col].clone(),
            value: vigil_core::config::excerpt(rec.get(col).unwrap_or_default()),
            reason,
        };
        let symbol = &rec[symbol_col];
        if symbol.is_empty() {
            return Err(field_err(symbol_col, "empty token symbol".into()));
        }
        let score: f64 = rec[score_col]
            .parse()
            .map_err(|_| field_err(score_col, "not a number".into()))?;
        if !Grade::is_valid_score(score) {
            return Err(field_err(score_col, "score must be within 0–100".into()));
        }
        let as_of = Timestamp::parse(&rec[as_of_col], None)
            .map_err(|e| field_err(as_of_col, e.to_string()))?;
        let published_at = match published_col {
            Some(c) => {
                let p = Timestamp::parse(&rec[c], None).map_err(|e| field_err(c, e.to_string()))?;
                if p < as_of {
                    return Err(field_err(
                        c,
                        format!("published before the time it describes ({})", as_of),
                    ));
                }
                p
            }
            None => as_of.add_nanos(options.publication_lag.map_or(0, |l| l.nanos())),
        };
        let kind = match kind_col {
            Some(c) if !rec[c].is_empty() => GradeKind::parse(&rec[c]),
            Some(c) => match &options.default_kind {
                Some(k) => k.clone(),
                None => return Err(field_err(c, "empty grade kind".into())),
            },
            None => options.default_kind.clone().expect("checked above"),
        };
        let source = match source_col {
            Some(c) if !rec[c].is_empty() => Arc::from(&rec[c]),
            _ => default_source.clone(),
        };
        out.push((
            Grade {
                asset: universe.asset(symbol),
                kind,
                source,
                score,
                as_of,
                published_at,
            },
            line,
        ));
    }
    out.sort_by_key(|(g, line)| (g.published_at, *line));
    Ok(out.into_iter().map(|(g, _)| g).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str, opts: &GradeCsvOptions) -> Result<Vec<Grade>, FeedError> {
        let mut u = Universe::new();
        read_grades(text.as_bytes(), Path::new("g.csv"), &mut u, opts)
    }

    #[test]
    fn sorts_by_publication_and_validates() {
        let g = read(
            "symbol,kind,score,as_of,published_at,source\nBTC,trader,70.5,2022-01-02,2022-01-03T00:00:00Z,tm\nETH,investor,40,2022-01-01,2022-01-02T00:00:00Z,tm\n",
            &GradeCsvOptions::default(),
        )
        .unwrap();
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].kind, GradeKind::Investor);
        assert_eq!(g[1].score, 70.5);
        assert!(g[0].published_at < g[1].published_at);
    }

    #[test]
    fn errors_name_the_field() {
        let e = read(
            "symbol,kind,score,as_of,published_at\nBTC,trader,170,2022-01-02,2022-01-03\n",
            &GradeCsvOptions::default(),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "g.csv:2: field `score`: score must be within 0–100 (value `170`)"
        );
        let e = read(
            "symbol,kind,score,as_of,published_at\nBTC,trader,70,2022-01-03,2022-01-02\n",
            &GradeCsvOptions::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("g.csv:2: field `published_at`: published before"),
            "{e}"
        );
    }

    #[test]
    fn refuses_to_guess_publication_time() {
        let text = "symbol,kind,score,date\nBTC,trader,70,2022-01-02\n";
        assert!(read(text, &GradeCsvOptions::default()).is_err());
        let g = read(
            text,
            &GradeCsvOptions {
                publication_lag: Some("1d".parse().unwrap()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            g[0].published_at,
            Timestamp::parse("2022-01-03", None).unwrap()
        );
    }
}
