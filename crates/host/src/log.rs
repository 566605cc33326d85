//! Log lines in the tutorial's style: `[Host]: ...` for ours, `[Enclave]: ...`
//! for what the enclave sends. Both go to standard error; standard output
//! carries only the `listening on ...` line, for scripts to read.
//! Nothing logged here is secret: the host never holds a secret to log.

use std::fmt;

use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

pub fn init() {
    let _ = tracing_subscriber::fmt()
        .event_format(Prefixed)
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::INFO)
        .try_init();
}

/// Prints a line the enclave sent, with its level if it is not plain info.
pub fn enclave_line(level: minikms_edl::Level, line: &str) {
    eprintln!("[Enclave]: {}{}", level_word(level), one_line(line));
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
        write!(w, "[Host]: {}", level_word(level))?;
        ctx.field_format().format_fields(w.by_ref(), event)?;
        writeln!(w)
    }
}
