//! The permission check in process: a project with 100 roles and 1,000
//! grants (10 per role over 20 resources, a third with a CEL condition),
//! one organization, and a member holding one of the roles. Measures
//! `check_permission` (its reads and the decision) in a read unit of work, on
//! SQLite and (with AUTHGATE_TEST_DATABASE_URL) PostgreSQL, and prints the
//! p50 and p99 of 20,000 single checks before criterion's figures.
//!
//!   cargo bench -p authgate-rbac --bench check

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use diesel_async::RunQueryDsl;
use serde_json::{Value, json};

use authgate_core::{Clock as _, SystemClock, ToolError, with_conn};
use authgate_rbac::Question;
use authgate_rbac::{Grant, NewRole};
use authgate_store::{Store, testing};

const ROLES: usize = 100;
const GRANTS_PER_ROLE: usize = 10;
const RESOURCES: usize = 20;

async fn setup(store: &Store) -> (String, Value) {
    let now = SystemClock.now();
    let (project, _) = store
        .write(async |c| authgate_project::create_project(c, "Bench", "live", now).await)
        .await
        .expect("project");
    let p = project.id.clone();
    store
        .write(async |c| {
            for r in 0..RESOURCES {
                let actions: Vec<String> = ["read", "write", "delete", "publish"].map(String::from).to_vec();
                authgate_rbac::create_resource(c, &p, &format!("res{r}"), None, &actions, now).await?;
            }
            for i in 0..ROLES {
                let grants: Vec<Grant> = (0..GRANTS_PER_ROLE)
                    .map(|g| Grant {
                        resource: format!("res{}", (i + g) % RESOURCES),
                        actions: vec![["read", "write", "delete"][g % 3].to_owned()],
                        condition: (g % 3 == 2).then(|| "resource.owner_id == user.id".to_owned()),
                    })
                    .collect();
                let new = NewRole {
                    key: &format!("role{i}"),
                    name: None,
                    permissions: &[],
                    is_default: false,
                    grants: &grants,
                };
                authgate_rbac::create_role(c, &p, new, now).await?;
            }
            let at = authgate_core::time::to_micros(now);
            let sql = [
                format!("INSERT INTO end_users (id, project_id, email, name, email_verified, metadata, created_at, updated_at) VALUES ('usr_bench', '{p}', 'ada@example.com', NULL, TRUE, '{{}}', {at}, {at})"),
                format!("INSERT INTO organizations (id, project_id, name, slug, image_url, member_limit, metadata, created_at, updated_at) VALUES ('org_bench', '{p}', 'Acme', 'acme', NULL, NULL, '{{}}', {at}, {at})"),
                format!("INSERT INTO memberships (id, project_id, org_id, user_id, role, created_at, updated_at) VALUES ('mem_bench', '{p}', 'org_bench', 'usr_bench', 'role50', {at}, {at})"),
            ];
            for q in &sql {
                with_conn!(c, c => { diesel::sql_query(q.as_str()).execute(c).await?; });
            }
            Ok::<_, ToolError>(())
        })
        .await
        .expect("fixture");
    // role50's grant 2 is `delete` on res52%20 = res12 under the condition.
    (p, json!({"resource": {"owner_id": "usr_bench"}}))
}

fn question<'a>(context: &'a Value) -> Question<'a> {
    Question {
        user_id: "usr_bench",
        org_id: "org_bench",
        resource: "res12",
        action: "delete",
        context: Some(context),
    }
}

fn bench(c: &mut Criterion) {
    let (rt, dbs) = testing::bench_databases();
    let mut group = c.benchmark_group("permission_check");
    group.throughput(Throughput::Elements(1));
    for db in &dbs {
        let backend = db.backend.name();
        let store = rt.block_on(db.store());
        let (project, context) = rt.block_on(setup(&store));
        let check = || {
            rt.block_on(store.read(async |conn| {
                authgate_rbac::check_permission(conn, &project, question(&context)).await
            }))
            .expect("check")
        };
        let d = check();
        assert!(
            d.allowed
                && d.matched_grant
                    .as_ref()
                    .is_some_and(|g| g.condition.is_some()),
            "{d:?}"
        );
        // Percentiles of single checks (criterion reports means).
        let mut times: Vec<Duration> = (0..20_000)
            .map(|_| {
                let t = Instant::now();
                check();
                t.elapsed()
            })
            .collect();
        times.sort();
        println!(
            "permission_check/{backend}: p50 {:?}, p99 {:?} over {} checks",
            times[times.len() / 2],
            times[times.len() * 99 / 100],
            times.len()
        );
        group.bench_function(format!("full/{backend}"), |b| b.iter(check));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
