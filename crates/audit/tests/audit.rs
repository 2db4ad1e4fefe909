//! The audit log on each backend: record, filter, page, types, isolation.

use chrono::{Duration, Utc};

use authgate_audit::{EventFilter, NewAuditEvent, list_event_types, list_events, record};
use authgate_core::pagination::CursorCodec;
use authgate_store::testing;

fn event(project: &str, event_type: &str, actor: &str, targets: &[&str]) -> NewAuditEvent {
    NewAuditEvent {
        project_id: project.into(),
        event_type: event_type.into(),
        actor_type: "api_key".into(),
        actor_id: Some(actor.into()),
        targets: targets.iter().map(|t| t.to_string()).collect(),
        outcome: "success".into(),
        ..NewAuditEvent::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_filter_page_and_stay_in_their_project() {
    for db in testing::databases().await {
        let store = db.store().await;
        let (a, _) = authgate_project::create_project(&store, "A", "live", Utc::now())
            .await
            .expect("a");
        let (b, _) = authgate_project::create_project(&store, "B", "live", Utc::now())
            .await
            .expect("b");
        let t0 = Utc::now() - Duration::hours(2);
        record(
            &store,
            event(&a.id, "tool.add_callback", "key_1", &["cb_1"]),
            t0,
        )
        .await
        .expect("record");
        record(
            &store,
            event(&a.id, "tool.revoke_api_key", "key_1", &["key_9"]),
            t0 + Duration::hours(1),
        )
        .await
        .expect("record");
        record(
            &store,
            event(&a.id, "tool.add_callback", "key_2", &["cb_2"]),
            Utc::now(),
        )
        .await
        .expect("record");
        record(
            &store,
            event(&b.id, "tool.add_callback", "key_b", &["cb_1"]),
            Utc::now(),
        )
        .await
        .expect("record");
        let codec = CursorCodec::new([1; 32]);
        let req = |limit| {
            codec
                .request("audit_events", &a.id, Some(limit), None)
                .expect("request")
        };
        let list = |filter: EventFilter, limit| {
            let store = store.clone();
            let a = a.id.clone();
            let codec = codec.clone();
            let req = req(limit);
            async move {
                list_events(&store, &a, &filter, &req, &codec)
                    .await
                    .expect("list")
            }
        };
        let all = list(EventFilter::default(), 100).await;
        assert_eq!(all.data.len(), 3, "B's event is not listed");
        assert_eq!(
            all.data[0].actor.id.as_deref(),
            Some("key_2"),
            "newest first"
        );
        let by_type = list(
            EventFilter {
                event_type: Some("tool.add_callback".into()),
                ..Default::default()
            },
            100,
        )
        .await;
        assert_eq!(by_type.data.len(), 2);
        let by_actor = list(
            EventFilter {
                actor_id: Some("key_1".into()),
                ..Default::default()
            },
            100,
        )
        .await;
        assert_eq!(by_actor.data.len(), 2);
        let by_target = list(
            EventFilter {
                target_id: Some("cb_1".into()),
                ..Default::default()
            },
            100,
        )
        .await;
        assert_eq!(by_target.data.len(), 1);
        let window = list(
            EventFilter {
                since: Some(t0 + Duration::minutes(30)),
                until: Some(t0 + Duration::minutes(90)),
                ..Default::default()
            },
            100,
        )
        .await;
        assert_eq!(window.data.len(), 1);
        assert_eq!(window.data[0].event_type, "tool.revoke_api_key");
        let first = list(EventFilter::default(), 2).await;
        assert!(first.has_more);
        let req2 = codec
            .request("audit_events", &a.id, Some(2), first.next_cursor.as_deref())
            .expect("cursor");
        let second = list_events(&store, &a.id, &EventFilter::default(), &req2, &codec)
            .await
            .expect("page 2");
        assert_eq!(second.data.len(), 1);
        assert!(!second.has_more);
        let types_req = codec
            .request("audit_event_types", &a.id, Some(1), None)
            .expect("request");
        let types = list_event_types(&store, &a.id, &types_req, &codec)
            .await
            .expect("types");
        assert_eq!(types.data, vec!["tool.add_callback".to_string()]);
        let next = codec
            .request(
                "audit_event_types",
                &a.id,
                Some(10),
                types.next_cursor.as_deref(),
            )
            .expect("cursor");
        let rest = list_event_types(&store, &a.id, &next, &codec)
            .await
            .expect("types");
        assert_eq!(rest.data, vec!["tool.revoke_api_key".to_string()]);
    }
}
