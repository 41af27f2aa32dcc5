//! Field data in: `import odk|kobo`, `form xlsform`, `attach`, `blob get`.
//!
//! Owns: reading the files these commands name (bounded, relative to the
//! typed directory) and handing them to `ayni-forms` and the node; writing
//! what they produce atomically. Must never: map a form or judge a record
//! (the forms crate and the node do).

use std::path::Path;

use anyhow::Result;
use ayni_node::NodeHandle as Node;

use crate::files::{outside_home, read_limited, write_file_atomically, MAX_INPUT_BYTES};
use crate::output::Out;
use crate::usage;

/// `ayni import odk|kobo FILE [--media DIR]`.
pub(crate) fn import_form(
    node: &Node,
    tool: &str,
    file: &Path,
    media: Option<&Path>,
    out: &mut Out,
    cwd: &Path,
) -> Result<()> {
    let bytes = read_limited(file, cwd, MAX_INPUT_BYTES)?;
    let name = file.display().to_string();
    let subs = if tool == "odk" {
        ayni_forms::odk::read(&name, &bytes)?
    } else {
        ayni_forms::kobo::read(&name, &bytes, media.map(|m| cwd.join(m)).as_deref())?
    };
    let report = crate::wait(node.import_submissions(subs))?;
    out.submissions(&report)?;
    Ok(())
}

/// `ayni form xlsform edan -o FILE`.
pub(crate) fn xlsform(node: &Node, kind: &str, output: &Path, out: &mut Out, cwd: &Path) -> Result<()> {
    if kind != "edan" {
        return Err(usage(format!("there is a form for edan only, not {kind}")));
    }
    outside_home(node, output, cwd)?;
    write_file_atomically(output, cwd, &ayni_forms::xlsform::edan_xlsform()?)?;
    out.text_or_json(
        &format!("wrote the EDAN form to {} (XLSForm: upload it to ODK Central or KoboToolbox)\n", output.display()),
        &serde_json::json!({"form": "edan", "file": output.display().to_string()}),
    )
}

/// `ayni attach REF FILE`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn attach(
    node: &Node,
    reference: &str,
    file: &Path,
    field: &str,
    caption: Option<String>,
    limits: ayni_node::blobs::Limits,
    out: &mut Out,
    cwd: &Path,
) -> Result<()> {
    let bytes = read_limited(file, cwd, limits.max_bytes)?;
    let name = file.file_name().map(|n| n.to_string_lossy().to_string());
    let meta = ayni_node::attach::Meta { name, caption };
    out.attached(&crate::wait(node.attach(reference, field, bytes, meta, limits))?)?;
    Ok(())
}

/// `ayni blob get HASH -o FILE`.
pub(crate) fn blob_get(node: &Node, hash: &str, output: &Path, out: &mut Out, cwd: &Path) -> Result<()> {
    outside_home(node, output, cwd)?;
    let hash = crate::wait(node.resolve_blob(hash))?;
    let bytes = crate::wait(node.blob(&crate::NODE, &hash))?;
    write_file_atomically(output, cwd, &bytes)?;
    out.blob_written(&hash, bytes.len(), output)
}
