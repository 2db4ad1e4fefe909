//! Which key opened each MCP session (Streamable HTTP or legacy SSE):
//! rmcp does not tie a session to credentials, so the gateway does, and
//! refuses the session to any other key.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use dashmap::DashMap;

/// The key (and its project) a session is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionOwner {
    pub key_id: String,
    pub project_id: String,
}

struct Binding {
    owner: SessionOwner,
    seen: Instant,
}

/// The bindings, and each key's sessions oldest first, so a key holds at
/// most `max_per_key` (`AUTHGATE_MAX_SESSIONS_PER_KEY`): memory is bounded
/// by design, whatever the clients do.
pub struct SessionBindings {
    map: DashMap<String, Binding>,
    by_key: DashMap<String, VecDeque<String>>,
    /// Bindings unused this long are dropped (rmcp ends the sessions
    /// themselves after `AUTHGATE_SESSION_IDLE_TIMEOUT`).
    idle: Duration,
    max_per_key: usize,
}

impl Default for SessionBindings {
    fn default() -> Self {
        SessionBindings::new(Duration::from_secs(30 * 60), 100)
    }
}

impl SessionBindings {
    pub fn new(idle: Duration, max_per_key: usize) -> Self {
        SessionBindings {
            map: DashMap::new(),
            by_key: DashMap::new(),
            idle,
            max_per_key: max_per_key.max(1),
        }
    }

    /// The key a session is bound to, refreshing its last use.
    pub fn owner_of(&self, session: &str) -> Option<SessionOwner> {
        self.map.get_mut(session).map(|mut b| {
            b.seen = Instant::now();
            b.owner.clone()
        })
    }

    /// Binds a new session to its key; returns the key's oldest sessions
    /// past the cap, which the caller closes.
    pub fn bind(&self, session: &str, owner: SessionOwner) -> Vec<String> {
        if self.map.contains_key(session) {
            return Vec::new();
        }
        let key = owner.key_id.clone();
        self.map.insert(
            session.to_owned(),
            Binding {
                owner,
                seen: Instant::now(),
            },
        );
        let mut evicted = Vec::new();
        let mut sessions = self.by_key.entry(key).or_default();
        sessions.push_back(session.to_owned());
        sessions.retain(|s| self.map.contains_key(s));
        while sessions.len() > self.max_per_key {
            if let Some(oldest) = sessions.pop_front() {
                self.map.remove(&oldest);
                evicted.push(oldest);
            }
        }
        evicted
    }

    pub fn unbind(&self, session: &str) {
        if let Some((_, b)) = self.map.remove(session)
            && let Some(mut sessions) = self.by_key.get_mut(&b.owner.key_id)
        {
            sessions.retain(|s| s != session);
        }
    }

    pub fn sweep(&self, now: Instant) {
        self.map
            .retain(|_, b| now.saturating_duration_since(b.seen) < self.idle);
        self.by_key.retain(|_, sessions| {
            sessions.retain(|s| self.map.contains_key(s));
            !sessions.is_empty()
        });
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}
