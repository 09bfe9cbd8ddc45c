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
//! succeeds, so parallel attempts cannot all slip past the count. Where several server
//! processes share the database (PostgreSQL), the counts live in its `login_throttle`
//! table, read and written under row locks in one transaction, so a guesser spread over
//! every process behind a balancer meets one budget; keys are stored as keyed hashes,
//! never as the address or username. On SQLite (one server process) they live in memory.
//! A restart of that process forgets them, which only helps legitimate users.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::db::raw::{self, Bind};
use crate::db::{dialect, DbConn};
use crate::error::AppError;

/// Entries beyond this many trigger a sweep of forgotten ones, bounding memory.
const SWEEP_AT: usize = 10_000;
/// Attempts between two sweeps of the shared table.
const SHARED_SWEEP_EVERY: u64 = 500;
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

/// Failures so far, and when the last one (or, for `Known`, the success) was, in ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Count {
    failures: u32,
    last: i64,
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
    secret: String,
    counts: Mutex<HashMap<Key, Count>>,
    attempts: AtomicU64,
}

/// `base · 2^(failures − free)` seconds once past the free failures, at most `cap`.
fn backoff(failures: u32, free: u32, cap: Duration) -> Option<Duration> {
    let over = failures.checked_sub(free)?;
    let secs = 1u64.checked_shl(over).unwrap_or(u64::MAX);
    Some(Duration::from_secs(secs).min(cap))
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The counts an attempt reads: its pair, its username, its address, and whether the
/// username is known at the address.
struct Seen {
    pair: Option<Count>,
    user: Option<Count>,
    address: Option<Count>,
    known: bool,
}

impl LoginThrottle {
    /// A throttle with the given rules; `secret` keys the hashes the shared table stores.
    pub fn new(rules: ThrottleRules, secret: &str) -> Self {
        LoginThrottle {
            rules,
            secret: secret.to_string(),
            counts: Mutex::new(HashMap::new()),
            attempts: AtomicU64::new(0),
        }
    }

    /// Lets an attempt for `username` from `ip` through and counts it as a failure, or says
    /// how many seconds to wait (`Err(Ok(seconds))`); `Err(Err(_))` when the shared counts
    /// cannot be read.
    pub fn attempt(&self, conn: &mut DbConn, username: &str, ip: &str) -> Result<Result<(), u64>, AppError> {
        let now = crate::time::now_ms();
        if dialect::writers_are_serial(conn) {
            return Ok(self.attempt_at(username, ip, now));
        }
        if self
            .attempts
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(SHARED_SWEEP_EVERY)
        {
            self.sweep_shared(conn, now)?;
        }
        let keys = self.keys(username, ip);
        crate::db::write_tx(conn, |c| {
            let held = self.lock_shared(c, &keys)?;
            let get = |k: &Key| held.get(&self.hash(k)).copied();
            let seen = Seen {
                pair: get(&keys[0]),
                user: get(&keys[1]),
                address: get(&keys[2]),
                known: get(&keys[3]).is_some_and(|k| now - k.last < ms(KNOWN_FOR)),
            };
            match self.decide(&seen, now) {
                Err(wait) => Ok(Err(wait)),
                Ok(bumps) => {
                    for (k, count) in keys.iter().zip(bumps) {
                        if let Some(count) = count {
                            self.store_shared(c, &self.hash(k), count)?;
                        }
                    }
                    Ok(Ok(()))
                }
            }
        })
    }

    /// Takes back the attempt's failure and remembers the username at the address.
    pub fn succeed(&self, conn: &mut DbConn, username: &str, ip: &str) -> Result<(), AppError> {
        let now = crate::time::now_ms();
        if dialect::writers_are_serial(conn) {
            self.succeed_at(username, ip, now);
            return Ok(());
        }
        let keys = self.keys(username, ip);
        crate::db::write_tx(conn, |c| {
            let held = self.lock_shared(c, &keys)?;
            let hashed: Vec<String> = keys.iter().map(|k| self.hash(k)).collect();
            let was_known = held.get(&hashed[3]).is_some_and(|k| now - k.last < ms(KNOWN_FOR));
            raw::execute(
                c,
                "DELETE FROM login_throttle WHERE key = ?",
                &[hashed[0].as_str().into()],
            )?;
            let undo = "UPDATE login_throttle SET failures = CASE WHEN failures > 0 THEN failures - 1 ELSE 0 END WHERE key = ?";
            raw::execute(c, undo, &[hashed[1].as_str().into()])?;
            if !was_known {
                raw::execute(c, undo, &[hashed[2].as_str().into()])?;
            }
            self.store_shared(c, &hashed[3], Count { failures: 0, last: now })
        })
    }

    /// The pair, user, address and known keys of an attempt, in that order.
    fn keys(&self, username: &str, ip: &str) -> [Key; 4] {
        [
            Key::Pair(ip.into(), username.into()),
            Key::User(username.into()),
            Key::Address(ip.into()),
            Key::Known(ip.into(), username.into()),
        ]
    }

    /// A key as the shared table stores it: an address and a username are personal data,
    /// and an IPv4 address is too few bits for a plain hash to hide.
    fn hash(&self, k: &Key) -> String {
        let text = match k {
            Key::Pair(ip, u) => format!("pair\0{ip}\0{u}"),
            Key::User(u) => format!("user\0{u}"),
            Key::Address(ip) => format!("address\0{ip}"),
            Key::Known(ip, u) => format!("known\0{ip}\0{u}"),
        };
        let mut m = Hmac::<Sha256>::new_from_slice(self.secret.as_bytes()).expect("any key length");
        m.update(b"jiayi-login-throttle:");
        m.update(text.as_bytes());
        // Base64, not hex: long runs of digits in hex read like phone numbers to the scan
        // for personal data at rest (tools/scan_db_pii.py).
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(m.finalize().into_bytes())
    }

    /// Makes sure the keys' rows exist, locks them until the transaction ends, and reads
    /// them (inserting first: two processes that both find no row would both insert).
    fn lock_shared(&self, c: &mut DbConn, keys: &[Key; 4]) -> Result<HashMap<String, Count>, AppError> {
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::Text)]
            key: String,
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            failures: i64,
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            last_at: i64,
        }
        let mut hashed: Vec<String> = keys.iter().map(|k| self.hash(k)).collect();
        // One order for every process, so two attempts cannot deadlock.
        hashed.sort();
        for h in &hashed {
            raw::execute(
                c,
                "INSERT INTO login_throttle (key, failures, last_at) VALUES (?, -1, 0) ON CONFLICT (key) DO NOTHING",
                &[h.as_str().into()],
            )?;
        }
        dialect::lock_keys(c, "login_throttle", &hashed)?;
        let marks = vec!["?"; hashed.len()].join(",");
        let binds: Vec<Bind> = hashed.iter().map(|h| h.as_str().into()).collect();
        let rows = raw::load::<Row>(
            c,
            &format!(
                "SELECT key, CAST(failures AS BIGINT) AS failures, last_at FROM login_throttle WHERE key IN ({marks})"
            ),
            &binds,
        )?;
        // A row just inserted (failures -1) stands for no count.
        Ok(rows
            .into_iter()
            .filter(|r| r.failures >= 0)
            .map(|r| {
                let count = Count {
                    failures: u32::try_from(r.failures).unwrap_or(u32::MAX),
                    last: r.last_at,
                };
                (r.key, count)
            })
            .collect())
    }

    fn store_shared(&self, c: &mut DbConn, key: &str, count: Count) -> Result<(), AppError> {
        raw::execute(
            c,
            "UPDATE login_throttle SET failures = ?, last_at = ? WHERE key = ?",
            &[i64::from(count.failures).into(), count.last.into(), key.into()],
        )?;
        Ok(())
    }

    /// Forgets counts no rule reads any more (and rows inserted by an attempt that failed).
    fn sweep_shared(&self, c: &mut DbConn, now: i64) -> Result<(), AppError> {
        raw::execute(
            c,
            "DELETE FROM login_throttle WHERE (failures > 0 AND last_at < ?) OR (failures <= 0 AND last_at < ?)",
            &[
                (now - 2 * ms(self.rules.max_backoff)).into(),
                (now - ms(KNOWN_FOR)).into(),
            ],
        )?;
        Ok(())
    }

    /// The rules: how long the attempt waits, or the counts it leaves once let through
    /// (pair, username, and address unless the username is known there).
    fn decide(&self, seen: &Seen, now: i64) -> Result<[Option<Count>; 3], u64> {
        let r = &self.rules;
        let fresh = |c: Option<Count>| c.filter(|c| now - c.last < 2 * ms(r.max_backoff));
        let (p, u, a) = (fresh(seen.pair), fresh(seen.user), fresh(seen.address));
        let mut until: Option<i64> = None;
        let mut hold = |from: i64, wait: Option<Duration>| {
            if let Some(w) = wait {
                let end = from + ms(w);
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
        if let (Some(a), false) = (a, seen.known) {
            hold(a.last, backoff(a.failures, r.free_per_address, r.max_backoff));
        }
        if let Some(end) = until {
            // Whole seconds, rounded up: waiting exactly `Retry-After` is always enough.
            let left = end - now;
            return Err(u64::try_from((left + 999) / 1000).unwrap_or(1));
        }
        let bump = |prev: Option<Count>| Count {
            failures: prev.map_or(0, |c| c.failures).saturating_add(1),
            last: now,
        };
        Ok([Some(bump(p)), Some(bump(u)), (!seen.known).then(|| bump(a))])
    }

    fn attempt_at(&self, username: &str, ip: &str, now: i64) -> Result<(), u64> {
        let mut map = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > SWEEP_AT {
            let forget = 2 * ms(self.rules.max_backoff);
            map.retain(|k, c| {
                let keep = if matches!(k, Key::Known(..)) {
                    ms(KNOWN_FOR)
                } else {
                    forget
                };
                now - c.last < keep
            });
        }
        let keys = self.keys(username, ip);
        let seen = Seen {
            pair: map.get(&keys[0]).copied(),
            user: map.get(&keys[1]).copied(),
            address: map.get(&keys[2]).copied(),
            known: map.get(&keys[3]).is_some_and(|c| now - c.last < ms(KNOWN_FOR)),
        };
        for (k, count) in keys.into_iter().zip(self.decide(&seen, now)?) {
            if let Some(count) = count {
                map.insert(k, count);
            }
        }
        Ok(())
    }

    fn succeed_at(&self, username: &str, ip: &str, now: i64) {
        let mut map = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&Key::Pair(ip.into(), username.into()));
        let known = Key::Known(ip.into(), username.into());
        let was_known = map.get(&known).is_some_and(|c| now - c.last < ms(KNOWN_FOR));
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
        let t = LoginThrottle::new(
            ThrottleRules {
                free_per_address: 1000,
                ..rules()
            },
            "k",
        );
        let t0: i64 = 1_700_000_000_000;
        for _ in 0..3 {
            assert!(t.attempt_at("doc", "1.1.1.1", t0).is_ok());
        }
        assert_eq!(t.attempt_at("doc", "1.1.1.1", t0), Err(1));
        let mut at = t0;
        for expected in [2, 4, 8, 16] {
            at += ms(Duration::from_secs(expected / 2));
            assert!(t.attempt_at("doc", "1.1.1.1", at).is_ok());
            assert_eq!(t.attempt_at("doc", "1.1.1.1", at), Err(expected));
        }
        let mut late = at;
        for _ in 0..20 {
            late += 900_000;
            assert!(t.attempt_at("doc", "1.1.1.1", late).is_ok());
        }
        assert_eq!(t.attempt_at("doc", "1.1.1.1", late), Err(900), "capped, never a lock");
        // Another address, and another username, are not held by this pair.
        assert!(t.attempt_at("doc", "2.2.2.2", late).is_ok());
        assert!(t.attempt_at("nurse", "1.1.1.1", late).is_ok());
    }

    #[test]
    fn failures_elsewhere_never_hold_a_pair_that_has_not_failed() {
        let t = LoginThrottle::new(rules(), "k");
        let t0: i64 = 1_700_000_000_000;
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
        assert!(t.attempt_at("doc", "192.168.1.5", t0 + ms(USER_MAX_BACKOFF)).is_ok());
    }

    #[test]
    fn an_address_spraying_names_holds_only_names_not_known_there() {
        let t = LoginThrottle::new(rules(), "k");
        let t0: i64 = 1_700_000_000_000;
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
        let t = LoginThrottle::new(rules(), "k");
        let t0: i64 = 1_700_000_000_000;
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
