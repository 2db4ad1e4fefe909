//! verify_token in process: the full check (signature against the
//! project's key, project, times, and the session's row) and the offline
//! part alone, on SQLite and (with AUTHGATE_TEST_DATABASE_URL) PostgreSQL.
//!
//!   cargo bench -p authgate-identity --bench verify

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use authgate_core::{Clock as _, RequestMeta, ServerKeys, SystemClock};
use authgate_identity::{Auth, HashParams, IdentitySettings, Passwords, SignIn, SignUp};
use authgate_store::testing;

const ISSUER: &str = "http://127.0.0.1:8080";

fn bench(c: &mut Criterion) {
    let (rt, dbs) = testing::bench_databases();
    let mut group = c.benchmark_group("verify_token");
    group.throughput(Throughput::Elements(1));
    let mut fixtures = Vec::new();
    for db in &dbs {
        let (store, project, token) = rt.block_on(async {
            let store = db.store().await;
            let now = SystemClock.now();
            let (project, _) = store
                .write(async |c| authgate_project::create_project(c, "Bench", "live", now).await)
                .await
                .expect("project");
            let passwords = Passwords::for_this_machine(HashParams::default()).expect("pool");
            let auth = Auth::new(
                store.clone(),
                Arc::new(SystemClock),
                Arc::new(ServerKeys::derive(b"bench-secret-0123456789abcdef")),
                IdentitySettings::new(ISSUER, passwords),
            );
            let meta = RequestMeta::new(Some("127.0.0.1".into()), None, None);
            let up = SignUp {
                email: "ada@example.com".into(),
                password: "correct horse battery".into(),
                name: None,
            };
            auth.sign_up(&project.id, up, &meta).await.expect("sign-up");
            let signed = auth
                .sign_in(
                    &project.id,
                    SignIn {
                        email: "ada@example.com".into(),
                        password: "correct horse battery".into(),
                        mfa_code: None,
                    },
                    &meta,
                )
                .await
                .expect("sign-in");
            (store, project.id, signed.access_token)
        });
        let backend = db.backend.name();
        let verify = || {
            rt.block_on(store.read(async |c| {
                authgate_identity::verify_access_token(
                    c,
                    &project,
                    ISSUER,
                    &token,
                    SystemClock.now(),
                )
                .await
            }))
            .expect("verify")
        };
        // Sanity: the token is valid, so the full path is what is measured.
        let v = verify();
        assert!(v.valid, "{v:?}");
        group.bench_function(format!("full/{backend}"), |b| b.iter(verify));
        group.bench_function(format!("offline/{backend}"), |b| {
            b.iter(|| {
                rt.block_on(store.read(async |c| {
                    authgate_identity::check_access_token(
                        c,
                        &project,
                        ISSUER,
                        &token,
                        SystemClock.now(),
                    )
                    .await
                }))
                .expect("check")
            })
        });
        fixtures.push((store, project, token));
    }
    group.finish();
    // Throughput with 16 verifications in flight (what a busy gateway
    // sees): on PostgreSQL the round trips overlap.
    let mut group = c.benchmark_group("verify_token_16_in_flight");
    group.throughput(Throughput::Elements(16));
    for (db, (store, project, token)) in dbs.iter().zip(&fixtures) {
        group.bench_function(format!("full/{}", db.backend.name()), |b| {
            b.iter(|| {
                rt.block_on(futures::future::join_all((0..16).map(|_| {
                    store.read(async |c| {
                        authgate_identity::verify_access_token(
                            c,
                            project,
                            ISSUER,
                            token,
                            SystemClock.now(),
                        )
                        .await
                    })
                })))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
