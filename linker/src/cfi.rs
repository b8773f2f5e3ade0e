//! Call frame information records, as `.eh_frame` holds them (DWARF's CFI with GCC's
//! augmentations): what readers of records need of a CIE (how its FDEs encode pointers)
//! and of an FDE (the code it describes). The MachO reader finds the pc-relative pointers
//! the assembler left without relocations; jitld's frame index finds the FDE for an address.
// Parsing reads untrusted input: no panicking index or overflow.
#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

pub const DW_EH_PE_ABSPTR: u8 = 0x00;
pub const DW_EH_PE_OMIT: u8 = 0xff;
pub const DW_EH_PE_PCREL: u8 = 0x10;

/// A pointer encoding's width in bytes, if it is one this can read.
pub fn width(encoding: u8) -> Option<usize> {
    match encoding & 0x0f {
        0x00 | 0x04 | 0x0c => Some(8), // absptr, udata8, sdata8
        0x03 | 0x0b => Some(4),        // udata4, sdata4
        0x02 | 0x0a => Some(2),        // udata2, sdata2
        _ => None,
    }
}

/// Reads a record's bytes from a position.
pub struct Reader<'a> {
    pub bytes: &'a [u8],
    pub at: usize,
}

impl Reader<'_> {
    pub fn u8(&mut self) -> Option<u8> {
        let byte = *self.bytes.get(self.at)?;
        self.at = self.at.checked_add(1)?;
        Some(byte)
    }

    pub fn uleb(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.u8()?;
            value |= u64::from(byte & 0x7f).checked_shl(shift)?;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    pub fn skip(&mut self, n: usize) -> Option<()> {
        self.at = self.at.checked_add(n).filter(|&end| end <= self.bytes.len())?;
        Some(())
    }

    fn string(&mut self) -> Option<&[u8]> {
        let rest = self.bytes.get(self.at..)?;
        let len = rest.iter().position(|&b| b == 0)?;
        self.skip(len.checked_add(1)?)?;
        rest.get(..len)
    }

    /// The signed value of `width` bytes at `at` (a pointer of that width).
    pub fn value(&self, at: usize, width: usize) -> Option<i64> {
        let bytes = self.bytes.get(at..at.checked_add(width)?)?;
        Some(match width {
            8 => i64::from_le_bytes(bytes.try_into().ok()?),
            4 => i64::from(i32::from_le_bytes(bytes.try_into().ok()?)),
            _ => i64::from(i16::from_le_bytes(bytes.try_into().ok()?)),
        })
    }
}

/// What an FDE needs from its CIE: how its pointers are encoded.
#[derive(Clone, Copy, Debug)]
pub struct Cie {
    pub augmented: bool,
    pub fde: u8,
    pub lsda: u8,
}

/// Reads a CIE from its version byte on (what follows its length and zero id).
pub fn read_cie(reader: &mut Reader) -> Option<Cie> {
    let version = reader.u8()?;
    let augmentation = reader.string()?.to_vec();
    reader.uleb()?; // code alignment
    reader.uleb()?; // data alignment (sleb: only skipped)
    if version == 1 {
        reader.u8()?;
    } else {
        reader.uleb()?;
    }
    let mut cie = Cie { augmented: augmentation.first() == Some(&b'z'), fde: 0, lsda: DW_EH_PE_OMIT };
    if !cie.augmented {
        return Some(cie);
    }
    reader.uleb()?;
    for &c in augmentation.get(1..)? {
        match c {
            b'R' => cie.fde = reader.u8()?,
            b'L' => cie.lsda = reader.u8()?,
            b'P' => {
                let encoding = reader.u8()?;
                reader.skip(width(encoding)?)?;
            }
            _ => return Some(cie), // unknown: the pointers it declares are not ours to find
        }
    }
    Some(cie)
}

/// The code `[begin, end)` the FDE in `record` describes (its bytes from the length on,
/// the first at address `addr`), its pointers encoded as `cie` says: `None` for encodings
/// other than absolute and pc-relative ones.
pub fn fde_code(record: &[u8], addr: u64, cie: &Cie) -> Option<(u64, u64)> {
    let reader = Reader { bytes: record, at: 0 };
    let width = width(cie.fde)?;
    const PC_BEGIN: usize = 8;
    let begin = reader.value(PC_BEGIN, width)? as u64;
    let range = reader.value(PC_BEGIN.checked_add(width)?, width)? as u64;
    let begin = match cie.fde & 0x70 {
        0 => begin,
        DW_EH_PE_PCREL => begin.wrapping_add(addr.wrapping_add(PC_BEGIN as u64)),
        _ => return None,
    };
    // 2-byte and 4-byte ranges are unsigned.
    let range = match width {
        2 => range & 0xffff,
        4 => range & 0xffff_ffff,
        _ => range,
    };
    Some((begin, begin.wrapping_add(range)))
}
