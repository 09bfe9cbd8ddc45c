//! Login throttling: failed attempts counted per username and per client address in a
//! sliding window, in memory (one server process; a restart forgets, which only helps a
//! legitimate user).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys beyond this many trigger a sweep of stale entries, bounding memory.
const SWEEP_AT: usize = 10_000;

/// Counts failed logins.
pub struct LoginThrottle {
    window: Duration,
    max_per_user: usize,
    max_per_ip: usize,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl LoginThrottle {
    /// A throttle allowing the given failures per window.
    pub fn new(window: Duration, max_per_user: usize, max_per_ip: usize) -> Self {
        LoginThrottle {
            window,
            max_per_user,
            max_per_ip,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn keys(username: &str, ip: &str) -> [(String, bool); 2] {
        [
            (format!("u:{}", username.to_lowercase()), true),
            (format!("ip:{ip}"), false),
        ]
    }

    /// `Err(seconds)` when either the user or the address must wait.
    pub fn check(&self, username: &str, ip: &str) -> Result<(), u64> {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        for (key, is_user) in Self::keys(username, ip) {
            let limit = if is_user { self.max_per_user } else { self.max_per_ip };
            if let Some(q) = map.get_mut(&key) {
                while q.front().is_some_and(|t| now.duration_since(*t) >= self.window) {
                    q.pop_front();
                }
                if q.len() >= limit {
                    let oldest = *q.front().expect("non-empty");
                    let wait = self.window.saturating_sub(now.duration_since(oldest));
                    return Err(wait.as_secs().max(1));
                }
            }
        }
        Ok(())
    }

    /// Records a failed attempt.
    pub fn fail(&self, username: &str, ip: &str) {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > SWEEP_AT {
            let window = self.window;
            map.retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) < window));
        }
        for (key, _) in Self::keys(username, ip) {
            map.entry(key).or_default().push_back(now);
        }
    }

    /// Clears a user's failures after a successful login (the address keeps its count).
    pub fn succeed(&self, username: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&format!("u:{}", username.to_lowercase()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_a_user_after_the_limit_and_unlocks_on_success() {
        let t = LoginThrottle::new(Duration::from_secs(60), 3, 100);
        for _ in 0..3 {
            assert!(t.check("doc", "1.2.3.4").is_ok());
            t.fail("doc", "1.2.3.4");
        }
        let wait = t.check("DOC", "5.6.7.8").unwrap_err();
        assert!((1..=60).contains(&wait));
        t.succeed("doc");
        assert!(t.check("doc", "5.6.7.8").is_ok());
    }

    #[test]
    fn locks_an_address_across_usernames() {
        let t = LoginThrottle::new(Duration::from_secs(60), 100, 2);
        t.fail("a", "9.9.9.9");
        t.fail("b", "9.9.9.9");
        assert!(t.check("c", "9.9.9.9").is_err());
        assert!(t.check("c", "9.9.9.8").is_ok());
    }
}
