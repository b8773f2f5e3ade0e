//! Errors of the session and the CLI. Cloneable: one failure reaches every query that
//! depended on it.

use jitld_linker::LinkError;
use std::sync::Arc;

#[derive(Debug, Clone, thiserror::Error)]
pub enum JitError {
    #[error(transparent)]
    Link(Arc<LinkError>),
    /// Names that no definition provides, each with the input that refers to it.
    #[error("{}", undefined_message(.0))]
    Undefined(Vec<(String, String)>),
    #[error("duplicate definition of {name}: in {first} and in {second}")]
    DuplicateDefinition { name: String, first: String, second: String },
    #[error("JITDylib {0:?} already exists")]
    DuplicateDylib(String),
    /// Something this unit needed failed; the cause was reported on its own.
    #[error("{unit}: not linked, because {cause}")]
    DependencyFailed { unit: String, cause: Arc<JitError> },
    #[error("{0}")]
    Other(String),
}

fn undefined_message(names: &[(String, String)]) -> String {
    names
        .iter()
        .map(|(name, by)| format!("undefined symbol: {name} (referenced by {by})"))
        .collect::<Vec<_>>()
        .join("\nerror: ")
}

impl From<LinkError> for JitError {
    fn from(e: LinkError) -> Self {
        JitError::Link(Arc::new(e))
    }
}

impl JitError {
    pub fn other(message: impl Into<String>) -> Self {
        JitError::Other(message.into())
    }
}

pub type Result<T, E = JitError> = std::result::Result<T, E>;
