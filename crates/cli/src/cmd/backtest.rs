//! `vigil backtest`: run a backtest config and print its summary.

use std::path::PathBuf;
use std::time::Instant;

use vigil_backtest::Backtest;
use vigil_strategy::Registry;

use super::write_file;

/// `vigil backtest <config>`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The backtest config (see backtests/*.toml).
    pub config: PathBuf,
    /// Also write the full report (metrics, trades, fills, equity curve) as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Also write a self-contained HTML report (charts, monthly returns, trades,
    /// risk verdicts, assumptions); it opens offline in any browser.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Also write the equity chart (strategy against buy-and-hold) as a PNG.
    #[arg(long, value_name = "FILE")]
    pub png: Option<PathBuf>,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
    /// Print how long the run took and events per second (to stderr).
    #[arg(long)]
    pub timing: bool,
    /// Skip the realism report (reruns with 2× fees, 2× slippage, +1 bar latency).
    #[arg(long)]
    pub no_realism: bool,
}

/// Runs the backtest, the realism report unless skipped, and writes the outputs.
pub fn run(args: Args, registry: &Registry) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut report = Backtest::from_file(&args.config, registry)?.run()?;
    let elapsed = started.elapsed();
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    if !args.no_realism {
        match vigil_backtest::realism::realism_report(&args.config, registry) {
            Ok(r) => report.realism = Some(r),
            // Harsher costs change the positions an LLM is shown: questions
            // its tape does not hold (and that must not be asked on the side).
            Err(vigil_backtest::BacktestError::Llm(e)) if report.llm.is_some() => {
                let w = format!("no realism report: the stressed runs asked the model what its tape does not hold ({e}); a prompt without positions, cash or equity makes them replayable");
                eprintln!("warning: {w}");
                report.warnings.push(w);
            }
            Err(e) => return Err(e.into()),
        }
    }
    if let Some(path) = &args.json {
        write_file(path, report.to_json() + "\n")?;
    }
    if let Some(path) = &args.report {
        write_file(path, vigil_backtest::html::render_html(&report))?;
    }
    if let Some(path) = &args.png {
        let svg = vigil_backtest::html::equity_chart_svg(&report);
        let bytes = vigil_backtest::chart::svg_to_png(&svg)
            .map_err(|e| anyhow::anyhow!("rendering the equity chart: {e}"))?;
        write_file(path, bytes)?;
    }
    if !args.quiet {
        print!("{}", crate::summary::render(&report));
    }
    if args.timing {
        let events = report.metrics.events as f64;
        eprintln!(
            "timing: {} events in {:.3} s ({:.0} events/s, end to end including reading the data)",
            report.metrics.events,
            elapsed.as_secs_f64(),
            events / elapsed.as_secs_f64().max(1e-9)
        );
    }
    Ok(())
}
