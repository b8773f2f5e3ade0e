//! Link errors. Every error about an input says where: file (and archive member), section,
//! symbol and offset, as far as they are known at the point of failure.

use std::fmt;

/// Where in an input something went wrong.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    pub section: Option<String>,
    pub symbol: Option<String>,
    pub offset: Option<u64>,
}

impl Location {
    pub fn file(file: impl Into<String>) -> Self {
        Location { file: file.into(), ..Default::default() }
    }
    pub fn section(mut self, section: impl Into<String>) -> Self {
        self.section = Some(section.into());
        self
    }
    pub fn symbol(mut self, symbol: impl Into<String>) -> Self {
        self.symbol = Some(symbol.into());
        self
    }
    pub fn offset(mut self, offset: u64) -> Self {
        self.offset = Some(offset);
        self
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(section) = &self.section {
            write!(f, ": section {section}")?;
        }
        if let Some(offset) = self.offset {
            write!(f, "+{offset:#x}")?;
        }
        if let Some(symbol) = &self.symbol {
            write!(f, " (in {symbol})")?;
        }
        Ok(())
    }
}

/// Locations are boxed: errors are rare, and a small `Result` keeps the hot paths lean.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// The input is not something we can read: truncated, corrupt, wrong format.
    #[error("{at}: {message}")]
    Malformed { at: Box<Location>, message: String },
    /// A well-formed input that uses something jitld does not support.
    #[error("{at}: unsupported: {message}")]
    Unsupported { at: Box<Location>, message: String },
    /// A fix-up whose value does not fit its field.
    #[error("{at}: relocation {kind} to {target} out of range: value {} does not fit", signed_hex(*.value))]
    OutOfRange { at: Box<Location>, kind: String, target: String, value: i128 },
    /// The link context failed (a lookup, a plugin); carries the context's own error.
    #[error(transparent)]
    Context(Box<dyn std::error::Error + Send + Sync>),
    /// A reference nothing defines, and nothing stands in for.
    #[error("{at}: undefined symbol: {message}")]
    Undefined { at: Box<Location>, message: String },
    /// The memory manager could not provide memory.
    #[error("memory: {0}")]
    Memory(String),
}

pub type Result<T, E = LinkError> = std::result::Result<T, E>;

/// `0x1000` / `-0x1000`.
fn signed_hex(value: i128) -> String {
    if value < 0 {
        format!("-{:#x}", value.unsigned_abs())
    } else {
        format!("{value:#x}")
    }
}

impl LinkError {
    #[cold]
    pub fn malformed(at: Location, message: impl Into<String>) -> Self {
        LinkError::Malformed { at: Box::new(at), message: message.into() }
    }
    #[cold]
    pub fn unsupported(at: Location, message: impl Into<String>) -> Self {
        LinkError::Unsupported { at: Box::new(at), message: message.into() }
    }
}
