//! Building a backtest from a config file: the engine's parts from
//! `vigil-engine`'s setup, then the data (bar files on read-ahead threads,
//! grade files, the grade model), then the run settings.

use vigil_core::config::FieldError;
use vigil_core::{GradeKind, MarketEvent, Timestamp};
use vigil_engine::setup::{build_parts, EngineParts, EngineSetup};
use vigil_exec::DexSimVenue;
use vigil_feed::grade_model::{GradeModel, ModelGrades};
use vigil_feed::{
    open_bar_sources, read_grades_csv, read_signals_csv, EventStream, FeedError, GradeCsvOptions,
    VecStream,
};
use vigil_strategy::Registry;

use crate::config::{ConfigError, LoadedConfig};
use crate::error::BacktestError;
use crate::runner::{Backtest, RunSettings};

impl Backtest {
    /// Loads a config file and builds the backtest; data paths are relative to the file.
    pub fn from_file(
        path: impl AsRef<std::path::Path>,
        registry: &Registry,
    ) -> Result<Backtest, BacktestError> {
        LoadedConfig::load(path)?.build(registry)
    }
}

impl LoadedConfig {
    /// Builds the backtest this config describes; errors name the file, line and
    /// field.
    pub fn build(&self, registry: &Registry) -> Result<Backtest, BacktestError> {
        let mut b = self.build_without_data(registry)?;
        let (stream, warnings) = self.open_data(&mut b.universe)?;
        b.stream = stream;
        b.warnings = warnings;
        self.complete(b)
    }

    /// The backtests of parameter sets `sets` over this config, for one shared
    /// data pass ([`crate::run_shared`]), and the stream they share: the data
    /// is opened once, not once per set. Each entry is what
    /// [`LoadedConfig::build`] of that set gives, errors included (a data
    /// error is every buildable set's). No stream when nothing could be
    /// built.
    pub fn build_batch(
        &self,
        sets: &[&toml::Table],
        registry: &Registry,
    ) -> (Option<EventStream>, Vec<Result<Backtest, BacktestError>>) {
        let mut built: Vec<Result<Backtest, BacktestError>> = sets
            .iter()
            .map(|set| self.with_params(set).build_without_data(registry))
            .collect();
        let Some(mut universe) = built
            .iter()
            .find_map(|b| b.as_ref().ok().map(|b| b.universe.clone()))
        else {
            return (None, built);
        };
        let (stream, warnings) = match self.open_data(&mut universe) {
            Ok(opened) => opened,
            Err(e) => {
                let message = e.to_string();
                let mut first = Some(e);
                for b in built.iter_mut().filter(|b| b.is_ok()) {
                    *b = Err(first
                        .take()
                        .unwrap_or_else(|| BacktestError::Shared(message.clone())));
                }
                return (None, built);
            }
        };
        let built = built
            .into_iter()
            .map(|b| {
                let mut b = b?;
                b.universe = universe.clone();
                b.warnings = warnings.clone();
                self.complete(b)
            })
            .collect();
        (Some(stream), built)
    }

    /// The engine's parts and the run's names, without data: an empty
    /// stream, and the universe before grade files add their assets.
    fn build_without_data(&self, registry: &Registry) -> Result<Backtest, BacktestError> {
        let config = &self.config;
        let file = &self.file;
        let parts = build_parts(
            &EngineSetup {
                account_currency: &config.account_currency,
                starting_cash: config.starting_cash,
                instruments: &config.instruments,
                venue: &config.venue,
                strategy: &config.strategy,
                risk: &config.risk,
            },
            registry,
        )
        .map_err(|e| file.field_error(e))?;
        let EngineParts {
            universe,
            portfolio,
            venue,
            risk,
            strategy,
            strategy_name: name,
            strategy_params: params,
        } = parts;
        let settings = RunSettings {
            name: config.name.clone().unwrap_or_else(|| {
                self.path()
                    .file_stem()
                    .map_or("backtest".into(), |s| s.to_string_lossy().into_owned())
            }),
            strategy_name: name,
            strategy_params: serde_json::to_value(&params).unwrap_or(serde_json::Value::Null),
            equity_sample: config.output.equity_sample,
            include_fills: config.output.fills,
            start: None,
            end: None,
        };
        Ok(Backtest {
            universe,
            portfolio,
            venue,
            dex: config.dex.clone(),
            risk,
            strategy,
            stream: Box::new(VecStream::new(Vec::new())),
            settings,
            warnings: Vec::new(),
            llm: None,
        })
    }

    /// Opens the data (bars on read-ahead threads, perpetual sources, grade
    /// and signal files, the grade model) as one time-ordered stream, with
    /// what it warns about; grade files add their assets to `universe`.
    fn open_data(
        &self,
        universe: &mut vigil_core::Universe,
    ) -> Result<(EventStream, Vec<String>), BacktestError> {
        let config = &self.config;
        let file = &self.file;
        if config.data.bars.is_empty() {
            return Err(file.error("no `[[data.bars]]` sources").into());
        }
        check_bar_sources(&config.data.bars, file)?;
        let base_dir = self.dir();
        let opened = open_bar_sources(&config.data.bars, &base_dir, universe, true).map_err(
            |e| match e {
                FeedError::UnknownInstrument(symbol) => {
                    BacktestError::from(file.field_error(FieldError::new(
                        format!("data.bars[instrument={symbol}].instrument"),
                        FeedError::UnknownInstrument(symbol.clone()).to_string(),
                    )))
                }
                FeedError::Config(m) => BacktestError::from(file.error(m)),
                other => BacktestError::from(other),
            },
        )?;
        let intervals = opened.intervals;
        let mut merged = opened.stream;
        let mut warnings = Vec::new();
        crate::perp::add_sources(&config.data, file, universe, &mut merged, &mut warnings)?;
        for src in &config.data.grades {
            let path = file.resolve(&src.path);
            let grades = read_grades_csv(
                &path,
                universe,
                &GradeCsvOptions {
                    default_source: src.source.clone(),
                    default_kind: src.kind.as_deref().map(GradeKind::parse),
                    publication_lag: src.publication_lag,
                },
            )?;
            check_grade_symbols(&path, &grades, universe, &mut warnings)?;
            merged.add(
                path.display().to_string(),
                Box::new(VecStream::new(
                    grades.into_iter().map(MarketEvent::Grade).collect(),
                )),
            );
        }
        for src in &config.data.signals {
            let path = file.resolve(&src.path);
            let signals = read_signals_csv(&path, universe)?;
            merged.add(
                path.display().to_string(),
                Box::new(VecStream::new(
                    signals.into_iter().map(MarketEvent::Signal).collect(),
                )),
            );
        }
        let stream: EventStream = match &config.grade_model {
            Some(section) => {
                let model = GradeModel::new(section.model_config(), universe, &intervals);
                Box::new(ModelGrades::new(merged, model))
            }
            None => Box::new(merged),
        };
        Ok((Box::new(vigil_feed::ReadAhead::spawn(stream)), warnings))
    }

    /// The run's window, the DEX venue's check and the LLM source: what a
    /// backtest needs after its data.
    fn complete(&self, mut b: Backtest) -> Result<Backtest, BacktestError> {
        let config = &self.config;
        let file = &self.file;
        b.settings.start = self.time("start", &config.start)?;
        b.settings.end = self.time("end", &config.end)?;
        if let Some(dex) = &config.dex {
            DexSimVenue::new(dex, &b.universe)
                .map_err(|m| file.field_error(FieldError::new("dex", m)))?;
        }
        b.llm = match &config.llm {
            Some(section) => Some(
                vigil_llm::LlmSource::new(section.clone(), &self.dir(), &b.universe, section.mode)
                    .map_err(|e| match e {
                        vigil_llm::LlmError::Config { field, message } => BacktestError::from(
                            file.field_error(FieldError::new(format!("llm.{field}"), message)),
                        ),
                        other => other.into(),
                    })?,
            ),
            None => None,
        };
        Ok(b)
    }

    fn time(&self, key: &str, v: &Option<String>) -> Result<Option<Timestamp>, ConfigError> {
        v.as_deref()
            .map(|s| {
                Timestamp::parse(s, None).map_err(|e| {
                    self.file
                        .field_error(FieldError::new(key, format!("`{key}`: {e}")))
                })
            })
            .transpose()
    }
}

/// Grades whose token is no instrument's base asset reach no strategy. A symbol
/// that differs from a traded base only in case, or a file in which no symbol
/// matches, is an error (the run would trade as if the file were empty); other
/// unmatched symbols are a warning with counts.
fn check_grade_symbols(
    path: &std::path::Path,
    grades: &[vigil_core::Grade],
    universe: &vigil_core::Universe,
    warnings: &mut Vec<String>,
) -> Result<(), BacktestError> {
    let mut unmatched: std::collections::BTreeMap<&str, u64> = Default::default();
    let mut matched = 0u64;
    for g in grades {
        if universe.instruments_with_base(g.asset).next().is_some() {
            matched += 1;
        } else {
            *unmatched.entry(universe.asset_symbol(g.asset)).or_default() += 1;
        }
    }
    if unmatched.is_empty() {
        return Ok(());
    }
    let bases: Vec<&str> = universe
        .instruments()
        .iter()
        .map(|i| universe.asset_symbol(i.base))
        .collect();
    let listed = unmatched
        .iter()
        .map(|(s, n)| format!("`{s}` ({n})"))
        .collect::<Vec<_>>()
        .join(", ");
    let fail =
        |m: String| BacktestError::Feed(FeedError::Config(format!("{}: {m}", path.display())));
    if let Some((s, b)) = unmatched.keys().find_map(|s| {
        bases
            .iter()
            .find(|b| b.eq_ignore_ascii_case(s))
            .map(|b| (*s, *b))
    }) {
        return Err(fail(format!(
            "grades for `{s}` match no instrument, but `{b}` is traded: token symbols are \
             case-sensitive"
        )));
    }
    if matched == 0 {
        return Err(fail(format!(
            "no grade is for a traded instrument's base asset (traded: {}; graded: {listed})",
            bases.join(", ")
        )));
    }
    warnings.push(format!(
        "{}: {} grades are for tokens no instrument trades, and reach no strategy: {listed}",
        path.display(),
        unmatched.values().sum::<u64>()
    ));
    Ok(())
}

/// Every bar source names a readable file, and no instrument twice; errors name
/// the config line (`data.bars[i].path`), not just the operating system's words.
fn check_bar_sources(
    sources: &[vigil_feed::BarSourceConfig],
    file: &vigil_core::config::TomlFile,
) -> Result<(), BacktestError> {
    for (i, src) in sources.iter().enumerate() {
        if let Some(first) = sources[..i]
            .iter()
            .position(|s| s.instrument == src.instrument)
        {
            return Err(file
                .field_error(FieldError::new(
                    format!("data.bars[{i}].instrument"),
                    format!(
                        "a second bar source for `{}` (the first is `[[data.bars]]` number {}); one file per instrument",
                        src.instrument,
                        first + 1
                    ),
                ))
                .into());
        }
        let at = || format!("data.bars[{i}].path");
        let files = src
            .path
            .expand(&file.dir())
            .map_err(|m| file.field_error(FieldError::new(at(), m)))?;
        for path in files {
            let problem = match std::fs::metadata(&path) {
                Err(e) => Some(e.to_string()),
                Ok(m) if m.is_dir() => Some("is a directory, not a file".to_string()),
                Ok(_) => None,
            };
            if let Some(p) = problem {
                return Err(file
                    .field_error(FieldError::new(
                        at(),
                        format!("`path` {}: {p}", path.display()),
                    ))
                    .into());
            }
        }
    }
    Ok(())
}
