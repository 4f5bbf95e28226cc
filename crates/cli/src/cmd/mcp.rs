//! `vigil mcp`: vigil's tools for an AI client over the Model Context Protocol
//! (stdio), with the official Rust SDK (`rmcp`). Every tool is read-only: it
//! lists strategies, runs backtests and sweeps (replaying LLM tapes, never
//! calling a model), checks data and reads an agent's journal. Paths are
//! relative to `--root` and may not leave it; no tool takes or returns a
//! secret. Logs go to stderr; stdout is the protocol's.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig};
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
}

/// Serves the tools on stdin/stdout until the client closes stdin.
pub fn run(a: Args, registry: &Registry) -> anyhow::Result<()> {
    let root = match a.root {
        Some(r) => r,
        None => std::env::current_dir()?,
    };
    let root = root
        .canonicalize()
        .map_err(|e| anyhow::anyhow!("--root {}: {e}", root.display()))?;
    let server = Vigil::new(root, registry.clone());
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
                "vigil's research and supervision tools: list strategies, run backtests and sweeps, check data, read an agent's journal. All read-only; paths are relative to the server's root.",
            )
    }
}
