//! The protocol version every message carries, and the versions read.

use crate::fields::{self, Error, Fields};
use crate::tags;
use crate::ttlv::{Item, Value};

/// A protocol version (major.minor).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ProtocolVersion {
    pub major: i32,
    pub minor: i32,
}

impl ProtocolVersion {
    /// The versions this crate reads, newest first (the order
    /// DiscoverVersions answers in).
    pub const SUPPORTED: &[ProtocolVersion] = &[
        ProtocolVersion::new(2, 1),
        ProtocolVersion::new(2, 0),
        ProtocolVersion::new(1, 4),
        ProtocolVersion::new(1, 3),
        ProtocolVersion::new(1, 2),
        ProtocolVersion::new(1, 1),
        ProtocolVersion::new(1, 0),
    ];

    pub const fn new(major: i32, minor: i32) -> ProtocolVersion {
        ProtocolVersion { major, minor }
    }

    /// KMIP 2.x: attributes by tag in an `Attributes` structure, not by name.
    pub fn is_2x(self) -> bool {
        self.major >= 2
    }

    pub(crate) fn read(item: Item) -> Result<ProtocolVersion, Error> {
        let mut f = Fields::of(item, tags::PROTOCOL_VERSION)?;
        let major = fields::integer(&f.one(tags::PROTOCOL_VERSION_MAJOR)?)?;
        let minor = fields::integer(&f.one(tags::PROTOCOL_VERSION_MINOR)?)?;
        f.finish()?;
        Ok(ProtocolVersion { major, minor })
    }

    pub fn to_item(self) -> Item {
        Item::structure(
            tags::PROTOCOL_VERSION,
            vec![
                Item::new(tags::PROTOCOL_VERSION_MAJOR, Value::Integer(self.major)),
                Item::new(tags::PROTOCOL_VERSION_MINOR, Value::Integer(self.minor)),
            ],
        )
    }
}
