//! Spending a request's budgets: one token of the key's bucket and one of
//! the project's (all its keys together). A refusal says which ran out and
//! is audited at most once a window per key.

use std::time::Instant;

use authgate_core::{Budget, Caller, ErrorCode, EventType, RateBudget};

use super::refusal::{Refusal, RefusalEvent};
use crate::app::AppState;
use crate::ratelimit::Decision;

pub(crate) fn spend_budgets(app: &AppState, caller: &Caller) -> Result<RateBudget, Box<Refusal>> {
    let now = Instant::now();
    let limits = &app.limits;
    let key = limits.per_key.take(&caller.key_id, now);
    let project = match key {
        Decision::Allowed { .. } => limits.per_project.take(&caller.project.id, now),
        limited => limited,
    };
    match (key, project) {
        (Decision::Allowed { remaining }, Decision::Allowed { remaining: shared }) => {
            let (k, p) = (limits.per_key.limit(), limits.per_project.limit());
            Ok(RateBudget {
                per_second: k.per_second,
                burst: k.burst,
                remaining,
                project: Budget {
                    per_second: p.per_second,
                    burst: p.burst,
                    remaining: shared,
                },
            })
        }
        (Decision::Limited { retry_after }, _) | (_, Decision::Limited { retry_after }) => {
            let by_key = matches!(key, Decision::Limited { .. });
            Err(Box::new(limited(app, caller, by_key, retry_after, now)))
        }
    }
}

fn limited(
    app: &AppState, caller: &Caller, by_key: bool, retry_after: std::time::Duration, now: Instant,
) -> Refusal {
    let limits = &app.limits;
    let which = if by_key {
        let l = limits.per_key.limit();
        format!(
            "this key may make {} requests/s (burst {})",
            l.per_second, l.burst
        )
    } else {
        let l = limits.per_project.limit();
        format!(
            "this project's keys together may make {} requests/s (burst {})",
            l.per_second, l.burst
        )
    };
    crate::metrics::rate_limited(if by_key { "per_key" } else { "per_project" });
    let secs = retry_after.as_secs_f64().ceil().max(1.0) as u64;
    let audit = limits
        .refusals
        .should_record(&caller.key_id, "rate_limited", now)
        .then(|| RefusalEvent {
            project_id: caller.project.id.clone(),
            key_id: caller.key_id.clone(),
            event_type: EventType::ApiKeyRateLimited,
            error_code: ErrorCode::RateLimited,
            targets: vec![caller.key_id.clone()],
        });
    Refusal {
        audit,
        ..Refusal::too_many(
            retry_after,
            &format!("Rate limited: {which}; retry after {secs} s"),
        )
    }
}
