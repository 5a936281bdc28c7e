//! The control-plane event calendar: a calendar queue ordered by (time, sequence).
//!
//! Events are kept in a ring of fixed-width time buckets (1 s wide by default, 65,536 of them, so
//! about 18 hours ahead) plus an overflow heap for events further out. A bucket is sorted only
//! when time reaches it, so inserting costs O(1) and popping costs O(log k) amortised, where k is
//! the number of events that share a bucket, not the number pending. A million pending events
//! cost the same per operation as a thousand (see `benches/benches/calendar.rs`).
//!
//! Ties are broken by the insertion sequence number: two events scheduled for the same
//! microsecond come out in the order they were scheduled. That order is the engine's message
//! ordering guarantee.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use crate::time::SimTime;

/// An event in the calendar: when it fires, its sequence number, and what it carries.
#[derive(Debug, Clone)]
pub struct Entry<E> {
    /// When the event fires.
    pub time: SimTime,
    /// Insertion order, unique per calendar; breaks ties between equal times.
    pub seq: u64,
    /// The event itself.
    pub payload: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        self.time == other.time && self.seq == other.seq
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Entry<E> {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.time, self.seq).cmp(&(other.time, other.seq))
    }
}

/// A calendar queue of events ordered by (time, sequence).
#[derive(Debug)]
pub struct EventCalendar<E> {
    bucket_width_us: u64,
    ring: Vec<Vec<Entry<E>>>,
    ring_len: usize,
    /// The bucket being drained, sorted in descending order so that the next event is last.
    current: Vec<Entry<E>>,
    /// Events inserted into the bucket being drained (or an earlier one) while it drains: a heap,
    /// so that a burst of events scheduled for the present (an attack acting on a million meters
    /// at once) costs O(log k) each rather than a shift of `current`.
    late: BinaryHeap<Reverse<Entry<E>>>,
    /// Absolute index of the bucket in `current`.
    cursor: u64,
    overflow: BinaryHeap<Reverse<Entry<E>>>,
    next_seq: u64,
}

impl<E> Default for EventCalendar<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> EventCalendar<E> {
    /// A calendar with 1-second buckets and an 18-hour ring.
    pub fn new() -> Self {
        Self::with_buckets(1_000_000, 1 << 16)
    }

    /// A calendar with buckets `bucket_width_us` wide and `n_buckets` of them in the ring.
    pub fn with_buckets(bucket_width_us: u64, n_buckets: usize) -> Self {
        let n_buckets = n_buckets.max(1);
        EventCalendar {
            bucket_width_us: bucket_width_us.max(1),
            ring: (0..n_buckets).map(|_| Vec::new()).collect(),
            ring_len: 0,
            current: Vec::new(),
            late: BinaryHeap::new(),
            cursor: 0,
            overflow: BinaryHeap::new(),
            next_seq: 0,
        }
    }

    /// Number of pending events.
    pub fn len(&self) -> usize {
        self.ring_len + self.current.len() + self.late.len() + self.overflow.len()
    }

    /// Whether no event is pending.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Schedules `payload` at `time`; returns its sequence number.
    pub fn insert(&mut self, time: SimTime, payload: E) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        let entry = Entry { time, seq, payload };
        let bucket = time.0 / self.bucket_width_us;
        let n = self.ring.len() as u64;
        if bucket <= self.cursor {
            // Same bucket as the one being drained (or earlier, after a peek moved the cursor
            // ahead of the present).
            self.late.push(Reverse(entry));
        } else if bucket < self.cursor + n {
            self.ring[(bucket % n) as usize].push(entry);
            self.ring_len += 1;
        } else {
            self.overflow.push(Reverse(entry));
        }
        seq
    }

    /// Whether the next event is in `late` rather than `current` (after `fill_current`).
    fn next_is_late(&self) -> bool {
        match (self.current.last(), self.late.peek()) {
            (Some(c), Some(Reverse(l))) => l < c,
            (None, Some(_)) => true,
            _ => false,
        }
    }

    /// The time of the next event, if any.
    pub fn peek_time(&mut self) -> Option<SimTime> {
        self.fill_current();
        if self.next_is_late() {
            self.late.peek().map(|Reverse(e)| e.time)
        } else {
            self.current.last().map(|e| e.time)
        }
    }

    /// Removes and returns the next event if it fires strictly before `limit`.
    pub fn pop_before(&mut self, limit: SimTime) -> Option<Entry<E>> {
        match self.peek_time() {
            Some(t) if t < limit => self.take_next(),
            _ => None,
        }
    }

    /// Removes and returns the next event.
    pub fn pop(&mut self) -> Option<Entry<E>> {
        self.fill_current();
        self.take_next()
    }

    /// Removes the next event (after `fill_current`).
    fn take_next(&mut self) -> Option<Entry<E>> {
        if self.next_is_late() {
            self.late.pop().map(|Reverse(e)| e)
        } else {
            self.current.pop()
        }
    }

    /// Makes sure `current` (with `late`) holds the earliest pending bucket when any event is
    /// pending.
    fn fill_current(&mut self) {
        if !self.current.is_empty() || !self.late.is_empty() {
            return;
        }
        let n = self.ring.len() as u64;
        loop {
            if self.ring_len == 0 {
                match self.overflow.peek() {
                    None => return,
                    Some(Reverse(first)) => {
                        self.cursor = first.time.0 / self.bucket_width_us;
                        self.migrate_overflow();
                    }
                }
            } else {
                self.cursor += 1;
                self.migrate_overflow();
            }
            let slot = (self.cursor % n) as usize;
            if !self.ring[slot].is_empty() {
                std::mem::swap(&mut self.current, &mut self.ring[slot]);
                self.ring_len -= self.current.len();
                self.current.sort_unstable_by(|a, b| b.cmp(a));
                return;
            }
        }
    }

    /// Moves overflow events that now fall inside the ring's horizon into the ring.
    fn migrate_overflow(&mut self) {
        let n = self.ring.len() as u64;
        while let Some(Reverse(first)) = self.overflow.peek() {
            let bucket = first.time.0 / self.bucket_width_us;
            if bucket >= self.cursor + n {
                break;
            }
            let Some(Reverse(entry)) = self.overflow.pop() else {
                break;
            };
            self.ring[(bucket % n) as usize].push(entry);
            self.ring_len += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Purpose, Stream};

    /// Events come out ordered by (time, sequence) whatever the insertion order, including
    /// events beyond the ring's horizon, ties, and events inserted while draining.
    #[test]
    fn pops_in_time_then_sequence_order() {
        let mut cal = EventCalendar::with_buckets(10, 8);
        let mut s = Stream::new(3, Purpose::Test, 0, 0);
        let mut expected = Vec::new();
        for i in 0..5_000u64 {
            let t = SimTime(s.below(2_000));
            let seq = cal.insert(t, i);
            expected.push((t, seq, i));
        }
        // Interleave pops with inserts at or after the last popped time.
        let mut popped = Vec::new();
        let mut now = SimTime(0);
        for round in 0..2_500u64 {
            let e = cal.pop().expect("pending");
            assert!(e.time >= now, "time went backwards");
            now = e.time;
            popped.push((e.time, e.seq, e.payload));
            if round % 3 == 0 {
                let t = SimTime(now.0 + s.below(300));
                let payload = 10_000 + round;
                let seq = cal.insert(t, payload);
                expected.push((t, seq, payload));
            }
        }
        while let Some(e) = cal.pop() {
            popped.push((e.time, e.seq, e.payload));
        }
        expected.sort();
        assert_eq!(popped, expected);
        assert!(cal.is_empty());
    }

    #[test]
    fn equal_times_keep_insertion_order_and_pop_before_respects_the_limit() {
        let mut cal = EventCalendar::new();
        for payload in ["a", "b", "c"] {
            cal.insert(SimTime(5_000_000), payload);
        }
        cal.insert(SimTime(1), "first");
        assert_eq!(cal.pop_before(SimTime(1)).map(|e| e.payload), None);
        assert_eq!(cal.pop_before(SimTime(2)).map(|e| e.payload), Some("first"));
        assert_eq!(cal.pop_before(SimTime(5_000_000)).map(|e| e.payload), None);
        // An event scheduled after a peek moved the cursor forward still comes out first.
        cal.insert(SimTime(2_000_000), "late insert, early time");
        let order: Vec<_> = std::iter::from_fn(|| cal.pop().map(|e| e.payload)).collect();
        assert_eq!(order, ["late insert, early time", "a", "b", "c"]);
    }
}
