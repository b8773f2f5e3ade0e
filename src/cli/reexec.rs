//! Room for JIT'd thread-local storage.
//!
//! JIT'd thread-local blocks live in glibc's static TLS surplus (see `platform::tls`), which
//! is fixed when the process starts: 512 bytes unless the `glibc.rtld.optional_static_tls`
//! tunable says otherwise. So `jitld run` starts itself again, once, with the tunable raised,
//! when thread-locals need more; the second start takes the variables it added out of the
//! environment again, so the program sees exactly the environment jitld was given, in the
//! same order. The second start cost about 0.75 ms.
//!
//! When to start again: when glibc has no room left for a block, before the program runs.
//! `platform::tls` reports it (`short_of_room`) when glibc cannot load a block for the
//! objects jitld links, and so does loading a shared library with static TLS of its own;
//! jitld then starts again, the link it was in thrown away. So a program without
//! thread-locals (most), or with a few that fit (the compiler's `libgcc.a` holds 208
//! bytes), starts once, and nothing reads the inputs up front (that was 0.66 ms of the
//! sqlite program's start, in its 102 archive members and `libm`). What cannot wait is
//! decided before anything else: an input linked lazily (its block is placed while the
//! program runs) and an input that can be read only once (a pipe).

use super::inputs::{expand_linker_script, InputArg, LibraryPath};
use super::RunArgs;
use jitld_linker::format::thread_locals::may_use_static_tls;
use jitld_linker::format::FileKind;
use std::ffi::{CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Static TLS surplus per thread for JIT'd code.
const SURPLUS: &str = "glibc.rtld.optional_static_tls=262144";
/// Set in the second start: the original GLIBC_TUNABLES, or "-" when there was none.
const MARK: &str = "JITLD_ORIGINAL_GLIBC_TUNABLES";

/// Call first thing in `main`: in the second start, puts the environment back as it was.
pub fn restore_environment() {
    if let Some(original) = std::env::var_os(MARK) {
        std::env::remove_var(MARK);
        match original.to_str() {
            Some("-") => std::env::remove_var("GLIBC_TUNABLES"),
            _ => std::env::set_var("GLIBC_TUNABLES", original),
        }
        SECOND_START.store(true, Ordering::Relaxed);
    }
}

static SECOND_START: AtomicBool = AtomicBool::new(false);

/// The command line to start again with, until the program runs (`disarm`).
static ARMED: Mutex<Option<Vec<String>>> = Mutex::new(None);

/// Call before `jitld run` does anything (`args` is its parsed command line, `raw` the words
/// to start again with): starts again at once if what cannot wait may need room, else
/// arms the start again for when a link is short of it.
pub fn ensure_tls_surplus(raw: &[String], args: &RunArgs) {
    if SECOND_START.load(Ordering::Relaxed) || args.noexec {
        return;
    }
    // Another process runs the code, and gets its surplus from `executor::remote::spawn`.
    if args.oop || args.executor.is_some() || args.connect.is_some() {
        return;
    }
    if std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("optional_static_tls")) {
        return;
    }
    if inputs_that_cannot_wait_may_use_static_tls(args) {
        start_again(raw);
        return;
    }
    *ARMED.lock().unwrap_or_else(|e| e.into_inner()) = Some(raw.to_vec());
    crate::platform::tls::when_short_of_room(start_again_if_armed);
}

/// The program is about to run: a block placed from now on (by a lazy link) must fit.
pub fn disarm() {
    ARMED.lock().unwrap_or_else(|e| e.into_inner()).take();
}

/// Whether this process started again for thread-local room (for `--stats`).
pub fn started_again() -> bool {
    SECOND_START.load(Ordering::Relaxed)
}

fn start_again_if_armed() {
    let armed = ARMED.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(raw) = armed {
        start_again(&raw);
    }
}

/// Starts `raw` again with the surplus raised; returns only if that failed.
fn start_again(raw: &[String]) {
    let tunables = std::env::var("GLIBC_TUNABLES").ok();
    let mut env: Vec<CString> = std::env::vars_os()
        .filter(|(k, _)| k != "GLIBC_TUNABLES")
        .filter_map(|(k, v)| CString::new([k.as_bytes(), b"=", v.as_bytes()].concat()).ok())
        .collect();
    let joined = match &tunables {
        Some(t) => format!("{t}:{SURPLUS}"),
        None => SURPLUS.to_string(),
    };
    env.extend(CString::new(format!("GLIBC_TUNABLES={joined}")).ok());
    env.extend(CString::new(format!("{MARK}={}", tunables.as_deref().unwrap_or("-"))).ok());
    let argv: Vec<CString> = raw.iter().filter_map(|a| CString::new(OsStr::new(a).as_bytes()).ok()).collect();
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let mut env_ptrs: Vec<*const libc::c_char> = env.iter().map(|e| e.as_ptr()).collect();
    env_ptrs.push(std::ptr::null());
    let exe = CString::new("/proc/self/exe").expect("no NUL");
    // The next start must see the signal state we were given, not Rust's ignored SIGPIPE.
    crate::platform::signals::restore_start_state();
    // SAFETY: null-terminated arrays of C strings that outlive the call. On failure we just
    // go on with the default surplus (and Rust's SIGPIPE again).
    unsafe { libc::execve(exe.as_ptr(), argv_ptrs.as_ptr(), env_ptrs.as_ptr()) };
    // SAFETY: back to what Rust's runtime set up, as before the attempt.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
}

/// Whether an input that cannot wait for a link to run short may need static TLS: one linked
/// while the program runs (`--lazy`), or one read only once (a pipe); `true` when unsure.
fn inputs_that_cannot_wait_may_use_static_tls(args: &RunArgs) -> bool {
    // A pipe or a device: there, but neither a file nor a directory (a missing input fails
    // the link with its own message, started again or not).
    let read_once = |path: &str| {
        super::open::member_spec(Path::new(path)).is_none()
            && std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir())
    };
    args.ordered.iter().any(|input| match input {
        InputArg::Dylib(_) | InputArg::ObjectDir(_) | InputArg::Library(_) => false,
        // A lazy directory's objects link while the program runs, unread here: assume the worst.
        InputArg::LazyObjectDir(_) => true,
        InputArg::Path(path) | InputArg::WholeArchive(path) => read_once(path),
        InputArg::HiddenArchive(inner) => matches!(&**inner, InputArg::Path(path) if read_once(path)),
        InputArg::Lazy(path) => match super::open::member_spec(Path::new(path)) {
            Some(_) => true,
            // The search path only for a lazy linker script (its reading lists a directory).
            None => file_may_use_static_tls(Path::new(path), &LibraryPath::host(&args.search)),
        },
    })
}

fn file_may_use_static_tls(path: &Path, search: &LibraryPath) -> bool {
    if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        return true;
    }
    let Ok(buffer) = super::open::open_input(path) else { return true };
    super::open::keep_for_link(path, &buffer);
    let bytes = buffer.bytes();
    if bytes.starts_with(b"\x7fELF") && bytes.get(16) == Some(&3) && already_loaded(path) {
        // Its thread-locals were placed when this process started (the C library).
        return false;
    }
    if jitld_linker::format::sniff(&buffer) == FileKind::LinkerScript {
        // A GNU ld script (`libm.so`) stands for the files it names.
        let text = String::from_utf8_lossy(bytes);
        // Those inside `AS_NEEDED` count too: whether they load is known only while linking.
        return expand_linker_script(path, &text, search)
            .map_or(true, |files| files.iter().any(|f| file_may_use_static_tls(&f.path, search)));
    }
    may_use_static_tls(bytes)
}

/// Whether the shared library at `path` is loaded in this process already (then opening it
/// again takes no new thread-local space).
fn already_loaded(path: &Path) -> bool {
    let Ok(c_path) = CString::new(path.as_os_str().as_bytes()) else { return false };
    // SAFETY: RTLD_NOLOAD loads nothing; a handle it returns is closed at once.
    unsafe {
        let handle = libc::dlopen(c_path.as_ptr(), libc::RTLD_LAZY | libc::RTLD_NOLOAD);
        if handle.is_null() {
            return false;
        }
        libc::dlclose(handle);
    }
    true
}
