//! Per-device request rate for sync endpoints: a token bucket per device, in memory.
//! A tablet in a retry loop cannot starve the others; it is told when to come back.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Devices beyond this many trigger a sweep of idle buckets, bounding memory.
const SWEEP_AT: usize = 50_000;

/// Token buckets keyed by device id.
pub struct DeviceRateLimiter {
    per_minute: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl DeviceRateLimiter {
    /// Allows `per_minute` requests per device per minute, with a burst of as many.
    pub fn new(per_minute: u32) -> Self {
        DeviceRateLimiter {
            per_minute: per_minute.max(1) as f64,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request's token; `Err(seconds)` when the device must wait.
    pub fn take(&self, device: &str) -> Result<(), u64> {
        let now = Instant::now();
        let rate = self.per_minute / 60.0;
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > SWEEP_AT {
            let full = self.per_minute;
            map.retain(|_, (tokens, at)| *tokens + now.duration_since(*at).as_secs_f64() * rate < full);
        }
        let (tokens, at) = map.entry(device.to_string()).or_insert((self.per_minute, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * rate).min(self.per_minute);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / rate).ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_gets_its_burst_then_waits_while_others_go_on() {
        let l = DeviceRateLimiter::new(3);
        for _ in 0..3 {
            assert!(l.take("a").is_ok());
        }
        let wait = l.take("a").unwrap_err();
        assert!((1..=20).contains(&wait), "{wait}");
        assert!(l.take("b").is_ok());
    }
}
