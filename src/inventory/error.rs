//! Errors of the inventory layer.

use std::path::PathBuf;

use crate::yaml::{Pos, YamlError};

/// Why an inventory could not be loaded or a pattern not evaluated.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error(
        "inventory source '{name}' does not exist\n  hint: give a file or directory, or a comma-separated host list such as '{name},'"
    )]
    NotFound { name: String },

    #[error("{}: cannot read: {err}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        err: std::io::Error,
    },

    #[error(transparent)]
    Yaml(#[from] YamlError),

    #[error("{}:{pos}: {message}{}", path.display(), hint.as_deref().map(|h| format!("\n  hint: {h}")).unwrap_or_default())]
    Parse {
        path: PathBuf,
        pos: Pos,
        message: String,
        hint: Option<String>,
    },

    #[error("{}: {what} is not supported by olympus{}", path.display(), hint.as_deref().map(|h| format!("\n  hint: {h}")).unwrap_or_default())]
    Unsupported {
        path: PathBuf,
        what: String,
        hint: Option<String>,
    },
}

impl InventoryError {
    pub(crate) fn parse(
        path: &std::path::Path,
        pos: Pos,
        message: impl Into<String>,
        hint: Option<String>,
    ) -> Self {
        InventoryError::Parse {
            path: path.to_path_buf(),
            pos,
            message: message.into(),
            hint: hint.filter(|h| !h.is_empty()),
        }
    }
}
