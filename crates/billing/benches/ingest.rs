//! report_usage ingestion in process: batches of 1,000 fresh events (new
//! idempotency keys each time) through `usage::report` in one write unit of
//! work, as the tool runs them; SQLite and (with
//! AUTHGATE_TEST_DATABASE_URL) PostgreSQL.
//!
//!   cargo bench -p authgate-billing --bench ingest

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use diesel_async::RunQueryDsl;

use authgate_billing::{Feature, NewPlan};
use authgate_billing::{UsageEvent, report_usage as report};
use authgate_core::{Clock as _, SystemClock, ToolError, with_conn};
use authgate_store::testing;

const USERS: usize = 10;

fn bench(c: &mut Criterion) {
    let (rt, dbs) = testing::bench_databases();
    let mut group = c.benchmark_group("report_usage");
    group.throughput(Throughput::Elements(1000));
    group.sample_size(30);
    for db in &dbs {
        let store = rt.block_on(db.store());
        let now = SystemClock.now();
        let project = rt
            .block_on(store.write(async |c| {
                let (p, _) = authgate_project::create_project(c, "Bench", "live", now).await?;
                let features = [Feature { key: "api_calls".into(), limit: Some(1_000_000_000) }];
                let new = NewPlan {
                    name: "Metered",
                    key: None,
                    description: None,
                    monthly_cents: None,
                    yearly_cents: None,
                    currency: "usd",
                    features: &features,
                };
                authgate_billing::create_plan(c, &p.id, new, now).await?;
                let at = authgate_core::time::to_micros(now);
                for u in 0..USERS {
                    let q = format!(
                        "INSERT INTO end_users (id, project_id, email, name, email_verified, metadata, created_at, updated_at) \
                         VALUES ('usr_b{u}', '{}', 'u{u}@example.com', NULL, TRUE, '{{}}', {at}, {at})",
                        p.id
                    );
                    with_conn!(c, c => { diesel::sql_query(q.as_str()).execute(c).await?; });
                }
                Ok::<_, ToolError>(p.id)
            }))
            .expect("fixture");
        let counter = AtomicU64::new(0);
        let batch = || -> Vec<UsageEvent> {
            (0..1000)
                .map(|i| {
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    UsageEvent {
                        user_id: format!("usr_b{}", i % USERS),
                        meter: "api_calls".into(),
                        quantity: 1 + (n % 5) as i64,
                        timestamp: None,
                        idempotency_key: format!("bench-{n}"),
                    }
                })
                .collect()
        };
        let first = rt
            .block_on(store.write(async |c| report(c, &project, &batch(), SystemClock.now()).await))
            .expect("report");
        assert_eq!(first.accepted, 1000, "{first:?}");
        group.bench_function(format!("batch_1000/{}", db.backend.name()), |b| {
            b.iter_batched(
                batch,
                |events| {
                    rt.block_on(
                        store
                            .write(async |c| report(c, &project, &events, SystemClock.now()).await),
                    )
                    .expect("report")
                },
                criterion::BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
