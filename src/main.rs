/// Runs before Rust's runtime (which ignores SIGPIPE): the program must start with the signal
/// state jitld was given.
#[used]
#[link_section = ".init_array"]
static RECORD_SIGNAL_STATE: extern "C" fn() = jitld::platform::signals::record_start_state;

fn main() {
    std::process::exit(jitld::cli::main());
}
