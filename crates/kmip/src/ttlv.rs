//! The TTLV codec: every KMIP item is a 3-byte tag, a 1-byte type, a 4-byte
//! big-endian length and a value padded with zeros to a multiple of 8 bytes;
//! a structure's value is its items, one after the other.
//!
//! Decoding is total and strict, so that one message has one reading and
//! re-encodes to the same bytes: a length that runs past the message or
//! past the structure holding it, a length wrong for its type, a tag outside
//! KMIP's (0x42xxxx) and the extensions' (0x54xxxx) ranges, an unknown type,
//! non-zero padding, a boolean other than 0 or 1, text that is not UTF-8,
//! structures nested deeper than [`MAX_DEPTH`], bytes after the message and
//! messages over [`MAX_MESSAGE`] are each an [`Error`]. Every length is
//! checked against the bytes present before anything is allocated, so a
//! decode allocates at most in proportion to its input.

use std::fmt;
use std::ops::Deref;

use thiserror::Error;
use zeroize::Zeroizing;

/// The largest message decoded (and the largest a listener reads): 1 MiB.
/// Far above any key a client registers or a batch PyKMIP sends (the
/// largest captured PyKMIP message is under 1 KiB), and small enough that
/// a connection cannot make the enclave hold much memory.
pub const MAX_MESSAGE: usize = 1 << 20;

/// The deepest nesting of structures decoded. The deepest KMIP messages
/// (a Register of a transparent key: message, batch item, payload, object,
/// key block, key value, key material) use 7 levels.
pub const MAX_DEPTH: usize = 16;

/// An item's header: tag, type, length.
pub const HEADER: usize = 8;

/// A KMIP tag (three bytes on the wire).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(pub u32);

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:06X}", self.0)
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// An item's type byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Type {
    Structure = 0x01,
    Integer = 0x02,
    LongInteger = 0x03,
    BigInteger = 0x04,
    Enumeration = 0x05,
    Boolean = 0x06,
    TextString = 0x07,
    ByteString = 0x08,
    DateTime = 0x09,
    Interval = 0x0A,
    DateTimeExtended = 0x0B,
}

impl Type {
    fn from_byte(b: u8) -> Option<Type> {
        Some(match b {
            0x01 => Type::Structure,
            0x02 => Type::Integer,
            0x03 => Type::LongInteger,
            0x04 => Type::BigInteger,
            0x05 => Type::Enumeration,
            0x06 => Type::Boolean,
            0x07 => Type::TextString,
            0x08 => Type::ByteString,
            0x09 => Type::DateTime,
            0x0A => Type::Interval,
            0x0B => Type::DateTimeExtended,
            _ => return None,
        })
    }
}

/// Bytes that may be key material: zeroized on drop, and their `Debug`
/// shows only the length.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Bytes(Zeroizing<Vec<u8>>);

impl Bytes {
    pub fn new(bytes: Vec<u8>) -> Bytes {
        Bytes(Zeroizing::new(bytes))
    }
}

impl Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl From<&[u8]> for Bytes {
    fn from(bytes: &[u8]) -> Bytes {
        Bytes::new(bytes.to_vec())
    }
}

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} bytes>", self.0.len())
    }
}

/// An item's value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Structure(Vec<Item>),
    Integer(i32),
    LongInteger(i64),
    /// Big-endian two's complement, as sent (a multiple of 8 bytes).
    BigInteger(Bytes),
    Enumeration(u32),
    Boolean(bool),
    TextString(String),
    ByteString(Bytes),
    /// Seconds since the Unix epoch.
    DateTime(i64),
    Interval(u32),
    /// Microseconds since the Unix epoch (KMIP 2.x).
    DateTimeExtended(i64),
}

impl Value {
    pub fn type_of(&self) -> Type {
        match self {
            Value::Structure(_) => Type::Structure,
            Value::Integer(_) => Type::Integer,
            Value::LongInteger(_) => Type::LongInteger,
            Value::BigInteger(_) => Type::BigInteger,
            Value::Enumeration(_) => Type::Enumeration,
            Value::Boolean(_) => Type::Boolean,
            Value::TextString(_) => Type::TextString,
            Value::ByteString(_) => Type::ByteString,
            Value::DateTime(_) => Type::DateTime,
            Value::Interval(_) => Type::Interval,
            Value::DateTimeExtended(_) => Type::DateTimeExtended,
        }
    }
}

/// One TTLV item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    pub tag: Tag,
    pub value: Value,
}

impl Item {
    pub fn new(tag: Tag, value: Value) -> Item {
        Item { tag, value }
    }

    pub fn structure(tag: Tag, items: Vec<Item>) -> Item {
        Item::new(tag, Value::Structure(items))
    }

    /// Decodes one whole message (see the module's doc for what is refused).
    pub fn decode(bytes: &[u8]) -> Result<Item, Error> {
        decode(bytes)
    }

    /// Encodes the item; fails only if a length does not fit in 4 bytes.
    pub fn encode(&self) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        write(self, &mut out)?;
        Ok(out)
    }
}

/// What is wrong with a TTLV message. Every variant is the sender's fault;
/// `at` is the offset of the offending item's header.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum Error {
    #[error(
        "the TTLV message is {len} bytes, over the limit of {MAX_MESSAGE}: send a smaller message"
    )]
    TooLarge { len: usize },
    #[error(
        "the item at byte {at} runs past the end of the message or of the structure that holds it"
    )]
    Length { at: usize },
    #[error("the tag 0x{tag:06X} at byte {at} is neither a KMIP tag (0x42xxxx) nor an extension tag (0x54xxxx)")]
    UnknownTag { tag: u32, at: usize },
    #[error("the item at byte {at} has the unknown type 0x{ty:02X}")]
    UnknownType { ty: u8, at: usize },
    #[error("the item at byte {at} is a {ty:?} of {len} bytes, a length that type cannot have")]
    BadLength { ty: Type, len: usize, at: usize },
    #[error("the item at byte {at} has padding bytes that are not zero")]
    BadPadding { at: usize },
    #[error("the boolean at byte {at} is neither 0 nor 1")]
    BadBoolean { at: usize },
    #[error("the text string at byte {at} is not UTF-8")]
    BadText { at: usize },
    #[error("the structure at byte {at} is nested deeper than {MAX_DEPTH} levels")]
    TooDeep { at: usize },
    #[error("{extra} bytes follow the end of the TTLV message")]
    Trailing { extra: usize },
    #[error("a KMIP message is a structure; this one starts with a {ty:?}")]
    NotAStructure { ty: Type },
    #[error("an item of {len} bytes cannot be encoded (lengths are 4 bytes)")]
    TooLong { len: usize },
}

/// The whole length of a message from its first [`HEADER`] bytes, for a
/// reader that must know how much to read: the message must be a structure
/// with a known tag, whose length is a multiple of 8 and whose whole is at
/// most [`MAX_MESSAGE`].
pub fn frame_len(header: &[u8; HEADER]) -> Result<usize, Error> {
    let (tag, ty, len) = parse_header(header, 0)?;
    check_tag(tag, 0)?;
    if ty != Type::Structure {
        return Err(Error::NotAStructure { ty });
    }
    check_length(ty, len, 0)?;
    let total = len.saturating_add(HEADER);
    if total > MAX_MESSAGE {
        return Err(Error::TooLarge { len: total });
    }
    Ok(total)
}

/// Decodes one whole message: exactly one item, and nothing after it.
pub fn decode(bytes: &[u8]) -> Result<Item, Error> {
    if bytes.len() > MAX_MESSAGE {
        return Err(Error::TooLarge { len: bytes.len() });
    }
    let mut reader = Reader {
        bytes,
        pos: 0,
        end: bytes.len(),
    };
    let item = reader.item(1)?;
    if reader.pos != bytes.len() {
        return Err(Error::Trailing {
            extra: bytes.len() - reader.pos,
        });
    }
    Ok(item)
}

fn parse_header(h: &[u8], at: usize) -> Result<(u32, Type, usize), Error> {
    let &[t0, t1, t2, ty, l0, l1, l2, l3] = h else {
        return Err(Error::Length { at });
    };
    let tag = u32::from_be_bytes([0, t0, t1, t2]);
    let ty = Type::from_byte(ty).ok_or(Error::UnknownType { ty, at })?;
    let len = u32::from_be_bytes([l0, l1, l2, l3]) as usize;
    Ok((tag, ty, len))
}

fn check_tag(tag: u32, at: usize) -> Result<(), Error> {
    match tag >> 16 {
        0x42 | 0x54 => Ok(()),
        _ => Err(Error::UnknownTag { tag, at }),
    }
}

fn check_length(ty: Type, len: usize, at: usize) -> Result<(), Error> {
    let ok = match ty {
        Type::Integer | Type::Enumeration | Type::Interval => len == 4,
        Type::LongInteger | Type::Boolean | Type::DateTime | Type::DateTimeExtended => len == 8,
        Type::BigInteger => len > 0 && len.is_multiple_of(8),
        Type::Structure => len.is_multiple_of(8),
        Type::TextString | Type::ByteString => true,
    };
    if ok {
        Ok(())
    } else {
        Err(Error::BadLength { ty, len, at })
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// The end of the innermost structure being read.
    end: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, at: usize) -> Result<&'a [u8], Error> {
        let stop = self.pos.checked_add(n).ok_or(Error::Length { at })?;
        if stop > self.end {
            return Err(Error::Length { at });
        }
        let slice = self.bytes.get(self.pos..stop).ok_or(Error::Length { at })?;
        self.pos = stop;
        Ok(slice)
    }

    fn item(&mut self, depth: usize) -> Result<Item, Error> {
        let at = self.pos;
        let (tag, ty, len) = parse_header(self.take(HEADER, at)?, at)?;
        check_tag(tag, at)?;
        check_length(ty, len, at)?;
        let tag = Tag(tag);
        if ty == Type::Structure {
            if depth > MAX_DEPTH {
                return Err(Error::TooDeep { at });
            }
            let stop = self.pos.checked_add(len).ok_or(Error::Length { at })?;
            if stop > self.end {
                return Err(Error::Length { at });
            }
            let outer = std::mem::replace(&mut self.end, stop);
            let mut items = Vec::new();
            while self.pos < stop {
                items.push(self.item(depth + 1)?);
            }
            self.end = outer;
            return Ok(Item::structure(tag, items));
        }
        let padded = len.checked_add(7).ok_or(Error::Length { at })? / 8 * 8;
        let body = self.take(padded, at)?;
        let (v, pad) = body.split_at(len);
        if pad.iter().any(|&b| b != 0) {
            return Err(Error::BadPadding { at });
        }
        let value = match ty {
            Type::Integer => Value::Integer(i32::from_be_bytes(four(v, at)?)),
            Type::Enumeration => Value::Enumeration(u32::from_be_bytes(four(v, at)?)),
            Type::Interval => Value::Interval(u32::from_be_bytes(four(v, at)?)),
            Type::LongInteger => Value::LongInteger(i64::from_be_bytes(eight(v, at)?)),
            Type::DateTime => Value::DateTime(i64::from_be_bytes(eight(v, at)?)),
            Type::DateTimeExtended => Value::DateTimeExtended(i64::from_be_bytes(eight(v, at)?)),
            Type::Boolean => match u64::from_be_bytes(eight(v, at)?) {
                0 => Value::Boolean(false),
                1 => Value::Boolean(true),
                _ => return Err(Error::BadBoolean { at }),
            },
            Type::BigInteger => Value::BigInteger(Bytes::from(v)),
            Type::ByteString => Value::ByteString(Bytes::from(v)),
            Type::TextString => Value::TextString(
                std::str::from_utf8(v)
                    .map_err(|_| Error::BadText { at })?
                    .to_owned(),
            ),
            Type::Structure => return Err(Error::Length { at }),
        };
        Ok(Item::new(tag, value))
    }
}

fn four(v: &[u8], at: usize) -> Result<[u8; 4], Error> {
    v.try_into().map_err(|_| Error::Length { at })
}

fn eight(v: &[u8], at: usize) -> Result<[u8; 8], Error> {
    v.try_into().map_err(|_| Error::Length { at })
}

fn write(item: &Item, out: &mut Vec<u8>) -> Result<(), Error> {
    let tag = item.tag.0.to_be_bytes();
    out.extend_from_slice(&tag[1..]);
    out.push(item.value.type_of() as u8);
    let len_at = out.len();
    out.extend_from_slice(&[0; 4]);
    let start = out.len();
    match &item.value {
        Value::Structure(items) => {
            for child in items {
                write(child, out)?;
            }
        }
        Value::Integer(v) => out.extend_from_slice(&v.to_be_bytes()),
        Value::Enumeration(v) | Value::Interval(v) => out.extend_from_slice(&v.to_be_bytes()),
        Value::LongInteger(v) | Value::DateTime(v) | Value::DateTimeExtended(v) => {
            out.extend_from_slice(&v.to_be_bytes())
        }
        Value::Boolean(v) => out.extend_from_slice(&u64::from(*v).to_be_bytes()),
        Value::BigInteger(v) | Value::ByteString(v) => out.extend_from_slice(v),
        Value::TextString(v) => out.extend_from_slice(v.as_bytes()),
    }
    let len = out.len() - start;
    let wire = u32::try_from(len).map_err(|_| Error::TooLong { len })?;
    out[len_at..start].copy_from_slice(&wire.to_be_bytes());
    out.resize(start + len.div_ceil(8) * 8, 0);
    Ok(())
}

#[cfg(test)]
#[path = "ttlv_tests.rs"]
mod tests;
