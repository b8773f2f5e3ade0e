//! `jitld run`: a session with one JITDylib, `main`, holding every object on the command line;
//! archives and shared libraries as generators behind it, in command-line order; then the
//! process. Looking up the entry (and every object's initializers) links what the program
//! needs; then initializers run, the entry is called, and we leave through `exit`, as a
//! program returning from `main` does.

use super::inputs::{find_library, linker_script_inputs, InputArg};
use super::RunArgs;
use crate::error::JitError;
use crate::generators::{ArchiveGenerator, DynamicLibraryGenerator};
use crate::layers::ObjectLinkingLayer;
use crate::platform::Platform;
use crate::session::{DylibId, ExecutionSession, LookupFlags, SymbolFlags};
use crate::tools::RelocationDump;
use jitld_linker::format::{self, FileKind};
use jitld_linker::memory::{InProcessMemoryManager, MemoryManager, SlabMemoryManager};
use jitld_linker::{InputBuffer, SymbolName};
use std::ffi::CString;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

type Errors = Vec<JitError>;

/// Everything the command line put into the program.
struct Program {
    session: ExecutionSession,
    layer: ObjectLinkingLayer,
    main: DylibId,
    /// Initializer symbols of command-line objects: linked even if unreferenced.
    roots: Vec<SymbolName>,
    /// Definitions of command-line objects (linked in full with --noexec).
    definitions: Vec<SymbolName>,
    search: Vec<String>,
    position: u64,
}

pub fn open_input(path: &Path) -> Result<InputBuffer, JitError> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| JitError::other(format!("{name}: cannot open: {e}")))?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if len == 0 {
        return Ok(InputBuffer::from_vec(name, Vec::new()));
    }
    // SAFETY: inputs are not expected to change while we link; a truncation under us would be
    // the same hazard every linker accepts.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| JitError::other(format!("{name}: cannot map: {e}")))?;
    Ok(InputBuffer::new(name, Arc::new(map)))
}

impl Program {
    fn load(&mut self, input: &InputArg) -> Result<(), JitError> {
        let path = match input {
            InputArg::Path(path) => Path::new(path).to_path_buf(),
            InputArg::Library(name) => find_library(name, &self.search)?,
        };
        self.load_path(&path)
    }

    fn load_path(&mut self, path: &Path) -> Result<(), JitError> {
        let buffer = open_input(path)?;
        let ordinal = self.position * 1_000_000_000;
        self.position += 1;
        match format::sniff(&buffer) {
            FileKind::ElfRelocatable => {
                let names = format::elf::interface(&buffer, self.session.names())?;
                self.definitions.extend(names.symbols.iter().map(|s| s.name));
                let init = self.layer.add_with_ordinal(self.main, buffer, ordinal)?;
                self.roots.extend(init);
            }
            FileKind::Archive => {
                let generator = ArchiveGenerator::new(buffer, self.layer.clone(), ordinal)?;
                self.session.add_generator(self.main, Arc::new(generator));
            }
            FileKind::ElfShared => {
                let generator = DynamicLibraryGenerator::open(&path.display().to_string(), self.layer.clone())?;
                self.session.add_generator(self.main, Arc::new(generator));
            }
            FileKind::LinkerScript => {
                let text = String::from_utf8_lossy(buffer.bytes()).into_owned();
                for input in linker_script_inputs(&text, &self.search)? {
                    self.load_path(&input)?;
                }
            }
            FileKind::Unknown => {
                return Err(JitError::other(format!("{}: unrecognized file format", path.display())));
            }
        }
        Ok(())
    }
}

pub fn run(args: &RunArgs) -> Result<i32, Errors> {
    let memory: Arc<dyn MemoryManager> = match args.slab_address {
        Some(_) if !args.noexec => return Err(vec![JitError::other("--slab-address needs --noexec")]),
        Some(base) => Arc::new(SlabMemoryManager::new(base, 1 << 40)),
        None => Arc::new(InProcessMemoryManager::new()),
    };
    let session = ExecutionSession::new(memory);
    let main = session.create_jit_dylib("main").map_err(|e| vec![e])?;
    let layer = ObjectLinkingLayer::new(session.clone());
    let platform = Platform::install(&layer, main).map_err(|e| vec![e])?;
    let absolutes: Vec<_> =
        args.absolutes.iter().map(|(name, addr)| (session.intern(name), *addr, SymbolFlags::strong_data())).collect();
    session.define_absolute(main, &absolutes).map_err(|e| vec![e])?;
    let dump = args.dump_relocs.then(|| {
        let dump = Arc::new(RelocationDump::new(args.slab_address));
        layer.add_plugin(dump.clone());
        dump
    });
    let mut program = Program {
        session: session.clone(),
        layer: layer.clone(),
        main,
        roots: Vec::new(),
        definitions: Vec::new(),
        search: args.search.clone(),
        position: 0,
    };
    for input in &args.ordered {
        program.load(input).map_err(|e| vec![e])?;
    }
    session.add_generator(main, Arc::new(DynamicLibraryGenerator::process(layer.clone())));

    let order = [(main, LookupFlags::MatchAllSymbols)];
    let entry = session.intern(&args.entry);
    let mut wanted = program.roots.clone();
    if args.noexec {
        wanted.extend(&program.definitions);
    } else {
        wanted.insert(0, entry);
    }
    let found = session.lookup(&order, &wanted).map_err(|e| report(&session, e, &args.entry))?;
    if let Some(dump) = dump {
        print!("{}", dump.render());
    }
    if args.noexec {
        return Ok(0);
    }

    let argv0 = args.argv0.clone().or_else(|| args.inputs.first().cloned()).unwrap_or_default();
    let argv_strings: Vec<CString> = std::iter::once(&argv0)
        .chain(&args.args)
        .map(|a| CString::new(a.as_str()).map_err(|_| vec![JitError::other("argument contains NUL")]))
        .collect::<Result<_, _>>()?;
    let mut argv: Vec<*const libc::c_char> = argv_strings.iter().map(|s| s.as_ptr()).collect();
    argv.push(std::ptr::null());
    extern "C" {
        static environ: *const *const libc::c_char;
    }
    // SAFETY: reading the C library's environment pointer.
    let envp = unsafe { environ };
    let argc = (argv.len() - 1) as i32;
    platform.set_args(argc, argv.as_ptr(), envp);
    platform.run_finalizers_at_exit();
    platform.run_initializers();
    type Entry = unsafe extern "C" fn(i32, *const *const libc::c_char, *const *const libc::c_char) -> i32;
    // SAFETY: the entry is linked, ready code; we call it as C's `main`.
    let entry_fn: Entry = unsafe { std::mem::transmute(found[0].addr as usize) };
    let status = unsafe { entry_fn(argc, argv.as_ptr(), envp) };
    let _ = std::io::stdout().flush();
    // Leave as a returning `main` does: atexit handlers, finalizers, stdio flush.
    unsafe { libc::exit(status) }
}

/// The errors to show for a failed lookup: the root causes the session recorded, or the
/// lookup's own error.
fn report(session: &ExecutionSession, error: JitError, entry: &str) -> Errors {
    let mut errors: Errors = session.errors().iter().map(|e| JitError::clone(e)).collect();
    if errors.is_empty() {
        errors.push(match error {
            JitError::Undefined(names) if names.iter().any(|(n, _)| n == entry) => {
                JitError::other(format!("entry symbol {entry} not found in any input"))
            }
            other => other,
        });
    }
    errors
}

pub fn graph(inputs: &[String]) -> Result<i32, Errors> {
    let names = jitld_linker::NamePool::new();
    for input in inputs {
        let buffer = open_input(Path::new(input)).map_err(|e| vec![e])?;
        let graph = format::elf::build_graph(&buffer, &names).map_err(|e| vec![e.into()])?;
        print!("{}", jitld_linker::graph::dump_graph(&graph));
    }
    Ok(0)
}
