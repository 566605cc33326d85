//! Reading a structure's items by tag, and the model's errors. Every
//! structure the model reads goes through [`Fields`]: a field that is
//! missing, given twice or not expected there is an error, so a message
//! the model accepts has one meaning.

use thiserror::Error;

use crate::enums::ResultReason;
use crate::ttlv::{self, Bytes, Item, Tag, Type, Value};

/// What is wrong with a KMIP message, beyond its TTLV. Every variant is
/// the sender's fault.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum Error {
    #[error(transparent)]
    Ttlv(#[from] ttlv::Error),
    #[error("expected the tag {expected}, found {found}")]
    WrongTag { expected: Tag, found: Tag },
    #[error("the item {tag} is a {found:?}; it must be a {expected:?}")]
    WrongType {
        tag: Tag,
        expected: Type,
        found: Type,
    },
    #[error("the structure {within} lacks its required item {tag}")]
    Missing { tag: Tag, within: Tag },
    #[error("the structure {within} has the single-valued item {tag} more than once")]
    Duplicate { tag: Tag, within: Tag },
    #[error("the structure {within} has the item {tag}, which does not belong there")]
    Unexpected { tag: Tag, within: Tag },
    #[error("the item {tag} has the value 0x{value:X}, which is not one this server knows")]
    UnknownValue { tag: Tag, value: u32 },
    #[error("the request header's batch count is {said} but the message has {found} batch items")]
    BatchCount { said: i32, found: usize },
    #[error("the protocol version {major}.{minor} is not one this server speaks")]
    UnsupportedVersion { major: i32, minor: i32 },
}

impl Error {
    /// The result reason a server gives for a message it cannot read.
    pub fn result_reason(&self) -> ResultReason {
        match self {
            Error::UnknownValue { tag, .. } if *tag == crate::tags::OPERATION => {
                ResultReason::OperationNotSupported
            }
            Error::UnsupportedVersion { .. } => ResultReason::InvalidMessage,
            Error::UnknownValue { .. } | Error::WrongType { .. } => ResultReason::InvalidField,
            _ => ResultReason::InvalidMessage,
        }
    }
}

/// A structure's items, taken one tag at a time.
pub(crate) struct Fields {
    within: Tag,
    items: Vec<Option<Item>>,
}

impl Fields {
    /// The items of `item`, which must be a structure tagged `tag`.
    pub(crate) fn of(item: Item, tag: Tag) -> Result<Fields, Error> {
        if item.tag != tag {
            return Err(Error::WrongTag {
                expected: tag,
                found: item.tag,
            });
        }
        Ok(Fields {
            within: tag,
            items: structure(item)?.into_iter().map(Some).collect(),
        })
    }

    /// The one item tagged `tag`, if there is one.
    pub(crate) fn opt(&mut self, tag: Tag) -> Result<Option<Item>, Error> {
        let mut found = None;
        for slot in &mut self.items {
            if slot.as_ref().is_some_and(|i| i.tag == tag) {
                if found.is_some() {
                    return Err(Error::Duplicate {
                        tag,
                        within: self.within,
                    });
                }
                found = slot.take();
            }
        }
        Ok(found)
    }

    /// The one item tagged `tag`, which must be there.
    pub(crate) fn one(&mut self, tag: Tag) -> Result<Item, Error> {
        self.opt(tag)?.ok_or(Error::Missing {
            tag,
            within: self.within,
        })
    }

    /// Every item tagged `tag`, in order.
    pub(crate) fn all(&mut self, tag: Tag) -> Vec<Item> {
        self.items
            .iter_mut()
            .filter(|slot| slot.as_ref().is_some_and(|i| i.tag == tag))
            .filter_map(Option::take)
            .collect()
    }

    /// Every item not taken yet, in order.
    pub(crate) fn all_left(&mut self) -> Vec<Item> {
        self.items.iter_mut().filter_map(Option::take).collect()
    }

    /// Fails on the first item no one took.
    pub(crate) fn finish(self) -> Result<(), Error> {
        match self.items.into_iter().flatten().next() {
            Some(left) => Err(Error::Unexpected {
                tag: left.tag,
                within: self.within,
            }),
            None => Ok(()),
        }
    }
}

fn wrong(item: &Item, expected: Type) -> Error {
    Error::WrongType {
        tag: item.tag,
        expected,
        found: item.value.type_of(),
    }
}

pub(crate) fn structure(item: Item) -> Result<Vec<Item>, Error> {
    match item.value {
        Value::Structure(items) => Ok(items),
        _ => Err(wrong(&item, Type::Structure)),
    }
}

pub(crate) fn integer(item: &Item) -> Result<i32, Error> {
    match item.value {
        Value::Integer(v) => Ok(v),
        _ => Err(wrong(item, Type::Integer)),
    }
}

pub(crate) fn enumeration(item: &Item) -> Result<u32, Error> {
    match item.value {
        Value::Enumeration(v) => Ok(v),
        _ => Err(wrong(item, Type::Enumeration)),
    }
}

pub(crate) fn boolean(item: &Item) -> Result<bool, Error> {
    match item.value {
        Value::Boolean(v) => Ok(v),
        _ => Err(wrong(item, Type::Boolean)),
    }
}

pub(crate) fn date_time(item: &Item) -> Result<i64, Error> {
    match item.value {
        Value::DateTime(v) => Ok(v),
        _ => Err(wrong(item, Type::DateTime)),
    }
}

pub(crate) fn text(item: Item) -> Result<String, Error> {
    match item.value {
        Value::TextString(v) => Ok(v),
        _ => Err(wrong(&item, Type::TextString)),
    }
}

pub(crate) fn bytes(item: Item) -> Result<Bytes, Error> {
    match item.value {
        Value::ByteString(v) => Ok(v),
        _ => Err(wrong(&item, Type::ByteString)),
    }
}

/// An enumeration read into one of [`crate::enums`]' types.
pub(crate) fn known<T>(item: &Item, from: fn(u32) -> Option<T>) -> Result<T, Error> {
    let value = enumeration(item)?;
    from(value).ok_or(Error::UnknownValue {
        tag: item.tag,
        value,
    })
}

/// `f` applied to the optional item, if it is there.
pub(crate) fn map_opt<T>(
    item: Option<Item>,
    f: impl FnOnce(Item) -> Result<T, Error>,
) -> Result<Option<T>, Error> {
    item.map(f).transpose()
}
