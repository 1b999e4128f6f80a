//! Charts drawn as inline SVG: no script, no font file, nothing fetched; the browser lays out
//! the (Chinese) text with the reader's own fonts. Each bar and point carries a `<title>` so
//! hovering shows its exact value.

use super::doc::{Chart, ChartKind, group_digits};
use super::i18n::Lang;
use std::fmt::Write;

const W: f64 = 760.0;
const H: f64 = 340.0;
const LEFT: f64 = 84.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 44.0;
/// ECharts' default palette, which the fund analysts' dashboards use.
pub const PALETTE: [&str; 9] = ["#5470c6", "#91cc75", "#fac858", "#ee6666", "#73c0de", "#3ba272", "#fc8452", "#9a60b4", "#ea7ccc"];

pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            _ => o.push(ch),
        }
    }
    o
}

/// A "nice" tick step (1, 2 or 5 × 10^k) giving about five ticks over `span`.
fn nice_step(span: f64) -> f64 {
    if span <= 0.0 || !span.is_finite() {
        return 1.0;
    }
    let raw = span / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    mag * if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    }
}

/// Axis numbers: money in 万 (zh) or k / M (en) once large; counts grouped.
fn axis_label(v: f64, money: bool, percent: bool, lang: Lang) -> String {
    if percent {
        return format!("{:.0}%", v * 100.0);
    }
    let a = v.abs();
    if money && a >= 10_000.0 {
        return match lang {
            Lang::Zh => format!("{}万", trim(v / 10_000.0)),
            Lang::En if a >= 1_000_000.0 => format!("{}M", trim(v / 1_000_000.0)),
            Lang::En => format!("{}k", trim(v / 1_000.0)),
        };
    }
    if v.fract() == 0.0 { group_digits(&format!("{v:.0}")) } else { trim(v) }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Value in a tooltip.
fn exact(v: f64, money: bool) -> String {
    if money { group_digits(&format!("{v:.2}")) } else { trim(v) }
}

struct Axis {
    lo: f64,
    hi: f64,
    step: f64,
}

impl Axis {
    fn new(lo: f64, hi: f64) -> Axis {
        let (lo, hi) = (lo.min(0.0), hi.max(0.0));
        let step = nice_step(hi - lo);
        let lo = (lo / step).floor() * step;
        let hi = ((hi / step).ceil() * step).max(lo + step);
        Axis { lo, hi, step }
    }
    fn ticks(&self) -> Vec<f64> {
        let n = ((self.hi - self.lo) / self.step).round() as i64;
        (0..=n).map(|i| self.lo + i as f64 * self.step).collect()
    }
}

fn legend(s: &mut String, names: &[&str]) {
    let mut x = LEFT;
    for (i, n) in names.iter().enumerate() {
        let _ = write!(
            s,
            r#"<rect x="{x:.1}" y="8" width="12" height="12" rx="2" fill="{}"/><text x="{:.1}" y="18" font-size="12">{}</text>"#,
            PALETTE[i % PALETTE.len()],
            x + 16.0,
            escape(n)
        );
        x += 28.0 + 7.5 * n.chars().map(|c| if c.is_ascii() { 1.0 } else { 1.8 }).sum::<f64>();
    }
}

/// The chart as an `<svg>` element.
pub fn render(c: &Chart, lang: Lang) -> String {
    let mut s = String::new();
    let height = match &c.kind {
        ChartKind::Bars { categories, .. } => H - 40.0 + bar_labels(categories).1,
        _ => H,
    };
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {height:.0}" width="100%" role="img" aria-label="{}" font-family="inherit" overflow="visible">"#,
        escape(&c.title)
    );
    let names: Vec<&str> = c.series.iter().map(|x| x.name.as_str()).collect();
    legend(&mut s, &names);
    match &c.kind {
        ChartKind::Bars { categories, stacked } => bars(&mut s, c, categories, *stacked, lang),
        ChartKind::HBars { categories } => return hbars(c, categories, lang),
        ChartKind::Lines { x, x_label, y_label, percent_axes } => lines(&mut s, c, x, x_label, y_label, *percent_axes, lang),
    }
    s.push_str("</svg>");
    s
}

fn y_grid(s: &mut String, ax: &Axis, y_of: &dyn Fn(f64) -> f64, money: bool, percent: bool, lang: Lang) {
    for t in ax.ticks() {
        let y = y_of(t);
        let _ = write!(
            s,
            r##"<line x1="{LEFT}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="{}" stroke-width="1"/><text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end" fill="#555">{}</text>"##,
            W - RIGHT,
            if t == 0.0 { "#888" } else { "#e6e6e6" },
            LEFT - 6.0,
            y + 4.0,
            escape(&axis_label(t, money, percent, lang))
        );
    }
}

/// Whether bar labels are rotated, and the space they need below the plot.
fn bar_labels(cats: &[String]) -> (bool, f64) {
    let width = |x: &String| x.chars().map(|c| if c.is_ascii() { 6.5 } else { 11.5 }).sum::<f64>();
    let widest = cats.iter().map(width).fold(0.0, f64::max);
    // Rotate the labels when they would not fit side by side.
    if widest > (W - LEFT - RIGHT) / cats.len().max(1) as f64 * 0.9 { (true, 24.0 + widest * 0.58) } else { (false, 40.0) }
}

fn bars(s: &mut String, c: &Chart, cats: &[String], stacked: bool, lang: Lang) {
    let n = cats.len().max(1);
    let (rotate, _) = bar_labels(cats);
    let (mut lo, mut hi) = (0f64, 0f64);
    for i in 0..n {
        if stacked {
            let pos: f64 = c.series.iter().map(|x| x.values.get(i).copied().unwrap_or(0.0).max(0.0)).sum();
            let neg: f64 = c.series.iter().map(|x| x.values.get(i).copied().unwrap_or(0.0).min(0.0)).sum();
            hi = hi.max(pos);
            lo = lo.min(neg);
        } else {
            for x in &c.series {
                let v = x.values.get(i).copied().unwrap_or(0.0);
                hi = hi.max(v);
                lo = lo.min(v);
            }
        }
    }
    let ax = Axis::new(lo, hi);
    // the plot keeps its height; long rotated labels make the picture taller
    let plot_h = H - TOP - 40.0;
    let y_of = |v: f64| TOP + (ax.hi - v) / (ax.hi - ax.lo) * plot_h;
    y_grid(s, &ax, &y_of, c.money, false, lang);
    let band = (W - LEFT - RIGHT) / n as f64;
    let k = if stacked { 1 } else { c.series.len().max(1) };
    let bar_w = (band * 0.7 / k as f64).min(48.0);
    for (i, cat) in cats.iter().enumerate() {
        let x0 = LEFT + band * i as f64 + (band - bar_w * k as f64) / 2.0;
        let (mut up, mut down) = (0f64, 0f64);
        for (j, ser) in c.series.iter().enumerate() {
            let v = ser.values.get(i).copied().unwrap_or(0.0);
            if v == 0.0 {
                continue;
            }
            let (from, to) = if stacked {
                if v >= 0.0 {
                    up += v;
                    (up - v, up)
                } else {
                    down += v;
                    (down - v, down)
                }
            } else {
                (0.0, v)
            };
            let x = if stacked { x0 } else { x0 + bar_w * j as f64 };
            let (ya, yb) = (y_of(from.max(to)), y_of(from.min(to)));
            let _ = write!(
                s,
                r#"<rect x="{x:.1}" y="{ya:.1}" width="{bar_w:.1}" height="{:.1}" fill="{}"><title>{} · {}: {}</title></rect>"#,
                (yb - ya).max(0.5),
                PALETTE[j % PALETTE.len()],
                escape(cat),
                escape(&ser.name),
                exact(v, c.money)
            );
        }
        let cx = LEFT + band * (i as f64 + 0.5);
        let ly = TOP + plot_h + 16.0;
        if rotate {
            let _ = write!(
                s,
                r##"<text x="{cx:.1}" y="{ly:.1}" font-size="11" fill="#333" text-anchor="end" transform="rotate(-35 {cx:.1} {ly:.1})">{}</text>"##,
                escape(cat)
            );
        } else {
            let _ = write!(s, r##"<text x="{cx:.1}" y="{ly:.1}" font-size="11" fill="#333" text-anchor="middle">{}</text>"##, escape(cat));
        }
    }
}

/// Horizontal bars: the label on the left, the value at the bar's end; the height follows
/// the number of categories.
fn hbars(c: &Chart, cats: &[String], lang: Lang) -> String {
    const ROW: f64 = 24.0;
    const LABEL_W: f64 = 500.0;
    let values: Vec<f64> =
        cats.iter().enumerate().map(|(i, _)| c.series.first().and_then(|x| x.values.get(i)).copied().unwrap_or(0.0)).collect();
    let max = values.iter().copied().fold(0.0, f64::max).max(1.0);
    let h = 16.0 + ROW * cats.len() as f64;
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {h}" width="100%" role="img" aria-label="{}" font-family="inherit" overflow="visible">"#,
        escape(&c.title)
    );
    let plot = W - LABEL_W - 60.0;
    let name = c.series.first().map(|x| x.name.as_str()).unwrap_or_default();
    for (i, (cat, v)) in cats.iter().zip(&values).enumerate() {
        let y = 8.0 + ROW * i as f64;
        let w = (v / max * plot).max(if *v > 0.0 { 1.5 } else { 0.0 });
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="end" fill="#333">{}</text><rect x="{LABEL_W}" y="{:.1}" width="{w:.1}" height="{:.1}" fill="{}"><title>{} · {name}: {}</title></rect><text x="{:.1}" y="{:.1}" font-size="12" fill="#333">{}</text>"##,
            LABEL_W - 8.0,
            y + 15.0,
            escape(cat),
            y + 3.0,
            ROW - 6.0,
            PALETTE[0],
            escape(cat),
            exact(*v, c.money),
            LABEL_W + w + 6.0,
            y + 15.0,
            escape(&axis_label(*v, c.money, false, lang))
        );
    }
    s.push_str("</svg>");
    s
}

fn lines(s: &mut String, c: &Chart, xs: &[f64], x_label: &str, y_label: &str, percent: bool, lang: Lang) {
    let bottom = 52.0;
    let (mut lo, mut hi): (f64, f64) = (0.0, if percent { 1.0 } else { 0.0 });
    for ser in &c.series {
        for &v in &ser.values {
            lo = lo.min(v);
            hi = hi.max(v);
        }
    }
    let ay = Axis::new(lo, hi);
    let (xmin, xmax) = xs.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
    let (xmin, xmax) = if xmin.is_finite() && xmax > xmin { (xmin, xmax) } else { (0.0, 1.0) };
    let ax = if percent { Axis { lo: 0.0, hi: 1.0, step: 0.2 } } else { Axis { lo: xmin, hi: xmax, step: nice_step(xmax - xmin) } };
    let plot_h = H - TOP - bottom;
    let y_of = |v: f64| TOP + (ay.hi - v) / (ay.hi - ay.lo) * plot_h;
    let x_of = |v: f64| LEFT + (v - ax.lo) / (ax.hi - ax.lo) * (W - LEFT - RIGHT);
    y_grid(s, &ay, &y_of, c.money, percent, lang);
    let mut t = (ax.lo / ax.step).ceil() * ax.step;
    while t <= ax.hi + ax.step * 1e-9 {
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle" fill="#555">{}</text>"##,
            x_of(t),
            H - bottom + 16.0,
            escape(&axis_label(t, false, percent, lang))
        );
        t += ax.step;
    }
    let _ = write!(
        s,
        r##"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="middle" fill="#333">{}</text><text x="14" y="{:.1}" font-size="12" fill="#333" transform="rotate(-90 14 {:.1})" text-anchor="middle">{}</text>"##,
        LEFT + (W - LEFT - RIGHT) / 2.0,
        H - 10.0,
        escape(x_label),
        TOP + plot_h / 2.0,
        TOP + plot_h / 2.0,
        escape(y_label)
    );
    for (j, ser) in c.series.iter().enumerate() {
        let color = PALETTE[j % PALETTE.len()];
        let pts: Vec<String> = xs.iter().zip(&ser.values).map(|(&x, &y)| format!("{:.1},{:.1}", x_of(x), y_of(y))).collect();
        let _ = write!(s, r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#, pts.join(" "));
        if xs.len() <= 40 {
            for (&x, &y) in xs.iter().zip(&ser.values) {
                let _ = write!(
                    s,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{color}"><title>{}: {} → {}</title></circle>"#,
                    x_of(x),
                    y_of(y),
                    escape(&ser.name),
                    trim(x),
                    exact(y, c.money)
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::doc::Series;

    #[test]
    fn ticks_are_round_numbers_and_money_axis_reads_in_wan() {
        let ax = Axis::new(0.0, 123_456.0);
        // span 123456 / 5 = 24691 → step 50000; ticks 0, 50000, 100000, 150000
        assert_eq!(ax.ticks(), vec![0.0, 50_000.0, 100_000.0, 150_000.0]);
        assert_eq!(axis_label(150_000.0, true, false, Lang::Zh), "15万");
        assert_eq!(axis_label(150_000.0, true, false, Lang::En), "150k");
        assert_eq!(axis_label(2_500_000.0, true, false, Lang::En), "2.5M");
    }

    #[test]
    fn a_bar_carries_its_exact_value_and_names_are_escaped() {
        let c = Chart {
            title: "t".into(),
            kind: ChartKind::Bars { categories: vec!["住院".into()], stacked: true },
            series: vec![Series { name: "A<B".into(), values: vec![1234.5] }],
            money: true,
        };
        let svg = render(&c, Lang::Zh);
        assert!(svg.contains("<title>住院 · A&lt;B: 1,234.50</title>"), "{svg}");
    }
}
