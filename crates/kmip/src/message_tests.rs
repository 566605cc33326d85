use super::*;
use crate::enums::ObjectType;
use crate::ttlv::Tag;

fn int(tag: Tag, v: i32) -> Item {
    Item::new(tag, Value::Integer(v))
}

fn enumeration(tag: Tag, v: u32) -> Item {
    Item::new(tag, Value::Enumeration(v))
}

fn text(tag: Tag, v: &str) -> Item {
    Item::new(tag, Value::TextString(v.to_owned()))
}

/// A request message of one batch item (`count` in the header).
fn request(version: ProtocolVersion, count: i32, op: u32, payload: Vec<Item>) -> Vec<u8> {
    let header = Item::structure(
        tags::REQUEST_HEADER,
        vec![version.to_item(), int(tags::BATCH_COUNT, count)],
    );
    let item = Item::structure(
        tags::BATCH_ITEM,
        vec![
            enumeration(tags::OPERATION, op),
            Item::structure(tags::REQUEST_PAYLOAD, payload),
        ],
    );
    Item::structure(tags::REQUEST_MESSAGE, vec![header, item])
        .encode()
        .unwrap()
}

const V14: ProtocolVersion = ProtocolVersion::new(1, 4);
const V20: ProtocolVersion = ProtocolVersion::new(2, 0);
const ACTIVATE: u32 = 0x12;

#[test]
fn a_well_formed_request_reads() {
    let bytes = request(V14, 1, ACTIVATE, vec![text(tags::UNIQUE_IDENTIFIER, "7")]);
    let message = RequestMessage::decode(&bytes).unwrap();
    assert_eq!(message.batch_items[0].operation, Operation::Activate);
    assert_eq!(
        message.batch_items[0].request,
        Request::Activate {
            unique_identifier: Some("7".into())
        }
    );
}

#[test]
fn an_unknown_operation_is_operation_not_supported() {
    let e = RequestMessage::decode(&request(V14, 1, 0x99, vec![])).unwrap_err();
    assert_eq!(
        e,
        Error::UnknownValue {
            tag: tags::OPERATION,
            value: 0x99
        }
    );
    assert_eq!(e.result_reason(), ResultReason::OperationNotSupported);
}

#[test]
fn wrong_types_are_invalid_fields() {
    let bytes = request(V14, 1, ACTIVATE, vec![int(tags::UNIQUE_IDENTIFIER, 7)]);
    let e = RequestMessage::decode(&bytes).unwrap_err();
    assert!(
        matches!(e, Error::WrongType { tag, .. } if tag == tags::UNIQUE_IDENTIFIER),
        "{e}"
    );
    assert_eq!(e.result_reason(), ResultReason::InvalidField);
    // The version's numbers as enumerations instead of integers.
    let version = Item::structure(
        tags::PROTOCOL_VERSION,
        vec![
            enumeration(tags::PROTOCOL_VERSION_MAJOR, 1),
            enumeration(tags::PROTOCOL_VERSION_MINOR, 4),
        ],
    );
    let header = Item::structure(
        tags::REQUEST_HEADER,
        vec![version, int(tags::BATCH_COUNT, 1)],
    );
    let bytes = Item::structure(tags::REQUEST_MESSAGE, vec![header])
        .encode()
        .unwrap();
    assert!(matches!(
        RequestMessage::decode(&bytes),
        Err(Error::WrongType { .. })
    ));
}

#[test]
fn unknown_missing_and_repeated_items_are_refused() {
    // An item the operation does not have.
    let bytes = request(
        V14,
        1,
        ACTIVATE,
        vec![
            text(tags::UNIQUE_IDENTIFIER, "7"),
            int(tags::MAXIMUM_ITEMS, 1),
        ],
    );
    assert_eq!(
        RequestMessage::decode(&bytes),
        Err(Error::Unexpected {
            tag: tags::MAXIMUM_ITEMS,
            within: tags::REQUEST_PAYLOAD
        })
    );
    // A tag in KMIP's range that the model does not know at all.
    let bytes = request(V14, 1, ACTIVATE, vec![int(Tag(0x42FFFF), 1)]);
    assert!(matches!(
        RequestMessage::decode(&bytes),
        Err(Error::Unexpected {
            tag: Tag(0x42FFFF),
            ..
        })
    ));
    // A single-valued item twice.
    let uid = text(tags::UNIQUE_IDENTIFIER, "7");
    let bytes = request(V14, 1, ACTIVATE, vec![uid.clone(), uid]);
    assert!(matches!(
        RequestMessage::decode(&bytes),
        Err(Error::Duplicate { .. })
    ));
    // Create without its object type.
    let bytes = request(V14, 1, 0x01, vec![]);
    assert_eq!(
        RequestMessage::decode(&bytes),
        Err(Error::Missing {
            tag: tags::OBJECT_TYPE,
            within: tags::REQUEST_PAYLOAD
        })
    );
}

#[test]
fn the_batch_count_must_match_and_the_version_be_known() {
    let uid = vec![text(tags::UNIQUE_IDENTIFIER, "7")];
    assert_eq!(
        RequestMessage::decode(&request(V14, 2, ACTIVATE, uid.clone())),
        Err(Error::BatchCount { said: 2, found: 1 })
    );
    assert_eq!(
        RequestMessage::decode(&request(ProtocolVersion::new(3, 0), 1, ACTIVATE, uid)),
        Err(Error::UnsupportedVersion { major: 3, minor: 0 })
    );
}

#[test]
fn attributes_follow_the_version() {
    let v1 = Attribute {
        name: "Cryptographic Length".into(),
        index: None,
        value: Value::Integer(256),
    };
    let object_type = enumeration(tags::OBJECT_TYPE, ObjectType::SymmetricKey.value());
    let template = Item::structure(tags::TEMPLATE_ATTRIBUTE, vec![v1.to_item(V14).unwrap()]);
    let bytes = request(V14, 1, 0x01, vec![object_type.clone(), template.clone()]);
    let Request::Create { attributes, .. } = RequestMessage::decode(&bytes).unwrap().batch_items[0]
        .request
        .clone()
    else {
        panic!("not a create")
    };
    assert_eq!(attributes, vec![v1.clone()]);
    // 2.x: the same attribute by its tag; 1.x's shape is refused there.
    let attrs = Item::structure(tags::ATTRIBUTES, vec![v1.to_item(V20).unwrap()]);
    let bytes = request(V20, 1, 0x01, vec![object_type.clone(), attrs]);
    let Request::Create { attributes, .. } = RequestMessage::decode(&bytes).unwrap().batch_items[0]
        .request
        .clone()
    else {
        panic!("not a create")
    };
    assert_eq!(attributes, vec![v1]);
    let bytes = request(V20, 1, 0x01, vec![object_type, template]);
    assert!(matches!(
        RequestMessage::decode(&bytes),
        Err(Error::Unexpected { tag, .. }) if tag == tags::TEMPLATE_ATTRIBUTE
    ));
}

#[test]
fn a_failure_response_encodes_and_reads_back() {
    let response = ResponseMessage {
        header: ResponseHeader {
            protocol_version: V20,
            time_stamp: 1_800_000_000,
            batch_count: 1,
        },
        batch_items: vec![ResponseBatchItem::failure(
            Some(Operation::Encrypt),
            ResultReason::WrongKeyLifecycleState,
            "the key is not active",
        )],
    };
    let bytes = response.encode().unwrap();
    assert_eq!(ResponseMessage::decode(&bytes).unwrap(), response);
}
