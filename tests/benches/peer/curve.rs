//! The curve of `docs/benchmarks.md`: first-upload changes/s and a day offline's time to
//! convergence against the number of devices syncing at once, ours and the peer's, drawn
//! into a PNG with plotters (bitmap backend). A device count where the peer failed or was not
//! run is drawn as a cross on the axis with the reason in the legend, never as a value.
//!
//! Text needs a TrueType font: plotters' `ab_glyph` renderer, pure Rust, reads one file (no
//! fontconfig): `DOORSTEP_PLOT_FONT`, or DejaVu Sans / Liberation Sans where Debian's
//! `fonts-dejavu-core` / `fonts-liberation` put them. Without one, no PNG is drawn and the
//! reason is printed (the figures are in `target/bench/peer.json` either way).

use std::path::Path;

use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

/// One device count's figures: first-upload changes/s and a day offline's seconds.
pub struct Point {
    pub devices: usize,
    pub ours: (f64, f64),
    /// The peer's figures, or why there are none.
    pub peer: Result<(f64, f64), String>,
}

const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
];

fn register_a_font() -> Result<(), String> {
    let chosen = std::env::var("DOORSTEP_PLOT_FONT").ok();
    let candidates: Vec<&str> = match &chosen {
        Some(p) => vec![p.as_str()],
        None => FONT_PATHS.to_vec(),
    };
    let Some(bytes) = candidates.iter().find_map(|p| std::fs::read(p).ok()) else {
        return Err(format!(
            "no TrueType font found (tried {candidates:?}; set DOORSTEP_PLOT_FONT or install \
             fonts-dejavu-core)"
        ));
    };
    // plotters keeps fonts for the life of the process.
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    register_font("sans-serif", FontStyle::Normal, bytes)
        .map_err(|_| "the font file is not a TrueType font".to_string())
}

type Fail = Box<dyn std::error::Error>;

/// Draws `points` (sorted by devices) into a PNG at `path`, under `title` and `note`.
pub fn draw(path: &Path, points: &[Point], title: &str, note: &str) -> Result<(), String> {
    register_a_font()?;
    draw_with_font(path, points, title, note).map_err(|e| e.to_string())
}

/// A tick label: two significant digits below 10, none above.
fn tick(v: &f64) -> String {
    match v.abs() {
        a if a >= 10.0 => format!("{v:.0}"),
        a if a >= 1.0 => format!("{v:.1}"),
        _ => format!("{v:.2}"),
    }
}

fn draw_with_font(path: &Path, points: &[Point], title: &str, note: &str) -> Result<(), Fail> {
    let root = BitMapBackend::new(path, (1280, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let (head, body) = root.split_vertically(70);
    head.draw_text(
        title,
        &("sans-serif", 22).into_font().color(&BLACK),
        (20, 12),
    )?;
    head.draw_text(
        note,
        &("sans-serif", 15).into_font().color(&RGBColor(90, 90, 90)),
        (20, 44),
    )?;
    let (left, right) = body.split_horizontally(640);
    let keys: Vec<f64> = points.iter().map(|p| p.devices as f64).collect();
    let x_max = keys.iter().cloned().fold(1.0, f64::max) * 1.6;
    let ours_blue = RGBColor(31, 119, 180);
    let peer_orange = RGBColor(230, 120, 20);

    for (area, title, ydesc, pick, log_y) in [
        (
            &left,
            "First upload: changes/s (higher is better)",
            "changes/s",
            0usize,
            false,
        ),
        (
            &right,
            "A day offline: seconds to convergence (lower is better)",
            "seconds (log scale)",
            1,
            true,
        ),
    ] {
        let value = |v: (f64, f64)| if pick == 0 { v.0 } else { v.1 };
        let all: Vec<f64> = points
            .iter()
            .flat_map(|p| {
                let mut v = vec![value(p.ours)];
                if let Ok(peer) = &p.peer {
                    v.push(value(*peer));
                }
                v
            })
            .collect();
        // Head room above the highest point for the legend.
        let top = all.iter().cloned().fold(0.0, f64::max);
        let y_max = if log_y { top * 6.0 } else { top * 1.5 };
        let y_min = all.iter().cloned().fold(f64::INFINITY, f64::min) / 2.0;
        let x_range = (0.7f64..x_max).log_scale().with_key_points(keys.clone());
        let mut builder = ChartBuilder::on(area);
        builder
            .caption(title, ("sans-serif", 17))
            .margin(18)
            .x_label_area_size(45)
            .y_label_area_size(70);
        // The two panels differ in their y axis only; each is drawn by the same steps.
        macro_rules! panel {
            ($chart:expr, $bottom:expr) => {{
                let mut chart = $chart;
                chart
                    .configure_mesh()
                    .x_desc("devices syncing at once")
                    .y_desc(ydesc)
                    .x_label_formatter(&|x| format!("{x:.0}"))
                    .y_label_formatter(&tick)
                    .y_labels(8)
                    .light_line_style(RGBColor(245, 245, 245))
                    .label_style(("sans-serif", 14))
                    .axis_desc_style(("sans-serif", 15))
                    .draw()?;
                let ours: Vec<(f64, f64)> = points
                    .iter()
                    .map(|p| (p.devices as f64, value(p.ours)))
                    .collect();
                chart
                    .draw_series(LineSeries::new(ours.clone(), ours_blue.stroke_width(3)))?
                    .label("doorstep serve")
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 24, y)], ours_blue.stroke_width(3))
                    });
                chart.draw_series(ours.iter().map(|p| Circle::new(*p, 5, ours_blue.filled())))?;
                // The peer's line joins only neighbouring device counts that both finished.
                let mut run: Vec<(f64, f64)> = vec![];
                for p in points {
                    match &p.peer {
                        Ok(v) => run.push((p.devices as f64, value(*v))),
                        Err(_) => {
                            if run.len() > 1 {
                                chart.draw_series(LineSeries::new(
                                    run.clone(),
                                    peer_orange.stroke_width(3),
                                ))?;
                            }
                            run.clear();
                        }
                    }
                }
                if run.len() > 1 {
                    chart.draw_series(LineSeries::new(run.clone(), peer_orange.stroke_width(3)))?;
                }
                let done: Vec<(f64, f64)> = points
                    .iter()
                    .filter_map(|p| p.peer.as_ref().ok().map(|v| (p.devices as f64, value(*v))))
                    .collect();
                if !done.is_empty() {
                    chart
                        .draw_series(
                            done.iter()
                                .map(|p| Circle::new(*p, 5, peer_orange.filled())),
                        )?
                        .label("automerge-repo (Node)")
                        .legend(move |(x, y)| {
                            PathElement::new(vec![(x, y), (x + 24, y)], peer_orange.stroke_width(3))
                        });
                }
                // Missing: a cross on the x axis, and the reason in the legend.
                for p in points {
                    if let Err(why) = &p.peer {
                        let at = (p.devices as f64, $bottom);
                        let label = format!("automerge-repo, {} devices: {why}", p.devices);
                        chart
                            .draw_series(std::iter::once(Cross::new(
                                at,
                                8,
                                peer_orange.stroke_width(3),
                            )))?
                            .label(label)
                            .legend(move |(x, y)| {
                                Cross::new((x + 12, y), 6, peer_orange.stroke_width(3))
                            });
                    }
                }
                chart
                    .configure_series_labels()
                    .position(SeriesLabelPosition::UpperLeft)
                    .label_font(("sans-serif", 13))
                    .background_style(WHITE.mix(0.85))
                    .border_style(BLACK)
                    .draw()?;
            }};
        }
        if log_y {
            let bottom = y_min.max(1e-3);
            panel!(
                builder
                    .build_cartesian_2d(x_range, (bottom..y_max.max(bottom * 10.0)).log_scale())?,
                bottom * 1.05
            );
        } else {
            panel!(
                builder.build_cartesian_2d(x_range, 0f64..y_max.max(1.0))?,
                0.0
            );
        }
    }
    root.present()?;
    Ok(())
}
