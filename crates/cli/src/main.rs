//! The `vigil` binary: the CLI with the built-in strategy plug-ins.

fn main() -> std::process::ExitCode {
    vigil_cli::main_with(vigil_cli::builtin_registry())
}
