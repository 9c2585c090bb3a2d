//! Sign-in throttling: after too many failed sign-ins for one email, or from
//! one client address, within a window, further attempts are refused until
//! the oldest failure leaves the window.
//!
//! In memory and per process, with a cap on the number of keys tracked (the
//! least recently touched key is forgotten first), so a flood of distinct
//! emails or addresses costs bounded memory. Behind several replicas each
//! counts on its own; the limits then apply per replica.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Where the throttle reads the time; tests move it by hand.
pub trait Clock: Send + Sync {
    fn now(&self) -> Instant;
}

/// The monotonic system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// The limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleConfig {
    /// Failures allowed for one email within `window`.
    pub failures_per_email: u32,
    /// Failures allowed from one client address within `window`: higher,
    /// because many people can share an address (an office, a carrier NAT).
    pub failures_per_address: u32,
    pub window: Duration,
    /// The most keys (emails plus addresses) remembered at once.
    pub max_tracked_keys: usize,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            failures_per_email: 5,
            failures_per_address: 20,
            window: Duration::from_secs(15 * 60),
            max_tracked_keys: 50_000,
        }
    }
}

/// A refused attempt: the client may try again after `retry_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many failed sign-ins; try again in {} s", self.retry_after_secs())]
pub struct Throttled {
    pub retry_after: Duration,
}

impl Throttled {
    /// Whole seconds to wait, rounded up and at least 1: the value for a
    /// `Retry-After` header.
    pub fn retry_after_secs(&self) -> u64 {
        let secs = self.retry_after.as_secs();
        let rounded = if self.retry_after.subsec_nanos() > 0 {
            secs + 1
        } else {
            secs
        };
        rounded.max(1)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Email(String),
    /// An IPv4 address, or the /64 network of an IPv6 one: one IPv6 client
    /// usually has a whole /64 to rotate through.
    Address(IpAddr),
}

impl Key {
    fn email(email: &str) -> Self {
        Key::Email(email.trim().to_lowercase())
    }

    fn address(ip: IpAddr) -> Self {
        let ip = match ip {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => {
                    let network = u128::from(v6) & !((1u128 << 64) - 1);
                    IpAddr::V6(network.into())
                }
            },
            v4 => v4,
        };
        Key::Address(ip)
    }
}

struct Entry {
    /// Failure times within the window, oldest first; at most the key's limit.
    failures: VecDeque<Instant>,
    /// Position in the recency order.
    touched: u64,
}

#[derive(Default)]
struct State {
    entries: HashMap<Key, Entry>,
    /// `touched` sequence number -> key, least recently touched first.
    recency: BTreeMap<u64, Key>,
    next_touch: u64,
}

impl State {
    fn touch(&mut self, key: &Key) -> &mut Entry {
        let touch = self.next_touch;
        self.next_touch += 1;
        if let Some(entry) = self.entries.get_mut(key) {
            self.recency.remove(&entry.touched);
            entry.touched = touch;
        } else {
            self.entries.insert(
                key.clone(),
                Entry {
                    failures: VecDeque::new(),
                    touched: touch,
                },
            );
        }
        self.recency.insert(touch, key.clone());
        self.entries.get_mut(key).expect("inserted above")
    }

    fn remove(&mut self, key: &Key) {
        if let Some(entry) = self.entries.remove(key) {
            self.recency.remove(&entry.touched);
        }
    }

    fn evict_beyond(&mut self, cap: usize) {
        while self.entries.len() > cap {
            let Some((_, key)) = self.recency.pop_first() else {
                break;
            };
            self.entries.remove(&key);
        }
    }
}

/// The sign-in throttle. Share one per process (it locks internally).
pub struct SignInThrottle<C: Clock = SystemClock> {
    config: ThrottleConfig,
    clock: C,
    state: Mutex<State>,
}

impl SignInThrottle<SystemClock> {
    pub fn new(config: ThrottleConfig) -> Self {
        Self::with_clock(config, SystemClock)
    }
}

impl<C: Clock> SignInThrottle<C> {
    pub fn with_clock(config: ThrottleConfig, clock: C) -> Self {
        Self {
            config,
            clock,
            state: Mutex::new(State::default()),
        }
    }

    fn limit(&self, key: &Key) -> usize {
        let limit = match key {
            Key::Email(_) => self.config.failures_per_email,
            Key::Address(_) => self.config.failures_per_address,
        };
        usize::try_from(limit).unwrap_or(usize::MAX).max(1)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a cache of recent failures: after a panic elsewhere it
        // is still consistent enough to keep using.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Before checking the password: whether this attempt may go ahead.
    pub fn check(&self, email: &str, client: IpAddr) -> Result<(), Throttled> {
        let now = self.clock.now();
        let state = self.state();
        let mut wait = Duration::ZERO;
        for key in [Key::email(email), Key::address(client)] {
            let Some(entry) = state.entries.get(&key) else {
                continue;
            };
            let recent: Vec<Instant> = entry
                .failures
                .iter()
                .copied()
                .filter(|t| now.saturating_duration_since(*t) < self.config.window)
                .collect();
            if recent.len() >= self.limit(&key) {
                // Allowed again once enough failures have aged out that the
                // count drops below the limit.
                let index = recent.len() - self.limit(&key);
                let frees_at = recent[index] + self.config.window;
                wait = wait.max(frees_at.saturating_duration_since(now));
            }
        }
        if wait.is_zero() {
            Ok(())
        } else {
            Err(Throttled { retry_after: wait })
        }
    }

    /// After a wrong password (or an unknown email).
    pub fn record_failure(&self, email: &str, client: IpAddr) {
        let now = self.clock.now();
        let window = self.config.window;
        let mut state = self.state();
        for key in [Key::email(email), Key::address(client)] {
            let limit = self.limit(&key);
            let entry = state.touch(&key);
            while entry
                .failures
                .front()
                .is_some_and(|t| now.saturating_duration_since(*t) >= window)
            {
                entry.failures.pop_front();
            }
            entry.failures.push_back(now);
            // Only the newest `limit` failures decide anything.
            while entry.failures.len() > limit {
                entry.failures.pop_front();
            }
        }
        state.evict_beyond(self.config.max_tracked_keys);
    }

    /// After a successful sign-in: the email's failures are forgiven. The
    /// address's are not, or one working account would let its holder reset
    /// the address's count between guesses at other accounts.
    pub fn record_success(&self, email: &str) {
        self.state().remove(&Key::email(email));
    }

    /// How many keys are tracked now.
    pub fn tracked_keys(&self) -> usize {
        self.state().entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::sync::Arc;

    /// A clock that moves only when told.
    #[derive(Clone)]
    struct ManualClock {
        start: Instant,
        offset: Arc<Mutex<Duration>>,
    }

    impl ManualClock {
        fn new() -> Self {
            Self {
                start: Instant::now(),
                offset: Arc::new(Mutex::new(Duration::ZERO)),
            }
        }
        fn advance(&self, by: Duration) {
            *self.offset.lock().expect("lock") += by;
        }
    }

    impl Clock for ManualClock {
        fn now(&self) -> Instant {
            self.start + *self.offset.lock().expect("lock")
        }
    }

    const MINUTE: Duration = Duration::from_secs(60);

    fn config() -> ThrottleConfig {
        ThrottleConfig {
            failures_per_email: 3,
            failures_per_address: 5,
            window: 10 * MINUTE,
            max_tracked_keys: 100,
        }
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
    }

    #[test]
    fn refuses_after_n_failures_for_an_email_until_the_window_passes() {
        let clock = ManualClock::new();
        let throttle = SignInThrottle::with_clock(config(), clock.clone());
        for _ in 0..3 {
            assert_eq!(throttle.check("ada@example.test", ip(1)), Ok(()));
            throttle.record_failure("ada@example.test", ip(1));
            clock.advance(MINUTE);
        }
        // Failures at 0, 1 and 2 minutes; now is 3 minutes: the first one
        // leaves the window at 10 minutes.
        assert_eq!(
            throttle.check("ada@example.test", ip(2)),
            Err(Throttled {
                retry_after: 7 * MINUTE
            }),
            "the email is locked from any address"
        );
        assert_eq!(throttle.check("grace@example.test", ip(1)), Ok(()));
        clock.advance(7 * MINUTE);
        assert_eq!(throttle.check("ada@example.test", ip(1)), Ok(()));
    }

    #[test]
    fn emails_are_compared_case_insensitively() {
        let throttle = SignInThrottle::with_clock(config(), ManualClock::new());
        for i in 0..3 {
            throttle.record_failure(" Ada@Example.TEST", ip(i));
        }
        assert!(throttle.check("ada@example.test", ip(9)).is_err());
    }

    #[test]
    fn refuses_an_address_after_its_own_limit_across_emails() {
        let clock = ManualClock::new();
        let throttle = SignInThrottle::with_clock(config(), clock.clone());
        for i in 0..5 {
            throttle.record_failure(&format!("user{i}@example.test"), ip(7));
        }
        let refused = throttle
            .check("someone-else@example.test", ip(7))
            .expect_err("address over its limit");
        assert_eq!(refused.retry_after, 10 * MINUTE);
        assert_eq!(throttle.check("someone-else@example.test", ip(8)), Ok(()));
    }

    #[test]
    fn ipv6_clients_are_counted_per_64_network() {
        let throttle = SignInThrottle::with_clock(config(), ManualClock::new());
        for i in 0..5u16 {
            let addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 1, i, i, i, i);
            throttle.record_failure(&format!("u{i}@example.test"), IpAddr::V6(addr));
        }
        let same_network = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 9, 9, 9, 9));
        let other_network = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 2, 9, 9, 9, 9));
        assert!(throttle.check("new@example.test", same_network).is_err());
        assert_eq!(throttle.check("new@example.test", other_network), Ok(()));
    }

    #[test]
    fn success_resets_the_email_but_not_the_address() {
        let throttle = SignInThrottle::with_clock(config(), ManualClock::new());
        for _ in 0..3 {
            throttle.record_failure("ada@example.test", ip(1));
        }
        assert!(throttle.check("ada@example.test", ip(2)).is_err());
        throttle.record_success("ada@example.test");
        assert_eq!(throttle.check("ada@example.test", ip(2)), Ok(()));
        for _ in 0..2 {
            throttle.record_failure("other@example.test", ip(1));
        }
        // Five failures from ip(1) in total, the success notwithstanding.
        assert!(throttle.check("third@example.test", ip(1)).is_err());
    }

    #[test]
    fn the_window_slides_one_failure_at_a_time() {
        let clock = ManualClock::new();
        let throttle = SignInThrottle::with_clock(config(), clock.clone());
        // Four failures a minute apart: the newest three decide.
        for _ in 0..4 {
            throttle.record_failure("ada@example.test", ip(1));
            clock.advance(MINUTE);
        }
        // Now 4 min; failures at 1, 2, 3 min -> free at 11 min.
        assert_eq!(
            throttle.check("ada@example.test", ip(1)),
            Err(Throttled {
                retry_after: 7 * MINUTE
            })
        );
        clock.advance(7 * MINUTE);
        assert_eq!(throttle.check("ada@example.test", ip(1)), Ok(()));
        // One more failure right away: the failures at 2 and 3 min are still
        // in the window, so the email is locked again until 12 min.
        throttle.record_failure("ada@example.test", ip(1));
        assert_eq!(
            throttle.check("ada@example.test", ip(1)),
            Err(Throttled {
                retry_after: MINUTE
            })
        );
    }

    #[test]
    fn memory_is_bounded_by_forgetting_the_least_recently_touched_keys() {
        let cfg = ThrottleConfig {
            max_tracked_keys: 10,
            ..config()
        };
        let throttle = SignInThrottle::with_clock(cfg, ManualClock::new());
        for _ in 0..3 {
            throttle.record_failure("first@example.test", ip(1));
        }
        for i in 0..100u8 {
            throttle.record_failure(&format!("flood{i}@example.test"), ip(i));
            assert!(throttle.tracked_keys() <= 10);
        }
        // The first email was touched longest ago: forgotten.
        assert_eq!(throttle.check("first@example.test", ip(200)), Ok(()));
        // The latest ones are still there.
        throttle.record_failure("flood99@example.test", ip(99));
        throttle.record_failure("flood99@example.test", ip(99));
        assert!(throttle.check("flood99@example.test", ip(201)).is_err());
    }

    #[test]
    fn the_refusal_rounds_up_to_whole_seconds() {
        let refused = Throttled {
            retry_after: Duration::from_millis(1500),
        };
        assert_eq!(refused.retry_after_secs(), 2);
        assert_eq!(
            refused.to_string(),
            "too many failed sign-ins; try again in 2 s"
        );
    }
}
