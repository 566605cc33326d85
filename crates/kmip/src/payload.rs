//! The typed request payloads of the operations issue 35 lists, and
//! attributes in both of KMIP's shapes: 1.x names each attribute by text
//! (`Attribute { Attribute Name, Attribute Index?, Attribute Value }`,
//! grouped in a `Template-Attribute`), 2.x sends each by its own tag in an
//! `Attributes` structure. Both read into the same [`Attribute`].
//!
//! Structures the operations will interpret later (Cryptographic
//! Parameters, the key block of a registered object, a Key Wrapping
//! Specification) are kept as items here; everything else is read into
//! fields, and an item not defined for the operation is an error.

use crate::enums::{ObjectType, Operation};
use crate::fields::{self, Error, Fields};
use crate::tags;
use crate::ttlv::{Bytes, Item, Tag, Value};
use crate::version::ProtocolVersion;

/// One attribute, whichever version sent it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attribute {
    /// The specification's name (`Cryptographic Algorithm`, `Name`, ...).
    pub name: String,
    /// 1.x only: which instance of a multi-instance attribute.
    pub index: Option<i32>,
    pub value: Value,
}

impl Attribute {
    /// The attribute as `version` sends it (a 2.x attribute without a tag
    /// in [`tags::attribute_name`]'s table cannot be sent, hence the Option).
    pub fn to_item(&self, version: ProtocolVersion) -> Option<Item> {
        if version.is_2x() {
            return tags::attribute_tag(&self.name).map(|tag| Item::new(tag, self.value.clone()));
        }
        let mut items = vec![Item::new(
            tags::ATTRIBUTE_NAME,
            Value::TextString(self.name.clone()),
        )];
        if let Some(index) = self.index {
            items.push(Item::new(tags::ATTRIBUTE_INDEX, Value::Integer(index)));
        }
        items.push(Item::new(tags::ATTRIBUTE_VALUE, self.value.clone()));
        Some(Item::structure(tags::ATTRIBUTE, items))
    }
}

/// The fields of the cryptographic operations (Encrypt, Decrypt, Sign,
/// SignatureVerify, MAC, MACVerify); each reads only the ones the
/// specification gives it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Crypt {
    pub unique_identifier: Option<String>,
    pub cryptographic_parameters: Option<Item>,
    pub data: Option<Bytes>,
    /// Encrypt, Decrypt.
    pub iv_counter_nonce: Option<Bytes>,
    /// Encrypt, Decrypt (AEAD).
    pub additional_data: Option<Bytes>,
    /// Decrypt (AEAD).
    pub tag: Option<Bytes>,
    /// Sign, SignatureVerify: a digest the client computed.
    pub digested_data: Option<Bytes>,
    /// SignatureVerify's signature, MACVerify's MAC.
    pub expected: Option<Bytes>,
    pub correlation_value: Option<Bytes>,
    pub init_indicator: Option<bool>,
    pub final_indicator: Option<bool>,
}

/// A batch item's request payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    DiscoverVersions {
        versions: Vec<ProtocolVersion>,
    },
    Query {
        /// Query Function values (kept as numbers: the server answers the
        /// ones it knows and ignores the rest, as the specification says).
        functions: Vec<u32>,
    },
    Create {
        object_type: ObjectType,
        attributes: Vec<Attribute>,
    },
    CreateKeyPair {
        common: Vec<Attribute>,
        private: Vec<Attribute>,
        public: Vec<Attribute>,
    },
    Register {
        object_type: ObjectType,
        attributes: Vec<Attribute>,
        /// The object itself (Symmetric Key, Private Key, Public Key,
        /// Secret Data or Opaque Object, by its tag).
        object: Item,
    },
    Get {
        unique_identifier: Option<String>,
        key_format_type: Option<u32>,
        key_compression_type: Option<u32>,
        key_wrapping_specification: Option<Item>,
    },
    GetAttributes {
        unique_identifier: Option<String>,
        /// The names asked for (2.x's Attribute References by tag, named).
        names: Vec<String>,
    },
    GetAttributeList {
        unique_identifier: Option<String>,
    },
    Locate {
        maximum_items: Option<i32>,
        offset_items: Option<i32>,
        storage_status_mask: Option<i32>,
        object_group_member: Option<u32>,
        attributes: Vec<Attribute>,
    },
    Activate {
        unique_identifier: Option<String>,
    },
    Revoke {
        unique_identifier: Option<String>,
        reason_code: u32,
        reason_message: Option<String>,
        compromise_occurrence_date: Option<i64>,
    },
    Destroy {
        unique_identifier: Option<String>,
    },
    Encrypt(Crypt),
    Decrypt(Crypt),
    Sign(Crypt),
    SignatureVerify(Crypt),
    Mac(Crypt),
    MacVerify(Crypt),
    /// An operation this model does not type yet: its payload's items.
    Other(Vec<Item>),
}

/// The tags of the objects Register accepts.
const OBJECTS: &[Tag] = &[
    tags::SYMMETRIC_KEY,
    tags::PRIVATE_KEY,
    tags::PUBLIC_KEY,
    tags::SECRET_DATA,
    tags::OPAQUE_OBJECT,
    tags::CERTIFICATE,
];

impl Request {
    /// Reads `operation`'s payload as `version` lays it out.
    pub fn read(
        operation: Operation,
        payload: Item,
        version: ProtocolVersion,
    ) -> Result<Self, Error> {
        let mut f = Fields::of(payload, tags::REQUEST_PAYLOAD)?;
        let request = match operation {
            Operation::DiscoverVersions => Request::DiscoverVersions {
                versions: f
                    .all(tags::PROTOCOL_VERSION)
                    .into_iter()
                    .map(ProtocolVersion::read)
                    .collect::<Result<_, _>>()?,
            },
            Operation::Query => Request::Query {
                functions: f
                    .all(tags::QUERY_FUNCTION)
                    .iter()
                    .map(fields::enumeration)
                    .collect::<Result<_, _>>()?,
            },
            Operation::Create => Request::Create {
                object_type: object_type(&mut f)?,
                attributes: attributes(
                    &mut f,
                    version,
                    tags::TEMPLATE_ATTRIBUTE,
                    tags::ATTRIBUTES,
                )?
                .unwrap_or_default(),
            },
            Operation::CreateKeyPair => {
                let mut group =
                    |v1, v2| attributes(&mut f, version, v1, v2).map(Option::unwrap_or_default);
                Request::CreateKeyPair {
                    common: group(tags::COMMON_TEMPLATE_ATTRIBUTE, tags::COMMON_ATTRIBUTES)?,
                    private: group(
                        tags::PRIVATE_KEY_TEMPLATE_ATTRIBUTE,
                        tags::PRIVATE_KEY_ATTRIBUTES,
                    )?,
                    public: group(
                        tags::PUBLIC_KEY_TEMPLATE_ATTRIBUTE,
                        tags::PUBLIC_KEY_ATTRIBUTES,
                    )?,
                }
            }
            Operation::Register => {
                let object_type = object_type(&mut f)?;
                let attributes =
                    attributes(&mut f, version, tags::TEMPLATE_ATTRIBUTE, tags::ATTRIBUTES)?
                        .unwrap_or_default();
                let mut objects = Vec::new();
                for tag in OBJECTS {
                    objects.extend(f.opt(*tag)?);
                }
                if objects.len() > 1 {
                    return Err(Error::Duplicate {
                        tag: tags::OBJECT_TYPE,
                        within: tags::REQUEST_PAYLOAD,
                    });
                }
                let object = objects.pop().ok_or(Error::Missing {
                    tag: tags::SYMMETRIC_KEY,
                    within: tags::REQUEST_PAYLOAD,
                })?;
                Request::Register {
                    object_type,
                    attributes,
                    object,
                }
            }
            Operation::Get => Request::Get {
                unique_identifier: uid(&mut f)?,
                key_format_type: opt_enum(&mut f, tags::KEY_FORMAT_TYPE)?,
                key_compression_type: opt_enum(&mut f, tags::KEY_COMPRESSION_TYPE)?,
                key_wrapping_specification: f.opt(tags::KEY_WRAPPING_SPECIFICATION)?,
            },
            Operation::GetAttributes => Request::GetAttributes {
                unique_identifier: uid(&mut f)?,
                names: if version.is_2x() {
                    f.all(tags::ATTRIBUTE_REFERENCE)
                        .iter()
                        .map(reference_name)
                        .collect::<Result<_, _>>()?
                } else {
                    f.all(tags::ATTRIBUTE_NAME)
                        .into_iter()
                        .map(fields::text)
                        .collect::<Result<_, _>>()?
                },
            },
            Operation::GetAttributeList => Request::GetAttributeList {
                unique_identifier: uid(&mut f)?,
            },
            Operation::Locate => Request::Locate {
                maximum_items: opt_int(&mut f, tags::MAXIMUM_ITEMS)?,
                offset_items: opt_int(&mut f, tags::OFFSET_ITEMS)?,
                storage_status_mask: opt_int(&mut f, tags::STORAGE_STATUS_MASK)?,
                object_group_member: opt_enum(&mut f, tags::OBJECT_GROUP_MEMBER)?,
                attributes: if version.is_2x() {
                    fields::map_opt(f.opt(tags::ATTRIBUTES)?, |i| {
                        v2_attributes(i, tags::ATTRIBUTES)
                    })?
                    .unwrap_or_default()
                } else {
                    f.all(tags::ATTRIBUTE)
                        .into_iter()
                        .map(v1_attribute)
                        .collect::<Result<_, _>>()?
                },
            },
            Operation::Activate => Request::Activate {
                unique_identifier: uid(&mut f)?,
            },
            Operation::Destroy => Request::Destroy {
                unique_identifier: uid(&mut f)?,
            },
            Operation::Revoke => {
                let unique_identifier = uid(&mut f)?;
                let mut reason =
                    Fields::of(f.one(tags::REVOCATION_REASON)?, tags::REVOCATION_REASON)?;
                let reason_code = fields::enumeration(&reason.one(tags::REVOCATION_REASON_CODE)?)?;
                let reason_message =
                    fields::map_opt(reason.opt(tags::REVOCATION_MESSAGE)?, fields::text)?;
                reason.finish()?;
                Request::Revoke {
                    unique_identifier,
                    reason_code,
                    reason_message,
                    compromise_occurrence_date: fields::map_opt(
                        f.opt(tags::COMPROMISE_OCCURRENCE_DATE)?,
                        |i| fields::date_time(&i),
                    )?,
                }
            }
            Operation::Encrypt => Request::Encrypt(crypt(&mut f, &[tags::IV_COUNTER_NONCE, AAD])?),
            Operation::Decrypt => Request::Decrypt(crypt(
                &mut f,
                &[
                    tags::IV_COUNTER_NONCE,
                    AAD,
                    tags::AUTHENTICATED_ENCRYPTION_TAG,
                ],
            )?),
            Operation::Sign => Request::Sign(crypt(&mut f, &[tags::DIGESTED_DATA])?),
            Operation::SignatureVerify => Request::SignatureVerify(crypt(
                &mut f,
                &[tags::DIGESTED_DATA, tags::SIGNATURE_DATA],
            )?),
            Operation::Mac => Request::Mac(crypt(&mut f, &[])?),
            Operation::MacVerify => Request::MacVerify(crypt(&mut f, &[tags::MAC_DATA])?),
            _ => Request::Other(f.all_left()),
        };
        f.finish()?;
        Ok(request)
    }
}

const AAD: Tag = tags::AUTHENTICATED_ENCRYPTION_ADDITIONAL_DATA;

fn uid(f: &mut Fields) -> Result<Option<String>, Error> {
    fields::map_opt(f.opt(tags::UNIQUE_IDENTIFIER)?, fields::text)
}

fn opt_int(f: &mut Fields, tag: Tag) -> Result<Option<i32>, Error> {
    fields::map_opt(f.opt(tag)?, |i| fields::integer(&i))
}

fn opt_enum(f: &mut Fields, tag: Tag) -> Result<Option<u32>, Error> {
    fields::map_opt(f.opt(tag)?, |i| fields::enumeration(&i))
}

fn opt_bytes(f: &mut Fields, tag: Tag) -> Result<Option<Bytes>, Error> {
    fields::map_opt(f.opt(tag)?, fields::bytes)
}

fn opt_bool(f: &mut Fields, tag: Tag) -> Result<Option<bool>, Error> {
    fields::map_opt(f.opt(tag)?, |i| fields::boolean(&i))
}

fn object_type(f: &mut Fields) -> Result<ObjectType, Error> {
    fields::known(&f.one(tags::OBJECT_TYPE)?, ObjectType::from_value)
}

/// The cryptographic operations' fields: the common ones and `extra`.
fn crypt(f: &mut Fields, extra: &[Tag]) -> Result<Crypt, Error> {
    let mut take = |tag: Tag| -> Result<Option<Bytes>, Error> {
        if extra.contains(&tag) {
            opt_bytes(f, tag)
        } else {
            Ok(None)
        }
    };
    let iv_counter_nonce = take(tags::IV_COUNTER_NONCE)?;
    let additional_data = take(AAD)?;
    let tag = take(tags::AUTHENTICATED_ENCRYPTION_TAG)?;
    let digested_data = take(tags::DIGESTED_DATA)?;
    let expected = match take(tags::SIGNATURE_DATA)? {
        Some(signature) => Some(signature),
        None => take(tags::MAC_DATA)?,
    };
    Ok(Crypt {
        unique_identifier: uid(f)?,
        cryptographic_parameters: f.opt(tags::CRYPTOGRAPHIC_PARAMETERS)?,
        data: opt_bytes(f, tags::DATA)?,
        iv_counter_nonce,
        additional_data,
        tag,
        digested_data,
        expected,
        correlation_value: opt_bytes(f, tags::CORRELATION_VALUE)?,
        init_indicator: opt_bool(f, tags::INIT_INDICATOR)?,
        final_indicator: opt_bool(f, tags::FINAL_INDICATOR)?,
    })
}

/// A group of attributes: 1.x's `v1` (a Template-Attribute) or 2.x's `v2`
/// (an Attributes structure), whichever `version` uses.
fn attributes(
    f: &mut Fields,
    version: ProtocolVersion,
    v1: Tag,
    v2: Tag,
) -> Result<Option<Vec<Attribute>>, Error> {
    if version.is_2x() {
        fields::map_opt(f.opt(v2)?, |i| v2_attributes(i, v2))
    } else {
        fields::map_opt(f.opt(v1)?, |i| {
            // Named templates (1.x's `Name` here) are deprecated since 1.3
            // and not supported: `finish` refuses them.
            let mut t = Fields::of(i, v1)?;
            let list = t
                .all(tags::ATTRIBUTE)
                .into_iter()
                .map(v1_attribute)
                .collect::<Result<_, _>>()?;
            t.finish()?;
            Ok(list)
        })
    }
}

fn v1_attribute(item: Item) -> Result<Attribute, Error> {
    let mut f = Fields::of(item, tags::ATTRIBUTE)?;
    let name = fields::text(f.one(tags::ATTRIBUTE_NAME)?)?;
    let index = opt_int(&mut f, tags::ATTRIBUTE_INDEX)?;
    let value = f.one(tags::ATTRIBUTE_VALUE)?.value;
    f.finish()?;
    Ok(Attribute { name, index, value })
}

fn v2_attributes(item: Item, within: Tag) -> Result<Vec<Attribute>, Error> {
    fields::structure(item)?
        .into_iter()
        .map(|a| match tags::attribute_name(a.tag) {
            Some(name) => Ok(Attribute {
                name: name.to_owned(),
                index: None,
                value: a.value,
            }),
            None => Err(Error::Unexpected { tag: a.tag, within }),
        })
        .collect()
}

/// 2.x names an attribute asked for by its tag, as an enumeration.
fn reference_name(item: &Item) -> Result<String, Error> {
    let value = fields::enumeration(item)?;
    tags::attribute_name(Tag(value))
        .map(str::to_owned)
        .ok_or(Error::UnknownValue {
            tag: item.tag,
            value,
        })
}
