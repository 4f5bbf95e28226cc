//! HTTP with retries, back-off and the exchange's request-weight limit.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::error::DataError;

/// How hard to try.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Attempts per request on network errors, 429 and 5xx (at least 1).
    pub attempts: u32,
    /// The first back-off; it doubles on each retry (with jitter).
    pub base_delay: Duration,
    /// Request timeout.
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            base_delay: Duration::from_millis(500),
            timeout: Duration::from_secs(60),
        }
    }
}

/// An HTTP client that retries what is worth retrying, and stays under the
/// REST API's request weight per minute.
pub struct Fetcher {
    client: reqwest::Client,
    policy: RetryPolicy,
    weight_limit: u32,
    used_weight: AtomicU32,
}

/// The outcome of a request that may legitimately find nothing.
pub enum Got<T> {
    /// The resource.
    Found(T),
    /// HTTP 404.
    Missing,
}

enum Attempt {
    Retry(String, Option<Duration>),
    Fail(DataError),
}

impl Fetcher {
    /// A client with `policy`, keeping REST calls under `weight_limit` per minute.
    pub fn new(policy: RetryPolicy, weight_limit: u32) -> Result<Fetcher, DataError> {
        let client = reqwest::Client::builder()
            .timeout(policy.timeout)
            .user_agent(concat!("vigil/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| DataError::Options(format!("HTTP client: {e}")))?;
        Ok(Fetcher {
            client,
            policy,
            weight_limit,
            used_weight: AtomicU32::new(0),
        })
    }

    /// Sends GET `url` until it succeeds, is not worth retrying, or attempts run out.
    async fn send(
        &self,
        url: &str,
        query: &[(&str, String)],
    ) -> Result<Got<reqwest::Response>, DataError> {
        let mut delay = self.policy.base_delay;
        let attempts = self.policy.attempts.max(1);
        for attempt in 1..=attempts {
            let outcome = match self.client.get(url).query(query).send().await {
                Ok(r) if r.status().is_success() => return Ok(Got::Found(r)),
                Ok(r) if r.status().as_u16() == 404 => return Ok(Got::Missing),
                Ok(r) => self.judge_status(url, r).await,
                Err(e) => Attempt::Retry(vigil_feed::net::describe(&e), None),
            };
            match outcome {
                Attempt::Fail(e) => return Err(e),
                Attempt::Retry(why, _) if attempt == attempts => {
                    return Err(retries_exhausted(url, attempts, why));
                }
                Attempt::Retry(why, wait) => {
                    let wait = wait.unwrap_or_else(|| jitter(delay, url, attempt));
                    tracing::warn!(url, attempt, error = %why, wait_ms = wait.as_millis() as u64, "request failed; retrying");
                    tokio::time::sleep(wait).await;
                    delay *= 2;
                }
            }
        }
        unreachable!("the loop returns on its last attempt")
    }

    async fn judge_status(&self, url: &str, r: reqwest::Response) -> Attempt {
        let status = r.status().as_u16();
        let retry_after = r
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body: String = r
            .text()
            .await
            .unwrap_or_default()
            .chars()
            .take(200)
            .collect();
        let message = if body.trim().is_empty() {
            String::new()
        } else {
            format!(": {}", body.trim())
        };
        match status {
            429 => Attempt::Retry(format!("HTTP 429 (rate limited){message}"), retry_after),
            s if s >= 500 => Attempt::Retry(format!("HTTP {s}{message}"), None),
            418 => Attempt::Fail(DataError::Http {
                url: url.into(),
                status,
                message: format!(
                    ": this IP is banned for {} s for exceeding the rate limit{message}",
                    retry_after.map_or(0, |d| d.as_secs())
                ),
            }),
            _ => Attempt::Fail(DataError::Http {
                url: url.into(),
                status,
                message,
            }),
        }
    }

    /// GET `url` as text; `Missing` on 404.
    pub async fn text(&self, url: &str) -> Result<Got<String>, DataError> {
        let Got::Found(r) = self.send(url, &[]).await? else {
            return Ok(Got::Missing);
        };
        r.text().await.map(Got::Found).map_err(|e| network(url, &e))
    }

    /// Streams GET `url` into `path` (created or truncated), returning the
    /// sha256 of what was written; `Missing` on 404. A body cut short is retried.
    pub async fn download(&self, url: &str, path: &Path) -> Result<Got<String>, DataError> {
        let mut delay = self.policy.base_delay;
        let attempts = self.policy.attempts.max(1);
        for attempt in 1..=attempts {
            let Got::Found(r) = self.send(url, &[]).await? else {
                return Ok(Got::Missing);
            };
            match stream_to(r, path).await {
                Ok(digest) => return Ok(Got::Found(digest)),
                Err(StreamError::Io(e)) => return Err(DataError::io(path, e)),
                Err(StreamError::Net(why)) if attempt == attempts => {
                    return Err(retries_exhausted(url, attempts, why));
                }
                Err(StreamError::Net(why)) => {
                    tracing::warn!(url, attempt, error = %why, "download cut short; retrying");
                    tokio::time::sleep(jitter(delay, url, attempt)).await;
                    delay *= 2;
                }
            }
        }
        unreachable!("the loop returns on its last attempt")
    }

    /// GET a REST endpoint as JSON, costing `weight` of the per-minute budget.
    pub async fn json(
        &self,
        url: &str,
        query: &[(&str, String)],
        weight: u32,
    ) -> Result<serde_json::Value, DataError> {
        self.wait_for_weight(weight).await;
        let r = match self.send(url, query).await? {
            Got::Found(r) => r,
            Got::Missing => {
                return Err(DataError::Http {
                    url: url.into(),
                    status: 404,
                    message: String::new(),
                })
            }
        };
        if let Some(used) = r
            .headers()
            .get("x-mbx-used-weight-1m")
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.parse::<u32>().ok())
        {
            self.used_weight.store(used, Ordering::Relaxed);
        }
        let text = r.text().await.map_err(|e| network(url, &e))?;
        serde_json::from_str(&text).map_err(|e| DataError::Row {
            file: url.into(),
            line: 1,
            field: "body".into(),
            message: format!("not JSON: {e}"),
        })
    }

    /// Sleeps into the next minute when the exchange's weight counter (from its
    /// last answer) leaves less than a tenth of the budget after this request.
    async fn wait_for_weight(&self, weight: u32) {
        let used = self.used_weight.load(Ordering::Relaxed);
        if used + weight > self.weight_limit * 9 / 10 {
            let now = chrono::Utc::now().timestamp();
            let wait = Duration::from_secs((60 - now.rem_euclid(60)) as u64 + 1);
            tracing::info!(
                used,
                limit = self.weight_limit,
                wait_s = wait.as_secs(),
                "request weight near the limit; waiting for the next minute"
            );
            tokio::time::sleep(wait).await;
            self.used_weight.store(0, Ordering::Relaxed);
        }
    }
}

enum StreamError {
    Io(std::io::Error),
    Net(String),
}

async fn stream_to(mut r: reqwest::Response, path: &Path) -> Result<String, StreamError> {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).map_err(StreamError::Io)?);
    let mut hash = Sha256::new();
    loop {
        match r.chunk().await {
            Ok(Some(bytes)) => {
                hash.update(&bytes);
                file.write_all(&bytes).map_err(StreamError::Io)?;
            }
            Ok(None) => break,
            Err(e) => return Err(StreamError::Net(vigil_feed::net::describe(&e))),
        }
    }
    file.flush().map_err(StreamError::Io)?;
    Ok(hex::encode(hash.finalize()))
}

fn network(url: &str, e: &reqwest::Error) -> DataError {
    DataError::Network {
        url: url.into(),
        cause: vigil_feed::net::describe(e),
    }
}

fn retries_exhausted(url: &str, attempts: u32, why: String) -> DataError {
    let cause = if attempts > 1 {
        format!("{why} (gave up after {attempts} attempts)")
    } else {
        why
    };
    DataError::Network {
        url: url.into(),
        cause,
    }
}

/// `delay` ± 25 %, varied by URL and attempt so parallel retries spread out.
fn jitter(delay: Duration, url: &str, attempt: u32) -> Duration {
    let h = url.bytes().fold(
        u64::from(attempt).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01B3),
    );
    let spread = (h % 501) as f64 / 1000.0 - 0.25; // −0.25 ..= 0.25
    delay.mul_f64(1.0 + spread)
}
