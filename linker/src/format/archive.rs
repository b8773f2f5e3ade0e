//! Static archives: an index from symbol name to member, and members as inputs of their own.
//! Members are only parsed when one of their symbols is needed.

use crate::graph::InputBuffer;
use crate::names::{NamePool, SymbolName};
use crate::{LinkError, Location, Result};
use object::read::archive::ArchiveFile;

struct Member {
    display: String,
    name: String,
    start: usize,
    len: usize,
}

pub struct Archive {
    pub input: InputBuffer,
    /// Members in archive order: display name, name in the archive, and byte range.
    members: Vec<Member>,
    /// Symbol → index in `members`: the first member that defines it, as ld picks.
    index: crate::graph::IdMap<SymbolName, usize>,
}

impl Archive {
    pub fn parse(input: InputBuffer, names: &NamePool) -> Result<Archive> {
        let at = || Location::file(&*input.name);
        let data = input.bytes();
        let file = ArchiveFile::parse(data).map_err(|e| LinkError::malformed(at(), e.to_string()))?;
        if file.is_thin() {
            return Err(LinkError::unsupported(at(), "thin archives"));
        }
        let mut members = Vec::new();
        let mut by_start: crate::graph::IdMap<u64, usize> = crate::graph::IdMap::default();
        for member in file.members() {
            let member = member.map_err(|e| LinkError::malformed(at(), e.to_string()))?;
            let (start, len) = member.file_range();
            let name = String::from_utf8_lossy(member.name()).into_owned();
            let display = format!("{}({name})", input.name);
            // `object` trusts each header's size; a member that runs past the end means the
            // file was cut short, and ld and lld refuse the whole archive, needed or not.
            let fits = start.checked_add(len).is_some_and(|end| end <= data.len() as u64);
            let (Ok(start), Ok(len), true) = (usize::try_from(start), usize::try_from(len), fits) else {
                return Err(LinkError::malformed(
                    at(),
                    format!(
                        "file too short: member {name} needs {len} bytes at offset {start:#x}, the archive has {} bytes",
                        data.len()
                    ),
                ));
            };
            by_start.insert(start as u64, members.len());
            members.push(Member { display, name, start, len });
        }
        let mut index = crate::graph::IdMap::default();
        if let Some(symbols) = file.symbols().map_err(|e| LinkError::malformed(at(), e.to_string()))? {
            // Many symbols share a member: read each member header the index names once.
            let mut by_header: crate::graph::IdMap<u64, usize> = crate::graph::IdMap::default();
            let symbols = symbols.collect::<std::result::Result<Vec<_>, _>>();
            let symbols = symbols.map_err(|e| LinkError::malformed(at(), e.to_string()))?;
            // Thousands of names, nearly all new: interned under one lock.
            let interned = names.intern_all_bytes(symbols.iter().map(|s| s.name()));
            index.reserve(symbols.len());
            for (symbol, name) in symbols.iter().zip(interned) {
                let header = symbol.offset().0;
                let member = match by_header.get(&header) {
                    Some(&member) => member,
                    None => {
                        let start = file.member(symbol.offset()).map(|m| m.file_range().0);
                        let Some(&member) = start.ok().and_then(|s| by_start.get(&s)) else {
                            return Err(LinkError::malformed(at(), "symbol index names an offset that is no member"));
                        };
                        by_header.insert(header, member);
                        member
                    }
                };
                index.entry(name).or_insert(member);
            }
        } else {
            // No ranlib index: read every member's symbol table instead.
            for (i, m) in members.iter().enumerate() {
                let Some(member) = input.slice(m.display.as_str(), m.start, m.len) else { continue };
                let Ok(format) = crate::format::object_format(&member) else { continue };
                let Ok(iface) = format.interface(&member, names) else { continue };
                for symbol in iface.symbols {
                    index.entry(symbol.name).or_insert(i);
                }
            }
        }
        Ok(Archive { input, members, index })
    }

    /// The member that defines `name`, if the index names one.
    pub fn member_defining(&self, name: SymbolName) -> Option<usize> {
        self.index.get(&name).copied()
    }

    pub fn member_count(&self) -> usize {
        self.members.len()
    }

    pub fn member(&self, member: usize) -> Option<InputBuffer> {
        let m = self.members.get(member)?;
        self.input.slice(m.display.as_str(), m.start, m.len)
    }

    /// The first member called `name` (as `ar t` lists it).
    pub fn member_named(&self, name: &str) -> Option<usize> {
        self.members.iter().position(|m| m.name == name)
    }

    /// Member names in archive order.
    pub fn member_names(&self) -> impl Iterator<Item = &str> + '_ {
        self.members.iter().map(|m| m.name.as_str())
    }

    /// Every member's index that holds an ELF object (for whole-archive loading).
    pub fn object_members(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.members.len()).filter(|&i| self.member(i).is_some_and(|m| m.bytes().starts_with(b"\x7fELF")))
    }
}
