//! Managed key names: 1 to [`MAX`] characters of `[A-Za-z0-9_.-]`, starting
//! and ending with a letter, digit or `_` (as Vault's name pattern), so a
//! name is always one path segment, never needs escaping, and is never `.`
//! or `..`.

/// Longest key name accepted.
pub const MAX: usize = 128;

/// Why a name is refused, in the words both sides print.
pub const RULE: &str =
    "1 to 128 characters of A-Z a-z 0-9 _ . -, starting and ending with a letter, digit or _";

/// Whether `name` is a valid key name.
pub fn is_valid(name: &str) -> bool {
    let word = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_';
    let bytes = name.as_bytes();
    !name.is_empty()
        && name.len() <= MAX
        && bytes.first().is_some_and(word)
        && bytes.last().is_some_and(word)
        && bytes.iter().all(|b| word(b) || matches!(b, b'-' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_one_plain_segment() {
        for good in ["a", "app-1", "A.b_c", "_x_", &"x".repeat(MAX)] {
            assert!(is_valid(good), "{good}");
        }
        for bad in [
            "",
            "a/b",
            "a b",
            "é",
            "a%2F",
            ".hidden",
            "..",
            "a-",
            "-a",
            "a.",
            &"x".repeat(MAX + 1),
        ] {
            assert!(!is_valid(bad), "{bad}");
        }
    }
}
