//! The enclave configuration (the tutorial's `kms.conf`) and its canonical
//! binary form. The TOML is what people edit; the 64-byte properties record
//! is what gets measured and stored in the signed image, so comments and
//! formatting never change MRENCLAVE.

use serde::Deserialize;

use crate::Error;

/// Upper bounds keep a hostile config from asking for absurd layouts.
const MAX_HEAP_PAGES: u64 = 1 << 20; // 4 GiB
const MAX_STACK_PAGES: u64 = 1 << 16; // 256 MiB
const MAX_TCS: u64 = 256;

/// Size of the canonical properties record.
pub const PROPERTIES_LEN: usize = 64;
const PROPERTIES_MAGIC: &[u8; 8] = b"MKPROPS1";

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnclaveConfig {
    #[serde(rename = "Debug")]
    pub debug: bool,
    #[serde(rename = "NumHeapPages")]
    pub num_heap_pages: u64,
    #[serde(rename = "NumStackPages")]
    pub num_stack_pages: u64,
    #[serde(rename = "NumTCS")]
    pub num_tcs: u64,
    #[serde(rename = "ProductID")]
    pub product_id: u16,
    #[serde(rename = "SecurityVersion")]
    pub security_version: u16,
}

impl EnclaveConfig {
    /// Parses and validates the TOML form.
    pub fn from_toml(text: &str) -> Result<Self, Error> {
        let config: Self = toml::from_str(text).map_err(|e| {
            // toml's own rendering spans several lines; name the offending
            // line instead, so the error stays one line.
            let message = e.message().trim().to_string();
            Error::Config(match e.span() {
                Some(span) if !span.is_empty() && !message.starts_with("missing field") => {
                    let line_no = text[..span.start].matches('\n').count() + 1;
                    let line = text.lines().nth(line_no - 1).unwrap_or("").trim();
                    format!("line {line_no} (`{line}`): {message}")
                }
                _ => message,
            })
        })?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), Error> {
        let check = |name: &str, value: u64, max: u64| {
            if value == 0 || value > max {
                Err(Error::Config(format!(
                    "{name} must be between 1 and {max}, got {value}"
                )))
            } else {
                Ok(())
            }
        };
        check("NumHeapPages", self.num_heap_pages, MAX_HEAP_PAGES)?;
        check("NumStackPages", self.num_stack_pages, MAX_STACK_PAGES)?;
        check("NumTCS", self.num_tcs, MAX_TCS)?;
        Ok(())
    }

    /// The canonical 64-byte record that is measured and stored.
    pub fn to_properties(&self) -> [u8; PROPERTIES_LEN] {
        let mut out = [0u8; PROPERTIES_LEN];
        out[0..8].copy_from_slice(PROPERTIES_MAGIC);
        out[8] = u8::from(self.debug);
        out[16..24].copy_from_slice(&self.num_heap_pages.to_le_bytes());
        out[24..32].copy_from_slice(&self.num_stack_pages.to_le_bytes());
        out[32..40].copy_from_slice(&self.num_tcs.to_le_bytes());
        out[40..42].copy_from_slice(&self.product_id.to_le_bytes());
        out[42..44].copy_from_slice(&self.security_version.to_le_bytes());
        out
    }

    /// Parses the canonical record; anything but the exact form is refused.
    pub fn from_properties(bytes: &[u8]) -> Result<Self, Error> {
        let bad = |why: &str| Error::Format(format!("enclave properties {why}"));
        let b: &[u8; PROPERTIES_LEN] = bytes.try_into().map_err(|_| bad("have the wrong size"))?;
        if &b[0..8] != PROPERTIES_MAGIC {
            return Err(bad("have an unknown magic"));
        }
        let zero_padding = b[9..16].iter().chain(&b[44..]).all(|&x| x == 0);
        if b[8] > 1 || !zero_padding {
            return Err(bad("are not in canonical form"));
        }
        let u64_at = |i: usize| {
            let mut v = [0u8; 8];
            v.copy_from_slice(&b[i..i + 8]);
            u64::from_le_bytes(v)
        };
        let config = Self {
            debug: b[8] == 1,
            num_heap_pages: u64_at(16),
            num_stack_pages: u64_at(24),
            num_tcs: u64_at(32),
            product_id: u16::from_le_bytes([b[40], b[41]]),
            security_version: u16::from_le_bytes([b[42], b[43]]),
        };
        config.validate()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIPPED: &str = include_str!("../../../../enclave.toml");

    #[test]
    fn shipped_config_parses() {
        let c = EnclaveConfig::from_toml(SHIPPED).unwrap();
        assert!(c.debug);
        assert_eq!(c.num_heap_pages, 2048);
        assert_eq!(
            EnclaveConfig::from_properties(&c.to_properties()).unwrap(),
            c
        );
    }

    #[test]
    fn invalid_configs_are_refused_with_the_reason() {
        let cases = [
            ("Debug = true", "missing field"),
            (
                &SHIPPED.replace("NumTCS = 4", "NumTCS = 0"),
                "NumTCS must be between",
            ),
            (
                &format!("{SHIPPED}\nColour = 3\n"),
                "unknown field `Colour`",
            ),
            (
                &SHIPPED.replace("ProductID = 1", "ProductID = 70000"),
                "ProductID",
            ),
            (
                &SHIPPED.replace("Debug = true", "Debug = 1"),
                "invalid type",
            ),
            ("not toml at all [", ""),
        ];
        for (text, want) in cases {
            let err = EnclaveConfig::from_toml(text).unwrap_err().to_string();
            assert!(err.starts_with("invalid enclave config: "), "{err}");
            assert!(err.contains(want), "{err:?} should mention {want:?}");
            assert!(!err.contains('\n'), "one line: {err:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn properties_parser_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..80)) {
            let _ = EnclaveConfig::from_properties(&bytes);
        }
    }
}
