//! The audit log on each backend: record, filter, page, types, isolation,
//! bounded rows, exact target matching, and the index behind time filters.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{Duration, Utc};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;

use authgate_audit::{EventFilter, NewAuditEvent, list_event_types, list_events, record};
use authgate_core::pagination::{CursorCodec, PageRequest};
use authgate_core::{ActorType, EventType, Page, ToolError, new_id};
use authgate_store::{Backend, Store, testing, with_conn};

fn event(project: &str, event_type: EventType, actor: &str, targets: &[&str]) -> NewAuditEvent {
    NewAuditEvent {
        actor_type: ActorType::ApiKey,
        actor_id: Some(actor.into()),
        targets: targets.iter().map(|t| t.to_string()).collect(),
        ..NewAuditEvent::new(project, event_type)
    }
}

async fn project(store: &Store, name: &str) -> String {
    store
        .write(async |c| authgate_project::create_project(c, name, "live", Utc::now()).await)
        .await
        .expect("project")
        .0
        .id
}

async fn put(store: &Store, e: NewAuditEvent, at: chrono::DateTime<Utc>) -> String {
    store
        .write(async |c| record(c, e, at).await)
        .await
        .expect("record")
}

fn page(list: &'static str, project: &str, limit: u32, cursor: Option<&str>) -> PageRequest {
    PageRequest::new(
        CursorCodec::new([1; 32]),
        list,
        project,
        Some(limit),
        cursor,
    )
    .expect("request")
}

async fn list(
    store: &Store, project: &str, filter: EventFilter, req: PageRequest,
) -> Page<authgate_audit::AuditEvent> {
    store
        .read(async |c| list_events(c, project, &filter, &req).await)
        .await
        .expect("list")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_filter_page_and_stay_in_their_project() {
    testing::each_store(async |store, _| {
        let a = project(store, "A").await;
        let b = project(store, "B").await;
        let (cb1, cb2, key9) = (new_id("cb"), new_id("cb"), new_id("key"));
        let t0 = Utc::now() - Duration::hours(2);
        put(
            store,
            event(&a, EventType::Tool("add_callback"), "key_1", &[&cb1]),
            t0,
        )
        .await;
        put(
            store,
            event(&a, EventType::Tool("revoke_api_key"), "key_1", &[&key9]),
            t0 + Duration::hours(1),
        )
        .await;
        put(
            store,
            event(&a, EventType::Tool("add_callback"), "key_2", &[&cb2]),
            Utc::now(),
        )
        .await;
        put(
            store,
            event(&b, EventType::Tool("add_callback"), "key_b", &[&cb1]),
            Utc::now(),
        )
        .await;
        let all = list(store, &a, EventFilter::default(), page("e", &a, 100, None)).await;
        assert_eq!(all.data.len(), 3, "B's event is not listed");
        assert_eq!(
            all.data[0].actor.id.as_deref(),
            Some("key_2"),
            "newest first"
        );
        let by_type = EventFilter {
            event_type: Some("tool.add_callback".into()),
            ..Default::default()
        };
        assert_eq!(
            list(store, &a, by_type, page("e", &a, 100, None))
                .await
                .data
                .len(),
            2
        );
        let by_actor = EventFilter {
            actor_id: Some("key_1".into()),
            ..Default::default()
        };
        assert_eq!(
            list(store, &a, by_actor, page("e", &a, 100, None))
                .await
                .data
                .len(),
            2
        );
        let by_target = EventFilter {
            target_id: Some(cb1.clone()),
            ..Default::default()
        };
        let targeted = list(store, &a, by_target, page("e", &a, 100, None)).await;
        assert_eq!(targeted.data.len(), 1, "only A's event that names cb1");
        assert_eq!(targeted.data[0].targets, vec![cb1.clone()]);
        let window = EventFilter {
            since: Some(t0 + Duration::minutes(30)),
            until: Some(t0 + Duration::minutes(90)),
            ..Default::default()
        };
        let window = list(store, &a, window, page("e", &a, 100, None)).await;
        assert_eq!(window.data.len(), 1);
        assert_eq!(window.data[0].event_type, "tool.revoke_api_key");
        let first = list(store, &a, EventFilter::default(), page("e", &a, 2, None)).await;
        assert!(first.has_more);
        let second = list(
            store,
            &a,
            EventFilter::default(),
            page("e", &a, 2, first.next_cursor.as_deref()),
        )
        .await;
        assert_eq!(second.data.len(), 1);
        assert!(!second.has_more);
        assert_eq!(second.data[0].event_type, "tool.add_callback");
        assert!(second.data[0].created_at < first.data[1].created_at);
        let types_req = page("t", &a, 1, None);
        let types = store
            .read(async |c| list_event_types(c, &a, &types_req).await)
            .await
            .expect("types");
        assert_eq!(
            types.data,
            vec![EventType::Tool("add_callback").to_string()]
        );
        let next = page("t", &a, 10, types.next_cursor.as_deref());
        let rest = store
            .read(async |c| list_event_types(c, &a, &next).await)
            .await
            .expect("types");
        assert_eq!(
            rest.data,
            vec![EventType::Tool("revoke_api_key").to_string()]
        );
    })
    .await;
}

/// The target filter matches exactly, the same on both backends (no LIKE
/// wildcards, no case folding), and rows stay bounded: at most 20 targets,
/// only well-formed ids, client name and version cut to 100 characters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn targets_match_exactly_and_rows_stay_bounded() {
    testing::each_store(async |store, backend| {
        let a = project(store, "A").await;
        let target = new_id("usr");
        put(
            store,
            event(&a, EventType::SignOut, "key_1", &[&target]),
            Utc::now(),
        )
        .await;
        let lower = format!("usr_{}", target[4..].to_lowercase());
        // `_` and `%` are LIKE wildcards; an exact match treats them as text.
        let one_char_wildcard = format!("{}_", &target[..target.len() - 1]);
        for (probe, hits) in [
            (target.clone(), 1),
            (lower, 0),
            (one_char_wildcard, 0),
            ("usr_%".to_owned(), 0),
        ] {
            let filter = EventFilter {
                target_id: Some(probe.clone()),
                ..Default::default()
            };
            let found = list(store, &a, filter, page("e", &a, 100, None)).await;
            assert_eq!(found.data.len(), hits, "{probe} on {:?}", backend);
        }
        // Junk targets and huge client strings do not grow the row.
        let many: Vec<String> = (0..50).map(|_| new_id("key")).collect();
        let mut targets: Vec<&str> = many.iter().map(String::as_str).collect();
        let huge = "x".repeat(100_000);
        targets.push(&huge);
        targets.push("not an id");
        let mut e = event(&a, EventType::SessionRevoked, "key_1", &targets);
        e.client_name = Some("n".repeat(5_000));
        e.client_version = Some("v".repeat(5_000));
        put(store, e, Utc::now()).await;
        let newest = list(store, &a, EventFilter::default(), page("e", &a, 1, None)).await;
        let row = &newest.data[0];
        assert_eq!(row.targets.len(), 20);
        assert!(row.targets.iter().all(|t| t.starts_with("key_")));
        assert_eq!(row.client.name.as_deref().map(str::len), Some(100));
        assert_eq!(row.client.version.as_deref().map(str::len), Some(100));
    })
    .await;
}

#[derive(QueryableByName)]
struct SqlitePlan {
    #[diesel(sql_type = diesel::sql_types::Text)]
    detail: String,
}

#[derive(QueryableByName)]
struct PgPlan {
    #[diesel(sql_type = diesel::sql_types::Text, column_name = "QUERY PLAN")]
    line: String,
}

/// A `since`/`until` query is planned on the `(project_id, created_at, id)`
/// index (`audit_events_project_created_idx`), on both backends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_filters_use_the_created_at_index() {
    testing::each_store(async |store, backend| {
        let a = project(store, "A").await;
        let sql = format!(
            "SELECT id FROM audit_events WHERE project_id = '{a}' AND created_at >= 1 \
             AND created_at < 2 ORDER BY created_at DESC, id DESC LIMIT 21"
        );
        let plan: Vec<String> = store
            .read(async |c| {
                let lines: Vec<String> = with_conn!(c, c => {
                    match backend {
                        Backend::Sqlite => {
                            let rows: Vec<SqlitePlan> =
                                diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
                                    .load(c)
                                    .await?;
                            rows.into_iter().map(|r| r.detail).collect()
                        }
                        Backend::Postgres => {
                            // A tiny table would be scanned whole; ask what
                            // the planner does once scanning costs more.
                            diesel::sql_query("SET LOCAL enable_seqscan = off")
                                .execute(c)
                                .await?;
                            let rows: Vec<PgPlan> =
                                diesel::sql_query(format!("EXPLAIN {sql}")).load(c).await?;
                            rows.into_iter().map(|r| r.line).collect()
                        }
                    }
                });
                Ok::<_, ToolError>(lines)
            })
            .await
            .expect("plan");
        let plan = plan.join("\n");
        assert!(
            plan.contains("audit_events_project_created_idx"),
            "{backend:?}: {plan}"
        );
    })
    .await;
}
