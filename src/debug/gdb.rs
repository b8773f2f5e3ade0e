//! The GDB JIT interface: gdb puts a breakpoint on `__jit_debug_register_code` and, when it
//! hits, reads the in-memory object files linked from `__jit_debug_descriptor`. Ours are the
//! input objects with section addresses set to where their code landed, so `bt`, `break`
//! and `info symbol` know JIT'd functions. Registering copies each object, so it is done only
//! when asked for or when a debugger listens (`debugger_listens`).

use crate::error::Result;
use crate::layers::LinkPlugin;
use crate::session::InstanceId;
use jitld_linker::memory::Allocation;
use jitld_linker::LinkGraph;
use std::sync::Mutex;

#[repr(C)]
struct JitCodeEntry {
    next: *mut JitCodeEntry,
    prev: *mut JitCodeEntry,
    symfile: *const u8,
    symfile_size: u64,
}

#[repr(C)]
pub struct JitDescriptor {
    version: u32,
    action: u32,
    relevant: *mut JitCodeEntry,
    first: *mut JitCodeEntry,
}

const JIT_REGISTER: u32 = 1;
const JIT_UNREGISTER: u32 = 2;

/// Read by gdb, by name.
#[no_mangle]
pub static mut __jit_debug_descriptor: JitDescriptor =
    JitDescriptor { version: 1, action: 0, relevant: std::ptr::null_mut(), first: std::ptr::null_mut() };

/// gdb's breakpoint: it must exist, and must not be inlined or optimized away.
#[no_mangle]
#[inline(never)]
pub extern "C" fn __jit_debug_register_code() {
    // SAFETY: an empty asm statement, only to keep the call.
    unsafe { std::arch::asm!("", options(nostack, preserves_flags)) };
}

/// Whether a debugger listens to the GDB JIT interface: gdb (and lldb) put their breakpoint
/// on `__jit_debug_register_code` as they load jitld, before its first instruction runs, so
/// that instruction is then the architecture's breakpoint. Reading memory of our own costs
/// nothing; `TracerPid` in /proc/self/status cost 25-55 us of every start, warm ones
/// included, and said yes to tracers that read no JIT'd symbols (strace).
pub fn debugger_listens() -> bool {
    let entry = __jit_debug_register_code as *const u8;
    // SAFETY: the first bytes of one of our functions, readable as all of our code is.
    #[cfg(target_arch = "x86_64")]
    return unsafe { entry.read_volatile() } == 0xcc; // int3
    #[cfg(target_arch = "aarch64")]
    return unsafe { entry.cast::<u32>().read_volatile() } == 0xd420_0000; // brk #0
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    false
}

/// Registers each linked object with gdb; unregisters it when its code is removed.
#[derive(Default)]
pub struct GdbRegistration {
    /// Entries by instance, as addresses (the list belongs to the descriptor).
    entries: Mutex<Vec<(InstanceId, usize)>>,
}

impl GdbRegistration {
    pub fn forget(&self, removed: &[InstanceId]) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        for &(_, entry) in entries.iter().filter(|(i, _)| removed.contains(i)) {
            // SAFETY: the entry is ours and linked; we unlink it under the registry lock.
            unsafe {
                let entry = entry as *mut JitCodeEntry;
                let descriptor = &mut *std::ptr::addr_of_mut!(__jit_debug_descriptor);
                if (*entry).prev.is_null() {
                    descriptor.first = (*entry).next;
                } else {
                    (*(*entry).prev).next = (*entry).next;
                }
                if !(*entry).next.is_null() {
                    (*(*entry).next).prev = (*entry).prev;
                }
                descriptor.relevant = entry;
                descriptor.action = JIT_UNREGISTER;
                __jit_debug_register_code();
                let symfile =
                    std::ptr::slice_from_raw_parts_mut((*entry).symfile as *mut u8, (*entry).symfile_size as usize);
                drop(Box::from_raw(symfile));
                drop(Box::from_raw(entry));
            }
        }
        entries.retain(|(i, _)| !removed.contains(i));
    }
}

impl LinkPlugin for GdbRegistration {
    fn notify_finalized(&self, instance: InstanceId, _: u64, graph: &LinkGraph, _: &Allocation) -> Result<()> {
        let Some(object) = graph.format.and_then(|format| format.debug_object(graph)) else { return Ok(()) };
        let object: &'static mut [u8] = Box::leak(object.into_boxed_slice());
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: the descriptor's list is only changed under this lock; gdb reads it while
        // the process is stopped at the breakpoint.
        unsafe {
            let descriptor = &mut *std::ptr::addr_of_mut!(__jit_debug_descriptor);
            let entry = Box::into_raw(Box::new(JitCodeEntry {
                next: descriptor.first,
                prev: std::ptr::null_mut(),
                symfile: object.as_ptr(),
                symfile_size: object.len() as u64,
            }));
            if !descriptor.first.is_null() {
                (*descriptor.first).prev = entry;
            }
            descriptor.first = entry;
            descriptor.relevant = entry;
            descriptor.action = JIT_REGISTER;
            __jit_debug_register_code();
            entries.push((instance, entry as usize));
        }
        Ok(())
    }
}
