//! Sweeping `[llm]` fields: prompt variants, models, temperatures — keys
//! `llm.<field>` in a sweep's `[params]`.

use vigil_core::config::FieldError;

/// The `[llm]` fields a sweep may vary (`"llm.prompt" = ["…", "…"]`).
pub const LLM_SWEEP_KEYS: [&str; 9] = [
    "prompt",
    "template",
    "model",
    "temperature",
    "seed",
    "history_bars",
    "previous_answers",
    "every_bars",
    "max_tokens",
];

/// Sets one `[llm]` field from a sweep value.
pub(crate) fn set_llm_field(
    llm: &mut vigil_llm::LlmConfig,
    field: &str,
    v: &toml::Value,
) -> Result<(), String> {
    let int = || {
        v.as_integer()
            .filter(|n| *n >= 0)
            .ok_or_else(|| format!("`llm.{field}`: expected a whole number ≥ 0, got {v}"))
    };
    let text = || {
        v.as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("`llm.{field}`: expected a string, got {v}"))
    };
    match field {
        "prompt" => {
            llm.prompt = Some(text()?);
            llm.template = None;
        }
        "template" => {
            llm.template = Some(text()?.into());
            llm.prompt = None;
        }
        "model" => llm.model = text()?,
        "temperature" => {
            llm.temperature = v
                .as_float()
                .or_else(|| v.as_integer().map(|i| i as f64))
                .ok_or_else(|| format!("`llm.temperature`: expected a number, got {v}"))?
        }
        "seed" => llm.seed = Some(int()? as u64),
        "history_bars" => llm.history_bars = int()? as usize,
        "previous_answers" => llm.previous_answers = int()? as usize,
        "every_bars" => llm.every_bars = Some(int()? as u32),
        "max_tokens" => llm.max_tokens = int()? as u32,
        other => {
            return Err(format!(
                "`llm.{other}` cannot be swept (it can: {})",
                LLM_SWEEP_KEYS.join(", ")
            ))
        }
    }
    Ok(())
}

/// Checks the `llm.` keys of a sweep's parameter sets against the base
/// config: it must have `[llm]`, and each value must fit its field.
pub fn check_llm_params(
    base: Option<&vigil_llm::LlmConfig>,
    sets: &[toml::Table],
) -> Result<(), FieldError> {
    for set in sets {
        for (k, v) in set {
            let Some(field) = k.strip_prefix("llm.") else {
                continue;
            };
            let Some(llm) = base else {
                return Err(FieldError::new(
                    format!("params.{k}"),
                    "the base backtest has no [llm] section",
                ));
            };
            set_llm_field(&mut llm.clone(), field, v)
                .map_err(|m| FieldError::new(format!("params.{k}"), m))?;
        }
    }
    Ok(())
}
