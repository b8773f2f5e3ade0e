//! jitld's own standard output (`graph`, `--dump-relocs`). A full or closed stdout is an
//! ordinary error, not a panic in `print!`; a reader that went away (`| head -1`) ends jitld
//! the way it ends `cat`: by SIGPIPE when that is the disposition jitld was started with.

use crate::error::JitError;
use std::io::Write;

/// Writes `text` to stdout and flushes it.
pub fn print(text: &str) -> Result<(), JitError> {
    let mut out = std::io::stdout().lock();
    let result = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    let Err(error) = result else { return Ok(()) };
    if error.kind() == std::io::ErrorKind::BrokenPipe {
        crate::platform::signals::restore_start_state();
        // SAFETY: raising a signal at ourselves; if it is ignored we report the error below.
        unsafe { libc::raise(libc::SIGPIPE) };
    }
    Err(JitError::other(format!("writing output: {}", describe(&error))))
}

/// The C library's text for the error, without Rust's " (os error N)".
fn describe(error: &std::io::Error) -> String {
    match error.raw_os_error() {
        // SAFETY: strerror returns a static C string for any error number.
        Some(code) => unsafe { std::ffi::CStr::from_ptr(libc::strerror(code)) }.to_string_lossy().into_owned(),
        None => error.to_string(),
    }
}
