//! `jitld run --cache[=DIR]`: start from a prelinked image when one was stored for the same
//! command line, else link cold, record the image, store it, and run.
//!
//! What cannot be an image (another executor, lazy objects, debugging output made at link
//! time) runs as without `--cache`, and `--stats` says why. A warm start that cannot place
//! the image (its range is taken) links cold; a bad entry is reported by the cache and
//! linked cold over.

use super::inputs::{compiler_runtime_archive, expand_linker_script, find_library, InputArg, LibraryPath};
use super::open::member_spec;
use super::run::{run_with, RunHooks};
use super::RunArgs;
use crate::cache::image::digests::DigestMemo;
use crate::cache::image::file::{self, OpenError};
use crate::cache::image::key::ImageKey;
use crate::cache::image::manifest::{self, Identity, Manifest};
use crate::cache::image::mapping::{MapError, MappedImage};
use crate::cache::image::recorder::ImageRecorder;
use crate::cache::image::symbols::ExternalResolver;
use crate::cache::image::CopiedVariable;
use crate::cache::{CacheKey, DirectoryCache};
use crate::error::JitError;
use crate::executor::{Executor, InProcessExecutor};
use crate::platform::prelinked::{self, StartError};
use jitld_linker::arch::Arch;
use jitld_linker::format::{self, FileKind};
use jitld_linker::InputBuffer;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

type Errors = Vec<JitError>;

/// What a command line's image is stored under. (The shared libraries a warm start loads
/// are the image's: the ones its cold link loaded.)
struct Keyed {
    key: CacheKey,
    /// The entry whose pages were checked in full (from the manifest).
    checked: Option<Identity>,
    /// Whether the key came from the command line's manifest (not computed from the files).
    from_manifest: bool,
}

/// `raw` is the command line, for starting again with room for thread-locals
/// (`reexec`): a warm start whose image needs none, or fits in what glibc gave this
/// process, does not start twice.
pub fn run(raw: &[String], args: &RunArgs) -> Result<i32, Errors> {
    let started = Instant::now();
    let note = |why: &str| {
        if args.stats {
            eprintln!("jitld stats: image cache: not used: {why}");
        }
    };
    let cold = |args: &RunArgs| {
        super::reexec::ensure_tls_surplus(raw, args);
        super::run::run(args)
    };
    if let Err(why) = representable(args) {
        note(&why);
        return cold(args);
    }
    let dir = super::cache_command::directory(args.cache.as_deref()).map_err(|e| vec![e])?;
    // The command line's manifest says what its key is while nothing it was computed
    // from has changed (it was written only for a program of this architecture).
    let began = std::time::SystemTime::now();
    let manifest_path = manifest::path_for(&dir, command_line(args));
    let mut manifest = Manifest::read_valid(&manifest_path);
    let keyed = match &manifest {
        Some(m) => Keyed { key: m.key.unwrap_or(CacheKey([0; 32])), checked: m.checked, from_manifest: true },
        None => {
            let computed = program_arch_is_host(args).and_then(|()| key(args, DigestMemo::new(Some(dir.clone()))));
            match computed {
                Ok((keyed, mut files)) => {
                    files.extend(std::env::current_exe().ok());
                    files.extend(crate::cache::image::key::loaded_objects().into_iter().map(PathBuf::from));
                    manifest = Manifest::new(keyed.key, &files, began);
                    if let Some(m) = &manifest {
                        m.write(&manifest_path);
                    }
                    keyed
                }
                Err(why) => {
                    note(&why);
                    return cold(args);
                }
            }
        }
    };
    // A warm start reads the entry itself: the directory is opened (and probed for
    // writing) only to store one.
    let path = dir.join(format!("{}.o", keyed.key.to_hex()));
    let damaged = |defect: &file::Defect| {
        eprintln!("jitld: warning: cache entry {} is {defect}; ignoring it and linking again", path.display());
        let _ = std::fs::remove_file(&path);
    };
    let keyed_at = Instant::now();
    let faults_at_key = minor_faults(args.stats);
    match file::open(&path, &keyed.key) {
        Ok(entry) => match warm_start(args, &entry, &keyed, [started, keyed_at], faults_at_key, &mut |checked| {
            // Checked in full: the next start need not check the pages again, while the
            // entry stays as it is (see `manifest`).
            if let Some(m) = manifest.as_mut().filter(|_| checked.settled(std::time::SystemTime::now())) {
                m.checked = Some(checked);
                m.write(&manifest_path);
            }
        }) {
            Ok(status) => {
                let _ = std::io::stdout().flush();
                // Leave as a returning `main` does: atexit handlers, finalizers, stdio.
                unsafe { libc::exit(status) }
            }
            Err(WarmError::Fallback(why)) => note(&format!("the image cannot start here ({why}); linking")),
            Err(WarmError::Damaged(defect)) => damaged(&defect),
            Err(WarmError::Failed(e)) => return Err(vec![e]),
        },
        Err(OpenError::Missing) => {}
        Err(OpenError::Unreadable(e)) => {
            eprintln!("jitld: warning: cache entry {}: cannot read it ({e}); linking", path.display())
        }
        Err(OpenError::Damaged(defect)) => damaged(&defect),
    }
    super::reexec::ensure_tls_surplus(raw, args);
    let cache = Arc::new(DirectoryCache::open(dir, args.cache_limit));
    cold_link(args, keyed, cache)
}

enum WarmError {
    Fallback(String),
    Damaged(file::Defect),
    Failed(JitError),
}

/// What names a command line's manifest: everything `key` reads from the command line,
/// the directory relative paths start from, jitld's executable and the libraries loaded.
fn command_line(args: &RunArgs) -> crate::cache::KeyBuilder {
    let mut parts = CacheKey::builder().part("manifest", "1");
    parts = parts.part("cwd", std::env::current_dir().unwrap_or_default().as_os_str().as_encoded_bytes());
    parts = parts.part("exe", std::env::current_exe().unwrap_or_default().as_os_str().as_encoded_bytes());
    for loaded in crate::cache::image::key::loaded_objects() {
        parts = parts.part("loaded", loaded);
    }
    parts = parts.part("entry", &args.entry);
    for (name, addr) in &args.absolutes {
        parts = parts.part("abs", format!("{name}={addr:#x}"));
    }
    for list in [&args.aliases, &args.link_orders, &args.search] {
        parts = parts.part("list", list.join("\n"));
    }
    parts.part("inputs", format!("{:?}", args.ordered))
}

/// Why `args` cannot be kept as an image, if so (the architecture is checked with the key:
/// it reads the inputs).
fn representable(args: &RunArgs) -> Result<(), String> {
    if args.oop || args.executor.is_some() || args.connect.is_some() {
        return Err("the program runs in another process".into());
    }
    if args.noexec || args.slab_address.is_some() {
        return Err("the program does not run".into());
    }
    if args.perf_map || args.gdb || args.dump_relocs || crate::debug::debugger_listens() {
        return Err("debugging output is made while linking".into());
    }
    Ok(())
}

fn program_arch_is_host(args: &RunArgs) -> Result<(), String> {
    if super::target::program_arch(&args.ordered).map_err(|e| e.to_string())? != Arch::host() {
        return Err("the program is for another architecture".into());
    }
    Ok(())
}

/// The key, and every file and directory it was computed from.
fn key(args: &RunArgs, digests: DigestMemo) -> Result<(Keyed, Vec<PathBuf>), String> {
    let search = LibraryPath::host(&args.search);
    let mut key = ImageKey::new().process_libraries();
    key = key.flag("entry", &args.entry);
    for (name, addr) in &args.absolutes {
        key = key.flag("abs", format!("{name}={addr:#x}"));
    }
    for list in [&args.aliases, &args.link_orders, &args.search] {
        key = key.flag("list", list.join("\n"));
    }
    let files = search.directories().cloned().collect();
    let mut walk = Walk { key, digests, search, files };
    for input in &args.ordered {
        walk.input(input)?;
    }
    if let Some(libgcc) = compiler_runtime_archive(&walk.search) {
        walk.bytes(&libgcc)?;
    }
    let keyed = Keyed { key: walk.key.finish(), checked: None, from_manifest: false };
    Ok((keyed, walk.files))
}

/// The inputs, as `run` loads them, feeding the key.
struct Walk {
    key: ImageKey,
    digests: DigestMemo,
    search: LibraryPath,
    /// What was read or looked at.
    files: Vec<PathBuf>,
}

impl Walk {
    fn input(&mut self, input: &InputArg) -> Result<(), String> {
        match input {
            InputArg::Dylib(name) => {
                self.flag("jd", name);
                Ok(())
            }
            InputArg::Path(path) => match member_spec(Path::new(path)) {
                Some((archive, member)) => {
                    self.flag("member", member);
                    self.bytes(archive)
                }
                None => self.path(Path::new(path)),
            },
            InputArg::Library(name) => self.path(&find_library(name, &self.search).map_err(|e| e.to_string())?),
            InputArg::WholeArchive(path) => {
                self.flag("whole-archive", path);
                self.bytes(Path::new(path))
            }
            InputArg::HiddenArchive(inner) => {
                self.flag("hidden", "");
                match &**inner {
                    InputArg::Library(name) => {
                        self.bytes(&find_library(name, &self.search).map_err(|e| e.to_string())?)
                    }
                    InputArg::Path(path) => self.bytes(Path::new(path)),
                    _ => Err("a hidden archive that is not a file".into()),
                }
            }
            InputArg::Lazy(_) | InputArg::LazyObjectDir(_) => Err("lazy objects link while the program runs".into()),
            InputArg::ObjectDir(_) => Err("an object directory's contents are not in the key".into()),
        }
    }

    fn flag(&mut self, name: &str, value: &str) {
        self.key = std::mem::take(&mut self.key).flag(name, value);
    }

    /// An input by path: shared libraries by identity (as-needed ones too, loaded or not: a
    /// new one might be needed where the old was not), linker scripts with what they name,
    /// everything else by its contents.
    fn path(&mut self, path: &Path) -> Result<(), String> {
        self.files.push(path.to_path_buf());
        let cannot = |e: std::io::Error| format!("{}: {e}", path.display());
        // The kind is in the first bytes; only a linker script is read whole here.
        let mut head = Vec::with_capacity(4096);
        std::fs::File::open(path).and_then(|f| f.take(4096).read_to_end(&mut head)).map_err(cannot)?;
        match format::sniff(&InputBuffer::from_vec(path.display().to_string().as_str(), head)) {
            FileKind::SharedLibrary => self.key = std::mem::take(&mut self.key).library(path),
            FileKind::LinkerScript => {
                self.bytes(path)?;
                let text = std::fs::read_to_string(path).map_err(cannot)?;
                for named in expand_linker_script(path, &text, &self.search).map_err(|e| e.to_string())? {
                    self.path(&named.path)?;
                }
            }
            _ => self.bytes(path)?,
        }
        Ok(())
    }

    fn bytes(&mut self, path: &Path) -> Result<(), String> {
        self.files.push(path.to_path_buf());
        let digest = self.digests.digest(path).map_err(|e| format!("{}: {e}", path.display()))?;
        self.key = std::mem::take(&mut self.key).contents(path, &digest);
        Ok(())
    }
}

/// `[started, keyed]`: when `jitld run` started, and when the key was known (for `--stats`).
/// `checked` hears of an entry whose pages were checked in full (not needed again while
/// the entry keeps its identity: `manifest.checked`).
fn warm_start(
    args: &RunArgs,
    entry: &file::Entry,
    keyed: &Keyed,
    times: [Instant; 2],
    faults_at_key: u64,
    checked: &mut dyn FnMut(Identity),
) -> Result<i32, WarmError> {
    let opened = Instant::now();
    let faults_at_open = minor_faults(args.stats);
    let check_pages = keyed.checked != Some(entry.identity);
    let mapped = MappedImage::map(entry, check_pages).map_err(|e| match e {
        MapError::Unavailable(why) => WarmError::Fallback(why),
        MapError::Damaged(defect) => WarmError::Damaged(defect),
    })?;
    if check_pages {
        checked(entry.identity);
    }
    let image = &entry.image;
    let checked = Instant::now();
    let faults_at_check = minor_faults(args.stats);
    let executor: Arc<dyn Executor> = Arc::new(InProcessExecutor::new());
    // The libraries the cold link loaded, and only those: an as-needed one it bound nothing
    // to stays unloaded here too.
    let resolver = ExternalResolver::new(executor.clone(), &args.absolutes, &image.libraries)
        .map_err(|e| WarmError::Fallback(e.to_string()))?;
    let loaded = Instant::now();
    let faults_at_load = minor_faults(args.stats);
    crate::debug::install_fault_reporter();
    let argv0 = args.argv0.clone().or_else(|| super::run::first_input(args)).unwrap_or_default();
    let argv: Vec<String> = std::iter::once(argv0).chain(args.args.iter().cloned()).collect();
    if args.stats {
        let (runs, fixups) = (entry.runs.len(), image.externals.len());
        let bytes: u64 = entry.runs.iter().map(|r| r.len).sum();
        let tls: u64 = image.tls.iter().map(|b| b.size).sum();
        let key_from = if keyed.from_manifest { "the command line's manifest" } else { "the inputs" };
        let pages = if check_pages { "checked" } else { "checked before, unchanged since" };
        let [started, keyed] = times;
        crate::platform::at_exit(Box::new(move || {
            let (ready, cpu, faults_at_ready) =
                READY.get().copied().unwrap_or((loaded, Default::default(), faults_at_load));
            let ms = |from: Instant, to: Instant| to.saturating_duration_since(from).as_secs_f64() * 1e3;
            let mut err = std::io::stderr().lock();
            let _ = writeln!(
                err,
                "jitld stats: linked 0 objects, 0 archive members, 0 synthesized graphs on 0 threads; lazy stubs: 0 created, 0 hit"
            );
            let _ = writeln!(
                err,
                "jitld stats: image cache: hit: no graph built; key from {key_from}; {runs} page runs ({bytes} bytes) \
                 mapped, {pages}; {fixups} external fix-ups redone, {tls} bytes of thread-locals"
            );
            let _ = writeln!(err, "jitld stats: {:<18} {:>9.3} ms", "image start", ms(started, ready));
            let _ = writeln!(
                err,
                "jitld stats: image start: key {:.3} ms, entry read {:.3} ms, pages mapped and checked {:.3} ms, \
                 libraries loaded {:.3} ms, fixed up and protected {:.3} ms; process CPU time before the program {:.3} ms; \
                 page faults: {} before the key, then {} {} {} {} {}",
                ms(started, keyed),
                ms(keyed, opened),
                ms(opened, checked),
                ms(checked, loaded),
                ms(loaded, ready),
                cpu.as_secs_f64() * 1e3,
                faults_at_key,
                faults_at_open - faults_at_key,
                faults_at_check - faults_at_open,
                faults_at_load - faults_at_check,
                faults_at_ready - faults_at_load,
                minor_faults(true) - faults_at_ready,
            );
        }));
    }
    let ready = || {
        if args.stats {
            let _ = READY.set((Instant::now(), process_cpu_time(), minor_faults(true)));
        }
    };
    prelinked::start(image, &entry.runs, mapped, &resolver, &executor, &argv, &ready).map_err(|e| match e {
        StartError::Fallback(why) => WarmError::Fallback(why),
        StartError::Failed(e) => WarmError::Failed(e),
    })
}

/// When the image was ready to run (initializers next), the process's CPU time and minor
/// page faults then: for `--stats`.
static READY: std::sync::OnceLock<(Instant, std::time::Duration, u64)> = std::sync::OnceLock::new();

/// Minor page faults so far, when `--stats` wants them (0 otherwise: `getrusage` is a system
/// call, five per warm start).
fn minor_faults(wanted: bool) -> u64 {
    if !wanted {
        return 0;
    }
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a buffer of the right type.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    usage.ru_minflt as u64
}

/// The CPU time this process has used so far (its start included: the kernel's `exec`,
/// the dynamic loader).
fn process_cpu_time() -> std::time::Duration {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a clock every Linux has, and a place for its value.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut now) };
    std::time::Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// Links as without `--cache`, recording the image; stores it before the program runs.
fn cold_link(args: &RunArgs, keyed: Keyed, cache: Arc<DirectoryCache>) -> Result<i32, Errors> {
    let recorder = ImageRecorder::new(Arch::host());
    let memory_recorder = recorder.clone();
    let (stats, absolutes) = (args.stats, args.absolutes.clone());
    let hooks = RunHooks {
        plugins: vec![Arc::new(recorder.clone())],
        memory: Some(Box::new(move |memory| memory_recorder.memory(memory))),
        before_run: Some(Box::new(move |platform, entry, libraries| {
            let said = match store(&recorder, platform, entry, &keyed, libraries, &absolutes, &cache) {
                Ok(()) => format!("miss: stored {}", keyed.key),
                Err(why) => format!("miss: not stored: {why}"),
            };
            if stats {
                eprintln!("jitld stats: image cache: {said}");
            }
        })),
        ..RunHooks::default()
    };
    run_with(args, hooks)
}

fn store(
    recorder: &ImageRecorder,
    platform: &Arc<crate::platform::Platform>,
    entry: Option<u64>,
    keyed: &Keyed,
    libraries: &[String],
    absolutes: &[(String, u64)],
    cache: &DirectoryCache,
) -> Result<(), String> {
    if let Some(why) = cache.disabled() {
        return Err(format!("the cache directory is off ({why})"));
    }
    let entry = entry.ok_or("no entry")?;
    if crate::platform::stack_made_executable() {
        return Err("the program needs executable stacks".into());
    }
    let executor = platform.session().executor().clone();
    let resolver = ExternalResolver::new(executor, absolutes, libraries).map_err(|e| e.to_string())?;
    let copies = crate::platform::copy_relocation::made()
        .into_iter()
        .map(|(name, addr, size)| CopiedVariable { addr, size, name })
        .collect();
    let image = recorder.snapshot(entry, copies, platform.startup_order(), &resolver, libraries)?;
    cache.store_entry(&keyed.key, &file::encode(&keyed.key, &image)?);
    match cache.disabled() {
        Some(why) => Err(why),
        None => Ok(()),
    }
}
