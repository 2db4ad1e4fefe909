//! The listener: HTTP/1.1 connections served by the router, each socket
//! with `TCP_NODELAY` (without it each SSE-framed answer waits ~43 ms on
//! Nagle + delayed ACK), a deadline on every request's headers (a client
//! that trickles them, or a kept-alive connection left idle, is closed at
//! `request_read_timeout`), and a graceful end in two steps: on shutdown
//! no connection is accepted and the requests in flight that end by
//! themselves (anything but a GET, whose answer may be a stream that never
//! ends) finish, bounded by [`DRAIN`]; only then are MCP sessions and
//! streams ended (`streams`), so a call in flight is answered, not cut.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

/// How long to wait before accepting again after an accept error (out of
/// file descriptors, say), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// How long requests in flight may take to finish after a shutdown, before
/// sessions and streams are ended anyway.
pub const DRAIN: Duration = Duration::from_secs(5);

/// The requests in flight that end by themselves.
#[derive(Clone, Default)]
struct InFlight(Arc<(AtomicUsize, tokio::sync::Notify)>);

struct Entered(InFlight);

impl InFlight {
    fn enter(&self) -> Entered {
        self.0.0.fetch_add(1, Ordering::AcqRel);
        Entered(self.clone())
    }

    /// Waits until none is in flight.
    async fn idle(&self) {
        loop {
            let notified = self.0.1.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.0.0.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for Entered {
    fn drop(&mut self) {
        if self.0.0.0.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.0.1.notify_waiters();
        }
    }
}

/// An answer's body that counts its request in flight until it ends.
struct Tracked {
    inner: Body,
    _entered: Entered,
}

impl hyper::body::Body for Tracked {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>, cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// Serves `router` on `listener` until `accept` is cancelled; then lets the
/// requests in flight finish (at most [`DRAIN`]), cancels `streams` (MCP
/// sessions, SSE) and waits for the connections (the caller bounds it).
pub async fn serve(
    listener: TcpListener, router: Router, read_timeout: Duration, accept: CancellationToken,
    streams: CancellationToken,
) -> std::io::Result<()> {
    let in_flight = InFlight::default();
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(read_timeout);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!(error = %err, "could not accept a connection");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            () = accept.cancelled() => break,
        };
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(error = %err, "could not set TCP_NODELAY");
        }
        let router = router.clone();
        let in_flight = in_flight.clone();
        let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let entered = (req.method() != hyper::Method::GET).then(|| in_flight.enter());
            let mut req = req.map(Body::new);
            req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
            let answer = router.clone().oneshot(req);
            async move {
                let resp = answer.await?;
                Ok::<_, std::convert::Infallible>(match entered {
                    Some(entered) => resp.map(|inner| {
                        Body::new(Tracked {
                            inner,
                            _entered: entered,
                        })
                    }),
                    None => resp,
                })
            }
        });
        let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(err) = conn.await {
                tracing::debug!(error = %err, "connection ended with an error");
            }
        });
    }
    if tokio::time::timeout(DRAIN, in_flight.idle()).await.is_err() {
        tracing::warn!("requests still in flight after the drain; ending them");
    }
    streams.cancel();
    graceful.shutdown().await;
    Ok(())
}
