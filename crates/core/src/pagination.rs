//! Cursor pagination. Every list is keyset-paginated on a stable sort key;
//! the cursor carries the last key seen, bound to the list and the project
//! by an HMAC so a tampered cursor, or one from another list or project, is
//! refused as an invalid argument.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use schemars::JsonSchema;
use serde::Serialize;

use crate::ToolError;

pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;
const TAG_LEN: usize = 16;

/// One page of a list: `{"data": [...], "next_cursor": ..., "has_more": ...}`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Page<T> {
    pub data: Vec<T>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
    pub has_more: bool,
}

/// What a list query needs: how many rows and the key to start after; it
/// also turns the rows fetched into a [`Page`] whose cursor is bound to
/// this list (the tool) and project.
#[derive(Debug, Clone)]
pub struct PageRequest {
    pub limit: u32,
    pub after: Option<String>,
    codec: CursorCodec,
    list: &'static str,
    project_id: String,
}

impl PageRequest {
    /// Validates `limit` (1–100, default 20) and decodes `cursor`.
    pub fn new(
        codec: CursorCodec, list: &'static str, project_id: &str, limit: Option<u32>,
        cursor: Option<&str>,
    ) -> Result<PageRequest, ToolError> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ToolError::invalid(
                "limit",
                format!("limit must be between 1 and {MAX_LIMIT}, got {limit}"),
            )
            .with_hint("omit limit for pages of 20"));
        }
        let after = cursor
            .map(|c| codec.decode(list, project_id, c))
            .transpose()?;
        Ok(PageRequest {
            limit,
            after,
            codec,
            list,
            project_id: project_id.to_owned(),
        })
    }

    /// How many rows to fetch: one more than the page, to learn `has_more`.
    pub fn fetch_limit(&self) -> i64 {
        i64::from(self.limit) + 1
    }

    /// Turns `limit + 1` fetched rows into a page; `position` gives the sort
    /// key of a row, which the next page starts after.
    pub fn page<T>(&self, mut rows: Vec<T>, position: impl Fn(&T) -> String) -> Page<T> {
        let has_more = rows.len() > self.limit as usize;
        rows.truncate(self.limit as usize);
        let next_cursor = if has_more {
            rows.last().map(|last| {
                self.codec
                    .encode(self.list, &self.project_id, &position(last))
            })
        } else {
            None
        };
        Page {
            data: rows,
            next_cursor,
            has_more,
        }
    }

    /// Pages a small list held in memory in a fixed order, keyed by `key`
    /// (unique within the list).
    pub fn page_fixed<T>(
        &self, all: Vec<T>, key: impl Fn(&T) -> String,
    ) -> Result<Page<T>, ToolError> {
        let start = match &self.after {
            Some(after) => all
                .iter()
                .position(|item| key(item) == *after)
                .map(|i| i + 1)
                .ok_or_else(|| ToolError::invalid("cursor", "cursor is not valid for this list"))?,
            None => 0,
        };
        let rows = all
            .into_iter()
            .skip(start)
            .take(self.fetch_limit() as usize)
            .collect();
        Ok(self.page(rows, key))
    }
}

/// Signs and checks cursors with a server key.
#[derive(Clone)]
pub struct CursorCodec {
    key: [u8; 32],
}

impl std::fmt::Debug for CursorCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorCodec")
    }
}

impl CursorCodec {
    pub fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    fn tag(&self, list: &str, project_id: &str, position: &str) -> [u8; 32] {
        crate::hash::hmac_parts(
            &self.key,
            &[list.as_bytes(), project_id.as_bytes(), position.as_bytes()],
        )
    }

    pub fn encode(&self, list: &str, project_id: &str, position: &str) -> String {
        let tag = self.tag(list, project_id, position);
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(position),
            URL_SAFE_NO_PAD.encode(&tag[..TAG_LEN])
        )
    }

    pub fn decode(&self, list: &str, project_id: &str, cursor: &str) -> Result<String, ToolError> {
        let bad = || {
            ToolError::invalid("cursor", "cursor is not valid for this list")
                .with_hint("pass the next_cursor value from the previous page of the same list unchanged, or omit cursor to start from the first page")
        };
        let (pos, tag) = cursor.split_once('.').ok_or_else(bad)?;
        let pos = URL_SAFE_NO_PAD.decode(pos).map_err(|_| bad())?;
        let pos = String::from_utf8(pos).map_err(|_| bad())?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| bad())?;
        let expected = self.tag(list, project_id, &pos);
        if tag.len() != TAG_LEN
            || !bool::from(subtle::ConstantTimeEq::ct_eq(
                &expected[..TAG_LEN],
                &tag[..],
            ))
        {
            return Err(bad());
        }
        Ok(pos)
    }
}

/// Fuzz harness body (issue 25, `cursor_decode`): a cursor decodes only
/// for the list and project it was made for, to the position it holds, and
/// any change to it is refused. The first byte picks the changed character;
/// the rest is the position.
pub fn fuzz_cursor_decode(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let position = String::from_utf8_lossy(rest);
    let codec = CursorCodec::new([7; 32]);
    let cursor = codec.encode("callbacks", "prj_a", &position);
    assert!(
        codec.decode("callbacks", "prj_a", &cursor).ok().as_deref() == Some(&*position),
        "a cursor round-trips"
    );
    assert!(
        codec.decode("api_keys", "prj_a", &cursor).is_err(),
        "another list's cursor"
    );
    assert!(
        codec.decode("callbacks", "prj_b", &cursor).is_err(),
        "another project's cursor"
    );
    let mut changed: Vec<u8> = cursor.clone().into_bytes();
    let at = usize::from(pick) % changed.len();
    changed[at] = if changed[at] == b'A' { b'B' } else { b'A' };
    if let Ok(changed) = String::from_utf8(changed)
        && changed != cursor
    {
        assert!(
            codec.decode("callbacks", "prj_a", &changed).is_err(),
            "a changed cursor: {changed}"
        );
    }
    // Whatever the input, decoding it as a cursor never yields a position
    // without the tag that binds it.
    if let Ok(raw) = std::str::from_utf8(data)
        && let Ok(pos) = codec.decode("callbacks", "prj_a", raw)
    {
        assert_eq!(codec.encode("callbacks", "prj_a", &pos), raw);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cursor_corpus_replays() {
        let n = crate::fuzzing::replay("cursor_decode", fuzz_cursor_decode);
        assert!(n >= 5, "{n} files");
    }

    fn codec() -> CursorCodec {
        CursorCodec::new([7; 32])
    }

    #[test]
    fn cursors_round_trip_and_are_bound_to_list_and_project() {
        let c = codec().encode("callbacks", "prj_a", "cb_1");
        assert_eq!(
            codec().decode("callbacks", "prj_a", &c).expect("valid"),
            "cb_1"
        );
        assert_eq!(
            codec()
                .decode("api_keys", "prj_a", &c)
                .expect_err("other list")
                .field
                .as_deref(),
            Some("cursor")
        );
        assert!(codec().decode("callbacks", "prj_b", &c).is_err());
        assert!(
            CursorCodec::new([8; 32])
                .decode("callbacks", "prj_a", &c)
                .is_err()
        );
    }

    #[test]
    fn tampered_cursors_are_refused() {
        let c = codec().encode("callbacks", "prj_a", "cb_1");
        let (_, tag) = c.split_once('.').expect("has a tag");
        let forged = format!("{}.{}", URL_SAFE_NO_PAD.encode("cb_0"), tag);
        assert!(codec().decode("callbacks", "prj_a", &forged).is_err());
        assert!(codec().decode("callbacks", "prj_a", "garbage").is_err());
        assert!(codec().decode("callbacks", "prj_a", "").is_err());
    }

    #[test]
    fn limits_are_checked() {
        let req = |limit| PageRequest::new(codec(), "x", "p", limit, None);
        assert_eq!(req(None).expect("default").limit, 20);
        assert_eq!(req(Some(100)).expect("max").limit, 100);
        for bad in [0, 101] {
            let err = req(Some(bad)).expect_err("out of range");
            assert_eq!(err.field.as_deref(), Some("limit"));
        }
    }

    #[test]
    fn pages_report_more_and_a_cursor() {
        let req = PageRequest::new(codec(), "x", "p", Some(2), None).expect("valid");
        let page = req.page(vec!["a", "b", "c"], |s| s.to_string());
        assert_eq!(page.data, vec!["a", "b"]);
        assert!(page.has_more);
        let next = page.next_cursor.expect("has a next page");
        assert_eq!(codec().decode("x", "p", &next).expect("valid"), "b");
        let after = PageRequest::new(codec(), "x", "p", Some(2), Some(&next)).expect("valid");
        assert_eq!(after.after.as_deref(), Some("b"));
        let last = after.page(vec!["c"], |s| s.to_string());
        assert!(!last.has_more);
        assert!(last.next_cursor.is_none());
        let fixed = after
            .page_fixed(vec!["a", "b", "c"], |s| s.to_string())
            .expect("pages");
        assert_eq!(fixed.data, vec!["c"]);
        assert!(PageRequest::new(codec(), "y", "p", None, Some(&next)).is_err());
    }
}
