//! Our end of the boundary channel: ECALLs arrive on standard input, OCALLs
//! leave on standard output. Everything written here may be published by
//! the host, so only public values and log lines go out, never a secret.

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use minikms_edl::{bounded_log_line, read_message, write_message, Ecall, Level, Ocall};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// How many OCALLs may wait for a slow host before log lines are dropped.
const QUEUE: usize = 1024;

/// How long the enclave waits for the host to answer a call.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Channel {
    tx: mpsc::Sender<Ocall>,
    writer: JoinHandle<()>,
    /// ECALLs that are not answers, from the reader task.
    ecalls: mpsc::Receiver<Ecall>,
    calls: Caller,
    close_tx: oneshot::Sender<()>,
}

/// Makes calls to the host and waits for their answers (matched by id).
/// Cheap to clone; the platform holds one to ask for quotes.
#[derive(Clone)]
pub struct Caller {
    tx: mpsc::Sender<Ocall>,
    pending: Arc<Mutex<HashMap<u64, oneshot::Sender<Ecall>>>>,
    next_id: Arc<AtomicU64>,
}

#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("the host is gone")]
    HostGone,
    #[error("the host did not answer within {0:?}")]
    Timeout(Duration),
}

impl Caller {
    /// Sends the OCALL `make(id)` and waits for the host's answer.
    pub async fn call(&self, make: impl FnOnce(u64) -> Ocall) -> Result<Ecall, CallError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (answer_tx, answer_rx) = oneshot::channel();
        self.pending_calls().insert(id, answer_tx);
        let outcome = async {
            self.tx
                .send(make(id))
                .await
                .map_err(|_| CallError::HostGone)?;
            tokio::time::timeout(CALL_TIMEOUT, answer_rx)
                .await
                .map_err(|_| CallError::Timeout(CALL_TIMEOUT))?
                .map_err(|_| CallError::HostGone)
        }
        .await;
        self.pending_calls().remove(&id);
        outcome
    }

    /// Hands an answer to the call waiting for it. An answer nobody waits
    /// for (unknown or late id) is dropped: the host cannot inject one.
    fn answer(&self, id: u64, answer: Ecall) {
        match self.pending_calls().remove(&id) {
            Some(waiting) => {
                let _ = waiting.send(answer);
            }
            None => tracing::warn!("dropping an answer to unknown call {id}"),
        }
    }

    fn pending_calls(&self) -> std::sync::MutexGuard<'_, HashMap<u64, oneshot::Sender<Ecall>>> {
        // A poisoned lock only means a panic elsewhere; the map is still valid.
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Channel {
    /// Takes over standard input and output. Nothing else in the enclave
    /// may print to standard output.
    pub fn open() -> Self {
        let (tx, mut rx) = mpsc::channel::<Ocall>(QUEUE);
        // Senders live on in the platform's caller, so closing is explicit:
        // on `close_rx` the writer sends what is queued, then stops.
        let (close_tx, mut close_rx) = oneshot::channel::<()>();
        let writer = tokio::spawn(async move {
            let mut stdout = tokio::io::stdout();
            loop {
                let message = tokio::select! {
                    biased;
                    m = rx.recv() => m,
                    _ = &mut close_rx => {
                        while let Ok(m) = rx.try_recv() {
                            if write_message(&mut stdout, &m).await.is_err() {
                                break;
                            }
                        }
                        return;
                    }
                };
                let Some(message) = message else { return };
                if write_message(&mut stdout, &message).await.is_err() {
                    return; // the host is gone; nothing left to tell it
                }
            }
        });
        let calls = Caller {
            tx: tx.clone(),
            pending: Arc::default(),
            next_id: Arc::new(AtomicU64::new(1)),
        };
        // One reader, always reading: answers to our calls must arrive even
        // while nobody waits for the next ECALL (say, during start-up).
        let (ecall_tx, ecalls) = mpsc::channel::<Ecall>(16);
        let answers = calls.clone();
        tokio::spawn(async move {
            let mut stdin = tokio::io::stdin();
            loop {
                match read_message::<Ecall, _>(&mut stdin).await {
                    Ok(Some(
                        answer @ (Ecall::QeTargetInfo { id, .. }
                        | Ecall::Quote { id, .. }
                        | Ecall::QuoteFailed { id, .. }),
                    )) => answers.answer(id, answer),
                    Ok(Some(call)) => {
                        if ecall_tx.send(call).await.is_err() {
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::error!("boundary channel: {e}; stopping");
                        break;
                    }
                }
            }
            // Whoever still waits for an answer learns the host is gone.
            answers.pending_calls().clear();
        });
        Self {
            tx,
            writer,
            ecalls,
            calls,
            close_tx,
        }
    }

    pub fn caller(&self) -> Caller {
        self.calls.clone()
    }

    /// Queues an OCALL, waiting if the host is slow to read.
    pub async fn send(&self, message: Ocall) {
        let _ = self.tx.send(message).await;
    }

    /// The next ECALL that is not an answer to one of our calls (those go
    /// to their callers). `None` when the host closed the channel or sent
    /// something malformed (which is logged): either way, time to stop.
    pub async fn recv(&mut self) -> Option<Ecall> {
        self.ecalls.recv().await
    }

    /// Sends a last OCALL and waits until it has been written.
    pub async fn send_and_close(self, message: Ocall) {
        self.send(message).await;
        self.close().await;
    }

    pub async fn close(self) {
        let Self {
            writer, close_tx, ..
        } = self;
        let _ = close_tx.send(());
        // Log lines sent after this are dropped.
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
