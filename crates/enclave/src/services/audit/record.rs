//! What one audited request's entry holds, and its request id.

use std::sync::Arc;

/// A request id: a random (v4) UUID, as Vault's; Vault's envelope returns
/// it as `request_id`, and the request's audit entry records it. Random,
/// so ids reveal nothing (not how many requests were served).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RequestId([u8; uuid::fmt::Hyphenated::LENGTH]);

impl RequestId {
    pub fn new() -> Self {
        let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
        uuid::Uuid::new_v4().hyphenated().encode_lower(&mut text);
        Self(text)
    }

    pub fn as_str(&self) -> &str {
        // Only made above, from hex digits and dashes.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl Default for RequestId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

/// What one request did, for its entry.
pub struct Record {
    pub request_id: RequestId,
    pub accessor: Option<Arc<str>>,
    /// The operation is `verb route`: `update`, `transit/encrypt/{name}`.
    pub verb: &'static str,
    pub route: String,
    pub key: Option<String>,
    pub key_version: Option<u64>,
    pub status: u16,
    /// What an attested login verified (its login, and releases).
    pub attested: Option<Arc<minikms_audit::Attested>>,
}

/// Put on an answer by a handler whose entry records what an attested
/// login verified ([`Record::attested`]); `accessor` names the token a
/// login made (the request itself presented none).
#[derive(Clone)]
pub struct AttestedFacts {
    pub accessor: Option<Arc<str>>,
    pub attested: Arc<minikms_audit::Attested>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_random_uuids() {
        let (a, b) = (RequestId::new(), RequestId::new());
        assert_ne!(a, b);
        for id in [&a, &b] {
            let groups: Vec<usize> = id.as_str().split('-').map(str::len).collect();
            assert_eq!(groups, [8, 4, 4, 4, 12], "{id}");
            assert!(id
                .as_str()
                .bytes()
                .all(|c| c == b'-' || c.is_ascii_hexdigit()));
            // Version 4, variant 1.
            assert_eq!(&id.as_str()[14..15], "4");
        }
        // Nothing shared but the version digits: not a counter.
        assert_ne!(a.as_str()[..8], b.as_str()[..8]);
    }
}
