//! How to use jitld like LLJIT: object bytes in, a typed function pointer out.
//!
//! ```text
//! printf 'int add(int a, int b) { return a + b; }\n' > add.c && cc -c add.c
//! cargo run --example embed -- add.o add 2 3        # prints 5
//! ```

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, object, function, a, b] = args.as_slice() else {
        return Err("usage: embed OBJECT FUNCTION A B   (FUNCTION is `int f(int, int)`)".into());
    };
    let jit = jitld::Jit::new()?;
    jit.add_object_file(object)?;
    // SAFETY: the caller promises the function has this signature.
    let f = unsafe { jit.get::<extern "C" fn(i32, i32) -> i32>(function)? };
    println!("{}", f(a.parse()?, b.parse()?));
    Ok(())
}
