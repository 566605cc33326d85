//! Sign, verify and hmac as one operation ([`super::KeyOp`]): what each
//! item does is its [`Kind`].

use std::marker::PhantomData;

use super::{Carries, KeyOp, Shape};
use crate::core::batch::Answer;
use crate::core::sign::{self, Op, Options, Request, SignOutcome};
use crate::error::Error;
use crate::state::key::Key;

/// Which of the three a route is: a type, so that the route table names
/// the operation (`Signing<Hmac>`).
pub trait Kind: Send + 'static {
    const OP: Op;
}

/// `hmac`.
pub struct Hmac;
/// `sign`.
pub struct Sign;
/// `verify`.
pub struct Verify;

impl Kind for Hmac {
    const OP: Op = Op::Hmac;
}
impl Kind for Sign {
    const OP: Op = Op::Sign;
}
impl Kind for Verify {
    const OP: Op = Op::Verify;
}

/// A sign, verify or hmac request, with the options its items share.
pub struct Signing<K> {
    req: Request,
    options: Options,
    kind: PhantomData<K>,
}

impl<K: Kind> Signing<K> {
    /// The body field the path's algorithm (`sign/NAME/ALG`) stands for,
    /// in Vault's names.
    pub const PATH_FIELD: &'static str = match K::OP {
        Op::Hmac => "algorithm",
        Op::Sign | Op::Verify => "hash_algorithm",
    };

    /// `path_alg`: the hash algorithm given in the path, over the body's.
    pub fn new(req: Request, path_alg: Option<String>) -> Result<Self, Error> {
        sign::check(&req)?;
        let options = sign::options(&req, path_alg)?;
        Ok(Self {
            req,
            options,
            kind: PhantomData,
        })
    }
}

impl<K: Kind> KeyOp for Signing<K> {
    type Output = Answer<SignOutcome>;

    fn items(&self) -> usize {
        self.req.batch_input.as_ref().map_or(1, Vec::len)
    }

    fn run(self, key: &Key) -> Result<Self::Output, Error> {
        sign::run(key, &self.options, &self.req, K::OP)
    }

    fn shape(output: &Self::Output) -> Shape {
        Shape::of(output, Carries::Public)
    }
}
