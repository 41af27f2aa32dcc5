//! Signing a phone in by QR code: the field app's address with the token in
//! its fragment (`…/app/#token=…`, which browsers never send to a server),
//! drawn on the terminal or written as a PNG.
//!
//! Owns: the app's address from where the node is served, and the QR
//! rendering for the terminal and as PNG (the link's form and the check of
//! a given address are `ayni_api::signin`'s, which HQ's desk uses too).
//! Must never: log or store the link (it carries the token), or pick an
//! address a phone cannot reach without saying so.

use std::net::SocketAddr;

use anyhow::{anyhow, Result};
use qrcode::render::unicode::Dense1x2;
use qrcode::{Color, EcLevel, QrCode};

use ayni_node::error::Error;

/// The app's address phones should open: `given` (`--app-url`), else the
/// serving node's HTTP address when a phone could reach it.
pub(crate) fn app_url(given: Option<&str>, serving: Option<(&str, SocketAddr)>) -> Result<String, Error> {
    let bad = |message: String| Error::Malformed { what: "--app-url".into(), message };
    if let Some(url) = given {
        return ayni_api::signin::app_url(url).map_err(|e| match e {
            Error::Malformed { message, .. } => bad(message),
            other => other,
        });
    }
    let Some((scheme, addr)) = serving else {
        return Err(bad(
            "the app's address is unknown: serve with --http, or give --app-url https://HOST:PORT/app/".into()
        ));
    };
    let ip = match addr.ip() {
        ip if ip.is_unspecified() => ayni_api::tls::lan_address().ok_or_else(|| {
            bad(format!("the node serves HTTP on {addr} but this machine has no network address a phone could use: give --app-url"))
        })?,
        ip if ip.is_loopback() => {
            return Err(bad(format!(
                "the node serves HTTP on {addr}, which only this machine reaches: serve with --http 0.0.0.0:PORT, or give --app-url"
            )))
        }
        ip => ip,
    };
    Ok(format!("{scheme}://{}/app/", SocketAddr::new(ip, addr.port())))
}

fn code(text: &str) -> Result<QrCode> {
    QrCode::with_error_correction_level(text, EcLevel::M).map_err(|e| anyhow!("drawing the QR code: {e}"))
}

/// The QR code of `text` for a terminal (light on dark, as terminals mostly are).
pub(crate) fn terminal(text: &str) -> Result<String> {
    Ok(code(text)?
        .render::<Dense1x2>()
        .dark_color(Dense1x2::Light)
        .light_color(Dense1x2::Dark)
        .quiet_zone(true)
        .build())
}

/// The QR code of `text` as a PNG: 8 pixels per module, a 4-module quiet
/// zone, black on white.
pub(crate) fn png(text: &str) -> Result<Vec<u8>> {
    const SCALE: usize = 8;
    const QUIET: usize = 4;
    let code = code(text)?;
    let modules = code.width();
    let colors = code.to_colors();
    let side = (modules + 2 * QUIET) * SCALE;
    let mut pixels = vec![255u8; side * side];
    for (i, c) in colors.iter().enumerate() {
        if *c == Color::Dark {
            let (mx, my) = (i % modules + QUIET, i / modules + QUIET);
            for y in my * SCALE..(my + 1) * SCALE {
                pixels[y * side + mx * SCALE..y * side + (mx + 1) * SCALE].fill(0);
            }
        }
    }
    let mut out = vec![];
    let mut encoder = png::Encoder::new(&mut out, side as u32, side as u32);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&pixels)?;
    writer.finish()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_app_address_comes_from_the_flag_or_a_reachable_serving_address() {
        assert_eq!(app_url(Some("https://hq.example:8443"), None).unwrap(), "https://hq.example:8443/app/");
        assert_eq!(app_url(Some("https://hq.example/ayni/app/"), None).unwrap(), "https://hq.example/ayni/app/");
        assert!(app_url(Some("hq.example"), None).is_err());
        assert!(app_url(Some("https://hq.example/#x"), None).is_err());
        assert!(app_url(None, None).is_err());
        let lan: SocketAddr = "192.168.1.20:8080".parse().unwrap();
        assert_eq!(app_url(None, Some(("http", lan))).unwrap(), "http://192.168.1.20:8080/app/");
        let local: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        assert!(app_url(None, Some(("https", local))).unwrap_err().to_string().contains("only this machine"));
    }

    #[test]
    fn the_png_is_a_png_of_the_code() {
        let link = "http://192.168.1.20:8080/app/#token=ayc1_x_y";
        let decoder = png::Decoder::new(std::io::Cursor::new(png(link).unwrap()));
        let mut reader = decoder.read_info().unwrap();
        let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
        let frame = reader.next_frame(&mut pixels).unwrap();
        let (w, h) = (frame.width as usize, frame.height as usize);
        // a QR reader finds the code and reads the link back
        let mut image = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| pixels[y * w + x]);
        let grids = image.detect_grids();
        assert_eq!(grids.len(), 1);
        assert_eq!(grids[0].decode().unwrap().1, link);
        assert!(terminal(link).unwrap().contains('█'));
    }
}
