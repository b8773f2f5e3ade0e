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
    /// Copies that must agree (COFF COMDAT `SAME_SIZE`, `EXACT_MATCH`, `LARGEST`) do not.
    #[error("mismatched copies of {name}: in {first} and in {second}: {why}")]
    MismatchedCopies { name: String, first: String, second: String, why: &'static str },
    #[error("JITDylib {0:?} already exists")]
    DuplicateDylib(String),
    /// Something this unit needed failed; the cause was reported on its own.
    #[error("{unit}: not linked, because {cause}")]
    DependencyFailed { unit: String, cause: Arc<JitError> },
    /// The program ended while the JIT ran its code (an initializer called `exit`).
    #[error("the program exited with status {0}")]
    ProgramExited(i32),
    /// The executor process died of a signal while running the program's code.
    #[error("the executor {0}")]
    ExecutorCrashed(crate::executor::remote::Crash),
    #[error("{0}")]
    Other(String),
}

fn undefined_message(names: &[(String, String)]) -> String {
    let mut lines: Vec<String> = names
        .iter()
        .map(|(name, by)| match demangle(name).or_else(|| jitld_linker::format::describe_published(name)) {
            Some(readable) => format!("undefined symbol: {name} [{readable}] (referenced by {by})"),
            None => format!("undefined symbol: {name} (referenced by {by})"),
        })
        .collect();
    // Forgetting the C++ runtime is the usual cause; a native `gcc` link fails the same way.
    if names.iter().any(|(name, _)| is_cxx_runtime(name)) {
        lines.push("C++ runtime symbols are undefined: did you mean to add -lstdc++?".into());
    }
    lines.join("\nerror: ")
}

/// The readable form of an Itanium-mangled C++ name, or `None` for any other name.
pub fn demangle(name: &str) -> Option<String> {
    if !name.starts_with("_Z") {
        return None;
    }
    let symbol = cpp_demangle::Symbol::new(name).ok()?;
    let options = cpp_demangle::DemangleOptions::new().no_return_type();
    symbol.demangle(&options).ok().filter(|text| text != name)
}

/// Names that only libstdc++ (or libsupc++) defines: the `std` namespace, the C++ ABI's
/// `__cxa_*` entry points and the personality routine, and RTTI for the ABI's classes.
fn is_cxx_runtime(name: &str) -> bool {
    const PREFIXES: [&str; 8] = ["_ZSt", "_ZNSt", "_ZNKSt", "_ZTVSt", "_ZTISt", "_ZTVN10__cxxabiv", "_Znwm", "_Znam"];
    PREFIXES.iter().any(|p| name.starts_with(p))
        || name.starts_with("_ZdlPv")
        || name.starts_with("_ZdaPv")
        || name.starts_with("__cxa_") && name != "__cxa_atexit" && name != "__cxa_finalize"
        || name == "__gxx_personality_v0"
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
