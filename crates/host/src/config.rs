//! `kms-host run --server-config FILE` and `kms-host check-config FILE`:
//! every `run` flag also from a TOML file, with `MINIKMS_…` environment
//! overrides; flags on the command line win over both.
//!
//! Nothing here knows the flags by name: the file's keys are the long flag
//! names (`port`, `data-dir`, `tls-name`, …), the environment variables are
//! `MINIKMS_` and the long name in upper case with `_` for `-`, both read
//! off clap's own description of `run`. A setting becomes the flag it names
//! and goes through the flag's own parser, so a flag added to
//! [`crate::launch::RunArgs`] is covered with no code here, and whatever
//! reaches the enclave is checked there exactly as that flag is.
//!
//! TOML rather than HCL: the enclave's own config (`enclave.toml`) is
//! TOML, its parser gives every key's position for errors with a line, and
//! a flag's value maps onto a TOML value one to one.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command};

/// The prefix of the environment overrides.
pub const ENV_PREFIX: &str = "MINIKMS_";
/// The flag that names the file (never a key inside it).
pub const FILE_FLAG: &str = "server-config";
/// Settings whose value is never printed by `check-config`.
const SECRET_KEYS: [&str; 1] = ["dev-root-token"];

/// Where a setting came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    File { path: PathBuf, line: usize },
    Env(String),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::File { path, line } => write!(f, "{}:{line}", path.display()),
            Origin::Env(var) => write!(f, "environment {var}"),
        }
    }
}

/// One setting from the file or the environment, as the flag's values.
#[derive(Debug, Clone)]
pub struct Setting {
    /// The arg's id in clap (`data_dir`).
    id: String,
    /// The key as written (`data-dir`).
    pub key: String,
    /// The flag's values; empty for a switch that is on.
    pub values: Vec<String>,
    pub origin: Origin,
}

/// One thing wrong in the file or the environment, with where it is.
#[derive(Debug)]
pub struct Problem {
    pub origin: Option<Origin>,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.origin {
            Some(origin) => write!(f, "{origin}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// The file's key (or env suffix) of an arg: its long name, or for the
/// positional argument its id with `-` for `_`.
fn key_of(arg: &Arg) -> Option<String> {
    let id = arg.get_id().as_str();
    if matches!(id, "help" | "version") {
        return None;
    }
    Some(match arg.get_long() {
        Some(long) => long.to_string(),
        None => id.replace('_', "-"),
    })
}

fn env_var_of(key: &str) -> String {
    format!("{ENV_PREFIX}{}", key.to_ascii_uppercase().replace('-', "_"))
}

/// A switch (`--once`) takes no value: on or off.
fn is_switch(arg: &Arg) -> bool {
    !arg.get_action().takes_values()
}

fn is_list(arg: &Arg) -> bool {
    matches!(arg.get_action(), ArgAction::Append)
}

/// Checks one value with the flag's own parser (`run` given that flag
/// alone); the parser's message. What the flag needs of others (`requires`,
/// conflicts) is checked with all the settings together.
fn check_value(cmd: &Command, arg: &Arg, value: &str) -> Result<(), String> {
    use clap::error::ErrorKind;
    let argv: Vec<OsString> = match arg.get_long() {
        Some(long) => vec!["run".into(), format!("--{long}={value}").into()],
        None => vec!["run".into(), "--".into(), value.into()],
    };
    match cmd.clone().try_get_matches_from(argv) {
        Ok(_) => Ok(()),
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::MissingRequiredArgument | ErrorKind::ArgumentConflict
            ) =>
        {
            Ok(())
        }
        Err(e) => Err(clap_message(&e)),
    }
}

/// clap's error as one line, without its `error: ` prefix and usage tips.
fn clap_message(e: &clap::Error) -> String {
    let text = e.to_string();
    let first = text.lines().next().unwrap_or_default();
    first.strip_prefix("error: ").unwrap_or(first).to_string()
}

fn boolean(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" | "" => Some(false),
        _ => None,
    }
}

/// The settings of a TOML file, in the file's order, and its problems.
pub fn read_file(cmd: &Command, path: &Path) -> (Vec<Setting>, Vec<Problem>) {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => {
            return (
                Vec::new(),
                vec![Problem {
                    origin: None,
                    message: format!("cannot read the server config {}: {e}", path.display()),
                }],
            )
        }
    };
    parse_file(cmd, path, &text)
}

fn parse_file(cmd: &Command, path: &Path, text: &str) -> (Vec<Setting>, Vec<Problem>) {
    type Table = std::collections::BTreeMap<toml::Spanned<String>, toml::Spanned<toml::Value>>;
    let at = |offset: usize| Origin::File {
        path: path.to_path_buf(),
        line: text[..offset.min(text.len())].matches('\n').count() + 1,
    };
    let table: Table = match toml::from_str(text) {
        Ok(table) => table,
        Err(e) => {
            let origin = e.span().map(|s| at(s.start));
            return (
                Vec::new(),
                vec![Problem {
                    origin,
                    message: format!("not valid TOML: {}", e.message().trim()),
                }],
            );
        }
    };
    let mut entries: Vec<_> = table.into_iter().collect();
    entries.sort_by_key(|(k, _)| k.span().start);
    let mut settings = Vec::new();
    let mut problems = Vec::new();
    for (key, value) in entries {
        let origin = at(key.span().start);
        let key = key.into_inner();
        let problem = |message: String| Problem {
            origin: Some(origin.clone()),
            message,
        };
        let Some(arg) = find(cmd, &key) else {
            problems.push(problem(unknown_key(&key)));
            continue;
        };
        match file_values(arg, value.get_ref()) {
            Ok(values) => {
                // A switch's value is a TOML boolean already.
                let bad: Vec<_> = values
                    .iter()
                    .filter(|_| !is_switch(arg))
                    .filter_map(|v| check_value(cmd, arg, v).err())
                    .collect();
                if bad.is_empty() {
                    settings.extend(switch_or_values(arg, &key, values, origin));
                } else {
                    problems.extend(bad.into_iter().map(problem));
                }
            }
            Err(message) => problems.push(problem(format!("{key}: {message}"))),
        }
    }
    (settings, problems)
}

fn unknown_key(key: &str) -> String {
    if key == FILE_FLAG {
        return format!("{key}: a server config cannot name another one");
    }
    format!(
        "unknown setting {key:?}: the settings are the long flags of `kms-host run` \
         (see kms-host run --help), e.g. port = 9001 or data-dir = \"/var/lib/minikms\""
    )
}

fn find<'c>(cmd: &'c Command, key: &str) -> Option<&'c Arg> {
    cmd.get_arguments()
        .find(|a| key_of(a).as_deref() == Some(key) && key != FILE_FLAG)
}

/// A TOML value as the flag's values (a switch: `["true"]`/`["false"]`).
fn file_values(arg: &Arg, value: &toml::Value) -> Result<Vec<String>, String> {
    let scalar = |v: &toml::Value| match v {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Float(f) => Ok(f.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        _ => Err("give a string, a number or true/false".to_string()),
    };
    if is_switch(arg) {
        return match value {
            toml::Value::Boolean(b) => Ok(vec![b.to_string()]),
            _ => Err("a switch: give true or false".into()),
        };
    }
    match value {
        toml::Value::Array(items) if is_list(arg) => items.iter().map(scalar).collect(),
        toml::Value::Array(_) => Err("takes one value, not a list".into()),
        v => scalar(v).map(|s| vec![s]),
    }
}

/// A switch that is off sets nothing; one that is on is the bare flag.
fn switch_or_values(arg: &Arg, key: &str, values: Vec<String>, origin: Origin) -> Option<Setting> {
    let values = if is_switch(arg) {
        if values.first().and_then(|v| boolean(v)) != Some(true) {
            return None;
        }
        Vec::new()
    } else {
        values
    };
    Some(Setting {
        id: arg.get_id().to_string(),
        key: key.to_string(),
        values,
        origin,
    })
}

/// The `MINIKMS_…` overrides in the environment, and their problems. A
/// list flag takes its values comma-separated.
pub fn read_env(cmd: &Command) -> (Vec<Setting>, Vec<Problem>) {
    let mut settings = Vec::new();
    let mut problems = Vec::new();
    for arg in cmd.get_arguments() {
        let Some(key) = key_of(arg).filter(|k| k != FILE_FLAG) else {
            continue;
        };
        let var = env_var_of(&key);
        let Some(raw) = std::env::var_os(&var) else {
            continue;
        };
        let origin = Origin::Env(var.clone());
        let Some(text) = raw.to_str() else {
            problems.push(Problem {
                origin: Some(origin),
                message: "not UTF-8".into(),
            });
            continue;
        };
        let values: Vec<String> = if is_switch(arg) {
            match boolean(text) {
                Some(b) => vec![b.to_string()],
                None => {
                    problems.push(Problem {
                        origin: Some(origin),
                        message: format!("{text:?}: a switch: give true or false"),
                    });
                    continue;
                }
            }
        } else if is_list(arg) {
            text.split(',').map(|s| s.trim().to_string()).collect()
        } else {
            vec![text.to_string()]
        };
        let bad: Vec<_> = if is_switch(arg) {
            Vec::new()
        } else {
            values
                .iter()
                .filter_map(|v| check_value(cmd, arg, v).err())
                .collect()
        };
        if bad.is_empty() {
            settings.extend(switch_or_values(arg, &key, values, origin));
        } else {
            problems.extend(bad.into_iter().map(|message| Problem {
                origin: Some(origin.clone()),
                message,
            }));
        }
    }
    (settings, problems)
}

/// The file's settings with the environment's over them (one source per
/// key), without those the command line gives or contradicts.
pub fn layer(
    cmd: &Command,
    file: Vec<Setting>,
    env: Vec<Setting>,
    command_line: Option<&ArgMatches>,
) -> Vec<Setting> {
    let given = |id: &str| {
        command_line.is_some_and(|m| m.value_source(id) == Some(ValueSource::CommandLine))
    };
    let mut out: Vec<Setting> = file
        .into_iter()
        .filter(|f| !env.iter().any(|e| e.id == f.id))
        .collect();
    out.extend(env);
    out.retain(|s| {
        let Some(arg) = cmd.get_arguments().find(|a| a.get_id().as_str() == s.id) else {
            return false;
        };
        // A flag wins over its setting, and over a setting it conflicts
        // with (`--simulation` on the command line, `platform` in the file).
        !given(&s.id)
            && !cmd
                .get_arg_conflicts_with(arg)
                .iter()
                .any(|c| given(c.get_id().as_str()))
    });
    out
}

/// The settings as `run` flags, to go before the command line's own.
pub fn as_flags(cmd: &Command, settings: &[Setting]) -> Vec<OsString> {
    let mut flags = Vec::new();
    let mut positional = Vec::new();
    for s in settings {
        let Some(arg) = cmd.get_arguments().find(|a| a.get_id().as_str() == s.id) else {
            continue;
        };
        match arg.get_long() {
            Some(long) if s.values.is_empty() => flags.push(format!("--{long}").into()),
            Some(long) => {
                for v in &s.values {
                    flags.push(format!("--{long}={v}").into());
                }
            }
            None => positional.extend(s.values.iter().map(OsString::from)),
        }
    }
    flags.extend(positional);
    flags
}

/// A value as `check-config` shows it: secrets hidden, and the password of
/// a URL's user.
pub fn shown(key: &str, value: &str) -> String {
    if SECRET_KEYS.contains(&key) {
        return "(set, not shown)".into();
    }
    if let Some((scheme, rest)) = value.split_once("://") {
        if let Some((user, host)) = rest.split_once('@') {
            if let Some((name, _)) = user.split_once(':') {
                return format!("{scheme}://{name}:(not shown)@{host}");
            }
        }
    }
    value.to_string()
}

/// `check-config`'s listing: every `run` setting with its effective value
/// and where it came from, itself a valid server config (an unset one is
/// a comment).
pub fn listing(cmd: &Command, settings: &[Setting]) -> Vec<String> {
    let mut lines = Vec::new();
    for arg in cmd.get_arguments() {
        let Some(key) = key_of(arg).filter(|k| k != FILE_FLAG) else {
            continue;
        };
        let chosen = settings.iter().find(|s| s.id == arg.get_id().as_str());
        if chosen.is_none() && !is_switch(arg) && arg.get_default_values().is_empty() {
            lines.push(format!("# {key} is not set"));
            continue;
        }
        let (value, from) = match chosen {
            Some(s) if s.values.is_empty() => ("true".to_string(), s.origin.to_string()),
            Some(s) => (
                list_text(s.values.iter().map(|v| shown(&key, v)).collect()),
                s.origin.to_string(),
            ),
            None => {
                let defaults: Vec<String> = arg
                    .get_default_values()
                    .iter()
                    .map(|v| v.to_string_lossy().into_owned())
                    .collect();
                if is_switch(arg) {
                    ("false".into(), "default".into())
                } else {
                    (list_text(defaults), "default".into())
                }
            }
        };
        lines.push(format!("{key} = {value}    # {from}"));
    }
    lines
}

fn list_text(values: Vec<String>) -> String {
    match values.as_slice() {
        [one] => format!("{one:?}"),
        _ => format!("{values:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Args;

    fn cmd() -> Command {
        crate::launch::RunArgs::augment_args(Command::new("run"))
    }

    #[test]
    fn a_file_gives_flags_with_lines_and_refuses_unknown_keys() {
        let text = "port = 9443\nprot = 1\nonce = true\ntls-name = [\"a.example\", \"b\"]\n\
                    max-connections = 0\n";
        let (settings, problems) = parse_file(&cmd(), Path::new("s.toml"), text);
        let keys: Vec<_> = settings.iter().map(|s| s.key.as_str()).collect();
        assert_eq!(keys, ["port", "once", "tls-name"]);
        let flags = as_flags(&cmd(), &settings);
        assert_eq!(
            flags,
            [
                "--port=9443",
                "--once",
                "--tls-name=a.example",
                "--tls-name=b"
            ]
        );
        let problems: Vec<_> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("s.toml:2: unknown setting \"prot\""));
        assert!(problems[1].starts_with("s.toml:5: "), "{problems:?}");
    }

    #[test]
    fn urls_and_tokens_are_not_shown() {
        assert_eq!(
            shown("storage", "postgres://kms:pw@db:5432/kms"),
            "postgres://kms:(not shown)@db:5432/kms"
        );
        assert_eq!(shown("dev-root-token", "root"), "(set, not shown)");
    }
}
