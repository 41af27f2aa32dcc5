//! Signing a phone in: the field app's address with a client token in its
//! fragment (`…/app/#token=…`, which browsers never send to a server), and
//! that link drawn as a QR code (SVG, for HQ's desk; the CLI draws it on the
//! terminal and as PNG).
//!
//! Owns: the link's form and the app address it accepts. Must never: log
//! or keep a link (it carries the token).

use ayni_node::error::Error;

/// The app's address, from an `http(s)://HOST[:PORT][/PATH]` URL without a
/// fragment (the path defaults to `app/`).
pub fn app_url(given: &str) -> Result<String, Error> {
    let bad = |message: String| Error::Malformed { what: "app address".into(), message };
    let (scheme, rest) = given.split_once("://").ok_or_else(|| bad(format!("'{given}' is not an http(s) URL")))?;
    if scheme != "http" && scheme != "https" || rest.is_empty() || rest.contains('#') {
        return Err(bad(format!("'{given}' is not an http(s) URL without a fragment")));
    }
    let (host, path) = rest.split_once('/').map_or((rest, ""), |(h, p)| (h, p));
    let path = if path.is_empty() { "app/" } else { path };
    Ok(format!("{scheme}://{host}/{path}"))
}

/// The link a phone opens to sign in.
pub fn link(app_url: &str, token: &str) -> String {
    format!("{app_url}#token={token}")
}

/// The QR code of `text` as an SVG image (black on white, a quiet zone);
/// error correction M, or L for text too long for M (an enrolment token).
pub fn svg(text: &str) -> Result<String, Error> {
    let code = qrcode::QrCode::with_error_correction_level(text, qrcode::EcLevel::M)
        .or_else(|_| qrcode::QrCode::with_error_correction_level(text, qrcode::EcLevel::L))
        .map_err(|e| Error::Malformed { what: "QR code".into(), message: format!("too long to draw: {e}") })?;
    Ok(code.render::<qrcode::render::svg::Color<'_>>().min_dimensions(280, 280).quiet_zone(true).build())
}
