//! What can stop the check before it has a verdict (exit 2, not 1).

use std::fmt;
use std::path::PathBuf;

#[derive(Debug)]
pub enum Error {
    /// `cargo metadata` failed or printed something unexpected.
    Metadata(String),
    /// Packages named on the command line that are not workspace members.
    UnknownPackages(Vec<String>),
    /// A source file could not be read.
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A source file is not valid Rust (rustc would refuse it too).
    Parse {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// `mod name;` with neither `name.rs` nor `name/mod.rs` (nor its `#[path]`).
    ModuleNotFound {
        path: PathBuf,
        line: usize,
        name: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Metadata(message) => write!(f, "cargo metadata: {message}"),
            Error::UnknownPackages(names) => {
                write!(f, "not workspace members: {}", names.join(", "))
            }
            Error::Read { path, source } => write!(f, "{}: {source}", path.display()),
            Error::Parse {
                path,
                line,
                message,
            } => write!(f, "{}:{line}: {message}", path.display()),
            Error::ModuleNotFound { path, line, name } => write!(
                f,
                "{}:{line}: `mod {name};` but no file for it",
                path.display()
            ),
        }
    }
}

impl std::error::Error for Error {}
