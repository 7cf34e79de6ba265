//! The report's charts, drawn by plotters into SVG (text is left to the viewer's fonts, so
//! nothing here needs a font or a system library).

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use qtls::Error;

use super::model::{Messages, Report};

const SIZE: (u32, u32) = (960, 520);
const FONT: &str = "sans-serif";

const DESIGN_CLASSICAL: RGBColor = RGBColor(189, 189, 189);
const CLASSICAL: RGBColor = RGBColor(99, 99, 99);
const DESIGN_HYBRID: RGBColor = RGBColor(158, 202, 225);
const HYBRID: RGBColor = RGBColor(33, 113, 181);
const PQC: RGBColor = RGBColor(230, 85, 13);
const LINES: [RGBColor; 4] = [CLASSICAL, HYBRID, PQC, RGBColor(49, 163, 84)];

fn chart_error(path: &Path) -> impl Fn(&dyn std::fmt::Debug) -> Error + '_ {
    move |e| Error::Config(format!("chart {}: {e:?}", path.display()))
}

/// The charts of `report` in `dir`; returns their file names.
pub(super) fn draw(report: &Report, dir: &Path) -> Result<Vec<String>, Error> {
    let mut written = Vec::new();
    let name = "message-sizes.svg";
    message_sizes(report, &dir.join(name))?;
    written.push(name.to_string());
    if !report.scenarios.is_empty() {
        let name = "time-to-first-byte.svg";
        time_to_first_byte(report, &dir.join(name))?;
        written.push(name.to_string());
    }
    if report.configurations.iter().any(|c| c.qtls.cpu.is_some()) {
        let name = "server-cpu.svg";
        server_cpu(report, &dir.join(name))?;
        written.push(name.to_string());
    }
    Ok(written)
}

fn field(messages: &Messages, name: &str) -> Option<usize> {
    match name {
        "client_hello" => messages.client_hello,
        "server_hello" => messages.server_hello,
        "certificate" => messages.certificate,
        "certificate_verify" => messages.certificate_verify,
        "server_key_share" => messages.server_key_share,
        "client_key_share" => messages.client_key_share,
        "handshake_total" => messages.handshake_total,
        _ => None,
    }
}

/// Bars side by side per category; `series` are (name, colour, one value per category).
fn grouped_bars(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    path: &Path,
    caption: &str,
    y_desc: &str,
    categories: &[&str],
    series: &[(String, RGBColor, Vec<Option<f64>>)],
    log: bool,
) -> Result<(), Error> {
    let fail = chart_error(path);
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let n = categories.len() as f64;
    let top = series
        .iter()
        .flat_map(|s| s.2.iter().flatten())
        .fold(1.0_f64, |a, b| a.max(*b));
    let width = 0.8 / series.len().max(1) as f64;
    let label = |x: &f64| {
        let centre = x - x.floor();
        if (centre - 0.5).abs() < 1e-6 {
            categories
                .get(x.floor() as usize)
                .map(|c| c.to_string())
                .unwrap_or_default()
        } else {
            String::new()
        }
    };
    let mut builder = ChartBuilder::on(root);
    builder
        .caption(caption, (FONT, 22))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(80);
    macro_rules! draw_bars {
        ($chart:expr, $base:expr) => {{
            let mut chart = $chart;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(categories.len() * 2 + 1)
                .x_label_formatter(&label)
                .y_label_formatter(&|v| super::markdown::thousands(v.round() as usize))
                .y_desc(y_desc)
                .label_style((FONT, 14))
                .draw()
                .map_err(|e| fail(&e))?;
            for (index, (name, colour, values)) in series.iter().enumerate() {
                let colour = *colour;
                let bars = values.iter().enumerate().filter_map(|(i, v)| {
                    let x0 = i as f64 + 0.1 + index as f64 * width;
                    v.map(|v| Rectangle::new([(x0, $base), (x0 + width * 0.9, v)], colour.filled()))
                });
                chart
                    .draw_series(bars)
                    .map_err(|e| fail(&e))?
                    .label(name.as_str())
                    .legend(move |(x, y)| {
                        Rectangle::new([(x, y - 6), (x + 14, y + 6)], colour.filled())
                    });
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .background_style(WHITE.mix(0.9))
                .border_style(BLACK)
                .label_font((FONT, 14))
                .draw()
                .map_err(|e| fail(&e))?;
        }};
    }
    if log {
        let chart = builder
            .build_cartesian_2d(0.0..n, (1.0..top * 4.0).log_scale())
            .map_err(|e| fail(&e))?;
        draw_bars!(chart, 1.0);
    } else {
        let chart = builder
            .build_cartesian_2d(0.0..n, 0.0..top * 1.25)
            .map_err(|e| fail(&e))?;
        draw_bars!(chart, 0.0);
    }
    root.present().map_err(|e| fail(&e))
}

fn message_sizes(report: &Report, path: &Path) -> Result<(), Error> {
    let rows: Vec<_> = report.design.message_sizes.iter().collect();
    let categories: Vec<&str> = rows.iter().map(|r| r.label).collect();
    let measured = |name: &str| {
        report
            .configurations
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.qtls.messages.clone())
    };
    let mut series = vec![(
        "design: classical".to_string(),
        DESIGN_CLASSICAL,
        rows.iter().map(|r| Some(r.classical)).collect(),
    )];
    if let Some(m) = measured("classical") {
        series.push((
            "measured: X25519 + ECDSA P-256".to_string(),
            CLASSICAL,
            rows.iter()
                .map(|r| field(&m, r.message).map(|v| v as f64))
                .collect(),
        ));
    }
    series.push((
        "design: hybrid".to_string(),
        DESIGN_HYBRID,
        rows.iter().map(|r| Some(r.hybrid)).collect(),
    ));
    for (name, label, colour) in [
        ("hybrid", "measured: SecP384r1MLKEM1024 + composite", HYBRID),
        ("pqc-only", "measured: MLKEM1024 + ML-DSA-87", PQC),
    ] {
        if let Some(m) = measured(name) {
            series.push((
                label.to_string(),
                colour,
                rows.iter()
                    .map(|r| field(&m, r.message).map(|v| v as f64))
                    .collect(),
            ));
        }
    }
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    grouped_bars(
        &root,
        path,
        "Handshake message sizes: the design's claims and qtls server (bytes, log scale)",
        "bytes",
        &categories,
        &series,
        true,
    )
}

fn server_cpu(report: &Report, path: &Path) -> Result<(), Error> {
    let categories: Vec<&str> = report.configurations.iter().map(|c| c.label).collect();
    let us =
        |m: Option<&super::model::Measured>| m.and_then(|m| m.cpu.as_ref()).map(|c| c.microseconds);
    let mut series = vec![(
        "qtls server".to_string(),
        HYBRID,
        report
            .configurations
            .iter()
            .map(|c| us(Some(&c.qtls)))
            .collect::<Vec<_>>(),
    )];
    if report.configurations.iter().any(|c| c.openssl.is_some()) {
        series.push((
            "openssl s_server".to_string(),
            PQC,
            report
                .configurations
                .iter()
                .map(|c| us(c.openssl.as_ref()))
                .collect(),
        ));
    }
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    grouped_bars(
        &root,
        path,
        "Server CPU time per full handshake (µs)",
        "µs per handshake",
        &categories,
        &series,
        false,
    )
}

fn time_to_first_byte(report: &Report, path: &Path) -> Result<(), Error> {
    let fail = chart_error(path);
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let max_rtt = report
        .scenarios
        .iter()
        .map(|s| s.rtt_ms)
        .fold(1.0_f64, f64::max);
    let max_time = report
        .scenarios
        .iter()
        .map(|s| s.time_to_first_byte_ms.median)
        .filter(|t| t.is_finite())
        .fold(1.0_f64, f64::max);
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Time to the first application byte (median), hybrid configuration",
            (FONT, 22),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..max_rtt * 1.05, 0.0..max_time * 1.15)
        .map_err(|e| fail(&e))?;
    chart
        .configure_mesh()
        .x_desc("added round-trip time (ms)")
        .y_desc("ms")
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| format!("{v:.0}"))
        .label_style((FONT, 14))
        .draw()
        .map_err(|e| fail(&e))?;
    let mut names: Vec<(&str, &str)> = Vec::new();
    for s in &report.scenarios {
        if !names.iter().any(|(n, _)| *n == s.name) {
            names.push((s.name, s.label));
        }
    }
    for (index, (name, label)) in names.iter().enumerate() {
        let colour = LINES[index % LINES.len()];
        let points: Vec<(f64, f64)> = report
            .scenarios
            .iter()
            .filter(|s| s.name == *name && s.time_to_first_byte_ms.median.is_finite())
            .map(|s| (s.rtt_ms, s.time_to_first_byte_ms.median))
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))
            .map_err(|e| fail(&e))?
            .label(*label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], colour.stroke_width(2))
            });
        chart
            .draw_series(PointSeries::of_element(
                points,
                4,
                colour.filled(),
                &|c, s, st| Circle::new(c, s, st),
            ))
            .map_err(|e| fail(&e))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font((FONT, 14))
        .draw()
        .map_err(|e| fail(&e))?;
    root.present().map_err(|e| fail(&e))
}
