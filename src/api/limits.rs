//! Call limits applied to every authenticated RPC, inside the auth layer: a global limit on the
//! calls handled at once and a per-principal rate limit (a token bucket per subject, from the
//! `governor` crate). Both refuse with RESOURCE_EXHAUSTED and say when to retry; the rate limit
//! also sends the wait in the `retry-after-ms` response metadata.
//!
//! Health checks and reflection carry no principal and are not rate limited (they still count
//! towards the concurrency limit), so probes keep working while a client is throttled.

use std::future::Future;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::sync::Semaphore;
use tonic::Status;
use tower::{Layer, Service};

use crate::auth::Principal;
use crate::config::Limits;

/// The response metadata that says how many milliseconds to wait before retrying.
pub const RETRY_AFTER_MS: &str = "retry-after-ms";

/// The tower layer that applies the concurrency and rate limits.
#[derive(Clone)]
pub struct LimitLayer {
    state: Arc<LimitState>,
}

struct LimitState {
    calls: Arc<Semaphore>,
    max_calls: usize,
    per_principal: Option<DefaultKeyedRateLimiter<String>>,
    rate: u32,
}

impl LimitLayer {
    /// The limits of `limits.max_concurrent_calls`, `rate_limit_per_sec` (0: off) and
    /// `rate_limit_burst`.
    pub fn new(limits: &Limits) -> Self {
        let per_principal = NonZeroU32::new(limits.rate_limit_per_sec).map(|rate| {
            let burst = NonZeroU32::new(limits.rate_limit_burst).unwrap_or(rate);
            RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        });
        Self {
            state: Arc::new(LimitState {
                calls: Arc::new(Semaphore::new(limits.max_concurrent_calls)),
                max_calls: limits.max_concurrent_calls,
                per_principal,
                rate: limits.rate_limit_per_sec,
            }),
        }
    }
}

impl LimitState {
    /// `Err` with the status to answer when `principal` is over its rate.
    fn check_rate(&self, principal: Option<&Principal>) -> Result<(), Status> {
        let (Some(limiter), Some(principal)) = (&self.per_principal, principal) else {
            return Ok(());
        };
        match limiter.check_key(&principal.subject) {
            Ok(()) => Ok(()),
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                Err(rate_limited(&principal.subject, self.rate, wait))
            }
        }
    }
}

fn rate_limited(subject: &str, rate: u32, wait: Duration) -> Status {
    // Round up so that a client that waits exactly this long is admitted.
    let millis = wait.as_millis().saturating_add(1);
    let mut status = Status::resource_exhausted(format!(
        "rate limit of {rate} calls per second for {subject} exceeded; retry after {millis} ms"
    ));
    if let Ok(value) = millis.to_string().parse() {
        status.metadata_mut().insert(RETRY_AFTER_MS, value);
    }
    status
}

impl<S> Layer<S> for LimitLayer {
    type Service = LimitService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        LimitService {
            inner,
            state: self.state.clone(),
        }
    }
}

/// The service produced by [`LimitLayer`].
#[derive(Clone)]
pub struct LimitService<S> {
    inner: S,
    state: Arc<LimitState>,
}

impl<S, B> Service<http::Request<B>> for LimitService<S>
where
    S: Service<http::Request<B>, Response = http::Response<tonic::body::Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let refuse = |status: Status| -> Self::Future {
            let response = status.into_http();
            Box::pin(async move { Ok(response) })
        };
        if let Err(status) = self
            .state
            .check_rate(request.extensions().get::<Principal>())
        {
            tracing::info!(
                path = request.uri().path(),
                reason = status.message(),
                "call refused"
            );
            return refuse(status);
        }
        let Ok(permit) = self.state.calls.clone().try_acquire_owned() else {
            tracing::warn!(
                path = request.uri().path(),
                max = self.state.max_calls,
                "call refused: too many calls at once"
            );
            let mut status = Status::resource_exhausted(format!(
                "the server is handling its limit of {} calls at once; retry after 100 ms",
                self.state.max_calls
            ));
            if let Ok(value) = "100".parse() {
                status.metadata_mut().insert(RETRY_AFTER_MS, value);
            }
            return refuse(status);
        };
        // The clone that was polled ready is the one that must be called.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let response = inner.call(request).await;
            drop(permit);
            response
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;

    fn principal(subject: &str) -> Principal {
        Principal {
            subject: subject.into(),
            role: Role::Clerk,
            committee: None,
            deputy_group: None,
        }
    }

    #[tokio::test]
    async fn calls_beyond_the_concurrency_limit_are_refused_until_one_finishes() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use tower::ServiceExt;

        let gate = Arc::new(tokio::sync::Notify::new());
        let started = Arc::new(AtomicUsize::new(0));
        let inner = {
            let gate = gate.clone();
            let started = started.clone();
            tower::service_fn(move |_request: http::Request<()>| {
                let gate = gate.clone();
                started.fetch_add(1, Ordering::SeqCst);
                async move {
                    gate.notified().await;
                    Ok::<_, std::convert::Infallible>(Status::ok("").into_http())
                }
            })
        };
        let service = LimitLayer::new(&Limits {
            max_concurrent_calls: 1,
            rate_limit_per_sec: 0,
            ..Limits::default()
        })
        .layer(inner);
        let grpc_status = |response: &http::Response<tonic::body::Body>| {
            response
                .headers()
                .get("grpc-status")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };

        // The first call holds the only slot while its handler waits.
        let first = tokio::spawn(service.clone().oneshot(http::Request::new(())));
        while started.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        let refused = service
            .clone()
            .oneshot(http::Request::new(()))
            .await
            .unwrap();
        assert_eq!(grpc_status(&refused).as_deref(), Some("8"), "{refused:?}");
        assert!(refused.headers().get(RETRY_AFTER_MS).is_some());
        assert_eq!(started.load(Ordering::SeqCst), 1, "the refused call ran");

        // Once the first call is answered, the slot is free again.
        gate.notify_one();
        let answered = first.await.unwrap().unwrap();
        assert_eq!(grpc_status(&answered).as_deref(), Some("0"));
        let next = tokio::spawn(service.clone().oneshot(http::Request::new(())));
        while started.load(Ordering::SeqCst) == 1 {
            tokio::task::yield_now().await;
        }
        gate.notify_one();
        let next = next.await.unwrap().unwrap();
        assert_eq!(grpc_status(&next).as_deref(), Some("0"));
    }

    #[test]
    fn each_subject_has_its_own_bucket_and_the_refusal_says_when_to_retry() {
        let layer = LimitLayer::new(&Limits {
            rate_limit_per_sec: 1,
            rate_limit_burst: 2,
            ..Limits::default()
        });
        let alice = principal("alice");
        assert!(layer.state.check_rate(Some(&alice)).is_ok());
        assert!(layer.state.check_rate(Some(&alice)).is_ok());
        let refused = layer.state.check_rate(Some(&alice)).unwrap_err();
        assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
        assert!(refused.message().contains("retry after"), "{refused:?}");
        assert!(refused.metadata().get(RETRY_AFTER_MS).is_some());
        // Another subject is unaffected, and calls without a principal are not limited.
        assert!(layer.state.check_rate(Some(&principal("bob"))).is_ok());
        assert!(layer.state.check_rate(None).is_ok());
    }

    #[test]
    fn zero_rate_turns_the_rate_limit_off() {
        let layer = LimitLayer::new(&Limits {
            rate_limit_per_sec: 0,
            ..Limits::default()
        });
        let alice = principal("alice");
        for _ in 0..10_000 {
            assert!(layer.state.check_rate(Some(&alice)).is_ok());
        }
    }
}
