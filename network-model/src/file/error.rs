//! What can be wrong with a network file.

use std::fmt;
use std::path::PathBuf;

/// A network file could not be loaded. Every variant names the file; a
/// network is never half-loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read network file {}: {reason}", path.display())]
    Io { path: PathBuf, reason: std::io::Error },
    #[error(
        "network file {}: unknown extension; use .json or .toml (the extension decides the format)",
        path.display()
    )]
    UnknownExtension { path: PathBuf },
    #[error("network file {} is not valid {format}: {message}", path.display())]
    Syntax {
        path: PathBuf,
        format: &'static str,
        message: String,
    },
    #[error(
        "network file {}: format version {found} is newer than this linepack reads (version {supported}); upgrade linepack",
        path.display()
    )]
    NewerVersion { path: PathBuf, found: u64, supported: u32 },
    #[error("network file {} is invalid ({} problem{}):\n{}", path.display(), problems.len(), if problems.len() == 1 { "" } else { "s" }, ProblemList(problems))]
    Invalid { path: PathBuf, problems: Vec<Problem> },
}

impl LoadError {
    /// The problems found by validation (empty for other kinds of error).
    pub fn problems(&self) -> &[Problem] {
        match self {
            LoadError::Invalid { problems, .. } => problems,
            _ => &[],
        }
    }
}

/// One thing wrong with one element of a network file.
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    /// The element, as "pipe 'P1'" or "pipes\[3\]" when it has no usable id;
    /// `None` for the file as a whole.
    pub element: Option<String>,
    /// The key at fault, when there is one ("length_m").
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.element, &self.field) {
            (Some(e), Some(k)) => write!(f, "{e}, {k}: {}", self.message),
            (Some(e), None) => write!(f, "{e}: {}", self.message),
            (None, Some(k)) => write!(f, "{k}: {}", self.message),
            (None, None) => write!(f, "{}", self.message),
        }
    }
}

struct ProblemList<'a>(&'a [Problem]);

impl fmt::Display for ProblemList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "  - {p}")?;
        }
        Ok(())
    }
}
