//! Self-contained SVG line charts for reports, and PNG rendering of them.
//!
//! The charts are written as plain SVG (no script, no external font or stylesheet),
//! so a report opens offline in any browser; [`svg_to_png`] rasterises the same SVG
//! with `resvg` for `--png`.

use std::fmt::Write as _;

use vigil_core::Timestamp;

/// One line on a chart.
#[derive(Clone, Debug)]
pub struct Series {
    /// Legend label.
    pub name: String,
    /// Stroke colour (any SVG colour).
    pub color: &'static str,
    /// `(time, value)` points in time order.
    pub points: Vec<(Timestamp, f64)>,
    /// Fill the area between the line and zero.
    pub fill: bool,
}

/// How y-axis values are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum YFormat {
    /// Plain numbers with thousands kept short (`12.5k`).
    Number,
    /// Fractions printed as percentages (`-12%`).
    Percent,
}

/// A time-series line chart.
#[derive(Clone, Debug)]
pub struct LineChart {
    /// Title above the plot.
    pub title: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Y-axis label format.
    pub y_format: YFormat,
    /// The lines.
    pub series: Vec<Series>,
}

const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 40.0;

impl LineChart {
    /// The chart as an `<svg>` element. A chart without finite points says so
    /// instead of drawing empty axes.
    pub fn to_svg(&self) -> String {
        let (w, h) = (self.width as f64, self.height as f64);
        let mut svg = String::with_capacity(16 * 1024);
        let _ = write!(
            svg,
            r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">"#
        );
        let _ = write!(
            svg,
            r##"<rect x="0" y="0" width="{w}" height="{h}" fill="#ffffff"/><text x="{LEFT}" y="22" font-size="15" font-weight="bold" fill="#222">{}</text>"##,
            escape(&self.title)
        );
        let points = self
            .series
            .iter()
            .flat_map(|s| s.points.iter())
            .filter(|(_, v)| v.is_finite());
        let (mut t0, mut t1, mut y0, mut y1) =
            (i64::MAX, i64::MIN, f64::INFINITY, f64::NEG_INFINITY);
        for (t, v) in points {
            t0 = t0.min(t.nanos());
            t1 = t1.max(t.nanos());
            y0 = y0.min(*v);
            y1 = y1.max(*v);
        }
        if t0 > t1 {
            let _ = write!(
                svg,
                r##"<text x="{}" y="{}" text-anchor="middle" fill="#666">no data</text></svg>"##,
                w / 2.0,
                h / 2.0
            );
            return svg;
        }
        if self.series.iter().any(|s| s.fill) {
            y0 = y0.min(0.0);
            y1 = y1.max(0.0);
        }
        let ticks = nice_ticks(y0, y1, 5);
        let (y0, y1) = (
            ticks.first().copied().unwrap_or(y0).min(y0),
            ticks.last().copied().unwrap_or(y1).max(y1),
        );
        let span_t = (t1 - t0).max(1) as f64;
        let span_y = if y1 > y0 { y1 - y0 } else { 1.0 };
        let plot_w = w - LEFT - RIGHT;
        let plot_h = h - TOP - BOTTOM;
        let x_of = |t: i64| LEFT + (t - t0) as f64 / span_t * plot_w;
        let y_of = |v: f64| TOP + (y1 - v) / span_y * plot_h;

        // Grid and y labels.
        for &tick in &ticks {
            let y = y_of(tick);
            let _ = write!(
                svg,
                r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#e5e5e5"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#555">{}</text>"##,
                w - RIGHT,
                LEFT - 6.0,
                y + 4.0,
                format_y(tick, self.y_format)
            );
        }
        // X labels: dates at evenly spaced times.
        let labels = 6;
        for i in 0..labels {
            let t = t0 + ((t1 - t0) as f64 * i as f64 / (labels - 1) as f64) as i64;
            let x = x_of(t);
            let anchor = match i {
                0 => "start",
                i if i == labels - 1 => "end",
                _ => "middle",
            };
            let date = Timestamp(t).to_rfc3339();
            let label = if span_t < 3.0 * 86_400e9 {
                date.get(5..16).unwrap_or(&date).replace('T', " ")
            } else {
                date.get(..10).unwrap_or(&date).to_string()
            };
            let _ = write!(
                svg,
                r##"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="#999"/><text x="{x:.1}" y="{:.1}" text-anchor="{anchor}" fill="#555">{label}</text>"##,
                h - BOTTOM,
                h - BOTTOM + 4.0,
                h - BOTTOM + 18.0
            );
        }
        let _ = write!(
            svg,
            r##"<rect x="{LEFT}" y="{TOP}" width="{plot_w:.1}" height="{plot_h:.1}" fill="none" stroke="#999"/>"##
        );
        // Lines (downsampled to at most ~2 points per pixel column).
        let zero_y = y_of(0.0_f64.clamp(y0, y1));
        let max_points = (plot_w as usize).max(2) * 2;
        for s in &self.series {
            let pts: Vec<(f64, f64)> = downsample(&s.points, max_points)
                .into_iter()
                .filter(|(_, v)| v.is_finite())
                .map(|(t, v)| (x_of(t.nanos()), y_of(v)))
                .collect();
            if pts.is_empty() {
                continue;
            }
            let mut d = String::with_capacity(pts.len() * 14);
            for (i, (x, y)) in pts.iter().enumerate() {
                let _ = write!(d, "{}{x:.1},{y:.1}", if i == 0 { "M" } else { "L" });
            }
            if s.fill {
                let (first_x, last_x) = (pts[0].0, pts[pts.len() - 1].0);
                let _ = write!(
                    svg,
                    r#"<path d="{d}L{last_x:.1},{zero_y:.1}L{first_x:.1},{zero_y:.1}Z" fill="{}" fill-opacity="0.25" stroke="none"/>"#,
                    s.color
                );
            }
            let _ = write!(
                svg,
                r#"<path class="series" d="{d}" fill="none" stroke="{}" stroke-width="1.5"/>"#,
                s.color
            );
        }
        // Legend, right-aligned above the plot.
        let legend_width: f64 = self
            .series
            .iter()
            .map(|s| 30.0 + 7.0 * s.name.chars().count() as f64)
            .sum();
        let mut x = w - RIGHT - legend_width;
        for s in &self.series {
            let _ = write!(
                svg,
                r##"<rect x="{x:.1}" y="{:.1}" width="14" height="4" fill="{}"/><text x="{:.1}" y="{:.1}" fill="#333">{}</text>"##,
                TOP - 14.0,
                s.color,
                x + 18.0,
                TOP - 8.0,
                escape(&s.name)
            );
            x += 30.0 + 7.0 * s.name.chars().count() as f64;
        }
        svg.push_str("</svg>");
        svg
    }
}

/// Keeps at most `max` points, taking the minimum and maximum of each bucket so
/// spikes stay visible.
fn downsample(points: &[(Timestamp, f64)], max: usize) -> Vec<(Timestamp, f64)> {
    if points.len() <= max || max < 4 {
        return points.to_vec();
    }
    let buckets = max / 2;
    let per = points.len().div_ceil(buckets);
    let mut out = Vec::with_capacity(max);
    for chunk in points.chunks(per) {
        let lo = chunk
            .iter()
            .enumerate()
            .min_by(|a, b| a.1 .1.total_cmp(&b.1 .1))
            .map(|(i, _)| i)
            .unwrap_or(0);
        let hi = chunk
            .iter()
            .enumerate()
            .max_by(|a, b| a.1 .1.total_cmp(&b.1 .1))
            .map(|(i, _)| i)
            .unwrap_or(0);
        let (a, b) = if lo <= hi { (lo, hi) } else { (hi, lo) };
        out.push(chunk[a]);
        if b != a {
            out.push(chunk[b]);
        }
    }
    out
}

/// Round tick values covering `[lo, hi]` (about `count` of them).
pub fn nice_ticks(lo: f64, hi: f64, count: usize) -> Vec<f64> {
    if !lo.is_finite() || !hi.is_finite() {
        return Vec::new();
    }
    let (lo, hi) = if hi > lo {
        (lo, hi)
    } else {
        let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.01 };
        (lo - pad, hi + pad)
    };
    let raw = (hi - lo) / count.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let start = (lo / step).floor() * step;
    let mut ticks = Vec::new();
    let mut v = start;
    while v <= hi + step * 0.5 && ticks.len() < 50 {
        ticks.push(if v.abs() < step * 1e-9 { 0.0 } else { v });
        if v >= hi {
            break;
        }
        v += step;
    }
    ticks
}

fn format_y(v: f64, format: YFormat) -> String {
    match format {
        YFormat::Percent => {
            let p = v * 100.0;
            if p.fract().abs() < 1e-9 {
                format!("{p:.0}%")
            } else {
                format!("{p:.1}%")
            }
        }
        YFormat::Number => {
            let a = v.abs();
            if a >= 1e6 {
                format!("{:.2}M", v / 1e6)
            } else if a >= 1e4 {
                format!("{:.1}k", v / 1e3)
            } else if a >= 100.0 || v.fract() == 0.0 {
                format!("{v:.0}")
            } else {
                format!("{v:.2}")
            }
        }
    }
}

/// Escapes text for HTML and SVG.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Rasterises an SVG document to PNG bytes (fonts from the system; without any,
/// the lines are drawn and the text is left out).
pub fn svg_to_png(svg: &str) -> Result<Vec<u8>, String> {
    let mut options = resvg::usvg::Options::default();
    options.fontdb_mut().load_system_fonts();
    let tree = resvg::usvg::Tree::from_str(svg, &options).map_err(|e| format!("svg: {e}"))?;
    let size = tree.size().to_int_size();
    let mut pixmap = resvg::tiny_skia::Pixmap::new(size.width(), size.height())
        .ok_or_else(|| format!("cannot allocate a {}x{} image", size.width(), size.height()))?;
    resvg::render(
        &tree,
        resvg::tiny_skia::Transform::default(),
        &mut pixmap.as_mut(),
    );
    pixmap.encode_png().map_err(|e| format!("png: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_cover_the_range_with_round_steps() {
        let t = nice_ticks(9_132.0, 10_871.0, 5);
        assert!(t[0] <= 9_132.0 && *t.last().unwrap() >= 10_871.0, "{t:?}");
        let step = t[1] - t[0];
        assert!([200.0, 250.0, 500.0].contains(&step), "{t:?}");
        assert_eq!(nice_ticks(-0.3, 0.0, 5).last(), Some(&0.0));
        assert!(!nice_ticks(5.0, 5.0, 5).is_empty());
        assert!(nice_ticks(f64::NAN, 1.0, 5).is_empty());
    }

    #[test]
    fn downsampling_keeps_extremes() {
        let pts: Vec<_> = (0..10_000)
            .map(|i| (Timestamp(i), if i == 5_555 { 99.0 } else { (i % 7) as f64 }))
            .collect();
        let d = downsample(&pts, 100);
        assert!(d.len() <= 100);
        assert!(d.iter().any(|p| p.1 == 99.0));
        assert!(d.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn chart_escapes_text_and_draws_each_series() {
        let chart = LineChart {
            title: "a <b> & c".into(),
            width: 600,
            height: 300,
            y_format: YFormat::Number,
            series: vec![
                Series {
                    name: "x".into(),
                    color: "#1f77b4",
                    points: vec![(Timestamp(0), 1.0), (Timestamp(86_400_000_000_000), 2.0)],
                    fill: false,
                },
                Series {
                    name: "y".into(),
                    color: "#ff7f0e",
                    points: vec![
                        (Timestamp(0), 1.5),
                        (Timestamp(86_400_000_000_000), f64::NAN),
                    ],
                    fill: true,
                },
            ],
        };
        let svg = chart.to_svg();
        assert!(svg.contains("a &lt;b&gt; &amp; c"));
        assert_eq!(svg.matches(r#"class="series""#).count(), 2);
        assert!(!svg.contains("NaN"));
        let png = svg_to_png(&svg).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    }

    #[test]
    fn empty_chart_says_no_data() {
        let chart = LineChart {
            title: "t".into(),
            width: 300,
            height: 200,
            y_format: YFormat::Percent,
            series: vec![],
        };
        assert!(chart.to_svg().contains("no data"));
    }
}
