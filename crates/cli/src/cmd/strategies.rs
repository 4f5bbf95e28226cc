//! `vigil strategies`: the registered plug-ins and their parameters.

use vigil_strategy::Registry;

/// Prints every plug-in with its parameters and defaults.
pub fn run(registry: &Registry) -> anyhow::Result<()> {
    print!("{}", crate::render::strategies(registry));
    Ok(())
}
