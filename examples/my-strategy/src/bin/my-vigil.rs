//! The user's own `vigil`: every built-in command, plus `dip-buyer`.
//!
//!     cargo run -p my-strategy --bin my-vigil -- backtest examples/my-strategy/backtest.toml

fn main() -> std::process::ExitCode {
    let mut registry = vigil_cli::builtin_registry();
    registry
        .register(my_strategy::descriptor())
        .expect("unique strategy name");
    vigil_cli::main_with(registry)
}
