//! `bench.svg`: the ratios of the reference's median to the raw OS's and to CPython's, one row per
//! figure, on a log scale around 1×, with the targets marked (plotters' SVG backend).

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::figures::Against;
use super::report::FigureResult;

/// One row of the chart.
struct Bar {
    label: String,
    vs_os: Option<f64>,
    vs_python: Option<f64>,
    /// The target's bound, and whether it is against the OS (else CPython).
    target: Option<(f64, bool)>,
}

const OS_COLOUR: RGBColor = RGBColor(0x1f, 0x77, 0xb4);
const PYTHON_COLOUR: RGBColor = RGBColor(0xff, 0x7f, 0x0e);
const TARGET_COLOUR: RGBColor = RGBColor(0xd6, 0x27, 0x28);

/// Writes the chart to `path`; returns how many figures it shows.
pub fn write(results: &[FigureResult], path: &Path) -> Result<usize, String> {
    let python = results
        .iter()
        .find_map(|r| r.first_python())
        .unwrap_or("CPython");
    let bars: Vec<Bar> = results
        .iter()
        .filter(|r| r.skipped.is_none())
        .map(|r| Bar {
            label: format!(
                "{} ({} is better)",
                r.figure.label(),
                if r.figure.higher_is_better {
                    "higher"
                } else {
                    "lower"
                }
            ),
            // A paired figure's samples are already ratios to the raw OS primitive.
            vs_os: match r.figure.target {
                Some(t) if t.against == Against::PairedOs => r.stats("reference").map(|s| s.median),
                _ => r.ratio("os"),
            },
            vs_python: r.first_python().and_then(|p| r.ratio(p)),
            target: r
                .figure
                .target
                .map(|t| (t.bound, t.against != Against::Cpython)),
        })
        .filter(|b| b.vs_os.is_some() || b.vs_python.is_some())
        .collect();
    draw(&bars, python, path).map_err(|e| format!("cannot draw {}: {e}", path.display()))?;
    Ok(bars.len())
}

fn draw(bars: &[Bar], python: &str, path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let rows = bars.len().max(1);
    // Below the rows, a band for the legend.
    let legend = 2.0;
    let height = 130 + (40.0 * (rows as f64 + legend)) as u32;
    let root = SVGBackend::new(path, (1100, height)).into_drawing_area();
    root.fill(&WHITE)?;

    let values = bars
        .iter()
        .flat_map(|b| [b.vs_os, b.vs_python, b.target.map(|t| t.0)])
        .flatten()
        .chain([1.0]);
    let (lo, hi) = values.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (lo, hi) = ((lo / 2.0).max(1e-4), (hi * 2.0).min(1e4));

    let mut chart = ChartBuilder::on(&root)
        .caption(
            "multiprocessing reference: median ÷ the raw OS's and CPython's median",
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(330)
        .build_cartesian_2d((lo..hi).log_scale(), -legend..rows as f64)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_desc("reference ÷ subject (log scale; 1× = the same)")
        .x_label_formatter(&|x| format!("{x}×"))
        .draw()?;

    // Row i, from the top: [i, i + 1) counted downwards; the OS bar above the Python bar.
    let top = |i: usize| (rows - i) as f64;
    let bar = |from: f64, to: f64, value: f64| [(1.0, from), (value, to)];
    chart
        .draw_series(bars.iter().enumerate().filter_map(|(i, b)| {
            let v = b.vs_os?;
            Some(Rectangle::new(
                bar(top(i) - 0.15, top(i) - 0.48, v),
                OS_COLOUR.filled(),
            ))
        }))?
        .label("reference ÷ os (the raw primitive)")
        .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], OS_COLOUR.filled()));
    chart
        .draw_series(bars.iter().enumerate().filter_map(|(i, b)| {
            let v = b.vs_python?;
            Some(Rectangle::new(
                bar(top(i) - 0.52, top(i) - 0.85, v),
                PYTHON_COLOUR.filled(),
            ))
        }))?
        .label(format!("reference ÷ {python}"))
        .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], PYTHON_COLOUR.filled()));
    chart
        .draw_series(bars.iter().enumerate().filter_map(|(i, b)| {
            let (bound, os) = b.target?;
            let (from, to) = if os {
                (top(i) - 0.1, top(i) - 0.53)
            } else {
                (top(i) - 0.47, top(i) - 0.9)
            };
            Some(PathElement::new(
                vec![(bound, from), (bound, to)],
                TARGET_COLOUR.stroke_width(3),
            ))
        }))?
        .label("target (on the bar it concerns)")
        .legend(|(x, y)| {
            PathElement::new(
                vec![(x + 7, y - 7), (x + 7, y + 7)],
                TARGET_COLOUR.stroke_width(3),
            )
        });
    chart.draw_series(std::iter::once(PathElement::new(
        vec![(1.0, -legend), (1.0, rows as f64)],
        BLACK.stroke_width(1),
    )))?;

    // The ratios as text at the end of the bars, and the figures' names left of the plot.
    let small = TextStyle::from(("sans-serif", 12));
    for (i, b) in bars.iter().enumerate() {
        for (value, middle) in [(b.vs_os, top(i) - 0.31), (b.vs_python, top(i) - 0.68)] {
            if let Some(v) = value {
                let (x, y) = chart.backend_coord(&(v, middle));
                let anchor = if v >= 1.0 { HPos::Left } else { HPos::Right };
                let dx = if v >= 1.0 { 4 } else { -4 };
                root.draw(&Text::new(
                    format!("{}×", ratio_text(v)),
                    (x + dx, y),
                    small.pos(Pos::new(anchor, VPos::Center)),
                ))?;
            }
        }
        let (x, y) = chart.backend_coord(&(lo, top(i) - 0.5));
        root.draw(&Text::new(
            b.label.clone(),
            (x - 8, y),
            TextStyle::from(("sans-serif", 13)).pos(Pos::new(HPos::Right, VPos::Center)),
        ))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

fn ratio_text(v: f64) -> String {
    if v >= 10.0 {
        format!("{v:.0}")
    } else if v >= 0.1 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}
