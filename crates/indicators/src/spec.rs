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
    let defaults: &[f64] = match name.as_str() {
        "sma" | "ema" | "wma" | "dema" | "tema" | "donchian" | "max" | "min" | "stddev"
        | "zscore" | "percent_rank" | "vwap" | "correl" | "bbands" => &[20.0, 2.0],
        "rsi" | "mfi" | "willr" | "atr" | "adx" | "aroon" | "linreg_slope" => &[14.0],
        "macd" => &[12.0, 26.0, 9.0],
        "roc" | "mom" => &[10.0],
        "cci" => &[20.0],
        "stoch" => &[14.0, 3.0, 3.0],
        "stochrsi" => &[14.0, 14.0, 3.0],
        "keltner" => &[20.0, 10.0, 2.0],
        "supertrend" => &[10.0, 3.0],
        "sar" => &[0.02, 0.2],
        "tr" | "obv" | "session_vwap" => &[],
        _ => return Err(SpecError::Unknown(name)),
    };
    let used = match name.as_str() {
        "bbands" | "supertrend" | "sar" => 2,
        "macd" | "stoch" | "stochrsi" | "keltner" => 3,
        "tr" | "obv" | "session_vwap" => 0,
        _ => 1,
    };
    if given.len() > used {
        return Err(SpecError::Params {
            spec: spec.into(),
            message: format!("`{name}` takes {used} parameters, got {}", given.len()),
        });
    }
    let p: Vec<f64> = (0..used)
        .map(|i| given.get(i).copied().unwrap_or(defaults[i]))
        .collect();
    let int = |i: usize| -> Result<usize, SpecError> {
        let v = p[i];
        if v.fract() != 0.0 || !(0.0..=1e6).contains(&v) {
            return Err(SpecError::Params {
                spec: spec.into(),
                message: format!("`{v}` must be a whole number of bars"),
            });
        }
        Ok(v as usize)
    };
    let err = |source| SpecError::Indicator {
        spec: spec.into(),
        source,
    };
    let label = |suffix: &str| -> String {
        let params: Vec<String> = p.iter().map(|v| v.to_string()).collect();
        let base = if params.is_empty() {
            name.clone()
        } else {
            format!("{name}_{}", params.join("_"))
        };
        if suffix.is_empty() {
            base
        } else {
            format!("{base}_{suffix}")
        }
    };
    let one = |v: &f64, out: &mut Vec<Option<f64>>| out.push(Some(*v));
    Ok(match name.as_str() {
        "sma" => boxed(vec![label("")], Sma::new(int(0)?).map_err(err)?, one),
        "ema" => boxed(vec![label("")], Ema::new(int(0)?).map_err(err)?, one),
        "wma" => boxed(vec![label("")], Wma::new(int(0)?).map_err(err)?, one),
        "dema" => boxed(vec![label("")], Dema::new(int(0)?).map_err(err)?, one),
        "tema" => boxed(vec![label("")], Tema::new(int(0)?).map_err(err)?, one),
        "rsi" => boxed(vec![label("")], Rsi::new(int(0)?).map_err(err)?, one),
        "roc" => boxed(vec![label("")], Roc::new(int(0)?).map_err(err)?, one),
        "mom" => boxed(vec![label("")], Momentum::new(int(0)?).map_err(err)?, one),
        "cci" => boxed(vec![label("")], Cci::new(int(0)?).map_err(err)?, one),
        "willr" => boxed(vec![label("")], WilliamsR::new(int(0)?).map_err(err)?, one),
        "mfi" => boxed(vec![label("")], Mfi::new(int(0)?).map_err(err)?, one),
        "tr" => boxed(vec![label("")], TrueRange::new(), one),
        "atr" => boxed(vec![label("")], Atr::new(int(0)?).map_err(err)?, one),
        "obv" => boxed(vec![label("")], Obv::new(), one),
        "vwap" => boxed(vec![label("")], Vwap::new(int(0)?).map_err(err)?, one),
        "session_vwap" => boxed(vec![label("")], SessionVwap::new(), one),
        "max" => boxed(vec![label("")], RollingMax::new(int(0)?).map_err(err)?, one),
        "min" => boxed(vec![label("")], RollingMin::new(int(0)?).map_err(err)?, one),
        "stddev" => boxed(vec![label("")], StdDev::new(int(0)?).map_err(err)?, one),
        "zscore" => boxed(vec![label("")], ZScore::new(int(0)?).map_err(err)?, one),
        "percent_rank" => boxed(
            vec![label("")],
            PercentRank::new(int(0)?).map_err(err)?,
            one,
        ),
        "linreg_slope" => boxed(
            vec![label("")],
            LinRegSlope::new(int(0)?).map_err(err)?,
            one,
        ),
        "correl" => boxed(
            vec![label("close_volume")],
            Correlation::new(int(0)?).map_err(err)?,
            one,
        ),
        "sar" => boxed(
            vec![label("")],
            ParabolicSar::new(p[0], p[1]).map_err(err)?,
            one,
        ),
        "macd" => boxed(
            vec![label(""), label("signal"), label("hist")],
            Macd::new(int(0)?, int(1)?, int(2)?).map_err(err)?,
            |o: &MacdOutput, out| out.extend([Some(o.macd), Some(o.signal), Some(o.histogram)]),
        ),
        "stoch" | "stochrsi" => {
            let read =
                |o: &StochOutput, out: &mut Vec<Option<f64>>| out.extend([Some(o.k), Some(o.d)]);
            let names = vec![label("k"), label("d")];
            if name == "stoch" {
                boxed(
                    names,
                    Stoch::new(int(0)?, int(1)?, int(2)?).map_err(err)?,
                    read,
                )
            } else {
                boxed(
                    names,
                    StochRsi::new(int(0)?, int(1)?, int(2)?).map_err(err)?,
                    read,
                )
            }
        }
        "bbands" | "donchian" | "keltner" => {
            let read = |o: &BandsOutput, out: &mut Vec<Option<f64>>| {
                out.extend([Some(o.upper), Some(o.middle), Some(o.lower)])
            };
            let names = vec![label("upper"), label("middle"), label("lower")];
            match name.as_str() {
                "bbands" => boxed(
                    names,
                    BollingerBands::new(int(0)?, p[1]).map_err(err)?,
                    read,
                ),
                "donchian" => boxed(names, Donchian::new(int(0)?).map_err(err)?, read),
                _ => boxed(
                    names,
                    Keltner::new(int(0)?, int(1)?, p[2]).map_err(err)?,
                    read,
                ),
            }
        }
        "adx" => boxed(
            vec![label(""), label("plus_di"), label("minus_di")],
            Adx::new(int(0)?).map_err(err)?,
            |o: &AdxOutput, out| out.extend([Some(o.adx), Some(o.plus_di), Some(o.minus_di)]),
        ),
        "aroon" => boxed(
            vec![label("up"), label("down")],
            Aroon::new(int(0)?).map_err(err)?,
            |o: &AroonOutput, out| out.extend([Some(o.up), Some(o.down)]),
        ),
        "supertrend" => boxed(
            vec![label(""), label("up")],
            SuperTrend::new(int(0)?, p[1]).map_err(err)?,
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
