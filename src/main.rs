fn main() {
    std::process::exit(jitld::cli::main());
}
