//! MCP progress notifications for the call whose request carried a
//! progressToken: queued without waiting (progress never slows the work)
//! and sent in order by one task.

use rmcp::RoleServer;
use rmcp::model::{ProgressNotificationParam, ProgressToken};
use rmcp::service::Peer;
use tokio::sync::mpsc;

pub(crate) struct PeerProgress {
    token: ProgressToken,
    tx: mpsc::UnboundedSender<ProgressNotificationParam>,
}

impl PeerProgress {
    /// The queue, and the task that empties it (it ends once every
    /// notification queued before the queue closed was sent).
    pub fn start(
        peer: Peer<RoleServer>, token: ProgressToken,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::unbounded_channel::<ProgressNotificationParam>();
        let sent = tokio::spawn(async move {
            while let Some(param) = rx.recv().await {
                if let Err(err) = peer.notify_progress(param).await {
                    tracing::debug!(error = %err, "could not send a progress notification");
                    return;
                }
            }
        });
        (PeerProgress { token, tx }, sent)
    }
}

impl authgate_core::Progress for PeerProgress {
    fn report(&self, done: u64, total: u64, message: &str) {
        let param = ProgressNotificationParam::new(self.token.clone(), done as f64)
            .with_total(total as f64)
            .with_message(message);
        let _ = self.tx.send(param);
    }
}
