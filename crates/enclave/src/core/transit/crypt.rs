//! Encrypt, decrypt, rewrap, datakey as operations ([`super::KeyOp`]);
//! decrypt and datakey answer wrapped to the token's attested key when
//! the request names `recipient` (`crate::core::release`).

use super::{Carries, KeyOp, Shape};
use crate::core::batch::Answer;
use crate::core::crypt::{self, DataKey, DatakeyPlan, Item, Outcome};
use crate::core::manage::CreateRequest;
use crate::core::release::{self, DatakeyBody, ReleasedDataKey, ReleasedPlaintext};
use crate::error::Error;
use crate::state::key::Key;
use crate::state::tokens::Identity;
use zeroize::Zeroizing;

/// How many items a request works on.
fn items(item: &Item) -> usize {
    item.batch_input.as_ref().map_or(1, Vec::len)
}

/// `encrypt`: makes the key first if there is none (Vault's upsert:
/// `type` chooses its type), unless `transit/config/keys` disables it.
pub struct Encrypt(Item);

impl Encrypt {
    pub fn new(item: Item) -> Result<Self, Error> {
        crypt::check(&item)?;
        Ok(Self(item))
    }
}

impl KeyOp for Encrypt {
    type Output = Answer<Outcome>;

    fn items(&self) -> usize {
        items(&self.0)
    }

    fn upsert(&self) -> Option<CreateRequest> {
        Some(self.0.upsert_plan())
    }

    fn run(self, key: &Key) -> Result<Self::Output, Error> {
        crypt::run(key, &self.0, crypt::encrypt_one)
    }

    fn shape(output: &Self::Output) -> Shape {
        Shape::of(output, Carries::Public)
    }
}

/// `rewrap`.
pub struct Rewrap(Item);

impl Rewrap {
    pub fn new(item: Item) -> Result<Self, Error> {
        crypt::check(&item)?;
        Ok(Self(item))
    }
}

impl KeyOp for Rewrap {
    type Output = Answer<Outcome>;

    fn items(&self) -> usize {
        items(&self.0)
    }

    fn run(self, key: &Key) -> Result<Self::Output, Error> {
        crypt::run(key, &self.0, crypt::rewrap_one)
    }

    fn shape(output: &Self::Output) -> Shape {
        Shape::of(output, Carries::Public)
    }
}

/// `decrypt`: the plaintext in clear, or wrapped to the attested key of
/// the token (`"recipient": "attested"`).
pub enum Decrypt {
    Clear(Item),
    Released { item: Item, to: Vec<u8> },
}

impl Decrypt {
    pub fn new(item: Item, who: &Identity) -> Result<Self, Error> {
        let Some(recipient) = &item.recipient else {
            crypt::check(&item)?;
            return Ok(Self::Clear(item));
        };
        release::check_recipient(recipient)?;
        let to = release::recipient_key(who)?;
        Ok(Self::Released { item, to })
    }
}

/// What `decrypt` answers.
#[derive(serde::Serialize)]
#[serde(untagged)]
pub enum Decrypted {
    Clear(Answer<Outcome>),
    Released(ReleasedPlaintext),
}

impl KeyOp for Decrypt {
    type Output = Decrypted;

    fn items(&self) -> usize {
        match self {
            Self::Clear(item) => items(item),
            Self::Released { .. } => 1,
        }
    }

    fn run(self, key: &Key) -> Result<Decrypted, Error> {
        match self {
            Self::Clear(item) => {
                let mut answer = crypt::run(key, &item, crypt::decrypt_one)?;
                // A failed item answers `plaintext: ""`, as Vault's does.
                if let Answer::Batch { results, .. } = &mut answer {
                    for failed in results.iter_mut().filter(|r| r.error.is_some()) {
                        failed.plaintext = Some(Zeroizing::new(String::new()));
                    }
                }
                Ok(Decrypted::Clear(answer))
            }
            Self::Released { item, to } => {
                release::decrypt(key, &item, &to).map(Decrypted::Released)
            }
        }
    }

    fn shape(output: &Decrypted) -> Shape {
        match output {
            Decrypted::Clear(answer) => Shape::of(answer, Carries::Secrets),
            Decrypted::Released(_) => Shape::released(None),
        }
    }
}

/// `datakey/KIND`: a fresh data key under the key, its plaintext in clear
/// (`plaintext`) or not (`wrapped`), or wrapped to the attested key of
/// the token (`"recipient": "attested"`, either kind).
pub enum Datakey {
    Clear(DatakeyPlan),
    Released { plan: DatakeyPlan, to: Vec<u8> },
}

impl Datakey {
    pub fn new(kind: &str, body: DatakeyBody, who: &Identity) -> Result<Self, Error> {
        let Some(recipient) = &body.recipient else {
            return crypt::datakey_plan(kind, body.req).map(Self::Clear);
        };
        release::check_recipient(recipient)?;
        let to = release::recipient_key(who)?;
        let plan = release::datakey_plan(kind, body.req)?;
        Ok(Self::Released { plan, to })
    }
}

/// What `datakey` answers.
#[derive(serde::Serialize)]
#[serde(untagged)]
pub enum DataKeyMade {
    Clear(DataKey),
    Released(ReleasedDataKey),
}

impl KeyOp for Datakey {
    type Output = DataKeyMade;

    fn run(self, key: &Key) -> Result<DataKeyMade, Error> {
        match self {
            Self::Clear(plan) => crypt::datakey(key, &plan).map(DataKeyMade::Clear),
            Self::Released { plan, to } => {
                release::datakey(key, &plan, &to).map(DataKeyMade::Released)
            }
        }
    }

    fn shape(output: &DataKeyMade) -> Shape {
        match output {
            // `wrapped` answers carry no plaintext, but one path is simpler.
            DataKeyMade::Clear(made) => Shape {
                carries: Carries::Secrets,
                key_version: Some(made.key_version),
                failed: false,
                partial: false,
                released: false,
            },
            DataKeyMade::Released(made) => Shape::released(Some(made.key_version)),
        }
    }
}
