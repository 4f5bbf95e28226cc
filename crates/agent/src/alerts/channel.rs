//! A channel as it sends: the request each type wants, the secret it needs
//! (read from the environment, never shown), and what a failure says — one
//! line, without the URL (a Telegram token or a Slack/Discord webhook URL is
//! a credential), with the server's `Retry-After` when it gave one.

use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};
use vigil_control::webhooks::WebhookSecret;

use super::config::{ChannelConfig, ChannelKind};
use super::Alert;

/// Where and how a channel posts.
enum Target {
    Webhook { url: String, secret: WebhookSecret },
    Telegram { url: String, chat_id: String },
    Slack { url: String },
    Discord { url: String },
}

/// A channel, ready to send. `Debug` shows its name and type only.
pub struct Channel {
    /// Its configuration (filters, retry settings).
    pub config: ChannelConfig,
    name: String,
    host: String,
    target: Target,
    client: reqwest::Client,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Channel({} {})", self.name, self.config.kind.name())
    }
}

/// Why a delivery failed, and when the server asked to be tried again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendError {
    /// One line, no secret.
    pub message: String,
    /// The server's `Retry-After` (or Telegram's / Discord's `retry_after`).
    pub retry_after: Option<Duration>,
}

fn env(name: &str, what: &str) -> Result<String, String> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .map(|v| v.trim().to_string())
        .ok_or_else(|| format!("{name} is not set: it holds {what}"))
}

impl Channel {
    /// Builds a channel, reading its secret from the environment.
    pub fn new(config: &ChannelConfig) -> Result<Channel, String> {
        let name = config.name();
        let target = match config.kind {
            ChannelKind::Webhook => {
                let url = match (&config.url, &config.url_env) {
                    (_, Some(var)) => env(var, "the alert webhook's URL")?,
                    (Some(u), None) => u.clone(),
                    (None, None) => return Err("a webhook channel needs `url`".into()),
                };
                let var = config.secret_env.as_deref().unwrap_or("VIGIL_ALERT_SECRET");
                let secret =
                    WebhookSecret::parse(&env(var, "the whsec_ secret alerts are signed with")?)
                        .map_err(|m| format!("{var}: {m}"))?;
                Target::Webhook { url, secret }
            }
            ChannelKind::Telegram => {
                let var = config.token_env.as_deref().unwrap_or("TELEGRAM_BOT_TOKEN");
                let token = env(var, "the Telegram bot token")?;
                let base = config
                    .api_url
                    .as_deref()
                    .unwrap_or("https://api.telegram.org")
                    .trim_end_matches('/');
                Target::Telegram {
                    url: format!("{base}/bot{token}/sendMessage"),
                    chat_id: config.chat_id.clone().unwrap_or_default(),
                }
            }
            ChannelKind::Slack | ChannelKind::Discord => {
                let var = config.url_env.as_deref().unwrap_or_default();
                let url = env(var, "the incoming webhook's URL")?;
                match config.kind {
                    ChannelKind::Slack => Target::Slack { url },
                    _ => Target::Discord { url },
                }
            }
        };
        let url = match &target {
            Target::Webhook { url, .. }
            | Target::Telegram { url, .. }
            | Target::Slack { url }
            | Target::Discord { url } => url,
        };
        let parsed = reqwest::Url::parse(url)
            .map_err(|_| format!("[[alerts]] `{name}`: its URL does not parse"))?;
        let host = format!(
            "{}:{}",
            parsed.host_str().unwrap_or("?"),
            parsed.port_or_known_default().unwrap_or(0)
        );
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            .build()
            .map_err(|e| format!("[[alerts]] `{name}`: {}", e.without_url()))?;
        Ok(Channel {
            config: config.clone(),
            name,
            host,
            target,
            client,
        })
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sends one alert; the HTTP status when the channel took it.
    pub async fn send(&self, alert: &Alert) -> Result<u16, SendError> {
        let text = alert.message();
        let request = match &self.target {
            Target::Webhook { url, secret } => {
                let body = serde_json::to_vec(alert).unwrap_or_default();
                let ts = super::wall_now().nanos() / 1_000_000_000;
                self.client
                    .post(url)
                    .header("webhook-id", &alert.id)
                    .header("webhook-timestamp", ts.to_string())
                    .header("webhook-signature", secret.sign(&alert.id, ts, &body))
                    .header("content-type", "application/json")
                    .body(body)
            }
            Target::Telegram { url, chat_id } => self.client.post(url).json(&serde_json::json!({
                "chat_id": chat_id,
                "text": truncate(&text, 4096),
                "disable_web_page_preview": true,
            })),
            Target::Slack { url } => self
                .client
                .post(url)
                .json(&serde_json::json!({ "text": text })),
            Target::Discord { url } => self.client.post(url).json(&serde_json::json!({
                "content": truncate(&text, 2000),
                "allowed_mentions": { "parse": [] },
            })),
        };
        let response = request.send().await.map_err(|e| SendError {
            message: vigil_feed::net::describe(&e.without_url()).replace("the server", &self.host),
            retry_after: None,
        })?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.text().await.unwrap_or_default();
        let json: Option<serde_json::Value> = serde_json::from_str(&body).ok();
        // Telegram answers 200 with `"ok": false` for some refusals.
        let telegram_refused = matches!(self.target, Target::Telegram { .. })
            && json.as_ref().is_some_and(|j| j["ok"] == false);
        if status.is_success() && !telegram_refused {
            return Ok(status.as_u16());
        }
        Err(SendError {
            message: format!(
                "HTTP {} from {}: {}",
                status.as_u16(),
                self.host,
                truncate(body.trim(), 200)
            ),
            retry_after: retry_after(&headers, json.as_ref()),
        })
    }
}

/// `Retry-After` seconds, or a JSON `retry_after` (Discord, seconds, may be
/// fractional) or `parameters.retry_after` (Telegram).
fn retry_after(headers: &HeaderMap, json: Option<&serde_json::Value>) -> Option<Duration> {
    let header = headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok());
    let body = json.and_then(|j| {
        j["retry_after"]
            .as_f64()
            .or_else(|| j["parameters"]["retry_after"].as_f64())
    });
    header
        .or(body)
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(3600.0)))
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}
