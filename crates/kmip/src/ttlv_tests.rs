use super::*;
use proptest::prelude::*;

/// An item header: tag, type, length.
fn header(tag: u32, ty: u8, len: u32) -> Vec<u8> {
    let mut h = tag.to_be_bytes()[1..].to_vec();
    h.push(ty);
    h.extend_from_slice(&len.to_be_bytes());
    h
}

fn int(tag: u32, v: i32) -> Vec<u8> {
    let mut b = header(tag, 2, 4);
    b.extend_from_slice(&v.to_be_bytes());
    b.extend_from_slice(&[0; 4]);
    b
}

fn structure(tag: u32, body: &[u8]) -> Vec<u8> {
    let mut b = header(tag, 1, body.len() as u32);
    b.extend_from_slice(body);
    b
}

#[test]
fn a_small_structure_decodes_and_encodes_back() {
    let bytes = structure(0x420069, &[int(0x42006A, 1), int(0x42006B, 4)].concat());
    let item = decode(&bytes).unwrap();
    assert_eq!(item.tag, Tag(0x420069));
    let Value::Structure(items) = &item.value else {
        panic!("not a structure")
    };
    assert_eq!(items[1].value, Value::Integer(4));
    assert_eq!(item.encode().unwrap(), bytes);
}

#[test]
fn lengths_that_lie_are_refused() {
    // A structure claiming more than the message holds.
    let mut bytes = structure(0x420069, &int(0x42006A, 1));
    bytes[7] = 0x20;
    assert_eq!(decode(&bytes), Err(Error::Length { at: 0 }));
    // A structure that claims half of the next item: that item then runs
    // past the structure (though not past the message).
    let inner = structure(0x420069, &int(0x42006A, 1));
    let mut bytes = structure(0x420078, &[inner, int(0x42006B, 2)].concat());
    bytes[HEADER + 7] = 0x18;
    assert_eq!(decode(&bytes), Err(Error::Length { at: 32 }));
    // A text string of 4 GiB in a message of 16 bytes: no allocation, an error.
    let bytes = [header(0x420055, 7, u32::MAX), vec![0; 8]].concat();
    assert_eq!(decode(&bytes), Err(Error::Length { at: 0 }));
    // An integer that says it is 8 bytes long.
    let bytes = [header(0x42006A, 2, 8), vec![0; 8]].concat();
    assert!(matches!(decode(&bytes), Err(Error::BadLength { .. })));
}

#[test]
fn truncated_input_is_refused_at_every_cut() {
    let bytes = structure(0x420069, &[int(0x42006A, 1), int(0x42006B, 4)].concat());
    for cut in 0..bytes.len() {
        assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
    }
    assert_eq!(
        decode(&[bytes.clone(), vec![0]].concat()),
        Err(Error::Trailing { extra: 1 })
    );
}

#[test]
fn unknown_tags_and_types_are_refused() {
    assert_eq!(
        decode(&int(0x330001, 1)),
        Err(Error::UnknownTag {
            tag: 0x330001,
            at: 0
        })
    );
    assert!(
        decode(&int(0x540001, 1)).is_ok(),
        "extension tags are KMIP's"
    );
    let bytes = [header(0x42006A, 0x0C, 4), vec![0; 8]].concat();
    assert_eq!(decode(&bytes), Err(Error::UnknownType { ty: 0x0C, at: 0 }));
    let bytes = [header(0x42006A, 0x00, 4), vec![0; 8]].concat();
    assert_eq!(decode(&bytes), Err(Error::UnknownType { ty: 0, at: 0 }));
}

#[test]
fn values_with_two_spellings_are_refused() {
    let mut bytes = int(0x42006A, 1);
    bytes[15] = 1;
    assert_eq!(decode(&bytes), Err(Error::BadPadding { at: 0 }));
    let bytes = [header(0x420120, 6, 8), 2u64.to_be_bytes().to_vec()].concat();
    assert_eq!(decode(&bytes), Err(Error::BadBoolean { at: 0 }));
    let bytes = [header(0x420055, 7, 2), vec![0xC3, 0x28, 0, 0, 0, 0, 0, 0]].concat();
    assert_eq!(decode(&bytes), Err(Error::BadText { at: 0 }));
}

#[test]
fn deep_nesting_is_refused() {
    let mut bytes = int(0x42006A, 1);
    for _ in 0..MAX_DEPTH {
        bytes = structure(0x420069, &bytes);
    }
    assert!(decode(&bytes).is_ok(), "{MAX_DEPTH} levels are allowed");
    let bytes = structure(0x420069, &bytes);
    assert!(matches!(decode(&bytes), Err(Error::TooDeep { .. })));
    // Nesting as deep as a whole megabyte allows: refused, no stack overflow.
    let mut bytes = Vec::new();
    for _ in 0..(MAX_MESSAGE / HEADER) {
        bytes.extend_from_slice(&header(0x420069, 1, 0));
    }
    let total = bytes.len() as u32;
    for (i, chunk) in bytes.chunks_mut(HEADER).enumerate() {
        let len = total - (i as u32 + 1) * HEADER as u32;
        chunk[4..].copy_from_slice(&len.to_be_bytes());
    }
    assert!(matches!(decode(&bytes), Err(Error::TooDeep { .. })));
}

#[test]
fn messages_over_the_limit_are_refused() {
    let body = vec![0u8; MAX_MESSAGE];
    let bytes = [header(0x420078, 1, body.len() as u32), body].concat();
    assert_eq!(
        decode(&bytes),
        Err(Error::TooLarge {
            len: MAX_MESSAGE + HEADER
        })
    );
    let h: [u8; HEADER] = header(0x420078, 1, MAX_MESSAGE as u32).try_into().unwrap();
    assert!(matches!(frame_len(&h), Err(Error::TooLarge { .. })));
    let h: [u8; HEADER] = header(0x420078, 1, 64).try_into().unwrap();
    assert_eq!(frame_len(&h), Ok(72));
    let h: [u8; HEADER] = header(0x420078, 2, 4).try_into().unwrap();
    assert!(matches!(frame_len(&h), Err(Error::NotAStructure { .. })));
}

#[test]
fn key_bytes_do_not_show_in_debug() {
    let item = Item::new(
        Tag(0x420043),
        Value::ByteString(Bytes::from(&b"secret"[..])),
    );
    let shown = format!("{item:?}");
    assert!(
        shown.contains("<6 bytes>") && !shown.contains("115"),
        "{shown}"
    );
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i32>().prop_map(Value::Integer),
        any::<i64>().prop_map(Value::LongInteger),
        proptest::collection::vec(any::<u8>(), 1..4)
            .prop_map(|w| Value::BigInteger(Bytes::new(w.repeat(8)))),
        any::<u32>().prop_map(Value::Enumeration),
        any::<bool>().prop_map(Value::Boolean),
        ".{0,20}".prop_map(Value::TextString),
        proptest::collection::vec(any::<u8>(), 0..20)
            .prop_map(|b| Value::ByteString(Bytes::new(b))),
        any::<i64>().prop_map(Value::DateTime),
        any::<u32>().prop_map(Value::Interval),
        any::<i64>().prop_map(Value::DateTimeExtended),
    ]
}

fn item() -> impl Strategy<Value = Item> {
    let tag = prop_oneof![0x420000u32..0x430000, 0x540000u32..0x550000].prop_map(Tag);
    let leaf_item = (tag.clone(), leaf()).prop_map(|(t, v)| Item::new(t, v));
    leaf_item.prop_recursive(4, 32, 6, move |inner| {
        (tag.clone(), proptest::collection::vec(inner, 0..6))
            .prop_map(|(t, items)| Item::structure(t, items))
    })
}

proptest! {
    #[test]
    fn every_item_round_trips(item in item()) {
        let bytes = item.encode().unwrap();
        prop_assert_eq!(bytes.len() % 8, 0);
        let back = decode(&bytes).unwrap();
        prop_assert_eq!(&back, &item);
        prop_assert_eq!(back.encode().unwrap(), bytes);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode(&bytes);
    }
}
