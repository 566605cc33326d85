//! Request and response messages: the header, the batch items, and their
//! result fields. A request's payload is typed ([`Request`]); a response's
//! payload is kept as items until the server's operations build them.

use crate::enums::{Operation, ResultReason, ResultStatus};
use crate::fields::{self, Error, Fields};
use crate::tags;
use crate::ttlv::{Bytes, Item, Value};

pub use crate::payload::{Attribute, Crypt, Request};
pub use crate::version::ProtocolVersion;

/// A request's header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHeader {
    pub protocol_version: ProtocolVersion,
    pub maximum_response_size: Option<i32>,
    /// Credentials sent in the message (the listener authenticates by the
    /// TLS client certificate; this is kept only to be refused or ignored).
    pub authentication: Option<Item>,
    pub batch_error_continuation_option: Option<u32>,
    pub batch_order_option: Option<bool>,
    pub time_stamp: Option<i64>,
    pub batch_count: i32,
}

/// One operation of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestBatchItem {
    pub operation: Operation,
    pub unique_batch_item_id: Option<Bytes>,
    pub request: Request,
}

/// A whole request message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestMessage {
    pub header: RequestHeader,
    pub batch_items: Vec<RequestBatchItem>,
}

impl RequestMessage {
    /// Decodes and reads a request: the TTLV ([`crate::ttlv::decode`]'s
    /// limits), then the header, then each batch item's payload as the
    /// header's protocol version lays it out.
    pub fn decode(bytes: &[u8]) -> Result<RequestMessage, Error> {
        RequestMessage::read(Item::decode(bytes)?)
    }

    pub fn read(item: Item) -> Result<RequestMessage, Error> {
        let mut f = Fields::of(item, tags::REQUEST_MESSAGE)?;
        let header = read_request_header(f.one(tags::REQUEST_HEADER)?)?;
        let items = f.all(tags::BATCH_ITEM);
        f.finish()?;
        if usize::try_from(header.batch_count).ok() != Some(items.len()) || items.is_empty() {
            return Err(Error::BatchCount {
                said: header.batch_count,
                found: items.len(),
            });
        }
        let batch_items = items
            .into_iter()
            .map(|item| read_batch_item(item, header.protocol_version))
            .collect::<Result<_, _>>()?;
        Ok(RequestMessage {
            header,
            batch_items,
        })
    }
}

fn read_request_header(item: Item) -> Result<RequestHeader, Error> {
    let mut f = Fields::of(item, tags::REQUEST_HEADER)?;
    let protocol_version = ProtocolVersion::read(f.one(tags::PROTOCOL_VERSION)?)?;
    if !ProtocolVersion::SUPPORTED.contains(&protocol_version) {
        return Err(Error::UnsupportedVersion {
            major: protocol_version.major,
            minor: protocol_version.minor,
        });
    }
    let header = RequestHeader {
        protocol_version,
        maximum_response_size: fields::map_opt(f.opt(tags::MAXIMUM_RESPONSE_SIZE)?, |i| {
            fields::integer(&i)
        })?,
        authentication: f.opt(tags::AUTHENTICATION)?,
        batch_error_continuation_option: fields::map_opt(
            f.opt(tags::BATCH_ERROR_CONTINUATION_OPTION)?,
            |i| fields::enumeration(&i),
        )?,
        batch_order_option: fields::map_opt(f.opt(tags::BATCH_ORDER_OPTION)?, |i| {
            fields::boolean(&i)
        })?,
        time_stamp: fields::map_opt(f.opt(tags::TIME_STAMP)?, |i| fields::date_time(&i))?,
        batch_count: fields::integer(&f.one(tags::BATCH_COUNT)?)?,
    };
    f.finish()?;
    Ok(header)
}

fn read_batch_item(item: Item, version: ProtocolVersion) -> Result<RequestBatchItem, Error> {
    let mut f = Fields::of(item, tags::BATCH_ITEM)?;
    let operation = fields::known(&f.one(tags::OPERATION)?, Operation::from_value)?;
    let unique_batch_item_id = fields::map_opt(f.opt(tags::UNIQUE_BATCH_ITEM_ID)?, fields::bytes)?;
    let payload = f.one(tags::REQUEST_PAYLOAD)?;
    f.finish()?;
    Ok(RequestBatchItem {
        operation,
        unique_batch_item_id,
        request: Request::read(operation, payload, version)?,
    })
}

/// A response's header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseHeader {
    /// The request's version: a response is in the version it answers.
    pub protocol_version: ProtocolVersion,
    pub time_stamp: i64,
    pub batch_count: i32,
}

/// The result of one operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseBatchItem {
    /// Absent only in the answer to a message too broken to name one.
    pub operation: Option<Operation>,
    pub unique_batch_item_id: Option<Bytes>,
    pub result_status: ResultStatus,
    pub result_reason: Option<ResultReason>,
    pub result_message: Option<String>,
    pub payload: Option<Vec<Item>>,
}

impl ResponseBatchItem {
    /// A failed operation's result: status Operation Failed, its reason,
    /// and a message for the client (never key bytes or internals).
    pub fn failure(operation: Option<Operation>, reason: ResultReason, message: &str) -> Self {
        ResponseBatchItem {
            operation,
            unique_batch_item_id: None,
            result_status: ResultStatus::OperationFailed,
            result_reason: Some(reason),
            result_message: Some(message.to_owned()),
            payload: None,
        }
    }
}

/// A whole response message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseMessage {
    pub header: ResponseHeader,
    pub batch_items: Vec<ResponseBatchItem>,
}

impl ResponseMessage {
    pub fn decode(bytes: &[u8]) -> Result<ResponseMessage, Error> {
        let mut f = Fields::of(Item::decode(bytes)?, tags::RESPONSE_MESSAGE)?;
        let mut h = Fields::of(f.one(tags::RESPONSE_HEADER)?, tags::RESPONSE_HEADER)?;
        let header = ResponseHeader {
            protocol_version: ProtocolVersion::read(h.one(tags::PROTOCOL_VERSION)?)?,
            time_stamp: fields::date_time(&h.one(tags::TIME_STAMP)?)?,
            batch_count: fields::integer(&h.one(tags::BATCH_COUNT)?)?,
        };
        h.finish()?;
        let items = f.all(tags::BATCH_ITEM);
        f.finish()?;
        if usize::try_from(header.batch_count).ok() != Some(items.len()) {
            return Err(Error::BatchCount {
                said: header.batch_count,
                found: items.len(),
            });
        }
        let batch_items = items
            .into_iter()
            .map(read_response_item)
            .collect::<Result<_, _>>()?;
        Ok(ResponseMessage {
            header,
            batch_items,
        })
    }

    /// The message's items in the specification's order (which is also
    /// PyKMIP's, so that its captured responses encode back byte for byte).
    pub fn to_item(&self) -> Item {
        let header = Item::structure(
            tags::RESPONSE_HEADER,
            vec![
                self.header.protocol_version.to_item(),
                Item::new(tags::TIME_STAMP, Value::DateTime(self.header.time_stamp)),
                Item::new(tags::BATCH_COUNT, Value::Integer(self.header.batch_count)),
            ],
        );
        let mut items = vec![header];
        items.extend(self.batch_items.iter().map(write_response_item));
        Item::structure(tags::RESPONSE_MESSAGE, items)
    }

    pub fn encode(&self) -> Result<Vec<u8>, Error> {
        Ok(self.to_item().encode()?)
    }
}

fn read_response_item(item: Item) -> Result<ResponseBatchItem, Error> {
    let mut f = Fields::of(item, tags::BATCH_ITEM)?;
    let operation = fields::map_opt(f.opt(tags::OPERATION)?, |i| {
        fields::known(&i, Operation::from_value)
    })?;
    let unique_batch_item_id = fields::map_opt(f.opt(tags::UNIQUE_BATCH_ITEM_ID)?, fields::bytes)?;
    let result_status = fields::known(&f.one(tags::RESULT_STATUS)?, ResultStatus::from_value)?;
    let result_reason = fields::map_opt(f.opt(tags::RESULT_REASON)?, |i| {
        fields::known(&i, ResultReason::from_value)
    })?;
    let result_message = fields::map_opt(f.opt(tags::RESULT_MESSAGE)?, fields::text)?;
    let payload = fields::map_opt(f.opt(tags::RESPONSE_PAYLOAD)?, fields::structure)?;
    f.finish()?;
    Ok(ResponseBatchItem {
        operation,
        unique_batch_item_id,
        result_status,
        result_reason,
        result_message,
        payload,
    })
}

fn write_response_item(b: &ResponseBatchItem) -> Item {
    let mut items = Vec::new();
    if let Some(op) = b.operation {
        items.push(Item::new(tags::OPERATION, Value::Enumeration(op.value())));
    }
    if let Some(id) = &b.unique_batch_item_id {
        items.push(Item::new(
            tags::UNIQUE_BATCH_ITEM_ID,
            Value::ByteString(id.clone()),
        ));
    }
    items.push(Item::new(
        tags::RESULT_STATUS,
        Value::Enumeration(b.result_status.value()),
    ));
    if let Some(reason) = b.result_reason {
        items.push(Item::new(
            tags::RESULT_REASON,
            Value::Enumeration(reason.value()),
        ));
    }
    if let Some(message) = &b.result_message {
        items.push(Item::new(
            tags::RESULT_MESSAGE,
            Value::TextString(message.clone()),
        ));
    }
    if let Some(payload) = &b.payload {
        items.push(Item::structure(tags::RESPONSE_PAYLOAD, payload.clone()));
    }
    Item::structure(tags::BATCH_ITEM, items)
}

#[cfg(test)]
#[path = "message_tests.rs"]
mod tests;
