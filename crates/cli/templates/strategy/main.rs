//! Your own `vigil`: every built-in command and strategy, plus `{{name}}`.
//!
//!     cargo run --release -- backtest backtest.toml
//!     cargo run --release -- strategies

fn main() -> std::process::ExitCode {
    let mut registry = vigil_cli::builtin_registry();
    if let Err(e) = registry.register({{crate}}::descriptor()) {
        eprintln!("error: {e}");
        return std::process::ExitCode::FAILURE;
    }
    vigil_cli::main_with(registry)
}
