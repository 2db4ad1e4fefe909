//! Which key opened each MCP session (Streamable HTTP or legacy SSE):
//! rmcp does not tie a session to credentials, so the gateway does, and
//! refuses the session to any other key.

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

#[derive(Default)]
pub struct SessionBindings {
    map: DashMap<String, Binding>,
}

/// Bindings unused this long are dropped (rmcp idles sessions out at 5 min).
const BINDING_IDLE: Duration = Duration::from_secs(30 * 60);

impl SessionBindings {
    /// The key a session is bound to, refreshing its last use.
    pub fn owner_of(&self, session: &str) -> Option<SessionOwner> {
        self.map.get_mut(session).map(|mut b| {
            b.seen = Instant::now();
            b.owner.clone()
        })
    }

    /// Binds a session to a key unless it is bound already.
    pub fn bind(&self, session: &str, owner: SessionOwner) {
        self.map.entry(session.to_owned()).or_insert(Binding {
            owner,
            seen: Instant::now(),
        });
    }

    pub fn unbind(&self, session: &str) {
        self.map.remove(session);
    }

    pub fn sweep(&self, now: Instant) {
        self.map
            .retain(|_, b| now.saturating_duration_since(b.seen) < BINDING_IDLE);
    }
}
