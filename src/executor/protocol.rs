//! The executor protocol's messages: framing, the numbers both sides agree on, and the
//! encoding of bodies. `executor/protocol.h` holds the same numbers for the C executor (a
//! test compares them); `docs/executor-protocol.md` describes every message.
//!
//! A message is a 16-byte header, `u32 body_len, u32 op, u64 id`, then the body; integers
//! are little-endian, byte strings are a `u32` length and the bytes, lists a `u32` count and
//! the items.

use crate::error::{JitError, Result};
use std::io::{self, Read};

pub const MAGIC: [u8; 8] = *b"jitldexe";
pub const VERSION: u32 = 2;
pub const HEADER_SIZE: usize = 16;
/// Larger messages are refused by both sides; big writes and reads go in chunks.
pub const MAX_BODY: u32 = 64 << 20;

pub const OP_HELLO: u32 = 1;
pub const OP_LAZY_RESOLVE: u32 = 2;
pub const OP_CRASHED: u32 = 3;
pub const OP_EXITED: u32 = 4;
pub const OP_RESERVE: u32 = 16;
pub const OP_WRITE: u32 = 17;
pub const OP_READ: u32 = 18;
pub const OP_PROTECT: u32 = 19;
pub const OP_RELEASE: u32 = 20;
pub const OP_LOOKUP: u32 = 21;
pub const OP_DLOPEN: u32 = 22;
pub const OP_DLCLOSE: u32 = 23;
pub const OP_LOAD_OBJECT: u32 = 24;
pub const OP_THREAD_POINTER: u32 = 25;
pub const OP_CALL: u32 = 26;
pub const OP_RUN_MAIN: u32 = 27;
pub const OP_INTERPOSE: u32 = 28;
pub const OP_EXIT: u32 = 29;
pub const OP_OK: u32 = 64;
pub const OP_ERROR: u32 = 65;

pub const HELLO_SHARED_MEMORY: u32 = 1;
pub const RESERVE_LOW: u32 = 1;
pub const RESERVE_SHARED: u32 = 2;
pub const NO_OFFSET: u64 = u64::MAX;
pub const PROT_READ: u32 = 1;
pub const PROT_WRITE: u32 = 2;
pub const PROT_EXEC: u32 = 4;
pub const DLOPEN_NOW: u32 = 1;
pub const DLOPEN_GLOBAL: u32 = 2;
pub const SYMBOL_FOUND: u32 = 1;
pub const SYMBOL_FUNCTION: u32 = 2;
pub const SYMBOL_DATA: u32 = 4;
pub const RUN_MAIN_ENVIRONMENT: u32 = 1;
pub const MAX_CALL_ARGS: usize = 6;
pub const STATIC_TLS_MODULE: u64 = 0x6a69_746c_6454_4c53;
/// The executor's exit status when the protocol fails (malformed input, lost peer).
pub const EXIT_PROTOCOL_ERROR: i32 = 125;

/// The name of an operation, for error messages.
pub fn op_name(op: u32) -> &'static str {
    match op {
        OP_HELLO => "hello",
        OP_LAZY_RESOLVE => "lazy_resolve",
        OP_CRASHED => "crashed",
        OP_EXITED => "exited",
        OP_RESERVE => "reserve",
        OP_WRITE => "write",
        OP_READ => "read",
        OP_PROTECT => "protect",
        OP_RELEASE => "release",
        OP_LOOKUP => "lookup",
        OP_DLOPEN => "dlopen",
        OP_DLCLOSE => "dlclose",
        OP_LOAD_OBJECT => "load_object",
        OP_THREAD_POINTER => "thread_pointer",
        OP_CALL => "call",
        OP_RUN_MAIN => "run_main",
        OP_INTERPOSE => "interpose",
        OP_EXIT => "exit",
        OP_OK => "ok",
        OP_ERROR => "error",
        _ => "unknown",
    }
}

/// One framed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub op: u32,
    pub id: u64,
    pub body: Vec<u8>,
}

/// The header and body of a message, ready to write.
pub fn frame(op: u32, id: u64, body: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(HEADER_SIZE + body.len());
    bytes.extend((body.len() as u32).to_le_bytes());
    bytes.extend(op.to_le_bytes());
    bytes.extend(id.to_le_bytes());
    bytes.extend(body);
    bytes
}

/// Why reading a message failed.
#[derive(Debug)]
pub enum ReadError {
    /// The stream ended inside a message.
    Truncated,
    TooLarge {
        op: u32,
        len: u32,
    },
    Io(io::Error),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Truncated => write!(f, "the stream ended inside a message"),
            ReadError::TooLarge { op, len } => {
                write!(f, "message {} of {len} bytes exceeds the limit of {MAX_BODY}", op_name(*op))
            }
            ReadError::Io(e) => write!(f, "{e}"),
        }
    }
}

/// Reads one message; `Ok(None)` when the stream ends cleanly between messages.
pub fn read_message(reader: &mut impl Read) -> std::result::Result<Option<Message>, ReadError> {
    let mut header = [0u8; HEADER_SIZE];
    match read_full(reader, &mut header)? {
        0 => return Ok(None),
        n if n < HEADER_SIZE => return Err(ReadError::Truncated),
        _ => {}
    }
    let len = u32::from_le_bytes(header[0..4].try_into().expect("4 bytes"));
    let op = u32::from_le_bytes(header[4..8].try_into().expect("4 bytes"));
    let id = u64::from_le_bytes(header[8..16].try_into().expect("8 bytes"));
    if len > MAX_BODY {
        return Err(ReadError::TooLarge { op, len });
    }
    let mut body = vec![0u8; len as usize];
    if read_full(reader, &mut body)? < body.len() {
        return Err(ReadError::Truncated);
    }
    Ok(Some(Message { op, id, body }))
}

/// Fills `buf` unless the stream ends first; returns how much it read.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> std::result::Result<usize, ReadError> {
    let mut got = 0;
    while got < buf.len() {
        match reader.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ReadError::Io(e)),
        }
    }
    Ok(got)
}

/// Builds a message body field by field.
#[derive(Default)]
pub struct Encoder {
    bytes: Vec<u8>,
}

impl Encoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn u32(mut self, value: u32) -> Self {
        self.bytes.extend(value.to_le_bytes());
        self
    }

    pub fn u64(mut self, value: u64) -> Self {
        self.bytes.extend(value.to_le_bytes());
        self
    }

    /// Raw bytes with no length before them (the hello's magic).
    pub fn raw(mut self, bytes: &[u8]) -> Self {
        self.bytes.extend(bytes);
        self
    }

    pub fn bytes(self, bytes: &[u8]) -> Self {
        self.u32(bytes.len() as u32).raw(bytes)
    }

    pub fn str(self, text: &str) -> Self {
        self.bytes(text.as_bytes())
    }

    pub fn strs<S: AsRef<str>>(self, list: &[S]) -> Self {
        list.iter().fold(self.u32(list.len() as u32), |e, s| e.str(s.as_ref()))
    }

    pub fn finish(self) -> Vec<u8> {
        self.bytes
    }
}

/// Reads a message body field by field; a short body is an error, and so are leftover bytes
/// (checked by `finish`).
pub struct Decoder<'a> {
    bytes: &'a [u8],
    op: u32,
}

impl<'a> Decoder<'a> {
    pub fn new(message: &'a Message) -> Self {
        Self::over(message.op, &message.body)
    }

    /// Reads `bytes`, the body of a message `op` (named in errors).
    pub fn over(op: u32, bytes: &'a [u8]) -> Self {
        Decoder { bytes, op }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.bytes.len() < n {
            return Err(malformed(format!("the body of message {} is too short", op_name(self.op))));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    pub fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }

    pub fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }

    pub fn raw(&mut self, n: usize) -> Result<&'a [u8]> {
        self.take(n)
    }

    pub fn bytes(&mut self) -> Result<&'a [u8]> {
        let len = self.u32()? as usize;
        self.take(len)
    }

    pub fn string(&mut self) -> Result<String> {
        Ok(String::from_utf8_lossy(self.bytes()?).into_owned())
    }

    pub fn finish(self) -> Result<()> {
        match self.bytes.len() {
            0 => Ok(()),
            n => Err(malformed(format!("{n} unexpected bytes at the end of message {}", op_name(self.op)))),
        }
    }
}

pub fn malformed(what: String) -> JitError {
    JitError::other(format!("executor protocol: {what}"))
}

/// What the executor says first: who it is and what it runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    pub version: u32,
    /// The ELF `e_machine` of the executor's architecture (62 x86-64, 183 AArch64).
    pub machine: u16,
    pub page_size: u64,
    /// In bytes.
    pub pointer_width: u32,
    pub pid: u32,
    /// The executor mapped the shared memory it was given (`--shm FD`).
    pub shared_memory: bool,
}

impl Hello {
    pub fn encode(&self) -> Vec<u8> {
        Encoder::new()
            .raw(&MAGIC)
            .u32(self.version)
            .u32(u32::from(self.machine))
            .u32(self.page_size as u32)
            .u32(self.pointer_width)
            .u32(self.pid)
            .u32(if self.shared_memory { HELLO_SHARED_MEMORY } else { 0 })
            .finish()
    }

    pub fn decode(message: &Message) -> Result<Hello> {
        if message.op != OP_HELLO {
            return Err(malformed(format!("expected a hello, got message {}", op_name(message.op))));
        }
        let mut d = Decoder::new(message);
        if d.raw(MAGIC.len())? != MAGIC {
            return Err(malformed("the peer is not a jitld executor (bad magic)".into()));
        }
        let version = d.u32()?;
        if version != VERSION {
            return Err(malformed(format!("executor speaks protocol version {version}, this jitld speaks {VERSION}")));
        }
        let machine = d.u32()?;
        let page_size = u64::from(d.u32()?);
        let pointer_width = d.u32()?;
        let pid = d.u32()?;
        let flags = d.u32()?;
        d.finish()?;
        if !page_size.is_power_of_two() {
            return Err(malformed(format!("executor page size {page_size} is not a power of two")));
        }
        Ok(Hello {
            version,
            machine: u16::try_from(machine).map_err(|_| malformed(format!("bad e_machine {machine}")))?,
            page_size,
            pointer_width,
            pid,
            shared_memory: flags & HELLO_SHARED_MEMORY != 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_framed_message_reads_back() {
        let body = Encoder::new().u64(7).str("puts").strs(&["a", "b"]).finish();
        let bytes = frame(OP_LOOKUP, 9, &body);
        let message = read_message(&mut &bytes[..]).unwrap().unwrap();
        assert_eq!((message.op, message.id), (OP_LOOKUP, 9));
        let mut d = Decoder::new(&message);
        assert_eq!(d.u64().unwrap(), 7);
        assert_eq!(d.string().unwrap(), "puts");
        assert_eq!(d.u32().unwrap(), 2);
        assert_eq!((d.string().unwrap(), d.string().unwrap()), ("a".into(), "b".into()));
        d.finish().unwrap();
    }

    #[test]
    fn short_long_and_oversized_messages_are_errors() {
        let bytes = frame(OP_READ, 1, &[1, 2, 3]);
        assert!(matches!(read_message(&mut &bytes[..5]), Err(ReadError::Truncated)));
        assert!(matches!(read_message(&mut &bytes[..18]), Err(ReadError::Truncated)));
        assert!(read_message(&mut &[][..]).unwrap().is_none());
        let mut huge = frame(OP_WRITE, 1, &[]);
        huge[..4].copy_from_slice(&(MAX_BODY + 1).to_le_bytes());
        assert!(matches!(read_message(&mut &huge[..]), Err(ReadError::TooLarge { .. })));
        let message = read_message(&mut &bytes[..]).unwrap().unwrap();
        let mut d = Decoder::new(&message);
        assert!(d.u64().is_err());
        let mut d = Decoder::new(&message);
        d.u32().unwrap_err();
        let d = Decoder::new(&message);
        assert!(d.finish().is_err());
    }

    #[test]
    fn hello_round_trips_and_checks_version() {
        let hello =
            Hello { version: VERSION, machine: 62, page_size: 4096, pointer_width: 8, pid: 5, shared_memory: true };
        let message = Message { op: OP_HELLO, id: 0, body: hello.encode() };
        assert_eq!(Hello::decode(&message).unwrap(), hello);
        let old = Hello { version: 0, ..hello };
        assert!(Hello::decode(&Message { op: OP_HELLO, id: 0, body: old.encode() }).is_err());
    }
}
