//! Webhooks in process: how fast the worker (`run_worker`, as the gateway
//! runs it) drains its queue to a loopback receiver (deliveries per second:
//! claim, sign, POST, record), and what
//! the outbox write adds to the unit of work of a change (a sign-up):
//! nothing listening (one indexed read), one endpoint listening (the read,
//! the message and its delivery), against the same unit without it. SQLite and
//! (with AUTHGATE_TEST_DATABASE_URL) PostgreSQL.
//!
//!   cargo bench -p authgate-webhooks --bench deliver

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;

use authgate_audit::NewAuditEvent;
use authgate_core::changes::{ChangeType, publish};
use authgate_core::{Clock as _, EventType, SystemClock, ToolError};
use authgate_store::{Store, testing};
use authgate_webhooks::{NewEndpoint, Outbox, WebhookSettings, WorkerOptions};
use tokio_util::sync::CancellationToken;

const KEY: [u8; 32] = [7; 32];
const QUEUED: u64 = 2_000;

/// A receiver on loopback answering 200 to everything, on a thread and
/// runtime of its own (as another process would be).
fn receiver() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    listener.set_nonblocking(true).expect("nonblocking");
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("rt");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(|_req| async {
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(
                            http_body_util::Full::new(bytes::Bytes::from_static(b"ok")),
                        ))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
    });
    port
}

/// A user as get_end_user shows one: the size of a sign-up's payload.
fn user() -> serde_json::Value {
    json!({"id": "usr_01JD8X3V9Q4K7M2N5P6R8S0T1W", "email": "ada@example.com", "name": "Ada",
        "email_verified": false, "has_password": true, "metadata": {}, "phone_verified": false,
        "created_at": "2026-12-07T19:13:32.943720Z", "updated_at": "2026-12-07T19:13:32.943720Z",
        "last_sign_in_at": null, "linked_accounts": [], "password": {"set": true,
        "updated_at": "2026-12-07T19:13:32.943720Z"}, "mfa": {"enrolled": false, "factors": []}})
}

async fn project(store: &Store, endpoints: &[&str]) -> String {
    let now = SystemClock.now();
    store
        .write(async |c| {
            let (p, _) = authgate_project::create_project(c, "Bench", "live", now).await?;
            for url in endpoints {
                let new = NewEndpoint {
                    url: (*url).into(),
                    events: vec!["*".into()],
                    description: None,
                };
                authgate_webhooks::create_endpoint(c, &KEY, &p.id, new, true, now).await?;
            }
            Ok::<_, ToolError>(p.id)
        })
        .await
        .expect("fixture")
}

async fn queue(store: &Store, project: &str, n: u64) {
    let data = user();
    for chunk in (0..n).step_by(500) {
        let size = (n - chunk).min(500);
        store
            .write(async |c| {
                for _ in 0..size {
                    publish(
                        c,
                        project,
                        ChangeType::UserCreated,
                        &data,
                        SystemClock.now(),
                    )
                    .await?;
                }
                Ok::<_, ToolError>(())
            })
            .await
            .expect("queued");
    }
}

fn bench(c: &mut Criterion) {
    let (rt, dbs) = testing::bench_databases();
    let port = receiver();
    let url = format!("http://127.0.0.1:{port}/hook");
    let settings = WebhookSettings {
        allow_loopback: true,
        ..WebhookSettings::default()
    };
    let options = WorkerOptions::new(settings.clone(), KEY, Arc::new(SystemClock));
    for db in &dbs {
        let store = rt.block_on(db.store());
        Outbox::attach(&store);
        let name = db.backend.name();
        let listened = rt.block_on(project(&store, &[&url]));
        let quiet = rt.block_on(project(&store, &[]));
        let urls: Vec<String> = (0..8).map(|i| format!("{url}/{i}")).collect();
        let eight = rt.block_on(project(
            &store,
            &urls.iter().map(String::as_str).collect::<Vec<_>>(),
        ));

        let mut group = c.benchmark_group("deliveries");
        group.throughput(Throughput::Elements(QUEUED));
        group.sample_size(10);
        // One endpoint (bound by its share of attempts in flight), and the
        // same number of deliveries spread over eight endpoints.
        for (label, project, messages) in [
            ("one_endpoint", &listened, QUEUED),
            ("eight_endpoints", &eight, QUEUED / 8),
        ] {
            group.bench_function(format!("drain_{QUEUED}_{label}/{name}"), |b| {
                b.iter_custom(|iters| {
                    let mut spent = Duration::ZERO;
                    for _ in 0..iters {
                        rt.block_on(queue(&store, project, messages));
                        let start = Instant::now();
                        let stop = CancellationToken::new();
                        let worker = rt.spawn(authgate_webhooks::run_worker(
                            store.clone(),
                            options.clone(),
                            stop.clone(),
                        ));
                        while rt
                            .block_on(authgate_webhooks::queue_depth(&store))
                            .expect("depth")
                            > 0
                        {
                            std::thread::sleep(Duration::from_millis(2));
                        }
                        spent += start.elapsed();
                        stop.cancel();
                        let _ = rt.block_on(worker);
                    }
                    spent
                })
            });
        }
        group.finish();

        // A sign-up's unit of work writes rows (the user, its password,
        // the session, the audit event); one audit event stands in for them,
        // so the difference is what the outbox adds to a unit that writes.
        let mut group = c.benchmark_group("outbox_write");
        group.sample_size(50);
        let data = user();
        let unit = async |p: &str, outbox: bool| {
            store
                .write(async |c| {
                    let now = SystemClock.now();
                    NewAuditEvent::new(p, EventType::SignUp)
                        .record(c, now)
                        .await?;
                    if outbox {
                        publish(c, p, ChangeType::UserCreated, &data, now).await?;
                    }
                    Ok::<_, ToolError>(())
                })
                .await
                .expect("unit")
        };
        group.bench_function(format!("write_unit_alone/{name}"), |b| {
            b.iter(|| rt.block_on(unit(&quiet, false)))
        });
        group.bench_function(format!("with_outbox_nobody_listens/{name}"), |b| {
            b.iter(|| rt.block_on(unit(&quiet, true)))
        });
        group.bench_function(format!("with_outbox_one_endpoint/{name}"), |b| {
            b.iter(|| rt.block_on(unit(&listened, true)))
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
