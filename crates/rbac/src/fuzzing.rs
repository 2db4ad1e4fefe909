//! Fuzz harness body for grant conditions (issue 25), driven by `fuzz/`
//! under libFuzzer and replayed on stable from `fuzz/corpus/cel_condition`.

use serde_json::json;

use crate::conditions::{MAX_CONDITION, Variables, compile_condition, evaluate};

/// A condition the save accepts is within the size cap and, evaluated
/// over everyday values, gives a boolean or a reason (the budget refusal
/// among them) — the same one twice; a source over the cap is refused.
/// libFuzzer's per-input time limit bounds the evaluation's time.
pub fn cel_condition(data: &[u8]) {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    let compiled = compile_condition("condition", source);
    if source.len() > MAX_CONDITION {
        assert!(
            compiled.is_err(),
            "a source over {MAX_CONDITION} bytes was accepted"
        );
    }
    if compiled.is_err() {
        return;
    }
    let vars = Variables {
        user: json!({"id": "usr_1", "email": "a@example.com", "groups": ["eng", "ops"], "age": 30}),
        org: json!({"id": "org_1", "plan": "pro", "seats": 5}),
        resource: json!({"id": "doc_1", "owner_id": "usr_1", "tags": ["x", "y"], "size": 1024}),
        context: json!({"ip": "127.0.0.1", "mfa": true, "hour": 13}),
    };
    let first = evaluate(source, &vars);
    let second = evaluate(source, &vars);
    assert_eq!(first, second, "{source}");
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_condition_corpus_replays() {
        let n = authgate_core::fuzzing::replay("cel_condition", super::cel_condition);
        assert!(n >= 8, "{n} files");
    }
}
