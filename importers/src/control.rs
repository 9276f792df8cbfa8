//! Cancellation and counters shared by the reader thread, the conversion workers and
//! the COPY writer of an import.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// Shared cancellation flag (Ctrl-C).
#[derive(Clone, Default)]
pub struct Cancel {
    flag: Arc<AtomicBool>,
    notify: Arc<Notify>,
}

impl Cancel {
    /// A fresh, unset flag.
    pub fn new() -> Cancel {
        Cancel::default()
    }
    /// Sets the flag and wakes everyone waiting in [`Cancel::cancelled`].
    pub fn cancel(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }
    /// Whether the flag is set.
    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }
    /// Resolves once the flag is set.
    pub async fn cancelled(&self) {
        loop {
            let notified = self.notify.notified();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }
}

/// What happened to the features of one layer; shared by all stages.
#[derive(Debug, Default)]
pub struct Counters {
    /// Features read from the source.
    pub read: AtomicU64,
    /// Rows sent to the database.
    pub written: AtomicU64,
    /// Features with a null or empty geometry, skipped.
    pub skipped_empty: AtomicU64,
    /// Features whose geometry could not be used, skipped.
    pub skipped_invalid: AtomicU64,
    /// Geometries fixed on the way (rings closed, degenerate parts dropped, `ST_MakeValid`).
    pub repaired: AtomicU64,
    /// Why the first invalid geometry was skipped.
    pub first_invalid: Mutex<Option<String>>,
}

impl Counters {
    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}
