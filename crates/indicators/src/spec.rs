//! Indicators named in text — `rsi:14`, `macd:12,26,9`, `bbands:20,2` — for
//! configs and the `vigil indicators` command.

use crate::*;

/// An indicator built from a spec, producing named columns.
pub trait Columns {
    /// The column names, e.g. `["macd", "macd_signal", "macd_hist"]`.
    fn names(&self) -> Vec<String>;
    /// Feeds one bar and appends one value per column (`None` while warming up).
    fn update(&mut self, bar: &Candle, out: &mut Vec<Option<f64>>);
}

/// A spec that names no indicator or gives bad parameters.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpecError {
    /// No such indicator.
    #[error("unknown indicator `{0}`; known: {KNOWN}")]
    Unknown(String),
    /// A parameter is not a number, or there are too many.
    #[error("`{spec}`: {message}")]
    Params {
        /// The spec.
        spec: String,
        /// What is wrong.
        message: String,
    },
    /// The indicator refused its parameters.
    #[error("`{spec}`: {source}")]
    Indicator {
        /// The spec.
        spec: String,
        /// Why.
        source: IndicatorError,
    },
}

/// The names `parse` knows, with their parameters and defaults.
pub const KNOWN: &str = "sma:20, ema:20, wma:20, dema:20, tema:20, rsi:14, macd:12,26,9, roc:10, mom:10, cci:20, willr:14, stoch:14,3,3, stochrsi:14,14,3, mfi:14, tr, atr:14, bbands:20,2, donchian:20, keltner:20,10,2, adx:14, aroon:14, supertrend:10,3, sar:0.02,0.2, obv, vwap:20, session_vwap, max:20, min:20, stddev:20, zscore:20, percent_rank:20, linreg_slope:14, correl:20";

struct One<I, F> {
    names: Vec<String>,
    ind: I,
    read: F,
}

impl<I: Indicator, F: Fn(&I::Output, &mut Vec<Option<f64>>)> Columns for One<I, F> {
    fn names(&self) -> Vec<String> {
        self.names.clone()
    }
    fn update(&mut self, bar: &Candle, out: &mut Vec<Option<f64>>) {
        match self.ind.update_bar(bar) {
            Some(v) => (self.read)(&v, out),
            None => out.extend(std::iter::repeat_n(None, self.names.len())),
        }
    }
}

fn boxed<I: Indicator + 'static>(
    names: Vec<String>,
    ind: I,
    read: impl Fn(&I::Output, &mut Vec<Option<f64>>) + 'static,
) -> Box<dyn Columns> {
    Box::new(One { names, ind, read })
}

/// A spec split into its name and parameters (defaults filled in).
struct Parsed<'a> {
    spec: &'a str,
    name: String,
    p: Vec<f64>,
}

impl Parsed<'_> {
    /// Parameter `i` as a whole number of bars.
    fn int(&self, i: usize) -> Result<usize, SpecError> {
        let v = self.p[i];
        if v.fract() != 0.0 || !(0.0..=1e6).contains(&v) {
            return Err(SpecError::Params {
                spec: self.spec.into(),
                message: format!("`{v}` must be a whole number of bars"),
            });
        }
        Ok(v as usize)
    }

    fn err(&self, source: IndicatorError) -> SpecError {
        SpecError::Indicator {
            spec: self.spec.into(),
            source,
        }
    }

    /// `name_p1_p2[_suffix]`.
    fn label(&self, suffix: &str) -> String {
        let mut base = self.name.clone();
        for v in &self.p {
            base.push('_');
            base.push_str(&v.to_string());
        }
        if !suffix.is_empty() {
            base.push('_');
            base.push_str(suffix);
        }
        base
    }
}

/// (defaults, how many parameters) of an indicator name.
fn signature(name: &str) -> Option<(&'static [f64], usize)> {
    Some(match name {
        "sma" | "ema" | "wma" | "dema" | "tema" | "donchian" | "max" | "min" | "stddev"
        | "zscore" | "percent_rank" | "vwap" | "correl" => (&[20.0], 1),
        "bbands" => (&[20.0, 2.0], 2),
        "rsi" | "mfi" | "willr" | "atr" | "adx" | "aroon" | "linreg_slope" => (&[14.0], 1),
        "macd" => (&[12.0, 26.0, 9.0], 3),
        "roc" | "mom" => (&[10.0], 1),
        "cci" => (&[20.0], 1),
        "stoch" => (&[14.0, 3.0, 3.0], 3),
        "stochrsi" => (&[14.0, 14.0, 3.0], 3),
        "keltner" => (&[20.0, 10.0, 2.0], 3),
        "supertrend" => (&[10.0, 3.0], 2),
        "sar" => (&[0.02, 0.2], 2),
        "tr" | "obv" | "session_vwap" => (&[], 0),
        _ => return None,
    })
}

/// Builds an indicator from `name[:p1,p2,…]`; missing parameters take the
/// defaults listed in [`KNOWN`].
pub fn parse(spec: &str) -> Result<Box<dyn Columns>, SpecError> {
    let (name, params) = spec.split_once(':').unwrap_or((spec, ""));
    let name = name.trim().to_ascii_lowercase();
    let given: Vec<f64> = params
        .split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            p.trim().parse::<f64>().map_err(|_| SpecError::Params {
                spec: spec.into(),
                message: format!("`{p}` is not a number"),
            })
        })
        .collect::<Result<_, _>>()?;
    let Some((defaults, used)) = signature(&name) else {
        return Err(SpecError::Unknown(name));
    };
    if given.len() > used {
        return Err(SpecError::Params {
            spec: spec.into(),
            message: format!("`{name}` takes {used} parameters, got {}", given.len()),
        });
    }
    let p = (0..used)
        .map(|i| given.get(i).copied().unwrap_or(defaults[i]))
        .collect();
    let parsed = Parsed { spec, name, p };
    match single(&parsed)? {
        Some(c) => Ok(c),
        None => multi(&parsed),
    }
}

fn one(v: &f64, out: &mut Vec<Option<f64>>) {
    out.push(Some(*v));
}

/// The one-column indicators.
fn single(s: &Parsed) -> Result<Option<Box<dyn Columns>>, SpecError> {
    let e = |x| s.err(x);
    let n = || vec![s.label("")];
    Ok(Some(match s.name.as_str() {
        "sma" => boxed(n(), Sma::new(s.int(0)?).map_err(e)?, one),
        "ema" => boxed(n(), Ema::new(s.int(0)?).map_err(e)?, one),
        "wma" => boxed(n(), Wma::new(s.int(0)?).map_err(e)?, one),
        "dema" => boxed(n(), Dema::new(s.int(0)?).map_err(e)?, one),
        "tema" => boxed(n(), Tema::new(s.int(0)?).map_err(e)?, one),
        "rsi" => boxed(n(), Rsi::new(s.int(0)?).map_err(e)?, one),
        "roc" => boxed(n(), Roc::new(s.int(0)?).map_err(e)?, one),
        "mom" => boxed(n(), Momentum::new(s.int(0)?).map_err(e)?, one),
        "cci" => boxed(n(), Cci::new(s.int(0)?).map_err(e)?, one),
        "willr" => boxed(n(), WilliamsR::new(s.int(0)?).map_err(e)?, one),
        "mfi" => boxed(n(), Mfi::new(s.int(0)?).map_err(e)?, one),
        "tr" => boxed(n(), TrueRange::new(), one),
        "atr" => boxed(n(), Atr::new(s.int(0)?).map_err(e)?, one),
        "obv" => boxed(n(), Obv::new(), one),
        "vwap" => boxed(n(), Vwap::new(s.int(0)?).map_err(e)?, one),
        "session_vwap" => boxed(n(), SessionVwap::new(), one),
        "max" => boxed(n(), RollingMax::new(s.int(0)?).map_err(e)?, one),
        "min" => boxed(n(), RollingMin::new(s.int(0)?).map_err(e)?, one),
        "stddev" => boxed(n(), StdDev::new(s.int(0)?).map_err(e)?, one),
        "zscore" => boxed(n(), ZScore::new(s.int(0)?).map_err(e)?, one),
        "percent_rank" => boxed(n(), PercentRank::new(s.int(0)?).map_err(e)?, one),
        "linreg_slope" => boxed(n(), LinRegSlope::new(s.int(0)?).map_err(e)?, one),
        "correl" => boxed(
            vec![s.label("close_volume")],
            Correlation::new(s.int(0)?).map_err(e)?,
            one,
        ),
        "sar" => boxed(n(), ParabolicSar::new(s.p[0], s.p[1]).map_err(e)?, one),
        _ => return Ok(None),
    }))
}

/// The indicators with several lines.
fn multi(s: &Parsed) -> Result<Box<dyn Columns>, SpecError> {
    let e = |x| s.err(x);
    let l = |suffixes: &[&str]| suffixes.iter().map(|x| s.label(x)).collect::<Vec<_>>();
    let bands = |o: &BandsOutput, out: &mut Vec<Option<f64>>| {
        out.extend([Some(o.upper), Some(o.middle), Some(o.lower)])
    };
    let stoch = |o: &StochOutput, out: &mut Vec<Option<f64>>| out.extend([Some(o.k), Some(o.d)]);
    Ok(match s.name.as_str() {
        "macd" => boxed(
            l(&["", "signal", "hist"]),
            Macd::new(s.int(0)?, s.int(1)?, s.int(2)?).map_err(e)?,
            |o: &MacdOutput, out| out.extend([Some(o.macd), Some(o.signal), Some(o.histogram)]),
        ),
        "stoch" => boxed(
            l(&["k", "d"]),
            Stoch::new(s.int(0)?, s.int(1)?, s.int(2)?).map_err(e)?,
            stoch,
        ),
        "stochrsi" => boxed(
            l(&["k", "d"]),
            StochRsi::new(s.int(0)?, s.int(1)?, s.int(2)?).map_err(e)?,
            stoch,
        ),
        "bbands" => boxed(
            l(&["upper", "middle", "lower"]),
            BollingerBands::new(s.int(0)?, s.p[1]).map_err(e)?,
            bands,
        ),
        "donchian" => boxed(
            l(&["upper", "middle", "lower"]),
            Donchian::new(s.int(0)?).map_err(e)?,
            bands,
        ),
        "keltner" => boxed(
            l(&["upper", "middle", "lower"]),
            Keltner::new(s.int(0)?, s.int(1)?, s.p[2]).map_err(e)?,
            bands,
        ),
        "adx" => boxed(
            l(&["", "plus_di", "minus_di"]),
            Adx::new(s.int(0)?).map_err(e)?,
            |o: &AdxOutput, out| out.extend([Some(o.adx), Some(o.plus_di), Some(o.minus_di)]),
        ),
        "aroon" => boxed(
            l(&["up", "down"]),
            Aroon::new(s.int(0)?).map_err(e)?,
            |o: &AroonOutput, out| out.extend([Some(o.up), Some(o.down)]),
        ),
        "supertrend" => boxed(
            l(&["", "up"]),
            SuperTrend::new(s.int(0)?, s.p[1]).map_err(e)?,
            |o: &SuperTrendOutput, out| {
                out.extend([Some(o.value), Some(if o.up { 1.0 } else { 0.0 })])
            },
        ),
        other => return Err(SpecError::Unknown(other.to_string())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(spec: &str) -> String {
        match parse(spec) {
            Ok(_) => panic!("{spec} parsed"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn specs_parse_with_defaults_and_refuse_nonsense() {
        let m = parse("macd").unwrap();
        assert_eq!(
            m.names(),
            ["macd_12_26_9", "macd_12_26_9_signal", "macd_12_26_9_hist"]
        );
        assert_eq!(parse("RSI:7").unwrap().names(), ["rsi_7"]);
        assert_eq!(parse("bbands:20").unwrap().names()[0], "bbands_20_2_upper");
        assert!(err("foo:3").starts_with("unknown indicator `foo`"));
        assert!(err("rsi:x").contains("not a number"));
        assert!(err("rsi:14,3").contains("takes 1 parameters"));
        assert!(err("rsi:2.5").contains("whole number"));
        assert!(err("macd:26,12,9").contains("fast period"));
        assert!(err("sma:0").contains("at least 1"));
        let mut s = parse("sma:2").unwrap();
        let mut out = Vec::new();
        for c in [1.0, 3.0] {
            s.update(&Candle::ohlc(c, c, c, c), &mut out);
        }
        assert_eq!(out, [None, Some(2.0)]);
    }
}
