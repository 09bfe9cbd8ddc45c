//! Login throttling that slows a guesser without letting anyone lock others out
//! (docs/security.md, "Login throttle"). Every key is the normalised username
//! (`user::normalize_username`), the one the account lookup uses.
//!
//! Three rules, each an exponential backoff after some free failures, never a hard lock:
//! - an (address, username) pair waits after its own failures: one guesser on one account;
//! - a username failed on from anywhere makes every pair that has itself failed on it wait,
//!   with a short cap: a pair that never failed (the doctor on their own tablet) goes
//!   straight through, so nobody elsewhere can keep them out;
//! - an address's failures slow only the usernames that have not logged in from it, so a
//!   client spraying made-up names behind a shared NAT or the reverse proxy does not hold
//!   up the staff who log in there. Which usernames exist is never looked at before the
//!   password check, so the rule tells nobody which accounts exist.
//!
//! An attempt counts as a failure when it is let through and is taken back when it
//! succeeds, so parallel attempts cannot all slip past the count. State is in memory (one
//! server process); a restart forgets, which only helps legitimate users.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entries beyond this many trigger a sweep of forgotten ones, bounding memory.
const SWEEP_AT: usize = 10_000;
/// The longest a username's failures elsewhere make a failing pair wait.
const USER_MAX_BACKOFF: Duration = Duration::from_secs(60);
/// How long a successful login keeps its username known at the address.
const KNOWN_FOR: Duration = Duration::from_secs(30 * 24 * 3600);

/// The free failures and the longest wait of the throttle.
#[derive(Debug, Clone, Copy)]
pub struct ThrottleRules {
    /// Failures an (address, username) pair makes before it waits.
    pub free_per_pair: u32,
    /// Failures on a username, from anywhere, before pairs that failed on it wait.
    pub free_per_user: u32,
    /// Failures from an address, on usernames not known there, before those wait.
    pub free_per_address: u32,
    /// The longest wait of the pair and address rules; counts are forgotten after twice it
    /// without a failure.
    pub max_backoff: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Count {
    failures: u32,
    last: Instant,
}

#[derive(Debug, Hash, PartialEq, Eq, Clone)]
enum Key {
    Pair(String, String),
    User(String),
    Address(String),
    Known(String, String),
}

/// Counts failed logins and says how long an attempt must wait.
pub struct LoginThrottle {
    rules: ThrottleRules,
    counts: Mutex<HashMap<Key, Count>>,
}

/// `base · 2^(failures − free)` seconds once past the free failures, at most `cap`.
fn backoff(failures: u32, free: u32, cap: Duration) -> Option<Duration> {
    let over = failures.checked_sub(free)?;
    let secs = 1u64.checked_shl(over).unwrap_or(u64::MAX);
    Some(Duration::from_secs(secs).min(cap))
}

impl LoginThrottle {
    /// A throttle with the given rules.
    pub fn new(rules: ThrottleRules) -> Self {
        LoginThrottle {
            rules,
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// Lets an attempt for `username` from `ip` through and counts it as a failure, or says
    /// how many seconds to wait (`Err`).
    pub fn attempt(&self, username: &str, ip: &str) -> Result<(), u64> {
        self.attempt_at(username, ip, Instant::now())
    }

    /// Takes back the attempt's failure and remembers the username at the address.
    pub fn succeed(&self, username: &str, ip: &str) {
        self.succeed_at(username, ip, Instant::now())
    }

    fn attempt_at(&self, username: &str, ip: &str, now: Instant) -> Result<(), u64> {
        let mut map = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > SWEEP_AT {
            let forget = self.rules.max_backoff * 2;
            map.retain(|k, c| {
                let keep = if matches!(k, Key::Known(..)) { KNOWN_FOR } else { forget };
                now.duration_since(c.last) < keep
            });
        }
        let pair = Key::Pair(ip.into(), username.into());
        let user = Key::User(username.into());
        let address = Key::Address(ip.into());
        let known = map
            .get(&Key::Known(ip.into(), username.into()))
            .is_some_and(|c| now.duration_since(c.last) < KNOWN_FOR);
        let current = |map: &HashMap<Key, Count>, k: &Key| {
            map.get(k)
                .copied()
                .filter(|c| now.duration_since(c.last) < self.rules.max_backoff * 2)
        };
        let p = current(&map, &pair);
        let u = current(&map, &user);
        let a = current(&map, &address);
        let r = &self.rules;
        let mut until: Option<Instant> = None;
        let mut hold = |from: Instant, wait: Option<Duration>| {
            if let Some(w) = wait {
                let end = from + w;
                if end > now && until.is_none_or(|u| end > u) {
                    until = Some(end);
                }
            }
        };
        if let Some(p) = p {
            hold(p.last, backoff(p.failures, r.free_per_pair, r.max_backoff));
            if let Some(u) = u {
                hold(p.last, backoff(u.failures, r.free_per_user, USER_MAX_BACKOFF));
            }
        }
        if let (Some(a), false) = (a, known) {
            hold(a.last, backoff(a.failures, r.free_per_address, r.max_backoff));
        }
        if let Some(end) = until {
            // Whole seconds, rounded up: waiting exactly `Retry-After` is always enough.
            let left = end - now;
            return Err(left.as_secs() + u64::from(left.subsec_nanos() > 0));
        }
        let mut bump = |k: Key, prev: Option<Count>| {
            let failures = prev.map_or(0, |c| c.failures).saturating_add(1);
            map.insert(k, Count { failures, last: now });
        };
        bump(pair, p);
        bump(user, u);
        if !known {
            bump(address, a);
        }
        Ok(())
    }

    fn succeed_at(&self, username: &str, ip: &str, now: Instant) {
        let mut map = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&Key::Pair(ip.into(), username.into()));
        let known = Key::Known(ip.into(), username.into());
        let was_known = map.get(&known).is_some_and(|c| now.duration_since(c.last) < KNOWN_FOR);
        let mut undo = |k: Key| {
            if let Some(c) = map.get_mut(&k) {
                c.failures = c.failures.saturating_sub(1);
            }
        };
        undo(Key::User(username.into()));
        if !was_known {
            undo(Key::Address(ip.into()));
        }
        map.insert(known, Count { failures: 0, last: now });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> ThrottleRules {
        ThrottleRules {
            free_per_pair: 3,
            free_per_user: 10,
            free_per_address: 5,
            max_backoff: Duration::from_secs(900),
        }
    }

    #[test]
    fn a_pair_waits_after_its_free_failures_and_the_wait_doubles_up_to_the_cap() {
        let t = LoginThrottle::new(ThrottleRules {
            free_per_address: 1000,
            ..rules()
        });
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(t.attempt_at("doc", "1.1.1.1", t0).is_ok());
        }
        assert_eq!(t.attempt_at("doc", "1.1.1.1", t0), Err(1));
        let mut at = t0;
        for expected in [2, 4, 8, 16] {
            at += Duration::from_secs(expected / 2);
            assert!(t.attempt_at("doc", "1.1.1.1", at).is_ok());
            assert_eq!(t.attempt_at("doc", "1.1.1.1", at), Err(expected));
        }
        let mut late = at;
        for _ in 0..20 {
            late += Duration::from_secs(900);
            assert!(t.attempt_at("doc", "1.1.1.1", late).is_ok());
        }
        assert_eq!(t.attempt_at("doc", "1.1.1.1", late), Err(900), "capped, never a lock");
        // Another address, and another username, are not held by this pair.
        assert!(t.attempt_at("doc", "2.2.2.2", late).is_ok());
        assert!(t.attempt_at("nurse", "1.1.1.1", late).is_ok());
    }

    #[test]
    fn failures_elsewhere_never_hold_a_pair_that_has_not_failed() {
        let t = LoginThrottle::new(rules());
        let t0 = Instant::now();
        for i in 0..200 {
            let _ = t.attempt_at("doc", &format!("10.0.{}.{}", i / 250, i % 250), t0);
        }
        assert!(
            t.attempt_at("doc", "192.168.1.5", t0).is_ok(),
            "the doctor's own tablet"
        );
        // Once that pair has failed too, it waits, but no longer than the user rule's cap.
        let wait = t.attempt_at("doc", "192.168.1.5", t0).unwrap_err();
        assert_eq!(wait, USER_MAX_BACKOFF.as_secs());
        assert!(t.attempt_at("doc", "192.168.1.5", t0 + USER_MAX_BACKOFF).is_ok());
    }

    #[test]
    fn an_address_spraying_names_holds_only_names_not_known_there() {
        let t = LoginThrottle::new(rules());
        let t0 = Instant::now();
        assert!(t.attempt_at("doc", "9.9.9.9", t0).is_ok());
        t.succeed_at("doc", "9.9.9.9", t0);
        for i in 0..5 {
            assert!(t.attempt_at(&format!("made-up-{i}"), "9.9.9.9", t0).is_ok());
        }
        assert!(t.attempt_at("made-up-new", "9.9.9.9", t0).is_err());
        assert!(
            t.attempt_at("nurse", "9.9.9.9", t0).is_err(),
            "a real name not known here waits too"
        );
        assert!(t.attempt_at("doc", "9.9.9.9", t0).is_ok(), "known here");
        assert!(t.attempt_at("made-up-new", "8.8.8.8", t0).is_ok(), "another address");
    }

    #[test]
    fn a_success_takes_back_its_attempt() {
        let t = LoginThrottle::new(rules());
        let t0 = Instant::now();
        for _ in 0..10 {
            assert!(t.attempt_at("doc", "1.1.1.1", t0).is_ok());
            t.succeed_at("doc", "1.1.1.1", t0);
        }
        for _ in 0..3 {
            assert!(t.attempt_at("doc", "1.1.1.1", t0).is_ok());
        }
        assert!(t.attempt_at("doc", "1.1.1.1", t0).is_err());
    }
}
