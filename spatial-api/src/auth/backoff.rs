//! Per-account back-off of failed sign-ins, beside the per-address limit of
//! [`crate::ratelimit`]: guesses spread over many addresses still slow down.
//!
//! The first [`FREE_FAILURES`] failed sign-ins of an account name (existing or not,
//! so that the answer says nothing about which names exist) cost nothing; each one
//! after them closes the account to sign-ins for a window that doubles from
//! [`FIRST_WINDOW`] up to [`MAX_WINDOW`] (429 with `Retry-After`, without checking
//! the password). A successful sign-in clears the count, and so does
//! [`FORGET_AFTER`] without failures.
//!
//! So that an attacker cannot keep a real user out: the window is short (a few
//! minutes at most, never a lock that needs an administrator), and an address the
//! account signed in from successfully before (the user's office, the inspector's
//! phone) is never held back by it (only by its own per-address limit).
//!
//! The state is in memory, bounded ([`MAX_ACCOUNTS`]); every method takes the
//! current instant, so the tests drive the clock.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Failed sign-ins of one account that cost nothing.
pub const FREE_FAILURES: u32 = 5;
/// The first window after them.
pub const FIRST_WINDOW: Duration = Duration::from_secs(5);
/// The longest window.
pub const MAX_WINDOW: Duration = Duration::from_secs(300);
/// Failures older than this are forgotten.
pub const FORGET_AFTER: Duration = Duration::from_secs(30 * 60);
/// Accounts tracked at most.
pub const MAX_ACCOUNTS: usize = 100_000;
/// Addresses remembered per account as ones it signed in from.
const KNOWN_ADDRESSES: usize = 8;

#[derive(Debug, Default)]
struct Account {
    failures: u32,
    last_failure: Option<Instant>,
    closed_until: Option<Instant>,
    known: Vec<IpAddr>,
}

impl Account {
    fn forget_old(&mut self, now: Instant) {
        if self
            .last_failure
            .is_some_and(|t| now.saturating_duration_since(t) >= FORGET_AFTER)
        {
            self.failures = 0;
            self.last_failure = None;
            self.closed_until = None;
        }
    }
}

/// The window after `failures` failed sign-ins (zero while they are free).
pub fn window_after(failures: u32) -> Duration {
    if failures < FREE_FAILURES {
        return Duration::ZERO;
    }
    let doublings = (failures - FREE_FAILURES).min(16);
    FIRST_WINDOW
        .saturating_mul(1u32 << doublings)
        .min(MAX_WINDOW)
}

/// The failed sign-ins of every account name tried recently.
#[derive(Debug, Default)]
pub struct LoginBackoff {
    accounts: Mutex<HashMap<String, Account>>,
}

impl LoginBackoff {
    /// Whether a sign-in to `name` from `address` may be tried at `now`; otherwise
    /// how long until it may.
    pub fn check(&self, name: &str, address: Option<IpAddr>, now: Instant) -> Result<(), Duration> {
        let mut accounts = self.accounts.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(account) = accounts.get_mut(name) else {
            return Ok(());
        };
        account.forget_old(now);
        if address.is_some_and(|a| account.known.contains(&a)) {
            return Ok(());
        }
        match account.closed_until {
            Some(until) if until > now => Err(until - now),
            _ => Ok(()),
        }
    }

    /// Counts a failed sign-in to `name`; returns the window it opens (zero while
    /// the failures are free).
    pub fn failed(&self, name: &str, now: Instant) -> Duration {
        let mut accounts = self.accounts.lock().unwrap_or_else(PoisonError::into_inner);
        if accounts.len() >= MAX_ACCOUNTS && !accounts.contains_key(name) {
            make_room(&mut accounts, now);
        }
        let account = accounts.entry(name.to_string()).or_default();
        account.forget_old(now);
        account.failures = account.failures.saturating_add(1);
        account.last_failure = Some(now);
        let window = window_after(account.failures);
        if !window.is_zero() {
            account.closed_until = Some(now + window);
        }
        window
    }

    /// A successful sign-in to `name` from `address`: the failures are cleared and
    /// the address is remembered as one the account signs in from.
    pub fn succeeded(&self, name: &str, address: Option<IpAddr>, now: Instant) {
        let mut accounts = self.accounts.lock().unwrap_or_else(PoisonError::into_inner);
        if accounts.len() >= MAX_ACCOUNTS && !accounts.contains_key(name) {
            make_room(&mut accounts, now);
        }
        let account = accounts.entry(name.to_string()).or_default();
        account.failures = 0;
        account.last_failure = None;
        account.closed_until = None;
        if let Some(a) = address {
            account.known.retain(|k| *k != a);
            if account.known.len() >= KNOWN_ADDRESSES {
                account.known.remove(0);
            }
            account.known.push(a);
        }
    }
}

/// Frees room in a full map: first the accounts with nothing worth keeping (no
/// window open, no known address), then, if that was not enough, every account
/// without a known address.
fn make_room(accounts: &mut HashMap<String, Account>, now: Instant) {
    accounts.retain(|_, a| {
        a.forget_old(now);
        !a.known.is_empty() || a.closed_until.is_some_and(|u| u > now)
    });
    if accounts.len() >= MAX_ACCOUNTS {
        accounts.retain(|_, a| !a.known.is_empty());
    }
    if accounts.len() >= MAX_ACCOUNTS {
        accounts.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_grow_and_are_capped() {
        assert_eq!(window_after(4), Duration::ZERO);
        assert_eq!(window_after(5), Duration::from_secs(5));
        assert_eq!(window_after(6), Duration::from_secs(10));
        assert_eq!(window_after(9), Duration::from_secs(80));
        assert_eq!(window_after(11), MAX_WINDOW);
        assert_eq!(window_after(u32::MAX), MAX_WINDOW);
    }

    #[test]
    fn failures_from_any_address_close_the_account_for_a_while() {
        let b = LoginBackoff::default();
        let t0 = Instant::now();
        let (a1, a2, home): (IpAddr, IpAddr, IpAddr) = (
            "203.0.113.1".parse().unwrap(),
            "203.0.113.2".parse().unwrap(),
            "198.51.100.7".parse().unwrap(),
        );
        b.succeeded("li", Some(home), t0);
        for i in 0..4 {
            assert!(b
                .check("li", Some(if i % 2 == 0 { a1 } else { a2 }), t0)
                .is_ok());
            assert_eq!(b.failed("li", t0), Duration::ZERO);
        }
        assert_eq!(b.failed("li", t0), Duration::from_secs(5));
        assert_eq!(b.check("li", Some(a1), t0), Err(Duration::from_secs(5)));
        assert_eq!(b.check("li", None, t0), Err(Duration::from_secs(5)));
        // another account, and the address the user signs in from, are not held back
        assert!(b.check("wang", Some(a1), t0).is_ok());
        assert!(b.check("li", Some(home), t0).is_ok());
        // the window passes; the next failure doubles it
        let t1 = t0 + Duration::from_secs(5);
        assert!(b.check("li", Some(a2), t1).is_ok());
        assert_eq!(b.failed("li", t1), Duration::from_secs(10));
        assert_eq!(
            b.check("li", Some(a2), t1 + Duration::from_secs(4)),
            Err(Duration::from_secs(6))
        );
        // never longer than the cap
        let mut t = t1;
        for _ in 0..20 {
            t += MAX_WINDOW;
            assert!(b.failed("li", t) <= MAX_WINDOW);
        }
        assert_eq!(b.check("li", Some(a1), t), Err(MAX_WINDOW));
        // forgotten after a quiet while, cleared by a success
        assert!(b.check("li", Some(a1), t + FORGET_AFTER).is_ok());
        assert_eq!(b.failed("li", t + FORGET_AFTER), Duration::ZERO);
        b.failed("li", t + FORGET_AFTER);
        b.succeeded("li", Some(a1), t + FORGET_AFTER);
        for _ in 0..4 {
            assert_eq!(b.failed("li", t + FORGET_AFTER), Duration::ZERO);
        }
    }

    #[test]
    fn memory_is_bounded() {
        let b = LoginBackoff::default();
        let t = Instant::now();
        b.succeeded("keep", Some("192.0.2.1".parse().unwrap()), t);
        for i in 0..(MAX_ACCOUNTS + 10) {
            b.failed(&format!("guess{i}"), t);
        }
        let accounts = b.accounts.lock().unwrap();
        assert!(accounts.len() <= MAX_ACCOUNTS);
        assert!(accounts.contains_key("keep"));
    }
}
