//! `Jit`: the few lines from object bytes to a typed function pointer (ORC's LLJIT and
//! LLLazyJIT in one). A session with a `main` JITDylib, the platform, and the process's
//! symbols behind it; objects can be added eagerly or behind lazy stubs.
//!
//! ```no_run
//! let jit = jitld::Jit::builder().threads(2).build()?;
//! jit.add_object_file("add.o")?;
//! let add = unsafe { jit.get::<extern "C" fn(i32, i32) -> i32>("add")? };
//! assert_eq!(add(2, 3), 5);
//! # Ok::<(), jitld::JitError>(())
//! ```

use crate::error::{JitError, Result};
use crate::executor::{Executor, InProcessExecutor};
use crate::generators::{ArchiveGenerator, DynamicLibraryGenerator, ObjectDirGenerator};
use crate::layers::ObjectLinkingLayer;
use crate::lazy::{self, LazyStats};
use crate::platform::Platform;
use crate::session::{DylibId, ExecutionSession, LookupFlags, ThreadPlacement};
use jitld_linker::memory::MemoryManager;
use jitld_linker::InputBuffer;
use std::marker::PhantomData;
use std::path::Path;
use std::sync::Arc;

pub struct JitBuilder {
    threads: usize,
    prepare_ahead: bool,
    executor: Option<Arc<dyn Executor>>,
}

impl JitBuilder {
    /// Materialization threads in all (default 1: on the thread that looks up).
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads;
        self
    }

    /// A helper thread parses the next objects into graphs, and readies the memory of links
    /// that wait for their externals, while the materializing threads go on (default off).
    /// Every address stays as it would be without it; it costs a thread and, since graphs are
    /// built in that thread's own `malloc` arena, some peak memory.
    pub fn prepare_ahead(mut self, prepare_ahead: bool) -> Self {
        self.prepare_ahead = prepare_ahead;
        self
    }

    /// Where code goes, in this process (default: below 2 GiB).
    pub fn memory(mut self, memory: Arc<dyn MemoryManager>) -> Self {
        self.executor = Some(Arc::new(InProcessExecutor::with_memory(memory)));
        self
    }

    /// Where code runs (default: this process).
    pub fn executor(mut self, executor: Arc<dyn Executor>) -> Self {
        self.executor = Some(executor);
        self
    }

    pub fn build(self) -> Result<Jit> {
        let executor = self.executor.unwrap_or_else(|| Arc::new(InProcessExecutor::new()));
        let stack = Stack::new(executor, self.threads, self.prepare_ahead);
        let main = stack.session.create_jit_dylib("main")?;
        stack.platform.setup_dylib(main)?;
        let process = stack.process_dylib()?;
        let Stack { session, layer, platform } = stack;
        session.set_link_order(main, vec![(process, LookupFlags::MatchAllSymbols)]);
        let lazy_impl = session.create_jit_dylib("main.lazy")?;
        platform.setup_dylib(lazy_impl)?;
        lazy::link_implementation(&session, main, lazy_impl);
        Ok(Jit { session, layer, platform, main, lazy_impl, lazy_stats: Arc::new(LazyStats::default()) })
    }
}

/// The one wiring of a JIT, shared by `Jit` and `jitld run`: a session over an executor,
/// the object layer, and the platform on it.
pub(crate) struct Stack {
    pub session: ExecutionSession,
    pub layer: ObjectLinkingLayer,
    pub platform: Arc<Platform>,
}

impl Stack {
    /// `threads` materialization threads in all, and a helper preparing ahead if asked.
    pub fn new(executor: Arc<dyn Executor>, threads: usize, prepare_ahead: bool) -> Stack {
        Self::with_placement(executor, threads, prepare_ahead, ThreadPlacement::Anywhere)
    }

    /// `new`, with the pool's threads placed as `placement` says.
    pub fn with_placement(
        executor: Arc<dyn Executor>,
        threads: usize,
        prepare_ahead: bool,
        placement: ThreadPlacement,
    ) -> Stack {
        let session = ExecutionSession::with_executor(executor);
        session.set_materialization_threads_placed(threads.max(1), placement);
        if prepare_ahead {
            session.set_prepare_ahead();
        }
        let layer = ObjectLinkingLayer::new(session.clone());
        let platform = Platform::install(&layer);
        Stack { session, layer, platform }
    }

    /// A `<process>` JITDylib: the executor's own libraries (the C library…).
    pub fn process_dylib(&self) -> Result<DylibId> {
        let process = self.session.create_jit_dylib("<process>")?;
        self.session.add_generator(process, Arc::new(DynamicLibraryGenerator::process(self.layer.clone())));
        Ok(process)
    }
}

pub struct Jit {
    session: ExecutionSession,
    layer: ObjectLinkingLayer,
    platform: Arc<Platform>,
    main: DylibId,
    lazy_impl: DylibId,
    lazy_stats: Arc<LazyStats>,
}

/// A function in JIT'd code, usable while the `Jit` that linked it lives.
#[derive(Clone, Copy)]
pub struct JitFn<'jit, F: Copy> {
    f: F,
    _jit: PhantomData<&'jit Jit>,
}

impl<F: Copy> std::ops::Deref for JitFn<'_, F> {
    type Target = F;
    fn deref(&self) -> &F {
        &self.f
    }
}

impl Jit {
    pub fn builder() -> JitBuilder {
        JitBuilder { threads: 1, prepare_ahead: false, executor: None }
    }

    pub fn new() -> Result<Jit> {
        Self::builder().build()
    }

    pub fn session(&self) -> &ExecutionSession {
        &self.session
    }

    pub fn layer(&self) -> &ObjectLinkingLayer {
        &self.layer
    }

    pub fn platform(&self) -> &Arc<Platform> {
        &self.platform
    }

    pub fn main_dylib(&self) -> DylibId {
        self.main
    }

    pub fn lazy_stats(&self) -> &LazyStats {
        &self.lazy_stats
    }

    /// Adds an object; it is linked when one of its symbols is looked up.
    pub fn add_object(&self, name: &str, bytes: Vec<u8>) -> Result<()> {
        self.layer.add(self.main, InputBuffer::from_vec(name, bytes)).map(|_| ())
    }

    pub fn add_object_file(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        self.add_object(&path.display().to_string(), read(path)?)
    }

    /// Adds an object whose functions are linked on their first call (LLLazyJIT).
    pub fn add_lazy_object(&self, name: &str, bytes: Vec<u8>) -> Result<()> {
        let input = InputBuffer::from_vec(name, bytes);
        lazy::add_lazy_object(&self.layer, self.main, self.lazy_impl, input, &self.lazy_stats)
    }

    /// Adds a static archive: members are linked when their symbols are needed.
    pub fn add_archive_file(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let input = InputBuffer::from_vec(path.display().to_string(), read(path)?);
        let generator = ArchiveGenerator::new(input, self.layer.clone(), u64::MAX / 2)?;
        self.session.add_generator(self.main, Arc::new(generator));
        Ok(())
    }

    /// Adds a directory of objects as a library (`cache::ObjectDir`): each object is linked
    /// when one of its symbols is first needed.
    pub fn add_object_dir(&self, dir: impl AsRef<Path>) -> Result<()> {
        let generator = ObjectDirGenerator::open(dir.as_ref(), self.layer.clone(), u64::MAX / 2)?;
        self.session.add_generator(self.main, Arc::new(generator));
        Ok(())
    }

    /// As `add_object_dir`, each object's functions linked on their first call.
    pub fn add_lazy_object_dir(&self, dir: impl AsRef<Path>) -> Result<()> {
        let generator = ObjectDirGenerator::open(dir.as_ref(), self.layer.clone(), u64::MAX / 2)?;
        let generator = generator.lazy(self.lazy_impl, self.lazy_stats.clone());
        self.session.add_generator(self.main, Arc::new(generator));
        Ok(())
    }

    /// The address of `name`, linking whatever it needs; runs initializers that linking
    /// brought in.
    pub fn lookup(&self, name: &str) -> Result<u64> {
        let order = self.session.search_order(self.main);
        let found = self.session.lookup(&order, &[self.session.intern(name)])?;
        self.platform.run_initializers();
        Ok(found[0].addr)
    }

    /// `name` as a function of type `F`.
    ///
    /// # Safety
    /// `F` must be a function pointer type matching the JIT'd function's real signature.
    pub unsafe fn get<F: Copy>(&self, name: &str) -> Result<JitFn<'_, F>> {
        if std::mem::size_of::<F>() != std::mem::size_of::<usize>() {
            return Err(JitError::other("Jit::get needs a function pointer type"));
        }
        let addr = self.lookup(name)? as usize;
        Ok(JitFn { f: unsafe { std::mem::transmute_copy::<usize, F>(&addr) }, _jit: PhantomData })
    }
}

/// Everything this `Jit` linked is removed (finalizers run, memory is returned), and its
/// JITDylibs let go of their generators. The session's pieces refer to each other (layer,
/// platform, generators), so without this nothing it reserved would ever be freed.
impl Drop for Jit {
    fn drop(&mut self) {
        // Removal runs finalizers, which can only run where the code is (not in a slab that
        // only stands in for memory elsewhere).
        if !self.session.executor().runs_code() {
            return;
        }
        for dylib in [self.main, self.lazy_impl] {
            let _ = self.session.remove_jit_dylib(dylib);
        }
        if let Some(process) = self.session.dylib_by_name("<process>") {
            let _ = self.session.remove_jit_dylib(process);
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| JitError::other(format!("{}: cannot read: {e}", path.display())))
}
