//! Shared by the examples: C source → object bytes, with the system compiler.

/// Compiles `source` with `cc -O2 -fPIC -c` and returns the object file's bytes.
pub fn compile(name: &str, source: &str) -> Vec<u8> {
    let dir = std::env::temp_dir().join(format!("jitld-examples-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    let (c, o) = (dir.join(format!("{name}.c")), dir.join(format!("{name}.o")));
    std::fs::write(&c, source).expect("write source");
    let status = std::process::Command::new("cc").args(["-O2", "-fPIC", "-c"]).arg(&c).arg("-o").arg(&o).status();
    assert!(status.is_ok_and(|s| s.success()), "cc failed on {name}.c");
    std::fs::read(&o).expect("read object")
}
