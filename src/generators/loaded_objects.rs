//! What the dynamic loader knows of a symbol's size and type, found through the loaded
//! objects' GNU hash tables.
//!
//! `dlsym` gives only an address; `dladdr1` would give the symbol table entry too, but it
//! finds it by scanning the whole dynamic symbol table of the library (tens of thousands of
//! instructions per symbol for the C library). The GNU hash table answers in a few probes.

use super::dynamic_section::DynamicSection;
use std::ffi::CStr;

const SHN_UNDEF: u16 = 0;
/// `dladdr1`'s request for the symbol table entry.
pub const RTLD_DL_SYMENT: libc::c_int = 1;

extern "C" {
    /// The loader's own answer for an address, found by scanning (see the module comment).
    pub fn dladdr1(
        addr: *const libc::c_void,
        info: *mut libc::Dl_info,
        extra: *mut *mut libc::c_void,
        flags: libc::c_int,
    ) -> libc::c_int;
}
pub const STT_GNU_IFUNC: u8 = 10;
const STT_TLS: u8 = 6;

/// One loaded object's dynamic symbol lookup tables, as mapped in this process.
struct Object {
    base: u64,
    symtab: *const libc::Elf64_Sym,
    strtab: *const u8,
    gnu_hash: *const u32,
}

/// The objects loaded in this process now (the list is taken anew for each batch of names,
/// as libraries may be opened between batches).
pub struct LoadedObjects {
    objects: Vec<Object>,
}

impl LoadedObjects {
    pub fn now() -> Self {
        let mut objects: Vec<Object> = Vec::new();
        // SAFETY: the callback only reads the headers the loader passes it.
        unsafe { libc::dl_iterate_phdr(Some(collect), &mut objects as *mut Vec<Object> as *mut libc::c_void) };
        LoadedObjects { objects }
    }

    /// The size and ELF symbol type of `name`, defined at `addr` (what `dlsym` returned) in
    /// one of the objects. A GNU indirect function's address is its resolver's answer, and a
    /// thread-local variable's is this thread's copy, so those match by name alone.
    pub fn symbol(&self, name: &CStr, addr: u64) -> Option<(u64, u8)> {
        let hash = gnu_hash(name.to_bytes());
        self.objects.iter().find_map(|object| {
            // SAFETY: the tables belong to an object the loader has mapped; `lookup` stays
            // within the bounds its hash table describes.
            let sym = unsafe {
                object.lookup(name, hash, |sym| {
                    let kind = sym.st_info & 0xf;
                    kind == STT_GNU_IFUNC || kind == STT_TLS || object.base.wrapping_add(sym.st_value) == addr
                })?
            };
            Some((sym.st_size, sym.st_info & 0xf))
        })
    }
}

unsafe extern "C" fn collect(info: *mut libc::dl_phdr_info, _: libc::size_t, out: *mut libc::c_void) -> libc::c_int {
    let objects = &mut *(out as *mut Vec<Object>);
    let Some(dynamic) = DynamicSection::read(&*info) else { return 0 };
    if dynamic.symtab == 0 || dynamic.strtab == 0 || dynamic.gnu_hash == 0 {
        return 0;
    }
    objects.push(Object {
        base: dynamic.base,
        symtab: dynamic.symtab as *const libc::Elf64_Sym,
        strtab: dynamic.strtab as *const u8,
        gnu_hash: dynamic.gnu_hash as *const u32,
    });
    0
}

/// The hash of the GNU hash section: h = h * 33 + c, from 5381.
fn gnu_hash(name: &[u8]) -> u32 {
    name.iter().fold(5381u32, |h, &c| h.wrapping_mul(33).wrapping_add(u32::from(c)))
}

impl Object {
    /// The defined symbol `name` of this object that `wanted` accepts, if any: a name can
    /// have several versions (the C library's `memcpy@GLIBC_2.2.5` and `memcpy@@GLIBC_2.14`),
    /// and the one `dlsym` found need not come first.
    unsafe fn lookup(
        &self,
        name: &CStr,
        hash: u32,
        wanted: impl Fn(&libc::Elf64_Sym) -> bool,
    ) -> Option<&libc::Elf64_Sym> {
        let header = self.gnu_hash;
        let (buckets, first_symbol, bloom_words) = (*header, *header.add(1), *header.add(2));
        if buckets == 0 {
            return None;
        }
        let bucket_table = header.add(4 + 2 * bloom_words as usize);
        let chains = bucket_table.add(buckets as usize);
        let mut index = *bucket_table.add((hash % buckets) as usize);
        if index < first_symbol {
            return None;
        }
        loop {
            let chain = *chains.add((index - first_symbol) as usize);
            if chain | 1 == hash | 1 {
                let sym = &*self.symtab.add(index as usize);
                let sym_name = CStr::from_ptr(self.strtab.add(sym.st_name as usize) as *const libc::c_char);
                if sym_name == name && sym.st_shndx != SHN_UNDEF && wanted(sym) {
                    return Some(sym);
                }
            }
            if chain & 1 != 0 {
                return None;
            }
            index += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hash tables agree with the loader's own (scanning) answer for functions, data
    /// and indirect functions of the C library.
    #[test]
    fn agrees_with_dladdr1() {
        let loaded = LoadedObjects::now();
        for name in [c"printf", c"stdout", c"environ", c"optind", c"strlen", c"memcpy", c"qsort"] {
            let addr = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) } as u64;
            if addr == 0 {
                continue;
            }
            let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
            let mut sym: *mut libc::c_void = std::ptr::null_mut();
            assert_ne!(unsafe { dladdr1(addr as *const _, &mut info, &mut sym, RTLD_DL_SYMENT) }, 0, "{name:?}");
            let ours = loaded.symbol(name, addr);
            // An indirect function's address is the implementation its resolver chose, which
            // dladdr1 describes instead (if it can); only its being a function matters.
            if matches!(ours, Some((_, STT_GNU_IFUNC))) {
                continue;
            }
            if sym.is_null() {
                // The loader knows no symbol at that address (a copy in the executable that it
                // does not export): neither may we claim one.
                assert_eq!(ours, None, "{name:?}");
                continue;
            }
            let sym = unsafe { &*(sym as *const libc::Elf64_Sym) };
            assert_eq!(ours, Some((sym.st_size, sym.st_info & 0xf)), "{name:?}");
        }
        // Names with several versions are found whichever the chain lists first (dladdr1 was
        // the fallback for these: a scan of the whole library).
        for (library, name) in [(c"libc.so.6", c"memcpy"), (c"libm.so.6", c"exp")] {
            let handle = unsafe { libc::dlopen(library.as_ptr(), libc::RTLD_LAZY) };
            assert!(!handle.is_null(), "{library:?}");
            let addr = unsafe { libc::dlsym(handle, name.as_ptr()) } as u64;
            assert!(LoadedObjects::now().symbol(name, addr).is_some(), "{name:?} at {addr:#x}");
        }
        assert_eq!(loaded.symbol(c"no_such_symbol_anywhere", 0), None);
        // glibc's own thread-local `errno` is found as one (jitld refuses it by name).
        let errno = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"errno".as_ptr()) } as u64;
        if errno != 0 {
            assert_eq!(loaded.symbol(c"errno", errno).map(|(_, kind)| kind), Some(STT_TLS));
        }
    }
}
