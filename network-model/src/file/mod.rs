//! Reading and writing network files (format v1, JSON or TOML).
//!
//! Loading is two steps: serde reads the text into [`schema::NetworkFile`]
//! (types and unknown keys), then [`validate::build`] checks ids, references
//! and ranges and builds the [`Network`]. Either step's errors name the file
//! and the element; nothing is half-loaded.

pub mod error;
pub mod export;
pub mod schema;
pub mod validate;

use std::path::Path;

use serde_json::Value;

pub use error::{LoadError, Problem};
pub use schema::NetworkFile;

use crate::network::Network;
use schema::{FORMAT_MARKER, FORMAT_VERSION};

/// The two encodings of a network file; the extension decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    Toml,
}

impl Format {
    /// The format named by a path's extension (`.json`, `.toml`).
    pub fn from_path(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "json" => Some(Format::Json),
            "toml" => Some(Format::Toml),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Format::Json => "JSON",
            Format::Toml => "TOML",
        }
    }
}

/// Loads and validates the network file at `path`.
///
/// # Errors
/// [`LoadError`] when the file cannot be read, has an unknown extension, does
/// not parse, has a newer format version, or fails validation.
pub fn load(path: &Path) -> Result<Network, LoadError> {
    let format = Format::from_path(path).ok_or_else(|| LoadError::UnknownExtension { path: path.into() })?;
    let text = std::fs::read_to_string(path).map_err(|reason| LoadError::Io {
        path: path.into(),
        reason,
    })?;
    parse(&text, format, path)
}

/// Parses and validates network text; `origin` names it in errors.
///
/// # Errors
/// As [`load`], except for I/O.
pub fn parse(text: &str, format: Format, origin: &Path) -> Result<Network, LoadError> {
    let file = parse_file(text, format, origin)?;
    validate::build(file).map_err(|problems| LoadError::Invalid {
        path: origin.into(),
        problems,
    })
}

/// Parses network text into its schema form without validating references
/// or ranges (what tools that rewrite files need).
///
/// # Errors
/// Syntax errors, unknown keys, wrong types, a wrong `format` marker or a
/// newer `version`.
pub fn parse_file(text: &str, format: Format, origin: &Path) -> Result<NetworkFile, LoadError> {
    // Fast path: straight into the typed schema. Only when that fails is the
    // text read again as a generic tree, to find the version and the element.
    fn split<E: std::fmt::Display>(e: serde_path_to_error::Error<E>) -> (serde_path_to_error::Path, String) {
        (e.path().clone(), e.into_inner().to_string())
    }
    let typed: Result<NetworkFile, _> = match format {
        Format::Json => serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(text)).map_err(split),
        Format::Toml => match toml::Deserializer::parse(text) {
            Ok(de) => serde_path_to_error::deserialize(de).map_err(split),
            Err(e) => return Err(syntax(origin, format, e.to_string())),
        },
    };
    match typed {
        Ok(file) => {
            check_header(&file, origin)?;
            Ok(file)
        }
        Err((path, message)) => {
            let tree: Value = match format {
                Format::Json => serde_json::from_str(text).map_err(|e| syntax(origin, format, e.to_string()))?,
                Format::Toml => toml::from_str(text).map_err(|e| syntax(origin, format, e.to_string()))?,
            };
            if let Some(found) = tree.get("version").and_then(Value::as_u64)
                && found > u64::from(FORMAT_VERSION)
            {
                return Err(LoadError::NewerVersion {
                    path: origin.into(),
                    found,
                    supported: FORMAT_VERSION,
                });
            }
            Err(LoadError::Invalid {
                path: origin.into(),
                problems: vec![schema_problem(&tree, &path, message)],
            })
        }
    }
}

/// Writes a network file in `format`.
pub fn to_string(file: &NetworkFile, format: Format) -> String {
    match format {
        Format::Json => serde_json::to_string_pretty(file).expect("a network file always serializes to JSON"),
        Format::Toml => toml::to_string(file).expect("a network file always serializes to TOML"),
    }
}

fn syntax(origin: &Path, format: Format, message: String) -> LoadError {
    LoadError::Syntax {
        path: origin.into(),
        format: format.name(),
        message: message.trim_end().to_string(),
    }
}

fn check_header(file: &NetworkFile, origin: &Path) -> Result<(), LoadError> {
    if file.version > FORMAT_VERSION {
        return Err(LoadError::NewerVersion {
            path: origin.into(),
            found: u64::from(file.version),
            supported: FORMAT_VERSION,
        });
    }
    let mut problems = Vec::new();
    if file.version < FORMAT_VERSION {
        problems.push(Problem {
            element: None,
            field: Some("version".into()),
            message: format!(
                "version {} does not exist; this is format version {FORMAT_VERSION}",
                file.version
            ),
        });
    }
    if let Some(marker) = &file.format
        && marker != FORMAT_MARKER
    {
        problems.push(Problem {
            element: None,
            field: Some("format".into()),
            message: format!("'{marker}' is not a linepack network; expected \"{FORMAT_MARKER}\""),
        });
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(LoadError::Invalid {
            path: origin.into(),
            problems,
        })
    }
}

/// Names the element a serde error points into, using the generic tree to
/// find its id: `pipes[2].lenght_m` becomes pipe 'P7', field `lenght_m`.
fn schema_problem(tree: &Value, path: &serde_path_to_error::Path, message: String) -> Problem {
    use serde_path_to_error::Segment;
    let segments: Vec<&Segment> = path.iter().collect();
    let (element, rest) = match segments.as_slice() {
        [Segment::Map { key }, Segment::Seq { index }, rest @ ..] => {
            let kind = singular(key);
            let id = tree
                .get(key)
                .and_then(|a| a.get(*index))
                .and_then(|e| e.get("id"))
                .and_then(Value::as_str)
                .filter(|id| !id.is_empty());
            let element = match id {
                Some(id) => format!("{kind} '{id}'"),
                None => format!("{key}[{index}]"),
            };
            (Some(element), rest)
        }
        [Segment::Map { key }, rest @ ..] if key == "gas" => (Some("gas".to_string()), rest),
        all => (None, all),
    };
    let field = rest
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join(".")
        .replace(".[", "[");
    Problem {
        element,
        field: (!field.is_empty() && field != "?").then_some(field),
        message,
    }
}

fn singular(array_key: &str) -> &str {
    match array_key {
        "nodes" => "node",
        "pipes" => "pipe",
        "valves" => "valve",
        "regulators" => "regulator",
        "supplies" => "supply",
        "consumers" => "consumer",
        "injections" => "injection",
        "sensors" => "sensor",
        "zones" => "zone",
        other => other,
    }
}

#[cfg(test)]
mod tests;
