//! Our end of the boundary channel: ECALLs arrive on standard input, OCALLs
//! leave on standard output. Everything written here may be published by
//! the host, so only public values and log lines go out, never a secret.

use std::io::Write;

use minikms_edl::{bounded_log_line, read_message, write_message, Ecall, Level, Ocall};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How many OCALLs may wait for a slow host before log lines are dropped.
const QUEUE: usize = 1024;

pub struct Channel {
    tx: mpsc::Sender<Ocall>,
    writer: JoinHandle<()>,
    stdin: tokio::io::Stdin,
}

impl Channel {
    /// Takes over standard input and output. Nothing else in the enclave
    /// may print to standard output.
    pub fn open() -> Self {
        let (tx, mut rx) = mpsc::channel::<Ocall>(QUEUE);
        let writer = tokio::spawn(async move {
            let mut stdout = tokio::io::stdout();
            while let Some(message) = rx.recv().await {
                if write_message(&mut stdout, &message).await.is_err() {
                    break; // the host is gone; nothing left to tell it
                }
            }
        });
        Self {
            tx,
            writer,
            stdin: tokio::io::stdin(),
        }
    }

    /// Queues an OCALL, waiting if the host is slow to read.
    pub async fn send(&self, message: Ocall) {
        let _ = self.tx.send(message).await;
    }

    /// The next ECALL. `None` when the host closed the channel or sent
    /// something malformed (which is logged): either way, time to stop.
    pub async fn recv(&mut self) -> Option<Ecall> {
        match read_message::<Ecall, _>(&mut self.stdin).await {
            Ok(message) => message,
            Err(e) => {
                tracing::error!("boundary channel: {e}; stopping");
                None
            }
        }
    }

    /// Sends a last OCALL and waits until it has been written.
    pub async fn send_and_close(self, message: Ocall) {
        self.send(message).await;
        self.close().await;
    }

    pub async fn close(self) {
        let Self { tx, writer, .. } = self;
        drop(tx);
        // The logger holds a sender too; its lines after this are dropped.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), writer).await;
    }

    /// Routes `tracing` events to the host as `log` OCALLs.
    pub fn install_logger(&self) {
        let sink = LogSink(self.tx.clone());
        let _ = tracing_subscriber::fmt()
            .with_writer(sink)
            .without_time()
            .with_target(false)
            .with_level(false)
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .try_init();
    }
}

struct LogSink(mpsc::Sender<Ocall>);

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogSink {
    type Writer = LogLine;

    fn make_writer(&'a self) -> LogLine {
        LogLine {
            tx: self.0.clone(),
            level: Level::Info,
            buf: Vec::new(),
        }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> LogLine {
        let level = match *meta.level() {
            tracing::Level::ERROR => Level::Error,
            tracing::Level::WARN => Level::Warn,
            tracing::Level::INFO => Level::Info,
            _ => Level::Debug,
        };
        LogLine {
            tx: self.0.clone(),
            level,
            buf: Vec::new(),
        }
    }
}

/// One formatted event; sent as a single `log` OCALL when dropped.
pub struct LogLine {
    tx: mpsc::Sender<Ocall>,
    level: Level,
    buf: Vec<u8>,
}

impl Write for LogLine {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.buf);
        let line = bounded_log_line(text.trim_end());
        if !line.is_empty() {
            // A host that does not read loses log lines, not memory.
            let _ = self.tx.try_send(Ocall::Log {
                level: self.level,
                line,
            });
        }
    }
}
