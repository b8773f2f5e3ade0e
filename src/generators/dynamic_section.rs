//! A loaded object's `.dynamic` section, as the dynamic loader left it in memory: where its
//! symbol, string, hash and relocation tables are.

const DT_NULL: i64 = 0;
const DT_PLTRELSZ: i64 = 2;
const DT_STRTAB: i64 = 5;
const DT_SYMTAB: i64 = 6;
const DT_RELA: i64 = 7;
const DT_RELASZ: i64 = 8;
const DT_JMPREL: i64 = 23;
const DT_GNU_HASH: i64 = 0x6fff_fef5;
const DT_RELACOUNT: i64 = 0x6fff_fff9;

const RTLD_DI_LINKMAP: libc::c_int = 2;

extern "C" {
    fn dlinfo(handle: *mut libc::c_void, request: libc::c_int, info: *mut libc::c_void) -> libc::c_int;
}

/// The load bias of the object `handle` (from `dlopen`) names: `struct link_map` begins
/// with it.
///
/// # Safety
/// `handle` must be a live handle from `dlopen`.
pub unsafe fn load_bias(handle: *mut libc::c_void) -> Option<u64> {
    let mut map: *mut libc::c_void = std::ptr::null_mut();
    if dlinfo(handle, RTLD_DI_LINKMAP, &mut map as *mut _ as *mut libc::c_void) != 0 || map.is_null() {
        return None;
    }
    Some(*(map as *const u64))
}

/// An entry of a `.dynamic` section (`Elf64_Dyn`, which the libc crate doesn't declare).
#[repr(C)]
struct Dyn {
    tag: i64,
    value: u64,
}

/// The tables of one loaded object: addresses in this process (0 when absent) and sizes.
pub struct DynamicSection {
    /// The load bias.
    pub base: u64,
    pub strtab: u64,
    pub symtab: u64,
    pub gnu_hash: u64,
    pub rela: u64,
    pub relasz: u64,
    /// How many of the first `rela` entries are `R_X86_64_RELATIVE` (they name no symbol).
    pub relacount: u64,
    pub jmprel: u64,
    pub pltrelsz: u64,
    /// The `PT_GNU_RELRO` range, made read-only once the loader is done.
    pub relro: Option<(u64, u64)>,
}

impl DynamicSection {
    /// Reads the object `dl_iterate_phdr` describes; `None` if it has no `.dynamic`.
    ///
    /// # Safety
    /// `info` must be what `dl_iterate_phdr` passed its callback.
    pub unsafe fn read(info: &libc::dl_phdr_info) -> Option<DynamicSection> {
        let headers = std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum));
        let dynamic = headers.iter().find(|h| h.p_type == libc::PT_DYNAMIC)?;
        let base = info.dlpi_addr;
        let relro = headers.iter().find(|h| h.p_type == libc::PT_GNU_RELRO).map(|h| (base + h.p_vaddr, h.p_memsz));
        // The loader rebases these pointers in place for most objects, but not for all (the
        // vDSO): an address below the object's base is still relative to it.
        let pointer = |value: u64| if value != 0 && value < base { base + value } else { value };
        let mut section = DynamicSection {
            base,
            strtab: 0,
            symtab: 0,
            gnu_hash: 0,
            rela: 0,
            relasz: 0,
            relacount: 0,
            jmprel: 0,
            pltrelsz: 0,
            relro,
        };
        let mut entry = (base + dynamic.p_vaddr) as *const Dyn;
        while (*entry).tag != DT_NULL {
            let value = (*entry).value;
            match (*entry).tag {
                DT_STRTAB => section.strtab = pointer(value),
                DT_SYMTAB => section.symtab = pointer(value),
                DT_GNU_HASH => section.gnu_hash = pointer(value),
                DT_RELA => section.rela = pointer(value),
                DT_RELASZ => section.relasz = value,
                DT_RELACOUNT => section.relacount = value,
                DT_JMPREL => section.jmprel = pointer(value),
                DT_PLTRELSZ => section.pltrelsz = value,
                _ => {}
            }
            entry = entry.add(1);
        }
        Some(section)
    }
}
