//! `vigil mcp`: vigil's tools for an AI client over the Model Context Protocol,
//! with the official Rust SDK (`rmcp`), on stdio or Streamable HTTP. The tools
//! list strategies, run backtests and sweeps (replaying LLM tapes, never
//! calling a model), check data, read grades and an agent's journal — all
//! read-only —
//! and one acting tool, `propose_order`, which asks a running agent to **hold**
//! an order for an operator: it never trades by itself, and the key it signs
//! with (a `proposer` key, from the environment) cannot approve. Paths are
//! relative to `--root` and may not leave it; no tool takes or returns a
//! secret. Logs go to stderr; on stdio, stdout is the protocol's.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{tool, tool_handler, tool_router, ErrorData, ServerHandler, ServiceExt};
use schemars::JsonSchema;
use serde::Deserialize;
use vigil_strategy::Registry;

/// `vigil mcp`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The folder the tools may read (configs, data, journals); paths outside
    /// it are refused. Default: the current directory.
    #[arg(long)]
    pub root: Option<PathBuf>,
    /// Serve Streamable HTTP at this address (endpoint `/mcp`) instead of
    /// stdio, e.g. `127.0.0.1:8931`. A non-loopback address also needs
    /// `--allow-host`.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<SocketAddr>,
    /// A browser origin allowed to call the HTTP server besides its own, e.g.
    /// `http://localhost:6274` (repeatable). A request carrying any other
    /// `Origin` is refused (403): a web page cannot drive the tools through
    /// your browser (DNS rebinding). Requests without `Origin` (command-line
    /// clients) pass.
    #[arg(long, value_name = "ORIGIN")]
    pub allow_origin: Vec<String>,
    /// A `Host` the HTTP server answers besides the loopback names
    /// (repeatable); required to listen on a non-loopback address.
    #[arg(long, value_name = "HOST")]
    pub allow_host: Vec<String>,
}

/// Serves the tools on stdin/stdout until the client closes stdin, or on
/// HTTP until interrupted.
pub fn run(a: Args, registry: &Registry) -> anyhow::Result<()> {
    let root = match &a.root {
        Some(r) => r.clone(),
        None => std::env::current_dir()?,
    };
    let root = root
        .canonicalize()
        .map_err(|e| anyhow::anyhow!("--root {}: {e}", root.display()))?;
    let server = Vigil::new(root, registry.clone());
    if let Some(addr) = a.http {
        return super::runtime()?.block_on(serve_http(server, addr, &a));
    }
    super::runtime()?.block_on(async move {
        let service = server
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|e| anyhow::anyhow!("starting the MCP server: {e}"))?;
        service
            .waiting()
            .await
            .map_err(|e| anyhow::anyhow!("MCP server: {e}"))?;
        Ok(())
    })
}

/// The HTTP transport's checks: loopback `Host` names (plus `--allow-host`),
/// and `Origin` validated against `--allow-origin` (none by default).
fn http_config(addr: SocketAddr, a: &Args) -> anyhow::Result<StreamableHttpServerConfig> {
    anyhow::ensure!(
        addr.ip().is_loopback() || !a.allow_host.is_empty(),
        "--http {addr}: not a loopback address; name the host clients will use with --allow-host (and put TLS and authentication in front of it)"
    );
    for o in &a.allow_origin {
        anyhow::ensure!(
            o.starts_with("http://") || o.starts_with("https://") || o == "null",
            "--allow-origin {o}: an origin is scheme://host[:port], e.g. http://localhost:6274"
        );
    }
    let mut hosts: Vec<String> = ["localhost", "127.0.0.1", "::1"].map(String::from).to_vec();
    hosts.extend(a.allow_host.iter().cloned());
    // The server's own loopback origin (it serves no page, so nothing else
    // can run there), and what --allow-origin adds.
    let port = addr.port();
    let mut origins: Vec<String> = ["localhost", "127.0.0.1", "[::1]"]
        .iter()
        .map(|h| format!("http://{h}:{port}"))
        .collect();
    origins.extend(a.allow_origin.iter().cloned());
    Ok(StreamableHttpServerConfig::default()
        .with_allowed_hosts(hosts)
        .with_allowed_origins(origins)
        .enforce_origin_validation())
}

async fn serve_http(server: Vigil, addr: SocketAddr, a: &Args) -> anyhow::Result<()> {
    http_config(addr, a)?; // refuse a bad address before binding it
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("--http {addr}: {e}"))?;
    let bound = listener.local_addr()?;
    let config = http_config(bound, a)?;
    let service = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let app = axum::Router::new().nest_service("/mcp", service);
    tracing::info!(url = %format!("http://{bound}/mcp"), origins = ?a.allow_origin, "MCP server listening (Streamable HTTP)");
    eprintln!("vigil mcp: listening on http://{bound}/mcp");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| anyhow::anyhow!("MCP HTTP server: {e}"))
}

/// The server: the registry and the root.
#[derive(Clone)]
pub struct Vigil {
    root: Arc<PathBuf>,
    registry: Arc<Registry>,
    tool_router: ToolRouter<Self>,
}

/// A file under the root.
#[derive(Deserialize, JsonSchema)]
pub struct FileArg {
    /// Path of the file, relative to the server's root.
    pub path: String,
}

fn text(s: impl Into<String>) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(s.into())])
}

fn failed(s: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(s.into())])
}

fn json(v: &impl serde::Serialize) -> CallToolResult {
    match serde_json::to_string_pretty(v) {
        Ok(s) => text(s),
        Err(e) => failed(format!("encoding the answer: {e}")),
    }
}

impl Vigil {
    /// A server reading below `root`.
    pub fn new(root: PathBuf, registry: Registry) -> Vigil {
        Vigil {
            root: Arc::new(root),
            registry: Arc::new(registry),
            tool_router: Self::tool_router(),
        }
    }

    /// `path` resolved under the root, or why not.
    fn resolve(&self, path: &str) -> Result<PathBuf, String> {
        let joined = self.root.join(path);
        let real = joined.canonicalize().map_err(|e| format!("{path}: {e}"))?;
        if !real.starts_with(self.root.as_path()) {
            return Err(format!("{path}: outside the server's root"));
        }
        Ok(real)
    }

    /// Runs `work` on the file `path` names, off the protocol's threads; a
    /// path outside the root is the tool's error.
    async fn on_file(
        &self,
        path: &str,
        work: impl FnOnce(PathBuf, &Registry) -> CallToolResult + Send + 'static,
    ) -> Result<CallToolResult, ErrorData> {
        let path = match self.resolve(path) {
            Ok(p) => p,
            Err(e) => return Ok(failed(e)),
        };
        let registry = self.registry.clone();
        tokio::task::spawn_blocking(move || work(path, &registry))
            .await
            .map_err(|e| ErrorData::internal_error(e.to_string(), None))
    }
}

/// A decimal amount: a string (`"0.01"`, exact) or a JSON number (taken as
/// its shortest decimal form).
#[derive(Debug, Clone)]
pub struct Amount(pub String);

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Amount, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) => Ok(Amount(s)),
            serde_json::Value::Number(n) => Ok(Amount(n.to_string())),
            other => Err(serde::de::Error::custom(format!(
                "expected a decimal string or number, got {other}"
            ))),
        }
    }
}

impl JsonSchema for Amount {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Amount".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": ["string", "number"]})
    }
}

/// An order for `propose_order`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProposeArg {
    /// The agent's config (TOML, under the root): where its control endpoint listens.
    pub agent: String,
    /// The instrument's symbol, as in the agent's config, e.g. `BTCUSDT`.
    pub instrument: String,
    /// `buy` or `sell`.
    pub side: String,
    /// Base quantity, e.g. `"0.01"` (or give `notional`).
    #[serde(default)]
    pub quantity: Option<Amount>,
    /// Quote amount, e.g. `"500"` (or give `quantity`).
    #[serde(default)]
    pub notional: Option<Amount>,
    /// Limit price; omit for a market order.
    #[serde(default)]
    pub limit_price: Option<Amount>,
    /// Why: shown to the operator who approves or rejects it.
    #[serde(default)]
    pub note: Option<String>,
}

/// Grades to read for `read_grades`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GradesArg {
    /// A grades CSV under the root (columns symbol, score, as_of, published_at, kind, source).
    pub path: String,
    /// Only this token, e.g. `BTC`.
    #[serde(default)]
    pub asset: Option<String>,
    /// Only what was published at or before this time (RFC 3339): what was known then.
    #[serde(default)]
    pub known_at: Option<String>,
    /// The most recent grades per token, kind and source (default 5, at most 500).
    #[serde(default)]
    pub last: Option<usize>,
    /// For files without a `published_at` column: publication = as_of + this lag, e.g. `1d`.
    #[serde(default)]
    pub publication_lag: Option<String>,
}

#[tool_router]
impl Vigil {
    /// The strategy plug-ins this vigil has, with their parameters.
    #[tool(
        description = "List vigil's strategy plug-ins with their parameters (name, type, default, meaning).",
        annotations(
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn list_strategies(&self) -> Result<CallToolResult, ErrorData> {
        let list: Vec<serde_json::Value> = self
            .registry
            .iter()
            .map(|d| {
                serde_json::json!({"name": d.name, "summary": d.summary,
                    "params": d.params.iter().map(|p| serde_json::json!(
                        {"name": p.name, "type": p.ty, "default": p.default, "help": p.help})).collect::<Vec<_>>()})
            })
            .collect();
        Ok(json(&list))
    }

    /// Runs a backtest config and returns its metrics.
    #[tool(
        description = "Run the backtest a vigil backtest config (TOML, under the root) describes and return its metrics, order counts and warnings. An [llm] section is replayed from its tape: no model is called.",
        annotations(
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn run_backtest(
        &self,
        Parameters(arg): Parameters<FileArg>,
    ) -> Result<CallToolResult, ErrorData> {
        self.on_file(&arg.path, |path, registry| backtest(&path, registry))
            .await
    }

    /// Runs a sweep file and returns its best rows.
    #[tool(
        description = "Run a vigil sweep file (TOML, under the root): every parameter set's metrics, best first, with the deflated Sharpe ratio and the probability of backtest overfitting. LLM tapes are replayed only.",
        annotations(
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn run_sweep(
        &self,
        Parameters(arg): Parameters<FileArg>,
    ) -> Result<CallToolResult, ErrorData> {
        self.on_file(
            &arg.path,
            |path, registry| match vigil_backtest::sweep::run_sweep(&path, registry, 0, false) {
                Ok(r) => json(&serde_json::json!({"metric": r.metric,
                    "rows": r.rows.iter().take(20).collect::<Vec<_>>(),
                    "deflated_sharpe": r.deflated_sharpe, "pbo": r.pbo})),
                Err(e) => failed(e.to_string()),
            },
        )
        .await
    }

    /// Checks a bar file.
    #[tool(
        description = "Check a bar data file (CSV or Parquet, under the root) before trusting it: span, interval, gaps, duplicates, out-of-order rows, bad prices.",
        annotations(
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn check_data(
        &self,
        Parameters(arg): Parameters<FileArg>,
    ) -> Result<CallToolResult, ErrorData> {
        self.on_file(&arg.path, |path, _| {
            let opts = vigil_data::check::CheckOptions::default();
            match vigil_data::check::check_file(&path, opts) {
                Ok(r) => json(&r),
                Err(e) => failed(e.to_string()),
            }
        })
        .await
    }

    /// An agent's state from its journal.
    #[tool(
        description = "Read an agent's state from its journal (agent config under the root): cash, equity, positions, open and held orders, recent fills and its trading state.",
        annotations(
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn agent_status(
        &self,
        Parameters(arg): Parameters<FileArg>,
    ) -> Result<CallToolResult, ErrorData> {
        let path = match self.resolve(&arg.path) {
            Ok(p) => p,
            Err(e) => return Ok(failed(e)),
        };
        Ok(match vigil_agent::journal_status(&path).await {
            Ok(st) => json(&st),
            Err(e) => failed(e.to_string()),
        })
    }

    /// Reads a grades file, point in time.
    #[tool(
        description = "Read AI grades (0-100 token scores) from a grades CSV under the root: the most recent grades per token, kind and source, optionally only what was published by a given time (no look-ahead).",
        annotations(
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn read_grades(
        &self,
        Parameters(arg): Parameters<GradesArg>,
    ) -> Result<CallToolResult, ErrorData> {
        let GradesArg {
            path,
            asset,
            known_at,
            last,
            publication_lag,
        } = arg;
        self.on_file(&path, move |file, _| {
            match grades(&file, asset, known_at, last, publication_lag) {
                Ok(v) => json(&v),
                Err(e) => failed(e),
            }
        })
        .await
    }

    /// Proposes an order to a running agent: held for an operator.
    #[tool(
        description = "Propose an order to a running vigil agent (its config under the root). The agent checks it with every risk rule and HOLDS it: nothing is sent to any venue unless a human operator approves it with a signed command. Returns the held order's id, hash and expiry, or why the agent refused it. Give quantities and prices as decimal strings to keep them exact.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = true
        )
    )]
    async fn propose_order(
        &self,
        Parameters(arg): Parameters<ProposeArg>,
    ) -> Result<CallToolResult, ErrorData> {
        let agent = match self.resolve(&arg.agent) {
            Ok(p) => p,
            Err(e) => return Ok(failed(e)),
        };
        Ok(propose(agent, arg).await)
    }
}

/// The latest grades of a file per token, kind and source, as JSON.
fn grades(
    file: &Path,
    asset: Option<String>,
    known_at: Option<String>,
    last: Option<usize>,
    publication_lag: Option<String>,
) -> Result<serde_json::Value, String> {
    let known_at = known_at
        .map(|t| vigil_core::Timestamp::parse(&t, None).map_err(|e| format!("known_at: {e}")))
        .transpose()?;
    let lag = publication_lag
        .map(|l| {
            l.parse::<vigil_core::Interval>()
                .map_err(|e| format!("publication_lag: {e}"))
        })
        .transpose()?;
    let last = last.unwrap_or(5).clamp(1, 500);
    let mut universe = vigil_core::Universe::new();
    let options = vigil_feed::GradeCsvOptions {
        default_source: None,
        default_kind: None,
        publication_lag: lag,
    };
    let all =
        vigil_feed::read_grades_csv(file, &mut universe, &options).map_err(|e| e.to_string())?;
    let total = all.len();
    let mut groups: std::collections::BTreeMap<(String, String, String), Vec<serde_json::Value>> =
        Default::default();
    for g in all.iter().rev() {
        let symbol = universe.asset_symbol(g.asset);
        if asset
            .as_deref()
            .is_some_and(|a| !a.eq_ignore_ascii_case(symbol))
            || known_at.is_some_and(|t| g.published_at > t)
        {
            continue;
        }
        let key = (symbol.to_string(), g.kind.to_string(), g.source.to_string());
        let list = groups.entry(key).or_default();
        if list.len() < last {
            list.push(serde_json::json!({"as_of": g.as_of.to_rfc3339(),
                "published_at": g.published_at.to_rfc3339(), "score": g.score}));
        }
    }
    let tokens: Vec<serde_json::Value> = groups
        .into_iter()
        .map(|((asset, kind, source), latest)| {
            serde_json::json!({"asset": asset, "kind": kind, "source": source, "latest_first": latest})
        })
        .collect();
    Ok(
        serde_json::json!({"grades_in_file": total, "known_at": known_at.map(|t| t.to_rfc3339()), "tokens": tokens}),
    )
}

/// Asks the agent `agent` names to hold the order; its answer as the tool's.
async fn propose(agent: PathBuf, arg: ProposeArg) -> CallToolResult {
    if std::env::var("VIGIL_CONTROL_KEY_ID").is_err()
        && std::env::var("VIGIL_CONTROL_KEYSTORE").is_err()
    {
        return failed(
            "this MCP server has no key to sign proposals with: start it with VIGIL_CONTROL_KEY_ID and VIGIL_CONTROL_SECRET (or VIGIL_CONTROL_KEYSTORE) naming a `proposer` key (`vigil ctl keys new <id> --role proposer`)",
        );
    }
    let target = match super::ctl::target::Target::resolve(&agent.to_string_lossy()) {
        Ok(t) => t,
        Err(e) => return failed(format!("{e:#}")),
    };
    let amount = |a: Option<Amount>| a.map(|a| a.0);
    let body = serde_json::json!({"instrument": arg.instrument, "side": arg.side,
        "quantity": amount(arg.quantity), "notional": amount(arg.notional),
        "limit_price": amount(arg.limit_price), "note": arg.note});
    let body = match serde_json::to_vec(&body) {
        Ok(b) => b,
        Err(e) => return failed(e.to_string()),
    };
    let (status, v) = match target.send_async("propose", body).await {
        Ok(r) => r,
        Err(e) => return failed(format!("{e:#}")),
    };
    if status.is_success() && v["outcome"]["outcome"] == "held" {
        let o = &v["outcome"];
        return json(&serde_json::json!({
            "held": true, "id": o["id"], "hash": o["hash"], "expires_at": o["expires_at"],
            "trading_state": v["trading_state"],
            "next": "The order is held, not sent. Only an operator can approve it (`vigil ctl <agent> approve <id> <hash>` with an operator key) or reject it; it expires unapproved otherwise. This tool cannot approve."
        }));
    }
    let why = v["outcome"]["reason"]
        .as_str()
        .or(v["message"].as_str())
        .unwrap_or("no reason given");
    failed(format!(
        "the agent did not hold the order ({status}): {why}"
    ))
}

fn backtest(path: &Path, registry: &Registry) -> CallToolResult {
    let loaded = match vigil_backtest::LoadedConfig::load(path) {
        Ok(l) => l.replaying_llm(),
        Err(e) => return failed(e.to_string()),
    };
    match loaded.build(registry).and_then(|b| b.run()) {
        Ok(r) => json(
            &serde_json::json!({"name": r.name, "metrics": r.metrics, "orders": r.orders,
            "llm": r.llm, "warnings": r.warnings}),
        ),
        Err(e) => failed(e.to_string()),
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Vigil {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("vigil", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "vigil's research and supervision tools: list strategies, run backtests and sweeps, check data, read grades, read an agent's journal (all read-only), and propose an order to a running agent, which holds it until a human operator approves it. Paths are relative to the server's root.",
            )
    }
}
