//! Input bytes: a memory-mapped file, or a slice of one (an archive member).

use std::sync::Arc;

/// Cheap to clone: the bytes are shared and never copied.
#[derive(Clone)]
pub struct InputBuffer {
    /// Display name for messages: `path` or `archive.a(member.o)`.
    pub name: Arc<str>,
    backing: Arc<dyn AsRef<[u8]> + Send + Sync>,
    start: usize,
    len: usize,
}

impl InputBuffer {
    pub fn new(name: impl Into<Arc<str>>, backing: Arc<dyn AsRef<[u8]> + Send + Sync>) -> Self {
        let len = (*backing).as_ref().len();
        InputBuffer { name: name.into(), backing, start: 0, len }
    }

    pub fn from_vec(name: impl Into<Arc<str>>, bytes: Vec<u8>) -> Self {
        Self::new(name, Arc::new(bytes))
    }

    /// A sub-range sharing the same backing (archive members). Out-of-range gives `None`.
    pub fn slice(&self, name: impl Into<Arc<str>>, start: usize, len: usize) -> Option<Self> {
        let end = start.checked_add(len)?;
        (end <= self.len).then(|| InputBuffer {
            name: name.into(),
            backing: self.backing.clone(),
            start: self.start + start,
            len,
        })
    }

    pub fn bytes(&self) -> &[u8] {
        &(*self.backing).as_ref()[self.start..self.start + self.len]
    }
}
