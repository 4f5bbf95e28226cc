//! `[[alerts]]` (the channels) and `[alerting]` (when alerts are raised).

use serde::Deserialize;
use vigil_core::config::FieldError;
use vigil_core::Interval;

use super::{AlertKind, Severity};

/// A channel's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    /// A Standard Webhooks signed POST to any URL.
    Webhook,
    /// Telegram's Bot API `sendMessage`.
    Telegram,
    /// A Slack incoming webhook.
    Slack,
    /// A Discord webhook.
    Discord,
}

impl ChannelKind {
    /// The type's name.
    pub fn name(self) -> &'static str {
        match self {
            ChannelKind::Webhook => "webhook",
            ChannelKind::Telegram => "telegram",
            ChannelKind::Slack => "slack",
            ChannelKind::Discord => "discord",
        }
    }
}

/// `[[alerts]]`: one channel. Secrets (a signing secret, a bot token, a Slack
/// or Discord webhook URL — the URL is the credential) come from environment
/// variables named here, never from the file.
///
/// ```toml
/// [[alerts]]
/// type = "webhook"                    # Standard Webhooks, signed
/// url = "https://ops.example.com/hooks/vigil"
/// secret_env = "VIGIL_ALERT_SECRET"   # whsec_… (default)
/// min_severity = "warning"
///
/// [[alerts]]
/// type = "telegram"
/// chat_id = "-1001234567890"          # token from TELEGRAM_BOT_TOKEN
/// events = ["trading_state", "protective_exit", "order_held"]
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelConfig {
    /// A unique name for logs, the outbox and `vigil alerts test` (default:
    /// the type).
    #[serde(default)]
    pub name: Option<String>,
    /// `webhook`, `telegram`, `slack` or `discord`.
    #[serde(rename = "type")]
    pub kind: ChannelKind,
    /// `webhook`: where to POST.
    #[serde(default)]
    pub url: Option<String>,
    /// `slack`, `discord` (or `webhook`): the variable holding the URL.
    #[serde(default)]
    pub url_env: Option<String>,
    /// `webhook`: the variable holding the `whsec_` signing secret (default
    /// `VIGIL_ALERT_SECRET`).
    #[serde(default)]
    pub secret_env: Option<String>,
    /// `telegram`: the variable holding the bot token (default
    /// `TELEGRAM_BOT_TOKEN`).
    #[serde(default)]
    pub token_env: Option<String>,
    /// `telegram`: the chat to post to.
    #[serde(default)]
    pub chat_id: Option<String>,
    /// `telegram`: the Bot API's base URL (default `https://api.telegram.org`).
    #[serde(default)]
    pub api_url: Option<String>,
    /// The kinds sent (default: all): `agent_started`, `agent_stopped`,
    /// `trading_state`, `protective_exit`, `order_held`, `rejects`,
    /// `feed_silent`, `feed_back`, `venue_unknown`, `journal_error`,
    /// `daily_summary`.
    #[serde(default)]
    pub events: Option<Vec<String>>,
    /// The least severity sent: `info` (default), `warning`, `critical`.
    #[serde(default)]
    pub min_severity: Severity,
    /// Give up on an alert this long after it was raised (default `1h`).
    #[serde(default = "default_max_age")]
    pub max_age: Interval,
    /// One attempt's timeout, milliseconds (default 10000).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// The first retry's delay, milliseconds; it doubles with each attempt,
    /// up to `retry_max_ms`, with ±25 % jitter (default 1000).
    #[serde(default = "default_retry_ms")]
    pub retry_initial_ms: u64,
    /// The longest retry delay, milliseconds (default 300000: 5 minutes).
    #[serde(default = "default_retry_max_ms")]
    pub retry_max_ms: u64,
}

fn default_retry_max_ms() -> u64 {
    300_000
}

fn default_max_age() -> Interval {
    "1h".parse().expect("valid interval")
}
fn default_timeout_ms() -> u64 {
    10_000
}
fn default_retry_ms() -> u64 {
    1_000
}

impl ChannelConfig {
    /// The channel's name.
    pub fn name(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| self.kind.name().to_string())
    }

    /// Whether an alert of `kind` and `severity` goes to this channel.
    pub fn wants(&self, kind: AlertKind, severity: Severity) -> bool {
        let listed = self
            .events
            .as_ref()
            .is_none_or(|e| e.iter().any(|n| n == kind.name()));
        kind == AlertKind::Test || (listed && severity >= self.min_severity)
    }
}

/// `[alerting]`: when alerts are raised.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertingConfig {
    /// Raise `feed_silent` when the feed delivers nothing for this long
    /// (wall clock; default `5m`).
    #[serde(default = "default_silent")]
    pub feed_silent_after: Interval,
    /// Rejects within this window after a first one are counted into one
    /// alert (default `1m`).
    #[serde(default = "default_coalesce")]
    pub coalesce: Interval,
    /// Send a summary when the engine's UTC day changes (default true).
    #[serde(default = "yes")]
    pub daily_summary: bool,
    /// At a stop, how long the delivery tasks may go on sending what is
    /// pending (default `5s`); the rest goes out after the next start.
    #[serde(default = "default_grace")]
    pub shutdown_grace: Interval,
}

fn default_grace() -> Interval {
    "5s".parse().expect("valid interval")
}

impl Default for AlertingConfig {
    fn default() -> Self {
        AlertingConfig {
            feed_silent_after: default_silent(),
            coalesce: default_coalesce(),
            daily_summary: true,
            shutdown_grace: default_grace(),
        }
    }
}

fn default_silent() -> Interval {
    "5m".parse().expect("valid interval")
}
fn default_coalesce() -> Interval {
    "1m".parse().expect("valid interval")
}
fn yes() -> bool {
    true
}

/// Checks what the types cannot: names unique, each type's settings present,
/// event names known.
pub fn validate(channels: &[ChannelConfig]) -> Result<(), FieldError> {
    let mut names = std::collections::HashSet::new();
    for (i, c) in channels.iter().enumerate() {
        let field = |f: &str| format!("alerts[{i}].{f}");
        let name = c.name();
        if !names.insert(name.clone()) {
            return Err(FieldError::new(
                field("name"),
                format!("two [[alerts]] are named `{name}`: give each a unique `name`"),
            ));
        }
        for e in c.events.iter().flatten() {
            if AlertKind::from_name(e).is_none() {
                let known: Vec<&str> = AlertKind::ALL.iter().map(|k| k.name()).collect();
                return Err(FieldError::new(
                    field("events"),
                    format!("unknown event `{e}` (known: {})", known.join(", ")),
                ));
            }
        }
        let missing = |what: &str| {
            Err(FieldError::new(
                field(what),
                format!("a `{}` channel needs `{what}`", c.kind.name()),
            ))
        };
        match c.kind {
            ChannelKind::Webhook if c.url.is_none() && c.url_env.is_none() => return missing("url"),
            ChannelKind::Telegram if c.chat_id.is_none() => return missing("chat_id"),
            ChannelKind::Slack | ChannelKind::Discord if c.url_env.is_none() => {
                return Err(FieldError::new(
                    field("url_env"),
                    format!(
                        "a `{}` channel needs `url_env`: the variable holding its webhook URL (the URL is the credential, so it is not written in the file)",
                        c.kind.name()
                    ),
                ))
            }
            _ => {}
        }
        if c.timeout_ms == 0
            || c.retry_initial_ms == 0
            || c.retry_max_ms < c.retry_initial_ms
            || c.max_age.nanos() <= 0
        {
            return Err(FieldError::new(
                field("timeout_ms"),
                "`timeout_ms`, `retry_initial_ms` and `max_age` must be positive, and `retry_max_ms` at least `retry_initial_ms`",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channels(text: &str) -> Vec<ChannelConfig> {
        #[derive(Deserialize)]
        struct F {
            alerts: Vec<ChannelConfig>,
        }
        toml::from_str::<F>(text).unwrap().alerts
    }

    #[test]
    fn bad_channels_name_the_field() {
        let e = validate(&channels(
            "[[alerts]]\ntype = \"slack\"\nurl = \"https://hooks.slack.com/x\"\n",
        ))
        .unwrap_err();
        assert!(e.to_string().contains("url_env"), "{e}");
        let e = validate(&channels("[[alerts]]\ntype = \"telegram\"\n")).unwrap_err();
        assert!(e.to_string().contains("chat_id"), "{e}");
        let e = validate(&channels(
            "[[alerts]]\ntype = \"webhook\"\nurl = \"http://x\"\nevents = [\"halted\"]\n",
        ))
        .unwrap_err();
        assert!(e.to_string().contains("unknown event `halted`"), "{e}");
        let e = validate(&channels(
            "[[alerts]]\ntype = \"webhook\"\nurl = \"http://x\"\n[[alerts]]\ntype = \"webhook\"\nurl = \"http://y\"\n",
        ))
        .unwrap_err();
        assert!(e.to_string().contains("unique"), "{e}");
        assert!(toml::from_str::<toml::Table>("x = 1").is_ok());
    }

    #[test]
    fn filters_by_kind_and_severity() {
        let c = &channels(
            "[[alerts]]\ntype = \"webhook\"\nurl = \"http://x\"\nmin_severity = \"warning\"\nevents = [\"rejects\", \"daily_summary\"]\n",
        )[0];
        assert!(c.wants(AlertKind::Rejects, Severity::Warning));
        assert!(
            !c.wants(AlertKind::DailySummary, Severity::Info),
            "below the severity"
        );
        assert!(
            !c.wants(AlertKind::TradingState, Severity::Critical),
            "not listed"
        );
        assert!(
            c.wants(AlertKind::Test, Severity::Info),
            "a test always goes"
        );
    }
}
