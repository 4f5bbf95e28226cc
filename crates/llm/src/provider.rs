//! The two wire formats: OpenAI-compatible chat completions (structured output
//! with `response_format` `json_schema`, strict) and the Anthropic Messages API
//! (structured output by a forced tool whose `input_schema` is the schema).
//! Retries after 429 (waiting `Retry-After`) and 5xx, within one timeout for
//! the whole call. The API key goes in a header and nowhere else.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::config::Provider;
use crate::request::ChatRequest;

/// The name of the tool an Anthropic model is made to call.
pub const ANSWER_TOOL: &str = "decide";

/// What a successful response says.
#[derive(Clone, Debug, PartialEq)]
pub struct Completion {
    /// The answer's JSON text.
    pub text: String,
    /// Cut at the token cap (`finish_reason` `length`, `stop_reason`
    /// `max_tokens`).
    pub truncated: bool,
    /// Refused or filtered.
    pub refused: bool,
    /// The model that answered.
    pub model: String,
    /// OpenAI's `system_fingerprint` (the serving backend).
    pub fingerprint: Option<String>,
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
}

/// Why a call gave no response.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum CallError {
    /// No answer within the timeout (retries included).
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// An HTTP error after the retries.
    #[error("HTTP {status}: {message}")]
    Http {
        /// Status.
        status: u16,
        /// The provider's error message.
        message: String,
    },
    /// The request did not get through.
    #[error("transport: {0}")]
    Transport(String),
}

/// The request body in `provider`'s format.
pub fn body(req: &ChatRequest) -> Value {
    let system: Vec<&str> = req
        .messages
        .iter()
        .filter(|m| m.role == "system")
        .map(|m| m.content.as_str())
        .collect();
    match req.provider {
        Provider::Openai => {
            let mut b = json!({
                "model": req.model,
                "messages": req.messages,
                "temperature": req.temperature,
                "max_completion_tokens": req.max_tokens,
                "response_format": {"type": "json_schema",
                    "json_schema": {"name": "decisions", "schema": req.schema, "strict": true}},
            });
            if let Some(s) = req.seed {
                b["seed"] = json!(s);
            }
            b
        }
        Provider::Anthropic => json!({
            "model": req.model,
            "max_tokens": req.max_tokens,
            "system": system.join("\n\n"),
            "messages": req.messages.iter().filter(|m| m.role != "system").collect::<Vec<_>>(),
            "temperature": req.temperature,
            "tools": [{"name": ANSWER_TOOL, "description": "Record the trading decisions.",
                       "input_schema": req.schema}],
            "tool_choice": {"type": "tool", "name": ANSWER_TOOL},
        }),
    }
}

fn endpoint(req: &ChatRequest) -> String {
    match req.provider {
        Provider::Openai => format!("{}/chat/completions", req.base_url),
        Provider::Anthropic => format!("{}/v1/messages", req.base_url),
    }
}

/// Calls the model: the raw response (a JSON document) or why there is none,
/// and how long it took.
pub async fn call(
    http: &reqwest::Client,
    req: &ChatRequest,
    key: Option<&str>,
    timeout: Duration,
    retries: u32,
) -> (Result<Value, CallError>, Duration) {
    let t0 = Instant::now();
    let r = tokio::time::timeout(timeout, attempts(http, req, key, retries)).await;
    let latency = t0.elapsed();
    (r.unwrap_or(Err(CallError::Timeout(timeout))), latency)
}

async fn attempts(
    http: &reqwest::Client,
    req: &ChatRequest,
    key: Option<&str>,
    retries: u32,
) -> Result<Value, CallError> {
    let body = body(req);
    let mut attempt = 0;
    loop {
        let mut r = http.post(endpoint(req)).json(&body);
        r = match (req.provider, key) {
            (Provider::Openai, Some(k)) => r.bearer_auth(k),
            (Provider::Openai, None) => r,
            (Provider::Anthropic, k) => r
                .header("x-api-key", k.unwrap_or_default())
                .header("anthropic-version", "2023-06-01"),
        };
        let resp = r
            .send()
            .await
            .map_err(|e| CallError::Transport(e.without_url().to_string()))?;
        let status = resp.status().as_u16();
        let wait = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .map(|s| Duration::from_secs_f64(s.clamp(0.0, 60.0)));
        let text = resp
            .text()
            .await
            .map_err(|e| CallError::Transport(e.without_url().to_string()))?;
        if (200..300).contains(&status) {
            return serde_json::from_str(&text).map_err(|e| CallError::Http {
                status,
                message: format!("unreadable body: {e}"),
            });
        }
        let retryable = status == 429 || status >= 500;
        if !retryable || attempt >= retries {
            return Err(CallError::Http {
                status,
                message: error_message(&text),
            });
        }
        attempt += 1;
        let pause = wait.unwrap_or(Duration::from_millis(500 * u64::from(attempt)));
        tracing::warn!(status, attempt, ?pause, "model call refused; retrying");
        tokio::time::sleep(pause).await;
    }
}

/// The provider's error message (`{"error": {"message"}}` in both formats).
fn error_message(text: &str) -> String {
    serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| {
            v.pointer("/error/message")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| text.chars().take(200).collect())
}

/// Reads a raw response.
pub fn parse(provider: Provider, raw: &Value) -> Result<Completion, String> {
    let u = |p: &str| raw.pointer(p).and_then(Value::as_u64).unwrap_or(0);
    let model = raw
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    match provider {
        Provider::Openai => {
            let choice = raw.pointer("/choices/0").ok_or("no choices")?;
            let finish = choice
                .get("finish_reason")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let msg = choice.get("message").ok_or("no message")?;
            let refusal = msg.get("refusal").is_some_and(|r| !r.is_null());
            Ok(Completion {
                text: msg
                    .get("content")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                truncated: finish == "length",
                refused: refusal || finish == "content_filter",
                model,
                fingerprint: raw
                    .get("system_fingerprint")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                prompt_tokens: u("/usage/prompt_tokens"),
                completion_tokens: u("/usage/completion_tokens"),
            })
        }
        Provider::Anthropic => {
            let stop = raw
                .get("stop_reason")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let input = raw
                .get("content")
                .and_then(Value::as_array)
                .and_then(|c| {
                    c.iter().find(|b| {
                        b.get("type").and_then(Value::as_str) == Some("tool_use")
                            && b.get("name").and_then(Value::as_str) == Some(ANSWER_TOOL)
                    })
                })
                .and_then(|b| b.get("input"));
            Ok(Completion {
                text: input.map(Value::to_string).unwrap_or_default(),
                truncated: stop == "max_tokens",
                refused: input.is_none() && stop != "max_tokens",
                model,
                fingerprint: None,
                prompt_tokens: u("/usage/input_tokens"),
                completion_tokens: u("/usage/output_tokens"),
            })
        }
    }
}
