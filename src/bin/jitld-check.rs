//! `jitld check`, as a binary of its own: the checker's instruction decoder and pattern
//! matching stay out of `jitld`, whose every run would otherwise load (and relocate) them.
//! `jitld check ARGS` runs this.

/// As in `jitld`: the program must start with the signal state it was given.
#[used]
#[link_section = ".init_array"]
static RECORD_SIGNAL_STATE: extern "C" fn() = jitld::platform::signals::record_start_state;

fn main() {
    std::process::exit(jitld::cli::check_main());
}
