//! [`ReadAhead`]: run a stream's parsing on its own thread, ahead of the consumer.

use std::sync::mpsc::{sync_channel, Receiver};
use std::thread::JoinHandle;

/// Items per batch handed across threads (amortises the channel cost).
const BATCH: usize = 4096;
/// Batches buffered ahead: the bound gives back-pressure, so a fast parser never
/// runs away with memory.
const DEPTH: usize = 4;

/// Pulls items from an iterator on a background thread, in batches, through a
/// bounded channel. Order is preserved exactly; the iterator's items (errors
/// included) come out as they went in, so the result is deterministic. Parsing a
/// CSV file then overlaps with the engine consuming it.
pub struct ReadAhead<T: Send + 'static> {
    rx: Receiver<Vec<T>>,
    batch: std::vec::IntoIter<T>,
    handle: Option<JoinHandle<()>>,
}

impl<T: Send + 'static> ReadAhead<T> {
    /// Starts reading `source` on a new thread.
    pub fn spawn<I>(source: I) -> ReadAhead<T>
    where
        I: Iterator<Item = T> + Send + 'static,
    {
        let (tx, rx) = sync_channel::<Vec<T>>(DEPTH);
        let handle = std::thread::Builder::new()
            .name("vigil-read-ahead".into())
            .spawn(move || {
                let mut batch = Vec::with_capacity(BATCH);
                for item in source {
                    batch.push(item);
                    if batch.len() == BATCH {
                        let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                        if tx.send(full).is_err() {
                            return; // consumer gone
                        }
                    }
                }
                if !batch.is_empty() {
                    let _ = tx.send(batch);
                }
            })
            .expect("spawning a read-ahead thread");
        ReadAhead {
            rx,
            batch: Vec::new().into_iter(),
            handle: Some(handle),
        }
    }
}

impl<T: Send + 'static> Iterator for ReadAhead<T> {
    type Item = T;

    #[inline]
    fn next(&mut self) -> Option<T> {
        if let Some(x) = self.batch.next() {
            return Some(x);
        }
        match self.rx.recv() {
            Ok(batch) => {
                self.batch = batch.into_iter();
                self.batch.next()
            }
            Err(_) => {
                // The producer finished (or panicked); surface a panic rather than
                // silently ending the stream early.
                if let Some(h) = self.handle.take() {
                    if let Err(panic) = h.join() {
                        std::panic::resume_unwind(panic);
                    }
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preserves_order_across_batches() {
        let n = BATCH * 3 + 17;
        let out: Vec<usize> = ReadAhead::spawn(0..n).collect();
        assert_eq!(out, (0..n).collect::<Vec<_>>());
    }

    #[test]
    fn consumer_may_stop_early() {
        let mut r = ReadAhead::spawn(0..BATCH * 100);
        assert_eq!(r.next(), Some(0));
        drop(r); // the producer sees the closed channel and exits
    }
}
