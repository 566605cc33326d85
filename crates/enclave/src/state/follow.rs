//! Catching up with other replicas before a request, in rounds shared by
//! the requests that wait at once.
//!
//! A request may use the state once a catch-up that *started after it
//! arrived* has finished: that one saw every write acknowledged before the
//! request came. One round runs at a time, on a blocking thread; a request
//! arriving during a round waits for the next, which then serves every
//! request that arrived meanwhile, so at high concurrency one database
//! round trip serves many requests.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;

use crate::error::Error;

/// The rounds of catching up.
pub struct Follow {
    rounds: Mutex<Rounds>,
    /// The last finished round and its result.
    done: watch::Sender<Option<(u64, Result<(), Error>)>>,
}

#[derive(Default)]
struct Rounds {
    started: u64,
    wanted: u64,
    running: bool,
}

impl Default for Follow {
    fn default() -> Self {
        Self {
            rounds: Mutex::default(),
            done: watch::channel(None).0,
        }
    }
}

impl Follow {
    /// Waits for a round that starts after now; `run` is one round.
    pub async fn wait<F>(self: &Arc<Self>, run: F) -> Result<(), Error>
    where
        F: Fn() -> Result<(), Error> + Send + 'static,
    {
        let mut done = self.done.subscribe();
        let need = {
            let mut rounds = self.rounds.lock().unwrap_or_else(PoisonError::into_inner);
            let need = rounds.started + 1;
            rounds.wanted = rounds.wanted.max(need);
            if !rounds.running {
                rounds.running = true;
                let me = self.clone();
                tokio::task::spawn_blocking(move || me.drive(run));
            }
            need
        };
        let finished = done
            .wait_for(|d| d.as_ref().is_some_and(|(round, _)| *round >= need))
            .await
            .map_err(|e| Error::internal("catching up with the other replicas", e))?;
        match finished.as_ref() {
            Some((_, result)) => result.clone(),
            None => Ok(()),
        }
    }

    /// Runs rounds while a request waits for one.
    fn drive<F: Fn() -> Result<(), Error>>(&self, run: F) {
        loop {
            let round = {
                let mut rounds = self.rounds.lock().unwrap_or_else(PoisonError::into_inner);
                if rounds.started >= rounds.wanted {
                    rounds.running = false;
                    return;
                }
                rounds.started += 1;
                rounds.started
            };
            let result = run();
            self.done.send_replace(Some((round, result)));
        }
    }
}
