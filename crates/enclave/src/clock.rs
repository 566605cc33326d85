//! The host's clock, the one reading of it (an enclave has no trusted time:
//! token lifetimes and entry times are as good as the host's clock), and
//! RFC 3339 through the `time` crate.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Now, in Unix seconds (0 if the clock is before 1970).
pub fn now() -> u64 {
    u64::try_from(OffsetDateTime::now_utc().unix_timestamp()).unwrap_or(0)
}

/// Unix seconds as RFC 3339 UTC (`2026-11-27T10:30:00Z`).
pub fn rfc3339(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// Now, in Unix nanoseconds (0 if the clock is before 1970).
pub fn now_nanos() -> u64 {
    u64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos()).unwrap_or(0)
}

/// Unix nanoseconds as RFC 3339 UTC with as many fraction digits as needed
/// (`2026-11-27T10:30:00.123456789Z`), as Vault writes KV times.
pub fn rfc3339_nanos(nanos: u64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(nanos))
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// Now, RFC 3339 UTC with milliseconds (`2026-11-27T10:30:00.123Z`), as
/// audit entries carry it.
pub fn now_rfc3339_millis() -> String {
    let mut text = [0u8; MILLIS_LEN];
    millis(OffsetDateTime::now_utc(), &mut text).to_string()
}

/// Length of [`millis`]'s text.
pub const MILLIS_LEN: usize = 24;

/// `t` as [`now_rfc3339_millis`] writes it, into `buf` (the audit writer
/// formats each entry's time there, without an allocation).
pub fn millis(t: OffsetDateTime, buf: &mut [u8; MILLIS_LEN]) -> &str {
    const MILLIS: &[time::format_description::FormatItem<'static>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    // Years past 9999 do not fit: the same empty text as a failed format.
    match t.format_into(&mut &mut buf[..], MILLIS) {
        Ok(MILLIS_LEN) => std::str::from_utf8(buf).unwrap_or_default(),
        _ => "",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_through_the_time_crate() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_775_445), "2026-11-27T10:30:45Z");
    }

    #[test]
    fn entry_times_have_milliseconds() {
        let before = OffsetDateTime::now_utc();
        let text = now_rfc3339_millis();
        let parsed = OffsetDateTime::parse(&text, &Rfc3339).unwrap();
        assert_eq!(text.len(), 24, "{text}");
        assert!(text.ends_with('Z'));
        let slack = time::Duration::milliseconds(1);
        assert!(parsed >= before - slack && parsed <= OffsetDateTime::now_utc());
    }
}
