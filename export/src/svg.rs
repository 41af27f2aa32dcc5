//! Charts and maps as inline SVG: drawn from coordinates and counts, no
//! tiles, no scripts, so a report works offline and prints as it shows.
//!
//! Owns: a point map (an equirectangular projection around the points'
//! mean latitude, a graticule with degree labels, a scale bar in km and a
//! north arrow) and horizontal stacked bar charts. Must never: fetch
//! anything, or embed text unescaped.

use std::fmt::Write;

/// One point on a map.
pub struct Spot {
    /// Longitude, latitude (WGS 84).
    pub lon: f64,
    /// Latitude.
    pub lat: f64,
    /// Its label.
    pub label: String,
    /// Its fill colour (CSS).
    pub colour: &'static str,
}

/// One bar: a label and its segments (value, colour).
pub struct Bar {
    /// What it counts.
    pub label: String,
    /// `(value, colour)`, drawn left to right.
    pub segments: Vec<(f64, &'static str)>,
}

/// Text for SVG and HTML.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

const W: f64 = 640.0;
const H: f64 = 420.0;
const PAD: f64 = 48.0;
const KM_PER_DEGREE: f64 = 111.32;

/// A map of `spots` with a title for screen readers.
pub fn map(title: &str, spots: &[Spot]) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" role="img" aria-labelledby="map-title" class="map"><title id="map-title">{}</title><rect x="0" y="0" width="{W}" height="{H}" fill="#f4f1ea" stroke="#888"/>"##,
        escape(title)
    );
    if spots.is_empty() {
        s.push_str("</svg>");
        return s;
    }
    let (mut w, mut e, mut so, mut n) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for p in spots {
        w = w.min(p.lon);
        e = e.max(p.lon);
        so = so.min(p.lat);
        n = n.max(p.lat);
    }
    // at least ~2 km across, and some room around the points
    let min_span = 2.0 / KM_PER_DEGREE;
    let (cx, cy) = ((w + e) / 2.0, (so + n) / 2.0);
    let k = cy.to_radians().cos().max(0.01);
    let half_x = ((e - w) * k).max(min_span) * 0.6;
    let half_y = (n - so).max(min_span) * 0.6;
    // one scale for both axes (degrees of latitude per pixel)
    let scale = ((W - 2.0 * PAD) / (2.0 * half_x)).min((H - 2.0 * PAD) / (2.0 * half_y));
    let x = |lon: f64| W / 2.0 + (lon - cx) * k * scale;
    let y = |lat: f64| H / 2.0 - (lat - cy) * scale;
    let (lon_min, lon_max) = (cx - (W / 2.0) / (k * scale), cx + (W / 2.0) / (k * scale));
    let (lat_min, lat_max) = (cy - (H / 2.0) / scale, cy + (H / 2.0) / scale);
    // graticule
    let step = nice_step((lat_max - lat_min).max((lon_max - lon_min) * k) / 4.0);
    let mut g = (lon_min / step).ceil() * step;
    while g <= lon_max {
        let _ = write!(
            s,
            r##"<line x1="{0:.1}" y1="0" x2="{0:.1}" y2="{H}" stroke="#ccc" stroke-width="0.6"/><text x="{1:.1}" y="{2}" font-size="10" fill="#555">{3}</text>"##,
            x(g),
            x(g) + 2.0,
            H - 4.0,
            degrees(g, 'E', 'O')
        );
        g += step;
    }
    let mut g = (lat_min / step).ceil() * step;
    while g <= lat_max {
        let _ = write!(
            s,
            r##"<line x1="0" y1="{0:.1}" x2="{W}" y2="{0:.1}" stroke="#ccc" stroke-width="0.6"/><text x="3" y="{1:.1}" font-size="10" fill="#555">{2}</text>"##,
            y(g),
            y(g) - 2.0,
            degrees(g, 'N', 'S')
        );
        g += step;
    }
    // scale bar and north arrow
    let km_per_px = KM_PER_DEGREE / scale;
    let bar_km = nice_step(km_per_px * 120.0);
    let bar_px = bar_km / km_per_px;
    let _ = write!(
        s,
        r##"<g class="scale"><rect x="{:.1}" y="{:.1}" width="{bar_px:.1}" height="5" fill="#333"/><text x="{:.1}" y="{:.1}" font-size="11">{} km</text></g><g class="north"><path d="M{:.1} 18 l7 18 l-7 -5 l-7 5 z" fill="#333"/><text x="{:.1}" y="50" font-size="11" text-anchor="middle">N</text></g>"##,
        W - PAD - bar_px,
        H - 26.0,
        W - PAD - bar_px,
        H - 30.0,
        trim(bar_km),
        W - 24.0,
        W - 24.0
    );
    for p in spots {
        let _ = write!(
            s,
            r##"<g class="spot"><circle cx="{0:.1}" cy="{1:.1}" r="9" fill="{2}" stroke="#222" stroke-width="1.2"/><text x="{3:.1}" y="{4:.1}" font-size="12" font-weight="bold">{5}</text></g>"##,
            x(p.lon),
            y(p.lat),
            p.colour,
            x(p.lon) + 12.0,
            y(p.lat) + 4.0,
            escape(&p.label)
        );
    }
    s.push_str("</svg>");
    s
}

/// A horizontal stacked bar chart, one row per bar.
pub fn bars(title: &str, bars: &[Bar], legend: &[(&str, &'static str)]) -> String {
    let label_w = 230.0;
    let row = 26.0;
    let height = 40.0 + row * bars.len() as f64 + 10.0;
    let max = bars.iter().map(|b| b.segments.iter().map(|(v, _)| v).sum::<f64>()).fold(0.0, f64::max).max(1.0);
    let width = W - label_w - 50.0;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {height}" role="img" aria-labelledby="c-{0}" class="chart"><title id="c-{0}">{1}</title>"#,
        slug(title),
        escape(title)
    );
    let mut lx = label_w;
    for (name, colour) in legend {
        let _ = write!(
            s,
            r#"<rect x="{lx:.1}" y="6" width="12" height="12" fill="{colour}"/><text x="{:.1}" y="16" font-size="11">{}</text>"#,
            lx + 16.0,
            escape(name)
        );
        lx += 24.0 + 7.0 * name.chars().count() as f64;
    }
    for (i, b) in bars.iter().enumerate() {
        let top = 30.0 + row * i as f64;
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="end">{}</text>"#,
            label_w - 8.0,
            top + 15.0,
            escape(&b.label)
        );
        let mut at = label_w;
        let mut total = 0.0;
        for (v, colour) in &b.segments {
            let w = v / max * width;
            if w > 0.0 {
                let _ = write!(s, r#"<rect x="{at:.1}" y="{top:.1}" width="{w:.1}" height="18" fill="{colour}"/>"#);
            }
            at += w;
            total += v;
        }
        let _ = write!(s, r#"<text x="{:.1}" y="{:.1}" font-size="11">{}</text>"#, at + 5.0, top + 14.0, trim(total));
    }
    s.push_str("</svg>");
    s
}

/// 1, 2 or 5 times a power of ten, at least `x`.
fn nice_step(x: f64) -> f64 {
    let x = x.max(1e-9);
    let p = 10f64.powf(x.log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * p).find(|s| *s >= x).unwrap_or(10.0 * p)
}

fn degrees(v: f64, pos: char, neg: char) -> String {
    format!("{}° {}", trim((v.abs() * 1e4).round() / 1e4), if v < 0.0 { neg } else { pos })
}

/// A number without a trailing `.0`.
pub fn trim(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

fn slug(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_map_puts_east_right_and_north_up() {
        let spots = [
            Spot { lon: -64.86, lat: -21.48, label: "z1".into(), colour: "#0a0" },
            Spot { lon: -64.80, lat: -21.40, label: "z2 <b>".into(), colour: "#f80" },
        ];
        let svg = map("Sama", &spots);
        let centre = |label: &str| {
            let at = svg.find(&format!(">{label}</text>")).unwrap();
            let circle = svg[..at].rfind("<circle").unwrap();
            let attr = |name: &str| {
                let i = svg[circle..].find(&format!("{name}=\"")).unwrap() + circle + name.len() + 2;
                svg[i..].split('"').next().unwrap().parse::<f64>().unwrap()
            };
            (attr("cx"), attr("cy"))
        };
        let (a, b) = (centre("z1"), centre("z2 &lt;b&gt;"));
        assert!(b.0 > a.0, "z2 is east of z1: {a:?} {b:?}");
        assert!(b.1 < a.1, "z2 is north of z1");
        assert!(svg.contains(" km</text>"));
        assert_eq!(nice_step(3.0), 5.0);
        assert_eq!(nice_step(0.013), 0.02);
    }
}
