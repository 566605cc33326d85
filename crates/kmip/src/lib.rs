//! KMIP (OASIS Key Management Interoperability Protocol) for minikms: the
//! bytes and the message model, no I/O and no keys. The enclave's KMIP
//! listener (issue 35) reads a message's length with [`ttlv::frame_len`],
//! decodes it with [`message::RequestMessage::decode`], and answers with an
//! encoded [`message::ResponseMessage`].
//!
//! Layout:
//! - [`ttlv`]: the TTLV codec (tag 3 bytes, type 1, length 4, value padded
//!   to 8). Total on hostile input: lengths that lie, unknown tags or
//!   types, deep nesting, truncation and messages over [`ttlv::MAX_MESSAGE`]
//!   are errors, never a panic, a hang or an allocation larger than the
//!   input. What it decodes it encodes again byte for byte.
//! - [`tags`]: the tag values this crate reads or writes, and the names of
//!   the attributes KMIP 2.x sends by tag.
//! - [`enums`]: `Operation`, `ObjectType`, `ResultStatus`, `ResultReason`
//!   with the specification's values.
//! - [`message`] (with `payload`, `version` and `fields`): request and response messages (header, batch items),
//!   attributes of KMIP 1.x (`Attribute` name and value) and 2.x (an
//!   `Attributes` structure), and the typed payloads of the operations
//!   the issue lists.
//!
//! Why a codec of our own and not `kmip-ttlv`: docs/kmip.md.

pub mod enums;
mod fields;
pub mod message;
mod payload;
pub mod tags;
pub mod ttlv;
mod version;

pub use fields::Error;
pub use ttlv::{Item, Tag, Value};
