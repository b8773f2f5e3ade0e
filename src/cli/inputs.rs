//! Command-line inputs as `ld` finds them: paths, `-lNAME` searched in `-L` directories and
//! the system's, and GNU ld scripts (`GROUP(...)`, `INPUT(...)`) that stand in for libraries.

use crate::error::{JitError, Result};
use jitld_linker::arch::Arch;
use std::path::{Path, PathBuf};

/// This machine's library directories, as `ld` searches them.
const SYSTEM_DIRS: [&str; 6] =
    ["/usr/local/lib", "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/lib", "/usr/lib"];

/// One input, in command-line order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InputArg {
    Path(String),
    Library(String),
    /// `-jd NAME`: what follows goes into this JITDylib.
    Dylib(String),
    /// `--lazy FILE`.
    Lazy(String),
    /// `--whole-archive FILE`.
    WholeArchive(String),
    /// `--object-dir DIR`: a directory of objects, linked as an archive's members are.
    ObjectDir(String),
    /// `--lazy-object-dir DIR`: as `--object-dir`, each object behind lazy stubs.
    LazyObjectDir(String),
    /// llvm-jitlink's `-load_hidden FILE` / `-hidden-lNAME`: an archive whose members'
    /// symbols stay hidden in their JITDylib.
    HiddenArchive(Box<InputArg>),
}

/// Where `-l` looks, for the architecture the program is linked for: the `-L` directories,
/// then the system's library directories for that architecture, then GCC's own (newest
/// version first; a native link through `gcc`/`g++` searches them too: `libstdc++.so`,
/// `libgcc.a`).
///
/// For another architecture than this machine's they are Debian's multiarch and cross
/// directories: `/usr/lib/aarch64-linux-gnu` (the `:arm64` packages), `/usr/aarch64-linux-gnu/lib`
/// (the cross toolchain's C library) and `/usr/lib/gcc-cross/aarch64-linux-gnu/VERSION`.
#[derive(Clone, Debug)]
pub struct LibraryPath {
    dirs: Vec<PathBuf>,
    gcc: Vec<PathBuf>,
    /// Where GCC's version directories are.
    gcc_root: PathBuf,
}

impl LibraryPath {
    pub fn new(search: &[String], arch: Arch) -> Self {
        let triple = format!("{}-linux-gnu", crate::executor::remote::arch_suffix(arch));
        let system: Vec<PathBuf> = if arch == Arch::host() {
            SYSTEM_DIRS.iter().map(PathBuf::from).collect()
        } else {
            [
                format!("/usr/local/lib/{triple}"),
                format!("/lib/{triple}"),
                format!("/usr/lib/{triple}"),
                format!("/usr/{triple}/lib"),
            ]
            .into_iter()
            .map(PathBuf::from)
            .collect()
        };
        let gcc_root = if arch == Arch::host() { "gcc" } else { "gcc-cross" };
        let gcc_root = Path::new("/usr/lib").join(gcc_root).join(&triple);
        LibraryPath {
            dirs: search.iter().map(PathBuf::from).chain(system).collect(),
            gcc: gcc_dirs(&gcc_root),
            gcc_root,
        }
    }

    /// This machine's directories, after `search`.
    pub fn host(search: &[String]) -> Self {
        Self::new(search, Arch::host())
    }

    fn all(&self) -> impl Iterator<Item = &PathBuf> {
        self.dirs.iter().chain(&self.gcc)
    }

    /// Every directory a search reads (for the image cache's manifest: a library added to
    /// one of them changes its times).
    pub fn directories(&self) -> impl Iterator<Item = &PathBuf> {
        self.all().chain([&self.gcc_root])
    }
}

/// Bytes of the objects and archives the command line names, from their sizes alone (a
/// shared library or a linker script, named `.so`, counts nothing): how much a link may
/// have to do, known before anything is opened.
pub fn object_bytes(inputs: &[InputArg], path: &LibraryPath) -> u64 {
    let size = |file: &Path| {
        let name = file.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
        let shared = name.ends_with(".so") || name.contains(".so.");
        if shared {
            0
        } else {
            std::fs::metadata(file).map_or(0, |m| m.len())
        }
    };
    let one = |input: &InputArg| match input {
        InputArg::Path(file) | InputArg::Lazy(file) | InputArg::WholeArchive(file) => size(Path::new(file)),
        InputArg::Library(name) => find_library(name, path).map_or(0, |file| size(&file)),
        _ => 0,
    };
    inputs
        .iter()
        .map(|input| match input {
            InputArg::HiddenArchive(inner) => one(inner),
            other => one(other),
        })
        .sum()
}

/// Finds `-lNAME`: `libNAME.so` before `libNAME.a` in each directory, `-L` ones first;
/// `-l:FILE` names a file exactly.
pub fn find_library(name: &str, path: &LibraryPath) -> Result<PathBuf> {
    let candidates: Vec<String> = match name.strip_prefix(':') {
        Some(exact) => vec![exact.to_string()],
        None => vec![format!("lib{name}.so"), format!("lib{name}.a")],
    };
    for dir in path.all() {
        for candidate in &candidates {
            let found = dir.join(candidate);
            if found.is_file() {
                return Ok(found);
            }
        }
    }
    let searched: Vec<String> = path.all().map(|d| d.display().to_string()).collect();
    Err(JitError::other(format!("cannot find -l{name} (searched {})", searched.join(", "))))
}

/// The compiler's runtime archive, `libgcc.a` (what `gcc -print-libgcc-file-name` names),
/// from the newest GCC for the target: the driver links it into every program after the
/// user's libraries and libc, for helpers no shared library exports (decimal float
/// `__bid_*`, for one).
pub fn compiler_runtime_archive(path: &LibraryPath) -> Option<PathBuf> {
    path.gcc.iter().map(|dir| dir.join("libgcc.a")).find(|found| found.is_file())
}

/// The version directories under a GCC library root, newest first.
fn gcc_dirs(root: &Path) -> Vec<PathBuf> {
    let mut versions: Vec<(Vec<u32>, PathBuf)> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            (name.split('.').map(|part| part.parse().unwrap_or(0)).collect(), entry.path())
        })
        .collect();
    versions.sort_by(|a, b| b.0.cmp(&a.0));
    versions.into_iter().map(|(_, path)| path).collect()
}

/// One file a GNU ld script names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptInput {
    pub path: PathBuf,
    /// Named inside `AS_NEEDED ( ... )`: a shared library that is loaded only if the link
    /// binds a name to it (an archive or object is linked as ever; ld ignores the mark there).
    pub as_needed: bool,
}

/// The files the GNU ld script at `path` (with `text`) stands for, in order, with the scripts
/// it names expanded in place (what a script inside `AS_NEEDED` names is as-needed too). A
/// script that names itself, directly or through others, is an error naming the scripts in
/// the cycle.
pub fn expand_linker_script(path: &Path, text: &str, search: &LibraryPath) -> Result<Vec<ScriptInput>> {
    let mut files = Vec::new();
    expand_into(path, text, false, search, &mut vec![path.to_path_buf()], &mut files)?;
    Ok(files)
}

fn expand_into(
    path: &Path,
    text: &str,
    as_needed: bool,
    search: &LibraryPath,
    open: &mut Vec<PathBuf>,
    files: &mut Vec<ScriptInput>,
) -> Result<()> {
    for input in script_inputs(text, search).map_err(|e| JitError::other(format!("{}: {e}", path.display())))? {
        let as_needed = as_needed || input.as_needed;
        let Some(nested) = read_if_script(&input.path) else {
            files.push(ScriptInput { path: input.path, as_needed });
            continue;
        };
        let same = |p: &PathBuf| std::fs::canonicalize(p).ok() == std::fs::canonicalize(&input.path).ok();
        if let Some(start) = open.iter().position(same) {
            let cycle: Vec<String> =
                open[start..].iter().chain(std::iter::once(&input.path)).map(|p| p.display().to_string()).collect();
            return Err(JitError::other(format!("linker script cycle: {}", cycle.join(" -> "))));
        }
        open.push(input.path.clone());
        expand_into(&input.path, &nested, as_needed, search, open, files)?;
        open.pop();
    }
    Ok(())
}

/// The text of `path` if it is a GNU ld script (judged from its start, as `format::sniff`
/// does), else `None`; unreadable files are left for the caller to report.
fn read_if_script(path: &Path) -> Option<String> {
    use std::io::Read;
    let mut head = Vec::with_capacity(512);
    std::fs::File::open(path).ok()?.take(512).read_to_end(&mut head).ok()?;
    let probe = jitld_linker::InputBuffer::from_vec(path.display().to_string(), head);
    if jitld_linker::format::sniff(&probe) != jitld_linker::format::FileKind::LinkerScript {
        return None;
    }
    std::fs::read(path).ok().map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
}

/// The files a GNU ld script names, in order, each marked if it is inside `AS_NEEDED`, with
/// `-l` names searched in `search` and this machine's directories.
pub fn linker_script_inputs(text: &str, search: &[String]) -> Result<Vec<ScriptInput>> {
    script_inputs(text, &LibraryPath::host(search))
}

/// A script's words, with each parenthesis a word of its own (`AS_NEEDED(-lm)` is three).
fn script_tokens(text: &str) -> Vec<&str> {
    let mut tokens = Vec::new();
    let mut start = None;
    for (at, c) in text.char_indices() {
        let separator = c.is_whitespace() || c == ',';
        let paren = c == '(' || c == ')';
        if separator || paren {
            if let Some(from) = start.take() {
                tokens.push(&text[from..at]);
            }
            if paren {
                tokens.push(&text[at..at + 1]);
            }
        } else if start.is_none() {
            start = Some(at);
        }
    }
    if let Some(from) = start {
        tokens.push(&text[from..]);
    }
    tokens
}

/// As `linker_script_inputs`, for the target `search` is for.
fn script_inputs(text: &str, search: &LibraryPath) -> Result<Vec<ScriptInput>> {
    let mut without_comments = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("/*") {
        without_comments.push_str(&rest[..start]);
        rest = rest[start..].find("*/").map_or("", |end| &rest[start + end + 2..]);
    }
    without_comments.push_str(rest);
    let mut inputs = Vec::new();
    let mut in_list = false;
    // For each open parenthesis, whether what it holds is as-needed.
    let mut open: Vec<bool> = Vec::new();
    let mut as_needed_next = false;
    for token in script_tokens(&without_comments) {
        let as_needed = open.last() == Some(&true);
        // `AS_NEEDED` marks the parenthesis right after it, nothing further on.
        let marked = std::mem::take(&mut as_needed_next);
        match token {
            "(" => open.push(as_needed || marked),
            ")" => {
                open.pop();
            }
            "GROUP" | "INPUT" => in_list = true,
            "AS_NEEDED" => as_needed_next = true,
            "OUTPUT_FORMAT" | "OUTPUT_ARCH" | "SEARCH_DIR" => in_list = false,
            _ if !in_list => {}
            _ => {
                let path = match token.strip_prefix("-l") {
                    Some(lib) => find_library(lib, search)?,
                    // A bare file name is looked for here, then in the library path, as ld does.
                    None if !token.contains('/') && !Path::new(token).exists() => {
                        find_library(&format!(":{token}"), search)?
                    }
                    None => PathBuf::from(token),
                };
                inputs.push(ScriptInput { path, as_needed });
            }
        }
    }
    Ok(inputs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_names_in_scripts_are_searched_like_libraries() {
        let script = "GROUP ( libc.so.6 )";
        let inputs = linker_script_inputs(script, &[]).unwrap();
        assert_eq!(inputs.len(), 1);
        assert!(inputs[0].path.is_absolute() && inputs[0].path.ends_with("libc.so.6"), "{inputs:?}");
        assert!(!inputs[0].as_needed);
    }

    #[test]
    fn reads_debian_libc_script() {
        let script = "/* GNU ld script */\nOUTPUT_FORMAT(elf64-x86-64)\nGROUP ( /lib/x86_64-linux-gnu/libc.so.6 /usr/lib/x86_64-linux-gnu/libc_nonshared.a  AS_NEEDED ( /lib64/ld-linux-x86-64.so.2 ) )\n";
        let inputs = linker_script_inputs(script, &[]).unwrap();
        assert_eq!(
            inputs,
            [
                ("/lib/x86_64-linux-gnu/libc.so.6", false),
                ("/usr/lib/x86_64-linux-gnu/libc_nonshared.a", false),
                ("/lib64/ld-linux-x86-64.so.2", true)
            ]
            .map(input)
        );
    }

    fn input((path, as_needed): (&str, bool)) -> ScriptInput {
        ScriptInput { path: PathBuf::from(path), as_needed }
    }

    #[test]
    fn reads_debian_libm_script() {
        let script = "/* GNU ld script\n*/\nOUTPUT_FORMAT(elf64-x86-64)\nGROUP ( /lib/x86_64-linux-gnu/libm.so.6  AS_NEEDED ( /lib/x86_64-linux-gnu/libmvec.so.1 ) )\n";
        let inputs = linker_script_inputs(script, &[]).unwrap();
        assert_eq!(
            inputs,
            [("/lib/x86_64-linux-gnu/libm.so.6", false), ("/lib/x86_64-linux-gnu/libmvec.so.1", true)].map(input)
        );
    }

    /// `AS_NEEDED` marks only what its own parentheses hold, written with or without
    /// spaces and commas, among other lists and after them.
    #[test]
    fn as_needed_marks_only_its_list() {
        let script = "INPUT(/a.so,AS_NEEDED(/b.so /c.so),/d.so) GROUP(AS_NEEDED ( /e.so ) /f.so AS_NEEDED(/g.so))";
        let inputs = linker_script_inputs(script, &[]).unwrap();
        let expected = [
            ("/a.so", false),
            ("/b.so", true),
            ("/c.so", true),
            ("/d.so", false),
            ("/e.so", true),
            ("/f.so", false),
            ("/g.so", true),
        ];
        assert_eq!(inputs, expected.map(input));
        // Unbalanced parentheses neither panic nor mark what follows.
        let inputs = linker_script_inputs("GROUP ( AS_NEEDED ) ) /h.so ( /i.so", &[]).unwrap();
        assert_eq!(inputs, [("/h.so", false), ("/i.so", false)].map(input));
    }

    /// A script named inside `AS_NEEDED` makes everything it names as-needed.
    #[test]
    fn as_needed_scripts_expand_as_needed() {
        let dir = std::env::temp_dir().join(format!("jitld-as-needed-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let inner = dir.join("inner.so");
        std::fs::write(&inner, "GROUP ( /x.so AS_NEEDED ( /y.so ) )\n").unwrap();
        let outer = dir.join("outer.so");
        let text = format!("GROUP ( /w.so AS_NEEDED ( {} ) /z.so )\n", inner.display());
        let files = expand_linker_script(&outer, &text, &LibraryPath::host(&[])).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(files, [("/w.so", false), ("/x.so", true), ("/y.so", true), ("/z.so", false)].map(input));
    }
}
