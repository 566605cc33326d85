//! The connection slots: every open connection holds one, within the
//! global and per-address [`Limits`].
//!
//! When every slot is taken, a connection from an address that holds less
//! than its fair share (the slots divided by the addresses present) still
//! gets in: a connection of the address holding the most is closed for it,
//! one idle between requests if it has any (waiting for its next keep-alive
//! request: clients retry those on a fresh connection, which is why nginx
//! and Envoy's overload manager close them first), else its longest held.
//! No address is pushed below its fair share, so newcomers always get in
//! and a few busy addresses cannot lock everyone out (four, each at its
//! per-address cap, did).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use super::limits::Limits;
use super::watchdog::Activity;
use crate::metrics::{self, Limit};
use crate::services::source::Source;

/// The open connections, by source.
#[derive(Clone)]
pub struct Slots(Arc<Mutex<Table>>);

struct Table {
    limits: Limits,
    held: HashMap<Source, Vec<Held>>,
    total: usize,
    next_id: u64,
}

struct Held {
    id: u64,
    activity: Activity,
}

/// One open connection's slot; given back when dropped.
pub struct Slot {
    slots: Slots,
    source: Source,
    id: u64,
}

impl Slots {
    pub fn new(limits: Limits) -> Self {
        Self(Arc::new(Mutex::new(Table {
            limits,
            held: HashMap::new(),
            total: 0,
            next_id: 0,
        })))
    }

    /// A slot for a connection from `ip` doing `activity`, closing another
    /// connection for it if the server is full and `ip` holds less than
    /// its fair share; `None` if its source holds its share already.
    pub fn take(&self, ip: IpAddr, activity: &Activity) -> Option<Slot> {
        let source = Source::of(ip);
        let mut table = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let mine = table.held.get(&source).map_or(0, Vec::len);
        if mine >= table.limits.per_address {
            metrics::get().refused(Limit::PerAddress);
            return None;
        }
        if table.total >= table.limits.connections {
            let Some(closed) = table.make_room(source, mine) else {
                metrics::get().refused(Limit::Total);
                return None;
            };
            closed.activity.close();
            metrics::get().connections_open.dec();
        }
        metrics::get().connections_open.inc();
        table.next_id += 1;
        let id = table.next_id;
        table.total += 1;
        table.held.entry(source).or_default().push(Held {
            id,
            activity: activity.clone(),
        });
        Some(Slot {
            slots: self.clone(),
            source,
            id,
        })
    }
}

impl Table {
    /// Takes out (for closing) the connection a newcomer from `source`,
    /// which holds `mine`, may have, if any.
    fn make_room(&mut self, source: Source, mine: usize) -> Option<Held> {
        let present = self.held.len() + usize::from(mine == 0);
        let fair = (self.limits.connections / present).max(1);
        if mine >= fair {
            return None;
        }
        let (&richest, conns) = self.held.iter().max_by_key(|(_, conns)| conns.len())?;
        if conns.len() <= fair || richest == source {
            return None;
        }
        let (at, _) = conns
            .iter()
            .enumerate()
            .min_by_key(|(_, held)| held.activity.closing_order())?;
        let conns = self.held.get_mut(&richest)?;
        let closed = conns.swap_remove(at);
        self.total -= 1;
        Some(closed)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut table = self.slots.0.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(conns) = table.held.get_mut(&self.source) else {
            return;
        };
        // Not there if it was closed to make room (counted out then).
        let Some(at) = conns.iter().position(|held| held.id == self.id) else {
            return;
        };
        conns.swap_remove(at);
        if conns.is_empty() {
            table.held.remove(&self.source);
        }
        table.total -= 1;
        metrics::get().connections_open.dec();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn held(slots: &Slots, source: &str) -> usize {
        let table = slots.0.lock().unwrap();
        table.held.get(&Source::of(ip(source))).map_or(0, Vec::len)
    }

    #[test]
    fn one_source_holds_at_most_its_share() {
        let slots = Slots::new(Limits::new(Some(16), Some(4)).unwrap());
        let a = Activity::new();
        let held: Vec<_> = (0..4)
            .map(|_| slots.take(ip("10.0.0.1"), &a).unwrap())
            .collect();
        assert!(slots.take(ip("10.0.0.1"), &a).is_none());
        // The same address written as IPv4-mapped IPv6 is the same source.
        assert!(slots.take(ip("::ffff:10.0.0.1"), &a).is_none());
        assert!(slots.take(ip("10.0.0.2"), &a).is_some());
        drop(held);
        assert!(slots.take(ip("10.0.0.1"), &a).is_some());
        assert!(slots.0.lock().unwrap().held.len() <= 1);
    }

    #[tokio::test]
    async fn a_full_server_closes_an_idle_connection_of_the_address_holding_most() {
        let slots = Slots::new(Limits::new(Some(8), Some(8)).unwrap());
        let mut kept = Vec::new();
        // 10.0.0.1 holds 6 connections, one of them busy and the oldest;
        // 10.0.0.2 holds 2.
        let busy = Activity::new();
        let _request = busy.handling();
        kept.push(slots.take(ip("10.0.0.1"), &busy).unwrap());
        let mut idle = Vec::new();
        for _ in 0..5 {
            let activity = Activity::new();
            let task = tokio::spawn(std::future::pending::<()>());
            activity.watch(task.abort_handle(), "10.0.0.1:1".parse().unwrap());
            kept.push(slots.take(ip("10.0.0.1"), &activity).unwrap());
            idle.push(task);
        }
        for _ in 0..2 {
            kept.push(slots.take(ip("10.0.0.2"), &Activity::new()).unwrap());
        }
        // Full. A newcomer (fair share 8 / 3 = 2) gets in: one of
        // 10.0.0.1's idle connections is closed, not the busy one.
        let newcomer = slots.take(ip("10.0.0.3"), &Activity::new()).unwrap();
        assert_eq!(held(&slots, "10.0.0.1"), 5);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(idle.iter().filter(|t| t.is_finished()).count(), 1);
        // 10.0.0.2 (at its fair share) may not take one of 10.0.0.1's.
        assert!(slots.take(ip("10.0.0.2"), &Activity::new()).is_none());
        // The slot of a closed connection is not given back twice.
        drop(kept);
        drop(newcomer);
        let table = slots.0.lock().unwrap();
        assert_eq!((table.total, table.held.len()), (0, 0));
    }
}
