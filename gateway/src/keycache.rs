//! Resolved API keys, cached in process so the common request needs no
//! database round trip. Keyed by the key's SHA-256; only valid keys are
//! cached. Revocation is exact: a revoke or regenerate evicts at once on the
//! gateway that did it (after its transaction commits, before the tool's
//! answer is sent), and every other gateway on the same PostgreSQL evicts
//! when the notification arrives. An entry also expires after the TTL, which
//! bounds a revocation that a gateway missed while its notification
//! connection was down (it also drops everything when that reconnects).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dashmap::DashMap;

use authgate_core::Caller;
use authgate_project::KeyEvent;

/// How long an entry lives without a notification.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(10);

struct Entry {
    caller: Arc<Caller>,
    expires: Instant,
}

pub struct KeyCache {
    map: DashMap<[u8; 32], Entry>,
    /// Bumped by every eviction, so a lookup that raced a revocation does
    /// not put the revoked key back.
    generation: AtomicU64,
    ttl: Duration,
}

impl KeyCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            map: DashMap::new(),
            generation: AtomicU64::new(0),
            ttl,
        }
    }

    /// The cached caller of a key, if fresh.
    pub fn get(&self, digest: &[u8; 32]) -> Option<Arc<Caller>> {
        let entry = self.map.get(digest)?;
        (Instant::now() < entry.expires).then(|| entry.caller.clone())
    }

    /// Call before looking a key up in the database; pass to [`insert`].
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Caches a valid key looked up since `generation`, unless something was
    /// evicted meanwhile (the lookup may predate a revocation).
    pub fn insert(&self, generation: u64, digest: [u8; 32], caller: Arc<Caller>) {
        self.insert_until(generation, digest, caller, None);
    }

    /// The same for a credential that ends by itself (an OAuth access
    /// token): the entry lives no longer than it.
    pub fn insert_until(
        &self, generation: u64, digest: [u8; 32], caller: Arc<Caller>, ends: Option<Instant>,
    ) {
        let ttl_end = Instant::now() + self.ttl;
        let entry = Entry {
            caller,
            expires: ends.map_or(ttl_end, |e| e.min(ttl_end)),
        };
        self.map.insert(digest, entry);
        if self.generation() != generation {
            self.map.remove(&digest);
        }
    }

    pub fn evict(&self, event: &KeyEvent) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        match event {
            KeyEvent::Key(id) => self.map.retain(|_, e| e.caller.key_id != *id),
            KeyEvent::Project(id) => self.map.retain(|_, e| e.caller.project.id != *id),
        }
    }

    pub fn clear(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.map.clear();
    }

    /// Drops expired entries (housekeeping).
    pub fn sweep(&self) {
        let now = Instant::now();
        self.map.retain(|_, e| now < e.expires);
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(key: &str, project: &str) -> Arc<Caller> {
        Arc::new(Caller {
            key_id: key.into(),
            key_name: None,
            key_prefix: "ag_live_abcd".into(),
            project: authgate_core::Project {
                id: project.into(),
                name: "P".into(),
                environment: "live".into(),
                created_at: chrono::Utc::now(),
            },
            scopes: vec![authgate_core::Scope::Admin],
            tools: None,
            client_name: None,
            connection: Default::default(),
        })
    }

    #[test]
    fn evictions_are_exact_and_win_races() {
        let cache = KeyCache::new(Duration::from_secs(60));
        let g = cache.generation();
        cache.insert(g, [1; 32], caller("key_a", "prj_1"));
        cache.insert(g, [2; 32], caller("key_b", "prj_1"));
        cache.insert(g, [3; 32], caller("key_c", "prj_2"));
        cache.evict(&KeyEvent::Key("key_a".into()));
        assert!(cache.get(&[1; 32]).is_none());
        assert!(cache.get(&[2; 32]).is_some());
        cache.evict(&KeyEvent::Project("prj_1".into()));
        assert!(cache.get(&[2; 32]).is_none());
        assert!(cache.get(&[3; 32]).is_some());
        // A lookup that started before an eviction is not cached.
        let before = cache.generation();
        cache.evict(&KeyEvent::Key("key_z".into()));
        cache.insert(before, [4; 32], caller("key_d", "prj_2"));
        assert!(cache.get(&[4; 32]).is_none());
    }

    #[test]
    fn entries_expire() {
        let cache = KeyCache::new(Duration::ZERO);
        cache.insert(cache.generation(), [1; 32], caller("key_a", "prj_1"));
        assert!(cache.get(&[1; 32]).is_none());
        cache.sweep();
        assert!(cache.is_empty());
    }
}
