//! The legacy HTTP+SSE transport (protocol 2024-11-05), which rmcp 3.11 no
//! longer serves: `GET /api/sse` opens an event stream whose first event
//! names the endpoint to POST messages to; each POST is answered 202 and
//! its reply arrives on the stream. A channel pair implements rmcp's
//! `Transport`, so the same handler serves both transports, with the same
//! auth contract (the POST's request parts ride in the message extensions).

use std::convert::Infallible;
use std::sync::Arc;

use axum::Extension;
use axum::extract::{Query, Request, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt as _;
use http::StatusCode;
use rmcp::RoleServer;
use rmcp::model::{ClientJsonRpcMessage, GetExtensions as _, ServerJsonRpcMessage};
use rmcp::transport::Transport;
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::app::AppState;
use crate::auth::bindings::SessionOwner;
use crate::config::MAX_BODY_BYTES;
use crate::jsonrpc::{jsonrpc_error, too_large};
use crate::mcp::{McpHandler, McpTools};
use crate::request::AuthContext;

struct SseSession {
    inbound: mpsc::Sender<ClientJsonRpcMessage>,
}

/// Open SSE sessions by id, and the tool definitions their handlers
/// serve (an extension of the SSE routes).
pub struct SseSessions {
    map: dashmap::DashMap<String, SseSession>,
    tools: Arc<McpTools>,
}

impl SseSessions {
    pub fn new(tools: Arc<McpTools>) -> Self {
        Self {
            map: dashmap::DashMap::new(),
            tools,
        }
    }
}

/// One side of the bridge, handed to rmcp as its transport.
struct ChannelTransport {
    inbound: mpsc::Receiver<ClientJsonRpcMessage>,
    outbound: mpsc::Sender<ServerJsonRpcMessage>,
}

impl Transport<RoleServer> for ChannelTransport {
    type Error = std::io::Error;

    fn send(
        &mut self, item: ServerJsonRpcMessage,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let outbound = self.outbound.clone();
        async move {
            outbound.send(item).await.map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::BrokenPipe, "SSE stream closed")
            })
        }
    }

    fn receive(&mut self) -> impl Future<Output = Option<ClientJsonRpcMessage>> + Send {
        self.inbound.recv()
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.inbound.close();
        Ok(())
    }
}

/// Ends the session when the event stream is dropped.
struct SessionGuard {
    app: Arc<AppState>,
    sse: Arc<SseSessions>,
    id: String,
    ct: CancellationToken,
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.ct.cancel();
        self.app.sessions.unbind(&self.id);
        self.sse.map.remove(&self.id);
    }
}

/// `GET /api/sse`: opens a session and its event stream.
pub async fn open(
    State(app): State<Arc<AppState>>, Extension(sse): Extension<Arc<SseSessions>>, req: Request,
) -> Response {
    let Some(auth) = req.extensions().get::<AuthContext>().cloned() else {
        return jsonrpc_error(
            StatusCode::UNAUTHORIZED,
            -32001,
            "Unauthorized: missing API key",
        );
    };
    let id = ulid::Ulid::new().to_string().to_lowercase();
    let (in_tx, in_rx) = mpsc::channel(64);
    let (out_tx, out_rx) = mpsc::channel::<ServerJsonRpcMessage>(64);
    let ct = app.shutdown.child_token();
    sse.map.insert(id.clone(), SseSession { inbound: in_tx });
    // The auth layer refuses POSTs to this session with any other key.
    // A key's oldest sessions past AUTHGATE_MAX_SESSIONS_PER_KEY end: an
    // SSE session ends when its inbound channel goes.
    for evicted in app.sessions.bind(
        &id,
        SessionOwner {
            key_id: auth.caller.key_id.clone(),
            project_id: auth.caller.project.id.clone(),
        },
    ) {
        sse.map.remove(&evicted);
        crate::auth::close_mcp_session(&app, evicted);
    }
    let transport = ChannelTransport {
        inbound: in_rx,
        outbound: out_tx,
    };
    let handler = McpHandler::new(app.clone(), sse.tools.clone());
    let serve_ct = ct.clone();
    tokio::spawn(async move {
        match rmcp::service::serve_server_with_ct(handler, transport, serve_ct).await {
            Ok(running) => {
                let _ = running.waiting().await;
            }
            Err(err) => tracing::debug!(error = %err, "SSE session ended before initialize"),
        }
    });
    let guard = SessionGuard {
        app: app.clone(),
        sse: sse.clone(),
        id: id.clone(),
        ct,
    };
    let endpoint = Event::default()
        .event("endpoint")
        .data(format!("/api/sse/messages?session_id={id}"));
    let messages = tokio_stream::wrappers::ReceiverStream::new(out_rx).map(move |msg| {
        let _keep = &guard;
        let data = serde_json::to_string(&msg).unwrap_or_default();
        Ok::<_, Infallible>(Event::default().event("message").data(data))
    });
    let stopped = app.shutdown.clone().cancelled_owned();
    let stream = futures::stream::once(async move { Ok::<_, Infallible>(endpoint) })
        .chain(messages)
        .take_until(stopped);
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

#[derive(Deserialize)]
pub struct MessageQuery {
    session_id: String,
}

/// `POST /api/sse/messages?session_id=`: queues one client message.
pub async fn post(
    Extension(sse): Extension<Arc<SseSessions>>, Query(query): Query<MessageQuery>, req: Request,
) -> Response {
    if req.extensions().get::<AuthContext>().is_none() {
        return jsonrpc_error(
            StatusCode::UNAUTHORIZED,
            -32001,
            "Unauthorized: missing API key",
        );
    }
    // The session's owner was checked by the auth layer.
    let inbound = sse.map.get(&query.session_id).map(|s| s.inbound.clone());
    let Some(inbound) = inbound else {
        return jsonrpc_error(
            StatusCode::NOT_FOUND,
            -32001,
            "Session not found: open a new stream with GET /api/sse",
        );
    };
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(_) => return too_large(),
    };
    let mut message: ClientJsonRpcMessage = match serde_json::from_slice(&bytes) {
        Ok(m) => m,
        Err(e) => {
            return jsonrpc_error(
                StatusCode::BAD_REQUEST,
                -32700,
                &format!("Parse error: the body is not a JSON-RPC message ({e})"),
            );
        }
    };
    match &mut message {
        ClientJsonRpcMessage::Request(r) => {
            r.request.extensions_mut().insert(parts);
        }
        ClientJsonRpcMessage::Notification(n) => {
            n.notification.extensions_mut().insert(parts);
        }
        _ => {}
    }
    if inbound.send(message).await.is_err() {
        return jsonrpc_error(
            StatusCode::GONE,
            -32001,
            "Session closed: open a new stream with GET /api/sse",
        );
    }
    StatusCode::ACCEPTED.into_response()
}
