//! Notifications between units of work and the caches that depend on them
//! (a revoked API key must stop working everywhere). `Conn::notify` records
//! one in a unit of work; once it commits, the listeners of this process
//! hear it at once (synchronously, before the unit's caller goes on), and on
//! PostgreSQL every other process listening on the database hears it too,
//! through `NOTIFY`, which PostgreSQL delivers at commit.

use std::sync::Arc;
use std::time::Duration;

use diesel_async::{AsyncConnection as _, RunQueryDsl as _};
use futures::StreamExt as _;
use tokio_util::sync::CancellationToken;

use crate::{Conn, ConnRef, Listener, PgConn, RESYNC, Store, StoreError};

/// The PostgreSQL channel AuthGate notifies and listens on.
pub const CHANNEL: &str = "authgate_events";

fn dispatch(listeners: &std::sync::RwLock<Vec<Listener>>, topic: &str, payload: &str) {
    let listeners: Vec<Listener> = listeners
        .read()
        .map(|l| l.clone())
        .unwrap_or_else(|e| e.into_inner().clone());
    for listener in listeners {
        listener(topic, payload);
    }
}

impl Conn<'_> {
    /// Tells every listener, here and (on PostgreSQL) in every process on
    /// the database, about `topic` once this unit of work commits. A topic
    /// is a word without `:`.
    pub async fn notify(&mut self, topic: &'static str, payload: &str) -> Result<(), StoreError> {
        if let ConnRef::Postgres(c) = self.backend_mut() {
            diesel::sql_query("SELECT pg_notify($1, $2)")
                .bind::<diesel::sql_types::Text, _>(CHANNEL)
                .bind::<diesel::sql_types::Text, _>(format!("{topic}:{payload}"))
                .execute(c)
                .await?;
        }
        let shared = self.shared.clone();
        let payload = payload.to_owned();
        self.after_commit(move || dispatch(&shared.listeners, topic, &payload));
        Ok(())
    }
}

impl Store {
    /// Adds a listener of this store's notifications.
    pub fn on_notify(&self, listener: impl Fn(&str, &str) + Send + Sync + 'static) {
        let mut listeners = self
            .shared
            .listeners
            .write()
            .unwrap_or_else(|e| e.into_inner());
        listeners.push(Arc::new(listener));
    }

    /// On PostgreSQL, listens for other processes' notifications until
    /// `shutdown`, on a connection of its own, reconnecting after a failure
    /// (listeners then hear [`RESYNC`]: notifications may have been missed
    /// while it was down). On SQLite there is only this process: returns at
    /// once.
    pub async fn listen(self, shutdown: CancellationToken) {
        if self.backend() != crate::Backend::Postgres {
            return;
        }
        let mut first = true;
        loop {
            if !first {
                dispatch(&self.shared.listeners, RESYNC, "");
            }
            first = false;
            match self.listen_once(&shutdown).await {
                Ok(()) => return,
                Err(err) => {
                    tracing::warn!(error = %err, "notification listener lost its connection; reconnecting");
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }

    async fn listen_once(&self, shutdown: &CancellationToken) -> Result<(), StoreError> {
        let mut conn = PgConn::establish(&self.shared.url)
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        diesel::sql_query(format!("LISTEN {CHANNEL}"))
            .execute(&mut conn)
            .await?;
        let mut stream = std::pin::pin!(conn.notifications_stream());
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                next = stream.next() => match next {
                    Some(Ok(n)) => {
                        if let Some((topic, payload)) = n.payload.split_once(':') {
                            dispatch(&self.shared.listeners, topic, payload);
                        }
                    }
                    Some(Err(e)) => return Err(e.into()),
                    None => return Err(StoreError::Unavailable("notification stream ended".into())),
                },
            }
        }
    }
}
