//! The plug-in registry: strategy name → factory.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use vigil_core::Universe;

use crate::Strategy;

/// An error finding or building a strategy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StrategyError {
    /// No plug-in of that name is registered.
    #[error("unknown strategy `{name}` (registered: {known})")]
    Unknown {
        /// The name asked for.
        name: String,
        /// The registered names.
        known: String,
    },
    /// Two plug-ins registered the same name.
    #[error("strategy `{0}` is registered twice")]
    Duplicate(String),
    /// The strategy's parameters are wrong.
    #[error("strategy `{strategy}`: {message}")]
    InvalidParams {
        /// The strategy.
        strategy: String,
        /// The parameter at fault, when one is.
        param: Option<String>,
        /// What is wrong, naming the parameter.
        message: String,
    },
}

impl StrategyError {
    /// A parameter error for `strategy` that is not about one parameter.
    pub fn invalid(strategy: &str, message: impl Into<String>) -> StrategyError {
        StrategyError::InvalidParams {
            strategy: strategy.to_string(),
            param: None,
            message: message.into(),
        }
    }

    /// An error about the parameter `param` of `strategy` (its line is shown to
    /// the user).
    pub fn param(strategy: &str, param: &str, message: impl Into<String>) -> StrategyError {
        StrategyError::InvalidParams {
            strategy: strategy.to_string(),
            param: Some(param.to_string()),
            message: message.into(),
        }
    }

    /// The parameter at fault, if the error is about one.
    pub fn param_name(&self) -> Option<&str> {
        match self {
            StrategyError::InvalidParams { param, .. } => param.as_deref(),
            StrategyError::Unknown { .. } | StrategyError::Duplicate(_) => None,
        }
    }
}

/// Documentation of one parameter, for `vigil strategies`.
#[derive(Clone, Copy, Debug)]
pub struct ParamSpec {
    /// Parameter name as written in TOML.
    pub name: &'static str,
    /// Type, e.g. `integer`, `decimal`, `string list`.
    pub ty: &'static str,
    /// Default, if the parameter is optional: a value the parameter accepts
    /// (TOML, or a bare word for a string), since reports show it as what the
    /// strategy ran with. A default that is not a value ("every instrument")
    /// belongs in `help`, with `None` here.
    pub default: Option<&'static str>,
    /// What it does.
    pub help: &'static str,
}

/// What a factory may consult while building a strategy.
pub struct BuildContext<'a> {
    /// The run's instruments and assets (to resolve symbols named in parameters).
    pub universe: &'a Universe,
}

impl BuildContext<'_> {
    /// For a plug-in whose `param` makes it go short: every instrument it
    /// trades (`traded`) must be a perpetual, else an error naming the first
    /// spot one.
    pub fn require_perpetuals(
        &self,
        plugin: &str,
        param: &str,
        traded: impl Fn(&vigil_core::Instrument) -> bool,
    ) -> Result<(), StrategyError> {
        match self
            .universe
            .instruments()
            .iter()
            .find(|i| !i.is_perpetual() && traded(i))
        {
            Some(spot) => Err(StrategyError::param(
                plugin,
                param,
                format!(
                    "`{param}` goes short: it needs perpetual instruments (`kind = \"perpetual\"`); `{}` is spot",
                    spot.symbol
                ),
            )),
            None => Ok(()),
        }
    }
}

/// A factory: builds a strategy from its parameter table.
pub type StrategyFactory =
    fn(&toml::Table, &BuildContext<'_>) -> Result<Box<dyn Strategy>, StrategyError>;

/// A plug-in: its name, documentation and factory.
#[derive(Clone, Copy)]
pub struct StrategyDescriptor {
    /// The name configs use, e.g. `sma-cross`.
    pub name: &'static str,
    /// One-line summary.
    pub summary: &'static str,
    /// Its parameters.
    pub params: &'static [ParamSpec],
    /// Builds the strategy from its parameter table.
    pub build: StrategyFactory,
}

impl StrategyDescriptor {
    /// The parameters a strategy actually runs with: those in `params`, plus
    /// every documented default that `params` leaves out — what a report shows.
    /// A default that is not a TOML value (`trader`, `7d`) is kept as a string.
    pub fn resolve(&self, params: &toml::Table) -> toml::Table {
        let mut out = params.clone();
        for spec in self.params {
            let Some(default) = spec.default else {
                continue;
            };
            if out.contains_key(spec.name) {
                continue;
            }
            let value = toml::from_str::<toml::Table>(&format!("v = {default}"))
                .ok()
                .and_then(|mut t| t.remove("v"))
                .unwrap_or_else(|| toml::Value::String(default.to_string()));
            out.insert(spec.name.to_string(), value);
        }
        out
    }
}

/// Maps strategy names to factories.
#[derive(Default, Clone)]
pub struct Registry {
    plugins: BTreeMap<&'static str, StrategyDescriptor>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// Registers a plug-in; a second plug-in with the same name is an error.
    pub fn register(&mut self, descriptor: StrategyDescriptor) -> Result<&mut Self, StrategyError> {
        if self.plugins.contains_key(descriptor.name) {
            return Err(StrategyError::Duplicate(descriptor.name.to_string()));
        }
        self.plugins.insert(descriptor.name, descriptor);
        Ok(self)
    }

    /// Looks up a plug-in.
    pub fn get(&self, name: &str) -> Option<&StrategyDescriptor> {
        self.plugins.get(name)
    }

    /// All plug-ins, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = &StrategyDescriptor> {
        self.plugins.values()
    }

    /// Builds the strategy `name` from its parameter table.
    pub fn build(
        &self,
        name: &str,
        params: &toml::Table,
        ctx: &BuildContext<'_>,
    ) -> Result<Box<dyn Strategy>, StrategyError> {
        let d = self.get(name).ok_or_else(|| StrategyError::Unknown {
            name: name.to_string(),
            known: self.plugins.keys().copied().collect::<Vec<_>>().join(", "),
        })?;
        (d.build)(params, ctx)
    }
}

/// Deserialises a strategy's parameter table into its config struct (which should
/// use `#[serde(deny_unknown_fields)]`), turning serde's message into an error
/// that names the strategy and the parameter.
///
/// The table is rendered as TOML and parsed back, so the parser's span says which
/// parameter is at fault.
pub fn parse_params<T: DeserializeOwned>(
    strategy: &str,
    params: &toml::Table,
) -> Result<T, StrategyError> {
    let text = toml::to_string(params).unwrap_or_default();
    toml::from_str::<T>(&text).map_err(|e| {
        let param = e.span().and_then(|span| key_at(&text, span.start));
        StrategyError::InvalidParams {
            strategy: strategy.to_string(),
            param,
            message: e.message().trim().to_string(),
        }
    })
}

/// The key of the `key = value` line at byte `offset` of a rendered table.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let start = text[..offset.min(text.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let line = text[start..].lines().next()?;
    let (key, _) = line.split_once('=')?;
    Some(key.trim().trim_matches('"').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn never(_: &toml::Table, _: &BuildContext<'_>) -> Result<Box<dyn Strategy>, StrategyError> {
        Err(StrategyError::invalid("t", "not built in this test"))
    }

    #[test]
    fn resolve_fills_documented_defaults_and_keeps_what_was_written() {
        let spec = |name, default| ParamSpec {
            name,
            ty: "",
            default,
            help: "",
        };
        let d = StrategyDescriptor {
            name: "t",
            summary: "",
            params: &[],
            build: never,
        };
        let params = [
            spec("period", Some("14")),
            spec("kind", Some("trader")),
            spec("weights", Some("[1, 2]")),
            spec("exit", Some("55")),
            spec("symbols", None),
        ];
        let d = StrategyDescriptor {
            params: Box::leak(Box::new(params)),
            ..d
        };
        let written: toml::Table = toml::from_str("exit = 60\nextra = true").unwrap();
        let r = d.resolve(&written);
        assert_eq!(r["period"], toml::Value::Integer(14));
        assert_eq!(r["kind"], toml::Value::String("trader".into()));
        assert_eq!(r["weights"].as_array().map(Vec::len), Some(2));
        assert_eq!(r["exit"], toml::Value::Integer(60), "what was written wins");
        assert!(r.contains_key("extra"));
        assert!(
            !r.contains_key("symbols"),
            "no default, not written: absent"
        );
    }
}
