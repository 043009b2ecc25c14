//! Single flight within a process: one leader per key generates, the others wait for it (polling
//! their host's abort, passing its progress on) and share its outcome; failed keys are remembered.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use super::{ClipKey, GeneratedClip};

/// How often a waiter polls its host's abort when nothing else wakes it.
pub const WAIT_POLL: Duration = Duration::from_millis(100);
/// Failed keys remembered at most; the oldest is forgotten first (and generated again if asked).
pub const REMEMBERED_FAILURES: usize = 256;

/// How a flight ended.
#[derive(Clone)]
pub(super) enum Outcome {
    Ready(Arc<GeneratedClip>),
    /// The generation failed with this text, remembered for the key.
    Failed(Arc<str>),
    /// The leader gave up without a result (its host aborted): waiters start over.
    Abandoned,
}

#[derive(Default)]
struct Shared {
    /// Bumped on every change, so a waiter sleeps only when it has seen the latest state.
    seq: u64,
    progress: Option<(usize, usize)>,
    outcome: Option<Outcome>,
}

/// One generation in progress, as its waiters see it.
#[derive(Default)]
pub(super) struct Flight {
    shared: Mutex<Shared>,
    changed: Condvar,
}

/// Why a waiter stopped waiting.
pub(super) enum Waited {
    Done(Outcome),
    /// The waiter's own host aborted; the leader carries on.
    Aborted,
}

impl Flight {
    /// The leader's latest progress, passed on to every waiter.
    pub(super) fn publish(&self, done: usize, total: usize) {
        let mut s = self.shared.lock();
        s.progress = Some((done, total));
        s.seq += 1;
        drop(s);
        self.changed.notify_all();
    }

    fn finish(&self, outcome: Outcome) {
        let mut s = self.shared.lock();
        s.outcome = Some(outcome);
        s.seq += 1;
        drop(s);
        self.changed.notify_all();
    }

    /// Waits for the outcome, reporting the leader's progress through `progress` and giving up
    /// when `abort` says so (polled at least every [`WAIT_POLL`]). Neither callback is called
    /// with a lock held.
    pub(super) fn wait(&self, progress: &mut dyn FnMut(usize, usize), abort: &dyn Fn() -> bool) -> Waited {
        let mut reported = None;
        loop {
            let (seq, now, outcome) = {
                let s = self.shared.lock();
                (s.seq, s.progress, s.outcome.clone())
            };
            if let Some(outcome) = outcome {
                return Waited::Done(outcome);
            }
            if let Some((done, total)) = now.filter(|_| now != reported) {
                reported = now;
                progress(done, total);
            }
            if abort() {
                return Waited::Aborted;
            }
            let mut s = self.shared.lock();
            if s.seq == seq {
                self.changed.wait_for(&mut s, WAIT_POLL);
            }
        }
    }
}

/// The flights in progress and the keys whose generation failed, under one lock so a request
/// never slips between a failure being remembered and its flight ending.
#[derive(Default)]
pub(super) struct Flights {
    running: HashMap<ClipKey, Arc<Flight>>,
    /// Failure text by key, with the order it was remembered in (to forget the oldest).
    failed: HashMap<ClipKey, (u64, Arc<str>)>,
    next: u64,
}

/// What a caller gets to do for a key.
pub(super) enum Claim {
    /// Nobody is generating it: this caller leads.
    Lead(Arc<Flight>),
    /// Another caller is generating it.
    Follow(Arc<Flight>),
    /// Its generation failed before, with this text.
    Failed(Arc<str>),
}

impl Flights {
    pub(super) fn claim(&mut self, key: ClipKey) -> Claim {
        if let Some((_, message)) = self.failed.get(&key) {
            return Claim::Failed(message.clone());
        }
        if let Some(flight) = self.running.get(&key) {
            return Claim::Follow(flight.clone());
        }
        let flight = Arc::new(Flight::default());
        self.running.insert(key, flight.clone());
        Claim::Lead(flight)
    }

    fn remember(&mut self, key: ClipKey, message: Arc<str>) {
        if !self.failed.contains_key(&key) && self.failed.len() >= REMEMBERED_FAILURES {
            if let Some(oldest) = self.failed.iter().min_by_key(|(_, (n, _))| *n).map(|(k, _)| *k) {
                self.failed.remove(&oldest);
            }
        }
        self.next += 1;
        self.failed.insert(key, (self.next, message));
    }

    /// Forgets every remembered failure (PurgeCaches): the next request generates again.
    pub(super) fn forget_failures(&mut self) {
        self.failed.clear();
    }

    pub(super) fn remembered_failures(&self) -> usize {
        self.failed.len()
    }

    #[cfg(test)]
    pub(super) fn running(&self) -> usize {
        self.running.len()
    }
}

/// The leader's claim on a flight. Dropped without [`Lead::succeed`] or [`Lead::fail`] (a host
/// abort), the flight is abandoned: nothing is remembered and waiters start over.
pub(super) struct Lead<'a> {
    flights: &'a Mutex<Flights>,
    key: ClipKey,
    flight: Arc<Flight>,
    outcome: Outcome,
}

impl<'a> Lead<'a> {
    pub(super) fn new(flights: &'a Mutex<Flights>, key: ClipKey, flight: Arc<Flight>) -> Self {
        Lead { flights, key, flight, outcome: Outcome::Abandoned }
    }

    pub(super) fn flight(&self) -> &Flight {
        &self.flight
    }

    pub(super) fn succeed(mut self, clip: Arc<GeneratedClip>) {
        self.outcome = Outcome::Ready(clip);
    }

    /// Remembers the failure for the key and hands it to every waiter.
    pub(super) fn fail(mut self, message: Arc<str>) {
        self.outcome = Outcome::Failed(message);
    }
}

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        let outcome = std::mem::replace(&mut self.outcome, Outcome::Abandoned);
        {
            let mut flights = self.flights.lock();
            if let Outcome::Failed(message) = &outcome {
                flights.remember(self.key, message.clone());
            }
            if flights.running.get(&self.key).is_some_and(|f| Arc::ptr_eq(f, &self.flight)) {
                flights.running.remove(&self.key);
            }
        }
        self.flight.finish(outcome);
    }
}
