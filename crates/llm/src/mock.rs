//! A local mock LLM server on 127.0.0.1 speaking both wire formats — OpenAI
//! chat completions (`POST /v1/chat/completions`, `response_format`
//! `json_schema`) and Anthropic Messages (`POST /v1/messages`, a forced tool) —
//! answering from a script, with the faults real providers have: 429 with
//! `Retry-After`, 500, no answer at all, truncated JSON, refusals.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Response, StatusCode, Uri};
use axum::Router;
use serde_json::{json, Value};

/// One scripted reply.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// Answer with this JSON (the decisions object).
    Answer(Value),
    /// Answer with this text as the content (need not be JSON).
    Text(String),
    /// Cut at the token cap: half of this answer's text, `length`/`max_tokens`.
    Truncated(Value),
    /// A refusal.
    Refuse,
    /// HTTP 429 with `Retry-After` seconds.
    RateLimit(u64),
    /// HTTP 500.
    ServerError,
    /// Never answer.
    Hang,
}

#[derive(Default)]
struct Inner {
    script: VecDeque<Reply>,
    fallback: Option<Reply>,
    requests: Vec<(String, HeaderMap, Value)>,
    key: Option<String>,
}

/// The running mock. Dropping it stops the server.
pub struct MockLlm {
    addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl MockLlm {
    /// Starts the mock; `key`: the API key it requires, if any.
    pub async fn start(key: Option<&str>) -> MockLlm {
        let inner = Arc::new(Mutex::new(Inner {
            key: key.map(str::to_string),
            ..Inner::default()
        }));
        let app = Router::new().fallback(handle).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding 127.0.0.1");
        let addr = listener.local_addr().expect("local address");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        MockLlm {
            addr,
            inner,
            _shutdown: tx,
        }
    }

    /// The OpenAI-style base URL (`http://127.0.0.1:port/v1`).
    pub fn openai_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The Anthropic-style base URL (`http://127.0.0.1:port`).
    pub fn anthropic_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues replies, in order.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.lock().script.extend(replies);
    }

    /// The reply once the script is used up.
    pub fn otherwise(&self, reply: Reply) {
        self.lock().fallback = Some(reply);
    }

    /// Every request: path, headers, body.
    pub fn requests(&self) -> Vec<(String, HeaderMap, Value)> {
        self.lock().requests.clone()
    }
}

fn reply(status: StatusCode, body: Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .expect("valid response")
}

async fn handle(
    State(inner): State<Arc<Mutex<Inner>>>,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> Response<Body> {
    let path = uri.path().to_string();
    let anthropic = path.ends_with("/v1/messages");
    let (next, authorised) = {
        let mut st = inner.lock().unwrap_or_else(|e| e.into_inner());
        let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        st.requests.push((path.clone(), headers.clone(), v));
        let authorised = match &st.key {
            None => true,
            Some(k) if anthropic => {
                headers.get("x-api-key").and_then(|v| v.to_str().ok()) == Some(k.as_str())
                    && headers.get("anthropic-version").is_some()
            }
            Some(k) => {
                headers.get("authorization").and_then(|v| v.to_str().ok())
                    == Some(&format!("Bearer {k}"))
            }
        };
        let next = st.script.pop_front().or_else(|| st.fallback.clone());
        (next, authorised)
    };
    if !authorised {
        return if anthropic {
            reply(
                StatusCode::UNAUTHORIZED,
                json!({"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}}),
            )
        } else {
            reply(
                StatusCode::UNAUTHORIZED,
                json!({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error", "code": "invalid_api_key"}}),
            )
        };
    }
    let Some(next) = next else {
        return reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": {"message": "the mock has no reply scripted", "type": "server_error"}}),
        );
    };
    match next {
        Reply::RateLimit(s) => Response::builder()
            .status(429)
            .header("retry-after", s.to_string())
            .header("content-type", "application/json")
            .body(Body::from(
                json!({"error": {"message": "Rate limit reached", "type": "rate_limit_error"}})
                    .to_string(),
            ))
            .expect("valid response"),
        Reply::ServerError => reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": {"message": "The server had an error", "type": "server_error"}}),
        ),
        Reply::Hang => {
            std::future::pending::<()>().await;
            unreachable!()
        }
        other if anthropic => reply(StatusCode::OK, anthropic_body(other)),
        other => reply(StatusCode::OK, openai_body(other)),
    }
}

fn openai_body(r: Reply) -> Value {
    let (content, finish, refusal) = match r {
        Reply::Answer(v) => (v.to_string(), "stop", Value::Null),
        Reply::Text(t) => (t, "stop", Value::Null),
        Reply::Truncated(v) => {
            let t = v.to_string();
            (t[..t.len() / 2].to_string(), "length", Value::Null)
        }
        _ => (String::new(), "stop", json!("I can't help with that.")),
    };
    json!({"id": "chatcmpl-mock", "object": "chat.completion", "created": 1_700_000_000, "model": "mock-model-2026-01",
        "system_fingerprint": "fp_mock01",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content, "refusal": refusal}, "finish_reason": finish}],
        "usage": {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150}})
}

fn anthropic_body(r: Reply) -> Value {
    let (content, stop) = match r {
        Reply::Answer(v) => (
            json!([{"type": "tool_use", "id": "toolu_mock", "name": "decide", "input": v}]),
            "tool_use",
        ),
        Reply::Text(t) => (json!([{"type": "text", "text": t}]), "end_turn"),
        Reply::Truncated(v) => (
            json!([{"type": "tool_use", "id": "toolu_mock", "name": "decide", "input": v}]),
            "max_tokens",
        ),
        _ => (
            json!([{"type": "text", "text": "I can't help with that."}]),
            "end_turn",
        ),
    };
    json!({"id": "msg_mock", "type": "message", "role": "assistant", "model": "claude-mock-2026",
        "content": content, "stop_reason": stop, "stop_sequence": null,
        "usage": {"input_tokens": 200, "output_tokens": 40}})
}

/// The mock on a runtime of its own, for synchronous tests (a backtest that
/// records blocks its thread): keep the runtime alive as long as the mock.
pub fn start_background(key: Option<&str>) -> (tokio::runtime::Runtime, MockLlm) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime for the mock");
    let m = rt.block_on(MockLlm::start(key));
    (rt, m)
}
