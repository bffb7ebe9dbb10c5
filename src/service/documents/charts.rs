//! Charts of the memo drawn by the server as PNG images (plotters' bitmap backend), with
//! DejaVu Sans compiled into the binary for the Cyrillic labels: nothing is read from the
//! system's fonts, so the slim container image draws the same pictures.

use std::sync::OnceLock;

use chrono::NaiveDate;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::decimal;
use crate::error::{AppError, AppResult};

/// The family name the embedded font is registered under.
const FAMILY: &str = "DejaVu Sans";
/// Width of every chart in pixels (drawn 160 mm wide in a document: about 250 dpi).
pub const WIDTH: u32 = 1600;
/// Series colours: distinguishable in colour and in grey print.
const PALETTE: [RGBColor; 7] = [
    RGBColor(31, 78, 121),
    RGBColor(237, 125, 49),
    RGBColor(84, 130, 53),
    RGBColor(192, 0, 0),
    RGBColor(112, 48, 160),
    RGBColor(127, 96, 0),
    RGBColor(118, 118, 118),
];
const AXIS: RGBColor = RGBColor(64, 64, 64);
const GRID: RGBColor = RGBColor(217, 217, 217);
const LIGHT: RGBColor = RGBColor(166, 166, 166);

fn font() -> AppResult<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED
        .get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, dejavu::sans::regular()).is_ok());
    if ok { Ok(()) } else { Err(AppError::internal("the chart font cannot be loaded")) }
}

fn text(size: u32) -> TextStyle<'static> {
    (FAMILY, f64::from(size)).into_font().color(&AXIS)
}

fn chart_error(e: impl std::fmt::Display) -> AppError {
    AppError::internal(format!("chart: {e}"))
}

/// An RGB buffer as a PNG file.
fn encode(buffer: &[u8], width: u32, height: u32) -> AppResult<Vec<u8>> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Balanced);
    let mut writer = encoder.write_header().map_err(chart_error)?;
    writer.write_image_data(buffer).map_err(chart_error)?;
    writer.finish().map_err(chart_error)?;
    Ok(out)
}

/// Draws the legend (a colour key and a label per entry) in a strip, wrapping to new lines.
fn legend(area: &DrawingArea<BitMapBackend<'_>, Shift>, entries: &[(String, RGBColor)]) -> AppResult<()> {
    let style = text(30);
    let (width, _) = area.dim_in_pixel();
    let (mut x, mut y) = (20_i32, 24_i32);
    for (label, color) in entries {
        let (w, _) = area.estimate_text_size(label, &style).map_err(chart_error)?;
        let needed = 56 + w as i32 + 40;
        if x > 20 && x + needed > width as i32 - 20 {
            x = 20;
            y += 48;
        }
        area.draw(&Rectangle::new([(x, y - 8), (x + 44, y + 8)], color.filled())).map_err(chart_error)?;
        area.draw(&Text::new(label.clone(), (x + 56, y), style.pos(Pos::new(HPos::Left, VPos::Center))))
            .map_err(chart_error)?;
        x += needed;
    }
    Ok(())
}

/// The smallest "round" number (1, 2 or 5 times a power of ten) at least `x`, for an axis end.
fn axis_end(x: f64) -> f64 {
    let x = x.max(1.0);
    let magnitude = 10f64.powf(x.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * magnitude).find(|v| *v >= x).unwrap_or(10.0 * magnitude)
}

/// One line of a trend chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub label: String,
    pub counts: Vec<i64>,
}

/// Appeals per week, one line per series, weeks labelled by their Monday («16.11»).
///
/// # Errors
/// `INTERNAL` when drawing or encoding fails.
pub fn weekly_lines(weeks: &[NaiveDate], lines: &[Line]) -> AppResult<Vec<u8>> {
    font()?;
    let (width, height) = (WIDTH, 800);
    let mut buffer = vec![0u8; (width * height * 3) as usize];
    let n = weeks.len().max(1) as i32;
    let top = lines.iter().flat_map(|l| l.counts.iter().copied()).max().unwrap_or(0);
    let y_end = axis_end(top as f64 * 1.1) as i64;
    {
        let root = BitMapBackend::with_buffer(&mut buffer, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(chart_error)?;
        let legend_rows = 1 + lines.len() as u32 / 4;
        let (plot, key) = root.split_vertically(height - 24 - 48 * legend_rows);
        let mut chart = ChartBuilder::on(&plot)
            .margin_top(30)
            .margin_right(50)
            .margin_left(20)
            .x_label_area_size(70)
            .y_label_area_size(110)
            .build_cartesian_2d((0..n).into_segmented(), 0..y_end)
            .map_err(chart_error)?;
        let label = |v: &SegmentValue<i32>| match v {
            SegmentValue::CenterOf(i) => {
                weeks.get(*i as usize).map(|d| d.format("%d.%m").to_string()).unwrap_or_default()
            }
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(WHITE)
            .bold_line_style(GRID)
            .axis_style(AXIS.stroke_width(2))
            .x_labels(weeks.len())
            .x_label_formatter(&label)
            .y_labels(6)
            .y_label_formatter(&|v| v.to_string())
            .y_desc("Обращений за неделю")
            .label_style(text(31))
            .axis_desc_style(text(31))
            .draw()
            .map_err(chart_error)?;
        for (line, color) in lines.iter().zip(PALETTE.iter().cycle()) {
            let points: Vec<(SegmentValue<i32>, i64)> =
                line.counts.iter().enumerate().map(|(i, c)| (SegmentValue::CenterOf(i as i32), *c)).collect();
            chart.draw_series(LineSeries::new(points.clone(), color.stroke_width(5))).map_err(chart_error)?;
            chart.draw_series(points.into_iter().map(|p| Circle::new(p, 8, color.filled()))).map_err(chart_error)?;
        }
        let entries: Vec<(String, RGBColor)> = lines
            .iter()
            .zip(PALETTE.iter().cycle())
            .map(|(l, c)| (format!("{} ({})", l.label, l.counts.iter().sum::<i64>()), *c))
            .collect();
        legend(&key, &entries)?;
        root.present().map_err(chart_error)?;
    }
    encode(&buffer, width, height)
}

/// One topic of a growth chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub label: String,
    pub count: i64,
    pub baseline: f64,
    pub significant: bool,
}

/// Splits a label into at most two lines of about `width` characters, with an ellipsis when
/// even two are not enough.
fn two_lines(label: &str, width: usize) -> Vec<String> {
    let chars: Vec<char> = label.chars().collect();
    if chars.len() <= width {
        return vec![label.to_string()];
    }
    let cut = chars[..=width].iter().rposition(|c| *c == ' ').filter(|i| *i > 0).unwrap_or(width);
    let first: String = chars[..cut].iter().collect();
    let rest: Vec<char> = chars[cut..].iter().copied().skip_while(|c| *c == ' ').collect();
    let second = if rest.len() > width {
        format!("{}…", rest[..width - 1].iter().collect::<String>().trim_end())
    } else {
        rest.iter().collect()
    };
    vec![first, second]
}

/// This week's appeals per topic against the mean of the three weeks before, as horizontal
/// bars, largest rise at the top; a significant rise is drawn in red.
///
/// # Errors
/// `INTERNAL` when drawing or encoding fails.
pub fn growth_bars(bars: &[Bar]) -> AppResult<Vec<u8>> {
    font()?;
    let n = bars.len().max(1);
    let width = WIDTH;
    let height = 190 + 130 * n as u32;
    let mut buffer = vec![0u8; (width * height * 3) as usize];
    let top = bars.iter().map(|b| (b.count as f64).max(b.baseline)).fold(0.0, f64::max);
    let x_end = axis_end(top * 1.15);
    {
        let root = BitMapBackend::with_buffer(&mut buffer, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(chart_error)?;
        let (plot, key) = root.split_vertically(height - 80);
        let label_width = 500;
        let mut chart = ChartBuilder::on(&plot)
            .margin_top(20)
            .margin_right(60)
            .x_label_area_size(60)
            .y_label_area_size(label_width)
            .build_cartesian_2d(0f64..x_end, 0f64..n as f64)
            .map_err(chart_error)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .light_line_style(WHITE)
            .bold_line_style(GRID)
            .axis_style(AXIS.stroke_width(2))
            .x_labels(6)
            .x_label_formatter(&|v| decimal(*v, usize::from(v.fract() != 0.0)))
            .y_labels(0)
            .label_style(text(31))
            .draw()
            .map_err(chart_error)?;
        let value_style = text(30).pos(Pos::new(HPos::Left, VPos::Center));
        for (i, b) in bars.iter().enumerate() {
            let y = (n - 1 - i) as f64;
            let color = if b.significant { PALETTE[3] } else { PALETTE[0] };
            let count = b.count as f64;
            chart
                .draw_series([
                    Rectangle::new([(0.0, y + 0.52), (count, y + 0.86)], color.filled()),
                    Rectangle::new([(0.0, y + 0.14), (b.baseline, y + 0.48)], LIGHT.filled()),
                ])
                .map_err(chart_error)?;
            for (value, at, shown) in
                [(count, y + 0.69, b.count.to_string()), (b.baseline, y + 0.31, decimal(b.baseline, 1))]
            {
                let (px, py) = chart.backend_coord(&(value, at));
                root.draw(&Text::new(shown, (px + 10, py), value_style.clone())).map_err(chart_error)?;
            }
            let (_, py) = chart.backend_coord(&(0.0, y + 0.5));
            let lines = two_lines(&b.label, 24);
            let step = 34;
            let first = py - step * (lines.len() as i32 - 1) / 2;
            for (k, line) in lines.into_iter().enumerate() {
                let style = text(30).pos(Pos::new(HPos::Right, VPos::Center));
                root.draw(&Text::new(line, (label_width - 16, first + step * k as i32), style)).map_err(chart_error)?;
            }
        }
        let entries = [
            ("За неделю".to_string(), PALETTE[0]),
            ("За неделю, значимый рост".to_string(), PALETTE[3]),
            ("В среднем за 3 предыдущие недели".to_string(), LIGHT),
        ];
        legend(&key, &entries)?;
        root.present().map_err(chart_error)?;
    }
    encode(&buffer, width, height)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::float_cmp)]
mod tests {
    use super::*;

    fn decoded(png: &[u8]) -> (u32, u32, Vec<u8>) {
        let decoder = png::Decoder::new(std::io::Cursor::new(png));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        (info.width, info.height, buf)
    }

    #[test]
    fn axis_ends_are_round_numbers() {
        assert_eq!(axis_end(0.0), 1.0);
        assert_eq!(axis_end(6.9), 10.0);
        assert_eq!(axis_end(11.0), 20.0);
        assert_eq!(axis_end(230.0), 250.0);
        assert_eq!(axis_end(4100.0), 5000.0);
    }

    #[test]
    fn long_labels_wrap_to_two_lines_and_are_cut_past_that() {
        assert_eq!(two_lines("Дороги", 24), ["Дороги"]);
        assert_eq!(two_lines("Благоустройство и озеленение дворов", 24), ["Благоустройство и", "озеленение дворов"]);
        let cut = two_lines(&"очень ".repeat(20), 24);
        assert_eq!(cut.len(), 2);
        assert!(cut[1].ends_with('…') && cut[1].chars().count() <= 24, "{cut:?}");
    }

    #[test]
    fn charts_are_pngs_with_lines_bars_and_text() {
        let first = NaiveDate::from_ymd_opt(2026, 10, 5).unwrap();
        let weeks: Vec<NaiveDate> = (0..8).map(|i| first + chrono::Duration::weeks(i)).collect();
        let lines = vec![
            Line { label: "ПОС".into(), counts: vec![3, 5, 8, 6, 9, 12, 10, 14] },
            Line { label: "Госпаблики".into(), counts: vec![1, 0, 2, 1, 3, 2, 4, 3] },
        ];
        let png = weekly_lines(&weeks, &lines).unwrap();
        let (w, h, pixels) = decoded(&png);
        assert_eq!((w, h), (WIDTH, 800));
        let has = |rgb: RGBColor| pixels.chunks(3).any(|p| p == [rgb.0, rgb.1, rgb.2]);
        assert!(has(PALETTE[0]) && has(PALETTE[1]), "both lines are drawn");
        let bars = vec![
            Bar { label: "Уборка снега и наледи".into(), count: 6, baseline: 1.0, significant: true },
            Bar { label: "Дороги".into(), count: 3, baseline: 2.5, significant: false },
        ];
        let png = growth_bars(&bars).unwrap();
        let (_, _, pixels) = decoded(&png);
        let has = |rgb: RGBColor| pixels.chunks(3).any(|p| p == [rgb.0, rgb.1, rgb.2]);
        assert!(has(PALETTE[3]) && has(PALETTE[0]) && has(LIGHT), "significant, ordinary and baseline bars");
    }

    #[test]
    fn the_embedded_font_draws_cyrillic_glyphs() {
        // Text in a font without a glyph would be drawn as nothing (or .notdef boxes that are
        // all alike); the same width for different Cyrillic words shows real glyphs.
        font().unwrap();
        let mut buffer = vec![0u8; 400 * 60 * 3];
        {
            let root = BitMapBackend::with_buffer(&mut buffer, (400, 60)).into_drawing_area();
            root.fill(&WHITE).unwrap();
            let style = text(30);
            let (wide, _) = root.estimate_text_size("Шщ", &style).unwrap();
            let (narrow, _) = root.estimate_text_size("гл", &style).unwrap();
            assert!(wide > narrow, "Cyrillic glyphs have their own widths: {wide} vs {narrow}");
            root.draw(&Text::new("Обращения", (10, 30), style)).unwrap();
            root.present().unwrap();
        }
        let ink = buffer.chunks(3).filter(|p| p[0] < 128).count();
        assert!(ink > 300, "the word is drawn: {ink} dark pixels");
    }
}
