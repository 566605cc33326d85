//! Managed key names: 1 to [`MAX`] characters of `[A-Za-z0-9_.-]`, so a name
//! is always one path segment and never needs escaping.

/// Longest key name accepted.
pub const MAX: usize = 128;

/// Why a name is refused, in the words both sides print.
pub const RULE: &str = "1 to 128 characters of A-Z a-z 0-9 _ . -";

/// Whether `name` is a valid key name.
pub fn is_valid(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_one_plain_segment() {
        for good in ["a", "app-1", "A.b_c", &"x".repeat(MAX)] {
            assert!(is_valid(good), "{good}");
        }
        for bad in ["", "a/b", "a b", "é", "a%2F", &"x".repeat(MAX + 1)] {
            assert!(!is_valid(bad), "{bad}");
        }
    }
}
