//! How to remove code: everything added through a resource tracker goes away together —
//! symbols, memory, and the code's finalizers run first. The same name can then be defined
//! again.

#[path = "common/mod.rs"]
mod common;

use jitld::Jit;
use jitld_linker::InputBuffer;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let jit = Jit::new()?;
    let session = jit.session();
    for version in 1..=3 {
        let source = format!(
            "#include <stdio.h>\n__attribute__((destructor)) static void bye(void) {{ printf(\"version {version} removed\\n\"); fflush(stdout); }}\nint version(void) {{ return {version}; }}\n"
        );
        let tracker = session.create_resource_tracker(jit.main_dylib());
        jit.layer().add_tracked(&tracker, InputBuffer::from_vec("version.o", common::compile("version", &source)))?;
        // SAFETY: `version` is `int version(void)`.
        let f = unsafe { jit.get::<extern "C" fn() -> i32>("version")? };
        println!("version() = {}", f());
        tracker.remove()?;
        println!("looked up after removal: {}", jit.lookup("version").is_ok());
    }
    Ok(())
}
