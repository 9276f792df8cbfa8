//! Rate limits: token buckets per client address, per signed-in user and per API key.
//!
//! Every request is charged to the bucket of its client address (the TCP peer, or
//! the `X-Forwarded-For` address a trusted proxy reports) for its class: **reads**
//! (GET, HEAD, OPTIONS) and **writes** (every other method) have separate budgets,
//! so a map page that loads dozens of tiles at once never delays a case report. A
//! request with valid credentials is also charged to its user's bucket (same
//! budgets) or its API key's bucket (one budget for every visitor of the embedding
//! site). Failed logins (401 from `POST /api/auth/login`) draw on a small bucket per
//! address, against password guessing; successful logins give their token back.
//! `GET /health` is never limited (load balancers poll it).
//!
//! Over a limit the answer is `429 Too Many Requests` with `Retry-After` (seconds)
//! and `{"error", "detail": {"scope", "class", "retry_after_secs"}}`.
//!
//! The buckets live in a sharded map (64 mutex-guarded shards picked by a hash of
//! the bucket's key), so concurrent requests rarely meet on one lock and a check is
//! one short critical section per bucket. Memory is bounded: a shard over its
//! capacity first drops buckets that have refilled completely (indistinguishable
//! from new ones), then the least recently used quarter. IPv6 clients are limited
//! per /64 network, since one host usually holds a whole /64.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use citygrid_db::Config;
use serde_json::json;

use crate::auth::Principal;
use crate::error::error_body;

/// Shards of the bucket map.
const SHARDS: usize = 64;
/// Buckets kept per shard at most (64 × 4096 ≈ 262,000 buckets, about 15 MB).
const SHARD_CAPACITY: usize = 4096;

/// A token bucket's budget: `burst` tokens at most, refilled at `per_sec`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    /// Tokens added per second; 0 or less: unlimited.
    pub per_sec: f64,
    /// The bucket's size: how many requests may come at once.
    pub burst: f64,
}

impl Budget {
    fn unlimited(self) -> bool {
        !(self.per_sec > 0.0 && self.per_sec.is_finite())
    }
}

/// The kind of request a bucket counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// GET, HEAD, OPTIONS.
    Read,
    /// POST, PUT, PATCH, DELETE.
    Write,
    /// Failed logins.
    Login,
}

impl Class {
    fn as_str(self) -> &'static str {
        match self {
            Class::Read => "read",
            Class::Write => "write",
            Class::Login => "login",
        }
    }

    /// The class of a request with `method`.
    pub fn of(method: &Method) -> Class {
        if method == Method::GET || method == Method::HEAD || method == Method::OPTIONS {
            Class::Read
        } else {
            Class::Write
        }
    }
}

/// Whose bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Scope {
    /// A client address (IPv4 mapped into IPv6; IPv6 cut to its /64).
    Address(u128),
    /// A signed-in user (`users.id`).
    User(i64),
    /// An API key (`api_keys.id`).
    Key(i64),
}

impl Scope {
    fn as_str(self) -> &'static str {
        match self {
            Scope::Address(_) => "address",
            Scope::User(_) => "user",
            Scope::Key(_) => "key",
        }
    }
}

type BucketKey = (Scope, Class);

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    /// Microseconds since the limiter's start at the last refill.
    last: u64,
}

/// The budgets, from the configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Whether anything is limited.
    pub enabled: bool,
    /// Reads per address and per user.
    pub read: Budget,
    /// Writes per address and per user.
    pub write: Budget,
    /// Requests per API key.
    pub key: Budget,
    /// Failed logins per address.
    pub login: Budget,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpAddr>,
}

impl Limits {
    /// The budgets of `config`.
    pub fn from_config(config: &Config) -> Limits {
        let budget = |per_sec: f64, burst: u32| Budget {
            per_sec,
            burst: f64::from(burst.max(1)),
        };
        Limits {
            enabled: config.rate_limit,
            read: budget(config.rate_limit_read_per_sec, config.rate_limit_read_burst),
            write: budget(
                config.rate_limit_write_per_sec,
                config.rate_limit_write_burst,
            ),
            key: budget(config.rate_limit_key_per_sec, config.rate_limit_key_burst),
            login: budget(
                config.rate_limit_login_per_min / 60.0,
                config.rate_limit_login_burst,
            ),
            trusted_proxies: config
                .trusted_proxies
                .iter()
                .filter_map(|p| p.trim().parse().ok())
                .collect(),
        }
    }

    fn budget(&self, key: BucketKey) -> Budget {
        match key {
            (_, Class::Login) => self.login,
            (Scope::Key(_), _) => self.key,
            (_, Class::Read) => self.read,
            (_, Class::Write) => self.write,
        }
    }
}

/// A refusal: whose budget ran out and when to come back.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Refusal {
    scope: Scope,
    class: Class,
    /// Whole seconds until a token is back (at least 1).
    pub retry_after_secs: u64,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let who = match self.scope {
            Scope::Address(_) => "this address",
            Scope::User(_) => "this user",
            Scope::Key(_) => "this API key",
        };
        let what = match self.class {
            Class::Read => "reads",
            Class::Write => "writes",
            Class::Login => "failed logins",
        };
        let message = format!(
            "too many {what} from {who}: retry after {} s",
            self.retry_after_secs
        );
        let mut response = (
            StatusCode::TOO_MANY_REQUESTS,
            error_body(
                StatusCode::TOO_MANY_REQUESTS,
                &message,
                json!({
                    "scope": self.scope.as_str(),
                    "class": self.class.as_str(),
                    "retry_after_secs": self.retry_after_secs,
                }),
            ),
        )
            .into_response();
        response
            .headers_mut()
            .insert("retry-after", HeaderValue::from(self.retry_after_secs));
        response
    }
}

/// Request extension: the server's limiter, for a handler that meets a credential
/// the middleware cannot see (the `api_key` of an Open311 form).
#[derive(Clone)]
pub struct Limiter(pub Arc<RateLimiter>);

/// Request extension: the client's address (the TCP peer, or what a trusted proxy
/// reports), as the rate limits see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub IpAddr);

/// The buckets of one server.
pub struct RateLimiter {
    limits: Limits,
    shards: Box<[Mutex<HashMap<BucketKey, Bucket>>]>,
    hasher: RandomState,
    start: Instant,
}

impl RateLimiter {
    /// A limiter with `limits` and no buckets yet.
    pub fn new(limits: Limits) -> RateLimiter {
        RateLimiter {
            limits,
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
            start: Instant::now(),
        }
    }

    /// The budgets.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    fn shard(&self, key: &BucketKey) -> &Mutex<HashMap<BucketKey, Bucket>> {
        let i = (self.hasher.hash_one(key) as usize) % self.shards.len();
        &self.shards[i]
    }

    /// Takes a token from `key`'s bucket, or says when one will be back.
    fn take(&self, key: BucketKey) -> Result<(), Refusal> {
        let budget = self.limits.budget(key);
        if budget.unlimited() {
            return Ok(());
        }
        let now = self.now();
        let mut shard = self
            .shard(&key)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if shard.len() >= SHARD_CAPACITY && !shard.contains_key(&key) {
            self.evict(&mut shard, now);
        }
        let bucket = shard.entry(key).or_insert(Bucket {
            tokens: budget.burst,
            last: now,
        });
        refill(bucket, budget, now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / budget.per_sec;
            Err(Refusal {
                scope: key.0,
                class: key.1,
                retry_after_secs: (wait.ceil() as u64).max(1),
            })
        }
    }

    /// Charges `request`'s client address as [`by_address`] does a read that is not a
    /// login (the tile cache-hit fast path, `crate::tiles::fast`, which answers
    /// before the middleware runs). `Err` when its bucket is empty.
    pub fn charge_address(&self, request: &Request) -> Result<(), Refusal> {
        if !self.limits.enabled || is_login(request) {
            return Ok(());
        }
        let Some(peer) = peer(request) else {
            return Ok(());
        };
        let scope = address_scope(self.client_address(peer, request.headers()));
        self.take((scope, Class::of(request.method())))
    }

    /// Gives back what [`RateLimiter::charge_address`] took for `request` (the fast
    /// path hands the request on to the full stack, which charges it itself).
    pub fn refund_address(&self, request: &Request) {
        if !self.limits.enabled || is_login(request) {
            return;
        }
        if let Some(peer) = peer(request) {
            let scope = address_scope(self.client_address(peer, request.headers()));
            self.give_back((scope, Class::of(request.method())));
        }
    }

    /// Charges API key `key_id` for a request with `method` (when limits are on).
    pub fn charge_key(&self, key_id: i64, method: &Method) -> Result<(), Refusal> {
        if !self.limits.enabled {
            return Ok(());
        }
        self.take((Scope::Key(key_id), Class::of(method)))
    }

    /// Gives a token back to `key`'s bucket (a login that succeeded).
    fn give_back(&self, key: BucketKey) {
        let budget = self.limits.budget(key);
        if budget.unlimited() {
            return;
        }
        let now = self.now();
        let mut shard = self
            .shard(&key)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(bucket) = shard.get_mut(&key) {
            refill(bucket, budget, now);
            bucket.tokens = (bucket.tokens + 1.0).min(budget.burst);
        }
    }

    /// Makes room in a full shard: drops full buckets, then the least recently used quarter.
    fn evict(&self, shard: &mut HashMap<BucketKey, Bucket>, now: u64) {
        shard.retain(|key, bucket| {
            let budget = self.limits.budget(*key);
            let mut b = *bucket;
            refill(&mut b, budget, now);
            b.tokens < budget.burst
        });
        if shard.len() >= SHARD_CAPACITY {
            let mut ages: Vec<u64> = shard.values().map(|b| b.last).collect();
            let quarter = ages.len() / 4;
            let (_, cut, _) = ages.select_nth_unstable(quarter);
            let cut = *cut;
            shard.retain(|_, b| b.last > cut);
        }
    }

    /// How many buckets are held (for tests and metrics).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }

    /// Whether no bucket is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The client address of a request from `peer` with `headers`: the peer itself,
    /// unless it is a trusted proxy; then the right-most `X-Forwarded-For` address
    /// that is not a trusted proxy.
    pub fn client_address(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.limits.trusted_proxies.contains(&canonical(peer)) {
            return peer;
        }
        let mut hops = Vec::new();
        for value in headers.get_all("x-forwarded-for") {
            let Ok(text) = value.to_str() else {
                return peer;
            };
            for hop in text.split(',') {
                match hop.trim().parse::<IpAddr>() {
                    Ok(ip) => hops.push(ip),
                    Err(_) => return peer,
                }
            }
        }
        // Walk back from the nearest hop over the trusted proxies.
        let mut client = peer;
        for hop in hops.iter().rev() {
            client = *hop;
            if !self.limits.trusted_proxies.contains(&canonical(*hop)) {
                break;
            }
        }
        client
    }
}

fn refill(bucket: &mut Bucket, budget: Budget, now: u64) {
    let elapsed = now.saturating_sub(bucket.last) as f64 / 1_000_000.0;
    bucket.tokens = (bucket.tokens + elapsed * budget.per_sec).min(budget.burst);
    bucket.last = now;
}

/// IPv4-mapped IPv6 addresses as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// The address bucket of `ip`: IPv4 as is, IPv6 by its /64 network.
fn address_scope(ip: IpAddr) -> Scope {
    match canonical(ip) {
        IpAddr::V4(v4) => Scope::Address(u128::from(v4.to_ipv6_mapped())),
        IpAddr::V6(v6) => Scope::Address(u128::from(v6) & !((1u128 << 64) - 1)),
    }
}

fn is_login(request: &Request) -> bool {
    request.method() == Method::POST && request.uri().path() == "/api/auth/login"
}

/// The client address of `request` (its `ConnectInfo`), if the server recorded it.
fn peer(request: &Request) -> Option<IpAddr> {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
}

/// Middleware before the credential check: charges the client address (failed
/// logins to the login bucket, everything else to the read or write bucket).
pub async fn by_address(limiter: Arc<RateLimiter>, mut request: Request, next: Next) -> Response {
    request
        .extensions_mut()
        .insert(Limiter(Arc::clone(&limiter)));
    if let Some(peer) = peer(&request) {
        let client = limiter.client_address(peer, request.headers());
        request.extensions_mut().insert(ClientAddress(client));
    }
    if !limiter.limits.enabled || request.uri().path() == "/health" {
        return next.run(request).await;
    }
    let Some(peer) = peer(&request) else {
        return next.run(request).await;
    };
    let scope = address_scope(limiter.client_address(peer, request.headers()));
    if is_login(&request) {
        let key = (scope, Class::Login);
        if let Err(refusal) = limiter.take(key) {
            return refusal.into_response();
        }
        let response = next.run(request).await;
        if response.status() != StatusCode::UNAUTHORIZED {
            limiter.give_back(key);
        }
        return response;
    }
    if let Err(refusal) = limiter.take((scope, Class::of(request.method()))) {
        return refusal.into_response();
    }
    next.run(request).await
}

/// Middleware after the credential check: charges the signed-in user or the API key.
pub async fn by_principal(limiter: Arc<RateLimiter>, request: Request, next: Next) -> Response {
    if !limiter.limits.enabled || request.uri().path() == "/health" || is_login(&request) {
        return next.run(request).await;
    }
    let scope = match request.extensions().get::<Principal>() {
        Some(Principal::User(user)) => Some(Scope::User(user.id)),
        Some(Principal::Key(key)) => Some(Scope::Key(key.id)),
        _ => None,
    };
    if let Some(scope) = scope {
        if let Err(refusal) = limiter.take((scope, Class::of(request.method()))) {
            return refusal.into_response();
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            enabled: true,
            read: Budget {
                per_sec: 1.0,
                burst: 3.0,
            },
            write: Budget {
                per_sec: 0.5,
                burst: 1.0,
            },
            key: Budget {
                per_sec: 0.0,
                burst: 1.0,
            },
            login: Budget {
                per_sec: 1.0 / 60.0,
                burst: 2.0,
            },
            trusted_proxies: vec!["10.0.0.1".parse().unwrap()],
        }
    }

    #[test]
    fn buckets_drain_and_classes_are_separate() {
        let l = RateLimiter::new(limits());
        let a = address_scope("192.0.2.1".parse().unwrap());
        let b = address_scope("192.0.2.2".parse().unwrap());
        for _ in 0..3 {
            assert!(l.take((a, Class::Read)).is_ok());
        }
        let refusal = l.take((a, Class::Read)).unwrap_err();
        assert_eq!(refusal.retry_after_secs, 1);
        assert!(l.take((b, Class::Read)).is_ok(), "another address");
        assert!(
            l.take((a, Class::Write)).is_ok(),
            "writes have their own bucket"
        );
        assert_eq!(l.take((a, Class::Write)).unwrap_err().retry_after_secs, 2);
        // Unlimited budgets take nothing.
        for _ in 0..100 {
            assert!(l.take((Scope::Key(1), Class::Read)).is_ok());
        }
        // Logins: a token given back after success.
        assert!(l.take((a, Class::Login)).is_ok());
        l.give_back((a, Class::Login));
        assert!(l.take((a, Class::Login)).is_ok());
        assert!(l.take((a, Class::Login)).is_ok());
        let r = l.take((a, Class::Login)).unwrap_err();
        assert!(r.retry_after_secs >= 59, "{r:?}");
    }

    #[test]
    fn refill_over_time() {
        let budget = Budget {
            per_sec: 2.0,
            burst: 4.0,
        };
        let mut b = Bucket {
            tokens: 0.0,
            last: 0,
        };
        refill(&mut b, budget, 1_000_000);
        assert!((b.tokens - 2.0).abs() < 1e-9);
        refill(&mut b, budget, 10_000_000);
        assert_eq!(b.tokens, 4.0);
    }

    #[test]
    fn memory_is_bounded() {
        let l = RateLimiter::new(limits());
        for i in 0..(SHARDS * (SHARD_CAPACITY + 200)) as u32 {
            let scope = address_scope(IpAddr::V4(i.into()));
            let _ = l.take((scope, Class::Read));
        }
        assert!(l.len() <= SHARDS * SHARD_CAPACITY, "{}", l.len());
    }

    #[test]
    fn addresses() {
        let l = RateLimiter::new(limits());
        let v6a = address_scope("2001:db8::1".parse().unwrap());
        let v6b = address_scope("2001:db8::ffff:1".parse().unwrap());
        assert_eq!(v6a, v6b, "one /64");
        assert_eq!(
            address_scope("::ffff:192.0.2.1".parse().unwrap()),
            address_scope("192.0.2.1".parse().unwrap())
        );
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "203.0.113.9, 10.0.0.1".parse().unwrap());
        let direct: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(l.client_address(direct, &h), direct, "untrusted peer");
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(
            l.client_address(proxy, &h),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        h.insert("x-forwarded-for", "not-an-ip".parse().unwrap());
        assert_eq!(l.client_address(proxy, &h), proxy, "garbage: the proxy");
        assert_eq!(l.client_address(proxy, &HeaderMap::new()), proxy);
    }
}
