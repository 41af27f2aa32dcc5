//! ODK and KoboToolbox: the EDAN form published as an XLSForm, and the
//! exports of ODK Central and KoboToolbox read back into EDAN records.
//!
//! Owns: the form ([`edan_form`], one list of questions both directions
//! use), writing it ([`xlsform`]), and reading exports — ODK Central's CSV
//! zip ([`odk`]) and KoboToolbox's XLSX or `;`-separated CSV ([`kobo`]) —
//! into [`ayni_node::submissions::Submission`]s ([`read`]). Must never:
//! write records (the node judges and writes them), or accept a file it
//! could only half read.

pub mod edan_form;
pub mod kobo;
pub mod odk;
pub mod read;
pub mod xlsform;

/// What can go wrong reading an export or writing the form.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file is not what it claims to be.
    #[error("{file}: {reason}")]
    File {
        /// The file.
        file: String,
        /// Why.
        reason: String,
    },
    /// Rows with bad cells: `(file row N column C, why)`.
    #[error("import refused, nothing written: {} bad cell(s)\n{}", .0.len(), .0.iter().map(|(at, e)| format!("  {at}: {e}")).collect::<Vec<_>>().join("\n"))]
    Rows(Vec<(String, String)>),
    /// The spreadsheet writer failed.
    #[error("writing the form: {0}")]
    Xlsx(String),
    /// The node's schemas.
    #[error(transparent)]
    Node(#[from] ayni_node::Error),
}

impl Error {
    /// Whether the input is at fault (the CLI exits 2).
    pub fn is_invalid_input(&self) -> bool {
        matches!(self, Error::File { .. } | Error::Rows(_))
    }
}
