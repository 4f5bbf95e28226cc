//! `[llm]`: which model, how often, with what prompt, under which guards, and
//! where its tape is. The same section in a backtest and an agent config.

use std::path::PathBuf;

use serde::Deserialize;
use vigil_core::Interval;

/// The wire format spoken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    /// OpenAI chat completions, and every server that speaks it (Ollama,
    /// llama.cpp, vLLM…): `POST {base_url}/chat/completions`.
    Openai,
    /// The Anthropic Messages API: `POST {base_url}/v1/messages`.
    Anthropic,
}

/// What the model answers per instrument.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerKind {
    /// `long`, `short` or `flat` (signals with direction 1, −1, 0).
    #[default]
    Direction,
    /// A score from 0 to 100 (signals with a score).
    Score,
}

/// How a backtest uses the tape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TapeMode {
    /// Only the tape: a request it does not hold is an error naming its time
    /// and hash — never a silent live call.
    #[default]
    Replay,
    /// Call the model for every request and record it.
    Record,
    /// Replay what the tape holds; call and record the rest.
    RecordMissing,
}

/// Daily limits (UTC days of the decision time). Exceeded: no new calls that
/// day, and it is said.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// Calls per day.
    #[serde(default)]
    pub calls_per_day: Option<u32>,
    /// Prompt + completion tokens per day.
    #[serde(default)]
    pub tokens_per_day: Option<u64>,
    /// Cost per day, in the prices' currency.
    #[serde(default)]
    pub cost_per_day: Option<f64>,
    /// Price of a million prompt tokens.
    #[serde(default)]
    pub input_cost_per_mtok: f64,
    /// Price of a million completion tokens.
    #[serde(default)]
    pub output_cost_per_mtok: f64,
}

/// `[llm]`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmConfig {
    /// `openai` (and compatible servers) or `anthropic`.
    pub provider: Provider,
    /// API base: `https://api.openai.com/v1`, `http://localhost:11434/v1`
    /// (Ollama), `https://api.anthropic.com`. Default: the provider's.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Model name, e.g. `gpt-4o-mini`, `claude-sonnet-4-5`, `llama3.1`.
    pub model: String,
    /// The environment variable holding the API key (default
    /// `OPENAI_API_KEY` / `ANTHROPIC_API_KEY`; a local server may need none).
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Decide every this many bars of the first instrument…
    #[serde(default)]
    pub every_bars: Option<u32>,
    /// … or at most once per this interval (of event time).
    #[serde(default)]
    pub every: Option<Interval>,
    /// The instruments asked about (default: all).
    #[serde(default)]
    pub instruments: Vec<String>,
    /// Bars per instrument in the prompt.
    #[serde(default = "default_history")]
    pub history_bars: usize,
    /// Earlier answers of this source in the prompt.
    #[serde(default = "default_previous")]
    pub previous_answers: usize,
    /// The prompt template, inline…
    #[serde(default)]
    pub prompt: Option<String>,
    /// … or in a file (relative to the config).
    #[serde(default)]
    pub template: Option<PathBuf>,
    /// `direction` or `score`.
    #[serde(default)]
    pub answer: AnswerKind,
    /// Sampling temperature (default 0).
    #[serde(default)]
    pub temperature: f64,
    /// Seed, where the server honours one.
    #[serde(default)]
    pub seed: Option<u64>,
    /// Completion token cap.
    #[serde(default = "default_max_tokens")]
    pub max_tokens: u32,
    /// A call that takes longer is abandoned (counted, no decision).
    #[serde(default = "default_timeout")]
    pub timeout: Interval,
    /// Retries after a 429 (waiting `Retry-After`) or a 5xx.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// How long a decision holds (its signals' expiry); default: until the next.
    #[serde(default)]
    pub signal_ttl: Option<Interval>,
    /// The model's training cutoff (`YYYY-MM-DD`): a backtest starting before
    /// it is refused unless `acknowledge_lookahead` — the model may know what
    /// happened next.
    #[serde(default)]
    pub knowledge_cutoff: Option<String>,
    /// Run a backtest over a period the model may have seen.
    #[serde(default)]
    pub acknowledge_lookahead: bool,
    /// The tape file (JSON lines), relative to the config.
    pub tape: PathBuf,
    /// Backtests: `replay` (default), `record`, `record-missing`. Agents always
    /// call and record.
    #[serde(default)]
    pub mode: TapeMode,
    /// Daily budgets.
    #[serde(default)]
    pub budget: Budget,
}

fn default_history() -> usize {
    20
}
fn default_previous() -> usize {
    3
}
fn default_max_tokens() -> u32 {
    512
}
fn default_timeout() -> Interval {
    "30s".parse().expect("valid interval")
}
fn default_retries() -> u32 {
    2
}

impl LlmConfig {
    /// The API base URL, without a trailing `/`.
    pub fn base_url(&self) -> String {
        let default = match self.provider {
            Provider::Openai => "https://api.openai.com/v1",
            Provider::Anthropic => "https://api.anthropic.com",
        };
        self.base_url
            .as_deref()
            .unwrap_or(default)
            .trim_end_matches('/')
            .to_string()
    }

    /// The API key's environment variable.
    pub fn key_env(&self) -> String {
        self.api_key_env.clone().unwrap_or_else(|| {
            match self.provider {
                Provider::Openai => "OPENAI_API_KEY",
                Provider::Anthropic => "ANTHROPIC_API_KEY",
            }
            .into()
        })
    }

    /// What is wrong with the section, as `(field, message)`.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        match (self.every_bars, self.every) {
            (None, None) => return Err(("every_bars", "set `every_bars` or `every`".into())),
            (Some(_), Some(_)) => {
                return Err(("every", "set `every_bars` or `every`, not both".into()))
            }
            (Some(0), _) => return Err(("every_bars", "must be at least 1".into())),
            _ => {}
        }
        if self.prompt.is_some() == self.template.is_some() {
            return Err((
                "prompt",
                "set `prompt` (inline) or `template` (a file), one of them".into(),
            ));
        }
        if self.model.trim().is_empty() {
            return Err(("model", "empty".into()));
        }
        if !(0.0..=2.0).contains(&self.temperature) {
            return Err(("temperature", "must be within 0 and 2".into()));
        }
        if self.max_tokens == 0 {
            return Err(("max_tokens", "must be at least 1".into()));
        }
        if let Some(c) = &self.knowledge_cutoff {
            if chrono::NaiveDate::parse_from_str(c, "%Y-%m-%d").is_err() {
                return Err(("knowledge_cutoff", format!("`{c}`: a date YYYY-MM-DD")));
            }
        }
        Ok(())
    }

    /// The knowledge cutoff as the start of its UTC day.
    pub fn cutoff(&self) -> Option<vigil_core::Timestamp> {
        let d = chrono::NaiveDate::parse_from_str(self.knowledge_cutoff.as_deref()?, "%Y-%m-%d")
            .ok()?;
        let secs = d.and_hms_opt(0, 0, 0)?.and_utc().timestamp();
        Some(vigil_core::Timestamp::from_secs(secs))
    }
}
