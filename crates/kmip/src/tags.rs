//! The tags this crate reads or writes (KMIP 1.4 section 9.1.3.1, 2.1
//! section 11; the values agree with PyKMIP 0.11.0's `enums.Tags`), and the
//! name of each attribute KMIP 2.x sends by tag.

use crate::ttlv::Tag;

pub const ATTRIBUTE: Tag = Tag(0x420008);
pub const ATTRIBUTES: Tag = Tag(0x420125);
pub const ATTRIBUTE_INDEX: Tag = Tag(0x420009);
pub const ATTRIBUTE_NAME: Tag = Tag(0x42000A);
pub const ATTRIBUTE_REFERENCE: Tag = Tag(0x42013B);
pub const ATTRIBUTE_VALUE: Tag = Tag(0x42000B);
pub const AUTHENTICATION: Tag = Tag(0x42000C);
pub const BATCH_COUNT: Tag = Tag(0x42000D);
pub const BATCH_ERROR_CONTINUATION_OPTION: Tag = Tag(0x42000E);
pub const BATCH_ITEM: Tag = Tag(0x42000F);
pub const BATCH_ORDER_OPTION: Tag = Tag(0x420010);
pub const COMMON_ATTRIBUTES: Tag = Tag(0x420126);
pub const COMMON_TEMPLATE_ATTRIBUTE: Tag = Tag(0x42001F);
pub const CRYPTOGRAPHIC_PARAMETERS: Tag = Tag(0x42002B);
pub const DATA: Tag = Tag(0x4200C2);
pub const IV_COUNTER_NONCE: Tag = Tag(0x42003D);
pub const KEY_FORMAT_TYPE: Tag = Tag(0x420042);
pub const KEY_COMPRESSION_TYPE: Tag = Tag(0x420041);
pub const KEY_WRAPPING_SPECIFICATION: Tag = Tag(0x420047);
pub const MAC_DATA: Tag = Tag(0x4200C6);
pub const MAXIMUM_ITEMS: Tag = Tag(0x42004F);
pub const MAXIMUM_RESPONSE_SIZE: Tag = Tag(0x420050);
pub const NAME: Tag = Tag(0x420053);
pub const OBJECT_TYPE: Tag = Tag(0x420057);
pub const OFFSET_ITEMS: Tag = Tag(0x4200D4);
pub const OPERATION: Tag = Tag(0x42005C);
pub const PRIVATE_KEY_ATTRIBUTES: Tag = Tag(0x420127);
pub const PRIVATE_KEY_TEMPLATE_ATTRIBUTE: Tag = Tag(0x420065);
pub const PRIVATE_KEY_UNIQUE_IDENTIFIER: Tag = Tag(0x420066);
pub const PROTOCOL_VERSION: Tag = Tag(0x420069);
pub const PROTOCOL_VERSION_MAJOR: Tag = Tag(0x42006A);
pub const PROTOCOL_VERSION_MINOR: Tag = Tag(0x42006B);
pub const PUBLIC_KEY_ATTRIBUTES: Tag = Tag(0x420128);
pub const PUBLIC_KEY_TEMPLATE_ATTRIBUTE: Tag = Tag(0x42006E);
pub const PUBLIC_KEY_UNIQUE_IDENTIFIER: Tag = Tag(0x42006F);
pub const QUERY_FUNCTION: Tag = Tag(0x420074);
pub const REQUEST_HEADER: Tag = Tag(0x420077);
pub const REQUEST_MESSAGE: Tag = Tag(0x420078);
pub const REQUEST_PAYLOAD: Tag = Tag(0x420079);
pub const RESPONSE_HEADER: Tag = Tag(0x42007A);
pub const RESPONSE_MESSAGE: Tag = Tag(0x42007B);
pub const RESPONSE_PAYLOAD: Tag = Tag(0x42007C);
pub const RESULT_MESSAGE: Tag = Tag(0x42007D);
pub const RESULT_REASON: Tag = Tag(0x42007E);
pub const RESULT_STATUS: Tag = Tag(0x42007F);
pub const REVOCATION_REASON: Tag = Tag(0x420081);
pub const SIGNATURE_DATA: Tag = Tag(0x4200C3);
pub const STORAGE_STATUS_MASK: Tag = Tag(0x42008E);
pub const TEMPLATE_ATTRIBUTE: Tag = Tag(0x420091);
pub const TIME_STAMP: Tag = Tag(0x420092);
pub const UNIQUE_BATCH_ITEM_ID: Tag = Tag(0x420093);
pub const UNIQUE_IDENTIFIER: Tag = Tag(0x420094);
pub const VALIDITY_INDICATOR: Tag = Tag(0x42009B);

pub const AUTHENTICATED_ENCRYPTION_ADDITIONAL_DATA: Tag = Tag(0x4200FE);
pub const AUTHENTICATED_ENCRYPTION_TAG: Tag = Tag(0x4200FF);
pub const DIGESTED_DATA: Tag = Tag(0x420107);
pub const KEY_WRAP_TYPE: Tag = Tag(0x4200F8);
pub const CERTIFICATE: Tag = Tag(0x420013);
pub const SPLIT_KEY: Tag = Tag(0x420089);
pub const PGP_KEY: Tag = Tag(0x4200BD);
pub const SYMMETRIC_KEY: Tag = Tag(0x42008F);
pub const PRIVATE_KEY: Tag = Tag(0x420064);
pub const PUBLIC_KEY: Tag = Tag(0x42006D);
pub const SECRET_DATA: Tag = Tag(0x420085);
pub const OPAQUE_OBJECT: Tag = Tag(0x42005B);
pub const REVOCATION_REASON_CODE: Tag = Tag(0x420082);
pub const REVOCATION_MESSAGE: Tag = Tag(0x420080);
pub const COMPROMISE_OCCURRENCE_DATE: Tag = Tag(0x420021);
pub const CORRELATION_VALUE: Tag = Tag(0x4200D6);
pub const INIT_INDICATOR: Tag = Tag(0x4200D7);
pub const FINAL_INDICATOR: Tag = Tag(0x4200D8);
pub const OBJECT_GROUP_MEMBER: Tag = Tag(0x4200AC);
pub const PROTECTION_STORAGE_MASKS: Tag = Tag(0x42015F);
/// The attributes of KMIP 1.x are named by text; 2.x sends each by its
/// tag inside an `Attributes` structure. One table maps between them, so
/// the model gives both as the same [`crate::message::Attribute`].
const ATTRIBUTE_NAMES: &[(u32, &str)] = &[
    (0x420001, "Activation Date"),
    (0x420004, "Application Specific Information"),
    (0x420005, "Archive Date"),
    (0x42001D, "Certificate Type"),
    (0x420020, "Compromise Date"),
    (0x420021, "Compromise Occurrence Date"),
    (0x420022, "Contact Information"),
    (0x420028, "Cryptographic Algorithm"),
    (0x420029, "Cryptographic Domain Parameters"),
    (0x42002A, "Cryptographic Length"),
    (0x42002B, "Cryptographic Parameters"),
    (0x42002C, "Cryptographic Usage Mask"),
    (0x42002F, "Deactivation Date"),
    (0x420033, "Destroy Date"),
    (0x420034, "Digest"),
    (0x420039, "Initial Date"),
    (0x420042, "Key Format Type"),
    (0x420048, "Last Change Date"),
    (0x420049, "Lease Time"),
    (0x42004A, "Link"),
    (0x420053, "Name"),
    (0x420056, "Object Group"),
    (0x420057, "Object Type"),
    (0x42005D, "Operation Policy Name"),
    (0x420067, "Process Start Date"),
    (0x420068, "Protect Stop Date"),
    (0x420081, "Revocation Reason"),
    (0x42008D, "State"),
    (0x420094, "Unique Identifier"),
    (0x420095, "Usage Limits"),
    (0x4200A8, "Fresh"),
    (0x4200AE, "Digital Signature Algorithm"),
    (0x4200B5, "X.509 Certificate Identifier"),
    (0x4200B8, "Key Value Location"),
    (0x4200BB, "Key Value Present"),
    (0x4200BC, "Original Creation Date"),
    (0x4200BF, "Alternative Name"),
    (0x4200DE, "Random Number Generator"),
    (0x4200FC, "Description"),
    (0x4200FD, "Comment"),
    (0x420120, "Sensitive"),
    (0x420121, "Always Sensitive"),
    (0x420122, "Extractable"),
    (0x420123, "Never Extractable"),
];

/// The name KMIP 1.x gives the attribute that 2.x sends with this tag.
pub fn attribute_name(tag: Tag) -> Option<&'static str> {
    ATTRIBUTE_NAMES
        .binary_search_by_key(&tag.0, |(t, _)| *t)
        .ok()
        .and_then(|i| ATTRIBUTE_NAMES.get(i))
        .map(|(_, name)| *name)
}

/// The tag KMIP 2.x uses for the attribute KMIP 1.x calls `name`.
pub fn attribute_tag(name: &str) -> Option<Tag> {
    ATTRIBUTE_NAMES
        .iter()
        .find(|(_, n)| *n == name)
        .map(|(t, _)| Tag(*t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_attribute_table_is_sorted_and_both_ways_agree() {
        assert!(ATTRIBUTE_NAMES.windows(2).all(|w| w[0].0 < w[1].0));
        for (tag, name) in ATTRIBUTE_NAMES {
            assert_eq!(attribute_name(Tag(*tag)), Some(*name));
            assert_eq!(attribute_tag(name), Some(Tag(*tag)));
        }
    }
}
