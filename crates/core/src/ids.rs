//! Prefixed, sortable ids: `prj_01J...`. The ULID part is monotonic within a
//! thread, so ids one task makes in the same millisecond still sort by
//! creation; each thread has its own generator, so making an id takes no
//! lock.

use std::cell::RefCell;

use ulid::Generator;

thread_local! {
    static GENERATOR: RefCell<Generator> = const { RefCell::new(Generator::new()) };
}

/// A new id with `prefix` (without the underscore), e.g. `new_id("prj")`.
pub fn new_id(prefix: &str) -> String {
    let ulid = GENERATOR.with_borrow_mut(|g| {
        // Overflow needs 2^80 ids in one millisecond; fall back to a fresh one.
        g.generate().unwrap_or_else(|_| ulid::Ulid::new())
    });
    let mut id = String::with_capacity(prefix.len() + 27);
    id.push_str(prefix);
    id.push('_');
    id.push_str(&ulid.to_string());
    id
}

/// Whether `id` has the shape `<prefix>_<26 Crockford base32 chars>`.
pub fn is_valid_id(prefix: &str, id: &str) -> bool {
    id.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('_'))
        .is_some_and(|ulid| ulid.len() == 26 && ulid::Ulid::from_string(ulid).is_ok())
}

/// Whether `id` looks like any AuthGate id: a short lowercase prefix, `_`,
/// and a ULID.
pub fn is_well_formed_id(id: &str) -> bool {
    id.split_once('_').is_some_and(|(prefix, ulid)| {
        (2..=6).contains(&prefix.len())
            && prefix.bytes().all(|b| b.is_ascii_lowercase())
            && ulid.len() == 26
            && ulid::Ulid::from_string(ulid).is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_prefixed_valid_and_sorted() {
        let a = new_id("prj");
        let b = new_id("prj");
        assert!(a.starts_with("prj_"));
        assert!(is_valid_id("prj", &a));
        assert!(a < b, "{a} should sort before {b}");
        assert!(!is_valid_id("key", &a));
        assert!(!is_valid_id("prj", "prj_short"));
        assert!(!is_valid_id("prj", "prj_01J!!!!!!!!!!!!!!!!!!!!!!!"));
        assert!(is_well_formed_id(&a));
        assert!(!is_well_formed_id("prj_short"));
        assert!(!is_well_formed_id(&format!("PRJ{}", &a[3..])));
        assert!(!is_well_formed_id(&format!("toolongprefix{}", &a[3..])));
    }
}
