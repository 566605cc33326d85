//! Targets for what the KMIP listener reads (issue 35): the TTLV codec,
//! and whole request messages through the model.

use minikms_kmip::message::{RequestMessage, ResponseMessage};
use minikms_kmip::ttlv::{self, Item, HEADER};

/// `kmip_ttlv`: any bytes through the TTLV decoder and the reader of a
/// message's length. What decodes must encode back to the same bytes: the
/// codec has one spelling of each message (a difference is a finding).
pub fn kmip_ttlv(data: &[u8]) {
    if let Some(header) = data.first_chunk::<HEADER>() {
        let _ = ttlv::frame_len(header);
    }
    if let Ok(item) = Item::decode(data) {
        let encoded = item.encode();
        assert_eq!(encoded.as_deref(), Ok(data), "TTLV did not round-trip");
    }
}

/// `kmip_request`: a whole request message: TTLV, header, batch items,
/// each operation's typed payload; and the same bytes as a response (what
/// the project's own KMIP client will read). A refusal must name a result
/// reason for the error response.
pub fn kmip_request(data: &[u8]) {
    if let Err(e) = RequestMessage::decode(data) {
        let _ = e.result_reason();
    }
    if let Ok(response) = ResponseMessage::decode(data) {
        let _ = response.encode();
    }
}
