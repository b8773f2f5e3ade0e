//! Definition generators: asked for names a JITDylib doesn't define, they may add
//! definitions for them (ORC's `DefinitionGenerator`).

mod archive;
mod dynamic;
mod dynamic_section;
mod library;
pub(crate) mod loaded_objects;
mod object_dir;

pub use archive::ArchiveGenerator;
pub use dynamic::DynamicLibraryGenerator;
pub(crate) use dynamic_section::{load_bias, DynamicSection};
pub use library::{LibraryGenerator, ObjectLibrary};
pub use object_dir::ObjectDirGenerator;

use crate::error::Result;
use crate::session::{DylibId, ExecutionSession, LookupFlags};
use jitld_linker::LookupName;

pub trait DefinitionGenerator: Send + Sync {
    /// Define whichever of `names` this generator can provide in `dylib`. Names it doesn't
    /// know are not an error: the search moves on. Each name says whether it is only weakly
    /// referenced (`true`): an archive member is never pulled for those, as in `ld`.
    fn try_to_generate(
        &self,
        session: &ExecutionSession,
        dylib: DylibId,
        flags: LookupFlags,
        names: &[LookupName],
    ) -> Result<()>;

    /// Work `try_to_generate` would do for `names` that touches no session state (reading
    /// the archive members it would pull), done before the JITDylib's generators take
    /// their turn: they run one lookup at a time, this need not. Best effort; the default
    /// does nothing.
    fn prepare(&self, _names: &[LookupName]) {}
}
