//! `jitld run`: a session whose JITDylibs hold the command line's inputs (`main` first, then
//! one per `-jd`), each with archives and shared libraries as generators in command-line
//! order, and the process behind them all. Looking up the entry (and every object's
//! initializers) links what the program needs; then initializers run, the entry is called,
//! and we leave through `exit`, as a program returning from `main` does.

use super::inputs::{
    compiler_runtime_archive, expand_linker_script, find_library, object_bytes, InputArg, LibraryPath,
};
use super::open::{member_spec, open_input, open_member};
use super::RunArgs;
use crate::debug::{debugger_listens, install_fault_reporter, CodeTable, GdbRegistration, PerfMap};
use crate::error::JitError;
use crate::generators::DefinitionGenerator;
use crate::generators::{ArchiveGenerator, DynamicLibraryGenerator, ObjectDirGenerator};
use crate::jit::Stack;
use crate::layers::ahead::Ahead;
use crate::layers::{DataUnit, LinkPlugin, ObjectLinkingLayer};
use crate::lazy::LazyStats;
use crate::platform::Platform;
use crate::session::{DylibId, ExecutionSession, LookupFlags, ReexportsUnit, SymbolFlags, ThreadPlacement};
use crate::tools::RelocationDump;
use jitld_linker::arch::Arch;
use jitld_linker::format::archive::Archive;
use jitld_linker::format::{self, FileKind};
use jitld_linker::memory::{InProcessMemoryManager, MemoryManager, SlabMemoryManager};
use jitld_linker::{InputBuffer, SymbolName};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

type Errors = Vec<JitError>;

/// Everything the command line put into the program.
struct Program {
    session: ExecutionSession,
    layer: ObjectLinkingLayer,
    platform: Arc<Platform>,
    /// JITDylibs in the order the command line first names them.
    dylibs: Vec<DylibId>,
    current: DylibId,
    /// Per JITDylib, the implementation JITDylib behind its lazy stubs.
    lazy_impls: Vec<(DylibId, DylibId)>,
    lazy_stats: Arc<LazyStats>,
    /// Initializer symbols of command-line objects, by JITDylib: linked even if unreferenced.
    roots: Vec<(DylibId, SymbolName)>,
    /// With --noexec: definitions of eager command-line objects, all linked.
    definitions: Vec<(DylibId, SymbolName)>,
    /// --noexec: link every definition of the command line's objects, not only what the
    /// entry needs (so `definitions` is kept).
    link_everything: bool,
    /// Where `-l` looks, for the program's architecture.
    search: LibraryPath,
    position: u64,
    /// The format of the first command-line object: how C names are spelled (`_main`).
    format: Option<format::Format>,
    /// The shared libraries, in command-line order (as-needed ones too, loaded or not).
    libraries: Vec<Arc<DynamicLibraryGenerator>>,
    /// Generators in command-line order, each with its JITDylib: attached once every input
    /// is loaded (`attach_generators`), so that an archive's index is read on the pool
    /// meanwhile.
    generators: Vec<(DylibId, Pending)>,
}

/// A generator to attach.
enum Pending {
    Ready(Arc<dyn DefinitionGenerator>),
    /// An archive whose index a pool thread may be reading (the sqlite program's: ~0.45 ms,
    /// while the main thread goes on to `-lm`); attaching it takes what was read, or reads it.
    Archive {
        read: Arc<Ahead<Result<Arc<ArchiveGenerator>, JitError>>>,
        input: InputBuffer,
        ordinal: u64,
    },
}

/// An archive's generator; its members are read ahead of their pulls when the pool idles.
fn read_archive(
    input: InputBuffer,
    layer: ObjectLinkingLayer,
    ordinal: u64,
) -> Result<Arc<ArchiveGenerator>, JitError> {
    let generator = Arc::new(ArchiveGenerator::new(input, layer, ordinal)?);
    generator.read_ahead_when_idle();
    Ok(generator)
}

impl Program {
    fn dylib(&mut self, name: &str) -> Result<DylibId, JitError> {
        if let Some(existing) = self.session.dylib_by_name(name) {
            return Ok(existing);
        }
        let dylib = self.session.create_jit_dylib(name)?;
        self.platform.setup_dylib(dylib)?;
        self.dylibs.push(dylib);
        Ok(dylib)
    }

    fn load(&mut self, input: &InputArg) -> Result<(), JitError> {
        match input {
            InputArg::Dylib(name) => {
                self.current = self.dylib(name)?;
                Ok(())
            }
            InputArg::Path(path) => match member_spec(Path::new(path)) {
                Some((archive, member)) => {
                    let input = open_member(archive, member, self.session.names())?;
                    let ordinal = self.next_ordinal();
                    self.add_object(input, ordinal)
                }
                None => self.load_path(Path::new(path), false),
            },
            InputArg::Library(name) => {
                let path = find_library(name, &self.search)?;
                self.load_path(&path, false)
            }
            InputArg::Lazy(path) => self.load_lazy(Path::new(path)),
            InputArg::WholeArchive(path) => self.load_whole_archive(Path::new(path)),
            InputArg::ObjectDir(dir) => self.load_object_dir(Path::new(dir), false),
            InputArg::LazyObjectDir(dir) => self.load_object_dir(Path::new(dir), true),
            InputArg::HiddenArchive(archive) => {
                let path = match &**archive {
                    InputArg::Library(name) => find_library(name, &self.search)?,
                    InputArg::Path(path) => Path::new(path).to_path_buf(),
                    other => return Err(JitError::other(format!("a hidden archive must be a file, not {other:?}"))),
                };
                let buffer = format::universal::thin(open_input(&path)?, self.session.executor().target().arch)?;
                if format::sniff(&buffer) != FileKind::Archive {
                    return Err(JitError::other(format!("{}: -load_hidden takes a static archive", path.display())));
                }
                let generator = ArchiveGenerator::new(buffer, self.layer.clone(), self.next_ordinal())?.hidden();
                self.generators.push((self.current, Pending::Ready(Arc::new(generator))));
                Ok(())
            }
        }
    }

    /// Gives each JITDylib its generators, in command-line order.
    fn attach_generators(&mut self) -> Result<(), JitError> {
        for (dylib, pending) in std::mem::take(&mut self.generators) {
            let generator: Arc<dyn DefinitionGenerator> = match pending {
                Pending::Ready(generator) => generator,
                Pending::Archive { read, input, ordinal } => {
                    read.take(|| read_archive(input, self.layer.clone(), ordinal))?
                }
            };
            self.session.add_generator(dylib, generator);
        }
        Ok(())
    }

    fn next_ordinal(&mut self) -> u64 {
        self.position += 1;
        (self.position - 1) * 1_000_000_000
    }

    /// An input by path; `as_needed`: a shared library is loaded only if the link binds a
    /// name to it (a linker script's `AS_NEEDED`).
    fn load_path(&mut self, path: &Path, as_needed: bool) -> Result<(), JitError> {
        let buffer = format::universal::thin(open_input(path)?, self.session.executor().target().arch)?;
        let ordinal = self.next_ordinal();
        let dylib = self.current;
        match format::sniff(&buffer) {
            FileKind::Object(object_format) => {
                self.format.get_or_insert(object_format);
                self.add_object(buffer, ordinal)?
            }
            FileKind::Archive => {
                let read: Arc<Ahead<Result<Arc<ArchiveGenerator>, JitError>>> = Arc::default();
                let (ahead, input, layer) = (read.clone(), buffer.clone(), self.layer.clone());
                self.session.dispatch(Box::new(move || ahead.build(|| read_archive(input, layer, ordinal))));
                self.generators.push((dylib, Pending::Archive { read, input: buffer, ordinal }));
            }
            FileKind::SharedLibrary => {
                let generator = Arc::new(match as_needed {
                    true => DynamicLibraryGenerator::as_needed(path, buffer, self.layer.clone())?,
                    false => DynamicLibraryGenerator::open_file(path, self.layer.clone())?,
                });
                self.libraries.push(generator.clone());
                self.generators.push((dylib, Pending::Ready(generator)));
            }
            FileKind::LinkerScript => {
                let text = String::from_utf8_lossy(buffer.bytes()).into_owned();
                for input in expand_linker_script(path, &text, &self.search)? {
                    self.load_path(&input.path, as_needed || input.as_needed)?;
                }
            }
            FileKind::LlvmBitcode => {
                return Err(JitError::other(format!("{}: {}", path.display(), format::LLVM_BITCODE)));
            }
            FileKind::Unknown => {
                return Err(JitError::other(format!("{}: unrecognized file format", path.display())));
            }
        }
        Ok(())
    }

    /// A directory of objects, as a generator of the current JITDylib; lazily, its objects
    /// go into the implementation JITDylib behind stubs, as `--lazy` objects do.
    fn load_object_dir(&mut self, dir: &Path, lazy: bool) -> Result<(), JitError> {
        let ordinal = self.next_ordinal();
        let mut generator = ObjectDirGenerator::open(dir, self.layer.clone(), ordinal)?;
        if lazy {
            let implementation = self.lazy_impl(self.current)?;
            generator = generator.lazy(implementation, self.lazy_stats.clone());
        }
        self.generators.push((self.current, Pending::Ready(Arc::new(generator))));
        Ok(())
    }

    /// The object goes into the current JITDylib's implementation JITDylib, behind stubs.
    fn load_lazy(&mut self, path: &Path) -> Result<(), JitError> {
        let buffer = open_input(path)?;
        if !matches!(format::sniff(&buffer), FileKind::Object(_)) {
            return Err(JitError::other(format!("{}: --lazy takes a relocatable object", path.display())));
        }
        let implementation = self.lazy_impl(self.current)?;
        crate::lazy::add_lazy_object(&self.layer, self.current, implementation, buffer, &self.lazy_stats)
    }

    /// Every member becomes part of the program, as if named on the command line: linked
    /// even when nothing refers to it, so its initializers run.
    fn load_whole_archive(&mut self, path: &Path) -> Result<(), JitError> {
        let buffer = open_input(path)?;
        let archive = Archive::parse(buffer, self.session.names())?;
        for member in archive.object_members() {
            let Some(input) = archive.member(member) else { continue };
            let ordinal = self.next_ordinal();
            self.add_object(input, ordinal)?;
        }
        Ok(())
    }

    /// An object that is part of the program: its initializers run even if nothing refers to
    /// it, and `--noexec` links all of it.
    fn add_object(&mut self, input: InputBuffer, ordinal: u64) -> Result<(), JitError> {
        let dylib = self.current;
        let tracker = self.session.default_tracker(dylib);
        let added = self.layer.add_with_ordinal(&tracker, input, ordinal)?;
        if self.link_everything {
            self.definitions.extend(added.defined.iter().map(|&name| (dylib, name)));
        }
        self.roots.extend(added.init_symbol.map(|init| (dylib, init)));
        Ok(())
    }

    fn lazy_impl(&mut self, dylib: DylibId) -> Result<DylibId, JitError> {
        if let Some(&(_, implementation)) = self.lazy_impls.iter().find(|(d, _)| *d == dylib) {
            return Ok(implementation);
        }
        let name = format!("{}.lazy", self.session.dylib_name(dylib));
        let implementation = self.session.create_jit_dylib(&name)?;
        self.platform.setup_dylib(implementation)?;
        self.lazy_impls.push((dylib, implementation));
        Ok(implementation)
    }

    /// Each JITDylib links against the ones named before it (or its `--link-order`), then
    /// the process. Implementation JITDylibs search their public JITDylib first, so calls
    /// between lazy objects go through stubs too.
    fn set_link_orders(&self, explicit: &[String], process: DylibId) -> Result<(), JitError> {
        for spec in explicit {
            if spec.split_once('=').is_none_or(|(name, _)| self.session.dylib_by_name(name).is_none()) {
                return Err(JitError::other(format!("--link-order {spec}: expected NAME=A,B,... naming JITDylibs")));
            }
        }
        let exported = |d: DylibId| (d, LookupFlags::MatchExportedSymbolsOnly);
        for (index, &dylib) in self.dylibs.iter().enumerate() {
            let mut order: Vec<_> = self.dylibs[..index].iter().map(|&d| exported(d)).collect();
            let name = self.session.dylib_name(dylib);
            if let Some(spec) = explicit.iter().find_map(|s| s.strip_prefix(&format!("{name}="))) {
                order = spec
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(|n| {
                        let d = self.session.dylib_by_name(n);
                        d.map(exported).ok_or_else(|| JitError::other(format!("--link-order: no JITDylib named {n}")))
                    })
                    .collect::<Result<_, _>>()?;
            }
            order.push((process, LookupFlags::MatchAllSymbols));
            self.session.set_link_order(dylib, order.clone());
            if let Some(&(_, implementation)) = self.lazy_impls.iter().find(|(d, _)| *d == dylib) {
                crate::lazy::link_implementation(&self.session, dylib, implementation);
            }
        }
        Ok(())
    }
}

/// How much address space a `--slab-address` slab covers.
const SLAB_SIZE: u64 = 1 << 40;

fn memory_for(args: &RunArgs) -> Result<Arc<dyn MemoryManager>, JitError> {
    let size = args.slab_size.unwrap_or(SLAB_SIZE);
    let page_size = args.slab_page_size.unwrap_or(Arch::host().page_size());
    match args.slab_address {
        Some(_) if !args.noexec => Err(JitError::other("--slab-address needs --noexec")),
        Some(base) => Ok(Arc::new(
            SlabMemoryManager::try_new(base, size, page_size)
                .map_err(|e| JitError::other(format!("--slab-address: {e}")))?,
        )),
        // Code runs only after a lookup, which applies the protections first.
        None => Ok(Arc::new(InProcessMemoryManager::with_deferred_protection())),
    }
}

/// What `jitld check` adds to a run: plugins that see every linked graph, definitions made
/// once the inputs are loaded, and a step between linking and calling the entry.
#[derive(Default)]
pub(super) struct RunHooks {
    pub plugins: Vec<Arc<dyn LinkPlugin>>,
    /// Defines more in `main`; returns names to link along with the program.
    pub before_link: Option<Box<BeforeLink>>,
    /// Runs once the program is linked; `Some(code)` ends the run with that exit code.
    pub after_link: Option<Box<dyn FnOnce() -> Option<i32>>>,
    /// Wraps the memory the program is linked into (when it runs in this process).
    pub memory: Option<Box<WrapMemory>>,
    /// Sees the linked program (the platform, the entry) before any of its code runs.
    pub before_run: Option<Box<BeforeRun>>,
}

pub(super) type WrapMemory = dyn FnOnce(Arc<dyn MemoryManager>) -> Arc<dyn MemoryManager>;
/// Also given the shared libraries the link loaded, in command-line order, spelled as they
/// were opened (an as-needed library nothing was bound to is not among them).
pub(super) type BeforeRun = dyn FnOnce(&Arc<Platform>, Option<u64>, &[String]);

pub(super) type BeforeLink =
    dyn FnOnce(&ExecutionSession, &ObjectLinkingLayer, DylibId) -> Result<Vec<SymbolName>, JitError>;

/// How many of the command line's objects have their graphs built while the rest loads:
/// each is held until its link, so a program of 10,000 objects builds only the first few.
const EARLY_GRAPHS: usize = 4;

pub fn run(args: &RunArgs) -> Result<i32, Errors> {
    run_with(args, RunHooks::default())
}

pub(super) fn run_with(args: &RunArgs, hooks: RunHooks) -> Result<i32, Errors> {
    let one = |e: JitError| vec![e];
    // The command line's objects say which architecture the program is for, and so where
    // it runs and where `-l` looks.
    let arch = super::target::program_arch(&args.ordered).map_err(one)?;
    let wrap = hooks.memory;
    let memory = move || memory_for(args).map(|memory| if let Some(wrap) = wrap { wrap(memory) } else { memory });
    let chosen = super::executor::executor_for(args, arch, memory).map_err(one)?;
    let search = LibraryPath::new(&args.search, arch);
    let input_bytes = object_bytes(&args.ordered, &search);
    // A link this large makes its many small blocks on its threads from jitld's own heap,
    // not in glibc's arenas (sqlite: -1 to -2.4 ms; `link_heap`).
    if input_bytes >= super::THREADED_INPUT_BYTES {
        crate::link_heap::serve();
    }
    // Threads start first: one started as the link begins was slower to take work. Each
    // keeps to a CPU of its own: they end before the program runs.
    let threads = args.threads.unwrap_or_else(|| args.default_threads(input_bytes));
    let stack = Stack::with_placement(chosen.executor, threads, args.prepare_ahead, ThreadPlacement::OwnCpu);
    let (session, layer, platform) = (stack.session.clone(), stack.layer.clone(), stack.platform.clone());
    // A failed `jitld run` ends; nothing would link a failed object again.
    layer.set_retry_failed(false);
    // The program's first objects are linked for sure: their graphs build on the pool while
    // this thread reads the rest of the command line.
    layer.build_graphs_early(EARLY_GRAPHS);
    for plugin in hooks.plugins {
        layer.add_plugin(plugin);
    }
    let dump = args.dump_relocs.then(|| {
        let dump = Arc::new(RelocationDump::new());
        layer.add_plugin(dump.clone());
        dump
    });
    let mut program = Program {
        session: session.clone(),
        layer: layer.clone(),
        platform: platform.clone(),
        dylibs: Vec::new(),
        current: DylibId(0),
        lazy_impls: Vec::new(),
        lazy_stats: Arc::new(LazyStats::default()),
        roots: Vec::new(),
        definitions: Vec::new(),
        link_everything: args.noexec,
        search,
        position: 0,
        format: None,
        libraries: Vec::new(),
        generators: Vec::new(),
    };
    // `main` is named first unless the command line starts with `-jd`.
    if !matches!(args.ordered.first(), Some(InputArg::Dylib(_))) {
        program.current = program.dylib("main").map_err(one)?;
    }
    for input in &args.ordered {
        program.load(input).map_err(one)?;
    }
    // Needed once links begin, not while graphs build: done while a pool thread reads the
    // archives' indexes, which attaching waits for (0.1 ms of the sqlite program's start).
    install_debugging(&session, &layer, args).map_err(one)?;
    program.attach_generators().map_err(one)?;
    layer.build_graphs_early(0);
    super::open::forget_kept();
    let main = program.dylib("main").map_err(one)?;
    let process = stack.process_dylib().map_err(one)?;
    // Last, as the compiler driver's `-lc -lgcc`: libgcc.a, for what only it has.
    // Its members are compiled code like any other: they need the platform's runtime symbols
    // (`__tls_get_addr` for the decimal-float rounding mode, which is thread-local).
    if let Some(libgcc) = compiler_runtime_archive(&program.search) {
        platform.setup_dylib(process).map_err(one)?;
        session.add_generator(process, Arc::new(super::runtime_archive::RuntimeArchive::new(libgcc, layer.clone())));
    }
    program.set_link_orders(&args.link_orders, process).map_err(one)?;
    define_command_line_symbols(&session, main, args).map_err(one)?;
    let extra = match hooks.before_link {
        Some(before_link) => before_link(&session, &layer, main).map_err(one)?,
        None => Vec::new(),
    };
    if args.stats {
        print_stats_at_exit(layer.clone(), program.lazy_stats.clone());
    }

    let found = link_program(&program, main, args).map_err(|e| report(&session, e, &args.entry))?;
    if !extra.is_empty() {
        session.lookup(&session.search_order(main), &extra).map_err(|e| report(&session, e, &args.entry))?;
    }
    // The program gets the process to itself, as natively: code it reaches lazily links on
    // its own threads. They end while the memory the link freed (graphs, the pool's arenas)
    // goes back to the kernel: the program's peak memory then adds to what jitld keeps, not
    // to its link's high-water mark (json's peak RSS: -100 KB).
    let stopping = session.begin_stopping_materialization_threads();
    // SAFETY: malloc_trim only hands free memory back.
    unsafe { libc::malloc_trim(0) };
    if stopping.wait() > 0 && chosen.process.is_none() {
        crate::platform::single_thread::declare_if_single_threaded();
    }
    if let Some(code) = hooks.after_link.and_then(|after_link| after_link()) {
        return Ok(code);
    }
    if let Some(dump) = dump {
        super::output::print(&dump.render()).map_err(one)?;
    }
    if args.noexec {
        return Ok(0);
    }
    if let Some(before_run) = hooks.before_run {
        let loaded: Vec<String> = program.libraries.iter().filter_map(|library| library.loaded_path()).collect();
        before_run(&platform, found, &loaded);
    }
    // Thread-locals linked from now on (lazily) must fit: the program has started.
    super::reexec::disarm();
    let status = run_entry(&platform, found, args);
    match chosen.process {
        Some(other_process) => Ok(super::executor::finish(&other_process, status)),
        None => {
            let status = status.map_err(one)?;
            let _ = std::io::stdout().flush();
            // Leave as a returning `main` does: atexit handlers, finalizers, stdio flush.
            unsafe { libc::exit(status) }
        }
    }
}

/// Names for JIT'd code in faults, profiles and debuggers.
fn install_debugging(session: &ExecutionSession, layer: &ObjectLinkingLayer, args: &RunArgs) -> Result<(), JitError> {
    layer.add_plugin(Arc::new(CodeTable));
    session.add_removal_listener(Arc::new(|removed: &[_]| CodeTable::forget(removed)));
    if args.noexec {
        return Ok(());
    }
    install_fault_reporter();
    if args.perf_map {
        layer.add_plugin(Arc::new(PerfMap::create()?));
    }
    if args.gdb || debugger_listens() {
        let gdb = Arc::new(GdbRegistration::default());
        layer.add_plugin(gdb.clone());
        session.add_removal_listener(Arc::new(move |removed: &[_]| gdb.forget(removed)));
    }
    Ok(())
}

/// `--abs` and `--alias`, in `main`.
fn define_command_line_symbols(session: &ExecutionSession, main: DylibId, args: &RunArgs) -> Result<(), JitError> {
    let absolutes: Vec<_> =
        args.absolutes.iter().map(|(name, addr)| (session.intern(name), *addr, SymbolFlags::strong_data())).collect();
    session.define_absolute(main, &absolutes)?;
    let aliases = args
        .aliases
        .iter()
        .map(|spec| match spec.split_once('=') {
            Some((new, old)) => Ok((session.intern(new), session.intern(old))),
            None => Err(JitError::other(format!("--alias {spec}: expected NEW=OLD"))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    if aliases.is_empty() {
        return Ok(());
    }
    let mut order = vec![(main, LookupFlags::MatchAllSymbols)];
    order.extend(session.link_order(main));
    let olds: Vec<SymbolName> = aliases.iter().map(|&(_, old)| old).collect();
    let flags = session.lookup_flags(&order, &olds)?;
    let aliases = aliases.iter().zip(flags).map(|(&(new, old), f)| (new, old, f)).collect();
    session.define(main, Box::new(ReexportsUnit::new(order, aliases, "--alias".into())))
}

/// Links the entry and every command-line object's initializers (with --noexec: every
/// definition of every eager command-line object). Returns the entry if it was looked up.
fn link_program(program: &Program, main: DylibId, args: &RunArgs) -> Result<Option<u64>, JitError> {
    let session = &program.session;
    let mut entry = None;
    define_startup_no_ops(program, main)?;
    if !args.noexec {
        // `main` is `_main` where the format's C names take a prefix.
        let prefix = program.format.map_or("", |f| f.global_prefix());
        let name = match args.entry.starts_with(prefix) {
            true => args.entry.clone(),
            false => format!("{prefix}{}", args.entry),
        };
        let found = session.lookup(&session.search_order(main), &[session.intern(&name)])?;
        let found = found.first().ok_or_else(|| JitError::other(format!("entry symbol {name} not found")))?;
        // Jumping into data would only die of SIGSEGV (or worse, run it).
        if !found.flags.callable {
            return Err(JitError::other(format!(
                "entry symbol {name} is not a function (it is data); --entry takes a function"
            )));
        }
        entry = Some(match program.format.and_then(|f| f.entry_thunk(session.executor().target().arch, found.addr)) {
            Some(thunk) => enter_through(program, main, thunk)?,
            None => found.addr,
        });
    }
    for &dylib in &program.dylibs {
        let mut wanted: Vec<SymbolName> = program.roots.iter().filter(|(d, _)| *d == dylib).map(|&(_, n)| n).collect();
        if args.noexec {
            wanted.extend(program.definitions.iter().filter(|(d, _)| *d == dylib).map(|&(_, n)| n));
        }
        if !wanted.is_empty() {
            session.lookup(&[(dylib, LookupFlags::MatchAllSymbols)], &wanted)?;
        }
    }
    Ok(entry)
}

/// Links `thunk`, which calls the entry in its format's calling convention, and returns its
/// address: what the platform calls as `main`.
fn enter_through(program: &Program, main: DylibId, thunk: Vec<u8>) -> Result<u64, JitError> {
    let session = &program.session;
    let name = session.intern("$jitld$entry_thunk");
    let flags = SymbolFlags { scope: jitld_linker::Scope::Hidden, ..SymbolFlags::strong_function() };
    session.define(main, Box::new(code_unit(program, name, thunk, flags)))?;
    let found = session.lookup(&[(main, LookupFlags::MatchAllSymbols)], &[name])?;
    Ok(found.first().map_or(0, |s| s.addr))
}

/// Defines, weak (a real one wins), the functions the program's format's start-up would
/// have provided and jitld's platform makes unnecessary (MinGW's `__main`).
fn define_startup_no_ops(program: &Program, main: DylibId) -> Result<(), JitError> {
    let arch = program.session.executor().target().arch;
    for (name, code) in program.format.map(|f| f.startup_no_ops(arch)).unwrap_or_default() {
        let flags = SymbolFlags { strength: jitld_linker::Strength::Weak, ..SymbolFlags::strong_function() };
        let unit = code_unit(program, program.session.intern(name), code.to_vec(), flags);
        program.session.define(main, Box::new(unit))?;
    }
    Ok(())
}

fn code_unit(program: &Program, name: SymbolName, code: Vec<u8>, flags: SymbolFlags) -> DataUnit {
    let origin = format!("jitld's {}", program.session.names().resolve(name));
    DataUnit { layer: program.layer.clone(), origin, name, bytes: code, align: 16, flags }
}

/// Runs initializers and the entry in the executor; returns the entry's status.
fn run_entry(platform: &Arc<Platform>, entry: Option<u64>, args: &RunArgs) -> Result<i32, JitError> {
    let Some(entry) = entry else { return Ok(0) };
    let argv0 = args.argv0.clone().or_else(|| first_input(args)).unwrap_or_default();
    let argv: Vec<String> = std::iter::once(argv0).chain(args.args.iter().cloned()).collect();
    let executor = platform.session().executor().clone();
    let program_args = executor.program_args(&argv)?;
    platform.set_args(program_args);
    platform.run_finalizers_at_exit()?;
    if executor.in_this_process() {
        // From here on the program runs: with the signal state a native start gives it.
        crate::platform::signals::restore_start_state();
    }
    platform.run_initializers();
    executor.run_main(entry, program_args)
}

pub(super) fn first_input(args: &RunArgs) -> Option<String> {
    args.ordered.iter().find_map(|input| match input {
        InputArg::Path(path) | InputArg::Lazy(path) | InputArg::WholeArchive(path) => Some(path.clone()),
        _ => None,
    })
}

pub(super) fn print_stats_at_exit(layer: ObjectLinkingLayer, lazy: Arc<LazyStats>) {
    crate::platform::at_exit(Box::new(move || {
        use std::sync::atomic::Ordering::Relaxed;
        let stats = layer.stats();
        let mut err = std::io::stderr().lock();
        let _ = writeln!(
            err,
            "jitld stats: linked {} objects, {} archive members, {} synthesized graphs on {}; lazy stubs: {} created, {} hit",
            stats.objects.load(Relaxed),
            stats.archive_members.load(Relaxed),
            stats.synthesized.load(Relaxed),
            match layer.session().materialization_threads() {
                1 => "1 thread".to_string(),
                n => format!("{n} threads"),
            },
            lazy.created.load(Relaxed),
            lazy.hit.load(Relaxed),
        );
        let _ = match crate::link_heap::chunk_bytes() {
            Some(bytes) => writeln!(err, "jitld stats: small blocks from jitld's heap: {} KiB in chunks", bytes >> 10),
            None => writeln!(err, "jitld stats: small blocks from glibc's malloc (a small link)"),
        };
        if super::reexec::started_again() {
            let _ =
                writeln!(err, "jitld stats: started twice: thread-locals needed more static TLS than glibc's default");
        }
        for (phase, time) in stats.phase_times() {
            let _ = writeln!(err, "jitld stats: {phase:<18} {:>9.3} ms", time.as_secs_f64() * 1e3);
        }
    }));
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

/// The lines to print for `errors`, each once and in first-seen order: a symbol that several
/// lookups reached, or an archive member that failed for each of them, is reported once.
pub fn error_lines(errors: &[JitError]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    errors
        .iter()
        .flat_map(|e| e.to_string().split("\nerror: ").map(str::to_owned).collect::<Vec<_>>())
        .filter(|line| seen.insert(line.clone()))
        .collect()
}

/// `jitld graph`: each input an object, or one member of an archive as `lib.a(member.o)`.
pub fn graph(inputs: &[String]) -> Result<i32, Errors> {
    let names = jitld_linker::NamePool::new();
    for input in inputs {
        let buffer = match member_spec(Path::new(input)) {
            Some((archive, member)) => open_member(archive, member, &names),
            None => open_input(Path::new(input)),
        }
        .map_err(|e| vec![e])?;
        let kind = format::sniff(&buffer);
        let FileKind::Object(object_format) = kind else {
            let what = match kind {
                FileKind::Archive => {
                    let first = Archive::parse(buffer.clone(), &names)
                        .ok()
                        .and_then(|a| a.member_names().next().map(str::to_owned))
                        .unwrap_or_else(|| "member.o".into());
                    format!("a static archive; name one of its members, as in {input}({first})")
                }
                FileKind::SharedLibrary => "a shared library or executable, not a relocatable object".into(),
                FileKind::LlvmBitcode => format::LLVM_BITCODE.into(),
                _ => "unrecognized file format".into(),
            };
            return Err(vec![JitError::other(format!("{input}: {what}"))]);
        };
        let graph = object_format.build_graph(&buffer, &names).map_err(|e| vec![e.into()])?;
        super::output::print(&jitld_linker::graph::dump_graph(&graph)).map_err(|e| vec![e])?;
    }
    Ok(0)
}
