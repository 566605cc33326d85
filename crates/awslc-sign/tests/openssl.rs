//! The signatures checked by someone else: OpenSSL's command line verifies
//! what this crate signs, on every hash and padding (`openssl dgst -verify`
//! and `openssl pkeyutl -verify`), and this crate verifies what OpenSSL
//! signs; a property test does the same with aws-lc-rs on random inputs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{self, KeyPair as _, UnparsedPublicKey};
use minikms_awslc::{Error, Hash, Padding, RsaKey, Salt};
use proptest::prelude::*;

fn openssl_name(h: Hash) -> &'static str {
    match h {
        Hash::Sha1 => "sha1",
        Hash::Sha2_224 => "sha224",
        Hash::Sha2_256 => "sha256",
        Hash::Sha2_384 => "sha384",
        Hash::Sha2_512 => "sha512",
        Hash::Sha3_224 => "sha3-224",
        Hash::Sha3_256 => "sha3-256",
        Hash::Sha3_384 => "sha3-384",
        Hash::Sha3_512 => "sha3-512",
    }
}

fn openssl(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl on PATH")
}

fn ok(out: &std::process::Output) -> bool {
    out.status.success()
}

/// A 2048-bit key as PKCS#8 DER, with its PEM files in `dir`
/// (`key.pem`, `pub.pem`) and its public DER.
fn key(dir: &Path) -> (Vec<u8>, Vec<u8>) {
    let pair = KeyPair::generate(KeySize::Rsa2048).unwrap();
    let der = pair.as_der().unwrap().as_ref().to_vec();
    std::fs::write(dir.join("key.der"), &der).unwrap();
    assert!(ok(&openssl(
        dir,
        &["pkey", "-inform", "DER", "-in", "key.der", "-out", "key.pem"]
    )));
    assert!(ok(&openssl(
        dir,
        &["pkey", "-in", "key.pem", "-pubout", "-outform", "DER", "-out", "pub.der"]
    )));
    assert!(ok(&openssl(
        dir,
        &["pkey", "-in", "key.pem", "-pubout", "-out", "pub.pem"]
    )));
    let public = std::fs::read(dir.join("pub.der")).unwrap();
    (der, public)
}

/// The message's digest, as OpenSSL computes it.
fn digest(dir: &Path, h: Hash) -> Vec<u8> {
    let out = openssl(
        dir,
        &["dgst", &format!("-{}", openssl_name(h)), "-binary", "msg"],
    );
    assert!(ok(&out), "{}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// `-pkeyopt`s for a padding with a hash.
fn pkeyopts(h: Option<Hash>, pss: bool) -> Vec<String> {
    let mut opts = Vec::new();
    if let Some(h) = h {
        opts.push(format!("digest:{}", openssl_name(h)));
    }
    if pss {
        opts.push("rsa_padding_mode:pss".into());
        opts.push("rsa_pss_saltlen:digest".into());
    } else {
        opts.push("rsa_padding_mode:pkcs1".into());
    }
    opts.into_iter()
        .flat_map(|o| ["-pkeyopt".to_string(), o])
        .collect()
}

#[test]
fn openssl_verifies_what_it_signs_and_it_verifies_what_openssl_signs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (der, public_der) = key(d);
    let private = RsaKey::from_pkcs8(&der).unwrap();
    let public = RsaKey::from_public_der(&public_der).unwrap();
    std::fs::write(d.join("msg"), b"the message minikms signs").unwrap();
    for h in Hash::ALL {
        let dg = digest(d, h);
        std::fs::write(d.join("digest"), &dg).unwrap();
        for pss in [false, true] {
            let padding = if pss {
                Padding::Pss(Salt::Digest)
            } else {
                Padding::Pkcs1v15
            };
            let what = format!("{h:?} pss={pss}");
            let sig = private.sign(Some(h), padding, &dg).unwrap();
            std::fs::write(d.join("sig"), &sig).unwrap();
            // `openssl dgst` hashes the message itself.
            let mut args = vec![
                "dgst".to_string(),
                format!("-{}", openssl_name(h)),
                "-verify".into(),
                "pub.pem".into(),
                "-signature".into(),
                "sig".into(),
            ];
            if pss {
                for o in ["rsa_padding_mode:pss", "rsa_pss_saltlen:digest"] {
                    args.extend(["-sigopt".to_string(), o.to_string()]);
                }
            }
            args.push("msg".into());
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = openssl(d, &args);
            assert!(ok(&out), "dgst -verify {what}: {out:?}");
            // `openssl pkeyutl` takes the digest.
            let mut args = vec![
                "pkeyutl", "-verify", "-pubin", "-inkey", "pub.pem", "-in", "digest", "-sigfile",
                "sig",
            ]
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>();
            args.extend(pkeyopts(Some(h), pss));
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = openssl(d, &args);
            assert!(ok(&out), "pkeyutl -verify {what}: {out:?}");
            // And the reverse: OpenSSL signs, this crate verifies.
            let mut args = vec![
                "pkeyutl", "-sign", "-inkey", "key.pem", "-in", "digest", "-out", "osig",
            ]
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>();
            args.extend(pkeyopts(Some(h), pss));
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            assert!(ok(&openssl(d, &args)), "pkeyutl -sign {what}");
            let osig = std::fs::read(d.join("osig")).unwrap();
            assert!(
                public.verify(Some(h), padding, &dg, &osig).unwrap(),
                "{what}"
            );
            // Auto detects the salt's length.
            if pss {
                assert!(public
                    .verify(Some(h), Padding::Pss(Salt::Auto), &dg, &osig)
                    .unwrap());
            }
            let mut bad = osig.clone();
            bad[10] ^= 1;
            assert!(
                !public.verify(Some(h), padding, &dg, &bad).unwrap(),
                "{what}"
            );
        }
    }
    // `none`: PKCS#1 v1.5 over the bytes as given, no DigestInfo.
    let data = b"prehashed bytes, no DigestInfo";
    std::fs::write(d.join("data"), data).unwrap();
    let sig = private.sign(None, Padding::Pkcs1v15, data).unwrap();
    std::fs::write(d.join("sig"), &sig).unwrap();
    let out = openssl(
        d,
        &[
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            "pub.pem",
            "-in",
            "data",
            "-sigfile",
            "sig",
            "-pkeyopt",
            "rsa_padding_mode:pkcs1",
        ],
    );
    assert!(ok(&out), "pkeyutl -verify none: {out:?}");
    let out = openssl(
        d,
        &[
            "pkeyutl",
            "-sign",
            "-inkey",
            "key.pem",
            "-in",
            "data",
            "-out",
            "osig",
            "-pkeyopt",
            "rsa_padding_mode:pkcs1",
        ],
    );
    assert!(ok(&out));
    let osig = std::fs::read(d.join("osig")).unwrap();
    assert_eq!(osig, sig, "PKCS#1 v1.5 is deterministic");
    assert!(public.verify(None, Padding::Pkcs1v15, data, &osig).unwrap());
    assert!(!public
        .verify(None, Padding::Pkcs1v15, b"other bytes", &osig)
        .unwrap());
}

#[test]
fn wrong_inputs_are_refused_before_aws_lc() {
    let pair = KeyPair::generate(KeySize::Rsa2048).unwrap();
    let private = RsaKey::from_pkcs8(pair.as_der().unwrap().as_ref()).unwrap();
    assert_eq!(
        private.sign(Some(Hash::Sha3_224), Padding::Pkcs1v15, &[0; 32]),
        Err(Error::DigestLength {
            expected: 28,
            got: 32
        })
    );
    assert_eq!(
        private.sign(None, Padding::Pss(Salt::Digest), &[0; 32]),
        Err(Error::PssWithoutHash)
    );
    assert_eq!(
        private.sign(None, Padding::Pkcs1v15, &[0; 246]),
        Err(Error::TooLong { max: 245 })
    );
    assert_eq!(
        private.sign(
            Some(Hash::Sha2_256),
            Padding::Pss(Salt::Bytes(223)),
            &[0; 32]
        ),
        Err(Error::SaltTooLong { max: 222 })
    );
    assert!(private
        .sign(
            Some(Hash::Sha2_256),
            Padding::Pss(Salt::Bytes(222)),
            &[0; 32]
        )
        .is_ok());
    assert!(RsaKey::from_pkcs8(b"not a key").is_err());
    let ec = aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(
        &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        &aws_lc_rs::rand::SystemRandom::new(),
    )
    .unwrap();
    assert_eq!(RsaKey::from_pkcs8(ec.as_ref()).err(), Some(Error::Key));
    let public = RsaKey::from_public_der(
        pair.public_key()
            .as_der()
            .map(|d: aws_lc_rs::encoding::PublicKeyX509Der| d.as_ref().to_vec())
            .unwrap()
            .as_slice(),
    )
    .unwrap();
    assert_eq!(
        public.sign(Some(Hash::Sha2_256), Padding::Pkcs1v15, &[0; 32]),
        Err(Error::NotPrivate)
    );
}

fn aws_lc_rs_params(h: Hash, pss: bool) -> Option<&'static signature::RsaParameters> {
    use signature::*;
    Some(match (h, pss) {
        (Hash::Sha2_256, false) => &RSA_PKCS1_2048_8192_SHA256,
        (Hash::Sha2_384, false) => &RSA_PKCS1_2048_8192_SHA384,
        (Hash::Sha2_512, false) => &RSA_PKCS1_2048_8192_SHA512,
        (Hash::Sha2_256, true) => &RSA_PSS_2048_8192_SHA256,
        (Hash::Sha2_384, true) => &RSA_PSS_2048_8192_SHA384,
        (Hash::Sha2_512, true) => &RSA_PSS_2048_8192_SHA512,
        _ => return None,
    })
}

fn aws_lc_rs_digest(h: Hash) -> &'static aws_lc_rs::digest::Algorithm {
    use aws_lc_rs::digest::*;
    match h {
        Hash::Sha2_384 => &SHA384,
        Hash::Sha2_512 => &SHA512,
        _ => &SHA256,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// What this crate signs aws-lc-rs verifies, and the reverse, on the
    /// hashes aws-lc-rs has RSA encodings for; its own verify takes its
    /// own signature on every hash.
    #[test]
    fn aws_lc_rs_agrees(msg in proptest::collection::vec(any::<u8>(), 0..300), pss in any::<bool>(), which in 0usize..9) {
        static PAIR: std::sync::OnceLock<KeyPair> = std::sync::OnceLock::new();
        let pair = PAIR.get_or_init(|| KeyPair::generate(KeySize::Rsa2048).unwrap());
        let ours = RsaKey::from_pkcs8(pair.as_der().unwrap().as_ref()).unwrap();
        let h = Hash::ALL[which];
        let padding = if pss { Padding::Pss(Salt::Digest) } else { Padding::Pkcs1v15 };
        // Any bytes of the hash's length stand for a digest.
        let mut dg = msg.clone();
        dg.resize(h.digest_len(), 7);
        let sig = ours.sign(Some(h), padding, &dg).unwrap();
        prop_assert!(ours.verify(Some(h), padding, &dg, &sig).unwrap());
        if let Some(params) = aws_lc_rs_params(h, pss) {
            let dgst = aws_lc_rs::digest::digest(aws_lc_rs_digest(h), &msg);
            let sig = ours.sign(Some(h), padding, dgst.as_ref()).unwrap();
            let public = UnparsedPublicKey::new(params, pair.public_key().as_ref());
            prop_assert!(public.verify(&msg, &sig).is_ok());
            let encoding: &'static signature::RsaSignatureEncoding = match (h, pss) {
                (Hash::Sha2_256, false) => &signature::RSA_PKCS1_SHA256,
                (Hash::Sha2_384, false) => &signature::RSA_PKCS1_SHA384,
                (Hash::Sha2_512, false) => &signature::RSA_PKCS1_SHA512,
                (Hash::Sha2_256, true) => &signature::RSA_PSS_SHA256,
                (Hash::Sha2_384, true) => &signature::RSA_PSS_SHA384,
                _ => &signature::RSA_PSS_SHA512,
            };
            let mut theirs = vec![0u8; pair.public_modulus_len()];
            pair.sign(encoding, &aws_lc_rs::rand::SystemRandom::new(), &msg, &mut theirs).unwrap();
            prop_assert!(ours.verify(Some(h), padding, dgst.as_ref(), &theirs).unwrap());
        }
    }
}
