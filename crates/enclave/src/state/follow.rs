//! Catching up with other replicas before a request, in rounds shared by
//! the requests that wait at once, several rounds in flight.
//!
//! A request may use the state once a catch-up that *started after it
//! arrived* has finished: that one saw every write acknowledged before the
//! request came. A request joins the round not yet started, if there is
//! one, or opens one; a round starts as soon as fewer than
//! [`IN_FLIGHT`] run, so a request waits for about one database round
//! trip, and at high concurrency each round serves many requests. A round
//! finishing satisfies the requests of every round opened before it (it
//! started after them); rounds may finish in any order.
//!
//! A request waits at most [`ANSWER_WITHIN`]: a database that stopped
//! answering makes requests fail (503), never answered from state that
//! may be stale.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use tokio::sync::watch;

use crate::error::Error;
use crate::store::postgres::ANSWER_WITHIN;
use crate::store::StoreError;

/// Rounds running at once (each on a database connection of its own).
pub const IN_FLIGHT: usize = 4;

/// The rounds of catching up.
pub struct Follow {
    rounds: Mutex<Rounds>,
    /// The highest-numbered finished round and its result.
    done: watch::Sender<Option<(u64, Result<(), Error>)>>,
}

#[derive(Default)]
struct Rounds {
    /// The last round number given out.
    opened: u64,
    /// Round `opened` has waiters and has not started.
    waiting: bool,
    /// Rounds started and not finished, with when they started.
    running: BTreeMap<u64, Instant>,
}

impl Default for Follow {
    fn default() -> Self {
        Self {
            rounds: Mutex::default(),
            done: watch::channel(None).0,
        }
    }
}

fn no_answer() -> Error {
    Error::from(StoreError::Unavailable(format!(
        "no answer within {} s",
        ANSWER_WITHIN.as_secs()
    )))
}

impl Follow {
    /// Waits for a round that starts after now; `run` is one round.
    pub async fn wait<F>(self: &Arc<Self>, run: F) -> Result<(), Error>
    where
        F: Fn() -> Result<(), Error> + Clone + Send + 'static,
    {
        let mut done = self.done.subscribe();
        let need = self.join(run);
        let finished = done.wait_for(|d| d.as_ref().is_some_and(|(round, _)| *round >= need));
        let result = match tokio::time::timeout(ANSWER_WITHIN, finished).await {
            Err(_) => Err(no_answer()),
            Ok(Err(e)) => Err(Error::internal("catching up with the other replicas", e)),
            Ok(Ok(finished)) => finished.as_ref().map_or(Ok(()), |(_, r)| r.clone()),
        };
        result
    }

    /// What the last finished round found wrong, or a round running for
    /// longer than [`ANSWER_WITHIN`]; starts a round (not waited for), so
    /// that the next call knows about now. For `sys/health`, which reads
    /// nothing sealed.
    pub fn trouble<F>(self: &Arc<Self>, run: F) -> Option<Error>
    where
        F: Fn() -> Result<(), Error> + Clone + Send + 'static,
    {
        self.join(run);
        let stuck = {
            let rounds = self.rounds.lock().unwrap_or_else(PoisonError::into_inner);
            rounds
                .running
                .values()
                .next()
                .is_some_and(|started| started.elapsed() > ANSWER_WITHIN)
        };
        if stuck {
            return Some(no_answer());
        }
        match self.done.borrow().as_ref() {
            Some((_, Err(e))) => Some(e.clone()),
            _ => None,
        }
    }

    /// Joins the round not yet started, or opens one (starting it if
    /// fewer than [`IN_FLIGHT`] run): its number.
    fn join<F>(self: &Arc<Self>, run: F) -> u64
    where
        F: Fn() -> Result<(), Error> + Clone + Send + 'static,
    {
        let mut rounds = self.rounds.lock().unwrap_or_else(PoisonError::into_inner);
        if !rounds.waiting {
            rounds.opened += 1;
            rounds.waiting = true;
            if rounds.running.len() < IN_FLIGHT {
                let me = self.clone();
                tokio::task::spawn_blocking(move || me.drive(run));
            }
        }
        rounds.opened
    }

    /// Runs the waiting round, and the next ones while some wait.
    fn drive<F: Fn() -> Result<(), Error>>(&self, run: F) {
        loop {
            let round = {
                let mut rounds = self.rounds.lock().unwrap_or_else(PoisonError::into_inner);
                if !rounds.waiting || rounds.running.len() >= IN_FLIGHT {
                    return;
                }
                rounds.waiting = false;
                let round = rounds.opened;
                rounds.running.insert(round, Instant::now());
                round
            };
            let result = run();
            self.rounds
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .running
                .remove(&round);
            self.done.send_if_modified(|last| {
                if last.as_ref().is_some_and(|(r, _)| *r > round) {
                    return false;
                }
                *last = Some((round, result));
                true
            });
        }
    }
}
