//! `ObjectDir`: a directory of relocatable objects used as a library, as an archive is: an
//! index maps each defined symbol to the object that defines it, and an object is read
//! only when one of its symbols is needed.
//!
//! Every regular file whose name does not start with `.` must be an object (of any format
//! `format::sniff` knows, or a cache entry around one); anything else is an error that
//! names the file. The index is kept in the directory (`object_dir_index`), and each run
//! reads again only the files whose stamp changed. A directory that cannot be written
//! simply keeps its index in memory.

use super::entry;
use super::object_dir_index::{self, IndexedObject, IndexedSymbol, Stamp, INDEX_FILE};
use crate::error::{JitError, Result};
use jitld_linker::arch::Arch;
use jitld_linker::format::{self, FileKind};
use jitld_linker::{InputBuffer, NamePool, Strength, SymbolName};
use std::collections::HashMap;
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

pub struct ObjectDir {
    dir: PathBuf,
    arch: Arch,
    /// In file-name order.
    objects: Vec<IndexedObject>,
    /// Symbol → index in `objects`: the first strong definition in file-name order, or the
    /// first weak one if no object defines it strongly.
    index: HashMap<SymbolName, usize>,
    /// Files whose symbols were read from the file this time, not from the saved index.
    reindexed: Vec<String>,
}

impl ObjectDir {
    /// Indexes the objects in `dir` for a program of architecture `arch` (which slice of a
    /// universal file to read), reusing the saved index for files that did not change.
    pub fn open(dir: &Path, names: &NamePool, arch: Arch) -> Result<ObjectDir> {
        let shown = dir.display();
        let listing = std::fs::read_dir(dir).map_err(|e| JitError::other(format!("{shown}: cannot list: {e}")))?;
        let mut files: Vec<(OsString, Stamp)> = Vec::new();
        for item in listing {
            let item = item.map_err(|e| JitError::other(format!("{shown}: cannot list: {e}")))?;
            let name = item.file_name();
            if name.as_bytes().starts_with(b".") {
                continue;
            }
            // Follows symbolic links: a directory of links to a build's objects works.
            let meta = std::fs::metadata(item.path())
                .map_err(|e| JitError::other(format!("{}: cannot read: {e}", item.path().display())))?;
            if meta.is_file() {
                files.push((name, Stamp::of(&meta)));
            }
        }
        files.sort_by(|a, b| a.0.cmp(&b.0));
        let saved = std::fs::read(dir.join(INDEX_FILE)).ok().and_then(|bytes| object_dir_index::decode(&bytes));
        let saved: HashMap<Vec<u8>, IndexedObject> =
            saved.unwrap_or_default().into_iter().map(|o| (o.file.clone(), o)).collect();
        let mut objects = Vec::with_capacity(files.len());
        let mut reindexed = Vec::new();
        for (name, stamp) in files {
            let file = name.into_vec();
            match saved.get(&file) {
                Some(known) if known.stamp == stamp => objects.push(known.clone()),
                _ => {
                    let path = dir.join(OsString::from_vec(file.clone()));
                    let symbols = read_symbols(&path, names, arch)?;
                    reindexed.push(path.display().to_string());
                    objects.push(IndexedObject { file, stamp, symbols });
                }
            }
        }
        if !reindexed.is_empty() || saved.len() != objects.len() {
            save_index(dir, &objects);
        }
        let index = index_symbols(&objects, names);
        Ok(ObjectDir { dir: dir.to_path_buf(), arch, objects, index, reindexed })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn len(&self) -> usize {
        self.objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// The object that provides `name`, if any does.
    pub fn object_defining(&self, name: SymbolName) -> Option<usize> {
        self.index.get(&name).copied()
    }

    /// Paths of the files indexed by reading them when the directory was opened.
    pub fn reindexed(&self) -> &[String] {
        &self.reindexed
    }

    /// The bytes of object `index`, named by its path.
    pub fn object(&self, index: usize) -> Result<InputBuffer> {
        let object = self.objects.get(index).ok_or_else(|| JitError::other("no such object in the directory"))?;
        let path = self.dir.join(std::ffi::OsStr::from_bytes(&object.file));
        format::universal::thin(load(&path)?, self.arch).map_err(JitError::from)
    }
}

/// The file's bytes; for a cache entry, the object inside it, checked against its checksum.
fn load(path: &Path) -> Result<InputBuffer> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| JitError::other(format!("{shown}: cannot read: {e}")))?;
    if !entry::looks_sealed(&bytes) {
        return Ok(InputBuffer::from_vec(shown, bytes));
    }
    let len = match entry::unseal(&bytes) {
        Ok((_, object)) => object.len(),
        Err(defect) => return Err(JitError::other(format!("{shown}: a cache entry that is {defect}"))),
    };
    let whole = InputBuffer::from_vec(shown.as_str(), bytes);
    whole.slice(shown.as_str(), 0, len).ok_or_else(|| JitError::other(format!("{shown}: cannot read")))
}

/// The symbols `path` defines; an error naming the file if it is not an object.
fn read_symbols(path: &Path, names: &NamePool, arch: Arch) -> Result<Vec<IndexedSymbol>> {
    let shown = path.display().to_string();
    let named = |e: JitError| {
        let message = e.to_string();
        JitError::other(if message.contains(&shown) { message } else { format!("{shown}: {message}") })
    };
    let input = format::universal::thin(load(path)?, arch).map_err(|e| named(e.into()))?;
    let kind = format::sniff(&input);
    let FileKind::Object(object_format) = kind else {
        let what = match kind {
            FileKind::Archive => "a static archive",
            FileKind::SharedLibrary => "a shared library or executable",
            FileKind::LinkerScript => "a linker script",
            FileKind::LlvmBitcode => "LLVM bitcode",
            _ => "an unrecognized file format",
        };
        return Err(JitError::other(format!(
            "{shown}: not a relocatable object ({what}); an object directory holds only objects"
        )));
    };
    let interface = object_format.interface(&input, names).map_err(|e| named(e.into()))?;
    Ok(interface
        .symbols
        .iter()
        .map(|s| IndexedSymbol {
            name: names.resolve(s.name).as_bytes().to_vec(),
            weak: s.flags.strength != Strength::Strong,
        })
        .collect())
}

fn index_symbols(objects: &[IndexedObject], names: &NamePool) -> HashMap<SymbolName, usize> {
    let mut index: HashMap<SymbolName, (usize, bool)> = HashMap::new();
    for (i, object) in objects.iter().enumerate() {
        for symbol in &object.symbols {
            let name = names.intern_bytes(&symbol.name);
            match index.get(&name) {
                Some(&(_, weak)) if !weak || symbol.weak => {}
                _ => {
                    index.insert(name, (i, symbol.weak));
                }
            }
        }
    }
    index.into_iter().map(|(name, (i, _))| (name, i)).collect()
}

/// Saves the index beside the objects, replacing the old one whole; where the directory
/// cannot be written, the index lives only as long as this run.
fn save_index(dir: &Path, objects: &[IndexedObject]) {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let temp = dir.join(format!(".tmp-{}-{nanos}-index", std::process::id()));
    let _ = super::replace_file(&temp, &dir.join(INDEX_FILE), &object_dir_index::encode(objects));
}
