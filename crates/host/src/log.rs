//! Log lines in the tutorial's style: `[Host]: ...` for ours, `[Enclave]: ...`
//! for what the enclave sends. Both go to standard error; standard output
//! carries only the `listening on ...` line, for scripts to read.
//! Nothing logged here is secret: the host never holds a secret to log.
//! With `--log-format json` each line is one JSON object instead
//! (`timestamp`, `level`, `component`, `message`), for log shippers.

use std::fmt;
use std::sync::OnceLock;

use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// `--log-format`: how log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// `[Host]: ...` and `[Enclave]: ...`, for people.
    #[default]
    Text,
    /// One JSON object a line: timestamp, level, component, message.
    Json,
}

static FORMAT: OnceLock<LogFormat> = OnceLock::new();

fn format() -> LogFormat {
    FORMAT.get().copied().unwrap_or_default()
}

pub fn init(format: LogFormat) {
    let _ = FORMAT.set(format);
    let _ = tracing_subscriber::fmt()
        .event_format(Prefixed)
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::INFO)
        .try_init();
}

/// Prints a line the enclave sent, with its level if it is not plain info.
pub fn enclave_line(level: minikms_edl::Level, line: &str) {
    match format() {
        LogFormat::Text => eprintln!("[Enclave]: {}{}", level_word(level), one_line(line)),
        LogFormat::Json => eprintln!("{}", json_line(level, "enclave", &one_line(line))),
    }
}

/// `kms-host: error: ...`, the last line of a failed command.
pub fn error_line(message: &str) {
    match format() {
        LogFormat::Text => eprintln!("kms-host: error: {message}"),
        LogFormat::Json => eprintln!(
            "{}",
            json_line(minikms_edl::Level::Error, "host", &one_line(message))
        ),
    }
}

/// One JSON log line; the timestamp is the host's clock (RFC 3339, UTC).
fn json_line(level: minikms_edl::Level, component: &str, message: &str) -> String {
    let timestamp = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let level = match level {
        minikms_edl::Level::Error => "error",
        minikms_edl::Level::Warn => "warn",
        minikms_edl::Level::Info => "info",
        minikms_edl::Level::Debug => "debug",
    };
    serde_json::json!({
        "timestamp": timestamp,
        "level": level,
        "component": component,
        "message": message,
    })
    .to_string()
}

/// Text from the enclave, made safe for one line of our output: bounded,
/// and without control characters that could drive the terminal.
pub fn one_line(text: &str) -> String {
    minikms_edl::bounded_log_line(text)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn level_word(level: minikms_edl::Level) -> &'static str {
    match level {
        minikms_edl::Level::Error => "error: ",
        minikms_edl::Level::Warn => "warning: ",
        _ => "",
    }
}

struct Prefixed;

impl<S, N> FormatEvent<S, N> for Prefixed
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let level = match *event.metadata().level() {
            tracing::Level::ERROR => minikms_edl::Level::Error,
            tracing::Level::WARN => minikms_edl::Level::Warn,
            _ => minikms_edl::Level::Info,
        };
        if format() == LogFormat::Json {
            let mut message = String::new();
            ctx.field_format()
                .format_fields(Writer::new(&mut message), event)?;
            return writeln!(w, "{}", json_line(level, "host", &message));
        }
        write!(w, "[Host]: {}", level_word(level))?;
        ctx.field_format().format_fields(w.by_ref(), event)?;
        writeln!(w)
    }
}
